package dev.ferrymap;

import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentMap;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;

/**
 * A ferrymap map of any schema, typed by two {@link Codec}s: keys {@code Long},
 * {@code String} or {@code byte[]}; values {@code Long}, {@code Double}, {@code String} or
 * {@code byte[]}. Strings cross as exact UTF-8 (an embedded NUL, an emoji or the empty
 * string reads back identically in C, Python and Go); {@code byte[]} keys compare by
 * content. For primitive long→long use {@link LongLongMap}, which never boxes.
 *
 * <pre>{@code
 * try (FerryMap<String, String> m = FerryMap.create(Codec.STRING, Codec.STRING)) {
 *     m.put("ferry", "boat");
 *     String v = m.get("ferry");          // null if absent
 *     Map<String, String> view = m.asMap();
 * }
 * }</pre>
 *
 * <p>Ownership, threads and lifecycle: see {@link AbstractFerryMap}. Null keys and
 * values are rejected with NullPointerException.
 *
 * @param <K> key type
 * @param <V> value type
 */
public final class FerryMap<K, V> extends AbstractFerryMap {
    private final Codec<K> keys;
    private final Codec<V> values;

    private FerryMap(long handle, boolean owned, int schema, Codec<K> keys, Codec<V> values) {
        super(handle, owned, schema);
        this.keys = keys;
        this.values = values;
    }

    private static int check(long handle, Codec<?> keys, Codec<?> values, boolean freeOnMismatch) {
        Objects.requireNonNull(keys, "key codec");
        Objects.requireNonNull(values, "value codec");
        return schemaOf(handle, s -> keys.accepts(Kind.of(s >> 8)) && values.accepts(Kind.of(s & 0xff)),
                keys.kind() + "->" + values.kind(), freeOnMismatch);
    }

    /** A new, empty, owned map whose key and value kinds are those of the codecs. */
    public static <K, V> FerryMap<K, V> create(Codec<K> keys, Codec<V> values) {
        return create(keys, values, 0);
    }

    /** As {@link #create(Codec, Codec)}, with room for {@code capacity} entries. */
    public static <K, V> FerryMap<K, V> create(Codec<K> keys, Codec<V> values, long capacity) {
        Objects.requireNonNull(keys, "key codec");
        Objects.requireNonNull(values, "value codec");
        if (capacity < 0) {
            throw new IllegalArgumentException("capacity is negative: " + capacity);
        }
        Native.init();
        long h = Native.mapNew(keys.kind().code, values.kind().code, capacity);
        return new FerryMap<>(h, true, check(h, keys, values, true), keys, values);
    }

    /**
     * A new, empty, owned <b>bridge</b> map (DESIGN §7) with a queue of 1024 requests: every
     * operation runs on one owner thread. See {@link AbstractFerryMap} and the README's
     * "Bridge mode".
     */
    public static <K, V> FerryMap<K, V> bridge(Codec<K> keys, Codec<V> values) {
        return bridge(keys, values, 0, 1024);
    }

    /**
     * As {@link #bridge(Codec, Codec)}, with room for {@code capacity} entries and a queue of
     * {@code queueCapacity} requests (1 to 16M).
     */
    public static <K, V> FerryMap<K, V> bridge(Codec<K> keys, Codec<V> values, long capacity, int queueCapacity) {
        Objects.requireNonNull(keys, "key codec");
        Objects.requireNonNull(values, "value codec");
        if (capacity < 0) {
            throw new IllegalArgumentException("capacity is negative: " + capacity);
        }
        Native.init();
        long h = Native.bridgeNew(keys.kind().code, values.kind().code, capacity, queueCapacity);
        return new FerryMap<>(h, true, check(h, keys, values, true), keys, values);
    }

    /**
     * Wraps a handle someone else owns, without taking ownership ({@link #close()} only
     * forgets it).
     *
     * @throws IllegalStateException if the handle is 0, forged, stale or foreign
     * @throws IllegalArgumentException if it is not a map these codecs can read
     */
    public static <K, V> FerryMap<K, V> attach(long handle, Codec<K> keys, Codec<V> values) {
        Native.init();
        return new FerryMap<>(handle, false, check(handle, keys, values, false), keys, values);
    }

    /** Wraps a handle and takes ownership of it: closing (or the Cleaner) frees it. */
    public static <K, V> FerryMap<K, V> adopt(long handle, Codec<K> keys, Codec<V> values) {
        Native.init();
        return new FerryMap<>(handle, true, check(handle, keys, values, false), keys, values);
    }

