"""ferrymap: hash maps shared by C, Java, Python and Go in one process.

A map lives in one shared library, ``libferrymap.so``; every language holds
only an opaque 64-bit handle to it. ``Map`` is a full
``collections.abc.MutableMapping`` over such a map; ``Map.handle`` is the
integer to give to C, Java or Go code in the same process, and
``Map.attach(handle)`` wraps a handle made there.

This package reaches the core through the ``libferrymap.so`` that is already
loaded in the process (by C, Java or Go, matched by its soname), or else the
copy shipped next to the native module; ``library_path()`` says which file,
``registry_id()`` which registry (equal in every language sharing maps).

Ownership: ``Map(...)``, ``clone()``, ``Map.import_()`` and
``Map.attach(h, owned=True)`` own their handle and free it on ``close()``,
at the end of a ``with`` block or when garbage collected. ``Map.attach(h)``
borrows: it never frees; the creator does. ``disown()`` hands ownership
over. Using a closed Map raises ``ClosedError``; a handle freed elsewhere
gives ``InvalidHandleError``: never a crash.

Iteration (``iter(m)``, ``keys()``, ``values()``, ``items()``) walks a
snapshot taken when it starts: concurrent writers, in any thread or
language, never disturb it.

Bridge mode: ``Map.bridge(key, value, queue=1024)`` makes a map whose every
operation runs on one owner thread (one total order of mutations, each
numbered; ``last_seq()``), with asynchronous batches (``submit``,
``try_submit``, ``await m.asubmit(...)``: ``Ticket``, ``Result``), a change
feed (``subscribe``: ``Subscription``, ``Event``) and bounded queues
(``QueueFullError``, ``FerryTimeoutError``). It is a ``Map`` like any other.
"""

from collections.abc import MutableMapping as _MutableMapping

__version__ = "0.1.0"


def _loaded_core() -> str:
    """The libferrymap mapped in this process and its version, for errors.

    Reads /proc/self/maps: the core is linked ``-z nodelete``, so it stays
    mapped even when the module that needed it failed to load.
    """
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({ln.split()[-1] for ln in f if "/libferrymap.so" in ln})
        if not paths:
            return "none (no libferrymap is mapped)"
        import ctypes

        lib = ctypes.CDLL(paths[0])
        lib.fm_version_string.restype = ctypes.c_char_p
        version = lib.fm_version_string().decode()
        return f"{paths[0]}, version {version}"
    except (OSError, AttributeError, ValueError) as e:
        return f"unknown ({e})"


# Loading: the native module needs the core (NEEDED <soname>): one already
# in the process (loaded by C, Java or Go) is joined, else the copy shipped
# in this package is loaded. The module's init refuses a core of another
# major version itself (src/handshake.rs); a core too old to have every
# function the module calls fails earlier, in the loader, and gets a clearer
# message here.
try:
    from ._native import (
        CORE_VERSION,
        BridgeClosedError,
        BridgeFailedError,
        ClosedError,
        CorruptDataError,
        Error,
        FerryTimeoutError,
        IntegerOverflowError,
        InternalError,
        InvalidArgumentError,
        InvalidHandleError,
        InvalidUtf8Error,
        Map,
        MapIterator,
        OutOfMemoryError,
        QueueFullError,
        ReentrantError,
        Subscription,
        Ticket,
        UnsupportedVersionError,
        ValueView,
        WrongKindError,
        census,
        census_total,
        core_version,
        last_seq,
        library_path,
        registry_id,
    )
except ImportError as _err:
    if "undefined symbol: fm_" not in str(_err):
        raise
    raise ImportError(
        f"ferrymap {__version__}: the core library in use lacks a function this module "
        f"calls ({_err}); core in use: {_loaded_core()}. It is older than the core this "
        "module was built against: install the ferrymap package matching it, or make "
        "sure the libferrymap loaded first in this process is at least as new"
    ) from _err
from ._bridge import Event, Request, Result

# Map implements every MutableMapping method natively (so that m[k] is one
# native call); registering makes isinstance/issubclass agree.
_MutableMapping.register(Map)

__all__ = [
    "CORE_VERSION",
    "BridgeClosedError",
    "BridgeFailedError",
    "ClosedError",
    "CorruptDataError",
    "Error",
    "Event",
    "FerryTimeoutError",
    "IntegerOverflowError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidHandleError",
    "InvalidUtf8Error",
    "Map",
    "MapIterator",
    "OutOfMemoryError",
    "QueueFullError",
    "ReentrantError",
    "Request",
    "Result",
    "Subscription",
    "Ticket",
    "UnsupportedVersionError",
    "ValueView",
    "WrongKindError",
    "census",
    "census_total",
    "core_version",
    "last_seq",
    "library_path",
    "registry_id",
]
