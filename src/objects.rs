//! What lives behind handles, above the registry: maps (direct or bridge),
//! iterators, views and change-feed subscriptions. Tickets live behind
//! handles too, but the bridge owns their whole life (it pools them), so
//! they are stored from `bridge::ticket`.
//!
//! Each type here is tied to one handle kind through [`Stored`]; freeing
//! goes through [`free`], which retires the object through the epoch
//! scheme so that threads still inside a call on it finish normally.

use std::sync::atomic::{AtomicU64, Ordering};
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
    registry::insert(Box::new(object))
}

/// Map handles freed so far in this process. A thread that read the count,
/// then found a map handle live, knows the handle stays live for as long as
/// the count does not move: the memo of the integer fast paths. A free
/// bumps it after clearing the handle and before retiring the map, so a
/// pinned thread that still reads the old count cannot see the map's
/// memory go (the retirement's barrier orders the bump before any later
/// pin).
static MAP_FREES: FreeCount = FreeCount(AtomicU64::new(0));

/// Every integer fast path reads the count: a cache line of its own, so
/// that writes to neighbouring statics do not take it away from readers.
#[repr(align(128))]
struct FreeCount(AtomicU64);

/// See [`MAP_FREES`].
#[inline(always)]
pub(crate) fn map_frees() -> u64 {
    MAP_FREES.0.load(Ordering::Acquire)
}

unsafe fn drop_boxed<T>(p: *mut ()) {
    drop(Box::from_raw(p.cast::<T>()));
}

/// Frees the handle of a `T`: later lookups fail; the object is dropped
/// once no thread can be inside a call on it. A second free fails and
/// changes nothing.
pub fn free<T: Stored>(handle: u64) -> Result<()> {
    let obj = registry::remove::<T>(handle)?;
    // Maps and iterators may hold whole tables, so their memory should
    // come back promptly; views and subscriptions are batched (sealing a
    // bag costs a process-wide barrier).
    let weight = match T::KIND {
        FM_HANDLE_MAP => {
            // Before the map is retired (see MAP_FREES).
            MAP_FREES.0.fetch_add(1, Ordering::Release);
            epoch::SEAL_NOW
        }
        FM_HANDLE_ITERATOR => {
            // SAFETY: still allocated: it is retired only below.
            unsafe { &*obj.cast::<Iter>() }.release();
            epoch::SEAL_NOW
        }
        FM_HANDLE_VIEW => {
            // SAFETY: as above.
            unsafe { &*obj.cast::<View>() }.release();
            std::mem::size_of::<T>()
        }
        _ => std::mem::size_of::<T>(),
    };
    // SAFETY: the object came from Box::into_raw in `registry::insert`;
    // threads still inside a call on it are pinned, so it is dropped after
    // they leave.
    unsafe { epoch::retire(epoch::Deferred::new(obj.cast(), drop_boxed::<T>), weight) };
    Ok(())
}

/// The map behind a map handle, direct or bridge.
#[inline(always)]
pub fn map_object<'g>(handle: u64, guard: &'g Guard) -> Result<&'g MapObject> {
    registry::get(handle, guard)
}

pub fn iterator<'g>(handle: u64, guard: &'g Guard) -> Result<&'g Iter> {
    registry::get(handle, guard)
}

pub fn view<'g>(handle: u64, guard: &'g Guard) -> Result<&'g View> {
    registry::get(handle, guard)
}

pub fn subscription<'g>(handle: u64, guard: &'g Guard) -> Result<&'g Subscription> {
    registry::get(handle, guard)
}
