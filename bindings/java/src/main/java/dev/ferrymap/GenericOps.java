package dev.ferrymap;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.util.AbstractMap;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.DoubleUnaryOperator;
import java.util.function.LongUnaryOperator;
import java.util.function.UnaryOperator;

/**
 * The operations of any schema, shared by {@link FerryMap} and the {@code java.util.Map}
 * views. A key crosses as {@code (long, null)} for INT keys or {@code (0, byte[])} for
 * STR/BYTES keys; a value as {@code (word, null)} or {@code (0, byte[])}.
 */
final class GenericOps {
    private GenericOps() {}

    static <K> long intKey(Codec<K> kc, K key) {
        Objects.requireNonNull(key, "key");
        return kc.isWord() ? kc.toWord(key) : 0L;
    }

    static <K> byte[] bytesKey(Codec<K> kc, K key) {
        return kc.isWord() ? null : kc.toBytes(key, "key");
    }

    static <K, V> V get(AbstractFerryMap m, Codec<K> kc, Codec<V> vc, K key) {
        long ik = intKey(kc, key);
        byte[] bk = bytesKey(kc, key);
        try {
            if (vc.isWord()) {
                long[] out = new long[1];
                return Native.findWord(m.h(), ik, bk, out) ? vc.fromWord(out[0]) : null;
            }
            byte[] b = Native.getBytes(m.h(), ik, bk);
            return b == null ? null : vc.fromBytes(b);
        } finally {
            Reference.reachabilityFence(m);
        }
    }

    static <K, V> boolean put(AbstractFerryMap m, Codec<K> kc, Codec<V> vc, K key, V value) {
        long ik = intKey(kc, key);
        byte[] bk = bytesKey(kc, key);
        Objects.requireNonNull(value, "value");
        long word = vc.isWord() ? vc.toWord(value) : 0L;
        byte[] bytes = vc.isWord() ? null : vc.toBytes(value, "value");
        try {
            return Native.put(m.h(), ik, bk, word, bytes);
        } finally {
            Reference.reachabilityFence(m);
        }
    }

    static <K> boolean containsKey(AbstractFerryMap m, Codec<K> kc, K key) {
        long ik = intKey(kc, key);
        byte[] bk = bytesKey(kc, key);
        try {
            return Native.contains(m.h(), ik, bk);
        } finally {
            Reference.reachabilityFence(m);
        }
    }

    static <K> boolean remove(AbstractFerryMap m, Codec<K> kc, K key) {
        long ik = intKey(kc, key);
        byte[] bk = bytesKey(kc, key);
        try {
            return Native.remove(m.h(), ik, bk);
        } finally {
            Reference.reachabilityFence(m);
        }
    }

    /** Inserts only if absent; returns whether the key was already present (nothing changed then). */
    static <K, V> boolean putIfAbsent(AbstractFerryMap m, Codec<K> kc, Codec<V> vc, K key, V value) {
        long ik = intKey(kc, key);
        byte[] bk = bytesKey(kc, key);
        Objects.requireNonNull(value, "value");
        long word = vc.isWord() ? vc.toWord(value) : 0L;
        byte[] bytes = vc.isWord() ? null : vc.toBytes(value, "value");
        try {
            return Native.putIfAbsent(m.h(), ik, bk, word, bytes);
        } finally {
            Reference.reachabilityFence(m);
        }
    }

    /**
     * Stores {@code value} only if the key's value equals {@code expected} (numbers by
     * their bits, strings and byte arrays by content), as one atomic step: 1 if it did,
     * 0 if the value differs, -1 if the key is absent (nothing is inserted).
     */
    static <K, V> int compareAndSwap(AbstractFerryMap m, Codec<K> kc, Codec<V> vc, K key, V expected, V value) {
        long ik = intKey(kc, key);
        byte[] bk = bytesKey(kc, key);
        Objects.requireNonNull(expected, "expected");
        Objects.requireNonNull(value, "value");
        boolean w = vc.isWord();
        try {
            return Native.compareAndSwap(m.h(), ik, bk, w ? vc.toWord(expected) : 0L,
                    w ? null : vc.toBytes(expected, "expected"), w ? vc.toWord(value) : 0L,
                    w ? null : vc.toBytes(value, "value"));
        } finally {
            Reference.reachabilityFence(m);
        }
    }

