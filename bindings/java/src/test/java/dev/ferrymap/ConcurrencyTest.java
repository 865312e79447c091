package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Sized for a 2-core machine shared with other builds: seconds, not minutes. */
@ExtendWith(LeakCheck.class)
class ConcurrencyTest {
    interface Body {
        void run(int thread) throws Exception;
    }

    private static void runThreads(int n, Body body) throws Exception {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < n; t++) {
            int id = t;
            Thread th = new Thread(() -> {
                try {
                    start.await();
                    body.run(id);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            th.start();
            threads.add(th);
        }
        start.countDown();
        for (Thread th : threads) {
            th.join(60_000);
            assertFalse(th.isAlive(), "thread hung");
        }
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
    }

    @Test
    void iterationSeesExactlyItsSnapshotWhileOthersWrite() throws Exception {
        final int n = 20_000;
        try (LongLongMap m = LongLongMap.create()) {
            for (long i = 0; i < n; i++) {
                m.put(i, i);
            }
            AtomicBoolean stop = new AtomicBoolean();
            Thread writer = new Thread(() -> {
                for (long r = 0; !stop.get(); r++) {
                    long k = r % n;
                    m.put(k, -1); // overwrite
                    m.remove((k * 7) % n); // remove
                    m.put(n + r, r); // insert (grows the map)
                    if (r % 5000 == 4999) {
                        m.clear();
                    }
                }
            });
            try (LongLongCursor c = m.cursor()) { // snapshot before the writer starts
                writer.start();
                long count = 0;
                boolean[] seen = new boolean[n];
                while (c.next()) {
                    int k = (int) c.key();
                    assertTrue(k >= 0 && k < n, "only keys of the snapshot");
                    assertFalse(seen[k], "each key once");
                    seen[k] = true;
                    assertEquals(k, c.value(), "values of the snapshot");
                    count++;
                }
                assertEquals(n, count);
            } finally {
                stop.set(true);
                writer.join();
            }
        }
    }

    @Test
    void javaUtilIteratorsNeverThrowConcurrentModification() throws Exception {
        try (FerryMap<String, Long> m = FerryMap.create(Codec.STRING, Codec.LONG)) {
            for (long i = 0; i < 2000; i++) {
                m.put("k" + i, i);
            }
            AtomicBoolean stop = new AtomicBoolean();
            Thread writer = new Thread(() -> {
                for (long r = 0; !stop.get(); r++) {
                    m.put("k" + (r % 4000), r);
                    m.remove("k" + ((r * 13) % 4000));
                }
            });
            writer.start();
            try {
                for (int round = 0; round < 20; round++) {
                    int count = 0;
                    for (Map.Entry<String, Long> e : m.asMap().entrySet()) {
                        assertTrue(e.getKey().startsWith("k"));
                        count++;
                    }
                    assertTrue(count <= 4000);
                }
            } finally {
                stop.set(true);
                writer.join();
            }
        }
    }

    @Test
    void stressNothingIsLost() throws Exception {
        final int threads = 4;
        final int perThread = 20_000;
        try (LongLongMap m = LongLongMap.create(); LongLongMap counters = LongLongMap.create()) {
            runThreads(threads, t -> {
                long base = (long) t * perThread;
                for (int i = 0; i < perThread; i++) {
                    m.put(base + i, base + i);
                    counters.add(i % 64, 1); // every thread hits the same 64 keys
                    if (i % 3 == 0) {
                        assertEquals(base + i, m.get(base + i));
                    }
                    if (i % 10 == 9) {
                        assertTrue(m.remove(base + i - 5));
                        assertFalse(m.containsKey(base + i - 5));
                    }
                }
            });
            long expectedSize = threads * (long) perThread - threads * (perThread / 10);
            assertEquals(expectedSize, m.size());
            long total = 0;
            try (LongLongCursor c = counters.cursor()) {
                while (c.next()) {
                    total += c.value();
                }
            }
            assertEquals(threads * (long) perThread, total, "every add counted once");
            for (long k = 0; k < threads * (long) perThread; k++) {
                boolean removed = k % perThread % 10 == 4;
                assertEquals(!removed, m.containsKey(k), "key " + k);
            }
        }
    }

    @Test
    void concurrentUpdatesWithCallbacksAreAtomic() throws Exception {
        try (FerryMap<String, Double> m = FerryMap.create(Codec.STRING, Codec.DOUBLE)) {
            m.put("x", 0.0);
            runThreads(3, t -> {
                for (int i = 0; i < 5000; i++) {
                    m.update("x", v -> v + 1.0);
                }
            });
            assertEquals(15000.0, m.get("x"));
        }
    }

    @Test
    void manyThreadsSharingHandlesAcrossObjects() throws Exception {
        Map<Long, Boolean> handles = new ConcurrentHashMap<>();
        try (FerryMap<byte[], byte[]> m = FerryMap.create(Codec.BYTES, Codec.BYTES)) {
            long h = m.handle();
            runThreads(3, t -> {
                try (FerryMap<byte[], byte[]> mine = FerryMap.attach(h, Codec.BYTES, Codec.BYTES)) {
                    handles.put(mine.handle(), true);
                    for (int i = 0; i < 3000; i++) {
                        byte[] k = {(byte) t, (byte) (i >> 8), (byte) i};
                        mine.put(k, k);
                        assertArrayEquals(k, mine.get(k));
                    }
                }
            });
            assertEquals(1, handles.size());
            assertEquals(9000, m.size());
        }
    }
}
