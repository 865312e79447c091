//! Safe wrappers over the C API (`sys.rs`, generated from
//! `bindings/c/ferrymap.h`): one function per C function this module uses,
//! each holding the one `unsafe` block that calls it.
//!
//! The wrappers take Rust types (slices, handle newtypes, borrowed keys and
//! values) and return `Result<_, CoreError>`; the ordinary outcomes that
//! the header calls "not errors" come back as values (`FM_NOT_FOUND` as
//! `None`, `FM_END` as the end of a batch, a timed-out wait as `false`).
//! Pointers the core hands out are only reachable through borrows of the
//! object that keeps them valid ([`View`], [`Iter`], [`Ticket`],
//! [`Subscription`]), which free their handle when dropped.
//!
//! Why the calls are sound, once for all of them: the core validates every
//! handle (a forged, stale or wrong-kind one is an error, never a crash,
//! header "OWNERSHIP"), so any `u64` may be passed as a handle; pointers
//! passed in come from live slices of the stated length; out-pointers are
//! locals or slices with room for what the header says is written there;
//! and the core does not keep any pointer past the call (header
//! "OWNERSHIP": it copies what it keeps).
//!
//! Nothing here knows about Python: which calls release the GIL is decided
//! by the callers (gil.rs, handle.rs).

use std::ffi::{c_void, CStr};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::sys;
pub use crate::sys::{
    fm_buf, fm_handle, fm_stats, fm_status, FM_BRIDGE_FAILED, FM_BUFFER_TOO_SMALL, FM_BYTES,
    FM_CALLBACK_STOPPED, FM_CLOSED, FM_CORRUPT_DATA, FM_END, FM_FLOAT, FM_HANDLE_ITERATOR,
    FM_HANDLE_MAP, FM_HANDLE_SUBSCRIPTION, FM_HANDLE_TICKET, FM_HANDLE_VIEW, FM_INT,
    FM_INTERNAL_ERROR, FM_INVALID_ARGUMENT, FM_INVALID_HANDLE, FM_INVALID_UTF8, FM_NOT_FOUND,
    FM_OK, FM_OP_ADD, FM_OP_CLEAR, FM_OP_CONTAINS, FM_OP_GET, FM_OP_INSERT, FM_OP_LEN,
    FM_OP_REMOVE, FM_OP_UPDATE, FM_OUT_OF_MEMORY, FM_OVERFLOW, FM_QUEUE_FULL, FM_REENTRANT, FM_STR,
    FM_TIMEOUT, FM_UNSUPPORTED_VERSION, FM_WRONG_KIND,
};

// ---- errors ---------------------------------------------------------------------------

/// A failed call: its status and the core's message for it.
#[derive(Debug)]
pub struct CoreError {
    pub status: fm_status,
    /// `fm_last_error()`, read on the calling thread right after the call,
    /// or the status's static description when that is empty.
    pub message: String,
}

impl CoreError {
    /// The error for a failing `status`. Call it on the thread that made
    /// the call, before any other call into the core.
    #[cold]
    #[inline(never)]
    pub fn from_status(status: fm_status) -> CoreError {
        let detail = last_error();
        let message = if detail.is_empty() {
            status_str(status)
        } else {
            detail
        };
        CoreError { status, message }
    }
}

pub type CoreResult<T> = Result<T, CoreError>;

#[inline]
fn check(status: fm_status) -> CoreResult<()> {
    if status == FM_OK {
        Ok(())
    } else {
        Err(CoreError::from_status(status))
    }
}

/// `Some(value)` on FM_OK, `None` on FM_NOT_FOUND.
#[inline]
fn found<T>(status: fm_status, value: T) -> CoreResult<Option<T>> {
    match status {
        FM_OK => Ok(Some(value)),
        FM_NOT_FOUND => Ok(None),
        s => Err(CoreError::from_status(s)),
    }
}

