//! Blobs: immutable, reference-counted byte strings with their hash cached.
//!
//! STR and BYTES keys and values live in blobs; a table slot holds a pointer
//! to one. A blob never changes after it is built, which is what makes the
//! lock-free read path and zero-copy views possible: a reader that found the
//! pointer can read the bytes as long as the blob is alive.
//!
//! Every place that can hand the pointer out holds one reference: a table
//! slot, a view, an export buffer. A reference held by a table that readers
//! can reach is dropped through the epoch scheme ([`release_deferred`]); the
//! others are dropped at once ([`release`]).

use std::alloc::{alloc, dealloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::epoch;

#[repr(C)]
pub struct Blob {
    refs: AtomicUsize,
    hash: u64,
    len: usize,
    // `len` bytes follow.
}

const HEADER: usize = std::mem::size_of::<Blob>();

fn layout(len: usize) -> Option<Layout> {
    Layout::from_size_align(HEADER.checked_add(len)?, std::mem::align_of::<Blob>()).ok()
}

/// Bytes of heap a blob of `len` bytes occupies (for the memory figure in stats).
pub fn footprint(len: usize) -> usize {
    (HEADER + len).next_multiple_of(16)
}

/// Builds a blob holding a copy of `bytes`, with one reference. Returns None
/// when the allocation fails.
pub fn new(bytes: &[u8], hash: u64) -> Option<*const Blob> {
    let layout = layout(bytes.len())?;
    // SAFETY: layout has a non-zero size (the header).
    unsafe {
        let p = alloc(layout) as *mut Blob;
        if p.is_null() {
            return None;
        }
        p.write(Blob {
            refs: AtomicUsize::new(1),
            hash,
            len: bytes.len(),
        });
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), (p as *mut u8).add(HEADER), bytes.len());
        Some(p)
    }
}

/// # Safety
/// `p` must point to a live blob, and the returned slice must not outlive it.
#[inline]
pub unsafe fn bytes<'a>(p: *const Blob) -> &'a [u8] {
    std::slice::from_raw_parts((p as *const u8).add(HEADER), (*p).len)
}

/// # Safety
/// `p` must point to a live blob.
#[inline]
pub unsafe fn hash(p: *const Blob) -> u64 {
    (*p).hash
}

/// Adds a reference.
///
/// # Safety
/// `p` must point to a live blob: the caller holds a reference, or is pinned
/// and found `p` in a table that readers can reach.
#[inline]
pub unsafe fn acquire(p: *const Blob) {
    (*p).refs.fetch_add(1, Ordering::Relaxed);
}

/// Drops a reference, freeing the blob with the last one.
///
/// # Safety
/// The caller owns one reference to `p` and gives it up; no reader can reach
/// `p` through that reference any more.
pub unsafe fn release(p: *const Blob) {
    if (*p).refs.fetch_sub(1, Ordering::Release) == 1 {
        std::sync::atomic::fence(Ordering::Acquire);
        let len = (*p).len;
        dealloc(
            p as *mut u8,
            layout(len).expect("layout was valid at allocation"),
        );
    }
}

unsafe fn release_erased(p: *mut ()) {
    release(p as *const Blob)
}

/// Drops a reference once no pinned reader can still be looking at it.
///
/// # Safety
/// As for [`release`], except that readers may still hold the pointer.
pub unsafe fn release_deferred(p: *const Blob) {
    epoch::retire(
        epoch::Deferred::new(p as *mut (), release_erased),
        footprint((*p).len),
    );
}
