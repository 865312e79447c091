package ferrymap

/*
#include "fmgo.h"
*/
import "C"

import (
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Key is the set of Go key types: int64 or uint64 (INT kind; a uint64 is
// stored as its bit pattern), string (STR, validated UTF-8, or BYTES) and
// []byte (BYTES, or STR). Named types over these work too.
type Key interface {
	~int64 | ~uint64 | ~string | ~[]byte
}

// Value is the set of Go value types: int64 or uint64 (INT), float64
// (FLOAT), string (STR or BYTES) and []byte (BYTES or STR).
type Value interface {
	~int64 | ~uint64 | ~float64 | ~string | ~[]byte
}

// Kind is a key or value kind of the C API (fm_kind).
type Kind uint32

const (
	KindInt   Kind = C.FM_INT   // 64-bit integer
	KindFloat Kind = C.FM_FLOAT // IEEE 754 double (values only)
	KindStr   Kind = C.FM_STR   // UTF-8 text, validated on the way in
	KindBytes Kind = C.FM_BYTES // arbitrary bytes
)

func (k Kind) String() string {
	switch k {
	case KindInt:
		return "INT"
	case KindFloat:
		return "FLOAT"
	case KindStr:
		return "STR"
	case KindBytes:
		return "BYTES"
	}
	return fmt.Sprintf("Kind(%d)", uint32(k))
}

// layout is how a Go type is laid out in memory, which is all the binding
// needs to convert it: the constraint admits nothing else.
type layout uint8

const (
	lInt   layout = iota + 1 // int64, uint64
	lFloat                   // float64
	lStr                     // string
	lBytes                   // []byte
)

func layoutOf[T any]() layout {
	t := reflect.TypeFor[T]()
	switch t.Kind() {
	case reflect.Int64, reflect.Uint64:
		return lInt
	case reflect.Float64:
		return lFloat
	case reflect.String:
		return lStr
	case reflect.Slice:
		return lBytes
	}
	panic("ferrymap: unsupported type " + t.String())
}

// naturalKind is the kind New picks for a Go layout.
func naturalKind(l layout) Kind {
	switch l {
	case lInt:
		return KindInt
	case lFloat:
		return KindFloat
	case lStr:
		return KindStr
	}
	return KindBytes
}

// fits says whether a Go layout can carry a C kind: integers and floats
// only their own kind; string and []byte either STR or BYTES (both are
// bytes in Go; STR is checked for UTF-8 by the library on the way in).
func fits(l layout, k Kind) bool {
	switch l {
	case lInt:
		return k == KindInt
	case lFloat:
		return k == KindFloat
	default:
		return k == KindStr || k == KindBytes
	}
}

// Map is a ferrymap hash map seen from Go: a 64-bit handle into the one
// registry of the process, typed with Go key and value types.
//
// Every method may be called from any goroutine at the same time, and the
// same map may be used from C, Python or Java meanwhile (pass Handle()).
// Methods report real failures as errors wrapping a sentinel (see Status);
// a missing key is a false bool, never an error. After Close, methods return
// an error wrapping ErrClosed.
//
// A bridge map (NewBridge) is a Map too: every method works on it, each
// call running on the bridge's owner thread (bridge.go).
//
// Ownership: a map made by New, Clone or Import is owned by this Map value:
// Close frees it, and if it becomes unreachable without Close a cleanup
// (runtime.AddCleanup) frees it as a backstop. A map obtained with Attach
// belongs to someone else: Close only detaches this Go value and never
// frees it, unless Adopt was called. Disown hands ownership away.
type Map[K Key, V Value] struct {
	h     atomic.Uint64 // 0 once closed
	kk    Kind
	vk    Kind
	kl    layout
	vl    layout
	hint  atomic.Int64 // 1 + last STR/BYTES value length seen by Get (0: none yet)
	mu    sync.Mutex   // Close, Adopt, Disown
	owned bool
	clean runtime.Cleanup
	hasCl bool
	br    *bridgeState // bridge maps only (nil for a direct map)
}

// New makes a map whose kinds follow the type parameters: int64/uint64 →
// INT, float64 → FLOAT, string → STR, []byte → BYTES. capacity is a hint
// (0 is fine).
func New[K Key, V Value](capacity int) (*Map[K, V], error) {
	kl, vl := layoutOf[K](), layoutOf[V]()
	return NewKinds[K, V](naturalKind(kl), naturalKind(vl), capacity)
}

// NewKinds makes a map with explicit kinds, for the cases the types do not
// decide: a string key or value stored as BYTES (no UTF-8 check), or a
// []byte stored as STR (checked). The Go types must fit the kinds
// (ErrWrongKind otherwise).
func NewKinds[K Key, V Value](keyKind, valueKind Kind, capacity int) (*Map[K, V], error) {
	const op = "New"
	kl, vl := layoutOf[K](), layoutOf[V]()
	if !fits(kl, keyKind) || !fits(vl, valueKind) || valueKind == 0 {
		return nil, &Error{Op: op, Err: ErrWrongKind, Detail: fmt.Sprintf(
			"Go types %s→%s do not fit kinds %v→%v", reflect.TypeFor[K](), reflect.TypeFor[V](), keyKind, valueKind)}
	}
	if capacity < 0 {
		return nil, &Error{Op: op, Err: ErrInvalidArgument, Detail: "negative capacity"}
	}
	r := C.fmgo_map_new(C.uint32_t(keyKind), C.uint32_t(valueKind), C.size_t(capacity))
	if r.st != C.FM_OK {
		return nil, statusErr(op, int32(r.st), takeErr(r.err))
	}
	return wrap[K, V](uint64(r.i), keyKind, valueKind, true), nil
}

func wrap[K Key, V Value](h uint64, kk, vk Kind, owned bool) *Map[K, V] {
	return wrapMode[K, V](h, kk, vk, owned, false)
}

func wrapMode[K Key, V Value](h uint64, kk, vk Kind, owned, bridge bool) *Map[K, V] {
	m := &Map[K, V]{kk: kk, vk: vk, kl: layoutOf[K](), vl: layoutOf[V]()}
	if bridge {
		m.br = &bridgeState{}
	}
	m.h.Store(h)
	if owned {
		m.own(h)
	}
	return m
}

// own makes the Go value responsible for freeing h; m.mu held or m private.
func (m *Map[K, V]) own(h uint64) {
	m.owned = true
	m.clean = runtime.AddCleanup(m, freeMap, h)
	m.hasCl = true
}

func freeMap(h uint64) { r := C.fmgo_map_free(C.fm_handle(h)); takeErr(r.err) }

// Attach gives a Go view of a map made elsewhere (C, Python, Java, or
// another Go value): h is its handle. The map's kinds must fit K and V
// (ErrWrongKind otherwise); a stale, forged, double-freed or non-map handle
// gives ErrInvalidHandle or ErrWrongKind. The attached Map does not own the
// map: Close detaches without freeing, and no cleanup frees it. Whoever
// made it frees it; if they do while Go still uses it, Go calls get
// ErrInvalidHandle (never a crash). Call Adopt to take ownership.
func Attach[K Key, V Value](h uint64) (*Map[K, V], error) {
	kk, vk, err := schemaOf("Attach", h)
	if err != nil {
		return nil, err
	}
	kl, vl := layoutOf[K](), layoutOf[V]()
	if !fits(kl, kk) || !fits(vl, vk) {
		return nil, &Error{Op: "Attach", Err: ErrWrongKind, Detail: fmt.Sprintf(
			"map has kinds %v→%v, Go types are %s→%s", kk, vk, reflect.TypeFor[K](), reflect.TypeFor[V]())}
	}
	return wrapMode[K, V](h, kk, vk, false, isBridgeHandle(h)), nil
}

// Schema returns the key and value kinds of the map named by handle h,
// whatever language made it.
func Schema(h uint64) (key, value Kind, err error) { return schemaOf("Schema", h) }

func schemaOf(op string, h uint64) (Kind, Kind, error) {
	r := C.fmgo_map_schema(C.fm_handle(h))
	if r.st != C.FM_OK {
		return 0, 0, statusErr(op, int32(r.st), takeErr(r.err))
	}
	return Kind(r.i), Kind(r.n), nil
}

// Handle returns the map's 64-bit handle (0 once closed), to pass to C,
// Python or Java in this process. Passing it does not transfer ownership:
// the receiver must not free it unless the Go side calls Disown.
func (m *Map[K, V]) Handle() uint64 { return m.h.Load() }

// Kinds returns the map's key and value kinds.
func (m *Map[K, V]) Kinds() (key, value Kind) { return m.kk, m.vk }

// Owned reports whether Close (or the cleanup) frees the map.
func (m *Map[K, V]) Owned() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.owned
}

// Adopt makes this Go value the owner of an attached map: Close frees it,
// and so does a cleanup if the Map is dropped without Close. The previous
// owner must no longer free it.
func (m *Map[K, V]) Adopt() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.h.Load()
	if h == 0 {
		return closedErr("Map.Adopt")
	}
	if !m.owned {
		m.own(h)
	}
	return nil
}

