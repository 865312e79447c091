//! The handle-level API: what the C ABI (`ffi`) and the JNI layer (`jni`)
//! share. It resolves and checks handles, routes work on a bridge map to
//! its owner thread, checks arguments that do not depend on how they were
//! marshalled, and returns `Result`; the two language layers above it only
//! convert arguments and results and report errors their own way.

pub(crate) mod fast;

use std::ffi::CStr;
use std::sync::OnceLock;

use crate::bridge::Bridge;
use crate::epoch::{self, Guard};
use crate::iter::{Iter, View};
use crate::kind::{fm_kind, FM_BYTES, FM_FLOAT, FM_INT, FM_STR};
use crate::map::Map;
use crate::objects::{self, MapObject, Subscription};
use crate::registry::{
    self, fm_handle_kind, FM_HANDLE_ITERATOR, FM_HANDLE_MAP, FM_HANDLE_SUBSCRIPTION,
    FM_HANDLE_TICKET, FM_HANDLE_VIEW,
};
use crate::status::*;

/// Resolves a direct (non-bridge) map handle. Calls from inside one of this
/// map's own callbacks are refused (they would deadlock on the shard lock or
/// see a half-done update). Exports use [`with_map`], which also serves
/// bridge maps.
#[inline]
pub fn map<'g>(handle: u64, guard: &'g Guard) -> Result<&'g Map> {
    match objects::map_object(handle, guard)? {
        MapObject::Direct(m) => not_reentrant(m, guard),
        MapObject::Bridge(_) => fail(FM_WRONG_KIND, "a bridge map cannot be used directly here"),
    }
}

/// The map behind `handle` if it is a direct map that may be used right
/// away (not a bridge, not inside one of its own callbacks); None otherwise,
/// so the caller falls back to the general path that explains why.
#[inline(always)]
pub fn direct_map<'g>(handle: u64, guard: &'g Guard) -> Option<&'g Map> {
    match registry::find::<MapObject>(handle, guard) {
        Some(MapObject::Direct(m)) if !guard.nested() => Some(m),
        _ => None,
    }
}

#[inline]
fn not_reentrant<'m>(m: &'m Map, guard: &Guard) -> Result<&'m Map> {
    if guard.nested() && m.in_callback() {
        return fail(FM_REENTRANT, "a callback called back into its own map");
    }
    Ok(m)
}

/// Runs `op` on the map behind `handle`: at once on this thread for a
/// direct map, on the owner thread for a bridge map (this thread waits,
/// suspended: see `Bridge::run`). `op` gets the guard of the thread it runs
/// on, and must use that guard, not the caller's, for whatever it finds;
/// what it returns must not depend on a pin (copy it out, or take a
/// reference count, as views do).
#[inline]
pub fn with_map<R>(
    handle: u64,
    guard: &Guard,
    op: impl FnOnce(&Map, &Guard) -> Result<R>,
) -> Result<R> {
    match objects::map_object(handle, guard)? {
        MapObject::Direct(m) => op(not_reentrant(m, guard)?, guard),
        MapObject::Bridge(b) => b.run(|m, g| op(not_reentrant(m, g)?, g)),
    }
}

/// The iterator behind `handle`; the reference lives as long as `guard`
/// (a free meanwhile is safe). Any thread.
pub fn iterator<'g>(handle: u64, guard: &'g Guard) -> Result<&'g Iter> {
    objects::iterator(handle, guard)
}

/// The view behind `handle`; the reference lives as long as `guard`
/// (a release meanwhile is safe). Any thread.
pub fn view<'g>(handle: u64, guard: &'g Guard) -> Result<&'g View> {
    objects::view(handle, guard)
}

/// The value types a call expects to read back.
#[derive(Clone, Copy)]
pub enum Want {
    Int,
    Float,
    Buf,
}

pub fn expect_values(m: &Map, want: Want) -> Result<()> {
    let ok = matches!(
        (want, m.val_kind),
        (Want::Int, FM_INT) | (Want::Float, FM_FLOAT) | (Want::Buf, FM_STR | FM_BYTES)
    );
    if ok {
        Ok(())
    } else {
        fail(
            FM_WRONG_KIND,
            format!("map values are {}", m.val_kind.name()),
        )
    }
}

/// The kind a raw number names, or FM_INVALID_ARGUMENT naming `what`.
pub fn kind_arg(raw: u32, what: &'static str) -> Result<fm_kind> {
    fm_kind::from_raw(raw)
        .ok_or_else(|| Error::new(FM_INVALID_ARGUMENT, format!("{what}: unknown kind {raw}")))
}

