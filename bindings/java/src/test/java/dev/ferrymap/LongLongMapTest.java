package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(LeakCheck.class)
class LongLongMapTest {
    @Test
    void singleOperations() {
        try (LongLongMap m = LongLongMap.create()) {
            assertTrue(m.isEmpty());
            assertFalse(m.put(1, 10));
            assertTrue(m.put(1, 11));
            assertFalse(m.put(0, 5)); // key 0 lives in a side slot
            assertFalse(m.put(-1, Long.MIN_VALUE));
            assertEquals(3, m.size());
            assertEquals(11, m.get(1));
            assertEquals(5, m.get(0));
            assertEquals(Long.MIN_VALUE, m.get(-1));
            assertEquals(0, m.get(42), "a miss is 0, not an exception");
            assertEquals(-7, m.getOrDefault(42, -7));
            assertEquals(11, m.getOrDefault(1, -7));
            assertEquals(11, m.getOrThrow(1));
            assertEquals(OptionalLong.of(5), m.find(0));
            assertEquals(OptionalLong.empty(), m.find(42));
            assertTrue(m.containsKey(0));
            assertFalse(m.containsKey(42));
            assertTrue(m.remove(0));
            assertFalse(m.remove(0));
            assertFalse(m.containsKey(0));
            assertEquals(2, m.size());
            m.clear();
            assertEquals(0, m.size());
            assertEquals(0, m.get(1));
        }
    }

    @Test
    void addAndUpdate() {
        try (LongLongMap m = LongLongMap.create()) {
            assertEquals(5, m.add(7, 5), "an absent key starts at 0");
            assertEquals(2, m.add(7, -3));
            m.update(7, v -> v * 100);
            assertEquals(200, m.get(7));
            assertEquals(OptionalLong.of(200), m.take(7));
            assertEquals(OptionalLong.empty(), m.take(7));
            assertTrue(m.insertIfAbsent(7, 1));
            assertFalse(m.insertIfAbsent(7, 2), "present: nothing changes");
            assertEquals(1, m.get(7));
            m.put(Long.MAX_VALUE, Long.MAX_VALUE);
            assertThrows(ArithmeticException.class, () -> m.add(Long.MAX_VALUE, 1));
            assertEquals(Long.MAX_VALUE, m.get(Long.MAX_VALUE), "overflow leaves the value unchanged");
        }
    }

    @Test
    void reserveStatsCopyExportImport() {
        try (LongLongMap m = LongLongMap.create(1000)) {
            m.reserve(5000);
            for (long i = 0; i < 1000; i++) {
                m.put(i, i * i);
            }
            MapStats s = m.stats();
            assertEquals(1000, s.size());
            assertTrue(s.capacity() >= 1000);
            assertTrue(s.memoryBytes() >= 1000 * 16);
            assertTrue(s.loadFactor() > 0 && s.loadFactor() <= 1);
            assertTrue(s.writes() >= 1000);
            try (LongLongMap c = m.copy()) {
                c.put(1, -1);
                m.put(2, -2);
                assertEquals(1, m.get(1), "copies are independent");
                assertEquals(4, c.get(2));
                assertEquals(1000, c.size());
            }
            byte[] data = m.export();
            try (LongLongMap back = LongLongMap.importFrom(data)) {
                assertEquals(1000, back.size());
                assertEquals(-2, back.get(2));
                assertEquals(999L * 999L, back.get(999));
            }
        }
    }

