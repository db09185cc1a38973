/* Helpers for the client and informer tests: running a loop until a condition holds, starting
 * `kubelua apiserver` as a subprocess on a temporary data directory, and a scripted fake HTTP
 * peer (plain HTTP/1.1 on a thread, one handler call per request) for what a real server does
 * not do on demand. Header-only (static functions); include after "unit/test_util.h". */
#ifndef KL_TESTS_CLIENT_TESTLIB_H
#define KL_TESTS_CLIENT_TESTLIB_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "kubelua/client.h"
#include "kubelua/kubeconfig.h"

/* ---- loop ------------------------------------------------------------------------------ */

typedef bool (*tl_cond_fn)(void *ud);

static __attribute__((unused)) void tl_noop_timer(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until cond(ud) or timeout_ms; returns cond's final value. */
static __attribute__((unused)) bool tl_run_until(uv_loop_t *loop, tl_cond_fn cond, void *ud,
                                                 long timeout_ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, tl_noop_timer, 10, 10);
    uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000ull;
    bool ok = cond(ud);
    while (!ok && uv_hrtime() < deadline) {
        uv_run(loop, UV_RUN_ONCE);
        ok = cond(ud);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static __attribute__((unused)) bool tl_flag_set(void *ud)
{
    return *(volatile int *)ud != 0;
}

static __attribute__((unused)) void tl_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "  open handle: %s active=%d\n", uv_handle_type_name(h->type), uv_is_active(h));
}

/* Closes the loop once everything on it was freed; returns uv_loop_close's result. */
static __attribute__((unused)) int tl_loop_close(uv_loop_t *loop)
{
    for (int i = 0; i < 50 && uv_loop_alive(loop); i++)
        uv_run(loop, UV_RUN_NOWAIT);
    int rc = uv_loop_close(loop);
    if (rc != 0) {
        fprintf(stderr, "loop still has handles: %s\n", uv_strerror(rc));
        uv_walk(loop, tl_walk_cb, NULL);
    }
    return rc;
}

/* ---- kubelua apiserver subprocess --------------------------------------------------------- */

typedef struct tl_server {
    pid_t pid;
    char dir[256];
    char url[128];
    int port;
    char kubeconfig[300];
} tl_server_t;

static __attribute__((unused)) void tl_rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static __attribute__((unused)) const char *tl_binary(void)
{
    const char *b = getenv("KL_BINARY");
    return b && *b ? b : KL_BINARY;
}

/* Starts the server on the port given (0: any). Returns 0 or -1. */
static __attribute__((unused)) int tl_server_start_port(tl_server_t *s, int port)
{
    if (s->dir[0] == '\0') {
        snprintf(s->dir, sizeof(s->dir), "/tmp/kl-client-test-XXXXXX");
        if (mkdtemp(s->dir) == NULL)
            return -1;
    }
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a crashed test */
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0 && getenv("KL_TEST_SERVER_LOG") == NULL)
            dup2(devnull, 2);
        execl(tl_binary(), tl_binary(), "apiserver", "--data-dir", s->dir, "--listen", listen,
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    s->pid = pid;
    FILE *f = fdopen(fds[0], "r");
    char line[512];
    int ok = -1;
    while (f && fgets(line, sizeof(line), f)) {
        char *p = strstr(line, "listening on ");
        if (p) {
            p += strlen("listening on ");
            p[strcspn(p, " \r\n")] = '\0';
            snprintf(s->url, sizeof(s->url), "%s", p);
            char *colon = strrchr(s->url, ':');
            s->port = colon ? atoi(colon + 1) : 0;
            ok = 0;
            break;
        }
    }
    if (f)
        fclose(f);
    snprintf(s->kubeconfig, sizeof(s->kubeconfig), "%s/kubeconfig", s->dir);
    return ok;
}

static __attribute__((unused)) int tl_server_start(tl_server_t *s)
{
    memset(s, 0, sizeof(*s));
    return tl_server_start_port(s, 0);
}

