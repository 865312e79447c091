//! Many keys per call: get_many, set_many, remove_many, update.
//!
//! Keys and values are converted (and so checked) first, with the GIL held;
//! then one call into the core does all of them with the GIL released. For
//! int keys given as an int64 buffer (array('q'), a numpy int64 array), the
//! core reads the caller's memory directly: no Python object per key.

use pyo3::buffer::{Element, PyBuffer};
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString};

use crate::capi::{self, Bufs, CoreError, CoreResult, Filled, MapId, Slot, FM_BUFFER_TOO_SMALL};
use crate::convert::*;
use crate::gil::detach;
use crate::handle::MapHandle;

/// A 1-D, C-contiguous buffer of `T` (int64: format q or l; float64: d), if `obj` is one.
fn typed_buffer<T: Element>(obj: &Bound<'_, PyAny>) -> Option<PyBuffer<T>> {
    if obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
        || obj.is_instance_of::<PyString>()
    {
        return None;
    }
    // SAFETY: type check only.
    if unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) } == 0 {
        return None;
    }
    match PyBuffer::<T>::get(obj) {
        Ok(b) if b.dimensions() == 1 && b.is_c_contiguous() => Some(b),
        _ => None,
    }
}

/// The items of a buffer from [`typed_buffer`], read in place.
///
/// Python code on another thread may still write the buffer while the GIL
/// is released (as it could while the core read it through a pointer);
/// such a race gives torn numbers, never invalid values: i64 and f64 have
/// no invalid bit patterns.
fn items<T: Element>(b: &PyBuffer<T>) -> &[T] {
    // SAFETY: C-contiguous (typed_buffer checks) with item_count items of
    // T's size and alignment (PyBuffer::get checks), held open by `b`.
    unsafe { std::slice::from_raw_parts(b.buf_ptr() as *const T, b.item_count()) }
}

/// A new array.array of `n` zeros with the given typecode.
fn new_array<'py>(py: Python<'py>, typecode: &str, n: usize) -> PyResult<Bound<'py, PyAny>> {
    static ARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let array = ARRAY.get_or_try_init(py, || {
        py.import("array")?.getattr("array").map(Bound::unbind)
    })?;
    let zero: Bound<'py, PyAny> = if typecode == "d" {
        0.0f64.into_pyobject(py)?.into_any()
    } else {
        0i64.into_pyobject(py)?.into_any()
    };
    let one = array.bind(py).call1((typecode, PyList::new(py, [zero])?))?;
    one.mul(n)
}

fn objects<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    obj.try_iter()?.collect()
}

fn overlaps<A, B>(a: *const A, an: usize, b: *const B, bn: usize) -> bool {
    let (a0, a1) = (a as usize, a as usize + an * std::mem::size_of::<A>());
    let (b0, b1) = (b as usize, b as usize + bn * std::mem::size_of::<B>());
    a0 < b1 && b0 < a1
}

/// A list of `n` values from a batch get: `to_py(i)` for a found key,
/// `default` for a missing one.
fn value_list<'py>(
    py: Python<'py>,
    found: &[u8],
    default: &Bound<'py, PyAny>,
    to_py: impl Fn(usize) -> Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let value = |(i, &f): (usize, &u8)| if f != 0 { to_py(i) } else { default.clone() };
    let items = found.iter().enumerate().map(value);
    Ok(PyList::new(py, items)?.into_any())
}

