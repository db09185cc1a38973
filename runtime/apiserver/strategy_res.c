/* Defaulting and validation of the kinds served without a controller (strategy_res.h). Rules and
 * messages follow kube-apiserver 1.32; only the checks users meet are done. */
#include "apiserver/strategy_res.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/ktime.h"
#include "kubelua/quantity.h"
#include "kubelua/selector.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0)                                                                               \
            return rc_;                                                                            \
    } while (0)

#define RBAC_GROUP "rbac.authorization.k8s.io"

/* ---- Helpers ---------------------------------------------------------------------------- */

static bool missing(const kl_json_t *v)
{
    return v == NULL || v->type == KL_TNULL;
}

/* Sets obj[key] when missing or null (takes val). */
static int set_default(kl_json_t *obj, const char *key, kl_json_t *val)
{
    if (val == NULL)
        return KL_ENOMEM;
    if (!missing(kl_json_get(obj, key))) {
        kl_json_free(val);
        return 0;
    }
    return kl_json_set(obj, key, val);
}

static int default_str(kl_json_t *obj, const char *key, const char *s)
{
    return set_default(obj, key, kl_json_string(s));
}

/* Also replaces "": Go defaulting of a non-pointer string. */
static int default_str_empty(kl_json_t *obj, const char *key, const char *s)
{
    const char *cur = kl_json_path_str(obj, key, NULL);
    if (cur != NULL && *cur == '\0')
        return kl_json_set_str(obj, key, s);
    return default_str(obj, key, s);
}

static int default_int(kl_json_t *obj, const char *key, int64_t i)
{
    return set_default(obj, key, kl_json_int(i));
}

static bool str_is(const char *s, const char *lit)
{
    return s != NULL && strcmp(s, lit) == 0;
}

static bool one_of(const char *s, const char *const *allowed)
{
    for (size_t i = 0; s && allowed[i]; i++)
        if (strcmp(s, allowed[i]) == 0)
            return true;
    return false;
}

static size_t len_of(const kl_json_t *v)
{
    return kl_json_is(v, KL_TARRAY) || kl_json_is(v, KL_TOBJECT) ? v->len : 0;
}

static void add_value(kl_ferrs_t *errs, kl_ferr_type_t t, const char *field, const kl_json_t *v,
                      const char *detail)
{
    char *s = kl_ferr_value(v);
    kl_ferr_add(errs, t, field, s, detail);
    free(s);
}

/* The supported-values list as upstream words it: "\"A\", \"B\"". */
static void not_supported(kl_ferrs_t *errs, const char *field, const kl_json_t *v,
                          const char *const *allowed)
{
    char list[512];
    size_t n = 0;
    list[0] = '\0';
    for (size_t i = 0; allowed[i] && n < sizeof(list); i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s\"%s\"", i ? ", " : "", allowed[i]);
    add_value(errs, KL_FERR_NOT_SUPPORTED, field, v, list);
}

/* A string field that must be one of allowed when present (required: also when absent). */
static void check_enum(const kl_json_t *obj, const char *key, const char *path,
                       const char *const *allowed, bool required, kl_ferrs_t *errs)
{
    const kl_json_t *v = kl_json_get(obj, key);
    if (missing(v) || (kl_json_str(v) && !*kl_json_str(v))) {
        if (required)
            kl_ferr_add(errs, KL_FERR_REQUIRED, path, NULL, NULL);
        return;
    }
    if (!one_of(kl_json_str(v), allowed))
        not_supported(errs, path, v, allowed);
}

static void check_nonneg(const kl_json_t *obj, const char *key, const char *path, kl_ferrs_t *errs)
{
    const kl_json_t *v = kl_json_get(obj, key);
    if (!missing(v) && kl_json_int_or(v, 0) < 0)
        add_value(errs, KL_FERR_INVALID, path, v, "must be greater than or equal to 0");
}

static void check_immutable(const kl_json_t *obj, const kl_json_t *old, const char *key,
                            const char *path, kl_ferrs_t *errs)
{
    const kl_json_t *a = kl_json_get(obj, key), *b = kl_json_get(old, key);
    if (missing(a) && missing(b))
        return;
    if (!kl_json_equal(a, b))
        add_value(errs, KL_FERR_IMMUTABLE, path, a, NULL);
}

/* A label selector that parses; empty_msg reports an empty one. Returns the parsed selector
 * (free it) or NULL. */
static kl_selector_t *check_selector(const kl_json_t *sel, const char *path, const char *empty_msg,
                                     kl_ferrs_t *errs)
{
    kl_selector_t *s = NULL;
    kl_errinfo_t e;
    if (kl_selector_from_json(sel, false, &s, &e) < 0) {
        add_value(errs, KL_FERR_INVALID, path, sel, e.msg);
        return NULL;
    }
    if (empty_msg && kl_selector_is_empty(s))
        add_value(errs, KL_FERR_INVALID, path, sel, empty_msg);
    return s;
}

/* Containers of a pod template: present, named, with an image (full pod validation is the
 * Pod strategy's; stored-only templates get these basics). */
static void check_template(const kl_json_t *tmpl, const char *path, kl_ferrs_t *errs)
{
    char f[256];
    const kl_json_t *cs = kl_json_path(tmpl, "spec", "containers", NULL);
    snprintf(f, sizeof(f), "%s.spec.containers", path);
    if (len_of(cs) == 0) {
        kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, NULL);
        return;
    }
    for (uint32_t i = 0; i < cs->len; i++) {
        const kl_json_t *c = kl_json_at(cs, i);
        const char *name = kl_json_path_str(c, "name", NULL);
        snprintf(f, sizeof(f), "%s.spec.containers[%u].name", path, i);
        if (name == NULL || !*name)
            kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, NULL);
        else if (kl_validate_dns1123_label(name))
            add_value(errs, KL_FERR_INVALID, f, kl_json_get(c, "name"),
                      kl_validate_dns1123_label(name));
        const char *image = kl_json_path_str(c, "image", NULL);
        snprintf(f, sizeof(f), "%s.spec.containers[%u].image", path, i);
        if (image == NULL || !*image)
            kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, NULL);
    }
}

static int default_template(kl_json_t *tmpl)
{
    return kl_json_is(tmpl, KL_TOBJECT) ? kl_defaults_pod_spec(kl_json_get(tmpl, "spec")) : 0;
}

/* An IntOrString that must be >= 0 and, as a percentage, at most 100%. */
static void check_int_or_percent(const kl_json_t *v, const char *path, kl_ferrs_t *errs)
{
    if (missing(v))
        return;
    const char *s = kl_json_str(v);
    if (s != NULL) {
        char *end;
        long pct = strtol(s, &end, 10);
        if (end == s || strcmp(end, "%") != 0)
            add_value(errs, KL_FERR_INVALID, path, v,
                      "a valid percent string must be a numeric string followed by an ending '%' "
                      "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
        else if (pct < 0)
            add_value(errs, KL_FERR_INVALID, path, v, "must be greater than or equal to 0");
        else if (pct > 100)
            add_value(errs, KL_FERR_INVALID, path, v, "must not be greater than 100%");
    } else if (kl_json_int_or(v, 0) < 0) {
        add_value(errs, KL_FERR_INVALID, path, v, "must be greater than or equal to 0");
    }
}

/* ---- RBAC ------------------------------------------------------------------------------- */

/* []string{"a", "b"}, as Go prints a string slice in a field error. */
static char *go_strings(const kl_json_t *arr)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc = kl_buf_puts(&b, "[]string{");
    for (uint32_t i = 0; rc == 0 && i < len_of(arr); i++) {
        const char *s = kl_json_str(kl_json_at(arr, i));
        if (i)
            rc = kl_buf_puts(&b, ", ");
        if (rc == 0)
            rc = kl_json_quote(&b, s ? s : "", s ? strlen(s) : 0);
    }
    if (rc == 0)
        rc = kl_buf_putc(&b, '}');
    if (rc < 0) {
        kl_buf_cleanup(&b);
        return NULL;
    }
    return (char *)b.data;
}

