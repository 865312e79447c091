"""Bridge mode (DESIGN §7): a map served by one owner thread.

Every Map operation on a bridge map gives what it gives on a direct map
(randomized, every schema); one total order of mutations with per-thread
FIFO, checked through the change feed; tickets, timeouts and full queues
(the owner thread stalled by an update_value callback, which runs on it and
needs the GIL); close with thousands of requests in flight; exact loss
reporting for a slow subscriber; asyncio; and no deadlock between the GIL
and the owner thread. The census must be back at zero at the end
(conftest.py)."""

import array
import asyncio
import collections.abc
import contextlib
import copy
import os
import pickle
import random
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import ferrymap
from conftest import KEY_SAMPLES, SCHEMAS, VALUE_SAMPLES, schema_id

WAIT = 30.0  # generous bound for anything that should happen promptly


def owner_threads():
    """Threads of this process named like a bridge's owner thread."""
    n = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                n += f.read().strip() == "ferrymap-bridge"
        except OSError:
            pass
    return n


@contextlib.contextmanager
def stalled(m, key):
    """Keeps the owner thread of `m` busy in an update_value callback (on
    `key`, which must hold an int) until the block ends. The callback runs
    on the owner thread and needs the GIL: this thread must not hold it
    while it waits, and the bridge's calls release it."""
    entered, release = threading.Event(), threading.Event()
    outcome = []

    def fn(v):
        entered.set()
        assert release.wait(WAIT), "stall never released"
        return v + 1

    def caller():
        try:
            outcome.append(m.update_value(key, fn))
        except BaseException as e:  # pragma: no cover - reported below
            outcome.append(e)

    t = threading.Thread(target=caller)
    t.start()
    assert entered.wait(WAIT), "the owner thread never ran the callback"
    try:
        yield outcome
    finally:
        release.set()
        t.join(WAIT)
        assert not t.is_alive()


# ---- basics ------------------------------------------------------------------------


def test_a_bridge_map_is_a_map():
    before = owner_threads()
    m = ferrymap.Map.bridge(int, str, {1: "a"}, capacity=100, queue=16)
    assert owner_threads() == before + 1
    assert isinstance(m, ferrymap.Map)
    assert isinstance(m, collections.abc.MutableMapping)
    assert m.is_bridge and not m.failed
    assert "bridge" in repr(m)
    assert m.key_kind is int and m.value_kind is str
    assert m.seq == 1  # the insert of the initial data
    m[2] = "b"
    assert m.seq == 2 == ferrymap.last_seq()
    assert m[1] == "a" and len(m) == 2 and 2 in m and 3 not in m
    borrowed = ferrymap.Map.attach(m.handle)
    assert borrowed.is_bridge and borrowed == m
    borrowed.close()
    c = m.clone()
    assert not c.is_bridge and c == m  # a clone is a direct map
    c.close()
    direct = ferrymap.Map(int, int)
    assert not direct.is_bridge
    with pytest.raises(ferrymap.WrongKindError):
        direct.seq
    with pytest.raises(ferrymap.WrongKindError):
        direct.failed
    with pytest.raises(ferrymap.WrongKindError):
        direct.submit([("len",)])
    with pytest.raises(ferrymap.WrongKindError):
        direct.subscribe()
    direct.close()
    m.close()
    assert owner_threads() == before  # the owner thread exited
    with pytest.raises(ferrymap.ClosedError):
        m.seq
    m.close()  # twice is harmless


def test_bad_arguments():
    with pytest.raises(ferrymap.InvalidArgumentError):
        ferrymap.Map.bridge(int, int, queue=0)
    with pytest.raises(ValueError):
        ferrymap.Map.bridge(float, int)
    with ferrymap.Map.bridge(int, int) as m:
        with pytest.raises(ferrymap.InvalidArgumentError):
            m.subscribe(0)
        with pytest.raises(ValueError):
            m.submit([("len",)], timeout=-1)


