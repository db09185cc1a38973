#!/usr/bin/env bash
# Slow (ctest label "slow", about three and a half minutes): the hello CronJob on `kubelua up`
# over three schedule times, applied as batch/v1 (examples/cronjob-hello.yaml, namespace v1)
# and as the original batch/v1beta1 manifest (tests/fixtures/manifests/cronjob-hello.yaml,
# namespace beta) side by side. Every minute boundary gets exactly one Job
# hello-<minutes since epoch> in each namespace, created within 2 s of it; each completes and
# its pod prints the date and the greeting; LAST SCHEDULE follows. With a manual run
# (`kubectl create job --from`) after the first, there are four successful Jobs, and the
# default successfulJobsHistoryLimit (3) leaves the newest three, the oldest Job deleted with
# its pod. Deleting the CronJobs removes their Jobs and pods. cronjob_up.sh is the fast part.
source "$(dirname "$0")/lib.bash"

RUNS=3
kl_start_up --nodes 2
k create namespace v1 >/dev/null
k create namespace beta >/dev/null
k apply -n v1 -f "$KL_SOURCE_DIR/examples/cronjob-hello.yaml" >/dev/null
k apply -n beta -f "$KL_SOURCE_DIR/tests/fixtures/manifests/cronjob-hello.yaml" 2>"$KL_TMP/warn" \
    >/dev/null
assert_contains "$(cat "$KL_TMP/warn")" "batch/v1beta1 CronJob is deprecated in v1.21+" "warning"

declare -A first
for ns in v1 beta; do
    c=$(date -u -d "$(jp '{.metadata.creationTimestamp}' -n "$ns" cronjob hello)" +%s)
    first[$ns]=$((c / 60 + 1)) # minutes since epoch of the first schedule time
done
last_min=$((${first[v1]} > ${first[beta]} ? ${first[v1]} : ${first[beta]}))
last_min=$((last_min + RUNS - 1))
echo "expecting Jobs for minutes ${first[v1]}/${first[beta]} .. $last_min; now $(date -u +%T)"

gone() { [ -z "$(k get "$@" -o name 2>/dev/null)" ]; }
names() { jp '{.items[*].metadata.name}' -n "$1" jobs | tr ' ' '\n' | sort | tr '\n' ' '; }
is_done() { jp_is 1 '{.status.succeeded}' -n "$1" job "$2"; }

# check NS MINUTE: the Job of that minute exists, was created in time, completes and greets.
check_run() {
    local ns=$1 m=$2 job=hello-$2 boundary=$(($2 * 60))
    local ts
    ts=$(date -u -d @"$boundary" +%Y-%m-%dT%H:%M:%SZ)
    eventually $((boundary - $(date +%s) + 30)) k get -n "$ns" job "$job"
    local created
    created=$(date -u -d "$(jp '{.metadata.creationTimestamp}' -n "$ns" job "$job")" +%s)
    [ "$created" -ge "$boundary" ] && [ "$created" -le $((boundary + 2)) ] ||
        fail "$ns/$job created $((created - boundary))s after $ts"
    assert_eq "$ts" \
        "$(jp '{.metadata.annotations.batch\.kubernetes\.io/cronjob-scheduled-timestamp}' -n "$ns" job "$job")" \
        "$ns/$job's scheduled timestamp"
    eventually 30 is_done "$ns" "$job"
    local pod log
    pod=$(jp '{.items[0].metadata.name}' -n "$ns" pods -l job-name="$job")
    log=$(k logs -n "$ns" "$pod")
    assert_eq "Hello from the Kubernetes cluster" "$(sed -n 2p <<<"$log")" "$ns/$job's greeting"
    date -u -d "$(head -n1 <<<"$log")" +%s >/dev/null || fail "not a date: $(head -n1 <<<"$log")"
    eventually 10 jp_is "$ts" '{.status.lastScheduleTime}' -n "$ns" cronjob hello
    local row
    row=$(k get -n "$ns" cronjob hello --no-headers | tr -s ' ')
    [[ "$row" =~ \ [0-9]+s\ [0-9]+m?[0-9]*s?$ ]] || fail "LAST SCHEDULE of $ns/hello: $row"
    pass "$ns/$job created $((created - boundary))s after $ts, completed, printed the greeting"
}

m=$((${first[v1]} < ${first[beta]} ? ${first[v1]} : ${first[beta]}))
while [ "$m" -le "$last_min" ]; do
    for ns in v1 beta; do
        if [ "$m" -ge "${first[$ns]}" ] && [ "$m" -lt $((${first[$ns]} + RUNS)) ]; then
            check_run "$ns" "$m"
        fi
    done
    if [ "$m" -eq "${first[v1]}" ]; then
        k create job -n v1 manual --from=cronjob/hello >/dev/null
        eventually 30 is_done v1 manual
    fi
    if [ "$m" -eq "${first[beta]}" ]; then
        k create job -n beta manual --from=cronjob/hello >/dev/null
        eventually 30 is_done beta manual
    fi
    m=$((m + 1))
done

# Four successful Jobs each (three scheduled, one manual after the first): the oldest goes.
for ns in v1 beta; do
    f=${first[$ns]}
    want="hello-$((f + 1)) hello-$((f + 2)) manual"
    eventually 30 eval '[ "$(names '"$ns"')" = "'"$want "'" ]'
    eventually 30 gone -n "$ns" pods -l job-name="hello-$f"
    assert_eq 3 "$(jp '{.items[*].metadata.name}' -n "$ns" pods | wc -w)" "$ns pods left"
    events=$(k get events -n "$ns" --field-selector involvedObject.name=hello \
        -o jsonpath='{range .items[*]}{.reason}: {.message}{"\n"}{end}')
    assert_contains "$events" "SuccessfulDelete: Deleted job hello-$f" "$ns/hello's events"
    pass "$ns: history holds the 3 newest successful Jobs ($want); hello-$f went with its pod"
done

# Nothing else was created: one Job per minute boundary.
for ns in v1 beta; do
    created=$(k get events -n "$ns" --field-selector involvedObject.name=hello,reason=SuccessfulCreate \
        -o jsonpath='{range .items[*]}{.message}{"\n"}{end}' | sort)
    f=${first[$ns]}
    assert_eq "$(printf 'Created job hello-%s\n' $f $((f + 1)) $((f + 2)))" "$created" \
        "$ns/hello's SuccessfulCreate events"
done
pass "exactly one Job per schedule time"

for ns in v1 beta; do
    k delete -n "$ns" cronjob hello >/dev/null
done
for ns in v1 beta; do
    eventually 30 gone -n "$ns" jobs
    eventually 30 gone -n "$ns" pods
    eventually 10 gone -n "$ns" cronjobs
done
pass "kubectl delete cronjob hello removes the CronJobs, their Jobs and pods"
