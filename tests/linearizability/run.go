package linearizability

import (
	"fmt"
	"math/rand"
	"sync"

	ferrymap "github.com/ferrymap/ferrymap/bindings/go"
)

// goClient makes n random operations on m through the Go binding and
// records them; the same operations as the C threads, plus snapshots.
func goClient(m *ferrymap.Map[int64, int64], client, n int, seed int64) []call {
	rnd := rand.New(rand.NewSource(seed))
	calls := make([]call, 0, n)
	for i := 0; i < n; i++ {
		in := input{op: rnd.Intn(opSnapshot + 1), key: rnd.Intn(Keys), a: int64(rnd.Intn(4)), b: int64(rnd.Intn(4))}
		k := int64(in.key)
		var out output
		var err error
		start := nowNs()
		switch in.op {
		case opGet:
			out.value, out.flag, err = m.Load(k)
		case opSet:
			out.flag, err = m.Set(k, in.a)
		case opDel:
			out.flag, err = m.Delete(k)
		case opSwap:
			out.value, out.flag, err = m.Swap(k, in.a)
		case opCAS:
			out.flag, err = m.CompareAndSwap(k, in.a, in.b)
		case opCAD:
			out.flag, err = m.CompareAndDelete(k, in.a)
		case opGetOrInsert:
			var loaded bool
			out.value, loaded, err = m.LoadOrStore(k, in.a)
			out.flag = !loaded
		case opTake:
			out.value, out.flag, err = m.LoadAndDelete(k)
		case opAdd:
			out.value, err = m.Add(k, in.a)
		case opClear:
			err = m.Clear()
		case opLen:
			var n int
			n, err = m.Len()
			out.value = int64(n)
		case opSnapshot:
			var s state
			err = m.Range(func(k, v int64) bool {
				if k >= 0 && k < Keys {
					s[k] = entry{true, v}
				}
				return true
			})
			out.snap = s.String()
		}
		end := nowNs()
		out.ok = err == nil
		if !out.flag && (in.op == opGet || in.op == opSwap || in.op == opTake) {
			out.value = 0
		}
		calls = append(calls, call{client: client, in: in, out: out, start: start, end: end})
	}
	return calls
}

// History records one concurrent history: cThreads C threads and
// goroutines Go clients, n operations each, on a fresh map (a bridge map
// if bridge), all started together.
func History(bridge bool, cThreadCount, goroutines, n int, seed int64) ([]call, error) {
	var m *ferrymap.Map[int64, int64]
	var err error
	if bridge {
		m, err = ferrymap.NewBridge[int64, int64](0, 64)
	} else {
		m, err = ferrymap.New[int64, int64](0)
	}
	if err != nil {
		return nil, err
	}
	defer m.Close()
	ct := startC(m.Handle(), cThreadCount, n, Keys, uint64(seed), goroutines)
	results := make([][]call, goroutines)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			<-start
			results[g] = goClient(m, g, n, seed*1000+int64(g))
		}(g)
	}
	close(start)
	ct.release()
	wg.Wait()
	calls := ct.wait()
	for _, r := range results {
		calls = append(calls, r...)
	}
	for _, c := range calls {
		if !c.out.ok {
			return calls, fmt.Errorf("client %d: %s failed (status %d)", c.client, opNames[c.in.op], c.out.value)
		}
	}
	return calls, nil
}
