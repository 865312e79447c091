package demo;

import dev.ferrymap.Codec;
import dev.ferrymap.FerryMap;
import dev.ferrymap.HandleKind;
import dev.ferrymap.Library;
import dev.ferrymap.LongLongCursor;
import dev.ferrymap.LongLongMap;
import dev.ferrymap.Request;
import dev.ferrymap.Result;
import dev.ferrymap.Subscription;
import dev.ferrymap.Event;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * ferrymap from Java: fill a map, iterate a snapshot of it while another thread
 * overwrites, removes, inserts and clears, and show the iterator saw exactly the
 * snapshot; then hand the map to another class as a plain long. Last, a bridge map:
 * every operation on one owner thread, futures, sequence numbers and the change feed.
 */
public final class Demo {
    public static void main(String[] args) throws Exception {
        System.out.printf("ferrymap %s, registry %016x%n  loaded from %s%n",
                Library.version(), Library.registryId(), Library.libraryPath());

        final int n = 100_000;
        try (LongLongMap map = LongLongMap.create(n)) {
            for (long k = 0; k < n; k++) {
                map.put(k, k * k);
            }
            System.out.printf("filled %,d entries (key -> key*key); get(300) = %d, get(-1) = %d (a miss)%n",
                    map.size(), map.get(300), map.get(-1));

            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong writes = new AtomicLong();
            Thread writer;
            long seen = 0;
            long wrong = 0;
            try (LongLongCursor cursor = map.cursor()) { // the snapshot is taken here
                writer = new Thread(() -> {
                    for (long r = 0; !stop.get(); r++) {
                        map.put(r % n, -1);          // overwrite
                        map.remove((r * 7) % n);     // remove
                        map.put(n + r, r);           // insert new keys (the map grows)
                        if (r % 20_000 == 19_999) {
                            map.clear();             // and clear it all now and then
                        }
                        writes.incrementAndGet();
                    }
                }, "writer");
                writer.start();
                while (cursor.next()) {
                    seen++;
                    if (cursor.value() != cursor.key() * cursor.key()) {
                        wrong++;
                    }
                    if (seen % 20_000 == 0) {
                        Thread.sleep(5); // let the writer get ahead of us
                    }
                }
            } finally {
                stop.set(true);
            }
            writer.join();
            System.out.printf("iterated %,d entries while the writer made %,d rounds of writes: "
                    + "%,d with a value not from the snapshot%n", seen, writes.get(), wrong);
            System.out.printf("the map itself now has %,d entries%n", map.size());
            if (seen != n || wrong != 0) {
                throw new AssertionError("the iterator did not see exactly its snapshot");
            }

            // Hand the map to someone else as a plain 64-bit number.
            long handle = map.handle();
            System.out.printf("passing handle 0x%x to Partner%n", handle);
            long before = map.get(7);
            long total = Partner.work(handle);
            System.out.printf("Partner added %d to key 7 through its own wrapper: %d -> %d%n",
                    total, before, map.get(7));
        }

        // Strings cross as exact UTF-8.
        try (FerryMap<String, String> words = FerryMap.create(Codec.STRING, Codec.STRING)) {
            words.put("ferry", "\u26f4\ufe0f boat");
            words.put("nul\u0000inside", "\uD83D\uDE80 rocket");
            words.asMap().forEach((k, v) -> System.out.printf("  %s -> %s%n", k.replace("\u0000", "\\0"), v));
        }

        bridge();

        System.out.printf("live handles at the end: %d maps, %d total%n",
                Library.census(HandleKind.MAP), Library.censusTotal());
        if (Library.censusTotal() != 0) {
            throw new AssertionError("leaked handles");
        }
    }

    /** Bridge mode (DESIGN §7): one owner thread runs every operation, in one total order. */
    static void bridge() throws Exception {
        try (LongLongMap m = LongLongMap.bridge(0, 256);
                Subscription<Long, Long> feed = m.subscribe(1_000)) {
            m.put(1, 100); // synchronous: this thread waits for the owner thread
            System.out.printf("bridge map: put(1, 100) committed as mutation #%d%n", LongLongMap.lastSeq());
            m.update(1, v -> v + 1); // the callback runs on the owner thread, attached to the JVM
            CompletableFuture<Long> added = m.addAsync(2, 5); // returns at once
            CompletableFuture<Result[]> batch = m.submitAsync(Request.put(3, 30), Request.get(1), Request.size());
            Result[] r = batch.get();
            System.out.printf("addAsync(2, 5) -> %d; a batch: %s%n", added.get(), java.util.Arrays.toString(r));
            // four threads mutate at once: the feed shows one order, each thread's in its own order
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                long base = 1000L * (t + 1);
                threads.add(new Thread(() -> {
                    for (int i = 0; i < 3; i++) {
                        m.put(base + i, i);
                    }
                }));
            }
            threads.forEach(Thread::start);
            for (Thread t : threads) {
                t.join();
            }
            System.out.printf("change feed (bridge seq now %d):%n", m.bridgeSeq());
            Event<Long, Long> e;
            while ((e = feed.poll(Duration.ofMillis(100))) != null) {
                System.out.printf("  #%d %s %s%n", e.seq(), e.op(), e.hasValue() ? e.key() + " = " + e.value() : e.key());
            }
        } // close drains: every accepted request has run and its future completed
    }
}
