#!/usr/bin/env bash
# The embedded API server driven by the real kubectl: discovery, apply (client- and
# server-side), create, get with server-side tables, watch, describe, label and field
# selectors, wait, rollout status, deletion cascades, CRDs, authentication, the sample
# manifests' errors, and a restart with everything intact.
source "$(dirname "$0")/lib.bash"

command -v kubectl >/dev/null || { echo "SKIP: kubectl not installed"; exit 0; }

kl_start_apiserver
EX=$KL_SOURCE_DIR/examples
MAN=$KL_SOURCE_DIR/tests/fixtures/manifests

# --- Serving and authentication ------------------------------------------------------------
out=$(kcurl "$KL_URL/healthz")
assert_eq "ok" "$out" "healthz without a token"
out=$(kcurl "$KL_URL/version")
assert_contains "$out" '"minor":"32"' "/version"
code=$(kcurl -o "$KL_TMP/unauth.json" -w '%{http_code}' "$KL_URL/api/v1/namespaces")
assert_eq 401 "$code" "list without a token"
assert_contains "$(cat "$KL_TMP/unauth.json")" '"reason":"Unauthorized"' "401 body"
out=$(kubectl --kubeconfig "$KL_KUBECONFIG" --cache-dir "$KL_CACHE" --token wrong get ns 2>&1 || true)
assert_contains "$out" "provide credentials" "kubectl with a wrong token"
pass "health, version and 401"

# --- Namespaces created on first start, Table output -------------------------------------
out=$(k get namespaces)
assert_contains "$out" "NAME" "get ns header"
assert_contains "$out" "STATUS" "get ns header"
for ns in default kube-system kube-public kube-node-lease; do
    assert_contains "$out" "$ns" "namespaces"
done
pass "initial namespaces"

# --- apply: create, then update through a strategic merge patch --------------------------
out=$(k apply -f "$EX/daemonset-fluentd.yaml")
assert_contains "$out" "daemonset.apps/fluentd-elasticsearch created" "apply create"
out=$(k get ds -n kube-system)
for col in NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE "NODE SELECTOR" AGE; do
    assert_contains "$out" "$col" "daemonset columns"
done
out=$(k get ds -n kube-system -o wide)
assert_contains "$out" "CONTAINERS" "daemonset wide columns"
assert_contains "$out" "quay.io/fluentd_elasticsearch/fluentd:v2.5.2" "daemonset wide images"
strategy=$(k get ds -n kube-system fluentd-elasticsearch -o jsonpath='{.spec.updateStrategy.type}/{.spec.updateStrategy.rollingUpdate.maxUnavailable}/{.spec.revisionHistoryLimit}')
assert_eq "RollingUpdate/1/10" "$strategy" "daemonset defaults"
gen=$(k get ds -n kube-system fluentd-elasticsearch -o jsonpath='{.metadata.generation}')
assert_eq 1 "$gen" "generation after create"

sed -e 's#fluentd:v2.5.2#fluentd:v2.6.0#' -e 's#memory: 200Mi#memory: 300Mi#' \
    "$EX/daemonset-fluentd.yaml" >"$KL_TMP/fluentd-v2.yaml"
cat >>"$KL_TMP/fluentd-v2.yaml" <<'EOF'
EOF
out=$(k apply -f "$KL_TMP/fluentd-v2.yaml")
assert_contains "$out" "configured" "apply update"
img=$(k get ds -n kube-system fluentd-elasticsearch -o jsonpath='{.spec.template.spec.containers[0].image}')
assert_eq "quay.io/fluentd_elasticsearch/fluentd:v2.6.0" "$img" "image after apply"
mounts=$(k get ds -n kube-system fluentd-elasticsearch -o jsonpath='{range .spec.template.spec.containers[0].volumeMounts[*]}{.name},{end}')
assert_eq "varlog,varlibdockercontainers," "$mounts" "volume mounts kept by the merge"
gen=$(k get ds -n kube-system fluentd-elasticsearch -o jsonpath='{.metadata.generation}')
assert_eq 2 "$gen" "generation after a spec change"
out=$(k apply -f "$KL_TMP/fluentd-v2.yaml")
assert_contains "$out" "unchanged" "second apply"
k set image ds/fluentd-elasticsearch -n kube-system fluentd-elasticsearch=fluentd:v3 >/dev/null
img=$(k get ds -n kube-system fluentd-elasticsearch -o jsonpath='{.spec.template.spec.containers[0].image}')
assert_eq "fluentd:v3" "$img" "kubectl set image"
pass "apply create/update, set image"

# --- server-side apply ----------------------------------------------------------------------
cat >"$KL_TMP/ssa.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa-demo
data:
  a: "1"
