//! The C ABI exercised from Rust: behaviour of each operation, bad input,
//! snapshots and threads. The exhaustive bad-input matrix and the stress
//! tests in C live in c-tests/.

mod common;

use common::*;
use std::collections::HashMap;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[test]
fn int_map_basic_operations() {
    let _l = leakcheck();
    let m = new_map(FM_INT, FM_INT);
    assert!(!put_ii(m, 0, 10), "key 0 is a normal key");
    assert!(!put_ii(m, -5, 20));
    assert!(!put_ii(m, i64::MIN, 30));
    assert!(!put_ii(m, i64::MAX, 40));
    assert!(put_ii(m, 0, 11), "overwrite reports replacement");
    assert_eq!(get_ii(m, 0), Some(11));
    assert_eq!(get_ii(m, -5), Some(20));
    assert_eq!(get_ii(m, i64::MIN), Some(30));
    assert_eq!(get_ii(m, i64::MAX), Some(40));
    assert_eq!(get_ii(m, 1), None);
    assert_eq!(len(m), 4);

    let mut found = false;
    ok(unsafe { fm_contains_i64(m, -5, &mut found) });
    assert!(found);
    let mut removed = false;
    ok(unsafe { fm_remove_i64(m, -5, &mut removed) });
    assert!(removed);
    ok(unsafe { fm_remove_i64(m, -5, &mut removed) });
    assert!(!removed, "second remove finds nothing");
    ok(unsafe { fm_contains_i64(m, -5, &mut found) });
    assert!(!found);
    assert_eq!(len(m), 3);

    ok(fm_map_clear(m));
    assert_eq!(len(m), 0);
    assert_eq!(get_ii(m, 0), None);
    ok(fm_map_free(m));
}

#[test]
fn growth_keeps_every_entry() {
    let _l = leakcheck();
    let m = new_map(FM_INT, FM_INT);
    for k in 0..200_000i64 {
        put_ii(m, k.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64), k);
    }
    assert_eq!(len(m), 200_000);
    for k in (0..200_000i64).step_by(7) {
        assert_eq!(
            get_ii(m, k.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64)),
            Some(k)
        );
    }
    // Remove half, then check the other half survived the backward shifts.
    for k in (0..200_000i64).filter(|k| k % 2 == 0) {
        let mut removed = false;
        ok(unsafe {
            fm_remove_i64(
                m,
                k.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64),
                &mut removed,
            )
        });
        assert!(removed);
    }
    for k in 0..200_000i64 {
        let expect = (k % 2 == 1).then_some(k);
        assert_eq!(
            get_ii(m, k.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64)),
            expect
        );
    }
    let mut s = fm_stats::default();
    ok(unsafe { fm_map_stats(m, &mut s) });
    assert_eq!(s.len, 100_000);
    assert!(s.capacity >= s.len && s.load_factor > 0.0 && s.load_factor <= 0.75);
    assert!(s.memory_bytes >= s.capacity * 16);
    ok(fm_map_free(m));
}

#[test]
fn strings_round_trip_exact_bytes() {
    let _l = leakcheck();
    let m = new_map(FM_STR, FM_STR);
    let cases: [&[u8]; 4] = [
        "".as_bytes(),
        "a\0b".as_bytes(),
        "🦀 crab".as_bytes(),
        "ünïcødé".as_bytes(),
    ];
    for (i, k) in cases.iter().enumerate() {
        ok(put_bb(m, k, cases[(i + 1) % 4]));
    }
    for (i, k) in cases.iter().enumerate() {
        assert_eq!(get_bb(m, k).as_deref(), Some(cases[(i + 1) % 4]));
    }
    // Invalid UTF-8 is refused and stores nothing.
    assert_eq!(put_bb(m, b"\xff\xfe", b"x"), FM_INVALID_UTF8);
    assert_eq!(
        put_bb(m, b"ok", b"\xed\xa0\x80"),
        FM_INVALID_UTF8,
        "an encoded surrogate is not UTF-8"
    );
    assert!(last_error().contains("UTF-8"), "message: {}", last_error());
    assert_eq!(len(m), 4);
    // BYTES maps take anything.
    let b = new_map(FM_BYTES, FM_BYTES);
    ok(put_bb(b, b"\xff\xfe", b"\x00\x01"));
    assert_eq!(get_bb(b, b"\xff\xfe").as_deref(), Some(&b"\x00\x01"[..]));
    ok(fm_map_free(b));
    ok(fm_map_free(m));
}