def test_exceptions():
    E = ferrymap
    assert issubclass(E.BridgeClosedError, E.ClosedError) and issubclass(
        E.BridgeClosedError, E.Error
    )
    assert issubclass(E.FerryTimeoutError, TimeoutError) and issubclass(
        E.FerryTimeoutError, E.Error
    )
    assert issubclass(E.QueueFullError, E.Error)
    assert issubclass(E.BridgeFailedError, RuntimeError) and issubclass(
        E.BridgeFailedError, E.Error
    )
    assert (E.BridgeClosedError.status, E.FerryTimeoutError.status) == (16, 17)
    assert (E.QueueFullError.status, E.BridgeFailedError.status) == (18, 19)


def test_last_seq_is_per_thread():
    with ferrymap.Map.bridge(int, int) as m:
        m[1] = 1
        m[2] = 2
        assert ferrymap.last_seq() == 2
        seen = []

        def other():
            seen.append(ferrymap.last_seq())  # a fresh thread: none yet
            m[3] = 3
            seen.append(ferrymap.last_seq())

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert seen == [0, 3]
        assert ferrymap.last_seq() == 2  # unchanged by the other thread
        _ = m[1]  # reads are not numbered
        assert ferrymap.last_seq() == 2
        m.pop(404, None)  # removing nothing changes nothing
        assert ferrymap.last_seq() == 2 and m.seq == 3


# ---- every operation, bridge against direct ------------------------------------------


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as e:  # the exception's type is the outcome
        return ("err", type(e).__name__)


def make_ops(k, v, rnd):
    keys, values = KEY_SAMPLES[k], VALUE_SAMPLES[v]
    key, val = (lambda: rnd.choice(keys)), (lambda: rnd.choice(values))
    numeric = v in (int, float)

    def delta():
        return (
            rnd.choice([1, -3, 2**62]) if v is int else rnd.choice([0.5, -2.0, 1e300])
        )

    def new_value(old):
        if v is int:
            return old // 3
        if v is float:
            return old / 2
        return old[::-1]  # same length (str: same UTF-8 length)

    ops = [
        (5, lambda m, a, b: m.__setitem__(a, b), lambda: (key(), val())),
        (4, lambda m, a, b: m[a], lambda: (key(), None)),
        (2, lambda m, a, b: m.__delitem__(a), lambda: (key(), None)),
        (2, lambda m, a, b: m.get(a, "dflt"), lambda: (key(), None)),
        (2, lambda m, a, b: m.pop(a, None), lambda: (key(), None)),
        (1, lambda m, a, b: m.pop(a), lambda: (key(), None)),
        (2, lambda m, a, b: m.setdefault(a, b), lambda: (key(), val())),
        (2, lambda m, a, b: a in m, lambda: (key(), None)),
        (1, lambda m, a, b: len(m), lambda: (None, None)),
        (1, lambda m, a, b: m.update({a: b}, **{}), lambda: (key(), val())),
        (
            1,
            lambda m, a, b: m.update(a),
            lambda: ([(key(), val()), (key(), val())], None),
        ),
        (
            1,
            lambda m, a, b: m.set_many(a, b),
            lambda: ([key() for _ in range(4)], [val() for _ in range(4)]),
        ),
        (
            1,
            lambda m, a, b: m.remove_many(a),
            lambda: ([key() for _ in range(3)], None),
        ),
        (
            2,
            lambda m, a, b: m.get_many(a, "dflt"),
            lambda: ([key() for _ in range(6)], None),
        ),
        (1, lambda m, a, b: m.update_value(a, new_value), lambda: (key(), None)),
        (
            1,
            lambda m, a, b: sorted(m.to_dict().items(), key=repr),
            lambda: (None, None),
        ),
        (1, lambda m, a, b: sorted(m.items(), key=repr), lambda: (None, None)),
        (1, lambda m, a, b: sorted(m, key=repr), lambda: (None, None)),
        (1, lambda m, a, b: sorted(m.values(), key=repr), lambda: (None, None)),
        (1, lambda m, a, b: m.stats()["len"], lambda: (None, None)),
        (1, lambda m, a, b: m == dict(m.items()), lambda: (None, None)),
        (1, lambda m, a, b: m.reserve(10), lambda: (None, None)),
        (
            1,
            lambda m, a, b: m.__setitem__(a, object()),
            lambda: (key(), None),
        ),  # wrong kind
        (1, lambda m, a, b: m[3.5], lambda: (None, None)),  # wrong key kind
    ]
    if numeric:
        ops.append((3, lambda m, a, b: m.add(a, b), lambda: (key(), delta())))
    else:
        ops.append(
            (1, lambda m, a, b: m.add(a, 1), lambda: (key(), None))
        )  # WrongKindError
        ops.append((2, lambda m, a, b: bytes(m.view(a)), lambda: (key(), None)))
    if k is int:
        ops.append(
            (
                2,
                lambda m, a, b: list(
                    m.get_many(array.array("q", a), *([0] if numeric else []))
                ),
                lambda: ([key() for _ in range(5)], None),
            )
        )
    ops.append((1, lambda m, a, b: m.clear(), lambda: (None, None)))
    weights = [w for w, _, _ in ops]
    return ops, weights


