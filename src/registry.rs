//! The handle registry: the one table, per process, from 64-bit handles to
//! objects. It is a slot table of generations, tags and kinds; it does not
//! know what it stores. A type that lives behind handles implements
//! [`Stored`], which ties it to one [`fm_handle_kind`]; `objects` (maps,
//! iterators, views, subscriptions) and `bridge` (tickets) do.
//!
//! A handle packs four fields:
//!
//! ```text
//!  63            37 36      27 26  24 23           0
//! +----------------+----------+------+--------------+
//! | generation (27)| tag (10) | kind | slot index   |
//! +----------------+----------+------+--------------+
//! ```
//!
//! - The slot index picks a slot in a segmented array that never moves or
//!   shrinks, so a slot pointer never dangles.
//! - The generation starts at 1 (so 0 is never a handle) and goes up each time
//!   the slot is reused. A slot whose generation is used up is retired, never
//!   reused: a stale handle can never come back to life.
//! - The tag identifies this copy of the library: `copies` claims one that
//!   no other loaded copy holds, so two copies loaded at different paths
//!   always have different tags, and each rejects the other's handles.
//! - The kind lets every call reject a handle of the wrong kind cheaply.
//!
//! Lookup is wait-free and writes nothing shared: load the slot's state, load
//! its object pointer, reload the state. Freeing clears the state with a
//! compare-and-swap (so a double free fails cleanly) and retires the object
//! through the epoch scheme, so threads still inside a call on it finish
//! normally.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use std::alloc::{alloc_zeroed, Layout};

use crate::alloc;
use crate::epoch::Guard;
use crate::status::*;

/// The kind of object a handle names.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum fm_handle_kind {
    FM_HANDLE_MAP = 1,
    FM_HANDLE_ITERATOR = 2,
    FM_HANDLE_VIEW = 3,
    /// A bridge map's change-feed subscription.
    FM_HANDLE_SUBSCRIPTION = 4,
    /// The result of an asynchronous bridge submission.
    FM_HANDLE_TICKET = 5,
}
pub use fm_handle_kind::*;

impl fm_handle_kind {
    pub fn from_raw(raw: u32) -> Option<fm_handle_kind> {
        match raw {
            1 => Some(FM_HANDLE_MAP),
            2 => Some(FM_HANDLE_ITERATOR),
            3 => Some(FM_HANDLE_VIEW),
            4 => Some(FM_HANDLE_SUBSCRIPTION),
            5 => Some(FM_HANDLE_TICKET),
            _ => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            FM_HANDLE_MAP => "map",
            FM_HANDLE_ITERATOR => "iterator",
            FM_HANDLE_VIEW => "view",
            FM_HANDLE_SUBSCRIPTION => "subscription",
            FM_HANDLE_TICKET => "ticket",
        }
    }
}

/// A type whose values live behind handles of one kind.
///
/// # Safety
/// No other type may use the same `KIND`: a lookup that checked a handle's
/// kind reads its object as this type.
pub unsafe trait Stored: Send + Sync + 'static {
    const KIND: fm_handle_kind;
}

const INDEX_BITS: u32 = 24;
const KIND_BITS: u32 = 3;
const TAG_BITS: u32 = crate::copies::TAG_BITS;
const GEN_BITS: u32 = 64 - INDEX_BITS - KIND_BITS - TAG_BITS;
const KIND_SHIFT: u32 = INDEX_BITS;
const TAG_SHIFT: u32 = INDEX_BITS + KIND_BITS;
const GEN_SHIFT: u32 = TAG_SHIFT + TAG_BITS;
const MAX_GEN: u32 = (1 << GEN_BITS) - 1;

const SEGMENT_BITS: u32 = 12;
const SEGMENT_SLOTS: usize = 1 << SEGMENT_BITS;
const SEGMENTS: usize = 1 << (INDEX_BITS - SEGMENT_BITS);

struct Slot {
    /// The live handle stored here, or 0 when free.
    state: AtomicU64,
    object: AtomicPtr<()>,
    /// Last generation handed out (written only by the thread holding the
    /// slot's index while it is free).
    generation: AtomicU32,
}

