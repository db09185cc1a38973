#!/usr/bin/env bash
# The hello CronJob on `kubelua up` with the real kubectl, in about a minute: the original
# batch/v1beta1 manifest (../shared/manifests/cronjob-hello.yaml, copied to
# tests/fixtures/manifests/) is applied with the upstream deprecation warning; within the next
# minute the Job hello-<minutes since epoch> is created for the minute boundary, completes, and
# its pod's log has the date and the greeting; `kubectl get cronjob` shows its columns and LAST
# SCHEDULE. While it waits for the boundary: the TIMEZONE and SUSPEND columns, a manual run
# (`kubectl create job --from=cronjob/...`, which kubectl 1.32 sends as protobuf) and the
# cascading deletion of a CronJob with its Jobs and pods. The minutes-long part (history limits
# over several runs, batch/v1 and v1beta1 side by side) is cronjob_up_slow.sh.
source "$(dirname "$0")/lib.bash"

WARNING="Warning: batch/v1beta1 CronJob is deprecated in v1.21+, unavailable in v1.25+; use batch/v1 CronJob"

kl_start_up --nodes 1

# ---- The original v1beta1 manifest --------------------------------------------------------------
k apply -f "$KL_SOURCE_DIR/tests/fixtures/manifests/cronjob-hello.yaml" \
    >"$KL_TMP/apply.out" 2>"$KL_TMP/apply.err"
assert_eq "cronjob.batch/hello created" "$(cat "$KL_TMP/apply.out")" "kubectl apply"
assert_eq "$WARNING" "$(cat "$KL_TMP/apply.err")" "kubectl apply's warning"
created=$(date -u -d "$(jp '{.metadata.creationTimestamp}' cronjob hello)" +%s)
# The first schedule time strictly after the creation time (1 s resolution).
boundary=$(((created / 60 + 1) * 60))
job=hello-$((boundary / 60))
k get cronjobs.v1beta1.batch hello >"$KL_TMP/get.out" 2>"$KL_TMP/get.err"
assert_eq "$WARNING" "$(cat "$KL_TMP/get.err")" "kubectl get cronjobs.v1beta1.batch's warning"
assert_contains "$(cat "$KL_TMP/get.out")" "*/1 * * * *" "kubectl get cronjobs.v1beta1.batch"
pass "the v1beta1 manifest applies with the upstream warning; its Job will be $job"

# ---- Columns -------------------------------------------------------------------------------------
kapply <<'EOF'
apiVersion: batch/v1
kind: CronJob
metadata:
  name: berlin
spec:
  schedule: "0 3 * * *"
  timeZone: Europe/Berlin
  suspend: true
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: c
            image: busybox
            command: ["sh", "-c", "echo never"]
EOF
squeeze() { tr -s ' ' | sed 's/ *$//'; }
out=$(k get cronjob berlin | squeeze)
assert_eq "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE" "$(head -n1 <<<"$out")" \
    "kubectl get cronjob's header"
assert_contains "$(sed -n 2p <<<"$out")" "berlin 0 3 * * * Europe/Berlin True 0 <none> " \
    "kubectl get cronjob berlin"
out=$(k get cronjob berlin -o wide | squeeze)
assert_eq "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE CONTAINERS IMAGES SELECTOR" \
    "$(head -n1 <<<"$out")" "kubectl get cronjob -o wide's header"
assert_contains "$(sed -n 2p <<<"$out")" " c busybox <none>" "kubectl get cronjob berlin -o wide"
pass "kubectl get cronjob: SCHEDULE, TIMEZONE, SUSPEND, ACTIVE, LAST SCHEDULE (and -o wide)"

# ---- A manual run, sent as protobuf --------------------------------------------------------------
out=$(k create job manual --from=cronjob/berlin -v=8 2>&1)
assert_contains "$out" "job.batch/manual created" "kubectl create job --from"
assert_contains "$out" "Content-Type: application/vnd.kubernetes.protobuf" "kubectl create job's body"
assert_eq "manual CronJob/berlin/true" \
    "$(jp '{.metadata.annotations.cronjob\.kubernetes\.io/instantiate} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}' job manual)" \
    "the manual Job's annotation and owner"
