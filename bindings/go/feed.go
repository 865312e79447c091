package ferrymap

/*
#include "fmgo.h"
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The change feed of a bridge map: every committed mutation (sequence
// number, op, key, new value), in commit order, for each subscriber.
//
// Waiting for an event is a cgo call that holds an OS thread, and the
// library keeps the calling thread inside its reclamation scheme for the
// whole wait, so the package never waits in one call for long: it waits in
// slices of at most feedSlice and loops in Go. A goroutine blocked in Next
// or an Events loop therefore costs one OS thread while it waits (none
// between events once it is not waiting), and sees a Close or a cancelled
// context within one slice.

// feedSlice bounds one fm_sub_next.
const feedSlice = 20 * time.Millisecond

// Event is one committed mutation of a bridge map, copied into Go values.
type Event[K Key, V Value] struct {
	Seq   uint64 // the mutation's sequence number
	Op    Op     // OpInsert, OpRemove, OpAdd, OpUpdate or OpClear
	Key   K      // the key (zero for OpClear)
	Value V      // Insert: the value; Add, Update: the new value; zero for Remove and Clear
	// Lost is how many events this subscriber missed just before this one
	// because it fell behind its bound (0 normally): exactly the events
	// numbered Seq-Lost to Seq-1.
	Lost uint64
}

// Subscription is a subscriber of a bridge map's change feed. Read it with
// Next or Events; Close it when done (a GC cleanup frees a forgotten one).
// After the bridge is closed, the events still queued are delivered, then
// Next returns ErrBridgeClosed and Events' channel is closed.
// One reader at a time is the sensible use: concurrent readers share the
// events (each is delivered once) in no guaranteed order.
type Subscription[K Key, V Value] struct {
	h     atomic.Uint64
	kl    layout
	vl    layout
	clean runtime.Cleanup
	err   atomic.Pointer[error]

	mu    sync.Mutex    // one fm_sub_next and its copy at a time; Close waits for it
	stash []Event[K, V] // taken but not delivered (an Events loop that was cancelled)
}

// Subscribe subscribes to the bridge map's change feed: from now on every
// committed mutation is queued for this subscriber, up to bound events;
// past that the oldest are dropped and the next event delivered says in
// Lost how many. Direct maps give ErrWrongKind.
func (m *Map[K, V]) Subscribe(bound int) (*Subscription[K, V], error) {
	const op = "Map.Subscribe"
	h := m.handle()
	if h == 0 {
		return nil, closedErr(op)
	}
	if bound < 0 {
		return nil, &Error{Op: op, Err: ErrInvalidArgument, Detail: "negative bound"}
	}
	r := C.fmgo_subscribe(h, C.size_t(bound))
	if r.st != C.FM_OK {
		return nil, m.fail(op, r.st, r.err)
	}
	sh := uint64(r.i)
	s := &Subscription[K, V]{kl: m.kl, vl: m.vl}
	s.h.Store(sh)
	s.clean = runtime.AddCleanup(s, freeSub, sh)
	return s, nil
}

func freeSub(h uint64) { r := C.fmgo_sub_free(C.fm_handle(h)); takeErr(r.err) }

// Handle is the subscription's handle (0 once closed).
func (s *Subscription[K, V]) Handle() uint64 { return s.h.Load() }

// Next returns the next event, waiting up to timeout (negative: forever;
// 0: not at all) and then failing with ErrTimeout. Once the bridge is
// closed and every event was read it returns ErrBridgeClosed; after Close,
// ErrClosed.
func (s *Subscription[K, V]) Next(timeout time.Duration) (Event[K, V], error) {
	return s.next(nil, timeout)
}

func (s *Subscription[K, V]) next(ctx context.Context, timeout time.Duration) (Event[K, V], error) {
	const op = "Subscription.Next"
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		slice := feedSlice
		switch {
		case timeout == 0:
			slice = 0
		case timeout > 0:
			slice = min(slice, time.Until(deadline))
			if slice <= 0 {
				return Event[K, V]{}, &Error{Op: op, Err: ErrTimeout, Detail: "no event within the timeout"}
			}
		}
		ev, again, err := s.take(op, slice)
		if !again {
			return ev, err
		}
		if ctx != nil && ctx.Err() != nil {
			return ev, ctx.Err()
		}
		if timeout == 0 {
			return ev, &Error{Op: op, Err: ErrTimeout, Detail: "no event"}
		}
	}
}

// take makes one fm_sub_next of at most slice; again: it timed out.
func (s *Subscription[K, V]) take(op string, slice time.Duration) (ev Event[K, V], again bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.stash) > 0 {
		ev = s.stash[0]
		s.stash = s.stash[1:]
		return ev, false, nil
	}
	h := s.h.Load()
	if h == 0 {
		return ev, false, closedErr(op)
	}
	var ce C.fm_event
	r := C.fmgo_sub_next(C.fm_handle(h), timeoutUS(slice), &ce)
	switch r.st {
	case C.FM_OK:
		return s.event(&ce), false, nil
	case C.FM_TIMEOUT:
		return ev, true, nil
	}
	detail := takeErr(r.err)
	if int32(r.st) == int32(StatusInvalidHandle) && s.h.Load() == 0 {
		return ev, false, closedErr(op)
	}
	return ev, false, statusErr(op, int32(r.st), detail)
}

// event copies an fm_event (valid until the next fm_sub_next; s.mu held).
func (s *Subscription[K, V]) event(ce *C.fm_event) Event[K, V] {
	ev := Event[K, V]{Seq: uint64(ce.seq), Op: Op(ce.op), Lost: uint64(ce.lost)}
	if ev.Op != OpClear {
		if s.kl == lInt {
			ev.Key = fromInt[K](int64(ce.key_int))
		} else {
			ev.Key = fromC[K](s.kl, ce.key_ptr, ce.key_len)
		}
	}
	if ev.Op != OpClear && ev.Op != OpRemove {
		switch s.vl {
		case lInt:
			ev.Value = fromInt[V](int64(ce.value_int))
		case lFloat:
			ev.Value = fromFloat[V](float64(ce.value_float))
		default:
			ev.Value = fromC[V](s.vl, ce.value_ptr, ce.value_len)
		}
	}
	return ev
}

// unread puts back an event taken but not delivered.
func (s *Subscription[K, V]) unread(ev Event[K, V]) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, _ := slices.BinarySearchFunc(s.stash, ev.Seq, func(e Event[K, V], seq uint64) int {
		switch {
		case e.Seq < seq:
			return -1
		case e.Seq > seq:
			return 1
		}
		return 0
	})
	s.stash = slices.Insert(s.stash, i, ev)
}

// Events returns a channel of the feed's events, in commit order, fed by
// one goroutine until the bridge is closed and every event was delivered,
// ctx ends, or the subscription is closed; then the channel is closed and
// Err says why. The channel adds no buffer of its own: lag is measured
// against the subscription's bound. An event taken from the library but
// not delivered when ctx ended is kept for the next Next or Events.
func (s *Subscription[K, V]) Events(ctx context.Context) <-chan Event[K, V] {
	ch := make(chan Event[K, V])
	go func() {
		defer close(ch)
		for {
			ev, err := s.next(ctx, -1)
			if err != nil {
				s.err.Store(&err)
				return
			}
			select {
			case ch <- ev:
			case <-ctx.Done():
				s.unread(ev)
				err := ctx.Err()
				s.err.Store(&err)
				return
			}
		}
	}()
	return ch
}

// Err is why the last Events channel was closed: ErrBridgeClosed (the
// feed ended: the bridge is closed and every event was delivered),
// ctx.Err(), ErrClosed, or nil while it runs.
func (s *Subscription[K, V]) Err() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Close ends the subscription (waiting at most one wait slice for a Next
// in progress, which then returns ErrClosed). A second Close returns
// ErrClosed.
func (s *Subscription[K, V]) Close() error {
	h := s.h.Swap(0)
	if h == 0 {
		return closedErr("Subscription.Close")
	}
	s.clean.Stop()
	s.mu.Lock()
	r := C.fmgo_sub_free(C.fm_handle(h))
	s.mu.Unlock()
	if r.st != C.FM_OK {
		return statusErr("Subscription.Close", int32(r.st), takeErr(r.err))
	}
	return nil
}

// String describes the subscription.
func (s *Subscription[K, V]) String() string {
	return fmt.Sprintf("ferrymap.Subscription(handle=%#x)", s.h.Load())
}
