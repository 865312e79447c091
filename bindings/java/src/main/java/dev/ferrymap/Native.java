package dev.ferrymap;

import java.nio.ByteBuffer;

/**
 * The JNI entry points in {@code libferrymap.so} ({@code src/jni/} in the core crate).
 * Package-private: the public classes check arguments and keep objects alive around
 * every call. Keys and values cross either as a {@code long} (INT keys, INT values,
 * FLOAT values as their bits) or as a {@code byte[]} (STR as exact UTF-8, BYTES).
 */
final class Native {
    private Native() {}

    static {
        Loader.load();
    }

    /** Makes sure the library is loaded (a no-op after the first call). */
    static void init() {}

    // handle kinds (fm_handle_kind)
    static final int MAP = 1;
    static final int ITERATOR = 2;
    static final int VIEW = 3;
    static final int SUBSCRIPTION = 4;
    static final int TICKET = 5;

    // library
    static native int version();
    static native long registryId();
    static native byte[] libraryPath();
    static native long census(int handleKind);
    static native long censusTotal();

    // lifecycle
    static native long mapNew(int keyKind, int valueKind, long capacity);
    /** A bridge map (DESIGN §7). */
    static native long bridgeNew(int keyKind, int valueKind, long capacity, long queueCapacity);
    static native void free(long handle, int handleKind);
    static native long mapLen(long map);
    static native void mapClear(long map);
    static native void mapReserve(long map, long additional);
    static native long mapClone(long map);
    static native int mapSchema(long map);
    static native void mapStats(long map, long[] out);

    // long -> long fast paths
    static native long getLL(long map, long key, long ifAbsent);
    static native long getLLOrThrow(long map, long key);
    static native boolean putLL(long map, long key, long value);
    static native boolean containsL(long map, long key);
    static native boolean removeL(long map, long key);
    static native long addLL(long map, long key, long delta);

    // any schema: key as (intKey, bytesKey), value as (word, bytesValue)
    static native boolean put(long map, long intKey, byte[] bytesKey, long word, byte[] bytesValue);
    static native boolean findWord(long map, long intKey, byte[] bytesKey, long[] out);
    static native byte[] getBytes(long map, long intKey, byte[] bytesKey);
    static native boolean contains(long map, long intKey, byte[] bytesKey);
    static native boolean remove(long map, long intKey, byte[] bytesKey);
    static native boolean putIfAbsent(long map, long intKey, byte[] bytesKey, long word, byte[] bytesValue);
    static native boolean takeWord(long map, long intKey, byte[] bytesKey, long[] out);
    static native byte[] takeBytes(long map, long intKey, byte[] bytesKey);
    /** 1: swapped; 0: the value differs; -1: the key is absent. */
    static native int compareAndSwap(long map, long intKey, byte[] bytesKey, long expectedWord, byte[] expectedBytes,
            long word, byte[] bytesValue);
    /** 1: removed; 0: the value differs; -1: the key is absent. */
    static native int removeIfEqual(long map, long intKey, byte[] bytesKey, long expectedWord, byte[] expectedBytes);
    /** Stores value; writes the replaced one to previous[0] and returns true if there was one. */
    static native boolean swapLL(long map, long key, long value, long[] previous);
    static native long addWord(long map, long intKey, byte[] bytesKey, long deltaWord);
    static native void update(long map, long intKey, byte[] bytesKey, Object operator);
    static native ByteBuffer view(long map, long intKey, byte[] bytesKey, long[] viewOut);

    // batches (long -> long)
    static native int putAllLL(long map, long[] keys, long[] values, int offset, int count);
    static native int getAllLL(long map, long[] keys, long[] values, boolean[] found, int offset, int count, long ifAbsent);
    static native int removeAllL(long map, long[] keys, int offset, int count);
    static native int putAllDirect(long map, ByteBuffer keys, int keyPos, ByteBuffer values, int valuePos, int count);
    static native int getAllDirect(long map, ByteBuffer keys, int keyPos, ByteBuffer values, int valuePos,
                                   ByteBuffer found, int foundPos, int count, long ifAbsent);
    static native int removeAllDirect(long map, ByteBuffer keys, int keyPos, int count);

    // iterators, export / import
    static native long iterNew(long map);
    static native long iterLen(long iter);
    static native int iterNext(long iter, long[] intKeys, byte[][] bytesKeys, long[] words, byte[][] bytesValues);
    static native byte[] export(long map);
    static native long importMap(byte[] data);

    // bridge mode (src/jni/bridge.rs); timeouts in nanoseconds: negative forever, 0 no wait
    static native boolean isBridge(long map);
    static native boolean bridgeFailed(long map);
    static native long bridgeSeq(long map);
    static native long lastSeq();
    static native long submit1(long map, int op, long intKey, byte[] bytesKey, long word, byte[] bytesValue,
                               long timeoutNanos);
    static native long submitMany(long map, int[] ops, long[] intKeys, byte[][] bytesKeys, long[] words,
                                  byte[][] bytesValues, int count, long timeoutNanos);
    /** -1 if not done in time; else the number of results (5 longs each in out), ticket freed. */
    static native int ticketTake(long ticket, long timeoutNanos, long[] out, Object[] bytesOut);
    /** Waits for tickets[0], takes the done ones after it in order; returns how many were taken (and freed). */
    static native int ticketTakeMany(long[] tickets, int count, int[] sizes, long[] out, Object[] bytesOut);
    static native long subscribe(long map, long bound);
    /** 1: an event in out/bytesOut; 0: timeout; -1: the feed ended. */
    static native int subNext(long sub, long timeoutNanos, long[] out, Object[] bytesOut);
}
