#!/usr/bin/env bash
# Runs the Python demo on a fresh machine: sets up a virtual environment
# with maturin, builds the core and the Python wheel, installs it, compiles
# the demo's C half against the same libferrymap.so, and runs demo.py.
#
#   python-demo/run.sh [--entries N]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
binding="$root/bindings/python"
venv="${FERRYMAP_PY_VENV:-$binding/.venv}"
python="${PYTHON:-python3}"

source "$root/scripts/setup"
if ! "$python" -c "import venv, ensurepip" >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq python3-venv >/dev/null
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.16,<2"

echo "== building the core and the Python wheel =="
(cd "$root" && cargo build --release --quiet)
rm -rf "$binding/target/wheels"
(cd "$binding" && "$venv/bin/maturin" build --release --quiet -i "$venv/bin/python" --out target/wheels)
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
    "$binding"/target/wheels/ferrymap-*.whl

echo "== compiling the demo's C half =="
mkdir -p "$root/target/python-demo"
# Linked by name, without an rpath: at run time its NEEDED libferrymap.so is
# the one `import ferrymap` has already loaded (matched by soname).
gcc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -I"$root/bindings/c" "$here/c_side.c" \
    -L"$root/target/release" -lferrymap -o "$root/target/python-demo/c_side.so"

echo "== demo =="
cd "$root/target/python-demo"
"$venv/bin/python" "$here/demo.py" "$root/target/python-demo/c_side.so" "$@"
