package dev.lora4j.merge;

import dev.lora4j.gguf.GgmlType;
import java.util.Locale;
import java.util.Objects;

/**
 * The type a merged tensor is written in: {@link #KEEP} (each merged tensor re-quantised to its base tensor's own
 * type, in the same pass) or one fixed {@link GgmlType} for every merged tensor ({@code f32}, {@code f16},
 * {@code bf16}, {@code q8_0}, {@code q4_0}, {@code q4_k}, ...). Tensors no adapter touches are always copied byte
 * for byte, whatever the output type.
 *
 * <p>A fixed type whose block does not divide a tensor's rows falls back as {@code llama-quantize} does (Q4_K to
 * Q5_0, Q5_K to Q5_1, Q6_K to Q8_0, Q2_K/Q3_K/TQ* to Q4_0, IQ* to IQ4_NL, and F16 when even that does not fit);
 * the report names the type each tensor got. The writable types follow from the generated {@link GgmlType} table
 * ({@link LoraMerger#canWrite}); those ggml quantises only with an importance matrix ({@link GgmlType#needsImatrix()})
 * are refused.
 */
public final class OutputType {
    /** Each merged tensor keeps its base tensor's type (re-quantised after the merge). */
    public static final OutputType KEEP = new OutputType(null);

    private final GgmlType fixed;

    private OutputType(GgmlType fixed) {
        this.fixed = fixed;
    }

    /** Every merged tensor in {@code type} (with llama-quantize's fallback for rows the block does not divide). */
    public static OutputType of(GgmlType type) {
        Objects.requireNonNull(type, "type");
        if (!LoraMerger.canWrite(type)) {
            throw new IllegalArgumentException("cannot write merged tensors as " + type + ": " + LoraMerger.whyNotWritable(type));
        }
        return new OutputType(type);
    }

    /** {@code keep}, or a ggml type name such as {@code f32}, {@code f16}, {@code bf16}, {@code q8_0}, {@code q4_k}. */
    public static OutputType parse(String name) {
        String n = name.strip().toUpperCase(Locale.ROOT);
        if (n.equals("KEEP")) {
            return KEEP;
        }
        if (n.matches("Q[2-6]_K_[SML]|Q[2-6]_K_XL")) {
            throw new IllegalArgumentException("'" + name + "' is a llama-quantize mix of tensor types; give one type per merged tensor "
                    + "such as " + name.substring(0, 4).toLowerCase(Locale.ROOT) + ", or 'keep' to keep each tensor's type of such a base");
        }
        GgmlType t;
        try {
            t = GgmlType.valueOf(n);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown output type '" + name + "' (keep, f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, "
                    + "q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs, ...)");
        }
        return of(t);
    }

    public boolean isKeep() {
        return fixed == null;
    }

    /**
     * The type a merged tensor whose base is {@code baseType} with rows of {@code ne0} elements is written in.
     *
     * @throws IllegalArgumentException when that type cannot be written (KEEP on an importance-matrix type)
     */
    public GgmlType resolve(String tensor, GgmlType baseType, long ne0) {
        GgmlType t = fixed == null ? baseType : fallback(fixed, ne0);
        if (!LoraMerger.canWrite(t)) {
            throw new IllegalArgumentException("tensor '" + tensor + "' is " + baseType + ", which " + LoraMerger.whyNotWritable(t)
                    + "; merge with a fixed output type instead (e.g. --type q4_k or --type f16)");
        }
        return t;
    }

    /** llama-quantize's tensor_type_fallback: a type whose block divides {@code ne0}. */
    static GgmlType fallback(GgmlType target, long ne0) {
        if (ne0 % target.blockSize() == 0) {
            return target;
        }
        GgmlType r = switch (target) {
            case IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ4_XS -> GgmlType.IQ4_NL;
            case Q2_0, Q2_K, Q3_K, TQ1_0, TQ2_0 -> GgmlType.Q4_0;
            case Q4_K -> GgmlType.Q5_0;
            case Q5_K -> GgmlType.Q5_1;
            case Q6_K -> GgmlType.Q8_0;
            default -> target;
        };
        return ne0 % r.blockSize() == 0 ? r : GgmlType.F16;
    }

    /** {@code keep} or the lower-case type name: what {@link #parse} reads back. */
    @Override
    public String toString() {
        return fixed == null ? "keep" : fixed.name().toLowerCase(Locale.ROOT);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof OutputType t && t.fixed == fixed;
    }

    @Override
    public int hashCode() {
        return Objects.hashCode(fixed);
    }
}
