//! The map: a fixed schema and 64 shards, each a lock for writers, a
//! sequence counter for readers, and a pointer to its current [`Table`].
//!
//! Reads take no lock and write no shared memory: they load the shard's
//! sequence, probe the table, and check that the sequence did not move (a
//! seqlock). Only removals, which move entries, make readers retry; inserts,
//! overwrites and adds change one atomic word at a time.
//!
//! Writers take the shard lock, except the one thread that holds the map's
//! writer bias (`bias.rs`), which writes lock-free until another thread
//! needs a lock and revokes it. A table that a snapshot or clone also holds
//! is copied first (copy-on-write, per shard); a full table is replaced by a
//! bigger copy. A replaced table is released through the epoch scheme,
//! because readers may still be probing it.
//!
//! Operations that must see every shard at one instant (snapshot, clone,
//! clear) take all shard locks in order: O(shards), independent of size.

use std::cell::RefCell;
use std::sync::Arc;

use crate::alloc;
use crate::bias::{Bias, CLAIM_STREAK};
use crate::blob;
use crate::epoch::{self, Guard};
use crate::feed::{fm_op, Feed, FM_OP_ADD, FM_OP_CLEAR, FM_OP_INSERT, FM_OP_REMOVE, FM_OP_UPDATE};
use crate::hash;
use crate::kind::{fm_kind, KeyRef, OwnedKey, OwnedVal, ValIn, FM_BYTES, FM_FLOAT, FM_INT, FM_STR};
use crate::status::*;
use crate::sync::{
    fence, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering,
};
use crate::table::{self, capacity_for, Probe, Table};

/// Longest STR or BYTES key or value accepted (4 GiB − 1). Anything longer
/// is treated as a corrupted length, not as data.
pub(crate) const MAX_BLOB_LEN: usize = u32::MAX as usize;
/// Most entries one map may hold (the capacity arithmetic stays far from overflow).
pub(crate) const MAX_ENTRIES: usize = 1 << 40;
/// The same limit per shard, checked where an insert already holds its shard.
const MAX_SHARD_ENTRIES: usize = MAX_ENTRIES / SHARDS;

const SHARD_BITS: u32 = 6;
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;
/// Failed optimistic reads before a reader falls back to the shard lock, so
/// a stream of removals cannot starve it.
const OPTIMISTIC_TRIES: u32 = 64;

/// Counters shared by a map and the iterators and views made from it, so
/// they stay valid after the map is freed.
#[derive(Default)]
pub struct Counters {
    pub iterators: std::sync::atomic::AtomicUsize,
    pub views: std::sync::atomic::AtomicUsize,
}

#[repr(align(128))]
struct Shard {
    /// Odd while a writer moves entries; readers retry when it changes.
    seq: AtomicU64,
    /// Null until the first insert.
    table: AtomicPtr<Table>,
    lock: Mutex<()>,
    /// Entries in the shard, written with write access (plain stores: no
    /// map-wide counter makes every insert pay a locked instruction).
    count: AtomicUsize,
    /// Mutations applied, written after `count` with write access: the stats'
    /// operation count, and the version `Map::len` checks for a stable cut.
    writes: AtomicU64,
    /// The thread that last wrote under the lock and how many writes in a
    /// row it made (under the lock): when to claim the writer bias.
    last_writer: AtomicUsize,
    streak: AtomicU32,
    /// The map's writer bias (boxed by the map, which owns both it and the
    /// shards). Kept here so that a reader's locked fallback reaches it from
    /// the shard alone: one register fewer on the read path.
    bias: *const Bias,
}

// SAFETY: `bias` points to a `Bias` (which is Sync) that lives as long as
// the shard; everything else is Send + Sync already.
unsafe impl Send for Shard {}
unsafe impl Sync for Shard {}

impl Shard {
    fn new(table: *mut Table, bias: *const Bias) -> Shard {
        // SAFETY: a non-null table handed to a new shard is alive (the caller owns its reference).
        let count = unsafe { table.as_ref() }.map_or(0, Table::len);
        Shard {
            seq: AtomicU64::new(0),
            table: AtomicPtr::new(table),
            lock: Mutex::new(()),
            count: AtomicUsize::new(count),
            writes: AtomicU64::new(0),
            last_writer: AtomicUsize::new(0),
            streak: AtomicU32::new(0),
            bias,
        }
    }
    #[inline(always)]
    fn bias(&self) -> &Bias {
        // SAFETY: see the field.
        unsafe { &*self.bias }
    }
    /// Locks the shard for the calling thread, with the writer bias out of
    /// other threads' hands.
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.bias().lock(&self.lock, epoch::thread_id())
    }
    /// Counts a locked write by thread `me`. Under the lock. True each time
    /// the thread's streak of writes here reaches a multiple of CLAIM_STREAK.
    fn note_writer(&self, me: usize) -> bool {
        if self.last_writer.load(Ordering::Relaxed) != me {
            self.last_writer.store(me, Ordering::Relaxed);
            self.streak.store(1, Ordering::Relaxed);
            return false;
        }
        let n = self.streak.load(Ordering::Relaxed).wrapping_add(1);
        self.streak.store(n, Ordering::Relaxed);
        n % CLAIM_STREAK == 0
    }
    /// Records a committed mutation that changed the entry count to
    /// `count`. With write access, after the mutation.
    fn count_write(&self, count: usize) {
        self.count.store(count, Ordering::Release);
        self.writes
            .store(self.writes.load(Ordering::Relaxed) + 1, Ordering::Release);
    }
    /// Asks the CPU for the home slot of hash `h`. With write access: only
    /// its holder replaces the table, so the table stays allocated.
    #[inline(always)]
    fn prefetch_home(&self, h: u64) {
        let t = self.table.load(Ordering::Relaxed);
        if !t.is_null() {
            // SAFETY: as above.
            unsafe { &*t }.prefetch_home(h);
        }
    }
    /// Runs `f` inside the write window that makes optimistic readers retry.
    fn write_window<R>(&self, f: impl FnOnce() -> R) -> R {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let r = f();
        self.seq.store(s + 2, Ordering::Release);
        r
    }
}

/// The tables of every shard at one instant, each with a reference held.
pub struct Snapshot {
    pub key_kind: fm_kind,
    pub val_kind: fm_kind,
    tables: Vec<*const Table>,
}

// SAFETY: the tables are shared through atomics and reference counts.
unsafe impl Send for Snapshot {}
unsafe impl Sync for Snapshot {}

