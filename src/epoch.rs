//! Deferred reclamation: memory that a lock-free reader may still be looking
//! at (a table a writer replaced, a blob a writer overwrote, a freed map) is
//! freed only after every thread that could have seen it has left ferrymap.
//!
//! The scheme is a small epoch-based one, tuned so that the reader side costs
//! two plain stores and no atomic read-modify-write:
//!
//! - Each thread owns a [`Record`] in a global, append-only list. Entering
//!   ferrymap ([`pin`]) stores the current global epoch into it; leaving stores 0.
//! - A retiring thread puts the object in a thread-local bag. When the bag is
//!   sealed it advances the global epoch to `e`, issues a heavy barrier, and
//!   the bag's objects may be dropped once no record shows a pinned epoch
//!   below `e`.
//! - The reader's store must be ordered before its later loads (the classic
//!   store-buffer pattern). On Linux the heavy side uses
//!   `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which lets the reader get
//!   away with a compiler fence; where membarrier is unavailable both sides use
//!   a full `SeqCst` fence.
//!
//! Pins nest (a callback that calls ferrymap again is already pinned); only
//! the outermost pin and unpin touch the record.
//!
//! While user code runs in a callback the thread is *suspended* ([`suspend`]):
//! its record shows [`SUSPENDED`], an epoch above every real one, so it
//! holds back no reclamation however long the callback takes. The library
//! code around the callback keeps what it still needs by other means (a
//! snapshot's reference counts, a map's hold: see `Map::hold`). A call made
//! from inside the callback pins again as usual, and its unpin restores the
//! suspension. Nesting depth is kept throughout, so re-entrancy checks still
//! see the callback.

use crate::sync::{
    compiler_fence, fence, sync_static, sync_thread_local, AtomicBool, AtomicPtr, AtomicU32,
    AtomicU64, AtomicU8, AtomicUsize, Mutex, Ordering,
};
use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::ptr;

/// What a suspended thread's record shows (see [`suspend`]): above every
/// epoch, so it is never the oldest pinned one, and not 0, so the fast
/// paths that pin only an idle record ([`pin_outermost_read`]) stay off.
const SUSPENDED: u64 = u64::MAX;

sync_static! {
    /// Global epoch. Starts at 1 so that 0 can mean "not pinned".
    static EPOCH: AtomicU64 = AtomicU64::new(1);
}
sync_static! {
    /// Head of the append-only list of per-thread records.
    static RECORDS: AtomicPtr<Record> = AtomicPtr::new(ptr::null_mut());
}
sync_static! {
    /// Sealed bags: objects waiting for every reader to move past their epoch.
    static SEALED: Mutex<Vec<(u64, Deferred)>> = Mutex::new(Vec::new());
}

/// Where sealed objects wait when the allocator refuses room in a bag or
/// in [`SEALED`]: retiring never allocates beyond what it can get, so it
/// never aborts. Should this fill up too, an object is leaked (and counted
/// in [`LEAKED`]) rather than freed early.
const SPARE_ROOM: usize = 256;
sync_static! {
    static SPARE: Mutex<[Option<(u64, Deferred)>; SPARE_ROOM]> = {
        const EMPTY: Option<(u64, Deferred)> = None;
        Mutex::new([EMPTY; SPARE_ROOM])
    };
}
sync_static! {
    /// Objects leaked because no memory could be had to keep them waiting.
    pub static LEAKED: AtomicUsize = AtomicUsize::new(0);
}

/// Makes room for `n` more items in `v`, or says it could not.
fn room<T>(v: &mut Vec<T>, n: usize) -> bool {
    #[cfg(all(test, not(loom)))]
    if tests::REFUSE_ROOM.load(Ordering::Relaxed) {
        return false;
    }
    v.try_reserve(n).is_ok()
}

const BARRIER_UNKNOWN: u8 = 0;
const BARRIER_MEMBARRIER: u8 = 1;
const BARRIER_FENCE: u8 = 2;
sync_static! {
    static BARRIER: AtomicU8 = AtomicU8::new(BARRIER_UNKNOWN);
}

/// A bag is sealed once it holds this many objects, or objects of this many
/// bytes. Sealing costs a process-wide barrier (a system call), so small
/// retirements (a grown small table, an overwritten string) batch; the
/// byte bound caps the memory one thread keeps waiting.
const BAG_ITEMS: usize = 1024;
const BAG_BYTES: usize = 1 << 20;
/// Weight for [`retire`] that seals the bag at once (maps, iterators: their
/// memory should come back promptly).
pub(crate) const SEAL_NOW: usize = usize::MAX;

/// Aligned to two cache lines (the pair the adjacent-line prefetcher
/// fetches together): every pin writes its record, so two threads' records
/// sharing a line would make their calls bounce it between cores.
#[repr(align(128))]
struct Record {
    /// 0 when the owning thread is outside ferrymap, else the epoch it saw.
    active: AtomicU64,
    /// Nesting depth of the owner's pins. Only the owning thread touches it
    /// (relaxed loads and stores compile to plain moves).
    depth: AtomicU32,
    /// Set when the owner sealed a bag while pinned: its own pin kept that
    /// bag from being freed, so the outermost unpin tries again. Owner only.
    sealed_while_pinned: AtomicBool,
    /// What this thread's lock-free write window is on (a map's writer
    /// bias, by address), or 0: see `bias.rs`. Written by the owner, read by revokers.
    writing: AtomicUsize,
    /// Whether a live thread owns this record.
    in_use: AtomicBool,
    next: *mut Record,
    /// The thread's last map lookup on the integer fast paths (see
    /// `ffi::ops`). Owner only.
    map_cache: MapCache,
}