static __attribute__((unused)) void tl_server_kill(tl_server_t *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int st;
        for (int i = 0; i < 500; i++) {
            if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
                s->pid = 0;
                return;
            }
            usleep(10000);
        }
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
        s->pid = 0;
    }
}

/* Same data directory and port. */
static __attribute__((unused)) int tl_server_restart(tl_server_t *s)
{
    tl_server_kill(s);
    for (int i = 0; i < 100; i++) {
        if (tl_server_start_port(s, s->port) == 0)
            return 0;
        tl_server_kill(s);
        usleep(50000);
    }
    return -1;
}

static __attribute__((unused)) void tl_server_stop(tl_server_t *s)
{
    tl_server_kill(s);
    if (s->dir[0])
        tl_rm_rf(s->dir);
    s->dir[0] = '\0';
}

static __attribute__((unused)) kl_restconfig_t *tl_server_config(const tl_server_t *s)
{
    kl_kubeconfig_opts_t o = {0};
    o.kubeconfig = s->kubeconfig;
    kl_restconfig_t *cfg = NULL;
    kl_errinfo_t err;
    if (kl_restconfig_load(&o, &cfg, &err) < 0) {
        fprintf(stderr, "kubeconfig: %s\n", err.msg);
        return NULL;
    }
    return cfg;
}

/* ---- synchronous request helper --------------------------------------------------------- */

typedef struct tl_result {
    int done;
    int rc;
    kl_obj_t *body;
    int http;
    char reason[64];
    char message[512];
} tl_result_t;

static __attribute__((unused)) void tl_result_cb(kl_client_t *c, int rc, const kl_obj_t *body,
                                                 const kl_status_t *st, void *ud)
{
    (void)c;
    tl_result_t *r = ud;
    r->done = 1;
    r->rc = rc;
    r->body = body ? kl_obj_ref(body) : NULL;
    if (st) {
        r->http = st->http_code;
        snprintf(r->reason, sizeof(r->reason), "%s", st->reason ? st->reason : "");
        snprintf(r->message, sizeof(r->message), "%s", st->message ? st->message : "");
    }
}

static __attribute__((unused)) void tl_result_reset(tl_result_t *r)
{
    kl_obj_unref(r->body);
    memset(r, 0, sizeof(*r));
}

static __attribute__((unused)) bool tl_result_done(void *ud)
{
    return ((tl_result_t *)ud)->done != 0;
}

/* ---- fake HTTP peer -------------------------------------------------------------------- */

typedef struct tl_peer tl_peer_t;
typedef struct tl_conn {
    int fd;
    tl_peer_t *peer;
    char req[16384]; /* request line and headers */
    int reqno;       /* 0-based request count */
} tl_conn_t;
typedef void (*tl_peer_fn)(tl_conn_t *c, void *ud);

struct tl_peer {
    int lfd;
    int port;
    pthread_t th;
    volatile int stop;
    tl_peer_fn fn;
    void *ud;
    pthread_mutex_t mu;
    char lines[64][512]; /* request lines seen */
    int nreq;
};

