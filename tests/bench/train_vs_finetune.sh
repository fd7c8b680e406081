#!/usr/bin/env bash
# Training throughput and peak RSS: lora4j LoRA training (r=8, all-linear, frozen base in its stored type) against
# llama.cpp's llama-finetune (full fine-tuning of the same model in F32), same text, context, threads, in one run.
#   tests/bench/train_vs_finetune.sh [--steps N] [--ctx N] [--threads N] MODEL.gguf [MODEL.gguf ...]
# Each MODEL is trained by lora4j as it is, and its F32 conversion (llama_model_quantize to f32) by llama-finetune.
# Prints a Markdown table (tokens/s, peak RSS, file size) for docs/benchmarks.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
steps=20; ctx=256; threads=2; models=()
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2;; --ctx) ctx="$2"; shift 2;; --threads) threads="$2"; shift 2;;
    *) models+=("$1"); shift;;
  esac
done
[ ${#models[@]} -gt 0 ] || { echo "usage: $0 [--steps N] [--ctx N] [--threads N] MODEL.gguf..." >&2; exit 2; }
bin="$(sed -n 's/^bin=//p' "$root/native/target/native.properties")"
jar="$(ls "$root"/java/target/lora4j-*-all.jar | head -1)"
java="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
shared="$root/../shared/data/tinystories_train_sample_2MiB.txt"
[ -f "$shared" ] || { echo "needs ../shared/data/tinystories_train_sample_2MiB.txt" >&2; exit 2; }
# ASCII only: the TinyStories-656K vocabulary cannot encode curly quotes and the like (llama.cpp cannot either)
head -c 400000 "$shared" | python3 -c 'import sys; sys.stdout.write(sys.stdin.read().encode("ascii", "ignore").decode())' > "$work/text.txt"

echo "| model | trainer | what is trained | tokens/s | peak RSS (MiB) | model file (MiB) |"
echo "|---|---|---|---:|---:|---:|"
for m in "${models[@]}"; do
  name="$(basename "$m")"
  size_mib=$(( $(stat -c %s "$m") / 1048576 ))
  # lora4j: LoRA r=8 all-linear on the base as stored
  out="$("$java" --enable-native-access=ALL-UNNAMED -jar "$jar" train --base "$m" --data "$work/text.txt" --format text \
        --max-seq-length "$ctx" --target-modules all-linear --r 8 --lora-alpha 16 --max-steps "$steps" --validation-split 0 \
        --threads "$threads" --out "$work/adapter.gguf" --output-dir "$work/train" 2>/dev/null)"
  tps="$(echo "$out" | sed -n 's/.* \([0-9.]*\) tokens\/s, peak RSS \([0-9.]*\) MiB/\1/p')"
  rss="$(echo "$out" | sed -n 's/.* tokens\/s, peak RSS \([0-9.]*\) MiB/\1/p')"
  echo "| $name | lora4j | LoRA r=8 all-linear | $tps | $rss | $size_mib |"
  # llama-finetune: full fine-tuning of the F32 model; ~steps samples of ctx tokens (its dataset strides by ctx/2)
  "$java" --enable-native-access=ALL-UNNAMED -jar "$jar" quantize --allow-requantize "$m" "$work/f32.gguf" f32 2>/dev/null
  f32_mib=$(( $(stat -c %s "$work/f32.gguf") / 1048576 ))
  ntok=$(( (steps + 1) * ctx / 2 ))
  python3 - "$work/text.txt" "$work/ft.txt" "$ntok" <<'PY'
import sys
src, dst, ntok = sys.argv[1], sys.argv[2], int(sys.argv[3])
# about 4 characters per token for this text and these vocabularies: take a little more, finetune cuts to whole samples
open(dst, "w").write(open(src).read()[: ntok * 6])
PY
  start=$(date +%s.%N)
  /usr/bin/time -v "$bin/llama-finetune" -m "$work/f32.gguf" -f "$work/ft.txt" -c "$ctx" -b "$ctx" -ub "$ctx" -t "$threads" \
      -ngl 0 --epochs 1 -val-split 0 -o "$work/ft-out.gguf" > "$work/ft.log" 2>&1 || { tail -20 "$work/ft.log" >&2; exit 1; }
  end=$(date +%s.%N)
  # its progress bar counts samples: "data=0000073/0000073"
  ndata="$(grep -o 'data=[0-9]*/[0-9]*' "$work/ft.log" | tail -1 | sed 's|.*/0*||')"
  ft_rss=$(( $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/ft.log") / 1024 ))
  ft_tps="$(python3 -c "print(round($ndata * $ctx / ($end - $start), 1))")"
  echo "| $name (as F32) | llama-finetune | all F32 weights | $ft_tps (whole process, $ndata samples) | $ft_rss | $f32_mib |"
  rm -f "$work/f32.gguf" "$work/ft-out.gguf"
done
