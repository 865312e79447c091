package ferrymap

/*
#include "fmgo.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// The sync.Map method set: the same names and meanings, each one atomic on
// its key against every goroutine, thread and language using the map, with
// an error added for what a sync.Map cannot meet (a closed map, a map freed
// elsewhere, a STR key or value that is not UTF-8). Values compare as the
// library compares them: INT by value, FLOAT by bits (NaN matches the same
// NaN; 0.0 does not match -0.0), STR and BYTES by their bytes.
//
// Delete keeps the binding's signature, (removed bool, err error), a
// superset of sync.Map's.

// Load returns the value stored for k, if any (Get under sync.Map's name).
func (m *Map[K, V]) Load(k K) (value V, ok bool, err error) { return m.Get(k) }

// Store sets the value for k.
func (m *Map[K, V]) Store(k K, v V) error {
	_, err := m.Set(k, v)
	return err
}

// cond is the key and value arguments of a conditional write in the form
// the fmgo shims take.
type cond struct {
	kl C.uint8_t
	ki C.int64_t
	kp *C.uint8_t
	kn C.size_t
	vl C.uint8_t
}

func (m *Map[K, V]) condKey(k *K) cond {
	c := cond{kl: C.uint8_t(m.kl), vl: C.uint8_t(m.vl)}
	if m.kl == lInt {
		c.ki = m.keyInt(k)
	} else {
		c.kp, c.kn = m.keyBuf(k)
	}
	return c
}

func (m *Map[K, V]) condVal(v *V) C.fmgo_val {
	var x C.fmgo_val
	switch m.vl {
	case lInt:
		x.i = m.valInt(v)
	case lFloat:
		x.f = m.valFloat(v)
	default:
		x.p, x.n = m.valBuf(v)
	}
	return x
}

// handedBack reads a value a shim handed back: r.i, r.f, or buf[:r.n].
func (m *Map[K, V]) handedBack(r C.fmgo_r, buf []byte) V {
	switch m.vl {
	case lInt:
		return fromInt[V](int64(r.i))
	case lFloat:
		return fromFloat[V](float64(r.f))
	}
	got := int(r.n)
	return fromBytes[V](m.vl, append([]byte(nil), buf[:got]...))
}

// withValueBuffer runs call with a buffer for a STR/BYTES value handed
// back, growing it and calling again while the library says it is too
// small (a too-small buffer changes nothing).
func (m *Map[K, V]) withValueBuffer(call func(bp *C.uint8_t, n C.size_t) C.fmgo_r) (C.fmgo_r, []byte) {
	n := 64
	if m.vl == lInt || m.vl == lFloat {
		n = 0
	}
	for {
		buf := make([]byte, n+1) // never empty: a valid pointer
		r := call((*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(buf))), C.size_t(n))
		if r.st != C.FM_BUFFER_TOO_SMALL {
			return r, buf
		}
		n = int(r.n)
	}
}

// LoadOrStore returns the existing value for k if present (loaded true);
// otherwise it stores v and returns it (loaded false). One atomic step.
func (m *Map[K, V]) LoadOrStore(k K, v V) (actual V, loaded bool, err error) {
	const op = "Map.LoadOrStore"
	h := m.handle()
	if h == 0 {
		return actual, false, closedErr(op)
	}
	c, x := m.condKey(&k), m.condVal(&v)
	r, buf := m.withValueBuffer(func(bp *C.uint8_t, n C.size_t) C.fmgo_r {
		return C.fmgo_get_or_insert(h, c.kl, c.ki, c.kp, c.kn, c.vl, x, bp, n)
	})
	if r.st != C.FM_OK {
		return actual, false, m.fail(op, r.st, r.err)
	}
	if r.b != 0 {
		return v, false, nil
	}
	return m.handedBack(r, buf), true, nil
}

// LoadAndDelete deletes k and returns the value it had, if any. One atomic
// step: the value returned is the one deleted.
func (m *Map[K, V]) LoadAndDelete(k K) (value V, loaded bool, err error) {
	const op = "Map.LoadAndDelete"
	h := m.handle()
	if h == 0 {
		return value, false, closedErr(op)
	}
	c := m.condKey(&k)
	r, buf := m.withValueBuffer(func(bp *C.uint8_t, n C.size_t) C.fmgo_r {
		return C.fmgo_take(h, c.kl, c.ki, c.kp, c.kn, c.vl, bp, n)
	})
	switch r.st {
	case C.FM_OK:
		return m.handedBack(r, buf), true, nil
	case C.FM_NOT_FOUND:
		return value, false, nil
	}
	return value, false, m.fail(op, r.st, r.err)
}

// Swap stores v for k and returns the value it replaced, if any. One
// atomic step.
func (m *Map[K, V]) Swap(k K, v V) (previous V, loaded bool, err error) {
	const op = "Map.Swap"
	h := m.handle()
	if h == 0 {
		return previous, false, closedErr(op)
	}
	c, x := m.condKey(&k), m.condVal(&v)
	r, buf := m.withValueBuffer(func(bp *C.uint8_t, n C.size_t) C.fmgo_r {
		return C.fmgo_swap(h, c.kl, c.ki, c.kp, c.kn, c.vl, x, bp, n)
	})
	if r.st != C.FM_OK {
		return previous, false, m.fail(op, r.st, r.err)
	}
	if r.b == 0 {
		return previous, false, nil
	}
	return m.handedBack(r, buf), true, nil
}

// CompareAndSwap stores new for k if its value equals old. An absent key
// is not swapped. One atomic step.
func (m *Map[K, V]) CompareAndSwap(k K, old, new V) (swapped bool, err error) {
	const op = "Map.CompareAndSwap"
	h := m.handle()
	if h == 0 {
		return false, closedErr(op)
	}
	c, e, x := m.condKey(&k), m.condVal(&old), m.condVal(&new)
	r := C.fmgo_compare_and_swap(h, c.kl, c.ki, c.kp, c.kn, c.vl, e, x)
	switch r.st {
	case C.FM_OK:
		return r.b != 0, nil
	case C.FM_NOT_FOUND:
		return false, nil
	}
	return false, m.fail(op, r.st, r.err)
}

// CompareAndDelete deletes k if its value equals old. An absent key is not
// deleted. One atomic step.
func (m *Map[K, V]) CompareAndDelete(k K, old V) (deleted bool, err error) {
	const op = "Map.CompareAndDelete"
	h := m.handle()
	if h == 0 {
		return false, closedErr(op)
	}
	c, e := m.condKey(&k), m.condVal(&old)
	r := C.fmgo_remove_if_equal(h, c.kl, c.ki, c.kp, c.kn, c.vl, e)
	switch r.st {
	case C.FM_OK:
		return r.b != 0, nil
	case C.FM_NOT_FOUND:
		return false, nil
	}
	return false, m.fail(op, r.st, r.err)
}

// Range calls f for each key and value of a snapshot taken now, until f
// returns false. Writes made meanwhile by anyone are not seen and never
// disturb it (sync.Map's Range gives no snapshot; this one does).
func (m *Map[K, V]) Range(f func(k K, v V) bool) error {
	s, err := m.Snapshot()
	if err != nil {
		return err
	}
	defer s.Close()
	for k, v := range s.All() {
		if !f(k, v) {
			break
		}
	}
	return s.Err()
}

// ComputeOp is what a Compute function decides.
type ComputeOp int

const (
	// ComputeKeep leaves the key as it is (absent stays absent).
	ComputeKeep ComputeOp = iota
	// ComputeSet stores the returned value (inserting the key if absent).
	ComputeSet
	// ComputeDelete removes the key.
	ComputeDelete
)

// Compute calls fn with k's value (loaded false, old the zero value, when
// k is absent) while no other write to k can happen, and applies what it
// decides: keep, store a new value of any length, or delete. It returns
// the value present afterwards and whether there is one. fn runs on this
// goroutine for a direct map (on the bridge's owner thread for a bridge
// map) while the key's shard is locked: keep it short, and do not call
// into this map from it (that returns ErrReentrant). A panic in fn changes
// nothing and is raised again here.
func (m *Map[K, V]) Compute(k K, fn func(old V, loaded bool) (newValue V, op ComputeOp)) (actual V, ok bool, err error) {
	const op = "Map.Compute"
	h := m.handle()
	if h == 0 {
		return actual, false, closedErr(op)
	}
	vl := m.vl
	var decided ComputeOp
	var result V
	c := &callbackCtx{}
	c.compute = func(cur []byte, present bool) ([]byte, C.int32_t) {
		var old V
		if present {
			if vl == lInt || vl == lFloat {
				copy(unsafe.Slice((*byte)(unsafe.Pointer(&old)), 8), cur)
			} else {
				old = fromBytes[V](vl, append([]byte{}, cur...))
			}
		}
		nv, d := fn(old, present)
		decided = d
		switch d {
		case ComputeSet:
			result = nv
			if vl == lInt || vl == lFloat {
				return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&nv)), 8)...), C.FM_COMPUTE_SET
			}
			return asBytes(vl, &nv), C.FM_COMPUTE_SET
		case ComputeDelete:
			return nil, C.FM_COMPUTE_REMOVE
		}
		result = old
		return nil, C.FM_COMPUTE_KEEP
	}
	ch := cgo.NewHandle(c)
	defer ch.Delete()
	ck := m.condKey(&k)
	r := C.fmgo_compute(h, ck.kl, ck.ki, ck.kp, ck.kn, C.uintptr_t(ch))
	if c.panicked {
		takeErr(r.err)
		panic(c.pval)
	}
	if c.err != nil {
		takeErr(r.err)
		return actual, false, c.err
	}
	if r.st != C.FM_OK {
		return actual, false, m.fail(op, r.st, r.err)
	}
	if r.b == 0 || decided == ComputeDelete {
		return actual, false, nil
	}
	return result, true, nil
}
