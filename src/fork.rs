//! Which side of a `fork()` the process is on. A child inherits the
//! memory of every map but only the thread that forked: a bridge's owner
//! thread is not there, so bridge calls in a child must fail at once
//! instead of waiting for it. Objects that need a thread record the fork
//! generation when they are made and compare it on use.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

/// Forks this process descends through, counted in each child.
static FORKS: AtomicU64 = AtomicU64::new(0);

extern "C" fn in_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// Starts counting forks (once per process; cheap after the first call).
/// Call before recording a [`generation`] that must notice later forks.
pub fn watch() {
    static WATCH: Once = Once::new();
    WATCH.call_once(|| {
        // SAFETY: registers a handler that only bumps an atomic; the library
        // is never unmapped (-z nodelete), so the handler stays valid.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    });
}

/// What a call that needs a thread of the parent says in a child.
pub const NO_OWNER_AFTER_FORK: &str = "this bridge map's owner thread stayed in the parent \
     process: after fork() a child cannot use a bridge map, its tickets or its feed \
     (direct maps, iterators and views work)";

/// How many forks lie between the process's start and now (0 in the
/// process that first called [`watch`]).
#[inline]
pub fn generation() -> u64 {
    FORKS.load(Ordering::Relaxed)
}
