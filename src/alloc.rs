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

/// A copy of `bytes` in a vector of its own, or `FM_OUT_OF_MEMORY`.
pub fn try_copy(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut v = try_vec(bytes.len())?;
    v.extend_from_slice(bytes);
    Ok(v)
}

/// Checks that `bytes` can be allocated now, by allocating and freeing
/// them, before a call that allocates them and cannot fail: `Arc::new`
/// (stable Rust has no fallible form) and the bridge queue's ring, which
/// the channel crate allocates. A small block comes straight back: glibc
/// hands the next request of its size class the block the same thread
/// just freed (its per-thread cache). A large one is unmapped and mapped
/// again, so another thread could take the room in between; the check
/// still turns the common case, a request far beyond what the process can
/// get, into `FM_OUT_OF_MEMORY`.
pub fn check_room(bytes: usize) -> Result<()> {
    drop(try_vec::<u8>(bytes)?);
    Ok(())
}

/// `Arc::new(value)`, or `FM_OUT_OF_MEMORY` (see [`check_room`]).
pub fn try_arc<T>(value: T) -> Result<std::sync::Arc<T>> {
    // An Arc's block: two counts, then the value.
    check_room(2 * std::mem::size_of::<usize>() + std::mem::size_of::<T>())?;
    Ok(std::sync::Arc::new(value))
}
