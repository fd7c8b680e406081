package dev.lora4j;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where llama.cpp put its buffers — model weights, KV cache, compute buffers — per device, as llama.cpp logs them
 * while loading a model or creating a context ({@code load_tensors: CUDA0 model buffer size = 1234.56 MiB}):
 * {@code BufferReport.capture(() -> Model.load(path, params))}. Needs {@code java.logging}, the default
 * {@link System.Logger} backend (without it the report is empty).
 *
 * @param buffers one entry per (buffer, kind) in the order llama.cpp logged them
 */
public record BufferReport(List<Buffer> buffers) {
    /**
     * @param buffer llama.cpp's buffer name: the device ({@code CUDA0}, {@code CPU}) or a host buffer type
     *               ({@code CPU_Mapped}, {@code CUDA_Host})
     * @param kind   {@code model}, {@code KV}, {@code compute}, {@code output}, ...
     * @param mib    size in MiB
     */
    public record Buffer(String buffer, String kind, double mib) {}

    private static final Pattern LINE = Pattern.compile("(\\S+)\\s+(\\w+) buffer size\\s*=\\s*([0-9.]+) MiB");

    public BufferReport {
        buffers = List.copyOf(buffers);
    }

    /** What the action's llama.cpp calls allocated, with the action's result. */
    public record Captured<T>(T value, BufferReport report) {}

    /** Runs {@code action} (on this thread) and collects the buffer sizes llama.cpp logs meanwhile. */
    public static <T> Captured<T> capture(Supplier<T> action) {
        List<Buffer> found = new ArrayList<>();
        T v = captureLog(action, line -> {
            Matcher m = LINE.matcher(line);
            if (m.find()) {
                found.add(new Buffer(m.group(1), m.group(2), Double.parseDouble(m.group(3))));
            }
        });
        return new Captured<>(v, new BufferReport(found));
    }

    /**
     * Runs {@code action} (on this thread) and hands {@code lines} every llama.cpp/ggml log line that this thread
     * logs meanwhile, of every level: ggml's debug output too, such as the scheduler's splits with
     * {@code GGML_SCHED_DEBUG=1}. The logger {@code dev.lora4j.llama} logs every level meanwhile; handlers keep
     * their own levels. Without {@code java.logging} (the default {@link System.Logger} backend) it only runs the
     * action.
     */
    public static <T> T captureLog(Supplier<T> action, Consumer<String> lines) {
        Logger jul;
        try {
            jul = Logger.getLogger("dev.lora4j.llama");
        } catch (LinkageError e) {
            return action.get();
        }
        Thread me = Thread.currentThread();
        Handler h = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (Thread.currentThread() == me && r.getMessage() != null) {
                    lines.accept(r.getMessage());
                }
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        h.setLevel(Level.ALL);
        Level old = jul.getLevel();
        boolean lower = !jul.isLoggable(Level.ALL);
        jul.addHandler(h);
        if (lower) {
            jul.setLevel(Level.ALL);  // llama.cpp's INFO arrives at DEBUG (FINE), ggml's DEBUG at TRACE (FINER)
        }
        try {
            return action.get();
        } finally {
            jul.removeHandler(h);
            if (lower) {
                jul.setLevel(old);
            }
        }
    }

    /** Total MiB per device (host buffer types such as {@code CPU_Mapped} or {@code CUDA_Host} count as CPU). */
    public Map<String, Double> mibPerDevice() {
        Map<String, Double> m = new LinkedHashMap<>();
        for (Buffer b : buffers) {
            String dev = b.buffer().startsWith("CPU") || b.buffer().endsWith("_Host") ? "CPU" : b.buffer();
            m.merge(dev, b.mib(), Double::sum);
        }
        return m;
    }

    /** MiB of model weights on devices other than the CPU. */
    public double modelMibOffloaded() {
        return buffers.stream().filter(b -> b.kind().equals("model"))
                .filter(b -> !(b.buffer().startsWith("CPU") || b.buffer().endsWith("_Host"))).mapToDouble(Buffer::mib).sum();
    }

    /** One line per buffer kind: {@code model: CUDA0 1234.6 MiB, CPU_Mapped 62.5 MiB; KV: CUDA0 64.0 MiB}. */
    @Override
    public String toString() {
        if (buffers.isEmpty()) {
            return "no buffer sizes logged";
        }
        Map<String, List<String>> byKind = new LinkedHashMap<>();
        for (Buffer b : buffers) {
            byKind.computeIfAbsent(b.kind(), k -> new ArrayList<>()).add(String.format(Locale.ROOT, "%s %.1f MiB", b.buffer(), b.mib()));
        }
        List<String> parts = new ArrayList<>();
        byKind.forEach((k, v) -> parts.add(k + ": " + String.join(", ", v)));
        return String.join("; ", parts);
    }
}
