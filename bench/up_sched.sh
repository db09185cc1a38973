#!/usr/bin/env bash
# Scheduling throughput inside `kubelua up` (API server, scheduler and the other controllers in
# one process): NODES Nodes that no kubelet runs (bench/static_nodes.mjs: Ready, not labelled
# kubelua.io/simulated, so the node agent does not start their pods), then PODS pods created
# over one HTTP/2 connection, 64 in flight, while the scheduler binds them; the rate is pods
# bound per second from the first create to the last binding seen on a watch
# (bench/up_pods.mjs with BOUND_ONLY=1). bench/up_nodes.sh measures the whole pipeline instead
# (create, bind, start, status) on simulated nodes.
#
#   bench/up_sched.sh [KUBELUA] [NODES] [PODS]
#   default: build-rel/kubelua 5000 2000
set -euo pipefail
KUBELUA=${1:-build-rel/kubelua}
NODES=${2:-5000}
PODS=${3:-2000}
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT

"$KUBELUA" up --nodes 0 --data-dir "$DIR/data" --listen 127.0.0.1:0 -v warn \
    >"$DIR/out" 2>"$DIR/err" &
PID=$!
until grep -q "cluster is up" "$DIR/out" 2>/dev/null; do
    kill -0 "$PID" 2>/dev/null || { cat "$DIR/err"; exit 1; }
    sleep 0.05
done
node "$HERE/static_nodes.mjs" "$DIR/data/kubeconfig" "$NODES"
# The scheduler's node cache takes the new nodes from its watch; let the writes (and the node controllers' first passes) settle.
sleep 10
BOUND_ONLY=1 node "$HERE/up_pods.mjs" "$DIR/data/kubeconfig" "$PID" "$PODS" | grep -v '^running:'
