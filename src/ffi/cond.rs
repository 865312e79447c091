//! Conditional single-key operations, atomic per key on direct and bridge
//! maps: swap, compare-and-swap, remove-if-equal and get-or-insert. Each is
//! one step under the key's write access (`Map::modify`): no other write to
//! the key comes between reading its value and changing it.
//!
//! Value equality, for compare-and-swap and remove-if-equal: INT values by
//! value, FLOAT values by their bits (NaN equals the same NaN, 0.0 does not
//! equal -0.0), STR and BYTES values by their bytes.
//!
//! Outputs follow the header's rules: written only on success; a value
//! copied into a caller's buffer uses the FM_BUFFER_TOO_SMALL protocol, and
//! when the buffer is too small nothing changes. Threads: any.

use super::ops::{buf_key, buf_val, deliver_buf, int_key};
use super::{boundary, fm_handle, with_map, Out};
use crate::api::{expect_values, Want};
use crate::epoch;
use crate::kind::{KeyRef, ValIn};
use crate::map::{Change, Computed};
use crate::status::*;

type Key = KeyRef<'static>;
type Val = ValIn<'static>;

/// Runs a conditional write: `decide` gets the map and the current value
/// word and says what to do; `result` reads what it recorded.
fn conditional<R>(
    map_h: fm_handle,
    want: Want,
    key: impl FnOnce() -> Result<Key>,
    values: impl FnOnce() -> Result<(Option<Val>, Option<Val>)>,
    mut decide: impl FnMut(
        &crate::map::Map,
        Option<u64>,
        Option<Val>,
        Option<Val>,
    ) -> Result<(Change<'static>, R)>,
) -> Result<R> {
    let g = epoch::pin();
    with_map(map_h, &g, |m, _| {
        expect_values(m, want)?;
        let k = key()?;
        let (a, b) = values()?;
        for v in [a, b].into_iter().flatten() {
            m.check_val(v)?;
        }
        let mut out = None;
        m.modify(k, &mut |cur| {
            let (change, r) = decide(m, cur, a, b)?;
            out = Some(r);
            Ok(change)
        })?;
        out.ok_or_else(|| Error::new(FM_INTERNAL_ERROR, "conditional write decided nothing"))
    })
}

/// Hands a found value word to `deliver` (once).
fn give(deliver: &mut Option<impl FnOnce(u64) -> Result<()>>, word: u64) -> Result<()> {
    deliver.take().map_or(Ok(()), |d| d(word))
}

fn swap(
    map_h: fm_handle,
    want: Want,
    key: impl FnOnce() -> Result<Key>,
    val: impl FnOnce() -> Result<Val>,
    previous: impl FnOnce(u64) -> Result<()>,
    present_out: *mut bool,
) -> fm_status {
    boundary(|| {
        let mut previous = Some(previous);
        let present = conditional(
            map_h,
            want,
            key,
            || Ok((Some(val()?), None)),
            |_, cur, v, _| {
                if let Some(w) = cur {
                    give(&mut previous, w)?;
                }
                Ok((Change::Put(v.expect("a value")), cur.is_some()))
            },
        )?;
        Out::optional(present_out).write(present);
        Ok(())
    })
}

/// # Safety
/// `swapped_out` valid for a write.
unsafe fn compare_and_swap(
    map_h: fm_handle,
    want: Want,
    key: impl FnOnce() -> Result<Key>,
    expected: impl FnOnce() -> Result<Val>,
    val: impl FnOnce() -> Result<Val>,
    current: impl FnOnce(u64) -> Result<()>,
    swapped_out: *mut bool,
) -> fm_status {
    boundary(|| {
        let out = Out::required(swapped_out, "swapped_out")?;
        let mut current = Some(current);
        let values = || Ok((Some(expected()?), Some(val()?)));
        let swapped = conditional(map_h, want, key, values, |m, cur, e, v| match cur {
            None => Err(Error::not_found()),
            Some(w) if m.value_is(w, e.expect("expected")) => {
                Ok((Change::Put(v.expect("a value")), true))
            }
            Some(w) => {
                give(&mut current, w)?;
                Ok((Change::Keep, false))
            }
        })?;
        out.write(swapped);
        Ok(())
    })
}

/// # Safety
/// `removed_out` valid for a write.
unsafe fn remove_if_equal(
    map_h: fm_handle,
    want: Want,
    key: impl FnOnce() -> Result<Key>,
    expected: impl FnOnce() -> Result<Val>,
    removed_out: *mut bool,
) -> fm_status {
    boundary(|| {
        let out = Out::required(removed_out, "removed_out")?;
        let values = || Ok((Some(expected()?), None));
        let removed = conditional(map_h, want, key, values, |m, cur, e, _| match cur {
            None => Err(Error::not_found()),
            Some(w) if m.value_is(w, e.expect("expected")) => Ok((Change::Remove, true)),
            Some(_) => Ok((Change::Keep, false)),
        })?;
        out.write(removed);
        Ok(())
    })
}

/// # Safety
/// `inserted_out` valid for a write.
unsafe fn get_or_insert(
    map_h: fm_handle,
    want: Want,
    key: impl FnOnce() -> Result<Key>,
    val: impl FnOnce() -> Result<Val>,
    existing: impl FnOnce(u64) -> Result<()>,
    inserted_out: *mut bool,
) -> fm_status {
    boundary(|| {
        let out = Out::required(inserted_out, "inserted_out")?;
        let mut existing = Some(existing);
        let inserted = conditional(
            map_h,
            want,
            key,
            || Ok((Some(val()?), None)),
            |_, cur, v, _| match cur {
                Some(w) => {
                    give(&mut existing, w)?;
                    Ok((Change::Keep, false))
                }
                None => Ok((Change::Put(v.expect("a value")), true)),
            },
        )?;
        out.write(inserted);
        Ok(())
    })
}

/// Writes an INT value word to an optional `int64_t` output.
fn to_i64(p: *mut i64) -> impl FnOnce(u64) -> Result<()> {
    move |w| {
        // The caller vouches for `p` (NULL or writable).
        Out::optional(p).write(w as i64);
        Ok(())
    }
}

/// Writes a FLOAT value word to an optional `double` output.
fn to_f64(p: *mut f64) -> impl FnOnce(u64) -> Result<()> {
    move |w| {
        Out::optional(p).write(f64::from_bits(w));
        Ok(())
    }
}

/// Stores `value` under `key` (inserting it if absent) and hands back the
/// value it replaced: written to `*previous_out` (may be NULL) when the key
/// was present; `*present_out` (may be NULL) says whether it was. One
/// atomic step. For an INT→INT map.
///
/// # Safety
/// `previous_out` and `present_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_swap_i64_i64(
    map: fm_handle,
    key: i64,
    value: i64,
    previous_out: *mut i64,
    present_out: *mut bool,
) -> fm_status {
    swap(
        map,
        Want::Int,
        int_key(key),
        move || Ok(ValIn::Int(value)),
        to_i64(previous_out),
        present_out,
    )
}