/// A thread's memo of one map handle it resolved: the handle, the address
/// of the map's shards, and a stamp: the registry's count of map frees
/// read before the handle was found live, shifted left by 8, with the
/// schema bits of the map's fast word (`Map::fast_word`) below. While that
/// count has not moved, no map handle was freed since, so the handle is
/// still live and the shards still the map's; one compare checks the count
/// and the schema together. Only the owning thread touches it (relaxed
/// atomics compile to plain moves); a record passed to a new thread keeps a
/// memo that is just as true for it.
#[derive(Default)]
pub(crate) struct MapCache {
    pub(crate) handle: AtomicU64,
    pub(crate) shards: AtomicU64,
    pub(crate) stamp: AtomicU64,
}

sync_static! {
    /// Map handles freed so far in this process: the count a [`MapCache`]
    /// stamp holds. A thread that read the count, then found a map handle
    /// live, knows the handle stays live for as long as the count does not
    /// move. A free (`objects::free`) bumps it after clearing the handle and
    /// before retiring the map, so a pinned thread that still reads the old
    /// count cannot see the map's memory go (the retirement's barrier orders
    /// the bump before any later pin). It lives beside the memo it
    /// invalidates. No public generic function may touch it (see
    /// `objects::retire`): that would export it from the crate, and the fast
    /// paths would reach it through the GOT, one more dependent load per get.
    static MAP_FREES: FreeCount = FreeCount(AtomicU64::new(0));
}

/// Every integer fast path reads the count: a cache line of its own, so
/// that writes to neighbouring statics do not take it away from readers.
#[repr(align(128))]
struct FreeCount(AtomicU64);

/// See [`MAP_FREES`].
#[inline(always)]
pub(crate) fn map_frees() -> u64 {
    MAP_FREES.0.load(Ordering::Acquire)
}

/// Bumps [`MAP_FREES`]: a map handle was freed.
pub(crate) fn count_map_free() {
    MAP_FREES.0.fetch_add(1, Ordering::Release);
}

/// Something to drop later: a pointer and the function that drops it.
pub struct Deferred {
    ptr: *mut (),
    drop_fn: unsafe fn(*mut ()),
}

// SAFETY: a Deferred is only created for objects that are themselves safe to
// drop from any thread (tables, blobs and registry objects are Send + Sync).
unsafe impl Send for Deferred {}

impl Deferred {
    /// # Safety
    /// `drop_fn(ptr)` must be sound to call exactly once, from any thread.
    pub unsafe fn new(ptr: *mut (), drop_fn: unsafe fn(*mut ())) -> Deferred {
        Deferred { ptr, drop_fn }
    }
    fn run(self) {
        // SAFETY: guaranteed by the constructor's contract; run consumes self.
        unsafe { (self.drop_fn)(self.ptr) }
    }
}

/// The part of a thread's state that needs a destructor: its bag, and the
/// release of its record when the thread ends. Touched once per thread on
/// the pin path (to register the destructor), then only when retiring.
struct Local {
    record: Cell<*const Record>,
    bag: RefCell<Vec<Deferred>>,
    /// Bytes the bag's objects hold (as their retirers estimated).
    bag_bytes: Cell<usize>,
}

impl Drop for Local {
    fn drop(&mut self) {
        // Loom drops the thread-locals of an execution it abandons (a
        // model failed) outside the model, where none of its atomics work.
        #[cfg(loom)]
        if std::thread::panicking() {
            return;
        }
        let bag = std::mem::take(&mut *self.bag.borrow_mut());
        if !bag.is_empty() {
            seal(bag.into_iter());
        }
        let rec = self.record.get();
        if !rec.is_null() {
            // From here on pins borrow a record of their own (see pin_slow).
            this_thread::set_record(ptr::null());
            // SAFETY: records are never freed.
            let rec = unsafe { &*rec };
            rec.active.store(0, Ordering::Release);
            rec.in_use.store(false, Ordering::Release);
        }
    }
}

sync_thread_local! {
    static LOCAL: Local = const {
        Local { record: Cell::new(ptr::null()), bag: RefCell::new(Vec::new()), bag_bytes: Cell::new(0) }
    };
}

/// This thread's record: null until its first pin and again once `LOCAL` is
/// torn down. This is the one thread-local access on the pin path.
///
/// On x86-64 Linux it is one word of the initial-exec TLS block, read with
/// two instructions. A Rust `thread_local!` in a shared library uses the
/// general-dynamic model, a call to `__tls_get_addr` on every access (a
/// third of a lookup's cost). Initial-exec TLS in a library that is
/// `dlopen`ed takes its room from the surplus glibc reserves for that
/// purpose (hundreds of bytes); this needs 8. Elsewhere it is a
/// const-initialised `thread_local!` without a destructor.
#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
mod this_thread {
    use super::Record;
    use std::arch::{asm, global_asm};