static void validate_rules(const kl_json_t *rules, bool namespaced, kl_ferrs_t *errs)
{
    char f[128];
    for (uint32_t i = 0; i < len_of(rules); i++) {
        const kl_json_t *r = kl_json_at(rules, i);
        if (len_of(kl_json_get(r, "verbs")) == 0) {
            snprintf(f, sizeof(f), "rules[%u].verbs", i);
            kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, "verbs must contain at least one value");
        }
        const kl_json_t *urls = kl_json_get(r, "nonResourceURLs");
        if (len_of(urls) > 0) {
            snprintf(f, sizeof(f), "rules[%u].nonResourceURLs", i);
            char *v = go_strings(urls);
            if (namespaced)
                kl_ferr_add(errs, KL_FERR_INVALID, f, v,
                            "namespaced rules cannot apply to non-resource URLs");
            if (len_of(kl_json_get(r, "apiGroups")) || len_of(kl_json_get(r, "resources")) ||
                len_of(kl_json_get(r, "resourceNames")))
                kl_ferr_add(errs, KL_FERR_INVALID, f, v,
                            "rules cannot apply to both regular resources and non-resource URLs");
            free(v);
            continue;
        }
        if (len_of(kl_json_get(r, "apiGroups")) == 0) {
            snprintf(f, sizeof(f), "rules[%u].apiGroups", i);
            kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL,
                        "resource rules must supply at least one api group");
        }
        if (len_of(kl_json_get(r, "resources")) == 0) {
            snprintf(f, sizeof(f), "rules[%u].resources", i);
            kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL,
                        "resource rules must supply at least one resource");
        }
    }
}

static void role_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    validate_rules(kl_json_get(obj, "rules"), true, errs);
}

static void clusterrole_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    /* Rules of an aggregated role are the aggregation controller's; kubelua aggregates nothing
     * and takes the rules as given. */
    validate_rules(kl_json_get(obj, "rules"), false, errs);
    const kl_json_t *sels = kl_json_path(obj, "aggregationRule", "clusterRoleSelectors", NULL);
    char f[128];
    for (uint32_t i = 0; i < len_of(sels); i++) {
        snprintf(f, sizeof(f), "aggregationRule.clusterRoleSelectors[%u]", i);
        kl_selector_free(check_selector(kl_json_at(sels, i), f, NULL, errs));
    }
}

static int binding_defaults(kl_json_t *obj)
{
    kl_json_t *rr = kl_json_get(obj, "roleRef");
    if (kl_json_is(rr, KL_TOBJECT))
        CHECK(default_str_empty(rr, "apiGroup", RBAC_GROUP));
    kl_json_t *subs = kl_json_get(obj, "subjects");
    for (uint32_t i = 0; i < len_of(subs); i++) {
        kl_json_t *s = kl_json_at(subs, i);
        const char *kind = kl_json_path_str(s, "kind", NULL);
        if (kl_json_is(s, KL_TOBJECT) && (str_is(kind, "User") || str_is(kind, "Group")))
            CHECK(default_str_empty(s, "apiGroup", RBAC_GROUP));
    }
    return 0;
}

static void binding_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs,
                             bool namespaced)
{
    static const char *const rbac_group[] = {RBAC_GROUP, NULL};
    static const char *const rb_kinds[] = {"Role", "ClusterRole", NULL};
    static const char *const crb_kinds[] = {"ClusterRole", NULL};
    static const char *const core_group[] = {"", NULL};
    static const char *const subject_kinds[] = {"ServiceAccount", "User", "Group", NULL};
    const kl_json_t *rr = kl_json_get(obj, "roleRef");
    const char *g = kl_json_path_str(rr, "apiGroup", NULL);
    if (!str_is(g, RBAC_GROUP))
        not_supported(errs, "roleRef.apiGroup", kl_json_get(rr, "apiGroup"), rbac_group);
    const char *k = kl_json_path_str(rr, "kind", NULL);
    if (!one_of(k, namespaced ? rb_kinds : crb_kinds))
        not_supported(errs, "roleRef.kind", kl_json_get(rr, "kind"),
                      namespaced ? rb_kinds : crb_kinds);
    const char *n = kl_json_path_str(rr, "name", NULL);
    if (n == NULL || !*n)
        kl_ferr_add(errs, KL_FERR_REQUIRED, "roleRef.name", NULL, NULL);
    else if (strchr(n, '/') || strchr(n, '%') || !strcmp(n, ".") || !strcmp(n, ".."))
        add_value(errs, KL_FERR_INVALID, "roleRef.name", kl_json_get(rr, "name"),
                  "may not contain '/' or '%' and may not be '.' or '..'");
    const kl_json_t *subs = kl_json_get(obj, "subjects");
    char f[128];
    for (uint32_t i = 0; i < len_of(subs); i++) {
        const kl_json_t *s = kl_json_at(subs, i);
        const char *kind = kl_json_path_str(s, "kind", NULL);
        const char *name = kl_json_path_str(s, "name", NULL);
        const char *group = kl_json_path_str(s, "apiGroup", NULL);
        if (name == NULL || !*name) {
            snprintf(f, sizeof(f), "subjects[%u].name", i);
            kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, NULL);
        }
        snprintf(f, sizeof(f), "subjects[%u].apiGroup", i);
        if (str_is(kind, "ServiceAccount")) {
            if (group && *group)
                not_supported(errs, f, kl_json_get(s, "apiGroup"), core_group);
            const char *ns = kl_json_path_str(s, "namespace", NULL);
            if (!namespaced && (ns == NULL || !*ns)) {
                snprintf(f, sizeof(f), "subjects[%u].namespace", i);
                kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, NULL);
            }
        } else if (str_is(kind, "User") || str_is(kind, "Group")) {
            if (!str_is(group, RBAC_GROUP))
                not_supported(errs, f, kl_json_get(s, "apiGroup"), rbac_group);
        } else {
            snprintf(f, sizeof(f), "subjects[%u].kind", i);
            not_supported(errs, f, kl_json_get(s, "kind"), subject_kinds);
        }
    }
    if (old && !kl_json_equal(rr, kl_json_get(old, "roleRef")))
        add_value(errs, KL_FERR_INVALID, "roleRef", rr, "cannot change roleRef");
}

static void rolebinding_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    binding_validate(obj, old, errs, true);
}

static void clusterrolebinding_validate(const kl_json_t *obj, const kl_json_t *old,
                                        kl_ferrs_t *errs)
{
    binding_validate(obj, old, errs, false);
}

/* ---- ResourceQuota and LimitRange ------------------------------------------------------- */

static void check_resource_list(const kl_json_t *list, const char *path, kl_ferrs_t *errs)
{
    char f[300];
    for (uint32_t i = 0; kl_json_is(list, KL_TOBJECT) && i < list->len; i++) {
        const kl_jmember_t *m = &list->u.members[i];
        kl_quantity_t q;
        const char *s = kl_json_str(m->val);
        snprintf(f, sizeof(f), "%s[%.*s]", path, (int)m->keylen, m->key);
        if (s && kl_quantity_parse(s, strlen(s), &q, NULL) == 0 && kl_quantity_double(&q) < 0)
            add_value(errs, KL_FERR_INVALID, f, m->val, "must be greater than or equal to 0");
        else if (kl_json_is_number(m->val) && kl_json_int_or(m->val, 0) < 0)
            add_value(errs, KL_FERR_INVALID, f, m->val, "must be greater than or equal to 0");
    }
}

/* status.hard follows spec.hard, as the quota controller sets it; status.used is not computed. */
static int quota_status_hard(kl_json_t *obj)
{
    kl_json_t *status = kl_json_ensure_object(obj, "status");
    if (status == NULL)
        return KL_ENOMEM;
    const kl_json_t *hard = kl_json_path(obj, "spec", "hard", NULL);
    kl_json_del(status, "hard");
    if (kl_json_is(hard, KL_TOBJECT) && hard->len)
        return kl_json_set(status, "hard", kl_json_dup(hard));
    return 0;
}

static int quota_prepare_update(kl_json_t *obj, const kl_json_t *old)
{
    return quota_status_hard(obj);
}

