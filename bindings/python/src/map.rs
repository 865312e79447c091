//! `ferrymap.Map`: a handle to a map in the shared core, with the full
//! `collections.abc.MutableMapping` interface (the package registers it).
//!
//! Ownership: a Map made by `Map(...)`, `clone()`, `Map.import_()` or
//! `Map.attach(h, owned=True)` owns its handle and frees it on `close()`,
//! at the end of a `with` block, or when garbage collected. A Map from
//! `Map.attach(h)` borrows: it never frees the handle; whoever created the
//! map (C, Java, Go or another Map) does. `disown()` turns an owning Map
//! into a borrowing one and returns the handle, to hand ownership over.
//!
//! Every method checks the handle first: after `close()` it raises
//! `ClosedError`; a handle freed elsewhere gives `InvalidHandleError` from
//! the core. Nothing here can crash on a bad handle.

use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyInt, PyString, PyTuple, PyType};

use crate::bridge;
use crate::bulk;
use crate::capi::{self, Copied, CoreError, Key, MapId, Value, View, FM_CALLBACK_STOPPED};
use crate::convert::*;
use crate::errors::{core_err, exceptions, wrong_kind};
use crate::gil::{detach, CallbackOf, CallbackRunning};
use crate::handle::MapHandle;
use crate::iter::{MapIter, Mode};
use crate::view::ValueView;

#[pyclass(module = "ferrymap", name = "Map", frozen, mapping, weakref, generic)]
pub struct Map {
    /// The handle, its ownership and schema (handle.rs); `Map` derefs to it.
    h: MapHandle,
}

impl Deref for Map {
    type Target = MapHandle;
    #[inline]
    fn deref(&self) -> &MapHandle {
        &self.h
    }
}

fn key_error(key: &Bound<'_, PyAny>) -> PyErr {
    PyKeyError::new_err((key.clone().unbind(),))
}

fn kind_type(py: Python<'_>, kind: Kind) -> Bound<'_, PyType> {
    match kind {
        Kind::Int => py.get_type::<PyInt>(),
        Kind::Float => py.get_type::<PyFloat>(),
        Kind::Str => py.get_type::<PyString>(),
        Kind::Bytes => py.get_type::<PyBytes>(),
    }
}

/// The pure-Python views in `ferrymap._views` (KeysView & co. with snapshot iteration).
fn view_type<'py>(py: Python<'py>, name: &'static str) -> PyResult<Bound<'py, PyAny>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let m = MODULE.get_or_try_init(py, || py.import("ferrymap._views").map(Bound::unbind))?;
    m.bind(py).getattr(name)
}

/// update_value's callback body: calls the Python function on the value's
/// bytes (capi::UpdateFn) with the GIL re-acquired, under the shard lock.
/// On a bridge map this runs on the owner thread, which has no Python
/// thread state of its own: try_attach makes one for the call, and refuses
/// (instead of hanging or killing the thread) while the interpreter is
/// shutting down; the update then fails, value unchanged.
fn update_callback(
    map: MapId,
    func: &Py<PyAny>,
    kind: Kind,
    bytes: &mut [u8],
    result: &mut Option<Py<PyAny>>,
    err: &mut Option<PyErr>,
) -> bool {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        Python::try_attach(|py| run_update(py, map, func, kind, bytes))
    }));
    match outcome {
        Ok(Some(Ok(new))) => {
            *result = Some(new);
            true
        }
        Ok(Some(Err(e))) => {
            *err = Some(e);
            false
        }
        Ok(None) => false,
        Err(_) => {
            *err = Python::try_attach(|py| match exceptions(py) {
                Ok(e) => PyErr::from_type(
                    e.internal.bind(py).clone(),
                    "panic in the update_value callback",
                ),
                Err(e) => e,
            });
            false
        }
    }
}

/// The 8 bytes of an INT or FLOAT value.
fn word(bytes: &[u8]) -> PyResult<[u8; 8]> {
    bytes.try_into().map_err(|_| {
        PyValueError::new_err(format!(
            "update_value: the core passed {} bytes for a number",
            bytes.len()
        ))
    })
}

/// Calls `func` on the value in `bytes` and writes its result back; the
/// new Python value.
fn run_update(
    py: Python<'_>,
    map: MapId,
    func: &Py<PyAny>,
    kind: Kind,
    bytes: &mut [u8],
) -> PyResult<Py<PyAny>> {
    let _inside = CallbackOf::enter(map.0);
    let func = func.bind(py);
    match kind {
        Kind::Int => {
            let old = i64::from_ne_bytes(word(bytes)?);
            let new = func.call1((old,))?;
            let v = int_arg(&new, "update_value result")?;
            bytes.copy_from_slice(&v.to_ne_bytes());
            Ok(new.unbind())
        }
        Kind::Float => {
            let old = f64::from_ne_bytes(word(bytes)?);
            let new = func.call1((old,))?;
            let v = float_arg(&new, "update_value result")?;
            bytes.copy_from_slice(&v.to_ne_bytes());
            Ok(new.unbind())
        }
        Kind::Str | Kind::Bytes => {
            let old = buf_to_py(py, kind, bytes)?;
            let new = func.call1((old,))?;
            {
                let data = match kind {
                    Kind::Str => BufIn::Borrowed(str_arg(&new, "update_value result")?),
                    _ => bytes_arg(&new, "update_value result")?,
                };
                let data = data.as_slice();
                if data.len() != bytes.len() {
                    return Err(PyValueError::new_err(format!(
                        "update_value cannot change the length of a {} value ({} bytes to {}): \
                         the core updates values in place; assign with m[key] = value instead",
                        kind.name(),
                        bytes.len(),
                        data.len()
                    )));
                }
                bytes.copy_from_slice(data);
            }
            Ok(new.unbind())
        }
    }
}

