/* apiserver/server_int.h - state shared by the API server's sources (server.c: HTTP and TLS on
 * h2o; handlers.c: REST verbs; watch.c: watch streams; discovery.c; gc.c). Server thread only. */
#ifndef KL_APISERVER_SERVER_INT_H
#define KL_APISERVER_SERVER_INT_H

#define H2O_USE_LIBUV 1
#include <h2o.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "kubelua/buf.h"
#include "kubelua/json.h"
#include "kubelua/selector.h"

#include "apiserver/apiserver.h"
#include "apiserver/ferr.h"
#include "apiserver/registry.h"
#include "apiserver/store.h"
#include "apiserver/tls.h"

#define KL_MAX_BODY ((size_t)3 << 20)

typedef struct kl_watcher kl_watcher_t;
typedef struct kl_gc_task kl_gc_task_t;

struct kl_apiserver {
    char *data_dir;
    char *host;
    int port;
    int http2;
    size_t history;
    char *url;
    char *kubeconfig;
    kl_tls_files_t tls;
    SSL_CTX *ssl;
    kl_store_t *store;
    kl_registry_t *reg;

    uv_loop_t *loop;
    uv_loop_t own_loop;
    int has_own_loop;
    uv_thread_t thread;
    int thread_started;
    uv_async_t stop_async;
    uv_tcp_t listener;
    uv_timer_t tick;
    uv_idle_t gc_idle;
    uv_check_t commit_check;          /* group commit: at the end of a loop iteration with writes */
    struct kl_held *held, *held_tail; /* answers waiting for the group's commit */
    struct kl_held *parked, *parked_tail; /* watches waiting for it (server.c) */
    uv_timer_t drain;                     /* shutdown: waits for connections to finish */
    uint64_t drain_deadline;
    int handles_open;
    int stopping;
    uv_sem_t ready; /* posted once serving (thread mode) */
    int start_rc;

    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_hostconf_t *hostconf;
    h2o_iovec_t alpn[3];

    kl_watcher_t *all_watchers; /* every live watcher, for the tick */
    size_t nwatchers;
    kl_gc_task_t *gc_head, *gc_tail;
    kl_strmap_t uids;   /* uid -> kl_entry_t, for owner references */
    kl_strmap_t owners; /* owner uid -> dependents (gc.c) */
    char *openapi_cache_key;
    kl_apiserver_log_fn log_fn;
    void *log_data;
    kl_log_follow_ops_t follow;
    struct kl_logstream *log_streams; /* logs being followed (logstream.c) */
    uint64_t requests;
    uint64_t h2_errors_seen[H2O_HTTP2_ERROR_MAX], h2_read_closed_seen, h2_write_closed_seen;
};

/* Parsed query string: keys and values percent-decoded into the request pool. */
typedef struct kl_query {
    size_t n;
    struct {
        const char *key, *value;
    } kv[64];
} kl_query_t;

const char *kl_query_get(const kl_query_t *q, const char *key);
bool kl_query_bool(const kl_query_t *q, const char *key);

/* A parsed REST path. */
typedef struct kl_path {
    const char *group; /* "" for /api */
    const char *version;
    const char *namespace; /* NULL when absent */
    const char *resource;
    const char *name; /* NULL for collections */
    const char *sub;  /* subresource or NULL */
} kl_path_t;

/* ---- Responses (server.c) ---------------------------------------------------------------- */

/* Sends body (taken: the buffer is emptied) with the given status and content type. */
void kl_respond(h2o_req_t *req, int status, const char *content_type, kl_buf_t *body);
void kl_respond_bytes(h2o_req_t *req, int status, const char *content_type, const char *data,
                      size_t len);
/* Sends a Status. details may be NULL (no details); kind is the plural resource name as
 * upstream puts it in details.kind; causes_json is an optional JSON array. */
void kl_respond_status(h2o_req_t *req, int code, const char *reason, const char *message,
                       const char *name, const char *group, const char *kind,
                       const char *causes_json);
void kl_respond_statusf(h2o_req_t *req, int code, const char *reason, const char *fmt, ...)
    KL_PRINTF(4, 5);
