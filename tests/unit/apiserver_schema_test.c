/* Schema registry and strict decoding: built-in definitions, fixture manifests, unknown fields,
 * wrong types, field validation modes. */
#include <time.h>

#include "kubelua/json.h"
#include "kubelua/schema.h"

#include "unit/test_util.h"

static kl_json_t *parse_any(const char *text)
{
    kl_json_t *j = NULL;
    kl_errinfo_t err = {0};
    int rc = kl_json_parse_any(text, strlen(text), NULL, &j, &err);
    if (rc != 0)
        fprintf(stderr, "parse: %s (line %d)\n", err.msg, err.line);
    assert_int_equal(rc, 0);
    return j;
}

static const kl_stype_t *type_of(const kl_json_t *obj)
{
    const char *av = kl_json_path_str(obj, "apiVersion", NULL);
    const char *kind = kl_json_path_str(obj, "kind", NULL);
    assert_non_null(av);
    assert_non_null(kind);
    const char *slash = strchr(av, '/');
    char group[128] = "";
    const char *version = av;
    if (slash != NULL) {
        snprintf(group, sizeof(group), "%.*s", (int)(slash - av), av);
        version = slash + 1;
    }
    const kl_stype_t *t = kl_schema_for_kind(group, version, kind);
    assert_non_null(t);
    return t;
}

/* Checks text (YAML or JSON) in mode; returns the report (caller cleans up) and the tree. */
static kl_json_t *check_text(const char *text, kl_fieldval_t mode, kl_schema_report_t *r)
{
    kl_json_t *obj = parse_any(text);
    kl_schema_report_init(r);
    assert_int_equal(kl_schema_check(type_of(obj), obj, mode, r), 0);
    return obj;
}

static void assert_clean(const char *text)
{
    kl_schema_report_t r;
    kl_json_t *obj = check_text(text, KL_FIELDVAL_STRICT, &r);
    if (r.nunknown || r.ntype_errors || r.ninvalid)
        fprintf(stderr, "unknown: %s\ntype: %s\ninvalid: %s\n", r.unknown.data, r.type_errors.data,
                r.invalid.data);
    assert_int_equal(r.nunknown, 0);
    assert_int_equal(r.ntype_errors, 0);
    assert_int_equal(r.ninvalid, 0);
    kl_schema_report_cleanup(&r);
    kl_json_free(obj);
}

/* Asserts exactly one type error with this message. */
static void assert_type_error(const char *text, const char *msg)
{
    kl_schema_report_t r;
    kl_json_t *obj = check_text(text, KL_FIELDVAL_STRICT, &r);
    assert_int_equal(r.ntype_errors, 1);
    assert_string_equal(r.type_errors.data, msg);
    kl_schema_report_cleanup(&r);
    kl_json_free(obj);
}

