//go:build !ferrymap_intree && !ferrymap_external

package ferrymap

// Default build: the header and the library of an installed C package of
// ferrymap, through pkg-config (scripts/install, or the C tarball, writes
// lib/pkgconfig/ferrymap.pc). With the package under a prefix pkg-config does
// not search by itself:
//
//	PKG_CONFIG_PATH=/opt/ferrymap/lib/pkgconfig go build
//
// ferrymap.pc's Libs carry -Wl,-rpath to its lib directory (unless it was
// installed with --no-rpath), so the binary finds libferrymap.so.0 there at
// run time wherever the binary itself is moved; LD_LIBRARY_PATH, searched
// first, overrides it.

/*
#cgo pkg-config: ferrymap
*/
import "C"