pub fn bridge<'g>(handle: u64, guard: &'g Guard) -> Result<&'g Bridge> {
    match objects::map_object(handle, guard)? {
        MapObject::Bridge(b) => Ok(b),
        _ => fail(FM_WRONG_KIND, "not a bridge map (made by fm_bridge_new)"),
    }
}

/// Creates a bridge map (see `fm_bridge_new`) and returns its handle.
pub fn bridge_new(
    key_kind: u32,
    value_kind: u32,
    capacity: usize,
    queue_capacity: usize,
) -> Result<u64> {
    let key = kind_arg(key_kind, "key kind")?;
    let val = kind_arg(value_kind, "value kind")?;
    let b = Bridge::new(key, val, capacity, queue_capacity)?;
    objects::insert(MapObject::Bridge(b))
}

/// An independent copy of the map behind `handle` (see `fm_map_clone`),
/// as a new direct map handle.
pub fn clone_map(handle: u64) -> Result<u64> {
    let g = epoch::pin();
    let copy = with_map(handle, &g, |m, _| m.clone_map())?;
    objects::insert(MapObject::Direct(copy))
}

/// A new iterator over a snapshot of the map behind `handle` (see
/// `fm_iter_new`), as a handle.
pub fn iter_new(handle: u64) -> Result<u64> {
    let g = epoch::pin();
    let it = with_map(handle, &g, |m, _| Iter::new(m))?;
    objects::insert(it)
}

/// Subscribes to a bridge map's change feed (see `fm_subscribe`) and
/// returns the subscription's handle.
pub fn subscribe(map: u64, bound: usize) -> Result<u64> {
    let g = epoch::pin();
    let b = bridge(map, &g)?;
    let queue = b.subscribe(bound)?;
    objects::insert(Subscription {
        queue,
        feed: b.feed().clone(),
        current: crate::alloc::try_arc(Default::default())?,
    })
}

/// Frees a map (closing a bridge map first: see `fm_map_free`). 0 is a
/// no-op.
pub fn free_map(map: u64) -> Result<()> {
    if map == 0 {
        return Ok(());
    }
    let g = epoch::pin();
    let object = objects::map_object(map, &g);
    if let Ok(MapObject::Direct(m)) = object {
        if g.nested() && m.in_callback() {
            return fail(
                FM_REENTRANT,
                "a callback cannot free the map it is running on (free it after the call)",
            );
        }
    }
    if let Ok(MapObject::Bridge(b)) = object {
        // Drain without staying pinned: a long drain must not hold up
        // memory reclamation for the whole process.
        let shared = b.shared();
        drop(g);
        shared.close()?;
    }
    objects::free::<MapObject>(map)
}

/// Frees a handle of any kind the way its own free call does. 0 is a
/// no-op.
pub fn free(handle: u64, kind: fm_handle_kind) -> Result<()> {
    if handle == 0 {
        return Ok(());
    }
    let _g = epoch::pin();
    match kind {
        FM_HANDLE_MAP => free_map(handle),
        FM_HANDLE_ITERATOR => objects::free::<Iter>(handle),
        FM_HANDLE_VIEW => objects::free::<View>(handle),
        FM_HANDLE_SUBSCRIPTION => objects::free::<Subscription>(handle),
        FM_HANDLE_TICKET => crate::bridge::free_ticket(handle),
    }
}

/// The library's version: `major << 16 | minor << 8 | patch`.
pub fn version() -> u32 {
    let part = |s: &str| s.parse::<u32>().unwrap_or(0);
    part(env!("CARGO_PKG_VERSION_MAJOR")) << 16
        | part(env!("CARGO_PKG_VERSION_MINOR")) << 8
        | part(env!("CARGO_PKG_VERSION_PATCH"))
}

/// The path this copy of the library was loaded from ("" if the loader
/// cannot tell). Static.
pub fn library_path() -> &'static CStr {
    static PATH: OnceLock<std::ffi::CString> = OnceLock::new();
    PATH.get_or_init(|| {
        // SAFETY: an all-zero Dl_info is a valid value (null pointers).
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: dladdr only reads the address and fills `info`.
        // The address of a static of this copy (the exported symbol could
        // resolve to another copy of the library in the global scope).
        let found = unsafe { libc::dladdr(&PATH as *const _ as *const libc::c_void, &mut info) };
        if found == 0 || info.dli_fname.is_null() {
            return std::ffi::CString::default();
        }
        // SAFETY: dladdr returned a NUL-terminated path owned by the loader.
        unsafe { CStr::from_ptr(info.dli_fname) }.to_owned()
    })
}
