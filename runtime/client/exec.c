/* Exec credential plugins (client.authentication.k8s.io ExecCredential), run with uv_spawn so
 * the loop never waits. Requests queue while the plugin runs; its token or client certificate
 * is used until its expirationTimestamp, or until the server answers 401. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubelua/log.h"

#include "client/client_int.h"

#define COMP "client"
#define EXEC_OUT_MAX ((size_t)1 << 20)

extern char **environ;

typedef struct exec_run {
    uv_process_t proc;
    uv_pipe_t out;
    kl_client_t *c; /* NULL once the client is gone */
    kl_buf_t buf;
    int64_t status;
    int pending; /* handles not yet closed */
    bool exited, eof;
} exec_run_t;

bool kl__exec_needed(kl_client_t *c)
{
    if (c->cfg->exec == NULL)
        return false;
    if (!c->exec_valid)
        return true;
    return c->exec_expiry && (int64_t)time(NULL) + 10 >= c->exec_expiry;
}

static void run_closed(uv_handle_t *h)
{
    exec_run_t *run = h->data;
    if (--run->pending == 0) {
        kl_buf_cleanup(&run->buf);
        free(run);
    }
}

static void fail_pending(kl_client_t *c, const char *msg);

static void finish_run(exec_run_t *run)
{
    if (!run->exited || !run->eof)
        return;
    kl_client_t *c = run->c;
    uv_close((uv_handle_t *)&run->proc, run_closed);
    uv_close((uv_handle_t *)&run->out, run_closed);
    if (c == NULL)
        return;
    c->exec_proc = NULL;
    c->exec_running = false;
    char msg[600];
    kl_obj_t *doc = NULL;
    if (run->status != 0) {
        snprintf(msg, sizeof(msg), "exec plugin %s exited with status %lld", c->cfg->exec->command,
                 (long long)run->status);
        goto fail;
    }
    kl_errinfo_t perr;
    if (kl_obj_parse_json(run->buf.data ? run->buf.data : "", run->buf.len, NULL, &doc, &perr) <
        0) {
        snprintf(msg, sizeof(msg), "exec plugin %s: output is not JSON: %s", c->cfg->exec->command,
                 perr.msg);
        goto fail;
    }
    kl_val_t root = kl_obj_root(doc);
    const char *kind = kl_val_path_str(root, "kind", NULL);
    kl_val_t st = kl_val_get(root, "status");
    const char *tok = kl_val_path_str(st, "token", NULL);
    const char *cert = kl_val_path_str(st, "clientCertificateData", NULL);
    const char *key = kl_val_path_str(st, "clientKeyData", NULL);
    const char *exp = kl_val_path_str(st, "expirationTimestamp", NULL);
    if (kind == NULL || strcmp(kind, "ExecCredential") != 0 || (tok == NULL && cert == NULL) ||
        ((cert == NULL) != (key == NULL))) {
        snprintf(msg, sizeof(msg),
                 "exec plugin %s: expected an ExecCredential with status.token or "
                 "status.clientCertificateData and clientKeyData",
                 c->cfg->exec->command);
        goto fail;
    }
    free(c->token);
    c->token = tok ? strdup(tok) : NULL;
    free(c->exec_cert);
    free(c->exec_key);
    c->exec_cert = cert ? strdup(cert) : NULL;
    c->exec_key = key ? strdup(key) : NULL;
    c->exec_expiry = 0;
    struct tm tm = {0};
    /* RFC 3339 in UTC ("2024-05-14T09:21:37Z"), as ExecCredential plugins write it. */
    if (exp && sscanf(exp, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                      &tm.tm_min, &tm.tm_sec) == 6) {
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        c->exec_expiry = (int64_t)timegm(&tm);
    }
    c->exec_valid = true;
    c->exec_failures = 0;
    kl_obj_unref(doc);
    kl__client_wake(c);
    return;
fail:
    kl_obj_unref(doc);
    KL_WARN(COMP, "%s", msg);
    fail_pending(c, msg);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    exec_run_t *run = p->data;
    run->exited = true;
    run->status = sig ? 128 + sig : status;
    finish_run(run);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    exec_run_t *run = h->data;
    int rc;
    char *p = kl_buf_reserve(&run->buf, 65536, &rc);
    buf->base = p;
    buf->len = p ? 65536 : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    exec_run_t *run = s->data;
    if (n > 0) {
        kl_buf_commit(&run->buf, (size_t)n);
        return;
    }
    if (n < 0) {
        uv_read_stop(s);
        run->eof = true;
        finish_run(run);
    }
}

