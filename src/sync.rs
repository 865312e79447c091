//! Where the concurrency protocols take their atomics, fences, locks and
//! thread primitives from: the standard library's in every real build, and
//! the `loom` model checker's when the crate is built with `--cfg loom`
//! (`scripts/loom`, `docs/model-checking.md`).
//!
//! Only the modules whose protocols are model-checked go through here:
//! `epoch` (pin, retire, collect, write windows), `bias`, `table`, `map`
//! (sequence lock, copy-on-write, snapshots) and `bridge::ticket` (the
//! completion handshake). Everything else keeps `std` directly: under
//! loom it still works, outside the model's view.
//!
//! In the normal build every item is a plain re-export of `std` (and
//! [`UnsafeCell`] a transparent wrapper whose methods inline to the same
//! pointer operations), so the production code path is the one it was.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

/// Orderings and the compiler fence are the same in both builds (loom has
/// no compiler fence: it is only used where membarrier serves, which the
/// loom build never does; see `epoch::barrier_mode`).
pub(crate) use std::sync::atomic::{compiler_fence, Ordering};

/// A busy-wait hint. Under loom it yields to the scheduler, which a spin
/// loop must do there or it never lets the thread it waits for run.
#[inline(always)]
pub(crate) fn spin_loop() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::hint::spin_loop();
}

/// Gives up the processor (under loom: lets the scheduler pick another
/// thread).
#[inline]
pub(crate) fn yield_now() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// A cell whose contents are handed between threads by an atomic's
/// release and acquire. In the normal build it is `std`'s, and `with` and
/// `with_mut` are calls of the closure on its pointer; under loom it is
/// loom's, which checks that every access is ordered after the last
/// conflicting one (a missing happens-before is reported as a data race).
#[cfg(not(loom))]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }
    /// Calls `f` with a pointer for reading.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
    /// Calls `f` with a pointer for writing.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
    /// The contents, through exclusive access.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }
}

#[cfg(loom)]
pub(crate) struct UnsafeCell<T>(loom::cell::UnsafeCell<T>);

#[cfg(loom)]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(loom::cell::UnsafeCell::new(value))
    }
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        self.0.with(f)
    }
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        self.0.with_mut(f)
    }
    pub(crate) fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` is exclusive access.
        self.0.with_mut(|p| unsafe { &mut *p })
    }
}

/// A `static` holding atomics or a lock: a plain static in the normal
/// build; under loom a lazily made one, since loom's atomics cannot be
/// made in a constant and each explored execution needs fresh ones.
/// Either way it is used the same (`NAME.load(..)`, `NAME.lock()`).
macro_rules! sync_static {
    ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(loom))]
        $(#[$attr])*
        static $name: $t = $init;
        #[cfg(loom)]
        loom::lazy_static! {
            $(#[$attr])*
            static ref $name: $t = $init;
        }
    };
    ($(#[$attr:meta])* pub static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(loom))]
        $(#[$attr])*
        pub static $name: $t = $init;
        #[cfg(loom)]
        loom::lazy_static! {
            $(#[$attr])*
            pub static ref $name: $t = $init;
        }
    };
}
pub(crate) use sync_static;

/// A `thread_local!` with a constant initialiser: `std`'s in the normal
/// build, loom's (which runs the initialiser on first use in each modelled
/// thread) under loom.
macro_rules! sync_thread_local {
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const { $init:expr };) => {
        #[cfg(not(loom))]
        std::thread_local! {
            $(#[$attr])*
            $vis static $name: $t = const { $init };
        }
        #[cfg(loom)]
        loom::thread_local! {
            $(#[$attr])*
            $vis static $name: $t = $init;
        }
    };
}
pub(crate) use sync_thread_local;

/// The negative controls' switch (loom builds only): which one ordering
/// the code under test deliberately weakens, for the model that must then
/// fail (`loom_models::with_broken`). Per OS thread: loom runs every
/// modelled thread of a model on the thread that started it, so one test's
/// switch never reaches another's model.
#[cfg(loom)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Broken {
    /// `map::read_once` leaves out its acquire fence before re-reading the
    /// shard's sequence.
    SeqlockReadFence,
    /// `epoch::open_window` leaves out the owner's fence between announcing
    /// its window and checking that it still owns the bias.
    WindowFence,
    /// `objects::retire` frees a map handle without bumping the count of
    /// map frees that the per-thread memos check.
    MemoCount,
    /// `Table::shared` says no, so writers change tables that snapshots
    /// hold instead of copying them.
    CowShared,
    /// `bridge::ticket::finish` publishes DONE with a relaxed
    /// compare-and-swap instead of a release.
    TicketPublish,
    /// `epoch::enter` (every pin, and the resumption after a suspension)
    /// leaves out the reader's fence between announcing its epoch and
    /// loading what it reads.
    PinFence,
    /// `epoch::enter` stores the pinned epoch relaxed, as it did before
    /// the loom models.
    PinStoreRelaxed,
}

#[cfg(loom)]
std::thread_local! {
    static BROKEN: std::cell::Cell<Option<Broken>> = const { std::cell::Cell::new(None) };
}

#[cfg(all(loom, test))]
pub(crate) fn set_broken(what: Option<Broken>) {
    BROKEN.with(|b| b.set(what));
}

/// Whether the negative control `what` is on (loom builds only).
#[cfg(loom)]
pub(crate) fn broken(what: Broken) -> bool {
    BROKEN.with(|b| b.get()) == Some(what)
}
