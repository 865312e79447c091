//! Benchmark floor (feature `bench-floor` only): a plain `HashMap` behind a
//! raw pointer, no registry, no synchronisation. It measures what an
//! exported call plus a lookup costs at best, so the benchmarks can show
//! what the registry, epoch pin and seqlock add on top.

use std::collections::HashMap;

type Plain = HashMap<u64, u64, foldhash::fast::FixedState>;

/// Creates a floor map. Free with `fmbench_floor_free`.
#[no_mangle]
pub extern "C" fn fmbench_floor_new() -> *mut std::ffi::c_void {
    Box::into_raw(Box::new(Plain::default())).cast()
}

/// # Safety
/// `m` from `fmbench_floor_new`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn fmbench_floor_free(m: *mut std::ffi::c_void) {
    drop(Box::from_raw(m as *mut Plain));
}

/// # Safety
/// `m` from `fmbench_floor_new`; no concurrent writer.
#[no_mangle]
pub unsafe extern "C" fn fmbench_floor_insert(m: *mut std::ffi::c_void, key: i64, value: i64) {
    (*(m as *mut Plain)).insert(key as u64, value as u64);
}

/// # Safety
/// `m` from `fmbench_floor_new`; `out` writable; no concurrent writer.
#[no_mangle]
pub unsafe extern "C" fn fmbench_floor_get(
    m: *const std::ffi::c_void,
    key: i64,
    out: *mut i64,
) -> i32 {
    match (*(m as *const Plain)).get(&(key as u64)) {
        Some(&v) => {
            *out = v as i64;
            0
        }
        None => 1,
    }
}

// ---- pieces of the read path ----------------------------------------------
//
// Exported functions with the signature of `fm_get_i64_i64`, each doing one
// more piece of its work, so the benchmarks can say what every piece costs.
// They stay out of the generated header (cbindgen:ignore).

/// The bare exported call: does nothing and returns 0.
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn fmbench_nop(map: u64, key: i64, out: *mut i64) -> i32 {
    std::hint::black_box((map, key, out));
    0
}

/// The epoch pin and unpin alone (thread-local access and two stores).
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn fmbench_pin(map: u64, key: i64, out: *mut i64) -> i32 {
    let g = crate::epoch::pin();
    std::hint::black_box((&g, map, key, out));
    0
}

/// Everything `fm_get_i64_i64` does before it hashes the key: the panic
/// boundary, the epoch pin and the handle lookup (with its re-entrancy
/// check). Returns the status `fm_get_i64_i64` would return for a bad handle.
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn fmbench_resolve(map: u64, key: i64, out: *mut i64) -> i32 {
    std::hint::black_box((key, out));
    super::boundary(|| {
        let g = crate::epoch::pin();
        let m = crate::api::map(map, &g)?;
        std::hint::black_box(m);
        Ok(())
    }) as i32
}
