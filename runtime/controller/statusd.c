/* The metrics and health endpoint server. See statusd.h. */
#include "controller/statusd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/log.h"

#define REQ_MAX 8192
#define CONN_MAX 64
#define REQ_TIMEOUT_MS 10000

typedef struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct conn *prev, *next;
    kl_statusd_t *s;
    int closing; /* handles still to close */
    bool answered;
    size_t n;
    char req[REQ_MAX];
    kl_buf_t out;
    uv_write_t wr;
} conn_t;

struct kl_statusd {
    uv_tcp_t *listener;
    kl_statusd_handler handler;
    void *ud;
    conn_t *conns;
    size_t nconns;
    char address[96];
};

static void conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    if (--c->closing > 0)
        return;
    kl_buf_cleanup(&c->out);
    free(c);
}

static void conn_close(conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 2;
    if (c->s) {
        if (c->prev)
            c->prev->next = c->next;
        else
            c->s->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        c->s->nconns--;
        c->s = NULL;
    }
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
    uv_close((uv_handle_t *)&c->timer, conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->req + c->n, (unsigned)(REQ_MAX - 1 - c->n));
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    conn_close(w->data);
}

static const char *reason_of(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

static void respond(conn_t *c, int code, const char *type, const char *body, size_t len, bool head)
{
    c->answered = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    kl_buf_reset(&c->out);
    if (kl_buf_printf(&c->out,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      code, reason_of(code), type, len) < 0 ||
        (!head && kl_buf_append(&c->out, body, len) < 0)) {
        conn_close(c);
        return;
    }
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
        conn_close(c);
}

static void handle(conn_t *c)
{
    /* "GET /metrics?x HTTP/1.1" */
    char *line_end = strpbrk(c->req, "\r\n");
    if (line_end == NULL) {
        respond(c, 400, "text/plain", "bad request\n", 12, false);
        return;
    }
    *line_end = '\0';
    char *sp1 = strchr(c->req, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL) {
        respond(c, 400, "text/plain", "bad request\n", 12, false);
        return;
    }
    *sp1 = '\0';
    *sp2 = '\0';
    const char *method = c->req;
    char *target = sp1 + 1;
    bool head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0) {
        respond(c, 405, "text/plain", "only GET and HEAD\n", 18, false);
        return;
    }
    char *q = strchr(target, '?');
    if (q)
        *q = '\0';
    kl_buf_t body;
    kl_buf_init(&body, 0);
    const char *type = "text/plain; charset=utf-8";
    int code = c->s->handler(target, &body, &type, c->s->ud);
    respond(c, code, type, body.data ? body.data : "", body.len, head);
    kl_buf_cleanup(&body);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = st->data;
    (void)buf;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0 || c->answered)
        return;
    c->n += (size_t)nread;
    c->req[c->n] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
        handle(c);
        return;
    }
    if (c->n >= REQ_MAX - 1)
        respond(c, 431, "text/plain", "request too large\n", 18, false);
}

static void on_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_connection(uv_stream_t *server, int status)
{
    kl_statusd_t *s = server->data;
    if (status < 0)
        return;
    conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    kl_buf_init(&c->out, 0);
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->s = s;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 || s->nconns > CONN_MAX) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timeout, REQ_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        conn_close(c);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

int kl_statusd_start(uv_loop_t *loop, const char *listen, kl_statusd_handler handler, void *ud,
                     kl_statusd_t **out, kl_errinfo_t *err)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || (size_t)(colon - listen) >= sizeof(host))
        return kl_err(err, KL_EINVAL, "bad listen address \"%s\" (want HOST:PORT)", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    if (host[0] == '\0')
        snprintf(host, sizeof(host), "0.0.0.0");
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535 || end == colon + 1)
        return kl_err(err, KL_EINVAL, "bad port in listen address \"%s\"", listen);
    struct sockaddr_storage sa;
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&sa) != 0)
        return kl_err(err, KL_EINVAL, "bad host in listen address \"%s\" (want an IP)", listen);
    kl_statusd_t *s = calloc(1, sizeof(*s));
    uv_tcp_t *l = malloc(sizeof(*l));
    if (s == NULL || l == NULL) {
        free(s);
        free(l);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    s->handler = handler;
    s->ud = ud;
    uv_tcp_init(loop, l);
    l->data = s;
    s->listener = l;
    int rc = uv_tcp_bind(l, (struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)l, 64, on_connection);
    if (rc < 0) {
        kl_err(err, KL_EIO, "cannot listen on %s: %s", listen, uv_strerror(rc));
        kl_statusd_free(s);
        return KL_EIO;
    }
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    char ip[64] = "?";
    int bport = 0;
    if (uv_tcp_getsockname(l, (struct sockaddr *)&bound, &len) == 0) {
        if (bound.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof(ip));
            bport = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof(ip));
            bport = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        }
    }
    snprintf(s->address, sizeof(s->address), "%s:%d", ip, bport);
    *out = s;
    return 0;
}

const char *kl_statusd_address(const kl_statusd_t *s)
{
    return s->address;
}

void kl_statusd_free(kl_statusd_t *s)
{
    if (s == NULL)
        return;
    while (s->conns)
        conn_close(s->conns);
    if (s->listener)
        uv_close((uv_handle_t *)s->listener, free_handle);
    free(s);
}
