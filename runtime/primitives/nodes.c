/* Node eligibility: node affinity, taints and tolerations, readiness and the DaemonSet
 * predicate. Resource fit lives in nodes_resources.c. */
#include "kubelua/nodes.h"

#include <string.h>

#include "kubelua/conditions.h"
#include "kubelua/selector.h"

static const char *str_or_empty(kl_val_t v)
{
    const char *s = kl_val_str(v, NULL);
    return s ? s : "";
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

unsigned kl_taint_effect_bit(const char *effect)
{
    if (effect == NULL)
        return 0;
    if (strcmp(effect, "NoSchedule") == 0)
        return KL_EFFECT_NO_SCHEDULE;
    if (strcmp(effect, "PreferNoSchedule") == 0)
        return KL_EFFECT_PREFER_NO_SCHEDULE;
    if (strcmp(effect, "NoExecute") == 0)
        return KL_EFFECT_NO_EXECUTE;
    return 0;
}

void kl_toleration_from_val(kl_val_t v, kl_toleration_t *out)
{
    kl_val_t secs = kl_val_get(v, "tolerationSeconds");
    *out = (kl_toleration_t){
        .key = str_or_empty(kl_val_get(v, "key")),
        .op = str_or_empty(kl_val_get(v, "operator")),
        .value = str_or_empty(kl_val_get(v, "value")),
        .effect = str_or_empty(kl_val_get(v, "effect")),
        .has_seconds = kl_val_type(secs) == KL_TINT || kl_val_type(secs) == KL_TDOUBLE,
        .seconds = kl_val_type(secs) == KL_TINT ? kl_val_int(secs) : (int64_t)kl_val_number(secs),
    };
}

void kl_taint_from_val(kl_val_t v, kl_taint_t *out)
{
    *out = (kl_taint_t){
        .key = str_or_empty(kl_val_get(v, "key")),
        .value = str_or_empty(kl_val_get(v, "value")),
        .effect = str_or_empty(kl_val_get(v, "effect")),
    };
}

bool kl_toleration_tolerates(const kl_toleration_t *t, const kl_taint_t *taint)
{
    const char *effect = nz(t->effect), *key = nz(t->key), *op = nz(t->op);
    if (*effect && strcmp(effect, nz(taint->effect)) != 0)
        return false;
    if (*key && strcmp(key, nz(taint->key)) != 0)
        return false;
    if (*op == '\0' || strcmp(op, "Equal") == 0)
        return strcmp(nz(t->value), nz(taint->value)) == 0;
    return strcmp(op, "Exists") == 0;
}

static bool tolerated(const kl_taint_t *taint, kl_val_t tolerations, const kl_toleration_t *extra,
                      size_t nextra)
{
    uint32_t n = kl_val_type(tolerations) == KL_TARRAY ? kl_val_len(tolerations) : 0;
    for (uint32_t i = 0; i < n; i++) {
        kl_toleration_t t;
        kl_toleration_from_val(kl_val_at(tolerations, i), &t);
        if (kl_toleration_tolerates(&t, taint))
            return true;
    }
    for (size_t i = 0; i < nextra; i++)
        if (kl_toleration_tolerates(&extra[i], taint))
            return true;
    return false;
}

int kl_taints_find_untolerated(kl_val_t taints, kl_val_t tolerations, const kl_toleration_t *extra,
                               size_t nextra, unsigned effects)
{
    uint32_t n = kl_val_type(taints) == KL_TARRAY ? kl_val_len(taints) : 0;
    for (uint32_t i = 0; i < n; i++) {
        kl_taint_t taint;
        kl_taint_from_val(kl_val_at(taints, i), &taint);
        if (!(kl_taint_effect_bit(taint.effect) & effects))
            continue;
        if (!tolerated(&taint, tolerations, extra, nextra))
            return (int)i;
    }
    return -1;
}

int64_t kl_taints_noexecute_seconds(kl_val_t taints, kl_val_t tolerations)
{
    uint32_t n = kl_val_type(taints) == KL_TARRAY ? kl_val_len(taints) : 0;
    uint32_t nt = kl_val_type(tolerations) == KL_TARRAY ? kl_val_len(tolerations) : 0;
    int64_t min = INT64_MAX;
    bool any = false;
    for (uint32_t i = 0; i < n; i++) {
        kl_taint_t taint;
        kl_taint_from_val(kl_val_at(taints, i), &taint);
        if (kl_taint_effect_bit(taint.effect) != KL_EFFECT_NO_EXECUTE)
            continue;
        any = true;
        /* The first toleration that tolerates the taint is the one used. */
        uint32_t j;
        kl_toleration_t t;
        for (j = 0; j < nt; j++) {
            kl_toleration_from_val(kl_val_at(tolerations, j), &t);
            if (kl_toleration_tolerates(&t, &taint))
                break;
        }
        if (j == nt)
            return KL_TOLERATE_NOT;
        if (t.has_seconds) {
            if (t.seconds <= 0)
                min = 0;
            else if (t.seconds < min)
                min = t.seconds;
        }
    }
    if (!any || min == INT64_MAX)
        return KL_TOLERATE_FOREVER;
    return min;
}

/* ---- Node affinity -------------------------------------------------------------------------- */

/* nodeSelectorRequirementsAsFieldSelector: checks the operators and value counts. */
static bool fields_valid(kl_val_t fields, size_t term, kl_errinfo_t *err)
{
    uint32_t n = kl_val_len(fields);
    for (uint32_t i = 0; i < n; i++) {
        kl_val_t req = kl_val_at(fields, i);
        const char *op = str_or_empty(kl_val_get(req, "operator"));
        kl_val_t values = kl_val_get(req, "values");
        if (strcmp(op, "In") != 0 && strcmp(op, "NotIn") != 0) {
            if (err)
                kl_err(err, KL_EINVAL,
                       "nodeSelectorTerms[%zu].matchFields[%u].operator: Unsupported value: "
                       "\"%s\": supported values: \"In\", \"NotIn\"",
                       term, i, op);
            return false;
        }
        if (kl_val_type(values) != KL_TARRAY || kl_val_len(values) != 1 ||
            kl_val_type(kl_val_at(values, 0)) != KL_TSTRING) {
            if (err)
                kl_err(err, KL_EINVAL,
                       "nodeSelectorTerms[%zu].matchFields[%u].values: Invalid value: must have "
                       "one element",
                       term, i);
            return false;
        }
    }
    return true;
}

/* The fields.Set of a node holds metadata.name only; other fields read as "". */
static bool fields_match(kl_val_t fields, const char *node_name)
{
    uint32_t n = kl_val_len(fields);
    for (uint32_t i = 0; i < n; i++) {
        kl_val_t req = kl_val_at(fields, i);
        const char *key = str_or_empty(kl_val_get(req, "key"));
        const char *op = str_or_empty(kl_val_get(req, "operator"));
        const char *want = str_or_empty(kl_val_at(kl_val_get(req, "values"), 0));
        const char *have = strcmp(key, "metadata.name") == 0 ? node_name : "";
        bool eq = strcmp(have, want) == 0;
        if (strcmp(op, "In") == 0 ? !eq : eq)
            return false;
    }
    return true;
}

int kl_node_selector_match(kl_val_t node_selector, kl_val_t node, kl_errinfo_t *err)
{
    kl_val_t terms = kl_val_get(node_selector, "nodeSelectorTerms");
    kl_val_t labels = kl_val_path(node, "metadata", "labels", NULL);
    const char *node_name = str_or_empty(kl_val_path(node, "metadata", "name", NULL));
    uint32_t n = kl_val_type(terms) == KL_TARRAY ? kl_val_len(terms) : 0;
    bool matched = false, err_set = false;
    for (uint32_t i = 0; i < n && !matched; i++) {
        kl_val_t term = kl_val_at(terms, i);
        kl_val_t exprs = kl_val_get(term, "matchExpressions");
        kl_val_t fields = kl_val_get(term, "matchFields");
        bool has_exprs = kl_val_type(exprs) == KL_TARRAY && kl_val_len(exprs) > 0;
        bool has_fields = kl_val_type(fields) == KL_TARRAY && kl_val_len(fields) > 0;
        if (!has_exprs && !has_fields)
            continue; /* an empty term matches nothing */
        kl_selector_t *sel = NULL;
        bool bad = false;
        if (has_exprs) {
            kl_errinfo_t e;
            int rc = kl_selector_from_node_requirements(exprs, &sel, &e);
            if (rc == KL_ENOMEM)
                return rc;
            if (rc < 0) {
                bad = true;
                if (err && !err_set) {
                    kl_err(err, KL_EINVAL, "nodeSelectorTerms[%u].matchExpressions: %s", i, e.msg);
                    err_set = true;
                }
            }
        }
        if (has_fields && !fields_valid(fields, i, err_set ? NULL : err)) {
            bad = true;
            err_set = err != NULL;
        }
        if (bad) {
            kl_selector_free(sel);
            continue; /* a term that does not parse does not match */
        }
        bool ok = sel == NULL || kl_selector_matches(sel, labels);
        kl_selector_free(sel);
        /* Upstream skips matchFields for a node without a name. */
        if (ok && has_fields && *node_name)
            ok = fields_match(fields, node_name);
        matched = ok;
    }
    return matched ? 1 : 0;
}

int kl_node_affinity_match(kl_val_t pod_spec, kl_val_t node, kl_errinfo_t *err)
{
    kl_val_t ns = kl_val_get(pod_spec, "nodeSelector");
    if (kl_val_type(ns) == KL_TOBJECT) {
        kl_val_t labels = kl_val_path(node, "metadata", "labels", NULL);
        uint32_t n = kl_val_len(ns);
        for (uint32_t i = 0; i < n; i++) {
            const char *key;
            size_t keylen;
            kl_val_t want = kl_val_member(ns, i, &key, &keylen);
            size_t wl, hl;
            const char *w = kl_val_str(want, &wl);
            const char *h = kl_val_str(kl_val_getn(labels, key, keylen), &hl);
            if (w == NULL || h == NULL || wl != hl || memcmp(w, h, wl) != 0)
                return 0;
        }
    }
    kl_val_t req = kl_val_path(pod_spec, "affinity", "nodeAffinity",
                               "requiredDuringSchedulingIgnoredDuringExecution", NULL);
    if (kl_val_type(req) != KL_TOBJECT)
        return 1;
    return kl_node_selector_match(req, node, err);
}

/* ---- Node state ----------------------------------------------------------------------------- */

bool kl_node_is_ready(kl_val_t node)
{
    return kl_condition_status(node, "Ready") == KL_COND_TRUE;
}

bool kl_node_is_unschedulable(kl_val_t node)
{
    return kl_val_type(kl_val_path(node, "spec", "unschedulable", NULL)) == KL_TTRUE;
}

/* ---- DaemonSet placement -------------------------------------------------------------------- */

static const kl_toleration_t daemon_tolerations[] = {
    {.key = "node.kubernetes.io/not-ready", .op = "Exists", .value = "", .effect = "NoExecute"},
    {.key = "node.kubernetes.io/unreachable", .op = "Exists", .value = "", .effect = "NoExecute"},
    {.key = "node.kubernetes.io/disk-pressure",
     .op = "Exists",
     .value = "",
     .effect = "NoSchedule"},
    {.key = "node.kubernetes.io/memory-pressure",
     .op = "Exists",
     .value = "",
     .effect = "NoSchedule"},
    {.key = "node.kubernetes.io/pid-pressure", .op = "Exists", .value = "", .effect = "NoSchedule"},
    {.key = "node.kubernetes.io/unschedulable",
     .op = "Exists",
     .value = "",
     .effect = "NoSchedule"},
    {.key = "node.kubernetes.io/network-unavailable",
     .op = "Exists",
     .value = "",
     .effect = "NoSchedule"},
};

size_t kl_daemonset_tolerations(bool host_network, const kl_toleration_t **out)
{
    *out = daemon_tolerations;
    size_t n = sizeof(daemon_tolerations) / sizeof(daemon_tolerations[0]);
    return host_network ? n : n - 1;
}

int kl_node_should_run_daemon_pod(kl_val_t node, kl_val_t pod_spec, kl_daemon_placement_t *out)
{
    *out = (kl_daemon_placement_t){.taint = -1};
    const char *node_name = str_or_empty(kl_val_path(node, "metadata", "name", NULL));
    const char *want = str_or_empty(kl_val_get(pod_spec, "nodeName"));
    if (*want && strcmp(want, node_name) != 0) {
        out->reason = "nodeName";
        return 0;
    }
    int rc = kl_node_affinity_match(pod_spec, node, NULL);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        out->reason = "affinity";
        return 0;
    }
    const kl_toleration_t *extra;
    bool host_network = kl_val_type(kl_val_get(pod_spec, "hostNetwork")) == KL_TTRUE;
    size_t nextra = kl_daemonset_tolerations(host_network, &extra);
    kl_val_t taints = kl_val_path(node, "spec", "taints", NULL);
    kl_val_t tolerations = kl_val_get(pod_spec, "tolerations");
    int idx = kl_taints_find_untolerated(taints, tolerations, extra, nextra,
                                         KL_EFFECT_NO_SCHEDULE | KL_EFFECT_NO_EXECUTE);
    if (idx >= 0) {
        out->reason = "taint";
        out->taint = idx;
        out->should_continue_running = kl_taints_find_untolerated(taints, tolerations, extra,
                                                                  nextra, KL_EFFECT_NO_EXECUTE) < 0;
        return 0;
    }
    out->should_run = true;
    out->should_continue_running = true;
    return 0;
}
