#!/usr/bin/env bash
# The GPU check of docs/gpu.md, for a bare GPU machine: nvcc, CMake, ninja, a C++ compiler and cuBLAS (the CUDA
# toolkit's, or the one inside a Python installation's nvidia packages), but no Java and no network. It needs the
# folder native/gpu-bundle.sh prepares (native/target/gpu: a jlink'ed Java runtime, the jars, the patched llama.cpp
# source) beside the working tree. From the repository root:
#
#   native/gpu-check.sh            results in $OUT when set, else native/target/gpu-results
#
# Steps (each timed and logged to gpu-check.log): find cuBLAS; build llama.cpp + ggml-cuda for this GPU's architecture
# only (llama, ggml, llama-bench, test-backend-ops; on a warm machine that built the same bundle, only what changed);
# build and stage the lora4j shim; test-backend-ops -o OUT_PROD and -o CPY; GpuIT (JUnit); benchmarks: llama-bench vs
# GpuBench inference and LoRA training tokens/s on a ~1B Q8_0 and Q4_K_M model, PEFT (tests/bench/peft_train.py) when
# torch, transformers and peft are installed, training with upstream's CPU fallback of OUT_PROD
# (LORA4J_CUDA_OUT_PROD_F32_ONLY=1), and the OUT_PROD kernel alone. The must-haves come first, so that a run cut
# short by the device's time limit has them.
# Environment: LORA4J_CUDA_ARCH (default: the GPU's compute capability, e.g. 90-real), LORA4J_GPU_FA=ON|OFF (flash
# attention kernels, default OFF: a much shorter build; training never uses them), LORA4J_GPU_BENCH=0 (tests only),
# LORA4J_GPU_WORK (default /tmp/lora4j-gpu), LORA4J_BENCH_PARAMS (default 1B), LORA4J_BENCH_TYPES (default
# "q8_0 q4_k_m").
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="$root/native/target/gpu"
out="${OUT:-$root/native/target/gpu-results}"
work="${LORA4J_GPU_WORK:-/tmp/lora4j-gpu}"
mkdir -p "$out" "$work"
exec > >(tee -a "$out/gpu-check.log") 2>&1
t0=$(date +%s)
step() { echo; echo "== [$(( $(date +%s) - t0 ))s] $*"; }
fail=0
note() { echo "$*" | tee -a "$out/summary.txt"; }
: > "$out/summary.txt"

step "machine"
nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv | tee "$out/nvidia-smi.csv"
nvcc --version | tail -2; cmake --version | head -1; ninja --version; c++ --version | head -1; nproc
[ -d "$bundle" ] || { echo "gpu-check: no $bundle (run native/gpu-bundle.sh where there is a JDK, and carry native/target/gpu)"; exit 1; }

step "cuBLAS"
cmake_cuda=()
nvcc_dir="$(dirname "$(readlink -f "$(command -v nvcc)")")"
if [ -f "$nvcc_dir/../include/cublas_v2.h" ]; then
  echo "cuBLAS of the toolkit: $nvcc_dir/../include"
else
  inc=""
  for sp in $(python3 -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()] + sys.path))' 2>/dev/null) \
            /usr/local/lib/python3*/dist-packages /usr/lib/python3/dist-packages /opt/conda/lib/python3*/site-packages; do
    for d in "$sp"/nvidia/cublas "$sp"/nvidia/cu13 "$sp"/nvidia/cu12; do
      if [ -f "$d/include/cublas_v2.h" ] && ls "$d"/lib/libcublas.so* >/dev/null 2>&1; then inc="$d/include"; lib="$d/lib"; break 2; fi
    done
  done
  if [ -z "$inc" ]; then
    inc="$(dirname "$(find / -name cublas_v2.h -not -path '/proc/*' 2>/dev/null | head -1)")"
    lib="$(dirname "$(find / -name 'libcublas.so*' -not -path '/proc/*' 2>/dev/null | head -1)")"
  fi
  [ -f "$inc/cublas_v2.h" ] || { note "FAIL no cuBLAS found (headers)"; exit 1; }
  cublas="$(find "$lib" -maxdepth 1 -name 'libcublas.so*' | sort | head -1)"; cublaslt="$(find "$lib" -maxdepth 1 -name 'libcublasLt.so*' | sort | head -1)"
  echo "cuBLAS of a Python package: $inc, $cublas, $cublaslt"
  cmake_cuda+=("-DCUDA_cublas_LIBRARY=$cublas" "-DCUDA_cublasLt_LIBRARY=$cublaslt" "-DCMAKE_CUDA_FLAGS=-I$inc" "-DCMAKE_CXX_FLAGS=-I$inc")
  export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# the driver library: FindCUDAToolkit wants libcuda.so (toolkit stubs or the driver's unversioned link)
