#!/usr/bin/env bash
# The bundled Job policy on `kubelua up`, driven by the real kubectl, with pods that really run
# as local processes: the sample pi Job computes 2,000 digits; completions 5 / parallelism 2
# never has more than 2 pods at once; a failing command is retried after 10 s then 20 s and
# ends BackoffLimitExceeded; activeDeadlineSeconds ends DeadlineExceeded; an Indexed Job gives
# each pod its index; suspend deletes the pods and resume recreates them; kubectl wait and
# describe read the conditions and events; ttlSecondsAfterFinished removes a finished Job;
# `kubectl delete jobs --all` removes the Jobs and their pods. The Jobs run side by side, so the
# whole test takes about as long as the back-off Job (~35 s).
source "$(dirname "$0")/lib.bash"

kl_start_up --nodes 2

kl_on_fail() {
    echo "--- jobs and pods"
    k get jobs -o wide
    k get pods -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase} deleting={.metadata.deletionTimestamp} finalizers={.metadata.finalizers} owner={.metadata.ownerReferences[0].name}{"\n"}{end}'
}

# Every change to the pods of "par", in order, from before the Job exists.
k get pods -l job-name=par -w --output-watch-events \
    -o jsonpath='{.type} {.object.metadata.name} {.object.status.phase}{"\n"}' \
    >"$KL_TMP/par.watch" 2>"$KL_TMP/par.watch.err" &
KL_PIDS+=($!)
sleep 1

no_pods() { [ -z "$(k get pods -l job-name="$1" -o name)" ]; }
no_job() { [ -z "$(k get jobs "$1" --ignore-not-found -o name)" ]; }
phases_are() { [ "$(k get pods -l job-name="$1" -o jsonpath='{.items[*].status.phase}')" = "$2" ]; }
no_process() { ! pgrep -f "$1" >/dev/null; }

k apply -f "$KL_SOURCE_DIR/examples/job-pi.yaml" >/dev/null
kapply <<'EOF'
apiVersion: batch/v1
kind: Job
metadata: {name: par}
spec:
  completions: 5
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: busybox, command: ["sh", "-c", "sleep 2"]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: boff}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: busybox, command: ["sh", "-c", "echo failing; exit 1"]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: dl}
spec:
  activeDeadlineSeconds: 5
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: busybox, command: ["sh", "-c", "sleep 10017"]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: idx}
spec:
  completions: 4
  parallelism: 4
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: busybox, command: ["sh", "-c", "echo index=$JOB_COMPLETION_INDEX"]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: sus}
spec:
  completions: 4
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 5
      containers:
      - {name: c, image: busybox, command: ["sh", "-c", "sleep 10029"]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: ttl}
spec:
  ttlSecondsAfterFinished: 3
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: busybox, command: ["true"]}
EOF

# ---- completions 5, parallelism 2 -------------------------------------------------------------
k wait --for=condition=complete job/par --timeout=60s >/dev/null
assert_eq "5 CompletionsReached" \
    "$(jp '{.status.succeeded} {.status.conditions[?(@.type=="Complete")].reason}' job par)" "par's status"
