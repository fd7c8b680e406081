package dev.lora4j.gguf;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * One GGUF metadata value, keeping its declared type so that a file can be rewritten byte for byte.
 *
 * <p>Scalars are held boxed: UINT8/INT8 as {@link Byte}, UINT16/INT16 as {@link Short}, UINT32/INT32 as
 * {@link Integer}, UINT64/INT64 as {@link Long} (unsigned types keep their bit pattern; the typed accessors
 * widen them unsigned), FLOAT32 as {@link Float}, FLOAT64 as {@link Double}, BOOL as {@link Boolean},
 * STRING as {@link String}. Arrays of a numeric or BOOL element type are held as one primitive array (a
 * 32000-element score array is one {@code float[]}), arrays of strings as a {@code List<String>} and arrays
 * of arrays as a {@code List<GgufValue>}.
 *
 * <p>Instances are immutable: factories and accessors copy arrays.
 */
public final class GgufValue {
    private final GgufValueType type;
    private final GgufValueType elementType; // null unless type == ARRAY
    private final Object value;

    private GgufValue(GgufValueType type, GgufValueType elementType, Object value) {
        this.type = type;
        this.elementType = elementType;
        this.value = value;
    }

    // ---- scalar factories ----

    public static GgufValue ofUint8(int v) {
        checkRange(v, 0, 0xFF, "UINT8");
        return new GgufValue(GgufValueType.UINT8, null, (byte) v);
    }

    public static GgufValue ofInt8(int v) {
        checkRange(v, Byte.MIN_VALUE, Byte.MAX_VALUE, "INT8");
        return new GgufValue(GgufValueType.INT8, null, (byte) v);
    }

    public static GgufValue ofUint16(int v) {
        checkRange(v, 0, 0xFFFF, "UINT16");
        return new GgufValue(GgufValueType.UINT16, null, (short) v);
    }

    public static GgufValue ofInt16(int v) {
        checkRange(v, Short.MIN_VALUE, Short.MAX_VALUE, "INT16");
        return new GgufValue(GgufValueType.INT16, null, (short) v);
    }

    public static GgufValue ofUint32(long v) {
        checkRange(v, 0, 0xFFFF_FFFFL, "UINT32");
        return new GgufValue(GgufValueType.UINT32, null, (int) v);
    }

    public static GgufValue ofInt32(int v) {
        return new GgufValue(GgufValueType.INT32, null, v);
    }

    /** A UINT64 from its bit pattern (values above {@code Long.MAX_VALUE} are negative longs). */
    public static GgufValue ofUint64(long bits) {
        return new GgufValue(GgufValueType.UINT64, null, bits);
    }

    public static GgufValue ofInt64(long v) {
        return new GgufValue(GgufValueType.INT64, null, v);
    }

    public static GgufValue ofFloat32(float v) {
        return new GgufValue(GgufValueType.FLOAT32, null, v);
    }

    public static GgufValue ofFloat64(double v) {
        return new GgufValue(GgufValueType.FLOAT64, null, v);
    }

    public static GgufValue ofBool(boolean v) {
        return new GgufValue(GgufValueType.BOOL, null, v);
    }

    public static GgufValue ofString(String v) {
        return new GgufValue(GgufValueType.STRING, null, Objects.requireNonNull(v, "string value"));
    }

    // ---- array factories ----

    /** UINT8 or INT8 array. */
    public static GgufValue ofByteArray(GgufValueType elementType, byte[] v) {
        requireElement(elementType, GgufValueType.UINT8, GgufValueType.INT8);
        return new GgufValue(GgufValueType.ARRAY, elementType, v.clone());
    }

    /** UINT16 or INT16 array. */
    public static GgufValue ofShortArray(GgufValueType elementType, short[] v) {
        requireElement(elementType, GgufValueType.UINT16, GgufValueType.INT16);
        return new GgufValue(GgufValueType.ARRAY, elementType, v.clone());
    }

