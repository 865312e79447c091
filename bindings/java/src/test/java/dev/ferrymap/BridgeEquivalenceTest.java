package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Property test: the same random operation sequence gives the same results on a direct map
 * and on a bridge map, through the synchronous API (every method) and through asynchronous
 * requests, and leaves the same contents.
 */
@ExtendWith(LeakCheck.class)
class BridgeEquivalenceTest {
    private static final int OPS = 3000;

    /** What an operation gave: its value, or the class of the exception it threw. */
    private static String outcome(ThrowingSupplier s) {
        try {
            Object v = s.get();
            if (v instanceof byte[]) {
                return Arrays.toString((byte[]) v);
            }
            if (v instanceof long[]) {
                return Arrays.toString((long[]) v);
            }
            if (v instanceof boolean[]) {
                return Arrays.toString((boolean[]) v);
            }
            return String.valueOf(v);
        } catch (RuntimeException e) {
            return e.getClass().getSimpleName();
        }
    }

    interface ThrowingSupplier {
        Object get();
    }

    private static long key(SplittableRandom r) {
        int k = r.nextInt(70);
        return k < 64 ? k : new long[] {0, -1, Long.MIN_VALUE, Long.MAX_VALUE, 1L << 40, 7, 42}[k - 64];
    }

    private static long value(SplittableRandom r) {
        return r.nextInt(10) == 0 ? Long.MAX_VALUE - r.nextInt(3) : r.nextLong(-1000, 1000);
    }

    /** One random operation on a long->long map; the same random draws give the same operation. */
    private static String step(LongLongMap m, SplittableRandom r) {
        long k = key(r);
        long v = value(r);
        switch (r.nextInt(22)) {
            case 0:
            case 1:
            case 2:
                return "put " + outcome(() -> m.put(k, v));
            case 3:
            case 4:
                return "get " + outcome(() -> m.get(k));
            case 5:
                return "getOrDefault " + outcome(() -> m.getOrDefault(k, -5));
            case 6:
                return "getOrThrow " + outcome(() -> m.getOrThrow(k));
            case 7:
                return "find " + outcome(() -> m.find(k));
            case 8:
                return "contains " + outcome(() -> m.containsKey(k));
            case 9:
                return "remove " + outcome(() -> m.remove(k));
            case 10:
                return "take " + outcome(() -> m.take(k));
            case 11:
                return "insertIfAbsent " + outcome(() -> m.insertIfAbsent(k, v));
            case 12:
            case 13:
                return "add " + outcome(() -> m.add(k, r.nextInt(3) == 0 ? v : r.nextLong(-5, 5)));
            case 14: {
                boolean fail = r.nextInt(4) == 0;
                return "update " + outcome(() -> {
                    m.update(k, x -> {
                        if (fail) {
                            throw new UnsupportedOperationException("refused");
                        }
                        return x * 3 + 1;
                    });
                    return m.get(k);
                });
            }
            case 15: {
                long[] ks = {key(r), key(r), key(r)};
                long[] vs = {v, -v, 3};
                return "putAll " + outcome(() -> m.putAll(ks, vs));
            }
            case 16: {
                long[] ks = {key(r), key(r), key(r), key(r)};
                return "getAll " + outcome(() -> {
                    long[] out = new long[4];
                    boolean[] found = new boolean[4];
                    int n = m.getAll(ks, out, found);
                    return n + Arrays.toString(out) + Arrays.toString(found);
                });
            }
            case 17: {
                long[] ks = {key(r), key(r)};
                return "removeAll " + outcome(() -> m.removeAll(ks));
            }
            case 18:
                return "size " + outcome(m::size);
            case 19:
                return "asMap.put " + outcome(() -> m.asMap().put(k, v));
            case 20:
                return "contents " + contents(m);
            default:
                return r.nextInt(10) == 0 ? "clear " + outcome(() -> {
                    m.clear();
                    return m.size();
                }) : "noop";
        }
    }

