package dev.ferrymap;

/**
 * Figures about one map ({@code fm_map_stats}). Figures from different shards may be from
 * slightly different instants when other threads write.
 *
 * @param size entries
 * @param capacity slots allocated over all shards
 * @param memoryBytes native memory the map uses (tables, keys and values)
 * @param openIterators iterators made from this map that are still open
 * @param openViews value views made from this map that are still open
 * @param writes mutations applied (reads are not counted)
 */
public record MapStats(long size, long capacity, long memoryBytes, long openIterators, long openViews, long writes) {
    /** size / capacity (0 for an empty map). */
    public double loadFactor() {
        return capacity == 0 ? 0.0 : (double) size / capacity;
    }

    static MapStats of(long[] f) {
        return new MapStats(f[0], f[1], f[2], f[3], f[4], f[5]);
    }
}