static void quota_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    static const char *const scopes[] = {"Terminating",
                                         "NotTerminating",
                                         "BestEffort",
                                         "NotBestEffort",
                                         "PriorityClass",
                                         "CrossNamespacePodAffinity",
                                         NULL};
    const kl_json_t *spec = kl_json_get(obj, "spec");
    check_resource_list(kl_json_get(spec, "hard"), "spec.hard", errs);
    const kl_json_t *sc = kl_json_get(spec, "scopes");
    char f[64];
    for (uint32_t i = 0; i < len_of(sc); i++) {
        snprintf(f, sizeof(f), "spec.scopes[%u]", i);
        if (!one_of(kl_json_str(kl_json_at(sc, i)), scopes))
            not_supported(errs, f, kl_json_at(sc, i), scopes);
    }
}

/* SetDefaults_LimitRangeItem: a container's default limit is its max, its default request the
 * default limit, or else the min. */
static int copy_missing(kl_json_t *dst_parent, const char *dst_key, const kl_json_t *src)
{
    if (!kl_json_is(src, KL_TOBJECT) || src->len == 0)
        return 0;
    kl_json_t *dst = kl_json_ensure_object(dst_parent, dst_key);
    if (dst == NULL)
        return KL_ENOMEM;
    for (uint32_t i = 0; i < src->len; i++) {
        const kl_jmember_t *m = &src->u.members[i];
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)m->keylen, m->key);
        if (kl_json_get(dst, key) == NULL)
            CHECK(kl_json_set(dst, key, kl_json_dup(m->val)));
    }
    return 0;
}

static int limitrange_defaults(kl_json_t *obj)
{
    kl_json_t *items = kl_json_path(obj, "spec", "limits", NULL);
    for (uint32_t i = 0; i < len_of(items); i++) {
        kl_json_t *it = kl_json_at(items, i);
        if (!kl_json_is(it, KL_TOBJECT) || !str_is(kl_json_path_str(it, "type", NULL), "Container"))
            continue;
        CHECK(copy_missing(it, "default", kl_json_get(it, "max")));
        CHECK(copy_missing(it, "defaultRequest", kl_json_get(it, "default")));
        CHECK(copy_missing(it, "defaultRequest", kl_json_get(it, "min")));
    }
    return 0;
}

static void limitrange_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    static const char *const types[] = {"Pod", "Container", "PersistentVolumeClaim", NULL};
    const kl_json_t *items = kl_json_path(obj, "spec", "limits", NULL);
    char f[64];
    for (uint32_t i = 0; i < len_of(items); i++) {
        snprintf(f, sizeof(f), "spec.limits[%u].type", i);
        check_enum(kl_json_at(items, i), "type", f, types, true, errs);
        const char *keys[] = {"max", "min", "default", "defaultRequest", "maxLimitRequestRatio"};
        for (size_t k = 0; k < 5; k++) {
            snprintf(f, sizeof(f), "spec.limits[%u].%s", i, keys[k]);
            check_resource_list(kl_json_get(kl_json_at(items, i), keys[k]), f, errs);
        }
    }
}

/* ---- PersistentVolumes and claims ------------------------------------------------------- */

static const char *const access_modes[] = {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany",
                                           "ReadWriteOncePod", NULL};

static void check_access_modes(const kl_json_t *modes, const char *path, const char *req_detail,
                               kl_ferrs_t *errs)
{
    if (len_of(modes) == 0) {
        kl_ferr_add(errs, KL_FERR_REQUIRED, path, NULL, req_detail);
        return;
    }
    char f[128];
    for (uint32_t i = 0; i < modes->len; i++) {
        if (!one_of(kl_json_str(kl_json_at(modes, i)), access_modes)) {
            snprintf(f, sizeof(f), "%s", path);
            not_supported(errs, f, kl_json_at(modes, i), access_modes);
        }
    }
}

static int set_phase(kl_json_t *obj, const char *phase, bool transition_time)
{
    kl_json_t *status = kl_json_object();
    if (status == NULL || kl_json_set_str(status, "phase", phase) < 0) {
        kl_json_free(status);
        return KL_ENOMEM;
    }
    if (transition_time) {
        char ts[40];
        kl_time_format_rfc3339(kl_time_now(), ts);
        if (kl_json_set_str(status, "lastPhaseTransitionTime", ts) < 0) {
            kl_json_free(status);
            return KL_ENOMEM;
        }
    }
    return kl_json_set(obj, "status", status);
}

static int pv_defaults(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_get(obj, "spec");
    if (!kl_json_is(spec, KL_TOBJECT))
        return 0;
    CHECK(default_str(spec, "persistentVolumeReclaimPolicy", "Retain"));
    return default_str(spec, "volumeMode", "Filesystem");
}

/* Upstream creates volumes Pending and the PV controller makes them Available at once; with no
 * such controller, kubelua starts them Available (binding to claims is not done). */
static int pv_prepare_create(kl_json_t *obj)
{
    return set_phase(obj, "Available", true);
}

static void pv_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    static const char *const sources[] = {"gcePersistentDisk",
                                          "awsElasticBlockStore",
                                          "hostPath",
                                          "glusterfs",
                                          "nfs",
                                          "rbd",
                                          "iscsi",
                                          "cinder",
                                          "cephfs",
                                          "fc",
                                          "flocker",
                                          "flexVolume",
                                          "azureFile",
                                          "vsphereVolume",
                                          "quobyte",
                                          "azureDisk",
                                          "photonPersistentDisk",
                                          "portworxVolume",
                                          "scaleIO",
                                          "local",
                                          "storageos",
                                          "csi",
                                          NULL};
    static const char *const policies[] = {"Delete", "Recycle", "Retain", NULL};
    static const char *const modes[] = {"Block", "Filesystem", NULL};
    const kl_json_t *spec = kl_json_get(obj, "spec");
    const kl_json_t *cap = kl_json_get(spec, "capacity");
    if (len_of(cap) == 0)
        kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.capacity", NULL, NULL);
    else if (kl_json_get(cap, "storage") == NULL)
        kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.capacity[storage]", NULL, NULL);
    check_resource_list(cap, "spec.capacity", errs);
    check_access_modes(kl_json_get(spec, "accessModes"), "spec.accessModes", NULL, errs);
    int n = 0;
    for (size_t i = 0; sources[i]; i++)
        n += !missing(kl_json_get(spec, sources[i]));
    if (n == 0)
        kl_ferr_add(errs, KL_FERR_REQUIRED, "spec", NULL, "must specify a volume type");
    else if (n > 1)
        kl_ferr_add(errs, KL_FERR_FORBIDDEN, "spec", NULL,
                    "may not specify more than 1 volume type");
    check_enum(spec, "persistentVolumeReclaimPolicy", "spec.persistentVolumeReclaimPolicy",
               policies, false, errs);
    check_enum(spec, "volumeMode", "spec.volumeMode", modes, false, errs);
    if (old)
        check_immutable(spec, kl_json_get(old, "spec"), "volumeMode", "spec.volumeMode", errs);
}

static int pvc_defaults(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_get(obj, "spec");
    return kl_json_is(spec, KL_TOBJECT) ? default_str(spec, "volumeMode", "Filesystem") : 0;
}

/* No provisioner and no binder: a claim stays Pending unless a client binds it. */
static int pvc_prepare_create(kl_json_t *obj)
{
    return set_phase(obj, "Pending", false);
}

static void pvc_spec_validate(const kl_json_t *spec, const char *path, kl_ferrs_t *errs)
{
    static const char *const modes[] = {"Block", "Filesystem", NULL};
    char f[256];
    snprintf(f, sizeof(f), "%s.accessModes", path);
    check_access_modes(kl_json_get(spec, "accessModes"), f, "at least 1 access mode is required",
                       errs);
    const kl_json_t *req = kl_json_path(spec, "resources", "requests", NULL);
    if (kl_json_get(req, "storage") == NULL) {
        snprintf(f, sizeof(f), "%s.resources[storage]", path);
        kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, NULL);
    }
    snprintf(f, sizeof(f), "%s.resources.requests", path);
    check_resource_list(req, f, errs);
    snprintf(f, sizeof(f), "%s.volumeMode", path);
    check_enum(spec, "volumeMode", f, modes, false, errs);
    if (!missing(kl_json_get(spec, "selector"))) {
        snprintf(f, sizeof(f), "%s.selector", path);
        kl_selector_free(check_selector(kl_json_get(spec, "selector"), f, NULL, errs));
    }
}

