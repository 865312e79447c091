package ferrymap_test

// Bridge mode: every Map method on a bridge map, equivalence with a direct
// map under random operations, order under many producers, tickets,
// timeouts and backpressure, close with thousands of requests in flight,
// the change feed and its loss reporting.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ferrymap "github.com/ferrymap/ferrymap/bindings/go"
)

// code names an error by its sentinel, for comparing two maps' answers.
func code(err error) string {
	if err == nil {
		return "ok"
	}
	var fe *ferrymap.Error
	if errors.As(err, &fe) {
		return fe.Err.Error()
	}
	return err.Error()
}

func dump[K ferrymap.Key, V ferrymap.Value](t testing.TB, m *ferrymap.Map[K, V]) map[string]string {
	t.Helper()
	got := map[string]string{}
	s := must(m.Snapshot())(t)
	for k, v := range s.All() {
		got[str(k)] = str(v)
	}
	noErr(t, s.Err())
	return got
}

// ---- every operation, on every schema, on a bridge map ----

func runBridge[K ferrymap.Key, V ferrymap.Value](t *testing.T, name string, s schema[K, V]) {
	t.Run(name, func(t *testing.T) {
		m := must(ferrymap.NewBridge[K, V](0, 16))(t)
		closeMap(t, m)
		if !m.IsBridge() {
			t.Fatal("NewBridge made a map that is not a bridge")
		}
		exercise(t, m, s)
		noErr(t, m.BridgeStatus())
		if seq := must(m.BridgeSeq())(t); seq == 0 {
			t.Fatal("BridgeSeq still 0 after every operation")
		}
	})
}

func TestBridgeEveryOperationEverySchema(t *testing.T) {
	runBridge(t, "int64-int64", schema[int64, int64]{ints, ints})
	runBridge(t, "uint64-uint64", schema[uint64, uint64]{uints, uints})
	runBridge(t, "int64-float64", schema[int64, float64]{ints, floats})
	runBridge(t, "int64-string", schema[int64, string]{ints, vstrs})
	runBridge(t, "int64-bytes", schema[int64, []byte]{ints, vbytes})
	runBridge(t, "string-int64", schema[string, int64]{strs, ints})
	runBridge(t, "string-float64", schema[string, float64]{strs, floats})
	runBridge(t, "string-string", schema[string, string]{strs, vstrs})
	runBridge(t, "string-bytes", schema[string, []byte]{strs, vbytes})
	runBridge(t, "bytes-int64", schema[[]byte, int64]{bytess, ints})
	runBridge(t, "bytes-float64", schema[[]byte, float64]{bytess, floats})
	runBridge(t, "bytes-string", schema[[]byte, string]{bytess, vstrs})
	runBridge(t, "bytes-bytes", schema[[]byte, []byte]{bytess, vbytes})
	t.Run("string-as-BYTES", func(t *testing.T) {
		m := must(ferrymap.NewBridgeKinds[string, string](ferrymap.KindBytes, ferrymap.KindBytes, 0, 4))(t)
		closeMap(t, m)
		exercise(t, m, schema[string, string]{func(i int) string { return string(bytess(i)) }, func(i int) string { return string(vbytes(i)) }})
	})
}

func TestBridgeModeAndKinds(t *testing.T) {
	b := must(ferrymap.NewBridge[int64, string](0, 8))(t)
	closeMap(t, b)
	d := must(ferrymap.New[int64, string](0))(t)
	closeMap(t, d)
	if !b.IsBridge() || d.IsBridge() {
		t.Fatal("IsBridge wrong")
	}
	// Attach sees a bridge handle as a bridge; a Clone of a bridge is direct.
	a := must(ferrymap.Attach[int64, string](b.Handle()))(t)
	if !a.IsBridge() || a.Owned() {
		t.Fatal("attached bridge: IsBridge false or owned")
	}
	noErr(t, a.Close())
	c := must(b.Clone())(t)
	if c.IsBridge() {
		t.Fatal("Clone of a bridge is a bridge")
	}
	noErr(t, c.Close())
	// Direct maps: no bridge calls, seq 0.
	isErr(t, "BridgeSeq on direct", func() error { _, err := d.BridgeSeq(); return err }(), ferrymap.ErrWrongKind)
	isErr(t, "BridgeStatus on direct", d.BridgeStatus(), ferrymap.ErrWrongKind)
	isErr(t, "Subscribe on direct", func() error { _, err := d.Subscribe(1); return err }(), ferrymap.ErrWrongKind)
	r := d.Requests()
	isErr(t, "Submit on direct", func() error { _, err := d.Submit([]ferrymap.Request[int64, string]{r.Len()}, 0); return err }(), ferrymap.ErrWrongKind)
	if _, seq, err := d.SetSeq(1, "x"); err != nil || seq != 0 {
		t.Fatalf("SetSeq on direct: seq %d, %v", seq, err)
	}
	// Sequence numbers.
	if _, seq, _ := b.SetSeq(1, "a"); seq != 1 {
		t.Fatalf("first SetSeq: seq %d", seq)
	}
	if _, seq, _ := b.DeleteSeq(2); seq != 0 {
		t.Fatalf("DeleteSeq of an absent key: seq %d", seq)
	}
	if found, seq, _ := b.UpdateSeq(1, func(*string) bool { return false }); !found || seq != 0 {
		t.Fatalf("UpdateSeq keeping the value: %v, seq %d", found, seq)
	}
	if _, seq, _ := b.UpdateSeq(1, func(v *string) bool { *v = "b"; return true }); seq != 2 {
		t.Fatalf("UpdateSeq: seq %d", seq)
	}
	if seq := must(b.ClearSeq())(t); seq != 3 {
		t.Fatalf("ClearSeq: seq %d", seq)
	}
	if seq := must(b.ClearSeq())(t); seq != 4 {
		t.Fatalf("ClearSeq of an empty map: seq %d (a Clear is one mutation)", seq)
	}
	if _, _, err := b.AddSeq(1, "x"); !errors.Is(err, ferrymap.ErrWrongKind) {
		t.Fatalf("AddSeq on STR values: %v", err)
	}
	if removed, seq, _ := b.DeleteSeq(1); removed || seq != 0 {
		t.Fatalf("DeleteSeq after Clear: %v %d", removed, seq)
	}
	if seq := must(b.BridgeSeq())(t); seq != 4 {
		t.Fatalf("BridgeSeq %d, want 4", seq)
	}
	n := must(ferrymap.NewBridge[int64, int64](0, 8))(t)
	closeMap(t, n)
	if v, seq, err := n.AddSeq(7, 5); v != 5 || seq != 1 || err != nil {
		t.Fatalf("AddSeq: %d %d %v", v, seq, err)
	}
	if _, seq, err := n.AddSeq(7, math.MaxInt64); !errors.Is(err, ferrymap.ErrOverflow) || seq != 0 {
		t.Fatalf("AddSeq overflow: %d %v", seq, err)
	}
	// Bad arguments.
	for _, q := range []int{0, 1<<24 + 1} {
		if _, err := ferrymap.NewBridge[int64, int64](0, q); !errors.Is(err, ferrymap.ErrInvalidArgument) {
			t.Fatalf("NewBridge(queue %d): %v", q, err)
		}
	}
	if _, err := ferrymap.NewBridge[int64, int64](-1, 1); !errors.Is(err, ferrymap.ErrInvalidArgument) {
		t.Fatalf("NewBridge(capacity -1): %v", err)
	}
	if _, err := ferrymap.NewBridgeKinds[int64, int64](ferrymap.KindStr, ferrymap.KindInt, 0, 1); !errors.Is(err, ferrymap.ErrWrongKind) {
		t.Fatalf("NewBridgeKinds with unfit kinds: %v", err)
	}
}

