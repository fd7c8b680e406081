package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lora4j.testsupport.Requires;
import dev.lora4j.BackendDevice;
import dev.lora4j.BufferReport;
import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.Devices;
import dev.lora4j.FileType;
import dev.lora4j.Model;
import dev.lora4j.ModelParams;
import dev.lora4j.bench.GpuSupport;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.ModelBuilder;
import dev.lora4j.gguf.ModelSpec;
import dev.lora4j.gguf.ProgressListener;
import dev.lora4j.train.LoraConfig;
import dev.lora4j.train.LoraTrainer;
import dev.lora4j.train.TrainConfig;
import dev.lora4j.train.TrainResult;
import dev.lora4j.train.TrainListener;
import dev.lora4j.train.TrainingSample;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * GPU offload and GPU training (docs/gpu.md). On a CPU-only build it checks what it can — the device listing, that
 * {@code --gpu-layers} is accepted and said to be ignored, and the maths of the CUDA OUT_PROD patch on the CPU — and
 * skips the rest saying why. On a CUDA build (native/gpu-check.sh) it also checks CUDA OUT_PROD against the CPU,
 * greedy CPU/GPU parity, and that LoRA training on a quantised base keeps the weights on the GPU.
 *
 * <p>{@code -Dlora4j.test.model=FILE} names the model of the parity check (default: ../shared's
 * tinystories-656k-q8_0.gguf).
 */
class GpuIT {
    @TempDir
    static Path tmp;

    static boolean cudaBuild;
    static boolean hasGpu;

    @BeforeAll
    static void build() {
        cudaBuild = "cuda".equals(TestFiles.nativeBuild().getProperty("backend"));
        hasGpu = Devices.hasGpu();
        System.out.println("GpuIT: native backend " + TestFiles.nativeBuild().getProperty("backend") + ", devices:");
        Devices.list().forEach(d -> System.out.println("GpuIT:   " + d));
    }

    private static void assumeGpu() {
        assumeTrue(cudaBuild && hasGpu, cudaBuild
                ? "a CUDA build, but no GPU device is visible (ggml_backend_dev_count() lists only the CPU); skipped"
                : "needs a CUDA build of the natives and a GPU (this build is CPU-only; native/gpu-check.sh runs this on a GPU machine); skipped");
    }

    // ------------------------------------------------------------------------------------------ any build

    @Test
    void devicesListTheCpuAndAGpuExactlyWhenTheBuildHasOne() {
        List<BackendDevice> devs = Devices.list();
        assertTrue(devs.stream().anyMatch(d -> d.type() == BackendDevice.Type.CPU), "the CPU is a device: " + devs);
        for (BackendDevice d : devs) {
            assertTrue(!d.name().isEmpty(), "a device has a name: " + d);
            assertTrue(d.totalBytes() >= 0 && d.freeBytes() <= d.totalBytes() || d.totalBytes() == 0, "memory " + d);
        }
        if (!cudaBuild) {
            assertTrue(!Devices.hasGpu(), "a CPU-only build has no GPU: " + devs);
        }
        assertEquals(Devices.gpus().size(), devs.stream().filter(BackendDevice::isGpu).count());
    }

    @Test
    void devicesCommandPrintsEachDevice() throws IOException {
        TestFiles.Result r = cli("devices", "--json");
        assertEquals(0, r.exit(), r.stderr());
        long lines = r.stdout().lines().filter(l -> l.startsWith("{\"index\":")).count();
        assertEquals(Devices.list().size(), lines, r.stdout());
        assertTrue(r.stdout().contains("\"type\":\"CPU\""), r.stdout());
    }

