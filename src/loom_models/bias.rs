//! Model 2: the writer bias and its revocation.
//!
//! `map_window_and_lock_exclude_each_other` drives a real map: the thread
//! that created it (and so owns its bias) inserts one key through its
//! lock-free window (`Map::insert` -> `Bias::enter`, `epoch::open_window`)
//! while another thread inserts a key of the same shard and home slot
//! under the shard lock, which first revokes the bias
//! (`Bias::exclude_owner`, `epoch::await_window`). Were the two writes to
//! overlap, both would fill the same vacant slot and one key would be
//! lost.
//!
//! `window_lock_and_claim_exclude_each_other` drives `Bias` itself with
//! two shard locks, and stands for the shard's table with a loom cell:
//! every write to it is made with write access (the window or the lock),
//! so loom reports any two writes it finds unordered. The second thread
//! writes under the lock (revoking), then claims the bias (`Bias::claim`)
//! and writes again, through a window if its claim held; the first writes
//! twice, through its window or, once revoked, under the lock (revoking
//! the claimer in turn).

use std::sync::Arc;

use super::seqlock::colliding_pair;
use super::{check, spawn, with_broken};
use crate::bias::Bias;
use crate::epoch;
use crate::kind::{KeyRef, ValIn, FM_INT};
use crate::map::Map;
use crate::sync::{Broken, Mutex};
use loom::cell::UnsafeCell;

fn map_model() {
    let (a, b) = colliding_pair();
    let owner_pin = epoch::pin();
    let map = Arc::new(Map::new(FM_INT, FM_INT, 0).expect("map"));
    assert!(
        map.biased_to_caller(),
        "a map is born biased to its creator"
    );
    // The shard's table exists before the race (its creation is a write
    // like any other, but doubles the explored executions).
    map.insert(KeyRef::Int(a + b), ValIn::Int(0))
        .expect("insert");
    map.remove(KeyRef::Int(a + b)).expect("remove");
    drop(owner_pin);
    let m = map.clone();
    let other = spawn(move || {
        let _pin = epoch::pin();
        m.insert(KeyRef::Int(b), ValIn::Int(20)).expect("insert b")
    });
    {
        let _pin = epoch::pin();
        assert_eq!(map.insert(KeyRef::Int(a), ValIn::Int(10)), Ok(false));
    }
    assert_eq!(other.join().expect("other writer"), false);
    let g = epoch::pin();
    let seen = (map.get_int(a, &g), map.get_int(b, &g), map.len());
    // Nothing of loom's may be dropped while a failed assertion unwinds.
    drop(g);
    drop(map);
    assert_eq!(seen.0, Some(10), "the owner's key was lost");
    assert_eq!(seen.1, Some(20), "the lock holder's key was lost");
    assert_eq!(seen.2, 2);
}

#[test]
fn map_window_and_lock_exclude_each_other() {
    check("bias-map", 6, map_model);
}

/// Negative control: an owner that announces its window without the fence
/// can miss the revocation while the revoker misses its window (the
/// store-buffer outcome), and both write the slot.
#[test]
#[should_panic(expected = "loom model bias-map-broken failed")]
fn window_without_its_fence_is_caught() {
    with_broken(Broken::WindowFence, || {
        check("bias-map-broken", 3, map_model)
    });
}

struct Shared {
    bias: Bias,
    locks: [Mutex<()>; 2],
    /// Stands for shard 0's table: written only with write access.
    data: UnsafeCell<u64>,
}

// SAFETY: `data` is written only with write access; whether that access
// excludes the other thread's is what the model checks (loom reports
// any two unordered writes).
unsafe impl Sync for Shared {}

/// One write of shard 0 by thread `me`, as `Map::with_write` makes it.
fn write(s: &Shared, me: usize) {
    if let Some(_window) = s.bias.enter(me) {
        s.data.with_mut(|p| unsafe { *p += 1 });
        return;
    }
    let _lock = s.bias.lock(&s.locks[0], me);
    s.data.with_mut(|p| unsafe { *p += 1 });
}

fn claim_model() {
    let _pin = epoch::pin();
    let me = epoch::thread_id();
    let shared = Arc::new(Shared {
        bias: Bias::new(me),
        locks: [Mutex::new(()), Mutex::new(())],
        data: UnsafeCell::new(0),
    });
    let s = shared.clone();
    let other = spawn(move || {
        let _pin = epoch::pin();
        let me = epoch::thread_id();
        {
            let _lock = s.bias.lock(&s.locks[0], me);
            assert!(!s.bias.owned_by(me));
            s.data.with_mut(|p| unsafe { *p += 1 });
        }
        s.bias.claim(me, s.locks.iter());
        write(&s, me);
    });
    write(&shared, me);
    write(&shared, me);
    other.join().expect("other writer");
    assert_eq!(shared.data.with(|p| unsafe { *p }), 4);
}

#[test]
fn window_lock_and_claim_exclude_each_other() {
    check("bias-claim", 5, claim_model);
}
