/* Server-side apply without field ownership (kl_patch_apply) against a hand-built schema. */
#include "kubelua/json.h"
#include "kubelua/patch.h"
#include "kubelua/schema.h"

#include "unit/test_util.h"

#define FIELDS(a) .fields = (a), .nfields = sizeof(a) / sizeof((a)[0])

static const kl_stype_t t_str = {.kind = KL_SK_STRING};
static const kl_stype_t t_int = {.kind = KL_SK_INT};
static const kl_stype_t t_strmap = {.kind = KL_SK_MAP, .elem = &t_str};
static const kl_stype_t t_strlist = {.kind = KL_SK_LIST, .elem = &t_str};
static const kl_stype_t t_strset = {.kind = KL_SK_LIST, .elem = &t_str, .list_type = "set"};

static const kl_sfield_t f_env[] = {
    {.name = "name", .type = &t_str},
    {.name = "value", .type = &t_str},
};
static const kl_stype_t t_env = {
    .name = "io.k8s.api.core.v1.EnvVar", .kind = KL_SK_OBJECT, FIELDS(f_env)};
static const kl_stype_t t_env_list = {.kind = KL_SK_LIST, .elem = &t_env};

static const kl_sfield_t f_port[] = {
    {.name = "name", .type = &t_str},
    {.name = "containerPort", .type = &t_int},
    {.name = "protocol", .type = &t_str},
};
static const kl_stype_t t_port = {
    .name = "io.k8s.api.core.v1.ContainerPort", .kind = KL_SK_OBJECT, FIELDS(f_port)};
static const char *const port_keys[] = {"containerPort", "protocol", NULL};
static const kl_stype_t t_port_list = {
    .kind = KL_SK_LIST, .elem = &t_port, .list_type = "map", .list_map_keys = port_keys};

static const kl_sfield_t f_container[] = {
    {.name = "name", .type = &t_str},
    {.name = "image", .type = &t_str},
    {.name = "command", .type = &t_strlist},
    {.name = "env", .type = &t_env_list, .merge_key = "name", .flags = KL_SF_PATCH_MERGE},
    {.name = "ports",
     .type = &t_port_list,
     .merge_key = "containerPort",
     .flags = KL_SF_PATCH_MERGE},
    {.name = "imagePullPolicy", .type = &t_str},
};
static const kl_stype_t t_container = {
    .name = "io.k8s.api.core.v1.Container", .kind = KL_SK_OBJECT, FIELDS(f_container)};
static const char *const name_key[] = {"name", NULL};
static const kl_stype_t t_container_list = {
    .kind = KL_SK_LIST, .elem = &t_container, .list_type = "map", .list_map_keys = name_key};

static const kl_sfield_t f_toleration[] = {
    {.name = "key", .type = &t_str},
    {.name = "operator", .type = &t_str},
};
static const kl_stype_t t_toleration = {
    .name = "io.k8s.api.core.v1.Toleration", .kind = KL_SK_OBJECT, FIELDS(f_toleration)};
static const kl_stype_t t_toleration_list = {
    .kind = KL_SK_LIST, .elem = &t_toleration, .list_type = "atomic"};

static const kl_sfield_t f_podspec[] = {
    {.name = "containers",
     .type = &t_container_list,
     .merge_key = "name",
     .flags = KL_SF_PATCH_MERGE},
    {.name = "tolerations", .type = &t_toleration_list},
    {.name = "nodeSelector", .type = &t_strmap},
    {.name = "restartPolicy", .type = &t_str},
};
static const kl_stype_t t_podspec = {
    .name = "io.k8s.api.core.v1.PodSpec", .kind = KL_SK_OBJECT, FIELDS(f_podspec)};

static const kl_sfield_t f_meta[] = {
    {.name = "name", .type = &t_str},
    {.name = "namespace", .type = &t_str},
    {.name = "labels", .type = &t_strmap},
    {.name = "annotations", .type = &t_strmap},
    {.name = "finalizers", .type = &t_strset, .flags = KL_SF_PATCH_MERGE},
};
static const kl_stype_t t_meta = {.name = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                                  .kind = KL_SK_OBJECT,
                                  FIELDS(f_meta)};

