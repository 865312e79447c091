package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Iterator;
import java.util.Map;
import java.util.NoSuchElementException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.function.Executable;

/** Every kind of misuse gives the documented exception and never crashes the JVM. */
@ExtendWith(LeakCheck.class)
class BadInputTest {
    /** Every operation of a LongLongMap, for the use-after-close and stale-handle matrix. */
    static Executable[] everyLongLongOperation(LongLongMap m) {
        ByteBuffer direct = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
        return new Executable[] {
            () -> m.get(1), () -> m.getOrDefault(1, 2), () -> m.getOrThrow(1), () -> m.find(1),
            () -> m.put(1, 2), () -> m.containsKey(1), () -> m.remove(1), () -> m.add(1, 1),
            () -> m.update(1, v -> v), () -> m.size(), m::clear, () -> m.reserve(10), m::stats,
            m::export, m::copy, m::cursor, () -> m.forEach((k, v) -> {}), () -> m.asMap().get(1L),
            () -> m.putAll(new long[] {1}, new long[] {2}), () -> m.getAll(new long[] {1}, new long[1], null),
            () -> m.removeAll(new long[] {1}), () -> m.putAll(direct, direct.duplicate().order(ByteOrder.nativeOrder())),
            () -> m.removeAll(direct), () -> m.take(1), () -> m.insertIfAbsent(1, 1),
        };
    }

    @Test
    void useAfterCloseAndCloseTwice() {
        LongLongMap m = LongLongMap.create();
        m.put(1, 1);
        m.close();
        m.close(); // idempotent
        assertTrue(m.isClosed());
        for (Executable op : everyLongLongOperation(m)) {
            assertThrows(IllegalStateException.class, op);
        }
        assertThrows(IllegalStateException.class, m::detach);
        assertThrows(IllegalStateException.class, m::handle);
    }

