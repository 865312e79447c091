//! Single-key operations. Names say the key and value types crossing the
//! boundary: `i64` is a plain integer (INT keys and values: no packing, no
//! allocation), `f64` a double (FLOAT values), `buf` a pointer and a length
//! (STR and BYTES; STR is checked to be UTF-8).
//!
//! Unless stated otherwise, every function here may be called from any
//! thread at any time on the same map, and every operation on one key is
//! linearizable.

use super::{boundary, bytes_in, copy_out, fm_handle, non_null, with_map, Out};
use crate::api::fast::{get_int_plain, get_int_resolving, insert_int_plain, insert_int_resolving};
use crate::api::{expect_values, Want};
use crate::epoch;
use crate::kind::KeyRef;
use crate::kind::{ValIn, FM_FLOAT, FM_INT};
use crate::status::*;

/// Shared body of the inserts: `overwrite` false leaves an existing value.
/// `present` receives whether the key was there before.
fn insert(
    map_h: fm_handle,
    key: impl FnOnce() -> Result<KeyRef<'static>>,
    val: impl FnOnce() -> Result<ValIn<'static>>,
    overwrite: bool,
    present: *mut bool,
) -> fm_status {
    boundary(|| {
        let g = epoch::pin();
        let was = with_map(map_h, &g, |m, _| {
            let (k, v) = (key()?, val()?);
            if overwrite {
                m.insert(k, v)
            } else {
                m.insert_if_absent(k, v)
            }
        })?;
        Out::optional(present).write(was);
        Ok(())
    })
}

/// Shared body of the lookups: `deliver` gets the value word while the
/// thread is still pinned (so a blob word is alive).
fn lookup(
    map_h: fm_handle,
    key: impl FnOnce() -> Result<KeyRef<'static>>,
    want: Want,
    deliver: impl FnOnce(u64) -> Result<()>,
) -> fm_status {
    boundary(|| {
        let g = epoch::pin();
        with_map(map_h, &g, |m, g| {
            expect_values(m, want)?;
            match m.get_word(key()?, g)? {
                Some(word) => deliver(word),
                None => Err(Error::not_found()),
            }
        })
    })
}

/// Shared body of the takes: `deliver` gets the value word under the shard
/// lock; if it fails (a buffer too small) nothing is removed.
fn take(
    map_h: fm_handle,
    key: impl FnOnce() -> Result<KeyRef<'static>>,
    want: Want,
    deliver: impl FnOnce(u64) -> Result<()>,
) -> fm_status {
    boundary(|| {
        let g = epoch::pin();
        with_map(map_h, &g, |m, _| {
            expect_values(m, want)?;
            let mut deliver = Some(deliver);
            let mut accept = |w| deliver.take().map_or(Ok(()), |d| d(w));
            if m.take(key()?, &mut accept)? {
                Ok(())
            } else {
                Err(Error::not_found())
            }
        })
    })
}

pub(super) fn int_key(k: i64) -> impl FnOnce() -> Result<KeyRef<'static>> {
    move || Ok(KeyRef::Int(k as u64))
}

/// # Safety
/// As for `bytes_in`; the 'static is a lie confined to one call.
pub(super) unsafe fn buf_key(
    ptr: *const u8,
    len: usize,
) -> impl FnOnce() -> Result<KeyRef<'static>> {
    move || Ok(KeyRef::Bytes(bytes_in(ptr, len, "key")?))
}

pub(super) unsafe fn buf_val(
    ptr: *const u8,
    len: usize,
) -> impl FnOnce() -> Result<ValIn<'static>> {
    move || Ok(ValIn::Bytes(bytes_in(ptr, len, "value")?))
}

/// Copies a STR/BYTES value word out with the buffer-too-small protocol.
pub(super) unsafe fn deliver_buf(
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
) -> Result<impl FnOnce(u64) -> Result<()>> {
    let len_out = Out::required(len_out, "len_out")?;
    if cap > crate::map::MAX_BLOB_LEN {
        return fail(
            FM_INVALID_ARGUMENT,
            format!("buffer capacity {cap} exceeds the 4 GiB limit"),
        );
    }
    Ok(move |word: u64| {
        // SAFETY: a blob word found while pinned stays alive for this call.
        let data = unsafe { crate::blob::bytes(word as *const crate::blob::Blob) };
        unsafe { copy_out(data, buf, cap, len_out) }
    })
}

// ---- insert ---------------------------------------------------------------

