//! Bridge mode in the C ABI: creation, asynchronous submission with
//! tickets, the change feed, sequence numbers. Every other map function
//! works on a bridge map unchanged (routed through its owner thread).

use std::time::Duration;

use super::{array_in, array_out, boundary, bytes_in, fm_handle, Out};
use crate::alloc::try_copy;
use crate::api::{self, bridge};
use crate::bridge::{Request, Requests, TicketInner, TicketRef, Wait};
use crate::epoch;
use crate::feed::fm_op;
use crate::kind::{OwnedKey, OwnedVal};
use crate::kind::{FM_FLOAT, FM_INT};
use crate::objects::{self, Subscription};
use crate::status::*;

/// One request of an asynchronous submission. `op` is an `fm_op`:
/// FM_OP_INSERT, FM_OP_REMOVE, FM_OP_ADD, FM_OP_CLEAR, FM_OP_GET,
/// FM_OP_CONTAINS, FM_OP_LEN, FM_OP_SWAP, FM_OP_GET_OR_INSERT or
/// FM_OP_REMOVE_IF_EQUAL (FM_OP_UPDATE needs a callback: use `fm_update_*`,
/// which works on bridge maps; compare-and-swap needs two values: use
/// `fm_compare_and_swap_*`). The key and value fields are read as in
/// `fm_entry` (only those of the map's kinds; CLEAR and LEN read none; ADD
/// reads `value_int` or `value_float` as the delta, REMOVE_IF_EQUAL the
/// value to compare). The bytes are copied at submission.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct fm_request {
    pub op: u32,
    pub key_int: i64,
    pub key_ptr: *const u8,
    pub key_len: usize,
    pub value_int: i64,
    pub value_float: f64,
    pub value_ptr: *const u8,
    pub value_len: usize,
}

/// The outcome of one request. `status` is that request's fm_status.
/// `flag`: INSERT replaced a value, REMOVE removed one, GET / CONTAINS found
/// the key. `seq`: the mutation's sequence number (0 if it changed nothing).
/// `len`: the LEN answer. The value of GET and the new value of ADD are in
/// `value_int`, `value_float` or `value_ptr`/`value_len` (owned by the
/// ticket: valid until `fm_ticket_free`).
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct fm_result {
    pub status: i32,
    pub flag: bool,
    pub seq: u64,
    pub len: u64,
    pub value_int: i64,
    pub value_float: f64,
    pub value_ptr: *const u8,
    pub value_len: usize,
}

/// One committed mutation of a bridge map, as a subscriber receives it.
/// `lost` is how many events this subscriber missed just before this one
/// because it fell behind its bound (0 normally). Key and value fields as in
/// `fm_entry`; REMOVE has no value, CLEAR neither key nor value; ADD and
/// UPDATE carry the new value. Pointers are valid until the next
/// `fm_sub_next` on the same subscription or its `fm_sub_free`.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct fm_event {
    pub seq: u64,
    pub op: u32,
    pub lost: u64,
    pub key_int: i64,
    pub key_ptr: *const u8,
    pub key_len: usize,
    pub value_int: i64,
    pub value_float: f64,
    pub value_ptr: *const u8,
    pub value_len: usize,
}

/// A timeout in microseconds: negative waits forever, 0 does not wait.
fn wait_for(timeout_us: i64) -> Wait {
    match timeout_us {
        t if t < 0 => Wait::Forever,
        0 => Wait::Try,
        t => Wait::For(Duration::from_micros(t as u64)),
    }
}

fn timeout(timeout_us: i64) -> Option<Duration> {
    (timeout_us >= 0).then(|| Duration::from_micros(timeout_us as u64))
}

fn value_fields(v: &OwnedVal) -> (i64, f64, *const u8, usize) {
    match v {
        OwnedVal::None => (0, 0.0, std::ptr::null(), 0),
        OwnedVal::Int(i) => (*i, 0.0, std::ptr::null(), 0),
        OwnedVal::Float(f) => (0, *f, std::ptr::null(), 0),
        OwnedVal::Bytes(b) => (0, 0.0, b.as_ptr(), b.len()),
    }
}

