package dev.lora4j.serve;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.Consumer;

/**
 * The text of one request as its tokens arrive: passes on only complete UTF-8 characters (as {@code Context}'s
 * generation does) and holds back what could be the start of a stop string until the next token says whether it is
 * one. With a stop string found, the text ends before it.
 */
final class TextOutput {
    private final List<String> stops;
    private final int longestStop;
    private final Consumer<String> sink;
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE);
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final StringBuilder text = new StringBuilder();
    private ByteBuffer pending = ByteBuffer.allocate(0);
    private int emitted; // chars of text passed to the sink
    private boolean stopped;

    TextOutput(List<String> stops, Consumer<String> sink) {
        this.stops = stops;
        this.longestStop = stops.stream().mapToInt(String::length).max().orElse(0);
        this.sink = sink;
    }

    /** Adds a token's bytes; true when a stop string has now appeared (the text then ends before it). */
    boolean write(byte[] tokenBytes) {
        if (stopped) {
            throw new IllegalStateException("the text has ended at a stop string");
        }
        bytes.writeBytes(tokenBytes);
        ByteBuffer in = ByteBuffer.allocate(pending.remaining() + tokenBytes.length);
        in.put(pending).put(tokenBytes).flip();
        CharBuffer out = CharBuffer.allocate(in.remaining() + 1);
        decoder.decode(in, out, false);
        pending = in.slice();
        out.flip();
        return append(out);
    }

    /** The whole text; passes on what was held back. */
    String finish() {
        if (!stopped && pending.hasRemaining()) {
            append(new String(pending.array(), pending.arrayOffset() + pending.position(), pending.remaining(), StandardCharsets.UTF_8));
            pending = ByteBuffer.allocate(0);
        }
        if (!stopped) {
            emit(text.length());
            // without a stop string, the bytes decoded in one piece: exactly what Context.generate returns
            return bytes.toString(StandardCharsets.UTF_8);
        }
        return text.toString();
    }

    private boolean append(CharSequence chars) {
        if (chars.isEmpty()) {
            return false;
        }
        int before = text.length();
        text.append(chars);
        if (longestStop == 0) {
            emit(text.length());
            return false;
        }
        int at = -1;
        for (String s : stops) {
            int i = text.indexOf(s, Math.max(0, before - s.length() + 1));
            if (i >= 0 && (at < 0 || i < at)) {
                at = i;
            }
        }
        if (at >= 0) {
            text.setLength(at);
            emit(at);
            stopped = true;
            return true;
        }
        emit(text.length() - heldBack());
        return false;
    }

    /** Length of the longest end of the text that is the start of a stop string. */
    private int heldBack() {
        for (int n = Math.min(longestStop - 1, text.length()); n > 0; n--) {
            for (String s : stops) {
                if (s.length() > n && endsWithStartOf(s, n)) {
                    return n;
                }
            }
        }
        return 0;
    }

    private boolean endsWithStartOf(String s, int n) {
        int from = text.length() - n;
        for (int i = 0; i < n; i++) {
            if (text.charAt(from + i) != s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private void emit(int upTo) {
        if (upTo > emitted) {
            String piece = text.substring(emitted, upTo);
            emitted = upTo;
            if (sink != null) {
                sink.accept(piece);
            }
        }
    }
}
