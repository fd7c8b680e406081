#!/usr/bin/env bash
# Regenerates the FFM bindings from the pinned llama.cpp headers and the lora4j shim header:
# deletes bindings/src/main/java/dev/lora4j/bindings/ and writes it again, plus bindings/symbols.txt and
# bindings/generator/layout_check.c. Needs libclang's Python bindings for /usr/bin/python3
# (Debian: apt-get install python3-clang-16 libclang1-16 libclang-16-dev).
# Arguments are passed on to generate.py (e.g. --llama-src DIR; see generate.py --help).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${LORA4J_PYTHON:-/usr/bin/python3}"
if ! "$python" -c 'import clang.cindex' 2>/dev/null; then
  echo "generate.sh: $python cannot import clang.cindex; apt-get install python3-clang-16 libclang1-16 libclang-16-dev" >&2
  exit 1
fi
rm -rf "$here/src/main/java/dev/lora4j/bindings"
exec "$python" "$here/generator/generate.py" --out "$here" "$@"
