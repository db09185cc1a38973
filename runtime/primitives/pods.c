/* Pods from templates, classification and the ActivePods ranking. */
#include "kubelua/pods.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/conditions.h"
#include "kubelua/ktime.h"
#include "kubelua/selector.h"

/* ---- Pods from templates -------------------------------------------------------------------- */

static const char *jstr_or_empty(const kl_json_t *j, const char *key)
{
    const char *s = kl_json_str(kl_json_get(j, key));
    return s ? s : "";
}

/* Copies the string members of src (an object) into dst, replacing existing keys. */
static int merge_strings(kl_json_t *dst, const kl_json_t *src, const char *what, kl_errinfo_t *err)
{
    if (src == NULL || src->type == KL_TNULL)
        return 0;
    if (src->type != KL_TOBJECT)
        return kl_err(err, KL_EINVAL, "%s: expected an object", what);
    for (uint32_t i = 0; i < src->len; i++) {
        const kl_jmember_t *m = &src->u.members[i];
        if (m->val->type != KL_TSTRING)
            return kl_err(err, KL_EINVAL, "%s.%s: expected a string", what, m->key);
        kl_json_t *v = kl_json_stringn(m->val->u.s, m->val->len);
        if (v == NULL || kl_json_setn(dst, m->key, m->keylen, v) < 0)
            return kl_err(err, KL_ENOMEM, "out of memory");
    }
    return 0;
}

/* Sets key to the object `obj` when it has members; frees it otherwise. Takes ownership. */
static int set_if_nonempty(kl_json_t *meta, const char *key, kl_json_t *obj)
{
    if (obj->len == 0) {
        kl_json_free(obj);
        return 0;
    }
    return kl_json_set(meta, key, obj);
}

static bool has_string(const kl_json_t *arr, const char *s)
{
    for (uint32_t i = 0; i < arr->len; i++) {
        const char *v = kl_json_str(arr->u.items[i]);
        if (v != NULL && strcmp(v, s) == 0)
            return true;
    }
    return false;
}

/* MatchToleration: same key, operator, value and effect (as written). */
static bool same_toleration(const kl_json_t *a, const kl_json_t *b)
{
    static const char *const fields[] = {"key", "operator", "value", "effect"};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(jstr_or_empty(a, fields[i]), jstr_or_empty(b, fields[i])) != 0)
            return false;
    return true;
}

/* AddOrUpdateTolerationInPodSpec for each toleration of add. */
static int add_tolerations(kl_json_t *spec, const kl_json_t *add, kl_errinfo_t *err)
{
    if (add == NULL || add->type == KL_TNULL)
        return 0;
    if (add->type != KL_TARRAY)
        return kl_err(err, KL_EINVAL, "tolerations: expected an array");
    kl_json_t *list = kl_json_ensure_array(spec, "tolerations");
    if (list == NULL)
        return kl_err(err, KL_EINVAL, "spec.tolerations: expected an array");
    for (uint32_t i = 0; i < add->len; i++) {
        const kl_json_t *t = add->u.items[i];
        if (t->type != KL_TOBJECT)
            return kl_err(err, KL_EINVAL, "tolerations[%u]: expected an object", i);
        bool matched = false, equal = false;
        for (uint32_t j = 0; j < list->len && !equal; j++) {
            if (same_toleration(list->u.items[j], t)) {
                matched = true;
                equal = kl_json_equal(list->u.items[j], t);
            }
        }
        if (equal)
            continue; /* already there as is: upstream leaves the list alone */
        if (!matched) {
            kl_json_t *copy = kl_json_dup(t);
            if (copy == NULL || kl_json_append(list, copy) < 0)
                return kl_err(err, KL_ENOMEM, "out of memory");
            continue;
        }
        for (uint32_t j = 0; j < list->len; j++) {
            if (!same_toleration(list->u.items[j], t))
                continue;
            kl_json_t *copy = kl_json_dup(t);
            if (copy == NULL || kl_json_replace_at(list, j, copy) < 0)
                return kl_err(err, KL_ENOMEM, "out of memory");
        }
    }
    return 0;
}