struct Allocator {
    free: Vec<u32>,
    next_fresh: u32,
}

/// Segments of slots, allocated on demand and never freed. A plain static
/// rather than part of [`Registry`], so that a lookup needs no
/// initialisation check: before the first insert every entry is null.
static SEGMENT_TABLE: [AtomicPtr<Slot>; SEGMENTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; SEGMENTS];

struct Registry {
    tag: u64,
    id: u64,
    alloc: Mutex<Allocator>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// Free slot indices a thread moves between the shared list and its own
/// cache at a time. Most handles are freed by the thread that made them
/// (tickets, iterators, views), so the cache spares the shared lock on
/// both insert and remove. A slot's generation is written only by the
/// thread that holds its index, so it needs no lock either.
const FREE_BATCH: usize = 32;

/// A thread's cache of free slot indices; returned to the shared list when
/// the thread ends.
struct FreeCache(std::cell::RefCell<Vec<u32>>);

impl Drop for FreeCache {
    fn drop(&mut self) {
        let free = std::mem::take(self.0.get_mut());
        if !free.is_empty() {
            registry().give_indices(free);
        }
    }
}

thread_local! {
    static FREE: FreeCache = const { FreeCache(std::cell::RefCell::new(Vec::new())) };
}

impl Registry {
    /// Up to `n` (at least one) free indices from the shared list, or fresh
    /// ones from the segmented array, allocating segments as needed.
    fn take_indices(&self, n: usize) -> Result<Vec<u32>> {
        let mut out = alloc::try_vec(n)?;
        let mut a = self.alloc.lock().unwrap_or_else(|p| p.into_inner());
        let reuse = a.free.len().min(n);
        let at = a.free.len() - reuse;
        out.extend(a.free.drain(at..));
        while out.len() < n {
            let i = a.next_fresh;
            if i as usize >= SEGMENTS * SEGMENT_SLOTS {
                break;
            }
            let seg = &SEGMENT_TABLE[i as usize >> SEGMENT_BITS];
            if seg.load(Ordering::Relaxed).is_null() {
                let layout = Layout::array::<Slot>(SEGMENT_SLOTS).expect("a segment's size fits");
                // SAFETY: a layout of non-zero size. All-zero bytes are a
                // valid free Slot (state 0, null object, generation 0).
                let slots = unsafe { alloc_zeroed(layout) }.cast::<Slot>();
                if slots.is_null() {
                    if out.is_empty() {
                        return Err(alloc::out_of_memory());
                    }
                    break; // the indices taken so far will do
                }
                seg.store(slots, Ordering::Release);
            }
            a.next_fresh += 1;
            out.push(i);
        }
        if out.is_empty() {
            return fail(FM_OUT_OF_MEMORY, "too many live handles");
        }
        Ok(out)
    }

    fn give_indices(&self, mut indices: Vec<u32>) {
        self.alloc
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .free
            .append(&mut indices);
    }
}

fn registry() -> &'static Registry {
    REGISTRY.get_or_init(|| Registry {
        tag: crate::copies::claim_tag(),
        id: crate::hash::random_u64() | 1,
        alloc: Mutex::new(Allocator {
            free: Vec::new(),
            next_fresh: 0,
        }),
    })
}

#[inline(always)]
fn slot(index: usize) -> Option<&'static Slot> {
    let seg = SEGMENT_TABLE
        .get(index >> SEGMENT_BITS)?
        .load(Ordering::Acquire);
    if seg.is_null() {
        return None;
    }
    // SAFETY: segments are never freed and hold SEGMENT_SLOTS slots.
    Some(unsafe { &*seg.add(index & (SEGMENT_SLOTS - 1)) })
}

fn compose(index: u32, kind: fm_handle_kind, tag: u64, generation: u32) -> u64 {
    (generation as u64) << GEN_SHIFT | tag << TAG_SHIFT | (kind as u64) << KIND_SHIFT | index as u64
}