static const kl_sfield_t f_template[] = {
    {.name = "metadata", .type = &t_meta},
    {.name = "spec", .type = &t_podspec},
};
static const kl_stype_t t_template = {
    .name = "io.k8s.api.core.v1.PodTemplateSpec", .kind = KL_SK_OBJECT, FIELDS(f_template)};

static const kl_sfield_t f_dsspec[] = {
    {.name = "template", .type = &t_template},
    {.name = "revisionHistoryLimit", .type = &t_int},
};
static const kl_stype_t t_dsspec = {
    .name = "io.k8s.api.apps.v1.DaemonSetSpec", .kind = KL_SK_OBJECT, FIELDS(f_dsspec)};

static const kl_sfield_t f_ds[] = {
    {.name = "apiVersion", .type = &t_str},
    {.name = "kind", .type = &t_str},
    {.name = "metadata", .type = &t_meta},
    {.name = "spec", .type = &t_dsspec},
};
static const kl_stype_t t_ds = {
    .name = "io.k8s.api.apps.v1.DaemonSet", .kind = KL_SK_OBJECT, FIELDS(f_ds)};

static kl_json_t *Y(const char *text)
{
    kl_json_t **docs = NULL;
    size_t n = 0;
    kl_errinfo_t err = {0};
    if (kl_yaml_parse(text, strlen(text), NULL, &docs, &n, &err) < 0 || n != 1) {
        fprintf(stderr, "bad test YAML (%s): %s\n", err.msg, text);
        fail();
    }
    kl_json_t *j = docs[0];
    free(docs);
    return j;
}

static void check_apply(const char *live, const char *applied, const char *want)
{
    kl_json_t *d = live ? Y(live) : NULL, *a = Y(applied), *w = Y(want);
    kl_errinfo_t err = {0};
    int rc = kl_patch_apply(&d, a, &t_ds, &err);
    if (rc != 0)
        fprintf(stderr, "apply failed: %s\n", err.msg);
    assert_int_equal(rc, 0);
    if (!kl_json_equal(d, w)) {
        char *got = kl_json_encode_alloc(d, NULL), *exp = kl_json_encode_alloc(w, NULL);
        fprintf(stderr, "apply %s\n  got  %s\n  want %s\n", applied, got, exp);
        free(got);
        free(exp);
        fail();
    }
    kl_json_free(d);
    kl_json_free(a);
    kl_json_free(w);
}

static void check_apply_error(const char *live, const char *applied, int want_rc,
                              const char *want_msg)
{
    kl_json_t *d = Y(live), *a = Y(applied);
    kl_errinfo_t err = {0};
    int rc = kl_patch_apply(&d, a, &t_ds, &err);
    if (rc != want_rc || strstr(err.msg, want_msg) == NULL) {
        fprintf(stderr, "apply %s: rc %s \"%s\", want %s \"%s\"\n", applied, kl_err_name(rc),
                err.msg, kl_err_name(want_rc), want_msg);
        fail();
    }
    kl_json_free(d);
    kl_json_free(a);
}

static const char live_ds[] =
    "{apiVersion: apps/v1, kind: DaemonSet,"
    " metadata: {name: ssa-agent, namespace: default, labels: {app: agent},"
    "  finalizers: [example.com/a], annotations: {owner: ops}},"
    " spec: {revisionHistoryLimit: 10, template: {metadata: {labels: {app: agent}}, spec: {"
    "  restartPolicy: Always, nodeSelector: {disk: ssd},"
    "  tolerations: [{key: a, operator: Exists}, {key: b, operator: Exists}],"
    "  containers: [{name: agent, image: 'busybox:1.36', imagePullPolicy: IfNotPresent,"
    "   command: [sh, -c, sleep 3600],"
    "   env: [{name: MODE, value: a}, {name: KEEP, value: k}],"
    "   ports: [{containerPort: 80, protocol: TCP}, {containerPort: 53, protocol: UDP}]},"
    "   {name: sidecar, image: 'envoy:1'}]}}}}";

static void test_apiserver_patch_apply_create(void **state)
{
    (void)state;
    /* kubectl apply --server-side on a missing object (kubectl-protocol.md 5.4). */
    check_apply(NULL,
                "{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: ssa-agent, namespace: "
                "default}, spec: {template: {spec: {containers: [{name: agent, image: "
                "'busybox:1.36', env: [{name: X, value: null}]}]}}}}",
                "{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: ssa-agent, namespace: "
                "default}, spec: {template: {spec: {containers: [{name: agent, image: "
                "'busybox:1.36', env: [{name: X}]}]}}}}");
}