if ! ls "$nvcc_dir"/../lib64/stubs/libcuda.so "$nvcc_dir"/../lib64/libcuda.so /usr/lib/x86_64-linux-gnu/libcuda.so >/dev/null 2>&1; then
  drv="$(ldconfig -p | sed -n 's/.*libcuda\.so\.1 .*=> //p' | head -1)"
  [ -n "$drv" ] && cmake_cuda+=("-DCUDA_cuda_driver_LIBRARY=$drv") && echo "driver: $drv"
fi
cc="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')"
arch="${LORA4J_CUDA_ARCH:-${cc:+${cc}-real}}"
arch="${arch:-native}"

step "llama.cpp source (patched: $(grep -c '^patch=' "$bundle/MANIFEST") patches) and the CUDA build, arch $arch"
src="$work/src/llama.cpp"
if cmp -s "$bundle/MANIFEST" "$work/MANIFEST" && [ -f "$work/build/bin/libllama.so" ]; then
  echo "the same bundle was built here before (a warm machine): building only what changed"
else
  rm -rf "$work/src" "$work/build" "$work/MANIFEST" && mkdir -p "$work/src" && tar -xJf "$bundle/llama-src.tar.xz" -C "$work/src"
fi
cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
  -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=ON -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DGGML_BACKEND_DL=OFF -DGGML_CPU_REPACK=ON -DGGML_NATIVE=ON \
  -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" -DGGML_CUDA_FA="${LORA4J_GPU_FA:-OFF}" -DGGML_CUDA_NCCL=OFF \
  -DGGML_CUDA_COMPRESSION_MODE=none "${cmake_cuda[@]}" > "$out/cmake-configure.log" 2>&1 \
  || { tail -30 "$out/cmake-configure.log"; note "FAIL cmake configure"; exit 1; }
grep -E "CUDA|cuBLAS|ARCHITECTURES" "$out/cmake-configure.log" | head
bt0=$(date +%s)
cmake --build "$work/build" --parallel "$(nproc)" --target llama ggml llama-bench test-backend-ops > "$out/build.log" 2>&1 \
  || { tail -40 "$out/build.log"; note "FAIL build"; exit 1; }
note "build: llama + ggml-cuda ($arch) + llama-bench + test-backend-ops in $(( $(date +%s) - bt0 )) s"
cp "$bundle/MANIFEST" "$work/MANIFEST"
bin="$work/build/bin"

