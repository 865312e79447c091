//! Bridge mode for Java (DESIGN §7): sequence numbers, asynchronous
//! submission with tickets, the change feed, and attaching a bridge's owner
//! thread to the JVM so that `update` can run a Java callback there.
//!
//! - Synchronous calls need nothing here: every entry point reaches its map
//!   through `ffi::with_map`, which routes a bridge map's work to its owner
//!   thread.
//! - `submit1` / `submitMany` copy the requests out of Java on the calling
//!   thread, queue them as one batch (`Bridge::submit`) and return a ticket
//!   handle (a registry object, so it is counted by the census and a forged
//!   number is refused). `ticketTake` waits for the batch, copies its results
//!   into Java arrays and frees the ticket, all in one crossing. The Java side
//!   (`Completer`) calls it from one daemon thread per bridge.
//! - `subNext` waits (without holding an epoch pin) for the next event of a
//!   subscription and hands it to Java.
//! - Timeouts cross as nanoseconds: negative waits forever, 0 does not wait.

use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use jni::sys::{
    jboolean, jbyteArray, jclass, jint, jintArray, jlong, jlongArray, jobjectArray, JNIEnv, JavaVM,
    JavaVMAttachArgs,
};

use super::{check_range, jcall, Env};
use crate::api::bridge;
use crate::bridge::{Request, TicketInner, TicketRef, Wait};
use crate::epoch;
use crate::feed::{fm_op, FM_OP_UPDATE};
use crate::kind::{fm_kind, FM_FLOAT, FM_INT};
use crate::kind::{OwnedKey, OwnedVal};
use crate::objects::{self, MapObject};
use crate::status::*;

/// Longs per result in `ticketTake`'s output: status, flag, seq, len, word.
const RESULT_LONGS: usize = 5;
/// Longs per event in `subNext`'s output: seq, op, lost, key word, value word.
const EVENT_LONGS: usize = 5;

fn wait_for(timeout_ns: jlong) -> Wait {
    match timeout_ns {
        t if t < 0 => Wait::Forever,
        0 => Wait::Try,
        t => Wait::For(Duration::from_nanos(t as u64)),
    }
}

fn timeout(timeout_ns: jlong) -> Option<Duration> {
    (timeout_ns >= 0).then(|| Duration::from_nanos(timeout_ns as u64))
}

/// `boolean isBridge(long map)`: whether the map handle names a bridge map.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_isBridge(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
) -> jboolean {
    jcall(env, false, |_| {
        let g = epoch::pin();
        match objects::map_object(h as u64, &g)? {
            MapObject::Bridge(_) => Ok(true),
            MapObject::Direct(_) => Ok(false),
        }
    })
}

/// `boolean bridgeFailed(long map)`: whether the owner thread caught a panic
/// (IllegalArgumentException for a direct map).
pub(crate) extern "system" fn Java_dev_ferrymap_Native_bridgeFailed(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
) -> jboolean {
    jcall(env, false, |_| {
        let g = epoch::pin();
        Ok(bridge(h as u64, &g)?.failed())
    })
}

/// `long bridgeSeq(long map)`: the sequence number of the last committed
/// mutation (0 before the first).
pub(crate) extern "system" fn Java_dev_ferrymap_Native_bridgeSeq(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
) -> jlong {
    jcall(env, 0, |_| {
        let g = epoch::pin();
        Ok(bridge(h as u64, &g)?.feed().last() as jlong)
    })
}

/// `long lastSeq()`: the sequence number of the last bridge mutation made by
/// a call on this OS thread (0 if none). No JNI call, no allocation.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_lastSeq(
    _env: *mut JNIEnv,
    _: jclass,
) -> jlong {
    crate::feed::last_seq() as jlong
}

// ---- submission -------------------------------------------------------------

/// A copy of the bytes of a Java byte[] (NullPointerException for null).
fn owned_bytes(env: Env, array: jbyteArray, what: &'static str) -> Result<Vec<u8>> {
    if array.is_null() {
        return fail(FM_NULL_ARGUMENT, format!("{what} is null"));
    }
    let mut v = vec![0u8; env.array_len(array)];
    env.read_bytes(array, 0, &mut v);
    Ok(v)
}

