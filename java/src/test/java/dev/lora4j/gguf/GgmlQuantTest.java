package dev.lora4j.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.testsupport.Requires;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class GgmlQuantTest {

    @Test
    void fp16ToFp32MatchesJdkForEveryHalf() {
        for (int h = 0; h < 65536; h++) {
            float mine = GgmlQuant.fp16ToFp32((short) h);
            float jdk = Float.float16ToFloat((short) h);
            if (Float.isNaN(jdk)) {
                assertTrue(Float.isNaN(mine), "half 0x" + Integer.toHexString(h));
            } else {
                assertEquals(Float.floatToRawIntBits(jdk), Float.floatToRawIntBits(mine), "half 0x" + Integer.toHexString(h));
            }
        }
    }

    @Test
    void fp32ToFp16IsRoundToNearestEven() {
        // IEEE round-to-nearest-even agrees with ggml's bit trick for every non-NaN float; NaN becomes 0x7E00
        for (long bits = 0; bits <= 0xFFFF_FFFFL; bits += 9973) { // ~430k floats across all exponents
            float f = Float.intBitsToFloat((int) bits);
            short mine = GgmlQuant.fp32ToFp16(f);
            if (Float.isNaN(f)) {
                assertEquals((short) ((((int) bits) >>> 16 & 0x8000) | 0x7E00), mine);
            } else {
                assertEquals(Float.floatToFloat16(f), mine, "float " + f);
            }
        }
        // ties and edges
        for (float f : new float[] {0f, -0f, 65504f, 65520f, 65519.996f, 6.1035156e-05f, 5.9604645e-08f,
                2.9802322e-08f, 2.9802326e-08f, 1.0009766f, 1.0004883f, 1.0014648f, Float.MAX_VALUE,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MIN_VALUE}) {
            assertEquals(Float.floatToFloat16(f), GgmlQuant.fp32ToFp16(f), "float " + f);
            assertEquals(Float.floatToFloat16(-f), GgmlQuant.fp32ToFp16(-f), "float " + -f);
        }
        assertEquals((short) 0x7E00, GgmlQuant.fp32ToFp16(Float.NaN));
    }

    @Test
    void bf16RoundsToNearestEvenAndQuietsNaN() {
        assertEquals((short) 0x3F80, GgmlQuant.fp32ToBf16(1.0f));
        assertEquals((short) 0x3F80, GgmlQuant.fp32ToBf16(Float.intBitsToFloat(0x3F808000))); // tie to even (down)
        assertEquals((short) 0x3F82, GgmlQuant.fp32ToBf16(Float.intBitsToFloat(0x3F818000))); // tie to even (up)
        assertEquals((short) 0x3F81, GgmlQuant.fp32ToBf16(Float.intBitsToFloat(0x3F808001)));
        assertEquals((short) 0x7FC0, GgmlQuant.fp32ToBf16(Float.intBitsToFloat(0x7F800001))); // signalling NaN quieted
        assertEquals((short) 0xFFC1, GgmlQuant.fp32ToBf16(Float.intBitsToFloat(0xFF810000)));
        assertEquals((short) 0x7F80, GgmlQuant.fp32ToBf16(Float.POSITIVE_INFINITY));
        assertEquals((short) 0x7F80, GgmlQuant.fp32ToBf16(Float.MAX_VALUE)); // rounds up to infinity, like ggml
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < 100_000; i++) {
            float f = Float.intBitsToFloat(r.nextInt());
            if (Float.isNaN(f)) {
                continue;
            }
            // the result is the nearer of the two bf16 neighbours of f (by magnitude), ties to the even one
            int bits = Float.floatToRawIntBits(f);
            int lo = bits >>> 16;
            int hi = lo + 1;
            double dLo = Math.abs((double) f - GgmlQuant.bf16ToFp32((short) lo));
            double dHi = Math.abs((double) f - GgmlQuant.bf16ToFp32((short) hi));
            int expected = dLo < dHi ? lo : dHi < dLo ? hi : ((lo & 1) == 0 ? lo : hi);
            if ((lo & 0x7F80) == 0x7F80 || (hi & 0x7F80) == 0x7F80) {
                continue; // neighbours at infinity: checked above
            }
            assertEquals((short) expected, GgmlQuant.fp32ToBf16(f), "float " + f);
        }
    }

    @Test
    void roundfIsHalfAwayFromZero() {
        assertEquals(3f, GgmlQuant.roundf(2.5f));
        assertEquals(-3f, GgmlQuant.roundf(-2.5f));
        assertEquals(0f, GgmlQuant.roundf(0.49999997f));
        assertEquals(-0f, GgmlQuant.roundf(-0.49999997f));
        assertEquals(127f, GgmlQuant.roundf(126.5f));
    }

    @Test
    void q8_0KnownBlock() {
        float[] x = new float[32];
        for (int i = 0; i < 32; i++) {
            x[i] = i - 16; // amax 16, d = 16/127
        }
        byte[] q = GgmlQuant.quantize(GgmlType.Q8_0, x);
        assertEquals(34, q.length);
        short d = (short) ((q[0] & 0xFF) | (q[1] << 8));
        assertEquals(GgmlQuant.fp32ToFp16(16f / 127), d);
        assertEquals(-127, q[2]);          // -16 * 127/16
        assertEquals(0, q[2 + 16]);        // 0
        assertEquals(119, q[2 + 31]);      // 15*127/16 = 119.06
        assertEquals(64, q[2 + 24]);       // 8*127/16 = 63.5 -> 64 (half away from zero)
        assertEquals(-64, q[2 + 8]);       // -63.5 -> -64
        float[] zeros = GgmlQuant.dequantize(GgmlType.Q8_0, GgmlQuant.quantize(GgmlType.Q8_0, new float[32]), 32);
        assertArrayEquals(new float[32], zeros);
    }

    @Test
    void q4_0KnownBlock() {
        float[] x = new float[32];
        for (int i = 0; i < 32; i++) {
            x[i] = i - 20; // max by magnitude: -20 -> d = 2.5, id = 0.4
        }
        byte[] q = GgmlQuant.quantize(GgmlType.Q4_0, x);
        assertEquals(18, q.length);
        short d = (short) ((q[0] & 0xFF) | (q[1] << 8));
        assertEquals(GgmlQuant.fp32ToFp16(2.5f), d);
        // x[0] = -20 -> -20*0.4+8.5 = 0.5 -> 0; x[16] = -4 -> -1.6+8.5 = 6.9 -> 6
        assertEquals(0 | (6 << 4), q[2] & 0xFF);
        // x[31] = 11 -> 4.4 + 8.5 = 12.9 -> 12 (nibble of byte 15, high)
        assertEquals(12, (q[2 + 15] & 0xFF) >>> 4);
        float[] back = GgmlQuant.dequantize(GgmlType.Q4_0, q, 32);
        assertEquals(-20f, back[0]);
        assertEquals(-5f, back[16]);
    }

    @Test
    void quantiseDequantiseErrorBounds() {
        SplittableRandom r = new SplittableRandom(42);
        int n = 32 * 512;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (r.nextGaussian() * (i % 64 == 0 ? 10 : 1));
        }
        for (GgmlType t : new GgmlType[] {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0}) {
            byte[] q = GgmlQuant.quantize(t, x);
            assertEquals(GgmlQuant.bytesFor(t, n), q.length);
            float[] y = GgmlQuant.dequantize(t, q, n);
            for (int b = 0; b < n / 32; b++) {
                float amax = 0;
                for (int j = 0; j < 32; j++) {
                    amax = Math.max(amax, Math.abs(x[b * 32 + j]));
                }
                for (int j = 0; j < 32; j++) {
                    int i = b * 32 + j;
                    float err = Math.abs(x[i] - y[i]);
                    float bound = switch (t) {
                        case F32 -> 0f;
                        case F16 -> Math.abs(x[i]) * 0x1p-11f + 0x1p-25f;
                        case BF16 -> Math.abs(x[i]) * 0x1p-8f;
                        // half a step of d = amax/127, plus the fp16 rounding of d (relative 2^-11) times 127
                        case Q8_0 -> amax / 127 * 0.5f * 1.001f + amax * 0x1p-11f * 1.01f;
                        // steps of amax/8, and the value nearest -8d... at most a full step at the clipped end
                        case Q4_0 -> amax / 8 * 1.001f + amax * 0x1p-11f * 8;
                        default -> throw new AssertionError();
                    };
                    assertTrue(err <= bound, t + " element " + i + ": " + x[i] + " -> " + y[i] + " (bound " + bound + ")");
                }
            }
        }
    }

    @Test
    void quantiseIntoSegmentAtOffsets() {
        float[] x = new float[96];
        Arrays.fill(x, 0.25f);
        byte[] whole = GgmlQuant.quantize(GgmlType.Q8_0, x);
        byte[] dst = new byte[34 * 3 + 5];
        long n = GgmlQuant.quantize(GgmlType.Q8_0, x, 32, 64, MemorySegment.ofArray(dst), 5);
        assertEquals(68, n);
        assertArrayEquals(Arrays.copyOfRange(whole, 34, 102), Arrays.copyOfRange(dst, 5, 73));
        assertThrows(IllegalArgumentException.class, () -> GgmlQuant.quantize(GgmlType.Q8_0, new float[33]));
        assertThrows(UnsupportedOperationException.class, () -> GgmlQuant.quantize(GgmlType.Q4_K, new float[256]));
    }

    /**
     * TinyStories-656K in F16 and in Q8_0 hold the same weights. Quantising each dequantised F16 weight with
     * {@code quantize_row_q8_0_ref} reproduces the Q8_0 file's tensor bytes exactly: the Q8_0 file is what
     * llama-quantize makes from the F16 file.
     */
    @Test
    void q8_0ModelIsTheF16ModelQuantised() {
        Path f16 = GgufTestFiles.sharedModel("TinyStories-656K.f16.gguf").orElse(null);
        Path q8 = GgufTestFiles.sharedModel("tinystories-656k-q8_0.gguf").orElse(null);
        Requires.that(f16 != null && q8 != null, "needs ../shared/models beside the checkout (CI has it)");
        int compared = 0;
        int identical = 0;
        StringBuilder report = new StringBuilder();
        try (GgufFile a = GgufFile.open(f16); GgufFile b = GgufFile.open(q8)) {
            assertEquals(a.tensors().size(), b.tensors().size());
            for (GgufTensorInfo ta : a.tensors()) {
                GgufTensorInfo tb = b.tensor(ta.name()).orElseThrow();
                assertArrayEquals(ta.shape(), tb.shape());
                float[] w = a.tensorFloats(ta.name());
                if (ta.type() == GgmlType.F32) {
                    assertEquals(GgmlType.F32, tb.type());
                    assertArrayEquals(w, b.tensorFloats(tb.name()), ta.name());
                    continue;
                }
                assertEquals(GgmlType.F16, ta.type());
                assertEquals(GgmlType.Q8_0, tb.type());
                compared++;
                byte[] mine = GgmlQuant.quantize(GgmlType.Q8_0, w);
                byte[] theirs = b.tensorData(tb.name()).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                if (Arrays.equals(mine, theirs)) {
                    identical++;
                } else {
                    report.append(ta.name()).append(" differs at byte ").append(Arrays.mismatch(mine, theirs)).append('\n');
                }
            }
        }
        assertEquals(15, compared);
        assertEquals(compared, identical, report.toString());
    }

    /**
     * Q4_0 and BF16 of every F16 weight of TinyStories-656K (BF16 of the weights times 3.3f), hashed; the
     * expected digests come from llama.cpp's gguf-py ({@code gguf.quants.quantize}), whose numpy code mirrors
     * {@code quantize_row_q4_0_ref} and {@code ggml_compute_fp32_to_bf16}.
     */
    @Test
    void q4_0AndBf16MatchGgufPy() throws Exception {
        Path f16 = GgufTestFiles.sharedModel("TinyStories-656K.f16.gguf").orElse(null);
        Requires.that(f16 != null, "needs ../shared/models beside the checkout (CI has it)");
        java.security.MessageDigest q4 = java.security.MessageDigest.getInstance("SHA-256");
        java.security.MessageDigest bf = java.security.MessageDigest.getInstance("SHA-256");
        try (GgufFile a = GgufFile.open(f16)) {
            for (GgufTensorInfo t : a.tensors()) {
                if (t.type() != GgmlType.F16) {
                    continue;
                }
                float[] w = a.tensorFloats(t.name());
                q4.update(GgmlQuant.quantize(GgmlType.Q4_0, w));
                float[] scaled = new float[w.length];
                for (int i = 0; i < w.length; i++) {
                    scaled[i] = w[i] * 3.3f;
                }
                bf.update(GgmlQuant.quantize(GgmlType.BF16, scaled));
            }
        }
        assertEquals("0e8ecf36d07e42d09760bc9895b300f6b16b22906335666f8c7a1fd7eb4e4f45", java.util.HexFormat.of().formatHex(q4.digest()));
        assertEquals("249b54f6da8f8c03cae3d1fb5f1d668ef865160bb51397eec6e0dee7e62477e8", java.util.HexFormat.of().formatHex(bf.digest()));
    }
}
