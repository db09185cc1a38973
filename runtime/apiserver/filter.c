/* List and watch filters: namespace, label selector and field selector, with the field labels
 * each kind supports (as kube-apiserver's per-kind GetAttrs). */
#include <stdio.h>
#include <string.h>

#include "apiserver/server_int.h"

typedef struct field_ctx {
    const kl_res_t *res;
    kl_val_t root;
    char tmp[32];
} field_ctx_t;

static const char *const pod_fields[] = {"spec.nodeName",
                                         "spec.restartPolicy",
                                         "spec.schedulerName",
                                         "spec.serviceAccountName",
                                         "spec.hostNetwork",
                                         "status.phase",
                                         "status.podIP",
                                         "status.podIPs",
                                         "status.nominatedNodeName",
                                         NULL};
static const char *const event_fields[] = {"involvedObject.kind",
                                           "involvedObject.namespace",
                                           "involvedObject.name",
                                           "involvedObject.uid",
                                           "involvedObject.apiVersion",
                                           "involvedObject.resourceVersion",
                                           "involvedObject.fieldPath",
                                           "reason",
                                           "reportingComponent",
                                           "source",
                                           "type",
                                           NULL};
static const char *const eventsv1_fields[] = {"regarding.kind",
                                              "regarding.namespace",
                                              "regarding.name",
                                              "regarding.uid",
                                              "regarding.apiVersion",
                                              "regarding.resourceVersion",
                                              "regarding.fieldPath",
                                              "reason",
                                              "reportingController",
                                              "type",
                                              NULL};
static const char *const node_fields[] = {"spec.unschedulable", NULL};
static const char *const ns_fields[] = {"status.phase", NULL};
static const char *const secret_fields[] = {"type", NULL};
static const char *const job_fields[] = {"status.successful", NULL};
static const char *const rs_fields[] = {"status.replicas", NULL};

static const char *const *kind_fields(const kl_res_t *res)
{
    const char *g = res->group, *k = res->kind;
    if (!*g && !strcmp(k, "Pod"))
        return pod_fields;
    if (!*g && !strcmp(k, "Event"))
        return event_fields;
    if (!strcmp(g, "events.k8s.io") && !strcmp(k, "Event"))
        return eventsv1_fields;
    if (!*g && !strcmp(k, "Node"))
        return node_fields;
    if (!*g && !strcmp(k, "Namespace"))
        return ns_fields;
    if (!*g && !strcmp(k, "Secret"))
        return secret_fields;
    if (!strcmp(g, "batch") && !strcmp(k, "Job"))
        return job_fields;
    if (!strcmp(g, "apps") && !strcmp(k, "ReplicaSet"))
        return rs_fields;
    return NULL;
}

static bool field_known(const kl_res_t *res, const char *field)
{
    if (!strcmp(field, "metadata.name") || !strcmp(field, "metadata.namespace"))
        return true;
    const char *const *fields = kind_fields(res);
    for (size_t i = 0; fields && fields[i]; i++)
        if (!strcmp(fields[i], field))
            return true;
    return false;
}

static const char *get_field(const char *field, bool *known, void *ud)
{
    field_ctx_t *c = ud;
    *known = field_known(c->res, field);
    if (!*known)
        return NULL;
    if (!strcmp(field, "status.podIPs"))
        field = "status.podIP";
    if (!strcmp(field, "source")) {
        kl_val_t v = kl_val_path(c->root, "source", "component", NULL);
        return kl_val_str(v, NULL);
    }
    const char *text = kl_val_scalar_text(kl_val_dotted(c->root, field), c->tmp);
    if (text == NULL &&
        (!strcmp(field, "spec.hostNetwork") || !strcmp(field, "spec.unschedulable")))
        return "false";
    return text;
}

int kl_filter_init(kl_filter_t *f, const kl_res_t *res, const char *ns, const kl_query_t *q,
                   kl_errinfo_t *err)
{
    memset(f, 0, sizeof(*f));
    f->namespace = ns;
    const char *ls = kl_query_get(q, "labelSelector");
    if (ls && *ls) {
        int rc = kl_selector_parse(ls, &f->labels, err);
        if (rc < 0)
            return rc;
    }
    const char *fs = kl_query_get(q, "fieldSelector");
    if (fs && *fs) {
        int rc = kl_fieldsel_parse(fs, &f->fields, err);
        if (rc < 0) {
            kl_filter_cleanup(f);
            return rc;
        }
        for (size_t i = 0; i < kl_fieldsel_count(f->fields); i++) {
            const char *field, *value;
            bool neg;
            kl_fieldsel_term(f->fields, i, &field, &neg, &value);
            if (!field_known(res, field)) {
                int frc = kl_err(err, KL_EINVAL, "field label not supported: %s", field);
                kl_filter_cleanup(f);
                return frc;
            }
        }
    }
    return 0;
}

void kl_filter_cleanup(kl_filter_t *f)
{
    kl_selector_free(f->labels);
    kl_fieldsel_free(f->fields);
    f->labels = NULL;
    f->fields = NULL;
}

bool kl_filter_match(const kl_res_t *res, const kl_filter_t *f, const kl_obj_t *doc)
{
    kl_val_t root = kl_obj_root(doc);
    kl_val_t md = kl_val_get(root, "metadata");
    if (f->namespace) {
        const char *ns = kl_val_str(kl_val_get(md, "namespace"), NULL);
        if (ns == NULL || strcmp(ns, f->namespace) != 0)
            return false;
    }
    if (f->labels && !kl_selector_matches(f->labels, kl_val_get(md, "labels")))
        return false;
    if (f->fields) {
        field_ctx_t c = {.res = res, .root = root};
        if (kl_fieldsel_matches(f->fields, get_field, &c, NULL) != 1)
            return false;
    }
    return true;
}

bool kl_wants_table(h2o_req_t *req)
{
    size_t len;
    const char *accept = kl_req_header(req, "accept", &len);
    if (accept == NULL)
        return false;
    /* "application/json;as=Table;v=v1;g=meta.k8s.io" (v1beta1 also accepted). */
    for (size_t i = 0; i + 8 <= len; i++)
        if (memcmp(accept + i, "as=Table", 8) == 0)
            return true;
    return false;
}