/// Bytes the core handed out (or NULL with length 0) as a slice.
///
/// # Safety
/// `ptr` valid for reads of `len` bytes for `'a`, unless `len` is 0.
#[inline]
unsafe fn borrowed<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 || ptr.is_null() {
        &[]
    } else {
        // SAFETY: as the caller guarantees.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// A static NUL-terminated string from the core, copied.
///
/// # Safety
/// `ptr` is a valid NUL-terminated string (never NULL).
unsafe fn owned_string(ptr: *const std::ffi::c_char) -> String {
    // SAFETY: as the caller guarantees.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

// ---- handles, keys, values ------------------------------------------------------------

/// A map handle (not owned: whoever holds it decides when to free it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MapId(pub fm_handle);

/// A value-view handle (see [`View`] for the owning form).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ViewId(pub fm_handle);

/// A ticket handle (see [`Ticket`] for the owning form).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TicketId(pub fm_handle);

/// A key as the `_i64` / `_buf` calls take it.
#[derive(Clone, Copy)]
pub enum Key<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

/// A value as the C structs carry it (only the map's kind is read).
#[derive(Clone, Copy)]
pub enum Value<'a> {
    Int(i64),
    Float(f64),
    Bytes(&'a [u8]),
}

// ---- info -----------------------------------------------------------------------------

/// `fm_version`: `major << 16 | minor << 8 | patch`.
pub fn version() -> u32 {
    // SAFETY: no arguments.
    unsafe { sys::fm_version() }
}

/// `fm_version_string`.
pub fn version_string() -> String {
    // SAFETY: a static NUL-terminated string.
    unsafe { owned_string(sys::fm_version_string()) }
}

/// `fm_status_str`: the static description of a status code.
pub fn status_str(status: fm_status) -> String {
    // SAFETY: a static NUL-terminated string, for any code.
    unsafe { owned_string(sys::fm_status_str(status as i32)) }
}

/// `fm_last_error`: the calling thread's last error message.
pub fn last_error() -> String {
    // SAFETY: never NULL; valid until the next failing call on this thread,
    // and copied before this function returns.
    unsafe { owned_string(sys::fm_last_error()) }
}

/// `fm_registry_id`.
pub fn registry_id() -> u64 {
    // SAFETY: no arguments.
    unsafe { sys::fm_registry_id() }
}

/// `fm_library_path`.
pub fn library_path() -> String {
    // SAFETY: a static NUL-terminated string.
    unsafe { owned_string(sys::fm_library_path()) }
}

/// `fm_census`: live handles of one `FM_HANDLE_*` kind.
pub fn census(kind: u32) -> CoreResult<u64> {
    let mut n = 0u64;
    // SAFETY: out-pointer to a local.
    check(unsafe { sys::fm_census(kind, &mut n) })?;
    Ok(n)
}

/// `fm_census_total`.
pub fn census_total() -> u64 {
    // SAFETY: no arguments.
    unsafe { sys::fm_census_total() }
}

// ---- lifecycle ------------------------------------------------------------------------

/// `fm_map_new`: a new map the caller owns.
pub fn map_new(key_kind: u32, value_kind: u32, capacity: usize) -> CoreResult<MapId> {
    let mut h = 0;
    // SAFETY: out-pointer to a local.
    check(unsafe { sys::fm_map_new(key_kind, value_kind, capacity, &mut h) })?;
    Ok(MapId(h))
}

/// `fm_map_free`. May wait (a bridge map drains its queue and joins its
/// owner thread).
pub fn map_free(map: MapId) -> CoreResult<()> {
    // SAFETY: a handle only.
    check(unsafe { sys::fm_map_free(map.0) })
}

/// `fm_map_len`.
pub fn map_len(map: MapId) -> CoreResult<usize> {
    let mut n = 0;
    // SAFETY: out-pointer to a local.
    check(unsafe { sys::fm_map_len(map.0, &mut n) })?;
    Ok(n)
}

/// `fm_map_clear`.
pub fn map_clear(map: MapId) -> CoreResult<()> {
    // SAFETY: a handle only.
    check(unsafe { sys::fm_map_clear(map.0) })
}

/// `fm_map_reserve`.
pub fn map_reserve(map: MapId, additional: usize) -> CoreResult<()> {
    // SAFETY: a handle and a number.
    check(unsafe { sys::fm_map_reserve(map.0, additional) })
}

/// `fm_map_clone`: a new (direct) map the caller owns.
pub fn map_clone(map: MapId) -> CoreResult<MapId> {
    let mut h = 0;
    // SAFETY: out-pointer to a local.
    check(unsafe { sys::fm_map_clone(map.0, &mut h) })?;
    Ok(MapId(h))
}

/// `fm_map_schema`: the raw key and value kinds.
pub fn map_schema(map: MapId) -> CoreResult<(u32, u32)> {
    let (mut k, mut v) = (0, 0);
    // SAFETY: out-pointers to locals.
    check(unsafe { sys::fm_map_schema(map.0, &mut k, &mut v) })?;
    Ok((k, v))
}

/// `fm_map_stats`.
pub fn map_stats(map: MapId) -> CoreResult<fm_stats> {
    let mut s = fm_stats::default();
    // SAFETY: out-pointer to a local.
    check(unsafe { sys::fm_map_stats(map.0, &mut s) })?;
    Ok(s)
}

// ---- single operations ----------------------------------------------------------------
//
// Inserts return whether a value was replaced; removes whether one was
// removed; gets `None` for an absent key.

/// `fm_insert_i64_i64`.
#[inline]
pub fn insert_i64_i64(map: MapId, key: i64, value: i64) -> CoreResult<bool> {
    let mut replaced = false;
    // SAFETY: out-pointer to a local.
    check(unsafe { sys::fm_insert_i64_i64(map.0, key, value, &mut replaced) })?;
    Ok(replaced)
}

/// `fm_insert_i64_f64`.
#[inline]
pub fn insert_i64_f64(map: MapId, key: i64, value: f64) -> CoreResult<bool> {
    let mut replaced = false;
    // SAFETY: out-pointer to a local.
    check(unsafe { sys::fm_insert_i64_f64(map.0, key, value, &mut replaced) })?;
    Ok(replaced)
}

/// `fm_insert_i64_buf`.
#[inline]
pub fn insert_i64_buf(map: MapId, key: i64, value: &[u8]) -> CoreResult<bool> {
    let mut replaced = false;
    // SAFETY: value valid for its length; out-pointer to a local.
    let st =
        unsafe { sys::fm_insert_i64_buf(map.0, key, value.as_ptr(), value.len(), &mut replaced) };
    check(st)?;
    Ok(replaced)
}

/// `fm_insert_buf_i64`.
#[inline]
pub fn insert_buf_i64(map: MapId, key: &[u8], value: i64) -> CoreResult<bool> {
    let mut replaced = false;
    // SAFETY: key valid for its length; out-pointer to a local.
    let st =
        unsafe { sys::fm_insert_buf_i64(map.0, key.as_ptr(), key.len(), value, &mut replaced) };
    check(st)?;
    Ok(replaced)
}

/// `fm_insert_buf_f64`.
#[inline]
pub fn insert_buf_f64(map: MapId, key: &[u8], value: f64) -> CoreResult<bool> {
    let mut replaced = false;
    // SAFETY: key valid for its length; out-pointer to a local.
    let st =
        unsafe { sys::fm_insert_buf_f64(map.0, key.as_ptr(), key.len(), value, &mut replaced) };
    check(st)?;
    Ok(replaced)
}

/// `fm_insert_buf_buf`.
#[inline]
pub fn insert_buf_buf(map: MapId, key: &[u8], value: &[u8]) -> CoreResult<bool> {
    let mut replaced = false;
    let (kp, kn, vp, vn) = (key.as_ptr(), key.len(), value.as_ptr(), value.len());
    // SAFETY: key and value valid for their lengths; out-pointer to a local.
    check(unsafe { sys::fm_insert_buf_buf(map.0, kp, kn, vp, vn, &mut replaced) })?;
    Ok(replaced)
}

/// `fm_get_i64_i64`.
#[inline]
pub fn get_i64_i64(map: MapId, key: i64) -> CoreResult<Option<i64>> {
    let mut v = 0;
    // SAFETY: out-pointer to a local.
    let st = unsafe { sys::fm_get_i64_i64(map.0, key, &mut v) };
    found(st, v)
}

/// `fm_get_i64_f64`.
#[inline]
pub fn get_i64_f64(map: MapId, key: i64) -> CoreResult<Option<f64>> {
    let mut v = 0.0;
    // SAFETY: out-pointer to a local.
    let st = unsafe { sys::fm_get_i64_f64(map.0, key, &mut v) };
    found(st, v)
}

/// `fm_get_buf_i64`.
#[inline]
pub fn get_buf_i64(map: MapId, key: &[u8]) -> CoreResult<Option<i64>> {
    let mut v = 0;
    // SAFETY: key valid for its length; out-pointer to a local.
    let st = unsafe { sys::fm_get_buf_i64(map.0, key.as_ptr(), key.len(), &mut v) };
    found(st, v)
}

/// `fm_get_buf_f64`.
#[inline]
pub fn get_buf_f64(map: MapId, key: &[u8]) -> CoreResult<Option<f64>> {
    let mut v = 0.0;
    // SAFETY: key valid for its length; out-pointer to a local.
    let st = unsafe { sys::fm_get_buf_f64(map.0, key.as_ptr(), key.len(), &mut v) };
    found(st, v)
}

/// What a get into a caller's buffer found.
pub enum Copied {
    /// The value's `len` bytes are at the start of the buffer.
    Len(usize),
    Absent,
    /// The buffer is too small for the value.
    TooSmall,
}

#[inline]
fn copied(status: fm_status, len: usize) -> CoreResult<Copied> {
    match status {
        FM_OK => Ok(Copied::Len(len)),
        FM_NOT_FOUND => Ok(Copied::Absent),
        FM_BUFFER_TOO_SMALL => Ok(Copied::TooSmall),
        s => Err(CoreError::from_status(s)),
    }
}

/// `fm_get_i64_buf`: copies the value into `out`.
#[inline]
pub fn get_i64_buf(map: MapId, key: i64, out: &mut [u8]) -> CoreResult<Copied> {
    let mut len = 0;
    // SAFETY: out valid for writes of its length; out-pointer to a local.
    let st = unsafe { sys::fm_get_i64_buf(map.0, key, out.as_mut_ptr(), out.len(), &mut len) };
    copied(st, len)
}

/// `fm_get_buf_buf`: copies the value into `out`.
#[inline]
pub fn get_buf_buf(map: MapId, key: &[u8], out: &mut [u8]) -> CoreResult<Copied> {
    let mut len = 0;
    let (kp, kn, op, on) = (key.as_ptr(), key.len(), out.as_mut_ptr(), out.len());
    // SAFETY: key valid for reads and out for writes of their lengths;
    // out-pointer to a local.
    let st = unsafe { sys::fm_get_buf_buf(map.0, kp, kn, op, on, &mut len) };
    copied(st, len)
}

/// `fm_contains_i64`.
#[inline]
pub fn contains_i64(map: MapId, key: i64) -> CoreResult<bool> {
    let mut found = false;
    // SAFETY: out-pointer to a local.
    check(unsafe { sys::fm_contains_i64(map.0, key, &mut found) })?;
    Ok(found)
}

/// `fm_contains_buf`.
#[inline]
pub fn contains_buf(map: MapId, key: &[u8]) -> CoreResult<bool> {
    let mut found = false;
    // SAFETY: key valid for its length; out-pointer to a local.
    check(unsafe { sys::fm_contains_buf(map.0, key.as_ptr(), key.len(), &mut found) })?;
    Ok(found)
}

/// `fm_remove_i64`.
#[inline]
pub fn remove_i64(map: MapId, key: i64) -> CoreResult<bool> {
    let mut removed = false;
    // SAFETY: out-pointer to a local.
    check(unsafe { sys::fm_remove_i64(map.0, key, &mut removed) })?;
    Ok(removed)
}

/// `fm_remove_buf`.
#[inline]
pub fn remove_buf(map: MapId, key: &[u8]) -> CoreResult<bool> {
    let mut removed = false;
    // SAFETY: key valid for its length; out-pointer to a local.
    check(unsafe { sys::fm_remove_buf(map.0, key.as_ptr(), key.len(), &mut removed) })?;
    Ok(removed)
}

/// `fm_add_i64_i64`: the new value.
pub fn add_i64_i64(map: MapId, key: i64, delta: i64) -> CoreResult<i64> {
    let mut v = 0;
    // SAFETY: out-pointer to a local.
    check(unsafe { sys::fm_add_i64_i64(map.0, key, delta, &mut v) })?;
    Ok(v)
}

/// `fm_add_i64_f64`: the new value.
pub fn add_i64_f64(map: MapId, key: i64, delta: f64) -> CoreResult<f64> {
    let mut v = 0.0;
    // SAFETY: out-pointer to a local.
    check(unsafe { sys::fm_add_i64_f64(map.0, key, delta, &mut v) })?;
    Ok(v)
}

/// `fm_add_buf_i64`: the new value.
pub fn add_buf_i64(map: MapId, key: &[u8], delta: i64) -> CoreResult<i64> {
    let mut v = 0;
    // SAFETY: key valid for its length; out-pointer to a local.
    check(unsafe { sys::fm_add_buf_i64(map.0, key.as_ptr(), key.len(), delta, &mut v) })?;
    Ok(v)
}

/// `fm_add_buf_f64`: the new value.
pub fn add_buf_f64(map: MapId, key: &[u8], delta: f64) -> CoreResult<f64> {
    let mut v = 0.0;
    // SAFETY: key valid for its length; out-pointer to a local.
    check(unsafe { sys::fm_add_buf_f64(map.0, key.as_ptr(), key.len(), delta, &mut v) })?;
    Ok(v)
}

/// The callback of an update: gets the value's bytes (8 native-endian
/// bytes for INT and FLOAT values, a private copy of STR/BYTES bytes),
/// may change them in place, and returns true to store them. It runs while
/// the key's shard is locked, on the calling thread or (bridge map) on the
/// map's owner thread, hence `Send`.
pub type UpdateFn<'f> = dyn FnMut(&mut [u8]) -> bool + Send + 'f;

/// The `fm_update_fn` given to the core: calls the `UpdateFn` behind `ctx`.
/// A panic is caught here (nothing may unwind into the core) and leaves
/// the value unchanged.
unsafe extern "C" fn update_trampoline(ctx: *mut c_void, value: *mut u8, len: usize) -> i32 {
    // SAFETY: ctx is the `&mut &mut UpdateFn` that update_i64 / update_buf
    // passed, alive and not otherwise used until that call returns.
    let f = unsafe { &mut *(ctx as *mut &mut UpdateFn<'_>) };
    let bytes: &mut [u8] = if len == 0 || value.is_null() {
        &mut []
    } else {
        // SAFETY: the core passes `len` writable bytes, valid during the callback.
        unsafe { std::slice::from_raw_parts_mut(value, len) }
    };
    match catch_unwind(AssertUnwindSafe(|| f(bytes))) {
        Ok(true) => 0,
        Ok(false) | Err(_) => 1,
    }
}

/// `fm_update_i64`: runs `f` on the value of `key`. `Ok(None)` if the key
/// is absent (f is not called); `Ok(Some(stored))`, `stored` false when f
/// returned false (FM_CALLBACK_STOPPED: the value is unchanged).
pub fn update_i64(map: MapId, key: i64, f: &mut UpdateFn<'_>) -> CoreResult<Option<bool>> {
    let mut f = f;
    let ctx = &mut f as *mut &mut UpdateFn<'_> as *mut c_void;
    // SAFETY: the trampoline matches fm_update_fn and ctx points to `f`,
    // which outlives the call.
    let st = unsafe { sys::fm_update_i64(map.0, key, Some(update_trampoline), ctx) };
    updated(st)
}

/// `fm_update_buf`: as [`update_i64`].
pub fn update_buf(map: MapId, key: &[u8], f: &mut UpdateFn<'_>) -> CoreResult<Option<bool>> {
    let mut f = f;
    let ctx = &mut f as *mut &mut UpdateFn<'_> as *mut c_void;
    let (kp, kn) = (key.as_ptr(), key.len());
    // SAFETY: key valid for its length; the trampoline matches
    // fm_update_fn and ctx points to `f`, which outlives the call.
    let st = unsafe { sys::fm_update_buf(map.0, kp, kn, Some(update_trampoline), ctx) };
    updated(st)
}

/// What a compute callback decided (see `fm_compute_fn`).
pub enum Compute {
    Keep,
    /// Store these bytes: 8 native-endian bytes for INT and FLOAT values.
    Set(Vec<u8>),
    Remove,
    /// Change nothing; the call fails with FM_CALLBACK_STOPPED.
    Stop,
}

/// The callback of a compute: gets the value's bytes (as for an update),
/// or None when the key is absent. It runs while the key's shard is
/// locked, on the calling thread or (bridge map) on the owner thread.
pub type ComputeFn<'f> = dyn FnMut(Option<&[u8]>) -> Compute + Send + 'f;

/// What `compute_trampoline` gets behind `ctx`: the callback, and a place
/// for the value it sets, alive until the core has copied it.
struct ComputeCtx<'a, 'f> {
    f: &'a mut ComputeFn<'f>,
    set: Vec<u8>,
}

/// The `fm_compute_fn` given to the core: calls the `ComputeFn` behind
/// `ctx`. A panic is caught here and stops the call (nothing changes).
unsafe extern "C" fn compute_trampoline(
    ctx: *mut c_void,
    current: *const u8,
    len: usize,
    new_value: *mut *const u8,
    new_len: *mut usize,
) -> i32 {
    // SAFETY: ctx is the `ComputeCtx` that `compute` passed, alive and not
    // otherwise used until that call returns.
    let c = unsafe { &mut *(ctx as *mut ComputeCtx<'_, '_>) };
    let current: Option<&[u8]> = match (current.is_null(), len) {
        (true, _) => None,
        (false, 0) => Some(&[]),
        // SAFETY: the core passes `len` bytes, valid during the callback.
        (false, _) => Some(unsafe { std::slice::from_raw_parts(current, len) }),
    };
    match catch_unwind(AssertUnwindSafe(|| (c.f)(current))) {
        Ok(Compute::Keep) => sys::FM_COMPUTE_KEEP as i32,
        Ok(Compute::Remove) => sys::FM_COMPUTE_REMOVE as i32,
        Ok(Compute::Stop) => -1,
        Ok(Compute::Set(bytes)) => {
            c.set = bytes;
            // SAFETY: the core's out-pointers, valid during the callback.
            unsafe {
                *new_value = c.set.as_ptr();
                *new_len = c.set.len();
            }
            sys::FM_COMPUTE_SET as i32
        }
        Err(_) => -1,
    }
}

/// `fm_compute_i64` / `fm_compute_buf` (by the key's form): runs `f` on
/// the key's value or its absence, as one atomic step. Returns whether the
/// key is present afterwards; FM_CALLBACK_STOPPED if `f` panicked.
pub fn compute(map: MapId, key: Result<i64, &[u8]>, f: &mut ComputeFn<'_>) -> CoreResult<bool> {
    let mut c = ComputeCtx { f, set: Vec::new() };
    let ctx = &mut c as *mut ComputeCtx<'_, '_> as *mut c_void;
    let mut present = false;
    // SAFETY: the trampoline matches fm_compute_fn and ctx points to `c`,
    // which outlives the call; the key is valid for its length; out-pointer
    // to a local.
    let st = unsafe {
        match key {
            Ok(k) => sys::fm_compute_i64(map.0, k, Some(compute_trampoline), ctx, &mut present),
            Err(k) => sys::fm_compute_buf(
                map.0,
                k.as_ptr(),
                k.len(),
                Some(compute_trampoline),
                ctx,
                &mut present,
            ),
        }
    };
    check(st)?;
    Ok(present)
}

fn updated(status: fm_status) -> CoreResult<Option<bool>> {
    match status {
        FM_OK => Ok(Some(true)),
        FM_CALLBACK_STOPPED => Ok(Some(false)),
        FM_NOT_FOUND => Ok(None),
        s => Err(CoreError::from_status(s)),
    }
}

// ---- batches --------------------------------------------------------------------------

/// Byte strings laid out as the `fm_buf` arrays of the batch calls; the
/// bytes stay borrowed for `'a`.
pub struct Bufs<'a> {
    raw: Vec<fm_buf>,
    _bytes: PhantomData<&'a [u8]>,
}

impl<'a> Bufs<'a> {
    pub fn new(items: impl ExactSizeIterator<Item = &'a [u8]>) -> Bufs<'a> {
        let raw = items
            .map(|b| fm_buf {
                ptr: b.as_ptr(),
                len: b.len(),
            })
            .collect();
        Bufs {
            raw,
            _bytes: PhantomData,
        }
    }

    pub fn len(&self) -> usize {
        self.raw.len()
    }
}

/// Where a batch get put each value: an empty `fm_buf` (NULL) for a
/// missing key, else a range of the caller's buffer.
pub type Slot = fm_buf;

/// The bytes of a found value in `buf` (the buffer the batch call filled),
/// or None for a missing key (or a slot that does not point into `buf`).
pub fn slot_bytes<'b>(buf: &'b [u8], slot: &Slot) -> Option<&'b [u8]> {
    if slot.ptr.is_null() {
        return None;
    }
    let start = (slot.ptr as usize).checked_sub(buf.as_ptr() as usize)?;
    buf.get(start..start.checked_add(slot.len)?)
}

/// The outcome of a batch get into a caller's buffer.
pub enum Filled {
    Done,
    /// The buffer is too small: the values need `needed` bytes.
    TooSmall {
        needed: usize,
    },
}

fn filled(status: fm_status, needed: usize) -> CoreResult<Filled> {
    match status {
        FM_OK => Ok(Filled::Done),
        FM_BUFFER_TOO_SMALL => Ok(Filled::TooSmall { needed }),
        s => Err(CoreError::from_status(s)),
    }
}

/// `fm_insert_many_i64_i64`: how many keys were overwritten.
/// Panics if the slices differ in length.
pub fn insert_many_i64_i64(map: MapId, keys: &[i64], values: &[i64]) -> CoreResult<usize> {
    assert_eq!(keys.len(), values.len(), "as many values as keys");
    let mut replaced = 0;
    let (k, v, n) = (keys.as_ptr(), values.as_ptr(), keys.len());
    // SAFETY: both valid for n reads; out-pointer to a local.
    check(unsafe { sys::fm_insert_many_i64_i64(map.0, k, v, n, &mut replaced) })?;
    Ok(replaced)
}

/// `fm_insert_many_i64_f64`: as [`insert_many_i64_i64`].
pub fn insert_many_i64_f64(map: MapId, keys: &[i64], values: &[f64]) -> CoreResult<usize> {
    assert_eq!(keys.len(), values.len(), "as many values as keys");
    let mut replaced = 0;
    let (k, v, n) = (keys.as_ptr(), values.as_ptr(), keys.len());
    // SAFETY: both valid for n reads; out-pointer to a local.
    check(unsafe { sys::fm_insert_many_i64_f64(map.0, k, v, n, &mut replaced) })?;
    Ok(replaced)
}

/// `fm_insert_many`: any kinds; how many keys were overwritten.
pub fn insert_many<'a>(
    map: MapId,
    pairs: impl ExactSizeIterator<Item = (Key<'a>, Value<'a>)>,
) -> CoreResult<usize> {
    let entries: Vec<sys::fm_entry> = pairs
        .map(|(k, v)| {
            let mut e = sys::fm_entry::default();
            match k {
                Key::Int(i) => e.key_int = i,
                Key::Bytes(b) => (e.key_ptr, e.key_len) = (b.as_ptr(), b.len()),
            }
            match v {
                Value::Int(i) => e.value_int = i,
                Value::Float(f) => e.value_float = f,
                Value::Bytes(b) => (e.value_ptr, e.value_len) = (b.as_ptr(), b.len()),
            }
            e
        })
        .collect();
    let mut replaced = 0;
    // SAFETY: n entries whose pointers borrow slices alive for 'a, which
    // outlives this call; out-pointer to a local.
    let st = unsafe { sys::fm_insert_many(map.0, entries.as_ptr(), entries.len(), &mut replaced) };
    check(st)?;
    Ok(replaced)
}

/// The C shape of the batch gets with INT or FLOAT values: `n` keys in,
/// `n` values and found flags out, the count found out.
type GetManyFn<K, V> =
    unsafe extern "C" fn(fm_handle, *const K, usize, *mut V, *mut u8, *mut usize) -> fm_status;

/// Calls one of the four `fm_get_many_*_{i64,f64}` (`f`) over `keys`.
/// Panics on differing lengths.
fn get_many_values<K, V>(
    map: MapId,
    keys: &[K],
    values: &mut [V],
    found: &mut [u8],
    f: GetManyFn<K, V>,
) -> CoreResult<usize> {
    let n = keys.len();
    assert!(
        values.len() == n && found.len() == n,
        "one value and flag per key"
    );
    let mut count = 0;
    let (k, v, fl) = (keys.as_ptr(), values.as_mut_ptr(), found.as_mut_ptr());
    // SAFETY: `f` reads n keys (for STR/BYTES keys, fm_bufs whose bytes
    // the caller's `Bufs` borrows) and writes n values and n flags, all
    // valid for the call; out-pointer to a local.
    check(unsafe { f(map.0, k, n, v, fl, &mut count) })?;
    Ok(count)
}

/// `fm_get_many_i64_i64`: `values[i]` and `found[i]` (1 if found) for
/// `keys[i]`; returns how many were found. Panics on differing lengths.
pub fn get_many_i64_i64(
    map: MapId,
    keys: &[i64],
    values: &mut [i64],
    found: &mut [u8],
) -> CoreResult<usize> {
    get_many_values(map, keys, values, found, sys::fm_get_many_i64_i64)
}

/// `fm_get_many_i64_f64`: as [`get_many_i64_i64`].
pub fn get_many_i64_f64(
    map: MapId,
    keys: &[i64],
    values: &mut [f64],
    found: &mut [u8],
) -> CoreResult<usize> {
    get_many_values(map, keys, values, found, sys::fm_get_many_i64_f64)
}

/// `fm_get_many_buf_i64`: as [`get_many_i64_i64`], for STR/BYTES keys.
pub fn get_many_buf_i64(
    map: MapId,
    keys: &Bufs<'_>,
    values: &mut [i64],
    found: &mut [u8],
) -> CoreResult<usize> {
    get_many_values(map, &keys.raw, values, found, sys::fm_get_many_buf_i64)
}

/// `fm_get_many_buf_f64`: as [`get_many_buf_i64`].
pub fn get_many_buf_f64(
    map: MapId,
    keys: &Bufs<'_>,
    values: &mut [f64],
    found: &mut [u8],
) -> CoreResult<usize> {
    get_many_values(map, &keys.raw, values, found, sys::fm_get_many_buf_f64)
}

/// `fm_get_many_i64_buf`: copies the STR/BYTES values of `keys` back to
/// back into `buf` and describes each in `slots` (read them with
/// [`slot_bytes`]). Panics if `slots` and `keys` differ in length.
pub fn get_many_i64_buf(
    map: MapId,
    keys: &[i64],
    buf: &mut [u8],
    slots: &mut [Slot],
) -> CoreResult<Filled> {
    let n = keys.len();
    assert_eq!(slots.len(), n, "one slot per key");
    let mut needed = 0;
    let (k, b, cap, s) = (
        keys.as_ptr(),
        buf.as_mut_ptr(),
        buf.len(),
        slots.as_mut_ptr(),
    );
    // SAFETY: keys valid for n reads, buf for cap writes, slots for n
    // writes; out-pointer to a local.
    let st = unsafe { sys::fm_get_many_i64_buf(map.0, k, n, b, cap, s, &mut needed) };
    filled(st, needed)
}

/// `fm_get_many_buf_buf`: as [`get_many_i64_buf`], for STR/BYTES keys.
pub fn get_many_buf_buf(
    map: MapId,
    keys: &Bufs<'_>,
    buf: &mut [u8],
    slots: &mut [Slot],
) -> CoreResult<Filled> {
    let n = keys.len();
    assert_eq!(slots.len(), n, "one slot per key");
    let mut needed = 0;
    let (k, b, cap, s) = (
        keys.raw.as_ptr(),
        buf.as_mut_ptr(),
        buf.len(),
        slots.as_mut_ptr(),
    );
    // SAFETY: n keys whose bytes `keys` borrows, buf valid for cap writes,
    // slots for n writes; out-pointer to a local.
    let st = unsafe { sys::fm_get_many_buf_buf(map.0, k, n, b, cap, s, &mut needed) };
    filled(st, needed)
}

/// `fm_remove_many_i64`: how many keys were present.
pub fn remove_many_i64(map: MapId, keys: &[i64]) -> CoreResult<usize> {
    let mut removed = 0;
    // SAFETY: keys valid for their length; out-pointer to a local.
    check(unsafe { sys::fm_remove_many_i64(map.0, keys.as_ptr(), keys.len(), &mut removed) })?;
    Ok(removed)
}

/// `fm_remove_many_buf`: how many keys were present.
pub fn remove_many_buf(map: MapId, keys: &Bufs<'_>) -> CoreResult<usize> {
    let mut removed = 0;
    let (k, n) = (keys.raw.as_ptr(), keys.len());
    // SAFETY: n keys whose bytes `keys` borrows; out-pointer to a local.
    check(unsafe { sys::fm_remove_many_buf(map.0, k, n, &mut removed) })?;
    Ok(removed)
}

// ---- iterators ------------------------------------------------------------------------

/// One entry of an iterator's batch; its bytes live as long as the borrow
/// of the [`Iter`] it came from (not `Clone`, so it cannot outlive it).
#[repr(transparent)]
pub struct Entry(sys::fm_entry);

impl Entry {
    pub fn key_int(&self) -> i64 {
        self.0.key_int
    }
    pub fn key_bytes(&self) -> &[u8] {
        // SAFETY: an Entry is only reachable through a borrow of its
        // iterator, which keeps the bytes valid until it is freed.
        unsafe { borrowed(self.0.key_ptr, self.0.key_len) }
    }
    pub fn value_int(&self) -> i64 {
        self.0.value_int
    }
    pub fn value_float(&self) -> f64 {
        self.0.value_float
    }
    pub fn value_bytes(&self) -> &[u8] {
        // SAFETY: as in key_bytes.
        unsafe { borrowed(self.0.value_ptr, self.0.value_len) }
    }
}

/// An iterator over a snapshot of a map (`fm_iter_*`), owned: freed on drop.
/// Entries come in batches of up to `cap`, held here.
pub struct Iter {
    handle: fm_handle,
    batch: Vec<Entry>,
}

// SAFETY: the pointers in `batch` point into memory owned by the core
// iterator, which any thread may read; the core iterator itself may be
// used and freed from any thread (header "THREADS").
unsafe impl Send for Iter {}

impl Iter {
    /// `fm_iter_new`: a snapshot of `map`.
    pub fn new(map: MapId) -> CoreResult<Iter> {
        let mut h = 0;
        // SAFETY: out-pointer to a local.
        check(unsafe { sys::fm_iter_new(map.0, &mut h) })?;
        Ok(Iter {
            handle: h,
            batch: Vec::new(),
        })
    }

    /// `fm_iter_len`: the number of entries in the snapshot (all of them,
    /// not just those left).
    pub fn snapshot_len(&self) -> CoreResult<usize> {
        let mut n = 0;
        // SAFETY: out-pointer to a local.
        check(unsafe { sys::fm_iter_len(self.handle, &mut n) })?;
        Ok(n)
    }

    /// `fm_iter_next_batch`: replaces the batch with up to `cap` next
    /// entries; false at the end (the batch is then empty).
    pub fn next_batch(&mut self, cap: usize) -> CoreResult<bool> {
        self.batch.clear();
        self.batch
            .resize_with(cap, || Entry(sys::fm_entry::default()));
        let mut count = 0;
        // Entry is repr(transparent) over fm_entry.
        let out = self.batch.as_mut_ptr() as *mut sys::fm_entry;
        // SAFETY: room for cap entries; out-pointer to a local.
        let st = unsafe { sys::fm_iter_next_batch(self.handle, out, cap, &mut count) };
        match st {
            FM_OK => {
                self.batch.truncate(count);
                Ok(count > 0)
            }
            FM_END => {
                self.batch.clear();
                Ok(false)
            }
            s => {
                self.batch.clear();
                Err(CoreError::from_status(s))
            }
        }
    }

    /// The entries of the last batch.
    pub fn batch(&self) -> &[Entry] {
        &self.batch
    }
}

impl Drop for Iter {
    fn drop(&mut self) {
        self.batch.clear();
        // SAFETY: a handle only. Freeing an iterator never waits; a failure
        // (it was freed by someone else) has nobody to report to.
        unsafe { sys::fm_iter_free(self.handle) };
    }
}

// ---- views, export, import -----------------------------------------------------------

/// A value view (`fm_view_*`, `fm_export`), owned: released on drop. The
/// bytes stay valid and unchanged until then.
pub struct View {
    handle: fm_handle,
    ptr: *const u8,
    len: usize,
}

impl View {
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the view keeps its bytes valid until released (on drop).
        unsafe { borrowed(self.ptr, self.len) }
    }

    /// Gives up ownership: the caller releases the handle with
    /// [`view_release`] and reads `len` bytes at `ptr` only until then.
    pub fn into_raw(self) -> (ViewId, *const u8, usize) {
        let me = std::mem::ManuallyDrop::new(self);
        (ViewId(me.handle), me.ptr, me.len)
    }
}

