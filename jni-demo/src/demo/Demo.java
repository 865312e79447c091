package demo;

import dev.ferrymap.Codec;
import dev.ferrymap.FerryMap;
import dev.ferrymap.HandleKind;
import dev.ferrymap.Library;
import dev.ferrymap.LongLongCursor;
import dev.ferrymap.LongLongMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * ferrymap from Java: fill a map, iterate a snapshot of it while another thread
 * overwrites, removes, inserts and clears, and show the iterator saw exactly the
 * snapshot; then hand the map to another class as a plain long.
 */
public final class Demo {
    public static void main(String[] args) throws Exception {
        System.out.printf("ferrymap %s, registry %016x%n  loaded from %s%n",
                Library.versionString(), Library.registryId(), Library.libraryPath());

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

        System.out.printf("live handles at the end: %d maps, %d total%n",
                Library.census(HandleKind.MAP), Library.censusTotal());
        if (Library.censusTotal() != 0) {
            throw new AssertionError("leaked handles");
        }
    }
}