pub fn get_many<'py>(
    py: Python<'py>,
    map: &MapHandle,
    h: MapId,
    keys: &Bound<'py, PyAny>,
    default: Option<Bound<'py, PyAny>>,
    out: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    if map.key == Kind::Int {
        if let Some(kb) = typed_buffer::<i64>(keys) {
            if matches!(map.val, Kind::Int | Kind::Float) {
                return get_many_into_array(py, map, h, &kb, default, out);
            }
            let ks = kb.to_vec(py)?;
            return get_many_int_list(py, map, h, &ks, default);
        }
        if out.is_some() {
            return Err(PyTypeError::new_err(
                "out= needs the keys as an int64 buffer (array('q'), numpy int64)",
            ));
        }
        let ks = objects(keys)?
            .iter()
            .map(|k| int_arg(k, "key"))
            .collect::<PyResult<Vec<i64>>>()?;
        return get_many_int_list(py, map, h, &ks, default);
    }
    if out.is_some() {
        return Err(PyTypeError::new_err(
            "out= needs int keys and int or float values",
        ));
    }
    let objs = objects(keys)?;
    let ks = objs
        .iter()
        .map(|k| key_arg(k, map.key))
        .collect::<PyResult<Vec<KeyIn<'_>>>>()?;
    let bufs = Bufs::new(ks.iter().map(KeyIn::bytes));
    let n = bufs.len();
    let default = default.unwrap_or_else(|| py.None().into_bound(py));
    let mut found = vec![0u8; n];
    match map.val {
        Kind::Int => {
            let mut values = vec![0i64; n];
            detach(py, || {
                capi::get_many_buf_i64(h, &bufs, &mut values, &mut found)
            })
            .map_err(|e| map.err(py, e))?;
            value_list(py, &found, &default, |i| int_to_py(py, values[i]))
        }
        Kind::Float => {
            let mut values = vec![0f64; n];
            detach(py, || {
                capi::get_many_buf_f64(h, &bufs, &mut values, &mut found)
            })
            .map_err(|e| map.err(py, e))?;
            value_list(py, &found, &default, |i| float_to_py(py, values[i]))
        }
        _ => get_many_buf_values(py, map, n, default, |buf, slots| {
            capi::get_many_buf_buf(h, &bufs, buf, slots)
        }),
    }
}

/// STR/BYTES values of `n` keys, copied by the core back to back into one
/// buffer (grown and retried when the core says it is too small), then
/// decoded into a list; `default` for missing keys. `call(buf, slots)` is
/// the fm_get_many_*_buf call; it runs detached.
fn get_many_buf_values<'py>(
    py: Python<'py>,
    map: &MapHandle,
    n: usize,
    default: Bound<'py, PyAny>,
    call: impl Fn(&mut [u8], &mut [Slot]) -> CoreResult<Filled>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut slots = vec![Slot::default(); n];
    // A first guess; a retry gets exactly what the core asked for.
    let mut buf = vec![0u8; (n * 32).clamp(256, 1 << 20)];
    let mut tries = 0;
    loop {
        match detach(py, || call(&mut buf, &mut slots)) {
            Ok(Filled::Done) => break,
            // Values may grow between the two calls (other writers): loop until it fits.
            Ok(Filled::TooSmall { needed }) if tries < 100 => {
                tries += 1;
                buf = vec![0u8; needed.max(buf.len() + 1)];
            }
            Ok(Filled::TooSmall { .. }) => {
                return Err(map.err(py, CoreError::from_status(FM_BUFFER_TOO_SMALL)))
            }
            Err(e) => return Err(map.err(py, e)),
        }
    }
    let items = slots.iter().map(|s| match capi::slot_bytes(&buf, s) {
        None => Ok(default.clone()),
        Some(bytes) => buf_to_py(py, map.val, bytes),
    });
    let items = items.collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.into_any())
}

/// INT keys in a Vec: one batch call, a list back.
fn get_many_int_list<'py>(
    py: Python<'py>,
    map: &MapHandle,
    h: MapId,
    ks: &[i64],
    default: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let n = ks.len();
    let default = default.unwrap_or_else(|| py.None().into_bound(py));
    let mut found = vec![0u8; n];
    match map.val {
        Kind::Int => {
            let mut values = vec![0i64; n];
            detach(py, || {
                capi::get_many_i64_i64(h, ks, &mut values, &mut found)
            })
            .map_err(|e| map.err(py, e))?;
            value_list(py, &found, &default, |i| int_to_py(py, values[i]))
        }
        Kind::Float => {
            let mut values = vec![0f64; n];
            detach(py, || {
                capi::get_many_i64_f64(h, ks, &mut values, &mut found)
            })
            .map_err(|e| map.err(py, e))?;
            value_list(py, &found, &default, |i| float_to_py(py, values[i]))
        }
        _ => get_many_buf_values(py, map, n, default, |buf, slots| {
            capi::get_many_i64_buf(h, ks, buf, slots)
        }),
    }
}

