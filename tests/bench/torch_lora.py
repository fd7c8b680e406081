#!/usr/bin/env python3
"""Plain PyTorch CPU LoRA training of a llama GGUF model: the peer of `lora4j train` in tests/bench/train_speed.sh.

Reads an F32 llama GGUF (a `lora4j build-model` output) with gguf-py from the pinned llama.cpp source, builds the
same forward pass as llama.cpp's (RMSNorm, RoPE on adjacent pairs as llama.cpp's LLAMA_ROPE_TYPE_NORM, grouped-query
causal attention, SwiGLU), and first checks it: its logits for the tokens in --check (written by tests/bench/Logits.java,
llama.cpp's own logits) must agree with llama.cpp's (relative max error < 1e-3, the same argmax at >= 99% of
positions), or it stops. Then it trains LoRA (r, alpha, targets q,v,o,gate,up,down; A Kaiming-uniform, B zero;
no dropout) with AdamW (lr 1e-3, no weight decay), batch 1 of --ctx tokens (--ctx - 1 labelled positions),
--threads threads, and prints one line

    RESULT {"tokens_per_s": ..., "ms_per_step": ..., "peak_rss_mib": ..., ...}

with tokens/s over the steps after --warmup (as lora4j's loss.csv is read) and the process's peak RSS.

    python3 tests/bench/torch_lora.py --gguf m-f32.gguf --check logits.bin --gguf-py LLAMA_SRC/gguf-py
"""
import argparse
import json
import math
import resource
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--gguf-py", required=True, help="gguf-py of the pinned llama.cpp source")
    ap.add_argument("--check", required=True, help="tokens and llama.cpp logits from tests/bench/Logits.java")
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    sys.path.insert(0, a.gguf_py)
    import gguf
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    reader = gguf.GGUFReader(a.gguf)

    def meta(key):
        f = reader.fields[key]
        return f.parts[f.data[0]].tolist()[0]

    n_embd = meta("llama.embedding_length")
    n_layer = meta("llama.block_count")
    n_head = meta("llama.attention.head_count")
    n_head_kv = meta("llama.attention.head_count_kv")
    eps = meta("llama.attention.layer_norm_rms_epsilon")
    rope_base = meta("llama.rope.freq_base") if "llama.rope.freq_base" in reader.fields else 10000.0
    hd = n_embd // n_head

    w = {}
    for t in reader.tensors:
        if t.tensor_type != gguf.GGMLQuantizationType.F32:
            raise SystemExit(f"{a.gguf}: {t.name} is {t.tensor_type.name}; this peer trains an F32 model")
        w[t.name] = torch.from_numpy(np.array(t.data, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)]))
    for p in w.values():
        p.requires_grad_(False)
    out_w = w.get("output.weight", w["token_embd.weight"])

    targets = ["attn_q", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
    lora = {}
    for i in range(n_layer):
        for t in targets:
            W = w[f"blk.{i}.{t}.weight"]  # [out, in]
            A = torch.empty(a.r, W.shape[1])
            torch.nn.init.kaiming_uniform_(A, a=math.sqrt(5))
            lora[f"blk.{i}.{t}"] = (A.requires_grad_(), torch.zeros(W.shape[0], a.r, requires_grad=True))
    scale = a.alpha / a.r

    def linear(x, name):
        y = x @ w[name + ".weight"].T
        if name in lora:
            A, B = lora[name]
            y = y + (x @ A.T) @ B.T * scale
        return y

    def rms(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g

    def rope(x, pos):  # x [T, heads, hd]; rotates adjacent pairs (2i, 2i+1)
        inv = rope_base ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
        ang = pos[:, None].float() * inv[None, :]
        cos, sin = ang.cos()[:, None, :], ang.sin()[:, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)

    def forward(tokens):
        T = tokens.shape[0]
        pos = torch.arange(T)
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = w["token_embd.weight"][tokens]
        for i in range(n_layer):
            p = f"blk.{i}"
            h = rms(x, w[p + ".attn_norm.weight"])
            q = rope(linear(h, p + ".attn_q").view(T, n_head, hd), pos)
            k = rope(linear(h, p + ".attn_k").view(T, n_head_kv, hd), pos)
            v = linear(h, p + ".attn_v").view(T, n_head_kv, hd)
            k = k.repeat_interleave(n_head // n_head_kv, dim=1)
            v = v.repeat_interleave(n_head // n_head_kv, dim=1)
            att = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd) + mask
            o = torch.einsum("hqk,khd->qhd", att.softmax(-1), v).reshape(T, n_embd)
            x = x + linear(o, p + ".attn_output")
            h = rms(x, w[p + ".ffn_norm.weight"])
            x = x + linear(F.silu(linear(h, p + ".ffn_gate")) * linear(h, p + ".ffn_up"), p + ".ffn_down")
        return rms(x, w["output_norm.weight"]) @ out_w.T

    raw = np.fromfile(a.check, dtype="<u1")
    n = a.ctx
    tokens = torch.from_numpy(raw[: 4 * n].view("<i4").astype(np.int64))
    ref = torch.from_numpy(raw[4 * n:].view("<f4").reshape(n, -1).copy())
    with torch.no_grad():
        logits = forward(tokens)
    rel = ((logits - ref).abs().max() / ref.abs().max()).item()
    same = (logits.argmax(-1) == ref.argmax(-1)).float().mean().item()
    print(f"check: {n} positions, max |torch - llama.cpp| / max |llama.cpp| = {rel:.2e}, same argmax at {100 * same:.1f}%",
          file=sys.stderr)
    if not (rel < 1e-3 and same >= 0.99):
        raise SystemExit("the PyTorch forward does not match llama.cpp's logits: not timing it")

    params = [t for pair in lora.values() for t in pair]
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    inputs, labels = tokens[:-1], tokens[1:]
    times = []
    losses = []
    for step in range(a.steps):
        t0 = time.perf_counter()
        loss = F.cross_entropy(forward(inputs), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        losses.append(loss.item())
    timed = times[a.warmup:]
    ms = 1000 * sum(timed) / len(timed)
    print("RESULT " + json.dumps({
        "tokens_per_s": round(len(inputs) / (ms / 1000), 1), "ms_per_step": round(ms, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4), "check_rel_error": rel,
        "torch": torch.__version__, "threads": a.threads}))


if __name__ == "__main__":
    main()
