/* kubelua/client.h - HTTP client for any Kubernetes API server, on a libuv loop.
 * Uses libcurl (multi socket API driven by uv_poll and uv_timer), kubeconfig.h, object.h,
 * metrics.h.
 *
 * Loop thread only: every function must be called on the thread running the client's loop, and
 * every callback runs there, from the loop (never from inside the call that started the
 * request). No call blocks, except reading a token file (small, local) once a minute.
 *
 * One client per cluster, shared by everything in the process: connections are reused, HTTP/2
 * is used when the server offers it (requests and watches are then multiplexed on one
 * connection), TCP keepalive is on, and connects and requests have timeouts.
 *
 * Requests. A request names a resource (kl_resource_t) and carries options (kl_req_opts_t).
 * Its completion callback receives rc = 0 and the decoded response body, or a negative KL_E*
 * code and, when the server answered, its Status:
 *     400 BadRequest    KL_EBADREQUEST     409 AlreadyExists  KL_EEXIST
 *     401               KL_EUNAUTHORIZED   409 Conflict       KL_ECONFLICT
 *     403               KL_EFORBIDDEN      410 Gone/Expired   KL_EGONE
 *     404               KL_ENOTFOUND       415                KL_EMEDIATYPE
 *     405               KL_EMETHOD         422 Invalid        KL_EINVALIDOBJ
 *     429               KL_ETOOMANY        504 / reason Timeout KL_ETIMEDOUT
 *     other 5xx         KL_ESERVER         other 4xx          KL_EBADREQUEST
 * and for transport failures KL_ECONNECT, KL_ETLS, KL_ETIMEDOUT or KL_EIO (the message is in
 * status->message). 429 and 5xx answers are retried (up to opts.max_retries) after the
 * server's Retry-After, or an exponential backoff when it gives none; 5xx without Retry-After
 * and transport errors are retried only for GET. A client-side token bucket (qps, burst) paces
 * request starts; qps 0 disables it.
 *
 * Bodies are decoded with the object module's default limits (a response of more than 64 MiB
 * fails with KL_ETOOBIG): read big collections page by page, or with kl_client_list_items(),
 * which decodes each item on its own.
 *
 * Ownership: strings in kl_resource_t and kl_req_opts_t and request bodies are copied before the
 * call returns. The body and the status passed to a callback are borrowed: valid until the
 * callback returns (kl_obj_ref() the body to keep it). If a call that takes a callback returns an
 * error, the callback is never called. After kl_client_cancel() the callback is never called.
 *
 * Watches (kl_client_watch) stream events decoded incrementally from the response body, one
 * JSON object per line with a bounded line length. The done callback runs once when the stream
 * ends: rc 0 when the server closed it normally (e.g. timeoutSeconds passed), otherwise the
 * error (KL_ETIMEDOUT when nothing arrived for idle_timeout_ms, KL_ESYNTAX for a malformed line,
 * KL_ETOOBIG for an over-long line, transport errors, or the HTTP status mapped as above).
 *
 * Lifetime: kl_client_free() cancels every request and watch (their callbacks are not called)
 * and closes the libuv handles; the memory is released from their close callbacks, so run the
 * loop afterwards before uv_loop_close(). Do not call it from inside one of the client's own
 * callbacks (defer it to a timer or idle handle), and free informers that use the client first.
 *
 * Typical use (the completion resumes whatever waits for it, e.g. a Lua coroutine):
 *     kl_restconfig_t *cfg;
 *     kl_restconfig_load(&(kl_kubeconfig_opts_t){.kubeconfig = path}, &cfg, &err);
 *     kl_client_new(loop, cfg, NULL, &client, &err);
 *     kl_restconfig_free(cfg);
 *     kl_resource_t r = {"batch", "v1", "jobs", "default", "pi", NULL};
 *     kl_client_get(client, &r, NULL, on_done, co, &req);
 *     ...
 *     static void on_done(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
 *                         void *ud) { ... kl_obj_ref(body) to keep it ... }
 */
#ifndef KUBELUA_CLIENT_H
#define KUBELUA_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"
#include "kubelua/kubeconfig.h"
#include "kubelua/object.h"

typedef struct kl_client kl_client_t; /* opaque */
typedef struct kl_req kl_req_t;       /* one request in flight; opaque */
typedef struct kl_watch kl_watch_t;   /* one watch stream; opaque */

