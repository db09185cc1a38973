# Shared helpers for the end-to-end tests (sourced, not run: the name does not end in .sh).
# Each test gets a private temporary directory, cleaned up on exit with every process it
# started.
set -euo pipefail

KL_SOURCE_DIR=${KL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
KL_BINARY=${KL_BINARY:-$KL_SOURCE_DIR/build/kubelua}
KL_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kubelua-e2e.XXXXXX")
KL_CACHE=$KL_TMP/kubectl-cache
KL_PIDS=()
export KL_SOURCE_DIR KL_BINARY

kl_cleanup() {
    local status=$?
    for pid in "${KL_PIDS[@]:-}"; do
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${KL_PIDS[@]:-}"; do
        [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ]; then
        echo "--- server log ---"
        cat "$KL_TMP"/server*.log 2>/dev/null | tail -n 40 || true
    fi
    rm -rf "$KL_TMP"
    exit "$status"
}
trap kl_cleanup EXIT

# A test may define kl_on_fail to print what helps to understand a failure.
fail() {
    echo "FAIL: $*" >&2
    if declare -F kl_on_fail >/dev/null; then kl_on_fail >&2 || true; fi
    exit 1
}

pass() {
    echo "ok: $*"
}

assert_eq() {
    local want=$1 got=$2 what=${3:-value}
    [ "$want" = "$got" ] || fail "$what: want '$want', got '$got'"
}

assert_contains() {
    local haystack=$1 needle=$2 what=${3:-output}
    case "$haystack" in
    *"$needle"*) ;;
    *) fail "$what does not contain '$needle': $haystack" ;;
    esac
}

assert_not_contains() {
    local haystack=$1 needle=$2 what=${3:-output}
    case "$haystack" in
    *"$needle"*) fail "$what contains '$needle': $haystack" ;;
    *) ;;
    esac
}

# Retries a command until it succeeds or TIMEOUT seconds pass.
eventually() {
    local timeout=$1
    shift
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "timed out after ${timeout}s waiting for: $*"
        sleep 0.2
    done
}

# Starts `kubelua apiserver` on a free port with data dir $1 (default $KL_TMP/data).
# Sets KL_URL, KL_KUBECONFIG, KL_SERVER_PID.
kl_start_apiserver() {
    local dir=${1:-$KL_TMP/data}
    local log=$KL_TMP/server.$RANDOM.log
    "$KL_BINARY" apiserver --data-dir "$dir" --listen "${KL_LISTEN:-127.0.0.1:0}" >"$log" 2>&1 &
    KL_SERVER_PID=$!
    KL_PIDS+=("$KL_SERVER_PID")
    local deadline=$((SECONDS + 20))
    until grep -qs "listening on" "$log"; do
        kill -0 "$KL_SERVER_PID" 2>/dev/null || { cat "$log"; fail "apiserver exited"; }
        [ $SECONDS -lt $deadline ] || { cat "$log"; fail "apiserver did not start"; }
        sleep 0.1
    done
    KL_URL=$(sed -n 's/.*listening on \(https:[^ ]*\).*/\1/p' "$log" | head -n1)
    KL_KUBECONFIG=$dir/kubeconfig
    KL_DATA=$dir
    export KL_URL KL_KUBECONFIG KL_DATA
}

kl_stop_apiserver() {
    kill -TERM "$KL_SERVER_PID"
    wait "$KL_SERVER_PID" || true
}

# kubectl against the server under test, with a private discovery cache.
k() {
    kubectl --kubeconfig "$KL_KUBECONFIG" --cache-dir "$KL_CACHE" "$@"
}

# curl with the server's CA; add -H "Authorization: Bearer $(kl_token)" to authenticate.
kcurl() {
    curl -sS --cacert "$KL_DATA/pki/ca.crt" "$@"
}

kl_token() {
    cat "$KL_DATA/token"
}

# ---- kubelua up -----------------------------------------------------------------------------

# Starts `kubelua up ARGS...` on a free port with data dir $KL_UP_DATA (default $KL_TMP/up) and
# waits until it says the cluster is up. Sets KL_UP_PID, KL_UP_LOG (stderr; stdout is
# $KL_UP_LOG.out), KL_URL, KL_KUBECONFIG, KL_DATA.
kl_start_up() {
    local dir=${KL_UP_DATA:-$KL_TMP/up}
    KL_UP_LOG=$KL_TMP/server.up.$RANDOM.log
    "$KL_BINARY" up --data-dir "$dir" --listen "${KL_LISTEN:-127.0.0.1:0}" "$@" \
        >"$KL_UP_LOG.out" 2>"$KL_UP_LOG" &
    KL_UP_PID=$!
    KL_PIDS+=("$KL_UP_PID")
    local deadline=$((SECONDS + ${KL_UP_TIMEOUT:-60}))
    until grep -qs "cluster is up" "$KL_UP_LOG.out"; do
        kill -0 "$KL_UP_PID" 2>/dev/null || { tail -n 40 "$KL_UP_LOG"; fail "kubelua up exited"; }
        [ $SECONDS -lt $deadline ] || { tail -n 40 "$KL_UP_LOG"; fail "kubelua up did not start"; }
        sleep 0.1
    done
    KL_URL=$(sed -n 's/.*API server \(https:[^ ,]*\).*/\1/p' "$KL_UP_LOG.out" | head -n1)
    KL_KUBECONFIG=$dir/kubeconfig
    KL_DATA=$dir
    export KL_URL KL_KUBECONFIG KL_DATA
}

# Stops `kubelua up` with SIGTERM and waits for it.
kl_stop_up() {
    kill -TERM "$KL_UP_PID" 2>/dev/null || true
    wait "$KL_UP_PID" 2>/dev/null || true
}

# Succeeds when `k get ARGS -o jsonpath=PATH` prints exactly WANT: jp_is WANT PATH ARGS...
jp_is() {
    local want=$1 path=$2
    shift 2
    [ "$(k get "$@" -o jsonpath="$path" 2>/dev/null)" = "$want" ]
}

# Prints `k get ARGS -o jsonpath=PATH`: jp PATH ARGS...
jp() {
    local path=$1
    shift
    k get "$@" -o jsonpath="$path"
}

# Applies the manifest on stdin.
kapply() {
    k apply -f - >/dev/null
}