static void test_apiserver_patch_apply_merge(void **state)
{
    (void)state;
    /* Fields the applier sets win, everything else stays (no ownership, so nothing is removed:
     * KEEP, the sidecar and the annotation survive). Env merges by name, ports by
     * (containerPort, protocol) where an omitted protocol matches, command and tolerations are
     * atomic, finalizers a set. */
    check_apply(live_ds,
                "{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: ssa-agent, namespace: "
                "default, labels: {tier: node}, finalizers: [example.com/b, example.com/a]},"
                " spec: {template: {spec: {tolerations: [{key: c, operator: Exists}],"
                " nodeSelector: null,"
                " containers: [{name: agent, image: 'busybox:1.37', command: [sleep, '60'],"
                "  env: [{name: MODE, value: b}, {name: NEW, value: n}],"
                "  ports: [{containerPort: 80, name: http}, {containerPort: 8080}]}]}}}}",
                "{apiVersion: apps/v1, kind: DaemonSet,"
                " metadata: {name: ssa-agent, namespace: default, labels: {app: agent, tier: node},"
                "  finalizers: [example.com/b, example.com/a], annotations: {owner: ops}},"
                " spec: {revisionHistoryLimit: 10, template: {metadata: {labels: {app: agent}}, "
                "spec: {"
                "  restartPolicy: Always, nodeSelector: {disk: ssd},"
                "  tolerations: [{key: c, operator: Exists}],"
                "  containers: [{name: agent, image: 'busybox:1.37', imagePullPolicy: "
                "IfNotPresent,"
                "   command: [sleep, '60'],"
                "   env: [{name: MODE, value: b}, {name: KEEP, value: k}, {name: NEW, value: n}],"
                "   ports: [{containerPort: 80, protocol: TCP, name: http}, {containerPort: 53, "
                "protocol: UDP}, {containerPort: 8080}]},"
                "   {name: sidecar, image: 'envoy:1'}]}}}}");

    /* Applying the live object's own fields again changes nothing. */
    check_apply(live_ds, live_ds, live_ds);

    /* The second PATCH kubectl sends after a client-side apply (5.4): only the annotation. */
    check_apply(live_ds,
                "{apiVersion: apps/v1, kind: DaemonSet, metadata: {annotations: "
                "{kubectl.kubernetes.io/last-applied-configuration: '{}'}, name: ssa-agent, "
                "namespace: default}}",
                "{apiVersion: apps/v1, kind: DaemonSet,"
                " metadata: {name: ssa-agent, namespace: default, labels: {app: agent},"
                "  finalizers: [example.com/a], annotations: {owner: ops, "
                "kubectl.kubernetes.io/last-applied-configuration: '{}'}},"
                " spec: {revisionHistoryLimit: 10, template: {metadata: {labels: {app: agent}}, "
                "spec: {"
                "  restartPolicy: Always, nodeSelector: {disk: ssd},"
                "  tolerations: [{key: a, operator: Exists}, {key: b, operator: Exists}],"
                "  containers: [{name: agent, image: 'busybox:1.36', imagePullPolicy: "
                "IfNotPresent,"
                "   command: [sh, -c, sleep 3600],"
                "   env: [{name: MODE, value: a}, {name: KEEP, value: k}],"
                "   ports: [{containerPort: 80, protocol: TCP}, {containerPort: 53, protocol: "
                "UDP}]},"
                "   {name: sidecar, image: 'envoy:1'}]}}}}");
}

