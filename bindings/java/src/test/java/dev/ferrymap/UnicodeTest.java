package dev.ferrymap;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Strings cross as exact UTF-8, never JNI's modified UTF-8 (DESIGN §3). */
@ExtendWith(LeakCheck.class)
class UnicodeTest {
    static final List<String> SAMPLES = List.of(
            "",
            "plain ascii",
            "nul\u0000inside",
            "\u0000",
            "emoji \uD83D\uDE80\uD83E\uDD80 outside the BMP",
            "\uD83D\uDE00",
            "caf\u00e9 \u65e5\u672c\u8a9e \u0928\u092e\u0938\u094d\u0924\u0947",
            "\uFFFF\uFFFE edge of the BMP",
            "mixed \u0000 \uD83D\uDE80 \u00e9");

    @Test
    void roundTripsExactBytes() {
        try (FerryMap<String, String> m = FerryMap.create(Codec.STRING, Codec.STRING)) {
            for (String s : SAMPLES) {
                m.put(s, s + "|" + s);
            }
            assertEquals(SAMPLES.size(), m.size());
            for (String s : SAMPLES) {
                assertEquals(s + "|" + s, m.get(s));
            }
            // The stored bytes are standard UTF-8: what C, Python and Go read.
            try (FerryMap<byte[], byte[]> raw = FerryMap.attach(m.handle(), Codec.BYTES, Codec.BYTES)) {
                for (String s : SAMPLES) {
                    byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
                    byte[] stored = raw.get(utf8);
                    assertArrayEquals((s + "|" + s).getBytes(StandardCharsets.UTF_8), stored);
                }
                // "\0" is one zero byte in UTF-8 (modified UTF-8 would make it C0 80)
                assertArrayEquals(new byte[] {0, '|', 0}, raw.get(new byte[] {0}));
                // an emoji is 4 bytes in UTF-8 (modified UTF-8 would make it 6)
                assertEquals(9, raw.get("\uD83D\uDE00".getBytes(StandardCharsets.UTF_8)).length);
            }
            // iteration and views decode the same way
            m.forEach((k, v) -> assertEquals(k + "|" + k, v));
            try (ValueView v = m.view("nul\u0000inside")) {
                assertEquals("nul\u0000inside|nul\u0000inside", v.asString());
            }
        }
    }

    @Test
    void rejectsWhatIsNotUtf8() {
        try (FerryMap<String, String> m = FerryMap.create(Codec.STRING, Codec.STRING)) {
            assertThrows(IllegalArgumentException.class, () -> m.put("lone \uD800 surrogate", "v"));
            assertThrows(IllegalArgumentException.class, () -> m.put("k", "\uDC00"));
            assertThrows(IllegalArgumentException.class, () -> m.put("k", "x\uD83D"));
            assertEquals("?", "?"); // a real question mark is fine
            m.put("why?", "because?");
            assertEquals("because?", m.get("why?"));
            try (FerryMap<byte[], byte[]> raw = FerryMap.attach(m.handle(), Codec.BYTES, Codec.BYTES)) {
                byte[] bad = {(byte) 0xC0, (byte) 0x80}; // modified UTF-8's NUL is not UTF-8
                assertThrows(IllegalArgumentException.class, () -> raw.put(bad, new byte[] {'v'}));
                assertThrows(IllegalArgumentException.class, () -> raw.put(new byte[] {'k'}, new byte[] {(byte) 0xFF}));
                assertThrows(IllegalArgumentException.class,
                        () -> raw.updateBytes("why?".getBytes(StandardCharsets.UTF_8), b -> b[0] = (byte) 0xFF));
            }
            assertEquals(1, m.size(), "nothing invalid was stored");
            assertEquals("because?", m.get("why?"));
        }
    }
}
