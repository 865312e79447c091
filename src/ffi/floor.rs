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
pub unsafe extern "C" fn fmbench_floor_get(m: *const std::ffi::c_void, key: i64, out: *mut i64) -> i32 {
    match (*(m as *const Plain)).get(&(key as u64)) {
        Some(&v) => {
            *out = v as i64;
            0
        }
        None => 1,
    }
}
