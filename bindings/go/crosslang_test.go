package ferrymap_test

import (
	"os"
	"strings"
	"testing"

	ferrymap "github.com/ferrymap/ferrymap/bindings/go"
	"github.com/ferrymap/ferrymap/bindings/go/internal/ctest"
)

// One process, one registry: C code compiled into this test binary and the
// Go package see the same fm_registry_id and the same library file.
func TestSameRegistryAsC(t *testing.T) {
	if g, c := ferrymap.RegistryID(), ctest.RegistryID(); g != c || g == 0 {
		t.Fatalf("registry id: Go %#x, C %#x", g, c)
	}
	if g, c := ferrymap.LibraryPath(), ctest.LibraryPath(); g != c {
		t.Fatalf("library path: Go %q, C %q", g, c)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err == nil {
		seen := map[string]bool{}
		for _, line := range strings.Split(string(maps), "\n") {
			if i := strings.Index(line, "/"); i >= 0 && strings.Contains(line, "libferrymap") {
				seen[line[i:]] = true
			}
		}
		if len(seen) != 1 {
			t.Fatalf("libferrymap mapped from %d files: %v", len(seen), seen)
		}
	}
}

// Go makes a map and hands its handle to C; C writes; Go reads.
func TestGoMapWrittenByC(t *testing.T) {
	m := must(ferrymap.New[int64, int64](0))(t)
	closeMap(t, m)
	must(m.Set(-1, 42))(t)
	if st := ctest.WriteI64(m.Handle(), 0, 1000); st != 0 {
		t.Fatalf("C fm_insert_i64_i64: status %d", st)
	}
	if l := must(m.Len())(t); l != 1001 {
		t.Fatalf("Len %d after C wrote 1000", l)
	}
	for k := int64(0); k < 1000; k++ {
		if v, ok, err := m.Get(k); err != nil || !ok || v != k*10 {
			t.Fatalf("Get(%d) = %d %v %v", k, v, ok, err)
		}
	}
	// And C reads what Go wrote.
	if v, st := ctest.GetI64(m.Handle(), -1); st != 0 || v != 42 {
		t.Fatalf("C read Go's value: %d status %d", v, st)
	}
	// A Go iteration sees C's writes made before it, and not those after.
	snap := must(m.Snapshot())(t)
	ctest.WriteI64(m.Handle(), 5000, 10)
	n := 0
	for k := range snap.All() {
		if k >= 5000 {
			t.Fatalf("snapshot saw C's later write %d", k)
		}
		n++
	}
	if n != 1001 {
		t.Fatalf("snapshot had %d entries", n)
	}
}

// C makes a map; Go attaches, reads, writes; C sees Go's writes; C frees
// it; Go then gets ErrInvalidHandle.
func TestCMapAttachedByGo(t *testing.T) {
	h, st := ctest.NewI64(500)
	if st != 0 {
		t.Fatal(st)
	}
	m := must(ferrymap.Attach[int64, int64](h))(t)
	if l := must(m.Len())(t); l != 500 {
		t.Fatalf("Len %d", l)
	}
	for k := int64(0); k < 500; k++ {
		if v, ok, _ := m.Get(k); !ok || v != -k {
			t.Fatalf("Get(%d) = %d %v", k, v, ok)
		}
	}
	must(m.Set(9999, 1))(t)
	must(m.Add(0, 5))(t)
	if v, st := ctest.GetI64(h, 9999); st != 0 || v != 1 {
		t.Fatalf("C read Go's write: %d %d", v, st)
	}
	if v, _ := ctest.GetI64(h, 0); v != 5 {
		t.Fatalf("C read Go's Add: %d", v)
	}
	if n, _ := ctest.Len(h); n != 501 {
		t.Fatalf("C Len %d", n)
	}
	// Go's Close of an attached map does not free it.
	noErr(t, m.Close())
	if n, st := ctest.Len(h); st != 0 || n != 501 {
		t.Fatalf("attached Close freed C's map: %d %d", n, st)
	}
	m2 := must(ferrymap.Attach[int64, int64](h))(t)
	if st := ctest.Free(h); st != 0 {
		t.Fatal(st)
	}
	_, _, err := m2.Get(1)
	isErr(t, "Get after C freed its map", err, ferrymap.ErrInvalidHandle)
	noErr(t, m2.Close())
}

// Awkward strings cross both ways unchanged: embedded NUL, emoji, empty.
func TestStringsAcrossGoAndC(t *testing.T) {
	h, st := ctest.NewStrings()
	if st != 0 {
		t.Fatal(st)
	}
	m := must(ferrymap.Attach[string, string](h))(t)
	noErr(t, m.Adopt()) // Go frees it
	defer m.Close()
	want := map[string]string{"nul": "a\x00b", "emoji": "😀 ok", "": ""}
	for k, v := range want {
		got, ok, err := m.Get(k)
		if err != nil || !ok || got != v {
			t.Fatalf("Go read C's %q: %q %v %v", k, got, ok, err)
		}
	}
	go2c := map[string]string{"x\x00y": "\x00", "🇯🇵": "𝄞 clef", "empty": ""}
	for k, v := range go2c {
		must(m.Set(k, v))(t)
	}
	for k, v := range go2c {
		got, st := ctest.GetStr(h, k)
		if st != 0 || got != v {
			t.Fatalf("C read Go's %q: %q status %d", k, got, st)
		}
	}
	// The same map seen as []byte keys and values (STR fits []byte).
	b := must(ferrymap.Attach[[]byte, []byte](h))(t)
	if v, ok, _ := b.Get([]byte("nul")); !ok || string(v) != "a\x00b" {
		t.Fatalf("[]byte view of STR map: %q", v)
	}
	noErr(t, b.Close())
}

// A C pthread writes into a Go map while Go iterates a snapshot of it.
func TestCThreadWritesWhileGoIterates(t *testing.T) {
	const n = 5000
	m := filledIntMap(t, n)
	snap := must(m.Snapshot())(t)
	if rc := ctest.StartWriter(0, m.Handle(), 0, 2*n); rc != 0 {
		t.Fatalf("pthread_create: %d", rc)
	}
	seen := 0
	for k, v := range snap.All() {
		if v != k {
			t.Fatalf("snapshot saw C's write: %d → %d", k, v)
		}
		seen++
	}
	if st := ctest.JoinWriter(0); st != 0 {
		t.Fatalf("C writer status %d", st)
	}
	if seen != n {
		t.Fatalf("snapshot had %d entries, want %d", seen, n)
	}
	if l := must(m.Len())(t); l != 2*n {
		t.Fatalf("Len after C writer: %d", l)
	}
	for k := int64(0); k < 2*n; k += 97 {
		if v, _, _ := m.Get(k); v != 1 {
			t.Fatalf("C's write of %d not visible: %d", k, v)
		}
	}
}

// Ownership handed from Go to C: Disown, C frees, census is clean.
func TestOwnershipToC(t *testing.T) {
	before, _ := ferrymap.CensusOf(ferrymap.HandleMap)
	m := must(ferrymap.New[int64, int64](0))(t)
	h := must(m.Disown())(t)
	if st := ctest.Free(h); st != 0 {
		t.Fatal(st)
	}
	noErr(t, m.Close()) // detaches: does not free again
	if after, _ := ferrymap.CensusOf(ferrymap.HandleMap); after != before {
		t.Fatalf("map census %d → %d", before, after)
	}
}
