/* Subresources: pods/binding, pods/eviction, pods/log, the scale subresource, namespaces/finalize;
 * and the CustomResourceDefinition hook that starts serving new resources. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/ktime.h"
#include "kubelua/log.h"
#include "kubelua/patch.h"

#include "apiserver/handlers_int.h"
#include "apiserver/managed_req.h"
#include "apiserver/strategy.h"

static bool method_is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

static void respond_success(h2o_req_t *req, int code)
{
    char body[128];
    int n = snprintf(body, sizeof(body),
                     "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
                     "\"Success\",\"code\":%d}",
                     code);
    kl_respond_bytes(req, code, "application/json", body, (size_t)n);
}

static kl_entry_t *find_entry(kl_res_t *res, const kl_path_t *p)
{
    char key[600];
    kl_name_key(res, p->namespace, p->name, key, sizeof(key));
    return kl_store_get(res->table, key);
}

/* ---- Binding ---------------------------------------------------------------------------- */

static void bind_pod(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *pods, const char *ns,
                     const char *pod_name, const kl_json_t *binding)
{
    const char *node = kl_json_path_str(binding, "target", "name", NULL);
    if (node == NULL || !*node) {
        kl_ferrs_t errs;
        kl_ferrs_init(&errs);
        kl_ferr_add(&errs, KL_FERR_REQUIRED, "target.name", NULL, NULL);
        kl_invalid(req, pods, pod_name, &errs);
        kl_ferrs_cleanup(&errs);
        return;
    }
    char key[600];
    snprintf(key, sizeof(key), "%s/%s", ns, pod_name);
    kl_entry_t *e = kl_store_get(pods->table, key);
    if (e == NULL) {
        kl_not_found(req, pods, pod_name);
        return;
    }
    kl_json_t *pod = kl_json_from_val(kl_obj_root(e->obj->doc));
    if (pod == NULL) {
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
        return;
    }
    const char *cur = kl_json_path_str(pod, "spec", "nodeName", NULL);
    if (kl_json_path(pod, "metadata", "deletionTimestamp", NULL)) {
        kl_respond_statusf(req, 409, "Conflict",
                           "pod %s is being deleted, cannot be assigned to a host", pod_name);
        kl_json_free(pod);
        return;
    }
    if (cur && *cur) {
        kl_respond_statusf(req, 409, "Conflict", "pod %s is already assigned to node \"%s\"",
                           pod_name, cur);
        kl_json_free(pod);
        return;
    }
    kl_json_t *spec = kl_json_ensure_object(pod, "spec");
    kl_json_t *status = kl_json_ensure_object(pod, "status");
    kl_json_t *conds = status ? kl_json_ensure_array(status, "conditions") : NULL;
    char ts[40];
    kl_now_rfc3339(ts);
    kl_json_t *c = kl_json_object();
    int rc = spec && conds && c ? 0 : KL_ENOMEM;
    if (rc == 0)
        rc = kl_json_set_str(spec, "nodeName", node);
    for (uint32_t i = 0; rc == 0 && i < conds->len; i++) {
        const char *t = kl_json_path_str(kl_json_at(conds, i), "type", NULL);
        if (t && strcmp(t, "PodScheduled") == 0) {
            kl_json_free(kl_json_take_at(conds, i));
            break;
        }
    }
    if (rc == 0 && (kl_json_set_str(c, "type", "PodScheduled") < 0 ||
                    kl_json_set_str(c, "status", "True") < 0 ||
                    kl_json_set(c, "lastProbeTime", kl_json_null()) < 0 ||
                    kl_json_set_str(c, "lastTransitionTime", ts) < 0))
        rc = KL_ENOMEM;
    if (rc == 0) {
        rc = kl_json_append(conds, c);
        c = NULL;
    }
    kl_json_free(c);
    kl_errinfo_t err;
    if (rc == 0)
        rc = kl_persist(srv, pods, key, pod, NULL, &err);
    kl_json_free(pod);
    if (rc < 0) {
        kl_respond_statusf(req, 500, "InternalError", "binding failed: %s", kl_strerror(rc));
        return;
    }
    respond_success(req, 201);
}

void kl_binding_create(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                       const kl_query_t *q)
{
    kl_json_t *b;
    if (kl_decode_body(req, res, &b, KL_FIELDVAL_IGNORE) < 0)
        return;
    const char *name = kl_json_path_str(b, "metadata", "name", NULL);
    kl_res_t *pods = kl_registry_find(srv->reg, "", "v1", "pods");
    if (name == NULL || pods == NULL) {
        kl_respond_statusf(req, 400, "BadRequest", "a binding needs metadata.name");
    } else {
        bind_pod(srv, req, pods, p->namespace ? p->namespace : "default", name, b);
    }
    kl_json_free(b);
}

