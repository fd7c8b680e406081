package dev.lora4j.gguf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A GGUF file (version 2 or 3), memory-mapped and fully validated on {@link #open(Path)}.
 *
 * <p>Opening checks everything before any of it can reach native code: every count and length against the
 * bytes left in the file (so a claimed 2^60 entries fails at once instead of allocating), UTF-8 of every
 * string, value and tensor types, tensor dims (1 to 4, positive, no overflow, row a multiple of the block
 * size), tensor name length and uniqueness, key uniqueness, {@code general.alignment} (a UINT32 power of
 * two, default 32), tensor offsets (aligned, data inside the file, no two tensors overlapping). Any problem
 * is a {@link GgufFormatException} naming the file and byte offset. I/O failures, including a missing
 * file ({@link java.nio.file.NoSuchFileException}), are thrown as {@link UncheckedIOException}.
 *
 * <p>Files without trailing padding after the last tensor are accepted (llama.cpp's loader accepts them).
 *
 * <p>The mapping lives in a shared {@link Arena}, so the file may be read from any thread and may be larger
 * than 2 GiB. {@link #close()} unmaps it; closing twice is harmless, and any other method called after
 * close throws {@link IllegalStateException}, as does any access to a segment from {@link #tensorData}.
 */
public final class GgufFile implements AutoCloseable {
    /** The default of {@code general.alignment}. */
    public static final int DEFAULT_ALIGNMENT = 32;
    /** ggml's {@code GGML_MAX_NAME}: tensor names must be shorter, in UTF-8 bytes. */
    public static final int MAX_TENSOR_NAME_BYTES = 64;
    /** ggml's {@code GGML_MAX_DIMS}. */
    public static final int MAX_DIMS = 4;
    /** Deepest nesting of arrays of arrays accepted. */
    public static final int MAX_ARRAY_DEPTH = 8;
    static final String ALIGNMENT_KEY = "general.alignment";

    private final Path path;
    private final Arena arena;
    private final MemorySegment file;
    private final int version;
    private final int alignment;
    private final long dataOffset;
    private final Map<String, GgufValue> metadata;
    private final Map<String, Long> keyOffsets;
    private final List<GgufTensorInfo> tensors;
    private final Map<String, GgufTensorInfo> tensorsByName;
    private final boolean trailingPadding;
    private volatile boolean closed;

    private GgufFile(Path path, Arena arena, MemorySegment file, Parser p) {
        this.path = path;
        this.arena = arena;
        this.file = file;
        this.version = p.version;
        this.alignment = p.alignment;
        this.dataOffset = p.dataOffset;
        this.metadata = Collections.unmodifiableMap(p.metadata);
        this.keyOffsets = p.keyOffsets;
        this.tensors = List.copyOf(p.tensors);
        Map<String, GgufTensorInfo> byName = new HashMap<>();
        for (GgufTensorInfo t : tensors) {
            byName.put(t.name(), t);
        }
        this.tensorsByName = byName;
        this.trailingPadding = p.trailingPadding;
    }

    /**
     * Maps and validates a GGUF file.
     *
     * @throws GgufFormatException  if the file is not valid GGUF v2/v3
     * @throws UncheckedIOException if it cannot be read (e.g. wrapping {@link java.nio.file.NoSuchFileException})
     */
    public static GgufFile open(Path path) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment seg;
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                long size = ch.size();
                seg = size == 0 ? MemorySegment.ofArray(new byte[0]) : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            }
            Parser p = new Parser(path, seg);
            p.parse();
            return new GgufFile(path, arena, seg, p);
        } catch (IOException e) {
            arena.close();
            throw new UncheckedIOException(e);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    // ---------------------------------------------------------------- accessors

    public Path path() {
        return path;
    }

    /** Size of the file in bytes. */
    public long fileSize() {
        checkOpen();
        return file.byteSize();
    }

    /** GGUF version: 2 or 3. */
    public int version() {
        checkOpen();
        return version;
    }

    /** Alignment of tensor data ({@code general.alignment}, default 32). */
    public int alignment() {
        checkOpen();
        return alignment;
    }

    /** File offset where the tensor data section starts; tensor offsets are relative to it. */
    public long dataOffset() {
        checkOpen();
        return dataOffset;
    }

    /** All metadata, in file order (unmodifiable). */
    public Map<String, GgufValue> metadata() {
        checkOpen();
        return metadata;
    }

    public Optional<GgufValue> get(String key) {
        checkOpen();
        return Optional.ofNullable(metadata.get(key));
    }

    /** {@code general.architecture}, if present and a string. */
    public Optional<String> architecture() {
        checkOpen();
        GgufValue v = metadata.get("general.architecture");
        return v != null && v.type() == GgufValueType.STRING ? Optional.of(v.asString()) : Optional.empty();
    }

    /** A string value, or {@code def} if the key is absent; a value of another type is a format error. */
    public String getString(String key, String def) {
        return valueOr(key, def, GgufValue::asString);
    }

    /** An integer value that fits an int, or {@code def} if absent. */
    public int getInt(String key, int def) {
        return valueOr(key, def, GgufValue::asInt);
    }

    /** An integer value (unsigned zero-extended), or {@code def} if absent. */
    public long getLong(String key, long def) {
        return valueOr(key, def, GgufValue::asLong);
    }

    /** A FLOAT32/FLOAT64 value, or {@code def} if absent. */
    public float getFloat(String key, float def) {
        return valueOr(key, def, GgufValue::asFloat);
    }

    /** A BOOL value, or {@code def} if absent. */
    public boolean getBoolean(String key, boolean def) {
        return valueOr(key, def, GgufValue::asBoolean);
    }

    /** A string value; absent or another type is a {@link GgufFormatException}. */
    public String requireString(String key) {
        return typed(key, () -> require(key).asString());
    }

    /** An integer value that fits an int; absent or another type is a {@link GgufFormatException}. */
    public int requireInt(String key) {
        return typed(key, () -> require(key).asInt());
    }

    /** An integer value; absent or another type is a {@link GgufFormatException}. */
    public long requireLong(String key) {
        return typed(key, () -> require(key).asLong());
    }

    /** A float value; absent or another type is a {@link GgufFormatException}. */
    public float requireFloat(String key) {
        return typed(key, () -> require(key).asFloat());
    }

    private <T> T valueOr(String key, T def, java.util.function.Function<GgufValue, T> as) {
        GgufValue v = get(key).orElse(null);
        return v == null ? def : typed(key, () -> as.apply(v));
    }

    private GgufValue require(String key) {
        return get(key).orElseThrow(() -> new GgufFormatException(path, 0, "missing metadata key '" + key + "'"));
    }

    private <T> T typed(String key, java.util.function.Supplier<T> s) {
        try {
            return s.get();
        } catch (IllegalStateException | ArithmeticException e) {
            checkOpen();
            throw new GgufFormatException(path, keyOffsets.getOrDefault(key, 0L),
                    "metadata key '" + key + "': " + e.getMessage(), e);
        }
    }

    /** Tensor infos in file order. */
    public List<GgufTensorInfo> tensors() {
        checkOpen();
        return tensors;
    }

    public Optional<GgufTensorInfo> tensor(String name) {
        checkOpen();
        return Optional.ofNullable(tensorsByName.get(name));
    }

    /**
     * A read-only slice of the mapped file holding this tensor's data; valid until {@link #close()}.
     *
     * @throws IllegalArgumentException if there is no such tensor
     */
    public MemorySegment tensorData(String name) {
        GgufTensorInfo t = requireTensor(name);
        return file.asSlice(dataOffset + t.offset(), t.byteSize()).asReadOnly();
    }

    /** The tensor's data as a read-only little-endian buffer (tensors under 2 GiB only). */
    public ByteBuffer tensorBytes(String name) {
        GgufTensorInfo t = requireTensor(name);
        if (t.byteSize() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("tensor '" + name + "' has " + t.byteSize() + " bytes, more than a ByteBuffer holds");
        }
        return tensorData(name).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * The tensor dequantised to floats (for the types {@link GgmlQuant#canDequantize} accepts; under 2^31
     * elements).
     */
    public float[] tensorFloats(String name) {
        GgufTensorInfo t = requireTensor(name);
        return GgmlQuant.dequantize(t.type(), tensorData(name), t.elementCount());
    }

    private GgufTensorInfo requireTensor(String name) {
        checkOpen();
        GgufTensorInfo t = tensorsByName.get(name);
        if (t == null) {
            throw new IllegalArgumentException("no tensor '" + name + "' in " + path);
        }
        return t;
    }

    /** Whether the file pads the end of its content to the alignment (gguf.cpp and gguf-py both do). */
    boolean trailingPadding() {
        return trailingPadding;
    }

    public boolean isOpen() {
        return !closed;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("GGUF file " + path + " is closed");
        }
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "GgufFile[" + path + ", v" + version + ", " + metadata.size() + " keys, " + tensors.size() + " tensors]";
    }

    // ---------------------------------------------------------------- parser

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final class Parser {
        final Path path;
        final MemorySegment seg;
        final long size;
        long pos;
        final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);

        int version;
        int alignment = DEFAULT_ALIGNMENT;
        long dataOffset;
        boolean trailingPadding;
        final Map<String, GgufValue> metadata = new LinkedHashMap<>();
        final Map<String, Long> keyOffsets = new HashMap<>();
        final List<GgufTensorInfo> tensors = new ArrayList<>();

        Parser(Path path, MemorySegment seg) {
            this.path = path;
            this.seg = seg;
            this.size = seg.byteSize();
        }

        GgufFormatException fail(long at, String msg) {
            return new GgufFormatException(path, at, msg);
        }

        long remaining() {
            return size - pos;
        }

        void need(long n, String what) {
            if (n > remaining()) {
                throw fail(pos, "file ends inside " + what + ": needs " + n + " bytes, " + remaining()
                        + " left (the file has " + size + " bytes)");
            }
        }

        int u32(String what) {
            need(4, what);
            int v = seg.get(U32, pos);
            pos += 4;
            return v;
        }

        long u64(String what) {
            need(8, what);
            long v = seg.get(U64, pos);
            pos += 8;
            return v;
        }

        /** The type id of {@code what} (a u32), looked up in {@code byId}; an id it does not know is a format error. */
        <T> T typeOf(String what, java.util.function.LongFunction<T> byId, String kind) {
            long at = pos;
            int id = u32("the type of " + what);
            T type = byId.apply(Integer.toUnsignedLong(id));
            if (type == null) {
                throw fail(at, what + " has unknown " + kind + " " + Integer.toUnsignedString(id));
            }
            return type;
        }

        void parse() {
            // magic
            if (size < 4) {
                throw fail(0, "expected magic GGUF, got " + describeBytes(0, (int) size) + " (the file has only " + size + " bytes)");
            }
            if (seg.get(ValueLayout.JAVA_BYTE, 0) != 'G' || seg.get(ValueLayout.JAVA_BYTE, 1) != 'G'
                    || seg.get(ValueLayout.JAVA_BYTE, 2) != 'U' || seg.get(ValueLayout.JAVA_BYTE, 3) != 'F') {
                throw fail(0, "expected magic GGUF, got " + describeBytes(0, 4));
            }
            pos = 4;
            long vAt = pos;
            int v = u32("the version");
            if (v == 1) {
                throw fail(vAt, "GGUF version 1 is not supported (only versions 2 and 3)");
            }
            if (v != 2 && v != 3) {
                String hint = (v & 0xFFFF) == 0 ? " (a big-endian file?)" : "";
                throw fail(vAt, "unsupported GGUF version " + Integer.toUnsignedString(v) + hint + "; only versions 2 and 3 are supported");
            }
            version = v;
            long ntAt = pos;
            long nTensors = u64("the tensor count");
            long nkAt = pos;
            long nKv = u64("the metadata count");
            // lower bounds of an entry's size in the file: key/name length + 1 byte + type + smallest value
            final long minKv = 8 + 1 + 4 + 1;
            final long minTensor = 8 + 1 + 4 + 8 + 4 + 8;
            if (nKv < 0 || nKv > remaining() / minKv) {
                throw fail(nkAt, "metadata count " + Long.toUnsignedString(nKv) + " cannot fit in the " + remaining()
                        + " bytes left in the file");
            }
            if (nTensors < 0 || nTensors > (remaining() - nKv * minKv) / minTensor) {
                throw fail(ntAt, "tensor count " + Long.toUnsignedString(nTensors) + " cannot fit in the " + remaining()
                        + " bytes left in the file");
            }

            for (long i = 0; i < nKv; i++) {
                long kvAt = pos;
                String key = readString("the key of metadata entry " + i);
                if (key.isEmpty()) {
                    throw fail(kvAt, "metadata entry " + i + " has an empty key");
                }
                if (metadata.containsKey(key)) {
                    throw fail(kvAt, "duplicate metadata key '" + key + "'");
                }
                GgufValueType type = typeOf("key '" + key + "'", GgufValueType::byIdOrNull, "value type");
                GgufValue value = readValue(type, 0, "key '" + key + "'");
                metadata.put(key, value);
                keyOffsets.put(key, kvAt);
            }

            GgufValue align = metadata.get(ALIGNMENT_KEY);
            if (align != null) {
                long at = keyOffsets.get(ALIGNMENT_KEY);
                if (align.type() != GgufValueType.UINT32) {
                    throw fail(at, "'" + ALIGNMENT_KEY + "' must be UINT32, got " + align.describeType());
                }
                long a = align.asLong();
                if (a == 0 || (a & (a - 1)) != 0 || a > (1L << 30)) {
                    throw fail(at, "'" + ALIGNMENT_KEY + "' is " + a + ", not a power of two");
                }
                alignment = (int) a;
            }

            long[] infoOffsets = new long[(int) nTensors];
            Map<String, Long> names = new HashMap<>();
            for (int i = 0; i < nTensors; i++) {
                long tAt = pos;
                infoOffsets[i] = tAt;
                String name = readString("the name of tensor " + i);
                int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
                if (nameBytes >= MAX_TENSOR_NAME_BYTES) {
                    throw fail(tAt, "tensor name '" + name + "' has " + nameBytes + " bytes; ggml allows at most "
                            + (MAX_TENSOR_NAME_BYTES - 1));
                }
                if (names.containsKey(name)) {
                    throw fail(tAt, "duplicate tensor name '" + name + "'");
                }
                names.put(name, tAt);
                long dimsAt = pos;
                long nDims = Integer.toUnsignedLong(u32("the dim count of tensor '" + name + "'"));
                if (nDims < 1 || nDims > MAX_DIMS) {
                    throw fail(dimsAt, "tensor '" + name + "' has " + nDims + " dims; expected 1 to " + MAX_DIMS);
                }
                long[] ne = new long[(int) nDims];
                long count = 1;
                for (int d = 0; d < nDims; d++) {
                    long dAt = pos;
                    ne[d] = u64("dim " + d + " of tensor '" + name + "'");
                    if (ne[d] <= 0) {
                        throw fail(dAt, "tensor '" + name + "' dim " + d + " is " + Long.toUnsignedString(ne[d])
                                + (ne[d] < 0 ? " (negative as int64)" : "") + "; dims must be positive");
                    }
                    try {
                        count = Math.multiplyExact(count, ne[d]);
                    } catch (ArithmeticException e) {
                        throw fail(dAt, "tensor '" + name + "' has more than 2^63 elements");
                    }
                }
                GgmlType type = typeOf("tensor '" + name + "'", GgmlType::byIdOrNull, "ggml type");
                if (ne[0] % type.blockSize() != 0) {
                    throw fail(dimsAt, "tensor '" + name + "' of type " + type + " has rows of " + ne[0]
                            + " elements, not a multiple of the block size " + type.blockSize());
                }
                long bytes;
                try {
                    bytes = type.byteSize(ne);
                } catch (IllegalArgumentException e) {
                    throw fail(dimsAt, "tensor '" + name + "': " + e.getMessage());
                }
                long offAt = pos;
                long off = u64("the data offset of tensor '" + name + "'");
                if (off < 0 || off % alignment != 0) {
                    throw fail(offAt, "tensor '" + name + "' has data offset " + Long.toUnsignedString(off)
                            + ", not a multiple of the alignment " + alignment);
                }
                tensors.add(new GgufTensorInfo(name, ne, type, off, bytes));
            }
            long metaEnd = pos;

            long contentEnd;
            if (nTensors > 0) {
                dataOffset = alignUp(metaEnd, alignment);
                if (dataOffset > size) {
                    throw fail(metaEnd, "the file ends before the data section, which starts at byte " + dataOffset
                            + " (the file has " + size + " bytes)");
                }
                contentEnd = dataOffset;
                for (int i = 0; i < tensors.size(); i++) {
                    GgufTensorInfo t = tensors.get(i);
                    long avail = size - dataOffset;
                    if (t.offset() > avail || t.byteSize() > avail - t.offset()) {
                        throw fail(infoOffsets[i], "tensor '" + t.name() + "' data ends at "
                                + endString(dataOffset, t.offset(), t.byteSize()) + " but the file has " + size + " bytes");
                    }
                    contentEnd = Math.max(contentEnd, dataOffset + t.offset() + t.byteSize());
                }
                List<Integer> order = new ArrayList<>();
                for (int i = 0; i < tensors.size(); i++) {
                    order.add(i);
                }
                order.sort(Comparator.comparingLong(i -> tensors.get(i).offset()));
                for (int k = 1; k < order.size(); k++) {
                    GgufTensorInfo a = tensors.get(order.get(k - 1));
                    GgufTensorInfo b = tensors.get(order.get(k));
                    if (a.offset() + a.byteSize() > b.offset()) {
                        throw fail(infoOffsets[order.get(k)], "tensor '" + b.name() + "' (data at " + b.offset()
                                + ") overlaps tensor '" + a.name() + "' (data " + a.offset() + ".." + (a.offset() + a.byteSize()) + ")");
                    }
                }
            } else {
                dataOffset = metaEnd;
                contentEnd = metaEnd;
            }
            trailingPadding = contentEnd % alignment != 0 && size == alignUp(contentEnd, alignment);
        }

        private static String endString(long base, long off, long bytes) {
            long end = base + off;
            if (end < 0 || end + bytes < 0) {
                return "beyond 2^63";
            }
            return Long.toString(end + bytes);
        }

        String readString(String what) {
            long at = pos;
            long len = u64("the length of " + what);
            if (len < 0 || len > remaining()) {
                throw fail(at, what + " claims " + Long.toUnsignedString(len) + " bytes but only " + remaining()
                        + " are left in the file");
            }
            if (len > Integer.MAX_VALUE - 16) {
                throw fail(at, what + " is longer than 2 GiB");
            }
            int n = (int) len;
            byte[] b = new byte[n];
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, b, 0, n);
            boolean ascii = true;
            for (byte x : b) {
                if (x < 0) {
                    ascii = false;
                    break;
                }
            }
            String s;
            if (ascii) {
                s = new String(b, StandardCharsets.ISO_8859_1);
            } else {
                try {
                    CharBuffer cb = utf8.reset().decode(ByteBuffer.wrap(b));
                    s = cb.toString();
                } catch (CharacterCodingException e) {
                    throw fail(pos, what + " is not valid UTF-8");
                }
            }
            pos += n;
            return s;
        }

        GgufValue readValue(GgufValueType type, int depth, String what) {
            switch (type) {
                case UINT8, INT8 -> {
                    need(1, what);
                    byte v = seg.get(ValueLayout.JAVA_BYTE, pos);
                    pos += 1;
                    return GgufValue.wrapScalar(type, v);
                }
                case UINT16, INT16 -> {
                    need(2, what);
                    short v = seg.get(U16, pos);
                    pos += 2;
                    return GgufValue.wrapScalar(type, v);
                }
                case UINT32, INT32 -> {
                    return GgufValue.wrapScalar(type, u32(what));
                }
                case UINT64, INT64 -> {
                    return GgufValue.wrapScalar(type, u64(what));
                }
                case FLOAT32 -> {
                    need(4, what);
                    float v = seg.get(F32, pos);
                    pos += 4;
                    return GgufValue.wrapScalar(type, v);
                }
                case FLOAT64 -> {
                    need(8, what);
                    double v = seg.get(F64, pos);
                    pos += 8;
                    return GgufValue.wrapScalar(type, v);
                }
                case BOOL -> {
                    need(1, what);
                    byte v = seg.get(ValueLayout.JAVA_BYTE, pos);
                    if (v != 0 && v != 1) {
                        throw fail(pos, what + " is a BOOL with byte value " + (v & 0xFF) + " (must be 0 or 1)");
                    }
                    pos += 1;
                    return GgufValue.wrapScalar(type, v == 1);
                }
                case STRING -> {
                    return GgufValue.wrapScalar(type, readString(what));
                }
                case ARRAY -> {
                    return readArray(depth, what);
                }
            }
            throw new AssertionError(type);
        }

        GgufValue readArray(int depth, String what) {
            long at = pos;
            if (depth >= MAX_ARRAY_DEPTH) {
                throw fail(at, what + " nests arrays deeper than " + MAX_ARRAY_DEPTH);
            }
            int etId = u32("the element type of " + what);
            GgufValueType et = GgufValueType.byIdOrNull(Integer.toUnsignedLong(etId));
            if (et == null) {
                throw fail(at, what + " is an array of unknown value type " + Integer.toUnsignedString(etId));
            }
            long nAt = pos;
            long n = u64("the length of " + what);
            long minSize = switch (et) {
                case STRING -> 8;
                case ARRAY -> 12;
                default -> et.fixedSize();
            };
            if (n < 0 || n > remaining() / minSize) {
                throw fail(nAt, what + " claims " + Long.toUnsignedString(n) + " elements of " + et + " but only "
                        + remaining() + " bytes are left in the file");
            }
            if (n > Integer.MAX_VALUE - 16) {
                throw fail(nAt, what + " has more than 2^31 elements");
            }
            int len = (int) n;
            Object arr;
            switch (et) {
                case UINT8, INT8 -> {
                    byte[] a = new byte[len];
                    MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, a, 0, len);
                    arr = a;
                }
                case UINT16, INT16 -> {
                    short[] a = new short[len];
                    MemorySegment.copy(seg, U16, pos, a, 0, len);
                    arr = a;
                }
                case UINT32, INT32 -> {
                    int[] a = new int[len];
                    MemorySegment.copy(seg, U32, pos, a, 0, len);
                    arr = a;
                }
                case UINT64, INT64 -> {
                    long[] a = new long[len];
                    MemorySegment.copy(seg, U64, pos, a, 0, len);
                    arr = a;
                }
                case FLOAT32 -> {
                    float[] a = new float[len];
                    MemorySegment.copy(seg, F32, pos, a, 0, len);
                    arr = a;
                }
                case FLOAT64 -> {
                    double[] a = new double[len];
                    MemorySegment.copy(seg, F64, pos, a, 0, len);
                    arr = a;
                }
                case BOOL -> {
                    boolean[] a = new boolean[len];
                    for (int i = 0; i < len; i++) {
                        byte b = seg.get(ValueLayout.JAVA_BYTE, pos + i);
                        if (b != 0 && b != 1) {
                            throw fail(pos + i, what + " element " + i + " is a BOOL with byte value " + (b & 0xFF));
                        }
                        a[i] = b == 1;
                    }
                    arr = a;
                }
                case STRING -> {
                    String[] a = new String[len];
                    for (int i = 0; i < len; i++) {
                        a[i] = readString(what + " element " + i);
                    }
                    return GgufValue.wrapArray(et, List.of(a));
                }
                case ARRAY -> {
                    GgufValue[] a = new GgufValue[len];
                    for (int i = 0; i < len; i++) {
                        a[i] = readArray(depth + 1, what + " element " + i);
                    }
                    return GgufValue.wrapArray(et, List.of(a));
                }
                default -> throw new AssertionError(et);
            }
            pos += n * et.fixedSize();
            return GgufValue.wrapArray(et, arr);
        }

        private String describeBytes(long from, int n) {
            StringBuilder printable = new StringBuilder("'");
            StringBuilder hex = new StringBuilder();
            for (int i = 0; i < n; i++) {
                int b = seg.get(ValueLayout.JAVA_BYTE, from + i) & 0xFF;
                printable.append(b >= 0x20 && b < 0x7F ? (char) b : '?');
                hex.append(String.format("%02x", b));
            }
            return n == 0 ? "nothing" : printable.append("' (0x").append(hex).append(')').toString();
        }
    }

    static long alignUp(long v, long alignment) {
        return (v + alignment - 1) & -alignment;
    }
}
