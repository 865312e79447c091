"""The installed package: where it came from, what it links to."""

import collections.abc
import os
import subprocess
import sys

import ferrymap
from conftest import BINDING


def test_imported_from_installed_wheel_not_source_tree():
    # The tests run against the installed package (test.sh installs the wheel).
    assert not os.path.dirname(ferrymap.__file__).startswith(str(BINDING / "ferrymap"))


def test_library_shipped_next_to_module():
    # Shipped under the core's soname (libferrymap.so, or libferrymap.so.0
    # once versioned): the name the module's NEEDED entry asks for.
    path = ferrymap.library_path()
    assert os.path.basename(path).startswith("libferrymap.so")
    assert os.path.dirname(path) == os.path.dirname(ferrymap._native.__file__)
    shipped = [
        f for f in os.listdir(os.path.dirname(path)) if f.startswith("libferrymap")
    ]
    assert shipped == [os.path.basename(path)]


def test_one_libferrymap_mapped():
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "libferrymap" in line}
    assert libs == {ferrymap.library_path()}


def test_versions_and_registry():
    assert ferrymap.core_version() == "%d.%d.%d" % ferrymap.CORE_VERSION
    assert ferrymap.registry_id() != 0
    assert ferrymap.registry_id() == ferrymap.registry_id()


def test_census_shape():
    c = ferrymap.census()
    assert set(c) == {"map", "iterator", "view", "subscription", "ticket", "total"}
    with ferrymap.Map(int, int) as m:
        c2 = ferrymap.census()
        assert c2["map"] == c["map"] + 1
        assert ferrymap.census_total() == c["total"] + 1
        assert m.handle


def test_abc_registration():
    m = ferrymap.Map(int, int)
    assert isinstance(m, collections.abc.MutableMapping)
    assert isinstance(m, collections.abc.Mapping)
    assert issubclass(ferrymap.Map, collections.abc.MutableMapping)
    assert isinstance(m.keys(), collections.abc.KeysView)
    assert isinstance(m.values(), collections.abc.ValuesView)
    assert isinstance(m.items(), collections.abc.ItemsView)
    assert isinstance(iter(m), collections.abc.Iterator)
    m.close()


def test_generic_alias():
    assert ferrymap.Map[int, str] is not None
    assert ferrymap.MapIterator[int] is not None


def test_exception_hierarchy():
    E = ferrymap
    assert issubclass(E.WrongKindError, TypeError)
    assert issubclass(E.InvalidUtf8Error, ValueError)
    assert issubclass(E.CorruptDataError, ValueError)
    assert issubclass(E.UnsupportedVersionError, ValueError)
    assert issubclass(E.InvalidArgumentError, ValueError)
    assert issubclass(E.ReentrantError, RuntimeError)
    assert issubclass(E.IntegerOverflowError, OverflowError)
    assert issubclass(E.OutOfMemoryError, MemoryError)
    for cls in (
        E.InvalidHandleError,
        E.ClosedError,
        E.WrongKindError,
        E.InvalidUtf8Error,
        E.InvalidArgumentError,
        E.CorruptDataError,
        E.UnsupportedVersionError,
        E.ReentrantError,
        E.OutOfMemoryError,
        E.IntegerOverflowError,
        E.InternalError,
    ):
        assert issubclass(cls, E.Error)
        assert cls.__module__ == "ferrymap"
    assert E.InvalidHandleError.status == 3
    assert E.CorruptDataError.status == 8


STUB_CORE = r"""
#include <stdint.h>
/* A core that answers the version calls and nothing else: an older 0.x
   that lacks functions the module needs. */
uint32_t fm_version(void) { return 0x000009; }
const char *fm_version_string(void) { return "0.0.9"; }
const char *fm_library_path(void) { return "stub"; }
"""


def test_core_lacking_functions_is_explained(tmp_path):
    # Another language loaded a core first that is too old for this module:
    # the loader refuses the module (undefined symbol), and the ImportError
    # says which core is in use, and its version.
    soname = os.path.basename(ferrymap.library_path())
    src = tmp_path / "stub.c"
    src.write_text(STUB_CORE)
    stub = tmp_path / soname
    subprocess.run(
        ["cc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", str(stub), str(src)],
        check=True,
    )
    prog = (
        "import ctypes, sys\n"
        "ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)\n"
        "import ferrymap\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", prog, str(stub)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert r.returncode != 0
    assert (
        f"ImportError: ferrymap {ferrymap.__version__}: the core library in use lacks a function"
        in r.stderr
    )
    assert "undefined symbol: fm_" in r.stderr
    assert f"core in use: {stub}, version 0.0.9" in r.stderr
