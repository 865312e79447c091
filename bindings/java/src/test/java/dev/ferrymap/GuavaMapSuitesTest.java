package dev.ferrymap;

import com.google.common.collect.testing.ConcurrentMapTestSuiteBuilder;
import com.google.common.collect.testing.MapTestSuiteBuilder;
import com.google.common.collect.testing.SampleElements;
import com.google.common.collect.testing.TestMapGenerator;
import com.google.common.collect.testing.TestStringMapGenerator;
import com.google.common.collect.testing.features.CollectionFeature;
import com.google.common.collect.testing.features.CollectionSize;
import com.google.common.collect.testing.features.Feature;
import com.google.common.collect.testing.features.MapFeature;
import java.util.AbstractMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentMap;
import java.util.function.Supplier;
import junit.framework.Test;
import junit.framework.TestSuite;
import org.junit.runner.RunWith;
import org.junit.runners.AllTests;

/**
 * Guava testlib's Map and ConcurrentMap conformance suites over the asMap() views of
 * FerryMap&lt;String, String&gt;, FerryMap&lt;Long, Long&gt; and LongLongMap, direct maps.
 *
 * <p>Declared features, honestly: general purpose (put, remove, clear, putAll), iterator
 * removal (through the snapshot iterators, which remove from the live map), any size. Not
 * declared: null keys, values or queries (ferrymap refuses null, as ConcurrentHashMap
 * does: the suites then check the NullPointerExceptions), a known iteration order,
 * serialization, and fail-fast iterators (iterators walk a snapshot and never throw
 * ConcurrentModificationException). No test is suppressed.
 */
@RunWith(AllTests.class)
public class GuavaMapSuitesTest {
    private static final Feature<?>[] FEATURES = {
        MapFeature.GENERAL_PURPOSE, CollectionFeature.SUPPORTS_ITERATOR_REMOVE, CollectionSize.ANY,
    };

    public static Test suite() {
        TestSuite all = new TestSuite("ferrymap asMap() views");
        TestStringMapGenerator strings = new TestStringMapGenerator() {
            @Override
            protected Map<String, String> create(Map.Entry<String, String>[] entries) {
                return fill(FerryMap.create(Codec.STRING, Codec.STRING).asMap(), entries);
            }
        };
        all.addTest(MapTestSuiteBuilder.using(strings).named("FerryMap<String,String> as Map")
                .withFeatures(FEATURES).createTestSuite());
        all.addTest(ConcurrentMapTestSuiteBuilder.using(strings).named("FerryMap<String,String> as ConcurrentMap")
                .withFeatures(FEATURES).createTestSuite());
        LongGenerator boxed = new LongGenerator(() -> FerryMap.create(Codec.LONG, Codec.LONG).asMap());
        all.addTest(ConcurrentMapTestSuiteBuilder.using(boxed).named("FerryMap<Long,Long> as ConcurrentMap")
                .withFeatures(FEATURES).createTestSuite());
        LongGenerator primitive = new LongGenerator(() -> LongLongMap.create().asMap());
        all.addTest(ConcurrentMapTestSuiteBuilder.using(primitive).named("LongLongMap as ConcurrentMap")
                .withFeatures(FEATURES).createTestSuite());
        return all;
    }

    private static <K, V> Map<K, V> fill(ConcurrentMap<K, V> map, Map.Entry<K, V>[] entries) {
        for (Map.Entry<K, V> e : entries) {
            map.put(e.getKey(), e.getValue());
        }
        return map;
    }

    /** Maps of Long to Long, with negative, zero and extreme samples. */
    private static final class LongGenerator implements TestMapGenerator<Long, Long> {
        private final Supplier<ConcurrentMap<Long, Long>> factory;

        LongGenerator(Supplier<ConcurrentMap<Long, Long>> factory) {
            this.factory = factory;
        }

        private static Map.Entry<Long, Long> entry(long k, long v) {
            return new AbstractMap.SimpleImmutableEntry<>(k, v);
        }

        @Override
        public SampleElements<Map.Entry<Long, Long>> samples() {
            return new SampleElements<>(entry(0, 1), entry(-1, Long.MIN_VALUE), entry(42, 0),
                    entry(Long.MAX_VALUE, -5), entry(7, 7));
        }

        @Override
        @SuppressWarnings("unchecked")
        public Map<Long, Long> create(Object... entries) {
            ConcurrentMap<Long, Long> map = factory.get();
            for (Object o : entries) {
                Map.Entry<Long, Long> e = (Map.Entry<Long, Long>) o;
                map.put(e.getKey(), e.getValue());
            }
            return map;
        }

        @Override
        @SuppressWarnings("unchecked")
        public Map.Entry<Long, Long>[] createArray(int length) {
            return new Map.Entry[length];
        }

        @Override
        public Iterable<Map.Entry<Long, Long>> order(List<Map.Entry<Long, Long>> insertionOrder) {
            return insertionOrder;
        }

        @Override
        public Long[] createKeyArray(int length) {
            return new Long[length];
        }

        @Override
        public Long[] createValueArray(int length) {
            return new Long[length];
        }
    }
}