impl Drop for View {
    fn drop(&mut self) {
        let _ = view_release(ViewId(self.handle));
    }
}

fn view_out(
    status: fm_status,
    handle: fm_handle,
    ptr: *const u8,
    len: usize,
) -> CoreResult<Option<View>> {
    found(status, ()).map(|f| f.map(|()| View { handle, ptr, len }))
}

/// `fm_view_i64`: a view of the STR/BYTES value of `key`; None if absent.
pub fn view_i64(map: MapId, key: i64) -> CoreResult<Option<View>> {
    let (mut h, mut ptr, mut len) = (0, std::ptr::null(), 0);
    // SAFETY: out-pointers to locals.
    let st = unsafe { sys::fm_view_i64(map.0, key, &mut h, &mut ptr, &mut len) };
    view_out(st, h, ptr, len)
}

/// `fm_view_buf`: as [`view_i64`].
pub fn view_buf(map: MapId, key: &[u8]) -> CoreResult<Option<View>> {
    let (mut h, mut ptr, mut len) = (0, std::ptr::null(), 0);
    let (kp, kn) = (key.as_ptr(), key.len());
    // SAFETY: key valid for its length; out-pointers to locals.
    let st = unsafe { sys::fm_view_buf(map.0, kp, kn, &mut h, &mut ptr, &mut len) };
    view_out(st, h, ptr, len)
}

