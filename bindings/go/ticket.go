package ferrymap

/*
#include <stdlib.h>
#include "fmgo.h"
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Asynchronous batches on a bridge map: Submit copies a batch of requests
// into the bridge's queue and returns a Ticket at once; the owner thread
// runs the batch in order, and the Ticket gives the results.
//
// Waiting costs. A goroutine blocked in a cgo call holds an OS thread, so
// the package never parks one goroutine per ticket in the library. Instead
// each bridge map (each Go Map value of one) has at most one dispatcher
// goroutine, running only while some ticket is waited on (Done, Wait,
// Results, SubmitAsync): it waits in fm_ticket_wait for the oldest such
// ticket, in slices (dispatchSlice, doubling while it stays pending), then
// copies the results into Go memory, frees the C ticket and closes the
// ticket's Done channel. The bridge runs batches in queue order, so
// tickets finish in (about) the order they were submitted and the
// dispatcher finds the next one done or nearly done. Cost: one OS thread
// per bridge with waited-on tickets, none when idle; any number of
// goroutines can wait on channels meanwhile.

// Op is the kind of a request or of a committed mutation (fm_op).
type Op uint32

const (
	OpInsert   Op = C.FM_OP_INSERT   // Set
	OpRemove   Op = C.FM_OP_REMOVE   // Delete
	OpAdd      Op = C.FM_OP_ADD      // Add
	OpUpdate   Op = C.FM_OP_UPDATE   // Update: change feed only (it takes a callback; Submit refuses it)
	OpClear    Op = C.FM_OP_CLEAR    // Clear
	OpGet      Op = C.FM_OP_GET      // requests only
	OpContains Op = C.FM_OP_CONTAINS // requests only
	OpLen      Op = C.FM_OP_LEN      // requests only
)

func (o Op) String() string {
	switch o {
	case OpInsert:
		return "Insert"
	case OpRemove:
		return "Remove"
	case OpAdd:
		return "Add"
	case OpUpdate:
		return "Update"
	case OpClear:
		return "Clear"
	case OpGet:
		return "Get"
	case OpContains:
		return "Contains"
	case OpLen:
		return "Len"
	}
	return fmt.Sprintf("Op(%d)", uint32(o))
}

// Request is one operation of a submitted batch. Key is read by every op
// but Clear and Len; Value by Insert (the value) and Add (the delta). The
// bytes are copied at submission. Build them with a literal or with the
// map's Requests():
//
//	r := m.Requests()
//	t, err := m.Submit([]ferrymap.Request[int64, string]{r.Insert(1, "a"), r.Get(1), r.Len()}, time.Second)
type Request[K Key, V Value] struct {
	Op    Op
	Key   K
	Value V
}

// Requests builds requests for a map's types; get one with Map.Requests.
// (Its methods infer nothing: the types come from the map, so untyped
// constants work as keys and values.)
type Requests[K Key, V Value] struct{}

// Requests returns the request builder for m's types.
func (m *Map[K, V]) Requests() Requests[K, V] { return Requests[K, V]{} }

func (Requests[K, V]) Insert(k K, v V) Request[K, V] {
	return Request[K, V]{Op: OpInsert, Key: k, Value: v}
}
func (Requests[K, V]) Remove(k K) Request[K, V] { return Request[K, V]{Op: OpRemove, Key: k} }
func (Requests[K, V]) Add(k K, delta V) Request[K, V] {
	return Request[K, V]{Op: OpAdd, Key: k, Value: delta}
}
func (Requests[K, V]) Get(k K) Request[K, V]      { return Request[K, V]{Op: OpGet, Key: k} }
func (Requests[K, V]) Contains(k K) Request[K, V] { return Request[K, V]{Op: OpContains, Key: k} }
func (Requests[K, V]) Len() Request[K, V]         { return Request[K, V]{Op: OpLen} }
func (Requests[K, V]) Clear() Request[K, V]       { return Request[K, V]{Op: OpClear} }

// Result is the outcome of one request.
type Result[V Value] struct {
	Op  Op
	Err error // nil, or an *Error wrapping the request's status (ErrWrongKind, ErrInvalidUTF8, ErrOverflow...)
	// Found: the key was present before the request: Insert replaced a
	// value, Remove removed one, Get and Contains found the key.
	Found bool
	Seq   uint64 // the mutation's sequence number (0 if it changed nothing)
	Len   int    // the answer of Len
	Value V      // Get: the value (if Found); Add: the new value
}

// ---- submission ----

// Submit queues reqs as one batch, run in order by the owner thread, and
// returns its Ticket without waiting for it. If the queue is full it waits
// up to timeout for room (negative: forever; 0: fail at once, as
// TrySubmit) and then fails with ErrTimeout, having queued nothing.
// Malformed batches (empty, unknown op) fail here; kind and UTF-8 errors
// are reported per request in the results. Direct maps give ErrWrongKind.
// While it waits for room the goroutine holds an OS thread (a cgo call).
func (m *Map[K, V]) Submit(reqs []Request[K, V], timeout time.Duration) (*Ticket[K, V], error) {
	return m.submit("Map.Submit", reqs, timeoutUS(timeout))
}

// TrySubmit is Submit that fails at once with ErrQueueFull when the queue
// is full.
func (m *Map[K, V]) TrySubmit(reqs []Request[K, V]) (*Ticket[K, V], error) {
	return m.submit("Map.TrySubmit", reqs, 0)
}

// SubmitAsync is Submit with the results delivered on a channel: it
// receives the batch's results once, then is closed. Nothing needs closing.
func (m *Map[K, V]) SubmitAsync(reqs []Request[K, V], timeout time.Duration) (<-chan []Result[V], error) {
	t, err := m.submit("Map.SubmitAsync", reqs, timeoutUS(timeout))
	if err != nil {
		return nil, err
	}
	ch := make(chan []Result[V], 1)
	t.async = ch
	t.register()
	return ch, nil
}

func (m *Map[K, V]) submit(op string, reqs []Request[K, V], tus C.int64_t) (*Ticket[K, V], error) {
	h := m.handle()
	if h == 0 {
		return nil, closedErr(op)
	}
	if m.br == nil {
		return nil, &Error{Op: op, Err: ErrWrongKind, Detail: "not a bridge map (made by NewBridge)"}
	}
	if len(reqs) == 0 {
		return nil, &Error{Op: op, Err: ErrInvalidArgument, Detail: "a submission needs at least one request"}
	}
	for i := range reqs {
		if reqs[i].Op == OpUpdate {
			return nil, &Error{Op: op, Err: ErrInvalidArgument, Detail: fmt.Sprintf(
				"request %d: OpUpdate takes a callback and cannot be submitted: use Update", i)}
		}
	}
	// The fm_request array: for a few INT/FLOAT requests an array on the
	// stack (it holds no Go pointer); otherwise one C allocation, with the
	// key and value bytes after the records (no Go pointer may be stored
	// where C reads it; and large Go arrays of these pointer-typed records
	// would cost the GC a scan each).
	var cr []C.fm_request
	var a *cArena
	var small [smallBatch]C.fm_request
	if len(reqs) <= smallBatch && m.kl == lInt && (m.vl == lInt || m.vl == lFloat) {
		cr = small[:len(reqs)]
	} else {
		total := 0
		for i := range reqs {
			if m.kl != lInt {
				total += len(asBytes(m.kl, &reqs[i].Key))
			}
			if m.vl == lStr || m.vl == lBytes {
				total += len(asBytes(m.vl, &reqs[i].Value))
			}
		}
		if a = newArena(len(reqs), int(unsafe.Sizeof(C.fm_request{})), total); a == nil {
			return nil, oom(op)
		}
		defer a.free()
		cr = unsafe.Slice((*C.fm_request)(a.base), len(reqs))
	}
	ops := make([]Op, len(reqs))
	for i := range reqs {
		q, c := &reqs[i], &cr[i]
		*c = C.fm_request{op: C.uint32_t(q.Op)}
		ops[i] = q.Op
		if m.kl == lInt {
			c.key_int = m.keyInt(&q.Key)
		} else {
			c.key_ptr, c.key_len = a.put(asBytes(m.kl, &q.Key))
		}
		switch m.vl {
		case lInt:
			c.value_int = m.valInt(&q.Value)
		case lFloat:
			c.value_float = m.valFloat(&q.Value)
		default:
			c.value_ptr, c.value_len = a.put(asBytes(m.vl, &q.Value))
		}
	}
	r := C.fmgo_submit(h, &cr[0], C.size_t(len(reqs)), tus)
	if r.st != C.FM_OK {
		return nil, m.fail(op, r.st, r.err)
	}
	th := uint64(r.i)
	t := &Ticket[K, V]{vl: m.vl, ops: ops, br: m.br, done: make(chan struct{})}
	t.h.Store(th)
	t.clean = runtime.AddCleanup(t, freeTicket, th)
	return t, nil
}

func freeTicket(h uint64) { r := C.fmgo_ticket_free(C.fm_handle(h)); takeErr(r.err) }

// smallBatch: batches up to this size keep their C records on the stack.
const smallBatch = 8

// ---- tickets ----

// Ticket is the pending result of a submitted batch. Wait for it with
// Done, Wait or Results (which waits); Poll does not wait. Once the batch
// has run and been waited on, the results are copied into Go memory and
// the library's ticket is freed at once; Close is only needed to abandon
// a ticket that is never waited on (the batch still runs), and a GC
// cleanup frees a forgotten one. Safe for use by several goroutines.
type Ticket[K Key, V Value] struct {
	h     atomic.Uint64 // the C ticket; 0 once freed
	vl    layout
	ops   []Op
	br    *bridgeState
	done  chan struct{} // closed when fin
	clean runtime.Cleanup

	mu     sync.Mutex
	fin    bool // res/err are final
	closed bool // Close was called
	reg    bool // handed to the dispatcher
	res    []Result[V]
	err    error
	async  chan []Result[V] // SubmitAsync's channel
}

// Handle is the library's ticket handle (0 once freed).
func (t *Ticket[K, V]) Handle() uint64 { return t.h.Load() }

// Len is the number of requests in the batch.
func (t *Ticket[K, V]) Len() int { return len(t.ops) }

// Poll reports, without waiting, whether the batch has run.
func (t *Ticket[K, V]) Poll() bool {
	select {
	case <-t.done:
		return true
	default:
	}
	return t.fetch()
}

// Done returns a channel closed when the batch has run and its results
// are ready (or the ticket was closed).
func (t *Ticket[K, V]) Done() <-chan struct{} {
	t.register()
	return t.done
}

// Wait waits until the batch has run or ctx ends (ctx.Err() then). It
// returns ErrClosed if the ticket was closed first, and ErrReentrant when
// called from a callback running on the bridge's own owner thread (the
// batch could never run while the owner waits for it). The waiting
// goroutine holds no OS thread: after one short wait in the library, the
// bridge's dispatcher goroutine waits for it (see Done).
func (t *Ticket[K, V]) Wait(ctx context.Context) error {
	if !t.Poll() {
		// The short wait catches a batch about to finish without the hop
		// through the dispatcher, and is refused (FM_REENTRANT) on the
		// owner thread itself.
		if h := t.h.Load(); h != 0 {
			r := C.fmgo_ticket_wait(C.fm_handle(h), firstWait)
			detail := takeErr(r.err)
			switch r.st {
			case C.FM_OK:
				t.fetch()
			case C.FM_REENTRANT:
				return statusErr("Ticket.Wait", int32(r.st), detail)
			}
		}
		t.register()
		select {
		case <-t.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	return nil
}

// Results waits for the batch and returns one Result per request, in
// order. The slice is shared by every caller of Results: do not modify it.
func (t *Ticket[K, V]) Results() ([]Result[V], error) {
	if err := t.Wait(context.Background()); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.res, nil
}

// Close frees the library's ticket if the results were not collected yet
// (the batch still runs; its results are lost and Results returns
// ErrClosed); after the results were collected it changes nothing. A
// second Close returns ErrClosed.
func (t *Ticket[K, V]) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return closedErr("Ticket.Close")
	}
	t.closed = true
	if t.fin {
		return nil
	}
	t.finish(nil, closedErr("Ticket.Results"), false)
	return nil
}

// register hands the ticket to its bridge's dispatcher (once).
func (t *Ticket[K, V]) register() {
	t.mu.Lock()
	if t.reg || t.fin {
		t.mu.Unlock()
		return
	}
	t.reg = true
	t.mu.Unlock()
	t.br.add(t)
}

func (t *Ticket[K, V]) cHandle() uint64 { return t.h.Load() }

// abort ends an unfinished ticket with err (a failed wait).
func (t *Ticket[K, V]) abort(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.fin {
		t.finish(nil, err, false)
	}
}

// fetch copies the results of a finished batch into Go memory and frees
// the C ticket, and reports whether the ticket is finished. A batch that
// has not run yet (FM_TIMEOUT) leaves everything as it was.
func (t *Ticket[K, V]) fetch() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fin {
		return true
	}
	h := t.h.Load()
	n := len(t.ops)
	// A few results: an array on the stack (C writes C pointers into it,
	// which the cgo rules allow); more: a C allocation.
	var small [smallBatch]C.fm_result
	var crs []C.fm_result
	if n <= smallBatch {
		crs = small[:n]
	} else {
		p := C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(C.fm_result{})))
		if p == nil {
			t.finish(nil, oom("Ticket.Results"), false)
			return true
		}
		defer C.free(p)
		crs = unsafe.Slice((*C.fm_result)(p), n)
	}
	var freeAfter C.uint8_t
	if t.vl == lInt || t.vl == lFloat {
		freeAfter = 1 // no pointers in the results: free in the same crossing
	}
	r := C.fmgo_ticket_collect(C.fm_handle(h), &crs[0], C.size_t(n), freeAfter)
	if r.st == C.FM_TIMEOUT {
		return false
	}
	if r.st != C.FM_OK {
		t.finish(nil, statusErr("Ticket.Results", int32(r.st), takeErr(r.err)), false)
		return true
	}
	res := make([]Result[V], int(r.n))
	for i := range res {
		c, g := &crs[i], &res[i]
		g.Op = t.ops[i]
		if st := int32(c.status); st != cOK {
			g.Err = statusErr("Ticket.Results", st, fmt.Sprintf("request %d (%v)", i, g.Op))
			continue
		}
		g.Found = bool(c.flag)
		g.Seq = uint64(c.seq)
		g.Len = int(c.len)
		if !(g.Op == OpGet && g.Found || g.Op == OpAdd) {
			continue // no value
		}
		switch t.vl {
		case lInt:
			g.Value = fromInt[V](int64(c.value_int))
		case lFloat:
			g.Value = fromFloat[V](float64(c.value_float))
		default:
			g.Value = fromC[V](t.vl, c.value_ptr, c.value_len)
		}
	}
	t.finish(res, nil, r.b != 0)
	return true
}

// finish records the outcome, frees the C ticket (unless freed already),
// wakes the waiters; t.mu held.
func (t *Ticket[K, V]) finish(res []Result[V], err error, freed bool) {
	t.fin = true
	t.res, t.err = res, err
	if h := t.h.Swap(0); h != 0 {
		t.clean.Stop()
		if !freed {
			freeTicket(h)
		}
	}
	close(t.done)
	if t.async != nil {
		if res == nil {
			res = make([]Result[V], len(t.ops))
			for i := range res {
				res[i] = Result[V]{Op: t.ops[i], Err: err}
			}
		}
		t.async <- res
		close(t.async)
	}
}

// String describes the ticket.
func (t *Ticket[K, V]) String() string {
	return fmt.Sprintf("ferrymap.Ticket(handle=%#x, requests=%d)", t.h.Load(), len(t.ops))
}

// ---- the dispatcher ----

// dispatchSlice bounds one fm_ticket_wait of the dispatcher, so that it
// notices closed tickets and exits when nothing is waited on; it doubles,
// up to dispatchMaxSlice, while the same ticket stays pending.
const (
	dispatchSlice    = 20_000    // µs
	dispatchMaxSlice = 1_000_000 // µs
)

// firstWait is the wait (µs) a waiting goroutine makes itself before it
// hands the ticket to the dispatcher.
const firstWait = 2

// waited is a ticket the dispatcher waits for.
type waited interface {
	cHandle() uint64 // 0 once freed (closed or finished)
	fetch() bool
	abort(err error)
}

// bridgeState is the Go side of one bridge Map value: its dispatcher.
type bridgeState struct {
	mu      sync.Mutex
	queue   []waited // tickets waited on, in registration order
	running bool
}

func (b *bridgeState) add(w waited) {
	b.mu.Lock()
	b.queue = append(b.queue, w)
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		go b.dispatch()
	}
}

func (b *bridgeState) dispatch() {
	var last waited // the head of the previous round
	slice := C.int64_t(dispatchSlice)
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.running = false
			b.queue = nil
			b.mu.Unlock()
			return
		}
		head := b.queue[0]
		b.mu.Unlock()
		if head != last {
			last, slice = head, dispatchSlice
		}
		if h := head.cHandle(); h != 0 {
			r := C.fmgo_ticket_wait(C.fm_handle(h), slice)
			detail := takeErr(r.err)
			switch r.st {
			case C.FM_TIMEOUT:
				// Not run yet (or closed meanwhile: seen next round). A
				// stalled bridge is re-checked less and less often: each
				// wait in the library may start with a spin.
				slice = min(2*slice, dispatchMaxSlice)
				continue
			case C.FM_OK:
				head.fetch()
			default: // FM_INVALID_HANDLE after a concurrent Close: abort is then a no-op
				head.abort(statusErr("Ticket.Wait", int32(r.st), detail))
			}
		}
		b.mu.Lock()
		b.queue[0] = nil
		b.queue = b.queue[1:]
		b.mu.Unlock()
	}
}
