package dev.ferrymap;

/** Receives one long→long entry, without boxing. */
@FunctionalInterface
public interface LongLongConsumer {
    void accept(long key, long value);
}