// Disown gives up ownership and returns the handle: Go will no longer free
// the map (neither Close nor the cleanup); whoever receives the handle
// must free it (fm_map_free). The Map stays usable, as if attached.
func (m *Map[K, V]) Disown() (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.h.Load()
	if h == 0 {
		return 0, closedErr("Map.Disown")
	}
	if m.hasCl {
		m.clean.Stop()
		m.hasCl = false
	}
	m.owned = false
	return h, nil
}

// Close frees an owned map (see Map) or detaches an attached one. Calls
// other goroutines are making finish normally; later calls return
// ErrClosed. Snapshots and Views made from the map stay valid. A second
// Close returns ErrClosed; closing an owned map that someone else already
// freed returns ErrInvalidHandle.
//
// On an owned bridge map Close drains: every request the bridge accepted
// before (synchronous calls and submitted batches, from any language) runs
// and is answered, then the owner thread exits; Close waits for all that.
// It must not be called from an Update or ForEach callback of the same
// bridge (ErrReentrant), nor while such a callback waits for something
// that needs the Close to return.
func (m *Map[K, V]) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.h.Swap(0)
	if h == 0 {
		return closedErr("Map.Close")
	}
	if m.hasCl {
		m.clean.Stop()
		m.hasCl = false
	}
	if !m.owned {
		return nil
	}
	m.owned = false
	r := C.fmgo_map_free(C.fm_handle(h))
	if r.st == C.FM_REENTRANT {
		// A bridge closed from its own owner thread (a callback): nothing
		// was closed, so the Go value stays open and owning.
		m.h.Store(h)
		m.own(h)
	}
	if r.st != C.FM_OK {
		return statusErr("Map.Close", int32(r.st), takeErr(r.err))
	}
	return nil
}

