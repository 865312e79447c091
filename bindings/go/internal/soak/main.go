// Command soak replays, on a ferrymap map, the crash ferrymap exists to
// remove: goroutines ranging over a Go map while another goroutine writes
// it kill the process ("fatal error: concurrent map iteration and map
// write"). Writer goroutines insert, overwrite, remove, clear and at times
// free the map and make a new one; reader goroutines take snapshots and
// consume them slowly, and open value views. Every snapshot is checked for
// being exactly one instant's contents, not only for not crashing.
//
// The same scenario and check run in C (c-tests/soak.c, which explains the
// check in full), Java (dev.ferrymap.Soak) and Python
// (bindings/python/tests/soak.py); scripts/soak runs all four.
//
// First, as the control, the program runs itself in a child process on a
// plain Go map (writers serialised by a mutex among themselves, readers
// ranging without it, the usual mistake) and requires the child to die
// with the runtime's fatal error. Then it runs the soak on ferrymap, which
// must finish with no violation and no live handle left.
//
//	FERRYMAP_SOAK_SECONDS=10 go run -tags ferrymap_intree ./internal/soak
//
// FERRYMAP_SOAK_NEGATIVE=1 runs the negative control of the check instead
// (no plain-map control then): readers use Get key by key, which is no
// snapshot, and every rule of the check must fire.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ferrymap "github.com/ferrymap/ferrymap/bindings/go"
)

const (
	writers       = 3
	readers       = 3
	pairs         = 256
	keysPerWriter = 2 * pairs
	nKeys         = writers * keysPerWriter
	clearEvery    = 20 * time.Millisecond
	freeEvery     = 150 * time.Millisecond
	holdWait      = 400 * time.Millisecond
	kindInsert    = 1
	kindRemove    = 2
	maxReports    = 20
	controlEnv    = "FERRYMAP_SOAK_CONTROL"
	controlFatal  = "fatal error: concurrent map iteration and map write"
)

// ---- shared state ----

var clock atomic.Uint64

func tick() uint64 { return clock.Add(1) }

type gen struct {
	id uint64
	m  *ferrymap.Map[int64, string]
}

var current atomic.Pointer[gen]

// record is what the owner of a key publishes after each successful call.
type record struct{ gen, s, e, kind, removes uint64 }

// clearRecord describes the last finished clear; done counts clears finished.
type clearRecord struct{ gen, s, e, done uint64 }

var (
	keyRec         [nKeys]atomic.Pointer[record]
	removesStarted [nKeys]atomic.Uint64
	lastClear      atomic.Pointer[clearRecord]
	clearsStarted  atomic.Uint64
	stop           atomic.Bool

	nWriterOps, nClears, nFrees, nIters, nEntries, nViews, nOutlived, nStale, nViolations atomic.Uint64

	// Violations by rule, for the negative control.
	nFuture, nStaleValue, nAbsent, nCross atomic.Uint64
	negative                              bool
)

func violation(format string, args ...any) {
	if nViolations.Add(1) <= maxReports {
		fmt.Fprintf(os.Stderr, "VIOLATION: "+format+"\n", args...)
	}
}

func die(what string, err error) {
	fmt.Fprintf(os.Stderr, "soak: %s: %v\n", what, err)
	os.Exit(2)
}

// ---- values (the same bytes as c-tests/soak.c) ----

func encode(g uint64, w int, k int64, s, p uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "g%d w%d k%d s%d p%d ", g, w, k, s, p)
	b.WriteString(strings.Repeat("é", int(s%17)))
	h := fnv.New32a()
	h.Write([]byte(b.String()))
	fmt.Fprintf(&b, "#%08x", h.Sum32())
	return b.String()
}

type decoded struct {
	g, s, p uint64
	w       int
	k       int64
}

