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

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle, Thread, ThreadId};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, SendTimeoutError, Sender, TrySendError};

use crate::alloc::{check_room, try_arc};
use crate::epoch::{self, Guard};
use crate::feed::{last_seq, set_last_seq, Feed, SubQueue};
use crate::feed::{
    FM_OP_ADD, FM_OP_CLEAR, FM_OP_CONTAINS, FM_OP_GET, FM_OP_GET_OR_INSERT, FM_OP_INSERT,
    FM_OP_LEN, FM_OP_REMOVE, FM_OP_REMOVE_IF_EQUAL, FM_OP_SWAP, FM_OP_UPDATE,
};
use crate::fork;
use crate::kind::{fm_kind, OwnedKey, OwnedVal};
use crate::map::{Change, Map};
use crate::registry;
use crate::status::*;

/// Spin iterations before a waiting thread parks.
pub(crate) const SPIN: u32 = 20_000;

const OPEN: u8 = 0;
const CLOSED: u8 = 1;
const FAILED: u8 = 2;

thread_local! {
    /// On a bridge's owner thread, that bridge's shared state; null elsewhere.
    static OWNER_OF: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
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
        set_last_seq(0);
        let f = self.f.take().expect("a job runs once");
        self.result = Some(f(map, guard));
        self.seq = last_seq();
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

mod ticket;
use ticket::{finish, new_ticket};
pub use ticket::{
    free_ticket, ticket, Entry, ReqResult, Request, Requests, Results, ResultsRef, TicketInner,
    TicketRef,
};

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
    /// The fork generation the owner thread lives in (see `crate::fork`).
    born: u64,
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
        let feed = try_arc(Feed::default())?;
        let mut map = Map::new(key_kind, val_kind, capacity)?;
        map.feed = Some(feed.clone());
        let map = try_arc(map)?;
        // The channel's ring: one message and a stamp per place.
        check_room(
            queue.saturating_mul(std::mem::size_of::<Msg>() + std::mem::size_of::<usize>()),
        )?;
        let (tx, rx) = bounded(queue);
        let shared = try_arc(Shared {
            state: AtomicU8::new(OPEN),
            inflight: AtomicUsize::new(0),
            owner: OnceLock::new(),
            tx,
            feed,
            join: Mutex::new(None),
            born: {
                fork::watch();
                fork::generation()
            },
        })?;
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
    /// Waiting for room can take as long as the owner's current callback,
    /// so it waits suspended (`epoch::suspend`): this bridge stays alive
    /// meanwhile because closing it waits for every sender counted in
    /// `inflight`.
    fn send(&self, msg: Msg, wait: Wait) -> Result<()> {
        if self.shared.born != fork::generation() {
            // No owner thread to answer: fail now rather than wait forever.
            return fail(FM_CLOSED, fork::NO_OWNER_AFTER_FORK);
        }
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
                        let _suspended = epoch::suspend();
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
                        let _suspended = epoch::suspend();
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
    ///
    /// The caller waits suspended (`epoch::suspend`), so that a slow owner
    /// (a long callback) holds back no reclamation through it: `f` must not
    /// use anything the caller found under its own pin (it gets the owner's
    /// guard for what it finds itself), nor hand back anything that only a
    /// pin keeps alive.
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
        {
            // Only the job, on this stack, is used until it is done.
            let _suspended = epoch::suspend();
            job.done.wait();
        }
        if job.seq != 0 {
            set_last_seq(job.seq);
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
        let mut ticket = new_ticket(requests.into(), self.shared.owner.get().copied())?;
        let queued = TicketRef(NonNull::from(&mut *ticket));
        // On failure the ticket is dropped unregistered and unqueued, so
        // `queued` (which would release it) must not live on.
        let handle = match registry::insert(ticket) {
            Ok(h) => h,
            Err(e) => {
                std::mem::forget(queued);
                return Err(e);
            }
        };
        if let Err(e) = self.send(Msg::Batch(queued), wait) {
            let _ = free_ticket(handle);
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
        self.shared
            .feed
            .subscribe(bound, self.shared.owner.get().copied())
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
        if self.born != fork::generation() {
            // In a fork child the owner thread does not exist: nothing can
            // drain the queue and there is no thread to join. The map
            // closes as it stands.
            self.state.store(CLOSED, Ordering::SeqCst);
            std::mem::forget(owner);
            return Ok(());
        }
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
    let mutates = r.op.mutates();
    if mutates {
        set_last_seq(0);
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
        out.seq = last_seq();
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
            out.value = unsafe { OwnedVal::from_word(map.val_kind, word) }?;
        }
        FM_OP_GET => {
            let word = match r.key {
                // Requests were built for this map's key kind: INT keys take the fast probe.
                OwnedKey::Int(k) if map.key_kind == crate::kind::FM_INT => map.get_int(k, g),
                _ => map.get_word(key()?, g)?,
            };
            if let Some(word) = word {
                out.flag = true;
                // SAFETY: found while pinned. A copy that fails leaves the
                // result FM_OUT_OF_MEMORY, with the flag saying it was found.
                out.value = unsafe { OwnedVal::from_word(map.val_kind, word) }?;
            }
        }
        FM_OP_CONTAINS => out.flag = map.contains(key()?, g)?,
        FM_OP_SWAP => {
            let val = value()?;
            let mut prev = None;
            map.modify(key()?, &mut |cur| {
                prev = cur;
                Ok(Change::Put(val))
            })?;
            if let Some(w) = prev {
                out.flag = true;
                // SAFETY: the replaced word was retired after this pin began.
                out.value = unsafe { OwnedVal::from_word(map.val_kind, w) }?;
            }
        }
        FM_OP_GET_OR_INSERT => {
            let val = value()?;
            let mut found = None;
            map.modify(key()?, &mut |cur| {
                found = cur;
                Ok(cur.map_or(Change::Put(val), |_| Change::Keep))
            })?;
            match found {
                // SAFETY: a word of the map found while pinned.
                Some(w) => out.value = unsafe { OwnedVal::from_word(map.val_kind, w) }?,
                None => out.flag = true,
            }
        }
        FM_OP_REMOVE_IF_EQUAL => {
            let expected = value()?;
            map.check_val(expected)?;
            let mut present = false;
            map.modify(key()?, &mut |cur| {
                present = cur.is_some();
                out.flag = cur.is_some_and(|w| map.value_is(w, expected));
                Ok(if out.flag {
                    Change::Remove
                } else {
                    Change::Keep
                })
            })?;
            if !present {
                return Err(Error::not_found());
            }
        }
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