step "lora4j shim and staging"
stage="$work/stage" && rm -rf "$stage" && mkdir -p "$stage"
c++ -O2 -std=c++17 -shared -fPIC -o "$stage/liblora4j.so" "$root"/native/src/*.cpp -I "$root/native/include" -I "$src/include" \
  -I "$src/ggml/include" -I "$src/src" -L "$bin" -lllama -lggml -lggml-base -lggml-cpu -Wl,-rpath,"\$ORIGIN" \
  || { note "FAIL shim build"; exit 1; }
: > "$stage/load-order.txt"
for l in ggml-base ggml-cpu ggml-cuda ggml llama; do
  so="$(readelf -d "$bin/lib$l.so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')"
  cp -L "$bin/lib$l.so" "$stage/${so:-lib$l.so}" && echo "${so:-lib$l.so}" >> "$stage/load-order.txt"
done
echo liblora4j.so >> "$stage/load-order.txt"
export LD_LIBRARY_PATH="$stage:$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p "$root/native/target"
printf 'tree=%s\nbackend=cuda\nkey=gpu-check\nplatform=linux-x86_64\nsource=%s\npatched_source=%s\nbin=%s\n' \
  "$(sed -n 's/^tree=//p' "$bundle/MANIFEST")" "$src" "$src" "$bin" > "$root/native/target/native.properties"
rm -rf "$work/jre" && tar -xJf "$bundle/jre.tar.xz" -C "$work" && java="$work/jre/bin/java"
"$java" -version 2>&1 | head -1
cp_="$bundle/junit-console.jar:$bundle/lora4j.jar:$bundle/lora4j-tests.jar"
jv=("$java" --enable-native-access=ALL-UNNAMED "-Dlora4j.native.dir=$stage" "-Dlora4j.root=$root")
"${jv[@]}" -cp "$cp_" dev.lora4j.cli.Main devices | tee "$out/devices.txt"

for op in OUT_PROD CPY; do   # CUDA patches 0001 (OUT_PROD) and 0002 (CPY of quantised tensors to F32)
  step "test-backend-ops -o $op (CUDA vs CPU, upstream's test cases)"
  log="$out/test-backend-ops-$op.log"
  timeout 180 "$bin/test-backend-ops" test -o "$op" > "$log" 2>&1; rc=$?
  grep -E "tests passed|Backend|FAIL" "$log" | grep -v "not supported" | tail -15
  [ "$op" = CPY ] && grep -E "CPY\(type_src=q[2-6]_K.*type_dst=f32" "$log" | head -12
  note "test-backend-ops -o $op: rc=$rc, $(grep -c "$op.*OK" "$log") OK, $(grep -c "$op.*FAIL" "$log") FAIL, $(grep -c "$op.*not supported" "$log") not supported"
  [ $rc = 0 ] || fail=1
done

step "GpuIT (JUnit)"
model="$bundle/models/tinystories-656k-q8_0.gguf"
timeout 420 "${jv[@]}" "-Dlora4j.test.model=$model" -cp "$cp_" org.junit.platform.console.ConsoleLauncher execute \
  --select-class dev.lora4j.it.GpuIT --reports-dir "$out/junit" --details=tree --disable-ansi-colors > "$out/gpuit.log" 2>&1; rc=$?
grep -E "GpuIT:|✔|✘|↷|tests (successful|failed|skipped)" "$out/gpuit.log" | tail -40
note "GpuIT: rc=$rc; $(grep -E 'tests (successful|failed|skipped)' "$out/gpuit.log" | tr -s ' ' | tr '\n' ' ')"
[ $rc = 0 ] || fail=1

if [ "${LORA4J_GPU_BENCH:-1}" != 0 ]; then
  params="${LORA4J_BENCH_PARAMS:-1B}"
  step "benchmarks: $params models"
  types="${LORA4J_BENCH_TYPES:-q8_0 q4_k_m}"
  for t in $types; do
    [ -f "$work/m-$t.gguf" ] || "${jv[@]}" -cp "$cp_" dev.lora4j.cli.Main build-model --params "$params" --type "$t" -o "$work/m-$t.gguf" 2>&1 | tail -1
  done
  for t in $types; do
    m="$work/m-$t.gguf"
    timeout 120 "$bin/llama-bench" -m "$m" -p 512 -n 128 -ngl 99 -o json > "$out/llama-bench-$t.json" 2> "$out/llama-bench-$t.log"
    note "llama-bench $t: $(python3 -c 'import json,sys; print(", ".join("%s %.1f tok/s" % ("pp%d" % r["n_prompt"] if r["n_prompt"] else "tg%d" % r["n_gen"], r["avg_ts"]) for r in json.load(open(sys.argv[1]))))' "$out/llama-bench-$t.json" 2>/dev/null)"
    timeout 120 "${jv[@]}" -cp "$cp_" dev.lora4j.bench.GpuBench infer --model "$m" --prompt 512 --gen 128 2>/dev/null | grep RESULT | tee -a "$out/results.jsonl"
    GGML_SCHED_DEBUG=1 timeout 180 "${jv[@]}" -cp "$cp_" dev.lora4j.bench.GpuBench train --model "$m" --ctx 512 --r 16 --steps 6 \
      2> "$out/train-$t.log" | grep RESULT | tee -a "$out/results.jsonl"
  done
  step "PEFT (tests/bench/peft_train.py)"
  for q in bf16 4bit; do
    timeout 150 python3 "$root/tests/bench/peft_train.py" --gguf "$work/m-q8_0.gguf" --ctx 512 --r 16 --steps 6 --quant $q 2> "$out/peft-$q.log" \
      | grep RESULT | tee -a "$out/results.jsonl" || note "peft $q: see peft-$q.log ($(tail -1 "$out/peft-$q.log"))"
  done
  step "the CPU fallback of upstream (LORA4J_CUDA_OUT_PROD_F32_ONLY=1), Q8_0, 2 steps"
  LORA4J_CUDA_OUT_PROD_F32_ONLY=1 GGML_SCHED_DEBUG=1 timeout 150 "${jv[@]}" -cp "$cp_" dev.lora4j.bench.GpuBench train \
    --model "$work/m-q8_0.gguf" --ctx 512 --r 16 --steps 2 2> "$out/train-q8_0-fallback.log" | grep RESULT | tee -a "$out/results.jsonl"
  step "OUT_PROD kernel alone (tests/src/test/c/out_prod_check.cpp bench)"
  mkdir -p "$work/plan"
  awk '/^diff --git/{p=($3=="a/ggml/src/ggml-cuda/out-prod-plan.h")} p && /^\+/ && !/^\+\+\+ /{print substr($0,2)}' \
    "$root"/native/patches/cuda/*OUT_PROD*.patch > "$work/plan/out-prod-plan.h"
  c++ -O2 -std=c++17 -o "$work/out_prod_check" "$root/tests/src/test/c/out_prod_check.cpp" -I "$work/plan" -I "$src/ggml/include" \
    -L "$bin" -lggml -lggml-base -lggml-cpu -Wl,-rpath,"$bin" && timeout 120 "$work/out_prod_check" bench | tee "$out/out-prod-bench.txt"
fi

step "done"
grep RESULT "$out/results.jsonl" 2>/dev/null | sed 's/^RESULT //' >> "$out/summary.txt"
cat "$out/summary.txt"
exit $fail
