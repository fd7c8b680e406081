package dev.lora4j.fuzz;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The fuzzer's bytes as a stream of choices (the subset of Jazzer's FuzzedDataProvider the targets use): each choice
 * is read from the input while it lasts, then from a generator seeded by the whole input, so a short input still
 * makes every decision (and the same input always makes the same ones). Jazzer keeps FuzzedDataProvider inputs a
 * few bytes long; a plain {@code byte[]} target lets libFuzzer grow them to {@code -max_len}.
 */
final class Choices {
    private final byte[] data;
    private int pos;
    private final SplittableRandom rnd;

    Choices(byte[] data) {
        this.data = data;
        this.rnd = new SplittableRandom(Arrays.hashCode(data) * 0x9E3779B97F4A7C15L);
    }

    private long bits(int nBytes) {
        if (pos + nBytes > data.length) {
            return rnd.nextLong();
        }
        long v = 0;
        for (int i = 0; i < nBytes; i++) {
            v = (v << 8) | (data[pos++] & 0xff);
        }
        return v;
    }

    int consumeInt(int min, int max) {
        long range = (long) max - min + 1;
        int n = range <= 0x100 ? 1 : range <= 0x10000 ? 2 : 4;
        return (int) (min + Long.remainderUnsigned(bits(n), range));
    }

    int consumeInt() {
        return (int) bits(4);
    }

    long consumeLong() {
        return bits(8);
    }

    byte consumeByte() {
        return (byte) bits(1);
    }

    boolean consumeBoolean() {
        return (bits(1) & 1) != 0;
    }

    float consumeFloat() {
        return switch (consumeInt(0, 7)) {
            case 0 -> Float.NaN;
            case 1 -> Float.POSITIVE_INFINITY;
            case 2 -> -Float.MAX_VALUE;
            case 3 -> Float.MIN_VALUE;
            default -> Float.intBitsToFloat(consumeInt());
        };
    }

    <T> T pickValue(T[] values) {
        return values[consumeInt(0, values.length - 1)];
    }

    <T> T pickValue(List<T> values) {
        return values.get(consumeInt(0, values.size() - 1));
    }

    long pickValue(long[] values) {
        return values[consumeInt(0, values.length - 1)];
    }

    float pickValue(float[] values) {
        return values[consumeInt(0, values.length - 1)];
    }

    /** Up to {@code maxLength} chars: bytes of the input as UTF-8 (lenient), or random code points once it is used up. */
    String consumeString(int maxLength) {
        int n = consumeInt(0, maxLength);
        if (pos + n <= data.length) {
            String s = new String(data, pos, n, StandardCharsets.UTF_8);
            pos += n;
            return s;
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.appendCodePoint(randomCodePoint());
        }
        return sb.toString();
    }

    private int randomCodePoint() {
        return switch (rnd.nextInt(6)) {
            case 0 -> rnd.nextInt(0x80);
            case 1 -> rnd.nextInt(0x800);
            case 2 -> 0xD800 + rnd.nextInt(0x800); // lone surrogates
            case 3 -> rnd.nextInt(0x10000);
            case 4 -> 0x10000 + rnd.nextInt(0x100000);
            default -> " \n\t<>{}\"\\|:".charAt(rnd.nextInt(11));
        };
    }

    /** The rest of the input as chars (two bytes each, so lone surrogates occur), or random text when none is left. */
    String consumeRemainingAsString() {
        if (pos >= data.length) {
            return consumeString(32);
        }
        StringBuilder sb = new StringBuilder();
        while (pos + 1 < data.length) {
            sb.append((char) (((data[pos] & 0xff) << 8) | (data[pos + 1] & 0xff)));
            pos += 2;
        }
        pos = data.length;
        return sb.toString();
    }

    byte[] consumeRemainingAsBytes() {
        byte[] b = Arrays.copyOfRange(data, Math.min(pos, data.length), data.length);
        pos = data.length;
        return b;
    }
}
