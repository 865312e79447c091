//! Requests, results and tickets: what a submission carries to the owner
//! thread and what it hands back. A ticket is shared by its handle, the
//! queue and any thread waiting on it, through one reference-counted state
//! word; the last reference returns it to a per-thread pool.

use std::cell::RefCell;
use std::ops::Deref;
use std::ptr::NonNull;
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

#[cfg(not(loom))]
use super::SPIN;
use crate::epoch::{self, Guard};
use crate::feed::fm_op;
use crate::fork;
use crate::kind::{OwnedKey, OwnedVal};
use crate::registry::{self, fm_handle_kind, Stored, FM_HANDLE_TICKET};
use crate::status::*;
use crate::sync::{fence, sync_thread_local, AtomicU64, Condvar, Mutex, Ordering, UnsafeCell};

/// A result of one submitted request.
#[derive(Debug, Clone)]
pub struct ReqResult {
    pub status: fm_status,
    pub flag: bool,
    pub seq: u64,
    pub len: u64,
    pub value: OwnedVal,
}

/// A submitted request, owning its data.
#[derive(Debug, Clone)]
pub struct Request {
    pub op: fm_op,
    pub key: OwnedKey,
    pub value: OwnedVal,
}

/// One request of a batch, replaced where it stands by its result when
/// the owner has run it.
///
/// Results written over their own requests keep a batch in one vector that
/// the submitter allocates, fills, reads back and frees: its cache lines
/// cross to the owner's core and back once each. With a separate result
/// vector every line crossed twice each way (a result line was last
/// written by the other core, a reused request line too), and that traffic
/// was most of a large batch's cost.
#[derive(Debug)]
pub enum Entry {
    Request(Request),
    Result(ReqResult),
}

impl From<Request> for Entry {
    fn from(r: Request) -> Entry {
        Entry::Request(r)
    }
}

/// The requests of one submission. A single request (the common pipelined
/// case) is stored inline, so submitting it allocates no vector; a batch's
/// entries are all requests until the owner runs them.
#[derive(Debug)]
pub enum Requests {
    One(Request),
    Many(Vec<Entry>),
}

impl Requests {
    pub(crate) fn len(&self) -> usize {
        match self {
            Requests::One(_) => 1,
            Requests::Many(v) => v.len(),
        }
    }
}

impl From<Vec<Request>> for Requests {
    fn from(mut v: Vec<Request>) -> Requests {
        if v.len() == 1 {
            Requests::One(v.pop().expect("one request"))
        } else {
            // Reuses the allocation: an Entry is no larger than a Request.
            Requests::Many(v.into_iter().map(Entry::Request).collect())
        }
    }
}

impl From<Request> for Requests {
    fn from(r: Request) -> Requests {
        Requests::One(r)
    }
}

/// The results of one submission, inline for a single request; a batch's
/// entries are all results.
pub enum Results {
    One(ReqResult),
    Many(Vec<Entry>),
}

impl Results {
    pub(crate) fn len(&self) -> usize {
        match self {
            Results::One(_) => 1,
            Results::Many(v) => v.len(),
        }
    }

    /// The results in request order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &ReqResult> {
        let (one, many) = match self {
            Results::One(r) => (Some(r), &[][..]),
            Results::Many(v) => (None, v.as_slice()),
        };
        one.into_iter().chain(many.iter().map(|e| match e {
            Entry::Result(r) => r,
            Entry::Request(_) => unreachable!("a finished batch holds results only"),
        }))
    }

    /// `n` copies of one failure.
    pub(super) fn failed(n: usize, status: fm_status) -> Results {
        let r = ReqResult {
            status,
            flag: false,
            seq: 0,
            len: 0,
            value: OwnedVal::None,
        };
        if n == 1 {
            Results::One(r)
        } else {
            Results::Many((0..n).map(|_| Entry::Result(r.clone())).collect())
        }
    }
}

/// A ticket's state word: its reference count in the low 32 bits, then
/// the done bit ([`T_DONE`]), then the number of parked waiters. One word
/// lets the owner publish the results, see whether anyone must be woken
/// and drop the queue's reference with a single atomic operation.
const T_REF: u64 = 1;
const T_REFS: u64 = 0xffff_ffff;
const T_DONE: u64 = 1 << 32;
const T_WAITER: u64 = 1 << 33;
/// A new ticket: referenced by its handle and by the queue.
const T_FRESH: u64 = 2 * T_REF;
/// Under loom a waiter spins twice before it parks, so that the models
/// reach the parking path without exploring thousands of polls.
#[cfg(loom)]
const SPIN: u32 = 2;