/// As `fm_swap_i64_i64`, for an INT key and FLOAT values.
///
/// # Safety
/// `previous_out` and `present_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_swap_i64_f64(
    map: fm_handle,
    key: i64,
    value: f64,
    previous_out: *mut f64,
    present_out: *mut bool,
) -> fm_status {
    swap(
        map,
        Want::Float,
        int_key(key),
        move || Ok(ValIn::Float(value)),
        to_f64(previous_out),
        present_out,
    )
}

/// As `fm_swap_i64_i64`, for an INT key and STR/BYTES values. The replaced
/// value is copied into `buf` (room for `cap`), its length to `*len_out`;
/// FM_BUFFER_TOO_SMALL, with the needed length, changes nothing.
///
/// # Safety
/// `value` valid for `value_len` bytes; `buf` writable for `cap` bytes; `len_out` writable; `present_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_swap_i64_buf(
    map: fm_handle,
    key: i64,
    value: *const u8,
    value_len: usize,
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
    present_out: *mut bool,
) -> fm_status {
    match deliver_buf(buf, cap, len_out) {
        Ok(d) => swap(
            map,
            Want::Buf,
            int_key(key),
            buf_val(value, value_len),
            d,
            present_out,
        ),
        Err(e) => boundary(|| Err(e)),
    }
}

/// As `fm_swap_i64_i64`, for a STR/BYTES key and INT values.
///
/// # Safety
/// `key` valid for `key_len` bytes; `previous_out` and `present_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_swap_buf_i64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value: i64,
    previous_out: *mut i64,
    present_out: *mut bool,
) -> fm_status {
    swap(
        map,
        Want::Int,
        buf_key(key, key_len),
        move || Ok(ValIn::Int(value)),
        to_i64(previous_out),
        present_out,
    )
}

