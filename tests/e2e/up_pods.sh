#!/usr/bin/env bash
# `kubelua up` with the real kubectl: nodes register Ready with kubelet labels and Leases; pods
# really run (echo hi -> Succeeded with its log, exit 3 -> Failed with its exit code, OnFailure
# restarts with back-off, init containers, graceful deletion kills the process); simulated pods
# follow their annotations; a Node created with kubectl gets a kubelet and receives pods;
# `kubelua node stop|start` stops and resumes its heartbeats.
source "$(dirname "$0")/lib.bash"

kl_start_up --nodes 2
assert_contains "$(cat "$KL_UP_LOG.out")" "export KUBECONFIG=$KL_KUBECONFIG" "banner"

# ---- Nodes ------------------------------------------------------------------------------------
eventually 20 jp_is "True True" '{.items[*].status.conditions[?(@.type=="Ready")].status}' nodes
assert_eq "kubelua-node-1 kubelua-node-2" "$(jp '{.items[*].metadata.name}' nodes)" "node names"
assert_eq "kubelua-node-1/linux/amd64/true" \
    "$(jp '{.metadata.labels.kubernetes\.io/hostname}/{.metadata.labels.kubernetes\.io/os}/{.metadata.labels.kubernetes\.io/arch}/{.metadata.labels.kubelua\.io/simulated}' node kubelua-node-1)" \
    "kubelet labels"
assert_eq "10.244.0.0/24 172.18.0.2 110" \
    "$(jp '{.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address} {.status.allocatable.pods}' node kubelua-node-1)" \
    "podCIDR, address, allocatable"
assert_eq "kubelua-node-2 40" \
    "$(jp '{.spec.holderIdentity} {.spec.leaseDurationSeconds}' lease -n kube-node-lease kubelua-node-2)" \
    "node lease"
pass "nodes Ready with kubelet labels, addresses, capacity and Leases"

# ---- A pod that prints and succeeds, one that fails ----------------------------------------
kapply <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: hi
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo hi"]
---
apiVersion: v1
kind: Pod
metadata:
  name: fails
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo oops >&2; exit 3"]
EOF
eventually 30 jp_is Succeeded '{.status.phase}' pod hi
assert_eq "hi" "$(k logs hi)" "kubectl logs hi"
assert_eq "0 Completed" \
    "$(jp '{.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason}' pod hi)" \
    "hi's container"
assert_contains "$(jp '{.status.podIP} {.status.hostIP} {.status.startTime}' pod hi)" "10.244." "pod IP"
assert_eq "False PodCompleted" \
    "$(jp '{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}' pod hi)" \
    "Ready condition of a completed pod"
eventually 30 jp_is Failed '{.status.phase}' pod fails
assert_eq "3 Error" \
    "$(jp '{.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason}' pod fails)" \
    "exit code of a failed pod"
assert_eq "oops" "$(k logs fails)" "stderr in the log"
pass "echo hi succeeds with its log; exit 3 fails with exit code 3"

# ---- OnFailure restarts with the crash-loop back-off ------------------------------------------
kapply <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: crashes
spec:
  restartPolicy: OnFailure
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo run; exit 1"]
EOF
eventually 30 jp_is CrashLoopBackOff '{.status.containerStatuses[0].state.waiting.reason}' pod crashes
assert_eq "1" "$(jp '{.status.containerStatuses[0].lastState.terminated.exitCode}' pod crashes)" \
    "lastState of a crashing container"
eventually 30 jp_is 2 '{.status.containerStatuses[0].restartCount}' pod crashes
assert_eq "Running" "$(jp '{.status.phase}' pod crashes)" "phase of a restarting pod"
assert_eq "run" "$(k logs crashes --previous)" "kubectl logs --previous"
pass "OnFailure restarts in place (restartCount grows, CrashLoopBackOff between runs)"

# ---- Init containers, readiness delay --------------------------------------------------------
kapply <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: staged
spec:
  initContainers:
  - name: prepare
    image: busybox
    command: ["sh", "-c", "echo prepared"]
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "echo MY_NODE=$MY_NODE MY_IP=$MY_IP; exec sleep 1000"]
    env:
    - name: MY_NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    - name: MY_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    readinessProbe:
      exec: {command: ["true"]}
      initialDelaySeconds: 2
EOF
eventually 30 jp_is Running '{.status.phase}' pod staged
assert_eq "prepared" "$(k logs staged -c prepare)" "init container log"
assert_eq "True" "$(jp '{.status.conditions[?(@.type=="Initialized")].status}' pod staged)" "Initialized"
eventually 10 jp_is True '{.status.conditions[?(@.type=="Ready")].status}' pod staged
node=$(jp '{.spec.nodeName}' pod staged)
ip=$(jp '{.status.podIP}' pod staged)
app_log_is() { [ "$(k logs staged -c app)" = "$1" ]; }
eventually 10 app_log_is "MY_NODE=$node MY_IP=$ip"
pass "init container, then the app with downward-API env, Ready after the probe's delay"

