//! What lives behind handles, above the registry: maps (direct or bridge),
//! iterators, views and change-feed subscriptions. Tickets live behind
//! handles too, but the bridge owns their whole life (it pools them), so
//! they are stored from `bridge::ticket`.
//!
//! Each type here is tied to one handle kind through [`Stored`]; freeing
//! goes through [`free`], which retires the object through the epoch
//! scheme so that threads still inside a call on it finish normally (and,
//! for a map, first bumps the count of map frees that the per-thread memo
//! of the integer fast paths checks: `epoch::map_frees`).

use std::sync::{Arc, Mutex};

use crate::bridge::Bridge;
use crate::epoch::{self, Guard};
use crate::feed::{Event, Feed, SubQueue};
use crate::iter::{Iter, View};
use crate::map::Map;
use crate::registry::{
    self, fm_handle_kind, Stored, FM_HANDLE_ITERATOR, FM_HANDLE_MAP, FM_HANDLE_SUBSCRIPTION,
    FM_HANDLE_VIEW,
};
use crate::status::*;

/// What a map handle names: a map used from the calling thread, or one
/// served by an owner thread. Both are maps to every caller.
pub enum MapObject {
    Direct(Map),
    Bridge(Bridge),
}

/// A subscription handle's object: its queue, the feed to leave on drop,
/// and the event last handed out (whose bytes the caller may be reading).
pub struct Subscription {
    pub queue: Arc<SubQueue>,
    pub feed: Arc<Feed>,
    /// Shared so a reader can wait without staying pinned (see fm_sub_next).
    pub current: Arc<Mutex<Option<Event>>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.feed.unsubscribe(&self.queue);
    }
}

// SAFETY: one type per kind; tickets (FM_HANDLE_TICKET) are the bridge's.
unsafe impl Stored for MapObject {
    const KIND: fm_handle_kind = FM_HANDLE_MAP;
}
unsafe impl Stored for Iter {
    const KIND: fm_handle_kind = FM_HANDLE_ITERATOR;
}
unsafe impl Stored for View {
    const KIND: fm_handle_kind = FM_HANDLE_VIEW;
}
unsafe impl Stored for Subscription {
    const KIND: fm_handle_kind = FM_HANDLE_SUBSCRIPTION;
}

/// Registers a new object and returns its handle (the caller owns it).
pub fn insert<T: Stored>(object: T) -> Result<u64> {
    registry::insert(crate::alloc::try_box(object)?)
}

unsafe fn drop_boxed<T>(p: *mut ()) {
    drop(Box::from_raw(p.cast::<T>()));
}

/// Frees the handle of a `T`: later lookups fail; the object is dropped
/// once no thread can be inside a call on it. A second free fails and
/// changes nothing.
pub fn free<T: Stored>(handle: u64) -> Result<()> {
    let obj = registry::remove::<T>(handle)?;
    // SAFETY: `obj` is the `T` just removed, not retired yet.
    unsafe {
        retire(
            T::KIND,
            obj.cast(),
            std::mem::size_of::<T>(),
            drop_boxed::<T>,
        )
    };
    Ok(())
}

/// The kind-specific part of [`free`], kept out of the generic function so
/// that the statics it touches (the count of map frees) stay private to
/// the crate: one a public generic function reaches is exported, and the
/// fast paths would then load it through the GOT.
///
/// # Safety
/// `obj` is the object of a handle of `kind` that was just removed from
/// the registry, of `size` bytes, dropped by `drop_fn`.
unsafe fn retire(kind: fm_handle_kind, obj: *mut (), size: usize, drop_fn: unsafe fn(*mut ())) {
    // Maps and iterators may hold whole tables, so their memory should
    // come back promptly; views and subscriptions are batched (sealing a
    // bag costs a process-wide barrier).
    let weight = match kind {
        FM_HANDLE_MAP => {
            // Before the map is retired (see `epoch::map_frees`). (Under
            // loom a negative control can leave it out: see
            // `loom_models::memo`.)
            #[cfg(loom)]
            let count = !crate::sync::broken(crate::sync::Broken::MemoCount);
            #[cfg(not(loom))]
            let count = true;
            if count {
                epoch::count_map_free();
            }
            epoch::SEAL_NOW
        }
        FM_HANDLE_ITERATOR => {
            // SAFETY: an iterator handle's object is an `Iter` (`Stored`),
            // still allocated: it is retired only below.
            (*obj.cast::<Iter>()).release();
            epoch::SEAL_NOW
        }
        FM_HANDLE_VIEW => {
            // SAFETY: as above, a `View`.
            (*obj.cast::<View>()).release();
            size
        }
        _ => size,
    };
    // SAFETY: the object came from Box::into_raw in `registry::insert`;
    // threads still inside a call on it are pinned, so it is dropped after
    // they leave.
    let mut retirement = epoch::Deferred::new(obj, drop_fn);
    if kind == FM_HANDLE_MAP {
        // SAFETY: a map handle's object is a `MapObject`, still allocated.
        if let MapObject::Direct(m) = &*obj.cast::<MapObject>() {
            // Threads running one of its callbacks are suspended, not
            // pinned: the last of them retires it (see `Map::hold`).
            match m.retire_when_idle(retirement) {
                Some(now) => retirement = now,
                None => return,
            }
        }
    }
    epoch::retire(retirement, weight);
}

/// The map behind a map handle, direct or bridge.
#[inline(always)]
pub fn map_object<'g>(handle: u64, guard: &'g Guard) -> Result<&'g MapObject> {
    registry::get(handle, guard)
}

/// The iterator behind `handle`, alive as long as `guard`. Any thread.
pub fn iterator<'g>(handle: u64, guard: &'g Guard) -> Result<&'g Iter> {
    registry::get(handle, guard)
}

/// The view behind `handle`, alive as long as `guard`. Any thread.
pub fn view<'g>(handle: u64, guard: &'g Guard) -> Result<&'g View> {
    registry::get(handle, guard)
}

/// The subscription behind `handle`, alive as long as `guard`. Any thread.
pub fn subscription<'g>(handle: u64, guard: &'g Guard) -> Result<&'g Subscription> {
    registry::get(handle, guard)
}
