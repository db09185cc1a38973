#!/usr/bin/env bash
# Protobuf request bodies: kubectl 1.32's typed `create` subcommands (which POST
# application/vnd.kubernetes.protobuf) against `kubelua apiserver`, each created object checked
# with `kubectl get -o json`; scale and rollout restart next to them; hand-made protobuf
# DeleteOptions and Eviction bodies; malformed bodies answered 400, protobuf for custom
# resources and patches 415.
source "$(dirname "$0")/lib.bash"

command -v kubectl >/dev/null || { echo "SKIP: kubectl not installed"; exit 0; }
kl_start_apiserver

# kubectl 1.31 and older send JSON here; the dispatcher picks 1.32 for our /version.
verbose=$(k create configmap probe --from-literal=x=y -v=8 2>&1)
assert_contains "$verbose" "configmap/probe created" "create configmap -v=8"
assert_contains "$verbose" "application/vnd.kubernetes.protobuf" "kubectl sends protobuf"
pass "kubectl sends protobuf bodies"

jget() { k get "$1" -o jsonpath="$2"; }

# --- configmap, secrets -----------------------------------------------------------------------
out=$(k create configmap c --from-literal=a=b --from-literal=empty=)
assert_eq "configmap/c created" "$out" "create configmap"
assert_eq 'b|' "$(jget cm/c '{.data.a}|{.data.empty}')" "configmap data"
assert_contains "$(k get cm c -o json)" '"empty": ""' "empty value kept"

out=$(k create secret generic s --from-literal=k=v --from-literal=bin=$'\xe2\x82\xac')
assert_eq "secret/s created" "$out" "create secret generic"
assert_eq "dg==" "$(jget secret/s '{.data.k}')" "secret data is base64 of v"
assert_eq "v" "$(jget secret/s '{.data.k}' | base64 -d)" "secret data round trip"
assert_eq $'\xe2\x82\xac' "$(jget secret/s '{.data.bin}' | base64 -d)" "secret bytes round trip"
assert_eq "Opaque" "$(jget secret/s '{.type}')" "secret type defaulted"

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=t -keyout "$KL_TMP/tls.key" \
    -out "$KL_TMP/tls.crt" 2>/dev/null
out=$(k create secret tls t --cert="$KL_TMP/tls.crt" --key="$KL_TMP/tls.key")
assert_eq "secret/t created" "$out" "create secret tls"
assert_eq "kubernetes.io/tls" "$(jget secret/t '{.type}')" "tls secret type"
jget secret/t '{.data.tls\.crt}' | base64 -d >"$KL_TMP/back.crt"
cmp -s "$KL_TMP/tls.crt" "$KL_TMP/back.crt" || fail "tls.crt differs after the round trip"
out=$(k create secret docker-registry reg --docker-server=r.example --docker-username=u \
    --docker-password=p)
assert_eq "secret/reg created" "$out" "create secret docker-registry"
assert_contains "$(jget secret/reg '{.data.\.dockerconfigjson}' | base64 -d)" '"r.example"' \
    "dockerconfigjson"
pass "configmap and secrets"

# --- namespace, serviceaccount -----------------------------------------------------------------
assert_eq "namespace/n created" "$(k create namespace n)" "create namespace"
assert_eq "Active" "$(jget ns/n '{.status.phase}')" "namespace phase"
assert_eq "kubernetes" "$(jget ns/n '{.spec.finalizers[0]}')" "namespace finalizer"
assert_eq "serviceaccount/sa created" "$(k create serviceaccount sa -n n)" "create sa"
assert_eq "sa" "$(k get sa sa -n n -o jsonpath='{.metadata.name}')" "service account"
pass "namespace and service account"

# --- deployments ----------------------------------------------------------------------------
out=$(k create deployment d --image=nginx --replicas=3 --port=80)
assert_eq "deployment.apps/d created" "$out" "create deployment"
assert_eq "3/RollingUpdate/25%/d/80/nginx" \
    "$(jget deploy/d '{.spec.replicas}/{.spec.strategy.type}/{.spec.strategy.rollingUpdate.maxSurge}/{.spec.template.metadata.labels.app}/{.spec.template.spec.containers[0].ports[0].containerPort}/{.spec.template.spec.containers[0].image}')" \
    "deployment fields and defaults"
assert_eq "Always/ClusterFirst/File" \
    "$(jget deploy/d '{.spec.template.spec.restartPolicy}/{.spec.template.spec.dnsPolicy}/{.spec.template.spec.containers[0].terminationMessagePolicy}')" \
    "pod template defaults (the empty strings kubectl encodes are not values)"
# A zero in a pointer field is a value: replicas 0 must not become the default 1.
k create deployment d0 --image=nginx --replicas=0 >/dev/null
assert_eq "0" "$(jget deploy/d0 '{.spec.replicas}')" "replicas 0 kept"