/// Inserts or overwrites `key` → `value` in an INT→INT map. `*replaced` (may
/// be NULL) is set to whether an existing value was overwritten.
///
/// # Safety
/// `replaced`, if not NULL, must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_i64_i64(
    map: fm_handle,
    key: i64,
    value: i64,
    replaced: *mut bool,
) -> fm_status {
    match insert_int_plain(map, key as u64, FM_INT, value as u64) {
        Some(was) => {
            Out::optional(replaced).write(was);
            FM_OK
        }
        None => insert_int_slow(map, key, ValIn::Int(value), replaced),
    }
}

/// Everything but the plain case, out of line: the plain case again after
/// resolving the handle through the registry; growth, copy-on-write and
/// locked writes inside the panic boundary under an ordinary pin (they
/// allocate and retire); then the general path, which also reports every
/// error (an insert that ran out of memory changed nothing and ends there).
#[inline(never)]
fn insert_int_slow(
    map: fm_handle,
    key: i64,
    value: ValIn<'static>,
    replaced: *mut bool,
) -> fm_status {
    let (val_kind, vword) = match value {
        ValIn::Int(v) => (FM_INT, v as u64),
        ValIn::Float(f) => (FM_FLOAT, f.to_bits()),
        // Not passed by the integer inserts; the general path takes anything.
        ValIn::Bytes(_) => return insert(map, int_key(key), move || Ok(value), true, replaced),
    };
    match insert_int_resolving(map, key as u64, val_kind, vword) {
        Some(was) => {
            Out::optional(replaced).write(was);
            FM_OK
        }
        None => insert(map, int_key(key), move || Ok(value), true, replaced),
    }
}

/// Inserts or overwrites in an INT→FLOAT map. `replaced` may be NULL.
///
/// # Safety
/// `replaced`, if not NULL, must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_i64_f64(
    map: fm_handle,
    key: i64,
    value: f64,
    replaced: *mut bool,
) -> fm_status {
    match insert_int_plain(map, key as u64, FM_FLOAT, value.to_bits()) {
        Some(was) => {
            Out::optional(replaced).write(was);
            FM_OK
        }
        None => insert_int_slow(map, key, ValIn::Float(value), replaced),
    }
}

/// Inserts or overwrites in an INT→STR or INT→BYTES map. The library copies
/// the `value_len` bytes at `value` (NULL only if `value_len` is 0); the
/// caller keeps ownership of its buffer. `replaced` may be NULL.
///
/// # Safety
/// `value` valid for `value_len` bytes; `replaced` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_i64_buf(
    map: fm_handle,
    key: i64,
    value: *const u8,
    value_len: usize,
    replaced: *mut bool,
) -> fm_status {
    insert(map, int_key(key), buf_val(value, value_len), true, replaced)
}

/// Inserts or overwrites in a STR/BYTES→INT map. The key bytes are copied.
/// `key` may be NULL only if `key_len` is 0; `replaced` may be NULL.
///
/// # Safety
/// `key` valid for `key_len` bytes; `replaced` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_buf_i64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value: i64,
    replaced: *mut bool,
) -> fm_status {
    insert(
        map,
        buf_key(key, key_len),
        move || Ok(ValIn::Int(value)),
        true,
        replaced,
    )
}

/// Inserts or overwrites in a STR/BYTES→FLOAT map. As `fm_insert_buf_i64`.
///
/// # Safety
/// `key` valid for `key_len` bytes; `replaced` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_buf_f64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value: f64,
    replaced: *mut bool,
) -> fm_status {
    insert(
        map,
        buf_key(key, key_len),
        move || Ok(ValIn::Float(value)),
        true,
        replaced,
    )
}

/// Inserts or overwrites in a STR/BYTES→STR/BYTES map. Key and value bytes
/// are copied; NULL pointers are allowed only with length 0. `replaced` may
/// be NULL.
///
/// # Safety
/// Pointers valid for their lengths; `replaced` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_buf_buf(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    replaced: *mut bool,
) -> fm_status {
    insert(
        map,
        buf_key(key, key_len),
        buf_val(value, value_len),
        true,
        replaced,
    )
}

// ---- insert if absent -----------------------------------------------------

/// Inserts `key` → `value` into an INT→INT map only if `key` is absent, as
/// one atomic step; an existing value is left unchanged. `*present` (may be
/// NULL) says whether the key was already there (then nothing changed).
///
/// # Safety
/// `present` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_if_absent_i64_i64(
    map: fm_handle,
    key: i64,
    value: i64,
    present: *mut bool,
) -> fm_status {
    insert(
        map,
        int_key(key),
        move || Ok(ValIn::Int(value)),
        false,
        present,
    )
}

