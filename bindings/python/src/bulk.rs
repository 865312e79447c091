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

use crate::convert::*;
use crate::gil::{detach, AssertSend};
use crate::iter::Mode;
use crate::map::Map;
use crate::sys::*;

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

pub fn get_many<'py>(
    py: Python<'py>,
    map: &Map,
    h: u64,
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
    let bufs: Vec<fm_buf> = ks
        .iter()
        .map(|k| {
            let (ptr, len) = k.buf();
            fm_buf { ptr, len }
        })
        .collect();
    let n = bufs.len();
    let default = default.unwrap_or_else(|| py.None().into_bound(py));
    let kp = AssertSend(bufs.as_ptr());
    match map.val {
        Kind::Int | Kind::Float => {
            let is_float = map.val == Kind::Float;
            let mut words = vec![0i64; n];
            let mut found = vec![0u8; n];
            let args = AssertSend((words.as_mut_ptr(), found.as_mut_ptr()));
            // SAFETY: arrays of n elements (an f64 has the size and
            // alignment of an i64); key bytes held by `ks`.
            let st = detach(py, move || {
                let (w, f) = args.into_inner();
                let k = kp.into_inner();
                unsafe {
                    if is_float {
                        fm_get_many_buf_f64(h, k, n, w as *mut f64, f, std::ptr::null_mut())
                    } else {
                        fm_get_many_buf_i64(h, k, n, w, f, std::ptr::null_mut())
                    }
                }
            });
            map.check(py, st)?;
            let items = (0..n).map(|i| match (found[i] != 0, is_float) {
                (false, _) => default.clone(),
                (true, false) => int_to_py(py, words[i]),
                (true, true) => float_to_py(py, f64::from_bits(words[i] as u64)),
            });
            Ok(PyList::new(py, items)?.into_any())
        }
        _ => get_many_buf_values(py, map, n, default, |buf, cap, values, needed| {
            let k = kp.0;
            // SAFETY: n keys whose bytes are held by `ks`; the output arrays are the helper's.
            unsafe { fm_get_many_buf_buf(h, k, n, buf, cap, values, needed) }
        }),
    }
}

/// STR/BYTES values of `n` keys, copied by the core back to back into one
/// buffer (grown and retried when the core says it is too small), then
/// decoded into a list; `default` for missing keys. `call(buf, cap,
/// values, needed_out)` is the fm_get_many_*_buf call; it runs detached.
fn get_many_buf_values<'py>(
    py: Python<'py>,
    map: &Map,
    n: usize,
    default: Bound<'py, PyAny>,
    call: impl Fn(*mut u8, usize, *mut fm_buf, *mut usize) -> fm_status,
) -> PyResult<Bound<'py, PyAny>> {
    let mut values = vec![
        fm_buf {
            ptr: std::ptr::null(),
            len: 0
        };
        n
    ];
    // A first guess; a retry gets exactly what the core asked for.
    let mut buf = vec![0u8; (n * 32).clamp(256, 1 << 20)];
    let mut tries = 0;
    loop {
        let mut needed = 0usize;
        let args = AssertSend((
            buf.as_mut_ptr(),
            buf.len(),
            values.as_mut_ptr(),
            &mut needed as *mut usize,
        ));
        let call = &call;
        let st = detach(py, move || {
            let (b, cap, v, nd) = args.into_inner();
            call(b, cap, v, nd)
        });
        match st {
            FM_OK => break,
            // Values may grow between the two calls (other writers): loop until it fits.
            FM_BUFFER_TOO_SMALL if tries < 100 => {
                tries += 1;
                buf = vec![0u8; needed.max(buf.len() + 1)];
            }
            s => return Err(map.err(py, s)),
        }
    }
    let items = values.iter().map(|v| {
        if v.ptr.is_null() {
            Ok(default.clone())
        } else {
            // SAFETY: a found value: `len` bytes inside `buf`, alive here.
            buf_to_py(py, map.val, unsafe { raw_slice(v.ptr, v.len) })
        }
    });
    let items = items.collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.into_any())
}

