#!/usr/bin/env bash
# Slow (ctest label "slow", skipped by `make test`): `kubelua up` with the node lifecycle and
# CronJob policies over real time. A node whose heartbeats stop (`kubelua node stop`) turns
# NotReady and gets the unreachable taints, and recovers on `kubelua node start`; the pods of a
# deleted node disappear (PodGC); the sample CronJob fires and its pod prints its greeting.
source "$(dirname "$0")/lib.bash"

kl_start_up --nodes 2
k apply -f "$KL_SOURCE_DIR/examples/cronjob-hello.yaml" >/dev/null
kapply <<'EOF2'
apiVersion: v1
kind: Pod
metadata:
  name: pinned
spec:
  nodeName: kubelua-node-2
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "exec sleep 1000"]
EOF2
eventually 30 jp_is Running '{.status.phase}' pod pinned

"$KL_BINARY" node stop kubelua-node-2 --kubeconfig "$KL_KUBECONFIG" >/dev/null
eventually 90 jp_is Unknown '{.status.conditions[?(@.type=="Ready")].status}' node kubelua-node-2
has_taints() {
    local t
    t=$(jp '{range .spec.taints[*]}{.key}:{.effect} {end}' node kubelua-node-2)
    case "$t" in *"node.kubernetes.io/unreachable:NoSchedule"*) ;; *) return 1 ;; esac
    case "$t" in *"node.kubernetes.io/unreachable:NoExecute"*) ;; *) return 1 ;; esac
}
eventually 30 has_taints
assert_eq "True" "$(jp '{.status.conditions[?(@.type=="Ready")].status}' node kubelua-node-1)" \
    "the other node"
pass "a stopped node turns NotReady (Unknown) and gets the unreachable taints"

"$KL_BINARY" node start kubelua-node-2 --kubeconfig "$KL_KUBECONFIG" >/dev/null
eventually 30 jp_is True '{.status.conditions[?(@.type=="Ready")].status}' node kubelua-node-2
no_unreachable() { ! has_taints; }
eventually 30 no_unreachable
pass "started again, it is Ready and the taints go"

# The CronJob (*/1) has fired by now or fires within the minute.
eventually 90 jp_is "1" '{.items[0].status.succeeded}' jobs
job=$(jp '{.items[0].metadata.name}' jobs)
pod=$(k get pods -l job-name="$job" -o jsonpath='{.items[0].metadata.name}')
assert_contains "$(k logs "$pod")" "Hello from the Kubernetes cluster" "CronJob pod's log"
pass "the sample CronJob fires and its pod prints the greeting"

k delete node kubelua-node-2 --wait=false >/dev/null
pod_gone() { ! k get pod pinned >/dev/null 2>&1; }
eventually 120 pod_gone
pass "the pods of a deleted node disappear (PodGC)"
