#!/usr/bin/env bash
# A Job with COMPLETIONS completions and PARALLELISM parallelism of zero-duration simulated pods
# on `kubelua up` (API server, node agent, scheduler and the bundled Job policy in one process):
# wall time from `kubectl create` to the Complete condition, pods created per second, and the
# kubelua process's resident memory sampled every 0.2 s meanwhile.
#
#   bench/job_bench.sh [KUBELUA] [COMPLETIONS] [PARALLELISM] [NODES] [PODS_PER_NODE]
#   default: build-rel/kubelua 10000 1000 10 200
#
# KEEP=1 keeps the data directory (kubelua's log, the pod timeline) and prints where it is.
# TIMELINE=1 records the Job's status counters as they change (timeline.txt).
# PERF=1 profiles kubelua with `perf record -g` from the Job's creation to its completion
# (perf.data; implies nothing else, combine with KEEP=1).
# UP_ARGS="..." adds arguments to `kubelua up` (e.g. --policies DIR to try a changed policy).
# METRICS=1 serves the controllers' /metrics and saves it at the end (metrics.txt).
set -euo pipefail
KUBELUA=${1:-build-rel/kubelua}
COMPLETIONS=${2:-10000}
PARALLELISM=${3:-1000}
NODES=${4:-10}
PER_NODE=${5:-200}
KUBELUA=$(cd "$(dirname "$KUBELUA")" && pwd)/$(basename "$KUBELUA")
DIR=$(mktemp -d "${TMPDIR:-/tmp}/kl-job-bench.XXXXXX")
PID=
SAMPLER=

cleanup() {
    [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    if [ -n "${KEEP:-}" ]; then echo "kept $DIR" >&2; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

cat >"$DIR/cluster.yaml" <<EOF
apiVersion: kubelua.io/v1alpha1
kind: Cluster
mode: simulated
nodes:
  - count: $NODES
    capacity: {cpu: "1000", memory: 4000Gi, pods: "$PER_NODE"}
EOF

metrics_args=()
if [ -n "${METRICS:-}" ]; then metrics_args=(--metrics-listen 127.0.0.1:19190); fi
"$KUBELUA" up --config "$DIR/cluster.yaml" --data-dir "$DIR/data" --listen 127.0.0.1:0 \
    "${metrics_args[@]}" ${UP_ARGS:-} >"$DIR/up.out" 2>"$DIR/up.log" &
PID=$!
deadline=$((SECONDS + 60))
until grep -qs "cluster is up" "$DIR/up.out"; do
    kill -0 "$PID" 2>/dev/null || { tail -n 20 "$DIR/up.log"; exit 1; }
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$DIR/up.log"; echo "kubelua up did not start" >&2; exit 1; }
    sleep 0.1
done
export KUBECONFIG=$DIR/data/kubeconfig
k() { kubectl --cache-dir "$DIR/kubectl-cache" "$@"; }
# Every node Ready before the clock starts.
until [ "$(k get nodes -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}' |
    tr ' ' '\n' | grep -c True)" = "$NODES" ]; do sleep 0.2; done

cat >"$DIR/job.yaml" <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: bench
spec:
  completions: $COMPLETIONS
  parallelism: $PARALLELISM
  backoffLimit: 0
  template:
    metadata:
      annotations:
        kubelua.io/mode: simulated
        kubelua.io/run-duration: "0"
    spec:
      restartPolicy: Never
      containers:
        - name: c
          image: registry.example/noop:1
EOF

# CPU seconds (clock ticks / 100 on Linux) of the whole machine (busy) and of kubelua.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
kl_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$PID/status" 2>/dev/null || echo 0; }
rss0=$(rss_kb)
(
    while kill -0 "$PID" 2>/dev/null; do
        echo "$(date +%s.%N) $(rss_kb)"
        sleep 0.2
    done
) >"$DIR/rss.txt" &
SAMPLER=$!

if [ -n "${TIMELINE:-}" ]; then
    k get jobs --field-selector metadata.name=bench -w --no-headers -o \
        custom-columns=A:.status.active,R:.status.ready,S:.status.succeeded,U:.status.uncountedTerminatedPods.succeeded |
        while read -r a r s u; do
            echo "$(date +%s.%N) active=$a ready=$r succeeded=$s uncounted=$(echo "$u" | tr -d '[]<>' | sed 's/none//' | wc -w)"
        done >"$DIR/timeline.txt" 2>&1 &
fi
PERF_PID=
if [ -n "${PERF:-}" ]; then
    perf record -F 499 -g -p "$PID" -o "$DIR/perf.data" >/dev/null 2>&1 &
    PERF_PID=$!
    sleep 0.5
fi
# The store's resourceVersion: one per write of any object (pods, events, leases, the Job...).
rv() { k get --raw '/api/v1/namespaces/default/pods?limit=1' | grep -o '"resourceVersion":"[0-9]*"' | head -n1 | tr -dc 0-9; }
rv0=$(rv)
busy0=$(busy_ticks) kl0=$(kl_ticks)
t0=$(date +%s.%N)
k create -f "$DIR/job.yaml" >/dev/null
k wait --for=condition=complete job/bench --timeout=600s >/dev/null
t1=$(date +%s.%N)
busy1=$(busy_ticks) kl1=$(kl_ticks)
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
SAMPLER=
if [ -n "$PERF_PID" ]; then
    kill -INT "$PERF_PID"
    wait "$PERF_PID" || true
fi

if [ -n "${METRICS:-}" ]; then curl -s http://127.0.0.1:19190/metrics >"$DIR/metrics.txt" || true; fi
writes=$(($(rv) - rv0))
status=$(k get job bench -o jsonpath='{.status.succeeded} {.status.failed}')
pods=$(k get pods -l job-name=bench -o name | wc -l)
awk -v a="$t0" -v b="$t1" -v n="$COMPLETIONS" -v p="$PARALLELISM" -v st="$status" -v pods="$pods" \
    -v rss0="$rss0" -v f="$DIR/rss.txt" -v hz="$(getconf CLK_TCK)" \
    -v kl=$((kl1 - kl0)) -v busy=$((busy1 - busy0)) -v ncpu="$(nproc)" -v writes="$writes" 'BEGIN {
    max = 0; sum = 0; cnt = 0
    while ((getline line < f) > 0) {
        split(line, a2, " "); v = a2[2] + 0
        if (v > max) max = v
        sum += v; cnt++
    }
    wall = b - a
    printf "Job of %d completions, parallelism %d: Complete in %.1f s\n", n, p, wall
    printf "pods created: %d (%.0f per second); status succeeded/failed: %s\n", pods, pods / wall, st
    printf "API writes: %d (%.1f per pod, %.0f per second)\n", writes, writes / n, writes / wall
    printf "kubelua RSS: %.0f MiB before, peak %.0f MiB, mean %.0f MiB over %d samples\n",
        rss0 / 1024, max / 1024, (cnt ? sum / cnt : 0) / 1024, cnt
    printf "CPU meanwhile: kubelua %.1f s (%.0f us per pod), other processes %.1f s, of %d cores x %.1f s\n",
        kl / hz, kl / hz * 1e6 / n, (busy - kl) / hz, ncpu, wall
}'
