package dev.lora4j.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Conversions between floats and ggml tensor encodings, bit-exact with ggml's reference C code:
 * {@code ggml_compute_fp32_to_fp16}/{@code ggml_compute_fp16_to_fp32}, {@code ggml_compute_fp32_to_bf16}
 * (round to nearest even, NaN forced quiet), {@code quantize_row_q8_0_ref}, {@code quantize_row_q4_0_ref}
 * and the {@code dequantize_row_*} functions.
 *
 * <p>Quantise: F32, F16, BF16, Q8_0, Q4_0. Dequantise: those and F64, Q4_1, Q5_0, Q5_1. The element count
 * must be a multiple of the type's block size. All data is little-endian. This is lora4j's own Java code, which
 * needs no natives; what ggml's native code converts is {@link GgmlType#ggmlDequantizes()} and
 * {@link GgmlType#ggmlQuantizes()}.
 */
public final class GgmlQuant {
    private GgmlQuant() {
    }

    private static final ValueLayout.OfShort S16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Whether {@link #quantize} (in Java) supports the type. */
    public static boolean canQuantize(GgmlType type) {
        return switch (type) {
            case F32, F16, BF16, Q8_0, Q4_0 -> true;
            default -> false;
        };
    }

    /** Whether {@link #dequantize} (in Java) supports the type; ggml's own set is {@link GgmlType#ggmlDequantizes()}. */
    public static boolean canDequantize(GgmlType type) {
        return switch (type) {
            case F32, F16, BF16, F64, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 -> true;
            default -> false;
        };
    }

    // ------------------------------------------------------------------ scalars

    /** ggml's {@code ggml_compute_fp32_to_fp16}: round to nearest even, NaN becomes 0x7E00 (with sign). */
    public static short fp32ToFp16(float f) {
        final float scaleToInf = 0x1.0p+112f;
        final float scaleToZero = 0x1.0p-110f;
        float base = (Math.abs(f) * scaleToInf) * scaleToZero;

        final int w = Float.floatToRawIntBits(f);
        final int shl1W = w + w;
        final int sign = w & 0x80000000;
        int bias = shl1W & 0xFF000000;
        if (Integer.compareUnsigned(bias, 0x71000000) < 0) {
            bias = 0x71000000;
        }
        base = Float.intBitsToFloat((bias >>> 1) + 0x07800000) + base;
        final int bits = Float.floatToRawIntBits(base);
        final int expBits = (bits >>> 13) & 0x00007C00;
        final int mantissaBits = bits & 0x00000FFF;
        final int nonsign = expBits + mantissaBits;
        return (short) ((sign >>> 16) | (Integer.compareUnsigned(shl1W, 0xFF000000) > 0 ? 0x7E00 : nonsign));
    }

    /** ggml's {@code ggml_compute_fp16_to_fp32} (exact). */
    public static float fp16ToFp32(short h) {
        final int w = (h & 0xFFFF) << 16;
        final int sign = w & 0x80000000;
        final int twoW = w + w;

        final int expOffset = 0xE0 << 23;
        final float expScale = 0x1.0p-112f;
        final float normalized = Float.intBitsToFloat((twoW >>> 4) + expOffset) * expScale;

        final int magicMask = 126 << 23;
        final float magicBias = 0.5f;
        final float denormalized = Float.intBitsToFloat((twoW >>> 17) | magicMask) - magicBias;

        final int denormalizedCutoff = 1 << 27;
        final int result = sign | (Integer.compareUnsigned(twoW, denormalizedCutoff) < 0
                ? Float.floatToRawIntBits(denormalized) : Float.floatToRawIntBits(normalized));
        return Float.intBitsToFloat(result);
    }

    /** ggml's {@code ggml_compute_fp32_to_bf16}: round to nearest even; NaN keeps its top bits, forced quiet. */
    public static short fp32ToBf16(float f) {
        int i = Float.floatToRawIntBits(f);
        if ((i & 0x7fffffff) > 0x7f800000) {
            return (short) ((i >>> 16) | 64);
        }
        return (short) ((i + (0x7fff + ((i >>> 16) & 1))) >>> 16);
    }

    /** BF16 to float (exact). */
    public static float bf16ToFp32(short h) {
        return Float.intBitsToFloat((h & 0xFFFF) << 16);
    }

    /** C {@code roundf}: half away from zero. */
    static float roundf(float x) {
        double a = Math.floor(Math.abs((double) x) + 0.5);
        return (float) Math.copySign(a, x);
    }

    // ------------------------------------------------------------------ quantise

    /** Bytes that {@code n} elements of {@code type} take (n a multiple of the block size). */
    public static long bytesFor(GgmlType type, long n) {
        if (n < 0 || n % type.blockSize() != 0) {
            throw new IllegalArgumentException(n + " elements is not a multiple of the " + type + " block size " + type.blockSize());
        }
        return Math.multiplyExact(n / type.blockSize(), (long) type.typeSize());
    }

    /** Encodes all of {@code src} as {@code type}. */
    public static byte[] quantize(GgmlType type, float[] src) {
        long bytes = bytesFor(type, src.length);
        byte[] out = new byte[Math.toIntExact(bytes)];
        quantize(type, src, 0, src.length, MemorySegment.ofArray(out), 0);
        return out;
    }

    /**
     * Encodes {@code n} floats of {@code src} from {@code srcOffset} as {@code type} into {@code dst} at byte
     * {@code dstOffset}; returns the bytes written.
     */
    public static long quantize(GgmlType type, float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        long bytes = bytesFor(type, n);
        java.util.Objects.checkFromIndexSize(srcOffset, n, src.length);
        java.util.Objects.checkFromIndexSize(dstOffset, bytes, dst.byteSize());
        switch (type) {
            case F32 -> MemorySegment.copy(src, srcOffset, dst, F32, dstOffset, n);
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    dst.set(S16, dstOffset + 2L * i, fp32ToFp16(src[srcOffset + i]));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    dst.set(S16, dstOffset + 2L * i, fp32ToBf16(src[srcOffset + i]));
                }
            }
            case Q8_0 -> quantizeQ8_0(src, srcOffset, n, dst, dstOffset);
            case Q4_0 -> quantizeQ4_0(src, srcOffset, n, dst, dstOffset);
            default -> throw new UnsupportedOperationException("quantising to " + type + " is not implemented");
        }
        return bytes;
    }

    private static void quantizeQ8_0(float[] x, int off, int n, MemorySegment y, long yOff) {
        final int qk = 32;
        for (int i = 0; i < n / qk; i++) {
            int base = off + i * qk;
            float amax = 0.0f;
            for (int j = 0; j < qk; j++) {
                // MAX(amax, fabsf(v)) as a C macro: (amax > v ? amax : v)
                float v = Math.abs(x[base + j]);
                amax = amax > v ? amax : v;
            }
            final float d = amax / ((1 << 7) - 1);
            final float id = d != 0 ? 1.0f / d : 0.0f;
            long b = yOff + (long) i * 34;
            y.set(S16, b, fp32ToFp16(d));
            for (int j = 0; j < qk; j++) {
                float x0 = x[base + j] * id;
                y.set(ValueLayout.JAVA_BYTE, b + 2 + j, (byte) (int) roundf(x0));
            }
        }
    }

    private static void quantizeQ4_0(float[] x, int off, int n, MemorySegment y, long yOff) {
        final int qk = 32;
        for (int i = 0; i < n / qk; i++) {
            int base = off + i * qk;
            float amax = 0.0f;
            float max = 0.0f;
            for (int j = 0; j < qk; j++) {
                final float v = x[base + j];
                if (amax < Math.abs(v)) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            final float d = max / -8;
            final float id = d != 0 ? 1.0f / d : 0.0f;
            long b = yOff + (long) i * 18;
            y.set(S16, b, fp32ToFp16(d));
            for (int j = 0; j < qk / 2; ++j) {
                final float x0 = x[base + j] * id;
                final float x1 = x[base + qk / 2 + j] * id;
                // (int8_t)(x + 8.5f) truncates toward zero; the operands are in [0.5, 16.5]
                final int xi0 = Math.min(15, (byte) (int) (x0 + 8.5f));
                final int xi1 = Math.min(15, (byte) (int) (x1 + 8.5f));
                y.set(ValueLayout.JAVA_BYTE, b + 2 + j, (byte) ((xi0 & 0xFF) | ((xi1 & 0xFF) << 4)));
            }
        }
    }

    // ------------------------------------------------------------------ dequantise

    /** Decodes {@code n} elements of {@code type} from the start of {@code src}. */
    public static float[] dequantize(GgmlType type, byte[] src, long n) {
        return dequantize(type, MemorySegment.ofArray(src), n);
    }

    /** Decodes {@code n} elements (under 2^31) of {@code type} from the start of {@code src}. */
    public static float[] dequantize(GgmlType type, MemorySegment src, long n) {
        if (n > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException(n + " elements do not fit a float[]");
        }
        float[] out = new float[(int) n];
        dequantize(type, src, 0, out, 0, (int) n);
        return out;
    }

    /** Decodes {@code n} elements of {@code type} from {@code src} at byte {@code srcOffset} into {@code dst}. */
    public static void dequantize(GgmlType type, MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        long bytes = bytesFor(type, n);
        java.util.Objects.checkFromIndexSize(srcOffset, bytes, src.byteSize());
        java.util.Objects.checkFromIndexSize(dstOffset, n, dst.length);
        switch (type) {
            case F32 -> MemorySegment.copy(src, F32, srcOffset, dst, dstOffset, n);
            case F64 -> {
                for (int i = 0; i < n; i++) {
                    dst[dstOffset + i] = (float) src.get(F64, srcOffset + 8L * i);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    dst[dstOffset + i] = fp16ToFp32(src.get(S16, srcOffset + 2L * i));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    dst[dstOffset + i] = bf16ToFp32(src.get(S16, srcOffset + 2L * i));
                }
            }
            case Q8_0 -> {
                for (int i = 0; i < n / 32; i++) {
                    long b = srcOffset + 34L * i;
                    float d = fp16ToFp32(src.get(S16, b));
                    for (int j = 0; j < 32; j++) {
                        dst[dstOffset + i * 32 + j] = src.get(ValueLayout.JAVA_BYTE, b + 2 + j) * d;
                    }
                }
            }
            case Q4_0 -> {
                for (int i = 0; i < n / 32; i++) {
                    long b = srcOffset + 18L * i;
                    float d = fp16ToFp32(src.get(S16, b));
                    for (int j = 0; j < 16; j++) {
                        int q = src.get(ValueLayout.JAVA_BYTE, b + 2 + j) & 0xFF;
                        dst[dstOffset + i * 32 + j] = ((q & 0x0F) - 8) * d;
                        dst[dstOffset + i * 32 + j + 16] = ((q >>> 4) - 8) * d;
                    }
                }
            }
            case Q4_1 -> {
                for (int i = 0; i < n / 32; i++) {
                    long b = srcOffset + 20L * i;
                    float d = fp16ToFp32(src.get(S16, b));
                    float m = fp16ToFp32(src.get(S16, b + 2));
                    for (int j = 0; j < 16; j++) {
                        int q = src.get(ValueLayout.JAVA_BYTE, b + 4 + j) & 0xFF;
                        dst[dstOffset + i * 32 + j] = (q & 0x0F) * d + m;
                        dst[dstOffset + i * 32 + j + 16] = (q >>> 4) * d + m;
                    }
                }
            }
            case Q5_0 -> {
                for (int i = 0; i < n / 32; i++) {
                    long b = srcOffset + 22L * i;
                    float d = fp16ToFp32(src.get(S16, b));
                    int qh = src.get(I32, b + 2);
                    for (int j = 0; j < 16; j++) {
                        int q = src.get(ValueLayout.JAVA_BYTE, b + 6 + j) & 0xFF;
                        int xh0 = ((qh >>> j) << 4) & 0x10;
                        int xh1 = (qh >>> (j + 12)) & 0x10;
                        dst[dstOffset + i * 32 + j] = (((q & 0x0F) | xh0) - 16) * d;
                        dst[dstOffset + i * 32 + j + 16] = (((q >>> 4) | xh1) - 16) * d;
                    }
                }
            }
            case Q5_1 -> {
                for (int i = 0; i < n / 32; i++) {
                    long b = srcOffset + 24L * i;
                    float d = fp16ToFp32(src.get(S16, b));
                    float m = fp16ToFp32(src.get(S16, b + 2));
                    int qh = src.get(I32, b + 4);
                    for (int j = 0; j < 16; j++) {
                        int q = src.get(ValueLayout.JAVA_BYTE, b + 8 + j) & 0xFF;
                        int xh0 = ((qh >>> j) << 4) & 0x10;
                        int xh1 = (qh >>> (j + 12)) & 0x10;
                        dst[dstOffset + i * 32 + j] = ((q & 0x0F) | xh0) * d + m;
                        dst[dstOffset + i * 32 + j + 16] = ((q >>> 4) | xh1) * d + m;
                    }
                }
            }
            default -> throw new UnsupportedOperationException("dequantising " + type + " is not implemented");
        }
    }
}
