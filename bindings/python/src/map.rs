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

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyInt, PyString, PyTuple, PyType};

use crate::bridge;
use crate::bulk;
use crate::convert::*;
use crate::errors::{closed_err, exceptions, invalid_handle, status_err, wrong_kind};
use crate::gil::{blocking, detach, AssertSend, CallbackOf, CallbackRunning};
use crate::iter::{MapIter, Mode};
use crate::sys::*;
use crate::view::ValueView;

#[pyclass(module = "ferrymap", name = "Map", frozen, mapping, weakref, generic)]
pub struct Map {
    handle: AtomicU64,
    owned: AtomicBool,
    pub key: Kind,
    pub val: Kind,
    /// A bridge map (fm_bridge_new): every call is served by its owner
    /// thread and waits for it, so every call releases the GIL (gil.rs).
    pub bridge: bool,
}

impl Drop for Map {
    fn drop(&mut self) {
        let h = self.handle.swap(0, Ordering::AcqRel);
        if h != 0 && self.owned.load(Ordering::Acquire) {
            if self.bridge {
                free_bridge(h);
            } else {
                // Freeing a direct map never waits; a failure (someone else
                // freed it) has nobody to report to.
                // SAFETY: plain call with a handle value.
                unsafe { fm_map_free(h) };
            }
        }
    }
}

/// Frees a bridge map from a destructor. Freeing drains its queue and joins
/// its owner thread, which may be running a Python callback (update_value)
/// that needs the GIL: so the GIL is released for the wait. On the owner
/// thread itself (a callback dropping the last reference to its own map)
/// the core refuses (FM_REENTRANT); a helper thread then frees it once the
/// callback has returned.
fn free_bridge(h: u64) {
    // SAFETY (each call): plain call with a handle value.
    let st = Python::try_attach(|py| detach(py, || unsafe { fm_map_free(h) }))
        .unwrap_or_else(|| unsafe { fm_map_free(h) });
    if st == FM_REENTRANT {
        let _ = std::thread::Builder::new()
            .name("ferrymap-free".into())
            .spawn(move || unsafe { fm_map_free(h) });
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

/// State shared with the `fm_update_*` callback.
struct UpdateCtx {
    func: Py<PyAny>,
    /// The map whose callback this is (see gil::CallbackOf).
    map: u64,
    kind: Kind,
    result: Option<Py<PyAny>>,
    err: Option<PyErr>,
}

/// The `fm_update_fn` given to the core: calls the Python function on the
/// value, under the shard lock, with the GIL re-acquired.
unsafe extern "C" fn update_trampoline(ctx: *mut c_void, value: *mut u8, len: usize) -> i32 {
    // SAFETY: ctx is the &mut UpdateCtx passed to fm_update_* by update_value, alive for the call.
    let ctx = unsafe { &mut *(ctx as *mut UpdateCtx) };
    // On a bridge map this runs on the owner thread, which has no Python
    // thread state of its own: try_attach makes one for the call, and
    // refuses (instead of hanging or killing the thread) while the
    // interpreter is shutting down; the update then fails, value unchanged.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        Python::try_attach(|py| run_update(py, ctx, value, len))
    }));
    match outcome {
        Ok(Some(Ok(()))) => 0,
        Ok(Some(Err(e))) => {
            ctx.err = Some(e);
            1
        }
        Ok(None) => 1,
        Err(_) => {
            ctx.err = Python::try_attach(|py| match exceptions(py) {
                Ok(e) => PyErr::from_type(
                    e.internal.bind(py).clone(),
                    "panic in the update_value callback",
                ),
                Err(e) => e,
            });
            1
        }
    }
}

