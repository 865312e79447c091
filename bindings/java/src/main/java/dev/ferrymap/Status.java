package dev.ferrymap;

import java.util.NoSuchElementException;

/**
 * The core's status codes ({@code fm_status}) as Java exceptions, for results that come
 * back without a native call to throw them (tickets). The same classes as the JNI layer
 * throws (src/jni/mod.rs, {@code exception_class}).
 */
final class Status {
    private Status() {}

    static final int OK = 0;
    static final int NOT_FOUND = 1;
    static final int CLOSED = 16;
    static final int QUEUE_FULL = 18;
    static final int BRIDGE_FAILED = 19;

    private static final String[] TEXT = {
        "ok",
        "key not found",
        "a required argument was null",
        "invalid handle (zero, forged, stale, freed, or from another registry)",
        "wrong kind of handle, key or value for this call",
        "a STR key or value was not valid UTF-8",
        "output buffer too small",
        "invalid argument",
        "import data is corrupt or truncated",
        "re-entrant call into a map from its own callback",
        "out of memory or size limit reached",
        "integer overflow; value unchanged",
        "iterator exhausted",
        "callback asked to stop",
        "unsupported export format version",
        "internal error (caught panic)",
        "bridge map is closed",
        "timed out",
        "bridge queue is full",
        "bridge owner thread failed",
    };

    static String text(int status) {
        return status >= 0 && status < TEXT.length ? TEXT[status] : "status " + status;
    }

    /** The exception for a failed request: the class the JNI layer would throw. */
    static RuntimeException exception(int status, String context) {
        String m = "ferrymap: " + context + ": " + text(status);
        switch (status) {
            case NOT_FOUND:
            case 12:
                return new NoSuchElementException(m);
            case 2:
                return new NullPointerException(m);
            case 3:
            case 9:
                return new IllegalStateException(m);
            case 4:
            case 5:
            case 6:
            case 7:
            case 8:
            case 14:
                return new IllegalArgumentException(m);
            case 11:
                return new ArithmeticException(m);
            case CLOSED:
                return new BridgeClosedException(m);
            case QUEUE_FULL:
                return new QueueFullException(m);
            case BRIDGE_FAILED:
                return new BridgeFailedException(m);
            default:
                // 10 (a size limit inside the core), 15 (a caught panic) and the rest
                return new RuntimeException(m);
        }
    }
}
