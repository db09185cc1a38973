/* The HTTP side of the API server: h2o on its own libuv loop, TLS with ALPN, authentication,
 * routing, and response helpers. See apiserver.h. */
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubelua/fsutil.h"
#include "kubelua/log.h"
#include "kubelua/version.h"

#include "apiserver/satoken.h"
#include "apiserver/server_int.h"

typedef struct api_handler {
    h2o_handler_t super;
    kl_apiserver_t *srv;
} api_handler_t;

/* ---- Responses ------------------------------------------------------------------------- */

static void noop_gen(h2o_generator_t *g, h2o_req_t *req)
{
}

static h2o_generator_t final_generator = {noop_gen, noop_gen};

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Request Entity Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "OK";
    }
}

static void dispose_slot(void *p)
{
    free(*(char **)p);
}

/* ---- Group commit ----------------------------------------------------------------------
 * The writes of one loop iteration share a SQLite transaction, committed at its end (a
 * uv_check handle). Until then every answer is held: a writer hears back only once its write
 * is durable, and so does anyone who read the new state meanwhile. */

typedef struct kl_held {
    struct kl_held *next;
    h2o_req_t *req;        /* NULL once h2o disposed of the request (the client went away) */
    struct kl_held **slot; /* in the request's pool: points back here while held */
    int status;
    const char *content_type; /* lives as long as the server, as h2o_add_header wants */
    char *data;
    size_t len;
} kl_held_t;

static kl_apiserver_t *server_of(h2o_req_t *req)
{
    return (kl_apiserver_t *)(void *)((char *)req->conn->ctx - offsetof(kl_apiserver_t, ctx));
}

static void dispose_held(void *p)
{
    kl_held_t *h = *(kl_held_t **)p;
    if (h)
        h->req = NULL;
}

/* Appends a new entry for req to a list (head and tail); NULL when out of memory. */
static kl_held_t *hold(kl_held_t **head, kl_held_t **tail, h2o_req_t *req)
{
    kl_held_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->req = req;
    h->slot = h2o_mem_alloc_shared(&req->pool, sizeof(kl_held_t *), dispose_held);
    *h->slot = h;
    if (*tail)
        (*tail)->next = h;
    else
        *head = h;
    *tail = h;
    return h;
}

static void send_now(h2o_req_t *req, int status, const char *content_type, char *data, size_t len)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    char **slot = h2o_mem_alloc_shared(&req->pool, sizeof(char *), dispose_slot);
    *slot = data;
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = len;
    h2o_start_response(req, &final_generator);
    h2o_iovec_t iov = h2o_iovec_init(data, len);
    h2o_send(req, &iov, 1, H2O_SEND_STATE_FINAL);
}

/* Sends now, or holds until the open group commits; takes data (malloc'd). */
static void answer(h2o_req_t *req, int status, const char *content_type, char *data, size_t len)
{
    kl_apiserver_t *srv = server_of(req);
    if (!kl_store_uncommitted(srv->store)) {
        send_now(req, status, content_type, data, len);
        return;
    }
    kl_held_t *h = hold(&srv->held, &srv->held_tail, req);
    if (h == NULL) {
        free(data);
        req->res.status = 503;
        req->res.reason = reason_phrase(503);
        h2o_send_inline(req, NULL, 0);
        return;
    }
    h->status = status;
    h->content_type = content_type;
    h->data = data;
    h->len = len;
}

static void start_parked(kl_apiserver_t *srv);

void kl_apiserver_flush(kl_apiserver_t *srv)
{
    kl_errinfo_t err;
    int rc = kl_store_commit(srv->store, &err);
    kl_held_t *h = srv->held;
    srv->held = srv->held_tail = NULL;
    while (h) {
        kl_held_t *next = h->next;
        if (h->req == NULL) {
            free(h->data);
        } else {
            *h->slot = NULL;
            if (rc < 0) {
                free(h->data);
                /* After a failed commit the store takes no writes, so this is sent at once. */
                kl_respond_status(h->req, 500, "InternalError",
                                  "storage failed: the write could not be committed", NULL, NULL,
                                  NULL, NULL);
            } else {
                send_now(h->req, h->status, h->content_type, h->data, h->len);
            }
        }
        free(h);
        h = next;
    }
    start_parked(srv);
}

