package ferrymap_test

// Benchmarks: ferrymap beside a Go map[uint64]uint64 in the same run.
// Results and the command that reproduces them: BENCHMARKS.md.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	ferrymap "github.com/ferrymap/ferrymap/bindings/go"
	"github.com/ferrymap/ferrymap/bindings/go/internal/ctest"
)

// randKeys returns n distinct random keys, and the same keys in another
// random order (the lookup order).
func randKeys(n int) (ins, look []uint64) {
	r := rand.New(rand.NewPCG(1, 2))
	seen := make(map[uint64]struct{}, n)
	ins = make([]uint64, 0, n)
	for len(ins) < n {
		k := r.Uint64()
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			ins = append(ins, k)
		}
	}
	look = append([]uint64(nil), ins...)
	r.Shuffle(len(look), func(i, j int) { look[i], look[j] = look[j], look[i] })
	return ins, look
}

func fillFerry(b testing.TB, keys []uint64) *ferrymap.Map[uint64, uint64] {
	m, err := ferrymap.New[uint64, uint64](len(keys))
	if err != nil {
		b.Fatal(err)
	}
	const chunk = 1 << 16
	for i := 0; i < len(keys); i += chunk {
		end := min(i+chunk, len(keys))
		if _, err := m.SetMany(keys[i:end], keys[i:end]); err != nil {
			b.Fatal(err)
		}
	}
	return m
}

func fillGo(keys []uint64) map[uint64]uint64 {
	g := make(map[uint64]uint64, len(keys))
	for _, k := range keys {
		g[k] = k
	}
	return g
}

var sink uint64

func BenchmarkGetHit(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 20} {
		ins, look := randKeys(n)
		mask := n - 1
		name := fmt.Sprintf("%dK", n>>10)
		b.Run(name+"/GoMap", func(b *testing.B) {
			g := fillGo(ins)
			b.ResetTimer()
			var s uint64
			for i := 0; i < b.N; i++ {
				s += g[look[i&mask]]
			}
			sink += s
		})
		b.Run(name+"/ferrymap", func(b *testing.B) {
			m := fillFerry(b, ins)
			defer m.Close()
			b.ResetTimer()
			var s uint64
			for i := 0; i < b.N; i++ {
				v, _, _ := m.Get(look[i&mask])
				s += v
			}
			sink += s
		})
		// Reference: the same lookups made by a C loop (the core's cost
		// without a cgo crossing per key).
		b.Run(name+"/C-loop-reference", func(b *testing.B) {
			m := fillFerry(b, ins)
			defer m.Close()
			b.ResetTimer()
			sink += uint64(ctest.LoopGet(m.Handle(), look, b.N))
		})
	}
	// Reference: one empty cgo call.
	b.Run("cgo-nop-reference", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			ctest.Nop()
		}
	})
}

func BenchmarkSet(b *testing.B) {
	const n = 1 << 20
	ins, look := randKeys(n)
	b.Run("overwrite-1M/GoMap", func(b *testing.B) {
		g := fillGo(ins)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			g[look[i&(n-1)]] = uint64(i)
		}
	})
	b.Run("overwrite-1M/ferrymap", func(b *testing.B) {
		m := fillFerry(b, ins)
		defer m.Close()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			m.Set(look[i&(n-1)], uint64(i))
		}
	})
	// Inserting fresh keys into a map that grows from empty (a new map
	// every 1M inserts, outside the timer).
	b.Run("insert-grow/GoMap", func(b *testing.B) {
		var g map[uint64]uint64
		for i := 0; i < b.N; i++ {
			if i&(n-1) == 0 {
				b.StopTimer()
				g = make(map[uint64]uint64)
				b.StartTimer()
			}
			g[ins[i&(n-1)]] = 1
		}
	})
	b.Run("insert-grow/ferrymap", func(b *testing.B) {
		var m *ferrymap.Map[uint64, uint64]
		for i := 0; i < b.N; i++ {
			if i&(n-1) == 0 {
				b.StopTimer()
				if m != nil {
					m.Close()
				}
				m, _ = ferrymap.New[uint64, uint64](0)
				b.StartTimer()
			}
			m.Set(ins[i&(n-1)], 1)
		}
		b.StopTimer()
		m.Close()
	})
}

// GetMany: batches of 1024 keys; the metric ns/key is per key.
func BenchmarkGetMany(b *testing.B) {
	const batch = 1024
	for _, n := range []int{1 << 10, 1 << 20} {
		ins, look := randKeys(n)
		name := fmt.Sprintf("%dK", n>>10)
		vals := make([]uint64, batch)
		found := make([]bool, batch)
		b.Run(name+"/GoMap-loop", func(b *testing.B) {
			g := fillGo(ins)
			b.ResetTimer()
			keys := 0
			for i := 0; i < b.N; i++ {
				off := (i * batch) & (n - 1)
				ks := look[off : off+min(batch, n)]
				for j, k := range ks {
					vals[j], found[j] = g[k]
				}
				keys += len(ks)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(keys), "ns/key")
		})
		b.Run(name+"/ferrymap", func(b *testing.B) {
			m := fillFerry(b, ins)
			defer m.Close()
			b.ResetTimer()
			keys := 0
			for i := 0; i < b.N; i++ {
				off := (i * batch) & (n - 1)
				ks := look[off : off+min(batch, n)]
				if _, err := m.GetManyInto(ks, vals, found); err != nil {
					b.Fatal(err)
				}
				keys += len(ks)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(keys), "ns/key")
		})
	}
}

