package ferrymap

/*
#include "fmgo.h"
*/
import "C"

import (
	"fmt"
	"reflect"
	"time"
)

// Bridge mode (DESIGN §7, docs/architecture.md "Bridge mode").
//
// A bridge map is a map whose every operation runs on one owner thread of
// the library, fed by a bounded queue. From Go it is an ordinary *Map: every
// method works on it unchanged (the C ABI routes each call through the
// owner thread and the calling goroutine waits for the answer). On top of
// that it offers
//
//   - sequence numbers: every mutation gets the next number of one total
//     order (SetSeq, DeleteSeq, AddSeq, UpdateSeq, ClearSeq, BridgeSeq);
//   - asynchronous batches: Submit / TrySubmit return a Ticket, SubmitAsync
//     a channel (ticket.go);
//   - a change feed: Subscribe (feed.go).
//
// Order: the queue is FIFO, so the calls of one goroutine run in the order
// it made them (a goroutine's calls are sequential even when it moves
// between OS threads: each call has returned, or its request is queued,
// before the next starts).

// NewBridge makes a bridge map with the kinds the type parameters give
// (as New): a map served by its own owner thread, fed by a queue of
// queueCapacity requests (1 to 16M). The Go value owns it: Close (or the
// GC backstop) closes it, draining the queue first.
func NewBridge[K Key, V Value](capacity, queueCapacity int) (*Map[K, V], error) {
	kl, vl := layoutOf[K](), layoutOf[V]()
	return NewBridgeKinds[K, V](naturalKind(kl), naturalKind(vl), capacity, queueCapacity)
}

// NewBridgeKinds is NewBridge with explicit kinds (as NewKinds).
func NewBridgeKinds[K Key, V Value](keyKind, valueKind Kind, capacity, queueCapacity int) (*Map[K, V], error) {
	const op = "NewBridge"
	kl, vl := layoutOf[K](), layoutOf[V]()
	if !fits(kl, keyKind) || !fits(vl, valueKind) || valueKind == 0 {
		return nil, &Error{Op: op, Err: ErrWrongKind, Detail: fmt.Sprintf(
			"Go types %s→%s do not fit kinds %v→%v", reflect.TypeFor[K](), reflect.TypeFor[V](), keyKind, valueKind)}
	}
	if capacity < 0 || queueCapacity < 0 {
		return nil, &Error{Op: op, Err: ErrInvalidArgument, Detail: "negative capacity"}
	}
	r := C.fmgo_bridge_new(C.uint32_t(keyKind), C.uint32_t(valueKind), C.size_t(capacity), C.size_t(queueCapacity))
	if r.st != C.FM_OK {
		return nil, statusErr(op, int32(r.st), takeErr(r.err))
	}
	return wrapMode[K, V](uint64(r.i), keyKind, valueKind, true, true), nil
}

// isBridgeHandle reports whether h names a bridge map (working or failed).
func isBridgeHandle(h uint64) bool {
	r := C.fmgo_bridge_status(C.fm_handle(h))
	takeErr(r.err)
	return r.st == C.FM_OK || r.st == C.FM_BRIDGE_FAILED
}

// IsBridge reports whether the map is a bridge map (made by NewBridge, or
// a bridge handle given to Attach). It stays true after Close.
func (m *Map[K, V]) IsBridge() bool { return m.br != nil }

// BridgeStatus is nil for a working bridge map, ErrBridgeFailed if its
// owner thread caught a panic, ErrWrongKind for a direct map, ErrClosed
// after Close.
func (m *Map[K, V]) BridgeStatus() error {
	const op = "Map.BridgeStatus"
	h := m.handle()
	if h == 0 {
		return closedErr(op)
	}
	if r := C.fmgo_bridge_status(h); r.st != C.FM_OK {
		return m.fail(op, r.st, r.err)
	}
	return nil
}

// BridgeSeq returns the sequence number of the last mutation committed on
// the bridge map (0 before the first), by anyone. ErrWrongKind for a
// direct map.
func (m *Map[K, V]) BridgeSeq() (uint64, error) {
	const op = "Map.BridgeSeq"
	h := m.handle()
	if h == 0 {
		return 0, closedErr(op)
	}
	r := C.fmgo_bridge_seq(h)
	if r.st != C.FM_OK {
		return 0, m.fail(op, r.st, r.err)
	}
	return uint64(r.seq), nil
}

// ---- the synchronous calls, with the mutation's sequence number ----
//
// The C API keeps the sequence number of a thread's last bridge mutation in
// a thread-local (fm_last_seq). A goroutine may run its next cgo call on
// another OS thread, so these read it inside the same C call as the
// mutation. seq is 0 when the call committed nothing (Delete of an absent
// key, an Update that kept the value, an error) and always 0 on a direct map.

// wantSeq is the C flag asking the wrappers for fm_last_seq().
func (m *Map[K, V]) wantSeq() C.uint8_t {
	if m.br != nil {
		return 1
	}
	return 0
}

// SetSeq is Set, and also returns the mutation's sequence number.
func (m *Map[K, V]) SetSeq(k K, v V) (replaced bool, seq uint64, err error) {
	return m.set("Map.SetSeq", k, v, m.wantSeq())
}

// DeleteSeq is Delete, and also returns the mutation's sequence number (0
// if k was absent: nothing was committed).
func (m *Map[K, V]) DeleteSeq(k K) (removed bool, seq uint64, err error) {
	return m.del("Map.DeleteSeq", k, m.wantSeq())
}

// AddSeq is Add, and also returns the mutation's sequence number.
func (m *Map[K, V]) AddSeq(k K, delta V) (newValue V, seq uint64, err error) {
	return m.add("Map.AddSeq", k, delta, m.wantSeq())
}

// UpdateSeq is Update, and also returns the mutation's sequence number (0
// if fn kept the value or k was absent). On a bridge map fn runs on the
// owner thread, while the calling goroutine waits: fn must not wait for
// anything that needs the same bridge (every other caller of the bridge
// waits for fn meanwhile).
func (m *Map[K, V]) UpdateSeq(k K, fn func(v *V) bool) (found bool, seq uint64, err error) {
	return m.update("Map.UpdateSeq", k, fn, m.wantSeq())
}

// ClearSeq is Clear, and also returns the mutation's sequence number (a
// Clear is one mutation, even of an empty map).
func (m *Map[K, V]) ClearSeq() (seq uint64, err error) {
	return m.clear("Map.ClearSeq", m.wantSeq())
}

// timeoutUS converts a Go timeout to the C API's microseconds: negative
// waits forever, 0 does not wait, anything else at least 1 µs.
func timeoutUS(d time.Duration) C.int64_t {
	switch {
	case d < 0:
		return -1
	case d == 0:
		return 0
	case d < time.Microsecond:
		return 1
	}
	return C.int64_t(d / time.Microsecond)
}
