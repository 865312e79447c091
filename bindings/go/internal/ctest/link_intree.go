//go:build ferrymap_intree && !ferrymap_external

package ctest

/*
#cgo CFLAGS: -I${SRCDIR}/../../../c
#cgo LDFLAGS: -L${SRCDIR}/../../../../target/release -lferrymap -Wl,-rpath,${SRCDIR}/../../../../target/release
*/
import "C"
