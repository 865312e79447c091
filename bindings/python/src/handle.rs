//! `MapHandle`: a map handle as the Python classes hold it, shared by
//! `Map` (map.rs), the bulk calls (bulk.rs) and bridge mode (bridge.rs),
//! which all take it from here, so that none of them needs another.
//!
//! Ownership: an owning handle (from `Map(...)`, `clone()`, `import_()`,
//! `attach(h, owned=True)`) frees the map on `close()` or when dropped; a
//! borrowing one never does. After `close()` every call raises
//! `ClosedError`; a handle freed elsewhere gives `InvalidHandleError` from
//! the core. Nothing can crash on a bad handle (the core checks them).
//!
//! The GIL (gil.rs): calls on a direct map stay attached, except those
//! that may wait for a shard lock while a Python callback runs; every call
//! on a bridge map waits for its owner thread, so it detaches.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pyo3::prelude::*;

use crate::capi::{self, CoreError, Iter, MapId, FM_INVALID_HANDLE, FM_REENTRANT};
use crate::convert::Kind;
use crate::errors::{closed_err, core_err, invalid_handle};
use crate::gil::{blocking, detach};
use crate::iter::{MapIter, Mode};

pub struct MapHandle {
    /// The handle; 0 once closed.
    id: AtomicU64,
    /// Whether closing (or dropping) this frees the map.
    owned: AtomicBool,
    pub key: Kind,
    pub val: Kind,
    /// A bridge map (fm_bridge_new): every call is served by its owner
    /// thread and waits for it, so every call releases the GIL.
    pub bridge: bool,
}

impl Drop for MapHandle {
    fn drop(&mut self) {
        let h = self.id.swap(0, Ordering::AcqRel);
        if h != 0 && self.owned.load(Ordering::Acquire) {
            if self.bridge {
                free_bridge(MapId(h));
            } else {
                // Freeing a direct map never waits; a failure (someone else
                // freed it) has nobody to report to.
                let _ = capi::map_free(MapId(h));
            }
        }
    }
}

/// Frees a bridge map from a destructor. Freeing drains its queue and joins
/// its owner thread, which may be running a Python callback (update_value)
/// that needs the GIL: so the GIL is released for the wait. On the owner
/// thread itself (a callback dropping the last reference to its own map)
/// the core refuses (FM_REENTRANT); a helper thread then frees it once the
/// callback has returned.
fn free_bridge(map: MapId) {
    let freed = Python::try_attach(|py| detach(py, || capi::map_free(map)))
        .unwrap_or_else(|| capi::map_free(map));
    if matches!(&freed, Err(e) if e.status == FM_REENTRANT) {
        let _ = std::thread::Builder::new()
            .name("ferrymap-free".into())
            .spawn(move || capi::map_free(map));
    }
}

/// The schema of a map handle (InvalidHandleError / WrongKindError if it is not one).
pub fn schema(py: Python<'_>, map: MapId) -> PyResult<(Kind, Kind)> {
    // A bridge map answers from its owner thread: wait with the GIL released.
    let (k, v) = detach(py, || capi::map_schema(map)).map_err(|e| core_err(py, e))?;
    match (Kind::from_raw(k), Kind::from_raw(v)) {
        (Some(k), Some(v)) => Ok((k, v)),
        _ => Err(invalid_handle(
            py,
            format!("handle {:#x} reports an unknown schema ({k}, {v})", map.0),
        )),
    }
}

impl MapHandle {
    pub fn new(map: MapId, key: Kind, val: Kind, owned: bool, bridge: bool) -> MapHandle {
        MapHandle {
            id: AtomicU64::new(map.0),
            owned: AtomicBool::new(owned),
            key,
            val,
            bridge,
        }
    }

    /// An owning handle for a direct map the caller owns; frees it if the
    /// schema cannot be read.
    pub fn adopt(py: Python<'_>, map: MapId) -> PyResult<MapHandle> {
        match schema(py, map) {
            Ok((k, v)) => Ok(MapHandle::new(map, k, v, true, false)),
            Err(e) => {
                let _ = capi::map_free(map);
                Err(e)
            }
        }
    }

