package dev.lora4j.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class TextOutputTest {
    final List<String> pieces = new ArrayList<>();

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void passesOnWholeCharactersOnly() {
        TextOutput out = new TextOutput(List.of(), pieces::add);
        byte[] e = utf8("é€");
        assertFalse(out.write(utf8("caf")));
        assertFalse(out.write(new byte[] {e[0]}));
        assertFalse(out.write(new byte[] {e[1], e[2]}));
        assertFalse(out.write(new byte[] {e[3], e[4]}));
        assertEquals("café€", out.finish());
        assertEquals(List.of("caf", "é", "€"), pieces);
    }

    @Test
    void aTruncatedCharacterAtTheEndIsReplaced() {
        TextOutput out = new TextOutput(List.of(), pieces::add);
        out.write(utf8("a"));
        out.write(new byte[] {utf8("é")[0]});
        assertEquals("a\uFFFD", out.finish());
        assertEquals("a\uFFFD", String.join("", pieces));
    }

    @Test
    void endsBeforeAStopStringSpreadOverTokens() {
        TextOutput out = new TextOutput(List.of("o w"), pieces::add);
        assertFalse(out.write(utf8("Hel")));
        assertTrue(out.write(utf8("lo wo")));
        assertEquals("Hell", out.finish());
        assertEquals("Hell", String.join("", pieces));
    }

    @Test
    void holdsBackWhatMayStartAStopStringUntilItIsNotOne() {
        TextOutput out = new TextOutput(List.of("END"), pieces::add);
        assertFalse(out.write(utf8("abc E")));
        assertEquals(List.of("abc "), pieces);
        assertFalse(out.write(utf8("N")));
        assertEquals(List.of("abc "), pieces);
        assertFalse(out.write(utf8("x")));
        assertEquals(List.of("abc ", "ENx"), pieces);
        assertFalse(out.write(utf8(" EN")));
        assertEquals("abc ENx EN", out.finish(), "at the end, the held-back text is text");
        assertEquals("abc ENx EN", String.join("", pieces));
    }

    @Test
    void theEarliestStopStringWins() {
        TextOutput out = new TextOutput(List.of("world", "lo"), pieces::add);
        assertTrue(out.write(utf8("Hello world")));
        assertEquals("Hel", out.finish());
        assertEquals("Hel", String.join("", pieces));
    }

    @Test
    void worksWithoutASink() {
        TextOutput out = new TextOutput(List.of("!"), null);
        assertFalse(out.write(utf8("Hi")));
        assertTrue(out.write(utf8(" there! more")));
        assertEquals("Hi there", out.finish());
    }
}