/// One request, owned, checked against the map's kinds as `fm_submit` does:
/// the long forms for INT keys and INT/FLOAT values, the bytes (from `bk` /
/// `vb`, called only when the kinds need them) for STR/BYTES.
#[allow(clippy::too_many_arguments)]
fn request(
    i: usize,
    op: jint,
    kk: fm_kind,
    vk: fm_kind,
    ik: jlong,
    bk: impl FnOnce() -> Result<Vec<u8>>,
    word: jlong,
    vb: impl FnOnce() -> Result<Vec<u8>>,
) -> Result<Request> {
    // UPDATE needs a callback: refused at submission, as fm_submit does.
    let op = fm_op::from_raw(op as u32)
        .filter(|op| *op != FM_OP_UPDATE)
        .ok_or_else(|| {
            Error::new(
                FM_INVALID_ARGUMENT,
                format!("request {i}: op {op} cannot be submitted"),
            )
        })?;
    let (needs_key, needs_value) = (op.needs_key(), op.needs_value());
    let key = match (needs_key, kk) {
        (false, _) => OwnedKey::None,
        (true, FM_INT) => OwnedKey::Int(ik as u64),
        (true, _) => OwnedKey::Bytes(bk()?),
    };
    let value = match (needs_value, vk) {
        (false, _) => OwnedVal::None,
        (true, FM_INT) => OwnedVal::Int(word),
        (true, FM_FLOAT) => OwnedVal::Float(f64::from_bits(word as u64)),
        (true, _) => OwnedVal::Bytes(vb()?),
    };
    Ok(Request { op, key, value })
}

/// A copy of element `i` of a byte[][] (NullPointerException for a null
/// array or element).
fn element_bytes(env: Env, array: jobjectArray, i: usize, what: &'static str) -> Result<Vec<u8>> {
    if array.is_null() || env.array_len(array) <= i {
        return fail(FM_NULL_ARGUMENT, format!("{what} {i} is missing"));
    }
    let element = env.element(array, i);
    let b = owned_bytes(env, element, what);
    env.delete_local(element);
    b
}

/// Queues `build(key kind, value kind)` and returns its ticket handle. A
/// full queue that stays full for the whole timeout is reported as
/// FM_QUEUE_FULL (QueueFullException), like a try-submit.
fn submit(
    h: jlong,
    timeout_ns: jlong,
    build: impl FnOnce(fm_kind, fm_kind) -> Result<Vec<Request>>,
) -> Result<jlong> {
    let g = epoch::pin();
    let b = bridge(h as u64, &g)?;
    let requests = build(b.map().key_kind, b.map().val_kind)?;
    match b.submit(requests, wait_for(timeout_ns)) {
        Err(e) if e.status == FM_TIMEOUT => fail(
            FM_QUEUE_FULL,
            format!("the bridge queue stayed full for {} ns", timeout_ns),
        ),
        other => Ok(other? as jlong),
    }
}

/// `long submit1(long map, int op, long intKey, byte[] bytesKey, long word,
/// byte[] bytesValue, long timeoutNanos)`: one request (an `fm_op`) as a
/// batch of one; returns its ticket (the caller owns it).
#[allow(clippy::too_many_arguments)]
pub(crate) extern "system" fn Java_dev_ferrymap_Native_submit1(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    op: jint,
    ik: jlong,
    bk: jbyteArray,
    word: jlong,
    vb: jbyteArray,
    timeout_ns: jlong,
) -> jlong {
    jcall(env, 0, |env| {
        submit(h, timeout_ns, |kk, vk| {
            let key = || owned_bytes(env, bk, "key");
            let value = || owned_bytes(env, vb, "value");
            Ok(vec![request(0, op, kk, vk, ik, key, word, value)?])
        })
    })
}

