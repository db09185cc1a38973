#!/usr/bin/env bash
# The built-in kinds served without a controller (RBAC, quotas, storage, policy, networking,
# autoscaling, scheduling, reviews, tokens) with the real kubectl: `kubectl create <sub>` for
# each, `kubectl get` header lines as a 1.32 server prints them, a multi-document "typical app"
# applied in one go, auth can-i / whoami, a service account token the server accepts, and
# evictions held back by a PodDisruptionBudget.
source "$(dirname "$0")/lib.bash"

command -v kubectl >/dev/null || { echo "SKIP: kubectl not installed"; exit 0; }
kl_start_apiserver

header() { k get "$@" 2>&1 | head -n1 | tr -s ' '; }

# --- kubectl create <sub> ---------------------------------------------------------------------
assert_eq "role.rbac.authorization.k8s.io/r created" "$(k create role r --verb=get,list --resource=pods)" "create role"
assert_eq "rolebinding.rbac.authorization.k8s.io/rb created" \
    "$(k create rolebinding rb --role=r --serviceaccount=default:default --user=alice)" "create rolebinding"
assert_eq "clusterrole.rbac.authorization.k8s.io/cr created" \
    "$(k create clusterrole cr --verb=get --non-resource-url=/healthz)" "create clusterrole"
assert_eq "clusterrolebinding.rbac.authorization.k8s.io/crb created" \
    "$(k create clusterrolebinding crb --clusterrole=cr --group=g)" "create clusterrolebinding"
assert_eq "resourcequota/q created" "$(k create quota q --hard=cpu=1,pods=10)" "create quota"
assert_eq "priorityclass.scheduling.k8s.io/high created" \
    "$(k create priorityclass high --value=1000 --description=d)" "create priorityclass"
assert_eq "poddisruptionbudget.policy/pdb created" \
    "$(k create poddisruptionbudget pdb --selector=app=guarded --min-available=1)" "create pdb"
assert_eq "ingress.networking.k8s.io/ing created" \
    "$(k create ingress ing --class=nginx --rule='foo.com/bar*=svc1:8080,tls=cert')" "create ingress"
k create deployment web --image=nginx >/dev/null
assert_eq "horizontalpodautoscaler.autoscaling/web autoscaled" \
    "$(k autoscale deployment web --min=2 --max=5 --cpu-percent=60)" "autoscale"
assert_eq "Deployment/web/2/5/60" \
    "$(jp '{.spec.scaleTargetRef.kind}/{.spec.scaleTargetRef.name}/{.spec.minReplicas}/{.spec.maxReplicas}/{.spec.metrics[0].resource.target.averageUtilization}' hpa web)" \
    "hpa stored as autoscaling/v2"
assert_eq '60' "$(kcurl -H "Authorization: Bearer $(kl_token)" \
    "$KL_URL/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web" |
    sed -n 's/.*"targetCPUUtilizationPercentage":\([0-9]*\).*/\1/p')" "hpa read as autoscaling/v1"
assert_eq '["get","list"]' "$(jp '{.rules[0].verbs}' role r)" "role rules"
assert_eq "rbac.authorization.k8s.io" "$(jp '{.subjects[?(@.kind=="User")].apiGroup}' rolebinding rb)" \
    "subject apiGroup defaulted"
pass "kubectl create role, rolebinding, clusterrole, clusterrolebinding, quota, priorityclass, pdb, ingress; autoscale"

# --- validation ----------------------------------------------------------------------------
out=$(k create clusterrolebinding bad --clusterrole=cr --serviceaccount=x 2>&1 || true)
assert_contains "$out" "error" "serviceaccount without a namespace"
out=$(printf 'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r2}\nrules:\n- verbs: [get]\n  nonResourceURLs: [/x]\n' |
    k apply -f - 2>&1 || true)
assert_contains "$out" "namespaced rules cannot apply to non-resource URLs" "role with URLs"
out=$(k patch rolebinding rb --type=merge -p '{"roleRef":{"name":"other"}}' 2>&1 || true)
assert_contains "$out" "cannot change roleRef" "roleRef is immutable"
out=$(k create priorityclass system-mine --value=1 2>&1 || true)
assert_contains "$out" "reserved" "system- prefix"
out=$(k patch priorityclass high --type=merge -p '{"value":5}' 2>&1 || true)
assert_contains "$out" "may not be changed in an update" "priority value is immutable"
pass "validation"

# --- get headers, as a 1.32 server prints them ---------------------------------------------
assert_eq "NAME CREATED AT" "$(header roles)" "roles header"
assert_eq "NAME ROLE AGE" "$(header rolebindings)" "rolebindings header"
assert_eq "NAME ROLE AGE USERS GROUPS SERVICEACCOUNTS" "$(header rolebindings -o wide)" "rolebindings wide"
assert_eq "rb Role/r alice default/default" \
    "$(k get rolebinding rb -o wide --no-headers | tr -s ' ' | sed 's/ [0-9]*s / /')" "rolebinding row"
