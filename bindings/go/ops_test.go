package ferrymap_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"

	ferrymap "github.com/ferrymap/ferrymap/bindings/go"
)

// str prints a key or value for comparisons ([]byte and string alike).
func str(v any) string {
	switch x := v.(type) {
	case []byte:
		return fmt.Sprintf("b%q", x)
	case string:
		return fmt.Sprintf("s%q", x)
	}
	return fmt.Sprintf("%v", v)
}

// schema describes one key/value type pair for the generic exerciser.
type schema[K ferrymap.Key, V ferrymap.Value] struct {
	key func(i int) K
	val func(i int) V
}

func ints(i int) int64     { return int64(i)*7919 - 5000 } // negatives and 0 included
func floats(i int) float64 { return float64(i) * 0.5 }
func strs(i int) string    { return fmt.Sprintf("k%d-é-😀", i) }
func vstrs(i int) string   { return strings.Repeat("v", i%70) + fmt.Sprint(i) } // lengths vary past the 32-byte first guess
func bytess(i int) []byte  { return []byte{byte(i), 0, byte(i >> 8), 0xff} }
func vbytes(i int) []byte  { return bytes.Repeat([]byte{byte(i), 0}, i%50) }
func uints(i int) uint64   { return math.MaxUint64 - uint64(i) }

