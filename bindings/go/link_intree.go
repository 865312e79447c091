//go:build ferrymap_intree && !ferrymap_external

package ferrymap

// In-tree development build (build tag ferrymap_intree): the header from
// bindings/c and the libferrymap.so that scripts/build-core leaves in the
// repository's target/release, found at run time through an rpath to that
// directory (where scripts/build-core also makes the soname link
// libferrymap.so.0). bindings/go/test.sh and go-demo build this way:
//
//	go test -tags ferrymap_intree ./...
//
// A binary built like this runs only while the checkout is where it was.

/*
#cgo CFLAGS: -I${SRCDIR}/../c
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -lferrymap -Wl,-rpath,${SRCDIR}/../../target/release
*/
import "C"