static int serve(kl_apiserver_t *srv, h2o_req_t *req);

/* Watches that arrived while writes were uncommitted, started once they are (see serve). */
static void start_parked(kl_apiserver_t *srv)
{
    kl_held_t *h = srv->parked;
    srv->parked = srv->parked_tail = NULL;
    while (h) {
        kl_held_t *next = h->next;
        if (h->req) {
            *h->slot = NULL;
            serve(srv, h->req);
        }
        free(h);
        h = next;
    }
}

static void on_commit_check(uv_check_t *c)
{
    uv_check_stop(c);
    kl_apiserver_flush(c->data);
}

static void on_group_open(void *data)
{
    kl_apiserver_t *srv = data;
    uv_check_start(&srv->commit_check, on_commit_check);
}

void kl_respond(h2o_req_t *req, int status, const char *content_type, kl_buf_t *body)
{
    size_t len = 0;
    char *data = kl_buf_take(body, &len);
    if (data == NULL) {
        req->res.status = 500;
        req->res.reason = reason_phrase(500);
        h2o_send_inline(req, NULL, 0);
        return;
    }
    answer(req, status, content_type, data, len);
}

void kl_respond_bytes(h2o_req_t *req, int status, const char *content_type, const char *data,
                      size_t len)
{
    if (!kl_store_uncommitted(server_of(req)->store)) {
        req->res.status = status;
        req->res.reason = reason_phrase(status);
        req->res.content_length = len;
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
        h2o_send_inline(req, data, len);
        return;
    }
    char *copy = malloc(len ? len : 1);
    if (copy == NULL) {
        req->res.status = 500;
        req->res.reason = reason_phrase(500);
        h2o_send_inline(req, NULL, 0);
        return;
    }
    memcpy(copy, data, len);
    answer(req, status, content_type, copy, len);
}

void kl_respond_status(h2o_req_t *req, int code, const char *reason, const char *message,
                       const char *name, const char *group, const char *kind,
                       const char *causes_json)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc = kl_buf_puts(&b, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                             "\"status\":\"Failure\",\"message\":");
    if (rc == 0)
        rc = kl_json_quote(&b, message, strlen(message));
    if (rc == 0 && reason)
        rc = kl_buf_printf(&b, ",\"reason\":\"%s\"", reason);
    if (rc == 0 && (name || kind || causes_json)) {
        rc = kl_buf_puts(&b, ",\"details\":{");
        const char *sep = "";
        if (rc == 0 && name) {
            rc = kl_buf_puts(&b, "\"name\":");
            if (rc == 0)
                rc = kl_json_quote(&b, name, strlen(name));
            sep = ",";
        }
        if (rc == 0 && group && *group) {
            rc = kl_buf_printf(&b, "%s\"group\":", sep);
            if (rc == 0)
                rc = kl_json_quote(&b, group, strlen(group));
            sep = ",";
        }
        if (rc == 0 && kind) {
            rc = kl_buf_printf(&b, "%s\"kind\":", sep);
            if (rc == 0)
                rc = kl_json_quote(&b, kind, strlen(kind));
            sep = ",";
        }
        if (rc == 0 && causes_json)
            rc = kl_buf_printf(&b, "%s\"causes\":%s", sep, causes_json);
        if (rc == 0)
            rc = kl_buf_putc(&b, '}');
    }
    if (rc == 0)
        rc = kl_buf_printf(&b, ",\"code\":%d}", code);
    if (rc < 0) {
        kl_buf_cleanup(&b);
        kl_respond_bytes(req, 500, "text/plain", "internal error", 14);
        return;
    }
    kl_respond(req, code, "application/json", &b);
}

void kl_respond_statusf(h2o_req_t *req, int code, const char *reason, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kl_respond_status(req, code, reason, msg, NULL, NULL, NULL, NULL);
}

void kl_add_warning(h2o_req_t *req, const char *text)
{
    /* warn-text is a quoted-string: quotes and backslashes inside are escaped. */
    char *v = h2o_mem_alloc_pool(&req->pool, 2 * strlen(text) + 16);
    int n = sprintf(v, "299 - \"");
    for (const char *p = text; *p; p++) {
        if (*p == '"' || *p == '\\')
            v[n++] = '\\';
        v[n++] = *p;
    }
    v[n++] = '"';
    v[n] = '\0';
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("warning"), 0, NULL, v,
                          (size_t)n);
}