typedef struct kl_client_opts {
    double qps;              /* request starts per second; default 50; 0 disables the limiter */
    int burst;               /* default 100 */
    long connect_timeout_ms; /* default 10,000 */
    long timeout_ms;         /* whole-request timeout for non-watch requests; default 60,000 */
    int max_retries;         /* for 429 / 5xx / transport errors; default 5 */
    size_t max_body;         /* response body ceiling; default 1 GiB */
    size_t max_line;         /* watch line ceiling; default 16 MiB */
    const char *user_agent;  /* copied; default "kubelua/<version>" */
    bool http1_only;         /* never negotiate HTTP/2 */
    long tcp_keepalive_s;    /* idle seconds before keepalive probes; default 30 */
} kl_client_opts_t;

void kl_client_opts_init(kl_client_opts_t *opts);

/* Creates a client for cfg (copied). opts may be NULL. *out is owned by the caller; release
 * with kl_client_free(). KL_ECONFIG (err says why), KL_ENOMEM, KL_EIO. */
KL_NODISCARD int kl_client_new(uv_loop_t *loop, const kl_restconfig_t *cfg,
                               const kl_client_opts_t *opts, kl_client_t **out, kl_errinfo_t *err);
void kl_client_free(kl_client_t *c); /* NULL is a no-op; run the loop afterwards */
uv_loop_t *kl_client_loop(const kl_client_t *c);
const char *kl_client_server(const kl_client_t *c);
/* The context's default namespace ("default" when none). */
const char *kl_client_namespace(const kl_client_t *c);

/* The KL_E* code of an answer with this HTTP status and Status reason (the table above). */
int kl_http_status_rc(int http, const char *reason);

/* ---- Addressing ---------------------------------------------------------------------------- */

typedef struct kl_resource {
    const char *group;       /* "" or NULL for the core group */
    const char *version;     /* "v1" */
    const char *resource;    /* plural, lower case: "pods", "deployments" */
    const char *namespace;   /* NULL: cluster-scoped resource, or all namespaces for a list */
    const char *name;        /* NULL for the collection */
    const char *subresource; /* "status", "scale", ... or NULL */
} kl_resource_t;

/* Parses "v1/pods" or "apps/v1/deployments" (also "apps/v1/deployments/status") into r, whose
 * strings then point into buf (at least strlen(s) + 1 bytes, written by the call). Namespace
 * and name are left NULL. KL_EINVAL when malformed. */
KL_NODISCARD int kl_resource_parse(const char *s, kl_resource_t *r, char *buf, size_t bufsize);
/* Appends the request path, e.g. "/apis/apps/v1/namespaces/ns/deployments/web/status". Path
 * segments are percent-encoded where needed. */
KL_NODISCARD int kl_resource_path(const kl_resource_t *r, kl_buf_t *out);

/* ---- Requests ------------------------------------------------------------------------------ */

typedef enum kl_patch_type {
    KL_PATCH_MERGE = 0,     /* application/merge-patch+json */
    KL_PATCH_JSON = 1,      /* application/json-patch+json */
    KL_PATCH_STRATEGIC = 2, /* application/strategic-merge-patch+json */
    KL_PATCH_APPLY = 3,     /* application/apply-patch+yaml (server-side apply; field_manager
                               is required) */
} kl_patch_type_t;

/* Every field is optional (zero/NULL = not sent). */
typedef struct kl_req_opts {
    const char *label_selector;
    const char *field_selector;
    int64_t limit;                      /* list page size */
    const char *continue_token;         /* list continuation */
    const char *resource_version;       /* get/list/watch */
    const char *resource_version_match; /* "NotOlderThan", "Exact" */
    bool dry_run;                       /* dryRun=All (writes) */
    const char *field_manager;          /* writes; required for KL_PATCH_APPLY */
    bool force;                         /* apply: take over conflicting fields */
    const char *field_validation;       /* "Strict", "Warn", "Ignore" */
    /* delete */
    const char *propagation_policy; /* "Foreground", "Background", "Orphan" */
    int64_t grace_period_seconds;   /* < 0 or unset via has_grace_period = false */
    bool has_grace_period;
    const char *precondition_uid;
    const char *precondition_resource_version;
    /* response decoding */
    bool keep_managed_fields; /* default: metadata.managedFields is dropped from responses */
    long timeout_ms;          /* overrides the client's timeout for this request (0: default) */
} kl_req_opts_t;

