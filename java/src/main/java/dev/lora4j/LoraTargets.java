package dev.lora4j;

import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import java.util.ArrayList;
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
 */
public final class LoraTargets {
    /** PEFT short name → GGUF module name (blk.N.<module>.weight). */
    public static final Map<String, String> MODULES;

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
        MODULES = java.util.Collections.unmodifiableMap(m);
    }

    public static final String ALL_LINEAR = "all-linear";
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
            } else if (MODULES.containsKey(n)) {
                out.add(MODULES.get(n));
            } else if (MODULES.containsKey(n.replace("_proj", ""))) {
                out.add(MODULES.get(n.replace("_proj", "")));
            } else if (n.equals("o_proj")) {
                out.add("attn_output");
            } else if (MODULES.containsValue(n)) {
                out.add(n);
            } else {
                throw new IllegalArgumentException("unknown target module '" + raw + "'; use " + String.join(", ", MODULES.keySet())
                        + " (or q_proj..., attn_q...), " + ALL_LINEAR + " or lm_head");
            }
        }
        return new ArrayList<>(out);
    }

    /** The base model's 2-D tensors of the given modules, in file order (blk.0.attn_q.weight, ...). */
    public static List<GgufTensorInfo> tensors(GgufFile base, List<String> names) {
        List<String> modules = modules(names);
        List<GgufTensorInfo> out = new ArrayList<>();
        for (GgufTensorInfo t : base.tensors()) {
            String[] parts = t.name().split("\\.");
            if (parts.length == 4 && parts[0].equals("blk") && parts[3].equals("weight") && modules.contains(parts[2]) && t.nDims() == 2) {
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
