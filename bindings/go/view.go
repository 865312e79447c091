package ferrymap

/*
#include "fmgo.h"
*/
import "C"

import (
	"sync/atomic"
	"unsafe"
)

// View is a zero-copy, read-only window onto a STR/BYTES value stored in a
// map (fm_view_*). Its bytes stay valid and unchanged until Release, even
// if the key is overwritten or removed or the map is freed meanwhile.
//
// A View is not freed by the garbage collector: Bytes points into C memory
// the Go runtime cannot track, so releasing it behind the caller's back
// could leave a live []byte dangling. Release every View (a forgotten one
// shows in Census and in the map's Stats().OpenViews, it never corrupts
// memory).
type View struct {
	h atomic.Uint64
	p *C.uint8_t
	n int
}

// View opens a view of k's value. The map must have STR or BYTES values
// (ErrWrongKind otherwise). ok is false if k is absent.
func (m *Map[K, V]) View(k K) (v *View, ok bool, err error) {
	const op = "Map.View"
	h := m.handle()
	if h == 0 {
		return nil, false, closedErr(op)
	}
	var r C.fmgo_r
	if m.kl == lInt {
		r = C.fmgo_view_i64(h, m.keyInt(&k))
	} else {
		kp, kn := m.keyBuf(&k)
		r = C.fmgo_view_buf(h, kp, kn)
	}
	switch r.st {
	case C.FM_OK:
		v = &View{p: r.p, n: int(r.n)}
		v.h.Store(uint64(r.i))
		return v, true, nil
	case C.FM_NOT_FOUND:
		return nil, false, nil
	}
	return nil, false, m.fail(op, r.st, r.err)
}

// Bytes returns the value's bytes without copying: a slice over memory
// owned by the library (built with unsafe.Slice on the C pointer). It is
// valid until Release and must not be written to, nor used after Release
// (it then points to freed memory). Returns nil after Release.
func (v *View) Bytes() []byte {
	if v.h.Load() == 0 || v.n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(v.p)), v.n)
}

// String returns a Go copy of the bytes ("" after Release).
func (v *View) String() string {
	return string(v.Bytes())
}

// Len is the number of bytes.
func (v *View) Len() int { return v.n }

// Handle is the view's handle (0 once released).
func (v *View) Handle() uint64 { return v.h.Load() }

// Release releases the view; Bytes must not be used afterwards. A second
// Release returns ErrClosed.
func (v *View) Release() error {
	h := v.h.Swap(0)
	if h == 0 {
		return closedErr("View.Release")
	}
	r := C.fmgo_view_release(C.fm_handle(h))
	if r.st != C.FM_OK {
		return statusErr("View.Release", int32(r.st), takeErr(r.err))
	}
	return nil
}
