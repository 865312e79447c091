package ferrymap_test

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"testing"

	ferrymap "github.com/ferrymap/ferrymap/bindings/go"
	"github.com/ferrymap/ferrymap/bindings/go/internal/ctest"
)

// isErr checks errors.Is and that the error is a *ferrymap.Error with a
// readable message.
func isErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
	var fe *ferrymap.Error
	if !errors.As(err, &fe) || fe.Op == "" || fe.Error() == "" {
		t.Fatalf("%s: %T is not a *ferrymap.Error with an Op", what, err)
	}
}

func TestBadHandlesThroughAttach(t *testing.T) {
	m := must(ferrymap.New[int64, int64](0))(t)
	must(m.Set(1, 1))(t)
	h := m.Handle()

	_, err := ferrymap.Attach[int64, int64](0)
	isErr(t, "Attach(0)", err, ferrymap.ErrInvalidHandle)

	// Forged: a live handle with its generation bits changed, and noise.
	for _, forged := range []uint64{h ^ (1 << 40), h + (1 << 37), 0xdeadbeef, 0xffff_ffff_0000_0001} {
		_, err = ferrymap.Attach[int64, int64](forged)
		if !errors.Is(err, ferrymap.ErrInvalidHandle) && !errors.Is(err, ferrymap.ErrWrongKind) {
			t.Fatalf("Attach(forged %#x): %v", forged, err)
		}
	}
	_, err = ferrymap.Attach[int64, int64](h ^ (1 << 40))
	isErr(t, "Attach(other generation)", err, ferrymap.ErrInvalidHandle)

	// Wrong kind of handle: an iterator, a view.
	s := must(m.Snapshot())(t)
	_, err = ferrymap.Attach[int64, int64](s.Handle())
	isErr(t, "Attach(iterator)", err, ferrymap.ErrWrongKind)
	noErr(t, s.Close())
	mb := must(ferrymap.New[int64, []byte](0))(t)
	must(mb.Set(1, []byte("x")))(t)
	v, _, _ := mb.View(1)
	_, err = ferrymap.Attach[int64, []byte](v.Handle())
	isErr(t, "Attach(view)", err, ferrymap.ErrWrongKind)
	noErr(t, v.Release())
	noErr(t, mb.Close())

	// Wrong Go types for the map's kinds.
	_, err = ferrymap.Attach[string, int64](h)
	isErr(t, "Attach[string,int64] to INT→INT", err, ferrymap.ErrWrongKind)
	_, err = ferrymap.Attach[int64, float64](h)
	isErr(t, "Attach[int64,float64] to INT→INT", err, ferrymap.ErrWrongKind)

	// An attached handle that its owner then frees: calls fail cleanly.
	a := must(ferrymap.Attach[int64, int64](h))(t)
	noErr(t, m.Close())
	_, _, err = a.Get(1)
	isErr(t, "Get on a map freed by its owner", err, ferrymap.ErrInvalidHandle)
	_, err = a.Set(1, 2)
	isErr(t, "Set on a map freed by its owner", err, ferrymap.ErrInvalidHandle)
	noErr(t, a.Close()) // detaching is fine

	// Stale: the handle of a closed map.
	_, err = ferrymap.Attach[int64, int64](h)
	isErr(t, "Attach(stale)", err, ferrymap.ErrInvalidHandle)

	// Double-freed: handed to C, which frees it twice.
	m2 := must(ferrymap.New[int64, int64](0))(t)
	h2 := must(m2.Disown())(t)
	if m2.Owned() {
		t.Fatal("Disowned map still owned")
	}
	if st := ctest.Free(h2); st != 0 {
		t.Fatalf("C free: %d", st)
	}
	if st := ctest.Free(h2); st != int32(ferrymap.StatusInvalidHandle) {
		t.Fatalf("C double free: %d", st)
	}
	_, err = ferrymap.Attach[int64, int64](h2)
	isErr(t, "Attach(double-freed)", err, ferrymap.ErrInvalidHandle)
	_, _, err = m2.Get(1)
	isErr(t, "Get on disowned map freed by C", err, ferrymap.ErrInvalidHandle)
	noErr(t, m2.Close()) // not owned: detaches

	// Owned map freed behind Go's back: Close reports it.
	m3 := must(ferrymap.New[int64, int64](0))(t)
	if st := ctest.Free(m3.Handle()); st != 0 {
		t.Fatalf("C free: %d", st)
	}
	isErr(t, "Close of a map freed elsewhere", m3.Close(), ferrymap.ErrInvalidHandle)

	// Adopt: an attached map becomes owned; Close frees it.
	ch, st := ctest.NewI64(3)
	if st != 0 {
		t.Fatal(st)
	}
	ad := must(ferrymap.Attach[int64, int64](ch))(t)
	noErr(t, ad.Adopt())
	noErr(t, ad.Close())
	if st := ctest.Free(ch); st != int32(ferrymap.StatusInvalidHandle) {
		t.Fatalf("map adopted and closed by Go is still alive: C free gave %d", st)
	}
}

