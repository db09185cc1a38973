/* Strategic merge patch: upstream's own test table (k8s.io/apimachinery strategicpatch
 * patch_test.go, MergeItem schema) and the bodies kubectl sends, against hand-built schemas. */
#include "kubelua/json.h"
#include "kubelua/patch.h"
#include "kubelua/schema.h"

#include "unit/test_util.h"

#define FIELDS(a) .fields = (a), .nfields = sizeof(a) / sizeof((a)[0])

static const kl_stype_t t_str = {.kind = KL_SK_STRING};
static const kl_stype_t t_int = {.kind = KL_SK_INT};
static const kl_stype_t t_bool = {.kind = KL_SK_BOOL};
static const kl_stype_t t_any = {.kind = KL_SK_ANY};
static const kl_stype_t t_strmap = {.kind = KL_SK_MAP, .elem = &t_str};
static const kl_stype_t t_strlist = {.kind = KL_SK_LIST, .elem = &t_str};
static const kl_stype_t t_intlist = {.kind = KL_SK_LIST, .elem = &t_int};

/* ---- Upstream's test types: MergeItem and RetainKeysMergeItem ------------------------------ */

static const kl_stype_t t_mi;
static const kl_stype_t t_rk;
static const kl_stype_t t_mi_list = {.kind = KL_SK_LIST, .elem = &t_mi};

static const kl_sfield_t f_mi[] = {
    {.name = "name", .type = &t_str},
    {.name = "value", .type = &t_str},
    {.name = "other", .type = &t_str},
    {.name = "mergingList", .type = &t_mi_list, .merge_key = "name", .flags = KL_SF_PATCH_MERGE},
    {.name = "nonMergingList", .type = &t_mi_list},
    {.name = "mergingIntList", .type = &t_intlist, .flags = KL_SF_PATCH_MERGE},
    {.name = "nonMergingIntList", .type = &t_intlist},
    {.name = "mergeItemPtr", .type = &t_mi_list, .merge_key = "name", .flags = KL_SF_PATCH_MERGE},
    {.name = "simpleMap", .type = &t_strmap},
    {.name = "replacingItem", .type = &t_any, .flags = KL_SF_PATCH_REPLACE},
    {.name = "retainKeysMap", .type = &t_rk, .flags = KL_SF_RETAIN_KEYS},
    {.name = "retainKeysMergingList",
     .type = &t_mi_list,
     .merge_key = "name",
     .flags = KL_SF_PATCH_MERGE | KL_SF_RETAIN_KEYS},
};
static const kl_stype_t t_mi = {
    .name = "io.k8s.test.MergeItem", .kind = KL_SK_OBJECT, FIELDS(f_mi)};

static const kl_sfield_t f_rk[] = {
    {.name = "name", .type = &t_str},
    {.name = "value", .type = &t_str},
    {.name = "other", .type = &t_str},
    {.name = "simpleMap", .type = &t_strmap},
    {.name = "mergingIntList", .type = &t_intlist, .flags = KL_SF_PATCH_MERGE},
    {.name = "mergingList", .type = &t_mi_list, .merge_key = "name", .flags = KL_SF_PATCH_MERGE},
    {.name = "nonMergingList", .type = &t_mi_list},
};
static const kl_stype_t t_rk = {
    .name = "io.k8s.test.RetainKeysMergeItem", .kind = KL_SK_OBJECT, FIELDS(f_rk)};

/* ---- A Pod-ish DaemonSet schema, with upstream's patch tags ------------------------------------
 */

static const kl_sfield_t f_env[] = {
    {.name = "name", .type = &t_str},
    {.name = "value", .type = &t_str},
    {.name = "valueFrom", .type = &t_any},
};
static const kl_stype_t t_env = {
    .name = "io.k8s.api.core.v1.EnvVar", .kind = KL_SK_OBJECT, FIELDS(f_env)};
static const kl_stype_t t_env_list = {.kind = KL_SK_LIST, .elem = &t_env};

static const kl_sfield_t f_port[] = {
    {.name = "name", .type = &t_str},
    {.name = "containerPort", .type = &t_int},
    {.name = "hostPort", .type = &t_int},
    {.name = "protocol", .type = &t_str},
};
static const kl_stype_t t_port = {
    .name = "io.k8s.api.core.v1.ContainerPort", .kind = KL_SK_OBJECT, FIELDS(f_port)};
static const char *const port_keys[] = {"containerPort", "protocol", NULL};
static const kl_stype_t t_port_list = {
    .kind = KL_SK_LIST, .elem = &t_port, .list_type = "map", .list_map_keys = port_keys};

static const kl_sfield_t f_mount[] = {
    {.name = "name", .type = &t_str},
    {.name = "mountPath", .type = &t_str},
    {.name = "readOnly", .type = &t_bool},
};
static const kl_stype_t t_mount = {
    .name = "io.k8s.api.core.v1.VolumeMount", .kind = KL_SK_OBJECT, FIELDS(f_mount)};
static const kl_stype_t t_mount_list = {.kind = KL_SK_LIST, .elem = &t_mount};

static const kl_sfield_t f_resources[] = {
    {.name = "limits", .type = &t_strmap},
    {.name = "requests", .type = &t_strmap},
};
static const kl_stype_t t_resources = {
    .name = "io.k8s.api.core.v1.ResourceRequirements", .kind = KL_SK_OBJECT, FIELDS(f_resources)};

static const kl_sfield_t f_container[] = {
    {.name = "name", .type = &t_str},
    {.name = "image", .type = &t_str},
    {.name = "imagePullPolicy", .type = &t_str},
    {.name = "command", .type = &t_strlist},
    {.name = "args", .type = &t_strlist},
    {.name = "env", .type = &t_env_list, .merge_key = "name", .flags = KL_SF_PATCH_MERGE},
    {.name = "ports",
     .type = &t_port_list,
     .merge_key = "containerPort",
     .flags = KL_SF_PATCH_MERGE},
    {.name = "volumeMounts",
     .type = &t_mount_list,
     .merge_key = "mountPath",
     .flags = KL_SF_PATCH_MERGE},
    {.name = "resources", .type = &t_resources},
    {.name = "terminationMessagePath", .type = &t_str},
};
static const kl_stype_t t_container = {
    .name = "io.k8s.api.core.v1.Container", .kind = KL_SK_OBJECT, FIELDS(f_container)};
static const kl_stype_t t_container_list = {.kind = KL_SK_LIST, .elem = &t_container};

static const kl_sfield_t f_toleration[] = {
    {.name = "key", .type = &t_str},
    {.name = "operator", .type = &t_str},
    {.name = "value", .type = &t_str},
    {.name = "effect", .type = &t_str},
    {.name = "tolerationSeconds", .type = &t_int},
};
static const kl_stype_t t_toleration = {
    .name = "io.k8s.api.core.v1.Toleration", .kind = KL_SK_OBJECT, FIELDS(f_toleration)};
static const kl_stype_t t_toleration_list = {.kind = KL_SK_LIST, .elem = &t_toleration};

static const kl_sfield_t f_cmref[] = {{.name = "name", .type = &t_str}};
static const kl_stype_t t_cmref = {
    .name = "io.k8s.api.core.v1.ConfigMapVolumeSource", .kind = KL_SK_OBJECT, FIELDS(f_cmref)};
static const kl_sfield_t f_emptydir[] = {{.name = "medium", .type = &t_str}};
static const kl_stype_t t_emptydir = {
    .name = "io.k8s.api.core.v1.EmptyDirVolumeSource", .kind = KL_SK_OBJECT, FIELDS(f_emptydir)};
