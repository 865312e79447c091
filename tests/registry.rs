//! The handle table on its own, against the promises of DESIGN §2: 0 is
//! never a handle; stale, double-freed, forged, foreign and wrong-kind
//! handles are each told apart and refused; a reused slot never revives an
//! old handle; the census counts what is live.
//!
//! This test binary makes no map, iterator or view of the library's own,
//! so it can store objects of its own under those kinds without meeting a
//! real one (`Stored` asks for one type per kind within a process).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ferrymap::epoch;
use ferrymap::registry::{self, fm_handle_kind, Stored, FM_HANDLE_ITERATOR, FM_HANDLE_VIEW};
use ferrymap::status::{FM_INVALID_HANDLE, FM_WRONG_KIND};

/// An object that counts its drops.
struct Probe {
    value: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: no other type is stored under FM_HANDLE_VIEW in this binary.
unsafe impl Stored for Probe {
    const KIND: fm_handle_kind = FM_HANDLE_VIEW;
}

/// A second kind, to be confused with the first.
struct Other(u64);

// SAFETY: no other type is stored under FM_HANDLE_ITERATOR in this binary.
unsafe impl Stored for Other {
    const KIND: fm_handle_kind = FM_HANDLE_ITERATOR;
}

fn probe(value: u64) -> (Box<Probe>, Arc<AtomicUsize>) {
    let drops = Arc::new(AtomicUsize::new(0));
    let p = Box::new(Probe {
        value,
        drops: drops.clone(),
    });
    (p, drops)
}

/// Removes `h` and drops its object at once (no other thread uses it).
fn remove_now<T: Stored>(h: u64) {
    let obj = registry::remove::<T>(h).expect("a live handle is removed");
    // SAFETY: the object came from a Box given to registry::insert, and no
    // other thread can be reading it in this test.
    drop(unsafe { Box::from_raw(obj) });
}

fn message_of<T>(r: ferrymap::status::Result<T>) -> (ferrymap::status::fm_status, String) {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => (e.status, e.to_string()),
    }
}

#[test]
fn a_live_handle_finds_its_object_and_is_never_zero() {
    let g = epoch::pin();
    let mut handles = Vec::new();
    for i in 0..1000 {
        let (p, _) = probe(i);
        let h = registry::insert(p).unwrap();
        assert_ne!(h, 0);
        handles.push(h);
    }
    assert_eq!(handles.iter().collect::<HashSet<_>>().len(), 1000);
    for (i, &h) in handles.iter().enumerate() {
        assert_eq!(registry::get::<Probe>(h, &g).unwrap().value, i as u64);
    }
    for h in handles {
        remove_now::<Probe>(h);
    }
}

#[test]
fn zero_is_refused() {
    let g = epoch::pin();
    let (status, msg) = message_of(registry::get::<Probe>(0, &g));
    assert_eq!(status, FM_INVALID_HANDLE);
    assert!(msg.contains("0"), "{msg}");
    assert!(registry::remove::<Probe>(0).is_err());
}

#[test]
fn a_freed_handle_is_stale_and_a_second_free_fails() {
    let (p, drops) = probe(7);
    let h = registry::insert(p).unwrap();
    remove_now::<Probe>(h);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let g = epoch::pin();
    let (status, msg) = message_of(registry::get::<Probe>(h, &g));
    assert_eq!(status, FM_INVALID_HANDLE);
    assert!(msg.contains("stale"), "{msg}");
    let (status, _) = message_of(registry::remove::<Probe>(h));
    assert_eq!(status, FM_INVALID_HANDLE);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "a double free drops nothing"
    );
}

#[test]
fn a_reused_slot_does_not_revive_the_old_handle() {
    // The thread's cache of free slots is last in, first out: the next
    // insert after a remove takes the same slot with a new generation.
    let (p, _) = probe(1);
    let old = registry::insert(p).unwrap();
    remove_now::<Probe>(old);
    let (p, _) = probe(2);
    let new = registry::insert(p).unwrap();
    assert_ne!(old, new);
    let mask = (1u64 << 24) - 1;
    assert_eq!(old & mask, new & mask, "same slot index");
    let g = epoch::pin();
    assert_eq!(registry::get::<Probe>(new, &g).unwrap().value, 2);
    assert!(registry::get::<Probe>(old, &g).is_err());
    assert!(registry::remove::<Probe>(old).is_err());
    assert_eq!(
        registry::get::<Probe>(new, &g).unwrap().value,
        2,
        "the new one is untouched"
    );
    drop(g);
    remove_now::<Probe>(new);
}

