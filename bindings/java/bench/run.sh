#!/usr/bin/env bash
# Builds the core and the jar, then runs the benchmark harness under G1 (the default)
# and ParallelGC, after the same get loops in C (c_reference.c) for reference.
# Results go to stdout; bindings/java/BENCHMARKS.md records a run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
(cd "$root" && cargo build --release --quiet)
(cd "$root/bindings/java" && mvn -B -ntp -Dstyle.color=never -q package -DskipTests)
jar="$root/bindings/java/target/ferrymap-0.1.0.jar"
out="$root/target/java-bench"
rm -rf "$out" && mkdir -p "$out"
javac --release 17 -cp "$jar" -d "$out" "$here"/src/bench/*.java
run() {
    java -Xms4g -Xmx4g "$@" -Djava.library.path="$root/target/release" -cp "$jar:$out" bench.Bench "${BENCH:-all}"
}
gcc -std=c11 -O2 -Wall -Wextra -I"$root/bindings/c" "$here/c_reference.c" -L"$root/target/release" -lferrymap \
    -Wl,-rpath,"$root/target/release" -o "$out/c_reference"
echo "== the core from C, for reference =="
"$out/c_reference" 1000
"$out/c_reference" 1000000
echo "== G1 (default) =="
run -XX:+UseG1GC
echo "== ParallelGC =="
run -XX:+UseParallelGC
