//! The C ABI. Every exported function has the same shape:
//!
//! ```text
//! pub unsafe extern "C" fn fm_xxx(args..) -> fm_status {
//!     boundary(|| {                 // catches panics, records the error message
//!         let g = epoch::pin();     // keeps every object we touch alive
//!         let map = map(h, &g)?;    // resolves and checks the handle
//!         ...checked pointer helpers from this module, then the work...
//!         write outputs only once everything succeeded
//!     })
//! }
//! ```
//!
//! All pointer handling lives in the helpers below; the exports read as safe code.

pub mod batch;
pub mod bridge;
pub mod cond;
pub mod info;
pub mod iter;
pub mod lifecycle;
pub mod ops;

#[cfg(feature = "bench-floor")]
pub mod floor;

use std::panic::{catch_unwind, AssertUnwindSafe};

pub(crate) use crate::api::{iterator, view, with_map};
use crate::map::MAX_BLOB_LEN;
use crate::status::*;

/// A handle: an opaque 64-bit number naming a map, iterator or view. 0 is never valid.
#[allow(non_camel_case_types)]
pub type fm_handle = u64;

/// A borrowed byte string: `len` bytes at `ptr` (`ptr` may be NULL when `len` is 0).
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct fm_buf {
    pub ptr: *const u8,
    pub len: usize,
}

/// Runs an export's body: a panic becomes FM_INTERNAL_ERROR, an error is
/// recorded as the thread's last error; nothing unwinds into the caller.
#[inline]
pub fn boundary(body: impl FnOnce() -> Result<()>) -> fm_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => FM_OK,
        Ok(Err(e)) => record(&e),
        Err(payload) => record(&Error::from_panic(&*payload)),
    }
}

/// Like `boundary` for functions that return a value instead of a status:
/// `fallback` on error or panic.
pub fn boundary_value<T>(fallback: T, body: impl FnOnce() -> Result<T>) -> T {
    let mut out = None;
    let status = boundary(|| {
        out = Some(body()?);
        Ok(())
    });
    match (status, out) {
        (FM_OK, Some(v)) => v,
        _ => fallback,
    }
}

/// Borrows `len` bytes at `ptr` as input.
///
/// # Safety
/// Unless NULL, `ptr` must be valid for reads of `len` bytes for the call.
pub unsafe fn bytes_in<'a>(ptr: *const u8, len: usize, what: &'static str) -> Result<&'a [u8]> {
    if len > MAX_BLOB_LEN {
        return fail(
            FM_INVALID_ARGUMENT,
            format!("{what}: length {len} exceeds the 4 GiB limit"),
        );
    }
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return fail(
            FM_NULL_ARGUMENT,
            format!("{what} is NULL with length {len}"),
        );
    }
    Ok(std::slice::from_raw_parts(ptr, len))
}

/// Borrows an array of `n` elements as input (NULL allowed only when n is 0).
///
/// # Safety
/// Unless NULL, `ptr` must be valid for reads of `n` elements.
pub unsafe fn array_in<'a, T>(ptr: *const T, n: usize, what: &'static str) -> Result<&'a [T]> {
    if n > MAX_BLOB_LEN || n > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return fail(
            FM_INVALID_ARGUMENT,
            format!("{what}: count {n} is impossible"),
        );
    }
    if ptr.is_null() {
        if n == 0 {
            return Ok(&[]);
        }
        return fail(FM_NULL_ARGUMENT, format!("{what} is NULL with count {n}"));
    }
    Ok(std::slice::from_raw_parts(ptr, n))
}

/// Borrows an output array of `n` elements (NULL allowed only when n is 0).
///
/// # Safety
/// Unless NULL, `ptr` must be valid for writes of `n` elements.
pub unsafe fn array_out<'a, T>(ptr: *mut T, n: usize, what: &'static str) -> Result<&'a mut [T]> {
    if n > MAX_BLOB_LEN || n > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return fail(
            FM_INVALID_ARGUMENT,
            format!("{what}: count {n} is impossible"),
        );
    }
    if ptr.is_null() {
        if n == 0 {
            return Ok(&mut []);
        }
        return fail(FM_NULL_ARGUMENT, format!("{what} is NULL with count {n}"));
    }
    Ok(std::slice::from_raw_parts_mut(ptr, n))
}

/// A required out-parameter.
pub struct Out<T>(*mut T);

impl<T> Out<T> {
    /// # Safety
    /// Unless NULL, `ptr` must be valid for a write of one `T`.
    pub unsafe fn required(ptr: *mut T, what: &'static str) -> Result<Out<T>> {
        if ptr.is_null() {
            return fail(FM_NULL_ARGUMENT, format!("out-parameter {what} is NULL"));
        }
        Ok(Out(ptr))
    }
    /// An optional out-parameter: NULL means the caller does not want it.
    pub fn optional(ptr: *mut T) -> Out<T> {
        Out(ptr)
    }
    pub fn write(self, value: T) {
        if !self.0.is_null() {
            // SAFETY: checked by the constructor's contract.
            unsafe { self.0.write(value) }
        }
    }
}

/// Checks a required input pointer (callbacks, single structs).
pub fn non_null<T>(ptr: *const T, what: &'static str) -> Result<()> {
    if ptr.is_null() {
        fail(FM_NULL_ARGUMENT, format!("{what} is NULL"))
    } else {
        Ok(())
    }
}

/// Copies `data` into a caller's buffer with the buffer-too-small protocol:
/// the needed length is always written to `len_out`; the bytes only when they fit.
///
/// # Safety
/// `buf` valid for `cap` bytes unless NULL; `len_out` checked by the caller.
pub unsafe fn copy_out(data: &[u8], buf: *mut u8, cap: usize, len_out: Out<usize>) -> Result<()> {
    let needed = data.len();
    if needed > cap {
        len_out.write(needed);
        return fail(
            FM_BUFFER_TOO_SMALL,
            format!("value needs {needed} bytes, buffer holds {cap}"),
        );
    }
    let dst = array_out(buf, needed, "buffer")?;
    dst.copy_from_slice(data);
    len_out.write(needed);
    Ok(())
}