impl Snapshot {
    /// Non-null tables, in shard order.
    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        // SAFETY: the snapshot holds a reference to each table.
        self.tables
            .iter()
            .filter(|t| !t.is_null())
            .map(|t| unsafe { &**t })
    }
    pub fn len(&self) -> usize {
        self.tables().map(Table::len).sum()
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        for &t in self.tables.iter().filter(|t| !t.is_null()) {
            // SAFETY: our reference; readers only reach these tables through
            // this snapshot (which is being dropped) or hold their own reference.
            unsafe { table::release(t) };
        }
    }
}

pub struct Map {
    pub key_kind: fm_kind,
    pub val_kind: fm_kind,
    shards: Box<Shards>,
    pub counters: Arc<Counters>,
    /// Bridge maps only: numbers each committed mutation and feeds subscribers.
    pub(crate) feed: Option<Arc<Feed>>,
    /// Which thread, if any, writes without shard locks (see `bias.rs`).
    /// Boxed: the shards point to it.
    bias: Box<Bias>,
    /// Callbacks running on this map while their threads are suspended.
    holds: Holds,
}

/// What keeps a map alive while user code runs in one of its callbacks:
/// the thread is suspended then (`epoch::suspend`), so its pin no longer
/// does. Each such callback takes a [`Hold`]; a free of the map's handle
/// meanwhile parks the map's retirement here ([`Map::retire_when_idle`]),
/// and the last hold to go retires it.
#[derive(Default)]
struct Holds {
    /// [`ONE_HOLD`] per running callback, plus [`GIVEN_UP`] once the map's
    /// handle was freed.
    state: AtomicUsize,
    /// The map's retirement, parked until the last hold goes.
    parked: Mutex<Option<epoch::Deferred>>,
}

const GIVEN_UP: usize = 1;
const ONE_HOLD: usize = 2;

/// A running callback's claim on its map (see [`Holds`]).
struct Hold<'m>(&'m Holds);

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        if self.0.state.fetch_sub(ONE_HOLD, Ordering::AcqRel) == GIVEN_UP | ONE_HOLD {
            // The handle was freed during the callback, and this was the
            // last one: retire the map now. The thread is pinned again, so
            // the map stays allocated until it leaves.
            let parked = self
                .0
                .parked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(d) = parked {
                epoch::retire(d, epoch::SEAL_NOW);
            }
        }
    }
}

/// What a conditional write ([`Map::modify`]) does with the key.
pub enum Change<'v> {
    /// Leave it as it is.
    Keep,
    /// Store this value (inserting the key if absent).
    Put(ValIn<'v>),
    /// Remove the key (nothing if absent).
    Remove,
}

/// What a [`Map::compute`] callback decided.
pub enum Computed {
    Keep,
    /// Store these bytes as the value: 8 native-endian bytes for INT and
    /// FLOAT values.
    Set(Vec<u8>),
    Remove,
}

/// A shard lock held for a write; on release, claims the writer bias for
/// `claim_for` (a thread id) if that is not 0.
struct Locked<'m> {
    guard: Option<MutexGuard<'m, ()>>,
    claim_for: usize,
    map: &'m Map,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        if self.claim_for != 0 {
            self.map
                .bias
                .claim(self.claim_for, self.map.shards.0.iter().map(|s| &s.lock));
        }
    }
}

