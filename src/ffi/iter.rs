//! Iterators, for_each, value views, export and import.

use std::ffi::c_void;

use super::{array_out, boundary, bytes_in, fm_handle, iterator, view, with_map, Out};
use crate::blob;
use crate::codec;
use crate::epoch;
use crate::iter::{Iter, View};
use crate::kind::KeyRef;
use crate::kind::{fm_kind, FM_FLOAT, FM_INT};
use crate::objects::{self, MapObject};
use crate::status::*;

/// One entry, as iterators and `fm_for_each` hand it out. Only the fields of
/// the map's kinds are meaningful; the others are 0 / NULL.
/// - INT key: `key_int`. STR/BYTES key: `key_ptr`, `key_len`.
/// - INT value: `value_int`. FLOAT value: `value_float`. STR/BYTES value:
///   `value_ptr`, `value_len`.
///
/// STR bytes are UTF-8 and not NUL-terminated. Pointers are owned by the
/// library and stay valid until the iterator they came from is freed (for
/// `fm_for_each`: until the callback returns).
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct fm_entry {
    pub key_int: i64,
    pub key_ptr: *const u8,
    pub key_len: usize,
    pub value_int: i64,
    pub value_float: f64,
    pub value_ptr: *const u8,
    pub value_len: usize,
}

impl Default for fm_entry {
    fn default() -> fm_entry {
        fm_entry {
            key_int: 0,
            key_ptr: std::ptr::null(),
            key_len: 0,
            value_int: 0,
            value_float: 0.0,
            value_ptr: std::ptr::null(),
            value_len: 0,
        }
    }
}

/// Bytes of a blob word (STR/BYTES key or value).
fn word_bytes(word: u64) -> (*const u8, usize) {
    // SAFETY: callers pass blob words kept alive by a snapshot.
    let b = unsafe { blob::bytes(word as *const blob::Blob) };
    (b.as_ptr(), b.len())
}

/// Builds an entry from a key word and value word of a map of these kinds.
pub(crate) fn entry(key_kind: fm_kind, val_kind: fm_kind, k: u64, v: u64) -> fm_entry {
    let mut e = fm_entry::default();
    if key_kind == FM_INT {
        e.key_int = k as i64;
    } else {
        (e.key_ptr, e.key_len) = word_bytes(k);
    }
    match val_kind {
        FM_INT => e.value_int = v as i64,
        FM_FLOAT => e.value_float = f64::from_bits(v),
        _ => (e.value_ptr, e.value_len) = word_bytes(v),
    }
    e
}

/// Creates an iterator over a snapshot of the map: exactly the entries the
/// map held at this instant, each once, whatever happens to the map later
/// (writes, clear, even `fm_map_free`). O(shards), never O(entries); writers
/// are never blocked by it. Order is unspecified but fixed. The caller owns
/// the iterator and frees it with `fm_iter_free`. `iter_out` must not be
/// NULL. Threads: any; one iterator may be shared by threads (each entry is
/// handed out once in all).
///
/// # Safety
/// `iter_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_iter_new(map: fm_handle, iter_out: *mut fm_handle) -> fm_status {
    boundary(|| {
        let out = Out::required(iter_out, "iter_out")?;
        out.write(crate::api::iter_new(map)?);
        Ok(())
    })
}

/// Writes the number of entries in the iterator's snapshot (all of them, not
/// just those left) to `*len_out` (not NULL).
///
/// # Safety
/// `len_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_iter_len(iter: fm_handle, len_out: *mut usize) -> fm_status {
    boundary(|| {
        let out = Out::required(len_out, "len_out")?;
        let g = epoch::pin();
        out.write(iterator(iter, &g)?.snapshot().len());
        Ok(())
    })
}

/// Writes the next entry to `*entry_out` (not NULL) and returns FM_OK, or
/// returns FM_END when none are left. Pointers in the entry stay valid until
/// the iterator is freed.
///
/// # Safety
/// `entry_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_iter_next(iter: fm_handle, entry_out: *mut fm_entry) -> fm_status {
    let mut n = 0;
    let status = next_batch(iter, entry_out, 1, &mut n);
    if status == FM_OK && n == 0 {
        return FM_END;
    }
    status
}

/// Writes up to `cap` next entries to `entries` and their number to
/// `*count_out` (not NULL). Returns FM_END (count 0) when none are left.
/// `entries` may be NULL only if `cap` is 0.
///
/// # Safety
/// `entries` valid for `cap` writes; `count_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_iter_next_batch(
    iter: fm_handle,
    entries: *mut fm_entry,
    cap: usize,
    count_out: *mut usize,
) -> fm_status {
    next_batch(iter, entries, cap, count_out)
}