const char *kl_req_header(h2o_req_t *req, const char *name, size_t *len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return NULL;
    if (len)
        *len = req->headers.entries[i].value.len;
    return req->headers.entries[i].value.base;
}

uint64_t kl_now_ms(kl_apiserver_t *srv)
{
    return uv_now(srv->loop);
}

/* ---- Query strings ---------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static char *pct_decode(h2o_mem_pool_t *pool, const char *s, size_t len, int plus_is_space)
{
    char *out = h2o_mem_alloc_pool(pool, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (s[i] == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static void parse_query(h2o_req_t *req, kl_query_t *q)
{
    q->n = 0;
    if (req->query_at == SIZE_MAX)
        return;
    const char *s = req->path.base + req->query_at + 1;
    const char *end = req->path.base + req->path.len;
    while (s < end && q->n < sizeof(q->kv) / sizeof(q->kv[0])) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(stop - s));
        if (stop > s) {
            q->kv[q->n].key = pct_decode(&req->pool, s, (size_t)((eq ? eq : stop) - s), 1);
            q->kv[q->n].value =
                eq ? pct_decode(&req->pool, eq + 1, (size_t)(stop - eq - 1), 1) : "";
            q->n++;
        }
        s = stop + 1;
    }
}

const char *kl_query_get(const kl_query_t *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->kv[i].key, key) == 0)
            return q->kv[i].value;
    return NULL;
}

bool kl_query_bool(const kl_query_t *q, const char *key)
{
    const char *v = kl_query_get(q, key);
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "") == 0);
}

/* ---- Authentication --------------------------------------------------------------------- */

/* Both h2o connection types start with {h2o_conn_t super; h2o_socket_t *sock;}, and the TLS
 * state of an h2o 2.2 socket starts with {SSL_CTX *; SSL *}. The SSL_CTX pointer is checked
 * against ours before the SSL pointer is trusted. */
struct conn_prefix {
    h2o_conn_t super;
    h2o_socket_t *sock;
};
struct ssl_prefix {
    SSL_CTX *ctx;
    SSL *ossl;
};

static int client_cert_ok(kl_apiserver_t *srv, h2o_req_t *req)
{
    struct conn_prefix *c = (struct conn_prefix *)req->conn;
    if (c == NULL || c->sock == NULL || c->sock->ssl == NULL)
        return 0;
    struct ssl_prefix *sp = (struct ssl_prefix *)c->sock->ssl;
    if (sp->ctx != srv->ssl || sp->ossl == NULL)
        return 0;
    X509 *peer = SSL_get1_peer_certificate(sp->ossl);
    if (peer == NULL)
        return 0;
    int ok = SSL_get_verify_result(sp->ossl) == X509_V_OK;
    X509_free(peer);
    return ok;
}

static int authenticated(kl_apiserver_t *srv, h2o_req_t *req)
{
    size_t len;
    const char *auth = kl_req_header(req, "authorization", &len);
    if (auth && len == 7 + 64 && strncasecmp(auth, "Bearer ", 7) == 0)
        return CRYPTO_memcmp(auth + 7, srv->tls.token, 64) == 0;
    /* Service account tokens from serviceaccounts/token (satoken.h). */
    if (auth && len > 7 + 64 && strncasecmp(auth, "Bearer ", 7) == 0)
        return kl_apiserver_sa_token_ok(srv, auth + 7, len - 7);
    return client_cert_ok(srv, req);
}

/* ---- Routing ---------------------------------------------------------------------------- */

static int path_is(const char *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(p, lit, n) == 0;
}

static void serve_version(h2o_req_t *req)
{
    static const char body[] =
        "{\"major\":\"" KL_KUBE_MAJOR "\",\"minor\":\"" KL_KUBE_MINOR
        "\",\"gitVersion\":\"" KL_KUBE_GIT_VERSION "\",\"gitCommit\":\"kubelua-" KL_VERSION
        "\",\"gitTreeState\":\"clean\","
        "\"buildDate\":\"2026-01-01T00:00:00Z\",\"goVersion\":\"kubelua\",\"compiler\":\"gcc\","
        "\"platform\":\"linux/amd64\"}";
    kl_respond_bytes(req, 200, "application/json", body, sizeof(body) - 1);
}

