/* Defaulting and validation per kind, following kube-apiserver 1.32's strategies for the kinds
 * kubectl users and the bundled controllers touch. */
#include "apiserver/strategy.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/cron.h"
#include "kubelua/ktime.h"
#include "kubelua/selector.h"

#include "apiserver/schema_valid.h"
#include "apiserver/strategy_res.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0)                                                                               \
            return rc_;                                                                            \
    } while (0)

/* Sets obj[key] when missing or null. */
static int set_default(kl_json_t *obj, const char *key, kl_json_t *val)
{
    if (val == NULL)
        return KL_ENOMEM;
    kl_json_t *cur = kl_json_get(obj, key);
    if (cur != NULL && cur->type != KL_TNULL) {
        kl_json_free(val);
        return 0;
    }
    return kl_json_set(obj, key, val);
}

static int default_str(kl_json_t *obj, const char *key, const char *s)
{
    return set_default(obj, key, kl_json_string(s));
}

static int default_int(kl_json_t *obj, const char *key, int64_t i)
{
    return set_default(obj, key, kl_json_int(i));
}

static int default_bool(kl_json_t *obj, const char *key, int b)
{
    return set_default(obj, key, kl_json_bool(b));
}

static int default_obj(kl_json_t *obj, const char *key)
{
    return set_default(obj, key, kl_json_object());
}

/* "Always" for images without a tag or with :latest, "IfNotPresent" otherwise. */
static const char *pull_policy_for(const char *image)
{
    if (image == NULL)
        return "IfNotPresent";
    if (strchr(image, '@'))
        return "IfNotPresent";
    const char *slash = strrchr(image, '/');
    const char *name = slash ? slash + 1 : image;
    const char *colon = strchr(name, ':');
    if (colon == NULL || strcmp(colon + 1, "latest") == 0)
        return "Always";
    return "IfNotPresent";
}

static int defaults_probe(kl_json_t *p)
{
    if (!kl_json_is(p, KL_TOBJECT))
        return 0;
    CHECK(default_int(p, "timeoutSeconds", 1));
    CHECK(default_int(p, "periodSeconds", 10));
    CHECK(default_int(p, "successThreshold", 1));
    CHECK(default_int(p, "failureThreshold", 3));
    kl_json_t *http = kl_json_get(p, "httpGet");
    if (kl_json_is(http, KL_TOBJECT)) {
        CHECK(default_str(http, "path", "/"));
        CHECK(default_str(http, "scheme", "HTTP"));
    }
    return 0;
}

static int defaults_container(kl_json_t *c)
{
    if (!kl_json_is(c, KL_TOBJECT))
        return 0;
    CHECK(default_str(c, "terminationMessagePath", "/dev/termination-log"));
    CHECK(default_str(c, "terminationMessagePolicy", "File"));
    CHECK(default_str(c, "imagePullPolicy", pull_policy_for(kl_json_path_str(c, "image", NULL))));
    CHECK(default_obj(c, "resources"));
    kl_json_t *ports = kl_json_get(c, "ports");
    for (uint32_t i = 0; kl_json_is(ports, KL_TARRAY) && i < ports->len; i++)
        if (kl_json_is(kl_json_at(ports, i), KL_TOBJECT))
            CHECK(default_str(kl_json_at(ports, i), "protocol", "TCP"));
    kl_json_t *env = kl_json_get(c, "env");
    for (uint32_t i = 0; kl_json_is(env, KL_TARRAY) && i < env->len; i++) {
        kl_json_t *fr = kl_json_path(kl_json_at(env, i), "valueFrom", "fieldRef", NULL);
        if (kl_json_is(fr, KL_TOBJECT))
            CHECK(default_str(fr, "apiVersion", "v1"));
    }
    CHECK(defaults_probe(kl_json_get(c, "livenessProbe")));
    CHECK(defaults_probe(kl_json_get(c, "readinessProbe")));
    CHECK(defaults_probe(kl_json_get(c, "startupProbe")));
    return 0;
}

static int defaults_volume(kl_json_t *v)
{
    if (!kl_json_is(v, KL_TOBJECT))
        return 0;
    kl_json_t *s;
    if (kl_json_is(s = kl_json_get(v, "hostPath"), KL_TOBJECT))
        CHECK(default_str(s, "type", ""));
    if (kl_json_is(s = kl_json_get(v, "configMap"), KL_TOBJECT))
        CHECK(default_int(s, "defaultMode", 420));
    if (kl_json_is(s = kl_json_get(v, "secret"), KL_TOBJECT))
        CHECK(default_int(s, "defaultMode", 420));
    if (kl_json_is(s = kl_json_get(v, "projected"), KL_TOBJECT))
        CHECK(default_int(s, "defaultMode", 420));
    if (kl_json_is(s = kl_json_get(v, "downwardAPI"), KL_TOBJECT))
        CHECK(default_int(s, "defaultMode", 420));
    return 0;
}

int kl_defaults_pod_spec(kl_json_t *spec)
{
    if (!kl_json_is(spec, KL_TOBJECT))
        return 0;
    CHECK(default_str(spec, "restartPolicy", "Always"));
    CHECK(default_int(spec, "terminationGracePeriodSeconds", 30));
    CHECK(default_str(spec, "dnsPolicy", "ClusterFirst"));
    CHECK(default_obj(spec, "securityContext"));
    CHECK(default_str(spec, "schedulerName", "default-scheduler"));
    CHECK(default_bool(spec, "enableServiceLinks", 1));
    const char *lists[] = {"containers", "initContainers", "ephemeralContainers"};
    for (size_t l = 0; l < 3; l++) {
        kl_json_t *cs = kl_json_get(spec, lists[l]);
        for (uint32_t i = 0; kl_json_is(cs, KL_TARRAY) && i < cs->len; i++)
            CHECK(defaults_container(kl_json_at(cs, i)));
    }
    kl_json_t *vols = kl_json_get(spec, "volumes");
    for (uint32_t i = 0; kl_json_is(vols, KL_TARRAY) && i < vols->len; i++)
        CHECK(defaults_volume(kl_json_at(vols, i)));
    return 0;
}

static int defaults_template(kl_json_t *tmpl)
{
    if (!kl_json_is(tmpl, KL_TOBJECT))
        return 0;
    return kl_defaults_pod_spec(kl_json_get(tmpl, "spec"));
}

/* ---- Pods ------------------------------------------------------------------------------- */

