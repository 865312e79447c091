//! Batch operations: N operations in one crossing of the boundary.
//!
//! A batch is checked as a whole before anything is applied (kinds, NULLs,
//! UTF-8), so bad input loses nothing. Once applied, each element is its own
//! linearizable operation; the batch as a whole is not atomic.

use super::iter::fm_entry;
use super::{array_in, array_out, boundary, bytes_in, fm_buf, fm_handle, with_map, Out};
use crate::alloc::try_vec;
use crate::api::{expect_values, Want};
use crate::epoch;
use crate::kind::KeyRef;
use crate::kind::{ValIn, FM_FLOAT, FM_INT};
use crate::map::Map;
use crate::status::*;

fn insert_many(
    map_h: fm_handle,
    n: usize,
    pair: impl Fn(&Map, usize) -> Result<(KeyRef<'static>, ValIn<'static>)>,
    replaced_out: *mut usize,
) -> fm_status {
    boundary(|| {
        let g = epoch::pin();
        let replaced = with_map(map_h, &g, |m, _| {
            let mut pairs = try_vec(n)?;
            for i in 0..n {
                let (k, v) = pair(m, i)?;
                m.check_key(k)
                    .and_then(|_| m.check_val(v))
                    .map_err(|e| Error::new(e.status, format!("entry {i}: {}", e.message)))?;
                pairs.push((k, v));
            }
            let mut replaced = 0;
            for (k, v) in pairs {
                replaced += m.insert(k, v)? as usize;
            }
            Ok(replaced)
        })?;
        Out::optional(replaced_out).write(replaced);
        Ok(())
    })
}

/// Inserts `n` INT→INT pairs (`keys[i]` → `values[i]`). `*replaced_out` (may
/// be NULL) receives how many overwrote an existing value. `keys` and
/// `values` may be NULL only if `n` is 0; the library does not keep them.
///
/// # Safety
/// `keys` and `values` valid for `n` reads; `replaced_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_many_i64_i64(
    map: fm_handle,
    keys: *const i64,
    values: *const i64,
    n: usize,
    replaced_out: *mut usize,
) -> fm_status {
    boundary(|| {
        let ks = array_in(keys, n, "keys")?;
        let vs = array_in(values, n, "values")?;
        let g = epoch::pin();
        let replaced = with_map(map, &g, |m, _| {
            expect_values(m, Want::Int)?;
            m.check_key(KeyRef::Int(0))?;
            let mut replaced = 0;
            for (&k, &v) in ks.iter().zip(vs) {
                replaced += m.insert(KeyRef::Int(k as u64), ValIn::Int(v))? as usize;
            }
            Ok(replaced)
        })?;
        Out::optional(replaced_out).write(replaced);
        Ok(())
    })
}

/// Inserts `n` INT→FLOAT pairs. As `fm_insert_many_i64_i64`.
///
/// # Safety
/// `keys` and `values` valid for `n` reads; `replaced_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_many_i64_f64(
    map: fm_handle,
    keys: *const i64,
    values: *const f64,
    n: usize,
    replaced_out: *mut usize,
) -> fm_status {
    boundary(|| {
        let ks = array_in(keys, n, "keys")?;
        let vs = array_in(values, n, "values")?;
        let g = epoch::pin();
        let replaced = with_map(map, &g, |m, _| {
            expect_values(m, Want::Float)?;
            m.check_key(KeyRef::Int(0))?;
            let mut replaced = 0;
            for (&k, &v) in ks.iter().zip(vs) {
                replaced += m.insert(KeyRef::Int(k as u64), ValIn::Float(v))? as usize;
            }
            Ok(replaced)
        })?;
        Out::optional(replaced_out).write(replaced);
        Ok(())
    })
}