/* Splits the path (without query) into segments in the pool; returns the count. */
static size_t split_path(h2o_req_t *req, const char *p, size_t len, char **segs, size_t cap)
{
    size_t n = 0;
    size_t i = 0;
    while (i < len && n < cap) {
        while (i < len && p[i] == '/')
            i++;
        size_t start = i;
        while (i < len && p[i] != '/')
            i++;
        if (i > start)
            segs[n++] = pct_decode(&req->pool, p + start, i - start, 0);
    }
    return n;
}

static int parse_rest_path(char **segs, size_t n, kl_path_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t i;
    if (n >= 2 && strcmp(segs[0], "api") == 0) {
        out->group = "";
        out->version = segs[1];
        i = 2;
    } else if (n >= 3 && strcmp(segs[0], "apis") == 0) {
        out->group = segs[1];
        out->version = segs[2];
        i = 3;
    } else {
        return -1;
    }
    size_t rest = n - i;
    if (rest == 0)
        return -1;
    if (strcmp(segs[i], "namespaces") == 0 && rest >= 3 &&
        !(rest == 3 && *out->group == '\0' &&
          (strcmp(segs[i + 2], "status") == 0 || strcmp(segs[i + 2], "finalize") == 0))) {
        out->namespace = segs[i + 1];
        i += 2;
        rest -= 2;
    }
    out->resource = segs[i];
    if (rest >= 2)
        out->name = segs[i + 1];
    if (rest >= 3)
        out->sub = segs[i + 2];
    if (rest > 3)
        return -1;
    return 0;
}

static bool is_watch(h2o_req_t *req, const char *p, size_t plen, const kl_query_t *q)
{
    if (kl_query_bool(q, "watch"))
        return true;
    for (size_t i = 0; i + 7 <= plen; i++) /* the legacy /api/v1/watch/... paths */
        if (memcmp(p + i, "/watch/", 7) == 0)
            return true;
    return false;
}

/* Holds req until the open group commits (then serve() runs it again). */
static int park(kl_apiserver_t *srv, h2o_req_t *req)
{
    if (hold(&srv->parked, &srv->parked_tail, req) == NULL)
        kl_respond_statusf(req, 503, "ServiceUnavailable", "out of memory");
    return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    kl_apiserver_t *srv = ((api_handler_t *)self)->srv;
    srv->requests++;
    return serve(srv, req);
}

static int serve(kl_apiserver_t *srv, h2o_req_t *req)
{
    size_t plen = req->query_at == SIZE_MAX ? req->path.len : req->query_at;
    const char *p = req->path.base;
    while (plen > 1 && p[plen - 1] == '/')
        plen--;
    kl_query_t q;
    parse_query(req, &q);
    /* A watch starts from committed state only: writes of this loop iteration would otherwise
     * reach it twice (from the history now, and from the dispatch at commit). It waits for the
     * commit rather than forcing one here, in the middle of h2o's handling of a connection. */
    if (kl_store_uncommitted(srv->store) && is_watch(req, p, plen, &q))
        return park(srv, req);

    if (path_is(p, plen, "/healthz") || path_is(p, plen, "/livez") || path_is(p, plen, "/readyz") ||
        (plen > 8 && memcmp(p, "/healthz/", 9) == 0) ||
        (plen > 7 && memcmp(p, "/livez/", 7) == 0) || (plen > 8 && memcmp(p, "/readyz/", 8) == 0)) {
        kl_respond_bytes(req, 200, "text/plain; charset=utf-8", "ok", 2);
        return 0;
    }
    if (path_is(p, plen, "/version")) {
        serve_version(req);
        return 0;
    }
    if (!authenticated(srv, req)) {
        kl_respond_status(req, 401, "Unauthorized", "Unauthorized", NULL, NULL, NULL, NULL);
        return 0;
    }
    if (kl_discovery_handle(srv, req, p, plen, &q))
        return 0;
    char *segs[16];
    size_t n = split_path(req, p, plen, segs, 16);
    kl_path_t path;
    if (n >= 16 || parse_rest_path(segs, n, &path) < 0) {
        kl_respond_status(req, 404, "NotFound", "the server could not find the requested resource",
                          NULL, NULL, NULL, NULL);
        return 0;
    }
    kl_api_handle(srv, req, &path, &q);
    return 0;
}