func TestClosedMap(t *testing.T) {
	m := must(ferrymap.New[string, string](0))(t)
	must(m.Set("k", "v"))(t)
	v, _, _ := m.View("k")
	s := must(m.Snapshot())(t)
	noErr(t, m.Close())
	if m.Handle() != 0 {
		t.Fatal("Handle after Close not 0")
	}
	closed := map[string]error{}
	_, _, closed["Get"] = m.Get("k")
	_, closed["Set"] = m.Set("k", "v")
	_, closed["Delete"] = m.Delete("k")
	_, closed["Contains"] = m.Contains("k")
	_, closed["Len"] = m.Len()
	closed["Clear"] = m.Clear()
	closed["Reserve"] = m.Reserve(1)
	_, closed["Add"] = m.Add("k", "v")
	_, closed["Update"] = m.Update("k", func(*string) bool { return true })
	_, closed["Clone"] = m.Clone()
	_, closed["Stats"] = m.Stats()
	_, closed["Export"] = m.Export()
	_, _, closed["View"] = m.View("k")
	_, closed["Snapshot"] = m.Snapshot()
	closed["ForEach"] = m.ForEach(func(string, string) bool { return true })
	_, _, closed["GetMany"] = m.GetMany([]string{"k"})
	_, closed["SetMany"] = m.SetMany([]string{"k"}, []string{"v"})
	_, closed["RemoveMany"] = m.RemoveMany([]string{"k"})
	closed["Adopt"] = m.Adopt()
	_, closed["Disown"] = m.Disown()
	closed["Close"] = m.Close()
	for op, err := range closed {
		isErr(t, op+" on closed map", err, ferrymap.ErrClosed)
	}
	// Ranging a closed map panics with ErrClosed.
	func() {
		defer func() {
			p := recover()
			if err, ok := p.(error); !ok || !errors.Is(err, ferrymap.ErrClosed) {
				t.Fatalf("All on closed map: recovered %v", p)
			}
		}()
		for range m.All() {
		}
	}()
	// Snapshots and views made before Close still work.
	n := 0
	for k, val := range s.All() {
		if k != "k" || val != "v" {
			t.Fatalf("snapshot after Close yielded %q %q", k, val)
		}
		n++
	}
	if n != 1 || v.String() != "v" {
		t.Fatalf("snapshot/view after map Close: %d entries, view %q", n, v.String())
	}
	noErr(t, v.Release())
	isErr(t, "second Snapshot.Close", s.Close(), ferrymap.ErrClosed)
}