// exercise runs every operation of the API on a fresh map of one schema and
// checks the results against a plain Go map model.
func exercise[K ferrymap.Key, V ferrymap.Value](t *testing.T, m *ferrymap.Map[K, V], s schema[K, V]) {
	t.Helper()
	const n = 300
	model := map[string]string{}

	if l := must(m.Len())(t); l != 0 {
		t.Fatalf("new map has Len %d", l)
	}
	noErr(t, m.Reserve(n))
	// Set: new keys, then overwrite.
	for i := 0; i < n; i++ {
		if rep := must(m.Set(s.key(i), s.val(i)))(t); rep {
			t.Fatalf("Set(%v) of a new key reported replaced", s.key(i))
		}
		model[str(s.key(i))] = str(s.val(i))
	}
	for i := 0; i < n; i += 3 {
		if rep := must(m.Set(s.key(i), s.val(i+1)))(t); !rep {
			t.Fatalf("Set(%v) of an existing key did not report replaced", s.key(i))
		}
		model[str(s.key(i))] = str(s.val(i + 1))
	}
	if l := must(m.Len())(t); l != n {
		t.Fatalf("Len %d, want %d", l, n)
	}
	// Get, Contains: hits and misses.
	for i := 0; i < n; i++ {
		v, ok, err := m.Get(s.key(i))
		if err != nil || !ok || str(v) != model[str(s.key(i))] {
			t.Fatalf("Get(%v) = %v, %v, %v; want %v", s.key(i), str(v), ok, err, model[str(s.key(i))])
		}
		if !must(m.Contains(s.key(i)))(t) {
			t.Fatalf("Contains(%v) = false", s.key(i))
		}
	}
	missing := s.key(n + 1000)
	if v, ok, err := m.Get(missing); ok || err != nil {
		t.Fatalf("Get(missing) = %v, %v, %v", v, ok, err)
	}
	if must(m.Contains(missing))(t) {
		t.Fatal("Contains(missing) = true")
	}
	// Delete.
	for i := 0; i < n; i += 5 {
		if !must(m.Delete(s.key(i)))(t) {
			t.Fatalf("Delete(%v) = false", s.key(i))
		}
		delete(model, str(s.key(i)))
	}
	if must(m.Delete(s.key(0)))(t) {
		t.Fatal("second Delete reported removed")
	}
	if l := must(m.Len())(t); l != len(model) {
		t.Fatalf("Len %d, want %d", l, len(model))
	}
	// Iteration: All, Keys, Values, ForEach, Snapshot all see the model.
	checkContents(t, m, model)
	// Batch.
	var bk []K
	var bv []V
	for i := n; i < n+100; i++ {
		bk = append(bk, s.key(i))
		bv = append(bv, s.val(i))
		model[str(s.key(i))] = str(s.val(i))
	}
	bk = append(bk, s.key(1)) // one existing key
	bv = append(bv, s.val(2))
	model[str(s.key(1))] = str(s.val(2))
	if rep := must(m.SetMany(bk, bv))(t); rep != 1 {
		t.Fatalf("SetMany replaced %d, want 1", rep)
	}
	qk := append(slices.Clone(bk), s.key(n+5000), s.key(0)) // two absent keys
	vals, found, err := m.GetMany(qk)
	noErr(t, err)
	for i, k := range qk {
		want, in := model[str(k)]
		if found[i] != in || (in && str(vals[i]) != want) {
			t.Fatalf("GetMany[%d] (%v) = %v, %v; want %v, %v", i, k, str(vals[i]), found[i], want, in)
		}
	}
	cnt, err := m.GetManyInto(qk, make([]V, len(qk)), nil)
	noErr(t, err)
	if cnt != len(qk)-2 {
		t.Fatalf("GetManyInto found %d, want %d", cnt, len(qk)-2)
	}
	if rem := must(m.RemoveMany(qk[:50]))(t); rem != 50 {
		t.Fatalf("RemoveMany removed %d, want 50", rem)
	}
	for _, k := range qk[:50] {
		delete(model, str(k))
	}
	if rem := must(m.RemoveMany(qk[:50]))(t); rem != 0 {
		t.Fatalf("second RemoveMany removed %d", rem)
	}
	checkContents(t, m, model)
	// Empty batches are fine.
	if _, err := m.SetMany(nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.GetMany(nil); err != nil {
		t.Fatal(err)
	}
	// Stats.
	st := must(m.Stats())(t)
	if st.Len != uint64(len(model)) || st.Capacity < st.Len || st.MemoryBytes == 0 || st.Writes == 0 {
		t.Fatalf("Stats = %+v with %d entries", st, len(model))
	}
	// Clone is independent both ways.
	c := must(m.Clone())(t)
	checkContents(t, c, model)
	must(c.Set(s.key(n+7000), s.val(1)))(t)
	must(m.Delete(s.key(1)))(t)
	if ok := must(m.Contains(s.key(n + 7000)))(t); ok {
		t.Fatal("write to clone is visible in original")
	}
	if ok := must(c.Contains(s.key(1)))(t); !ok {
		t.Fatal("delete in original is visible in clone")
	}
	noErr(t, c.Close())
	delete(model, str(s.key(1)))
	// Export / Import round trip.
	data := must(m.Export())(t)
	im := must(ferrymap.Import[K, V](data))(t)
	checkContents(t, im, model)
	kk, vk := m.Kinds()
	ik, iv := im.Kinds()
	if kk != ik || vk != iv {
		t.Fatalf("Import kinds %v→%v, want %v→%v", ik, iv, kk, vk)
	}
	noErr(t, im.Close())
	// Handle / Attach: the same map, not owned.
	a := must(ferrymap.Attach[K, V](m.Handle()))(t)
	if a.Owned() {
		t.Fatal("attached map claims ownership")
	}
	checkContents(t, a, model)
	noErr(t, a.Close()) // detaches only
	if l := must(m.Len())(t); l != len(model) {
		t.Fatalf("closing an attached map changed the original: Len %d", l)
	}
	// Clear.
	noErr(t, m.Clear())
	if l := must(m.Len())(t); l != 0 {
		t.Fatalf("Len after Clear = %d", l)
	}
	checkContents(t, m, map[string]string{})
}

// checkContents compares every way of reading the whole map with a model.
func checkContents[K ferrymap.Key, V ferrymap.Value](t *testing.T, m *ferrymap.Map[K, V], model map[string]string) {
	t.Helper()
	got := map[string]string{}
	for k, v := range m.All() {
		if _, dup := got[str(k)]; dup {
			t.Fatalf("All yielded %v twice", k)
		}
		got[str(k)] = str(v)
	}
	if !equalMaps(got, model) {
		t.Fatalf("All: %d entries, want %d (%s)", len(got), len(model), diff(got, model))
	}
	var keys, wantKeys, vals, wantVals []string
	for k := range m.Keys() {
		keys = append(keys, str(k))
	}
	for v := range m.Values() {
		vals = append(vals, str(v))
	}
	for k, v := range model {
		wantKeys = append(wantKeys, k)
		wantVals = append(wantVals, v)
	}
	sort.Strings(keys)
	sort.Strings(wantKeys)
	sort.Strings(vals)
	sort.Strings(wantVals)
	if !slices.Equal(keys, wantKeys) || !slices.Equal(vals, wantVals) {
		t.Fatalf("Keys/Values disagree with the model")
	}
	fe := map[string]string{}
	noErr(t, m.ForEach(func(k K, v V) bool { fe[str(k)] = str(v); return true }))
	if !equalMaps(fe, model) {
		t.Fatalf("ForEach: %s", diff(fe, model))
	}
	snap := must(m.Snapshot())(t)
	if snap.Len() != len(model) {
		t.Fatalf("Snapshot.Len %d, want %d", snap.Len(), len(model))
	}
	sn := 0
	for range snap.All() {
		sn++
	}
	if sn != len(model) || snap.Err() != nil || snap.Handle() != 0 {
		t.Fatalf("Snapshot.All yielded %d (err %v, handle after %#x)", sn, snap.Err(), snap.Handle())
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func diff(got, want map[string]string) string {
	var out []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			out = append(out, "missing "+k)
		} else if g != v {
			out = append(out, fmt.Sprintf("%s: got %s want %s", k, g, v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, "extra "+k)
		}
	}
	if len(out) > 5 {
		out = append(out[:5], "...")
	}
	return strings.Join(out, "; ")
}

func run[K ferrymap.Key, V ferrymap.Value](t *testing.T, name string, s schema[K, V]) {
	t.Run(name, func(t *testing.T) {
		m := must(ferrymap.New[K, V](0))(t)
		closeMap(t, m)
		exercise(t, m, s)
	})
}

func TestEveryOperationEverySchema(t *testing.T) {
	run(t, "int64-int64", schema[int64, int64]{ints, ints})
	run(t, "uint64-uint64", schema[uint64, uint64]{uints, uints})
	run(t, "int64-float64", schema[int64, float64]{ints, floats})
	run(t, "int64-string", schema[int64, string]{ints, vstrs})
	run(t, "int64-bytes", schema[int64, []byte]{ints, vbytes})
	run(t, "string-int64", schema[string, int64]{strs, ints})
	run(t, "string-float64", schema[string, float64]{strs, floats})
	run(t, "string-string", schema[string, string]{strs, vstrs})
	run(t, "string-bytes", schema[string, []byte]{strs, vbytes})
	run(t, "bytes-int64", schema[[]byte, int64]{bytess, ints})
	run(t, "bytes-float64", schema[[]byte, float64]{bytess, floats})
	run(t, "bytes-string", schema[[]byte, string]{bytess, vstrs})
	run(t, "bytes-bytes", schema[[]byte, []byte]{bytess, vbytes})
	type ID int64
	type Name string
	run(t, "named-types", schema[ID, Name]{func(i int) ID { return ID(i) }, func(i int) Name { return Name(vstrs(i)) }})
	// Explicit kinds: Go strings stored as BYTES (no UTF-8 check), []byte as STR.
	t.Run("string-as-BYTES", func(t *testing.T) {
		m := must(ferrymap.NewKinds[string, string](ferrymap.KindBytes, ferrymap.KindBytes, 0))(t)
		closeMap(t, m)
		exercise(t, m, schema[string, string]{func(i int) string { return string(bytess(i)) }, func(i int) string { return string(vbytes(i)) }})
	})
	t.Run("bytes-as-STR", func(t *testing.T) {
		m := must(ferrymap.NewKinds[[]byte, []byte](ferrymap.KindStr, ferrymap.KindStr, 0))(t)
		closeMap(t, m)
		exercise(t, m, schema[[]byte, []byte]{func(i int) []byte { return []byte(strs(i)) }, func(i int) []byte { return []byte(vstrs(i)) }})
	})
}

func TestKinds(t *testing.T) {
	m := must(ferrymap.New[string, []byte](0))(t)
	closeMap(t, m)
	k, v := m.Kinds()
	if k != ferrymap.KindStr || v != ferrymap.KindBytes {
		t.Fatalf("Kinds = %v, %v", k, v)
	}
	sk, sv, err := ferrymap.Schema(m.Handle())
	if err != nil || sk != k || sv != v {
		t.Fatalf("Schema = %v %v %v", sk, sv, err)
	}
	if !m.Owned() {
		t.Fatal("New map not owned")
	}
}

func TestAdd(t *testing.T) {
	mi := must(ferrymap.New[int64, int64](0))(t)
	closeMap(t, mi)
	if v := must(mi.Add(7, 5))(t); v != 5 {
		t.Fatalf("Add on absent key = %d, want 5", v)
	}
	if v := must(mi.Add(7, -8))(t); v != -3 {
		t.Fatalf("Add = %d, want -3", v)
	}
	if v, _, _ := mi.Get(7); v != -3 {
		t.Fatalf("Get after Add = %d", v)
	}
	mf := must(ferrymap.New[int64, float64](0))(t)
	closeMap(t, mf)
	must(mf.Add(1, 0.25))(t)
	if v := must(mf.Add(1, 0.5))(t); v != 0.75 {
		t.Fatalf("float Add = %v", v)
	}
	ms := must(ferrymap.New[string, int64](0))(t)
	closeMap(t, ms)
	for i := 0; i < 10; i++ {
		must(ms.Add("hits", 2))(t)
	}
	if v, _, _ := ms.Get("hits"); v != 20 {
		t.Fatalf("string-key Add total %d", v)
	}
	msf := must(ferrymap.New[[]byte, float64](0))(t)
	closeMap(t, msf)
	if v := must(msf.Add([]byte{0, 1}, 1.5))(t); v != 1.5 {
		t.Fatalf("bytes-key float Add = %v", v)
	}
	mu := must(ferrymap.New[uint64, uint64](0))(t)
	closeMap(t, mu)
	if v := must(mu.Add(1, math.MaxUint64))(t); v != math.MaxUint64 { // -1 as int64
		t.Fatalf("uint64 Add = %d", v)
	}
}

func TestUpdate(t *testing.T) {
	m := must(ferrymap.New[int64, int64](0))(t)
	closeMap(t, m)
	must(m.Set(1, 10))(t)
	found := must(m.Update(1, func(v *int64) bool { *v = *v*2 + 1; return true }))(t)
	if v, _, _ := m.Get(1); !found || v != 21 {
		t.Fatalf("Update: found %v, value %d", found, v)
	}
	// fn returning false leaves the value.
	found = must(m.Update(1, func(v *int64) bool { *v = 999; return false }))(t)
	if v, _, _ := m.Get(1); !found || v != 21 {
		t.Fatalf("Update(false): found %v, value %d", found, v)
	}
	// Absent key: fn not called.
	called := false
	found = must(m.Update(2, func(v *int64) bool { called = true; return true }))(t)
	if found || called {
		t.Fatalf("Update on absent key: found %v called %v", found, called)
	}
	mf := must(ferrymap.New[string, float64](0))(t)
	closeMap(t, mf)
	must(mf.Set("pi", 3))(t)
	must(mf.Update("pi", func(v *float64) bool { *v += 0.14159; return true }))(t)
	if v, _, _ := mf.Get("pi"); v != 3.14159 {
		t.Fatalf("float Update = %v", v)
	}
	// STR value: same length in place.
	ms := must(ferrymap.New[int64, string](0))(t)
	closeMap(t, ms)
	must(ms.Set(1, "hello"))(t)
	must(ms.Update(1, func(v *string) bool { *v = strings.ToUpper(*v); return true }))(t)
	if v, _, _ := ms.Get(1); v != "HELLO" {
		t.Fatalf("string Update = %q", v)
	}
	mb := must(ferrymap.New[[]byte, []byte](0))(t)
	closeMap(t, mb)
	must(mb.Set([]byte("k"), []byte{1, 2, 3}))(t)
	must(mb.Update([]byte("k"), func(v *[]byte) bool { (*v)[0] = 9; return true }))(t)
	if v, _, _ := mb.Get([]byte("k")); !bytes.Equal(v, []byte{9, 2, 3}) {
		t.Fatalf("bytes Update = %v", v)
	}
	// Changing the length is refused, value unchanged.
	_, err := ms.Update(1, func(v *string) bool { *v = "longer value"; return true })
	if !errors.Is(err, ferrymap.ErrInvalidArgument) {
		t.Fatalf("length-changing Update: %v", err)
	}
	if v, _, _ := ms.Get(1); v != "HELLO" {
		t.Fatalf("value changed by refused Update: %q", v)
	}
}

func TestUpdatePanicIsRaisedAgain(t *testing.T) {
	m := must(ferrymap.New[int64, int64](0))(t)
	closeMap(t, m)
	must(m.Set(1, 1))(t)
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v, want boom", p)
			}
		}()
		m.Update(1, func(v *int64) bool { *v = 5; panic("boom") })
	}()
	if v, _, _ := m.Get(1); v != 1 {
		t.Fatalf("value after panicking Update = %d, want 1", v)
	}
	// The map (and its shard lock) is fine afterwards.
	must(m.Update(1, func(v *int64) bool { *v = 2; return true }))(t)
	must(m.Set(1, 3))(t)
	func() {
		defer func() {
			if p := recover(); p != "stop" {
				t.Fatalf("ForEach: recovered %v", p)
			}
		}()
		m.ForEach(func(k, v int64) bool { panic("stop") })
	}()
	if c, _ := ferrymap.CensusOf(ferrymap.HandleIterator); c != 0 {
		t.Fatalf("iterators left after panicking ForEach: %d", c)
	}
}

