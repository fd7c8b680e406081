package dev.lora4j.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Memory as Linux reports it in {@code /proc}; elsewhere unknown. */
public final class SystemMemory {
    private SystemMemory() {}

    /** This process's peak resident set size in bytes ({@code VmHWM}), or -1 when unknown (not Linux). */
    public static long peakRss() {
        long k = kibibytes("/proc/self/status", "VmHWM:");
        return k < 0 ? -1 : k * 1024;
    }

    /**
     * Bytes of memory available to a new allocation without swapping ({@code MemAvailable}: free memory plus what the
     * page cache can give back), or 0 when unknown (not Linux).
     */
    public static long availableBytes() {
        return Math.max(0, kibibytes("/proc/meminfo", "MemAvailable:") * 1024);
    }

    /** The value in kiB of the line starting with {@code key} in a {@code /proc} file, or -1. */
    private static long kibibytes(String file, String key) {
        try {
            for (String line : Files.readAllLines(Path.of(file))) {
                if (line.startsWith(key)) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return -1;
    }
}
