#!/usr/bin/env bash
# Installs what kubelua needs to build and test on Debian 12, and nothing that is already there.
# Idempotent: each library is checked with pkg-config (or a command with `command -v`) first.
set -euo pipefail

need=()

# pkg-config module -> Debian package.
check_pc() {
    if ! pkg-config --exists "$1" 2>/dev/null; then
        need+=("$2")
    fi
}

# command -> Debian package.
check_cmd() {
    if ! command -v "$1" >/dev/null 2>&1; then
        need+=("$2")
    fi
}

# Debian package whose presence is checked with dpkg (no pkg-config module, no command).
check_pkg() {
    if ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; then
        need+=("$1")
    fi
}

check_cmd pkg-config pkg-config
check_cmd cmake cmake
check_cmd make make
check_cmd gcc gcc
check_cmd openssl openssl
check_pc lua5.4 liblua5.4-dev
check_pc libcurl libcurl4-openssl-dev
check_pc yaml-0.1 libyaml-dev
check_pc libuv libuv1-dev
check_pc cmocka libcmocka-dev
check_pc libcjson libcjson-dev
check_pc libh2o libh2o-dev
check_pc sqlite3 libsqlite3-dev
check_pc openssl libssl-dev
check_pc zlib zlib1g-dev
# PCRE2 matches the `pattern`s of CustomResourceDefinition schemas (ECMA-262 regular expressions:
# lookahead, \uhhhh escapes and the rest that POSIX regex.h lacks).
check_pc libpcre2-8 libpcre2-dev
# mimalloc: the kubelua binary's allocator (glibc's malloc was a third of the controllers' time).
check_pkg libmimalloc-dev
# The Job demo computes pi with perl's bignum; Debian 12's stock Math::BigInt fails on
# bpi(2000), the packaged newer version works.
check_pkg libmath-bigint-perl
check_cmd perl perl
# Time zone database for CronJob spec.timeZone.
check_pkg tzdata
# kubectl for the end-to-end tests: the machine's own (v1.32) when present, otherwise Debian's
# kubernetes-client (v1.20) so the tests still run.
check_cmd kubectl kubernetes-client

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

if ((${#need[@]} == 0)); then
    echo "install-deps: everything is installed"
else
    echo "install-deps: installing ${need[*]}"
    $sudo apt-get update -qq || echo "install-deps: apt-get update failed, trying the cached lists" >&2
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# Debian's kubectl 1.20 (package kubernetes-client) is what a machine without another kubectl
# gets; the end-to-end tests also run it (legacy discovery, /openapi/v2 as protobuf). It is
# unpacked beside the machine's kubectl, not installed over it.
KL_DEPS_DIR=${KL_DEPS_DIR:-$HOME/.cache/kubelua-deps}
if [ ! -x "$KL_DEPS_DIR/kubectl-1.20" ]; then
    tmp=$(mktemp -d)
    if (cd "$tmp" && apt-get download -qq kubernetes-client >/dev/null 2>&1) &&
        dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$tmp/x" &&
        mkdir -p "$KL_DEPS_DIR" && cp "$tmp/x/usr/bin/kubectl" "$KL_DEPS_DIR/kubectl-1.20"; then
        echo "install-deps: kubectl 1.20 unpacked to $KL_DEPS_DIR/kubectl-1.20"
    else
        echo "install-deps: could not fetch Debian's kubectl 1.20 (tests with it will be skipped)" >&2
    fi
    rm -rf "$tmp"
fi