/* DefaultTolerationSeconds admission: a toleration already covers the NoExecute taint `key`
 * when its key is that key or empty (every key) and its effect NoExecute or empty. */
static int has_toleration(const kl_json_t *tols, const char *key)
{
    for (uint32_t i = 0; kl_json_is(tols, KL_TARRAY) && i < tols->len; i++) {
        const kl_json_t *t = kl_json_at(tols, i);
        const char *k = kl_json_path_str(t, "key", NULL);
        const char *e = kl_json_path_str(t, "effect", NULL);
        if ((k == NULL || *k == '\0' || strcmp(k, key) == 0) &&
            (e == NULL || *e == '\0' || strcmp(e, "NoExecute") == 0))
            return 1;
    }
    return 0;
}

/* SetDefaults_Pod: a resource with a limit but no request is requested at its limit (pods
 * only, not templates). */
static int default_requests_from_limits(kl_json_t *spec)
{
    const char *lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        kl_json_t *cs = kl_json_get(spec, lists[l]);
        for (uint32_t i = 0; kl_json_is(cs, KL_TARRAY) && i < cs->len; i++) {
            kl_json_t *res = kl_json_get(kl_json_at(cs, i), "resources");
            kl_json_t *lim = kl_json_get(res, "limits");
            if (!kl_json_is(lim, KL_TOBJECT) || lim->len == 0)
                continue;
            kl_json_t *req = kl_json_ensure_object(res, "requests");
            if (req == NULL)
                return KL_ENOMEM;
            for (uint32_t k = 0; k < lim->len; k++) {
                const kl_jmember_t *m = &lim->u.members[k];
                if (kl_json_getn(req, m->key, m->keylen) == NULL &&
                    kl_json_setn(req, m->key, m->keylen, kl_json_dup(m->val)) < 0)
                    return KL_ENOMEM;
            }
        }
    }
    return 0;
}

static int add_default_toleration(kl_json_t *spec, const char *key)
{
    kl_json_t *tols = kl_json_ensure_array(spec, "tolerations");
    if (tols == NULL || has_toleration(tols, key))
        return 0;
    kl_json_t *t = kl_json_object();
    if (t == NULL)
        return KL_ENOMEM;
    if (kl_json_set_str(t, "key", key) < 0 || kl_json_set_str(t, "operator", "Exists") < 0 ||
        kl_json_set_str(t, "effect", "NoExecute") < 0 ||
        kl_json_set_int(t, "tolerationSeconds", 300) < 0) {
        kl_json_free(t);
        return KL_ENOMEM;
    }
    return kl_json_append(tols, t);
}

static int pod_defaults(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_get(obj, "spec");
    if (!kl_json_is(spec, KL_TOBJECT))
        return 0;
    CHECK(kl_defaults_pod_spec(spec));
    CHECK(default_requests_from_limits(spec));
    /* Admission: ServiceAccount, Priority, DefaultTolerationSeconds. */
    CHECK(default_str(spec, "serviceAccountName", "default"));
    const char *sa = kl_json_path_str(spec, "serviceAccountName", NULL);
    CHECK(default_str(spec, "serviceAccount", sa ? sa : "default"));
    CHECK(default_int(spec, "priority", 0));
    CHECK(default_str(spec, "preemptionPolicy", "PreemptLowerPriority"));
    CHECK(add_default_toleration(spec, "node.kubernetes.io/not-ready"));
    CHECK(add_default_toleration(spec, "node.kubernetes.io/unreachable"));
    return 0;
}

/* The QoS class from requests and limits, as kubelet's GetPodQOS. */
static const char *qos_class(const kl_json_t *spec)
{
    int any = 0, guaranteed = 1;
    const kl_json_t *cs = kl_json_get(spec, "containers");
    for (uint32_t i = 0; kl_json_is(cs, KL_TARRAY) && i < cs->len; i++) {
        const kl_json_t *res = kl_json_get(kl_json_at(cs, i), "resources");
        const kl_json_t *req = kl_json_get(res, "requests"), *lim = kl_json_get(res, "limits");
        if ((kl_json_is(req, KL_TOBJECT) && req->len) || (kl_json_is(lim, KL_TOBJECT) && lim->len))
            any = 1;
        const char *names[] = {"cpu", "memory"};
        for (int k = 0; k < 2; k++) {
            const kl_json_t *l = kl_json_get(lim, names[k]);
            const kl_json_t *r = kl_json_get(req, names[k]);
            if (l == NULL || (r != NULL && !kl_json_equal(l, r)))
                guaranteed = 0;
        }
    }
    if (!any)
        return "BestEffort";
    return guaranteed ? "Guaranteed" : "Burstable";
}

static int pod_prepare_create(kl_json_t *obj)
{
    kl_json_t *status = kl_json_object();
    if (status == NULL)
        return KL_ENOMEM;
    if (kl_json_set_str(status, "phase", "Pending") < 0 ||
        kl_json_set_str(status, "qosClass", qos_class(kl_json_get(obj, "spec"))) < 0) {
        kl_json_free(status);
        return KL_ENOMEM;
    }
    return kl_json_set(obj, "status", status);
}

static void validate_containers(const kl_json_t *list, const char *path, int required,
                                kl_ferrs_t *errs)
{
    char f[256];
    if (!kl_json_is(list, KL_TARRAY) || list->len == 0) {
        if (required)
            kl_ferr_add(errs, KL_FERR_REQUIRED, path, NULL, NULL);
        return;
    }
    for (uint32_t i = 0; i < list->len; i++) {
        const kl_json_t *c = kl_json_at(list, i);
        const char *name = kl_json_path_str(c, "name", NULL);
        snprintf(f, sizeof(f), "%s[%u].name", path, i);
        if (name == NULL || !*name) {
            kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, NULL);
        } else {
            const char *msg = kl_validate_dns1123_label(name);
            if (msg) {
                char *v = kl_ferr_value(kl_json_get(c, "name"));
                kl_ferr_add(errs, KL_FERR_INVALID, f, v, msg);
                free(v);
            }
            for (uint32_t j = 0; j < i; j++) {
                const char *o = kl_json_path_str(kl_json_at(list, j), "name", NULL);
                if (o && strcmp(o, name) == 0) {
                    char *v = kl_ferr_value(kl_json_get(c, "name"));
                    kl_ferr_add(errs, KL_FERR_DUPLICATE, f, v, NULL);
                    free(v);
                }
            }
        }
        const char *image = kl_json_path_str(c, "image", NULL);
        if (image == NULL || !*image) {
            snprintf(f, sizeof(f), "%s[%u].image", path, i);
            kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, NULL);
        }
    }
}

