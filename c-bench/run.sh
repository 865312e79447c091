#!/usr/bin/env bash
# Builds and runs the C benchmarks (bridge mode). Numbers are reported, not asserted.
# Usage: c-bench/run.sh [scale [part]]   (part: latency, pipelined, batched, two, idle)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-core --quiet
target="${CARGO_TARGET_DIR:-$PWD/target}"
lib="$target/release"
mkdir -p "$target/c-bench"
gcc -std=c11 -O2 -Wall -Wextra -Werror -pthread -Ibindings/c c-bench/bridge_bench.c \
    -L"$lib" -lferrymap -Wl,-rpath,"$lib" -o "$target/c-bench/bridge_bench"
"$target/c-bench/bridge_bench" "${1:-1}" ${2:+"$2"}
