//! Bridge mode: ordering, tickets, backpressure, change feed, close, panics,
//! and equivalence with direct maps.

mod common;

use common::*;
use ferrymap::ffi::bridge::*;
use proptest::prelude::*;
use std::ptr::{null, null_mut};
use std::sync::mpsc;
use std::time::Duration;

fn new_bridge(key: fm_kind, value: fm_kind, queue: usize) -> fm_handle {
    let mut h = 0;
    ok(unsafe { fm_bridge_new(key as u32, value as u32, 0, queue, &mut h) });
    h
}

fn req(op: u32, key: i64, value: i64) -> fm_request {
    fm_request {
        op,
        key_int: key,
        key_ptr: null(),
        key_len: 0,
        value_int: value,
        value_float: 0.0,
        value_ptr: null(),
        value_len: 0,
    }
}

fn results(ticket: fm_handle) -> Vec<fm_result> {
    let mut n = 0;
    let st = unsafe { fm_ticket_results(ticket, null_mut(), 0, &mut n) };
    if st == FM_OK {
        return Vec::new();
    }
    assert_eq!(st, FM_BUFFER_TOO_SMALL);
    let mut out = vec![
        fm_result {
            status: -1,
            flag: false,
            seq: 0,
            len: 0,
            value_int: 0,
            value_float: 0.0,
            value_ptr: null(),
            value_len: 0
        };
        n
    ];
    ok(unsafe { fm_ticket_results(ticket, out.as_mut_ptr(), n, &mut n) });
    out
}

/// Holds the owner thread of `map` inside an update callback until the
/// returned sender is dropped (or sent to).
fn stall_owner(map: fm_handle) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    unsafe extern "C" fn wait_for_release(
        ctx: *mut std::ffi::c_void,
        _v: *mut u8,
        _n: usize,
    ) -> i32 {
        let pair = &*(ctx as *const (mpsc::Sender<()>, mpsc::Receiver<()>));
        pair.0.send(()).unwrap();
        let _ = pair.1.recv();
        0
    }
    put_ii(map, -1, 0);
    let (tx_started, rx_started) = mpsc::channel::<()>();
    let (tx_release, rx_release) = mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let pair = (tx_started, rx_release);
        ok(unsafe { fm_update_i64(map, -1, Some(wait_for_release), &pair as *const _ as *mut _) });
    });
    rx_started.recv().unwrap();
    (tx_release, t)
}

#[test]
fn every_map_operation_works_on_a_bridge_map() {
    let _l = leakcheck();
    let m = new_bridge(FM_INT, FM_INT, 64);
    assert!(!put_ii(m, 1, 10));
    assert!(put_ii(m, 1, 11));
    assert_eq!(get_ii(m, 1), Some(11));
    assert_eq!(get_ii(m, 2), None);
    let mut v = 0;
    ok(unsafe { fm_add_i64_i64(m, 2, 5, &mut v) });
    assert_eq!(v, 5);
    let keys = [1i64, 2, 3];
    let mut vals = [0i64; 3];
    let mut hits = 0;
    ok(unsafe {
        fm_get_many_i64_i64(
            m,
            keys.as_ptr(),
            3,
            vals.as_mut_ptr(),
            null_mut(),
            &mut hits,
        )
    });
    assert_eq!((hits, vals[0], vals[1]), (2, 11, 5));
    let mut it = 0;
    ok(unsafe { fm_iter_new(m, &mut it) });
    let mut seen = drain_ii(it);
    seen.sort_unstable();
    assert_eq!(seen, vec![(1, 11), (2, 5)]);
    ok(fm_iter_free(it));
    let mut c = 0;
    ok(unsafe { fm_map_clone(m, &mut c) });
    assert_eq!(get_ii(c, 2), Some(5));
    ok(fm_map_free(c));
    assert_eq!(len(m), 2);
    ok(fm_map_clear(m));
    assert_eq!(len(m), 0);
    ok(fm_bridge_status(m));
    let direct = new_map(FM_INT, FM_INT);
    assert_eq!(fm_bridge_status(direct), FM_WRONG_KIND);
    ok(fm_map_free(direct));
    ok(fm_map_free(m));
    assert_eq!(get_ii_status(m), FM_INVALID_HANDLE);
}