/// INT keys in a Vec: one batch call for int/float values, a list back.
fn get_many_int_list<'py>(
    py: Python<'py>,
    map: &Map,
    h: u64,
    ks: &[i64],
    default: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let n = ks.len();
    let default = default.unwrap_or_else(|| py.None().into_bound(py));
    let mut found = vec![0u8; n];
    match map.val {
        Kind::Int | Kind::Float => {
            let mut words = vec![0i64; n];
            let is_float = map.val == Kind::Float;
            let args = AssertSend((ks.as_ptr(), words.as_mut_ptr(), found.as_mut_ptr()));
            // SAFETY: arrays of n elements (an f64 has the size and alignment of an i64).
            let st = detach(py, move || {
                let (k, w, f) = args.into_inner();
                unsafe {
                    if is_float {
                        fm_get_many_i64_f64(h, k, n, w as *mut f64, f, std::ptr::null_mut())
                    } else {
                        fm_get_many_i64_i64(h, k, n, w, f, std::ptr::null_mut())
                    }
                }
            });
            map.check(py, st)?;
            let items = (0..n).map(|i| match (found[i] != 0, is_float) {
                (false, _) => default.clone(),
                (true, false) => int_to_py(py, words[i]),
                (true, true) => float_to_py(py, f64::from_bits(words[i] as u64)),
            });
            Ok(PyList::new(py, items)?.into_any())
        }
        _ => {
            let kp = AssertSend(ks.as_ptr());
            get_many_buf_values(py, map, n, default, |buf, cap, values, needed| {
                let k = kp.0;
                // SAFETY: n keys in `ks`; the output arrays are the helper's.
                unsafe { fm_get_many_i64_buf(h, k, n, buf, cap, values, needed) }
            })
        }
    }
}

/// INT keys in a buffer, INT/FLOAT values into an array: the zero-object path.
fn get_many_into_array<'py>(
    py: Python<'py>,
    map: &Map,
    h: u64,
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
    // The output buffer, held open until the end; both element types are 8 bytes.
    let (vp, _held): (*mut i64, Box<dyn std::any::Any>) = if is_float {
        let b = PyBuffer::<f64>::get(&out)
            .map_err(|_| PyTypeError::new_err("out must be a float64 buffer"))?;
        if b.readonly() || !b.is_c_contiguous() || b.item_count() != n {
            return Err(PyValueError::new_err(format!(
                "out must be a writable, contiguous buffer of {n} float64"
            )));
        }
        (b.buf_ptr() as *mut i64, Box::new(b))
    } else {
        let b = PyBuffer::<i64>::get(&out)
            .map_err(|_| PyTypeError::new_err("out must be an int64 buffer"))?;
        if b.readonly() || !b.is_c_contiguous() || b.item_count() != n {
            return Err(PyValueError::new_err(format!(
                "out must be a writable, contiguous buffer of {n} int64"
            )));
        }
        (b.buf_ptr() as *mut i64, Box::new(b))
    };
    let kp = kb.buf_ptr() as *const i64;
    if n > 0 && overlaps(kp, n, vp, n) {
        return Err(PyValueError::new_err("out must not overlap keys"));
    }
    let mut found = vec![0u8; n];
    let mut found_count = 0usize;
    let args = AssertSend((kp, vp, found.as_mut_ptr(), &mut found_count as *mut usize));
    // SAFETY: keys and out are n-element buffers held open (kb, ob_*); found has n bytes.
    let st = detach(py, move || {
        let (k, v, f, c) = args.into_inner();
        unsafe {
            if is_float {
                fm_get_many_i64_f64(h, k, n, v as *mut f64, f, c)
            } else {
                fm_get_many_i64_i64(h, k, n, v, f, c)
            }
        }
    });
    map.check(py, st)?;
    if found_count < n {
        match default {
            None => {
                let i = found
                    .iter()
                    .position(|&f| f == 0)
                    .expect("a key is missing");
                // SAFETY: i < n, keys buffer held open.
                let k = unsafe { kp.add(i).read() };
                return Err(PyKeyError::new_err((k,)));
            }
            Some(d) => {
                let word = if is_float {
                    float_arg(&d, "default")?.to_bits() as i64
                } else {
                    int_arg(&d, "default")?
                };
                for (i, &f) in found.iter().enumerate() {
                    if f == 0 {
                        // SAFETY: i < n, out buffer held open and writable.
                        unsafe { vp.add(i).write(word) };
                    }
                }
            }
        }
    }
    Ok(out)
}