// bigN is the size of the memory and GC measurements: 10M, or
// FERRYMAP_BENCH_N.
func bigN() int {
	if s := os.Getenv("FERRYMAP_BENCH_N"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 10_000_000
}

func rssBytes() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// seqKeys are cheap distinct keys for the 10M measurements.
func seqKeys(n int) []uint64 {
	ks := make([]uint64, n)
	for i := range ks {
		ks[i] = uint64(i)*0x9E3779B97F4A7C15 + 1
	}
	return ks
}

// BenchmarkMemoryPerEntry: bytes per entry at 10M entries. Go map: Go heap
// growth (runtime.MemStats.HeapInuse). ferrymap: the map's own figure
// (Stats.MemoryBytes) and the process RSS growth. One measurement per run
// (b.N is ignored); use -benchtime=1x.
func BenchmarkMemoryPerEntry(b *testing.B) {
	n := bigN()
	b.Run(fmt.Sprintf("%dM/GoMap", n/1_000_000), func(b *testing.B) {
		keys := seqKeys(n)
		before := heapInUse()
		g := fillGo(keys)
		after := heapInUse()
		b.ReportMetric(float64(after-before)/float64(n), "B/entry")
		b.ReportMetric(0, "ns/op")
		runtime.KeepAlive(g)
	})
	b.Run(fmt.Sprintf("%dM/ferrymap", n/1_000_000), func(b *testing.B) {
		keys := seqKeys(n)
		runtime.GC()
		debug.FreeOSMemory()
		rss0 := rssBytes()
		heap0 := heapInUse()
		m := fillFerry(b, keys)
		defer m.Close()
		st, err := m.Stats()
		if err != nil {
			b.Fatal(err)
		}
		heap1 := heapInUse()
		rss1 := rssBytes()
		runtime.KeepAlive(keys)
		b.ReportMetric(float64(st.MemoryBytes)/float64(n), "B/entry")
		b.ReportMetric(float64(rss1-rss0)/float64(n), "RSS-B/entry")
		b.ReportMetric(float64(int64(heap1)-int64(heap0))/float64(n), "GoHeap-B/entry")
		b.ReportMetric(st.LoadFactor, "load")
		b.ReportMetric(0, "ns/op")
	})
}

// BenchmarkGCWith10M: how much the garbage collector pays while a 10M-entry
// map is held. Forced full GCs: wall time of runtime.GC() (mark work over
// the live heap, the part a big Go map makes expensive). Churn: the program
// allocates 2 GiB of short-lived garbage with the map held; reported are
// the GC CPU time (runtime/metrics /cpu/classes/gc/total), the number of
// GCs and the total stop-the-world pause. GC counts differ by design: the
// pacer lets the heap grow to twice the live Go heap, and a Go map is live
// Go heap while a ferrymap map is not. One measurement per run; use
// -benchtime=1x.
func BenchmarkGCWith10M(b *testing.B) {
	n := bigN()
	gcCPU := func() float64 {
		s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
		metrics.Read(s)
		return s[0].Value.Float64()
	}
	measure := func(b *testing.B) {
		runtime.GC()
		var worst, total time.Duration
		const forced = 5
		for i := 0; i < forced; i++ {
			t0 := time.Now()
			runtime.GC()
			d := time.Since(t0)
			total += d
			worst = max(worst, d)
		}
		var s0, s1 debug.GCStats
		debug.ReadGCStats(&s0)
		cpu0 := gcCPU()
		var keep [][]byte
		for i := 0; i < 2<<20; i++ { // 2M × 1 KiB = 2 GiB allocated
			buf := make([]byte, 1024)
			if i%4096 == 0 {
				keep = append(keep[:0], buf)
			}
		}
		runtime.KeepAlive(keep)
		runtime.GC() // flush the GC CPU accounting
		cpu1 := gcCPU()
		debug.ReadGCStats(&s1)
		b.ReportMetric(float64(total.Microseconds())/forced/1000, "ms/forced-GC")
		b.ReportMetric(float64(worst.Microseconds())/1000, "ms/worst-forced-GC")
		b.ReportMetric((cpu1-cpu0)*1000, "ms-GC-CPU-churn")
		b.ReportMetric(float64(s1.NumGC-s0.NumGC), "GCs-churn")
		b.ReportMetric(float64((s1.PauseTotal-s0.PauseTotal).Microseconds())/1000, "ms-STW-churn")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("no-map", func(b *testing.B) { measure(b) })
	b.Run(fmt.Sprintf("%dM/GoMap-uint64", n/1_000_000), func(b *testing.B) {
		g := fillGo(seqKeys(n))
		measure(b)
		runtime.KeepAlive(g)
	})
	b.Run(fmt.Sprintf("%dM/ferrymap-uint64", n/1_000_000), func(b *testing.B) {
		m := fillFerry(b, seqKeys(n))
		defer m.Close()
		runtime.GC()
		measure(b)
	})
	// With pointers in the values (strings), the Go GC must trace every
	// entry; ferrymap's entries live outside the Go heap.
	b.Run(fmt.Sprintf("%dM/GoMap-string", n/1_000_000), func(b *testing.B) {
		g := make(map[uint64]string, n)
		for i, k := range seqKeys(n) {
			g[k] = strconv.Itoa(i)
		}
		measure(b)
		runtime.KeepAlive(g)
	})
	b.Run(fmt.Sprintf("%dM/ferrymap-string", n/1_000_000), func(b *testing.B) {
		m, err := ferrymap.New[uint64, string](n)
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		keys := seqKeys(n)
		const chunk = 1 << 16
		vals := make([]string, chunk)
		for i := 0; i < n; i += chunk {
			end := min(i+chunk, n)
			for j := i; j < end; j++ {
				vals[j-i] = strconv.Itoa(j)
			}
			if _, err := m.SetMany(keys[i:end], vals[:end-i]); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		measure(b)
	})
}