/// `fm_view_release`.
pub fn view_release(view: ViewId) -> CoreResult<()> {
    // SAFETY: a handle only.
    check(unsafe { sys::fm_view_release(view.0) })
}

/// `fm_export`: the map as versioned, checksummed bytes, in a view.
pub fn export(map: MapId) -> CoreResult<View> {
    let (mut h, mut ptr, mut len) = (0, std::ptr::null(), 0);
    // SAFETY: out-pointers to locals.
    check(unsafe { sys::fm_export(map.0, &mut h, &mut ptr, &mut len) })?;
    Ok(View {
        handle: h,
        ptr,
        len,
    })
}

/// `fm_import`: a new map, owned by the caller, from exported bytes.
pub fn import(data: &[u8]) -> CoreResult<MapId> {
    let mut h = 0;
    // SAFETY: data valid for its length; out-pointer to a local.
    check(unsafe { sys::fm_import(data.as_ptr(), data.len(), &mut h) })?;
    Ok(MapId(h))
}

// ---- bridge mode ----------------------------------------------------------------------

/// `fm_bridge_new`: a new bridge map the caller owns (starts its owner thread).
pub fn bridge_new(
    key_kind: u32,
    value_kind: u32,
    capacity: usize,
    queue: usize,
) -> CoreResult<MapId> {
    let mut h = 0;
    // SAFETY: out-pointer to a local.
    check(unsafe { sys::fm_bridge_new(key_kind, value_kind, capacity, queue, &mut h) })?;
    Ok(MapId(h))
}

