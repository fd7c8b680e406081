package dev.lora4j;

import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * PEFT's {@code target_modules} in llama.cpp's tensor names: {@code q, k, v, o, gate, up, down} (or their GGUF
 * names {@code attn_q}, …, or PEFT's {@code q_proj}, …), the fused projections of Phi-3 ({@code qkv}: GGUF
 * {@code attn_qkv}, PEFT {@code qkv_proj}; {@code gate_up}: GGUF {@code ffn_up}, PEFT {@code gate_up_proj}),
 * {@code all-linear} (every projection of a block that the model has, as in PEFT: not the output layer) and
 * {@code lm_head} (the output layer, {@code output.weight}).
 *
 * <p>The stacked experts of MoE models ({@code [n_in, n_out, n_expert]}) are {@code gate_exps, up_exps, down_exps}
 * (GGUF {@code ffn_gate_exps}, …) or {@code experts} for all three; the adapter holds one pair per expert. They are
 * not in {@code all-linear}: PEFT's {@code all-linear} matches {@code nn.Linear} modules, and PEFT adapts fused 3-D
 * expert parameters only when named in {@code target_parameters}. The router ({@code ffn_gate_inp}) is never a
 * target.
 */
public final class LoraTargets {
    /** PEFT short name → GGUF module name (blk.N.<module>.weight) of the matrices. */
    public static final Map<String, String> MODULES;
    /** Short name → GGUF module name of the stacked expert tensors (blk.N.<module>.weight, 3-D). */
    public static final Map<String, String> EXPERT_MODULES;
    /** Both, for look-ups. */
    private static final Map<String, String> NAMES;

    static {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("q", "attn_q");
        m.put("k", "attn_k");
        m.put("v", "attn_v");
        m.put("qkv", "attn_qkv");
        m.put("o", "attn_output");
        m.put("gate", "ffn_gate");
        m.put("up", "ffn_up");
        m.put("down", "ffn_down");
        m.put("gate_up", "ffn_up"); // Phi-3 stores gate and up as one tensor under ffn_up
        MODULES = Collections.unmodifiableMap(m);
        Map<String, String> e = new LinkedHashMap<>();
        e.put("gate_exps", "ffn_gate_exps");
        e.put("up_exps", "ffn_up_exps");
        e.put("down_exps", "ffn_down_exps");
        EXPERT_MODULES = Collections.unmodifiableMap(e);
        Map<String, String> all = new LinkedHashMap<>(m);
        all.putAll(e);
        NAMES = Collections.unmodifiableMap(all);
    }

    public static final String ALL_LINEAR = "all-linear";
    /** Every stacked expert tensor (gate_exps, up_exps, down_exps). */
    public static final String EXPERTS = "experts";
    /** The output layer (PEFT's lm_head; GGUF output.weight). */
    public static final String LM_HEAD = "output";

    private LoraTargets() {}

    /** Module names (attn_q, ...) for user-given names; unknown names are an error listing the known ones. */
    public static List<String> modules(List<String> names) {
        Set<String> out = new LinkedHashSet<>();
        for (String raw : names) {
            String n = raw.strip().toLowerCase(Locale.ROOT);
            if (n.equals("lm_head") || n.equals("output")) {
                out.add(LM_HEAD);
            } else if (n.equals(ALL_LINEAR) || n.equals("all_linear")) {
                out.addAll(MODULES.values());
            } else if (n.equals(EXPERTS)) {
                out.addAll(EXPERT_MODULES.values());
            } else if (NAMES.containsKey(n)) {
                out.add(NAMES.get(n));
            } else if (NAMES.containsKey(n.replace("_proj", ""))) {
                out.add(NAMES.get(n.replace("_proj", "")));
            } else if (n.equals("o_proj")) {
                out.add("attn_output");
            } else if (NAMES.containsValue(n)) {
                out.add(n);
            } else {
                throw new IllegalArgumentException("unknown target module '" + raw + "'; use " + String.join(", ", MODULES.keySet())
                        + " (or q_proj..., attn_q...), " + ALL_LINEAR + ", " + String.join(", ", EXPERT_MODULES.keySet())
                        + " (or ffn_gate_exps...), " + EXPERTS + " or lm_head");
            }
        }
        return new ArrayList<>(out);
    }

    /**
     * The base model's tensors of the given modules, in file order (blk.0.attn_q.weight, ...): the matrices (2-D) of
     * the projections and the output layer, the 3-D stacks of the expert modules.
     */
    public static List<GgufTensorInfo> tensors(GgufFile base, List<String> names) {
        List<String> modules = modules(names);
        List<GgufTensorInfo> out = new ArrayList<>();
        for (GgufTensorInfo t : base.tensors()) {
            String[] parts = t.name().split("\\.");
            if (parts.length == 4 && parts[0].equals("blk") && parts[3].equals("weight") && modules.contains(parts[2])
                    && t.nDims() == (EXPERT_MODULES.containsValue(parts[2]) ? 3 : 2)) {
                out.add(t);
            } else if (t.name().equals("output.weight") && modules.contains(LM_HEAD)) {
                out.add(t);
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("the model " + base.path().getFileName() + " has no tensors for target modules " + modules);
        }
        return out;
    }
}
