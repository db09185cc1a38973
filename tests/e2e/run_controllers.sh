#!/usr/bin/env bash
# `kubelua run` against `kubelua apiserver` over real HTTPS: the bundled Job policy, user
# policies, hot reload (good and bad), conflict retries, a throwing policy, metrics and health
# endpoints, dry run, SIGHUP, graceful stop, and leader election between two processes with the
# leader killed.
source "$(dirname "$0")/lib.bash"

kl_start_apiserver
POL=$KL_TMP/policies
mkdir -p "$POL"
cp "$KL_SOURCE_DIR"/tests/e2e/policies/{stamp,conflict,throws}.lua "$POL/"

# Starts `kubelua run NAME ARGS...`; sets RUN_PID and RUN_LOG, and METRICS when asked.
start_run() {
    local name=$1
    shift
    RUN_LOG=$KL_TMP/run-$name.log
    "$KL_BINARY" run --kubeconfig "$KL_KUBECONFIG" --metrics-listen 127.0.0.1:0 "$@" \
        >"$RUN_LOG" 2>&1 &
    RUN_PID=$!
    KL_PIDS+=("$RUN_PID")
    local deadline=$((SECONDS + 20))
    until grep -q "metrics on http" "$RUN_LOG"; do
        kill -0 "$RUN_PID" 2>/dev/null || { cat "$RUN_LOG"; fail "kubelua run $name exited"; }
        [ $SECONDS -lt $deadline ] || { cat "$RUN_LOG"; fail "kubelua run $name did not start"; }
        sleep 0.1
    done
    METRICS=$(sed -n 's|.*metrics on http://\([^/]*\)/metrics.*|\1|p' "$RUN_LOG" | head -n1)
}

# A ConfigMap labelled LABEL=yes, created in one step.
mkcm() {
    k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: $1
  labels:
    $2: "yes"
data:
  a: b
EOF
}

annotation() {
    k get configmap "$1" -o jsonpath='{.metadata.annotations.kubelua\.test/stamp}' 2>/dev/null
}

has_annotation() {
    [ "$(annotation "$1")" = "$2" ]
}

log_has() {
    grep -q -- "$2" "$1"
}

# ---- One process: bundled policies plus user policies -------------------------------------

start_run main --policies "$POL"
MAIN_PID=$RUN_PID
MAIN_LOG=$RUN_LOG
MAIN_METRICS=$METRICS
eventually 20 curl -sf "http://$MAIN_METRICS/readyz"
assert_eq ok "$(curl -s "http://$MAIN_METRICS/healthz")" "healthz"
for c in cronjob daemonset job stamp conflict throws; do
    log_has "$MAIN_LOG" "started $c " || fail "controller $c did not start: $(cat "$MAIN_LOG")"
done
pass "bundled and user policies started, /readyz and /healthz answer"

# The bundled Job policy reconciles over HTTP: pods with a controller reference, status.active.
k apply -f - >/dev/null <<'EOF'
apiVersion: batch/v1
kind: Job
metadata:
  name: sleeper
spec:
  parallelism: 2
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
        command: ["sleep", "1"]
EOF
job_active() { [ "$(k get job sleeper -o jsonpath='{.status.active}')" = 2 ]; }
eventually 20 job_active
owners=$(k get pods -l job-name=sleeper -o jsonpath='{range .items[*]}{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller} {end}')
assert_eq "Job/sleeper/true Job/sleeper/true " "$owners" "pod owners"
pass "the Job policy created 2 owned pods and reported status.active=2"

# A user policy: stamps labelled ConfigMaps, records an Event.
mkcm one stamp
eventually 20 has_annotation one v1
events=$(k get events --field-selector involvedObject.name=one -o jsonpath='{range .items[*]}{.reason}:{.message} {end}')
assert_contains "$events" "Stamped:stamped v1" "events of configmap one"
pass "user policy reconciles and records Events"

# Hot reload: a good change takes over and re-enqueues every key.
sed -i 's/local VERSION = "v1"/local VERSION = "v2"/' "$POL/stamp.lua"
eventually 20 has_annotation one v2
eventually 10 log_has "$MAIN_LOG" "stamp: reloaded (generation 2)"
pass "a changed policy file is reloaded and every key re-enqueued"

# A broken change is refused; the running generation keeps working.
cp "$POL/stamp.lua" "$KL_TMP/stamp.good"
printf 'return { this is not lua\n' >"$POL/stamp.lua"
eventually 20 log_has "$MAIN_LOG" "reload failed, the running policy stays"
mkcm two stamp
eventually 20 has_annotation two v2
kill -0 "$MAIN_PID" || fail "kubelua run died on a broken policy"
sed 's/local VERSION = "v2"/local VERSION = "v3"/' "$KL_TMP/stamp.good" >"$POL/stamp.lua"
eventually 20 has_annotation two v3
pass "a broken policy is refused, the old generation keeps running, the fix is picked up"

# Conflicts: the stale update is refused with 409 and the retry succeeds.
mkcm three conflict
updated() { [ "$(k get configmap three -o jsonpath='{.data.updated}')" = true ]; }
eventually 20 updated
log_has "$MAIN_LOG" "update refused: Conflict" || fail "no conflict seen: $(tail -20 "$MAIN_LOG")"
pass "a Conflict requeues the key and the retry succeeds"

