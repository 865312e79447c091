package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** How Native finds libferrymap.so, each case in a fresh JVM. */
@ExtendWith(LeakCheck.class)
class LoaderTest {
    record Result(int exit, String output) {}

    private static Result probe(Map<String, String> env, String... jvmArgs) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xcheck:jni");
        cmd.addAll(List.of(jvmArgs));
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(LoaderProbe.class.getName());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return new Result(p.exitValue(), out);
    }

    private static String loaded() {
        return Path.of(Library.libraryPath()).toAbsolutePath().normalize().toString();
    }

    @Test
    void systemPropertyNamesTheFile() throws Exception {
        Result r = probe(Map.of(), "-Dferrymap.library.path=" + loaded(), "-Djava.library.path=/nonexistent");
        assertEquals(0, r.exit(), r.output());
        assertTrue(r.output().contains("path=" + loaded()), r.output());
        assertTrue(r.output().contains("get=2"), r.output());
    }

    @Test
    void aCopyAlreadyMappedIsJoined() throws Exception {
        // Another "language" loaded the library first: here the dynamic loader, through
        // LD_PRELOAD, from a directory java.library.path does not name.
        Path dir = Files.createTempDirectory("ferrymap-preloaded");
        Path copy = Files.copy(Path.of(loaded()), dir.resolve("libferrymap.so"));
        try {
            Result r = probe(Map.of("LD_PRELOAD", copy.toString()), "-Djava.library.path=/nonexistent");
            assertEquals(0, r.exit(), r.output());
            assertTrue(r.output().contains("path=" + copy), r.output());
        } finally {
            Files.deleteIfExists(copy);
            Files.deleteIfExists(dir);
        }
    }

    @Test
    void otherwiseJavaLibraryPath() throws Exception {
        Result ok = probe(Map.of(), "-Djava.library.path=" + Path.of(loaded()).getParent());
        assertEquals(0, ok.exit(), ok.output());
        Result missing = probe(Map.of(), "-Djava.library.path=/nonexistent");
        assertNotEquals(0, missing.exit());
        assertTrue(missing.output().contains("UnsatisfiedLinkError"), missing.output());
    }
}