    /// A handle for a map made anywhere in the process, owning or not.
    pub fn attach(py: Python<'_>, map: MapId, owned: bool) -> PyResult<MapHandle> {
        let (k, v) = schema(py, map)?;
        // Working or failed, it is a bridge map (an atomic read: never waits).
        let bridge = capi::bridge_status(map).is_ok();
        Ok(MapHandle::new(map, k, v, owned, bridge))
    }

    /// The handle, or ClosedError.
    #[inline]
    pub fn live(&self, py: Python<'_>) -> PyResult<MapId> {
        match self.id.load(Ordering::Acquire) {
            0 => Err(closed_err(py, "the map")),
            h => Ok(MapId(h)),
        }
    }

    /// The handle as it is now (0 once closed), without raising.
    pub fn peek(&self) -> u64 {
        self.id.load(Ordering::Acquire)
    }

    pub fn is_owned(&self) -> bool {
        self.owned.load(Ordering::Acquire)
    }

    /// Gives up ownership; returns the handle, which keeps working here.
    pub fn disown(&self, py: Python<'_>) -> PyResult<u64> {
        let h = self.live(py)?;
        self.owned.store(false, Ordering::Release);
        Ok(h.0)
    }

    /// The exception for a failed call: ClosedError if the map was closed
    /// meanwhile (by another thread), the core's error otherwise.
    #[cold]
    pub fn err(&self, py: Python<'_>, e: CoreError) -> PyErr {
        if e.status == FM_INVALID_HANDLE && self.peek() == 0 {
            return closed_err(py, "the map");
        }
        core_err(py, e)
    }

    /// Runs a call into the core: attached for a direct map (it never
    /// waits), detached for a bridge map (it waits for the owner thread).
    #[inline]
    pub fn call<R>(&self, py: Python<'_>, f: impl FnOnce() -> R) -> R {
        if self.bridge {
            detach(py, f)
        } else {
            f()
        }
    }

    /// Runs a call that may wait for a shard lock (gil.rs) or, on a bridge
    /// map, for the owner thread.
    #[inline]
    pub fn blocking<R>(&self, py: Python<'_>, f: impl FnOnce() -> R) -> R {
        if self.bridge {
            detach(py, f)
        } else {
            blocking(py, f)
        }
    }

    /// The number of entries.
    pub fn len(&self, py: Python<'_>) -> PyResult<usize> {
        let h = self.live(py)?;
        self.call(py, || capi::map_len(h))
            .map_err(|e| self.err(py, e))
    }

    /// A snapshot iterator.
    pub fn iterator(&self, py: Python<'_>, mode: Mode) -> PyResult<MapIter> {
        let h = self.live(py)?;
        // Taking a snapshot takes every shard lock for an instant.
        let it = self
            .blocking(py, || Iter::new(h))
            .map_err(|e| self.err(py, e))?;
        Ok(MapIter::new(it, self.key, self.val, mode))
    }

    /// Frees the map if this handle owns it, and closes the handle (later
    /// calls raise ClosedError). Closing twice is harmless. On a bridge map
    /// this drains it (waiting with the GIL released); from its own owner
    /// thread the core refuses (ReentrantError) and the map stays open.
    pub fn close(&self, py: Python<'_>) -> PyResult<()> {
        let h = self.id.swap(0, Ordering::AcqRel);
        if h != 0 && self.owned.swap(false, Ordering::AcqRel) {
            match self.call(py, || capi::map_free(MapId(h))) {
                Ok(()) => {}
                Err(e) if e.status == FM_REENTRANT => {
                    // Refused before anything happened: the map stays open.
                    let e = core_err(py, e);
                    self.owned.store(true, Ordering::Release);
                    self.id.store(h, Ordering::Release);
                    return Err(e);
                }
                Err(e) => return Err(core_err(py, e)),
            }
        }
        Ok(())
    }
}
