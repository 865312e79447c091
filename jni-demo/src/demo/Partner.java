package demo;

import dev.ferrymap.LongLongMap;

/**
 * Code that only gets a handle (as Python, C or Go code would): it attaches without
 * taking ownership, so closing its wrapper leaves the map to its owner.
 */
final class Partner {
    private Partner() {}

    static long work(long handle) {
        try (LongLongMap borrowed = LongLongMap.attach(handle)) {
            long total = 0;
            for (int i = 0; i < 10; i++) {
                total += 5;
                borrowed.add(7, 5);
            }
            return total;
        }
    }
}
