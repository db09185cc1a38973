/* Create-only reviews (access, rules, token and self reviews), serviceaccounts/token, the
 * PodDisruptionBudget check of pods/eviction, and the system PriorityClasses. kubelua does no
 * authorization: every authenticated caller may do everything, and the reviews say so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/ktime.h"
#include "kubelua/selector.h"

#include "apiserver/handlers_int.h"
#include "apiserver/satoken.h"
#include "apiserver/strategy_res.h"

#define ALLOW_REASON "kubelua allows every authenticated request (no authorization)"
#define ADMIN_USER "kubelua-admin"

/* ---- Identities ------------------------------------------------------------------------- */

/* The service account a bearer token names when it is a valid, current token whose account
 * still exists with the same uid. */
static bool sa_of_token(kl_apiserver_t *srv, const char *tok, size_t len, kl_satoken_claims_t *c)
{
    if (kl_satoken_verify(srv->tls.token, tok, len, kl_time_now(), c, NULL) < 0)
        return false;
    kl_res_t *sas = kl_registry_find(srv->reg, "", "v1", "serviceaccounts");
    char key[600];
    snprintf(key, sizeof(key), "%s/%s", c->ns, c->name);
    kl_entry_t *e = sas ? kl_store_get(sas->table, key) : NULL;
    if (e == NULL)
        return false;
    const char *uid = kl_val_path_str(kl_obj_root(e->obj->doc), "metadata", "uid", NULL);
    return c->uid[0] == '\0' || (uid && strcmp(uid, c->uid) == 0);
}

bool kl_apiserver_sa_token_ok(kl_apiserver_t *srv, const char *tok, size_t len)
{
    kl_satoken_claims_t c;
    return sa_of_token(srv, tok, len, &c);
}

/* A UserInfo for a token, or (req given) for the caller: the Authorization header's token, else
 * a client certificate. Sets *authenticated. */
static kl_json_t *user_info(kl_apiserver_t *srv, h2o_req_t *req, const char *token,
                            bool *authenticated)
{
    size_t len = 0;
    bool caller = req != NULL;
    if (caller) {
        const char *auth = kl_req_header(req, "authorization", &len);
        if (auth && len > 7 && strncasecmp(auth, "Bearer ", 7) == 0) {
            token = auth + 7;
            len -= 7;
        } else {
            len = 0;
        }
    } else {
        len = strlen(token);
    }
    kl_satoken_claims_t c;
    kl_json_t *u = kl_json_object(), *groups = kl_json_array();
    int rc = u && groups ? 0 : KL_ENOMEM;
    *authenticated = true;
    if (token && sa_of_token(srv, token, len, &c)) {
        char name[600], g[300];
        snprintf(name, sizeof(name), "system:serviceaccount:%s:%s", c.ns, c.name);
        snprintf(g, sizeof(g), "system:serviceaccounts:%s", c.ns);
        if (rc == 0)
            rc = kl_json_set_str(u, "username", name);
        if (rc == 0 && c.uid[0])
            rc = kl_json_set_str(u, "uid", c.uid);
        if (rc == 0)
            rc = kl_json_append(groups, kl_json_string("system:serviceaccounts"));
        if (rc == 0)
            rc = kl_json_append(groups, kl_json_string(g));
    } else if ((caller && token == NULL) ||
               (token && len == 64 && memcmp(token, srv->tls.token, 64) == 0)) {
        /* The admin token, or a client certificate (reported as the admin as well). */
        if (rc == 0)
            rc = kl_json_set_str(u, "username", ADMIN_USER);
        if (rc == 0)
            rc = kl_json_append(groups, kl_json_string("system:masters"));
    } else {
        *authenticated = false;
    }
    if (rc == 0 && *authenticated)
        rc = kl_json_append(groups, kl_json_string("system:authenticated"));
    if (rc == 0 && *authenticated) {
        rc = kl_json_set(u, "groups", groups);
        groups = NULL;
    }
    kl_json_free(groups);
    if (rc < 0) {
        kl_json_free(u);
        return NULL;
    }
    return u;
}

