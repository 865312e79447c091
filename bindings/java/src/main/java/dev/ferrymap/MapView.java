package dev.ferrymap;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * A live {@code java.util.Map} view of a ferrymap map. It holds the map object, so a
 * view in use keeps an owned map from being cleaned. Entry iterators are snapshots; an
 * iterator dropped half-way is freed by a Cleaner.
 */
final class MapView<K, V> extends AbstractMap<K, V> {
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

    @Override
    public V put(K key, V value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        V old = GenericOps.get(map, keys, values, key);
        GenericOps.put(map, keys, values, key, value);
        return old;
    }

    /** Atomic: the value returned is the one removed. */
    @Override
    public V remove(Object k) {
        K key = key(k);
        return key == null ? null : GenericOps.take(map, keys, values, key);
    }

    /** The insert is atomic; the value returned for a present key is read just after. */
    @Override
    public V putIfAbsent(K key, V value) {
        Objects.requireNonNull(key, "key");
        if (!GenericOps.putIfAbsent(map, keys, values, key, value)) {
            return null;
        }
        return GenericOps.get(map, keys, values, key);
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

    @Override
    public Set<Map.Entry<K, V>> entrySet() {
        return new AbstractSet<>() {
            @Override
            public Iterator<Map.Entry<K, V>> iterator() {
                return GenericOps.entries(map, keys, values);
            }

            @Override
            public int size() {
                return MapView.this.size();
            }

            @Override
            public void clear() {
                map.clear();
            }
        };
    }
}
