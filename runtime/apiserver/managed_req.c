/* managedFields for the REST handlers (see managed_req.h). */
#include "apiserver/managed_req.h"

#include <string.h>
#include <strings.h>

#include "apiserver/handlers_int.h"
#include "apiserver/managed.h"

#define MAX_MANAGER 128

bool kl_mf_is_apply(h2o_req_t *req)
{
    static const char apply[] = "application/apply-patch+yaml";
    size_t len = 0;
    const char *ct = kl_req_header(req, "content-type", &len);
    return ct != NULL && req->method.len == 5 && memcmp(req->method.base, "PATCH", 5) == 0 &&
           len >= sizeof(apply) - 1 && strncasecmp(ct, apply, sizeof(apply) - 1) == 0;
}

/* The operation of req; manager and now are the caller's buffers. */
static void op_for(kl_mf_op_t *op, h2o_req_t *req, const kl_query_t *q, const kl_res_t *res,
                   const char *sub, char *manager, char *now)
{
    const char *fm = kl_query_get(q, "fieldManager");
    if (fm != NULL && *fm) {
        size_t n = strlen(fm);
        if (n > MAX_MANAGER)
            n = MAX_MANAGER;
        memcpy(manager, fm, n);
        manager[n] = '\0';
    } else {
        size_t len = 0;
        const char *ua = kl_req_header(req, "user-agent", &len);
        kl_mf_default_manager(ua, ua ? len : 0, manager, MAX_MANAGER + 1);
    }
    kl_now_rfc3339(now);
    bool status = sub != NULL && strcmp(sub, "status") == 0;
    /* Objects reach here in their stored form: a version of another shape (autoscaling/v1
     * HorizontalPodAutoscalers) has been converted, so its fields are tracked as the stored
     * version's, under that version. */
    const kl_res_t *shape = res->convert ? res->primary : res;
    *op = (kl_mf_op_t){
        .manager = manager,
        .api_version = shape->api_version,
        .subresource = sub,
        .type = shape->schema,
        .scope = status            ? KL_MF_STATUS_ONLY
                 : res->has_status ? KL_MF_NO_STATUS
                                   : KL_MF_ALL,
        .now = now,
    };
}

int kl_mf_record(h2o_req_t *req, const kl_query_t *q, const kl_res_t *res, const char *sub,
                 const kl_json_t *old, kl_json_t *next)
{
    if (kl_mf_is_apply(req))
        return 0;
    char manager[MAX_MANAGER + 1], now[40];
    kl_mf_op_t op;
    op_for(&op, req, q, res, sub, manager, now);
    kl_errinfo_t err;
    return kl_mf_update(&op, old, next, &err);
}

int kl_mf_apply_request(h2o_req_t *req, const kl_query_t *q, const kl_res_t *res, const char *sub,
                        const kl_json_t *live, const kl_json_t *config, kl_json_t **out,
                        kl_errinfo_t *err)
{
    char manager[MAX_MANAGER + 1], now[40];
    kl_mf_op_t op;
    op_for(&op, req, q, res, sub, manager, now);
    const char *force = kl_query_get(q, "force");
    kl_mf_conflicts_t c;
    int rc =
        kl_mf_apply(&op, live, config, force != NULL && strcmp(force, "true") == 0, out, &c, err);
    if (rc == KL_ECONFLICT) {
        kl_respond_status(req, 409, "Conflict", c.message, NULL, NULL, NULL, c.causes);
        kl_mf_conflicts_cleanup(&c);
    }
    return rc;
}

int kl_mf_record_scale(h2o_req_t *req, const kl_query_t *q, const kl_res_t *res, kl_json_t *obj)
{
    char manager[MAX_MANAGER + 1], now[40];
    kl_mf_op_t op;
    op_for(&op, req, q, res, "scale", manager, now);
    kl_errinfo_t err;
    return kl_mf_scale(&op, obj, &err);
}
