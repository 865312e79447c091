package consumer;

import dev.ferrymap.Codec;
import dev.ferrymap.FerryMap;
import dev.ferrymap.Library;
import dev.ferrymap.LongLongMap;

/** Uses ferrymap as a project that depends on dev.ferrymap:ferrymap would; prints where the library came from. */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        try (LongLongMap m = LongLongMap.create()) {
            for (long k = 0; k < 1000; k++) {
                m.put(k, k * k);
            }
            if (m.size() != 1000 || m.get(999) != 998001L) {
                throw new AssertionError("wrong contents: size " + m.size() + ", get(999) " + m.get(999));
            }
        }
        try (FerryMap<String, String> m = FerryMap.create(Codec.STRING, Codec.STRING)) {
            m.put("k", "v\u00e9");
            if (!"v\u00e9".equals(m.get("k"))) {
                throw new AssertionError("wrong string read back");
            }
        }
        if (Library.censusTotal() != 0) {
            throw new AssertionError("handles left: " + Library.censusTotal());
        }
        System.out.println("version=" + Library.version());
        System.out.println("via=" + Library.loadedVia());
        System.out.println("path=" + Library.libraryPath());
        System.out.println("registry=" + Long.toHexString(Library.registryId()));
    }
}
