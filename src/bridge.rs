//! Bridge mode: a map whose every operation runs on one owner thread, fed by
//! a bounded channel.
//!
//! - **Route.** A bridge map is an ordinary map handle. The C ABI resolves it
//!   and, instead of running the operation on the calling thread, hands the
//!   operation (a closure borrowing the caller's arguments) to the owner
//!   thread and waits for it to finish. The caller is blocked meanwhile, so
//!   the borrow stays valid; this is how every map operation works on a
//!   bridge map unchanged.
//! - **Order.** The channel is FIFO: one thread's requests run in the order
//!   made. Mutations run on one thread, so they form one total order; each
//!   gets the next sequence number, which the caller can read back.
//! - **Async.** `submit` copies a batch of requests into a ticket and
//!   returns at once; the ticket is polled or waited on.
//! - **Backpressure.** The channel is bounded (crossbeam-channel: a
//!   well-kept MPMC channel with timeouts); a blocking submit waits up to a
//!   timeout, a try-submit fails at once.
//! - **Wake-ups.** Parking a thread costs microseconds here with a long
//!   tail, so the owner and a waiting caller first spin briefly (a few tens
//!   of microseconds), then park. An idle owner is parked: no CPU.
//! - **Close** stops accepting requests, waits for submitters already past
//!   the check, queues a final marker, and joins the owner, which answers
//!   everything queued before the marker.
//! - **Panics** on the owner thread are caught: that request fails with
//!   FM_INTERNAL_ERROR and the bridge turns FAILED; queued and later
//!   requests get FM_BRIDGE_FAILED. The process and the callers carry on.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::{self, JoinHandle, Thread, ThreadId};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, SendTimeoutError, Sender, TrySendError};

use crate::epoch::{self, Guard};
use crate::map::{fm_kind, Map, ValIn, FM_FLOAT, FM_INT};
use crate::registry::Object;
use crate::status::*;
use crate::table::KeyRef;

/// Spin iterations before a waiting thread parks.
const SPIN: u32 = 20_000;

const OPEN: u8 = 0;
const CLOSED: u8 = 1;
const FAILED: u8 = 2;

/// The kind of a committed mutation (change feed) or of a submitted request.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum fm_op {
    FM_OP_INSERT = 1,
    FM_OP_REMOVE = 2,
    FM_OP_ADD = 3,
    FM_OP_UPDATE = 4,
    FM_OP_CLEAR = 5,
    /// Requests only: look a key up.
    FM_OP_GET = 6,
    /// Requests only: test for a key.
    FM_OP_CONTAINS = 7,
    /// Requests only: count entries.
    FM_OP_LEN = 8,
}
pub use fm_op::*;

impl fm_op {
    pub fn from_raw(raw: u32) -> Option<fm_op> {
        [
            FM_OP_INSERT,
            FM_OP_REMOVE,
            FM_OP_ADD,
            FM_OP_UPDATE,
            FM_OP_CLEAR,
            FM_OP_GET,
            FM_OP_CONTAINS,
            FM_OP_LEN,
        ]
        .into_iter()
        .find(|op| *op as u32 == raw)
    }
}

/// A key owned by a request or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedKey {
    None,
    Int(u64),
    Bytes(Vec<u8>),
}

impl OwnedKey {
    pub fn as_ref(&self) -> Option<KeyRef<'_>> {
        match self {
            OwnedKey::None => None,
            OwnedKey::Int(k) => Some(KeyRef::Int(*k)),
            OwnedKey::Bytes(b) => Some(KeyRef::Bytes(b)),
        }
    }
}

/// A value owned by a request, a result or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedVal {
    None,
    Int(i64),
    Float(f64),
    Bytes(Vec<u8>),
}

