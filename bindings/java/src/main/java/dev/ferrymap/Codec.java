package dev.ferrymap;

import java.util.Arrays;
import java.util.Objects;

/**
 * How a Java type crosses into a ferrymap key or value kind. Four exist:
 * {@link #LONG} (INT), {@link #DOUBLE} (FLOAT, values only), {@link #STRING} (STR, as
 * exact UTF-8) and {@link #BYTES} (BYTES; also accepted for STR maps, to read and write
 * the raw UTF-8, which the core still validates).
 *
 * @param <T> the Java type
 */
public final class Codec<T> {
    public static final Codec<Long> LONG = new Codec<>("LONG", Kind.INT, Long.class);
    public static final Codec<Double> DOUBLE = new Codec<>("DOUBLE", Kind.FLOAT, Double.class);
    public static final Codec<String> STRING = new Codec<>("STRING", Kind.STR, String.class);
    public static final Codec<byte[]> BYTES = new Codec<>("BYTES", Kind.BYTES, byte[].class);

    private final String name;
    final Kind kind;
    final Class<T> type;

    private Codec(String name, Kind kind, Class<T> type) {
        this.name = name;
        this.kind = kind;
        this.type = type;
    }

    /** The kind this codec writes when it creates a map. */
    public Kind kind() {
        return kind;
    }

    /** Whether this codec can read and write a map's keys or values of {@code k}. */
    public boolean accepts(Kind k) {
        return k == kind || (this == BYTES && k == Kind.STR);
    }

    /** Whether values cross as a 64-bit word (INT, FLOAT) rather than bytes. */
    boolean isWord() {
        return kind == Kind.INT || kind == Kind.FLOAT;
    }

    long toWord(T v) {
        Objects.requireNonNull(v);
        return kind == Kind.INT ? (Long) v : Double.doubleToRawLongBits((Double) v);
    }

    T fromWord(long w) {
        return type.cast(kind == Kind.INT ? (Object) w : (Object) Double.longBitsToDouble(w));
    }

    byte[] toBytes(T v, String what) {
        if (kind == Kind.STR) {
            return Utf8.encode((String) v, what);
        }
        Objects.requireNonNull(v, what);
        return (byte[]) v;
    }

    T fromBytes(byte[] b) {
        return type.cast(kind == Kind.STR ? Utf8.decode(b) : b);
    }

    boolean equal(T a, Object b) {
        if (this == BYTES) {
            return b instanceof byte[] && Arrays.equals((byte[]) a, (byte[]) b);
        }
        return Objects.equals(a, b);
    }

    @Override
    public String toString() {
        return "Codec." + name;
    }
}
