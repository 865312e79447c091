//! `ferrymap.MapIterator`: iterates a snapshot of a map (DESIGN §6). It
//! sees exactly the entries the map held when it was created, whatever
//! happens to the map meanwhile, so "dictionary changed size during
//! iteration" cannot happen. Entries come from the core in batches, with
//! the GIL released; the core iterator is freed as soon as the last batch
//! is drained (or on close() / garbage collection).

use std::sync::{Mutex, MutexGuard};

use pyo3::ffi;
use pyo3::prelude::*;

use crate::convert::{entry_key, entry_value, Kind};
use crate::errors::status_err;
use crate::gil::{detach, AssertSend};
use crate::sys::*;

const BATCH: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Keys,
    Values,
    Items,
}

struct State {
    /// The core iterator; 0 once exhausted or closed.
    handle: u64,
    /// Fetched entries; their pointers stay valid while `handle` is open.
    buf: Vec<fm_entry>,
    pos: usize,
    /// Entries handed out so far.
    yielded: usize,
}

// SAFETY: the raw pointers in `buf` point into memory owned by the core
// iterator, which any thread may read; access is serialised by the Mutex.
unsafe impl Send for State {}

#[pyclass(module = "ferrymap", name = "MapIterator", frozen, generic)]
pub struct MapIter {
    mode: Mode,
    key: Kind,
    val: Kind,
    state: Mutex<State>,
}

impl Drop for MapIter {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if st.handle != 0 {
            // SAFETY: plain call.
            unsafe { fm_iter_free(st.handle) };
            st.handle = 0;
        }
    }
}

impl MapIter {
    pub fn new(handle: u64, key: Kind, val: Kind, mode: Mode) -> MapIter {
        MapIter {
            mode,
            key,
            val,
            state: Mutex::new(State {
                handle,
                buf: Vec::new(),
                pos: 0,
                yielded: 0,
            }),
        }
    }

    /// Locks the state without ever blocking while attached (another thread
    /// holding it may be waiting for the GIL).
    fn lock(&self, py: Python<'_>) -> MutexGuard<'_, State> {
        loop {
            match self.state.try_lock() {
                Ok(g) => return g,
                Err(std::sync::TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => detach(py, std::thread::yield_now),
            }
        }
    }

    /// The next entry, as the mode says; None at the end.
    pub fn next_item<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut st = self.lock(py);
        if st.pos == st.buf.len() && !fill(py, &mut st)? {
            return Ok(None);
        }
        let e = st.buf[st.pos];
        st.pos += 1;
        // SAFETY: the entry's pointers are valid while the core iterator is open (it is: we hold the lock).
        let item = unsafe {
            match self.mode {
                Mode::Keys => entry_key(py, self.key, &e)?,
                Mode::Values => entry_value(py, self.val, &e)?,
                Mode::Items => pair(
                    py,
                    entry_key(py, self.key, &e)?,
                    entry_value(py, self.val, &e)?,
                ),
            }
        };
        st.yielded += 1;
        Ok(Some(item))
    }

    /// Calls `f(key, value)` for every remaining entry.
    pub fn drain_into<'py>(
        &self,
        py: Python<'py>,
        mut f: impl FnMut(Bound<'py, PyAny>, Bound<'py, PyAny>) -> PyResult<()>,
    ) -> PyResult<()> {
        let mut st = self.lock(py);
        loop {
            if st.pos == st.buf.len() && !fill(py, &mut st)? {
                return Ok(());
            }
            for i in st.pos..st.buf.len() {
                let e = st.buf[i];
                // SAFETY: as in next_item.
                unsafe { f(entry_key(py, self.key, &e)?, entry_value(py, self.val, &e)?)? };
            }
            st.yielded += st.buf.len() - st.pos;
            st.pos = st.buf.len();
        }
    }

    /// Frees the core iterator now.
    pub fn close_now(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        free(&mut st);
    }
}

/// A 2-tuple, built directly (this is the per-entry cost of items()).
#[inline]
fn pair<'py>(py: Python<'py>, a: Bound<'py, PyAny>, b: Bound<'py, PyAny>) -> Bound<'py, PyAny> {
    // SAFETY: PyTuple_New(2) returns a new tuple (or NULL on memory
    // exhaustion, which from_owned_ptr turns into a panic, caught at the
    // boundary); SET_ITEM steals the two references we hand it.
    unsafe {
        let t = ffi::PyTuple_New(2);
        let t = Bound::from_owned_ptr(py, t);
        ffi::PyTuple_SET_ITEM(t.as_ptr(), 0, a.into_ptr());
        ffi::PyTuple_SET_ITEM(t.as_ptr(), 1, b.into_ptr());
        t
    }
}

fn free(st: &mut State) {
    if st.handle != 0 {
        // SAFETY: plain call.
        unsafe { fm_iter_free(st.handle) };
        st.handle = 0;
    }
    st.buf.clear();
    st.pos = 0;
}

/// Fetches the next batch (GIL released). False at the end, when the core
/// iterator has been freed.
fn fill(py: Python<'_>, st: &mut State) -> PyResult<bool> {
    if st.handle == 0 {
        return Ok(false);
    }
    let h = st.handle;
    st.buf.clear();
    st.buf.resize(BATCH, fm_entry::ZERO);
    st.pos = 0;
    let mut count = 0usize;
    let args = AssertSend((st.buf.as_mut_ptr(), &mut count as *mut usize));
    let status = detach(py, move || {
        let (entries, count) = args.into_inner();
        // SAFETY: entries valid for BATCH writes, count for one.
        unsafe { fm_iter_next_batch(h, entries, BATCH, count) }
    });
    match status {
        FM_OK if count > 0 => {
            st.buf.truncate(count);
            Ok(true)
        }
        FM_OK | FM_END => {
            free(st);
            Ok(false)
        }
        s => {
            let e = status_err(py, s);
            free(st);
            Err(e)
        }
    }
}

#[pymethods]
impl MapIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.next_item(py)
    }

    /// How many entries are left (an estimate for list() and friends).
    fn __length_hint__(&self, py: Python<'_>) -> usize {
        let st = self.lock(py);
        let buffered = st.buf.len() - st.pos;
        if st.handle == 0 {
            return buffered;
        }
        let mut total = 0usize;
        // SAFETY: out pointer valid.
        if unsafe { fm_iter_len(st.handle, &mut total) } != FM_OK {
            return buffered;
        }
        total.saturating_sub(st.yielded).max(buffered)
    }

    /// Frees the snapshot now; iteration then ends.
    fn close(&self, py: Python<'_>) {
        let mut st = self.lock(py);
        free(&mut st);
    }
}
