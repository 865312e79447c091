"""Every MutableMapping operation, for every key/value schema."""

import copy
import math
import pickle

import pytest

import ferrymap
from conftest import KEY_SAMPLES, VALUE_SAMPLES


def test_new_empty(schema):
    k, v = schema
    with ferrymap.Map(key=k, value=v) as m:
        assert len(m) == 0
        assert not m
        assert list(m) == []
        assert m == {}
        assert m.key_kind is k and m.value_kind is v
        assert m.owned and not m.closed


def test_kind_names():
    m = ferrymap.Map("int", "FLOAT")
    assert m.key_kind is int and m.value_kind is float
    m.close()
    with pytest.raises(ValueError):
        ferrymap.Map(float, int)  # FLOAT is not a key kind
    with pytest.raises(TypeError):
        ferrymap.Map(list, int)
    with pytest.raises(TypeError):
        ferrymap.Map("integer", int)
    with pytest.raises(TypeError):
        ferrymap.Map(None, int)
    with pytest.raises(TypeError):
        ferrymap.Map(int)  # value kind missing


def test_set_get_len_contains_del(schema, sample):
    k, v = schema
    m = ferrymap.Map(k, v)
    for key, value in sample.items():
        m[key] = value
    assert len(m) == len(sample)
    for key, value in sample.items():
        assert key in m
        got = m[key]
        assert type(got) is v
        assert got == value
    assert m == sample
    assert sample == m.to_dict()
    assert sorted(m, key=repr) == sorted(sample, key=repr)
    first = next(iter(sample))
    del m[first]
    assert first not in m
    with pytest.raises(KeyError) as e:
        m[first]
    assert e.value.args == (first,)
    with pytest.raises(KeyError):
        del m[first]
    assert len(m) == len(sample) - 1
    m.close()


def test_overwrite_and_update(schema, sample):
    k, v = schema
    keys = list(sample)
    values = VALUE_SAMPLES[v]
    with ferrymap.Map(k, v, sample) as m:
        assert m == sample
        m[keys[0]] = values[-1]
        assert m[keys[0]] == values[-1]
        assert len(m) == len(sample)
        m.update({keys[1]: values[0]})
        m.update([(keys[2], values[1])])
        assert m[keys[1]] == values[0] and m[keys[2]] == values[1]


def test_get_pop_setdefault_popitem(schema, sample):
    k, v = schema
    m = ferrymap.Map(k, v, sample)
    key, value = next(iter(sample.items()))
    other_value = VALUE_SAMPLES[v][-1]
    assert m.get(key) == value
    assert m.get(key, other_value) == value
    absent = KEY_SAMPLES[k][-1] if KEY_SAMPLES[k][-1] not in sample else None
    if absent is not None:
        assert m.get(absent) is None
        assert m.get(absent, "d") == "d"
        assert m.setdefault(absent, other_value) == other_value
        assert m[absent] == other_value
    assert m.setdefault(key, other_value) == value
    assert m.pop(key) == value
    assert key not in m
    assert m.pop(key, "gone") == "gone"
    with pytest.raises(KeyError):
        m.pop(key)
    n = len(m)
    pk, pv = m.popitem()
    assert pk not in m and len(m) == n - 1
    while m:
        m.popitem()
    with pytest.raises(KeyError):
        m.popitem()
    m.close()


def test_views(schema, sample):
    k, v = schema
    with ferrymap.Map(k, v, sample) as m:
        assert len(m.keys()) == len(sample)
        assert set(m.keys()) == set(sample.keys())
        assert m.keys() == sample.keys()
        assert sorted(map(repr, m.values())) == sorted(map(repr, sample.values()))
        assert dict(m.items()) == sample
        key, value = next(iter(sample.items()))
        assert key in m.keys()
        assert (key, value) in m.items()
        assert value in m.values()
        assert m.keys() & {key} == {key}
        assert "KeysView" in repr(m.keys())


def test_clear_and_reserve(schema, sample):
    k, v = schema
    with ferrymap.Map(k, v, sample, capacity=100) as m:
        m.reserve(1000)
        assert m.stats()["capacity"] >= 1000
        m.clear()
        assert len(m) == 0 and m == {}