/* ---- Accepting connections -------------------------------------------------------------- */

static void on_conn_close(uv_handle_t *h)
{
    free(h);
}

static void on_accept(uv_stream_t *listener, int status)
{
    kl_apiserver_t *srv = listener->data;
    if (status != 0)
        return;
    uv_tcp_t *conn = malloc(sizeof(*conn));
    if (conn == NULL)
        return;
    uv_tcp_init(listener->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, on_conn_close);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    uv_tcp_keepalive(conn, 1, 30);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, on_conn_close);
    h2o_accept(&srv->accept_ctx, sock);
}

/* ---- Store hook, periodic work ---------------------------------------------------------- */

static void on_store_event(kl_store_t *st, const kl_event_t *ev, kl_table_t *table, void *data)
{
    kl_apiserver_t *srv = data;
    kl_gc_observe(srv, ev, table);
    kl_watch_dispatch(srv, ev, table);
}

void kl_gc_idle_cb(uv_idle_t *h)
{
    kl_apiserver_t *srv = h->data;
    if (!kl_gc_run(srv))
        uv_idle_stop(h);
}

/* h2o counts the HTTP/2 errors it sends and the connections that ended early; say when they
 * move (a connection error ends every request in flight on it). */
static void report_http2_events(kl_apiserver_t *srv)
{
    static const char *const names[H2O_HTTP2_ERROR_MAX] = {"NONE",
                                                           "PROTOCOL",
                                                           "INTERNAL",
                                                           "FLOW_CONTROL",
                                                           "SETTINGS_TIMEOUT",
                                                           "STREAM_CLOSED",
                                                           "FRAME_SIZE",
                                                           "REFUSED_STREAM",
                                                           "CANCEL",
                                                           "COMPRESSION",
                                                           "CONNECT",
                                                           "ENHANCE_YOUR_CALM",
                                                           "INADEQUATE_SECURITY"};
    const uint64_t *errs = srv->ctx.http2.events.protocol_level_errors;
    for (int i = 1; i < H2O_HTTP2_ERROR_MAX; i++) {
        if (errs[i] != srv->h2_errors_seen[i])
            KL_WARN("apiserver",
                    "sent %llu HTTP/2 %s error(s) (a connection error ends the "
                    "connection and its requests)",
                    (unsigned long long)(errs[i] - srv->h2_errors_seen[i]), names[i]);
        srv->h2_errors_seen[i] = errs[i];
    }
    uint64_t rc = srv->ctx.http2.events.read_closed, wc = srv->ctx.http2.events.write_closed;
    if (rc != srv->h2_read_closed_seen || wc != srv->h2_write_closed_seen)
        KL_INFO("apiserver",
                "HTTP/2 connections ended by the peer or a failed read: %llu, by a "
                "failed write: %llu",
                (unsigned long long)(rc - srv->h2_read_closed_seen),
                (unsigned long long)(wc - srv->h2_write_closed_seen));
    srv->h2_read_closed_seen = rc;
    srv->h2_write_closed_seen = wc;
}

static void on_tick(uv_timer_t *t)
{
    kl_apiserver_t *srv = t->data;
    report_http2_events(srv);
    kl_watch_tick(srv, uv_now(srv->loop));
    if (srv->gc_head)
        uv_idle_start(&srv->gc_idle, kl_gc_idle_cb);
}

/* ---- Lifecycle -------------------------------------------------------------------------- */

static int parse_listen(const char *listen, char **host, int *port)
{
    const char *colon = strrchr(listen, ':');
    if (colon == NULL) {
        *host = strdup(listen);
        *port = 6443;
    } else {
        const char *h = listen;
        size_t hl = (size_t)(colon - listen);
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
            h++;
            hl -= 2;
        }
        *host = strndup(h, hl);
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (*end != '\0' || v < 0 || v > 65535) {
            free(*host);
            return -1;
        }
        *port = (int)v;
    }
    return *host ? 0 : -1;
}

static void on_stop_async(uv_async_t *a);

