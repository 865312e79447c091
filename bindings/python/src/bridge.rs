//! Bridge mode (DESIGN §7): submitting batches of requests (`Ticket`) and
//! the change feed (`Subscription`). A bridge map itself is an ordinary
//! `Map` (map.rs) whose calls release the GIL; this module adds what only
//! bridge maps have.
//!
//! The GIL. The owner thread of a bridge map runs Python code when an
//! `update_value` callback is in flight, and needs the GIL for it. Every
//! call that can wait for the owner thread (any map call on a bridge map,
//! a submit that finds the queue full, waiting on a ticket or for an event)
//! therefore waits with the GIL released. Calls that never wait (polling a
//! ticket, reading its results, `fm_bridge_seq`) stay attached.
//!
//! Long waits are cut into slices of at most `SLICE_US`, with Python's
//! signal handlers run in between, so that Ctrl-C interrupts a `wait()` or
//! a blocked `submit()` (nothing is queued or lost by stopping between
//! slices).
//!
//! Results and events come back as the `ferrymap.Result` and
//! `ferrymap.Event` named tuples (defined in `ferrymap/_bridge.py`, which
//! also holds the asyncio helpers this module calls).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyList, PyString, PyTuple, PyType};

use crate::capi::{self, MapId, Requests, TicketId};
use crate::capi::{FM_CLOSED, FM_INVALID_HANDLE, FM_OK, FM_TIMEOUT};
use crate::capi::{FM_OP_ADD, FM_OP_CLEAR, FM_OP_CONTAINS, FM_OP_GET, FM_OP_INSERT};
use crate::capi::{FM_OP_LEN, FM_OP_REMOVE, FM_OP_UPDATE};
use crate::convert::*;
use crate::errors::{closed_err, core_err, exceptions, status_err_msg, timeout_err, wrong_kind};
use crate::gil::{detach, AssertSend, CallbackOf};
use crate::handle::MapHandle;

/// The longest single wait inside the core before signals are checked.
const SLICE_US: i64 = 50_000;

/// How long a wait for a ticket polls before it parks.
const SPIN_US: u64 = 30;

/// An attribute of `ferrymap._bridge` (the named tuples, the asyncio helpers).
pub fn helper<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let m = MODULE.get_or_try_init(py, || py.import("ferrymap._bridge").map(Bound::unbind))?;
    m.bind(py).getattr(name)
}

fn named_tuple_type<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    let t = cell.get_or_try_init(py, || {
        Ok::<_, PyErr>(helper(py, name)?.cast_into::<PyType>()?.unbind())
    })?;
    Ok(t.bind(py))
}

/// An instance of a named-tuple class (`tuple.__new__(cls, items)`, in C:
/// no Python frame per result or event).
fn named_tuple<'py>(
    cls: &Bound<'py, PyType>,
    items: Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let args = PyTuple::new(py, [items])?;
    // SAFETY: tuple's tp_new with a tuple subclass, an args tuple and no
    // kwargs, as `tuple.__new__(cls, items)` calls it; a new reference or NULL.
    unsafe {
        let new = (*std::ptr::addr_of_mut!(ffi::PyTuple_Type))
            .tp_new
            .expect("tuple has tp_new");
        let obj = new(cls.as_type_ptr(), args.as_ptr(), std::ptr::null_mut());
        Bound::from_owned_ptr_or_err(py, obj)
    }
}

/// How long a call may wait.
#[derive(Clone, Copy)]
pub enum Deadline {
    /// Not at all.
    Now,
    Until(Instant),
    Forever,
}

impl Deadline {
    /// From a timeout in seconds (None: forever; 0: not at all).
    pub fn from_timeout(timeout: Option<f64>) -> PyResult<Deadline> {
        match timeout {
            None => Ok(Deadline::Forever),
            Some(t) if t.is_nan() || t < 0.0 => Err(PyValueError::new_err(
                "timeout must be a non-negative number of seconds or None",
            )),
            Some(t) if t == 0.0 => Ok(Deadline::Now),
            Some(t) => Ok(
                match Duration::try_from_secs_f64(t)
                    .ok()
                    .and_then(|d| Instant::now().checked_add(d))
                {
                    Some(at) => Deadline::Until(at),
                    None => Deadline::Forever,
                },
            ),
        }
    }

