package dev.lora4j.merge;

import dev.lora4j.bindings.ggml_h;
import dev.lora4j.bindings.ggml_type_traits;
import dev.lora4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.EnumMap;
import java.util.Map;

/** What ggml can convert, asked through the bindings. */
final class GgmlKernels {
    private static final Map<GgmlType, MemorySegment> TO_FLOAT = new EnumMap<>(GgmlType.class);

    private GgmlKernels() {
    }

    /** ggml's {@code to_float} of a type, or NULL when it has none. Natives must be initialised. */
    static synchronized MemorySegment toFloatFn(GgmlType type) {
        return TO_FLOAT.computeIfAbsent(type, t -> {
            MemorySegment traits = ggml_h.ggml_get_type_traits(t.id()).reinterpret(ggml_type_traits.layout().byteSize());
            return ggml_type_traits.to_float(traits);
        });
    }

    static boolean canDequantize(GgmlType type) {
        return type == GgmlType.F32 || !toFloatFn(type).equals(MemorySegment.NULL);
    }

    /** A writable view of a (read-only, mapped) segment, to pass its address to native code that only reads it. */
    static MemorySegment writable(MemorySegment s) {
        return s.isReadOnly() ? MemorySegment.ofAddress(s.address()).reinterpret(s.byteSize()) : s;
    }
}