/* ---- Reviews ---------------------------------------------------------------------------- */

static int set_status(kl_json_t *obj, kl_json_t *status)
{
    if (status == NULL)
        return KL_ENOMEM;
    kl_json_del(obj, "status");
    return kl_json_set(obj, "status", status);
}

static int allowed_status(kl_json_t *obj)
{
    kl_json_t *st = kl_json_object();
    if (st == NULL || kl_json_set_bool(st, "allowed", true) < 0 ||
        kl_json_set_str(st, "reason", ALLOW_REASON) < 0) {
        kl_json_free(st);
        return KL_ENOMEM;
    }
    return set_status(obj, st);
}

static kl_json_t *strings(const char *const *v)
{
    kl_json_t *a = kl_json_array();
    for (size_t i = 0; a && v[i]; i++)
        if (kl_json_append(a, kl_json_string(v[i])) < 0) {
            kl_json_free(a);
            return NULL;
        }
    return a;
}

static int everything_rules(kl_json_t *obj)
{
    static const char *const star[] = {"*", NULL};
    kl_json_t *st = kl_json_object(), *rr = kl_json_array(), *nr = kl_json_array();
    kl_json_t *r1 = kl_json_object(), *r2 = kl_json_object();
    int rc = st && rr && nr && r1 && r2 ? 0 : KL_ENOMEM;
    if (rc == 0)
        rc = kl_json_set(r1, "verbs", strings(star));
    if (rc == 0)
        rc = kl_json_set(r1, "apiGroups", strings(star));
    if (rc == 0)
        rc = kl_json_set(r1, "resources", strings(star));
    if (rc == 0)
        rc = kl_json_set(r2, "verbs", strings(star));
    if (rc == 0)
        rc = kl_json_set(r2, "nonResourceURLs", strings(star));
    if (rc == 0 && (rc = kl_json_append(rr, r1)) == 0)
        r1 = NULL;
    if (rc == 0 && (rc = kl_json_append(nr, r2)) == 0)
        r2 = NULL;
    if (rc == 0 && (rc = kl_json_set(st, "resourceRules", rr)) == 0)
        rr = NULL;
    if (rc == 0 && (rc = kl_json_set(st, "nonResourceRules", nr)) == 0)
        nr = NULL;
    if (rc == 0)
        rc = kl_json_set_bool(st, "incomplete", false);
    kl_json_free(rr);
    kl_json_free(nr);
    kl_json_free(r1);
    kl_json_free(r2);
    if (rc < 0) {
        kl_json_free(st);
        return rc;
    }
    return set_status(obj, st);
}

static void validate_access_spec(const kl_json_t *obj, const kl_res_t *res, const char *url_ns,
                                 kl_ferrs_t *errs)
{
    const kl_json_t *spec = kl_json_get(obj, "spec");
    const kl_json_t *ra = kl_json_get(spec, "resourceAttributes");
    const kl_json_t *na = kl_json_get(spec, "nonResourceAttributes");
    bool has_ra = ra && ra->type != KL_TNULL, has_na = na && na->type != KL_TNULL;
    if (has_ra == has_na) {
        char *v = kl_ferr_value(spec);
        kl_ferr_add(errs, KL_FERR_INVALID, "spec.resourceAttributes", v,
                    "exactly one of nonResourceAttributes or resourceAttributes must be "
                    "specified");
        free(v);
    }
    if (strcmp(res->kind, "SubjectAccessReview") == 0 ||
        strcmp(res->kind, "LocalSubjectAccessReview") == 0) {
        const char *user = kl_json_path_str(spec, "user", NULL);
        const kl_json_t *groups = kl_json_get(spec, "groups");
        if ((user == NULL || !*user) && !(kl_json_is(groups, KL_TARRAY) && groups->len))
            kl_ferr_add(errs, KL_FERR_INVALID, "spec.user", "\"\"",
                        "at least one of user or group must be specified");
    }
    if (strcmp(res->kind, "LocalSubjectAccessReview") == 0) {
        const char *ns = kl_json_path_str(ra, "namespace", NULL);
        if (has_ra && (ns == NULL || url_ns == NULL || strcmp(ns, url_ns) != 0)) {
            char *v = kl_ferr_value(kl_json_get(ra, "namespace"));
            kl_ferr_add(errs, KL_FERR_INVALID, "spec.resourceAttributes.namespace", v ? v : "\"\"",
                        "must match metadata.namespace");
            free(v);
        }
        if (has_na)
            kl_ferr_add(errs, KL_FERR_INVALID, "spec.nonResourceAttributes", NULL,
                        "disallowed on this kind of request");
    }
}

