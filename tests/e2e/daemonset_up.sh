#!/usr/bin/env bash
# The DaemonSet policy on `kubelua up --nodes 3` with the real kubectl, using the two sample
# DaemonSets of examples/: one Running pod per node; a Node created with kubectl gets a pod; a
# NoSchedule master taint keeps nginx off a node but not fluentd; a NoExecute taint evicts what
# does not tolerate it; a node labelled out of a nodeSelector loses its pod; an image change
# rolls one node at a time (every pod state is watched: never more than maxUnavailable nodes
# without an available pod) and `kubectl rollout status` / `rollout undo` work; OnDelete waits
# for manual deletions; `kubectl delete ds` removes every pod. Pods are simulated (no process),
# ready 1 s after they start so that a rollout's steps are visible. The checks that take a
# minute of real time (a deleted node's pods, a NotReady node) are in daemonset_up_slow.sh.
source "$(dirname "$0")/lib.bash"
# As `make test`: h2o's per-thread buffer caches are not leaks of ours.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$KL_SOURCE_DIR/tests/lsan.supp:print_suppressions=0}

EX=$KL_SOURCE_DIR/examples
NGINX=deamonset-example
FLUENTD=fluentd-elasticsearch
cat >"$KL_TMP/cluster.yaml" <<'EOF'
mode: simulated
podDefaults:
  readyAfter: 1s
EOF
kl_start_up --nodes 3 --config "$KL_TMP/cluster.yaml"

# Prints "node=phase/ready/image" of the pods matching label selector $1 (namespace $2 or
# default), sorted, one per line; pods being deleted get "+deleting" appended.
pods_of() {
    k get pods -n "${2:-default}" -l "$1" -o jsonpath='{range .items[*]}{.spec.nodeName}={.status.phase}/{.status.containerStatuses[0].ready}/{.spec.containers[0].image}|{.metadata.deletionTimestamp}{"\n"}{end}' |
        sed -E 's/[|]$//; s/[|].+$/+deleting/' | sort
}

# Succeeds when pods_of $1 [$2] prints exactly the lines of $3 (a space-separated list).
pods_are() {
    local want
    want=$(tr ' ' '\n' <<<"$3" | sed '/^$/d' | sort)
    [ "$(pods_of "$1" "${2:-default}")" = "$want" ]
}

# Every node name in $1 (space-separated) with "=Running/true/$2" appended.
running_on() {
    local nodes=$1 image=$2 out="" n
    for n in $nodes; do out+="$n=Running/true/$image "; done
    echo "$out"
}

NODES3="kubelua-node-1 kubelua-node-2 kubelua-node-3"
NGINX_V1=hub.escapelife/nginx:v1
NGINX_V2=hub.escapelife/nginx:v2
FLUENTD_V1=quay.io/fluentd_elasticsearch/fluentd:v2.5.2
FLUENTD_V2=quay.io/fluentd_elasticsearch/fluentd:v2.6.0

# ---- The sample DaemonSets: one Running pod per node ------------------------------------------
k apply -f "$EX/daemonset-nginx.yaml" >/dev/null
k apply -f "$EX/daemonset-fluentd.yaml" >/dev/null
eventually 30 pods_are name=$NGINX default "$(running_on "$NODES3" $NGINX_V1)"
eventually 30 pods_are name=$FLUENTD kube-system "$(running_on "$NODES3" $FLUENTD_V1)"
eventually 10 jp_is "3 3 3 3 3 0 1" '{.status.desiredNumberScheduled} {.status.currentNumberScheduled} {.status.numberReady} {.status.updatedNumberScheduled} {.status.numberAvailable} {.status.numberMisscheduled} {.status.observedGeneration}' ds $NGINX
out=$(k get ds -n kube-system)
assert_contains "$out" "$FLUENTD   3         3         3       3            3           <none>" "kubectl get ds"
pod=$(jp '{.items[0].metadata.name}' pods -l name=$NGINX)
assert_eq "DaemonSet/$NGINX/true 1" \
    "$(jp '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller} {.metadata.labels.pod-template-generation}' pod "$pod")" \
    "owner and template generation of a daemon pod"
