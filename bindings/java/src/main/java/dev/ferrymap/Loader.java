package dev.ferrymap;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

/**
 * Loads {@code libferrymap.so} so that Java joins the registry other languages in the
 * process already use (a second copy of the library would have its own registry, and
 * handles would not cross). The first of these that applies wins:
 *
 * <ol>
 *   <li>The system property {@value #PROPERTY}: {@code System.load} that file. If it
 *       cannot be loaded, that is the error; nothing else is tried.</li>
 *   <li>A {@code libferrymap*.so*} already mapped into the process (C, Python or Go loaded
 *       it first; found in {@code /proc/self/maps}): {@code System.load} that exact file,
 *       and the dynamic loader hands back the copy already loaded.</li>
 *   <li>{@code System.loadLibrary("ferrymap")}, through {@code java.library.path} (for
 *       example an installed C package's {@code lib} directory).</li>
 *   <li>The copy inside this jar, {@code native/<os>-<arch>/libferrymap.so}, extracted to
 *       a per-user cache directory named after its SHA-256 ({@value #CACHE_PROPERTY}, else
 *       {@code $XDG_CACHE_HOME/ferrymap}, else {@code ~/.cache/ferrymap}). It is written to
 *       a temporary file and renamed into place, so JVMs extracting at once never see a
 *       partial file; an existing file is used only if its hash matches.</li>
 * </ol>
 *
 * <p>When nothing works, the {@link UnsatisfiedLinkError} lists every way tried, why each
 * failed, and what to do. Once loaded, the library's major version must equal the one this
 * binding was built for (the version handshake); otherwise loading fails naming both.
 *
 * <p>Threads: {@link #load()} runs once, from {@code Native}'s class initialiser, which the
 * JVM runs on one thread.
 */
final class Loader {
    /** System property naming the library file to load. */
    static final String PROPERTY = "ferrymap.library.path";
    /** System property naming the directory the jar's copy is extracted under. */
    static final String CACHE_PROPERTY = "ferrymap.cache.dir";
    /** The platform folder of this JVM inside the jar, e.g. {@code linux-x86_64}. */
    static final String PLATFORM = platform(System.getProperty("os.name"), System.getProperty("os.arch"));
    /** Where the jar keeps its copy of the library for this platform. */
    static final String RESOURCE = "/native/" + PLATFORM + "/libferrymap.so";

    /** The version this binding was built as (from the jar's version.properties). */
    static final String BUILT_VERSION = builtVersion();

    /** How the library was found: property, mapped, java.library.path or bundled. */
    private static volatile String source = "not loaded";

    private Loader() {}

    /** The step that loaded the library, for diagnostics. */
    static String source() {
        return source;
    }

    static void load() {
        String explicit = System.getProperty(PROPERTY);
        if (explicit != null && !explicit.isEmpty()) {
            String file = Paths.get(explicit).toAbsolutePath().toString();
            try {
                System.load(file);
            } catch (UnsatisfiedLinkError e) {
                throw linkError("ferrymap: cannot load " + file + ", named by -D" + PROPERTY + ": "
                        + e.getMessage() + ". Point the property at a libferrymap.so built for "
                        + PLATFORM + ", or remove it to let the binding find the library itself.", e);
            }
            loaded("property", file);
            return;
        }

        List<String> tried = new ArrayList<>();
        tried.add("-D" + PROPERTY + ": not set");

        String mapped = alreadyMapped();
        if (mapped != null) {
            System.load(mapped);
            loaded("mapped", mapped);
            return;
        }
        tried.add("a copy already loaded in the process (/proc/self/maps): none");

        boolean fromPath = false;
        try {
            System.loadLibrary("ferrymap");
            fromPath = true;
        } catch (UnsatisfiedLinkError e) {
            tried.add("System.loadLibrary(\"ferrymap\") through java.library.path ("
                    + System.getProperty("java.library.path") + "): " + e.getMessage());
        }
        if (fromPath) {
            loaded("java.library.path", null);
            return;
        }

        String bundled = null;
        try {
            Path file = extractBundled();
            if (file == null) {
                tried.add("the jar's own copy (" + RESOURCE.substring(1) + "): this jar has none for "
                        + PLATFORM);
            } else {
                try {
                    System.load(file.toString());
                    bundled = file.toString();
                } catch (UnsatisfiedLinkError e) {
                    tried.add("the jar's own copy, extracted to " + file + ": " + e.getMessage());
                }
            }
        } catch (IOException | UncheckedIOException | SecurityException | UnsupportedOperationException e) {
            tried.add("the jar's own copy (" + RESOURCE.substring(1) + "): cannot extract it: " + e);
        }
        if (bundled != null) {
            loaded("bundled", bundled);
            return;
        }

        StringBuilder msg = new StringBuilder("ferrymap: cannot load libferrymap.so for ")
                .append(PLATFORM).append(". Tried, in order:");
        for (int i = 0; i < tried.size(); i++) {
            msg.append("\n  ").append(i + 1).append(". ").append(tried.get(i));
        }
        msg.append("\nTo fix it, do one of: run with -D").append(PROPERTY)
                .append("=/path/to/libferrymap.so; add the directory holding libferrymap.so (an installed C")
                .append(" package's lib/) to -Djava.library.path; use a ferrymap jar that carries native/")
                .append(PLATFORM).append("/libferrymap.so; or, in a checkout, build the library with")
                .append(" scripts/build-core. If extraction failed, set -D").append(CACHE_PROPERTY)
                .append(" to a writable directory.");
        throw new UnsatisfiedLinkError(msg.toString());
    }