assert_eq "NAME CREATED AT" "$(header clusterroles cr)" "clusterroles header"
assert_eq "NAME ROLE AGE" "$(header clusterrolebindings crb)" "clusterrolebindings header"
assert_eq "NAME REQUEST LIMIT AGE" "$(header quota)" "quota header"
assert_eq "q cpu: 0/1, pods: 0/10" "$(k get quota q --no-headers | tr -s ' ' | sed 's/ [0-9]*s$//')" "quota row"
assert_eq "NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY" "$(header pc)" "priorityclass header"
assert_eq "system-cluster-critical 2000000000 false" \
    "$(k get pc system-cluster-critical --no-headers | tr -s ' ' | cut -d' ' -f1-3)" "system priority class"
assert_eq "system-node-critical" "$(jp '{.metadata.name}' pc system-node-critical)" "system-node-critical"
assert_eq "NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE" "$(header pdb)" "pdb header"
assert_eq "NAME CLASS HOSTS ADDRESS PORTS AGE" "$(header ingress)" "ingress header"
assert_eq "ing nginx foo.com 80, 443" "$(k get ing ing --no-headers | tr -s ' ' | sed 's/ [0-9]*s$//')" "ingress row"
assert_eq "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE" "$(header hpa)" "hpa header"
assert_eq "web Deployment/web cpu: <unknown>/60% 2 5 0" \
    "$(k get hpa web --no-headers | tr -s ' ' | sed 's/ [0-9]*s$//')" "hpa row"
assert_eq "NAME SECRETS AGE" "$(header sa)" "serviceaccount header"
assert_eq "default" "$(jp '{.metadata.name}' sa default)" "default service account exists"
pass "get columns"

# --- a typical application in one apply ------------------------------------------------------
cat >"$KL_TMP/app.yaml" <<'EOF'
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: app-high}
value: 100000
description: app pods
---
apiVersion: v1
kind: Service
metadata: {name: db, labels: {app: db}}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      priorityClassName: app-high
      containers:
      - name: pg
        image: postgres:16
        ports: [{containerPort: 5432, name: pg}]
        volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: uploads}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: standard
  resources: {requests: {storage: 5Gi}}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: example.com/local
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv1}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce, ReadOnlyMany]
  hostPath: {path: /tmp/pv1}
  storageClassName: standard
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec:
  controller: k8s.io/ingress-nginx
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  ingressClassName: nginx
  rules:
  - host: app.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 5432}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web2}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: 500Mi}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: app}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: app-reader}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: app-reader}
subjects: [{kind: ServiceAccount, name: app}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: app-reader}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: db}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: db}}
---
apiVersion: v1
kind: LimitRange
metadata: {name: limits}
spec:
  limits:
  - type: Container
    max: {cpu: "2"}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
