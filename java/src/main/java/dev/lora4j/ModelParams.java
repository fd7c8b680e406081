package dev.lora4j;

/**
 * How to load a model.
 *
 * @param gpuLayers      layers to offload to the GPU (-1 = all, 0 = none; ignored without a GPU backend)
 * @param mainGpu        the GPU used when the model is not split
 * @param useMmap        map the file instead of reading it
 * @param useMlock       lock the weights in RAM
 * @param checkTensors   validate tensor data while loading (slow; catches NaN/Inf weights)
 * @param useExtraBufts  allow repacked weight layouts (faster CPU matmuls; must be false for training)
 * @param vocabOnly      load only the vocabulary
 */
public record ModelParams(int gpuLayers, int mainGpu, boolean useMmap, boolean useMlock, boolean checkTensors,
                          boolean useExtraBufts, boolean vocabOnly) {
    public ModelParams {
        if (gpuLayers < -1) {
            throw new IllegalArgumentException("gpuLayers must be -1 (all) or >= 0, got " + gpuLayers);
        }
        if (mainGpu < 0) {
            throw new IllegalArgumentException("mainGpu must be >= 0, got " + mainGpu);
        }
    }

    /** CPU-only defaults (llama.cpp's, except no GPU offload). */
    public static ModelParams defaults() {
        return new ModelParams(0, 0, true, false, false, true, false);
    }

    public ModelParams withGpuLayers(int n) {
        return new ModelParams(n, mainGpu, useMmap, useMlock, checkTensors, useExtraBufts, vocabOnly);
    }

    public ModelParams withMmap(boolean mmap) {
        return new ModelParams(gpuLayers, mainGpu, mmap, useMlock, checkTensors, useExtraBufts, vocabOnly);
    }

    public ModelParams withCheckTensors(boolean check) {
        return new ModelParams(gpuLayers, mainGpu, useMmap, useMlock, check, useExtraBufts, vocabOnly);
    }

    public ModelParams withExtraBufts(boolean extra) {
        return new ModelParams(gpuLayers, mainGpu, useMmap, useMlock, checkTensors, extra, vocabOnly);
    }

    public ModelParams withVocabOnly(boolean only) {
        return new ModelParams(gpuLayers, mainGpu, useMmap, useMlock, checkTensors, useExtraBufts, only);
    }
}
