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

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{compiler_fence, fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

/// Global epoch. Starts at 1 so that 0 can mean "not pinned".
static EPOCH: AtomicU64 = AtomicU64::new(1);
/// Head of the append-only list of per-thread records.
static RECORDS: AtomicPtr<Record> = AtomicPtr::new(ptr::null_mut());
/// Sealed bags: objects waiting for every reader to move past their epoch.
static SEALED: Mutex<Vec<(u64, Deferred)>> = Mutex::new(Vec::new());

const BARRIER_UNKNOWN: u8 = 0;
const BARRIER_MEMBARRIER: u8 = 1;
const BARRIER_FENCE: u8 = 2;
static BARRIER: AtomicU8 = AtomicU8::new(BARRIER_UNKNOWN);

/// A bag holds this many objects before it is sealed on its own.
const BAG_LIMIT: usize = 64;

struct Record {
    /// 0 when the owning thread is outside ferrymap, else the epoch it saw.
    active: AtomicU64,
    /// Whether a live thread owns this record.
    in_use: AtomicBool,
    next: *mut Record,
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

struct Local {
    record: Cell<*const Record>,
    depth: Cell<u32>,
    bag: RefCell<Vec<Deferred>>,
    /// Set when this thread sealed a bag while pinned: its own pin kept
    /// that bag from being freed, so the outermost unpin tries again.
    sealed_while_pinned: Cell<bool>,
}

impl Drop for Local {
    fn drop(&mut self) {
        let bag = std::mem::take(&mut *self.bag.borrow_mut());
        if !bag.is_empty() {
            seal(bag);
        }
        let rec = self.record.get();
        if !rec.is_null() {
            // SAFETY: records are never freed.
            let rec = unsafe { &*rec };
            rec.active.store(0, Ordering::Release);
            rec.in_use.store(false, Ordering::Release);
        }
    }
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            record: Cell::new(ptr::null()),
            depth: Cell::new(0),
            bag: RefCell::new(Vec::new()),
            sealed_while_pinned: Cell::new(false),
        }
    };
}

fn barrier_mode() -> u8 {
    let mode = BARRIER.load(Ordering::Acquire);
    if mode != BARRIER_UNKNOWN {
        return mode;
    }
    let mode = if membarrier_register() { BARRIER_MEMBARRIER } else { BARRIER_FENCE };
    // Two threads may race here; both compute the same answer.
    BARRIER.store(mode, Ordering::Release);
    mode
}

#[cfg(target_os = "linux")]
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

#[cfg(not(target_os = "linux"))]
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