    /// The next slice to wait, in microseconds (0: do not wait), and
    /// whether it is the last one.
    fn slice(&self) -> (i64, bool) {
        match *self {
            Deadline::Now => (0, true),
            Deadline::Forever => (SLICE_US, false),
            Deadline::Until(at) => {
                let left = at
                    .saturating_duration_since(Instant::now())
                    .as_micros()
                    .min(i64::MAX as u128) as i64;
                if left <= SLICE_US {
                    (left, true)
                } else {
                    (SLICE_US, false)
                }
            }
        }
    }
}

/// ReentrantError for a wait that only the owner thread could end, asked
/// from that very thread (an update_value callback of the same map).
fn refuse_owner_wait(py: Python<'_>, map: u64, what: &str) -> PyResult<()> {
    if !CallbackOf::inside(map) {
        return Ok(());
    }
    let e = exceptions(py)?;
    Err(PyErr::from_type(
        e.reentrant.bind(py).clone(),
        format!("{what} from an update_value callback of the same bridge map would wait for its own owner thread"),
    ))
}

/// Locks `m` without ever blocking while attached: another thread holding
/// it may be waiting for the GIL.
fn lock<'a, T>(py: Python<'_>, m: &'a Mutex<T>) -> MutexGuard<'a, T> {
    match m.try_lock() {
        Ok(g) => g,
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => detach(py, || {
            AssertSend(m.lock().unwrap_or_else(|p| p.into_inner()))
        })
        .into_inner(),
    }
}

// ---- submit ------------------------------------------------------------------------

fn op_from_py(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(match s.to_str()? {
            "insert" => FM_OP_INSERT,
            "remove" => FM_OP_REMOVE,
            "add" => FM_OP_ADD,
            "get" => FM_OP_GET,
            "contains" => FM_OP_CONTAINS,
            "len" => FM_OP_LEN,
            "clear" => FM_OP_CLEAR,
            "update" => return Err(PyValueError::new_err("update takes a callback: use Map.update_value")),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown request op {other:?}: one of insert, remove, add, get, contains, len, clear"
                )))
            }
        });
    }
    let code = int_arg(obj, "request op")?;
    match u32::try_from(code) {
        Ok(
            c @ (FM_OP_INSERT | FM_OP_REMOVE | FM_OP_ADD | FM_OP_CLEAR | FM_OP_GET | FM_OP_CONTAINS
            | FM_OP_LEN),
        ) => Ok(c),
        _ => Err(PyValueError::new_err(format!("unknown request op {code}"))),
    }
}

/// One request as given: op, key object, value object.
struct Given<'py> {
    op: u32,
    key: Option<Bound<'py, PyAny>>,
    value: Option<Bound<'py, PyAny>>,
}

