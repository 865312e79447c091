//! Model 4: copy-on-write after a snapshot. One thread takes a snapshot
//! of a map (`Map::snapshot`: every shard lock in order, a reference to
//! each table) and reads it twice (`Snapshot::tables`,
//! `Table::for_each_word`), then drops it (`table::release`). Another
//! thread meanwhile overwrites a key and inserts a new one in the same
//! shard (`Map::insert`: `Map::writable` copies a table that a snapshot
//! shares, and retires the shard's reference to the old one).
//!
//! A snapshot must not change while it is held, and must show the map as
//! of one instant: before both writes, between them, or after both. The
//! tables' lifetime witness (`table.rs`) also makes loom check that the
//! last release of each table, by whichever thread, comes after every
//! read of it.

use std::sync::Arc;

use super::seqlock::colliding_pair;
use super::{check, spawn, with_broken};
use crate::epoch;
use crate::kind::{KeyRef, ValIn, FM_INT};
use crate::map::{Map, Snapshot};
use crate::sync::Broken;

fn contents(snap: &Snapshot) -> Vec<(u64, u64)> {
    let mut v = Vec::new();
    for t in snap.tables() {
        t.for_each_word(|k, w| v.push((k, w)));
    }
    v.sort_unstable();
    v
}

fn model() {
    let (a, b) = colliding_pair();
    let map = Arc::new(Map::new(FM_INT, FM_INT, 0).expect("map"));
    map.insert(KeyRef::Int(a), ValIn::Int(10)).expect("insert");
    let m = map.clone();
    let writer = spawn(move || {
        let _pin = epoch::pin();
        assert_eq!(m.insert(KeyRef::Int(a), ValIn::Int(11)), Ok(true));
        assert_eq!(m.insert(KeyRef::Int(b), ValIn::Int(20)), Ok(false));
    });
    let (first, second) = {
        let _pin = epoch::pin();
        let snap = map.snapshot().expect("snapshot");
        (contents(&snap), contents(&snap))
    };
    writer.join().expect("writer");
    drop(map);
    let instants = [vec![(a, 10)], vec![(a, 11)], {
        let mut v = vec![(a, 11), (b, 20)];
        v.sort_unstable();
        v
    }];
    assert_eq!(first, second, "a snapshot changed while it was held");
    assert!(
        instants.contains(&first),
        "a snapshot showed no instant of the map: {first:?}"
    );
}

#[test]
fn snapshot_is_an_unchanging_instant() {
    check("snapshot-cow", 4, model);
}

/// Negative control: writers that do not see that a snapshot shares the
/// table write into it.
#[test]
#[should_panic(expected = "loom model snapshot-cow-broken failed")]
fn writing_into_a_shared_table_is_caught() {
    with_broken(Broken::CowShared, || check("snapshot-cow-broken", 3, model));
}
