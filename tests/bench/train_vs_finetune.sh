#!/usr/bin/env bash
# Training throughput and peak RSS: lora4j LoRA training (r=8, all-linear, frozen base in its stored type) against
# llama.cpp's llama-finetune (full fine-tuning of the same model in F32), same text, context, threads, in one run.
#   tests/bench/train_vs_finetune.sh [--steps N] [--ctx N] [--threads N] MODEL.gguf [MODEL.gguf ...]
# Each MODEL is trained by lora4j as it is, and its F32 conversion (llama_model_quantize to f32) by llama-finetune.
# Both are timed the same way: as whole processes (start, model load, training, output written, exit) by
# /usr/bin/time -v, which also gives the peak RSS; tokens/s = tokens trained / wall seconds. lora4j's own figure
# for its training loop alone is printed beside it (llama-finetune reports none finer than whole seconds).
# Prints a Markdown table for docs/benchmarks.md.
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
jars=("$root"/java/target/lora4j-*-all.jar); jar="${jars[0]}"
[ -f "$jar" ] || { echo "no CLI jar in $root/java/target: run ./lora4j build first" >&2; exit 1; }
java="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
shared="$root/../shared/data/tinystories_train_sample_2MiB.txt"
[ -f "$shared" ] || { echo "needs ../shared/data/tinystories_train_sample_2MiB.txt" >&2; exit 2; }
# ASCII only: the TinyStories-656K vocabulary cannot encode curly quotes and the like (llama.cpp cannot either)
head -c 400000 "$shared" | python3 -c 'import sys; sys.stdout.write(sys.stdin.read().encode("ascii", "ignore").decode())' > "$work/text.txt"

# timed RESULT_PREFIX COMMAND...: runs COMMAND under /usr/bin/time -v; sets wall (s) and rss (MiB); output in PREFIX.log
timed() {
  local log="$1"; shift
  /usr/bin/time -v -o "$log.time" "$@" > "$log.log" 2>&1 || { tail -20 "$log.log" >&2; exit 1; }
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s }' "$log.time")"
  rss=$(( $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log.time") / 1024 ))
}
per_second() { python3 -c "print(round($1 / $2, 1))"; }

echo "| model | trainer | what is trained | tokens | wall s (whole process) | tokens/s (whole process) | tokens/s (training loop only) | peak RSS (MiB) | model file (MiB) |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
for m in "${models[@]}"; do
  name="$(basename "$m")"
  size_mib=$(( $(stat -c %s "$m") / 1048576 ))
  # lora4j: LoRA r=8 all-linear on the base as stored, max-steps samples of ctx tokens; its text cut as finetune's is
  # below (~1.5x the tokens it trains on), so that both tokenize about as much
  head -c $(( steps * ctx * 6 )) "$work/text.txt" > "$work/lora4j.txt"
  timed "$work/lora4j" "$java" --enable-native-access=ALL-UNNAMED -jar "$jar" train --base "$m" --data "$work/lora4j.txt" --format text \
        --max-seq-length "$ctx" --target-modules all-linear --r 8 --lora-alpha 16 --max-steps "$steps" --validation-split 0 \
        --threads "$threads" --out "$work/adapter.gguf" --output-dir "$work/train"
  loop_tps="$(sed -n 's/.* \([0-9.]*\) tokens\/s, peak RSS .*/\1/p' "$work/lora4j.log")"
  ntok=$(( steps * ctx ))
  echo "| $name | lora4j | LoRA r=8 all-linear | $ntok | $wall | $(per_second "$ntok" "$wall") | $loop_tps | $rss | $size_mib |"
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
  timed "$work/ft" "$bin/llama-finetune" -m "$work/f32.gguf" -f "$work/ft.txt" -c "$ctx" -b "$ctx" -ub "$ctx" -t "$threads" \
      -ngl 0 --epochs 1 -val-split 0 -o "$work/ft-out.gguf"
  # its progress bar counts samples: "data=0000073/0000073"
  ndata="$(grep -o 'data=[0-9]*/[0-9]*' "$work/ft.log" | tail -1 | sed 's|.*/0*||')"
  ntok=$(( ndata * ctx ))
  echo "| $name (as F32) | llama-finetune | all F32 weights | $ntok | $wall | $(per_second "$ntok" "$wall") | | $rss | $f32_mib |"
  rm -f "$work/f32.gguf" "$work/ft-out.gguf"
done
