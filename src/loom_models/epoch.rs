//! Model 6: the epoch scheme's pin, retire and collect, and the suspension
//! of a pin while user code runs in a callback (`epoch.rs`).
//!
//! A shared slot (a loom `AtomicPtr`) points to a node, a loom cell; a
//! writer replaces the node and retires the old one (`epoch::retire`,
//! sealed at once, so it runs `seal`: a new epoch, the heavy barrier, and
//! `collect`). The node's drop writes the cell, so loom reports any read of
//! a node that the scheme did not order before its drop.
//!
//! `pin_retire_collect`: a reader loads and reads the node under `pin`,
//! then again under the fast paths' `pin_outermost_read`, while the writer
//! replaces and retires it twice. Every node must be freed by the end.
//!
//! `suspension`: the reader pins and reads a node, then suspends its pin
//! (`epoch::suspend`, as a callback's caller does) and says so. The writer
//! waits for that, replaces and retires the node, and it must be freed by
//! that very retirement: a suspended thread holds nothing back. Once told
//! so, and racing the writer's next two replacements, the reader makes a call from
//! its callback (a nested `pin`, whose drop suspends it again), and
//! resumes (dropping the `Suspended`): both must protect what it reads.

use std::sync::atomic::AtomicUsize as StdAtomicUsize;
use std::sync::Arc;

use loom::cell::UnsafeCell;

use super::{check, spawn, with_broken};
use crate::epoch::{self, Deferred};
use crate::sync::{AtomicBool, AtomicPtr, Broken, Ordering};

/// Nodes dropped in the current execution (loom runs one at a time, on
/// one OS thread: a plain counter, reset at each start).
static DROPS: StdAtomicUsize = StdAtomicUsize::new(0);

struct Node(UnsafeCell<u64>);

fn node(v: u64) -> *mut Node {
    Box::into_raw(Box::new(Node(UnsafeCell::new(v))))
}

/// The retired node's drop: a write of its cell. Its memory is left
/// allocated (a few bytes per execution): a reader that the scheme failed
/// to protect must reach loom's check of the cell, not freed memory.
unsafe fn drop_node(p: *mut ()) {
    let n = &*p.cast::<Node>();
    n.0.with_mut(|v| *v = 0);
    DROPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Reads the node the slot points to, if any: its value, never 0 (a
/// dropped node's).
fn read(slot: &AtomicPtr<Node>) -> Option<u64> {
    let p = slot.load(Ordering::Acquire);
    // SAFETY: the caller is pinned: what it can reach is not freed.
    let v = unsafe { p.as_ref() }.map(|n| n.0.with(|v| unsafe { *v }));
    assert_ne!(v, Some(0), "read a dropped node");
    v
}

/// Replaces the slot's node with `next` and retires the old one.
fn replace(slot: &AtomicPtr<Node>, next: *mut Node) {
    let old = slot.swap(next, Ordering::AcqRel);
    // SAFETY: unlinked above; dropped once, by the epoch.
    unsafe { epoch::retire(Deferred::new(old.cast(), drop_node), epoch::SEAL_NOW) };
}

fn pin_retire_collect() {
    DROPS.store(0, std::sync::atomic::Ordering::Relaxed);
    let slot = Arc::new(AtomicPtr::new(node(1)));
    let s = slot.clone();
    let reader = spawn(move || {
        let g = epoch::pin();
        read(&s);
        drop(g);
        let g = epoch::pin_outermost_read().expect("an idle record");
        read(&s);
        drop(g);
    });
    replace(&slot, node(2));
    replace(&slot, std::ptr::null_mut());
    reader.join().expect("reader");
    epoch::flush();
    let freed = DROPS.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(freed, 2, "a node retired by nobody's pin was not freed");
}

#[test]
fn pin_retire_collect_protect_readers() {
    check("epoch", 4, pin_retire_collect);
}

/// Negative control: a pin without its fence lets the writer's collection
/// miss a reader that already loaded the node.
#[test]
#[should_panic(expected = "loom model epoch-broken failed")]
fn pin_without_its_fence_is_caught() {
    with_broken(Broken::PinFence, || {
        check("epoch-broken", 3, pin_retire_collect)
    });
}

/// Negative control, and the model's finding: a pin that stores its epoch
/// relaxed. A reader reads a node in one pin and unpins (a release store
/// of 0), then pins again at the epoch of the node's retirement; the
/// writer's collection reads that epoch, which tells it the new pin cannot
/// see the node, but (no release sequence runs through the relaxed store)
/// is not ordered after the first pin's read, and frees the node. Loom
/// finds it only with four preemptions.
#[test]
#[should_panic(expected = "loom model epoch-relaxed-pin failed")]
fn relaxed_pin_store_is_caught() {
    with_broken(Broken::PinStoreRelaxed, || {
        check("epoch-relaxed-pin", 4, pin_retire_collect)
    });
}

fn suspension() {
    DROPS.store(0, std::sync::atomic::Ordering::Relaxed);
    let slot = Arc::new(AtomicPtr::new(node(1)));
    let suspended = Arc::new(AtomicBool::new(false));
    let retired = Arc::new(AtomicBool::new(false));
    let (s, told, heard) = (slot.clone(), suspended.clone(), retired.clone());
    let reader = spawn(move || {
        let g = epoch::pin();
        assert_eq!(read(&s), Some(1));
        let paused = epoch::suspend();
        told.store(true, Ordering::Release);
        while !heard.load(Ordering::Acquire) {
            loom::thread::yield_now();
        }
        {
            // A call into ferrymap from the callback.
            let _inner = epoch::pin();
            read(&s);
        }
        drop(paused);
        read(&s);
        drop(g);
    });
    while !suspended.load(Ordering::Acquire) {
        loom::thread::yield_now();
    }
    replace(&slot, node(2));
    let freed_at_once = DROPS.load(std::sync::atomic::Ordering::Relaxed);
    retired.store(true, Ordering::Release);
    replace(&slot, node(3));
    replace(&slot, std::ptr::null_mut());
    reader.join().expect("reader");
    epoch::flush();
    let freed = DROPS.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        freed_at_once, 1,
        "a suspended thread held back a retirement"
    );
    assert_eq!(freed, 3, "a node was never freed");
}

#[test]
fn suspended_pin_holds_back_nothing_and_resumes_protected() {
    check("epoch-suspend", 4, suspension);
}

/// Negative control: the same, with the fence of `enter` left out: a
/// resumption (or the nested pin) no longer protects what it reads.
#[test]
#[should_panic(expected = "loom model epoch-suspend-broken failed")]
fn resume_without_its_fence_is_caught() {
    with_broken(Broken::PinFence, || {
        check("epoch-suspend-broken", 3, suspension)
    });
}
