#!/usr/bin/env bash
# Builds libferrymap.so (cargo build --release at the repository root) and runs the
# Java binding's JUnit 5 suite with every test JVM under -Xcheck:jni and
# java.library.path = target/release. Fails if a test fails, if no test ran, or if
# -Xcheck:jni printed a warning. Then runs the in-process Python+Java test
# (bindings/java/cross/run.sh; it skips, saying so, if there is no Python binding).
#
# Maven runs without -q so Surefire's summary ("Tests run: N, Failures: ...") stays
# in the output.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

echo "== cargo build --release (libferrymap.so) =="
(cd "$root" && cargo build --release --quiet)

echo "== Java binding: JUnit 5 under -Xcheck:jni =="
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
(cd "$here" && mvn -B -ntp -Dstyle.color=never test -Dferrymap.lib="$root/target/release") 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "Java tests failed (mvn exit $status)" >&2
    exit "$status"
fi
if ! grep -Eq "Tests run: [1-9][0-9]*, Failures: 0, Errors: 0" "$log"; then
    echo "no Java test ran" >&2
    exit 1
fi
if grep -Eq "WARNING in native method|FATAL ERROR in native method" "$log"; then
    echo "-Xcheck:jni reported a problem (see above)" >&2
    exit 1
fi

if [ -x "$here/cross/run.sh" ]; then
    "$here/cross/run.sh"
fi