fn run_update(py: Python<'_>, ctx: &mut UpdateCtx, value: *mut u8, len: usize) -> PyResult<()> {
    let _inside = CallbackOf::enter(ctx.map);
    let func = ctx.func.bind(py);
    match ctx.kind {
        Kind::Int => {
            // SAFETY: the core passes 8 bytes holding the int64 value.
            let old = unsafe { (value as *const i64).read_unaligned() };
            let new = func.call1((old,))?;
            let v = int_arg(&new, "update_value result")?;
            // SAFETY: as above; writable.
            unsafe { (value as *mut i64).write_unaligned(v) };
            ctx.result = Some(new.unbind());
        }
        Kind::Float => {
            // SAFETY: the core passes 8 bytes holding the double.
            let old = unsafe { (value as *const f64).read_unaligned() };
            let new = func.call1((old,))?;
            let v = float_arg(&new, "update_value result")?;
            // SAFETY: as above; writable.
            unsafe { (value as *mut f64).write_unaligned(v) };
            ctx.result = Some(new.unbind());
        }
        Kind::Str | Kind::Bytes => {
            // SAFETY: a private copy of the value's `len` bytes, writable during the callback.
            let bytes = unsafe { std::slice::from_raw_parts_mut(value, len) };
            let old = buf_to_py(py, ctx.kind, bytes)?;
            let new = func.call1((old,))?;
            {
                let data = match ctx.kind {
                    Kind::Str => BufIn::Borrowed(str_arg(&new, "update_value result")?),
                    _ => bytes_arg(&new, "update_value result")?,
                };
                let data = data.as_slice();
                if data.len() != len {
                    return Err(PyValueError::new_err(format!(
                        "update_value cannot change the length of a {} value ({} bytes to {}): \
                         the core updates values in place; assign with m[key] = value instead",
                        ctx.kind.name(),
                        len,
                        data.len()
                    )));
                }
                bytes.copy_from_slice(data);
            }
            ctx.result = Some(new.unbind());
        }
    }
    Ok(())
}

impl Map {
    pub fn from_handle(handle: u64, key: Kind, val: Kind, owned: bool, bridge: bool) -> Map {
        Map {
            handle: AtomicU64::new(handle),
            owned: AtomicBool::new(owned),
            key,
            val,
            bridge,
        }
    }

    /// Runs a call into the core: attached for a direct map (it never
    /// waits), detached for a bridge map (it waits for the owner thread).
    #[inline]
    pub fn call<R>(&self, py: Python<'_>, f: impl FnOnce() -> R) -> R {
        if self.bridge {
            detach(py, f)
        } else {
            f()
        }
    }

    /// Runs a call that may wait for a shard lock (gil.rs) or, on a bridge
    /// map, for the owner thread.
    #[inline]
    pub fn blocking<R>(&self, py: Python<'_>, f: impl FnOnce() -> R) -> R {
        if self.bridge {
            detach(py, f)
        } else {
            blocking(py, f)
        }
    }

    /// A new owning Map for a handle the caller owns; frees it if the schema cannot be read.
    pub fn adopt(py: Python<'_>, handle: u64) -> PyResult<Map> {
        match schema(py, handle) {
            Ok((k, v)) => Ok(Map::from_handle(handle, k, v, true, false)),
            Err(e) => {
                // SAFETY: plain call.
                unsafe { fm_map_free(handle) };
                Err(e)
            }
        }
    }

    /// The handle, or ClosedError.
    #[inline]
    pub fn live(&self, py: Python<'_>) -> PyResult<u64> {
        match self.handle.load(Ordering::Acquire) {
            0 => Err(closed_err(py, "the map")),
            h => Ok(h),
        }
    }

    /// The exception for a failed call: ClosedError if the map was closed
    /// meanwhile (by another thread), the core's error otherwise.
    #[cold]
    pub fn err(&self, py: Python<'_>, status: fm_status) -> PyErr {
        if status == FM_INVALID_HANDLE && self.handle.load(Ordering::Acquire) == 0 {
            return closed_err(py, "the map");
        }
        status_err(py, status)
    }

    #[inline]
    pub fn check(&self, py: Python<'_>, status: fm_status) -> PyResult<()> {
        if status == FM_OK {
            Ok(())
        } else {
            Err(self.err(py, status))
        }
    }