/* ValidateLabels: qualified-name keys and label values, reported at field. */
static void validate_labels(const kl_json_t *labels, const char *field, kl_ferrs_t *errs)
{
    for (uint32_t i = 0; kl_json_is(labels, KL_TOBJECT) && i < labels->len; i++) {
        const kl_jmember_t *m = &labels->u.members[i];
        const char *kmsg = kl_validate_qualified_name(m->key);
        const char *f = field;
        if (kmsg) {
            char *v =
                kl_ferr_value(&(kl_json_t){.type = KL_TSTRING, .len = m->keylen, .u.s = m->key});
            kl_ferr_add(errs, KL_FERR_INVALID, f, v, kmsg);
            free(v);
        }
        const char *val = kl_json_str(m->val);
        const char *vmsg = val ? kl_validate_label_value(val) : "must be a string";
        if (vmsg) {
            char *v = kl_ferr_value(m->val);
            kl_ferr_add(errs, KL_FERR_INVALID, f, v, vmsg);
            free(v);
        }
    }
}

static void validate_pod_spec(const kl_json_t *spec, const char *path, kl_ferrs_t *errs,
                              const char *const *restart_allowed, const char *restart_list)
{
    char f[256];
    if (!kl_json_is(spec, KL_TOBJECT)) {
        kl_ferr_add(errs, KL_FERR_REQUIRED, path, NULL, NULL);
        return;
    }
    snprintf(f, sizeof(f), "%s.containers", path);
    validate_containers(kl_json_get(spec, "containers"), f, 1, errs);
    snprintf(f, sizeof(f), "%s.initContainers", path);
    validate_containers(kl_json_get(spec, "initContainers"), f, 0, errs);
    const char *rp = kl_json_path_str(spec, "restartPolicy", NULL);
    snprintf(f, sizeof(f), "%s.restartPolicy", path);
    if (rp == NULL) {
        kl_ferr_addf(errs, KL_FERR_REQUIRED, f, NULL, "valid values: %s", restart_list);
    } else {
        int ok = 0;
        for (size_t i = 0; restart_allowed[i]; i++)
            if (strcmp(rp, restart_allowed[i]) == 0)
                ok = 1;
        if (!ok) {
            char *v = kl_ferr_value(kl_json_get(spec, "restartPolicy"));
            kl_ferr_add(errs, KL_FERR_NOT_SUPPORTED, f, v, restart_list);
            free(v);
        }
    }
    const char *dns = kl_json_path_str(spec, "dnsPolicy", NULL);
    if (dns && strcmp(dns, "ClusterFirst") && strcmp(dns, "ClusterFirstWithHostNet") &&
        strcmp(dns, "Default") && strcmp(dns, "None")) {
        snprintf(f, sizeof(f), "%s.dnsPolicy", path);
        char *v = kl_ferr_value(kl_json_get(spec, "dnsPolicy"));
        kl_ferr_add(errs, KL_FERR_NOT_SUPPORTED, f, v,
                    "\"ClusterFirst\", \"ClusterFirstWithHostNet\", \"Default\", \"None\"");
        free(v);
    }
    const kl_json_t *tgp = kl_json_get(spec, "terminationGracePeriodSeconds");
    if (tgp && kl_json_int_or(tgp, 0) < 0) {
        snprintf(f, sizeof(f), "%s.terminationGracePeriodSeconds", path);
        char *v = kl_ferr_value(tgp);
        kl_ferr_add(errs, KL_FERR_INVALID, f, v, "must be greater than or equal to 0");
        free(v);
    }
}

static const char *const restart_any[] = {"Always", "OnFailure", "Never", NULL};
static const char *const restart_job[] = {"OnFailure", "Never", NULL};
static const char *const restart_always[] = {"Always", NULL};

static void pod_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    validate_pod_spec(kl_json_get(obj, "spec"), "spec", errs, restart_any,
                      "\"Always\", \"OnFailure\", \"Never\"");
    if (old == NULL)
        return;
    /* Pod updates may only change images, activeDeadlineSeconds, tolerations (additions) and
     * a few scheduling fields; compare the rest. */
    kl_json_t *a = kl_json_dup(kl_json_get(obj, "spec"));
    kl_json_t *b = kl_json_dup(kl_json_get(old, "spec"));
    if (a && b) {
        const char *mutable_fields[] = {"activeDeadlineSeconds", "tolerations",
                                        "terminationGracePeriodSeconds", "nodeName", NULL};
        for (size_t i = 0; mutable_fields[i]; i++) {
            kl_json_del(a, mutable_fields[i]);
            kl_json_del(b, mutable_fields[i]);
        }
        const char *lists[] = {"containers", "initContainers"};
        for (int l = 0; l < 2; l++) {
            kl_json_t *ca = kl_json_get(a, lists[l]), *cb = kl_json_get(b, lists[l]);
            for (uint32_t i = 0; kl_json_is(ca, KL_TARRAY) && i < ca->len; i++)
                kl_json_del(kl_json_at(ca, i), "image");
            for (uint32_t i = 0; kl_json_is(cb, KL_TARRAY) && i < cb->len; i++)
                kl_json_del(kl_json_at(cb, i), "image");
        }
        if (!kl_json_equal(a, b))
            kl_ferr_add(errs, KL_FERR_FORBIDDEN, "spec", NULL,
                        "pod updates may not change fields other than `spec.containers[*].image`,"
                        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
                        "`spec.tolerations` (only additions to existing tolerations),"
                        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
                        "previously negative)");
    }
    kl_json_free(a);
    kl_json_free(b);
}

/* ---- Selectors vs template labels ------------------------------------------------------ */