/// `fm_bridge_status`: whether the bridge map failed (its owner thread
/// caught a panic); an error if `map` is no bridge map. Never waits.
pub fn bridge_status(map: MapId) -> CoreResult<bool> {
    // SAFETY: a handle only.
    match unsafe { sys::fm_bridge_status(map.0) } {
        FM_OK => Ok(false),
        FM_BRIDGE_FAILED => Ok(true),
        s => Err(CoreError::from_status(s)),
    }
}

/// `fm_bridge_seq`. Never waits.
pub fn bridge_seq(map: MapId) -> CoreResult<u64> {
    let mut seq = 0;
    // SAFETY: out-pointer to a local.
    check(unsafe { sys::fm_bridge_seq(map.0, &mut seq) })?;
    Ok(seq)
}

/// `fm_last_seq`.
pub fn last_seq() -> u64 {
    // SAFETY: no arguments.
    unsafe { sys::fm_last_seq() }
}

/// A batch of requests laid out as `fm_request`s; keys and values stay
/// borrowed for `'a` (the core copies them at submission).
pub struct Requests<'a> {
    raw: Vec<sys::fm_request>,
    _bytes: PhantomData<&'a [u8]>,
}

impl<'a> Requests<'a> {
    /// From (op, key, value) triples; `op` is an `FM_OP_*` code.
    pub fn new(
        items: impl ExactSizeIterator<Item = (u32, Option<Key<'a>>, Option<Value<'a>>)>,
    ) -> Requests<'a> {
        let raw = items
            .map(|(op, k, v)| {
                let mut r = sys::fm_request {
                    op,
                    ..Default::default()
                };
                match k {
                    Some(Key::Int(i)) => r.key_int = i,
                    Some(Key::Bytes(b)) => (r.key_ptr, r.key_len) = (b.as_ptr(), b.len()),
                    None => {}
                }
                match v {
                    Some(Value::Int(i)) => r.value_int = i,
                    Some(Value::Float(f)) => r.value_float = f,
                    Some(Value::Bytes(b)) => (r.value_ptr, r.value_len) = (b.as_ptr(), b.len()),
                    None => {}
                }
                r
            })
            .collect();
        Requests {
            raw,
            _bytes: PhantomData,
        }
    }
}

