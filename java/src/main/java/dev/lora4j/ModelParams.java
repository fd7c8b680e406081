package dev.lora4j;

/**
 * How to load a model.
 *
 * <p>GPU offload: {@code gpuLayers} layers (-1 = all) go to the GPU devices of the build ({@link Devices#list()});
 * with {@link SplitMode#LAYER} (llama.cpp's default) they are spread over all of them, with {@link SplitMode#NONE}
 * the whole model goes to device {@code mainGpu} ({@link #withDevice(int)}). A CPU-only build ignores both (see
 * {@link Devices#hasGpu()}).
 *
 * @param gpuLayers      layers to offload to the GPU (-1 = all, 0 = none; ignored without a GPU backend)
 * @param mainGpu        index among the GPU devices: the one used when the model is not split ({@link SplitMode#NONE})
 * @param useMmap        map the file instead of reading it
 * @param useMlock       lock the weights in RAM
 * @param checkTensors   validate tensor data while loading (slow; catches NaN/Inf weights)
 * @param useExtraBufts  allow repacked weight layouts (faster CPU matmuls; must be false for training)
 * @param vocabOnly      load only the vocabulary
 * @param splitMode      how offloaded layers are spread over several GPUs
 * @param anyArchitecture load architectures (and tokenizers) lora4j has not audited: llama.cpp aborts the process on
 *                       some malformed files of those, so set it only for files you trust (default: llama only)
 */
public record ModelParams(int gpuLayers, int mainGpu, boolean useMmap, boolean useMlock, boolean checkTensors,
                          boolean useExtraBufts, boolean vocabOnly, SplitMode splitMode, boolean anyArchitecture) {

    /** llama.cpp's {@code enum llama_split_mode}. */
    public enum SplitMode {
        /** the whole model on one GPU ({@code mainGpu}) */
        NONE(0),
        /** layers spread over all GPUs (llama.cpp's default) */
        LAYER(1),
        /** rows of each tensor split over all GPUs */
        ROW(2);

        private final int id;

        SplitMode(int id) {
            this.id = id;
        }

        public int id() {
            return id;
        }

        public static SplitMode fromId(int id) {
            for (SplitMode m : values()) {
                if (m.id == id) {
                    return m;
                }
            }
            throw new IllegalArgumentException("unknown llama_split_mode " + id);
        }
    }

    public ModelParams {
        if (gpuLayers < -1) {
            throw new IllegalArgumentException("gpuLayers must be -1 (all) or >= 0, got " + gpuLayers);
        }
        if (mainGpu < 0) {
            throw new IllegalArgumentException("mainGpu must be >= 0, got " + mainGpu);
        }
        if (splitMode == null) {
            throw new IllegalArgumentException("splitMode must not be null");
        }
    }

    /** CPU-only defaults (llama.cpp's, except no GPU offload). */
    public static ModelParams defaults() {
        return new ModelParams(0, 0, true, false, false, true, false, SplitMode.LAYER, false);
    }

    public ModelParams withGpuLayers(int n) {
        return new ModelParams(n, mainGpu, useMmap, useMlock, checkTensors, useExtraBufts, vocabOnly, splitMode, anyArchitecture);
    }

    /** The whole model on GPU device {@code gpu} (an index among the GPUs of {@link Devices#gpus()}): no split. */
    public ModelParams withDevice(int gpu) {
        return new ModelParams(gpuLayers, gpu, useMmap, useMlock, checkTensors, useExtraBufts, vocabOnly, SplitMode.NONE, anyArchitecture);
    }

    public ModelParams withSplitMode(SplitMode mode) {
        return new ModelParams(gpuLayers, mainGpu, useMmap, useMlock, checkTensors, useExtraBufts, vocabOnly, mode, anyArchitecture);
    }

    public ModelParams withMmap(boolean mmap) {
        return new ModelParams(gpuLayers, mainGpu, mmap, useMlock, checkTensors, useExtraBufts, vocabOnly, splitMode, anyArchitecture);
    }

    public ModelParams withCheckTensors(boolean check) {
        return new ModelParams(gpuLayers, mainGpu, useMmap, useMlock, check, useExtraBufts, vocabOnly, splitMode, anyArchitecture);
    }

    public ModelParams withExtraBufts(boolean extra) {
        return new ModelParams(gpuLayers, mainGpu, useMmap, useMlock, checkTensors, extra, vocabOnly, splitMode, anyArchitecture);
    }

    public ModelParams withVocabOnly(boolean only) {
        return new ModelParams(gpuLayers, mainGpu, useMmap, useMlock, checkTensors, useExtraBufts, only, splitMode, anyArchitecture);
    }

    /** Loads architectures and tokenizers lora4j has not audited (only for files you trust). */
    public ModelParams withAnyArchitecture(boolean any) {
        return new ModelParams(gpuLayers, mainGpu, useMmap, useMlock, checkTensors, useExtraBufts, vocabOnly, splitMode, any);
    }
}
