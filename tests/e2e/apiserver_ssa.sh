#!/usr/bin/env bash
# Server-side apply with field ownership, driven by the real kubectl: Apply and Update entries in
# managedFields, conflicts and kubectl's hint, --force-conflicts, fields removed when the applier
# drops them, kubectl scale / label / edit as Update managers, the status subresource, no-op
# re-applies, and client-side apply followed by server-side apply (kubectl's migration).
source "$(dirname "$0")/lib.bash"

command -v kubectl >/dev/null || { echo "SKIP: kubectl not installed"; exit 0; }

kl_start_apiserver

# "manager/operation/subresource" of every entry, one per line.
managers() {
    k get "$@" -o jsonpath='{range .metadata.managedFields[*]}{.manager}/{.operation}/{.subresource}{"\n"}{end}'
}
# The FieldsV1 of one manager's entry (compact JSON).
fields_of() {
    local obj=$1 manager=$2 op=$3
    k get "$obj" -o jsonpath="{.metadata.managedFields[?(@.manager==\"$manager\")]}" |
        python3 -c "import json,sys
for e in [json.loads(l) for l in sys.stdin.read().replace('}{','}\n{').splitlines() if l]:
    if e['operation']=='$op': print(json.dumps(e['fieldsV1'],sort_keys=True,separators=(',',':')))"
}

cat >"$KL_TMP/web.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
    tier: front
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
EOF

# --- create: an Apply entry owning exactly the applied fields ---------------------------------
out=$(k apply --server-side -f "$KL_TMP/web.yaml")
assert_contains "$out" "deployment.apps/web serverside-applied" "ssa create"
assert_eq "kubectl/Apply/" "$(managers deploy web)" "managers after create"
want='{"f:metadata":{"f:labels":{"f:app":{},"f:tier":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}'
assert_eq "$want" "$(fields_of deploy/web kubectl Apply)" "Apply entry fields"
yaml=$(k get deploy web -o yaml --show-managed-fields)
assert_contains "$yaml" "managedFields:" "--show-managed-fields"
assert_contains "$yaml" "operation: Apply" "--show-managed-fields"
assert_contains "$yaml" "fieldsType: FieldsV1" "--show-managed-fields"
assert_contains "$yaml" 'k:{"containerPort":80,"protocol":"TCP"}:' "--show-managed-fields"
assert_not_contains "$(k get deploy web -o yaml)" "managedFields" "kubectl hides managedFields"
assert_contains "$(kcurl -H "Authorization: Bearer $(kl_token)" "$KL_URL/apis/apps/v1/namespaces/default/deployments/web")" \
    '"managedFields":[{"manager":"kubectl","operation":"Apply","apiVersion":"apps/v1","time":' "the server returns them"
pass "server-side apply creates with an Apply entry"

# --- re-applying the same configuration changes nothing --------------------------------------
rv=$(k get deploy web -o jsonpath='{.metadata.resourceVersion}')
k apply --server-side -f "$KL_TMP/web.yaml" >/dev/null
assert_eq "$rv" "$(k get deploy web -o jsonpath='{.metadata.resourceVersion}')" "no-op apply"
pass "an unchanged apply is a no-op (no new resourceVersion)"

# --- a second manager's conflicting apply: 409 and kubectl's hint -----------------------------
cat >"$KL_TMP/other.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 5
EOF
if out=$(k apply --server-side --field-manager=other -f "$KL_TMP/other.yaml" 2>&1); then
    fail "a conflicting apply succeeded: $out"
fi
assert_contains "$out" 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas' "conflict"
assert_contains "$out" "Please review the fields above--they currently have other managers" "kubectl hint"
assert_contains "$out" "--force-conflicts" "kubectl hint"
assert_eq 2 "$(k get deploy web -o jsonpath='{.spec.replicas}')" "replicas after the conflict"
status=$(kcurl -H "Authorization: Bearer $(kl_token)" -X PATCH -H "Content-Type: application/apply-patch+yaml" \
    --data-binary @"$KL_TMP/other.yaml" -w ' %{http_code}' \
    "$KL_URL/apis/apps/v1/namespaces/default/deployments/web?fieldManager=other")
