"""Atomic single-key operations: swap, compare_and_swap, get_or_insert,
compute, and the dict methods that must be atomic on a map shared with
other threads and languages (setdefault, pop, popitem)."""

import math
import threading

import pytest

import ferrymap


@pytest.fixture(params=["direct", "bridge"])
def make(request):
    def new(key_kind, value_kind):
        if request.param == "bridge":
            return ferrymap.Map.bridge(key_kind, value_kind)
        return ferrymap.Map(key_kind, value_kind)

    return new


def test_swap_and_get_or_insert(make):
    m = make("int", "int")
    assert m.swap(1, 10) is None
    assert m.swap(1, 11) == 10
    assert m[1] == 11
    assert m.get_or_insert(2, 20) == (20, True)
    assert m.get_or_insert(2, 21) == (20, False)
    with pytest.raises(TypeError):
        m.swap(1, "x")
    assert m[1] == 11


def test_compare_and_swap(make):
    m = make("str", "str")
    m["k"] = "a"
    assert m.compare_and_swap("k", "a", "b") is True
    assert m.compare_and_swap("k", "a", "c") is False
    assert m["k"] == "b"
    with pytest.raises(KeyError):
        m.compare_and_swap("absent", "a", "b")
    assert "absent" not in m


def test_compare_and_swap_floats_by_bits(make):
    m = make("int", "float")
    m[1] = 0.0
    assert m.compare_and_swap(1, -0.0, 1.0) is False
    m[1] = math.nan
    assert m.compare_and_swap(1, math.nan, 2.5) is True
    assert m[1] == 2.5


def test_compute(make):
    m = make("bytes", "bytes")
    assert m.compute(b"k", lambda cur: b"new" if cur is None else cur + b"!") == b"new"
    assert m.compute(b"k", lambda cur: cur + b" and longer") == b"new and longer"
    assert m[b"k"] == b"new and longer"
    assert m.compute(b"k", lambda cur: None) is None
    assert b"k" not in m

    def fail(cur):
        raise ValueError("no")

    m[b"k"] = b"kept"
    with pytest.raises(ValueError, match="no"):
        m.compute(b"k", fail)
    assert m[b"k"] == b"kept"
    with pytest.raises(TypeError):
        m.compute(b"k", lambda cur: 5)
    assert m[b"k"] == b"kept"
    with pytest.raises(TypeError):
        m.compute(b"k", "not callable")


def test_setdefault_pop_popitem(make):
    m = make("int", "str")
    assert m.setdefault(1, "a") == "a"
    assert m.setdefault(1, "b") == "a"
    with pytest.raises(TypeError):
        m.setdefault(2)  # None would be inserted
    assert m.setdefault(1) == "a"  # present: the default is never used
    assert m.pop(1) == "a"
    assert m.pop(1, None) is None
    m[3] = "c"
    assert m.popitem() == (3, "c")
    with pytest.raises(KeyError):
        m.popitem()


def test_counting_by_compare_and_swap_loses_nothing(make):
    m = make("int", "int")
    m[0] = 0
    threads, rounds = 4, 300

    def work():
        for _ in range(rounds):
            while True:
                cur = m[0]
                if m.compare_and_swap(0, cur, cur + 1):
                    break

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert m[0] == threads * rounds


def test_setdefault_never_overwrites_a_racing_insert(make):
    """Many threads setdefault the same fresh keys with their own value:
    every thread must get back the one value that was stored."""
    m = make("int", "int")
    threads, keys = 4, 500
    results = [[None] * keys for _ in range(threads)]

    def work(t):
        for k in range(keys):
            results[t][k] = m.setdefault(k, t)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for k in range(keys):
        assert {results[t][k] for t in range(threads)} == {m[k]}


def test_pop_returns_what_it_removed(make):
    """A writer keeps overwriting one key while another thread pops it:
    each popped value was stored, and nothing popped twice."""
    m = make("int", "int")
    stop = threading.Event()
    written = []

    def writer():
        i = 0
        while not stop.is_set():
            m[7] = i
            written.append(i)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    popped = []
    for _ in range(2000):
        v = m.pop(7, None)
        if v is not None:
            popped.append(v)
    stop.set()
    t.join()
    assert len(popped) == len(set(popped))
    assert set(popped) <= set(written)