    /**
     * A new owned map from {@link #export()} output (from any language). The data is
     * treated as untrusted.
     *
     * @throws IllegalArgumentException if it is corrupt, of an unknown version, or of a
     *     schema these codecs cannot read
     */
    public static <K, V> FerryMap<K, V> importFrom(byte[] data, Codec<K> keys, Codec<V> values) {
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(keys, "key codec");
        Objects.requireNonNull(values, "value codec");
        Native.init();
        long h = Native.importMap(data);
        return new FerryMap<>(h, true, check(h, keys, values, true), keys, values);
    }

    public Codec<K> keyCodec() {
        return keys;
    }

    public Codec<V> valueCodec() {
        return values;
    }

    @Override
    Codec<?> keyCodec0() {
        return keys;
    }

    @Override
    Codec<?> valueCodec0() {
        return values;
    }

    /**
     * An independent owned copy (copy-on-write: O(shards), not O(entries)). The copy of a
     * bridge map is a direct map.
     */
    public FerryMap<K, V> copy() {
        long h = cloneHandle();
        return new FerryMap<>(h, true, check(h, keys, values, true), keys, values);
    }

    /** The value of {@code key}, or null if it is absent. */
    public V get(K key) {
        return GenericOps.get(this, keys, values, key);
    }

    /** The value of {@code key}, or {@code ifAbsent}. */
    public V getOrDefault(K key, V ifAbsent) {
        V v = get(key);
        return v == null ? ifAbsent : v;
    }

    /** Inserts or overwrites; returns whether an existing value was replaced. */
    public boolean put(K key, V value) {
        return GenericOps.put(this, keys, values, key, value);
    }

    public boolean containsKey(K key) {
        return GenericOps.containsKey(this, keys, key);
    }

    /** Removes {@code key}; returns whether it was present. */
    public boolean remove(K key) {
        return GenericOps.remove(this, keys, key);
    }

    /** Removes {@code key} and returns the value it had, as one atomic step; null if absent. */
    public V take(K key) {
        return GenericOps.take(this, keys, values, key);
    }

    /**
     * Inserts only if {@code key} is absent, as one atomic step. Returns whether it
     * inserted (false: the key was present and nothing changed).
     */
    public boolean insertIfAbsent(K key, V value) {
        return !GenericOps.putIfAbsent(this, keys, values, key, value);
    }

    /**
     * Adds to an INT value in one atomic step (an absent key starts at 0); returns the new
     * value.
     *
     * @throws IllegalArgumentException if the values are not INT
     * @throws ArithmeticException on overflow (value unchanged)
     */
    public long add(K key, long delta) {
        requireValues(Kind.INT);
        return GenericOps.addWord(this, keys, key, delta);
    }

    /** Adds to a FLOAT value in one atomic step (an absent key starts at 0.0); returns the new value. */
    public double add(K key, double delta) {
        requireValues(Kind.FLOAT);
        return Double.longBitsToDouble(GenericOps.addWord(this, keys, key, Double.doubleToRawLongBits(delta)));
    }

    private void requireValues(Kind kind) {
        if (valueKind() != kind) {
            throw new IllegalArgumentException("map values are " + valueKind() + ", not " + kind);
        }
    }

    /**
     * Replaces the value of {@code key} with {@code fn(value)} as one atomic step, under
     * the key's shard lock (see {@link LongLongMap#update}). For STR/BYTES values the new
     * value must have the same length in bytes as the old (the core updates in place);
     * otherwise IllegalArgumentException and the value is unchanged. An exception from
     * {@code fn} leaves the value unchanged and propagates; a call from {@code fn} into
     * this map throws IllegalStateException. On a bridge map {@code fn} runs on the owner
     * thread while this thread waits (see {@link LongLongMap#update}).
     *
     * @throws java.util.NoSuchElementException if the key is absent
     */
    public void update(K key, UnaryOperator<V> fn) {
        GenericOps.update(this, keys, values, key, fn);
    }

    /**
     * Changes a STR/BYTES value in place: {@code fn} gets a copy of the stored bytes and
     * may change them (not the length); what it leaves is stored as one atomic step. A
     * changed STR value must still be valid UTF-8 (else IllegalArgumentException, value
     * unchanged).
     */
    public void updateBytes(K key, Consumer<byte[]> fn) {
        Objects.requireNonNull(fn, "fn");
        if (values.isWord()) {
            throw new IllegalArgumentException("map values are " + valueKind() + ", not STR/BYTES");
        }
        GenericOps.updateRaw(this, keys, key, fn);
    }