// handle loads the handle for an operation; 0 means closed.
func (m *Map[K, V]) handle() C.fm_handle { return C.fm_handle(m.h.Load()) }

// fail builds the error for a failed call. An invalid handle on a map this
// Go value has closed meanwhile is reported as ErrClosed. Using m here also
// keeps the Map reachable (so its cleanup cannot run) until the call ended.
func (m *Map[K, V]) fail(op string, st C.int32_t, errp *C.char) error {
	detail := takeErr(errp)
	if (int32(st) == int32(StatusInvalidHandle) || int32(st) == int32(StatusClosed)) && m.h.Load() == 0 {
		// FM_CLOSED: a bridge map this Go value is closing (draining) or closed.
		return closedErr(op)
	}
	return statusErr(op, int32(st), detail)
}

// ---- conversions between Go types and C arguments ----
//
// The Go layout (kl, vl) was checked when the Map was made, so these
// reinterpret K and V through unsafe without any type switch or boxing.

func (m *Map[K, V]) keyInt(k *K) C.int64_t { return C.int64_t(*(*int64)(unsafe.Pointer(k))) }

func (m *Map[K, V]) keyBuf(k *K) (*C.uint8_t, C.size_t) {
	if m.kl == lStr {
		return strArg(*(*string)(unsafe.Pointer(k)))
	}
	return bytesArg(*(*[]byte)(unsafe.Pointer(k)))
}

func (m *Map[K, V]) valInt(v *V) C.int64_t  { return C.int64_t(*(*int64)(unsafe.Pointer(v))) }
func (m *Map[K, V]) valFloat(v *V) C.double { return C.double(*(*float64)(unsafe.Pointer(v))) }
func (m *Map[K, V]) valBuf(v *V) (*C.uint8_t, C.size_t) {
	if m.vl == lStr {
		return strArg(*(*string)(unsafe.Pointer(v)))
	}
	return bytesArg(*(*[]byte)(unsafe.Pointer(v)))
}

func fromInt[T any](i int64) T        { return *(*T)(unsafe.Pointer(&i)) }
func fromFloat[T any](f float64) T    { return *(*T)(unsafe.Pointer(&f)) }
func fromString[T any](s string) T    { return *(*T)(unsafe.Pointer(&s)) }
func fromByteSlice[T any](b []byte) T { return *(*T)(unsafe.Pointer(&b)) }

// fromBytes makes a K or V of string or []byte layout from Go-owned bytes
// that nobody else references (no copy for []byte; for string the bytes
// become the string's and are never written again).
func fromBytes[T any](l layout, b []byte) T {
	if l == lStr {
		if len(b) == 0 {
			return fromString[T]("")
		}
		return fromString[T](unsafe.String(unsafe.SliceData(b), len(b)))
	}
	return fromByteSlice[T](b)
}

// fromC copies C bytes into a K or V of string or []byte layout.
func fromC[T any](l layout, p *C.uint8_t, n C.size_t) T {
	if l == lStr {
		return fromString[T](cString(p, n))
	}
	return fromByteSlice[T](cBytes(p, n))
}

// asBytes views a K or V of string or []byte layout as bytes (no copy; the
// result must not be written).
func asBytes[T any](l layout, v *T) []byte {
	if l == lStr {
		s := *(*string)(unsafe.Pointer(v))
		return unsafe.Slice(unsafe.StringData(s), len(s))
	}
	return *(*[]byte)(unsafe.Pointer(v))
}
