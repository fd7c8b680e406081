package dev.lora4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.gguf.TinyBases;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Target names of the stacked MoE experts in {@link LoraTargets}. */
class LoraTargetsTest {
    @TempDir
    Path tmp;

    @Test
    void expertNames() {
        assertEquals(List.of("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"), LoraTargets.modules(List.of("experts")));
        assertEquals(List.of("ffn_gate_exps", "ffn_down_exps", "attn_q"), LoraTargets.modules(List.of("gate_exps", "FFN_DOWN_EXPS", "q")));
        assertEquals(List.of("ffn_up_exps"), LoraTargets.modules(List.of("up_exps", "ffn_up_exps")));
        assertEquals(List.of("attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output", "ffn_gate", "ffn_up", "ffn_down"),
                LoraTargets.modules(List.of("all-linear")), "all-linear: the nn.Linear projections only, as PEFT");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LoraTargets.modules(List.of("ffn_gate_inp")));
        assertTrue(e.getMessage().contains("gate_exps, up_exps, down_exps") && e.getMessage().contains("experts"), e.getMessage());
    }

    @Test
    void expertTargetsAreTheStacksAndNeverTheRouter() {
        Path base = TinyBases.write(TinyBases.qwen3moe(4), tmp.resolve("moe.gguf"));
        try (GgufFile f = GgufFile.open(base)) {
            List<GgufTensorInfo> t = LoraTargets.tensors(f, List.of("experts"));
            assertEquals(List.of("blk.0.ffn_down_exps.weight", "blk.0.ffn_gate_exps.weight", "blk.0.ffn_up_exps.weight",
                    "blk.1.ffn_down_exps.weight", "blk.1.ffn_gate_exps.weight", "blk.1.ffn_up_exps.weight"), names(t));
            t.forEach(x -> assertEquals(3, x.nDims(), x.name()));
            assertEquals(List.of("blk.0.ffn_gate_exps.weight", "blk.1.ffn_gate_exps.weight"), names(LoraTargets.tensors(f, List.of("gate_exps"))));
            List<GgufTensorInfo> linear = LoraTargets.tensors(f, List.of("all-linear", "lm_head"));
            linear.forEach(x -> assertEquals(2, x.nDims(), x.name()));
            assertEquals(9, linear.size(), "q, k, v, o of 2 layers and the output: " + names(linear));
            List<String> all = names(LoraTargets.tensors(f, List.of("all-linear", "experts", "lm_head")));
            assertEquals(15, all.size());
            assertTrue(all.stream().noneMatch(n -> n.contains("ffn_gate_inp")), all.toString());
        }
    }

    private static List<String> names(List<GgufTensorInfo> t) {
        return t.stream().map(GgufTensorInfo::name).toList();
    }
}
