package ferrymap

/*
#include "fmgo.h"
*/
import "C"

import (
	"fmt"
	"iter"
	"runtime"
	"sync/atomic"
)

// Iteration (DESIGN §6): a snapshot sees exactly the entries the map held
// when it was made, each once, whatever happens afterwards: writes from any
// goroutine or language, growth, Clear, even freeing the map. Making one is
// O(shards), not O(entries), and never blocks writers. Order is unspecified.
// Entries are fetched from the library in batches and copied into Go
// values, so nothing yielded points into C memory.

const iterBatch = 256

// All returns an iterator over a snapshot of the map, taken when the range
// loop starts:
//
//	for k, v := range m.All() { ... }
//
// The loop may write to the map (or other goroutines may): the snapshot is
// unaffected. The library's iterator is freed when the loop ends, including
// on break, return or panic. If the snapshot cannot be made (the map is
// closed or was freed elsewhere) All panics with the error; use Snapshot
// to get it as an error instead.
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		s, err := m.Snapshot()
		if err != nil {
			panic(err)
		}
		s.All()(yield)
		if err := s.Err(); err != nil {
			panic(err)
		}
	}
}

// Keys is All without the values.
func (m *Map[K, V]) Keys() iter.Seq[K] {
	return func(yield func(K) bool) {
		for k := range m.All() {
			if !yield(k) {
				return
			}
		}
	}
}

// Values is All without the keys.
func (m *Map[K, V]) Values() iter.Seq[V] {
	return func(yield func(V) bool) {
		for _, v := range m.All() {
			if !yield(v) {
				return
			}
		}
	}
}

// Snapshot is an open iterator over the entries the map held when the
// Snapshot was made. Range over All once (it frees the snapshot when the
// loop ends), or Close it. An unclosed, unreachable Snapshot is freed by a
// cleanup. A Snapshot may be ranged by several goroutines at once; each
// entry is handed out once in all.
type Snapshot[K Key, V Value] struct {
	h     atomic.Uint64
	kl    layout
	vl    layout
	n     int
	busy  atomic.Int32 // ranges in progress
	err   atomic.Pointer[error]
	clean runtime.Cleanup
}

// Snapshot makes a snapshot of the map now.
func (m *Map[K, V]) Snapshot() (*Snapshot[K, V], error) {
	const op = "Map.Snapshot"
	h := m.handle()
	if h == 0 {
		return nil, closedErr(op)
	}
	r := C.fmgo_iter_new(h)
	if r.st != C.FM_OK {
		return nil, m.fail(op, r.st, r.err)
	}
	ih := uint64(r.i)
	s := &Snapshot[K, V]{kl: m.kl, vl: m.vl}
	s.h.Store(ih)
	if lr := C.fmgo_iter_len(C.fm_handle(ih)); lr.st == C.FM_OK {
		s.n = int(lr.n)
	} else {
		takeErr(lr.err)
	}
	s.clean = runtime.AddCleanup(s, freeIter, ih)
	return s, nil
}

func freeIter(h uint64) { r := C.fmgo_iter_free(C.fm_handle(h)); takeErr(r.err) }

// Len is the number of entries in the snapshot (all of them, not just
// those left).
func (s *Snapshot[K, V]) Len() int { return s.n }

// Handle is the iterator's handle (0 once closed).
func (s *Snapshot[K, V]) Handle() uint64 { return s.h.Load() }

// Err is the error, if any, that ended a range over All early.
func (s *Snapshot[K, V]) Err() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Close frees the snapshot. A second Close returns ErrClosed.
func (s *Snapshot[K, V]) Close() error {
	h := s.h.Swap(0)
	if h == 0 {
		return closedErr("Snapshot.Close")
	}
	s.clean.Stop()
	r := C.fmgo_iter_free(C.fm_handle(h))
	if r.st != C.FM_OK {
		return statusErr("Snapshot.Close", int32(r.st), takeErr(r.err))
	}
	return nil
}

func (s *Snapshot[K, V]) setErr(err error) { s.err.CompareAndSwap(nil, &err) }

// failed records why a step of a range failed, unless the snapshot was
// closed meanwhile: Close zeroes the handle before freeing it, so a range
// whose step found the handle freed (another range drained the snapshot
// and closed it, or someone called Close) has simply reached its end.
func (s *Snapshot[K, V]) failed(st C.int32_t, cerr *C.char) {
	msg := takeErr(cerr)
	if s.h.Load() == 0 {
		return
	}
	s.setErr(statusErr("Snapshot.All", int32(st), msg))
}

// All yields the entries of the snapshot not yet handed out and closes the
// snapshot when the loop ends (also on break). If several goroutines range
// over one Snapshot at once, they share its entries (each is yielded once
// in all) and the last loop to end closes it; a loop still running when
// the snapshot is closed (by another loop ending, or by Close) ends there,
// without an error. A failure from the library ends the loop and is kept
// for Err.
func (s *Snapshot[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		s.busy.Add(1)
		defer func() {
			if s.busy.Add(-1) == 0 && s.h.Load() != 0 {
				s.Close()
			}
		}()
		h := C.fm_handle(s.h.Load())
		if h == 0 {
			return
		}
		if s.kl == lInt && (s.vl == lInt || s.vl == lFloat) {
			s.allInts(h, yield)
			return
		}
		var es [iterBatch / 4]C.fm_entry
		for {
			r := C.fmgo_iter_next_batch(h, &es[0], C.size_t(len(es)))
			if r.st == C.FM_END {
				return
			}
			if r.st != C.FM_OK {
				s.failed(r.st, r.err)
				return
			}
			for i := 0; i < int(r.n); i++ {
				if !yield(entryKey[K](s.kl, &es[i]), entryVal[V](s.vl, &es[i])) {
					return
				}
			}
		}
	}
}

// allInts is the fast path for INT keys with INT or FLOAT values: keys and
// value bits come back in two plain arrays.
func (s *Snapshot[K, V]) allInts(h C.fm_handle, yield func(K, V) bool) {
	var ks, vs [iterBatch]C.int64_t
	for {
		r := C.fmgo_iter_next_i64(h, &ks[0], &vs[0], iterBatch)
		if r.st == C.FM_END {
			return
		}
		if r.st != C.FM_OK {
			s.failed(r.st, r.err)
			return
		}
		for i := 0; i < int(r.n); i++ {
			// For FLOAT values the word is the double's bits: same 8 bytes.
			if !yield(fromInt[K](int64(ks[i])), fromInt[V](int64(vs[i]))) {
				return
			}
		}
	}
}

// String describes the snapshot.
func (s *Snapshot[K, V]) String() string {
	return fmt.Sprintf("ferrymap.Snapshot(handle=%#x, len=%d)", s.h.Load(), s.n)
}
