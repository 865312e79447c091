package dev.ferrymap;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Soak: the crash ferrymap exists to remove, replayed in Java (issue 20). In Go, ranging
 * over a map while another goroutine writes it kills the process. Here writer threads
 * insert, overwrite, remove, clear and at times close (free) a {@code FerryMap<Long,
 * String>} and make a new one, while reader threads iterate it (at once; part, a pause,
 * the rest; part, then held until the map is freed, then the rest) and open value views.
 * Every iterator is checked for being exactly one snapshot with the rules of
 * c-tests/soak.c, which explains them in full (check_key there). Clear is checked as a
 * removal of each key at its own instant inside the call, not as one atomic step (issue
 * 22: a direct map's clear is not yet atomic across keys). The Java iterator does not
 * tell the snapshot's length, so the length rule of the other languages is not checked
 * here.
 *
 * <p>A main program, not a JUnit test (surefire does not pick it up): scripts/soak
 * compiles it with {@code mvn test-compile} and runs it. FERRYMAP_SOAK_SECONDS sets the
 * duration (default 10); FERRYMAP_SOAK_NEGATIVE=1 runs the negative control, in which
 * readers look keys up one by one (no snapshot) and every rule of the check must fire.
 */
public final class Soak {
    static final int WRITERS = 3;
    static final int READERS = 3;
    static final int PAIRS = 256;
    static final int KEYS_PER_WRITER = 2 * PAIRS;
    static final int NKEYS = WRITERS * KEYS_PER_WRITER;
    static final long CLEAR_NANOS = 20_000_000L;
    static final long FREE_NANOS = 150_000_000L;
    static final long HOLD_NANOS = 400_000_000L;
    static final int INSERT = 1;
    static final int REMOVE = 2;
    static final int MAX_REPORTS = 20;

    // ---- shared state ----

    static final AtomicLong CLOCK = new AtomicLong(1);

    static long tick() {
        return CLOCK.getAndIncrement();
    }

    record Gen(long id, FerryMap<Long, String> map) {}

    /** What a key's owner publishes after each successful call. */
    record Rec(long gen, long s, long e, int kind, long removes) {}

    /** The last finished clear; {@code done} counts the clears finished. */
    record ClearRec(long gen, long s, long e, long done) {}

    static final Rec NO_REC = new Rec(0, 0, 0, 0, 0);
    static final AtomicReference<Gen> CURRENT = new AtomicReference<>();
    static final AtomicReferenceArray<Rec> KEY_REC = new AtomicReferenceArray<>(NKEYS);
    static final AtomicLongArray REMOVES_STARTED = new AtomicLongArray(NKEYS);
    static final AtomicReference<ClearRec> LAST_CLEAR = new AtomicReference<>(new ClearRec(0, 0, 0, 0));
    static final AtomicLong CLEARS_STARTED = new AtomicLong();
    static final AtomicBoolean STOP = new AtomicBoolean();
    static boolean negative;

    static final AtomicLong WRITER_OPS = new AtomicLong(), CLEARS = new AtomicLong(),
            FREES = new AtomicLong(), ITERS = new AtomicLong(), ENTRIES = new AtomicLong(),
            VIEWS = new AtomicLong(), OUTLIVED = new AtomicLong(), STALE_CREATIONS = new AtomicLong(),
            VIOLATIONS = new AtomicLong();
    /** Violations by rule, for the negative control. */
    static final AtomicLong R_FUTURE = new AtomicLong(), R_STALE = new AtomicLong(),
            R_ABSENT = new AtomicLong(), R_CROSS = new AtomicLong();

    static void violation(String msg) {
        if (VIOLATIONS.incrementAndGet() <= MAX_REPORTS) {
            System.err.println("VIOLATION: " + msg);
        }
    }

    /** Whether an exception means the map was freed under the caller. */
    static boolean gone(RuntimeException e) {
        return e instanceof IllegalStateException;
    }

    // ---- values (the same bytes as c-tests/soak.c) ----

    static int fnv1a(byte[] b, int n) {
        int h = 0x811c9dc5;
        for (int i = 0; i < n; i++) {
            h = (h ^ (b[i] & 0xff)) * 16777619;
        }
        return h;
    }

    static String encode(long g, int w, long k, long s, long p) {
        String body = "g" + g + " w" + w + " k" + k + " s" + s + " p" + p + " " + "é".repeat((int) (s % 17));
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        return body + "#" + String.format("%08x", fnv1a(b, b.length));
    }

    record Decoded(long g, int w, long k, long s, long p) {}

    /** The decoded value, or null after reporting why it is not one a writer wrote. */
    static Decoded decode(String v, String what) {
        String why;
        if (v.length() < 10 || v.charAt(v.length() - 9) != '#') {
            why = "no checksum";
        } else {
            String body = v.substring(0, v.length() - 9);
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            long sum;
            try {
                sum = Long.parseLong(v.substring(v.length() - 8), 16);
            } catch (NumberFormatException e) {
                sum = -1;
            }
            if (sum != (fnv1a(b, b.length) & 0xffffffffL)) {
                why = "checksum mismatch (bytes mangled)";
            } else {
                try {
                    String[] f = body.split(" ", 6);
                    Decoded d = new Decoded(Long.parseLong(f[0].substring(1)), Integer.parseInt(f[1].substring(1)),
                            Long.parseLong(f[2].substring(1)), Long.parseLong(f[3].substring(1)),
                            Long.parseLong(f[4].substring(1)));
                    if (encode(d.g, d.w, d.k, d.s, d.p).equals(v)) {
                        return d;
                    }
                    why = "not the canonical encoding";
                } catch (RuntimeException e) {
                    why = "unparsable";
                }
            }
        }
        violation(what + ": value of " + v.length() + " characters: " + why);
        return null;
    }

    // ---- writers ----

    static void publish(int k, long g, long s, long e, int kind) {
        KEY_REC.set(k, new Rec(g, s, e, kind, REMOVES_STARTED.get(k)));
    }

    /** One insert; -1 if the map was freed under the writer. */
    static long put(Gen g, int w, int k, long pairStamp) {
        long s = tick();
        String v = encode(g.id, w, k, s, pairStamp == 0 ? s : pairStamp);
        try {
            g.map.put((long) k, v);
        } catch (RuntimeException ex) {
            if (!gone(ex)) {
                throw ex;
            }
            return -1;
        }
        long e = tick();
        publish(k, g.id, s, e, INSERT);
        return s;
    }

    static boolean del(Gen g, int k) {
        REMOVES_STARTED.incrementAndGet(k);
        long s = tick();
        try {
            g.map.remove((long) k);
        } catch (RuntimeException ex) {
            if (!gone(ex)) {
                throw ex;
            }
            return false;
        }
        long e = tick();
        publish(k, g.id, s, e, REMOVE);
        return true;
    }

    static Gen newGen(long id) {
        return new Gen(id, FerryMap.create(Codec.LONG, Codec.STRING, NKEYS));
    }

    static void writer(int w) {
        SplittableRandom rng = new SplittableRandom(w + 1);
        long nextClear = System.nanoTime() + CLEAR_NANOS, nextFree = System.nanoTime() + FREE_NANOS;
        for (long ops = 0; !STOP.get(); ops++) {
            Gen g = CURRENT.get();
            if (w == 0 && ops % 64 == 0) {
                long now = System.nanoTime();
                if (now - nextFree >= 0) {
                    CURRENT.set(newGen(g.id + 1));
                    g.map.close();
                    FREES.incrementAndGet();
                    nextFree = now + FREE_NANOS;
                    continue;
                }
                if (now - nextClear >= 0) {
                    CLEARS_STARTED.incrementAndGet();
                    long s = tick();
                    g.map.clear();
                    long e = tick();
                    LAST_CLEAR.set(new ClearRec(g.id, s, e, LAST_CLEAR.get().done + 1));
                    CLEARS.incrementAndGet();
                    nextClear = now + CLEAR_NANOS;
                }
            }
            int a = w * KEYS_PER_WRITER + 2 * rng.nextInt(PAIRS);
            if (rng.nextInt(10) < 7) {
                long sa = put(g, w, a, 0);
                if (sa > 0) {
                    put(g, w, a + 1, sa);
                }
            } else if (del(g, a + 1)) {
                del(g, a);
            }
            WRITER_OPS.addAndGet(2);
        }
    }

    // ---- readers ----

    /** What a reader knows about the window [b, a] in which its snapshot was taken. */
    static final class Window {
        final Gen g;
        final ClearRec lc; // the last clear finished before b
        long b;
        long a;
        long clearsStartedAfter;

        Window(Gen g) {
            this.g = g;
            this.lc = LAST_CLEAR.get();
        }

        boolean clearMayOverlap() {
            return clearsStartedAfter > lc.done;
        }

        /** Closes the window: stamp a, then the counters of clears and removals started. */
        void close(long[] removesAfter) {
            a = tick();
            clearsStartedAfter = CLEARS_STARTED.get();
            for (int k = 0; k < NKEYS; k++) {
                removesAfter[k] = REMOVES_STARTED.get(k);
            }
        }
    }

    static Rec record(int k) {
        Rec r = KEY_REC.get(k);
        return r == null ? NO_REC : r;
    }

    /** The rules of c-tests/soak.c's check_key, one for one. */
    static void checkKey(Window win, int k, Rec d, long removesAfter, Decoded v, String what) {
        long gid = win.g.id;
        ClearRec lc = win.lc;
        boolean dHere = d.gen == gid;
        if (v != null) {
            if (v.g != gid || v.k != k || v.w != k / KEYS_PER_WRITER) {
                violation(what + ": key " + k + " holds the value " + v + " in generation " + gid);
                return;
            }
            if (v.s >= win.a) {
                R_FUTURE.incrementAndGet();
                violation(what + ": key " + k + " has stamp " + v.s + " from after the window [" + win.b + ", "
                        + win.a + "]");
            }
            if (dHere && v.s < d.s) {
                R_STALE.incrementAndGet();
                violation(what + ": key " + k + " has stamp " + v.s + " older than its write " + d.s
                        + " that ended (" + d.e + ") before the window [" + win.b + ", " + win.a + "]");
            }
            if (dHere && v.s == d.s && lc.gen == gid && lc.s > d.e) {
                violation(what + ": key " + k + " still has value " + v.s + " (ended " + d.e + ") after a clear ["
                        + lc.s + ", " + lc.e + "] that ended before the window");
            }
            return;
        }
        boolean excused = !dHere || d.kind == REMOVE || removesAfter > d.removes
                || (lc.gen == gid && lc.e > d.s) || win.clearMayOverlap();
        if (!excused) {
            R_ABSENT.incrementAndGet();
            violation(what + ": key " + k + " absent, but its insert " + d.s + " ended at " + d.e
                    + " before the window [" + win.b + ", " + win.a + "], no removal or clear since");
        }
    }

    static final class Reader {
        final SplittableRandom rng;
        final Rec[] d = new Rec[NKEYS];
        final long[] removesAfter = new long[NKEYS];
        final Decoded[] seen = new Decoded[NKEYS];

        Reader(int i) {
            rng = new SplittableRandom(100 + i);
        }

        void run() {
            while (!STOP.get()) {
                if (rng.nextInt(4) == 0) {
                    view();
                } else if (negative) {
                    negativeRound();
                } else {
                    iterate();
                }
            }
        }

        void readRecords() {
            for (int k = 0; k < NKEYS; k++) {
                d[k] = record(k);
            }
        }

        void iterate() {
            Gen g = CURRENT.get();
            Window win = new Window(g);
            readRecords();
            win.b = tick();
            CloseableIterator<Map.Entry<Long, String>> it;
            try {
                it = g.map.iterator();
            } catch (RuntimeException ex) {
                win.close(removesAfter);
                if (!gone(ex)) {
                    throw ex;
                }
                STALE_CREATIONS.incrementAndGet();
                return;
            }
            win.close(removesAfter);
            Arrays.fill(seen, null);
            // 0: at once (half the time); 1: part, a pause, the rest; 2: part, then held
            // until writer 0 frees the map, then the rest. The iterator does not tell its
            // length, so the part is drawn from the map's size just after (a hint only).
            int mode = new int[] {0, 0, 0, 0, 1, 1, 1, 2}[rng.nextInt(8)];
            long sizeHint;
            try {
                sizeHint = g.map.size();
            } catch (IllegalStateException ex) {
                sizeHint = NKEYS / 2; // already freed: the iterator is still good
            }
            int part = rng.nextInt((int) Math.max(1, sizeHint));
            long count = 0;
            try (it) {
                while (it.hasNext()) {
                    if (mode != 0 && count == part) {
                        pause(mode, g);
                    }
                    Map.Entry<Long, String> e = it.next();
                    count++;
                    long k = e.getKey();
                    if (k < 0 || k >= NKEYS) {
                        violation("iterator: key " + k + " was never written (generation " + g.id + ")");
                        continue;
                    }
                    if (seen[(int) k] != null) {
                        violation("iterator: key " + k + " yielded twice");
                        continue;
                    }
                    seen[(int) k] = decode(e.getValue(), "iterator: key " + k);
                }
            }
            checkAll(win);
            ITERS.incrementAndGet();
            ENTRIES.addAndGet(count);
        }

        void pause(int mode, Gen g) {
            if (mode == 1) {
                sleepNanos(200_000 + rng.nextInt(2_000_000));
                return;
            }
            long until = System.nanoTime() + HOLD_NANOS;
            while (CURRENT.get() == g && System.nanoTime() - until < 0) {
                sleepNanos(500_000);
            }
            if (CURRENT.get() != g) {
                try {
                    g.map.size();
                } catch (IllegalStateException ex) {
                    OUTLIVED.incrementAndGet();
                }
            }
        }

        /** The per-key rules for every key, then the cross-key rule for every pair. */
        void checkAll(Window win) {
            for (int k = 0; k < NKEYS; k++) {
                checkKey(win, k, d[k], removesAfter[k], seen[k], "iterator");
            }
            // B carries the stamp p of the A written just before it, and A is removed only
            // after B: A present but older than p is wrong whatever clears did; A absent
            // only if a clear may have removed it (clear is checked per key).
            for (int b = 1; b < NKEYS; b += 2) {
                Decoded vb = seen[b];
                if (vb == null) {
                    continue;
                }
                Decoded va = seen[b - 1];
                boolean clearExcuse = win.clearMayOverlap() || (win.lc.gen == win.g.id && win.lc.e >= vb.p);
                if ((va != null && va.s < vb.p) || (va == null && !clearExcuse)) {
                    R_CROSS.incrementAndGet();
                    violation("iterator: key " + b + " (B, A-stamp " + vb.p + "): its A key " + (b - 1) + " is "
                            + (va == null ? "absent" : "only at " + va.s));
                }
            }
        }

        /** Lookups key by key instead of a snapshot, as in c-tests/soak.c. */
        void negativeRound() {
            Gen g = CURRENT.get();
            int variant = rng.nextInt(3);
            Arrays.fill(seen, null);
            try {
                if (variant == 1) {
                    getAll(g, 0, 1);
                }
                Window win = new Window(g);
                readRecords();
                win.b = tick();
                if (variant == 2) {
                    getAll(g, 0, 2);
                    sleepNanos(1_000_000);
                    getAll(g, 1, 2);
                }
                win.close(removesAfter);
                if (variant == 0) {
                    getAll(g, 0, 1);
                }
                checkAll(win);
            } catch (IllegalStateException ex) {
                return; // freed midway: nothing to check
            }
            ITERS.incrementAndGet();
            ENTRIES.addAndGet(Arrays.stream(seen).filter(x -> x != null).count());
        }

        void getAll(Gen g, int first, int step) {
            for (int k = first; k < NKEYS; k += step) {
                String v = g.map.get((long) k);
                if (v != null) {
                    seen[k] = decode(v, "get: key " + k);
                }
            }
        }

        void view() {
            Gen g = CURRENT.get();
            int k = rng.nextInt(NKEYS);
            Window win = new Window(g);
            Rec dk = record(k);
            win.b = tick();
            ValueView v;
            try {
                v = g.map.view((long) k);
            } catch (RuntimeException ex) {
                win.close(removesAfter);
                if (!gone(ex)) {
                    throw ex;
                }
                STALE_CREATIONS.incrementAndGet();
                return;
            }
            win.close(removesAfter);
            if (v == null) {
                checkKey(win, k, dk, removesAfter[k], null, "view");
            } else {
                try (v) {
                    byte[] bytes = v.toByteArray();
                    Decoded dv = decode(new String(bytes, StandardCharsets.UTF_8), "view: key " + k);
                    if (dv != null) {
                        checkKey(win, k, dk, removesAfter[k], dv, "view");
                        sleepNanos(100_000 + rng.nextInt(1_000_000));
                        if (!Arrays.equals(bytes, v.toByteArray())) {
                            violation("view: key " + k + " bytes changed while the view was held");
                        }
                    }
                }
            }
            VIEWS.incrementAndGet();
        }
    }

    static void sleepNanos(long nanos) {
        try {
            Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public static void main(String[] args) throws InterruptedException {
        String env = System.getenv("FERRYMAP_SOAK_SECONDS");
        double seconds;
        try {
            seconds = env == null || env.isEmpty() ? 10 : Double.parseDouble(env);
        } catch (NumberFormatException e) {
            seconds = -1;
        }
        if (!(seconds > 0)) {
            System.err.println("soak: FERRYMAP_SOAK_SECONDS must be a positive number, not '" + env + "'");
            System.exit(2);
        }
        negative = "1".equals(System.getenv("FERRYMAP_SOAK_NEGATIVE"));
        CURRENT.set(newGen(1));
        System.out.printf("Java soak: %d writers, %d readers, %d keys, %.0f s%n", WRITERS, READERS, NKEYS, seconds);
        AtomicReference<Throwable> crash = new AtomicReference<>();
        Thread[] threads = new Thread[WRITERS + READERS];
        for (int i = 0; i < threads.length; i++) {
            int n = i;
            threads[i] = new Thread(() -> {
                try {
                    if (n < WRITERS) {
                        writer(n);
                    } else {
                        new Reader(n - WRITERS).run();
                    }
                } catch (Throwable t) {
                    crash.compareAndSet(null, t);
                    STOP.set(true);
                }
            }, (i < WRITERS ? "writer-" : "reader-") + i);
        }
        long start = System.nanoTime();
        for (Thread t : threads) {
            t.start();
        }
        long end = start + (long) (seconds * 1e9);
        while (!STOP.get() && System.nanoTime() - end < 0) {
            sleepNanos(50_000_000);
        }
        STOP.set(true);
        for (Thread t : threads) {
            t.join();
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        CURRENT.get().map.close();
        long census = Library.censusTotal();

        System.out.printf("duration %.1f s%n", elapsed);
        System.out.printf("iterators checked %d (%d outlived their map; %d creations found the map already freed)%n",
                ITERS.get(), OUTLIVED.get(), STALE_CREATIONS.get());
        System.out.printf("entries checked %d%n", ENTRIES.get());
        System.out.printf("views checked %d%n", VIEWS.get());
        System.out.printf("writer operations %d (inserts and removes), clears %d, frees %d%n", WRITER_OPS.get(),
                CLEARS.get(), FREES.get());
        System.out.printf("violations %d%n", VIOLATIONS.get());
        System.out.printf("live handles at the end %d%n", census);
        if (crash.get() != null) {
            System.err.println("soak: a thread failed:");
            crash.get().printStackTrace();
            System.out.println("FAIL");
            System.exit(1);
        }
        if (negative) {
            boolean caught = R_FUTURE.get() > 0 && R_STALE.get() > 0 && R_ABSENT.get() > 0 && R_CROSS.get() > 0;
            System.out.printf(
                    "negative control: violations by rule: from the future %d, stale %d, wrongly absent %d, "
                            + "cross-key %d (%s)%n",
                    R_FUTURE.get(), R_STALE.get(), R_ABSENT.get(), R_CROSS.get(),
                    caught ? "each rule fired, as it must" : "FAIL: a rule never fired");
            System.exit(caught && census == 0 ? 0 : 1);
        }
        boolean exercised = ITERS.get() > 0 && VIEWS.get() > 0 && OUTLIVED.get() > 0;
        if (!exercised) {
            System.err.println("soak: a path was never exercised (iterators, views, or an iterator outliving its map)");
        }
        boolean ok = VIOLATIONS.get() == 0 && census == 0 && exercised;
        System.out.println(ok ? "PASS" : "FAIL");
        System.exit(ok ? 0 : 1);
    }

    private Soak() {}
}