EOF
out=$(k apply --server-side -f "$KL_TMP/ssa.yaml")
assert_contains "$out" "configmap/ssa-demo serverside-applied" "ssa create"
sed -i 's/a: "1"/a: "2"/' "$KL_TMP/ssa.yaml"
out=$(k apply --server-side -f "$KL_TMP/ssa.yaml")
assert_contains "$out" "serverside-applied" "ssa update"
assert_eq 2 "$(k get cm ssa-demo -o jsonpath='{.data.a}')" "ssa value"
pass "server-side apply"

# --- create, AlreadyExists, Job defaulting ---------------------------------------------------
out=$(k create -f "$EX/job-pi.yaml")
assert_contains "$out" "job.batch/pi created" "create job"
out=$(k create -f "$EX/job-pi.yaml" 2>&1 || true)
assert_contains "$out" "AlreadyExists" "second create"
sel=$(k get job pi -o jsonpath='{.spec.selector.matchLabels}')
assert_contains "$sel" "batch.kubernetes.io/controller-uid" "generated job selector"
labels=$(k get job pi -o jsonpath='{.spec.template.metadata.labels}')
assert_contains "$labels" '"job-name":"pi"' "job template labels"
assert_contains "$labels" '"batch.kubernetes.io/job-name":"pi"' "job template labels"
defaults=$(k get job pi -o jsonpath='{.spec.completions}/{.spec.parallelism}/{.spec.backoffLimit}/{.spec.completionMode}/{.spec.suspend}')
assert_eq "1/1/4/NonIndexed/false" "$defaults" "job defaults"
out=$(k get jobs)
for col in NAME STATUS COMPLETIONS DURATION AGE; do
    assert_contains "$out" "$col" "job columns"
done
pass "create, AlreadyExists, job defaults"

# --- pods: Table columns, selectors -----------------------------------------------------------
for i in 1 2 3; do
    k run "web-$i" --image=nginx:1.27 --labels="app=web,tier=t$i" --restart=Never >/dev/null
done
k run other --image=busybox --labels=app=other --restart=Never >/dev/null
out=$(k get pods)
for col in NAME READY STATUS RESTARTS AGE; do
    assert_contains "$out" "$col" "pod columns"
done
assert_contains "$out" "Pending" "pod status"
out=$(k get pods -o wide)
for col in IP NODE "NOMINATED NODE" "READINESS GATES"; do
    assert_contains "$out" "$col" "pod wide columns"
done
names=$(k get pods -l app=web -o jsonpath='{.items[*].metadata.name}')
assert_eq "web-1 web-2 web-3" "$names" "label selector"
names=$(k get pods -l 'app=web,tier notin (t2)' -o jsonpath='{.items[*].metadata.name}')
assert_eq "web-1 web-3" "$names" "set-based selector"
names=$(k get pods -l '!tier' -o jsonpath='{.items[*].metadata.name}')
assert_eq "other" "$names" "does-not-exist selector"
names=$(k get pods --field-selector metadata.name=web-2 -o jsonpath='{.items[*].metadata.name}')
assert_eq "web-2" "$names" "field selector"
names=$(k get pods --field-selector status.phase=Pending,metadata.name!=web-1 -o name | tr '\n' ' ')
assert_eq "pod/other pod/web-2 pod/web-3 " "$names" "field selector with !="
out=$(k get pods --field-selector spec.nope=x 2>&1 || true)
assert_contains "$out" "field label not supported: spec.nope" "unsupported field selector"
out=$(k get pods -A --show-labels)
assert_contains "$out" "NAMESPACE" "-A column"
assert_contains "$out" "app=web" "--show-labels"
pass "pod tables and selectors"

# --- watch: events arrive ---------------------------------------------------------------------
k get pods -w --output-watch-events >"$KL_TMP/watch.out" 2>&1 &
watch_pid=$!
KL_PIDS+=("$watch_pid")
sleep 1
k run watched --image=busybox --restart=Never >/dev/null
k label pod watched seen=yes >/dev/null
k delete pod watched --wait=false >/dev/null
eventually 10 grep -q "DELETED.*watched" "$KL_TMP/watch.out"
out=$(cat "$KL_TMP/watch.out")
assert_contains "$out" "ADDED" "watch"
assert_contains "$out" "MODIFIED" "watch"
kill "$watch_pid" 2>/dev/null || true
pass "get -w"

# --- describe ----------------------------------------------------------------------------------
out=$(k describe job pi)
assert_contains "$out" "Name:" "describe"
assert_contains "$out" "Parallelism:" "describe"
assert_contains "$out" "Pods Statuses:" "describe"
pass "describe"

