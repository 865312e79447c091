//! `ferrymap._native`: the PyO3 extension module of ferrymap's Python
//! binding. It reaches the core only through the C ABI of the shared
//! `libferrymap.so` (declared in `sys.rs`), never through a copy of its own,
//! so maps are shared with C, Java and Go code in the same process.
//! The Python package `ferrymap` (ferrymap/__init__.py) re-exports it.

mod bridge;
mod bulk;
mod convert;
mod errors;
mod gil;
mod handshake;
mod iter;
mod map;
mod sys;
mod view;

use std::ffi::CStr;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::sys::*;

/// The registry identity of the loaded core: equal in every language that
/// shares maps with this one (C: fm_registry_id()).
#[pyfunction]
fn registry_id() -> u64 {
    // SAFETY: plain call.
    unsafe { fm_registry_id() }
}

/// The path of the libferrymap.so this module uses (the file to open with
/// ctypes.CDLL, or to give Java's System.load, to share its maps).
#[pyfunction]
fn library_path() -> String {
    // SAFETY: a static NUL-terminated string.
    unsafe { CStr::from_ptr(fm_library_path()) }
        .to_string_lossy()
        .into_owned()
}

/// The core library's version string ("0.1.0").
#[pyfunction]
fn core_version() -> String {
    // SAFETY: a static NUL-terminated string.
    unsafe { CStr::from_ptr(fm_version_string()) }
        .to_string_lossy()
        .into_owned()
}

/// Live handles in the whole process, by kind: map, iterator, view,
/// subscription, ticket; and total. Every test suite checks it ends at 0.
#[pyfunction]
fn census(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (kind, name) in [
        (FM_HANDLE_MAP, "map"),
        (FM_HANDLE_ITERATOR, "iterator"),
        (FM_HANDLE_VIEW, "view"),
        (FM_HANDLE_SUBSCRIPTION, "subscription"),
        (FM_HANDLE_TICKET, "ticket"),
    ] {
        let mut n = 0u64;
        // SAFETY: out pointer valid.
        errors::check(py, unsafe { fm_census(kind, &mut n) })?;
        d.set_item(name, n)?;
    }
    // SAFETY: plain call.
    d.set_item("total", unsafe { fm_census_total() })?;
    Ok(d)
}

/// The number of live handles of every kind together.
#[pyfunction]
fn census_total() -> u64 {
    // SAFETY: plain call.
    unsafe { fm_census_total() }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    handshake::check()?;
    m.add_class::<map::Map>()?;
    m.add_class::<iter::MapIter>()?;
    m.add_class::<view::ValueView>()?;
    m.add_class::<bridge::Ticket>()?;
    m.add_class::<bridge::Subscription>()?;
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(registry_id, m)?)?;
    m.add_function(wrap_pyfunction!(library_path, m)?)?;
    m.add_function(wrap_pyfunction!(core_version, m)?)?;
    m.add_function(wrap_pyfunction!(census, m)?)?;
    m.add_function(wrap_pyfunction!(census_total, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::last_seq, m)?)?;
    // SAFETY: plain call.
    let v = unsafe { fm_version() };
    m.add("CORE_VERSION", (v >> 16, (v >> 8) & 0xff, v & 0xff))?;
    Ok(())
}
