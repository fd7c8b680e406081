package dev.lora4j.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.lora4j.testsupport.Requires;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufValidationTest {
    @TempDir
    Path tmp;

    // ------------------------------------------------------------ a tiny GGUF assembler

    static final class Raw {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Raw magic() {
            return bytes("GGUF".getBytes(StandardCharsets.US_ASCII));
        }

        Raw header(int version, long nTensors, long nKv) {
            return magic().u32(version).u64(nTensors).u64(nKv);
        }

        Raw u8(int v) {
            out.write(v);
            return this;
        }

        Raw u32(long v) {
            for (int i = 0; i < 4; i++) {
                out.write((int) (v >>> (8 * i)));
            }
            return this;
        }

        Raw u64(long v) {
            for (int i = 0; i < 8; i++) {
                out.write((int) (v >>> (8 * i)));
            }
            return this;
        }

        Raw bytes(byte[] b) {
            out.writeBytes(b);
            return this;
        }

        Raw str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            return u64(b.length).bytes(b);
        }

        /** A key with a UINT32 value. */
        Raw kvU32(String key, long v) {
            return str(key).u32(GgufValueType.UINT32.id()).u32(v);
        }

        Raw tensor(String name, GgmlType type, long offset, long... ne) {
            str(name).u32(ne.length);
            for (long d : ne) {
                u64(d);
            }
            return u32(type.id()).u64(offset);
        }

        Raw padTo(int alignment) {
            while (out.size() % alignment != 0) {
                out.write(0);
            }
            return this;
        }

        Raw zeros(int n) {
            out.writeBytes(new byte[n]);
            return this;
        }

        byte[] build() {
            return out.toByteArray();
        }
    }

    private Path file(byte[] content) throws IOException {
        Path f = Files.createTempFile(tmp, "v", ".gguf");
        Files.write(f, content);
        return f;
    }

    private GgufFormatException rejects(byte[] content, String expectedDetailPart) throws IOException {
        Path f = file(content);
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> {
            try (GgufFile g = GgufFile.open(f)) {
                fail("accepted: " + g);
            }
        });
        assertEquals(f, e.file());
        assertTrue(e.getMessage().startsWith(f + ": at byte " + e.offset() + ": "), e.getMessage());
        assertTrue(e.detail().contains(expectedDetailPart), "'" + e.detail() + "' lacks '" + expectedDetailPart + "'");
        assertTrue(e.offset() >= 0 && e.offset() <= content.length, "offset " + e.offset());
        return e;
    }

    /** Opens the file; a parse must either succeed or throw GgufFormatException, nothing else. */
    private static boolean opensOrFormatError(Path f) {
        try (GgufFile g = GgufFile.open(f)) {
            for (GgufTensorInfo t : g.tensors()) {
                MemorySegment s = g.tensorData(t.name());
                if (s.byteSize() > 0) {
                    s.get(ValueLayout.JAVA_BYTE, s.byteSize() - 1);
                }
            }
            g.metadata().values().forEach(GgufValue::toString);
            return true;
        } catch (GgufFormatException e) {
            return false;
        }
    }

    // ------------------------------------------------------------ not GGUF at all

    @Test
    void emptyFile() throws IOException {
        GgufFormatException e = rejects(new byte[0], "expected magic GGUF");
        assertEquals(0, e.offset());
    }

    @Test
    void textFile() throws IOException {
        rejects("hello, this is a text file\n".getBytes(StandardCharsets.US_ASCII), "expected magic GGUF, got 'hell'");
        rejects("GG".getBytes(StandardCharsets.US_ASCII), "expected magic GGUF");
        rejects("GGUF".getBytes(StandardCharsets.US_ASCII), "file ends inside the version");
    }

    @Test
    void missingFileIsAnUncheckedNoSuchFile() {
        UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> GgufFile.open(tmp.resolve("nope.gguf")));
        assertInstanceOf(NoSuchFileException.class, e.getCause());
    }

    @Test
    void versions() throws IOException {
        rejects(new Raw().header(1, 0, 0).build(), "version 1 is not supported");
        rejects(new Raw().header(0, 0, 0).build(), "unsupported GGUF version 0");
        rejects(new Raw().header(4, 0, 0).build(), "unsupported GGUF version 4");
        rejects(new Raw().header(0x03000000, 0, 0).build(), "big-endian");
        for (int v : new int[] {2, 3}) {
            try (GgufFile g = GgufFile.open(file(new Raw().header(v, 0, 0).build()))) {
                assertEquals(v, g.version());
                assertTrue(g.metadata().isEmpty());
            }
        }
    }

    // ------------------------------------------------------------ huge counts and lengths

    @Test
    void hugeCountsFailFast() throws IOException {
        rejects(new Raw().header(3, 0, 1L << 60).build(), "metadata count 1152921504606846976 cannot fit");
        rejects(new Raw().header(3, 1L << 60, 0).build(), "tensor count");
        rejects(new Raw().header(3, -1, 0).build(), "tensor count 18446744073709551615");
        rejects(new Raw().header(3, 0, 1).u64(1L << 60).zeros(1000).build(), "claims 1152921504606846976 bytes");
        rejects(new Raw().header(3, 0, 1).str("k").u32(GgufValueType.STRING.id()).u64(-1L).zeros(100).build(), "claims");
        for (GgufValueType et : GgufValueType.values()) {
            byte[] b = new Raw().header(3, 0, 1).str("arr").u32(GgufValueType.ARRAY.id()).u32(et.id()).u64(1L << 60)
                    .zeros(1024).build();
            rejects(b, "claims 1152921504606846976 elements");
        }
        // an array length that fits the file in bytes but not a Java array is still refused before allocating
        rejects(new Raw().header(3, 0, 1).str("arr").u32(GgufValueType.ARRAY.id()).u32(GgufValueType.UINT8.id())
                .u64(Integer.MAX_VALUE).zeros(64).build(), "elements");
    }

    @Test
    void nestedArraysAreBounded() throws IOException {
        Raw ok = new Raw().header(3, 0, 1).str("nest").u32(GgufValueType.ARRAY.id());
        for (int i = 0; i < 3; i++) {
            ok.u32(GgufValueType.ARRAY.id()).u64(1);
        }
        ok.u32(GgufValueType.INT32.id()).u64(1).u32(7);
        try (GgufFile g = GgufFile.open(file(ok.build()))) {
            GgufValue v = g.get("nest").orElseThrow();
            assertEquals(7, v.asArrayList().get(0).asArrayList().get(0).asArrayList().get(0).asIntArray()[0]);
        }
        Raw deep = new Raw().header(3, 0, 1).str("nest").u32(GgufValueType.ARRAY.id());
        for (int i = 0; i < 100; i++) {
            deep.u32(GgufValueType.ARRAY.id()).u64(1);
        }
        rejects(deep.zeros(64).build(), "nests arrays deeper than");
    }

    // ------------------------------------------------------------ metadata errors

    @Test
    void metadataErrors() throws IOException {
        rejects(new Raw().header(3, 0, 2).kvU32("a", 1).kvU32("a", 2).build(), "duplicate metadata key 'a'");
        rejects(new Raw().header(3, 0, 1).kvU32("", 1).build(), "empty key");
        rejects(new Raw().header(3, 0, 1).str("k").u32(13).u32(0).build(), "unknown value type 13");
        rejects(new Raw().header(3, 0, 1).str("k").u32(GgufValueType.ARRAY.id()).u32(99).u64(0).build(), "unknown value type 99");
        rejects(new Raw().header(3, 0, 1).str("k").u32(GgufValueType.BOOL.id()).u8(2).build(), "BOOL with byte value 2");
        rejects(new Raw().header(3, 0, 1).u64(2).bytes(new byte[] {(byte) 0xC3, 0x28}).u32(GgufValueType.UINT8.id()).u8(0).build(),
                "not valid UTF-8");
        rejects(new Raw().header(3, 0, 1).str("k").u32(GgufValueType.STRING.id()).u64(3)
                .bytes(new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}).build(), "not valid UTF-8"); // a surrogate
        rejects(new Raw().header(3, 0, 1).str("general.alignment").u32(GgufValueType.UINT64.id()).u64(32).build(), "must be UINT32");
        rejects(new Raw().header(3, 0, 1).kvU32("general.alignment", 0).build(), "not a power of two");
        rejects(new Raw().header(3, 0, 1).kvU32("general.alignment", 48).build(), "not a power of two");
    }

    @Test
    void typedGettersReportTheKeyOffset() throws IOException {
        byte[] b = new Raw().header(3, 0, 2).kvU32("n", 5).str("s").u32(GgufValueType.STRING.id()).str("x").build();
        try (GgufFile g = GgufFile.open(file(b))) {
            assertEquals(5, g.requireInt("n"));
            assertEquals("x", g.getString("s", null));
            assertEquals(9, g.getInt("missing", 9));
            GgufFormatException e = assertThrows(GgufFormatException.class, () -> g.requireString("n"));
            assertEquals(24, e.offset());
            assertThrows(GgufFormatException.class, () -> g.requireInt("missing"));
            assertTrue(g.tensor("none").isEmpty());
            assertThrows(IllegalArgumentException.class, () -> g.tensorData("none"));
        }
    }

    // ------------------------------------------------------------ tensor info errors

    private static Raw oneTensor(GgmlType type, long offset, long... ne) {
        return new Raw().header(3, 1, 0).tensor("t", type, offset, ne);
    }

    @Test
    void tensorErrors() throws IOException {
        rejects(new Raw().header(3, 1, 0).str("t").u32(0).u32(0).u64(0).padTo(32).zeros(64).build(), "has 0 dims");
        rejects(new Raw().header(3, 1, 0).str("t").u32(5).zeros(200).build(), "has 5 dims");
        rejects(oneTensor(GgmlType.F32, 0, 0).padTo(32).zeros(64).build(), "dim 0 is 0");
        rejects(oneTensor(GgmlType.F32, 0, 4, -1).padTo(32).zeros(64).build(), "negative");
        rejects(oneTensor(GgmlType.F32, 0, 1L << 32, 1L << 32).padTo(32).zeros(64).build(), "more than 2^63 elements");
        rejects(oneTensor(GgmlType.F32, 0, 1L << 61, 2).padTo(32).zeros(64).build(), "overflows");
        rejects(new Raw().header(3, 1, 0).str("t").u32(1).u64(4).u32(4).u64(0).padTo(32).zeros(64).build(), "unknown ggml type 4");
        rejects(new Raw().header(3, 1, 0).str("t").u32(1).u64(4).u32(43).u64(0).padTo(32).zeros(64).build(), "unknown ggml type 43");
        rejects(oneTensor(GgmlType.Q8_0, 0, 48).padTo(32).zeros(64).build(), "not a multiple of the block size 32");
        rejects(oneTensor(GgmlType.F32, 4, 4).padTo(32).zeros(64).build(), "not a multiple of the alignment 32");
        GgufFormatException e = rejects(oneTensor(GgmlType.F32, 0, 64).padTo(32).zeros(100).build(), "data ends at");
        assertEquals(24, e.offset()); // the tensor info's position
        assertTrue(e.detail().matches("tensor 't' data ends at \\d+ but the file has \\d+ bytes"), e.detail());
        rejects(oneTensor(GgmlType.F32, 1L << 62, 64).padTo(32).zeros(100).build(), "data ends at");
        rejects(oneTensor(GgmlType.F32, -32, 64).padTo(32).zeros(100).build(), "data offset 18446744073709551584");
        rejects(new Raw().header(3, 2, 0).tensor("t", GgmlType.F32, 0, 8).tensor("t", GgmlType.F32, 32, 8)
                .padTo(32).zeros(64).build(), "duplicate tensor name 't'");
        rejects(new Raw().header(3, 2, 0).tensor("a", GgmlType.F32, 0, 16).tensor("b", GgmlType.F32, 32, 8)
                .padTo(32).zeros(96).build(), "overlaps tensor 'a'");
        rejects(oneTensor(GgmlType.F32, 0, 4).build(), "before the data section");
        String longName = "x".repeat(64);
        rejects(new Raw().header(3, 1, 0).tensor(longName, GgmlType.F32, 0, 4).padTo(32).zeros(32).build(), "ggml allows at most 63");
        // and a valid one for contrast, with a gap between tensors (not canonical, but valid)
        byte[] ok = new Raw().header(3, 2, 0).tensor("a", GgmlType.F32, 0, 8).tensor("b", GgmlType.F32, 64, 8)
                .padTo(32).zeros(96).build();
        try (GgufFile g = GgufFile.open(file(ok))) {
            assertEquals(2, g.tensors().size());
            assertEquals(32, g.tensor("b").orElseThrow().byteSize());
        }
    }

    // ------------------------------------------------------------ truncation and corruption of real files

    private static Path smallRealModel() {
        Path p = GgufTestFiles.sharedModel("stories260K.gguf").orElse(null);
        Requires.that(p != null, "needs ../shared/models beside the checkout (CI has it)");
        return p;
    }

    /**
     * Truncating a real file anywhere before the end of its last tensor's data is always a format error:
     * at every byte of the header, metadata and tensor infos, and at sampled offsets in the data.
     */
    @Test
    void truncatedRealFileIsAlwaysAFormatError() throws IOException {
        Path src = smallRealModel();
        byte[] all = Files.readAllBytes(src);
        long dataOffset;
        long contentEnd = 0;
        try (GgufFile g = GgufFile.open(src)) {
            dataOffset = g.dataOffset();
            for (GgufTensorInfo t : g.tensors()) {
                contentEnd = Math.max(contentEnd, dataOffset + t.offset() + t.byteSize());
            }
        }
        Path f = tmp.resolve("trunc.gguf");
        int checked = 0;
        SplittableRandom r = new SplittableRandom(7);
        for (long cut = 0; cut < contentEnd; cut = cut < dataOffset + 64 ? cut + 1 : cut + 1 + r.nextInt(4096)) {
            Files.write(f, Arrays.copyOf(all, (int) cut));
            try (GgufFile g = GgufFile.open(f)) {
                fail("a file truncated at " + cut + " opened: " + g);
            } catch (GgufFormatException e) {
                assertTrue(e.offset() <= cut, "offset " + e.offset() + " past the cut " + cut);
                checked++;
            }
        }
        assertTrue(checked > dataOffset, "checked " + checked);
    }

    /** Every single-byte corruption of the metadata region either parses or is a format error. */
    @Test
    void corruptedBytesParseOrFailCleanly() throws IOException {
        Path src = smallRealModel();
        Path f = tmp.resolve("flip.gguf");
        Files.copy(src, f);
        long dataOffset;
        try (GgufFile g = GgufFile.open(src)) {
            dataOffset = g.dataOffset();
        }
        byte[] masks = {(byte) 0xFF, 0x01, (byte) 0x80, 0x10};
        int accepted = 0;
        int rejected = 0;
        SplittableRandom r = new SplittableRandom(3);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            for (long pos = 0; pos < dataOffset; pos = pos < 512 || pos > dataOffset - 2048 ? pos + 1 : pos + 1 + r.nextInt(16)) {
                ByteBuffer one = ByteBuffer.allocate(1);
                ch.read(one, pos);
                byte orig = one.get(0);
                boolean dense = pos < 512 || pos > dataOffset - 2048;
                for (byte m : dense ? masks : Arrays.copyOf(masks, 2)) {
                    ch.write(ByteBuffer.wrap(new byte[] {(byte) (orig ^ m)}), pos);
                    if (opensOrFormatError(f)) {
                        accepted++;
                    } else {
                        rejected++;
                    }
                }
                ch.write(ByteBuffer.wrap(new byte[] {orig}), pos);
            }
        }
        assertTrue(rejected > 0 && accepted > 0, accepted + " accepted, " + rejected + " rejected");
    }

    /** Random garbage after a valid header: parse or format error, never anything else. */
    @Test
    void randomTailsParseOrFailCleanly() throws IOException {
        SplittableRandom r = new SplittableRandom(11);
        Path f = tmp.resolve("rnd.gguf");
        for (int i = 0; i < 3000; i++) {
            byte[] tail = new byte[r.nextInt(200)];
            r.nextBytes(tail);
            // bias towards small counts and valid types so parsing gets deep
            Raw raw = new Raw().header(r.nextBoolean() ? 3 : 2, r.nextInt(3), r.nextInt(3));
            if (r.nextBoolean()) {
                raw.str("k" + i).u32(r.nextInt(14));
            }
            Files.write(f, raw.bytes(tail).build());
            opensOrFormatError(f);
        }
    }

    // ------------------------------------------------------------ lifecycle

    @Test
    void useAfterClose() throws IOException {
        byte[] b = new Raw().header(3, 1, 1).kvU32("n", 1).tensor("t", GgmlType.F32, 0, 4).padTo(32).zeros(16).build();
        GgufFile g = GgufFile.open(file(b));
        MemorySegment data = g.tensorData("t");
        assertEquals(16, data.byteSize());
        assertThrows(RuntimeException.class, () -> data.set(ValueLayout.JAVA_BYTE, 0, (byte) 1));
        g.close();
        g.close(); // twice is fine
        assertTrue(!g.isOpen());
        for (Consumer<GgufFile> use : List.<Consumer<GgufFile>>of(GgufFile::metadata, GgufFile::tensors, GgufFile::version,
                x -> x.tensorData("t"), x -> x.get("n"), x -> x.getInt("n", 0), GgufFile::fileSize)) {
            assertThrows(IllegalStateException.class, () -> use.accept(g));
        }
        assertThrows(IllegalStateException.class, () -> data.get(ValueLayout.JAVA_BYTE, 0));
    }
}
