//! Status codes, the error type the core returns, and the per-thread
//! "last error" message the C ABI exposes.
//!
//! Codes have fixed numbers forever: a code is never renumbered and a retired
//! code stays reserved (listed as a comment) so that bindings compiled against
//! an older header keep meaning the same thing.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::{CStr, CString};

/// Result of every ferrymap call. `FM_OK` (0) is success; everything else
/// says what went wrong. `fm_status_str` turns a code into a static string and
/// `fm_last_error` gives the details of the last failure on the calling thread.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum fm_status {
    /// Success.
    FM_OK = 0,
    /// The key is not in the map (a normal outcome, not an error: no message is recorded).
    FM_NOT_FOUND = 1,
    /// A pointer argument that must not be NULL was NULL.
    FM_NULL_ARGUMENT = 2,
    /// The handle is 0, forged, stale (already freed), or from another copy of the library.
    FM_INVALID_HANDLE = 3,
    /// The handle names an object of another kind (an iterator where a map was
    /// expected), or the call does not fit the map's key or value kind.
    FM_WRONG_KIND = 4,
    /// A STR key or value was not valid UTF-8. Nothing was stored.
    FM_INVALID_UTF8 = 5,
    /// The output buffer is too small; the size needed was written to the length out-parameter.
    FM_BUFFER_TOO_SMALL = 6,
    /// An argument is out of range: an unknown kind, an absurd length or capacity.
    FM_INVALID_ARGUMENT = 7,
    /// Import data is truncated, corrupted or inconsistent. No map was created.
    FM_CORRUPT_DATA = 8,
    /// A callback called back into the map it was called for.
    FM_REENTRANT = 9,
    /// An allocation failed or a size limit was reached.
    FM_OUT_OF_MEMORY = 10,
    /// An integer add overflowed; the value was left unchanged.
    FM_OVERFLOW = 11,
    /// An iterator has no more entries.
    FM_END = 12,
    /// A callback returned non-zero and the operation stopped (or, for update,
    /// left the value unchanged).
    FM_CALLBACK_STOPPED = 13,
    /// Import data was written by a newer, unknown format version.
    FM_UNSUPPORTED_VERSION = 14,
    /// A bug inside ferrymap was caught at the boundary (a Rust panic). The
    /// object involved is left in a consistent state; please report it.
    FM_INTERNAL_ERROR = 15,
    /// The bridge map is closed (freed): the request was not accepted.
    FM_CLOSED = 16,
    /// A wait ended before the event it waited for (a full queue, a ticket, a subscription).
    FM_TIMEOUT = 17,
    /// A try-submit found the bridge queue full; nothing was queued.
    FM_QUEUE_FULL = 18,
    /// The bridge's owner thread caught a panic; the bridge accepts no more work.
    FM_BRIDGE_FAILED = 19,
    // 20..=31 are reserved for bridge mode.
}

pub use fm_status::*;

impl fm_status {
    /// The static description of a code, NUL-terminated.
    pub fn as_cstr(self) -> &'static CStr {
        match self {
            FM_OK => c"ok",
            FM_NOT_FOUND => c"key not found",
            FM_NULL_ARGUMENT => c"a required pointer argument was NULL",
            FM_INVALID_HANDLE => {
                c"invalid handle (zero, forged, stale, freed, or from another registry)"
            }
            FM_WRONG_KIND => c"wrong kind of handle, key or value for this call",
            FM_INVALID_UTF8 => c"string is not valid UTF-8",
            FM_BUFFER_TOO_SMALL => c"output buffer too small; required length written",
            FM_INVALID_ARGUMENT => c"invalid argument",
            FM_CORRUPT_DATA => c"import data is corrupt or truncated",
            FM_REENTRANT => c"re-entrant call into a map from its own callback",
            FM_OUT_OF_MEMORY => c"out of memory or size limit reached",
            FM_OVERFLOW => c"integer overflow; value unchanged",
            FM_END => c"iterator exhausted",
            FM_CALLBACK_STOPPED => c"callback asked to stop",
            FM_UNSUPPORTED_VERSION => c"unsupported export format version",
            FM_INTERNAL_ERROR => c"internal error (caught panic)",
            FM_CLOSED => c"bridge map is closed",
            FM_TIMEOUT => c"timed out",
            FM_QUEUE_FULL => c"bridge queue is full",
            FM_BRIDGE_FAILED => c"bridge owner thread failed",
        }
    }

    /// The static description of a code.
    pub fn as_str(self) -> &'static str {
        // The texts are ASCII.
        self.as_cstr().to_str().unwrap_or("")
    }

    /// Maps a raw integer (as a C caller may pass) back to a code.
    pub fn from_raw(raw: i32) -> Option<fm_status> {
        const ALL: [fm_status; 20] = [
            FM_OK,
            FM_NOT_FOUND,
            FM_NULL_ARGUMENT,
            FM_INVALID_HANDLE,
            FM_WRONG_KIND,
            FM_INVALID_UTF8,
            FM_BUFFER_TOO_SMALL,
            FM_INVALID_ARGUMENT,
            FM_CORRUPT_DATA,
            FM_REENTRANT,
            FM_OUT_OF_MEMORY,
            FM_OVERFLOW,
            FM_END,
            FM_CALLBACK_STOPPED,
            FM_UNSUPPORTED_VERSION,
            FM_INTERNAL_ERROR,
            FM_CLOSED,
            FM_TIMEOUT,
            FM_QUEUE_FULL,
            FM_BRIDGE_FAILED,
        ];
        ALL.iter().copied().find(|s| *s as i32 == raw)
    }
}

