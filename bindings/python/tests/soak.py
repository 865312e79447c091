"""Soak: the crash ferrymap exists to remove, replayed in Python (issue 20).

In Go, ranging over a map while another goroutine writes it kills the
process. Here writer threads insert, overwrite, remove, clear and at times
free a ferrymap ``Map(int, str)`` and make a new one, while reader threads
iterate it (at once; part, a pause, the rest; part, then held until the
map is freed, then the rest) and open value views. Every iterator is
checked for being exactly one snapshot, with the rules of
c-tests/soak.c, which explains them in full (check_key there); in short:

- a stamp clock (one counter) stamps every call before and after; each key's
  owner publishes a record (generation, stamps, insert or removal) after
  each call; a reader copies the records, takes stamp b, makes the
  iterator, takes stamp a: the snapshot's instant lies in [b, a];
- a value must be of this map, of its key's writer, not from after a, not
  older than the last write that had ended, and not one a finished clear
  should have removed; a key may be absent only if a removal or clear
  explains it; each key once; B of a pair implies A at least as new;
- clear is checked as a removal of each key at its own instant inside the
  call, not as one atomic step (issue 22: a direct map's clear is not yet
  atomic across keys).

Not collected by pytest (no ``test_`` prefix): scripts/soak runs it with the
binding's venv, ``python bindings/python/tests/soak.py``.
FERRYMAP_SOAK_SECONDS sets the duration (default 10); FERRYMAP_SOAK_NEGATIVE=1
runs the negative control: readers use lookups key by key, which are no
snapshot, and every rule of the check must fire.
"""

from __future__ import annotations

import itertools
import os
import random
import sys
import threading
import time
from dataclasses import dataclass

import ferrymap

WRITERS = 3
READERS = 3
PAIRS = 256
KEYS_PER_WRITER = 2 * PAIRS
NKEYS = WRITERS * KEYS_PER_WRITER
CLEAR_EVERY = 0.020
FREE_EVERY = 0.150
HOLD_WAIT = 0.400
INSERT, REMOVE = 1, 2
MAX_REPORTS = 20

# ---- shared state (a list item or attribute store is atomic under the GIL) ----

_clock = itertools.count(1)


def tick() -> int:
    return next(_clock)


@dataclass(frozen=True)
class Gen:
    id: int
    map: ferrymap.Map[int, str]


# record per key: (gen, s, e, kind, removes started at that time)
NO_RECORD = (0, 0, 0, 0, 0)
key_rec: list[tuple[int, int, int, int, int]] = [NO_RECORD] * NKEYS
removes_started = [0] * NKEYS  # only the key's owner writes it
# the last finished clear: (gen, s, e, clears finished so far)
last_clear: tuple[int, int, int, int] = (0, 0, 0, 0)
clears_started = 0
current: Gen
stop = threading.Event()
negative = False

counts = {
    "writer_ops": 0,
    "clears": 0,
    "frees": 0,
    "iters": 0,
    "entries": 0,
    "views": 0,
    "outlived": 0,
    "stale": 0,
    "violations": 0,
}
rules = {"future": 0, "stale": 0, "absent": 0, "cross": 0}
_count_lock = threading.Lock()


def bump(name: str, n: int = 1, table: dict[str, int] = counts) -> None:
    with _count_lock:
        table[name] += n


def violation(msg: str) -> None:
    with _count_lock:
        counts["violations"] += 1
        n = counts["violations"]
    if n <= MAX_REPORTS:
        print("VIOLATION: " + msg, file=sys.stderr, flush=True)


GONE = (ferrymap.InvalidHandleError, ferrymap.ClosedError)

# ---- values (the same bytes as c-tests/soak.c) ----


