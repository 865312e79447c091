//! The integer fast paths: a thread that keeps using one direct INT-keyed
//! map finds it in a per-thread memo (`epoch::MapCache`) instead of the
//! registry, and the plain cases run without a panic boundary (nothing in
//! them can panic) and call nothing on their common path. Both the C ABI
//! and the JNI layer start their integer gets and inserts here and fall
//! back to the general path when these answer None.

use std::panic::catch_unwind;
use std::sync::atomic::Ordering;

use crate::epoch;
use crate::kind::{fm_kind, FM_INT};
use crate::map::{fast_int_schema, Shards, FAST_SCHEMA_MASK};
use crate::objects::MapObject;
use crate::registry;

/// The plain case of the integer inserts: a direct map with INT keys and
/// `val_kind` values (INT or FLOAT, as the word `vword`) that this thread
/// remembers (`int_map_shards`), whose writer bias it owns and whose
/// key's shard has room (`Shards::insert_int_plain`). Some(whether a value
/// was replaced), or None with nothing changed.
///
/// It cannot panic, so it runs without a panic boundary, under a pin that
/// never collects; and it calls nothing on its common path (a probe past
/// the first group of tags goes out of line), so the export saves few
/// registers: at 10M keys the insert is bound by how much it executes
/// while its slot's line comes in, and every saved register counts.
#[inline(always)]
pub(crate) fn insert_int_plain(map: u64, key: u64, val_kind: fm_kind, vword: u64) -> Option<bool> {
    let g = epoch::pin_outermost_read()?;
    remembered_int_map(map, val_kind, &g)?.insert_int_plain(key, vword, g.thread_id())
}

/// The plain case of the integer gets: a direct map with INT keys and
/// `val_kind` values (INT or FLOAT) that this thread remembers
/// (`int_map_shards`), read without a lock (`Shards::get_int_optimistic`).
/// Some(the value word, if present), or None for the slow path.
///
/// It runs without a panic boundary, which cost this call about a third
/// of its time (an out-of-line call with its arguments and result passed
/// through memory). Nothing in it can panic: the memo and the map's
/// optimistic probe are plain atomics and pointer arithmetic on masked
/// indices, and a [`epoch::ReadPin`] frees nothing when it is left. And it
/// calls nothing, so the export saves few registers.
#[inline(always)]
pub(crate) fn get_int_plain(map: u64, key: u64, val_kind: fm_kind) -> Option<Option<u64>> {
    let g = epoch::pin_outermost_read()?;
    remembered_int_map(map, val_kind, &g)?.get_int_optimistic(key)
}

/// The integer get when the plain case did not answer: the same lookup
/// after resolving the handle through the registry (which refills the
/// memo), with the retries and the locked fallback for a reader that
/// writers keep overtaking (a mutex whose poisoning is ignored: nothing
/// here can panic either). None for anything else (a bridge, another
/// schema, a bad handle, re-entry): the general path explains.
pub(crate) fn get_int_resolving(map: u64, key: u64, val_kind: fm_kind) -> Option<Option<u64>> {
    let g = epoch::pin_outermost_read()?;
    Some(int_map_shards(map, val_kind, &g)?.get_int(key))
}

/// The integer insert when the plain case did not answer: the plain case
/// again after resolving the handle through the registry (which refills
/// the memo); then growth, copy-on-write and locked writes under an
/// ordinary pin (they allocate and retire), inside a panic boundary.
/// Some(whether a value was replaced), or None, with nothing changed, for
/// the general path (which also reports every error; an insert that ran
/// out of memory changed nothing and ends there too).
pub(crate) fn insert_int_resolving(
    map: u64,
    key: u64,
    val_kind: fm_kind,
    vword: u64,
) -> Option<bool> {
    let plain = || {
        let g = epoch::pin_outermost_read()?;
        int_map_shards(map, val_kind, &g)?.insert_int_plain(key, vword, g.thread_id())
    };
    let direct = || {
        catch_unwind(|| {
            let g = epoch::pin_outermost()?;
            match super::direct_map(map, &g) {
                Some(m) if m.key_kind == FM_INT && m.val_kind == val_kind => {
                    m.insert_int(key, vword).ok()
                }
                _ => None,
            }
        })
        .ok()
        .flatten()
    };
    plain().or_else(direct)
}

/// The shards of the direct map with INT keys and `val_kind` values behind
/// `map`; None for anything else (a bridge map, another schema, a bad
/// handle). A thread that keeps using one map finds it in its memo
/// (`epoch::MapCache`) without going through the registry.
#[inline(always)]
fn int_map_shards<'g>(map: u64, val_kind: fm_kind, g: &'g epoch::Guard) -> Option<&'g Shards> {
    match remembered_int_map(map, val_kind, g) {
        Some(shards) => Some(shards),
        None => int_map_of_word(remember_map(map, g.map_cache())?, val_kind, g),
    }
}

/// `int_map_shards` when the memo answers; None otherwise. Calls nothing.
#[inline(always)]
fn remembered_int_map<'g>(map: u64, val_kind: fm_kind, g: &'g epoch::Guard) -> Option<&'g Shards> {
    let memo = g.map_cache();
    if memo.handle.load(Ordering::Relaxed) != map
        || memo.stamp.load(Ordering::Relaxed)
            != memo_stamp(epoch::map_frees(), fast_int_schema(val_kind))
    {
        return None;
    }
    let shards = memo.shards.load(Ordering::Relaxed) as *const Shards;
    // SAFETY: the shards of a map whose handle is live (the count of frees
    // has not moved since it was found live), and the thread is pinned. A
    // live map's shards are not at 0 (saying so spares a test).
    unsafe {
        if shards.is_null() {
            std::hint::unreachable_unchecked();
        }
        Some(&*shards)
    }
}

/// The memo's stamp for a count of map frees and a fast word's schema bits.
#[inline(always)]
fn memo_stamp(frees: u64, schema: u64) -> u64 {
    debug_assert!(schema <= FAST_SCHEMA_MASK);
    frees << 8 | schema
}

/// The shards behind `word`, a fast word of a map whose handle is live, if
/// its schema is INT keys and `val_kind` values.
#[inline(always)]
fn int_map_of_word<'g>(word: u64, val_kind: fm_kind, g: &'g epoch::Guard) -> Option<&'g Shards> {
    if word & FAST_SCHEMA_MASK != fast_int_schema(val_kind) {
        return None;
    }
    // SAFETY: the word of a map whose handle is live (the memo's count has
    // not moved since it was found live), and the thread is pinned.
    Some(unsafe { Shards::from_fast_word(word, g) })
}

/// Resolves `map` through the registry and keeps it in the thread's memo
/// (the pinned thread's own): the direct map's fast word, or None. Takes
/// no guard, so that its callers need not build one in memory.
#[inline(never)]
fn remember_map(map: u64, memo: &epoch::MapCache) -> Option<u64> {
    // The count first: a free after it moves it, one before it fails the lookup.
    let frees = epoch::map_frees();
    // SAFETY: only `int_map_shards` calls this, with its caller pinned.
    let word = match unsafe { registry::find_pinned::<MapObject>(map) }? {
        MapObject::Direct(m) => m.fast_word(),
        _ => return None,
    };
    // A bridge's map has word 0: schema bits 0 match no integer path.
    memo.handle.store(map, Ordering::Relaxed);
    memo.shards
        .store(word & !FAST_SCHEMA_MASK, Ordering::Relaxed);
    memo.stamp.store(
        memo_stamp(frees, word & FAST_SCHEMA_MASK),
        Ordering::Relaxed,
    );
    Some(word)
}