/// `long submitMany(long map, int[] ops, long[] intKeys, byte[][] bytesKeys,
/// long[] words, byte[][] bytesValues, int count, long timeoutNanos)`:
/// `count` requests as one batch run in order; returns its ticket. `bytesKeys`
/// (`bytesValues`) may be null when the map's keys (values) are INT/FLOAT.
#[allow(clippy::too_many_arguments)]
pub(crate) extern "system" fn Java_dev_ferrymap_Native_submitMany(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    ops: jintArray,
    int_keys: jlongArray,
    bytes_keys: jobjectArray,
    words: jlongArray,
    bytes_values: jobjectArray,
    count: jint,
    timeout_ns: jlong,
) -> jlong {
    jcall(env, 0, |env| {
        for (a, what) in [(ops, "ops"), (int_keys, "intKeys"), (words, "words")] {
            if a.is_null() {
                return fail(FM_NULL_ARGUMENT, format!("{what} is null"));
            }
        }
        let (_, n) = check_range(0, count, env.array_len(ops), "ops")?;
        check_range(0, count, env.array_len(int_keys), "intKeys")?;
        check_range(0, count, env.array_len(words), "words")?;
        if n == 0 {
            return fail(
                FM_INVALID_ARGUMENT,
                "a submission needs at least one request",
            );
        }
        let mut op = vec![0i32; n];
        let mut ik = vec![0i64; n];
        let mut wd = vec![0i64; n];
        env.read_ints(ops, 0, &mut op);
        env.read_longs(int_keys, 0, &mut ik);
        env.read_longs(words, 0, &mut wd);
        submit(h, timeout_ns, |kk, vk| {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let key = || element_bytes(env, bytes_keys, i, "request key");
                let value = || element_bytes(env, bytes_values, i, "request value");
                out.push(request(i, op[i], kk, vk, ik[i], key, wd[i], value)?);
            }
            Ok(out)
        })
    })
}

/// `int ticketTake(long ticket, long timeoutNanos, long[] out, byte[][] bytesOut)`:
/// waits up to the timeout for the ticket's batch; -1 if it has not run yet
/// (nothing written, the ticket stays). Otherwise writes 5 longs per result
/// to `out` (status, found/replaced/removed flag, seq, len, value word), a
/// copy of each STR/BYTES value to `bytesOut[i]` (null where none; `bytesOut`
/// may be null for maps with INT/FLOAT values), frees the ticket and returns
/// the number of results.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_ticketTake(
    env: *mut JNIEnv,
    _: jclass,
    t: jlong,
    timeout_ns: jlong,
    out: jlongArray,
    bytes_out: jobjectArray,
) -> jint {
    jcall(env, -1, |env| {
        if out.is_null() {
            return fail(FM_NULL_ARGUMENT, "out is null");
        }
        let inner = {
            let g = epoch::pin();
            TicketRef::acquire(crate::bridge::ticket(t as u64, &g)?)
        };
        // Wait unpinned: a long wait must not hold back reclamation.
        if !inner.wait(timeout(timeout_ns))? {
            return Ok(-1);
        }
        // The batch has run: the ticket is done with, whatever the copy below meets.
        let copied = copy_results(env, &inner, out, bytes_out);
        crate::bridge::free_ticket(t as u64)?;
        copied
    })
}

/// `int ticketTakeMany(long[] tickets, int count, int[] sizes, long[] out, Object[] bytesOut)`:
/// `ticketTake` for several tickets in one crossing: waits (forever) for the
/// first, then takes each following ticket that is already done, stopping at
/// the first that is not. Ticket `i`'s results (`sizes[i]` of them) go to
/// `out` and `bytesOut` right after those of the tickets before it. Returns
/// how many tickets were taken (and freed); the rest are left as they were.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_ticketTakeMany(
    env: *mut JNIEnv,
    _: jclass,
    tickets: jlongArray,
    count: jint,
    sizes: jintArray,
    out: jlongArray,
    bytes_out: jobjectArray,
) -> jint {
    jcall(env, 0, |env| {
        if tickets.is_null() || sizes.is_null() || out.is_null() {
            return fail(FM_NULL_ARGUMENT, "tickets, sizes and out must not be null");
        }
        let (_, n) = check_range(0, count, env.array_len(tickets), "tickets")?;
        check_range(0, count, env.array_len(sizes), "sizes")?;
        let mut ts = vec![0i64; n];
        let mut ns = vec![0i32; n];
        env.read_longs(tickets, 0, &mut ts);
        env.read_ints(sizes, 0, &mut ns);
        let mut offset = 0usize;
        for i in 0..n {
            let inner = {
                let g = epoch::pin();
                TicketRef::acquire(crate::bridge::ticket(ts[i] as u64, &g)?)
            };
            if i == 0 {
                inner.wait(None)?;
            } else if !inner.done() {
                return Ok(i as jint);
            }
            let copied = copy_results_at(env, &inner, out, bytes_out, offset);
            if copied.is_err() && i > 0 {
                // Leave this ticket for the next call, which reports the
                // error for it alone; those taken so far stay taken.
                env.clear_exception();
                return Ok(i as jint);
            }
            crate::bridge::free_ticket(ts[i] as u64)?;
            copied?;
            offset += ns[i].max(0) as usize;
        }
        Ok(n as jint)
    })
}

