package dev.ferrymap;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentMap;
import java.util.function.BiConsumer;

/**
 * A live {@code java.util.concurrent.ConcurrentMap} view of a ferrymap map. It holds the
 * map object, so a view in use keeps an owned map from being cleaned. Entry iterators are
 * snapshots; an iterator dropped half-way is freed by a Cleaner.
 *
 * <p>{@code putIfAbsent}, {@code remove(key, value)} and {@code replace(key, old, new)} are
 * single atomic steps of the library, against every thread and language using the map;
 * {@code put}, {@code replace(key, value)} and ConcurrentMap's defaults built on them
 * ({@code compute}, {@code computeIfAbsent}, {@code computeIfPresent}, {@code merge},
 * {@code replaceAll}) retry those steps, so each is atomic too (a function may be called
 * more than once). Values compare as the library compares them: numbers by their bits
 * (doubles: NaN equals the same NaN, 0.0 is not -0.0), strings and byte arrays by content.
 */
final class MapView<K, V> extends AbstractMap<K, V> implements ConcurrentMap<K, V> {
    private final AbstractFerryMap map;
    private final Codec<K> keys;
    private final Codec<V> values;

    MapView(AbstractFerryMap map, Codec<K> keys, Codec<V> values) {
        this.map = map;
        this.keys = keys;
        this.values = values;
    }

    private K key(Object k) {
        Objects.requireNonNull(k, "key");
        return keys.type.isInstance(k) ? keys.type.cast(k) : null;
    }

    @Override
    public int size() {
        return (int) Math.min(map.size(), Integer.MAX_VALUE);
    }

    @Override
    public boolean isEmpty() {
        return map.size() == 0;
    }

    @Override
    public boolean containsKey(Object k) {
        K key = key(k);
        return key != null && GenericOps.containsKey(map, keys, key);
    }

    @Override
    public V get(Object k) {
        K key = key(k);
        return key == null ? null : GenericOps.get(map, keys, values, key);
    }

    /** Atomic: the value returned is the one replaced (a retry of the atomic steps). */
    @Override
    public V put(K key, V value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        while (true) {
            V old = GenericOps.get(map, keys, values, key);
            if (old == null) {
                if (!GenericOps.putIfAbsent(map, keys, values, key, value)) {
                    return null;
                }
            } else if (GenericOps.compareAndSwap(map, keys, values, key, old, value) == 1) {
                return old;
            }
        }
    }

    /** Atomic: the value returned is the one removed. */
    @Override
    public V remove(Object k) {
        K key = key(k);
        return key == null ? null : GenericOps.take(map, keys, values, key);
    }

    /**
     * Atomic: null means the value was inserted; otherwise the value present (if that
     * value is removed before it can be read, the insert is tried again).
     */
    @Override
    public V putIfAbsent(K key, V value) {
        Objects.requireNonNull(key, "key");
        while (true) {
            if (!GenericOps.putIfAbsent(map, keys, values, key, value)) {
                return null;
            }
            V present = GenericOps.get(map, keys, values, key);
            if (present != null) {
                return present;
            }
        }
    }

    @Override
    public boolean remove(Object k, Object v) {
        K key = key(k);
        if (key == null || v == null || !values.type.isInstance(v)) {
            return false;
        }
        return GenericOps.removeIfEqual(map, keys, values, key, values.type.cast(v)) == 1;
    }

