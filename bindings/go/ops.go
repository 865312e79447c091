package ferrymap

/*
#include "fmgo.h"
*/
import "C"

import "unsafe"

var emptyInput [1]byte

// Get looks k up: (value, true, nil) if present, (zero, false, nil) if not.
// The error is for real failures only: a closed map (ErrClosed), a map
// freed elsewhere (ErrInvalidHandle), a key that is not valid UTF-8 for a
// STR key kind (ErrInvalidUTF8). STR/BYTES values are copied into new Go
// memory; View avoids the copy.
func (m *Map[K, V]) Get(k K) (v V, ok bool, err error) {
	const op = "Map.Get"
	h := m.handle()
	if h == 0 {
		return v, false, closedErr(op)
	}
	var r C.fmgo_r
	if m.kl == lInt {
		switch m.vl {
		case lInt:
			r = C.fmgo_get_i64_i64(h, m.keyInt(&k))
		case lFloat:
			r = C.fmgo_get_i64_f64(h, m.keyInt(&k))
		default:
			return m.getBuf(h, &k)
		}
	} else {
		kp, kn := m.keyBuf(&k)
		switch m.vl {
		case lInt:
			r = C.fmgo_get_buf_i64(h, kp, kn)
		case lFloat:
			r = C.fmgo_get_buf_f64(h, kp, kn)
		default:
			return m.getBuf(h, &k)
		}
	}
	switch r.st {
	case C.FM_OK:
		if m.vl == lInt {
			return fromInt[V](int64(r.i)), true, nil
		}
		return fromFloat[V](float64(r.f)), true, nil
	case C.FM_NOT_FOUND:
		return v, false, nil
	}
	return v, false, m.fail(op, r.st, r.err)
}

// getBuf reads a STR/BYTES value into a Go buffer sized from the last value
// seen, growing it once if the library says it is too small.
func (m *Map[K, V]) getBuf(h C.fm_handle, k *K) (v V, ok bool, err error) {
	// hint holds the last length seen + 1 (0: none seen yet, guess 64).
	n := int(m.hint.Load()) - 1
	if n < 0 {
		n = 64
	}
	for {
		buf := make([]byte, n)
		bp := (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(buf)))
		var r C.fmgo_r
		if m.kl == lInt {
			r = C.fmgo_get_i64_buf(h, m.keyInt(k), bp, C.size_t(n))
		} else {
			kp, kn := m.keyBuf(k)
			r = C.fmgo_get_buf_buf(h, kp, kn, bp, C.size_t(n))
		}
		switch r.st {
		case C.FM_OK:
			got := int(r.n)
			if int64(got)+1 != m.hint.Load() {
				m.hint.Store(int64(got) + 1) // only on change: readers on many cores share it
			}
			if got < n/2 {
				buf = append([]byte(nil), buf[:got]...) // do not pin a large buffer
			}
			return fromBytes[V](m.vl, buf[:got:got]), true, nil
		case C.FM_NOT_FOUND:
			return v, false, nil
		case C.FM_BUFFER_TOO_SMALL:
			n = int(r.n) // the value may change again meanwhile: loop
			m.hint.Store(int64(n) + 1)
			continue
		}
		return v, false, m.fail("Map.Get", r.st, r.err)
	}
}

// Contains reports whether k is present.
func (m *Map[K, V]) Contains(k K) (bool, error) {
	const op = "Map.Contains"
	h := m.handle()
	if h == 0 {
		return false, closedErr(op)
	}
	var r C.fmgo_r
	if m.kl == lInt {
		r = C.fmgo_contains_i64(h, m.keyInt(&k))
	} else {
		kp, kn := m.keyBuf(&k)
		r = C.fmgo_contains_buf(h, kp, kn)
	}
	if r.st != C.FM_OK {
		return false, m.fail(op, r.st, r.err)
	}
	return r.b != 0, nil
}

// Set inserts or overwrites k → v and reports whether a value was replaced.
// The library copies STR/BYTES keys and values; the caller keeps its
// memory. For STR kinds, invalid UTF-8 gives ErrInvalidUTF8 and nothing is
// stored.
func (m *Map[K, V]) Set(k K, v V) (replaced bool, err error) {
	replaced, _, err = m.set("Map.Set", k, v, 0)
	return replaced, err
}