def fnv1a(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def encode(g: int, w: int, k: int, s: int, p: int) -> str:
    body = f"g{g} w{w} k{k} s{s} p{p} " + "é" * (s % 17)
    return f"{body}#{fnv1a(body.encode()):08x}"


@dataclass(frozen=True)
class Decoded:
    g: int
    w: int
    k: int
    s: int
    p: int


def decode(v: str) -> Decoded | str:
    """The decoded value, or why it is not one a writer wrote."""
    if len(v) < 10 or v[-9] != "#":
        return "no checksum"
    body = v[:-9]
    try:
        ok = int(v[-8:], 16) == fnv1a(body.encode())
    except ValueError:
        ok = False
    if not ok:
        return "checksum mismatch (bytes mangled)"
    try:
        parts = body.split(" ")
        g, w, k, s, p = (int(x[1:]) for x in parts[:5])
    except ValueError:
        return "unparsable"
    if encode(g, w, k, s, p) != v:
        return "not the canonical encoding"
    return Decoded(g, w, k, s, p)


# ---- writers ----


def publish(k: int, g: int, s: int, e: int, kind: int) -> None:
    key_rec[k] = (g, s, e, kind, removes_started[k])


def put(g: Gen, w: int, k: int, pair_stamp: int) -> int | None:
    s = tick()
    value = encode(g.id, w, k, s, pair_stamp or s)
    try:
        g.map[k] = value
    except GONE:
        return None
    finally:
        e = tick()
    publish(k, g.id, s, e, INSERT)
    return s


def delete(g: Gen, k: int) -> bool:
    removes_started[k] += 1
    s = tick()
    try:
        g.map.pop(k, None)
    except GONE:
        return False
    finally:
        e = tick()
    publish(k, g.id, s, e, REMOVE)
    return True


def writer(w: int) -> None:
    global current, last_clear, clears_started
    rng = random.Random(w + 1)
    next_clear = time.monotonic() + CLEAR_EVERY
    next_free = time.monotonic() + FREE_EVERY
    ops = 0
    while not stop.is_set():
        g = current
        if w == 0 and ops % 16 == 0:
            now = time.monotonic()
            if now >= next_free:
                current = Gen(g.id + 1, ferrymap.Map(int, str, capacity=NKEYS))
                g.map.close()
                bump("frees")
                next_free = now + FREE_EVERY
                ops += 1
                continue
            if now >= next_clear:
                clears_started += 1
                s = tick()
                g.map.clear()
                e = tick()
                last_clear = (g.id, s, e, last_clear[3] + 1)
                bump("clears")
                next_clear = now + CLEAR_EVERY
        a = w * KEYS_PER_WRITER + 2 * rng.randrange(PAIRS)
        if rng.randrange(10) < 7:
            sa = put(g, w, a, 0)
            if sa is not None:
                put(g, w, a + 1, sa)
        elif delete(g, a + 1):
            delete(g, a)
        ops += 1
        bump("writer_ops", 2)


# ---- readers ----


@dataclass
class Window:
    g: Gen
    lc: tuple[int, int, int, int]  # the last clear finished before b
    b: int = 0
    a: int = 0
    clears_started_after: int = 0

    def clear_may_overlap(self) -> bool:
        return self.clears_started_after > self.lc[3]


def check_key(
    win: Window,
    k: int,
    d: tuple[int, int, int, int, int],
    removes_after: int,
    v: Decoded | None,
    what: str,
) -> None:
    """The rules of c-tests/soak.c's check_key, one for one."""
    gid = win.g.id
    lc_gen, lc_s, lc_e, _ = win.lc
    d_gen, d_s, d_e, d_kind, d_removes = d
    d_here = d_gen == gid
    if v is not None:
        if v.g != gid or v.k != k or v.w != k // KEYS_PER_WRITER:
            violation(f"{what}: key {k} holds the value of {v} in generation {gid}")
            return
        if v.s >= win.a:
            bump("future", table=rules)
            violation(
                f"{what}: key {k} has stamp {v.s} from after the window [{win.b}, {win.a}]"
            )
        if d_here and v.s < d_s:
            bump("stale", table=rules)
            violation(
                f"{what}: key {k} has stamp {v.s} older than its write {d_s} that ended "
                f"({d_e}) before the window [{win.b}, {win.a}]"
            )
        if d_here and v.s == d_s and lc_gen == gid and lc_s > d_e:
            violation(
                f"{what}: key {k} still has value {v.s} (ended {d_e}) after a clear "
                f"[{lc_s}, {lc_e}] that ended before the window"
            )
        return
    excused = (
        not d_here
        or d_kind == REMOVE
        or removes_after > d_removes
        or (lc_gen == gid and lc_e > d_s)
        or win.clear_may_overlap()
    )
    if not excused:
        bump("absent", table=rules)
        violation(
            f"{what}: key {k} absent, but its insert {d_s} ended at {d_e} before the "
            f"window [{win.b}, {win.a}], no removal or clear since"
        )


def check_all(
    win: Window,
    d: list[tuple[int, int, int, int, int]],
    removes_after: list[int],
    seen: list[Decoded | None],
) -> None:
    for k in range(NKEYS):
        check_key(win, k, d[k], removes_after[k], seen[k], "iterator")
    # B carries the stamp p of the A written just before it, and A is removed
    # only after B: A present but older than p is wrong whatever clears did; A
    # absent only if a clear may have removed it (clear is checked per key).
    lc_gen, _, lc_e, _ = win.lc
    for b in range(1, NKEYS, 2):
        vb = seen[b]
        if vb is None:
            continue
        va = seen[b - 1]
        if va is not None:
            if va.s < vb.p:
                bump("cross", table=rules)
                violation(
                    f"iterator: key {b} (B) has A-stamp {vb.p}, key {b - 1} (A) only {va.s}"
                )
            continue
        if not (win.clear_may_overlap() or (lc_gen == win.g.id and lc_e >= vb.p)):
            bump("cross", table=rules)
            violation(
                f"iterator: key {b} (B, A-stamp {vb.p}) present, its A key {b - 1} absent"
            )


def open_window(g: Gen) -> Window:
    return Window(g, last_clear)


def close_window(win: Window) -> list[int]:
    win.a = tick()
    win.clears_started_after = clears_started
    return list(removes_started)


def iterate(rng: random.Random) -> None:
    if negative:
        negative_round(rng)
        return
    g = current
    win = open_window(g)
    d = list(key_rec)
    win.b = tick()
    try:
        it = iter(g.map.items())
    except GONE:
        close_window(win)
        bump("stale")
        return
    removes_after = close_window(win)
    n = it.__length_hint__()  # type: ignore[attr-defined]
    seen: list[Decoded | None] = [None] * NKEYS
    # 0: at once (half the time); 1: part, a pause, the rest; 2: part, then
    # held until writer 0 frees the map, then the rest.
    mode = (0, 0, 0, 0, 1, 1, 1, 2)[rng.randrange(8)]
    part = rng.randrange(n) if n else 0
    count = 0
    for k, v in it:
        if mode and count == part:
            if mode == 1:
                time.sleep(0.0002 + rng.random() * 0.002)
            else:
                until = time.monotonic() + HOLD_WAIT
                while current is g and time.monotonic() < until:
                    time.sleep(0.0005)
                if current is not g:
                    try:
                        len(g.map)
                    except GONE:
                        bump("outlived")
        count += 1
        if not 0 <= k < NKEYS:
            violation(f"iterator: key {k} was never written (generation {g.id})")
            continue
        if seen[k] is not None:
            violation(f"iterator: key {k} yielded twice")
            continue
        dv = decode(v)
        if isinstance(dv, str):
            violation(f"iterator: key {k} value of {len(v)} characters: {dv}")
            continue
        seen[k] = dv
    it.close()  # type: ignore[attr-defined]
    if count != n:
        violation(f"iterator: length {n}, it yielded {count}")
    check_all(win, d, removes_after, seen)
    bump("iters")
    bump("entries", count)


def negative_round(rng: random.Random) -> None:
    """Lookups key by key instead of a snapshot, as in c-tests/soak.c."""
    g = current
    variant = rng.randrange(3)
    seen: list[Decoded | None] = [None] * NKEYS

    def get_all(first: int, step: int) -> bool:
        for k in range(first, NKEYS, step):
            try:
                v = g.map.get(k)
            except GONE:
                return False
            if v is None:
                continue
            dv = decode(v)
            if isinstance(dv, str):
                violation(f"get: key {k}: {dv}")
                continue
            seen[k] = dv
        return True

    if variant == 1 and not get_all(0, 1):
        return
    win = open_window(g)
    d = list(key_rec)
    win.b = tick()
    if variant == 2:
        if not get_all(0, 2):
            return
        time.sleep(0.001)
        if not get_all(1, 2):
            return
    removes_after = close_window(win)
    if variant == 0 and not get_all(0, 1):
        return
    check_all(win, d, removes_after, seen)
    bump("iters")
    bump("entries", sum(v is not None for v in seen))


def view(rng: random.Random) -> None:
    g = current
    k = rng.randrange(NKEYS)
    win = open_window(g)
    d = key_rec[k]
    win.b = tick()
    try:
        mv = g.map.view(k)
    except KeyError:
        removes_after = close_window(win)
        check_key(win, k, d, removes_after[k], None, "view")
        bump("views")
        return
    except GONE:
        close_window(win)
        bump("stale")
        return
    removes_after = close_window(win)
    owner = mv.obj
    data = bytes(mv)
    dv = decode(data.decode())
    if isinstance(dv, str):
        violation(f"view: key {k} value of {len(data)} bytes: {dv}")
    else:
        check_key(win, k, d, removes_after[k], dv, "view")
        time.sleep(0.0001 + rng.random() * 0.001)
        if bytes(mv) != data:
            violation(f"view: key {k} bytes changed while the view was held")
    mv.release()
    owner.release()  # type: ignore[union-attr]
    bump("views")


def reader(i: int) -> None:
    rng = random.Random(100 + i)
    while not stop.is_set():
        if rng.randrange(4) == 0:
            view(rng)
        else:
            iterate(rng)


def main() -> int:
    global current, negative
    env = os.environ.get("FERRYMAP_SOAK_SECONDS", "")
    try:
        seconds = float(env) if env else 10.0
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        print(
            f"soak: FERRYMAP_SOAK_SECONDS must be a positive number, not {env!r}",
            file=sys.stderr,
        )
        return 2
    negative = os.environ.get("FERRYMAP_SOAK_NEGATIVE") == "1"
    current = Gen(1, ferrymap.Map(int, str, capacity=NKEYS))
    print(
        f"Python soak: {WRITERS} writers, {READERS} readers, {NKEYS} keys, {seconds:.0f} s",
        flush=True,
    )
    start = time.monotonic()
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    threads += [threading.Thread(target=reader, args=(i,)) for i in range(READERS)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    current.map.close()
    census = ferrymap.census_total()

    c = counts
    print(f"duration {elapsed:.1f} s")
    print(
        f"iterators checked {c['iters']} ({c['outlived']} outlived their map; "
        f"{c['stale']} creations found the map already freed)"
    )
    print(f"entries checked {c['entries']}")
    print(f"views checked {c['views']}")
    print(
        f"writer operations {c['writer_ops']} (inserts and removes), "
        f"clears {c['clears']}, frees {c['frees']}"
    )
    print(f"violations {c['violations']}")
    print(f"live handles at the end {census}")
    if negative:
        caught = all(rules.values())
        verdict = (
            "each rule fired, as it must" if caught else "FAIL: a rule never fired"
        )
        print(
            f"negative control: violations by rule: from the future {rules['future']}, "
            f"stale {rules['stale']}, wrongly absent {rules['absent']}, "
            f"cross-key {rules['cross']} ({verdict})"
        )
        return 0 if caught and census == 0 else 1
    exercised = c["iters"] > 0 and c["views"] > 0 and c["outlived"] > 0
    if not exercised:
        print(
            "soak: a path was never exercised (iterators, views, or an iterator outliving its map)",
            file=sys.stderr,
        )
    ok = c["violations"] == 0 and census == 0 and exercised
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
