/* The HTTP engine: libcurl's multi socket API on the libuv loop (curl's multi-uv pattern),
 * a pending queue paced by a token bucket, retries after 429/5xx, response decoding, watches,
 * and metrics. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "kubelua/log.h"

#include "client/client_int.h"

#define COMP "client"

typedef struct sockctx {
    uv_poll_t poll;
    curl_socket_t fd;
    kl_client_t *c;
} sockctx_t;

static const char *const verb_names[NVERBS] = {"GET", "LIST",  "WATCH", "POST",
                                               "PUT", "PATCH", "DELETE"};
static const double latency_buckets[] = {0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60};

static void process_pending(kl_client_t *c);
static void schedule_wake(kl_client_t *c);

static void on_wake(uv_timer_t *t)
{
    process_pending(t->data);
}
static void finish(kl_req_t *req, CURLcode cres);

uint64_t kl__now_ns(void)
{
    return uv_hrtime();
}

void kl_client_opts_init(kl_client_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->qps = 50;
    o->burst = 100;
    o->connect_timeout_ms = 10000;
    o->timeout_ms = 60000;
    o->max_retries = 5;
    o->max_body = (size_t)1 << 30;
    o->max_line = (size_t)16 << 20;
    o->tcp_keepalive_s = 30;
}

/* ---- curl <-> libuv glue ---------------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
    kl_client_t *c = h->data;
    if (--c->open_handles == 0 && c->freeing)
        free(c);
}

static void sock_closed(uv_handle_t *h)
{
    sockctx_t *s = (sockctx_t *)h;
    kl_client_t *c = s->c;
    free(s);
    if (--c->open_handles == 0 && c->freeing)
        free(c);
}

static void check_done(kl_client_t *c)
{
    /* Removals requested while curl was running. */
    while (c->deferred) {
        kl_req_t *r = c->deferred;
        c->deferred = r->next;
        curl_multi_remove_handle(c->multi, r->easy);
        kl__req_free(r);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        kl_req_t *req = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
        CURLcode res = msg->data.result;
        curl_multi_remove_handle(c->multi, msg->easy_handle);
        if (req)
            finish(req, res);
    }
}