int kl_apiserver_new(const kl_apiserver_opts_t *opts, kl_apiserver_t **out, kl_errinfo_t *err)
{
    signal(SIGPIPE, SIG_IGN);
    kl_apiserver_t *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    int rc = 0;
    kl_strmap_init(&srv->uids, KL_STRMAP_COPY_KEYS);
    kl_strmap_init(&srv->owners, KL_STRMAP_COPY_KEYS);
    srv->data_dir = strdup(opts->data_dir ? opts->data_dir : "./kubelua-data");
    srv->http2 = !opts->http1_only;
    srv->history = opts->watch_history;
    const char *cluster = opts->cluster_name ? opts->cluster_name : "kubelua";
    if (srv->data_dir == NULL ||
        parse_listen(opts->listen ? opts->listen : "127.0.0.1:6443", &srv->host, &srv->port) < 0) {
        rc = kl_err(err, KL_EINVAL, "bad --listen address '%s'", opts->listen ? opts->listen : "");
        goto fail;
    }
    if ((rc = kl_mkdir_p(srv->data_dir, 0700, err)) < 0)
        goto fail;
    if ((rc = kl_tls_ensure(srv->data_dir, opts->extra_sans, &srv->tls, err)) < 0)
        goto fail;
    if ((rc = kl_tls_server_ctx(&srv->tls, srv->http2, &srv->ssl, err)) < 0)
        goto fail;
    srv->alpn[0] = h2o_iovec_init(H2O_STRLIT("h2"));
    srv->alpn[1] = h2o_iovec_init(H2O_STRLIT("http/1.1"));
    srv->alpn[2] = h2o_iovec_init(NULL, 0);
    h2o_ssl_register_alpn_protocols(srv->ssl, srv->http2 ? srv->alpn : srv->alpn + 1);

    char *dbpath = kl_path_join(srv->data_dir, "state.db");
    kl_store_opts_t so = {.path = dbpath, .history = srv->history};
    rc = dbpath ? kl_store_open(&so, &srv->store, err) : kl_err(err, KL_ENOMEM, "out of memory");
    free(dbpath);
    if (rc < 0)
        goto fail;
    if ((rc = kl_registry_new(srv->store, &srv->reg, err)) < 0)
        goto fail;
    if ((rc = kl_store_load(srv->store, err)) < 0)
        goto fail;
    kl_store_set_event_cb(srv->store, on_store_event, srv);
    if ((rc = kl_api_bootstrap(srv)) < 0) {
        kl_err(err, rc, "creating the initial namespaces: %s", kl_strerror(rc));
        goto fail;
    }

    if (uv_loop_init(&srv->own_loop) != 0) {
        rc = kl_err(err, KL_EIO, "cannot create the event loop");
        goto fail;
    }
    srv->has_own_loop = 1;
    srv->loop = &srv->own_loop;

    h2o_config_init(&srv->config);
    srv->config.server_name = h2o_iovec_init(H2O_STRLIT("kubelua"));
    srv->config.max_request_entity_size = KL_MAX_BODY + 65536;
    srv->config.http1.req_timeout = 60000;
    srv->config.http2.idle_timeout = 120000;
    /* Run every request a client may have open (100 streams), not h2o's default 16: answers
     * wait for the group commit, and with 16 held h2o stops reading the connection until the
     * end of the loop iteration. */
    srv->config.http2.max_concurrent_requests_per_connection = 100;
    srv->hostconf =
        h2o_config_register_host(&srv->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(srv->hostconf, "/", 0);
    api_handler_t *h = (api_handler_t *)h2o_create_handler(pc, sizeof(*h));
    h->super.on_req = on_req;
    h->srv = srv;
    h2o_context_init(&srv->ctx, srv->loop, &srv->config);
    srv->accept_ctx.ctx = &srv->ctx;
    srv->accept_ctx.hosts = srv->config.hosts;
    srv->accept_ctx.ssl_ctx = srv->ssl;

    struct sockaddr_storage addr;
    if (uv_ip4_addr(srv->host, srv->port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(srv->host, srv->port, (struct sockaddr_in6 *)&addr) != 0) {
        rc = kl_err(err, KL_EINVAL, "bad listen address '%s'", srv->host);
        goto fail;
    }
    uv_tcp_init(srv->loop, &srv->listener);
    srv->listener.data = srv;
    srv->handles_open++;
    int r = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&srv->listener, 511, on_accept);
    if (r != 0) {
        rc =
            kl_err(err, KL_EIO, "cannot listen on %s:%d: %s", srv->host, srv->port, uv_strerror(r));
        goto fail;
    }
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &blen) == 0)
        srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                      : ((struct sockaddr_in *)&bound)->sin_port);

    uv_timer_init(srv->loop, &srv->tick);
    srv->tick.data = srv;
    uv_timer_start(&srv->tick, on_tick, 1000, 1000);
    uv_idle_init(srv->loop, &srv->gc_idle);
    srv->gc_idle.data = srv;
    uv_async_init(srv->loop, &srv->stop_async, on_stop_async);
    srv->stop_async.data = srv;
    uv_check_init(srv->loop, &srv->commit_check);
    srv->commit_check.data = srv;
    srv->handles_open += 4;
    kl_store_set_grouping(srv->store, true, on_group_open, srv);

    const char *url_host = strcmp(srv->host, "0.0.0.0") == 0 || strcmp(srv->host, "::") == 0 ||
                                   strcmp(srv->host, "") == 0
                               ? "127.0.0.1"
                               : srv->host;
    char url[320];
    snprintf(url, sizeof(url), strchr(url_host, ':') ? "https://[%s]:%d" : "https://%s:%d",
             url_host, srv->port);
    srv->url = strdup(url);
    srv->kubeconfig = kl_path_join(srv->data_dir, "kubeconfig");
    if (srv->url == NULL || srv->kubeconfig == NULL) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = kl_kubeconfig_write(srv->kubeconfig, srv->url, &srv->tls, cluster, err)) < 0)
        goto fail;
    *out = srv;
    return 0;