def replay(events):
    """The contents a change feed describes."""
    d = {}
    for e in events:
        if e.op in ("insert", "add", "update"):
            d[e.key] = e.value
        elif e.op == "remove":
            del d[e.key]
        elif e.op == "clear":
            d.clear()
    return d


@pytest.mark.parametrize("schema", SCHEMAS, ids=schema_id)
def test_random_operations_same_on_bridge_and_direct(schema):
    k, v = schema
    rnd = random.Random(f"{schema_id(schema)}-7")
    direct = ferrymap.Map(k, v)
    bridge = ferrymap.Map.bridge(k, v, queue=8)
    feed = bridge.subscribe(1 << 16)
    ops, weights = make_ops(k, v, rnd)
    for step in range(400):
        _, op, args = rnd.choices(ops, weights)[0]
        a, b = args()
        got_direct = outcome(lambda: op(direct, a, b))
        got_bridge = outcome(lambda: op(bridge, a, b))
        assert got_bridge == got_direct, f"step {step}"
    assert bridge == direct.to_dict()
    # Everything else a Map does, once more.
    assert pickle.loads(pickle.dumps(bridge)) == direct
    exported = ferrymap.Map.import_(bridge.export())
    assert exported == direct and not exported.is_bridge
    exported.close()
    cp = copy.copy(bridge)
    assert cp == direct
    cp.close()
    assert repr(bridge).startswith(
        f"ferrymap.Map(key={k.__name__}, value={v.__name__}, len={len(direct)}"
    )
    # The change feed: every mutation, numbered 1..seq without gaps,
    # describing exactly the map's contents.
    events = []
    while True:
        try:
            events.append(feed.next(0))
        except ferrymap.FerryTimeoutError:
            break
    assert [e.seq for e in events] == list(range(1, bridge.seq + 1))
    assert all(e.lost == 0 for e in events)
    assert replay(events) == direct.to_dict()
    if bridge:
        popped = bridge.popitem()
        assert popped in direct.items()
    feed.close()
    bridge.close()
    direct.close()


@pytest.mark.parametrize("schema", SCHEMAS, ids=schema_id)
def test_get_many_every_kind_in_one_batch(schema):
    """get_many uses a batch call for every key and value kind (large values
    make the core ask for a bigger buffer), on both kinds of map."""
    k, v = schema
    keys = KEY_SAMPLES[k]
    values = VALUE_SAMPLES[v]
    if v in (str, bytes):
        values = [values[0] * 0, values[1] * 5000] + values[2:]  # big and empty values
    data = dict(zip(keys, values))
    probe = keys + ([10**12] if k is int else ["absent" if k is str else b"absent"])
    for m in (ferrymap.Map(k, v, data), ferrymap.Map.bridge(k, v, data)):
        assert m.get_many(probe, "no") == [data.get(x, "no") for x in probe]
        assert m.get_many(iter(probe)) == [data.get(x) for x in probe]
        if k is int:
            assert list(
                m.get_many(array.array("q", probe), *([0] if v in (int, float) else []))
            ) == [data.get(x, 0 if v in (int, float) else None) for x in probe]
        m.close()


def test_iteration_and_views_while_threads_write():
    m = ferrymap.Map.bridge(int, int, {i: i for i in range(2000)})
    it = m._iter_items()
    stop = threading.Event()

    def writer(seed):
        r = random.Random(seed)
        while not stop.is_set():
            x = r.randrange(4000)
            m[x] = -x
            m.pop(r.randrange(4000), None)

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(2)]
    for t in threads:
        t.start()
    try:
        assert dict(it) == {i: i for i in range(2000)}  # the snapshot, undisturbed
        for _ in range(3):
            snap = m._iter_items()
            expected = snap.__length_hint__()
            assert len(dict(snap)) == expected
    finally:
        stop.set()
        for t in threads:
            t.join()
    m.close()