/// What a ticket holds: its requests until the owner has run them, then
/// their results (the requests are dropped then). One slot for both keeps a
/// single-request ticket small.
///
/// The owner allocates nothing for a batch's results (see [`Entry`]): a
/// vector it allocated would be freed by the submitter, and glibc hands
/// such memory back to the owner's arena, trims it (an `madvise` per
/// batch) and page-faults it in again at the next batch.
enum Slot {
    Requests(Requests),
    Results(Results),
}

/// Shared by a ticket handle and the owner thread: the submitted requests
/// and, once the owner has run them, their results, in one allocation.
///
/// The requests are written before the ticket is queued and only read (then
/// replaced by the results) by the owner thread. The results are written
/// once, by the owner thread, before `state` gets its done bit (release);
/// they are read only after the bit is seen (acquire) and never change again.
pub struct TicketInner {
    /// References, T_DONE, parked waiters (see [`T_REF`], [`T_DONE`], [`T_WAITER`]).
    /// The references keep the ticket from going back to the pool: the
    /// handle's (dropped a grace period after the handle is freed), the
    /// queue's (dropped by the owner in `finish`), and one per caller
    /// waiting unpinned. The owner takes the lock and notifies only when
    /// some waiter is parked.
    state: AtomicU64,
    /// The bridge's owner thread, which must never wait on its own tickets.
    owner: Option<ThreadId>,
    /// The fork generation it was made in: in a child the owner is gone.
    born: u64,
    /// Owner thread only from queueing until done; read-only afterwards.
    slot: UnsafeCell<Slot>,
    lock: Mutex<()>,
    ready: Condvar,
}

// SAFETY: the slot is handed over as described on the type: the requests
// from the submitter to the owner thread through the channel, the results
// from the owner thread to every reader through `state`'s release/acquire.
unsafe impl Sync for TicketInner {}
unsafe impl Send for TicketInner {}

/// A finished ticket's results, as `fm_ticket_results` and the bindings
/// read them.
pub struct ResultsRef<'a>(Option<&'a Results>);

impl<'a> ResultsRef<'a> {
    /// The results, one per request in order; None until the batch has run.
    pub fn as_ref(&self) -> Option<&'a Results> {
        self.0
    }
}

impl TicketInner {
    fn new(requests: Requests, owner: Option<ThreadId>) -> TicketInner {
        TicketInner {
            state: AtomicU64::new(T_FRESH),
            owner,
            born: fork::generation(),
            slot: UnsafeCell::new(Slot::Requests(requests)),
            lock: Mutex::new(()),
            ready: Condvar::new(),
        }
    }

    pub fn done(&self) -> bool {
        self.state.load(Ordering::Acquire) & T_DONE != 0
    }

