//! When calls into the core give up the GIL.
//!
//! Bulk calls (get_many, set_many, remove_many, iteration batches, export,
//! import, clone) always detach: they take long enough for another Python
//! thread to use the time, and a detach costs well under a microsecond.
//!
//! Single-key calls stay attached: a lookup is about 10 ns and never waits
//! for anything, so detaching would cost more than the call. Writers do
//! take a shard lock, though, and `Map.update_value` runs Python code under
//! one. A Python thread that waits for that lock while holding the GIL
//! would deadlock with the callback, which needs the GIL to run. So every
//! call that may wait for a shard lock goes through [`blocking`]: attached
//! while no Python callback runs anywhere in the process (the usual case:
//! one relaxed load), detached while one does. Both the counter and the
//! check are touched only with the GIL held, and nothing between the check
//! and the call can release it, so a thread that stays attached cannot meet
//! a shard lock held by a running Python callback.
//!
//! Bridge maps are different: every call waits for the map's owner thread,
//! which runs update_value callbacks (Python code, needing the GIL) for any
//! caller. So every call on a bridge map detaches (`MapHandle::call` and
//! `MapHandle::blocking` in handle.rs; bridge.rs for tickets and the
//! change feed).

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::Python;

/// Python callbacks running inside the core (update_value), process-wide.
static CALLBACKS: AtomicUsize = AtomicUsize::new(0);

/// Marks a Python callback as running until dropped. Create and drop it with the GIL held.
pub struct CallbackRunning(());

impl CallbackRunning {
    pub fn enter(_py: Python<'_>) -> CallbackRunning {
        CALLBACKS.fetch_add(1, Ordering::Relaxed);
        CallbackRunning(())
    }
}

impl Drop for CallbackRunning {
    fn drop(&mut self) {
        CALLBACKS.fetch_sub(1, Ordering::Relaxed);
    }
}

thread_local! {
    /// Maps whose update_value callback is running on this thread, innermost last.
    static CALLBACKS_HERE: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Marks, on the thread running it, that a callback of map `h` is running,
/// until dropped. On a bridge map that thread is the owner thread: what
/// would wait for the owner thread from there would wait forever (a
/// submit to its full queue, a wait for a ticket or an event of the same
/// map); those calls check [`CallbackOf::inside`] and refuse instead
/// (ReentrantError), as the core refuses synchronous calls.
pub struct CallbackOf(());

impl CallbackOf {
    pub fn enter(h: u64) -> CallbackOf {
        CALLBACKS_HERE.with(|c| c.borrow_mut().push(h));
        CallbackOf(())
    }
    /// Whether this thread is running a callback of map `h`.
    pub fn inside(h: u64) -> bool {
        h != 0 && CALLBACKS_HERE.with(|c| c.borrow().contains(&h))
    }
}

impl Drop for CallbackOf {
    fn drop(&mut self) {
        CALLBACKS_HERE.with(|c| c.borrow_mut().pop());
    }
}

/// Asserts that a value may cross into a detached closure. The closures
/// given to [`detach`] and [`blocking`] run on the calling thread, before
/// they return; what they capture here is raw pointers into objects the
/// caller keeps alive (and never Python objects they would touch).
pub struct AssertSend<T>(pub T);
// SAFETY: see above; used only for synchronous closures on the same thread.
unsafe impl<T> Send for AssertSend<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for AssertSend<T> {}

impl<T> AssertSend<T> {
    #[inline]
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Runs `f` with the GIL released. `f` must not touch Python objects.
#[inline]
pub fn detach<R>(py: Python<'_>, f: impl FnOnce() -> R) -> R {
    let f = AssertSend(f);
    py.detach(move || AssertSend(f.into_inner()())).into_inner()
}

/// Runs a call that may wait for a shard lock (see the module comment).
#[inline]
pub fn blocking<R>(py: Python<'_>, f: impl FnOnce() -> R) -> R {
    if CALLBACKS.load(Ordering::Relaxed) == 0 {
        f()
    } else {
        detach(py, f)
    }
}