    // Hidden: each copy of the library has its own slot and none exports it.
    global_asm!(
        ".pushsection .tbss.ferrymap_epoch_record,\"awT\",@nobits",
        ".p2align 3",
        ".globl ferrymap_epoch_record",
        ".hidden ferrymap_epoch_record",
        ".type ferrymap_epoch_record, @object",
        ".size ferrymap_epoch_record, 8",
        "ferrymap_epoch_record:",
        ".zero 8",
        ".popsection",
    );

    #[inline(always)]
    pub fn record() -> *const Record {
        let p: *const Record;
        // SAFETY: reads this thread's 8-byte slot (offset from the thread
        // pointer, taken from the GOT), which is zero-initialised.
        unsafe {
            asm!(
                "mov {p}, qword ptr [rip + ferrymap_epoch_record@GOTTPOFF]",
                "mov {p}, qword ptr fs:[{p}]",
                p = out(reg) p,
                options(nostack, readonly, preserves_flags),
            );
        }
        p
    }

    #[inline]
    pub fn set_record(rec: *const Record) {
        // SAFETY: writes this thread's slot, as `record` reads it.
        unsafe {
            asm!(
                "mov {t}, qword ptr [rip + ferrymap_epoch_record@GOTTPOFF]",
                "mov qword ptr fs:[{t}], {v}",
                t = out(reg) _,
                v = in(reg) rec,
                options(nostack, preserves_flags),
            );
        }
    }
}

/// The portable `this_thread` (see above). The loom build takes it too
/// (loom cannot see inline assembly TLS): there the record pointer is one
/// of loom's per-thread values. Its accesses tolerate a torn-down slot
/// (null), since loom drops a thread's values in no particular order and
/// `Local`'s destructor reads this one.
#[cfg(any(not(all(target_arch = "x86_64", target_os = "linux")), loom))]
mod this_thread {
    use super::Record;
    use crate::sync::sync_thread_local;
    use std::cell::Cell;

    sync_thread_local! {
        static RECORD: Cell<*const Record> = const { Cell::new(std::ptr::null()) };
    }

    #[inline(always)]
    pub fn record() -> *const Record {
        RECORD.try_with(Cell::get).unwrap_or(std::ptr::null())
    }

    #[inline]
    pub fn set_record(rec: *const Record) {
        let _ = RECORD.try_with(|r| r.set(rec));
    }
}

fn barrier_mode() -> u8 {
    let mode = BARRIER.load(Ordering::Acquire);
    if mode != BARRIER_UNKNOWN {
        return mode;
    }
    let mode = if membarrier_register() {
        BARRIER_MEMBARRIER
    } else {
        BARRIER_FENCE
    };
    // Two threads may race here; both compute the same answer.
    BARRIER.store(mode, Ordering::Release);
    mode
}

