/* The node agent's in-process Lease renewals (apiserver/local.h), used when the agent runs in
 * the API server's process (kubelua up): the renewals of one loop turn go to the server's
 * thread as one batch, and their results come back through a uv_async. */
#include <stdlib.h>
#include <string.h>

#include "kubelua/log.h"

#include "cluster/agent_int.h"

typedef struct lease_batch {
    struct lease_batch *next;
    kl_agent_t *a;
    size_t n, cap;
    agent_node_t **nodes;
    kl_local_lease_t *leases;
} lease_batch_t;

static void batch_free(lease_batch_t *b)
{
    free(b->nodes);
    free(b->leases);
    free(b);
}

/* Server thread. */
static void batch_done(kl_local_lease_t *leases, size_t n, void *ud)
{
    lease_batch_t *b = ud;
    kl_agent_t *a = b->a;
    (void)leases;
    (void)n;
    pthread_mutex_lock(&a->local_mu);
    b->next = a->local_done;
    a->local_done = b;
    uv_async_send(&a->local_async);
    a->local_outstanding--;
    pthread_cond_signal(&a->local_cond);
    pthread_mutex_unlock(&a->local_mu);
}

static void lease_result(agent_node_t *n, int rc)
{
    kl_agent_t *a = n->a;
    n->lease_inflight = false;
    if (n->state == NODE_GONE || a->stopping)
        return;
    if (rc == 0) {
        n->lease_created = true;
        a->stats.lease_writes++;
    } else if (rc == KL_ENOTFOUND) {
        agent_lease_create(n);
    } else {
        a->stats.write_errors++;
        KL_DEBUG("agent", "node %s: lease: %s", n->name, kl_strerror(rc));
    }
}

/* Agent thread: results of finished batches. */
static void on_local_async(uv_async_t *h)
{
    kl_agent_t *a = h->data;
    pthread_mutex_lock(&a->local_mu);
    lease_batch_t *done = a->local_done;
    a->local_done = NULL;
    pthread_mutex_unlock(&a->local_mu);
    while (done) {
        lease_batch_t *b = done;
        done = b->next;
        for (size_t i = 0; i < b->n; i++) {
            lease_result(b->nodes[i], b->leases[i].rc);
            agent_node_unref(b->nodes[i]);
        }
        batch_free(b);
    }
}

int agent_local_init(kl_agent_t *a)
{
    pthread_mutex_init(&a->local_mu, NULL);
    pthread_cond_init(&a->local_cond, NULL);
    uv_async_init(a->loop, &a->local_async, on_local_async);
    a->local_async.data = a;
    a->local_inited = true;
    return 0;
}

void agent_local_renew(agent_node_t *n, int64_t now_ms)
{
    kl_agent_t *a = n->a;
    lease_batch_t *b = a->local_batch;
    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        if (b == NULL)
            return;
        b->a = a;
        a->local_batch = b;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        agent_node_t **nodes = realloc(b->nodes, cap * sizeof(*nodes));
        if (nodes == NULL)
            return;
        b->nodes = nodes;
        kl_local_lease_t *leases = realloc(b->leases, cap * sizeof(*leases));
        if (leases == NULL)
            return;
        b->leases = leases;
        b->cap = cap;
    }
    kl_local_lease_t *l = &b->leases[b->n];
    memset(l, 0, sizeof(*l));
    snprintf(l->namespace, sizeof(l->namespace), "kube-node-lease");
    snprintf(l->name, sizeof(l->name), "%s", n->name);
    snprintf(l->holder, sizeof(l->holder), "%s", n->name);
    l->duration_seconds = 40;
    l->renew_us = now_ms * 1000;
    b->nodes[b->n++] = n;
    n->refs++;
    n->lease_inflight = true;
    agent_flush_soon(a);
}

void agent_local_flush(kl_agent_t *a)
{
    lease_batch_t *b = a->local_batch;
    if (b == NULL || b->n == 0)
        return;
    a->local_batch = NULL;
    pthread_mutex_lock(&a->local_mu);
    a->local_outstanding++;
    pthread_mutex_unlock(&a->local_mu);
    if (kl_local_renew_leases(a->local, b->leases, b->n, batch_done, b) < 0) {
        pthread_mutex_lock(&a->local_mu);
        a->local_outstanding--;
        pthread_mutex_unlock(&a->local_mu);
        for (size_t i = 0; i < b->n; i++) {
            b->nodes[i]->lease_inflight = false;
            agent_node_unref(b->nodes[i]);
        }
        batch_free(b);
    }
}

/* Waits for the batches still on the server's thread, drops everything (no callbacks), and
 * closes the async handle (the agent's closing count is taken by the caller). */
void agent_local_close(kl_agent_t *a, uv_close_cb cb)
{
    if (!a->local_inited)
        return;
    pthread_mutex_lock(&a->local_mu);
    while (a->local_outstanding > 0)
        pthread_cond_wait(&a->local_cond, &a->local_mu);
    lease_batch_t *done = a->local_done;
    a->local_done = NULL;
    pthread_mutex_unlock(&a->local_mu);
    while (done) {
        lease_batch_t *b = done;
        done = b->next;
        batch_free(b);
    }
    if (a->local_batch)
        batch_free(a->local_batch);
    a->local_batch = NULL;
    pthread_mutex_destroy(&a->local_mu);
    pthread_cond_destroy(&a->local_cond);
    uv_close((uv_handle_t *)&a->local_async, cb);
}
