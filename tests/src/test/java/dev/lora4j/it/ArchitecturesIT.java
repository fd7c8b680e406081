package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.FileType;
import dev.lora4j.Generation;
import dev.lora4j.Model;
import dev.lora4j.ModelParams;
import dev.lora4j.SamplerParams;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.ModelBuilder;
import dev.lora4j.gguf.ModelSpec;
import dev.lora4j.gguf.ModelSpec.Arch;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every architecture {@link ModelBuilder} writes loads in llama.cpp and runs: a tiny random-weight model of each, in
 * F16 and quantised to Q4_K_M by {@code llama_model_quantize}, gives finite logits and the same 16 greedy tokens in
 * lora4j as in stock {@code llama-completion}.
 */
class ArchitecturesIT {
    static final String PROMPT = "Once upon a time";

    @TempDir
    Path tmp;

    /**
     * 64 wide, 4 heads / 2 KV heads, untied output (with tied embeddings a random model mostly repeats the last token);
     * 2 layers, Gemma 3 6 (five sliding-window layers with a window of 8, shorter than prompt plus generation, then a
     * full-attention one); Qwen3-MoE and Mixtral 4 experts of width 128, 2 used ({@link ModelSpec#of}'s default).
     */
    private Path tiny(Arch arch) {
        Path out = tmp.resolve(arch.id() + "-f16.gguf");
        try (GgufFile vocab = GgufFile.open(TestFiles.llamaSource().resolve("models").resolve(arch.defaultVocabulary()))) {
            ModelSpec spec = ModelSpec.of(arch, ModelBuilder.vocabSize(vocab), 64, arch == Arch.GEMMA3 ? 6 : 2, 4, 2, 128)
                    .withTiedEmbeddings(false).withContext(512);
            if (arch == Arch.GEMMA3) {
                spec = spec.withSlidingWindow(8);
                assertTrue(spec.isSlidingWindowLayer(0) && !spec.isSlidingWindowLayer(5));
            }
            ModelBuilder.write(spec, vocab, out, GgmlType.F16, 11, (d, t) -> { });
        }
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Arch.class)
    void loadsAndGeneratesLikeLlamaCompletion(Arch arch) {
        Path f16 = tiny(arch);
        Path q = tmp.resolve(arch.id() + "-q4_k_m.gguf");
        Model.quantize(f16, q, FileType.MOSTLY_Q4_K_M, 2);
        for (Path model : new Path[] {f16, q}) {
            String ours;
            byte[] ourBytes;
            try (Model m = Model.load(model, ModelParams.defaults().withAnyArchitecture(true));
                 Context ctx = m.newContext(ContextParams.defaults().withContextSize(512).withThreads(2))) {
                int[] prompt = m.vocabulary().tokenize(PROMPT, true, true);
                ctx.decode(prompt);
                float[] logits = ctx.logits();
                assertEquals(m.vocabulary().size(), logits.length, arch + ": logits");
                for (float x : logits) {
                    assertTrue(Float.isFinite(x), arch + " " + model.getFileName() + ": non-finite logit");
                }
                ctx.clear();
                Generation g = ctx.generate(PROMPT, 16, SamplerParams.greedy(), null);
                ours = g.text();
                ByteArrayOutputStream b = new ByteArrayOutputStream();
                for (int t : g.tokens()) {
                    b.writeBytes(m.vocabulary().tokenBytes(t, false));
                }
                ourBytes = b.toByteArray();
            }
            // bytes, not text: 16 tokens of a byte-level BPE vocabulary can end inside a UTF-8 sequence
            byte[] ref = null;
            for (int attempt = 0; attempt < 3; attempt++) { // llama-completion sometimes loses its last piece at exit (ParityIT)
                ref = llamaCompletion(arch, model);
                if (!(startsWith(ourBytes, ref) && ourBytes.length > ref.length)) {
                    break;
                }
            }
            System.out.printf(Locale.ROOT, "ArchitecturesIT: %s %s: [%s]%n", arch.id(), model.getFileName(), ours.replace("\n", " "));
            assertTrue(startsWith(ref, ourBytes) && new String(ref, ourBytes.length, ref.length - ourBytes.length, StandardCharsets.UTF_8).isBlank(),
                    arch + " " + model.getFileName() + ":\n llama.cpp: [" + new String(ref, StandardCharsets.UTF_8) + "]\n lora4j:    [" + ours + "]");
        }
    }

    private static boolean startsWith(byte[] a, byte[] prefix) {
        return a.length >= prefix.length && Arrays.equals(a, 0, prefix.length, prefix, 0, prefix.length);
    }

    /** The stdout bytes of {@code llama-completion} generating 16 greedy tokens. */
    private byte[] llamaCompletion(Arch arch, Path model) {
        try {
            Path out = tmp.resolve("completion.out");
            Path err = tmp.resolve("completion.err");
            Process p = new ProcessBuilder(TestFiles.cmd(TestFiles.tool("llama-completion"), "-m", model, "-p", PROMPT, "-n", 16,
                    "--temp", 0, "-no-cnv", "--no-display-prompt", "-t", 2, "--no-warmup", "-c", 512))
                    .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            p.getOutputStream().close();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("llama-completion timed out on " + model);
            }
            assertEquals(0, p.exitValue(), arch + ": llama-completion failed on " + model.getFileName() + ": "
                    + new String(Files.readAllBytes(err), StandardCharsets.UTF_8));
            return Files.readAllBytes(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
