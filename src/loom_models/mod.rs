//! Loom models of the concurrency protocols (built only with `--cfg loom`
//! and `cfg(test)`; run by `scripts/loom`, described in
//! `docs/model-checking.md`).
//!
//! Each model drives the crate's own code (through `crate::sync`, which is
//! loom's there) from two or three modelled threads, and loom runs it once
//! for every interleaving and every permitted choice of the value an atomic
//! load sees, up to the preemption bound. A model fails when an assertion
//! fails in any of them, when loom sees two unordered accesses to an
//! `UnsafeCell` (a data race), or on a deadlock.
//!
//! Models of code private to a module live beside that module (see the
//! `#[path]` lines in `map.rs` and `bridge/ticket.rs`); this module holds
//! those that need only crate-visible items, and the runner.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod seqlock;

/// Runs `f` under loom with the preemption bound of `LOOM_MAX_PREEMPTIONS`
/// (`bound` when unset) and prints how many executions loom explored, as
/// `loom model NAME: N interleavings (preemption bound B)`, which
/// `scripts/loom` collects.
pub(crate) fn check(name: &str, bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    let bound = builder.preemption_bound.unwrap_or(bound);
    builder.preemption_bound = Some(bound);
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    builder.check(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        f()
    });
    eprintln!(
        "loom model {name}: {} interleavings (preemption bound {bound})",
        runs.load(Ordering::Relaxed)
    );
}

/// A test-only switch for the negative controls: set on the thread that
/// runs a model (loom runs every modelled thread of a model on the thread
/// that called it), it makes the code behind [`crate::sync::broken`] take a
/// deliberately wrong ordering, to show that the model catches it.
pub(crate) fn with_broken<R>(what: crate::sync::Broken, f: impl FnOnce() -> R) -> R {
    crate::sync::set_broken(Some(what));
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            crate::sync::set_broken(None);
        }
    }
    let _reset = Reset;
    f()
}
