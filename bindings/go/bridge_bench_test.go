package ferrymap_test

// Bridge-mode benchmarks, beside the direct mode of the same map, in one
// run. Results and the reproducing command: BENCHMARKS.md ("Bridge mode").

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	ferrymap "github.com/ferrymap/ferrymap/bindings/go"
	"github.com/ferrymap/ferrymap/bindings/go/internal/ctest"
)

const bridgeBenchKeys = 1 << 10

func bridgeBenchMaps(b *testing.B) (direct, bridge *ferrymap.Map[uint64, uint64], look []uint64) {
	ins, look := randKeys(bridgeBenchKeys)
	direct = fillFerry(b, ins)
	bridge = must(ferrymap.NewBridge[uint64, uint64](len(ins), 4096))(b)
	must(bridge.SetMany(ins, ins))(b)
	return direct, bridge, look
}

// latencies reports p50/p99/p99.9 of per-call durations.
func latencies(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	q := func(p float64) float64 { return float64(d[min(len(d)-1, int(p*float64(len(d))))].Nanoseconds()) }
	b.ReportMetric(q(0.50), "p50-ns")
	b.ReportMetric(q(0.99), "p99-ns")
	b.ReportMetric(q(0.999), "p99.9-ns")
}

func BenchmarkBridge(b *testing.B) {
	direct, bridge, look := bridgeBenchMaps(b)
	defer direct.Close()
	defer bridge.Close()
	const mask = bridgeBenchKeys - 1
	maps := []struct {
		name string
		m    *ferrymap.Map[uint64, uint64]
	}{{"direct", direct}, {"bridge", bridge}}

	// Synchronous round trip: one Get (a cgo call; on the bridge the owner
	// thread runs it while the caller spins, then parks).
	for _, x := range maps {
		b.Run("get-sync/"+x.name, func(b *testing.B) {
			var s uint64
			for i := 0; b.Loop(); i++ {
				v, _, _ := x.m.Get(look[i&mask])
				s += v
			}
			sink += s
		})
	}
	// Reference: the same synchronous Gets made by a C loop (no cgo
	// crossing per call), in the same run.
	b.Run("get-sync/bridge-C-loop-reference", func(b *testing.B) {
		b.ResetTimer()
		sink += uint64(ctest.LoopGet(bridge.Handle(), look, b.N))
	})
	for _, x := range maps {
		b.Run("get-sync-latency/"+x.name, func(b *testing.B) {
			d := make([]time.Duration, 0, 1<<16)
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				x.m.Get(look[i&mask])
				if len(d) < cap(d) {
					d = append(d, time.Since(t0))
				}
			}
			latencies(b, d)
		})
	}
	for _, x := range maps {
		b.Run("set-sync/"+x.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				x.m.Set(look[i&mask], uint64(i))
			}
		})
	}
	// Two goroutines (GOMAXPROCS goroutines) making synchronous Gets.
	for _, x := range maps {
		b.Run("get-sync-parallel/"+x.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				var s uint64
				for i := 0; pb.Next(); i++ {
					v, _, _ := x.m.Get(look[i&mask])
					s += v
				}
				sink += s
			})
		})
	}

	// One ticket at a time: Submit, then Results (round trip of the async path).
	b.Run("ticket-roundtrip/bridge", func(b *testing.B) {
		q := bridge.Requests()
		for i := 0; b.Loop(); i++ {
			t, err := bridge.Submit([]ferrymap.Request[uint64, uint64]{q.Get(look[i&mask])}, -1)
			if err != nil {
				b.Fatal(err)
			}
			t.Results()
		}
	})
	b.Run("chan-roundtrip/bridge", func(b *testing.B) {
		q := bridge.Requests()
		for i := 0; b.Loop(); i++ {
			ch, err := bridge.SubmitAsync([]ferrymap.Request[uint64, uint64]{q.Get(look[i&mask])}, -1)
			if err != nil {
				b.Fatal(err)
			}
			<-ch
		}
	})

	// Pipelined: one producer keeps up to `window` single-request tickets in
	// flight and collects the oldest when the window is full.
	const window = 256
	q := bridge.Requests()
	b.Run("pipelined-ticket/bridge", func(b *testing.B) {
		ring := make([]*ferrymap.Ticket[uint64, uint64], 0, window)
		for i := 0; b.Loop(); i++ {
			if len(ring) == window {
				if _, err := ring[0].Results(); err != nil {
					b.Fatal(err)
				}
				ring = ring[1:]
			}
			t, err := bridge.Submit([]ferrymap.Request[uint64, uint64]{q.Get(look[i&mask])}, -1)
			if err != nil {
				b.Fatal(err)
			}
			ring = append(ring, t)
		}
		for _, t := range ring {
			t.Results()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mops/s")
	})
	b.Run("pipelined-chan/bridge", func(b *testing.B) {
		ring := make([]<-chan []ferrymap.Result[uint64], 0, window)
		for i := 0; b.Loop(); i++ {
			if len(ring) == window {
				<-ring[0]
				ring = ring[1:]
			}
			ch, err := bridge.SubmitAsync([]ferrymap.Request[uint64, uint64]{q.Get(look[i&mask])}, -1)
			if err != nil {
				b.Fatal(err)
			}
			ring = append(ring, ch)
		}
		for _, ch := range ring {
			<-ch
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mops/s")
	})

	// Batched: submissions of 1024 requests, up to 4 in flight; ns and
	// Mops/s per request. Direct reference: GetMany/SetMany of 1024 keys.
	const batch = 1024
	gets := make([]ferrymap.Request[uint64, uint64], batch)
	sets := make([]ferrymap.Request[uint64, uint64], batch)
	keys := look[:batch]
	for i := range gets {
		gets[i] = q.Get(keys[i])
		sets[i] = q.Insert(keys[i], uint64(i))
	}
	for _, x := range []struct {
		name string
		reqs []ferrymap.Request[uint64, uint64]
	}{{"get", gets}, {"insert", sets}} {
		b.Run("batched-1024-"+x.name+"/bridge", func(b *testing.B) {
			var ring []*ferrymap.Ticket[uint64, uint64]
			n := 0
			for b.Loop() {
				if len(ring) == 4 {
					ring[0].Results()
					ring = ring[1:]
				}
				t, err := bridge.Submit(x.reqs, -1)
				if err != nil {
					b.Fatal(err)
				}
				ring = append(ring, t)
				n += batch
			}
			for _, t := range ring {
				t.Results()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/request")
			b.ReportMetric(float64(n)/b.Elapsed().Seconds()/1e6, "Mops/s")
		})
	}
	vals, found := make([]uint64, batch), make([]bool, batch)
	b.Run("batched-1024-get/direct-GetMany", func(b *testing.B) {
		n := 0
		for b.Loop() {
			direct.GetManyInto(keys, vals, found)
			n += batch
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/request")
		b.ReportMetric(float64(n)/b.Elapsed().Seconds()/1e6, "Mops/s")
	})
	b.Run("batched-1024-insert/direct-SetMany", func(b *testing.B) {
		n := 0
		for b.Loop() {
			direct.SetMany(keys, vals)
			n += batch
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/request")
		b.ReportMetric(float64(n)/b.Elapsed().Seconds()/1e6, "Mops/s")
	})
}

// BenchmarkBridgeIdleCPU: process CPU (user+system) over one second with an
// idle bridge, then with a goroutine waiting in Events on it, then with a
// goroutine waiting on a ticket's Done that runs only at the end. b.N is
// ignored: one measurement per run.
func BenchmarkBridgeIdleCPU(b *testing.B) {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	measure := func(b *testing.B) {
		time.Sleep(200 * time.Millisecond) // let the owner's spin end
		c0, t0 := cpu(), time.Now()
		time.Sleep(time.Second)
		b.ReportMetric(100*float64(cpu()-c0)/float64(time.Since(t0)), "%-of-a-core")
	}
	m := must(ferrymap.NewBridge[int64, int64](0, 16))(b)
	defer m.Close()
	b.Run("idle-bridge", func(b *testing.B) {
		for b.Loop() {
		}
		measure(b)
	})
	b.Run("idle-bridge+Events-reader", func(b *testing.B) {
		sub := must(m.Subscribe(16))(b)
		ctx, cancel := context.WithCancel(context.Background())
		ch := sub.Events(ctx)
		for b.Loop() {
		}
		measure(b)
		cancel()
		for range ch {
		}
		sub.Close()
	})
	b.Run("stalled-bridge+Done-waiter", func(b *testing.B) {
		must(m.Set(0, 0))(b)
		gate, entered := make(chan struct{}), make(chan struct{})
		go m.Update(0, func(*int64) bool { close(entered); <-gate; return true })
		<-entered
		t := must(m.Submit([]ferrymap.Request[int64, int64]{m.Requests().Len()}, -1))(b)
		done := t.Done()
		for b.Loop() {
		}
		measure(b)
		close(gate)
		<-done
	})
}
