package dev.ferrymap;

import java.util.Iterator;

/**
 * An iterator over a snapshot of a map (DESIGN §6): it sees exactly the entries the map
 * held when it was made, each once, never throws ConcurrentModificationException, and
 * stays valid even if the map is written, cleared or closed meanwhile. It holds a native
 * snapshot until it reaches the end or is closed (a Cleaner frees one that is dropped
 * half-way). {@code remove()} is not supported.
 */
public interface CloseableIterator<T> extends Iterator<T>, AutoCloseable {
    /** Frees the snapshot early. Idempotent. */
    @Override
    void close();
}
