//! Operation sequences over every schema, checked against a model after
//! every step: several maps (new, clone, import of an export), iterators
//! left part-consumed, views kept across overwrites and frees, exports, and
//! handles used after free, freed twice, forged or of the wrong kind. Every
//! input ends with the live-handle census back where it started.

#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use ferrymap_fuzz::*;
use libfuzzer_sys::fuzz_target;

/// How a call is shaped: normally by the map's schema, sometimes by another
/// (which must give FM_WRONG_KIND).
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Shape(u8);

#[derive(Arbitrary, Debug)]
enum Op {
    New {
        key_kind: u8,
        val_kind: u8,
        capacity: u16,
    },
    Clone {
        m: u8,
    },
    Free {
        m: u8,
    },
    Insert {
        m: u8,
        shape: Shape,
        k: Pick,
        v: Pick,
    },
    InsertIfAbsent {
        m: u8,
        shape: Shape,
        k: Pick,
        v: Pick,
    },
    Get {
        m: u8,
        shape: Shape,
        k: Pick,
        cap: u8,
    },
    Contains {
        m: u8,
        shape: Shape,
        k: Pick,
    },
    Remove {
        m: u8,
        shape: Shape,
        k: Pick,
    },
    Take {
        m: u8,
        shape: Shape,
        k: Pick,
        cap: u8,
    },
    Add {
        m: u8,
        shape: Shape,
        k: Pick,
        delta: Pick,
    },
    Update {
        m: u8,
        shape: Shape,
        k: Pick,
        action: u8,
        arg: u8,
    },
    InsertMany {
        m: u8,
        fast: bool,
        entries: Vec<(Pick, Pick)>,
    },
    GetMany {
        m: u8,
        keys: Vec<Pick>,
        cap: u16,
    },
    RemoveMany {
        m: u8,
        keys: Vec<Pick>,
    },
    Len {
        m: u8,
    },
    Clear {
        m: u8,
    },
    Reserve {
        m: u8,
        n: u32,
    },
    Stats {
        m: u8,
    },
    IterNew {
        m: u8,
    },
    IterNext {
        i: u8,
        how: u8,
        cap: u8,
    },
    IterFree {
        i: u8,
    },
    ForEach {
        m: u8,
        stop_after: u8,
        reenter: bool,
    },
    View {
        m: u8,
        shape: Shape,
        k: Pick,
    },
    ViewCheck {
        v: u8,
    },
    ViewRelease {
        v: u8,
    },
    Export {
        m: u8,
    },
    Import {
        x: u8,
        flip: u16,
        bit: u8,
    },
    Stale {
        which: u8,
        call: u8,
    },
    WrongKind {
        which: u8,
        call: u8,
    },
    Forged {
        h: u64,
        call: u8,
    },
    BadArgs {
        m: u8,
        which: u8,
    },
}

struct LiveMap {
    h: fm_handle,
    kk: u32,
    vk: u32,
    model: Model,
}

/// An iterator: the entries of its snapshot not handed out yet, and the
/// pointers it handed out (valid until it is freed: re-read then).
struct LiveIter {
    h: fm_handle,
    kk: u32,
    vk: u32,
    total: usize,
    left: Model,
    given: Vec<(*const u8, usize, Vec<u8>)>,
}

/// A view or an export: its handle, where its bytes are, what they must be.
struct LiveView {
    h: fm_handle,
    ptr: *const u8,
    len: usize,
    bytes: Vec<u8>,
    export: bool,
}

#[derive(Default)]
struct State {
    maps: Vec<LiveMap>,
    iters: Vec<LiveIter>,
    views: Vec<LiveView>,
    /// Handles freed during this input: every use must fail.
    stale: Vec<fm_handle>,
}

const MAX_MAPS: usize = 6;
const MAX_OBJECTS: usize = 16;

fn key_shape_int(shape: Shape, kk: u32) -> bool {
    if shape.0 % 8 == 7 {
        shape.0 & 8 == 0
    } else {
        kk == INT
    }
}

/// The value shape a call uses: INT, FLOAT or a blob (STR stands for both).
fn val_shape(shape: Shape, vk: u32) -> u32 {
    if shape.0 % 8 == 6 {
        [INT, FLOAT, STR][(shape.0 as usize >> 4) % 3]
    } else if is_blob(vk) {
        STR
    } else {
        vk
    }
}

fn val_fits(vshape: u32, vk: u32) -> bool {
    vshape == vk || (vshape == STR && is_blob(vk))
}

/// The key a pick names for a call of the given key shape.
fn key_of(int_shape: bool, p: &Pick) -> Key {
    if int_shape {
        Key::Int(int_of(p.sel, p.raw))
    } else {
        Key::Bytes(bytes_of(p.sel, &p.raw_bytes))
    }
}

fn val_of(vshape: u32, p: &Pick) -> Val {
    match vshape {
        INT => Val::Int(int_of(p.sel, p.raw)),
        FLOAT => Val::Float(float_of(p.sel, p.raw)),
        _ => Val::Bytes(bytes_of(p.sel, &p.raw_bytes)),
    }
}

/// The expected status of a keyed call before it touches the map: a shape
/// that does not fit the schema, then a STR key that is not UTF-8.
fn pre(m: &LiveMap, int_key: bool, vshape: Option<u32>, key: &Key) -> fm_status {
    if int_key != (m.kk == INT) || vshape.is_some_and(|v| !val_fits(v, m.vk)) {
        return FM_WRONG_KIND;
    }
    if let Key::Bytes(b) = key {
        if !storable(m.kk, b) {
            return FM_INVALID_UTF8;
        }
    }
    FM_OK
}

/// The other status a call may give: when its value shape does not fit the
/// schema and its STR key is not UTF-8, both FM_WRONG_KIND and
/// FM_INVALID_UTF8 are right (the header ranks neither, and the calls check
/// in different orders).
fn either(m: &LiveMap, int_key: bool, vshape: Option<u32>, key: &Key) -> [fm_status; 2] {
    let first = pre(m, int_key, vshape, key);
    let bad_key = matches!(key, Key::Bytes(b) if !storable(m.kk, b));
    if first == FM_WRONG_KIND && int_key == (m.kk == INT) && bad_key {
        [FM_WRONG_KIND, FM_INVALID_UTF8]
    } else {
        [first, first]
    }
}

fn kb(key: &Key) -> (*const u8, usize) {
    match key {
        Key::Bytes(b) => (b.as_ptr(), b.len()),
        Key::Int(_) => (std::ptr::null(), 0),
    }
}

fn ki(key: &Key) -> i64 {
    match key {
        Key::Int(i) => *i,
        Key::Bytes(_) => 0,
    }
}

fn vi(v: &Val) -> i64 {
    match v {
        Val::Int(i) => *i,
        _ => 0,
    }
}

