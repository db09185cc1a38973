#!/usr/bin/env bash
# CustomResourceDefinition schemas enforced like kube-apiserver, seen through the real kubectl:
# defaults filled in on create, update, patch and server-side apply (and shown on objects that
# existed before a default was added, also after a restart), value validation with upstream's
# messages, pruning and strict field validation, status written only through the status
# subresource and judged by its own schema, ratcheting of unchanged values, and CRDs whose
# defaults or patterns are wrong refused. The DaemonJob example is one of the CRDs.
source "$(dirname "$0")/lib.bash"

command -v kubectl >/dev/null || { echo "SKIP: kubectl not installed"; exit 0; }

kl_start_apiserver
EX=$KL_SOURCE_DIR/examples

# --- The DaemonJob example: backoffLimit defaults to 6 and may not be negative --------------
k apply -f "$EX/daemonjob/crd.yaml" >/dev/null
eventually 10 k get daemonjobs
cat >"$KL_TMP/dj-good.yaml" <<'EOF'
apiVersion: kubelua.io/v1alpha1
kind: DaemonJob
metadata:
  name: good
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ["true"]}]
EOF
out=$(k apply -f "$KL_TMP/dj-good.yaml")
assert_contains "$out" "daemonjob.kubelua.io/good created" "apply a DaemonJob"
out=$(k get dj good -o yaml)
assert_contains "$out" "backoffLimit: 6" "the schema's default in get -o yaml"
sed -e 's/name: good/name: bad/' -e 's/restartPolicy: Never/restartPolicy: Always/' \
    -e 's/^spec:/spec:\n  backoffLimit: -1/' "$KL_TMP/dj-good.yaml" >"$KL_TMP/dj-bad.yaml"
out=$(k apply -f "$KL_TMP/dj-bad.yaml" 2>&1 || true)
assert_contains "$out" 'The DaemonJob "bad" is invalid: ' "invalid DaemonJob"
assert_contains "$out" "spec.backoffLimit: Invalid value: -1: spec.backoffLimit in body should be greater than or equal to 0" "minimum"
assert_contains "$out" 'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "Never", "OnFailure"' "enum"
if k get dj bad >/dev/null 2>&1; then fail "the invalid DaemonJob was stored"; fi
pass "daemonjob example: default 6 applied, negative backoffLimit refused"

# --- CRDs whose schemas are wrong are refused --------------------------------------------
cat >"$KL_TMP/widgets.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            default: {}
            properties:
              size: {type: string, enum: [small, large], default: small}
              replicas: {type: integer, format: int32, minimum: 0, maximum: 10, default: 1}
              name: {type: string, pattern: '^[a-z][a-z0-9-]*$', maxLength: 12}
              ratio: {type: number, multipleOf: 0.25}
              since: {type: string, format: date-time}
              resources:
                type: object
                default: {}
                properties:
                  cpu: {type: string, default: 100m}
                  memory: {type: string, default: 64Mi}
              labels:
                type: object
                additionalProperties: {type: string, maxLength: 8}
              tags:
                type: array
                maxItems: 3
                x-kubernetes-list-type: set
                items: {type: string}
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [port]
                items:
                  type: object
                  required: [port]
                  properties:
                    port: {type: integer, minimum: 1, maximum: 65535}
                    protocol: {type: string, default: TCP}
          status:
            type: object
            properties:
              ready: {type: integer, minimum: 0}
              phase: {type: string, enum: [Pending, Running]}
EOF
sed -e 's/maximum: 10, default: 1}/maximum: 10, default: 11}/' \
    -e "s/cpu: {type: string, default: 100m}/cpu: {type: string, default: 100m, pattern: '(['}/" \
    "$KL_TMP/widgets.yaml" >"$KL_TMP/widgets-bad.yaml"
out=$(k apply -f "$KL_TMP/widgets-bad.yaml" 2>&1 || true)
assert_contains "$out" 'The CustomResourceDefinition "widgets.example.com" is invalid' "bad CRD"
assert_contains "$out" "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[resources].properties[cpu].pattern: Invalid value: \"([\": must be a valid regular expression, but isn't" "bad pattern"
sed -e 's/maximum: 10, default: 1}/maximum: 10, default: 11}/' "$KL_TMP/widgets.yaml" \
    >"$KL_TMP/widgets-bad2.yaml"