#[test]
fn buffer_too_small_reports_needed_length_and_leaves_buffer() {
    let _l = leakcheck();
    let m = new_map(FM_INT, FM_BYTES);
    ok(unsafe { fm_insert_i64_buf(m, 1, b"hello".as_ptr(), 5, null_mut()) });
    let mut buf = [7u8; 3];
    let mut need = 0;
    assert_eq!(
        unsafe { fm_get_i64_buf(m, 1, buf.as_mut_ptr(), 3, &mut need) },
        FM_BUFFER_TOO_SMALL
    );
    assert_eq!(need, 5);
    assert_eq!(buf, [7, 7, 7]);
    let mut big = [0u8; 8];
    ok(unsafe { fm_get_i64_buf(m, 1, big.as_mut_ptr(), 8, &mut need) });
    assert_eq!(&big[..need], b"hello");
    ok(fm_map_free(m));
}

#[test]
fn add_is_atomic_and_checks_overflow() {
    let _l = leakcheck();
    let m = new_map(FM_INT, FM_INT);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    ok(unsafe { fm_add_i64_i64(m, 7, 1, null_mut()) });
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(get_ii(m, 7), Some(40_000));
    put_ii(m, 8, i64::MAX - 1);
    let mut v = 0;
    ok(unsafe { fm_add_i64_i64(m, 8, 1, &mut v) });
    assert_eq!(v, i64::MAX);
    assert_eq!(unsafe { fm_add_i64_i64(m, 8, 1, &mut v) }, FM_OVERFLOW);
    assert_eq!(
        get_ii(m, 8),
        Some(i64::MAX),
        "value unchanged after overflow"
    );

    let f = new_map(FM_STR, FM_FLOAT);
    let mut x = 0.0;
    ok(unsafe { fm_add_buf_f64(f, b"pi".as_ptr(), 2, 3.0, &mut x) });
    ok(unsafe { fm_add_buf_f64(f, b"pi".as_ptr(), 2, 0.14, &mut x) });
    assert_eq!(x, 3.0 + 0.14);
    assert_eq!(
        unsafe { fm_add_i64_i64(f, 1, 1, null_mut()) },
        FM_WRONG_KIND
    );
    ok(fm_map_free(f));
    ok(fm_map_free(m));
}

unsafe extern "C" fn double_it(_ctx: *mut std::ffi::c_void, value: *mut u8, len: usize) -> i32 {
    assert_eq!(len, 8);
    let p = value as *mut i64;
    p.write_unaligned(p.read_unaligned() * 2);
    0
}

unsafe extern "C" fn reenter(ctx: *mut std::ffi::c_void, _value: *mut u8, _len: usize) -> i32 {
    let maps = &mut *(ctx as *mut [fm_handle; 3]);
    let mut v = 0;
    // Same map: refused. Another map: fine.
    maps[2] = (fm_get_i64_i64(maps[0], 1, &mut v) == FM_REENTRANT) as u64
        + (fm_insert_i64_i64(maps[1], 1, 1, null_mut()) == FM_OK) as u64;
    1
}

#[test]
fn update_in_place_and_reentrancy() {
    let _l = leakcheck();
    let m = new_map(FM_INT, FM_INT);
    let other = new_map(FM_INT, FM_INT);
    put_ii(m, 1, 21);
    ok(unsafe { fm_update_i64(m, 1, Some(double_it), null_mut()) });
    assert_eq!(get_ii(m, 1), Some(42));
    assert_eq!(
        unsafe { fm_update_i64(m, 2, Some(double_it), null_mut()) },
        FM_NOT_FOUND
    );
    assert_eq!(
        unsafe { fm_update_i64(m, 1, None, null_mut()) },
        FM_NULL_ARGUMENT
    );

    let mut ctx = [m, other, 0];
    let st = unsafe { fm_update_i64(m, 1, Some(reenter), &mut ctx as *mut _ as *mut _) };
    assert_eq!(st, FM_CALLBACK_STOPPED);
    assert_eq!(ctx[2], 2, "same map refused, other map allowed");
    assert_eq!(get_ii(m, 1), Some(42), "a stopped update leaves the value");
    // The map works normally afterwards (no lock left held).
    put_ii(m, 1, 5);
    assert_eq!(get_ii(m, 1), Some(5));
    ok(fm_map_free(other));
    ok(fm_map_free(m));
}