void kl_review_create(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                      const kl_query_t *q)
{
    kl_json_t *obj;
    if (kl_decode_body(req, res, &obj, kl_field_validation(q)) < 0)
        return;
    if (kl_check_schema(req, res, obj, kl_field_validation(q)) < 0 ||
        kl_check_type(req, res, obj) < 0) {
        kl_json_free(obj);
        return;
    }
    kl_json_t *md = kl_json_ensure_object(obj, "metadata");
    if (md == NULL)
        goto oom;
    kl_json_del(md, "creationTimestamp");
    if (kl_json_set(md, "creationTimestamp", kl_json_null()) < 0)
        goto oom;
    if (res->namespaced && p->namespace && kl_json_set_str(md, "namespace", p->namespace) < 0)
        goto oom;
    kl_ferrs_t errs;
    kl_ferrs_init(&errs);
    int rc = 0;
    const char *kind = res->kind;
    if (strstr(kind, "AccessReview")) {
        validate_access_spec(obj, res, p->namespace, &errs);
        if (errs.n == 0)
            rc = allowed_status(obj);
    } else if (strcmp(kind, "SelfSubjectRulesReview") == 0) {
        const char *ns = kl_json_path_str(obj, "spec", "namespace", NULL);
        if (ns == NULL || !*ns)
            kl_ferr_add(&errs, KL_FERR_REQUIRED, "spec.namespace", NULL, NULL);
        else
            rc = everything_rules(obj);
    } else if (strcmp(kind, "SelfSubjectReview") == 0) {
        bool ok;
        kl_json_t *st = kl_json_object();
        kl_json_t *u = user_info(srv, req, NULL, &ok);
        rc = st && u ? kl_json_set(st, "userInfo", u) : KL_ENOMEM;
        if (rc < 0)
            kl_json_free(u);
        rc = rc == 0 ? set_status(obj, st) : (kl_json_free(st), rc);
    } else if (strcmp(kind, "TokenReview") == 0) {
        const char *tok = kl_json_path_str(obj, "spec", "token", NULL);
        bool ok = false;
        kl_json_t *st = kl_json_object();
        kl_json_t *u = tok && *tok ? user_info(srv, NULL, tok, &ok) : NULL;
        rc = st ? kl_json_set_bool(st, "authenticated", ok) : KL_ENOMEM;
        if (rc == 0 && ok) {
            rc = kl_json_set(st, "user", u);
            u = NULL;
            const kl_json_t *aud = kl_json_path(obj, "spec", "audiences", NULL);
            static const char *const iss[] = {KL_SATOKEN_ISSUER, NULL};
            if (rc == 0)
                rc = kl_json_set(st, "audiences",
                                 kl_json_is(aud, KL_TARRAY) && aud->len ? kl_json_dup(aud)
                                                                        : strings(iss));
        } else if (rc == 0) {
            rc = kl_json_set_str(st, "error", "invalid bearer token");
        }
        kl_json_free(u);
        rc = rc == 0 ? set_status(obj, st) : (kl_json_free(st), rc);
    }
    if (errs.n) {
        kl_invalid(req, res, "", &errs);
        kl_ferrs_cleanup(&errs);
        kl_json_free(obj);
        return;
    }
    kl_ferrs_cleanup(&errs);
    if (rc < 0)
        goto oom;
    kl_canonical_order(obj);
    kl_send_json(req, 201, obj);
    kl_json_free(obj);
    return;
oom:
    kl_json_free(obj);
    kl_respond_statusf(req, 500, "InternalError", "out of memory");
}

