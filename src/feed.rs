//! The change feed: the sequence numbers of a map's committed mutations and
//! the bounded queues of its subscribers.
//!
//! A map that has a feed (a bridge map's) calls [`Feed::commit`] for every
//! mutation, under the shard lock, on the one thread that mutates it. Each
//! subscriber has a queue of at most `bound` events: when it is full the
//! oldest event is dropped and counted, and the next event handed out says
//! how many were lost, so a slow subscriber is told, never silently skipped.
//! An event that cannot be copied for lack of memory is counted as lost in
//! the same way: committing a mutation never fails because of its feed.
//!
//! This module sits below the map (which commits) and the bridge (which
//! owns the feed and hands out subscriptions); it knows neither.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use crate::kind::{OwnedKey, OwnedVal};
use crate::status::*;

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
    /// Requests only: store the value and hand back the one replaced (the
    /// change feed shows an FM_OP_INSERT).
    FM_OP_SWAP = 9,
    /// Requests only: hand back the value, or insert the request's if the
    /// key is absent (the result's flag says it inserted; the feed shows an
    /// FM_OP_INSERT then).
    FM_OP_GET_OR_INSERT = 10,
    /// Requests only: remove the key if its value equals the request's
    /// (FLOAT by bits); the flag says it did; FM_NOT_FOUND if absent (the
    /// feed shows an FM_OP_REMOVE).
    FM_OP_REMOVE_IF_EQUAL = 11,
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
            FM_OP_SWAP,
            FM_OP_GET_OR_INSERT,
            FM_OP_REMOVE_IF_EQUAL,
        ]
        .into_iter()
        .find(|op| *op as u32 == raw)
    }

    /// Whether a request of this kind reads a key (all but CLEAR and LEN).
    pub fn needs_key(self) -> bool {
        !matches!(self, FM_OP_CLEAR | FM_OP_LEN)
    }

    /// Whether a request of this kind reads a value (the delta for ADD, the
    /// expected value for REMOVE_IF_EQUAL).
    pub fn needs_value(self) -> bool {
        matches!(
            self,
            FM_OP_INSERT | FM_OP_ADD | FM_OP_SWAP | FM_OP_GET_OR_INSERT | FM_OP_REMOVE_IF_EQUAL
        )
    }

    /// Whether a request of this kind may change the map (and so gets a
    /// sequence number).
    pub fn mutates(self) -> bool {
        !matches!(self, FM_OP_GET | FM_OP_CONTAINS | FM_OP_LEN)
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
    /// The fork generation of the subscription: in a fork child no owner
    /// thread commits, so no event will come.
    born: u64,
    state: Mutex<SubState>,
    ready: Condvar,
}

#[derive(Default)]
struct SubState {
    events: VecDeque<Event>,
    lost: u64,
    closed: bool,
}

impl Event {
    /// `clone`, or `FM_OUT_OF_MEMORY`.
    fn try_clone(&self) -> Result<Event> {
        Ok(Event {
            key: self.key.try_clone()?,
            value: self.value.try_clone()?,
            ..*self
        })
    }
}

impl SubQueue {
    /// Queues a copy of `e` (None: the event could not be built), or
    /// counts it as lost.
    fn push(&self, e: Option<&Event>) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.events.len() == self.bound {
            s.events.pop_front();
            s.lost += 1;
        }
        let copy = e.map(Event::try_clone);
        match copy {
            Some(Ok(e)) if s.events.try_reserve(1).is_ok() => s.events.push_back(e),
            _ => s.lost += 1,
        }
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
            if self.born != crate::fork::generation() {
                return fail(FM_CLOSED, crate::fork::NO_OWNER_AFTER_FORK);
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
    /// Sequence of the last mutation committed by the job running on this
    /// (owner) thread, or of the last mutation the calling thread asked for.
    static LAST_SEQ: Cell<u64> = const { Cell::new(0) };
}

/// The sequence number of the last bridge mutation the calling thread made
/// (0 if none).
pub fn last_seq() -> u64 {
    LAST_SEQ.with(Cell::get)
}

/// Sets what [`last_seq`] reports on this thread: the bridge's owner
/// thread resets it before each job and hands the job's sequence number
/// back to the thread that asked for it.
pub(crate) fn set_last_seq(seq: u64) {
    LAST_SEQ.with(|c| c.set(seq));
}

impl Feed {
    /// Records a committed mutation. Called by the map, under its shard
    /// lock; `event` builds the key and value to hand subscribers, if any
    /// (when it fails for lack of memory, each counts the event as lost).
    pub fn commit(&self, op: fm_op, event: impl FnOnce() -> Result<(OwnedKey, OwnedVal)>) {
        let seq = self.seq.load(Ordering::Relaxed) + 1;
        self.seq.store(seq, Ordering::Release);
        set_last_seq(seq);
        if self.has_subs.load(Ordering::Acquire) {
            let e = event().ok().map(|(key, value)| Event {
                seq,
                op,
                key,
                value,
                lost: 0,
            });
            for s in self.subs.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                s.push(e.as_ref());
            }
        }
    }

    pub fn last(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// A new subscriber's queue, or `FM_OUT_OF_MEMORY`.
    pub(crate) fn subscribe(&self, bound: usize, owner: Option<ThreadId>) -> Result<Arc<SubQueue>> {
        let q = crate::alloc::try_arc(SubQueue {
            bound,
            owner,
            born: crate::fork::generation(),
            state: Mutex::default(),
            ready: Condvar::new(),
        })?;
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        subs.try_reserve(1)
            .map_err(|_| crate::alloc::out_of_memory())?;
        subs.push(q.clone());
        self.has_subs.store(true, Ordering::Release);
        Ok(q)
    }

    pub fn unsubscribe(&self, q: &Arc<SubQueue>) {
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| !Arc::ptr_eq(s, q));
        self.has_subs.store(!subs.is_empty(), Ordering::Release);
    }

    pub(crate) fn close_all(&self) {
        for s in self.subs.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            s.close();
        }
    }
}
