package dev.lora4j.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.testsupport.Requires;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class GgufRoundTripTest {
    @TempDir
    Path tmp;

    static List<Path> sharedFiles() {
        return GgufTestFiles.sharedGgufs();
    }

    static List<Path> vocabFiles() {
        return GgufTestFiles.vocabGgufs();
    }

    @Test
    void sharedModelsArePresent() {
        Requires.that(GgufTestFiles.sharedModels().isPresent(), "needs ../shared/models beside the checkout (CI has it)");
        assertFalse(sharedFiles().isEmpty(), "no *.gguf in " + GgufTestFiles.sharedModels().get());
    }

    @ParameterizedTest(name = "{0}", allowZeroInvocations = true) // none without ../shared: sharedModelsArePresent says so
    @MethodSource("sharedFiles")
    void sharedModelRewritesByteIdentically(Path file) throws IOException {
        assertRoundTrip(file, true);
    }

    @Test
    void pinnedVocabulariesArePresent() {
        Requires.that(GgufTestFiles.llamaCppSource().isPresent(), "needs the pinned llama.cpp source (the native build fetches it)");
        assertFalse(vocabFiles().isEmpty(), "no ggml-vocab-*.gguf in " + GgufTestFiles.llamaCppSource().get().resolve("models"));
    }

    @ParameterizedTest(name = "{0}", allowZeroInvocations = true) // none without the source: pinnedVocabulariesArePresent says so
    @MethodSource("vocabFiles")
    void vocabRewritesByteIdentically(Path file) throws IOException {
        assertRoundTrip(file, false);
    }

    private void assertRoundTrip(Path file, boolean expectTensors) throws IOException {
        Path out = tmp.resolve(file.getFileName());
        try (GgufFile g = GgufFile.open(file)) {
            assertTrue(g.version() == 2 || g.version() == 3);
            assertFalse(g.metadata().isEmpty());
            for (Map.Entry<String, GgufValue> e : g.metadata().entrySet()) {
                GgufValue v = e.getValue();
                assertEquals(v, g.get(e.getKey()).orElseThrow());
                if (v.isArray()) {
                    assertEquals(v.length(), v.asList().size());
                }
                assertFalse(v.toString().isEmpty());
            }
            assertEquals(expectTensors, !g.tensors().isEmpty());
            for (GgufTensorInfo t : g.tensors()) {
                MemorySegment data = g.tensorData(t.name());
                assertEquals(t.byteSize(), data.byteSize());
                assertTrue(data.isReadOnly());
                if (GgmlQuant.canDequantize(t.type())) {
                    float[] f = g.tensorFloats(t.name());
                    assertEquals(t.elementCount(), f.length);
                    for (float x : f) {
                        assertTrue(Float.isFinite(x), t.name() + " has a non-finite weight");
                    }
                }
            }
            if (expectTensors) {
                assertEquals("llama", g.architecture().orElseThrow());
                int nVocab = ModelBuilder.vocabSize(g);
                assertEquals(nVocab, g.get("tokenizer.ggml.scores").orElseThrow().asFloatArray().length);
            }
            GgufWriter.copyOf(g).write(out);
        }
        assertEquals(-1, Files.mismatch(file, out), "rewrite of " + file + " differs");
        try (GgufFile again = GgufFile.open(out)) {
            assertFalse(again.metadata().isEmpty());
        }
    }

    @Test
    void everyValueTypeRoundTrips() throws IOException {
        GgufWriter w = new GgufWriter()
                .put("u8", GgufValue.ofUint8(255))
                .put("i8", GgufValue.ofInt8(-128))
                .put("u16", GgufValue.ofUint16(65535))
                .put("i16", GgufValue.ofInt16(-32768))
                .put("u32", GgufValue.ofUint32(0xFFFF_FFFFL))
                .put("i32", GgufValue.ofInt32(-7))
                .put("u64", GgufValue.ofUint64(-1L))
                .put("i64", GgufValue.ofInt64(Long.MIN_VALUE))
                .put("f32", GgufValue.ofFloat32(1.5f))
                .put("f64", GgufValue.ofFloat64(-2.25))
                .put("bool", GgufValue.ofBool(true))
                .put("str", GgufValue.ofString("héllo ✓ 🦙"))
                .put("empty", GgufValue.ofString(""))
                .put("a.u8", GgufValue.ofByteArray(GgufValueType.UINT8, new byte[] {1, (byte) 200}))
                .put("a.i16", GgufValue.ofShortArray(GgufValueType.INT16, new short[] {-1, 2}))
                .put("a.u32", GgufValue.ofIntArray(GgufValueType.UINT32, new int[] {-1, 3}))
                .put("a.i64", GgufValue.ofLongArray(GgufValueType.INT64, new long[] {5, -6}))
                .put("a.f32", GgufValue.ofFloatArray(new float[] {0.5f, Float.NaN, -0.0f}))
                .put("a.f64", GgufValue.ofDoubleArray(new double[] {1e300}))
                .put("a.bool", GgufValue.ofBoolArray(new boolean[] {true, false}))
                .put("a.str", GgufValue.ofStringArray(List.of("a", "", "ü")))
                .put("a.empty", GgufValue.ofFloatArray(new float[0]))
                .put("a.nested", GgufValue.ofArrayArray(List.of(
                        GgufValue.ofIntArray(GgufValueType.INT32, new int[] {1, 2}),
                        GgufValue.ofStringArray(List.of("x")),
                        GgufValue.ofArrayArray(List.of(GgufValue.ofBoolArray(new boolean[] {true}))))));
        byte[] t0 = GgmlQuant.quantize(GgmlType.F32, new float[] {1, 2, 3});
        w.addTensor("t0", GgmlType.F32, new long[] {3}, t0);
        w.addTensor("t1", GgmlType.Q8_0, new long[] {32, 2}, GgmlQuant.quantize(GgmlType.Q8_0, new float[64]));
        Path f = tmp.resolve("all.gguf");
        w.write(f);
        try (GgufFile g = GgufFile.open(f)) {
            assertEquals(w.metadata(), g.metadata());
            assertEquals(List.copyOf(w.metadata().keySet()), List.copyOf(g.metadata().keySet()));
            assertEquals(0xFFFF_FFFFL, g.getLong("u32", 0));
            assertEquals(-7, g.getInt("i32", 0));
            assertEquals(255, g.get("u8").orElseThrow().asInt());
            assertEquals("héllo ✓ 🦙", g.requireString("str"));
            assertEquals(3, g.get("a.nested").orElseThrow().asArrayList().size());
            assertArrayEquals(new long[] {0xFFFF_FFFFL, 3}, g.get("a.u32").orElseThrow().asLongArray());
            assertEquals(2, g.tensors().size());
            assertEquals(0, g.tensors().get(0).offset());
            assertEquals(32, g.tensors().get(1).offset());
            assertArrayEquals(new float[] {1, 2, 3}, g.tensorFloats("t0"));
            assertEquals(0, g.dataOffset() % 32);
            Path again = tmp.resolve("again.gguf");
            GgufWriter.copyOf(g).write(again);
            assertEquals(-1, Files.mismatch(f, again));
        }
    }

    @Test
    void customAlignmentAndVersion2() throws IOException {
        GgufWriter w = new GgufWriter().version(2)
                .putString("general.architecture", "test")
                .put("general.alignment", GgufValue.ofUint32(128));
        w.addTensor("a", GgmlType.F16, new long[] {3}, new byte[6]);
        w.addTensor("b", GgmlType.F32, new long[] {1, 1, 1, 1}, new byte[4]);
        Path f = tmp.resolve("v2.gguf");
        w.write(f);
        try (GgufFile g = GgufFile.open(f)) {
            assertEquals(2, g.version());
            assertEquals(128, g.alignment());
            assertEquals(0, g.dataOffset() % 128);
            assertEquals(128, g.tensor("b").orElseThrow().offset());
            assertEquals(g.dataOffset() + 256, g.fileSize());
            Path again = tmp.resolve("v2b.gguf");
            GgufWriter.copyOf(g).write(again);
            assertEquals(-1, Files.mismatch(f, again));
        }
    }

    @Test
    void noTensorsUnpaddedAndPadded() throws IOException {
        for (boolean pad : new boolean[] {false, true}) {
            Path f = tmp.resolve("notensors-" + pad + ".gguf");
            new GgufWriter().putString("k", "abc").trailingPadding(pad).write(f);
            long size = Files.size(f);
            assertEquals(pad, size % 32 == 0, "size " + size);
            try (GgufFile g = GgufFile.open(f)) {
                Path again = tmp.resolve("again-" + pad + ".gguf");
                GgufWriter.copyOf(g).write(again);
                assertEquals(-1, Files.mismatch(f, again));
            }
        }
    }
}
