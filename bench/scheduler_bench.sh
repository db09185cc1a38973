#!/bin/sh
# Scheduler throughput on the fake cluster: a `kubelua test` spec with NODES nodes and PODS
# pending pods (generated here), run once with the pods and once without; the difference is
# the time the scheduler policy spent binding them (search, accounting, binding write, event).
#
#   bench/scheduler_bench.sh [KUBELUA] [NODES] [PODS]
#   default: build-rel/kubelua 5000 2000
set -eu
KUBELUA=${1:-build-rel/kubelua}
NODES=${2:-5000}
PODS=${3:-2000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$DIR"' EXIT; echo "specs in $DIR" >&2

gen() { # $1: number of pods
    awk -v nodes="$NODES" -v pods="$1" -v policy="$HERE/policies/cluster/scheduler.lua" 'BEGIN {
        print "policy: " policy
        print "now: \"2026-01-01T00:00:00Z\""
        print "objects:"
        for (i = 1; i <= nodes; i++) {
            printf "  - {apiVersion: v1, kind: Node, metadata: {name: node-%05d, labels: {zone: z%d}}, ", i, i % 3
            printf "status: {allocatable: {cpu: \"32\", memory: 128Gi, pods: \"110\"}, "
            print "conditions: [{type: Ready, status: \"True\"}]}}"
        }
        for (i = 1; i <= pods; i++) {
            printf "  - {apiVersion: v1, kind: Pod, metadata: {name: pod-%05d, namespace: default}, ", i
            print "spec: {containers: [{name: c, image: x, resources: {requests: {cpu: 100m, memory: 128Mi}}}]}}"
        }
        print "steps:"
        print "  - run: {max: 1000000}"
        print "  - expect:"
        print "      writes:"
        print "        - {op: create, resource: v1/pods, subresource: binding, count: " pods "}"
        print "      events:"
        print "        - {reason: Scheduled, count: " pods "}"
    }' > "$DIR/spec-$1.yaml"
}

gen 0
gen "$PODS"
now() { date +%s.%N; }
t0=$(now); "$KUBELUA" test "$DIR/spec-0.yaml" > "$DIR/out-0" || { cat "$DIR/out-0"; exit 1; }
t1=$(now); "$KUBELUA" test "$DIR/spec-$PODS.yaml" > "$DIR/out-1" || { cat "$DIR/out-1"; exit 1; }
t2=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$PODS" -v nodes="$NODES" 'BEGIN {
    base = b - a; total = c - b; sched = total - base
    printf "%d nodes, %d pods: run without pods %.2f s, with pods %.2f s\n", nodes, n, base, total
    printf "scheduling: %.2f s, %.0f pods bound per second (%.0f us per pod)\n", sched, n / sched, sched * 1e6 / n
}'
