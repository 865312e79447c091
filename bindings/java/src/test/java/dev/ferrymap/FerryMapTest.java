package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

@ExtendWith(LeakCheck.class)
class FerryMapTest {
    /** Distinct sample values of each codec's type. */
    @SuppressWarnings("unchecked")
    static <T> IntFunction<T> sample(Codec<T> c) {
        if (c == Codec.LONG) {
            return i -> (T) Long.valueOf(i * 1_000_003L - 17);
        }
        if (c == Codec.DOUBLE) {
            return i -> (T) Double.valueOf(i * 0.5 - 3);
        }
        if (c == Codec.STRING) {
            return i -> (T) ("k\u00e9y-" + i + (i % 3 == 0 ? "\u0000\uD83D\uDE80" : ""));
        }
        return i -> (T) ("b" + i).getBytes(StandardCharsets.UTF_8);
    }

    static Stream<Arguments> schemas() {
        List<Codec<?>> keys = List.of(Codec.LONG, Codec.STRING, Codec.BYTES);
        List<Codec<?>> values = List.of(Codec.LONG, Codec.DOUBLE, Codec.STRING, Codec.BYTES);
        return keys.stream().flatMap(k -> values.stream().map(v -> Arguments.of(k, v)));
    }

    private static <V> void assertValue(Codec<V> c, V expected, V actual) {
        assertTrue(c.equal(expected, actual), () -> "expected " + expected + " but was " + actual);
    }

    @ParameterizedTest
    @MethodSource("schemas")
    @SuppressWarnings("unchecked")
    <K, V> void everyOperationOnEverySchema(Codec<K> kc, Codec<V> vc) {
        IntFunction<K> key = sample(kc);
        IntFunction<V> val = sample(vc);
        try (FerryMap<K, V> m = FerryMap.create(kc, vc)) {
            assertEquals(kc.kind(), m.keyKind());
            assertEquals(vc.kind(), m.valueKind());
            for (int i = 0; i < 100; i++) {
                assertFalse(m.put(key.apply(i), val.apply(i)));
            }
            assertTrue(m.put(key.apply(5), val.apply(6)));
            assertEquals(100, m.size());
            assertValue(vc, val.apply(6), m.get(key.apply(5)));
            assertValue(vc, val.apply(7), m.get(key.apply(7)));
            assertNull(m.get(key.apply(1000)));
            assertValue(vc, val.apply(1), m.getOrDefault(key.apply(1000), val.apply(1)));
            assertTrue(m.containsKey(key.apply(0)));
            assertFalse(m.containsKey(key.apply(1000)));
            assertTrue(m.remove(key.apply(0)));
            assertFalse(m.remove(key.apply(0)));
            assertValue(vc, val.apply(1), m.take(key.apply(1)));
            assertNull(m.take(key.apply(1)));
            assertTrue(m.insertIfAbsent(key.apply(1), val.apply(1)));
            assertFalse(m.insertIfAbsent(key.apply(1), val.apply(2)));
            assertValue(vc, val.apply(1), m.get(key.apply(1)));
            assertEquals(99, m.size());

            // iteration: a snapshot, each entry once
            Map<Object, V> seen = new HashMap<>();
            try (CloseableIterator<Map.Entry<K, V>> it = m.iterator()) {
                while (it.hasNext()) {
                    Map.Entry<K, V> e = it.next();
                    Object k = e.getKey() instanceof byte[] ? ByteBuffer.wrap((byte[]) e.getKey()) : e.getKey();
                    assertNull(seen.put(k, e.getValue()));
                }
            }
            assertEquals(99, seen.size());

            // the java.util.Map view agrees with the map
            Map<K, V> view = m.asMap();
            assertEquals(99, view.size());
            assertValue(vc, val.apply(7), view.get(key.apply(7)));
            assertValue(vc, val.apply(7), view.put(key.apply(7), val.apply(8)));
            assertValue(vc, val.apply(8), view.remove(key.apply(7)));
            assertNull(view.get(key.apply(7)));

            // copy, export / import
            try (FerryMap<K, V> c = m.copy();
                    FerryMap<K, V> back = FerryMap.importFrom(m.export(), kc, vc)) {
                assertEquals(98, c.size());
                assertEquals(98, back.size());
                assertValue(vc, val.apply(9), back.get(key.apply(9)));
                c.clear();
                assertEquals(98, m.size());
            }

            // in place
            if (vc == Codec.LONG) {
                FerryMap<K, Long> lm = (FerryMap<K, Long>) (FerryMap<K, ?>) m;
                long before = lm.get(key.apply(3));
                assertEquals(before + 5, lm.add(key.apply(3), 5));
                lm.update(key.apply(3), v -> v * 2);
                assertEquals((before + 5) * 2, lm.get(key.apply(3)));
                assertEquals(9, lm.add(key.apply(500), 9));
            } else if (vc == Codec.DOUBLE) {
                FerryMap<K, Double> dm = (FerryMap<K, Double>) (FerryMap<K, ?>) m;
                double before = dm.get(key.apply(3));
                assertEquals(before + 0.25, dm.add(key.apply(3), 0.25));
                dm.update(key.apply(3), v -> v * 2);
                assertEquals((before + 0.25) * 2, dm.get(key.apply(3)));
            } else {
                assertThrows(IllegalArgumentException.class, () -> m.add(key.apply(3), 1L));
                m.updateBytes(key.apply(3), b -> Arrays.fill(b, (byte) 'x'));
                try (ValueView v = m.view(key.apply(3))) {
                    ByteBuffer bb = v.buffer();
                    assertTrue(bb.isReadOnly());
                    assertTrue(bb.isDirect());
                    while (bb.hasRemaining()) {
                        assertEquals('x', bb.get());
                    }
                }
                assertNull(m.view(key.apply(1000)));
            }
        }
    }

    @Test
    void stringUpdateKeepsLength() {
        try (FerryMap<String, String> m = FerryMap.create(Codec.STRING, Codec.STRING)) {
            m.put("k", "abc");
            m.update("k", String::toUpperCase);
            assertEquals("ABC", m.get("k"));
            assertThrows(IllegalArgumentException.class, () -> m.update("k", v -> v + "!"));
            assertEquals("ABC", m.get("k"), "a rejected update changes nothing");
        }
    }

    @Test
    void viewOutlivesOverwriteRemoveAndClose() {
        ValueView v;
        try (FerryMap<Long, byte[]> m = FerryMap.create(Codec.LONG, Codec.BYTES)) {
            m.put(1L, new byte[] {1, 2, 3});
            v = m.view(1L);
            assertEquals(1, m.stats().openViews());
            m.put(1L, new byte[] {9});
            m.remove(1L);
        }
        try (ValueView view = v) {
            assertArrayEquals(new byte[] {1, 2, 3}, view.toByteArray());
            assertEquals(3, view.buffer().remaining());
        }
        assertThrows(IllegalStateException.class, v::buffer);
        v.close(); // idempotent
    }

    @Test
    void stringMapAsJavaUtilMap() {
        try (FerryMap<String, Long> m = FerryMap.create(Codec.STRING, Codec.LONG)) {
            Map<String, Long> view = m.asMap();
            Map<String, Long> plain = new HashMap<>();
            for (int i = 0; i < 200; i++) {
                view.put("w" + i, (long) i);
                plain.put("w" + i, (long) i);
            }
            assertEquals(plain, view);
            assertEquals(view, plain);
            assertEquals(plain.keySet(), view.keySet());
            assertEquals(200, view.values().size());
            view.putAll(Map.of("x", 1L, "y", 2L));
            assertEquals(202, m.size());
        }
    }
}