impl OwnedVal {
    pub fn as_ref(&self) -> Option<ValIn<'_>> {
        match self {
            OwnedVal::None => None,
            OwnedVal::Int(v) => Some(ValIn::Int(*v)),
            OwnedVal::Float(v) => Some(ValIn::Float(*v)),
            OwnedVal::Bytes(b) => Some(ValIn::Bytes(b)),
        }
    }
    /// The value a word of a map with values of `kind` stands for.
    ///
    /// # Safety
    /// A blob word must be alive for the call.
    pub unsafe fn from_word(kind: fm_kind, word: u64) -> OwnedVal {
        match kind {
            FM_INT => OwnedVal::Int(word as i64),
            FM_FLOAT => OwnedVal::Float(f64::from_bits(word)),
            _ => OwnedVal::Bytes(crate::blob::bytes(word as *const crate::blob::Blob).to_vec()),
        }
    }
}

/// One committed mutation.
#[derive(Debug, Clone)]
pub struct Event {
    pub seq: u64,
    pub op: fm_op,
    pub key: OwnedKey,
    pub value: OwnedVal,
    /// Events this subscriber lost just before this one.
    pub lost: u64,
}

/// A subscriber's bounded queue of events.
pub struct SubQueue {
    bound: usize,
    /// The bridge's owner thread, which must never wait on its own feed.
    owner: Option<ThreadId>,
    state: Mutex<SubState>,
    ready: Condvar,
}

#[derive(Default)]
struct SubState {
    events: VecDeque<Event>,
    lost: u64,
    closed: bool,
}

impl SubQueue {
    fn push(&self, e: &Event) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.events.len() == self.bound {
            s.events.pop_front();
            s.lost += 1;
        }
        s.events.push_back(e.clone());
        drop(s);
        self.ready.notify_one();
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.ready.notify_all();
    }

    /// The next event, waiting up to `timeout`. Err(FM_TIMEOUT) when none
    /// came, Err(FM_CLOSED) when the bridge is closed and all were read.
    pub fn next(&self, timeout: Option<Duration>) -> Result<Event> {
        if timeout != Some(Duration::ZERO) && self.owner == Some(thread::current().id()) {
            return fail(
                FM_REENTRANT,
                "the owner thread cannot wait on its own bridge's feed",
            );
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(mut e) = s.events.pop_front() {
                // Events dropped for lag were older than every queued one.
                e.lost = std::mem::take(&mut s.lost);
                return Ok(e);
            }
            if s.closed {
                return fail(
                    FM_CLOSED,
                    "the bridge is closed and every event was delivered",
                );
            }
            let wait = match deadline {
                None => Duration::from_secs(3600),
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return fail(FM_TIMEOUT, "no event within the timeout"),
                },
            };
            s = self
                .ready
                .wait_timeout(s, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Sequence numbers and subscribers of one bridge map. Mutations happen on
/// the owner thread only, so `commit` is never concurrent with itself.
#[derive(Default)]
pub struct Feed {
    seq: AtomicU64,
    has_subs: AtomicBool,
    subs: Mutex<Vec<Arc<SubQueue>>>,
}

thread_local! {
    /// On a bridge's owner thread, that bridge's shared state; null elsewhere.
    static OWNER_OF: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
    /// Sequence of the last mutation committed by the job running on this
    /// (owner) thread, or of the last mutation the calling thread asked for.
    static LAST_SEQ: Cell<u64> = const { Cell::new(0) };
}

/// The sequence number of the last bridge mutation the calling thread made
/// (0 if none).
pub fn last_seq() -> u64 {
    LAST_SEQ.with(Cell::get)
}

impl Feed {
    /// Records a committed mutation. Called by the map, under its shard lock.
    pub fn commit(&self, op: fm_op, key: OwnedKey, value: impl FnOnce() -> OwnedVal) {
        let seq = self.seq.load(Ordering::Relaxed) + 1;
        self.seq.store(seq, Ordering::Release);
        LAST_SEQ.with(|c| c.set(seq));
        if self.has_subs.load(Ordering::Acquire) {
            let e = Event {
                seq,
                op,
                key,
                value: value(),
                lost: 0,
            };
            for s in self.subs.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                s.push(&e);
            }
        }
    }

    pub fn last(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    fn subscribe(&self, bound: usize, owner: Option<ThreadId>) -> Arc<SubQueue> {
        let q = Arc::new(SubQueue {
            bound,
            owner,
            state: Mutex::default(),
            ready: Condvar::new(),
        });
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        subs.push(q.clone());
        self.has_subs.store(true, Ordering::Release);
        q
    }

    pub fn unsubscribe(&self, q: &Arc<SubQueue>) {
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| !Arc::ptr_eq(s, q));
        self.has_subs.store(!subs.is_empty(), Ordering::Release);
    }

    fn close_all(&self) {
        for s in self.subs.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            s.close();
        }
    }
}

