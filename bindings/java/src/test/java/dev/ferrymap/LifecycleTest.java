package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Iterator;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(LeakCheck.class)
class LifecycleTest {
    private static void makeGarbage(int maps) {
        for (int i = 0; i < maps; i++) {
            LongLongMap m = LongLongMap.create();
            m.put(i, i);
            FerryMap<String, String> s = FerryMap.create(Codec.STRING, Codec.STRING);
            s.put("k", "v");
            // dropped without close
        }
    }

    @Test
    void cleanerFreesMapsNobodyClosed() throws InterruptedException {
        assertEquals(0, Library.censusTotal());
        makeGarbage(20); // 40 maps, none closed
        assertEquals(0, LeakCheck.settledCensus(), "the Cleaner freed every unreferenced map");
    }

    @Test
    void cleanerFreesAbandonedIteratorsAndViews() throws InterruptedException {
        try (FerryMap<Long, String> m = FerryMap.create(Codec.LONG, Codec.STRING)) {
            for (long i = 0; i < 1000; i++) {
                m.put(i, "v" + i);
            }
            for (int i = 0; i < 10; i++) {
                Iterator<Map.Entry<Long, String>> it = m.asMap().entrySet().iterator();
                it.next(); // dropped half-way
                m.view((long) i); // dropped without close
            }
            assertEquals(10, m.stats().openIterators());
            assertEquals(10, m.stats().openViews());
            assertEquals(10, Library.census(HandleKind.ITERATOR));
            assertEquals(10, Library.census(HandleKind.VIEW));
            for (int i = 0; i < 100 && Library.census(HandleKind.ITERATOR) + Library.census(HandleKind.VIEW) > 0; i++) {
                System.gc();
                Thread.sleep(50);
            }
            // (the stats' open counts drop when the epoch scheme drops the objects; the census at once)
            assertEquals(0, Library.census(HandleKind.ITERATOR));
            assertEquals(0, Library.census(HandleKind.VIEW));
        }
    }

    @Test
    void exhaustedIteratorsFreeTheirSnapshotAtOnce() {
        try (LongLongMap m = LongLongMap.create()) {
            for (long i = 0; i < 600; i++) {
                m.put(i, i);
            }
            Iterator<Map.Entry<Long, Long>> it = m.asMap().entrySet().iterator();
            int n = 0;
            while (it.hasNext()) {
                it.next();
                n++;
            }
            assertEquals(600, n);
            assertEquals(0, Library.census(HandleKind.ITERATOR));
            m.forEach((k, v) -> {});
            assertEquals(0, Library.census(HandleKind.ITERATOR));
        }
    }

    @Test
    void detachAndAdoptMoveOwnership() {
        LongLongMap a = LongLongMap.create();
        a.put(1, 2);
        long h = a.detach();
        assertTrue(a.isClosed());
        assertThrows(IllegalStateException.class, () -> a.get(1));
        a.close(); // nothing left to do
        try (LongLongMap b = LongLongMap.adopt(h)) {
            assertTrue(b.isOwner());
            assertEquals(2, b.get(1), "detach did not free");
        }
        assertThrows(IllegalStateException.class, () -> LongLongMap.attach(h), "adopt freed it on close");
    }

    @Test
    void closingAnOwnedMapFreedElsewhereSaysSo() {
        LongLongMap a = LongLongMap.create();
        Native.free(a.handle(), Native.MAP); // as if another language freed it
        assertThrows(IllegalStateException.class, a::close);
        a.close(); // and only once
    }

    @Test
    void closeRacingWithUse() throws Exception {
        for (int round = 0; round < 20; round++) {
            LongLongMap m = LongLongMap.create();
            for (long i = 0; i < 1000; i++) {
                m.put(i, i);
            }
            Thread user = new Thread(() -> {
                try {
                    for (long i = 0; ; i++) {
                        m.get(i % 1000);
                        m.put(i % 1000, i);
                    }
                } catch (IllegalStateException expected) {
                    // closed under our feet: the documented outcome
                }
            });
            user.start();
            Thread.sleep(2);
            m.close();
            user.join(10_000);
            assertFalse(user.isAlive());
        }
    }
}