    @Test
    void batchesWithArrays() {
        try (LongLongMap m = LongLongMap.create()) {
            long[] keys = new long[2000];
            long[] values = new long[2000];
            for (int i = 0; i < keys.length; i++) {
                keys[i] = i * 3L;
                values[i] = -i;
            }
            assertEquals(0, m.putAll(keys, values));
            assertEquals(2000, m.putAll(keys, values), "second time every put replaces");
            long[] probe = {0, 1, 3, 5997, 6000};
            long[] out = new long[probe.length];
            boolean[] found = new boolean[probe.length];
            assertEquals(3, m.getAll(probe, out, found));
            assertArrayEquals(new long[] {0, 0, -1, -1999, 0}, out);
            assertArrayEquals(new boolean[] {true, false, true, true, false}, found);
            assertEquals(3, m.getAll(probe, out, null));
            assertEquals(2, m.removeAll(new long[] {0, 1, 3}));
            assertEquals(1998, m.size());
        }
    }

    private static ByteBuffer longs(long... v) {
        ByteBuffer b = ByteBuffer.allocateDirect(v.length * 8).order(ByteOrder.nativeOrder());
        for (long x : v) {
            b.putLong(x);
        }
        return b.flip();
    }

    @Test
    void batchesWithDirectBuffers() {
        try (LongLongMap m = LongLongMap.create()) {
            assertEquals(0, m.putAll(longs(1, 2, 3), longs(10, 20, 30)));
            ByteBuffer keys = longs(99, 1, 2, 3, 4);
            keys.position(8); // skip the first key: positions are honoured
            ByteBuffer values = ByteBuffer.allocateDirect(32).order(ByteOrder.nativeOrder());
            ByteBuffer found = ByteBuffer.allocateDirect(4);
            assertEquals(3, m.getAll(keys, values, found));
            assertEquals(8, keys.position(), "positions are not changed");
            assertEquals(10, values.getLong(0));
            assertEquals(30, values.getLong(16));
            assertEquals(0, values.getLong(24));
            assertEquals(1, found.get(0));
            assertEquals(0, found.get(3));
            assertEquals(2, m.removeAll(longs(1, 2, 77)));
            assertEquals(1, m.size());
        }
    }

    @Test
    void cursorForEachAndMapView() {
        try (LongLongMap m = LongLongMap.create()) {
            Map<Long, Long> expected = new HashMap<>();
            for (long i = -500; i < 500; i++) {
                m.put(i, i * 7);
                expected.put(i, i * 7);
            }
            Map<Long, Long> seen = new HashMap<>();
            try (LongLongCursor c = m.cursor()) {
                assertEquals(1000, c.snapshotSize());
                while (c.next()) {
                    assertNull(seen.put(c.key(), c.value()), "each entry once");
                }
                assertFalse(c.next());
            }
            assertEquals(expected, seen);
            Map<Long, Long> viaForEach = new HashMap<>();
            m.forEach((k, v) -> viaForEach.put(k, v));
            assertEquals(expected, viaForEach);

            Map<Long, Long> view = m.asMap();
            assertEquals(expected, view);
            assertEquals(expected.hashCode(), view.hashCode());
            assertEquals(7L, view.get(1L));
            assertNull(view.get(12345L));
            assertNull(view.get("not a long"));
            assertEquals(7L, view.put(1L, 8L), "put returns the previous value");
            assertNull(view.put(100_000L, 1L));
            assertEquals(8L, view.remove(1L));
            assertNull(view.remove(1L));
            assertNull(view.putIfAbsent(1L, 9L));
            assertEquals(9L, view.putIfAbsent(1L, 10L));
            assertEquals(9L, view.remove(1L));
            assertTrue(view.containsKey(0L));
            assertEquals(1000, view.size());
            assertEquals(1000, view.keySet().size());
            view.clear();
            assertTrue(m.isEmpty());
        }
    }

    @Test
    void handlesPassBetweenObjects() {
        try (LongLongMap owner = LongLongMap.create()) {
            owner.put(1, 2);
            try (LongLongMap borrowed = LongLongMap.attach(owner.handle())) {
                assertFalse(borrowed.isOwner());
                borrowed.put(3, 4);
            }
            assertEquals(4, owner.get(3), "closing a borrowed map does not free it");
            assertEquals(2, owner.size());
        }
    }
}
