package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentMap;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The asMap() view is a ConcurrentMap whose single-key methods are atomic, and
 * LongLongMap's primitive forms (compareAndSet, getAndSet, getAndAdd, putIfAbsent), on
 * direct and bridge maps.
 */
@ExtendWith(LeakCheck.class)
class ConcurrentMapTest {
    private static FerryMap<String, String> strings(boolean bridge) {
        return bridge ? FerryMap.bridge(Codec.STRING, Codec.STRING) : FerryMap.create(Codec.STRING, Codec.STRING);
    }

    private static LongLongMap longs(boolean bridge) {
        return bridge ? LongLongMap.bridge() : LongLongMap.create();
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void conditionalMethods(boolean bridge) {
        try (FerryMap<String, String> m = strings(bridge)) {
            ConcurrentMap<String, String> v = m.asMap();
            assertNull(v.putIfAbsent("k", "a"));
            assertEquals("a", v.putIfAbsent("k", "b"));
            assertFalse(v.replace("k", "b", "c"));
            assertTrue(v.replace("k", "a", "c"));
            assertEquals("c", v.get("k"));
            assertFalse(v.replace("absent", "a", "b"));
            assertFalse(v.containsKey("absent"));
            assertEquals("c", v.replace("k", "d"));
            assertNull(v.replace("absent", "d"));
            assertFalse(v.containsKey("absent"));
            assertFalse(v.remove("k", "c"));
            assertFalse(v.remove("k", 42), "a value of another type never matches");
            assertTrue(v.remove("k", "d"));
            assertFalse(v.containsKey("k"));
            assertNull(v.put("k", "x"));
            assertEquals("x", v.put("k", "y"));
            // ConcurrentMap's defaults, built on the atomic steps.
            assertEquals("y!", v.compute("k", (key, old) -> old + "!"));
            assertEquals("new", v.computeIfAbsent("n", key -> "new"));
            assertEquals("new", v.computeIfAbsent("n", key -> "other"));
            assertEquals("new+", v.computeIfPresent("n", (key, old) -> old + "+"));
            assertEquals("new+1", v.merge("n", "1", String::concat));
            assertNull(v.compute("n", (key, old) -> null));
            assertFalse(v.containsKey("n"));
            assertThrows(NullPointerException.class, () -> v.replace("k", null, "z"));
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void doublesCompareByBits(boolean bridge) {
        try (FerryMap<Long, Double> m = bridge ? FerryMap.bridge(Codec.LONG, Codec.DOUBLE)
                : FerryMap.create(Codec.LONG, Codec.DOUBLE)) {
            ConcurrentMap<Long, Double> v = m.asMap();
            v.put(1L, 0.0);
            assertFalse(v.replace(1L, -0.0, 1.0));
            v.put(1L, Double.NaN);
            assertTrue(v.replace(1L, Double.NaN, 2.5));
            assertEquals(2.5, v.get(1L));
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void longLongPrimitives(boolean bridge) {
        try (LongLongMap m = longs(bridge)) {
            assertEquals(OptionalLong.empty(), m.putIfAbsent(1, 10));
            assertEquals(OptionalLong.of(10), m.putIfAbsent(1, 11));
            assertFalse(m.compareAndSet(1, 11, 12));
            assertTrue(m.compareAndSet(1, 10, 12));
            assertFalse(m.compareAndSet(2, 0, 1), "an absent key is not stored");
            assertFalse(m.containsKey(2));
            assertEquals(OptionalLong.of(12), m.getAndSet(1, 13));
            assertEquals(OptionalLong.empty(), m.getAndSet(2, 20));
            assertEquals(13, m.getAndAdd(1, 5));
            assertEquals(18, m.get(1));
            assertThrows(ArithmeticException.class, () -> m.getAndAdd(1, Long.MAX_VALUE));
            assertEquals(18, m.get(1));
            ConcurrentMap<Long, Long> v = m.asMap();
            assertTrue(v.replace(1L, 18L, 19L));
            assertEquals(19L, v.get(1L));
        }
    }

    private static void inThreads(int n, Runnable body) throws InterruptedException {
        List<Thread> ts = new ArrayList<>();
        List<Throwable> errors = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Thread t = new Thread(body);
            t.setUncaughtExceptionHandler((th, e) -> {
                synchronized (errors) {
                    errors.add(e);
                }
            });
            ts.add(t);
            t.start();
        }
        for (Thread t : ts) {
            t.join();
        }
        assertEquals(List.of(), errors);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void countingLosesNothing(boolean bridge) throws InterruptedException {
        int threads = 4, rounds = bridge ? 300 : 3000;
        try (LongLongMap m = longs(bridge); FerryMap<String, String> s = strings(bridge)) {
            m.put(0, 0);
            ConcurrentMap<String, String> v = s.asMap();
            inThreads(threads, () -> {
                for (int i = 0; i < rounds; i++) {
                    while (true) {
                        long cur = m.get(0);
                        if (m.compareAndSet(0, cur, cur + 1)) {
                            break;
                        }
                    }
                    v.merge("n", "1", (a, b) -> String.valueOf(Long.parseLong(a) + 1));
                }
            });
            assertEquals((long) threads * rounds, m.get(0));
            assertEquals(String.valueOf(threads * rounds), v.get("n"));
        }
    }
}