static void test_schema_loads(void **state)
{
    (void)state;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    kl_errinfo_t err = {0};
    int rc = kl_schema_init(&err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (rc != 0)
        fprintf(stderr, "schema init: %s\n", err.msg);
    assert_int_equal(rc, 0);
    printf("schema: first-use parse %.2f ms\n",
           (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
    static const char *const kinds[][3] = {
        {"", "v1", "Pod"},
        {"", "v1", "Node"},
        {"", "v1", "Namespace"},
        {"", "v1", "Event"},
        {"", "v1", "ConfigMap"},
        {"", "v1", "Secret"},
        {"", "v1", "ServiceAccount"},
        {"", "v1", "Service"},
        {"", "v1", "Endpoints"},
        {"", "v1", "Binding"},
        {"events.k8s.io", "v1", "Event"},
        {"policy", "v1", "Eviction"},
        {"apps", "v1", "DaemonSet"},
        {"apps", "v1", "Deployment"},
        {"apps", "v1", "ReplicaSet"},
        {"apps", "v1", "ControllerRevision"},
        {"autoscaling", "v1", "Scale"},
        {"batch", "v1", "Job"},
        {"batch", "v1", "CronJob"},
        {"batch", "v1beta1", "CronJob"},
        {"coordination.k8s.io", "v1", "Lease"},
        {"apiextensions.k8s.io", "v1", "CustomResourceDefinition"},
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        const kl_stype_t *t = kl_schema_for_kind(kinds[i][0], kinds[i][1], kinds[i][2]);
        if (t == NULL)
            fprintf(stderr, "missing %s/%s %s\n", kinds[i][0], kinds[i][1], kinds[i][2]);
        assert_non_null(t);
        assert_int_equal(t->kind, KL_SK_OBJECT);
        assert_non_null(kl_stype_field(t, "apiVersion", 10));
        assert_non_null(kl_stype_field(t, "kind", 4));
    }
    assert_null(kl_schema_for_kind("batch", "v2", "Job"));
    const kl_stype_t *meta = kl_schema_lookup("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    assert_non_null(meta);
    assert_ptr_equal(kl_stype_field(kl_schema_for_kind("", "v1", "Pod"), "metadata", 8)->type,
                     meta);
    assert_null(kl_stype_field(kl_schema_lookup("io.k8s.api.core.v1.DeleteOptions"), "x", 1));
    assert_non_null(kl_schema_lookup("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"));
    assert_null(kl_stype_field(
        kl_schema_lookup("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"), "metadata", 8));
    /* Every type has a Go name for errors and every field a description. */
    const kl_stype_t *ps = kl_schema_lookup("io.k8s.api.core.v1.PodSpec");
    assert_non_null(ps);
    assert_string_equal(ps->go_type, "v1.PodSpec");
    for (size_t i = 0; i < ps->nfields; i++) {
        assert_non_null(ps->fields[i].description);
        assert_non_null(ps->fields[i].type->go_type);
        if (i > 0)
            assert_true(strcmp(ps->fields[i - 1].name, ps->fields[i].name) < 0);
    }
}

static void test_schema_patch_metadata(void **state)
{
    (void)state;
    const kl_stype_t *ps = kl_schema_lookup("io.k8s.api.core.v1.PodSpec");
    const kl_stype_t *c = kl_schema_lookup("io.k8s.api.core.v1.Container");
    const kl_stype_t *meta = kl_schema_lookup("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    struct {
        const kl_stype_t *t;
        const char *field, *key;
        unsigned flags;
        const char *list_type;
    } want[] = {
        {ps, "containers", "name", KL_SF_PATCH_MERGE, "map"},
        {ps, "initContainers", "name", KL_SF_PATCH_MERGE, "map"},
        {ps, "ephemeralContainers", "name", KL_SF_PATCH_MERGE, "map"},
        {ps, "volumes", "name", KL_SF_PATCH_MERGE | KL_SF_RETAIN_KEYS, "map"},
        {ps, "imagePullSecrets", "name", KL_SF_PATCH_MERGE, "map"},
        {ps, "tolerations", NULL, 0, "atomic"},
        {ps, "hostAliases", "ip", KL_SF_PATCH_MERGE, "map"},
        {ps, "topologySpreadConstraints", "topologyKey", KL_SF_PATCH_MERGE, "map"},
        {c, "env", "name", KL_SF_PATCH_MERGE, "map"},
        {c, "ports", "containerPort", KL_SF_PATCH_MERGE, "map"},
        {c, "volumeMounts", "mountPath", KL_SF_PATCH_MERGE, "map"},
        {c, "volumeDevices", "devicePath", KL_SF_PATCH_MERGE, "map"},
        {c, "args", NULL, 0, "atomic"},
        {meta, "finalizers", NULL, KL_SF_PATCH_MERGE, "set"},
        {meta, "ownerReferences", "uid", KL_SF_PATCH_MERGE, "map"},
        {kl_schema_lookup("io.k8s.api.core.v1.PodStatus"), "conditions", "type", KL_SF_PATCH_MERGE,
         "map"},
        {kl_schema_lookup("io.k8s.api.batch.v1.JobStatus"), "conditions", "type", KL_SF_PATCH_MERGE,
         "atomic"},
        {kl_schema_lookup("io.k8s.api.apps.v1.DeploymentSpec"), "strategy", NULL, KL_SF_RETAIN_KEYS,
         NULL},
        {kl_schema_lookup("io.k8s.api.core.v1.NodeSpec"), "podCIDRs", NULL, KL_SF_PATCH_MERGE,
         "set"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_non_null(want[i].t);
        const kl_sfield_t *f = kl_stype_field(want[i].t, want[i].field, strlen(want[i].field));
        assert_non_null(f);
        if (want[i].key)
            assert_string_equal(f->merge_key, want[i].key);
        else
            assert_null(f->merge_key);
        assert_int_equal(f->flags & (KL_SF_PATCH_MERGE | KL_SF_RETAIN_KEYS | KL_SF_PATCH_REPLACE),
                         want[i].flags);
        if (want[i].list_type)
            assert_string_equal(f->type->list_type, want[i].list_type);
    }
    const kl_sfield_t *ports = kl_stype_field(c, "ports", 5);
    assert_string_equal(ports->type->list_map_keys[0], "containerPort");
    assert_string_equal(ports->type->list_map_keys[1], "protocol");
    assert_null(ports->type->list_map_keys[2]);
    assert_string_equal(ports->type->elem->name, "io.k8s.api.core.v1.ContainerPort");
    /* The elements of containers are the named Container type. */
    assert_ptr_equal(kl_stype_field(ps, "containers", 10)->type->elem, c);
    assert_true(kl_stype_field(ps, "containers", 10)->flags & KL_SF_REQUIRED);
    assert_null(kl_stype_field(ps, "container", 9));
    assert_null(kl_stype_field(ps, "containersx", 11));
}

static void test_schema_fixture_manifests(void **state)
{
    (void)state;
    const char *clean[] = {"manifests/cronjob-hello.yaml", "manifests/daemonset-fluentd.yaml",
                           "pod.json"};
    for (size_t i = 0; i < sizeof(clean) / sizeof(clean[0]); i++) {
        char *text = kl_test_read_fixture(clean[i], NULL);
        assert_clean(text);
        free(text);
    }

    /* daemonset-nginx.yaml indents `name` under selector instead of matchLabels: matchLabels is
     * null and selector gets an unknown field, which kube-apiserver rejects the same way. */
    char *text = kl_test_read_fixture("manifests/daemonset-nginx.yaml", NULL);
    kl_schema_report_t r;
    kl_json_t *obj = check_text(text, KL_FIELDVAL_STRICT, &r);
    assert_int_equal(r.nunknown, 1);
    assert_string_equal(r.unknown.data, "unknown field \"spec.selector.name\"");
    assert_int_equal(r.ntype_errors, 0);
    kl_schema_report_cleanup(&r);
    kl_json_free(obj);
    free(text);

    /* job-pi.yaml repeats backoffLimit: the YAML decoder refuses it. */
    text = kl_test_read_fixture("manifests/job-pi.yaml", NULL);
    kl_json_t *j = NULL;
    kl_errinfo_t err = {0};
    assert_int_equal(kl_json_parse_any(text, strlen(text), NULL, &j, &err), KL_EDUPKEY);
    free(text);

    /* Without the duplicate, restartPolicy sits under spec where JobSpec has no such field. */
    static const char job[] = "apiVersion: batch/v1\n"
                              "kind: Job\n"
                              "metadata:\n"
                              "  name: pi\n"
                              "spec:\n"
                              "  restartPolicy: OnFailure\n"
                              "  backoffLimit: 5\n"
                              "  activeDeadlineSeconds: 100\n"
                              "  ttlSecondsAfterFinished: 100\n"
                              "  template:\n"
                              "    spec:\n"
                              "      containers:\n"
                              "        - name: pi\n"
                              "          image: perl\n"
                              "          command: [\"perl\", \"-Mbignum=bpi\", \"-wle\", \"print "
                              "bpi(2000)\"]\n"
                              "      restartPolicy: Never\n";
    obj = check_text(job, KL_FIELDVAL_STRICT, &r);
    assert_int_equal(r.nunknown, 1);
    assert_string_equal(r.unknown.data, "unknown field \"spec.restartPolicy\"");
    assert_int_equal(r.ntype_errors, 0);
    assert_non_null(kl_json_path(obj, "spec", "restartPolicy", NULL)); /* strict: unchanged */
    kl_schema_report_cleanup(&r);
    kl_json_free(obj);
}

static const char rich_pod[] =
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web}\n"
    "  annotations: {a: b}\n"
    "spec:\n"
    "  priorityClassName: high\n  hostUsers: false\n  os: {name: linux}\n"
    "  schedulingGates: [{name: wait}]\n"
    "  resources: {limits: {cpu: 2}}\n"
    "  securityContext:\n    runAsUser: 1000\n    fsGroup: 2000\n    supplementalGroups: [1, 2]\n"
    "    seccompProfile: {type: RuntimeDefault}\n    sysctls: [{name: net.core.somaxconn, "
    "value: '1024'}]\n    seLinuxChangePolicy: MountOption\n"
    "    supplementalGroupsPolicy: Strict\n"
    "  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n"
    "        nodeSelectorTerms:\n        - matchExpressions: [{key: zone, operator: In, values: "
    "[a, b]}]\n"
    "    podAntiAffinity:\n      preferredDuringSchedulingIgnoredDuringExecution:\n"
    "      - weight: 50\n        podAffinityTerm:\n          topologyKey: kubernetes.io/hostname\n"
    "          labelSelector: {matchLabels: {app: web}}\n          matchLabelKeys: [rev]\n"
    "  tolerations: [{key: k, operator: Exists, effect: NoSchedule}, {key: t, operator: Equal, "
    "value: v, effect: NoExecute, tolerationSeconds: 60}]\n"
    "  topologySpreadConstraints:\n  - maxSkew: 1\n    topologyKey: zone\n"
    "    whenUnsatisfiable: DoNotSchedule\n    labelSelector: {matchLabels: {app: web}}\n"
    "    minDomains: 2\n    nodeAffinityPolicy: Honor\n"
    "  initContainers:\n  - name: sidecar\n    image: envoy\n    restartPolicy: Always\n"
    "  containers:\n  - name: app\n    image: nginx:1.27\n    imagePullPolicy: IfNotPresent\n"
    "    ports: [{containerPort: 80, name: http, protocol: TCP}]\n"
    "    env:\n    - {name: A, value: '1'}\n"
    "    - name: NODE\n      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}\n"
    "    - name: MEM\n      valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: "
    "1Mi}}\n"
    "    - name: PW\n      valueFrom: {secretKeyRef: {name: s, key: pw, optional: true}}\n"
    "    envFrom: [{configMapRef: {name: cm}, prefix: CM_}, {secretRef: {name: s}}]\n"
    "    resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 1.5Gi, cpu: 0.5}}\n"
    "    resizePolicy: [{resourceName: cpu, restartPolicy: NotRequired}]\n"
    "    livenessProbe: {httpGet: {path: /healthz, port: http, httpHeaders: [{name: X, value: "
    "yy}]}, initialDelaySeconds: 3, periodSeconds: 10}\n"
    "    readinessProbe: {tcpSocket: {port: 80}}\n"
    "    startupProbe: {grpc: {port: 9000}, failureThreshold: 30}\n"
    "    lifecycle: {preStop: {sleep: {seconds: 5}}, postStart: {exec: {command: [sh, -c, "
    "'true']}}}\n"
    "    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, "
    "capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}, runAsNonRoot: true, "
    "appArmorProfile: {type: RuntimeDefault}}\n"
    "    volumeMounts:\n    - {name: data, mountPath: /data}\n"
    "    - {name: cfg, mountPath: /etc/cfg, readOnly: true, recursiveReadOnly: IfPossible}\n"
    "  volumes:\n"
    "  - {name: data, emptyDir: {medium: Memory, sizeLimit: 1Gi}}\n"
    "  - {name: cfg, configMap: {name: cm, items: [{key: a, path: a.conf, mode: 0644}], "
    "defaultMode: 420}}\n"
    "  - {name: sec, secret: {secretName: s, optional: true}}\n"
    "  - {name: host, hostPath: {path: /var/log, type: Directory}}\n"
    "  - {name: claim, persistentVolumeClaim: {claimName: pvc, readOnly: true}}\n"
    "  - {name: dapi, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: "
    "metadata.labels}}]}}\n"
    "  - {name: csi, csi: {driver: csi.example.com, volumeAttributes: {a: b}}}\n"
    "  - {name: nfs, nfs: {server: nfs.local, path: /export}}\n"
    "  - {name: img, image: {reference: 'quay.io/x:1', pullPolicy: IfNotPresent}}\n"
    "  - name: eph\n    ephemeral:\n      volumeClaimTemplate:\n        metadata: {labels: {a: "
    "b}}\n        spec: {accessModes: [ReadWriteOnce], storageClassName: fast, resources: "
    "{requests: {storage: 1Gi}}}\n"
    "  - name: proj\n    projected:\n      sources:\n      - serviceAccountToken: {path: token, "
    "expirationSeconds: 3600, audience: api}\n      - configMap: {name: root-ca, items: [{key: "
    "ca.crt, path: ca.crt}]}\n      - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: "
    "metadata.namespace}}]}\n"
    "      - clusterTrustBundle: {signerName: example.com/x, path: bundle.pem}\n"
    "  dnsConfig: {nameservers: [1.1.1.1], options: [{name: ndots, value: '2'}]}\n"
    "  hostAliases: [{ip: 127.0.0.1, hostnames: [foo.local]}]\n"
    "  imagePullSecrets: [{name: regcred}]\n"
    "  readinessGates: [{conditionType: example.com/ready}]\n"
    "  ephemeralContainers: [{name: debug, image: busybox, targetContainerName: app, stdin: "
    "true, tty: true}]\n";

static void test_schema_realistic_manifests(void **state)
{
    (void)state;
    assert_clean(rich_pod);
    assert_clean("apiVersion: batch/v1\nkind: Job\nmetadata: {name: indexed}\nspec:\n"
                 "  completions: 5\n  parallelism: 2\n  completionMode: Indexed\n"
                 "  backoffLimitPerIndex: 1\n  maxFailedIndexes: 2\n  suspend: false\n"
                 "  podReplacementPolicy: Failed\n  managedBy: kubernetes.io/job-controller\n"
                 "  ttlSecondsAfterFinished: 60\n  activeDeadlineSeconds: 600\n"
                 "  successPolicy: {rules: [{succeededIndexes: 0-2, succeededCount: 2}]}\n"
                 "  podFailurePolicy:\n    rules:\n    - action: FailJob\n"
                 "      onExitCodes: {containerName: main, operator: In, values: [42]}\n"
                 "    - action: Ignore\n      onPodConditions: [{type: DisruptionTarget}]\n"
                 "  template:\n    spec:\n      restartPolicy: Never\n"
                 "      containers: [{name: main, image: busybox}]\n");
    assert_clean("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: hello}\nspec:\n"
                 "  schedule: '*/1 * * * *'\n  timeZone: Etc/UTC\n  concurrencyPolicy: Forbid\n"
                 "  startingDeadlineSeconds: 30\n  successfulJobsHistoryLimit: 3\n"
                 "  jobTemplate:\n    spec:\n      template:\n        spec:\n"
                 "          restartPolicy: OnFailure\n"
                 "          containers: [{name: hello, image: busybox, args: [date]}]\n");
    assert_clean("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
                 "  replicas: 3\n  revisionHistoryLimit: 5\n  progressDeadlineSeconds: 600\n"
                 "  selector: {matchLabels: {app: web}}\n"
                 "  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, "
                 "maxUnavailable: 0}}\n"
                 "  template:\n    metadata: {labels: {app: web}}\n"
                 "    spec: {containers: [{name: web, image: nginx}]}\n"
                 "status: {replicas: 3, readyReplicas: 3, conditions: [{type: Available, "
                 "status: 'True', lastUpdateTime: '2024-05-14T09:21:37Z', reason: "
                 "MinimumReplicasAvailable}]}\n");
    assert_clean("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n"
                 "  selector: {matchExpressions: [{key: app, operator: In, values: [agent]}]}\n"
                 "  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1, "
                 "maxSurge: 0}}\n"
                 "  template:\n    metadata: {labels: {app: agent}}\n"
                 "    spec: {containers: [{name: a, image: busybox}]}\n"
                 "status: {currentNumberScheduled: 1, numberMisscheduled: 0, "
                 "desiredNumberScheduled: 1, numberReady: 1, observedGeneration: 2}\n");
    assert_clean("apiVersion: v1\nkind: Node\nmetadata: {name: node-1, labels: "
                 "{kubernetes.io/hostname: node-1}}\n"
                 "spec: {podCIDR: 10.244.0.0/24, podCIDRs: [10.244.0.0/24], taints: [{key: k, "
                 "effect: NoSchedule}], unschedulable: false}\n"
                 "status:\n  capacity: {cpu: '4', memory: 16Gi, pods: '110'}\n"
                 "  allocatable: {cpu: 3800m, memory: 15Gi}\n"
                 "  conditions: [{type: Ready, status: 'True', lastHeartbeatTime: "
                 "'2024-05-14T09:21:37Z', lastTransitionTime: '2024-05-14T09:21:37Z', reason: "
                 "KubeletReady, message: ok}]\n"
                 "  addresses: [{type: InternalIP, address: 192.168.49.2}, {type: Hostname, "
                 "address: node-1}]\n"
                 "  daemonEndpoints: {kubeletEndpoint: {Port: 10250}}\n"
                 "  nodeInfo: {machineID: m, systemUUID: s, bootID: b, kernelVersion: '6.1', "
                 "osImage: Debian, containerRuntimeVersion: 'containerd://1.7', kubeletVersion: "
                 "v1.32.0, kubeProxyVersion: v1.32.0, operatingSystem: linux, architecture: "
                 "amd64}\n"
                 "  images: [{names: [busybox], sizeBytes: 4000000}]\n"
                 "  runtimeHandlers: [{name: runc, features: {recursiveReadOnlyMounts: true}}]\n"
                 "  features: {supplementalGroupsPolicy: true}\n");
    assert_clean("apiVersion: v1\nkind: Event\nmetadata: {name: e.1, namespace: default}\n"
                 "involvedObject: {kind: Pod, name: p, namespace: default, uid: u}\n"
                 "reason: Scheduled\nmessage: ok\ntype: Normal\ncount: 1\n"
                 "source: {component: scheduler}\nfirstTimestamp: '2024-05-14T09:21:37Z'\n"
                 "eventTime: '2024-05-14T09:21:37.123456Z'\nreportingComponent: sched\n");
    assert_clean("apiVersion: events.k8s.io/v1\nkind: Event\nmetadata: {name: e.2}\n"
                 "eventTime: '2024-05-14T09:21:37.000000Z'\nreportingController: kubelet\n"
                 "reportingInstance: node-1\naction: Pulling\nreason: Pulling\n"
                 "regarding: {kind: Pod, name: p}\nnote: pulling\ntype: Normal\n"
                 "series: {count: 2, lastObservedTime: '2024-05-14T09:22:37.000000Z'}\n");
    assert_clean("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: node-1, "
                 "namespace: kube-node-lease}\nspec: {holderIdentity: node-1, "
                 "leaseDurationSeconds: 40, renewTime: '2024-05-14T09:21:37.000000Z'}\n");
    assert_clean("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: Opaque\n"
                 "data: {pw: cGFzc3dvcmQ=}\nstringData: {user: admin}\n");
    assert_clean("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"
                 "binaryData: {bin: AAEC}\nimmutable: true\n");
    assert_clean("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n"
                 "  selector: {app: web}\n  type: NodePort\n  ports: [{name: http, port: 80, "
                 "targetPort: http, nodePort: 30080, protocol: TCP}]\n"
                 "  ipFamilies: [IPv4]\n  ipFamilyPolicy: SingleStack\n");
    assert_clean("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n"
                 "automountServiceAccountToken: false\nimagePullSecrets: [{name: r}]\n");
    assert_clean("apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n"
                 "spec: {finalizers: [kubernetes]}\nstatus: {phase: Active}\n");
    assert_clean("apiVersion: v1\nkind: Binding\nmetadata: {name: p}\n"
                 "target: {apiVersion: v1, kind: Node, name: node-1}\n");
    assert_clean("apiVersion: policy/v1\nkind: Eviction\nmetadata: {name: p, namespace: d}\n"
                 "deleteOptions: {gracePeriodSeconds: 0, propagationPolicy: Background}\n");
    assert_clean("apiVersion: autoscaling/v1\nkind: Scale\nmetadata: {name: web}\n"
                 "spec: {replicas: 3}\nstatus: {replicas: 2, selector: app=web}\n");
    assert_clean("apiVersion: apps/v1\nkind: ControllerRevision\nmetadata: {name: r}\n"
                 "revision: 2\ndata: {spec: {template: {x: 1}}}\n");
    assert_clean("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
                 "metadata: {name: crontabs.stable.example.com}\nspec:\n"
                 "  group: stable.example.com\n  scope: Namespaced\n"
                 "  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: "
                 "[ct]}\n"
                 "  versions:\n  - name: v1\n    served: true\n    storage: true\n"
                 "    subresources: {status: {}, scale: {specReplicasPath: .spec.replicas, "
                 "statusReplicasPath: .status.replicas}}\n"
                 "    additionalPrinterColumns: [{name: Spec, type: string, jsonPath: "
                 ".spec.cronSpec}]\n"
                 "    schema:\n      openAPIV3Schema:\n        type: object\n"
                 "        properties:\n          spec:\n            type: object\n"
                 "            x-kubernetes-validations: [{rule: self.replicas >= 0}]\n"
                 "            properties:\n              cronSpec: {type: string, pattern: "
                 "'^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'}\n"
                 "              replicas: {type: integer, minimum: 1, maximum: 10, default: 1}\n"
                 "              tags: {type: array, items: {type: string}, "
                 "x-kubernetes-list-type: set}\n"
                 "              extra: {type: object, additionalProperties: {type: string}}\n"
                 "              any: {x-kubernetes-preserve-unknown-fields: true}\n");
}

static void test_schema_unknown_fields(void **state)
{
    (void)state;
    static const char pod[] =
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"nme\":\"x\"},"
        "\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"x\"},{\"name\":\"b\","
        "\"imagex\":\"y\",\"env\":[{\"name\":\"E\",\"vale\":\"1\"}]}],"
        "\"volumes\":[{\"name\":\"v\",\"hostPath\":{\"path\":\"/\",\"tpye\":\"Directory\"}}],"
        "\"nodeSelector\":{\"any-key\":\"ok\"},\"foo\":1},\"bar\":{\"baz\":true}}";
    static const char *const want = "unknown field \"metadata.nme\"\n"
                                    "unknown field \"spec.containers[1].imagex\"\n"
                                    "unknown field \"spec.containers[1].env[0].vale\"\n"
                                    "unknown field \"spec.volumes[0].hostPath.tpye\"\n"
                                    "unknown field \"spec.foo\"\n"
                                    "unknown field \"bar\"";
    const kl_fieldval_t modes[] = {KL_FIELDVAL_STRICT, KL_FIELDVAL_WARN, KL_FIELDVAL_IGNORE};
    kl_json_t *orig = parse_any(pod);
    for (size_t m = 0; m < 3; m++) {
        kl_schema_report_t r;
        kl_json_t *obj = check_text(pod, modes[m], &r);
        assert_int_equal(r.nunknown, 6);
        assert_string_equal(r.unknown.data, want);
        assert_int_equal(r.ntype_errors, 0);
        if (modes[m] == KL_FIELDVAL_STRICT) {
            assert_true(kl_json_equal(obj, orig));
        } else {
            /* Pruned: the same object checks clean now and keeps every known field. */
            assert_false(kl_json_equal(obj, orig));
            assert_null(kl_json_get(obj, "bar"));
            assert_null(kl_json_path(obj, "spec", "foo", NULL));
            assert_null(kl_json_path(obj, "metadata", "nme", NULL));
            kl_json_t *c1 = kl_json_at(kl_json_path(obj, "spec", "containers", NULL), 1);
            assert_null(kl_json_get(c1, "imagex"));
            assert_string_equal(kl_json_path_str(c1, "name", NULL), "b");
            assert_string_equal(kl_json_path_str(obj, "spec", "nodeSelector", "any-key", NULL),
                                "ok");
            kl_schema_report_t r2;
            kl_schema_report_init(&r2);
            assert_int_equal(kl_schema_check(type_of(obj), obj, KL_FIELDVAL_STRICT, &r2), 0);
            assert_int_equal(r2.nunknown, 0);
            kl_schema_report_cleanup(&r2);
        }
        kl_schema_report_cleanup(&r);
        kl_json_free(obj);
    }
    kl_json_free(orig);

    /* Deep inside a CronJob: jobTemplate.spec.template.spec.containers[0].resources. */
    kl_schema_report_t r;
    kl_json_t *obj = check_text(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  schedule: '@daily'\n"
        "  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n"
        "          - name: a\n            resources: {limit: {cpu: 1}}\n"
        "          - name: b\n            resources: {limit: {cpu: 1}}\n",
        KL_FIELDVAL_STRICT, &r);
    assert_string_equal(r.unknown.data, "unknown field "
                                        "\"spec.jobTemplate.spec.template.spec.containers[0]."
                                        "resources.limit\"\n"
                                        "unknown field "
                                        "\"spec.jobTemplate.spec.template.spec.containers[1]."
                                        "resources.limit\"");
    kl_schema_report_cleanup(&r);
    kl_json_free(obj);

    /* The same unknown field twice is reported once (upstream deduplicates). */
    obj = parse_any("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},"
                    "\"x\":1}");
    kl_schema_report_init(&r);
    const kl_stype_t *cm = type_of(obj);
    assert_int_equal(kl_schema_check(cm, obj, KL_FIELDVAL_STRICT, &r), 0);
    assert_int_equal(kl_schema_check(cm, obj, KL_FIELDVAL_STRICT, &r), 0);
    assert_int_equal(r.nunknown, 1);
    kl_schema_report_cleanup(&r);
    kl_json_free(obj);
}

static void test_schema_type_errors(void **state)
{
    (void)state;
    assert_type_error(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: pi}\nspec:\n"
        "  backoffLimit: '4'\n  template: {spec: {containers: [{name: a}]}}\n",
        "json: cannot unmarshal string into Go struct field JobSpec.spec.backoffLimit "
        "of type int32");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
                      "\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":5}]}}",
                      "json: cannot unmarshal number into Go struct field "
                      "Container.spec.containers.image of type string");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
                      "\"spec\":{\"containers\":[{\"name\":\"a\",\"args\":[\"x\",1]}]}}",
                      "json: cannot unmarshal number into Go struct field "
                      "Container.spec.containers.args of type string");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\","
                      "\"labels\":{\"a\":1}}}",
                      "json: cannot unmarshal number into Go struct field "
                      "ObjectMeta.metadata.labels of type string");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
                      "\"spec\":{\"containers\":\"a\"}}",
                      "json: cannot unmarshal string into Go struct field PodSpec.spec.containers "
                      "of type []v1.Container");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
                      "\"spec\":{\"containers\":[\"a\"]}}",
                      "json: cannot unmarshal string into Go struct field PodSpec.spec.containers "
                      "of type v1.Container");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
                      "\"spec\":{\"restartPolicy\":1}}",
                      "json: cannot unmarshal number into Go struct field "
                      "PodSpec.spec.restartPolicy of type v1.RestartPolicy");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":\"x\"}",
                      "json: cannot unmarshal string into Go struct field Pod.metadata of type "
                      "v1.ObjectMeta");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"uid\":7}}",
                      "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.uid "
                      "of type types.UID");
    assert_type_error("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"spec\":"
                      "{\"replicas\":1.5}}",
                      "json: cannot unmarshal number 1.5 into Go struct field "
                      "DeploymentSpec.spec.replicas of type int32");
    assert_type_error("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"spec\":"
                      "{\"replicas\":3000000000}}",
                      "json: cannot unmarshal number 3000000000 into Go struct field "
                      "DeploymentSpec.spec.replicas of type int32");
    assert_type_error("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"spec\":"
                      "{\"paused\":\"yes\"}}",
                      "json: cannot unmarshal string into Go struct field "
                      "DeploymentSpec.spec.paused of type bool");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"containers\":[{"
                      "\"name\":\"a\",\"resources\":{\"limits\":\"1\"}}]}}",
                      "json: cannot unmarshal string into Go struct field "
                      "ResourceRequirements.spec.containers.resources.limits of type "
                      "v1.ResourceList");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"securityContext\":"
                      "{\"supplementalGroups\":[\"a\"]}}}",
                      "json: cannot unmarshal string into Go struct field "
                      "PodSecurityContext.spec.securityContext.supplementalGroups of type int64");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"data\":{\"a\":\"!!\"}}",
                      "illegal base64 data at input byte 0");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"data\":{\"a\":\"YWJjZA\"}}",
                      "illegal base64 data at input byte 4");
    /* Fields promoted from embedded Go structs name them in the path. */
    assert_type_error(
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"volumes\":[{"
        "\"name\":\"v\",\"hostPath\":{\"path\":5}}]}}",
        "json: cannot unmarshal number into Go struct field "
        "HostPathVolumeSource.spec.volumes.VolumeSource.hostPath.path of type string");
    assert_type_error(
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"containers\":[{"
        "\"name\":\"a\",\"livenessProbe\":{\"exec\":[]}}]}}",
        "json: cannot unmarshal array into Go struct field "
        "Probe.spec.containers.livenessProbe.ProbeHandler.exec of type v1.ExecAction");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{"
                      "\"ephemeralContainers\":[{\"name\":\"d\",\"tty\":\"yes\"}]}}",
                      "json: cannot unmarshal string into Go struct field "
                      "EphemeralContainer.spec.ephemeralContainers.EphemeralContainerCommon.tty of "
                      "type bool");
    {
        kl_json_t *obj = parse_any("{\"apiVersion\":\"v1\",\"kind\":[]}");
        kl_schema_report_t r;
        kl_schema_report_init(&r);
        assert_int_equal(
            kl_schema_check(kl_schema_for_kind("", "v1", "Pod"), obj, KL_FIELDVAL_STRICT, &r), 0);
        assert_string_equal(r.type_errors.data, "json: cannot unmarshal array into Go struct "
                                                "field Pod.TypeMeta.kind of type string");
        kl_schema_report_cleanup(&r);
        kl_json_free(obj);
    }
    /* Types with their own decoders. */
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"containers\":[{"
                      "\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1x\"}}}]}}",
                      "quantities must match the regular expression "
                      "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"containers\":[{"
                      "\"name\":\"a\",\"resources\":{\"limits\":{\"memory\":\"1mi\"}}}]}}",
                      "unable to parse quantity's suffix");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"containers\":[{"
                      "\"name\":\"a\",\"resources\":{\"limits\":{\"memory\":true}}}]}}",
                      "quantities must match the regular expression "
                      "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
    assert_type_error("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"spec\":{"
                      "\"strategy\":{\"rollingUpdate\":{\"maxSurge\":true}}}}",
                      "json: cannot unmarshal bool into Go value of type int32");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
                      "\"creationTimestamp\":\"yesterday\"}}",
                      "parsing time \"yesterday\" as \"2006-01-02T15:04:05Z07:00\": cannot parse "
                      "\"yesterday\" as \"2006\"");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
                      "\"creationTimestamp\":\"2024-05-14 09:21:37Z\"}}",
                      "parsing time \"2024-05-14 09:21:37Z\" as \"2006-01-02T15:04:05Z07:00\": "
                      "cannot parse \" 09:21:37Z\" as \"T\"");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
                      "\"creationTimestamp\":\"2024-13-14T09:21:37Z\"}}",
                      "parsing time \"2024-13-14T09:21:37Z\": month out of range");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
                      "\"creationTimestamp\":\"2023-02-29T09:21:37Z\"}}",
                      "parsing time \"2023-02-29T09:21:37Z\": day out of range");
    assert_type_error("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
                      "\"creationTimestamp\":5}}",
                      "json: cannot unmarshal number into Go value of type string");
    assert_type_error("{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"spec\":{"
                      "\"renewTime\":\"2024-05-14T09:21:37Z\"}}",
                      "parsing time \"2024-05-14T09:21:37Z\" as "
                      "\"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"Z\" as \".000000\"");

    /* A custom decoder's failure is reported first and ends decoding; saved errors stay. */
    kl_schema_report_t r;
    kl_json_t *obj = check_text("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"spec\":{"
                                "\"replicas\":\"x\",\"template\":{\"spec\":{\"containers\":[{"
                                "\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"x\"}}}]}},"
                                "\"later\":1}}",
                                KL_FIELDVAL_STRICT, &r);
    assert_int_equal(r.ntype_errors, 2);
    assert_true(strncmp(r.type_errors.data, "quantities must match", 21) == 0);
    assert_non_null(strstr(r.type_errors.data, "\njson: cannot unmarshal string into Go struct "
                                               "field DeploymentSpec.spec.replicas of type int32"));
    assert_int_equal(r.nunknown, 0); /* "later" comes after the fatal error */
    kl_schema_report_cleanup(&r);
    kl_json_free(obj);

    /* null is fine anywhere in built-in types, and valid special values pass. */
    assert_clean("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"labels\":null,"
                 "\"creationTimestamp\":null,\"deletionTimestamp\":\"2024-05-14T09:21:37+02:00\"},"
                 "\"spec\":{\"containers\":null,\"activeDeadlineSeconds\":null,\"volumes\":[{"
                 "\"name\":\"v\",\"emptyDir\":{\"sizeLimit\":null}}],\"overhead\":{\"cpu\":\" "
                 "250m \",\"memory\":1e3,\"x\":\"1.5e+3\",\"y\":\"-0.5Ki\",\"z\":\"5E\"}},"
                 "\"status\":{\"startTime\":\"2024-05-14T09:21:37.123Z\"}}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_loads),
        cmocka_unit_test(test_schema_patch_metadata),
        cmocka_unit_test(test_schema_fixture_manifests),
        cmocka_unit_test(test_schema_realistic_manifests),
        cmocka_unit_test(test_schema_unknown_fields),
        cmocka_unit_test(test_schema_type_errors),
    };
    return cmocka_run_group_tests_name("apiserver_schema", tests, NULL, NULL);
}