    private static UnsatisfiedLinkError linkError(String message, Throwable cause) {
        UnsatisfiedLinkError e = new UnsatisfiedLinkError(message);
        e.initCause(cause);
        return e;
    }

    /** Records how the library was found and applies the version handshake. */
    private static void loaded(String how, String file) {
        source = how;
        int version = Native.version();
        String problem = checkVersion(version, BUILT_VERSION);
        if (problem != null) {
            String where = file != null ? file : new String(Native.libraryPath(), StandardCharsets.UTF_8);
            throw new UnsatisfiedLinkError(problem + " (library " + where + ", found via " + how + ")");
        }
    }

    /**
     * The version handshake: null if a library of {@code libraryVersion} ({@code major << 16
     * | minor << 8 | patch}) can serve a binding built as {@code built} ("major.minor.patch"),
     * else a message naming both. Only the major version must match.
     */
    static String checkVersion(int libraryVersion, String built) {
        int builtMajor;
        try {
            builtMajor = Integer.parseInt(built.substring(0, built.indexOf('.')));
        } catch (RuntimeException e) {
            return "ferrymap: this jar does not say which version it was built as ('" + built
                    + "' in dev/ferrymap/version.properties)";
        }
        int major = libraryVersion >>> 16;
        if (major == builtMajor) {
            return null;
        }
        return "ferrymap: the loaded libferrymap is version " + Library.versionText(libraryVersion)
                + ", but this Java binding is version " + built + "; major versions " + major + " and "
                + builtMajor + " differ. Use a libferrymap " + builtMajor + ".x (or a ferrymap jar "
                + major + ".x)";
    }

    /** The path of a libferrymap*.so* already mapped into this process, or null. */
    static String alreadyMapped() {
        List<String> lines;
        try {
            lines = Files.readAllLines(Paths.get("/proc/self/maps"), StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            return null; // not Linux, or /proc not mounted
        }
        for (String line : lines) {
            int slash = line.indexOf('/');
            if (slash < 0 || line.endsWith(" (deleted)")) {
                continue;
            }
            String path = line.substring(slash);
            String name = path.substring(path.lastIndexOf('/') + 1);
            if (name.startsWith("libferrymap") && (name.endsWith(".so") || name.contains(".so."))
                    && Files.isRegularFile(Path.of(path))) {
                return path;
            }
        }
        return null;
    }

    /**
     * Extracts the jar's copy for this platform into the cache and returns its path, or
     * null if the jar has none. Reuses an extracted file whose content hash matches.
     */
    static Path extractBundled() throws IOException {
        byte[] bytes;
        try (InputStream in = Loader.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                return null;
            }
            bytes = in.readAllBytes();
        }
        byte[] digest = sha256(bytes);
        String hex = HexFormat.of().formatHex(digest);
        Path dir = cacheRoot().resolve(BUILT_VERSION + "-" + PLATFORM + "-" + hex.substring(0, 32));
        Path target = dir.resolve("libferrymap.so");
        if (Files.isRegularFile(target) && Arrays.equals(sha256(Files.readAllBytes(target)), digest)) {
            return target;
        }
        createPrivateDirectories(dir);
        Path tmp = Files.createTempFile(dir, ".libferrymap-", ".tmp");
        try {
            Files.write(tmp, bytes);
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot rename into " + dir + " atomically", e);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        return target;
    }

    /** The per-user directory the jar's copy is extracted under. */
    static Path cacheRoot() {
        String dir = System.getProperty(CACHE_PROPERTY);
        if (dir != null && !dir.isEmpty()) {
            return Paths.get(dir).toAbsolutePath();
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && xdg.startsWith("/")) {
            return Paths.get(xdg, "ferrymap");
        }
        return Paths.get(System.getProperty("user.home"), ".cache", "ferrymap");
    }

    /** Makes dir and missing parents; the ones made are readable by the owner only. */
    private static void createPrivateDirectories(Path dir) throws IOException {
        if (Files.isDirectory(dir)) {
            return;
        }
        Path parent = dir.getParent();
        if (parent != null) {
            createPrivateDirectories(parent);
        }
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(dir)) {
                throw e;
            } // another JVM made it first
        }
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }

    /** The jar's platform folder for an os.name and os.arch, e.g. linux-x86_64. */
    static String platform(String osName, String osArch) {
        String os = osName == null ? "unknown" : osName.toLowerCase(Locale.ROOT);
        if (os.startsWith("linux")) {
            os = "linux";
        } else if (os.startsWith("mac") || os.startsWith("darwin")) {
            os = "macos";
        } else if (os.startsWith("windows")) {
            os = "windows";
        } else {
            os = os.replaceAll("[^a-z0-9]+", "");
        }
        String arch = osArch == null ? "unknown" : osArch.toLowerCase(Locale.ROOT);
        switch (arch) {
            case "amd64", "x86_64", "x64" -> arch = "x86_64";
            case "aarch64", "arm64" -> arch = "aarch64";
            default -> arch = arch.replaceAll("[^a-z0-9_]+", "");
        }
        return os + "-" + arch;
    }

    private static String builtVersion() {
        Properties p = new Properties();
        try (InputStream in = Loader.class.getResourceAsStream("version.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            return "unknown";
        }
        return p.getProperty("version", "unknown");
    }
}
