#!/usr/bin/env bash
# Training speed side by side, in one run with alternating repetitions (issue 13): for each base type, a lora4j LoRA
# step (r=8 on q,v,o,gate,up,down, 256-token samples, AdamW 1e-3, 2 threads) against the forward pass over the same
# tokens on the same threads -- llama-bench's pp (logits of the last token only) and lora4j's forward with the logits
# of every token (what a training step computes) -- and a plain PyTorch CPU LoRA (tests/bench/torch_lora.py, checked
# against llama.cpp's logits first) on the same F32 weights, shape and settings.
#   tests/bench/train_speed.sh [--steps N] [--reps N] [--ctx N] [--threads N] [--types "f32 q8_0 ..."] \
#       [--shape "EMBD LAYERS FF HEADS KV_HEADS"] [--torch PYTHON] [--models "FILE.gguf ..."]
# Builds the model (lora4j build-model, LLaMA SPM 32k vocabulary, random weights) in a temporary directory; with
# --models, times the given GGUF files as they are instead (e.g. the tiny shared models; no PyTorch peer, and the text
# transliterated to ASCII, which their small vocabularies can encode).
# lora4j's tokens/s is read from loss.csv over the steps after the fifth, as PyTorch's, and after the first second of
# training (a tiny model's first ~150 steps run while the JVM compiles: give those --steps 600); peak RSS of each
# process by /usr/bin/time -v. Prints a Markdown table for docs/benchmarks.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
steps=30; reps=2; ctx=256; threads=2; types="f32 f16 q8_0 q4_0 q4_k_m q6_k"; shape="512 8 1536 8 4"; py=/usr/bin/python3; models=""
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2;; --reps) reps="$2"; shift 2;; --ctx) ctx="$2"; shift 2;;
    --threads) threads="$2"; shift 2;; --types) types="$2"; shift 2;; --shape) shape="$2"; shift 2;;
    --torch) py="$2"; shift 2;; --models) models="$2"; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
read -r embd layers ff heads kv <<< "$shape"
bin="$(sed -n 's/^bin=//p' "$root/native/target/native.properties")"
src="$(sed -n 's/^patched_source=//p' "$root/native/target/native.properties")"
jars=("$root"/java/target/lora4j-*-all.jar); jar="${jars[0]}"
[ -f "$jar" ] || { echo "no CLI jar in $root/java/target: run ./lora4j build first" >&2; exit 1; }
java="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java"
text="$root/../shared/data/tinystories_train_sample_2MiB.txt"
[ -f "$text" ] || { echo "needs ../shared/data/tinystories_train_sample_2MiB.txt" >&2; exit 2; }
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
head -c 600000 "$text" > "$work/text.txt"
lora4j() { "$root/lora4j" "$@"; } # the CLI as users run it (its JVM options included)

if [ -n "$models" ]; then
  types=""; py=/bin/false
  for f in $models; do
    t="$(basename "$f" .gguf)"; types+=" $t"; ln -s "$(readlink -f "$f")" "$work/m-$t.gguf"
  done
  python3 -c "import sys, unicodedata; t = open(sys.argv[1], encoding='utf-8').read(); t = ''.join(c for c in unicodedata.normalize('NFKD', t.translate({0x201c: 34, 0x201d: 34, 0x2018: 39, 0x2019: 39, 0x2013: 45, 0x2014: 45, 0x2026: '...'})) if ord(c) < 128); open(sys.argv[1], 'w').write(t)" "$work/text.txt"
else
  params="$(lora4j build-model --n-embd "$embd" --n-layer "$layers" --n-ff "$ff" --n-head "$heads" --n-head-kv "$kv" \
    --type f32 -o "$work/m-f32.gguf" 2>&1 | sed -n 's/.* \([0-9,]*\) parameters.*/\1/p')"
  for t in $types; do
    [ "$t" = f32 ] || lora4j quantize "$work/m-f32.gguf" "$work/m-$t.gguf" "$t" > /dev/null 2>&1
  done
fi