ports: [{name: pg, port: 5432}]
endpoints: [{addresses: [10.0.0.1]}, {addresses: [10.0.0.2]}]
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: gvisor}
handler: runsc
---
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 0
  template:
    metadata: {labels: {app: legacy}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: PodTemplate
metadata: {name: tmpl}
template:
  metadata: {labels: {app: t}}
  spec: {containers: [{name: c, image: busybox}]}
EOF
k apply -f "$KL_TMP/app.yaml" >"$KL_TMP/apply.out" 2>&1 || { cat "$KL_TMP/apply.out"; fail "apply typical app"; }
assert_eq 19 "$(grep -c created "$KL_TMP/apply.out")" "objects created"
k apply -f "$KL_TMP/app.yaml" >/dev/null || fail "second apply"
assert_eq "2/OrderedReady/RollingUpdate/0/Retain/Filesystem/Pending" \
    "$(jp '{.spec.replicas}/{.spec.podManagementPolicy}/{.spec.updateStrategy.type}/{.spec.updateStrategy.rollingUpdate.partition}/{.spec.persistentVolumeClaimRetentionPolicy.whenDeleted}/{.spec.volumeClaimTemplates[0].spec.volumeMode}/{.spec.volumeClaimTemplates[0].status.phase}' sts db)" \
    "statefulset defaults"
assert_eq "statefulset.apps/db scaled" "$(k scale sts db --replicas=3)" "scale statefulset"
assert_eq "3" "$(jp '{.spec.replicas}' sts db)" "statefulset replicas"
assert_eq "NAME READY AGE" "$(header sts)" "statefulset header"
assert_eq "NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE" \
    "$(header pvc)" "pvc header"
assert_eq "uploads Pending standard <unset>" "$(k get pvc uploads --no-headers | tr -s ' ' | sed 's/ [0-9]*s$//')" "pvc row"
assert_eq "NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE" \
    "$(header pv)" "pv header"
assert_eq "pv1 10Gi RWO,ROX Retain Available standard <unset>" \
    "$(k get pv pv1 --no-headers | tr -s ' ' | sed 's/ [0-9]*s$//')" "pv row"
assert_eq "NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE" "$(header sc)" "sc header"
assert_eq "standard (default) example.com/local Delete WaitForFirstConsumer false" \
    "$(k get sc --no-headers | tr -s ' ' | sed 's/ [0-9]*s$//')" "sc row"
assert_eq "NAME CONTROLLER PARAMETERS AGE" "$(header ingressclass)" "ingressclass header"
assert_eq "NAME POD-SELECTOR AGE" "$(header netpol)" "netpol header"
assert_eq "db app=db" "$(k get netpol db --no-headers | tr -s ' ' | cut -d' ' -f1-2)" "netpol row"
assert_eq '["Ingress"]/TCP' "$(jp '{.spec.policyTypes}/{.spec.ingress[0].ports[0].protocol}' netpol db)" \
    "netpol defaults"
assert_eq "NAME ADDRESSTYPE PORTS ENDPOINTS AGE" "$(header endpointslices)" "endpointslice header"
assert_eq "db-1 IPv4 5432 10.0.0.1,10.0.0.2" \
    "$(k get endpointslice db-1 --no-headers | tr -s ' ' | sed 's/ [0-9]*s$//')" "endpointslice row"
assert_eq "web2 Deployment/web memory: <unknown>/500Mi 1 4 0" \
    "$(k get hpa web2 --no-headers | tr -s ' ' | sed 's/ [0-9]*s$//')" "hpa v2 row"
assert_eq "NAME HANDLER AGE" "$(header runtimeclass)" "runtimeclass header"
assert_eq "NAME DESIRED CURRENT READY AGE" "$(header rc)" "rc header"
assert_eq "NAME CONTAINERS IMAGES POD LABELS" "$(header podtemplates)" "podtemplate header"
assert_eq "NAME CREATED AT" "$(header limitranges)" "limitrange header"
assert_eq "2" "$(jp '{.spec.limits[0].default.cpu}' limitrange limits)" "limitrange defaults"
out=$(k patch pvc uploads --type=merge -p '{"spec":{"accessModes":["ReadWriteMany"]}}' 2>&1 || true)
assert_contains "$out" "spec is immutable after creation" "pvc spec immutable"
pass "typical app applied, defaulted and printed"

# --- garbage collection and field selectors work for the new kinds -------------------------
uid=$(jp '{.metadata.uid}' sts db)
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owned\n  ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: %s}]\n' "$uid" | kapply
assert_eq "db" "$(k get sts --field-selector metadata.name=db -o jsonpath='{.items[*].metadata.name}')" "field selector"
k delete sts db >/dev/null
eventually 10 bash -c "! kubectl --kubeconfig '$KL_KUBECONFIG' --cache-dir '$KL_CACHE' get cm owned"
pass "garbage collection and field selectors"

# --- auth -----------------------------------------------------------------------------------
assert_eq "yes" "$(k auth can-i create pods)" "auth can-i"
assert_eq "yes" "$(k auth can-i get /healthz)" "auth can-i non-resource"
assert_contains "$(k auth can-i --list)" "*.*" "auth can-i --list"
assert_contains "$(k auth whoami)" "kubelua-admin" "auth whoami"
pass "auth can-i and whoami"