static void pvc_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    const kl_json_t *spec = kl_json_get(obj, "spec");
    pvc_spec_validate(spec, "spec", errs);
    if (old == NULL)
        return;
    /* The spec is immutable but for requests (expansion), the attributes class and the volume
     * name of a claim not bound yet. */
    kl_json_t *a = kl_json_dup(spec), *b = kl_json_dup(kl_json_get(old, "spec"));
    if (a && b) {
        kl_json_del(kl_json_get(a, "resources"), "requests");
        kl_json_del(kl_json_get(b, "resources"), "requests");
        kl_json_del(a, "volumeAttributesClassName");
        kl_json_del(b, "volumeAttributesClassName");
        const char *ov = kl_json_path_str(b, "volumeName", NULL);
        if (ov == NULL || !*ov) {
            kl_json_del(a, "volumeName");
            kl_json_del(b, "volumeName");
        }
        if (!kl_json_equal(a, b))
            kl_ferr_add(errs, KL_FERR_FORBIDDEN, "spec", NULL,
                        "spec is immutable after creation except resources.requests and "
                        "volumeAttributesClassName for bound claims");
    }
    kl_json_free(a);
    kl_json_free(b);
}

/* ---- PodTemplates and ReplicationControllers -------------------------------------------- */

static int podtemplate_defaults(kl_json_t *obj)
{
    return default_template(kl_json_get(obj, "template"));
}

static void podtemplate_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    check_template(kl_json_get(obj, "template"), "template", errs);
}

static int rc_defaults(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_get(obj, "spec");
    if (!kl_json_is(spec, KL_TOBJECT))
        return 0;
    const kl_json_t *tl = kl_json_path(spec, "template", "metadata", "labels", NULL);
    if (len_of(tl) && len_of(kl_json_get(spec, "selector")) == 0) {
        kl_json_del(spec, "selector");
        CHECK(kl_json_set(spec, "selector", kl_json_dup(tl)));
    }
    kl_json_t *md = kl_json_get(obj, "metadata");
    if (len_of(tl) && kl_json_is(md, KL_TOBJECT) && len_of(kl_json_get(md, "labels")) == 0) {
        kl_json_del(md, "labels");
        CHECK(kl_json_set(md, "labels", kl_json_dup(tl)));
    }
    CHECK(default_int(spec, "replicas", 1));
    return default_template(kl_json_get(spec, "template"));
}

static void rc_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    const kl_json_t *spec = kl_json_get(obj, "spec");
    const kl_json_t *sel = kl_json_get(spec, "selector");
    check_nonneg(spec, "replicas", "spec.replicas", errs);
    check_nonneg(spec, "minReadySeconds", "spec.minReadySeconds", errs);
    if (len_of(sel) == 0) {
        kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.selector", NULL, NULL);
        return;
    }
    const kl_json_t *tmpl = kl_json_get(spec, "template");
    if (missing(tmpl)) {
        kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.template", NULL, NULL);
        return;
    }
    kl_selector_t *s = NULL;
    if (kl_selector_from_set_json(sel, &s, NULL) == 0) {
        const kl_json_t *labels = kl_json_path(tmpl, "metadata", "labels", NULL);
        if (!kl_selector_matches_json(s, labels))
            add_value(errs, KL_FERR_INVALID, "spec.template.metadata.labels", labels,
                      "`selector` does not match template `labels`");
        kl_selector_free(s);
    }
    check_template(tmpl, "spec.template", errs);
}

/* ---- StatefulSets ----------------------------------------------------------------------- */

static int sts_defaults(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_get(obj, "spec");
    if (!kl_json_is(spec, KL_TOBJECT))
        return 0;
    CHECK(default_int(spec, "replicas", 1));
    CHECK(default_str(spec, "podManagementPolicy", "OrderedReady"));
    kl_json_t *us = kl_json_ensure_object(spec, "updateStrategy");
    if (us == NULL)
        return KL_ENOMEM;
    CHECK(default_str(us, "type", "RollingUpdate"));
    if (str_is(kl_json_path_str(us, "type", NULL), "RollingUpdate")) {
        kl_json_t *ru = kl_json_ensure_object(us, "rollingUpdate");
        if (ru == NULL)
            return KL_ENOMEM;
        CHECK(default_int(ru, "partition", 0));
    }
    CHECK(default_int(spec, "revisionHistoryLimit", 10));
    kl_json_t *rp = kl_json_ensure_object(spec, "persistentVolumeClaimRetentionPolicy");
    if (rp == NULL)
        return KL_ENOMEM;
    CHECK(default_str(rp, "whenDeleted", "Retain"));
    CHECK(default_str(rp, "whenScaled", "Retain"));
    /* Claim templates are encoded as full claims, with their defaults and a Pending status. */
    kl_json_t *vcts = kl_json_get(spec, "volumeClaimTemplates");
    for (uint32_t i = 0; i < len_of(vcts); i++) {
        kl_json_t *c = kl_json_at(vcts, i);
        if (!kl_json_is(c, KL_TOBJECT))
            continue;
        CHECK(default_str(c, "apiVersion", "v1"));
        CHECK(default_str(c, "kind", "PersistentVolumeClaim"));
        kl_json_t *cs = kl_json_get(c, "spec");
        if (kl_json_is(cs, KL_TOBJECT))
            CHECK(default_str(cs, "volumeMode", "Filesystem"));
        kl_json_t *st = kl_json_ensure_object(c, "status");
        if (st == NULL)
            return KL_ENOMEM;
        CHECK(default_str(st, "phase", "Pending"));
    }
    return default_template(kl_json_get(spec, "template"));
}

static void sts_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    static const char *const policies[] = {"OrderedReady", "Parallel", NULL};
    static const char *const types[] = {"RollingUpdate", "OnDelete", NULL};
    static const char *const retain[] = {"Retain", "Delete", NULL};
    const kl_json_t *spec = kl_json_get(obj, "spec");
    check_nonneg(spec, "replicas", "spec.replicas", errs);
    check_nonneg(spec, "minReadySeconds", "spec.minReadySeconds", errs);
    check_nonneg(spec, "revisionHistoryLimit", "spec.revisionHistoryLimit", errs);
    check_enum(spec, "podManagementPolicy", "spec.podManagementPolicy", policies, false, errs);
    const kl_json_t *us = kl_json_get(spec, "updateStrategy");
    check_enum(us, "type", "spec.updateStrategy.type", types, false, errs);
    check_nonneg(kl_json_get(us, "rollingUpdate"), "partition",
                 "spec.updateStrategy.rollingUpdate.partition", errs);
    const kl_json_t *rp = kl_json_get(spec, "persistentVolumeClaimRetentionPolicy");
    check_enum(rp, "whenDeleted", "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", retain,
               false, errs);
    check_enum(rp, "whenScaled", "spec.persistentVolumeClaimRetentionPolicy.whenScaled", retain,
               false, errs);
    const kl_json_t *sel = kl_json_get(spec, "selector");
    if (missing(sel)) {
        kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.selector", NULL, NULL);
    } else {
        kl_selector_t *s =
            check_selector(sel, "spec.selector", "empty selector is invalid for statefulset", errs);
        const kl_json_t *labels = kl_json_path(spec, "template", "metadata", "labels", NULL);
        if (s && !kl_selector_is_empty(s) && !kl_selector_matches_json(s, labels))
            add_value(errs, KL_FERR_INVALID, "spec.template.metadata.labels", labels,
                      "`selector` does not match template `labels`");
        kl_selector_free(s);
    }
    check_template(kl_json_get(spec, "template"), "spec.template", errs);
    const char *rp_ = kl_json_path_str(spec, "template", "spec", "restartPolicy", NULL);
    if (rp_ && strcmp(rp_, "Always") != 0) {
        static const char *const always[] = {"Always", NULL};
        not_supported(errs, "spec.template.spec.restartPolicy",
                      kl_json_path(spec, "template", "spec", "restartPolicy", NULL), always);
    }
    const kl_json_t *vcts = kl_json_get(spec, "volumeClaimTemplates");
    char f[128];
    for (uint32_t i = 0; i < len_of(vcts); i++) {
        const kl_json_t *c = kl_json_at(vcts, i);
        const char *cn = kl_json_path_str(c, "metadata", "name", NULL);
        snprintf(f, sizeof(f), "spec.volumeClaimTemplates[%u].metadata.name", i);
        if (cn == NULL || !*cn)
            kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, "name or generateName is required");
        snprintf(f, sizeof(f), "spec.volumeClaimTemplates[%u].spec", i);
        pvc_spec_validate(kl_json_get(c, "spec"), f, errs);
    }
    if (old == NULL)
        return;
    /* Only these spec fields may change after creation. */
    kl_json_t *a = kl_json_dup(spec), *b = kl_json_dup(kl_json_get(old, "spec"));
    static const char *const mutable_fields[] = {"replicas",
                                                 "ordinals",
                                                 "template",
                                                 "updateStrategy",
                                                 "persistentVolumeClaimRetentionPolicy",
                                                 "minReadySeconds",
                                                 NULL};
    if (a && b) {
        for (size_t i = 0; mutable_fields[i]; i++) {
            kl_json_del(a, mutable_fields[i]);
            kl_json_del(b, mutable_fields[i]);
        }
        if (!kl_json_equal(a, b))
            kl_ferr_add(errs, KL_FERR_FORBIDDEN, "spec", NULL,
                        "updates to statefulset spec for fields other than 'replicas', "
                        "'ordinals', 'template', 'updateStrategy', "
                        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are "
                        "forbidden");
    }
    kl_json_free(a);
    kl_json_free(b);
}

