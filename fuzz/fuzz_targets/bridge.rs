//! Bridge maps fed request batches through `fm_submit`, well-formed and
//! not: unknown ops, NULL buffers with lengths, lengths past 4 GiB, empty
//! and NULL batches, wrong-kind and stale handles. Tickets are polled,
//! waited for, read and freed in any order, some never read, some freed
//! before their batch ran; maps are freed with batches in flight;
//! subscriptions read the change feed; the synchronous calls (routed
//! through the owner thread) are mixed in, and callbacks call back in.
//!
//! The model: the owner thread runs everything in the order it was
//! queued, so each accepted batch is applied to the model when it is
//! submitted, and its expected results kept with its ticket. Every input
//! ends with the live-handle census back where it started.

#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use ferrymap_fuzz::*;
use libfuzzer_sys::fuzz_target;

const OP_INSERT: u32 = 1;
const OP_REMOVE: u32 = 2;
const OP_ADD: u32 = 3;
const OP_UPDATE: u32 = 4;
const OP_CLEAR: u32 = 5;
const OP_GET: u32 = 6;
const OP_CONTAINS: u32 = 7;
const OP_LEN: u32 = 8;

#[derive(Arbitrary, Debug)]
struct Req {
    op: u8,
    k: Pick,
    v: Pick,
    /// 0..=5 sound; 6: NULL pointer with a length; 7: a length past 4 GiB.
    key_fault: u8,
    value_fault: u8,
}

#[derive(Arbitrary, Debug)]
enum Op {
    New {
        key_kind: u8,
        val_kind: u8,
        queue: u8,
    },
    Free {
        m: u8,
    },
    Submit {
        m: u8,
        reqs: Vec<Req>,
        timeout: u8,
        fault: u8,
    },
    Poll {
        t: u8,
    },
    Wait {
        t: u8,
        timeout: u8,
    },
    Results {
        t: u8,
        cap: u8,
    },
    TicketFree {
        t: u8,
    },
    SyncInsert {
        m: u8,
        k: Pick,
        v: Pick,
    },
    SyncGet {
        m: u8,
        k: Pick,
    },
    SyncRemove {
        m: u8,
        k: Pick,
    },
    SyncLen {
        m: u8,
    },
    SyncClear {
        m: u8,
    },
    Update {
        m: u8,
        k: Pick,
        reenter: u8,
    },
    ForEach {
        m: u8,
    },
    Check {
        m: u8,
    },
    Subscribe {
        m: u8,
        bound: u8,
    },
    SubNext {
        s: u8,
        timeout: u8,
    },
    SubFree {
        s: u8,
    },
    Status {
        m: u8,
    },
    Stale {
        which: u8,
        call: u8,
    },
    SubmitDirect {
        reqs: Vec<Req>,
    },
}

const TIMEOUTS: [i64; 4] = [0, -1, 200, 2000];

struct LiveBridge {
    h: fm_handle,
    kk: u32,
    vk: u32,
    model: Model,
    /// Mutations whose sequence numbers were seen: seq -> (op, key).
    seen: HashMap<u64, (u32, Option<Key>)>,
}

/// What one request is expected to give.
#[derive(Debug, Clone)]
struct Expect {
    op: u32,
    status: Vec<fm_status>,
    flag: bool,
    len: u64,
    value: Option<Val>,
    key: Option<Key>,
}

struct LiveTicket {
    h: fm_handle,
    map: fm_handle,
    expect: Vec<Expect>,
    /// Pointers handed out by fm_ticket_results: valid until the ticket is freed.
    given: Vec<(*const u8, usize, Vec<u8>)>,
    checked: bool,
}

struct LiveSub {
    h: fm_handle,
    map: fm_handle,
    kk: u32,
    vk: u32,
    last_seq: u64,
    closed: bool,
}

#[derive(Default)]
struct State {
    maps: Vec<LiveBridge>,
    tickets: Vec<LiveTicket>,
    subs: Vec<LiveSub>,
    stale: Vec<fm_handle>,
    /// Freed maps' models (to judge their subscriptions' events).
    gone: HashMap<fm_handle, LiveBridge>,
}

fn key_of(kk: u32, p: &Pick) -> Key {
    if kk == INT {
        Key::Int(int_of(p.sel, p.raw))
    } else {
        Key::Bytes(bytes_of(p.sel, &p.raw_bytes))
    }
}

fn val_of(vk: u32, p: &Pick) -> Val {
    match vk {
        INT => Val::Int(int_of(p.sel, p.raw)),
        FLOAT => Val::Float(float_of(p.sel, p.raw)),
        _ => Val::Bytes(bytes_of(p.sel, &p.raw_bytes)),
    }
}