#[test]
fn a_handle_of_another_kind_is_a_wrong_kind_error() {
    let h = registry::insert(Box::new(Other(3))).unwrap();
    let g = epoch::pin();
    let (status, msg) = message_of(registry::get::<Probe>(h, &g));
    assert_eq!(status, FM_WRONG_KIND);
    assert!(msg.contains("iterator") && msg.contains("view"), "{msg}");
    let (status, _) = message_of(registry::remove::<Probe>(h));
    assert_eq!(status, FM_WRONG_KIND);
    assert_eq!(registry::get::<Other>(h, &g).unwrap().0, 3, "still live");
    drop(g);
    remove_now::<Other>(h);
}

#[test]
fn forged_and_foreign_handles_are_refused() {
    let (p, _) = probe(9);
    let h = registry::insert(p).unwrap();
    let g = epoch::pin();
    // Another copy of the library has another tag (bits 27..37).
    let foreign = h ^ (1 << 27);
    let (status, msg) = message_of(registry::get::<Probe>(foreign, &g));
    assert_eq!(status, FM_INVALID_HANDLE);
    assert!(msg.contains("another copy"), "{msg}");
    // A generation never handed out for this slot.
    let ahead = h + (1 << 37) * 1000;
    let (status, msg) = message_of(registry::get::<Probe>(ahead, &g));
    assert_eq!(status, FM_INVALID_HANDLE);
    assert!(msg.contains("never issued"), "{msg}");
    // A slot index far past any allocated one.
    let far = (h & !((1u64 << 24) - 1)) | ((1 << 24) - 1);
    assert_eq!(
        message_of(registry::get::<Probe>(far, &g)).0,
        FM_INVALID_HANDLE
    );
    // Random words.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x != h {
            assert!(registry::get::<Probe>(x, &g).is_err());
        }
    }
    assert_eq!(registry::get::<Probe>(h, &g).unwrap().value, 9);
    drop(g);
    remove_now::<Probe>(h);
}

#[test]
fn the_census_counts_live_handles_by_kind() {
    // Other tests run in parallel threads of this binary and use these
    // kinds too; only handles of this test are counted by difference, so
    // hold the ones of a kind no other test uses.
    struct Counted;
    // SAFETY: no other type is stored under FM_HANDLE_SUBSCRIPTION here.
    unsafe impl Stored for Counted {
        const KIND: fm_handle_kind = registry::FM_HANDLE_SUBSCRIPTION;
    }
    let before = registry::census(registry::FM_HANDLE_SUBSCRIPTION);
    let hs: Vec<u64> = (0..50)
        .map(|_| registry::insert(Box::new(Counted)).unwrap())
        .collect();
    assert_eq!(
        registry::census(registry::FM_HANDLE_SUBSCRIPTION),
        before + 50
    );
    for h in &hs[..20] {
        remove_now::<Counted>(*h);
    }
    assert_eq!(
        registry::census(registry::FM_HANDLE_SUBSCRIPTION),
        before + 30
    );
    for h in &hs[20..] {
        remove_now::<Counted>(*h);
    }
    assert_eq!(registry::census(registry::FM_HANDLE_SUBSCRIPTION), before);
}

#[test]
fn threads_making_and_freeing_handles_never_share_one() {
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut live = Vec::new();
                for i in 0..5000u64 {
                    let (p, _) = probe(t << 32 | i);
                    let h = registry::insert(p).unwrap();
                    seen.push(h);
                    live.push(h);
                    if i % 3 == 0 {
                        let victim = live.swap_remove((i as usize * 7) % live.len());
                        remove_now::<Probe>(victim);
                    }
                }
                let g = epoch::pin();
                for &h in &live {
                    assert_eq!(registry::get::<Probe>(h, &g).unwrap().value >> 32, t);
                }
                drop(g);
                for h in live {
                    remove_now::<Probe>(h);
                }
                seen
            })
        })
        .collect();
    let mut all = HashSet::new();
    for t in threads {
        for h in t.join().unwrap() {
            assert!(all.insert(h), "handle {h:#x} was handed out twice");
        }
    }
    assert_eq!(all.len(), 8 * 5000);
}