# --- service account tokens -------------------------------------------------------------------
tok=$(k create token app --duration=15m)
[ -n "$tok" ] || fail "create token printed nothing"
code=$(kcurl -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$KL_URL/api/v1/namespaces/default/configmaps")
assert_eq 200 "$code" "the issued token is accepted"
code=$(kcurl -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${tok}x" "$KL_URL/api/v1/namespaces")
assert_eq 401 "$code" "a tampered token is refused"
assert_contains "$(kcurl -H "Authorization: Bearer $tok" -X POST -H 'Content-Type: application/json' \
    -d '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}' \
    "$KL_URL/apis/authentication.k8s.io/v1/selfsubjectreviews")" "system:serviceaccount:default:app" \
    "whoami with the token"
out=$(k create token app --duration=1m 2>&1 || true)
assert_contains "$out" "less than 10 minutes" "short durations are refused"
k delete sa app >/dev/null
code=$(kcurl -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$KL_URL/api/v1/namespaces")
assert_eq 401 "$code" "the token of a deleted service account is refused"
k create ns other >/dev/null
eventually 10 k get sa default -n other
pass "service account tokens"

# --- evictions honour PodDisruptionBudgets ----------------------------------------------------
for i in 1 2; do
    printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: g%s, labels: {app: guarded}}\nspec: {containers: [{name: c, image: busybox}]}\n' "$i" | kapply
    k patch pod "g$i" --subresource=status --type=merge \
        -p '{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}' >/dev/null
done
evict() {
    kcurl -o "$KL_TMP/evict.json" -w '%{http_code}' -H "Authorization: Bearer $(kl_token)" \
        -H 'Content-Type: application/json' -X POST \
        -d "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"$1\"}}" \
        "$KL_URL/api/v1/namespaces/default/pods/$1/eviction"
}
assert_eq 201 "$(evict g1)" "first eviction allowed (2 healthy, 1 needed)"
k delete pod g1 --grace-period=0 --force >/dev/null 2>&1 || true
assert_eq 429 "$(evict g2)" "second eviction refused"
assert_contains "$(cat "$KL_TMP/evict.json")" "needs 1 healthy pods and has 1 currently" "budget message"
pass "evictions honour PodDisruptionBudgets"

# --- discovery ------------------------------------------------------------------------------
res=$(k api-resources --no-headers | tr -s ' ')
for want in "clusterroles rbac.authorization.k8s.io/v1 false ClusterRole" \
    "roles rbac.authorization.k8s.io/v1 true Role" \
    "horizontalpodautoscalers hpa autoscaling/v2 true HorizontalPodAutoscaler" \
    "statefulsets sts apps/v1 true StatefulSet" \
    "persistentvolumeclaims pvc v1 true PersistentVolumeClaim" \
    "priorityclasses pc scheduling.k8s.io/v1 false PriorityClass" \
    "selfsubjectaccessreviews authorization.k8s.io/v1 false SelfSubjectAccessReview" \
    "tokenreviews authentication.k8s.io/v1 false TokenReview" \
    "ingresses ing networking.k8s.io/v1 true Ingress" \
    "poddisruptionbudgets pdb policy/v1 true PodDisruptionBudget"; do
    assert_contains "$res" "$want" "api-resources"
done
assert_contains "$(k api-resources --categories=all -o name)" "statefulsets.apps" "category all"
pass "api-resources"

# ---- Secrets: stringData is folded into data and never stored ---------------------------------
k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Secret
metadata: {name: creds}
type: Opaque
data: {user: YWRtaW4=, password: b2xk}
stringData: {password: hunter2, token: "t 1"}
YAML
assert_eq "admin hunter2 t 1" "$(k get secret creds -o jsonpath='{.data.user} {.data.password} {.data.token}' |
    { read -r u p t; echo "$(echo "$u" | base64 -d) $(echo "$p" | base64 -d) $(echo "$t" | base64 -d)"; })" \
    "stringData merged into data"
assert_eq "" "$(k get secret creds -o jsonpath='{.stringData}')" "stringData not stored"
k patch secret creds --type merge -p '{"stringData":{"token":"t2"}}' >/dev/null
assert_eq "dDI=" "$(k get secret creds -o jsonpath='{.data.token}')" "stringData in a patch"
pass "Secret stringData"

# ---- autoscaling/v1 HorizontalPodAutoscalers changed after creation -----------------------------
# Stored as autoscaling/v2; a v1 patch or apply sees (and changes) the v1 form.
cat >"$KL_TMP/hpa1.yaml" <<'YAML'
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: hpa1}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  targetCPUUtilizationPercentage: 50
YAML
for round in 1 2; do
    assert_eq "horizontalpodautoscaler.autoscaling/hpa1 serverside-applied" \
        "$(k apply --server-side -f "$KL_TMP/hpa1.yaml")" "server-side apply of a v1 HPA ($round)"
done
sed -i 's/maxReplicas: 5/maxReplicas: 6/; s/Percentage: 50/Percentage: 70/' "$KL_TMP/hpa1.yaml"
k apply --server-side -f "$KL_TMP/hpa1.yaml" >/dev/null
assert_eq "6/70" "$(jp '{.spec.maxReplicas}/{.spec.metrics[0].resource.target.averageUtilization}' hpa hpa1)" \
    "server-side apply changes a v1 HPA"
k patch horizontalpodautoscalers.v1.autoscaling hpa1 --type merge \
    -p '{"spec":{"targetCPUUtilizationPercentage":80}}' >/dev/null
assert_eq "6/80" "$(jp '{.spec.maxReplicas}/{.spec.metrics[0].resource.target.averageUtilization}' hpa hpa1)" \
    "merge patch of a v1 HPA"
pass "autoscaling/v1 HPA: server-side apply and patch after creation"