/// Registers `object` and returns its new handle. On error the box is
/// dropped.
pub fn insert<T: Stored>(object: Box<T>) -> Result<u64> {
    let reg = registry();
    if reg.tag == 0 {
        return fail(
            FM_OUT_OF_MEMORY,
            "1023 other copies of the library are loaded: this one has no tag left to tell its handles apart",
        );
    }
    let kind = T::KIND;
    let index = match FREE.try_with(|f| f.0.borrow_mut().pop()) {
        Ok(Some(i)) => i,
        Ok(None) => {
            // Refill the thread's cache with a batch, keep the last.
            let mut batch = reg.take_indices(FREE_BATCH)?;
            let i = batch.pop().expect("take_indices returns at least one");
            let cached = FREE.try_with(|f| {
                let mut free = f.0.borrow_mut();
                // No room and none to be had: the batch goes back.
                free.try_reserve(batch.len()).is_ok() && {
                    free.append(&mut batch);
                    true
                }
            });
            if cached != Ok(true) {
                reg.give_indices(batch);
            }
            i
        }
        // Thread-local storage is gone (a destructor is calling us).
        Err(_) => reg.take_indices(1)?[0],
    };
    let s = slot(index as usize).expect("allocated in take_indices");
    let generation = s.generation.load(Ordering::Relaxed) + 1;
    s.generation.store(generation, Ordering::Relaxed);
    let handle = compose(index, kind, reg.tag, generation);
    s.object
        .store(Box::into_raw(object).cast(), Ordering::Release);
    s.state.store(handle, Ordering::Release);
    Ok(handle)
}

/// Why `handle` does not name a live object of `kind`.
fn diagnose(handle: u64, kind: fm_handle_kind) -> Error {
    let reg = registry();
    if handle == 0 {
        return Error::new(FM_INVALID_HANDLE, "handle is 0");
    }
    if (handle >> TAG_SHIFT) & ((1 << TAG_BITS) - 1) != reg.tag {
        return Error::new(
            FM_INVALID_HANDLE,
            format!("handle {handle:#x} is forged or from another copy of the library"),
        );
    }
    let index = (handle & ((1 << INDEX_BITS) - 1)) as usize;
    let generation = (handle >> GEN_SHIFT) as u32;
    let Some(s) = slot(index) else {
        return Error::new(
            FM_INVALID_HANDLE,
            format!("handle {handle:#x} was never issued"),
        );
    };
    let current = s.state.load(Ordering::Acquire);
    if current == handle {
        // A real, live handle, passed where another kind was expected.
        let actual = fm_handle_kind::from_raw(((current >> KIND_SHIFT) & 0b111) as u32)
            .map_or("unknown", |k| k.name());
        return Error::new(
            FM_WRONG_KIND,
            format!("handle {handle:#x} is a {actual}, not a {}", kind.name()),
        );
    }
    if generation == 0 || generation > s.generation.load(Ordering::Acquire) {
        return Error::new(
            FM_INVALID_HANDLE,
            format!("handle {handle:#x} was never issued"),
        );
    }
    Error::new(
        FM_INVALID_HANDLE,
        format!(
            "handle {handle:#x} is stale: its {} was already freed",
            kind.name()
        ),
    )
}

/// The live object behind `handle`, which must be of `T`'s kind. The
/// reference lives as long as the guard: freeing the handle meanwhile is
/// safe, because freed objects are retired through the epoch scheme.
#[inline(always)]
pub fn get<'g, T: Stored>(handle: u64, guard: &'g Guard) -> Result<&'g T> {
    find(handle, guard).ok_or_else(|| diagnose_cold(handle, T::KIND))
}

/// As [`get`], without saying what is wrong: for fast paths that fall back
/// to a general path (which calls `get` and reports the error).
#[inline(always)]
pub fn find<'g, T: Stored>(handle: u64, _guard: &'g Guard) -> Option<&'g T> {
    // SAFETY: the guard pins the calling thread.
    unsafe { find_pinned(handle) }
}

