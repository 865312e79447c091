package dev.ferrymap;

/** Run in a child JVM by {@link LoaderTest}: prints where the library came from. */
public final class LoaderProbe {
    private LoaderProbe() {}

    public static void main(String[] args) {
        try (LongLongMap m = LongLongMap.create()) {
            m.put(1, 2);
            System.out.println("path=" + Library.libraryPath());
            System.out.println("via=" + Library.loadedVia());
            System.out.println("get=" + m.get(1));
        }
    }
}
