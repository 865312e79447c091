package dev.ferrymap;

/**
 * One committed mutation of a bridge map, as a {@link Subscription} delivers it, in commit
 * order.
 *
 * <ul>
 *   <li>{@link #seq()}: the mutation's sequence number (1, 2, 3, ... over the bridge's
 *       life; the same number the mutating call saw).</li>
 *   <li>{@link #op()}: INSERT, REMOVE, ADD, UPDATE or CLEAR.</li>
 *   <li>{@link #key()}: the key (none for CLEAR); {@link #value()}: the new value (INSERT,
 *       ADD, UPDATE; none for REMOVE and CLEAR).</li>
 *   <li>{@link #lost()}: how many events this subscriber lost just before this one because
 *       it fell behind its bound (0 normally). Their sequence numbers are the gap before
 *       {@code seq()}.</li>
 * </ul>
 *
 * {@link #longKey()} and {@link #longValue()} read INT keys and values without boxing.
 *
 * @param <K> key type
 * @param <V> value type
 */
public final class Event<K, V> {
    private final long seq;
    private final Op op;
    private final long lost;
    private final long keyWord;
    private final byte[] keyBytes;
    private final long valueWord;
    private final byte[] valueBytes;
    private final Codec<K> keys;
    private final Codec<V> values;

    Event(long seq, Op op, long lost, long keyWord, byte[] keyBytes, long valueWord, byte[] valueBytes,
            Codec<K> keys, Codec<V> values) {
        this.seq = seq;
        this.op = op;
        this.lost = lost;
        this.keyWord = keyWord;
        this.keyBytes = keyBytes;
        this.valueWord = valueWord;
        this.valueBytes = valueBytes;
        this.keys = keys;
        this.values = values;
    }

    public long seq() {
        return seq;
    }

    public Op op() {
        return op;
    }

    public long lost() {
        return lost;
    }

    public boolean hasKey() {
        return op != Op.CLEAR;
    }

    public boolean hasValue() {
        return op == Op.INSERT || op == Op.ADD || op == Op.UPDATE;
    }

    /** The key, decoded with the map's key codec; null for CLEAR. */
    public K key() {
        if (!hasKey()) {
            return null;
        }
        return keys.isWord() ? keys.fromWord(keyWord) : keys.fromBytes(keyBytes);
    }

    /** An INT key, without boxing (0 for CLEAR). */
    public long longKey() {
        if (!keys.isWord()) {
            throw new IllegalStateException("map keys are " + keys.kind() + ", not INT");
        }
        return keyWord;
    }

    /** The new value, decoded with the map's value codec; null for REMOVE and CLEAR. */
    public V value() {
        if (!hasValue()) {
            return null;
        }
        return values.isWord() ? values.fromWord(valueWord) : values.fromBytes(valueBytes);
    }

    /** An INT value, without boxing (0 for REMOVE and CLEAR). */
    public long longValue() {
        if (values.kind() != Kind.INT) {
            throw new IllegalStateException("map values are " + values.kind() + ", not INT");
        }
        return valueWord;
    }

    /** A FLOAT value, without boxing (0.0 for REMOVE and CLEAR). */
    public double doubleValue() {
        if (values.kind() != Kind.FLOAT) {
            throw new IllegalStateException("map values are " + values.kind() + ", not FLOAT");
        }
        return Double.longBitsToDouble(valueWord);
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("Event[").append(seq).append(' ').append(op);
        if (hasKey()) {
            Object k = key();
            s.append(' ').append(k instanceof byte[] ? java.util.Arrays.toString((byte[]) k) : k);
        }
        if (hasValue()) {
            Object v = value();
            s.append(" = ").append(v instanceof byte[] ? java.util.Arrays.toString((byte[]) v) : v);
        }
        if (lost != 0) {
            s.append(", lost ").append(lost);
        }
        return s.append(']').toString();
    }
}