/// Creates a bridge map: a map whose every operation runs on its own owner
/// thread, fed by a queue of `queue_capacity` requests (1 to 16M). Kinds and
/// `capacity` as in `fm_map_new`. The handle works with every map function;
/// `fm_map_free` closes it: requests accepted before complete and get their
/// answers, later ones get FM_CLOSED, and the owner thread exits. The caller
/// owns the map. `map_out` must not be NULL. Threads: any.
///
/// # Safety
/// `map_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_bridge_new(
    key_kind: u32,
    value_kind: u32,
    capacity: usize,
    queue_capacity: usize,
    map_out: *mut fm_handle,
) -> fm_status {
    boundary(|| {
        let out = Out::required(map_out, "map_out")?;
        out.write(api::bridge_new(
            key_kind,
            value_kind,
            capacity,
            queue_capacity,
        )?);
        Ok(())
    })
}

/// FM_OK if `map` is a working bridge map, FM_BRIDGE_FAILED if its owner
/// thread caught a panic, FM_WRONG_KIND for a direct map. Threads: any.
#[no_mangle]
pub extern "C" fn fm_bridge_status(map: fm_handle) -> fm_status {
    boundary(|| {
        let g = epoch::pin();
        if bridge(map, &g)?.failed() {
            return fail(FM_BRIDGE_FAILED, "the bridge's owner thread caught a panic");
        }
        Ok(())
    })
}

/// Writes the sequence number of the last mutation committed on the bridge
/// map (0 before the first) to `*seq_out` (not NULL). Threads: any.
///
/// # Safety
/// `seq_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_bridge_seq(map: fm_handle, seq_out: *mut u64) -> fm_status {
    boundary(|| {
        let out = Out::required(seq_out, "seq_out")?;
        let g = epoch::pin();
        out.write(bridge(map, &g)?.feed().last());
        Ok(())
    })
}

/// The sequence number of the last bridge mutation made by a call on the
/// calling thread (0 if none). Each thread has its own. Threads: any.
#[no_mangle]
pub extern "C" fn fm_last_seq() -> u64 {
    crate::feed::last_seq()
}

/// Copies one `fm_request` for a map of the given kinds.
///
/// # Safety
/// The request's pointers valid for their lengths.
#[inline(always)]
unsafe fn own_request(
    i: usize,
    r: &fm_request,
    kk: crate::kind::fm_kind,
    vk: crate::kind::fm_kind,
) -> Result<Request> {
    let op = fm_op::from_raw(r.op)
        .filter(|op| *op != crate::feed::FM_OP_UPDATE)
        .ok_or_else(|| {
            Error::new(
                FM_INVALID_ARGUMENT,
                format!("request {i}: op {} cannot be submitted", r.op),
            )
        })?;
    let (needs_key, needs_value) = (op.needs_key(), op.needs_value());
    let key = match (needs_key, kk) {
        (false, _) => OwnedKey::None,
        (true, FM_INT) => OwnedKey::Int(r.key_int as u64),
        (true, _) => OwnedKey::Bytes(try_copy(bytes_in(r.key_ptr, r.key_len, "key")?)?),
    };
    let value = match (needs_value, vk) {
        (false, _) => OwnedVal::None,
        (true, FM_INT) => OwnedVal::Int(r.value_int),
        (true, FM_FLOAT) => OwnedVal::Float(r.value_float),
        // ADD reads only the numeric delta fields (the header says so); on a
        // STR/BYTES map it fails with FM_WRONG_KIND when it runs.
        (true, _) if op == crate::feed::FM_OP_ADD => OwnedVal::Int(r.value_int),
        (true, _) => OwnedVal::Bytes(try_copy(bytes_in(r.value_ptr, r.value_len, "value")?)?),
    };
    Ok(Request { op, key, value })
}