fn vf(v: &Val) -> f64 {
    match v {
        Val::Float(f) => f64::from_bits(*f),
        _ => 0.0,
    }
}

fn vb(v: &Val) -> &[u8] {
    match v {
        Val::Bytes(b) => b,
        _ => &[],
    }
}

/// Whether two floats agree: by bits, or both NaN (a NaN's payload after
/// arithmetic is the hardware's business).
fn same_float(a: u64, b: u64) -> bool {
    a == b || (f64::from_bits(a).is_nan() && f64::from_bits(b).is_nan())
}

fn same_val(got: &Val, want: &Val) -> bool {
    match (got, want) {
        (Val::Float(a), Val::Float(b)) => same_float(*a, *b),
        _ => got == want,
    }
}

/// Inserts through the function of the call's shape.
fn call_insert(
    h: fm_handle,
    ik: bool,
    vs: u32,
    k: &Key,
    v: &Val,
    if_absent: bool,
) -> (fm_status, bool) {
    let mut flag = false;
    let (kp, kl) = kb(k);
    let vbs = vb(v);
    let s = unsafe {
        match (ik, vs, if_absent) {
            (true, INT, false) => fm_insert_i64_i64(h, ki(k), vi(v), &mut flag),
            (true, FLOAT, false) => fm_insert_i64_f64(h, ki(k), vf(v), &mut flag),
            (true, _, false) => fm_insert_i64_buf(h, ki(k), vbs.as_ptr(), vbs.len(), &mut flag),
            (false, INT, false) => fm_insert_buf_i64(h, kp, kl, vi(v), &mut flag),
            (false, FLOAT, false) => fm_insert_buf_f64(h, kp, kl, vf(v), &mut flag),
            (false, _, false) => fm_insert_buf_buf(h, kp, kl, vbs.as_ptr(), vbs.len(), &mut flag),
            (true, INT, true) => fm_insert_if_absent_i64_i64(h, ki(k), vi(v), &mut flag),
            (true, FLOAT, true) => fm_insert_if_absent_i64_f64(h, ki(k), vf(v), &mut flag),
            (true, _, true) => {
                fm_insert_if_absent_i64_buf(h, ki(k), vbs.as_ptr(), vbs.len(), &mut flag)
            }
            (false, INT, true) => fm_insert_if_absent_buf_i64(h, kp, kl, vi(v), &mut flag),
            (false, FLOAT, true) => fm_insert_if_absent_buf_f64(h, kp, kl, vf(v), &mut flag),
            (false, _, true) => {
                fm_insert_if_absent_buf_buf(h, kp, kl, vbs.as_ptr(), vbs.len(), &mut flag)
            }
        }
    };
    (s, flag)
}

/// Looks up (or takes) through the function of the call's shape; blob
/// values go through a buffer of `cap` bytes.
fn call_get(
    h: fm_handle,
    ik: bool,
    vs: u32,
    k: &Key,
    cap: usize,
    take: bool,
) -> (fm_status, Val, usize) {
    let (kp, kl) = kb(k);
    let (mut i, mut f) = (0i64, 0f64);
    let mut buf = vec![0xA5u8; cap];
    let mut len = usize::MAX;
    let s = unsafe {
        match (ik, vs, take) {
            (true, INT, false) => fm_get_i64_i64(h, ki(k), &mut i),
            (true, FLOAT, false) => fm_get_i64_f64(h, ki(k), &mut f),
            (true, _, false) => fm_get_i64_buf(h, ki(k), buf.as_mut_ptr(), cap, &mut len),
            (false, INT, false) => fm_get_buf_i64(h, kp, kl, &mut i),
            (false, FLOAT, false) => fm_get_buf_f64(h, kp, kl, &mut f),
            (false, _, false) => fm_get_buf_buf(h, kp, kl, buf.as_mut_ptr(), cap, &mut len),
            (true, INT, true) => fm_take_i64_i64(h, ki(k), &mut i),
            (true, FLOAT, true) => fm_take_i64_f64(h, ki(k), &mut f),
            (true, _, true) => fm_take_i64_buf(h, ki(k), buf.as_mut_ptr(), cap, &mut len),
            (false, INT, true) => fm_take_buf_i64(h, kp, kl, &mut i),
            (false, FLOAT, true) => fm_take_buf_f64(h, kp, kl, &mut f),
            (false, _, true) => fm_take_buf_buf(h, kp, kl, buf.as_mut_ptr(), cap, &mut len),
        }
    };
    let v = match vs {
        INT => Val::Int(i),
        FLOAT => Val::Float(f.to_bits()),
        _ => {
            if s == FM_OK {
                assert!(len <= cap, "length {len} beyond the buffer of {cap}");
                buf.truncate(len);
            } else if s == FM_BUFFER_TOO_SMALL {
                assert!(
                    buf.iter().all(|&b| b == 0xA5),
                    "buffer written on FM_BUFFER_TOO_SMALL"
                );
            }
            Val::Bytes(buf)
        }
    };
    (s, v, len)
}

/// What the update callback does, and what it saw.
struct UpdateCtx {
    action: u8,
    arg: u8,
    map: fm_handle,
    seen: Option<Vec<u8>>,
    reenter: Option<fm_status>,
}

unsafe extern "C" fn update_cb(ctx: *mut std::ffi::c_void, value: *mut u8, len: usize) -> i32 {
    let c = &mut *(ctx as *mut UpdateCtx);
    let bytes = std::slice::from_raw_parts_mut(value, len);
    c.seen = Some(bytes.to_vec());
    match c.action % 4 {
        0 => {
            // Change the value: every byte gets `arg` added (for an
            // INT or FLOAT this is a change of its 8 bytes).
            for b in bytes.iter_mut() {
                *b = b.wrapping_add(c.arg);
            }
            0
        }
        1 => 1, // stop: unchanged
        2 => {
            // A callback that frees its own map must get FM_REENTRANT.
            c.reenter = Some(fm_map_free(c.map));
            0
        }
        _ => {
            let mut n = 0;
            c.reenter = Some(fm_map_len(c.map, &mut n));
            if let Some(b) = bytes.first_mut() {
                *b = c.arg;
            }
            0
        }
    }
}

/// What `update_cb` makes of a value's bytes.
fn updated(action: u8, arg: u8, old: &[u8]) -> Option<Vec<u8>> {
    match action % 4 {
        0 => Some(old.iter().map(|b| b.wrapping_add(arg)).collect()),
        1 => None,
        2 => Some(old.to_vec()),
        _ => {
            let mut v = old.to_vec();
            if let Some(b) = v.first_mut() {
                *b = arg;
            }
            Some(v)
        }
    }
}

fn val_bytes(v: &Val) -> Vec<u8> {
    match v {
        Val::Int(i) => i.to_ne_bytes().to_vec(),
        Val::Float(f) => f.to_ne_bytes().to_vec(),
        Val::Bytes(b) => b.clone(),
    }
}