func TestInvalidUTF8(t *testing.T) {
	bad := "ab\xffcd"
	m := must(ferrymap.New[string, string](0))(t)
	closeMap(t, m)
	_, err := m.Set(bad, "v")
	isErr(t, "Set(bad key)", err, ferrymap.ErrInvalidUTF8)
	_, err = m.Set("k", bad)
	isErr(t, "Set(bad value)", err, ferrymap.ErrInvalidUTF8)
	_, _, err = m.Get(bad)
	isErr(t, "Get(bad key)", err, ferrymap.ErrInvalidUTF8)
	_, err = m.Delete(bad)
	isErr(t, "Delete(bad key)", err, ferrymap.ErrInvalidUTF8)
	_, err = m.Contains(bad)
	isErr(t, "Contains(bad key)", err, ferrymap.ErrInvalidUTF8)
	// One bad entry fails the whole batch and stores nothing.
	_, err = m.SetMany([]string{"a", "b", "c"}, []string{"1", bad, "3"})
	isErr(t, "SetMany(one bad value)", err, ferrymap.ErrInvalidUTF8)
	_, err = m.RemoveMany([]string{"a", bad})
	isErr(t, "RemoveMany(one bad key)", err, ferrymap.ErrInvalidUTF8)
	if l := must(m.Len())(t); l != 0 {
		t.Fatalf("something was stored: Len %d", l)
	}
	// An Update that leaves invalid UTF-8 is refused, value unchanged.
	must(m.Set("k", "abc"))(t)
	_, err = m.Update("k", func(v *string) bool { *v = "a\xffc"; return true })
	isErr(t, "Update to invalid UTF-8", err, ferrymap.ErrInvalidUTF8)
	if v, _, _ := m.Get("k"); v != "abc" {
		t.Fatalf("value after refused Update: %q", v)
	}
	// []byte keys into a STR map are checked too.
	mb := must(ferrymap.NewKinds[[]byte, int64](ferrymap.KindStr, ferrymap.KindInt, 0))(t)
	closeMap(t, mb)
	_, err = mb.Set([]byte{0xc3}, 1)
	isErr(t, "Set([]byte bad) into STR", err, ferrymap.ErrInvalidUTF8)
	_, _, err = mb.GetMany([][]byte{[]byte("ok"), {0xc3}})
	isErr(t, "GetMany(bad key)", err, ferrymap.ErrInvalidUTF8)
	// The same bytes are fine in a BYTES map.
	ok := must(ferrymap.NewKinds[string, string](ferrymap.KindBytes, ferrymap.KindBytes, 0))(t)
	closeMap(t, ok)
	must(ok.Set(bad, bad))(t)
	if v, found, _ := ok.Get(bad); !found || v != bad {
		t.Fatalf("BYTES map lost invalid UTF-8 bytes: %q", v)
	}
}

func exportOf(t *testing.T) []byte {
	m := must(ferrymap.New[string, int64](0))(t)
	defer m.Close()
	must(m.SetMany([]string{"a", "bb", "ccc"}, []int64{1, 2, 3}))(t)
	return must(m.Export())(t)
}

func TestCorruptImport(t *testing.T) {
	good := exportOf(t)
	before := ferrymap.Census()
	withCRC := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
		return b
	}
	flip := func(i int) []byte { b := append([]byte(nil), good...); b[i] ^= 0x40; return b }
	cases := map[string][]byte{
		"nil":            nil,
		"empty":          {},
		"garbage":        []byte("this is not a ferrymap export at all"),
		"truncated-1":    good[:len(good)-1],
		"truncated-half": good[:len(good)/2],
		"header-only":    good[:16],
		"bad-magic":      withCRC(append([]byte("XMAP"), good[4:]...)),
		"flipped-body":   flip(20),
		"flipped-crc":    flip(len(good) - 1),
		"flipped-count":  flip(9),
	}
	// A consistent checksum over inconsistent contents: count too large,
	// unknown kind, a length running past the end.
	huge := append([]byte(nil), good...)
	binary.LittleEndian.PutUint64(huge[8:], 1<<40)
	cases["count-too-large"] = withCRC(huge)
	kind := append([]byte(nil), good...)
	kind[6] = 9
	cases["unknown-kind"] = withCRC(kind)
	long := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(long[16:], 1<<30)
	cases["length-past-end"] = withCRC(long)
	for name, data := range cases {
		_, err := ferrymap.Import[string, int64](data)
		isErr(t, "Import("+name+")", err, ferrymap.ErrCorruptData)
	}
	ver := append([]byte(nil), good...)
	binary.LittleEndian.PutUint16(ver[4:], 2)
	_, err := ferrymap.Import[string, int64](withCRC(ver))
	isErr(t, "Import(newer version)", err, ferrymap.ErrUnsupportedVersion)
	// Valid data into the wrong Go types: refused, nothing kept.
	_, err = ferrymap.Import[int64, int64](good)
	isErr(t, "Import into wrong types", err, ferrymap.ErrWrongKind)
	if after := ferrymap.Census(); after != before {
		t.Fatalf("failed imports left handles: census %d → %d", before, after)
	}
	// And the good data imports.
	m := must(ferrymap.Import[string, int64](good))(t)
	if v, _, _ := m.Get("bb"); v != 2 {
		t.Fatalf("Import: bb = %d", v)
	}
	noErr(t, m.Close())
}