/// Inserts `n` entries of any schema: for each entry, the fields of the map's
/// key and value kinds are read (see `fm_entry`). Every entry is checked
/// before any is inserted: one bad entry (wrong kind, invalid UTF-8, NULL
/// with a length) fails the whole call and changes nothing. The bytes are
/// copied. `*replaced_out` may be NULL.
///
/// # Safety
/// `entries` valid for `n` reads, and each pointer in them for its length.
#[no_mangle]
pub unsafe extern "C" fn fm_insert_many(
    map: fm_handle,
    entries: *const fm_entry,
    n: usize,
    replaced_out: *mut usize,
) -> fm_status {
    let es = match array_in(entries, n, "entries") {
        Ok(es) => es,
        Err(e) => return boundary(|| Err(e)),
    };
    insert_many(
        map,
        n,
        |m, i| {
            let e = &es[i];
            let k = match m.key_kind {
                FM_INT => KeyRef::Int(e.key_int as u64),
                _ => KeyRef::Bytes(bytes_in(e.key_ptr, e.key_len, "key")?),
            };
            let v = match m.val_kind {
                FM_INT => ValIn::Int(e.value_int),
                FM_FLOAT => ValIn::Float(e.value_float),
                _ => ValIn::Bytes(bytes_in(e.value_ptr, e.value_len, "value")?),
            };
            Ok((k, v))
        },
        replaced_out,
    )
}

/// Looks up `n` INT keys of an INT→INT map. For each i: if found,
/// `values[i]` is set and `found[i]` = 1; if not, `values[i]` is left as is
/// and `found[i]` = 0. `found` may be NULL; `*found_count` (may be NULL)
/// receives the number found. `keys` and `values` may be NULL only if `n`
/// is 0. Each lookup is linearizable on its own.
///
/// # Safety
/// `keys` valid for `n` reads, `values` and `found` (unless NULL) for `n` writes.
#[no_mangle]
pub unsafe extern "C" fn fm_get_many_i64_i64(
    map: fm_handle,
    keys: *const i64,
    n: usize,
    values: *mut i64,
    found: *mut u8,
    found_count: *mut usize,
) -> fm_status {
    let io = array_in(keys, n, "keys").and_then(|ks| Ok((ks, array_out(values, n, "values")?)));
    match io {
        Ok((ks, vs)) => {
            get_many_scalars(map, Keys::Int(ks), Want::Int, vs, found, found_count, |w| {
                w as i64
            })
        }
        Err(e) => boundary(|| Err(e)),
    }
}

/// Looks up `n` INT keys of an INT→FLOAT map. As `fm_get_many_i64_i64`.
///
/// # Safety
/// `keys` valid for `n` reads, `values` and `found` (unless NULL) for `n` writes.
#[no_mangle]
pub unsafe extern "C" fn fm_get_many_i64_f64(
    map: fm_handle,
    keys: *const i64,
    n: usize,
    values: *mut f64,
    found: *mut u8,
    found_count: *mut usize,
) -> fm_status {
    let io = array_in(keys, n, "keys").and_then(|ks| Ok((ks, array_out(values, n, "values")?)));
    match io {
        Ok((ks, vs)) => get_many_scalars(
            map,
            Keys::Int(ks),
            Want::Float,
            vs,
            found,
            found_count,
            f64::from_bits,
        ),
        Err(e) => boundary(|| Err(e)),
    }
}

/// Looks up `n` STR/BYTES keys (`keys[i]` is a pointer and a length) of a map
/// with INT values. As `fm_get_many_i64_i64`.
///
/// # Safety
/// `keys` valid for `n` reads (and each key for its length); `values` and
/// `found` (unless NULL) for `n` writes.
#[no_mangle]
pub unsafe extern "C" fn fm_get_many_buf_i64(
    map: fm_handle,
    keys: *const fm_buf,
    n: usize,
    values: *mut i64,
    found: *mut u8,
    found_count: *mut usize,
) -> fm_status {
    let io = array_in(keys, n, "keys").and_then(|ks| Ok((ks, array_out(values, n, "values")?)));
    match io {
        Ok((ks, vs)) => {
            get_many_scalars(map, Keys::Buf(ks), Want::Int, vs, found, found_count, |w| {
                w as i64
            })
        }
        Err(e) => boundary(|| Err(e)),
    }
}

/// Removes `n` INT keys. `*removed_out` (may be NULL) receives how many were
/// present. `keys` may be NULL only if `n` is 0.
///
/// # Safety
/// `keys` valid for `n` reads; `removed_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_remove_many_i64(
    map: fm_handle,
    keys: *const i64,
    n: usize,
    removed_out: *mut usize,
) -> fm_status {
    boundary(|| {
        let ks = array_in(keys, n, "keys")?;
        let g = epoch::pin();
        let removed = with_map(map, &g, |m, _| {
            m.check_key(KeyRef::Int(0))?;
            let mut removed = 0;
            for &k in ks {
                removed += m.remove(KeyRef::Int(k as u64))? as usize;
            }
            Ok(removed)
        })?;
        Out::optional(removed_out).write(removed);
        Ok(())
    })
}