static void validate_selector_matches(const kl_json_t *spec, kl_ferrs_t *errs, int required,
                                      const char *empty_msg)
{
    const kl_json_t *sel = kl_json_get(spec, "selector");
    if (sel == NULL || sel->type == KL_TNULL) {
        if (required)
            kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.selector", NULL, NULL);
        return;
    }
    kl_selector_t *s = NULL;
    kl_errinfo_t e;
    if (kl_selector_from_json(sel, false, &s, &e) < 0) {
        char *v = kl_ferr_value(sel);
        kl_ferr_add(errs, KL_FERR_INVALID, "spec.selector", v, e.msg);
        free(v);
        return;
    }
    if (kl_selector_is_empty(s) && empty_msg) {
        char *v = kl_ferr_value(sel);
        kl_ferr_add(errs, KL_FERR_INVALID, "spec.selector", v, empty_msg);
        free(v);
    }
    const kl_json_t *labels = kl_json_path(spec, "template", "metadata", "labels", NULL);
    if (!kl_selector_is_empty(s) && !kl_selector_matches_json(s, labels)) {
        char *v = kl_ferr_value(labels);
        kl_ferr_add(errs, KL_FERR_INVALID, "spec.template.metadata.labels", v,
                    "`selector` does not match template `labels`");
        free(v);
    }
    kl_selector_free(s);
}

static void validate_nonneg(const kl_json_t *spec, const char *field, const char *path,
                            kl_ferrs_t *errs)
{
    const kl_json_t *v = kl_json_get(spec, field);
    if (v && v->type != KL_TNULL && kl_json_int_or(v, 0) < 0) {
        char *s = kl_ferr_value(v);
        kl_ferr_add(errs, KL_FERR_INVALID, path, s, "must be greater than or equal to 0");
        free(s);
    }
}

/* ---- DaemonSets ------------------------------------------------------------------------- */

static int ds_defaults(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_get(obj, "spec");
    if (!kl_json_is(spec, KL_TOBJECT))
        return 0;
    kl_json_t *us = kl_json_ensure_object(spec, "updateStrategy");
    if (us) {
        CHECK(default_str(us, "type", "RollingUpdate"));
        const char *t = kl_json_path_str(us, "type", NULL);
        if (t && strcmp(t, "RollingUpdate") == 0) {
            kl_json_t *ru = kl_json_ensure_object(us, "rollingUpdate");
            if (ru) {
                CHECK(default_int(ru, "maxUnavailable", 1));
                CHECK(default_int(ru, "maxSurge", 0));
            }
        }
    }
    CHECK(default_int(spec, "revisionHistoryLimit", 10));
    return defaults_template(kl_json_get(spec, "template"));
}

static int64_t ds_template_generation(const kl_json_t *obj)
{
    const char *v =
        kl_json_path_str(obj, "metadata", "annotations", KL_DS_TEMPLATE_GENERATION, NULL);
    char *end;
    long long g = v ? strtoll(v, &end, 10) : 0;
    return v && *end == '\0' && g > 0 ? (int64_t)g : 0;
}

static int ds_set_template_generation(kl_json_t *obj, int64_t g)
{
    kl_json_t *md = kl_json_ensure_object(obj, "metadata");
    kl_json_t *ann = md ? kl_json_ensure_object(md, "annotations") : NULL;
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", (long long)g);
    return ann ? kl_json_set_str(ann, KL_DS_TEMPLATE_GENERATION, buf) : KL_ENOMEM;
}

/* The template generation starts at 1 (or what the client sent, when higher) ... */
static int ds_prepare_create(kl_json_t *obj)
{
    int64_t g = ds_template_generation(obj);
    return ds_set_template_generation(obj, g < 1 ? 1 : g);
}

/* ... and grows by one whenever the pod template changes; clients cannot set it. */
static int ds_prepare_update(kl_json_t *obj, const kl_json_t *old)
{
    int64_t g = ds_template_generation(old);
    if (!kl_json_equal(kl_json_path(obj, "spec", "template", NULL),
                       kl_json_path(old, "spec", "template", NULL)))
        g++;
    if (g < 1)
        g = 1;
    return ds_set_template_generation(obj, g);
}

static void ds_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    const kl_json_t *spec = kl_json_get(obj, "spec");
    validate_selector_matches(spec, errs, 1, "empty selector is invalid for daemonset");
    validate_labels(kl_json_path(spec, "template", "metadata", "labels", NULL),
                    "spec.template.labels", errs);
    validate_pod_spec(kl_json_path(spec, "template", "spec", NULL), "spec.template.spec", errs,
                      restart_always, "\"Always\"");
    const char *t = kl_json_path_str(spec, "updateStrategy", "type", NULL);
    if (t && strcmp(t, "RollingUpdate") && strcmp(t, "OnDelete")) {
        char *v = kl_ferr_value(kl_json_path(spec, "updateStrategy", "type", NULL));
        kl_ferr_add(errs, KL_FERR_NOT_SUPPORTED, "spec.updateStrategy.type", v,
                    "\"OnDelete\", \"RollingUpdate\"");
        free(v);
    }
    validate_nonneg(spec, "minReadySeconds", "spec.minReadySeconds", errs);
    validate_nonneg(spec, "revisionHistoryLimit", "spec.revisionHistoryLimit", errs);
    if (old) {
        const kl_json_t *a = kl_json_get(spec, "selector");
        const kl_json_t *b = kl_json_path(old, "spec", "selector", NULL);
        if (!kl_json_equal(a, b)) {
            char *v = kl_ferr_value(a);
            kl_ferr_add(errs, KL_FERR_IMMUTABLE, "spec.selector", v, NULL);
            free(v);
        }
    }
}

/* ---- Deployments and ReplicaSets -------------------------------------------------------- */

static int deploy_defaults(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_get(obj, "spec");
    if (!kl_json_is(spec, KL_TOBJECT))
        return 0;
    CHECK(default_int(spec, "replicas", 1));
    kl_json_t *st = kl_json_ensure_object(spec, "strategy");
    if (st) {
        CHECK(default_str(st, "type", "RollingUpdate"));
        const char *t = kl_json_path_str(st, "type", NULL);
        if (t && strcmp(t, "RollingUpdate") == 0) {
            kl_json_t *ru = kl_json_ensure_object(st, "rollingUpdate");
            if (ru) {
                CHECK(default_str(ru, "maxUnavailable", "25%"));
                CHECK(default_str(ru, "maxSurge", "25%"));
            }
        }
    }
    CHECK(default_int(spec, "revisionHistoryLimit", 10));
    CHECK(default_int(spec, "progressDeadlineSeconds", 600));
    return defaults_template(kl_json_get(spec, "template"));
}

static int rs_defaults(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_get(obj, "spec");
    if (!kl_json_is(spec, KL_TOBJECT))
        return 0;
    CHECK(default_int(spec, "replicas", 1));
    return defaults_template(kl_json_get(spec, "template"));
}