#[cfg(all(target_os = "linux", not(loom)))]
fn membarrier_register() -> bool {
    const CMD_QUERY: libc::c_long = 0;
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;
    // SAFETY: membarrier takes integer arguments only.
    unsafe {
        let supported = libc::syscall(libc::SYS_membarrier, CMD_QUERY, 0, 0);
        if supported < 0 || supported & CMD_PRIVATE_EXPEDITED == 0 {
            return false;
        }
        libc::syscall(libc::SYS_membarrier, CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0
    }
}

/// Without membarrier (and always under loom, which models the portable
/// fallback: a `SeqCst` fence on both sides of each store-buffer pattern).
#[cfg(any(not(target_os = "linux"), loom))]
fn membarrier_register() -> bool {
    false
}

/// The reclaimer's side of the store-buffer pattern. Returns false when it
/// cannot vouch for the readers' ordering (see below).
fn heavy_barrier() -> bool {
    if barrier_mode() == BARRIER_MEMBARRIER {
        #[cfg(target_os = "linux")]
        {
            const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
            // SAFETY: integer-only syscall; registration happened in barrier_mode.
            let r = unsafe { libc::syscall(libc::SYS_membarrier, CMD_PRIVATE_EXPEDITED, 0, 0) };
            if r == 0 {
                return true;
            }
            // A kernel that accepted the registration should not refuse the
            // barrier. If it does, readers from now on fence themselves, but
            // one already inside a call may have only a compiler fence: keep
            // what is sealed so far forever rather than risk freeing it.
            BARRIER.store(BARRIER_FENCE, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            return false;
        }
    }
    fence(Ordering::SeqCst);
    true
}

/// True when readers are relying on membarrier, false when they fence.
fn readers_fence_themselves() -> bool {
    BARRIER.load(Ordering::Relaxed) != BARRIER_MEMBARRIER
}

// ---- write windows (the owner side of `bias.rs`) ---------------------------
//
// A thread identifies itself by its record's address: unique among live
// threads, never 0, and reused only after the thread that held it ended.

/// The calling thread's id, or 0 when it has no record of its own (it never
/// pinned, or its thread-local state is being torn down).
#[inline(always)]
pub(crate) fn thread_id() -> usize {
    this_thread::record() as usize
}

/// Whether lock-free write windows are possible: the heavy side of their
/// store-buffer pattern needs membarrier (a fence on the owner's side would
/// cost what the window saves).
///
/// Under loom they are always available, and both halves use the portable
/// fallback: the owner fences (`open_window` with `readers_fence_themselves`)
/// and the revoker's barrier is a `SeqCst` fence (`strict_heavy_barrier`).
/// That is what membarrier stands in for: it runs a full barrier on every
/// thread, which the model gives each thread at its compiler fence.
pub fn windows_available() -> bool {
    cfg!(loom) || barrier_mode() == BARRIER_MEMBARRIER
}

/// Announces that the calling thread (id `me`, its own record) writes,
/// without a lock, the map whose writer bias is at address `id`, then
/// fences against revokers (the owner's half of the store-buffer pattern:
/// a compiler fence while membarrier serves).
#[inline(always)]
pub(crate) fn open_window(me: usize, id: usize) {
    debug_assert_eq!(me, thread_id());
    // SAFETY: `me` is the caller's own record; records are never freed.
    unsafe { &*(me as *const Record) }
        .writing
        .store(id, Ordering::Relaxed);
    // (Under loom a negative control can leave the fence out: see
    // `loom_models::bias`.)
    #[cfg(loom)]
    let fenced = !crate::sync::broken(crate::sync::Broken::WindowFence);
    #[cfg(not(loom))]
    let fenced = true;
    if readers_fence_themselves() {
        if fenced {
            fence(Ordering::SeqCst);
        }
    } else {
        compiler_fence(Ordering::SeqCst);
    }
}

/// Ends the window `open_window` announced; the thread's writes happen
/// before a revoker's load that sees it closed.
#[inline(always)]
pub(crate) fn close_window(me: usize) {
    // SAFETY: as in open_window.
    unsafe { &*(me as *const Record) }
        .writing
        .store(0, Ordering::Release);
}

/// Waits until thread `owner` (an id from [`thread_id`]) is out of any write
/// window on `id` it may have opened before the caller's last store: first
/// a process-wide barrier (the heavy half), then the owner's flag. The
/// window does no blocking work, so the wait is short.
pub(crate) fn await_window(owner: usize, id: usize) {
    strict_heavy_barrier();
    // SAFETY: ids are record addresses; records are never freed.
    let rec = unsafe { &*(owner as *const Record) };
    let mut spins = 0u32;
    while rec.writing.load(Ordering::Acquire) == id {
        spins += 1;
        if spins < 64 {
            crate::sync::spin_loop();
        } else {
            crate::sync::yield_now();
        }
    }
}

/// The heavy half for write windows, which unlike the epoch's cannot fall
/// back to trusting a fence of its own: an owner may have opened its window
/// with a compiler fence only. The kernel guarantees the expedited barrier
/// to a registered process; should it ever refuse, the global barrier
/// (every CPU passes a quiescent state) serves, and failing that the caller
/// retries rather than proceed unordered.
fn strict_heavy_barrier() {
    #[cfg(all(target_os = "linux", not(loom)))]
    {
        const CMD_GLOBAL: libc::c_long = 1;
        const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
        if barrier_mode() == BARRIER_MEMBARRIER {
            // SAFETY: integer-only syscall; registration happened in barrier_mode.
            if unsafe { libc::syscall(libc::SYS_membarrier, CMD_PRIVATE_EXPEDITED, 0, 0) } == 0 {
                return;
            }
        }
        // SAFETY: integer-only syscall.
        while unsafe { libc::syscall(libc::SYS_membarrier, CMD_GLOBAL, 0, 0) } != 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    // Without membarrier no window is ever opened (`windows_available`),
    // except under loom, whose owners fence (see `windows_available`).
    #[cfg(any(not(target_os = "linux"), loom))]
    fence(Ordering::SeqCst);
}

fn acquire_record() -> *const Record {
    barrier_mode();
    // A thread's first ferrymap call lands here: set up its last-error
    // slot now, while memory is likely to be had, so that reporting an
    // out-of-memory error later never has to.
    crate::status::prepare_thread();
    let mut cur = RECORDS.load(Ordering::Acquire);
    while !cur.is_null() {
        // SAFETY: records are leaked and never freed.
        let rec = unsafe { &*cur };
        if !rec.in_use.load(Ordering::Relaxed)
            && rec
                .in_use
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            rec.depth.store(0, Ordering::Relaxed);
            rec.sealed_while_pinned.store(false, Ordering::Relaxed);
            return cur;
        }
        cur = rec.next;
    }
    let rec = Box::into_raw(Box::new(Record {
        active: AtomicU64::new(0),
        depth: AtomicU32::new(0),
        sealed_while_pinned: AtomicBool::new(false),
        writing: AtomicUsize::new(0),
        in_use: AtomicBool::new(true),
        next: ptr::null_mut(),
        map_cache: MapCache::default(),
    }));
    let mut head = RECORDS.load(Ordering::Acquire);
    loop {
        // SAFETY: rec is ours until published.
        unsafe { (*rec).next = head };
        match RECORDS.compare_exchange_weak(head, rec, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return rec,
            Err(h) => head = h,
        }
    }
}

/// Proof that the current thread is pinned: objects reachable from shared
/// structures stay allocated while a `Guard` lives. Not `Send`.
pub struct Guard {
    record: *const Record,
    /// The pin depth before this guard: 0 for the outermost pin, more when
    /// a callback is calling back in.
    depth: u32,
    /// The record was borrowed for this guard alone, because the thread's
    /// local state is already torn down (a thread-local destructor is
    /// calling ferrymap).
    borrowed: bool,
    /// This nested guard pinned a suspended thread, and leaves it suspended
    /// again when dropped.
    resuspend: bool,
    _not_send: PhantomData<*const ()>,
}

impl Guard {
    /// Whether this pin is nested in another ferrymap call on the same
    /// thread (a callback calling back in). Re-entrancy checks run only then.
    #[inline]
    pub fn nested(&self) -> bool {
        self.depth > 0
    }

    /// The pinned thread's id (see [`thread_id`]), without a second
    /// thread-local access. 0 for a borrowed record, which is not the
    /// thread's own.
    #[inline(always)]
    pub(crate) fn thread_id(&self) -> usize {
        if self.borrowed {
            0
        } else {
            self.record as usize
        }
    }

    /// The pinned thread's map memo (see [`MapCache`]).
    #[inline(always)]
    pub(crate) fn map_cache(&self) -> &MapCache {
        // SAFETY: records are never freed; this one belongs to the pinned
        // thread (or, borrowed, to this guard) for the guard's life.
        unsafe { &(*self.record).map_cache }
    }
}

#[inline]
fn enter(rec: &Record) {
    // Release: a collector that reads this epoch must also be ordered after
    // everything the thread did before, in its previous pins. The unpin's
    // release store of 0 does not carry that over to this later store (no
    // release sequence runs through a plain store), so a collector seeing
    // this epoch could free what the previous pin read (loom found it; see
    // docs/model-checking.md). On x86-64 this is the same plain move.
    // (Under loom, negative controls can weaken this store or leave the
    // fence out: see `loom_models::epoch`.)
    #[cfg(loom)]
    let publish = if crate::sync::broken(crate::sync::Broken::PinStoreRelaxed) {
        Ordering::Relaxed
    } else {
        Ordering::Release
    };
    #[cfg(not(loom))]
    let publish = Ordering::Release;
    rec.active.store(EPOCH.load(Ordering::Acquire), publish);
    #[cfg(loom)]
    let fenced = !crate::sync::broken(crate::sync::Broken::PinFence);
    #[cfg(not(loom))]
    let fenced = true;
    if readers_fence_themselves() {
        if fenced {
            fence(Ordering::SeqCst);
        }
    } else {
        compiler_fence(Ordering::SeqCst);
    }
}

/// Pins the current thread. Cheap: on the common path one thread-local
/// access, a few plain loads and stores and a compiler fence.
#[inline]
pub fn pin() -> Guard {
    let rec = this_thread::record();
    if rec.is_null() {
        return pin_slow();
    }
    // SAFETY: records are never freed.
    let r = unsafe { &*rec };
    let depth = r.depth.load(Ordering::Relaxed);
    let mut resuspend = false;
    if depth == 0 {
        debug_assert_eq!(r.active.load(Ordering::Relaxed), 0, "pin() under a ReadPin");
        enter(r);
    } else if r.active.load(Ordering::Relaxed) == SUSPENDED {
        // A callback calling in: protected again until this guard goes.
        enter(r);
        resuspend = true;
    }
    r.depth.store(depth + 1, Ordering::Relaxed);
    Guard {
        record: rec,
        depth,
        borrowed: false,
        resuspend,
        _not_send: PhantomData,
    }
}

/// An outermost pin for a fast path, or None when the thread is already
/// pinned (a callback is running) or has never pinned: the caller then takes
/// its general path, which uses [`pin`].
#[inline(always)]
pub fn pin_outermost() -> Option<Guard> {
    let rec = this_thread::record();
    // SAFETY: records are never freed.
    let r = unsafe { rec.as_ref() }?;
    if r.depth.load(Ordering::Relaxed) != 0 {
        return None;
    }
    debug_assert_eq!(
        r.active.load(Ordering::Relaxed),
        0,
        "pin_outermost() under a ReadPin"
    );
    enter(r);
    r.depth.store(1, Ordering::Relaxed);
    Some(Guard {
        record: rec,
        depth: 0,
        borrowed: false,
        resuspend: false,
        _not_send: PhantomData,
    })
}

/// An outermost pin for a fast path that retires nothing and pins nothing
/// further (the integer gets, the integer insert's plain case). It is
/// taken only when the record's `active` word is 0, which is exactly when
/// no guard of this thread is live (epochs start at 1), and it touches
/// that word alone: `depth` stays 0, and leaving clears `active` and never
/// collects. Nothing can be sealed while it is held unless the holder
/// retires something, which these paths do not; were a bag sealed meanwhile
/// anyway, the flag that asks for a collection stays set for the thread's
/// next outermost unpin. So dropping it calls nothing and cannot panic,
/// which lets those paths run without a panic boundary. Two stores fewer
/// than a guard's matter on the insert: at 10M keys it is bound by how
/// much it executes while its slot's line comes in. A `pin` inside it would
/// see depth 0 and re-enter; `pin` asserts that this never happens.
pub struct ReadPin(std::mem::ManuallyDrop<Guard>);

impl std::ops::Deref for ReadPin {
    type Target = Guard;
    fn deref(&self) -> &Guard {
        &self.0
    }
}

impl Drop for ReadPin {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: records are never freed; pin_outermost never borrows one.
        let rec = unsafe { &*self.0.record };
        rec.active.store(0, Ordering::Release);
    }
}

/// See [`ReadPin`]. None when [`pin_outermost`] would return None. Like
/// every guard, the pin belongs to the calling thread (it is not `Send`).
#[inline(always)]
pub fn pin_outermost_read() -> Option<ReadPin> {
    let rec = this_thread::record();
    // SAFETY: records are never freed.
    let r = unsafe { rec.as_ref() }?;
    if r.active.load(Ordering::Relaxed) != 0 {
        return None;
    }
    enter(r);
    let g = Guard {
        record: rec,
        depth: 0,
        borrowed: false,
        resuspend: false,
        _not_send: PhantomData,
    };
    Some(ReadPin(std::mem::ManuallyDrop::new(g)))
}

/// The first pin of a thread (which acquires its record), or a pin after
/// its local state was torn down (which borrows one for this guard).
#[cold]
#[inline(never)]
fn pin_slow() -> Guard {
    let attached = LOCAL.try_with(|local| {
        if local.record.get().is_null() {
            local.record.set(acquire_record());
        }
        this_thread::set_record(local.record.get());
    });
    if attached.is_ok() {
        return pin();
    }
    let rec = acquire_record();
    // SAFETY: records are never freed.
    enter(unsafe { &*rec });
    Guard {
        record: rec,
        depth: 0,
        borrowed: true,
        resuspend: false,
        _not_send: PhantomData,
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: records are never freed.
        let rec = unsafe { &*self.record };
        if self.borrowed {
            rec.active.store(0, Ordering::Release);
            rec.in_use.store(false, Ordering::Release);
            return;
        }
        // Guards live on the stack of the thread that owns the record and
        // are dropped innermost first.
        rec.depth.store(self.depth, Ordering::Relaxed);
        if self.depth == 0 {
            rec.active.store(0, Ordering::Release);
            if rec.sealed_while_pinned.load(Ordering::Relaxed) {
                rec.sealed_while_pinned.store(false, Ordering::Relaxed);
                collect();
            }
        } else if self.resuspend {
            rec.active.store(SUSPENDED, Ordering::Release);
        }
    }
}

/// While this lives, the calling thread holds back no reclamation: see
/// [`suspend`]. Dropping it protects the thread again, at the current
/// epoch. Not `Send`: it belongs to the thread's record.
pub struct Suspended {
    /// The record suspended, or null when nothing was (the thread was not
    /// pinned with a record of its own, or was suspended already).
    record: *const Record,
    _not_send: PhantomData<*const ()>,
}

/// Suspends the calling thread's pin while user code runs (a callback), so
/// that a callback that blocks holds back no memory it cannot reach. From
/// the call until the returned value is dropped, nothing the thread found
/// while pinned may be used unless something other than the pin keeps it
/// alive: a reference count, a map's hold. Calls into ferrymap meanwhile
/// pin and unpin as usual, and re-entrancy checks still see the nesting.
/// A thread that is not pinned, or pinned through a borrowed record (its
/// thread-local state is being torn down), is left as it is: it holds back
/// nothing, or too little to matter.
#[inline]
pub fn suspend() -> Suspended {
    let rec = this_thread::record();
    // SAFETY: records are never freed.
    let suspended = unsafe { rec.as_ref() }.is_some_and(|r| {
        let active = r.active.load(Ordering::Relaxed);
        let pinned = r.depth.load(Ordering::Relaxed) > 0 && active != 0 && active != SUSPENDED;
        if pinned {
            r.active.store(SUSPENDED, Ordering::Release);
        }
        pinned
    });
    Suspended {
        record: if suspended { rec } else { ptr::null() },
        _not_send: PhantomData,
    }
}

impl Drop for Suspended {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: records are never freed; this one is the thread's own.
        if let Some(r) = unsafe { self.record.as_ref() } {
            enter(r);
        }
    }
}

