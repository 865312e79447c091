//! Iterators and value views: the objects that outlive the call that made
//! them and must stay valid whatever happens to their map afterwards.
//!
//! An iterator owns a [`Snapshot`]: a reference to every shard's table as it
//! was when the iterator was created. Writers copy a shared table before
//! changing it, so the iterator keeps seeing exactly the entries of that
//! instant, even after the map is cleared or freed.
//!
//! A view owns a reference to one immutable blob; the bytes stay where they
//! are until the view is released.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::blob::{self, Blob};
use crate::map::{Counters, Map, Snapshot};
use crate::status::Result;
use crate::table::Table;

pub struct Iter {
    snapshot: Snapshot,
    cursor: Mutex<Cursor>,
    counters: Arc<Counters>,
    /// Set when the handle is freed: the map's count of open iterators
    /// drops then, not when the memory is reclaimed later.
    released: AtomicBool,
}

#[derive(Default)]
struct Cursor {
    table: usize,
    pos: usize,
}

impl Iter {
    pub fn new(map: &Map) -> Result<Iter> {
        let snapshot = map.snapshot()?;
        map.counters.iterators.fetch_add(1, Ordering::Relaxed);
        Ok(Iter {
            snapshot,
            cursor: Mutex::default(),
            counters: map.counters.clone(),
            released: AtomicBool::new(false),
        })
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Hands up to `max` entries (key word, value word) to `f`, continuing
    /// where the last call stopped; returns how many. Blob words stay valid
    /// as long as the iterator lives. Calls from several threads share the
    /// cursor: each entry is handed out once in all.
    pub fn next_batch(&self, max: usize, mut f: impl FnMut(u64, u64)) -> usize {
        let tables: Vec<&Table> = self.snapshot.tables().collect();
        let mut cursor = self.cursor.lock().unwrap_or_else(|p| p.into_inner());
        let mut n = 0;
        while n < max && cursor.table < tables.len() {
            let t = tables[cursor.table];
            if cursor.pos > t.capacity() {
                cursor.table += 1;
                cursor.pos = 0;
                continue;
            }
            if let Some((k, v)) = t.entry_at(cursor.pos) {
                f(k, v);
                n += 1;
            }
            cursor.pos += 1;
        }
        n
    }
}

impl Iter {
    /// Called when the handle is freed (and by drop, once in all).
    pub fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.counters.iterators.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Iter {
    fn drop(&mut self) {
        self.release();
    }
}

pub struct View {
    blob: *const Blob,
    counters: Option<Arc<Counters>>,
    /// As for iterators: the open-views count drops when the handle is freed.
    released: AtomicBool,
}

// SAFETY: the blob is immutable and reference counted atomically.
unsafe impl Send for View {}
unsafe impl Sync for View {}

impl View {
    /// A view on the blob in `word`, taking a new reference.
    ///
    /// # Safety
    /// `word` must be a blob pointer the caller keeps alive for this call
    /// (pinned after finding it in a reachable table, or holding a reference).
    pub unsafe fn of_word(word: u64, counters: Option<Arc<Counters>>) -> View {
        blob::acquire(word as *const Blob);
        if let Some(c) = &counters {
            c.views.fetch_add(1, Ordering::Relaxed);
        }
        View {
            blob: word as *const Blob,
            counters,
            released: AtomicBool::new(false),
        }
    }

    /// A view owning fresh bytes (export data). None when memory runs out.
    pub fn of_bytes(bytes: &[u8]) -> Option<View> {
        Some(View {
            blob: blob::new(bytes, 0)?,
            counters: None,
            released: AtomicBool::new(false),
        })
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: we hold a reference.
        unsafe { blob::bytes(self.blob) }
    }
}

impl View {
    /// Called when the handle is freed (and by drop, once in all).
    pub fn release(&self) {
        if let Some(c) = &self.counters {
            if !self.released.swap(true, Ordering::AcqRel) {
                c.views.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for View {
    fn drop(&mut self) {
        self.release();
        // SAFETY: our reference; readers reach this blob only through tables,
        // which hold references of their own.
        unsafe { blob::release(self.blob) }
    }
}