/// Removes `n` STR/BYTES keys. Every key is checked (NULL, UTF-8) before any
/// is removed. `*removed_out` (may be NULL) receives how many were present.
///
/// # Safety
/// `keys` valid for `n` reads, each key for its length; `removed_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_remove_many_buf(
    map: fm_handle,
    keys: *const fm_buf,
    n: usize,
    removed_out: *mut usize,
) -> fm_status {
    boundary(|| {
        let ks = array_in(keys, n, "keys")?;
        let g = epoch::pin();
        let removed = with_map(map, &g, |m, _| {
            let mut checked = try_vec(n)?;
            for (i, k) in ks.iter().enumerate() {
                let key = KeyRef::Bytes(bytes_in(k.ptr, k.len, "key")?);
                m.check_key(key)
                    .map_err(|e| Error::new(e.status, format!("key {i}: {}", e.message)))?;
                checked.push(key);
            }
            let mut removed = 0;
            for key in checked {
                removed += m.remove(key)? as usize;
            }
            Ok(removed)
        })?;
        Out::optional(removed_out).write(removed);
        Ok(())
    })
}

/// Keys of a batch lookup, as the caller passed them.
enum Keys<'a> {
    Int(&'a [i64]),
    Buf(&'a [fm_buf]),
}

impl Keys<'_> {
    fn len(&self) -> usize {
        match self {
            Keys::Int(ks) => ks.len(),
            Keys::Buf(ks) => ks.len(),
        }
    }

    /// Checks every key, then looks each up in order and hands the value
    /// word to `f`: one bad key fails the call before any output is written.
    /// Blob words stay valid while `g` lives.
    fn each_word(
        &self,
        m: &crate::map::Map,
        g: &crate::epoch::Guard,
        mut f: impl FnMut(usize, Option<u64>),
    ) -> Result<()> {
        match self {
            Keys::Int(ks) => {
                m.check_key(KeyRef::Int(0))?;
                // SAFETY: i64 and u64 have the same size and alignment.
                let ks = unsafe { std::slice::from_raw_parts(ks.as_ptr() as *const u64, ks.len()) };
                m.get_many_int(ks, g, f);
            }
            Keys::Buf(ks) => {
                let mut checked = try_vec(ks.len())?;
                for (i, k) in ks.iter().enumerate() {
                    // SAFETY: the caller vouches for each key's pointer and length.
                    let key = KeyRef::Bytes(unsafe { bytes_in(k.ptr, k.len, "key") }?);
                    m.check_key(key)
                        .map_err(|e| Error::new(e.status, format!("key {i}: {}", e.message)))?;
                    checked.push(key);
                }
                for (i, key) in checked.into_iter().enumerate() {
                    f(i, m.get_word(key, g)?);
                }
            }
        }
        Ok(())
    }
}

/// Shared body of the INT- and FLOAT-valued lookups.
unsafe fn get_many_scalars<T>(
    map_h: fm_handle,
    keys: Keys<'_>,
    want: Want,
    values: &mut [T],
    found: *mut u8,
    found_count: *mut usize,
    conv: impl Fn(u64) -> T,
) -> fm_status {
    boundary(|| {
        let n = values.len();
        let mut fs = if found.is_null() {
            None
        } else {
            Some(array_out(found, n, "found")?)
        };
        let g = epoch::pin();
        let hits = with_map(map_h, &g, |m, g| {
            expect_values(m, want)?;
            let mut hits = 0;
            keys.each_word(m, g, |i, w| {
                if let Some(w) = w {
                    values[i] = conv(w);
                    hits += 1;
                }
                if let Some(f) = fs.as_deref_mut() {
                    f[i] = w.is_some() as u8;
                }
            })?;
            Ok(hits)
        })?;
        Out::optional(found_count).write(hits);
        Ok(())
    })
}

/// Looks up `n` STR/BYTES keys of a map with FLOAT values. As
/// `fm_get_many_buf_i64`.
///
/// # Safety
/// `keys` valid for `n` reads (each key for its length); `values` and
/// `found` (unless NULL) for `n` writes.
#[no_mangle]
pub unsafe extern "C" fn fm_get_many_buf_f64(
    map: fm_handle,
    keys: *const fm_buf,
    n: usize,
    values: *mut f64,
    found: *mut u8,
    found_count: *mut usize,
) -> fm_status {
    let io = array_in(keys, n, "keys").and_then(|ks| Ok((ks, array_out(values, n, "values")?)));
    match io {
        Ok((ks, vs)) => get_many_scalars(
            map,
            Keys::Buf(ks),
            Want::Float,
            vs,
            found,
            found_count,
            f64::from_bits,
        ),
        Err(e) => boundary(|| Err(e)),
    }
}