func TestForEachStops(t *testing.T) {
	m := must(ferrymap.New[int64, int64](0))(t)
	closeMap(t, m)
	for i := int64(0); i < 100; i++ {
		must(m.Set(i, i))(t)
	}
	n := 0
	noErr(t, m.ForEach(func(k, v int64) bool { n++; return n < 10 }))
	if n != 10 {
		t.Fatalf("ForEach ran %d times after stop at 10", n)
	}
}

func TestRangeBreakFreesIterator(t *testing.T) {
	m := must(ferrymap.New[int64, string](0))(t)
	closeMap(t, m)
	for i := int64(0); i < 1000; i++ {
		must(m.Set(i, "x"))(t)
	}
	n := 0
	for range m.All() {
		n++
		if n == 3 {
			break
		}
	}
	if c, _ := ferrymap.CensusOf(ferrymap.HandleIterator); c != 0 {
		t.Fatalf("%d iterators open after break", c)
	}
	// A panic in the loop body frees it too.
	func() {
		defer func() { recover() }()
		for range m.All() {
			panic("out")
		}
	}()
	if c, _ := ferrymap.CensusOf(ferrymap.HandleIterator); c != 0 {
		t.Fatalf("%d iterators open after panic", c)
	}
	// A snapshot closed without ranging.
	s := must(m.Snapshot())(t)
	// (OpenIterators counts iterators not yet reclaimed by the core, which
	// lags behind the frees above: at least this one is open.)
	if st := must(m.Stats())(t); st.OpenIterators < 1 {
		t.Fatalf("OpenIterators = %d", st.OpenIterators)
	}
	noErr(t, s.Close())
	for range s.All() {
		t.Fatal("closed snapshot yielded")
	}
}