/// As `fm_swap_i64_i64`, for a STR/BYTES key and FLOAT values.
///
/// # Safety
/// `key` valid for `key_len` bytes; `previous_out` and `present_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_swap_buf_f64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value: f64,
    previous_out: *mut f64,
    present_out: *mut bool,
) -> fm_status {
    swap(
        map,
        Want::Float,
        buf_key(key, key_len),
        move || Ok(ValIn::Float(value)),
        to_f64(previous_out),
        present_out,
    )
}

/// As `fm_swap_i64_i64`, for a STR/BYTES key and STR/BYTES values. The
/// replaced value is copied into `buf` (room for `cap`), its length to
/// `*len_out`; FM_BUFFER_TOO_SMALL, with the needed length, changes
/// nothing.
///
/// # Safety
/// `key` valid for `key_len` bytes; `value` valid for `value_len` bytes; `buf` writable for `cap` bytes; `len_out` writable; `present_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_swap_buf_buf(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
    present_out: *mut bool,
) -> fm_status {
    match deliver_buf(buf, cap, len_out) {
        Ok(d) => swap(
            map,
            Want::Buf,
            buf_key(key, key_len),
            buf_val(value, value_len),
            d,
            present_out,
        ),
        Err(e) => boundary(|| Err(e)),
    }
}

/// Replaces the value of `key` with `value` only if it equals `expected`
/// (INT by value; FLOAT by bits, so NaN equals the same NaN and 0.0 is not
/// -0.0; STR and BYTES byte for byte). `*swapped_out` (not
/// NULL) says whether it did; when it did not, the current value is written
/// to `*current_out` (may be NULL). FM_NOT_FOUND if the key is absent
/// (nothing is inserted). One atomic step. For an INT→INT map.
///
/// # Safety
/// `swapped_out` writable; `current_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_compare_and_swap_i64_i64(
    map: fm_handle,
    key: i64,
    expected: i64,
    value: i64,
    swapped_out: *mut bool,
    current_out: *mut i64,
) -> fm_status {
    compare_and_swap(
        map,
        Want::Int,
        int_key(key),
        move || Ok(ValIn::Int(expected)),
        move || Ok(ValIn::Int(value)),
        to_i64(current_out),
        swapped_out,
    )
}

/// As `fm_compare_and_swap_i64_i64`, for an INT key and FLOAT values.
///
/// # Safety
/// `swapped_out` writable; `current_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_compare_and_swap_i64_f64(
    map: fm_handle,
    key: i64,
    expected: f64,
    value: f64,
    swapped_out: *mut bool,
    current_out: *mut f64,
) -> fm_status {
    compare_and_swap(
        map,
        Want::Float,
        int_key(key),
        move || Ok(ValIn::Float(expected)),
        move || Ok(ValIn::Float(value)),
        to_f64(current_out),
        swapped_out,
    )
}

/// As `fm_compare_and_swap_i64_i64`, for an INT key and STR/BYTES values.
/// On a mismatch the current value is copied into `buf` (room for `cap`),
/// its length to `*len_out` (FM_BUFFER_TOO_SMALL gives the needed length).
///
/// # Safety
/// `expected` and `value` valid for their lengths; `swapped_out` and `len_out` writable; `buf` writable for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn fm_compare_and_swap_i64_buf(
    map: fm_handle,
    key: i64,
    expected: *const u8,
    expected_len: usize,
    value: *const u8,
    value_len: usize,
    swapped_out: *mut bool,
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
) -> fm_status {
    match deliver_buf(buf, cap, len_out) {
        Ok(d) => compare_and_swap(
            map,
            Want::Buf,
            int_key(key),
            buf_val(expected, expected_len),
            buf_val(value, value_len),
            d,
            swapped_out,
        ),
        Err(e) => boundary(|| Err(e)),
    }
}

/// As `fm_compare_and_swap_i64_i64`, for a STR/BYTES key and INT values.
///
/// # Safety
/// `key` valid for `key_len` bytes; `swapped_out` writable; `current_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_compare_and_swap_buf_i64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    expected: i64,
    value: i64,
    swapped_out: *mut bool,
    current_out: *mut i64,
) -> fm_status {
    compare_and_swap(
        map,
        Want::Int,
        buf_key(key, key_len),
        move || Ok(ValIn::Int(expected)),
        move || Ok(ValIn::Int(value)),
        to_i64(current_out),
        swapped_out,
    )
}