/* ---- serviceaccounts/token -------------------------------------------------------------- */

void kl_token_request(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                      const kl_query_t *q)
{
    char key[600];
    kl_name_key(res, p->namespace, p->name, key, sizeof(key));
    kl_entry_t *e = kl_store_get(res->table, key);
    if (e == NULL) {
        kl_not_found(req, res, p->name);
        return;
    }
    kl_json_t *body = NULL;
    kl_errinfo_t err;
    if (req->entity.len &&
        kl_json_parse(req->entity.base, req->entity.len, NULL, &body, &err) < 0) {
        kl_respond_statusf(req, 400, "BadRequest",
                           "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: %s",
                           err.msg);
        return;
    }
    kl_json_t *spec = kl_json_get(body, "spec");
    const kl_json_t *es = kl_json_get(spec, "expirationSeconds");
    int64_t secs = es && es->type != KL_TNULL ? kl_json_int_or(es, 0) : 3600;
    kl_ferrs_t errs;
    kl_ferrs_init(&errs);
    if (secs < 600)
        kl_ferr_addf(&errs, KL_FERR_INVALID, "spec.expirationSeconds", NULL,
                     "may not specify a duration less than 10 minutes");
    else if (secs > ((int64_t)1 << 32))
        kl_ferr_addf(&errs, KL_FERR_INVALID, "spec.expirationSeconds", NULL,
                     "may not specify a duration larger than 2^32 seconds");
    const char *bk = kl_json_path_str(spec, "boundObjectRef", "kind", NULL);
    if (bk && strcmp(bk, "Pod") && strcmp(bk, "Secret") && strcmp(bk, "Node"))
        kl_ferr_add(&errs, KL_FERR_NOT_SUPPORTED, "spec.boundObjectRef.kind", NULL,
                    "\"Pod\", \"Node\", \"Secret\"");
    if (errs.n) {
        kl_res_t *tr = kl_registry_find(srv->reg, "authentication.k8s.io", "v1", "tokenreviews");
        (void)tr;
        kl_invalid(req, res, p->name, &errs);
        kl_ferrs_cleanup(&errs);
        kl_json_free(body);
        return;
    }
    kl_ferrs_cleanup(&errs);
    const char *uid = kl_val_path_str(kl_obj_root(e->obj->doc), "metadata", "uid", NULL);
    int64_t now = kl_time_now();
    kl_buf_t tok;
    kl_buf_init(&tok, 0);
    kl_json_t *out = kl_json_object(), *md = kl_json_object(), *ospec = kl_json_object();
    kl_json_t *st = kl_json_object();
    const kl_json_t *aud = kl_json_get(spec, "audiences");
    static const char *const iss[] = {KL_SATOKEN_ISSUER, NULL};
    char ts[40];
    kl_time_format_rfc3339(now + secs, ts);
    int rc = out && md && ospec && st ? 0 : KL_ENOMEM;
    if (rc == 0)
        rc = kl_satoken_issue(srv->tls.token, p->namespace, p->name, uid, aud, now, now + secs,
                              &tok);
    if (rc == 0)
        rc = kl_json_set_str(out, "kind", "TokenRequest");
    if (rc == 0)
        rc = kl_json_set_str(out, "apiVersion", "authentication.k8s.io/v1");
    if (rc == 0)
        rc = kl_json_set_str(md, "name", p->name);
    if (rc == 0)
        rc = kl_json_set_str(md, "namespace", p->namespace);
    if (rc == 0)
        rc = kl_json_set(md, "creationTimestamp", kl_json_null());
    if (rc == 0)
        rc = kl_json_set(ospec, "audiences",
                         kl_json_is(aud, KL_TARRAY) && aud->len ? kl_json_dup(aud) : strings(iss));
    if (rc == 0)
        rc = kl_json_set_int(ospec, "expirationSeconds", secs);
    if (rc == 0)
        rc = kl_json_set(ospec, "boundObjectRef",
                         kl_json_get(spec, "boundObjectRef")
                             ? kl_json_dup(kl_json_get(spec, "boundObjectRef"))
                             : kl_json_null());
    if (rc == 0)
        rc = kl_json_set_str(st, "token", tok.data ? tok.data : "");
    if (rc == 0)
        rc = kl_json_set_str(st, "expirationTimestamp", ts);
    if (rc == 0 && (rc = kl_json_set(out, "metadata", md)) == 0)
        md = NULL;
    if (rc == 0 && (rc = kl_json_set(out, "spec", ospec)) == 0)
        ospec = NULL;
    if (rc == 0 && (rc = kl_json_set(out, "status", st)) == 0)
        st = NULL;
    if (rc == 0)
        kl_send_json(req, 201, out);
    else
        kl_respond_statusf(req, 500, "InternalError", "issuing a token: %s", kl_strerror(rc));
    kl_buf_cleanup(&tok);
    kl_json_free(out);
    kl_json_free(md);
    kl_json_free(ospec);
    kl_json_free(st);
    kl_json_free(body);
    (void)q;
}