void kl__exec_refresh(kl_client_t *c)
{
    if (c->exec_running)
        return;
    kl_exec_config_t *e = c->cfg->exec;
    exec_run_t *run = calloc(1, sizeof(*run));
    if (run == NULL) {
        fail_pending(c, "out of memory");
        return;
    }
    kl_buf_init(&run->buf, EXEC_OUT_MAX);
    run->c = c;
    size_t nenv = 0, nargs = 0;
    while (environ[nenv])
        nenv++;
    for (char **p = e->env; p && *p; p++)
        nenv++;
    for (char **p = e->args; p && *p; p++)
        nargs++;
    char **env = calloc(nenv + 2, sizeof(char *));
    char **args = calloc(nargs + 2, sizeof(char *));
    char info[512];
    snprintf(info, sizeof(info),
             "KUBERNETES_EXEC_INFO={\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
             "\"spec\":{\"interactive\":false}}",
             e->api_version);
    int rc = env && args ? 0 : UV_ENOMEM;
    if (rc == 0) {
        size_t k = 0;
        for (char **p = environ; *p; p++)
            env[k++] = *p;
        for (char **p = e->env; p && *p; p++)
            env[k++] = *p;
        env[k++] = info;
        args[0] = e->command;
        for (size_t i = 0; i < nargs; i++)
            args[i + 1] = e->args[i];
        uv_pipe_init(c->loop, &run->out, 0);
        run->out.data = run;
        run->proc.data = run;
        uv_stdio_container_t stdio[3] = {
            {.flags = UV_IGNORE},
            {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&run->out},
            {.flags = UV_INHERIT_FD, .data.fd = 2}};
        uv_process_options_t po = {.exit_cb = on_exit_cb,
                                   .file = e->command,
                                   .args = args,
                                   .env = env,
                                   .stdio_count = 3,
                                   .stdio = stdio};
        rc = uv_spawn(c->loop, &run->proc, &po);
        if (rc < 0) {
            run->pending = 1;
            uv_close((uv_handle_t *)&run->out, run_closed);
            /* uv_spawn failures still require closing the process handle. */
            run->pending++;
            uv_close((uv_handle_t *)&run->proc, run_closed);
        } else {
            run->pending = 2;
            uv_read_start((uv_stream_t *)&run->out, on_alloc, on_read);
            c->exec_running = true;
            c->exec_proc = &run->proc;
        }
    }
    free(env);
    free(args);
    if (rc < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "exec plugin %s: %s", e->command, uv_strerror(rc));
        if (env == NULL || args == NULL) {
            kl_buf_cleanup(&run->buf);
            free(run);
        }
        KL_WARN(COMP, "%s", msg);
        fail_pending(c, msg);
    }
}

/* Fails the requests waiting for credentials (the plugin cannot provide any). */
static void fail_pending(kl_client_t *c, const char *msg)
{
    c->exec_failures++;
    kl_req_t *list = c->pending_head;
    c->pending_head = c->pending_tail = NULL;
    while (list) {
        kl_req_t *r = list;
        list = r->next;
        r->next = r->prev = NULL;
        r->state = RS_DONE;
        kl_status_t st = {0, "", msg, NULL, 0};
        if (c->stats.in_flight)
            c->stats.in_flight--;
        if (r->kind == REQ_WATCH) {
            kl_watch_t *w = r->watch;
            w->req = NULL;
            kl__req_free(r);
            kl__watch_finish(w, KL_EUNAUTHORIZED, &st);
            continue;
        }
        if (r->kind == REQ_LIST)
            r->list_cb(c, KL_EUNAUTHORIZED, NULL, &st, r->ud);
        else
            r->cb(c, KL_EUNAUTHORIZED, NULL, &st, r->ud);
        kl__req_free(r);
    }
}

void kl__exec_cleanup(kl_client_t *c)
{
    if (c->exec_proc) {
        exec_run_t *run = c->exec_proc->data;
        run->c = NULL;
        uv_process_kill(c->exec_proc, SIGTERM);
        c->exec_proc = NULL;
    }
}
