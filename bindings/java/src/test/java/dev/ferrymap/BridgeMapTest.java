package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A bridge map (DESIGN §7) is a map handle like any other: the Java classes work on it
 * unchanged, its work running on its owner thread, update's Java callback included.
 */
@ExtendWith(LeakCheck.class)
class BridgeMapTest {
    @Test
    void longLongOperationsOnABridgeMap() {
        try (LongLongMap m = LongLongMap.bridge(0, 64)) {
            assertTrue(m.isBridge());
            assertFalse(m.put(1, 10));
            assertTrue(m.put(1, 11));
            assertEquals(11, m.get(1));
            assertEquals(0, m.get(2));
            assertEquals(5, m.add(2, 5));
            assertTrue(m.containsKey(2));
            assertEquals(OptionalLong.of(5), m.take(2));
            assertTrue(m.insertIfAbsent(3, 30));
            assertEquals(0, m.putAll(new long[] {4, 5}, new long[] {40, 50}));
            long[] out = new long[3];
            assertEquals(2, m.getAll(new long[] {4, 5, 6}, out, null));
            assertArrayEquals(new long[] {40, 50, 0}, out);
            ByteBuffer keys = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder()).putLong(0, 4);
            assertEquals(1, m.removeAll(keys));
            assertEquals(3, m.size());
            m.update(1, v -> v + 1);
            assertEquals(12, m.get(1));
            m.update(1, v -> v - 1);
            assertEquals(11, m.get(1));
            int n = 0;
            try (LongLongCursor c = m.cursor()) {
                while (c.next()) {
                    n++;
                }
            }
            assertEquals(3, n);
            try (LongLongMap copy = m.copy(); LongLongMap back = LongLongMap.importFrom(m.export())) {
                assertFalse(copy.isBridge(), "a copy is a direct map");
                assertEquals(3, copy.size());
                assertEquals(3, back.size());
            }
            assertEquals(3, m.stats().size());
            m.clear();
            assertTrue(m.isEmpty());
        }
    }

    @Test
    void stringOperationsOnABridgeMap() {
        long h = Native.bridgeNew(Kind.STR.code, Kind.STR.code, 0, 64);
        try (FerryMap<String, String> m = FerryMap.adopt(h, Codec.STRING, Codec.STRING)) {
            assertTrue(m.isBridge(), "a bridge handle adopted from elsewhere is known as one");
            m.put("nul\u0000 \uD83D\uDE80", "v");
            assertEquals("v", m.get("nul\u0000 \uD83D\uDE80"));
            try (ValueView v = m.view("nul\u0000 \uD83D\uDE80")) {
                assertEquals("v", v.asString());
            }
            Map<String, String> view = m.asMap();
            assertEquals("v", view.remove("nul\u0000 \uD83D\uDE80"));
            assertNull(view.putIfAbsent("a", "b"));
            assertEquals(Map.of("a", "b"), view);
            m.update("a", v -> v.toUpperCase());
            assertEquals("B", m.get("a"));
            m.updateBytes("a", b -> b[0] = 'c');
            assertEquals("c", m.get("a"));
        }
    }
}