/* ---- PodDisruptionBudgets and evictions ------------------------------------------------- */

static bool pod_ready(kl_val_t pod)
{
    if (!kl_val_missing(kl_val_path(pod, "metadata", "deletionTimestamp", NULL)))
        return false;
    kl_val_t conds = kl_val_path(pod, "status", "conditions", NULL);
    for (uint32_t i = 0; i < kl_val_len(conds); i++) {
        kl_val_t c = kl_val_at(conds, i);
        const char *t = kl_val_path_str(c, "type", NULL), *s = kl_val_path_str(c, "status", NULL);
        if (t && strcmp(t, "Ready") == 0)
            return s && strcmp(s, "True") == 0;
    }
    return false;
}

static bool pod_terminal(kl_val_t pod)
{
    const char *ph = kl_val_path_str(pod, "status", "phase", NULL);
    return ph && (strcmp(ph, "Succeeded") == 0 || strcmp(ph, "Failed") == 0);
}

static kl_entry_t **in_namespace(kl_table_t *t, const char *ns, size_t *n)
{
    size_t all;
    kl_entry_t **e = kl_store_sorted(t, &all);
    size_t nl = strlen(ns), first = all;
    for (size_t i = 0; i < all; i++)
        if (strncmp(e[i]->name_key, ns, nl) == 0 && e[i]->name_key[nl] == '/') {
            first = i;
            break;
        }
    size_t last = first;
    while (last < all && strncmp(e[last]->name_key, ns, nl) == 0 && e[last]->name_key[nl] == '/')
        last++;
    *n = last - first;
    return e + first;
}