static const kl_sfield_t f_volume[] = {
    {.name = "name", .type = &t_str},
    {.name = "configMap", .type = &t_cmref},
    {.name = "emptyDir", .type = &t_emptydir},
    {.name = "hostPath", .type = &t_any},
};
static const kl_stype_t t_volume = {
    .name = "io.k8s.api.core.v1.Volume", .kind = KL_SK_OBJECT, FIELDS(f_volume)};
static const kl_stype_t t_volume_list = {.kind = KL_SK_LIST, .elem = &t_volume};

static const kl_sfield_t f_podspec[] = {
    {.name = "containers",
     .type = &t_container_list,
     .merge_key = "name",
     .flags = KL_SF_PATCH_MERGE},
    {.name = "initContainers",
     .type = &t_container_list,
     .merge_key = "name",
     .flags = KL_SF_PATCH_MERGE},
    {.name = "volumes",
     .type = &t_volume_list,
     .merge_key = "name",
     .flags = KL_SF_PATCH_MERGE | KL_SF_RETAIN_KEYS},
    {.name = "tolerations", .type = &t_toleration_list},
    {.name = "nodeSelector", .type = &t_strmap},
    {.name = "restartPolicy", .type = &t_str},
    {.name = "dnsPolicy", .type = &t_str},
    {.name = "serviceAccountName", .type = &t_str},
    {.name = "hostNetwork", .type = &t_bool},
};
static const kl_stype_t t_podspec = {
    .name = "io.k8s.api.core.v1.PodSpec", .kind = KL_SK_OBJECT, FIELDS(f_podspec)};

static const kl_sfield_t f_ownerref[] = {
    {.name = "apiVersion", .type = &t_str},  {.name = "kind", .type = &t_str},
    {.name = "name", .type = &t_str},        {.name = "uid", .type = &t_str},
    {.name = "controller", .type = &t_bool},
};
static const kl_stype_t t_ownerref = {.name = "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
                                      .kind = KL_SK_OBJECT,
                                      FIELDS(f_ownerref)};
static const kl_stype_t t_ownerref_list = {.kind = KL_SK_LIST, .elem = &t_ownerref};

static const kl_sfield_t f_meta[] = {
    {.name = "name", .type = &t_str},
    {.name = "namespace", .type = &t_str},
    {.name = "uid", .type = &t_str},
    {.name = "resourceVersion", .type = &t_str},
    {.name = "generation", .type = &t_int},
    {.name = "creationTimestamp", .type = &t_str},
    {.name = "labels", .type = &t_strmap},
    {.name = "annotations", .type = &t_strmap},
    {.name = "finalizers", .type = &t_strlist, .flags = KL_SF_PATCH_MERGE},
    {.name = "ownerReferences",
     .type = &t_ownerref_list,
     .merge_key = "uid",
     .flags = KL_SF_PATCH_MERGE},
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

static const kl_sfield_t f_selector[] = {
    {.name = "matchLabels", .type = &t_strmap},
    {.name = "matchExpressions", .type = &t_any},
};
static const kl_stype_t t_selector = {.name = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
                                      .kind = KL_SK_OBJECT,
                                      FIELDS(f_selector)};

static const kl_sfield_t f_rolling[] = {
    {.name = "maxUnavailable", .type = &t_any},
    {.name = "maxSurge", .type = &t_any},
};
static const kl_stype_t t_rolling = {
    .name = "io.k8s.api.apps.v1.RollingUpdateDaemonSet", .kind = KL_SK_OBJECT, FIELDS(f_rolling)};
static const kl_sfield_t f_strategy[] = {
    {.name = "type", .type = &t_str},
    {.name = "rollingUpdate", .type = &t_rolling},
};
static const kl_stype_t t_strategy = {
    .name = "io.k8s.api.apps.v1.DaemonSetUpdateStrategy", .kind = KL_SK_OBJECT, FIELDS(f_strategy)};

static const kl_sfield_t f_dsspec[] = {
    {.name = "selector", .type = &t_selector},
    {.name = "template", .type = &t_template},
    {.name = "updateStrategy", .type = &t_strategy},
    {.name = "strategy", .type = &t_strategy, .flags = KL_SF_RETAIN_KEYS},
    {.name = "minReadySeconds", .type = &t_int},
    {.name = "revisionHistoryLimit", .type = &t_int},
};
static const kl_stype_t t_dsspec = {
    .name = "io.k8s.api.apps.v1.DaemonSetSpec", .kind = KL_SK_OBJECT, FIELDS(f_dsspec)};

static const kl_stype_t t_status = {.kind = KL_SK_OBJECT, .preserve_unknown = true};

static const kl_sfield_t f_ds[] = {
    {.name = "apiVersion", .type = &t_str}, {.name = "kind", .type = &t_str},
    {.name = "metadata", .type = &t_meta},  {.name = "spec", .type = &t_dsspec},
    {.name = "status", .type = &t_status},
};
static const kl_stype_t t_ds = {
    .name = "io.k8s.api.apps.v1.DaemonSet", .kind = KL_SK_OBJECT, FIELDS(f_ds)};

/* ---- Helpers ----------------------------------------------------------------------------------
 */

/* Parses YAML (flow style is fine) or JSON. */
static kl_json_t *Y(const char *text)
{
    kl_json_t **docs = NULL;
    size_t n = 0;
    kl_errinfo_t err = {0};
    if (strcmp(text, "null") == 0) /* a document holding only null counts as empty */
        return kl_json_null();
    if (kl_yaml_parse(text, strlen(text), NULL, &docs, &n, &err) < 0 || n != 1) {
        fprintf(stderr, "bad test YAML (%s): %s\n", err.msg, text);
        fail();
    }
    kl_json_t *j = docs[0];
    free(docs);
    return j;
}

static kl_json_t *J(const char *text)
{
    kl_json_t *j = NULL;
    kl_errinfo_t err;
    if (kl_json_parse(text, strlen(text), NULL, &j, &err) < 0) {
        fprintf(stderr, "bad test JSON (%s): %s\n", err.msg, text);
        fail();
    }
    return j;
}

static char *enc(const kl_json_t *j)
{
    char *s = kl_json_encode_alloc(j, NULL);
    assert_non_null(s);
    return s;
}

typedef struct smp_case {
    const char *name;
    const char *orig;
    const char *patch;
    const char *want; /* NULL: must fail */
    int rc;           /* expected code when failing */
    const char *msg;  /* expected substring of the message when failing */
} smp_case_t;

static int run_cases(const smp_case_t *cases, size_t n, const kl_stype_t *t)
{
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        const smp_case_t *c = &cases[i];
        kl_json_t *d = Y(c->orig), *p = Y(c->patch);
        kl_errinfo_t err = {0};
        int rc = kl_patch_strategic(&d, p, t, &err);
        if (c->want != NULL) {
            kl_json_t *w = Y(c->want);
            if (rc != 0 || !kl_json_equal(d, w)) {
                char *got = rc == 0 ? enc(d) : NULL, *want = enc(w);
                fprintf(stderr, "FAIL %s: rc %s %s\n  got  %s\n  want %s\n", c->name,
                        kl_err_name(rc), rc ? err.msg : "", got ? got : "-", want);
                free(got);
                free(want);
                failures++;
            }
            kl_json_free(w);
        } else if (rc != c->rc || err.code != c->rc || strstr(err.msg, c->msg) == NULL) {
            fprintf(stderr, "FAIL %s: rc %s \"%s\", want %s \"%s\"\n", c->name, kl_err_name(rc),
                    err.msg, kl_err_name(c->rc), c->msg);
            failures++;
        }
        kl_json_free(d);
        kl_json_free(p);
    }
    return failures;
}

/* ---- Upstream's cases -------------------------------------------------------------------------
 */

