package dev.ferrymap;

/**
 * A primitive, non-boxing iterator over a snapshot of a {@link LongLongMap} (DESIGN §6):
 *
 * <pre>{@code
 * try (LongLongCursor c = map.cursor()) {
 *     while (c.next()) {
 *         use(c.key(), c.value());
 *     }
 * }
 * }</pre>
 *
 * It sees exactly the entries the map held when it was made, each once, whatever other
 * threads do to the map meanwhile. Entries are fetched 256 per native call. Not for use
 * by several threads at once.
 */
public final class LongLongCursor implements AutoCloseable {
    private final SnapshotIterator it;
    private boolean positioned;

    LongLongCursor(SnapshotIterator it) {
        this.it = it;
    }

    /** Moves to the next entry; false at the end (the snapshot is then freed). */
    public boolean next() {
        positioned = it.advance();
        return positioned;
    }

    /** The current entry's key. @throws java.util.NoSuchElementException before next() or after the end */
    public long key() {
        check();
        return it.intKeys[it.index];
    }

    /** The current entry's value. @throws java.util.NoSuchElementException before next() or after the end */
    public long value() {
        check();
        return it.words[it.index];
    }

    /** Entries in the snapshot (all of them, not just those left); only before the end. */
    public long snapshotSize() {
        return it.snapshotSize();
    }

    private void check() {
        if (!positioned) {
            throw new java.util.NoSuchElementException("cursor is not on an entry (call next() first)");
        }
    }

    /** Frees the snapshot early. Idempotent. */
    @Override
    public void close() {
        positioned = false;
        it.close();
    }
}