func TestWrongKindsAndArguments(t *testing.T) {
	_, err := ferrymap.NewKinds[int64, int64](ferrymap.KindStr, ferrymap.KindInt, 0)
	isErr(t, "NewKinds int64 key as STR", err, ferrymap.ErrWrongKind)
	_, err = ferrymap.NewKinds[int64, int64](ferrymap.KindFloat, ferrymap.KindInt, 0)
	isErr(t, "NewKinds FLOAT key", err, ferrymap.ErrWrongKind)
	_, err = ferrymap.NewKinds[string, float64](ferrymap.KindStr, ferrymap.KindInt, 0)
	isErr(t, "NewKinds float64 value as INT", err, ferrymap.ErrWrongKind)
	_, err = ferrymap.New[int64, int64](-1)
	isErr(t, "New(-1)", err, ferrymap.ErrInvalidArgument)

	ms := must(ferrymap.New[int64, string](0))(t)
	closeMap(t, ms)
	_, err = ms.Add(1, "x")
	isErr(t, "Add on STR values", err, ferrymap.ErrWrongKind)
	mi := must(ferrymap.New[int64, int64](0))(t)
	closeMap(t, mi)
	_, _, err = mi.View(1)
	isErr(t, "View on INT values", err, ferrymap.ErrWrongKind)
	isErr(t, "Reserve(-1)", mi.Reserve(-1), ferrymap.ErrInvalidArgument)
	_, err = mi.SetMany([]int64{1, 2}, []int64{1})
	isErr(t, "SetMany lengths", err, ferrymap.ErrInvalidArgument)
	_, err = mi.GetManyInto([]int64{1, 2}, make([]int64, 1), nil)
	isErr(t, "GetManyInto short values", err, ferrymap.ErrInvalidArgument)
	_, err = mi.GetManyInto([]int64{1, 2}, make([]int64, 2), make([]bool, 1))
	isErr(t, "GetManyInto short found", err, ferrymap.ErrInvalidArgument)

	// Overflow: the value is left unchanged.
	must(mi.Set(1, math.MaxInt64))(t)
	_, err = mi.Add(1, 1)
	isErr(t, "Add overflow", err, ferrymap.ErrOverflow)
	if v, _, _ := mi.Get(1); v != math.MaxInt64 {
		t.Fatalf("value after overflow: %d", v)
	}
	var fe *ferrymap.Error
	if errors.As(err, &fe); fe.Status() != ferrymap.StatusOverflow || fe.Detail == "" {
		t.Fatalf("overflow error: status %d detail %q", fe.Status(), fe.Detail)
	}
}

func TestReentrantCallbacks(t *testing.T) {
	m := must(ferrymap.New[int64, int64](0))(t)
	closeMap(t, m)
	other := must(ferrymap.New[int64, int64](0))(t)
	closeMap(t, other)
	must(m.Set(1, 1))(t)
	var inner, otherErr error
	must(m.Update(1, func(v *int64) bool {
		_, _, inner = m.Get(1)
		_, otherErr = other.Set(1, 1) // another map is fine
		*v = 2
		return true
	}))(t)
	isErr(t, "Get from Update callback", inner, ferrymap.ErrReentrant)
	noErr(t, otherErr)
	noErr(t, m.ForEach(func(k, v int64) bool {
		_, inner = m.Set(5, 5)
		return true
	}))
	isErr(t, "Set from ForEach callback", inner, ferrymap.ErrReentrant)
	// All is not a callback: writing while ranging is allowed.
	for k := range m.All() {
		must(m.Set(k+100, 0))(t)
	}
	if l := must(m.Len())(t); l != 2 {
		t.Fatalf("Len %d after writing while ranging", l)
	}
}

func TestSentinelsAndMessages(t *testing.T) {
	_, err := ferrymap.Attach[int64, int64](12345)
	var fe *ferrymap.Error
	if !errors.As(err, &fe) {
		t.Fatalf("%T", err)
	}
	if fe.Detail == "" {
		t.Fatalf("no fm_last_error detail in %v", err)
	}
	if ferrymap.StatusInvalidHandle.Error() == "" || errors.Is(err, ferrymap.ErrWrongKind) {
		t.Fatal("sentinel confusion")
	}
	t.Logf("example error: %v", err)
}