pub fn set_many(
    py: Python<'_>,
    map: &Map,
    h: u64,
    keys: &Bound<'_, PyAny>,
    values: &Bound<'_, PyAny>,
) -> PyResult<usize> {
    if map.key == Kind::Int && matches!(map.val, Kind::Int | Kind::Float) {
        if let Some(kb) = typed_buffer::<i64>(keys) {
            let n = kb.item_count();
            let kp = kb.buf_ptr() as *const i64;
            let mut replaced = 0usize;
            let st = if map.val == Kind::Int {
                if let Some(vb) = typed_buffer::<i64>(values) {
                    if vb.item_count() != n {
                        return Err(PyValueError::new_err(format!(
                            "{n} keys but {} values",
                            vb.item_count()
                        )));
                    }
                    let args =
                        AssertSend((kp, vb.buf_ptr() as *const i64, &mut replaced as *mut usize));
                    // SAFETY: two n-element buffers held open.
                    Some(detach(py, move || {
                        let (k, v, r) = args.into_inner();
                        unsafe { fm_insert_many_i64_i64(h, k, v, n, r) }
                    }))
                } else {
                    None
                }
            } else if let Some(vb) = typed_buffer::<f64>(values) {
                if vb.item_count() != n {
                    return Err(PyValueError::new_err(format!(
                        "{n} keys but {} values",
                        vb.item_count()
                    )));
                }
                let args =
                    AssertSend((kp, vb.buf_ptr() as *const f64, &mut replaced as *mut usize));
                // SAFETY: as above.
                Some(detach(py, move || {
                    let (k, v, r) = args.into_inner();
                    unsafe { fm_insert_many_i64_f64(h, k, v, n, r) }
                }))
            } else {
                None
            };
            if let Some(st) = st {
                map.check(py, st)?;
                return Ok(replaced);
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

/// update()'s argument as pairs: a Map (one snapshot), a dict, any mapping
/// (keys() and []), or an iterable of pairs.
fn pairs_of<'py>(
    py: Python<'py>,
    other: &Bound<'py, PyAny>,
) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let mut pairs = Vec::new();
    if let Ok(m) = other.cast::<Map>() {
        let it = m.get().iterator(py, Mode::Items)?;
        it.drain_into(py, |k, v| {
            pairs.push((k, v));
            Ok(())
        })?;
    } else if let Ok(d) = other.cast::<PyDict>() {
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

pub fn update_from(py: Python<'_>, map: &Map, h: u64, other: &Bound<'_, PyAny>) -> PyResult<usize> {
    let pairs = pairs_of(py, other)?;
    insert_pairs(py, map, h, pairs)
}

/// Converts every pair (raising on the first bad one, before anything is
/// inserted), then inserts them all in one call with the GIL released.
fn insert_pairs(
    py: Python<'_>,
    map: &Map,
    h: u64,
    pairs: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)>,
) -> PyResult<usize> {
    let n = pairs.len();
    if n == 0 {
        return Ok(0);
    }
    let mut replaced = 0usize;
    let st = match (map.key, map.val) {
        (Kind::Int, Kind::Int) => {
            let mut ks = Vec::with_capacity(n);
            let mut vs = Vec::with_capacity(n);
            for (k, v) in &pairs {
                ks.push(int_arg(k, "key")?);
                vs.push(int_arg(v, "value")?);
            }
            let args = AssertSend((ks.as_ptr(), vs.as_ptr(), &mut replaced as *mut usize));
            // SAFETY: two n-element arrays.
            detach(py, move || {
                let (k, v, r) = args.into_inner();
                unsafe { fm_insert_many_i64_i64(h, k, v, n, r) }
            })
        }
        (Kind::Int, Kind::Float) => {
            let mut ks = Vec::with_capacity(n);
            let mut vs = Vec::with_capacity(n);
            for (k, v) in &pairs {
                ks.push(int_arg(k, "key")?);
                vs.push(float_arg(v, "value")?);
            }
            let args = AssertSend((ks.as_ptr(), vs.as_ptr(), &mut replaced as *mut usize));
            // SAFETY: two n-element arrays.
            detach(py, move || {
                let (k, v, r) = args.into_inner();
                unsafe { fm_insert_many_i64_f64(h, k, v, n, r) }
            })
        }
        _ => {
            let mut converted = Vec::with_capacity(n);
            for (k, v) in &pairs {
                converted.push((key_arg(k, map.key)?, arg(v, map.val, "value")?));
            }
            let entries: Vec<fm_entry> = converted
                .iter()
                .map(|(k, v)| {
                    let mut e = fm_entry::ZERO;
                    match k {
                        KeyIn::Int(i) => e.key_int = *i,
                        KeyIn::Buf(_) => (e.key_ptr, e.key_len) = k.buf(),
                    }
                    match v {
                        Arg::Int(i) => e.value_int = *i,
                        Arg::Float(f) => e.value_float = *f,
                        Arg::Buf(b) => {
                            let s = b.as_slice();
                            (e.value_ptr, e.value_len) = (s.as_ptr(), s.len());
                        }
                    }
                    e
                })
                .collect();
            let args = AssertSend((entries.as_ptr(), &mut replaced as *mut usize));
            // SAFETY: n entries whose pointers are held by `converted` / `pairs`.
            detach(py, move || {
                let (e, r) = args.into_inner();
                unsafe { fm_insert_many(h, e, n, r) }
            })
        }
    };
    map.check(py, st)?;
    Ok(replaced)
}

pub fn remove_many(py: Python<'_>, map: &Map, h: u64, keys: &Bound<'_, PyAny>) -> PyResult<usize> {
    let mut removed = 0usize;
    let st = if map.key == Kind::Int {
        let owned;
        let held = typed_buffer::<i64>(keys);
        let (kp, n) = match &held {
            Some(kb) => (kb.buf_ptr() as *const i64, kb.item_count()),
            None => {
                owned = objects(keys)?
                    .iter()
                    .map(|k| int_arg(k, "key"))
                    .collect::<PyResult<Vec<i64>>>()?;
                (owned.as_ptr(), owned.len())
            }
        };
        let args = AssertSend((kp, &mut removed as *mut usize));
        // SAFETY: n keys, held by `held` or `owned`.
        detach(py, move || {
            let (k, r) = args.into_inner();
            unsafe { fm_remove_many_i64(h, k, n, r) }
        })
    } else {
        let objs = objects(keys)?;
        let ks = objs
            .iter()
            .map(|k| key_arg(k, map.key))
            .collect::<PyResult<Vec<KeyIn<'_>>>>()?;
        let bufs: Vec<fm_buf> = ks
            .iter()
            .map(|k| {
                let (ptr, len) = k.buf();
                fm_buf { ptr, len }
            })
            .collect();
        let n = bufs.len();
        let args = AssertSend((bufs.as_ptr(), &mut removed as *mut usize));
        // SAFETY: n fm_bufs whose bytes are held by `ks`.
        detach(py, move || {
            let (k, r) = args.into_inner();
            unsafe { fm_remove_many_buf(h, k, n, r) }
        })
    };
    map.check(py, st)?;
    Ok(removed)
}