static void test_apiserver_patch_apply_order(void **state)
{
    (void)state;
    /* Applied items keep the applied order; live-only items keep their place between them. */
    check_apply("{spec: {template: {spec: {containers: [{name: a}, {name: x}, {name: b}]}}}}",
                "{spec: {template: {spec: {containers: [{name: b, image: B}, {name: a, image: "
                "A}]}}}}",
                "{spec: {template: {spec: {containers: [{name: x}, {name: b, image: B}, {name: a, "
                "image: A}]}}}}");
    check_apply("{spec: {template: {spec: {containers: [{name: a}, {name: b}]}}}}",
                "{spec: {template: {spec: {containers: [{name: c}, {name: a}]}}}}",
                "{spec: {template: {spec: {containers: [{name: c}, {name: a}, {name: b}]}}}}");
    /* Sets: union, duplicates in the applied list dropped. */
    check_apply("{metadata: {finalizers: [a, b]}}", "{metadata: {finalizers: [c, b, c]}}",
                "{metadata: {finalizers: [a, c, b]}}");
    /* Type changes replace. */
    check_apply("{metadata: {labels: {a: b}}, spec: {revisionHistoryLimit: 3}}",
                "{metadata: {labels: [x]}, spec: {revisionHistoryLimit: {n: 1}}}",
                "{metadata: {labels: [x]}, spec: {revisionHistoryLimit: {n: 1}}}");
    /* Without a schema lists are atomic and objects merge. */
    kl_json_t *d = Y("{a: {b: 1, c: [1, 2]}}"), *a = Y("{a: {c: [3], d: null}}");
    assert_int_equal(kl_patch_apply(&d, a, NULL, NULL), 0);
    kl_json_t *w = Y("{a: {b: 1, c: [3]}}");
    assert_true(kl_json_equal(d, w));
    kl_json_free(d);
    kl_json_free(a);
    kl_json_free(w);
}

static void test_apiserver_patch_apply_errors(void **state)
{
    (void)state;
    check_apply_error(live_ds, "[1]", KL_EBADREQUEST, "applied configuration must be an object");
    check_apply_error(live_ds,
                      "{spec: {template: {spec: {containers: [{name: agent}, {name: agent}]}}}}",
                      KL_EINVAL, "duplicate entries for key [name=agent]");
    check_apply_error(live_ds, "{spec: {template: {spec: {containers: [{image: x}]}}}}", KL_EINVAL,
                      "associative list with keys has an element that omits key field \"name\"");
    check_apply_error(live_ds, "{spec: {template: {spec: {containers: [a]}}}}", KL_EINVAL,
                      "element that is not an object");

    /* Associative lists too long to pair are refused rather than scanned. */
    kl_json_t *d = Y("{spec: {template: {spec: {containers: []}}}}");
    kl_json_t *a = Y("{spec: {template: {spec: {containers: []}}}}");
    kl_json_t *dl = kl_json_path(d, "spec", "template", "spec", "containers", NULL);
    kl_json_t *al = kl_json_path(a, "spec", "template", "spec", "containers", NULL);
    for (int i = 0; i < 3000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "c%d", i);
        kl_json_t *x = kl_json_object(), *y = kl_json_object();
        assert_int_equal(kl_json_set_str(x, "name", name), 0);
        assert_int_equal(kl_json_set_str(y, "name", name), 0);
        assert_int_equal(kl_json_append(dl, x), 0);
        assert_int_equal(kl_json_append(al, y), 0);
    }
    kl_errinfo_t err;
    assert_int_equal(kl_patch_apply(&d, a, &t_ds, &err), KL_ETOOBIG);
    kl_json_free(d);
    kl_json_free(a);

    /* Nesting beyond the limit. */
    kl_json_t *deep = kl_json_object(), *cur = deep;
    kl_json_t *live = kl_json_object(), *lc = live;
    for (int i = 0; i < 300; i++) {
        kl_json_t *n = kl_json_object(), *m = kl_json_object();
        assert_int_equal(kl_json_set(cur, "a", n), 0);
        assert_int_equal(kl_json_set(lc, "a", m), 0);
        cur = n;
        lc = m;
    }
    assert_int_equal(kl_patch_apply(&live, deep, NULL, &err), KL_ETOODEEP);
    kl_json_t *empty = kl_json_object();
    assert_int_equal(kl_patch_apply(&empty, deep, NULL, &err), KL_ETOODEEP);
    kl_json_free(empty);
    kl_json_free(live);
    kl_json_free(deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apiserver_patch_apply_create),
        cmocka_unit_test(test_apiserver_patch_apply_merge),
        cmocka_unit_test(test_apiserver_patch_apply_order),
        cmocka_unit_test(test_apiserver_patch_apply_errors),
    };
    return cmocka_run_group_tests_name("apiserver_patch_apply", tests, NULL, NULL);
}