/// The body of `fm_iter_next_batch`, which `fm_iter_next` calls directly:
/// a call through the exported symbol could bind to another copy of the
/// library that is in the global scope, and reach the wrong registry.
unsafe fn next_batch(
    iter: fm_handle,
    entries: *mut fm_entry,
    cap: usize,
    count_out: *mut usize,
) -> fm_status {
    boundary(|| {
        let out = Out::required(count_out, "count_out")?;
        let dst = array_out(entries, cap, "entries")?;
        let g = epoch::pin();
        let it = iterator(iter, &g)?;
        let (kk, vk) = (it.snapshot().key_kind, it.snapshot().val_kind);
        let mut i = 0;
        let n = it.next_batch(cap, |k, v| {
            dst[i] = entry(kk, vk, k, v);
            i += 1;
        });
        out.write(n);
        if n == 0 && cap > 0 {
            return Err(Error::new(FM_END, ""));
        }
        Ok(())
    })
}

/// Fast path for INT-keyed maps with INT or FLOAT values: writes up to `cap`
/// next keys to `keys` and values to `values` (for FLOAT values, the bits of
/// the double: `memcpy` them into a `double`), and their number to
/// `*count_out`. FM_END when none are left; FM_WRONG_KIND for other schemas.
///
/// # Safety
/// `keys` and `values` valid for `cap` writes; `count_out` for one.
#[no_mangle]
pub unsafe extern "C" fn fm_iter_next_i64(
    iter: fm_handle,
    keys: *mut i64,
    values: *mut i64,
    cap: usize,
    count_out: *mut usize,
) -> fm_status {
    boundary(|| {
        let out = Out::required(count_out, "count_out")?;
        let ks = array_out(keys, cap, "keys")?;
        let vs = array_out(values, cap, "values")?;
        let g = epoch::pin();
        let it = iterator(iter, &g)?;
        let snap = it.snapshot();
        if snap.key_kind != FM_INT || snap.val_kind.is_blob() {
            return fail(
                FM_WRONG_KIND,
                "fm_iter_next_i64 needs INT keys and INT or FLOAT values",
            );
        }
        let mut i = 0;
        let n = it.next_batch(cap, |k, v| {
            ks[i] = k as i64;
            vs[i] = v as i64;
            i += 1;
        });
        out.write(n);
        if n == 0 && cap > 0 {
            return Err(Error::new(FM_END, ""));
        }
        Ok(())
    })
}

/// Frees an iterator and the snapshot it holds. Freeing 0 is a no-op;
/// freeing twice returns FM_INVALID_HANDLE. Threads: any.
#[no_mangle]
pub extern "C" fn fm_iter_free(iter: fm_handle) -> fm_status {
    free_handle(iter, objects::free::<Iter>)
}

/// Frees `handle` with `free` (a kind's own), treating 0 as a no-op.
pub(crate) fn free_handle(handle: fm_handle, free: fn(u64) -> Result<()>) -> fm_status {
    boundary(|| {
        if handle == 0 {
            return Ok(());
        }
        let _g = epoch::pin();
        free(handle)
    })
}

/// Callback for `fm_for_each`: return 0 to go on, anything else to stop
/// (`fm_for_each` then returns FM_CALLBACK_STOPPED). `entry` and its
/// pointers are valid only during the callback. A call into the same map
/// returns FM_REENTRANT; other maps may be used freely. Must not unwind.
#[allow(non_camel_case_types)]
pub type fm_foreach_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, entry: *const fm_entry) -> i32>;

/// Calls `callback(ctx, entry)` for every entry of a snapshot of the map (as
/// an iterator would see it), on the calling thread. `callback` must not be
/// NULL; `ctx` is passed through.
///
/// # Safety
/// `callback` must be a valid function of that type.
#[no_mangle]
pub unsafe extern "C" fn fm_for_each(
    map: fm_handle,
    callback: fm_foreach_fn,
    ctx: *mut c_void,
) -> fm_status {
    boundary(|| {
        let f = callback.ok_or_else(|| Error::new(FM_NULL_ARGUMENT, "callback is NULL"))?;
        let g = epoch::pin();
        with_map(map, &g, |m, _| {
            let (kk, vk) = (m.key_kind, m.val_kind);
            m.for_each(&mut |k, v| {
                let e = entry(kk, vk, k, v);
                // SAFETY: the entry lives on our stack for the call.
                match unsafe { f(ctx, &e) } {
                    0 => Ok(()),
                    rc => fail(
                        FM_CALLBACK_STOPPED,
                        format!("for_each callback returned {rc}"),
                    ),
                }
            })
        })
    })
}

// ---- views ----------------------------------------------------------------

