package dev.ferrymap;

import java.util.Objects;

/**
 * One request of an asynchronous submission to a bridge map
 * ({@link AbstractFerryMap#submitAsync(Request...)}). Immutable: one request may be
 * submitted many times, to any bridge map whose schema fits it.
 *
 * <p>Keys and values are given either as primitives ({@code long} keys, {@code long}
 * values, {@code long} or {@code double} deltas: nothing is boxed) or as objects, which are
 * encoded at submission with the map's codecs ({@code Long}, {@code Double}, {@code String}
 * or {@code byte[]}, per its schema). A request that does not fit the map it is submitted
 * to is refused at submission with IllegalArgumentException, before anything is queued.
 * The bytes of {@code byte[]} keys and values are copied at submission.
 */
public final class Request {
    private static final int NONE = 0;
    private static final int LONG = 1;
    private static final int DOUBLE = 2;
    private static final int OBJECT = 3;

    final Op op;
    private final long longKey;
    private final Object key;
    private final int valueForm;
    private final long word;
    private final Object value;

    private Request(Op op, long longKey, Object key, int valueForm, long word, Object value) {
        this.op = op;
        this.longKey = longKey;
        this.key = key;
        this.valueForm = valueForm;
        this.word = word;
        this.value = value;
    }

    private static Object key(Object key) {
        return Objects.requireNonNull(key, "key");
    }

    /** Look {@code key} up ({@link Result#found()}, {@link Result#longValue()} / {@link Result#value()}). */
    public static Request get(long key) {
        return new Request(Op.GET, key, null, NONE, 0, null);
    }

    public static Request get(Object key) {
        return new Request(Op.GET, 0, key(key), NONE, 0, null);
    }

    /** Test for {@code key} ({@link Result#found()}). */
    public static Request containsKey(long key) {
        return new Request(Op.CONTAINS, key, null, NONE, 0, null);
    }

    public static Request containsKey(Object key) {
        return new Request(Op.CONTAINS, 0, key(key), NONE, 0, null);
    }

    /** Insert or overwrite ({@link Result#replaced()}). */
    public static Request put(long key, long value) {
        return new Request(Op.INSERT, key, null, LONG, value, null);
    }

    public static Request put(Object key, Object value) {
        return new Request(Op.INSERT, 0, key(key), OBJECT, 0, Objects.requireNonNull(value, "value"));
    }

    /** Remove {@code key} ({@link Result#removed()}). */
    public static Request remove(long key) {
        return new Request(Op.REMOVE, key, null, NONE, 0, null);
    }

    public static Request remove(Object key) {
        return new Request(Op.REMOVE, 0, key(key), NONE, 0, null);
    }

    /** Add to an INT value (an absent key starts at 0); the new value is {@link Result#longValue()}. */
    public static Request add(long key, long delta) {
        return new Request(Op.ADD, key, null, LONG, delta, null);
    }

    public static Request add(Object key, long delta) {
        return new Request(Op.ADD, 0, key(key), LONG, delta, null);
    }

    /** Add to a FLOAT value; the new value is {@link Result#doubleValue()}. */
    public static Request add(Object key, double delta) {
        return new Request(Op.ADD, 0, key(key), DOUBLE, Double.doubleToRawLongBits(delta), null);
    }

    /** Remove every entry. */
    public static Request clear() {
        return new Request(Op.CLEAR, 0, null, NONE, 0, null);
    }

    /** Count the entries ({@link Result#size()}). */
    public static Request size() {
        return new Request(Op.LEN, 0, null, NONE, 0, null);
    }

    public Op op() {
        return op;
    }

    // ---- encoding for a map's schema (package-private) ----

    /** The key word for a map with INT keys. */
    long keyWord(Codec<?> keys) {
        if (key == null) {
            return longKey;
        }
        if (!(key instanceof Long)) {
            throw new IllegalArgumentException("map keys are INT: a " + op + " request needs a long or Long key, not "
                    + key.getClass().getSimpleName());
        }
        return (Long) key;
    }

    /** The key bytes for a map with STR/BYTES keys. */
    byte[] keyBytes(Codec<?> keys) {
        if (key == null) {
            throw new IllegalArgumentException("map keys are " + keys.kind() + ": a " + op
                    + " request needs a key of type " + keys.type.getSimpleName() + ", not a long");
        }
        return bytesOf(keys, key, "key");
    }

    /** The value word (INSERT value or ADD delta) for a map with INT/FLOAT values. */
    long valueWord(Codec<?> values) {
        Kind k = values.kind();
        switch (valueForm) {
            case LONG:
                if (k == Kind.INT) {
                    return word;
                }
                break;
            case DOUBLE:
                if (k == Kind.FLOAT) {
                    return word;
                }
                break;
            case OBJECT:
                if (k == Kind.INT && value instanceof Long) {
                    return (Long) value;
                }
                if (k == Kind.FLOAT && value instanceof Double) {
                    return Double.doubleToRawLongBits((Double) value);
                }
                break;
            default:
                break;
        }
        throw new IllegalArgumentException("map values are " + k + ": this " + op + " request's "
                + (op == Op.ADD ? "delta" : "value") + " does not fit (" + describeValue() + ")");
    }

    /** The value bytes for a map with STR/BYTES values (INSERT only). */
    byte[] valueBytes(Codec<?> values) {
        if (valueForm != OBJECT) {
            throw new IllegalArgumentException("map values are " + values.kind() + ": a " + op
                    + " request needs a value of type " + values.type.getSimpleName() + " (" + describeValue() + ")");
        }
        return bytesOf(values, value, "value");
    }

    private String describeValue() {
        switch (valueForm) {
            case LONG:
                return "a long";
            case DOUBLE:
                return "a double";
            case OBJECT:
                return "a " + value.getClass().getSimpleName();
            default:
                return "none";
        }
    }

    private static <T> byte[] bytesOf(Codec<T> codec, Object o, String what) {
        if (!codec.type.isInstance(o)) {
            throw new IllegalArgumentException(what + " must be a " + codec.type.getSimpleName() + " for " + codec
                    + ", not " + o.getClass().getSimpleName());
        }
        return codec.toBytes(codec.type.cast(o), what);
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("Request[").append(op);
        if (op.hasKey()) {
            s.append(' ').append(key != null ? key : longKey);
        }
        if (op.hasValue()) {
            s.append(op == Op.ADD ? " += " : " = ");
            s.append(valueForm == OBJECT ? value : valueForm == DOUBLE ? Double.longBitsToDouble(word) : word);
        }
        return s.append(']').toString();
    }
}
