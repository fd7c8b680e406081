package dev.lora4j.merge;

import dev.lora4j.gguf.GgmlType;
import dev.lora4j.internal.MergerHandle;
import java.lang.foreign.MemorySegment;
import java.util.EnumMap;
import java.util.Map;

/** What ggml can convert, asked once per type. */
final class GgmlKernels {
    private static final Map<GgmlType, Boolean> CAN_DEQUANTIZE = new EnumMap<>(GgmlType.class);

    private GgmlKernels() {
    }

    /** Whether ggml can dequantise the type (has a {@code to_float}; F32 needs none). */
    static synchronized boolean canDequantize(GgmlType type) {
        return CAN_DEQUANTIZE.computeIfAbsent(type, t -> MergerHandle.canDequantize(t.id()));
    }

    /** A writable view of a (read-only, mapped) segment, to pass its address to native code that only reads it. */
    static MemorySegment writable(MemorySegment s) {
        return s.isReadOnly() ? MemorySegment.ofAddress(s.address()).reinterpret(s.byteSize()) : s;
    }
}
