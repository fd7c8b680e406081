package dev.lora4j;

import static dev.lora4j.bindings.ggml_backend_h.*;

import dev.lora4j.internal.Llama;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The compute devices of this build of the natives: always the CPU, plus one entry per GPU on a CUDA build
 * ({@code native/build.sh} builds CUDA when it finds a toolkit with cuBLAS). Memory figures are read at each call.
 */
public final class Devices {
    private Devices() {}

    /** Every device of ggml's registry, in registry order, with its memory as of now. */
    public static List<BackendDevice> list() {
        Llama.init();
        long n = ggml_backend_dev_count();
        List<BackendDevice> out = new ArrayList<>((int) n);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment total = arena.allocate(ValueLayout.JAVA_LONG);
            for (int i = 0; i < n; i++) {
                MemorySegment dev = ggml_backend_dev_get(i);
                free.set(ValueLayout.JAVA_LONG, 0, 0);
                total.set(ValueLayout.JAVA_LONG, 0, 0);
                ggml_backend_dev_memory(dev, free, total);
                out.add(new BackendDevice(i, string(ggml_backend_dev_name(dev)), string(ggml_backend_dev_description(dev)),
                        BackendDevice.Type.fromId(ggml_backend_dev_type(dev)), free.get(ValueLayout.JAVA_LONG, 0),
                        total.get(ValueLayout.JAVA_LONG, 0)));
            }
        }
        return List.copyOf(out);
    }

    /** The GPUs, in the order {@link ModelParams#mainGpu()} counts them. Empty on a CPU-only build. */
    public static List<BackendDevice> gpus() {
        return list().stream().filter(BackendDevice::isGpu).toList();
    }

    /** Whether this build has a GPU backend with at least one device: without one, GPU layers are ignored. */
    public static boolean hasGpu() {
        return !gpus().isEmpty();
    }

    /**
     * Checks GPU options against this build: returns {@code null} when they take effect, else the sentence to tell the
     * user (a CPU-only build ignores GPU layers and the device; {@code device} -1 = not given). Throws when
     * {@code device} names a GPU the build does not have.
     */
    public static String checkGpuOptions(int gpuLayers, int device) {
        List<BackendDevice> gpus = gpus();
        if (gpus.isEmpty()) {
            List<String> given = new java.util.ArrayList<>();
            if (gpuLayers != 0) {
                given.add("--gpu-layers " + gpuLayers);
            }
            if (device >= 0) {
                given.add("--device " + device);
            }
            if (!given.isEmpty()) {
                return "this build of lora4j has no GPU backend (devices: " + names(list())
                        + "), so " + String.join(" and ", given) + (given.size() == 1 ? " is" : " are")
                        + " ignored: everything runs on the CPU"
                        + " (build the natives on a machine with a CUDA toolkit and cuBLAS for GPU offload)";
            }
            return null;
        }
        if (device >= gpus.size()) {
            throw new IllegalArgumentException("--device " + device + " does not exist: this build has " + gpus.size()
                    + " GPU(s): " + names(gpus));
        }
        return null;
    }

    private static String names(List<BackendDevice> devs) {
        return String.join(", ", devs.stream().map(BackendDevice::name).toList());
    }

    static String formatBytes(long b) {
        if (b >= 1L << 30) {
            return String.format(Locale.ROOT, "%.1f GiB", b / (double) (1L << 30));
        }
        return String.format(Locale.ROOT, "%.1f MiB", b / (double) (1L << 20));
    }

    private static String string(MemorySegment p) {
        return p.equals(MemorySegment.NULL) ? "" : p.reinterpret(Long.MAX_VALUE).getString(0, StandardCharsets.UTF_8);
    }
}
