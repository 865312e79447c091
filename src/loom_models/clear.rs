//! Model 7 (beyond the brief's six): `Map::clear` is one instant for
//! lock-free readers too. It makes every shard's sequence odd, swaps every
//! table out, then makes the sequences even again; a reader (`read_once`)
//! or `Map::len` that meets an odd sequence retries. So a reader that
//! finds one key gone finds a key of another shard gone as well. (`len`
//! is left out: its two passes over 64 shards against the clear's four
//! are more interleavings than a CI run affords.)

use std::sync::Arc;

use super::{check, spawn};
use crate::epoch;
use crate::hash;
use crate::kind::{KeyRef, ValIn, FM_INT};
use crate::map::Map;

/// Two INT keys in different shards, the first in the lower one (a clear
/// that went shard by shard, in order, would empty it first).
fn apart() -> (u64, u64) {
    hash::init();
    let shard = |k: u64| hash::shard_of(hash::int(k), 6);
    let a = 1u64;
    let c = (2u64..)
        .find(|&c| shard(c) != shard(a))
        .expect("another shard");
    if shard(a) < shard(c) {
        (a, c)
    } else {
        (c, a)
    }
}

fn model() {
    let (a, c) = apart();
    let map = Arc::new(Map::new(FM_INT, FM_INT, 0).expect("map"));
    map.insert(KeyRef::Int(a), ValIn::Int(10)).expect("insert");
    map.insert(KeyRef::Int(c), ValIn::Int(30)).expect("insert");
    let m = map.clone();
    let clearer = spawn(move || {
        let _pin = epoch::pin();
        m.clear();
    });
    let (first, second) = {
        let g = epoch::pin();
        (map.get_int(a, &g), map.get_int(c, &g))
    };
    clearer.join().expect("clearer");
    drop(map);
    assert!(
        !(first.is_none() && second.is_some()),
        "saw one shard cleared and another not: {first:?} then {second:?}"
    );
}

#[test]
fn clear_is_one_instant_for_readers() {
    check("clear", 3, model);
}