/// `fm_submit`: queues the batch, waiting up to `timeout_us` for room
/// (FM_TIMEOUT: nothing was queued); a ticket the caller owns.
pub fn submit(map: MapId, requests: &Requests<'_>, timeout_us: i64) -> CoreResult<Ticket> {
    let mut t = 0;
    let (r, n) = (requests.raw.as_ptr(), requests.raw.len());
    // SAFETY: n requests whose pointers `requests` borrows; out-pointer to a local.
    check(unsafe { sys::fm_submit(map.0, r, n, timeout_us, &mut t) })?;
    Ok(Ticket(TicketId(t)))
}

/// `fm_ticket_poll`: whether the batch has run. Never waits.
pub fn ticket_poll(ticket: TicketId) -> CoreResult<bool> {
    let mut done = false;
    // SAFETY: out-pointer to a local.
    check(unsafe { sys::fm_ticket_poll(ticket.0, &mut done) })?;
    Ok(done)
}

/// `fm_ticket_wait`: waits up to `timeout_us` for the batch; false on timeout.
pub fn ticket_wait(ticket: TicketId, timeout_us: i64) -> CoreResult<bool> {
    // SAFETY: a handle and a number; the core keeps the ticket alive while it waits.
    match unsafe { sys::fm_ticket_wait(ticket.0, timeout_us) } {
        FM_OK => Ok(true),
        FM_TIMEOUT => Ok(false),
        s => Err(CoreError::from_status(s)),
    }
}