fn parse_request<'py>(i: usize, item: &Bound<'py, PyAny>) -> PyResult<Given<'py>> {
    // A tuple (the common case: read in place) or a list.
    let listed;
    let fields: &Bound<'py, PyTuple> = if let Ok(t) = item.cast::<PyTuple>() {
        t
    } else if let Ok(l) = item.cast::<PyList>() {
        listed = l.to_tuple();
        &listed
    } else {
        return Err(PyTypeError::new_err(format!(
            "request {i} must be a tuple such as ('get', key) or a ferrymap.Request, not {}",
            item.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        )));
    };
    let n = fields.len();
    if n == 0 {
        return Err(PyValueError::new_err(format!("request {i} is empty")));
    }
    let field = |j: usize| fields.get_item(j);
    let op = op_from_py(&field(0)?)?;
    let (needs_key, needs_value) = match op {
        FM_OP_INSERT | FM_OP_ADD => (true, true),
        FM_OP_REMOVE | FM_OP_GET | FM_OP_CONTAINS => (true, false),
        _ => (false, false),
    };
    let wanted = 1 + needs_key as usize + needs_value as usize;
    // Trailing Nones are allowed (a Request always has three fields).
    let extra_not_none = (wanted..n).any(|j| field(j).map(|f| !f.is_none()).unwrap_or(true));
    if n < wanted || extra_not_none {
        let shape = match (needs_key, needs_value) {
            (true, true) => "(op, key, value)",
            (true, false) => "(op, key)",
            _ => "(op,)",
        };
        return Err(PyValueError::new_err(format!(
            "request {i}: {} takes {shape}",
            op_name(op)
        )));
    }
    let key = if needs_key { Some(field(1)?) } else { None };
    let value = if needs_value { Some(field(2)?) } else { None };
    Ok(Given { op, key, value })
}

/// Converts and queues a batch; waits for room as `deadline` says.
pub fn submit(
    py: Python<'_>,
    map: &MapHandle,
    h: MapId,
    requests: &Bound<'_, PyAny>,
    deadline: Deadline,
) -> PyResult<Ticket> {
    if !map.bridge {
        return Err(wrong_kind(
            py,
            "submit needs a bridge map (Map.bridge)".into(),
        ));
    }
    let given = requests
        .try_iter()?
        .enumerate()
        .map(|(i, r)| parse_request(i, &r?))
        .collect::<PyResult<Vec<Given<'_>>>>()?;
    if given.is_empty() {
        return Err(PyValueError::new_err("submit needs at least one request"));
    }
    if !matches!(deadline, Deadline::Now) {
        refuse_owner_wait(py, h.0, "a blocking submit")?;
    }
    // Converted keys and values borrow from `given` until fm_submit has copied them.
    let mut converted = Vec::with_capacity(given.len());
    for g in &given {
        let key = g.key.as_ref().map(|k| key_arg(k, map.key)).transpose()?;
        let value = match (&g.value, g.op) {
            (None, _) => None,
            (Some(d), FM_OP_ADD) => Some(match map.val {
                Kind::Int => Arg::Int(int_arg(d, "delta")?),
                Kind::Float => Arg::Float(float_arg(d, "delta")?),
                other => {
                    return Err(wrong_kind(
                        py,
                        format!(
                            "add needs int or float values; this map's are {}",
                            other.name()
                        ),
                    ))
                }
            }),
            (Some(v), _) => Some(arg(v, map.val, "value")?),
        };
        converted.push((g.op, key, value));
    }
    let reqs = Requests::new(converted.iter().map(|(op, k, v)| {
        (
            *op,
            k.as_ref().map(KeyIn::as_key),
            v.as_ref().map(Arg::as_value),
        )
    }));
    let ticket = loop {
        let (wait_us, last) = deadline.slice();
        // May wait for room in the queue: detached.
        match detach(py, || capi::submit(h, &reqs, wait_us)) {
            Ok(t) => break t,
            Err(e) if e.status == FM_TIMEOUT && !last => py.check_signals()?,
            Err(e) => return Err(map.err(py, e)),
        }
    };
    let ops = given.iter().map(|g| g.op as u8).collect();
    Ok(Ticket {
        handle: AtomicU64::new(ticket.id().0),
        owned: Mutex::new(Some(ticket)),
        map: h.0,
        val: map.val,
        ops,
        results: PyOnceLock::new(),
    })
}

// ---- Ticket ------------------------------------------------------------------------