hash_v1=$(jp '{.metadata.labels.controller-revision-hash}' pod "$pod")
[ -n "$hash_v1" ] || fail "no controller-revision-hash on $pod"
node=$(jp '{.spec.nodeName}' pod "$pod")
assert_eq "$node" \
    "$(jp '{.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0]}' pod "$pod")" \
    "node affinity on metadata.name"
tolerations=$(jp '{range .spec.tolerations[*]}{.key}:{.effect} {end}' pod "$pod")
for t in node.kubernetes.io/not-ready:NoExecute node.kubernetes.io/unreachable:NoExecute \
    node.kubernetes.io/disk-pressure:NoSchedule node.kubernetes.io/unschedulable:NoSchedule; do
    assert_contains "$tolerations" "$t" "tolerations of a daemon pod"
done
pass "both sample DaemonSets run one Running pod per node (owner, hash, affinity, tolerations)"

# ---- Nodes created with kubectl ------------------------------------------------------------------
kapply <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: extra
  labels:
    kubelua.io/simulated: "true"
EOF
NODES4="$NODES3 extra"
eventually 30 pods_are name=$NGINX default "$(running_on "$NODES4" $NGINX_V1)"
eventually 30 pods_are name=$FLUENTD kube-system "$(running_on "$NODES4" $FLUENTD_V1)"
pass "a node created with kubectl gets a pod of each DaemonSet"

# fluentd's toleration (node-role.kubernetes.io/master, NoSchedule) lets it onto a master.
kapply <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: master
  labels:
    kubelua.io/simulated: "true"
spec:
  taints:
  - {key: node-role.kubernetes.io/master, effect: NoSchedule}
EOF
eventually 30 pods_are name=$FLUENTD kube-system "$(running_on "$NODES4 master" $FLUENTD_V1)"
eventually 10 jp_is "5" '{.status.desiredNumberScheduled}' ds -n kube-system $FLUENTD
assert_eq "4" "$(jp '{.status.desiredNumberScheduled}' ds $NGINX)" "nginx's desired count"
pods_are name=$NGINX default "$(running_on "$NODES4" $NGINX_V1)" || fail "nginx on the master: $(pods_of name=$NGINX)"
pass "a NoSchedule master taint: fluentd (tolerates it) runs there, nginx does not"

# That toleration is NoSchedule only: a NoExecute master taint evicts fluentd too.
k taint node master node-role.kubernetes.io/master=:NoExecute >/dev/null
eventually 30 pods_are name=$FLUENTD kube-system "$(running_on "$NODES4" $FLUENTD_V1)"
eventually 10 jp_is "4" '{.status.desiredNumberScheduled}' ds -n kube-system $FLUENTD
k delete node master >/dev/null
pass "a NoExecute master taint evicts fluentd (its toleration covers NoSchedule only)"

# ---- nodeSelector: a node labelled out loses its pod; NoExecute spares what tolerates it ------
kapply <<'EOF'
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: selective
spec:
  selector:
    matchLabels: {app: selective}
  template:
    metadata:
      labels: {app: selective}
    spec:
      nodeSelector: {example.com/logging: "yes"}
      tolerations:
      - {key: example.com/drain, operator: Exists, effect: NoExecute}
      containers:
      - {name: c, image: busybox}
EOF
k label node kubelua-node-1 kubelua-node-2 example.com/logging=yes >/dev/null
eventually 30 pods_are app=selective default "$(running_on "kubelua-node-1 kubelua-node-2" busybox)"
eventually 10 jp_is "2 2" '{.status.desiredNumberScheduled} {.status.numberReady}' ds selective
out=$(k get ds selective)
assert_contains "$out" "example.com/logging=yes" "NODE SELECTOR column"
k label node kubelua-node-2 example.com/logging- >/dev/null
eventually 30 pods_are app=selective default "$(running_on kubelua-node-1 busybox)"
eventually 10 jp_is "1 1 0" '{.status.desiredNumberScheduled} {.status.numberReady} {.status.numberMisscheduled}' ds selective
pass "a node labelled out of the nodeSelector loses its pod"

