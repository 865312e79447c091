#!/usr/bin/env bash
# The "installed packages" checks of the Python distributables: run after
# package.sh, against the wheels it put in DIST_DIR.
#
#   bindings/python/test-installed.sh DIST_DIR
#
# First, with cargo: builds a test core whose major version is one above
# this checkout's (scripts/build-bumped-core, into target/bumped-major), for check 4,
# unless FERRYMAP_BUMPED_CORE names one already built.
# Then, from a temporary directory outside the repository, with no cargo on
# PATH and an environment holding nothing that points into the checkout,
# for every wheel in DIST_DIR whose CPython is on this machine:
#   1. a fresh venv; `pip install --no-index --only-binary :all:` from
#      DIST_DIR (pip picks the wheel for that interpreter);
#   2. a short program: maps, the shipped core in use, one copy mapped;
#   3. a core loaded first from another path (as C, Java or Go would) is
#      joined: the module uses that copy, and no second one is mapped;
#   4. the handshake: the shipped core replaced by the bumped-major build
#      (same file name, as a mislabelled or stale copy would be) makes
#      `import ferrymap` fail with an ImportError naming both versions;
#   5. `auditwheel show` confirms the manylinux tag the wheel's name claims;
# then, once, with the wheel of the default python3 and the jar in DIST_DIR:
#   6. one process: Python starts Java through JPype (bindings/java/cross/
#      test_jpype.py, copied out): one registry, maps shared both ways.
# Prints "N passed, N failed" and exits non-zero on any failure.
# With --sdist, then also installs the sdist into a fresh venv (cargo on
# PATH: it builds the core and the module from source) and runs a program.
set -euo pipefail

dist="${1:?usage: test-installed.sh DIST_DIR [--sdist]}"
dist="$(cd "$dist" && pwd)"
sdist=0
[ "${2:-}" = "--sdist" ] && sdist=1
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

source "$root/scripts/setup"
ls "$dist"/ferrymap-*.whl >/dev/null

echo "== bumped-major test core (cargo, before leaving the checkout) =="
# FERRYMAP_BUMPED_CORE: such a build made already (scripts/test-installed).
bumped="${FERRYMAP_BUMPED_CORE:-}"
if [ -z "$bumped" ]; then
    bumped="$("$root/scripts/build-bumped-core" "$root/target/bumped-major")"
fi
echo "$bumped"

scratch="$(mktemp -d /tmp/ferrymap-installed.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
case "$scratch/" in "$root"/*)
    echo "test-installed.sh: $scratch is inside the checkout" >&2
    exit 1
    ;;
esac
cp "$bumped" "$scratch/bumped-core.so"

# PATH without any directory that has cargo (or rustc) in it.
clean_path=""
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
    [ -n "$d" ] && [ ! -e "$d/cargo" ] && [ ! -e "$d/rustc" ] || continue
    case "$d" in "$root" | "$root"/*) continue ;; esac
    clean_path="${clean_path:+$clean_path:}$d"
done

cat >"$scratch/run.sh" <<'EOF'
#!/usr/bin/env bash
# Runs outside the checkout, with the environment test-installed.sh gives it.
set -uo pipefail
dist="$1"
passed=0
failed=0
check() {
    local name="$1"
    shift
    if out="$("$@" 2>&1)"; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        echo "$out" | sed 's/^/     /'
    fi
}
if command -v cargo >/dev/null || command -v rustc >/dev/null; then
    echo "cargo or rustc is on PATH: not a machine without Rust" >&2
    exit 1
fi

tools="$PWD/tools"
python3 -m venv "$tools"
"$tools/bin/pip" install --quiet --disable-pip-version-check "auditwheel>=6"

for wheel in "$dist"/ferrymap-*.whl; do
    name="$(basename "$wheel")"
    tag="$(grep -o 'cp3[0-9]*' <<<"$name" | head -n1)"
    minor="${tag#cp3}"
    py="$(command -v "python3.$minor" || true)"
    if [ -z "$py" ] || ! "$py" -c '' >/dev/null 2>&1; then
        # Not selected by pyenv's shims: an installed pyenv version then.
        py=""
        for p in "$HOME"/.pyenv/versions/3."$minor".*/bin/python3."$minor"; do
            [ -x "$p" ] && "$p" -c '' >/dev/null 2>&1 && py="$p" && break
        done
    fi
    if [ -z "$py" ]; then
        echo "note $name: no python3.$minor on this machine, not installed"
        continue
    fi
    env_dir="$PWD/venv-$tag"
    "$py" -m venv "$env_dir"
    check "$name: pip install from $dist (no index, wheels only)" \
        "$env_dir/bin/pip" install --quiet --disable-pip-version-check --no-index \
        --only-binary :all: --find-links "$dist" ferrymap
    installed="$("$env_dir/bin/python" -c 'import ferrymap, os; print(os.path.dirname(ferrymap.__file__))' 2>/dev/null || true)"
    check "$name: a short program" "$env_dir/bin/python" -c '
