#!/usr/bin/env bash
# The DaemonJob example end to end: `kubelua apiserver`, its CRD applied with kubectl, the policy
# run with `kubelua run --no-builtin`, Nodes created with kubectl. Nothing runs pods here: the
# test plays the kubelet by patching pod status. Checks one pod per eligible node (a tainted
# node left out), a failed pod retried on its node, a node joining while the DaemonJob runs,
# status counts and printer columns, the Complete condition and events, heartbeats that wake
# nothing, a node joining after completion left alone, an invalid spec reported, and a hot
# reload of the policy file.
source "$(dirname "$0")/lib.bash"

EX=$KL_SOURCE_DIR/examples/daemonjob
kl_start_apiserver

# ---- The CRD ----------------------------------------------------------------------------------
k apply -f "$EX/crd.yaml" >/dev/null
established() {
    [ "$(k get crd daemonjobs.kubelua.io \
        -o jsonpath='{.status.conditions[?(@.type=="Established")].status}')" = True ]
}
eventually 10 established
pass "the DaemonJob CRD is accepted and established"

# ---- The policy -------------------------------------------------------------------------------
POL=$KL_TMP/policies
mkdir -p "$POL"
cp "$EX/daemonjob.lua" "$POL/"
RUN_LOG=$KL_TMP/run.log
"$KL_BINARY" run --kubeconfig "$KL_KUBECONFIG" --no-builtin --policies "$POL/daemonjob.lua" \
    --metrics-listen 127.0.0.1:0 >"$RUN_LOG" 2>&1 &
KL_PIDS+=("$!")
eventually 20 grep -q "metrics on http" "$RUN_LOG"
METRICS=$(sed -n 's|.*metrics on http://\([^/]*\)/metrics.*|\1|p' "$RUN_LOG" | head -n1)
eventually 20 curl -sf "http://$METRICS/readyz"
grep -q "started daemonjob " "$RUN_LOG" || fail "daemonjob did not start: $(cat "$RUN_LOG")"
pass "kubelua run --no-builtin runs the DaemonJob policy"

