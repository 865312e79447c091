package ferrymap

// The C side of the binding: thin static wrappers around the fm_* calls.
//
// Why wrappers instead of calling fm_* directly:
//
//   - fm_last_error() is thread-local. A goroutine may move to another OS
//     thread between two cgo calls, so the message must be read inside the
//     same C call that failed. Each wrapper copies it (malloc) on failure and
//     Go frees it after reading.
//   - Results come back in a struct returned by value instead of through
//     out-pointers, so the hot paths pass no Go pointer at all.
//   - The update and for_each wrappers plug in the exported Go trampolines
//     (callback.go) and carry a runtime/cgo.Handle as an integer, so no Go
//     pointer is ever given to C as a callback context.
//
// Every wrapper that takes a pointer and cannot call back into Go is
// declared noescape (C never keeps a pointer beyond the call: the header's
// OWNERSHIP convention), so Go may leave the pointed-to memory on the
// stack. The callback wrappers (update, for_each) are not: a callback may
// grow and move the goroutine stack while C still holds the key pointer.
// Every wrapper that cannot call back into Go is declared nocallback.
//
// Where ferrymap.h and libferrymap come from is set by one of the link_*.go
// files, chosen by build tag: pkg-config by default, the checkout with
// ferrymap_intree, the caller's CGO_CFLAGS/CGO_LDFLAGS with
// ferrymap_external.

/*
#cgo CFLAGS: -I${SRCDIR} -O2

#cgo noescape fmgo_insert_i64_buf
#cgo noescape fmgo_insert_buf_i64
#cgo noescape fmgo_insert_buf_f64
#cgo noescape fmgo_insert_buf_buf
#cgo noescape fmgo_get_i64_buf
#cgo noescape fmgo_get_buf_i64
#cgo noescape fmgo_get_buf_f64
#cgo noescape fmgo_get_buf_buf
#cgo noescape fmgo_contains_buf
#cgo noescape fmgo_remove_buf
#cgo noescape fmgo_add_buf_i64
#cgo noescape fmgo_add_buf_f64
#cgo noescape fmgo_view_buf
#cgo noescape fmgo_import
#cgo noescape fmgo_map_stats
#cgo noescape fmgo_insert_many_i64_i64
#cgo noescape fmgo_insert_many_i64_f64
#cgo noescape fmgo_insert_many
#cgo noescape fmgo_get_many_i64_i64
#cgo noescape fmgo_get_many_i64_f64
#cgo noescape fmgo_get_many_buf_i64
#cgo noescape fmgo_remove_many_i64
#cgo noescape fmgo_remove_many_buf
#cgo noescape fmgo_iter_next_batch
#cgo noescape fmgo_iter_next_i64
#cgo noescape fmgo_submit
#cgo noescape fmgo_ticket_collect
#cgo noescape fmgo_sub_next

#cgo nocallback fmgo_map_new
#cgo nocallback fmgo_map_free
#cgo nocallback fmgo_map_len
#cgo nocallback fmgo_map_clear
#cgo nocallback fmgo_map_reserve
#cgo nocallback fmgo_map_clone
#cgo nocallback fmgo_map_schema
#cgo nocallback fmgo_map_stats
#cgo nocallback fmgo_insert_i64_i64
#cgo nocallback fmgo_insert_i64_f64
#cgo nocallback fmgo_insert_i64_buf
#cgo nocallback fmgo_insert_buf_i64
#cgo nocallback fmgo_insert_buf_f64
#cgo nocallback fmgo_insert_buf_buf
#cgo nocallback fmgo_get_i64_i64
#cgo nocallback fmgo_get_i64_f64
#cgo nocallback fmgo_get_i64_buf
#cgo nocallback fmgo_get_buf_i64
#cgo nocallback fmgo_get_buf_f64
#cgo nocallback fmgo_get_buf_buf
#cgo nocallback fmgo_contains_i64
#cgo nocallback fmgo_contains_buf
#cgo nocallback fmgo_remove_i64
#cgo nocallback fmgo_remove_buf
#cgo nocallback fmgo_add_i64_i64
#cgo nocallback fmgo_add_i64_f64
#cgo nocallback fmgo_add_buf_i64
#cgo nocallback fmgo_add_buf_f64
#cgo nocallback fmgo_insert_many_i64_i64
#cgo nocallback fmgo_insert_many_i64_f64
#cgo nocallback fmgo_insert_many
#cgo nocallback fmgo_get_many_i64_i64
#cgo nocallback fmgo_get_many_i64_f64
#cgo nocallback fmgo_get_many_buf_i64
#cgo nocallback fmgo_remove_many_i64
#cgo nocallback fmgo_remove_many_buf
#cgo nocallback fmgo_iter_new
#cgo nocallback fmgo_iter_len
#cgo nocallback fmgo_iter_next_batch
#cgo nocallback fmgo_iter_next_i64
#cgo nocallback fmgo_iter_free
#cgo nocallback fmgo_view_i64
#cgo nocallback fmgo_view_buf
#cgo nocallback fmgo_view_release
#cgo nocallback fmgo_export
#cgo nocallback fmgo_import
#cgo nocallback fmgo_census
#cgo nocallback fmgo_bridge_new
#cgo nocallback fmgo_bridge_status
#cgo nocallback fmgo_bridge_seq
#cgo nocallback fmgo_submit
#cgo nocallback fmgo_ticket_wait
#cgo nocallback fmgo_ticket_collect
#cgo nocallback fmgo_ticket_free
#cgo nocallback fmgo_subscribe
#cgo nocallback fmgo_sub_next
#cgo nocallback fmgo_sub_free

#include "fmgo.h"
*/
import "C"

import "unsafe"

// Kinds and handle kinds from the header, as Go constants.
const (
	cOK             = int32(C.FM_OK)
	cNotFound       = int32(C.FM_NOT_FOUND)
	cBufferTooSmall = int32(C.FM_BUFFER_TOO_SMALL)
	cEnd            = int32(C.FM_END)
	cStopped        = int32(C.FM_CALLBACK_STOPPED)
)

// HeaderVersion is the version of ferrymap.h this package was compiled
// against, as major<<16 | minor<<8 | patch (FM_VERSION).
const HeaderVersion = uint32(C.FM_VERSION)

// bufArg returns the C pointer and length for Go-owned bytes. The bytes are
// Go memory without Go pointers, which cgo allows passing for one call.
func bytesArg(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b))), C.size_t(len(b))
}

func strArg(s string) (*C.uint8_t, C.size_t) {
	if len(s) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}

// takeErr turns the malloc'd message of a failed call into a Go string and
// frees it.
func takeErr(p *C.char) string {
	if p == nil {
		return ""
	}
	s := C.GoString(p)
	C.free(unsafe.Pointer(p))
	return s
}

// cBytes copies n bytes at a C pointer into a new Go slice (never nil).
func cBytes(p *C.uint8_t, n C.size_t) []byte {
	b := make([]byte, int(n))
	if n > 0 {
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	}
	return b
}

// cString copies n bytes at a C pointer into a new Go string.
func cString(p *C.uint8_t, n C.size_t) string {
	if n == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
}
