#!/usr/bin/env bash
# In-process Python + Java test (test_jpype.py): one process, one libferrymap.so,
# maps passed both ways by handle. Builds the core and the jar, installs the Python
# binding (bindings/python, built by pip through maturin) and JPype1 into a venv of
# its own (target/java-cross-venv, so the Python binding's venv is left alone), and
# runs the script with the JVM under -Xcheck:jni. Skips, saying so, when the Python
# binding is not in the tree or does not build.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
if [ ! -f "$root/bindings/python/pyproject.toml" ]; then
    echo "== Python+Java cross test: FAILED (no Python binding in bindings/python) ==" >&2
    exit 1
fi
echo "== Python+Java cross test (JPype, one process) =="
(cd "$root" && cargo build --release --quiet)
(cd "$root/bindings/java" && mvn -B -ntp -Dstyle.color=never -q package -DskipTests)
venv="$root/target/java-cross-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" "JPype1>=1.5"
# The Python package is built from this tree, so that the libferrymap.so it ships
# is the one just built. If it does not build, that is the Python binding's failure
# (its own test.sh reports it too): a cross test that cannot run has failed.
if ! "${pip[@]}" --force-reinstall --no-deps "$root/bindings/python" > "$venv/pip-install.log" 2>&1; then
    tail -n 20 "$venv/pip-install.log" >&2
    echo "== Python+Java cross test: FAILED: the Python binding in bindings/python does not build (log above) ==" >&2
    exit 1
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
"$venv/bin/python" "$here/test_jpype.py" "$root/bindings/java/target/ferrymap-0.1.0.jar" 2>&1 | tee "$log"
if grep -Eq "WARNING in native method|FATAL ERROR in native method" "$log"; then
    echo "-Xcheck:jni reported a problem (see above)" >&2
    exit 1
fi
