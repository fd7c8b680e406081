package dev.lora4j.fuzz;

import dev.lora4j.Lora4jException;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.merge.LoraMerger;
import dev.lora4j.merge.MergeOptions;
import dev.lora4j.merge.OutputType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Mutated adapters and bases through {@link LoraMerger#merge}: a typed exception and no output file, or a
 * complete GGUF with the base's tensors.
 */
public final class MergeFuzz {
    private static final OutputType[] TYPES = {OutputType.KEEP, OutputType.of(GgmlType.F32), OutputType.of(GgmlType.F16),
            OutputType.of(GgmlType.BF16), OutputType.of(GgmlType.Q8_0), OutputType.of(GgmlType.Q4_0),
            OutputType.of(GgmlType.Q4_K)};
    private static FuzzInputs.Seed base;
    private static List<FuzzInputs.Seed> adapters;
    private static Path baseFile;
    private static Path out;

    public static void fuzzerInitialize() {
        base = FuzzInputs.seed(Path.of(System.getProperty("lora4j.fuzz.base")));
        adapters = FuzzInputs.seeds("lora4j.fuzz.adapters");
        baseFile = FuzzInputs.scratch("merge-base.gguf");
        out = FuzzInputs.scratch("merged.gguf");
    }

    public static void fuzzerTearDown() {
        FuzzInputs.flush();
    }

    public static void fuzzerTestOneInput(byte[] input) throws Exception {
        Choices d = new Choices(input);
        // mostly the adapter is hostile; sometimes the base too
        FuzzInputs.write(baseFile, d.consumeInt(0, 7) == 0 ? FuzzInputs.mutate(d, base) : base.bytes());
        List<MergeOptions.Adapter> list = new ArrayList<>();
        for (int i = d.consumeInt(1, 2); i > 0; i--) {
            FuzzInputs.Seed a = d.pickValue(adapters);
            Path p = FuzzInputs.write(FuzzInputs.scratch("merge-adapter-" + i + ".gguf"), FuzzInputs.mutate(d, a));
            float scale = d.pickValue(new float[] {1f, -1f, 0f, 2.5f, 1e30f, d.consumeFloat()});
            if (!Float.isFinite(scale)) {
                scale = 1f;
            }
            list.add(new MergeOptions.Adapter(p, scale));
        }
        MergeOptions o = MergeOptions.of(list).withType(d.pickValue(TYPES)).withThreads(1);
        Files.deleteIfExists(out);
        try {
            LoraMerger.merge(baseFile, o, out);
            try (GgufFile merged = GgufFile.open(out); GgufFile b = GgufFile.open(baseFile)) {
                if (merged.tensors().size() != b.tensors().size()) {
                    throw new AssertionError("merged " + merged.tensors().size() + " tensors of " + b.tensors().size());
                }
            }
            FuzzInputs.count("merged");
        } catch (Lora4jException e) {
            if (Files.exists(out)) {
                throw new AssertionError("a failed merge left " + out, e);
            }
            FuzzInputs.rejected(e);
        }
    }
}
