package dev.lora4j.cli;

import dev.lora4j.BackendDevice;
import dev.lora4j.Devices;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code lora4j devices}: the compute devices of this build (CPU, and the GPUs of a CUDA build) with their memory. */
@Command(name = "devices", mixinStandardHelpOptions = true,
        description = "List the compute devices of this build (CPU; GPUs on a CUDA build) with free/total memory.")
final class DevicesCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Option(names = "--json", description = "One JSON object per device, one per line.")
    boolean json;

    @Override
    public Integer call() {
        common.apply();
        PrintStream out = CommonOptions.stdout();
        List<BackendDevice> devs = Devices.list();
        for (BackendDevice d : devs) {
            if (json) {
                out.printf(Locale.ROOT, "{\"index\":%d,\"name\":\"%s\",\"description\":\"%s\",\"type\":\"%s\",\"free_bytes\":%d,\"total_bytes\":%d}%n",
                        d.index(), esc(d.name()), esc(d.description()), d.type(), d.freeBytes(), d.totalBytes());
            } else {
                out.println(d);
            }
        }
        if (!json && devs.stream().noneMatch(BackendDevice::isGpu)) {
            out.println("(no GPU: this is a CPU-only build; --gpu-layers is ignored)");
        }
        return 0;
    }

    private static String esc(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }
}