static void socket_action(kl_client_t *c, curl_socket_t fd, int ev)
{
    int running;
    c->in_curl++;
    curl_multi_socket_action(c->multi, fd, ev, &running);
    c->in_curl--;
    if (c->in_curl == 0)
        check_done(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sockctx_t *s = (sockctx_t *)h;
    int flags = 0;
    if (status < 0) {
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        int gr = getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        KL_WARN("client", "socket %d: poll error %s (events %d), socket error %s", (int)s->fd,
                uv_strerror(status), events,
                gr < 0  ? strerror(errno)
                : soerr ? strerror(soerr)
                        : "none");
        flags = CURL_CSELECT_ERR;
    }
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    socket_action(s->c, s->fd, flags);
}

static void on_curl_timer(uv_timer_t *t)
{
    kl_client_t *c = t->data;
    socket_action(c, CURL_SOCKET_TIMEOUT, 0);
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    kl_client_t *c = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&c->curl_timer);
    else
        uv_timer_start(&c->curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static int curl_socket_cb(CURL *easy, curl_socket_t fd, int action, void *userp, void *sockp)
{
    kl_client_t *c = userp;
    sockctx_t *s = sockp;
    if (action == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            curl_multi_assign(c->multi, fd, NULL);
            uv_close((uv_handle_t *)&s->poll, sock_closed);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return -1;
        s->fd = fd;
        s->c = c;
        if (uv_poll_init_socket(c->loop, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        c->open_handles++;
        curl_multi_assign(c->multi, fd, s);
    }
    int ev = 0;
    if (action == CURL_POLL_IN || action == CURL_POLL_INOUT)
        ev |= UV_READABLE;
    if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

/* ---- client lifecycle ----------------------------------------------------------------- */

int kl_client_new(uv_loop_t *loop, const kl_restconfig_t *cfg, const kl_client_opts_t *opts,
                  kl_client_t **out, kl_errinfo_t *err)
{
    static int global_init;
    if (!global_init) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return kl_err(err, KL_EIO, "curl_global_init failed");
        global_init = 1;
    }
    if (cfg == NULL || cfg->server == NULL)
        return kl_err(err, KL_ECONFIG, "client: no server configured");
    kl_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    int rc = 0;
    if (opts)
        c->opts = *opts;
    else
        kl_client_opts_init(&c->opts);
    if (c->opts.burst < 1)
        c->opts.burst = 1;
    if (c->opts.max_line == 0)
        c->opts.max_line = (size_t)16 << 20;
    if (c->opts.max_body == 0)
        c->opts.max_body = (size_t)1 << 30;
    c->loop = loop;
    char ua[64];
    snprintf(ua, sizeof(ua), "kubelua/%s", KL_VERSION);
    c->user_agent = strdup(c->opts.user_agent ? c->opts.user_agent : ua);
    c->opts.user_agent = c->user_agent;
    rc = kl__restconfig_copy(cfg, &c->cfg);
    if (rc < 0 || c->user_agent == NULL) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto fail;
    }
    if (c->cfg->token)
        c->token = strdup(c->cfg->token);
    c->token_read_ns = kl__now_ns();
    if (c->cfg->cert_pem) {
        c->cert_blob = (struct curl_blob){c->cfg->cert_pem, c->cfg->cert_pem_len, CURL_BLOB_NOCOPY};
        c->key_blob = (struct curl_blob){c->cfg->key_pem, c->cfg->key_pem_len, CURL_BLOB_NOCOPY};
    }
    for (int v = 0; v < NVERBS; v++) {
        rc = kl_histogram_init(&c->latency[v], latency_buckets,
                               sizeof(latency_buckets) / sizeof(latency_buckets[0]));
        if (rc < 0) {
            rc = kl_err(err, rc, "out of memory");
            goto fail;
        }
    }
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        rc = kl_err(err, KL_ENOMEM, "curl_multi_init failed");
        goto fail;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    c->tokens = c->opts.burst;
    c->tokens_ns = kl__now_ns();
    uv_timer_init(loop, &c->curl_timer);
    uv_timer_init(loop, &c->wake);
    uv_timer_init(loop, &c->disc_timer);
    c->curl_timer.data = c;
    c->wake.data = c;
    c->disc_timer.data = c;
    c->open_handles = 3;
    *out = c;
    return 0;
fail:
    for (int v = 0; v < NVERBS; v++)
        kl_histogram_cleanup(&c->latency[v]);
    kl_restconfig_free(c->cfg);
    free(c->user_agent);
    free(c);
    return rc;
}

void kl_client_free(kl_client_t *c)
{
    if (c == NULL)
        return;
    kl_req_t *r;
    while ((r = c->pending_head) != NULL) {
        c->pending_head = r->next;
        kl__req_free(r);
    }
    c->pending_tail = NULL;
    while ((r = c->active) != NULL) {
        c->active = r->next;
        curl_multi_remove_handle(c->multi, r->easy);
        kl__req_free(r);
    }
    while ((r = c->deferred) != NULL) {
        c->deferred = r->next;
        curl_multi_remove_handle(c->multi, r->easy);
        kl__req_free(r);
    }
    kl__exec_cleanup(c);
    kl__disc_free(c->disc);
    /* Cleaning up the multi handle closes connections; the socket callback closes the polls. */
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    for (int v = 0; v < NVERBS; v++)
        kl_histogram_cleanup(&c->latency[v]);
    free(c->codes);
    free(c->token);
    free(c->exec_cert);
    free(c->exec_key);
    kl_restconfig_free(c->cfg);
    free(c->user_agent);
    c->freeing = true;
    uv_close((uv_handle_t *)&c->curl_timer, handle_closed);
    uv_close((uv_handle_t *)&c->wake, handle_closed);
    uv_close((uv_handle_t *)&c->disc_timer, handle_closed);
}

uv_loop_t *kl_client_loop(const kl_client_t *c)
{
    return c->loop;
}

const char *kl_client_server(const kl_client_t *c)
{
    return c->cfg->server;
}

const char *kl_client_namespace(const kl_client_t *c)
{
    return c->cfg->namespace ? c->cfg->namespace : "default";
}

/* ---- requests ----------------------------------------------------------------------- */

kl_req_t *kl__req_new(kl_client_t *c, req_kind_t kind, const char *method, int verb)
{
    kl_req_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->c = c;
    r->kind = kind;
    r->verb = verb;
    r->method = strdup(method);
    r->parse_flags = KL_PARSE_STRIP_MANAGED_FIELDS;
    kl_buf_init(&r->resp, c->opts.max_body);
    if (r->method == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

void kl__req_free(kl_req_t *r)
{
    if (r == NULL)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->method);
    free(r->url);
    free(r->ctype);
    free(r->body);
    kl_buf_cleanup(&r->resp);
    free(r);
}

static void pending_push(kl_client_t *c, kl_req_t *r)
{
    r->state = RS_PENDING;
    r->next = NULL;
    r->prev = c->pending_tail;
    if (c->pending_tail)
        c->pending_tail->next = r;
    else
        c->pending_head = r;
    c->pending_tail = r;
}

static void pending_unlink(kl_client_t *c, kl_req_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        c->pending_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        c->pending_tail = r->prev;
    r->next = r->prev = NULL;
}

static void active_push(kl_client_t *c, kl_req_t *r)
{
    r->state = RS_ACTIVE;
    r->prev = NULL;
    r->next = c->active;
    if (c->active)
        c->active->prev = r;
    c->active = r;
}

static void active_unlink(kl_client_t *c, kl_req_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        c->active = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
}

void kl__req_submit(kl_client_t *c, kl_req_t *req)
{
    req->ready_ns = kl__now_ns();
    pending_push(c, req);
    c->stats.in_flight++;
    uv_timer_start(&c->wake, on_wake, 0, 0);
}

static void schedule_wake(kl_client_t *c)
{
    uint64_t now = kl__now_ns(), soonest = UINT64_MAX;
    for (kl_req_t *r = c->pending_head; r; r = r->next)
        if (r->ready_ns < soonest)
            soonest = r->ready_ns;
    if (soonest == UINT64_MAX)
        return;
    if (c->opts.qps > 0 && c->tokens < 1) {
        uint64_t tok = now + (uint64_t)((1 - c->tokens) / c->opts.qps * 1e9);
        if (tok > soonest)
            soonest = tok;
    }
    uint64_t ms = soonest > now ? (soonest - now + 999999) / 1000000 : 0;
    uv_timer_start(&c->wake, on_wake, ms, 0);
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud);

static int refresh_token_file(kl_client_t *c)
{
    if (c->cfg->token_file == NULL || kl__now_ns() - c->token_read_ns < 60ull * 1000000000ull)
        return 0;
    char *tok;
    c->token_read_ns = kl__now_ns();
    if (kl__read_token_file(c->cfg->token_file, &tok, NULL) == 0) {
        free(c->token);
        c->token = tok;
    }
    return 0;
}

static int start(kl_client_t *c, kl_req_t *r)
{
    CURL *e = r->easy;
    if (e == NULL) {
        e = r->easy = curl_easy_init();
        if (e == NULL)
            return KL_ENOMEM;
    } else {
        curl_easy_reset(e);
    }
    curl_slist_free_all(r->headers);
    r->headers = NULL;
    kl_buf_reset(&r->resp);
    r->retry_after[0] = '\0';
    r->errbuf[0] = '\0';
    refresh_token_file(c);
    char hdr[8192];
    struct curl_slist *h = NULL;
    snprintf(hdr, sizeof(hdr), "Accept: %s", r->accept ? r->accept : "application/json");
    h = curl_slist_append(h, hdr);
    if (r->body) {
        snprintf(hdr, sizeof(hdr), "Content-Type: %s", r->ctype ? r->ctype : "application/json");
        h = curl_slist_append(h, hdr);
    }
    const char *tok = c->token;
    if (tok && *tok) {
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
        h = curl_slist_append(h, hdr);
        memset(hdr, 0, sizeof(hdr));
    }
    h = curl_slist_append(h, "Expect:");
    if (h == NULL)
        return KL_ENOMEM;
    r->headers = h;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE,
                     c->opts.tcp_keepalive_s > 0 ? c->opts.tcp_keepalive_s : 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     c->opts.http1_only ? (long)CURL_HTTP_VERSION_1_1
                                        : (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    if (r->kind != REQ_WATCH)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms ? r->timeout_ms : c->opts.timeout_ms);
    /* Bigger reads for streams and lists: fewer callbacks, fewer lines split across them. */
    if (r->kind != REQ_OBJ)
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
    if (c->cfg->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (c->cfg->ca_pem) {
        struct curl_blob ca = {c->cfg->ca_pem, c->cfg->ca_pem_len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
    }
    if (c->exec_cert && c->exec_key) {
        struct curl_blob cb = {c->exec_cert, strlen(c->exec_cert), CURL_BLOB_COPY};
        struct curl_blob kb = {c->exec_key, strlen(c->exec_key), CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &kb);
    } else if (c->cfg->cert_pem) {
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &c->cert_blob);
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &c->key_blob);
    }
    if (c->cfg->username && c->cfg->password && !(tok && *tok)) {
        curl_easy_setopt(e, CURLOPT_USERNAME, c->cfg->username);
        curl_easy_setopt(e, CURLOPT_PASSWORD, c->cfg->password);
    }
    if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
        if (r->body || strcmp(r->method, "DELETE") != 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        }
    }
    r->start_ns = kl__now_ns();
    if (r->watch)
        r->watch->last_data_ns = r->start_ns; /* time spent queued is not silence */
    if (r->attempts == 0 && r->kind == REQ_WATCH)
        c->stats.watches++;
    r->attempts++;
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
        return KL_EIO;
    active_push(c, r);
    return 0;
}

static void fail_now(kl_req_t *r, int rc, const char *msg);

static void process_pending(kl_client_t *c)
{
    if (c->freeing)
        return;
    if (kl__exec_needed(c)) {
        kl__exec_refresh(c);
        if (c->exec_running)
            return; /* requests wait for the credentials */
    }
    uint64_t now = kl__now_ns();
    if (c->opts.qps > 0) {
        c->tokens += (double)(now - c->tokens_ns) / 1e9 * c->opts.qps;
        if (c->tokens > c->opts.burst)
            c->tokens = c->opts.burst;
        c->tokens_ns = now;
    }
    kl_req_t *r = c->pending_head;
    while (r) {
        kl_req_t *next = r->next;
        if (r->ready_ns <= now) {
            if (c->opts.qps > 0) {
                if (c->tokens < 1) {
                    c->stats.throttled++;
                    break;
                }
                c->tokens -= 1;
            }
            pending_unlink(c, r);
            int rc = start(c, r);
            if (rc < 0) {
                fail_now(r, rc, "cannot start the request");
                if (c->freeing)
                    return;
            }
        }
        r = next;
    }
    schedule_wake(c);
}

/* ---- responses ---------------------------------------------------------------------- */

int kl__status_to_rc(int http, const char *reason)
{
    if (reason && strcmp(reason, "AlreadyExists") == 0)
        return KL_EEXIST;
    if (reason && strcmp(reason, "Conflict") == 0)
        return KL_ECONFLICT;
    if (reason && (strcmp(reason, "Expired") == 0 || strcmp(reason, "Gone") == 0))
        return KL_EGONE;
    if (reason && strcmp(reason, "Timeout") == 0)
        return KL_ETIMEDOUT;
    switch (http) {
    case 400:
        return KL_EBADREQUEST;
    case 401:
        return KL_EUNAUTHORIZED;
    case 403:
        return KL_EFORBIDDEN;
    case 404:
        return KL_ENOTFOUND;
    case 405:
        return KL_EMETHOD;
    case 409:
        return KL_ECONFLICT;
    case 410:
        return KL_EGONE;
    case 415:
        return KL_EMEDIATYPE;
    case 422:
        return KL_EINVALIDOBJ;
    case 429:
        return KL_ETOOMANY;
    case 504:
        return KL_ETIMEDOUT;
    default:
        break;
    }
    if (http >= 500)
        return KL_ESERVER;
    return KL_EBADREQUEST;
}

int kl_http_status_rc(int http, const char *reason)
{
    return kl__status_to_rc(http, reason);
}

void kl__status_from_body(kl_status_t *st, int http, const char *body, size_t len, kl_obj_t **doc)
{
    st->http_code = http;
    st->reason = "";
    st->message = "";
    st->doc = NULL;
    *doc = NULL;
    if (body && len && kl_obj_parse_json(body, len, NULL, doc, NULL) == 0) {
        kl_val_t root = kl_obj_root(*doc);
        const char *reason = kl_val_str(kl_val_get(root, "reason"), NULL);
        const char *msg = kl_val_str(kl_val_get(root, "message"), NULL);
        st->reason = reason ? reason : "";
        st->message = msg ? msg : "";
        st->doc = *doc;
    }
}

static int curl_to_rc(CURLcode res)
{
    switch (res) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return KL_ECONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return KL_ETIMEDOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CLIENTCERT:
        return KL_ETLS;
    case CURLE_OUT_OF_MEMORY:
        return KL_ENOMEM;
    case CURLE_WRITE_ERROR:
        return KL_ETOOBIG;
    default:
        return KL_EIO;
    }
}

static void count_code(kl_client_t *c, int verb, int code)
{
    for (size_t i = 0; i < c->ncodes; i++)
        if (c->codes[i].verb == verb && c->codes[i].code == code) {
            c->codes[i].n++;
            return;
        }
    if (c->ncodes == c->codes_cap) {
        size_t cap = c->codes_cap ? c->codes_cap * 2 : 16;
        code_count_t *n = realloc(c->codes, cap * sizeof(*n));
        if (n == NULL)
            return;
        c->codes = n;
        c->codes_cap = cap;
    }
    c->codes[c->ncodes++] = (code_count_t){verb, code, 1};
}

static void complete(kl_req_t *r)
{
    kl_client_t *c = r->c;
    r->state = RS_DONE;
    if (c->stats.in_flight)
        c->stats.in_flight--;
    kl__req_free(r);
}

static void watch_finish(kl_watch_t *w, int rc, const kl_status_t *st);

static void fail_now(kl_req_t *r, int rc, const char *msg)
{
    kl_status_t st = {0, "", msg ? msg : kl_strerror(rc), NULL, 0};
    if (r->kind == REQ_WATCH) {
        kl_watch_t *w = r->watch;
        w->req = NULL;
        complete(r);
        watch_finish(w, rc, &st);
        return;
    }
    if (!r->canceled) {
        if (r->kind == REQ_LIST)
            r->list_cb(r->c, rc, NULL, &st, r->ud);
        else
            r->cb(r->c, rc, NULL, &st, r->ud);
    }
    complete(r);
}

/* Decides whether to send the request again; returns the delay in seconds or -1. */
static double retry_delay(kl_req_t *r, int http, int rc)
{
    kl_client_t *c = r->c;
    if (r->attempts > c->opts.max_retries)
        return -1;
    double ra = r->retry_after[0] ? strtod(r->retry_after, NULL) : 0;
    double backoff = 0.2 * pow(2, r->attempts - 1);
    if (backoff > 10)
        backoff = 10;
    if (http == 429 || (http >= 500 && r->retry_after[0]))
        return ra > 0 ? (ra > 60 ? 60 : ra) : backoff;
    if (r->retry_transport && (http >= 500 || (http == 0 && rc != KL_ETLS)))
        return backoff;
    return -1;
}

static void requeue(kl_req_t *r, double delay)
{
    kl_client_t *c = r->c;
    r->state = RS_PENDING;
    c->stats.retries++;
    r->ready_ns = kl__now_ns() + (uint64_t)(delay * 1e9);
    pending_push(c, r);
    schedule_wake(c);
}

static void item_wrap_cb(kl_obj_t *item, void *ud)
{
    kl_req_t *r = ud;
    if (r->canceled) {
        kl_obj_unref(item);
        return;
    }
    r->item_cb(item, r->ud);
}

static void finish(kl_req_t *r, CURLcode res)
{
    kl_client_t *c = r->c;
    active_unlink(c, r);
    r->state = RS_DONE;
    long http = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &http);
    double secs = (double)(kl__now_ns() - r->start_ns) / 1e9;
    c->stats.requests++;
    kl_histogram_observe(&c->latency[r->verb], secs);
    count_code(c, r->verb, res == CURLE_OK || http ? (int)http : 0);
    if (r->canceled) {
        complete(r);
        return;
    }
    kl_watch_t *w = r->watch;
    int rc = 0;
    if (w && w->fail) {
        w->req = NULL;
        complete(r);
        kl_status_t st = {(int)http, "", w->failinfo.msg, NULL, 0};
        watch_finish(w, w->fail, &st);
        return;
    }
    if (res != CURLE_OK && !(http >= 300 && res == CURLE_WRITE_ERROR)) {
        rc = curl_to_rc(res);
        double d = r->kind == REQ_WATCH ? -1 : retry_delay(r, 0, rc);
        if (d >= 0) {
            KL_DEBUG(COMP, "retry %s %s in %.2fs after %s", r->method, r->url, d,
                     curl_easy_strerror(res));
            requeue(r, d);
            return;
        }
        char msg[CURL_ERROR_SIZE + 64];
        snprintf(msg, sizeof(msg), "%s %s: %s", r->method, r->url,
                 r->errbuf[0] ? r->errbuf : curl_easy_strerror(res));
        fail_now(r, rc, msg);
        return;
    }
    if (http == 401 && c->cfg->exec && !r->creds_retried) {
        /* Expired exec credentials: run the plugin again, then resend. */
        r->creds_retried = true;
        c->exec_valid = false;
        r->attempts--;
        requeue(r, 0);
        return;
    }
    if (http < 200 || http >= 300) {
        rc = kl__status_to_rc((int)http, NULL);
        double d = r->kind == REQ_WATCH ? -1 : retry_delay(r, (int)http, rc);
        if (d >= 0) {
            KL_DEBUG(COMP, "retry %s %s in %.2fs after HTTP %ld", r->method, r->url, d, http);
            requeue(r, d);
            return;
        }
        kl_obj_t *doc;
        kl_status_t st;
        kl__status_from_body(&st, (int)http, r->resp.data, r->resp.len, &doc);
        st.retry_after = r->retry_after[0] ? strtod(r->retry_after, NULL) : 0;
        rc = kl__status_to_rc((int)http, st.reason);
        if (*st.message == '\0')
            st.message = r->resp.len ? r->resp.data : "";
        if (r->kind == REQ_WATCH) {
            w->req = NULL;
            complete(r);
            watch_finish(w, rc, &st);
        } else if (r->kind == REQ_LIST) {
            r->list_cb(c, rc, NULL, &st, r->ud);
            complete(r);
        } else {
            r->cb(c, rc, NULL, &st, r->ud);
            complete(r);
        }
        kl_obj_unref(doc);
        return;
    }
    if (r->kind == REQ_WATCH) {
        w->req = NULL;
        complete(r);
        if (w->lines.buf.len) {
            kl_status_t st = {(int)http, "", "watch stream ended in the middle of an event", NULL,
                              0};
            watch_finish(w, KL_EIO, &st);
        } else {
            watch_finish(w, 0, NULL);
        }
        return;
    }
    if (r->kind == REQ_LIST) {
        kl__list_meta_t meta;
        kl_errinfo_t err;
        rc = kl__list_split(r->resp.data ? r->resp.data : "", r->resp.len, r->parse_flags,
                            item_wrap_cb, r, &meta, &err);
        if (r->canceled) {
            /* Canceled from an item callback. */
        } else if (rc < 0) {
            kl_status_t st = {(int)http, "", err.msg, NULL, 0};
            r->list_cb(c, rc, NULL, &st, r->ud);
        } else {
            kl_list_meta_t m = {meta.resource_version, meta.continue_token, meta.remaining,
                                meta.items};
            r->list_cb(c, 0, &m, NULL, r->ud);
        }
        free(meta.continue_token);
        complete(r);
        return;
    }
    kl_obj_t *body = NULL;
    if (r->resp.len) {
        kl_parse_opts_t po = {.flags = r->parse_flags};
        kl_errinfo_t err;
        rc = kl_obj_parse_json(r->resp.data, r->resp.len, &po, &body, &err);
        if (rc < 0) {
            kl_status_t st = {(int)http, "", err.msg, NULL, 0};
            r->cb(c, rc == KL_ENOMEM ? rc : KL_ESYNTAX, NULL, &st, r->ud);
            complete(r);
            return;
        }
    }
    r->cb(c, 0, body, NULL, r->ud);
    kl_obj_unref(body);
    complete(r);
}

/* ---- write callback and watches -------------------------------------------------------- */

static int on_line(const char *line, size_t len, void *ud)
{
    kl_watch_t *w = ud;
    kl_watch_type_t type;
    kl_obj_t *obj;
    int rc = kl__watch_decode_line(line, len, w->parse_flags, &type, &obj, &w->failinfo);
    if (rc < 0)
        return rc;
    w->event_cb(w, type, obj, w->ud);
    return w->stopped ? KL_ECANCELED : 0;
}

static void note_header(kl_req_t *r)
{
    struct curl_header *h;
    if (r->retry_after[0] == '\0' &&
        curl_easy_header(r->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK) {
        snprintf(r->retry_after, sizeof(r->retry_after), "%s", h->value);
    }
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    kl_req_t *r = ud;
    size_t n = size * nmemb;
    if (r->canceled)
        return 0;
    r->c->stats.bytes_in += n;
    long http = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &http);
    if (http >= 300)
        note_header(r);
    kl_watch_t *w = r->watch;
    if (w == NULL || http != 200) {
        if (kl_buf_append(&r->resp, data, n) < 0)
            return 0;
        return n;
    }
    w->last_data_ns = kl__now_ns();
    int rc = kl__linebuf_feed(&w->lines, data, n, on_line, w);
    if (rc == 0)
        return n;
    if (rc == KL_ETOOBIG)
        kl_err(&w->failinfo, rc, "watch event line longer than %zu bytes", w->lines.buf.max);
    if (rc != KL_ECANCELED && !w->fail)
        w->fail = rc;
    return 0;
}

static void idle_closed(uv_handle_t *h)
{
    kl_watch_t *w = h->data;
    kl__linebuf_cleanup(&w->lines);
    free(w);
}

static void watch_release(kl_watch_t *w)
{
    w->done = true;
    uv_timer_stop(&w->idle);
    uv_close((uv_handle_t *)&w->idle, idle_closed);
}

static void watch_finish(kl_watch_t *w, int rc, const kl_status_t *st)
{
    if (w->done)
        return;
    if (!w->stopped)
        w->done_cb(w, rc, st, w->ud);
    watch_release(w);
}

static void cancel_req(kl_req_t *r)
{
    kl_client_t *c = r->c;
    r->canceled = true;
    if (r->state == RS_PENDING) {
        pending_unlink(c, r);
        complete(r);
    } else if (r->state == RS_ACTIVE) {
        if (c->in_curl) {
            active_unlink(c, r);
            r->next = c->deferred;
            c->deferred = r;
            if (c->stats.in_flight)
                c->stats.in_flight--;
        } else {
            active_unlink(c, r);
            curl_multi_remove_handle(c->multi, r->easy);
            complete(r);
        }
    }
}

void kl__watch_finish(kl_watch_t *w, int rc, const kl_status_t *st)
{
    watch_finish(w, rc, st);
}

void kl__client_wake(kl_client_t *c)
{
    uv_timer_start(&c->wake, on_wake, 0, 0);
}

void kl_client_cancel(kl_req_t *req)
{
    if (req)
        cancel_req(req);
}

static void on_idle(uv_timer_t *t)
{
    kl_watch_t *w = t->data;
    if (w->done || w->stopped || w->req == NULL)
        return;
    uint64_t now = kl__now_ns();
    uint64_t idle_ns = (uint64_t)w->idle_ms * 1000000ull;
    if (now - w->last_data_ns < idle_ns) {
        uv_timer_start(&w->idle, on_idle, (idle_ns - (now - w->last_data_ns)) / 1000000 + 1, 0);
        return;
    }
    /* Nothing for too long: the peer is gone or stuck. */
    kl_req_t *r = w->req;
    w->req = NULL;
    cancel_req(r);
    char msg[96];
    snprintf(msg, sizeof(msg), "watch silent for %ld ms", w->idle_ms);
    kl_status_t st = {0, "", msg, NULL, 0};
    watch_finish(w, KL_ETIMEDOUT, &st);
}

int kl_client_watch(kl_client_t *c, const kl_resource_t *r, const kl_watch_opts_t *o,
                    kl_watch_event_cb event_cb, kl_watch_done_cb done_cb, void *ud,
                    kl_watch_t **out)
{
    kl_watch_opts_t dflt = {0};
    if (o == NULL)
        o = &dflt;
    if (event_cb == NULL || done_cb == NULL)
        return KL_EINVAL;
    kl_watch_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return KL_ENOMEM;
    kl_req_t *req = kl__req_new(c, REQ_WATCH, "GET", VERB_WATCH);
    kl_buf_t url;
    kl_buf_init(&url, 1 << 16);
    int rc = req ? kl__build_url(c, r, NULL, o, &url) : KL_ENOMEM;
    if (rc < 0) {
        kl__req_free(req);
        kl_buf_cleanup(&url);
        free(w);
        return rc;
    }
    req->url = kl_buf_take(&url, NULL);
    if (req->url == NULL) {
        kl__req_free(req);
        free(w);
        return KL_ENOMEM;
    }
    req->watch = w;
    req->parse_flags = o->keep_managed_fields ? 0 : KL_PARSE_STRIP_MANAGED_FIELDS;
    w->req = req;
    w->c = c;
    w->event_cb = event_cb;
    w->done_cb = done_cb;
    w->ud = ud;
    w->parse_flags = req->parse_flags;
    w->idle_ms = o->idle_timeout_ms;
    kl__linebuf_init(&w->lines, c->opts.max_line);
    uv_timer_init(c->loop, &w->idle);
    w->idle.data = w;
    w->last_data_ns = kl__now_ns();
    if (w->idle_ms > 0)
        uv_timer_start(&w->idle, on_idle, (uint64_t)w->idle_ms, 0);
    kl__req_submit(c, req);
    if (out)
        *out = w;
    return 0;
}

void kl_watch_stop(kl_watch_t *w)
{
    if (w == NULL || w->stopped || w->done)
        return;
    w->stopped = true;
    if (w->req) {
        kl_req_t *r = w->req;
        w->req = NULL;
        cancel_req(r);
    }
    watch_release(w);
}

/* ---- metrics ------------------------------------------------------------------------- */

void kl_client_stats(const kl_client_t *c, kl_client_stats_t *st)
{
    *st = c->stats;
}

int kl_client_render_metrics(const kl_client_t *c, kl_buf_t *b)
{
    size_t mark = b->len;
    int rc = kl_metrics_write_header(b, "rest_client_requests_total",
                                     "HTTP requests, partitioned by verb and status code.",
                                     KL_METRIC_COUNTER);
    for (size_t i = 0; i < c->ncodes && rc == 0; i++) {
        char code[16];
        snprintf(code, sizeof(code), "%d", c->codes[i].code);
        kl_label_t l[3] = {
            {"code", code}, {"host", c->cfg->server}, {"method", verb_names[c->codes[i].verb]}};
        rc = kl_metrics_write_sample(b, "rest_client_requests_total", l, 3, (double)c->codes[i].n);
    }
    if (rc == 0)
        rc = kl_metrics_write_header(b, "rest_client_request_duration_seconds",
                                     "Request latency in seconds, by verb.", KL_METRIC_HISTOGRAM);
    for (int v = 0; v < NVERBS && rc == 0; v++) {
        if (c->latency[v].count == 0)
            continue;
        kl_label_t l[1] = {{"verb", verb_names[v]}};
        rc = kl_metrics_write_histogram(b, "rest_client_request_duration_seconds", l, 1,
                                        &c->latency[v]);
    }
    if (rc == 0)
        rc = kl_metrics_render_counter(b, "rest_client_retries_total",
                                       "Requests sent again after 429, 5xx or transport errors.",
                                       NULL, 0, (double)c->stats.retries);
    if (rc == 0)
        rc = kl_metrics_render_counter(b, "rest_client_rate_limited_total",
                                       "Times the client-side limiter delayed request starts.",
                                       NULL, 0, (double)c->stats.throttled);
    if (rc < 0) {
        b->len = mark;
        if (b->data)
            b->data[mark] = '\0';
    }
    return rc;
}