func decode(v string) (d decoded, why string) {
	if len(v) < 10 || v[len(v)-9] != '#' {
		return d, "no checksum"
	}
	sum, err := strconv.ParseUint(v[len(v)-8:], 16, 32)
	h := fnv.New32a()
	h.Write([]byte(v[:len(v)-9]))
	if err != nil || uint32(sum) != h.Sum32() {
		return d, "checksum mismatch (bytes mangled)"
	}
	if _, err := fmt.Sscanf(v[:len(v)-9], "g%d w%d k%d s%d p%d", &d.g, &d.w, &d.k, &d.s, &d.p); err != nil {
		return d, "unparsable"
	}
	if encode(d.g, d.w, d.k, d.s, d.p) != v {
		return d, "not the canonical encoding"
	}
	return d, ""
}

// ---- writers ----

func publish(k int64, g, s, e, kind uint64) {
	keyRec[k].Store(&record{g, s, e, kind, removesStarted[k].Load()})
}

// gone reports whether err means the map was freed under the caller.
func gone(err error) bool {
	return errors.Is(err, ferrymap.ErrInvalidHandle) || errors.Is(err, ferrymap.ErrClosed)
}

func put(g *gen, w int, k int64, pairStamp uint64) (uint64, bool) {
	s := tick()
	p := pairStamp
	if p == 0 {
		p = s
	}
	_, err := g.m.Set(k, encode(g.id, w, k, s, p))
	e := tick()
	if err != nil {
		if gone(err) {
			return 0, false
		}
		die("Set", err)
	}
	publish(k, g.id, s, e, kindInsert)
	return s, true
}

func del(g *gen, k int64) bool {
	removesStarted[k].Add(1)
	s := tick()
	_, err := g.m.Delete(k)
	e := tick()
	if err != nil {
		if gone(err) {
			return false
		}
		die("Delete", err)
	}
	publish(k, g.id, s, e, kindRemove)
	return true
}

func newGen(id uint64) *gen {
	m, err := ferrymap.New[int64, string](nKeys)
	if err != nil {
		die("New", err)
	}
	return &gen{id: id, m: m}
}

func writer(w int) {
	rng := rand.New(rand.NewPCG(uint64(w)+1, 42))
	nextClear, nextFree := time.Now().Add(clearEvery), time.Now().Add(freeEvery)
	for ops := 0; !stop.Load(); ops++ {
		g := current.Load()
		if w == 0 && ops%64 == 0 {
			now := time.Now()
			if now.After(nextFree) {
				current.Store(newGen(g.id + 1))
				if err := g.m.Close(); err != nil {
					die("Close", err)
				}
				nFrees.Add(1)
				nextFree = now.Add(freeEvery)
				continue
			}
			if now.After(nextClear) {
				clearsStarted.Add(1)
				s := tick()
				err := g.m.Clear()
				e := tick()
				if err != nil {
					die("Clear", err)
				}
				prev := lastClear.Load()
				lastClear.Store(&clearRecord{g.id, s, e, prev.done + 1})
				nClears.Add(1)
				nextClear = now.Add(clearEvery)
			}
		}
		pair := int64(rng.IntN(pairs))
		a := int64(w)*keysPerWriter + 2*pair
		if rng.IntN(10) < 7 {
			if sa, ok := put(g, w, a, 0); ok {
				put(g, w, a+1, sa)
			}
		} else if del(g, a+1) {
			del(g, a)
		}
		nWriterOps.Add(2)
	}
}

// ---- readers ----

type window struct {
	g                  *gen
	lc                 clearRecord // the last clear finished before b
	b, a               uint64
	clearsStartedAfter uint64
}

func (w *window) clearMayOverlap() bool { return w.clearsStartedAfter > w.lc.done }

func loadRecord(k int64) record {
	if r := keyRec[k].Load(); r != nil {
		return *r
	}
	return record{}
}

