package ferrymap

// Callbacks from C into Go. This file holds only the exported trampolines
// (a file with //export may only declare things in its preamble); the C
// shims that call them are in capi.go.
//
// The C side gets a runtime/cgo.Handle (an integer) as its context, never
// a Go pointer, and the handle is deleted when the call returns: C keeps
// nothing of Go's after the call. A panic in the Go callback is recovered
// in the trampoline (it must not unwind through the Rust library), the
// callback reports "stop" and the panic is raised again in Go once the C
// call has returned.

/*
#include <stdlib.h>
#include <string.h>
#include "ferrymap.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// callbackCtx is what a cgo.Handle names during Update or ForEach.
type callbackCtx struct {
	update   func(p unsafe.Pointer, n int) (store bool, err error)
	forEach  func(e *C.fm_entry) bool
	compute  func(cur []byte, present bool) (store []byte, rc C.int32_t)
	err      error // a Go-side failure to report after the call
	panicked bool
	pval     any
}

//export fmgoUpdateTrampoline
func fmgoUpdateTrampoline(ctx C.uintptr_t, value *C.uint8_t, n C.size_t) (rc C.int32_t) {
	c := cgo.Handle(ctx).Value().(*callbackCtx)
	defer func() {
		if p := recover(); p != nil {
			c.panicked, c.pval = true, p
			rc = 1
		}
	}()
	store, err := c.update(unsafe.Pointer(value), int(n))
	if err != nil {
		c.err = err
		return 1
	}
	if !store {
		return 1
	}
	return 0
}

//export fmgoForEachTrampoline
func fmgoForEachTrampoline(ctx C.uintptr_t, e *C.fm_entry) (rc C.int32_t) {
	c := cgo.Handle(ctx).Value().(*callbackCtx)
	defer func() {
		if p := recover(); p != nil {
			c.panicked, c.pval = true, p
			rc = 1
		}
	}()
	if !c.forEach(e) {
		return 1
	}
	return 0
}

//export fmgoComputeTrampoline
func fmgoComputeTrampoline(ctx C.uintptr_t, cur *C.uint8_t, n C.size_t, out **C.uint8_t, outLen *C.size_t) (rc C.int32_t) {
	c := cgo.Handle(ctx).Value().(*callbackCtx)
	defer func() {
		if p := recover(); p != nil {
			c.panicked, c.pval = true, p
			rc = -1
		}
	}()
	var current []byte
	if cur != nil {
		current = unsafe.Slice((*byte)(unsafe.Pointer(cur)), int(n))
	}
	store, rc := c.compute(current, cur != nil)
	if rc == C.FM_COMPUTE_SET {
		// A C copy: C may not keep Go memory after this function returns.
		p := (*C.uint8_t)(C.malloc(C.size_t(len(store)) + 1))
		if p == nil {
			c.err = &Error{Err: ErrOutOfMemory, Detail: "no memory for the computed value"}
			return -1
		}
		if len(store) > 0 {
			C.memcpy(unsafe.Pointer(p), unsafe.Pointer(unsafe.SliceData(store)), C.size_t(len(store)))
		}
		*out, *outLen = p, C.size_t(len(store))
	}
	return rc
}
