package dev.lora4j.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Helpers of the GPU checks (GpuIT) and benchmarks (GpuBench): setenv, and the scheduler's splits in a log that
 * {@link dev.lora4j.BufferReport#captureLog} captured.
 */
public final class GpuSupport {
    private GpuSupport() {}

    /**
     * Sets an environment variable of this process (libc {@code setenv}), e.g. {@code GGML_SCHED_DEBUG=1} before a
     * context (and so its scheduler) is created. Test and benchmark use only.
     */
    public static void setenv(String name, String value) {
        try (Arena a = Arena.ofConfined()) {
            Linker l = Linker.nativeLinker();
            MethodHandle h = l.downcallHandle(l.defaultLookup().find("setenv").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            int rc = (int) h.invokeExact(a.allocateFrom(name), a.allocateFrom(value), 1);
            if (rc != 0) {
                throw new IllegalStateException("setenv " + name + " failed");
            }
        } catch (Throwable t) {
            throw new IllegalStateException("setenv " + name, t);
        }
    }

    private static final Pattern SPLIT = Pattern.compile("## SPLIT #(\\d+): (\\S+) # (\\d+) inputs(.*)");
    private static final Pattern INPUT = Pattern.compile("\\[(\\S+) \\(");

    /**
     * What ggml's scheduler printed with {@code GGML_SCHED_DEBUG=1}: one "## SPLIT #i: BACKEND # n inputs: [name
     * (size)] ..." line per split of each computed graph.
     *
     * @param graphs          graphs computed
     * @param maxSplits       most splits in one graph
     * @param splitsByBackend splits per backend over all graphs
     * @param weightCopies    model weights (names ending in .weight) copied into a split of another backend: the per-step
     *                        weight traffic that GPU training must not have
     */
    public record SplitReport(int graphs, int maxSplits, Map<String, Integer> splitsByBackend, List<String> weightCopies) {
        public static SplitReport of(List<String> log) {
            int graphs = 0, maxSplits = 0, cur = 0;
            Map<String, Integer> by = new LinkedHashMap<>();
            TreeSet<String> weights = new TreeSet<>();
            for (String line : log) {
                Matcher m = SPLIT.matcher(line);
                if (!m.find()) {
                    continue;
                }
                int i = Integer.parseInt(m.group(1));
                if (i == 0) {
                    graphs++;
                    cur = 0;
                }
                cur++;
                maxSplits = Math.max(maxSplits, cur);
                String backend = m.group(2);
                by.merge(backend, 1, Integer::sum);
                Matcher in = INPUT.matcher(m.group(4));
                while (in.find()) {
                    String name = in.group(1);
                    if (name.endsWith(".weight") || name.contains(".weight#") || name.contains(".weight (")) {
                        weights.add(name + " -> " + backend);
                    }
                }
            }
            return new SplitReport(graphs, maxSplits, by, List.copyOf(weights));
        }

        @Override
        public String toString() {
            return graphs + " graphs, at most " + maxSplits + " splits per graph, splits by backend " + splitsByBackend
                    + ", weights copied between backends: " + (weightCopies.isEmpty() ? "none" : weightCopies);
        }
    }
}
