//! Model 3: the per-thread memo of a map handle and its invalidation by a
//! free. A reader has resolved a map handle through the registry, which
//! filled its memo (`api::fast::get_int_resolving` -> `remember_map`),
//! and reads through the memo alone (`api::fast::get_int_plain`: the
//! memo's stamp against `epoch::map_frees`) while another thread frees
//! the handle (`api::free_map` -> `objects::free`/`retire`: clear the
//! handle, bump the count of map frees, retire the map through the epoch,
//! which frees it once no pinned thread can see it).
//!
//! The map's tables carry loom's lifetime witness (`table.rs`): a read of
//! a table that the free's collection did not wait for is reported as a
//! data race. And a read must answer the key's value or nothing (the
//! handle is gone), never a wrong one.
//!
//! The registry's own atomics are `std`'s, outside the model: loom runs
//! them as sequentially consistent operations but draws no ordering from
//! them. So the free starts only once the memo is filled (a release/
//! acquire flag): a lookup through the registry racing the free is the
//! epoch's store-buffer pattern over the registry's slot word, which the
//! model cannot see, and loom reports it as a race that is not one.

use std::sync::Arc;

use super::{check, spawn, with_broken};
use crate::api::{self, fast};
use crate::epoch;
use crate::kind::{KeyRef, ValIn, FM_INT};
use crate::map::Map;
use crate::objects::{self, MapObject};
use crate::sync::{AtomicBool, Broken, Ordering};

fn model() {
    let map = Map::new(FM_INT, FM_INT, 0).expect("map");
    map.insert(KeyRef::Int(5), ValIn::Int(50)).expect("insert");
    let handle = objects::insert(MapObject::Direct(map)).expect("handle");
    let filled = Arc::new(AtomicBool::new(false));
    let memo_filled = filled.clone();
    let reader = spawn(move || {
        // A thread's first call takes the general path (it has no record).
        drop(epoch::pin());
        let first = fast::get_int_resolving(handle, 5, FM_INT);
        memo_filled.store(true, Ordering::Release);
        let second = fast::get_int_plain(handle, 5, FM_INT);
        (first, second)
    });
    while !filled.load(Ordering::Acquire) {
        loom::thread::yield_now();
    }
    api::free_map(handle).expect("free");
    let (first, second) = reader.join().expect("reader");
    assert_eq!(first, Some(Some(50)), "the handle was live");
    for seen in [first, second] {
        assert!(
            matches!(seen, None | Some(Some(50))),
            "a read through a freed handle answered {seen:?}"
        );
    }
}

#[test]
fn memo_reader_never_outlives_a_freed_map() {
    check("memo", 5, model);
}

/// Negative control: a free that does not bump the count leaves the
/// reader's memo valid; a reader that pins after the free's barrier then
/// reads the map while the free's collection, which does not wait for
/// that pin, frees it.
#[test]
#[should_panic(expected = "loom model memo-broken failed")]
fn memo_without_the_free_count_is_caught() {
    with_broken(Broken::MemoCount, || check("memo-broken", 3, model));
}
