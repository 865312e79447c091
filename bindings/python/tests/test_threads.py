"""Concurrency: snapshot iteration under concurrent writers, a thread-pool
stress test where nothing may be lost, callbacks that must not deadlock
with writers, and closing a map other threads are using."""

import array
import random
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import ferrymap

N = 20_000


def _writers(m, stop, n_threads=3):
    def work(seed):
        rnd = random.Random(seed)
        i = 0
        while not stop.is_set():
            op = rnd.random()
            k = rnd.randrange(2 * N)
            if op < 0.4:
                m[k] = -k
            elif op < 0.7:
                m.pop(k, None)
            elif op < 0.8:
                m.set_many(
                    array.array("q", range(k, k + 50)), array.array("q", [7] * 50)
                )
            elif op < 0.85:
                m.clear()
            else:
                m.add(k, 1)
            i += 1

    threads = [threading.Thread(target=work, args=(s,)) for s in range(n_threads)]
    for t in threads:
        t.start()
    return threads


def test_snapshot_iteration_while_threads_write():
    m = ferrymap.Map(int, int, {i: i for i in range(N)})
    items_it = m._iter_items()
    keys_it = iter(m)
    values_view_it = iter(m.values())
    stop = threading.Event()
    threads = _writers(m, stop)
    try:
        seen_items = dict(items_it)  # never "changed size during iteration"
        seen_keys = list(keys_it)
        seen_values = list(values_view_it)
        # Snapshots taken mid-storm: each one is complete (its length is
        # the snapshot's own count) and never fails.
        for _ in range(5):
            it = m._iter_items()
            expected = it.__length_hint__()
            assert len(dict(it)) == expected
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert seen_items == {i: i for i in range(N)}
    assert sorted(seen_keys) == list(range(N))
    assert sorted(seen_values) == list(range(N))
    m.close()


def test_writing_to_the_map_while_iterating_it():
    with ferrymap.Map(int, int, {i: i for i in range(1000)}) as m:
        count = 0
        for k in m:
            m[k + 1000] = k  # a dict would raise RuntimeError
            del m[k]
            count += 1
        assert count == 1000
        assert m == {k + 1000: k for k in range(1000)}
        for k, v in m.items():
            m.clear()
        assert len(m) == 0


def test_snapshot_survives_free():
    m = ferrymap.Map(str, bytes, {f"k{i}": b"v%d" % i for i in range(500)})
    it = m._iter_items()
    m.close()
    assert dict(it) == {f"k{i}": b"v%d" % i for i in range(500)}


def test_thread_pool_stress_nothing_lost():
    counters = ferrymap.Map(int, int)
    floats = ferrymap.Map(str, float)
    table = ferrymap.Map(str, str)
    tasks = 64
    per_task = 2_000

    def task(t):
        base = t * per_task
        keys = array.array("q", range(base, base + per_task))
        for i in range(per_task):
            counters.add(i % 10, 1)
            floats.add("x", 0.5)
        table.set_many([f"{t}:{i}" for i in range(100)], [str(i) for i in range(100)])
        local = ferrymap.Map.attach(counters.handle)  # a borrowed view of the same map
        local.add(1000 + t, t)
        got = local.get_many(array.array("q", [1000 + t]))
        local.close()
        assert got[0] == t
        assert len(list(table.items())) >= 100
        return sum(keys)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(task, range(tasks)))
    assert len(results) == tasks
    for i in range(10):
        assert counters[i] == tasks * per_task // 10
    assert floats["x"] == tasks * per_task * 0.5
    assert len(table) == tasks * 100
    assert all(table[f"{t}:{i}"] == str(i) for t in range(tasks) for i in (0, 99))
    assert all(counters[1000 + t] == t for t in range(tasks))
    for m in (counters, floats, table):
        m.close()


def test_one_iterator_shared_by_threads_hands_out_each_entry_once():
    n = 50_000
    with ferrymap.Map(int, int, {i: i for i in range(n)}) as m:
        it = iter(m)
        out = [[] for _ in range(4)]

        def drain(i):
            for k in it:
                out[i].append(k)

        threads = [threading.Thread(target=drain, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seen = [k for part in out for k in part]
        assert len(seen) == n and set(seen) == set(range(n))


def test_close_while_other_threads_use_the_map():
    m = ferrymap.Map(int, int, {i: i for i in range(1000)})
    errors = []
    started = threading.Barrier(5)

    def user(seed):
        rnd = random.Random(seed)
        started.wait()
        while True:
            try:
                k = rnd.randrange(1000)
                m[k] = m.get(k, 0) + 1
                m.get_many(array.array("q", range(100)), default=0)
                list(m.keys())[:1]
            except (ferrymap.ClosedError, ferrymap.InvalidHandleError):
                return
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)
                return

    threads = [threading.Thread(target=user, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    started.wait()
    m.close()
    for t in threads:
        t.join()
    assert errors == []


DEADLOCK_SCRIPT = textwrap.dedent(
    """
    import threading, time, ferrymap
    m = ferrymap.Map(int, int, {i: 0 for i in range(64 * 8)})
    stop = threading.Event()

    def slow(x):
        # Python work long enough for the interpreter to switch threads,
        # while the core holds the key's shard lock.
        t = time.perf_counter()
        while time.perf_counter() - t < 0.002:
            pass
        time.sleep(0.001)
        return x + 1

    def updater():
        for _ in range(100):
            m.update_value(0, slow)

    def writer():
        i = 0
        while not stop.is_set():
            k = i % (64 * 8)
            if k != 0:  # key 0 belongs to the updaters (read-then-write is not atomic)
                m[k] = m.get(k, 0)
            m.add(k, 0)
            m.pop(10_000 + k, None)
            if i % 50 == 0:
                list(m.items())
                m.clone().close()
            i += 1

    ws = [threading.Thread(target=writer) for _ in range(3)]
    us = [threading.Thread(target=updater) for _ in range(2)]
    for t in ws + us:
        t.start()
    for t in us:
        t.join()
    stop.set()
    for t in ws:
        t.join()
    assert m[0] == 200, m[0]
    m.close()
    print("ok")
    """
)


def test_update_value_callbacks_do_not_deadlock_with_writers(tmp_path):
    # Run in a child process: a deadlock must fail the test, not hang it.
    r = subprocess.run(
        [sys.executable, "-c", DEADLOCK_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