func TestViews(t *testing.T) {
	m := must(ferrymap.New[int64, []byte](0))(t)
	closeMap(t, m)
	must(m.Set(1, []byte("zero-copy")))(t)
	v, ok, err := m.View(1)
	if err != nil || !ok {
		t.Fatalf("View: %v %v", ok, err)
	}
	b := v.Bytes()
	if string(b) != "zero-copy" || v.Len() != 9 || v.String() != "zero-copy" || v.Handle() == 0 {
		t.Fatalf("View bytes %q", b)
	}
	if st := must(m.Stats())(t); st.OpenViews != 1 {
		t.Fatalf("OpenViews = %d", st.OpenViews)
	}
	// Overwrite and delete: the view still shows the old bytes.
	must(m.Set(1, []byte("overwritten")))(t)
	must(m.Delete(1))(t)
	if string(v.Bytes()) != "zero-copy" {
		t.Fatalf("view changed after overwrite: %q", v.Bytes())
	}
	if _, ok, err := m.View(1); ok || err != nil {
		t.Fatalf("View of absent key: %v %v", ok, err)
	}
	noErr(t, v.Release())
	if v.Bytes() != nil || v.String() != "" {
		t.Fatal("Bytes after Release not nil")
	}
	if err := v.Release(); !errors.Is(err, ferrymap.ErrClosed) {
		t.Fatalf("second Release: %v", err)
	}
	// A view outlives its map.
	ms := must(ferrymap.New[string, string](0))(t)
	must(ms.Set("k", "outlives the map"))(t)
	v2, _, _ := ms.View("k")
	noErr(t, ms.Close())
	if string(v2.Bytes()) != "outlives the map" {
		t.Fatalf("view after map Close: %q", v2.Bytes())
	}
	noErr(t, v2.Release())
	// Empty value.
	must(m.Set(2, nil))(t)
	v3, ok, _ := m.View(2)
	if !ok || len(v3.Bytes()) != 0 {
		t.Fatalf("empty view: %v %v", ok, v3.Bytes())
	}
	noErr(t, v3.Release())
}