    /** UINT32 or INT32 array (UINT32 elements as bit patterns). */
    public static GgufValue ofIntArray(GgufValueType elementType, int[] v) {
        requireElement(elementType, GgufValueType.UINT32, GgufValueType.INT32);
        return new GgufValue(GgufValueType.ARRAY, elementType, v.clone());
    }

    /** UINT64 or INT64 array (UINT64 elements as bit patterns). */
    public static GgufValue ofLongArray(GgufValueType elementType, long[] v) {
        requireElement(elementType, GgufValueType.UINT64, GgufValueType.INT64);
        return new GgufValue(GgufValueType.ARRAY, elementType, v.clone());
    }

    public static GgufValue ofFloatArray(float[] v) {
        return new GgufValue(GgufValueType.ARRAY, GgufValueType.FLOAT32, v.clone());
    }

    public static GgufValue ofDoubleArray(double[] v) {
        return new GgufValue(GgufValueType.ARRAY, GgufValueType.FLOAT64, v.clone());
    }

    public static GgufValue ofBoolArray(boolean[] v) {
        return new GgufValue(GgufValueType.ARRAY, GgufValueType.BOOL, v.clone());
    }

    public static GgufValue ofStringArray(List<String> v) {
        List<String> copy = List.copyOf(v); // rejects nulls
        return new GgufValue(GgufValueType.ARRAY, GgufValueType.STRING, copy);
    }

    /** An array of arrays (GGUF allows nesting; llama.cpp itself does not read such keys). */
    public static GgufValue ofArrayArray(List<GgufValue> v) {
        List<GgufValue> copy = List.copyOf(v);
        for (GgufValue e : copy) {
            if (!e.isArray()) {
                throw new IllegalArgumentException("an array of arrays holds only arrays, got " + e.type);
            }
        }
        return new GgufValue(GgufValueType.ARRAY, GgufValueType.ARRAY, copy);
    }

    /** For the reader: wraps arrays it allocated itself, without copying. */
    static GgufValue wrapArray(GgufValueType elementType, Object array) {
        return new GgufValue(GgufValueType.ARRAY, elementType, array);
    }

    static GgufValue wrapScalar(GgufValueType type, Object boxed) {
        return new GgufValue(type, null, boxed);
    }

    // ---- inspection ----

    /** The declared type; ARRAY for arrays. */
    public GgufValueType type() {
        return type;
    }

    /** The element type of an array, or null for a scalar. */
    public GgufValueType elementType() {
        return elementType;
    }

    public boolean isArray() {
        return type == GgufValueType.ARRAY;
    }

    /** Number of elements of an array. */
    public int length() {
        requireArray();
        return switch (value) {
            case byte[] a -> a.length;
            case short[] a -> a.length;
            case int[] a -> a.length;
            case long[] a -> a.length;
            case float[] a -> a.length;
            case double[] a -> a.length;
            case boolean[] a -> a.length;
            case List<?> l -> l.size();
            default -> throw new AssertionError(value.getClass());
        };
    }

    /**
     * The held Java value: a boxed scalar or String, or for arrays a copy of the primitive array, an
     * unmodifiable {@code List<String>} or {@code List<GgufValue>}.
     */
    public Object value() {
        return switch (value) {
            case byte[] a -> a.clone();
            case short[] a -> a.clone();
            case int[] a -> a.clone();
            case long[] a -> a.clone();
            case float[] a -> a.clone();
            case double[] a -> a.clone();
            case boolean[] a -> a.clone();
            default -> value;
        };
    }

    /** Package access to the held value without copying (the reader and writer never mutate it). */
    Object raw() {
        return value;
    }

    // ---- scalar accessors ----

    /** Any integer scalar widened to long, unsigned types zero-extended (UINT64 returns its bit pattern). */
    public long asLong() {
        return switch (type) {
            case UINT8 -> Byte.toUnsignedLong((Byte) value);
            case INT8 -> (Byte) value;
            case UINT16 -> Short.toUnsignedLong((Short) value);
            case INT16 -> (Short) value;
            case UINT32 -> Integer.toUnsignedLong((Integer) value);
            case INT32 -> (Integer) value;
            case UINT64, INT64 -> (Long) value;
            default -> throw wrongType("an integer");
        };
    }

