"""The bad-input matrix: wrong kinds, unencodable strings, closed maps,
stale and forged handles, corrupt import data. Every case raises a Python
exception; none crashes."""

import array
import struct
import zlib

import pytest

import ferrymap

WRONG_KEYS = {
    int: ["1", b"1", 1.0, None, [1], (1,), object()],
    str: [1, b"a", None, 1.5, ["a"]],
    bytes: [1, "a", None, 1.5, [1]],
}
WRONG_VALUES = {
    int: ["1", b"1", 1.5, None, [1], object()],
    float: ["1.0", b"1", None, [1.0], object()],
    str: [1, b"a", None, 1.5, ["a"]],
    bytes: [1, "a", None, 1.5],
}
GOOD_KEY = {int: 1, str: "k", bytes: b"k"}
GOOD_VALUE = {int: 1, float: 1.0, str: "v", bytes: b"v"}


def test_wrong_key_kind(schema):
    k, v = schema
    with ferrymap.Map(k, v, {GOOD_KEY[k]: GOOD_VALUE[v]}) as m:
        for bad in WRONG_KEYS[k]:
            with pytest.raises(TypeError):
                m[bad]
            with pytest.raises(TypeError):
                m[bad] = GOOD_VALUE[v]
            with pytest.raises(TypeError):
                del m[bad]
            with pytest.raises(TypeError):
                bad in m
            with pytest.raises(TypeError):
                m.get(bad)
            with pytest.raises(TypeError):
                m.pop(bad, None)
        with pytest.raises(ferrymap.WrongKindError):
            m[WRONG_KEYS[k][0]]
        assert m == {GOOD_KEY[k]: GOOD_VALUE[v]}


def test_wrong_value_kind(schema):
    k, v = schema
    with ferrymap.Map(k, v) as m:
        for bad in WRONG_VALUES[v]:
            with pytest.raises(TypeError):
                m[GOOD_KEY[k]] = bad
            with pytest.raises(TypeError):
                m.setdefault(GOOD_KEY[k], bad)
            with pytest.raises(TypeError):
                m.update({GOOD_KEY[k]: bad})
        assert len(m) == 0


def test_setdefault_none_not_allowed():
    with ferrymap.Map(int, int) as m:
        with pytest.raises(TypeError):
            m.setdefault(1)  # default None is not an int
        assert 1 not in m


def test_int_out_of_range():
    with ferrymap.Map(int, int) as m:
        for bad in (2**63, -(2**63) - 1, 2**64, 10**30):
            with pytest.raises(OverflowError):
                m[bad] = 1
            with pytest.raises(OverflowError):
                m[1] = bad
            with pytest.raises(OverflowError):
                m[bad]
        assert len(m) == 0


def test_surrogates_are_value_errors():
    bad = "lone \ud800 surrogate"
    with ferrymap.Map(str, str) as m:
        with pytest.raises(ValueError):
            m[bad] = "v"
        with pytest.raises(ValueError):
            m["k"] = bad
        with pytest.raises(ValueError):
            m[bad]
        with pytest.raises(ValueError):
            bad in m
        with pytest.raises(ValueError):
            m.update({"ok": "v", bad: "v"})
        with pytest.raises(ValueError):
            m.set_many(["ok", bad], ["v", "v"])
        assert len(m) == 0
        m["k"] = "abc"
        with pytest.raises(ValueError):
            m.update_value("k", lambda s: "\udc00")
        assert m["k"] == "abc"


CLOSED_CALLS = {
    "getitem": lambda m: m[1],
    "setitem": lambda m: m.__setitem__(1, 1),
    "delitem": lambda m: m.__delitem__(1),
    "len": len,
    "contains": lambda m: 1 in m,
    "iter": iter,
    "keys": lambda m: list(m.keys()),
    "values": lambda m: list(m.values()),
    "items": lambda m: list(m.items()),
    "get": lambda m: m.get(1),
    "pop": lambda m: m.pop(1, None),
    "popitem": lambda m: m.popitem(),
    "setdefault": lambda m: m.setdefault(1, 1),
    "update": lambda m: m.update({1: 1}),
    "clear": lambda m: m.clear(),
    "reserve": lambda m: m.reserve(10),
    "clone": lambda m: m.clone(),
    "to_dict": lambda m: m.to_dict(),
    "add": lambda m: m.add(1, 1),
    "update_value": lambda m: m.update_value(1, lambda x: x),
    "get_many": lambda m: m.get_many([1]),
    "get_many_array": lambda m: m.get_many(array.array("q", [1])),
    "set_many": lambda m: m.set_many([1], [1]),
    "remove_many": lambda m: m.remove_many([1]),
    "view": lambda m: m.view(1),
    "stats": lambda m: m.stats(),
    "export": lambda m: m.export(),
    "handle": lambda m: m.handle,
    "disown": lambda m: m.disown(),
    "eq": lambda m: m == {},
    "pickle": lambda m: __import__("pickle").dumps(m),
}