    /** Removes the key only if its value equals {@code expected}: 1 removed, 0 differs, -1 absent. */
    static <K, V> int removeIfEqual(AbstractFerryMap m, Codec<K> kc, Codec<V> vc, K key, V expected) {
        long ik = intKey(kc, key);
        byte[] bk = bytesKey(kc, key);
        Objects.requireNonNull(expected, "expected");
        boolean w = vc.isWord();
        try {
            return Native.removeIfEqual(m.h(), ik, bk, w ? vc.toWord(expected) : 0L,
                    w ? null : vc.toBytes(expected, "expected"));
        } finally {
            Reference.reachabilityFence(m);
        }
    }

    /** Removes the key and returns the value it had, as one atomic step; null if absent. */
    static <K, V> V take(AbstractFerryMap m, Codec<K> kc, Codec<V> vc, K key) {
        long ik = intKey(kc, key);
        byte[] bk = bytesKey(kc, key);
        try {
            if (vc.isWord()) {
                long[] out = new long[1];
                return Native.takeWord(m.h(), ik, bk, out) ? vc.fromWord(out[0]) : null;
            }
            byte[] b = Native.takeBytes(m.h(), ik, bk);
            return b == null ? null : vc.fromBytes(b);
        } finally {
            Reference.reachabilityFence(m);
        }
    }

    static <K> long addWord(AbstractFerryMap m, Codec<K> kc, K key, long deltaWord) {
        long ik = intKey(kc, key);
        byte[] bk = bytesKey(kc, key);
        try {
            return Native.addWord(m.h(), ik, bk, deltaWord);
        } finally {
            Reference.reachabilityFence(m);
        }
    }

    /** Runs the native update with an operator of the type the value kind needs. */
    static <K> void updateRaw(AbstractFerryMap m, Codec<K> kc, K key, Object operator) {
        long ik = intKey(kc, key);
        byte[] bk = bytesKey(kc, key);
        try {
            Native.update(m.h(), ik, bk, m.updateCallback(operator));
        } finally {
            Reference.reachabilityFence(m);
        }
    }

    static <K, V> void update(AbstractFerryMap m, Codec<K> kc, Codec<V> vc, K key, UnaryOperator<V> fn) {
        Objects.requireNonNull(fn, "fn");
        Object op;
        if (vc.kind == Kind.INT) {
            op = (LongUnaryOperator) v -> vc.toWord(Objects.requireNonNull(fn.apply(vc.fromWord(v)), "new value"));
        } else if (vc.kind == Kind.FLOAT) {
            op = (DoubleUnaryOperator) v -> (Double) Objects.requireNonNull(fn.apply(vc.type.cast(v)), "new value");
        } else {
            op = (Consumer<byte[]>) b -> {
                byte[] nb = vc.toBytes(fn.apply(vc.fromBytes(b.clone())), "new value");
                if (nb.length != b.length) {
                    throw new IllegalArgumentException("update must keep the value's length: "
                            + b.length + " bytes became " + nb.length);
                }
                System.arraycopy(nb, 0, b, 0, b.length);
            };
        }
        updateRaw(m, kc, key, op);
    }

    static <K> ValueView view(AbstractFerryMap m, Codec<K> kc, K key) {
        long ik = intKey(kc, key);
        byte[] bk = bytesKey(kc, key);
        long[] out = new long[1];
        ByteBuffer root;
        try {
            root = Native.view(m.h(), ik, bk, out);
        } finally {
            Reference.reachabilityFence(m);
        }
        return root == null ? null : new ValueView(out[0], root);
    }

    /** An iterator of entries over a snapshot. */
    static <K, V> CloseableIterator<Map.Entry<K, V>> entries(AbstractFerryMap m, Codec<K> kc, Codec<V> vc) {
        SnapshotIterator it = m.snapshot();
        return new CloseableIterator<>() {
            private boolean ready;

            @Override
            public boolean hasNext() {
                if (!ready) {
                    ready = it.advance();
                }
                return ready;
            }

            @Override
            public Map.Entry<K, V> next() {
                if (!hasNext()) {
                    throw new NoSuchElementException("no more entries in this snapshot");
                }
                ready = false;
                int i = it.index;
                K k = it.intKeys != null ? kc.fromWord(it.intKeys[i]) : kc.fromBytes(it.bytesKeys[i]);
                V v = it.words != null ? vc.fromWord(it.words[i]) : vc.fromBytes(it.bytesValues[i]);
                return new AbstractMap.SimpleImmutableEntry<>(k, v);
            }

            @Override
            public void close() {
                ready = false;
                it.close();
            }
        };
    }
}
