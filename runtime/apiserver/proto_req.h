/* apiserver/proto_req.h - the request hook for protobuf bodies (proto_req.c). Server thread. */
#ifndef KL_APISERVER_PROTO_REQ_H
#define KL_APISERVER_PROTO_REQ_H

#include "apiserver/server_int.h"

/* When a POST, PUT or DELETE to res carries an "application/vnd.kubernetes.protobuf" body,
 * replaces req->entity with its JSON form (allocated in the request pool), so every handler
 * reads JSON. An empty typeMeta takes the endpoint's type (Scale for /scale, Eviction for
 * /eviction, Binding, TokenRequest, DeleteOptions for DELETE). Returns 0 to go on (also when
 * there is nothing to convert) or -1 after answering the request: 400 for a malformed body, 413
 * when the JSON form exceeds KL_MAX_BODY, 415 for custom resources (no protobuf form). */
int kl_proto_request(h2o_req_t *req, const kl_res_t *res, const kl_path_t *p);

#endif
