#!/usr/bin/env bash
# Builds the natives: the pinned llama.cpp (cached under $LORA4J_CACHE, default ~/.cache/lora4j, keyed by
# source tree + flags: minutes the first time, seconds after) and the lora4j shim, staged into
# native/target/stage for the lora4j-natives jar.
#   LLAMA_CPP_DIR=/path/to/llama.cpp   use your own checkout instead of the pinned one
#   LORA4J_BACKEND=auto|cpu|cuda       default auto: CUDA when a toolkit with cuBLAS is found
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for tool in cmake git; do
  command -v "$tool" >/dev/null || { echo "lora4j: '$tool' is needed to build the natives; install it (e.g. apt-get install $tool)" >&2; exit 1; }
done
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
args=()
[ -n "${LLAMA_CPP_DIR:-}" ] && args+=("-DLLAMA_CPP_DIR=$LLAMA_CPP_DIR")
[ -n "${LORA4J_BACKEND:-}" ] && args+=("-DLORA4J_BACKEND=$LORA4J_BACKEND")
[ -n "${LORA4J_CUDA_ARCH:-}" ] && args+=("-DLORA4J_CUDA_ARCH=$LORA4J_CUDA_ARCH")
build="$here/target/build"
if [ -f "$build/CMakeCache.txt" ] && ! grep -q "ninja\|Ninja" "$build/CMakeCache.txt" && [ ${#gen[@]} -gt 0 ]; then
  rm -rf "$build"
fi
cmake -S "$here" -B "$build" "${gen[@]}" "${args[@]}" -Wno-dev >&2
cmake --build "$build" >&2
