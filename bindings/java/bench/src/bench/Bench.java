package bench;

import dev.ferrymap.LongLongMap;
import dev.ferrymap.Request;
import dev.ferrymap.Result;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.HashMap;
import java.util.OptionalLong;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;

/**
 * A warmed-up System.nanoTime harness: LongLongMap beside HashMap<Long, Long>.
 *
 * <ul>
 *   <li>get-hit at 1K and 1M random keys, looked up in a shuffled order (ns per get);</li>
 *   <li>put of 1M random keys into a new, unsized map (ns per put);</li>
 *   <li>memory per entry at 10M entries: Java heap growth, plus native memory from
 *       {@code stats().memoryBytes()} for ferrymap.</li>
 *   <li>bridge mode (DESIGN §7) on maps of 64K and 1M entries: synchronous get round-trip latency
 *       (p50/p99/p99.9) beside a direct map, pipelined {@code getAsync} throughput from one
 *       and two producers, batched throughput (1024 requests per submission), and the CPU
 *       an idle bridge uses.</li>
 * </ul>
 *
 * Each figure is the median of several timed rounds after warm-up rounds. Usage:
 * {@code Bench [get|put|memory|bridge|all]}. Run it under each collector (see run.sh).
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

    // ---- bridge mode ----

    /** Per-call latencies of {@code m.get}, one System.nanoTime pair per call (~25 ns of it is the clock). */
    static long[] latencies(LongLongMap m, long[] probe, int calls) {
        long[] lat = new long[calls];
        long s = 0;
        for (int i = 0; i < calls; i++) {
            long t0 = System.nanoTime();
            s += m.get(probe[i % probe.length]);
            lat[i] = System.nanoTime() - t0;
        }
        sink += s;
        Arrays.sort(lat);
        return lat;
    }

    static String percentiles(long[] sorted) {
        return String.format("p50 %6.2f us  p99 %7.2f us  p99.9 %8.2f us",
                sorted[sorted.length / 2] / 1e3, sorted[(int) (sorted.length * 0.99)] / 1e3,
                sorted[(int) (sorted.length * 0.999)] / 1e3);
    }

    /** Pipelined getAsync from one thread, at most {@code window} futures outstanding; ops/s. */
    static double pipelined(LongLongMap m, long[] probe, int ops, int window) {
        @SuppressWarnings("unchecked")
        CompletableFuture<OptionalLong>[] ring = new CompletableFuture[window];
        long t0 = System.nanoTime();
        long s = 0;
        for (int i = 0; i < ops; i++) {
            int slot = i % window;
            if (ring[slot] != null) {
                s += ring[slot].join().orElse(0);
            }
            ring[slot] = m.getAsync(probe[i % probe.length]);
        }
        for (CompletableFuture<OptionalLong> f : ring) {
            if (f != null) {
                s += f.join().orElse(0);
            }
        }
        sink += s;
        return ops / ((System.nanoTime() - t0) / 1e9);
    }

    /** Submissions of {@code batch} GET requests, at most {@code window} submissions outstanding; ops/s. */
    static double batched(LongLongMap m, Request[][] batches, int submissions, int window) {
        @SuppressWarnings("unchecked")
        CompletableFuture<Result[]>[] ring = new CompletableFuture[window];
        long t0 = System.nanoTime();
        long s = 0;
        long ops = 0;
        for (int i = 0; i < submissions; i++) {
            int slot = i % window;
            if (ring[slot] != null) {
                Result[] r = ring[slot].join();
                s += r[r.length - 1].longValue();
            }
            Request[] b = batches[i % batches.length];
            ring[slot] = m.submitAsync(b);
            ops += b.length;
        }
        for (CompletableFuture<Result[]> f : ring) {
            if (f != null) {
                Result[] r = f.join();
                s += r[r.length - 1].longValue();
            }
        }
        sink += s;
        return ops / ((System.nanoTime() - t0) / 1e9);
    }

    static double median(int rounds, java.util.function.DoubleSupplier run) {
        double[] xs = new double[rounds];
        for (int i = 0; i < rounds; i++) {
            xs[i] = run.getAsDouble();
        }
        return median(xs);
    }

    static void bridge(int n) throws Exception {
        long[] keys = randomKeys(n, 42);
        long[] probe = probes(keys, 1 << 20, 7);
        final int calls = 1_000_000;
        try (LongLongMap direct = LongLongMap.create(); LongLongMap bridge = LongLongMap.bridge(0, 1024)) {
            direct.putAll(keys, keys);
            bridge.putAll(keys, keys);
            System.out.printf("bridge mode, %,d entries, queue 1024%n", n);

            latencies(direct, probe, calls); // warm-up
            latencies(bridge, probe, calls);
            System.out.println("  sync get, direct map: " + percentiles(latencies(direct, probe, calls)));
            System.out.println("  sync get, bridge map: " + percentiles(latencies(bridge, probe, calls)));

            final int ops = 1_000_000;
            pipelined(bridge, probe, ops, 1024); // warm-up
            for (int window : new int[] {64, 1024}) {
                double p = median(5, () -> pipelined(bridge, probe, ops, window));
                System.out.printf("  pipelined getAsync, 1 producer, window %4d: %6.2f M ops/s%n", window, p / 1e6);
            }
            double[] two = new double[5];
            for (int r = 0; r < two.length; r++) {
                double[] each = new double[2];
                Thread[] ts = new Thread[2];
                for (int t = 0; t < 2; t++) {
                    int id = t;
                    ts[t] = new Thread(() -> each[id] = pipelined(bridge, probe, ops / 2, 1024));
                }
                for (Thread t : ts) {
                    t.start();
                }
                for (Thread t : ts) {
                    t.join();
                }
                two[r] = each[0] + each[1];
            }
            System.out.printf("  pipelined getAsync, 2 producers, window 1024 each: %6.2f M ops/s (sum)%n", median(two) / 1e6);

            final int batch = 1024;
            Request[][] batches = new Request[64][batch];
            for (int b = 0; b < batches.length; b++) {
                for (int i = 0; i < batch; i++) {
                    batches[b][i] = Request.get(probe[(b * batch + i) % probe.length]);
                }
            }
            batched(bridge, batches, 2000, 8); // warm-up
            double sub = median(5, () -> batched(bridge, batches, 2000, 8));
            System.out.printf("  batched submitAsync(1024 x GET), 8 in flight: %6.2f M ops/s%n", sub / 1e6);
            long[] chunk = new long[batch];
            long[] out = new long[batch];
            for (LongLongMap m : new LongLongMap[] {bridge, direct}) {
                double t = time(3, 7, 4_000_000L, () -> {
                    long s = 0;
                    for (int i = 0; i + batch <= 4_000_000; i += batch) {
                        System.arraycopy(probe, i % (probe.length - batch), chunk, 0, batch);
                        m.getAll(chunk, out, null);
                        s += out[batch - 1];
                    }
                    return s;
                });
                System.out.printf("  sync getAll(long[1024]), %s map: %6.2f M ops/s (%.1f ns/key)%n",
                        m.isBridge() ? "bridge" : "direct", 1e3 / t, t);
            }

            com.sun.management.OperatingSystemMXBean os =
                    (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            Thread.sleep(1000); // let the completer and the owner go idle
            long cpu0 = os.getProcessCpuTime();
            long wall0 = System.nanoTime();
            Thread.sleep(3000);
            double share = (os.getProcessCpuTime() - cpu0) / (double) (System.nanoTime() - wall0);
            System.out.printf("  idle: the whole JVM process used %.2f%% of a core over 3 s with this bridge open%n",
                    share * 100);
        }
    }

    public static void main(String[] args) throws Exception {
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
        if (what.equals("bridge") || what.equals("all")) {
            bridge(65_536); // the size c-bench/bridge_bench.c uses
            bridge(1_000_000);
        }
    }
}