/// As `fm_compare_and_swap_i64_i64`, for a STR/BYTES key and FLOAT values.
///
/// # Safety
/// `key` valid for `key_len` bytes; `swapped_out` writable; `current_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_compare_and_swap_buf_f64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    expected: f64,
    value: f64,
    swapped_out: *mut bool,
    current_out: *mut f64,
) -> fm_status {
    compare_and_swap(
        map,
        Want::Float,
        buf_key(key, key_len),
        move || Ok(ValIn::Float(expected)),
        move || Ok(ValIn::Float(value)),
        to_f64(current_out),
        swapped_out,
    )
}

/// As `fm_compare_and_swap_i64_i64`, for a STR/BYTES key and STR/BYTES
/// values. On a mismatch the current value is copied into `buf` (room for
/// `cap`), its length to `*len_out` (FM_BUFFER_TOO_SMALL gives the needed
/// length).
///
/// # Safety
/// `key` valid for `key_len` bytes; `expected` and `value` valid for their lengths; `swapped_out` and `len_out` writable; `buf` writable for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn fm_compare_and_swap_buf_buf(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    expected: *const u8,
    expected_len: usize,
    value: *const u8,
    value_len: usize,
    swapped_out: *mut bool,
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
) -> fm_status {
    match deliver_buf(buf, cap, len_out) {
        Ok(d) => compare_and_swap(
            map,
            Want::Buf,
            buf_key(key, key_len),
            buf_val(expected, expected_len),
            buf_val(value, value_len),
            d,
            swapped_out,
        ),
        Err(e) => boundary(|| Err(e)),
    }
}

/// Removes `key` only if its value equals `expected` (FLOAT compares bits).
/// `*removed_out` (not NULL) says whether it did. FM_NOT_FOUND if the key
/// is absent. One atomic step. For an INT→INT map.
///
/// # Safety
/// `removed_out` writable.
#[no_mangle]
pub unsafe extern "C" fn fm_remove_if_equal_i64_i64(
    map: fm_handle,
    key: i64,
    expected: i64,
    removed_out: *mut bool,
) -> fm_status {
    remove_if_equal(
        map,
        Want::Int,
        int_key(key),
        move || Ok(ValIn::Int(expected)),
        removed_out,
    )
}

/// As `fm_remove_if_equal_i64_i64`, for an INT key and FLOAT values.
///
/// # Safety
/// `removed_out` writable.
#[no_mangle]
pub unsafe extern "C" fn fm_remove_if_equal_i64_f64(
    map: fm_handle,
    key: i64,
    expected: f64,
    removed_out: *mut bool,
) -> fm_status {
    remove_if_equal(
        map,
        Want::Float,
        int_key(key),
        move || Ok(ValIn::Float(expected)),
        removed_out,
    )
}

/// As `fm_remove_if_equal_i64_i64`, for an INT key and STR/BYTES values.
/// STR values compare byte for byte.
///
/// # Safety
/// `expected` valid for `expected_len` bytes; `removed_out` writable.
#[no_mangle]
pub unsafe extern "C" fn fm_remove_if_equal_i64_buf(
    map: fm_handle,
    key: i64,
    expected: *const u8,
    expected_len: usize,
    removed_out: *mut bool,
) -> fm_status {
    remove_if_equal(
        map,
        Want::Buf,
        int_key(key),
        buf_val(expected, expected_len),
        removed_out,
    )
}

/// As `fm_remove_if_equal_i64_i64`, for a STR/BYTES key and INT values.
///
/// # Safety
/// `key` valid for `key_len` bytes; `removed_out` writable.
#[no_mangle]
pub unsafe extern "C" fn fm_remove_if_equal_buf_i64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    expected: i64,
    removed_out: *mut bool,
) -> fm_status {
    remove_if_equal(
        map,
        Want::Int,
        buf_key(key, key_len),
        move || Ok(ValIn::Int(expected)),
        removed_out,
    )
}

/// As `fm_remove_if_equal_i64_i64`, for a STR/BYTES key and FLOAT values.
///
/// # Safety
/// `key` valid for `key_len` bytes; `removed_out` writable.
#[no_mangle]
pub unsafe extern "C" fn fm_remove_if_equal_buf_f64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    expected: f64,
    removed_out: *mut bool,
) -> fm_status {
    remove_if_equal(
        map,
        Want::Float,
        buf_key(key, key_len),
        move || Ok(ValIn::Float(expected)),
        removed_out,
    )
}