    /**
     * An integer scalar as int.
     *
     * @throws ArithmeticException if the value does not fit an int (e.g. a UINT32 above 2^31-1)
     */
    public int asInt() {
        long v = asLong();
        if (type == GgufValueType.UINT64 && v < 0) {
            throw new ArithmeticException("UINT64 value " + Long.toUnsignedString(v) + " does not fit an int");
        }
        return Math.toIntExact(v);
    }

    /** A FLOAT32 or FLOAT64 scalar (FLOAT64 rounded) as float. */
    public float asFloat() {
        return switch (type) {
            case FLOAT32 -> (Float) value;
            case FLOAT64 -> (float) (double) (Double) value;
            default -> throw wrongType("a float");
        };
    }

    /** A FLOAT32 or FLOAT64 scalar as double. */
    public double asDouble() {
        return switch (type) {
            case FLOAT32 -> (Float) value;
            case FLOAT64 -> (Double) value;
            default -> throw wrongType("a float");
        };
    }

    public boolean asBoolean() {
        if (type != GgufValueType.BOOL) {
            throw wrongType("a bool");
        }
        return (Boolean) value;
    }

    public String asString() {
        if (type != GgufValueType.STRING) {
            throw wrongType("a string");
        }
        return (String) value;
    }

    // ---- array accessors ----

    /** An array of strings (unmodifiable, not copied). */
    @SuppressWarnings("unchecked")
    public List<String> asStringList() {
        requireArrayOf(GgufValueType.STRING);
        return (List<String>) value;
    }

    /** An array of arrays (unmodifiable). */
    @SuppressWarnings("unchecked")
    public List<GgufValue> asArrayList() {
        requireArrayOf(GgufValueType.ARRAY);
        return (List<GgufValue>) value;
    }

    /** A copy of a FLOAT32 array. */
    public float[] asFloatArray() {
        requireArrayOf(GgufValueType.FLOAT32);
        return ((float[]) value).clone();
    }

    /** A FLOAT32 or FLOAT64 array as doubles. */
    public double[] asDoubleArray() {
        requireArray();
        return switch (value) {
            case float[] a -> {
                double[] d = new double[a.length];
                for (int i = 0; i < a.length; i++) {
                    d[i] = a[i];
                }
                yield d;
            }
            case double[] a -> a.clone();
            default -> throw wrongType("a float array");
        };
    }

    /**
     * An integer array whose elements all fit an int (UINT8/INT8/UINT16/INT16/INT32 always do; UINT32 and the
     * 64-bit types are checked), unsigned types zero-extended.
     *
     * @throws ArithmeticException if an element does not fit
     */
    public int[] asIntArray() {
        long[] l = asLongArray();
        int[] out = new int[l.length];
        boolean u64 = elementType == GgufValueType.UINT64;
        for (int i = 0; i < l.length; i++) {
            if (u64 && l[i] < 0) {
                throw new ArithmeticException("element " + i + " does not fit an int");
            }
            out[i] = Math.toIntExact(l[i]);
        }
        return out;
    }

    /** An integer array widened to longs, unsigned types zero-extended (UINT64 as bit patterns). */
    public long[] asLongArray() {
        requireArray();
        boolean unsigned = elementType == GgufValueType.UINT8 || elementType == GgufValueType.UINT16
                || elementType == GgufValueType.UINT32;
        return switch (value) {
            case byte[] a -> {
                long[] r = new long[a.length];
                for (int i = 0; i < a.length; i++) {
                    r[i] = unsigned ? Byte.toUnsignedLong(a[i]) : a[i];
                }
                yield r;
            }
            case short[] a -> {
                long[] r = new long[a.length];
                for (int i = 0; i < a.length; i++) {
                    r[i] = unsigned ? Short.toUnsignedLong(a[i]) : a[i];
                }
                yield r;
            }
            case int[] a -> {
                long[] r = new long[a.length];
                for (int i = 0; i < a.length; i++) {
                    r[i] = unsigned ? Integer.toUnsignedLong(a[i]) : a[i];
                }
                yield r;
            }
            case long[] a -> a.clone();
            default -> throw wrongType("an integer array");
        };
    }

