"""One core, one registry: a map made through ctypes on the very same
libferrymap.so (standing in for C code in the process) is the same map
through ferrymap, and vice versa."""

import ctypes
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import ferrymap
from conftest import BINDING

FM_OK, FM_NOT_FOUND, FM_INVALID_HANDLE = 0, 1, 3
FM_INT, FM_FLOAT, FM_STR, FM_BYTES = 1, 2, 3, 4
u64, i64, sz = ctypes.c_uint64, ctypes.c_int64, ctypes.c_size_t


def load(path):
    lib = ctypes.CDLL(path)
    lib.fm_registry_id.restype = u64
    lib.fm_library_path.restype = ctypes.c_char_p
    lib.fm_last_error.restype = ctypes.c_char_p
    lib.fm_census_total.restype = u64
    lib.fm_map_new.argtypes = [
        ctypes.c_uint32,
        ctypes.c_uint32,
        sz,
        ctypes.POINTER(u64),
    ]
    lib.fm_map_free.argtypes = [u64]
    lib.fm_map_len.argtypes = [u64, ctypes.POINTER(sz)]
    lib.fm_insert_i64_i64.argtypes = [u64, i64, i64, ctypes.POINTER(ctypes.c_bool)]
    lib.fm_get_i64_i64.argtypes = [u64, i64, ctypes.POINTER(i64)]
    lib.fm_add_i64_i64.argtypes = [u64, i64, i64, ctypes.POINTER(i64)]
    lib.fm_insert_buf_buf.argtypes = [
        u64,
        ctypes.c_char_p,
        sz,
        ctypes.c_char_p,
        sz,
        ctypes.POINTER(ctypes.c_bool),
    ]
    lib.fm_get_i64_buf.argtypes = [u64, i64, ctypes.c_char_p, sz, ctypes.POINTER(sz)]
    lib.fm_get_buf_buf.argtypes = [
        u64,
        ctypes.c_char_p,
        sz,
        ctypes.c_char_p,
        sz,
        ctypes.POINTER(sz),
    ]
    return lib


@pytest.fixture(scope="module")
def lib():
    return load(ferrymap.library_path())


def c_new(lib, k, v):
    h = u64()
    assert lib.fm_map_new(k, v, 0, ctypes.byref(h)) == FM_OK
    return h.value


def c_get(lib, h, key):
    out = i64()
    st = lib.fm_get_i64_i64(h, key, ctypes.byref(out))
    return st, out.value


def test_same_registry_and_file(lib):
    assert lib.fm_registry_id() == ferrymap.registry_id()
    assert lib.fm_library_path().decode() == ferrymap.library_path()


def test_map_made_in_c_is_read_and_written_in_python(lib):
    h = c_new(lib, FM_INT, FM_INT)
    for k in range(100):
        assert lib.fm_insert_i64_i64(h, k, k * k, None) == FM_OK
    m = ferrymap.Map.attach(h)
    assert not m.owned and len(m) == 100 and m[9] == 81
    assert m == {k: k * k for k in range(100)}
    m[1000] = 7
    m.add(1000, 1)
    assert c_get(lib, h, 1000) == (FM_OK, 8)
    n = sz()
    assert lib.fm_map_len(h, ctypes.byref(n)) == FM_OK and n.value == 101
    m.close()  # borrowed: C's map lives on
    assert c_get(lib, h, 9) == (FM_OK, 81)
    m2 = ferrymap.Map.attach(h)
    assert lib.fm_map_free(h) == FM_OK  # the creator frees it
    with pytest.raises(ferrymap.InvalidHandleError):
        m2[9]
    m2.close()


def test_map_made_in_python_is_read_and_written_in_c(lib):
    with ferrymap.Map(int, int, {1: 10}) as m:
        h = m.handle
        assert c_get(lib, h, 1) == (FM_OK, 10)
        new = i64()
        assert (
            lib.fm_add_i64_i64(h, 1, 5, ctypes.byref(new)) == FM_OK and new.value == 15
        )
        assert lib.fm_insert_i64_i64(h, 2, 20, None) == FM_OK
        assert m[1] == 15 and m[2] == 20
        assert c_get(lib, h, 3)[0] == FM_NOT_FOUND
    # closed (freed) from Python: C sees an invalid handle, no crash
    assert c_get(lib, h, 1)[0] == FM_INVALID_HANDLE
    assert b"handle" in lib.fm_last_error().lower() or lib.fm_last_error()


