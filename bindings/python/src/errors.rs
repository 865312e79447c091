//! ferrymap's exceptions and the mapping from `fm_status` codes to them.
//!
//! Every class derives from `ferrymap.Error`; those for mistakes Python
//! users already catch also derive from the built-in they expect:
//! `WrongKindError` is a `TypeError`, `CorruptDataError` a `ValueError`, and
//! so on. A missing key is a plain `KeyError`. The message is the core's
//! `fm_last_error()` text, read on the same thread right after the call
//! (capi.rs, `CoreError`).

use std::ffi::CString;

use pyo3::exceptions::{
    PyKeyError, PyMemoryError, PyOverflowError, PyRuntimeError, PyTimeoutError, PyTypeError,
    PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use pyo3::{ffi, PyTypeInfo};

use crate::capi::*;

/// The exception classes, created once when the module is first imported.
pub struct Exceptions {
    pub error: Py<PyType>,
    pub invalid_handle: Py<PyType>,
    pub closed: Py<PyType>,
    pub wrong_kind: Py<PyType>,
    pub invalid_utf8: Py<PyType>,
    pub invalid_argument: Py<PyType>,
    pub corrupt_data: Py<PyType>,
    pub unsupported_version: Py<PyType>,
    pub reentrant: Py<PyType>,
    pub out_of_memory: Py<PyType>,
    pub overflow: Py<PyType>,
    pub internal: Py<PyType>,
    pub bridge_closed: Py<PyType>,
    pub timeout: Py<PyType>,
    pub queue_full: Py<PyType>,
    pub bridge_failed: Py<PyType>,
}

static EXCEPTIONS: PyOnceLock<Exceptions> = PyOnceLock::new();

/// Creates `ferrymap.<name>` deriving from `bases`, with a class attribute
/// `status` (the fm_status code it stands for, or None).
fn new_exception(
    py: Python<'_>,
    name: &str,
    doc: &str,
    bases: &[Bound<'_, PyType>],
    status: Option<fm_status>,
) -> PyResult<Py<PyType>> {
    let qualified = CString::new(format!("ferrymap.{name}")).expect("no NUL in names");
    let doc = CString::new(doc).expect("no NUL in docs");
    let bases = PyTuple::new(py, bases)?;
    let dict = PyDict::new(py);
    dict.set_item("status", status)?;
    // SAFETY: valid C strings and objects; the call returns a new reference or NULL with an exception set.
    unsafe {
        let t = ffi::PyErr_NewExceptionWithDoc(
            qualified.as_ptr(),
            doc.as_ptr(),
            bases.as_ptr(),
            dict.as_ptr(),
        );
        Bound::from_owned_ptr_or_err(py, t).map(|t| t.cast_into_unchecked::<PyType>().unbind())
    }
}

pub fn exceptions(py: Python<'_>) -> PyResult<&Exceptions> {
    EXCEPTIONS.get_or_try_init(py, || {
        let error = new_exception(
            py,
            "Error",
            "Base class of ferrymap's own exceptions. `status` is the fm_status code (or None).",
            &[pyo3::exceptions::PyException::type_object(py)],
            None,
        )?;
        let e = error.bind(py).clone();
        let with = |name: &str,
                    doc: &str,
                    extra: Option<Bound<'_, PyType>>,
                    status: Option<fm_status>| {
            let mut bases = vec![e.clone()];
            bases.extend(extra);
            new_exception(py, name, doc, &bases, status)
        };
        let invalid_handle = with(
            "InvalidHandleError",
            "The handle is 0, forged, stale (freed, perhaps by another language) or from another copy of the library.",
            None,
            Some(FM_INVALID_HANDLE),
        )?;
        let closed = with("ClosedError", "The object was closed (or released) from Python.", None, None)?;
        let bridge_closed = new_exception(
            py,
            "BridgeClosedError",
            "The bridge map is closed: the request was not accepted (or a subscription has delivered its last event).",
            &[closed.bind(py).clone()],
            Some(FM_CLOSED),
        )?;
        Ok(Exceptions {
            bridge_closed,
            timeout: with(
                "FerryTimeoutError",
                "A wait ended before what it waited for: room in a full bridge queue, a ticket, an event.",
                Some(PyTimeoutError::type_object(py)),
                Some(FM_TIMEOUT),
            )?,
            queue_full: with(
                "QueueFullError",
                "try_submit found the bridge queue full; nothing was queued.",
                None,
                Some(FM_QUEUE_FULL),
            )?,
            bridge_failed: with(
                "BridgeFailedError",
                "The bridge's owner thread caught a panic; the bridge accepts no more work (close() still works).",
                Some(PyRuntimeError::type_object(py)),
                Some(FM_BRIDGE_FAILED),
            )?,
            wrong_kind: with(
                "WrongKindError",
                "A key or value of the wrong kind for the map, or a handle of the wrong kind.",
                Some(PyTypeError::type_object(py)),
                Some(FM_WRONG_KIND),
            )?,
            invalid_utf8: with(
                "InvalidUtf8Error",
                "A STR key or value is not valid UTF-8.",
                Some(PyValueError::type_object(py)),
                Some(FM_INVALID_UTF8),
            )?,
            invalid_argument: with(
                "InvalidArgumentError",
                "An argument is out of range (an unknown kind, an absurd length or capacity).",
                Some(PyValueError::type_object(py)),
                Some(FM_INVALID_ARGUMENT),
            )?,
            corrupt_data: with(
                "CorruptDataError",
                "Import data is truncated, corrupted or inconsistent; no map was created.",
                Some(PyValueError::type_object(py)),
                Some(FM_CORRUPT_DATA),
            )?,
            unsupported_version: with(
                "UnsupportedVersionError",
                "Import data was written by a newer, unknown format version.",
                Some(PyValueError::type_object(py)),
                Some(FM_UNSUPPORTED_VERSION),
            )?,
            reentrant: with(
                "ReentrantError",
                "A callback (update_value) called back into the map it was called for.",
                Some(PyRuntimeError::type_object(py)),
                Some(FM_REENTRANT),
            )?,
            out_of_memory: with(
                "OutOfMemoryError",
                "An allocation failed or a size limit was reached.",
                Some(PyMemoryError::type_object(py)),
                Some(FM_OUT_OF_MEMORY),
            )?,
            overflow: with(
                "IntegerOverflowError",
                "An integer add overflowed int64; the value was left unchanged.",
                Some(PyOverflowError::type_object(py)),
                Some(FM_OVERFLOW),
            )?,
            internal: with(
                "InternalError",
                "A bug inside ferrymap (or this binding) was caught; please report it.",
                Some(PyRuntimeError::type_object(py)),
                Some(FM_INTERNAL_ERROR),
            )?,
            error,
            invalid_handle,
            closed,
        })
    })
}

/// The Python exception for a failed call into the core.
pub fn core_err(py: Python<'_>, e: CoreError) -> PyErr {
    status_err_msg(py, e.status, e.message)
}

/// The exception for `status` with the given message (for statuses that
/// did not come with a last error: per-request results of a bridge batch).
pub fn status_err_msg(py: Python<'_>, status: fm_status, msg: String) -> PyErr {
    let exc = match exceptions(py) {
        Ok(e) => e,
        Err(e) => return e,
    };
    let t = match status {
        FM_NOT_FOUND => return PyKeyError::new_err(msg),
        FM_INVALID_HANDLE => &exc.invalid_handle,
        FM_WRONG_KIND => &exc.wrong_kind,
        FM_INVALID_UTF8 => &exc.invalid_utf8,
        FM_INVALID_ARGUMENT => &exc.invalid_argument,
        FM_CORRUPT_DATA => &exc.corrupt_data,
        FM_UNSUPPORTED_VERSION => &exc.unsupported_version,
        FM_REENTRANT => &exc.reentrant,
        FM_OUT_OF_MEMORY => &exc.out_of_memory,
        FM_OVERFLOW => &exc.overflow,
        FM_CLOSED => &exc.bridge_closed,
        FM_TIMEOUT => &exc.timeout,
        FM_QUEUE_FULL => &exc.queue_full,
        FM_BRIDGE_FAILED => &exc.bridge_failed,
        _ => &exc.internal,
    };
    PyErr::from_type(t.bind(py).clone(), msg)
}

pub fn closed_err(py: Python<'_>, what: &str) -> PyErr {
    match exceptions(py) {
        Ok(e) => PyErr::from_type(e.closed.bind(py).clone(), format!("{what} is closed")),
        Err(e) => e,
    }
}

pub fn wrong_kind(py: Python<'_>, msg: String) -> PyErr {
    match exceptions(py) {
        Ok(e) => PyErr::from_type(e.wrong_kind.bind(py).clone(), msg),
        Err(e) => e,
    }
}

pub fn timeout_err(py: Python<'_>, msg: String) -> PyErr {
    status_err_msg(py, FM_TIMEOUT, msg)
}

pub fn invalid_handle(py: Python<'_>, msg: String) -> PyErr {
    match exceptions(py) {
        Ok(e) => PyErr::from_type(e.invalid_handle.bind(py).clone(), msg),
        Err(e) => e,
    }
}

/// Adds the classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let e = exceptions(py)?;
    for (name, t) in [
        ("Error", &e.error),
        ("InvalidHandleError", &e.invalid_handle),
        ("ClosedError", &e.closed),
        ("WrongKindError", &e.wrong_kind),
        ("InvalidUtf8Error", &e.invalid_utf8),
        ("InvalidArgumentError", &e.invalid_argument),
        ("CorruptDataError", &e.corrupt_data),
        ("UnsupportedVersionError", &e.unsupported_version),
        ("ReentrantError", &e.reentrant),
        ("OutOfMemoryError", &e.out_of_memory),
        ("IntegerOverflowError", &e.overflow),
        ("InternalError", &e.internal),
        ("BridgeClosedError", &e.bridge_closed),
        ("FerryTimeoutError", &e.timeout),
        ("QueueFullError", &e.queue_full),
        ("BridgeFailedError", &e.bridge_failed),
    ] {
        m.add(name, t.clone_ref(py))?;
    }
    Ok(())
}