/// The bytes a compute callback stores for a value: 8 native-endian bytes
/// for numbers, the bytes themselves for STR/BYTES.
fn stored_bytes(v: &Arg<'_>) -> Vec<u8> {
    match v.as_value() {
        Value::Int(i) => i.to_ne_bytes().to_vec(),
        Value::Float(f) => f.to_ne_bytes().to_vec(),
        Value::Bytes(b) => b.to_vec(),
    }
}

/// Calls the Python `func` of `Map.compute` on the current value (or
/// None) and turns its result into the core's decision.
fn run_compute(
    py: Python<'_>,
    map: MapId,
    func: &Py<PyAny>,
    kind: Kind,
    current: Option<&[u8]>,
) -> PyResult<(capi::Compute, Option<Py<PyAny>>)> {
    let _inside = CallbackOf::enter(map.0);
    let old = match current {
        None => py.None().into_bound(py),
        Some(b) => value_from_bytes(py, kind, b)?,
    };
    let new = func.bind(py).call1((old,))?;
    if new.is_none() {
        return Ok((capi::Compute::Remove, None));
    }
    let bytes = stored_bytes(&arg(&new, kind, "compute result")?);
    Ok((capi::Compute::Set(bytes), Some(new.unbind())))
}

/// A value as the core hands it to a compute callback, as a Python object.
fn value_from_bytes<'py>(py: Python<'py>, kind: Kind, b: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    match kind {
        Kind::Int => Ok(int_to_py(py, i64::from_ne_bytes(word(b)?))),
        Kind::Float => Ok(float_to_py(py, f64::from_ne_bytes(word(b)?))),
        Kind::Str | Kind::Bytes => buf_to_py(py, kind, b),
    }
}

impl Map {
    /// Runs a compute whose callback is library code (no Python): one
    /// atomic step on the key. Returns whether the key is present after.
    fn compute_raw(
        &self,
        py: Python<'_>,
        h: MapId,
        key: &KeyIn<'_>,
        f: &mut capi::ComputeFn<'_>,
    ) -> PyResult<bool> {
        let k = match key.as_key() {
            Key::Int(k) => Ok(k),
            Key::Bytes(b) => Err(b),
        };
        self.blocking(py, || capi::compute(h, k, f))
            .map_err(|e| self.err(py, e))
    }

    /// The value of `key` if present (copied out), else inserts `value`
    /// (converted only then): one atomic step. Returns (found, inserted).
    fn get_or_insert_bytes(
        &self,
        py: Python<'_>,
        h: MapId,
        key: &KeyIn<'_>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<(Option<Vec<u8>>, bool)> {
        let converted = arg(value, self.val, "value").map(|a| stored_bytes(&a));
        let mut new = converted.as_ref().ok().cloned();
        let (mut found, mut inserted) = (None, false);
        self.compute_raw(py, h, key, &mut |cur| match (cur, new.take()) {
            (Some(c), _) => {
                found = Some(c.to_vec());
                capi::Compute::Keep
            }
            (None, Some(v)) => {
                inserted = true;
                capi::Compute::Set(v)
            }
            (None, None) => capi::Compute::Keep,
        })?;
        match converted {
            Err(e) if found.is_none() => Err(e),
            _ => Ok((found, inserted)),
        }
    }

    pub fn from_handle(handle: MapId, key: Kind, val: Kind, owned: bool, bridge: bool) -> Map {
        Map {
            h: MapHandle::new(handle, key, val, owned, bridge),
        }
    }

