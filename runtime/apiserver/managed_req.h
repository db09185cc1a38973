/* apiserver/managed_req.h - managedFields for the REST handlers: the field manager of a request
 * (fieldManager, or derived from the User-Agent as upstream), and the calls into managed.h that
 * create, update, patch, apply and scale make. See managed.h for the semantics. */
#ifndef KL_APISERVER_MANAGED_REQ_H
#define KL_APISERVER_MANAGED_REQ_H

#include "kubelua/json.h"

#include "apiserver/server_int.h"

/* Whether req is a server-side apply (a PATCH of application/apply-patch+yaml). */
bool kl_mf_is_apply(h2o_req_t *req);

/* Records the managedFields of a create (old NULL) or update of next for req; sub is the
 * subresource written (NULL or "status"). For an apply they were set by kl_mf_apply_request()
 * already and are left alone. Returns 0 or KL_ENOMEM. */
KL_NODISCARD int kl_mf_record(h2o_req_t *req, const kl_query_t *q, const kl_res_t *res,
                              const char *sub, const kl_json_t *old, kl_json_t *next);

/* Applies config onto live (NULL: create) for req, with the request's fieldManager and force;
 * *out is the result, owned by the caller. On conflicts answers 409 itself and returns
 * KL_ECONFLICT; other errors (those of kl_mf_apply()) come back in err for the caller to
 * answer. */
KL_NODISCARD int kl_mf_apply_request(h2o_req_t *req, const kl_query_t *q, const kl_res_t *res,
                                     const char *sub, const kl_json_t *live,
                                     const kl_json_t *config, kl_json_t **out, kl_errinfo_t *err);

/* Records a change of spec.replicas through the scale subresource in obj's managedFields. */
KL_NODISCARD int kl_mf_record_scale(h2o_req_t *req, const kl_query_t *q, const kl_res_t *res,
                                    kl_json_t *obj);

#endif
