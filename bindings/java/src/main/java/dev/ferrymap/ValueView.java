package dev.ferrymap;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * A zero-copy view of one stored STR/BYTES value (DESIGN §4): the bytes stay valid and
 * unchanged until the view is closed, even if the key is overwritten or removed or the
 * map is closed meanwhile. {@link #buffer()} hands out read-only direct ByteBuffers over
 * them, without copying.
 *
 * <p><b>Lifetime.</b> As with C's {@code fm_view_release}, reading a buffer after
 * {@link #close()} reads freed memory: close a view only when no buffer of it is in use
 * any more. A view that is never closed is released by a Cleaner once the view and every
 * buffer made from it are unreachable.
 */
public final class ValueView extends NativeResource {
    /** The writable buffer JNI made; never handed out (the stored bytes are immutable). */
    private final ByteBuffer root;

    ValueView(long handle, ByteBuffer root) {
        // The Cleaner watches the root buffer: every buffer derived from it keeps it reachable.
        super(handle, Native.VIEW, true, root);
        this.root = root;
    }

    /** A new read-only direct buffer over the value's bytes (position 0, limit = length). */
    public ByteBuffer buffer() {
        h();
        return root.asReadOnlyBuffer();
    }

    /** The value's length in bytes. */
    public int length() {
        h();
        return root.capacity();
    }

    /** A copy of the bytes. */
    public byte[] toByteArray() {
        byte[] b = new byte[length()];
        root.duplicate().get(b);
        return b;
    }

    /** The bytes decoded as UTF-8 (exact for STR values). */
    public String asString() {
        return new String(toByteArray(), StandardCharsets.UTF_8);
    }
}
