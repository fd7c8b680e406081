package dev.lora4j.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufWriterTest {
    @TempDir
    Path tmp;

    private static final byte[] EXISTING = "existing content".getBytes();

    private List<Path> dirListing() throws IOException {
        try (Stream<Path> s = Files.list(tmp)) {
            return s.sorted().toList();
        }
    }

    private GgufWriter twoTensors(GgufWriter.TensorData second) {
        return new GgufWriter().putString("general.architecture", "test")
                .addTensor("a", GgmlType.F32, new long[] {8}, new byte[32])
                .addTensor("b", GgmlType.F32, new long[] {8}, second);
    }

    @Test
    void failingCallbackLeavesTargetAndNoTempFile() throws IOException {
        Path target = tmp.resolve("model.gguf");
        Files.write(target, EXISTING);
        RuntimeException boom = new RuntimeException("boom");
        RuntimeException e = assertThrows(RuntimeException.class, () -> twoTensors(out -> {
            out.write(ByteBuffer.allocate(8));
            throw boom;
        }).write(target));
        assertEquals(boom, e);
        assertArrayEquals(EXISTING, Files.readAllBytes(target));
        assertEquals(List.of(target), dirListing());
    }

    @Test
    void ioErrorIsUncheckedAndCleansUp() throws IOException {
        Path target = tmp.resolve("model.gguf");
        Files.write(target, EXISTING);
        UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> twoTensors(out -> {
            throw new IOException("No space left on device");
        }).write(target));
        assertTrue(e.getMessage().contains("No space left on device"));
        assertArrayEquals(EXISTING, Files.readAllBytes(target));
        assertEquals(List.of(target), dirListing());
    }

    @Test
    void wrongByteCountsAreRefused() throws IOException {
        Path target = tmp.resolve("model.gguf");
        IllegalStateException few = assertThrows(IllegalStateException.class,
                () -> twoTensors(out -> out.write(ByteBuffer.allocate(31))).write(target));
        assertTrue(few.getMessage().contains("tensor 'b' wrote 31 bytes but declares 32"), few.getMessage());
        IllegalStateException many = assertThrows(IllegalStateException.class,
                () -> twoTensors(out -> out.write(ByteBuffer.allocate(33))).write(target));
        assertTrue(many.getMessage().contains("more than its 32 bytes"), many.getMessage());
        assertEquals(List.of(), dirListing());
        assertThrows(IllegalArgumentException.class,
                () -> new GgufWriter().addTensor("x", GgmlType.F32, new long[] {8}, new byte[31]));
    }

    @Test
    void misuseIsRejectedEarly() {
        GgufWriter w = new GgufWriter().putUint32("k", 1);
        assertThrows(IllegalArgumentException.class, () -> w.putUint32("k", 2));
        assertThrows(IllegalArgumentException.class, () -> w.putUint32("", 2));
        assertThrows(IllegalArgumentException.class, () -> w.put("general.alignment", GgufValue.ofUint32(3)));
        assertThrows(IllegalArgumentException.class, () -> w.put("general.alignment", GgufValue.ofUint64(32)));
        assertThrows(IllegalArgumentException.class, () -> w.putString("bad", "\uD800"));
        w.addTensor("t", GgmlType.F32, new long[] {1}, new byte[4]);
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("t", GgmlType.F32, new long[] {1}, new byte[4]));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("q", GgmlType.Q8_0, new long[] {16}, new byte[17]));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("z", GgmlType.F32, new long[] {0}, new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("5d", GgmlType.F32, new long[] {1, 1, 1, 1, 1}, new byte[4]));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("n".repeat(64), GgmlType.F32, new long[] {1}, new byte[4]));
        assertThrows(IllegalArgumentException.class, () -> w.version(1));
    }

    @Test
    void replacesAnExistingTargetAndReportsProgress() throws IOException {
        Path target = tmp.resolve("model.gguf");
        Files.write(target, EXISTING);
        List<long[]> events = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(64 * 4);
            GgufWriter w = new GgufWriter().addTensor("seg", GgmlType.F32, new long[] {16, 4}, seg)
                    .addTensor("cb", GgmlType.F16, new long[] {3}, out -> {
                        out.write(ByteBuffer.allocate(2));
                        out.write(ByteBuffer.allocate(4));
                    });
            assertEquals(262, w.tensorDataBytes());
            w.write(target, (done, total) -> events.add(new long[] {done, total}));
        }
        assertEquals(262, events.getLast()[0]);
        assertEquals(262, events.getLast()[1]);
        try (GgufFile g = GgufFile.open(target)) {
            assertEquals(256, g.tensor("cb").orElseThrow().offset());
            assertEquals(g.dataOffset() + 256 + 32, g.fileSize()); // padded after the last tensor too
        }
        assertEquals(List.of(target), dirListing());
    }

    @Test
    void typeTable() {
        assertEquals(GgmlType.BF16, GgmlType.fromId(30));
        assertEquals(GgmlType.Q8_0, GgmlType.fromId(8));
        assertEquals(GgmlType.Q2_0, GgmlType.fromId(42));
        for (int bad : new int[] {-1, 4, 5, 31, 32, 33, 36, 37, 38, 43, 1000}) {
            assertThrows(IllegalArgumentException.class, () -> GgmlType.fromId(bad));
        }
        for (GgmlType t : GgmlType.values()) {
            assertEquals(t, GgmlType.fromId(t.id()));
            assertEquals(t.blockSize() > 1, t.isQuantized());
        }
        assertEquals(34L * 4 * 3, GgmlType.Q8_0.byteSize(128, 3));
        assertEquals(18L * 8, GgmlType.Q4_0.byteSize(256));
        assertEquals(210, GgmlType.Q6_K.byteSize(256));
        assertEquals(2 * 7 * 5 * 3 * 2, GgmlType.F16.byteSize(7, 5, 3, 2));
        assertThrows(IllegalArgumentException.class, () -> GgmlType.Q8_0.byteSize(48));
        assertThrows(IllegalArgumentException.class, () -> GgmlType.F32.byteSize(1L << 62, 4));
        assertEquals(GgufValueType.FLOAT64, GgufValueType.fromId(12));
        assertThrows(IllegalArgumentException.class, () -> GgufValueType.fromId(13));
    }

    @Test
    void valueAccessors() {
        assertEquals(0xFFFF_FFFFL, GgufValue.ofUint32(0xFFFF_FFFFL).asLong());
        assertThrows(ArithmeticException.class, () -> GgufValue.ofUint32(0xFFFF_FFFFL).asInt());
        assertEquals(200, GgufValue.ofUint8(200).asInt());
        assertEquals(-3, GgufValue.ofInt8(-3).asInt());
        assertThrows(IllegalArgumentException.class, () -> GgufValue.ofUint8(256));
        assertThrows(IllegalStateException.class, () -> GgufValue.ofString("x").asInt());
        assertThrows(IllegalStateException.class, () -> GgufValue.ofInt32(1).asString());
        assertEquals(2.5, GgufValue.ofFloat32(2.5f).asDouble());
        float[] scores = {1, 2, 3};
        GgufValue v = GgufValue.ofFloatArray(scores);
        scores[0] = 9;
        assertEquals(1f, v.asFloatArray()[0]); // copied in
        assertEquals(3, v.length());
        assertArrayEquals(new int[] {255, 1}, GgufValue.ofByteArray(GgufValueType.UINT8, new byte[] {-1, 1}).asIntArray());
        assertEquals(List.of("a"), GgufValue.ofStringArray(List.of("a")).asStringList());
        assertThrows(IllegalStateException.class, () -> v.asStringList());
        assertEquals("ARRAY[FLOAT32]", v.describeType());
    }
}
