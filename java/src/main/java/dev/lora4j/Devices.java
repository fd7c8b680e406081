package dev.lora4j;

import dev.lora4j.internal.Llama;
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
        List<Llama.Device> devices = Llama.devices();
        return java.util.stream.IntStream.range(0, devices.size()).mapToObj(i -> {
            Llama.Device d = devices.get(i);
            return new BackendDevice(i, d.name(), d.description(), BackendDevice.Type.fromId(d.type()), d.freeBytes(), d.totalBytes());
        }).toList();
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
}
