package dev.ferrymap;

/**
 * The bridge map is closed: the request was not accepted (nothing ran). Also thrown by
 * {@link Subscription#next} once the bridge is closed and every event was delivered.
 */
public class BridgeClosedException extends BridgeException {
    private static final long serialVersionUID = 1L;

    public BridgeClosedException(String message) {
        super(message);
    }

    public BridgeClosedException(String message, Throwable cause) {
        super(message, cause);
    }
}