/* The server's Status for a failed call (or a synthesized one for transport errors). */
typedef struct kl_status {
    int http_code;       /* 0 when no HTTP response arrived */
    const char *reason;  /* "NotFound", "Conflict", ... ("" when none) */
    const char *message; /* human-readable ("" when none) */
    const kl_obj_t *doc; /* the whole Status object (details, causes); NULL when not JSON */
    double retry_after;  /* seconds from Retry-After, 0 when absent */
} kl_status_t;

/* rc == 0: body is the decoded response (NULL for an empty body) and st is NULL.
 * rc < 0:  body is NULL and st describes the failure. */
typedef void (*kl_client_cb)(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                             void *ud);

/* The generic form: method "GET", "POST", "PUT", "PATCH", "DELETE"; body (may be NULL) is sent
 * with content_type (NULL: application/json). *req (when req is not NULL) identifies the
 * request until its callback runs, for kl_client_cancel(). */
KL_NODISCARD int kl_client_request(kl_client_t *c, const char *method, const kl_resource_t *r,
                                   const kl_req_opts_t *o, const char *content_type,
                                   const char *body, size_t body_len, kl_client_cb cb, void *ud,
                                   kl_req_t **req);
/* Stops a request: its callback will not be called. req must be in flight. */
void kl_client_cancel(kl_req_t *req);

/* Verbs. r->name is required by get/update/update_status/patch/delete, and ignored by
 * list/create. Bodies are JSON (YAML also for KL_PATCH_APPLY). */
KL_NODISCARD int kl_client_get(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o,
                               kl_client_cb cb, void *ud, kl_req_t **req);
/* One page: the whole List object (items, metadata.continue, metadata.resourceVersion). */
KL_NODISCARD int kl_client_list(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o,
                                kl_client_cb cb, void *ud, kl_req_t **req);
KL_NODISCARD int kl_client_create(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o,
                                  const char *json, size_t len, kl_client_cb cb, void *ud,
                                  kl_req_t **req);
KL_NODISCARD int kl_client_update(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o,
                                  const char *json, size_t len, kl_client_cb cb, void *ud,
                                  kl_req_t **req);
/* PUT to the status subresource (r->subresource is ignored). */
KL_NODISCARD int kl_client_update_status(kl_client_t *c, const kl_resource_t *r,
                                         const kl_req_opts_t *o, const char *json, size_t len,
                                         kl_client_cb cb, void *ud, kl_req_t **req);
KL_NODISCARD int kl_client_patch(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o,
                                 kl_patch_type_t type, const char *patch, size_t len,
                                 kl_client_cb cb, void *ud, kl_req_t **req);
/* Sends a DeleteOptions body built from o (preconditions, propagationPolicy,
 * gracePeriodSeconds, dryRun). The callback receives the deleted object or a Status. */
KL_NODISCARD int kl_client_delete(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o,
                                  kl_client_cb cb, void *ud, kl_req_t **req);

/* ---- Paged list, item by item (what informers use) ------------------------------------------ */

/* One list page, decoded item by item: each item of "items" becomes its own document (with
 * "kind" and "apiVersion" filled in from the list when the server left them out, as real API
 * servers do). item_cb receives one reference per item and owns it (unref it or keep it).
 * Then done_cb runs once with rc, the page's metadata (resourceVersion, continue) or the error. */
typedef void (*kl_list_item_cb)(kl_obj_t *item, void *ud);
typedef struct kl_list_meta {
    const char *resource_version; /* the list's resourceVersion ("" when missing) */
    const char *continue_token;   /* "" on the last page */
    int64_t remaining;            /* remainingItemCount, -1 when absent */
    size_t items;                 /* items delivered on this page */
} kl_list_meta_t;
typedef void (*kl_list_done_cb)(kl_client_t *c, int rc, const kl_list_meta_t *meta,
                                const kl_status_t *st, void *ud);
KL_NODISCARD int kl_client_list_items(kl_client_t *c, const kl_resource_t *r,
                                      const kl_req_opts_t *o, kl_list_item_cb item_cb,
                                      kl_list_done_cb done_cb, void *ud, kl_req_t **req);

/* ---- Watch ------------------------------------------------------------------------------- */

typedef enum kl_watch_type {
    KL_WATCH_ADDED = 1,
    KL_WATCH_MODIFIED = 2,
    KL_WATCH_DELETED = 3,
    KL_WATCH_BOOKMARK = 4,
    KL_WATCH_ERROR = 5, /* obj is a Status; the informer treats code 410 as "relist" */
} kl_watch_type_t;