assert_contains "$status" '"reason":"Conflict"' "conflict Status"
assert_contains "$status" '"causes":[{"type":"FieldManagerConflict","message":"conflict with \"kubectl\"","field":".spec.replicas"}]' "conflict causes"
assert_contains "$status" '"code":409} 409' "conflict code"
pass "a second manager's conflicting apply gets 409 Conflict with kubectl's hint"

# --- --force-conflicts takes the field over ----------------------------------------------------
out=$(k apply --server-side --field-manager=other --force-conflicts -f "$KL_TMP/other.yaml")
assert_contains "$out" "serverside-applied" "forced apply"
assert_eq 5 "$(k get deploy web -o jsonpath='{.spec.replicas}')" "replicas after force"
assert_eq '{"f:spec":{"f:replicas":{}}}' "$(fields_of deploy/web other Apply)" "other owns replicas"
assert_not_contains "$(fields_of deploy/web kubectl Apply)" "f:replicas" "kubectl lost replicas"
pass "--force-conflicts takes ownership"

# --- fields the applier drops are removed, unless someone else owns them ----------------------
sed -i -e '/tier: front/d' -e '/replicas: 2/d' "$KL_TMP/web.yaml"
k apply --server-side -f "$KL_TMP/web.yaml" >/dev/null
assert_eq '{"app":"web"}' "$(k get deploy web -o jsonpath='{.metadata.labels}')" "dropped label removed"
assert_eq 5 "$(k get deploy web -o jsonpath='{.spec.replicas}')" "replicas owned by other stay"
pass "removing a field from the applied configuration removes it from the object"

# --- kubectl scale / label / edit record Update entries --------------------------------------
k scale deploy web --replicas=3 >/dev/null
assert_contains "$(managers deploy web)" "kubectl/Update/scale" "scale entry"
scale_fields=$(k get deploy web -o jsonpath='{.metadata.managedFields[?(@.subresource=="scale")].fieldsV1}')
assert_eq '{"f:spec":{"f:replicas":{}}}' "$scale_fields" "scale owns replicas"
assert_not_contains "$(managers deploy web)" "other/Apply" "other lost its only field to scale"
k label deploy web team=a >/dev/null
assert_eq '{"f:metadata":{"f:labels":{"f:team":{}}}}' "$(fields_of deploy/web kubectl-label Update)" "label entry"
EDITOR="sed -i s/nginx:1.25/nginx:1.26/" k edit deploy web >/dev/null
assert_contains "$(fields_of deploy/web kubectl-edit Update)" '"f:image":{}' "edit entry"
# The applier's next change of replicas conflicts with the scale.
cat >"$KL_TMP/web3.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
EOF
out=$(k apply --server-side --field-manager=other -f "$KL_TMP/web3.yaml" 2>&1 || true)
assert_contains "$out" 'conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas' "scale conflict"
pass "kubectl scale, label and edit record Update entries; an apply then conflicts with them"

# --- the status subresource ------------------------------------------------------------------
cat >"$KL_TMP/status.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
status:
  replicas: 3
  observedGeneration: 1
EOF
k apply --server-side --subresource=status --field-manager=status-writer -f "$KL_TMP/status.yaml" >/dev/null
assert_eq 3 "$(k get deploy web -o jsonpath='{.status.replicas}')" "status applied"
assert_contains "$(managers deploy web)" "status-writer/Apply/status" "status entry"
assert_eq '{"f:status":{"f:observedGeneration":{},"f:replicas":{}}}' "$(fields_of deploy/web status-writer Apply)" "status fields"
pass "server-side apply of the status subresource"

# --- client-side apply, then server-side apply ------------------------------------------------
cat >"$KL_TMP/cm.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels:
    a: "1"
data:
  k1: v1
  k2: v2
EOF
k apply -f "$KL_TMP/cm.yaml" >/dev/null
assert_eq "kubectl-client-side-apply/Update/" "$(managers cm settings)" "client-side apply entry"
assert_contains "$(fields_of cm/settings kubectl-client-side-apply Update)" \
    '"f:kubectl.kubernetes.io/last-applied-configuration":{}' "client-side apply owns the annotation"