int kl_eviction_allowed(kl_apiserver_t *srv, h2o_req_t *req, kl_val_t pod)
{
    if (pod_terminal(pod) ||
        !kl_val_missing(kl_val_path(pod, "metadata", "deletionTimestamp", NULL)))
        return 0;
    kl_res_t *pdbs = kl_registry_find(srv->reg, "policy", "v1", "poddisruptionbudgets");
    kl_res_t *pods = kl_registry_find(srv->reg, "", "v1", "pods");
    const char *ns = kl_val_path_str(pod, "metadata", "namespace", NULL);
    if (pdbs == NULL || pods == NULL || ns == NULL)
        return 0;
    kl_val_t labels = kl_val_path(pod, "metadata", "labels", NULL);
    size_t n;
    kl_entry_t **list = in_namespace(pdbs->table, ns, &n);
    kl_val_t match = {0};
    kl_selector_t *sel = NULL;
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        kl_val_t b = kl_obj_root(list[i]->obj->doc);
        kl_selector_t *s = NULL;
        if (kl_selector_from_val(kl_val_path(b, "spec", "selector", NULL), true, &s, NULL) < 0)
            continue;
        if (kl_selector_matches(s, labels)) {
            found++;
            match = b;
            kl_selector_free(sel);
            sel = s;
        } else {
            kl_selector_free(s);
        }
    }
    if (found == 0)
        return 0;
    if (found > 1) {
        kl_selector_free(sel);
        kl_respond_statusf(req, 500, "InternalError",
                           "This pod has more than one PodDisruptionBudget, which the eviction "
                           "subresource does not support.");
        return -1;
    }
    /* The budget from the live pods, as the disruption controller computes it. */
    int64_t expected = 0, healthy = 0;
    kl_entry_t **pl = in_namespace(pods->table, ns, &n);
    for (size_t i = 0; i < n; i++) {
        kl_val_t po = kl_obj_root(pl[i]->obj->doc);
        if (pod_terminal(po) ||
            !kl_selector_matches(sel, kl_val_path(po, "metadata", "labels", NULL)))
            continue;
        expected++;
        healthy += pod_ready(po);
    }
    kl_selector_free(sel);
    kl_json_t *spec = kl_json_from_val(kl_val_get(match, "spec"));
    const char *why = NULL;
    int64_t desired = spec ? kl_pdb_desired_healthy(spec, expected, &why) : 0;
    const char *policy = kl_json_path_str(spec, "unhealthyPodEvictionPolicy", NULL);
    bool always = policy && strcmp(policy, "AlwaysAllow") == 0;
    kl_json_free(spec);
    bool ok = pod_ready(pod) ? healthy - desired > 0 : (always || healthy >= desired);
    if (desired < 0 || ok)
        return 0;
    const char *name = kl_val_path_str(match, "metadata", "name", NULL);
    char cause[700];
    kl_buf_t causes;
    kl_buf_init(&causes, 0);
    snprintf(cause, sizeof(cause),
             "The disruption budget %s needs %lld healthy pods and has %lld currently",
             name ? name : "", (long long)desired, (long long)healthy);
    if (kl_buf_puts(&causes, "[{\"reason\":\"DisruptionBudget\",\"message\":") == 0 &&
        kl_json_quote(&causes, cause, strlen(cause)) == 0 && kl_buf_puts(&causes, "}]") == 0)
        kl_respond_status(req, 429, "TooManyRequests",
                          "Cannot evict pod as it would violate the pod's disruption budget.", NULL,
                          NULL, NULL, causes.data);
    else
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
    kl_buf_cleanup(&causes);
    return -1;
}

/* ---- Objects every cluster starts with -------------------------------------------------- */

/* The "default" service account of a namespace, as the service account controller makes it. */
static int ensure_default_sa(kl_apiserver_t *srv, const char *ns)
{
    kl_res_t *sas = kl_registry_find(srv->reg, "", "v1", "serviceaccounts");
    char key[300];
    snprintf(key, sizeof(key), "%s/default", ns);
    if (sas == NULL || kl_store_get(sas->table, key))
        return 0;
    kl_json_t *obj = kl_json_object(), *md = kl_json_object();
    char uid[40], ts[40];
    kl_new_uid(uid);
    kl_now_rfc3339(ts);
    if (obj == NULL || md == NULL || kl_json_set_str(obj, "apiVersion", "v1") < 0 ||
        kl_json_set_str(obj, "kind", "ServiceAccount") < 0 ||
        kl_json_set_str(md, "name", "default") < 0 || kl_json_set_str(md, "namespace", ns) < 0 ||
        kl_json_set_str(md, "uid", uid) < 0 || kl_json_set_str(md, "creationTimestamp", ts) < 0 ||
        kl_json_set(obj, "metadata", md) < 0) {
        kl_json_free(obj);
        kl_json_free(md);
        return KL_ENOMEM;
    }
    kl_errinfo_t err;
    int rc = kl_persist(srv, sas, key, obj, NULL, &err);
    kl_json_free(obj);
    return rc;
}