# --- wait and rollout status with status written by the test ---------------------------------
k wait --for=condition=complete job/pi --timeout=20s >"$KL_TMP/wait.out" 2>&1 &
wait_pid=$!
sleep 1
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
k patch job pi --subresource=status --type=merge -p "{\"status\":{\"startTime\":\"$now\",\"completionTime\":\"$now\",\"succeeded\":1,\"conditions\":[{\"type\":\"Complete\",\"status\":\"True\",\"lastProbeTime\":\"$now\",\"lastTransitionTime\":\"$now\"}]}}" >/dev/null
wait "$wait_pid" || fail "kubectl wait: $(cat "$KL_TMP/wait.out")"
assert_contains "$(cat "$KL_TMP/wait.out")" "condition met" "kubectl wait"
assert_contains "$(k get job pi)" "Complete" "job status column"

k rollout status ds/fluentd-elasticsearch -n kube-system --timeout=20s >"$KL_TMP/rollout.out" 2>&1 &
rollout_pid=$!
sleep 1
gen=$(k get ds -n kube-system fluentd-elasticsearch -o jsonpath='{.metadata.generation}')
k patch ds fluentd-elasticsearch -n kube-system --subresource=status --type=merge -p "{\"status\":{\"observedGeneration\":$gen,\"desiredNumberScheduled\":3,\"currentNumberScheduled\":3,\"updatedNumberScheduled\":3,\"numberAvailable\":3,\"numberReady\":3,\"numberMisscheduled\":0}}" >/dev/null
wait "$rollout_pid" || fail "rollout status: $(cat "$KL_TMP/rollout.out")"
assert_contains "$(cat "$KL_TMP/rollout.out")" "successfully rolled out" "rollout status"
pass "wait and rollout status"

# --- status subresource isolation and optimistic concurrency ---------------------------------
rv=$(k get cm ssa-demo -o jsonpath='{.metadata.resourceVersion}')
k get cm ssa-demo -o json >"$KL_TMP/cm.json"
k patch cm ssa-demo --type=merge -p '{"data":{"b":"x"}}' >/dev/null
out=$(k replace -f "$KL_TMP/cm.json" 2>&1 || true)
assert_contains "$out" "the object has been modified" "stale update conflicts"
pass "409 on a stale resourceVersion"

# --- deletion: background, foreground, orphan --------------------------------------------------
owner_manifest() {
    cat <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: $1
EOF
}
child_manifest() {
    cat <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: $1
  ownerReferences:
  - apiVersion: v1
    kind: ConfigMap
    name: $2
    uid: $3
    blockOwnerDeletion: true
EOF
}
for mode in background foreground orphan; do
    owner_manifest "owner-$mode" | k create -f - >/dev/null
    uid=$(k get cm "owner-$mode" -o jsonpath='{.metadata.uid}')
    child_manifest "child-$mode-1" "owner-$mode" "$uid" | k create -f - >/dev/null
    child_manifest "child-$mode-2" "owner-$mode" "$uid" | k create -f - >/dev/null
    k delete cm "owner-$mode" --cascade="$mode" --timeout=20s >/dev/null
    case $mode in
    orphan)
        refs=$(k get cm "child-$mode-1" -o jsonpath='{.metadata.ownerReferences}')
        assert_eq "" "$refs" "orphaned child keeps no owner reference"
        ;;
    *)
        eventually 10 bash -c "! kubectl --kubeconfig '$KL_KUBECONFIG' --cache-dir '$KL_CACHE' get cm child-$mode-1 child-$mode-2 -o name 2>/dev/null | grep -q ."
        ;;
    esac
    out=$(k get cm "owner-$mode" 2>&1 || true)
    assert_contains "$out" "NotFound" "owner gone ($mode)"
done
pass "delete cascades"

# --- delete --all --------------------------------------------------------------------------------
out=$(k delete pods --all)
assert_contains "$out" 'pod "web-1" deleted' "delete --all"
eventually 10 bash -c "[ -z \"\$(kubectl --kubeconfig '$KL_KUBECONFIG' --cache-dir '$KL_CACHE' get pods -o name)\" ]"
pass "delete --all"

# --- CRDs: a new kind is served at once ------------------------------------------------------
cat >"$KL_TMP/crd.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size:
                type: integer
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
EOF
k apply -f "$KL_TMP/crd.yaml" >/dev/null
eventually 10 bash -c "kubectl --kubeconfig '$KL_KUBECONFIG' --cache-dir '$KL_CACHE' get crd widgets.example.com -o jsonpath='{.status.conditions[?(@.type==\"Established\")].status}' | grep -q True"
cat >"$KL_TMP/widget.yaml" <<'EOF'
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
spec:
  size: 7
