//! The JNI entry points of the Java binding (`bindings/java/`, class
//! `dev.ferrymap.Native`). They live in the core cdylib, so
//! `System.loadLibrary("ferrymap")` loads the same `libferrymap.so` (and the
//! same handle registry) that C, Python and Go use.
//!
//! It is a sibling of the C ABI (`crate::ffi`): both marshal arguments and
//! results over the handle-level API (`crate::api`), and neither uses the
//! other. The native methods are registered from `JNI_OnLoad`
//! (`natives.rs`), never exported. Every one has the same shape:
//!
//! ```text
//! pub(crate) extern "system" fn Java_dev_ferrymap_Native_xxx(env: *mut JNIEnv, _: jclass, args..) -> T {
//!     jcall(env, FALLBACK, |env| {        // catches panics; an error becomes a Java exception
//!         ...copy Java arrays in (JNI calls happen on this thread only)...
//!         let g = epoch::pin();           // keeps every object we touch alive
//!         let r = api::with_map(h as u64, &g, |m, g| ...)?;  // the work, through crate::map::Map
//!         ...hand results to Java...
//!     })
//! }
//! ```
//!
//! - `api::with_map` resolves and checks the handle, and runs the work on this
//!   thread for a direct map or on the owner thread for a bridge map (so the
//!   closure makes no JNI call with the caller's environment). `update`,
//!   whose callback is Java code, attaches a bridge's owner thread to the JVM
//!   and calls the callback there (see `ops::update`); the bridge-only calls
//!   (tickets, the change feed, sequence numbers) are in `bridge.rs`.
//! - `getLL` and `putLL` first try the integer plain cases of `api::fast`
//!   (the per-thread memo), as the C ABI's integer calls do.
//! - Hot paths (`getLL`, `putLL`, ...) take and return primitives only: no
//!   allocation, no `jni::Env`, no JNI call at all unless something fails.
//! - Errors become exceptions by kind (see [`exception_class`]); a Java
//!   exception already pending (thrown by a callback) is left to propagate.
//! - Byte strings cross as Java `byte[]` (copied with Get/SetByteArrayRegion,
//!   never pinned with a critical section: the core may take a shard lock)
//!   or as direct `ByteBuffer`s. Strings are converted to exact UTF-8 on the
//!   Java side, never through JNI's modified UTF-8.
//! - Local references made in loops are deleted as soon as they are stored.

// Each native method's function keeps the name the JNI specification
// would give it (Java_dev_ferrymap_Native_<method>), which says at a glance
// which Java method it implements; they are registered, not exported.
#![allow(non_snake_case)]

mod batch;
mod bridge;
mod env;
mod info;
mod iter;
mod natives;
mod ops;

use std::ffi::{CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

use jni::sys::{jbyteArray, jlong, jmethodID, JNIEnv};

pub(crate) use env::Env;

use crate::kind::KeyRef;
use crate::kind::{ValIn, FM_FLOAT, FM_INT};
use crate::map::Map;
use crate::status::*;

/// Runs a native method's body. A core error becomes a Java exception of the
/// matching class and a panic a `RuntimeException`; either way `fallback`
/// is returned (the JVM ignores it once an exception is pending). Nothing
/// unwinds into the JVM. On success this costs nothing but the body.
#[inline(always)]
pub(crate) fn jcall<T>(
    env: *mut JNIEnv,
    fallback: T,
    body: impl for<'call> FnOnce(Env<'call>) -> Result<T>,
) -> T {
    // SAFETY: the JVM passes every native call its thread's environment,
    // valid until the call returns, which is after `body` has returned.
    let env = unsafe { Env::from_raw(env) };
    match catch_unwind(AssertUnwindSafe(|| body(env))) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            throw(env, &e);
            fallback
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            throw(env, &Error::new(FM_INTERNAL_ERROR, what));
            fallback
        }
    }
}

/// The Java exception class for a status.
pub(crate) fn exception_class(status: fm_status) -> &'static CStr {
    match status {
        FM_NULL_ARGUMENT => c"java/lang/NullPointerException",
        FM_INVALID_HANDLE | FM_REENTRANT => c"java/lang/IllegalStateException",
        // Subclasses of IllegalStateException (bindings/java).
        FM_CLOSED => c"dev/ferrymap/BridgeClosedException",
        FM_QUEUE_FULL => c"dev/ferrymap/QueueFullException",
        FM_BRIDGE_FAILED => c"dev/ferrymap/BridgeFailedException",
        FM_WRONG_KIND
        | FM_INVALID_UTF8
        | FM_INVALID_ARGUMENT
        | FM_CORRUPT_DATA
        | FM_UNSUPPORTED_VERSION
        | FM_BUFFER_TOO_SMALL => c"java/lang/IllegalArgumentException",
        FM_NOT_FOUND | FM_END => c"java/util/NoSuchElementException",
        FM_OVERFLOW => c"java/lang/ArithmeticException",
        FM_OUT_OF_MEMORY => c"java/lang/OutOfMemoryError",
        _ => c"java/lang/RuntimeException",
    }
}