// set is Set, and with ws != 0 also the sequence number of the mutation
// (bridge maps; see SetSeq).
func (m *Map[K, V]) set(op string, k K, v V, ws C.uint8_t) (replaced bool, seq uint64, err error) {
	h := m.handle()
	if h == 0 {
		return false, 0, closedErr(op)
	}
	var r C.fmgo_r
	if m.kl == lInt {
		switch m.vl {
		case lInt:
			r = C.fmgo_insert_i64_i64(h, m.keyInt(&k), m.valInt(&v), ws)
		case lFloat:
			r = C.fmgo_insert_i64_f64(h, m.keyInt(&k), m.valFloat(&v), ws)
		default:
			vp, vn := m.valBuf(&v)
			r = C.fmgo_insert_i64_buf(h, m.keyInt(&k), vp, vn, ws)
		}
	} else {
		kp, kn := m.keyBuf(&k)
		switch m.vl {
		case lInt:
			r = C.fmgo_insert_buf_i64(h, kp, kn, m.valInt(&v), ws)
		case lFloat:
			r = C.fmgo_insert_buf_f64(h, kp, kn, m.valFloat(&v), ws)
		default:
			vp, vn := m.valBuf(&v)
			r = C.fmgo_insert_buf_buf(h, kp, kn, vp, vn, ws)
		}
	}
	if r.st != C.FM_OK {
		return false, 0, m.fail(op, r.st, r.err)
	}
	return r.b != 0, uint64(r.seq), nil
}

// Delete removes k and reports whether it was present.
func (m *Map[K, V]) Delete(k K) (removed bool, err error) {
	removed, _, err = m.del("Map.Delete", k, 0)
	return removed, err
}

func (m *Map[K, V]) del(op string, k K, ws C.uint8_t) (removed bool, seq uint64, err error) {
	h := m.handle()
	if h == 0 {
		return false, 0, closedErr(op)
	}
	var r C.fmgo_r
	if m.kl == lInt {
		r = C.fmgo_remove_i64(h, m.keyInt(&k), ws)
	} else {
		kp, kn := m.keyBuf(&k)
		r = C.fmgo_remove_buf(h, kp, kn, ws)
	}
	if r.st != C.FM_OK {
		return false, 0, m.fail(op, r.st, r.err)
	}
	if r.b == 0 {
		return false, 0, nil // nothing committed: fm_last_seq is an older mutation's
	}
	return true, uint64(r.seq), nil
}

// Len returns the number of entries (exact at an instant during the call).
func (m *Map[K, V]) Len() (int, error) {
	const op = "Map.Len"
	h := m.handle()
	if h == 0 {
		return 0, closedErr(op)
	}
	r := C.fmgo_map_len(h)
	if r.st != C.FM_OK {
		return 0, m.fail(op, r.st, r.err)
	}
	return int(r.n), nil
}

// Clear removes every entry at one instant. Open snapshots keep theirs.
func (m *Map[K, V]) Clear() error {
	_, err := m.clear("Map.Clear", 0)
	return err
}

func (m *Map[K, V]) clear(op string, ws C.uint8_t) (uint64, error) {
	h := m.handle()
	if h == 0 {
		return 0, closedErr(op)
	}
	r := C.fmgo_map_clear(h, ws)
	if r.st != C.FM_OK {
		return 0, m.fail(op, r.st, r.err)
	}
	return uint64(r.seq), nil
}

// Reserve makes room for n more entries.
func (m *Map[K, V]) Reserve(n int) error {
	const op = "Map.Reserve"
	h := m.handle()
	if h == 0 {
		return closedErr(op)
	}
	if n < 0 {
		return &Error{Op: op, Err: ErrInvalidArgument, Detail: "negative count"}
	}
	if r := C.fmgo_map_reserve(h, C.size_t(n)); r.st != C.FM_OK {
		return m.fail(op, r.st, r.err)
	}
	return nil
}

// Add adds delta to the INT or FLOAT value of k in one atomic step (an
// absent key starts at 0) and returns the new value. INT overflow gives
// ErrOverflow and changes nothing; STR/BYTES values give ErrWrongKind.
func (m *Map[K, V]) Add(k K, delta V) (V, error) {
	v, _, err := m.add("Map.Add", k, delta, 0)
	return v, err
}