fn val_from_bytes(vk: u32, b: &[u8]) -> Val {
    match vk {
        INT => Val::Int(i64::from_ne_bytes(b.try_into().unwrap())),
        FLOAT => Val::Float(u64::from_ne_bytes(b.try_into().unwrap())),
        _ => Val::Bytes(b.to_vec()),
    }
}

/// What `fm_for_each`'s callback collects.
struct EachCtx {
    kk: u32,
    vk: u32,
    map: fm_handle,
    stop_after: usize,
    reenter: bool,
    got: Vec<(Key, Val)>,
    reenter_status: Vec<fm_status>,
}

unsafe extern "C" fn each_cb(ctx: *mut std::ffi::c_void, e: *const fm_entry) -> i32 {
    let c = &mut *(ctx as *mut EachCtx);
    c.got.push(entry_kv(c.kk, c.vk, &*e));
    if c.reenter {
        c.reenter_status.push(fm_map_free(c.map));
        let mut n = 0;
        c.reenter_status.push(fm_map_len(c.map, &mut n));
    }
    (c.got.len() >= c.stop_after) as i32
}

impl State {
    fn map(&self, m: u8) -> Option<usize> {
        (!self.maps.is_empty()).then(|| m as usize % self.maps.len())
    }

    fn objects(&self) -> usize {
        self.maps.len() + self.iters.len() + self.views.len()
    }

    fn live(&self, h: fm_handle) -> bool {
        self.maps.iter().any(|m| m.h == h)
            || self.iters.iter().any(|i| i.h == h)
            || self.views.iter().any(|v| v.h == h)
    }

