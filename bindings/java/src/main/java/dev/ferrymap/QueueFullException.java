package dev.ferrymap;

/**
 * The bridge's bounded queue was full: at once for {@code trySubmit}, or for the whole
 * timeout of a timed {@code submitAsync}. Nothing was queued; retry later or slow down.
 */
public class QueueFullException extends BridgeException {
    private static final long serialVersionUID = 1L;

    public QueueFullException(String message) {
        super(message);
    }
}
