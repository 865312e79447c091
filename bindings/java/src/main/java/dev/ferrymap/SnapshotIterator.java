package dev.ferrymap;

import java.lang.ref.Reference;

/**
 * An iterator handle (DESIGN §6): exactly the entries the map held when it was made, each
 * once, whatever happens to the map afterwards. Entries come in batches of up to 256 per
 * native call. The handle is freed as soon as the last batch is read (or on close, or by
 * the Cleaner). Not for concurrent use by several threads (like java.util iterators).
 */
final class SnapshotIterator extends NativeResource {
    static final int BATCH = 256;

    final Kind keyKind;
    final Kind valueKind;
    final long[] intKeys;
    final byte[][] bytesKeys;
    final long[] words;
    final byte[][] bytesValues;
    /** Entries in the current batch, and the index of the current one. */
    int count;
    int index = -1;
    private boolean exhausted;

    SnapshotIterator(long handle, Kind keyKind, Kind valueKind) {
        super(handle, Native.ITERATOR, true, null);
        this.keyKind = keyKind;
        this.valueKind = valueKind;
        boolean intKey = keyKind == Kind.INT;
        boolean wordValue = valueKind == Kind.INT || valueKind == Kind.FLOAT;
        this.intKeys = intKey ? new long[BATCH] : null;
        this.bytesKeys = intKey ? null : new byte[BATCH][];
        this.words = wordValue ? new long[BATCH] : null;
        this.bytesValues = wordValue ? null : new byte[BATCH][];
    }

    /** Entries in the snapshot (all of them, not just those left). */
    long snapshotSize() {
        try {
            return Native.iterLen(h());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Whether there is an entry after the current one (fetches the next batch if needed). */
    boolean hasNext() {
        if (index + 1 < count) {
            return true;
        }
        if (exhausted) {
            return false;
        }
        int n;
        try {
            n = Native.iterNext(h(), intKeys, bytesKeys, words, bytesValues);
        } finally {
            Reference.reachabilityFence(this);
        }
        if (n == 0) {
            exhausted = true;
            count = 0;
            index = -1;
            close();
            return false;
        }
        count = n;
        index = -1;
        return true;
    }

    /** Moves to the next entry; false at the end. */
    boolean advance() {
        if (!hasNext()) {
            return false;
        }
        index++;
        return true;
    }
}
