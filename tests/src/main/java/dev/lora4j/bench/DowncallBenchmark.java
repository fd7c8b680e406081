package dev.lora4j.bench;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import dev.lora4j.bindings.ggml_h;
import dev.lora4j.bindings.lora4j_h;
import dev.lora4j.loader.NativeLibraries;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * What one downcall into lora4j's natives costs through FFM (as lora4j binds) and through JNA, and what copying a
 * vocabulary of logits out of native memory costs through each. See docs/benchmarks.md, "FFM vs JNA".
 *
 * <p>Three cases, every path calling the same function in the same loaded library:
 * <ul>
 *   <li>{@code version_*}: {@code int32_t lora4j_shim_version(void)} of {@code liblora4j.so}, no arguments: the
 *       bare cost of crossing into C and back.</li>
 *   <li>{@code fp16row_*}: {@code void ggml_fp32_to_fp16_row(const float *, ggml_fp16_t *, int64_t n)} of
 *       {@code libggml-base.so} with n = {@value #ROW} (the shim has no exported function taking a pointer that it
 *       does not dereference as a llama.cpp object): two pointers and a long, on native memory ({@code *_native})
 *       or on Java arrays ({@code *_heap}).</li>
 *   <li>{@code logits_*}: {@value #N_VOCAB} floats (a LLaMA-2 vocabulary of logits) from native memory into a
 *       Java {@code float[]}, into a fresh array (as {@code Context.logits()} returns one) or into a reused one.
 *       FFM and JNA read the same native buffer (FFM-allocated, wrapped for JNA as {@code new Pointer(address)}).</li>
 * </ul>
 * FFM handles and JNA proxies sit in static finals, as in generated bindings, so the JIT sees them as constants.
 * JNA loads the very files lora4j loaded ({@link NativeLibraries#directory()}), by absolute path.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
// a fixed, pre-touched heap: with a growing heap the allocating logits copies swing between 8 and 500 us per
// operation from one iteration to the next (young-generation resizing), which measures G1, not the copy
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch"})
public class DowncallBenchmark {
    static final int ROW = 16;
    static final int N_VOCAB = 32_000;

    /** FFM downcall handles made here (the generated bindings make theirs with no options, as {@link #PLAIN}). */
    static final class Ffm {
        private Ffm() {}

        static final Linker LINKER = Linker.nativeLinker();
        static final SymbolLookup LOOKUP = NativeLibraries.lookup();
        static final MemorySegment VERSION = LOOKUP.find("lora4j_shim_version").orElseThrow();
        static final MemorySegment FP16_ROW = LOOKUP.find("ggml_fp32_to_fp16_row").orElseThrow();
        static final FunctionDescriptor VERSION_DESC = FunctionDescriptor.of(ValueLayout.JAVA_INT);
        static final FunctionDescriptor ROW_DESC =
                FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG);

        static final MethodHandle PLAIN = LINKER.downcallHandle(VERSION, VERSION_DESC);
        static final MethodHandle CRITICAL = LINKER.downcallHandle(VERSION, VERSION_DESC, Linker.Option.critical(false));
        static final MethodHandle ROW_PLAIN = LINKER.downcallHandle(FP16_ROW, ROW_DESC);
        static final MethodHandle ROW_CRITICAL = LINKER.downcallHandle(FP16_ROW, ROW_DESC, Linker.Option.critical(false));
        static final MethodHandle ROW_CRITICAL_HEAP = LINKER.downcallHandle(FP16_ROW, ROW_DESC, Linker.Option.critical(true));
    }

    /** JNA direct mapping ({@link Native#register}) of the shim. */
    public static final class JnaDirectShim {
        private JnaDirectShim() {}

        static {
            Native.register(JnaDirectShim.class, library("liblora4j.so"));
        }

        public static native int lora4j_shim_version();
    }

    /** JNA direct mapping of ggml_fp32_to_fp16_row on native memory. */
    public static final class JnaDirectGgmlPointer {
        private JnaDirectGgmlPointer() {}

        static {
            Native.register(JnaDirectGgmlPointer.class, library("libggml-base.so.0"));
        }

        public static native void ggml_fp32_to_fp16_row(Pointer x, Pointer y, long n);
    }

    /** JNA direct mapping of ggml_fp32_to_fp16_row on Java arrays. */
    public static final class JnaDirectGgmlArray {
        private JnaDirectGgmlArray() {}

        static {
            Native.register(JnaDirectGgmlArray.class, library("libggml-base.so.0"));
        }

        public static native void ggml_fp32_to_fp16_row(float[] x, short[] y, long n);
    }

    /** JNA interface mapping ({@link Native#load}) of the shim. */
    public interface JnaShim extends Library {
        int lora4j_shim_version();
    }

    /** JNA interface mapping of ggml_fp32_to_fp16_row, on native memory and on Java arrays. */
    public interface JnaGgml extends Library {
        void ggml_fp32_to_fp16_row(Pointer x, Pointer y, long n);

        void ggml_fp32_to_fp16_row(float[] x, short[] y, long n);
    }

    static final class JnaInterface {
        private JnaInterface() {}

        static final JnaShim SHIM = Native.load(path("liblora4j.so"), JnaShim.class);
        static final JnaGgml GGML = Native.load(path("libggml-base.so.0"), JnaGgml.class);
    }

    static String path(String name) {
        return NativeLibraries.directory().resolve(name).toAbsolutePath().toString();
    }

    static NativeLibrary library(String name) {
        return NativeLibrary.getInstance(path(name));
    }

    private Arena arena;
    private float[] rowIn;
    private short[] rowOut;
    private MemorySegment rowInNative;
    private MemorySegment rowOutNative;
    private MemorySegment rowInHeap;
    private MemorySegment rowOutHeap;
    private Pointer rowInPointer;
    private Pointer rowOutPointer;

    private MemorySegment logits;      // the full native buffer
    private MemorySegment logitsRaw;   // its address as a downcall returns it (size 0), as Context.logits() gets it
    private Pointer logitsPointer;     // the same memory for JNA
    private float[] logitsOut;

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofShared();
        rowIn = new float[ROW];
        for (int i = 0; i < ROW; i++) {
            rowIn[i] = i * 0.37f - 2.5f;
        }
        rowOut = new short[ROW];
        rowInNative = arena.allocate(ValueLayout.JAVA_FLOAT, ROW);
        MemorySegment.copy(rowIn, 0, rowInNative, ValueLayout.JAVA_FLOAT, 0, ROW);
        rowOutNative = arena.allocate(ValueLayout.JAVA_SHORT, ROW);
        rowInHeap = MemorySegment.ofArray(rowIn);
        rowOutHeap = MemorySegment.ofArray(rowOut);
        rowInPointer = new Pointer(rowInNative.address());
        rowOutPointer = new Pointer(rowOutNative.address());

        logits = arena.allocate(ValueLayout.JAVA_FLOAT, N_VOCAB);
        for (int i = 0; i < N_VOCAB; i++) {
            logits.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) Math.sin(i));
        }
        logitsRaw = MemorySegment.ofAddress(logits.address());
        logitsPointer = new Pointer(logits.address());
        logitsOut = new float[N_VOCAB];

        check();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    /** Every path calls the same function and gets the same answer. */
    private void check() {
        int[] versions = {version_ffmGenerated(), version_ffmPlain(), version_ffmCritical(), version_jnaDirect(),
                version_jnaInterface()};
        for (int v : versions) {
            if (v != lora4j_h.LORA4J_SHIM_VERSION()) {
                throw new AssertionError("shim version " + Arrays.toString(versions));
            }
        }
        fp16row_ffmGenerated_native();
        short[] expected = rowOutNative.toArray(ValueLayout.JAVA_SHORT);
        Runnable[] rows = {this::fp16row_ffmPlain_native, this::fp16row_ffmCritical_native,
                this::fp16row_jnaDirect_native, this::fp16row_jnaInterface_native};
        for (Runnable r : rows) {
            rowOutNative.fill((byte) 0);
            r.run();
            if (!Arrays.equals(expected, rowOutNative.toArray(ValueLayout.JAVA_SHORT))) {
                throw new AssertionError("fp16 row differs on native memory");
            }
        }
        Runnable[] heapRows = {this::fp16row_ffmCriticalHeap_heap, this::fp16row_ffmPlainCopy_heap,
                this::fp16row_jnaDirect_heap, this::fp16row_jnaInterface_heap};
        for (Runnable r : heapRows) {
            Arrays.fill(rowOut, (short) 0);
            r.run();
            if (!Arrays.equals(expected, rowOut)) {
                throw new AssertionError("fp16 row differs on Java arrays");
            }
        }
        float[] want = logits.toArray(ValueLayout.JAVA_FLOAT);
        boolean same = Arrays.equals(want, logits_ffmToArray()) && Arrays.equals(want, logits_jnaGetFloatArray());
        Arrays.fill(logitsOut, 0f);
        same &= Arrays.equals(want, logits_ffmCopy());
        Arrays.fill(logitsOut, 0f);
        same &= Arrays.equals(want, logits_jnaRead());
        if (!same) {
            throw new AssertionError("logits differ");
        }
    }

    // ---- int32_t lora4j_shim_version(void) ----

    /** A Java call that returns the same int: the floor under every downcall. */
    @Benchmark
    public int version_javaBaseline() {
        return lora4j_h.LORA4J_SHIM_VERSION();
    }

    /** The generated binding lora4j uses (a plain downcall handle in a static final, behind a static method). */
    @Benchmark
    public int version_ffmGenerated() {
        return lora4j_h.lora4j_shim_version();
    }

    @Benchmark
    public int version_ffmPlain() {
        try {
            return (int) Ffm.PLAIN.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Linker.Option.critical(false): no thread-state transition (the callee must be short and not call back). */
    @Benchmark
    public int version_ffmCritical() {
        try {
            return (int) Ffm.CRITICAL.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    @Benchmark
    public int version_jnaDirect() {
        return JnaDirectShim.lora4j_shim_version();
    }

    @Benchmark
    public int version_jnaInterface() {
        return JnaInterface.SHIM.lora4j_shim_version();
    }

    // ---- void ggml_fp32_to_fp16_row(const float *, ggml_fp16_t *, int64_t), 16 floats ----

    @Benchmark
    public void fp16row_ffmGenerated_native() {
        ggml_h.ggml_fp32_to_fp16_row(rowInNative, rowOutNative, ROW);
    }

    @Benchmark
    public void fp16row_ffmPlain_native() {
        try {
            Ffm.ROW_PLAIN.invokeExact(rowInNative, rowOutNative, (long) ROW);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    @Benchmark
    public void fp16row_ffmCritical_native() {
        try {
            Ffm.ROW_CRITICAL.invokeExact(rowInNative, rowOutNative, (long) ROW);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    @Benchmark
    public void fp16row_jnaDirect_native() {
        JnaDirectGgmlPointer.ggml_fp32_to_fp16_row(rowInPointer, rowOutPointer, ROW);
    }

    @Benchmark
    public void fp16row_jnaInterface_native() {
        JnaInterface.GGML.ggml_fp32_to_fp16_row(rowInPointer, rowOutPointer, ROW);
    }

    /** Linker.Option.critical(true): Java arrays passed in place (heap segments), no copy. */
    @Benchmark
    public void fp16row_ffmCriticalHeap_heap() {
        try {
            Ffm.ROW_CRITICAL_HEAP.invokeExact(rowInHeap, rowOutHeap, (long) ROW);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** A plain handle refuses heap segments: copy in, call on native memory, copy out. */
    @Benchmark
    public void fp16row_ffmPlainCopy_heap() {
        MemorySegment.copy(rowIn, 0, rowInNative, ValueLayout.JAVA_FLOAT, 0, ROW);
        try {
            Ffm.ROW_PLAIN.invokeExact(rowInNative, rowOutNative, (long) ROW);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        MemorySegment.copy(rowOutNative, ValueLayout.JAVA_SHORT, 0, rowOut, 0, ROW);
    }

    @Benchmark
    public void fp16row_jnaDirect_heap() {
        JnaDirectGgmlArray.ggml_fp32_to_fp16_row(rowIn, rowOut, ROW);
    }

    @Benchmark
    public void fp16row_jnaInterface_heap() {
        JnaInterface.GGML.ggml_fp32_to_fp16_row(rowIn, rowOut, ROW);
    }

    // ---- 32,000 floats from native memory into a float[] ----

    /** As Context.logits(): the pointer a downcall returned, sized, copied into a new array. */
    @Benchmark
    public float[] logits_ffmToArray() {
        return logitsRaw.reinterpret((long) N_VOCAB * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
    }

    @Benchmark
    public float[] logits_jnaGetFloatArray() {
        return logitsPointer.getFloatArray(0, N_VOCAB);
    }

    /** Into a reused array. */
    @Benchmark
    public float[] logits_ffmCopy() {
        MemorySegment.copy(logits, ValueLayout.JAVA_FLOAT, 0, logitsOut, 0, N_VOCAB);
        return logitsOut;
    }

    @Benchmark
    public float[] logits_jnaRead() {
        logitsPointer.read(0, logitsOut, 0, N_VOCAB);
        return logitsOut;
    }
}