fn get_ii_status(m: fm_handle) -> fm_status {
    let mut v = 0;
    unsafe { fm_get_i64_i64(m, 1, &mut v) }
}

#[test]
fn mutations_are_totally_ordered_and_per_thread_fifo() {
    let _l = leakcheck();
    let m = new_bridge(FM_INT, FM_INT, 256);
    let mut sub = 0;
    ok(unsafe { fm_subscribe(m, 100_000, &mut sub) });
    const THREADS: i64 = 4;
    const EACH: i64 = 2000;
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut last = 0;
                for i in 0..EACH {
                    put_ii(m, t * 1_000_000 + i, i);
                    let seq = fm_last_seq();
                    assert!(
                        seq > last,
                        "a thread's own mutations get increasing sequence numbers"
                    );
                    last = seq;
                }
            })
        })
        .collect();
    producers.into_iter().for_each(|p| p.join().unwrap());
    let mut next_per_thread = [0i64; THREADS as usize];
    for expected_seq in 1..=(THREADS * EACH) as u64 {
        let mut e = std::mem::MaybeUninit::<fm_event>::uninit();
        ok(unsafe { fm_sub_next(sub, 1_000_000, e.as_mut_ptr()) });
        let e = unsafe { e.assume_init() };
        assert_eq!(e.seq, expected_seq, "one total order without gaps");
        assert_eq!(e.lost, 0);
        let t = (e.key_int / 1_000_000) as usize;
        assert_eq!(e.key_int % 1_000_000, next_per_thread[t], "per-thread FIFO");
        assert_eq!(e.value_int, next_per_thread[t]);
        next_per_thread[t] += 1;
    }
    let mut seq = 0;
    ok(unsafe { fm_bridge_seq(m, &mut seq) });
    assert_eq!(seq, (THREADS * EACH) as u64);
    let mut e = std::mem::MaybeUninit::<fm_event>::uninit();
    assert_eq!(unsafe { fm_sub_next(sub, 0, e.as_mut_ptr()) }, FM_TIMEOUT);
    ok(fm_map_free(m));
    assert_eq!(
        unsafe { fm_sub_next(sub, -1, e.as_mut_ptr()) },
        FM_CLOSED,
        "closed after the last event"
    );
    ok(fm_sub_free(sub));
}

