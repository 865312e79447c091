package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(LeakCheck.class)
class LibraryTest {
    @Test
    void identityAndVersion() {
        long id = Library.registryId();
        assertNotEquals(0, id);
        assertEquals(id, Library.registryId());
        assertTrue(Library.libraryPath().endsWith("libferrymap.so"), Library.libraryPath());
        assertEquals("0.1.0", Library.version());
        assertEquals(0x000100, Library.versionNumber());
        assertEquals("0.1.0", Library.bindingVersion());
        assertEquals("java.library.path", Library.loadedVia()); // surefire sets it to target/release
        // once loaded, the library is mapped and the loader would find this very file
        assertEquals(java.nio.file.Path.of(Library.libraryPath()).toAbsolutePath().normalize(),
                java.nio.file.Path.of(Loader.alreadyMapped()).toAbsolutePath().normalize());
    }

    @Test
    void census() {
        long maps = Library.census(HandleKind.MAP);
        try (LongLongMap m = LongLongMap.create()) {
            assertEquals(maps + 1, Library.census(HandleKind.MAP));
            try (LongLongCursor c = m.cursor()) {
                assertEquals(1, Library.census(HandleKind.ITERATOR));
                assertFalse(c.next());
            }
            assertEquals(0, Library.census(HandleKind.ITERATOR));
        }
        assertEquals(maps, Library.census(HandleKind.MAP));
        assertEquals(0, Library.census(HandleKind.TICKET));
    }
}