out=$(k apply -f "$KL_TMP/widgets-bad2.yaml" 2>&1 || true)
assert_contains "$out" "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[replicas].default: Invalid value: 11:  in body should be less than or equal to 10" "default out of bounds"
if k get crd widgets.example.com >/dev/null 2>&1; then fail "the invalid CRD was stored"; fi
pass "CRDs with an invalid default or pattern refused"

out=$(k apply -f "$KL_TMP/widgets.yaml")
assert_contains "$out" "created" "apply the Widget CRD"
eventually 10 k get widgets

# --- Defaults at every level --------------------------------------------------------------
cat >"$KL_TMP/w1.yaml" <<'EOF'
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1}
spec:
  name: first
  resources: {cpu: 250m}
  ports: [{port: 80}, {port: 443, protocol: UDP}]
EOF
k apply -f "$KL_TMP/w1.yaml" >/dev/null
out=$(k get widget w1 -o jsonpath='{.spec.size} {.spec.replicas} {.spec.resources.cpu} {.spec.resources.memory} {.spec.ports[0].protocol} {.spec.ports[1].protocol}')
assert_eq "small 1 250m 64Mi TCP UDP" "$out" "defaults of properties, nested objects and items"
printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w0}\n' | k apply -f - >/dev/null
out=$(k get widget w0 -o jsonpath='{.spec}')
assert_eq '{"replicas":1,"resources":{"cpu":"100m","memory":"64Mi"},"size":"small"}' "$out" "spec from its default {}"
pass "defaults filled in (spec: {} default, nested, array items)"

# --- Validation messages ------------------------------------------------------------------
bad() { # name, spec (flow YAML), expected message
    local out
    out=$(printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: %s}\nspec: %s\n' "$1" "$2" |
        k apply -f - 2>&1 || true)
    assert_contains "$out" "$3" "widget $1"
}
bad b1 '{replicas: 11}' 'spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10'
bad b2 '{size: huge}' 'spec.size: Unsupported value: "huge": supported values: "small", "large"'
bad b3 '{name: Bad_Name}' "spec.name: Invalid value: \"Bad_Name\": spec.name in body should match '^[a-z][a-z0-9-]*\$'"
bad b4 '{name: much-too-long-name}' 'spec.name: Too long: may not be more than 12 bytes'
bad b5 '{ratio: 0.3}' 'spec.ratio: Invalid value: 0.3: spec.ratio in body should be a multiple of 0.25'
bad b6 '{since: yesterday}' 'spec.since: Invalid value: "yesterday": spec.since in body must be of type date-time: "yesterday"'
bad b7 '{labels: {team: far-too-long}}' 'spec.labels.team: Too long: may not be more than 8 bytes'
bad b8 '{tags: [a, b, a]}' 'spec.tags[2]: Duplicate value: "a"'
bad b9 '{tags: [a, b, c, d]}' 'spec.tags: Too many: 4: must have at most 3 items'
bad b10 '{ports: [{port: 80}, {port: 80, protocol: UDP}]}' 'spec.ports[1]: Duplicate value: map[string]interface {}{"port":80}'
bad b11 '{ports: [{protocol: UDP}]}' 'spec.ports[0].port: Required value'
bad b12 '{replicas: many}' 'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"'
pass "value validation with upstream's messages"

# --- Unknown fields: pruned, or refused with fieldValidation=Strict (kubectl's default) ----
out=$(printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: u1}\nspec: {bogus: 1, resources: {gpu: 1}}\n' |
    k apply -f - 2>&1 || true)
assert_contains "$out" 'strict decoding error: unknown field "spec.bogus", unknown field "spec.resources.gpu"' "strict"
out=$(printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: u1}\nspec: {bogus: 1}\n' |
    k apply --validate=warn -f - 2>&1)
