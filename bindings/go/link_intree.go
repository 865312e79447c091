//go:build !ferrymap_external

package ferrymap

// Default link setup: the libferrymap.so that `cargo build --release` leaves
// in the repository's target/release, found at run time through an rpath, so
// `go test` and `go run` work from a checkout with no environment variables.
//
// To link a libferrymap.so from elsewhere, build with the tag
// ferrymap_external and give the linker flags yourself, for example:
//
//	CGO_LDFLAGS="-L/opt/ferrymap/lib -Wl,-rpath,/opt/ferrymap/lib" \
//	    go build -tags ferrymap_external ./...
//
// (-lferrymap itself comes from capi.go; the header from bindings/c, or
// CGO_CFLAGS=-I/somewhere if it lives elsewhere.)

/*
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -Wl,-rpath,${SRCDIR}/../../target/release
*/
import "C"