/* Each row is a (current, patch, result) triple of upstream's patch_test.go: its custom cases
 * (original + twoWay = modified) and its raw cases (current + threeWay = result, and for some
 * original + twoWay = modified). */
static const smp_case_t upstream_cases[] = {
    {"unique scalars when merging lists", "{mergingIntList: [1, 2]}", "{mergingIntList: [2, 3]}",
     "{mergingIntList: [1, 2, 3]}", 0, NULL},
    {"delete map from nested map", "{simpleMap: {key1: 1, key2: 1}}",
     "{simpleMap: {$patch: delete}}", "{simpleMap: {}}", 0, NULL},
    {"delete all items from merging list", "{mergingList: [{name: 1}, {name: 2}]}",
     "{mergingList: [{$patch: replace}]}", "{mergingList: []}", 0, NULL},
    {"merge empty merging lists", "{mergingList: []}", "{mergingList: []}", "{mergingList: []}", 0,
     NULL},
    {"delete all keys from map", "{name: 1, value: 1}", "{$patch: replace}", "{}", 0, NULL},
    {"add key and delete all keys from map", "{name: 1, value: 1}", "{other: a, $patch: replace}",
     "{other: a}", 0, NULL},
    {"delete all duplicate entries in a merging list",
     "{mergingList: [{name: 1}, {name: 1}, {name: 2, value: a}, {name: 3}, {name: 3}]}",
     "{mergingList: [{name: 1, $patch: delete}, {name: 3, $patch: delete}]}",
     "{mergingList: [{name: 2, value: a}]}", 0, NULL},
    {"retainKeys map can add a field when no retainKeys directive present",
     "{retainKeysMap: {name: foo}}", "{retainKeysMap: {value: bar}}",
     "{retainKeysMap: {name: foo, value: bar}}", 0, NULL},
    {"retainKeys map can change a field when no retainKeys directive present",
     "{retainKeysMap: {name: foo, value: a}}", "{retainKeysMap: {value: b}}",
     "{retainKeysMap: {name: foo, value: b}}", 0, NULL},
    {"retainKeys map can delete a field when no retainKeys directive present",
     "{retainKeysMap: {name: foo, value: a}}", "{retainKeysMap: {value: null}}",
     "{retainKeysMap: {name: foo}}", 0, NULL},
    {"retainKeys map merge an empty map", "{retainKeysMap: {name: foo, value: a}}",
     "{retainKeysMap: {}}", "{retainKeysMap: {name: foo, value: a}}", 0, NULL},
    {"retainKeys list can add a field when no retainKeys directive present",
     "{retainKeysMergingList: [{name: bar}, {name: foo}]}",
     "{retainKeysMergingList: [{name: foo, value: a}]}",
     "{retainKeysMergingList: [{name: bar}, {name: foo, value: a}]}", 0, NULL},
    {"retainKeys list can delete a field when no retainKeys directive present",
     "{retainKeysMergingList: [{name: bar}, {name: foo, value: a}]}",
     "{retainKeysMergingList: [{name: foo, value: null}]}",
     "{retainKeysMergingList: [{name: bar}, {name: foo}]}", 0, NULL},
    {"preserve the order from the patch in a merging list",
     "{mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]}",
     "{mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, other: x}]}",
     "{mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, value: b, other: x}]}", 0,
     NULL},
    {"preserve the order from the patch in a merging list 2",
     "{mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]}",
     "{mergingList: [{name: 3, value: c}, {name: 1, value: a}]}",
     "{mergingList: [{name: 2, value: b}, {name: 3, value: c}, {name: 1, value: a}]}", 0, NULL},
    {"preserve the order from the patch in a merging int list", "{mergingIntList: [1, 2, 3]}",
     "{mergingIntList: [3, 1, 2]}", "{mergingIntList: [3, 1, 2]}", 0, NULL},
    {"preserve the order from the patch in a merging int list 2", "{mergingIntList: [1, 2, 3]}",
     "{mergingIntList: [3, 1]}", "{mergingIntList: [2, 3, 1]}", 0, NULL},
    {"$setElementOrder contains item that is not present in the list to be merged",
     "{mergingList: [{name: 1}, {name: 3}]}",
     "{$setElementOrder/mergingList: [{name: 3}, {name: 2}, {name: 1}], mergingList: [{name: 3, "
     "value: 3}, {name: 1, value: 1}]}",
     "{mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]}", 0, NULL},
    {"$setElementOrder contains item that is not present in the int list to be merged",
     "{mergingIntList: [1, 3]}", "{$setElementOrder/mergingIntList: [3, 2, 1]}",
     "{mergingIntList: [3, 1]}", 0, NULL},
    {"should check if order in $setElementOrder and patch list match",
     "{mergingList: [{name: 1}, {name: 3}, {name: 2}]}",
     "{$setElementOrder/mergingList: [{name: 1}, {name: 2}, {name: 3}], mergingList: [{name: 3, "
     "value: 3}, {name: 1, value: 1}]}",
     NULL, KL_EINVAL, "doesn't match $setElementOrder list"},
    {"should check if order in $setElementOrder and patch int list match",
     "{mergingIntList: [1, 3, 2]}",
     "{$setElementOrder/mergingIntList: [1, 2, 3], mergingIntList: [3, 1]}", NULL, KL_EINVAL,
     "the order in patch list:\n[3 1]\n doesn't match $setElementOrder list:\n[1 2 3]"},
    {"missing merge key should error out", "{mergingList: [{name: 1, value: a}]}",
     "{mergingList: [{value: b}]}", NULL, KL_EINVAL,
     "map: map[value:b] does not contain declared merge key: name"},
    {"$deleteFromPrimitiveList of nonexistent item in primitive list should not add the item",
     "{mergingIntList: [1, 2]}", "{$deleteFromPrimitiveList/mergingIntList: [3]}",
     "{mergingIntList: [1, 2]}", 0, NULL},
    {"$deleteFromPrimitiveList on empty primitive list should not add the item",
     "{mergingIntList: null}", "{$deleteFromPrimitiveList/mergingIntList: [3]}",
     "{mergingIntList: null}", 0, NULL},
    {"$deleteFromPrimitiveList on nonexistent primitive list should not add the list",
     "{foo: [bar]}", "{$deleteFromPrimitiveList/mergingIntList: [3]}", "{foo: [bar]}", 0, NULL},
    {"$deleteFromPrimitiveList should delete item from a list with merge patch strategy",
     "{mergingIntList: [1, 2, 3]}", "{$deleteFromPrimitiveList/mergingIntList: [2]}",
     "{mergingIntList: [1, 3]}", 0, NULL},
    {"$deleteFromPrimitiveList should delete item from a list without merge patch strategy",
     "{nonMergingIntList: [1, 2, 3]}", "{$deleteFromPrimitiveList/nonMergingIntList: [2]}",
     "{nonMergingIntList: [1, 3]}", 0, NULL},
    {"nested patch merge with empty list (two-way)", "{name: hi}",
     "{mergingList: [{name: hello}, {$patch: delete, name: doesntexist}]}",
     "{name: hi, mergingList: [{name: hello}]}", 0, NULL},
    {"nested patch merge with empty list (three-way)", "{name: hi, mergingList: [{name: hello2}]}",
     "{$setElementOrder/mergingList: [{name: hello}, {name: doesntexist}], mergingList: [{name: "
     "hello}, {$patch: delete, name: doesntexist}]}",
     "{name: hi, mergingList: [{name: hello}, {name: hello2}]}", 0, NULL},
    {"delete items in lists of scalars", "{mergingIntList: [1, 2, 3, 4]}",
     "{$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}",
     "{mergingIntList: [1, 2, 4]}", 0, NULL},
    {"delete all duplicate items in lists of scalars", "{mergingIntList: [1, 2, 3, 3, 4]}",
     "{$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}",
     "{mergingIntList: [1, 2, 4]}", 0, NULL},
    {"add and delete items in lists of scalars", "{mergingIntList: [1, 2, 3]}",
     "{$setElementOrder/mergingIntList: [1, 2, 4], $deleteFromPrimitiveList/mergingIntList: [3], "
     "mergingIntList: [4]}",
     "{mergingIntList: [1, 2, 4]}", 0, NULL},
    {"merge lists of maps", "{mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}",
     "{$setElementOrder/mergingList: [{name: 4}, {name: 1}, {name: 2}, {name: 3}], mergingList: "
     "[{name: 4, value: 4}, {name: 3, value: 3}]}",
     "{mergingList: [{name: 4, value: 4}, {name: 1, other: a}, {name: 2, value: 2, other: b}, "
     "{name: 3, value: 3}]}",
     0, NULL},
    {"merge lists of maps with conflict",
     "{mergingList: [{name: 1, other: a}, {name: 2, value: 3, other: b}]}",
     "{$setElementOrder/mergingList: [{name: 1}, {name: 2}, {name: 3}], mergingList: [{name: 2, "
     "value: 2}, {name: 3, value: 3}]}",
     "{mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]}", 0,
     NULL},
    {"add field to map in merging list with conflict",
     "{mergingList: [{name: 1, other: a}, {name: 3, value: 2, other: b}]}",
     "{$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, value: 1}, "
     "{name: 2, value: 2}]}",
     "{mergingList: [{name: 1, value: 1, other: a}, {name: 2, value: 2}, {name: 3, value: 2, "
     "other: b}]}",
     0, NULL},
    {"add map and delete map from merging list",
     "{mergingList: [{name: 1}, {name: 2, other: b}, {name: 4, other: c}]}",
     "{$setElementOrder/mergingList: [{name: 2}, {name: 3}], mergingList: [{name: 3}, {name: 1, "
     "$patch: delete}]}",
     "{mergingList: [{name: 2, other: b}, {name: 4, other: c}, {name: 3}]}", 0, NULL},
    {"add map and delete map from merging list with conflict",
     "{mergingList: [{name: 1, other: a}, {name: 4, other: c}]}",
     "{$setElementOrder/mergingList: [{name: 2}, {name: 3}], mergingList: [{name: 2}, {name: 3}, "
     "{name: 1, $patch: delete}]}",
     "{mergingList: [{name: 4, other: c}, {name: 2}, {name: 3}]}", 0, NULL},
    {"delete missing map from merging list with conflict", "{mergingList: [{name: 3, other: a}]}",
     "{$setElementOrder/mergingList: [{name: 2}], mergingList: [{name: 2}, {name: 1, $patch: "
     "delete}]}",
     "{mergingList: [{name: 2}, {name: 3, other: a}]}", 0, NULL},
    {"delete field from map in merging list",
     "{mergingList: [{name: 1, value: 1, other: a}, {name: 2, value: 2, other: b}]}",
     "{$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, value: "
     "null}]}",
     "{mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}", 0, NULL},
    {"replace non merging list nested in merging list",
     "{mergingList: [{name: 1, other: a, nonMergingList: [{name: 1}, {name: 2, value: 2}]}, "
     "{name: 2, other: b}]}",
     "{$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, "
     "nonMergingList: [{name: 1, value: 1}]}]}",
     "{mergingList: [{name: 1, other: a, nonMergingList: [{name: 1, value: 1}]}, {name: 2, "
     "other: b}]}",
     0, NULL},
    {"add field to map in merging list nested in merging list with deletion conflict",
     "{mergingList: [{name: 1, other: a, mergingList: [{name: 2, value: 2, other: d}]}, {name: 2, "
     "other: b}]}",
     "{$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: "
     "[{$setElementOrder/mergingList: [{name: 2}, {name: 1}], name: 1, mergingList: [{name: 1, "
     "value: 1}]}]}",
     "{mergingList: [{name: 1, other: a, mergingList: [{name: 2, value: 2, other: d}, {name: 1, "
     "value: 1}]}, {name: 2, other: b}]}",
     0, NULL},
    {"add map to merging list by pointer", "{mergeItemPtr: [{name: 1, other: a}, {name: 3}]}",
     "{$setElementOrder/mergeItemPtr: [{name: 1}, {name: 2}], mergeItemPtr: [{name: 2}]}",
     "{mergeItemPtr: [{name: 1, other: a}, {name: 2}, {name: 3}]}", 0, NULL},
    {"merge lists of scalars", "{mergingIntList: [1, 2, 4]}",
     "{$setElementOrder/mergingIntList: [1, 2, 3], mergingIntList: [3]}",
     "{mergingIntList: [1, 2, 3, 4]}", 0, NULL},
    {"add an item in a list of primitives and preserve order", "{mergingIntList: [1, 4, 2]}",
     "{$setElementOrder/mergingIntList: [3, 1, 2], mergingIntList: [3]}",
     "{mergingIntList: [3, 1, 4, 2]}", 0, NULL},
    {"delete an item in a list of primitives and preserve order", "{mergingIntList: [1, 2, 3]}",
     "{$setElementOrder/mergingIntList: [2, 1], $deleteFromPrimitiveList/mergingIntList: [3]}",
     "{mergingIntList: [2, 1]}", 0, NULL},
    {"add an item in a list and preserve order",
     "{mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}",
     "{$setElementOrder/mergingList: [{name: 3}, {name: 1}, {name: 2}], mergingList: [{name: 3, "
     "value: 3}]}",
     "{mergingList: [{name: 3, value: 3}, {name: 1, other: a}, {name: 2, value: 2, other: b}]}", 0,
     NULL},
    {"add multiple items in a list and preserve order",
     "{mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}",
     "{$setElementOrder/mergingList: [{name: 1}, {name: 4}, {name: 2}, {name: 3}], mergingList: "
     "[{name: 4, value: 4}, {name: 3, value: 3}]}",
     "{mergingList: [{name: 1, other: a}, {name: 4, value: 4}, {name: 2, value: 2, other: b}, "
     "{name: 3, value: 3}]}",
     0, NULL},
    {"delete an item in a list and preserve order",
     "{mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]}",
     "{$setElementOrder/mergingList: [{name: 2}, {name: 1}], mergingList: [{name: 3, $patch: "
     "delete}]}",
     "{mergingList: [{name: 2, value: 2, other: b}, {name: 1, other: a}]}", 0, NULL},
    {"add and delete an item in a list and preserve order",
     "{mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]}",
     "{$setElementOrder/mergingList: [{name: 4}, {name: 2}, {name: 1}], mergingList: [{name: 4, "
     "value: 4}, {name: 3, $patch: delete}]}",
     "{mergingList: [{name: 4, value: 4}, {name: 2, value: 2, other: b}, {name: 1, other: a}]}", 0,
     NULL},
    {"set elements order in a list with server-only items 3",
     "{mergingList: [{name: 1, other: a}, {name: 2, value: 2}, {name: 7}, {name: 9}, {name: 8}, "
     "{name: 3, value: 3}, {name: 4, value: 4}]}",
     "{$setElementOrder/mergingList: [{name: 2}, {name: 1}, {name: 4}, {name: 3}]}",
     "{mergingList: [{name: 2, value: 2}, {name: 1, other: a}, {name: 7}, {name: 9}, {name: 8}, "
     "{name: 4, value: 4}, {name: 3, value: 3}]}",
     0, NULL},
    {"set elements order in a int list with server-only items 2",
     "{mergingIntList: [1, 2, 9, 3, 4]}", "{$setElementOrder/mergingIntList: [2, 1, 4, 3]}",
     "{mergingIntList: [2, 1, 9, 4, 3]}", 0, NULL},
    {"behavior of set element order for a merging list with duplicate",
     "{mergingList: [{name: 1}, {name: 2, value: dup1}, {name: 3}, {name: 2, value: dup2}, {name: "
     "4}]}",
     "{$setElementOrder/mergingList: [{name: 2}, {name: 1}, {name: 4}, {name: 3}, {name: 2}]}",
     "{mergingList: [{name: 2, value: dup1}, {name: 2, value: dup2}, {name: 1}, {name: 4}, {name: "
     "3}]}",
     0, NULL},
    {"behavior of set element order for a merging int list with duplicate",
     "{mergingIntList: [1, 2, 3, 2, 4]}", "{$setElementOrder/mergingIntList: [2, 1, 4, 3, 2]}",
     "{mergingIntList: [2, 2, 1, 4, 3]}", 0, NULL},
    {"retainKeys map should clear defaulted field", "{retainKeysMap: {value: foo}}",
     "{retainKeysMap: {$retainKeys: [other], other: bar}}", "{retainKeysMap: {other: bar}}", 0,
     NULL},
    {"retainKeys map should clear defaulted field with conflict (discriminated union)",
     "{retainKeysMap: {name: type1, value: foo}}",
     "{retainKeysMap: {$retainKeys: [name, other], name: type2, other: bar}}",
     "{retainKeysMap: {name: type2, other: bar}}", 0, NULL},
    {"retainKeys map deletes a field and clears a field",
     "{retainKeysMap: {name: foo, value: bar, other: a}}",
     "{retainKeysMap: {$retainKeys: [name], value: null}}", "{retainKeysMap: {name: foo}}", 0,
     NULL},
    {"retainKeys map adds a field in a nested map",
     "{retainKeysMap: {name: foo, value: bar, simpleMap: {key1: a, key3: c}}}",
     "{retainKeysMap: {$retainKeys: [name, simpleMap, value], simpleMap: {key2: b}}}",
     "{retainKeysMap: {name: foo, value: bar, simpleMap: {key1: a, key2: b, key3: c}}}", 0, NULL},
    {"retainKeys map replaces non-merging list",
     "{retainKeysMap: {name: foo, value: bar, nonMergingList: [{name: a}, {name: b}]}}",
     "{retainKeysMap: {$retainKeys: [name, nonMergingList, value], nonMergingList: [{name: a}, "
     "{name: c}, {name: b}]}}",
     "{retainKeysMap: {name: foo, value: bar, nonMergingList: [{name: a}, {name: c}, {name: b}]}}",
     0, NULL},
    {"retainKeys map adds an item in nested merging int list",
     "{retainKeysMap: {name: foo, mergingIntList: [1, 2, 3]}}",
     "{retainKeysMap: {$setElementOrder/mergingIntList: [1, 2, 4], $retainKeys: [mergingIntList, "
     "name], mergingIntList: [4]}}",
     "{retainKeysMap: {name: foo, mergingIntList: [1, 2, 4, 3]}}", 0, NULL},
    {"retainKeys map adds an item and deletes an item in nested merging int list",
     "{retainKeysMap: {name: foo, mergingIntList: [1, 2, 3, 4]}}",
     "{retainKeysMap: {$retainKeys: [mergingIntList, name], mergingIntList: [5], "
     "$deleteFromPrimitiveList/mergingIntList: [2], $setElementOrder/mergingIntList: [1, 3, 5]}}",
     "{retainKeysMap: {name: foo, mergingIntList: [1, 3, 5, 4]}}", 0, NULL},
    {"retainKeys map deletes an item in nested merging list",
     "{retainKeysMap: {name: foo, mergingList: [{name: a}, {name: b}, {name: x}]}}",
     "{retainKeysMap: {$retainKeys: [mergingList, name], $setElementOrder/mergingList: [{name: "
     "a}], mergingList: [{name: b, $patch: delete}]}}",
     "{retainKeysMap: {name: foo, mergingList: [{name: a}, {name: x}]}}", 0, NULL},
    {"retainKeys list of maps clears a field",
     "{retainKeysMergingList: [{name: bar}, {name: foo, value: a, other: x}]}",
     "{$setElementOrder/retainKeysMergingList: [{name: bar}, {name: foo}], "
     "retainKeysMergingList: [{$retainKeys: [name, value], name: foo}]}",
     "{retainKeysMergingList: [{name: bar}, {name: foo, value: a}]}", 0, NULL},
};