k taint node kubelua-node-1 example.com/drain=:NoExecute >/dev/null
NODES_BUT_1="kubelua-node-2 kubelua-node-3 extra"
eventually 30 pods_are name=$NGINX default "$(running_on "$NODES_BUT_1" $NGINX_V1)"
eventually 30 pods_are name=$FLUENTD kube-system "$(running_on "$NODES_BUT_1" $FLUENTD_V1)"
eventually 10 jp_is "3" '{.status.desiredNumberScheduled}' ds $NGINX
pods_are app=selective default "$(running_on kubelua-node-1 busybox)" ||
    fail "the pod tolerating the taint went: $(pods_of app=selective)"
k taint node kubelua-node-1 example.com/drain- >/dev/null
eventually 30 pods_are name=$NGINX default "$(running_on "$NODES4" $NGINX_V1)"
eventually 30 pods_are name=$FLUENTD kube-system "$(running_on "$NODES4" $FLUENTD_V1)"
pods_are app=selective default "$(running_on kubelua-node-1 busybox)" ||
    fail "selective after the taint: $(pods_of app=selective)"
pass "a NoExecute taint evicts the pods that do not tolerate it; removing it brings them back"

# ---- Rolling update, one node at a time ------------------------------------------------------
# Watches the pods of selector $1 into $2 (every event, as JSON), until stop_watch.
start_watch() {
    k get pods -l "$1" --watch --output-watch-events -o json >"$2" 2>"$2.err" &
    WATCH_PID=$!
    KL_PIDS+=("$WATCH_PID")
    local n
    n=$(wc -w <<<"$3")
    watch_has() { [ "$(grep -cE '"type": ?"ADDED"' "$1")" -ge "$2" ]; }
    eventually 10 watch_has "$2" "$n"
}
stop_watch() {
    kill -TERM "$WATCH_PID" 2>/dev/null || true
    wait "$WATCH_PID" 2>/dev/null || true
}

# Replays the watch events of $1 and prints, for every state from the first one in which every
# node of $2 had an available pod, the number of those nodes without one ("available": Running,
# Ready, not being deleted; minReadySeconds is 0), as "max N states M".
unavailable_profile() {
    jq -n -r --arg nodes "$2" '
      ($nodes | split(" ")) as $nodes
      | reduce inputs as $e ({pods: {}, started: false, max: 0, states: 0, trace: []};
          ($e.object.metadata.name) as $name
          | (if $e.type == "DELETED" then .pods |= del(.[$name])
             else .pods[$name] = {
               node: $e.object.spec.nodeName,
               ok: ($e.object.status.phase == "Running"
                    and $e.object.metadata.deletionTimestamp == null
                    and ([$e.object.status.conditions[]? | select(.type == "Ready")][0].status
                         == "True"))}
             end)
          | ([.pods[] | select(.ok) | .node]) as $up
          | ([$nodes[] | select(. as $n | $up | index($n) | not)] | length) as $down
          | if .started or $down == 0 then
              .started = true | .states += 1 | .trace += [$down]
              | if $down > .max then .max = $down else . end
            else . end)
      | "max \(.max) states \(.states) trace \(.trace | map(tostring) | join(""))"
    ' "$1"
}

start_watch name=$NGINX "$KL_TMP/roll.json" "$NODES4"
k set image ds/$NGINX daemonset-example=$NGINX_V2 >/dev/null
out=$(k rollout status ds/$NGINX --timeout=60s)
assert_contains "$out" "daemon set \"$NGINX\" successfully rolled out" "rollout status"
eventually 10 pods_are name=$NGINX default "$(running_on "$NODES4" $NGINX_V2)"
stop_watch
profile=$(unavailable_profile "$KL_TMP/roll.json" "$NODES4")
echo "rolling update: $profile (unavailable nodes per observed state)"
assert_contains "$profile" "max 1 " "nodes without an available pod during the rollout (maxUnavailable 1)"
hash_v2=$(jp '{.items[0].metadata.labels.controller-revision-hash}' pods -l name=$NGINX)
[ "$hash_v2" != "$hash_v1" ] || fail "the revision hash did not change"
assert_eq "$(printf '%s\n' 2 2 2 2)" \
    "$(k get pods -l name=$NGINX -o jsonpath='{range .items[*]}{.metadata.labels.pod-template-generation}{"\n"}{end}')" \
    "template generation of the new pods"
