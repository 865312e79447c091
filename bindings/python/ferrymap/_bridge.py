"""Bridge mode: the request, result and event types, and the asyncio side.

A bridge map (``Map.bridge(...)``) runs every operation on its own owner
thread. ``m.submit(requests)`` queues a batch and returns a ``Ticket``;
``m.subscribe(bound)`` returns a ``Subscription`` to the change feed. The
native module builds ``Result`` and ``Event`` tuples with the classes
defined here.

asyncio. The core has no readiness file descriptor or callback for tickets
and subscriptions, only waits with a timeout (which release the GIL). So an
awaitable first checks without waiting (a small batch is often done by the
time the event loop gets back to it, after one ``asyncio.sleep(0)``), and
otherwise waits in a worker thread of a small pool of its own
(``ferrymap-await-*``), in slices of 50 ms, and wakes the event loop when
done (``loop.run_in_executor``). The event loop is never blocked. A
cancelled await stops its worker within one slice; a subscription's event
that arrives as the await is cancelled is kept for the next read, never
lost. Why not poll with ``asyncio.sleep``: the event loop's timers have a
resolution of about 1 ms, which would put 1 ms on every await; a worker
thread's wake-up costs tens of microseconds.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Union

from ._native import BridgeClosedError, Error, FerryTimeoutError, QueueFullError

if TYPE_CHECKING:
    from ._native import Map, Subscription, Ticket

__all__ = ["Request", "Result", "Event", "RequestLike"]

# fm_status codes, for Result.status.
OK = 0


class Request(NamedTuple):
    """One request of a submitted batch (a plain tuple works as well).

    ``op`` is one of ``"insert"`` (key, value), ``"remove"`` (key), ``"add"``
    (key, delta), ``"get"`` (key), ``"contains"`` (key), ``"len"`` and
    ``"clear"``. The static methods build each kind: ``Request.get(k)``.
    """

    op: str
    key: Any = None
    value: Any = None

    @staticmethod
    def insert(key: Any, value: Any) -> Request:
        return Request("insert", key, value)

    @staticmethod
    def remove(key: Any) -> Request:
        return Request("remove", key)

    @staticmethod
    def add(key: Any, delta: Any) -> Request:
        return Request("add", key, delta)

    @staticmethod
    def get(key: Any) -> Request:
        return Request("get", key)

    @staticmethod
    def contains(key: Any) -> Request:
        return Request("contains", key)

    @staticmethod
    def len() -> Request:
        return Request("len")

    @staticmethod
    def clear() -> Request:
        return Request("clear")


RequestLike = Union[Request, "tuple[Any, ...]", "list[Any]"]


class Result(NamedTuple):
    """The outcome of one submitted request.

    - ``status``: that request's fm_status code (0: OK; see ``ok`` and
      ``raise_for_status()``).
    - ``flag``: insert replaced a value, remove removed one, get / contains
      found the key.
    - ``seq``: the mutation's sequence number (0 if it changed nothing).
    - ``len``: the answer of ``len``.
    - ``value``: the value of a found ``get``, the new value of ``add``;
      otherwise None.
    """

    status: int
    flag: bool
    seq: int
    len: int
    value: Any

    @property
    def ok(self) -> bool:
        return self.status == OK

    def raise_for_status(self) -> None:
        """Raises the ferrymap exception for ``status`` unless it is OK."""
        if self.status != OK:
            raise _exception_for(self.status)


class Event(NamedTuple):
    """One committed mutation of a bridge map, as a subscription receives it.

    ``op`` is ``"insert"``, ``"remove"``, ``"add"``, ``"update"`` or
    ``"clear"``; ``key`` is None for clear; ``value`` is the new value (None
    for remove and clear). ``lost`` is how many events this subscriber
    missed just before this one because it fell behind its bound.
    """

    seq: int
    op: str
    key: Any
    value: Any
    lost: int


def _exception_for(status: int) -> BaseException:
    from . import _native

    for name in dir(_native):
        cls = getattr(_native, name)
        if (
            isinstance(cls, type)
            and issubclass(cls, Error)
            and getattr(cls, "status", None) == status
        ):
            return cls(f"request failed with status {status}")
    return _native.InternalError(f"request failed with status {status}")


# ---- asyncio -------------------------------------------------------------------------

_SLICE = 0.05
_pool: Optional[ThreadPoolExecutor] = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(8, 4 * (os.cpu_count() or 1)),
                thread_name_prefix="ferrymap-await",
            )
        return _pool


def _keep_waiting(stop: threading.Event) -> bool:
    # Stop when the await was cancelled, or at interpreter exit (the main
    # thread is marked stopped before worker threads are joined).
    return not stop.is_set() and threading.main_thread().is_alive()


def _wait_ticket(ticket: Ticket, stop: threading.Event) -> None:
    while _keep_waiting(stop):
        if ticket.wait(_SLICE):
            return


def _fill_subscription(sub: Subscription, stop: threading.Event) -> None:
    while _keep_waiting(stop):
        if sub._fill(_SLICE):
            return


def _submit_blocking(
    m: Map[Any, Any],
    requests: list[Any],
    timeout: Optional[float],
    stop: threading.Event,
) -> Ticket:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        step = _SLICE if left is None else max(1e-6, min(_SLICE, left))
        try:
            return m.submit(requests, step)
        except FerryTimeoutError:
            # Nothing was queued: try again while the await stands.
            if not _keep_waiting(stop) or (left is not None and left <= step):
                raise


async def _in_worker(fn: Any, *args: Any) -> Any:
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    try:
        return await loop.run_in_executor(_executor(), fn, *args, stop)
    finally:
        stop.set()


async def await_ticket(ticket: Ticket) -> list[Result]:
    """``await ticket``: its results, without blocking the event loop."""
    if not ticket.done():
        # Let the other ready tasks run once; then wait in a worker thread.
        # (Spinning here on done() would hold the CPU the owner thread may
        # need: on a busy 2-core machine that delays the batch by a whole
        # scheduler time slice.)
        await asyncio.sleep(0)
        if not ticket.done():
            await _in_worker(_wait_ticket, ticket)
    return ticket.results(0)


async def anext_event(sub: Subscription) -> Event:
    """``async for event in subscription``: the next event."""
    while True:
        try:
            ev: Optional[Event] = sub._poll()
        except BridgeClosedError:
            raise StopAsyncIteration from None
        if ev is not None:
            return ev
        await _in_worker(_fill_subscription, sub)


async def asubmit(
    m: Map[Any, Any], requests: Iterable[RequestLike], timeout: Optional[float] = None
) -> list[Result]:
    """``await m.asubmit(requests)``: submits and returns the results.

    A full queue is waited for in a worker thread (up to ``timeout``
    seconds, None: as long as it takes), never on the event loop.
    """
    batch = list(requests)
    try:
        ticket = m.try_submit(batch)
    except QueueFullError:
        if timeout == 0:
            raise
        ticket = await _in_worker(_submit_blocking, m, batch, timeout)
    with ticket:
        return await await_ticket(ticket)


async def aget(m: Map[Any, Any], key: Any, default: Any = None) -> Any:
    (r,) = await asubmit(m, [("get", key)])
    r.raise_for_status()
    return r.value if r.flag else default


async def aset(m: Map[Any, Any], key: Any, value: Any) -> int:
    (r,) = await asubmit(m, [("insert", key, value)])
    r.raise_for_status()
    return r.seq
