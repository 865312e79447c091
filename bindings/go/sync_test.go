package ferrymap_test

import (
	"fmt"
	"math"
	"math/rand"
	"sync"
	"testing"

	ferrymap "github.com/ferrymap/ferrymap/bindings/go"
)

// syncOps runs the same random operations on a sync.Map and on m, and
// requires identical results after every step, then identical contents.
func syncOps[K ferrymap.Key, V ferrymap.Value](t *testing.T, m *ferrymap.Map[K, V], key func(int) K, val func(int) V, seed int64) {
	t.Helper()
	var ref sync.Map
	rnd := rand.New(rand.NewSource(seed))
	same := func(step int, what string, got, want any) {
		t.Helper()
		if str(got) != str(want) {
			t.Fatalf("seed %d step %d %s: ferrymap %s, sync.Map %s", seed, step, what, str(got), str(want))
		}
	}
	// Values held by sync.Map are compared as the library compares them.
	refVal := func(v any, ok bool) any {
		if !ok {
			return nil
		}
		return v
	}
	for step := 0; step < 3000; step++ {
		k, v, v2 := key(rnd.Intn(12)), val(rnd.Intn(6)), val(rnd.Intn(6))
		switch rnd.Intn(8) {
		case 0:
			got, ok, err := m.Load(k)
			noErr(t, err)
			want, wok := ref.Load(str(k))
			same(step, "Load", refVal(got, ok), refVal(want, wok))
		case 1:
			noErr(t, m.Store(k, v))
			ref.Store(str(k), v)
		case 2:
			got, loaded, err := m.LoadOrStore(k, v)
			noErr(t, err)
			want, wl := ref.LoadOrStore(str(k), v)
			same(step, "LoadOrStore", fmt.Sprint(str(got), loaded), fmt.Sprint(str(want), wl))
		case 3:
			got, loaded, err := m.LoadAndDelete(k)
			noErr(t, err)
			want, wl := ref.LoadAndDelete(str(k))
			same(step, "LoadAndDelete", refVal(got, loaded), refVal(want, wl))
		case 4:
			got, loaded, err := m.Swap(k, v)
			noErr(t, err)
			want, wl := ref.Swap(str(k), v)
			same(step, "Swap", refVal(got, loaded), refVal(want, wl))
		case 5:
			// sync.Map compares with ==, which []byte lacks: compare the
			// printed form, as the library compares bytes.
			got, err := m.CompareAndSwap(k, v, v2)
			noErr(t, err)
			cur, ok := ref.Load(str(k))
			want := ok && str(cur) == str(v)
			if want {
				ref.Store(str(k), v2)
			}
			same(step, "CompareAndSwap", got, want)
		case 6:
			got, err := m.CompareAndDelete(k, v)
			noErr(t, err)
			cur, ok := ref.Load(str(k))
			want := ok && str(cur) == str(v)
			if want {
				ref.Delete(str(k))
			}
			same(step, "CompareAndDelete", got, want)
		default:
			_, err := m.Delete(k)
			noErr(t, err)
			ref.Delete(str(k))
		}
	}
	seen := map[string]string{}
	noErr(t, m.Range(func(k K, v V) bool { seen[str(k)] = str(v); return true }))
	n := 0
	ref.Range(func(k, v any) bool {
		n++
		if seen[k.(string)] != str(v) {
			t.Fatalf("seed %d: key %s holds %s, sync.Map %s", seed, k, seen[k.(string)], str(v))
		}
		return true
	})
	if n != len(seen) {
		t.Fatalf("seed %d: %d keys, sync.Map %d", seed, len(seen), n)
	}
}

func TestSyncMapEquivalence(t *testing.T) {
	for _, bridge := range []bool{false, true} {
		for seed := int64(1); seed <= 4; seed++ {
			t.Run(fmt.Sprintf("bridge=%v/seed=%d", bridge, seed), func(t *testing.T) {
				ii := newFor[int64, int64](t, bridge)
				syncOps(t, ii, ints, func(i int) int64 { return int64(i) }, seed)
				sb := newFor[string, []byte](t, bridge)
				syncOps(t, sb, strs, vbytes, seed)
				bs := newFor[[]byte, string](t, bridge)
				syncOps(t, bs, bytess, vstrs, seed)
				fl := newFor[int64, float64](t, bridge)
				syncOps(t, fl, ints, floats, seed)
			})
		}
	}
}

func newFor[K ferrymap.Key, V ferrymap.Value](t *testing.T, bridge bool) *ferrymap.Map[K, V] {
	t.Helper()
	var m *ferrymap.Map[K, V]
	var err error
	if bridge {
		m, err = ferrymap.NewBridge[K, V](0, 64)
	} else {
		m, err = ferrymap.New[K, V](0)
	}
	noErr(t, err)
	closeMap(t, m)
	return m
}

