"""Bridge-mode benchmarks of the Python binding, beside a direct map.

Reported, not asserted (issue 5). Run with the binding installed
(bindings/python/test.sh installs it into bindings/python/.venv):

    bindings/python/.venv/bin/python bindings/python/bench_bridge.py           # about 30 s
    bindings/python/.venv/bin/python bindings/python/bench_bridge.py --quick   # about 10 s

- Sync round trip: `m[k]` one call at a time, each timed with
  perf_counter_ns (the timer's own cost is measured and shown, not
  subtracted); percentiles over all calls.
- Pipelined: one producer submits single-request batches (`("get", k)`),
  keeping up to `--window` tickets in flight and reading the oldest.
- Batched: 1024 requests per submit; submit, then read the results.
- Two producers: two Python threads doing `m[k]` (each call releases the GIL
  while the owner thread works).
- asyncio: `await m.aget(k)` one at a time, and 256 at a time (gather).
- Idle: CPU time of the whole process while a bridge map sits idle.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sys
import threading
import time
from typing import Any

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import ferrymap  # noqa: E402


def percentiles(samples: list[int]) -> tuple[float, float, float]:
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))] / 1000.0  # noqa: E731
    return pick(0.50), pick(0.99), pick(0.999)


def sync_latency(m: Any, keys: list[int], n: int) -> list[int]:
    out = []
    ns = time.perf_counter_ns
    for i in range(n):
        k = keys[i % len(keys)]
        t = ns()
        m[k]
        out.append(ns() - t)
    return out


def timer_cost(n: int) -> list[int]:
    out = []
    ns = time.perf_counter_ns
    for _ in range(n):
        t = ns()
        out.append(ns() - t)
    return out


def pipelined(m: Any, keys: list[int], n: int, window: int) -> float:
    reqs = [[("get", keys[i % len(keys)])] for i in range(n)]
    inflight: list[Any] = []
    t = time.perf_counter()
    for r in reqs:
        inflight.append(m.submit(r))
        if len(inflight) >= window:
            inflight.pop(0).results()
    for tk in inflight:
        tk.results()
    return n / (time.perf_counter() - t)


def batched(m: Any, keys: list[int], batches: int, size: int, op: str) -> float:
    if op == "get":
        batch = [("get", keys[i % len(keys)]) for i in range(size)]
    else:
        batch = [("insert", keys[i % len(keys)], i) for i in range(size)]
    t = time.perf_counter()
    for _ in range(batches):
        m.submit(batch).results()
    return batches * size / (time.perf_counter() - t)


def batched_pipelined(m: Any, keys: list[int], batches: int, size: int) -> float:
    batch = [("get", keys[i % len(keys)]) for i in range(size)]
    t = time.perf_counter()
    tickets = [m.submit(batch) for _ in range(batches)]
    for tk in tickets:
        tk.results()
    return batches * size / (time.perf_counter() - t)


def two_producers(m: Any, keys: list[int], seconds: float) -> float:
    counts = [0, 0]
    stop = threading.Event()
    start = threading.Barrier(3)

    def work(j: int) -> None:
        start.wait()
        i = 0
        ks = keys
        nk = len(ks)
        while not stop.is_set():
            for _ in range(256):
                m[ks[i % nk]]
                i += 1
        counts[j] = i

    ts = [threading.Thread(target=work, args=(j,)) for j in range(2)]
    for th in ts:
        th.start()
    start.wait()
    t = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for th in ts:
        th.join()
    return sum(counts) / (time.perf_counter() - t)


async def async_latency(m: Any, keys: list[int], n: int) -> list[int]:
    out = []
    ns = time.perf_counter_ns
    for i in range(n):
        t = ns()
        await m.aget(keys[i % len(keys)])
        out.append(ns() - t)
    return out


async def async_gather(m: Any, keys: list[int], rounds: int, width: int) -> float:
    t = time.perf_counter()
    for r in range(rounds):
        await asyncio.gather(
            *(m.aget(keys[(r * width + j) % len(keys)]) for j in range(width))
        )
    return rounds * width / (time.perf_counter() - t)


async def _noop(k: int) -> int:
    return k


async def noop_gather(rounds: int, width: int) -> float:
    t = time.perf_counter()
    for r in range(rounds):
        await asyncio.gather(*(_noop(j) for j in range(width)))
    return rounds * width / (time.perf_counter() - t)


def idle_cpu(seconds: float) -> float:
    m = ferrymap.Map.bridge(int, int, {1: 1})
    m[1]
    time.sleep(0.2)  # past the owner's spin after its last request
    c0, t0 = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    c1, t1 = time.process_time(), time.perf_counter()
    m.close()
    return 100.0 * (c1 - c0) / (t1 - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--window", type=int, default=256)
    a = ap.parse_args()
    scale = 0.3 if a.quick else 1.0
    n_sync = int(200_000 * scale)
    entries = int(a.entries * (0.1 if a.quick else 1.0))

    print(
        f"python {platform.python_version()}, core {ferrymap.core_version()}, {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.2f} at start",
        flush=True,
    )
    keys = list(range(entries))
    random.Random(1).shuffle(keys)
    data_keys = __import__("array").array("q", range(entries))
    direct = ferrymap.Map(int, int, capacity=entries)
    bridge = ferrymap.Map.bridge(int, int, capacity=entries)
    direct.set_many(data_keys, data_keys)
    bridge.set_many(data_keys, data_keys)
    probe = keys[: min(len(keys), 100_000)]

    print(
        f"\n{entries:,} int->int entries; sync m[k]: {n_sync:,} calls each, every call timed\n"
    )
    print("| sync round trip `m[k]` | p50 µs | p99 µs | p99.9 µs |")
    print("|---|---:|---:|---:|")
    tc = percentiles(timer_cost(n_sync))
    print(
        f"| (timer alone: two perf_counter_ns calls) | {tc[0]:.2f} | {tc[1]:.2f} | {tc[2]:.2f} |"
    )
    for name, m in (("direct map", direct), ("bridge map", bridge)):
        sync_latency(m, probe, n_sync // 10)  # warm up
        p = percentiles(sync_latency(m, probe, n_sync))
        print(f"| {name} | {p[0]:.2f} | {p[1]:.2f} | {p[2]:.2f} |", flush=True)

    print("\n| throughput | M ops/s |")
    print("|---|---:|")
    n_pipe = int(200_000 * scale)
    best_pipe = max(pipelined(bridge, probe, n_pipe, a.window) for _ in range(3))
    print(
        f"| pipelined: one producer, single-request submits, window {a.window} | {best_pipe / 1e6:.3f} |",
        flush=True,
    )
    nb = int(300 * scale) + 10
    for op in ("get", "insert"):
        best_b = max(batched(bridge, probe, nb, 1024, op) for _ in range(3))
        print(
            f"| batched: 1024 `{op}` requests per submit, submit then results | {best_b / 1e6:.3f} |",
            flush=True,
        )
    best_bp = max(batched_pipelined(bridge, probe, nb, 1024) for _ in range(3))
    print(
        f"| batched + pipelined: {nb} submits of 1024 `get`, then all results | {best_bp / 1e6:.3f} |",
        flush=True,
    )
    secs = 2.0 * scale + 0.5
    for name, m in (("direct", direct), ("bridge", bridge)):
        print(
            f"| two producer threads, sync `m[k]`, {name} map | {two_producers(m, probe, secs) / 1e6:.3f} |",
            flush=True,
        )

    async def run_async() -> None:
        n = int(20_000 * scale)
        await async_latency(bridge, probe, n // 10)
        p = percentiles(await async_latency(bridge, probe, n))
        print(f"\n| asyncio | p50 µs | p99 µs | p99.9 µs |\n|---|---:|---:|---:|")
        print(
            f"| `await m.aget(k)`, one at a time | {p[0]:.1f} | {p[1]:.1f} | {p[2]:.1f} |",
            flush=True,
        )
        rounds = int(100 * scale) + 5
        rate = await async_gather(bridge, probe, rounds, 256)
        base = await noop_gather(rounds, 256)
        print(
            f"\n`await asyncio.gather(` 256 × `m.aget(k))`: {rate / 1e6:.3f} M ops/s "
            f"(256 no-op coroutines gathered the same way: {base / 1e6:.3f} M/s)",
            flush=True,
        )

    asyncio.run(run_async())
    print(
        f"\nidle bridge map: {idle_cpu(2.0 if not a.quick else 1.0):.2f}% of one core (whole process, 2 s idle)"
    )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    direct.close()
    bridge.close()


if __name__ == "__main__":
    main()
