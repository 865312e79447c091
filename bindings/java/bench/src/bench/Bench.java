package bench;

import dev.ferrymap.LongLongMap;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.HashMap;
import java.util.SplittableRandom;

/**
 * A warmed-up System.nanoTime harness: LongLongMap beside HashMap<Long, Long>.
 *
 * <ul>
 *   <li>get-hit at 1K and 1M random keys, looked up in a shuffled order (ns per get);</li>
 *   <li>put of 1M random keys into a new, unsized map (ns per put);</li>
 *   <li>memory per entry at 10M entries: Java heap growth, plus native memory from
 *       {@code stats().memoryBytes()} for ferrymap.</li>
 * </ul>
 *
 * Each figure is the median of several timed rounds after warm-up rounds. Usage:
 * {@code Bench [get|put|memory|all]}. Run it under each collector (see run.sh).
 */
public final class Bench {
    static volatile long sink;

    static long[] randomKeys(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] keys = new long[n];
        for (int i = 0; i < n; i++) {
            keys[i] = r.nextLong();
        }
        return keys;
    }

    /** `lookups` keys drawn from `keys` in random order. */
    static long[] probes(long[] keys, int lookups, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] p = new long[lookups];
        for (int i = 0; i < lookups; i++) {
            p[i] = keys[r.nextInt(keys.length)];
        }
        return p;
    }

    static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    interface Round {
        long run();
    }

    /** ns per operation: median of `rounds` after `warmup` rounds of `ops` operations. */
    static double time(int warmup, int rounds, long ops, Round r) {
        for (int i = 0; i < warmup; i++) {
            sink += r.run();
        }
        double[] t = new double[rounds];
        for (int i = 0; i < rounds; i++) {
            long t0 = System.nanoTime();
            sink += r.run();
            t[i] = (System.nanoTime() - t0) / (double) ops;
        }
        return median(t);
    }

    static void getHit(int n) {
        long[] keys = randomKeys(n, 42);
        final int lookups = 4_000_000;
        long[] probe = probes(keys, lookups, 7);
        Long[] boxedProbe = new Long[lookups];
        HashMap<Long, Long> hm = new HashMap<>();
        for (long k : keys) {
            hm.put(k, k);
        }
        // the same Long objects as the map's keys: HashMap's best case (no boxing per get)
        for (int i = 0; i < lookups; i++) {
            boxedProbe[i] = probe[i];
        }
        try (LongLongMap fm = LongLongMap.create()) {
            for (long k : keys) {
                fm.put(k, k);
            }
            double f = time(5, 9, lookups, () -> {
                long s = 0;
                for (long k : probe) {
                    s += fm.get(k);
                }
                return s;
            });
            double h = time(5, 9, lookups, () -> {
                long s = 0;
                for (long k : probe) {
                    s += hm.get(k); // autoboxing, as user code writes it
                }
                return s;
            });
            double hb = time(5, 9, lookups, () -> {
                long s = 0;
                for (Long k : boxedProbe) {
                    s += hm.get(k);
                }
                return s;
            });
            final int batch = 1024;
            long[] out = new long[batch];
            long[] chunk = new long[batch];
            double fb = time(5, 9, lookups, () -> {
                long s = 0;
                for (int i = 0; i + batch <= probe.length; i += batch) {
                    System.arraycopy(probe, i, chunk, 0, batch);
                    fm.getAll(chunk, out, null);
                    s += out[batch - 1];
                }
                return s;
            });
            System.out.printf("get-hit %9s keys: LongLongMap.get %5.1f ns | getAll(1024) %5.1f ns/key"
                    + " | HashMap.get %5.1f ns (long keys, boxed per get), %5.1f ns (pre-boxed keys)"
                    + " | get/HashMap %.2f, getAll/HashMap %.2f%n",
                    String.format("%,d", n), f, fb, h, hb, f / h, fb / h);
        }
    }

    static void put(int n) {
        long[] keys = randomKeys(n, 99);
        double f = time(3, 7, n, () -> {
            try (LongLongMap fm = LongLongMap.create()) {
                for (long k : keys) {
                    fm.put(k, k);
                }
                return fm.size();
            }
        });
        double h = time(3, 7, n, () -> {
            HashMap<Long, Long> hm = new HashMap<>();
            for (long k : keys) {
                hm.put(k, k);
            }
            return hm.size();
        });
        System.out.printf("put new %s keys (unsized): LongLongMap %6.1f ns | HashMap %6.1f ns | ratio %.2f%n",
                String.format("%,d", n), f, h, f / h);
    }

    static long usedHeap() {
        for (int i = 0; i < 5; i++) {
            System.gc();
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    static void memory(int n) {
        long[] keys = randomKeys(n, 5);
        long base = usedHeap();
        HashMap<Long, Long> hm = new HashMap<>();
        for (long k : keys) {
            hm.put(k, k);
        }
        long hmBytes = usedHeap() - base;
        sink += hm.size();
        hm = null;
        base = usedHeap();
        try (LongLongMap fm = LongLongMap.create()) {
            for (long k : keys) {
                fm.put(k, k);
            }
            long heap = Math.max(0, usedHeap() - base);
            long fmNative = fm.stats().memoryBytes();
            double hmPer = hmBytes / (double) n;
            double fmPer = (heap + fmNative) / (double) n;
            System.out.printf("memory at %s entries: LongLongMap %.1f B/entry (heap %d B + native %d B) | "
                    + "HashMap %.1f B/entry | ratio %.2f%n",
                    String.format("%,d", n), fmPer, heap, fmNative, hmPer, fmPer / hmPer);
        }
    }

    public static void main(String[] args) {
        String what = args.length > 0 ? args[0] : "all";
        System.out.printf("JVM %s, %s, %d CPUs%n", System.getProperty("java.vm.version"),
                ManagementFactory.getGarbageCollectorMXBeans().get(0).getName(),
                Runtime.getRuntime().availableProcessors());
        if (what.equals("get") || what.equals("all")) {
            final int calls = 10_000_000;
            double bare = time(3, 7, calls, () -> {
                long s = 0;
                for (int i = 0; i < calls; i++) {
                    s += dev.ferrymap.Library.registryId();
                }
                return s;
            });
            System.out.printf("a bare JNI call (Library.registryId): %.1f ns%n", bare);
            getHit(1_000);
            getHit(1_000_000);
        }
        if (what.equals("put") || what.equals("all")) {
            put(1_000_000);
        }
        if (what.equals("memory") || what.equals("all")) {
            memory(10_000_000);
        }
    }
}