static void test_apiserver_patch_smp_upstream(void **state)
{
    (void)state;
    assert_int_equal(
        run_cases(upstream_cases, sizeof(upstream_cases) / sizeof(upstream_cases[0]), &t_mi), 0);
}

/* ---- Directives, errors and edge cases ------------------------------------------------------- */

static const smp_case_t edge_cases[] = {
    {"replace strategy takes the patch's object", "{replacingItem: {a: 1, b: {c: 2}}}",
     "{replacingItem: {b: {d: 3}}}", "{replacingItem: {b: {d: 3}}}", 0, NULL},
    {"non-merging lists are replaced", "{nonMergingList: [{name: 1}, {name: 2}]}",
     "{nonMergingList: [{name: 3}]}", "{nonMergingList: [{name: 3}]}", 0, NULL},
    {"null deletes, unmatched null is ignored", "{name: a, value: b}", "{value: null, other: null}",
     "{name: a}", 0, NULL},
    {"new values lose nulls and directives", "{}",
     "{simpleMap: {a: null, b: 1}, mergingList: [{name: x, $setElementOrder/mergingList: [], "
     "mergingList: [{name: z, value: null}, {name: w, $patch: delete}]}]}",
     "{simpleMap: {b: 1}, mergingList: [{name: x, mergingList: [{name: z}]}]}", 0, NULL},
    {"a new object with $patch is dropped", "{name: a}", "{simpleMap: {$patch: delete}}",
     "{name: a}", 0, NULL},
    {"$patch: replace in an object keeps its siblings", "{simpleMap: {a: 1, b: 2}}",
     "{simpleMap: {$patch: replace, c: 3, d: null}}", "{simpleMap: {c: 3}}", 0, NULL},
    {"$patch: replace in a list with new items", "{mergingList: [{name: 1, value: a}, {name: 2}]}",
     "{mergingList: [{name: 3, value: c}, {$patch: replace}, {name: 1}]}",
     "{mergingList: [{name: 3, value: c}, {name: 1}]}", 0, NULL},
    {"delete directive and merge in one list",
     "{mergingList: [{name: 1, value: a}, {name: 2, value: b}, {name: 3}]}",
     "{mergingList: [{name: 2, $patch: delete}, {name: 3, value: c}]}",
     "{mergingList: [{name: 1, value: a}, {name: 3, value: c}]}", 0, NULL},
    {"new items without $setElementOrder come before server-only ones",
     "{mergingList: [{name: 1}, {name: 2}]}", "{mergingList: [{name: 3}]}",
     "{mergingList: [{name: 3}, {name: 1}, {name: 2}]}", 0, NULL},
    {"two patch items with one key merge into one", "{mergingList: []}",
     "{mergingList: [{name: 1, value: a}, {name: 1, other: b}]}",
     "{mergingList: [{name: 1, value: a, other: b}]}", 0, NULL},
    {"$setElementOrder for a list absent on both sides", "{name: a}",
     "{$setElementOrder/mergingList: [{name: 1}]}", "{name: a}", 0, NULL},
    {"$setElementOrder for a new list", "{name: a}",
     "{$setElementOrder/mergingList: [{name: 2}, {name: 1}], mergingList: [{name: 2}, {name: 1}]}",
     "{name: a, mergingList: [{name: 2}, {name: 1}]}", 0, NULL},
    {"type change replaces", "{simpleMap: {a: 1}, mergingList: [{name: 1}]}",
     "{simpleMap: [1], mergingList: {name: 1}}", "{simpleMap: [1], mergingList: {name: 1}}", 0,
     NULL},
    {"null patch is a no-op", "{name: a}", "null", "{name: a}", 0, NULL},
    {"$patch: merge on an object is rejected", "{simpleMap: {a: 1}}",
     "{simpleMap: {$patch: merge, b: 2}}", NULL, KL_EINVAL,
     "unknown patch type: merge in map: map[$patch:merge b:2]"},
    {"unknown $patch on an object", "{simpleMap: {a: 1}}", "{simpleMap: {$patch: frob}}", NULL,
     KL_EINVAL, "unknown patch type: frob in map: map[$patch:frob]"},
    {"$patch: merge in a list is rejected", "{mergingList: [{name: 1}]}",
     "{mergingList: [{name: 1, $patch: merge}]}", NULL, KL_EINVAL,
     "merging lists cannot yet be specified in the patch"},
    {"unknown $patch in a list", "{mergingList: [{name: 1}]}",
     "{mergingList: [{name: 1, $patch: frob}]}", NULL, KL_EINVAL,
     "unknown patch type: frob in map: map[$patch:frob name:1]"},
    {"delete directive without merge key", "{mergingList: [{name: 1}]}",
     "{mergingList: [{value: 1, $patch: delete}]}", NULL, KL_EINVAL,
     "map: map[$patch:delete value:1] does not contain declared merge key: name"},
    {"server item without merge key", "{mergingList: [{value: 1}]}", "{mergingList: [{name: 2}]}",
     NULL, KL_EINVAL, "does not contain declared merge key: name"},
    {"retainKeys must list the patch's keys", "{retainKeysMap: {name: foo}}",
     "{retainKeysMap: {$retainKeys: [name], value: bar}}", NULL, KL_EBADREQUEST,
     "invalid patch format of retainKeys"},
    {"retainKeys must be a list", "{retainKeysMap: {name: foo}}",
     "{retainKeysMap: {$retainKeys: name}}", NULL, KL_EBADREQUEST,
     "invalid patch format of retainKeys"},
    {"malformed $setElementOrder key", "{mergingList: []}", "{$setElementOrderX: []}", NULL,
     KL_EBADREQUEST, "invalid patch format of setElementOrder list"},
    {"malformed $deleteFromPrimitiveList key", "{mergingIntList: [1]}",
     "{$deleteFromPrimitiveList: [1]}", NULL, KL_EBADREQUEST,
     "invalid patch format of primitive list"},
    {"$setElementOrder must be a list", "{mergingList: []}",
     "{$setElementOrder/mergingList: {name: 1}}", NULL, KL_EINVAL,
     "expected a []interface {}, but received a map[string]interface {}"},
    {"$setElementOrder on a list with no elements anywhere", "{mergingList: []}",
     "{$setElementOrder/mergingList: [{name: 1}]}", NULL, KL_EINVAL,
     "no elements in any of the given slices"},
    {"$setElementOrder items need the merge key", "{mergingList: [{name: 1}]}",
     "{$setElementOrder/mergingList: [{value: 1}]}", NULL, KL_EINVAL,
     "does not contain declared merge key: name"},
    {"unknown field where the schema is needed", "{foo: {a: 1}}", "{foo: {b: 2}}", NULL, KL_EINVAL,
     "unable to find api field in struct MergeItem for the json field \"foo\""},
    {"unknown field is fine when only the patch has it", "{name: a}", "{foo: {b: 2}}",
     "{name: a, foo: {b: 2}}", 0, NULL},
    {"lists of lists", "{mergingIntList: [[1]]}", "{mergingIntList: [[2]]}", NULL, KL_EINVAL,
     "lists of lists are not supported"},
    {"mixed element types", "{mergingIntList: [1]}", "{mergingIntList: [a]}", NULL, KL_EINVAL,
     "list element types are not identical"},
    {"patch must be an object", "{name: a}", "[1]", NULL, KL_EBADREQUEST, "invalid JSON document"},
};