#[test]
fn a_lagging_subscriber_is_told_what_it_lost() {
    let _l = leakcheck();
    let m = new_bridge(FM_STR, FM_BYTES, 16);
    let mut sub = 0;
    ok(unsafe { fm_subscribe(m, 10, &mut sub) });
    for i in 0..100 {
        ok(put_bb(m, format!("k{i}").as_bytes(), b"v"));
    }
    unsafe { fm_remove_buf(m, b"k0".as_ptr(), 2, null_mut()) };
    let mut got = Vec::new();
    loop {
        let mut e = std::mem::MaybeUninit::<fm_event>::uninit();
        match unsafe { fm_sub_next(sub, 0, e.as_mut_ptr()) } {
            FM_OK => {
                let e = unsafe { e.assume_init() };
                let key = unsafe { std::slice::from_raw_parts(e.key_ptr, e.key_len) }.to_vec();
                got.push((e.seq, e.op, e.lost, key));
            }
            FM_TIMEOUT => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got.len(), 10);
    assert_eq!(
        got[0].2, 91,
        "101 events, bound 10: the first delivered says 91 were lost"
    );
    assert!(got[1..].iter().all(|e| e.2 == 0));
    assert_eq!(
        got.iter().map(|e| e.0).collect::<Vec<_>>(),
        (92..=101).collect::<Vec<u64>>()
    );
    assert_eq!(got[9].1, ferrymap::feed::FM_OP_REMOVE as u32);
    assert_eq!(got[9].3, b"k0");
    ok(fm_sub_free(sub));
    ok(fm_map_free(m));
}

#[test]
fn tickets_poll_wait_and_results() {
    let _l = leakcheck();
    let m = new_bridge(FM_INT, FM_INT, 64);
    let (release, staller) = stall_owner(m);
    let batch = [
        req(FM_OP_INSERT_U, 1, 100),
        req(FM_OP_ADD_U, 1, 5),
        req(FM_OP_GET_U, 1, 0),
        req(FM_OP_GET_U, 9, 0),
        req(FM_OP_LEN_U, 0, 0),
    ];
    let mut t = 0;
    ok(unsafe { fm_submit(m, batch.as_ptr(), batch.len(), -1, &mut t) });
    let mut done = true;
    ok(unsafe { fm_ticket_poll(t, &mut done) });
    assert!(!done, "the owner is stalled");
    assert_eq!(fm_ticket_wait(t, 1000), FM_TIMEOUT);
    let mut n = 0;
    assert_eq!(
        unsafe { fm_ticket_results(t, null_mut(), 0, &mut n) },
        FM_TIMEOUT
    );
    drop(release);
    staller.join().unwrap();
    ok(fm_ticket_wait(t, -1));
    let r = results(t);
    assert_eq!(r.len(), 5);
    assert!(r.iter().all(|r| r.status == 0));
    assert!(!r[0].flag && r[0].seq > 0);
    assert_eq!(r[1].value_int, 105);
    assert_eq!(r[1].seq, r[0].seq + 1);
    assert!(r[2].flag && r[2].value_int == 105);
    assert!(!r[3].flag);
    assert_eq!(r[4].len, 2, "keys 1 and the staller's -1");
    ok(fm_ticket_free(t));
    assert_eq!(fm_ticket_free(t), FM_INVALID_HANDLE);
    // Bad requests are refused before anything is queued.
    let bad = [req(99, 0, 0)];
    assert_eq!(
        unsafe { fm_submit(m, bad.as_ptr(), 1, -1, &mut t) },
        FM_INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { fm_submit(m, bad.as_ptr(), 0, -1, &mut t) },
        FM_INVALID_ARGUMENT
    );
    ok(fm_map_free(m));
}

const FM_OP_INSERT_U: u32 = ferrymap::feed::FM_OP_INSERT as u32;
const FM_OP_ADD_U: u32 = ferrymap::feed::FM_OP_ADD as u32;
const FM_OP_GET_U: u32 = ferrymap::feed::FM_OP_GET as u32;
const FM_OP_LEN_U: u32 = ferrymap::feed::FM_OP_LEN as u32;

#[test]
fn a_full_queue_blocks_up_to_a_timeout_or_fails_at_once() {
    let _l = leakcheck();
    let m = new_bridge(FM_INT, FM_INT, 2);
    let (release, staller) = stall_owner(m);
    let one = [req(FM_OP_INSERT_U, 5, 5)];
    let mut tickets = Vec::new();
    loop {
        let mut t = 0;
        match unsafe { fm_submit(m, one.as_ptr(), 1, 0, &mut t) } {
            FM_OK => tickets.push(t),
            FM_QUEUE_FULL => break,
            other => panic!("{other:?}"),
        }
        assert!(tickets.len() <= 2, "the queue holds 2");
    }
    assert_eq!(tickets.len(), 2);
    let mut t = 0;
    let started = std::time::Instant::now();
    assert_eq!(
        unsafe { fm_submit(m, one.as_ptr(), 1, 20_000, &mut t) },
        FM_TIMEOUT
    );
    assert!(
        started.elapsed() >= Duration::from_millis(19),
        "waited for the timeout"
    );
    drop(release);
    staller.join().unwrap();
    for t in tickets {
        ok(fm_ticket_wait(t, -1));
        assert_eq!(results(t)[0].status, 0);
        ok(fm_ticket_free(t));
    }
    ok(fm_map_free(m));
}

#[test]
fn close_answers_everything_accepted() {
    let _l = leakcheck();
    let m = new_bridge(FM_INT, FM_INT, 128);
    let submitters: Vec<_> = (0..3)
        .map(|s| {
            std::thread::spawn(move || {
                let mut accepted = Vec::new();
                let mut refused = 0;
                for i in 0..1500 {
                    let r = [req(FM_OP_INSERT_U, s * 10_000 + i, i)];
                    let mut t = 0;
                    match unsafe { fm_submit(m, r.as_ptr(), 1, -1, &mut t) } {
                        FM_OK => accepted.push(t),
                        FM_CLOSED | FM_INVALID_HANDLE => refused += 1,
                        other => panic!("{other:?}"),
                    }
                }
                (accepted, refused)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(3));
    ok(fm_map_free(m));
    let mut answered = 0;
    for s in submitters {
        let (accepted, _refused) = s.join().unwrap();
        for t in accepted {
            ok(fm_ticket_wait(t, 10_000_000));
            let r = results(t);
            assert_eq!(r[0].status, 0, "accepted before close means it ran");
            answered += 1;
            ok(fm_ticket_free(t));
        }
    }
    assert!(answered > 0);
}

#[test]
fn a_panic_on_the_owner_thread_fails_the_bridge_not_the_process() {
    let _l = leakcheck();
    let b = ferrymap::bridge::Bridge::new(FM_INT, FM_INT, 0, 8).unwrap();
    let r: ferrymap::status::Result<()> = b.run(|_, _| panic!("deliberate owner panic"));
    assert_eq!(r.unwrap_err().status, FM_INTERNAL_ERROR);
    assert!(b.failed());
    let r = b.run(|m, _| {
        m.insert(
            ferrymap::kind::KeyRef::Int(1),
            ferrymap::kind::ValIn::Int(1),
        )
    });
    assert_eq!(r.unwrap_err().status, FM_BRIDGE_FAILED);
    b.close().unwrap();
}

#[derive(Debug, Clone)]
enum Op {
    Insert(i64, i64),
    Remove(i64),
    Add(i64, i64),
    Get(i64),
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A bridge map and a direct map give identical answers to the same sequence.
    #[test]
    fn bridge_and_direct_agree(ops in prop::collection::vec(prop_oneof![
        (0i64..32, any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
        (0i64..32).prop_map(Op::Remove),
        (0i64..32, -5i64..5).prop_map(|(k, d)| Op::Add(k, d)),
        (0i64..32).prop_map(Op::Get),
    ], 1..200)) {
        let _l = leakcheck();
        let direct = new_map(FM_INT, FM_INT);
        let bridged = new_bridge(FM_INT, FM_INT, 32);
        for op in ops {
            let answer = |m: fm_handle| -> (fm_status, i64, bool) {
                let (mut v, mut flag) = (0i64, false);
                let st = unsafe {
                    match op {
                        Op::Insert(k, x) => fm_insert_i64_i64(m, k, x, &mut flag),
                        Op::Remove(k) => fm_remove_i64(m, k, &mut flag),
                        Op::Add(k, d) => fm_add_i64_i64(m, k, d, &mut v),
                        Op::Get(k) => fm_get_i64_i64(m, k, &mut v),
                    }
                };
                (st, v, flag)
            };
            prop_assert_eq!(answer(direct), answer(bridged));
        }
        prop_assert_eq!(len(direct), len(bridged));
        ok(fm_map_free(direct));
        ok(fm_map_free(bridged));
    }
}

/// Found by the `bridge` fuzz target: ADD read `value_ptr`/`value_len` of
/// a request to a STR/BYTES map, though the header says ADD reads only
/// `value_int`/`value_float`. A NULL pointer with a length there failed the
/// whole submission (FM_NULL_ARGUMENT), a garbage pointer was dereferenced,
/// and invalid UTF-8 behind it gave FM_INVALID_UTF8 instead of FM_WRONG_KIND.
#[test]
fn add_to_a_blob_map_reads_no_value_bytes() {
    for value in [fm_kind::FM_STR, fm_kind::FM_BYTES] {
        let m = new_bridge(fm_kind::FM_INT, value, 4);
        let bad = b"\xff\xfe";
        let mut with_null = req(FM_OP_ADD_U, 1, 5);
        with_null.value_len = 7;
        let mut with_bytes = req(FM_OP_ADD_U, 2, 5);
        (with_bytes.value_ptr, with_bytes.value_len) = (bad.as_ptr(), bad.len());
        let reqs = [with_null, with_bytes, req(FM_OP_LEN_U, 0, 0)];
        let mut t = 0;
        ok(unsafe { fm_submit(m, reqs.as_ptr(), reqs.len(), -1, &mut t) });
        ok(fm_ticket_wait(t, -1));
        let rs = results(t);
        assert_eq!(rs.len(), 3);
        for r in &rs[..2] {
            assert_eq!(r.status, FM_WRONG_KIND as i32);
            assert_eq!(r.seq, 0);
        }
        assert_eq!((rs[2].status, rs[2].len), (FM_OK as i32, 0));
        ok(fm_ticket_free(t));
        ok(fm_map_free(m));
    }
}