/* ReplaceDaemonSetPodNodeNameNodeAffinity. */
static int pin_to_node(kl_json_t *spec, const char *node, kl_errinfo_t *err)
{
    kl_json_t *affinity = kl_json_ensure_object(spec, "affinity");
    kl_json_t *na = affinity ? kl_json_ensure_object(affinity, "nodeAffinity") : NULL;
    kl_json_t *req =
        na ? kl_json_ensure_object(na, "requiredDuringSchedulingIgnoredDuringExecution") : NULL;
    if (req == NULL)
        return kl_err(err, KL_EINVAL, "spec.affinity: expected objects");
    /* Every node is attached as soon as it exists, so the pod owns it whatever fails. */
    kl_json_t *terms = kl_json_array();
    if (terms == NULL || kl_json_set(req, "nodeSelectorTerms", terms) < 0)
        goto nomem;
    kl_json_t *term = kl_json_object();
    if (term == NULL || kl_json_append(terms, term) < 0)
        goto nomem;
    kl_json_t *fields = kl_json_array();
    if (fields == NULL || kl_json_set(term, "matchFields", fields) < 0)
        goto nomem;
    kl_json_t *expr = kl_json_object();
    if (expr == NULL || kl_json_append(fields, expr) < 0)
        goto nomem;
    if (kl_json_set_str(expr, "key", "metadata.name") < 0 ||
        kl_json_set_str(expr, "operator", "In") < 0)
        goto nomem;
    kl_json_t *values = kl_json_array();
    if (values == NULL || kl_json_set(expr, "values", values) < 0)
        goto nomem;
    kl_json_t *v = kl_json_string(node);
    if (v == NULL || kl_json_append(values, v) < 0)
        goto nomem;
    return 0;
nomem:
    return kl_err(err, KL_ENOMEM, "out of memory");
}

/* getPodsPrefix. */
static char *name_prefix(const char *owner)
{
    size_t n = strlen(owner);
    char *p = malloc(n + 2);
    if (p == NULL)
        return NULL;
    memcpy(p, owner, n);
    p[n] = 'a'; /* ValidatePodName(prefix, true) masks the trailing dash */
    p[n + 1] = '\0';
    bool ok = kl_validate_dns1123_subdomain(p) == NULL;
    p[n] = ok ? '-' : '\0';
    return p;
}

