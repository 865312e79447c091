#!/usr/bin/env bash
# The Go demo: builds the core (scripts/build-core), then runs go-demo (Go and C sharing maps in
# one process, and iterating while a goroutine writes).
#
#   go-demo/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
"$root/scripts/build-core"
cd "$here"
# ferrymap_intree: the binding takes the header and library from this
# checkout (as the demo's own C code does), not from an installed package.
GODEBUG=cgocheck=1 go run -tags ferrymap_intree .