// ---- randomized equivalence with a direct map ----

type eqCase[K ferrymap.Key, V ferrymap.Value] struct {
	key    func(i int) K
	val    func(i int) V
	bump   func(v V) V // a new value of the same length (Update)
	badKey *K          // a key the map refuses (invalid UTF-8 for STR keys)
	big    *V          // a delta that overflows sooner or later
}

func TestBridgeEquivalentToDirect(t *testing.T) {
	bad := "bad\xff"
	big := int64(math.MaxInt64 / 2)
	steps := 1500
	if testing.Short() {
		steps = 300
	}
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("int64-int64/", seed), func(t *testing.T) {
			equivalence(t, seed, steps, eqCase[int64, int64]{key: ints, val: ints, bump: func(v int64) int64 { return v ^ 0x55 }, big: &big})
		})
		t.Run(fmt.Sprint("string-string/", seed), func(t *testing.T) {
			equivalence(t, seed, steps, eqCase[string, string]{key: strs, val: vstrs, badKey: &bad,
				bump: func(v string) string { return string(bytes.ToUpper([]byte(v))) }})
		})
		t.Run(fmt.Sprint("bytes-float64/", seed), func(t *testing.T) {
			equivalence(t, seed, steps, eqCase[[]byte, float64]{key: bytess, val: floats, bump: func(v float64) float64 { return -v - 1 }})
		})
		t.Run(fmt.Sprint("int64-bytes/", seed), func(t *testing.T) {
			equivalence(t, seed, steps, eqCase[int64, []byte]{key: ints, val: vbytes,
				bump: func(v []byte) []byte { w := slices.Clone(v); slices.Reverse(w); return w }})
		})
		t.Run(fmt.Sprint("string-int64/", seed), func(t *testing.T) {
			equivalence(t, seed, steps, eqCase[string, int64]{key: strs, val: ints, badKey: &bad, big: &big,
				bump: func(v int64) int64 { return v + 1 }})
		})
	}
}

