package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.Lora4jException;
import dev.lora4j.Model;
import dev.lora4j.ModelLoadException;
import dev.lora4j.ModelParams;
import dev.lora4j.NativeException;
import dev.lora4j.Sampler;
import dev.lora4j.SamplerParams;
import dev.lora4j.TokenizationException;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.gguf.GgufValue;
import dev.lora4j.gguf.GgufValueType;
import dev.lora4j.gguf.GgufWriter;
import dev.lora4j.gguf.ModelBuilder;
import dev.lora4j.gguf.ModelSpec;
import dev.lora4j.gguf.ModelSpec.Arch;
import dev.lora4j.merge.MergeOptions;
import dev.lora4j.train.DataOptions;
import dev.lora4j.train.LoraConfig;
import dev.lora4j.train.LoraTrainer;
import dev.lora4j.train.TrainConfig;
import dev.lora4j.train.TrainingData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One test per class of input on which llama.cpp or ggml would abort the process (GGML_ASSERT, division by zero,
 * std::terminate, out-of-bounds reads): each must end in a typed Java exception, in this JVM. The inventory of
 * these paths is in docs/reliability.md; a regression here kills the test JVM.
 */
class HostileInputIT {
    @TempDir
    Path tmp;

    /** stories260K (llama, SPM, 8 heads of 8, 4 KV heads, 5 layers) with its metadata edited. */
    private Path variant(String name, Consumer<GgufWriter> edit) {
        return edited(TestFiles.sharedModel("stories260K.gguf"), name, edit);
    }

    /** {@code model} with its metadata edited, as {@code name}.gguf. */
    private Path edited(Path model, String name, Consumer<GgufWriter> edit) {
        Path out = tmp.resolve(name + ".gguf");
        try (GgufFile f = GgufFile.open(model)) {
            GgufWriter w = GgufWriter.copyOf(f);
            edit.accept(w);
            w.write(out);
        }
        return out;
    }

    private static void refused(Path p, String why) {
        refused(p, ModelParams.defaults(), why);
    }

