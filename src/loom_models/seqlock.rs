//! Model 1: the per-shard sequence lock. A reader's optimistic lookup
//! (`map::read_once` over `Table::get_int`, through `Map::get_int`) runs
//! while a writer removes a key (`Map::remove`: `Shard::write_window`
//! around `Table::remove_at`), which shifts a later key of the same probe
//! run back into the freed slot. Unguarded, the reader can load the slot
//! before the shift and the next one after it and miss a key that was
//! present throughout; the sequence must make it retry.

use std::sync::Arc;

use super::{check, spawn, with_broken};
use crate::epoch;
use crate::hash;
use crate::kind::{KeyRef, ValIn, FM_INT};
use crate::map::Map;
use crate::sync::Broken;

/// Two INT keys of one shard with one home slot in a shard's first table
/// (16 slots), so that the second sits right after the first.
pub(super) fn colliding_pair() -> (u64, u64) {
    hash::init();
    let a = 1u64;
    let ha = hash::int(a);
    let b = (2u64..)
        .find(|&b| {
            let hb = hash::int(b);
            hash::shard_of(hb, 6) == hash::shard_of(ha, 6) && hb & 15 == ha & 15
        })
        .expect("some key collides");
    (a, b)
}

fn model() {
    let (a, b) = colliding_pair();
    let map = Arc::new(Map::new(FM_INT, FM_INT, 0).expect("map"));
    map.insert(KeyRef::Int(a), ValIn::Int(10)).expect("insert");
    map.insert(KeyRef::Int(b), ValIn::Int(20)).expect("insert");
    let m = map.clone();
    let reader = spawn(move || {
        let g = epoch::pin();
        let v = m.get_int(b, &g);
        drop(g);
        v
    });
    assert_eq!(map.remove(KeyRef::Int(a)), Ok(true));
    let seen = reader.join().expect("reader");
    // Nothing of loom's may be dropped while a failed assertion unwinds.
    drop(map);
    assert_eq!(seen, Some(20), "a key that stayed was missed");
}

#[test]
fn seqlock_reader_never_misses_a_shifted_key() {
    check("seqlock", 6, model);
}

/// Negative control: without the acquire fence between the probe and the
/// sequence's second read, the reader can accept a probe that saw the
/// shift half done. Loom must find that execution.
#[test]
#[should_panic(expected = "loom model seqlock-broken failed")]
fn seqlock_without_the_read_fence_is_caught() {
    with_broken(Broken::SeqlockReadFence, || {
        check("seqlock-broken", 3, model)
    });
}
