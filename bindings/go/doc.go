// Package ferrymap is the Go binding of ferrymap: hash maps that live in
// one shared library (libferrymap.so) and are shared by handle between Go,
// C, Python and Java code in the same process, without copying.
//
// A Map is a typed Go value around a 64-bit handle:
//
//	m, err := ferrymap.New[int64, string](0)  // INT keys → STR values
//	defer m.Close()
//	m.Set(42, "answer")
//	v, ok, err := m.Get(42)                   // "answer", true, nil
//	C.use_from_c(C.fm_handle(m.Handle()))     // the same map, from C
//
// Key types: int64, uint64, string, []byte (and named types over them).
// Value types: int64, uint64, float64, string, []byte. New picks the kinds
// from the types (string → STR, which must be valid UTF-8; []byte →
// BYTES); NewKinds chooses them explicitly.
//
// # Semantics
//
// Every method may be called from any goroutine concurrently, and from
// other languages on the same handle. Not found is a bool; errors are real
// failures and wrap a sentinel usable with errors.Is (ErrInvalidHandle,
// ErrWrongKind, ErrInvalidUTF8, ErrClosed, ErrCorruptData, ErrReentrant,
// ErrOverflow, ...), with the library's detail message.
//
// Iteration (for k, v := range m.All()) runs over a snapshot: exactly the
// entries present when the loop started, each once, while any goroutine or
// language keeps writing. This is the case that makes a Go map crash with
// "concurrent map iteration and map write".
//
// # Bridge mode
//
// NewBridge makes a bridge map: every operation runs on one owner thread of
// the library, fed by a bounded queue, so all mutations form one total order
// with sequence numbers (SetSeq, BridgeSeq...). It is still a *Map: every
// method works on it. On top: asynchronous batches (Submit, TrySubmit,
// SubmitAsync → Ticket or channel), backpressure (ErrQueueFull, ErrTimeout),
// a change feed (Subscribe → Next, Events channel, exact loss counts), and a
// Close that drains. See bridge.go, ticket.go and feed.go.
//
// # Ownership
//
// New, Clone and Import return owned maps: Close frees them, and a cleanup
// (runtime.AddCleanup) frees an owned map that becomes unreachable without
// Close. Attach wraps a handle made elsewhere without owning it; Adopt
// takes ownership, Disown gives it away. Handle() never transfers
// ownership by itself. Views (zero-copy []byte) must be Released
// explicitly; they are never released behind the caller's back.
//
// # Linking
//
// Import path github.com/ferrymap/ferrymap/bindings/go. By default the
// header and the library come from an installed C package through
// pkg-config (`#cgo pkg-config: ferrymap`; set PKG_CONFIG_PATH to
// PREFIX/lib/pkgconfig for a prefix pkg-config does not search). The build
// tag ferrymap_intree uses this repository's bindings/c and target/release
// instead (scripts/build-core), and ferrymap_external leaves the flags to
// CGO_CFLAGS and CGO_LDFLAGS (link_*.go). The whole process must load one
// libferrymap: that is what makes handles valid across languages
// (RegistryID tells which copy a package talks to). At init the package
// refuses a library of another major version than its header (version.go).
//
// # cgo rules
//
// No Go pointer is kept by C beyond a call. Keys and values are passed as
// pointers to Go memory that holds no Go pointers, for the duration of the
// call; batch calls of INT keys pass the slices' backing arrays the same
// way; STR/BYTES batches are copied into C memory first. Callbacks (Update,
// ForEach) receive a runtime/cgo.Handle, not a pointer. The package passes
// go vet and runs its tests with GODEBUG=cgocheck=1 and the race detector.
package ferrymap