/// The request's op code: the eight modelled kinds, UPDATE (refused at
/// submission), and codes no request kind has (0, 12, u32::MAX). The
/// conditional requests (9 to 11: SWAP, GET_OR_INSERT, REMOVE_IF_EQUAL) are
/// not modelled here yet; c-tests/test_bridge.c covers them.
fn raw_op(op: u8) -> u32 {
    match op % 12 {
        0 => 0,
        9 => 12,
        10 => u32::MAX,
        11 => OP_INSERT,
        n => n as u32,
    }
}

fn same_val(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Float(x), Val::Float(y)) => {
            x == y || (f64::from_bits(*x).is_nan() && f64::from_bits(*y).is_nan())
        }
        _ => a == b,
    }
}

/// A request as C would fill it in, with its faults, plus the bytes it points to.
struct Built {
    req: fm_request,
    _key: Vec<u8>,
    _val: Vec<u8>,
}

fn build(r: &Req, kk: u32, vk: u32) -> Built {
    let op = raw_op(r.op);
    let key = key_of(kk, &r.k);
    let val = val_of(vk, &r.v);
    let kbytes = match &key {
        Key::Bytes(b) => b.clone(),
        Key::Int(_) => Vec::new(),
    };
    let vbytes = match &val {
        Val::Bytes(b) => b.clone(),
        _ => Vec::new(),
    };
    let huge = u32::MAX as usize + 1 + (r.k.sel as usize);
    let (mut kp, mut kl) = (kbytes.as_ptr(), kbytes.len());
    match r.key_fault % 8 {
        6 => (kp, kl) = (std::ptr::null(), kl + 1),
        7 => kl = huge,
        _ => {}
    }
    let (mut vp, mut vl) = (vbytes.as_ptr(), vbytes.len());
    match r.value_fault % 8 {
        6 => (vp, vl) = (std::ptr::null(), vl + 1),
        7 => vl = huge,
        _ => {}
    }
    Built {
        req: fm_request {
            op,
            key_int: if let Key::Int(i) = key { i } else { r.k.raw },
            key_ptr: kp,
            key_len: kl,
            value_int: if let Val::Int(i) = val { i } else { r.v.raw },
            value_float: if let Val::Float(f) = val {
                f64::from_bits(f)
            } else {
                1.5
            },
            value_ptr: vp,
            value_len: vl,
        },
        _key: kbytes,
        _val: vbytes,
    }
}

/// The status `fm_submit` must give for this request's shape (before any
/// is queued), or None if it is well-formed.
fn shape_error(r: &Req, kk: u32, vk: u32) -> Option<fm_status> {
    let op = raw_op(r.op);
    if !(1..=8).contains(&op) || op == OP_UPDATE {
        return Some(FM_INVALID_ARGUMENT);
    }
    let needs_key = !matches!(op, OP_CLEAR | OP_LEN) && kk != INT;
    // ADD reads only value_int / value_float: never a blob's pointer.
    let needs_val = op == OP_INSERT && is_blob(vk);
    let fault = |f: u8| match f % 8 {
        6 => Some(FM_NULL_ARGUMENT),
        7 => Some(FM_INVALID_ARGUMENT),
        _ => None,
    };
    if needs_key {
        if let Some(s) = fault(r.key_fault) {
            return Some(s);
        }
    }
    if needs_val {
        if let Some(s) = fault(r.value_fault) {
            return Some(s);
        }
    }
    None
}

/// Applies one well-formed request to the model and says what it must give.
fn apply(m: &mut LiveBridge, r: &Req) -> Expect {
    let op = raw_op(r.op);
    let key = key_of(m.kk, &r.k);
    let val = val_of(m.vk, &r.v);
    let mut e = Expect {
        op,
        status: vec![FM_OK],
        flag: false,
        len: 0,
        value: None,
        key: None,
    };
    let key_ok = matches!(&key, Key::Bytes(b) if !storable(m.kk, b))
        .then_some(())
        .is_none();
    let needs_key = !matches!(op, OP_CLEAR | OP_LEN);
    if needs_key {
        e.key = Some(key.clone());
    }
    if needs_key && !key_ok {
        e.status = vec![FM_INVALID_UTF8];
        if op == OP_ADD && is_blob(m.vk) {
            e.status.push(FM_WRONG_KIND);
        }
        return e;
    }
    match op {
        OP_INSERT => {
            if let Val::Bytes(b) = &val {
                if !storable(m.vk, b) {
                    e.status = vec![FM_INVALID_UTF8];
                    return e;
                }
            }
            e.flag = m.model.insert(key, val).is_some();
        }
        OP_REMOVE => e.flag = m.model.remove(&key).is_some(),
        OP_ADD => {
            let next = match (m.model.get(&key), &val) {
                (_, Val::Bytes(_)) => {
                    e.status = vec![FM_WRONG_KIND];
                    return e;
                }
                (None, Val::Int(d)) => Val::Int(*d),
                (None, Val::Float(d)) => Val::Float((0.0 + f64::from_bits(*d)).to_bits()),
                (Some(Val::Int(a)), Val::Int(d)) => match a.checked_add(*d) {
                    Some(s) => Val::Int(s),
                    None => {
                        e.status = vec![FM_OVERFLOW];
                        return e;
                    }
                },
                (Some(Val::Float(a)), Val::Float(d)) => {
                    Val::Float((f64::from_bits(*a) + f64::from_bits(*d)).to_bits())
                }
                (Some(_), _) => unreachable!("a value of another kind in the model"),
            };
            e.value = Some(next.clone());
            m.model.insert(key, next);
        }
        OP_GET => {
            e.value = m.model.get(&key).cloned();
            e.flag = e.value.is_some();
        }
        OP_CONTAINS => e.flag = m.model.contains_key(&key),
        OP_CLEAR => m.model.clear(),
        OP_LEN => e.len = m.model.len() as u64,
        _ => unreachable!("shape_error let op {op} through"),
    }
    e
}