    /// Waits up to `timeout` (None: forever): Ok(false) on timeout. Spins
    /// briefly before parking, as synchronous calls do. The bridge's owner
    /// thread waiting (other than with timeout 0) on its own unfinished
    /// ticket could never be woken: that is FM_REENTRANT.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        if self.done() {
            return Ok(true);
        }
        if self.born != fork::generation() {
            return fail(FM_CLOSED, fork::NO_OWNER_AFTER_FORK);
        }
        if timeout != Some(Duration::ZERO) && self.owner == Some(thread::current().id()) {
            return fail(
                FM_REENTRANT,
                "the owner thread cannot wait on its own bridge's ticket",
            );
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        for i in 0..SPIN {
            if self.done() {
                return Ok(true);
            }
            if deadline.is_some_and(|d| i % 64 == 63 && Instant::now() >= d) {
                return Ok(false);
            }
            if i % 64 == 63 {
                crate::sync::yield_now();
            } else {
                crate::sync::spin_loop();
            }
        }
        let mut held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        // Announced in the state word, which `finish` changes with one
        // read-modify-write: either it sees this waiter, or this waiter
        // sees T_DONE. The owner takes the lock before notifying, so it
        // cannot slip in between our check and our wait.
        self.state.fetch_add(T_WAITER, Ordering::AcqRel);
        let done = loop {
            if self.state.load(Ordering::Acquire) & T_DONE != 0 {
                break true;
            }
            let wait = match deadline {
                None => Duration::from_secs(3600),
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => break false,
                },
            };
            held = self
                .ready
                .wait_timeout(held, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        };
        self.state.fetch_sub(T_WAITER, Ordering::AcqRel);
        drop(held);
        Ok(done)
    }

    /// The results (None until done). Once set they never change, so
    /// pointers into them live as long as the ticket.
    pub fn results_ref(&self) -> ResultsRef<'_> {
        if !self.done() {
            return ResultsRef(None);
        }
        // SAFETY: T_DONE was seen (acquire): the results are written and
        // nobody writes them again.
        match self.slot.with(|p| unsafe { &*p }) {
            Slot::Results(r) => ResultsRef(Some(r)),
            Slot::Requests(_) => ResultsRef(None),
        }
    }

    /// Takes the requests out, to be run and handed back as results to
    /// `finish`. The slot holds an empty batch meanwhile (nobody reads it
    /// before `finish` publishes).
    ///
    /// # Safety
    /// Called once, on the owner thread, with the ticket received from the
    /// queue.
    pub(super) unsafe fn take_requests(&self) -> Requests {
        match self
            .slot
            .with_mut(|p| std::mem::replace(&mut *p, Slot::Results(Results::Many(Vec::new()))))
        {
            Slot::Requests(r) => r,
            Slot::Results(_) => Requests::Many(Vec::new()),
        }
    }

    /// About how many bytes the ticket holds beyond its object (a batch's
    /// entries), for the epoch's bound on memory waiting to be freed; 0
    /// while the owner has not run the batch yet (it may be writing).
    pub fn heap_bytes(&self) -> usize {
        if !self.done() {
            return 0;
        }
        // SAFETY: done (acquire): the results never change again.
        match self.slot.with(|p| unsafe { &*p }) {
            Slot::Results(Results::Many(v)) => v.capacity() * std::mem::size_of::<Entry>(),
            _ => 0,
        }
    }
}

/// A counted reference to a registered ticket, for the owner thread (the
/// queue's reference) and for callers waiting unpinned. When the last
/// reference goes, the ticket goes back to a thread-local pool instead of
/// the allocator: in pipelined use tickets are made on one thread and
/// finished on another, and batches of them are freed at once by the epoch
/// scheme, which defeats the allocator's per-thread caches.
pub struct TicketRef(pub(super) NonNull<TicketInner>);

// SAFETY: a TicketInner is Send + Sync, and the pointer stays valid while
// any reference is held (see `release_ticket`).
unsafe impl Send for TicketRef {}

impl TicketRef {
    /// A new reference to `ticket`, which the caller read from the
    /// registry and is still pinned for (so the handle's own reference is
    /// still held, and the count cannot be 0).
    pub fn acquire(ticket: &TicketInner) -> TicketRef {
        ticket.state.fetch_add(T_REF, Ordering::Relaxed);
        TicketRef(NonNull::from(ticket))
    }
}

impl Deref for TicketRef {
    type Target = TicketInner;
    fn deref(&self) -> &TicketInner {
        // SAFETY: a held reference keeps the ticket alive.
        unsafe { self.0.as_ref() }
    }
}

impl Drop for TicketRef {
    fn drop(&mut self) {
        // SAFETY: this reference was counted.
        unsafe { release_ticket(self.0.as_ptr() as *mut ()) }
    }
}

/// Publishes a ticket's results, wakes parked waiters if any, and drops
/// the queue's reference (`ticket`).
///
/// # Safety
/// Owner thread only, once per ticket, with the reference it received.
pub(super) unsafe fn finish(ticket: TicketRef, results: Results) {
    ticket.slot.with_mut(|p| *p = Slot::Results(results));
    let mut cur = ticket.state.load(Ordering::Relaxed);
    loop {
        if cur & !(T_REFS | T_DONE) != 0 {
            // Someone is parked: publish, wake, and only then let go (a
            // woken waiter may free the handle at once).
            ticket.state.fetch_or(T_DONE, Ordering::AcqRel);
            drop(ticket.lock.lock().unwrap_or_else(|p| p.into_inner()));
            ticket.ready.notify_all();
            return drop(ticket);
        }
        // Publish and drop the queue's reference in one step. (Under loom
        // a negative control can publish without release:
        // `loom_models::ticket`.)
        #[cfg(loom)]
        let publish = if crate::sync::broken(crate::sync::Broken::TicketPublish) {
            Ordering::Relaxed
        } else {
            Ordering::AcqRel
        };
        #[cfg(not(loom))]
        let publish = Ordering::AcqRel;
        match ticket.state.compare_exchange_weak(
            cur,
            (cur | T_DONE) - T_REF,
            publish,
            Ordering::Relaxed,
        ) {
            Ok(_) => break,
            Err(now) => cur = now,
        }
    }
    let last = cur & T_REFS == T_REF;
    let p = ticket.0.as_ptr();
    std::mem::forget(ticket);
    if last {
        recycle(Box::from_raw(p));
    }
}