EOF
k apply -f "$KL_TMP/widget.yaml" >/dev/null
out=$(k get widgets)
assert_contains "$out" "SIZE" "CRD printer column"
assert_contains "$out" "w1" "custom resource listed"
assert_contains "$out" "7" "custom resource column value"
assert_contains "$(k get wd w1 -o name)" "widget.example.com/w1" "short name"
out=$(k patch widget w1 --type=merge -p '{"spec":{"size":"big"}}' 2>&1 || true)
assert_contains "$out" "spec.size" "custom resource schema violation"
assert_contains "$out" "is invalid" "custom resource schema violation"
pass "CRD and custom resources"

# --- the sample manifests as shipped -----------------------------------------------------------
out=$(k apply -f "$MAN/daemonset-nginx.yaml" 2>&1 || true)
assert_contains "$out" 'unknown field "spec.selector.name"' "nginx DaemonSet as shipped"
out=$(k apply --validate=false -f "$MAN/daemonset-nginx.yaml" 2>&1 || true)
assert_contains "$out" "empty selector is invalid for daemonset" "nginx DaemonSet without validation"
out=$(k apply -f "$MAN/job-pi.yaml" 2>&1 || true)
assert_contains "$out" 'backoffLimit' "pi Job as shipped"
sed '$d' "$MAN/job-pi.yaml" >"$KL_TMP/job-pi-one-backoff.yaml"
sed -i 's/^  name: pi$/  name: pi-strict/' "$KL_TMP/job-pi-one-backoff.yaml"
out=$(k apply -f "$KL_TMP/job-pi-one-backoff.yaml" 2>&1 || true)
assert_contains "$out" 'strict decoding error: unknown field "spec.restartPolicy"' "pi Job with restartPolicy under spec"
out=$(k apply -f "$MAN/cronjob-hello.yaml" 2>&1)
assert_contains "$out" "batch/v1beta1 CronJob is deprecated" "v1beta1 CronJob warning"
assert_contains "$out" "cronjob.batch/hello created" "v1beta1 CronJob stored"
out=$(k get cronjob)
for col in NAME SCHEDULE TIMEZONE SUSPEND ACTIVE "LAST SCHEDULE" AGE; do
    assert_contains "$out" "$col" "cronjob columns"
done
pass "sample manifests"

# --- restart keeps objects and resourceVersions --------------------------------------------
before=$(k get cm ssa-demo -o jsonpath='{.metadata.uid}/{.metadata.resourceVersion}')
kl_stop_apiserver
KL_LISTEN=${KL_URL#https://} kl_start_apiserver "$KL_DATA"
after=$(k get cm ssa-demo -o jsonpath='{.metadata.uid}/{.metadata.resourceVersion}')
assert_eq "$before" "$after" "uid/resourceVersion across a restart"
assert_contains "$(k get widgets)" "w1" "custom resources across a restart"
rv_before=${before#*/}
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after-restart\n' | k create -f - >/dev/null
rv_new=$(k get cm after-restart -o jsonpath='{.metadata.resourceVersion}')
[ "$rv_new" -gt "$rv_before" ] || fail "resourceVersion went backwards: $rv_new <= $rv_before"
pass "restart"

# A second server on the same data directory is refused while the first one runs.
if out=$("$KL_BINARY" apiserver --data-dir "$KL_DATA" --listen 127.0.0.1:0 2>&1); then
    fail "a second server on $KL_DATA started"
fi
assert_contains "$out" "is in use by another process" "second server's error"
pass "one server per data directory"

# Every acknowledged write survives kill -9: ConfigMaps created one after another, the server
# killed right after the last answer, then started again on the same data directory.
tok=$(kl_token)
acked=()
for i in $(seq 1 60); do
    code=$(kcurl -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $tok" \
        -H 'Content-Type: application/json' "$KL_URL/api/v1/namespaces/default/configmaps" \
        -d "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"durable-$i\"},\"data\":{\"i\":\"$i\"}}")
    [ "$code" = 201 ] && acked+=("durable-$i")
done
kill -KILL "$KL_SERVER_PID"
wait "$KL_SERVER_PID" 2>/dev/null || true
[ "${#acked[@]}" = 60 ] || fail "only ${#acked[@]} of 60 creates acknowledged"
KL_LISTEN=${KL_URL#https://} kl_start_apiserver "$KL_DATA"
have=$(k get cm -o name | grep -c '^configmap/durable-' || true)
assert_eq "60" "$have" "acknowledged ConfigMaps after kill -9"
assert_eq "60" "$(k get cm durable-60 -o jsonpath='{.data.i}')" "the last acknowledged write"
pass "kill -9 loses no acknowledged write"
