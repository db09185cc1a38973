#!/usr/bin/env bash
# The embedded API server with Debian's kubectl 1.20 (scripts/install-deps.sh unpacks it to
# ~/.cache/kubelua-deps/kubectl-1.20): legacy discovery, client-side validation against
# /openapi/v2 in protobuf, apply, get with tables, patch, delete.
source "$(dirname "$0")/lib.bash"

K120=${KL_KUBECTL_120:-${KL_DEPS_DIR:-$HOME/.cache/kubelua-deps}/kubectl-1.20}
[ -x "$K120" ] || { echo "SKIP: kubectl 1.20 not found at $K120"; exit 0; }
k20() {
    "$K120" --kubeconfig "$KL_KUBECONFIG" --cache-dir "$KL_CACHE" "$@"
}

kl_start_apiserver
EX=$KL_SOURCE_DIR/examples

out=$(k20 get namespaces)
assert_contains "$out" "kube-system" "get ns"
assert_contains "$out" "STATUS" "get ns table"

out=$(k20 apply -f "$EX/daemonset-fluentd.yaml")
assert_contains "$out" "daemonset.apps/fluentd-elasticsearch created" "apply"
out=$(k20 get ds -A)
assert_contains "$out" "NODE SELECTOR" "daemonset table"
out=$(k20 apply -f "$EX/job-pi.yaml")
assert_contains "$out" "job.batch/pi created" "apply job"

# Client-side validation with the OpenAPI v2 document (protobuf).
sed '$d' "$KL_SOURCE_DIR/tests/fixtures/manifests/job-pi.yaml" >"$KL_TMP/job.yaml"
sed -i 's/^  name: pi$/  name: pi-bad/' "$KL_TMP/job.yaml"
out=$(k20 apply -f "$KL_TMP/job.yaml" 2>&1 || true)
assert_contains "$out" 'unknown field "restartPolicy"' "1.20 validation"

k20 set image ds/fluentd-elasticsearch -n kube-system fluentd-elasticsearch=fluentd:v9 >/dev/null
img=$(k20 get ds -n kube-system fluentd-elasticsearch -o jsonpath='{.spec.template.spec.containers[0].image}')
assert_eq "fluentd:v9" "$img" "strategic merge patch from kubectl 1.20"

out=$(k20 delete job pi)
assert_contains "$out" 'job.batch "pi" deleted' "delete"
out=$(k20 get jobs 2>&1)
assert_contains "$out" "No resources found" "job gone"
pass "kubectl 1.20"
