package dev.ferrymap;

/** The kind of a map's keys or values, fixed when the map is created (DESIGN §3). */
public enum Kind {
    /** 64-bit integer ({@code long}). */
    INT(1),
    /** IEEE 754 double; values only. */
    FLOAT(2),
    /** UTF-8 text ({@code String}, converted as exact UTF-8 both ways). */
    STR(3),
    /** Arbitrary bytes ({@code byte[]}). */
    BYTES(4);

    final int code;

    Kind(int code) {
        this.code = code;
    }

    static Kind of(int code) {
        for (Kind k : values()) {
            if (k.code == code) {
                return k;
            }
        }
        throw new IllegalArgumentException("unknown kind " + code);
    }
}