assert_eq "deployment.apps/d scaled" "$(k scale deployment d --replicas=5)" "scale"
assert_eq "5" "$(jget deploy/d '{.spec.replicas}')" "replicas after scale"
assert_eq "deployment.apps/d scaled" "$(k scale deployment d --current-replicas=5 --replicas=4)" \
    "scale with a precondition"
assert_eq "4" "$(jget deploy/d '{.spec.replicas}')" "replicas after the second scale"
# Scale.spec.replicas is int32 omitempty: kubectl's Scale for 0 has "spec":{}.
assert_eq "deployment.apps/d0 scaled" "$(k scale deployment d0 --current-replicas=0 --replicas=2)" \
    "scale up with a precondition"
assert_eq "deployment.apps/d0 scaled" "$(k scale deployment d0 --current-replicas=2 --replicas=0)" \
    "scale to zero with a precondition"
assert_eq "0" "$(jget deploy/d0 '{.spec.replicas}')" "replicas after scaling to zero"
assert_eq "deployment.apps/d restarted" "$(k rollout restart deployment d)" "rollout restart"
assert_contains "$(jget deploy/d '{.spec.template.metadata.annotations}')" \
    "kubectl.kubernetes.io/restartedAt" "restartedAt annotation"
pass "deployments, scale, rollout restart"

# --- jobs and cronjobs --------------------------------------------------------------------
assert_eq "job.batch/j created" "$(k create job j --image=busybox -- echo hi)" "create job"
assert_eq '["echo","hi"]/Never/6/1' \
    "$(jget job/j '{.spec.template.spec.containers[0].command}/{.spec.template.spec.restartPolicy}/{.spec.backoffLimit}/{.spec.completions}')" \
    "job fields and defaults"
assert_contains "$(jget job/j '{.spec.selector.matchLabels}')" "batch.kubernetes.io/controller-uid" \
    "generated job selector"
out=$(k create cronjob cj --image=busybox --schedule='*/1 * * * *' -- date)
assert_eq "cronjob.batch/cj created" "$out" "create cronjob"
assert_eq "*/1 * * * */Allow/false/3/date" \
    "$(jget cronjob/cj '{.spec.schedule}/{.spec.concurrencyPolicy}/{.spec.suspend}/{.spec.successfulJobsHistoryLimit}/{.spec.jobTemplate.spec.template.spec.containers[0].command[0]}')" \
    "cronjob fields and defaults"
assert_eq "job.batch/manual created" "$(k create job --from=cronjob/cj manual)" "job from cronjob"
assert_eq "CronJob/cj/true/manual" \
    "$(jget job/manual '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}/{.metadata.annotations.cronjob\.kubernetes\.io/instantiate}')" \
    "job from cronjob: owner and annotation"
assert_eq "$(jget cronjob/cj '{.metadata.uid}')" "$(jget job/manual '{.metadata.ownerReferences[0].uid}')" \
    "owner uid"
pass "jobs and cronjobs"

# --- services -------------------------------------------------------------------------------
assert_eq "service/s created" "$(k create service clusterip s --tcp=80:8080)" "clusterip"
assert_eq "ClusterIP/80/8080/TCP/s" \
    "$(jget svc/s '{.spec.type}/{.spec.ports[0].port}/{.spec.ports[0].targetPort}/{.spec.ports[0].protocol}/{.spec.selector.app}')" \
    "clusterip service"
k create service nodeport np --tcp=80:8080 --node-port=30080 >/dev/null
assert_eq "NodePort/30080" "$(jget svc/np '{.spec.type}/{.spec.ports[0].nodePort}')" "nodeport"
k create service externalname en --external-name=example.com >/dev/null
assert_eq "ExternalName/example.com" "$(jget svc/en '{.spec.type}/{.spec.externalName}')" \
    "externalname"
k create service loadbalancer lb --tcp=443 >/dev/null
assert_eq "LoadBalancer/443" "$(jget svc/lb '{.spec.type}/{.spec.ports[0].targetPort}')" \
    "loadbalancer"
pass "services"

# --- kinds this server may not serve: checked when discovery lists them ----------------------
served=$(k api-resources -o name 2>/dev/null)
try_create() { # resource-name check-jsonpath expected command...
    local res=$1 path=$2 want=$3
    shift 3
    if ! grep -qx "$res" <<<"$served"; then
        out=$("$@" 2>&1 || true)
        assert_contains "$out" "the server could not find the requested resource" "$res unserved"
        echo "note: $res is not served; '$*' answers NotFound"
        return
    fi
    "$@" >/dev/null
    assert_eq "$want" "$(k get "$res" -o jsonpath="$path")" "$res"
}
try_create roles.rbac.authorization.k8s.io '{.items[0].rules[0].verbs}' '["get","list"]' \
    k create role r --verb=get,list --resource=pods
