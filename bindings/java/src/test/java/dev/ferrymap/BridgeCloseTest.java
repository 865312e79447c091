package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Close drains (DESIGN §7): every request accepted before close runs and its future
 * completes before {@code close()} returns; later requests are refused with
 * BridgeClosedException; the owner, completer and feed threads go away; no handle is left.
 */
@ExtendWith(LeakCheck.class)
class BridgeCloseTest {
    private static long threadsNamed(String name) {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals(name)).count();
    }

    /** Waits (bounded) for every thread of that name to exit. */
    private static void assertGone(String name) throws InterruptedException {
        for (int i = 0; i < 100 && threadsNamed(name) > 0; i++) {
            Thread.sleep(50);
        }
        assertEquals(0, threadsNamed(name), name + " threads left");
    }

    @Test
    void closeWithThousandsOfRequestsInFlight() throws Exception {
        final int producers = 4;
        LongLongMap m = LongLongMap.bridge(0, 4096);
        Subscription<Long, Long> feed = m.subscribe(1 << 20);
        ConcurrentLinkedQueue<CompletableFuture<?>> accepted = new ConcurrentLinkedQueue<>();
        AtomicLong mutationsAccepted = new AtomicLong();
        List<Throwable> refusals = new ArrayList<>();
        CountDownLatch enough = new CountDownLatch(producers);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < producers; t++) {
            int id = t;
            Thread th = new Thread(() -> {
                long i = 0;
                try {
                    while (true) {
                        long key = (long) id << 40 | i;
                        CompletableFuture<?> f;
                        if (i % 4 == 3) {
                            f = m.submitAsync(Request.put(key, i), Request.add(key, 1), Request.get(key));
                            mutationsAccepted.addAndGet(2);
                        } else {
                            f = m.putAsync(key, i);
                            mutationsAccepted.incrementAndGet();
                        }
                        accepted.add(f);
                        if (++i == 2000) {
                            enough.countDown();
                        }
                    }
                } catch (IllegalStateException e) {
                    synchronized (refusals) {
                        refusals.add(e);
                    }
                }
            });
            th.start();
            threads.add(th);
        }
        assertTrue(enough.await(60, TimeUnit.SECONDS));
        m.close(); // while the producers are still submitting
        long doneAtClose = accepted.stream().filter(CompletableFuture::isDone).count();
        for (Thread th : threads) {
            th.join(60_000);
            assertFalse(th.isAlive());
        }
        assertEquals(producers, refusals.size(), "every producer was eventually refused");
        for (Throwable e : refusals) {
            assertInstanceOf(BridgeClosedException.class, e, e.toString());
        }
        assertTrue(accepted.size() >= producers * 2000L, "thousands in flight");
        // close() waited for the futures of everything accepted before it; a submission
        // racing with close may still be finishing: every accepted future completes, normally.
        assertTrue(doneAtClose >= accepted.size() - producers, doneAtClose + " of " + accepted.size() + " done at close");
        for (CompletableFuture<?> f : accepted) {
            Object r = f.get(30, TimeUnit.SECONDS);
            if (r instanceof Result[]) {
                Result[] rs = (Result[]) r;
                assertEquals(rs[1].longValue(), rs[2].longValue(), "the batch ran in order");
            }
        }
        // the change feed has exactly the accepted mutations, then ends
        long events = 0;
        for (Event<Long, Long> e : feed) {
            assertEquals(++events, e.seq());
            assertEquals(0, e.lost());
        }
        assertEquals(mutationsAccepted.get(), events, "every accepted mutation committed, nothing else");
        feed.close();

        // later calls of every kind are refused
        assertThrows(BridgeClosedException.class, () -> m.get(1));
        assertThrows(BridgeClosedException.class, () -> m.putAsync(1, 1));
        assertThrows(BridgeClosedException.class, () -> m.trySubmit(Request.get(1)));
        assertThrows(BridgeClosedException.class, () -> m.subscribe(1));
        m.close(); // idempotent
        assertGone("ferrymap-completer");
        assertEquals(0, Library.census(HandleKind.TICKET));
    }

    @Test
    void closeWaitsForAStalledOwnerAndTheOwnerDetaches() throws Exception {
        LongLongMap m = LongLongMap.bridge(0, 16);
        m.put(1, 1);
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread staller = new Thread(() -> m.update(1, v -> {
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            return v + 1;
        }));
        staller.start();
        assertTrue(entered.await(30, TimeUnit.SECONDS));
        assertTrue(threadsNamed("ferrymap-bridge") >= 1, "the owner thread is attached while it runs Java code");
        List<CompletableFuture<Long>> queued = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            queued.add(m.addAsync(1, 10));
        }
        CompletableFuture<Void> closing = CompletableFuture.runAsync(m::close);
        Thread.sleep(50);
        assertFalse(closing.isDone(), "close waits for the accepted requests");
        assertThrows(IllegalStateException.class, () -> m.get(1), "but no longer accepts any");
        release.countDown();
        closing.get(30, TimeUnit.SECONDS);
        staller.join();
        for (int i = 0; i < queued.size(); i++) {
            assertTrue(queued.get(i).isDone(), "completed before close returned");
            assertEquals(2 + 10L * (i + 1), queued.get(i).join());
        }
        assertGone("ferrymap-bridge"); // the owner detached from the JVM as it exited
    }

    @Test
    void aBridgeDroppedWithoutCloseIsCleanedUp() throws Exception {
        for (int i = 0; i < 3; i++) {
            LongLongMap m = LongLongMap.bridge();
            m.putAsync(1, 1).get(30, TimeUnit.SECONDS);
            m.update(1, v -> v + 1);
        }
        assertEquals(0, LeakCheck.settledCensus(), "the Cleaner closed the bridges");
        assertGone("ferrymap-bridge");
        assertGone("ferrymap-completer");
    }

    @Test
    void asyncWaitsWithTimeouts() throws Exception {
        try (LongLongMap m = LongLongMap.bridge()) {
            CompletableFuture<Result[]> f = m.submitAsync(Duration.ofSeconds(1), Request.put(1, 2));
            assertFalse(f.get(30, TimeUnit.SECONDS)[0].replaced());
        }
    }
}