func TestStringRoundTrip(t *testing.T) {
	m := must(ferrymap.New[string, string](0))(t)
	closeMap(t, m)
	awkward := []string{"", "a\x00b", "😀🇫🇷", "\x00", strings.Repeat("é", 1000), "\U0010FFFF"}
	for i, s := range awkward {
		must(m.Set(s, awkward[len(awkward)-1-i]))(t)
	}
	for i, s := range awkward {
		v, ok, err := m.Get(s)
		if err != nil || !ok || v != awkward[len(awkward)-1-i] {
			t.Fatalf("Get(%q) = %q %v %v", s, v, ok, err)
		}
	}
}

func TestLargeValue(t *testing.T) {
	m := must(ferrymap.New[int64, []byte](0))(t)
	closeMap(t, m)
	big := bytes.Repeat([]byte("0123456789"), 100_000)
	must(m.Set(1, big))(t)
	must(m.Set(2, []byte("small")))(t)
	for _, k := range []int64{2, 1, 2, 1} { // the buffer guess grows and shrinks
		v, ok, err := m.Get(k)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if k == 1 && !bytes.Equal(v, big) || k == 2 && string(v) != "small" {
			t.Fatalf("Get(%d) returned %d bytes", k, len(v))
		}
	}
}

func TestProcessInfo(t *testing.T) {
	if ferrymap.RegistryID() == 0 {
		t.Fatal("RegistryID is 0")
	}
	// Linked with -lferrymap, the loader finds the library by its soname.
	if p := ferrymap.LibraryPath(); !strings.HasSuffix(p, "/libferrymap.so.0") {
		t.Fatalf("LibraryPath = %q", p)
	}
	if ferrymap.LibraryVersion() != ferrymap.HeaderVersion {
		t.Fatalf("library version %#x, header %#x", ferrymap.LibraryVersion(), ferrymap.HeaderVersion)
	}
	if ferrymap.Version() == "" {
		t.Fatal("empty Version")
	}
	t.Logf("registry %#x, library %s, version %s", ferrymap.RegistryID(), ferrymap.LibraryPath(), ferrymap.Version())
}