/// Throws `e` as a Java exception, unless one is already pending (a
/// callback's own exception wins).
#[cold]
#[inline(never)]
fn throw(env: Env, e: &Error) {
    if env.exception_pending() {
        return;
    }
    // ThrowNew takes modified UTF-8: keep the message ASCII so it reads the same.
    let text: String = format!("ferrymap: {e}")
        .chars()
        .flat_map(|c| {
            if c.is_ascii() && c != '\0' {
                vec![c]
            } else {
                c.escape_unicode().collect()
            }
        })
        .collect();
    let message = CString::new(text).unwrap_or_default();
    env.throw(exception_class(e.status), &message);
}

/// The error to return when a JNI call left a Java exception pending: it
/// propagates as it is (see [`throw`]).
pub(crate) fn java_pending() -> Error {
    Error::new(FM_CALLBACK_STOPPED, "a Java exception is pending")
}

/// Stack room for byte strings copied out of a Java byte[]; longer ones go
/// to the heap.
const STACK_BYTES: usize = 256;

/// Runs `f` on a copy of the bytes of a Java byte[] (NullPointerException
/// for null).
pub(crate) fn with_bytes<R>(
    env: Env,
    array: jbyteArray,
    what: &'static str,
    f: impl FnOnce(&[u8]) -> Result<R>,
) -> Result<R> {
    if array.is_null() {
        return fail(FM_NULL_ARGUMENT, format!("{what} is null"));
    }
    let n = env.array_len(array);
    if n <= STACK_BYTES {
        let mut buf = [0u8; STACK_BYTES];
        env.read_bytes(array, 0, &mut buf[..n]);
        f(&buf[..n])
    } else {
        let mut buf = vec![0u8; n];
        env.read_bytes(array, 0, &mut buf);
        f(&buf)
    }
}

/// Runs `f` on a copy of the bytes of a Java byte[], or on None for null.
pub(crate) fn with_opt_bytes<R>(
    env: Env,
    array: jbyteArray,
    f: impl FnOnce(Option<&[u8]>) -> Result<R>,
) -> Result<R> {
    if array.is_null() {
        f(None)
    } else {
        with_bytes(env, array, "array", |b| f(Some(b)))
    }
}

/// The key of a call that takes either form, per the map's schema: the long
/// `int_key` for INT-keyed maps (then `bytes_key` must be absent), else the
/// bytes of the Java byte[] (NullPointerException if it was null). The bytes
/// were copied on the calling thread, so this may run on a bridge map's
/// owner thread.
pub(crate) fn key_ref<'a>(
    m: &Map,
    int_key: jlong,
    bytes_key: Option<&'a [u8]>,
) -> Result<KeyRef<'a>> {
    match (m.key_kind, bytes_key) {
        (FM_INT, None) => Ok(KeyRef::Int(int_key as u64)),
        (FM_INT, Some(_)) => fail(FM_WRONG_KIND, "map keys are INT, not bytes"),
        (_, Some(b)) => Ok(KeyRef::Bytes(b)),
        (_, None) => fail(FM_NULL_ARGUMENT, "key is null"),
    }
}

/// A value given in either form, per the map's schema: the 64-bit word (an
/// INT, or the bits of a FLOAT) for maps with INT or FLOAT values, else the
/// bytes (NullPointerException if null).
pub(crate) fn val_in<'a>(m: &Map, word: jlong, bytes: Option<&'a [u8]>) -> Result<ValIn<'a>> {
    match (m.val_kind, bytes) {
        (FM_INT, None) => Ok(ValIn::Int(word)),
        (FM_FLOAT, None) => Ok(ValIn::Float(f64::from_bits(word as u64))),
        (FM_INT | FM_FLOAT, Some(_)) => fail(
            FM_WRONG_KIND,
            format!("map values are {}, not bytes", m.val_kind.name()),
        ),
        (_, Some(b)) => Ok(ValIn::Bytes(b)),
        (_, None) => fail(FM_NULL_ARGUMENT, "value is null"),
    }
}

/// A method ID looked up once. IDs of the JDK's own interfaces stay valid
/// for the life of the JVM.
pub(crate) struct MethodCache {
    class: &'static CStr,
    name: &'static CStr,
    sig: &'static CStr,
    id: AtomicPtr<jni::sys::_jmethodID>,
}

impl MethodCache {
    pub(crate) const fn new(
        class: &'static CStr,
        name: &'static CStr,
        sig: &'static CStr,
    ) -> MethodCache {
        MethodCache {
            class,
            name,
            sig,
            id: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    pub(crate) fn get(&self, env: Env) -> Result<jmethodID> {
        let id = self.id.load(Ordering::Acquire);
        if !id.is_null() {
            return Ok(id);
        }
        let class = env.find_class(self.class);
        if class.is_null() {
            return Err(java_pending());
        }
        let id = env.method_id(class, self.name, self.sig);
        env.delete_local(class);
        if id.is_null() {
            return Err(java_pending());
        }
        self.id.store(id, Ordering::Release);
        Ok(id)
    }
}

/// Checks an `(offset, count)` range against an array of `len` elements.
pub(crate) fn check_range(
    offset: i32,
    count: i32,
    len: usize,
    what: &'static str,
) -> Result<(usize, usize)> {
    if offset < 0 || count < 0 || offset as usize + count as usize > len {
        return fail(
            FM_INVALID_ARGUMENT,
            format!("{what}: range {offset}+{count} is outside an array of {len}"),
        );
    }
    Ok((offset as usize, count as usize))
}