    @Override
    public boolean replace(K key, V oldValue, V newValue) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(oldValue, "oldValue");
        return GenericOps.compareAndSwap(map, keys, values, key, oldValue, newValue) == 1;
    }

    /** Atomic: replaces only a present value and returns it (null: absent, nothing stored). */
    @Override
    public V replace(K key, V value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        while (true) {
            V old = GenericOps.get(map, keys, values, key);
            if (old == null) {
                return null;
            }
            int r = GenericOps.compareAndSwap(map, keys, values, key, old, value);
            if (r == 1) {
                return old;
            }
            if (r == -1) {
                return null;
            }
        }
    }

    @Override
    public void clear() {
        map.clear();
    }

    @Override
    public void forEach(BiConsumer<? super K, ? super V> action) {
        Objects.requireNonNull(action, "action");
        try (CloseableIterator<Map.Entry<K, V>> it = GenericOps.entries(map, keys, values)) {
            while (it.hasNext()) {
                Map.Entry<K, V> e = it.next();
                action.accept(e.getKey(), e.getValue());
            }
        }
    }

    /** Null is never a value: asking for it is an error, as in ConcurrentHashMap. */
    @Override
    public boolean containsValue(Object value) {
        Objects.requireNonNull(value, "value");
        return super.containsValue(value);
    }

    /**
     * The entries of a snapshot, written through: {@code Iterator.remove} removes the
     * key, {@code Entry.setValue} stores the value (both as ConcurrentHashMap's do), and
     * the set's {@code remove}, {@code removeAll}, {@code retainAll} and
     * {@code removeIf} go through them or through {@code remove(key, value)}.
     */
    @Override
    public Set<Map.Entry<K, V>> entrySet() {
        return new AbstractSet<>() {
            @Override
            public Iterator<Map.Entry<K, V>> iterator() {
                return new EntryIterator();
            }

            @Override
            public int size() {
                return MapView.this.size();
            }

            @Override
            public boolean contains(Object o) {
                if (!(o instanceof Map.Entry<?, ?> e) || e.getKey() == null || e.getValue() == null) {
                    return false;
                }
                V v = get(e.getKey());
                return v != null && (v instanceof byte[] b && e.getValue() instanceof byte[] c
                        ? java.util.Arrays.equals(b, c) : v.equals(e.getValue()));
            }

            @Override
            public boolean remove(Object o) {
                return o instanceof Map.Entry<?, ?> e && e.getKey() != null && e.getValue() != null
                        && MapView.this.remove(e.getKey(), e.getValue());
            }

            @Override
            public void clear() {
                map.clear();
            }
        };
    }

    /** The keys of a snapshot; {@code remove} and {@code Iterator.remove} remove the key. */
    @Override
    public Set<K> keySet() {
        return new AbstractSet<>() {
            @Override
            public Iterator<K> iterator() {
                EntryIterator it = new EntryIterator();
                return new Iterator<>() {
                    @Override
                    public boolean hasNext() {
                        return it.hasNext();
                    }

                    @Override
                    public K next() {
                        return it.next().getKey();
                    }

                    @Override
                    public void remove() {
                        it.remove();
                    }
                };
            }

            @Override
            public int size() {
                return MapView.this.size();
            }

            @Override
            public boolean contains(Object k) {
                return containsKey(k);
            }

            @Override
            public boolean remove(Object k) {
                return MapView.this.remove(k) != null;
            }

            @Override
            public void clear() {
                map.clear();
            }
        };
    }

    /** Walks a snapshot; removes and value writes go to the live map. */
    private final class EntryIterator implements Iterator<Map.Entry<K, V>> {
        private final Iterator<Map.Entry<K, V>> snapshot = GenericOps.entries(map, keys, values);
        private K last;

        @Override
        public boolean hasNext() {
            return snapshot.hasNext();
        }

        @Override
        public Map.Entry<K, V> next() {
            Map.Entry<K, V> e = snapshot.next();
            last = e.getKey();
            return new WriteThroughEntry(e.getKey(), e.getValue());
        }

        @Override
        public void remove() {
            if (last == null) {
                throw new IllegalStateException("next() has not been called, or remove() already was");
            }
            MapView.this.remove(last);
            last = null;
        }
    }

    /** An entry whose setValue stores the value in the map (and in the entry). */
    private final class WriteThroughEntry extends AbstractMap.SimpleEntry<K, V> {
        WriteThroughEntry(K key, V value) {
            super(key, value);
        }

        @Override
        public V setValue(V value) {
            Objects.requireNonNull(value, "value");
            V old = super.setValue(value);
            put(getKey(), value);
            return old;
        }
    }
}