    private static Map<Long, Long> contents(LongLongMap m) {
        Map<Long, Long> all = new TreeMap<>();
        m.forEach(all::put);
        return all;
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3})
    void longLongMapSynchronousCalls(long seed) {
        try (LongLongMap direct = LongLongMap.create(); LongLongMap bridge = LongLongMap.bridge(0, 32)) {
            SplittableRandom a = new SplittableRandom(seed);
            SplittableRandom b = new SplittableRandom(seed);
            for (int i = 0; i < OPS; i++) {
                String want = step(direct, a);
                String got = step(bridge, b);
                assertEquals(want, got, "operation " + i + " (seed " + seed + ")");
            }
            assertEquals(contents(direct), contents(bridge));
            try (LongLongMap back = LongLongMap.importFrom(bridge.export())) {
                assertEquals(contents(direct), contents(back), "export of a bridge map");
            }
        }
    }

    /** The same random operations as requests: one per submission, and in batches. */
    @ParameterizedTest
    @ValueSource(longs = {4, 5})
    void longLongMapAsynchronousRequests(long seed) throws Exception {
        try (LongLongMap direct = LongLongMap.create(); LongLongMap bridge = LongLongMap.bridge(0, 32)) {
            SplittableRandom r = new SplittableRandom(seed);
            List<Request> batch = new ArrayList<>();
            List<String> want = new ArrayList<>();
            List<CompletableFuture<Result[]>> futures = new ArrayList<>();
            List<Integer> sizes = new ArrayList<>();
            for (int i = 0; i < OPS; i++) {
                long k = key(r);
                long v = value(r);
                Request q;
                switch (r.nextInt(8)) {
                    case 0:
                        q = Request.put(k, v);
                        want.add(outcome(() -> direct.put(k, v)));
                        break;
                    case 1:
                        q = Request.get(k);
                        want.add(outcome(() -> direct.find(k)));
                        break;
                    case 2:
                        q = Request.containsKey(k);
                        want.add(outcome(() -> direct.containsKey(k)));
                        break;
                    case 3:
                        q = Request.remove(k);
                        want.add(outcome(() -> direct.remove(k)));
                        break;
                    case 4:
                    case 5: {
                        long d = r.nextInt(3) == 0 ? v : r.nextLong(-5, 5);
                        q = Request.add(k, d);
                        want.add(outcome(() -> direct.add(k, d)));
                        break;
                    }
                    case 6:
                        q = Request.size();
                        want.add(outcome(direct::size));
                        break;
                    default:
                        if (r.nextInt(20) == 0) {
                            q = Request.clear();
                            want.add(outcome(() -> {
                                direct.clear();
                                return null;
                            }));
                        } else {
                            q = Request.get(k);
                            want.add(outcome(() -> direct.find(k)));
                        }
                        break;
                }
                batch.add(q);
                if (r.nextInt(4) == 0 || i == OPS - 1) { // batches of ~4, some of 1
                    futures.add(bridge.submitAsync(batch.toArray(new Request[0])));
                    sizes.add(batch.size());
                    batch.clear();
                }
            }
            List<String> got = new ArrayList<>();
            for (CompletableFuture<Result[]> f : futures) {
                for (Result res : f.get(30, TimeUnit.SECONDS)) {
                    got.add(asOutcome(res));
                }
            }
            assertEquals(want, got);
            assertEquals(contents(direct), contents(bridge));
        }
    }

    /** A result in the form the synchronous call's outcome takes. */
    private static String asOutcome(Result res) {
        if (!res.isOk()) {
            return res.error().getClass().getSimpleName();
        }
        switch (res.op()) {
            case INSERT:
                return String.valueOf(res.replaced());
            case GET:
                return String.valueOf(res.found() ? java.util.OptionalLong.of(res.longValue()) : java.util.OptionalLong.empty());
            case CONTAINS:
                return String.valueOf(res.found());
            case REMOVE:
                return String.valueOf(res.removed());
            case ADD:
                return String.valueOf(res.longValue());
            case LEN:
                return String.valueOf(res.size());
            default:
                return "null";
        }
    }

    // ---- every schema, through FerryMap ----

    static Stream<Arguments> schemas() {
        return Stream.of(
                Arguments.of(Codec.STRING, Codec.STRING),
                Arguments.of(Codec.BYTES, Codec.DOUBLE),
                Arguments.of(Codec.LONG, Codec.BYTES),
                Arguments.of(Codec.STRING, Codec.LONG));
    }

    @SuppressWarnings("unchecked")
    private static <T> T sample(Codec<T> c, int n) {
        if (c == Codec.LONG) {
            return (T) Long.valueOf(n);
        }
        if (c == Codec.DOUBLE) {
            return (T) Double.valueOf(n / 4.0);
        }
        if (c == Codec.STRING) {
            return (T) (n % 5 == 0 ? "\uD83D\uDE80" + n : n % 7 == 0 ? "nul\u0000" + n : "k" + n);
        }
        return (T) ("b" + n).getBytes(StandardCharsets.UTF_8);
    }

    private static <K, V> String genericStep(FerryMap<K, V> m, SplittableRandom r, Codec<K> kc, Codec<V> vc) {
        K k = sample(kc, r.nextInt(40));
        V v = sample(vc, r.nextInt(100, 1000)); // same length in bytes for STR/BYTES: update keeps it
        switch (r.nextInt(14)) {
            case 0:
            case 1:
            case 2:
                return "put " + outcome(() -> m.put(k, v));
            case 3:
            case 4:
                return "get " + outcome(() -> m.get(k));
            case 5:
                return "contains " + outcome(() -> m.containsKey(k));
            case 6:
                return "remove " + outcome(() -> m.remove(k));
            case 7:
                return "take " + outcome(() -> m.take(k));
            case 8:
                return "insertIfAbsent " + outcome(() -> m.insertIfAbsent(k, v));
            case 9:
                return "add " + outcome(() -> vc == Codec.DOUBLE ? m.add(k, 0.5) : m.add(k, 3L));
            case 10:
                return "update " + outcome(() -> {
                    m.update(k, x -> v);
                    return m.get(k);
                });
            case 11:
                return "view " + outcome(() -> {
                    try (ValueView view = m.view(k)) {
                        return view == null ? null : view.toByteArray();
                    }
                });
            case 12:
                return "asMap.remove " + outcome(() -> m.asMap().remove(k));
            default:
                return "contents " + genericContents(m);
        }
    }

    private static <K, V> Map<String, String> genericContents(FerryMap<K, V> m) {
        Map<String, String> all = new TreeMap<>();
        m.forEach((k, v) -> all.put(show(k), show(v)));
        return all;
    }

    private static String show(Object o) {
        return o instanceof byte[] ? Arrays.toString((byte[]) o) : Objects.toString(o);
    }

    @ParameterizedTest
    @MethodSource("schemas")
    <K, V> void everySchemaSynchronousAndAsynchronous(Codec<K> kc, Codec<V> vc) throws Exception {
        try (FerryMap<K, V> direct = FerryMap.create(kc, vc); FerryMap<K, V> bridge = FerryMap.bridge(kc, vc, 0, 16);
                FerryMap<K, V> viaRequests = FerryMap.bridge(kc, vc)) {
            SplittableRandom a = new SplittableRandom(11);
            SplittableRandom b = new SplittableRandom(11);
            for (int i = 0; i < OPS / 2; i++) {
                assertEquals(genericStep(direct, a, kc, vc), genericStep(bridge, b, kc, vc), "operation " + i);
            }
            assertEquals(genericContents(direct), genericContents(bridge));

            // the same contents rebuilt through requests, then read back through requests
            List<Request> puts = new ArrayList<>();
            direct.forEach((k, v) -> puts.add(Request.put(k, v)));
            if (!puts.isEmpty()) {
                for (Result res : viaRequests.submitAsync(puts.toArray(new Request[0])).get(30, TimeUnit.SECONDS)) {
                    assertFalse(res.replaced());
                }
            }
            assertEquals(genericContents(direct), genericContents(viaRequests));
            for (int n = 0; n < 40; n++) {
                K k = sample(kc, n);
                Result res = viaRequests.submitAsync(Request.get(k)).get(30, TimeUnit.SECONDS)[0];
                assertEquals(show(direct.get(k)), show(res.value()));
                assertEquals(show(direct.get(k)), show(viaRequests.getAsync(k).get(30, TimeUnit.SECONDS)));
            }
        }
    }
}