@pytest.mark.parametrize("call", list(CLOSED_CALLS.values()), ids=list(CLOSED_CALLS))
def test_use_after_close(call):
    m = ferrymap.Map(int, int, {1: 1})
    m.close()
    with pytest.raises(ferrymap.ClosedError):
        call(m)
    assert "closed" in repr(m)
    m.close()


def test_stale_handle():
    m = ferrymap.Map(int, int, {1: 1})
    h = m.handle
    borrowed = ferrymap.Map.attach(h)
    m.close()  # the owner frees it
    with pytest.raises(ferrymap.InvalidHandleError):
        borrowed[1]
    with pytest.raises(ferrymap.InvalidHandleError):
        borrowed[1] = 2
    with pytest.raises(ferrymap.InvalidHandleError):
        len(borrowed)
    with pytest.raises(ferrymap.InvalidHandleError):
        list(borrowed)
    with pytest.raises(ferrymap.InvalidHandleError):
        borrowed.get_many(array.array("q", [1]))
    assert "invalid" in repr(borrowed)
    borrowed.close()
    with pytest.raises(ferrymap.InvalidHandleError):
        ferrymap.Map.attach(h)
    # Taking ownership of a stale handle fails too, and frees nothing.
    with pytest.raises(ferrymap.InvalidHandleError):
        ferrymap.Map.attach(h, owned=True)


def test_owned_attach_of_freed_handle_then_close_is_harmless():
    m = ferrymap.Map(int, int)
    h = m.disown()
    a = ferrymap.Map.attach(h, owned=True)
    b = ferrymap.Map.attach(h, owned=True)  # two owners: a user error
    a.close()
    with pytest.raises(ferrymap.InvalidHandleError):
        b.close()  # the second free is detected, not a crash
    m.close()


@pytest.mark.parametrize(
    "forged", [0, 1, 2, 0xFFFFFFFF, 2**64 - 1, 0x123456789ABCDEF, 1 << 40]
)
def test_forged_handles(forged):
    with pytest.raises(ferrymap.InvalidHandleError):
        ferrymap.Map.attach(forged)


def test_bad_handle_types():
    with pytest.raises(OverflowError):
        ferrymap.Map.attach(-1)
    with pytest.raises(OverflowError):
        ferrymap.Map.attach(2**64)
    with pytest.raises(TypeError):
        ferrymap.Map.attach("1")
    with pytest.raises(TypeError):
        ferrymap.Map.attach(None)


def test_wrong_kind_handle():
    m = ferrymap.Map(int, bytes, {1: b"x"})
    mv = m.view(1)
    view_handle = mv.obj.handle
    with pytest.raises(ferrymap.WrongKindError):
        ferrymap.Map.attach(view_handle)
    mv.release()
    m.close()


def _export_sample():
    with ferrymap.Map(str, int, {"a": 1, "bb": 2, "ccc": 3}) as m:
        return m.export()


def test_corrupt_import_data():
    good = _export_sample()
    cases = {
        "empty": b"",
        "magic only": b"FMAP",
        "garbage": b"\x00" * 64,
        "truncated": good[:-5],
        "one byte short": good[:-1],
        "extra byte": good + b"\x00",
        "bad magic": b"XMAP" + good[4:],
    }
    for i in range(len(good)):
        flipped = bytearray(good)
        flipped[i] ^= 0x40
        cases[f"flip {i}"] = bytes(flipped)
    before = ferrymap.census()["map"]
    for name, data in cases.items():
        with pytest.raises(ValueError) as e:
            ferrymap.Map.import_(data)
        assert isinstance(e.value, ferrymap.Error), name
    assert ferrymap.census()["map"] == before


