package dev.lora4j.gguf;

/**
 * The tensor element types of ggml ({@code enum ggml_type} in the pinned {@code ggml.h}), with the block
 * size and bytes per block of ggml's {@code type_traits} table.
 *
 * <p>Ids are explicit and have gaps (4, 5 and 31..33, 36..38 were removed from ggml); always convert with
 * {@link #id()} and {@link #fromId(int)}, never with ordinals.
 */
public enum GgmlType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q4_0(2, 32, 18),
    Q4_1(3, 32, 20),
    Q5_0(6, 32, 22),
    Q5_1(7, 32, 24),
    Q8_0(8, 32, 34),
    Q8_1(9, 32, 36),
    Q2_K(10, 256, 84),
    Q3_K(11, 256, 110),
    Q4_K(12, 256, 144),
    Q5_K(13, 256, 176),
    Q6_K(14, 256, 210),
    Q8_K(15, 256, 292),
    IQ2_XXS(16, 256, 66),
    IQ2_XS(17, 256, 74),
    IQ3_XXS(18, 256, 98),
    IQ1_S(19, 256, 50),
    IQ4_NL(20, 32, 18),
    IQ3_S(21, 256, 110),
    IQ2_S(22, 256, 82),
    IQ4_XS(23, 256, 136),
    I8(24, 1, 1),
    I16(25, 1, 2),
    I32(26, 1, 4),
    I64(27, 1, 8),
    F64(28, 1, 8),
    IQ1_M(29, 256, 56),
    BF16(30, 1, 2),
    TQ1_0(34, 256, 54),
    TQ2_0(35, 256, 66),
    MXFP4(39, 32, 17),
    NVFP4(40, 64, 36),
    Q1_0(41, 128, 18),
    Q2_0(42, 64, 18);

    /** {@code GGML_TYPE_COUNT} of the pinned ggml: every valid id is below it. */
    public static final int ID_LIMIT = 43;

    private static final GgmlType[] BY_ID = new GgmlType[ID_LIMIT];

    static {
        for (GgmlType t : values()) {
            BY_ID[t.id] = t;
        }
    }

    private final int id;
    private final int blockSize;
    private final int typeSize;

    GgmlType(int id, int blockSize, int typeSize) {
        this.id = id;
        this.blockSize = blockSize;
        this.typeSize = typeSize;
    }

    /** The {@code ggml_type} value as stored in GGUF tensor infos. */
    public int id() {
        return id;
    }

    /** Elements per block ({@code ggml_blck_size}); 1 for plain types. */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block ({@code ggml_type_size}). */
    public int typeSize() {
        return typeSize;
    }

    /** True for block-quantised types (block size above 1). */
    public boolean isQuantized() {
        return blockSize > 1;
    }

    /**
     * The type with this id.
     *
     * @throws IllegalArgumentException for an id ggml does not define (including removed ones)
     */
    public static GgmlType fromId(int id) {
        GgmlType t = id >= 0 && id < ID_LIMIT ? BY_ID[id] : null;
        if (t == null) {
            throw new IllegalArgumentException("unknown ggml type id " + id);
        }
        return t;
    }

    /** The type with this id, or null for an unknown id. */
    static GgmlType byIdOrNull(long id) {
        return id >= 0 && id < ID_LIMIT ? BY_ID[(int) id] : null;
    }

    /**
     * Bytes of a contiguous tensor of this type with shape {@code ne} (ggml order, {@code ne[0]} is the row).
     *
     * @throws IllegalArgumentException if {@code ne} has no or more than 4 dims, a dim is not positive,
     *         {@code ne[0]} is not a multiple of {@link #blockSize()}, or the size overflows a long
     */
    public long byteSize(long... ne) {
        if (ne == null || ne.length < 1 || ne.length > 4) {
            throw new IllegalArgumentException("a tensor has 1 to 4 dims, got " + (ne == null ? "null" : ne.length));
        }
        long rows = 1;
        for (int i = 0; i < ne.length; i++) {
            if (ne[i] <= 0) {
                throw new IllegalArgumentException("dim " + i + " must be positive, got " + ne[i]);
            }
            if (i > 0) {
                rows = multiplyOrThrow(rows, ne[i]);
            }
        }
        if (ne[0] % blockSize != 0) {
            throw new IllegalArgumentException(
                    "row length " + ne[0] + " of a " + this + " tensor is not a multiple of its block size " + blockSize);
        }
        long rowBytes = multiplyOrThrow(ne[0] / blockSize, typeSize);
        return multiplyOrThrow(rowBytes, rows);
    }

    private static long multiplyOrThrow(long a, long b) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("tensor size overflows 64 bits");
        }
    }
}
