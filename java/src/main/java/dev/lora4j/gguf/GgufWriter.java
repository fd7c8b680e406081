package dev.lora4j.gguf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Writes a GGUF file (version 3 unless told otherwise), streaming tensor data.
 *
 * <p>Collect the metadata (kept in insertion order) and the tensors (name, type, shape and a source of
 * their bytes) first, then {@link #write(Path)}: header, metadata, tensor infos, zero padding to the
 * alignment, then each tensor's data followed by zero padding to the alignment, the layout of ggml's
 * {@code gguf.cpp} and gguf-py. The alignment is {@code general.alignment} if the metadata has it (a UINT32
 * power of two), else 32. A file read by {@link GgufFile} and rewritten with {@link #copyOf(GgufFile)} is
 * byte-identical to the original when the original has this canonical layout.
 *
 * <p>Tensor data comes from a {@link TensorData} callback writing into a channel (or from a byte array or
 * memory segment), one tensor at a time, so multi-GiB files never need to be held in memory. Each tensor
 * must deliver exactly its declared byte size.
 *
 * <p>Writing is atomic: the file is written to {@code .<name>.tmp-<pid>-<random>} in the target's directory,
 * forced to disk and renamed onto the target. On any failure (an I/O error such as a full disk, or an
 * exception from a tensor callback) the temporary file is deleted and the target is left as it was; the temporary
 * files of writes whose process was killed are deleted by the next write to the same target. I/O errors are thrown
 * as {@link UncheckedIOException}.
 */
public final class GgufWriter {

    /** Writes one tensor's bytes, in order, into {@code out}; may call {@code out.write} any number of times. */
    @FunctionalInterface
    public interface TensorData {
        void writeTo(WritableByteChannel out) throws IOException;
    }

    private record PendingTensor(String name, GgmlType type, long[] shape, long byteSize, TensorData data) {
    }

    private int version = 3;
    private boolean trailingPadding = true;
    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<PendingTensor> tensors = new ArrayList<>();
    private final Set<String> tensorNames = new HashSet<>();

    public GgufWriter() {
    }

    /**
     * A writer holding all metadata and tensors of {@code source} (same version, order and padding
     * convention), whose data is read from {@code source} when written: keep it open until then.
     */
    public static GgufWriter copyOf(GgufFile source) {
        GgufWriter w = new GgufWriter().version(source.version());
        // padding the end only matters when the content does not end aligned; keep what the source did
        w.trailingPadding = source.trailingPadding();
        source.metadata().forEach(w::put);
        for (GgufTensorInfo t : source.tensors()) {
            String name = t.name();
            w.addTensor(name, t.type(), t.shape(), (TensorData) out -> writeSegment(source.tensorData(name), out));
        }
        return w;
    }

    /** GGUF version to write: 3 (default) or 2 (same layout). */
    public GgufWriter version(int version) {
        if (version != 2 && version != 3) {
            throw new IllegalArgumentException("can write GGUF versions 2 and 3, not " + version);
        }
        this.version = version;
        return this;
    }

    /**
     * Whether to pad the end of the file to the alignment (default true, as gguf.cpp and gguf-py do after
     * the last tensor; gguf-py's vocab-only files, which have no tensors, end unpadded).
     */
    public GgufWriter trailingPadding(boolean pad) {
        this.trailingPadding = pad;
        return this;
    }

    /** Adds a metadata entry; keys are written in the order added. */
    public GgufWriter put(String key, GgufValue value) {
        if (key != null && metadata.containsKey(key)) {
            throw new IllegalArgumentException("duplicate metadata key '" + key + "'");
        }
        return set(key, value);
    }

    /** Adds a metadata entry or replaces one (a replaced entry keeps its position). */
    public GgufWriter set(String key, GgufValue value) {
        Objects.requireNonNull(value, "value");
        if (key == null || key.isEmpty()) {
            throw new IllegalArgumentException("metadata keys must not be empty");
        }
        utf8(key);
        if (key.equals(GgufFile.ALIGNMENT_KEY)) {
            if (value.type() != GgufValueType.UINT32) {
                throw new IllegalArgumentException("'" + key + "' must be UINT32, got " + value.describeType());
            }
            long a = value.asLong();
            if (a == 0 || (a & (a - 1)) != 0 || a > (1L << 30)) {
                throw new IllegalArgumentException("'" + key + "' must be a power of two, got " + a);
            }
        }
        checkStrings(key, value);
        metadata.put(key, value);
        return this;
    }

    /** Removes a metadata entry; returns whether there was one. */
    public boolean remove(String key) {
        return metadata.remove(key) != null;
    }

    /** Refuses strings that have no UTF-8 encoding (unpaired surrogates), so write() cannot fail on them. */
    private static void checkStrings(String key, GgufValue v) {
        switch (v.raw()) {
            case String s -> {
                if (!wellFormed(s)) {
                    throw new IllegalArgumentException("value of '" + key + "' has an unpaired surrogate");
                }
            }
            case List<?> l -> {
                for (Object o : l) {
                    if (o instanceof String s ? !wellFormed(s) : false) {
                        throw new IllegalArgumentException("an element of '" + key + "' has an unpaired surrogate");
                    }
                    if (o instanceof GgufValue g) {
                        checkStrings(key, g);
                    }
                }
            }
            default -> { }
        }
    }

    private static boolean wellFormed(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1))) {
                    return false;
                }
                i++;
            } else if (Character.isLowSurrogate(c)) {
                return false;
            }
        }
        return true;
    }

    public GgufWriter putString(String key, String value) {
        return put(key, GgufValue.ofString(value));
    }

    public GgufWriter putUint32(String key, long value) {
        return put(key, GgufValue.ofUint32(value));
    }

    public GgufWriter putInt32(String key, int value) {
        return put(key, GgufValue.ofInt32(value));
    }

    public GgufWriter putUint64(String key, long value) {
        return put(key, GgufValue.ofUint64(value));
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValue.ofFloat32(value));
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufValue.ofBool(value));
    }

    /** The metadata added so far, in order (unmodifiable view). */
    public Map<String, GgufValue> metadata() {
        return Collections.unmodifiableMap(metadata);
    }

    /** The alignment the file will use. */
    public int alignment() {
        GgufValue a = metadata.get(GgufFile.ALIGNMENT_KEY);
        return a == null ? GgufFile.DEFAULT_ALIGNMENT : (int) a.asLong();
    }

    /**
     * Declares a tensor whose bytes {@code data} writes when the file is written.
     *
     * @param shape ggml {@code ne} order, 1 to 4 positive dims, {@code shape[0]} a multiple of the block size
     */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, TensorData data) {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(data, "data");
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("tensor names must not be empty");
        }
        int nameBytes = utf8(name).length;
        if (nameBytes >= GgufFile.MAX_TENSOR_NAME_BYTES) {
            throw new IllegalArgumentException("tensor name '" + name + "' has " + nameBytes + " bytes; ggml allows at most "
                    + (GgufFile.MAX_TENSOR_NAME_BYTES - 1));
        }
        if (tensorNames.contains(name)) {
            throw new IllegalArgumentException("duplicate tensor name '" + name + "'");
        }
        long bytes = type.byteSize(shape); // validates the shape
        tensorNames.add(name);
        tensors.add(new PendingTensor(name, type, shape.clone(), bytes, data));
        return this;
    }

    /** Declares a tensor with its bytes in memory ({@code data.length} must equal its byte size). */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, byte[] data) {
        long bytes = type.byteSize(shape);
        if (data.length != bytes) {
            throw new IllegalArgumentException("tensor '" + name + "' has " + data.length + " bytes of data but its shape "
                    + "and type need " + bytes);
        }
        return addTensor(name, type, shape, (TensorData) out -> writeFully(out, ByteBuffer.wrap(data)));
    }

    /** Declares a tensor whose bytes are {@code data} (read at write time; its size must equal the byte size). */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, MemorySegment data) {
        long bytes = type.byteSize(shape);
        if (data.byteSize() != bytes) {
            throw new IllegalArgumentException("tensor '" + name + "' has " + data.byteSize() + " bytes of data but its shape "
                    + "and type need " + bytes);
        }
        return addTensor(name, type, shape, (TensorData) out -> writeSegment(data, out));
    }

    /** Total bytes of tensor data declared so far (without padding). */
    public long tensorDataBytes() {
        long n = 0;
        for (PendingTensor t : tensors) {
            n += t.byteSize;
        }
        return n;
    }

    /** Writes the file atomically. */
    public void write(Path target) {
        write(target, ProgressListener.NONE);
    }

    /** Writes the file atomically, reporting bytes of tensor data written. */
    public void write(Path target, ProgressListener progress) {
        Objects.requireNonNull(progress, "progress");
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp = temporaryFileFor(abs);
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                writeTo(ch, progress);
                ch.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (Throwable t) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException | RuntimeException e) {
                t.addSuppressed(e);
            }
            if (t instanceof java.nio.file.NoSuchFileException && !Files.isDirectory(dir)) {
                throw new UncheckedIOException("cannot write " + abs + ": the directory " + dir + " does not exist", (IOException) t);
            }
            if (t instanceof IOException io) {
                throw new UncheckedIOException("writing " + abs + ": " + io, io);
            }
            throw sneaky(t);
        }
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true); // persist the rename; best effort (not possible on every platform)
        } catch (IOException | RuntimeException ignored) {
            // the data itself is already on disk
        }
    }

    /**
     * A fresh temporary path beside {@code target} ({@code .<name>.tmp-<pid>-<random>}) for an atomic write, after
     * deleting the temporary files that writes of killed processes left for the same target (their pid is gone).
     */
    public static Path temporaryFileFor(Path target) {
        Path abs = target.toAbsolutePath();
        String prefix = "." + abs.getFileName() + ".tmp-";
        try (java.util.stream.Stream<Path> s = Files.list(abs.getParent())) {
            for (Path p : s.filter(p -> p.getFileName().toString().startsWith(prefix)).toList()) {
                String rest = p.getFileName().toString().substring(prefix.length());
                int dash = rest.indexOf('-');
                try {
                    long pid = Long.parseLong(dash < 0 ? rest : rest.substring(0, dash));
                    if (ProcessHandle.of(pid).isEmpty()) {
                        Files.deleteIfExists(p);
                    }
                } catch (NumberFormatException | IOException notOurs) {
                    // not a name this writer makes, or already gone: leave it
                }
            }
        } catch (IOException | RuntimeException e) {
            // no listing (e.g. the directory is missing): the write itself reports what is wrong
        }
        byte[] rnd = new byte[6];
        new SecureRandom().nextBytes(rnd);
        return abs.resolveSibling(prefix + ProcessHandle.current().pid() + "-" + HexFormat.of().formatHex(rnd));
    }

    @SuppressWarnings("unchecked")
    private static <T extends Throwable> RuntimeException sneaky(Throwable t) throws T {
        throw (T) t;
    }

    private void writeTo(FileChannel ch, ProgressListener progress) throws IOException {
        final int alignment = alignment();
        Out out = new Out();
        out.bytes(new byte[] {'G', 'G', 'U', 'F'});
        out.u32(version);
        out.u64(tensors.size());
        out.u64(metadata.size());
        for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
            out.string(e.getKey());
            GgufValue v = e.getValue();
            out.u32(v.type().id());
            writeValueBody(out, v);
        }
        long offset = 0;
        for (PendingTensor t : tensors) {
            out.string(t.name);
            out.u32(t.shape.length);
            for (long d : t.shape) {
                out.u64(d);
            }
            out.u32(t.type.id());
            out.u64(offset);
            offset += GgufFile.alignUp(t.byteSize, alignment);
        }
        if (!tensors.isEmpty() || trailingPadding) {
            out.pad(alignment);
        }
        writeFully(ch, ByteBuffer.wrap(out.buf, 0, out.len));
        long written = out.len;

        long total = tensorDataBytes();
        long[] done = {0};
        byte[] zeros = new byte[alignment];
        for (int i = 0; i < tensors.size(); i++) {
            PendingTensor t = tensors.get(i);
            CountingChannel cc = new CountingChannel(ch, t, progress, done, total);
            t.data.writeTo(cc);
            cc.closed = true;
            if (cc.count != t.byteSize) {
                throw new IllegalStateException("tensor '" + t.name + "' wrote " + cc.count + " bytes but declares "
                        + t.byteSize + " (" + t.type + " " + java.util.Arrays.toString(t.shape) + ")");
            }
            written += t.byteSize;
            boolean last = i == tensors.size() - 1;
            if (!last || trailingPadding) {
                int pad = (int) (GgufFile.alignUp(written, alignment) - written);
                writeFully(ch, ByteBuffer.wrap(zeros, 0, pad));
                written += pad;
            }
        }
    }

    private static void writeValueBody(Out out, GgufValue v) {
        Object raw = v.raw();
        switch (v.type()) {
            case UINT8, INT8 -> out.u8((Byte) raw);
            case UINT16, INT16 -> out.u16((Short) raw);
            case UINT32, INT32 -> out.u32((Integer) raw);
            case UINT64, INT64 -> out.u64((Long) raw);
            case FLOAT32 -> out.u32(Float.floatToRawIntBits((Float) raw));
            case FLOAT64 -> out.u64(Double.doubleToRawLongBits((Double) raw));
            case BOOL -> out.u8((byte) ((Boolean) raw ? 1 : 0));
            case STRING -> out.string((String) raw);
            case ARRAY -> writeArrayBody(out, v);
        }
    }

    private static void writeArrayBody(Out out, GgufValue v) {
        out.u32(v.elementType().id());
        out.u64(v.length());
        switch (v.raw()) {
            case byte[] a -> out.bytes(a);
            case short[] a -> { for (short x : a) out.u16(x); }
            case int[] a -> { for (int x : a) out.u32(x); }
            case long[] a -> { for (long x : a) out.u64(x); }
            case float[] a -> { for (float x : a) out.u32(Float.floatToRawIntBits(x)); }
            case double[] a -> { for (double x : a) out.u64(Double.doubleToRawLongBits(x)); }
            case boolean[] a -> { for (boolean x : a) out.u8((byte) (x ? 1 : 0)); }
            case List<?> l -> {
                for (Object o : l) {
                    if (o instanceof String s) {
                        out.string(s);
                    } else {
                        writeArrayBody(out, (GgufValue) o);
                    }
                }
            }
            default -> throw new AssertionError(v.raw().getClass());
        }
    }

    private static byte[] utf8(String s) {
        try {
            ByteBuffer b = StandardCharsets.UTF_8.newEncoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).encode(CharBuffer.wrap(s));
            byte[] out = new byte[b.remaining()];
            b.get(out);
            return out;
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("string cannot be encoded as UTF-8 (unpaired surrogate?): " + s, e);
        }
    }

    static void writeFully(WritableByteChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    /** Writes a segment of any size (also over 2 GiB) in chunks. */
    static void writeSegment(MemorySegment seg, WritableByteChannel out) throws IOException {
        final long chunk = 8L << 20;
        long size = seg.byteSize();
        for (long off = 0; off < size; off += chunk) {
            long n = Math.min(chunk, size - off);
            writeFully(out, seg.asSlice(off, n).asByteBuffer());
        }
    }

    /** Counts what a tensor callback writes, refuses more than declared, and reports progress. */
    private static final class CountingChannel implements WritableByteChannel {
        final FileChannel ch;
        final PendingTensor t;
        final ProgressListener progress;
        final long[] done;
        final long total;
        long count;
        boolean closed;

        CountingChannel(FileChannel ch, PendingTensor t, ProgressListener progress, long[] done, long total) {
            this.ch = ch;
            this.t = t;
            this.progress = progress;
            this.done = done;
            this.total = total;
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            if (closed) {
                throw new ClosedChannelException();
            }
            if (src.remaining() > t.byteSize - count) {
                throw new IllegalStateException("tensor '" + t.name + "' wrote more than its " + t.byteSize + " bytes");
            }
            int n = 0;
            while (src.hasRemaining()) {
                n += ch.write(src);
            }
            count += n;
            done[0] += n;
            progress.progress(done[0], total);
            return n;
        }

        @Override
        public boolean isOpen() {
            return !closed && ch.isOpen();
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    /** A growable little-endian byte buffer for the header and metadata. */
    private static final class Out {
        byte[] buf = new byte[1 << 16];
        int len;

        void ensure(int n) {
            if (len + n > buf.length) {
                long cap = Math.max((long) buf.length * 2, (long) len + n);
                if (cap > Integer.MAX_VALUE - 16) {
                    throw new IllegalStateException("GGUF metadata above 2 GiB");
                }
                buf = java.util.Arrays.copyOf(buf, (int) cap);
            }
        }

        void u8(byte v) {
            ensure(1);
            buf[len++] = v;
        }

        void u16(short v) {
            ensure(2);
            buf[len++] = (byte) v;
            buf[len++] = (byte) (v >>> 8);
        }

        void u32(int v) {
            ensure(4);
            for (int i = 0; i < 4; i++) {
                buf[len++] = (byte) (v >>> (8 * i));
            }
        }

        void u64(long v) {
            ensure(8);
            for (int i = 0; i < 8; i++) {
                buf[len++] = (byte) (v >>> (8 * i));
            }
        }

        void bytes(byte[] b) {
            ensure(b.length);
            System.arraycopy(b, 0, buf, len, b.length);
            len += b.length;
        }

        void string(String s) {
            byte[] b = isAscii(s) ? s.getBytes(StandardCharsets.ISO_8859_1) : utf8(s);
            u64(b.length);
            bytes(b);
        }

        void pad(int alignment) {
            int target = (int) GgufFile.alignUp(len, alignment);
            ensure(target - len);
            while (len < target) {
                buf[len++] = 0;
            }
        }

        private static boolean isAscii(String s) {
            for (int i = 0; i < s.length(); i++) {
                if (s.charAt(i) >= 0x80) {
                    return false;
                }
            }
            return true;
        }
    }
}