def _with_crc(body):
    return body + struct.pack("<I", zlib.crc32(body))


def test_import_newer_version_and_lying_count():
    good = _export_sample()
    body = bytearray(good[:-4])
    assert zlib.crc32(bytes(body)) == struct.unpack("<I", good[-4:])[0]
    newer = bytearray(body)
    newer[4:6] = struct.pack("<H", 99)
    with pytest.raises(ferrymap.UnsupportedVersionError):
        ferrymap.Map.import_(_with_crc(bytes(newer)))
    lying = bytearray(body)
    lying[8:16] = struct.pack(
        "<Q", 2**40
    )  # claims far more entries than there are bytes
    with pytest.raises(ferrymap.CorruptDataError):
        ferrymap.Map.import_(_with_crc(bytes(lying)))
    bad_utf8 = bytes(body).replace(b"ccc", b"c\xffc")
    with pytest.raises(ferrymap.CorruptDataError):
        ferrymap.Map.import_(_with_crc(bad_utf8))
    dup = (
        bytes(body)
        .replace(b"bb", b"a\x00")
        .replace(b"\x02\x00\x00\x00a\x00", b"\x01\x00\x00\x00a")
    )
    with pytest.raises(ValueError):
        ferrymap.Map.import_(_with_crc(dup))


def test_import_wrong_types():
    with pytest.raises(TypeError):
        ferrymap.Map.import_(None)
    with pytest.raises(TypeError):
        ferrymap.Map.import_("FMAP")
    with pytest.raises(TypeError):
        ferrymap.Map.import_(123)


def test_bulk_bad_input_changes_nothing():
    with ferrymap.Map(int, int, {1: 1}) as m:
        with pytest.raises(TypeError):
            m.set_many([2, 3, "4"], [2, 3, 4])
        with pytest.raises(TypeError):
            m.set_many([2, 3], [2, None])
        with pytest.raises(ValueError):
            m.set_many([2, 3], [2])
        with pytest.raises(TypeError):
            m.update([(2, 2), (3, "x")])
        with pytest.raises(ValueError):
            m.update([(2, 2), (3,)])
        with pytest.raises(TypeError):
            m.update([(2, 2), 3])
        with pytest.raises(TypeError):
            m.remove_many([1, "2"])
        with pytest.raises(TypeError):
            m.get_many([1, None])
        with pytest.raises(TypeError):
            m.get_many(None)
        with pytest.raises(TypeError):
            m.set_many(None, None)
        assert m == {1: 1}
    with ferrymap.Map(str, bytes, {"a": b"a"}) as s:
        with pytest.raises(TypeError):
            s.set_many(["b", "c"], [b"b", "c"])
        with pytest.raises(TypeError):
            s.remove_many(["a", b"b"])
        assert s == {"a": b"a"}


def test_view_errors():
    with ferrymap.Map(int, int, {1: 1}) as m:
        with pytest.raises(ferrymap.WrongKindError):
            m.view(1)
    with ferrymap.Map(int, bytes, {1: b"abc"}) as m:
        with pytest.raises(KeyError):
            m.view(2)
        mv = m.view(1)
        assert mv.readonly
        with pytest.raises(TypeError):
            mv[0] = 0
        owner = mv.obj
        with pytest.raises(BufferError):
            owner.release()  # a memoryview still uses the bytes
        mv.release()
        assert owner.released
        owner.release()  # harmless
        with pytest.raises(ferrymap.ClosedError):
            memoryview(owner)
        with pytest.raises(ValueError):
            bytes(mv)  # released memoryview


def test_iterator_closed_mid_way():
    with ferrymap.Map(int, int, {i: i for i in range(1000)}) as m:
        it = iter(m)
        next(it)
        it.close()
        assert list(it) == []
        it.close()


def test_add_and_update_value_errors():
    with ferrymap.Map(int, int, {1: 1}) as m:
        with pytest.raises(TypeError):
            m.add(1, "1")
        with pytest.raises(TypeError):
            m.add("1", 1)
        with pytest.raises(TypeError):
            m.update_value(1, "not callable")
        with pytest.raises(OverflowError):
            m.update_value(1, lambda x: 2**64)
        assert m[1] == 1
