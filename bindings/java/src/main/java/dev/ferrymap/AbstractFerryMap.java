package dev.ferrymap;

import java.lang.ref.Reference;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.function.DoubleUnaryOperator;
import java.util.function.LongSupplier;
import java.util.function.LongUnaryOperator;

/**
 * What every ferrymap map has, whatever its key and value types: a handle, a fixed
 * schema, size, clear, reserve, stats and export.
 *
 * <p><b>Ownership.</b> A map made by {@code create}, {@code copy}, {@code importFrom} or
 * {@code adopt} is owned: {@link #close()} frees it, and if nobody closes it, a
 * {@link java.lang.ref.Cleaner} frees it once it is unreachable. A map made by
 * {@code attach} borrows a handle another language (or another Java object) owns:
 * closing it only forgets the handle. {@link #handle()} lends the handle to another
 * language without giving up ownership; {@link #detach()} gives it up.
 *
 * <p><b>Threads.</b> Every method may be called from any thread at the same time.
 * Operations on one key are linearizable; {@link #size()} is exact at some instant. Using
 * a map after {@code close()}, or a handle another language freed, throws
 * IllegalStateException and never crashes the JVM.
 *
 * <p><b>Bridge maps</b> (DESIGN §7), made by {@code LongLongMap.bridge} or
 * {@code FerryMap.bridge}, run every operation on one owner thread fed by a bounded
 * queue. Every method works on them unchanged (the calling thread waits for its answer);
 * on top of that they offer asynchronous submission ({@link #submitAsync(Request...)},
 * {@link #trySubmit}, typed {@code getAsync}/{@code putAsync}/...), sequence numbers
 * ({@link #bridgeSeq()}, {@link #lastSeq()}, {@link Result#seq()}) and a change feed
 * ({@code subscribe}). {@link #close()} drains: every request accepted before it runs and
 * its future completes before {@code close()} returns; later calls throw
 * {@link BridgeClosedException}. See the README's "Bridge mode" for the design.
 */
public abstract class AbstractFerryMap extends NativeResource {
    /** The bridge map whose update callback this thread is running (bridge owner threads only). */
    private static final ThreadLocal<AbstractFerryMap> IN_UPDATE = new ThreadLocal<>();

    private final Kind keyKind;
    private final Kind valueKind;
    private final boolean bridge;
    private volatile Completer completer;

    AbstractFerryMap(long handle, boolean owned, int schema) {
        super(handle, Native.MAP, owned, null);
        this.keyKind = Kind.of(schema >> 8);
        this.valueKind = Kind.of(schema & 0xff);
        this.bridge = Native.isBridge(handle);
    }

    /** The codecs the bridge calls encode requests and decode results and events with. */
    abstract Codec<?> keyCodec0();

    abstract Codec<?> valueCodec0();

    /**
     * Reads the schema of a handle about to be wrapped and checks it. A handle made here
     * ({@code freeOnMismatch}) is freed if it does not fit; a handle passed in by the
     * caller is left alone.
     *
     * @throws IllegalStateException if the handle is 0, forged, stale or from another copy
     *     of the library
     * @throws IllegalArgumentException if it names something else than a map, or a map
     *     whose schema {@code fits} rejects
     */
    static int schemaOf(long handle, java.util.function.IntPredicate fits, String expected, boolean freeOnMismatch) {
        int schema = Native.mapSchema(handle);
        if (!fits.test(schema)) {
            if (freeOnMismatch) {
                Native.free(handle, Native.MAP);
            }
            throw new IllegalArgumentException("map is " + Kind.of(schema >> 8) + "->" + Kind.of(schema & 0xff)
                    + ", expected " + expected);
        }
        return schema;
    }

    public final Kind keyKind() {
        return keyKind;
    }

    public final Kind valueKind() {
        return valueKind;
    }

