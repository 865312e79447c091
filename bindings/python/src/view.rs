//! `ferrymap.ValueView`: owns a core value view (`fm_view_*`) and exports
//! its bytes through the buffer protocol, read-only.
//!
//! `Map.view(key)` returns `memoryview(ValueView(...))`. The memoryview
//! holds a reference to the ValueView (its `.obj`), so the stored bytes
//! cannot be freed under it: the core view is released when the last
//! buffer exported from it is released (memoryview.release(), the end of a
//! `with` block, or garbage collection), or by ValueView.release() when no
//! buffer is exported, or when the ValueView is collected.

use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;

use crate::capi::{self, View, ViewId};
use crate::errors::{closed_err, core_err};

#[pyclass(module = "ferrymap", name = "ValueView", frozen)]
pub struct ValueView {
    handle: AtomicU64,
    ptr: usize,
    len: usize,
    exports: AtomicUsize,
}

impl Drop for ValueView {
    fn drop(&mut self) {
        let _ = self.release_handle();
    }
}

impl ValueView {
    /// Takes over the core view: released when the last export is, or by
    /// release(), or when this object is dropped.
    pub fn new(view: View) -> ValueView {
        let (id, ptr, len) = view.into_raw();
        ValueView {
            handle: AtomicU64::new(id.0),
            ptr: ptr as usize,
            len,
            exports: AtomicUsize::new(0),
        }
    }

    /// Releases the core view if this object still holds it (once).
    fn release_handle(&self) -> capi::CoreResult<()> {
        match self.handle.swap(0, Ordering::AcqRel) {
            0 => Ok(()),
            h => capi::view_release(ViewId(h)),
        }
    }

    /// `memoryview(owner)`; the owner's only strong reference is then the memoryview's.
    pub fn memoryview<'py>(owner: &Bound<'py, ValueView>) -> PyResult<Bound<'py, PyAny>> {
        let py = owner.py();
        // SAFETY: returns a new reference or NULL with an exception set.
        unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromObject(owner.as_ptr())) }
    }

    fn release_now(&self, py: Python<'_>) -> PyResult<()> {
        self.release_handle().map_err(|e| core_err(py, e))
    }
}

#[pymethods]
impl ValueView {
    /// The view's core handle (0 once released).
    #[getter]
    fn handle(&self) -> u64 {
        self.handle.load(Ordering::Acquire)
    }

    /// Whether the bytes were released.
    #[getter]
    fn released(&self) -> bool {
        self.handle.load(Ordering::Acquire) == 0
    }

    fn __len__(&self) -> usize {
        self.len
    }

    /// Releases the stored bytes now. BufferError while a memoryview of them exists.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        if self.exports.load(Ordering::Acquire) != 0 {
            return Err(PyBufferError::new_err(
                "a memoryview of these bytes is still alive: release it first",
            ));
        }
        self.release_now(py)
    }

    fn __repr__(&self) -> String {
        match self.handle.load(Ordering::Acquire) {
            0 => "ferrymap.ValueView(released)".into(),
            h => format!("ferrymap.ValueView(len={}, handle={:#x})", self.len, h),
        }
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let py = slf.py();
        let me = slf.get();
        if me.handle.load(Ordering::Acquire) == 0 {
            return Err(closed_err(py, "the value view"));
        }
        // A zero-length value may have a NULL pointer; give Python a valid one.
        static EMPTY: u8 = 0;
        let ptr = if me.len == 0 || me.ptr == 0 {
            &EMPTY as *const u8
        } else {
            me.ptr as *const u8
        };
        // Read-only: a request for a writable buffer raises BufferError.
        // SAFETY: view is the Py_buffer CPython passes; the bytes stay valid
        // until the last export is released (handle released only then).
        let r = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                ptr as *mut _,
                me.len as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if r != 0 {
            return Err(PyErr::fetch(py));
        }
        me.exports.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        if self.exports.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last memoryview is gone: nothing can read the bytes any more.
            let _ = self.release_handle();
        }
    }
}