static void workload_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    const kl_json_t *spec = kl_json_get(obj, "spec");
    validate_selector_matches(spec, errs, 1, "empty selector is invalid for deployment");
    validate_labels(kl_json_path(spec, "template", "metadata", "labels", NULL),
                    "spec.template.labels", errs);
    validate_pod_spec(kl_json_path(spec, "template", "spec", NULL), "spec.template.spec", errs,
                      restart_always, "\"Always\"");
    validate_nonneg(spec, "replicas", "spec.replicas", errs);
}

/* ---- Jobs ------------------------------------------------------------------------------- */

static int job_spec_defaults(kl_json_t *spec)
{
    if (!kl_json_is(spec, KL_TOBJECT))
        return 0;
    const kl_json_t *completions = kl_json_get(spec, "completions");
    const kl_json_t *parallelism = kl_json_get(spec, "parallelism");
    int has_c = completions && completions->type != KL_TNULL;
    int has_p = parallelism && parallelism->type != KL_TNULL;
    if (!has_c && !has_p) {
        CHECK(kl_json_set_int(spec, "completions", 1));
        CHECK(kl_json_set_int(spec, "parallelism", 1));
    } else if (!has_p) {
        CHECK(kl_json_set_int(spec, "parallelism", 1));
    }
    const kl_json_t *bpi = kl_json_get(spec, "backoffLimitPerIndex");
    CHECK(default_int(spec, "backoffLimit", bpi && bpi->type != KL_TNULL ? 2147483647 : 6));
    CHECK(default_str(spec, "completionMode", "NonIndexed"));
    CHECK(default_bool(spec, "suspend", 0));
    const kl_json_t *pfp = kl_json_get(spec, "podFailurePolicy");
    CHECK(default_str(spec, "podReplacementPolicy",
                      pfp && pfp->type != KL_TNULL ? "Failed" : "TerminatingOrFailed"));
    return defaults_template(kl_json_get(spec, "template"));
}

static int job_defaults(kl_json_t *obj)
{
    return job_spec_defaults(kl_json_get(obj, "spec"));
}

static int job_prepare_create(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_get(obj, "spec");
    const char *uid = kl_json_path_str(obj, "metadata", "uid", NULL);
    const char *name = kl_json_path_str(obj, "metadata", "name", NULL);
    if (!kl_json_is(spec, KL_TOBJECT) || uid == NULL || name == NULL)
        return 0;
    if (kl_json_bool_or(kl_json_get(spec, "manualSelector"), false))
        return 0;
    kl_json_t *tmpl = kl_json_ensure_object(spec, "template");
    kl_json_t *md = tmpl ? kl_json_ensure_object(tmpl, "metadata") : NULL;
    kl_json_t *labels = md ? kl_json_ensure_object(md, "labels") : NULL;
    if (labels == NULL)
        return 0;
    CHECK(kl_json_set_str(labels, "batch.kubernetes.io/controller-uid", uid));
    CHECK(kl_json_set_str(labels, "batch.kubernetes.io/job-name", name));
    CHECK(kl_json_set_str(labels, "controller-uid", uid));
    CHECK(kl_json_set_str(labels, "job-name", name));
    kl_json_t *sel = kl_json_object();
    kl_json_t *ml = kl_json_object();
    if (sel == NULL || ml == NULL ||
        kl_json_set_str(ml, "batch.kubernetes.io/controller-uid", uid) < 0) {
        kl_json_free(sel);
        kl_json_free(ml);
        return KL_ENOMEM;
    }
    if (kl_json_set(sel, "matchLabels", ml) < 0) {
        kl_json_free(sel);
        return KL_ENOMEM;
    }
    return kl_json_set(spec, "selector", sel);
}

static void job_spec_validate(const kl_json_t *spec, const char *prefix, kl_ferrs_t *errs,
                              int check_selector)
{
    char f[256], tp[256];
    snprintf(f, sizeof(f), "%s.template.labels", prefix);
    validate_labels(kl_json_path(spec, "template", "metadata", "labels", NULL), f, errs);
    snprintf(tp, sizeof(tp), "%s.template.spec", prefix);
    validate_pod_spec(kl_json_path(spec, "template", "spec", NULL), tp, errs, restart_job,
                      "\"OnFailure\", \"Never\"");
    const char *names[] = {"parallelism",
                           "completions",
                           "backoffLimit",
                           "activeDeadlineSeconds",
                           "ttlSecondsAfterFinished",
                           "backoffLimitPerIndex",
                           "maxFailedIndexes"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(f, sizeof(f), "%s.%s", prefix, names[i]);
        validate_nonneg(spec, names[i], f, errs);
    }
    const kl_json_t *ads = kl_json_get(spec, "activeDeadlineSeconds");
    if (ads && ads->type != KL_TNULL && kl_json_int_or(ads, 0) == 0) {
        snprintf(f, sizeof(f), "%s.activeDeadlineSeconds", prefix);
        kl_ferr_add(errs, KL_FERR_INVALID, f, "0", "must be greater than 0");
    }
    const char *mode = kl_json_path_str(spec, "completionMode", NULL);
    if (mode && strcmp(mode, "NonIndexed") && strcmp(mode, "Indexed")) {
        snprintf(f, sizeof(f), "%s.completionMode", prefix);
        char *v = kl_ferr_value(kl_json_get(spec, "completionMode"));
        kl_ferr_add(errs, KL_FERR_NOT_SUPPORTED, f, v, "\"NonIndexed\", \"Indexed\"");
        free(v);
    }
    if (mode && strcmp(mode, "Indexed") == 0) {
        const kl_json_t *c = kl_json_get(spec, "completions");
        if (c == NULL || c->type == KL_TNULL) {
            snprintf(f, sizeof(f), "%s.completions", prefix);
            kl_ferr_add(errs, KL_FERR_REQUIRED, f, NULL, "when completion mode is Indexed");
        }
    }
    const char *prp = kl_json_path_str(spec, "podReplacementPolicy", NULL);
    if (prp && strcmp(prp, "TerminatingOrFailed") && strcmp(prp, "Failed")) {
        snprintf(f, sizeof(f), "%s.podReplacementPolicy", prefix);
        char *v = kl_ferr_value(kl_json_get(spec, "podReplacementPolicy"));
        kl_ferr_add(errs, KL_FERR_NOT_SUPPORTED, f, v, "\"Failed\", \"TerminatingOrFailed\"");
        free(v);
    }
    if (check_selector)
        validate_selector_matches(spec, errs, 0, NULL);
}