/// Update callback context: what the callback tries on its own bridge.
struct UpdCtx {
    map: fm_handle,
    reenter: u8,
    status: Option<fm_status>,
    len: usize,
}

unsafe extern "C" fn upd_cb(ctx: *mut std::ffi::c_void, value: *mut u8, len: usize) -> i32 {
    let c = &mut *(ctx as *mut UpdCtx);
    c.len = len;
    if len > 0 {
        *value = value.read().wrapping_add(1);
    }
    c.status = Some(match c.reenter % 4 {
        0 => fm_map_free(c.map),
        1 => {
            let mut t = 0;
            let r = fm_request {
                op: OP_LEN,
                key_int: 0,
                key_ptr: std::ptr::null(),
                key_len: 0,
                value_int: 0,
                value_float: 0.0,
                value_ptr: std::ptr::null(),
                value_len: 0,
            };
            // A waiting submit from the owner thread: refused.
            fm_submit(c.map, &r, 1, -1, &mut t)
        }
        2 => {
            let mut n = 0;
            fm_map_len(c.map, &mut n)
        }
        _ => {
            let mut s = 0;
            let st = fm_subscribe(c.map, 4, &mut s);
            if st == FM_OK {
                check_status(
                    fm_sub_free(s),
                    FM_OK,
                    "free a subscription made in a callback",
                );
            }
            st
        }
    });
    0
}

unsafe extern "C" fn each_cb(ctx: *mut std::ffi::c_void, _e: *const fm_entry) -> i32 {
    let c = &mut *(ctx as *mut UpdCtx);
    let mut n = 0;
    c.status = Some(fm_map_len(c.map, &mut n));
    c.len += 1;
    0
}

impl State {
    fn map(&self, m: u8) -> Option<usize> {
        (!self.maps.is_empty()).then(|| m as usize % self.maps.len())
    }

    fn live(&self, h: fm_handle) -> bool {
        self.maps.iter().any(|m| m.h == h)
            || self.tickets.iter().any(|t| t.h == h)
            || self.subs.iter().any(|s| s.h == h)
    }

    fn check_map(&self, i: usize, what: &str) {
        let m = &self.maps[i];
        let got = read_map(m.h, m.kk, m.vk, what);
        let norm = |x: &Model| -> Model {
            x.iter()
                .map(|(k, v)| match v {
                    Val::Float(f) if f64::from_bits(*f).is_nan() => (k.clone(), Val::Float(1)),
                    _ => (k.clone(), v.clone()),
                })
                .collect()
        };
        check_same(&norm(&got), &norm(&m.model), what);
    }