    /// Looks a converted key up; None if absent.
    pub fn lookup<'py>(
        &self,
        py: Python<'py>,
        h: u64,
        key: &KeyIn<'_>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let (kp, kn) = key.buf();
        let st;
        let value = match (key, self.val) {
            (KeyIn::Int(k), Kind::Int) => {
                let mut v = 0i64;
                // SAFETY: out pointer valid.
                st = self.call(py, || unsafe { fm_get_i64_i64(h, *k, &mut v) });
                int_to_py(py, v)
            }
            (KeyIn::Int(k), Kind::Float) => {
                let mut v = 0f64;
                // SAFETY: out pointer valid.
                st = self.call(py, || unsafe { fm_get_i64_f64(h, *k, &mut v) });
                float_to_py(py, v)
            }
            (KeyIn::Buf(_), Kind::Int) => {
                let mut v = 0i64;
                // SAFETY: key bytes valid for kn; out pointer valid.
                st = self.call(py, || unsafe { fm_get_buf_i64(h, kp, kn, &mut v) });
                int_to_py(py, v)
            }
            (KeyIn::Buf(_), Kind::Float) => {
                let mut v = 0f64;
                // SAFETY: as above.
                st = self.call(py, || unsafe { fm_get_buf_f64(h, kp, kn, &mut v) });
                float_to_py(py, v)
            }
            (_, Kind::Str | Kind::Bytes) => return self.lookup_buf(py, h, key),
        };
        match st {
            FM_OK => Ok(Some(value)),
            FM_NOT_FOUND => Ok(None),
            s => Err(self.err(py, s)),
        }
    }

    /// A STR/BYTES value: copied through a stack buffer when small, else
    /// straight from a view of the stored bytes (one copy either way).
    fn lookup_buf<'py>(
        &self,
        py: Python<'py>,
        h: u64,
        key: &KeyIn<'_>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut stack = [0u8; 256];
        let mut len = 0usize;
        let (kp, kn) = key.buf();
        let (sp, sn, lp) = (stack.as_mut_ptr(), stack.len(), &mut len);
        // SAFETY: buffers valid for their lengths.
        let st = self.call(py, || unsafe {
            match key {
                KeyIn::Int(k) => fm_get_i64_buf(h, *k, sp, sn, lp),
                KeyIn::Buf(_) => fm_get_buf_buf(h, kp, kn, sp, sn, lp),
            }
        });
        match st {
            FM_OK => Ok(Some(buf_to_py(py, self.val, &stack[..len])?)),
            FM_NOT_FOUND => Ok(None),
            FM_BUFFER_TOO_SMALL => match self.open_view(py, h, key)? {
                None => Ok(None),
                Some((vh, ptr, len)) => {
                    // SAFETY: the view keeps ptr valid for len bytes until released below.
                    let r = buf_to_py(py, self.val, unsafe { raw_slice(ptr, len) });
                    // SAFETY: plain call.
                    unsafe { fm_view_release(vh) };
                    r.map(Some)
                }
            },
            s => Err(self.err(py, s)),
        }
    }

    /// Opens a core view of a STR/BYTES value; None if the key is absent.
    pub fn open_view(
        &self,
        py: Python<'_>,
        h: u64,
        key: &KeyIn<'_>,
    ) -> PyResult<Option<(u64, *const u8, usize)>> {
        if !self.val.is_buf() {
            return Err(wrong_kind(
                py,
                format!(
                    "view needs str or bytes values; this map's are {}",
                    self.val.name()
                ),
            ));
        }
        let (mut vh, mut ptr, mut len) = (0u64, std::ptr::null::<u8>(), 0usize);
        let (kp, kn) = key.buf();
        let (vp, pp, lp) = (&mut vh, &mut ptr, &mut len);
        // SAFETY: out pointers valid; key bytes valid for kn.
        let st = self.call(py, || unsafe {
            match key {
                KeyIn::Int(k) => fm_view_i64(h, *k, vp, pp, lp),
                KeyIn::Buf(_) => fm_view_buf(h, kp, kn, vp, pp, lp),
            }
        });
        match st {
            FM_OK => Ok(Some((vh, ptr, len))),
            FM_NOT_FOUND => Ok(None),
            s => Err(self.err(py, s)),
        }
    }

    /// Inserts or overwrites; returns whether a value was replaced.
    pub fn insert(&self, py: Python<'_>, h: u64, key: &KeyIn<'_>, val: &Arg<'_>) -> PyResult<bool> {
        let mut replaced = false;
        let r = &mut replaced;
        let (kp, kn) = key.buf();
        // SAFETY (each arm): pointers valid for their lengths, held by `key` and `val`.
        let st = self.blocking(py, || unsafe {
            match (key, val) {
                (KeyIn::Int(k), Arg::Int(v)) => fm_insert_i64_i64(h, *k, *v, r),
                (KeyIn::Int(k), Arg::Float(v)) => fm_insert_i64_f64(h, *k, *v, r),
                (KeyIn::Int(k), Arg::Buf(b)) => {
                    let b = b.as_slice();
                    fm_insert_i64_buf(h, *k, b.as_ptr(), b.len(), r)
                }
                (KeyIn::Buf(_), Arg::Int(v)) => fm_insert_buf_i64(h, kp, kn, *v, r),
                (KeyIn::Buf(_), Arg::Float(v)) => fm_insert_buf_f64(h, kp, kn, *v, r),
                (KeyIn::Buf(_), Arg::Buf(b)) => {
                    let b = b.as_slice();
                    fm_insert_buf_buf(h, kp, kn, b.as_ptr(), b.len(), r)
                }
            }
        });
        self.check(py, st)?;
        Ok(replaced)
    }

    pub fn remove(&self, py: Python<'_>, h: u64, key: &KeyIn<'_>) -> PyResult<bool> {
        let mut removed = false;
        let r = &mut removed;
        let (kp, kn) = key.buf();
        // SAFETY: key bytes valid for kn.
        let st = self.blocking(py, || unsafe {
            match key {
                KeyIn::Int(k) => fm_remove_i64(h, *k, r),
                KeyIn::Buf(_) => fm_remove_buf(h, kp, kn, r),
            }
        });
        self.check(py, st)?;
        Ok(removed)
    }

    pub fn contains_key(&self, py: Python<'_>, h: u64, key: &KeyIn<'_>) -> PyResult<bool> {
        let mut found = false;
        let (kp, kn) = key.buf();
        let fp = &mut found;
        // SAFETY: key bytes valid for kn; out pointer valid.
        let st = self.call(py, || unsafe {
            match key {
                KeyIn::Int(k) => fm_contains_i64(h, *k, fp),
                KeyIn::Buf(_) => fm_contains_buf(h, kp, kn, fp),
            }
        });
        self.check(py, st)?;
        Ok(found)
    }

    pub fn len_of(&self, py: Python<'_>) -> PyResult<usize> {
        let h = self.live(py)?;
        let mut n = 0usize;
        let np = &mut n;
        // SAFETY: out pointer valid.
        let st = self.call(py, || unsafe { fm_map_len(h, np) });
        self.check(py, st)?;
        Ok(n)
    }

    /// A snapshot iterator.
    pub fn iterator(&self, py: Python<'_>, mode: Mode) -> PyResult<MapIter> {
        let h = self.live(py)?;
        let mut it = 0u64;
        let out = &mut it;
        // Taking a snapshot takes every shard lock for an instant.
        // SAFETY: out pointer valid.
        let st = self.blocking(py, || unsafe { fm_iter_new(h, out) });
        self.check(py, st)?;
        Ok(MapIter::new(it, self.key, self.val, mode))
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

/// The schema of a map handle (InvalidHandleError / WrongKindError if it is not one).
pub fn schema(py: Python<'_>, handle: u64) -> PyResult<(Kind, Kind)> {
    let (mut k, mut v) = (0u32, 0u32);
    let (kp, vp) = (&mut k, &mut v);
    // A bridge map answers from its owner thread: wait with the GIL released.
    // SAFETY: out pointers valid.
    let st = detach(py, || unsafe { fm_map_schema(handle, kp, vp) });
    if st != FM_OK {
        return Err(status_err(py, st));
    }
    match (Kind::from_raw(k), Kind::from_raw(v)) {
        (Some(k), Some(v)) => Ok((k, v)),
        _ => Err(invalid_handle(
            py,
            format!("handle {handle:#x} reports an unknown schema ({k}, {v})"),
        )),
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
        let mut h = 0u64;
        // SAFETY: out pointer valid.
        let st = unsafe { fm_map_new(k as u32, v as u32, capacity, &mut h) };
        if st != FM_OK {
            return Err(status_err(py, st));
        }
        let map = Map::from_handle(h, k, v, true, false);
        if let Some(data) = data {
            // On failure `map` is dropped, which frees the handle.
            bulk::update_from(py, &map, h, data)?;
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
        let (k, v) = schema(py, handle)?;
        Ok(Map::from_handle(
            handle,
            k,
            v,
            owned,
            bridge::is_bridge(handle),
        ))
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
        let mut h = 0u64;
        let out = &mut h;
        // Starts the owner thread.
        // SAFETY: out pointer valid.
        let st = detach(py, || unsafe {
            fm_bridge_new(k as u32, v as u32, capacity, queue, out)
        });
        if st != FM_OK {
            return Err(status_err(py, st));
        }
        let map = Map::from_handle(h, k, v, true, true);
        if let Some(data) = data {
            bulk::update_from(py, &map, h, data)?;
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
        let mut seq = 0u64;
        // SAFETY: out pointer valid (an atomic read: never waits).
        self.check(py, unsafe { fm_bridge_seq(h, &mut seq) })?;
        Ok(seq)
    }

    /// Whether the bridge's owner thread caught a panic (the bridge then
    /// answers every request with BridgeFailedError; close() still works).
    /// WrongKindError on a direct map.
    #[getter]
    fn failed(&self, py: Python<'_>) -> PyResult<bool> {
        let h = self.live(py)?;
        // SAFETY: plain call (an atomic read).
        match unsafe { fm_bridge_status(h) } {
            FM_OK => Ok(false),
            FM_BRIDGE_FAILED => Ok(true),
            s => Err(self.err(py, s)),
        }
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
        let s = buf.as_slice();
        let (ptr, len) = (s.as_ptr(), s.len());
        let mut h = 0u64;
        let out = &mut h;
        // SAFETY: the buffer is held open by `buf`; out pointer valid.
        let st = detach(py, || unsafe { fm_import(ptr, len, out) });
        if st != FM_OK {
            return Err(status_err(py, st));
        }
        Map::adopt(py, h)
    }

    /// The map's handle (an int), valid in every language in this process.
    #[getter]
    fn handle(&self, py: Python<'_>) -> PyResult<u64> {
        self.live(py)
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
        self.handle.load(Ordering::Acquire) == 0
    }

    /// Whether this object frees the map on close().
    #[getter]
    fn owned(&self) -> bool {
        self.owned.load(Ordering::Acquire)
    }

    /// Gives up ownership and returns the handle: the map is no longer
    /// freed by this object (which keeps working, as a borrower); whoever
    /// takes the handle must free it (C: fm_map_free).
    fn disown(&self, py: Python<'_>) -> PyResult<u64> {
        let h = self.live(py)?;
        self.owned.store(false, Ordering::Release);
        Ok(h)
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
        let h = self.handle.swap(0, Ordering::AcqRel);
        if h != 0 && self.owned.swap(false, Ordering::AcqRel) {
            // SAFETY: plain call.
            let st = self.call(py, || unsafe { fm_map_free(h) });
            if st == FM_REENTRANT {
                // Refused before anything happened: the map stays open.
                let e = status_err(py, st);
                self.owned.store(true, Ordering::Release);
                self.handle.store(h, Ordering::Release);
                return Err(e);
            }
            if st != FM_OK {
                return Err(status_err(py, st));
            }
        }
        Ok(())
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
            let mut v = 0i64;
            let vp = &mut v;
            // SAFETY: out pointer valid.
            let st = self.call(py, || unsafe { fm_get_i64_i64(h, k, vp) });
            return match st {
                FM_OK => Ok(int_to_py(py, v)),
                FM_NOT_FOUND => Err(key_error(key)),
                s => Err(self.err(py, s)),
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
    /// returns default if given, else raises KeyError. (Read, then remove:
    /// a concurrent overwrite of the same key in between may be what is
    /// removed; see the core API notes.)
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
        if let Some(v) = self.lookup(py, h, &k)? {
            if self.remove(py, h, &k)? {
                return Ok(v);
            }
        }
        match default.len() {
            0 => Err(key_error(key)),
            _ => default.get_item(0),
        }
    }

    /// Removes and returns some (key, value) pair; KeyError if empty.
    fn popitem<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loop {
            let it = self.iterator(py, Mode::Items)?;
            let Some(item) = it.next_item(py)? else {
                return Err(PyKeyError::new_err("popitem(): map is empty"));
            };
            it.close_now();
            let pair = item.cast::<PyTuple>()?;
            let key = pair.get_item(0)?;
            let h = self.live(py)?;
            let k = key_arg(&key, self.key)?;
            if self.remove(py, h, &k)? {
                return Ok(item);
            }
            // Someone else removed it first: try again.
        }
    }

    /// The value for key; if absent, inserts default and returns it.
    #[pyo3(signature = (key, default = None))]
    fn setdefault<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let h = self.live(py)?;
        let k = key_arg(key, self.key)?;
        if let Some(v) = self.lookup(py, h, &k)? {
            return Ok(v);
        }
        let default = default.unwrap_or_else(|| py.None().into_bound(py));
        let v = arg(&default, self.val, "value")?;
        self.insert(py, h, &k, &v)?;
        Ok(default.clone())
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
            bulk::update_from(py, self, h, other)?;
        }
        if let Some(kwargs) = kwargs {
            bulk::update_from(py, self, h, kwargs.as_any())?;
        }
        Ok(())
    }

    /// Removes every entry, at one instant.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        let h = self.live(py)?;
        // SAFETY: plain call.
        let st = self.blocking(py, || unsafe { fm_map_clear(h) });
        self.check(py, st)
    }

    /// Makes room for `additional` more entries.
    fn reserve(&self, py: Python<'_>, additional: usize) -> PyResult<()> {
        let h = self.live(py)?;
        // SAFETY: plain call.
        let st = detach(py, || unsafe { fm_map_reserve(h, additional) });
        self.check(py, st)
    }

    /// A new, independent map with the same contents (O(shards):
    /// copy-on-write). The new Map owns its handle.
    fn clone(&self, py: Python<'_>) -> PyResult<Map> {
        let h = self.live(py)?;
        let mut c = 0u64;
        let out = &mut c;
        // SAFETY: out pointer valid.
        let st = detach(py, || unsafe { fm_map_clone(h, out) });
        self.check(py, st)?;
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
        let (kp, kn) = k.buf();
        match self.val {
            Kind::Int => {
                let d = int_arg(delta, "delta")?;
                let mut new = 0i64;
                let out = &mut new;
                // SAFETY: key bytes valid for kn; out pointer valid.
                let st = self.blocking(py, || unsafe {
                    match &k {
                        KeyIn::Int(k) => fm_add_i64_i64(h, *k, d, out),
                        KeyIn::Buf(_) => fm_add_buf_i64(h, kp, kn, d, out),
                    }
                });
                self.check(py, st)?;
                Ok(int_to_py(py, new))
            }
            Kind::Float => {
                let d = float_arg(delta, "delta")?;
                let mut new = 0f64;
                let out = &mut new;
                // SAFETY: as above.
                let st = self.blocking(py, || unsafe {
                    match &k {
                        KeyIn::Int(k) => fm_add_i64_f64(h, *k, d, out),
                        KeyIn::Buf(_) => fm_add_buf_f64(h, kp, kn, d, out),
                    }
                });
                self.check(py, st)?;
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
        let (kp, kn) = k.buf();
        let mut ctx = UpdateCtx {
            func: func.clone().unbind(),
            map: h,
            kind: self.val,
            result: None,
            err: None,
        };
        let ctxp = AssertSend(&mut ctx as *mut UpdateCtx as *mut c_void);
        let st = {
            // Other Python threads must not wait for this shard's lock while
            // holding the GIL the callback needs (see gil.rs). On a bridge
            // map fn runs on the owner thread; this thread waits detached.
            let _running = CallbackRunning::enter(py);
            let kref = &k;
            // The wait for the shard lock happens detached; the callback re-attaches.
            detach(py, move || {
                let ctx = ctxp.into_inner();
                // SAFETY: key bytes valid for kn; the trampoline matches fm_update_fn and ctx lives for the call.
                unsafe {
                    match kref {
                        KeyIn::Int(k) => fm_update_i64(h, *k, update_trampoline, ctx),
                        KeyIn::Buf(_) => fm_update_buf(h, kp, kn, update_trampoline, ctx),
                    }
                }
            })
        };
        match st {
            FM_OK => Ok(ctx
                .result
                .take()
                .map(|r| r.into_bound(py))
                .unwrap_or_else(|| py.None().into_bound(py))),
            FM_NOT_FOUND => Err(key_error(key)),
            FM_CALLBACK_STOPPED => Err(ctx.err.take().unwrap_or_else(|| status_err(py, st))),
            s => Err(self.err(py, s)),
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
            None => bulk::update_from(py, self, h, keys),
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
            Some((vh, ptr, len)) => {
                let owner = Bound::new(py, ValueView::new(vh, ptr, len))?;
                ValueView::memoryview(&owner)
            }
        }
    }

    /// Figures about the map: len, capacity, memory_bytes, load_factor,
    /// open_iterators, open_views, writes.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = self.live(py)?;
        let mut s = fm_stats::default();
        let sp = &mut s;
        // SAFETY: out pointer valid.
        let st = self.call(py, || unsafe { fm_map_stats(h, sp) });
        self.check(py, st)?;
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
        let (mut vh, mut ptr, mut len) = (0u64, std::ptr::null::<u8>(), 0usize);
        let outs = AssertSend((
            &mut vh as *mut u64,
            &mut ptr as *mut *const u8,
            &mut len as *mut usize,
        ));
        // SAFETY: out pointers valid.
        let st = detach(py, move || {
            let (a, b, c) = outs.into_inner();
            unsafe { fm_export(h, a, b, c) }
        });
        self.check(py, st)?;
        // SAFETY: the view keeps ptr valid for len bytes until released below.
        let bytes = PyBytes::new(py, unsafe { raw_slice(ptr, len) });
        // SAFETY: plain call.
        unsafe { fm_view_release(vh) };
        Ok(bytes)
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
        let h = self.handle.load(Ordering::Acquire);
        if h == 0 {
            return format!("ferrymap.Map({}, closed)", self.schema_repr());
        }
        let owned = if self.owned.load(Ordering::Acquire) {
            ""
        } else {
            ", borrowed"
        };
        let owned = if self.bridge {
            format!("{owned}, bridge")
        } else {
            owned.to_string()
        };
        let mut n = 0usize;
        let np = &mut n;
        // SAFETY: out pointer valid.
        match self.call(py, || unsafe { fm_map_len(h, np) }) {
            FM_OK => format!(
                "ferrymap.Map({}, len={}, handle={:#x}{})",
                self.schema_repr(),
                n,
                h,
                owned
            ),
            st => {
                let _ = status_err(py, st);
                format!(
                    "ferrymap.Map({}, handle={:#x}{}, invalid)",
                    self.schema_repr(),
                    h,
                    owned
                )
            }
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
