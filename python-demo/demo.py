"""ferrymap Python demo: one map, two languages, no copies.

1. Python builds a map and hands its handle (an int) to C code running in
   the same process; C adds to it; Python sees the changes at once.
2. C builds a map and hands it to Python, which takes ownership.
3. Timing: handing a 1M-entry map to C (pass the handle) against the
   usual alternatives, pickle and JSON round trips.

Run it with python-demo/run.sh, which builds everything first.
Usage: demo.py PATH_TO_c_side.so [--entries N]
"""

from __future__ import annotations

import argparse
import array
import ctypes
import json
import pickle
import random
import statistics
import time
from typing import Callable

import ferrymap


def load_c_side(path: str) -> ctypes.CDLL:
    # Linked with -lferrymap: its NEEDED libferrymap.so resolves, by soname,
    # to the copy `import ferrymap` already loaded.
    c = ctypes.CDLL(path)
    h = ctypes.c_uint64
    c.demo_add_to_keys.argtypes = [
        h,
        ctypes.POINTER(ctypes.c_int64),
        ctypes.c_size_t,
        ctypes.c_int64,
    ]
    c.demo_label.argtypes = [h, ctypes.c_int64, ctypes.c_char_p]
    c.demo_sum_values.argtypes = [
        h,
        ctypes.POINTER(ctypes.c_int64),
        ctypes.POINTER(ctypes.c_size_t),
    ]
    c.demo_len.argtypes = [h]
    c.demo_len.restype = ctypes.c_int64
    c.demo_make_squares.argtypes = [ctypes.c_int64]
    c.demo_make_squares.restype = h
    c.demo_registry_id.restype = ctypes.c_uint64
    return c


def part_one(c: ctypes.CDLL) -> None:
    print("== 1. Python builds a map, C adds to it ==")
    print(f"registry: python {ferrymap.registry_id():#x}, C {c.demo_registry_id():#x}")
    assert ferrymap.registry_id() == c.demo_registry_id(), "two registries: not sharing"
    with (
        ferrymap.Map(int, int, {101: 3, 102: 1, 103: 7}) as visits,
        ferrymap.Map(int, str) as labels,
    ):
        print(f"python: {visits!r} -> {visits.to_dict()}")
        keys = (ctypes.c_int64 * 4)(101, 101, 103, 104)
        rc = c.demo_add_to_keys(visits.handle, keys, 4, 10)  # C gets just the integer
        assert rc == 0
        for key, text in ((101, "alice"), (104, "dora \U0001f980")):
            assert c.demo_label(labels.handle, key, text.encode()) == 0
        print(f"after C: {visits.to_dict()}")
        print(f"labels written by C: {labels.to_dict()}")
        total, count = ctypes.c_int64(), ctypes.c_size_t()
        assert (
            c.demo_sum_values(visits.handle, ctypes.byref(total), ctypes.byref(count))
            == 0
        )
        print(
            f"C sums {count.value} values: {total.value} (python: {sum(visits.values())})"
        )
        assert visits == {101: 23, 102: 1, 103: 17, 104: 10}
        assert total.value == sum(visits.values())


def part_two(c: ctypes.CDLL) -> None:
    print("\n== 2. C builds a map, Python takes it over ==")
    handle = c.demo_make_squares(10)
    with ferrymap.Map.attach(handle, owned=True) as squares:
        print(f"python sees {squares!r}: 7 -> {squares[7]}")
    print(f"freed by Python's close(): live handles now {ferrymap.census_total()}")


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:9.2f} µs"
    return f"{seconds * 1e3:9.2f} ms"


def part_three(c: ctypes.CDLL, n: int) -> None:
    print(f"\n== 3. Handing a {n:,}-entry map to C ==")
    keys = list(range(n))
    random.Random(1).shuffle(keys)
    d = {k: k * 3 for k in keys}
    m = ferrymap.Map(int, int, capacity=n)
    m.set_many(array.array("q", keys), array.array("q", (k * 3 for k in keys)))
    assert len(m) == n

    # The hand-off: C receives the handle and uses the map (here: its length).
    h = m.handle
    assert c.demo_len(h) == n
    calls = 2000
    t = time.perf_counter()
    for _ in range(calls):
        c.demo_len(h)
    handoff = (time.perf_counter() - t) / calls
    attr = best(lambda: m.handle, 1000)

    pickle_rt = best(
        lambda: pickle.loads(pickle.dumps(d, protocol=pickle.HIGHEST_PROTOCOL)), 3
    )
    json_rt = best(lambda: json.loads(json.dumps(d)), 2)
    export_rt = best(lambda: ferrymap.Map.import_(m.export()).close(), 3)
    pickled = len(pickle.dumps(d, protocol=pickle.HIGHEST_PROTOCOL))
    jsoned = len(json.dumps(d))
    exported = len(m.export())

    rows = [
        ("ferrymap handle to C (ctypes call + fm_map_len)", handoff, "8 bytes"),
        ("  reading m.handle alone", attr, ""),
        ("pickle dumps + loads of the dict", pickle_rt, f"{pickled / 1e6:.1f} MB"),
        (
            "JSON dumps + loads of the dict (keys come back as str)",
            json_rt,
            f"{jsoned / 1e6:.1f} MB",
        ),
        (
            "ferrymap export + import (to another process)",
            export_rt,
            f"{exported / 1e6:.1f} MB",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for name, secs, size in rows:
        print(f"{name:<{width}}  {fmt(secs)}  {size}")
    print(
        f"hand-off is {pickle_rt / handoff:,.0f}x faster than pickle and {json_rt / handoff:,.0f}x than JSON"
    )
    stats = m.stats()
    print(
        f"map memory: {stats['memory_bytes'] / n:.1f} bytes/entry (load factor {stats['load_factor']:.2f})"
    )
    m.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("c_side", help="path of the compiled c_side.so")
    ap.add_argument("--entries", type=int, default=1_000_000)
    args = ap.parse_args()
    print(
        f"ferrymap {ferrymap.__version__}, core {ferrymap.core_version()} from {ferrymap.library_path()}"
    )
    c = load_c_side(args.c_side)
    part_one(c)
    part_two(c)
    part_three(c, args.entries)
    assert ferrymap.census_total() == 0, ferrymap.census()
    print("\nall handles freed; demo done")


if __name__ == "__main__":
    main()
