//! Map lifecycle: create, free, size, clear, reserve, clone, schema, stats.

use super::{boundary, fm_handle, with_map, Out};
use crate::api::kind_arg;
use crate::epoch;
use crate::map::Map;
use crate::objects::{self, MapObject};
use crate::status::*;

/// Figures about one map, filled in by `fm_map_stats`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
#[allow(non_camel_case_types)]
pub struct fm_stats {
    /// Entries.
    pub len: u64,
    /// Slots allocated over all shards.
    pub capacity: u64,
    /// Bytes of memory the map uses (tables, keys and values).
    pub memory_bytes: u64,
    /// len / capacity.
    pub load_factor: f64,
    /// Iterators made from this map that are still open.
    pub open_iterators: u64,
    /// Views made from this map that are still open.
    pub open_views: u64,
    /// Mutations applied (inserts, removes, adds, updates, clears). Reads are
    /// not counted, to keep the read path free of shared writes.
    pub writes: u64,
}

/// Creates a map with key kind `key_kind` (FM_INT, FM_STR or FM_BYTES) and
/// value kind `value_kind` (any `fm_kind`), with room for `capacity` entries
/// (0 is fine), and writes its handle to `*map_out`.
/// The caller owns the new map and frees it with `fm_map_free` (from any
/// language). `map_out` must not be NULL. Threads: any.
///
/// # Safety
/// `map_out` must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_map_new(
    key_kind: u32,
    value_kind: u32,
    capacity: usize,
    map_out: *mut fm_handle,
) -> fm_status {
    boundary(|| {
        let out = Out::required(map_out, "map_out")?;
        let m = Map::new(
            kind_arg(key_kind, "key kind")?,
            kind_arg(value_kind, "value kind")?,
            capacity,
        )?;
        out.write(objects::insert(MapObject::Direct(m))?);
        Ok(())
    })
}

/// Frees a map. Calls other threads are making on it finish normally; later
/// calls get FM_INVALID_HANDLE. Iterators and views made from it stay valid.
/// For a bridge map this first closes it: requests already accepted run and
/// are answered, new ones get FM_CLOSED, the owner thread exits (so this
/// call waits for the queue to drain; from the owner thread itself, i.e. a
/// callback, it returns FM_REENTRANT). A callback of a direct map's own
/// (`fm_update_*`, `fm_for_each`) that frees that map gets FM_REENTRANT and
/// the map stays. Freeing 0 is a no-op returning FM_OK; freeing twice
/// returns FM_INVALID_HANDLE. Threads: any.
#[no_mangle]
pub extern "C" fn fm_map_free(map: fm_handle) -> fm_status {
    boundary(|| crate::api::free_map(map))
}

/// Writes the number of entries to `*len_out` (exact at an instant during the
/// call). `len_out` must not be NULL. Threads: any.
///
/// # Safety
/// `len_out` must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_map_len(map: fm_handle, len_out: *mut usize) -> fm_status {
    boundary(|| {
        let out = Out::required(len_out, "len_out")?;
        let g = epoch::pin();
        out.write(with_map(map, &g, |m, _| Ok(m.len()))?);
        Ok(())
    })
}

/// Removes every entry, at one instant. Open iterators keep their entries.
/// Threads: any.
#[no_mangle]
pub extern "C" fn fm_map_clear(map: fm_handle) -> fm_status {
    boundary(|| {
        let g = epoch::pin();
        with_map(map, &g, |m, _| {
            m.clear();
            Ok(())
        })
    })
}

/// Makes room for `additional` more entries, so that inserting them does not
/// grow the tables. Threads: any.
#[no_mangle]
pub extern "C" fn fm_map_reserve(map: fm_handle, additional: usize) -> fm_status {
    boundary(|| {
        let g = epoch::pin();
        with_map(map, &g, |m, _| m.reserve(additional))
    })
}

/// Writes to `*clone_out` a new, independent map with the same schema and
/// contents. O(shards): the two maps share memory until either is written
/// (copy-on-write per shard). The caller owns the clone. `clone_out` must not
/// be NULL. Threads: any.
///
/// # Safety
/// `clone_out` must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_map_clone(map: fm_handle, clone_out: *mut fm_handle) -> fm_status {
    boundary(|| {
        let out = Out::required(clone_out, "clone_out")?;
        out.write(crate::api::clone_map(map)?);
        Ok(())
    })
}

/// Writes the map's key and value kinds (`fm_kind` values). Either pointer
/// may be NULL if that kind is not wanted. Threads: any.
///
/// # Safety
/// Non-NULL pointers must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_map_schema(
    map: fm_handle,
    key_kind_out: *mut u32,
    value_kind_out: *mut u32,
) -> fm_status {
    boundary(|| {
        let g = epoch::pin();
        let (k, v) = with_map(map, &g, |m, _| Ok((m.key_kind, m.val_kind)))?;
        Out::optional(key_kind_out).write(k as u32);
        Out::optional(value_kind_out).write(v as u32);
        Ok(())
    })
}

/// Fills `*stats_out` with figures about the map. `stats_out` must not be
/// NULL. Threads: any; figures from different shards may be from slightly
/// different instants when other threads write.
///
/// # Safety
/// `stats_out` must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn fm_map_stats(map: fm_handle, stats_out: *mut fm_stats) -> fm_status {
    boundary(|| {
        let out = Out::required(stats_out, "stats_out")?;
        let g = epoch::pin();
        let s = with_map(map, &g, |m, g| Ok(m.stats(g)))?;
        out.write(fm_stats {
            len: s.len as u64,
            capacity: s.capacity as u64,
            memory_bytes: s.memory as u64,
            load_factor: if s.capacity == 0 {
                0.0
            } else {
                s.len as f64 / s.capacity as f64
            },
            open_iterators: s.iterators as u64,
            open_views: s.views as u64,
            writes: s.writes,
        });
        Ok(())
    })
}