/// As `fm_insert_if_absent_i64_i64` for an INT→FLOAT map.
///
/// # Safety
/// `present` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_if_absent_i64_f64(
    map: fm_handle,
    key: i64,
    value: f64,
    present: *mut bool,
) -> fm_status {
    insert(
        map,
        int_key(key),
        move || Ok(ValIn::Float(value)),
        false,
        present,
    )
}

/// As `fm_insert_if_absent_i64_i64` for an INT→STR/BYTES map (the value
/// bytes are copied; NULL only if `value_len` is 0).
///
/// # Safety
/// `value` valid for `value_len` bytes; `present` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_if_absent_i64_buf(
    map: fm_handle,
    key: i64,
    value: *const u8,
    value_len: usize,
    present: *mut bool,
) -> fm_status {
    insert(map, int_key(key), buf_val(value, value_len), false, present)
}

/// As `fm_insert_if_absent_i64_i64` for a STR/BYTES→INT map.
///
/// # Safety
/// `key` valid for `key_len` bytes; `present` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_if_absent_buf_i64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value: i64,
    present: *mut bool,
) -> fm_status {
    insert(
        map,
        buf_key(key, key_len),
        move || Ok(ValIn::Int(value)),
        false,
        present,
    )
}

/// As `fm_insert_if_absent_i64_i64` for a STR/BYTES→FLOAT map.
///
/// # Safety
/// `key` valid for `key_len` bytes; `present` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_if_absent_buf_f64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value: f64,
    present: *mut bool,
) -> fm_status {
    insert(
        map,
        buf_key(key, key_len),
        move || Ok(ValIn::Float(value)),
        false,
        present,
    )
}

/// As `fm_insert_if_absent_i64_i64` for a STR/BYTES→STR/BYTES map.
///
/// # Safety
/// Pointers valid for their lengths; `present` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_if_absent_buf_buf(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    present: *mut bool,
) -> fm_status {
    insert(
        map,
        buf_key(key, key_len),
        buf_val(value, value_len),
        false,
        present,
    )
}

// ---- get ------------------------------------------------------------------

/// Looks `key` up in an INT→INT map: FM_OK and `*value_out` set, or
/// FM_NOT_FOUND and `*value_out` untouched. `value_out` must not be NULL.
///
/// # Safety
/// `value_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_get_i64_i64(
    map: fm_handle,
    key: i64,
    value_out: *mut i64,
) -> fm_status {
    if !value_out.is_null() {
        if let Some(found) = get_int_plain(map, key as u64, FM_INT) {
            return deliver_int(found, value_out, |w| w as i64);
        }
    }
    get_i64_i64_slow(map, key, value_out)
}

/// Looks `key` up in an INT→FLOAT map. As `fm_get_i64_i64`.
///
/// # Safety
/// `value_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_get_i64_f64(
    map: fm_handle,
    key: i64,
    value_out: *mut f64,
) -> fm_status {
    if !value_out.is_null() {
        if let Some(found) = get_int_plain(map, key as u64, FM_FLOAT) {
            return deliver_int(found, value_out, f64::from_bits);
        }
    }
    get_i64_f64_slow(map, key, value_out)
}

/// FM_OK with the converted value written, or FM_NOT_FOUND.
///
/// # Safety
/// `value_out` valid for a write.
#[inline(always)]
unsafe fn deliver_int<T>(
    found: Option<u64>,
    value_out: *mut T,
    convert: impl FnOnce(u64) -> T,
) -> fm_status {
    match found {
        Some(w) => {
            value_out.write(convert(w));
            FM_OK
        }
        None => FM_NOT_FOUND,
    }
}

#[inline(never)]
unsafe fn get_i64_i64_slow(map: fm_handle, key: i64, value_out: *mut i64) -> fm_status {
    get_int_slow(map, key, FM_INT, Want::Int, value_out, |w| w as i64)
}

#[inline(never)]
unsafe fn get_i64_f64_slow(map: fm_handle, key: i64, value_out: *mut f64) -> fm_status {
    get_int_slow(map, key, FM_FLOAT, Want::Float, value_out, f64::from_bits)
}