    private static void refused(Path p, ModelParams params, String why) {
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> Model.load(p, params).close());
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }

    private static GgufValue u32(long v) {
        return GgufValue.ofUint32(v);
    }

    @Test
    void hyperParametersLlamaCppAssertsOn() {
        refused(variant("layers0", w -> w.set("llama.block_count", u32(0))), "block_count is 0");
        refused(variant("layers999", w -> w.set("llama.block_count", u32(999))), "block_count is 999");
        refused(variant("nextn", w -> w.set("llama.nextn_predict_layers", u32(6))), "nextn_predict_layers 6");
        refused(variant("used-no-experts", w -> w.set("llama.expert_used_count", u32(1))), "expert_used_count 1 exceeds");
        // found by ModelLoadFuzz: llama.cpp copies an INT32 array into its uint32 counts, so -1 is 4294967295
        refused(variant("used-array", w -> w.set("llama.expert_used_count", GgufValue.ofIntArray(GgufValueType.INT32,
                new int[] {0, 0, -1, 0, 0}))), "expert_used_count 4294967295 exceeds");
        refused(variant("heads-bool", w -> w.set("llama.attention.head_count", GgufValue.ofBoolArray(
                new boolean[] {true, false, true, true, true}))), "head_count has 0");
        refused(variant("experts2000", w -> w.set("llama.expert_count", u32(2000))), "expert_count 2000");
        refused(variant("experts-used0", w -> w.set("llama.expert_count", u32(4))), "expert_used_count is 0");
        refused(variant("groups", w -> w.set("llama.expert_group_count", u32(1))), "expert_group_count 1 without experts");
        // found by ModelLoadFuzz: ggml_rms_norm asserts eps >= 0 at the first decode
        refused(variant("eps", w -> w.set("llama.attention.layer_norm_rms_epsilon", GgufValue.ofFloat32(-1e-5f))), "epsilon");
        refused(variant("eps-nan", w -> w.set("llama.attention.layer_norm_rms_epsilon", GgufValue.ofFloat32(Float.NaN))), "epsilon");
        refused(variant("rope-scaling", w -> w.set("llama.rope.scaling.type", GgufValue.ofString("x"))), "rope.scaling.type 'x'");
        // the model also fails to quantize on these (llama-quantize reads the same hyper-parameters)
        Path bad = variant("layers0q", w -> w.set("llama.block_count", u32(0)));
        assertThrows(ModelLoadException.class, () -> Model.quantize(bad, tmp.resolve("q.gguf"), dev.lora4j.FileType.MOSTLY_Q8_0, 1));
    }

    @Test
    void attentionShapesTheGraphAssertsOn() {
        refused(variant("kv3", w -> w.set("llama.attention.head_count_kv", u32(3))), "head_count_kv 3 does not divide");
        refused(variant("heads0", w -> w.set("llama.attention.head_count", u32(0))), "head_count has 0");
        refused(variant("vlen", w -> w.set("llama.attention.value_length", u32(4))), "value_length 4");
        refused(variant("odd", w -> {
            w.set("llama.attention.key_length", u32(7));
            w.set("llama.attention.value_length", u32(7));
        }), "must be even");
        refused(variant("embd-out", w -> w.set("llama.embedding_length_out", u32(1))), "embedding_length_out 1");
        refused(variant("noncausal", w -> w.set("llama.attention.causal", GgufValue.ofBool(false))), "causal is false");
    }

    /** The attention shapes the graphs of the other audited architectures assert or divide by. */
    @Test
    void auditedArchitecturesAttentionShapes() {
        for (Arch arch : List.of(Arch.GEMMA3, Arch.MISTRAL3)) {
            Path built = tmp.resolve(arch.id() + ".gguf");
            try (GgufFile vocab = GgufFile.open(TestFiles.llamaSource().resolve("models").resolve(arch.defaultVocabulary()))) {
                ModelBuilder.write(ModelSpec.of(arch, ModelBuilder.vocabSize(vocab), 64, 1, 4, 2, 64), vocab, built, GgmlType.F16, 1, (d, t) -> { });
            }
            String a = arch.ggufArchitecture() + ".";
            refused(edited(built, arch.id() + "-heads0", w -> w.set(a + "attention.head_count", u32(0))), "head_count has 0");
            refused(edited(built, arch.id() + "-kv3", w -> w.set(a + "attention.head_count_kv", u32(3))), "does not divide");
            if (arch == Arch.MISTRAL3) {
                refused(edited(built, arch.id() + "-rope8", w -> w.set(a + "rope.dimension_count", u32(8))), "rope.dimension_count 8 differs from the head size 16");
            }
            try (Model m = Model.load(built)) { // audited: no trust needed
                assertEquals(arch.ggufArchitecture(), m.metadata("general.architecture").orElseThrow());
            }
        }
    }

    @Test
    void otherArchitecturesNeedTrust() {
        // a file may claim any of llama.cpp's architectures; qwen35 divides by full_attention_interval while loading
        Path qwen = variant("qwen35", w -> {
            w.set("general.architecture", GgufValue.ofString("qwen35"));
            w.set("qwen35.block_count", u32(5));
            w.set("qwen35.full_attention_interval", u32(0));
        });
        refused(qwen, "architecture 'qwen35' is not one lora4j has audited");
        refused(qwen, ModelParams.defaults().withAnyArchitecture(true), "full_attention_interval is 0");
        // vocabulary-only loads read no hyper-parameters: any architecture's vocabulary loads
        try (Model m = Model.load(qwen, ModelParams.defaults().withVocabOnly(true))) {
            assertEquals(512, m.vocabulary().size());
        }
    }

    @Test
    void vocabulariesLlamaCppAssertsOn() {
        refused(variant("dup", w -> {
            List<String> t = new ArrayList<>(tokens());
            t.set(300, t.get(301));
            w.set("tokenizer.ggml.tokens", GgufValue.ofStringArray(t));
        }), "twice");
        refused(variant("dup-vocab-only", w -> {
            List<String> t = new ArrayList<>(tokens());
            t.set(10, t.get(11));
            w.set("tokenizer.ggml.tokens", GgufValue.ofStringArray(t));
        }), ModelParams.defaults().withVocabOnly(true), "twice");
        // found by ModelLoadFuzz: llama.cpp reads token texts as C strings, so "a\0x" and "a\0y" are the same token
        refused(variant("nul", w -> {
            List<String> t = new ArrayList<>(tokens());
            t.set(300, "ab\0x");
            t.set(301, "ab\0y");
            w.set("tokenizer.ggml.tokens", GgufValue.ofStringArray(t));
        }), "twice");
        refused(variant("bert-bytes", w -> w.set("tokenizer.ggml.model", GgufValue.ofString("bert"))), "byte tokens");
        refused(variant("none", w -> w.set("tokenizer.ggml.model", GgufValue.ofString("none"))), "cannot tokenize");
        refused(variant("test", w -> w.set("tokenizer.ggml.model", GgufValue.ofString("test"))), "cannot tokenize");
        refused(variant("rwkv", w -> w.set("tokenizer.ggml.model", GgufValue.ofString("rwkv"))), "not one lora4j has audited");
        refused(variant("empty", w -> {
            w.set("tokenizer.ggml.tokens", GgufValue.ofStringArray(List.of()));
            w.set("tokenizer.ggml.scores", GgufValue.ofFloatArray(new float[0]));
            w.set("tokenizer.ggml.token_type", GgufValue.ofIntArray(GgufValueType.INT32, new int[0]));
        }), "no tokens");
    }

    @Test
    void specialTokensTheVocabularyLacks() {
        // a Unigram (t5) vocabulary has no BOS unless the file names one; told to add it, llama.cpp asserts
        Path p = variant("no-bos", w -> {
            w.set("tokenizer.ggml.model", GgufValue.ofString("t5"));
            w.remove("tokenizer.ggml.bos_token_id");
            w.set("tokenizer.ggml.add_bos_token", GgufValue.ofBool(true));
        });
        try (Model m = Model.load(p)) {
            TokenizationException e = assertThrows(TokenizationException.class, () -> m.vocabulary().tokenize("Once", true, false));
            assertTrue(e.getMessage().contains("BOS"), e.getMessage());
            assertTrue(m.vocabulary().tokenize("Once", false, false).length > 0);
            try (Context c = m.newContext(ContextParams.defaults().withContextSize(32))) {
                assertThrows(TokenizationException.class, () -> c.generate("Once", 2, SamplerParams.greedy(), null));
            }
        }
    }

    @Test
    void splitFilesAreValidatedToo() {
        Path p = variant("notsplit", w -> w.set("split.count", GgufValue.ofUint16(2)));
        refused(p, "not named");
        Path first = variant("m-00001-of-00002", w -> w.set("split.count", GgufValue.ofUint16(2)));
        refused(first, "m-00002-of-00002.gguf is missing");
    }

    @Test
    void apiMisuseThatReachedAsserts() {
        try (Model m = Model.load(TestFiles.sharedModel("stories260K.gguf"));
             Context c = m.newContext(ContextParams.defaults().withContextSize(32));
             Sampler s = new Sampler(m, SamplerParams.greedy())) {
            assertThrows(IllegalArgumentException.class, () -> c.position(-1));
            assertThrows(IllegalArgumentException.class, () -> c.position(300));
            assertThrows(NativeException.class, () -> s.sample(c, -1)); // nothing decoded yet
            c.decode(m.vocabulary().tokenize("Once upon", true, false));
            assertThrows(NativeException.class, () -> s.sample(c, 5)); // only the last token has logits
            assertTrue(s.sample(c, -1) >= 0);
        }
        List<MergeOptions.Adapter> many = Collections.nCopies(MergeOptions.MAX_ADAPTERS + 1, new MergeOptions.Adapter(tmp.resolve("a.gguf")));
        assertThrows(IllegalArgumentException.class, () -> MergeOptions.of(many));
    }

    /** Damaged checkpoints on resume: the shim would read past a short moment; the position indexes the data. */
    @Test
    void damagedCheckpoints() throws Exception {
        Path base = TestFiles.sharedModel("stories260K.gguf");
        Path data = tmp.resolve("d.txt");
        Files.writeString(data, "Once upon a time there was a cat. ".repeat(20));
        Path dir = Files.createDirectory(tmp.resolve("ckpt"));
        TrainConfig cfg = TrainConfig.builder().contextLength(16).maxSteps(2).threads(1).checkpointSteps(1).checkpointDir(dir).build();
        try (LoraTrainer t = LoraTrainer.create(base, LoraConfig.defaults().withR(2), cfg)) {
            t.train(TrainingData.load(data, DataOptions.defaults().withContextLength(16), t.model()), null);
        }
        Path ckpt = LoraTrainer.latestCheckpoint(dir).orElseThrow();
        // one parameter's second moment cut short
        resumeRefused(base, data, cfg, damage(ckpt, "short-v", (w, t, f) -> t.name().endsWith(".adam_v")
                ? add(w, t.name(), GgmlType.F32, new long[] {2}, new byte[8]) : false), "adam_v");
        // found by CheckpointFuzz: a negative position in the epoch indexed the sample list
        resumeRefused(base, data, cfg, damage(ckpt, "position", (w, t, f) -> {
            w.set("lora4j.sample_in_epoch", GgufValue.ofUint64(-1L));
            return false;
        }), "negative position");
        // found by CheckpointFuzz: LoRA weights of a type that has no float conversion
        resumeRefused(base, data, cfg, damage(ckpt, "i32", (w, t, f) -> t.name().endsWith(".lora_a")
                ? add(w, t.name(), GgmlType.I32, t.shape(), new byte[(int) t.elementCount() * 4]) : false), "I32");
    }

    interface TensorEdit {
        /** Adds a replacement for {@code t} and returns true, or returns false to copy it. */
        boolean apply(GgufWriter w, GgufTensorInfo t, GgufFile f);
    }

    private static boolean add(GgufWriter w, String name, GgmlType type, long[] shape, byte[] data) {
        w.addTensor(name, type, shape, data);
        return true;
    }

    private Path damage(Path ckpt, String name, TensorEdit edit) {
        Path out = ckpt.resolveSibling("checkpoint-9999" + Math.abs(name.hashCode() % 1000) + ".gguf");
        try (GgufFile f = GgufFile.open(ckpt)) {
            GgufWriter w = new GgufWriter();
            f.metadata().forEach(w::put);
            boolean once = false;
            for (GgufTensorInfo t : f.tensors()) {
                if (once || !edit.apply(w, t, f)) {
                    w.addTensor(t.name(), t.type(), t.shape(), f.tensorData(t.name()));
                } else {
                    once = true;
                }
            }
            w.write(out);
        }
        return out;
    }

    private static void resumeRefused(Path base, Path data, TrainConfig cfg, Path ckpt, String why) {
        Lora4jException e = assertThrows(Lora4jException.class, () -> {
            try (LoraTrainer t = LoraTrainer.resume(ckpt, base, cfg)) {
                t.train(TrainingData.load(data, DataOptions.defaults().withContextLength(16), t.model()), null);
            }
        });
        assertTrue(e.getMessage().contains("damaged") && e.getMessage().contains(why), e.getMessage());
    }

    private static List<String> tokens() {
        try (GgufFile f = GgufFile.open(TestFiles.sharedModel("stories260K.gguf"))) {
            return f.get("tokenizer.ggml.tokens").orElseThrow().asStringList();
        }
    }
}