// equivalence makes the same random operations on a direct map and a
// bridge map and compares every answer; it also checks the bridge's
// sequence numbers (one per committed mutation, in order) and that its
// change feed replays to the same contents.
func equivalence[K ferrymap.Key, V ferrymap.Value](t *testing.T, seed uint64, steps int, c eqCase[K, V]) {
	d := must(ferrymap.New[K, V](0))(t)
	closeMap(t, d)
	b := must(ferrymap.NewBridge[K, V](0, 32))(t)
	closeMap(t, b)
	sub := must(b.Subscribe(1 << 20))(t)
	defer sub.Close()

	r := rand.New(rand.NewPCG(seed, 99))
	const pool = 40
	key := func() K {
		if c.badKey != nil && r.IntN(40) == 0 {
			return *c.badKey
		}
		return c.key(r.IntN(pool))
	}
	val := func() V {
		if c.big != nil && r.IntN(15) == 0 {
			return *c.big
		}
		return c.val(r.IntN(1000))
	}
	var seq uint64 // mutations committed so far on the bridge
	step := 0
	same := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("step %d, %s: bridge %v, direct %v", step, what, got, want)
		}
	}
	committed := func(what string, s uint64, did bool) {
		t.Helper()
		if did {
			seq++
		}
		if want := map[bool]uint64{true: seq, false: 0}[did]; s != want {
			t.Fatalf("step %d, %s: seq %d, want %d", step, what, s, want)
		}
	}
	bq := b.Requests()
	for step = 0; step < steps; step++ {
		switch op := r.IntN(18); op {
		case 0, 1, 2: // Set
			k, v := key(), val()
			rep, err := d.Set(k, v)
			brep, s, berr := b.SetSeq(k, v)
			same("Set", []any{brep, code(berr)}, []any{rep, code(err)})
			committed("SetSeq", s, err == nil)
		case 3: // Delete
			k := key()
			rem, err := d.Delete(k)
			brem, s, berr := b.DeleteSeq(k)
			same("Delete", []any{brem, code(berr)}, []any{rem, code(err)})
			committed("DeleteSeq", s, rem)
		case 4, 5: // Get
			k := key()
			v, ok, err := d.Get(k)
			bv, bok, berr := b.Get(k)
			same("Get", []any{str(bv), bok, code(berr)}, []any{str(v), ok, code(err)})
		case 6: // Contains, Len
			k := key()
			ok, err := d.Contains(k)
			bok, berr := b.Contains(k)
			same("Contains", []any{bok, code(berr)}, []any{ok, code(err)})
			same("Len", must(b.Len())(t), must(d.Len())(t))
		case 7: // Add
			k, delta := key(), val()
			v, err := d.Add(k, delta)
			bv, s, berr := b.AddSeq(k, delta)
			same("Add", []any{str(bv), code(berr)}, []any{str(v), code(err)})
			committed("AddSeq", s, err == nil)
		case 8: // Update
			k, keep := key(), r.IntN(4) == 0
			fn := func(v *V) bool {
				if keep {
					return false
				}
				*v = c.bump(*v)
				return true
			}
			found, err := d.Update(k, fn)
			bfound, s, berr := b.UpdateSeq(k, fn)
			same("Update", []any{bfound, code(berr)}, []any{found, code(err)})
			committed("UpdateSeq", s, found && !keep && err == nil)
		case 9: // SetMany (keys may repeat: each insert is one mutation)
			n := r.IntN(10)
			ks, vs := make([]K, n), make([]V, n)
			for i := range ks {
				ks[i], vs[i] = key(), val()
			}
			rep, err := d.SetMany(ks, vs)
			brep, berr := b.SetMany(ks, vs)
			same("SetMany", []any{brep, code(berr)}, []any{rep, code(err)})
			if err == nil {
				seq += uint64(n)
			}
		case 10: // RemoveMany
			n := r.IntN(10)
			ks := make([]K, n)
			for i := range ks {
				ks[i] = key()
			}
			rem, err := d.RemoveMany(ks)
			brem, berr := b.RemoveMany(ks)
			same("RemoveMany", []any{brem, code(berr)}, []any{rem, code(err)})
			if err == nil {
				seq += uint64(rem)
			}
		case 11: // GetMany, GetManyInto
			n := r.IntN(12)
			ks := make([]K, n)
			for i := range ks {
				ks[i] = key()
			}
			vs, found, err := d.GetMany(ks)
			bvs, bfound, berr := b.GetMany(ks)
			same("GetMany", []any{strs_(bvs), bfound, code(berr)}, []any{strs_(vs), found, code(err)})
			cnt, err := d.GetManyInto(ks, make([]V, n), nil)
			bcnt, berr := b.GetManyInto(ks, make([]V, n), nil)
			same("GetManyInto", []any{bcnt, code(berr)}, []any{cnt, code(err)})
		case 12, 13: // a submitted batch against the same calls made directly
			n := 1 + r.IntN(8)
			reqs := make([]ferrymap.Request[K, V], n)
			for i := range reqs {
				switch r.IntN(9) {
				case 0, 1:
					reqs[i] = bq.Insert(key(), val())
				case 2:
					reqs[i] = bq.Remove(key())
				case 3:
					reqs[i] = bq.Add(key(), val())
				case 4, 5:
					reqs[i] = bq.Get(key())
				case 6:
					reqs[i] = bq.Contains(key())
				case 7:
					reqs[i] = bq.Len()
				case 8:
					if r.IntN(5) == 0 {
						reqs[i] = bq.Clear()
					} else {
						reqs[i] = bq.Get(key())
					}
				}
			}
			res := must(must(b.Submit(reqs, time.Second))(t).Results())(t)
			if len(res) != n {
				t.Fatalf("step %d: %d results for %d requests", step, len(res), n)
			}
			for i, q := range reqs {
				var want ferrymap.Result[V]
				want.Op = q.Op
				var did bool
				switch q.Op {
				case ferrymap.OpInsert:
					want.Found, want.Err = d.Set(q.Key, q.Value)
					did = want.Err == nil
				case ferrymap.OpRemove:
					want.Found, want.Err = d.Delete(q.Key)
					did = want.Found
				case ferrymap.OpAdd:
					want.Value, want.Err = d.Add(q.Key, q.Value)
					did = want.Err == nil
				case ferrymap.OpGet:
					want.Value, want.Found, want.Err = d.Get(q.Key)
				case ferrymap.OpContains:
					want.Found, want.Err = d.Contains(q.Key)
				case ferrymap.OpLen:
					want.Len, want.Err = d.Len()
				case ferrymap.OpClear:
					want.Err = d.Clear()
					did = true
				}
				got := res[i]
				if q.Op == ferrymap.OpAdd && errors.Is(want.Err, ferrymap.ErrWrongKind) && errors.Is(got.Err, ferrymap.ErrInvalidUTF8) {
					// Add with a bad key on STR/BYTES values: both errors
					// apply. Map.Add refuses the value kind before calling
					// C; the owner thread checks the key first.
					want.Err = got.Err
				}
				same(fmt.Sprintf("Submit[%d] %v", i, q.Op),
					[]any{got.Op, got.Found, got.Len, str(got.Value), code(got.Err)},
					[]any{want.Op, want.Found, want.Len, str(want.Value), code(want.Err)})
				committed(fmt.Sprintf("Submit[%d] %v seq", i, q.Op), got.Seq, did)
			}
		case 14: // whole contents, every way
			want := dump(t, d)
			if got := dump(t, b); !equalMaps(got, want) {
				t.Fatalf("step %d: contents differ: %s", step, diff(got, want))
			}
			fe := map[string]string{}
			noErr(t, b.ForEach(func(k K, v V) bool { fe[str(k)] = str(v); return true }))
			if !equalMaps(fe, want) {
				t.Fatalf("step %d: ForEach: %s", step, diff(fe, want))
			}
			nk := 0
			for range b.Keys() {
				nk++
			}
			same("Keys", nk, len(want))
			cl := must(b.Clone())(t)
			if got := dump(t, cl); !equalMaps(got, want) {
				t.Fatalf("step %d: Clone: %s", step, diff(got, want))
			}
			noErr(t, cl.Close())
			im := must(ferrymap.Import[K, V](must(b.Export())(t)))(t)
			if got := dump(t, im); !equalMaps(got, want) {
				t.Fatalf("step %d: Export/Import: %s", step, diff(got, want))
			}
			noErr(t, im.Close())
			same("Stats.Len", must(b.Stats())(t).Len, must(d.Stats())(t).Len)
		case 15: // View
			k := key()
			v, ok, err := d.View(k)
			bv, bok, berr := b.View(k)
			var s, bs string
			if ok {
				s = v.String()
				noErr(t, v.Release())
			}
			if bok {
				bs = bv.String()
				noErr(t, bv.Release())
			}
			same("View", []any{bs, bok, code(berr)}, []any{s, ok, code(err)})
		case 16: // Reserve; now and then Clear
			noErr(t, d.Reserve(r.IntN(100)))
			noErr(t, b.Reserve(r.IntN(100)))
			if r.IntN(8) == 0 {
				noErr(t, d.Clear())
				s := must(b.ClearSeq())(t)
				committed("ClearSeq", s, true)
			}
		case 17: // Snapshot while the next writes happen
			s := must(b.Snapshot())(t)
			ds := must(d.Snapshot())(t)
			same("Snapshot.Len", s.Len(), ds.Len())
			noErr(t, s.Close())
			noErr(t, ds.Close())
		}
	}
	if got := must(b.BridgeSeq())(t); got != seq {
		t.Fatalf("BridgeSeq %d, want %d mutations", got, seq)
	}
	// The change feed: seq 1..N without gaps or losses, and replaying it
	// gives the map's contents.
	model := map[string]string{}
	for i := uint64(1); i <= seq; i++ {
		ev, err := sub.Next(time.Second)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev.Seq != i || ev.Lost != 0 {
			t.Fatalf("event seq %d lost %d, want seq %d", ev.Seq, ev.Lost, i)
		}
		switch ev.Op {
		case ferrymap.OpInsert, ferrymap.OpAdd, ferrymap.OpUpdate:
			model[str(ev.Key)] = str(ev.Value)
		case ferrymap.OpRemove:
			delete(model, str(ev.Key))
		case ferrymap.OpClear:
			clear(model)
		default:
			t.Fatalf("event op %v", ev.Op)
		}
	}
	if ev, err := sub.Next(0); !errors.Is(err, ferrymap.ErrTimeout) {
		t.Fatalf("an event beyond the last mutation: %+v %v", ev, err)
	}
	if want := dump(t, d); !equalMaps(model, want) {
		t.Fatalf("feed replay differs from the map: %s", diff(model, want))
	}
}

