package dev.ferrymap;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;

/**
 * Loads {@code libferrymap.so} so that Java joins the registry other languages in the
 * process already use (a second copy of the library would have its own registry, and
 * handles would not cross).
 *
 * <ol>
 *   <li>If the system property {@value #PROPERTY} is set, {@code System.load} that file.</li>
 *   <li>Else, if the process already has a {@code libferrymap*.so} mapped (C, Python or Go
 *       loaded it first; found in {@code /proc/self/maps}), {@code System.load} that exact
 *       file: the dynamic loader then hands back the copy already loaded.</li>
 *   <li>Else {@code System.loadLibrary("ferrymap")}, through {@code java.library.path}.</li>
 * </ol>
 */
final class Loader {
    /** System property naming the library file to load. */
    static final String PROPERTY = "ferrymap.library.path";

    private Loader() {}

    static void load() {
        String explicit = System.getProperty(PROPERTY);
        if (explicit != null && !explicit.isEmpty()) {
            System.load(Paths.get(explicit).toAbsolutePath().toString());
            return;
        }
        String mapped = alreadyMapped();
        if (mapped != null) {
            System.load(mapped);
            return;
        }
        System.loadLibrary("ferrymap");
    }

    /** The path of a libferrymap*.so already mapped into this process, or null. */
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
}