static void test_apiserver_patch_smp_edges(void **state)
{
    (void)state;
    assert_int_equal(run_cases(edge_cases, sizeof(edge_cases) / sizeof(edge_cases[0]), &t_mi), 0);
}

/* Without a schema every list is replaced and objects merge. */
static const smp_case_t schemaless_cases[] = {
    {"lists are replaced", "{containers: [{name: a, image: x}]}",
     "{containers: [{name: b}], metadata: {labels: {c: d}}}",
     "{containers: [{name: b}], metadata: {labels: {c: d}}}", 0, NULL},
    {"objects merge", "{spec: {a: 1, b: {c: 2}}}", "{spec: {b: {d: 3}, a: null}}",
     "{spec: {b: {c: 2, d: 3}}}", 0, NULL},
    {"directives still apply", "{spec: {a: 1, b: 2}}", "{spec: {$retainKeys: [b], b: 3}}",
     "{spec: {b: 3}}", 0, NULL},
    {"setElementOrder reorders a list it does not merge", "{args: [a, b]}",
     "{$setElementOrder/args: [b, a]}", "{args: [b, a]}", 0, NULL},
};

static void test_apiserver_patch_smp_schemaless(void **state)
{
    (void)state;
    assert_int_equal(
        run_cases(schemaless_cases, sizeof(schemaless_cases) / sizeof(schemaless_cases[0]), NULL),
        0);
}

