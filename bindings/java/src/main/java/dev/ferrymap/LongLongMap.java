package dev.ferrymap;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ReadOnlyBufferException;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentMap;
import java.util.function.LongUnaryOperator;

/**
 * A ferrymap INT→INT map with primitive {@code long} keys and values: nothing is boxed,
 * and {@link #get(long)}, {@link #put(long, long)}, {@link #containsKey(long)},
 * {@link #remove(long)} and {@link #add(long, long)} allocate nothing, in Java or in the
 * core. A miss is not an exception: {@code get} returns 0 (like fastutil's and Eclipse
 * Collections' primitive maps), {@link #getOrDefault} your default, {@link #find} an
 * empty OptionalLong; only {@link #getOrThrow} throws.
 *
 * <p>Ownership, threads and lifecycle: see {@link AbstractFerryMap}. For code that wants
 * the {@code java.util.Map} interface, {@link #asMap()} is a live boxed view.
 */
public final class LongLongMap extends AbstractFerryMap {
    static final int SCHEMA = Kind.INT.code << 8 | Kind.INT.code;
    private static final String EXPECTED = "INT->INT";

    private LongLongMap(long handle, boolean owned) {
        super(handle, owned, SCHEMA);
    }

    /** A new, empty, owned map. */
    public static LongLongMap create() {
        return create(0);
    }

    /** A new, empty, owned map with room for {@code capacity} entries. */
    public static LongLongMap create(long capacity) {
        if (capacity < 0) {
            throw new IllegalArgumentException("capacity is negative: " + capacity);
        }
        Native.init();
        return new LongLongMap(Native.mapNew(Kind.INT.code, Kind.INT.code, capacity), true);
    }

    /**
     * A new, empty, owned <b>bridge</b> map (DESIGN §7) with a queue of 1024 requests: every
     * operation runs on one owner thread. See {@link AbstractFerryMap} and the README's
     * "Bridge mode".
     */
    public static LongLongMap bridge() {
        return bridge(0, 1024);
    }

    /**
     * A new, empty, owned bridge map with room for {@code capacity} entries and a queue of
     * {@code queueCapacity} requests (1 to 16M; synchronous calls and submissions each
     * take one slot while they wait to run).
     */
    public static LongLongMap bridge(long capacity, int queueCapacity) {
        if (capacity < 0) {
            throw new IllegalArgumentException("capacity is negative: " + capacity);
        }
        Native.init();
        return new LongLongMap(Native.bridgeNew(Kind.INT.code, Kind.INT.code, capacity, queueCapacity), true);
    }

    /**
     * Wraps a handle that someone else owns (another language, or another Java object),
     * without taking ownership: {@link #close()} only forgets it, and the owner frees it.
     *
     * @throws IllegalStateException if the handle is 0, forged, stale or foreign
     * @throws IllegalArgumentException if it is not an INT→INT map
     */
    public static LongLongMap attach(long handle) {
        Native.init();
        schemaOf(handle, s -> s == SCHEMA, EXPECTED, false);
        return new LongLongMap(handle, false);
    }

    /** Wraps a handle and takes ownership of it: closing (or the Cleaner) frees it. */
    public static LongLongMap adopt(long handle) {
        Native.init();
        schemaOf(handle, s -> s == SCHEMA, EXPECTED, false);
        return new LongLongMap(handle, true);
    }

    /** A new owned map from {@link #export()} output (of an INT→INT map, from any language). */
    public static LongLongMap importFrom(byte[] data) {
        Objects.requireNonNull(data, "data");
        Native.init();
        long h = Native.importMap(data);
        schemaOf(h, s -> s == SCHEMA, EXPECTED, true);
        return new LongLongMap(h, true);
    }

    /**
     * An independent owned copy (copy-on-write: O(shards), not O(entries)). The copy of a
     * bridge map is a direct map.
     */
    public LongLongMap copy() {
        return new LongLongMap(cloneHandle(), true);
    }

