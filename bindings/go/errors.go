package ferrymap

/*
#include "ferrymap.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
)

// Status is an fm_status code from the C API. The error codes are also the
// package's sentinel errors (ErrInvalidHandle and so on): every error this
// package returns wraps one of them, so errors.Is works:
//
//	if _, _, err := m.Get(k); errors.Is(err, ferrymap.ErrInvalidHandle) { ... }
//
// Not found is never an error: the operations report it with a bool.
type Status int32

// The fm_status codes (fixed numbers, never reused).
const (
	StatusOK                 Status = 0
	StatusNotFound           Status = 1
	StatusNullArgument       Status = 2
	StatusInvalidHandle      Status = 3
	StatusWrongKind          Status = 4
	StatusInvalidUTF8        Status = 5
	StatusBufferTooSmall     Status = 6
	StatusInvalidArgument    Status = 7
	StatusCorruptData        Status = 8
	StatusReentrant          Status = 9
	StatusOutOfMemory        Status = 10
	StatusOverflow           Status = 11
	StatusEnd                Status = 12
	StatusCallbackStopped    Status = 13
	StatusUnsupportedVersion Status = 14
	StatusInternalError      Status = 15
	StatusClosed             Status = 16 // FM_CLOSED: the bridge map is closed
	StatusTimeout            Status = 17 // FM_TIMEOUT
	StatusQueueFull          Status = 18 // FM_QUEUE_FULL
	StatusBridgeFailed       Status = 19 // FM_BRIDGE_FAILED
)

// Error returns the library's static description of the code.
func (s Status) Error() string {
	return "ferrymap: " + C.GoString(C.fm_status_str(C.int32_t(s)))
}

// Sentinel errors, for errors.Is. Each is the Status of that code.
var (
	// ErrInvalidHandle: the handle is 0, forged, stale (freed), double-freed,
	// or from another copy of the library.
	ErrInvalidHandle error = StatusInvalidHandle
	// ErrWrongKind: the handle names another kind of object, or the call
	// does not fit the map's key or value kinds (Attach to a map of other
	// kinds, Add on a STR map, View on an INT value...).
	ErrWrongKind error = StatusWrongKind
	// ErrInvalidUTF8: a key or value for a STR kind was not valid UTF-8.
	ErrInvalidUTF8 error = StatusInvalidUTF8
	// ErrInvalidArgument: an argument is out of range (unknown kind, absurd
	// length, slices of different lengths, an Update that changed the length
	// of a STR/BYTES value).
	ErrInvalidArgument error = StatusInvalidArgument
	// ErrCorruptData: Import data is truncated, corrupted or inconsistent.
	ErrCorruptData error = StatusCorruptData
	// ErrUnsupportedVersion: Import data from a newer format version.
	ErrUnsupportedVersion error = StatusUnsupportedVersion
	// ErrReentrant: a callback (Update, ForEach) called into its own map.
	ErrReentrant error = StatusReentrant
	// ErrOutOfMemory: an allocation failed or a size limit was reached.
	ErrOutOfMemory error = StatusOutOfMemory
	// ErrOverflow: an integer Add overflowed; the value was left unchanged.
	ErrOverflow error = StatusOverflow
	// ErrNullArgument: a required pointer was NULL (a bug in this binding
	// if it ever reaches a Go caller).
	ErrNullArgument error = StatusNullArgument
	// ErrInternal: a bug inside ferrymap was caught at the boundary.
	ErrInternal error = StatusInternalError

	// ErrClosed: the Go object (Map, Snapshot, View, Ticket, Subscription)
	// was closed or released through this package. It is a Go-side state,
	// not an fm_status. A call that was already under way on a bridge map
	// when this Go value closed it also gets ErrClosed.
	ErrClosed = errors.New("ferrymap: closed")

	// Bridge mode (bridge.go).

	// ErrBridgeClosed (FM_CLOSED): the bridge map was closed by someone
	// else (another Go value, C, Python or Java freed it) and did not accept
	// the request; or, from a Subscription, the feed has ended: the bridge
	// is closed and every event was delivered.
	ErrBridgeClosed error = StatusClosed
	// ErrTimeout (FM_TIMEOUT): a wait ended first (a Submit on a full queue,
	// Ticket or Subscription waits). Nothing was queued by a timed-out Submit.
	ErrTimeout error = StatusTimeout
	// ErrQueueFull (FM_QUEUE_FULL): TrySubmit found the queue full; nothing
	// was queued.
	ErrQueueFull error = StatusQueueFull
	// ErrBridgeFailed (FM_BRIDGE_FAILED): the bridge's owner thread caught
	// a panic (a bug in ferrymap); the bridge accepts no more work, Close
	// still works.
	ErrBridgeFailed error = StatusBridgeFailed
)

// Error is the error type every operation returns: the operation, the
// sentinel it wraps (a Status, or ErrClosed) and the detail message the
// library recorded for the failure (fm_last_error, read on the thread that
// failed), if any.
type Error struct {
	Op     string // the Go method, e.g. "Map.Get"
	Err    error  // a Status or ErrClosed
	Detail string // fm_last_error() text, or a Go-side explanation
}

func (e *Error) Error() string {
	what := strings.TrimPrefix(e.Err.Error(), "ferrymap: ")
	switch {
	case e.Detail == "":
		return fmt.Sprintf("ferrymap: %s: %s", e.Op, what)
	case strings.HasPrefix(e.Detail, what):
		// The library's message already starts with the code's description.
		return fmt.Sprintf("ferrymap: %s: %s", e.Op, e.Detail)
	}
	return fmt.Sprintf("ferrymap: %s: %s: %s", e.Op, what, e.Detail)
}

// Unwrap gives the sentinel, so errors.Is(err, ErrWrongKind) works.
func (e *Error) Unwrap() error { return e.Err }

// Status gives the fm_status code (StatusOK for ErrClosed, which has none).
func (e *Error) Status() Status {
	var s Status
	if errors.As(e.Err, &s) {
		return s
	}
	return StatusOK
}

func statusErr(op string, st int32, detail string) error {
	return &Error{Op: op, Err: Status(st), Detail: detail}
}

func closedErr(op string) error {
	return &Error{Op: op, Err: ErrClosed}
}