fn copy_results(
    env: Env,
    inner: &TicketInner,
    out: jlongArray,
    bytes_out: jobjectArray,
) -> Result<jint> {
    copy_results_at(env, inner, out, bytes_out, 0)
}

/// Copies a finished ticket's results into `ticketTake`'s arrays, from
/// result `at` on; returns their number.
fn copy_results_at(
    env: Env,
    inner: &TicketInner,
    out: jlongArray,
    bytes_out: jobjectArray,
    at: usize,
) -> Result<jint> {
    let guard = inner.results_ref();
    let Some(results) = guard.as_ref() else {
        return fail(FM_INTERNAL_ERROR, "a finished ticket has no results");
    };
    let n = results.len();
    if env.array_len(out) < (at + n) * RESULT_LONGS {
        return fail(
            FM_INVALID_ARGUMENT,
            format!("out must hold {} longs", (at + n) * RESULT_LONGS),
        );
    }
    let mut buf = Vec::with_capacity(n * RESULT_LONGS);
    for r in results.iter() {
        let word = match &r.value {
            OwnedVal::Int(v) => *v,
            OwnedVal::Float(f) => f.to_bits() as i64,
            _ => 0,
        };
        buf.extend_from_slice(&[
            r.status as i64,
            r.flag as i64,
            r.seq as i64,
            r.len as i64,
            word,
        ]);
    }
    env.write_longs(out, at * RESULT_LONGS, &buf);
    for (i, r) in results.iter().enumerate() {
        let i = at + i;
        if let OwnedVal::Bytes(b) = &r.value {
            if bytes_out.is_null() || env.array_len(bytes_out) <= i {
                return fail(
                    FM_INVALID_ARGUMENT,
                    format!("bytesOut must hold {} values", at + n),
                );
            }
            let array = env.new_bytes(b);
            if array.is_null() {
                return Err(super::java_pending());
            }
            env.set_element(bytes_out, i, array);
            env.delete_local(array);
        }
    }
    Ok(n as jint)
}

// ---- change feed --------------------------------------------------------------

/// `long subscribe(long map, long bound)`: a subscription to the bridge
/// map's change feed (through `fm_subscribe`); the caller owns it.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_subscribe(
    env: *mut JNIEnv,
    _: jclass,
    h: jlong,
    bound: jlong,
) -> jlong {
    jcall(env, 0, |_| {
        let bound = usize::try_from(bound)
            .map_err(|_| Error::new(FM_INVALID_ARGUMENT, format!("bound is negative: {bound}")))?;
        Ok(crate::api::subscribe(h as u64, bound)? as jlong)
    })
}

