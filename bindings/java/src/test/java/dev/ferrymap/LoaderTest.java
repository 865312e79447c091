package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** How Native finds libferrymap.so, each case in a fresh JVM. */
@ExtendWith(LeakCheck.class)
class LoaderTest {
    record Result(int exit, String output) {}

    private static final String NO_PATH = "-Djava.library.path=/nonexistent";

    private static List<String> command(String classPath, String... jvmArgs) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xcheck:jni");
        cmd.addAll(List.of(jvmArgs));
        cmd.add("-cp");
        cmd.add(classPath);
        cmd.add(LoaderProbe.class.getName());
        return cmd;
    }

    private static Process start(Map<String, String> env, String classPath, String... jvmArgs) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command(classPath, jvmArgs)).redirectErrorStream(true);
        pb.environment().putAll(env);
        return pb.start();
    }

    private static Result finish(Process p) throws IOException, InterruptedException {
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return new Result(p.exitValue(), out);
    }

    private static Result probe(Map<String, String> env, String... jvmArgs) throws IOException, InterruptedException {
        return finish(start(env, System.getProperty("java.class.path"), jvmArgs));
    }

    private static String loaded() {
        return Path.of(Library.libraryPath()).toAbsolutePath().normalize().toString();
    }

    /** The library file the build put into the jar (target/classes/native/...). */
    private static Path bundledResource() throws URISyntaxException {
        return Path.of(Loader.class.getResource(Loader.RESOURCE).toURI());
    }

    private static Path codeSource(Class<?> c) throws URISyntaxException {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    @Test
    void systemPropertyNamesTheFile() throws Exception {
        Result r = probe(Map.of(), "-Dferrymap.library.path=" + loaded(), NO_PATH);
        assertEquals(0, r.exit(), r.output());
        assertTrue(r.output().contains("path=" + loaded()), r.output());
        assertTrue(r.output().contains("via=property"), r.output());
        assertTrue(r.output().contains("get=2"), r.output());
    }

    @Test
    void aBadPropertyIsTheErrorNothingElseIsTried() throws Exception {
        Result r = probe(Map.of(), "-Dferrymap.library.path=/nonexistent/libferrymap.so");
        assertNotEquals(0, r.exit(), r.output());
        assertTrue(r.output().contains("UnsatisfiedLinkError"), r.output());
        assertTrue(r.output().contains("/nonexistent/libferrymap.so, named by -Dferrymap.library.path"), r.output());
    }

    @Test
    void aCopyAlreadyMappedIsJoined() throws Exception {
        // Another "language" loaded the library first: here the dynamic loader, through
        // LD_PRELOAD, from a directory java.library.path does not name.
        Path dir = Files.createTempDirectory("ferrymap-preloaded");
        Path copy = Files.copy(Path.of(loaded()), dir.resolve("libferrymap.so"));
        try {
            Result r = probe(Map.of("LD_PRELOAD", copy.toString()), NO_PATH);
            assertEquals(0, r.exit(), r.output());
            assertTrue(r.output().contains("path=" + copy), r.output());
            assertTrue(r.output().contains("via=mapped"), r.output());
        } finally {
            Files.deleteIfExists(copy);
            Files.deleteIfExists(dir);
        }
    }

    @Test
    void thenJavaLibraryPath(@TempDir Path cache) throws Exception {
        Result r = probe(Map.of(), "-Djava.library.path=" + Path.of(loaded()).getParent(),
                "-Dferrymap.cache.dir=" + cache);
        assertEquals(0, r.exit(), r.output());
        assertTrue(r.output().contains("via=java.library.path"), r.output());
        assertTrue(r.output().contains("path=" + Path.of(loaded()).getParent()), r.output());
        try (Stream<Path> s = Files.list(cache)) {
            assertEquals(0, s.count(), "nothing extracted when java.library.path has the library");
        }
    }

    @Test
    void thenTheJarsOwnCopyExtractedByHash(@TempDir Path cache) throws Exception {
        Result r = probe(Map.of(), NO_PATH, "-Dferrymap.cache.dir=" + cache);
        assertEquals(0, r.exit(), r.output());
        assertTrue(r.output().contains("via=bundled"), r.output());
        assertTrue(r.output().contains("get=2"), r.output());
        Path extracted = onlyLibraryIn(cache);
        assertTrue(r.output().contains("path=" + extracted), r.output());
        assertArrayEquals(Files.readAllBytes(bundledResource()), Files.readAllBytes(extracted));
        assertTrue(extracted.getParent().getFileName().toString().startsWith("0.1.0-" + Loader.PLATFORM + "-"),
                extracted.toString());

        // A second JVM reuses the extracted file as it is.
        Object key = Files.readAttributes(extracted, BasicFileAttributes.class).fileKey();
        Result again = probe(Map.of(), NO_PATH, "-Dferrymap.cache.dir=" + cache);
        assertEquals(0, again.exit(), again.output());
        assertEquals(key, Files.readAttributes(extracted, BasicFileAttributes.class).fileKey());

        // A damaged file in the cache is replaced, not loaded.
        Files.write(extracted, new byte[] {0x7f, 'E', 'L', 'F', 0});
        Result repaired = probe(Map.of(), NO_PATH, "-Dferrymap.cache.dir=" + cache);
        assertEquals(0, repaired.exit(), repaired.output());
        assertArrayEquals(Files.readAllBytes(bundledResource()), Files.readAllBytes(extracted));
    }

    @Test
    void jvmsExtractingAtOnceAllLoadOneCompleteFile(@TempDir Path cache) throws Exception {
        List<Process> ps = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            ps.add(start(Map.of(), System.getProperty("java.class.path"), NO_PATH, "-Dferrymap.cache.dir=" + cache));
        }
        Path extracted = null;
        for (Process p : ps) {
            Result r = finish(p);
            assertEquals(0, r.exit(), r.output());
            assertTrue(r.output().contains("via=bundled") && r.output().contains("get=2"), r.output());
            extracted = onlyLibraryIn(cache);
        }
        assertArrayEquals(Files.readAllBytes(bundledResource()), Files.readAllBytes(extracted));
        try (Stream<Path> s = Files.list(extracted.getParent())) {
            assertEquals(List.of(extracted), s.toList(), "temporary files left behind");
        }
    }

    @Test
    void whenNothingWorksTheErrorNamesEveryWayTried(@TempDir Path tmp) throws Exception {
        // The binding's classes without the jar's native folder.
        Path classes = codeSource(Loader.class);
        Path stripped = tmp.resolve("classes");
        try (Stream<Path> walk = Files.walk(classes)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                Path rel = classes.relativize(p);
                if (rel.startsWith("native")) {
                    continue;
                }
                Path to = stripped.resolve(rel.toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(to);
                } else {
                    Files.copy(p, to, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        String cp = stripped + java.io.File.pathSeparator + codeSource(LoaderProbe.class);
        Result r = finish(start(Map.of(), cp, NO_PATH, "-Dferrymap.cache.dir=" + tmp.resolve("cache")));
        assertNotEquals(0, r.exit(), r.output());
        for (String want : Arrays.asList("UnsatisfiedLinkError", "Tried, in order:", "-Dferrymap.library.path: not set",
                "/proc/self/maps", "java.library.path (/nonexistent)",
                "native/" + Loader.PLATFORM + "/libferrymap.so): this jar has none", "To fix it",
                "scripts/build-core")) {
            assertTrue(r.output().contains(want), "missing '" + want + "' in:\n" + r.output());
        }
    }

    @Test
    void versionHandshakeComparesMajorVersions() {
        assertNull(Loader.checkVersion(0x000100, "0.1.0"));
        assertNull(Loader.checkVersion(0x000205, "0.1.0"), "same major, newer minor");
        String msg = Loader.checkVersion(0x010000, "0.1.0");
        assertNotNull(msg);
        assertTrue(msg.contains("version 1.0.0") && msg.contains("version 0.1.0"), msg);
        assertNotNull(Loader.checkVersion(0x000100, "1.0.0"));
        assertNotNull(Loader.checkVersion(0x000100, "${project.version}"));
    }

    @Test
    void platformFolders() {
        assertEquals("linux-x86_64", Loader.platform("Linux", "amd64"));
        assertEquals("linux-aarch64", Loader.platform("Linux", "aarch64"));
        assertEquals("macos-aarch64", Loader.platform("Mac OS X", "aarch64"));
        assertEquals("windows-x86_64", Loader.platform("Windows 11", "amd64"));
    }

    private static Path onlyLibraryIn(Path cache) throws IOException {
        try (Stream<Path> s = Files.walk(cache)) {
            List<Path> libs = s.filter(p -> p.getFileName().toString().equals("libferrymap.so")).toList();
            assertEquals(1, libs.size(), libs.toString());
            return libs.get(0);
        }
    }
}