/// The results of a submitted batch, when the owner thread has run it.
///
/// `done()` polls, `wait(timeout)` waits, `results(timeout=None)` waits
/// and returns one `Result` per request, in order; `await ticket` does the
/// same from asyncio. Once the results have been read they are kept here
/// and the core ticket is freed; `close()` (or the end of a `with` block,
/// or garbage collection) frees it otherwise. The batch runs either way.
#[pyclass(module = "ferrymap", name = "Ticket", frozen)]
pub struct Ticket {
    /// The core ticket's handle, for polls and waits (which the core makes
    /// safe on a freed ticket); 0 once freed.
    handle: AtomicU64,
    /// The core ticket, freed when taken out. Held while results are read
    /// out of it (their bytes live until it is freed) and while it is freed.
    owned: Mutex<Option<capi::Ticket>>,
    /// The bridge map it was submitted to.
    map: u64,
    val: Kind,
    /// The op of each request, to decode its result.
    ops: Box<[u8]>,
    /// The decoded results, once read.
    results: PyOnceLock<Py<PyTuple>>,
}

fn decode_value<'py>(
    py: Python<'py>,
    kind: Kind,
    int: i64,
    float: f64,
    bytes: &[u8],
) -> PyResult<Bound<'py, PyAny>> {
    match kind {
        Kind::Int => Ok(int_to_py(py, int)),
        Kind::Float => Ok(float_to_py(py, float)),
        _ => buf_to_py(py, kind, bytes),
    }
}

impl Ticket {
    /// The results, if the batch has run (reading them out of the core once).
    fn fetch<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        if let Some(r) = self.results.get(py) {
            return Ok(Some(r.bind(py).clone()));
        }
        let mut owned = lock(py, &self.owned);
        if let Some(r) = self.results.get(py) {
            return Ok(Some(r.bind(py).clone()));
        }
        let Some(ticket) = owned.as_ref() else {
            return Err(closed_err(py, "the ticket"));
        };
        // Never waits (a short lock in the core).
        let outcomes = match ticket.results(self.ops.len()) {
            Ok(Some(o)) => o,
            Ok(None) => return Ok(None),
            Err(e) => return Err(core_err(py, e)),
        };
        static RESULT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        let cls = named_tuple_type(py, &RESULT, "Result")?;
        let mut items = Vec::with_capacity(outcomes.len());
        for (r, &op) in outcomes.iter().zip(self.ops.iter()) {
            let op = op as u32;
            let value = if r.status() != FM_OK
                || (op == FM_OP_GET && !r.flag())
                || !matches!(op, FM_OP_GET | FM_OP_ADD)
            {
                py.None().into_bound(py)
            } else {
                // The bytes live until the core ticket is freed (below, by us).
                decode_value(
                    py,
                    self.val,
                    r.value_int(),
                    r.value_float(),
                    r.value_bytes(),
                )?
            };
            let fields = PyTuple::new(
                py,
                [
                    (r.status() as i32).into_pyobject(py)?.into_any(),
                    PyBool::new(py, r.flag()).to_owned().into_any(),
                    r.seq().into_pyobject(py)?.into_any(),
                    r.len().into_pyobject(py)?.into_any(),
                    value,
                ],
            )?;
            items.push(named_tuple(cls, fields)?);
        }
        drop(outcomes);
        let results = PyTuple::new(py, items)?;
        let _ = self.results.set(py, results.clone().unbind());
        // The results are ours now: the core ticket is no longer needed.
        self.handle.store(0, Ordering::Release);
        owned.take();
        Ok(Some(results))
    }

    /// Waits until done or the deadline; Ok(false) on timeout.
    fn wait_until(&self, py: Python<'_>, deadline: Deadline) -> PyResult<bool> {
        loop {
            if self.results.get(py).is_some() {
                return Ok(true);
            }
            let h = self.handle.load(Ordering::Acquire);
            if h == 0 {
                // Freed: by close(), or by a concurrent fetch (results kept).
                return if self.results.get(py).is_some() {
                    Ok(true)
                } else {
                    Err(closed_err(py, "the ticket"))
                };
            }
            let (wait_us, last) = deadline.slice();
            let ticket = TicketId(h);
            let done = if wait_us == 0 {
                capi::ticket_poll(ticket)
            } else {
                refuse_owner_wait(py, self.map, "waiting for a ticket")?;
                // fm_ticket_wait parks on a condition variable at once; waking
                // a parked thread costs tens of microseconds here. A batch
                // is often done sooner: poll for a short while first
                // (yielding the CPU, which the owner thread may need).
                detach(py, move || {
                    let spin_until =
                        Instant::now() + Duration::from_micros(SPIN_US.min(wait_us as u64));
                    let mut i = 0u32;
                    loop {
                        match capi::ticket_poll(ticket) {
                            Ok(false) if Instant::now() < spin_until => {
                                i += 1;
                                if i % 64 == 0 {
                                    std::thread::yield_now();
                                } else {
                                    std::hint::spin_loop();
                                }
                            }
                            Ok(false) => break capi::ticket_wait(ticket, wait_us),
                            done => break done,
                        }
                    }
                })
            };
            match done {
                Ok(true) => return Ok(true),
                Ok(false) if last => return Ok(false),
                Ok(false) => py.check_signals()?,
                Err(e)
                    if e.status == FM_INVALID_HANDLE
                        && self.handle.load(Ordering::Acquire) != h =>
                {
                    continue
                }
                Err(e) => return Err(core_err(py, e)),
            }
        }
    }
}