/// INT keys in a buffer, INT/FLOAT values into an array: the zero-object path.
fn get_many_into_array<'py>(
    py: Python<'py>,
    map: &MapHandle,
    h: MapId,
    kb: &PyBuffer<i64>,
    default: Option<Bound<'py, PyAny>>,
    out: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let n = kb.item_count();
    let is_float = map.val == Kind::Float;
    let out = match out {
        Some(o) => o,
        None => new_array(py, if is_float { "d" } else { "q" }, n)?,
    };
    let keys = items(kb);
    if is_float {
        let default_of = |d: &Bound<'_, PyAny>| float_arg(d, "default");
        get_many_into(
            py,
            map,
            keys,
            &out,
            "float64",
            default,
            default_of,
            |k, v, f| capi::get_many_i64_f64(h, k, v, f),
        )?;
    } else {
        let default_of = |d: &Bound<'_, PyAny>| int_arg(d, "default");
        get_many_into(
            py,
            map,
            keys,
            &out,
            "int64",
            default,
            default_of,
            |k, v, f| capi::get_many_i64_i64(h, k, v, f),
        )?;
    }
    Ok(out)
}

/// Fills `out` (a writable buffer of `keys.len()` items of `T`) with the
/// values of `keys`: `call(keys, values, found)` runs detached; missing
/// keys then get `default` (converted only if needed) or raise KeyError.
#[allow(clippy::too_many_arguments)]
fn get_many_into<T: Element + Copy>(
    py: Python<'_>,
    map: &MapHandle,
    keys: &[i64],
    out: &Bound<'_, PyAny>,
    name: &str,
    default: Option<Bound<'_, PyAny>>,
    default_of: impl Fn(&Bound<'_, PyAny>) -> PyResult<T>,
    call: impl Fn(&[i64], &mut [T], &mut [u8]) -> CoreResult<usize>,
) -> PyResult<()> {
    let n = keys.len();
    // The output buffer, held open until the end.
    let ob = PyBuffer::<T>::get(out)
        .map_err(|_| PyTypeError::new_err(format!("out must be a {name} buffer")))?;
    if ob.readonly() || !ob.is_c_contiguous() || ob.item_count() != n {
        return Err(PyValueError::new_err(format!(
            "out must be a writable, contiguous buffer of {n} {name}"
        )));
    }
    if n > 0 && overlaps(keys.as_ptr(), n, ob.buf_ptr() as *const T, n) {
        return Err(PyValueError::new_err("out must not overlap keys"));
    }
    // SAFETY: a writable, C-contiguous buffer of n items of T (checked
    // above; PyBuffer::get checks their size and alignment), held open by
    // `ob` while the slice lives, and not overlapping `keys`; as for
    // `items`, other Python threads writing it can only tear numbers.
    let values = unsafe { std::slice::from_raw_parts_mut(ob.buf_ptr() as *mut T, n) };
    let mut found = vec![0u8; n];
    let count = detach(py, || call(keys, &mut *values, &mut found)).map_err(|e| map.err(py, e))?;
    if count < n {
        match default {
            None => {
                let i = found
                    .iter()
                    .position(|&f| f == 0)
                    .expect("a key is missing");
                return Err(PyKeyError::new_err((keys[i],)));
            }
            Some(d) => {
                let d = default_of(&d)?;
                for (v, &f) in values.iter_mut().zip(&found) {
                    if f == 0 {
                        *v = d;
                    }
                }
            }
        }
    }
    Ok(())
}

pub fn set_many(
    py: Python<'_>,
    map: &MapHandle,
    h: MapId,
    keys: &Bound<'_, PyAny>,
    values: &Bound<'_, PyAny>,
) -> PyResult<usize> {
    if map.key == Kind::Int && matches!(map.val, Kind::Int | Kind::Float) {
        if let Some(kb) = typed_buffer::<i64>(keys) {
            let ks = items(&kb);
            let n = ks.len();
            let count_err = |m: usize| PyValueError::new_err(format!("{n} keys but {m} values"));
            let done = if map.val == Kind::Int {
                match typed_buffer::<i64>(values) {
                    Some(vb) if vb.item_count() != n => return Err(count_err(vb.item_count())),
                    Some(vb) => Some(detach(py, || capi::insert_many_i64_i64(h, ks, items(&vb)))),
                    None => None,
                }
            } else {
                match typed_buffer::<f64>(values) {
                    Some(vb) if vb.item_count() != n => return Err(count_err(vb.item_count())),
                    Some(vb) => Some(detach(py, || capi::insert_many_i64_f64(h, ks, items(&vb)))),
                    None => None,
                }
            };
            if let Some(done) = done {
                return done.map_err(|e| map.err(py, e));
            }
        }
    }
    let ks = objects(keys)?;
    let vs = objects(values)?;
    if ks.len() != vs.len() {
        return Err(PyValueError::new_err(format!(
            "{} keys but {} values",
            ks.len(),
            vs.len()
        )));
    }
    insert_pairs(py, map, h, ks.into_iter().zip(vs).collect())
}

/// update()'s argument as pairs: a dict, any mapping (keys() and []), or
/// an iterable of pairs. (A Map is read from one snapshot by map.rs.)
pub fn pairs_of<'py>(
    other: &Bound<'py, PyAny>,
) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let mut pairs = Vec::new();
    if let Ok(d) = other.cast::<PyDict>() {
        pairs.reserve(d.len());
        for (k, v) in d.iter() {
            pairs.push((k, v));
        }
    } else if other.hasattr("keys")? {
        for k in other.call_method0("keys")?.try_iter()? {
            let k = k?;
            let v = other.get_item(&k)?;
            pairs.push((k, v));
        }
    } else {
        for (i, item) in other.try_iter()?.enumerate() {
            let item = item?;
            let pair: Vec<Bound<'py, PyAny>> = match item.try_iter() {
                Ok(it) => it.collect::<PyResult<_>>()?,
                Err(_) => {
                    return Err(PyTypeError::new_err(format!(
                        "cannot convert update sequence element #{i} to a sequence"
                    )))
                }
            };
            let [k, v]: [Bound<'py, PyAny>; 2] = pair.try_into().map_err(|p: Vec<_>| {
                PyValueError::new_err(format!(
                    "update sequence element #{i} has length {}; 2 is required",
                    p.len()
                ))
            })?;
            pairs.push((k, v));
        }
    }
    Ok(pairs)
}