    @Override
    Codec<?> keyCodec0() {
        return Codec.LONG;
    }

    @Override
    Codec<?> valueCodec0() {
        return Codec.LONG;
    }

    // ---- single operations: no allocation ----

    /** The value of {@code key}, or 0 if it is absent. */
    public long get(long key) {
        try {
            return Native.getLL(h(), key, 0L);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The value of {@code key}, or {@code ifAbsent}. */
    public long getOrDefault(long key, long ifAbsent) {
        try {
            return Native.getLL(h(), key, ifAbsent);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The value of {@code key}. @throws java.util.NoSuchElementException if absent */
    public long getOrThrow(long key) {
        try {
            return Native.getLLOrThrow(h(), key);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The value of {@code key}, or empty. */
    public OptionalLong find(long key) {
        long[] out = new long[1];
        boolean found;
        try {
            found = Native.findWord(h(), key, null, out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return found ? OptionalLong.of(out[0]) : OptionalLong.empty();
    }

    /**
     * Inserts or overwrites. Returns whether an existing value was replaced (the core
     * does not hand back the old value; {@link #asMap()}'s {@code put} does, at the cost
     * of a lookup first).
     */
    public boolean put(long key, long value) {
        try {
            return Native.putLL(h(), key, value);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    public boolean containsKey(long key) {
        try {
            return Native.containsL(h(), key);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Removes {@code key}; returns whether it was present. */
    public boolean remove(long key) {
        try {
            return Native.removeL(h(), key);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Removes {@code key} and returns the value it had, as one atomic step; empty if absent. */
    public OptionalLong take(long key) {
        long[] out = new long[1];
        boolean found;
        try {
            found = Native.takeWord(h(), key, null, out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return found ? OptionalLong.of(out[0]) : OptionalLong.empty();
    }

    /**
     * Inserts only if {@code key} is absent, as one atomic step. Returns whether it
     * inserted (false: the key was present and nothing changed).
     */
    public boolean insertIfAbsent(long key, long value) {
        try {
            return !Native.putIfAbsent(h(), key, null, value, null);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Stores {@code value} for {@code key} only if its value is {@code expected}, as one
     * atomic step. Returns whether it did (an absent key is not stored).
     */
    public boolean compareAndSet(long key, long expected, long value) {
        try {
            return Native.compareAndSwap(h(), key, null, expected, null, value, null) == 1;
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Stores {@code value} for {@code key} and returns the value it replaced, as one
     * atomic step; empty if the key was absent (it is inserted).
     */
    public OptionalLong getAndSet(long key, long value) {
        long[] out = new long[1];
        boolean had;
        try {
            had = Native.swapLL(h(), key, value, out);
        } finally {
            Reference.reachabilityFence(this);
        }
        return had ? OptionalLong.of(out[0]) : OptionalLong.empty();
    }

    /**
     * Adds {@code delta} to the value of {@code key} in one atomic step (an absent key
     * starts at 0) and returns the value before the addition.
     *
     * @throws ArithmeticException on overflow (the value is left unchanged)
     */
    public long getAndAdd(long key, long delta) {
        // The new value less delta is the old one: the addition did not overflow.
        return add(key, delta) - delta;
    }

    /**
     * Inserts {@code value} only if {@code key} is absent, as one atomic step, and
     * returns the value present before (empty: it was inserted). As for
     * {@code ConcurrentMap.putIfAbsent}, if the present value is removed before it can
     * be read, the insert is tried again.
     */
    public OptionalLong putIfAbsent(long key, long value) {
        while (true) {
            if (insertIfAbsent(key, value)) {
                return OptionalLong.empty();
            }
            OptionalLong present = find(key);
            if (present.isPresent()) {
                return present;
            }
        }
    }

    /**
     * Adds {@code delta} to the value of {@code key} in one atomic step (an absent key
     * starts at 0) and returns the new value.
     *
     * @throws ArithmeticException on overflow (the value is left unchanged)
     */
    public long add(long key, long delta) {
        try {
            return Native.addLL(h(), key, delta);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Replaces the value of {@code key} with {@code fn(value)} as one atomic step: the
     * function runs on this thread under the key's shard lock (other writers to that
     * shard wait, readers do not), so keep it short and do not wait in it for other
     * threads. If it throws, the value is unchanged and the exception propagates. A call
     * from it into this same map throws IllegalStateException (it cannot deadlock).
     *
     * <p>On a bridge map the function runs on the bridge's owner thread (attached to the
     * JVM as the daemon thread {@code ferrymap-bridge}) while this thread waits; an
     * exception it throws is rethrown here. This thread keeps the monitors it holds while
     * it waits: a function that needs one of them deadlocks, as with any executor.
     *
     * @throws java.util.NoSuchElementException if the key is absent
     */
    public void update(long key, LongUnaryOperator fn) {
        Objects.requireNonNull(fn, "fn");
        try {
            Native.update(h(), key, null, updateCallback(fn));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    // ---- bridge mode: asynchronous calls and the change feed ----

    /**
     * Looks {@code key} up on the owner thread without waiting: the future completes with
     * the value, or empty if absent. Bridge maps only (see {@link #submitAsync(Request...)}
     * for ordering, backpressure and completion).
     */
    public CompletableFuture<OptionalLong> getAsync(long key) {
        return submitOne(Op.GET, key, null, 0, null, (found, w, b) -> found ? OptionalLong.of(w) : OptionalLong.empty());
    }

    /** {@link #put} without waiting: completes with whether a value was replaced. */
    public CompletableFuture<Boolean> putAsync(long key, long value) {
        return submitOne(Op.INSERT, key, null, value, null, (flag, w, b) -> flag);
    }

    /** {@link #remove} without waiting: completes with whether the key was present. */
    public CompletableFuture<Boolean> removeAsync(long key) {
        return submitOne(Op.REMOVE, key, null, 0, null, (flag, w, b) -> flag);
    }

    /** {@link #containsKey} without waiting. */
    public CompletableFuture<Boolean> containsKeyAsync(long key) {
        return submitOne(Op.CONTAINS, key, null, 0, null, (flag, w, b) -> flag);
    }

    /** {@link #add} without waiting: completes with the new value (ArithmeticException on overflow). */
    public CompletableFuture<Long> addAsync(long key, long delta) {
        return submitOne(Op.ADD, key, null, delta, null, (flag, w, b) -> w);
    }

    /**
     * Subscribes to this bridge map's change feed, keeping up to {@code bound} unread
     * events (see {@link Subscription}).
     */
    public Subscription<Long, Long> subscribe(int bound) {
        return subscribe0(bound, Codec.LONG, Codec.LONG);
    }

    // ---- batches: one native call for many keys ----

    /** Puts {@code keys[i] -> values[i]} for every i; returns how many replaced a value. */
    public int putAll(long[] keys, long[] values) {
        Objects.requireNonNull(keys, "keys");
        Objects.requireNonNull(values, "values");
        sameLength(keys.length, values.length);
        try {
            return Native.putAllLL(h(), keys, values, 0, keys.length);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Looks every key up: {@code values[i]} gets the value of {@code keys[i]} or 0 if it is
     * absent, and {@code found[i]} (if {@code found} is not null) whether it was present.
     * Returns the number found.
     */
    public int getAll(long[] keys, long[] values, boolean[] found) {
        Objects.requireNonNull(keys, "keys");
        Objects.requireNonNull(values, "values");
        sameLength(keys.length, values.length);
        if (found != null) {
            sameLength(keys.length, found.length);
        }
        try {
            return Native.getAllLL(h(), keys, values, found, 0, keys.length, 0L);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Removes every key; returns how many were present. */
    public int removeAll(long[] keys) {
        Objects.requireNonNull(keys, "keys");
        try {
            return Native.removeAllL(h(), keys, 0, keys.length);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Puts the remaining longs of {@code keys} and {@code values} pairwise. Both must be
     * direct buffers in native byte order with the same number of longs remaining;
     * positions are not changed. Returns how many replaced a value.
     */
    public int putAll(ByteBuffer keys, ByteBuffer values) {
        int n = longs(keys, "keys");
        sameLength(n, longs(values, "values"));
        try {
            return Native.putAllDirect(h(), keys, keys.position(), values, values.position(), n);
        } finally {
            Reference.reachabilityFence(this);
            Reference.reachabilityFence(keys);
            Reference.reachabilityFence(values);
        }
    }

    /**
     * Looks up the remaining longs of {@code keys} (direct, native order) and writes each
     * value (0 if absent) to {@code values} (direct, native order, as many longs
     * remaining) and, if {@code found} is not null, one byte per key to {@code found}
     * (direct; 1 if present, 0 if not). Positions are not changed. Returns the number found.
     */
    public int getAll(ByteBuffer keys, ByteBuffer values, ByteBuffer found) {
        int n = longs(keys, "keys");
        sameLength(n, longs(values, "values"));
        if (values.isReadOnly()) {
            throw new ReadOnlyBufferException();
        }
        if (found != null) {
            direct(found, "found");
            if (found.isReadOnly()) {
                throw new ReadOnlyBufferException();
            }
            sameLength(n, found.remaining());
        }
        try {
            return Native.getAllDirect(h(), keys, keys.position(), values, values.position(),
                    found, found == null ? 0 : found.position(), n, 0L);
        } finally {
            Reference.reachabilityFence(this);
            Reference.reachabilityFence(keys);
            Reference.reachabilityFence(values);
            Reference.reachabilityFence(found);
        }
    }

    /** Removes the remaining longs of {@code keys} (direct, native order); returns how many were present. */
    public int removeAll(ByteBuffer keys) {
        int n = longs(keys, "keys");
        try {
            return Native.removeAllDirect(h(), keys, keys.position(), n);
        } finally {
            Reference.reachabilityFence(this);
            Reference.reachabilityFence(keys);
        }
    }

    private static void direct(ByteBuffer b, String what) {
        Objects.requireNonNull(b, what);
        if (!b.isDirect()) {
            throw new IllegalArgumentException(what + " must be a direct ByteBuffer");
        }
    }

    private static int longs(ByteBuffer b, String what) {
        direct(b, what);
        if (b.order() != ByteOrder.nativeOrder()) {
            throw new IllegalArgumentException(what + " must be in native byte order (ByteOrder.nativeOrder())");
        }
        if (b.remaining() % Long.BYTES != 0) {
            throw new IllegalArgumentException(what + ": " + b.remaining() + " bytes remaining is not a whole number of longs");
        }
        return b.remaining() / Long.BYTES;
    }

    private static void sameLength(int a, int b) {
        if (a != b) {
            throw new IllegalArgumentException("lengths differ: " + a + " and " + b);
        }
    }

    // ---- iteration ----

    /** A primitive cursor over a snapshot of the map (DESIGN §6). Close it, or read to the end. */
    public LongLongCursor cursor() {
        return new LongLongCursor(snapshot());
    }

    /** Calls {@code action} for every entry of a snapshot of the map, without boxing. */
    public void forEach(LongLongConsumer action) {
        Objects.requireNonNull(action, "action");
        try (LongLongCursor c = cursor()) {
            while (c.next()) {
                action.accept(c.key(), c.value());
            }
        }
    }

    /**
     * A live {@code java.util.Map<Long, Long>} view of this map (boxing). Its iterators are
     * snapshots (never ConcurrentModificationException). {@code remove} is atomic and
     * returns the value it removed; {@code put} returns the previous value found by a
     * lookup just before the write (each step atomic, the pair not). Null keys and
     * values are rejected (NullPointerException).
     */
    public ConcurrentMap<Long, Long> asMap() {
        return new MapView<>(this, Codec.LONG, Codec.LONG);
    }
}