/* ---- PriorityClasses -------------------------------------------------------------------- */

#define KL_HIGHEST_USER_PRIORITY 1000000000

static int pc_defaults(kl_json_t *obj)
{
    return default_str(obj, "preemptionPolicy", "PreemptLowerPriority");
}

static bool is_system_pc(const char *name)
{
    return str_is(name, "system-cluster-critical") || str_is(name, "system-node-critical");
}

static void pc_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    static const char *const policies[] = {"Never", "PreemptLowerPriority", NULL};
    const char *name = kl_json_path_str(obj, "metadata", "name", NULL);
    const kl_json_t *v = kl_json_get(obj, "value");
    if (old == NULL) {
        if (name && strncmp(name, "system-", 7) == 0 && !is_system_pc(name))
            kl_ferr_add(errs, KL_FERR_FORBIDDEN, "metadata.name", NULL,
                        "priority class names with 'system-' prefix are reserved");
        else if (!is_system_pc(name) && kl_json_int_or(v, 0) > KL_HIGHEST_USER_PRIORITY)
            kl_ferr_addf(errs, KL_FERR_FORBIDDEN, "value", NULL,
                         "maximum allowed value of a user defined priority is %d",
                         KL_HIGHEST_USER_PRIORITY);
    }
    if (missing(v))
        kl_ferr_add(errs, KL_FERR_REQUIRED, "value", NULL, NULL);
    check_enum(obj, "preemptionPolicy", "preemptionPolicy", policies, false, errs);
    if (old) {
        if (!kl_json_equal(v, kl_json_get(old, "value")))
            kl_ferr_add(errs, KL_FERR_FORBIDDEN, "value", NULL, "may not be changed in an update.");
        check_immutable(obj, old, "preemptionPolicy", "preemptionPolicy", errs);
    }
}

/* ---- PodDisruptionBudgets --------------------------------------------------------------- */

int64_t kl_pdb_desired_healthy(const kl_json_t *spec, int64_t expected, const char **why)
{
    const kl_json_t *min = kl_json_get(spec, "minAvailable");
    const kl_json_t *max = kl_json_get(spec, "maxUnavailable");
    const kl_json_t *v = !missing(max) ? max : min;
    if (missing(v))
        return 0; /* neither set: nothing is required to stay available */
    int64_t n;
    const char *s = kl_json_str(v);
    if (s != NULL) {
        char *end;
        long pct = strtol(s, &end, 10);
        if (end == s || strcmp(end, "%") != 0 || pct < 0) {
            if (why)
                *why = "invalid percentage";
            return -1;
        }
        /* GetScaledValueFromIntOrPercent with roundUp. */
        n = (int64_t)ceil((double)pct * (double)expected / 100.0);
    } else {
        n = kl_json_int_or(v, 0);
    }
    if (v == max) {
        int64_t d = expected - n;
        return d < 0 ? 0 : d;
    }
    return n;
}

static void pdb_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    static const char *const policies[] = {"IfHealthyBudget", "AlwaysAllow", NULL};
    const kl_json_t *spec = kl_json_get(obj, "spec");
    const kl_json_t *min = kl_json_get(spec, "minAvailable");
    const kl_json_t *max = kl_json_get(spec, "maxUnavailable");
    if (!missing(min) && !missing(max))
        add_value(errs, KL_FERR_INVALID, "spec", spec,
                  "minAvailable and maxUnavailable cannot be both set");
    check_int_or_percent(min, "spec.minAvailable", errs);
    check_int_or_percent(max, "spec.maxUnavailable", errs);
    if (!missing(kl_json_get(spec, "selector")))
        kl_selector_free(
            check_selector(kl_json_get(spec, "selector"), "spec.selector", NULL, errs));
    check_enum(spec, "unhealthyPodEvictionPolicy", "spec.unhealthyPodEvictionPolicy", policies,
               false, errs);
}

/* The disruption controller owns the status; kubelua has none, so it starts at zero. */
static int pdb_prepare_create(kl_json_t *obj)
{
    kl_json_t *st = kl_json_object();
    if (st == NULL || kl_json_set_int(st, "disruptionsAllowed", 0) < 0 ||
        kl_json_set_int(st, "currentHealthy", 0) < 0 ||
        kl_json_set_int(st, "desiredHealthy", 0) < 0 ||
        kl_json_set_int(st, "expectedPods", 0) < 0) {
        kl_json_free(st);
        return KL_ENOMEM;
    }
    return kl_json_set(obj, "status", st);
}

/* ---- Networking ------------------------------------------------------------------------- */

static void check_backend(const kl_json_t *b, const char *path, kl_ferrs_t *errs)
{
    char f[300];
    const kl_json_t *svc = kl_json_get(b, "service"), *res = kl_json_get(b, "resource");
    if (!missing(svc) && !missing(res)) {
        kl_ferr_add(errs, KL_FERR_INVALID, path, NULL,
                    "cannot set both resource and service backends");
        return;
    }
    if (missing(svc) && missing(res)) {
        kl_ferr_add(errs, KL_FERR_INVALID, path, NULL, "resource or service backend is required");
        return;
    }
    if (missing(svc))
        return;
    const char *name = kl_json_path_str(svc, "name", NULL);
    snprintf(f, sizeof(f), "%s.service.name", path);
    if (name == NULL || !*name)
        kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, NULL);
    else if (kl_validate_dns1123_label(name))
        add_value(errs, KL_FERR_INVALID, f, kl_json_get(svc, "name"),
                  kl_validate_dns1123_label(name));
    const kl_json_t *port = kl_json_get(svc, "port");
    const char *pname = kl_json_path_str(port, "name", NULL);
    const kl_json_t *pnum = kl_json_get(port, "number");
    bool has_name = pname && *pname, has_num = !missing(pnum) && kl_json_int_or(pnum, 0) != 0;
    snprintf(f, sizeof(f), "%s.service.port", path);
    if (has_name && has_num)
        kl_ferr_add(errs, KL_FERR_INVALID, f, NULL, "cannot set both port name & port number");
    else if (!has_name && !has_num)
        kl_ferr_add(errs, KL_FERR_INVALID, f, NULL, "port name or number is required");
    else if (has_num && (kl_json_int_or(pnum, 0) < 1 || kl_json_int_or(pnum, 0) > 65535)) {
        snprintf(f, sizeof(f), "%s.service.port.number", path);
        add_value(errs, KL_FERR_INVALID, f, pnum, "must be between 1 and 65535, inclusive");
    }
}