def test_strings_cross_byte_exact(lib):
    s = "a\x00b \U0001f980 é"
    with ferrymap.Map(int, str, {1: s, 2: ""}) as m:
        buf = ctypes.create_string_buffer(64)
        n = sz()
        assert lib.fm_get_i64_buf(m.handle, 1, buf, 64, ctypes.byref(n)) == FM_OK
        assert buf.raw[: n.value] == s.encode("utf-8")
        assert (
            lib.fm_get_i64_buf(m.handle, 2, buf, 64, ctypes.byref(n)) == FM_OK
            and n.value == 0
        )
    h = c_new(lib, FM_STR, FM_BYTES)
    key = "kéy\x00\U0001f600".encode()
    val = b"\x00\xffpayload"
    assert lib.fm_insert_buf_buf(h, key, len(key), val, len(val), None) == FM_OK
    with ferrymap.Map.attach(h, owned=True) as m:  # Python takes ownership
        assert m == {"kéy\x00\U0001f600": val}
    assert c_get(lib, h, 0)[0] == FM_INVALID_HANDLE  # freed by Python's close


def test_ownership_handed_from_python_to_c(lib):
    before = ferrymap.census_total()
    m = ferrymap.Map(int, int, {5: 5})
    h = m.disown()
    del m  # no longer frees
    assert c_get(lib, h, 5) == (FM_OK, 5)
    assert ferrymap.census_total() == before + 1
    assert lib.fm_map_free(h) == FM_OK
    assert ferrymap.census_total() == before


def _run(code, tmp_path):
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


CORE = os.environ.get(
    "FERRYMAP_CORE_LIB",
    str(BINDING.parent.parent / "target" / "release" / "libferrymap.so"),
)


@pytest.mark.skipif(
    not os.path.isfile(CORE), reason="the core's own build is not there"
)
def test_core_loaded_first_by_c_is_joined_by_the_module(tmp_path):
    # A host (C, Java) loaded the core from its own path before Python
    # imported ferrymap: the module must join that copy (soname match), not
    # load the one shipped in the package.
    out = _run(
        f"""
        import ctypes
        core = ctypes.CDLL({CORE!r})
        core.fm_registry_id.restype = ctypes.c_uint64
        import ferrymap
        assert ferrymap.registry_id() == core.fm_registry_id(), "two registries"
        assert ferrymap.library_path() == {os.path.realpath(CORE)!r}, ferrymap.library_path()
        maps = {{l.split()[-1] for l in open('/proc/self/maps') if 'libferrymap' in l}}
        assert len(maps) == 1, maps
        print("joined")
        """,
        tmp_path,
    )
    assert out.strip() == "joined"


def test_copy_at_another_path_is_a_foreign_registry(tmp_path):
    # DESIGN §1: a handle from a second copy of the library is rejected as
    # invalid, never misread.
    copy = tmp_path / "copy" / "libferrymap.so"
    copy.parent.mkdir()
    shutil.copy(ferrymap.library_path(), copy)
    out = _run(
        f"""
        import ctypes, ferrymap
        other = ctypes.CDLL({str(copy)!r})
        other.fm_registry_id.restype = ctypes.c_uint64
        other.fm_map_new.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint64)]
        other.fm_map_free.argtypes = [ctypes.c_uint64]
        assert other.fm_registry_id() != ferrymap.registry_id()
        h = ctypes.c_uint64()
        assert other.fm_map_new(1, 1, 0, ctypes.byref(h)) == 0
        try:
            ferrymap.Map.attach(h.value)
        except ferrymap.InvalidHandleError:
            print("rejected")
        m = ferrymap.Map(int, int)
        assert other.fm_map_free(m.handle) == 3  # and the other way round
        m.close()
        assert other.fm_map_free(h.value) == 0
        """,
        tmp_path,
    )
    assert out.strip() == "rejected"