try_create rolebindings.rbac.authorization.k8s.io '{.items[0].roleRef.name}' r \
    k create rolebinding rb --role=r --serviceaccount=default:sa
try_create clusterroles.rbac.authorization.k8s.io '{.items[?(@.metadata.name=="cr")].rules[0].nonResourceURLs}' \
    '["/healthz"]' k create clusterrole cr --verb=get --non-resource-url=/healthz
try_create clusterrolebindings.rbac.authorization.k8s.io \
    '{.items[?(@.metadata.name=="crb")].subjects[0].name}' g \
    k create clusterrolebinding crb --clusterrole=cr --group=g
try_create resourcequotas '{.items[0].spec.hard.cpu}' 1 k create quota q --hard=cpu=1,pods=10
try_create priorityclasses.scheduling.k8s.io '{.items[?(@.metadata.name=="pc0")].value}' 0 \
    k create priorityclass pc0 --value=0
try_create poddisruptionbudgets.policy '{.items[0].spec.maxUnavailable}' 0 \
    k create poddisruptionbudget pdb --selector=app=x --max-unavailable=0
try_create ingresses.networking.k8s.io '{.items[0].spec.rules[0].http.paths[0].backend.service.port.number}' \
    8080 k create ingress ing --rule="foo.com/bar=svc1:8080"
out=$(k create token default 2>&1 || true)
# api-resources does not list subresources: a JWT back means serviceaccounts/token is served.
if [[ "$out" == eyJ*.*.* ]]; then
    [ -n "$out" ] || fail "create token printed nothing"
else
    assert_contains "$out" "the server could not find the requested resource" "token unserved"
    echo "note: serviceaccounts/token is not served"
fi
pass "kinds served or not"

# --- hand-made protobuf bodies with curl -----------------------------------------------------
# pb_ld NUM IN OUT: appends field NUM (length-delimited) holding file IN to OUT.
pb_ld() {
    local n
    n=$(stat -c %s "$2")
    printf "\\x$(printf %02x $(($1 << 3 | 2)))" >>"$3"
    if [ "$n" -lt 128 ]; then
        printf "\\x$(printf %02x "$n")" >>"$3"
    else
        printf "\\x$(printf %02x $((n & 127 | 128)))\\x$(printf %02x $((n >> 7)))" >>"$3"
    fi
    cat "$2" >>"$3"
}
pb_small() { # NUM VALUE(<128) OUT: a varint field
    printf "\\x$(printf %02x $(($1 << 3)))\\x$(printf %02x "$2")" >>"$3"
}
pb_str() { # NUM STRING OUT
    printf '%s' "$2" >"$KL_TMP/s.tmp"
    pb_ld "$1" "$KL_TMP/s.tmp" "$3"
}
# envelope API_VERSION KIND RAW_FILE OUT
envelope() {
    : >"$KL_TMP/tm.tmp"
    pb_str 1 "$1" "$KL_TMP/tm.tmp"
    pb_str 2 "$2" "$KL_TMP/tm.tmp"
    printf 'k8s\0' >"$4"
    pb_ld 1 "$KL_TMP/tm.tmp" "$4"
    pb_ld 2 "$3" "$4"
}
pcurl() {
    kcurl -o "$KL_TMP/resp.json" -w '%{http_code}' -H "Authorization: Bearer $(kl_token)" \
        -H "Content-Type: application/vnd.kubernetes.protobuf" "$@"
}

# DeleteOptions {propagationPolicy = 4: "Orphan"} deleting job j keeps its pods' owner alone.
: >"$KL_TMP/opts.raw"
pb_str 4 Orphan "$KL_TMP/opts.raw"
envelope batch/v1 DeleteOptions "$KL_TMP/opts.raw" "$KL_TMP/opts.pb"
code=$(pcurl -X DELETE --data-binary @"$KL_TMP/opts.pb" "$KL_URL/apis/batch/v1/namespaces/default/jobs/j")
assert_eq 200 "$code" "DELETE with protobuf DeleteOptions"
out=$(k get job j 2>&1 || true)
assert_contains "$out" "NotFound" "job deleted"