/// `fm_insert_i64_*` first try a lock-free path that needs the writer bias
/// and a table with room that no snapshot shares, and fall back to the
/// general one otherwise. Each fallback (growth, a shared table, key 0,
/// another thread's locked writes) must report replacement exactly.
#[test]
fn integer_inserts_report_replacement_on_every_path() {
    let _l = leakcheck();
    let m = new_map(FM_INT, FM_INT);
    for k in 0..5_000 {
        assert!(!put_ii(m, k, k), "new key {k} (the map grows meanwhile)");
    }
    for k in 0..5_000 {
        assert!(put_ii(m, k, k + 1), "overwrite of {k}");
    }
    let mut it = 0;
    ok(unsafe { fm_iter_new(m, &mut it) });
    for k in (0..5_000).step_by(7) {
        assert!(
            put_ii(m, k, -k),
            "overwrite of {k} in a table a snapshot shares"
        );
    }
    assert!(!put_ii(m, 5_000, 0), "new key in a table a snapshot shares");
    let mut seen = drain_ii(it);
    seen.sort_unstable();
    assert_eq!(seen, (0..5_000).map(|k| (k, k + 1)).collect::<Vec<_>>());
    ok(fm_iter_free(it));
    // Another thread writes under the shard locks, which revokes the bias.
    std::thread::spawn(move || {
        for k in 4_990..5_010 {
            assert_eq!(put_ii(m, k, 7), k <= 5_000, "key {k} from another thread");
        }
    })
    .join()
    .unwrap();
    for k in 5_000..5_020 {
        assert_eq!(put_ii(m, k, 8), k < 5_010, "key {k} after the revocation");
    }
    assert_eq!(len(m), 5_020);
    for k in 0..5_020 {
        let want = match k {
            5_000..=5_019 => 8,
            4_990..=4_999 => 7,
            _ if k % 7 == 0 => -k,
            _ => k + 1,
        };
        assert_eq!(get_ii(m, k), Some(want), "key {k}");
    }
    ok(fm_map_free(m));

    let f = new_map(FM_INT, FM_FLOAT);
    let mut replaced = true;
    ok(unsafe { fm_insert_i64_f64(f, 3, 1.5, &mut replaced) });
    assert!(!replaced);
    ok(unsafe { fm_insert_i64_f64(f, 3, -2.25, &mut replaced) });
    assert!(replaced);
    let mut x = 0.0;
    ok(unsafe { fm_get_i64_f64(f, 3, &mut x) });
    assert_eq!(x, -2.25);
    ok(fm_map_free(f));
}

/// Big reserved tables shared with a snapshot: the next writes copy them
/// (same capacity, every entry), and each side keeps its own contents.
#[test]
fn big_reserved_tables_are_copied_on_write() {
    let _l = leakcheck();
    let m = new_map(FM_INT, FM_INT);
    // 64 shards of 50,000 entries each need 131,072 slots (2 MiB) apiece.
    ok(fm_map_reserve(m, 3_200_000));
    let mut s = fm_stats::default();
    ok(unsafe { fm_map_stats(m, &mut s) });
    assert!(s.capacity >= 64 * 131_072, "capacity {}", s.capacity);
    let key = |k: i64| k.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64);
    for k in 0..20_000 {
        put_ii(m, key(k), k);
    }
    let mut it = 0;
    ok(unsafe { fm_iter_new(m, &mut it) });
    for k in 0..20_000 {
        assert!(
            put_ii(m, key(k), -k),
            "overwrite of {k} into a copied table"
        );
    }
    for k in 20_000..30_000 {
        put_ii(m, key(k), k);
    }
    let mut seen = drain_ii(it);
    seen.sort_unstable();
    let mut want: Vec<(i64, i64)> = (0..20_000).map(|k| (key(k), k)).collect();
    want.sort_unstable();
    assert_eq!(seen, want, "the snapshot kept the shared tables");
    ok(fm_iter_free(it));
    assert_eq!(len(m), 30_000);
    for k in 0..30_000 {
        assert_eq!(get_ii(m, key(k)), Some(if k < 20_000 { -k } else { k }));
    }
    ok(unsafe { fm_map_stats(m, &mut s) });
    // 16 bytes of slot and a tag byte per slot.
    assert!(s.capacity >= 64 * 131_072 && s.memory_bytes >= s.capacity * 17);
    ok(fm_map_free(m));
}