static void job_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    const kl_json_t *spec = kl_json_get(obj, "spec");
    job_spec_validate(spec, "spec", errs, 1);
    if (kl_json_bool_or(kl_json_get(spec, "manualSelector"), false) &&
        kl_json_get(spec, "selector") == NULL)
        kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.selector", NULL, NULL);
    if (old == NULL)
        return;
    const kl_json_t *ospec = kl_json_get(old, "spec");
    const char *immutable[] = {"selector", "completionMode", "podFailurePolicy",
                               "backoffLimitPerIndex", "manualSelector"};
    for (size_t i = 0; i < sizeof(immutable) / sizeof(immutable[0]); i++) {
        const kl_json_t *a = kl_json_get(spec, immutable[i]);
        const kl_json_t *b = kl_json_get(ospec, immutable[i]);
        if (!kl_json_equal(a, b)) {
            char f[64];
            snprintf(f, sizeof(f), "spec.%s", immutable[i]);
            char *v = kl_ferr_value(a);
            kl_ferr_add(errs, KL_FERR_IMMUTABLE, f, v, NULL);
            free(v);
        }
    }
    /* completions may change only for Indexed jobs with completions == parallelism (elastic). */
    const kl_json_t *c = kl_json_get(spec, "completions"), *oc = kl_json_get(ospec, "completions");
    if (!kl_json_equal(c, oc)) {
        const char *mode = kl_json_path_str(spec, "completionMode", NULL);
        int elastic = mode && strcmp(mode, "Indexed") == 0 &&
                      kl_json_equal(c, kl_json_get(spec, "parallelism"));
        if (!elastic) {
            char *v = kl_ferr_value(c);
            kl_ferr_add(errs, KL_FERR_IMMUTABLE, "spec.completions", v, NULL);
            free(v);
        }
    }
    /* The pod template is immutable, except scheduling directives of suspended jobs. */
    const kl_json_t *t = kl_json_get(spec, "template"), *ot = kl_json_get(ospec, "template");
    if (!kl_json_equal(t, ot)) {
        int allowed = 0;
        if (kl_json_bool_or(kl_json_get(spec, "suspend"), false) &&
            kl_json_path(old, "status", "startTime", NULL) == NULL) {
            kl_json_t *a = kl_json_dup(t), *b = kl_json_dup(ot);
            const char *sched[] = {"nodeSelector", "affinity", "tolerations", "schedulingGates"};
            for (size_t i = 0; i < 4; i++) {
                kl_json_del(kl_json_get(a, "spec"), sched[i]);
                kl_json_del(kl_json_get(b, "spec"), sched[i]);
            }
            kl_json_t *am = kl_json_get(a, "metadata"), *bm = kl_json_get(b, "metadata");
            kl_json_del(am, "labels");
            kl_json_del(am, "annotations");
            kl_json_del(bm, "labels");
            kl_json_del(bm, "annotations");
            allowed = kl_json_equal(a, b);
            kl_json_free(a);
            kl_json_free(b);
        }
        if (!allowed) {
            char *v = kl_ferr_value(t);
            kl_ferr_add(errs, KL_FERR_IMMUTABLE, "spec.template", v, NULL);
            free(v);
        }
    }
}

/* ---- CronJobs --------------------------------------------------------------------------- */

static int cronjob_defaults(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_get(obj, "spec");
    if (!kl_json_is(spec, KL_TOBJECT))
        return 0;
    CHECK(default_str(spec, "concurrencyPolicy", "Allow"));
    CHECK(default_bool(spec, "suspend", 0));
    CHECK(default_int(spec, "successfulJobsHistoryLimit", 3));
    CHECK(default_int(spec, "failedJobsHistoryLimit", 1));
    return defaults_template(kl_json_path(spec, "jobTemplate", "spec", "template", NULL));
}

static void cronjob_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    const kl_json_t *spec = kl_json_get(obj, "spec");
    const char *name = kl_json_path_str(obj, "metadata", "name", NULL);
    if (name && strlen(name) > 52) {
        char *v = kl_ferr_value(kl_json_path(obj, "metadata", "name", NULL));
        kl_ferr_add(errs, KL_FERR_INVALID, "metadata.name", v,
                    "must be no more than 52 characters");
        free(v);
    }
    const char *schedule = kl_json_path_str(spec, "schedule", NULL);
    const char *tzname = kl_json_path_str(spec, "timeZone", NULL);
    if (schedule == NULL || !*schedule) {
        kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.schedule", NULL, NULL);
    } else {
        kl_cron_t *c = NULL;
        kl_errinfo_t e;
        if (kl_cron_parse(schedule, &c, &e) < 0) {
            char *v = kl_ferr_value(kl_json_get(spec, "schedule"));
            kl_ferr_add(errs, KL_FERR_INVALID, "spec.schedule", v, e.msg);
            free(v);
        } else if (tzname && kl_cron_tz_name(c)) {
            char *v = kl_ferr_value(kl_json_get(spec, "schedule"));
            kl_ferr_add(errs, KL_FERR_INVALID, "spec.schedule", v,
                        "cannot use both timeZone field and TZ or CRON_TZ in schedule");
            free(v);
        }
        kl_cron_free(c);
    }
    if (tzname) {
        const kl_tz_t *tz;
        kl_errinfo_t e;
        if (*tzname == '\0' || strcmp(tzname, "Local") == 0 || kl_tz_load(tzname, &tz, &e) < 0) {
            char *v = kl_ferr_value(kl_json_get(spec, "timeZone"));
            char d[300];
            snprintf(d, sizeof(d), "unknown time zone %s", tzname);
            kl_ferr_add(errs, KL_FERR_INVALID, "spec.timeZone", v, d);
            free(v);
        }
    }
    const char *cp = kl_json_path_str(spec, "concurrencyPolicy", NULL);
    if (cp && strcmp(cp, "Allow") && strcmp(cp, "Forbid") && strcmp(cp, "Replace")) {
        char *v = kl_ferr_value(kl_json_get(spec, "concurrencyPolicy"));
        kl_ferr_add(errs, KL_FERR_NOT_SUPPORTED, "spec.concurrencyPolicy", v,
                    "\"Allow\", \"Forbid\", \"Replace\"");
        free(v);
    }
    validate_nonneg(spec, "startingDeadlineSeconds", "spec.startingDeadlineSeconds", errs);
    validate_nonneg(spec, "successfulJobsHistoryLimit", "spec.successfulJobsHistoryLimit", errs);
    validate_nonneg(spec, "failedJobsHistoryLimit", "spec.failedJobsHistoryLimit", errs);
    job_spec_validate(kl_json_path(spec, "jobTemplate", "spec", NULL), "spec.jobTemplate.spec",
                      errs, 1);
}

