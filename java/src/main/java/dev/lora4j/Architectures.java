package dev.lora4j;

import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * Which of llama.cpp's architectures ({@code general.architecture}) lora4j loads without
 * {@link ModelParams#withAnyArchitecture(boolean)} and which it trains.
 *
 * <p>Training runs llama.cpp's own graph backwards, so every op on the path from an adapter to the loss needs a
 * backward pass in ggml; ggml aborts the process on one without. The trainable architectures are those whose graphs
 * lora4j has checked op by op and whose gradients pass the finite-difference check ({@code TrainArchitecturesIT};
 * the table in {@code docs/training.md}). Architectures with recurrent state are refused with that reason: their
 * graphs carry state across tokens through ops (SSM scans, WKV, gated delta rules) that have no backward pass.
 */
public final class Architectures {
    private Architectures() {}

    /** Architectures whose loading lora4j has audited ({@code ModelCheck}) and tests. */
    public static final Set<String> AUDITED = Set.of("llama", "qwen2", "qwen3", "qwen3moe", "mistral3", "phi3", "gemma3");

    /** Architectures lora4j trains LoRA adapters on. */
    public static final Set<String> TRAINABLE = Set.of("llama", "qwen2", "qwen3", "qwen3moe", "mistral3", "phi3", "gemma3");

    /**
     * The trainable architectures whose mixture-of-experts graphs lora4j has checked (Qwen3-MoE; Mixtral, which is
     * {@code llama} with experts): the experts' 3-D LoRA (targets {@code gate_exps}, {@code up_exps},
     * {@code down_exps}) and the gradient through the frozen router.
     */
    public static final Set<String> TRAINABLE_MOE = Set.of("llama", "qwen3moe");

    /** Architectures whose graphs carry recurrent state (llama.cpp's {@code llm_arch_is_recurrent} and {@code llm_arch_is_hybrid}). */
    public static final Set<String> RECURRENT = Set.of(
            "mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7",
            "jamba", "falcon-h1", "plamo2", "granitehybrid", "lfm2", "lfm2moe", "nemotron_h", "nemotron_h_moe",
            "qwen3next", "kimi-linear", "bailingmoe3", "kimi-k3", "qwen35", "qwen35moe", "qwen4exp", "deepseek4", "minimax-01");

    /**
     * Why a model of architecture {@code arch} with {@code experts} experts per MoE layer cannot be trained, or empty
     * when it can.
     */
    public static Optional<String> trainingRefusal(String arch, long experts) {
        if (RECURRENT.contains(arch)) {
            return Optional.of("cannot train a '" + arch + "' model: its layers carry recurrent state (state-space or linear-attention"
                    + " scans) through ops that have no backward pass in ggml");
        }
        if (experts > 0 && !TRAINABLE_MOE.contains(arch)) {
            return Optional.of("cannot train a '" + arch + "' mixture-of-experts model (" + experts + " experts): lora4j trains"
                    + " the mixtures of experts of " + String.join(", ", new TreeSet<>(TRAINABLE_MOE)) + " (checked against finite"
                    + " differences); this one's routing has not been checked");
        }
        if (!TRAINABLE.contains(arch)) {
            return Optional.of("cannot train a '" + arch + "' model: lora4j trains " + String.join(", ", new TreeSet<>(TRAINABLE))
                    + " (each checked op by op and against finite differences); other graphs may use ops without a backward"
                    + " pass in ggml, which aborts the process");
        }
        return Optional.empty();
    }
}
