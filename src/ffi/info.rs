//! Library-wide calls: version, status strings, last error, registry
//! identity, census.

use std::ffi::c_char;

use super::{boundary, boundary_value, Out};
use crate::registry::{self, fm_handle_kind};
use crate::status::*;

/// The library's version as `major << 16 | minor << 8 | patch`; compare it
/// with `FM_VERSION` from the header to detect a mismatched library.
/// Threads: any.
#[no_mangle]
pub extern "C" fn fm_version() -> u32 {
    crate::api::version()
}

/// The library's version as a static NUL-terminated string ("0.1.0").
/// Lifetime: static; never free it. Threads: any.
#[no_mangle]
pub extern "C" fn fm_version_string() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// A static NUL-terminated description of a status code; unknown codes get
/// "unknown status". Lifetime: static; never free it. Threads: any.
#[no_mangle]
pub extern "C" fn fm_status_str(status: i32) -> *const c_char {
    fm_status::from_raw(status)
        .map_or(c"unknown status", fm_status::as_cstr)
        .as_ptr()
}

/// The calling thread's last error message (NUL-terminated; "" if none yet).
/// Successful calls and FM_NOT_FOUND / FM_END do not change it.
/// Lifetime: until the next failing ferrymap call on this thread; copy it to
/// keep it. Never NULL. Threads: any (each thread has its own).
#[no_mangle]
pub extern "C" fn fm_last_error() -> *const c_char {
    last_error_ptr()
}

/// This copy of the library's registry identity: a random non-zero number,
/// different for every copy loaded in the process. Two languages that get
/// the same number share one registry, so their handles are interchangeable.
/// Threads: any.
#[no_mangle]
pub extern "C" fn fm_registry_id() -> u64 {
    boundary_value(0, || Ok(registry::id()))
}

/// The path of the file this copy of the library was loaded from
/// (NUL-terminated; "" if the loader cannot tell). Lifetime: static.
/// Threads: any.
#[no_mangle]
pub extern "C" fn fm_library_path() -> *const c_char {
    crate::api::library_path().as_ptr()
}

/// Writes the number of live handles of `kind` (an `fm_handle_kind`) to
/// `*count`. Every test suite checks this is back to 0 at its end.
/// `count` must not be NULL. Threads: any. The count reads every handle
/// slot ever used (a rare, diagnostic call: its cost grows with the most
/// handles alive at once); it is exact when no other thread creates or
/// frees handles during the call, and otherwise counts each slot as it was
/// when read.
///
/// # Safety
/// `count` must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_census(kind: u32, count: *mut u64) -> fm_status {
    boundary(|| {
        let out = Out::required(count, "count")?;
        let kind = fm_handle_kind::from_raw(kind).ok_or_else(|| {
            Error::new(FM_INVALID_ARGUMENT, format!("unknown handle kind {kind}"))
        })?;
        out.write(registry::census(kind));
        Ok(())
    })
}

/// The number of live handles of every kind together, counted as
/// `fm_census` counts them (one pass over the handle slots). Threads: any.
#[no_mangle]
pub extern "C" fn fm_census_total() -> u64 {
    boundary_value(0, || Ok(registry::census_total()))
}