# ---- ConfigMap and Secret references, a sidecar ----------------------------------------------
kapply <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  greeting: hello
---
apiVersion: v1
kind: Secret
metadata:
  name: sec
data:
  pw: czNjcmV0
---
apiVersion: v1
kind: Pod
metadata:
  name: refs
spec:
  restartPolicy: Never
  initContainers:
  - name: side
    image: busybox
    restartPolicy: Always
    command: ["sh", "-c", "echo side up; exec sleep 1000"]
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo $G $P"]
    env:
    - name: G
      valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}
    - name: P
      valueFrom: {secretKeyRef: {name: sec, key: pw}}
EOF
eventually 30 jp_is Succeeded '{.status.phase}' pod refs
assert_eq "hello s3cret" "$(k logs refs -c c)" "env from a ConfigMap and a Secret"
assert_eq "side up" "$(k logs refs -c side)" "sidecar log"
assert_eq "143" "$(jp '{.status.initContainerStatuses[0].state.terminated.exitCode}' pod refs)" \
    "sidecar stopped with SIGTERM once the pod's container finished"
pass "env from ConfigMap and Secret keys; a sidecar runs beside the container and is stopped after it"

# ---- Deleting a running pod terminates its process -------------------------------------------
kapply <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: victim
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; echo kl-e2e-victim-marker; while :; do sleep 0.2; done"]
EOF
eventually 30 jp_is Running '{.status.phase}' pod victim
pid=$(pgrep -f "kl-e2e-victim-marker; while" | head -n1)
[ -n "$pid" ] || fail "no process for the running pod"
k delete pod victim --wait=true --timeout=20s >/dev/null
eventually 10 sh -c "! kill -0 $pid"
pass "deleting a running pod stops its process (pid $pid) and removes the pod"

# ---- Simulated pods --------------------------------------------------------------------------
kapply <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: sim-fail
  annotations:
    kubelua.io/mode: simulated
    kubelua.io/run-duration: 1s
    kubelua.io/exit-code: "2"
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: registry.example/app:1
---
apiVersion: v1
kind: Pod
metadata:
  name: sim-slow
  annotations:
    kubelua.io/mode: simulated
    kubelua.io/ready-after: 2s
spec:
  containers:
  - name: c
    image: registry.example/app:1
EOF
eventually 20 jp_is "Failed 2" '{.status.phase} {.status.containerStatuses[0].state.terminated.exitCode}' pod sim-fail
eventually 10 jp_is "Running false" '{.status.phase} {.status.containerStatuses[0].ready}' pod sim-slow
eventually 10 jp_is "true" '{.status.containerStatuses[0].ready}' pod sim-slow
pass "simulated pods: run duration and exit code, readiness delay from annotations"

# ---- A Node created with kubectl gets a kubelet ----------------------------------------------
kapply <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: extra
  labels:
    kubelua.io/simulated: "true"
    disk: ssd
EOF
eventually 20 jp_is True '{.status.conditions[?(@.type=="Ready")].status}' node extra
assert_eq "10.244.2.0/24" "$(jp '{.spec.podCIDR}' node extra)" "podCIDR of the new node"
kapply <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: on-extra
spec:
  restartPolicy: Never
  nodeSelector:
    disk: ssd
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo on extra"]
EOF
eventually 30 jp_is "Succeeded extra" '{.status.phase} {.spec.nodeName}' pod on-extra
assert_eq "on extra" "$(k logs on-extra)" "log of the pod on the new node"
pass "a Node created with kubectl becomes Ready and runs pods"

# ---- kubelua node stop / start -----------------------------------------------------------------
"$KL_BINARY" node stop extra --kubeconfig "$KL_KUBECONFIG" >/dev/null
assert_eq "true" "$(jp '{.metadata.annotations.kubelua\.io/stopped}' node extra)" "stop annotation"
before=$(jp '{.spec.renewTime}' lease -n kube-node-lease extra)
sleep 11
assert_eq "$before" "$(jp '{.spec.renewTime}' lease -n kube-node-lease extra)" "lease of a stopped node"
"$KL_BINARY" node start extra --kubeconfig "$KL_KUBECONFIG" >/dev/null
renewed() { [ "$(jp '{.spec.renewTime}' lease -n kube-node-lease extra)" != "$before" ]; }
eventually 5 renewed
pass "kubelua node stop halts the Lease renewals, start resumes them"

# ---- Deleting the node stops its kubelet ------------------------------------------------------
k delete node extra >/dev/null
eventually 10 grep -q "node extra deleted: stopping its kubelet" "$KL_UP_LOG"
pass "kubectl delete node stops its kubelet"

kl_stop_up
grep -q "up: stopped" "$KL_UP_LOG" || fail "no orderly stop: $(tail -n 20 "$KL_UP_LOG")"
pass "SIGTERM stops kubelua up"
