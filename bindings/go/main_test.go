package ferrymap_test

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	ferrymap "github.com/ferrymap/ferrymap/bindings/go"
)

// TestMain runs every test, then checks that nothing leaked: the census of
// live handles (maps, iterators, views, in the whole process) must be back
// to zero. Cleanups (the GC backstop) run asynchronously, so give the GC a
// few rounds before judging.
func TestMain(m *testing.M) {
	code := m.Run()
	census := ferrymap.Census()
	for i := 0; i < 50 && census != 0; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		census = ferrymap.Census()
	}
	if census != 0 {
		maps, _ := ferrymap.CensusOf(ferrymap.HandleMap)
		its, _ := ferrymap.CensusOf(ferrymap.HandleIterator)
		views, _ := ferrymap.CensusOf(ferrymap.HandleView)
		subs, _ := ferrymap.CensusOf(ferrymap.HandleSubscription)
		tickets, _ := ferrymap.CensusOf(ferrymap.HandleTicket)
		fmt.Fprintf(os.Stderr, "FAIL: census not zero at exit: %d live handles (maps %d, iterators %d, views %d, subscriptions %d, tickets %d)\n",
			census, maps, its, views, subs, tickets)
		if code == 0 {
			code = 1
		}
	} else if code == 0 {
		fmt.Println("census: 0 live handles at exit")
	}
	os.Exit(code)
}

// must(f())(t) fails the test if f returned an error, else gives the value.
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// closeMap closes a map at the end of a test.
func closeMap[K ferrymap.Key, V ferrymap.Value](t testing.TB, m *ferrymap.Map[K, V]) {
	t.Helper()
	t.Cleanup(func() {
		if m.Handle() != 0 {
			if err := m.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
}