def test_equality():
    a = ferrymap.Map(int, int, {1: 2, 3: 4})
    b = ferrymap.Map(int, int, {3: 4, 1: 2})
    c = ferrymap.Map(int, float, {1: 2.0, 3: 4.0})
    assert a == b and not (a != b)
    assert a == {1: 2, 3: 4} and {1: 2, 3: 4} == a
    assert a != {1: 2}
    assert a != {1: 3, 3: 4}
    assert a == c  # as dicts: 2 == 2.0
    assert a == a
    assert a != [1, 3]
    assert not (a == "x")
    b[5] = 6
    assert a != b
    from types import MappingProxyType

    assert a == MappingProxyType({1: 2, 3: 4})
    with pytest.raises(TypeError):
        hash(a)
    for m in (a, b, c):
        m.close()


def test_repr():
    m = ferrymap.Map(int, str, {1: "a"})
    r = repr(m)
    assert "key=int" in r and "value=str" in r and "len=1" in r and hex(m.handle) in r
    b = ferrymap.Map.attach(m.handle)
    assert "borrowed" in repr(b)
    b.close()
    m.close()
    assert "closed" in repr(m)


def test_handle_attach_borrow_and_own():
    m = ferrymap.Map(int, int, {1: 1})
    h = m.handle
    assert isinstance(h, int) and h != 0
    b = ferrymap.Map.attach(h)
    assert not b.owned
    b[2] = 2
    assert m[2] == 2
    b.close()  # borrowed: does not free
    assert m[1] == 1 and len(m) == 2
    with b:
        pass
    del b
    assert len(m) == 2
    owner_handle = m.disown()
    assert owner_handle == h and not m.owned
    m.close()  # no longer frees
    o = ferrymap.Map.attach(h, owned=True)
    assert o == {1: 1, 2: 2}
    o.close()  # frees
    with pytest.raises(ferrymap.InvalidHandleError):
        ferrymap.Map.attach(h)


def test_context_manager_frees():
    before = ferrymap.census()["map"]
    with ferrymap.Map(str, str) as m:
        m["a"] = "b"
        assert ferrymap.census()["map"] == before + 1
    assert ferrymap.census()["map"] == before
    assert m.closed
    m.close()  # twice: harmless


def test_gc_frees_owned():
    before = ferrymap.census()["map"]
    m = ferrymap.Map(int, int)
    assert ferrymap.census()["map"] == before + 1
    del m
    assert ferrymap.census()["map"] == before


def test_add_int_and_float():
    m = ferrymap.Map(int, int)
    assert m.add(1, 5) == 5
    assert m.add(1, -2) == 3
    assert m[1] == 3
    m[2] = 2**63 - 1
    with pytest.raises(ferrymap.IntegerOverflowError):
        m.add(2, 1)
    with pytest.raises(OverflowError):
        m.add(2, 1)
    assert m[2] == 2**63 - 1
    with pytest.raises(TypeError):
        m.add(1, 1.5)
    m.close()
    f = ferrymap.Map(str, float)
    assert f.add("x", 1.5) == 1.5
    assert f.add("x", 2) == 3.5
    assert f["x"] == 3.5
    f.close()
    s = ferrymap.Map(int, str)
    with pytest.raises(ferrymap.WrongKindError):
        s.add(1, 1)
    s.close()


