// Command ferrymap-consumer is a Go user's program against the installed C
// package: the ferrymap module and the program's own cgo code both find
// ferrymap.h and the library through pkg-config.
package main

/*
#cgo pkg-config: ferrymap
#include "ferrymap.h"

// The program's own C code writes squares into a map Go made.
static int32_t fill_squares(fm_handle m, int64_t n) {
	for (int64_t k = 0; k < n; k++) {
		fm_status st = fm_insert_i64_i64(m, k, k * k, NULL);
		if (st != FM_OK) return st;
	}
	return FM_OK;
}
*/
import "C"

import (
	"fmt"
	"os"

	ferrymap "github.com/ferrymap/ferrymap/bindings/go"
)

func main() {
	m, err := ferrymap.New[int64, int64](0)
	if err != nil {
		fail(err)
	}
	if st := C.fill_squares(C.fm_handle(m.Handle()), 100); st != C.FM_OK {
		fail(fmt.Errorf("C wrote with status %d", int(st)))
	}
	v, ok, err := m.Get(7)
	n, lenErr := m.Len()
	if err != nil || !ok || v != 49 || lenErr != nil || n != 100 {
		fail(fmt.Errorf("Get(7) = %d, %v, %v; Len %d, %v", v, ok, err, n, lenErr))
	}
	if err := m.Close(); err != nil {
		fail(err)
	}
	if n := ferrymap.Census(); n != 0 {
		fail(fmt.Errorf("%d handles left", n))
	}
	fmt.Printf("version=%s\npath=%s\nregistry=%#x\n", ferrymap.Version(), ferrymap.LibraryPath(), ferrymap.RegistryID())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ferrymap-consumer:", err)
	os.Exit(1)
}