/// Completion flag a caller waits on: spin, then park.
struct Completion {
    state: AtomicU8,
    waiter: Thread,
}

const PENDING: u8 = 0;
const PARKED: u8 = 1;
const DONE: u8 = 2;

impl Completion {
    fn new() -> Completion {
        Completion {
            state: AtomicU8::new(PENDING),
            waiter: thread::current(),
        }
    }
    fn complete(&self) {
        // Clone the handle first: once DONE is visible the waiter may return
        // and free `self`.
        let waiter = self.waiter.clone();
        if self.state.swap(DONE, Ordering::AcqRel) == PARKED {
            waiter.unpark();
        }
    }
    fn wait(&self) {
        for i in 0..SPIN {
            if self.state.load(Ordering::Acquire) == DONE {
                return;
            }
            if i % 64 == 63 {
                thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        if self
            .state
            .compare_exchange(PENDING, PARKED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        while self.state.load(Ordering::Acquire) != DONE {
            thread::park();
        }
    }
}

/// A synchronous job: a closure living on the waiting caller's stack.
trait Job {
    fn run(&mut self, map: &Map, guard: &Guard);
    fn fail(&mut self, err: Error);
}

struct SyncJob<F, R> {
    f: Option<F>,
    result: Option<Result<R>>,
    seq: u64,
    done: Completion,
}

impl<F: FnOnce(&Map, &Guard) -> Result<R>, R> Job for SyncJob<F, R> {
    fn run(&mut self, map: &Map, guard: &Guard) {
        LAST_SEQ.with(|c| c.set(0));
        let f = self.f.take().expect("a job runs once");
        self.result = Some(f(map, guard));
        self.seq = LAST_SEQ.with(Cell::get);
    }
    fn fail(&mut self, err: Error) {
        self.result = Some(Err(err));
    }
}

/// Pointer to a job on a blocked caller's stack.
struct JobPtr(*mut (dyn Job + 'static), *const Completion);
// SAFETY: the caller that owns the job blocks until the owner thread marks
// it complete; nothing else touches it meanwhile.
unsafe impl Send for JobPtr {}

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
    fn failed(n: usize, status: fm_status) -> Results {
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
                thread::yield_now();
            } else {
                std::hint::spin_loop();
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
        match unsafe { &*self.slot.get() } {
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
    unsafe fn take_requests(&self) -> Requests {
        match std::mem::replace(
            &mut *self.slot.get(),
            Slot::Results(Results::Many(Vec::new())),
        ) {
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
        match unsafe { &*self.slot.get() } {
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
pub struct TicketRef(NonNull<Object>);

// SAFETY: a TicketInner is Send + Sync, and the pointer stays valid while
// any reference is held (see `release_ticket`).
unsafe impl Send for TicketRef {}

impl TicketRef {
    /// A new reference to the ticket behind `object`, which the caller read
    /// from the registry and is still pinned for (so the handle's own
    /// reference is still held, and the count cannot be 0).
    pub fn acquire(object: &Object) -> Result<TicketRef> {
        ticket_of(object)?.state.fetch_add(T_REF, Ordering::Relaxed);
        Ok(TicketRef(NonNull::from(object)))
    }
}

impl Deref for TicketRef {
    type Target = TicketInner;
    fn deref(&self) -> &TicketInner {
        // SAFETY: a held reference keeps the object alive and a ticket.
        match unsafe { self.0.as_ref() } {
            Object::Ticket(t) => t,
            _ => unreachable!("a TicketRef names a ticket"),
        }
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
unsafe fn finish(ticket: TicketRef, results: Results) {
    *ticket.slot.get() = Slot::Results(results);
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
        // Publish and drop the queue's reference in one step.
        match ticket.state.compare_exchange_weak(
            cur,
            (cur | T_DONE) - T_REF,
            Ordering::AcqRel,
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

/// The ticket a registry object holds.
pub fn ticket_of(object: &Object) -> Result<&TicketInner> {
    match object {
        Object::Ticket(t) => Ok(t),
        _ => fail(FM_WRONG_KIND, "not a ticket"),
    }
}

/// Tickets kept per thread for reuse. Enough for the tickets one epoch
/// grace period frees at once in pipelined use (two sealed bags).
const TICKET_POOL: usize = 4096;

thread_local! {
    static TICKETS: RefCell<Vec<Box<Object>>> = const { RefCell::new(Vec::new()) };
}

/// A ticket object holding `requests`, from the pool when it has one.
fn new_ticket(requests: Requests, owner: Option<ThreadId>) -> Box<Object> {
    let pooled = TICKETS.try_with(|p| p.borrow_mut().pop()).ok().flatten();
    match pooled {
        Some(mut object) => {
            if let Object::Ticket(t) = &mut *object {
                // Pooled tickets had no references, waiters or requests left.
                *t.state.get_mut() = T_FRESH;
                t.owner = owner;
                *t.slot.get_mut() = Slot::Requests(requests);
                return object;
            }
            unreachable!("the ticket pool holds tickets only")
        }
        None => Box::new(Object::Ticket(TicketInner::new(requests, owner))),
    }
}

/// Drops one reference to the ticket object at `p`; the last one returns
/// it to the calling thread's pool (or frees it when the pool is full).
/// Also the registry's deferred drop for a freed ticket handle.
///
/// # Safety
/// `p` is a `Box<Object>` holding a ticket (from `new_ticket`) and the
/// caller owns one of its counted references.
pub unsafe fn release_ticket(p: *mut ()) {
    let p = p as *mut Object;
    let Object::Ticket(t) = &*p else {
        unreachable!("a ticket reference names a ticket")
    };
    if t.state.fetch_sub(T_REF, Ordering::Release) & T_REFS != T_REF {
        return;
    }
    // Everything the other holders did happens before the reuse.
    fence(Ordering::Acquire);
    recycle(Box::from_raw(p));
}

/// Returns an unreferenced ticket object to the calling thread's pool, or
/// frees it when the pool is full.
fn recycle(mut object: Box<Object>) {
    if let Object::Ticket(t) = &mut *object {
        // The results may hold value bytes: they go now, not at reuse.
        *t.slot.get_mut() = Slot::Results(Results::Many(Vec::new()));
    }
    let mut spare = Some(object);
    let _ = TICKETS.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < TICKET_POOL {
            pool.extend(spare.take());
        }
    });
    // Pool full or gone (thread exit): freed here, outside the borrow.
    drop(spare);
}

enum Msg {
    Sync(JobPtr),
    /// The ticket carries its requests.
    Batch(TicketRef),
    Close,
}

/// What the owner thread and whoever closes the bridge share. Closing
/// works through an `Arc` of this, so `fm_map_free` need not stay pinned
/// (holding up reclamation process-wide) while the queue drains.
pub struct Shared {
    state: AtomicU8,
    /// Submitters between the open check and the send.
    inflight: AtomicUsize,
    owner: OnceLock<ThreadId>,
    tx: Sender<Msg>,
    feed: Arc<Feed>,
    join: Mutex<Option<JoinHandle<()>>>,
}

/// The registry object behind a bridge map handle.
pub struct Bridge {
    map: Arc<Map>,
    shared: Arc<Shared>,
}

/// How long a submit may wait for room in the queue.
#[derive(Clone, Copy)]
pub enum Wait {
    /// Fail at once when the queue is full.
    Try,
    /// Wait up to this long.
    For(Duration),
    /// Wait as long as it takes.
    Forever,
}

impl Bridge {
    pub fn new(
        key_kind: fm_kind,
        val_kind: fm_kind,
        capacity: usize,
        queue: usize,
    ) -> Result<Bridge> {
        if queue == 0 || queue > 1 << 24 {
            return fail(
                FM_INVALID_ARGUMENT,
                format!("queue capacity {queue} must be between 1 and {}", 1 << 24),
            );
        }
        let feed = Arc::new(Feed::default());
        let mut map = Map::new(key_kind, val_kind, capacity)?;
        map.feed = Some(feed.clone());
        let map = Arc::new(map);
        let (tx, rx) = bounded(queue);
        let shared = Arc::new(Shared {
            state: AtomicU8::new(OPEN),
            inflight: AtomicUsize::new(0),
            owner: OnceLock::new(),
            tx,
            feed,
            join: Mutex::new(None),
        });
        let owner = {
            let (map, shared) = (map.clone(), shared.clone());
            thread::Builder::new()
                .name("ferrymap-bridge".into())
                .spawn(move || owner_loop(&map, &shared, rx))
                .map_err(|e| {
                    Error::new(
                        FM_OUT_OF_MEMORY,
                        format!("cannot start the owner thread: {e}"),
                    )
                })?
        };
        let _ = shared.owner.set(owner.thread().id());
        *shared.join.lock().unwrap_or_else(|p| p.into_inner()) = Some(owner);
        Ok(Bridge { map, shared })
    }

    pub fn map(&self) -> &Map {
        &self.map
    }

    pub fn feed(&self) -> &Arc<Feed> {
        &self.shared.feed
    }

    /// What closing needs, to close without holding the registry object.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    fn on_owner_thread(&self) -> bool {
        self.shared.on_owner_thread()
    }

    fn state_error(&self) -> Error {
        self.shared.state_error()
    }

    /// Sends a message unless closed, waiting for room as `wait` says.
    fn send(&self, msg: Msg, wait: Wait) -> Result<()> {
        self.shared.inflight.fetch_add(1, Ordering::SeqCst);
        let result = if self.shared.state.load(Ordering::SeqCst) != OPEN {
            Err(self.state_error())
        } else {
            match wait {
                Wait::Try => self.shared.tx.try_send(msg).map_err(|e| match e {
                    TrySendError::Full(_) => Error::new(FM_QUEUE_FULL, "the bridge queue is full"),
                    TrySendError::Disconnected(_) => self.state_error(),
                }),
                // A try first: the waiting sends' general path costs more
                // even when there is room.
                Wait::For(t) => match self.shared.tx.try_send(msg) {
                    Ok(()) => Ok(()),
                    Err(TrySendError::Full(msg)) => {
                        self.shared.tx.send_timeout(msg, t).map_err(|e| match e {
                            SendTimeoutError::Timeout(_) => Error::new(
                                FM_TIMEOUT,
                                "the bridge queue stayed full for the whole timeout",
                            ),
                            SendTimeoutError::Disconnected(_) => self.state_error(),
                        })
                    }
                    Err(TrySendError::Disconnected(_)) => Err(self.state_error()),
                },
                Wait::Forever => match self.shared.tx.try_send(msg) {
                    Ok(()) => Ok(()),
                    Err(TrySendError::Full(msg)) => {
                        self.shared.tx.send(msg).map_err(|_| self.state_error())
                    }
                    Err(TrySendError::Disconnected(_)) => Err(self.state_error()),
                },
            }
        };
        self.shared.inflight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Runs `f` on the owner thread and returns its result. The calling
    /// thread waits; from the owner thread itself (a callback) it runs inline.
    pub fn run<R>(&self, f: impl FnOnce(&Map, &Guard) -> Result<R>) -> Result<R> {
        if self.on_owner_thread() {
            let g = epoch::pin();
            return f(&self.map, &g);
        }
        let mut job = SyncJob {
            f: Some(f),
            result: None,
            seq: 0,
            done: Completion::new(),
        };
        let done: *const Completion = &job.done;
        let ptr: *mut (dyn Job + '_) = &mut job;
        // SAFETY: we erase the lifetime; `job` outlives its use because we
        // block below until the owner marks it complete (or never sent it).
        let ptr: *mut (dyn Job + 'static) = unsafe { std::mem::transmute(ptr) };
        self.send(Msg::Sync(JobPtr(ptr, done)), Wait::Forever)?;
        job.done.wait();
        if job.seq != 0 {
            LAST_SEQ.with(|c| c.set(job.seq));
        }
        job.result
            .take()
            .unwrap_or_else(|| fail(FM_INTERNAL_ERROR, "bridge job finished without a result"))
    }

    /// Queues a batch and returns the handle of its ticket at once. The
    /// ticket is registered before the batch is queued, so results can never
    /// be lost to a failed registration; if queueing fails the handle is
    /// freed again.
    pub fn submit(&self, requests: impl Into<Requests>, wait: Wait) -> Result<u64> {
        if !matches!(wait, Wait::Try) && self.on_owner_thread() {
            // Only the owner can make room in its own queue.
            return fail(
                FM_REENTRANT,
                "the owner thread cannot wait for room in its own queue (use a try-submit)",
            );
        }
        let mut object = new_ticket(requests.into(), self.shared.owner.get().copied());
        let queued = TicketRef(NonNull::from(&mut *object));
        // On failure the object is dropped unregistered and unqueued, so
        // `queued` (which would release it) must not live on.
        let handle = match crate::registry::insert_boxed(object) {
            Ok(h) => h,
            Err(e) => {
                std::mem::forget(queued);
                return Err(e);
            }
        };
        if let Err(e) = self.send(Msg::Batch(queued), wait) {
            let _ = crate::registry::remove(handle, crate::registry::FM_HANDLE_TICKET);
            return Err(e);
        }
        Ok(handle)
    }

    pub fn subscribe(&self, bound: usize) -> Result<Arc<SubQueue>> {
        if bound == 0 {
            return fail(
                FM_INVALID_ARGUMENT,
                "a subscription needs room for at least one event",
            );
        }
        if self.shared.state.load(Ordering::Acquire) != OPEN {
            return Err(self.state_error());
        }
        Ok(self
            .shared
            .feed
            .subscribe(bound, self.shared.owner.get().copied()))
    }

    pub fn failed(&self) -> bool {
        self.shared.state.load(Ordering::Acquire) == FAILED
    }

    /// Stops accepting requests, lets the owner answer everything accepted,
    /// and joins it. Idempotent. Must not be called from the owner thread.
    pub fn close(&self) -> Result<()> {
        self.shared.close()
    }
}

impl Shared {
    fn on_owner_thread(&self) -> bool {
        // A thread-local compare: `thread::current()` would clone and drop
        // an Arc on every submit.
        OWNER_OF.with(|o| std::ptr::eq(o.get(), self))
    }

    fn state_error(&self) -> Error {
        match self.state.load(Ordering::Acquire) {
            FAILED => Error::new(
                FM_BRIDGE_FAILED,
                "the bridge's owner thread failed (a caught panic)",
            ),
            _ => Error::new(FM_CLOSED, "the bridge map is closed"),
        }
    }

    /// See [`Bridge::close`].
    pub fn close(&self) -> Result<()> {
        if self.on_owner_thread() {
            return fail(
                FM_REENTRANT,
                "a bridge cannot be closed from its own owner thread",
            );
        }
        let Some(owner) = self.join.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(());
        };
        let _ = self
            .state
            .compare_exchange(OPEN, CLOSED, Ordering::SeqCst, Ordering::SeqCst);
        // Every submitter that saw OPEN finishes sending before the marker.
        while self.inflight.load(Ordering::SeqCst) != 0 {
            thread::yield_now();
        }
        let _ = self.tx.send(Msg::Close);
        let _ = owner.join();
        self.feed.close_all();
        Ok(())
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Normally closed by fm_map_free; this is the backstop.
        let _ = self.close();
    }
}

fn owner_loop(map: &Map, shared: &Shared, rx: Receiver<Msg>) {
    OWNER_OF.with(|o| o.set(shared));
    // Only this thread turns the bridge FAILED: a local copy spares reading
    // the shared state (which submitters write next to) for every message.
    let mut failed = false;
    loop {
        let msg = match next(&rx) {
            Some(m) => m,
            None => return,
        };
        if failed && !matches!(msg, Msg::Close) {
            refuse(
                msg,
                Error::new(
                    FM_BRIDGE_FAILED,
                    "the bridge's owner thread failed (a caught panic)",
                ),
            );
            continue;
        }
        match msg {
            Msg::Close => {
                // Everything accepted before close came before this marker.
                while let Ok(m) = rx.try_recv() {
                    refuse(m, Error::new(FM_CLOSED, "the bridge map is closed"));
                }
                return;
            }
            Msg::Sync(JobPtr(job, done)) => {
                let g = epoch::pin();
                // SAFETY: the caller blocks until `complete`.
                let outcome = catch_unwind(AssertUnwindSafe(|| unsafe { (*job).run(map, &g) }));
                if let Err(p) = outcome {
                    failed = true;
                    shared.state.store(FAILED, Ordering::Release);
                    // SAFETY: as above.
                    unsafe { (*job).fail(Error::from_panic(&*p)) };
                }
                drop(g);
                // SAFETY: as above; after this the caller may free the job.
                unsafe { (*done).complete() };
            }
            Msg::Batch(ticket) => {
                let g = epoch::pin();
                // SAFETY: this is the owner thread and the ticket came off the queue.
                let requests = unsafe { ticket.take_requests() };
                let n = requests.len();
                let outcome = catch_unwind(AssertUnwindSafe(|| match requests {
                    Requests::One(one) => Results::One(execute(map, &one, &g)),
                    Requests::Many(mut entries) => {
                        for e in entries.iter_mut() {
                            let Entry::Request(r) = e else {
                                unreachable!("a queued batch holds requests only")
                            };
                            let result = execute(map, r, &g);
                            // Drops the request: its bytes go now, not with the ticket.
                            *e = Entry::Result(result);
                        }
                        Results::Many(entries)
                    }
                }));
                drop(g);
                let results = outcome.unwrap_or_else(|_| {
                    failed = true;
                    shared.state.store(FAILED, Ordering::Release);
                    Results::failed(n, FM_INTERNAL_ERROR)
                });
                // SAFETY: owner thread, once.
                unsafe { finish(ticket, results) };
            }
        }
    }
}

/// Answers a message the bridge will not run (closed or failed).
fn refuse(msg: Msg, err: Error) {
    match msg {
        Msg::Sync(JobPtr(job, done)) => unsafe {
            // SAFETY: the caller blocks until `complete`.
            (*job).fail(err);
            (*done).complete();
        },
        // SAFETY: called on the owner thread for a ticket off the queue, once.
        Msg::Batch(ticket) => unsafe {
            let n = ticket.take_requests().len();
            finish(ticket, Results::failed(n, err.status))
        },
        Msg::Close => {}
    }
}

/// Pauses between polls of an empty queue. Polling reads the lines the
/// producers write; polling less often spares them a cache miss per send,
/// but each pause is also latency for the next request. Measured here
/// (sync get p50, 8 interleaved runs each): 1 pause 600-1050 ns, 2 pauses
/// 500-560 ns, 8 pauses 600-780 ns; pipelined throughput was the same for
/// all three.
const POLL_PAUSES: u32 = 2;

/// The next message: spin on the queue briefly (about as long as a waiting
/// caller spins), then block.
fn next(rx: &Receiver<Msg>) -> Option<Msg> {
    for i in 0..SPIN / POLL_PAUSES {
        match rx.try_recv() {
            Ok(m) => return Some(m),
            Err(crossbeam_channel::TryRecvError::Disconnected) => return None,
            Err(crossbeam_channel::TryRecvError::Empty) => {
                if i % 8 == 7 {
                    thread::yield_now();
                } else {
                    for _ in 0..POLL_PAUSES {
                        std::hint::spin_loop();
                    }
                }
            }
        }
    }
    rx.recv().ok()
}

/// Runs one submitted request on the owner thread. Inlined into the batch
/// loop: a call per request is measurable in large batches.
#[inline(always)]
fn execute(map: &Map, r: &Request, g: &Guard) -> ReqResult {
    // Reads commit nothing: spare them the thread-local traffic.
    let mutates = matches!(r.op, FM_OP_INSERT | FM_OP_REMOVE | FM_OP_ADD | FM_OP_CLEAR);
    if mutates {
        LAST_SEQ.with(|c| c.set(0));
    }
    let mut out = ReqResult {
        status: FM_OK,
        flag: false,
        seq: 0,
        len: 0,
        value: OwnedVal::None,
    };
    if let Err(e) = execute_into(map, r, g, &mut out) {
        out.status = e.status;
    }
    if mutates {
        out.seq = LAST_SEQ.with(Cell::get);
    }
    out
}

/// The body of [`execute`], a function of its own (rather than a closure)
/// so that it can be forced inline too.
#[inline(always)]
fn execute_into(map: &Map, r: &Request, g: &Guard, out: &mut ReqResult) -> Result<()> {
    let key = || {
        r.key
            .as_ref()
            .ok_or_else(|| Error::new(FM_INVALID_ARGUMENT, "request needs a key"))
    };
    let value = || {
        r.value
            .as_ref()
            .ok_or_else(|| Error::new(FM_INVALID_ARGUMENT, "request needs a value"))
    };
    match r.op {
        FM_OP_INSERT => out.flag = map.insert(key()?, value()?)?,
        FM_OP_REMOVE => out.flag = map.remove(key()?)?,
        FM_OP_ADD => {
            let word = map.add(key()?, value()?)?;
            // SAFETY: INT/FLOAT words only (add refuses other kinds).
            out.value = unsafe { OwnedVal::from_word(map.val_kind, word) };
        }
        FM_OP_GET => {
            let word = match r.key {
                // Requests were built for this map's key kind: INT keys take the fast probe.
                OwnedKey::Int(k) if map.key_kind == crate::map::FM_INT => map.get_int(k, g),
                _ => map.get_word(key()?, g)?,
            };
            if let Some(word) = word {
                out.flag = true;
                // SAFETY: found while pinned.
                out.value = unsafe { OwnedVal::from_word(map.val_kind, word) };
            }
        }
        FM_OP_CONTAINS => out.flag = map.contains(key()?, g)?,
        FM_OP_CLEAR => map.clear(),
        FM_OP_LEN => out.len = map.len() as u64,
        FM_OP_UPDATE => {
            return fail(
                FM_INVALID_ARGUMENT,
                "update takes a callback: use the synchronous call",
            )
        }
    }
    Ok(())
}
