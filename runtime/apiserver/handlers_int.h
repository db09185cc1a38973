/* apiserver/handlers_int.h - helpers shared by handlers.c, subres.c, watch.c and gc.c. */
#ifndef KL_APISERVER_HANDLERS_INT_H
#define KL_APISERVER_HANDLERS_INT_H

#include "kubelua/schema.h"

#include "apiserver/server_int.h"

/* For edits whose failure (out of memory) only leaves a field unset in a response or a status
 * that the next write repairs. */
static inline void kl_best_effort(int rc)
{
    (void)rc;
}

void kl_name_key(const kl_res_t *res, const char *ns, const char *name, char *out, size_t cap);
void kl_now_rfc3339(char *out);
void kl_new_uid(char *out);
/* The resource whose storage is table t. */
kl_res_t *kl_res_for_table(kl_apiserver_t *srv, const kl_table_t *t);
/* apiVersion, kind, metadata first; status last; metadata members in upstream order. */
void kl_canonical_order(kl_json_t *obj);
/* Sets the next resourceVersion on obj and stores it under name_key. */
int kl_persist(kl_apiserver_t *srv, kl_res_t *res, const char *name_key, kl_json_t *obj,
               kl_sobj_t **out, kl_errinfo_t *err);
int kl_persist_delete(kl_apiserver_t *srv, kl_res_t *res, const char *name_key, kl_json_t *obj,
                      kl_errinfo_t *err);
/* Hooks after a create or update was stored (CRDs start serving). */
void kl_after_write(kl_apiserver_t *srv, kl_res_t *res, const kl_sobj_t *stored);

void kl_send_object(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_sobj_t *obj,
                    int status);
void kl_send_json(h2o_req_t *req, int status, kl_json_t *obj);
void kl_not_found(h2o_req_t *req, const kl_res_t *res, const char *name);
void kl_conflict(h2o_req_t *req, const kl_res_t *res, const char *name);
void kl_invalid(h2o_req_t *req, const kl_res_t *res, const char *name, const kl_ferrs_t *errs);
int kl_decode_body(h2o_req_t *req, const kl_res_t *res, kl_json_t **out, kl_fieldval_t mode);
kl_fieldval_t kl_field_validation(const kl_query_t *q);
int kl_check_schema(h2o_req_t *req, const kl_res_t *res, kl_json_t *obj, kl_fieldval_t mode);
int kl_check_type(h2o_req_t *req, const kl_res_t *res, kl_json_t *obj);
int kl_check_namespace(kl_apiserver_t *srv, h2o_req_t *req, const char *ns);
void kl_do_create(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const char *url_ns,
                  kl_json_t *obj, const kl_query_t *q);
void kl_do_update(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, kl_entry_t *e, kl_json_t *obj,
                  const char *sub, const kl_query_t *q);
int kl_delete_entry(kl_apiserver_t *srv, kl_res_t *res, kl_entry_t *e, kl_gc_policy_t policy,
                    int has_policy, int64_t grace, int dry, kl_json_t **result, kl_errinfo_t *err);

/* subres.c: handles subresources other than status; returns true when it answered. */
bool kl_subresource(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                    const kl_query_t *q);
void kl_binding_create(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                       const kl_query_t *q);

/* reviews.c: create-only reviews (access, rules, token, self), serviceaccounts/token, the
 * PodDisruptionBudget check of evictions, and the objects every cluster starts with. */
void kl_review_create(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                      const kl_query_t *q);
void kl_token_request(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                      const kl_query_t *q);
/* 0 when the budgets covering pod allow evicting it; otherwise answers (429 or 500) and returns
 * -1. */
int kl_eviction_allowed(kl_apiserver_t *srv, h2o_req_t *req, kl_val_t pod);
int kl_res_bootstrap(kl_apiserver_t *srv);
/* After a write: a new namespace gets its "default" service account. */
void kl_res_after_write(kl_apiserver_t *srv, kl_res_t *res, const kl_sobj_t *stored);

/* watch.c */
void kl_watch_request(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                      const kl_query_t *q);

/* gc.c */
void kl_gc_schedule(kl_apiserver_t *srv, kl_res_t *res, const kl_sobj_t *obj);
void kl_gc_index_all(kl_apiserver_t *srv);

#endif