    fn check_map(&self, idx: usize, what: &str) {
        let m = &self.maps[idx];
        let mut n = usize::MAX;
        check_status(unsafe { fm_map_len(m.h, &mut n) }, FM_OK, what);
        assert_eq!(n, m.model.len(), "{what}: fm_map_len");
        let got = read_map(m.h, m.kk, m.vk, what);
        check_same_vals(&got, &m.model, what);
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::New {
                key_kind,
                val_kind,
                capacity,
            } => {
                if self.maps.len() >= MAX_MAPS || self.objects() >= MAX_OBJECTS {
                    return;
                }
                let (kk, vk) = (*key_kind as u32 % 6, *val_kind as u32 % 6);
                let mut h = 0;
                let s = unsafe { fm_map_new(kk, vk, *capacity as usize, &mut h) };
                if matches!(kk, INT | STR | BYTES) && (1..=4).contains(&vk) {
                    check_status(s, FM_OK, "fm_map_new");
                    assert_ne!(h, 0, "fm_map_new gave handle 0");
                    assert!(!self.live(h), "fm_map_new gave a live handle");
                    self.maps.push(LiveMap {
                        h,
                        kk,
                        vk,
                        model: Model::new(),
                    });
                    let mut got = (0u32, 0u32);
                    check_status(
                        unsafe { fm_map_schema(h, &mut got.0, &mut got.1) },
                        FM_OK,
                        "schema",
                    );
                    assert_eq!(got, (kk, vk), "fm_map_schema");
                } else {
                    check_status(s, FM_INVALID_ARGUMENT, "fm_map_new with a bad kind");
                    assert_eq!(h, 0, "handle written on failure");
                }
            }
            Op::Clone { m } => {
                let Some(i) = self.map(*m) else { return };
                if self.objects() >= MAX_OBJECTS {
                    return;
                }
                let mut h = 0;
                check_status(
                    unsafe { fm_map_clone(self.maps[i].h, &mut h) },
                    FM_OK,
                    "clone",
                );
                let src = &self.maps[i];
                let copy = LiveMap {
                    h,
                    kk: src.kk,
                    vk: src.vk,
                    model: src.model.clone(),
                };
                self.maps.push(copy);
                self.check_map(self.maps.len() - 1, "clone contents");
            }
            Op::Free { m } => {
                let Some(i) = self.map(*m) else { return };
                let lm = self.maps.swap_remove(i);
                check_status(fm_map_free(lm.h), FM_OK, "fm_map_free");
                check_status(fm_map_free(lm.h), FM_INVALID_HANDLE, "second fm_map_free");
                self.stale.push(lm.h);
            }
            Op::Insert { m, shape, k, v } | Op::InsertIfAbsent { m, shape, k, v } => {
                let Some(i) = self.map(*m) else { return };
                let if_absent = matches!(op, Op::InsertIfAbsent { .. });
                let lm = &mut self.maps[i];
                let (ik, vs) = (key_shape_int(*shape, lm.kk), val_shape(*shape, lm.vk));
                let key = key_of(ik, k);
                let val = val_of(vs, v);
                let mut want = pre(lm, ik, Some(vs), &key);
                if want == FM_OK && !storable(lm.vk, vb(&val)) {
                    want = FM_INVALID_UTF8;
                }
                let (s, flag) = call_insert(lm.h, ik, vs, &key, &val, if_absent);
                let [a, b] = either(lm, ik, Some(vs), &key);
                check_status_in(s, &[want, a, b], "insert");
                if want == FM_OK {
                    let present = lm.model.contains_key(&key);
                    assert_eq!(flag, present, "insert's replaced/present flag");
                    if !(if_absent && present) {
                        lm.model.insert(key, val);
                    }
                }
                self.check_map(i, "after insert");
            }
            Op::Get { m, shape, k, cap } | Op::Take { m, shape, k, cap } => {
                let Some(i) = self.map(*m) else { return };
                let take = matches!(op, Op::Take { .. });
                let lm = &mut self.maps[i];
                let (ik, vs) = (key_shape_int(*shape, lm.kk), val_shape(*shape, lm.vk));
                let key = key_of(ik, k);
                let cur = lm.model.get(&key).cloned();
                let mut want = pre(lm, ik, Some(vs), &key);
                let cap = if *cap == 255 {
                    4096
                } else {
                    *cap as usize % 24
                };
                if want == FM_OK {
                    want = match &cur {
                        None => FM_NOT_FOUND,
                        Some(Val::Bytes(b)) if b.len() > cap => FM_BUFFER_TOO_SMALL,
                        Some(_) => FM_OK,
                    };
                }
                let (s, got, len) = call_get(lm.h, ik, vs, &key, cap, take);
                let [a, b] = either(lm, ik, Some(vs), &key);
                check_status_in(s, &[want, a, b], if take { "take" } else { "get" });
                match want {
                    FM_OK => {
                        let cur = cur.unwrap();
                        assert!(same_val(&got, &cur), "get: {got:?}, want {cur:?}");
                        if take {
                            lm.model.remove(&key);
                        }
                    }
                    FM_BUFFER_TOO_SMALL => assert_eq!(len, vb(cur.as_ref().unwrap()).len()),
                    _ => {}
                }
                if take {
                    self.check_map(i, "after take");
                }
            }
            Op::Contains { m, shape, k } | Op::Remove { m, shape, k } => {
                let Some(i) = self.map(*m) else { return };
                let remove = matches!(op, Op::Remove { .. });
                let lm = &mut self.maps[i];
                let ik = key_shape_int(*shape, lm.kk);
                let key = key_of(ik, k);
                let want = pre(lm, ik, None, &key);
                let (kp, kl) = kb(&key);
                let mut flag = false;
                let s = unsafe {
                    match (ik, remove) {
                        (true, false) => fm_contains_i64(lm.h, ki(&key), &mut flag),
                        (false, false) => fm_contains_buf(lm.h, kp, kl, &mut flag),
                        (true, true) => fm_remove_i64(lm.h, ki(&key), &mut flag),
                        (false, true) => fm_remove_buf(lm.h, kp, kl, &mut flag),
                    }
                };
                check_status(s, want, if remove { "remove" } else { "contains" });
                if want == FM_OK {
                    assert_eq!(flag, lm.model.contains_key(&key), "contains/removed flag");
                    if remove {
                        lm.model.remove(&key);
                    }
                }
                if remove {
                    self.check_map(i, "after remove");
                }
            }
            Op::Add { m, shape, k, delta } => {
                let Some(i) = self.map(*m) else { return };
                let lm = &mut self.maps[i];
                let ik = key_shape_int(*shape, lm.kk);
                // Add exists for INT and FLOAT values only.
                let vs = if shape.0 & 0x40 != 0 { FLOAT } else { INT };
                let vs = if shape.0 % 8 == 6 {
                    vs
                } else if lm.vk == FLOAT {
                    FLOAT
                } else {
                    INT
                };
                let key = key_of(ik, k);
                let d = val_of(vs, delta);
                let mut want = pre(lm, ik, Some(vs), &key);
                let next = match (lm.model.get(&key), &d) {
                    (None, _) => d.clone(),
                    (Some(Val::Int(a)), Val::Int(b)) => match a.checked_add(*b) {
                        Some(s) => Val::Int(s),
                        None => {
                            if want == FM_OK {
                                want = FM_OVERFLOW;
                            }
                            Val::Int(*a)
                        }
                    },
                    (Some(Val::Float(a)), Val::Float(b)) => {
                        Val::Float((f64::from_bits(*a) + f64::from_bits(*b)).to_bits())
                    }
                    (Some(v), _) => v.clone(),
                };
                let next = match (&next, lm.model.get(&key)) {
                    // An absent FLOAT starts at 0.0: 0.0 + d (so -0.0 becomes 0.0).
                    (Val::Float(b), None) => Val::Float((0.0 + f64::from_bits(*b)).to_bits()),
                    _ => next,
                };
                let (kp, kl) = kb(&key);
                let (mut ni, mut nf) = (0i64, 0f64);
                let s = unsafe {
                    match (ik, vs) {
                        (true, INT) => fm_add_i64_i64(lm.h, ki(&key), vi(&d), &mut ni),
                        (true, _) => fm_add_i64_f64(lm.h, ki(&key), vf(&d), &mut nf),
                        (false, INT) => fm_add_buf_i64(lm.h, kp, kl, vi(&d), &mut ni),
                        (false, _) => fm_add_buf_f64(lm.h, kp, kl, vf(&d), &mut nf),
                    }
                };
                let [a, b] = either(lm, ik, Some(vs), &key);
                check_status_in(s, &[want, a, b], "add");
                if want == FM_OK {
                    let got = if vs == INT {
                        Val::Int(ni)
                    } else {
                        Val::Float(nf.to_bits())
                    };
                    assert!(same_val(&got, &next), "add gave {got:?}, want {next:?}");
                    lm.model.insert(key, got);
                }
                self.check_map(i, "after add");
            }
            Op::Update {
                m,
                shape,
                k,
                action,
                arg,
            } => {
                let Some(i) = self.map(*m) else { return };
                let lm = &mut self.maps[i];
                let ik = key_shape_int(*shape, lm.kk);
                let key = key_of(ik, k);
                let mut want = pre(lm, ik, None, &key);
                let cur = lm.model.get(&key).cloned();
                let mut next = None;
                if want == FM_OK {
                    match &cur {
                        None => want = FM_NOT_FOUND,
                        Some(v) => match updated(*action, *arg, &val_bytes(v)) {
                            None => want = FM_CALLBACK_STOPPED,
                            Some(b) if !storable(lm.vk, &b) => want = FM_INVALID_UTF8,
                            Some(b) => next = Some(val_from_bytes(lm.vk, &b)),
                        },
                    }
                }
                let mut ctx = UpdateCtx {
                    action: *action,
                    arg: *arg,
                    map: lm.h,
                    seen: None,
                    reenter: None,
                };
                let (kp, kl) = kb(&key);
                let ctxp = &mut ctx as *mut UpdateCtx as *mut std::ffi::c_void;
                let s = unsafe {
                    if ik {
                        fm_update_i64(lm.h, ki(&key), Some(update_cb), ctxp)
                    } else {
                        fm_update_buf(lm.h, kp, kl, Some(update_cb), ctxp)
                    }
                };
                check_status(s, want, "update");
                let called = pre(lm, ik, None, &key) == FM_OK && cur.is_some();
                match (&cur, &ctx.seen) {
                    (Some(v), Some(seen)) if called => {
                        assert_eq!(seen, &val_bytes(v), "update callback saw another value")
                    }
                    (_, None) if !called => {}
                    (_, seen) => panic!("update callback called: {seen:?}, expected: {called}"),
                }
                if let Some(r) = ctx.reenter {
                    check_status(
                        r,
                        FM_REENTRANT,
                        "call into the map from its update callback",
                    );
                }
                if let Some(n) = next {
                    lm.model.insert(key, n);
                }
                self.check_map(i, "after update");
            }
            Op::InsertMany { m, fast, entries } => {
                let Some(i) = self.map(*m) else { return };
                let lm = &mut self.maps[i];
                let ik = lm.kk == INT;
                let vs = if is_blob(lm.vk) { STR } else { lm.vk };
                let pairs: Vec<(Key, Val)> = entries
                    .iter()
                    .take(64)
                    .map(|(k, v)| (key_of(ik, k), val_of(vs, v)))
                    .collect();
                let bad = pairs.iter().any(|(k, v)| {
                    matches!(k, Key::Bytes(b) if !storable(lm.kk, b)) || !storable(lm.vk, vb(v))
                });
                let mut replaced = usize::MAX;
                let s = if *fast && ik && !is_blob(lm.vk) {
                    let keys: Vec<i64> = pairs.iter().map(|(k, _)| ki(k)).collect();
                    unsafe {
                        if lm.vk == INT {
                            let vals: Vec<i64> = pairs.iter().map(|(_, v)| vi(v)).collect();
                            fm_insert_many_i64_i64(
                                lm.h,
                                keys.as_ptr(),
                                vals.as_ptr(),
                                keys.len(),
                                &mut replaced,
                            )
                        } else {
                            let vals: Vec<f64> = pairs.iter().map(|(_, v)| vf(v)).collect();
                            fm_insert_many_i64_f64(
                                lm.h,
                                keys.as_ptr(),
                                vals.as_ptr(),
                                keys.len(),
                                &mut replaced,
                            )
                        }
                    }
                } else {
                    let es: Vec<fm_entry> = pairs
                        .iter()
                        .map(|(k, v)| {
                            let (kp, kl) = kb(k);
                            let b = vb(v);
                            fm_entry {
                                key_int: ki(k),
                                key_ptr: kp,
                                key_len: kl,
                                value_int: vi(v),
                                value_float: vf(v),
                                value_ptr: if b.is_empty() {
                                    std::ptr::null()
                                } else {
                                    b.as_ptr()
                                },
                                value_len: b.len(),
                            }
                        })
                        .collect();
                    unsafe { fm_insert_many(lm.h, es.as_ptr(), es.len(), &mut replaced) }
                };
                if bad {
                    check_status(s, FM_INVALID_UTF8, "insert_many with a bad entry");
                } else {
                    check_status(s, FM_OK, "insert_many");
                    let mut n = 0;
                    for (k, v) in pairs {
                        n += lm.model.insert(k, v).is_some() as usize;
                    }
                    assert_eq!(replaced, n, "insert_many's replaced count");
                }
                self.check_map(i, "after insert_many");
            }
            Op::GetMany { m, keys, cap } => {
                let Some(i) = self.map(*m) else { return };
                let lm = &self.maps[i];
                let ik = lm.kk == INT;
                let ks: Vec<Key> = keys.iter().take(64).map(|k| key_of(ik, k)).collect();
                let bad = ks
                    .iter()
                    .any(|k| matches!(k, Key::Bytes(b) if !storable(lm.kk, b)));
                let bufs: Vec<fm_buf> = ks
                    .iter()
                    .map(|k| fm_buf {
                        ptr: kb(k).0,
                        len: kb(k).1,
                    })
                    .collect();
                let ints: Vec<i64> = ks.iter().map(ki).collect();
                let n = ks.len();
                let mut found = vec![7u8; n];
                let mut count = usize::MAX;
                let results: Vec<Option<Val>>;
                let s;
                if is_blob(lm.vk) {
                    let mut bytes = vec![0u8; *cap as usize % 2048];
                    let mut vals = vec![
                        fm_buf {
                            ptr: std::ptr::null(),
                            len: 0
                        };
                        n
                    ];
                    let mut needed = usize::MAX;
                    s = unsafe {
                        if ik {
                            fm_get_many_i64_buf(
                                lm.h,
                                ints.as_ptr(),
                                n,
                                bytes.as_mut_ptr(),
                                bytes.len(),
                                vals.as_mut_ptr(),
                                &mut needed,
                            )
                        } else {
                            fm_get_many_buf_buf(
                                lm.h,
                                bufs.as_ptr(),
                                n,
                                bytes.as_mut_ptr(),
                                bytes.len(),
                                vals.as_mut_ptr(),
                                &mut needed,
                            )
                        }
                    };
                    let total: usize = ks
                        .iter()
                        .filter_map(|k| lm.model.get(k))
                        .map(|v| vb(v).len())
                        .sum();
                    if bad {
                        check_status(s, FM_INVALID_UTF8, "get_many with a bad key");
                        return;
                    }
                    if total > bytes.len() {
                        check_status(s, FM_BUFFER_TOO_SMALL, "get_many into a small buffer");
                        assert_eq!(needed, total, "get_many's needed bytes");
                        return;
                    }
                    check_status(s, FM_OK, "get_many (blobs)");
                    assert_eq!(needed, total, "get_many's needed bytes");
                    let range = bytes.as_ptr_range();
                    results = vals
                        .iter()
                        .map(|b| {
                            if b.ptr.is_null() {
                                assert_eq!(b.len, 0, "missing value with a length");
                                None
                            } else {
                                assert!(
                                    range.contains(&b.ptr) || b.len == 0,
                                    "value outside the buffer"
                                );
                                Some(Val::Bytes(unsafe { bytes_at(b.ptr, b.len) }))
                            }
                        })
                        .collect();
                } else {
                    let mut iv = vec![0i64; n];
                    let mut fv = vec![0f64; n];
                    s = unsafe {
                        match (ik, lm.vk) {
                            (true, INT) => fm_get_many_i64_i64(
                                lm.h,
                                ints.as_ptr(),
                                n,
                                iv.as_mut_ptr(),
                                found.as_mut_ptr(),
                                &mut count,
                            ),
                            (true, _) => fm_get_many_i64_f64(
                                lm.h,
                                ints.as_ptr(),
                                n,
                                fv.as_mut_ptr(),
                                found.as_mut_ptr(),
                                &mut count,
                            ),
                            (false, INT) => fm_get_many_buf_i64(
                                lm.h,
                                bufs.as_ptr(),
                                n,
                                iv.as_mut_ptr(),
                                found.as_mut_ptr(),
                                &mut count,
                            ),
                            (false, _) => fm_get_many_buf_f64(
                                lm.h,
                                bufs.as_ptr(),
                                n,
                                fv.as_mut_ptr(),
                                found.as_mut_ptr(),
                                &mut count,
                            ),
                        }
                    };
                    if bad {
                        check_status(s, FM_INVALID_UTF8, "get_many with a bad key");
                        return;
                    }
                    check_status(s, FM_OK, "get_many");
                    let hits = found.iter().filter(|&&f| f == 1).count();
                    assert_eq!(count, hits, "get_many's found count");
                    results = (0..n)
                        .map(|j| match found[j] {
                            0 => None,
                            1 if lm.vk == INT => Some(Val::Int(iv[j])),
                            1 => Some(Val::Float(fv[j].to_bits())),
                            f => panic!("found[{j}] = {f}"),
                        })
                        .collect();
                }
                for (k, got) in ks.iter().zip(&results) {
                    let want = lm.model.get(k);
                    let ok = match (got, want) {
                        (None, None) => true,
                        (Some(g), Some(w)) => same_val(g, w),
                        _ => false,
                    };
                    assert!(ok, "get_many for {k:?}: {got:?}, want {want:?}");
                }
            }
            Op::RemoveMany { m, keys } => {
                let Some(i) = self.map(*m) else { return };
                let lm = &mut self.maps[i];
                let ik = lm.kk == INT;
                let ks: Vec<Key> = keys.iter().take(64).map(|k| key_of(ik, k)).collect();
                let bad = ks
                    .iter()
                    .any(|k| matches!(k, Key::Bytes(b) if !storable(lm.kk, b)));
                let mut removed = usize::MAX;
                let s = unsafe {
                    if ik {
                        let ints: Vec<i64> = ks.iter().map(ki).collect();
                        fm_remove_many_i64(lm.h, ints.as_ptr(), ints.len(), &mut removed)
                    } else {
                        let bufs: Vec<fm_buf> = ks
                            .iter()
                            .map(|k| fm_buf {
                                ptr: kb(k).0,
                                len: kb(k).1,
                            })
                            .collect();
                        fm_remove_many_buf(lm.h, bufs.as_ptr(), bufs.len(), &mut removed)
                    }
                };
                if bad {
                    check_status(s, FM_INVALID_UTF8, "remove_many with a bad key");
                } else {
                    check_status(s, FM_OK, "remove_many");
                    let n = ks.iter().filter(|k| lm.model.remove(*k).is_some()).count();
                    assert_eq!(removed, n, "remove_many's count");
                }
                self.check_map(i, "after remove_many");
            }
            Op::Len { m } => {
                let Some(i) = self.map(*m) else { return };
                self.check_map(i, "len");
            }
            Op::Clear { m } => {
                let Some(i) = self.map(*m) else { return };
                check_status(fm_map_clear(self.maps[i].h), FM_OK, "clear");
                self.maps[i].model.clear();
                self.check_map(i, "after clear");
            }
            Op::Reserve { m, n } => {
                let Some(i) = self.map(*m) else { return };
                // Up to 4K more entries: enough to see growth; more would make every
                // later step scan large empty tables (and time out under ASan).
                check_status(
                    fm_map_reserve(self.maps[i].h, *n as usize % 4096),
                    FM_OK,
                    "reserve",
                );
                self.check_map(i, "after reserve");
            }
            Op::Stats { m } => {
                let Some(i) = self.map(*m) else { return };
                let mut st: fm_stats = unsafe { std::mem::zeroed() };
                check_status(
                    unsafe { fm_map_stats(self.maps[i].h, &mut st) },
                    FM_OK,
                    "stats",
                );
                assert_eq!(st.len as usize, self.maps[i].model.len(), "stats.len");
                assert!(
                    st.capacity >= st.len,
                    "stats: capacity {} < len {}",
                    st.capacity,
                    st.len
                );
            }
            Op::IterNew { m } => {
                let Some(i) = self.map(*m) else { return };
                if self.objects() >= MAX_OBJECTS {
                    return;
                }
                let lm = &self.maps[i];
                let mut h = 0;
                check_status(unsafe { fm_iter_new(lm.h, &mut h) }, FM_OK, "fm_iter_new");
                let mut len = usize::MAX;
                check_status(unsafe { fm_iter_len(h, &mut len) }, FM_OK, "fm_iter_len");
                assert_eq!(len, lm.model.len(), "iterator length");
                self.iters.push(LiveIter {
                    h,
                    kk: lm.kk,
                    vk: lm.vk,
                    total: len,
                    left: lm.model.clone(),
                    given: Vec::new(),
                });
            }
            Op::IterNext { i, how, cap } => {
                if self.iters.is_empty() {
                    return;
                }
                let n = self.iters.len();
                let it = &mut self.iters[*i as usize % n];
                let mut got: Vec<fm_entry> = Vec::new();
                let s = match how % 3 {
                    0 => {
                        let mut e = fm_entry::default();
                        let s = unsafe { fm_iter_next(it.h, &mut e) };
                        if s == FM_OK {
                            got.push(e);
                        }
                        s
                    }
                    1 => {
                        let cap = *cap as usize % 9;
                        let mut es = vec![fm_entry::default(); cap];
                        let mut count = usize::MAX;
                        let p = if cap == 0 {
                            std::ptr::null_mut()
                        } else {
                            es.as_mut_ptr()
                        };
                        let s = unsafe { fm_iter_next_batch(it.h, p, cap, &mut count) };
                        if s == FM_OK {
                            assert!(
                                count <= cap && (count > 0 || cap == 0),
                                "batch count {count} of {cap}"
                            );
                            got.extend_from_slice(&es[..count]);
                        } else if s == FM_END {
                            assert_eq!(count, 0, "FM_END with a count");
                        }
                        if cap == 0 {
                            // Room for nothing: FM_OK with count 0, even at the end
                            // (the header's "FM_END when none are left" is not
                            // kept for cap 0; see docs/fuzzing.md).
                            check_status(s, FM_OK, "batch of 0");
                            assert_eq!(count, 0, "batch of 0 gave entries");
                            return;
                        }
                        s
                    }
                    _ => {
                        let cap = (*cap as usize % 8) + 1;
                        let (mut ks, mut vs) = (vec![0i64; cap], vec![0i64; cap]);
                        let mut count = usize::MAX;
                        let s = unsafe {
                            fm_iter_next_i64(
                                it.h,
                                ks.as_mut_ptr(),
                                vs.as_mut_ptr(),
                                cap,
                                &mut count,
                            )
                        };
                        if it.kk != INT || is_blob(it.vk) {
                            check_status(s, FM_WRONG_KIND, "fm_iter_next_i64 on another schema");
                            return;
                        }
                        if s == FM_OK {
                            assert!(count >= 1 && count <= cap, "next_i64 count {count}");
                            for j in 0..count {
                                let e = fm_entry {
                                    key_int: ks[j],
                                    value_int: vs[j],
                                    value_float: f64::from_bits(vs[j] as u64),
                                    ..fm_entry::default()
                                };
                                got.push(e);
                            }
                        }
                        s
                    }
                };
                if it.left.is_empty() {
                    check_status(s, FM_END, "iterator past its end");
                    return;
                }
                check_status(s, FM_OK, "iterator with entries left");
                for e in &got {
                    let (k, v) = unsafe { entry_kv(it.kk, it.vk, e) };
                    let want = it.left.remove(&k).unwrap_or_else(|| {
                        panic!("iterator gave {k:?}, not in its snapshot or given before")
                    });
                    assert!(
                        same_val(&v, &want),
                        "iterator gave {v:?} for {k:?}, want {want:?}"
                    );
                    for (p, l) in [(e.key_ptr, e.key_len), (e.value_ptr, e.value_len)] {
                        if l > 0 {
                            it.given.push((p, l, unsafe { bytes_at(p, l) }));
                        }
                    }
                }
            }
            Op::IterFree { i } => {
                if self.iters.is_empty() {
                    return;
                }
                let n = self.iters.len();
                let it = self.iters.swap_remove(*i as usize % n);
                self.free_iter(it);
            }
            Op::ForEach {
                m,
                stop_after,
                reenter,
            } => {
                let Some(i) = self.map(*m) else { return };
                let lm = &self.maps[i];
                let stop = if *stop_after == 0 {
                    usize::MAX
                } else {
                    *stop_after as usize
                };
                let mut ctx = EachCtx {
                    kk: lm.kk,
                    vk: lm.vk,
                    map: lm.h,
                    stop_after: stop,
                    reenter: *reenter,
                    got: Vec::new(),
                    reenter_status: Vec::new(),
                };
                let s = unsafe {
                    fm_for_each(
                        lm.h,
                        Some(each_cb),
                        &mut ctx as *mut EachCtx as *mut std::ffi::c_void,
                    )
                };
                if stop <= lm.model.len() {
                    check_status(s, FM_CALLBACK_STOPPED, "for_each stopped");
                    assert_eq!(ctx.got.len(), stop, "for_each went on after a stop");
                } else {
                    check_status(s, FM_OK, "for_each");
                    assert_eq!(ctx.got.len(), lm.model.len(), "for_each count");
                }
                for (k, v) in &ctx.got {
                    let want = lm
                        .model
                        .get(k)
                        .unwrap_or_else(|| panic!("for_each gave {k:?}"));
                    assert!(same_val(v, want), "for_each gave {v:?} for {k:?}");
                }
                for r in &ctx.reenter_status {
                    check_status(
                        *r,
                        FM_REENTRANT,
                        "call into the map from its for_each callback",
                    );
                }
                self.check_map(i, "after for_each");
            }
            Op::View { m, shape, k } => {
                let Some(i) = self.map(*m) else { return };
                if self.objects() >= MAX_OBJECTS {
                    return;
                }
                let lm = &self.maps[i];
                let ik = key_shape_int(*shape, lm.kk);
                let key = key_of(ik, k);
                let mut want = pre(lm, ik, Some(STR), &key);
                let cur = lm.model.get(&key);
                if want == FM_OK && cur.is_none() {
                    want = FM_NOT_FOUND;
                }
                let (kp, kl) = kb(&key);
                let (mut h, mut p, mut l) = (0, std::ptr::null(), usize::MAX);
                let s = unsafe {
                    if ik {
                        fm_view_i64(lm.h, ki(&key), &mut h, &mut p, &mut l)
                    } else {
                        fm_view_buf(lm.h, kp, kl, &mut h, &mut p, &mut l)
                    }
                };
                let [a, b] = either(lm, ik, Some(STR), &key);
                check_status_in(s, &[want, a, b], "view");
                if want == FM_OK {
                    let bytes = unsafe { bytes_at(p, l) };
                    assert_eq!(&bytes, vb(cur.unwrap()), "view bytes");
                    self.views.push(LiveView {
                        h,
                        ptr: p,
                        len: l,
                        bytes,
                        export: false,
                    });
                }
            }
            Op::ViewCheck { v } => {
                if self.views.is_empty() {
                    return;
                }
                let n = self.views.len();
                let lv = &self.views[*v as usize % n];
                let (mut p, mut l) = (std::ptr::null(), 0usize);
                check_status(
                    unsafe { fm_view_bytes(lv.h, &mut p, &mut l) },
                    FM_OK,
                    "fm_view_bytes",
                );
                assert_eq!((p, l), (lv.ptr, lv.len), "fm_view_bytes moved");
                assert_eq!(unsafe { bytes_at(p, l) }, lv.bytes, "view bytes changed");
            }
            Op::ViewRelease { v } => {
                if self.views.is_empty() {
                    return;
                }
                let n = self.views.len();
                let lv = self.views.swap_remove(*v as usize % n);
                self.release_view(lv);
            }
            Op::Export { m } => {
                let Some(i) = self.map(*m) else { return };
                if self.objects() >= MAX_OBJECTS {
                    return;
                }
                let lm = &self.maps[i];
                let (mut h, mut p, mut l) = (0, std::ptr::null(), 0usize);
                check_status(
                    unsafe { fm_export(lm.h, &mut h, &mut p, &mut l) },
                    FM_OK,
                    "export",
                );
                let bytes = unsafe { bytes_at(p, l) };
                let d = decode_export(&bytes).unwrap_or_else(|e| panic!("export refused: {e:?}"));
                assert_eq!((d.key_kind, d.val_kind), (lm.kk, lm.vk), "export kinds");
                assert_eq!(d.entries.len(), lm.model.len(), "export count");
                check_same_vals(&d.model(), &lm.model, "export contents");
                self.views.push(LiveView {
                    h,
                    ptr: p,
                    len: l,
                    bytes,
                    export: true,
                });
            }
            Op::Import { x, flip, bit } => {
                let exports: Vec<usize> = (0..self.views.len())
                    .filter(|&j| self.views[j].export)
                    .collect();
                if exports.is_empty() || self.maps.len() >= MAX_MAPS {
                    return;
                }
                let lv = &self.views[exports[*x as usize % exports.len()]];
                let d = decode_export(&lv.bytes).expect("an export decodes");
                let mut h = 0;
                if *bit < 8 {
                    // One flipped bit: the checksum (or the magic or version) must catch it.
                    let mut data = lv.bytes.clone();
                    let at = *flip as usize % data.len();
                    data[at] ^= 1 << bit;
                    let s = unsafe { fm_import(data.as_ptr(), data.len(), &mut h) };
                    check_status_in(
                        s,
                        &[FM_CORRUPT_DATA, FM_UNSUPPORTED_VERSION],
                        "import of a flipped export",
                    );
                    assert_eq!(h, 0, "handle written on failure");
                    return;
                }
                // Import from the view's own bytes: the library's pointer.
                let s = unsafe { fm_import(lv.ptr, lv.len, &mut h) };
                check_status(s, FM_OK, "import of an export");
                self.maps.push(LiveMap {
                    h,
                    kk: d.key_kind,
                    vk: d.val_kind,
                    model: d.model(),
                });
                self.check_map(self.maps.len() - 1, "imported map");
            }
            Op::Stale { which, call } => {
                if self.stale.is_empty() {
                    return;
                }
                let h = self.stale[*which as usize % self.stale.len()];
                assert!(!self.live(h), "a freed handle came back to life");
                self.bad_handle_call(h, *call, &[FM_INVALID_HANDLE, FM_WRONG_KIND]);
            }
            Op::WrongKind { which, call } => {
                // A live handle passed to a function for another kind.
                let mut all: Vec<(fm_handle, u8)> = Vec::new();
                all.extend(self.maps.iter().map(|m| (m.h, 0)));
                all.extend(self.iters.iter().map(|i| (i.h, 1)));
                all.extend(self.views.iter().map(|v| (v.h, 2)));
                if all.is_empty() {
                    return;
                }
                let (h, kind) = all[*which as usize % all.len()];
                if call % 4 == kind || call % 4 == 3 {
                    return;
                }
                self.bad_handle_call(h, call % 4, &[FM_WRONG_KIND]);
            }
            Op::Forged { h, call } => {
                if self.live(*h) || *h == 0 {
                    return;
                }
                self.bad_handle_call(*h, *call, &[FM_INVALID_HANDLE, FM_WRONG_KIND]);
            }
            Op::BadArgs { m, which } => {
                let Some(i) = self.map(*m) else { return };
                let lm = &self.maps[i];
                let h = lm.h;
                let null = std::ptr::null();
                let huge = u32::MAX as usize + 1;
                let mut sink = 0usize;
                let mut flag = false;
                let (s, want): (fm_status, &[fm_status]) = unsafe {
                    match which % 8 {
                        0 => (fm_map_len(h, std::ptr::null_mut()), &[FM_NULL_ARGUMENT]),
                        1 => (fm_iter_new(h, std::ptr::null_mut()), &[FM_NULL_ARGUMENT]),
                        2 => (
                            fm_contains_buf(h, null, 3, &mut flag),
                            &[FM_NULL_ARGUMENT, FM_WRONG_KIND],
                        ),
                        3 => (
                            fm_contains_buf(h, b"x".as_ptr(), huge, &mut flag),
                            &[FM_INVALID_ARGUMENT, FM_WRONG_KIND],
                        ),
                        4 => (
                            fm_insert_buf_buf(h, null, 1, null, huge, &mut flag),
                            &[FM_NULL_ARGUMENT, FM_INVALID_ARGUMENT, FM_WRONG_KIND],
                        ),
                        5 => (
                            fm_get_i64_buf(h, 0, std::ptr::null_mut(), 5, &mut sink),
                            &[FM_NULL_ARGUMENT, FM_WRONG_KIND, FM_NOT_FOUND],
                        ),
                        6 => (
                            fm_map_reserve(h, usize::MAX),
                            &[FM_INVALID_ARGUMENT, FM_OUT_OF_MEMORY],
                        ),
                        _ => (
                            fm_remove_many_i64(h, std::ptr::null(), 2, &mut sink),
                            &[FM_NULL_ARGUMENT, FM_WRONG_KIND],
                        ),
                    }
                };
                check_status_in(s, want, "call with bad arguments");
                self.check_map(i, "after bad arguments");
            }
        }
    }

    /// Calls a function of kind `call` (0 map, 1 iterator, 2 view, 3 export)
    /// with a handle that must be refused.
    fn bad_handle_call(&self, h: fm_handle, call: u8, want: &[fm_status]) {
        let mut n = 0usize;
        let mut e = fm_entry::default();
        let (mut p, mut l) = (std::ptr::null(), 0usize);
        let mut v = 0;
        let (s1, s2) = unsafe {
            match call % 4 {
                0 => (fm_map_len(h, &mut n), fm_map_free(h)),
                1 => (fm_iter_next(h, &mut e), fm_iter_free(h)),
                2 => (fm_view_bytes(h, &mut p, &mut l), fm_view_release(h)),
                _ => (fm_export(h, &mut v, &mut p, &mut l), fm_map_clear(h)),
            }
        };
        check_status_in(s1, want, "call with a refused handle");
        check_status_in(s2, want, "free with a refused handle");
        assert_eq!(v, 0, "export wrote a view for a refused handle");
    }

    fn free_iter(&mut self, it: LiveIter) {
        for (p, l, want) in &it.given {
            assert_eq!(
                &unsafe { bytes_at(*p, *l) },
                want,
                "iterator entry bytes changed before free"
            );
        }
        let mut len = usize::MAX;
        check_status(unsafe { fm_iter_len(it.h, &mut len) }, FM_OK, "fm_iter_len");
        assert_eq!(len, it.total, "iterator length changed");
        check_status(fm_iter_free(it.h), FM_OK, "fm_iter_free");
        check_status(fm_iter_free(it.h), FM_INVALID_HANDLE, "second fm_iter_free");
        self.stale.push(it.h);
    }

    fn release_view(&mut self, lv: LiveView) {
        assert_eq!(
            unsafe { bytes_at(lv.ptr, lv.len) },
            lv.bytes,
            "view bytes changed before release"
        );
        check_status(fm_view_release(lv.h), FM_OK, "fm_view_release");
        check_status(
            fm_view_release(lv.h),
            FM_INVALID_HANDLE,
            "second fm_view_release",
        );
        self.stale.push(lv.h);
    }

    /// Drains every iterator (its remaining entries must be exactly what
    /// its snapshot had left), checks every map, then frees everything.
    fn finish(mut self) {
        for idx in 0..self.maps.len() {
            self.check_map(idx, "at the end");
        }
        for it in std::mem::take(&mut self.iters) {
            let mut left = Model::new();
            loop {
                let mut e = fm_entry::default();
                match unsafe { fm_iter_next(it.h, &mut e) } {
                    FM_OK => {
                        let (k, v) = unsafe { entry_kv(it.kk, it.vk, &e) };
                        assert!(left.insert(k, v).is_none(), "iterator repeated a key");
                    }
                    FM_END => break,
                    s => panic!("fm_iter_next: {s:?}"),
                }
            }
            check_same_vals(&left, &it.left, "rest of an iterator");
            self.free_iter(it);
        }
        for lv in std::mem::take(&mut self.views) {
            self.release_view(lv);
        }
        for m in std::mem::take(&mut self.maps) {
            check_status(fm_map_free(m.h), FM_OK, "fm_map_free at the end");
        }
    }
}

/// `check_same` that treats NaNs of any payload as equal.
#[track_caller]
fn check_same_vals(got: &Model, want: &Model, what: &str) {
    let norm = |m: &Model| -> Model {
        m.iter()
            .map(|(k, v)| match v {
                Val::Float(f) if f64::from_bits(*f).is_nan() => (k.clone(), Val::Float(u64::MAX)),
                _ => (k.clone(), v.clone()),
            })
            .collect::<HashMap<_, _>>()
    };
    check_same(&norm(got), &norm(want), what);
}

fuzz_target!(|ops: Vec<Op>| {
    let start = census();
    let mut st = State::default();
    for op in ops.iter().take(200) {
        st.step(op);
        // Every live map against its model after every step (the maps a
        // step changed were read in full by the step itself).
        for m in &st.maps {
            let mut n = usize::MAX;
            check_status(unsafe { fm_map_len(m.h, &mut n) }, FM_OK, "fm_map_len");
            assert_eq!(n, m.model.len(), "fm_map_len after {op:?}");
        }
    }
    st.finish();
    assert_eq!(
        census(),
        start,
        "live-handle census not back to its start value"
    );
});