    /** On a CPU build --gpu-layers is accepted and said to be ignored; on a GPU build the weights land on the GPU. */
    @Test
    void gpuLayersAreAcceptedAndReported() throws IOException {
        Path model = parityModel();
        TestFiles.Result cpu = cli("generate", "-m", model.toString(), "-p", "Once upon a time", "-n", "12", "--temperature", "0", "-t", "2");
        TestFiles.Result gpu = cli("generate", "-m", model.toString(), "-p", "Once upon a time", "-n", "12", "--temperature", "0", "-t", "2",
                "--gpu-layers", "-1");
        assertEquals(0, cpu.exit(), cpu.stderr());
        assertEquals(0, gpu.exit(), gpu.stderr());
        if (!hasGpu) {
            assertTrue(gpu.stderr().contains("--gpu-layers -1 is ignored"), gpu.stderr());
            assertEquals(cpu.stdout(), gpu.stdout(), "ignored GPU layers change nothing");
            assertTrue(!cpu.stderr().contains("ignored"), "no note without GPU options: " + cpu.stderr());
        } else {
            assertTrue(gpu.stderr().lines().anyMatch(l -> l.startsWith("memory: model:") && !l.matches(".*model: CPU[^;]*;.*")),
                    "the model buffers are on the GPU: " + gpu.stderr());
            System.out.println("GpuIT: CPU: " + cpu.stdout().strip() + "\nGpuIT: GPU: " + gpu.stdout().strip());
            gpu.stderr().lines().filter(l -> l.startsWith("memory:")).forEach(l -> System.out.println("GpuIT: " + l));
        }
    }

