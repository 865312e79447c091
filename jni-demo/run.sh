#!/usr/bin/env bash
# Builds libferrymap.so and the Java binding's jar, compiles the demo and runs it
# (under -Xcheck:jni, with java.library.path = target/release).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
(cd "$root" && cargo build --release --quiet)
(cd "$root/bindings/java" && mvn -B -ntp -Dstyle.color=never -q package -DskipTests)
jar="$root/bindings/java/target/ferrymap-0.1.0.jar"
out="$root/target/jni-demo"
rm -rf "$out" && mkdir -p "$out"
javac --release 17 -Xlint:all -Werror -cp "$jar" -d "$out" "$here"/src/demo/*.java
echo "== Java demo =="
java -Xcheck:jni -Djava.library.path="$root/target/release" -cp "$jar:$out" demo.Demo
