/* In-process Lease renewals for the embedded cluster's node agent. See local.h.
 * Written by the node agent's author as a separate file: it only uses kl_persist and the
 * registry/store lookups, and changes nothing else of the server. */
#include "apiserver/local.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/json.h"
#include "kubelua/ktime.h"
#include "kubelua/log.h"

#include "apiserver/handlers_int.h"
#include "apiserver/server_int.h"

typedef struct job {
    struct job *next;
    kl_local_lease_t *leases;
    size_t n;
    kl_local_done_fn done;
    void *ud;
} job_t;

struct kl_local {
    kl_apiserver_t *srv;
    uv_async_t async;
    pthread_mutex_t mu;
    job_t *head, *tail;
    bool closing;
    uv_sem_t closed;
};

static int renew(kl_apiserver_t *srv, kl_res_t *res, kl_local_lease_t *l)
{
    char key[600], ts[40];
    kl_name_key(res, l->namespace, l->name, key, sizeof(key));
    kl_entry_t *e = kl_store_get(res->table, key);
    if (e == NULL)
        return KL_ENOTFOUND;
    kl_json_t *obj = kl_json_from_val(kl_obj_root(e->obj->doc));
    kl_json_t *spec = obj ? kl_json_ensure_object(obj, "spec") : NULL;
    kl_time_format_rfc3339_micro(l->renew_us / 1000000, (int32_t)(l->renew_us % 1000000), ts);
    if (spec == NULL || kl_json_set_str(spec, "holderIdentity", l->holder) < 0 ||
        kl_json_set_int(spec, "leaseDurationSeconds", l->duration_seconds) < 0 ||
        kl_json_set_str(spec, "renewTime", ts) < 0) {
        kl_json_free(obj);
        return KL_ENOMEM;
    }
    kl_sobj_t *stored;
    kl_errinfo_t err;
    int rc = kl_persist(srv, res, key, obj, &stored, &err);
    kl_json_free(obj);
    if (rc < 0)
        KL_WARN("apiserver", "lease %s: %s", key, err.msg);
    return rc;
}

/* The last thing done with l on the server's thread: kl_local_free may free it now. */
static void on_closed(uv_handle_t *h)
{
    kl_local_t *l = h->data;
    uv_sem_post(&l->closed);
}

static void on_async(uv_async_t *a)
{
    kl_local_t *l = a->data;
    pthread_mutex_lock(&l->mu);
    job_t *jobs = l->head;
    bool closing = l->closing;
    l->head = l->tail = NULL;
    pthread_mutex_unlock(&l->mu);
    kl_res_t *res = kl_registry_find(l->srv->reg, "coordination.k8s.io", "v1", "leases");
    /* One transaction for the whole batch; the agent hears back once it is committed. */
    kl_errinfo_t err;
    bool batched = kl_store_batch_begin(l->srv->store, &err) == 0;
    for (job_t *j = jobs; j; j = j->next)
        for (size_t i = 0; i < j->n; i++)
            j->leases[i].rc = res ? renew(l->srv, res, &j->leases[i]) : KL_ENOTFOUND;
    if (batched && kl_store_batch_end(l->srv->store, &err) < 0) {
        KL_WARN("apiserver", "committing lease renewals failed: %s", err.msg);
        for (job_t *j = jobs; j; j = j->next)
            for (size_t i = 0; i < j->n; i++)
                if (j->leases[i].rc == 0)
                    j->leases[i].rc = KL_EIO;
    }
    for (job_t *j = jobs, *next; j; j = next) {
        next = j->next;
        j->done(j->leases, j->n, j->ud);
        free(j);
    }
    if (closing)
        uv_close((uv_handle_t *)&l->async, on_closed);
}

int kl_local_new(kl_apiserver_t *srv, kl_local_t **out)
{
    kl_local_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return KL_ENOMEM;
    l->srv = srv;
    pthread_mutex_init(&l->mu, NULL);
    if (uv_sem_init(&l->closed, 0) != 0 || uv_async_init(srv->loop, &l->async, on_async) != 0) {
        pthread_mutex_destroy(&l->mu);
        free(l);
        return KL_EIO;
    }
    l->async.data = l;
    *out = l;
    return 0;
}

int kl_local_renew_leases(kl_local_t *l, kl_local_lease_t *leases, size_t n, kl_local_done_fn done,
                          void *ud)
{
    job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return KL_ENOMEM;
    j->leases = leases;
    j->n = n;
    j->done = done;
    j->ud = ud;
    pthread_mutex_lock(&l->mu);
    if (l->closing) {
        pthread_mutex_unlock(&l->mu);
        free(j);
        return KL_ECLOSED;
    }
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    pthread_mutex_unlock(&l->mu);
    uv_async_send(&l->async);
    return 0;
}

void kl_local_free(kl_local_t *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    l->closing = true;
    pthread_mutex_unlock(&l->mu);
    uv_async_send(&l->async);
    uv_sem_wait(&l->closed);
    uv_sem_destroy(&l->closed);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