import collections.abc, os, sys, ferrymap
pkg = os.path.dirname(ferrymap.__file__)
assert pkg.startswith(sys.prefix), pkg
lib = ferrymap.library_path()
assert os.path.dirname(lib) == pkg and os.path.basename(lib).startswith("libferrymap.so"), lib
with ferrymap.Map(str, int) as m:
    m["a"] = 1
    m.add("a", 41)
    m.update({"b": 2})
    assert dict(m.items()) == {"a": 42, "b": 2}
    assert isinstance(m, collections.abc.MutableMapping)
assert ferrymap.census_total() == 0
assert ferrymap.core_version() == ferrymap.__version__, (ferrymap.core_version(), ferrymap.__version__)
with open("/proc/self/maps") as f:
    mapped = {line.split()[-1] for line in f if "libferrymap" in line}
assert mapped == {lib}, mapped
print("ok", ferrymap.core_version(), lib)
'
    # 3: another language loaded the core first, from elsewhere, under its
    # soname (RTLD_GLOBAL, as the JVM or a C host does): it is joined.
    other="$PWD/other-$tag"
    mkdir -p "$other"
    shipped="$(ls "$installed"/libferrymap.so* 2>/dev/null | head -n1)"
    cp "$shipped" "$other/"
    check "$name: joins a core loaded first by another language" \
        "$env_dir/bin/python" -c '
import ctypes, os, sys
first = sys.argv[1]
c = ctypes.CDLL(first, mode=ctypes.RTLD_GLOBAL)
c.fm_registry_id.restype = ctypes.c_uint64
import ferrymap
assert ferrymap.library_path() == first, (ferrymap.library_path(), first)
assert ferrymap.registry_id() == c.fm_registry_id()
with ferrymap.Map(int, int) as m:
    m[1] = 2
    c.fm_map_len.argtypes = [ctypes.c_uint64, ctypes.POINTER(ctypes.c_size_t)]
    n = ctypes.c_size_t()
    assert c.fm_map_len(m.handle, ctypes.byref(n)) == 0 and n.value == 1
with open("/proc/self/maps") as f:
    mapped = {line.split()[-1] for line in f if "libferrymap" in line}
assert mapped == {first}, mapped
' "$other/$(basename "$shipped")"
    # 4: the handshake, against a core of the next major version.
    cp -R "$env_dir" "$env_dir-bumped"
    bumped_pkg="${installed/#$env_dir/$env_dir-bumped}"
    cp "$PWD/bumped-core.so" "$bumped_pkg/$(basename "$shipped")"
    good="$("$env_dir/bin/python" -c 'import ferrymap; print(ferrymap.core_version())' || true)"
    check "$name: handshake refuses a core of another major version" \
        "$env_dir-bumped/bin/python" -c '
import sys
lib, good = sys.argv[1], sys.argv[2]
bumped = "%d.0.0" % (int(good.split(".")[0]) + 1)
try:
    import ferrymap