    /// Reads a finished ticket's results and compares them with its expectations.
    fn check_results(&mut self, ti: usize, cap: usize) {
        let t = &mut self.tickets[ti];
        let n = t.expect.len();
        let mut rs = vec![unsafe { std::mem::zeroed::<fm_result>() }; cap];
        let mut count = usize::MAX;
        let p = if cap == 0 {
            std::ptr::null_mut()
        } else {
            rs.as_mut_ptr()
        };
        let s = unsafe { fm_ticket_results(t.h, p, cap, &mut count) };
        if s == FM_TIMEOUT {
            return;
        }
        if cap < n {
            check_status(s, FM_BUFFER_TOO_SMALL, "results into a small array");
            assert_eq!(count, n, "results: count needed");
            return;
        }
        check_status(s, FM_OK, "fm_ticket_results");
        assert_eq!(count, n, "results: count");
        let Some(mi) = self.maps.iter().position(|m| m.h == t.map) else {
            // The map is gone: judge against its last model's feed record.
            let m = self
                .gone
                .get_mut(&t.map)
                .expect("a ticket of an unknown map");
            check_each(t, &rs[..n], m);
            return;
        };
        let m = &mut self.maps[mi];
        check_each(t, &rs[..n], m);
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::New {
                key_kind,
                val_kind,
                queue,
            } => {
                if self.maps.len() >= 3 {
                    return;
                }
                let (kk, vk) = (*key_kind as u32 % 6, *val_kind as u32 % 6);
                let qcap = match queue % 8 {
                    0 => 0,
                    1 => (1 << 24) + 1,
                    q => q as usize % 4 + 1,
                };
                let mut h = 0;
                let s = unsafe { fm_bridge_new(kk, vk, 0, qcap, &mut h) };
                if matches!(kk, INT | STR | BYTES)
                    && (1..=4).contains(&vk)
                    && qcap >= 1
                    && qcap <= 1 << 24
                {
                    check_status(s, FM_OK, "fm_bridge_new");
                    assert!(!self.live(h), "fm_bridge_new gave a live handle");
                    check_status(fm_bridge_status(h), FM_OK, "fm_bridge_status");
                    self.maps.push(LiveBridge {
                        h,
                        kk,
                        vk,
                        model: Model::new(),
                        seen: HashMap::new(),
                    });
                } else {
                    check_status(s, FM_INVALID_ARGUMENT, "fm_bridge_new with bad arguments");
                    assert_eq!(h, 0, "handle written on failure");
                }
            }
            Op::Free { m } => {
                let Some(i) = self.map(*m) else { return };
                let lb = self.maps.swap_remove(i);
                check_status(fm_map_free(lb.h), FM_OK, "fm_map_free of a bridge");
                check_status(fm_map_free(lb.h), FM_INVALID_HANDLE, "second fm_map_free");
                // Everything accepted before the free has run.
                for t in self.tickets.iter().filter(|t| t.map == lb.h) {
                    let mut done = false;
                    check_status(unsafe { fm_ticket_poll(t.h, &mut done) }, FM_OK, "poll");
                    assert!(done, "a batch accepted before fm_map_free did not run");
                }
                self.stale.push(lb.h);
                self.gone.insert(lb.h, lb);
            }
            Op::Submit {
                m,
                reqs,
                timeout,
                fault,
            } => {
                let Some(i) = self.map(*m) else { return };
                let reqs = &reqs[..reqs.len().min(32)];
                let (h, kk, vk) = (self.maps[i].h, self.maps[i].kk, self.maps[i].vk);
                let built: Vec<Built> = reqs.iter().map(|r| build(r, kk, vk)).collect();
                let raw: Vec<fm_request> = built.iter().map(|b| b.req).collect();
                let timeout_us = TIMEOUTS[*timeout as usize % TIMEOUTS.len()];
                let mut t = 0;
                let (s, want) = unsafe {
                    match fault % 16 {
                        0 => (
                            fm_submit(h, raw.as_ptr(), 0, timeout_us, &mut t),
                            Some(FM_INVALID_ARGUMENT),
                        ),
                        1 => (
                            fm_submit(h, std::ptr::null(), 3, timeout_us, &mut t),
                            Some(FM_NULL_ARGUMENT),
                        ),
                        2 => (
                            fm_submit(h, raw.as_ptr(), raw.len(), timeout_us, std::ptr::null_mut()),
                            Some(FM_NULL_ARGUMENT),
                        ),
                        3 => (
                            fm_submit(h, std::ptr::null(), usize::MAX / 2, timeout_us, &mut t),
                            Some(FM_INVALID_ARGUMENT),
                        ),
                        _ => {
                            let want = if raw.is_empty() {
                                Some(FM_INVALID_ARGUMENT)
                            } else {
                                reqs.iter().find_map(|r| shape_error(r, kk, vk))
                            };
                            (
                                fm_submit(h, raw.as_ptr(), raw.len(), timeout_us, &mut t),
                                want,
                            )
                        }
                    }
                };
                if let Some(w) = want {
                    check_status(s, w, "fm_submit of a malformed batch");
                    assert_eq!(t, 0, "ticket written on failure");
                    return;
                }
                match timeout_us {
                    0 => check_status_in(s, &[FM_OK, FM_QUEUE_FULL], "try-submit"),
                    -1 => check_status(s, FM_OK, "submit"),
                    _ => check_status_in(s, &[FM_OK, FM_TIMEOUT], "submit with a timeout"),
                }
                if s != FM_OK {
                    assert_eq!(t, 0, "ticket written on failure");
                    return;
                }
                assert!(!self.live(t), "fm_submit gave a live handle");
                let lb = &mut self.maps[i];
                let expect = reqs.iter().map(|r| apply(lb, r)).collect();
                self.tickets.push(LiveTicket {
                    h: t,
                    map: h,
                    expect,
                    given: Vec::new(),
                    checked: false,
                });
            }
            Op::Poll { t } => {
                if self.tickets.is_empty() {
                    return;
                }
                let ti = *t as usize % self.tickets.len();
                let mut done = false;
                check_status(
                    unsafe { fm_ticket_poll(self.tickets[ti].h, &mut done) },
                    FM_OK,
                    "poll",
                );
                if done {
                    let n = self.tickets[ti].expect.len();
                    self.check_results(ti, n);
                    check_status(
                        fm_ticket_wait(self.tickets[ti].h, 0),
                        FM_OK,
                        "wait on a done ticket",
                    );
                }
            }
            Op::Wait { t, timeout } => {
                if self.tickets.is_empty() {
                    return;
                }
                let ti = *t as usize % self.tickets.len();
                let timeout_us = TIMEOUTS[*timeout as usize % TIMEOUTS.len()];
                let s = fm_ticket_wait(self.tickets[ti].h, timeout_us);
                if timeout_us < 0 {
                    check_status(s, FM_OK, "wait forever");
                } else {
                    check_status_in(s, &[FM_OK, FM_TIMEOUT], "wait");
                }
                if s == FM_OK {
                    let mut done = false;
                    check_status(
                        unsafe { fm_ticket_poll(self.tickets[ti].h, &mut done) },
                        FM_OK,
                        "poll",
                    );
                    assert!(done, "a waited-for ticket polls not done");
                }
            }
            Op::Results { t, cap } => {
                if self.tickets.is_empty() {
                    return;
                }
                let ti = *t as usize % self.tickets.len();
                let n = self.tickets[ti].expect.len();
                let cap = if *cap >= 128 { n } else { *cap as usize % 40 };
                self.check_results(ti, cap);
            }
            Op::TicketFree { t } => {
                if self.tickets.is_empty() {
                    return;
                }
                let ti = *t as usize % self.tickets.len();
                let lt = self.tickets.swap_remove(ti);
                self.free_ticket(lt);
            }
            Op::SyncInsert { m, k, v } => {
                let Some(i) = self.map(*m) else { return };
                let lb = &mut self.maps[i];
                let key = key_of(lb.kk, k);
                let val = val_of(lb.vk, v);
                let ok = matches!(&key, Key::Bytes(b) if !storable(lb.kk, b))
                    .then_some(())
                    .is_none()
                    && matches!(&val, Val::Bytes(b) if !storable(lb.vk, b))
                        .then_some(())
                        .is_none();
                let mut replaced = false;
                let s = unsafe {
                    match (&key, &val) {
                        (Key::Int(k), Val::Int(v)) => {
                            fm_insert_i64_i64(lb.h, *k, *v, &mut replaced)
                        }
                        (Key::Int(k), Val::Float(v)) => {
                            fm_insert_i64_f64(lb.h, *k, f64::from_bits(*v), &mut replaced)
                        }
                        (Key::Int(k), Val::Bytes(v)) => {
                            fm_insert_i64_buf(lb.h, *k, v.as_ptr(), v.len(), &mut replaced)
                        }
                        (Key::Bytes(k), Val::Int(v)) => {
                            fm_insert_buf_i64(lb.h, k.as_ptr(), k.len(), *v, &mut replaced)
                        }
                        (Key::Bytes(k), Val::Float(v)) => fm_insert_buf_f64(
                            lb.h,
                            k.as_ptr(),
                            k.len(),
                            f64::from_bits(*v),
                            &mut replaced,
                        ),
                        (Key::Bytes(k), Val::Bytes(v)) => fm_insert_buf_buf(
                            lb.h,
                            k.as_ptr(),
                            k.len(),
                            v.as_ptr(),
                            v.len(),
                            &mut replaced,
                        ),
                    }
                };
                if !ok {
                    check_status(s, FM_INVALID_UTF8, "sync insert of bad UTF-8");
                    return;
                }
                check_status(s, FM_OK, "sync insert");
                let seq = fm_last_seq();
                assert_ne!(seq, 0, "a sync insert left fm_last_seq at 0");
                lb.seen.insert(seq, (OP_INSERT, Some(key.clone())));
                assert_eq!(
                    replaced,
                    lb.model.insert(key, val).is_some(),
                    "sync insert's flag"
                );
            }
            Op::SyncGet { m, k } | Op::SyncRemove { m, k } => {
                let Some(i) = self.map(*m) else { return };
                let remove = matches!(op, Op::SyncRemove { .. });
                let lb = &mut self.maps[i];
                let key = key_of(lb.kk, k);
                let ok = matches!(&key, Key::Bytes(b) if !storable(lb.kk, b))
                    .then_some(())
                    .is_none();
                let mut found = false;
                let s = unsafe {
                    match (&key, remove) {
                        (Key::Int(k), false) => fm_contains_i64(lb.h, *k, &mut found),
                        (Key::Bytes(k), false) => {
                            fm_contains_buf(lb.h, k.as_ptr(), k.len(), &mut found)
                        }
                        (Key::Int(k), true) => fm_remove_i64(lb.h, *k, &mut found),
                        (Key::Bytes(k), true) => {
                            fm_remove_buf(lb.h, k.as_ptr(), k.len(), &mut found)
                        }
                    }
                };
                if !ok {
                    check_status(s, FM_INVALID_UTF8, "sync call with bad UTF-8");
                    return;
                }
                check_status(s, FM_OK, "sync contains/remove");
                let had = if remove {
                    lb.model.remove(&key).is_some()
                } else {
                    lb.model.contains_key(&key)
                };
                assert_eq!(found, had, "sync contains/remove flag");
            }
            Op::SyncLen { m } => {
                let Some(i) = self.map(*m) else { return };
                let mut n = usize::MAX;
                check_status(
                    unsafe { fm_map_len(self.maps[i].h, &mut n) },
                    FM_OK,
                    "sync len",
                );
                assert_eq!(n, self.maps[i].model.len(), "sync len");
            }
            Op::SyncClear { m } => {
                let Some(i) = self.map(*m) else { return };
                check_status(fm_map_clear(self.maps[i].h), FM_OK, "sync clear");
                self.maps[i].model.clear();
            }
            Op::Update { m, k, reenter } => {
                let Some(i) = self.map(*m) else { return };
                let lb = &mut self.maps[i];
                let key = key_of(lb.kk, k);
                if matches!(&key, Key::Bytes(b) if !storable(lb.kk, b)) {
                    return;
                }
                let mut c = UpdCtx {
                    map: lb.h,
                    reenter: *reenter,
                    status: None,
                    len: 0,
                };
                let cp = &mut c as *mut UpdCtx as *mut std::ffi::c_void;
                let s = unsafe {
                    match &key {
                        Key::Int(k) => fm_update_i64(lb.h, *k, Some(upd_cb), cp),
                        Key::Bytes(k) => fm_update_buf(lb.h, k.as_ptr(), k.len(), Some(upd_cb), cp),
                    }
                };
                let Some(old) = lb.model.get(&key).cloned() else {
                    check_status(s, FM_NOT_FOUND, "update of an absent key");
                    assert!(
                        c.status.is_none(),
                        "update callback called for an absent key"
                    );
                    return;
                };
                // The callback added 1 to the first byte of the value.
                let mut bytes = match &old {
                    Val::Int(v) => v.to_ne_bytes().to_vec(),
                    Val::Float(v) => v.to_ne_bytes().to_vec(),
                    Val::Bytes(b) => b.clone(),
                };
                if let Some(b) = bytes.first_mut() {
                    *b = b.wrapping_add(1);
                }
                let r = c.status.expect("update callback not called");
                match reenter % 4 {
                    1 => check_status(r, FM_REENTRANT, "waiting submit from the owner thread"),
                    3 => check_status_in(
                        r,
                        &[FM_OK, FM_REENTRANT],
                        "subscribe from the owner thread",
                    ),
                    _ => check_status(r, FM_REENTRANT, "call into the bridge from its callback"),
                }
                if lb.vk == STR && std::str::from_utf8(&bytes).is_err() {
                    check_status(s, FM_INVALID_UTF8, "update to bad UTF-8");
                    return;
                }
                check_status(s, FM_OK, "update");
                let new = match lb.vk {
                    INT => Val::Int(i64::from_ne_bytes(bytes[..8].try_into().unwrap())),
                    FLOAT => Val::Float(u64::from_ne_bytes(bytes[..8].try_into().unwrap())),
                    _ => Val::Bytes(bytes),
                };
                let seq = fm_last_seq();
                lb.seen.insert(seq, (OP_UPDATE, Some(key.clone())));
                lb.model.insert(key, new);
            }
            Op::ForEach { m } => {
                let Some(i) = self.map(*m) else { return };
                let lb = &self.maps[i];
                let mut c = UpdCtx {
                    map: lb.h,
                    reenter: 0,
                    status: None,
                    len: 0,
                };
                let s = unsafe {
                    fm_for_each(
                        lb.h,
                        Some(each_cb),
                        &mut c as *mut UpdCtx as *mut std::ffi::c_void,
                    )
                };
                check_status(s, FM_OK, "for_each on a bridge");
                assert_eq!(c.len, lb.model.len(), "for_each count on a bridge");
                if let Some(r) = c.status {
                    check_status(r, FM_REENTRANT, "call into the bridge from for_each");
                }
            }
            Op::Check { m } => {
                let Some(i) = self.map(*m) else { return };
                self.check_map(i, "bridge contents");
                let mut seq = 0;
                check_status(
                    unsafe { fm_bridge_seq(self.maps[i].h, &mut seq) },
                    FM_OK,
                    "fm_bridge_seq",
                );
                let max = self.maps[i].seen.keys().max().copied().unwrap_or(0);
                assert!(seq >= max, "fm_bridge_seq {seq} behind a seen seq {max}");
            }
            Op::Subscribe { m, bound } => {
                let Some(i) = self.map(*m) else { return };
                if self.subs.len() >= 4 {
                    return;
                }
                let lb = &self.maps[i];
                let mut s = 0;
                let st = unsafe { fm_subscribe(lb.h, *bound as usize % 9, &mut s) };
                if *bound as usize % 9 == 0 {
                    check_status_in(st, &[FM_OK, FM_INVALID_ARGUMENT], "subscribe with bound 0");
                } else {
                    check_status(st, FM_OK, "subscribe");
                }
                if st == FM_OK {
                    self.subs.push(LiveSub {
                        h: s,
                        map: lb.h,
                        kk: lb.kk,
                        vk: lb.vk,
                        last_seq: 0,
                        closed: false,
                    });
                }
            }
            Op::SubNext { s, timeout } => {
                if self.subs.is_empty() {
                    return;
                }
                let si = *s as usize % self.subs.len();
                let t = TIMEOUTS[*timeout as usize % TIMEOUTS.len()].max(0);
                self.sub_next(si, t);
            }
            Op::SubFree { s } => {
                if self.subs.is_empty() {
                    return;
                }
                let sub = self.subs.swap_remove(*s as usize % self.subs.len());
                check_status(fm_sub_free(sub.h), FM_OK, "fm_sub_free");
                check_status(fm_sub_free(sub.h), FM_INVALID_HANDLE, "second fm_sub_free");
                self.stale.push(sub.h);
            }
            Op::Status { m } => {
                let Some(i) = self.map(*m) else { return };
                check_status(fm_bridge_status(self.maps[i].h), FM_OK, "fm_bridge_status");
            }
            Op::Stale { which, call } => {
                if self.stale.is_empty() {
                    return;
                }
                let h = self.stale[*which as usize % self.stale.len()];
                assert!(!self.live(h), "a freed handle came back to life");
                let mut done = false;
                let mut t = 0;
                let mut ev: fm_event = unsafe { std::mem::zeroed() };
                let r = fm_request {
                    op: OP_LEN,
                    key_int: 0,
                    key_ptr: std::ptr::null(),
                    key_len: 0,
                    value_int: 0,
                    value_float: 0.0,
                    value_ptr: std::ptr::null(),
                    value_len: 0,
                };
                let s = unsafe {
                    match call % 6 {
                        0 => fm_submit(h, &r, 1, 0, &mut t),
                        1 => fm_ticket_poll(h, &mut done),
                        2 => fm_ticket_wait(h, 0),
                        3 => fm_ticket_free(h),
                        4 => fm_sub_next(h, 0, &mut ev),
                        _ => fm_sub_free(h),
                    }
                };
                check_status_in(
                    s,
                    &[FM_INVALID_HANDLE, FM_WRONG_KIND],
                    "call with a freed handle",
                );
                assert_eq!(t, 0, "ticket written for a freed map");
            }
            Op::SubmitDirect { reqs } => {
                // A direct map takes no submissions.
                let mut h = 0;
                check_status(
                    unsafe { fm_map_new(INT, INT, 0, &mut h) },
                    FM_OK,
                    "direct map",
                );
                let built: Vec<Built> = reqs.iter().take(8).map(|r| build(r, INT, INT)).collect();
                let raw: Vec<fm_request> = built.iter().map(|b| b.req).collect();
                let mut t = 0;
                if !raw.is_empty() {
                    let s = unsafe { fm_submit(h, raw.as_ptr(), raw.len(), 0, &mut t) };
                    check_status(s, FM_WRONG_KIND, "submit to a direct map");
                    assert_eq!(t, 0);
                }
                check_status(
                    fm_bridge_status(h),
                    FM_WRONG_KIND,
                    "bridge status of a direct map",
                );
                let mut sub = 0;
                check_status(
                    unsafe { fm_subscribe(h, 4, &mut sub) },
                    FM_WRONG_KIND,
                    "subscribe to a direct map",
                );
                check_status(fm_map_free(h), FM_OK, "free");
            }
        }
    }

    fn sub_next(&mut self, si: usize, timeout_us: i64) -> fm_status {
        let sub = &mut self.subs[si];
        let mut ev: fm_event = unsafe { std::mem::zeroed() };
        let s = unsafe { fm_sub_next(sub.h, timeout_us, &mut ev) };
        if sub.closed {
            check_status(s, FM_CLOSED, "subscription after its map closed");
            return s;
        }
        let map_live = self.maps.iter().any(|m| m.h == sub.map);
        if map_live {
            check_status_in(s, &[FM_OK, FM_TIMEOUT], "fm_sub_next");
        } else {
            check_status_in(
                s,
                &[FM_OK, FM_CLOSED],
                "fm_sub_next after the map was freed",
            );
        }
        if s == FM_CLOSED {
            sub.closed = true;
        }
        if s != FM_OK {
            return s;
        }
        assert!(
            ev.seq > sub.last_seq,
            "event seq {} after {}",
            ev.seq,
            sub.last_seq
        );
        sub.last_seq = ev.seq;
        assert!(
            matches!(ev.op, OP_INSERT | OP_REMOVE | OP_ADD | OP_UPDATE | OP_CLEAR),
            "event op {}",
            ev.op
        );
        let key = if ev.op == OP_CLEAR {
            None
        } else if sub.kk == INT {
            Some(Key::Int(ev.key_int))
        } else {
            Some(Key::Bytes(unsafe { bytes_at(ev.key_ptr, ev.key_len) }))
        };
        if ev.op != OP_REMOVE && ev.op != OP_CLEAR && is_blob(sub.vk) {
            let _ = unsafe { bytes_at(ev.value_ptr, ev.value_len) };
        }
        let lb = self
            .maps
            .iter()
            .find(|m| m.h == sub.map)
            .or_else(|| self.gone.get(&sub.map))
            .expect("a subscription of an unknown map");
        if let Some((op, k)) = lb.seen.get(&ev.seq) {
            assert_eq!(
                ev.op, *op,
                "event {} has op {}, the mutation was {op}",
                ev.seq, ev.op
            );
            assert_eq!(&key, k, "event {} key", ev.seq);
        }
        s
    }

    fn free_ticket(&mut self, lt: LiveTicket) {
        for (p, l, want) in &lt.given {
            assert_eq!(
                &unsafe { bytes_at(*p, *l) },
                want,
                "result bytes changed before fm_ticket_free"
            );
        }
        check_status(fm_ticket_free(lt.h), FM_OK, "fm_ticket_free");
        check_status(
            fm_ticket_free(lt.h),
            FM_INVALID_HANDLE,
            "second fm_ticket_free",
        );
        self.stale.push(lt.h);
    }

    fn finish(mut self) {
        for ti in 0..self.tickets.len() {
            check_status(fm_ticket_wait(self.tickets[ti].h, -1), FM_OK, "final wait");
            let n = self.tickets[ti].expect.len();
            self.check_results(ti, n);
            assert!(
                self.tickets[ti].checked,
                "a finished ticket's results were not read"
            );
        }
        for i in 0..self.maps.len() {
            self.check_map(i, "bridge contents at the end");
        }
        for lt in std::mem::take(&mut self.tickets) {
            self.free_ticket(lt);
        }
        for lb in std::mem::take(&mut self.maps) {
            check_status(fm_map_free(lb.h), FM_OK, "fm_map_free at the end");
            self.gone.insert(lb.h, lb);
        }
        // Every subscription drains, then says its map closed.
        for si in 0..self.subs.len() {
            let mut n = 0;
            while self.sub_next(si, 0) == FM_OK {
                n += 1;
                assert!(n < 100_000, "a subscription never ends");
            }
        }
        for sub in std::mem::take(&mut self.subs) {
            check_status(fm_sub_free(sub.h), FM_OK, "fm_sub_free at the end");
        }
    }
}

