package dev.lora4j.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.invoke.MethodHandle;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Checks the shape of the generated bindings without native libraries: struct and callback classes and the
 * constants of the header classes work without loading them (that happens on the first function call only).
 */
class BindingsShapeTest {
    private static final Map<String, String> HEADER_CLASSES = Map.of(
            "llama.h", "llama_h", "ggml.h", "ggml_h", "ggml-backend.h", "ggml_backend_h",
            "ggml-opt.h", "ggml_opt_h", "ggml-rpc.h", "ggml_rpc_h", "gguf.h", "gguf_h", "lora4j.h", "lora4j_h");

    @AfterAll
    static void nativesWereNotLoaded() throws Exception {
        Field f = Class.forName("dev.lora4j.loader.NativeLibraries").getDeclaredField("lookup");
        f.setAccessible(true);
        assertNull(f.get(null), "struct/callback classes or constants loaded the natives (CTypes must not touch SymbolLookup)");
    }

    @Test
    void everyStructClassBuildsItsLayout() throws Exception {
        List<String> structs = StructClasses.structNames();
        assertTrue(structs.size() >= 30, "structs in symbols.txt: " + structs.size());
        try (Arena arena = Arena.ofConfined()) {
            for (String s : structs) {
                Class<?> c = Class.forName(StructClasses.PACKAGE + "." + s);
                GroupLayout layout = StructClasses.layoutOf(c);
                assertEquals(s, layout.name().orElseThrow(), "layout name of " + s);
                assertEquals(layout.byteSize(), (long) c.getMethod("sizeof").invoke(null), s + ".sizeof()");
                MemorySegment one = (MemorySegment) c.getMethod("allocate", SegmentAllocator.class).invoke(null, arena);
                assertEquals(layout.byteSize(), one.byteSize());
                MemorySegment three = (MemorySegment) c.getMethod("allocateArray", long.class, SegmentAllocator.class).invoke(null, 3L, arena);
                assertEquals(3 * layout.byteSize(), three.byteSize());
                MemorySegment second = (MemorySegment) c.getMethod("asSlice", MemorySegment.class, long.class).invoke(null, three, 1L);
                assertEquals(layout.byteSize(), second.address() - three.address(), s + ".asSlice");
                assertNotNull(c.getMethod("reinterpret", MemorySegment.class, Arena.class, java.util.function.Consumer.class));
            }
        }
    }