fail:
    kl_apiserver_free(srv);
    return rc;
}

static void on_handle_closed(uv_handle_t *h)
{
    kl_apiserver_t *srv = h->data;
    srv->handles_open--;
}

static void close_remaining(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static bool connections_open(kl_apiserver_t *srv)
{
    return !h2o_linklist_is_empty(&srv->ctx.http1._conns) ||
           !h2o_linklist_is_empty(&srv->ctx.http2._conns) ||
           !h2o_linklist_is_empty(&srv->ctx.handshake_timeout._entries);
}

/* h2o asserts that no timeout is pending when its context is disposed. */
static bool timeouts_pending(kl_apiserver_t *srv)
{
    h2o_timeout_t *all[] = {&srv->ctx.zero_timeout,
                            &srv->ctx.one_sec_timeout,
                            &srv->ctx.hundred_ms_timeout,
                            &srv->ctx.handshake_timeout,
                            &srv->ctx.http1.req_timeout,
                            &srv->ctx.http2.idle_timeout,
                            &srv->ctx.http2.graceful_shutdown_timeout,
                            &srv->ctx.proxy.io_timeout};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (!h2o_linklist_is_empty(&all[i]->_entries))
            return true;
    return false;
}

/* Waits (up to two seconds) for connections to finish after the shutdown request. */
static void on_drain_tick(uv_timer_t *t)
{
    kl_apiserver_t *srv = t->data;
    if ((!connections_open(srv) && !timeouts_pending(srv)) ||
        uv_now(srv->loop) >= srv->drain_deadline) {
        uv_timer_stop(t);
        uv_close((uv_handle_t *)t, on_handle_closed);
        uv_stop(srv->loop);
    }
}

static void on_stop_async(uv_async_t *a)
{
    kl_apiserver_t *srv = a->data;
    if (srv->stopping)
        return;
    srv->stopping = 1;
    /* Writes while draining commit one by one. */
    kl_apiserver_flush(srv);
    kl_store_set_grouping(srv->store, false, NULL, NULL);
    uv_close((uv_handle_t *)&srv->commit_check, on_handle_closed);
    kl_watch_close_all(srv);
    kl_logstream_close_all(srv);
    uv_close((uv_handle_t *)&srv->listener, on_handle_closed);
    uv_close((uv_handle_t *)&srv->tick, on_handle_closed);
    uv_close((uv_handle_t *)&srv->gc_idle, on_handle_closed);
    uv_close((uv_handle_t *)&srv->stop_async, on_handle_closed);
    h2o_context_request_shutdown(&srv->ctx);
    srv->drain_deadline = uv_now(srv->loop) + 3000;
    uv_timer_init(srv->loop, &srv->drain);
    srv->drain.data = srv;
    srv->handles_open++;
    uv_timer_start(&srv->drain, on_drain_tick, 0, 50);
}

int kl_apiserver_run(kl_apiserver_t *srv)
{
    uv_run(srv->loop, UV_RUN_DEFAULT);
    return 0;
}

static void server_thread(void *arg)
{
    kl_apiserver_t *srv = arg;
    uv_sem_post(&srv->ready);
    uv_run(srv->loop, UV_RUN_DEFAULT);
    kl_obj_thread_cleanup(); /* this thread's parse buffers */
}

int kl_apiserver_start_thread(kl_apiserver_t *srv, kl_errinfo_t *err)
{
    if (uv_sem_init(&srv->ready, 0) != 0)
        return kl_err(err, KL_EIO, "cannot create a semaphore");
    if (uv_thread_create(&srv->thread, server_thread, srv) != 0) {
        uv_sem_destroy(&srv->ready);
        return kl_err(err, KL_EIO, "cannot start the API server thread");
    }
    srv->thread_started = 1;
    uv_sem_wait(&srv->ready);
    uv_sem_destroy(&srv->ready);
    return 0;
}

void kl_apiserver_stop(kl_apiserver_t *srv)
{
    if (srv && srv->has_own_loop)
        uv_async_send(&srv->stop_async);
}

void kl_apiserver_free(kl_apiserver_t *srv)
{
    if (srv == NULL)
        return;
    if (srv->thread_started) {
        kl_apiserver_stop(srv);
        uv_thread_join(&srv->thread);
    } else if (srv->has_own_loop && srv->handles_open && !srv->stopping) {
        /* Never ran on a thread: stop on this one. */
        uv_async_send(&srv->stop_async);
        uv_run(srv->loop, UV_RUN_DEFAULT);
    }
    if (srv->has_own_loop) {
        if (connections_open(srv) || timeouts_pending(srv)) {
            /* A client kept its connection past the drain period. h2o cannot dispose a
             * context with live connections; the process is ending, so leave it. */
            KL_DEBUG("apiserver", "connections still open at shutdown");
        } else {
            h2o_context_dispose(&srv->ctx);
            uv_walk(srv->loop, close_remaining, NULL);
            uv_run(srv->loop, UV_RUN_DEFAULT);
            uv_loop_close(srv->loop);
            h2o_config_dispose(&srv->config);
        }
    }
    kl_gc_cleanup(srv);
    kl_registry_free(srv->reg);
    kl_store_close(srv->store);
    if (srv->ssl)
        SSL_CTX_free(srv->ssl);
    kl_tls_files_cleanup(&srv->tls);
    size_t it = 0;
    const char *k;
    void *v;
    while (kl_strmap_next(&srv->uids, &it, &k, &v))
        ;
    kl_strmap_cleanup(&srv->uids);
    free(srv->data_dir);
    free(srv->host);
    free(srv->url);
    free(srv->kubeconfig);
    free(srv->openapi_cache_key);
    free(srv);
}

const char *kl_apiserver_url(const kl_apiserver_t *srv)
{
    return srv->url;
}

const char *kl_apiserver_kubeconfig(const kl_apiserver_t *srv)
{
    return srv->kubeconfig;
}

const char *kl_apiserver_token(const kl_apiserver_t *srv)
{
    return srv->tls.token;
}

const char *kl_apiserver_ca_file(const kl_apiserver_t *srv)
{
    return srv->tls.ca_cert;
}

int kl_apiserver_port(const kl_apiserver_t *srv)
{
    return srv->port;
}

void kl_apiserver_set_log_follow(kl_apiserver_t *srv, const kl_log_follow_ops_t *ops)
{
    srv->follow = *ops;
}

void kl_apiserver_set_log_provider(kl_apiserver_t *srv, kl_apiserver_log_fn fn, void *ud)
{
    srv->log_fn = fn;
    srv->log_data = ud;
}
