/* apiserver/apiserver.h - the embedded Kubernetes-compatible API server.
 *
 * Serves the Kubernetes REST and watch protocol over HTTPS (h2o on libuv, HTTP/2 and HTTP/1.1)
 * on its own loop, durable in SQLite (store.h). On start it creates the data directory, the
 * CA, server certificate and token (tls.h) and writes DATA_DIR/kubeconfig for kubectl.
 *
 * Lifecycle: kl_apiserver_new() prepares everything and binds the listener; then either
 * kl_apiserver_run() serves on the calling thread until kl_apiserver_stop(), or
 * kl_apiserver_start_thread() serves on a thread of its own. kl_apiserver_stop() may be called
 * from any thread or a signal-safe context via the loop; kl_apiserver_free() joins and frees.
 */
#ifndef KL_APISERVER_APISERVER_H
#define KL_APISERVER_APISERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kubelua/error.h"

typedef struct kl_apiserver kl_apiserver_t;

/* Serves pods/log: writes the log of one container into out (see handlers). Called on the
 * server thread; returns 0, KL_ENOTFOUND (no such container/log), or another code. */
typedef struct kl_log_request {
    const char *namespace, *pod, *uid, *container;
    int previous;
    int64_t tail_lines;    /* -1: all */
    int64_t limit_bytes;   /* -1: no limit */
    int64_t since_seconds; /* -1: none */
    int timestamps;
} kl_log_request_t;
typedef int (*kl_apiserver_log_fn)(const kl_log_request_t *r, char **data, size_t *len, void *ud);

typedef struct kl_apiserver_opts {
    const char *data_dir;          /* default "./kubelua-data" */
    const char *listen;            /* "127.0.0.1:6443"; port 0 picks a free one */
    int http1_only;                /* advertise only http/1.1 in ALPN */
    size_t watch_history;          /* events kept for watches; default 20000 */
    const char *const *extra_sans; /* more names/IPs for the server certificate */
    const char *cluster_name;      /* kubeconfig names; default "kubelua" */
} kl_apiserver_opts_t;

KL_NODISCARD int kl_apiserver_new(const kl_apiserver_opts_t *opts, kl_apiserver_t **out,
                                  kl_errinfo_t *err);
/* Serves on the calling thread until stopped. */
KL_NODISCARD int kl_apiserver_run(kl_apiserver_t *srv);
/* Serves on a new thread; returns once the server accepts connections. */
KL_NODISCARD int kl_apiserver_start_thread(kl_apiserver_t *srv, kl_errinfo_t *err);
void kl_apiserver_stop(kl_apiserver_t *srv);
void kl_apiserver_free(kl_apiserver_t *srv);

const char *kl_apiserver_url(const kl_apiserver_t *srv);        /* "https://127.0.0.1:6443" */
const char *kl_apiserver_kubeconfig(const kl_apiserver_t *srv); /* DATA_DIR/kubeconfig */
const char *kl_apiserver_token(const kl_apiserver_t *srv);
const char *kl_apiserver_ca_file(const kl_apiserver_t *srv);
int kl_apiserver_port(const kl_apiserver_t *srv);
/* Sets the pods/log provider (before serving). */
void kl_apiserver_set_log_provider(kl_apiserver_t *srv, kl_apiserver_log_fn fn, void *ud);

/* Following a log (`kubectl logs -f`, pods/log?follow=true): the server streams what the
 * follower delivers. start runs on the server's loop and returns an opaque handle, or a
 * negative code without calling back (KL_ENOTFOUND: answered as a read without follow would
 * be). on_data's bytes stay valid until resume(handle); the server calls resume once they are
 * sent, so a slow client slows the follower. on_end runs once, after which no data comes; the
 * server then frees the handle. free may also come earlier (client gone, shutdown), and may be
 * called from inside on_data/on_end. */
typedef struct kl_log_follow_ops {
    int (*start)(uv_loop_t *loop, const kl_log_request_t *r,
                 void (*on_data)(void *stream, const char *data, size_t len),
                 void (*on_end)(void *stream, int rc), void *stream, void **handle, void *ud);
    void (*resume)(void *handle);
    void (*free)(void *handle);
    void *ud;
} kl_log_follow_ops_t;
/* Sets the follower (before serving); ops is copied. Without one, follow=true is served as a
 * plain read. */
void kl_apiserver_set_log_follow(kl_apiserver_t *srv, const kl_log_follow_ops_t *ops);

#endif
