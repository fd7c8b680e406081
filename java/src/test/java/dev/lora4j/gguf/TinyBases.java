package dev.lora4j.gguf;

import java.nio.file.Path;

/** Base models for tests that read only names and shapes: {@link ModelBuilder#plan}'s tensors, all zero, no vocabulary. */
public final class TinyBases {
    private TinyBases() {}

    /** A Qwen3-MoE spec: 64 wide, 2 layers, 4 heads / 2 KV heads, {@code nExpert} experts of width 128, 2 used. */
    public static ModelSpec qwen3moe(int nExpert) {
        return ModelSpec.of(ModelSpec.Arch.QWEN3MOE, 32, 64, 2, 4, 2, 128).withExperts(nExpert, 2, 128);
    }

    /** Writes {@code spec}'s tensors (F32 zeros) with {@code general.architecture} to {@code out}. */
    public static Path write(ModelSpec spec, Path out) {
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", spec.arch().ggufArchitecture());
        for (ModelBuilder.TensorPlan t : ModelBuilder.plan(spec, GgmlType.F32)) {
            w.addTensor(t.name(), t.type(), t.shape(), new byte[Math.toIntExact(t.type().byteSize(t.shape()))]);
        }
        w.write(out);
        return out;
    }
}