thread_local! {
    /// Maps whose callback is running on this thread (re-entrancy check).
    static IN_CALLBACK: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Marks a map as running a callback on this thread until dropped.
struct CallbackScope(usize);

impl CallbackScope {
    fn enter(map: &Map) -> CallbackScope {
        let id = map as *const Map as usize;
        IN_CALLBACK.with(|v| v.borrow_mut().push(id));
        CallbackScope(id)
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        let _ = IN_CALLBACK.try_with(|v| {
            let mut v = v.borrow_mut();
            if let Some(i) = v.iter().rposition(|&m| m == self.0) {
                v.remove(i);
            }
        });
    }
}

/// A map's shards. The integer fast paths reach them from the calling
/// thread's memo of the map (see [`Map::fast_word`] and
/// `epoch::MapCache`), without going through the registry or the map.
#[repr(transparent)]
pub struct Shards([Shard; SHARDS]);

/// The low bits of a fast word that hold the schema (shards are aligned to
/// 128 bytes, so the address leaves them clear).
pub(crate) const FAST_SCHEMA_MASK: u64 = 127;

const _: () = assert!(std::mem::align_of::<Shards>() > FAST_SCHEMA_MASK as usize);

/// The schema bits of a fast word: a set bit (so no word is 0) and the
/// two kinds, three bits each.
const fn fast_schema(key_kind: fm_kind, val_kind: fm_kind) -> u64 {
    64 | key_kind as u64 | (val_kind as u64) << 3
}

/// The schema bits of a fast word for a direct map with INT keys and
/// `val_kind` values.
#[inline(always)]
pub(crate) const fn fast_int_schema(val_kind: fm_kind) -> u64 {
    fast_schema(FM_INT, val_kind)
}

/// The shards of a new map with writer bias `bias`, the i-th starting with
/// `table(i)`.
fn shards(bias: &Bias, table: impl Fn(usize) -> *mut Table) -> Result<Box<Shards>> {
    let mut v = alloc::try_vec(SHARDS)?;
    v.extend((0..SHARDS).map(|i| Shard::new(table(i), bias)));
    // Exactly SHARDS long with room for SHARDS: no reallocation.
    let v: Box<[Shard]> = v.into_boxed_slice();
    let array: Box<[Shard; SHARDS]> = v
        .try_into()
        .unwrap_or_else(|_| unreachable!("exactly SHARDS shards"));
    // SAFETY: Shards is a transparent wrapper of the array.
    Ok(unsafe { Box::from_raw(Box::into_raw(array) as *mut Shards) })
}

impl Shards {
    /// The shard of hash `h`.
    #[inline(always)]
    fn shard(&self, h: u64) -> &Shard {
        &self.0[hash::shard_of(h, SHARD_BITS)]
    }

    /// The shards behind a fast word that [`Map::fast_word`] made.
    ///
    /// # Safety
    /// `word` must be the fast word of a map that stays alive for `'g` (the
    /// caller knows the map's handle was live after `_guard` pinned it).
    #[inline(always)]
    pub(crate) unsafe fn from_fast_word<'g>(word: u64, _guard: &'g Guard) -> &'g Shards {
        &*((word & !FAST_SCHEMA_MASK) as *const Shards)
    }

    /// The value word of INT key `k` (the shards of a map with INT keys):
    /// the hot path of the C ABI's integer gets, with no kind dispatch.
    /// The caller is pinned.
    #[inline(always)]
    pub(crate) fn get_int(&self, k: u64) -> Option<u64> {
        self.get_int_hashed(k, hash::int(k))
    }

    #[inline(always)]
    fn get_int_hashed(&self, k: u64, h: u64) -> Option<u64> {
        if k == 0 {
            return self.read(h, move |t| {
                t.find(KeyRef::Int(0), h).map(|slot| t.value(slot))
            });
        }
        self.read(h, move |t| t.get_int(k, h))
    }

    /// `get_int` for a key other than 0 when one optimistic read answers:
    /// Some(the value word, if present), or None when a writer was moving
    /// entries (or the key is 0) and the caller should take `get_int`. It
    /// calls nothing and does not retry, so the integer gets' hot path
    /// keeps few values live and saves few registers.
    #[inline(always)]
    pub(crate) fn get_int_optimistic(&self, k: u64) -> Option<Option<u64>> {
        if k == 0 {
            return None;
        }
        let h = hash::int(k);
        read_once(self.shard(h), move |t| t.get_int(k, h))
    }

    /// Runs `probe` on the shard's table as of one instant: optimistically,
    /// retrying if a writer moved entries meanwhile, and under the lock if
    /// that keeps happening. `probe` may run more than once. The caller is
    /// pinned.
    #[inline(always)]
    fn read<R>(&self, h: u64, probe: impl Fn(&Table) -> Option<R>) -> Option<R> {
        match self.read_optimistic(h, &probe) {
            Some(r) => r,
            None => read_locked(self.shard(h), probe),
        }
    }

    /// The optimistic part of `read`: Some(the answer), or None after
    /// OPTIMISTIC_TRIES reads that a writer overtook.
    #[inline(always)]
    fn read_optimistic<R>(&self, h: u64, probe: impl Fn(&Table) -> Option<R>) -> Option<Option<R>> {
        let shard = self.shard(h);
        for _ in 0..OPTIMISTIC_TRIES {
            if let Some(r) = read_once(shard, &probe) {
                return Some(r);
            }
            crate::sync::spin_loop();
        }
        None
    }

    /// The insert of INT key `k` with an INT or FLOAT value word, into the
    /// shards of a direct map with INT keys and such values, when it needs
    /// nothing but the store: `k` is not 0, the calling thread owns the
    /// map's writer bias, and the key's shard has a table that no snapshot
    /// shares and that has room. Some(whether a value was replaced); None,
    /// with nothing changed, sends the caller to [`Map::insert_int`].
    ///
    /// It allocates nothing, retires nothing, runs no caller code and
    /// builds no error, so it cannot panic: the integer insert exports run
    /// it outside their panic boundary, under an [`epoch::ReadPin`], as the
    /// integer gets do (that boundary kept the whole insert out of line,
    /// its arguments and result passed through memory). A bridge's map
    /// (which numbers its mutations) has no fast word, so never gets here.
    /// Its probe calls out of line only past the first group of tags.
    #[inline(always)]
    pub(crate) fn insert_int_plain(&self, k: u64, vword: u64, me: usize) -> Option<bool> {
        if k == 0 {
            return None;
        }
        let h = hash::int(k);
        let shard = self.shard(h);
        let _window = shard.bias().enter(me)?;
        // SAFETY: the shard's reference, with write access (the window):
        // only this thread can replace or release the table meanwhile.
        let t = unsafe { shard.table.load(Ordering::Relaxed).as_ref() }?;
        // Sharing first: its acquire load would make the compiler load the
        // table's fields again after it.
        if t.shared() {
            return None;
        }
        let len = t.len();
        if len >= t.room() {
            return None;
        }
        let (replaced, len) = match t.probe_int(k, h) {
            Probe::Found(slot) => {
                t.set_int_value(slot, vword);
                (true, len)
            }
            Probe::Vacant(_) if len >= MAX_SHARD_ENTRIES => return None,
            Probe::Vacant(slot) => {
                t.insert_int_at(slot, k, h, vword, len + 1);
                (false, len + 1)
            }
        };
        shard.count_write(len);
        Some(replaced)
    }
}

/// One optimistic read of `shard`: Some(what `probe` found in its table),
/// or None if a writer was moving entries or moved some meanwhile. The
/// caller is pinned.
#[inline(always)]
fn read_once<R>(shard: &Shard, probe: impl Fn(&Table) -> Option<R>) -> Option<Option<R>> {
    let s1 = shard.seq.load(Ordering::Acquire);
    if s1 & 1 != 0 {
        return None;
    }
    let t = shard.table.load(Ordering::Acquire);
    if t.is_null() {
        return Some(None);
    }
    // SAFETY: the caller is pinned, so a table it can reach stays allocated.
    let r = probe(unsafe { &*t });
    // (Under loom a negative control can leave the fence out: see
    // `loom_models::seqlock`.)
    #[cfg(loom)]
    let fenced = !crate::sync::broken(crate::sync::Broken::SeqlockReadFence);
    #[cfg(not(loom))]
    let fenced = true;
    if fenced {
        fence(Ordering::Acquire);
    }
    (shard.seq.load(Ordering::Relaxed) == s1).then_some(r)
}

fn oom() -> Error {
    Error::new(FM_OUT_OF_MEMORY, "allocation failed")
}

/// A read that kept being overtaken by writers: under the shard lock, where
/// the table cannot change. Out of line, to keep optimistic reads short.
#[cold]
#[inline(never)]
fn read_locked<R>(shard: &Shard, probe: impl Fn(&Table) -> Option<R>) -> Option<R> {
    let _lock = shard.lock();
    let t = shard.table.load(Ordering::Acquire);
    // SAFETY: the caller is pinned; under the lock the table cannot change.
    (!t.is_null()).then(|| probe(unsafe { &*t })).flatten()
}

/// Words of the blob built for a key or value; None for non-blob kinds.
fn new_blob(bytes: &[u8], h: u64) -> Result<u64> {
    blob::new(bytes, h).map(|p| p as u64).ok_or_else(oom)
}

impl Map {
    pub fn new(key_kind: fm_kind, val_kind: fm_kind, capacity: usize) -> Result<Map> {
        if key_kind == FM_FLOAT {
            return fail(
                FM_INVALID_ARGUMENT,
                "FLOAT is not a key kind (keys are INT, STR or BYTES)",
            );
        }
        hash::init();
        let bias = alloc::try_box(Bias::new(epoch::thread_id()))?;
        let map = Map {
            key_kind,
            val_kind,
            shards: shards(&bias, |_| std::ptr::null_mut())?,
            counters: alloc::try_arc(Counters::default())?,
            feed: None,
            bias,
            holds: Holds::default(),
        };
        map.reserve(capacity)?;
        Ok(map)
    }