typedef struct kl_watch_opts {
    const char *resource_version;
    const char *label_selector;
    const char *field_selector;
    bool allow_bookmarks;
    bool send_initial_events; /* watch-list: also sets resourceVersionMatch=NotOlderThan */
    int64_t timeout_seconds;  /* server-side timeout (0: not sent) */
    long idle_timeout_ms;     /* end with KL_ETIMEDOUT after this long without a byte (0: off) */
    bool keep_managed_fields;
} kl_watch_opts_t;

/* obj is owned by the callback (one reference): keep it or kl_obj_unref() it. */
typedef void (*kl_watch_event_cb)(kl_watch_t *w, kl_watch_type_t type, kl_obj_t *obj, void *ud);
typedef void (*kl_watch_done_cb)(kl_watch_t *w, int rc, const kl_status_t *st, void *ud);

/* Starts a watch on r (a collection). *w is valid until done_cb returns or kl_watch_stop(). */
KL_NODISCARD int kl_client_watch(kl_client_t *c, const kl_resource_t *r, const kl_watch_opts_t *o,
                                 kl_watch_event_cb event_cb, kl_watch_done_cb done_cb, void *ud,
                                 kl_watch_t **w);
/* Ends the stream; no callback runs afterwards. Allowed from inside its own callbacks. */
void kl_watch_stop(kl_watch_t *w);

/* ---- Discovery --------------------------------------------------------------------------- */

typedef struct kl_api_resource {
    const char *group; /* "" for core */
    const char *version;
    const char *resource; /* plural */
    const char *kind;
    const char *singular;
    bool namespaced;
    unsigned verbs;                  /* KL_VERB_* bits */
    const char *const *subresources; /* NULL-terminated ("status", "scale", ...) */
} kl_api_resource_t;

enum {
    KL_VERB_GET = 1u << 0,
    KL_VERB_LIST = 1u << 1,
    KL_VERB_WATCH = 1u << 2,
    KL_VERB_CREATE = 1u << 3,
    KL_VERB_UPDATE = 1u << 4,
    KL_VERB_PATCH = 1u << 5,
    KL_VERB_DELETE = 1u << 6,
    KL_VERB_DELETECOLLECTION = 1u << 7,
};

typedef void (*kl_discovery_cb)(kl_client_t *c, int rc, const kl_api_resource_t *res,
                                const kl_status_t *st, void *ud);

/* Resolves "group/version" (or "version" for core) plus a kind ("Deployment") or a resource
 * name ("deployments", "deployment") to the server's resource. Uses the cached discovery
 * documents (aggregated discovery, falling back to the per-group documents of older servers);
 * on a miss the cache is refreshed (at most once every 2 seconds, so a CRD created a moment ago
 * is found) and the lookup retried. cb gets KL_ENOTFOUND when the server has no such resource.
 * res is owned by the client and valid until the next refresh (copy what you keep). The
 * callback always runs from the loop, also on a cache hit. */
KL_NODISCARD int kl_client_resolve(kl_client_t *c, const char *group_version,
                                   const char *kind_or_resource, kl_discovery_cb cb, void *ud);
/* Synchronous lookup in the cache only; NULL when not cached. Same lifetime as above. */
const kl_api_resource_t *kl_client_lookup(kl_client_t *c, const char *group_version,
                                          const char *kind_or_resource);
/* Drops the cached discovery documents (call when a CRD appears or changes). */
void kl_client_discovery_invalidate(kl_client_t *c);

/* ---- Metrics ----------------------------------------------------------------------------- */

typedef struct kl_client_stats {
    uint64_t requests;  /* completed HTTP exchanges, retries included */
    uint64_t retries;   /* requests re-sent after 429/5xx/transport errors */
    uint64_t throttled; /* request starts delayed by the client-side limiter */
    uint64_t watches;   /* watch streams started */
    uint64_t bytes_in;  /* response body bytes received */
    size_t in_flight;   /* requests and watches not finished */
} kl_client_stats_t;

void kl_client_stats(const kl_client_t *c, kl_client_stats_t *st);
/* Renders rest_client_requests_total{verb,code} and rest_client_request_duration_seconds{verb}
 * (client-go's names), plus rest_client_retries_total and rest_client_rate_limited_total. */
KL_NODISCARD int kl_client_render_metrics(const kl_client_t *c, kl_buf_t *b);

#endif