/// Converts every pair (raising on the first bad one, before anything is
/// inserted), then inserts them all in one call with the GIL released.
pub fn insert_pairs(
    py: Python<'_>,
    map: &MapHandle,
    h: MapId,
    pairs: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)>,
) -> PyResult<usize> {
    let n = pairs.len();
    if n == 0 {
        return Ok(0);
    }
    let done = match (map.key, map.val) {
        (Kind::Int, Kind::Int) => {
            let mut ks = Vec::with_capacity(n);
            let mut vs = Vec::with_capacity(n);
            for (k, v) in &pairs {
                ks.push(int_arg(k, "key")?);
                vs.push(int_arg(v, "value")?);
            }
            detach(py, || capi::insert_many_i64_i64(h, &ks, &vs))
        }
        (Kind::Int, Kind::Float) => {
            let mut ks = Vec::with_capacity(n);
            let mut vs = Vec::with_capacity(n);
            for (k, v) in &pairs {
                ks.push(int_arg(k, "key")?);
                vs.push(float_arg(v, "value")?);
            }
            detach(py, || capi::insert_many_i64_f64(h, &ks, &vs))
        }
        _ => {
            let mut converted = Vec::with_capacity(n);
            for (k, v) in &pairs {
                converted.push((key_arg(k, map.key)?, arg(v, map.val, "value")?));
            }
            let entries = converted.iter().map(|(k, v)| (k.as_key(), v.as_value()));
            detach(py, || capi::insert_many(h, entries))
        }
    };
    done.map_err(|e| map.err(py, e))
}

pub fn remove_many(
    py: Python<'_>,
    map: &MapHandle,
    h: MapId,
    keys: &Bound<'_, PyAny>,
) -> PyResult<usize> {
    let done = if map.key == Kind::Int {
        match typed_buffer::<i64>(keys) {
            Some(kb) => detach(py, || capi::remove_many_i64(h, items(&kb))),
            None => {
                let ks = objects(keys)?
                    .iter()
                    .map(|k| int_arg(k, "key"))
                    .collect::<PyResult<Vec<i64>>>()?;
                detach(py, || capi::remove_many_i64(h, &ks))
            }
        }
    } else {
        let objs = objects(keys)?;
        let ks = objs
            .iter()
            .map(|k| key_arg(k, map.key))
            .collect::<PyResult<Vec<KeyIn<'_>>>>()?;
        let bufs = Bufs::new(ks.iter().map(KeyIn::bytes));
        detach(py, || capi::remove_many_buf(h, &bufs))
    };
    done.map_err(|e| map.err(py, e))
}