sed -i 's/k1: v1/k1: changed/' "$KL_TMP/cm.yaml"
out=$(k apply --server-side -f "$KL_TMP/cm.yaml" 2>&1)
assert_contains "$out" "configmap/settings serverside-applied" "server-side apply after client-side apply"
assert_eq "changed" "$(k get cm settings -o jsonpath='{.data.k1}')" "value after the upgrade"
ms=$(managers cm settings)
assert_contains "$ms" "kubectl/Apply/" "managers after the upgrade"
assert_not_contains "$ms" "kubectl-client-side-apply" "kubectl migrated the client-side entry"
assert_contains "$(fields_of cm/settings kubectl Apply)" '"f:data":{"f:k1":{},"f:k2":{}}' "migrated fields"
la=$(k get cm settings -o jsonpath='{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}')
assert_contains "$la" '"k1":"changed"' "the annotation follows server-side applies"
# And the applier can now drop a field.
sed -i '/k2: v2/d' "$KL_TMP/cm.yaml"
k apply --server-side -f "$KL_TMP/cm.yaml" >/dev/null
assert_eq '{"k1":"changed"}' "$(k get cm settings -o jsonpath='{.data}')" "dropped key removed"
pass "client-side apply followed by server-side apply (kubectl's upgrade path)"

# --- creates record their manager -------------------------------------------------------------
cat >"$KL_TMP/job.yaml" <<'EOF'
apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
EOF
k create -f "$KL_TMP/job.yaml" >/dev/null
assert_eq "kubectl-create/Update/" "$(managers job once)" "create entry"
jf=$(fields_of job/once kubectl-create Update)
assert_contains "$jf" '"f:backoffLimit":{}' "the creator owns defaulted fields"
assert_not_contains "$jf" "controller-uid" "the server's own additions are not owned"
pass "kubectl create records an Update entry"

# --- a kubelua policy's ctx:patch{type="apply"} (field manager "kubelua") ---------------------
cat >"$KL_TMP/ssa-policy.lua" <<'EOF2'
return {
  name = "ssastamp",
  primary = "v1/configmaps",
  reconcile = function(ctx, key)
    local cm = ctx:get("v1/configmaps", key)
    if not cm or not cm.metadata.labels or cm.metadata.labels.ssa ~= "yes" then
      return
    end
    local applied = {
      apiVersion = "v1",
      kind = "ConfigMap",
      metadata = { name = cm.metadata.name, annotations = { ["kubelua.test/ssa"] = "v1" } },
    }
    local _, err = ctx:patch("v1/configmaps", cm.metadata.namespace, cm.metadata.name, applied,
      { type = "apply" })
    if err then
      return nil, err.message
    end
  end,
}
EOF2
RUN_LOG=$KL_TMP/run.log
"$KL_BINARY" run --kubeconfig "$KL_KUBECONFIG" --no-builtin --policies "$KL_TMP/ssa-policy.lua" \
    >"$RUN_LOG" 2>&1 &
KL_PIDS+=("$!")
k create configmap stamped --from-literal=a=b --dry-run=client -o yaml |
    sed 's/^metadata:/metadata:\n  labels:\n    ssa: "yes"/' | k apply --server-side --field-manager=tester -f - >/dev/null
stamped() {
    [ "$(k get cm stamped -o jsonpath='{.metadata.annotations.kubelua\.test/ssa}')" = v1 ]
}
eventually 20 stamped || { cat "$RUN_LOG"; fail "the policy did not apply"; }
assert_eq '{"f:metadata":{"f:annotations":{"f:kubelua.test/ssa":{}}}}' "$(fields_of cm/stamped kubelua Apply)" "the policy's Apply entry"
assert_contains "$(managers cm stamped)" "tester/Apply/" "the creator keeps its entry"
cat >"$KL_TMP/stamp-other.yaml" <<'EOF2'
apiVersion: v1
kind: ConfigMap
metadata:
  name: stamped
  annotations:
    kubelua.test/ssa: other
EOF2
out=$(k apply --server-side --field-manager=tester -f "$KL_TMP/stamp-other.yaml" 2>&1 || true)
assert_contains "$out" 'conflict with "kubelua": .metadata.annotations.kubelua.test/ssa' "conflict with the policy"
pass "a policy's server-side apply owns its fields as manager kubelua"