static void ingress_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    static const char *const path_types[] = {"Exact", "Prefix", "ImplementationSpecific", NULL};
    const kl_json_t *spec = kl_json_get(obj, "spec");
    const kl_json_t *rules = kl_json_get(spec, "rules");
    const kl_json_t *def = kl_json_get(spec, "defaultBackend");
    if (len_of(rules) == 0 && missing(def))
        add_value(errs, KL_FERR_INVALID, "spec", spec,
                  "either `defaultBackend` or `rules` must be specified");
    if (!missing(def))
        check_backend(def, "spec.defaultBackend", errs);
    char f[256];
    for (uint32_t i = 0; i < len_of(rules); i++) {
        const kl_json_t *r = kl_json_at(rules, i);
        const char *host = kl_json_path_str(r, "host", NULL);
        if (host && *host) {
            const char *h = strncmp(host, "*.", 2) == 0 ? host + 2 : host;
            const char *msg = kl_validate_dns1123_subdomain(h);
            snprintf(f, sizeof(f), "spec.rules[%u].host", i);
            if (msg)
                add_value(errs, KL_FERR_INVALID, f, kl_json_get(r, "host"), msg);
        }
        const kl_json_t *http = kl_json_get(r, "http");
        if (missing(http))
            continue;
        const kl_json_t *paths = kl_json_get(http, "paths");
        if (len_of(paths) == 0) {
            snprintf(f, sizeof(f), "spec.rules[%u].http.paths", i);
            kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, NULL);
        }
        for (uint32_t j = 0; j < len_of(paths); j++) {
            const kl_json_t *p = kl_json_at(paths, j);
            snprintf(f, sizeof(f), "spec.rules[%u].http.paths[%u].pathType", i, j);
            check_enum(p, "pathType", f, path_types, true, errs);
            const char *pt = kl_json_path_str(p, "pathType", NULL);
            const char *path = kl_json_path_str(p, "path", NULL);
            snprintf(f, sizeof(f), "spec.rules[%u].http.paths[%u].path", i, j);
            if ((str_is(pt, "Exact") || str_is(pt, "Prefix")) && (path == NULL || path[0] != '/'))
                add_value(errs, KL_FERR_INVALID, f, kl_json_get(p, "path"),
                          "must be an absolute path");
            snprintf(f, sizeof(f), "spec.rules[%u].http.paths[%u].backend", i, j);
            check_backend(kl_json_get(p, "backend"), f, errs);
        }
    }
}

static int ingressclass_defaults(kl_json_t *obj)
{
    kl_json_t *p = kl_json_path(obj, "spec", "parameters", NULL);
    return kl_json_is(p, KL_TOBJECT) ? default_str(p, "scope", "Cluster") : 0;
}

static void ingressclass_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    static const char *const scopes[] = {"Cluster", "Namespace", NULL};
    const kl_json_t *spec = kl_json_get(obj, "spec");
    const kl_json_t *p = kl_json_get(spec, "parameters");
    if (!missing(p)) {
        const char *k = kl_json_path_str(p, "kind", NULL), *n = kl_json_path_str(p, "name", NULL);
        if (k == NULL || !*k)
            kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.parameters.kind", NULL, NULL);
        if (n == NULL || !*n)
            kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.parameters.name", NULL, NULL);
        check_enum(p, "scope", "spec.parameters.scope", scopes, true, errs);
        const char *scope = kl_json_path_str(p, "scope", NULL);
        const char *ns = kl_json_path_str(p, "namespace", NULL);
        if (str_is(scope, "Namespace") && (ns == NULL || !*ns))
            kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.parameters.namespace", NULL,
                        "`parameters.scope` is set to 'Namespace'");
        if (str_is(scope, "Cluster") && ns && *ns)
            kl_ferr_add(errs, KL_FERR_FORBIDDEN, "spec.parameters.namespace", NULL,
                        "`parameters.scope` is set to 'Cluster'");
    }
    if (old)
        check_immutable(spec, kl_json_get(old, "spec"), "controller", "spec.controller", errs);
}

static int netpol_defaults(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_get(obj, "spec");
    if (!kl_json_is(spec, KL_TOBJECT))
        return 0;
    const char *lists[] = {"ingress", "egress"};
    for (int l = 0; l < 2; l++) {
        kl_json_t *rules = kl_json_get(spec, lists[l]);
        for (uint32_t i = 0; i < len_of(rules); i++) {
            kl_json_t *ports = kl_json_get(kl_json_at(rules, i), "ports");
            for (uint32_t j = 0; j < len_of(ports); j++)
                if (kl_json_is(kl_json_at(ports, j), KL_TOBJECT))
                    CHECK(default_str(kl_json_at(ports, j), "protocol", "TCP"));
        }
    }
    if (len_of(kl_json_get(spec, "policyTypes")) == 0) {
        kl_json_t *pt = kl_json_array();
        if (pt == NULL || kl_json_append(pt, kl_json_string("Ingress")) < 0 ||
            (len_of(kl_json_get(spec, "egress")) &&
             kl_json_append(pt, kl_json_string("Egress")) < 0)) {
            kl_json_free(pt);
            return KL_ENOMEM;
        }
        kl_json_del(spec, "policyTypes");
        return kl_json_set(spec, "policyTypes", pt);
    }
    return 0;
}

static void netpol_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    static const char *const types[] = {"Ingress", "Egress", NULL};
    static const char *const protocols[] = {"TCP", "UDP", "SCTP", NULL};
    const kl_json_t *spec = kl_json_get(obj, "spec");
    kl_selector_free(
        check_selector(kl_json_get(spec, "podSelector"), "spec.podSelector", NULL, errs));
    const kl_json_t *pt = kl_json_get(spec, "policyTypes");
    char f[256];
    for (uint32_t i = 0; i < len_of(pt); i++) {
        snprintf(f, sizeof(f), "spec.policyTypes[%u]", i);
        if (!one_of(kl_json_str(kl_json_at(pt, i)), types))
            not_supported(errs, f, kl_json_at(pt, i), types);
    }
    const char *lists[] = {"ingress", "egress"};
    const char *peers[] = {"from", "to"};
    for (int l = 0; l < 2; l++) {
        const kl_json_t *rules = kl_json_get(spec, lists[l]);
        for (uint32_t i = 0; i < len_of(rules); i++) {
            const kl_json_t *r = kl_json_at(rules, i);
            const kl_json_t *ports = kl_json_get(r, "ports");
            for (uint32_t j = 0; j < len_of(ports); j++) {
                const kl_json_t *p = kl_json_at(ports, j);
                snprintf(f, sizeof(f), "spec.%s[%u].ports[%u].protocol", lists[l], i, j);
                check_enum(p, "protocol", f, protocols, false, errs);
                const kl_json_t *end = kl_json_get(p, "endPort");
                const kl_json_t *port = kl_json_get(p, "port");
                if (!missing(end) && kl_json_is_number(port) &&
                    kl_json_int_or(end, 0) < kl_json_int_or(port, 0)) {
                    snprintf(f, sizeof(f), "spec.%s[%u].ports[%u].endPort", lists[l], i, j);
                    add_value(errs, KL_FERR_INVALID, f, end,
                              "must be greater than or equal to `port`");
                }
            }
            const kl_json_t *ps = kl_json_get(r, peers[l]);
            for (uint32_t j = 0; j < len_of(ps); j++) {
                const kl_json_t *p = kl_json_at(ps, j);
                int n = !missing(kl_json_get(p, "podSelector")) +
                        !missing(kl_json_get(p, "namespaceSelector")) +
                        !missing(kl_json_get(p, "ipBlock"));
                snprintf(f, sizeof(f), "spec.%s[%u].%s[%u]", lists[l], i, peers[l], j);
                if (n == 0)
                    kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, "must specify a peer");
                const kl_json_t *ib = kl_json_get(p, "ipBlock");
                if (!missing(ib)) {
                    const char *cidr = kl_json_path_str(ib, "cidr", NULL);
                    snprintf(f, sizeof(f), "spec.%s[%u].%s[%u].ipBlock.cidr", lists[l], i, peers[l],
                             j);
                    if (cidr == NULL || !*cidr)
                        kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, NULL);
                    else if (strchr(cidr, '/') == NULL)
                        add_value(
                            errs, KL_FERR_INVALID, f, kl_json_get(ib, "cidr"),
                            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)");
                }
            }
        }
    }
}

/* ---- EndpointSlices --------------------------------------------------------------------- */

