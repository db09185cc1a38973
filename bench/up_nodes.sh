#!/usr/bin/env bash
# `kubelua up --nodes N` in simulated mode: time until every node is Ready, idle CPU and RSS
# with N nodes heartbeating (Lease every 10 s, node status when it changes or every 5 min), then
# the scheduling throughput of PODS pods (bench/up_pods.mjs, when node is available).
#
#   bench/up_nodes.sh [KUBELUA] [NODES] [PODS] [IDLE_SECONDS]
#   default: build/kubelua 5000 2000 60
set -euo pipefail
KUBELUA=${1:-build/kubelua}
NODES=${2:-5000}
PODS=${3:-2000}
IDLE=${4:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT

ticks() { # utime + stime of a process or thread, in clock ticks
    awk '{print $14 + $15}' "$1/stat"
}
hz=$(getconf CLK_TCK)

t0=$(date +%s.%N)
"$KUBELUA" up --nodes "$NODES" --mode simulated --data-dir "$DIR/data" --listen 127.0.0.1:0 \
    -v warn >"$DIR/out" 2>"$DIR/err" &
PID=$!
until grep -q "cluster is up" "$DIR/out" 2>/dev/null; do
    kill -0 "$PID" 2>/dev/null || { cat "$DIR/err"; exit 1; }
    sleep 0.05
done
t1=$(date +%s.%N)
ready=$(sed -n 's/.*ready in \([0-9.]*\)s.*/\1/p' "$DIR/out")
echo "$NODES nodes Ready: ${ready} s after start (wall $(echo "$t1 - $t0" | bc) s incl. process start)"
echo "RSS when ready: $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' /proc/$PID/status)"

# Idle: let the start-up writes settle, then measure every thread over IDLE seconds.
sleep 20
declare -A before
for t in /proc/$PID/task/*; do before[$t]=$(ticks "$t"); done
sleep "$IDLE"
total=0
for t in /proc/$PID/task/*; do
    d=$(( $(ticks "$t") - ${before[$t]:-0} ))
    total=$((total + d))
    printf "  thread %-18s %5.1f%% of a core\n" "$(cat "$t/comm")/$(basename "$t")" \
        "$(echo "scale=3; 100 * $d / $hz / $IDLE" | bc)"
done
printf "idle CPU with %d nodes heartbeating: %.1f%% of one core over %d s\n" "$NODES" \
    "$(echo "scale=3; 100 * $total / $hz / $IDLE" | bc)" "$IDLE"
echo "RSS idle: $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' /proc/$PID/status)"
leases=$(KUBECONFIG=$DIR/data/kubeconfig kubectl get leases -n kube-node-lease --no-headers 2>/dev/null | wc -l || echo "?")
echo "node leases: $leases"

if [ "$PODS" -gt 0 ] && command -v node >/dev/null; then
    node "$HERE/up_pods.mjs" "$DIR/data/kubeconfig" "$PID" "$PODS"
    echo "RSS after the pods: $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' /proc/$PID/status)"
fi
