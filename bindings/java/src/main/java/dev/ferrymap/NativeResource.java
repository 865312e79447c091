package dev.ferrymap;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.ref.Cleaner;

/**
 * Owns (or borrows) one handle. {@link #close()} swaps the handle to 0 atomically, so it
 * is idempotent and safe to race with itself; an owned handle is then freed exactly once.
 * A {@link Cleaner} frees owned handles whose objects became unreachable without being
 * closed. Every native call goes through {@link #h()} and is followed by
 * {@code Reference.reachabilityFence(this)} in the subclasses, so the Cleaner cannot free
 * a handle while a call on it is still running.
 */
abstract class NativeResource implements AutoCloseable {
    static final Cleaner CLEANER = Cleaner.create();

    private static final VarHandle HANDLE;

    static {
        Native.init();
        try {
            HANDLE = MethodHandles.lookup().findVarHandle(NativeResource.class, "handle", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The live handle, or 0 once closed. Read on every call; written only by close/detach. */
    private volatile long handle;
    /** Null for a borrowed handle. */
    private final Free free;
    private final Cleaner.Cleanable cleanable;

    /**
     * @param owned whether closing (or the Cleaner) frees the handle
     * @param referent the object whose unreachability lets the Cleaner free the handle
     */
    NativeResource(long handle, int handleKind, boolean owned, Object referent) {
        this.handle = handle;
        if (owned) {
            this.free = new Free(handle, handleKind);
            this.cleanable = CLEANER.register(referent == null ? this : referent, free);
        } else {
            this.free = null;
            this.cleanable = null;
        }
    }

    /** The handle for a native call; IllegalStateException once closed. */
    final long h() {
        long h = handle;
        if (h == 0) {
            throw closed();
        }
        return h;
    }

    /** The exception for a call after close (bridge maps throw a BridgeClosedException). */
    IllegalStateException closed() {
        return new IllegalStateException(getClass().getSimpleName() + " is closed");
    }

    /**
     * Checked before a close swaps the handle out; throws to refuse the close (a bridge map
     * refuses one from its own update callback, which the core could not honour).
     */
    void beforeClose() {}

    /** Runs after an owned handle was freed by {@link #close()} (bridge maps: drain futures). */
    void afterFree() {}

    /**
     * The 64-bit handle, to pass to another language or to {@code attach}. Ownership does
     * not move: this object still frees it on close (see {@link #detach()} to hand it over).
     *
     * @throws IllegalStateException if closed
     */
    public final long handle() {
        return h();
    }

    /** Whether {@link #close()} (or {@link #detach()}) was called. */
    public final boolean isClosed() {
        return handle == 0;
    }

    /** Whether closing this object frees the handle. */
    public final boolean isOwner() {
        return free != null;
    }

    /**
     * Closes this object: the handle is swapped to 0 (later calls throw
     * IllegalStateException) and, if owned, freed. A second close does nothing. An owned
     * bridge map drains first: requests accepted before run, their futures complete (see
     * {@link AbstractFerryMap}).
     *
     * @throws IllegalStateException if the handle was owned but had already been freed
     *     elsewhere (by another language): an ownership bug worth hearing about
     */
    @Override
    public final void close() {
        if (handle == 0) {
            return;
        }
        beforeClose();
        long h = (long) HANDLE.getAndSet(this, 0L);
        if (h != 0 && cleanable != null) {
            cleanable.clean();
            try {
                free.rethrow();
            } finally {
                afterFree();
            }
        }
    }

    /**
     * Gives up ownership without freeing: returns the handle, which the caller (another
     * language, or {@code adopt}) must now free, and closes this object.
     *
     * @throws IllegalStateException if closed
     */
    public final long detach() {
        long h = (long) HANDLE.getAndSet(this, 0L);
        if (h == 0) {
            throw closed();
        }
        if (cleanable != null) {
            free.disarm();
            cleanable.clean();
        }
        return h;
    }

    /** The Cleaner's action: frees the handle once, unless disarmed. Holds no reference to the object. */
    private static final class Free implements Runnable {
        private final long handle;
        private final int kind;
        private volatile boolean disarmed;
        private volatile RuntimeException failure;

        Free(long handle, int kind) {
            this.handle = handle;
            this.kind = kind;
        }

        void disarm() {
            disarmed = true;
        }

        @Override
        public void run() {
            if (disarmed) {
                return;
            }
            try {
                Native.free(handle, kind);
            } catch (RuntimeException e) {
                failure = e; // reported by close(); ignored when the Cleaner ran us
            }
        }

        void rethrow() {
            RuntimeException e = failure;
            if (e != null) {
                failure = null;
                throw e;
            }
        }
    }
}