// checkKey: the rules of c-tests/soak.c's check_key, word for word.
func checkKey(win *window, k int64, d record, removesAfter uint64, v *decoded, what string) {
	gid := win.g.id
	lc := win.lc
	dHere := d.gen == gid
	if v != nil {
		if v.g != gid || v.k != k || int64(v.w) != k/keysPerWriter {
			violation("%s: key %d holds the value of g%d w%d k%d in generation %d", what, k, v.g, v.w, v.k, gid)
			return
		}
		if v.s >= win.a {
			nFuture.Add(1)
			violation("%s: key %d has stamp %d from after the window [%d, %d]", what, k, v.s, win.b, win.a)
		}
		if dHere && v.s < d.s {
			nStaleValue.Add(1)
			violation("%s: key %d has stamp %d older than its write %d that ended (%d) before the window [%d, %d]",
				what, k, v.s, d.s, d.e, win.b, win.a)
		}
		if dHere && v.s == d.s && lc.gen == gid && lc.s > d.e {
			violation("%s: key %d still has value %d (ended %d) after a clear [%d, %d] that ended before the window",
				what, k, v.s, d.e, lc.s, lc.e)
		}
		return
	}
	excused := !dHere || d.kind == kindRemove || removesAfter > d.removes ||
		(lc.gen == gid && lc.e > d.s) || win.clearMayOverlap()
	if !excused {
		nAbsent.Add(1)
		violation("%s: key %d absent, but its insert %d ended at %d before the window [%d, %d], no removal or clear since",
			what, k, d.s, d.e, win.b, win.a)
	}
}

func openWindow(g *gen) *window { return &window{g: g, lc: *lastClear.Load()} }

type readerState struct {
	rng          *rand.Rand
	d            [nKeys]record
	removesAfter [nKeys]uint64
	seen         [nKeys]*decoded
}

func (rs *readerState) iterate() {
	if negative {
		rs.negativeRound()
		return
	}
	g := current.Load()
	win := openWindow(g)
	for k := range int64(nKeys) {
		rs.d[k] = loadRecord(k)
	}
	win.b = tick()
	snap, err := g.m.Snapshot()
	win.a = tick()
	win.clearsStartedAfter = clearsStarted.Load()
	for k := range nKeys {
		rs.removesAfter[k] = removesStarted[k].Load()
	}
	if err != nil {
		if gone(err) {
			nStale.Add(1)
			return
		}
		die("Snapshot", err)
	}
	clear(rs.seen[:])
	n := snap.Len()
	// 0: at once (half the time); 1: part, a pause, the rest; 2: part, then
	// held until writer 0 frees the map, then the rest.
	mode := [8]int{0, 0, 0, 0, 1, 1, 1, 2}[rs.rng.IntN(8)]
	part := 0
	if n > 0 {
		part = rs.rng.IntN(n)
	}
	count := 0
	for k, v := range snap.All() {
		if mode != 0 && count == part {
			if mode == 1 {
				time.Sleep(time.Duration(200+rs.rng.IntN(2000)) * time.Microsecond)
			} else { // hold the snapshot until writer 0 frees its map
				until := time.Now().Add(holdWait)
				for current.Load() == g && time.Now().Before(until) {
					time.Sleep(500 * time.Microsecond)
				}
				if current.Load() != g {
					if _, err := g.m.Len(); gone(err) {
						nOutlived.Add(1)
					}
				}
			}
		}
		count++
		if k < 0 || k >= nKeys {
			violation("iterator: key %d was never written (generation %d)", k, g.id)
			continue
		}
		if rs.seen[k] != nil {
			violation("iterator: key %d yielded twice", k)
			continue
		}
		d, why := decode(v)
		if why != "" {
			violation("iterator: key %d value of %d bytes: %s", k, len(v), why)
			continue
		}
		rs.seen[k] = &d
	}
	if err := snap.Err(); err != nil {
		die("Snapshot.All", err)
	}
	if count != n {
		violation("iterator: Len says %d, it yielded %d", n, count)
	}
	rs.checkAll(win)
	nIters.Add(1)
	nEntries.Add(uint64(count))
}

// checkAll applies the per-key rules to every key, then the cross-key rule to every pair.
func (rs *readerState) checkAll(win *window) {
	g := win.g
	for k := range int64(nKeys) {
		checkKey(win, k, rs.d[k], rs.removesAfter[k], rs.seen[k], "iterator")
	}
	// B carries the stamp p of the A written just before it, and A is removed
	// only after B: A present but older than p is wrong whatever clears did;
	// A absent only if a clear may have removed it (clear is checked per key).
	for b := int64(1); b < nKeys; b += 2 {
		vb := rs.seen[b]
		if vb == nil {
			continue
		}
		if va := rs.seen[b-1]; va != nil {
			if va.s < vb.p {
				nCross.Add(1)
				violation("iterator: key %d (B) has A-stamp %d, key %d (A) only %d", b, vb.p, b-1, va.s)
			}
			continue
		}
		if !win.clearMayOverlap() && (win.lc.gen != g.id || win.lc.e < vb.p) {
			nCross.Add(1)
			violation("iterator: key %d (B, A-stamp %d) present, its A key %d absent", b, vb.p, b-1)
		}
	}
}

