//! Helpers shared by the integration tests: they call the exported C
//! functions directly, as a C caller would.

#![allow(dead_code, unused_imports)]

use std::ffi::CStr;
use std::sync::{Mutex, MutexGuard};

pub use ferrymap::ffi::batch::*;
pub use ferrymap::ffi::fm_handle;
pub use ferrymap::ffi::info::*;
pub use ferrymap::ffi::iter::*;
pub use ferrymap::ffi::lifecycle::*;
pub use ferrymap::ffi::ops::*;
pub use ferrymap::kind::fm_kind::{self, *};
pub use ferrymap::status::fm_status::{self, *};

static SERIAL: Mutex<()> = Mutex::new(());

/// Tests in one binary share the registry, so each test holds this guard
/// and checks on drop that it left no live handle behind.
pub struct Leakcheck(#[allow(dead_code)] MutexGuard<'static, ()>);

pub fn leakcheck() -> Leakcheck {
    Leakcheck(SERIAL.lock().unwrap_or_else(|p| p.into_inner()))
}

impl Drop for Leakcheck {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_eq!(fm_census_total(), 0, "a test leaked handles");
        }
    }
}

pub fn last_error() -> String {
    // SAFETY: fm_last_error never returns NULL and the string lives until the
    // next failing call on this thread.
    unsafe { CStr::from_ptr(fm_last_error()) }
        .to_string_lossy()
        .into_owned()
}

#[track_caller]
pub fn ok(status: fm_status) {
    assert_eq!(status, FM_OK, "call failed: {}", last_error());
}

pub fn new_map(key: fm_kind, value: fm_kind) -> fm_handle {
    let mut h = 0;
    ok(unsafe { fm_map_new(key as u32, value as u32, 0, &mut h) });
    assert_ne!(h, 0);
    h
}

pub fn len(map: fm_handle) -> usize {
    let mut n = usize::MAX;
    ok(unsafe { fm_map_len(map, &mut n) });
    n
}

pub fn put_ii(map: fm_handle, k: i64, v: i64) -> bool {
    let mut replaced = false;
    ok(unsafe { fm_insert_i64_i64(map, k, v, &mut replaced) });
    replaced
}

pub fn get_ii(map: fm_handle, k: i64) -> Option<i64> {
    let mut v = 0;
    match unsafe { fm_get_i64_i64(map, k, &mut v) } {
        FM_OK => Some(v),
        FM_NOT_FOUND => None,
        other => panic!("get failed: {other:?} {}", last_error()),
    }
}

pub fn put_bb(map: fm_handle, k: &[u8], v: &[u8]) -> fm_status {
    let mut replaced = false;
    unsafe { fm_insert_buf_buf(map, k.as_ptr(), k.len(), v.as_ptr(), v.len(), &mut replaced) }
}

/// Gets a STR/BYTES value by STR/BYTES key, using the buffer-too-small protocol.
pub fn get_bb(map: fm_handle, k: &[u8]) -> Option<Vec<u8>> {
    let mut needed = 0;
    match unsafe {
        fm_get_buf_buf(
            map,
            k.as_ptr(),
            k.len(),
            std::ptr::null_mut(),
            0,
            &mut needed,
        )
    } {
        FM_NOT_FOUND => return None,
        FM_OK => return Some(Vec::new()),
        FM_BUFFER_TOO_SMALL => {}
        other => panic!("get failed: {other:?} {}", last_error()),
    }
    let mut buf = vec![0u8; needed];
    let mut got = 0;
    ok(unsafe {
        fm_get_buf_buf(
            map,
            k.as_ptr(),
            k.len(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut got,
        )
    });
    assert_eq!(got, needed);
    Some(buf)
}

/// Every (key, value) an iterator yields for an INT→INT map.
pub fn drain_ii(iter: fm_handle) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut ks = [0i64; 97];
    let mut vs = [0i64; 97];
    loop {
        let mut n = 0;
        match unsafe { fm_iter_next_i64(iter, ks.as_mut_ptr(), vs.as_mut_ptr(), ks.len(), &mut n) }
        {
            FM_OK => out.extend(ks[..n].iter().copied().zip(vs[..n].iter().copied())),
            FM_END => return out,
            other => panic!("iteration failed: {other:?} {}", last_error()),
        }
    }
}