/// Compares a batch's results with what the model said, and records its mutations.
fn check_each(t: &mut LiveTicket, rs: &[fm_result], m: &mut LiveBridge) {
    let mut last = 0u64;
    for (j, (r, e)) in rs.iter().zip(&t.expect).enumerate() {
        let st = fm_status::from_raw(r.status)
            .unwrap_or_else(|| panic!("result {j}: status {}", r.status));
        check_status_in(st, &e.status, &format!("result {j} ({:?})", e));
        if st != FM_OK {
            assert_eq!(r.seq, 0, "result {j}: a failed request has seq {}", r.seq);
            continue;
        }
        let mutates = matches!(e.op, OP_INSERT | OP_REMOVE | OP_ADD | OP_CLEAR);
        if !mutates {
            assert_eq!(r.seq, 0, "result {j}: a read has seq {}", r.seq);
        }
        if matches!(e.op, OP_INSERT | OP_ADD) || (e.op == OP_REMOVE && e.flag) {
            assert_ne!(r.seq, 0, "result {j}: a mutation has seq 0");
        }
        if r.seq != 0 {
            assert!(r.seq > last, "result {j}: seq {} not after {last}", r.seq);
            last = r.seq;
            m.seen.insert(r.seq, (e.op, e.key.clone()));
        }
        if matches!(e.op, OP_INSERT | OP_REMOVE | OP_GET | OP_CONTAINS) {
            assert_eq!(r.flag, e.flag, "result {j} ({e:?}): flag");
        }
        if e.op == OP_LEN {
            assert_eq!(r.len, e.len, "result {j}: len");
        }
        if let (Some(v), true) = (&e.value, matches!(e.op, OP_GET | OP_ADD)) {
            let got = match v {
                Val::Int(_) => Val::Int(r.value_int),
                Val::Float(_) => Val::Float(r.value_float.to_bits()),
                Val::Bytes(_) => {
                    let b = unsafe { bytes_at(r.value_ptr, r.value_len) };
                    if r.value_len > 0 {
                        t.given.push((r.value_ptr, r.value_len, b.clone()));
                    }
                    Val::Bytes(b)
                }
            };
            assert!(same_val(&got, v), "result {j} ({e:?}): value {got:?}");
        }
    }
    t.checked = true;
}

fuzz_target!(|ops: Vec<Op>| {
    let start = census();
    let mut st = State::default();
    for op in ops.iter().take(100) {
        st.step(op);
    }
    st.finish();
    assert_eq!(
        census(),
        start,
        "live-handle census not back to its start value"
    );
});