pass "an image change rolls one node at a time ($profile) and rollout status succeeds"

start_watch name=$NGINX "$KL_TMP/undo.json" "$NODES4"
k rollout undo ds/$NGINX >/dev/null
out=$(k rollout status ds/$NGINX --timeout=60s)
assert_contains "$out" "successfully rolled out" "rollout status after undo"
eventually 10 pods_are name=$NGINX default "$(running_on "$NODES4" $NGINX_V1)"
stop_watch
profile=$(unavailable_profile "$KL_TMP/undo.json" "$NODES4")
assert_contains "$profile" "max 1 " "nodes without an available pod during the undo"
assert_eq "$hash_v1" "$(jp '{.items[0].metadata.labels.controller-revision-hash}' pods -l name=$NGINX)" \
    "revision hash after undo"
history=$(k rollout history ds/$NGINX)
assert_contains "$history" "2 " "rollout history"
assert_contains "$history" "3 " "rollout history"
pass "kubectl rollout undo goes back to the first revision ($profile)"

# ---- OnDelete --------------------------------------------------------------------------------
k patch ds -n kube-system $FLUENTD --type merge \
    -p '{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null}}}' >/dev/null
k set image ds/$FLUENTD -n kube-system fluentd-elasticsearch=$FLUENTD_V2 >/dev/null
eventually 10 jp_is "3 4 0" '{.metadata.generation} {.status.desiredNumberScheduled} {.status.updatedNumberScheduled}' ds -n kube-system $FLUENTD
eventually 10 jp_is "3" '{.status.observedGeneration}' ds -n kube-system $FLUENTD
sleep 2
pods_are name=$FLUENTD kube-system "$(running_on "$NODES4" $FLUENTD_V1)" ||
    fail "OnDelete replaced pods by itself: $(pods_of name=$FLUENTD kube-system)"
victim=$(k get pods -n kube-system -l name=$FLUENTD --field-selector spec.nodeName=kubelua-node-2 -o jsonpath='{.items[0].metadata.name}')
k delete pod -n kube-system "$victim" --wait=false >/dev/null
eventually 30 pods_are name=$FLUENTD kube-system \
    "$(running_on "kubelua-node-1 kubelua-node-3 extra" $FLUENTD_V1) kubelua-node-2=Running/true/$FLUENTD_V2"
eventually 10 jp_is "1" '{.status.updatedNumberScheduled}' ds -n kube-system $FLUENTD
sleep 1
pods_are name=$FLUENTD kube-system \
    "$(running_on "kubelua-node-1 kubelua-node-3 extra" $FLUENTD_V1) kubelua-node-2=Running/true/$FLUENTD_V2" ||
    fail "OnDelete replaced more than the deleted pod: $(pods_of name=$FLUENTD kube-system)"
pass "OnDelete: an image change replaces only the pods deleted by hand"

# ---- kubectl delete ds -------------------------------------------------------------------------
k delete ds $NGINX selective >/dev/null
k delete ds -n kube-system $FLUENTD >/dev/null
no_pods() { [ -z "$(k get pods -A -o name)" ]; }
eventually 30 no_pods
assert_eq "" "$(k get controllerrevisions -A -o name)" "controller revisions left"
pass "kubectl delete ds removes every pod (and the revisions)"

# An orderly stop: exit status 0 (under ASan, no memory errors and no leaks).
kill -TERM "$KL_UP_PID"
wait "$KL_UP_PID" && up_rc=0 || up_rc=$?
grep -q "up: stopped" "$KL_UP_LOG" || fail "no orderly stop: $(tail -n 20 "$KL_UP_LOG")"
if [ "$up_rc" -ne 0 ]; then
    grep -E -A 20 "Sanitizer|runtime error" "$KL_UP_LOG" | head -n 60
    fail "kubelua up exited with status $up_rc"
fi
pass "kubelua up stops cleanly"