static __attribute__((unused)) int tl_send(tl_conn_t *c, const char *data, size_t n)
{
    while (n) {
        ssize_t w = send(c->fd, data, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

static __attribute__((unused)) int tl_sendf(tl_conn_t *c, const char *fmt, ...)
{
    char buf[65536];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return tl_send(c, buf, (size_t)n);
}

/* Sends one chunk of a chunked body. */
static __attribute__((unused)) int tl_chunk(tl_conn_t *c, const char *data, size_t n)
{
    char hdr[32];
    int h = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
    if (tl_send(c, hdr, (size_t)h) < 0 || tl_send(c, data, n) < 0)
        return -1;
    return tl_send(c, "\r\n", 2);
}

static __attribute__((unused)) int tl_chunk_str(tl_conn_t *c, const char *s)
{
    return tl_chunk(c, s, strlen(s));
}

static __attribute__((unused)) int tl_start_chunked(tl_conn_t *c, int code)
{
    return tl_sendf(c,
                    "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nTransfer-Encoding: "
                    "chunked\r\nConnection: close\r\n\r\n",
                    code);
}

static __attribute__((unused)) int tl_respond(tl_conn_t *c, int code, const char *extra_headers,
                                              const char *body)
{
    return tl_sendf(c,
                    "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: "
                    "%zu\r\nConnection: close\r\n%s\r\n%s",
                    code, strlen(body), extra_headers ? extra_headers : "", body);
}

/* Sleeps up to ms, returning early when the peer is stopping or the client hung up. */
static __attribute__((unused)) void tl_peer_sleep(tl_conn_t *c, long ms)
{
    for (long t = 0; t < ms && !c->peer->stop; t += 10) {
        struct pollfd q = {c->fd, POLLIN, 0};
        if (poll(&q, 1, 10) > 0) {
            char b[256];
            if (recv(c->fd, b, sizeof(b), MSG_DONTWAIT) <= 0)
                return;
        }
    }
}

static __attribute__((unused)) bool tl_path_is(const tl_conn_t *c, const char *needle)
{
    const char *eol = strstr(c->req, "\r\n");
    const char *p = strstr(c->req, needle);
    return p && (eol == NULL || p < eol);
}

static __attribute__((unused)) void *tl_peer_main(void *arg)
{
    tl_peer_t *p = arg;
    while (!p->stop) {
        struct pollfd pfd = {p->lfd, POLLIN, 0};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int fd = accept(p->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        tl_conn_t *c = calloc(1, sizeof(*c));
        c->fd = fd;
        c->peer = p;
        size_t len = 0;
        while (len < sizeof(c->req) - 1 && strstr(c->req, "\r\n\r\n") == NULL) {
            struct pollfd q = {fd, POLLIN, 0};
            if (poll(&q, 1, 2000) <= 0)
                break;
            ssize_t r = recv(fd, c->req + len, sizeof(c->req) - 1 - len, 0);
            if (r <= 0)
                break;
            len += (size_t)r;
            c->req[len] = '\0';
        }
        /* Request bodies (writes) are small: drain what is there. */
        pthread_mutex_lock(&p->mu);
        c->reqno = p->nreq;
        if (p->nreq < 64) {
            size_t l = strcspn(c->req, "\r\n");
            snprintf(p->lines[p->nreq], sizeof(p->lines[0]), "%.*s", (int)l, c->req);
        }
        p->nreq++;
        pthread_mutex_unlock(&p->mu);
        p->fn(c, p->ud);
        close(fd);
        free(c);
    }
    return NULL;
}

static __attribute__((unused)) int tl_peer_start(tl_peer_t *p, tl_peer_fn fn, void *ud)
{
    memset(p, 0, sizeof(*p));
    p->fn = fn;
    p->ud = ud;
    pthread_mutex_init(&p->mu, NULL);
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(p->lfd, 16) < 0)
        return -1;
    socklen_t al = sizeof(a);
    getsockname(p->lfd, (struct sockaddr *)&a, &al);
    p->port = ntohs(a.sin_port);
    return pthread_create(&p->th, NULL, tl_peer_main, p) == 0 ? 0 : -1;
}

static __attribute__((unused)) void tl_peer_stop(tl_peer_t *p)
{
    p->stop = 1;
    pthread_join(p->th, NULL);
    close(p->lfd);
    pthread_mutex_destroy(&p->mu);
}

static __attribute__((unused)) int tl_peer_requests(tl_peer_t *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->nreq;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static __attribute__((unused)) kl_client_t *tl_peer_client(uv_loop_t *loop, tl_peer_t *p,
                                                           const kl_client_opts_t *o)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", p->port);
    kl_restconfig_t *cfg;
    if (kl_restconfig_for_url(url, NULL, NULL, &cfg) < 0)
        return NULL;
    kl_client_t *c = NULL;
    kl_errinfo_t err;
    if (kl_client_new(loop, cfg, o, &c, &err) < 0)
        c = NULL;
    kl_restconfig_free(cfg);
    return c;
}

#endif