    /** A copy of a UINT8/INT8 array's bytes. */
    public byte[] asByteArray() {
        requireArray();
        if (value instanceof byte[] a) {
            return a.clone();
        }
        throw wrongType("a UINT8/INT8 array");
    }

    /** A copy of a BOOL array. */
    public boolean[] asBoolArray() {
        requireArrayOf(GgufValueType.BOOL);
        return ((boolean[]) value).clone();
    }

    /** Elements of any array boxed as Java objects (scalars as {@link #value()} would give them). */
    public List<Object> asList() {
        requireArray();
        int n = length();
        List<Object> out = new ArrayList<>(n);
        switch (value) {
            case byte[] a -> { for (byte b : a) out.add(b); }
            case short[] a -> { for (short b : a) out.add(b); }
            case int[] a -> { for (int b : a) out.add(b); }
            case long[] a -> { for (long b : a) out.add(b); }
            case float[] a -> { for (float b : a) out.add(b); }
            case double[] a -> { for (double b : a) out.add(b); }
            case boolean[] a -> { for (boolean b : a) out.add(b); }
            case List<?> l -> out.addAll(l);
            default -> throw new AssertionError();
        }
        return Collections.unmodifiableList(out);
    }

    // ---- helpers ----

    private void requireArray() {
        if (!isArray()) {
            throw wrongType("an array");
        }
    }

    private void requireArrayOf(GgufValueType t) {
        if (!isArray() || elementType != t) {
            throw wrongType("an array of " + t);
        }
    }

    private IllegalStateException wrongType(String wanted) {
        return new IllegalStateException("value is " + describeType() + ", not " + wanted);
    }

    /** "UINT32" or "ARRAY[STRING]". */
    public String describeType() {
        return isArray() ? "ARRAY[" + elementType + "]" : type.toString();
    }

    private static void checkRange(long v, long min, long max, String t) {
        if (v < min || v > max) {
            throw new IllegalArgumentException(v + " is out of range for " + t);
        }
    }

    private static void requireElement(GgufValueType t, GgufValueType a, GgufValueType b) {
        if (t != a && t != b) {
            throw new IllegalArgumentException("element type must be " + a + " or " + b + ", got " + t);
        }
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof GgufValue other) || type != other.type || elementType != other.elementType) {
            return false;
        }
        return switch (value) {
            case byte[] a -> Arrays.equals(a, (byte[]) other.value);
            case short[] a -> Arrays.equals(a, (short[]) other.value);
            case int[] a -> Arrays.equals(a, (int[]) other.value);
            case long[] a -> Arrays.equals(a, (long[]) other.value);
            case float[] a -> Arrays.equals(a, (float[]) other.value);
            case double[] a -> Arrays.equals(a, (double[]) other.value);
            case boolean[] a -> Arrays.equals(a, (boolean[]) other.value);
            default -> value.equals(other.value);
        };
    }

    @Override
    public int hashCode() {
        int h = switch (value) {
            case byte[] a -> Arrays.hashCode(a);
            case short[] a -> Arrays.hashCode(a);
            case int[] a -> Arrays.hashCode(a);
            case long[] a -> Arrays.hashCode(a);
            case float[] a -> Arrays.hashCode(a);
            case double[] a -> Arrays.hashCode(a);
            case boolean[] a -> Arrays.hashCode(a);
            default -> value.hashCode();
        };
        return 31 * Objects.hash(type, elementType) + h;
    }

    @Override
    public String toString() {
        if (!isArray()) {
            return switch (type) {
                case UINT8, UINT16, UINT32 -> describeType() + " " + asLong();
                case UINT64 -> describeType() + " " + Long.toUnsignedString((Long) value);
                case STRING -> "STRING \"" + value + "\"";
                default -> describeType() + " " + value;
            };
        }
        int n = length();
        List<Object> head = asList().subList(0, Math.min(n, 8));
        return describeType() + "(" + n + ") " + head + (n > 8 ? "..." : "");
    }
}