/// Everything but the plain case of the integer gets: the same lookup after
/// resolving the handle through the registry (which refills the memo) and
/// with the locked fallback for a reader that writers keep overtaking (a
/// mutex whose poisoning is ignored: nothing here can panic either); then
/// the general path, which also reports every error.
///
/// # Safety
/// `value_out` NULL or valid for a write.
#[inline(always)]
unsafe fn get_int_slow<T>(
    map: fm_handle,
    key: i64,
    val_kind: crate::kind::fm_kind,
    want: Want,
    value_out: *mut T,
    convert: impl Fn(u64) -> T,
) -> fm_status {
    if value_out.is_null() {
        return boundary(|| non_null(value_out, "value_out"));
    }
    if let Some(found) = get_int_resolving(map, key as u64, val_kind) {
        return deliver_int(found, value_out, &convert);
    }
    lookup(map, int_key(key), want, |w| {
        // SAFETY: checked non-NULL above.
        unsafe { value_out.write(convert(w)) };
        Ok(())
    })
}

/// Copies the STR/BYTES value of `key` (INT-keyed map) into `buf`, which
/// holds `cap` bytes, and writes its length to `*len_out`. If `cap` is too
/// small, returns FM_BUFFER_TOO_SMALL, writes the needed length to
/// `*len_out` and leaves `buf` untouched (call again with a bigger buffer,
/// or use `fm_view_i64` to avoid the copy). `len_out` must not be NULL; `buf`
/// may be NULL when `cap` is 0. No NUL terminator is added.
///
/// # Safety
/// `buf` valid for `cap` bytes; `len_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_get_i64_buf(
    map: fm_handle,
    key: i64,
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
) -> fm_status {
    match deliver_buf(buf, cap, len_out) {
        Ok(deliver) => lookup(map, int_key(key), Want::Buf, deliver),
        Err(e) => boundary(|| Err(e)),
    }
}

/// Looks a STR/BYTES key up in a map with INT values. `key` may be NULL only
/// if `key_len` is 0; `value_out` must not be NULL.
///
/// # Safety
/// `key` valid for `key_len` bytes; `value_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_get_buf_i64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value_out: *mut i64,
) -> fm_status {
    if value_out.is_null() {
        return boundary(|| non_null(value_out, "value_out"));
    }
    lookup(map, buf_key(key, key_len), Want::Int, |w| {
        // SAFETY: checked non-NULL above.
        unsafe { value_out.write(w as i64) };
        Ok(())
    })
}

/// Looks a STR/BYTES key up in a map with FLOAT values. As `fm_get_buf_i64`.
///
/// # Safety
/// `key` valid for `key_len` bytes; `value_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_get_buf_f64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value_out: *mut f64,
) -> fm_status {
    if value_out.is_null() {
        return boundary(|| non_null(value_out, "value_out"));
    }
    lookup(map, buf_key(key, key_len), Want::Float, |w| {
        // SAFETY: checked non-NULL above.
        unsafe { value_out.write(f64::from_bits(w)) };
        Ok(())
    })
}

/// Copies the STR/BYTES value of a STR/BYTES key into `buf`, with the
/// buffer-too-small protocol of `fm_get_i64_buf`.
///
/// # Safety
/// `key` valid for `key_len` bytes; `buf` for `cap` bytes; `len_out` writable.
#[no_mangle]
pub unsafe extern "C" fn fm_get_buf_buf(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
) -> fm_status {
    match deliver_buf(buf, cap, len_out) {
        Ok(deliver) => lookup(map, buf_key(key, key_len), Want::Buf, deliver),
        Err(e) => boundary(|| Err(e)),
    }
}

// ---- contains / remove ----------------------------------------------------

fn contains(
    map_h: fm_handle,
    key: impl FnOnce() -> Result<KeyRef<'static>>,
    found: *mut bool,
) -> fm_status {
    boundary(|| {
        let out = unsafe { Out::required(found, "found_out") }?;
        let g = epoch::pin();
        let present = with_map(map_h, &g, |m, g| m.contains(key()?, g))?;
        out.write(present);
        Ok(())
    })
}

fn remove(
    map_h: fm_handle,
    key: impl FnOnce() -> Result<KeyRef<'static>>,
    removed: *mut bool,
) -> fm_status {
    boundary(|| {
        let g = epoch::pin();
        let was = with_map(map_h, &g, |m, _| m.remove(key()?))?;
        Out::optional(removed).write(was);
        Ok(())
    })
}

/// Writes whether the INT `key` is present to `*found_out` (not NULL).
///
/// # Safety
/// `found_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_contains_i64(
    map: fm_handle,
    key: i64,
    found_out: *mut bool,
) -> fm_status {
    contains(map, int_key(key), found_out)
}