/* ---- Other kinds ------------------------------------------------------------------------ */

static int namespace_defaults(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_ensure_object(obj, "spec");
    if (spec && kl_json_get(spec, "finalizers") == NULL) {
        kl_json_t *f = kl_json_array();
        if (f == NULL || kl_json_append(f, kl_json_string("kubernetes")) < 0) {
            kl_json_free(f);
            return KL_ENOMEM;
        }
        CHECK(kl_json_set(spec, "finalizers", f));
    }
    kl_json_t *status = kl_json_ensure_object(obj, "status");
    if (status)
        CHECK(default_str(status, "phase", "Active"));
    return 0;
}

/* stringData is write-only: the real server folds it into data (base64, its keys winning over
 * data's) on every write and never stores it. */
static int secret_defaults(kl_json_t *obj)
{
    kl_json_t *sd = kl_json_get(obj, "stringData");
    if (kl_json_is(sd, KL_TOBJECT) && sd->len > 0) {
        kl_json_t *data = kl_json_get(obj, "data");
        if (!kl_json_is(data, KL_TOBJECT)) {
            if ((data = kl_json_object()) == NULL || kl_json_set(obj, "data", data) < 0)
                return KL_ENOMEM;
        }
        for (uint32_t i = 0; i < sd->len; i++) {
            const kl_jmember_t *m = &sd->u.members[i];
            if (!kl_json_is(m->val, KL_TSTRING))
                continue;
            size_t n = m->val->len;
            char *b64 = malloc((n + 2) / 3 * 4 + 1);
            if (b64 == NULL)
                return KL_ENOMEM;
            EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)m->val->u.s, (int)n);
            kl_json_t *v = kl_json_string(b64);
            free(b64);
            if (v == NULL || kl_json_setn(data, m->key, m->keylen, v) < 0)
                return KL_ENOMEM;
        }
    }
    if (sd != NULL)
        kl_json_del(obj, "stringData");
    return default_str(obj, "type", "Opaque");
}

static int service_defaults(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_get(obj, "spec");
    if (!kl_json_is(spec, KL_TOBJECT))
        return 0;
    CHECK(default_str(spec, "type", "ClusterIP"));
    CHECK(default_str(spec, "sessionAffinity", "None"));
    kl_json_t *ports = kl_json_get(spec, "ports");
    for (uint32_t i = 0; kl_json_is(ports, KL_TARRAY) && i < ports->len; i++) {
        kl_json_t *p = kl_json_at(ports, i);
        if (!kl_json_is(p, KL_TOBJECT))
            continue;
        CHECK(default_str(p, "protocol", "TCP"));
        const kl_json_t *port = kl_json_get(p, "port");
        if (port && kl_json_get(p, "targetPort") == NULL)
            CHECK(kl_json_set(p, "targetPort", kl_json_dup(port)));
    }
    return 0;
}

static int crd_defaults(kl_json_t *obj)
{
    kl_json_t *spec = kl_json_get(obj, "spec");
    if (!kl_json_is(spec, KL_TOBJECT))
        return 0;
    kl_json_t *conv = kl_json_ensure_object(spec, "conversion");
    if (conv)
        CHECK(default_str(conv, "strategy", "None"));
    kl_json_t *names = kl_json_get(spec, "names");
    if (kl_json_is(names, KL_TOBJECT)) {
        const char *kind = kl_json_path_str(names, "kind", NULL);
        if (kind && kl_json_get(names, "listKind") == NULL) {
            char buf[256];
            snprintf(buf, sizeof(buf), "%sList", kind);
            CHECK(kl_json_set_str(names, "listKind", buf));
        }
        if (kind && kl_json_get(names, "singular") == NULL) {
            char buf[256];
            size_t i;
            for (i = 0; kind[i] && i < sizeof(buf) - 1; i++)
                buf[i] = (char)(kind[i] >= 'A' && kind[i] <= 'Z' ? kind[i] + 32 : kind[i]);
            buf[i] = '\0';
            CHECK(kl_json_set_str(names, "singular", buf));
        }
    }
    return 0;
}

static void crd_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
    const kl_json_t *spec = kl_json_get(obj, "spec");
    const char *group = kl_json_path_str(spec, "group", NULL);
    const char *plural = kl_json_path_str(spec, "names", "plural", NULL);
    const char *kind = kl_json_path_str(spec, "names", "kind", NULL);
    const char *name = kl_json_path_str(obj, "metadata", "name", NULL);
    if (group == NULL || !*group)
        kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.group", NULL, NULL);
    if (plural == NULL || !*plural)
        kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.names.plural", NULL, NULL);
    if (kind == NULL || !*kind)
        kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.names.kind", NULL, NULL);
    if (group && plural && name) {
        char want[512];
        snprintf(want, sizeof(want), "%s.%s", plural, group);
        if (strcmp(want, name) != 0) {
            char *v = kl_ferr_value(kl_json_path(obj, "metadata", "name", NULL));
            char d[600];
            snprintf(d, sizeof(d), "must be spec.names.plural+\".\"+spec.group");
            kl_ferr_add(errs, KL_FERR_INVALID, "metadata.name", v, d);
            free(v);
        }
    }
    const char *scope = kl_json_path_str(spec, "scope", NULL);
    if (scope == NULL)
        kl_ferr_add(errs, KL_FERR_REQUIRED, "spec.scope", NULL, NULL);
    else if (strcmp(scope, "Namespaced") && strcmp(scope, "Cluster")) {
        char *v = kl_ferr_value(kl_json_get(spec, "scope"));
        kl_ferr_add(errs, KL_FERR_NOT_SUPPORTED, "spec.scope", v, "\"Cluster\", \"Namespaced\"");
        free(v);
    }
    const kl_json_t *versions = kl_json_get(spec, "versions");
    if (!kl_json_is(versions, KL_TARRAY) || versions->len == 0) {
        kl_ferr_add(errs, KL_FERR_INVALID, "spec.versions", "null",
                    "must have exactly one version marked as storage version");
        return;
    }
    int storage = 0;
    for (uint32_t i = 0; i < versions->len; i++)
        if (kl_json_bool_or(kl_json_get(kl_json_at(versions, i), "storage"), false))
            storage++;
    if (storage != 1) {
        char *v = kl_ferr_value(versions);
        kl_ferr_add(errs, KL_FERR_INVALID, "spec.versions", v,
                    "must have exactly one version marked as storage version");
        free(v);
    }
    /* Defaults that validate, patterns that compile... (schema_valid.c). */
    kl_crd_validate_schemas(obj, errs);
    if (old) {
        const char *og = kl_json_path_str(old, "spec", "group", NULL);
        if (og && group && strcmp(og, group) != 0) {
            char *v = kl_ferr_value(kl_json_get(spec, "group"));
            kl_ferr_add(errs, KL_FERR_IMMUTABLE, "spec.group", v, NULL);
            free(v);
        }
    }
}

