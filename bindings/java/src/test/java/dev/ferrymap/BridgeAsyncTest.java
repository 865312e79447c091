package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Bridge mode (DESIGN §7) from Java: futures, timeouts, backpressure, update callbacks on
 * the owner thread, per-request errors, sequence numbers.
 */
@ExtendWith(LeakCheck.class)
class BridgeAsyncTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    private static <T> T await(CompletableFuture<T> f) throws Exception {
        return f.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    }

    /** Blocks the owner thread of {@code m} in an update callback until {@code release} opens. */
    private static Thread stallOwner(LongLongMap m, CountDownLatch entered, CountDownLatch release) {
        m.put(-1, 0);
        Thread t = new Thread(() -> m.update(-1, v -> {
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            return v + 1;
        }), "staller");
        t.start();
        return t;
    }

    @Test
    void typedFutures() throws Exception {
        try (LongLongMap m = LongLongMap.bridge()) {
            assertEquals(false, await(m.putAsync(1, 10)));
            assertEquals(true, await(m.putAsync(1, 11)));
            assertEquals(OptionalLong.of(11), await(m.getAsync(1)));
            assertEquals(OptionalLong.empty(), await(m.getAsync(2)));
            assertEquals(true, await(m.containsKeyAsync(1)));
            assertEquals(5L, await(m.addAsync(2, 5)));
            assertEquals(true, await(m.removeAsync(2)));
            assertEquals(false, await(m.removeAsync(2)));
            m.put(3, Long.MAX_VALUE);
            ExecutionException e = assertThrows(ExecutionException.class, () -> await(m.addAsync(3, 1)));
            assertInstanceOf(ArithmeticException.class, e.getCause(), "the exception the synchronous add throws");
            assertEquals(Long.MAX_VALUE, m.get(3));
        }
        try (FerryMap<String, String> m = FerryMap.bridge(Codec.STRING, Codec.STRING)) {
            assertEquals(false, await(m.putAsync("k\u0000\uD83D\uDE80", "v")));
            assertEquals("v", await(m.getAsync("k\u0000\uD83D\uDE80")));
            assertNull(await(m.getAsync("absent")));
            assertEquals(true, await(m.containsKeyAsync("k\u0000\uD83D\uDE80")));
            assertThrows(IllegalArgumentException.class, () -> m.addAsync("k", 1L), "STR values cannot be added to");
            assertEquals(true, await(m.removeAsync("k\u0000\uD83D\uDE80")));
        }
        try (FerryMap<byte[], Double> m = FerryMap.bridge(Codec.BYTES, Codec.DOUBLE)) {
            assertEquals(2.5, await(m.addAsync(new byte[] {0, 1}, 2.5)));
            assertEquals(3.0, await(m.addAsync(new byte[] {0, 1}, 0.5)));
            assertEquals(3.0, await(m.getAsync(new byte[] {0, 1})));
        }
    }

    @Test
    void batchesRunInOrderWithPerRequestResults() throws Exception {
        try (LongLongMap m = LongLongMap.bridge()) {
            m.put(9, Long.MAX_VALUE);
            Result[] r = await(m.submitAsync(
                    Request.put(1, 10), Request.get(1), Request.add(1, 5), Request.add(9, 1), Request.containsKey(2),
                    Request.remove(1), Request.remove(1), Request.size(), Request.clear(), Request.size()));
            assertEquals(10, r.length);
            assertFalse(r[0].replaced());
            assertTrue(r[1].found());
            assertEquals(10, r[1].longValue());
            assertEquals(15, r[2].longValue());
            assertFalse(r[3].isOk(), "the overflow fails this request only");
            assertInstanceOf(ArithmeticException.class, r[3].error());
            assertThrows(ArithmeticException.class, r[3]::longValue);
            assertFalse(r[4].found());
            assertTrue(r[5].removed());
            assertFalse(r[6].removed());
            assertEquals(0, r[6].seq(), "a mutation that changed nothing has no sequence number");
            assertEquals(1, r[7].size(), "key 9 is left");
            assertEquals(0, r[9].size());
            // sequence numbers: put, add, remove, clear committed, in that order
            long[] seqs = {r[0].seq(), r[2].seq(), r[5].seq(), r[8].seq()};
            for (int i = 1; i < seqs.length; i++) {
                assertEquals(seqs[i - 1] + 1, seqs[i]);
            }
            assertEquals(seqs[3], m.bridgeSeq());
            assertEquals(0, r[1].seq());

            // one request: the same
            assertFalse(await(m.submitAsync(Request.get(9)))[0].found(), "the batch cleared the map");
            m.put(9, -9);
            assertEquals(-9, await(m.submitAsync(Request.get(9)))[0].longValue());
            // requests that do not fit are refused before anything is queued
            long before = m.bridgeSeq();
            assertThrows(IllegalArgumentException.class, () -> m.submitAsync(Request.put(1, 1), Request.put("x", 1L)));
            assertThrows(IllegalArgumentException.class, () -> m.submitAsync(Request.add((Object) 1L, 1.5)));
            assertThrows(IllegalArgumentException.class, () -> m.submitAsync());
            assertEquals(before, m.bridgeSeq());
            assertFalse(m.containsKey(1));
        }
        try (FerryMap<String, byte[]> m = FerryMap.bridge(Codec.STRING, Codec.BYTES)) {
            Result[] r = await(m.submitAsync(Request.put("a", new byte[] {1, 2}), Request.get("a"),
                    Request.add("a", 1L), Request.get("b")));
            assertArrayEquals(new byte[] {1, 2}, (byte[]) r[1].value());
            assertInstanceOf(IllegalArgumentException.class, r[2].error(), "add on BYTES values: a wrong kind");
            assertNull(r[3].value());
            assertThrows(IllegalArgumentException.class, () -> m.submitAsync(Request.get(5L)), "STR keys");
        }
    }

    @Test
    void directMapsHaveNoAsyncCalls() {
        try (LongLongMap m = LongLongMap.create()) {
            assertFalse(m.isBridge());
            assertThrows(UnsupportedOperationException.class, () -> m.getAsync(1));
            assertThrows(UnsupportedOperationException.class, () -> m.submitAsync(Request.get(1)));
            assertThrows(UnsupportedOperationException.class, () -> m.subscribe(4));
            assertThrows(UnsupportedOperationException.class, m::bridgeSeq);
        }
    }

    @Test
    void lastSeqIsTheCallingThreadsLastMutation() throws Exception {
        try (LongLongMap m = LongLongMap.bridge()) {
            m.put(1, 1);
            long a = AbstractFerryMap.lastSeq();
            assertEquals(m.bridgeSeq(), a);
            m.get(1);
            m.remove(42); // changes nothing
            assertEquals(a, AbstractFerryMap.lastSeq(), "reads and no-op mutations leave it alone");
            Thread other = new Thread(() -> m.put(2, 2));
            other.start();
            other.join();
            assertEquals(a, AbstractFerryMap.lastSeq(), "another thread's mutation is not ours");
            m.add(1, 1);
            assertEquals(a + 2, AbstractFerryMap.lastSeq());
            m.update(1, v -> v * 3);
            assertEquals(a + 3, AbstractFerryMap.lastSeq());
            assertEquals(a + 3, m.bridgeSeq());
        }
    }

    @Test
    void updateCallbackRunsOnTheOwnerThread() throws Exception {
        try (LongLongMap m = LongLongMap.bridge()) {
            m.put(1, 1);
            AtomicReference<Thread> ran = new AtomicReference<>();
            m.update(1, v -> {
                ran.set(Thread.currentThread());
                return v + 41;
            });
            assertEquals(42, m.get(1));
            assertEquals("ferrymap-bridge", ran.get().getName());
            assertTrue(ran.get().isDaemon(), "attached as a daemon: it never keeps the JVM alive");
            assertNotSame(Thread.currentThread(), ran.get());

            // an exception from the callback reaches the caller as it is; the value is unchanged
            class Boom extends RuntimeException {
                private static final long serialVersionUID = 1L;
            }
            assertThrows(Boom.class, () -> m.update(1, v -> {
                throw new Boom();
            }));
            assertEquals(42, m.get(1));
            assertThrows(NoSuchElementException.class, () -> m.update(2, v -> v));

            // re-entry into the same map from the callback throws instead of deadlocking
            AtomicReference<Throwable> reentry = new AtomicReference<>();
            m.update(1, v -> {
                try {
                    m.get(1);
                } catch (Throwable e) {
                    reentry.set(e);
                }
                return v + 1;
            });
            assertInstanceOf(IllegalStateException.class, reentry.get());
            assertTrue(reentry.get().getMessage().contains("re-entrant"), reentry.get().getMessage());
            assertEquals(43, m.get(1));
            // uncaught, it propagates and the value stays
            assertThrows(IllegalStateException.class, () -> m.update(1, v -> m.put(5, 5) ? v : v));
            assertThrows(IllegalStateException.class, () -> m.update(1, v -> {
                m.update(1, w -> w);
                return v;
            }));
            LongLongMap same = m;
            assertThrows(IllegalStateException.class, () -> m.update(1, v -> {
                same.close();
                return v;
            }), "closing a bridge from its own callback is refused");
            assertFalse(m.isClosed());
            assertEquals(43, m.get(1));
            assertFalse(m.containsKey(5));

            // the callback may use other maps, and the owner thread stays attached between calls
            try (LongLongMap other = LongLongMap.create()) {
                other.put(7, 100);
                m.update(1, v -> v + other.get(7));
                assertEquals(143, m.get(1));
            }
        }
        try (FerryMap<String, Double> m = FerryMap.bridge(Codec.STRING, Codec.DOUBLE)) {
            m.put("x", 1.5);
            m.update("x", v -> v * 2);
            assertEquals(3.0, m.get("x"));
        }
    }

    @Test
    void trySubmitOnAFullQueueAndTimedSubmit() throws Exception {
        final int queue = 8;
        try (LongLongMap m = LongLongMap.bridge(0, queue)) {
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            Thread staller = stallOwner(m, entered, release);
            assertTrue(entered.await(30, TimeUnit.SECONDS));
            // the owner is busy: the queue fills up, then try-submits fail at once
            List<CompletableFuture<Result[]>> accepted = new ArrayList<>();
            QueueFullException full = null;
            for (int i = 0; i < queue + 1; i++) {
                try {
                    accepted.add(m.trySubmit(Request.put(i, i * 10L)));
                } catch (QueueFullException e) {
                    full = e;
                    break;
                }
            }
            assertNotNull(full, "the queue never filled");
            assertInstanceOf(IllegalStateException.class, full);
            assertEquals(queue, accepted.size(), "exactly the queue's capacity was accepted");
            long t0 = System.nanoTime();
            assertThrows(QueueFullException.class, () -> m.submitAsync(Duration.ofMillis(50), Request.get(0)));
            assertTrue(System.nanoTime() - t0 >= 45_000_000L, "the timed submit waited for its timeout");
            // results are not there yet: a timed wait on the future times out
            assertThrows(TimeoutException.class, () -> accepted.get(0).get(20, TimeUnit.MILLISECONDS));
            assertFalse(accepted.get(0).isDone());

            release.countDown();
            staller.join();
            for (int i = 0; i < accepted.size(); i++) {
                assertFalse(await(accepted.get(i))[0].replaced());
                assertEquals(i * 10L, m.get(i));
            }
            assertEquals(1, m.get(-1));
            // room again
            assertTrue(await(m.trySubmit(Request.get(0)))[0].found());
        }
    }

    @Test
    void futuresCompleteInOrderWithoutAThreadPerTicket() throws Exception {
        final int n = 20_000;
        try (LongLongMap m = LongLongMap.bridge(0, 256)) {
            List<CompletableFuture<Long>> fs = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                fs.add(m.addAsync(i % 7, 1));
            }
            long[] last = new long[7];
            for (int i = 0; i < n; i++) {
                long v = await(fs.get(i));
                assertEquals(last[i % 7] + 1, v, "one thread's requests run in order");
                last[i % 7] = v;
            }
            long completers = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().equals("ferrymap-completer")).count();
            assertTrue(completers <= 1, completers + " completer threads for one bridge");
        }
    }

    @Test
    void manyFuturesInFlightEachGetTheirOwnResults() throws Exception {
        try (FerryMap<String, String> m = FerryMap.bridge(Codec.STRING, Codec.STRING, 0, 64)) {
            for (int i = 0; i < 500; i++) {
                m.put("k" + i, "value of " + i + (i % 3 == 0 ? " \uD83D\uDE80" : ""));
            }
            List<CompletableFuture<String>> singles = new ArrayList<>();
            List<CompletableFuture<Result[]>> batches = new ArrayList<>();
            for (int i = 0; i < 5000; i++) {
                singles.add(m.getAsync("k" + (i % 600)));
                if (i % 50 == 0) {
                    batches.add(m.submitAsync(Request.get("k" + (i % 500)), Request.get("absent"),
                            Request.get("k" + ((i + 1) % 500)), Request.size()));
                }
            }
            for (int i = 0; i < singles.size(); i++) {
                int k = i % 600;
                assertEquals(k < 500 ? "value of " + k + (k % 3 == 0 ? " \uD83D\uDE80" : "") : null, await(singles.get(i)));
            }
            for (int b = 0; b < batches.size(); b++) {
                Result[] r = await(batches.get(b));
                int i = b * 50;
                assertEquals(m.get("k" + (i % 500)), r[0].value());
                assertNull(r[1].value());
                assertEquals(m.get("k" + ((i + 1) % 500)), r[2].value());
                assertEquals(500, r[3].size());
            }
        }
        assertEquals(0, Library.census(HandleKind.TICKET), "every ticket was freed as it completed");
    }
}