// negativeRound is the negative control (FERRYMAP_SOAK_NEGATIVE=1), as in
// c-tests/soak.c: Get key by key instead of a snapshot, (0) after the
// window, (1) before the records, (2) inside the window, A keys, a pause,
// then B keys. Each rule must fire.
func (rs *readerState) negativeRound() {
	g := current.Load()
	variant := rs.rng.IntN(3)
	clear(rs.seen[:])
	count := 0
	getAll := func(first int64) bool {
		step := int64(1)
		if variant == 2 {
			step = 2
		}
		for k := first; k < nKeys; k += step {
			v, ok, err := g.m.Get(k)
			if err != nil {
				if gone(err) {
					return false
				}
				die("Get", err)
			}
			if !ok {
				continue
			}
			d, why := decode(v)
			if why != "" {
				violation("get: key %d: %s", k, why)
				continue
			}
			rs.seen[k] = &d
			count++
		}
		return true
	}
	if variant == 1 && !getAll(0) {
		return
	}
	win := openWindow(g)
	for k := range int64(nKeys) {
		rs.d[k] = loadRecord(k)
	}
	win.b = tick()
	if variant == 2 {
		if !getAll(0) {
			return
		}
		time.Sleep(time.Millisecond)
		if !getAll(1) {
			return
		}
	}
	win.a = tick()
	win.clearsStartedAfter = clearsStarted.Load()
	for k := range nKeys {
		rs.removesAfter[k] = removesStarted[k].Load()
	}
	if variant == 0 && !getAll(0) {
		return
	}
	rs.checkAll(win)
	nIters.Add(1)
	nEntries.Add(uint64(count))
}

func (rs *readerState) view() {
	g := current.Load()
	k := int64(rs.rng.IntN(nKeys))
	win := openWindow(g)
	d := loadRecord(k)
	win.b = tick()
	v, ok, err := g.m.View(k)
	win.a = tick()
	win.clearsStartedAfter = clearsStarted.Load()
	removesAfter := removesStarted[k].Load()
	if err != nil {
		if gone(err) {
			nStale.Add(1)
			return
		}
		die("View", err)
	}
	if !ok {
		checkKey(win, k, d, removesAfter, nil, "view")
	} else {
		b := v.Bytes()
		dv, why := decode(string(b))
		if why != "" {
			violation("view: key %d value of %d bytes: %s", k, len(b), why)
		} else {
			checkKey(win, k, d, removesAfter, &dv, "view")
			cp := bytes.Clone(b)
			time.Sleep(time.Duration(100+rs.rng.IntN(1000)) * time.Microsecond)
			if !bytes.Equal(cp, v.Bytes()) {
				violation("view: key %d bytes changed while the view was held", k)
			}
		}
		if err := v.Release(); err != nil {
			die("View.Release", err)
		}
	}
	nViews.Add(1)
}

func reader(i int) {
	rs := &readerState{rng: rand.New(rand.NewPCG(uint64(i)+100, 7))}
	for !stop.Load() {
		if rs.rng.IntN(4) == 0 {
			rs.view()
		} else {
			rs.iterate()
		}
	}
}

// ---- the control: the same scenario on a plain Go map ----