pods=$(k get pods -l job-name=par -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}')
assert_eq "5" "$(grep -c Succeeded <<<"$pods")" "succeeded pods of par"
assert_eq "5" "$(wc -l <<<"$pods" | tr -d ' ')" "pods of par"
# Replays the watch: a pod is active from its ADDED event until it is Succeeded, Failed or gone.
read -r max created < <(awk '
    $1 == "ADDED" { created++ }
    ($1 == "ADDED" || $1 == "MODIFIED") && !($2 in done) {
        if ($3 == "Succeeded" || $3 == "Failed") { done[$2] = 1; if ($2 in live) { delete live[$2]; n-- } }
        else if (!($2 in live)) { live[$2] = 1; n++; if (n > max) max = n }
    }
    $1 == "DELETED" && ($2 in live) { delete live[$2]; n-- }
    END { print max + 0, created + 0 }' "$KL_TMP/par.watch")
assert_eq "2 5" "$max $created" "most pods of par active at once, pods created (watch: $(wc -l <"$KL_TMP/par.watch") events)"
assert_contains "$(k describe job par)" "Job completed" "kubectl describe job par"
pass "completions 5 / parallelism 2: at most 2 pods at once, 5 succeeded; kubectl wait and describe"

# ---- Indexed -----------------------------------------------------------------------------------
k wait --for=condition=complete job/idx --timeout=60s >/dev/null
assert_eq "0-3 4" "$(jp '{.status.completedIndexes} {.status.succeeded}' job idx)" "idx's status"
got=$(k get pods -l job-name=idx -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.annotations.batch\.kubernetes\.io/job-completion-index} {.metadata.labels.batch\.kubernetes\.io/job-completion-index} {.spec.hostname}{"\n"}{end}')
seen=""
while read -r pod ann label host; do
    assert_eq "$ann" "$label" "completion index label of $pod"
    assert_eq "idx-$ann" "$host" "hostname of $pod"
    assert_eq "index=$ann" "$(k logs "$pod")" "log of $pod"
    seen="$seen$ann "
done <<<"$got"
assert_eq "0 1 2 3 " "$(tr ' ' '\n' <<<"$seen" | sort -n | tr '\n' ' ' | sed 's/^ //')" "indexes of the pods"
pass "Indexed job of 4: each pod has its index (annotation, label, hostname, JOB_COMPLETION_INDEX)"

# ---- activeDeadlineSeconds ---------------------------------------------------------------------
k wait --for=condition=failed job/dl --timeout=60s >/dev/null
assert_eq "DeadlineExceeded" "$(jp '{.status.conditions[?(@.type=="Failed")].reason}' job dl)" "dl's reason"
start=$(date -d "$(jp '{.status.startTime}' job dl)" +%s)
failed_at=$(date -d "$(jp '{.status.conditions[?(@.type=="Failed")].lastTransitionTime}' job dl)" +%s)
[ $((failed_at - start)) -ge 5 ] && [ $((failed_at - start)) -le 8 ] ||
    fail "dl failed $((failed_at - start)) s after its start, want 5 to 8"
eventually 20 no_pods dl
eventually 10 no_process "sleep 10017"
assert_contains "$(k describe job dl)" "Job was active longer than specified deadline" "kubectl describe job dl"
pass "activeDeadlineSeconds 5: DeadlineExceeded after $((failed_at - start)) s, the pod deleted and its process gone"

# ---- The pi sample -----------------------------------------------------------------------------
k wait --for=condition=complete job/pi --timeout=120s >/dev/null
out=$(k logs job/pi)
assert_eq "3.14159265358979323846" "${out:0:22}" "start of pi"
assert_eq "2000" "$(tr -cd '0-9' <<<"$out" | wc -c | tr -d ' ')" "digits of pi"
pass "the pi sample completes and prints 2,000 digits of pi"

# ---- ttlSecondsAfterFinished -------------------------------------------------------------------
eventually 30 no_job ttl
eventually 20 no_pods ttl
pass "ttlSecondsAfterFinished 3 removes the finished Job and its pod"

# ---- suspend / resume --------------------------------------------------------------------------
eventually 30 phases_are sus "Running Running"
eventually 10 jp_is 2 '{.status.active}' job sus
before=$(k get pods -l job-name=sus -o jsonpath='{.items[*].metadata.name}')
start1=$(jp '{.status.startTime}' job sus)
k patch job sus --type=merge -p '{"spec":{"suspend":true}}' >/dev/null
eventually 20 jp_is "True JobSuspended" \
    '{.status.conditions[?(@.type=="Suspended")].status} {.status.conditions[?(@.type=="Suspended")].reason}' job sus
eventually 20 no_pods sus
eventually 10 no_process "sleep 10029"
assert_eq "" "$(jp '{.status.active}{.status.failed}' job sus)" "active and failed of the suspended Job"
sleep 1 # so that the new startTime differs
k patch job sus --type=merge -p '{"spec":{"suspend":false}}' >/dev/null
eventually 20 jp_is "False JobResumed" \
    '{.status.conditions[?(@.type=="Suspended")].status} {.status.conditions[?(@.type=="Suspended")].reason}' job sus
eventually 30 phases_are sus "Running Running"
after=$(k get pods -l job-name=sus -o jsonpath='{.items[*].metadata.name}')
for p in $after; do assert_not_contains "$before" "$p" "pods before the suspension"; done
start2=$(jp '{.status.startTime}' job sus)
[ "$start2" \> "$start1" ] || fail "startTime not reset on resume: $start1 then $start2"
desc=$(k describe job sus)
for reason in Suspended Resumed SuccessfulDelete; do assert_contains "$desc" "$reason" "kubectl describe job sus"; done
pass "suspend deletes the running pods (Suspended condition, no failures); resume creates new ones"

# ---- backoffLimit ------------------------------------------------------------------------------
k wait --for=condition=failed job/boff --timeout=90s >/dev/null
assert_eq "BackoffLimitExceeded 3" \
    "$(jp '{.status.conditions[?(@.type=="Failed")].reason} {.status.failed}' job boff)" "boff's status"
times=$(k get pods -l job-name=boff --sort-by=.metadata.creationTimestamp \
    -o jsonpath='{range .items[*]}{.metadata.creationTimestamp}{"\n"}{end}')
assert_eq "3" "$(wc -l <<<"$times" | tr -d ' ')" "pods of boff"
mapfile -t t < <(while read -r ts; do date -d "$ts" +%s; done <<<"$times")
d1=$((t[1] - t[0])) d2=$((t[2] - t[1]))
# 10 s, then 20 s, after the failed pod finished (creation timestamps have whole seconds, and a
# pod takes a moment to run and fail).
[ "$d1" -ge 9 ] && [ "$d1" -le 16 ] || fail "first retry after $d1 s, want about 10"
[ "$d2" -ge 19 ] && [ "$d2" -le 27 ] || fail "second retry after $d2 s, want about 20"
[ "$d2" -gt "$d1" ] || fail "the delays do not grow: $d1 s then $d2 s"
assert_eq "failing" "$(k logs "$(k get pods -l job-name=boff -o jsonpath='{.items[0].metadata.name}')")" "log of a failed pod"
desc=$(k describe job boff)
assert_contains "$desc" "Job has reached the specified backoff limit" "kubectl describe job boff"
assert_eq "3" "$(grep -c 'SuccessfulCreate' <<<"$desc")" "SuccessfulCreate events of boff"
pass "exit 1 with backoffLimit 2: 3 pods, retried after ${d1} s then ${d2} s, Failed BackoffLimitExceeded"

# ---- kubectl delete jobs --all -----------------------------------------------------------------
k delete jobs --all >/dev/null
no_jobs() { [ -z "$(k get jobs -o name)" ]; }
no_pods_at_all() { [ -z "$(k get pods -o name)" ]; }
eventually 20 no_jobs
eventually 30 no_pods_at_all
eventually 10 no_process "sleep 10029"
pass "kubectl delete jobs --all removes every Job and its pods (the running ones' processes too)"

kl_stop_up
grep -q "up: stopped" "$KL_UP_LOG" || fail "no orderly stop: $(tail -n 20 "$KL_UP_LOG")"
