// Command go-demo shows the Go binding of ferrymap doing what a Go map
// cannot: a map shared with C in the same process by handle, and a map
// iterated while another goroutine writes to it.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../bindings/c
#cgo LDFLAGS: -L${SRCDIR}/../target/release -lferrymap -Wl,-rpath,${SRCDIR}/../target/release
#include <stdio.h>
#include "ferrymap.h"

// C receives a handle made by Go and writes squares into the map.
static int32_t c_fill_squares(fm_handle m, int64_t n) {
	for (int64_t k = 1; k <= n; k++) {
		fm_status st = fm_insert_i64_i64(m, k, k * k, NULL);
		if (st != FM_OK) {
			fprintf(stderr, "C: fm_insert_i64_i64: %s\n", fm_last_error());
			return st;
		}
	}
	return FM_OK;
}

// C makes a map of its own and hands its handle to Go.
static fm_handle c_make_greetings(void) {
	fm_handle m = 0;
	if (fm_map_new(FM_STR, FM_STR, 0, &m) != FM_OK) return 0;
	fm_insert_buf_buf(m, (const uint8_t *)"C", 1, (const uint8_t *)"hello from C", 12, NULL);
	fm_insert_buf_buf(m, (const uint8_t *)"emoji", 5, (const uint8_t *)"\xF0\x9F\xA6\x80 crab", 9, NULL);
	return m;
}

static int32_t c_free(fm_handle m) { return fm_map_free(m); }
static uint64_t c_registry_id(void) { return fm_registry_id(); }
*/
import "C"

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	ferrymap "github.com/ferrymap/ferrymap/bindings/go"
)

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-demo:", err)
		os.Exit(1)
	}
}

func main() {
	fmt.Printf("ferrymap %s, one registry: Go sees %#x, C sees %#x (%s)\n",
		ferrymap.Version(), ferrymap.RegistryID(), uint64(C.c_registry_id()), ferrymap.LibraryPath())
	if ferrymap.RegistryID() != uint64(C.c_registry_id()) {
		check(fmt.Errorf("Go and C talk to different registries"))
	}

	// 1. Go creates a map, C writes into it through the handle, Go reads.
	m, err := ferrymap.New[int64, int64](0)
	check(err)
	defer m.Close()
	fmt.Printf("\n1. Go made map %#x; handing the handle (a plain uint64) to C\n", m.Handle())
	if st := C.c_fill_squares(C.fm_handle(m.Handle()), 10000); st != 0 {
		check(fmt.Errorf("C failed with status %d", st))
	}
	n, err := m.Len()
	check(err)
	v, ok, err := m.Get(12)
	check(err)
	vals, found, err := m.GetMany([]int64{3, 100, 10000, 10001})
	check(err)
	fmt.Printf("   C wrote %d entries; Go reads m[12] = %d (%v), GetMany(3, 100, 10000, 10001) = %v found %v\n",
		n, v, ok, vals, found)

	// 2. C creates a map, Go attaches to it (not owning it), C frees it.
	gh := uint64(C.c_make_greetings())
	g, err := ferrymap.Attach[string, string](gh)
	check(err)
	fmt.Printf("\n2. C made map %#x; Go attached to it:\n", gh)
	for k, v := range g.All() {
		fmt.Printf("   %q → %q\n", k, v)
	}
	C.c_free(C.fm_handle(gh)) // C owns it and frees it while Go still holds it
	_, _, err = g.Get("C")
	fmt.Printf("   after C freed it, Go's next call gets an error, not a crash: %v\n", err)
	check(g.Close()) // detaches (an attached map is never freed by Go)

	// 3. Iterate while another goroutine writes: overwrites, deletes,
	//    inserts and clears. The snapshot sees exactly the map at the
	//    instant the loop started.
	fmt.Printf("\n3. Iterating the %d-entry map while another goroutine writes to it\n", n)
	snap, err := m.Snapshot() // the map holds exactly k → k*k for k in 1..10000 here
	check(err)
	var stop atomic.Bool
	var writes, clears atomic.Int64
	var wg sync.WaitGroup
	started := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		close(started)
		for i := int64(0); !stop.Load(); i++ {
			k := i%20000 + 1
			switch i % 4 {
			case 0:
				m.Set(k, -1) // overwrite
			case 1:
				m.Delete(k)
			case 2:
				m.Set(k+1_000_000, 0) // insert
			case 3:
				if i%40000 == 3 {
					m.Clear()
					clears.Add(1)
				} else {
					m.Add(k, 1)
				}
			}
			writes.Add(1)
		}
	}()
	<-started // the writer is running from now on
	seen, exact := 0, true
	var wBefore int64
	for k, v := range snap.All() {
		if seen == 0 {
			wBefore = writes.Load()
		}
		seen++
		if k < 1 || k > 10000 || v != k*k {
			exact = false
		}
		if seen%1000 == 0 {
			for w := writes.Load(); writes.Load() < w+200 && !stop.Load(); {
				// give the writer time to make more writes mid-loop
			}
		}
	}
	wDuring := writes.Load() - wBefore
	stop.Store(true)
	wg.Wait()
	check(snap.Err())
	after, err := m.Len()
	check(err)
	fmt.Printf("   the loop saw %d entries, every one k → k², each once (exact snapshot: %v)\n", seen, exact && seen == 10000)
	fmt.Printf("   meanwhile the goroutine made %d writes during the loop (%d in all, %d clears); the map now holds %d entries\n",
		wDuring, writes.Load(), clears.Load(), after)
	fmt.Println("   (a Go map here would die with \"fatal error: concurrent map iteration and map write\";")
	fmt.Println("    that case is not attempted, since it cannot be recovered from)")
	if !exact || seen != 10000 {
		check(fmt.Errorf("the snapshot was not exact"))
	}

	check(m.Close())
	fmt.Printf("\nlive handles left in the process: %d\n", ferrymap.Census())
	if ferrymap.Census() != 0 {
		os.Exit(1)
	}
}
