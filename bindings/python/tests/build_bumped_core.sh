#!/usr/bin/env bash
# Builds a test copy of the core whose major version is one above the
# checkout's, for the version-handshake tests, and prints its path.
#
#   bindings/python/tests/build_bumped_core.sh OUT_DIR
#
# The core's version comes from its Cargo.toml (fm_version() is built from
# CARGO_PKG_VERSION_*), so the copy is the checkout's own sources with only
# the version in Cargo.toml changed: OUT_DIR/core holds the copy,
# OUT_DIR/target its build (a debug build: quicker, and the handshake does
# not care). The checkout itself is not touched. Needs cargo.
set -euo pipefail

out="${1:?usage: build_bumped_core.sh OUT_DIR}"
root="$(cd "$(dirname "$0")/../../.." && pwd)"
mkdir -p "$out/core"
out="$(cd "$out" && pwd)"
# rsync-like copy that keeps mtimes, so a second run rebuilds nothing.
cp -pR "$root/src" "$root/benches" "$root/build.rs" "$root/cbindgen.toml" "$root/Cargo.lock" "$out/core/"
# build.rs generates the JNI registration table from Native.java.
(cd "$root" && cp -p --parents bindings/java/src/main/java/dev/ferrymap/Native.java "$out/core/")
version="$(sed -n 's/^version = "\([0-9]*\)\.[0-9]*\.[0-9]*"$/\1/p' "$root/Cargo.toml" | head -n1)"
[ -n "$version" ] || { echo "no version in $root/Cargo.toml" >&2; exit 1; }
bumped="$((version + 1)).0.0"
# Only the [package] version line changes; write only if different (mtime).
sed "0,/^version = \".*\"$/s//version = \"$bumped\"/" "$root/Cargo.toml" >"$out/core/Cargo.toml.new"
if cmp -s "$out/core/Cargo.toml.new" "$out/core/Cargo.toml"; then
    rm "$out/core/Cargo.toml.new"
else
    mv "$out/core/Cargo.toml.new" "$out/core/Cargo.toml"
fi
grep -q "^version = \"$bumped\"$" "$out/core/Cargo.toml"
cargo build --quiet --lib --manifest-path "$out/core/Cargo.toml" --target-dir "$out/target" >&2
echo "$out/target/debug/libferrymap.so"
