package dev.ferrymap;

import java.lang.ref.Reference;

/**
 * What every ferrymap map has, whatever its key and value types: a handle, a fixed
 * schema, size, clear, reserve, stats and export.
 *
 * <p><b>Ownership.</b> A map made by {@code create}, {@code copy}, {@code importFrom} or
 * {@code adopt} is owned: {@link #close()} frees it, and if nobody closes it, a
 * {@link java.lang.ref.Cleaner} frees it once it is unreachable. A map made by
 * {@code attach} borrows a handle another language (or another Java object) owns:
 * closing it only forgets the handle. {@link #handle()} lends the handle to another
 * language without giving up ownership; {@link #detach()} gives it up.
 *
 * <p><b>Threads.</b> Every method may be called from any thread at the same time.
 * Operations on one key are linearizable; {@link #size()} is exact at some instant. Using
 * a map after {@code close()}, or a handle another language freed, throws
 * IllegalStateException and never crashes the JVM.
 */
public abstract class AbstractFerryMap extends NativeResource {
    private final Kind keyKind;
    private final Kind valueKind;

    AbstractFerryMap(long handle, boolean owned, int schema) {
        super(handle, Native.MAP, owned, null);
        this.keyKind = Kind.of(schema >> 8);
        this.valueKind = Kind.of(schema & 0xff);
    }

    /**
     * Reads the schema of a handle about to be wrapped and checks it. A handle made here
     * ({@code freeOnMismatch}) is freed if it does not fit; a handle passed in by the
     * caller is left alone.
     *
     * @throws IllegalStateException if the handle is 0, forged, stale or from another copy
     *     of the library
     * @throws IllegalArgumentException if it names something else than a map, or a map
     *     whose schema {@code fits} rejects
     */
    static int schemaOf(long handle, java.util.function.IntPredicate fits, String expected, boolean freeOnMismatch) {
        int schema = Native.mapSchema(handle);
        if (!fits.test(schema)) {
            if (freeOnMismatch) {
                Native.free(handle, Native.MAP);
            }
            throw new IllegalArgumentException("map is " + Kind.of(schema >> 8) + "->" + Kind.of(schema & 0xff)
                    + ", expected " + expected);
        }
        return schema;
    }

    public final Kind keyKind() {
        return keyKind;
    }

    public final Kind valueKind() {
        return valueKind;
    }

    /** Number of entries. */
    public final long size() {
        try {
            return Native.mapLen(h());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    public final boolean isEmpty() {
        return size() == 0;
    }

    /** Removes every entry, at one instant. Open iterators keep their snapshot. */
    public final void clear() {
        try {
            Native.mapClear(h());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Makes room for {@code additional} more entries without further growth. */
    public final void reserve(long additional) {
        if (additional < 0) {
            throw new IllegalArgumentException("additional is negative: " + additional);
        }
        try {
            Native.mapReserve(h(), additional);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    public final MapStats stats() {
        long[] f = new long[6];
        try {
            Native.mapStats(h(), f);
        } finally {
            Reference.reachabilityFence(this);
        }
        return MapStats.of(f);
    }

    /**
     * A versioned, checksummed binary snapshot of the map, readable by {@code importFrom}
     * in any language ({@code fm_import}). Writers are not blocked while it is made.
     */
    public final byte[] export() {
        try {
            return Native.export(h());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** A new owned handle with the same contents (copy-on-write: O(shards)). */
    final long cloneHandle() {
        try {
            return Native.mapClone(h());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** A new owned iterator over a snapshot of this map. */
    final SnapshotIterator snapshot() {
        long it;
        try {
            it = Native.iterNew(h());
        } finally {
            Reference.reachabilityFence(this);
        }
        return new SnapshotIterator(it, keyKind, valueKind);
    }

    @Override
    public String toString() {
        if (isClosed()) {
            return getClass().getSimpleName() + "[closed]";
        }
        return getClass().getSimpleName() + "[" + keyKind + "->" + valueKind + ", handle=0x"
                + Long.toHexString(handle()) + (isOwner() ? "" : ", borrowed") + "]";
    }
}
