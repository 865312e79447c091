package dev.ferrymap;

import java.lang.ref.Reference;
import java.time.Duration;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * A subscription to a bridge map's change feed (DESIGN §7), made by {@code subscribe(bound)}:
 * from then on every committed mutation is queued for it, in commit order, up to
 * {@code bound} events. A subscriber that falls further behind loses the oldest events,
 * and the next event it reads says exactly how many ({@link Event#lost()}): it never
 * skips silently.
 *
 * <p>Read it with {@link #next(Duration)} / {@link #poll(Duration)}, as a blocking
 * {@link #iterator()} or {@link #stream()}, or let a daemon thread hand every event to a
 * callback with {@link #listen(Consumer)}. One reader at a time is the sensible use
 * (events are delivered once, to whichever reader asks first).
 *
 * <p>The feed ends when the bridge map is closed and every event was read: {@code next}
 * and {@code poll} then throw {@link BridgeClosedException}, the iterator and the stream
 * end. Close the subscription when done (a Cleaner frees it otherwise); closing it from
 * another thread ends a blocked reader within ~50 ms.
 *
 * @param <K> key type
 * @param <V> value type
 */
public final class Subscription<K, V> extends NativeResource implements Iterable<Event<K, V>> {
    /** Native waits are cut into slices this long, to notice interrupts and close(). */
    private static final long SLICE_NANOS = 50_000_000L;

    private final Codec<K> keys;
    private final Codec<V> values;
    private volatile boolean ended;

    Subscription(long handle, Codec<K> keys, Codec<V> values) {
        super(handle, Native.SUBSCRIPTION, true, null);
        this.keys = keys;
        this.values = values;
    }

    /** Whether the feed has ended: the bridge map was closed and every event was read. */
    public boolean isEnded() {
        return ended;
    }

    /**
     * The next event, waiting up to {@code timeout}.
     *
     * @throws TimeoutException if none came in time
     * @throws BridgeClosedException if the feed has ended
     * @throws IllegalStateException if this subscription is closed
     * @throws InterruptedException if the thread was interrupted while waiting
     */
    public Event<K, V> next(Duration timeout) throws TimeoutException, InterruptedException {
        Event<K, V> e = poll(timeout);
        if (e == null) {
            throw new TimeoutException("no event within " + timeout);
        }
        return e;
    }

    /**
     * The next event, waiting up to {@code timeout}; null if none came in time.
     *
     * @throws BridgeClosedException if the feed has ended
     * @throws IllegalStateException if this subscription is closed
     * @throws InterruptedException if the thread was interrupted while waiting
     */
    public Event<K, V> poll(Duration timeout) throws InterruptedException {
        long left = timeout.toNanos();
        long deadline = System.nanoTime() + left;
        long[] out = new long[5];
        Object[] bytes = new Object[2];
        while (true) {
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
            int got;
            try {
                got = Native.subNext(h(), Math.min(Math.max(left, 0), SLICE_NANOS), out, bytes);
            } finally {
                Reference.reachabilityFence(this);
            }
            if (got > 0) {
                return new Event<>(out[0], Op.of((int) out[1]), out[2], out[3], (byte[]) bytes[0], out[4],
                        (byte[]) bytes[1], keys, values);
            }
            if (got < 0) {
                ended = true;
                throw new BridgeClosedException("ferrymap: the bridge map is closed and every event was delivered");
            }
            left = deadline - System.nanoTime();
            if (left <= 0) {
                return null;
            }
        }
    }

    /**
     * A blocking iterator over the events: {@code hasNext()} waits for the next event, and
     * returns false once the feed has ended, this subscription was closed, or the thread
     * was interrupted (its interrupt flag is then set again).
     */
    @Override
    public Iterator<Event<K, V>> iterator() {
        return new Iterator<>() {
            private Event<K, V> ready;
            private boolean done;

            @Override
            public boolean hasNext() {
                while (ready == null && !done) {
                    try {
                        ready = poll(Duration.ofNanos(SLICE_NANOS));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        done = true;
                    } catch (IllegalStateException e) { // the feed ended, or this subscription was closed
                        done = true;
                    }
                }
                return ready != null;
            }

            @Override
            public Event<K, V> next() {
                if (!hasNext()) {
                    throw new NoSuchElementException("the change feed has ended");
                }
                Event<K, V> e = ready;
                ready = null;
                return e;
            }
        };
    }

    /** The events as a sequential, ordered, blocking stream (ends as the iterator does). */
    public Stream<Event<K, V>> stream() {
        return StreamSupport.stream(Spliterators.spliteratorUnknownSize(iterator(),
                Spliterator.ORDERED | Spliterator.NONNULL), false);
    }

    /**
     * Starts a daemon thread ({@code ferrymap-feed}) that hands every event to
     * {@code listener}, in order. The returned future completes when the feed ends or this
     * subscription is closed, and completes exceptionally (delivery stops) if the listener
     * throws. Do not read the subscription elsewhere meanwhile.
     */
    public CompletableFuture<Void> listen(Consumer<? super Event<K, V>> listener) {
        java.util.Objects.requireNonNull(listener, "listener");
        h(); // closed: fail now, not on the thread
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                for (Event<K, V> e : this) {
                    listener.accept(e);
                }
                done.complete(null);
            } catch (Throwable e) {
                done.completeExceptionally(e);
            }
        }, "ferrymap-feed");
        t.setDaemon(true);
        t.start();
        return done;
    }

    @Override
    public String toString() {
        return "Subscription[" + (isClosed() ? "closed" : ended ? "ended" : "open") + "]";
    }
}
