#!/usr/bin/env bash
# Checks native/patches as a series: for k = 1..N the first k patches apply to the pinned llama.cpp and the
# libraries they touch build (ggml and llama, which the shim links), with the flags of the real build
# (cmake/Lora4jLlamaBuild.cmake); the shim links against the whole series; and native/patches/cuda/*.patch apply
# after it, and the ggml-cuda files they touch compile with nvcc where there is one (ggml-cuda needs cuBLAS to link and
# a GPU to run: native/gpu-check.sh). With the whole series built, upstream's
# test-backend-ops compares the CPU kernels with the CPU backend's reference path, and native/tests/gradcheck.cpp the
# backward passes the series adds with finite differences (check_kernels).
# The source copy and the build directory live in $LORA4J_CACHE/check-patches and are reused across prefixes and
# runs: the build is configured once, and each prefix rebuilds only what its patch touched. The first run builds
# ggml and llama whole (minutes); a later one rebuilds what the series changes, and nothing when the patches, the
# flags and this script are those of the last run that passed ($LORA4J_CACHE/check-patches/passed; delete it to
# check again): then only the shim is built again.
#   LORA4J_CACHE   the lora4j cache (default ~/.cache/lora4j), where the pinned source is (fetched there if missing)
#   JOBS           parallel compile jobs (default: the number of cores)
# Stops at the first patch that does not apply or build, with its errors; exit status 0 when all do.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${LORA4J_CACHE:-$HOME/.cache/lora4j}"
jobs="${JOBS:-$(nproc)}"
work="$cache/check-patches"
src="$work/src"
build="$work/build"
log="$work/build.log"
t_start=$(date +%s)

say() { echo "check-patches: $*"; }
fail() { echo "check-patches: FAILED: $*" >&2; exit 1; }

mkdir -p "$work"
exec 9> "$work/.lock"
flock 9

# the pinned source, fetched and verified by the real build's own script
pinned="$(cmake -DLORA4J_CACHE="$cache" -P "$root/cmake/Lora4jLlamaSource.cmake" |
  sed -n 's/^-- lora4j: llama.cpp source \(.*\) (tree .*)$/\1/p')"
[ -d "$pinned/.git" ] || fail "the llama.cpp source '$pinned' is not a git checkout"
tree="$(git -C "$pinned" rev-parse 'HEAD^{tree}')"