def test_update_value(schema, sample):
    k, v = schema
    m = ferrymap.Map(k, v, sample)
    key, value = next(iter(sample.items()))
    if v is int:
        assert m.update_value(key, lambda x: x // 2 + 1) == value // 2 + 1
        assert m[key] == value // 2 + 1
    elif v is float:
        assert m.update_value(key, lambda x: x * 2) == value * 2
    elif v is str:
        m[key] = "abc"
        assert m.update_value(key, str.upper) == "ABC"
        assert m[key] == "ABC"
        with pytest.raises(ValueError):
            m.update_value(key, lambda s: s + "!")  # length change
        assert m[key] == "ABC"
    else:
        m[key] = b"abc"
        assert m.update_value(key, lambda b: b[::-1]) == b"cba"
        assert m.update_value(key, lambda b: bytearray(b.upper())) == bytearray(b"CBA")
        assert m[key] == b"CBA"
    absent = KEY_SAMPLES[k][-1]
    m.pop(absent, None)
    with pytest.raises(KeyError):
        m.update_value(absent, lambda x: x)
    m.close()


def test_update_value_exception_leaves_value():
    m = ferrymap.Map(int, int, {1: 10})

    class Boom(Exception):
        pass

    def fn(x):
        raise Boom("no")

    with pytest.raises(Boom):
        m.update_value(1, fn)
    assert m[1] == 10
    with pytest.raises(TypeError):
        m.update_value(1, lambda x: "not an int")
    assert m[1] == 10
    with pytest.raises(TypeError):
        m.update_value(1, None)
    m.close()


def test_update_value_reentrant():
    m = ferrymap.Map(int, int, {1: 10, 2: 20})
    other = ferrymap.Map(int, int)
    seen = []

    def fn(x):
        other[1] = x  # another map: fine
        try:
            m[2]
        except ferrymap.ReentrantError as e:
            seen.append(e)
        return x + 1

    assert m.update_value(1, fn) == 11
    assert other[1] == 10
    assert len(seen) == 1 and "re" in str(seen[0]).lower()

    def fn2(x):
        m[2] = 0
        return x

    with pytest.raises(ferrymap.ReentrantError):
        m.update_value(1, fn2)
    assert m[1] == 11 and m[2] == 20
    m.close()
    other.close()


def test_clone_is_independent(schema, sample):
    k, v = schema
    m = ferrymap.Map(k, v, sample)
    c = m.clone()
    assert c == m and c.handle != m.handle and c.owned
    key = next(iter(sample))
    del c[key]
    assert key in m and key not in c
    d = copy.copy(m)
    assert d == m
    e = m.copy()
    assert e == m
    for x in (m, c, d, e):
        x.close()


def test_stats():
    m = ferrymap.Map(int, int, {i: i for i in range(100)})
    s = m.stats()
    assert s["len"] == 100
    assert s["capacity"] >= 100
    assert s["memory_bytes"] > 100 * 16
    assert 0 < s["load_factor"] <= 1
    assert s["open_iterators"] == 0 and s["open_views"] == 0
    assert s["writes"] >= 100
    before = ferrymap.census()["iterator"]
    it = iter(m)
    assert m.stats()["open_iterators"] == 1
    assert ferrymap.census()["iterator"] == before + 1
    it.close()
    assert ferrymap.census()["iterator"] == before
    m.close()


def test_stats_open_iterators_drop_on_free():
    m = ferrymap.Map(int, int, {1: 1})
    it = iter(m)
    it.close()
    try:
        assert m.stats()["open_iterators"] == 0
    finally:
        m.close()


def test_export_import_and_pickle(schema, sample):
    k, v = schema
    m = ferrymap.Map(k, v, sample)
    data = m.export()
    assert isinstance(data, bytes) and data[:4] == b"FMAP"
    n = ferrymap.Map.import_(data)
    assert n == m and n.key_kind is k and n.value_kind is v and n.owned
    n2 = ferrymap.Map.import_(memoryview(data))
    assert n2 == m
    p = pickle.loads(pickle.dumps(m))
    assert isinstance(p, ferrymap.Map) and p == m and p.handle != m.handle
    for x in (m, n, n2, p):
        x.close()


def test_float_values_nan_and_int_coercion():
    m = ferrymap.Map(int, float)
    m[1] = float("nan")
    assert math.isnan(m[1])
    m[2] = 3  # int accepted for float values
    assert m[2] == 3.0 and type(m[2]) is float
    m.close()


def test_bool_and_numpy_ints_as_int_keys():
    np = pytest.importorskip("numpy")
    m = ferrymap.Map(int, int)
    m[True] = 1
    assert m[1] == 1
    m[np.int64(5)] = np.int32(6)
    assert m[5] == 6 and m[np.int64(5)] == 6
    m.close()


def test_bytes_like_values_and_keys():
    m = ferrymap.Map(bytes, bytes)
    m[bytearray(b"k")] = memoryview(b"value")
    assert m[b"k"] == b"value"
    assert type(m[b"k"]) is bytes
    m[b"arr"] = __import__("array").array("b", [1, 2, 3])
    assert m[b"arr"] == b"\x01\x02\x03"
    m.close()


def test_string_roundtrip_exact_bytes():
    m = ferrymap.Map(str, str)
    s = "a\x00b\U0001f980\u00e9"
    m[s] = s
    assert m[s] == s
    mv = m.view(s)
    assert bytes(mv) == s.encode("utf-8")
    mv.release()
    m.close()


def test_match_statement_mapping_pattern():
    m = ferrymap.Map(str, int, {"x": 1})
    match m:
        case {"x": value}:
            assert value == 1
        case _:
            pytest.fail("Map should match a mapping pattern")
    m.close()


def test_weakref_and_final():
    import weakref

    m = ferrymap.Map(int, int)
    r = weakref.ref(m)
    assert r() is m
    with pytest.raises(TypeError):

        class Sub(ferrymap.Map):  # type: ignore[misc]
            pass

    m.close()
    del m
    assert r() is None