/// As `fm_remove_if_equal_i64_i64`, for a STR/BYTES key and STR/BYTES
/// values. STR values compare byte for byte.
///
/// # Safety
/// `key` valid for `key_len` bytes; `expected` valid for `expected_len` bytes; `removed_out` writable.
#[no_mangle]
pub unsafe extern "C" fn fm_remove_if_equal_buf_buf(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    expected: *const u8,
    expected_len: usize,
    removed_out: *mut bool,
) -> fm_status {
    remove_if_equal(
        map,
        Want::Buf,
        buf_key(key, key_len),
        buf_val(expected, expected_len),
        removed_out,
    )
}

/// Returns the value of `key` if present, else inserts `value`: one atomic
/// step. `*inserted_out` (not NULL) says which; when the key was present,
/// its value is written to `*existing_out` (may be NULL). For an INT→INT
/// map.
///
/// # Safety
/// `inserted_out` writable; `existing_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_get_or_insert_i64_i64(
    map: fm_handle,
    key: i64,
    value: i64,
    existing_out: *mut i64,
    inserted_out: *mut bool,
) -> fm_status {
    get_or_insert(
        map,
        Want::Int,
        int_key(key),
        move || Ok(ValIn::Int(value)),
        to_i64(existing_out),
        inserted_out,
    )
}

/// As `fm_get_or_insert_i64_i64`, for an INT key and FLOAT values.
///
/// # Safety
/// `inserted_out` writable; `existing_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_get_or_insert_i64_f64(
    map: fm_handle,
    key: i64,
    value: f64,
    existing_out: *mut f64,
    inserted_out: *mut bool,
) -> fm_status {
    get_or_insert(
        map,
        Want::Float,
        int_key(key),
        move || Ok(ValIn::Float(value)),
        to_f64(existing_out),
        inserted_out,
    )
}

/// As `fm_get_or_insert_i64_i64`, for an INT key and STR/BYTES values. An
/// existing value is copied into `buf` (room for `cap`), its length to
/// `*len_out` (FM_BUFFER_TOO_SMALL gives the needed length and inserts
/// nothing).
///
/// # Safety
/// `value` valid for `value_len` bytes; `inserted_out` and `len_out` writable; `buf` writable for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn fm_get_or_insert_i64_buf(
    map: fm_handle,
    key: i64,
    value: *const u8,
    value_len: usize,
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
    inserted_out: *mut bool,
) -> fm_status {
    match deliver_buf(buf, cap, len_out) {
        Ok(d) => get_or_insert(
            map,
            Want::Buf,
            int_key(key),
            buf_val(value, value_len),
            d,
            inserted_out,
        ),
        Err(e) => boundary(|| Err(e)),
    }
}

/// As `fm_get_or_insert_i64_i64`, for a STR/BYTES key and INT values.
///
/// # Safety
/// `key` valid for `key_len` bytes; `inserted_out` writable; `existing_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_get_or_insert_buf_i64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value: i64,
    existing_out: *mut i64,
    inserted_out: *mut bool,
) -> fm_status {
    get_or_insert(
        map,
        Want::Int,
        buf_key(key, key_len),
        move || Ok(ValIn::Int(value)),
        to_i64(existing_out),
        inserted_out,
    )
}

/// As `fm_get_or_insert_i64_i64`, for a STR/BYTES key and FLOAT values.
///
/// # Safety
/// `key` valid for `key_len` bytes; `inserted_out` writable; `existing_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_get_or_insert_buf_f64(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value: f64,
    existing_out: *mut f64,
    inserted_out: *mut bool,
) -> fm_status {
    get_or_insert(
        map,
        Want::Float,
        buf_key(key, key_len),
        move || Ok(ValIn::Float(value)),
        to_f64(existing_out),
        inserted_out,
    )
}

/// As `fm_get_or_insert_i64_i64`, for a STR/BYTES key and STR/BYTES values.
/// An existing value is copied into `buf` (room for `cap`), its length to
/// `*len_out` (FM_BUFFER_TOO_SMALL gives the needed length and inserts
/// nothing).
///
/// # Safety
/// `key` valid for `key_len` bytes; `value` valid for `value_len` bytes; `inserted_out` and `len_out` writable; `buf` writable for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn fm_get_or_insert_buf_buf(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    buf: *mut u8,
    cap: usize,
    len_out: *mut usize,
    inserted_out: *mut bool,
) -> fm_status {
    match deliver_buf(buf, cap, len_out) {
        Ok(d) => get_or_insert(
            map,
            Want::Buf,
            buf_key(key, key_len),
            buf_val(value, value_len),
            d,
            inserted_out,
        ),
        Err(e) => boundary(|| Err(e)),
    }
}