    /// Looks a converted key up; None if absent.
    pub fn lookup<'py>(
        &self,
        py: Python<'py>,
        h: MapId,
        key: &KeyIn<'_>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let found = match (key.as_key(), self.val) {
            (Key::Int(k), Kind::Int) => self
                .call(py, || capi::get_i64_i64(h, k))
                .map(|v| v.map(|v| int_to_py(py, v))),
            (Key::Int(k), Kind::Float) => self
                .call(py, || capi::get_i64_f64(h, k))
                .map(|v| v.map(|v| float_to_py(py, v))),
            (Key::Bytes(k), Kind::Int) => self
                .call(py, || capi::get_buf_i64(h, k))
                .map(|v| v.map(|v| int_to_py(py, v))),
            (Key::Bytes(k), Kind::Float) => self
                .call(py, || capi::get_buf_f64(h, k))
                .map(|v| v.map(|v| float_to_py(py, v))),
            (_, Kind::Str | Kind::Bytes) => return self.lookup_buf(py, h, key),
        };
        found.map_err(|e| self.err(py, e))
    }

    /// A STR/BYTES value: copied through a stack buffer when small, else
    /// straight from a view of the stored bytes (one copy either way).
    fn lookup_buf<'py>(
        &self,
        py: Python<'py>,
        h: MapId,
        key: &KeyIn<'_>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut stack = [0u8; 256];
        let copied = self
            .call(py, || match key.as_key() {
                Key::Int(k) => capi::get_i64_buf(h, k, &mut stack),
                Key::Bytes(k) => capi::get_buf_buf(h, k, &mut stack),
            })
            .map_err(|e| self.err(py, e))?;
        match copied {
            Copied::Len(len) => Ok(Some(buf_to_py(py, self.val, &stack[..len])?)),
            Copied::Absent => Ok(None),
            // Released when `view` is dropped, after the copy.
            Copied::TooSmall => match self.open_view(py, h, key)? {
                None => Ok(None),
                Some(view) => buf_to_py(py, self.val, view.bytes()).map(Some),
            },
        }
    }

    /// Opens a core view of a STR/BYTES value; None if the key is absent.
    pub fn open_view(&self, py: Python<'_>, h: MapId, key: &KeyIn<'_>) -> PyResult<Option<View>> {
        if !self.val.is_buf() {
            return Err(wrong_kind(
                py,
                format!(
                    "view needs str or bytes values; this map's are {}",
                    self.val.name()
                ),
            ));
        }
        self.call(py, || match key.as_key() {
            Key::Int(k) => capi::view_i64(h, k),
            Key::Bytes(k) => capi::view_buf(h, k),
        })
        .map_err(|e| self.err(py, e))
    }

    /// Inserts or overwrites; returns whether a value was replaced.
    pub fn insert(
        &self,
        py: Python<'_>,
        h: MapId,
        key: &KeyIn<'_>,
        val: &Arg<'_>,
    ) -> PyResult<bool> {
        self.blocking(py, || match (key.as_key(), val.as_value()) {
            (Key::Int(k), Value::Int(v)) => capi::insert_i64_i64(h, k, v),
            (Key::Int(k), Value::Float(v)) => capi::insert_i64_f64(h, k, v),
            (Key::Int(k), Value::Bytes(v)) => capi::insert_i64_buf(h, k, v),
            (Key::Bytes(k), Value::Int(v)) => capi::insert_buf_i64(h, k, v),
            (Key::Bytes(k), Value::Float(v)) => capi::insert_buf_f64(h, k, v),
            (Key::Bytes(k), Value::Bytes(v)) => capi::insert_buf_buf(h, k, v),
        })
        .map_err(|e| self.err(py, e))
    }

    pub fn remove(&self, py: Python<'_>, h: MapId, key: &KeyIn<'_>) -> PyResult<bool> {
        self.blocking(py, || match key.as_key() {
            Key::Int(k) => capi::remove_i64(h, k),
            Key::Bytes(k) => capi::remove_buf(h, k),
        })
        .map_err(|e| self.err(py, e))
    }

    pub fn contains_key(&self, py: Python<'_>, h: MapId, key: &KeyIn<'_>) -> PyResult<bool> {
        self.call(py, || match key.as_key() {
            Key::Int(k) => capi::contains_i64(h, k),
            Key::Bytes(k) => capi::contains_buf(h, k),
        })
        .map_err(|e| self.err(py, e))
    }

    pub fn len_of(&self, py: Python<'_>) -> PyResult<usize> {
        self.len(py)
    }

    /// Inserts the pairs of `other` (see `update`) in one call; how many
    /// keys already existed. A Map is read from one snapshot.
    fn update_from(&self, py: Python<'_>, h: MapId, other: &Bound<'_, PyAny>) -> PyResult<usize> {
        let pairs = if let Ok(m) = other.cast::<Map>() {
            let mut pairs = Vec::new();
            m.get().iterator(py, Mode::Items)?.drain_into(py, |k, v| {
                pairs.push((k, v));
                Ok(())
            })?;
            pairs
        } else {
            bulk::pairs_of(other)?
        };
        bulk::insert_pairs(py, self, h, pairs)
    }

    /// The whole map as a dict, from one snapshot.
    pub fn snapshot_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let it = self.iterator(py, Mode::Items)?;
        let d = PyDict::new(py);
        it.drain_into(py, |k, v| d.set_item(k, v))?;
        Ok(d)
    }

    fn schema_repr(&self) -> String {
        format!("key={}, value={}", self.key.name(), self.val.name())
    }
}

#[pymethods]
impl Map {
    /// Map(key, value, data=None, *, capacity=0)
    ///
    /// A new, empty map in the shared core with the given key kind (int,
    /// str or bytes) and value kind (int, float, str or bytes), given as
    /// the types or their names. `data` (a mapping or pairs) is inserted.
    #[new]
    #[pyo3(signature = (key, value, data = None, *, capacity = 0))]
    fn py_new(
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        data: Option<&Bound<'_, PyAny>>,
        capacity: usize,
    ) -> PyResult<Map> {
        let k = Kind::from_py(key, "key")?;
        let v = Kind::from_py(value, "value")?;
        let h = capi::map_new(k as u32, v as u32, capacity).map_err(|e| core_err(py, e))?;
        let map = Map::from_handle(h, k, v, true, false);
        if let Some(data) = data {
            // On failure `map` is dropped, which frees the handle.
            map.update_from(py, h, data)?;
        }
        Ok(map)
    }

    /// Map.attach(handle, owned=False) -> Map
    ///
    /// A Map for an existing handle made anywhere in the process (C, Java,
    /// Go, another Map). By default it borrows: closing it (or garbage
    /// collection) never frees the map; its creator does. With owned=True
    /// it takes ownership and frees the map on close.
    #[classmethod]
    #[pyo3(signature = (handle, owned = false))]
    fn attach(_cls: &Bound<'_, PyType>, py: Python<'_>, handle: u64, owned: bool) -> PyResult<Map> {
        Ok(Map {
            h: MapHandle::attach(py, MapId(handle), owned)?,
        })
    }

