package dev.ferrymap;

import java.nio.charset.StandardCharsets;

/**
 * Strings cross the boundary as exact UTF-8 (never JNI's modified UTF-8), so a string
 * with an embedded NUL or characters outside the BMP reads back identically in every
 * language. A string that has no UTF-8 form (an unpaired surrogate) is rejected rather
 * than silently turned into '?'.
 */
final class Utf8 {
    private Utf8() {}

    static byte[] encode(String s, String what) {
        if (s == null) {
            throw new NullPointerException(what + " is null");
        }
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        // The JDK writes '?' for an unpaired surrogate: only then look closer.
        for (byte x : b) {
            if (x == '?') {
                checkSurrogates(s, what);
                break;
            }
        }
        return b;
    }

    private static void checkSurrogates(String s, String what) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new IllegalArgumentException(what + " has an unpaired surrogate at index " + i
                        + " and no UTF-8 form");
            }
        }
    }

    static String decode(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