except ImportError as e:
    msg = str(e)
    print(msg)
    want = f"{lib} is version {bumped}, but this module was built against core {good}"
    assert want in msg, (want, msg)
else:
    raise AssertionError("imported with core %s" % ferrymap.core_version())
' "$bumped_pkg/$(basename "$shipped")" "$good"
    check "$name: auditwheel show confirms the tag" bash -c '
claimed="$(basename "$1" | grep -o "manylinux_[0-9]*_[0-9]*_x86_64" | head -n1)"
[ -n "$claimed" ] || { echo "no manylinux tag in $1"; exit 1; }
shown="$("$2" show "$1")" || { echo "$shown"; exit 1; }
flat="$(tr "\n" " " <<<"$shown")"
grep -q "consistent with the following platform tag: \"$claimed\"" <<<"$flat" || {
    echo "$shown"; exit 1; }
echo "auditwheel: $claimed"
' _ "$wheel" "$tools/bin/auditwheel"
done

# One process, installed artifacts only: Python imports the installed
# wheel and starts Java from the jar in DIST_DIR through JPype (from PyPI);
# both must report one registry and share maps both ways.
jar="$(ls "$dist"/ferrymap-*.jar 2>/dev/null | grep -v -e '-sources' -e '-javadoc' | head -n1)"
py_tag="cp3$(python3 -c 'import sys; print(sys.version_info[1])')"
if [ -n "$jar" ] && command -v java >/dev/null && [ -x "$PWD/venv-$py_tag/bin/python" ]; then
    check "one process: JPype1 from PyPI into the $py_tag venv" \
        "$PWD/venv-$py_tag/bin/pip" install --quiet --disable-pip-version-check "JPype1>=1.5"
    check "one process: Python (wheel) and Java ($(basename "$jar")) share one registry" \
        "$PWD/venv-$py_tag/bin/python" "$PWD/test_jpype.py" "$jar"
else
    failed=$((failed + 1))
    echo "FAIL one process: needs the jar in $dist, java, and a $py_tag wheel installed"
fi
echo "$passed $failed" >"$PWD/counts"
EOF
chmod +x "$scratch/run.sh"
cp "$root/bindings/java/cross/test_jpype.py" "$scratch/test_jpype.py"

echo "== installed wheels, from $scratch (PATH without cargo) =="
cd "$scratch"
env -i HOME="$HOME" PATH="$clean_path" LANG=C.UTF-8 TMPDIR="$scratch" \
    bash "$scratch/run.sh" "$dist"
read -r passed failed <"$scratch/counts"

# --sdist: the sdist builds core and module from source, with Rust (cargo
# on PATH this time) but nothing else from the checkout; 4 to 8 minutes.
if [ $sdist -eq 1 ]; then
    echo "== sdist: pip install from source, in $scratch/sdist =="
    version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$here/pyproject.toml" | head -n1)"
    mkdir -p "$scratch/sdist"
    start=$SECONDS
    if (cd "$scratch/sdist" && env -i HOME="$HOME" PATH="$PATH" LANG=C.UTF-8 TMPDIR="$scratch" \
        bash -c '
set -eu
python3 -m venv venv
venv/bin/pip install --quiet --disable-pip-version-check --no-cache-dir "$1"
venv/bin/python -c "
import os, sys, ferrymap
lib = ferrymap.library_path()
assert lib.startswith(sys.prefix) and os.path.basename(lib).startswith(\"libferrymap.so\"), lib
with ferrymap.Map(int, str) as m:
    m[7] = \"seven\"
    assert m[7] == \"seven\" and len(m) == 1
assert ferrymap.census_total() == 0
print(ferrymap.core_version(), lib)
"' _ "$dist/ferrymap-$version.tar.gz"); then
        passed=$((passed + 1))
        echo "ok   sdist: built from source and ran, in $((SECONDS - start)) s"
    else
        failed=$((failed + 1))
        echo "FAIL sdist: did not build, install or run"
    fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