eventually 30 jp_is 1 '{.status.succeeded}' job manual
mpod=$(jp '{.items[0].metadata.name}' pods -l job-name=manual)
assert_eq "never" "$(k logs "$mpod")" "the manual Job's log"
pass "kubectl create job --from=cronjob/berlin (protobuf) runs a suspended CronJob's Job"

# ---- Deleting a CronJob deletes its Jobs and their pods -----------------------------------------
assert_eq 'cronjob.batch "berlin" deleted' "$(k delete cronjob berlin)" "kubectl delete cronjob"
gone() { [ -z "$(k get "$@" -o name 2>/dev/null)" ]; }
eventually 30 gone job manual
eventually 30 gone pods -l job-name=manual
pass "kubectl delete cronjob berlin removes its Job and the Job's pod"

# ---- The scheduled Job -----------------------------------------------------------------------
left=$((boundary - $(date +%s)))
echo "waiting ${left}s for the minute boundary ($(date -u -d @"$boundary" +%H:%M:%S))"
eventually $((left + 30)) k get job "$job"
ts=$(date -u -d @"$boundary" +%Y-%m-%dT%H:%M:%SZ)
assert_eq "$ts" \
    "$(jp '{.metadata.annotations.batch\.kubernetes\.io/cronjob-scheduled-timestamp}' job "$job")" \
    "the scheduled-timestamp annotation"
jcreated=$(date -u -d "$(jp '{.metadata.creationTimestamp}' job "$job")" +%s)
[ "$jcreated" -ge "$boundary" ] && [ "$jcreated" -le $((boundary + 3)) ] ||
    fail "$job created at $jcreated, $((jcreated - boundary))s after its schedule time"
assert_eq "CronJob/hello/true" \
    "$(jp '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}' job "$job")" \
    "the Job's controller"
eventually 30 jp_is 1 '{.status.succeeded}' job "$job"
pod=$(jp '{.items[0].metadata.name}' pods -l job-name="$job")
log=$(k logs "$pod")
assert_eq "Hello from the Kubernetes cluster" "$(sed -n 2p <<<"$log")" "the greeting"
when=$(date -u -d "$(head -n1 <<<"$log")" +%s) || fail "not a date: $(head -n1 <<<"$log")"
[ "$when" -ge "$boundary" ] && [ "$when" -le $((boundary + 30)) ] ||
    fail "the pod printed $(head -n1 <<<"$log"), not a time just after $ts"
pass "$job was created $((jcreated - boundary))s after $ts, completed, and printed: $(tr '\n' '|' <<<"$log")"

eventually 10 jp_is "$ts" '{.status.lastScheduleTime}' cronjob hello
eventually 10 jp_is "" '{.status.active}' cronjob hello
[ -n "$(jp '{.status.lastSuccessfulTime}' cronjob hello)" ] || fail "no lastSuccessfulTime"
row=$(k get cronjob hello --no-headers | squeeze)
assert_contains "$row" "hello */1 * * * * <none> False 0 " "kubectl get cronjob hello"
last=$(awk '{print $(NF-1)}' <<<"$row")
[[ "$last" =~ ^[0-9]+s$ ]] || fail "LAST SCHEDULE is '$last': $row"
events=$(k get events --field-selector involvedObject.kind=CronJob,involvedObject.name=hello \
    -o jsonpath='{range .items[*]}{.reason}: {.message}{"\n"}{end}')
assert_contains "$events" "SuccessfulCreate: Created job $job" "the CronJob's events"
assert_contains "$events" "SawCompletedJob: Saw completed job: $job, condition: Complete" \
    "the CronJob's events"
pass "kubectl get cronjob hello shows LAST SCHEDULE $last; events SuccessfulCreate, SawCompletedJob"

k delete cronjob hello >/dev/null
eventually 30 gone job "$job"
eventually 30 gone pods -l job-name="$job"
eventually 10 gone cronjobs
pass "kubectl delete cronjob hello removes it, its Job and the Job's pod"