/* ---- Eviction --------------------------------------------------------------------------- */

static void evict(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *pods, const kl_path_t *p)
{
    kl_json_t *body = NULL;
    if (req->entity.len &&
        kl_json_parse(req->entity.base, req->entity.len, NULL, &body, NULL) < 0) {
        kl_respond_statusf(req, 400, "BadRequest", "invalid Eviction in the request body");
        return;
    }
    kl_entry_t *e = find_entry(pods, p);
    if (e == NULL) {
        kl_json_free(body);
        kl_not_found(req, pods, p->name);
        return;
    }
    const kl_json_t *g = kl_json_path(body, "deleteOptions", "gracePeriodSeconds", NULL);
    int64_t grace = g && g->type != KL_TNULL ? kl_json_int_or(g, -1) : -1;
    kl_json_free(body);
    if (kl_eviction_allowed(srv, req, kl_obj_root(e->obj->doc)) < 0)
        return;
    kl_json_t *result = NULL;
    kl_errinfo_t err;
    if (kl_delete_entry(srv, pods, e, KL_GC_BACKGROUND, 1, grace, 0, &result, &err) < 0) {
        kl_respond_statusf(req, 500, "InternalError", "%s", err.msg);
        return;
    }
    kl_json_free(result);
    respond_success(req, 201);
}

/* ---- Logs ------------------------------------------------------------------------------- */

static void pod_log(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *pods, const kl_path_t *p,
                    const kl_query_t *q)
{
    kl_entry_t *e = find_entry(pods, p);
    if (e == NULL) {
        char msg[600];
        snprintf(msg, sizeof(msg), "pods \"%s\" not found", p->name);
        kl_respond_status(req, 404, "NotFound", msg, p->name, "", "pods", NULL);
        return;
    }
    kl_val_t pod = kl_obj_root(e->obj->doc);
    kl_val_t containers = kl_val_path(pod, "spec", "containers", NULL);
    kl_val_t inits = kl_val_path(pod, "spec", "initContainers", NULL);
    const char *container = kl_query_get(q, "container");
    if (container == NULL || !*container) {
        const char *def = kl_val_path_str(pod, "metadata", "annotations",
                                          "kubectl.kubernetes.io/default-container", NULL);
        if (def)
            container = def;
        else if (kl_val_len(containers) == 1)
            container = kl_val_path_str(kl_val_at(containers, 0), "name", NULL);
        else {
            kl_buf_t names;
            kl_buf_init(&names, 4096);
            for (uint32_t i = 0; i < kl_val_len(containers); i++) {
                const char *n = kl_val_path_str(kl_val_at(containers, i), "name", NULL);
                kl_best_effort(kl_buf_printf(&names, "%s%s", i ? " " : "", n ? n : ""));
            }
            kl_respond_statusf(req, 400, "BadRequest",
                               "a container name must be specified for pod %s, choose one of: [%s]",
                               p->name, names.data ? names.data : "");
            kl_buf_cleanup(&names);
            return;
        }
    }
    bool known = false;
    for (uint32_t i = 0; i < kl_val_len(containers) && !known; i++) {
        const char *n = kl_val_path_str(kl_val_at(containers, i), "name", NULL);
        known = n && container && strcmp(n, container) == 0;
    }
    for (uint32_t i = 0; i < kl_val_len(inits) && !known; i++) {
        const char *n = kl_val_path_str(kl_val_at(inits, i), "name", NULL);
        known = n && container && strcmp(n, container) == 0;
    }
    if (!known) {
        kl_respond_statusf(req, 400, "BadRequest", "container %s is not valid for pod %s",
                           container ? container : "", p->name);
        return;
    }
    const char *v;
    kl_log_request_t lr = {
        .namespace = p->namespace,
        .pod = p->name,
        .uid = kl_val_path_str(pod, "metadata", "uid", NULL),
        .container = container,
        .previous = kl_query_bool(q, "previous"),
        .tail_lines = (v = kl_query_get(q, "tailLines")) ? strtoll(v, NULL, 10) : -1,
        .limit_bytes = (v = kl_query_get(q, "limitBytes")) ? strtoll(v, NULL, 10) : -1,
        .since_seconds = (v = kl_query_get(q, "sinceSeconds")) ? strtoll(v, NULL, 10) : -1,
        .timestamps = kl_query_bool(q, "timestamps"),
    };
    char *data = NULL;
    size_t len = 0;
    int rc;
    if (kl_query_bool(q, "follow") && !lr.previous && srv->follow.start)
        rc = kl_logstream_start(srv, req, &lr);
    else
        rc = srv->log_fn ? srv->log_fn(&lr, &data, &len, srv->log_data) : KL_ENOTFOUND;
    if (rc == 0 && data == NULL && kl_query_bool(q, "follow") && !lr.previous && srv->follow.start)
        return; /* streaming */
    if (rc < 0) {
        const char *node = kl_val_path_str(pod, "spec", "nodeName", NULL);
        if (lr.previous)
            kl_respond_statusf(req, 400, "BadRequest",
                               "previous terminated container \"%s\" in pod \"%s\" not found",
                               container, p->name);
        else if (node == NULL)
            kl_respond_statusf(req, 400, "BadRequest",
                               "container \"%s\" in pod \"%s\" is waiting to start: "
                               "ContainerCreating",
                               container, p->name);
        else
            kl_respond_statusf(req, 400, "BadRequest",
                               "container \"%s\" in pod \"%s\" has no log yet", container, p->name);
        return;
    }
    kl_buf_t b = {.data = data, .len = len, .cap = len, .max = len};
    if (data == NULL)
        kl_buf_init(&b, 0);
    kl_respond(req, 200, "text/plain", &b);
}

