package ferrymap

import (
	"strings"
	"testing"
)

func TestCheckVersion(t *testing.T) {
	const v010, v023, v100 = 0x000100, 0x000203, 0x010000
	if err := checkVersion(v010, v010, "/x/libferrymap.so.0"); err != nil {
		t.Fatalf("same version refused: %v", err)
	}
	if err := checkVersion(v023, v010, "/x/libferrymap.so.0"); err != nil {
		t.Fatalf("same major, newer minor refused: %v", err)
	}
	err := checkVersion(v100, v010, "/x/libferrymap.so.0")
	if err == nil {
		t.Fatal("major 1 library accepted by a major 0 package")
	}
	for _, want := range []string{"/x/libferrymap.so.0", "version 1.0.0", "ferrymap.h 0.1.0", "0.x"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if err := checkVersion(v010, v100, ""); err == nil || !strings.Contains(err.Error(), "(path unknown)") {
		t.Fatalf("older major accepted or path not said: %v", err)
	}
	// The library this test runs against passed the handshake at init.
	if LibraryVersion()>>16 != HeaderVersion>>16 {
		t.Fatalf("library %s, header %s", versionText(LibraryVersion()), versionText(HeaderVersion))
	}
}