// ---- compute ----------------------------------------------------------------

/// What an `fm_compute_fn` returns: keep the value as it is (or leave the
/// key absent), store the value it named, or remove the key. Any other
/// return value stops the call: nothing changes and it returns
/// FM_CALLBACK_STOPPED.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum fm_compute {
    FM_COMPUTE_KEEP = 0,
    FM_COMPUTE_SET = 1,
    FM_COMPUTE_REMOVE = 2,
}

/// Callback for `fm_compute_*`. `current` points to the key's value, `len`
/// bytes (8 native-endian bytes of an `int64_t` or `double` for INT and
/// FLOAT values, a private copy of a STR/BYTES value), or is NULL when the
/// key is absent; it is valid only during the callback. To store a value,
/// set `*new_value` and `*new_len` (8 bytes for INT/FLOAT; any length for
/// STR/BYTES, UTF-8 for STR) and return FM_COMPUTE_SET: the library copies
/// them after the callback returns, so they must stay valid until then.
/// The callback runs on the calling thread (a bridge map's owner thread for
/// a bridge map) while the key's shard is locked: other writers to that
/// shard wait, readers do not. A call from it into the same map returns
/// FM_REENTRANT; it must not unwind through ferrymap.
#[allow(non_camel_case_types)]
pub type fm_compute_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut std::ffi::c_void,
        current: *const u8,
        len: usize,
        new_value: *mut *const u8,
        new_len: *mut usize,
    ) -> i32,
>;

fn compute(
    map_h: fm_handle,
    key: impl FnOnce() -> Result<Key>,
    f: fm_compute_fn,
    ctx: *mut std::ffi::c_void,
    present_out: *mut bool,
) -> fm_status {
    boundary(|| {
        let f = f.ok_or_else(|| Error::new(FM_NULL_ARGUMENT, "callback is NULL"))?;
        let g = epoch::pin();
        let present = with_map(map_h, &g, |m, _| {
            m.compute(key()?, &mut |current| {
                let (p, n) = current.map_or((std::ptr::null(), 0), |c| (c.as_ptr(), c.len()));
                let (mut new_value, mut new_len) = (std::ptr::null::<u8>(), 0usize);
                // SAFETY: `current` is valid for `n` bytes during the call;
                // the out-pointers are locals.
                let rc = unsafe { f(ctx, p, n, &mut new_value, &mut new_len) };
                const KEEP: i32 = fm_compute::FM_COMPUTE_KEEP as i32;
                const SET: i32 = fm_compute::FM_COMPUTE_SET as i32;
                const REMOVE: i32 = fm_compute::FM_COMPUTE_REMOVE as i32;
                match rc {
                    KEEP => Ok(Computed::Keep),
                    REMOVE => Ok(Computed::Remove),
                    SET => {
                        // SAFETY: the callback vouches for its value until it returned.
                        let bytes = unsafe { super::bytes_in(new_value, new_len, "new value") }?;
                        Ok(Computed::Set(crate::alloc::try_copy(bytes)?))
                    }
                    rc => fail(
                        FM_CALLBACK_STOPPED,
                        format!("compute callback returned {rc}"),
                    ),
                }
            })
        })?;
        Out::optional(present_out).write(present);
        Ok(())
    })
}

/// Runs `callback(ctx, ...)` on the value of the INT `key`, or on its
/// absence, and does what it returns (see `fm_compute_fn`): keep, store a
/// value of any length (inserting the key), or remove. One atomic step.
/// `*present_out` (may be NULL) says whether the key is present afterwards.
/// `callback` must not be NULL; `ctx` is passed through untouched.
///
/// # Safety
/// `callback` a valid function of that type; `present_out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn fm_compute_i64(
    map: fm_handle,
    key: i64,
    callback: fm_compute_fn,
    ctx: *mut std::ffi::c_void,
    present_out: *mut bool,
) -> fm_status {
    compute(map, int_key(key), callback, ctx, present_out)
}

/// As `fm_compute_i64` for a STR/BYTES key.
///
/// # Safety
/// `key` valid for `key_len` bytes; `callback` a valid function;
/// `present_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn fm_compute_buf(
    map: fm_handle,
    key: *const u8,
    key_len: usize,
    callback: fm_compute_fn,
    ctx: *mut std::ffi::c_void,
    present_out: *mut bool,
) -> fm_status {
    compute(map, buf_key(key, key_len), callback, ctx, present_out)
}
