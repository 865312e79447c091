#!/usr/bin/env bash
# The Go demo: builds the core, then runs go-demo (Go and C sharing maps in
# one process, and iterating while a goroutine writes).
#
#   go-demo/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
(cd "$root" && cargo build --release)
cd "$here"
GODEBUG=cgocheck=1 go run .
