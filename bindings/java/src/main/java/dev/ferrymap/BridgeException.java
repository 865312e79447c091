package dev.ferrymap;

/**
 * Something about a bridge map (DESIGN §7) refused a request: it is closed
 * ({@link BridgeClosedException}), its owner thread failed ({@link BridgeFailedException}),
 * or its queue is full ({@link QueueFullException}). An {@code IllegalStateException}, like
 * every other "this object cannot do that now" of this binding.
 */
public class BridgeException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public BridgeException(String message) {
        super(message);
    }

    public BridgeException(String message, Throwable cause) {
        super(message, cause);
    }
}