/// Writes whether the STR/BYTES `key` is present to `*found_out` (not NULL).
///
/// # Safety
/// `key` valid for `key_len` bytes; `found_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_contains_buf(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    found_out: *mut bool,
) -> fm_status {
    contains(map, buf_key(key, key_len), found_out)
}

/// Removes the INT `key`. `*removed` (may be NULL) says whether it was present.
///
/// # Safety
/// `removed` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_remove_i64(map: fm_handle, key: i64, removed: *mut bool) -> fm_status {
    remove(map, int_key(key), removed)
}

/// Removes the STR/BYTES `key`. `*removed` (may be NULL) says whether it was present.
///
/// # Safety
/// `key` valid for `key_len` bytes; `removed` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_remove_buf(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    removed: *mut bool,
) -> fm_status {
    remove(map, buf_key(key, key_len), removed)
}

// ---- take (remove and return) ---------------------------------------------

/// Removes the INT `key` from an INT→INT map and writes the value it had to
/// `*value_out` (not NULL), as one atomic step. FM_NOT_FOUND if absent.
///
/// # Safety
/// `value_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_take_i64_i64(
    map: fm_handle,
    key: i64,
    value_out: *mut i64,
) -> fm_status {
    match Out::required(value_out, "value_out") {
        Ok(out) => take(map, int_key(key), Want::Int, move |w| {
            out.write(w as i64);
            Ok(())
        }),
        Err(e) => boundary(|| Err(e)),
    }
}

/// As `fm_take_i64_i64` for an INT→FLOAT map.
///
/// # Safety
/// `value_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_take_i64_f64(
    map: fm_handle,
    key: i64,
    value_out: *mut f64,
) -> fm_status {
    match Out::required(value_out, "value_out") {
        Ok(out) => take(map, int_key(key), Want::Float, move |w| {
            out.write(f64::from_bits(w));
            Ok(())
        }),
        Err(e) => boundary(|| Err(e)),
    }
}

/// Removes the INT `key` and copies the STR/BYTES value it had into `buf`,
/// with the buffer-too-small protocol of `fm_get_i64_buf`; when the buffer
/// is too small the key is NOT removed.
///
/// # Safety
/// `buf` valid for `cap` bytes; `len_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_take_i64_buf(
    map: fm_handle,
    key: i64,
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
) -> fm_status {
    match deliver_buf(buf, cap, len_out) {
        Ok(deliver) => take(map, int_key(key), Want::Buf, deliver),
        Err(e) => boundary(|| Err(e)),
    }
}

/// As `fm_take_i64_i64` for a STR/BYTES key (`key` NULL only if `key_len` is 0).
///
/// # Safety
/// `key` valid for `key_len` bytes; `value_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_take_buf_i64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value_out: *mut i64,
) -> fm_status {
    match Out::required(value_out, "value_out") {
        Ok(out) => take(map, buf_key(key, key_len), Want::Int, move |w| {
            out.write(w as i64);
            Ok(())
        }),
        Err(e) => boundary(|| Err(e)),
    }
}

/// As `fm_take_i64_f64` for a STR/BYTES key.
///
/// # Safety
/// `key` valid for `key_len` bytes; `value_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_take_buf_f64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value_out: *mut f64,
) -> fm_status {
    match Out::required(value_out, "value_out") {
        Ok(out) => take(map, buf_key(key, key_len), Want::Float, move |w| {
            out.write(f64::from_bits(w));
            Ok(())
        }),
        Err(e) => boundary(|| Err(e)),
    }
}

/// As `fm_take_i64_buf` for a STR/BYTES key.
///
/// # Safety
/// `key` valid for `key_len` bytes; `buf` for `cap` bytes; `len_out` writable.
#[no_mangle]
pub unsafe extern "C" fn fm_take_buf_buf(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
) -> fm_status {
    match deliver_buf(buf, cap, len_out) {
        Ok(deliver) => take(map, buf_key(key, key_len), Want::Buf, deliver),
        Err(e) => boundary(|| Err(e)),
    }
}

// ---- add / update ---------------------------------------------------------

fn add(
    map_h: fm_handle,
    key: impl FnOnce() -> Result<KeyRef<'static>>,
    delta: ValIn<'static>,
    deliver: impl FnOnce(u64),
) -> fm_status {
    boundary(|| {
        let g = epoch::pin();
        let new = with_map(map_h, &g, |m, _| m.add(key()?, delta))?;
        deliver(new);
        Ok(())
    })
}