/// An error from the core: a code plus an optional detail message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub status: fm_status,
    pub message: Cow<'static, str>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(status: fm_status, message: impl Into<Cow<'static, str>>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }
    pub fn not_found() -> Error {
        Error::new(FM_NOT_FOUND, "")
    }
    /// The error a caught panic becomes, with the panic's message.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Error {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Error::new(FM_INTERNAL_ERROR, what)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            f.write_str(self.status.as_str())
        } else {
            write!(f, "{}: {}", self.status.as_str(), self.message)
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for `Err(Error::new(..))`.
pub fn fail<T>(status: fm_status, message: impl Into<Cow<'static, str>>) -> Result<T> {
    Err(Error::new(status, message))
}

/// The calling thread's last error message, NUL-terminated.
enum LastError {
    Owned(CString),
    /// When there was no memory for the message (or none yet).
    Static(&'static CStr),
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = const { RefCell::new(LastError::Static(c"")) };
}

/// Sets up the calling thread's last-error slot. Its first use registers a
/// thread-local destructor, which needs memory (glibc ends the process if
/// it has none), so a thread does it at its first call, not at its first
/// error, which may be an out-of-memory one.
pub fn prepare_thread() {
    let _ = LAST_ERROR.try_with(|_| ());
}

/// Records `err` as the calling thread's last error and returns its code.
/// "Not found" and "end" are ordinary outcomes and leave the message alone, so
/// the hot miss path never formats or allocates. Recording allocates only
/// fallibly, reusing the last message's buffer: out of memory, the message
/// becomes the status's static text and the process lives.
pub fn record(err: &Error) -> fm_status {
    if !matches!(err.status, FM_NOT_FOUND | FM_END) {
        LAST_ERROR.with(|cell| {
            let mut cell = cell.borrow_mut();
            let old = std::mem::replace(&mut *cell, LastError::Static(c""));
            let mut bytes = match old {
                LastError::Owned(c) => c.into_bytes(),
                LastError::Static(_) => Vec::new(),
            };
            bytes.clear();
            *cell = match message_bytes(err, bytes) {
                // SAFETY: message_bytes escapes every NUL and leaves room
                // for the terminator, so this neither fails nor allocates.
                Some(b) => LastError::Owned(unsafe { CString::from_vec_unchecked(b) }),
                None => LastError::Static(err.status.as_cstr()),
            };
        });
    }
    err.status
}

/// `err` as text ("status: message", NULs written as `\0`) in `buf`, with
/// room for a terminating NUL; None if the memory could not be had.
fn message_bytes(err: &Error, mut buf: Vec<u8>) -> Option<Vec<u8>> {
    let status = err.status.as_str().as_bytes();
    let message = err.message.as_bytes();
    let nuls = message.iter().filter(|&&b| b == 0).count();
    let need = status.len() + 2 + message.len() + nuls + 1;
    buf.try_reserve(need).ok()?;
    buf.extend_from_slice(status);
    if !message.is_empty() {
        buf.extend_from_slice(b": ");
        for &b in message {
            if b == 0 {
                buf.extend_from_slice(b"\\0");
            } else {
                buf.push(b);
            }
        }
    }
    Some(buf)
}

/// Pointer to the calling thread's last error message (NUL-terminated). It
/// stays valid until the next failing ferrymap call on the same thread.
pub fn last_error_ptr() -> *const std::ffi::c_char {
    LAST_ERROR.with(|cell| match &*cell.borrow() {
        LastError::Owned(c) => c.as_ptr(),
        LastError::Static(c) => c.as_ptr(),
    })
}

/// A copy of the calling thread's last error message.
pub fn last_error() -> String {
    LAST_ERROR.with(|cell| match &*cell.borrow() {
        LastError::Owned(c) => c.to_string_lossy().into_owned(),
        LastError::Static(c) => c.to_string_lossy().into_owned(),
    })
}