    @Test
    void staleHandleFreedElsewhere() {
        LongLongMap owner = LongLongMap.create();
        long h = owner.handle();
        LongLongMap borrowed = LongLongMap.attach(h);
        owner.close();
        for (Executable op : everyLongLongOperation(borrowed)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, op);
            assertNotNull(e.getMessage());
        }
        assertThrows(IllegalStateException.class, () -> LongLongMap.attach(h));
        borrowed.close();
    }

    @Test
    void forgedHandles() {
        for (long forged : new long[] {0, 1, -1, 0x1234_5678_9abcL, Long.MIN_VALUE, 42L << 40}) {
            assertThrows(IllegalStateException.class, () -> LongLongMap.attach(forged), "handle " + forged);
            assertThrows(IllegalStateException.class, () -> FerryMap.attach(forged, Codec.STRING, Codec.STRING));
        }
        // A live handle of a map with its kind bits changed (kind field: bits 24..26).
        try (LongLongMap m = LongLongMap.create()) {
            long asIterator = (m.handle() & ~(7L << 24)) | (2L << 24);
            assertThrows(IllegalStateException.class, () -> LongLongMap.attach(asIterator));
            long otherGeneration = m.handle() + (1L << 37);
            assertThrows(IllegalStateException.class, () -> LongLongMap.attach(otherGeneration));
        }
    }

    @Test
    void wrongKinds() {
        try (FerryMap<String, String> s = FerryMap.create(Codec.STRING, Codec.STRING);
                LongLongMap ll = LongLongMap.create()) {
            assertThrows(IllegalArgumentException.class, () -> LongLongMap.attach(s.handle()));
            assertThrows(IllegalArgumentException.class, () -> FerryMap.attach(s.handle(), Codec.LONG, Codec.STRING));
            assertThrows(IllegalArgumentException.class, () -> FerryMap.attach(ll.handle(), Codec.STRING, Codec.LONG));
            assertThrows(IllegalArgumentException.class, () -> FerryMap.attach(ll.handle(), Codec.LONG, Codec.DOUBLE));
            assertThrows(IllegalArgumentException.class, () -> FerryMap.create(Codec.DOUBLE, Codec.LONG),
                    "FLOAT is not a key kind");
            assertThrows(IllegalArgumentException.class, () -> LongLongMap.importFrom(s.export()));
            // an iterator's handle, passed where a map is expected, and a map freed as an iterator
            long it = Native.iterNew(ll.handle());
            try {
                assertEquals(1, ll.stats().openIterators());
                assertThrows(IllegalArgumentException.class, () -> LongLongMap.attach(it));
                assertThrows(IllegalArgumentException.class, () -> Native.free(ll.handle(), Native.ITERATOR));
            } finally {
                Native.free(it, Native.ITERATOR);
            }
            assertThrows(IllegalStateException.class, () -> Native.free(it, Native.ITERATOR), "freed twice");
            assertEquals(0, Library.census(HandleKind.ITERATOR));
            ll.put(1, 1);
            assertEquals(1, ll.get(1), "the map survived being freed as the wrong kind");
        }
    }

    @Test
    void nullArguments() {
        try (FerryMap<String, String> m = FerryMap.create(Codec.STRING, Codec.STRING);
                LongLongMap ll = LongLongMap.create()) {
            m.put("k", "v");
            assertThrows(NullPointerException.class, () -> m.put(null, "v"));
            assertThrows(NullPointerException.class, () -> m.put("k", null));
            assertThrows(NullPointerException.class, () -> m.get(null));
            assertThrows(NullPointerException.class, () -> m.containsKey(null));
            assertThrows(NullPointerException.class, () -> m.remove(null));
            assertThrows(NullPointerException.class, () -> m.update(null, v -> v));
            assertThrows(NullPointerException.class, () -> m.update("k", null));
            assertThrows(NullPointerException.class, () -> m.view(null));
            assertThrows(NullPointerException.class, () -> m.forEach(null));
            assertThrows(NullPointerException.class, () -> m.asMap().get(null));
            assertThrows(NullPointerException.class, () -> m.asMap().put("a", null));
            assertThrows(NullPointerException.class, () -> FerryMap.create(null, Codec.LONG));
            assertThrows(NullPointerException.class, () -> FerryMap.importFrom(null, Codec.LONG, Codec.LONG));
            assertThrows(NullPointerException.class, () -> ll.update(1, null));
            assertThrows(NullPointerException.class, () -> ll.putAll((long[]) null, new long[0]));
            assertThrows(NullPointerException.class, () -> ll.getAll((long[]) null, new long[0], null));
            assertThrows(NullPointerException.class, () -> ll.removeAll((long[]) null));
            assertThrows(NullPointerException.class, () -> ll.putAll((ByteBuffer) null, null));
            assertThrows(NullPointerException.class, () -> ll.forEach(null));
            assertThrows(NullPointerException.class, () -> LongLongMap.importFrom(null));
            // the native layer checks too, whatever the Java layer lets through
            assertThrows(NullPointerException.class, () -> Native.put(m.handle(), 0, null, 0, "v".getBytes()));
            assertThrows(NullPointerException.class, () -> Native.put(m.handle(), 0, "k".getBytes(), 0, null));
            assertThrows(NullPointerException.class, () -> Native.update(ll.handle(), 1, null, null));
            assertThrows(NullPointerException.class, () -> Native.mapStats(ll.handle(), null));
            assertThrows(NullPointerException.class, () -> Native.putAllLL(ll.handle(), null, new long[1], 0, 1));
            assertThrows(NullPointerException.class, () -> Native.importMap(null));
            assertThrows(IllegalArgumentException.class, () -> Native.put(ll.handle(), 1, new byte[1], 0, null),
                    "bytes for an INT key");
            assertThrows(IllegalArgumentException.class, () -> Native.putAllLL(ll.handle(), new long[1], new long[1], 0, 2));
            assertThrows(IllegalArgumentException.class, () -> Native.putAllLL(ll.handle(), new long[1], new long[1], -1, 1));
            assertThrows(IllegalArgumentException.class, () -> Native.mapNew(9, 1, 0));
            assertThrows(IllegalArgumentException.class, () -> Native.census(99));
            assertThrows(IllegalArgumentException.class, () -> Native.free(1, 5));
            assertEquals(1, m.size());
        }
    }

    @Test
    void badBuffersAndArrays() {
        try (LongLongMap m = LongLongMap.create()) {
            ByteBuffer heap = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder());
            ByteBuffer direct = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
            ByteBuffer swapped = ByteBuffer.allocateDirect(8).order(
                    ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN);
            ByteBuffer odd = ByteBuffer.allocateDirect(7).order(ByteOrder.nativeOrder());
            ByteBuffer sixteen = ByteBuffer.allocateDirect(16).order(ByteOrder.nativeOrder());
            assertThrows(IllegalArgumentException.class, () -> m.putAll(heap, direct));
            assertThrows(IllegalArgumentException.class, () -> m.putAll(swapped, direct));
            assertThrows(IllegalArgumentException.class, () -> m.putAll(odd, direct));
            assertThrows(IllegalArgumentException.class, () -> m.putAll(sixteen, direct));
            assertThrows(java.nio.ReadOnlyBufferException.class,
                    () -> m.getAll(direct, direct.asReadOnlyBuffer().order(ByteOrder.nativeOrder()), null));
            assertThrows(IllegalArgumentException.class, () -> m.putAll(new long[2], new long[1]));
            assertThrows(IllegalArgumentException.class, () -> m.getAll(new long[2], new long[2], new boolean[1]));
            // the native layer rejects heap buffers and ranges outside the buffer itself
            assertThrows(IllegalArgumentException.class, () -> Native.putAllDirect(m.handle(), heap, 0, direct, 0, 1));
            assertThrows(IllegalArgumentException.class, () -> Native.putAllDirect(m.handle(), direct, 0, direct, 0, 2));
            assertThrows(IllegalArgumentException.class, () -> Native.putAllDirect(m.handle(), direct, 4, direct, 0, 1));
            assertThrows(IllegalArgumentException.class, () -> Native.removeAllDirect(m.handle(), direct, -8, 1));
            assertEquals(0, m.size());
        }
    }

    @Test
    void corruptImports() {
        try (LongLongMap m = LongLongMap.create()) {
            for (long i = 0; i < 50; i++) {
                m.put(i, i);
            }
            byte[] good = m.export();
            assertThrows(IllegalArgumentException.class, () -> LongLongMap.importFrom(new byte[0]));
            assertThrows(IllegalArgumentException.class, () -> LongLongMap.importFrom(new byte[] {'F', 'M', 'A', 'P'}));
            for (int i = 0; i < good.length; i += 7) {
                byte[] bad = good.clone();
                bad[i] ^= 0x5a;
                assertThrows(IllegalArgumentException.class, () -> LongLongMap.importFrom(bad), "flipped byte " + i);
            }
            byte[] truncated = java.util.Arrays.copyOf(good, good.length - 1);
            assertThrows(IllegalArgumentException.class, () -> LongLongMap.importFrom(truncated));
        }
    }

    @Test
    void callbacks() {
        try (LongLongMap m = LongLongMap.create(); LongLongMap other = LongLongMap.create()) {
            m.put(1, 10);
            assertThrows(NoSuchElementException.class, () -> m.update(2, v -> v), "absent key");
            // an exception from the callback propagates as it is; the value is unchanged
            UnsupportedOperationException thrown = new UnsupportedOperationException("mine");
            assertSame(thrown, assertThrows(UnsupportedOperationException.class, () -> m.update(1, v -> {
                throw thrown;
            })));
            assertEquals(10, m.get(1));
            // re-entry into the same map: an exception, not a deadlock
            assertThrows(IllegalStateException.class, () -> m.update(1, v -> m.get(1)));
            assertThrows(IllegalStateException.class, () -> m.update(1, v -> {
                m.put(1, 5);
                return v;
            }));
            assertEquals(10, m.get(1));
            // a callback that catches the re-entry error may go on
            m.update(1, v -> {
                try {
                    m.put(1, 5);
                } catch (IllegalStateException expected) {
                    // re-entrant
                }
                return v + 1;
            });
            assertEquals(11, m.get(1));
            // other maps may be used freely from a callback
            m.update(1, v -> {
                other.put(1, v);
                return v + other.get(1);
            });
            assertEquals(22, m.get(1));
            assertEquals(11, other.get(1));
        }
    }

    @Test
    void endsAndMisses() {
        try (LongLongMap m = LongLongMap.create()) {
            m.put(1, 1);
            assertThrows(NoSuchElementException.class, () -> m.getOrThrow(2));
            try (LongLongCursor c = m.cursor()) {
                assertThrows(NoSuchElementException.class, c::key, "before next()");
                assertTrue(c.next());
                assertFalse(c.next());
                assertThrows(NoSuchElementException.class, c::value, "after the end");
            }
            Iterator<Map.Entry<Long, Long>> it = m.asMap().entrySet().iterator();
            it.next();
            assertFalse(it.hasNext());
            assertThrows(NoSuchElementException.class, it::next);
            it.remove(); // the entry next() last returned: written through
            assertFalse(m.containsKey(1));
            assertThrows(IllegalStateException.class, it::remove, "a second remove");
            Iterator<Map.Entry<Long, Long>> fresh = m.asMap().entrySet().iterator();
            assertThrows(IllegalStateException.class, fresh::remove, "remove before next()");
            assertFalse(fresh.hasNext()); // the end frees its snapshot (the census stays exact)
        }
    }
}
