#!/usr/bin/env bash
# Builds and tests the Python binding from a fresh clone on a fresh machine:
# checks that src/sys.rs is what bindgen makes of the C header
# (scripts/update-python-sys --check); a virtual environment with maturin,
# pytest, numpy and mypy; the core
# (cargo build --release at the repository root); the wheel (maturin, no
# auditwheel repair); then installs the wheel and runs the pytest suite and
# mypy's stubtest against the installed module.
#
#   bindings/python/test.sh            # reuses bindings/python/.venv if present
#   bindings/python/test.sh --clean    # starts from a new venv and a clean build
#   PYTEST_ARGS="-k threads" bindings/python/test.sh
#   bindings/python/test.sh --build-only   # stops once the wheel is installed
#                                         # in the venv (scripts/soak uses it)
#
# Exits non-zero on the first failure.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${FERRYMAP_PY_VENV:-$here/.venv}"
python="${PYTHON:-python3}"

build_only=0
if [ "${1:-}" = "--build-only" ]; then
    build_only=1
    shift
fi
if [ "${1:-}" = "--clean" ]; then
    echo "== clean: $venv, $here/target =="
    rm -rf "$venv" "$here/target" "$here/ferrymap/libferrymap.so"
fi

# Compilers, valgrind, cargo on PATH (the repository's common setup).
source "$root/scripts/setup"

echo "== sys.rs: regenerated from bindings/c/ferrymap.h and compared =="
# On a machine's first run this installs libclang-dev (about 15 s) and
# builds the pinned generator, scripts/python-sysgen, into ~/.cache/ferrymap
# (about 100 s of CPU); later runs take about half a second.
"$root/scripts/update-python-sys" --check

if ! "$python" -c "import venv, ensurepip" >/dev/null 2>&1; then
    echo "setup: installing python3-venv"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq python3-venv >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "== venv: $venv =="
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin>=1.16,<2" "pytest>=8" "numpy" "mypy>=1.10"

echo "== core: cargo build --release =="
(cd "$root" && cargo build --release --quiet)

echo "== wheel: maturin build =="
# maturin warns that libferrymap.so is an external library and suggests
# --auditwheel=repair: that is deliberate (pyproject.toml, auditwheel =
# "warn"); repair would rename the library and break sharing the core.
rm -rf "$here/target/wheels"
(cd "$here" && "$venv/bin/maturin" build --release --quiet -i "$venv/bin/python" --out target/wheels)
wheel="$(ls "$here"/target/wheels/ferrymap-*.whl)"
echo "built $wheel"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"
if [ "$build_only" = 1 ]; then
    echo "== python binding: built and installed in $venv (--build-only) =="
    exit 0
fi

echo "== pytest =="
# Run from the binding's directory with the pytest script (not python -m
# pytest), so that the installed package is imported, not ./ferrymap.
(cd "$here" && FERRYMAP_WHEEL="$wheel" "$venv/bin/pytest" -q ${PYTEST_ARGS:-} tests)

echo "== stubtest and mypy =="
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
(cd "$scratch" && "$venv/bin/python" -m mypy.stubtest ferrymap._native)
(cd "$scratch" && "$venv/bin/python" -m mypy --strict --no-error-summary -p ferrymap)
(cd "$scratch" && "$venv/bin/python" -m mypy --strict "$here/tests/typecheck_usage.py" "$root/python-demo/demo.py")
(cd "$scratch" && "$venv/bin/python" "$here/tests/typecheck_usage.py")
echo "== python binding: all passed =="
