//! Writer bias: one thread at a time may write a map without taking shard
//! locks.
//!
//! Most maps have one writing thread at a time. For that thread the shard
//! mutex is pure cost: its lock and unlock are two locked instructions per
//! write, and each drains the store buffer, so the cache miss of one insert
//! cannot overlap the next one's. A map therefore names an *owner* thread;
//! while it owns the bias, it writes inside a *window* instead of under the
//! lock, and every other thread that needs a shard lock first revokes the
//! bias.
//!
//! The window and the revocation are the two halves of a store-buffer
//! pattern made asymmetric, as the epoch scheme's pin is (see `epoch.rs`):
//!
//! - owner: store "writing this map" in its record, compiler fence, check it
//!   still owns the bias, write, clear the record (release);
//! - revoker: swap the owner for `REVOKING`, run a process-wide barrier
//!   (membarrier), wait until the owner's record no longer says it writes
//!   this map, set `NONE`.
//!
//! After the barrier, either the owner's check sees `REVOKING` (and it takes
//! the lock path) or the revoker sees the owner's flag (and waits for the
//! window to close). A thread holding a shard lock proceeds only once the
//! owner is `NONE` or itself, so lock holders and the owner never overlap.
//!
//! Acquiring the bias: a map is born owned by the thread that created it.
//! After a revocation, a thread that makes [`CLAIM_STREAK`] writes in a row
//! to one shard (counted under that shard's lock) claims it: it installs
//! itself as owner, then try-locks every shard once, so that every writer
//! that saw `NONE` under a lock has finished. If any shard is busy the claim
//! is abandoned: a map that several threads write at once stays unbiased.
//!
//! Revocation never takes a lock, so a thread may revoke while holding shard
//! locks. Windows never nest: they are opened only by library code that
//! runs no caller callbacks inside them (`update`, whose callback runs under
//! the shard lock, uses the lock path).

use std::sync::TryLockError;

use crate::sync::{AtomicUsize, Mutex, MutexGuard, Ordering};

use crate::epoch;

/// No owner: writers take shard locks.
const NONE: usize = 0;
/// A revoker is waiting for the owner's window to close.
const REVOKING: usize = 1;
/// Consecutive writes to one shard by one thread, under the lock, after
/// which that thread claims the bias. A claim costs a try-lock per shard and
/// a later revocation a membarrier (0.1-0.3 µs measured here), so a map
/// whose writer changes every few thousand writes pays under a nanosecond
/// a write; one whose writers take turns every ~64 writes to one shard pays
/// tens (see docs/architecture.md).
pub(crate) const CLAIM_STREAK: u32 = 64;

pub struct Bias {
    /// NONE, REVOKING, or the owner's thread id (`epoch::thread_id`; record
    /// addresses, never 0 or 1).
    owner: AtomicUsize,
}

/// A lock-free write window: the owner writes while it lives.
pub struct Window {
    me: usize,
}

impl Drop for Window {
    #[inline(always)]
    fn drop(&mut self) {
        epoch::close_window(self.me);
    }
}

/// Locks one shard mutex; poisoning is ignored (a panic while holding a
/// shard lock cannot leave a table half written: every step is one store).
pub fn lock(m: &Mutex<()>) -> MutexGuard<'_, ()> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Bias {
    /// A bias owned by `creator` (a thread id, or 0 for none) where windows
    /// are available, else none.
    pub fn new(creator: usize) -> Bias {
        let owner = if creator != NONE && epoch::windows_available() {
            creator
        } else {
            NONE
        };
        Bias {
            owner: AtomicUsize::new(owner),
        }
    }

    /// What a window names in its thread's record: this bias's address
    /// (stable: a map keeps its bias boxed).
    #[inline(always)]
    fn id(&self) -> usize {
        self as *const Bias as usize
    }

    /// Opens a window for thread `me` (its id; 0 never owns) if `me` owns
    /// the bias.
    #[inline(always)]
    pub fn enter(&self, me: usize) -> Option<Window> {
        if me == NONE || self.owner.load(Ordering::Relaxed) != me {
            return None;
        }
        epoch::open_window(me, self.id());
        if self.owner.load(Ordering::Relaxed) != me {
            epoch::close_window(me);
            return None;
        }
        Some(Window { me })
    }

    /// Locks `m` (a shard lock of this bias's map) for thread `me`,
    /// revoking the bias of any other owner first.
    pub fn lock<'m>(&self, m: &'m Mutex<()>, me: usize) -> MutexGuard<'m, ()> {
        let guard = lock(m);
        self.exclude_owner(me);
        guard
    }

    /// Returns once no thread but `me` owns the bias. Called under a shard
    /// lock: from then until the lock is released, no claim can complete.
    pub fn exclude_owner(&self, me: usize) {
        loop {
            let owner = self.owner.load(Ordering::Acquire);
            if owner == NONE || owner == me {
                return;
            }
            if owner == REVOKING {
                // Another thread is revoking: its wait is a window's length.
                crate::sync::yield_now();
                continue;
            }
            if self
                .owner
                .compare_exchange(owner, REVOKING, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                epoch::await_window(owner, self.id());
                self.owner.store(NONE, Ordering::Release);
                return;
            }
        }
    }

    /// Makes `me` the owner if nobody is, and no shard lock (of `locks`) is
    /// held. Called with no shard lock held by the caller.
    pub fn claim<'m>(&self, me: usize, locks: impl Iterator<Item = &'m Mutex<()>>) {
        if me == NONE || !epoch::windows_available() {
            return;
        }
        if self
            .owner
            .compare_exchange(NONE, me, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        for m in locks {
            // Only an unlocked mutex (a poisoned one is unlocked too)
            // proves that its last holder finished.
            let free = match m.try_lock() {
                Ok(_) => true,
                Err(TryLockError::Poisoned(_)) => true,
                Err(TryLockError::WouldBlock) => false,
            };
            if !free {
                // Nobody can have used a bias that was never confirmed;
                // a revoker that got there first leaves it REVOKING/NONE.
                let _ = self
                    .owner
                    .compare_exchange(me, NONE, Ordering::SeqCst, Ordering::Relaxed);
                return;
            }
        }
    }

    /// Whether thread `me` owns the bias (tests and stats).
    pub fn owned_by(&self, me: usize) -> bool {
        me != NONE && self.owner.load(Ordering::Relaxed) == me
    }
}
