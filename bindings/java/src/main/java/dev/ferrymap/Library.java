package dev.ferrymap;

import java.nio.charset.StandardCharsets;

/** Library-wide facts: version, which copy of the core this is, and the census of live handles. */
public final class Library {
    private Library() {}

    /**
     * The loaded library's version, "major.minor.patch" (for example "0.1.0"). Loading
     * already checked that its major version is this binding's ({@link #bindingVersion()}).
     */
    public static String version() {
        return versionText(versionNumber());
    }

    /** The loaded library's version as {@code major << 16 | minor << 8 | patch}. */
    public static int versionNumber() {
        return Native.version();
    }

    /** The version of this Java binding (the jar), "major.minor.patch". */
    public static String bindingVersion() {
        return Loader.BUILT_VERSION;
    }

    /**
     * How the library was found: {@code "property"} ({@code -Dferrymap.library.path}),
     * {@code "mapped"} (a copy already loaded in the process), {@code "java.library.path"},
     * or {@code "bundled"} (the jar's own copy, extracted to the per-user cache).
     */
    public static String loadedVia() {
        Native.init();
        return Loader.source();
    }

    static String versionText(int v) {
        return (v >>> 16) + "." + ((v >>> 8) & 0xff) + "." + (v & 0xff);
    }

    /**
     * This copy of the core's registry identity. Every language in the process that reports
     * the same number shares one registry, so handles pass freely between them.
     */
    public static long registryId() {
        return Native.registryId();
    }

    /** The file the core was loaded from (as the dynamic loader reports it). */
    public static String libraryPath() {
        return new String(Native.libraryPath(), StandardCharsets.UTF_8);
    }

    /** Live handles of one kind, in every language of the process together. */
    public static long census(HandleKind kind) {
        return Native.census(kind.code);
    }

    /** Live handles of every kind. A test suite that leaked nothing ends at 0. */
    public static long censusTotal() {
        return Native.censusTotal();
    }
}
