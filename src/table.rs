//! One shard's hash table: open addressing with linear probing over a flat
//! array of atomic 64-bit words, two per slot (key word, value word).
//!
//! Every word is an atomic and a table never changes size during its life,
//! so a reader may probe it without a lock while a writer works on it; the
//! shard's sequence counter tells the reader when to retry (see `map.rs`).
//! Writers are serialised by the shard's write access (its lock, or the
//! map's writer bias: see `bias.rs`).
//!
//! Key words: an INT key is stored as itself, except key 0, which would look
//! like an empty slot and lives in a side slot (`zero_*`). A STR/BYTES key is
//! a pointer to a [`blob`](crate::blob) (never 0).
//! Value words: INT as its bits, FLOAT as `f64::to_bits`, STR/BYTES as a blob
//! pointer.
//!
//! Removal shifts later entries of the probe run back (no tombstones), which
//! moves entries, so removals run inside the shard's write window.
//!
//! Writers also keep a tag byte per slot, in an array of its own: 0 for an
//! empty slot, else 0x80 and seven bits of the key's hash. A writer finds
//! the end of a probe run, and the few slots whose key may match, by
//! scanning 16 tags at a time; it loads a slot's key word only when the
//! tag matches. The tags take a sixteenth of the slots' memory, so they
//! stay in the cache when the slots do not, and inserting a new key into a
//! big table is a store into its slot, not a load that waits for memory
//! first. Readers never look at tags (they probe the slots, as above), so
//! tags are plain bytes, read and written only with write access.
//!
//! A table is shared by reference count: the shard holds one reference, and
//! each snapshot (iterator, clone) holds one. A writer that finds the count
//! above one copies the table before touching it (copy-on-write).

use crate::sync::{fence, AtomicU64, AtomicUsize, Ordering};
use std::alloc::{alloc_zeroed, dealloc, Layout};

use crate::blob;
use crate::hash;
use crate::kind::KeyRef;

/// Where a writer's probe for a key ended (see [`Table::probe`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    Found(usize),
    Vacant(usize),
}

/// Index of the side slot holding INT key 0.
pub const ZERO_SLOT: usize = usize::MAX;

/// A shard's first table. 16 slots (256 bytes) hold 12 entries: a map of a
/// thousand entries (about 16 per shard) grows each shard once, not twice.
const MIN_CAPACITY: usize = 16;

pub struct Table {
    refs: AtomicUsize,
    mask: usize,
    /// Entries the load limit (`room_of`) allows, so that checking for room
    /// is a compare with no arithmetic.
    room: usize,
    /// Entries, including the side slot. Written only with write access.
    len: AtomicUsize,
    /// Heap bytes held by blobs this table references (for stats).
    blob_bytes: AtomicUsize,
    zero_present: AtomicU64,
    zero_val: AtomicU64,
    key_blobs: bool,
    val_blobs: bool,
    slots: *mut AtomicU64,
    /// `capacity + GROUP` tag bytes: one per slot, then the first GROUP
    /// again, so that a group read at any slot needs no wrap-around.
    /// Touched only with write access, or by the table's creator while it
    /// is private.
    tags: *mut u8,
    /// Loom builds only: a witness of the table's lifetime. Lock-free
    /// readers read it (`find`, `get_int`) and the last release writes it
    /// just before the memory goes, so loom reports a reader that the epoch
    /// scheme or the reference count failed to order before the free.
    #[cfg(loom)]
    alive: loom::cell::UnsafeCell<()>,
}

// SAFETY: all shared state is atomic; the raw slot pointer is owned.
unsafe impl Send for Table {}
unsafe impl Sync for Table {}

/// Slot arrays of this many bytes or more start on a cache line, so that a
/// probe's neighbouring slots share one. Smaller ones (a fresh shard's, a
/// small map's) stay in L1 anyway, and malloc's own 16-byte alignment
/// spares them glibc's slower aligned allocation (malloc and free were a
/// fifth of the samples while a fresh map's 64 small tables grew, part of
/// it in that path).
const ALIGNED_SLOTS_BYTES: usize = 4096;

// `release` frees a table's memory without dropping its header.
const _: () = assert!(!std::mem::needs_drop::<Table>());

/// Tag bytes a writer scans at once.
const GROUP: usize = 16;

