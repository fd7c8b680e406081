package dev.lora4j.cli;

import dev.lora4j.BufferReport;
import dev.lora4j.Devices;
import dev.lora4j.ModelParams;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** GPU and RPC offload options (a picocli mixin of generate and train). */
final class GpuOptions {
    @Option(names = {"-ngl", "--gpu-layers"},
            description = "Layers to offload to the GPU (-1 = all; default: ${DEFAULT-VALUE}). A CPU-only build ignores it and says so.")
    int gpuLayers = ModelParams.defaults().gpuLayers();

    @Option(names = "--device", defaultValue = "-1", paramLabel = "N",
            description = "Put the whole model on GPU N (see 'lora4j devices'); default: llama.cpp's split over all GPUs.")
    int device;

    @Option(names = "--rpc", split = ",", paramLabel = "HOST:PORT",
            description = "Put the offloaded layers (--gpu-layers) on these RPC servers ('lora4j rpc-server'), comma-separated; see docs/scaling.md.")
    List<String> rpc = new ArrayList<>();

    /** The load parameters with these options applied; tells the user on stderr when the build ignores them. */
    ModelParams apply(ModelParams p, PrintStream err) {
        if (rpc.isEmpty()) { // with --rpc, the servers take the offloaded layers on any build
            warnIfIgnored(err);
        }
        ModelParams q = p.withGpuLayers(gpuLayers).withRpcServers(rpc);
        return device >= 0 ? q.withDevice(device) : q;
    }

    /** train's check: refuses {@code --rpc} (training does not run on RPC servers), then {@link #warnIfIgnored}. */
    void checkForTraining(PrintStream err) {
        if (!rpc.isEmpty()) {
            throw new IllegalArgumentException("--rpc: training does not run on RPC servers (docs/scaling.md)");
        }
        warnIfIgnored(err);
    }

    /** Tells the user on {@code err} when the build ignores these options (a CPU-only build asked to offload). */
    private void warnIfIgnored(PrintStream err) {
        String ignored = Devices.checkGpuOptions(gpuLayers, device);
        if (ignored != null) {
            err.println("lora4j: " + ignored);
        }
    }

    /** Whether the memory report is worth printing without being asked: something was offloaded. */
    boolean offloading() {
        return gpuLayers != 0 && (Devices.hasGpu() || !rpc.isEmpty());
    }

    /** The memory report: llama.cpp's buffers per device, and each device's memory now. */
    static void report(BufferReport r, PrintStream err) {
        err.println("memory: " + r);
        StringBuilder per = new StringBuilder();
        r.mibPerDevice().forEach((dev, mib) -> per.append(per.isEmpty() ? "" : ", ").append(String.format(java.util.Locale.ROOT, "%s %.1f MiB", dev, mib)));
        if (!per.isEmpty()) {
            err.println("memory: per device: " + per);
        }
        for (dev.lora4j.BackendDevice d : Devices.list()) {
            if (d.isGpu()) {
                err.println("memory: " + d);
            }
        }
    }
}
