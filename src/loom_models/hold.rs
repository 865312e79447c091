//! Model 6 (continued): a map freed while one of its `update` callbacks
//! runs with the thread suspended (`Map::update` -> `Map::suspended`: a
//! `Hold` on the map, then `epoch::suspend`; `objects::retire` ->
//! `Map::retire_when_idle`, which parks the map's retirement while a hold
//! is out; the last hold retires it once its thread is pinned again).
//!
//! The updater found the map through its handle while pinned and says so;
//! only then does the other thread free the handle (the registry's own
//! atomics are outside the model: see `memo`). The free lands before the
//! callback (the hold fails: FM_INVALID_HANDLE), during it (parked), or
//! after it. The map's tables carry loom's lifetime witness, so the
//! updater's reads of them around and after the callback must all come
//! before the map's drop; and the map must be freed by the end.

use std::sync::Arc;

use super::{check, spawn};
use crate::api;
use crate::epoch;
use crate::kind::{KeyRef, ValIn, FM_INT};
use crate::map::Map;
use crate::objects::{self, MapObject};
use crate::status::FM_INVALID_HANDLE;
use crate::sync::{AtomicBool, Ordering};

fn model() {
    let map = Map::new(FM_INT, FM_INT, 0).expect("map");
    map.insert(KeyRef::Int(5), ValIn::Int(50)).expect("insert");
    // The map's counters are shared with its iterators: a clone here
    // tells whether the map itself is gone.
    let counters = map.counters.clone();
    let handle = objects::insert(MapObject::Direct(map)).expect("handle");
    let found = Arc::new(AtomicBool::new(false));
    let told = found.clone();
    let updater = spawn(move || {
        let g = epoch::pin();
        let m = api::direct_map(handle, &g).expect("a live direct map");
        told.store(true, Ordering::Release);
        m.update(KeyRef::Int(5), &mut |v| {
            v.copy_from_slice(&51i64.to_ne_bytes());
            Ok(())
        })
        .map_err(|e| e.status)
    });
    while !found.load(Ordering::Acquire) {
        loom::thread::yield_now();
    }
    api::free_map(handle).expect("free");
    let outcome = updater.join().expect("updater");
    epoch::flush();
    let map_dropped = Arc::strong_count(&counters) == 1;
    assert!(
        matches!(outcome, Ok(()) | Err(FM_INVALID_HANDLE)),
        "update answered {outcome:?}"
    );
    assert!(map_dropped, "the freed map was never dropped");
}

#[test]
fn map_freed_during_a_suspended_callback() {
    check("epoch-hold", 5, model);
}