/// The layout of a table: its header, then its slot array and its tag
/// array (at the offsets returned), in one allocation, so that making or
/// growing a table costs one malloc and one free, not two.
fn table_layout(capacity: usize) -> Option<(Layout, usize, usize)> {
    let slots = Layout::array::<AtomicU64>(capacity.checked_mul(2)?).ok()?;
    let align = if slots.size() >= ALIGNED_SLOTS_BYTES {
        64
    } else {
        16
    };
    let (with_slots, slots_at) = Layout::new::<Table>()
        .extend(slots.align_to(align).ok()?)
        .ok()?;
    let (layout, tags_at) = with_slots
        .extend(Layout::array::<u8>(capacity.checked_add(GROUP)?).ok()?)
        .ok()?;
    Some((layout, slots_at, tags_at))
}

/// The tag of a key with hash `h`: never 0. Its seven bits sit above any
/// slot index's and below the shard's (the top six bits).
#[inline(always)]
fn tag_of(h: u64) -> u8 {
    0x80 | (h >> 51) as u8 & 0x7f
}

/// For the GROUP tags from `p`: bit i set where tag i is `tag`, and bit i
/// set where it is 0 (an empty slot).
///
/// # Safety
/// `p` readable for GROUP bytes.
#[inline(always)]
unsafe fn group_masks(p: *const u8, tag: u8) -> (u32, u32) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
            _mm_setzero_si128,
        };
        // SSE2 is part of x86_64.
        let g = _mm_loadu_si128(p as *const __m128i);
        let hits = _mm_movemask_epi8(_mm_cmpeq_epi8(g, _mm_set1_epi8(tag as i8))) as u32;
        let empty = _mm_movemask_epi8(_mm_cmpeq_epi8(g, _mm_setzero_si128())) as u32;
        (hits, empty)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let (mut hits, mut empty) = (0u32, 0u32);
        for i in 0..GROUP {
            let b = *p.add(i);
            hits |= ((b == tag) as u32) << i;
            empty |= ((b == 0) as u32) << i;
        }
        (hits, empty)
    }
}

/// Tables of this many slots and more fill to 5/8 of them; smaller ones to
/// 3/4. Linear probing's runs grow quickly past 5/8 (an insert of a new key
/// probes ½(1 + 1/(1−α)²) slots at load α: 3.6 at 0.6, 8.5 at 0.75), and on
/// a table far bigger than the cache every extra probe step is work that
/// keeps later inserts from overlapping their misses with this one's. Small
/// tables stay in the cache, where the denser limit spares a map of a
/// thousand entries a second growth per shard. At 10M entries every shard
/// holds about 156,000 entries in 262,144 slots under either limit.
const SPARSE_CAPACITY: usize = 1 << 12;

/// Entries a table of `capacity` slots (a power of two, at least
/// MIN_CAPACITY) holds under its load limit.
const fn room_of(capacity: usize) -> usize {
    if capacity >= SPARSE_CAPACITY {
        capacity / 8 * 5
    } else {
        capacity / 4 * 3
    }
}

/// The smallest power-of-two capacity that holds `entries` under the load limit.
pub fn capacity_for(entries: usize) -> Option<usize> {
    let capacity = entries
        .checked_mul(4)?
        .div_ceil(3)
        .max(MIN_CAPACITY)
        .checked_next_power_of_two()?;
    if room_of(capacity) >= entries {
        Some(capacity)
    } else {
        capacity.checked_mul(2)
    }
}

impl Table {
    /// A new empty table with one reference, or None when memory runs out.
    pub fn alloc(capacity: usize, key_blobs: bool, val_blobs: bool) -> Option<*mut Table> {
        debug_assert!(capacity.is_power_of_two());
        let (layout, slots_at, tags_at) = table_layout(capacity)?;
        // SAFETY: non-zero size. Zeroed words are empty slots; big zeroed
        // allocations come from fresh pages and cost nothing until touched.
        let base = unsafe { alloc_zeroed(layout) };
        if base.is_null() {
            return None;
        }
        let t = base as *mut Table;
        // SAFETY: inside the allocation, aligned for AtomicU64 (and more).
        let slots = unsafe { base.add(slots_at) } as *mut AtomicU64;
        // SAFETY: inside the allocation; zeroed tags say every slot is empty.
        let tags = unsafe { base.add(tags_at) };
        // Loom's atomics are objects of its model, not bare words: each is
        // made (as 0) rather than found zeroed.
        #[cfg(loom)]
        for i in 0..2 * capacity {
            // SAFETY: inside the slot array, aligned.
            unsafe { slots.add(i).write(AtomicU64::new(0)) };
        }
        let header = Table {
            refs: AtomicUsize::new(1),
            mask: capacity - 1,
            room: room_of(capacity),
            len: AtomicUsize::new(0),
            blob_bytes: AtomicUsize::new(0),
            zero_present: AtomicU64::new(0),
            zero_val: AtomicU64::new(0),
            key_blobs,
            val_blobs,
            slots,
            tags,
            #[cfg(loom)]
            alive: loom::cell::UnsafeCell::new(()),
        };
        // SAFETY: the allocation starts with room for the header, aligned for it.
        unsafe { t.write(header) };
        Some(t)
    }