/* ---- Registry of strategies ------------------------------------------------------------- */

static void no_validate(const kl_json_t *obj, const kl_json_t *old, kl_ferrs_t *errs)
{
}

static const kl_strategy_t generic = {
    .defaults = NULL, .prepare_create = NULL, .validate = no_validate};
static const kl_strategy_t pod_strategy = {
    .defaults = pod_defaults, .prepare_create = pod_prepare_create, .validate = pod_validate};
static const kl_strategy_t ds_strategy = {.defaults = ds_defaults,
                                          .prepare_create = ds_prepare_create,
                                          .validate = ds_validate,
                                          .prepare_update = ds_prepare_update};
static const kl_strategy_t deploy_strategy = {
    .defaults = deploy_defaults, .prepare_create = NULL, .validate = workload_validate};
static const kl_strategy_t rs_strategy = {
    .defaults = rs_defaults, .prepare_create = NULL, .validate = workload_validate};
static const kl_strategy_t job_strategy = {
    .defaults = job_defaults, .prepare_create = job_prepare_create, .validate = job_validate};
static const kl_strategy_t cronjob_strategy = {
    .defaults = cronjob_defaults, .prepare_create = NULL, .validate = cronjob_validate};
static const kl_strategy_t ns_strategy = {
    .defaults = namespace_defaults, .prepare_create = NULL, .validate = no_validate};
static const kl_strategy_t secret_strategy = {
    .defaults = secret_defaults, .prepare_create = NULL, .validate = no_validate};
static const kl_strategy_t service_strategy = {
    .defaults = service_defaults, .prepare_create = NULL, .validate = no_validate};
static const kl_strategy_t crd_strategy = {
    .defaults = crd_defaults, .prepare_create = NULL, .validate = crd_validate};

const kl_strategy_t *kl_strategy_for(const char *group, const char *kind)
{
    static const struct {
        const char *group, *kind;
        const kl_strategy_t *s;
    } table[] = {
        {"", "Pod", &pod_strategy},
        {"apps", "DaemonSet", &ds_strategy},
        {"apps", "Deployment", &deploy_strategy},
        {"apps", "ReplicaSet", &rs_strategy},
        {"batch", "Job", &job_strategy},
        {"batch", "CronJob", &cronjob_strategy},
        {"", "Namespace", &ns_strategy},
        {"", "Secret", &secret_strategy},
        {"", "Service", &service_strategy},
        {"apiextensions.k8s.io", "CustomResourceDefinition", &crd_strategy},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(table[i].group, group) == 0 && strcmp(table[i].kind, kind) == 0)
            return table[i].s;
    const kl_strategy_t *res = kl_strategy_res_for(group, kind);
    return res ? res : &generic;
}

/* ObjectMeta's omitempty fields: an empty list or map is not stored, as with Go's encoding. */
void kl_normalize_meta(kl_json_t *obj)
{
    kl_json_t *md = kl_json_get(obj, "metadata");
    static const char *const fields[] = {"labels",     "annotations",   "ownerReferences",
                                         "finalizers", "managedFields", NULL};
    for (size_t i = 0; fields[i]; i++) {
        const kl_json_t *v = kl_json_get(md, fields[i]);
        if (v && (v->type == KL_TNULL ||
                  ((v->type == KL_TARRAY || v->type == KL_TOBJECT) && v->len == 0)))
            kl_json_del(md, fields[i]);
    }
}

/* ---- Metadata --------------------------------------------------------------------------- */

void kl_validate_object_meta(const kl_json_t *obj, int namespaced, const char *name_rule,
                             kl_ferrs_t *errs)
{
    const kl_json_t *md = kl_json_get(obj, "metadata");
    const char *name = kl_json_path_str(md, "name", NULL);
    if (name == NULL || !*name) {
        kl_ferr_add(errs, KL_FERR_REQUIRED, "metadata.name", NULL,
                    "name or generateName is required");
    } else {
        const char *msg = NULL;
        if (strcmp(name_rule, "label") == 0)
            msg = kl_validate_dns1123_label(name);
        else if (strcmp(name_rule, "subdomain") == 0)
            msg = kl_validate_dns1123_subdomain(name);
        else if (strchr(name, '/') || strchr(name, '%') || !strcmp(name, ".") ||
                 !strcmp(name, ".."))
            msg = "may not contain '/' or '%' and may not be '.' or '..'";
        if (msg) {
            char *v = kl_ferr_value(kl_json_get(md, "name"));
            kl_ferr_add(errs, KL_FERR_INVALID, "metadata.name", v, msg);
            free(v);
        }
    }
    validate_labels(kl_json_get(md, "labels"), "metadata.labels", errs);
    const kl_json_t *ann = kl_json_get(md, "annotations");
    size_t total = 0;
    for (uint32_t i = 0; kl_json_is(ann, KL_TOBJECT) && i < ann->len; i++) {
        const kl_jmember_t *m = &ann->u.members[i];
        const char *kmsg = kl_validate_qualified_name(m->key);
        if (kmsg) {
            char *v =
                kl_ferr_value(&(kl_json_t){.type = KL_TSTRING, .len = m->keylen, .u.s = m->key});
            kl_ferr_add(errs, KL_FERR_INVALID, "metadata.annotations", v, kmsg);
            free(v);
        }
        total += m->keylen + (kl_json_str(m->val) ? m->val->len : 0);
    }
    if (total > 256 * 1024)
        kl_ferr_add(errs, KL_FERR_TOO_LONG, "metadata.annotations", NULL,
                    "must have at most 262144 bytes");
    (void)namespaced;
}
