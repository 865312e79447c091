package dev.ferrymap;

/**
 * The bridge's owner thread caught a panic (a bug in the core): the bridge accepts no more
 * work. The process and the map's other users carry on; {@code close()} still works.
 */
public class BridgeFailedException extends BridgeException {
    private static final long serialVersionUID = 1L;

    public BridgeFailedException(String message) {
        super(message);
    }
}