/// [`find`] for a caller that is pinned but holds no `Guard` to show for
/// it (the integer fast paths keep theirs in registers).
///
/// # Safety
/// The calling thread must be pinned for as long as it uses the reference.
#[inline(always)]
pub(crate) unsafe fn find_pinned<'a, T: Stored>(handle: u64) -> Option<&'a T> {
    let kind = T::KIND;
    let index = (handle & ((1 << INDEX_BITS) - 1)) as usize;
    let s = slot(index)?;
    if s.state.load(Ordering::Acquire) == handle && handle >> KIND_SHIFT & 0b111 == kind as u64 {
        let obj = s.object.load(Ordering::Acquire);
        if !obj.is_null() && s.state.load(Ordering::Acquire) == handle {
            // SAFETY: the state still names this handle after the object
            // load, so `obj` is its object, a `T` (the kind matched and only
            // `T` has it: `Stored`); whoever frees it retires it through
            // the epoch scheme, and the caller is pinned.
            return Some(&*obj.cast::<T>());
        }
    }
    None
}

#[cold]
#[inline(never)]
fn diagnose_cold(handle: u64, kind: fm_handle_kind) -> Error {
    diagnose(handle, kind)
}

/// Frees `handle`: after this, every lookup of it fails. Returns its
/// object, which the caller must retire through the epoch scheme (threads
/// still inside a call on it may be reading it). A second free, or a free
/// of a handle of another kind, fails and changes nothing.
pub fn remove<T: Stored>(handle: u64) -> Result<*mut T> {
    let kind = T::KIND;
    let reg = registry();
    let index = (handle & ((1 << INDEX_BITS) - 1)) as usize;
    let s = match slot(index) {
        Some(s) if handle >> KIND_SHIFT & 0b111 == kind as u64 => s,
        _ => return Err(diagnose(handle, kind)),
    };
    if s.state
        .compare_exchange(handle, 0, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(diagnose(handle, kind));
    }
    // The compare-exchange made this thread the slot's only writer until
    // the index is handed out again: no locked swap needed.
    let obj = s.object.load(Ordering::Acquire);
    s.object.store(std::ptr::null_mut(), Ordering::Release);
    if s.generation.load(Ordering::Relaxed) < MAX_GEN {
        let spill = FREE.try_with(|f| {
            let mut free = f.0.borrow_mut();
            free.push(index as u32);
            // Past the bound, half goes back to the shared list.
            (free.len() > 2 * FREE_BATCH).then(|| free.split_off(FREE_BATCH))
        });
        match spill {
            Ok(None) => {}
            Ok(Some(back)) => reg.give_indices(back),
            Err(_) => reg.give_indices(vec![index as u32]),
        }
    }
    Ok(obj.cast())
}

/// Live handles of one kind, counted by reading every slot ever handed
/// out: census calls are rare (a suite's last check, a leak hunt), handle
/// churn is not, and per-kind counters cost every insert and remove a
/// locked instruction, which also waited for the caller's earlier stores to
/// reach other cores (a seventh of a pipelined bridge ticket's cost). Exact
/// when no other thread makes or frees handles meanwhile; otherwise it
/// counts each slot as it was when read.
pub fn census(kind: fm_handle_kind) -> u64 {
    count_live(|h| h >> KIND_SHIFT & 0b111 == kind as u64)
}

/// Live handles of every kind together, as [`census`] counts them.
pub fn census_total() -> u64 {
    count_live(|_| true)
}

/// Live handles for which `pick(handle)` holds.
fn count_live(pick: impl Fn(u64) -> bool) -> u64 {
    let used = registry()
        .alloc
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .next_fresh as usize;
    let mut live = 0;
    for (i, seg) in SEGMENT_TABLE
        .iter()
        .enumerate()
        .take(used.div_ceil(SEGMENT_SLOTS))
    {
        let seg = seg.load(Ordering::Acquire);
        if seg.is_null() {
            continue;
        }
        let n = (used - i * SEGMENT_SLOTS).min(SEGMENT_SLOTS);
        // SAFETY: segments are never freed and hold SEGMENT_SLOTS slots.
        let slots = unsafe { std::slice::from_raw_parts(seg, n) };
        live += slots
            .iter()
            .filter(|s| {
                let h = s.state.load(Ordering::Acquire);
                h != 0 && pick(h)
            })
            .count() as u64;
    }
    live
}

/// This copy's identity: a random 64-bit number, different in every copy of
/// the library and every process.
pub fn id() -> u64 {
    registry().id
}

/// This copy's tag (part of every handle it issues).
pub fn tag() -> u64 {
    registry().tag
}