func (m *Map[K, V]) add(op string, k K, delta V, ws C.uint8_t) (V, uint64, error) {
	var zero V
	h := m.handle()
	if h == 0 {
		return zero, 0, closedErr(op)
	}
	var r C.fmgo_r
	switch {
	case m.vl == lInt && m.kl == lInt:
		r = C.fmgo_add_i64_i64(h, m.keyInt(&k), m.valInt(&delta), ws)
	case m.vl == lFloat && m.kl == lInt:
		r = C.fmgo_add_i64_f64(h, m.keyInt(&k), m.valFloat(&delta), ws)
	case m.vl == lInt:
		kp, kn := m.keyBuf(&k)
		r = C.fmgo_add_buf_i64(h, kp, kn, m.valInt(&delta), ws)
	case m.vl == lFloat:
		kp, kn := m.keyBuf(&k)
		r = C.fmgo_add_buf_f64(h, kp, kn, m.valFloat(&delta), ws)
	default:
		return zero, 0, &Error{Op: op, Err: ErrWrongKind, Detail: "Add needs INT or FLOAT values, map has " + m.vk.String()}
	}
	if r.st != C.FM_OK {
		return zero, 0, m.fail(op, r.st, r.err)
	}
	if m.vl == lInt {
		return fromInt[V](int64(r.i)), uint64(r.seq), nil
	}
	return fromFloat[V](float64(r.f)), uint64(r.seq), nil
}

// Clone returns an independent copy with the same kinds and contents,
// owned by the caller. O(shards): the two share memory until either is
// written (copy-on-write).
func (m *Map[K, V]) Clone() (*Map[K, V], error) {
	const op = "Map.Clone"
	h := m.handle()
	if h == 0 {
		return nil, closedErr(op)
	}
	r := C.fmgo_map_clone(h)
	if r.st != C.FM_OK {
		return nil, m.fail(op, r.st, r.err)
	}
	return wrap[K, V](uint64(r.i), m.kk, m.vk, true), nil
}

// Stats are figures about one map (fm_stats).
type Stats struct {
	Len           uint64  // entries
	Capacity      uint64  // slots allocated over all shards
	MemoryBytes   uint64  // bytes used by tables, keys and values
	LoadFactor    float64 // Len / Capacity
	OpenIterators uint64  // snapshots made from this map still open
	OpenViews     uint64  // views made from this map still open
	Writes        uint64  // mutations applied (reads are not counted)
}

// Stats returns figures about the map (shards may be read at slightly
// different instants while others write).
func (m *Map[K, V]) Stats() (Stats, error) {
	const op = "Map.Stats"
	h := m.handle()
	if h == 0 {
		return Stats{}, closedErr(op)
	}
	var s C.fm_stats
	r := C.fmgo_map_stats(h, &s)
	if r.st != C.FM_OK {
		return Stats{}, m.fail(op, r.st, r.err)
	}
	return Stats{
		Len: uint64(s.len), Capacity: uint64(s.capacity), MemoryBytes: uint64(s.memory_bytes),
		LoadFactor: float64(s.load_factor), OpenIterators: uint64(s.open_iterators),
		OpenViews: uint64(s.open_views), Writes: uint64(s.writes),
	}, nil
}

// Export serialises a snapshot of the map into the versioned, checksummed
// format of the C API (fm_export), copied into Go memory. Writers are not
// blocked meanwhile.
func (m *Map[K, V]) Export() ([]byte, error) {
	const op = "Map.Export"
	h := m.handle()
	if h == 0 {
		return nil, closedErr(op)
	}
	r := C.fmgo_export(h)
	if r.st != C.FM_OK {
		return nil, m.fail(op, r.st, r.err)
	}
	out := cBytes(r.p, r.n)
	if rr := C.fmgo_view_release(C.fm_handle(r.i)); rr.st != C.FM_OK {
		return nil, statusErr(op, int32(rr.st), takeErr(rr.err))
	}
	return out, nil
}

// Import builds a new map, owned by the caller, from Export output (made by
// any language). The data is untrusted: corruption gives ErrCorruptData, a
// newer format ErrUnsupportedVersion, and no map is made. The map's kinds
// must fit K and V (ErrWrongKind otherwise, and nothing is kept).
func Import[K Key, V Value](data []byte) (*Map[K, V], error) {
	const op = "Import"
	p, n := bytesArg(data)
	if n == 0 {
		// fm_import(NULL, 0) answers FM_NULL_ARGUMENT although the header
		// allows NULL with length 0; pass a real address so empty input
		// gets the library's own verdict (FM_CORRUPT_DATA).
		p = (*C.uint8_t)(unsafe.Pointer(&emptyInput))
	}
	r := C.fmgo_import(p, n)
	if r.st != C.FM_OK {
		return nil, statusErr(op, int32(r.st), takeErr(r.err))
	}
	h := uint64(r.i)
	kk, vk, err := schemaOf(op, h)
	if err == nil && (!fits(layoutOf[K](), kk) || !fits(layoutOf[V](), vk)) {
		err = &Error{Op: op, Err: ErrWrongKind, Detail: "data holds a " + kk.String() + "→" + vk.String() + " map"}
	}
	if err != nil {
		freeMap(h)
		return nil, err
	}
	return wrap[K, V](h, kk, vk, true), nil
}