void kl_res_after_write(kl_apiserver_t *srv, kl_res_t *res, const kl_sobj_t *stored)
{
    if (*res->group || strcmp(res->kind, "Namespace") != 0)
        return;
    kl_val_t ns = kl_obj_root(stored->doc);
    const char *name = kl_val_path_str(ns, "metadata", "name", NULL);
    const char *phase = kl_val_path_str(ns, "status", "phase", NULL);
    if (name && !(phase && strcmp(phase, "Terminating") == 0) &&
        kl_val_missing(kl_val_path(ns, "metadata", "deletionTimestamp", NULL)))
        kl_best_effort(ensure_default_sa(srv, name));
}

int kl_res_bootstrap(kl_apiserver_t *srv)
{
    static const struct {
        const char *name;
        int64_t value;
        const char *desc;
    } pcs[] = {
        {"system-node-critical", 2000001000,
         "For system-critical pods that must stay on their node."},
        {"system-cluster-critical", 2000000000,
         "For system-critical pods that must run, possibly moved to another node."},
    };
    kl_res_t *nss = kl_registry_find(srv->reg, "", "v1", "namespaces");
    size_t nn = 0;
    kl_entry_t **all = nss ? kl_store_sorted(nss->table, &nn) : NULL;
    char **names = nn ? calloc(nn, sizeof(*names)) : NULL;
    for (size_t i = 0; names && i < nn; i++)
        names[i] = strdup(all[i]->name_key);
    for (size_t i = 0; names && i < nn; i++) {
        int rc = names[i] ? ensure_default_sa(srv, names[i]) : KL_ENOMEM;
        if (rc < 0) {
            for (size_t j = 0; j < nn; j++)
                free(names[j]);
            free(names);
            return rc;
        }
    }
    for (size_t i = 0; names && i < nn; i++)
        free(names[i]);
    free(names);
    kl_res_t *pc = kl_registry_find(srv->reg, "scheduling.k8s.io", "v1", "priorityclasses");
    if (pc == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(pcs) / sizeof(pcs[0]); i++) {
        if (kl_store_get(pc->table, pcs[i].name))
            continue;
        kl_json_t *obj = kl_json_object(), *md = kl_json_object();
        char uid[40], ts[40];
        kl_new_uid(uid);
        kl_now_rfc3339(ts);
        if (obj == NULL || md == NULL ||
            kl_json_set_str(obj, "apiVersion", "scheduling.k8s.io/v1") < 0 ||
            kl_json_set_str(obj, "kind", "PriorityClass") < 0 ||
            kl_json_set_str(md, "name", pcs[i].name) < 0 || kl_json_set_str(md, "uid", uid) < 0 ||
            kl_json_set_str(md, "creationTimestamp", ts) < 0 ||
            kl_json_set(obj, "metadata", md) < 0) {
            kl_json_free(obj);
            kl_json_free(md);
            return KL_ENOMEM;
        }
        md = NULL;
        if (kl_json_set_int(obj, "value", pcs[i].value) < 0 ||
            kl_json_set_str(obj, "description", pcs[i].desc) < 0 ||
            kl_json_set_str(obj, "preemptionPolicy", "PreemptLowerPriority") < 0) {
            kl_json_free(obj);
            return KL_ENOMEM;
        }
        kl_errinfo_t err;
        int rc = kl_persist(srv, pc, pcs[i].name, obj, NULL, &err);
        kl_json_free(obj);
        if (rc < 0)
            return rc;
    }
    return 0;
}
