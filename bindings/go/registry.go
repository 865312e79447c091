package ferrymap

/*
#include "fmgo.h"
*/
import "C"

// HandleKind is the kind of object a handle names (fm_handle_kind).
type HandleKind uint32

const (
	HandleMap      HandleKind = C.FM_HANDLE_MAP
	HandleIterator HandleKind = C.FM_HANDLE_ITERATOR
	HandleView     HandleKind = C.FM_HANDLE_VIEW
	// Bridge mode: change-feed subscriptions and async tickets.
	HandleSubscription HandleKind = C.FM_HANDLE_SUBSCRIPTION
	HandleTicket       HandleKind = C.FM_HANDLE_TICKET
)

// Census returns the number of live handles of every kind together, in the
// whole process (all languages). Test suites check it is back to 0 at the
// end.
func Census() uint64 { return uint64(C.fm_census_total()) }

// CensusOf returns the number of live handles of one kind.
func CensusOf(kind HandleKind) (uint64, error) {
	r := C.fmgo_census(C.uint32_t(kind))
	if r.st != C.FM_OK {
		return 0, statusErr("CensusOf", int32(r.st), takeErr(r.err))
	}
	return uint64(r.i), nil
}

// RegistryID is the identity of the library copy this package talks to.
// C, Python and Java code in the process that see the same number share the
// registry, so handles pass between them.
func RegistryID() uint64 { return uint64(C.fm_registry_id()) }

// LibraryPath is the file the library was loaded from ("" if unknown).
func LibraryPath() string { return C.GoString(C.fm_library_path()) }

// Version is the library's version string, e.g. "0.1.0".
func Version() string { return C.GoString(C.fm_version_string()) }

// LibraryVersion is the library's version as major<<16 | minor<<8 | patch;
// compare with HeaderVersion.
func LibraryVersion() uint32 { return uint32(C.fm_version()) }