# A policy that throws: logged with the traceback, a Warning Event, the process stays healthy.
mkcm four throws
warned() {
    k get events --field-selector involvedObject.name=four,type=Warning \
        -o jsonpath='{range .items[*]}{.reason}:{.message}{end}' | grep -q "ReconcileError:.*on purpose"
}
eventually 20 warned
log_has "$MAIN_LOG" "reconcile default/four failed" || fail "throw not logged"
assert_eq ok "$(curl -s "http://$MAIN_METRICS/healthz")" "healthz after a throw"
pass "a throwing policy is logged, recorded as a Warning Event and the process stays healthy"

# Metrics with the names operators graph.
metrics=$(curl -s "http://$MAIN_METRICS/metrics")
for name in workqueue_depth workqueue_adds_total workqueue_queue_duration_seconds_bucket \
    workqueue_work_duration_seconds_bucket workqueue_retries_total rest_client_requests_total \
    'controller_runtime_reconcile_total{controller="stamp",result="success"}' \
    controller_runtime_reconcile_time_seconds_bucket kubelua_lua_seconds_total \
    kubelua_lua_memory_bytes 'kubelua_lua_errors_total{controller="throws"}' \
    kubelua_informer_cache_objects; do
    assert_contains "$metrics" "$name" "/metrics"
done
errors=$(echo "$metrics" | sed -n 's/^controller_runtime_reconcile_total{controller="conflict",result="error"} //p')
[ "${errors:-0}" -ge 1 ] || fail "conflict errors not counted: $errors"
pass "metrics endpoint serves workqueue, rest client, reconcile and Lua metrics"

# Graceful stop.
kill -TERM "$MAIN_PID"
wait "$MAIN_PID" || { rc=$?; cat "$MAIN_LOG"; fail "kubelua run did not exit 0 on SIGTERM (status $rc)"; }
log_has "$MAIN_LOG" "run: stopped" || fail "no orderly stop"
pass "SIGTERM stops the process with status 0"

# ---- Dry run and SIGHUP ---------------------------------------------------------------------

start_run dry --dry-run --no-builtin --no-watch --policies "$POL/stamp.lua"
DRY_PID=$RUN_PID
DRY_LOG=$RUN_LOG
mkcm five stamp
eventually 20 log_has "$DRY_LOG" "dry-run patch"
sleep 1
assert_eq "" "$(annotation five)" "annotation written in a dry run"
events=$(k get events --field-selector involvedObject.name=five -o name)
assert_eq "" "$events" "events written in a dry run"
pass "--dry-run sends writes with dryRun=All: nothing changes"

kill -HUP "$DRY_PID"
eventually 10 log_has "$DRY_LOG" "reloading every policy file"
eventually 10 log_has "$DRY_LOG" "stamp: reloaded (generation 2)"
kill -TERM "$DRY_PID"
wait "$DRY_PID" || fail "dry-run process did not exit 0"
pass "SIGHUP reloads policy files"

# ---- Leader election ------------------------------------------------------------------------

LE=$KL_TMP/le
mkdir -p "$LE"
sed 's/local VERSION = "v1"/local VERSION = "le"/' "$KL_SOURCE_DIR/tests/e2e/policies/stamp.lua" >"$LE/stamp.lua"
LEASE_ARGS=(--leader-elect --leader-elect-lease-duration 3s --leader-elect-renew-deadline 2s
    --leader-elect-retry-period 500ms --leader-elect-resource-namespace default
    --no-builtin --policies "$LE")
holder() { k get lease kubelua -n default -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
holder_is() { [ "$(holder)" = "$1" ]; }

start_run l1 "${LEASE_ARGS[@]}" --leader-elect-identity l1
L1_PID=$RUN_PID
L1_METRICS=$METRICS
eventually 20 holder_is l1
start_run l2 "${LEASE_ARGS[@]}" --leader-elect-identity l2
L2_PID=$RUN_PID
L2_LOG=$RUN_LOG
L2_METRICS=$METRICS
eventually 20 curl -sf "http://$L2_METRICS/readyz"
assert_contains "$(curl -s "http://$L1_METRICS/metrics")" 'leader_election_master_status{name="kubelua"} 1' "leader metrics"
assert_contains "$(curl -s "http://$L2_METRICS/metrics")" 'leader_election_master_status{name="kubelua"} 0' "standby metrics"
mkcm six stamp
eventually 20 has_annotation six le
log_has "$L2_LOG" "reconcile\|Stamped" && fail "the standby reconciled"
holder_is l1 || fail "the lease moved while l1 was alive"
pass "one leader reconciles, the standby keeps its informers warm and waits"

kill -KILL "$L1_PID"
eventually 15 holder_is l2
mkcm seven stamp
eventually 20 has_annotation seven le
pass "a killed leader's lease expires and the standby takes over"

kill -TERM "$L2_PID"
wait "$L2_PID" || fail "l2 did not exit 0"
assert_eq "" "$(holder)" "holder after a graceful stop"
pass "a stopping leader releases the lease"