/// Submits `n` requests (1 or more) as one batch that the owner thread runs
/// in order, without waiting for them, and writes a ticket to `*ticket_out`
/// (not NULL). If the queue is full, waits up to `timeout_us` microseconds
/// for room (negative: forever; 0: fail at once with FM_QUEUE_FULL); on
/// timeout returns FM_TIMEOUT and queues nothing. Every request is checked
/// (op, NULLs, lengths) before anything is queued; kind and UTF-8 errors are
/// reported per request in the results. From the bridge's own owner thread
/// (a callback) only a try-submit (timeout 0) is allowed; waiting for room
/// there returns FM_REENTRANT. The caller owns the ticket.
///
/// # Safety
/// `requests` valid for `n` reads (and their pointers for their lengths);
/// `ticket_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_submit(
    map: fm_handle,
    requests: *const fm_request,
    n: usize,
    timeout_us: i64,
    ticket_out: *mut fm_handle,
) -> fm_status {
    boundary(|| {
        let out = Out::required(ticket_out, "ticket_out")?;
        let reqs = array_in(requests, n, "requests")?;
        if reqs.is_empty() {
            return fail(
                FM_INVALID_ARGUMENT,
                "a submission needs at least one request",
            );
        }
        let g = epoch::pin();
        let b = bridge(map, &g)?;
        let (kk, vk) = (b.map().key_kind, b.map().val_kind);
        // One request (pipelined use) is stored inline in its ticket.
        let owned = match reqs {
            [r] => Requests::One(own_request(0, r, kk, vk)?),
            _ => {
                // Sized up front (collecting through Result would grow it step by step).
                let mut v = crate::alloc::try_vec(reqs.len())?;
                for (i, r) in reqs.iter().enumerate() {
                    v.push(own_request(i, r, kk, vk)?.into());
                }
                Requests::Many(v)
            }
        };
        out.write(b.submit(owned, wait_for(timeout_us))?);
        Ok(())
    })
}

fn ticket<'g>(handle: fm_handle, guard: &'g epoch::Guard) -> Result<&'g TicketInner> {
    crate::bridge::ticket(handle, guard)
}

/// Writes whether the ticket's batch has run to `*done_out` (not NULL),
/// without waiting. Threads: any.
///
/// # Safety
/// `done_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_ticket_poll(ticket: fm_handle, done_out: *mut bool) -> fm_status {
    boundary(|| {
        let out = Out::required(done_out, "done_out")?;
        let g = epoch::pin();
        out.write(self::ticket(ticket, &g)?.done());
        Ok(())
    })
}

/// Waits up to `timeout_us` microseconds (negative: forever) for the
/// ticket's batch to run: FM_OK when it has, FM_TIMEOUT otherwise. Spins
/// briefly before sleeping. From the bridge's own owner thread (a callback)
/// a wait that is not already satisfied returns FM_REENTRANT: it could
/// never end. Threads: any; several threads may wait on one ticket.
#[no_mangle]
pub extern "C" fn fm_ticket_wait(ticket: fm_handle, timeout_us: i64) -> fm_status {
    boundary(|| {
        let g = epoch::pin();
        let object = crate::bridge::ticket(ticket, &g)?;
        if object.done() {
            // The pipelined case: no reference count traffic.
            return Ok(());
        }
        // Wait unpinned (a pinned waiter would hold up reclamation).
        let t = TicketRef::acquire(object);
        drop(g);
        if t.wait(timeout(timeout_us))? {
            Ok(())
        } else {
            fail(FM_TIMEOUT, "the ticket's batch has not run yet")
        }
    })
}

