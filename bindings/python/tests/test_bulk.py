"""get_many / set_many / remove_many over lists and buffers, and views."""

import array
import gc

import pytest

import ferrymap

np = pytest.importorskip("numpy")


def test_set_get_remove_many_lists():
    with ferrymap.Map(int, int) as m:
        assert m.set_many([1, 2, 3], [10, 20, 30]) == 0
        assert m.set_many([3, 4], [31, 40]) == 1
        assert m.get_many([1, 2, 3, 4, 5]) == [10, 20, 31, 40, None]
        assert m.get_many([5, 1], default=-1) == [-1, 10]
        assert m.get_many(k for k in (1, 2)) == [10, 20]
        assert m.get_many([]) == []
        assert m.remove_many([1, 5]) == 1
        assert m.remove_many(iter([2, 3])) == 2
        assert m == {4: 40}


def test_set_many_pairs_and_mapping():
    with ferrymap.Map(str, float) as m:
        assert m.set_many({"a": 1.0, "b": 2.5}) == 0
        assert m.set_many([("b", 3.0), ("c", 4)]) == 1
        assert m == {"a": 1.0, "b": 3.0, "c": 4.0}
        assert m.get_many(["a", "zz", "c"]) == [1.0, None, 4.0]


def test_int_buffers_zero_object_path():
    with ferrymap.Map(int, int) as m:
        keys = array.array("q", range(0, 2000, 2))
        values = array.array("q", (k * 3 for k in keys))
        assert m.set_many(keys, values) == 0
        assert len(m) == 1000
        got = m.get_many(keys)
        assert isinstance(got, array.array) and got.typecode == "q"
        assert got == values
        with pytest.raises(KeyError) as e:
            m.get_many(array.array("q", [0, 1]))
        assert e.value.args == (1,)
        got = m.get_many(array.array("q", [0, 1, 2]), default=-1)
        assert list(got) == [0, -1, 6]
        assert m.remove_many(array.array("q", [0, 1, 2])) == 2
        assert len(m) == 998


def test_numpy_arrays():
    with ferrymap.Map(int, int) as m:
        keys = np.arange(10_000, dtype=np.int64) * 7
        values = keys + 1
        assert m.set_many(keys, values) == 0
        got = m.get_many(keys)
        assert np.array_equal(np.frombuffer(got, dtype=np.int64), values)
        out = np.empty_like(keys)
        assert m.get_many(keys, out=out) is out
        assert np.array_equal(out, values)
        # A strided view is not contiguous: falls back to the per-object path.
        assert m.get_many(keys[::2]) == list(values[::2])
        # int32 arrays are not int64 buffers: also the per-object path.
        assert m.get_many(np.array([0, 7], dtype=np.int32)) == [1, 8]
        assert m.remove_many(keys[:100]) == 100
        assert len(m) == 9900
        with pytest.raises(ValueError):
            m.get_many(keys, out=np.empty(3, dtype=np.int64))
        with pytest.raises(TypeError):
            m.get_many(keys, out=np.empty(len(keys), dtype=np.float64))
        ro = np.empty_like(keys)
        ro.flags.writeable = False
        with pytest.raises(ValueError):
            m.get_many(keys, out=ro)
        with pytest.raises(ValueError):
            m.get_many(keys, out=keys)  # overlaps the keys


def test_float_values_with_buffers():
    with ferrymap.Map(int, float) as m:
        keys = np.arange(100, dtype=np.int64)
        vals = np.linspace(0, 1, 100)
        assert m.set_many(keys, vals) == 0
        got = m.get_many(keys)
        assert isinstance(got, array.array) and got.typecode == "d"
        assert np.array_equal(np.frombuffer(got), vals)
        assert list(m.get_many(array.array("q", [0, 1000]), default=-1.0)) == [
            0.0,
            -1.0,
        ]
        # Values as a list with int keys in a buffer: the generic path.
        assert m.set_many(array.array("q", [200]), [2.5]) == 0
        assert m[200] == 2.5


def test_str_and_bytes_keys_bulk():
    with ferrymap.Map(bytes, int) as m:
        keys = [b"k%d" % i for i in range(100)]
        m.set_many(keys, range(100))
        assert m.get_many(keys[:3] + [b"nope"]) == [0, 1, 2, None]
        assert m.remove_many(keys[:50]) == 50
        assert len(m) == 50
    with ferrymap.Map(str, str) as m:
        m.set_many(["a", "b"], ["x" * 500, "y"])
        assert m.get_many(["a", "b", "c"], default="") == ["x" * 500, "y", ""]
    with ferrymap.Map(int, bytes) as m:
        m.set_many(array.array("q", [1, 2]), [b"one", b"two"])
        assert m.get_many(array.array("q", [1, 2, 3])) == [b"one", b"two", None]


def test_update_from_map_uses_snapshot():
    with (
        ferrymap.Map(int, int, {i: i for i in range(100)}) as a,
        ferrymap.Map(int, int) as b,
    ):
        b.update(a)
        assert b == a
        b.update(a, **{})
    with ferrymap.Map(str, int) as s:
        s.update(x=1, y=2)
        assert s == {"x": 1, "y": 2}


def test_view_lifetime_survives_overwrite_remove_and_close():
    m = ferrymap.Map(int, bytes, {1: b"original bytes"})
    views_before = ferrymap.census()["view"]
    mv = m.view(1)
    assert ferrymap.census()["view"] == views_before + 1
    m[1] = b"overwritten"
    assert bytes(mv) == b"original bytes"
    del m[1]
    assert bytes(mv) == b"original bytes"
    m.close()
    assert bytes(mv) == b"original bytes"
    assert mv.tobytes() == b"original bytes"
    mv.release()
    assert ferrymap.census()["view"] == views_before


def test_view_zero_copy_and_slices():
    with ferrymap.Map(str, str) as m:
        m["k"] = "hello world"
        with m.view("k") as mv:
            assert mv.format == "B" and mv.nbytes == 11
            s = mv[6:]
            assert bytes(s) == b"world"
            assert np.frombuffer(mv, dtype=np.uint8)[0] == ord("h")
            s.release()
        m["empty"] = ""
        with m.view("empty") as mv:
            assert bytes(mv) == b""


def test_view_released_by_gc():
    with ferrymap.Map(int, bytes, {1: b"x" * 100}) as m:
        before = ferrymap.census()["view"]
        mv = m.view(1)
        assert ferrymap.census()["view"] == before + 1
        del mv
        gc.collect()
        assert ferrymap.census()["view"] == before


def test_view_owner_without_memoryview():
    with ferrymap.Map(int, bytes, {1: b"abc"}) as m:
        mv = m.view(1)
        owner = mv.obj
        assert isinstance(owner, ferrymap.ValueView) and len(owner) == 3
        assert "len=3" in repr(owner)
        mv2 = memoryview(owner)
        mv.release()
        assert bytes(mv2) == b"abc"  # still exported through mv2
        mv2.release()
        assert owner.released


def test_iteration_batches_and_length_hint():
    n = 10_000
    with ferrymap.Map(int, int, {i: -i for i in range(n)}) as m:
        it = iter(m)
        assert it.__length_hint__() == n
        keys = list(it)
        assert sorted(keys) == list(range(n))
        assert it.__length_hint__() == 0
        assert sum(m.values()) == -sum(range(n))
        assert dict(m.items()) == {i: -i for i in range(n)}
        assert ferrymap.census()["iterator"] == 0  # exhausted iterators free themselves
        it2 = m._iter_items()
        assert next(it2) in m.items()
        del it2
        assert ferrymap.census()["iterator"] == 0
