package ferrymap

/*
#include "fmgo.h"
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"unsafe"
)

// Update runs fn on the value of k and stores what fn leaves in *v, as one
// atomic step under the map's guard (fm_update_*): no other writer of that
// key can slip in between the read and the write, and readers see either
// the old or the new value. fn returns true to store, false to leave the
// value unchanged. Update reports whether k was present (fn is not called
// if it is absent).
//
// fn runs on the calling goroutine while the key's shard is locked: keep
// it short, and do not wait in it for other goroutines that write to the
// same map. A call from fn into the same map returns ErrReentrant (other
// maps are fine). A panic in fn leaves the value unchanged and is raised
// again from Update.
//
// STR/BYTES values: fn gets a Go copy; the C API updates in place, so the
// new value must have the same length in bytes (ErrInvalidArgument
// otherwise, value unchanged), and a STR value must stay valid UTF-8
// (ErrInvalidUTF8).
func (m *Map[K, V]) Update(k K, fn func(v *V) bool) (found bool, err error) {
	found, _, err = m.update("Map.Update", k, fn, 0)
	return found, err
}

func (m *Map[K, V]) update(op string, k K, fn func(v *V) bool, ws C.uint8_t) (found bool, seq uint64, err error) {
	h := m.handle()
	if h == 0 {
		return false, 0, closedErr(op)
	}
	c := &callbackCtx{}
	vl := m.vl
	c.update = func(p unsafe.Pointer, n int) (bool, error) {
		if vl == lInt || vl == lFloat {
			var v V
			word := unsafe.Slice((*byte)(p), 8) // may be unaligned: copy bytes
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&v)), 8), word)
			if !fn(&v) {
				return false, nil
			}
			copy(word, unsafe.Slice((*byte)(unsafe.Pointer(&v)), 8))
			return true, nil
		}
		cur := unsafe.Slice((*byte)(p), n)
		v := fromBytes[V](vl, append([]byte{}, cur...))
		if !fn(&v) {
			return false, nil
		}
		nb := asBytes(vl, &v)
		if len(nb) != n {
			return false, &Error{Err: ErrInvalidArgument, Detail: fmt.Sprintf( // Op set below
				"Update cannot change the length of a %v value (%d → %d bytes): the C API updates in place; use Set", m.vk, n, len(nb))}
		}
		copy(cur, nb)
		return true, nil
	}
	ch := cgo.NewHandle(c)
	defer ch.Delete()
	var r C.fmgo_r
	if m.kl == lInt {
		r = C.fmgo_update_i64(h, m.keyInt(&k), C.uintptr_t(ch), ws)
	} else {
		kp, kn := m.keyBuf(&k)
		r = C.fmgo_update_buf(h, kp, kn, C.uintptr_t(ch), ws)
	}
	if c.panicked {
		takeErr(r.err)
		panic(c.pval)
	}
	if c.err != nil {
		takeErr(r.err)
		if e, ok := c.err.(*Error); ok {
			e.Op = op
		}
		return true, 0, c.err
	}
	switch r.st {
	case C.FM_OK:
		return true, uint64(r.seq), nil
	case C.FM_NOT_FOUND:
		return false, 0, nil
	case C.FM_CALLBACK_STOPPED:
		takeErr(r.err)
		return true, 0, nil // left unchanged: nothing committed
	}
	return false, 0, m.fail(op, r.st, r.err)
}

// ForEach calls fn for every entry of a snapshot of the map (fm_for_each),
// on the calling goroutine, until fn returns false. Keys and values are Go
// copies. A call from fn into the same map returns ErrReentrant; use All
// (which does not hold the library inside a callback) to write to the map
// while iterating. A panic in fn stops the walk and is raised again.
func (m *Map[K, V]) ForEach(fn func(k K, v V) bool) error {
	const op = "Map.ForEach"
	h := m.handle()
	if h == 0 {
		return closedErr(op)
	}
	c := &callbackCtx{forEach: func(e *C.fm_entry) bool {
		return fn(entryKey[K](m.kl, e), entryVal[V](m.vl, e))
	}}
	ch := cgo.NewHandle(c)
	defer ch.Delete()
	r := C.fmgo_for_each(h, C.uintptr_t(ch))
	if c.panicked {
		takeErr(r.err)
		panic(c.pval)
	}
	switch r.st {
	case C.FM_OK:
		return nil
	case C.FM_CALLBACK_STOPPED:
		takeErr(r.err)
		return nil
	}
	return m.fail(op, r.st, r.err)
}

// entryKey and entryVal copy an fm_entry's key and value into Go values.
func entryKey[K any](l layout, e *C.fm_entry) K {
	if l == lInt {
		return fromInt[K](int64(e.key_int))
	}
	return fromC[K](l, e.key_ptr, e.key_len)
}

func entryVal[V any](l layout, e *C.fm_entry) V {
	switch l {
	case lInt:
		return fromInt[V](int64(e.value_int))
	case lFloat:
		return fromFloat[V](float64(e.value_float))
	}
	return fromC[V](l, e.value_ptr, e.value_len)
}