#[pymethods]
impl Ticket {
    /// Whether the batch has run (never waits).
    fn done(&self, py: Python<'_>) -> PyResult<bool> {
        self.wait_until(py, Deadline::Now)
    }

    /// wait(timeout=None) -> bool: waits up to `timeout` seconds (None: as
    /// long as it takes) for the batch to run; True if it has. The GIL is
    /// released while waiting.
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        self.wait_until(py, Deadline::from_timeout(timeout)?)
    }

    /// results(timeout=None) -> list[Result]: waits as wait() does, then
    /// returns one Result(status, flag, seq, len, value) per request, in
    /// order. FerryTimeoutError if the batch has not run in time.
    #[pyo3(signature = (timeout = None))]
    fn results<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyList>> {
        if !self.wait_until(py, Deadline::from_timeout(timeout)?)? {
            return Err(timeout_err(py, "the ticket's batch has not run yet".into()));
        }
        match self.fetch(py)? {
            Some(r) => PyList::new(py, r.iter()),
            None => Err(timeout_err(py, "the ticket's batch has not run yet".into())),
        }
    }

    /// Frees the core ticket (the batch still runs). Results already read
    /// stay available; otherwise the ticket is unusable (ClosedError).
    fn close(&self, py: Python<'_>) {
        let mut owned = lock(py, &self.owned);
        self.handle.store(0, Ordering::Release);
        owned.take();
    }

    /// The core ticket handle (0 once freed).
    #[getter]
    fn handle(&self) -> u64 {
        self.handle.load(Ordering::Acquire)
    }

    /// The number of requests in the batch.
    fn __len__(&self) -> usize {
        self.ops.len()
    }

    /// `await ticket`: the list of Results, without blocking the event loop.
    fn __await__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        helper(slf.py(), "await_ticket")?
            .call1((slf,))?
            .call_method0("__await__")
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let state = if self.results.get(py).is_some() {
            "done".to_string()
        } else {
            match self.handle.load(Ordering::Acquire) {
                0 => "closed".to_string(),
                h => {
                    let done = capi::ticket_poll(TicketId(h)).unwrap_or(false);
                    format!("{}, handle={h:#x}", if done { "done" } else { "pending" })
                }
            }
        };
        format!("ferrymap.Ticket({} requests, {state})", self.ops.len())
    }
}

// ---- Subscription ------------------------------------------------------------------

fn op_name(op: u32) -> &'static str {
    match op {
        FM_OP_INSERT => "insert",
        FM_OP_REMOVE => "remove",
        FM_OP_ADD => "add",
        FM_OP_UPDATE => "update",
        FM_OP_CLEAR => "clear",
        FM_OP_GET => "get",
        FM_OP_CONTAINS => "contains",
        FM_OP_LEN => "len",
        _ => "unknown",
    }
}

