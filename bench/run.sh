#!/usr/bin/env bash
# Runs every C benchmark built in BUILD (default build/); prints their reports.
# Longer benchmarks that need a running cluster have their own scripts in bench/.
set -euo pipefail
build=${1:-build}
for b in "$build"/bench/*_bench; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b"
    echo
done