/// Defers `d`, which holds about `bytes` of memory, until no reader can
/// still see it. A bag reaching [`BAG_BYTES`] (so any object that large, and
/// anything retired with [`SEAL_NOW`]) is sealed at once.
pub fn retire(d: Deferred, bytes: usize) {
    let mut item = Some(d);
    let full = LOCAL.try_with(|local| {
        let mut bag = local.bag.borrow_mut();
        if room(&mut bag, 1) {
            bag.extend(item.take());
        }
        let held = local.bag_bytes.get().saturating_add(bytes);
        if item.is_some() || held >= BAG_BYTES || bag.len() >= BAG_ITEMS {
            local.bag_bytes.set(0);
            std::mem::take(&mut *bag)
        } else {
            local.bag_bytes.set(held);
            Vec::new()
        }
    });
    if let Ok(bag) = full {
        if !bag.is_empty() {
            seal(bag.into_iter());
        }
    }
    // No room in the bag, or thread-local storage is gone (a destructor is
    // calling us): seal it alone.
    if item.is_some() {
        seal(item.into_iter());
    }
}

/// Seals the calling thread's bag (if any) and frees what is safe to free.
/// Tests call this before reading memory figures.
pub fn flush() {
    let bag = LOCAL
        .try_with(|l| {
            l.bag_bytes.set(0);
            std::mem::take(&mut *l.bag.borrow_mut())
        })
        .unwrap_or_default();
    seal(bag.into_iter());
}

