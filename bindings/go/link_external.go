//go:build ferrymap_external

package ferrymap

// Build tag ferrymap_external: neither pkg-config nor the checkout; only
// -lferrymap here, and the caller gives the search paths, for example:
//
//	CGO_CFLAGS="-I/opt/ferrymap/include" \
//	CGO_LDFLAGS="-L/opt/ferrymap/lib -Wl,-rpath,/opt/ferrymap/lib" \
//	    go build -tags ferrymap_external ./...

/*
#cgo LDFLAGS: -lferrymap
*/
import "C"
