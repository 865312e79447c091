package ferrymap

/*
#include "fmgo.h"
*/
import "C"

import "fmt"

// The version handshake: when the package is initialised, the library the
// process loaded must have the major version of the ferrymap.h this package
// was compiled against. Another major version may have changed the meaning
// of any call, so the package refuses it (init panics with a message that
// names both versions and the file loaded) instead of misbehaving later.
// Minor and patch may differ: a newer 0.y library keeps 0.x's calls.
func init() {
	if err := checkVersion(LibraryVersion(), HeaderVersion, LibraryPath()); err != nil {
		panic(err)
	}
}

// checkVersion returns nil when lib and header (major<<16 | minor<<8 |
// patch) have the same major version, else an error naming both.
func checkVersion(lib, header uint32, path string) error {
	if lib>>16 == header>>16 {
		return nil
	}
	if path == "" {
		path = "(path unknown)"
	}
	return fmt.Errorf("ferrymap: the loaded library %s is version %s, but this Go package was "+
		"built against ferrymap.h %s; major versions %d and %d differ. Install libferrymap %d.x "+
		"(check PKG_CONFIG_PATH, LD_LIBRARY_PATH and the binary's RUNPATH) or rebuild against "+
		"the installed version", path, versionText(lib), versionText(header), lib>>16, header>>16,
		header>>16)
}

// versionText formats major<<16 | minor<<8 | patch as "major.minor.patch".
func versionText(v uint32) string {
	return fmt.Sprintf("%d.%d.%d", v>>16, (v>>8)&0xff, v&0xff)
}
