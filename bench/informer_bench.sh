#!/usr/bin/env bash
# Informer benchmark: one `kubelua apiserver` holding N pods (default 100,000, ~3 KB each) is
# the common source; each consumer in turn syncs all N pods from it, on the same machine, in the
# same run:
#   - kubelua's informer, by watch-list (one stream of N ADDED events) and by paginated LIST;
#   - the official JavaScript client's informer (@kubernetes/client-node makeInformer, LIST then
#     WATCH), installed here into bench/node_modules with npm;
#   - `kubectl get pods -w -o json` (time until it printed the N pods).
# Plus the offline figure: N synthetic pod events through the watch decoder into the cache, no
# network (one core).
#
# Usage: bench/informer_bench.sh [BUILD_DIR] [PODS]
#   BUILD_DIR: an optimised build (default build/), with the kubelua and informer_bench targets.
# Results: one JSON object per line in bench/out/informer/results.jsonl, and a table on stdout.
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
n=${2:-100000}
src=$(cd "$(dirname "$0")/.." && pwd)
kubelua=$build/kubelua
ib=$build/bench/informer_bench
out=$src/bench/out/informer
mkdir -p "$out"
results=$out/results.jsonl
: > "$results"

for f in "$kubelua" "$ib"; do
    [ -x "$f" ] || { echo "missing $f: cmake --build $build --target kubelua informer_bench" >&2; exit 1; }
done
if [ ! -f "$src/bench/node_modules/@kubernetes/client-node/package.json" ]; then
    # 1.x: 2.x needs Node.js >= 22 (undici 8), Debian 12 has 20.
    npm install --no-save --no-audit --no-fund --prefix "$src/bench" @kubernetes/client-node@1.4.0 >&2
fi

dir=$(mktemp -d /tmp/kl-informer-bench-XXXXXX)
spid=
kpid=
cleanup() {
    [ -n "$kpid" ] && kill "$kpid" 2>/dev/null || true
    if [ -n "$spid" ]; then
        kill "$spid" 2>/dev/null || true
        wait "$spid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

"$kubelua" apiserver --data-dir "$dir/data" --listen 127.0.0.1:0 > "$dir/server.out" 2> "$dir/server.err" &
spid=$!
for _ in $(seq 100); do
    grep -q "listening on" "$dir/server.out" 2>/dev/null && break
    sleep 0.1
done
kc=$dir/data/kubeconfig
[ -f "$kc" ] || { echo "the API server did not start:" >&2; cat "$dir/server.err" >&2; exit 1; }

echo "== loading $n pods" >&2
"$ib" load "$kc" "$n" | tee -a "$results" >&2

echo "== offline decode into the cache" >&2
"$ib" offline "$n" | tee -a "$results" >&2

run_timed() { # name, command...: the command's JSON line plus its peak RSS
    local name=$1
    shift
    local line
    line=$(/usr/bin/time -f "%M" -o "$dir/maxrss" "$@")
    local kb
    kb=$(tail -1 "$dir/maxrss")
    echo "${line%\}},\"max_rss_kb\":$kb}" | tee -a "$results" >&2
}

echo "== kubelua informer (list)" >&2
run_timed kubelua-list "$ib" consume "$kc" "$n" list
echo "== kubelua informer (watch-list)" >&2
run_timed kubelua-watchlist "$ib" consume "$kc" "$n" watchlist

echo "== @kubernetes/client-node informer" >&2
run_timed client-node node --expose-gc --max-old-space-size=16384 "$src/bench/informer_bench.mjs" "$kc" "$n"

echo "== kubectl get pods -w -o json" >&2
fifo=$dir/kubectl.fifo
mkfifo "$fifo"
t0=$(date +%s%N)
/usr/bin/time -f "%M" -o "$dir/kubectl.rss" kubectl --kubeconfig "$kc" get pods -n bench -w -o json > "$fifo" 2> "$dir/kubectl.err" &
kpid=$!
got=$(awk -v n="$n" '/^        \{$/ { c++; if (c >= n) { print c; exit } } END { if (c < n) print c }' < "$fifo")
t1=$(date +%s%N)
kill "$kpid" 2>/dev/null || true
wait "$kpid" 2>/dev/null || true
kpid=
secs=$(echo "scale=3; ($t1 - $t0) / 1000000000" | bc)
kb=$(tail -1 "$dir/kubectl.rss" 2>/dev/null | tr -dc 0-9)
echo "{\"consumer\":\"kubectl-get-w-json\",\"version\":\"$(kubectl version --client 2>/dev/null | head -1 | awk '{print $3}')\",\"pods\":$got,\"seconds\":$secs,\"pods_per_s\":$(echo "$got / $secs" | bc),\"max_rss_kb\":${kb:-0}}" | tee -a "$results" >&2

echo
echo "| Consumer | Pods | Seconds | Pods/s | CPU s | Bytes held per pod | Peak RSS |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
for (const r of lines) {
  if (!r.consumer) continue;
  const held = r.cache_bytes_per_pod ? `${r.cache_bytes_per_pod} (cache), ${r.rss_bytes_per_pod} (RSS)`
    : r.heap_bytes_per_pod ? `${r.heap_bytes_per_pod} (heap), ${r.rss_bytes_per_pod} (RSS)` : "-";
  const rate = r.events_per_s || r.pods_per_s;
  const rss = r.max_rss_kb ? `${Math.round(r.max_rss_kb / 1024)} MiB` : "-";
  console.log(`| ${r.consumer}${r.version ? " " + r.version : ""} | ${r.pods} | ${r.seconds} | ${rate} | ${r.cpu_seconds ?? "-"} | ${held} | ${rss} |`);
}' "$results"