func TestCompareAndSwapFloatBits(t *testing.T) {
	m := newFor[int64, float64](t, false)
	noErr(t, m.Store(1, 0.0))
	if ok, err := m.CompareAndSwap(1, math.Copysign(0, -1), 1); err != nil || ok {
		t.Fatalf("0.0 matched -0.0: %v %v", ok, err)
	}
	noErr(t, m.Store(1, math.NaN()))
	if ok, err := m.CompareAndSwap(1, math.NaN(), 2.5); err != nil || !ok {
		t.Fatalf("NaN did not match the same NaN: %v %v", ok, err)
	}
}

func TestCountingByCompareAndSwap(t *testing.T) {
	for _, bridge := range []bool{false, true} {
		m := newFor[int64, int64](t, bridge)
		noErr(t, m.Store(0, 0))
		const workers, rounds = 4, 500
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < rounds; i++ {
					for {
						cur, _, err := m.Load(0)
						if err != nil {
							t.Error(err)
							return
						}
						if ok, err := m.CompareAndSwap(0, cur, cur+1); err != nil {
							t.Error(err)
							return
						} else if ok {
							break
						}
					}
				}
			}()
		}
		wg.Wait()
		if got, _, _ := m.Load(0); got != workers*rounds {
			t.Fatalf("bridge=%v: %d increments, want %d", bridge, got, workers*rounds)
		}
	}
}

func TestSyncMethodsOnClosedMap(t *testing.T) {
	m, err := ferrymap.New[string, string](0)
	noErr(t, err)
	noErr(t, m.Close())
	if _, _, err := m.LoadOrStore("k", "v"); err == nil {
		t.Fatal("LoadOrStore on a closed map")
	}
	if _, err := m.CompareAndSwap("k", "a", "b"); err == nil {
		t.Fatal("CompareAndSwap on a closed map")
	}
	if err := m.Range(func(string, string) bool { return true }); err == nil {
		t.Fatal("Range on a closed map")
	}
	// Invalid UTF-8 for a STR value is refused and stores nothing.
	s := newFor[string, string](t, false)
	if _, _, err := s.Swap("k", "\xff"); err == nil {
		t.Fatal("Swap stored invalid UTF-8")
	}
	if _, ok, _ := s.Load("k"); ok {
		t.Fatal("a refused Swap stored something")
	}
}

func TestCompute(t *testing.T) {
	for _, bridge := range []bool{false, true} {
		m := newFor[string, string](t, bridge)
		v, ok, err := m.Compute("k", func(old string, loaded bool) (string, ferrymap.ComputeOp) {
			if loaded {
				t.Errorf("absent key loaded %q", old)
			}
			return "first", ferrymap.ComputeSet
		})
		if err != nil || !ok || v != "first" {
			t.Fatalf("bridge=%v: insert: %q %v %v", bridge, v, ok, err)
		}
		v, ok, err = m.Compute("k", func(old string, loaded bool) (string, ferrymap.ComputeOp) {
			return old + " and a longer tail", ferrymap.ComputeSet
		})
		if err != nil || !ok || v != "first and a longer tail" {
			t.Fatalf("grow: %q %v %v", v, ok, err)
		}
		if v, ok, err = m.Compute("k", func(old string, _ bool) (string, ferrymap.ComputeOp) {
			return "", ferrymap.ComputeKeep
		}); err != nil || !ok || v != "first and a longer tail" {
			t.Fatalf("keep: %q %v %v", v, ok, err)
		}
		if _, ok, err = m.Compute("k", func(string, bool) (string, ferrymap.ComputeOp) {
			return "", ferrymap.ComputeDelete
		}); err != nil || ok {
			t.Fatalf("delete: %v %v", ok, err)
		}
		if _, found, _ := m.Load("k"); found {
			t.Fatal("deleted key still there")
		}
		if _, _, err = m.Compute("k", func(string, bool) (string, ferrymap.ComputeOp) {
			return "\xff", ferrymap.ComputeSet
		}); err == nil {
			t.Fatal("invalid UTF-8 stored")
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("the panic was not raised again")
				}
			}()
			m.Compute("k", func(string, bool) (string, ferrymap.ComputeOp) { panic("in fn") })
		}()
		if _, found, _ := m.Load("k"); found {
			t.Fatal("a panicking Compute stored something")
		}
		n := newFor[int64, float64](t, bridge)
		for i := 0; i < 3; i++ {
			n.Compute(1, func(old float64, _ bool) (float64, ferrymap.ComputeOp) { return old + 1.5, ferrymap.ComputeSet })
		}
		if v, _, _ := n.Load(1); v != 4.5 {
			t.Fatalf("float compute: %v", v)
		}
	}
}