fn seal(bag: impl ExactSizeIterator<Item = Deferred>) {
    let rec = this_thread::record();
    // SAFETY: records are never freed; only their owner touches these fields.
    if let Some(rec) = unsafe { rec.as_ref() } {
        if rec.depth.load(Ordering::Relaxed) > 0 {
            rec.sealed_while_pinned.store(true, Ordering::Relaxed);
        }
    }
    let epoch = EPOCH.fetch_add(1, Ordering::SeqCst) + 1;
    if !heavy_barrier() {
        // Leaked on purpose (see heavy_barrier): never freed.
        std::mem::forget(bag);
        return;
    }
    {
        let mut sealed = SEALED.lock().unwrap_or_else(|p| p.into_inner());
        if room(&mut sealed, bag.len()) {
            sealed.extend(bag.map(|d| (epoch, d)));
        } else {
            let mut spare = SPARE.lock().unwrap_or_else(|p| p.into_inner());
            let mut free = spare.iter_mut().filter(|s| s.is_none());
            for d in bag {
                match free.next() {
                    Some(place) => *place = Some((epoch, d)),
                    None => {
                        std::mem::forget(d);
                        LEAKED.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }
    collect();
}

/// Frees what sealed bags hold once no pinned thread can see it. Needs no
/// new barrier: every sealed bag already had one after its objects were
/// unlinked, so a thread pinning after that cannot reach them.
fn collect() {
    // Dropping may retire more (a table drops its blobs): never under a
    // lock. Ready objects move to a vector of their own first or, when no
    // memory can be had for one, go one at a time; then the spare room's.
    loop {
        let mut ready = Vec::new();
        let mut one = None;
        {
            let mut sealed = SEALED.lock().unwrap_or_else(|p| p.into_inner());
            // Read the pins only now, under the lock: every object listed
            // was sealed (its barrier issued) before, so a thread that can
            // still see one shows an epoch below its seal. Pins read before
            // the lock could miss a thread that pinned, found an object and
            // saw it sealed since (with no thread pinned, every object
            // would look free).
            let oldest = oldest_pinned();
            let roomy = room(&mut ready, sealed.len());
            let mut i = 0;
            while i < sealed.len() && one.is_none() {
                if sealed[i].0 > oldest {
                    i += 1;
                } else if roomy {
                    ready.push(sealed.swap_remove(i).1);
                } else {
                    one = Some(sealed.swap_remove(i).1);
                }
            }
            if one.is_none() && ready.is_empty() {
                // The spare room is filled under the same lock (see `seal`).
                let mut spare = SPARE.lock().unwrap_or_else(|p| p.into_inner());
                one = spare
                    .iter_mut()
                    .find(|s| s.as_ref().is_some_and(|(e, _)| *e <= oldest))
                    .and_then(Option::take)
                    .map(|(_, d)| d);
            }
        }
        if one.is_none() && ready.is_empty() {
            return;
        }
        for d in ready.into_iter().chain(one) {
            d.run();
        }
    }
}

/// The smallest epoch any pinned thread holds, or `u64::MAX` when none is pinned.
fn oldest_pinned() -> u64 {
    let mut oldest = u64::MAX;
    let mut cur = RECORDS.load(Ordering::Acquire);
    while !cur.is_null() {
        // SAFETY: records are never freed.
        let rec = unsafe { &*cur };
        let a = rec.active.load(Ordering::Acquire);
        if a != 0 && a < oldest {
            oldest = a;
        }
        cur = rec.next;
    }
    oldest
}

// Under loom these would run outside a model: the models are in
// `loom_models`.
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static DROPS: AtomicUsize = AtomicUsize::new(0);
    /// Makes every `room` request fail, as an allocator out of memory would.
    pub(super) static REFUSE_ROOM: AtomicBool = AtomicBool::new(false);
    /// The tests share the process's epoch: one at a time, so no other test
    /// holds a pin at the moment a test checks what was freed.
    static SERIAL: Mutex<()> = Mutex::new(());

    unsafe fn count_drop(p: *mut ()) {
        drop(Box::from_raw(p as *mut u64));
        DROPS.fetch_add(1, Ordering::SeqCst);
    }

    /// Collects until `DROPS` reaches `n`, for a bounded while (other tests
    /// in this process pin briefly), then checks it did.
    fn wait_for_drops(n: usize) {
        for _ in 0..1000 {
            flush();
            if DROPS.load(Ordering::SeqCst) >= n {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(DROPS.load(Ordering::SeqCst), n);
    }

    #[test]
    fn retired_object_waits_for_pinned_reader() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let before = DROPS.load(Ordering::SeqCst);
        let (tx_pinned, rx_pinned) = std::sync::mpsc::channel();
        let (tx_go, rx_go) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let g = pin();
            tx_pinned.send(()).unwrap();
            rx_go.recv().unwrap();
            drop(g);
        });
        rx_pinned.recv().unwrap();
        let p = Box::into_raw(Box::new(7u64)) as *mut ();
        retire(unsafe { Deferred::new(p, count_drop) }, SEAL_NOW);
        assert_eq!(
            DROPS.load(Ordering::SeqCst),
            before,
            "freed while a reader was pinned"
        );
        tx_go.send(()).unwrap();
        reader.join().unwrap();
        wait_for_drops(before + 1);
    }

    #[test]
    fn retired_by_a_pinned_thread_is_freed_when_it_unpins() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let before = DROPS.load(Ordering::SeqCst);
        let g = pin();
        let p = Box::into_raw(Box::new(9u64)) as *mut ();
        retire(unsafe { Deferred::new(p, count_drop) }, SEAL_NOW);
        assert_eq!(
            DROPS.load(Ordering::SeqCst),
            before,
            "our own pin may still see it"
        );
        drop(g);
        assert_eq!(
            DROPS.load(Ordering::SeqCst),
            before + 1,
            "freed by the unpin itself"
        );
    }

    /// A thread paused in a callback (pinned, then suspended) holds back
    /// nothing; once the callback returns it is protected again; a call
    /// made from the callback pins and leaves it suspended again.
    #[test]
    fn suspended_thread_holds_back_nothing_until_it_resumes() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let before = DROPS.load(Ordering::SeqCst);
        let (tx_state, rx_state) = std::sync::mpsc::channel::<&str>();
        let (tx_go, rx_go) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let g = pin();
            let s = suspend();
            assert!(pin_outermost().is_none() && pin_outermost_read().is_none());
            tx_state.send("suspended").unwrap();
            rx_go.recv().unwrap();
            {
                let inner = pin();
                assert!(inner.nested(), "the callback's call is still nested");
                tx_state.send("pinned inside").unwrap();
                rx_go.recv().unwrap();
            }
            tx_state.send("suspended again").unwrap();
            rx_go.recv().unwrap();
            drop(s);
            tx_state.send("resumed").unwrap();
            rx_go.recv().unwrap();
            drop(g);
        });
        let mut retire_one = |expect_freed: bool, what: &str| {
            let n = DROPS.load(Ordering::SeqCst);
            let p = Box::into_raw(Box::new(13u64)) as *mut ();
            retire(unsafe { Deferred::new(p, count_drop) }, SEAL_NOW);
            if expect_freed {
                wait_for_drops(n + 1);
            } else {
                assert_eq!(DROPS.load(Ordering::SeqCst), n, "freed while {what}");
            }
        };
        assert_eq!(rx_state.recv().unwrap(), "suspended");
        retire_one(true, "suspended");
        tx_go.send(()).unwrap();
        assert_eq!(rx_state.recv().unwrap(), "pinned inside");
        retire_one(false, "pinned inside a callback");
        tx_go.send(()).unwrap();
        assert_eq!(rx_state.recv().unwrap(), "suspended again");
        wait_for_drops(before + 2);
        tx_go.send(()).unwrap();
        assert_eq!(rx_state.recv().unwrap(), "resumed");
        retire_one(false, "resumed");
        tx_go.send(()).unwrap();
        reader.join().unwrap();
        wait_for_drops(before + 3);
    }

    /// With no memory for bags, retiring still defers (through the spare
    /// room) and frees once readers leave; past the spare room's size it
    /// leaks and counts, and never aborts or frees early.
    #[test]
    fn retiring_without_memory_defers_then_leaks() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        flush();
        let before = DROPS.load(Ordering::SeqCst);
        let leaked = LEAKED.load(Ordering::SeqCst);
        let (tx_pinned, rx_pinned) = std::sync::mpsc::channel();
        let (tx_go, rx_go) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let g = pin();
            tx_pinned.send(()).unwrap();
            rx_go.recv().unwrap();
            drop(g);
        });
        rx_pinned.recv().unwrap();
        REFUSE_ROOM.store(true, Ordering::SeqCst);
        let n = SPARE_ROOM + 10;
        for _ in 0..n {
            let p = Box::into_raw(Box::new(5u64)) as *mut ();
            retire(unsafe { Deferred::new(p, count_drop) }, 8);
        }
        assert_eq!(
            DROPS.load(Ordering::SeqCst),
            before,
            "freed while a reader was pinned"
        );
        assert_eq!(LEAKED.load(Ordering::SeqCst), leaked + 10);
        tx_go.send(()).unwrap();
        reader.join().unwrap();
        wait_for_drops(before + SPARE_ROOM);
        REFUSE_ROOM.store(false, Ordering::SeqCst);
    }

    #[test]
    fn read_pin_holds_back_reclamation_and_leaves_cleanly() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        drop(pin()); // the thread's first pin takes the general path
        let before = DROPS.load(Ordering::SeqCst);
        let read = pin_outermost_read().expect("outermost on a thread that has pinned before");
        assert!(!read.nested());
        assert!(
            pin_outermost_read().is_none(),
            "a second read pin would be nested"
        );
        let p = Box::into_raw(Box::new(11u64)) as *mut ();
        // Retired by another thread while this one holds the read pin.
        let raw = p as usize;
        std::thread::spawn(move || {
            retire(
                unsafe { Deferred::new(raw as *mut (), count_drop) },
                SEAL_NOW,
            )
        })
        .join()
        .unwrap();
        flush();
        assert_eq!(
            DROPS.load(Ordering::SeqCst),
            before,
            "freed under a read pin"
        );
        drop(read);
        // The record is inactive again: the next collection frees it.
        wait_for_drops(before + 1);
        assert!(pin_outermost_read().is_some(), "depth went back to 0");
    }

    #[test]
    fn nested_pins_unpin_once() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let outer = pin();
        assert!(!outer.nested());
        let inner = pin();
        assert!(inner.nested());
        drop(inner);
        drop(outer);
        assert!(!pin().nested(), "depth back to zero");
    }
}