/* ---- kubectl against a live DaemonSet
 * ------------------------------------------------------------ */

/* The object as the server stores it after `kubectl apply -f ds.yaml` (kubectl-protocol.md 5.1)
 * plus defaults and status. */
static const char live_ds[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"annotations\":{"
    "\"deprecated.daemonset.template.generation\":\"1\","
    "\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"apiVersion\\\":\\\"apps/v1\\\","
    "\\\"kind\\\":\\\"DaemonSet\\\",\\\"metadata\\\":{\\\"annotations\\\":{},\\\"labels\\\":{"
    "\\\"app\\\":\\\"node-agent\\\"},\\\"name\\\":\\\"node-agent\\\",\\\"namespace\\\":"
    "\\\"default\\\"},\\\"spec\\\":{\\\"selector\\\":{\\\"matchLabels\\\":{\\\"app\\\":"
    "\\\"node-agent\\\"}},\\\"template\\\":{\\\"metadata\\\":{\\\"labels\\\":{\\\"app\\\":"
    "\\\"node-agent\\\"}},\\\"spec\\\":{\\\"containers\\\":[{\\\"env\\\":[{\\\"name\\\":"
    "\\\"MODE\\\",\\\"value\\\":\\\"a\\\"}],\\\"image\\\":\\\"busybox:1.36\\\",\\\"name\\\":"
    "\\\"agent\\\"}]}}}}\\n\"},"
    "\"creationTimestamp\":\"2026-11-25T11:40:00Z\",\"generation\":1,\"labels\":{\"app\":"
    "\"node-agent\"},\"name\":\"node-agent\",\"namespace\":\"default\",\"resourceVersion\":\"42\","
    "\"uid\":\"6f1c1e9e-0d7a-4b7e-9a59-6a3f5f0c2b11\"},"
    "\"spec\":{\"revisionHistoryLimit\":10,\"selector\":{\"matchLabels\":{\"app\":\"node-agent\"}},"
    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"node-agent\"}},\"spec\":{\"containers\":[{"
    "\"command\":[\"sh\",\"-c\",\"sleep 3600\"],\"env\":[{\"name\":\"MODE\",\"value\":\"a\"}],"
    "\"image\":\"busybox:1.36\",\"imagePullPolicy\":\"IfNotPresent\",\"name\":\"agent\","
    "\"resources\":{},\"terminationMessagePath\":\"/dev/termination-log\"}],\"dnsPolicy\":"
    "\"ClusterFirst\",\"restartPolicy\":\"Always\"}},\"updateStrategy\":{\"rollingUpdate\":{"
    "\"maxSurge\":0,\"maxUnavailable\":1},\"type\":\"RollingUpdate\"}},"
    "\"status\":{\"currentNumberScheduled\":1,\"desiredNumberScheduled\":1,\"numberAvailable\":1,"
    "\"numberMisscheduled\":0,\"numberReady\":1,\"observedGeneration\":1,"
    "\"updatedNumberScheduled\":1}}";

static const char new_last_applied[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"annotations\":{},"
    "\"labels\":{\"app\":\"node-agent\"},\"name\":\"node-agent\",\"namespace\":\"default\"},"
    "\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"node-agent\"}},\"template\":{\"metadata\":"
    "{\"labels\":{\"app\":\"node-agent\"}},\"spec\":{\"containers\":[{\"env\":[{\"name\":\"MODE\","
    "\"value\":\"b\"},{\"name\":\"EXTRA\",\"value\":\"x\"}],\"image\":\"busybox:1.37\",\"name\":"
    "\"agent\"}]}}}}\n";

static kl_json_t *live(void)
{
    return J(live_ds);
}

static kl_json_t *at(kl_json_t *j, const char *path)
{
    /* "a>b>0>c": object keys and array indexes (keys may hold dots and slashes). */
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *tok = strtok(buf, ">"); tok && j; tok = strtok(NULL, ">")) {
        if (j->type == KL_TARRAY)
            j = kl_json_at(j, (uint32_t)atoi(tok));
        else
            j = kl_json_get(j, tok);
    }
    return j;
}

static void assert_str_at(kl_json_t *j, const char *path, const char *want)
{
    const char *got = kl_json_str(at(j, path));
    if (got == NULL || strcmp(got, want) != 0) {
        fprintf(stderr, "%s: got %s, want %s\n", path, got ? got : "(none)", want);
        fail();
    }
}

static void apply_smp(kl_json_t **d, const char *patch)
{
    kl_json_t *p = J(patch);
    kl_errinfo_t err = {0};
    int rc = kl_patch_strategic(d, p, &t_ds, &err);
    if (rc != 0)
        fprintf(stderr, "patch failed: %s\n", err.msg);
    assert_int_equal(rc, 0);
    kl_json_free(p);
}

static void test_apiserver_patch_smp_kubectl_apply(void **state)
{
    (void)state;
    kl_json_t *d = live(), *before = live();
    /* kubectl-protocol.md 5.2, exact body (with the elided manifest filled in). */
    kl_json_t *body = J("{\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/"
                        "last-applied-configuration\":\"\"}},\"spec\":{\"template\":{\"spec\":{"
                        "\"$setElementOrder/containers\":[{\"name\":\"agent\"}],\"containers\":[{"
                        "\"$setElementOrder/env\":[{\"name\":\"MODE\"},{\"name\":\"EXTRA\"}],"
                        "\"env\":[{\"name\":\"MODE\",\"value\":\"b\"},{\"name\":\"EXTRA\","
                        "\"value\":\"x\"}],\"image\":\"busybox:1.37\",\"name\":\"agent\"}]}}}}");
    kl_json_t *ann = kl_json_path(body, "metadata", "annotations", NULL);
    assert_int_equal(
        kl_json_set_str(ann, "kubectl.kubernetes.io/last-applied-configuration", new_last_applied),
        0);
    kl_errinfo_t err;
    assert_int_equal(kl_patch_strategic(&d, body, &t_ds, &err), 0);

    /* The container changed as asked, env merged by name in the order of $setElementOrder. */
    kl_json_t *c = at(d, "spec>template>spec>containers>0");
    kl_json_t *want_c = J("{\"command\":[\"sh\",\"-c\",\"sleep 3600\"],\"env\":[{\"name\":\"MODE\","
                          "\"value\":\"b\"},{\"name\":\"EXTRA\",\"value\":\"x\"}],\"image\":"
                          "\"busybox:1.37\",\"imagePullPolicy\":\"IfNotPresent\",\"name\":"
                          "\"agent\",\"resources\":{},\"terminationMessagePath\":"
                          "\"/dev/termination-log\"}");
    assert_true(kl_json_equal(c, want_c));
    assert_int_equal(at(d, "spec>template>spec>containers")->len, 1);
    char *env = enc(at(d, "spec>template>spec>containers>0>env"));
    assert_string_equal(env, "[{\"name\":\"MODE\",\"value\":\"b\"},{\"name\":\"EXTRA\",\"value\":"
                             "\"x\"}]");
    free(env);
    assert_str_at(d, "metadata>annotations>kubectl.kubernetes.io/last-applied-configuration",
                  new_last_applied);
    assert_str_at(d, "metadata>annotations>deprecated.daemonset.template.generation", "1");
    /* Nothing else moved, and no directive leaked into the object. */
    kl_json_t *expect = kl_json_dup(before);
    kl_json_t **slot = &at(expect, "spec>template>spec>containers")->u.items[0];
    kl_json_free(*slot);
    *slot = kl_json_dup(want_c);
    assert_int_equal(kl_json_set_str(at(expect, "metadata>annotations"),
                                     "kubectl.kubernetes.io/last-applied-configuration",
                                     new_last_applied),
                     0);
    assert_true(kl_json_equal(d, expect));
    char *all = enc(d);
    assert_null(strstr(all, "$setElementOrder"));
    free(all);

    /* Applying the same patch again changes nothing. */
    kl_json_t *again = kl_json_dup(d);
    assert_int_equal(kl_patch_strategic(&again, body, &t_ds, &err), 0);
    assert_true(kl_json_equal(again, d));

    kl_json_free(again);
    kl_json_free(expect);
    kl_json_free(want_c);
    kl_json_free(body);
    kl_json_free(before);
    kl_json_free(d);
}

static void test_apiserver_patch_smp_kubectl_commands(void **state)
{
    (void)state;
    kl_json_t *d = live();
    /* kubectl set image ds/node-agent agent=busybox:1.38 (5.2). */
    apply_smp(&d,
              "{\"spec\":{\"template\":{\"spec\":{\"$setElementOrder/containers\":[{\"name\":"
              "\"agent\"}],\"containers\":[{\"image\":\"busybox:1.38\",\"name\":\"agent\"}]}}}}");
    assert_str_at(d, "spec>template>spec>containers>0>image", "busybox:1.38");
    assert_str_at(d, "spec>template>spec>containers>0>env>0>value", "a");
    assert_int_equal(at(d, "spec>template>spec>containers")->len, 1);

    /* kubectl rollout restart (5.2): the template gets its first annotation. */
    apply_smp(&d, "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{"
                  "\"kubectl.kubernetes.io/restartedAt\":\"2026-11-25T11:47:00Z\"}}}}}");
    assert_str_at(d, "spec>template>metadata>annotations>kubectl.kubernetes.io/restartedAt",
                  "2026-11-25T11:47:00Z");
    assert_str_at(d, "spec>template>metadata>labels>app", "node-agent");

    /* kubectl label / annotate send merge patches (5.16). */
    kl_json_t *p = J("{\"metadata\":{\"labels\":{\"foo\":\"bar\"}}}");
    assert_int_equal(kl_patch_merge(&d, p, NULL), 0);
    kl_json_free(p);
    p = J("{\"metadata\":{\"annotations\":{\"foo\":\"bar\"}}}");
    assert_int_equal(kl_patch_merge(&d, p, NULL), 0);
    kl_json_free(p);
    assert_str_at(d, "metadata>labels>foo", "bar");
    assert_str_at(d, "metadata>labels>app", "node-agent");
    assert_str_at(d, "metadata>annotations>foo", "bar");
    assert_str_at(d, "metadata>annotations>deprecated.daemonset.template.generation", "1");
    kl_json_free(d);
}

/* A client-side apply that exercises the other directives on Pod fields: a container and an
 * env var and a port and a mount removed, a volume's source swapped via $retainKeys, a
 * finalizer dropped, tolerations replaced. */
static void test_apiserver_patch_smp_pod_fields(void **state)
{
    (void)state;
    kl_json_t *d =
        Y("{metadata: {name: web, finalizers: [example.com/a, example.com/b]},"
          " spec: {template: {spec: {"
          "  containers: ["
          "   {name: agent, image: 'busybox:1', env: [{name: MODE, value: a}, {name: EXTRA, value: "
          "x}],"
          "    ports: [{containerPort: 8080, protocol: TCP}, {containerPort: 9090, protocol: TCP}],"
          "    volumeMounts: [{name: data, mountPath: /data}, {name: cache, mountPath: /cache}]},"
          "   {name: sidecar, image: 'envoy:1'}],"
          "  tolerations: [{key: a, operator: Equal, value: b}, {key: c, operator: Exists}],"
          "  volumes: [{name: data, emptyDir: {}}, {name: cache, emptyDir: {medium: Memory}}]}}}}");
    apply_smp(&d, "{\"metadata\":{\"$deleteFromPrimitiveList/finalizers\":[\"example.com/a\"],"
                  "\"$setElementOrder/finalizers\":[\"example.com/b\"]},"
                  "\"spec\":{\"template\":{\"spec\":{"
                  "\"$setElementOrder/containers\":[{\"name\":\"agent\"}],"
                  "\"$setElementOrder/volumes\":[{\"name\":\"data\"},{\"name\":\"cache\"}],"
                  "\"containers\":[{\"$setElementOrder/env\":[{\"name\":\"MODE\"}],"
                  "\"$setElementOrder/ports\":[{\"containerPort\":9090}],"
                  "\"$setElementOrder/volumeMounts\":[{\"mountPath\":\"/data\"}],"
                  "\"env\":[{\"$patch\":\"delete\",\"name\":\"EXTRA\"}],\"name\":\"agent\","
                  "\"ports\":[{\"$patch\":\"delete\",\"containerPort\":8080}],"
                  "\"volumeMounts\":[{\"$patch\":\"delete\",\"mountPath\":\"/cache\"}]},"
                  "{\"$patch\":\"delete\",\"name\":\"sidecar\"}],"
                  "\"tolerations\":[{\"operator\":\"Exists\"}],"
                  "\"volumes\":[{\"$retainKeys\":[\"configMap\",\"name\"],\"configMap\":{\"name\":"
                  "\"cfg\"},\"name\":\"data\"}]}}}}");
    kl_json_t *want =
        Y("{metadata: {name: web, finalizers: [example.com/b]},"
          " spec: {template: {spec: {"
          "  containers: ["
          "   {name: agent, image: 'busybox:1', env: [{name: MODE, value: a}],"
          "    ports: [{containerPort: 9090, protocol: TCP}],"
          "    volumeMounts: [{name: data, mountPath: /data}]}],"
          "  tolerations: [{operator: Exists}],"
          "  volumes: [{name: data, configMap: {name: cfg}}, {name: cache, emptyDir: {medium: "
          "Memory}}]}}}}");
    if (!kl_json_equal(d, want)) {
        char *got = enc(d);
        fprintf(stderr, "got %s\n", got);
        free(got);
        fail();
    }
    kl_json_free(want);

    /* A deployment-style strategy switch with $retainKeys. */
    kl_json_t *ds = live();
    apply_smp(&ds, "{\"spec\":{\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{"
                   "\"maxUnavailable\":2}}}}");
    apply_smp(&ds, "{\"spec\":{\"strategy\":{\"$retainKeys\":[\"type\"],\"type\":\"OnDelete\","
                   "\"rollingUpdate\":null}}}");
    char *s = enc(at(ds, "spec>strategy"));
    assert_string_equal(s, "{\"type\":\"OnDelete\"}");
    free(s);

    /* Unknown list field named by a directive: upstream's error. */
    kl_json_t *p = J("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"agent\","
                     "\"$setElementOrder/portz\":[{\"containerPort\":1}]}]}}}}");
    kl_errinfo_t err;
    assert_int_equal(kl_patch_strategic(&ds, p, &t_ds, &err), KL_EINVAL);
    assert_string_equal(
        err.msg, "unable to find api field in struct Container for the json field \"portz\"");
    kl_json_free(p);
    /* Status preserves unknown fields, so anything merges there. */
    apply_smp(&ds, "{\"status\":{\"conditions\":[{\"type\":\"X\"}],\"numberReady\":2}}");
    assert_int_equal(kl_json_int_or(at(ds, "status>numberReady"), 0), 2);
    kl_json_free(ds);
    kl_json_free(d);
}

static void test_apiserver_patch_smp_limits(void **state)
{
    (void)state;
    /* A patch nested deeper than the limit is refused, not recursed into. */
    kl_json_t *p = kl_json_object(), *d = kl_json_object(), *cur = p, *dc = d;
    for (int i = 0; i < 300; i++) {
        kl_json_t *np = kl_json_object(), *nd = kl_json_object();
        assert_int_equal(kl_json_set(cur, "a", np), 0);
        assert_int_equal(kl_json_set(dc, "a", nd), 0);
        cur = np;
        dc = nd;
    }
    kl_errinfo_t err;
    assert_int_equal(kl_patch_strategic(&d, p, NULL, &err), KL_ETOODEEP);
    kl_json_t *e = kl_json_object();
    assert_int_equal(kl_patch_strategic(&e, p, NULL, &err), KL_ETOODEEP);
    kl_json_free(e);
    kl_json_free(p);
    kl_json_free(d);

    /* Large merging lists stay fast: 20,000 items against 20,000. */
    kl_json_t *orig = kl_json_object(), *patch = kl_json_object();
    kl_json_t *ol = kl_json_ensure_array(orig, "mergingList");
    kl_json_t *pl = kl_json_ensure_array(patch, "mergingList");
    for (int i = 0; i < 20000; i++) {
        kl_json_t *o = kl_json_object(), *q = kl_json_object();
        assert_int_equal(kl_json_set_int(o, "name", i), 0);
        assert_int_equal(kl_json_set_int(q, "name", 2 * i), 0);
        assert_int_equal(kl_json_set_str(q, "value", "v"), 0);
        assert_int_equal(kl_json_append(ol, o), 0);
        assert_int_equal(kl_json_append(pl, q), 0);
    }
    assert_int_equal(kl_patch_strategic(&orig, patch, &t_mi, &err), 0);
    assert_int_equal(kl_json_get(orig, "mergingList")->len, 30000);
    kl_json_free(orig);
    kl_json_free(patch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apiserver_patch_smp_upstream),
        cmocka_unit_test(test_apiserver_patch_smp_edges),
        cmocka_unit_test(test_apiserver_patch_smp_schemaless),
        cmocka_unit_test(test_apiserver_patch_smp_kubectl_apply),
        cmocka_unit_test(test_apiserver_patch_smp_kubectl_commands),
        cmocka_unit_test(test_apiserver_patch_smp_pod_fields),
        cmocka_unit_test(test_apiserver_patch_smp_limits),
    };
    return cmocka_run_group_tests_name("apiserver_patch_smp", tests, NULL, NULL);
}