/// `int subNext(long sub, long timeoutNanos, long[] out, byte[][] bytesOut)`:
/// 1 with the next event written (5 longs to `out`: seq, op, lost, key word,
/// value word; the key's and the value's bytes, if STR/BYTES, to
/// `bytesOut[0]` and `bytesOut[1]`, else null), 0 if none came within the
/// timeout, -1 once the bridge is closed and every event was delivered.
pub(crate) extern "system" fn Java_dev_ferrymap_Native_subNext(
    env: *mut JNIEnv,
    _: jclass,
    s: jlong,
    timeout_ns: jlong,
    out: jlongArray,
    bytes_out: jobjectArray,
) -> jint {
    jcall(env, 0, |env| {
        if out.is_null() || bytes_out.is_null() {
            return fail(FM_NULL_ARGUMENT, "out is null");
        }
        if env.array_len(out) < EVENT_LONGS || env.array_len(bytes_out) < 2 {
            return fail(
                FM_INVALID_ARGUMENT,
                "out must hold 5 longs and bytesOut 2 arrays",
            );
        }
        let queue = {
            let g = epoch::pin();
            Arc::clone(&objects::subscription(s as u64, &g)?.queue)
        };
        let e = match queue.next(timeout(timeout_ns)) {
            Ok(e) => e,
            Err(e) if e.status == FM_TIMEOUT => return Ok(0),
            Err(e) if e.status == FM_CLOSED => return Ok(-1),
            Err(e) => return Err(e),
        };
        let key_word = match &e.key {
            OwnedKey::Int(k) => *k as i64,
            _ => 0,
        };
        let value_word = match &e.value {
            OwnedVal::Int(v) => *v,
            OwnedVal::Float(f) => f.to_bits() as i64,
            _ => 0,
        };
        for (i, bytes) in [
            (0, matches!(&e.key, OwnedKey::Bytes(_))),
            (1, matches!(&e.value, OwnedVal::Bytes(_))),
        ] {
            let array = if !bytes {
                ptr::null_mut()
            } else {
                let b = match (&e.key, &e.value, i) {
                    (OwnedKey::Bytes(b), _, 0) | (_, OwnedVal::Bytes(b), 1) => b.as_slice(),
                    _ => &[],
                };
                let a = env.new_bytes(b);
                if a.is_null() {
                    return Err(super::java_pending());
                }
                a
            };
            env.set_element(bytes_out, i, array);
            env.delete_local(array);
        }
        env.write_longs(
            out,
            0,
            &[
                e.seq as i64,
                e.op as i64,
                e.lost as i64,
                key_word,
                value_word,
            ],
        );
        Ok(1)
    })
}

// ---- owner threads calling Java -------------------------------------------------

thread_local! {
    /// Set on a thread this module attached to the JVM; detaches it when the
    /// thread exits (a bridge's owner thread exits when the bridge closes).
    static ATTACHED: RefCell<Option<Detach>> = const { RefCell::new(None) };
}

struct Detach(*mut JavaVM);

impl Drop for Detach {
    fn drop(&mut self) {
        // SAFETY: the thread was attached by `attached_env` and is exiting:
        // no Java frame is left on it.
        unsafe { ((**self.0).v1_4.DetachCurrentThread)(self.0) };
    }
}

/// The JNI environment of the calling (non-Java) thread, attaching it to the
/// JVM as a daemon thread named `ferrymap-bridge` if it is not attached yet.
/// It stays attached until it exits, so later callbacks cost no attach.
/// The environment stays valid on this thread until it exits (the thread
/// is never detached before), and an `Env` cannot leave the thread.
pub(crate) fn attached_env(vm: *mut JavaVM) -> Result<Env<'static>> {
    let mut penv: *mut c_void = ptr::null_mut();
    // SAFETY: `vm` came from GetJavaVM and the JVM outlives every bridge call
    // made from Java.
    let rc = unsafe { ((**vm).v1_4.GetEnv)(vm, &mut penv, jni::sys::JNI_VERSION_1_8) };
    if rc == jni::sys::JNI_OK && !penv.is_null() {
        // SAFETY: the thread is attached (see above).
        return Ok(unsafe { Env::from_raw(penv.cast()) });
    }
    let mut args = JavaVMAttachArgs {
        version: jni::sys::JNI_VERSION_1_8,
        name: c"ferrymap-bridge".as_ptr() as *mut _,
        group: ptr::null_mut(),
    };
    // SAFETY: as above; `args` lives for the call.
    let rc = unsafe {
        ((**vm).v1_4.AttachCurrentThreadAsDaemon)(
            vm,
            &mut penv,
            (&mut args as *mut JavaVMAttachArgs).cast(),
        )
    };
    if rc != jni::sys::JNI_OK || penv.is_null() {
        return fail(
            FM_INTERNAL_ERROR,
            format!("cannot attach the bridge owner thread to the JVM (JNI error {rc})"),
        );
    }
    ATTACHED.with(|a| *a.borrow_mut() = Some(Detach(vm)));
    // SAFETY: attached just now, until the thread exits.
    Ok(unsafe { Env::from_raw(penv.cast()) })
}
