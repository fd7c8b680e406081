package dev.lora4j.gguf;

/** The metadata value types of GGUF ({@code enum gguf_type}); ids are explicit, never ordinals. */
public enum GgufValueType {
    UINT8(0, 1),
    INT8(1, 1),
    UINT16(2, 2),
    INT16(3, 2),
    UINT32(4, 4),
    INT32(5, 4),
    FLOAT32(6, 4),
    BOOL(7, 1),
    STRING(8, -1),
    ARRAY(9, -1),
    UINT64(10, 8),
    INT64(11, 8),
    FLOAT64(12, 8);

    private static final GgufValueType[] BY_ID = values();

    private final int id;
    private final int size;

    GgufValueType(int id, int size) {
        this.id = id;
        this.size = size;
    }

    /** The id stored in the file. */
    public int id() {
        return id;
    }

    /** Bytes of one value in the file, or -1 for the variable-size STRING and ARRAY. */
    public int fixedSize() {
        return size;
    }

    /** The type with this id; throws IllegalArgumentException for an unknown one. */
    public static GgufValueType fromId(int id) {
        GgufValueType t = byIdOrNull(id);
        if (t == null) {
            throw new IllegalArgumentException("unknown GGUF value type id " + id);
        }
        return t;
    }

    static GgufValueType byIdOrNull(long id) {
        // BY_ID is in id order and dense (0..12)
        return id >= 0 && id < BY_ID.length ? BY_ID[(int) id] : null;
    }
}