/// Adds `delta` to the INT value of `key` in one atomic step; an absent key
/// starts at 0. On overflow returns FM_OVERFLOW and changes nothing.
/// `*new_value` (may be NULL) receives the result.
///
/// # Safety
/// `new_value` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_add_i64_i64(
    map: fm_handle,
    key: i64,
    delta: i64,
    new_value: *mut i64,
) -> fm_status {
    add(map, int_key(key), ValIn::Int(delta), |w| {
        Out::optional(new_value).write(w as i64)
    })
}

/// Adds `delta` to the FLOAT value of `key` in one atomic step; an absent
/// key starts at 0.0. `*new_value` (may be NULL) receives the result.
///
/// # Safety
/// `new_value` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_add_i64_f64(
    map: fm_handle,
    key: i64,
    delta: f64,
    new_value: *mut f64,
) -> fm_status {
    add(map, int_key(key), ValIn::Float(delta), |w| {
        Out::optional(new_value).write(f64::from_bits(w))
    })
}

/// As `fm_add_i64_i64` for a STR/BYTES key.
///
/// # Safety
/// `key` valid for `key_len` bytes; `new_value` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_add_buf_i64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    delta: i64,
    new_value: *mut i64,
) -> fm_status {
    add(map, buf_key(key, key_len), ValIn::Int(delta), |w| {
        Out::optional(new_value).write(w as i64)
    })
}

/// As `fm_add_i64_f64` for a STR/BYTES key.
///
/// # Safety
/// `key` valid for `key_len` bytes; `new_value` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_add_buf_f64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    delta: f64,
    new_value: *mut f64,
) -> fm_status {
    add(map, buf_key(key, key_len), ValIn::Float(delta), |w| {
        Out::optional(new_value).write(f64::from_bits(w))
    })
}

/// Callback for `fm_update_*`: `value` points to the current value, which the
/// callback may change in place: an `int64_t` or `double` (`len` is 8) for
/// INT and FLOAT values, or a private copy of the STR/BYTES value's `len`
/// bytes (a changed STR must stay valid UTF-8). Return 0 to store the result,
/// anything else to leave the value unchanged (the call then returns
/// FM_CALLBACK_STOPPED). `value` is valid only during the callback. The
/// callback runs on the calling thread while the key's shard is locked:
/// other writers to that shard wait, readers do not. A call from the callback
/// into the same map returns FM_REENTRANT; it must not unwind (C++
/// exceptions, longjmp) through ferrymap.
#[allow(non_camel_case_types)]
pub type fm_update_fn =
    Option<unsafe extern "C" fn(ctx: *mut std::ffi::c_void, value: *mut u8, len: usize) -> i32>;

fn update(
    map_h: fm_handle,
    key: impl FnOnce() -> Result<KeyRef<'static>>,
    f: fm_update_fn,
    ctx: *mut std::ffi::c_void,
) -> fm_status {
    boundary(|| {
        let f = f.ok_or_else(|| Error::new(FM_NULL_ARGUMENT, "callback is NULL"))?;
        let g = epoch::pin();
        with_map(map_h, &g, |m, _| {
            m.update(key()?, &mut |bytes: &mut [u8]| {
                // SAFETY: the callback gets a pointer valid for len bytes during the call.
                match unsafe { f(ctx, bytes.as_mut_ptr(), bytes.len()) } {
                    0 => Ok(()),
                    rc => fail(
                        FM_CALLBACK_STOPPED,
                        format!("update callback returned {rc}"),
                    ),
                }
            })
        })
    })
}

/// Runs `callback(ctx, value, len)` on the value of the INT `key` and stores
/// what it leaves, as one atomic step (see `fm_update_fn`). FM_NOT_FOUND if
/// the key is absent (the callback is not called). `callback` must not be
/// NULL; `ctx` is passed through untouched and may be anything.
///
/// # Safety
/// `callback` must be a valid function of that type.
#[no_mangle]
pub unsafe extern "C" fn fm_update_i64(
    map: fm_handle,
    key: i64,
    callback: fm_update_fn,
    ctx: *mut std::ffi::c_void,
) -> fm_status {
    update(map, int_key(key), callback, ctx)
}

/// As `fm_update_i64` for a STR/BYTES key.
///
/// # Safety
/// `key` valid for `key_len` bytes; `callback` a valid function.
#[no_mangle]
pub unsafe extern "C" fn fm_update_buf(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    callback: fm_update_fn,
    ctx: *mut std::ffi::c_void,
) -> fm_status {
    update(map, buf_key(key, key_len), callback, ctx)
}
