package dev.lora4j.bench;

import dev.lora4j.BackendDevice;
import dev.lora4j.BufferReport;
import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.Devices;
import dev.lora4j.Generation;
import dev.lora4j.Model;
import dev.lora4j.ModelParams;
import dev.lora4j.SamplerParams;
import dev.lora4j.train.LoraConfig;
import dev.lora4j.train.LoraTrainer;
import dev.lora4j.train.TrainConfig;
import dev.lora4j.train.TrainListener;
import dev.lora4j.train.TrainResult;
import dev.lora4j.train.TrainingSample;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * GPU benchmarks run by native/gpu-check.sh (docs/gpu.md); each prints one {@code RESULT {json}} line.
 *
 * <pre>
 * GpuBench infer --model M [--prompt 512] [--gen 128] [--gpu-layers -1]
 *     prompt and decode tokens/s through the Java API (compare: llama-bench -p 512 -n 128 -ngl 99 on the same file)
 * GpuBench train --model M [--ctx 512] [--r 16] [--steps 6] [--gpu-layers -1]
 *     LoRA (all-linear) training tokens/s after the first step, peak device memory used, and with GGML_SCHED_DEBUG=1 in
 *     the environment the scheduler's split report (weights copied between backends per step)
 * </pre>
 */
public final class GpuBench {
    private GpuBench() {}

    public static void main(String[] args) {
        if (args.length == 0) {
            System.err.println("usage: GpuBench infer|train --model FILE [options]");
            System.exit(2);
        }
        Map<String, String> o = new HashMap<>();
        for (int i = 1; i + 1 < args.length; i += 2) {
            o.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        Path model = Path.of(o.getOrDefault("model", "model.gguf"));
        int ngl = Integer.parseInt(o.getOrDefault("gpu-layers", "-1"));
        String json = switch (args[0]) {
            case "infer" -> infer(model, ngl, Integer.parseInt(o.getOrDefault("prompt", "512")), Integer.parseInt(o.getOrDefault("gen", "128")));
            case "train" -> train(model, ngl, Integer.parseInt(o.getOrDefault("ctx", "512")), Integer.parseInt(o.getOrDefault("r", "16")),
                    Integer.parseInt(o.getOrDefault("steps", "6")));
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        };
        System.out.println("RESULT " + json);
    }

    static String infer(Path path, int ngl, int promptTokens, int gen) {
        BufferReport.Captured<Model> loaded = BufferReport.capture(() -> Model.load(path, ModelParams.defaults().withGpuLayers(ngl)));
        try (Model m = loaded.value();
             Context ctx = m.newContext(ContextParams.defaults().withContextSize(promptTokens + gen + 16))) {
            int[] prompt = new int[promptTokens];
            Random r = new Random(1);
            prompt[0] = 1;
            int nv = m.vocabulary().size();
            for (int i = 1; i < prompt.length; i++) {
                prompt[i] = 3 + r.nextInt(nv - 3);
            }
            ctx.generate(Arrays.copyOf(prompt, 16), 8, new dev.lora4j.Sampler(m, SamplerParams.greedy()), null); // warm-up
            double bestPrompt = 0, bestGen = 0;
            for (int rep = 0; rep < 3; rep++) {
                ctx.clear();
                Generation g = ctx.generate(prompt, gen, new dev.lora4j.Sampler(m, SamplerParams.greedy()), null);
                bestPrompt = Math.max(bestPrompt, g.promptTokensPerSecond());
                bestGen = Math.max(bestGen, g.tokensPerSecond());
            }
            return String.format(Locale.ROOT, "{\"bench\":\"infer\",\"model\":\"%s\",\"gpu_layers\":%d,\"prompt_tokens\":%d,\"gen_tokens\":%d,"
                    + "\"prompt_tok_s\":%.1f,\"gen_tok_s\":%.1f,\"model_mib_offloaded\":%.1f}", path.getFileName(), ngl, promptTokens, gen,
                    bestPrompt, bestGen, loaded.report().modelMibOffloaded());
        }
    }

    static String train(Path path, int ngl, int ctxLen, int r, int steps) {
        long baseline = usedGpuBytes();
        long[] peak = {baseline};
        double[] warm = new double[2];  // tokens and seconds at the end of step 1 (warm-up: graph build, allocation)
        int nv;
        try (Model v = Model.load(path, ModelParams.defaults().withVocabOnly(true))) {
            nv = v.vocabulary().size();
        }
        List<TrainingSample> samples = new ArrayList<>();
        Random rnd = new Random(5);
        for (int s = 0; s < steps; s++) {
            int[] t = new int[ctxLen + 1];
            for (int i = 0; i < t.length; i++) {
                t[i] = 3 + rnd.nextInt(nv - 3);
            }
            samples.add(new TrainingSample(Arrays.copyOf(t, ctxLen), Arrays.copyOfRange(t, 1, ctxLen + 1), s));
        }
        TrainConfig cfg = TrainConfig.builder().contextLength(ctxLen).maxSteps(steps).learningRate(1e-4f).gpuLayers(ngl).build();
        LoraConfig lora = LoraConfig.defaults().withR(r).withAlpha(2f * r).withTargetModules(List.of("all-linear"));
        boolean debug = System.getenv("GGML_SCHED_DEBUG") != null && !System.getenv("GGML_SCHED_DEBUG").equals("0");
        List<String> log = new ArrayList<>();
        TrainResult res = BufferReport.captureLog(() -> {
            try (LoraTrainer t = LoraTrainer.create(path, lora, cfg)) {
                return t.train(samples, List.of(), new TrainListener() {
                    @Override
                    public void onStep(Progress p) {
                        peak[0] = Math.max(peak[0], usedGpuBytes());
                        if (p.step() == 1) {
                            warm[0] = p.tokens();
                            warm[1] = p.elapsedSeconds();
                        }
                        System.err.printf(Locale.ROOT, "train: step %d loss %.4f %.0f tok/s%n", p.step(), p.trainLoss(), p.tokensPerSecond());
                    }
                });
            }
        }, log::add);
        double tokS = res.steps() > 1 ? (res.tokens() - warm[0]) / (res.seconds() - warm[1]) : res.tokensPerSecond();
        String splits = debug ? GpuSupport.SplitReport.of(log).toString().replace("\"", "'") : "set GGML_SCHED_DEBUG=1";
        return String.format(Locale.ROOT, "{\"bench\":\"train\",\"model\":\"%s\",\"gpu_layers\":%d,\"ctx\":%d,\"r\":%d,\"steps\":%d,"
                + "\"tok_s_after_step1\":%.1f,\"tok_s_all\":%.1f,\"peak_gpu_used_mib\":%.1f,\"first_loss\":%.4f,\"last_loss\":%.4f,"
                + "\"out_prod_f32_only\":%s,\"splits\":\"%s\"}", path.getFileName(), ngl, ctxLen, r, res.steps(), tokS, res.tokensPerSecond(),
                (peak[0] - baseline) / 1048576.0, res.firstTrainLoss(), res.lastTrainLoss(),
                System.getenv("LORA4J_CUDA_OUT_PROD_F32_ONLY") != null, splits);
    }

    /** Device memory in use on the first GPU (total - free), 0 without one: a device-level figure (includes other processes). */
    static long usedGpuBytes() {
        for (BackendDevice d : Devices.list()) {
            if (d.isGpu()) {
                return d.totalBytes() - d.freeBytes();
            }
        }
        return 0;
    }
}