fn make_view(
    map_h: fm_handle,
    key: impl FnOnce() -> Result<KeyRef<'static>>,
    view_out: *mut fm_handle,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> fm_status {
    boundary(|| {
        let out = unsafe { Out::required(view_out, "view_out") }?;
        let g = epoch::pin();
        let v = with_map(map_h, &g, |m, g| {
            crate::api::expect_values(m, crate::api::Want::Buf)?;
            let word = m.get_word(key()?, g)?.ok_or_else(Error::not_found)?;
            // SAFETY: found while pinned.
            Ok(unsafe { View::of_word(word, Some(m.counters.clone())) })
        })?;
        let (p, n) = (v.bytes().as_ptr(), v.bytes().len());
        out.write(objects::insert(v)?);
        Out::optional(ptr_out).write(p);
        Out::optional(len_out).write(n);
        Ok(())
    })
}

/// Opens a zero-copy view of the STR/BYTES value of INT `key`: writes a view
/// handle to `*view_out` (not NULL), and the value's address and length to
/// `*ptr_out` and `*len_out` (each may be NULL; `fm_view_bytes` gives them
/// later). The bytes stay valid and unchanged until `fm_view_release`, even
/// if the key is overwritten or removed or the map is freed meanwhile.
/// FM_NOT_FOUND if the key is absent. The caller owns the view.
///
/// # Safety
/// Non-NULL pointers valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_view_i64(
    map: fm_handle,
    key: i64,
    view_out: *mut fm_handle,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> fm_status {
    make_view(
        map,
        move || Ok(KeyRef::Int(key as u64)),
        view_out,
        ptr_out,
        len_out,
    )
}

/// As `fm_view_i64` for a STR/BYTES key (`key` NULL only if `key_len` is 0).
///
/// # Safety
/// `key` valid for `key_len` bytes; non-NULL out pointers valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_view_buf(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    view_out: *mut fm_handle,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> fm_status {
    make_view(
        map,
        move || Ok(KeyRef::Bytes(bytes_in(key, key_len, "key")?)),
        view_out,
        ptr_out,
        len_out,
    )
}

/// Writes the address and length of a view's bytes (valid until the view is
/// released). Neither out pointer may be NULL. Threads: any.
///
/// # Safety
/// Out pointers valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_view_bytes(
    view: fm_handle,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> fm_status {
    boundary(|| {
        let p = Out::required(ptr_out, "ptr_out")?;
        let l = Out::required(len_out, "len_out")?;
        let g = epoch::pin();
        let b = self::view(view, &g)?.bytes();
        p.write(b.as_ptr());
        l.write(b.len());
        Ok(())
    })
}

/// Releases a view; its bytes may be freed afterwards. Releasing 0 is a
/// no-op; releasing twice returns FM_INVALID_HANDLE. Threads: any (another
/// thread still reading the bytes when the view is released is the caller's
/// bug, as with free()).
#[no_mangle]
pub extern "C" fn fm_view_release(view: fm_handle) -> fm_status {
    free_handle(view, objects::free::<View>)
}

// ---- export / import ------------------------------------------------------

/// Serialises a snapshot of the map (format: docs/architecture.md, "Export
/// format"). Writes a view handle owning the bytes to `*view_out` (not NULL)
/// and their address and length to `*ptr_out` / `*len_out` (may be NULL).
/// The caller releases the bytes with `fm_view_release`. Threads: any;
/// writers are not blocked while the bytes are produced.
///
/// # Safety
/// Non-NULL pointers valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_export(
    map: fm_handle,
    view_out: *mut fm_handle,
    ptr_out: *mut *const u8,
    len_out: *mut usize,
) -> fm_status {
    boundary(|| {
        let out = Out::required(view_out, "view_out")?;
        let g = epoch::pin();
        let snap = with_map(map, &g, |m, _| m.snapshot())?;
        let bytes = codec::export(&snap)?;
        drop(snap);
        let v =
            View::of_bytes(&bytes).ok_or_else(|| Error::new(FM_OUT_OF_MEMORY, "export buffer"))?;
        let (p, n) = (v.bytes().as_ptr(), v.bytes().len());
        out.write(objects::insert(v)?);
        Out::optional(ptr_out).write(p);
        Out::optional(len_out).write(n);
        Ok(())
    })
}

/// Builds a new map from `len` bytes of `fm_export` output at `data` and
/// writes its handle to `*map_out` (not NULL). The data is treated as
/// untrusted: corruption or truncation (including empty input) gives
/// FM_CORRUPT_DATA, a newer format FM_UNSUPPORTED_VERSION, and no map is
/// created. `data` may be NULL only if `len` is 0. The caller keeps its
/// buffer and owns the new map.
///
/// # Safety
/// `data` valid for `len` bytes; `map_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_import(
    data: *const u8,
    len: usize,
    map_out: *mut fm_handle,
) -> fm_status {
    boundary(|| {
        let out = Out::required(map_out, "map_out")?;
        let bytes = bytes_in(data, len, "data")?;
        let _g = epoch::pin();
        let m = codec::import(bytes)?;
        out.write(objects::insert(MapObject::Direct(m))?);
        Ok(())
    })
}