void kl_add_warning(h2o_req_t *req, const char *text);
/* Header value, or NULL. */
const char *kl_req_header(h2o_req_t *req, const char *name, size_t *len);
uint64_t kl_now_ms(kl_apiserver_t *srv);
/* Commits the writes of this loop iteration and sends the answers held for them. */
void kl_apiserver_flush(kl_apiserver_t *srv);

/* ---- REST (handlers.c) ------------------------------------------------------------------- */

void kl_api_handle(kl_apiserver_t *srv, h2o_req_t *req, const kl_path_t *path, const kl_query_t *q);
/* The user-visible "<kind>.<group>" or "<kind>" prefix for messages ("jobs.batch"). */
const char *kl_res_qualified(const kl_res_t *res);
/* Re-encodes a stored object for a resource served under another apiVersion (aliases). */
int kl_encode_for(const kl_res_t *res, const kl_sobj_t *obj, kl_buf_t *out);
/* Creates the namespaces every cluster starts with. */
int kl_api_bootstrap(kl_apiserver_t *srv);
/* Internal writes used by the garbage collector and graceful deletion. */
int kl_api_delete_internal(kl_apiserver_t *srv, kl_res_t *res, kl_entry_t *e, kl_gc_policy_t policy,
                           int64_t grace);
int kl_api_update_internal(kl_apiserver_t *srv, kl_res_t *res, kl_json_t *obj);
/* Matches an object against a list/watch filter. */
typedef struct kl_filter {
    const char *namespace;
    kl_selector_t *labels;
    kl_fieldsel_t *fields;
} kl_filter_t;
bool kl_filter_match(const kl_res_t *res, const kl_filter_t *f, const kl_obj_t *doc);
int kl_filter_init(kl_filter_t *f, const kl_res_t *res, const char *ns, const kl_query_t *q,
                   kl_errinfo_t *err);
void kl_filter_cleanup(kl_filter_t *f);
bool kl_wants_table(h2o_req_t *req);

/* ---- Watches (watch.c) ------------------------------------------------------------------- */

void kl_watch_start(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, kl_filter_t *filter,
                    const kl_query_t *q);
/* Store event hook: fans the event out to the table's watchers. */
void kl_watch_dispatch(kl_apiserver_t *srv, const kl_event_t *ev, kl_table_t *table);
/* Periodic work: timeouts, bookmarks, heartbeats. */
void kl_watch_tick(kl_apiserver_t *srv, uint64_t now_ms);
/* Ends every watch (shutdown). */
void kl_watch_close_all(kl_apiserver_t *srv);

/* ---- Followed logs (logstream.c) --------------------------------------------------------- */

/* Streams a followed log as the response to req. Returns 0 (the response is under way) or a
 * negative code, having sent nothing (KL_ENOTFOUND: no such log instance). */
int kl_logstream_start(kl_apiserver_t *srv, h2o_req_t *req, const kl_log_request_t *lr);
/* Ends every followed log (shutdown). */
void kl_logstream_close_all(kl_apiserver_t *srv);

/* ---- Discovery and OpenAPI (discovery.c) ------------------------------------------------- */

bool kl_discovery_handle(kl_apiserver_t *srv, h2o_req_t *req, const char *path, size_t len,
                         const kl_query_t *q);

/* ---- Garbage collection (gc.c) ----------------------------------------------------------- */

/* Called for every store event: maintains the uid index and schedules cascades. */
void kl_gc_observe(kl_apiserver_t *srv, const kl_event_t *ev, kl_table_t *table);
/* Runs pending collection work (bounded per call); returns true while work remains. */
bool kl_gc_run(kl_apiserver_t *srv);
void kl_gc_cleanup(kl_apiserver_t *srv);
/* The idle callback that runs collection work (server.c). */
void kl_gc_idle_cb(uv_idle_t *h);
/* Dependents of an owner uid (entries whose ownerReferences name it). */
size_t kl_gc_dependents(kl_apiserver_t *srv, const char *uid, kl_entry_t **out, size_t cap);

#endif