/// The outcome of one request of a ticket's batch; a value's bytes live as
/// long as the borrow `'t` of the [`Ticket`] it came from.
#[repr(transparent)]
pub struct Outcome<'t> {
    raw: sys::fm_result,
    _ticket: PhantomData<&'t Ticket>,
}

impl Outcome<'_> {
    pub fn status(&self) -> fm_status {
        self.raw.status as fm_status
    }
    pub fn flag(&self) -> bool {
        self.raw.flag
    }
    pub fn seq(&self) -> u64 {
        self.raw.seq
    }
    pub fn len(&self) -> u64 {
        self.raw.len
    }
    pub fn value_int(&self) -> i64 {
        self.raw.value_int
    }
    pub fn value_float(&self) -> f64 {
        self.raw.value_float
    }
    pub fn value_bytes(&self) -> &[u8] {
        // SAFETY: the Ticket this came from is borrowed for as long as
        // self lives, and keeps the bytes valid until it is freed.
        unsafe { borrowed(self.raw.value_ptr, self.raw.value_len) }
    }
}

/// A ticket (`fm_submit`), owned: freed on drop (the batch runs anyway).
pub struct Ticket(TicketId);

impl Ticket {
    pub fn id(&self) -> TicketId {
        self.0
    }

    /// `fm_ticket_results`: up to `n` results if the batch has run, None if
    /// not yet. Never waits.
    pub fn results(&self, n: usize) -> CoreResult<Option<Vec<Outcome<'_>>>> {
        let mut out: Vec<Outcome<'_>> = (0..n)
            .map(|_| Outcome {
                raw: Default::default(),
                _ticket: PhantomData,
            })
            .collect();
        let mut count = 0;
        // Outcome is repr(transparent) over fm_result.
        let p = out.as_mut_ptr() as *mut sys::fm_result;
        // SAFETY: room for n results; out-pointer to a local.
        match unsafe { sys::fm_ticket_results(self.0 .0, p, n, &mut count) } {
            FM_OK => {
                out.truncate(count);
                Ok(Some(out))
            }
            FM_TIMEOUT => Ok(None),
            s => Err(CoreError::from_status(s)),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // SAFETY: a handle only; freeing a ticket never waits.
        unsafe { sys::fm_ticket_free(self.0 .0) };
    }
}

