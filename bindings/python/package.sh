#!/usr/bin/env bash
# Builds the Python distributables into OUT_DIR: one manylinux wheel per
# CPython found (3.9 to 3.13) and the sdist.
#
#   bindings/python/package.sh OUT_DIR
#   PYTHONS="3.11 3.12" bindings/python/package.sh OUT_DIR   # only these
#
# The wheels need no Rust to install. Each carries the core next to the
# module, under the core's soname, and is tagged manylinux_2_17 (glibc 2.17,
# the oldest glibc Rust's std supports), which holds only because the core
# inside is built for it too: both are linked by zig (the `ziglang` PyPI
# package) against glibc 2.17's symbol versions, the core with
# cargo-zigbuild into target/wheel-core at the repository root, apart from
# the checkout's own target/release. The script checks the symbol versions
# and `auditwheel show` before it says it is done. auditwheel never
# "repairs" the wheel: that would rename the core, and a renamed core
# cannot be joined by (or join) one that another language loaded first.
#
# The sdist carries the core's sources in ./core, so `pip install
# ferrymap-X.tar.gz` builds core and module from source with Rust (cargo on
# PATH; about 4 minutes on 2 cores), with no checkout around it.
#
# Tools (maturin, ziglang, cargo-zigbuild, auditwheel) go into the binding's
# venv, bindings/python/.venv (FERRYMAP_PY_VENV), as for test.sh.
set -euo pipefail

out="${1:?usage: package.sh OUT_DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${FERRYMAP_PY_VENV:-$here/.venv}"
pythons="${PYTHONS:-3.9 3.10 3.11 3.12 3.13}"
glibc=2.17
target=x86_64-unknown-linux-gnu

source "$root/scripts/setup"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin>=1.16,<2" "ziglang>=0.13" "cargo-zigbuild>=0.19" "auditwheel>=6"
# cargo-zigbuild and maturin find zig as `python -m ziglang` through PATH.
export PATH="$venv/bin:$PATH"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$here/pyproject.toml" | head -n1)"
# Only this script's artifacts: OUT_DIR may hold others (scripts/package's
# C tarball is ferrymap-<version>-<platform>.tar.gz).
rm -f "$out"/ferrymap-*.whl "$out/ferrymap-$version.tar.gz"

echo "== core for the wheel: cargo zigbuild --target $target.$glibc =="
start=$SECONDS
core_target="$root/target/wheel-core"
# No debug info in the shipped core (the release profile keeps some for
# profiling in the checkout); its symbol table stays.
(cd "$root" && CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    cargo zigbuild --quiet --release --lib --locked --target "$target.$glibc" \
    --target-dir "$core_target")
core_dir="$core_target/$target/release"
echo "core built in $((SECONDS - start)) s: $core_dir/libferrymap.so"

# Refuse a core that needs a newer glibc than the tag claims.
newest="$(objdump -T "$core_dir/libferrymap.so" | grep -o 'GLIBC_[0-9][0-9.]*' |
    sed 's/GLIBC_//' | sort -uV | tail -n1)"
if [ "$(printf '%s\n%s\n' "$newest" "$glibc" | sort -V | tail -n1)" != "$glibc" ]; then
    echo "package.sh: the core needs GLIBC_$newest, newer than $glibc" >&2
    exit 1
fi
echo "core needs at most GLIBC_$newest"

# pythonX.Y on PATH, else a pyenv install of it (pyenv's shims on PATH only
# answer for the versions selected, not every one installed).
find_python() {
    local py
    if py="$(command -v "python$1")" && "$py" -c '' >/dev/null 2>&1; then
        echo "$py"
        return 0
    fi
    for py in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/"python$1"; do
        [ -x "$py" ] && "$py" -c '' >/dev/null 2>&1 && echo "$py" && return 0
    done
    return 1
}
interpreters=()
for v in $pythons; do
    if py="$(find_python "$v")"; then
        interpreters+=(-i "$py")
    else
        echo "package.sh: python$v not found, no wheel for it" >&2
    fi
done
[ ${#interpreters[@]} -gt 0 ] || { echo "package.sh: no interpreter for $pythons" >&2; exit 1; }

echo "== wheels: maturin build --zig --compatibility manylinux_${glibc/./_} =="
start=$SECONDS
# maturin warns that the module needs an external library and suggests
# --auditwheel=repair: deliberate, see the top of this file.
(cd "$here" && FERRYMAP_LIB_DIR="$core_dir" maturin build --quiet --release --locked \
    --zig --compatibility "manylinux_${glibc/./_}" --target "$target" \
    --target-dir "$here/target/package" "${interpreters[@]}" --out "$out")
echo "wheels built in $((SECONDS - start)) s"

echo "== sdist: maturin sdist, with the core's sources in ./core =="
start=$SECONDS
stage="$root/target/python-sdist"
rm -rf "$stage"
mkdir -p "$stage/core"
# The binding as committed (git ls-files: no venv, no build outputs) ...
(cd "$here" && git ls-files -z --cached --others --exclude-standard . | xargs -0 cp --parents -t "$stage")
# ... and the core: what `cargo build` of it reads, plus its licence files.
(cd "$root" && cp -R --parents Cargo.toml Cargo.lock build.rs cbindgen.toml src benches \
    bindings/java/src/main/java/dev/ferrymap/Native.java \
    "$stage/core")
# Scripts that only work inside the checkout stay out of the sdist.
rm -f "$stage/package.sh" "$stage/test.sh" "$stage/test-installed.sh"
for f in "$root"/LICENSE*; do
    [ -e "$f" ] && cp "$f" "$stage/core/" && cp "$f" "$stage/"
done
(cd "$stage" && maturin sdist --out "$out" >/dev/null)
echo "sdist built in $((SECONDS - start)) s"

echo "== check: auditwheel show =="
status=0
for w in "$out"/ferrymap-*.whl; do
    claimed="$(basename "$w" | grep -o 'manylinux_[0-9]*_[0-9]*_x86_64' | head -n1)"
    shown="$(auditwheel show "$w" 2>&1)"
    if grep -q "consistent with the following platform tag: \"$claimed\"" <<<"${shown//$'\n'/ }"; then
        echo "ok   $(basename "$w"): auditwheel confirms $claimed"
    else
        echo "FAIL $(basename "$w"): auditwheel does not confirm $claimed:" >&2
        echo "$shown" >&2
        status=1
    fi
done
ls -l "$out"/ferrymap-*.whl "$out/ferrymap-$version.tar.gz"
exit $status
