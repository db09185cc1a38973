#!/usr/bin/env bash
# A DaemonSet on every node of `kubelua up --nodes NODES --mode simulated`, driven by kubectl:
#  1. time from `kubectl apply` to every pod Running and Ready (the DaemonSet's status, polled
#     every 0.25 s, says numberReady = NODES; a list of the pods then confirms NODES pods Running
#     with one per node);
#  2. one reconcile of that DaemonSet when nothing changes (the DaemonSet annotated: an update
#     event, no spec change, nothing to write), when one of its pods changed (annotated: that
#     pod's record is read again; nothing a decision reads changed, so the memoised answers
#     hold), when a node changed (labelled: the nodes are listed again and every node walked)
#     and when a pod is deleted (every pod listed again, every node walked, the pod recreated:
#     several reconciles), POKES times each; each time the controller's /metrics
#     (--metrics-listen) give the change of controller_runtime_reconcile_time_seconds (sum and
#     count) and kubelua_lua_seconds_total for the daemonset controller;
#  3. a rolling update (new image) with maxUnavailable 10 %: time until the status says every
#     pod is updated and available; the largest numberUnavailable seen on the way.
#
#   bench/daemonset_bench.sh [KUBELUA] [NODES] [POKES] [-- extra kubelua up flags]
#   default: build-rel/kubelua 5000 10
# Prints one line per figure; KEEP=1 keeps the data directory (its path is printed).
set -euo pipefail
KUBELUA=${1:-build-rel/kubelua}
NODES=${2:-5000}
POKES=${3:-10}
shift $(($# < 3 ? $# : 3))
[ "${1:-}" = "--" ] && shift
DIR=$(mktemp -d "${TMPDIR:-/tmp}/kubelua-dsbench.XXXXXX")
UP_PID=
cleanup() {
    [ -n "$UP_PID" ] && kill -TERM "$UP_PID" 2>/dev/null && wait "$UP_PID" 2>/dev/null
    if [ -n "${KEEP:-}" ]; then echo "data in $DIR" >&2; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
k() { kubectl --kubeconfig "$DIR/data/kubeconfig" --cache-dir "$DIR/kcache" "$@"; }
status() { k get ds bench -o jsonpath="$1"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "busiest processes: $(ps -eo pcpu=,comm= --sort=-pcpu | head -n 4 | awk '{ printf "%s %s%%; ", $2, $1 }')"
t=$(now)
"$KUBELUA" up --nodes "$NODES" --mode simulated --data-dir "$DIR/data" --listen 127.0.0.1:0 \
    --metrics-listen 127.0.0.1:0 "$@" >"$DIR/up.out" 2>"$DIR/up.log" &
UP_PID=$!
until grep -q "cluster is up" "$DIR/up.out" 2>/dev/null; do
    kill -0 "$UP_PID" 2>/dev/null || { tail -n 20 "$DIR/up.log"; exit 1; }
    sleep 0.5
done
METRICS=$(sed -n 's/.*metrics on \(http:[^ ]*\).*/\1/p' "$DIR/up.log" | head -n1)
echo "kubelua up: $NODES nodes Ready in $(since "$t") s"

# ---- 1. apply -> every pod Running ------------------------------------------------------------
cat >"$DIR/ds.yaml" <<'EOF'
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: bench
spec:
  selector:
    matchLabels: {app: bench}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 10%}
  template:
    metadata:
      labels: {app: bench}
    spec:
      containers:
      - name: agent
        image: registry.example/agent:v1
EOF
t=$(now)
k apply -f "$DIR/ds.yaml" >/dev/null
created=
while :; do
    s=$(status '{.status.currentNumberScheduled} {.status.numberReady}')
    if [ -z "$created" ] && [ "${s% *}" = "$NODES" ]; then created=$(since "$t"); fi
    [ "${s#* }" = "$NODES" ] && break
    sleep 0.25
done
ready=$(since "$t")
running=$(k get pods -l app=bench -o jsonpath='{range .items[*]}{.status.phase} {.spec.nodeName}{"\n"}{end}' |
    awk '$1 == "Running" { n++; nodes[$2] = 1 } END { print n + 0, length(nodes) }')
[ "$running" = "$NODES $NODES" ] || { echo "pods Running, nodes: $running"; exit 1; }
echo "apply -> $NODES pods Running and Ready: $ready s (all created: $created s)"

# ---- 2. one reconcile ------------------------------------------------------------------------
snap() {
    curl -s "$METRICS" | awk '
        /^controller_runtime_reconcile_time_seconds_sum\{controller="daemonset"\}/ { s = $2 }
        /^controller_runtime_reconcile_time_seconds_count\{controller="daemonset"\}/ { c = $2 }
        /^kubelua_lua_seconds_total\{controller="daemonset"\}/ { l = $2 }
        END { print s, c, l }'
}
# pokes WHAT CMD...: runs CMD (with %d replaced by the poke number) POKES times, each time
# waiting for the daemonset controller's reconciles to end, and prints the wall time per
# reconcile (metrics), the Lua time per reconcile, and the reconciles per poke.
pokes() {
    local what=$1 i a b results=()
    shift
    sleep 2
    for i in $(seq 1 "$POKES"); do
        a=$(snap)
        "${@//%d/$i}" >/dev/null
        b=$(snap)
        while [ "$(echo "$b" | cut -d' ' -f2)" = "$(echo "$a" | cut -d' ' -f2)" ]; do
            sleep 0.05
            b=$(snap)
        done
        sleep 0.5
        b=$(snap)
        results+=("$(awk -v a="$a" -v b="$b" 'BEGIN {
            split(a, x, " "); split(b, y, " "); n = y[2] - x[2]
            printf "%.1f/%.1f/%d", (y[1] - x[1]) * 1000 / n, (y[3] - x[3]) * 1000 / n, n }')")
    done
    echo "one reconcile, $what (wall ms/Lua ms/reconciles per poke): ${results[*]}"
    printf '%s\n' "${results[@]}" | awk -F/ '{ print $1 }' | sort -n |
        awk '{ v[NR] = $1 } END { printf "  wall ms: min %s median %s max %s\n", v[1], v[int((NR + 1) / 2)], v[NR] }'
}
# Nothing changed: the DaemonSet is annotated (an update event, no spec change, nothing to do).
pokes "nothing changed" k annotate ds bench --overwrite "bench.kubelua.io/poke=%d"
# One pod annotated: the pods are listed and indexed again and every node is walked again
# (placement, rollout, status), nothing to write.
pod=$(k get pods -l app=bench -o jsonpath='{.items[0].metadata.name}')
pokes "one pod annotated (that pod read again, nothing decisive changed)" k annotate pod "$pod" --overwrite "bench.kubelua.io/poke=%d"
# One node labelled: the nodes are listed again as well.
pokes "one node relabelled (nodes listed again)" k label node kubelua-node-1 --overwrite "bench.kubelua.io/poke=%d"
# One pod deleted: the pods are listed again (a pod is gone) and one is created.
delete_one() { k delete pod --wait=false "$(k get pods -l app=bench -o jsonpath='{.items[0].metadata.name}')"; }
pokes "one pod deleted (all pods listed again, one created)" delete_one

# ---- 3. rolling update, maxUnavailable 10 % ------------------------------------------------------
t=$(now)
k set image ds/bench agent=registry.example/agent:v2 >/dev/null
gen=$(status '{.metadata.generation}')
worst=0
while :; do
    s=$(status '{.status.observedGeneration} {.status.updatedNumberScheduled} {.status.numberAvailable} {.status.numberUnavailable}')
    read -r og upd avail unavail <<<"$s"
    [ "${unavail:-0}" -gt "$worst" ] && worst=$unavail
    [ "$og" = "$gen" ] && [ "$upd" = "$NODES" ] && [ "$avail" = "$NODES" ] && break
    sleep 0.25
done
echo "rolling update of $NODES pods, maxUnavailable 10 %: $(since "$t") s (largest numberUnavailable seen: $worst)"
k rollout status ds/bench --timeout=10s >/dev/null
curl -s "$METRICS" | awk '/^kubelua_lua_seconds_total/ { sub(/.*controller="/, ""); sub(/"\}/, ""); printf "  Lua seconds %s\n", $0 }'
echo "kubelua up: $(ps -o rss= -p "$UP_PID" | awk '{ printf "%.0f MiB RSS", $1 / 1024 }'), $(ps -o time= -p "$UP_PID" | tr -d ' ') CPU"
