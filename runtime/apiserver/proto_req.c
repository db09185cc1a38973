/* Protobuf request bodies: converted to JSON before any handler reads the body (proto.h). */
#include "apiserver/proto_req.h"

#include <string.h>

#include "apiserver/handlers_int.h"
#include "apiserver/proto.h"

static bool method_is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

static bool is_protobuf(const char *ct, size_t len)
{
    static const char want[] = "application/vnd.kubernetes.protobuf";
    size_t n = sizeof(want) - 1;
    return ct && len >= n && strncasecmp(ct, want, n) == 0 &&
           (len == n || ct[n] == ';' || ct[n] == ' ');
}

/* The type a body sent to this endpoint has when its typeMeta is empty. */
static void endpoint_type(h2o_req_t *req, const kl_res_t *res, const kl_path_t *p, const char **av,
                          const char **kind)
{
    *av = res->api_version;
    *kind = res->kind;
    if (method_is(req, "DELETE")) {
        *kind = "DeleteOptions";
    } else if (p->sub == NULL) {
        return;
    } else if (strcmp(p->sub, "scale") == 0) {
        *av = "autoscaling/v1";
        *kind = "Scale";
    } else if (strcmp(p->sub, "eviction") == 0) {
        *av = "policy/v1";
        *kind = "Eviction";
    } else if (strcmp(p->sub, "binding") == 0) {
        *av = "v1";
        *kind = "Binding";
    } else if (strcmp(p->sub, "token") == 0) {
        *av = "authentication.k8s.io/v1";
        *kind = "TokenRequest";
    }
}

int kl_proto_request(h2o_req_t *req, const kl_res_t *res, const kl_path_t *p)
{
    if (!method_is(req, "POST") && !method_is(req, "PUT") && !method_is(req, "DELETE"))
        return 0; /* PATCH bodies are patches: the patch handler refuses protobuf (415) */
    size_t ctl = 0;
    const char *ct = kl_req_header(req, "content-type", &ctl);
    if (!is_protobuf(ct, ctl) || req->entity.len == 0)
        return 0;
    if (req->entity.len > KL_MAX_BODY) {
        kl_respond_statusf(req, 413, "RequestEntityTooLarge",
                           "Request entity too large: limit is %zu", KL_MAX_BODY);
        return -1;
    }
    if (res->is_crd) {
        /* Custom resources have no protobuf form, as upstream. */
        kl_respond_status(req, 415, "UnsupportedMediaType",
                          "the body of the request was in an unknown format - accepted media "
                          "types include: application/json, application/yaml",
                          NULL, NULL, NULL, NULL);
        return -1;
    }
    const char *av, *kind;
    endpoint_type(req, res, p, &av, &kind);
    const char *version = strchr(av, '/') ? strchr(av, '/') + 1 : av;
    kl_buf_t json;
    kl_buf_init(&json, KL_MAX_BODY);
    kl_errinfo_t err;
    int rc = kl_proto_to_json(req->entity.base, req->entity.len, av, kind, &json, NULL, &err);
    if (rc == KL_ETOOBIG) {
        kl_respond_statusf(req, 413, "RequestEntityTooLarge",
                           "Request entity too large: limit is %zu (%s)", KL_MAX_BODY, err.msg);
    } else if (rc == KL_ENOMEM) {
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
    } else if (rc < 0) {
        kl_respond_statusf(req, 400, "BadRequest",
                           "%s in version \"%s\" cannot be handled as a %s: %s", kind, version,
                           kind, err.msg);
    } else {
        char *copy = h2o_mem_alloc_pool(&req->pool, json.len + 1);
        memcpy(copy, json.data, json.len + 1);
        req->entity = h2o_iovec_init(copy, json.len);
    }
    kl_buf_cleanup(&json);
    return rc < 0 ? -1 : 0;
}