fn acquire_record() -> *const Record {
    barrier_mode();
    let mut cur = RECORDS.load(Ordering::Acquire);
    while !cur.is_null() {
        // SAFETY: records are leaked and never freed.
        let rec = unsafe { &*cur };
        if !rec.in_use.load(Ordering::Relaxed)
            && rec.in_use.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
        {
            return cur;
        }
        cur = rec.next;
    }
    let rec = Box::into_raw(Box::new(Record {
        active: AtomicU64::new(0),
        in_use: AtomicBool::new(true),
        next: ptr::null_mut(),
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
    /// This thread's local state, or null when thread-local storage was
    /// already torn down and `record` was borrowed for this guard alone.
    local: *const Local,
    record: *const Record,
    /// Whether the thread was already pinned: a callback is calling back in.
    nested: bool,
    _not_send: PhantomData<*const ()>,
}

impl Guard {
    /// Whether this pin is nested in another ferrymap call on the same
    /// thread (a callback calling back in). Re-entrancy checks run only then.
    #[inline]
    pub fn nested(&self) -> bool {
        self.nested
    }
}

#[inline]
fn enter(rec: &Record) {
    rec.active.store(EPOCH.load(Ordering::Acquire), Ordering::Relaxed);
    if readers_fence_themselves() {
        fence(Ordering::SeqCst);
    } else {
        compiler_fence(Ordering::SeqCst);
    }
}

/// Pins the current thread. Cheap: on the common path one thread-local
/// lookup, two plain stores and a compiler fence.
#[inline]
pub fn pin() -> Guard {
    let fast = LOCAL.try_with(|local| {
        let depth = local.depth.get();
        let mut rec = local.record.get();
        if depth == 0 {
            if rec.is_null() {
                rec = acquire_record();
                local.record.set(rec);
            }
            // SAFETY: records are never freed.
            enter(unsafe { &*rec });
        }
        local.depth.set(depth + 1);
        Guard { local, record: rec, nested: depth > 0, _not_send: PhantomData }
    });
    fast.unwrap_or_else(|_| {
        // Called from a thread-local destructor after ours ran: borrow a record.
        let rec = acquire_record();
        // SAFETY: records are never freed.
        enter(unsafe { &*rec });
        Guard { local: ptr::null(), record: rec, nested: false, _not_send: PhantomData }
    })
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: records are never freed.
        let rec = unsafe { &*self.record };
        if self.local.is_null() {
            rec.active.store(0, Ordering::Release);
            rec.in_use.store(false, Ordering::Release);
            return;
        }
        // SAFETY: a Guard is not Send and lives on this thread's stack, so
        // the thread's local state outlives it.
        let local = unsafe { &*self.local };
        let depth = local.depth.get() - 1;
        local.depth.set(depth);
        if depth == 0 {
            rec.active.store(0, Ordering::Release);
            if local.sealed_while_pinned.replace(false) {
                collect();
            }
        }
    }
}

/// Defers `d` until no reader can still see it. `big` objects (whole tables,
/// maps) seal the bag at once so their memory comes back promptly.
pub fn retire(d: Deferred, big: bool) {
    let mut item = Some(d);
    let full = LOCAL.try_with(|local| {
        let mut bag = local.bag.borrow_mut();
        bag.extend(item.take());
        if big || bag.len() >= BAG_LIMIT {
            std::mem::take(&mut *bag)
        } else {
            Vec::new()
        }
    });
    match full {
        Ok(bag) if !bag.is_empty() => seal(bag),
        Ok(_) => {}
        // Thread-local storage is gone (a destructor is calling us): seal a bag of one.
        Err(_) => seal(item.into_iter().collect()),
    }
}

/// Seals the calling thread's bag (if any) and frees what is safe to free.
/// Tests call this before reading memory figures.
pub fn flush() {
    let bag = LOCAL.try_with(|l| std::mem::take(&mut *l.bag.borrow_mut())).unwrap_or_default();
    seal(bag);
}

fn seal(bag: Vec<Deferred>) {
    let _ = LOCAL.try_with(|l| {
        if l.depth.get() > 0 {
            l.sealed_while_pinned.set(true);
        }
    });
    let epoch = EPOCH.fetch_add(1, Ordering::SeqCst) + 1;
    if !heavy_barrier() {
        // Leaked on purpose (see heavy_barrier): never freed.
        std::mem::forget(bag);
        return;
    }
    SEALED.lock().unwrap_or_else(|p| p.into_inner()).extend(bag.into_iter().map(|d| (epoch, d)));
    collect();
}

/// Frees what sealed bags hold once no pinned thread can see it. Needs no
/// new barrier: every sealed bag already had one after its objects were
/// unlinked, so a thread pinning after that cannot reach them.
fn collect() {
    let oldest = oldest_pinned();
    let mut ready = Vec::new();
    {
        let mut sealed = SEALED.lock().unwrap_or_else(|p| p.into_inner());
        let mut i = 0;
        while i < sealed.len() {
            if sealed[i].0 <= oldest {
                ready.push(sealed.swap_remove(i).1);
            } else {
                i += 1;
            }
        }
    }
    // Dropping may retire more (a table drops its blobs): never under the lock.
    for d in ready {
        d.run();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static DROPS: AtomicUsize = AtomicUsize::new(0);
    /// The tests share the process's epoch: one at a time, so no other test
    /// holds a pin at the moment a test checks what was freed.
    static SERIAL: Mutex<()> = Mutex::new(());

    unsafe fn count_drop(p: *mut ()) {
        drop(Box::from_raw(p as *mut u64));
        DROPS.fetch_add(1, Ordering::SeqCst);
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
        retire(unsafe { Deferred::new(p, count_drop) }, true);
        assert_eq!(DROPS.load(Ordering::SeqCst), before, "freed while a reader was pinned");
        tx_go.send(()).unwrap();
        reader.join().unwrap();
        // Other tests in this process pin briefly; retry for a bounded while.
        for _ in 0..1000 {
            flush();
            if DROPS.load(Ordering::SeqCst) > before {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(DROPS.load(Ordering::SeqCst), before + 1);
    }

    #[test]
    fn retired_by_a_pinned_thread_is_freed_when_it_unpins() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let before = DROPS.load(Ordering::SeqCst);
        let g = pin();
        let p = Box::into_raw(Box::new(9u64)) as *mut ();
        retire(unsafe { Deferred::new(p, count_drop) }, true);
        assert_eq!(DROPS.load(Ordering::SeqCst), before, "our own pin may still see it");
        drop(g);
        assert_eq!(DROPS.load(Ordering::SeqCst), before + 1, "freed by the unpin itself");
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