/// Copies the results of a finished batch, one per request in order, into
/// `results` (room for `cap`) and writes their number to `*count_out` (not
/// NULL). FM_TIMEOUT if the batch has not run yet (nothing written);
/// FM_BUFFER_TOO_SMALL with the needed count in `*count_out` if `cap` is too
/// small. Value pointers stay valid until `fm_ticket_free`.
///
/// # Safety
/// `results` valid for `cap` writes; `count_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_ticket_results(
    ticket: fm_handle,
    results: *mut crate::ffi::bridge::fm_result,
    cap: usize,
    count_out: *mut usize,
) -> fm_status {
    boundary(|| {
        let out = Out::required(count_out, "count_out")?;
        if cap > crate::map::MAX_BLOB_LEN {
            return fail(
                FM_INVALID_ARGUMENT,
                format!("results capacity {cap} exceeds the 4 GiB limit"),
            );
        }
        let g = epoch::pin();
        let t = self::ticket(ticket, &g)?;
        let guard = t.results_ref();
        let Some(rs) = guard.as_ref() else {
            return fail(FM_TIMEOUT, "the ticket's batch has not run yet");
        };
        if rs.len() > cap {
            out.write(rs.len());
            return fail(
                FM_BUFFER_TOO_SMALL,
                format!("{} results, room for {cap}", rs.len()),
            );
        }
        let dst = array_out(results, rs.len(), "results")?;
        for (d, r) in dst.iter_mut().zip(rs.iter()) {
            let (vi, vf, vp, vl) = value_fields(&r.value);
            *d = fm_result {
                status: r.status as i32,
                flag: r.flag,
                seq: r.seq,
                len: r.len,
                value_int: vi,
                value_float: vf,
                value_ptr: vp,
                value_len: vl,
            };
        }
        out.write(rs.len());
        Ok(())
    })
}

/// Frees a ticket (its batch still runs if it has not yet). Freeing 0 is a
/// no-op; twice returns FM_INVALID_HANDLE. Threads: any.
#[no_mangle]
pub extern "C" fn fm_ticket_free(ticket: fm_handle) -> fm_status {
    super::iter::free_handle(ticket, crate::bridge::free_ticket)
}

/// Subscribes to the bridge map's change feed: from now on every committed
/// mutation is queued for this subscriber, in commit order, up to `bound`
/// events; past that the oldest are dropped and the next event delivered
/// says how many were lost. Writes the subscription to `*sub_out` (not
/// NULL); the caller owns it. Threads: any.
///
/// # Safety
/// `sub_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_subscribe(
    map: fm_handle,
    bound: usize,
    sub_out: *mut fm_handle,
) -> fm_status {
    boundary(|| {
        let out = Out::required(sub_out, "sub_out")?;
        out.write(api::subscribe(map, bound)?);
        Ok(())
    })
}

/// Writes the next event to `*event_out` (not NULL), waiting up to
/// `timeout_us` microseconds (negative: forever; 0: not at all). FM_TIMEOUT
/// if none came; FM_CLOSED once the map is freed and every event was read;
/// FM_REENTRANT for a waiting call from the bridge's own owner thread.
/// Threads: any, but one reader per subscription is the sensible use (the
/// event's pointers are replaced by the next call).
///
/// # Safety
/// `event_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_sub_next(
    sub: fm_handle,
    timeout_us: i64,
    event_out: *mut fm_event,
) -> fm_status {
    boundary(|| {
        let out = Out::required(event_out, "event_out")?;
        let g = epoch::pin();
        let s = objects::subscription(sub, &g)?;
        // Wait unpinned: a pinned thread would hold up memory reclamation
        // for every map in the process for as long as it waits.
        let (queue, slot) = (s.queue.clone(), s.current.clone());
        drop(g);
        let e = queue.next(timeout(timeout_us))?;
        let mut current = slot.lock().unwrap_or_else(|p| p.into_inner());
        let e = current.insert(e);
        let (key_int, key_ptr, key_len) = match &e.key {
            OwnedKey::None => (0, std::ptr::null(), 0),
            OwnedKey::Int(k) => (*k as i64, std::ptr::null(), 0),
            OwnedKey::Bytes(b) => (0, b.as_ptr(), b.len()),
        };
        let (value_int, value_float, value_ptr, value_len) = value_fields(&e.value);
        out.write(fm_event {
            seq: e.seq,
            op: e.op as u32,
            lost: e.lost,
            key_int,
            key_ptr,
            key_len,
            value_int,
            value_float,
            value_ptr,
            value_len,
        });
        Ok(())
    })
}

/// Ends a subscription. Freeing 0 is a no-op; twice returns
/// FM_INVALID_HANDLE. Threads: any.
#[no_mangle]
pub extern "C" fn fm_sub_free(sub: fm_handle) -> fm_status {
    super::iter::free_handle(sub, objects::free::<Subscription>)
}