func strs_[V any](vs []V) []string {
	out := make([]string, len(vs))
	for i := range vs {
		out[i] = str(vs[i])
	}
	return out
}

// ---- order: per-goroutine FIFO and one total order ----

func TestBridgeOrderManyProducers(t *testing.T) {
	const producers, perProducer = 8, 400
	m := must(ferrymap.NewBridge[int64, int64](0, 64))(t)
	closeMap(t, m)
	sub := must(m.Subscribe(producers*perProducer + 16))(t)
	defer sub.Close()
	q := m.Requests()

	// Each producer writes keys p<<32 | i, i = 0.. in order, mixing
	// synchronous SetSeq, fire-and-forget Submit and SubmitAsync batches.
	seqOf := make([][]uint64, producers) // seq returned for each i (0: async, checked later)
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seqOf[p] = make([]uint64, perProducer)
			var tickets []*ferrymap.Ticket[int64, int64]
			var chans []<-chan []ferrymap.Result[int64]
			for i := 0; i < perProducer; {
				k := int64(p)<<32 | int64(i)
				switch {
				case i%5 == 2 && i+1 < perProducer: // a batch of two
					tk, err := m.Submit([]ferrymap.Request[int64, int64]{q.Insert(k, int64(i)), q.Insert(k+1, int64(i+1))}, -1)
					if err != nil {
						t.Error(err)
						return
					}
					tickets = append(tickets, tk)
					i += 2
				case i%5 == 4: // a channel
					ch, err := m.SubmitAsync([]ferrymap.Request[int64, int64]{q.Insert(k, int64(i))}, -1)
					if err != nil {
						t.Error(err)
						return
					}
					chans = append(chans, ch)
					i++
				default: // synchronous
					_, s, err := m.SetSeq(k, int64(i))
					if err != nil {
						t.Error(err)
						return
					}
					seqOf[p][i] = s
					i++
				}
			}
			// Sequence numbers from the results must increase too.
			last := uint64(0)
			for _, tk := range tickets {
				res, err := tk.Results()
				if err != nil {
					t.Error(err)
					return
				}
				for _, r := range res {
					if r.Err != nil || r.Seq <= last {
						t.Errorf("producer %d: result %+v after seq %d", p, r, last)
					}
					last = r.Seq
				}
			}
			for _, ch := range chans {
				res := <-ch
				if len(res) != 1 || res[0].Err != nil || res[0].Seq == 0 {
					t.Errorf("SubmitAsync result %+v", res)
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := uint64(producers * perProducer)
	if s := must(m.BridgeSeq())(t); s != total {
		t.Fatalf("BridgeSeq %d, want %d", s, total)
	}
	next := make([]int, producers)
	for want := uint64(1); want <= total; want++ {
		ev, err := sub.Next(time.Second)
		if err != nil {
			t.Fatalf("event %d: %v", want, err)
		}
		if ev.Seq != want || ev.Lost != 0 || ev.Op != ferrymap.OpInsert {
			t.Fatalf("event %+v, want seq %d", ev, want)
		}
		p, i := int(ev.Key>>32), int(ev.Key&0xffffffff)
		if i != next[p] || ev.Value != int64(i) {
			t.Fatalf("producer %d: key %d committed when %d was due (FIFO broken)", p, i, next[p])
		}
		if s := seqOf[p][i]; s != 0 && s != ev.Seq {
			t.Fatalf("SetSeq returned %d, the feed says %d", s, ev.Seq)
		}
		next[p]++
	}
	if _, err := sub.Next(0); !errors.Is(err, ferrymap.ErrTimeout) {
		t.Fatalf("extra event: %v", err)
	}
}

// ---- tickets ----

func TestBridgeTickets(t *testing.T) {
	m := must(ferrymap.NewBridge[string, int64](0, 16))(t)
	closeMap(t, m)
	q := m.Requests()
	tk := must(m.Submit([]ferrymap.Request[string, int64]{
		q.Insert("a", 1), q.Insert("a", 2), q.Add("a", 40), q.Get("a"), q.Get("zz"),
		q.Contains("a"), q.Len(), q.Remove("a"), q.Remove("a"),
		q.Insert("bad\xff", 1),
		q.Add("big", math.MaxInt64), q.Add("big", 1), q.Clear(),
	}, time.Second))(t)
	if tk.Len() != 13 {
		t.Fatalf("Len %d", tk.Len())
	}
	select {
	case <-tk.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("ticket not done after 10 s")
	}
	if !tk.Poll() {
		t.Fatal("Poll false after Done")
	}
	res := must(tk.Results())(t)
	type want struct {
		found bool
		seq   uint64
		n     int
		v     int64
		err   error
	}
	wants := []want{
		{false, 1, 0, 0, nil}, {true, 2, 0, 0, nil}, {false, 3, 0, 42, nil}, {true, 0, 0, 42, nil}, {false, 0, 0, 0, nil},
		{true, 0, 0, 0, nil}, {false, 0, 1, 0, nil}, {true, 4, 0, 0, nil}, {false, 0, 0, 0, nil},
		{false, 0, 0, 0, ferrymap.ErrInvalidUTF8},
		{false, 5, 0, math.MaxInt64, nil}, {false, 0, 0, 0, ferrymap.ErrOverflow}, {false, 6, 0, 0, nil},
	}
	for i, w := range wants {
		r := res[i]
		if r.Found != w.found || r.Seq != w.seq || r.Len != w.n || r.Value != w.v || !errors.Is(r.Err, w.err) || (w.err == nil) != (r.Err == nil) {
			t.Errorf("result %d (%v): %+v, want %+v", i, r.Op, r, w)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// The C ticket was freed once the results were collected.
	if tk.Handle() != 0 {
		t.Fatal("ticket handle not freed after Results")
	}
	noErr(t, tk.Close())
	isErr(t, "second Ticket.Close", tk.Close(), ferrymap.ErrClosed)
	if _, err := tk.Results(); err != nil {
		t.Fatalf("Results after Close of a finished ticket: %v", err)
	}

	// Wait with a context; SubmitAsync; malformed batches.
	tk2 := must(m.Submit([]ferrymap.Request[string, int64]{q.Insert("x", 1)}, 0))(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	noErr(t, tk2.Wait(ctx))
	ch := must(m.SubmitAsync([]ferrymap.Request[string, int64]{q.Get("x"), q.Len()}, time.Second))(t)
	r2 := <-ch
	if len(r2) != 2 || !r2[0].Found || r2[0].Value != 1 || r2[1].Len != 1 {
		t.Fatalf("SubmitAsync: %+v", r2)
	}
	if _, ok := <-ch; ok {
		t.Fatal("SubmitAsync channel not closed after its value")
	}
	isErr(t, "empty Submit", func() error { _, err := m.Submit(nil, 0); return err }(), ferrymap.ErrInvalidArgument)
	isErr(t, "unknown op", func() error {
		_, err := m.Submit([]ferrymap.Request[string, int64]{{Op: 99}}, 0)
		return err
	}(), ferrymap.ErrInvalidArgument)
	isErr(t, "OpUpdate submitted", func() error {
		_, err := m.Submit([]ferrymap.Request[string, int64]{q.Len(), {Op: ferrymap.OpUpdate, Key: "a"}}, 0)
		return err
	}(), ferrymap.ErrInvalidArgument)

	// A ticket dropped without waiting is freed by its cleanup; one closed
	// before it ran says ErrClosed.
	for i := 0; i < 10; i++ {
		must(m.Submit([]ferrymap.Request[string, int64]{q.Len()}, -1))(t)
	}
	tk3 := must(m.Submit([]ferrymap.Request[string, int64]{q.Len()}, -1))(t)
	noErr(t, tk3.Close())
	if _, err := tk3.Results(); !errors.Is(err, ferrymap.ErrClosed) {
		t.Fatalf("Results of a ticket closed early: %v", err)
	}
	waitCensus(t, ferrymap.HandleTicket, 0)
}

// waitCensus waits (running the GC) until the census of a handle kind is want.
func waitCensus(t *testing.T, kind ferrymap.HandleKind, want uint64) {
	t.Helper()
	var n uint64
	for i := 0; i < 100; i++ {
		n = must(ferrymap.CensusOf(kind))(t)
		if n == want {
			return
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("census of kind %d: %d, want %d", kind, n, want)
}

// ---- backpressure: a stalled owner thread, a full queue ----

// stall blocks the bridge's owner thread in an Update callback (which runs
// on the owner thread) until the returned release is called.
func stall[V ferrymap.Value](t *testing.T, m *ferrymap.Map[int64, V], k int64) (release func()) {
	t.Helper()
	var zero V
	must(m.Set(k, zero))(t)
	entered, gate := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := m.Update(k, func(v *V) bool {
			close(entered)
			<-gate
			return true
		})
		done <- err
	}()
	<-entered
	var once sync.Once
	return func() {
		once.Do(func() {
			close(gate)
			if err := <-done; err != nil {
				t.Errorf("stalling Update: %v", err)
			}
		})
	}
}

func TestBridgeBackpressure(t *testing.T) {
	const queue = 4
	m := must(ferrymap.NewBridge[int64, int64](0, queue))(t)
	closeMap(t, m)
	q := m.Requests()
	release := stall(t, m, -1)
	defer release()
	sub := must(m.Subscribe(4))(t) // not routed through the owner: works while it is stalled
	defer sub.Close()

	var tickets []*ferrymap.Ticket[int64, int64]
	for i := 0; i < queue; i++ {
		tickets = append(tickets, must(m.TrySubmit([]ferrymap.Request[int64, int64]{q.Insert(int64(i), int64(i))}))(t))
	}
	// Full: TrySubmit fails at once, Submit after its timeout; nothing queued.
	if _, err := m.TrySubmit([]ferrymap.Request[int64, int64]{q.Insert(100, 0)}); !errors.Is(err, ferrymap.ErrQueueFull) {
		t.Fatalf("TrySubmit on a full queue: %v", err)
	}
	start := time.Now()
	if _, err := m.Submit([]ferrymap.Request[int64, int64]{q.Insert(101, 0)}, 30*time.Millisecond); !errors.Is(err, ferrymap.ErrTimeout) {
		t.Fatalf("Submit on a full queue: %v", err)
	}
	if el := time.Since(start); el < 25*time.Millisecond {
		t.Fatalf("Submit gave up after %v, timeout 30ms", el)
	}
	// Tickets, waits and the feed time out while the owner is stalled.
	if tickets[0].Poll() {
		t.Fatal("ticket done while the owner is stalled")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	if err := tickets[0].Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait while stalled: %v", err)
	}
	cancel()
	if _, err := sub.Next(10 * time.Millisecond); !errors.Is(err, ferrymap.ErrTimeout) {
		t.Fatalf("Next while stalled: %v", err)
	}
	// A blocking Submit and a synchronous call wait for room.
	blocked := make(chan error, 2)
	go func() {
		_, err := m.Submit([]ferrymap.Request[int64, int64]{q.Insert(102, 0)}, -1)
		blocked <- err
	}()
	go func() {
		_, err := m.Set(103, 0)
		blocked <- err
	}()
	select {
	case err := <-blocked:
		t.Fatalf("a call went through a full queue: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	for i := 0; i < 2; i++ {
		noErr(t, <-blocked)
	}
	for i, tk := range tickets {
		res := must(tk.Results())(t)
		if res[0].Err != nil || res[0].Seq == 0 {
			t.Fatalf("ticket %d: %+v", i, res[0])
		}
	}
	if l := must(m.Len())(t); l != queue+3 {
		t.Fatalf("Len %d, want %d (refused requests must not run)", l, queue+3)
	}
	for _, k := range []int64{100, 101} {
		if must(m.Contains(k))(t) {
			t.Fatalf("refused request for %d ran", k)
		}
	}
}

// ---- close drains ----

func TestBridgeCloseDrains(t *testing.T) {
	const producers, perProducer = 4, 1000
	m := must(ferrymap.NewBridge[int64, int64](0, producers*perProducer+64))(t)
	a := must(ferrymap.Attach[int64, int64](m.Handle()))(t) // a second Go value of the same bridge
	sub := must(m.Subscribe(1 << 16))(t)
	defer sub.Close()
	q := m.Requests()
	release := stall(t, m, -1)

	// Phase 1: thousands of requests queued behind the stalled owner.
	type acc struct {
		tk *ferrymap.Ticket[int64, int64]
		k  int64
	}
	accepted := make([][]acc, producers)
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			via := m
			if p%2 == 1 {
				via = a
			}
			for i := 0; i < perProducer; i++ {
				k := int64(p)<<32 | int64(i)
				tk, err := via.Submit([]ferrymap.Request[int64, int64]{q.Insert(k, k)}, -1)
				if err != nil {
					t.Error(err)
					return
				}
				accepted[p] = append(accepted[p], acc{tk, k})
			}
		}()
	}
	wg.Wait()
	// A synchronous caller is queued too.
	syncDone := make(chan error, 1)
	go func() { _, err := a.Set(-2, -2); syncDone <- err }()

	// Phase 2: close while everything waits; meanwhile new requests are refused.
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	for {
		_, err := a.TrySubmit([]ferrymap.Request[int64, int64]{q.Len()}) // accepted ones change nothing
		if errors.Is(err, ferrymap.ErrBridgeClosed) {
			break
		}
		if err != nil && !errors.Is(err, ferrymap.ErrQueueFull) {
			t.Fatalf("TrySubmit before close: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	var refused atomic.Int64
	var stop atomic.Bool
	var rwg sync.WaitGroup
	for p := 0; p < 2; p++ {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for !stop.Load() {
				_, err := a.Submit([]ferrymap.Request[int64, int64]{q.Insert(-4, 0)}, -1)
				_, _, serr := a.Get(1)
				for _, e := range []error{err, serr} {
					if !errors.Is(e, ferrymap.ErrBridgeClosed) && !errors.Is(e, ferrymap.ErrInvalidHandle) {
						t.Errorf("request after close: %v", e)
						return
					}
				}
				refused.Add(2)
				time.Sleep(100 * time.Microsecond)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	release()
	noErr(t, <-closed)
	stop.Store(true)
	rwg.Wait()
	// The synchronous Set was queued before the close, or refused by it.
	extra := 2 // the stalling Set and Update
	switch err := <-syncDone; {
	case err == nil:
		extra++
	case errors.Is(err, ferrymap.ErrBridgeClosed):
	default:
		t.Fatalf("synchronous Set during close: %v", err)
	}

	// Every accepted request was answered before Close returned.
	n := 0
	want := map[int64]bool{}
	for p := range accepted {
		if len(accepted[p]) != perProducer {
			t.Fatalf("producer %d: %d accepted", p, len(accepted[p]))
		}
		for _, x := range accepted[p] {
			if !x.tk.Poll() {
				t.Fatalf("ticket for %d not done after Close", x.k)
			}
			res := must(x.tk.Results())(t)
			if res[0].Err != nil || res[0].Seq == 0 {
				t.Fatalf("ticket for %d: %+v", x.k, res[0])
			}
			want[x.k] = true
			n++
		}
	}
	// The feed has exactly the accepted mutations (the stalling Update, the
	// tickets, the synchronous Set), then ends.
	got := 0
	for {
		ev, err := sub.Next(time.Second)
		if errors.Is(err, ferrymap.ErrBridgeClosed) {
			break
		}
		noErr(t, err)
		switch {
		case want[ev.Key]:
			delete(want, ev.Key)
		case ev.Key == -1 && ev.Op == ferrymap.OpInsert, ev.Key == -1 && ev.Op == ferrymap.OpUpdate, ev.Key == -2:
		default:
			t.Fatalf("unexpected event %+v", ev)
		}
		got++
	}
	if len(want) != 0 || got != n+extra {
		t.Fatalf("feed: %d events, %d accepted inserts missing; want %d events", got, len(want), n+extra)
	}
	if refused.Load() == 0 {
		t.Fatal("no request was refused after close")
	}
	t.Logf("%d requests drained by Close, %d refused after", n+extra-1, refused.Load())
	// Go-side state after Close.
	if !m.IsBridge() || m.Handle() != 0 {
		t.Fatal("state after Close")
	}
	isErr(t, "Submit after Close", func() error { _, err := m.Submit([]ferrymap.Request[int64, int64]{q.Len()}, 0); return err }(), ferrymap.ErrClosed)
	isErr(t, "Subscribe after Close", func() error { _, err := m.Subscribe(1); return err }(), ferrymap.ErrClosed)
	isErr(t, "BridgeSeq after Close", func() error { _, err := m.BridgeSeq(); return err }(), ferrymap.ErrClosed)
	isErr(t, "SetSeq after Close", func() error { _, _, err := m.SetSeq(1, 1); return err }(), ferrymap.ErrClosed)
	isErr(t, "Close twice", m.Close(), ferrymap.ErrClosed)
	isErr(t, "attached value after Close", func() error { _, err := a.Len(); return err }(), ferrymap.ErrInvalidHandle)
	noErr(t, a.Close())
	if errors.Is(ferrymap.ErrBridgeClosed, ferrymap.ErrClosed) || errors.Is(ferrymap.ErrClosed, ferrymap.ErrBridgeClosed) {
		t.Fatal("a closed Go value and a closed bridge are indistinguishable")
	}
}

// ---- the change feed: lag, Events, close ----

func TestBridgeFeedLag(t *testing.T) {
	m := must(ferrymap.NewBridge[string, string](0, 16))(t)
	closeMap(t, m)
	slow := must(m.Subscribe(10))(t)
	defer slow.Close()
	fast := must(m.Subscribe(1000))(t)
	defer fast.Close()
	for i := 1; i <= 100; i++ {
		must(m.Set(fmt.Sprint("k", i), fmt.Sprint("v", i)))(t)
	}
	// The slow subscriber kept the last 10 and says it lost 90.
	for i := 91; i <= 100; i++ {
		ev := must(slow.Next(time.Second))(t)
		wantLost := uint64(0)
		if i == 91 {
			wantLost = 90
		}
		if ev.Seq != uint64(i) || ev.Lost != wantLost || ev.Key != fmt.Sprint("k", i) || ev.Value != fmt.Sprint("v", i) {
			t.Fatalf("slow subscriber: %+v, want seq %d lost %d", ev, i, wantLost)
		}
	}
	if _, err := slow.Next(0); !errors.Is(err, ferrymap.ErrTimeout) {
		t.Fatalf("Next on an empty feed: %v", err)
	}
	// Lag again, by 3 exactly; then no loss.
	for i := 101; i <= 113; i++ {
		must(m.Set(fmt.Sprint("k", i), "x"))(t)
	}
	if ev := must(slow.Next(time.Second))(t); ev.Seq != 104 || ev.Lost != 3 {
		t.Fatalf("after 13 writes with room for 10: %+v, want seq 104 lost 3", ev)
	}
	// The fast subscriber lost nothing; every op kind comes through.
	must(m.Delete("k1"))(t)
	must(m.Update("k2", func(v *string) bool { *v = "V2"; return true }))(t)
	noErr(t, m.Clear())
	for i := 1; i <= 116; i++ {
		ev := must(fast.Next(time.Second))(t)
		if ev.Seq != uint64(i) || ev.Lost != 0 {
			t.Fatalf("fast subscriber: %+v, want seq %d", ev, i)
		}
		switch i {
		case 114:
			if ev.Op != ferrymap.OpRemove || ev.Key != "k1" || ev.Value != "" {
				t.Fatalf("remove event %+v", ev)
			}
		case 115:
			if ev.Op != ferrymap.OpUpdate || ev.Key != "k2" || ev.Value != "V2" {
				t.Fatalf("update event %+v", ev)
			}
		case 116:
			if ev.Op != ferrymap.OpClear || ev.Key != "" {
				t.Fatalf("clear event %+v", ev)
			}
		}
	}
	isErr(t, "Subscribe(0)", func() error { _, err := m.Subscribe(0); return err }(), ferrymap.ErrInvalidArgument)
}

func TestBridgeFeedEvents(t *testing.T) {
	m := must(ferrymap.NewBridge[int64, []byte](0, 16))(t)
	sub := must(m.Subscribe(100))(t)
	defer sub.Close()
	for i := int64(1); i <= 5; i++ {
		must(m.Set(i, []byte{byte(i), 0}))(t)
	}
	// Events until cancelled: an event taken but not delivered is kept.
	ctx, cancel := context.WithCancel(context.Background())
	ch := sub.Events(ctx)
	next := uint64(1)
	for ; next <= 2; next++ {
		if ev := <-ch; ev.Seq != next || !bytes.Equal(ev.Value, []byte{byte(next), 0}) {
			t.Fatalf("Events: %+v", ev)
		}
	}
	cancel()
	for ev := range ch { // what the loop delivered before it saw the cancel
		if ev.Seq != next {
			t.Fatalf("Events after cancel: seq %d, want %d", ev.Seq, next)
		}
		next++
	}
	if !errors.Is(sub.Err(), context.Canceled) {
		t.Fatalf("Err after cancel: %v", sub.Err())
	}
	if next <= 5 {
		if ev := must(sub.Next(time.Second))(t); ev.Seq != next {
			t.Fatalf("after cancel, Next gave seq %d, want %d", ev.Seq, next)
		}
		next++
	}
	// Events until the bridge closes: the rest, then the channel closes.
	ch = sub.Events(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		if _, err := m.Set(6, nil); err != nil {
			t.Error(err)
		}
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	}()
	var seqs, wantSeqs []uint64
	for ev := range ch {
		seqs = append(seqs, ev.Seq)
	}
	for ; next <= 6; next++ {
		wantSeqs = append(wantSeqs, next)
	}
	if !slices.Equal(seqs, wantSeqs) || !errors.Is(sub.Err(), ferrymap.ErrBridgeClosed) {
		t.Fatalf("after close: events %v (want %v), Err %v", seqs, wantSeqs, sub.Err())
	}
	if _, err := sub.Next(0); !errors.Is(err, ferrymap.ErrBridgeClosed) {
		t.Fatalf("Next after the feed ended: %v", err)
	}
	noErr(t, sub.Close())
	isErr(t, "Next after Close", func() error { _, err := sub.Next(0); return err }(), ferrymap.ErrClosed)
	isErr(t, "second Close", sub.Close(), ferrymap.ErrClosed)
}

// Close of a subscription while a goroutine waits in Next.
func TestBridgeSubscriptionCloseWhileWaiting(t *testing.T) {
	m := must(ferrymap.NewBridge[int64, int64](0, 4))(t)
	closeMap(t, m)
	sub := must(m.Subscribe(4))(t)
	got := make(chan error, 1)
	go func() { _, err := sub.Next(-1); got <- err }()
	time.Sleep(30 * time.Millisecond)
	noErr(t, sub.Close())
	select {
	case err := <-got:
		isErr(t, "Next when closed", err, ferrymap.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Next still waiting 5 s after Close")
	}
}

// ---- callbacks on the owner thread ----

func TestBridgeCallbacksOnOwnerThread(t *testing.T) {
	m := must(ferrymap.NewBridge[int64, int64](0, 8))(t)
	closeMap(t, m)
	other := must(ferrymap.NewBridge[int64, int64](0, 8))(t)
	closeMap(t, other)
	must(m.Set(1, 1))(t)
	// The callback runs on the owner thread: a call into its own map is
	// refused, another bridge works.
	var inner, otherErr error
	must(m.Update(1, func(v *int64) bool {
		_, _, inner = m.Get(1)
		_, otherErr = other.Set(1, 10)
		*v = 2
		return true
	}))(t)
	isErr(t, "own map from Update", inner, ferrymap.ErrReentrant)
	noErr(t, otherErr)
	var feErr error
	noErr(t, m.ForEach(func(k, v int64) bool { _, feErr = m.Len(); return true }))
	isErr(t, "own map from ForEach", feErr, ferrymap.ErrReentrant)
	// A panic in the callback is raised again in the caller; the bridge works on.
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v", p)
			}
		}()
		m.Update(1, func(*int64) bool { panic("boom") })
	}()
	noErr(t, m.BridgeStatus())
	if v, _, _ := m.Get(1); v != 2 {
		t.Fatalf("value %d after a panicking Update, want 2", v)
	}
	// Waiting for the bridge from its own owner thread could never end: the
	// library refuses it (FM_REENTRANT), and so does Close. A try-submit
	// is queued and runs after the callback.
	q := m.Requests()
	sub := must(m.Subscribe(8))(t)
	defer sub.Close()
	earlier := must(m.Submit([]ferrymap.Request[int64, int64]{q.Len()}, -1))(t)
	var tryErr, waitErr, subErr, nextErr, closeErr error
	var queued *ferrymap.Ticket[int64, int64]
	must(m.Update(1, func(v *int64) bool {
		queued, tryErr = m.TrySubmit([]ferrymap.Request[int64, int64]{q.Insert(5, 5)})
		_, subErr = m.Submit([]ferrymap.Request[int64, int64]{q.Len()}, time.Second)
		waitErr = queued.Wait(context.Background())
		_, nextErr = sub.Next(time.Second)
		closeErr = m.Close()
		*v = 3
		return true
	}))(t)
	noErr(t, tryErr)
	isErr(t, "Submit with a timeout from the owner thread", subErr, ferrymap.ErrReentrant)
	isErr(t, "Ticket.Wait from the owner thread", waitErr, ferrymap.ErrReentrant)
	isErr(t, "Subscription.Next from the owner thread", nextErr, ferrymap.ErrReentrant)
	isErr(t, "Close from the owner thread", closeErr, ferrymap.ErrReentrant)
	if res := must(queued.Results())(t); res[0].Err != nil || res[0].Seq == 0 {
		t.Fatalf("try-submitted from the callback: %+v", res[0])
	}
	must(earlier.Results())(t)
	if v, _, err := m.Get(5); v != 5 || err != nil || m.Handle() == 0 || !m.Owned() {
		t.Fatalf("after the callback: %d, %v, handle %#x", v, err, m.Handle())
	}
}

// ---- owner threads exit; the GC backstop closes a forgotten bridge ----

// bridgeThreads counts the process's threads named ferrymap-bridge.
func bridgeThreads(t *testing.T) int {
	t.Helper()
	dirs, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Skip("no /proc/self/task:", err)
	}
	n := 0
	for _, d := range dirs {
		comm, err := os.ReadFile("/proc/self/task/" + d.Name() + "/comm")
		if err == nil && strings.TrimSpace(string(comm)) == "ferrymap-bridge" {
			n++
		}
	}
	return n
}

func TestBridgeOwnerThreadsExit(t *testing.T) {
	before := bridgeThreads(t)
	a := must(ferrymap.NewBridge[int64, int64](0, 4))(t)
	b := must(ferrymap.NewBridge[string, string](0, 4))(t)
	c := must(ferrymap.NewBridge[int64, int64](0, 4))(t)
	// A call through each owner thread: by then it has started and named itself.
	must(a.Len())(t)
	must(b.Len())(t)
	must(c.Set(1, 1))(t)
	if n := bridgeThreads(t); n != before+3 {
		t.Fatalf("%d owner threads for 3 bridges (%d before)", n, before)
	}
	runtime.KeepAlive(c) // from here on forgotten: the GC cleanup closes it
	noErr(t, a.Close())
	noErr(t, b.Close())
	n := 0
	for i := 0; i < 100; i++ {
		if n = bridgeThreads(t); n == before {
			return
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d owner threads left, %d before", n, before)
}