# peak RSS (MiB) of the last command run by timed
timed() { /usr/bin/time -v -o "$work/time" "$@"; rss=$(( $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time") / 1024 )); }
rate_from_csv() { # tokens/s over the steps of a loss.csv after the 5th and after the first second of training (the
  # JVM's compilers share the cores in that second: a tiny model's first ~150 steps; a 58M model's steps 6.. anyway)
  python3 - "$1" <<'PY'
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
w = [x for x in r[5:] if float(x["elapsed_s"]) >= 1.0]
r = w if len(w) >= 10 else r[5:]
print(round((int(r[-1]["tokens"]) - int(r[0]["tokens"])) / (float(r[-1]["elapsed_s"]) - float(r[0]["elapsed_s"])), 1))
PY
}

declare -A fwd all train trss
torch_tps=""; torch_rss=""
for rep in $(seq "$reps"); do
  for t in $types; do
    m="$work/m-$t.gguf"
    fwd[$t]+=" $("$bin/llama-bench" -m "$m" -p "$ctx" -n 0 -t "$threads" -r 3 -o csv 2>/dev/null | tail -1 | awk -F, '{gsub(/"/, "", $0); print $(NF-1)}' | xargs printf '%.1f')"
    a="$("$java" --enable-native-access=ALL-UNNAMED -cp "$jar" "$root/tests/bench/Logits.java" "$m" "$work/text.txt" "$ctx" "$work/logits-$t.bin" 5 2>/dev/null | sed -n 's/^FORWARD //p')"
    all[$t]+=" $a"
    rm -rf "$work/train"
    timed "$root/lora4j" train --base "$m" --data "$work/text.txt" --format text \
      --max-seq-length "$ctx" --target-modules q,v,o,gate,up,down --r 8 --lora-alpha 16 --learning-rate 1e-3 \
      --max-steps "$steps" --validation-split 0 --threads "$threads" --out "$work/adapter.gguf" --output-dir "$work/train" \
      > "$work/train.log" 2>&1 || { tail "$work/train.log" >&2; exit 1; }
    train[$t]+=" $(rate_from_csv "$work/train/loss.csv")"; trss[$t]+=" $rss"
    echo "rep $rep $t: llama-bench pp$ctx ${fwd[$t]##* }, forward all logits ${all[$t]##* }, lora4j train ${train[$t]##* } tok/s (RSS $rss MiB)" >&2
  done
  if "$py" -c 'import torch' 2>/dev/null; then
    timed "$py" "$root/tests/bench/torch_lora.py" --gguf "$work/m-f32.gguf" --gguf-py "$src/gguf-py" --check "$work/logits-f32.bin" \
      --ctx "$ctx" --steps "$steps" --threads "$threads" > "$work/torch.log" 2>&1 || { tail "$work/torch.log" >&2; exit 1; }
    tps="$(sed -n 's/^RESULT //p' "$work/torch.log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"])')"
    torch_tps+=" $tps"; torch_rss+=" $rss"
    echo "rep $rep PyTorch F32: $tps tok/s (RSS $rss MiB); $(grep '^check' "$work/torch.log")" >&2
  fi
done

range() { python3 -c "import sys; v = [float(x) for x in sys.argv[1].split()]; print(f'{min(v):,.0f}' if min(v) == max(v) else f'{min(v):,.0f}–{max(v):,.0f}')" "$1"; }
ratio() { python3 -c "import sys; a = [float(x) for x in sys.argv[1].split()]; b = [float(x) for x in sys.argv[2].split()]; r = [x / y for x, y in zip(a, b)]; print(f'{min(r):.2f}' if round(min(r), 2) == round(max(r), 2) else f'{min(r):.2f}–{max(r):.2f}')" "$1" "$2"; }
if [ -n "$models" ]; then
  echo "models: $models; $ctx-token steps, $threads threads, $steps steps, $reps alternating repetitions"
else
  echo "model: llama $embd wide, $layers layers, n_ff $ff, $heads heads, $kv KV heads, 32k vocabulary ($params parameters); $ctx-token steps, $threads threads, $steps steps, $reps alternating repetitions"
fi
echo
echo "| base | llama-bench pp$ctx tok/s | forward, all logits, tok/s | lora4j train tok/s | step ÷ pp$ctx | step ÷ forward (all logits) | PyTorch LoRA tok/s (F32) | lora4j ÷ PyTorch | lora4j peak RSS MiB | PyTorch peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for t in $types; do
  vs=""; tcol=""; trs=""
  if [ -n "$torch_tps" ]; then vs="$(ratio "${train[$t]}" "$torch_tps")"; fi
  if [ "$t" = f32 ] && [ -n "$torch_tps" ]; then tcol="$(range "$torch_tps")"; trs="$(range "$torch_rss")"; fi
  echo "| $t | $(range "${fwd[$t]}") | $(range "${all[$t]}") | $(range "${train[$t]}") | $(ratio "${fwd[$t]}" "${train[$t]}") | $(ratio "${all[$t]}" "${train[$t]}") | $tcol | $vs | $(range "${trss[$t]}") | $trs |"
done