// SAFETY: tickets are the only type of FM_HANDLE_TICKET.
unsafe impl Stored for TicketInner {
    const KIND: fm_handle_kind = FM_HANDLE_TICKET;
}

/// The ticket behind a ticket handle.
pub fn ticket<'g>(handle: u64, guard: &'g Guard) -> Result<&'g TicketInner> {
    registry::get(handle, guard)
}

/// Frees a ticket handle. The handle's reference to the ticket is dropped
/// once no thread can be inside a call on it; the last reference (the
/// owner thread may still hold one) recycles the ticket.
pub fn free_ticket(handle: u64) -> Result<()> {
    let t = registry::remove::<TicketInner>(handle)?;
    // Batched like other small objects, weighing what its batch's results
    // hold, so that a thread freeing large batches does not keep a
    // thousand of them waiting.
    // SAFETY: the handle's reference is still counted: it goes below.
    let weight = std::mem::size_of::<TicketInner>() + unsafe { &*t }.heap_bytes();
    // SAFETY: `t` came from `new_ticket` through `registry::insert`, and the
    // handle owned one counted reference, which the deferred call drops.
    unsafe { epoch::retire(epoch::Deferred::new(t.cast(), release_ticket), weight) };
    Ok(())
}

/// Tickets kept per thread for reuse. Enough for the tickets one epoch
/// grace period frees at once in pipelined use (two sealed bags).
const TICKET_POOL: usize = 4096;

sync_thread_local! {
    // Boxed: a pooled ticket goes back into the registry as its own
    // allocation (std's macro kept clippy from saying so; this one does not).
    #[allow(clippy::vec_box)]
    static TICKETS: RefCell<Vec<Box<TicketInner>>> = const { RefCell::new(Vec::new()) };
}

/// A ticket object holding `requests`, from the pool when it has one.
pub(super) fn new_ticket(requests: Requests, owner: Option<ThreadId>) -> Result<Box<TicketInner>> {
    let pooled = TICKETS.try_with(|p| p.borrow_mut().pop()).ok().flatten();
    match pooled {
        Some(mut t) => {
            // Pooled tickets had no references, waiters or requests left.
            #[cfg(not(loom))]
            {
                *t.state.get_mut() = T_FRESH;
            }
            #[cfg(loom)]
            t.state.with_mut(|s| *s = T_FRESH);
            t.owner = owner;
            t.born = fork::generation();
            *t.slot.get_mut() = Slot::Requests(requests);
            Ok(t)
        }
        None => crate::alloc::try_box(TicketInner::new(requests, owner)),
    }
}

/// Drops one reference to the ticket object at `p`; the last one returns
/// it to the calling thread's pool (or frees it when the pool is full).
/// Also the registry's deferred drop for a freed ticket handle.
///
/// # Safety
/// `p` is a `Box<TicketInner>` (from `new_ticket`) and the caller owns
/// one of its counted references.
unsafe fn release_ticket(p: *mut ()) {
    let p = p.cast::<TicketInner>();
    let t = &*p;
    if t.state.fetch_sub(T_REF, Ordering::Release) & T_REFS != T_REF {
        return;
    }
    // Everything the other holders did happens before the reuse.
    fence(Ordering::Acquire);
    recycle(Box::from_raw(p));
}

/// Returns an unreferenced ticket object to the calling thread's pool, or
/// frees it when the pool is full.
fn recycle(mut t: Box<TicketInner>) {
    // The results may hold value bytes: they go now, not at reuse.
    *t.slot.get_mut() = Slot::Results(Results::Many(Vec::new()));
    let mut spare = Some(t);
    let _ = TICKETS.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < TICKET_POOL {
            pool.extend(spare.take());
        }
    });
    // Pool full or gone (thread exit): freed here, outside the borrow.
    drop(spare);
}

// The loom model of the completion handshake (`--cfg loom` test builds).
#[cfg(all(test, loom))]
#[path = "../loom_models/ticket.rs"]
mod loom_model;