    /// Claims the map for a callback that will run with the thread
    /// suspended. Fails, as a lookup after the free would, when the map's
    /// handle was freed after this thread found it.
    fn hold(&self) -> Result<Hold<'_>> {
        let state = &self.holds.state;
        let mut s = state.load(Ordering::Relaxed);
        loop {
            if s & GIVEN_UP != 0 {
                return fail(FM_INVALID_HANDLE, "the map was freed during the call");
            }
            match state.compare_exchange_weak(s, s + ONE_HOLD, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Ok(Hold(&self.holds)),
                Err(now) => s = now,
            }
        }
    }

    /// Given the retirement of this map (its handle was just freed): hands
    /// it back to be retired now, or parks it for the last running
    /// callback's hold to retire when it ends.
    pub fn retire_when_idle(&self, retirement: epoch::Deferred) -> Option<epoch::Deferred> {
        let parked = || self.holds.parked.lock().unwrap_or_else(|p| p.into_inner());
        *parked() = Some(retirement);
        if self.holds.state.fetch_or(GIVEN_UP, Ordering::AcqRel) >= ONE_HOLD {
            return None;
        }
        parked().take()
    }

    /// Runs `f`, user code, with the thread suspended (see `epoch::suspend`)
    /// and this map held: `f` blocks no memory reclamation but this map's.
    fn suspended<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        let _hold = self.hold()?;
        let _suspended = epoch::suspend();
        f()
    }

    /// Whether this map is running a callback on the calling thread; checked
    /// only when the thread is already inside a ferrymap call.
    pub fn in_callback(&self) -> bool {
        let id = self as *const Map as usize;
        IN_CALLBACK
            .try_with(|v| v.borrow().contains(&id))
            .unwrap_or(false)
    }

    /// The number of entries at one instant. Each shard keeps its own count
    /// and a version bumped after every change (both plain stores under
    /// its lock). Reading all versions and counts, then all versions again,
    /// and finding no version moved, means no count changed in between: the
    /// sum is the map's size at the moment the first pass ended. Writers
    /// publish count, then version, with release, and the reads acquire, so
    /// a count seen in the first pass carries every earlier write of that
    /// writer into the second. A shard whose sequence is odd may be in the
    /// middle of a clear (see `clear`), so the pass starts again, and both
    /// passes compare sequences too. A map written too busily for a stable
    /// cut is counted under all its locks.
    pub fn len(&self) -> usize {
        'retry: for _ in 0..OPTIMISTIC_TRIES {
            let mut versions = [(0u64, 0u64); SHARDS];
            let mut total = 0usize;
            for (v, shard) in versions.iter_mut().zip(self.shards.0.iter()) {
                // An odd sequence: a clear in progress (see `clear`).
                let seq = shard.seq.load(Ordering::Acquire);
                if seq & 1 != 0 {
                    crate::sync::spin_loop();
                    continue 'retry;
                }
                *v = (seq, shard.writes.load(Ordering::Acquire));
                total += shard.count.load(Ordering::Acquire);
            }
            if versions
                .iter()
                .zip(self.shards.0.iter())
                .all(|(&v, shard)| {
                    shard.writes.load(Ordering::Acquire) == v.1
                        && shard.seq.load(Ordering::Acquire) == v.0
                })
            {
                return total;
            }
            crate::sync::spin_loop();
        }
        self.with_all_locked(|| {
            self.shards
                .0
                .iter()
                .map(|s| s.count.load(Ordering::Relaxed))
                .sum()
        })
    }

    fn shard(&self, h: u64) -> &Shard {
        self.shards.shard(h)
    }

    /// What a thread remembers of this map for the integer fast paths: the
    /// address of its shards, with the schema in the low bits (for INT keys,
    /// [`fast_int_schema`]); 0 for a bridge's map, which must never be
    /// reached directly. The shards live as long as the map.
    pub(crate) fn fast_word(&self) -> u64 {
        if self.feed.is_some() {
            return 0;
        }
        &*self.shards as *const Shards as u64 | fast_schema(self.key_kind, self.val_kind)
    }

    /// Runs `f` with the right to write `shard`: in a window if this thread
    /// owns the writer bias, else under the shard lock (counting the write
    /// toward a claim). Once access is granted it asks the CPU for the home
    /// slot of `h`, the key's hash, so that the slot's cache miss overlaps
    /// the bookkeeping before the probe (at 1M keys, 6-12% off an insert).
    #[inline(always)]
    fn with_write<R>(&self, shard: &Shard, h: u64, f: impl FnOnce() -> R) -> R {
        let me = epoch::thread_id();
        if let Some(_window) = self.bias.enter(me) {
            shard.prefetch_home(h);
            return f();
        }
        let _locked = self.write_locked(shard, me);
        shard.prefetch_home(h);
        f()
    }

    #[inline(never)]
    fn write_locked<'s>(&'s self, shard: &'s Shard, me: usize) -> Locked<'s> {
        let guard = self.bias.lock(&shard.lock, me);
        let claim_for = if shard.note_writer(me) { me } else { 0 };
        Locked {
            guard: Some(guard),
            claim_for,
            map: self,
        }
    }

    /// Whether the calling thread owns the writer bias (tests).
    pub fn biased_to_caller(&self) -> bool {
        self.bias.owned_by(epoch::thread_id())
    }

    /// Validates a key against the schema and hashes it.
    #[inline]
    pub fn check_key<'k>(&self, key: KeyRef<'k>) -> Result<(KeyRef<'k>, u64)> {
        match (key, self.key_kind) {
            (KeyRef::Int(k), FM_INT) => Ok((key, hash::int(k))),
            (KeyRef::Bytes(b), FM_STR | FM_BYTES) => {
                if b.len() > MAX_BLOB_LEN {
                    return fail(
                        FM_INVALID_ARGUMENT,
                        format!("key length {} exceeds the limit", b.len()),
                    );
                }
                if self.key_kind == FM_STR && std::str::from_utf8(b).is_err() {
                    return fail(FM_INVALID_UTF8, "STR key is not valid UTF-8");
                }
                Ok((key, hash::bytes(b)))
            }
            (KeyRef::Int(_), kind) => fail(
                FM_WRONG_KIND,
                format!("map keys are {}, not INT", kind.name()),
            ),
            (KeyRef::Bytes(_), kind) => fail(
                FM_WRONG_KIND,
                format!("map keys are {}, not STR/BYTES", kind.name()),
            ),
        }
    }

    /// Validates a value against the schema.
    pub fn check_val(&self, val: ValIn<'_>) -> Result<()> {
        match (val, self.val_kind) {
            (ValIn::Int(_), FM_INT) | (ValIn::Float(_), FM_FLOAT) => Ok(()),
            (ValIn::Bytes(b), FM_STR | FM_BYTES) => {
                if b.len() > MAX_BLOB_LEN {
                    return fail(
                        FM_INVALID_ARGUMENT,
                        format!("value length {} exceeds the limit", b.len()),
                    );
                }
                if self.val_kind == FM_STR && std::str::from_utf8(b).is_err() {
                    return fail(FM_INVALID_UTF8, "STR value is not valid UTF-8");
                }
                Ok(())
            }
            (_, kind) => fail(FM_WRONG_KIND, format!("map values are {}", kind.name())),
        }
    }

    /// Builds the value word (allocating a blob for STR/BYTES). Unchecked.
    fn value_word(&self, val: ValIn<'_>) -> Result<u64> {
        Ok(match val {
            ValIn::Int(v) => v as u64,
            ValIn::Float(v) => v.to_bits(),
            ValIn::Bytes(b) => new_blob(b, 0)?,
        })
    }

    /// Gives up a value word removed from a reachable table.
    fn drop_value_word(&self, word: u64) {
        if self.val_kind.is_blob() && word != 0 {
            // SAFETY: the word came out of a reachable table with its reference.
            unsafe { blob::release_deferred(word as *const blob::Blob) }
        }
    }
    fn drop_key_word(&self, word: u64) {
        if self.key_kind.is_blob() {
            // SAFETY: as above.
            unsafe { blob::release_deferred(word as *const blob::Blob) }
        }
    }

    /// Tells the change feed (bridge maps only) about a committed mutation.
    /// `val_word` is the new value's word, alive under the caller's lock.
    #[inline]
    fn committed(&self, op: fm_op, key: Option<KeyRef<'_>>, val_word: Option<u64>) {
        if let Some(feed) = &self.feed {
            self.feed_commit(feed, op, key, val_word);
        }
    }

    #[cold]
    #[inline(never)]
    fn feed_commit(&self, feed: &Feed, op: fm_op, key: Option<KeyRef<'_>>, val_word: Option<u64>) {
        feed.commit(op, || {
            let key = OwnedKey::try_from_ref(key)?;
            // SAFETY: the word was just stored with the caller's write access.
            let val = match val_word {
                Some(w) => unsafe { OwnedVal::from_word(self.val_kind, w) }?,
                None => OwnedVal::None,
            };
            Ok((key, val))
        });
    }

    /// Looks `key` up and returns its value word. A blob word stays valid
    /// while `_guard` lives.
    #[inline]
    pub fn get_word(&self, key: KeyRef<'_>, _guard: &Guard) -> Result<Option<u64>> {
        let (key, h) = self.check_key(key)?;
        Ok(self.read(h, |t| t.find(key, h).map(|slot| t.value(slot))))
    }

    /// The value word of an INT key, for maps with INT keys, with no kind
    /// dispatch.
    #[inline(always)]
    pub fn get_int(&self, k: u64, _guard: &Guard) -> Option<u64> {
        debug_assert_eq!(self.key_kind, FM_INT);
        self.shards.get_int(k)
    }

    /// Looks up many INT keys (maps with INT keys), handing `f` each index
    /// and value word in order. Keys go in groups: the group's hashes are
    /// computed and their home slots prefetched before any is probed, so
    /// the cache misses of a group overlap instead of following each other.
    pub fn get_many_int(
        &self,
        keys: &[u64],
        _guard: &Guard,
        mut f: impl FnMut(usize, Option<u64>),
    ) {
        debug_assert_eq!(self.key_kind, FM_INT);
        const GROUP: usize = 8;
        for (c, group) in keys.chunks(GROUP).enumerate() {
            let mut hashes = [0u64; GROUP];
            for (h, &k) in hashes.iter_mut().zip(group) {
                *h = hash::int(k);
                let t = self.shard(*h).table.load(Ordering::Acquire);
                // SAFETY: the caller is pinned, so a table it can reach stays
                // allocated; a prefetch only hints at an address anyway.
                if let Some(t) = unsafe { t.as_ref() } {
                    t.prefetch_home(*h);
                }
            }
            for (j, (&h, &k)) in hashes.iter().zip(group).enumerate() {
                f(c * GROUP + j, self.shards.get_int_hashed(k, h));
            }
        }
    }

    #[inline(always)]
    fn read<R>(&self, h: u64, probe: impl Fn(&Table) -> Option<R>) -> Option<R> {
        self.shards.read(h, probe)
    }

    pub fn contains(&self, key: KeyRef<'_>, guard: &Guard) -> Result<bool> {
        Ok(self.get_word(key, guard)?.is_some())
    }

    /// Makes the shard's table safe to modify: creates it, copies it if a
    /// snapshot shares it, grows it if `grow` and it is full. With write
    /// access (the shard lock or the writer bias).
    #[inline]
    fn writable<'s>(&self, shard: &'s Shard, grow: bool) -> Result<&'s Table> {
        let cur = shard.table.load(Ordering::Relaxed);
        // SAFETY: the shard holds a reference and we have write access.
        if let Some(t) = unsafe { cur.as_ref() } {
            if (!grow || t.has_room()) && !t.shared() {
                return Ok(t);
            }
        }
        self.make_writable(shard, grow)
    }

    /// `writable` when the table must be created, copied or grown.
    #[cold]
    #[inline(never)]
    fn make_writable<'s>(&self, shard: &'s Shard, grow: bool) -> Result<&'s Table> {
        let cur = shard.table.load(Ordering::Relaxed);
        if cur.is_null() {
            let t = Table::alloc(
                capacity_for(1).ok_or_else(oom)?,
                self.key_kind.is_blob(),
                self.val_kind.is_blob(),
            )
            .ok_or_else(oom)?;
            shard.table.store(t, Ordering::Release);
            // SAFETY: just stored; the shard holds its reference.
            return Ok(unsafe { &*t });
        }
        // SAFETY: the shard holds a reference and we have write access.
        let t = unsafe { &*cur };
        let full = grow && !t.has_room();
        if !full && !t.shared() {
            return Ok(t);
        }
        let capacity = if full { t.capacity() * 2 } else { t.capacity() };
        self.replace_table(shard, t.copy(capacity).ok_or_else(oom)?)
    }

    /// Installs `new` as the shard's table and releases the old one once
    /// readers are done with it. Under the lock.
    fn replace_table<'s>(&self, shard: &'s Shard, new: *mut Table) -> Result<&'s Table> {
        let old = shard.table.swap(new, Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: the shard's reference; readers may still probe it.
            unsafe { table::release_deferred(old) };
        }
        // SAFETY: the shard holds the new table's reference.
        Ok(unsafe { &*new })
    }

    /// Inserts or overwrites. Returns whether a value was replaced.
    pub fn insert(&self, key: KeyRef<'_>, val: ValIn<'_>) -> Result<bool> {
        self.store(key, val, true)
    }

    /// Inserts only if `key` is absent; an existing value is left alone.
    /// Returns whether the key was already present.
    pub fn insert_if_absent(&self, key: KeyRef<'_>, val: ValIn<'_>) -> Result<bool> {
        self.store(key, val, false)
    }

    fn store(&self, key: KeyRef<'_>, val: ValIn<'_>, overwrite: bool) -> Result<bool> {
        let (key, h) = self.check_key(key)?;
        self.check_val(val)?;
        let vword = self.value_word(val)?;
        let shard = self.shard(h);
        self.with_write(shard, h, || {
            if !overwrite {
                let cur = shard.table.load(Ordering::Relaxed);
                // SAFETY: the shard's reference, with write access.
                if !cur.is_null() && unsafe { &*cur }.find(key, h).is_some() {
                    self.drop_unshared_value_word(vword);
                    return Ok(true);
                }
            }
            let result = self.insert_held(shard, key, h, vword, FM_OP_INSERT);
            if result.is_err() {
                self.drop_unshared_value_word(vword);
            }
            result
        })
    }

    /// Inserts or overwrites the INT/FLOAT value word of an INT key: the hot
    /// path of the C ABI's integer inserts, with no kind dispatch or checks
    /// (the caller matched the schema). Returns whether a value was replaced.
    #[inline]
    pub fn insert_int(&self, k: u64, vword: u64) -> Result<bool> {
        debug_assert!(self.key_kind == FM_INT && !self.val_kind.is_blob());
        let h = hash::int(k);
        let shard = self.shard(h);
        self.with_write(shard, h, || {
            self.insert_held(shard, KeyRef::Int(k), h, vword, FM_OP_INSERT)
        })
    }

    /// A value word that never reached a table (its blob may go at once).
    fn drop_unshared_value_word(&self, word: u64) {
        if self.val_kind.is_blob() {
            // SAFETY: the blob was never published.
            unsafe { blob::release(word as *const blob::Blob) }
        }
    }

    /// Inserts or overwrites; the caller holds the shard's write access.
    fn insert_held(
        &self,
        shard: &Shard,
        key: KeyRef<'_>,
        h: u64,
        vword: u64,
        op: fm_op,
    ) -> Result<bool> {
        let t = self.writable(shard, true)?;
        let slot = match t.probe(key, h) {
            Probe::Found(slot) => {
                let old = t.set_value(slot, vword);
                shard.count_write(t.len());
                self.committed(op, Some(key), Some(vword));
                self.drop_value_word(old);
                return Ok(true);
            }
            Probe::Vacant(slot) => slot,
        };
        if t.len() >= MAX_SHARD_ENTRIES {
            return fail(FM_OUT_OF_MEMORY, "map is at its entry limit");
        }
        let kword = match key {
            KeyRef::Int(k) => k,
            KeyRef::Bytes(b) => new_blob(b, h)?,
        };
        t.insert_at(slot, kword, vword, h);
        shard.count_write(t.len());
        self.committed(op, Some(key), Some(vword));
        Ok(false)
    }

    /// Removes `key`. Returns whether it was present.
    pub fn remove(&self, key: KeyRef<'_>) -> Result<bool> {
        self.take(key, &mut |_| Ok(()))
    }

    /// Removes `key`, first handing its value word to `accept` while this
    /// thread holds the shard's write access (a blob word stays valid for
    /// the caller's pinned call). `accept` is library code that calls no
    /// caller callback. If it fails, nothing is removed. Returns whether the
    /// key was present.
    pub fn take(&self, key: KeyRef<'_>, accept: &mut dyn FnMut(u64) -> Result<()>) -> Result<bool> {
        let (key, h) = self.check_key(key)?;
        let shard = self.shard(h);
        self.with_write(shard, h, || {
            let cur = shard.table.load(Ordering::Relaxed);
            // SAFETY: the shard's reference, with write access.
            let Some(slot) = (!cur.is_null())
                .then(|| unsafe { &*cur }.find(key, h))
                .flatten()
            else {
                return Ok(false);
            };
            // SAFETY: as above.
            accept(unsafe { &*cur }.value(slot))?;
            self.remove_held(shard, key, h)?;
            Ok(true)
        })
    }

    /// Removes `key`, which is present; the caller holds the shard's write
    /// access.
    fn remove_held(&self, shard: &Shard, key: KeyRef<'_>, h: u64) -> Result<()> {
        let t = self.writable(shard, false)?;
        let slot = t
            .find(key, h)
            .expect("present in the copy as in the original");
        let (kw, vw) = shard.write_window(|| t.remove_at(slot));
        shard.count_write(t.len());
        self.committed(FM_OP_REMOVE, Some(key), None);
        self.drop_key_word(kw);
        self.drop_value_word(vw);
        Ok(())
    }

    /// The one step behind the conditional writes (swap, compare-and-swap,
    /// remove-if-equal, get-or-insert): with the shard's write access,
    /// `decide` gets the key's current value word (None when absent; a blob
    /// word stays valid for the caller's pinned call) and says what to do.
    /// `decide` is library code that calls no caller callback; when it
    /// fails, nothing changes. Linearizable with every other operation on
    /// the key.
    pub fn modify<'v>(
        &self,
        key: KeyRef<'_>,
        decide: &mut dyn FnMut(Option<u64>) -> Result<Change<'v>>,
    ) -> Result<()> {
        let (key, h) = self.check_key(key)?;
        let shard = self.shard(h);
        self.with_write(shard, h, || {
            let cur = shard.table.load(Ordering::Relaxed);
            // SAFETY: the shard's reference, with write access.
            let found = (!cur.is_null())
                .then(|| {
                    unsafe { &*cur }
                        .find(key, h)
                        .map(|slot| unsafe { &*cur }.value(slot))
                })
                .flatten();
            match decide(found)? {
                Change::Keep => Ok(()),
                Change::Remove if found.is_none() => Ok(()),
                Change::Remove => self.remove_held(shard, key, h),
                Change::Put(val) => {
                    self.check_val(val)?;
                    let vword = self.value_word(val)?;
                    let result = self.insert_held(shard, key, h, vword, FM_OP_INSERT);
                    if result.is_err() {
                        self.drop_unshared_value_word(vword);
                    }
                    result.map(|_| ())
                }
            }
        })
    }

    /// Whether a value word stands for `val`: INT values by value, FLOAT
    /// values by their bits (so NaN equals the same NaN, and 0.0 is not
    /// -0.0), STR and BYTES by their bytes. A word of a blob must be alive.
    pub fn value_is(&self, word: u64, val: ValIn<'_>) -> bool {
        match val {
            ValIn::Int(v) => self.val_kind == FM_INT && word == v as u64,
            ValIn::Float(v) => self.val_kind == FM_FLOAT && word == v.to_bits(),
            ValIn::Bytes(b) => {
                // SAFETY: the caller vouches for the word.
                self.val_kind.is_blob() && unsafe { blob::bytes(word as *const blob::Blob) } == b
            }
        }
    }

    /// Adds `delta` to an INT or FLOAT value in one step; an absent key starts
    /// at 0. Returns the new value's word.
    pub fn add(&self, key: KeyRef<'_>, delta: ValIn<'_>) -> Result<u64> {
        let (key, h) = self.check_key(key)?;
        self.check_val(delta)?;
        let shard = self.shard(h);
        self.with_write(shard, h, || {
            let t = self.writable(shard, true)?;
            let old = t.find(key, h).map(|slot| t.value(slot));
            let new = match delta {
                ValIn::Int(d) => {
                    let base = old.unwrap_or(0) as i64;
                    base.checked_add(d).ok_or_else(|| {
                        Error::new(FM_OVERFLOW, format!("{base} + {d} overflows int64"))
                    })? as u64
                }
                ValIn::Float(d) => (f64::from_bits(old.unwrap_or(0f64.to_bits())) + d).to_bits(),
                ValIn::Bytes(_) => return fail(FM_WRONG_KIND, "add needs INT or FLOAT values"),
            };
            self.insert_held(shard, key, h, new, FM_OP_ADD)?;
            Ok(new)
        })
    }

    /// Calls `f`, caller code, with the key's current value (None when
    /// absent) under the shard lock, and does what it decides: keep, store
    /// a value of any length (inserting the key if absent), or remove.
    /// `f` gets the 8 native-endian bytes of an INT/FLOAT value or a
    /// private copy of a STR/BYTES value; a value it stores is checked
    /// like any other (8 bytes for INT/FLOAT, UTF-8 for STR). An error from
    /// `f` changes nothing. A call from `f` into this map fails with
    /// FM_REENTRANT. Returns whether the key is present afterwards.
    pub fn compute(
        &self,
        key: KeyRef<'_>,
        f: &mut dyn FnMut(Option<&[u8]>) -> Result<Computed>,
    ) -> Result<bool> {
        let (key, h) = self.check_key(key)?;
        let shard = self.shard(h);
        let _lock = shard.lock();
        let cur = shard.table.load(Ordering::Relaxed);
        // SAFETY: the shard's reference, under its lock.
        let word = (!cur.is_null())
            .then(|| {
                unsafe { &*cur }
                    .find(key, h)
                    .map(|slot| unsafe { &*cur }.value(slot))
            })
            .flatten();
        let current = match word {
            // SAFETY: a value word of the current table under its lock.
            Some(w) if self.val_kind.is_blob() => Some(alloc::try_copy(unsafe {
                blob::bytes(w as *const blob::Blob)
            })?),
            Some(w) => Some(alloc::try_copy(&w.to_ne_bytes())?),
            None => None,
        };
        let decision = {
            let _scope = CallbackScope::enter(self);
            // As in `update`: nothing read above is used across the callback.
            self.suspended(|| f(current.as_deref()))?
        };
        match decision {
            Computed::Keep => Ok(word.is_some()),
            Computed::Remove => {
                if word.is_some() {
                    self.remove_held(shard, key, h)?;
                }
                Ok(false)
            }
            Computed::Set(bytes) => {
                let val = match self.val_kind {
                    FM_INT | FM_FLOAT => {
                        let raw: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                            Error::new(
                                FM_INVALID_ARGUMENT,
                                format!(
                                    "a {} value is 8 bytes, not {}",
                                    self.val_kind.name(),
                                    bytes.len()
                                ),
                            )
                        })?;
                        match self.val_kind {
                            FM_INT => ValIn::Int(i64::from_ne_bytes(raw)),
                            _ => ValIn::Float(f64::from_ne_bytes(raw)),
                        }
                    }
                    _ => ValIn::Bytes(&bytes),
                };
                self.check_val(val)?;
                let vword = self.value_word(val)?;
                if let Err(e) = self.insert_held(shard, key, h, vword, FM_OP_INSERT) {
                    self.drop_unshared_value_word(vword);
                    return Err(e);
                }
                Ok(true)
            }
        }
    }

    /// Calls `f` with the current value, under the shard lock, and stores what
    /// it leaves. `f` gets the 8 bytes of an INT/FLOAT value or a private copy
    /// of a STR/BYTES value (same length); returning an error leaves the
    /// value unchanged. A call from `f` into this map fails with FM_REENTRANT.
    pub fn update(
        &self,
        key: KeyRef<'_>,
        f: &mut dyn FnMut(&mut [u8]) -> Result<()>,
    ) -> Result<()> {
        let (key, h) = self.check_key(key)?;
        let shard = self.shard(h);
        let _lock = shard.lock();
        let cur = shard.table.load(Ordering::Relaxed);
        // SAFETY: the shard's reference, under its lock.
        let Some(slot) = (!cur.is_null())
            .then(|| unsafe { &*cur }.find(key, h))
            .flatten()
        else {
            return Err(Error::not_found());
        };
        // SAFETY: as above.
        let word = unsafe { &*cur }.value(slot);
        let mut scratch: Vec<u8> = if self.val_kind.is_blob() {
            // SAFETY: a value word of the current table under its lock.
            unsafe { blob::bytes(word as *const blob::Blob) }.to_vec()
        } else {
            word.to_ne_bytes().to_vec()
        };
        {
            let _scope = CallbackScope::enter(self);
            // The shard's table and the value word are not used across the
            // callback: the table is read again below, under the same lock.
            self.suspended(|| f(&mut scratch))?;
        }
        let new = match self.val_kind {
            FM_INT | FM_FLOAT => u64::from_ne_bytes(scratch[..8].try_into().expect("8 bytes")),
            _ => {
                self.check_val(ValIn::Bytes(&scratch))?;
                new_blob(&scratch, 0)?
            }
        };
        let t = self.writable(shard, false)?;
        let slot = t.find(key, h).expect("present under the lock");
        let old = t.set_value(slot, new);
        shard.count_write(t.len());
        self.committed(FM_OP_UPDATE, Some(key), Some(new));
        self.drop_value_word(old);
        Ok(())
    }

    /// Runs `f` with every shard locked, in shard order.
    fn with_all_locked<R>(&self, f: impl FnOnce() -> R) -> R {
        // On the stack: taking every lock allocates nothing.
        let _locks: [_; SHARDS] = std::array::from_fn(|i| self.shards.0[i].lock());
        f()
    }

    /// A snapshot of every shard at one instant. O(shards): tables are
    /// shared, and the next writer to each shard copies it.
    pub fn snapshot(&self) -> Result<Snapshot> {
        // Allocated before the locks are taken, and fallibly.
        let mut tables = alloc::try_vec(SHARDS)?;
        Ok(self.with_all_locked(|| {
            tables.extend(self.shards.0.iter().map(|s| {
                let t = s.table.load(Ordering::Relaxed);
                if !t.is_null() {
                    // SAFETY: the shard's reference, under its lock.
                    unsafe { &*t }.acquire();
                }
                t as *const Table
            }));
            Snapshot {
                key_kind: self.key_kind,
                val_kind: self.val_kind,
                tables,
            }
        }))
    }

    /// An independent map with the same contents, sharing tables until either side writes.
    pub fn clone_map(&self) -> Result<Map> {
        let mut snap = self.snapshot()?;
        // On failure the snapshot is dropped, releasing its references.
        let bias = alloc::try_box(Bias::new(epoch::thread_id()))?;
        let counters = alloc::try_arc(Counters::default())?;
        let shards = shards(&bias, |i| snap.tables[i] as *mut Table)?;
        // The new shards own the snapshot's references now: empty it, so that
        // dropping it releases none of them (and frees its vector). Nothing
        // below can fail.
        snap.tables.clear();
        Ok(Map {
            key_kind: self.key_kind,
            val_kind: self.val_kind,
            shards,
            counters,
            feed: None,
            bias,
            holds: Holds::default(),
        })
    }

    /// Removes everything, at one instant.
    ///
    /// Lock-free readers see it at one instant too: every shard's sequence
    /// is made odd (a write in progress) before the first table goes, and
    /// even again only after the last one has gone. A reader that sees one
    /// shard cleared saw that shard's sequence even again, and with it every
    /// table swap; in any other shard it then finds either the new empty
    /// table or an odd sequence, and retries (`read_once`, `len`).
    pub fn clear(&self) {
        self.with_all_locked(|| {
            let shards = &self.shards.0;
            let seqs: [u64; SHARDS] = std::array::from_fn(|i| {
                let s = shards[i].seq.load(Ordering::Relaxed);
                shards[i].seq.store(s + 1, Ordering::Relaxed);
                s
            });
            fence(Ordering::Release);
            for shard in shards.iter() {
                let old = shard.table.swap(std::ptr::null_mut(), Ordering::AcqRel);
                if !old.is_null() {
                    shard.count_write(0);
                    // SAFETY: the shard's reference; readers may still probe it.
                    unsafe { table::release_deferred(old) };
                }
            }
            for (shard, s) in shards.iter().zip(seqs) {
                shard.seq.store(s + 2, Ordering::Release);
            }
            self.committed(FM_OP_CLEAR, None, None);
        });
    }

    /// Makes room for `additional` more entries without further growth.
    pub fn reserve(&self, additional: usize) -> Result<()> {
        let total = self
            .len()
            .checked_add(additional)
            .filter(|&n| n <= MAX_ENTRIES)
            .ok_or_else(|| {
                Error::new(
                    FM_INVALID_ARGUMENT,
                    format!("capacity {additional} exceeds the limit of {MAX_ENTRIES} entries"),
                )
            })?;
        if total == 0 {
            return Ok(());
        }
        // Keys spread evenly over shards; leave a margin for the unlucky ones.
        let per_shard = total / SHARDS;
        let per_shard = per_shard + 3 * (per_shard as f64).sqrt() as usize + 4;
        let capacity = capacity_for(per_shard).ok_or_else(oom)?;
        for shard in self.shards.0.iter() {
            let _lock = shard.lock();
            let cur = shard.table.load(Ordering::Relaxed);
            let new = if cur.is_null() {
                Table::alloc(capacity, self.key_kind.is_blob(), self.val_kind.is_blob())
            } else {
                // SAFETY: the shard's reference, under its lock.
                let t = unsafe { &*cur };
                if t.capacity() >= capacity {
                    continue;
                }
                t.copy(capacity)
            };
            self.replace_table(shard, new.ok_or_else(oom)?)?;
        }
        Ok(())
    }

    /// Figures for `fm_stats`.
    pub fn stats(&self, _guard: &Guard) -> MapStats {
        let mut s = MapStats {
            len: self.len(),
            memory: std::mem::size_of::<Map>() + SHARDS * std::mem::size_of::<Shard>(),
            ..Default::default()
        };
        for shard in self.shards.0.iter() {
            s.writes += shard.writes.load(Ordering::Relaxed);
            let t = shard.table.load(Ordering::Acquire);
            if !t.is_null() {
                // SAFETY: pinned by `_guard`.
                let t = unsafe { &*t };
                s.capacity += t.capacity();
                s.memory += t.memory();
            }
        }
        s.iterators = self.counters.iterators.load(Ordering::Relaxed);
        s.views = self.counters.views.load(Ordering::Relaxed);
        s
    }

    /// Runs `f` on each entry of a snapshot, marking the map as in a
    /// callback. The thread is suspended throughout (see [`Map::suspended`]):
    /// the snapshot's references keep its tables and their blobs alive.
    pub fn for_each(&self, f: &mut dyn FnMut(u64, u64) -> Result<()>) -> Result<()> {
        let snap = self.snapshot()?;
        let _scope = CallbackScope::enter(self);
        self.suspended(|| {
            for t in snap.tables() {
                let mut result = Ok(());
                t.for_each_word(|k, v| {
                    if result.is_ok() {
                        result = f(k, v);
                    }
                });
                result?;
            }
            Ok(())
        })
    }
}

#[derive(Default, Debug, Clone, Copy)]
pub struct MapStats {
    pub len: usize,
    pub capacity: usize,
    pub memory: usize,
    pub iterators: usize,
    pub views: usize,
    pub writes: u64,
}

impl Drop for Map {
    fn drop(&mut self) {
        for shard in self.shards.0.iter() {
            let t = shard.table.load(Ordering::Acquire);
            if !t.is_null() {
                // SAFETY: the map is dropped only after every reader has left
                // (registry objects are retired through the epoch scheme).
                unsafe { table::release(t) };
            }
        }
    }
}
