package dev.ferrymap;

/**
 * The operation of a {@link Request}, a {@link Result} or a change-feed {@link Event}
 * ({@code fm_op}). Events carry INSERT, REMOVE, ADD, UPDATE and CLEAR; GET, CONTAINS and
 * LEN are requests only.
 */
public enum Op {
    INSERT(1),
    REMOVE(2),
    ADD(3),
    UPDATE(4),
    CLEAR(5),
    GET(6),
    CONTAINS(7),
    LEN(8);

    final int code;

    Op(int code) {
        this.code = code;
    }

    static Op of(int code) {
        for (Op op : values()) {
            if (op.code == code) {
                return op;
            }
        }
        throw new IllegalArgumentException("unknown op " + code);
    }

    /** Whether a request of this op carries a key. */
    boolean hasKey() {
        return this != CLEAR && this != LEN;
    }

    /** Whether a request of this op carries a value (INSERT) or a delta (ADD). */
    boolean hasValue() {
        return this == INSERT || this == ADD;
    }
}