    #[inline]
    fn word(&self, i: usize) -> &AtomicU64 {
        // SAFETY: callers pass i < 2 * capacity.
        unsafe { &*self.slots.add(i) }
    }
    #[inline]
    fn key_word(&self, slot: usize) -> &AtomicU64 {
        if slot == ZERO_SLOT {
            &self.zero_present
        } else {
            self.word(2 * slot)
        }
    }
    #[inline]
    fn val_word(&self, slot: usize) -> &AtomicU64 {
        if slot == ZERO_SLOT {
            &self.zero_val
        } else {
            self.word(2 * slot + 1)
        }
    }

    pub fn capacity(&self) -> usize {
        self.mask + 1
    }
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Table>()
            + self.capacity() * 17
            + GROUP
            + self.blob_bytes.load(Ordering::Relaxed)
    }
    pub fn shared(&self) -> bool {
        // (Under loom a negative control can say no: `loom_models::snapshot`.)
        #[cfg(loom)]
        if crate::sync::broken(crate::sync::Broken::CowShared) {
            return false;
        }
        self.refs.load(Ordering::Acquire) > 1
    }

    /// Whether `key_word` (a stored key) equals the probe key.
    #[inline]
    fn matches(&self, key_word: u64, key: KeyRef<'_>, h: u64) -> bool {
        match key {
            KeyRef::Int(k) => key_word == k,
            KeyRef::Bytes(b) => {
                let p = key_word as *const blob::Blob;
                // SAFETY: a non-zero key word in a blob-keyed table is a blob
                // pointer that the caller (pinned, or holding the lock or a
                // table reference) keeps alive.
                unsafe { blob::hash(p) == h && blob::bytes(p) == b }
            }
        }
    }

    /// Finds the slot holding `key`. Safe to call concurrently with a writer;
    /// the answer is then only meaningful if the shard's sequence did not move.
    #[inline]
    pub fn find(&self, key: KeyRef<'_>, h: u64) -> Option<usize> {
        #[cfg(loom)]
        self.alive.with(|_| ());
        if let KeyRef::Int(0) = key {
            return (self.zero_present.load(Ordering::Acquire) != 0).then_some(ZERO_SLOT);
        }
        let mut i = h as usize & self.mask;
        // Bounded even if a racing writer makes the table look full.
        for _ in 0..=self.mask {
            let kw = self.key_word(i).load(Ordering::Acquire);
            if kw == 0 {
                return None;
            }
            if self.matches(kw, key, h) {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// `find` specialised for INT keys other than 0 (the hot path): the
    /// value word of `k`, or None. The probe loads are relaxed and a single
    /// acquire fence orders the value load after the key load that found
    /// it (a writer stores the value before the key, with release), so the
    /// compiler keeps the slot pointer and mask in registers.
    #[inline(always)]
    pub fn get_int(&self, k: u64, h: u64) -> Option<u64> {
        #[cfg(loom)]
        self.alive.with(|_| ());
        let (slots, mask) = (self.slots, self.mask);
        // SAFETY (every `word`): indices are masked, and the array holds
        // 2 * (mask + 1) words.
        let word = |i: usize| unsafe { &*slots.add(i) };
        // The home slot and the next one (usually in the same cache line)
        // hold ~90% of keys. Testing both before branching makes the common
        // exit one well-predicted branch instead of a coin toss between
        // "home" and "one further".
        let i0 = h as usize & mask;
        let i1 = (i0 + 1) & mask;
        let (k0, k1) = (
            word(2 * i0).load(Ordering::Relaxed),
            word(2 * i1).load(Ordering::Relaxed),
        );
        if (k0 == k) | (k1 == k) {
            fence(Ordering::Acquire);
            let i = if k0 == k { i0 } else { i1 };
            return Some(word(2 * i + 1).load(Ordering::Relaxed));
        }
        if (k0 == 0) | (k1 == 0) {
            return None;
        }
        // Bounded even if a racing writer makes the table look full: the
        // other mask - 1 slots at most (a count down keeps one register).
        let mut i = i1;
        let mut left = mask - 1;
        while left != 0 {
            i = (i + 1) & mask;
            let kw = word(2 * i).load(Ordering::Relaxed);
            if kw == k {
                fence(Ordering::Acquire);
                return Some(word(2 * i + 1).load(Ordering::Relaxed));
            }
            if kw == 0 {
                return None;
            }
            left -= 1;
        }
        None
    }

    /// Asks the CPU to start loading the home slot of hash `h`.
    #[inline(always)]
    pub fn prefetch_home(&self, h: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let i = h as usize & self.mask;
            // SAFETY: a prefetch never faults; the address is inside the array anyway.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    self.slots.add(2 * i) as *const i8,
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = h;
    }

    /// Writer only, on a table with room: the slot holding `key`, or the
    /// empty slot that ends its probe run (where an insert puts it), so an
    /// insert probes once. INT key 0 answers with the side slot.
    #[inline]
    pub fn probe(&self, key: KeyRef<'_>, h: u64) -> Probe {
        match key {
            KeyRef::Int(0) if !self.key_blobs => {
                if self.zero_present.load(Ordering::Relaxed) != 0 {
                    Probe::Found(ZERO_SLOT)
                } else {
                    Probe::Vacant(ZERO_SLOT)
                }
            }
            KeyRef::Int(k) => self.probe_run(h, |kw| kw == k),
            KeyRef::Bytes(_) => self.probe_run(h, |kw| self.matches(kw, key, h)),
        }
    }

    /// `probe` for an INT key other than 0, always inlined: the general one
    /// is a call that takes its key through memory and saves seven
    /// registers, and on a map bigger than the cache every instruction of
    /// the integer insert delays the next inserts' misses.
    #[inline(always)]
    pub fn probe_int(&self, k: u64, h: u64) -> Probe {
        debug_assert!(k != 0 && !self.key_blobs);
        let at = h as usize & self.mask;
        // SAFETY: at <= mask, and the array holds mask + 1 + GROUP tags.
        let (hits, empty) = unsafe { group_masks(self.tags.add(at), tag_of(h)) };
        // The common cases inline: a new key whose run ends in this group,
        // and a key in the run's first slot with its tag. The rest out of
        // line, so that the insert keeps few values live.
        let run_hits = hits & empty.wrapping_sub(1) & !empty;
        if run_hits == 0 {
            if empty != 0 {
                return Probe::Vacant((at + empty.trailing_zeros() as usize) & self.mask);
            }
        } else {
            let i = (at + run_hits.trailing_zeros() as usize) & self.mask;
            if self.word(2 * i).load(Ordering::Relaxed) == k {
                return Probe::Found(i);
            }
        }
        self.probe_int_far(k, h)
    }

    /// `probe_int` past its first group of tags, or after a tag that
    /// matched another key.
    #[cold]
    #[inline(never)]
    fn probe_int_far(&self, k: u64, h: u64) -> Probe {
        self.probe_run(h, |kw| kw == k)
    }

    /// Walks the probe run from the home slot of `h`, a group of tags at a
    /// time, until `eq` accepts the key word of a slot whose tag matches
    /// or an empty slot ends the run. A writer's table has an empty slot
    /// (the load limit), so the walk ends. Writer only.
    #[inline(always)]
    fn probe_run(&self, h: u64, eq: impl Fn(u64) -> bool) -> Probe {
        let tag = tag_of(h);
        let mut at = h as usize & self.mask;
        loop {
            // SAFETY: at <= mask, and the array holds mask + 1 + GROUP tags.
            let (mut hits, empty) = unsafe { group_masks(self.tags.add(at), tag) };
            // Only slots before the first empty one are in the run.
            hits &= empty.wrapping_sub(1) & !empty;
            while hits != 0 {
                let i = (at + hits.trailing_zeros() as usize) & self.mask;
                if eq(self.word(2 * i).load(Ordering::Relaxed)) {
                    return Probe::Found(i);
                }
                hits &= hits - 1;
            }
            if empty != 0 {
                return Probe::Vacant((at + empty.trailing_zeros() as usize) & self.mask);
            }
            at = (at + GROUP) & self.mask;
        }
    }

    /// Writer only: sets the tag of `slot` (and its copy past the end).
    #[inline(always)]
    fn set_tag(&self, slot: usize, tag: u8) {
        // SAFETY: slot <= mask; the array holds mask + 1 + GROUP tags, and
        // only the holder of write access (or the private table's creator)
        // touches them.
        unsafe {
            self.tags.add(slot).write(tag);
            if slot < GROUP {
                self.tags.add(self.mask + 1 + slot).write(tag);
            }
        }
    }

    /// The tag of `slot` (writer only).
    #[inline(always)]
    fn tag(&self, slot: usize) -> u8 {
        // SAFETY: as in set_tag.
        unsafe { self.tags.add(slot).read() }
    }

    /// The value word in `slot` (as returned by `find`).
    #[inline]
    pub fn value(&self, slot: usize) -> u64 {
        self.val_word(slot).load(Ordering::Acquire)
    }

    /// The key word in `slot`.
    pub fn key(&self, slot: usize) -> u64 {
        if slot == ZERO_SLOT {
            0
        } else {
            self.key_word(slot).load(Ordering::Acquire)
        }
    }

    /// Writer only: replaces the value word, returning the old one (whose blob
    /// reference, if any, passes to the caller). A load and a store, not a
    /// swap: only the holder of write access stores value words, and a
    /// locked swap would make the writer wait for all its earlier stores.
    #[inline(always)]
    pub fn set_value(&self, slot: usize, word: u64) -> u64 {
        self.track_value_bytes(word, true);
        let old = self.val_word(slot).load(Ordering::Relaxed);
        self.val_word(slot).store(word, Ordering::Release);
        self.track_value_bytes(old, false);
        old
    }

    #[inline]
    fn track_value_bytes(&self, word: u64, add: bool) {
        if self.val_blobs && word != 0 {
            // SAFETY: value words of blob tables are live blob pointers.
            let n = blob::footprint(unsafe { blob::bytes(word as *const blob::Blob) }.len());
            self.track_bytes(n, add);
        }
    }
    #[inline]
    fn track_key_bytes(&self, word: u64, add: bool) {
        if self.key_blobs && word != 0 {
            // SAFETY: key words of blob-keyed tables are live blob pointers.
            let n = blob::footprint(unsafe { blob::bytes(word as *const blob::Blob) }.len());
            self.track_bytes(n, add);
        }
    }
    fn track_bytes(&self, n: usize, add: bool) {
        let cur = self.blob_bytes.load(Ordering::Relaxed);
        let next = if add { cur + n } else { cur.saturating_sub(n) };
        self.blob_bytes.store(next, Ordering::Relaxed);
    }

    /// Whether one more entry fits under the load limit (`room_of`).
    #[inline(always)]
    pub fn has_room(&self) -> bool {
        self.len() < self.room
    }

    /// How many entries the load limit allows.
    #[inline(always)]
    pub fn room(&self) -> usize {
        self.room
    }

    /// Writer only, on a table with room: the vacant slot for a key word
    /// known to be absent.
    fn vacant_for(&self, key_word: u64, h: u64) -> usize {
        if !self.key_blobs && key_word == 0 {
            return ZERO_SLOT;
        }
        match self.probe_run(h, |_| false) {
            Probe::Vacant(slot) | Probe::Found(slot) => slot,
        }
    }

    /// Writer only: stores a key known to be absent, with hash `h`, in
    /// `slot`, the vacant slot `probe` returned for it (no write since).
    /// Takes over the references of blob words. Readers see the entry
    /// appear atomically (value first, then key).
    #[inline(always)]
    pub fn insert_at(&self, slot: usize, key_word: u64, val_word: u64, h: u64) {
        self.track_key_bytes(key_word, true);
        self.track_value_bytes(val_word, true);
        self.len.store(self.len() + 1, Ordering::Relaxed);
        self.val_word(slot).store(val_word, Ordering::Release);
        if slot == ZERO_SLOT {
            self.zero_present.store(1, Ordering::Release);
        } else {
            self.set_tag(slot, tag_of(h));
            self.key_word(slot).store(key_word, Ordering::Release);
        }
    }

    /// `insert_at` for INT key `k` (not 0, hash `h`) and a value word that
    /// is no blob, into a table without blobs, whose length becomes
    /// `new_len` (the caller read the old one): the same stores, with none
    /// of the checks for blobs and the side slot (the integer insert's plain
    /// case, where every instruction counts: see `probe_int`).
    #[inline(always)]
    pub fn insert_int_at(&self, slot: usize, k: u64, h: u64, val_word: u64, new_len: usize) {
        debug_assert!(k != 0 && slot != ZERO_SLOT && !self.key_blobs && !self.val_blobs);
        debug_assert_eq!(new_len, self.len() + 1);
        let (key, val) = (self.word(2 * slot), self.word(2 * slot + 1));
        self.set_tag(slot, tag_of(h));
        self.len.store(new_len, Ordering::Relaxed);
        val.store(val_word, Ordering::Release);
        key.store(k, Ordering::Release);
    }

    /// `set_value` for a table without blobs, when the old word is not
    /// wanted: one store.
    #[inline(always)]
    pub fn set_int_value(&self, slot: usize, word: u64) {
        debug_assert!(slot != ZERO_SLOT && !self.val_blobs);
        self.word(2 * slot + 1).store(word, Ordering::Release);
    }

    /// The hash of a stored key word.
    fn stored_hash(&self, key_word: u64) -> u64 {
        if self.key_blobs {
            // SAFETY: stored key words of blob-keyed tables are live blobs.
            unsafe { blob::hash(key_word as *const blob::Blob) }
        } else {
            hash::int(key_word)
        }
    }

    fn home(&self, key_word: u64) -> usize {
        self.stored_hash(key_word) as usize & self.mask
    }

    /// Writer only, inside the shard's write window: removes the entry in
    /// `slot` and returns its (key word, value word); blob references pass to
    /// the caller. Later entries of the probe run move back one by one.
    pub fn remove_at(&self, slot: usize) -> (u64, u64) {
        let key = self.key(slot);
        let val = self.value(slot);
        self.track_key_bytes(key, false);
        self.track_value_bytes(val, false);
        self.len.store(self.len() - 1, Ordering::Relaxed);
        if slot == ZERO_SLOT {
            self.zero_present.store(0, Ordering::Release);
            self.zero_val.store(0, Ordering::Release);
            return (key, val);
        }
        let mut hole = slot;
        let mut j = slot;
        loop {
            j = (j + 1) & self.mask;
            let kw = self.key_word(j).load(Ordering::Relaxed);
            if kw == 0 {
                break;
            }
            let home = self.home(kw);
            // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.val_word(hole)
                    .store(self.val_word(j).load(Ordering::Relaxed), Ordering::Relaxed);
                self.key_word(hole).store(kw, Ordering::Relaxed);
                self.set_tag(hole, self.tag(j));
                hole = j;
            }
        }
        self.key_word(hole).store(0, Ordering::Relaxed);
        self.val_word(hole).store(0, Ordering::Relaxed);
        self.set_tag(hole, 0);
        (key, val)
    }

    /// Calls `f(key word, value word)` for every entry. On a table no writer
    /// touches (a snapshot, or under the lock) this sees each entry once.
    pub fn for_each_word(&self, mut f: impl FnMut(u64, u64)) {
        if self.zero_present.load(Ordering::Acquire) != 0 {
            f(0, self.zero_val.load(Ordering::Acquire));
        }
        for i in 0..=self.mask {
            let kw = self.key_word(i).load(Ordering::Acquire);
            if kw != 0 {
                f(kw, self.val_word(i).load(Ordering::Acquire));
            }
        }
    }

    /// Entry at a position for cursor-style iteration: positions run from 0
    /// to `capacity()` inclusive; the last one is the side slot.
    pub fn entry_at(&self, pos: usize) -> Option<(u64, u64)> {
        if pos == self.capacity() {
            return (self.zero_present.load(Ordering::Acquire) != 0)
                .then(|| (0, self.zero_val.load(Ordering::Acquire)));
        }
        let kw = self.key_word(pos).load(Ordering::Acquire);
        (kw != 0).then(|| (kw, self.val_word(pos).load(Ordering::Acquire)))
    }

    /// A copy with at least `capacity` slots (rehashed), holding its own blob
    /// references. None when memory runs out.
    pub fn copy(&self, capacity: usize) -> Option<*mut Table> {
        let capacity = capacity.max(capacity_for(self.len())?);
        let new = Table::alloc(capacity, self.key_blobs, self.val_blobs)?;
        // SAFETY: freshly allocated, not yet shared.
        let t = unsafe { &*new };
        if !self.key_blobs && !self.val_blobs {
            self.copy_words_into(t);
            return Some(new);
        }
        self.for_each_word(|k, v| {
            // SAFETY: blob words in a live table are live blobs; the copy
            // takes its own reference.
            unsafe {
                if self.key_blobs {
                    blob::acquire(k as *const blob::Blob);
                }
                if self.val_blobs && v != 0 {
                    blob::acquire(v as *const blob::Blob);
                }
            }
            let h = self.stored_hash(k);
            t.insert_at(t.vacant_for(k, h), k, v, h);
        });
        Some(new)
    }

    /// `copy` for tables without blobs: a plain rehashing loop. The new
    /// table is private until the caller publishes it (with release), so
    /// its stores need no ordering and nothing is counted per entry.
    fn copy_words_into(&self, t: &Table) {
        debug_assert!(!self.key_blobs && !self.val_blobs && t.len() == 0);
        let mut n = 0;
        if self.zero_present.load(Ordering::Relaxed) != 0 {
            t.zero_val
                .store(self.zero_val.load(Ordering::Relaxed), Ordering::Relaxed);
            t.zero_present.store(1, Ordering::Relaxed);
            n += 1;
        }
        // The tags say which slots hold entries, 16 at a time, so empty
        // slots cost no unpredictable branch each; the capacity is a
        // multiple of GROUP, so the groups never reach the copy past the end.
        let seeds = hash::int_seeds();
        for base in (0..=self.mask).step_by(GROUP) {
            // SAFETY: base + GROUP <= capacity.
            let (_, empty) = unsafe { group_masks(self.tags.add(base), 0) };
            let mut full = !empty & ((1 << GROUP) - 1);
            while full != 0 {
                let i = base + full.trailing_zeros() as usize;
                full &= full - 1;
                let k = self.word(2 * i).load(Ordering::Relaxed);
                let h = hash::int_with(k, seeds);
                // The new table is private and mostly empty: its key
                // words answer as fast as its tags would.
                let mut j = h as usize & t.mask;
                while t.word(2 * j).load(Ordering::Relaxed) != 0 {
                    j = (j + 1) & t.mask;
                }
                t.set_tag(j, tag_of(h));
                t.word(2 * j).store(k, Ordering::Relaxed);
                t.word(2 * j + 1).store(
                    self.word(2 * i + 1).load(Ordering::Relaxed),
                    Ordering::Relaxed,
                );
                n += 1;
            }
        }
        t.len.store(n, Ordering::Relaxed);
    }

    /// Adds a reference (a snapshot or clone now shares this table).
    pub fn acquire(&self) {
        self.refs.fetch_add(1, Ordering::Relaxed);
    }
}

/// Drops a reference; the last one frees the table and its blob references.
///
/// # Safety
/// The caller owns a reference, and no reader can reach the table through a
/// path that this reference kept alive (use [`release_deferred`] otherwise).
pub unsafe fn release(t: *const Table) {
    if (*t).refs.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    fence(Ordering::Acquire);
    let table = &*t;
    if table.key_blobs || table.val_blobs {
        table.for_each_word(|k, v| {
            if table.key_blobs {
                blob::release(k as *const blob::Blob);
            }
            if table.val_blobs && v != 0 {
                blob::release(v as *const blob::Blob);
            }
        });
    }
    #[cfg(loom)]
    table.alive.with_mut(|_| ());
    let (layout, _, _) = table_layout(table.capacity()).expect("layout was valid at allocation");
    // The header holds only atomics and plain fields: nothing to drop.
    dealloc(t as *mut u8, layout);
}

unsafe fn release_erased(p: *mut ()) {
    release(p as *const Table)
}

/// Drops a reference once no pinned reader can still be probing the table.
///
/// # Safety
/// As for [`release`], except that readers may still hold the pointer.
pub unsafe fn release_deferred(t: *const Table) {
    // Tables of 1 MiB of slots and up seal the bag at once; small ones batch.
    let bytes = (*t).capacity() * 16;
    crate::epoch::retire(
        crate::epoch::Deferred::new(t as *mut (), release_erased),
        bytes,
    );
}

// Unit tests run in the normal build (loom's atomics work only inside a model).
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// `capacity_for` picks the smallest power of two whose load limit holds
    /// the entries, on both sides of the switch between the two limits.
    #[test]
    fn capacity_for_is_the_smallest_that_holds() {
        let edges = [
            SPARSE_CAPACITY / 8 * 5,
            SPARSE_CAPACITY / 4 * 3,
            163_840,
            163_841,
            1 << 20,
        ];
        for e in (0..20_000).chain(edges.iter().flat_map(|&e| e - 1..=e + 1)) {
            let c = capacity_for(e).expect("small enough");
            assert!(
                c.is_power_of_two() && c >= MIN_CAPACITY && room_of(c) >= e,
                "{e} entries in {c}"
            );
            assert!(
                c == MIN_CAPACITY || room_of(c / 2) < e,
                "{e} entries would fit in {}",
                c / 2
            );
        }
        assert_eq!(capacity_for(156_250), Some(262_144), "a shard of a 10M map");
        assert_eq!(room_of(16), 12);
        assert_eq!(room_of(SPARSE_CAPACITY), SPARSE_CAPACITY / 8 * 5);
    }

    /// Every tag says what its slot holds, and the copy past the end
    /// matches the first GROUP tags.
    fn assert_tags_agree(t: &Table) {
        for i in 0..t.capacity() {
            let k = t.key(i);
            let want = if k == 0 { 0 } else { tag_of(hash::int(k)) };
            assert_eq!(t.tag(i), want, "tag of slot {i} (key {k})");
        }
        for i in 0..GROUP {
            assert_eq!(t.tag(t.capacity() + i), t.tag(i), "copy of tag {i}");
        }
    }

    /// Inserts, overwrites and removals (whose backward shifts move tags,
    /// also across the end of the array) keep tags, probes and contents
    /// right, in a table small enough that runs wrap around.
    #[test]
    fn tags_follow_inserts_and_removals() {
        // The integer hash's seeds (0 until a map exists, which would give
        // every key the same home and tag).
        hash::state();
        let t = Table::alloc(64, false, false).expect("memory");
        // SAFETY: just allocated; this test owns its only reference.
        let table = unsafe { &*t };
        let mut model = std::collections::HashMap::new();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = x % 97 + 1;
            let h = hash::int(k);
            if x % 3 == 0 {
                if let Some(slot) = table.find(KeyRef::Int(k), h) {
                    assert_eq!(
                        table.remove_at(slot),
                        (k, model.remove(&k).expect("in the model"))
                    );
                } else {
                    assert!(!model.contains_key(&k));
                }
            } else {
                match table.probe_int(k, h) {
                    Probe::Found(slot) => {
                        assert!(model.insert(k, step).is_some(), "{k} found but absent");
                        table.set_value(slot, step);
                    }
                    Probe::Vacant(slot) if table.has_room() => {
                        assert!(model.insert(k, step).is_none(), "{k} vacant but present");
                        table.insert_at(slot, k, step, h);
                    }
                    Probe::Vacant(_) => assert!(!model.contains_key(&k)),
                }
            }
            assert_tags_agree(table);
        }
        assert_eq!(table.len(), model.len());
        // A grown copy and a same-size copy carry their own tags.
        for capacity in [64, 128] {
            let c = table.copy(capacity).expect("memory");
            // SAFETY: just made; this test owns its only reference.
            let copy = unsafe { &*c };
            assert_tags_agree(copy);
            for (&k, &v) in &model {
                let h = hash::int(k);
                assert_eq!(copy.get_int(k, h), Some(v));
                assert!(
                    matches!(copy.probe_int(k, h), Probe::Found(_)),
                    "{k} in the copy"
                );
            }
            // SAFETY: the only reference, not used again.
            unsafe { release(c) };
        }
        // SAFETY: the only reference, not used again.
        unsafe { release(t) };
    }

    /// A table accepts exactly its room before `has_room` says no.
    #[test]
    fn has_room_matches_the_limit() {
        hash::state();
        for capacity in [MIN_CAPACITY, SPARSE_CAPACITY / 2, SPARSE_CAPACITY] {
            let t = Table::alloc(capacity, false, false).expect("memory");
            // SAFETY: just allocated; this test owns its only reference.
            let table = unsafe { &*t };
            let mut n = 0u64;
            while table.has_room() {
                n += 1;
                let Probe::Vacant(slot) = table.probe_int(n, hash::int(n)) else {
                    panic!("{n} is new")
                };
                table.insert_at(slot, n, n, hash::int(n));
            }
            assert_eq!(n as usize, room_of(capacity));
            // SAFETY: the only reference, not used again.
            unsafe { release(t) };
        }
    }
}
