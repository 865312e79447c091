//! Allocation that fails with `FM_OUT_OF_MEMORY` instead of aborting the
//! process. Rust's `Box::new` and `Vec` growth abort when the allocator
//! says no; every allocation an export makes on its way to a new handle
//! goes through here (or through `Vec::try_reserve`), so that the caller
//! gets an error and the process lives.

use std::alloc::{alloc, Layout};

use crate::status::*;

/// The error for a failed allocation of `bytes` bytes. Its message is
/// static: formatting one could need the memory that just ran out.
pub fn out_of_memory() -> Error {
    Error::new(FM_OUT_OF_MEMORY, "the allocator refused memory")
}

/// `Box::new(value)`, or `FM_OUT_OF_MEMORY` (with `value` dropped).
pub fn try_box<T>(value: T) -> Result<Box<T>> {
    let layout = Layout::new::<T>();
    if layout.size() == 0 {
        return Ok(Box::new(value));
    }
    // SAFETY: a layout of non-zero size.
    let p = unsafe { alloc(layout) }.cast::<T>();
    if p.is_null() {
        return Err(out_of_memory());
    }
    // SAFETY: `p` is a fresh allocation with `T`'s layout, which is what
    // `Box` frees with; writing initialises it.
    unsafe {
        p.write(value);
        Ok(Box::from_raw(p))
    }
}

/// A vector with room for `n` elements, or `FM_OUT_OF_MEMORY`.
pub fn try_vec<T>(n: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| out_of_memory())?;
    Ok(v)
}
