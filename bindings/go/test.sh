#!/usr/bin/env bash
# Tests of the Go binding (bindings/go): builds the core, then go vet and
# go test -race with GODEBUG=cgocheck=1, all with the build tag
# ferrymap_intree (header and library from this checkout, not pkg-config).
# Exits non-zero on any failure.
# Extra arguments go to `go test` (e.g. -v, -run TestStress).
# FERRYMAP_GO_CGOCHECK2=1 also runs the tests under GOEXPERIMENT=cgocheck2.
#
#   bindings/go/test.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

echo "== scripts/build-core (cargo build --release, soname link)"
"$root/scripts/build-core"

cd "$here"
export GODEBUG=cgocheck=1
tags=(-tags ferrymap_intree)
echo "== go vet ${tags[*]} ./..."
go vet "${tags[@]}" ./...
echo "== go test ${tags[*]} -race ./...  (GODEBUG=$GODEBUG)"
go test "${tags[@]}" -race -count=1 "$@" ./...

# Optional, slower: the strict pointer checker (rebuilds the standard library).
if [[ "${FERRYMAP_GO_CGOCHECK2:-0}" == 1 ]]; then
    echo "== GOEXPERIMENT=cgocheck2 go test ./..."
    GOEXPERIMENT=cgocheck2 go test "${tags[@]}" -count=1 "$@" ./...
fi