# ---- order -------------------------------------------------------------------------


def test_fifo_per_thread_and_one_total_order():
    threads_n, per_thread = 8, 300
    m = ferrymap.Map.bridge(int, int, queue=64)
    feed = m.subscribe(1 << 20)
    tickets, seqs = [], {}
    start = threading.Barrier(threads_n)

    def work(t):
        mine, pending = [], []
        start.wait()
        for i in range(per_thread):
            key = t * 1_000_000 + i
            if i % 7 == 3:
                # Asynchronous requests join the same queue, in order.
                pending.append(m.submit([("insert", key, i)]))
            else:
                m[key] = i
                mine.append((key, ferrymap.last_seq()))
        tickets.extend(pending)
        seqs[t] = mine

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in tickets:
        (r,) = t.results(WAIT)
        assert r.ok and r.seq > 0
    total = threads_n * per_thread
    assert m.seq == total == len(m)
    events = [feed.next(WAIT) for _ in range(total)]
    assert [e.seq for e in events] == list(range(1, total + 1))  # no gaps, one order
    seq_of = {e.key: e.seq for e in events}
    for t in range(threads_n):
        order = [e.key for e in events if e.key // 1_000_000 == t]
        assert order == [
            t * 1_000_000 + i for i in range(per_thread)
        ]  # FIFO per thread
        # last_seq() read right after each call is that mutation's number.
        assert all(seq_of[key] == s for key, s in seqs[t])
    feed.close()
    m.close()


# ---- tickets -------------------------------------------------------------------------


def test_ticket_results_decoded():
    with ferrymap.Map.bridge(str, float, {"a": 1.5}) as m:
        t = m.submit(
            [
                ("insert", "b", 2),
                ferrymap.Request.get("a"),
                ferrymap.Request.add("a", 1.0),
                ("get", "zz"),
                ("contains", "b"),
                ["remove", "b"],
                ferrymap.Request.remove("b"),
                ("len",),
                ferrymap.Request("add", "c", 0.25),
                (1, "d", 3.0),  # op as its fm_op code
            ]
        )
        assert len(t) == 10
        rs = t.results(WAIT)
        assert (
            t.done() and t.wait(0) and t.handle == 0
        )  # the core ticket is freed once read
        R = ferrymap.Result
        assert rs == [
            R(0, False, 2, 0, None),
            R(0, True, 0, 0, 1.5),
            R(0, False, 3, 0, 2.5),
            R(0, False, 0, 0, None),
            R(0, True, 0, 0, None),
            R(0, True, 4, 0, None),
            R(0, False, 0, 0, None),
            R(0, False, 0, 1, None),
            R(0, False, 5, 0, 0.25),
            R(0, False, 6, 0, None),
        ]
        assert all(r.ok for r in rs)
        assert t.results() == rs  # kept
        t.close()
        assert t.results() == rs  # still kept after close
        assert "done" in repr(t)


def test_ticket_per_request_errors_and_bad_batches():
    with ferrymap.Map.bridge(int, int, {1: 2**63 - 1}) as m:
        (r,) = m.submit([("add", 1, 1)]).results(WAIT)
        assert r.status == ferrymap.IntegerOverflowError.status and not r.ok
        with pytest.raises(ferrymap.IntegerOverflowError):
            r.raise_for_status()
        seq = m.seq
        # Bad batches raise at submission and queue nothing.
        for bad, exc in [
            ([("insert", 1, 1), ("insert", "x", 1)], ferrymap.WrongKindError),
            ([("insert", 1, 1.5)], ferrymap.WrongKindError),
            ([("frobnicate", 1)], ValueError),
            ([("update", 1, 2)], ValueError),
            ([("get",)], ValueError),
            ([("get", 1, 2)], ValueError),
            ([("len", 1)], ValueError),
            ([()], ValueError),
            ([99], TypeError),
            ([(99,)], ValueError),
            ([], ValueError),
            ([("insert", 2**64, 1)], OverflowError),
        ]:
            with pytest.raises(exc):
                m.submit(bad)
        assert m.seq == seq and m[1] == 2**63 - 1
    with ferrymap.Map.bridge(bytes, str) as m:
        with pytest.raises(ferrymap.WrongKindError):
            m.submit([("add", b"k", 1)])
        (r,) = m.submit([("insert", bytearray(b"k"), "v")]).results(WAIT)
        assert r.ok and m[b"k"] == "v"


def test_ticket_closed_before_reading():
    with ferrymap.Map.bridge(int, int) as m:
        with m.submit([("insert", 1, 1)]) as t:
            assert t.wait(WAIT)
        with pytest.raises(ferrymap.ClosedError):
            t.results()
        with pytest.raises(ferrymap.ClosedError):
            t.done()
        assert "closed" in repr(t)
        assert m[1] == 1  # the batch ran anyway
        m.submit([("insert", 2, 2)])  # dropped unread: freed by garbage collection
        assert m[2] == 2


def test_tickets_wait_and_time_out_while_the_owner_is_stalled():
    m = ferrymap.Map.bridge(int, int, {0: 0}, queue=4)
    with stalled(m, 0) as answer:
        t = m.submit([("get", 0), ("len",)])
        assert not t.done()
        assert t.wait(0.01) is False
        with pytest.raises(ferrymap.FerryTimeoutError):
            t.results(timeout=0.01)
        assert "pending" in repr(t)
        assert m.seq == 1  # the initial data; reading it never waits for the owner
        more = [m.submit([("insert", i, i)]) for i in range(1, 4)]  # the queue holds 4
        # try_submit fails at once; a blocking submit waits, then times out.
        with pytest.raises(ferrymap.QueueFullError):
            m.try_submit([("len",)])
        with pytest.raises(ferrymap.QueueFullError):
            m.submit([("len",)], timeout=0)
        t0 = time.monotonic()
        with pytest.raises(ferrymap.FerryTimeoutError):
            m.submit([("len",)], timeout=0.1)
        assert time.monotonic() - t0 >= 0.09
        # A blocking submit in another thread goes through once room appears.
        late = []
        th = threading.Thread(
            target=lambda: late.append(m.submit([("insert", 9, 9)], timeout=WAIT))
        )
        th.start()
        time.sleep(0.05)
        assert not late
    th.join(WAIT)
    assert answer == [1]  # the stalled update_value got its answer
    assert t.results(WAIT) == [
        (0, True, 0, 0, 1),
        (0, False, 0, 1, None),
    ]  # after the update
    assert [r.seq for tk in more for r in tk.results(WAIT)] == [
        3,
        4,
        5,
    ]  # after the update's 2
    assert late[0].results(WAIT)[0].seq == 6
    assert m.to_dict() == {0: 1, 1: 1, 2: 2, 3: 3, 9: 9}
    m.close()


# ---- the GIL and the owner thread ------------------------------------------------------


def run_child(code, cwd, timeout=120):
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_no_deadlock_between_callbacks_on_the_owner_thread_and_callers(tmp_path):
    """update_value callbacks run Python on the owner thread (they need the
    GIL) while other threads call into the same bridge map, submit, wait,
    read the feed, close it: every call must wait with the GIL released.
    In a child process: a deadlock fails the test instead of hanging it."""
    out = run_child(
        """
        import array, threading, time, ferrymap
        m = ferrymap.Map.bridge(int, int, {i: i for i in range(100)}, queue=8)
        feed = m.subscribe(1 << 20)
        stop = threading.Event()
        def busy(v):
            x = 0
            for i in range(3000):   # Python work on the owner thread, with the GIL
                x += i
            return v + 1
        def updater():
            try:
                while not stop.is_set():
                    m.update_value(5, busy)
            except ferrymap.ClosedError:
                pass
        ts = [threading.Thread(target=updater) for _ in range(2)]
        for t in ts: t.start()
        n = 0
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            m[n % 100] = n; _ = m[7]; _ = 3 in m; _ = len(m); _ = m.get(1)
            _ = m.get_many(array.array('q', range(10))); _ = list(m.items())[:1]
            m.add(9, 1); m.set_many([1, 2], [3, 4]); m.remove_many([200])
            m.submit([("get", 1), ("insert", 2, n)]).results()
            _ = feed.next(5); _ = m.stats(); _ = repr(m)
            n += 1
        # Closing while callbacks are in flight drains them.
        closer = threading.Thread(target=m.close); closer.start(); closer.join(30)
        assert not closer.is_alive()
        stop.set()
        for t in ts: t.join(30)
        print("ok", n)
        """,
        tmp_path,
    )
    assert out.startswith("ok")


def test_callbacks_on_the_owner_thread():
    m = ferrymap.Map.bridge(int, int, {1: 10})
    other = ferrymap.Map(int, int)
    seen = {}

    def fn(v):
        seen["thread"] = threading.current_thread().name
        with pytest.raises(ferrymap.ReentrantError):
            m[1]  # its own map, from its owner thread
        with pytest.raises(ferrymap.ReentrantError):
            m.close()
        other[1] = v  # another map works
        return v + 1

    assert m.update_value(1, fn) == 11
    assert not m.closed and m[1] == 11 and other[1] == 10

    # What would wait for the owner thread from the owner thread itself is
    # refused; what never waits works.
    feed = m.subscribe()
    later = []

    def waits(v):
        with pytest.raises(ferrymap.ReentrantError):
            m.submit([("len",)])
        t = m.try_submit([("insert", 5, 5)])  # runs after this callback
        assert t.wait(0) is False and not t.done()
        with pytest.raises(ferrymap.ReentrantError):
            t.wait(1)
        with pytest.raises(ferrymap.ReentrantError):
            feed.next(1)
        with pytest.raises(ferrymap.FerryTimeoutError):
            feed.next(0)
        later.append(t)
        return v

    m.update_value(1, waits)
    assert later[0].results(WAIT)[0].ok and m[5] == 5
    assert [e.op for e in (feed.next(WAIT), feed.next(WAIT))] == ["update", "insert"]
    feed.close()
    assert seen["thread"] != threading.current_thread().name  # not the caller's thread

    def boom(v):
        raise ValueError("no")

    seq = m.seq
    with pytest.raises(ValueError, match="no"):
        m.update_value(1, boom)
    assert m[1] == 11 and m.seq == seq  # unchanged, nothing committed
    with pytest.raises(KeyError):
        m.update_value(2, fn)
    other.close()
    m.close()


# ---- close ---------------------------------------------------------------------------


def test_close_with_thousands_of_requests_in_flight():
    n_threads, per_thread = 3, 1000
    m = ferrymap.Map.bridge(int, int, {0: 0}, queue=8192)
    feed = m.subscribe(1 << 16)
    borrowed = ferrymap.Map.attach(m.handle)
    accepted, refused = [], []
    with stalled(m, 0) as answer:
        # Thousands of batches queue up behind the stalled owner.
        def producer(t):
            for i in range(per_thread):
                accepted.append(
                    borrowed.submit([("insert", 1 + t * 100_000 + i, i), ("get", 0)])
                )

        ps = [threading.Thread(target=producer, args=(t,)) for t in range(n_threads)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        # A synchronous call waits behind them (in another thread): it is
        # answered, or refused if it comes after the close.
        sync = []

        def sync_call():
            try:
                sync.append(borrowed.add(0, 5))
            except ferrymap.ClosedError as e:
                sync.append(e)

        st = threading.Thread(target=sync_call)
        st.start()
        closer = threading.Thread(target=m.close)  # waits for the queue to drain
        closer.start()
        deadline = time.monotonic() + WAIT
        while True:  # until the core says closed: later requests are refused
            try:
                accepted.append(borrowed.try_submit([("insert", -1, -1)]))
            except ferrymap.BridgeClosedError:
                break
            except ferrymap.QueueFullError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.001)
        for req in ([("len",)], [("insert", 5, 5)]):
            with pytest.raises(ferrymap.BridgeClosedError):
                borrowed.submit(req)
            refused.append(req)
        with pytest.raises(ferrymap.ClosedError):
            m.submit([("len",)])  # this object is closed already
        assert closer.is_alive()  # still draining behind the stall
    closer.join(WAIT)
    st.join(WAIT)
    assert not closer.is_alive()
    assert answer == [1]
    # Every accepted request was answered; none lost.
    assert len(accepted) >= n_threads * per_thread
    statuses = [r.status for t in accepted for r in t.results(WAIT)]
    assert statuses == [0] * len(statuses)
    assert len(sync) == 1 and (
        sync[0] == 6 or isinstance(sync[0], ferrymap.BridgeClosedError)
    )
    # The feed has every committed mutation, then says closed.
    events = list(feed)
    assert [e.seq for e in events] == list(
        range(2, len(events) + 2)
    )  # 1: the initial data
    assert events[0].op == "update"  # the stalled update, then the queue in order
    inserted = {e.key for e in events if e.op == "insert"}
    assert {
        1 + t * 100_000 + i for t in range(n_threads) for i in range(per_thread)
    } <= inserted
    with pytest.raises(ferrymap.BridgeClosedError):
        feed.next(0)
    with pytest.raises(ferrymap.InvalidHandleError):
        borrowed[0]  # the map is gone
    borrowed.close()
    feed.close()


def test_garbage_collected_bridge_map_closes():
    before = owner_threads()
    m = ferrymap.Map.bridge(int, int)
    feed = m.subscribe(4)
    m[1] = 1
    del m  # freed by the destructor (GIL released while it drains)
    assert owner_threads() == before
    assert feed.next(WAIT).key == 1
    with pytest.raises(ferrymap.BridgeClosedError):
        feed.next(WAIT)
    assert list(feed) == []
    feed.close()


# ---- change feed ---------------------------------------------------------------------


def test_slow_subscriber_is_told_exactly_what_it_lost():
    m = ferrymap.Map.bridge(int, str)
    fast, slow = m.subscribe(1 << 16), m.subscribe(10)
    for i in range(1, 101):
        m[i] = str(i)
    first = slow.next(0)
    assert (first.seq, first.lost) == (91, 90)
    rest = [slow.next(0) for _ in range(9)]
    assert [e.seq for e in rest] == list(range(92, 101)) and all(
        e.lost == 0 for e in rest
    )
    assert slow.lost == 90
    with pytest.raises(ferrymap.FerryTimeoutError):
        slow.next(0.01)
    m.submit([("insert", i, "x") for i in range(101, 106)]).results(WAIT)
    assert [(e.seq, e.lost) for e in (slow.next(0) for _ in range(5))] == [
        (s, 0) for s in range(101, 106)
    ]
    for i in range(106, 131):
        m[i] = "y"
    e = slow.next(0)
    assert (e.seq, e.lost) == (121, 15)
    assert slow.lost == 105
    # The fast subscriber lost nothing, and saw every kind of event.
    del m[1]
    m.update_value(2, lambda s: "Z")
    m.clear()
    events = [fast.next(0) for _ in range(133)]
    assert [e.seq for e in events] == list(range(1, 134)) and fast.lost == 0
    assert events[-3:] == [
        ferrymap.Event(131, "remove", 1, None, 0),
        ferrymap.Event(132, "update", 2, "Z", 0),
        ferrymap.Event(133, "clear", None, None, 0),
    ]
    m.close()
    rest = list(slow)  # 124..133: two more were dropped meanwhile
    assert [(e.seq, e.lost) for e in rest] == [(124, 2)] + [
        (s, 0) for s in range(125, 134)
    ]
    assert slow.lost == 107
    fast.close()
    slow.close()
    with pytest.raises(ferrymap.ClosedError):
        slow.next(0)


def test_subscription_iterates_until_close():
    m = ferrymap.Map.bridge(bytes, int)
    with m.subscribe() as feed:
        got = []
        reader = threading.Thread(
            target=lambda: got.extend(feed)
        )  # blocks until the map closes
        reader.start()
        for i in range(50):
            m.add(b"n", i)
        time.sleep(0.05)
        m.close()
        reader.join(WAIT)
        assert not reader.is_alive()
        assert [e.value for e in got] == [sum(range(i + 1)) for i in range(50)]
        assert {e.op for e in got} == {"add"} and {e.key for e in got} == {b"n"}
    assert feed.closed


# ---- asyncio -------------------------------------------------------------------------


def test_asyncio_submit_await_and_feed():
    async def main():
        m = ferrymap.Map.bridge(int, str)
        feed = m.subscribe()
        assert await m.aset(1, "one") == 1
        assert await m.aget(1) == "one"
        assert await m.aget(2) is None and await m.aget(2, "d") == "d"
        rs = await m.asubmit([("insert", 2, "two"), ("len",)])
        assert [r.len for r in rs] == [0, 2]
        t = m.submit([ferrymap.Request.get(2)])
        assert (await t)[0].value == "two"
        # Many at once.
        await asyncio.gather(*(m.aset(i, str(i)) for i in range(10, 110)))
        values = await asyncio.gather(*(m.aget(i) for i in range(10, 110)))
        assert values == [str(i) for i in range(10, 110)]

        async def consume():
            return [e async for e in feed]

        reader = asyncio.create_task(consume())
        await asyncio.sleep(0.02)
        await asyncio.get_running_loop().run_in_executor(None, m.close)
        events = await asyncio.wait_for(reader, WAIT)
        assert [e.seq for e in events] == list(range(1, 103))
        feed.close()

    asyncio.run(main())


def test_asyncio_never_blocks_the_loop_and_cancelling_loses_nothing():
    m = ferrymap.Map.bridge(int, int, {0: 0}, queue=1)
    feed = m.subscribe()

    async def wait_for_ticket(t):
        return await t

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        tick = asyncio.create_task(ticker())
        with stalled(m, 0):
            first = m.submit([("len",)])  # fills the queue
            waiting = asyncio.create_task(
                m.asubmit([("insert", 7, 7)])
            )  # must wait for room
            pending = asyncio.create_task(wait_for_ticket(first))
            await asyncio.sleep(0.1)
            assert not waiting.done() and not pending.done()
            assert ticks >= 10  # the loop kept running
            # A wait for an event, cancelled: the event is not lost.
            nxt = asyncio.create_task(feed.__anext__())
            await asyncio.sleep(0.05)
            nxt.cancel()
            with pytest.raises(asyncio.CancelledError):
                await nxt
        rs = await asyncio.wait_for(waiting, WAIT)
        assert rs[0].ok and rs[0].seq == 3
        assert (await asyncio.wait_for(pending, WAIT))[0].len == 1
        ev = await asyncio.wait_for(feed.__anext__(), WAIT)
        assert (ev.seq, ev.op, ev.key, ev.value) == (
            2,
            "update",
            0,
            1,
        )  # the stalled update, first
        assert (await feed.__anext__()).key == 7
        tick.cancel()

    asyncio.run(main())
    feed.close()
    m.close()


class Interrupted(Exception):
    pass


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signals go to the main thread",
)
def test_long_waits_can_be_interrupted():
    """Waits run in slices with the signal handlers in between: Ctrl-C (here
    a SIGINT whose handler raises) interrupts them; nothing is lost."""
    import signal

    def handler(signum, frame):
        raise Interrupted()

    old = signal.signal(signal.SIGINT, handler)
    m = ferrymap.Map.bridge(int, int, {0: 0}, queue=1)
    feed = m.subscribe()
    try:
        with stalled(m, 0):
            t = m.submit([("len",)])  # fills the queue
            for wait in (
                lambda: t.wait(),
                lambda: t.results(),
                lambda: feed.next(),
                lambda: m.submit([("insert", 1, 1)]),
            ):
                timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
                timer.start()
                t0 = time.monotonic()
                with pytest.raises(Interrupted):
                    wait()
                assert time.monotonic() - t0 < WAIT
                timer.join()
        assert t.results(WAIT)[0].len == 1
        assert m.seq == 2 and 1 not in m  # the interrupted submit queued nothing
    finally:
        signal.signal(signal.SIGINT, old)
        feed.close()
        m.close()


def test_closing_a_subscription_another_thread_reads():
    m = ferrymap.Map.bridge(int, int)
    feed = m.subscribe()
    got = []

    def reader():
        try:
            feed.next()
        except ferrymap.ClosedError as e:
            got.append(e)

    th = threading.Thread(target=reader)
    th.start()
    time.sleep(0.05)
    feed.close()
    th.join(WAIT)
    assert not th.is_alive() and isinstance(got[0], ferrymap.ClosedError)
    assert feed.closed and "closed" in repr(feed)
    m.close()