    /**
     * A zero-copy view of the STR/BYTES value of {@code key}, or null if absent. Close it
     * when done (see {@link ValueView} for the lifetime rules).
     */
    public ValueView view(K key) {
        return GenericOps.view(this, keys, key);
    }

    // ---- bridge mode: asynchronous calls and the change feed ----

    /**
     * Looks {@code key} up on the owner thread without waiting: the future completes with
     * the value, or null if absent. Bridge maps only (see {@link #submitAsync(Request...)}).
     */
    public CompletableFuture<V> getAsync(K key) {
        long ik = GenericOps.intKey(keys, key);
        byte[] bk = GenericOps.bytesKey(keys, key);
        return submitOne(Op.GET, ik, bk, 0, null,
                (found, w, b) -> !found ? null : values.isWord() ? values.fromWord(w) : values.fromBytes(b));
    }

    /** {@link #put} without waiting: completes with whether a value was replaced. */
    public CompletableFuture<Boolean> putAsync(K key, V value) {
        long ik = GenericOps.intKey(keys, key);
        byte[] bk = GenericOps.bytesKey(keys, key);
        Objects.requireNonNull(value, "value");
        long word = values.isWord() ? values.toWord(value) : 0L;
        byte[] vb = values.isWord() ? null : values.toBytes(value, "value");
        return submitOne(Op.INSERT, ik, bk, word, vb, (flag, w, b) -> flag);
    }

    /** {@link #remove} without waiting: completes with whether the key was present. */
    public CompletableFuture<Boolean> removeAsync(K key) {
        return submitOne(Op.REMOVE, GenericOps.intKey(keys, key), GenericOps.bytesKey(keys, key), 0, null,
                (flag, w, b) -> flag);
    }

    /** {@link #containsKey} without waiting. */
    public CompletableFuture<Boolean> containsKeyAsync(K key) {
        return submitOne(Op.CONTAINS, GenericOps.intKey(keys, key), GenericOps.bytesKey(keys, key), 0, null,
                (flag, w, b) -> flag);
    }

    /** {@link #add(Object, long)} without waiting: completes with the new value. */
    public CompletableFuture<Long> addAsync(K key, long delta) {
        requireValues(Kind.INT);
        return submitOne(Op.ADD, GenericOps.intKey(keys, key), GenericOps.bytesKey(keys, key), delta, null,
                (flag, w, b) -> w);
    }

    /** {@link #add(Object, double)} without waiting: completes with the new value. */
    public CompletableFuture<Double> addAsync(K key, double delta) {
        requireValues(Kind.FLOAT);
        return submitOne(Op.ADD, GenericOps.intKey(keys, key), GenericOps.bytesKey(keys, key),
                Double.doubleToRawLongBits(delta), null, (flag, w, b) -> Double.longBitsToDouble(w));
    }

    /**
     * Subscribes to this bridge map's change feed, keeping up to {@code bound} unread
     * events (see {@link Subscription}).
     */
    public Subscription<K, V> subscribe(int bound) {
        return subscribe0(bound, keys, values);
    }

    /** An iterator over a snapshot of the map (DESIGN §6). Read it to the end or close it. */
    public CloseableIterator<Map.Entry<K, V>> iterator() {
        return GenericOps.entries(this, keys, values);
    }

    /** Calls {@code action} for every entry of a snapshot of the map. */
    public void forEach(BiConsumer<? super K, ? super V> action) {
        Objects.requireNonNull(action, "action");
        try (CloseableIterator<Map.Entry<K, V>> it = iterator()) {
            while (it.hasNext()) {
                Map.Entry<K, V> e = it.next();
                action.accept(e.getKey(), e.getValue());
            }
        }
    }

    /**
     * A live {@code java.util.concurrent.ConcurrentMap} view. Iterators are snapshots
     * (never ConcurrentModificationException). Every single-key method is atomic against
     * every thread and language using the map: {@code putIfAbsent}, {@code remove(key,
     * value)} and {@code replace(key, old, new)} are one step of the library; {@code put},
     * {@code remove}, {@code replace(key, value)}, {@code compute}, {@code merge} and the
     * other ConcurrentMap defaults are built on them (a function may run more than once).
     * Values compare by their bits (numbers) or content (strings, byte arrays).
     */
    public ConcurrentMap<K, V> asMap() {
        return new MapView<>(this, keys, values);
    }
}