/// Shared body of the STR/BYTES-valued lookups.
unsafe fn get_many_bytes(
    map_h: fm_handle,
    keys: Keys<'_>,
    buf: *mut u8,
    cap: usize,
    values: *mut fm_buf,
    needed_out: *mut usize,
) -> fm_status {
    boundary(|| {
        let needed = Out::required(needed_out, "needed_out")?;
        if cap > crate::map::MAX_BLOB_LEN {
            return fail(
                FM_INVALID_ARGUMENT,
                format!("buffer capacity {cap} exceeds the 4 GiB limit"),
            );
        }
        let vs = array_out(values, keys.len(), "values")?;
        let g = epoch::pin();
        with_map(map_h, &g, |m, g| {
            expect_values(m, Want::Buf)?;
            let mut blobs: Vec<Option<&[u8]>> = try_vec(keys.len())?;
            // SAFETY: blob words found while pinned by `g`.
            keys.each_word(m, g, |_, w| {
                blobs.push(w.map(|w| unsafe { crate::blob::bytes(w as *const crate::blob::Blob) }))
            })?;
            let total: usize = blobs.iter().flatten().map(|b| b.len()).sum();
            if total > cap {
                needed.write(total);
                return fail(
                    FM_BUFFER_TOO_SMALL,
                    format!("values need {total} bytes, buffer holds {cap}"),
                );
            }
            let dst = array_out(buf, total, "buf")?;
            // A found empty value still gets a non-NULL pointer (into `buf`
            // when there is one) so it differs from a missing key.
            let base: *const u8 = if buf.is_null() {
                std::ptr::NonNull::dangling().as_ptr()
            } else {
                buf
            };
            let mut at = 0;
            for (slot, b) in vs.iter_mut().zip(&blobs) {
                *slot = match b {
                    Some(b) => {
                        dst[at..at + b.len()].copy_from_slice(b);
                        let out = fm_buf {
                            ptr: base.wrapping_add(at),
                            len: b.len(),
                        };
                        at += b.len();
                        out
                    }
                    None => fm_buf {
                        ptr: std::ptr::null(),
                        len: 0,
                    },
                };
            }
            needed.write(total);
            Ok(())
        })
    })
}

/// Looks up `n` INT keys of a map with STR/BYTES values and copies the
/// values found back to back into `buf` (room for `cap` bytes; NULL only if
/// `cap` is 0). `values[i]` receives a pointer into `buf` and the length for
/// a found key, or {NULL, 0} for a missing one (an empty value found has a
/// non-NULL pointer). `*needed_out` (not NULL) receives the total bytes. If
/// `cap` is too small: FM_BUFFER_TOO_SMALL, `*needed_out` set, nothing else
/// written (values may change before a retry; loop until it fits). Every
/// value comes from one lookup each; the batch is not one atomic snapshot.
///
/// # Safety
/// `keys` valid for `n` reads; `values` for `n` writes; `buf` for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn fm_get_many_i64_buf(
    map: fm_handle,
    keys: *const i64,
    n: usize,
    buf: *mut u8,
    cap: usize,
    values: *mut fm_buf,
    needed_out: *mut usize,
) -> fm_status {
    match array_in(keys, n, "keys") {
        Ok(ks) => get_many_bytes(map, Keys::Int(ks), buf, cap, values, needed_out),
        Err(e) => boundary(|| Err(e)),
    }
}

/// As `fm_get_many_i64_buf` for STR/BYTES keys.
///
/// # Safety
/// `keys` valid for `n` reads (each key for its length); `values` for `n`
/// writes; `buf` for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn fm_get_many_buf_buf(
    map: fm_handle,
    keys: *const fm_buf,
    n: usize,
    buf: *mut u8,
    cap: usize,
    values: *mut fm_buf,
    needed_out: *mut usize,
) -> fm_status {
    match array_in(keys, n, "keys") {
        Ok(ks) => get_many_bytes(map, Keys::Buf(ks), buf, cap, values, needed_out),
        Err(e) => boundary(|| Err(e)),
    }
}