/* ---- Scale ------------------------------------------------------------------------------ */

static kl_json_t *scale_of(const kl_res_t *res, kl_val_t obj)
{
    kl_json_t *s = kl_json_object();
    kl_json_t *md = kl_json_object();
    kl_json_t *spec = kl_json_object();
    kl_json_t *status = kl_json_object();
    if (!s || !md || !spec || !status) {
        kl_json_free(s);
        kl_json_free(md);
        kl_json_free(spec);
        kl_json_free(status);
        return NULL;
    }
    kl_val_t omd = kl_val_get(obj, "metadata");
    const char *keys[] = {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"};
    int rc = 0;
    for (size_t i = 0; i < 5; i++) {
        const char *v = kl_val_path_str(omd, keys[i], NULL);
        if (v && rc == 0)
            rc = kl_json_set_str(md, keys[i], v);
    }
    if (rc == 0)
        rc = kl_json_set_int(spec, "replicas",
                             kl_val_int(kl_val_path(obj, "spec", "replicas", NULL)));
    if (rc == 0)
        rc = kl_json_set_int(status, "replicas",
                             kl_val_int(kl_val_path(obj, "status", "replicas", NULL)));
    /* status.selector is the label selector in its string form. */
    kl_val_t sel = kl_val_path(obj, "spec", "selector", NULL);
    kl_selector_t *ls = NULL;
    if (rc == 0 && kl_selector_from_val(sel, false, &ls, NULL) == 0) {
        kl_buf_t b;
        kl_buf_init(&b, 0);
        if (kl_selector_format(ls, &b) == 0)
            rc = kl_json_set_str(status, "selector", b.data ? b.data : "");
        kl_buf_cleanup(&b);
        kl_selector_free(ls);
    }
    if (rc == 0)
        rc = kl_json_set_str(s, "kind", "Scale");
    if (rc == 0)
        rc = kl_json_set_str(s, "apiVersion", "autoscaling/v1");
    if (rc == 0) {
        rc = kl_json_set(s, "metadata", md);
        md = NULL;
    }
    if (rc == 0) {
        rc = kl_json_set(s, "spec", spec);
        spec = NULL;
    }
    if (rc == 0) {
        rc = kl_json_set(s, "status", status);
        status = NULL;
    }
    kl_json_free(md);
    kl_json_free(spec);
    kl_json_free(status);
    if (rc < 0) {
        kl_json_free(s);
        return NULL;
    }
    return s;
}

static void scale(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                  const kl_query_t *q)
{
    kl_entry_t *e = find_entry(res, p);
    if (e == NULL) {
        kl_not_found(req, res, p->name);
        return;
    }
    kl_json_t *cur = scale_of(res, kl_obj_root(e->obj->doc));
    if (cur == NULL) {
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
        return;
    }
    if (method_is(req, "GET")) {
        kl_send_json(req, 200, cur);
        kl_json_free(cur);
        return;
    }
    kl_json_t *want = NULL;
    kl_errinfo_t err;
    int rc;
    if (method_is(req, "PUT")) {
        rc = kl_json_parse(req->entity.base, req->entity.len, NULL, &want, &err);
        kl_json_free(cur);
    } else if (method_is(req, "PATCH")) {
        kl_json_t *patch;
        rc = kl_json_parse(req->entity.base, req->entity.len, NULL, &patch, &err);
        if (rc == 0) {
            size_t ctl = 0;
            const char *ct = kl_req_header(req, "content-type", &ctl);
            if (ct && ctl >= 27 && strncmp(ct, "application/json-patch+json", 27) == 0)
                rc = kl_patch_json(&cur, patch, &err);
            else
                rc = kl_patch_merge(&cur, patch, &err);
            kl_json_free(patch);
        }
        want = cur;
    } else {
        kl_json_free(cur);
        kl_respond_statusf(req, 405, "MethodNotAllowed", "method not allowed on scale");
        return;
    }
    if (rc < 0) {
        kl_json_free(want);
        kl_respond_statusf(req, 400, "BadRequest", "%s", err.msg);
        return;
    }
    const char *rv = kl_json_path_str(want, "metadata", "resourceVersion", NULL);
    char currv[24];
    snprintf(currv, sizeof(currv), "%lld", (long long)e->obj->rv);
    if (rv && *rv && strcmp(rv, currv) != 0) {
        kl_json_free(want);
        kl_conflict(req, res, p->name);
        return;
    }
    const kl_json_t *r = kl_json_path(want, "spec", "replicas", NULL);
    /* Scale.spec.replicas is a Go int32 with omitempty: absent or null is 0, which is what
     * clients send for 0 (kubectl scale --current-replicas=N --replicas=0). */
    int64_t replicas = r == NULL || r->type == KL_TNULL ? 0 : kl_json_int_or(r, -1);
    kl_json_free(want);
    if (replicas < 0) {
        kl_ferrs_t errs;
        kl_ferrs_init(&errs);
        kl_ferr_add(&errs, KL_FERR_INVALID, "spec.replicas", r ? "-1" : "null",
                    "must be greater than or equal to 0");
        kl_invalid(req, res, p->name, &errs);
        kl_ferrs_cleanup(&errs);
        return;
    }
    kl_json_t *obj = kl_json_from_val(kl_obj_root(e->obj->doc));
    kl_json_t *spec = obj ? kl_json_ensure_object(obj, "spec") : NULL;
    if (spec == NULL) {
        kl_json_free(obj);
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
        return;
    }
    kl_sobj_t *stored = e->obj;
    if (kl_json_int_or(kl_json_get(spec, "replicas"), -1) != replicas) {
        kl_best_effort(kl_json_set_int(spec, "replicas", replicas));
        kl_json_t *md = kl_json_get(obj, "metadata");
        kl_best_effort(kl_json_set_int(md, "generation",
                                       kl_json_int_or(kl_json_get(md, "generation"), 1) + 1));
        if (kl_mf_record_scale(req, q, res, obj) < 0) {
            kl_json_free(obj);
            kl_respond_statusf(req, 500, "InternalError", "out of memory");
            return;
        }
        char key[600];
        snprintf(key, sizeof(key), "%s", e->name_key);
        if (kl_persist(srv, res, key, obj, &stored, &err) < 0) {
            kl_json_free(obj);
            kl_respond_statusf(req, 500, "InternalError", "%s", err.msg);
            return;
        }
    }
    kl_json_free(obj);
    kl_json_t *s = scale_of(res, kl_obj_root(stored->doc));
    if (s == NULL) {
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
        return;
    }
    kl_send_json(req, 200, s);
    kl_json_free(s);
}

/* ---- Namespace finalize ----------------------------------------------------------------- */

static void ns_finalize(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                        const kl_query_t *q)
{
    kl_entry_t *e = find_entry(res, p);
    if (e == NULL) {
        kl_not_found(req, res, p->name);
        return;
    }
    kl_json_t *body;
    if (kl_decode_body(req, res, &body, KL_FIELDVAL_IGNORE) < 0)
        return;
    kl_json_t *obj = kl_json_from_val(kl_obj_root(e->obj->doc));
    kl_json_t *spec = obj ? kl_json_ensure_object(obj, "spec") : NULL;
    const kl_json_t *fins = kl_json_path(body, "spec", "finalizers", NULL);
    if (spec) {
        kl_json_del(spec, "finalizers");
        if (fins)
            kl_best_effort(kl_json_set(spec, "finalizers", kl_json_dup(fins)));
    }
    kl_json_free(body);
    if (obj == NULL) {
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
        return;
    }
    kl_do_update(srv, req, res, e, obj, NULL, q);
}

bool kl_subresource(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                    const kl_query_t *q)
{
    const char *sub = p->sub;
    if (strcmp(sub, "binding") == 0 && (res->subresources & KL_SUB_BINDING)) {
        if (!method_is(req, "POST"))
            return false;
        kl_json_t *b;
        if (kl_decode_body(req, res, &b, KL_FIELDVAL_IGNORE) < 0)
            return true;
        bind_pod(srv, req, res, p->namespace, p->name, b);
        kl_json_free(b);
        return true;
    }
    if (strcmp(sub, "eviction") == 0 && (res->subresources & KL_SUB_EVICTION)) {
        if (!method_is(req, "POST"))
            return false;
        evict(srv, req, res, p);
        return true;
    }
    if (strcmp(sub, "log") == 0 && (res->subresources & KL_SUB_LOG)) {
        if (!method_is(req, "GET"))
            return false;
        pod_log(srv, req, res, p, q);
        return true;
    }
    if (strcmp(sub, "scale") == 0 && (res->subresources & KL_SUB_SCALE)) {
        scale(srv, req, res, p, q);
        return true;
    }
    if (strcmp(sub, "token") == 0 && (res->subresources & KL_SUB_TOKEN)) {
        if (!method_is(req, "POST"))
            return false;
        kl_token_request(srv, req, res, p, q);
        return true;
    }
    if (strcmp(sub, "finalize") == 0 && (res->subresources & KL_SUB_FINALIZE)) {
        if (!method_is(req, "PUT"))
            return false;
        ns_finalize(srv, req, res, p, q);
        return true;
    }
    return false;
}

/* ---- Hooks after writes ----------------------------------------------------------------- */

static int set_condition(kl_json_t *conds, const char *type, const char *reason,
                         const char *message, const char *ts)
{
    for (uint32_t i = 0; i < conds->len; i++) {
        const char *t = kl_json_path_str(kl_json_at(conds, i), "type", NULL);
        if (t && strcmp(t, type) == 0)
            return 0;
    }
    kl_json_t *c = kl_json_object();
    if (c == NULL || kl_json_set_str(c, "type", type) < 0 ||
        kl_json_set_str(c, "status", "True") < 0 ||
        kl_json_set_str(c, "lastTransitionTime", ts) < 0 ||
        kl_json_set_str(c, "reason", reason) < 0 || kl_json_set_str(c, "message", message) < 0) {
        kl_json_free(c);
        return KL_ENOMEM;
    }
    return kl_json_append(conds, c);
}

void kl_after_write(kl_apiserver_t *srv, kl_res_t *res, const kl_sobj_t *stored)
{
    kl_res_after_write(srv, res, stored);
    if (strcmp(res->group, "apiextensions.k8s.io") != 0 ||
        strcmp(res->kind, "CustomResourceDefinition") != 0)
        return;
    kl_json_t *crd = kl_json_from_val(kl_obj_root(stored->doc));
    if (crd == NULL)
        return;
    kl_errinfo_t err;
    if (kl_json_path(crd, "metadata", "deletionTimestamp", NULL) == NULL &&
        kl_registry_apply_crd(srv->reg, crd, &err) < 0) {
        KL_WARN("apiserver", "cannot serve CRD: %s", err.msg);
        kl_json_free(crd);
        return;
    }
    kl_json_t *status = kl_json_ensure_object(crd, "status");
    kl_json_t *conds = status ? kl_json_ensure_array(status, "conditions") : NULL;
    kl_json_t *names = kl_json_path(crd, "spec", "names", NULL);
    char ts[40];
    kl_now_rfc3339(ts);
    uint32_t before = conds ? conds->len : 0;
    if (conds && names && kl_json_get(status, "acceptedNames") == NULL)
        kl_best_effort(kl_json_set(status, "acceptedNames", kl_json_dup(names)));
    if (conds) {
        set_condition(conds, "NamesAccepted", "NoConflicts", "no conflicts found", ts);
        set_condition(conds, "Established", "InitialNamesAccepted",
                      "the initial names have been accepted", ts);
    }
    if (conds && conds->len != before) {
        kl_json_t *sv = kl_json_ensure_array(status, "storedVersions");
        const kl_json_t *versions = kl_json_path(crd, "spec", "versions", NULL);
        for (uint32_t i = 0;
             sv && sv->len == 0 && kl_json_is(versions, KL_TARRAY) && i < versions->len; i++)
            if (kl_json_bool_or(kl_json_get(kl_json_at(versions, i), "storage"), false))
                kl_best_effort(kl_json_append(
                    sv, kl_json_string(kl_json_path_str(kl_json_at(versions, i), "name", NULL))));
        const char *name = kl_json_path_str(crd, "metadata", "name", NULL);
        if (name && kl_persist(srv, res, name, crd, NULL, &err) < 0)
            KL_WARN("apiserver", "cannot update CRD status: %s", err.msg);
    }
    kl_json_free(crd);
}