    /// Map.bridge(key, value, data=None, *, capacity=0, queue=1024) -> Map
    ///
    /// A new bridge map (DESIGN §7): a map whose every operation runs on
    /// its own owner thread, fed by a bounded queue of `queue` requests.
    /// It is an ordinary Map (every method works, from every language);
    /// what it adds: one total order of mutations, each numbered (`seq`,
    /// `ferrymap.last_seq()`), asynchronous `submit`/`asubmit` with
    /// tickets, and a change feed (`subscribe`). Every call on it releases
    /// the GIL while the owner thread works. close() drains: requests
    /// accepted before are answered, later ones raise BridgeClosedError.
    #[classmethod]
    #[pyo3(signature = (key, value, data = None, *, capacity = 0, queue = 1024))]
    fn bridge(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        data: Option<&Bound<'_, PyAny>>,
        capacity: usize,
        queue: usize,
    ) -> PyResult<Map> {
        let k = Kind::from_py(key, "key")?;
        let v = Kind::from_py(value, "value")?;
        // Starts the owner thread.
        let h = detach(py, || capi::bridge_new(k as u32, v as u32, capacity, queue))
            .map_err(|e| core_err(py, e))?;
        let map = Map::from_handle(h, k, v, true, true);
        if let Some(data) = data {
            map.update_from(py, h, data)?;
        }
        Ok(map)
    }

    /// Whether this is a bridge map (Map.bridge, or C's fm_bridge_new).
    #[getter]
    fn is_bridge(&self) -> bool {
        self.bridge
    }

    /// The sequence number of the last mutation committed on this bridge
    /// map (0 before the first). WrongKindError on a direct map.
    #[getter]
    fn seq(&self, py: Python<'_>) -> PyResult<u64> {
        let h = self.live(py)?;
        // An atomic read: never waits.
        capi::bridge_seq(h).map_err(|e| self.err(py, e))
    }

    /// Whether the bridge's owner thread caught a panic (the bridge then
    /// answers every request with BridgeFailedError; close() still works).
    /// WrongKindError on a direct map.
    #[getter]
    fn failed(&self, py: Python<'_>) -> PyResult<bool> {
        let h = self.live(py)?;
        // An atomic read: never waits.
        capi::bridge_status(h).map_err(|e| self.err(py, e))
    }

    /// submit(requests, timeout=None) -> Ticket
    ///
    /// Queues a batch of requests that the owner thread runs in order, and
    /// returns at once with a Ticket for the results. Each request is a
    /// tuple (or ferrymap.Request): ("insert", k, v), ("remove", k),
    /// ("add", k, delta), ("get", k), ("contains", k), ("len",),
    /// ("clear",). Everything is converted and checked first: a bad
    /// request raises and queues nothing. If the queue is full, waits up to
    /// `timeout` seconds for room (None: as long as it takes), then raises
    /// FerryTimeoutError having queued nothing. Bridge maps only.
    #[pyo3(signature = (requests, timeout = None))]
    fn submit(
        &self,
        py: Python<'_>,
        requests: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<bridge::Ticket> {
        let h = self.live(py)?;
        bridge::submit(
            py,
            self,
            h,
            requests,
            bridge::Deadline::from_timeout(timeout)?,
        )
    }

    /// try_submit(requests) -> Ticket: as submit(), but raises
    /// QueueFullError at once (queuing nothing) when the queue is full.
    fn try_submit(&self, py: Python<'_>, requests: &Bound<'_, PyAny>) -> PyResult<bridge::Ticket> {
        let h = self.live(py)?;
        bridge::submit(py, self, h, requests, bridge::Deadline::Now)
    }

    /// asubmit(requests, timeout=None): a coroutine for asyncio that
    /// submits the batch and returns its list of Results, without blocking
    /// the event loop (see README, "Bridge mode").
    #[pyo3(signature = (requests, timeout = None))]
    fn asubmit<'py>(
        slf: &Bound<'py, Self>,
        requests: &Bound<'py, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        bridge::helper(slf.py(), "asubmit")?.call1((slf, requests, timeout))
    }