static int endpointslice_defaults(kl_json_t *obj)
{
    kl_json_t *ports = kl_json_get(obj, "ports");
    for (uint32_t i = 0; i < len_of(ports); i++) {
        kl_json_t *p = kl_json_at(ports, i);
        if (!kl_json_is(p, KL_TOBJECT))
            continue;
        CHECK(default_str(p, "name", ""));
        CHECK(default_str(p, "protocol", "TCP"));
    }
    return 0;
}

static void endpointslice_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    static const char *const types[] = {"IPv4", "IPv6", "FQDN", NULL};
    check_enum(obj, "addressType", "addressType", types, true, errs);
    const kl_json_t *eps = kl_json_get(obj, "endpoints");
    char f[128];
    for (uint32_t i = 0; i < len_of(eps); i++) {
        const kl_json_t *a = kl_json_get(kl_json_at(eps, i), "addresses");
        snprintf(f, sizeof(f), "endpoints[%u].addresses", i);
        if (len_of(a) == 0)
            kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, "must contain at least 1 address");
        else if (a->len > 100)
            kl_ferr_add(errs, KL_FERR_TOO_LONG, f, NULL, "must have at most 100 items");
    }
    if (len_of(eps) > 1000)
        kl_ferr_add(errs, KL_FERR_TOO_LONG, "endpoints", NULL, "must have at most 1000 items");
    if (old)
        check_immutable(obj, old, "addressType", "addressType", errs);
}

/* ---- HorizontalPodAutoscalers ----------------------------------------------------------- */

static kl_json_t *cpu_metric(const char *member, const char *inner, int64_t pct)
{
    /* {"type":"Resource","resource":{"name":"cpu",<member>:{[type:Utilization,]
     * averageUtilization:pct}}} */
    kl_json_t *m = kl_json_object(), *r = kl_json_object(), *t = kl_json_object();
    if (m == NULL || r == NULL || t == NULL)
        goto oom;
    if ((inner && kl_json_set_str(t, "type", inner) < 0) ||
        kl_json_set_int(t, "averageUtilization", pct) < 0 ||
        kl_json_set_str(r, "name", "cpu") < 0 || kl_json_set(r, member, t) < 0)
        goto oom;
    t = NULL;
    if (kl_json_set_str(m, "type", "Resource") < 0 || kl_json_set(m, "resource", r) < 0)
        goto oom;
    return m;
oom:
    kl_json_free(m);
    kl_json_free(r);
    kl_json_free(t);
    return NULL;
}

/* The averageUtilization of the cpu Resource metric in a v2 metrics list, or -1. */
static int64_t cpu_utilization(const kl_json_t *metrics, const char *member)
{
    for (uint32_t i = 0; i < len_of(metrics); i++) {
        const kl_json_t *m = kl_json_at(metrics, i);
        if (!str_is(kl_json_path_str(m, "type", NULL), "Resource") ||
            !str_is(kl_json_path_str(m, "resource", "name", NULL), "cpu"))
            continue;
        const kl_json_t *u = kl_json_path(m, "resource", member, "averageUtilization", NULL);
        if (!missing(u))
            return kl_json_int_or(u, -1);
    }
    return -1;
}

int kl_hpa_convert(kl_json_t *obj, const char *api_version)
{
    kl_json_t *spec = kl_json_get(obj, "spec"), *status = kl_json_get(obj, "status");
    bool to_v1 = str_is(api_version, "autoscaling/v1");
    bool is_v1 = kl_json_get(spec, "metrics") == NULL && kl_json_get(spec, "behavior") == NULL &&
                 kl_json_get(status, "currentMetrics") == NULL &&
                 kl_json_get(status, "conditions") == NULL;
    CHECK(kl_json_set_str(obj, "apiVersion", api_version));
    if (to_v1) {
        if (kl_json_is(spec, KL_TOBJECT)) {
            int64_t cpu = cpu_utilization(kl_json_get(spec, "metrics"), "target");
            kl_json_del(spec, "metrics");
            kl_json_del(spec, "behavior");
            if (cpu >= 0)
                CHECK(kl_json_set_int(spec, "targetCPUUtilizationPercentage", cpu));
        }
        if (kl_json_is(status, KL_TOBJECT)) {
            int64_t cpu = cpu_utilization(kl_json_get(status, "currentMetrics"), "current");
            kl_json_del(status, "currentMetrics");
            kl_json_del(status, "conditions");
            if (cpu >= 0)
                CHECK(kl_json_set_int(status, "currentCPUUtilizationPercentage", cpu));
            CHECK(default_int(status, "currentReplicas", 0));
            CHECK(default_int(status, "desiredReplicas", 0));
        }
        return 0;
    }
    if (!is_v1)
        return 0;
    if (kl_json_is(spec, KL_TOBJECT)) {
        kl_json_t *t = kl_json_take(spec, "targetCPUUtilizationPercentage");
        if (!missing(t)) {
            kl_json_t *metrics = kl_json_array();
            kl_json_t *m = cpu_metric("target", "Utilization", kl_json_int_or(t, 0));
            if (metrics == NULL || m == NULL || kl_json_append(metrics, m) < 0) {
                kl_json_free(metrics);
                kl_json_free(m);
                kl_json_free(t);
                return KL_ENOMEM;
            }
            kl_json_free(t);
            CHECK(kl_json_set(spec, "metrics", metrics));
        } else {
            kl_json_free(t);
        }
    }
    if (kl_json_is(status, KL_TOBJECT)) {
        kl_json_t *c = kl_json_take(status, "currentCPUUtilizationPercentage");
        if (!missing(c)) {
            kl_json_t *metrics = kl_json_array();
            kl_json_t *m = cpu_metric("current", NULL, kl_json_int_or(c, 0));
            if (metrics == NULL || m == NULL || kl_json_append(metrics, m) < 0) {
                kl_json_free(metrics);
                kl_json_free(m);
                kl_json_free(c);
                return KL_ENOMEM;
            }
            kl_json_free(c);
            CHECK(kl_json_set(status, "currentMetrics", metrics));
        } else {
            kl_json_free(c);
        }
    }
    return 0;
}

/* GenerateHPAScaleUpRules / GenerateHPAScaleDownRules: the defaults of a behavior given. */
static int scaling_rules_default(kl_json_t *behavior, const char *key, bool up)
{
    kl_json_t *r = kl_json_ensure_object(behavior, key);
    if (r == NULL)
        return KL_ENOMEM;
    CHECK(default_str(r, "selectPolicy", "Max"));
    if (up)
        CHECK(default_int(r, "stabilizationWindowSeconds", 0));
    if (kl_json_get(r, "policies") != NULL)
        return 0;
    kl_json_t *pols = kl_json_array();
    if (pols == NULL)
        return KL_ENOMEM;
    static const struct {
        const char *type;
        int64_t value;
    } up_pols[] = {{"Pods", 4}, {"Percent", 100}}, down_pols[] = {{"Percent", 100}};
    for (int i = 0; i < (up ? 2 : 1); i++) {
        kl_json_t *p = kl_json_object();
        if (p == NULL || kl_json_set_str(p, "type", up ? up_pols[i].type : down_pols[i].type) < 0 ||
            kl_json_set_int(p, "value", up ? up_pols[i].value : down_pols[i].value) < 0 ||
            kl_json_set_int(p, "periodSeconds", 15) < 0 || kl_json_append(pols, p) < 0) {
            kl_json_free(p);
            kl_json_free(pols);
            return KL_ENOMEM;
        }
    }
    return kl_json_set(r, "policies", pols);
}

static int hpa_defaults(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_get(obj, "spec");
    if (!kl_json_is(spec, KL_TOBJECT))
        return 0;
    CHECK(default_int(spec, "minReplicas", 1));
    if (len_of(kl_json_get(spec, "metrics")) == 0) {
        kl_json_t *metrics = kl_json_array();
        kl_json_t *m = cpu_metric("target", "Utilization", 80);
        if (metrics == NULL || m == NULL || kl_json_append(metrics, m) < 0) {
            kl_json_free(metrics);
            kl_json_free(m);
            return KL_ENOMEM;
        }
        kl_json_del(spec, "metrics");
        CHECK(kl_json_set(spec, "metrics", metrics));
    }
    kl_json_t *b = kl_json_get(spec, "behavior");
    if (kl_json_is(b, KL_TOBJECT)) {
        CHECK(scaling_rules_default(b, "scaleUp", true));
        CHECK(scaling_rules_default(b, "scaleDown", false));
    }
    return 0;
}

