package dev.ferrymap;

/**
 * The outcome of one {@link Request}, in the order the requests were submitted.
 *
 * <p>A request can fail on its own (a wrong kind, an overflow) while the others of its
 * submission succeed: check {@link #isOk()}, or call {@link #orThrow()}. The accessors of
 * a failed result throw its error. A submission refused as a whole (the bridge closed
 * or failed) completes its future exceptionally instead.
 */
public final class Result {
    private final Op op;
    private final int status;
    private final boolean flag;
    private final long seq;
    private final long len;
    private final long word;
    private final byte[] bytes;
    private final Codec<?> values;

    Result(Op op, int status, boolean flag, long seq, long len, long word, byte[] bytes, Codec<?> values) {
        this.op = op;
        this.status = status;
        this.flag = flag;
        this.seq = seq;
        this.len = len;
        this.word = word;
        this.bytes = bytes;
        this.values = values;
    }

    public Op op() {
        return op;
    }

    public boolean isOk() {
        return status == Status.OK;
    }

    /** The core's status code ({@code fm_status}; 0 for success). */
    public int status() {
        return status;
    }

    /** The error of a failed request (the exception the synchronous call would throw), or null. */
    public RuntimeException error() {
        return isOk() ? null : Status.exception(status, op + " request");
    }

    /** This result; its error if it failed. */
    public Result orThrow() {
        if (!isOk()) {
            throw error();
        }
        return this;
    }

    /** GET and CONTAINS: whether the key was present. */
    public boolean found() {
        orThrow();
        return flag;
    }

    /** INSERT: whether an existing value was replaced. */
    public boolean replaced() {
        orThrow();
        return flag;
    }

    /** REMOVE: whether the key was present (and is now removed). */
    public boolean removed() {
        orThrow();
        return flag;
    }

    /**
     * The sequence number of the mutation this request committed (DESIGN §7: one total
     * order over the bridge), or 0 if it changed nothing (a read, or a remove of an absent
     * key).
     */
    public long seq() {
        return seq;
    }

    /** LEN: the number of entries. */
    public long size() {
        orThrow();
        return len;
    }

    /** GET (0 if absent) or ADD (the new value) on a map with INT values. */
    public long longValue() {
        orThrow();
        return word;
    }

    /** GET (0.0 if absent) or ADD (the new value) on a map with FLOAT values. */
    public double doubleValue() {
        orThrow();
        return Double.longBitsToDouble(word);
    }

    /**
     * The value of a GET (null if absent) or the new value of an ADD, decoded with the
     * map's value codec ({@code Long}, {@code Double}, {@code String} or {@code byte[]});
     * null for the other ops.
     */
    public Object value() {
        orThrow();
        if (op == Op.ADD || (op == Op.GET && flag)) {
            return values.isWord() ? values.fromWord(word) : values.fromBytes(bytes);
        }
        return null;
    }

    @Override
    public String toString() {
        if (!isOk()) {
            return "Result[" + op + " failed: " + Status.text(status) + "]";
        }
        StringBuilder s = new StringBuilder("Result[").append(op);
        switch (op) {
            case GET:
                s.append(flag ? " found " + value() : " absent");
                break;
            case CONTAINS:
                s.append(flag ? " found" : " absent");
                break;
            case INSERT:
                s.append(flag ? " replaced" : " inserted");
                break;
            case REMOVE:
                s.append(flag ? " removed" : " absent");
                break;
            case ADD:
                s.append(" -> ").append(value());
                break;
            case LEN:
                s.append(' ').append(len);
                break;
            default:
                break;
        }
        if (seq != 0) {
            s.append(", seq ").append(seq);
        }
        return s.append(']').toString();
    }
}
