package ferrymap

/*
#include <stdlib.h>
#include "fmgo.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Batch operations: one crossing into the library for N keys where the C
// API has a batch call for the map's kinds:
//
//	GetMany     INT→INT, INT→FLOAT (the Go slices' backing arrays are
//	            passed to C directly: no copy), STR/BYTES→INT
//	SetMany     every schema (INT→INT and INT→FLOAT without copying)
//	RemoveMany  every schema
//
// For the other GetMany schemas (STR/BYTES values, STR/BYTES→FLOAT) the C
// API has no batch lookup, so GetMany loops over Get.
//
// Passing a Go slice's backing array to C is legal under the cgo pointer
// rules: the memory holds no Go pointers and C does not keep it after the
// call. STR/BYTES keys and values are first copied into one C allocation
// (so no Go pointer is stored where C can see it).

func int64s[T any](s []T) *C.int64_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int64_t)(unsafe.Pointer(unsafe.SliceData(s)))
}

func float64s[T any](s []T) *C.double {
	if len(s) == 0 {
		return nil
	}
	return (*C.double)(unsafe.Pointer(unsafe.SliceData(s)))
}

// cArena is one C allocation holding n fixed-size records followed by
// byte strings.
type cArena struct {
	base unsafe.Pointer
	rec  uintptr // bytes of records
	off  uintptr // next free byte for strings
	size uintptr
}

func newArena(records, recSize, bytes int) *cArena {
	size := uintptr(records*recSize + bytes)
	if size == 0 {
		size = 1
	}
	p := C.malloc(C.size_t(size))
	if p == nil {
		return nil
	}
	return &cArena{base: p, rec: uintptr(records * recSize), off: uintptr(records * recSize), size: size}
}

func (a *cArena) free() { C.free(a.base) }

// put copies b into the arena and returns its C address (nil if empty).
func (a *cArena) put(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	dst := unsafe.Add(a.base, a.off)
	copy(unsafe.Slice((*byte)(dst), len(b)), b)
	a.off += uintptr(len(b))
	return (*C.uint8_t)(dst), C.size_t(len(b))
}

// bufKeys copies STR/BYTES keys into a C array of fm_buf.
func (m *Map[K, V]) bufKeys(keys []K) (*cArena, *C.fm_buf) {
	total := 0
	for i := range keys {
		total += len(asBytes(m.kl, &keys[i]))
	}
	a := newArena(len(keys), int(unsafe.Sizeof(C.fm_buf{})), total)
	if a == nil {
		return nil, nil
	}
	bufs := unsafe.Slice((*C.fm_buf)(a.base), len(keys))
	for i := range keys {
		bufs[i].ptr, bufs[i].len = a.put(asBytes(m.kl, &keys[i]))
	}
	return a, (*C.fm_buf)(a.base)
}

func oom(op string) error {
	return &Error{Op: op, Err: ErrOutOfMemory, Detail: "malloc failed for the batch"}
}

// GetMany looks up every key and returns the values (zero where absent)
// and which keys were found. See GetManyInto to reuse slices.
func (m *Map[K, V]) GetMany(keys []K) (values []V, found []bool, err error) {
	values = make([]V, len(keys))
	found = make([]bool, len(keys))
	if _, err = m.GetManyInto(keys, values, found); err != nil {
		return nil, nil, err
	}
	return values, found, nil
}

// GetManyInto looks up every key: for each i, values[i] is set and
// found[i] = true if keys[i] is present; otherwise values[i] is left as is
// and found[i] = false. found may be nil. It returns how many were found.
// values (and found, unless nil) must be at least as long as keys. Each
// lookup is linearizable on its own (the batch is not one instant).
func (m *Map[K, V]) GetManyInto(keys []K, values []V, found []bool) (int, error) {
	const op = "Map.GetMany"
	h := m.handle()
	if h == 0 {
		return 0, closedErr(op)
	}
	if len(values) < len(keys) || (found != nil && len(found) < len(keys)) {
		return 0, &Error{Op: op, Err: ErrInvalidArgument, Detail: fmt.Sprintf(
			"%d keys, %d values, %d found slots", len(keys), len(values), len(found))}
	}
	if len(keys) == 0 {
		return 0, nil
	}
	var fp *C.uint8_t
	if found != nil {
		fp = (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(found))) // bool is one byte, 0 or 1
	}
	n := C.size_t(len(keys))
	var r C.fmgo_r
	switch {
	case m.kl == lInt && m.vl == lInt:
		r = C.fmgo_get_many_i64_i64(h, int64s(keys), n, int64s(values), fp)
	case m.kl == lInt && m.vl == lFloat:
		r = C.fmgo_get_many_i64_f64(h, int64s(keys), n, float64s(values), fp)
	case m.vl == lInt:
		a, bufs := m.bufKeys(keys)
		if a == nil {
			return 0, oom(op)
		}
		r = C.fmgo_get_many_buf_i64(h, bufs, n, int64s(values), fp)
		a.free()
	default:
		count := 0
		for i := range keys {
			v, ok, err := m.Get(keys[i])
			if err != nil {
				return count, err
			}
			if ok {
				values[i] = v
				count++
			}
			if found != nil {
				found[i] = ok
			}
		}
		return count, nil
	}
	if r.st != C.FM_OK {
		return 0, m.fail(op, r.st, r.err)
	}
	return int(r.n), nil
}

// SetMany inserts keys[i] → values[i] for every i and returns how many
// replaced an existing value. For STR/BYTES kinds every entry is checked
// before any is inserted: one invalid UTF-8 string fails the whole call and
// changes nothing.
func (m *Map[K, V]) SetMany(keys []K, values []V) (replaced int, err error) {
	const op = "Map.SetMany"
	h := m.handle()
	if h == 0 {
		return 0, closedErr(op)
	}
	if len(values) != len(keys) {
		return 0, &Error{Op: op, Err: ErrInvalidArgument, Detail: fmt.Sprintf("%d keys, %d values", len(keys), len(values))}
	}
	if len(keys) == 0 {
		return 0, nil
	}
	n := C.size_t(len(keys))
	var r C.fmgo_r
	switch {
	case m.kl == lInt && m.vl == lInt:
		r = C.fmgo_insert_many_i64_i64(h, int64s(keys), int64s(values), n)
	case m.kl == lInt && m.vl == lFloat:
		r = C.fmgo_insert_many_i64_f64(h, int64s(keys), float64s(values), n)
	default:
		total := 0
		if m.kl != lInt {
			for i := range keys {
				total += len(asBytes(m.kl, &keys[i]))
			}
		}
		if m.vl == lStr || m.vl == lBytes {
			for i := range values {
				total += len(asBytes(m.vl, &values[i]))
			}
		}
		a := newArena(len(keys), int(unsafe.Sizeof(C.fm_entry{})), total)
		if a == nil {
			return 0, oom(op)
		}
		defer a.free()
		es := unsafe.Slice((*C.fm_entry)(a.base), len(keys))
		for i := range keys {
			e := &es[i]
			*e = C.fm_entry{}
			if m.kl == lInt {
				e.key_int = m.keyInt(&keys[i])
			} else {
				e.key_ptr, e.key_len = a.put(asBytes(m.kl, &keys[i]))
			}
			switch m.vl {
			case lInt:
				e.value_int = m.valInt(&values[i])
			case lFloat:
				e.value_float = m.valFloat(&values[i])
			default:
				e.value_ptr, e.value_len = a.put(asBytes(m.vl, &values[i]))
			}
		}
		r = C.fmgo_insert_many(h, (*C.fm_entry)(a.base), n)
	}
	if r.st != C.FM_OK {
		return 0, m.fail(op, r.st, r.err)
	}
	return int(r.n), nil
}

// RemoveMany removes every key and returns how many were present.
func (m *Map[K, V]) RemoveMany(keys []K) (removed int, err error) {
	const op = "Map.RemoveMany"
	h := m.handle()
	if h == 0 {
		return 0, closedErr(op)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	var r C.fmgo_r
	if m.kl == lInt {
		r = C.fmgo_remove_many_i64(h, int64s(keys), C.size_t(len(keys)))
	} else {
		a, bufs := m.bufKeys(keys)
		if a == nil {
			return 0, oom(op)
		}
		r = C.fmgo_remove_many_buf(h, bufs, C.size_t(len(keys)))
		a.free()
	}
	if r.st != C.FM_OK {
		return 0, m.fail(op, r.st, r.err)
	}
	return int(r.n), nil
}
