package dev.lora4j;

/**
 * One device of ggml's backend registry: the CPU, or a GPU of a CUDA build. See {@link Devices#list()}.
 *
 * @param index        position in ggml's device registry ({@code ggml_backend_dev_get(index)})
 * @param name         e.g. {@code CPU}, {@code CUDA0}
 * @param description  e.g. the CPU model, {@code NVIDIA H200}
 * @param type         what kind of device
 * @param freeBytes    free memory when listed ({@code ggml_backend_dev_memory}; for the CPU: free RAM)
 * @param totalBytes   total memory
 */
public record BackendDevice(int index, String name, String description, Type type, long freeBytes, long totalBytes) {

    /** ggml's {@code enum ggml_backend_dev_type}. */
    public enum Type {
        CPU(0), GPU(1), IGPU(2), ACCEL(3), META(4);

        private final int id;

        Type(int id) {
            this.id = id;
        }

        public int id() {
            return id;
        }

        public static Type fromId(int id) {
            for (Type t : values()) {
                if (t.id == id) {
                    return t;
                }
            }
            throw new IllegalArgumentException("unknown ggml_backend_dev_type " + id);
        }
    }

    /** A GPU (discrete or integrated): where {@link ModelParams#gpuLayers()} offloads layers to. */
    public boolean isGpu() {
        return type == Type.GPU || type == Type.IGPU;
    }

    /** One line: {@code CUDA0  GPU  NVIDIA H200  139.2 GiB free of 139.8 GiB}. */
    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT, "%-8s %-5s %s  %s free of %s", name, type, description,
                Devices.formatBytes(freeBytes), Devices.formatBytes(totalBytes));
    }
}
