package dev.lora4j.gguf;

import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor's entry in a GGUF file.
 *
 * @param name     tensor name (under 64 bytes of UTF-8, ggml's {@code GGML_MAX_NAME})
 * @param shape    dims in ggml {@code ne} order ({@code shape[0]} is the contiguous row); 1 to 4 dims
 * @param type     element type
 * @param offset   start of the data relative to the start of the data section ({@link GgufFile#dataOffset()})
 * @param byteSize bytes of data ({@link GgmlType#byteSize(long...)} of the shape)
 */
public record GgufTensorInfo(String name, long[] shape, GgmlType type, long offset, long byteSize) {
    public GgufTensorInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        shape = shape.clone();
    }

    /** A copy of the shape. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of dims (1..4). */
    public int nDims() {
        return shape.length;
    }

    /** {@code shape[i]}, or 1 for {@code i >= nDims()}, like ggml's {@code ne}. */
    public long ne(int i) {
        return i < shape.length ? shape[i] : 1;
    }

    /** Number of elements. */
    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensorInfo t && name.equals(t.name) && Arrays.equals(shape, t.shape)
                && type == t.type && offset == t.offset && byteSize == t.byteSize;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, Arrays.hashCode(shape), type, offset, byteSize);
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(shape) + " @" + offset + " (" + byteSize + " bytes)";
    }
}
