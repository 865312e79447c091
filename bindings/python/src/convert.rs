//! Kinds, and conversion of keys and values between Python objects and what
//! the C API takes: plain `i64`/`f64`, or a pointer and a length borrowed
//! from the Python object (a `str`'s cached UTF-8, a `bytes` object's
//! contents, a contiguous buffer) so that nothing is copied on the way in.

use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFloat, PyInt, PyString, PyType};

use crate::capi::{Entry, Key, Value, FM_BYTES, FM_FLOAT, FM_INT, FM_STR};
use crate::errors::wrong_kind;

/// A key or value kind (the `fm_kind` numbers).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum Kind {
    Int = FM_INT,
    Float = FM_FLOAT,
    Str = FM_STR,
    Bytes = FM_BYTES,
}

impl Kind {
    pub fn from_raw(raw: u32) -> Option<Kind> {
        Some(match raw {
            FM_INT => Kind::Int,
            FM_FLOAT => Kind::Float,
            FM_STR => Kind::Str,
            FM_BYTES => Kind::Bytes,
            _ => return None,
        })
    }
    /// The Python type name, as `repr` and messages show it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Str => "str",
            Kind::Bytes => "bytes",
        }
    }
    pub fn is_buf(self) -> bool {
        matches!(self, Kind::Str | Kind::Bytes)
    }

    /// Accepts the Python types `int`, `float`, `str`, `bytes` or their names.
    pub fn from_py(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Kind> {
        let py = obj.py();
        let kind = if let Ok(t) = obj.cast::<PyType>() {
            if t.is(py.get_type::<PyInt>()) {
                Some(Kind::Int)
            } else if t.is(py.get_type::<PyFloat>()) {
                Some(Kind::Float)
            } else if t.is(py.get_type::<PyString>()) {
                Some(Kind::Str)
            } else if t.is(py.get_type::<PyBytes>()) {
                Some(Kind::Bytes)
            } else {
                None
            }
        } else if let Ok(s) = obj.cast::<PyString>() {
            match s.to_str()? {
                "int" | "INT" => Some(Kind::Int),
                "float" | "FLOAT" => Some(Kind::Float),
                "str" | "STR" => Some(Kind::Str),
                "bytes" | "BYTES" => Some(Kind::Bytes),
                _ => None,
            }
        } else {
            None
        };
        match kind {
            Some(Kind::Float) if what == "key" => {
                Err(PyValueError::new_err("float is not a key kind (keys are int, str or bytes)"))
            }
            Some(k) => Ok(k),
            None => Err(PyTypeError::new_err(format!(
                "{what} kind must be one of int, float, str, bytes (the types or their names), not {}",
                obj.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into())
            ))),
        }
    }
}

/// Bytes borrowed from a Python object for the duration of a call.
pub enum BufIn<'a> {
    Borrowed(&'a [u8]),
    /// A contiguous buffer held open (bytearray, memoryview, array, ...).
    Held(PyUntypedBuffer),
}

impl BufIn<'_> {
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            BufIn::Borrowed(s) => s,
            // SAFETY: a C-contiguous buffer of len_bytes bytes, held open by `b`.
            BufIn::Held(b) => unsafe {
                std::slice::from_raw_parts(b.buf_ptr() as *const u8, b.len_bytes())
            },
        }
    }
}

/// A key or value ready for the C API.
pub enum Arg<'a> {
    Int(i64),
    Float(f64),
    Buf(BufIn<'a>),
}

impl Arg<'_> {
    /// The value as the C API wrappers take it.
    #[inline]
    pub fn as_value(&self) -> Value<'_> {
        match self {
            Arg::Int(i) => Value::Int(*i),
            Arg::Float(f) => Value::Float(*f),
            Arg::Buf(b) => Value::Bytes(b.as_slice()),
        }
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// An `int` (or anything with `__index__`, such as numpy integers) as i64.
#[inline]
pub fn int_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    let py = obj.py();
    // SAFETY: plain C API calls on a live object, with the GIL held.
    unsafe {
        let p = obj.as_ptr();
        if ffi::PyLong_Check(p) == 0 && ffi::PyIndex_Check(p) == 0 {
            return Err(wrong_kind(
                py,
                format!("{what} must be int, not {}", type_name(obj)),
            ));
        }
        let v = ffi::PyLong_AsLongLong(p);
        if v == -1 {
            if let Some(e) = PyErr::take(py) {
                if e.is_instance_of::<PyOverflowError>(py) {
                    return Err(PyOverflowError::new_err(format!(
                        "{what} does not fit in int64"
                    )));
                }
                return Err(e);
            }
        }
        Ok(v)
    }
}

/// A `float` (or an `int`, or anything with `__float__`) as f64.
#[inline]
pub fn float_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<f64> {
    let py = obj.py();
    // SAFETY: plain C API calls on a live object, with the GIL held.
    unsafe {
        let p = obj.as_ptr();
        if ffi::PyFloat_Check(p) != 0 {
            return Ok(ffi::PyFloat_AS_DOUBLE(p));
        }
        if ffi::PyUnicode_Check(p) != 0 || ffi::PyBytes_Check(p) != 0 {
            return Err(wrong_kind(
                py,
                format!("{what} must be float, not {}", type_name(obj)),
            ));
        }
        let v = ffi::PyFloat_AsDouble(p);
        if v == -1.0 {
            if let Some(e) = PyErr::take(py) {
                if e.is_instance_of::<PyTypeError>(py) {
                    return Err(wrong_kind(
                        py,
                        format!("{what} must be float, not {}", type_name(obj)),
                    ));
                }
                return Err(e);
            }
        }
        Ok(v)
    }
}

