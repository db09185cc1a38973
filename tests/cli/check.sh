#!/usr/bin/env bash
# kubelua check: exit status and messages on the policy fixtures.
set -u
: "${KL_BINARY:?KL_BINARY must point at the kubelua binary}"
: "${KL_SOURCE_DIR:?KL_SOURCE_DIR must point at the source tree}"
fx="$KL_SOURCE_DIR/tests/fixtures/policies"
failures=0

# expect STATUS PATTERN -- ARGS...: runs `kubelua check ARGS`, wants the exit status and a line of
# combined output matching the extended regex PATTERN.
expect() {
  local want=$1 pattern=$2
  shift 3
  local out status
  out=$("$KL_BINARY" check "$@" 2>&1)
  status=$?
  if [[ $status -ne $want ]]; then
    echo "FAIL: check $*: exit $status, want $want"; echo "$out"; failures=$((failures + 1))
  elif ! grep -Eq -- "$pattern" <<<"$out"; then
    echo "FAIL: check $*: output lacks /$pattern/"; echo "$out"; failures=$((failures + 1))
  else
    echo "ok: check ${*##*/} -> $status"
  fi
}

expect 0 "good\.lua: ok \(policy 'good', 5 keys, 0 warnings\)" -- "$fx/good.lua"
expect 1 "syntax_error\.lua:4: unexpected symbol near '='" -- "$fx/syntax_error.lua"
expect 1 "returns_number\.lua:3: policy must return a table, got number" -- "$fx/returns_number.lua"
expect 1 "loop_top\.lua:[0-9]+: time budget exceeded \(200 ms\)" -- --load-budget 200 "$fx/loop_top.lua"
expect 1 "bad_reconcile\.lua:[0-9]+: error: 'reconcile' must be a function, got string" -- "$fx/bad_reconcile.lua"
expect 1 "helper\.lua:[0-9]+: error: policy has no 'reconcile' function" -- "$fx/helper.lua"
expect 0 "unknown_key\.lua:5: warning: unknown top-level key 'reconcle'" -- "$fx/unknown_key.lua"
expect 0 "uses_kube\.lua: ok" -- "$fx/uses_kube.lua"
expect 1 "no_primary\.lua:[0-9]+: error: policy has no 'primary' field" -- "$fx/no_primary.lua"
expect 1 "bad_kube_call\.lua:4: .*selectr" -- "$fx/bad_kube_call.lua"
expect 1 "no_such\.lua: no such file" -- "$fx/no_such.lua"
expect 1 "syntax_error\.lua:4:" -- "$fx/good.lua" "$fx/syntax_error.lua"
expect 2 "usage: kubelua check" --

# The default load budget (2 s) also ends a top level that never returns.
start=$(date +%s)
expect 1 "loop_top\.lua:[0-9]+: time budget exceeded \(2000 ms\)" -- "$fx/loop_top.lua"
if (($(date +%s) - start > 10)); then
  echo "FAIL: the default load budget did not stop loop_top.lua in time"; failures=$((failures + 1))
fi

if ((failures > 0)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "all check tests passed"
