#!/usr/bin/env bash
# kubectl logs against `kubelua apiserver`, with CRI log files written where a node agent
# writes them (DATA_DIR/pods/<ns>_<pod>_<uid>/logs/<container>/<n>.log): plain reads, --tail,
# --timestamps, --previous, -c, and -f following a growing log until the container ends.
source "$(dirname "$0")/lib.bash"

kl_start_apiserver
k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: talker
spec:
  nodeName: node-a
  containers:
  - name: main
    image: busybox
  - name: side
    image: busybox
YAML
uid=$(k get pod talker -o jsonpath='{.metadata.uid}')
dir=$KL_DATA/pods/default_talker_${uid}/logs
mkdir -p "$dir/main" "$dir/side"
record() { echo "2026-11-25T12:00:0$1.000000000Z stdout F $2"; }
{ record 1 "old one"; } >"$dir/main/0.log"
touch "$dir/main/0.done"
{ record 2 "line one"; record 3 "line two"; } >"$dir/main/1.log"
record 4 "from the side" >"$dir/side/0.log"

out=$(k logs talker -c main)
assert_eq $'line one\nline two' "$out" "kubectl logs -c main"
assert_eq "line two" "$(k logs talker -c main --tail 1)" "--tail 1"
assert_eq "old one" "$(k logs talker -c main --previous)" "--previous"
assert_eq "2026-11-25T12:00:02.000000000Z line one" "$(k logs talker -c main --timestamps | head -n1)" "--timestamps"
assert_eq "from the side" "$(k logs talker -c side)" "-c side"
out=$(k logs talker 2>&1)
assert_contains "$out" 'Defaulted container "main" out of: main, side' "no -c"
err=$(kcurl -H "Authorization: Bearer $(kl_token)" "$KL_URL/api/v1/namespaces/default/pods/talker/log")
assert_contains "$err" "a container name must be specified for pod talker, choose one of: [main side]" "no container"
pass "kubectl logs reads CRI files: -c, --tail, --previous, --timestamps"

# Follow: output appears as it is written; the stream ends when the instance is done.
k logs -f talker -c main >"$KL_TMP/follow.out" 2>&1 &
follow_pid=$!
KL_PIDS+=("$follow_pid")
has_line() { grep -qx "$1" "$KL_TMP/follow.out"; }
eventually 10 has_line "line two"
record 5 "line three" >>"$dir/main/1.log"
eventually 10 has_line "line three"
kill -0 "$follow_pid" || fail "kubectl logs -f ended early"
record 6 "last words" >>"$dir/main/1.log"
touch "$dir/main/1.done"
deadline=$((SECONDS + 10))
while kill -0 "$follow_pid" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "kubectl logs -f did not end with the container"
    sleep 0.1
done
wait "$follow_pid" || fail "kubectl logs -f exited non-zero: $(cat "$KL_TMP/follow.out")"
assert_eq $'line one\nline two\nline three\nlast words' "$(cat "$KL_TMP/follow.out")" "followed log"
pass "kubectl logs -f streams new lines and ends when the container's log is done"

# Following over HTTP/1.1 (curl) with a tail.
out=$(kcurl -H "Authorization: Bearer $(kl_token)" --http1.1 --max-time 10 \
    "$KL_URL/api/v1/namespaces/default/pods/talker/log?container=main&follow=true&tailLines=1")
assert_eq "last words" "$out" "follow over HTTP/1.1 with tailLines"
pass "follow over HTTP/1.1"
