package dev.lora4j;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * How to load a model.
 *
 * <p>GPU offload: {@code gpuLayers} layers (-1 = all) go to the GPU devices of the build ({@link Devices#list()});
 * with {@link SplitMode#LAYER} (llama.cpp's default) they are spread over all of them, with {@link SplitMode#NONE}
 * the whole model goes to device {@code mainGpu} ({@link #withDevice(int)}). A CPU-only build ignores both (see
 * {@link Devices#hasGpu()}).
 *
 * <p>RPC: with {@link #withRpcServers(List)} the offloaded layers go to ggml RPC servers ({@code lora4j rpc-server}) on
 * other machines, spread by their free memory, before this build's GPUs (llama.cpp's {@code --rpc}); see
 * {@code docs/scaling.md}.
 *
 * @param gpuLayers      layers to offload to the GPU or RPC servers (-1 = all, 0 = none; ignored without either)
 * @param mainGpu        index among the GPU devices: the one used when the model is not split ({@link SplitMode#NONE})
 * @param useMmap        map the file instead of reading it
 * @param useMlock       lock the weights in RAM
 * @param checkTensors   validate tensor data while loading (slow; catches NaN/Inf weights)
 * @param useExtraBufts  allow repacked weight layouts (faster CPU matmuls; must be false for training)
 * @param vocabOnly      load only the vocabulary
 * @param splitMode      how offloaded layers are spread over several GPUs
 * @param anyArchitecture load architectures (and tokenizers) lora4j has not audited: llama.cpp aborts the process on
 *                       some malformed files of those, so set it only for files you trust (default: llama only)
 * @param rpcServers     RPC servers ({@code host:port}) that take the offloaded layers; empty = none
 */
public record ModelParams(int gpuLayers, int mainGpu, boolean useMmap, boolean useMlock, boolean checkTensors,
                          boolean useExtraBufts, boolean vocabOnly, SplitMode splitMode, boolean anyArchitecture,
                          List<String> rpcServers) {

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
        if (rpcServers == null) {
            throw new IllegalArgumentException("rpcServers must not be null (empty: none)");
        }
        Set<String> seen = new HashSet<>();
        for (String e : rpcServers) {
            checkEndpoint(e);
            if (!seen.add(e)) {
                throw new IllegalArgumentException("rpcServers: " + e + " is given twice");
            }
        }
        rpcServers = List.copyOf(rpcServers);
        if (!rpcServers.isEmpty() && splitMode == SplitMode.NONE) {
            throw new IllegalArgumentException("rpcServers and splitMode NONE (withDevice) conflict: the RPC servers take"
                    + " a share of the layers, while NONE puts the whole model on one local GPU");
        }
    }

    /** Checks the form of one RPC endpoint, {@code host:port} (ggml-rpc connects over IPv4: no IPv6 literal). */
    private static void checkEndpoint(String e) {
        if (e == null) {
            throw new IllegalArgumentException("rpcServers: an endpoint is null");
        }
        int colon = e.indexOf(':');
        if (colon <= 0 || colon != e.lastIndexOf(':') || e.chars().anyMatch(c -> c <= ' ' || c == '/' || c == '[')) {
            throw new IllegalArgumentException("rpcServers: '" + e + "' is not host:port (an IPv4 address or a host name,"
                    + " then the port, e.g. 192.168.1.10:50052; ggml-rpc connects over IPv4 only)");
        }
        String port = e.substring(colon + 1);
        if (!port.matches("[0-9]{1,5}") || Integer.parseInt(port) < 1 || Integer.parseInt(port) > 65535) {
            throw new IllegalArgumentException("rpcServers: '" + e + "': the port must be a number from 1 to 65535");
        }
    }

    /** CPU-only defaults (llama.cpp's, except no GPU offload). */
    public static ModelParams defaults() {
        return new ModelParams(0, 0, true, false, false, true, false, SplitMode.LAYER, false, List.of());
    }

    public ModelParams withGpuLayers(int n) {
        return new ModelParams(n, mainGpu, useMmap, useMlock, checkTensors, useExtraBufts, vocabOnly, splitMode, anyArchitecture, rpcServers);
    }

    /** The whole model on GPU device {@code gpu} (an index among the GPUs of {@link Devices#gpus()}): no split. */
    public ModelParams withDevice(int gpu) {
        return new ModelParams(gpuLayers, gpu, useMmap, useMlock, checkTensors, useExtraBufts, vocabOnly, SplitMode.NONE, anyArchitecture, rpcServers);
    }

    public ModelParams withSplitMode(SplitMode mode) {
        return new ModelParams(gpuLayers, mainGpu, useMmap, useMlock, checkTensors, useExtraBufts, vocabOnly, mode, anyArchitecture, rpcServers);
    }

    public ModelParams withMmap(boolean mmap) {
        return new ModelParams(gpuLayers, mainGpu, mmap, useMlock, checkTensors, useExtraBufts, vocabOnly, splitMode, anyArchitecture, rpcServers);
    }

    public ModelParams withCheckTensors(boolean check) {
        return new ModelParams(gpuLayers, mainGpu, useMmap, useMlock, check, useExtraBufts, vocabOnly, splitMode, anyArchitecture, rpcServers);
    }

    public ModelParams withExtraBufts(boolean extra) {
        return new ModelParams(gpuLayers, mainGpu, useMmap, useMlock, checkTensors, extra, vocabOnly, splitMode, anyArchitecture, rpcServers);
    }

    public ModelParams withVocabOnly(boolean only) {
        return new ModelParams(gpuLayers, mainGpu, useMmap, useMlock, checkTensors, useExtraBufts, only, splitMode, anyArchitecture, rpcServers);
    }

    /**
     * Puts the offloaded layers ({@link #withGpuLayers(int)}, which must not be 0) on these RPC servers, each
     * {@code host:port} of a running {@code lora4j rpc-server} (or llama.cpp's {@code rpc-server}). {@link Model#load}
     * checks that each answers ggml-rpc's handshake first, and throws {@link ModelLoadException} when one does not.
     */
    public ModelParams withRpcServers(List<String> endpoints) {
        return new ModelParams(gpuLayers, mainGpu, useMmap, useMlock, checkTensors, useExtraBufts, vocabOnly, splitMode, anyArchitecture, endpoints);
    }

    /** Loads architectures and tokenizers lora4j has not audited (only for files you trust). */
    public ModelParams withAnyArchitecture(boolean any) {
        return new ModelParams(gpuLayers, mainGpu, useMmap, useMlock, checkTensors, useExtraBufts, vocabOnly, splitMode, any, rpcServers);
    }
}