    /// aget(key, default=None): a coroutine: the value of key (through the
    /// owner thread, as one submitted request), or default if absent.
    #[pyo3(signature = (key, default = None))]
    fn aget<'py>(
        slf: &Bound<'py, Self>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        bridge::helper(slf.py(), "aget")?.call1((slf, key, default))
    }

    /// aset(key, value): a coroutine: inserts (as one submitted request)
    /// and returns the mutation's sequence number.
    fn aset<'py>(
        slf: &Bound<'py, Self>,
        key: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        bridge::helper(slf.py(), "aset")?.call1((slf, key, value))
    }

    /// subscribe(bound=65536) -> Subscription: from now on, every committed
    /// mutation of this bridge map is queued for the subscription in commit
    /// order, up to `bound` events; past that the oldest are dropped and
    /// the next event delivered says how many were lost (Event.lost).
    #[pyo3(signature = (bound = 65536))]
    fn subscribe(&self, py: Python<'_>, bound: usize) -> PyResult<bridge::Subscription> {
        let h = self.live(py)?;
        bridge::subscribe(py, self, h, bound)
    }

    /// Map.import_(data) -> Map: a new map from `export()` bytes (any
    /// bytes-like object). Corrupt data raises CorruptDataError (a
    /// ValueError) and creates nothing.
    #[classmethod]
    fn import_(_cls: &Bound<'_, PyType>, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Map> {
        let buf = bytes_arg(data, "data")?;
        let data = buf.as_slice();
        let h = detach(py, || capi::import(data)).map_err(|e| core_err(py, e))?;
        Ok(Map {
            h: MapHandle::adopt(py, h)?,
        })
    }

    /// The map's handle (an int), valid in every language in this process.
    #[getter]
    fn handle(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.live(py)?.0)
    }

    /// The key kind: int, str or bytes.
    #[getter]
    fn key_kind<'py>(&self, py: Python<'py>) -> Bound<'py, PyType> {
        kind_type(py, self.key)
    }

    /// The value kind: int, float, str or bytes.
    #[getter]
    fn value_kind<'py>(&self, py: Python<'py>) -> Bound<'py, PyType> {
        kind_type(py, self.val)
    }

    /// Whether close() was called.
    #[getter]
    fn closed(&self) -> bool {
        self.peek() == 0
    }

    /// Whether this object frees the map on close().
    #[getter]
    fn owned(&self) -> bool {
        self.is_owned()
    }

    /// Gives up ownership and returns the handle: the map is no longer
    /// freed by this object (which keeps working, as a borrower); whoever
    /// takes the handle must free it (C: fm_map_free).
    fn disown(&self, py: Python<'_>) -> PyResult<u64> {
        self.h.disown(py)
    }

    /// Frees the map if this object owns it, and makes the object unusable
    /// (ClosedError). Closing twice is harmless. A borrowed map is not freed.
    ///
    /// A bridge map drains first: requests accepted before the close run
    /// and are answered (this call waits for them, GIL released), later
    /// ones raise BridgeClosedError (or ClosedError), the owner thread exits,
    /// subscriptions end after their last event. Closing a bridge map from
    /// its own owner thread (an update_value callback) raises ReentrantError
    /// and leaves it open.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.h.close(py)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.len_of(py)
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let h = self.live(py)?;
        if self.key == Kind::Int && self.val == Kind::Int {
            // The hot path: no allocation, no GIL release (the call is ~10 ns).
            let k = int_arg(key, "key")?;
            return match self.call(py, || capi::get_i64_i64(h, k)) {
                Ok(Some(v)) => Ok(int_to_py(py, v)),
                Ok(None) => Err(key_error(key)),
                Err(e) => Err(self.err(py, e)),
            };
        }
        let k = key_arg(key, self.key)?;
        self.lookup(py, h, &k)?.ok_or_else(|| key_error(key))
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let h = self.live(py)?;
        let k = key_arg(key, self.key)?;
        let v = arg(value, self.val, "value")?;
        self.insert(py, h, &k, &v)?;
        Ok(())
    }

    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let h = self.live(py)?;
        let k = key_arg(key, self.key)?;
        if self.remove(py, h, &k)? {
            Ok(())
        } else {
            Err(key_error(key))
        }
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let h = self.live(py)?;
        let k = key_arg(key, self.key)?;
        self.contains_key(py, h, &k)
    }

    /// Iterates the keys of a snapshot taken now (DESIGN §6): writes made
    /// meanwhile, by any thread or language, are not seen and never break
    /// the iteration.
    fn __iter__(&self, py: Python<'_>) -> PyResult<MapIter> {
        self.iterator(py, Mode::Keys)
    }

    /// Snapshot iterator over the values (used by values()).
    fn _iter_values(&self, py: Python<'_>) -> PyResult<MapIter> {
        self.iterator(py, Mode::Values)
    }

    /// Snapshot iterator over (key, value) pairs (used by items()).
    fn _iter_items(&self, py: Python<'_>) -> PyResult<MapIter> {
        self.iterator(py, Mode::Items)
    }

    /// A set-like view of the keys; iterating it iterates a snapshot.
    fn keys<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        view_type(slf.py(), "KeysView")?.call1((slf,))
    }

    /// A view of the values; iterating it iterates a snapshot.
    fn values<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        view_type(slf.py(), "ValuesView")?.call1((slf,))
    }

    /// A set-like view of the (key, value) pairs; iterating it iterates a snapshot.
    fn items<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        view_type(slf.py(), "ItemsView")?.call1((slf,))
    }

    /// The value for key, or default (None) if absent.
    #[pyo3(signature = (key, default = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let h = self.live(py)?;
        let k = key_arg(key, self.key)?;
        Ok(match self.lookup(py, h, &k)? {
            Some(v) => v,
            None => default.unwrap_or_else(|| py.None().into_bound(py)),
        })
    }

    /// pop(key[, default]): removes key and returns its value; if absent,
    /// returns default if given, else raises KeyError. One atomic step: the
    /// value returned is the one removed.
    #[pyo3(signature = (key, *default))]
    fn pop<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if default.len() > 1 {
            return Err(PyTypeError::new_err(format!(
                "pop expected at most 2 arguments, got {}",
                default.len() + 1
            )));
        }
        let h = self.live(py)?;
        let k = key_arg(key, self.key)?;
        let mut taken = None;
        self.compute_raw(py, h, &k, &mut |cur| {
            taken = cur.map(<[u8]>::to_vec);
            capi::Compute::Remove
        })?;
        if let Some(b) = taken {
            return value_from_bytes(py, self.val, &b);
        }
        match default.len() {
            0 => Err(key_error(key)),
            _ => default.get_item(0),
        }
    }

    /// Removes and returns some (key, value) pair; KeyError if empty. The
    /// value returned is the one removed (one atomic step on that key).
    fn popitem<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loop {
            let it = self.iterator(py, Mode::Keys)?;
            let Some(key) = it.next_item(py)? else {
                return Err(PyKeyError::new_err("popitem(): map is empty"));
            };
            it.close_now();
            let h = self.live(py)?;
            let k = key_arg(&key, self.key)?;
            let mut taken = None;
            self.compute_raw(py, h, &k, &mut |cur| {
                taken = cur.map(<[u8]>::to_vec);
                capi::Compute::Remove
            })?;
            if let Some(b) = taken {
                let value = value_from_bytes(py, self.val, &b)?;
                return Ok(PyTuple::new(py, [key, value])?.into_any());
            }
            // Someone else removed it first: try again.
        }
    }

    /// The value for key; if absent, inserts default and returns it. One
    /// atomic step: a value another thread (or language) inserts meanwhile
    /// is returned, never overwritten. A default that is not a value of the
    /// map's kind (None included) raises only when it would be inserted.
    #[pyo3(signature = (key, default = None))]
    fn setdefault<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let h = self.live(py)?;
        let k = key_arg(key, self.key)?;
        let default = default.unwrap_or_else(|| py.None().into_bound(py));
        let (value, inserted) = self.get_or_insert_bytes(py, h, &k, &default)?;
        match value {
            Some(b) if !inserted => value_from_bytes(py, self.val, &b),
            _ => Ok(default),
        }
    }

    /// get_or_insert(key, value) -> (value, inserted): the value of key if
    /// present (inserted False), else inserts value (inserted True). One
    /// atomic step.
    fn get_or_insert<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, bool)> {
        let h = self.live(py)?;
        let k = key_arg(key, self.key)?;
        let (found, inserted) = self.get_or_insert_bytes(py, h, &k, value)?;
        match found {
            Some(b) if !inserted => Ok((value_from_bytes(py, self.val, &b)?, false)),
            _ => Ok((value.clone(), true)),
        }
    }

    /// swap(key, value) -> previous value, or None if key was absent:
    /// stores value and returns what it replaced, in one atomic step.
    fn swap<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let h = self.live(py)?;
        let k = key_arg(key, self.key)?;
        let new = stored_bytes(&arg(value, self.val, "value")?);
        let mut previous = None;
        let mut new = Some(new);
        self.compute_raw(py, h, &k, &mut |cur| {
            previous = cur.map(<[u8]>::to_vec);
            new.take().map_or(capi::Compute::Keep, capi::Compute::Set)
        })?;
        match previous {
            Some(b) => value_from_bytes(py, self.val, &b),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// compare_and_swap(key, expected, value) -> bool: stores value only if
    /// key's value equals expected (floats compare by their bits, so nan
    /// matches the same nan and 0.0 is not -0.0), in one atomic step.
    /// KeyError if key is absent.
    fn compare_and_swap(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        expected: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let h = self.live(py)?;
        let k = key_arg(key, self.key)?;
        let expected = stored_bytes(&arg(expected, self.val, "expected")?);
        let mut new = Some(stored_bytes(&arg(value, self.val, "value")?));
        let (mut present, mut swapped) = (false, false);
        self.compute_raw(py, h, &k, &mut |cur| {
            present = cur.is_some();
            match (cur == Some(&expected[..]), new.take()) {
                (true, Some(v)) => {
                    swapped = true;
                    capi::Compute::Set(v)
                }
                _ => capi::Compute::Keep,
            }
        })?;
        if !present {
            return Err(key_error(key));
        }
        Ok(swapped)
    }

    /// compute(key, fn) -> the new value, or None: calls fn(current value,
    /// or None if absent) while no other write to the key can happen, and
    /// stores what it returns; returning None removes the key (or leaves
    /// it absent). An exception from fn changes nothing and propagates.
    /// fn runs on this thread (a bridge map's owner thread for a bridge
    /// map) and must not use this map.
    fn compute<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        func: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !func.is_callable() {
            return Err(PyTypeError::new_err("compute needs a callable"));
        }
        let h = self.live(py)?;
        let k = key_arg(key, self.key)?;
        let (func, kind) = (func.clone().unbind(), self.val);
        let (mut result, mut err) = (None::<Py<PyAny>>, None::<PyErr>);
        let mut callback = |cur: Option<&[u8]>| {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                Python::try_attach(|py| run_compute(py, h, &func, kind, cur))
            }));
            match outcome {
                Ok(Some(Ok((decision, new)))) => {
                    result = new;
                    decision
                }
                Ok(Some(Err(e))) => {
                    err = Some(e);
                    capi::Compute::Stop
                }
                _ => capi::Compute::Stop,
            }
        };
        let outcome = {
            // As update_value: the wait for the shard lock happens detached,
            // and the callback re-attaches (see gil.rs).
            let _running = CallbackRunning::enter(py);
            detach(py, || {
                let k = match k.as_key() {
                    Key::Int(k) => Ok(k),
                    Key::Bytes(b) => Err(b),
                };
                capi::compute(h, k, &mut callback)
            })
        };
        if let Some(e) = err {
            return Err(e);
        }
        outcome.map_err(|e| self.err(py, e))?;
        Ok(result
            .map(|r| r.into_bound(py))
            .unwrap_or_else(|| py.None().into_bound(py)))
    }

    /// update([other], **kwargs): inserts every pair of a mapping (a Map is
    /// read from one snapshot), of an iterable of pairs, and of kwargs, in
    /// one call to the core. Every key and value is checked first: a bad
    /// one raises and inserts nothing.
    #[pyo3(signature = (other = None, /, **kwargs))]
    fn update(
        &self,
        py: Python<'_>,
        other: Option<&Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let h = self.live(py)?;
        if let Some(other) = other {
            self.update_from(py, h, other)?;
        }
        if let Some(kwargs) = kwargs {
            self.update_from(py, h, kwargs.as_any())?;
        }
        Ok(())
    }

    /// Removes every entry, at one instant.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        let h = self.live(py)?;
        self.blocking(py, || capi::map_clear(h))
            .map_err(|e| self.err(py, e))
    }

    /// Makes room for `additional` more entries.
    fn reserve(&self, py: Python<'_>, additional: usize) -> PyResult<()> {
        let h = self.live(py)?;
        detach(py, || capi::map_reserve(h, additional)).map_err(|e| self.err(py, e))
    }

    /// A new, independent map with the same contents (O(shards):
    /// copy-on-write). The new Map owns its handle.
    fn clone(&self, py: Python<'_>) -> PyResult<Map> {
        let h = self.live(py)?;
        let c = detach(py, || capi::map_clone(h)).map_err(|e| self.err(py, e))?;
        // A clone is a direct map, whatever this one is.
        Ok(Map::from_handle(c, self.key, self.val, true, false))
    }

    /// Same as clone().
    fn copy(&self, py: Python<'_>) -> PyResult<Map> {
        self.clone(py)
    }

    fn __copy__(&self, py: Python<'_>) -> PyResult<Map> {
        self.clone(py)
    }

    /// A dict of the whole map, from one snapshot (dict(m) reads key by key
    /// and may race with writers; this does not).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.snapshot_dict(py)
    }

    /// add(key, delta): adds delta to the int or float value of key in one
    /// atomic step (an absent key starts at 0) and returns the new value.
    /// IntegerOverflowError (an OverflowError) leaves the value unchanged.
    fn add<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        delta: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let h = self.live(py)?;
        let k = key_arg(key, self.key)?;
        match self.val {
            Kind::Int => {
                let d = int_arg(delta, "delta")?;
                let new = self
                    .blocking(py, || match k.as_key() {
                        Key::Int(k) => capi::add_i64_i64(h, k, d),
                        Key::Bytes(k) => capi::add_buf_i64(h, k, d),
                    })
                    .map_err(|e| self.err(py, e))?;
                Ok(int_to_py(py, new))
            }
            Kind::Float => {
                let d = float_arg(delta, "delta")?;
                let new = self
                    .blocking(py, || match k.as_key() {
                        Key::Int(k) => capi::add_i64_f64(h, k, d),
                        Key::Bytes(k) => capi::add_buf_f64(h, k, d),
                    })
                    .map_err(|e| self.err(py, e))?;
                Ok(float_to_py(py, new))
            }
            other => Err(wrong_kind(
                py,
                format!(
                    "add needs int or float values; this map's are {}",
                    other.name()
                ),
            )),
        }
    }

    /// update_value(key, fn): stores fn(old value) as the new value in one
    /// atomic step; fn runs while the key's shard is locked (other writers
    /// to it wait, readers do not), so keep it short. Returns the new
    /// value. KeyError if the key is absent (fn is not called). If fn
    /// raises, the value is left unchanged and the exception propagates.
    /// fn calling into the same map raises ReentrantError inside fn. For
    /// str and bytes values the new value must have the same encoded
    /// length (the core updates in place); otherwise ValueError.
    fn update_value<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        func: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !func.is_callable() {
            return Err(PyTypeError::new_err("update_value needs a callable"));
        }
        let h = self.live(py)?;
        let k = key_arg(key, self.key)?;
        let (func, kind) = (func.clone().unbind(), self.val);
        let (mut result, mut err) = (None, None);
        let mut callback =
            |bytes: &mut [u8]| update_callback(h, &func, kind, bytes, &mut result, &mut err);
        let updated = {
            // Other Python threads must not wait for this shard's lock while
            // holding the GIL the callback needs (see gil.rs). On a bridge
            // map fn runs on the owner thread; this thread waits detached.
            let _running = CallbackRunning::enter(py);
            // The wait for the shard lock happens detached; the callback re-attaches.
            detach(py, || match k.as_key() {
                Key::Int(k) => capi::update_i64(h, k, &mut callback),
                Key::Bytes(k) => capi::update_buf(h, k, &mut callback),
            })
        };
        match updated {
            Ok(Some(true)) => Ok(result
                .take()
                .map(|r| r.into_bound(py))
                .unwrap_or_else(|| py.None().into_bound(py))),
            Ok(None) => Err(key_error(key)),
            Ok(Some(false)) => Err(err
                .take()
                .unwrap_or_else(|| core_err(py, CoreError::from_status(FM_CALLBACK_STOPPED)))),
            Err(e) => Err(self.err(py, e)),
        }
    }

    /// get_many(keys, default=None, *, out=None): the values of many keys in
    /// one call to the core, with the GIL released.
    ///
    /// `keys` is a sequence (list, tuple, iterable) or, for int keys, a
    /// buffer of int64 (array('q'), numpy int64 array) read in place.
    /// - keys given as a buffer, map values int or float: returns an
    ///   array('q') / array('d') (wrap it with numpy.frombuffer, no copy),
    ///   or fills `out` (a writable int64/float64 buffer of the same
    ///   length) and returns it. No Python object per key. Missing keys get
    ///   `default`, which must then be a number; with default=None a
    ///   missing key raises KeyError.
    /// - otherwise: returns a list, with `default` for missing keys.
    #[pyo3(signature = (keys, default = None, *, out = None))]
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
        out: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let h = self.live(py)?;
        bulk::get_many(py, self, h, keys, default, out)
    }

    /// set_many(keys, values=None) -> int: inserts keys[i] -> values[i] (or,
    /// with values omitted, the pairs of a mapping or iterable) in one call
    /// to the core, GIL released. For int keys with int/float values,
    /// buffers (array('q'), array('d'), numpy arrays) are read in place.
    /// Everything is checked first: a bad key or value raises and inserts
    /// nothing. Returns how many keys already existed (were overwritten).
    #[pyo3(signature = (keys, values = None))]
    fn set_many(
        &self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        values: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let h = self.live(py)?;
        match values {
            Some(values) => bulk::set_many(py, self, h, keys, values),
            None => self.update_from(py, h, keys),
        }
    }

    /// remove_many(keys) -> int: removes many keys (a sequence, or an int64
    /// buffer for int keys) in one call; returns how many were present.
    fn remove_many(&self, py: Python<'_>, keys: &Bound<'_, PyAny>) -> PyResult<usize> {
        let h = self.live(py)?;
        bulk::remove_many(py, self, h, keys)
    }

    /// view(key) -> memoryview: a read-only, zero-copy memoryview of the
    /// stored bytes of a str/bytes value (UTF-8 for str). The bytes stay
    /// valid and unchanged until the memoryview is released (release(), a
    /// with block, or garbage collection), even if the key is overwritten
    /// or removed or the map closed. KeyError if absent.
    fn view<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let h = self.live(py)?;
        let k = key_arg(key, self.key)?;
        match self.open_view(py, h, &k)? {
            None => Err(key_error(key)),
            Some(view) => {
                let owner = Bound::new(py, ValueView::new(view))?;
                ValueView::memoryview(&owner)
            }
        }
    }

    /// Figures about the map: len, capacity, memory_bytes, load_factor,
    /// open_iterators, open_views, writes.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = self.live(py)?;
        let s = self
            .call(py, || capi::map_stats(h))
            .map_err(|e| self.err(py, e))?;
        let d = PyDict::new(py);
        d.set_item("len", s.len)?;
        d.set_item("capacity", s.capacity)?;
        d.set_item("memory_bytes", s.memory_bytes)?;
        d.set_item("load_factor", s.load_factor)?;
        d.set_item("open_iterators", s.open_iterators)?;
        d.set_item("open_views", s.open_views)?;
        d.set_item("writes", s.writes)?;
        Ok(d)
    }

    /// The map as versioned, checksummed bytes (a snapshot; writers are not
    /// blocked). Map.import_() reads them back, in any process.
    fn export<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let h = self.live(py)?;
        let view = detach(py, || capi::export(h)).map_err(|e| self.err(py, e))?;
        // The view is released when dropped, after the copy.
        Ok(PyBytes::new(py, view.bytes()))
    }

    /// Pickling goes through export() / Map.import_().
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let data = self.export(py)?;
        let import = py.get_type::<Map>().getattr("import_")?;
        PyTuple::new(py, [import, PyTuple::new(py, [data])?.into_any()])
    }

    fn __eq__<'py>(slf: &Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let me = slf.get();
        let mine = me.live(py)?;
        let theirs: Bound<'py, PyAny> = if let Ok(o) = other.cast::<Map>() {
            let o = o.get();
            if o.live(py)? == mine {
                return Ok(py_bool(py, true));
            }
            if o.len_of(py)? != me.len_of(py)? {
                return Ok(py_bool(py, false));
            }
            o.snapshot_dict(py)?.into_any()
        } else if let Ok(d) = other.cast::<PyDict>() {
            if d.len() != me.len_of(py)? {
                return Ok(py_bool(py, false));
            }
            d.clone().into_any()
        } else if is_mapping(py, other)? {
            PyDict::from_sequence(&other.call_method0("items")?)?.into_any()
        } else {
            return Ok(py.NotImplemented());
        };
        let eq = me.snapshot_dict(py)?.eq(&theirs)?;
        Ok(py_bool(py, eq))
    }

    fn __ne__<'py>(slf: &Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let eq = Map::__eq__(slf, other)?;
        let eq = eq.bind(py);
        if eq.is(py.NotImplemented()) {
            return Ok(py.NotImplemented());
        }
        Ok(py_bool(py, !eq.is_truthy()?))
    }

    /// Maps are mutable, hence unhashable (as dicts are).
    #[classattr]
    const __hash__: Option<Py<PyAny>> = None;

    fn __repr__(&self, py: Python<'_>) -> String {
        let h = self.peek();
        if h == 0 {
            return format!("ferrymap.Map({}, closed)", self.schema_repr());
        }
        let owned = if self.is_owned() { "" } else { ", borrowed" };
        let owned = if self.bridge {
            format!("{owned}, bridge")
        } else {
            owned.to_string()
        };
        match self.call(py, || capi::map_len(MapId(h))) {
            Ok(n) => format!(
                "ferrymap.Map({}, len={}, handle={:#x}{})",
                self.schema_repr(),
                n,
                h,
                owned
            ),
            Err(_) => format!(
                "ferrymap.Map({}, handle={:#x}{}, invalid)",
                self.schema_repr(),
                h,
                owned
            ),
        }
    }
}

fn py_bool(py: Python<'_>, b: bool) -> Py<PyAny> {
    pyo3::types::PyBool::new(py, b)
        .to_owned()
        .into_any()
        .unbind()
}

fn is_mapping(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    static MAPPING: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let abc = MAPPING.get_or_try_init(py, || {
        py.import("collections.abc")?
            .getattr("Mapping")
            .map(Bound::unbind)
    })?;
    obj.is_instance(abc.bind(py))
}
