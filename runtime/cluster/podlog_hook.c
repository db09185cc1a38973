/* The API server's log hooks backed by podlog.h. See podlog_hook.h. */
#include "cluster/podlog_hook.h"

#include <stdlib.h>

#include "kubelua/podlog.h"

typedef struct follow_adapter {
    kl_podlog_follow_t *f;
    void (*on_data)(void *stream, const char *data, size_t len);
    void (*on_end)(void *stream, int rc);
    void *stream;
} follow_adapter_t;

static void adapter_data(kl_podlog_follow_t *f, const char *data, size_t len, void *ud)
{
    follow_adapter_t *a = ud;
    (void)f;
    a->on_data(a->stream, data, len);
}

static void adapter_end(kl_podlog_follow_t *f, int rc, void *ud)
{
    follow_adapter_t *a = ud;
    (void)f;
    a->on_end(a->stream, rc);
}

static int follow_start(uv_loop_t *loop, const kl_log_request_t *r,
                        void (*on_data)(void *stream, const char *data, size_t len),
                        void (*on_end)(void *stream, int rc), void *stream, void **handle, void *ud)
{
    follow_adapter_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return KL_ENOMEM;
    a->on_data = on_data;
    a->on_end = on_end;
    a->stream = stream;
    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    q.namespace = r->namespace;
    q.pod = r->pod;
    q.uid = r->uid;
    q.container = r->container;
    q.tail_lines = r->tail_lines;
    q.limit_bytes = r->limit_bytes;
    q.since_seconds = r->since_seconds;
    q.timestamps = r->timestamps != 0;
    kl_errinfo_t err;
    int rc = kl_podlog_follow_start(loop, ud, &q, adapter_data, adapter_end, a, &a->f, &err);
    if (rc < 0) {
        free(a);
        return rc;
    }
    *handle = a;
    return 0;
}

static void follow_resume(void *handle)
{
    follow_adapter_t *a = handle;
    kl_podlog_follow_resume(a->f);
}

static void follow_free(void *handle)
{
    follow_adapter_t *a = handle;
    if (a == NULL)
        return;
    kl_podlog_follow_free(a->f);
    free(a);
}

void kl_podlog_install(kl_apiserver_t *srv, const char *data_dir)
{
    kl_apiserver_set_log_provider(srv, kl_podlog_provider, (void *)data_dir);
    kl_log_follow_ops_t ops = {.start = follow_start,
                               .resume = follow_resume,
                               .free = follow_free,
                               .ud = (void *)data_dir};
    kl_apiserver_set_log_follow(srv, &ops);
}