# Eviction {metadata = 1 {name = 1, namespace = 3}} of a pod.
k run victim --image=busybox --restart=Never >/dev/null
: >"$KL_TMP/md.raw"
pb_str 1 victim "$KL_TMP/md.raw"
pb_str 3 default "$KL_TMP/md.raw"
: >"$KL_TMP/ev.raw"
pb_ld 1 "$KL_TMP/md.raw" "$KL_TMP/ev.raw"
envelope policy/v1 Eviction "$KL_TMP/ev.raw" "$KL_TMP/ev.pb"
code=$(pcurl -X POST --data-binary @"$KL_TMP/ev.pb" "$KL_URL/api/v1/namespaces/default/pods/victim/eviction")
assert_eq 201 "$code" "eviction with a protobuf body"
# Scale {metadata = 1 {name = 1}, spec = 2 {replicas = 1}} PUT to deployments/d/scale.
: >"$KL_TMP/smd.raw"
pb_str 1 d "$KL_TMP/smd.raw"
: >"$KL_TMP/sspec.raw"
pb_small 1 7 "$KL_TMP/sspec.raw"
: >"$KL_TMP/scale.raw"
pb_ld 1 "$KL_TMP/smd.raw" "$KL_TMP/scale.raw"
pb_ld 2 "$KL_TMP/sspec.raw" "$KL_TMP/scale.raw"
envelope autoscaling/v1 Scale "$KL_TMP/scale.raw" "$KL_TMP/scale.pb"
code=$(pcurl -X PUT --data-binary @"$KL_TMP/scale.pb" "$KL_URL/apis/apps/v1/namespaces/default/deployments/d/scale")
assert_eq 200 "$code" "PUT scale with a protobuf body"
assert_contains "$(cat "$KL_TMP/resp.json")" '"kind":"Scale"' "scale answer"
assert_eq "7" "$(jget deploy/d '{.spec.replicas}')" "replicas after the protobuf scale"
pass "protobuf DeleteOptions, Eviction and Scale"

# Malformed bodies: 400 with a reason, never a crash.
printf 'hello' >"$KL_TMP/bad1"
code=$(pcurl -X POST --data-binary @"$KL_TMP/bad1" "$KL_URL/api/v1/namespaces/default/configmaps")
assert_eq 400 "$code" "no magic"
assert_contains "$(cat "$KL_TMP/resp.json")" "expected prefix [107 56 115 0]" "no magic message"
assert_contains "$(cat "$KL_TMP/resp.json")" '"reason":"BadRequest"' "no magic reason"
printf 'k8s\0\x12\x30\x0a\x05' >"$KL_TMP/bad2"
code=$(pcurl -X POST --data-binary @"$KL_TMP/bad2" "$KL_URL/api/v1/namespaces/default/configmaps")
assert_eq 400 "$code" "truncated"
assert_contains "$(cat "$KL_TMP/resp.json")" "ConfigMap in version \\\"v1\\\" cannot be handled as a ConfigMap: invalid protobuf" \
    "truncated message"
head -c 60 "$KL_SOURCE_DIR/tests/fixtures/proto/create-deployment.bin" >"$KL_TMP/bad3"
code=$(pcurl -X POST --data-binary @"$KL_TMP/bad3" "$KL_URL/apis/apps/v1/namespaces/default/deployments")
assert_eq 400 "$code" "cut deployment"
: >"$KL_TMP/w.raw"
pb_str 1 x "$KL_TMP/w.raw"
envelope example.com/v1 Widget "$KL_TMP/w.raw" "$KL_TMP/w.pb"
code=$(pcurl -X POST --data-binary @"$KL_TMP/w.pb" "$KL_URL/api/v1/namespaces/default/configmaps")
assert_eq 400 "$code" "unknown kind"
assert_contains "$(cat "$KL_TMP/resp.json")" 'no kind \"Widget\"' "unknown kind message"
# A protobuf Role posted to configmaps: refused as the same JSON is.
code=$(pcurl -X POST --data-binary @"$KL_SOURCE_DIR/tests/fixtures/proto/create-role.bin" \
    "$KL_URL/api/v1/namespaces/default/configmaps")
assert_eq 400 "$code" "kind mismatch"
# Patches are never protobuf.
code=$(pcurl -X PATCH --data-binary @"$KL_SOURCE_DIR/tests/fixtures/proto/create-configmap.bin" \
    "$KL_URL/api/v1/namespaces/default/configmaps/c")
assert_eq 415 "$code" "protobuf patch"
# Custom resources have no protobuf form.
cat >"$KL_TMP/crd.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {plural: widgets, singular: widget, kind: Widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
EOF
k apply -f "$KL_TMP/crd.yaml" >/dev/null
eventually 10 k get widgets
code=$(pcurl -X POST --data-binary @"$KL_TMP/w.pb" "$KL_URL/apis/example.com/v1/namespaces/default/widgets")
assert_eq 415 "$code" "protobuf custom resource"
# Still serving.
assert_eq "ok" "$(kcurl "$KL_URL/healthz")" "healthz after the bad bodies"
pass "malformed protobuf: 400, patches and custom resources: 415"