    @Test
    void everyCallbackClassHasItsShapeAndUpcallsWork() throws Exception {
        List<String> callbacks = StructClasses.names("callback");
        assertTrue(callbacks.size() >= 20, "callbacks in symbols.txt: " + callbacks.size());
        for (String cb : callbacks) {
            Class<?> c = Class.forName(StructClasses.PACKAGE + "." + cb);
            FunctionDescriptor desc = (FunctionDescriptor) c.getMethod("descriptor").invoke(null);
            Class<?> fi = Class.forName(c.getName() + "$Function");
            assertTrue(fi.isInterface(), cb + ".Function");
            Method apply = Arrays.stream(fi.getMethods()).filter(m -> m.getName().equals("apply")).findFirst().orElseThrow();
            assertEquals(desc.toMethodType().parameterCount(), apply.getParameterCount(), cb + ".Function.apply arity");
            assertNotNull(c.getMethod("allocate", fi, Arena.class));
        }
        // a real round trip through an upcall stub and the downcall invoker, no natives needed
        AtomicReference<String> seen = new AtomicReference<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment stub = ggml_log_callback.allocate((level, text, userData) ->
                    seen.set(level + ":" + text.getString(0) + ":" + userData.address()), arena);
            ggml_log_callback.invoke(stub, 3, arena.allocateFrom("hello"), MemorySegment.ofAddress(42));
            assertEquals("3:hello:42", seen.get());

            MemorySegment abort = ggml_abort_callback.allocate(data -> data.address() == 7, arena);
            assertTrue(ggml_abort_callback.invoke(abort, MemorySegment.ofAddress(7)));
            assertFalse(ggml_abort_callback.invoke(abort, MemorySegment.NULL));
        }
    }

    @Test
    void everyFunctionHasItsMethodsInTheClassOfItsHeader() throws Exception {
        List<String> problems = new ArrayList<>();
        int count = 0;
        for (String[] row : StructClasses.symbols()) {
            if (!row[1].equals("function")) {
                continue;
            }
            count++;
            boolean variadic = row[2].startsWith("(variadic)");
            String header = row[2].substring(row[2].lastIndexOf(' ') + 1);
            String cls = HEADER_CLASSES.get(header);
            Class<?> c = Class.forName(StructClasses.PACKAGE + "." + cls, false, getClass().getClassLoader());
            String name = row[0];
            if (!variadic) {
                boolean found = Arrays.stream(c.getMethods()).anyMatch(m -> m.getName().equals(name) && Modifier.isStatic(m.getModifiers()));
                if (!found) {
                    problems.add(cls + "." + name + "(...) missing");
                    continue;
                }
                for (String suffix : new String[] {"$descriptor", "$handle", "$address"}) {
                    try {
                        c.getMethod(name + suffix);
                    } catch (NoSuchMethodException e) {
                        problems.add(cls + "." + name + suffix + "() missing");
                    }
                }
            } else {
                try {
                    Class<?> inv = Class.forName(c.getName() + "$" + name, false, getClass().getClassLoader());
                    inv.getMethod("makeInvoker", MemoryLayout[].class);
                } catch (ReflectiveOperationException e) {
                    problems.add(cls + "." + name + " variadic invoker missing: " + e);
                }
            }
        }
        assertTrue(count > 800, "functions in symbols.txt: " + count);
        if (!problems.isEmpty()) {
            fail(String.join("\n", problems));
        }
    }

    @Test
    void functionsLandInTheClassOfTheDeclaringHeader() throws Exception {
        Class<?> llama = Class.forName(StructClasses.PACKAGE + ".llama_h", false, getClass().getClassLoader());
        Class<?> ggml = Class.forName(StructClasses.PACKAGE + ".ggml_h", false, getClass().getClassLoader());
        assertTrue(Arrays.stream(llama.getMethods()).noneMatch(m -> m.getName().startsWith("ggml_")), "ggml_* functions in llama_h");
        assertTrue(Arrays.stream(ggml.getMethods()).anyMatch(m -> m.getName().equals("ggml_init")));
        assertTrue(Arrays.stream(llama.getMethods()).anyMatch(m -> m.getName().equals("llama_decode")));
        // struct by value return: leading SegmentAllocator
        Method m = llama.getMethod("llama_model_default_params", SegmentAllocator.class);
        assertEquals(MemorySegment.class, m.getReturnType());
        Method decode = llama.getMethod("llama_decode", MemorySegment.class, MemorySegment.class);
        assertEquals(int.class, decode.getReturnType());
        assertEquals(MethodHandle.class, llama.getMethod("llama_decode$handle").getReturnType());
        Class<?> shim = Class.forName(StructClasses.PACKAGE + ".lora4j_h", false, getClass().getClassLoader());
        assertNotNull(shim.getMethod("lora4j_decode", MemorySegment.class, MemorySegment.class));
        assertNotNull(shim.getMethod("lora4j_model_load", MemorySegment.class, MemorySegment.class));
    }

    @Test
    void constantsNeedNoNatives() {
        assertEquals(-1, llama_h.LLAMA_DEFAULT_SEED()); // 0xFFFFFFFF, an unsigned int literal
        assertEquals(-1, llama_h.LLAMA_TOKEN_NULL());
        assertEquals(4, ggml_h.GGML_MAX_DIMS());
        assertEquals(64, ggml_h.GGML_MAX_NAME());
        assertEquals(-1, ggml_h.GGML_N_TASKS_MAX());
        assertEquals(0x67676d6c, ggml_h.GGML_FILE_MAGIC());
        assertEquals("GGUF", gguf_h.GGUF_MAGIC().getString(0));
        assertEquals("general.alignment", gguf_h.GGUF_KEY_GENERAL_ALIGNMENT().getString(0));
        assertEquals(5, lora4j_h.LORA4J_SHIM_VERSION());
        assertEquals(-100, lora4j_h.LORA4J_ERR_EXCEPTION());
        assertEquals(-101, lora4j_h.LORA4J_ERR_ARGUMENT());
        assertEquals(-102, lora4j_h.LORA4J_ERR_LLAMA());
        assertEquals(0, ggml_h.GGML_TYPE_F32());
        assertEquals(1, ggml_h.GGML_TYPE_F16());
        assertEquals(llama_h.LLAMA_FILE_MAGIC_GGSN(), llama_h.LLAMA_SESSION_MAGIC());
    }

    @Test
    void structAccessorsReadAndWrite() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment batch = llama_batch.allocate(arena);
            llama_batch.n_tokens(batch, 5);
            MemorySegment tokens = arena.allocate(20);
            llama_batch.token(batch, tokens);
            assertEquals(5, llama_batch.n_tokens(batch));
            assertEquals(tokens.address(), llama_batch.token(batch).address());
            assertEquals(5, batch.get(java.lang.foreign.ValueLayout.JAVA_INT, llama_batch.n_tokens$offset()));

            // anonymous union inside llama_model_kv_override
            MemorySegment kv = llama_model_kv_override.allocate(arena);
            llama_model_kv_override.val_i64(kv, 0x1122334455667788L);
            assertEquals(0x1122334455667788L, llama_model_kv_override.val_i64(kv));
            assertEquals(136, llama_model_kv_override.val_i64$offset());
            assertEquals(llama_model_kv_override.val_i64$offset(), llama_model_kv_override.val_f64$offset());
            llama_model_kv_override.val_f64(kv, 1.5);
            assertEquals(1.5, llama_model_kv_override.val_f64(kv));
            MemorySegment str = llama_model_kv_override.val_str(kv);
            assertEquals(128, str.byteSize());
            str.setString(0, "abc");
            assertEquals("abc", llama_model_kv_override.val_str(kv).getString(0));
            llama_model_kv_override.key(kv, 0, (byte) 'k');
            assertEquals((byte) 'k', llama_model_kv_override.key(kv, 0));
            assertArrayEquals(new long[] {128}, llama_model_kv_override.key$dimensions());
            assertThrows(IndexOutOfBoundsException.class, () -> llama_model_kv_override.key(kv, 128));

            // indexed array accessors
            MemorySegment t = ggml_tensor.allocate(arena);
            for (int i = 0; i < 4; i++) {
                ggml_tensor.ne(t, i, 10L + i);
            }
            assertEquals(13L, ggml_tensor.ne(t).getAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG, 3));
            assertEquals(12L, ggml_tensor.ne(t, 2));

            // nested struct of an anonymous struct type
            MemorySegment opt = ggml_opt_optimizer_params.allocate(arena);
            MemorySegment adamw = ggml_opt_optimizer_params.adamw(opt);
            ggml_opt_optimizer_params.adamw.alpha(adamw, 0.25f);
            assertEquals(0.25f, ggml_opt_optimizer_params.adamw.alpha(ggml_opt_optimizer_params.adamw(opt)));

            // struct-typed field: getter slices, setter copies
            MemorySegment props = ggml_backend_dev_props.allocate(arena);
            MemorySegment caps = ggml_backend_dev_caps.allocate(arena);
            ggml_backend_dev_caps.async(caps, true);
            ggml_backend_dev_props.caps(props, caps);
            assertTrue(ggml_backend_dev_caps.async(ggml_backend_dev_props.caps(props)));

            MemorySegment msg = llama_chat_message.allocate(arena);
            llama_chat_message.role(msg, arena.allocateFrom("user"));
            assertEquals("user", llama_chat_message.role(msg).getString(0));

            MemorySegment arr = llama_token_data_array.allocate(arena);
            llama_token_data_array.size(arr, 7L);
            llama_token_data_array.sorted(arr, true);
            assertEquals(7L, llama_token_data_array.size(arr));
            assertTrue(llama_token_data_array.sorted(arr));
            assertEquals(JAVA_BYTE.byteSize(), llama_token_data_array.sorted$layout().byteSize());
        }
    }
}