/// One event of a change feed; its bytes live as long as the borrow of the
/// [`Subscription`] it came from.
pub struct Event<'s> {
    raw: sys::fm_event,
    _sub: PhantomData<&'s mut Subscription>,
}

impl Event<'_> {
    pub fn seq(&self) -> u64 {
        self.raw.seq
    }
    pub fn op(&self) -> u32 {
        self.raw.op
    }
    pub fn lost(&self) -> u64 {
        self.raw.lost
    }
    pub fn key_int(&self) -> i64 {
        self.raw.key_int
    }
    pub fn key_bytes(&self) -> &[u8] {
        // SAFETY: valid until the next read of, or the free of, the
        // subscription, both of which need the `&mut` this event borrows.
        unsafe { borrowed(self.raw.key_ptr, self.raw.key_len) }
    }
    pub fn value_int(&self) -> i64 {
        self.raw.value_int
    }
    pub fn value_float(&self) -> f64 {
        self.raw.value_float
    }
    pub fn value_bytes(&self) -> &[u8] {
        // SAFETY: as in key_bytes.
        unsafe { borrowed(self.raw.value_ptr, self.raw.value_len) }
    }
}

/// A change-feed subscription (`fm_subscribe`), owned: freed on drop.
pub struct Subscription(fm_handle);

impl Subscription {
    /// `fm_subscribe`: never waits for the owner thread.
    pub fn new(map: MapId, bound: usize) -> CoreResult<Subscription> {
        let mut h = 0;
        // SAFETY: out-pointer to a local.
        check(unsafe { sys::fm_subscribe(map.0, bound, &mut h) })?;
        Ok(Subscription(h))
    }

    pub fn handle(&self) -> fm_handle {
        self.0
    }

    /// `fm_sub_next`: the next event, waiting up to `timeout_us`; None on
    /// timeout. FM_CLOSED once the map is closed and every event was read.
    pub fn next(&mut self, timeout_us: i64) -> CoreResult<Option<Event<'_>>> {
        let mut ev = sys::fm_event::default();
        // SAFETY: out-pointer to a local.
        match unsafe { sys::fm_sub_next(self.0, timeout_us, &mut ev) } {
            FM_OK => Ok(Some(Event {
                raw: ev,
                _sub: PhantomData,
            })),
            FM_TIMEOUT => Ok(None),
            s => Err(CoreError::from_status(s)),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // SAFETY: a handle only; never waits for the owner thread.
        unsafe { sys::fm_sub_free(self.0) };
    }
}