fn op_str(py: Python<'_>, op: u32) -> Bound<'_, PyString> {
    PyString::intern(py, op_name(op))
}

pub fn subscribe(
    py: Python<'_>,
    map: &MapHandle,
    h: MapId,
    bound: usize,
) -> PyResult<Subscription> {
    // Never waits for the owner thread.
    let sub = capi::Subscription::new(h, bound).map_err(|e| map.err(py, e))?;
    Ok(Subscription {
        handle: AtomicU64::new(sub.handle()),
        map: h.0,
        key: map.key,
        val: map.val,
        state: Mutex::new(SubState {
            sub: Some(sub),
            buffered: VecDeque::new(),
            ended: false,
            lost: 0,
        }),
    })
}

struct SubState {
    /// The core subscription (an event's bytes live until its next read or
    /// its free, both under this state's lock); None once closed.
    sub: Option<capi::Subscription>,
    /// Events read from the core but not handed out yet (asyncio: a wait
    /// that finished after its task was cancelled leaves its event here).
    buffered: VecDeque<Py<PyAny>>,
    /// The core said FM_CLOSED: every event was delivered.
    ended: bool,
    /// Events lost so far (the sum of Event.lost).
    lost: u64,
}

/// A bridge map's change feed: every committed mutation, in commit order,
/// as `Event(seq, op, key, value, lost)`. `next(timeout)` waits for one;
/// iteration (`for`, `async for`) ends when the map is closed and every
/// event was read. One reader at a time (readers are serialized).
#[pyclass(module = "ferrymap", name = "Subscription", frozen)]
pub struct Subscription {
    /// The core subscription's handle, for the getters; 0 once closed.
    handle: AtomicU64,
    /// The bridge map it listens to.
    map: u64,
    key: Kind,
    val: Kind,
    /// Held while reading from the core and while closing.
    state: Mutex<SubState>,
}

impl Subscription {
    fn ended_err(py: Python<'_>) -> PyErr {
        status_err_msg(
            py,
            FM_CLOSED,
            "the bridge map is closed and every event was delivered".into(),
        )
    }

    /// One read from the core, waiting up to `wait_us`. None on timeout.
    /// BridgeClosedError once the map is closed and everything was read.
    fn pull<'py>(
        &self,
        py: Python<'py>,
        st: &mut SubState,
        wait_us: i64,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        if st.ended {
            return Err(Self::ended_err(py));
        }
        let Some(sub) = st.sub.as_mut() else {
            return Err(closed_err(py, "the subscription"));
        };
        let next = if wait_us == 0 {
            sub.next(0)
        } else {
            refuse_owner_wait(py, self.map, "waiting for an event")?;
            detach(py, move || sub.next(wait_us))
        };
        let ev = match next {
            Ok(Some(ev)) => ev,
            Ok(None) => return Ok(None),
            Err(e) if e.status == FM_CLOSED => {
                st.ended = true;
                return Err(Self::ended_err(py));
            }
            Err(e) => return Err(core_err(py, e)),
        };
        st.lost += ev.lost();
        // The event's bytes are valid until the next read or the free, both
        // of which wait for the lock we hold.
        let key = match (ev.op(), self.key) {
            (FM_OP_CLEAR, _) => py.None().into_bound(py),
            (_, Kind::Int) => int_to_py(py, ev.key_int()),
            (_, kind) => buf_to_py(py, kind, ev.key_bytes())?,
        };
        let value = match ev.op() {
            FM_OP_REMOVE | FM_OP_CLEAR => py.None().into_bound(py),
            _ => decode_value(
                py,
                self.val,
                ev.value_int(),
                ev.value_float(),
                ev.value_bytes(),
            )?,
        };
        static EVENT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        let cls = named_tuple_type(py, &EVENT, "Event")?;
        let fields = PyTuple::new(
            py,
            [
                ev.seq().into_pyobject(py)?.into_any(),
                op_str(py, ev.op()).into_any(),
                key,
                value,
                ev.lost().into_pyobject(py)?.into_any(),
            ],
        )?;
        named_tuple(cls, fields).map(Some)
    }

    fn next_until<'py>(
        &self,
        py: Python<'py>,
        deadline: Deadline,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        loop {
            let (wait_us, last) = deadline.slice();
            {
                let mut st = lock(py, &self.state);
                if let Some(e) = st.buffered.pop_front() {
                    return Ok(Some(e.into_bound(py)));
                }
                if let Some(e) = self.pull(py, &mut st, wait_us)? {
                    return Ok(Some(e));
                }
            }
            if last {
                return Ok(None);
            }
            // Between slices, without the lock: Ctrl-C, signal handlers.
            py.check_signals()?;
        }
    }
}