# (the server writes the field's quotes as ' in Warning headers)
assert_contains "$out" "unknown field" "warn"
assert_contains "$out" "spec.bogus" "warn"
out=$(k get widget u1 -o jsonpath='{.spec}')
assert_not_contains "$out" "bogus" "pruned field"
pass "unknown fields: strict error, warning and pruning"

# --- Patches and server-side apply get defaults too ---------------------------------------
k patch widget w1 --type=json -p '[{"op":"remove","path":"/spec/resources/memory"}]' >/dev/null
out=$(k get widget w1 -o jsonpath='{.spec.resources.memory}')
assert_eq "64Mi" "$out" "default back after a JSON patch removed it"
k patch widget w1 --type=merge -p '{"spec":{"replicas":null}}' >/dev/null
out=$(k get widget w1 -o jsonpath='{.spec.replicas}')
assert_eq "1" "$out" "default after a merge patch nulled the field"
out=$(k patch widget w1 --type=merge -p '{"spec":{"replicas":-1}}' 2>&1 || true)
assert_contains "$out" 'spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0' "patch validated"
printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: s1}\nspec: {size: large}\n' |
    k apply --server-side -f - >/dev/null
out=$(k get widget s1 -o jsonpath='{.spec.size} {.spec.replicas} {.spec.resources.cpu}')
assert_eq "large 1 100m" "$out" "server-side apply"
pass "JSON patch, merge patch and server-side apply are defaulted and validated"

# --- Status subresource: validated against the status schema, main writes keep it ---------
out=$(k patch widget w1 --subresource=status --type=merge -p '{"status":{"ready":-1}}' 2>&1 || true)
assert_contains "$out" 'status.ready: Invalid value: -1: status.ready in body should be greater than or equal to 0' "status validated"
out=$(k patch widget w1 --subresource=status --type=merge -p '{"status":{"phase":"Done"}}' 2>&1 || true)
assert_contains "$out" 'status.phase: Unsupported value: "Done": supported values: "Pending", "Running"' "status enum"
k patch widget w1 --subresource=status --type=merge -p '{"status":{"ready":2,"phase":"Running"}}' >/dev/null
k patch widget w1 --type=merge -p '{"spec":{"replicas":3},"status":{"ready":-5}}' >/dev/null
out=$(k get widget w1 -o jsonpath='{.spec.replicas} {.status.ready} {.status.phase}')
assert_eq "3 2 Running" "$out" "status kept by a main-resource write"
pass "status subresource validated by its schema"

# --- Ratcheting: a tightened schema does not block writes that leave old values alone ------
sed -e 's/maximum: 10, default: 1}/maximum: 2, default: 1}/' "$KL_TMP/widgets.yaml" >"$KL_TMP/widgets-tight.yaml"
k apply -f "$KL_TMP/widgets-tight.yaml" >/dev/null
k label widget w1 touched=yes >/dev/null
k patch widget w1 --type=merge -p '{"spec":{"name":"renamed"}}' >/dev/null
out=$(k patch widget w1 --type=merge -p '{"spec":{"replicas":4}}' 2>&1 || true)
assert_contains "$out" 'spec.replicas: Invalid value: 4: spec.replicas in body should be less than or equal to 2' "changed value judged"
pass "ratcheting: unchanged invalid values pass, changed ones are judged"

# --- Reading: a default added to the CRD shows on existing objects, also after a restart ---
sed -e 's/^              since: /              color: {type: string, default: blue}\n              since: /' \
    "$KL_TMP/widgets.yaml" >"$KL_TMP/widgets-color.yaml"
k apply -f "$KL_TMP/widgets-color.yaml" >/dev/null
out=$(k get widget w0 -o jsonpath='{.spec.color}')
assert_eq "blue" "$out" "new default on an existing object"
kl_stop_apiserver
kl_start_apiserver "$KL_DATA"
out=$(k get widget w0 -o jsonpath='{.spec.color} {.spec.replicas}')
assert_eq "blue 1" "$out" "defaults after a restart"
out=$(k get dj good -o jsonpath='{.spec.backoffLimit}')
assert_eq "6" "$out" "daemonjob after a restart"
pass "defaults applied when stored objects are read"

echo "all CRD validation checks passed"
