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

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

mod bias;
mod clear;
mod epoch;
mod hold;
mod memo;
mod seqlock;
mod snapshot;

/// Runs `f` under loom with the preemption bound of `LOOM_MAX_PREEMPTIONS`
/// (`bound` when unset) and prints how many executions loom explored, as
/// `loom model NAME: N interleavings (preemption bound B)`, which
/// `scripts/loom` collects.
///
/// A panic of `f` itself (a failed assertion of the model) is caught and
/// counted, and `check` panics with the first one's message once loom is
/// done: left to unwind through loom, it would have loom drop the failed
/// execution's thread-locals (the epoch's) outside the model, which
/// aborts the process instead of failing the test. Panics loom raises in
/// modelled threads (data races, deadlocks) still fail the test at once.
pub(crate) fn check(name: &str, bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    let bound = builder.preemption_bound.unwrap_or(bound);
    builder.preemption_bound = Some(bound);
    // A map has 64 shards: making, measuring and dropping one are hundreds
    // of atomic operations, each a branch point for loom (default 1,000).
    builder.max_branches = builder.max_branches.max(20_000);
    let runs = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new((0usize, None::<String>)));
    let (counted, failed) = (runs.clone(), failures.clone());
    let explored = catch_unwind(AssertUnwindSafe(|| {
        builder.check(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            // The main thread's bag is sealed while the model's statics
            // exist: loom drops them before that thread's thread-locals.
            let run = || {
                f();
                crate::epoch::flush();
            };
            if let Err(panic) = catch_unwind(AssertUnwindSafe(run)) {
                let mut failed = failed.lock().unwrap_or_else(|p| p.into_inner());
                failed.0 += 1;
                failed.1.get_or_insert(message(&*panic));
            }
        })
    }));
    let runs = runs.load(Ordering::Relaxed);
    let (failed, first) = std::mem::take(&mut *failures.lock().unwrap_or_else(|p| p.into_inner()));
    // What loom itself raised (a data race, a deadlock) ends the search.
    let loom_found = explored.err().map(|p| message(&*p));
    eprintln!(
        "loom model {name}: {runs} interleavings (preemption bound {bound}), {failed} failed{}",
        if loom_found.is_some() {
            ", then loom stopped"
        } else {
            ""
        }
    );
    for m in first.iter().chain(loom_found.iter()) {
        eprintln!("    {}", m.lines().next().unwrap_or(""));
    }
    if first.is_some() || loom_found.is_some() {
        panic!(
            "loom model {name} failed: {failed} of {runs} interleavings failed the model's checks{}{}",
            first.map_or(String::new(), |m| format!("; first: {m}")),
            loom_found.map_or(String::new(), |m| format!("; loom: {m}")),
        );
    }
}

fn message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Spawns a modelled thread that seals its epoch bag before it ends.
/// Loom lets `join` return before the thread's thread-locals are dropped,
/// possibly after the model's statics are gone; the epoch's destructor
/// then has nothing left to seal.
pub(crate) fn spawn<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> loom::thread::JoinHandle<T> {
    loom::thread::spawn(move || {
        let r = f();
        crate::epoch::flush();
        r
    })
}

/// A test-only switch for the negative controls: set on the thread that
/// runs a model (loom runs every modelled thread of a model on the thread
/// that called it), it makes the code behind [`crate::sync::broken`] take a
/// deliberately wrong ordering, to show that the model catches it.
///
/// The executions that fail are expected, so their panic messages are not
/// printed meanwhile (the panic hook is process-wide: `scripts/loom` runs
/// the models one at a time); `check` still reports how many failed.
pub(crate) fn with_broken<R>(what: crate::sync::Broken, f: impl FnOnce() -> R) -> R {
    crate::sync::set_broken(Some(what));
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    crate::sync::set_broken(None);
    outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
