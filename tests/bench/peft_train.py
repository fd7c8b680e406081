#!/usr/bin/env python3
"""LoRA training throughput of Hugging Face PEFT + PyTorch on the GPU, for the same LLaMA shape as a lora4j model.

The shape (vocabulary, width, depth, heads, KV heads, feed-forward, RoPE base, norm epsilon) is read from a GGUF file
that `lora4j build-model` wrote, so both sides train the same architecture; the weights are random (nothing is
downloaded). Trains LoRA r=R, alpha=2R, all linear layers, no dropout, AdamW, batch 1 of CTX random tokens, and prints
one line `RESULT {json}` with tokens/s (steps after the first) and torch.cuda.max_memory_allocated.

    python3 tests/bench/peft_train.py --gguf m-q8_0.gguf --ctx 512 --r 16 --steps 6 --quant bf16|4bit

--quant 4bit loads the base through bitsandbytes (NF4, bf16 compute; QLoRA), when bitsandbytes is installed.
Run by native/gpu-check.sh; see docs/gpu.md.
"""
import argparse
import json
import os
import struct
import sys
import tempfile
import time


def gguf_metadata(path):
    """The key/value metadata of a GGUF file (arrays as lengths only)."""
    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise SystemExit(f"{path} is not a GGUF file")
        _version, _n_tensors, n_kv = struct.unpack("<IQQ", f.read(20))

        def string():
            (n,) = struct.unpack("<Q", f.read(8))
            return f.read(n).decode("utf-8", "replace")

        def value(t):
            if t in scalar:
                fmt = scalar[t]
                return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
            if t == 8:
                return string()
            if t == 9:
                (it,) = struct.unpack("<I", f.read(4))
                (n,) = struct.unpack("<Q", f.read(8))
                for _ in range(n):
                    value(it)
                return n
            raise SystemExit(f"unknown GGUF value type {t}")

        meta = {}
        for _ in range(n_kv):
            k = string()
            (t,) = struct.unpack("<I", f.read(4))
            meta[k] = value(t)
        return meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True, help="a model written by `lora4j build-model` (its shape is used)")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--quant", choices=["bf16", "4bit"], default="bf16")
    a = ap.parse_args()

    m = gguf_metadata(a.gguf)
    arch = m["general.architecture"]
    shape = dict(
        vocab_size=m["tokenizer.ggml.tokens"],
        hidden_size=m[f"{arch}.embedding_length"],
        intermediate_size=m[f"{arch}.feed_forward_length"],
        num_hidden_layers=m[f"{arch}.block_count"],
        num_attention_heads=m[f"{arch}.attention.head_count"],
        num_key_value_heads=m.get(f"{arch}.attention.head_count_kv", m[f"{arch}.attention.head_count"]),
        rms_norm_eps=m.get(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5),
        rope_theta=m.get(f"{arch}.rope.freq_base", 10000.0),
        max_position_embeddings=max(a.ctx, m.get(f"{arch}.context_length", a.ctx)),
        tie_word_embeddings=False,
    )

    try:
        import torch
        import transformers
        import peft
    except ImportError as e:
        raise SystemExit(f"peft_train: needs torch, transformers and peft ({e})")
    if not torch.cuda.is_available():
        raise SystemExit("peft_train: torch sees no CUDA device")
    dev = "cuda"
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(**shape)
    model = transformers.LlamaForCausalLM(cfg).to(torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    if a.quant == "4bit":
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as e:
            raise SystemExit(f"peft_train: --quant 4bit needs bitsandbytes ({e})")
        with tempfile.TemporaryDirectory() as d:
            model.save_pretrained(d)
            del model
            q = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                bnb_4bit_compute_dtype=torch.bfloat16)
            model = transformers.LlamaForCausalLM.from_pretrained(d, quantization_config=q, device_map={"": 0},
                                                                  torch_dtype=torch.bfloat16)
        model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    else:
        model = model.to(dev)
    lcfg = peft.LoraConfig(r=a.r, lora_alpha=2 * a.r, lora_dropout=0.0, target_modules="all-linear", bias="none",
                           task_type="CAUSAL_LM")
    model = peft.get_peft_model(model, lcfg)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    torch.cuda.reset_peak_memory_stats()
    g = torch.Generator().manual_seed(5)
    times, losses = [], []
    for _ in range(a.steps):
        ids = torch.randint(3, shape["vocab_size"], (1, a.ctx), generator=g).to(dev)
        torch.cuda.synchronize()
        t = time.perf_counter()
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
        losses.append(float(out.loss))
        print(f"peft: step {len(times)} loss {losses[-1]:.4f} {a.ctx / times[-1]:.0f} tok/s", file=sys.stderr)
    after = times[1:] if len(times) > 1 else times
    print("RESULT " + json.dumps({
        "bench": "peft_train", "quant": a.quant, "model_shape": shape, "parameters": n_params, "trainable": trainable,
        "ctx": a.ctx, "r": a.r, "steps": a.steps, "tok_s_after_step1": round(a.ctx * len(after) / sum(after), 1),
        "max_memory_allocated_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1),
        "first_loss": losses[0], "last_loss": losses[-1], "torch": torch.__version__,
        "transformers": transformers.__version__, "peft": peft.__version__, "device": torch.cuda.get_device_name(0),
    }))


if __name__ == "__main__":
    main()
