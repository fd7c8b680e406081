#!/usr/bin/env bash
# Prepares, on a machine with the JDK and Maven, what native/gpu-check.sh needs on a GPU machine that has nvcc, CMake,
# ninja and cuBLAS but no Java and no network: one folder, native/target/gpu (git-ignored), to carry there beside the
# working tree (the device tool's carry list: ["native/target/gpu"]). It must stay under 64 MiB; this script says
# how big it is.
#
#   native/gpu-bundle.sh [--no-build]
#
# Contents:
#   jre.tar.xz             jlink'ed Temurin 25 runtime (java.base, java.logging), no debug, no man pages, no headers
#   llama-src.tar.xz       the pinned llama.cpp with native/patches/*.patch and native/patches/cuda/*.patch applied, in
#                          the order cmake/Lora4jLlamaBuild.cmake applies them for a CUDA build, without .git, models,
#                          docs, examples, the web server and gguf-py (what a CUDA build of the libraries, llama-bench
#                          and test-backend-ops needs)
#   lora4j.jar             the CLI/library jar without its CPU natives (the GPU machine builds its own)
#   lora4j-tests.jar       tests/ classes and test classes (GpuIT, GpuBench)
#   junit-console.jar      JUnit's console launcher (the version of the project's JUnit)
#   models/                the small model of the CPU/GPU parity check (../shared's tinystories-656k-q8_0.gguf)
#   MANIFEST               tree, patches and their sha256, sizes
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/native/target/gpu"
build=1
[ "${1:-}" = "--no-build" ] && build=0

for c in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk; do
  if [ -n "$c" ] && [ -x "$c/bin/jlink" ] && "$c/bin/java" -version 2>&1 | grep -q '"25'; then JAVA_HOME="$c"; break; fi
done
[ -x "${JAVA_HOME:-}/bin/jlink" ] || { echo "gpu-bundle: needs a Temurin 25 JDK (JAVA_HOME)" >&2; exit 1; }
export JAVA_HOME PATH="$JAVA_HOME/bin:$PATH"
junit_version=1.14.1   # junit-platform of the project's JUnit 5.14.1 (pom.xml)

if [ $build = 1 ]; then
  (cd "$root" && mvn -q -B -DskipTests install -pl tests/support,native,bindings,java,tests)
fi
props="$root/native/target/native.properties"
src="$(sed -n 's/^source=//p' "$props")"
tree="$(sed -n 's/^tree=//p' "$props")"
[ -f "$src/include/llama.h" ] || { echo "gpu-bundle: the pinned source $src is missing; run ./lora4j build" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/models"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# 1. the patched source (the same series, in the same order, as a CUDA build of cmake/Lora4jLlamaBuild.cmake)
mkdir -p "$tmp/llama.cpp"
(cd "$src" && tar --exclude=.git -cf - .) | (cd "$tmp/llama.cpp" && tar -xf -)
{
  echo "tree=$tree"
  for p in "$root"/native/patches/*.patch "$root"/native/patches/cuda/*.patch; do
    (cd "$tmp/llama.cpp" && patch -s -p1 --no-backup-if-mismatch < "$p") || { echo "gpu-bundle: $p does not apply" >&2; exit 1; }
    echo "patch=${p#"$root"/} $(sha256sum "$p" | cut -d' ' -f1)"
  done
} > "$out/MANIFEST"
(cd "$tmp" && tar -cJf "$out/llama-src.tar.xz" \
    --exclude='llama.cpp/models/*' --exclude=llama.cpp/docs --exclude=llama.cpp/media --exclude=llama.cpp/examples \
    --exclude=llama.cpp/tools/server --exclude=llama.cpp/tools/ui --exclude=llama.cpp/gguf-py --exclude=llama.cpp/.github \
    --exclude=llama.cpp/.devops --exclude=llama.cpp/benches --exclude=llama.cpp/scripts --exclude=llama.cpp/grammars \
    --exclude=llama.cpp/prompts --exclude=llama.cpp/requirements --exclude=llama.cpp/pocs --exclude=llama.cpp/licenses \
    --exclude='*.png' --exclude='*.jpg' --exclude='*.gguf' \
    llama.cpp)

# 2. jars
jars=("$root"/java/target/lora4j-*-all.jar); jar="${jars[0]}"
[ -f "$jar" ] || { echo "no CLI jar in $root/java/target: run ./lora4j build first" >&2; exit 1; }
mkdir -p "$tmp/jar" && (cd "$tmp/jar" && jar -xf "$jar" && rm -rf dev/lora4j/native && jar --create --file "$out/lora4j.jar" --manifest META-INF/MANIFEST.MF -C . .)
jar --create --file "$out/lora4j-tests.jar" -C "$root/tests/target/classes" . -C "$root/tests/target/test-classes" .
console="$HOME/.m2/repository/org/junit/platform/junit-platform-console-standalone/$junit_version/junit-platform-console-standalone-$junit_version.jar"
[ -f "$console" ] || (cd "$root" && mvn -q -B dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:$junit_version)
cp "$console" "$out/junit-console.jar"

# 3. the runtime: uncompressed modules in a tar.xz are smaller than zip-9 modules (12 vs 18 MiB)
jlink --add-modules java.base,java.logging --strip-debug --no-man-pages --no-header-files --compress=zip-0 --output "$tmp/jre"
(cd "$tmp" && tar -cJf "$out/jre.tar.xz" jre)

# 4. the parity model
m="$root/../shared/models/tinystories-656k-q8_0.gguf"
[ -f "$m" ] && cp "$m" "$out/models/"

(cd "$out" && du -b -- * models/* 2>/dev/null | sort -k2) | tee -a "$out/MANIFEST"
total=$(du -sb "$out" | cut -f1)
echo "total=$total bytes ($((total / 1048576)) MiB) in $out" | tee -a "$out/MANIFEST"
if [ "$total" -gt $((64 * 1048576)) ]; then
  echo "gpu-bundle: $out is over the 64 MiB that can be carried" >&2
  exit 1
fi