#[pymethods]
impl Subscription {
    /// next(timeout=None) -> Event: the next event, waiting up to `timeout`
    /// seconds (None: as long as it takes; 0: not at all), GIL released.
    /// FerryTimeoutError if none came; BridgeClosedError once the map is
    /// closed and every event was read.
    #[pyo3(signature = (timeout = None))]
    fn next<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        match self.next_until(py, Deadline::from_timeout(timeout)?)? {
            Some(e) => Ok(e),
            None => Err(timeout_err(py, "no event within the timeout".into())),
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Blocks for the next event; the iteration ends when the map is closed
    /// and every event was read.
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.next_until(py, Deadline::Forever) {
            Err(_) if lock(py, &self.state).ended => Ok(None),
            r => r,
        }
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// `async for`: waits for events without blocking the event loop.
    fn __anext__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        helper(slf.py(), "anext_event")?.call1((slf,))
    }

    /// An event if one is ready (never waits), else None. BridgeClosedError
    /// once the map is closed and every event was read. (For the asyncio helpers.)
    fn _poll<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.next_until(py, Deadline::Now)
    }

    /// Waits up to `timeout` seconds for an event and keeps it for the next
    /// read; True if one is ready (or the feed ended). (For the asyncio
    /// helpers: run in a worker thread, it never loses an event.)
    fn _fill(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let (wait_us, _) = Deadline::from_timeout(Some(timeout))?.slice();
        let mut st = lock(py, &self.state);
        if !st.buffered.is_empty() || st.ended {
            return Ok(true);
        }
        match self.pull(py, &mut st, wait_us) {
            Ok(Some(e)) => {
                st.buffered.push_back(e.unbind());
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(_) if st.ended => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Events lost so far because this subscriber fell behind its bound.
    #[getter]
    fn lost(&self, py: Python<'_>) -> u64 {
        lock(py, &self.state).lost
    }

    /// The core subscription handle (0 once closed).
    #[getter]
    fn handle(&self) -> u64 {
        self.handle.load(Ordering::Acquire)
    }

    /// Whether close() was called.
    #[getter]
    fn closed(&self) -> bool {
        self.handle.load(Ordering::Acquire) == 0
    }

    /// Ends the subscription (waits for a reader in next() to finish its
    /// current slice, at most 50 ms). Closing twice is harmless.
    fn close(&self, py: Python<'_>) {
        let mut st = lock(py, &self.state);
        self.handle.store(0, Ordering::Release);
        st.sub = None;
        st.buffered.clear();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let st = lock(py, &self.state);
        match self.handle.load(Ordering::Acquire) {
            0 => "ferrymap.Subscription(closed)".into(),
            h => format!(
                "ferrymap.Subscription(handle={h:#x}, lost={}{})",
                st.lost,
                if st.ended { ", ended" } else { "" }
            ),
        }
    }
}

/// `ferrymap.last_seq()`: the sequence number of the last bridge mutation
/// made by a call on the calling thread (0 if none). A Python thread is one
/// OS thread, and only this thread's own calls change it.
#[pyfunction]
pub fn last_seq() -> u64 {
    capi::last_seq()
}
