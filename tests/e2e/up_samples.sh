#!/usr/bin/env bash
# The sample manifests (examples/, the corrected copies of ../shared/manifests) on `kubelua up`:
# both DaemonSets put a pod on every node, and the pi Job really computes pi with perl.
source "$(dirname "$0")/lib.bash"

kl_start_up --nodes 3
k apply -f "$KL_SOURCE_DIR/examples/daemonset-nginx.yaml" >/dev/null
k apply -f "$KL_SOURCE_DIR/examples/daemonset-fluentd.yaml" >/dev/null
k apply -f "$KL_SOURCE_DIR/examples/job-pi.yaml" >/dev/null

eventually 60 jp_is "3 3" '{.status.numberReady} {.status.desiredNumberScheduled}' daemonset deamonset-example
eventually 60 jp_is "3 3" '{.status.numberReady} {.status.desiredNumberScheduled}' daemonset -n kube-system fluentd-elasticsearch
nodes=$(k get pods -l name=deamonset-example -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | tr '\n' ' ')
assert_eq "kubelua-node-1 kubelua-node-2 kubelua-node-3 " "$nodes" "nodes of the nginx daemon pods"
pass "both sample DaemonSets run a ready pod on every node"

eventually 90 jp_is "1" '{.status.succeeded}' job pi
pod=$(k get pods -l job-name=pi -o jsonpath='{.items[0].metadata.name}')
out=$(k logs "$pod")
assert_contains "${out:0:7}" "3.14159" "the pi Job's output"
[ "${#out}" -gt 2000 ] || fail "pi has only ${#out} characters"
assert_eq "Complete" "$(jp '{.status.conditions[?(@.type=="Complete")].type}' job pi)" "Job condition"
pass "the pi Job completes and its log starts with 3.14159 (${#out} characters)"