func control(seconds float64) {
	m := map[int64]string{}
	var wmu sync.Mutex // writers exclude each other, not the readers
	for w := range writers {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(w)+1, 42))
			for {
				k := int64(w)*keysPerWriter + 2*int64(rng.IntN(pairs))
				wmu.Lock()
				if rng.IntN(10) < 7 {
					m[k] = encode(1, w, k, tick(), 0)
					m[k+1] = encode(1, w, k+1, tick(), 0)
				} else {
					delete(m, k+1)
					delete(m, k)
				}
				wmu.Unlock()
			}
		}()
	}
	for range readers {
		go func() {
			for {
				n := 0
				for k, v := range m {
					n += int(k) + len(v)
				}
				_ = n
			}
		}()
	}
	time.Sleep(time.Duration(seconds * float64(time.Second)))
	fmt.Println("control: the plain Go map survived (unexpected)")
	os.Exit(0)
}

// runControl runs control in a child process and asserts it died of the runtime's fatal error.
func runControl(seconds float64) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds*float64(time.Second))+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), controlEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	first, _, _ := strings.Cut(stderr.String(), "\n")
	if err == nil {
		return fmt.Errorf("control: the plain Go map run exited 0 after %v; it must crash", took)
	}
	if !strings.Contains(stderr.String(), controlFatal) {
		return fmt.Errorf("control: child failed (%v) without %q; stderr starts %q", err, controlFatal, first)
	}
	fmt.Printf("control: plain Go map died after %.1f ms (child start included): %q, %v\n",
		float64(took.Microseconds())/1000, first, err)
	return nil
}

func main() {
	seconds := 10.0
	if s := os.Getenv("FERRYMAP_SOAK_SECONDS"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "soak: FERRYMAP_SOAK_SECONDS must be a positive number, not %q\n", s)
			os.Exit(2)
		}
		seconds = v
	}
	if os.Getenv(controlEnv) == "1" {
		control(seconds)
		return
	}
	negative = os.Getenv("FERRYMAP_SOAK_NEGATIVE") == "1"
	var controlErr error
	if !negative {
		if controlErr = runControl(seconds); controlErr != nil {
			fmt.Fprintln(os.Stderr, controlErr)
		}
	}

	clock.Store(1)
	lastClear.Store(&clearRecord{})
	current.Store(newGen(1))
	fmt.Printf("Go soak: %d writers, %d readers, %d keys, %.0f s\n", writers, readers, nKeys, seconds)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() { defer wg.Done(); writer(w) }()
	}
	for i := range readers {
		wg.Add(1)
		go func() { defer wg.Done(); reader(i) }()
	}
	time.Sleep(time.Duration(seconds * float64(time.Second)))
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	if err := current.Load().m.Close(); err != nil {
		die("Close", err)
	}
	census := ferrymap.Census()

	iters, views, outlived, bad := nIters.Load(), nViews.Load(), nOutlived.Load(), nViolations.Load()
	fmt.Printf("duration %.1f s\n", elapsed.Seconds())
	fmt.Printf("iterators checked %d (%d outlived their map; %d creations found the map already freed)\n",
		iters, outlived, nStale.Load())
	fmt.Printf("entries checked %d\n", nEntries.Load())
	fmt.Printf("views checked %d\n", views)
	fmt.Printf("writer operations %d (inserts and removes), clears %d, frees %d\n",
		nWriterOps.Load(), nClears.Load(), nFrees.Load())
	fmt.Printf("violations %d\n", bad)
	fmt.Printf("live handles at the end %d\n", census)
	if negative {
		caught := nFuture.Load() > 0 && nStaleValue.Load() > 0 && nAbsent.Load() > 0 && nCross.Load() > 0
		verdict := "each rule fired, as it must"
		if !caught {
			verdict = "FAIL: a rule never fired"
		}
		fmt.Printf("negative control: violations by rule: from the future %d, stale %d, wrongly absent %d, cross-key %d (%s)\n",
			nFuture.Load(), nStaleValue.Load(), nAbsent.Load(), nCross.Load(), verdict)
		if !caught || census != 0 {
			os.Exit(1)
		}
		return
	}
	ok := bad == 0 && census == 0 && iters > 0 && views > 0 && outlived > 0 && controlErr == nil
	if iters == 0 || views == 0 || outlived == 0 {
		fmt.Fprintln(os.Stderr, "soak: a path was never exercised (iterators, views, or an iterator outliving its map)")
	}
	if ok {
		fmt.Println("PASS")
	} else {
		fmt.Println("FAIL")
		os.Exit(1)
	}
}
