#!/usr/bin/env bash
# `kubelua up` stopped and started again with the same data directory keeps the cluster: the
# same nodes and Leases, completed pods and their logs, simulated pods that carry on from their
# start times, and process pods handled as a kubelet handles them after a reboot (restarted
# under restartPolicy Always, Failed with ContainerStatusUnknown under Never).
source "$(dirname "$0")/lib.bash"

kl_start_up --nodes 1
eventually 20 jp_is True '{.status.conditions[?(@.type=="Ready")].status}' node kubelua-node-1
node_uid=$(jp '{.metadata.uid}' node kubelua-node-1)
kapply <<'EOF2'
apiVersion: v1
kind: Pod
metadata:
  name: done
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo finished"]
---
apiVersion: v1
kind: Pod
metadata:
  name: server
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo kl-e2e-restart-server; exec sleep 1000"]
---
apiVersion: v1
kind: Pod
metadata:
  name: once
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo kl-e2e-restart-once; exec sleep 1000"]
---
apiVersion: v1
kind: Pod
metadata:
  name: sim
  annotations:
    kubelua.io/mode: simulated
spec:
  containers:
  - name: c
    image: registry.example/app:1
EOF2
eventually 30 jp_is Succeeded '{.status.phase}' pod done
for p in server once sim; do
    eventually 30 jp_is Running '{.status.phase}' pod "$p"
done
sim_started=$(jp '{.status.containerStatuses[0].state.running.startedAt}' pod sim)
sim_uid=$(jp '{.metadata.uid}' pod sim)
kl_stop_up
pgrep -f "kl-e2e-restart-" >/dev/null && fail "container processes outlived kubelua up"
pass "stopping kubelua up stops the pods' processes"

kl_start_up --nodes 1
assert_eq "$node_uid" "$(jp '{.metadata.uid}' node kubelua-node-1)" "node uid after restart"
eventually 20 jp_is True '{.status.conditions[?(@.type=="Ready")].status}' node kubelua-node-1
assert_eq "Succeeded" "$(jp '{.status.phase}' pod done)" "completed pod"
assert_eq "finished" "$(k logs done)" "log of a completed pod after a restart"
assert_eq "Running $sim_uid $sim_started 0" \
    "$(jp '{.status.phase} {.metadata.uid} {.status.containerStatuses[0].state.running.startedAt} {.status.containerStatuses[0].restartCount}' pod sim)" \
    "simulated pod carries on"
eventually 30 jp_is "Running 1 ContainerStatusUnknown" \
    '{.status.phase} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.reason}' pod server
eventually 10 pgrep -f "kl-e2e-restart-server; exec"
eventually 30 jp_is "Failed 137 ContainerStatusUnknown" \
    '{.status.phase} {.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason}' pod once
pass "restart with the same data dir: nodes, pods and logs kept; process pods as after a reboot"
