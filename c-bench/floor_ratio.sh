#!/usr/bin/env bash
# Builds the library with the benchmark floor (into its own target folder,
# so the normal build never exports it) and runs c-bench/floor_ratio.c,
# which times ferrymap and the floor in alternating slices.
# Usage: c-bench/floor_ratio.sh get N ROUNDS PER | insert N ROUNDS
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${CARGO_TARGET_DIR:-$PWD/target}/bench-floor"
cargo build --release --quiet --features bench-floor --target-dir "$dir"
ln -sfn libferrymap.so "$dir/release/libferrymap.so.0" # the soname, looked up at run time
mkdir -p "$dir/c-bench"
gcc -std=c11 -O2 -Wall -Wextra -Werror -Ibindings/c c-bench/floor_ratio.c \
    -L"$dir/release" -lferrymap -Wl,-rpath,"$dir/release" -o "$dir/c-bench/floor_ratio"
"$dir/c-bench/floor_ratio" "$@"