#[test]
fn iterator_is_a_snapshot() {
    let _l = leakcheck();
    let m = new_map(FM_INT, FM_INT);
    for k in 0..50_000 {
        put_ii(m, k, k * 3);
    }
    let mut it = 0;
    ok(unsafe { fm_iter_new(m, &mut it) });
    let mut n = 0;
    ok(unsafe { fm_iter_len(it, &mut n) });
    assert_eq!(n, 50_000);
    // Change everything, then free the map: the iterator does not notice.
    for k in 0..50_000 {
        put_ii(m, k, -1);
    }
    for k in 50_000..60_000 {
        put_ii(m, k, 0);
    }
    ok(fm_map_clear(m));
    ok(fm_map_free(m));
    let mut seen = drain_ii(it);
    seen.sort_unstable();
    assert_eq!(seen, (0..50_000).map(|k| (k, k * 3)).collect::<Vec<_>>());
    ok(fm_iter_free(it));
}

#[test]
fn iterator_snapshot_under_concurrent_writers() {
    let _l = leakcheck();
    let m = new_map(FM_INT, FM_INT);
    for k in 0..20_000 {
        put_ii(m, k, k);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    let k = (i * 7 + w) % 30_000;
                    if i % 3 == 0 {
                        unsafe { fm_remove_i64(m, k, null_mut()) };
                    } else {
                        put_ii(m, k, -k);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for _ in 0..20 {
        let mut it = 0;
        ok(unsafe { fm_iter_new(m, &mut it) });
        let mut expected = 0;
        ok(unsafe { fm_iter_len(it, &mut expected) });
        let seen = drain_ii(it);
        assert_eq!(seen.len(), expected, "each entry once");
        let keys: std::collections::HashSet<_> = seen.iter().map(|e| e.0).collect();
        assert_eq!(keys.len(), seen.len(), "no key twice");
        assert!(seen.iter().all(|&(k, v)| v == k || v == -k));
        ok(fm_iter_free(it));
    }
    stop.store(true, Ordering::Relaxed);
    writers.into_iter().for_each(|t| t.join().unwrap());
    ok(fm_map_free(m));
}

#[test]
fn views_outlive_overwrite_remove_and_free() {
    let _l = leakcheck();
    let m = new_map(FM_STR, FM_BYTES);
    ok(put_bb(m, b"k", b"original bytes"));
    let (mut view, mut p, mut n) = (0, null(), 0);
    ok(unsafe { fm_view_buf(m, b"k".as_ptr(), 1, &mut view, &mut p, &mut n) });
    let mut s = fm_stats::default();
    ok(unsafe { fm_map_stats(m, &mut s) });
    assert_eq!(s.open_views, 1);
    ok(put_bb(m, b"k", b"overwritten"));
    unsafe { fm_remove_buf(m, b"k".as_ptr(), 1, null_mut()) };
    ok(fm_map_free(m));
    assert_eq!(
        unsafe { std::slice::from_raw_parts(p, n) },
        b"original bytes"
    );
    let (mut p2, mut n2) = (null(), 0);
    ok(unsafe { fm_view_bytes(view, &mut p2, &mut n2) });
    assert_eq!((p2, n2), (p, n));
    ok(fm_view_release(view));
    assert_eq!(fm_view_release(view), FM_INVALID_HANDLE, "double release");
}

#[test]
fn clone_is_independent() {
    let _l = leakcheck();
    let a = new_map(FM_INT, FM_STR);
    for k in 0..1000 {
        ok(unsafe { fm_insert_i64_buf(a, k, b"v".as_ptr(), 1, null_mut()) });
    }
    let mut b = 0;
    ok(unsafe { fm_map_clone(a, &mut b) });
    ok(unsafe { fm_insert_i64_buf(a, 1, b"a".as_ptr(), 1, null_mut()) });
    ok(unsafe { fm_insert_i64_buf(b, 2, b"b".as_ptr(), 1, null_mut()) });
    ok(unsafe { fm_remove_i64(b, 3, null_mut()) });
    let get = |m, k| {
        let mut buf = [0u8; 4];
        let mut n = 0;
        match unsafe { fm_get_i64_buf(m, k, buf.as_mut_ptr(), 4, &mut n) } {
            FM_OK => Some(buf[..n].to_vec()),
            _ => None,
        }
    };
    assert_eq!(get(a, 1).unwrap(), b"a");
    assert_eq!(get(b, 1).unwrap(), b"v");
    assert_eq!(get(a, 2).unwrap(), b"v");
    assert_eq!(get(b, 2).unwrap(), b"b");
    assert_eq!(get(a, 3).unwrap(), b"v");
    assert_eq!(get(b, 3), None);
    assert_eq!((len(a), len(b)), (1000, 999));
    ok(fm_map_free(a));
    assert_eq!(get(b, 4).unwrap(), b"v", "clone survives the original");
    ok(fm_map_free(b));
}

#[test]
fn export_import_round_trip_and_corruption() {
    let _l = leakcheck();
    let m = new_map(FM_STR, FM_FLOAT);
    for k in 0..300 {
        let key = format!("key-{k}-é");
        ok(unsafe { fm_insert_buf_f64(m, key.as_ptr(), key.len(), k as f64 * 0.5, null_mut()) });
    }
    let (mut view, mut p, mut n) = (0, null(), 0);
    ok(unsafe { fm_export(m, &mut view, &mut p, &mut n) });
    let data = unsafe { std::slice::from_raw_parts(p, n) }.to_vec();
    ok(fm_view_release(view));

    let mut copy = 0;
    ok(unsafe { fm_import(data.as_ptr(), data.len(), &mut copy) });
    assert_eq!(len(copy), 300);
    for k in 0..300 {
        let key = format!("key-{k}-é");
        let mut v = 0.0;
        ok(unsafe { fm_get_buf_f64(copy, key.as_ptr(), key.len(), &mut v) });
        assert_eq!(v, k as f64 * 0.5);
    }
    ok(fm_map_free(copy));

    let before = fm_census_total();
    for cut in [0, 5, 19, data.len() / 2, data.len() - 1] {
        let mut h = 0;
        assert_eq!(
            unsafe { fm_import(data.as_ptr(), cut, &mut h) },
            FM_CORRUPT_DATA,
            "truncated at {cut}"
        );
    }
    for pos in [0, 4, 6, 9, 20, data.len() / 2, data.len() - 2] {
        let mut bad = data.clone();
        bad[pos] ^= 0x10;
        let mut h = 0;
        let st = unsafe { fm_import(bad.as_ptr(), bad.len(), &mut h) };
        assert!(
            matches!(st, FM_CORRUPT_DATA | FM_UNSUPPORTED_VERSION),
            "flip at {pos}: {st:?}"
        );
        assert_eq!(h, 0, "no handle written on failure");
    }
    assert_eq!(fm_census_total(), before, "failed imports create nothing");
    ok(fm_map_free(m));
}

#[test]
fn bad_handles_are_errors() {
    let _l = leakcheck();
    let m = new_map(FM_INT, FM_INT);
    let mut it = 0;
    ok(unsafe { fm_iter_new(m, &mut it) });
    let mut v = 0;
    assert_eq!(unsafe { fm_get_i64_i64(0, 1, &mut v) }, FM_INVALID_HANDLE);
    assert_eq!(unsafe { fm_get_i64_i64(it, 1, &mut v) }, FM_WRONG_KIND);
    assert_eq!(fm_iter_free(m), FM_WRONG_KIND);
    for forged in [m + 1, m ^ (1 << 40), m ^ (1 << 30), u64::MAX, 0x1234_5678] {
        assert_eq!(
            unsafe { fm_get_i64_i64(forged, 1, &mut v) },
            FM_INVALID_HANDLE,
            "{forged:#x}"
        );
        assert_eq!(fm_map_free(forged), FM_INVALID_HANDLE);
    }
    ok(fm_iter_free(it));
    ok(fm_map_free(m));
    assert_eq!(unsafe { fm_get_i64_i64(m, 1, &mut v) }, FM_INVALID_HANDLE);
    assert!(last_error().contains("stale"), "message: {}", last_error());
    assert_eq!(fm_map_free(m), FM_INVALID_HANDLE, "double free");
    ok(fm_map_free(0));
    // A new map never reuses the old number.
    let m2 = new_map(FM_INT, FM_INT);
    assert_ne!(m2, m);
    assert_eq!(unsafe { fm_get_i64_i64(m, 1, &mut v) }, FM_INVALID_HANDLE);
    ok(fm_map_free(m2));
}

/// The integer paths remember the last map a thread used (with the count
/// of map frees at the time): a free by any thread must end that memo, and
/// the memo must never answer for another map or another schema.
#[test]
fn integer_paths_notice_a_free_by_another_thread() {
    let _l = leakcheck();
    let m = new_map(FM_INT, FM_INT);
    let other = new_map(FM_INT, FM_INT);
    let floats = new_map(FM_INT, FM_FLOAT);
    assert!(!put_ii(m, 7, 70));
    assert!(!put_ii(other, 7, 700));
    // Alternating maps on one thread: each answer is its own map's.
    for _ in 0..3 {
        assert_eq!(get_ii(m, 7), Some(70));
        assert_eq!(get_ii(other, 7), Some(700));
    }
    let mut v = 0;
    assert_eq!(unsafe { fm_get_i64_i64(floats, 7, &mut v) }, FM_WRONG_KIND);
    assert_eq!(
        unsafe { fm_insert_i64_i64(floats, 7, 1, null_mut()) },
        FM_WRONG_KIND
    );
    let mut x = 0.0;
    assert_eq!(
        unsafe { fm_get_i64_f64(m, 7, &mut x) },
        FM_WRONG_KIND,
        "same handle, other value kind"
    );
    // This thread remembers `m`; another thread frees it.
    assert_eq!(get_ii(m, 7), Some(70));
    std::thread::spawn(move || ok(fm_map_free(m)))
        .join()
        .unwrap();
    assert_eq!(unsafe { fm_get_i64_i64(m, 7, &mut v) }, FM_INVALID_HANDLE);
    assert!(last_error().contains("stale"), "message: {}", last_error());
    assert_eq!(
        unsafe { fm_insert_i64_i64(m, 8, 80, null_mut()) },
        FM_INVALID_HANDLE
    );
    assert_eq!(get_ii(other, 7), Some(700), "the other map is untouched");
    // A map made after the free, maybe in the same slot, is a new handle.
    let m2 = new_map(FM_INT, FM_INT);
    assert_eq!(get_ii(m2, 7), None);
    assert_eq!(unsafe { fm_get_i64_i64(m, 7, &mut v) }, FM_INVALID_HANDLE);
    for h in [other, floats, m2] {
        ok(fm_map_free(h));
    }
}

#[test]
fn null_and_absurd_arguments() {
    let _l = leakcheck();
    assert_eq!(
        unsafe { fm_map_new(FM_INT as u32, FM_INT as u32, 0, null_mut()) },
        FM_NULL_ARGUMENT
    );
    let mut h = 0;
    assert_eq!(
        unsafe { fm_map_new(9, FM_INT as u32, 0, &mut h) },
        FM_INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { fm_map_new(FM_FLOAT as u32, FM_INT as u32, 0, &mut h) },
        FM_INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { fm_map_new(FM_INT as u32, FM_INT as u32, usize::MAX, &mut h) },
        FM_INVALID_ARGUMENT
    );
    assert_eq!(h, 0);
    let m = new_map(FM_BYTES, FM_INT);
    assert_eq!(
        unsafe { fm_insert_buf_i64(m, null(), 3, 1, null_mut()) },
        FM_NULL_ARGUMENT
    );
    // An absurd length is refused before the pointer is read.
    assert_eq!(
        unsafe { fm_insert_buf_i64(m, 8 as *const u8, usize::MAX, 1, null_mut()) },
        FM_INVALID_ARGUMENT
    );
    ok(unsafe { fm_insert_buf_i64(m, null(), 0, 1, null_mut()) });
    let mut v = 0;
    ok(unsafe { fm_get_buf_i64(m, null(), 0, &mut v) });
    assert_eq!(v, 1);
    assert_eq!(
        unsafe { fm_get_buf_i64(m, b"x".as_ptr(), 1, null_mut()) },
        FM_NULL_ARGUMENT
    );
    assert_eq!(unsafe { fm_map_len(m, null_mut()) }, FM_NULL_ARGUMENT);
    assert_eq!(
        unsafe { fm_insert_i64_i64(m, 1, 1, null_mut()) },
        FM_WRONG_KIND
    );
    assert_eq!(len(m), 1);
    ok(fm_map_free(m));
}

#[test]
fn free_while_other_threads_are_inside_calls() {
    let _l = leakcheck();
    for _ in 0..20 {
        let m = new_map(FM_INT, FM_BYTES);
        for k in 0..1000 {
            ok(unsafe { fm_insert_i64_buf(m, k, b"0123456789".as_ptr(), 10, null_mut()) });
        }
        let readers: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16];
                    loop {
                        for k in 0..1000 {
                            let mut n = 0;
                            match unsafe { fm_get_i64_buf(m, k, buf.as_mut_ptr(), 16, &mut n) } {
                                FM_OK => assert_eq!(&buf[..n], b"0123456789"),
                                FM_INVALID_HANDLE => return,
                                other => panic!("{other:?}"),
                            }
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(2));
        ok(fm_map_free(m));
        readers.into_iter().for_each(|t| t.join().unwrap());
    }
}

#[test]
fn batches() {
    let _l = leakcheck();
    let m = new_map(FM_INT, FM_INT);
    let keys: Vec<i64> = (0..1000).collect();
    let vals: Vec<i64> = keys.iter().map(|k| k * 10).collect();
    let mut replaced = 99;
    ok(unsafe { fm_insert_many_i64_i64(m, keys.as_ptr(), vals.as_ptr(), 1000, &mut replaced) });
    assert_eq!(replaced, 0);
    let probe: Vec<i64> = (500..1500).collect();
    let mut out = vec![-1i64; 1000];
    let mut found = vec![9u8; 1000];
    let mut hits = 0;
    ok(unsafe {
        fm_get_many_i64_i64(
            m,
            probe.as_ptr(),
            1000,
            out.as_mut_ptr(),
            found.as_mut_ptr(),
            &mut hits,
        )
    });
    assert_eq!(hits, 500);
    for i in 0..1000 {
        assert_eq!(found[i] == 1, i < 500);
        assert_eq!(out[i], if i < 500 { probe[i] * 10 } else { -1 });
    }
    let mut removed = 0;
    ok(unsafe { fm_remove_many_i64(m, probe.as_ptr(), 1000, &mut removed) });
    assert_eq!(removed, 500);
    assert_eq!(len(m), 500);
    ok(fm_map_free(m));

    // Generic batch: one bad entry and nothing is inserted.
    let s = new_map(FM_STR, FM_INT);
    let mk = |k: &'static [u8], v| fm_entry {
        key_ptr: k.as_ptr(),
        key_len: k.len(),
        value_int: v,
        ..Default::default()
    };
    let good = [mk(b"a", 1), mk(b"b", 2)];
    let bad = [mk(b"c", 3), mk(b"\xff", 4)];
    ok(unsafe { fm_insert_many(s, good.as_ptr(), 2, null_mut()) });
    assert_eq!(
        unsafe { fm_insert_many(s, bad.as_ptr(), 2, null_mut()) },
        FM_INVALID_UTF8
    );
    assert_eq!(
        len(s),
        2,
        "the valid entry of a failed batch was not applied"
    );
    ok(fm_map_free(s));
}

#[test]
fn panics_become_internal_errors() {
    let _l = leakcheck();
    let st = ferrymap::ffi::boundary(|| panic!("deliberate"));
    assert_eq!(st, FM_INTERNAL_ERROR);
    assert!(last_error().contains("deliberate"));
}

#[test]
fn status_strings_and_version() {
    let _l = leakcheck();
    let text = |c| {
        unsafe { std::ffi::CStr::from_ptr(fm_status_str(c)) }
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(text(0), "ok");
    assert_eq!(text(FM_INVALID_HANDLE as i32), FM_INVALID_HANDLE.as_str());
    assert_eq!(text(-1), "unknown status");
    assert_eq!(text(1000), "unknown status");
    assert_eq!(fm_version(), 1 << 8, "0.1.0");
    assert_ne!(fm_registry_id(), 0);
    let mut n = 1;
    ok(unsafe { fm_census(1, &mut n) });
    assert_eq!(n, 0);
    assert_eq!(unsafe { fm_census(77, &mut n) }, FM_INVALID_ARGUMENT);
}

#[test]
fn lookups_match_a_reference_map_under_random_removal() {
    let _l = leakcheck();
    // Deterministic pseudo-random churn that exercises wrap-around probing
    // and backward-shift deletion on small tables.
    let m = new_map(FM_INT, FM_INT);
    let mut reference = HashMap::new();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = (x % 512) as i64;
        if x & 0x100_0000 == 0 {
            assert_eq!(
                put_ii(m, k, x as i64),
                reference.insert(k, x as i64).is_some()
            );
        } else {
            let mut removed = false;
            ok(unsafe { fm_remove_i64(m, k, &mut removed) });
            assert_eq!(removed, reference.remove(&k).is_some());
        }
    }
    for k in 0..512 {
        assert_eq!(get_ii(m, k), reference.get(&k).copied());
    }
    assert_eq!(len(m), reference.len());
    ok(fm_map_free(m));
}

#[test]
fn open_iterators_and_views_are_counted_until_freed() {
    let _l = leakcheck();
    let m = new_map(FM_INT, FM_STR);
    ok(unsafe { fm_insert_i64_buf(m, 1, b"x".as_ptr(), 1, null_mut()) });
    let stats = || {
        let mut s = fm_stats::default();
        ok(unsafe { fm_map_stats(m, &mut s) });
        (s.open_iterators, s.open_views)
    };
    let (mut it, mut view) = (0, 0);
    ok(unsafe { fm_iter_new(m, &mut it) });
    ok(unsafe { fm_view_i64(m, 1, &mut view, null_mut(), null_mut()) });
    assert_eq!(stats(), (1, 1));
    ok(fm_view_release(view));
    ok(fm_iter_free(it));
    assert_eq!(stats(), (0, 0), "counted down when the handles are freed");
    let mut h = 0;
    assert_eq!(
        unsafe { fm_import(null(), 0, &mut h) },
        FM_CORRUPT_DATA,
        "empty input is corrupt, not a NULL error"
    );
    ok(fm_map_free(m));
}

/// `fm_map_len` is exact at one instant even while entries move between
/// shards: one writer keeps the map at N or N + 1 entries (it inserts a key,
/// then removes another, each in whatever shard its hash picks), so a count
/// that summed shards from different moments would sooner or later report
/// N - 1 (a removal seen without the insert before it) or N + 2.
#[test]
fn len_is_exact_while_a_writer_moves_entries() {
    let _l = leakcheck();
    let m = new_map(FM_INT, FM_INT);
    const N: usize = 1_000;
    for k in 0..N as i64 {
        put_ii(m, k, k);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // The map holds keys [lo, lo + N); add lo + N, then drop lo.
            let mut lo = 0i64;
            while !stop.load(Ordering::Relaxed) {
                put_ii(m, lo + N as i64, 0);
                let mut removed = false;
                ok(unsafe { fm_remove_i64(m, lo, &mut removed) });
                assert!(removed);
                lo += 1;
            }
            lo
        })
    };
    let mut readings = 0u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(300);
    while std::time::Instant::now() < deadline {
        let n = len(m);
        assert!(n == N || n == N + 1, "len {n} was never the map's size");
        readings += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let moves = writer.join().unwrap();
    assert!(readings > 0 && moves > 0);
    assert_eq!(len(m), N);
    ok(fm_map_free(m));
}
