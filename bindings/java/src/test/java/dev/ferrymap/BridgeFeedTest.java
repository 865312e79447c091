package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The change feed and the one total order of a bridge map (DESIGN §7): every committed
 * mutation, in commit order, numbered 1..N without gaps, each thread's in the order it made
 * them; a subscriber that lags is told exactly how many events it lost.
 */
@ExtendWith(LeakCheck.class)
class BridgeFeedTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    interface Body {
        void run(int thread) throws Exception;
    }

    static void runThreads(int n, Body body) throws Exception {
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
            th.join(120_000);
            assertFalse(th.isAlive(), "thread hung");
        }
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
    }

    @Test
    void everyOpAppearsWithKeyAndValue() throws Exception {
        try (LongLongMap m = LongLongMap.bridge(); Subscription<Long, Long> s = m.subscribe(100)) {
            m.put(1, 10);
            m.add(1, 5);
            m.update(1, v -> v * 2);
            m.remove(1);
            m.remove(1); // nothing to remove: no event
            m.get(2); // reads: no event
            m.put(2, 20);
            m.clear();
            await(m.submitAsync(Request.put(3, 30)));
            Event<Long, Long> e = s.next(WAIT);
            assertEquals(1, e.seq());
            assertEquals(Op.INSERT, e.op());
            assertEquals(1, e.longKey());
            assertEquals(10, e.longValue());
            assertEquals(0, e.lost());
            e = s.next(WAIT);
            assertEquals(Op.ADD, e.op());
            assertEquals(15L, e.value(), "ADD carries the new value");
            e = s.next(WAIT);
            assertEquals(Op.UPDATE, e.op());
            assertEquals(30, e.longValue());
            e = s.next(WAIT);
            assertEquals(Op.REMOVE, e.op());
            assertEquals(1L, e.key());
            assertNull(e.value());
            e = s.next(WAIT);
            assertEquals(Op.INSERT, e.op());
            assertEquals(5, e.seq());
            e = s.next(WAIT);
            assertEquals(Op.CLEAR, e.op());
            assertNull(e.key());
            e = s.next(WAIT);
            assertEquals(7, e.seq());
            assertEquals(3, e.longKey());
            assertNull(s.poll(Duration.ofMillis(10)), "nothing more");
            assertThrows(TimeoutException.class, () -> s.next(Duration.ZERO));
        }
        try (FerryMap<String, String> m = FerryMap.bridge(Codec.STRING, Codec.STRING);
                Subscription<String, String> s = m.subscribe(10)) {
            m.put("k\u0000\uD83D\uDE80", "");
            Event<String, String> e = s.next(WAIT);
            assertEquals("k\u0000\uD83D\uDE80", e.key());
            assertEquals("", e.value());
            assertThrows(IllegalStateException.class, e::longKey);
        }
    }

    private static <T> T await(CompletableFuture<T> f) throws Exception {
        return f.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    }

    @Test
    void oneTotalOrderAndPerThreadFifoUnderManyThreads() throws Exception {
        final int threads = 8;
        final int perThread = 3_000;
        final int total = threads * perThread;
        try (LongLongMap m = LongLongMap.bridge(0, 64); Subscription<Long, Long> s = m.subscribe(total)) {
            long[][] seqSeen = new long[threads][perThread];
            runThreads(threads, t -> {
                List<CompletableFuture<Result[]>> async = new ArrayList<>();
                for (int i = 0; i < perThread; i++) {
                    long key = (long) t << 32 | i;
                    if (i % 3 == 2) {
                        // async, interleaved with the same thread's synchronous calls
                        int at = i;
                        async.add(m.submitAsync(Request.put(key, i)).whenComplete((r, e) -> {
                            if (r != null) {
                                seqSeen[t][at] = r[0].seq();
                            }
                        }));
                    } else {
                        m.put(key, i);
                        seqSeen[t][i] = AbstractFerryMap.lastSeq();
                    }
                }
                for (CompletableFuture<Result[]> f : async) {
                    await(f);
                }
            });
            assertEquals(total, m.size());
            assertEquals(total, m.bridgeSeq());
            int[] next = new int[threads];
            for (long seq = 1; seq <= total; seq++) {
                Event<Long, Long> e = s.next(WAIT);
                assertEquals(seq, e.seq(), "sequence numbers 1..N without gaps");
                assertEquals(0, e.lost());
                assertEquals(Op.INSERT, e.op());
                int t = (int) (e.longKey() >>> 32);
                int i = (int) e.longKey();
                assertEquals(next[t], i, "thread " + t + "'s mutations in the order it made them");
                assertEquals(i, e.longValue());
                assertEquals(seq, seqSeen[t][i], "the sequence number the caller saw is the event's");
                next[t]++;
            }
            assertNull(s.poll(Duration.ZERO));
        }
    }

    @Test
    void aLaggingSubscriberIsToldExactlyHowManyItLost() throws Exception {
        try (LongLongMap m = LongLongMap.bridge();
                Subscription<Long, Long> slow = m.subscribe(10);
                Subscription<Long, Long> all = m.subscribe(1000)) {
            for (int i = 1; i <= 100; i++) {
                m.put(i, i);
            }
            Event<Long, Long> e = slow.next(WAIT);
            assertEquals(90, e.lost(), "100 events, room for 10: the 90 oldest were lost");
            assertEquals(91, e.seq());
            for (int seq = 92; seq <= 100; seq++) {
                e = slow.next(WAIT);
                assertEquals(seq, e.seq());
                assertEquals(0, e.lost());
            }
            // it lags again: counted afresh
            for (int i = 101; i <= 125; i++) {
                m.put(i, i);
            }
            e = slow.next(WAIT);
            assertEquals(15, e.lost());
            assertEquals(116, e.seq());
            // a subscriber with room lost nothing
            for (int seq = 1; seq <= 125; seq++) {
                e = all.next(WAIT);
                assertEquals(seq, e.seq());
                assertEquals(0, e.lost());
            }
        }
    }

    @Test
    void iteratorStreamAndListenerEndWhenTheBridgeCloses() throws Exception {
        LongLongMap m = LongLongMap.bridge();
        Subscription<Long, Long> forStream = m.subscribe(1000);
        Subscription<Long, Long> forIterator = m.subscribe(1000);
        Subscription<Long, Long> forListener = m.subscribe(1000);
        Subscription<Long, Long> closedEarly = m.subscribe(1000);
        List<Long> heard = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> listening = forListener.listen(e -> heard.add(e.seq()));
        CompletableFuture<List<Long>> streamed = CompletableFuture.supplyAsync(
                () -> forStream.stream().map(Event::seq).collect(Collectors.toList()));
        for (int i = 0; i < 50; i++) {
            m.put(i, i);
        }
        closedEarly.close();
        m.close(); // ends every feed once its events are read
        List<Long> expected = new ArrayList<>();
        for (long i = 1; i <= 50; i++) {
            expected.add(i);
        }
        assertEquals(expected, streamed.get(30, TimeUnit.SECONDS));
        listening.get(30, TimeUnit.SECONDS);
        assertEquals(expected, heard);
        List<Long> iterated = new ArrayList<>();
        for (Event<Long, Long> e : forIterator) {
            iterated.add(e.seq());
        }
        assertEquals(expected, iterated);
        assertTrue(forIterator.isEnded());
        assertThrows(BridgeClosedException.class, () -> forIterator.next(WAIT), "the feed has ended");
        assertThrows(IllegalStateException.class, () -> closedEarly.next(WAIT), "a closed subscription");
        assertThrows(IllegalStateException.class, () -> m.subscribe(4));
        forStream.close();
        forIterator.close();
        forListener.close();
    }

    @Test
    void closingASubscriptionEndsABlockedReader() throws Exception {
        try (LongLongMap m = LongLongMap.bridge()) {
            Subscription<Long, Long> s = m.subscribe(10);
            CompletableFuture<Void> listening = s.listen(e -> { });
            Thread.sleep(20);
            s.close();
            listening.get(30, TimeUnit.SECONDS);
            assertEquals(0, Library.census(HandleKind.SUBSCRIPTION));
            assertThrows(IllegalArgumentException.class, () -> m.subscribe(0));
        }
    }
}