/// A `str` as its UTF-8 bytes (borrowed from the string's cache). A string
/// with lone surrogates cannot be encoded: UnicodeEncodeError (a ValueError).
#[inline]
pub fn str_arg<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<&'a [u8]> {
    match obj.cast::<PyString>() {
        Ok(s) => Ok(s.to_str()?.as_bytes()),
        Err(_) => Err(wrong_kind(
            obj.py(),
            format!("{what} must be str, not {}", type_name(obj)),
        )),
    }
}

/// `bytes` (borrowed), or any C-contiguous buffer (bytearray, memoryview,
/// array, numpy array: its raw bytes, held open for the call).
#[inline]
pub fn bytes_arg<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<BufIn<'a>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(BufIn::Borrowed(b.as_bytes()));
    }
    let py = obj.py();
    // SAFETY: type check only.
    if unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) } == 0 || obj.is_instance_of::<PyString>() {
        return Err(wrong_kind(
            py,
            format!("{what} must be bytes, not {}", type_name(obj)),
        ));
    }
    let buf = PyUntypedBuffer::get(obj)?;
    if !buf.is_c_contiguous() {
        return Err(PyValueError::new_err(format!(
            "{what}: the buffer is not contiguous"
        )));
    }
    Ok(BufIn::Held(buf))
}

/// Converts a key or value of `kind`.
#[inline]
pub fn arg<'a>(obj: &'a Bound<'_, PyAny>, kind: Kind, what: &str) -> PyResult<Arg<'a>> {
    Ok(match kind {
        Kind::Int => Arg::Int(int_arg(obj, what)?),
        Kind::Float => Arg::Float(float_arg(obj, what)?),
        Kind::Str => Arg::Buf(BufIn::Borrowed(str_arg(obj, what)?)),
        Kind::Bytes => Arg::Buf(bytes_arg(obj, what)?),
    })
}

/// A key: INT keys as i64, STR/BYTES keys as bytes.
pub enum KeyIn<'a> {
    Int(i64),
    Buf(BufIn<'a>),
}

impl KeyIn<'_> {
    /// The key as the C API wrappers take it.
    #[inline]
    pub fn as_key(&self) -> Key<'_> {
        match self {
            KeyIn::Int(i) => Key::Int(*i),
            KeyIn::Buf(b) => Key::Bytes(b.as_slice()),
        }
    }

    /// The bytes of a STR/BYTES key, for the `*_buf` batch calls (empty
    /// for an INT key, which never takes that path).
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match self {
            KeyIn::Buf(b) => b.as_slice(),
            KeyIn::Int(_) => &[],
        }
    }
}

#[inline]
pub fn key_arg<'a>(obj: &'a Bound<'_, PyAny>, kind: Kind) -> PyResult<KeyIn<'a>> {
    Ok(match kind {
        Kind::Int => KeyIn::Int(int_arg(obj, "key")?),
        Kind::Str => KeyIn::Buf(BufIn::Borrowed(str_arg(obj, "key")?)),
        Kind::Bytes => KeyIn::Buf(bytes_arg(obj, "key")?),
        Kind::Float => unreachable!("FLOAT is never a key kind"),
    })
}

/// Stored bytes of a STR or BYTES value (or key) as `str` / `bytes`.
#[inline]
pub fn buf_to_py<'py>(py: Python<'py>, kind: Kind, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    match kind {
        Kind::Str => {
            // SAFETY: the core validated these bytes as UTF-8 when they were stored.
            let p = unsafe {
                ffi::PyUnicode_DecodeUTF8(
                    bytes.as_ptr() as *const _,
                    bytes.len() as ffi::Py_ssize_t,
                    c"strict".as_ptr(),
                )
            };
            // SAFETY: a new reference or NULL with an exception set.
            unsafe { Bound::from_owned_ptr_or_err(py, p) }
        }
        _ => Ok(PyBytes::new(py, bytes).into_any()),
    }
}

#[inline]
pub fn int_to_py(py: Python<'_>, v: i64) -> Bound<'_, PyAny> {
    // SAFETY: PyLong_FromLongLong returns a new reference (NULL only on memory exhaustion).
    unsafe { Bound::from_owned_ptr(py, ffi::PyLong_FromLongLong(v)) }
}

#[inline]
pub fn float_to_py(py: Python<'_>, v: f64) -> Bound<'_, PyAny> {
    PyFloat::new(py, v).into_any()
}

/// One entry's key, as an iterator hands it out.
#[inline]
pub fn entry_key<'py>(py: Python<'py>, kind: Kind, e: &Entry) -> PyResult<Bound<'py, PyAny>> {
    match kind {
        Kind::Int => Ok(int_to_py(py, e.key_int())),
        _ => buf_to_py(py, kind, e.key_bytes()),
    }
}

/// One entry's value.
#[inline]
pub fn entry_value<'py>(py: Python<'py>, kind: Kind, e: &Entry) -> PyResult<Bound<'py, PyAny>> {
    match kind {
        Kind::Int => Ok(int_to_py(py, e.value_int())),
        Kind::Float => Ok(float_to_py(py, e.value_float())),
        _ => buf_to_py(py, kind, e.value_bytes()),
    }
}