    /** Number of entries. */
    public final long size() {
        try {
            return Native.mapLen(h());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    public final boolean isEmpty() {
        return size() == 0;
    }

    /** Removes every entry, at one instant. Open iterators keep their snapshot. */
    public final void clear() {
        try {
            Native.mapClear(h());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Makes room for {@code additional} more entries without further growth. */
    public final void reserve(long additional) {
        if (additional < 0) {
            throw new IllegalArgumentException("additional is negative: " + additional);
        }
        try {
            Native.mapReserve(h(), additional);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    public final MapStats stats() {
        long[] f = new long[6];
        try {
            Native.mapStats(h(), f);
        } finally {
            Reference.reachabilityFence(this);
        }
        return MapStats.of(f);
    }

    /**
     * A versioned, checksummed binary snapshot of the map, readable by {@code importFrom}
     * in any language ({@code fm_import}). Writers are not blocked while it is made.
     */
    public final byte[] export() {
        try {
            return Native.export(h());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** A new owned handle with the same contents (copy-on-write: O(shards)). */
    final long cloneHandle() {
        try {
            return Native.mapClone(h());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** A new owned iterator over a snapshot of this map. */
    final SnapshotIterator snapshot() {
        long it;
        try {
            it = Native.iterNew(h());
        } finally {
            Reference.reachabilityFence(this);
        }
        return new SnapshotIterator(it, keyKind, valueKind);
    }

    // ---- bridge mode ----

    /** Whether this is a bridge map (DESIGN §7), whose operations run on one owner thread. */
    public final boolean isBridge() {
        return bridge;
    }

    final void requireBridge() {
        if (!bridge) {
            throw new UnsupportedOperationException("not a bridge map: make one with LongLongMap.bridge or FerryMap.bridge");
        }
    }

    /**
     * Whether the bridge's owner thread caught a panic (a bug in the core); the bridge then
     * refuses further work with {@link BridgeFailedException}.
     */
    public final boolean isBridgeFailed() {
        requireBridge();
        try {
            return Native.bridgeFailed(h());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The sequence number of the bridge's last committed mutation (0 before the first). */
    public final long bridgeSeq() {
        requireBridge();
        try {
            return Native.bridgeSeq(h());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * The sequence number of the last bridge-map mutation made by a synchronous call on the
     * calling thread (0 if none); mutations that changed nothing leave it as it was. The
     * core keeps it per OS thread, so read it right after the call, on the same thread:
     * {@code m.put(k, v); long seq = AbstractFerryMap.lastSeq();} (a Java 17 thread is one
     * OS thread; a virtual thread must not block in between). Asynchronous results carry
     * their own ({@link Result#seq()}).
     */
    public static long lastSeq() {
        return Native.lastSeq();
    }

    /**
     * Queues {@code requests} as one batch, which the owner thread runs in order, and returns
     * at once with a future of their results (in the same order). Requests submitted by one
     * thread run in the order submitted, before or after its synchronous calls as they were
     * made. If the queue is full this waits for room (backpressure); see
     * {@link #submitAsync(Duration, Request...)} and {@link #trySubmit(Request...)} for
     * bounded waits.
     *
     * <p>A request that fails on its own (a wrong kind, an overflow) gives a failed
     * {@link Result}; the future completes exceptionally only if the batch was refused as
     * a whole ({@link BridgeClosedException}, {@link BridgeFailedException}). Cancelling
     * the future does not take the batch off the queue. Futures are completed by one
     * daemon thread per map, see the README.
     *
     * @throws BridgeClosedException if the map is closed (nothing was queued)
     * @throws IllegalArgumentException if a request does not fit the map's schema (nothing
     *     was queued)
     * @throws UnsupportedOperationException if this is not a bridge map
     */
    public final CompletableFuture<Result[]> submitAsync(Request... requests) {
        return submit(-1, requests);
    }

    /**
     * As {@link #submitAsync(Request...)}, waiting at most {@code timeout} for room in a full
     * queue.
     *
     * @throws QueueFullException if the queue stayed full for the whole timeout (nothing
     *     was queued)
     */
    public final CompletableFuture<Result[]> submitAsync(Duration timeout, Request... requests) {
        long ns = timeout.toNanos();
        if (ns < 0) {
            throw new IllegalArgumentException("timeout is negative: " + timeout);
        }
        return submit(ns, requests);
    }

    /**
     * As {@link #submitAsync(Request...)}, but fails at once if the queue is full.
     *
     * @throws QueueFullException if the queue is full (nothing was queued)
     */
    public final CompletableFuture<Result[]> trySubmit(Request... requests) {
        return submit(0, requests);
    }

    private CompletableFuture<Result[]> submit(long timeoutNanos, Request[] requests) {
        Objects.requireNonNull(requests, "requests");
        requireBridge();
        int n = requests.length;
        if (n == 0) {
            throw new IllegalArgumentException("a submission needs at least one request");
        }
        Codec<?> kc = keyCodec0();
        Codec<?> vc = valueCodec0();
        Op[] ops = new Op[n];
        long ticket;
        if (n == 1) {
            Request r = Objects.requireNonNull(requests[0], "request");
            ops[0] = r.op;
            long ik = 0;
            byte[] bk = null;
            long word = 0;
            byte[] vb = null;
            if (r.op.hasKey()) {
                if (kc.isWord()) {
                    ik = r.keyWord(kc);
                } else {
                    bk = r.keyBytes(kc);
                }
            }
            if (r.op.hasValue()) {
                if (vc.isWord()) {
                    word = r.valueWord(vc);
                } else {
                    vb = r.op == Op.ADD ? new byte[0] : r.valueBytes(vc); // ADD: the core reports the kind
                }
            }
            long fik = ik;
            byte[] fbk = bk;
            long fw = word;
            byte[] fvb = vb;
            ticket = ticket(() -> Native.submit1(h(), r.op.code, fik, fbk, fw, fvb, timeoutNanos));
        } else {
            int[] codes = new int[n];
            long[] iks = new long[n];
            byte[][] bks = kc.isWord() ? null : new byte[n][];
            long[] words = new long[n];
            byte[][] vbs = vc.isWord() ? null : new byte[n][];
            for (int i = 0; i < n; i++) {
                Request r = Objects.requireNonNull(requests[i], "request");
                ops[i] = r.op;
                codes[i] = r.op.code;
                if (r.op.hasKey()) {
                    if (bks == null) {
                        iks[i] = r.keyWord(kc);
                    } else {
                        bks[i] = r.keyBytes(kc);
                    }
                }
                if (r.op.hasValue()) {
                    if (vbs == null) {
                        words[i] = r.valueWord(vc);
                    } else {
                        vbs[i] = r.op == Op.ADD ? new byte[0] : r.valueBytes(vc);
                    }
                }
            }
            ticket = ticket(() -> Native.submitMany(h(), codes, iks, bks, words, vbs, n, timeoutNanos));
        }
        CompletableFuture<Result[]> f = new CompletableFuture<>();
        completer().add(new Completer.Pending(ticket, n) {
            @Override
            void complete(long[] out, Object[] bytes, int at) {
                Result[] rs = new Result[n];
                for (int i = 0; i < n; i++) {
                    int o = 5 * (at + i);
                    int st = (int) out[o];
                    if (st == Status.CLOSED || st == Status.BRIDGE_FAILED || st == 15) {
                        f.completeExceptionally(Status.exception(st, "submission"));
                        return;
                    }
                    rs[i] = new Result(ops[i], st, out[o + 1] != 0, out[o + 2], out[o + 3], out[o + 4],
                            bytes == null ? null : (byte[]) bytes[at + i], vc);
                }
                f.complete(rs);
            }

            @Override
            void fail(Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    /** Decodes the one result of a typed asynchronous call. */
    interface OneResult<T> {
        T decode(boolean flag, long word, byte[] bytes);
    }

    /**
     * Submits one request in its wire form (key as (long, byte[]), value as (long, byte[]))
     * and returns a future of its decoded result; a failed request completes it
     * exceptionally with the exception the synchronous call would throw.
     */
    final <T> CompletableFuture<T> submitOne(Op op, long ik, byte[] bk, long word, byte[] vb, OneResult<T> decode) {
        requireBridge();
        long ticket = ticket(() -> Native.submit1(h(), op.code, ik, bk, word, vb, -1));
        CompletableFuture<T> f = new CompletableFuture<>();
        completer().add(new Completer.Pending(ticket, 1) {
            @Override
            void complete(long[] out, Object[] bytes, int at) {
                int st = (int) out[5 * at];
                if (st != Status.OK) {
                    f.completeExceptionally(Status.exception(st, op.toString()));
                    return;
                }
                T v;
                try {
                    v = decode.decode(out[5 * at + 1] != 0, out[5 * at + 4], bytes == null ? null : (byte[]) bytes[at]);
                } catch (RuntimeException e) {
                    f.completeExceptionally(e);
                    return;
                }
                f.complete(v);
            }

            @Override
            void fail(Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    /** Runs a native submit; a map closed meanwhile gives BridgeClosedException. */
    private long ticket(LongSupplier submit) {
        try {
            return submit.getAsLong();
        } catch (IllegalStateException e) {
            if (isClosed() && !(e instanceof BridgeException)) {
                throw new BridgeClosedException("ferrymap: the bridge map was closed", e);
            }
            throw e;
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    private Completer completer() {
        Completer c = completer;
        if (c == null) {
            synchronized (this) {
                c = completer;
                if (c == null) {
                    c = new Completer(!valueCodec0().isWord());
                    completer = c;
                }
            }
        }
        return c;
    }

    /** A subscription to this bridge map's change feed (see {@link Subscription}). */
    final <K, V> Subscription<K, V> subscribe0(int bound, Codec<K> keys, Codec<V> values) {
        requireBridge();
        if (bound <= 0) {
            throw new IllegalArgumentException("bound must be positive: " + bound);
        }
        long s;
        try {
            s = Native.subscribe(h(), bound);
        } finally {
            Reference.reachabilityFence(this);
        }
        return new Subscription<>(s, keys, values);
    }

    /**
     * The update callback to hand to the core. On a bridge map it runs on the owner thread;
     * it is wrapped so that a {@code close()} of this map from inside it is refused (the
     * owner thread cannot wait for itself) instead of leaving the map half closed.
     */
    @SuppressWarnings("unchecked")
    final Object updateCallback(Object op) {
        if (!bridge) {
            return op;
        }
        if (valueKind == Kind.INT) {
            LongUnaryOperator f = (LongUnaryOperator) op;
            return (LongUnaryOperator) v -> {
                AbstractFerryMap outer = enterUpdate();
                try {
                    return f.applyAsLong(v);
                } finally {
                    leaveUpdate(outer);
                }
            };
        }
        if (valueKind == Kind.FLOAT) {
            DoubleUnaryOperator f = (DoubleUnaryOperator) op;
            return (DoubleUnaryOperator) v -> {
                AbstractFerryMap outer = enterUpdate();
                try {
                    return f.applyAsDouble(v);
                } finally {
                    leaveUpdate(outer);
                }
            };
        }
        Consumer<byte[]> f = (Consumer<byte[]>) op;
        return (Consumer<byte[]>) b -> {
            AbstractFerryMap outer = enterUpdate();
            try {
                f.accept(b);
            } finally {
                leaveUpdate(outer);
            }
        };
    }

    private AbstractFerryMap enterUpdate() {
        AbstractFerryMap outer = IN_UPDATE.get();
        IN_UPDATE.set(this);
        return outer;
    }

    private static void leaveUpdate(AbstractFerryMap outer) {
        if (outer == null) {
            IN_UPDATE.remove();
        } else {
            IN_UPDATE.set(outer);
        }
    }

    @Override
    IllegalStateException closed() {
        return bridge ? new BridgeClosedException(getClass().getSimpleName() + " (a bridge map) is closed")
                : super.closed();
    }

    @Override
    void beforeClose() {
        if (bridge && IN_UPDATE.get() == this) {
            throw new IllegalStateException("a bridge map cannot be closed from its own update callback"
                    + " (the owner thread would wait for itself)");
        }
    }

    @Override
    void afterFree() {
        Completer c = completer;
        if (c != null) {
            c.awaitDrained();
        }
    }

    @Override
    public String toString() {
        if (isClosed()) {
            return getClass().getSimpleName() + "[closed]";
        }
        return getClass().getSimpleName() + "[" + keyKind + "->" + valueKind + (bridge ? ", bridge" : "") + ", handle=0x"
                + Long.toHexString(handle()) + (isOwner() ? "" : ", borrowed") + "]";
    }
}
