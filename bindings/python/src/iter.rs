//! `ferrymap.MapIterator`: iterates a snapshot of a map (DESIGN §6). It
//! sees exactly the entries the map held when it was created, whatever
//! happens to the map meanwhile, so "dictionary changed size during
//! iteration" cannot happen. Entries come from the core in batches, with
//! the GIL released; the core iterator is freed as soon as the last batch
//! is drained (or on close() / garbage collection).

use std::sync::{Mutex, MutexGuard};

use pyo3::ffi;
use pyo3::prelude::*;

use crate::capi::Iter;
use crate::convert::{entry_key, entry_value, Kind};
use crate::errors::core_err;
use crate::gil::detach;

const BATCH: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Keys,
    Values,
    Items,
}

struct State {
    /// The core iterator and its current batch; None once exhausted or
    /// closed (dropping it frees the core iterator).
    iter: Option<Iter>,
    /// Entries of the batch handed out so far.
    pos: usize,
    /// Entries handed out in all.
    yielded: usize,
}

impl State {
    fn buffered(&self) -> usize {
        self.iter
            .as_ref()
            .map_or(0, |it| it.batch().len() - self.pos)
    }
}

#[pyclass(module = "ferrymap", name = "MapIterator", frozen, generic)]
pub struct MapIter {
    mode: Mode,
    key: Kind,
    val: Kind,
    state: Mutex<State>,
}

impl MapIter {
    pub fn new(iter: Iter, key: Kind, val: Kind, mode: Mode) -> MapIter {
        MapIter {
            mode,
            key,
            val,
            state: Mutex::new(State {
                iter: Some(iter),
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
        if st.buffered() == 0 && !fill(py, &mut st)? {
            return Ok(None);
        }
        let pos = st.pos;
        let item = {
            let Some(it) = st.iter.as_ref() else {
                return Ok(None);
            };
            let e = &it.batch()[pos];
            match self.mode {
                Mode::Keys => entry_key(py, self.key, e)?,
                Mode::Values => entry_value(py, self.val, e)?,
                Mode::Items => pair(
                    py,
                    entry_key(py, self.key, e)?,
                    entry_value(py, self.val, e)?,
                ),
            }
        };
        st.pos += 1;
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
            if st.buffered() == 0 && !fill(py, &mut st)? {
                return Ok(());
            }
            let pos = st.pos;
            let n = {
                let Some(it) = st.iter.as_ref() else {
                    return Ok(());
                };
                for e in &it.batch()[pos..] {
                    f(entry_key(py, self.key, e)?, entry_value(py, self.val, e)?)?;
                }
                it.batch().len()
            };
            st.yielded += n - pos;
            st.pos = n;
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

/// Frees the core iterator (dropping it) and forgets its batch.
fn free(st: &mut State) {
    st.iter = None;
    st.pos = 0;
}

/// Fetches the next batch (GIL released). False at the end, when the core
/// iterator has been freed.
fn fill(py: Python<'_>, st: &mut State) -> PyResult<bool> {
    let Some(it) = st.iter.as_mut() else {
        return Ok(false);
    };
    st.pos = 0;
    match detach(py, || it.next_batch(BATCH)) {
        Ok(true) => Ok(true),
        Ok(false) => {
            free(st);
            Ok(false)
        }
        Err(e) => {
            let e = core_err(py, e);
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
        let buffered = st.buffered();
        match st.iter.as_ref().map(Iter::snapshot_len) {
            Some(Ok(total)) => total.saturating_sub(st.yielded).max(buffered),
            _ => buffered,
        }
    }

    /// Frees the snapshot now; iteration then ends.
    fn close(&self, py: Python<'_>) {
        let mut st = self.lock(py);
        free(&mut st);
    }
}