# ---- Nodes ------------------------------------------------------------------------------------
HEARTBEAT=0
# heartbeat NODE: a status-only update, as a kubelet's.
heartbeat() {
    HEARTBEAT=$((HEARTBEAT + 1))
    local ts
    ts=$(date -u -d "@$(($(date +%s) + HEARTBEAT))" +%Y-%m-%dT%H:%M:%SZ)
    k patch node "$1" --subresource=status --type=merge -p "{\"status\":{\"conditions\":[
        {\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\",
         \"lastHeartbeatTime\":\"$ts\",\"lastTransitionTime\":\"2026-01-01T00:00:00Z\"}]}}" >/dev/null
}
# mknode NAME: a Ready node.
mknode() {
    k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $1
  labels:
    kubernetes.io/hostname: $1
EOF
    heartbeat "$1"
}
mknode node-1
mknode node-2
mknode node-3
k taint node node-3 dedicated=db:NoSchedule >/dev/null

# ---- A DaemonJob --------------------------------------------------------------------------------
k apply -f "$EX/sample.yaml" >/dev/null
DJ=node-hello

# "pod node" lines of the DaemonJob's pods, sorted by node.
pods_by_node() {
    k get pods -l daemonjob.kubelua.io/name=$DJ -o jsonpath='{range .items[*]}{.metadata.name} {.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0]}{.spec.nodeName} {.status.phase}{"\n"}{end}' |
        sort -k2
}
# pod_on NODE [PHASE]: the name of a pod of the DaemonJob on NODE (in PHASE).
pod_on() {
    pods_by_node | awk -v n="$1" -v p="${2:-}" '$2 == n && (p == "" || $3 == p) {print $1; exit}'
}
npods() { pods_by_node | grep -c . || true; }
status() { k get dj $DJ -o jsonpath="{.status.$1}"; }
status_is() { [ "$(status "$1")" = "$2" ]; }
npods_is() { [ "$(npods)" = "$1" ]; }
# kubelet NODE PHASE: the pod on NODE that is not finished yet moves to PHASE.
kubelet() {
    local pod
    pod=$(pod_on "$1" Pending)
    [ -n "$pod" ] || fail "no pending pod on $1: $(pods_by_node)"
    k patch pod "$pod" --subresource=status --type=merge -p "{\"status\":{\"phase\":\"$2\"}}" >/dev/null
}

eventually 20 npods_is 2
eventually 10 status_is active 2
nodes=$(pods_by_node | awk '{print $2}' | tr '\n' ' ')
assert_eq "node-1 node-2 " "$nodes" "nodes with a pod"
assert_eq 2 "$(status desiredNumberScheduled)" "desiredNumberScheduled"
owner=$(k get pod "$(pod_on node-1)" -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}')
assert_eq "DaemonJob/$DJ/true" "$owner" "pod owner"
out=$(k get dj)
assert_contains "$out" "DESIRED" "printer columns"
assert_contains "$out" "SUCCEEDED" "printer columns"
assert_contains "$out" "COMPLETE" "printer columns"
line=$(k get dj $DJ --no-headers)
assert_eq "$DJ 2 0 0" "$(echo "$line" | awk '{print $1, $2, $3, $4}')" "kubectl get dj"
pass "one pod per eligible node (node-3 is tainted), owned by the DaemonJob; kubectl get dj columns"

# Heartbeats wake nothing (the node watch compares labels, taints and readiness).
adds() {
    curl -s "http://$METRICS/metrics" | sed -n 's/^workqueue_adds_total{name="daemonjob"} //p'
}
# Let the queue settle first (a status write that lost a race requeues its key once).
settled() {
    local a
    a=$(adds)
    sleep 0.5
    [ "$a" = "$(adds)" ]
}
eventually 10 settled
before=$(adds)
for n in node-1 node-2 node-3 node-1 node-2; do heartbeat $n; done
sleep 1
assert_eq "$before" "$(adds)" "daemonjob queue adds after heartbeats"
pass "node heartbeats enqueue nothing"

# node-1's pod fails: kept, and replaced on node-1 after the 10 s backoff.
kubelet node-1 Failed
eventually 10 status_is failed 1
has_pending_on() { [ -n "$(pod_on "$1" Pending)" ]; }
eventually 30 has_pending_on node-1
assert_eq 3 "$(npods)" "pods after a retry"
pass "a failed pod is kept and replaced on its node after the backoff"

# node-2 succeeds; a node joins while the DaemonJob runs and gets its pod.
kubelet node-2 Succeeded
eventually 10 status_is completedNodes 1
mknode node-4
eventually 20 has_pending_on node-4
eventually 10 status_is desiredNumberScheduled 3
pass "a node that joins while the DaemonJob runs gets a pod"

kubelet node-1 Succeeded
kubelet node-4 Succeeded
complete() { [ "$(status 'conditions[?(@.type=="Complete")].status')" = True ]; }
eventually 20 complete
assert_eq 3 "$(status succeeded)" "succeeded"
assert_eq 1 "$(status failed)" "failed"
assert_eq 3 "$(status completedNodes)" "completedNodes"
assert_eq 0 "$(status active)" "active"
[ -n "$(status completionTime)" ] || fail "no completionTime"
line=$(k get dj $DJ --no-headers)
assert_eq "$DJ 3 3 1 True" "$(echo "$line" | awk '{print $1, $2, $3, $4, $5}')" "kubectl get dj"
events=$(k get events --field-selector involvedObject.name=$DJ \
    -o jsonpath='{range .items[*]}{.type}/{.reason}:{.message}{"\n"}{end}')
assert_eq 4 "$(grep -c '^Normal/SuccessfulCreate:Created pod: ' <<<"$events")" "SuccessfulCreate events"
assert_contains "$events" "Normal/Completed:DaemonJob completed" "events"
pass "Complete once every eligible node succeeded; status, columns and events"

# A node that joins after completion is left alone.
mknode node-5
sleep 2
assert_eq 4 "$(npods)" "pods after a node joined a complete DaemonJob"
pass "a finished DaemonJob ignores new nodes"

# ---- An invalid spec ----------------------------------------------------------------------------
out=$(k apply -f - 2>&1 <<'EOF' || true
apiVersion: kubelua.io/v1alpha1
kind: DaemonJob
metadata:
  name: always
spec:
  template:
    spec:
      restartPolicy: Always
      containers: [{name: c, image: busybox}]
EOF
)
assert_contains "$out" 'Unsupported value: "Always"' "restartPolicy Always refused by the schema"
k apply -f - >/dev/null <<'EOF'
apiVersion: kubelua.io/v1alpha1
kind: DaemonJob
metadata:
  name: norestart
spec:
  template:
    spec:
      containers: [{name: c, image: busybox}]
EOF
invalid() {
    [ "$(k get dj norestart -o jsonpath='{.status.conditions[?(@.type=="InvalidSpec")].reason}')" = UnsupportedRestartPolicy ]
}
eventually 20 invalid
warned() {
    k get events --field-selector involvedObject.name=norestart,type=Warning \
        -o jsonpath='{range .items[*]}{.reason}{end}' | grep -q InvalidSpec
}
eventually 10 warned
[ -z "$(k get pods -l daemonjob.kubelua.io/name=norestart -o name)" ] || fail "pods for an invalid spec"
k delete dj norestart >/dev/null
pass "restartPolicy Always is refused by the schema; a missing one is reported (InvalidSpec)"

# ---- Hot reload ---------------------------------------------------------------------------------
# The running policy switches to binding pods by spec.nodeName; the next DaemonJob shows it.
sed -i 's/^local PIN_WITH_NODE_NAME = false/local PIN_WITH_NODE_NAME = true/' "$POL/daemonjob.lua"
eventually 20 grep -q "daemonjob: reloaded (generation 2)" "$RUN_LOG"
sed 's/name: node-hello/name: bound/; s/app: node-hello/app: bound/' "$EX/sample.yaml" | k apply -f - >/dev/null
DJ=bound
eventually 20 npods_is 4
bound=$(k get pods -l daemonjob.kubelua.io/name=bound -o jsonpath='{range .items[*]}{.spec.nodeName} {end}' |
    tr ' ' '\n' | sort | tr '\n' ' ')
assert_eq "node-1 node-2 node-4 node-5 " "$bound" "nodes bound with spec.nodeName"
pass "an edited policy is reloaded while it runs"
