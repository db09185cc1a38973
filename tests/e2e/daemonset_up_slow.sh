#!/usr/bin/env bash
# The DaemonSet checks of `kubelua up` that take a minute of real time (label "slow"; the rest is
# daemonset_up.sh): a deleted node's daemon pods go (the pod GC removes pods bound to a node that
# has been gone for 40 s; the DaemonSet controller does not create them anywhere else), and a
# node that stops posting status is tainted unreachable:NoExecute without its daemon pods being
# evicted (the controller gives them the not-ready/unreachable tolerations without
# tolerationSeconds), while a pod tolerating it for 1 s is evicted; the node coming back makes
# them Ready again.
source "$(dirname "$0")/lib.bash"
# As `make test`: h2o's per-thread buffer caches are not leaks of ours.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$KL_SOURCE_DIR/tests/lsan.supp:print_suppressions=0}

EX=$KL_SOURCE_DIR/examples
NGINX=deamonset-example
FLUENTD=fluentd-elasticsearch
kl_start_up --nodes 3 --mode simulated

# Nodes of the pods matching label selector $1 in namespace $2, sorted, on one line.
nodes_of() {
    k get pods -n "$2" -l "$1" -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' |
        sort | tr '\n' ' '
}
nodes_are() { [ "$(nodes_of "$1" "$2")" = "$3" ]; }

k apply -f "$EX/daemonset-nginx.yaml" >/dev/null
k apply -f "$EX/daemonset-fluentd.yaml" >/dev/null
kapply <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: extra
  labels:
    kubelua.io/simulated: "true"
EOF
ALL="extra kubelua-node-1 kubelua-node-2 kubelua-node-3 "
eventually 30 jp_is "4 4" '{.status.desiredNumberScheduled} {.status.numberReady}' ds $NGINX
eventually 30 jp_is "4 4" '{.status.desiredNumberScheduled} {.status.numberReady}' ds -n kube-system $FLUENTD
assert_eq "$ALL" "$(nodes_of name=$NGINX default)" "nodes of the nginx pods"
pass "4 nodes, 4 pods of each DaemonSet"

# A pod on kubelua-node-3 that tolerates unreachable for 1 s only.
kapply <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: brief
spec:
  nodeName: kubelua-node-3
  tolerations:
  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 1}
  containers:
  - {name: c, image: busybox}
EOF
eventually 20 jp_is Running '{.status.phase}' pod brief

# ---- A node deleted, another stops posting status ----------------------------------------------
k delete node extra >/dev/null
"$KL_BINARY" node stop kubelua-node-3 --kubeconfig "$KL_KUBECONFIG" >/dev/null
start=$SECONDS
eventually 10 jp_is "3" '{.status.desiredNumberScheduled}' ds $NGINX
REST="kubelua-node-1 kubelua-node-2 kubelua-node-3 "
eventually 90 nodes_are name=$NGINX default "$REST"
eventually 30 nodes_are name=$FLUENTD kube-system "$REST"
pass "the pods of a deleted node are gone after $((SECONDS - start)) s, and not recreated"

tainted() {
    [ "$(jp '{.spec.taints[?(@.effect=="NoExecute")].key}' node kubelua-node-3)" = node.kubernetes.io/unreachable ]
}
eventually 90 tainted
gone() { ! k get pod brief >/dev/null 2>&1; }
eventually 20 gone
sleep 2
assert_eq "$REST" "$(nodes_of name=$NGINX default)" "nodes of the nginx pods on an unreachable node"
assert_eq "$REST" "$(nodes_of name=$FLUENTD kube-system)" "nodes of the fluentd pods"
assert_eq "" "$(k get pods -A --field-selector spec.nodeName=kubelua-node-3 -o jsonpath='{.items[*].metadata.deletionTimestamp}')" \
    "deletion timestamps of the pods on the unreachable node"
# As upstream: the untolerated unreachable:NoSchedule taint takes the node out of the desired
# count, and its pod counts as misscheduled, but is not deleted.
eventually 10 jp_is "2 2 2 1" '{.status.desiredNumberScheduled} {.status.currentNumberScheduled} {.status.numberReady} {.status.numberMisscheduled}' ds $NGINX
assert_eq "False" "$(k get pods -l name=$NGINX --field-selector spec.nodeName=kubelua-node-3 -o jsonpath='{.items[0].status.conditions[?(@.type=="Ready")].status}')" \
    "Ready condition of the daemon pod on the unreachable node"
pass "an unreachable node keeps its daemon pods (NotReady, misscheduled) while a pod tolerating 1 s is evicted"

"$KL_BINARY" node start kubelua-node-3 --kubeconfig "$KL_KUBECONFIG" >/dev/null
eventually 60 jp_is "3 3 0" '{.status.desiredNumberScheduled} {.status.numberReady} {.status.numberMisscheduled}' ds $NGINX
eventually 30 jp_is "3 3" '{.status.desiredNumberScheduled} {.status.numberReady}' ds -n kube-system $FLUENTD
assert_eq "$REST" "$(nodes_of name=$NGINX default)" "nodes of the nginx pods after the node came back"
pass "the node back: the same daemon pods are Ready again"

# An orderly stop: exit status 0 (under ASan, no memory errors and no leaks).
kill -TERM "$KL_UP_PID"
wait "$KL_UP_PID" && up_rc=0 || up_rc=$?
grep -q "up: stopped" "$KL_UP_LOG" || fail "no orderly stop: $(tail -n 20 "$KL_UP_LOG")"
if [ "$up_rc" -ne 0 ]; then
    grep -E -A 20 "Sanitizer|runtime error" "$KL_UP_LOG" | head -n 60
    fail "kubelua up exited with status $up_rc"
fi
pass "kubelua up stops cleanly"