    /**
     * The maths of native/patches/cuda on the CPU: OUT_PROD computed the way the patched ggml_cuda_out_prod computes it
     * (src0 converted to F32, column-major GEMMs from the patch's own out-prod-plan.h) equals ggml's CPU OUT_PROD for
     * F32/F16/Q8_0/Q4_0/Q4_K src0; negative controls show a wrong transposition, layout or scale is caught.
     */
    @Test
    void cudaOutProdMathsMatchesTheCpuOutProd() throws IOException {
        Path exe = outProdCheck();
        TestFiles.Result r = TestFiles.run(List.of(exe.toString(), "ref"), 120);
        System.out.println("GpuIT: out_prod_check ref: " + r.stdout().lines().reduce((a, b) -> b).orElse(""));
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().contains(" passed, 0 failed"), r.stdout());
        assertTrue(r.stdout().lines().filter(l -> l.startsWith("PASS ") && l.contains("vs CPU OUT_PROD")).count() >= 21, r.stdout());
    }

    // ------------------------------------------------------------------------------------------ GPU only

    /** test-backend-ops style: CUDA OUT_PROD (F32/F16/Q8_0/Q4_0/Q4_K src0) against the CPU backend. */
    @Test
    void cudaOutProdMatchesTheCpuBackend() throws IOException {
        assumeGpu();
        Path exe = outProdCheck();
        TestFiles.Result r = TestFiles.run(List.of(exe.toString(), "backend"), 300);
        System.out.println(r.stdout());
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().contains(" passed, 0 failed"), r.stdout());
    }

    /**
     * Greedy decoding on the CPU and with every layer on the GPU: at each step of the CPU's greedy sequence (fed to both),
     * the logits agree (normalised mean squared error), and the GPU picks the CPU's token wherever the CPU's top two
     * are not a near tie.
     */
    @Test
    void greedyOutputMatchesBetweenCpuAndGpu() {
        assumeGpu();
        Path model = parityModel();
        int steps = 48;
        List<float[]> cpu = new ArrayList<>();
        List<float[]> gpu = new ArrayList<>();
        int[] seq;
        try (Model m = Model.load(model, ModelParams.defaults());
             Context c = m.newContext(ContextParams.defaults().withContextSize(256).withThreads(4))) {
            int[] prompt = m.vocabulary().tokenize("Once upon a time, there was a little", true, false);
            seq = new int[prompt.length + steps];
            System.arraycopy(prompt, 0, seq, 0, prompt.length);
            c.decode(prompt);
            for (int i = 0; i < steps; i++) {
                float[] l = c.logits();
                cpu.add(l);
                seq[prompt.length + i] = Logits.argmax(l);
                c.decode(seq[prompt.length + i]);
            }
            int promptLen = prompt.length;
            BufferReport.Captured<Model> g = BufferReport.capture(() -> Model.load(model, ModelParams.defaults().withGpuLayers(-1)));
            System.out.println("GpuIT: GPU load: " + g.report());
            assertTrue(g.report().modelMibOffloaded() > 0, "weights offloaded: " + g.report());
            try (Model gm = g.value(); Context gc = gm.newContext(ContextParams.defaults().withContextSize(256).withThreads(4))) {
                gc.decode(java.util.Arrays.copyOf(seq, promptLen));
                for (int i = 0; i < steps; i++) {
                    gpu.add(gc.logits());
                    gc.decode(seq[promptLen + i]);
                }
            }
        }
        double worst = 0;
        int ties = 0;
        for (int i = 0; i < steps; i++) {
            float[] a = cpu.get(i), b = gpu.get(i);
            Logits.Diff diff = Logits.diff(a, b);
            double nmse = diff.nmse(), maxd = diff.maxAbs();
            worst = Math.max(worst, nmse);
            assertTrue(nmse < 5e-3, "step " + i + ": logits NMSE " + nmse);
            int ta = Logits.argmax(a), tb = Logits.argmax(b);
            double margin = Logits.topTwoMargin(a);
            if (margin > 2 * maxd) {
                assertEquals(ta, tb, "step " + i + ": CPU token " + ta + " (margin " + margin + "), GPU " + tb + ", max logit diff " + maxd);
            } else {
                ties++;
            }
        }
        System.out.printf(Locale.ROOT, "GpuIT: greedy parity over %d steps: worst logits NMSE %.2e, %d near ties not compared%n", steps, worst, ties);
        assertTrue(ties < steps / 4, "too many near ties to say anything: " + ties);
    }

    /**
     * LoRA training on a quantised base with every layer on the GPU: the scheduler never copies a model weight between
     * backends (GGML_SCHED_DEBUG=1 split report). Q8_0's cast to F32 (the backward pass of a frozen weight, patch 0007)
     * has an upstream CUDA kernel; Q4_K_M's needs CUDA patch 0002, and the OUT_PROD products CUDA patch 0001.
     */
    @ParameterizedTest
    @ValueSource(strings = {"q8_0", "q4_k_m"})
    void loraTrainingOnAQuantisedBaseKeepsTheWeightsOnTheGpu(String type) throws IOException {
        assumeGpu();
        Path base = tmp.resolve("train-" + type + ".gguf");
        try (GgufFile vocab = GgufFile.open(vocabFile())) {
            ModelSpec spec = ModelSpec.of(ModelBuilder.vocabSize(vocab), 256, 2, 4, 2, 768);
            if (type.equals("q8_0")) {
                ModelBuilder.write(spec, vocab, base, GgmlType.Q8_0, 3, ProgressListener.NONE);
            } else {
                Path f16 = tmp.resolve("train-f16.gguf");
                ModelBuilder.write(spec, vocab, f16, GgmlType.F16, 3, ProgressListener.NONE);
                Model.quantize(f16, base, FileType.parse(type), 4);
            }
        }
        int ctx = 256;
        List<TrainingSample> samples = new ArrayList<>();
        Random rnd = new Random(5);
        for (int s = 0; s < 4; s++) {
            int[] t = new int[ctx + 1];
            for (int i = 0; i < t.length; i++) {
                t[i] = 3 + rnd.nextInt(1000);
            }
            samples.add(new TrainingSample(java.util.Arrays.copyOf(t, ctx), java.util.Arrays.copyOfRange(t, 1, ctx + 1), s));
        }
        GpuSupport.setenv("GGML_SCHED_DEBUG", "1");
        TrainConfig cfg = TrainConfig.builder().contextLength(ctx).maxSteps(3).learningRate(1e-3f).gpuLayers(-1).threads(4).build();
        LoraConfig lora = LoraConfig.defaults().withR(8).withAlpha(16).withTargetModules(List.of("all-linear"));
        List<String> log = new ArrayList<>();
        TrainResult result;
        try {
            result = BufferReport.captureLog(() -> {
                try (LoraTrainer t = LoraTrainer.create(base, lora, cfg)) {
                    return t.train(samples, List.of(), new TrainListener() {});
                }
            }, log::add);
        } finally {
            GpuSupport.setenv("GGML_SCHED_DEBUG", "0");
        }
        GpuSupport.SplitReport rep = GpuSupport.SplitReport.of(log);
        System.out.println("GpuIT: training " + result);
        System.out.println("GpuIT: training scheduler: " + rep);
        assertTrue(rep.graphs() > 0, "GGML_SCHED_DEBUG printed no split (is the log captured?)");
        assertTrue(rep.weightCopies().isEmpty(), "weights copied between backends during training: " + rep.weightCopies());
        assertTrue(Double.isFinite(result.lastTrainLoss()), "finite loss: " + result);
    }

    // ------------------------------------------------------------------------------------------ helpers

    static Path parityModel() {
        String p = System.getProperty("lora4j.test.model");
        if (p != null) {
            return Path.of(p);
        }
        return TestFiles.sharedModel("tinystories-656k-q8_0.gguf");
    }

    /** The LLaMA SPM vocabulary that the natives jar carries (the pinned llama.cpp's). */
    static Path vocabFile() throws IOException {
        Path v = tmp.resolve("vocab.gguf");
        if (!Files.exists(v)) {
            try (InputStream in = GpuIT.class.getClassLoader().getResourceAsStream("dev/lora4j/vocab/ggml-vocab-llama-spm.gguf")) {
                Requires.that(in != null, "needs the vocabulary resource of the natives jar on the class path");
                Files.copy(in, v);
            }
        }
        return v;
    }

    static TestFiles.Result cli(String... args) {
        return TestFiles.run(TestFiles.cli((Object[]) args), 300);
    }

    /**
     * Builds tests/src/test/c/out_prod_check.cpp against this build's ggml, with the patch's out-prod-plan.h taken
     * from native/patches/cuda (a new file in the patch: its '+' lines), so the check needs neither git nor a CUDA tree.
     */
    static Path outProdCheck() throws IOException {
        Path exe = tmp.resolve("out_prod_check");
        if (Files.isExecutable(exe)) {
            return exe;
        }
        Path inc = Files.createDirectories(tmp.resolve("plan-include"));
        Files.writeString(inc.resolve("out-prod-plan.h"), newFileFromPatch(cudaPatch(), "ggml/src/ggml-cuda/out-prod-plan.h"), StandardCharsets.UTF_8);
        Path bin = Path.of(TestFiles.nativeBuild().getProperty("bin"));
        Path src = Path.of(TestFiles.nativeBuild().getProperty("patched_source"));
        TestFiles.Result r = TestFiles.run(List.of("g++", "-O2", "-std=c++17", "-o", exe.toString(),
                TestFiles.root().resolve("tests/src/test/c/out_prod_check.cpp").toString(),
                "-I", inc.toString(), "-I", src.resolve("ggml/include").toString(),
                "-L", bin.toString(), "-lggml", "-lggml-base", "-lggml-cpu", "-Wl,-rpath," + bin), 300);
        assertEquals(0, r.exit(), "compiling out_prod_check: " + r.stderr());
        return exe;
    }

    static Path cudaPatch() throws IOException {
        try (var s = Files.list(TestFiles.root().resolve("native/patches/cuda"))) {
            return s.filter(p -> p.getFileName().toString().contains("OUT_PROD")).findFirst()
                    .orElseThrow(() -> new IllegalStateException("no OUT_PROD patch in native/patches/cuda"));
        }
    }

    /** The content of a file that a unified diff creates ({@code --- /dev/null}). */
    static String newFileFromPatch(Path patch, String path) throws IOException {
        List<String> lines = Files.readAllLines(patch, StandardCharsets.UTF_8);
        StringBuilder out = new StringBuilder();
        boolean in = false;
        for (String l : lines) {
            if (l.startsWith("diff --git ")) {
                in = l.equals("diff --git a/" + path + " b/" + path);
                continue;
            }
            if (in && l.startsWith("+") && !l.startsWith("+++ ")) {
                out.append(l, 1, l.length()).append('\n');
            }
        }
        if (out.isEmpty()) {
            throw new IllegalStateException(patch + " does not create " + path);
        }
        return out.toString();
    }
}