# the flags the real build configures llama.cpp with (CPU)
mapfile -t flags < <(cmake -DLORA4J_BACKEND=cpu -P "$root/cmake/Lora4jLlamaBuild.cmake" | grep '^-D')
[ ${#flags[@]} -gt 0 ] || fail "no flags from cmake/Lora4jLlamaBuild.cmake"
gen=()
command -v ninja > /dev/null && gen=(-G Ninja)
config="tree=$tree ${gen[*]} ${flags[*]}"

# builds ggml and llama; on failure prints the first errors
build_libs() {
  if ! nice -n 10 cmake --build "$build" --parallel "$jobs" --target ggml llama > "$log" 2>&1; then
    grep -E 'error|FAILED' "$log" | head -n 30 >&2
    fail "$1 (whole output: $log)"
  fi
}

# every prefix of the series, from a clean copy of the source
check_series() {
  # reset in place, so that only the files the series changes get a new time stamp
  if [ "$(git -C "$src" rev-parse 'HEAD^{tree}' 2> /dev/null)" != "$tree" ]; then
    rm -rf "$src" "$build"
    git -c advice.detachedHead=false clone -q --shared "$pinned" "$src"
  fi
  git -C "$src" reset -q --hard
  git -C "$src" clean -q -fdx
  if [ "$(cat "$build/lora4j-config" 2> /dev/null)" != "$config" ]; then
    rm -rf "$build"
    say "configuring $build"
    cmake -S "$src" -B "$build" "${gen[@]}" "${flags[@]}" > "$work/configure.log" 2>&1 ||
      { tail -n 30 "$work/configure.log" >&2; fail "configuring llama.cpp (whole output: $work/configure.log)"; }
    echo "$config" > "$build/lora4j-config"
  fi
  local k=0 p name t0
  for p in "${patches[@]}"; do
    k=$((k + 1))
    name="${p#"$root"/}"
    t0=$(date +%s)
    # as the real build applies them; patch k goes onto the tree of the first k-1, i.e. the first k onto a clean copy
    git -C "$src" apply --whitespace=nowarn "$p" || fail "$name does not apply after the $((k - 1)) before it"
    build_libs "ggml/llama do not build with the first $k patches (up to $name)"
    say "$k/${#patches[@]} $name: applies and builds ($(($(date +%s) - t0)) s)"
  done
  for p in "${cuda[@]}"; do
    git -C "$src" apply --whitespace=nowarn "$p" || fail "${p#"$root"/} does not apply after native/patches and the cuda patches before it"
    say "${p#"$root"/}: applies"
  done
  check_cuda_compiles
}

# the ggml-cuda files that native/patches/cuda touch, compiled for sm_90 with nvcc where there is one; without cuBLAS
# (CI has none) its declarations come from native/tests/cublas-stub: this compiles the patched code, it does not link
# or run it (native/gpu-check.sh does, on a GPU machine)
check_cuda_compiles() {
  command -v nvcc > /dev/null || { say "no nvcc: the CUDA patches are applied, not compiled"; return 0; }
  local f t0 files=()
  t0=$(date +%s)
  mapfile -t files < <(sed -n 's|^+++ b/\(ggml/src/ggml-cuda/[^ ]*\.cu\)$|\1|p' "${cuda[@]}" | sort -u)
  for f in "${files[@]}"; do
    nice -n 10 nvcc -std=c++17 -arch=sm_90 -DGGML_USE_CUDA -I "$root/native/tests/cublas-stub" -I "$src/ggml/include" \
      -I "$src/ggml/src" -I "$src/ggml/src/ggml-cuda" -c "$src/$f" -o "$work/cuda-check.o" 2> "$work/cuda-check.log" ||
      { grep -E 'error' "$work/cuda-check.log" | head -n 30 >&2; fail "$f does not compile with native/patches/cuda (nvcc, sm_90)"; }
  done
  rm -f "$work/cuda-check.o"
  say "the ${#files[@]} ggml-cuda files the CUDA patches touch compile for sm_90 ($(($(date +%s) - t0)) s)"
}

# the CPU kernels the series changes (patches 0008, 0013, 0020-0022), against the CPU backend's reference path
# (use_ref), with upstream's test cases: test-backend-ops compares the CPU backend with itself in reference mode when
# -b CPU is given. Upstream's harness runs the backend on half the cores, one thread on a 2-core machine, where no
# kernel's split among threads is tested: this copy of it runs 4.
check_kernels() {
  local t0 op
  t0=$(date +%s)
  grep -q 'std::max<int>(1, N_THREADS/2)' "$src/tests/test-backend-ops.cpp" || fail "test-backend-ops sets its threads another way"
  sed 's|std::max<int>(1, N_THREADS/2)|4|' "$src/tests/test-backend-ops.cpp" > "$work/test-backend-ops.cpp"
  nice -n 10 c++ -std=c++17 -O2 -fopenmp -o "$work/test-backend-ops" "$work/test-backend-ops.cpp" -I "$src/tests" \
    -I "$src/ggml/include" -I "$src/ggml/src" -L "$build/bin" -lggml -lggml-base -lggml-cpu -Wl,-rpath,"$build/bin" \
    2> "$work/test-backend-ops-build.log" ||
    { grep -E 'error' "$work/test-backend-ops-build.log" | head -n 30 >&2; fail "test-backend-ops does not build"; }
  for op in MUL_MAT LORA_MM CONT CPY DUP MUL SOFT_MAX SILU_BACK OPT_STEP_ADAMW CROSS_ENTROPY_LOSS CROSS_ENTROPY_LOSS_BACK OUT_PROD REPEAT_BACK; do
    "$work/test-backend-ops" test -b CPU -o "$op" > "$work/test-backend-ops-$op.log" 2>&1 ||
      { grep -E 'FAIL' "$work/test-backend-ops-$op.log" | head -n 20 >&2; fail "test-backend-ops test -b CPU -o $op (whole output: $work/test-backend-ops-$op.log)"; }
    say "test-backend-ops -b CPU -o $op: $(sed 's/\x1b\[[0-9;]*m//g' "$work/test-backend-ops-$op.log" | grep -oE '[0-9]+/[0-9]+ tests passed')"
  done
  say "the CPU kernels agree with the reference path ($(($(date +%s) - t0)) s)"
  # the backward passes that patches 0009, 0010 and 0019 add (and 0021's path for KQ*V, 0022's for a weight read
  # transposed), and the loss over 0020's SIMD maximum, against central differences of a double-precision model of
  # each op (native/tests/gradcheck.cpp): upstream's `test-backend-ops grad` marks no parameter for most of them, and
  # its error, the mean of (a-b)/(a+b), is NaN and passes wherever a gradient is 0 on both sides
  t0=$(date +%s)
  nice -n 10 c++ -std=c++17 -O2 -o "$work/gradcheck" "$root/native/tests/gradcheck.cpp" -I "$src/ggml/include" \
    -L "$build/bin" -lggml -lggml-base -lggml-cpu -Wl,-rpath,"$build/bin" 2> "$work/gradcheck-build.log" ||
    { grep -E 'error' "$work/gradcheck-build.log" | head -n 30 >&2; fail "native/tests/gradcheck.cpp does not build"; }
  "$work/gradcheck" > "$work/gradcheck.log" 2>&1 ||
    { grep -vE '^ *OK ' "$work/gradcheck.log" | head -n 30 >&2; fail "native/tests/gradcheck (whole output: $work/gradcheck.log)"; }
  say "backward passes against finite differences: $(grep -E '^[A-Z_]+: [0-9]+/[0-9]+ passed' "$work/gradcheck.log" | paste -sd ' ') ($(($(date +%s) - t0)) s)"
}

mapfile -t patches < <(find "$root/native/patches" -maxdepth 1 -name '*.patch' | sort)
[ ${#patches[@]} -gt 0 ] || fail "no patches in native/patches"
mapfile -t cuda < <(find "$root/native/patches/cuda" -maxdepth 1 -name '*.patch' 2> /dev/null | sort)
stamp="$({ echo "$config"; cat "${patches[@]}" "${cuda[@]}" "${BASH_SOURCE[0]}" "$root/native/tests/gradcheck.cpp"; } | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$work/passed" 2> /dev/null)" = "$stamp" ]; then
  say "native/patches, native/patches/cuda and the flags are those that passed last ($work/passed): not rebuilt"
else
  rm -f "$work/passed"
  check_series
  check_kernels
  echo "$stamp" > "$work/passed"
fi

# the shim against the whole series: compiled and linked with no undefined symbol (what it calls exists)
t0=$(date +%s)
bin="$build/bin"
nice -n 10 c++ -std=c++17 -O0 -fPIC -shared -Wl,--no-undefined -o "$work/libshim-check.so" \
  -I "$root/native/include" -I "$src/include" -I "$src/ggml/include" -I "$src/src" "$root"/native/src/*.cpp \
  -L "$bin" -lllama -lggml -lggml-base -lggml-cpu -Wl,-rpath,"$bin" 2> "$work/shim.log" ||
  { grep -E 'error|undefined' "$work/shim.log" | head -n 30 >&2; fail "the shim does not build against the series (whole output: $work/shim.log)"; }
say "the shim (native/src) builds and links against the whole series ($(($(date +%s) - t0)) s)"

say "OK: all ${#patches[@]} prefixes of native/patches apply and build, the CUDA patches apply (and compile, with nvcc), in $(($(date +%s) - t_start)) s"