static void hpa_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    static const char *const mtypes[] = {"Object",   "Pods", "Resource", "ContainerResource",
                                         "External", NULL};
    const kl_json_t *spec = kl_json_get(obj, "spec");
    const kl_json_t *ref = kl_json_get(spec, "scaleTargetRef");
    const char *k = kl_json_path_str(ref, "kind", NULL), *n = kl_json_path_str(ref, "name", NULL);
    if (k == NULL || !*k)
        kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.scaleTargetRef.kind", NULL, NULL);
    if (n == NULL || !*n)
        kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.scaleTargetRef.name", NULL, NULL);
    const kl_json_t *minr = kl_json_get(spec, "minReplicas");
    const kl_json_t *maxr = kl_json_get(spec, "maxReplicas");
    int64_t min = kl_json_int_or(minr, 1), max = kl_json_int_or(maxr, 0);
    if (!missing(minr) && min < 1)
        add_value(errs, KL_FERR_INVALID, "spec.minReplicas", minr,
                  "must be greater than or equal to 1");
    if (max < 1)
        add_value(errs, KL_FERR_INVALID, "spec.maxReplicas", maxr,
                  "must be greater than or equal to 1");
    else if (max < min)
        add_value(errs, KL_FERR_INVALID, "spec.maxReplicas", maxr,
                  "must be greater than or equal to `minReplicas`");
    const kl_json_t *ms = kl_json_get(spec, "metrics");
    char f[128];
    for (uint32_t i = 0; i < len_of(ms); i++) {
        snprintf(f, sizeof(f), "spec.metrics[%u].type", i);
        check_enum(kl_json_at(ms, i), "type", f, mtypes, true, errs);
    }
}

/* ---- StorageClasses and RuntimeClasses -------------------------------------------------- */

static int sc_defaults(kl_json_t *obj)
{
    CHECK(default_str(obj, "reclaimPolicy", "Delete"));
    return default_str(obj, "volumeBindingMode", "Immediate");
}

static void sc_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    static const char *const policies[] = {"Delete", "Retain", NULL};
    static const char *const modes[] = {"Immediate", "WaitForFirstConsumer", NULL};
    const char *p = kl_json_path_str(obj, "provisioner", NULL);
    if (p == NULL || !*p)
        kl_ferr_add(errs, KL_FERR_REQUIRED, "provisioner", NULL, NULL);
    check_enum(obj, "reclaimPolicy", "reclaimPolicy", policies, false, errs);
    check_enum(obj, "volumeBindingMode", "volumeBindingMode", modes, false, errs);
    if (old == NULL)
        return;
    static const char *const fixed[] = {"parameters", "provisioner", "reclaimPolicy",
                                        "volumeBindingMode", NULL};
    for (size_t i = 0; fixed[i]; i++) {
        const kl_json_t *a = kl_json_get(obj, fixed[i]), *b = kl_json_get(old, fixed[i]);
        if (!(missing(a) && missing(b)) && !kl_json_equal(a, b))
            kl_ferr_addf(errs, KL_FERR_FORBIDDEN, fixed[i], NULL, "updates to %s are forbidden.",
                         fixed[i]);
    }
}

static void runtimeclass_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    const char *h = kl_json_path_str(obj, "handler", NULL);
    if (h == NULL || !*h)
        kl_ferr_add(errs, KL_FERR_REQUIRED, "handler", NULL, NULL);
    else if (kl_validate_dns1123_label(h))
        add_value(errs, KL_FERR_INVALID, "handler", kl_json_get(obj, "handler"),
                  kl_validate_dns1123_label(h));
    if (old)
        check_immutable(obj, old, "handler", "handler", errs);
}

/* ---- Registry --------------------------------------------------------------------------- */

static const kl_strategy_t role_s = {
    .validate = role_validate, .name_rule = "path", .generation = -1};
static const kl_strategy_t clusterrole_s = {
    .validate = clusterrole_validate, .name_rule = "path", .generation = -1};
static const kl_strategy_t rolebinding_s = {.defaults = binding_defaults,
                                            .validate = rolebinding_validate,
                                            .name_rule = "path",
                                            .generation = -1};
static const kl_strategy_t clusterrolebinding_s = {.defaults = binding_defaults,
                                                   .validate = clusterrolebinding_validate,
                                                   .name_rule = "path",
                                                   .generation = -1};
static const kl_strategy_t quota_s = {.prepare_create = quota_status_hard,
                                      .prepare_update = quota_prepare_update,
                                      .validate = quota_validate};
static const kl_strategy_t limitrange_s = {.defaults = limitrange_defaults,
                                           .validate = limitrange_validate};
static const kl_strategy_t pv_s = {
    .defaults = pv_defaults, .prepare_create = pv_prepare_create, .validate = pv_validate};
static const kl_strategy_t pvc_s = {
    .defaults = pvc_defaults, .prepare_create = pvc_prepare_create, .validate = pvc_validate};
static const kl_strategy_t podtemplate_s = {.defaults = podtemplate_defaults,
                                            .validate = podtemplate_validate};
static const kl_strategy_t rc_s = {
    .defaults = rc_defaults, .validate = rc_validate, .generation = 1};
static const kl_strategy_t sts_s = {.defaults = sts_defaults, .validate = sts_validate};
static const kl_strategy_t pc_s = {
    .defaults = pc_defaults, .validate = pc_validate, .generation = -1};
static const kl_strategy_t pdb_s = {.prepare_create = pdb_prepare_create, .validate = pdb_validate};
static const kl_strategy_t ingress_s = {.validate = ingress_validate};
static const kl_strategy_t ingressclass_s = {.defaults = ingressclass_defaults,
                                             .validate = ingressclass_validate};
static const kl_strategy_t netpol_s = {.defaults = netpol_defaults, .validate = netpol_validate};
static const kl_strategy_t endpointslice_s = {.defaults = endpointslice_defaults,
                                              .validate = endpointslice_validate};
static const kl_strategy_t hpa_s = {.defaults = hpa_defaults, .validate = hpa_validate};
static const kl_strategy_t sc_s = {
    .defaults = sc_defaults, .validate = sc_validate, .generation = -1};
static const kl_strategy_t runtimeclass_s = {.validate = runtimeclass_validate, .generation = -1};

const kl_strategy_t *kl_strategy_res_for(const char *group, const char *kind)
{
    static const struct {
        const char *group, *kind;
        const kl_strategy_t *s;
    } table[] = {
        {RBAC_GROUP, "Role", &role_s},
        {RBAC_GROUP, "ClusterRole", &clusterrole_s},
        {RBAC_GROUP, "RoleBinding", &rolebinding_s},
        {RBAC_GROUP, "ClusterRoleBinding", &clusterrolebinding_s},
        {"", "ResourceQuota", &quota_s},
        {"", "LimitRange", &limitrange_s},
        {"", "PersistentVolume", &pv_s},
        {"", "PersistentVolumeClaim", &pvc_s},
        {"", "PodTemplate", &podtemplate_s},
        {"", "ReplicationController", &rc_s},
        {"apps", "StatefulSet", &sts_s},
        {"scheduling.k8s.io", "PriorityClass", &pc_s},
        {"policy", "PodDisruptionBudget", &pdb_s},
        {"networking.k8s.io", "Ingress", &ingress_s},
        {"networking.k8s.io", "IngressClass", &ingressclass_s},
        {"networking.k8s.io", "NetworkPolicy", &netpol_s},
        {"discovery.k8s.io", "EndpointSlice", &endpointslice_s},
        {"autoscaling", "HorizontalPodAutoscaler", &hpa_s},
        {"storage.k8s.io", "StorageClass", &sc_s},
        {"node.k8s.io", "RuntimeClass", &runtimeclass_s},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(table[i].group, group) == 0 && strcmp(table[i].kind, kind) == 0)
            return table[i].s;
    return NULL;
}

int (*kl_res_convert_for(const char *group, const char *version,
                         const char *kind))(kl_json_t *obj, const char *api_version)
{
    if (str_is(group, "autoscaling") && str_is(version, "v1") &&
        str_is(kind, "HorizontalPodAutoscaler"))
        return kl_hpa_convert;
    return NULL;
}
