package dev.ferrymap;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Completes the futures of one bridge map's asynchronous submissions.
 *
 * <p>One daemon thread ({@code ferrymap-completer}) per bridge map object takes the
 * submitted tickets in the order they were queued here, waits in native code until the
 * owner thread has run the oldest, then copies the results out of it and of every ticket
 * behind it that is already done (up to 64 tickets per call), frees those tickets and
 * completes their futures. A bridge's owner runs its queue in FIFO
 * order, so waiting for tickets in order costs nothing extra: when the oldest is done, the
 * ones behind it are usually done too, and the thread only sleeps when it has caught up.
 * No Java thread blocks per ticket, and a single thread completes the futures of a bridge
 * in submission order (per submitting thread).
 *
 * <p>The thread starts with the first submission and exits after a second with nothing to
 * do (it holds no reference to the map, so an unreachable map can still be cleaned), and
 * is started again by the next submission. {@link #awaitDrained()} (called by a bridge
 * map's {@code close()}) waits until every future of an accepted submission has been
 * completed.
 *
 * <p>Dependent stages attached with {@code thenApply} and friends (not {@code ...Async})
 * run on this thread: keep them short, and do not block in them on another future of the
 * same map (that future is completed by this very thread).
 */
final class Completer {
    private static final long IDLE_MILLIS = 1000;
    /** Tickets and results collected per native call at most (a bigger ticket goes alone). */
    private static final int MAX_TICKETS = 64;
    private static final int MAX_RESULTS = 4096;

    /** A submitted ticket and what to do with its results. */
    abstract static class Pending {
        final long ticket;
        final int count;

        Pending(long ticket, int count) {
            this.ticket = ticket;
            this.count = count;
        }

        /**
         * Called with this ticket's {@code count} results: 5 longs each in {@code out} from
         * {@code 5 * at}, STR/BYTES values in {@code bytes} from {@code at}.
         */
        abstract void complete(long[] out, Object[] bytes, int at);

        abstract void fail(Throwable t);
    }

    private final LinkedBlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
    private final AtomicBoolean running = new AtomicBoolean();
    /** Added and not yet completed. */
    private final AtomicLong outstanding = new AtomicLong();
    private final boolean bytesValues;
    private volatile Thread thread;
    private volatile boolean draining;

    Completer(boolean bytesValues) {
        this.bytesValues = bytesValues;
    }

    void add(Pending p) {
        outstanding.incrementAndGet();
        queue.add(p);
        if (!running.get() && running.compareAndSet(false, true)) {
            Thread t = new Thread(this::run, "ferrymap-completer");
            t.setDaemon(true);
            thread = t;
            t.start();
        }
    }

    private void run() {
        long[] tickets = new long[MAX_TICKETS];
        int[] sizes = new int[MAX_TICKETS];
        long[] out = new long[5 * MAX_RESULTS];
        Object[] bytes = bytesValues ? new Object[MAX_RESULTS] : null;
        ArrayDeque<Pending> batch = new ArrayDeque<>();
        while (true) {
            if (batch.isEmpty()) {
                Pending p;
                try {
                    p = queue.poll(IDLE_MILLIS, TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    continue; // nobody should interrupt this thread; carry on
                }
                if (p == null) {
                    running.set(false);
                    // A submitter may have queued after the poll and seen running == true.
                    if (queue.isEmpty() || !running.compareAndSet(false, true)) {
                        return;
                    }
                    thread = Thread.currentThread();
                    continue;
                }
                batch.add(p);
            }
            // Take more that are already queued, to collect several tickets per call.
            int results = 0;
            for (Pending p : batch) {
                results += p.count;
            }
            while (batch.size() < MAX_TICKETS && results < MAX_RESULTS) {
                Pending p = queue.poll();
                if (p == null) {
                    break;
                }
                batch.add(p);
                results += p.count;
            }
            int n = 0;
            results = 0;
            for (Pending p : batch) {
                if (n > 0 && results + p.count > MAX_RESULTS) {
                    break;
                }
                tickets[n] = p.ticket;
                sizes[n] = p.count;
                results += p.count;
                n++;
            }
            if (out.length < 5 * results) {
                out = new long[5 * results];
                bytes = bytesValues ? new Object[results] : null;
            } else if (bytes != null) {
                Arrays.fill(bytes, 0, results, null);
            }
            int taken;
            try {
                // waits for the first ticket, takes the others that are done
                taken = Native.ticketTakeMany(tickets, n, sizes, out, bytes);
            } catch (Throwable t) {
                Pending p = batch.poll();
                try {
                    p.fail(t);
                } finally {
                    finished();
                }
                continue;
            }
            int at = 0;
            for (int i = 0; i < taken; i++) {
                Pending p = batch.poll();
                try {
                    p.complete(out, bytes, at);
                } catch (Throwable t) {
                    p.fail(t);
                } finally {
                    finished();
                }
                at += p.count;
            }
        }
    }

    private void finished() {
        if (outstanding.decrementAndGet() == 0 && draining) {
            synchronized (this) {
                notifyAll();
            }
        }
    }

    /**
     * Waits until every added ticket's future is complete (the tickets themselves are all
     * answered once the bridge is closed). Returns at once on the completer thread itself
     * (a dependent stage closing the map).
     */
    void awaitDrained() {
        if (Thread.currentThread() == thread) {
            return;
        }
        draining = true;
        boolean interrupted = false;
        synchronized (this) {
            while (outstanding.get() != 0) {
                try {
                    wait(10);
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