static int build_metadata(kl_json_t *meta, const kl_json_t *tmeta, const kl_pod_template_opts_t *o,
                          kl_errinfo_t *err)
{
    int rc;
    if (o->name) {
        rc = kl_json_set_str(meta, "name", o->name);
    } else if (o->generate_name) {
        rc = kl_json_set_str(meta, "generateName", o->generate_name);
    } else {
        char *prefix = name_prefix(o->owner_name);
        rc = prefix ? kl_json_set_str(meta, "generateName", prefix) : KL_ENOMEM;
        free(prefix);
    }
    if (rc == 0 && o->namespace)
        rc = kl_json_set_str(meta, "namespace", o->namespace);
    if (rc < 0)
        return kl_err(err, rc, "out of memory");

    static const char *const maps[] = {"labels", "annotations"};
    for (size_t i = 0; i < 2; i++) {
        kl_json_t *m = kl_json_object();
        if (m == NULL)
            return kl_err(err, KL_ENOMEM, "out of memory");
        const kl_json_t *extra = i == 0 ? o->labels : o->annotations;
        char what[48];
        snprintf(what, sizeof(what), "template metadata.%s", maps[i]);
        rc = merge_strings(m, kl_json_get(tmeta, maps[i]), what, err);
        if (rc == 0)
            rc = merge_strings(m, extra, maps[i], err);
        if (rc < 0) {
            kl_json_free(m);
            return rc;
        }
        if (set_if_nonempty(meta, maps[i], m) < 0)
            return kl_err(err, KL_ENOMEM, "out of memory");
    }

    const kl_json_t *tfin = kl_json_get(tmeta, "finalizers");
    kl_json_t *fin = tfin && tfin->type == KL_TARRAY ? kl_json_dup(tfin) : kl_json_array();
    if (fin == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    for (size_t i = 0; o->finalizers && o->finalizers[i]; i++) {
        if (has_string(fin, o->finalizers[i]))
            continue;
        kl_json_t *s = kl_json_string(o->finalizers[i]);
        if (s == NULL || kl_json_append(fin, s) < 0) {
            kl_json_free(fin);
            return kl_err(err, KL_ENOMEM, "out of memory");
        }
    }
    if (set_if_nonempty(meta, "finalizers", fin) < 0)
        return kl_err(err, KL_ENOMEM, "out of memory");

    kl_json_t *refs = kl_json_array(), *ref = kl_json_object();
    if (refs == NULL || ref == NULL) {
        kl_json_free(refs);
        kl_json_free(ref);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    if (kl_json_append(refs, ref) < 0 || kl_json_set(meta, "ownerReferences", refs) < 0 ||
        kl_json_set_str(ref, "apiVersion", o->owner_api_version) < 0 ||
        kl_json_set_str(ref, "kind", o->owner_kind) < 0 ||
        kl_json_set_str(ref, "name", o->owner_name) < 0 ||
        kl_json_set_str(ref, "uid", o->owner_uid) < 0 ||
        kl_json_set_bool(ref, "controller", true) < 0 ||
        kl_json_set_bool(ref, "blockOwnerDeletion", true) < 0)
        return kl_err(err, KL_ENOMEM, "out of memory");
    return 0;
}

int kl_pod_from_template(const kl_json_t *tmpl, const kl_pod_template_opts_t *o, kl_json_t **out,
                         kl_errinfo_t *err)
{
    if (!o->owner_api_version || !o->owner_kind || !o->owner_name || !o->owner_uid ||
        !*o->owner_api_version || !*o->owner_kind || !*o->owner_name || !*o->owner_uid)
        return kl_err(err, KL_EINVAL,
                      "pod from template: the owner's apiVersion, kind, name and uid are "
                      "required");
    if (!kl_json_is(tmpl, KL_TOBJECT))
        return kl_err(err, KL_EINVAL, "pod from template: the template must be an object");
    int rc;
    kl_json_t *pod = kl_json_object(), *meta = NULL, *spec = NULL;
    if (pod == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    if (kl_json_set_str(pod, "apiVersion", "v1") < 0 || kl_json_set_str(pod, "kind", "Pod") < 0)
        goto nomem;
    meta = kl_json_object();
    if (meta == NULL || kl_json_set(pod, "metadata", meta) < 0)
        goto nomem;
    rc = build_metadata(meta, kl_json_get(tmpl, "metadata"), o, err);
    if (rc < 0)
        goto fail;
    const kl_json_t *tspec = kl_json_get(tmpl, "spec");
    spec = kl_json_is(tspec, KL_TOBJECT) ? kl_json_dup(tspec) : kl_json_object();
    if (spec == NULL || kl_json_set(pod, "spec", spec) < 0)
        goto nomem;
    if (o->node_name && kl_json_set_str(spec, "nodeName", o->node_name) < 0)
        goto nomem;
    rc = add_tolerations(spec, o->tolerations, err);
    if (rc == 0 && o->pin_node)
        rc = pin_to_node(spec, o->pin_node, err);
    if (rc < 0)
        goto fail;
    if (!o->allow_no_labels && kl_json_get(meta, "labels") == NULL) {
        rc = kl_err(err, KL_EINVAL, "unable to create pods, no labels");
        goto fail;
    }
    *out = pod;
    return 0;
nomem:
    rc = kl_err(err, KL_ENOMEM, "out of memory");
fail:
    kl_json_free(pod);
    return rc;
}

int kl_pod_from_template_val(kl_val_t tmpl, const kl_pod_template_opts_t *o, kl_json_t **out,
                             kl_errinfo_t *err)
{
    kl_json_t *j = kl_json_from_val(tmpl);
    if (j == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    int rc = kl_pod_from_template(j, o, out, err);
    kl_json_free(j);
    return rc;
}

const char *kl_pod_target_node(kl_val_t pod)
{
    const char *name = kl_val_path_str(pod, "spec", "nodeName", NULL);
    if (name != NULL && *name)
        return name;
    kl_val_t terms =
        kl_val_path(pod, "spec", "affinity", "nodeAffinity",
                    "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms", NULL);
    uint32_t n = kl_val_type(terms) == KL_TARRAY ? kl_val_len(terms) : 0;
    for (uint32_t i = 0; i < n; i++) {
        kl_val_t fields = kl_val_get(kl_val_at(terms, i), "matchFields");
        uint32_t nf = kl_val_type(fields) == KL_TARRAY ? kl_val_len(fields) : 0;
        for (uint32_t j = 0; j < nf; j++) {
            kl_val_t req = kl_val_at(fields, j);
            const char *key = kl_val_str(kl_val_get(req, "key"), NULL);
            const char *op = kl_val_str(kl_val_get(req, "operator"), NULL);
            if (key == NULL || op == NULL || strcmp(key, "metadata.name") != 0 ||
                strcmp(op, "In") != 0)
                continue;
            kl_val_t values = kl_val_get(req, "values");
            if (kl_val_len(values) != 1)
                return NULL;
            return kl_val_str(kl_val_at(values, 0), NULL);
        }
    }
    return NULL;
}

/* ---- Classification ------------------------------------------------------------------------- */

kl_pod_phase_t kl_pod_phase(kl_val_t pod)
{
    const char *p = kl_val_path_str(pod, "status", "phase", NULL);
    if (p == NULL)
        return KL_POD_PHASE_NONE;
    static const char *const names[] = {"Pending", "Running", "Succeeded", "Failed", "Unknown"};
    for (size_t i = 0; i < 5; i++)
        if (strcmp(p, names[i]) == 0)
            return (kl_pod_phase_t)(i + 1);
    return KL_POD_PHASE_NONE;
}

bool kl_pod_is_deleted(kl_val_t pod)
{
    kl_type_t t = kl_val_type(kl_val_path(pod, "metadata", "deletionTimestamp", NULL));
    return t != KL_TNULL;
}

bool kl_pod_is_terminal(kl_val_t pod)
{
    kl_pod_phase_t p = kl_pod_phase(pod);
    return p == KL_POD_SUCCEEDED || p == KL_POD_FAILED;
}

bool kl_pod_is_active(kl_val_t pod)
{
    return !kl_pod_is_terminal(pod) && !kl_pod_is_deleted(pod);
}

bool kl_pod_is_terminating(kl_val_t pod)
{
    return kl_pod_is_deleted(pod) && !kl_pod_is_terminal(pod);
}

bool kl_pod_is_ready(kl_val_t pod)
{
    return kl_condition_status(pod, "Ready") == KL_COND_TRUE;
}

/* A metav1.Time as milliseconds; false when missing or malformed (Go's zero time). */
static bool time_ms(kl_val_t v, int64_t *ms)
{
    const char *s = kl_val_str(v, NULL);
    int64_t sec;
    int32_t nsec;
    if (s == NULL || *s == '\0' || kl_time_parse_rfc3339(s, &sec, &nsec) < 0)
        return false;
    *ms = sec * 1000 + nsec / 1000000;
    return true;
}

bool kl_pod_is_available(kl_val_t pod, int64_t min_ready_seconds, int64_t now_ms)
{
    if (!kl_pod_is_ready(pod))
        return false;
    if (min_ready_seconds == 0)
        return true;
    int64_t ltt;
    if (!time_ms(kl_val_get(kl_condition_find(pod, "Ready"), "lastTransitionTime"), &ltt))
        return false;
    return ltt + min_ready_seconds * 1000 < now_ms;
}

kl_pod_class_t kl_pod_classify(kl_val_t pod)
{
    switch (kl_pod_phase(pod)) {
    case KL_POD_SUCCEEDED:
        return KL_POD_CLASS_SUCCEEDED;
    case KL_POD_FAILED:
        return KL_POD_CLASS_FAILED;
    default:
        return kl_pod_is_deleted(pod) ? KL_POD_CLASS_TERMINATING : KL_POD_CLASS_ACTIVE;
    }
}

const char *kl_pod_class_name(kl_pod_class_t c)
{
    switch (c) {
    case KL_POD_CLASS_TERMINATING:
        return "terminating";
    case KL_POD_CLASS_SUCCEEDED:
        return "succeeded";
    case KL_POD_CLASS_FAILED:
        return "failed";
    default:
        return "active";
    }
}

int64_t kl_pod_max_restarts(kl_val_t pod)
{
    kl_val_t st = kl_val_path(pod, "status", "containerStatuses", NULL);
    uint32_t n = kl_val_type(st) == KL_TARRAY ? kl_val_len(st) : 0;
    int64_t max = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t r = kl_val_int(kl_val_get(kl_val_at(st, i), "restartCount"));
        if (r > max)
            max = r;
    }
    return max;
}

size_t kl_pod_exit_codes(kl_val_t pod, kl_pod_exit_t *out, size_t cap)
{
    static const char *const lists[] = {"containerStatuses", "initContainerStatuses"};
    size_t count = 0;
    for (size_t l = 0; l < 2; l++) {
        kl_val_t st = kl_val_path(pod, "status", lists[l], NULL);
        uint32_t n = kl_val_type(st) == KL_TARRAY ? kl_val_len(st) : 0;
        for (uint32_t i = 0; i < n; i++) {
            kl_val_t cs = kl_val_at(st, i);
            kl_val_t term = kl_val_path(cs, "state", "terminated", NULL);
            if (kl_val_type(term) != KL_TOBJECT)
                continue;
            if (count < cap) {
                const char *name = kl_val_str(kl_val_get(cs, "name"), NULL);
                out[count] = (kl_pod_exit_t){.container = name ? name : "",
                                             .exit_code = kl_val_int(kl_val_get(term, "exitCode")),
                                             .init = l == 1};
            }
            count++;
        }
    }
    return count;
}

/* ---- Ranking -------------------------------------------------------------------------------- */

typedef struct rank_key {
    bool unscheduled;
    int phase; /* Pending 0, Unknown 1, Running 2; anything else 0 */
    bool ready;
    bool has_ready_time, has_created;
    int64_t ready_time, created; /* ms */
    int64_t restarts;
    const char *node;
} rank_key_t;

static void rank_key(kl_val_t pod, rank_key_t *k)
{
    const char *node = kl_val_path_str(pod, "spec", "nodeName", NULL);
    k->node = node ? node : "";
    k->unscheduled = *k->node == '\0';
    kl_pod_phase_t p = kl_pod_phase(pod);
    k->phase = p == KL_POD_UNKNOWN ? 1 : p == KL_POD_RUNNING ? 2 : 0;
    k->ready = kl_pod_is_ready(pod);
    k->has_ready_time =
        k->ready &&
        time_ms(kl_val_get(kl_condition_find(pod, "Ready"), "lastTransitionTime"), &k->ready_time);
    k->restarts = kl_pod_max_restarts(pod);
    k->has_created = time_ms(kl_val_path(pod, "metadata", "creationTimestamp", NULL), &k->created);
}

/* afterOrZero(t1, t2) as an ordering: negative when t1 ranks first. */
static int after_or_zero(bool has1, int64_t t1, bool has2, int64_t t2)
{
    if (!has1 || !has2) {
        if (has1 == has2)
            return 0;
        return !has1 ? -1 : 1;
    }
    return t1 > t2 ? -1 : t1 < t2 ? 1 : 0;
}

static int compare_keys(const rank_key_t *a, const rank_key_t *b)
{
    if (strcmp(a->node, b->node) != 0 && (a->unscheduled || b->unscheduled))
        return a->unscheduled ? -1 : 1;
    if (a->phase != b->phase)
        return a->phase < b->phase ? -1 : 1;
    if (a->ready != b->ready)
        return !a->ready ? -1 : 1;
    if (a->ready && b->ready) {
        int c = after_or_zero(a->has_ready_time, a->ready_time, b->has_ready_time, b->ready_time);
        if (c != 0)
            return c;
    }
    if (a->restarts != b->restarts)
        return a->restarts > b->restarts ? -1 : 1;
    return after_or_zero(a->has_created, a->created, b->has_created, b->created);
}

int kl_pods_compare_active(kl_val_t a, kl_val_t b)
{
    rank_key_t ka, kb;
    rank_key(a, &ka);
    rank_key(b, &kb);
    return compare_keys(&ka, &kb);
}

static void merge_sort(size_t *order, size_t *tmp, size_t n, const rank_key_t *keys)
{
    if (n < 2)
        return;
    size_t half = n / 2;
    merge_sort(order, tmp, half, keys);
    merge_sort(order + half, tmp, n - half, keys);
    size_t i = 0, j = half, k = 0;
    while (i < half && j < n)
        tmp[k++] = compare_keys(&keys[order[j]], &keys[order[i]]) < 0 ? order[j++] : order[i++];
    while (i < half)
        tmp[k++] = order[i++];
    while (j < n)
        tmp[k++] = order[j++];
    memcpy(order, tmp, n * sizeof(*order));
}

int kl_pods_rank(const kl_val_t *pods, size_t n, size_t *order)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    if (n < 2)
        return 0;
    rank_key_t *keys = malloc(n * sizeof(*keys));
    size_t *tmp = malloc(n * sizeof(*tmp));
    if (keys == NULL || tmp == NULL) {
        free(keys);
        free(tmp);
        return KL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        rank_key(pods[i], &keys[i]);
    merge_sort(order, tmp, n, keys);
    free(keys);
    free(tmp);
    return 0;
}
