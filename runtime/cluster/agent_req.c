/* The node agent's writes: at most AGENT_MAX_INFLIGHT requests in flight, the rest queued
 * (heartbeats ahead of pod statuses), so that registering thousands of nodes at once neither
 * floods the server nor holds thousands of transfers and their buffers in memory. */
#include <stdlib.h>
#include <string.h>

#include "cluster/agent_int.h"

#define AGENT_MAX_INFLIGHT 128

struct agent_req {
    agent_req_t *next;
    kl_agent_t *a;
    areq_verb_t verb;
    kl_patch_type_t ptype;
    kl_resource_t r;
    kl_req_opts_t o;
    char *strs; /* the strings of r and o, one allocation */
    char *body;
    size_t len;
    kl_client_cb cb;
    void *ud;
};

static void req_free(agent_req_t *q)
{
    free(q->strs);
    free(q->body);
    free(q);
}

static char *put(char **p, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    char *out = *p;
    *p += n;
    return out;
}

static size_t slen(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static void pump(kl_agent_t *a);

static void done(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st, void *ud)
{
    agent_req_t *q = ud;
    kl_agent_t *a = q->a;
    a->inflight--;
    q->cb(c, rc, body, st, q->ud);
    req_free(q);
    pump(a);
}

static int issue(agent_req_t *q)
{
    kl_agent_t *a = q->a;
    int rc;
    switch (q->verb) {
    case AREQ_CREATE:
        rc = kl_client_create(a->client, &q->r, &q->o, q->body, q->len, done, q, NULL);
        break;
    case AREQ_PATCH:
        rc = kl_client_patch(a->client, &q->r, &q->o, q->ptype, q->body, q->len, done, q, NULL);
        break;
    default:
        rc = kl_client_delete(a->client, &q->r, &q->o, done, q, NULL);
        break;
    }
    if (rc == 0)
        a->inflight++;
    return rc;
}

static void pump(kl_agent_t *a)
{
    while (a->inflight < AGENT_MAX_INFLIGHT && a->client && !a->freeing) {
        agent_req_t *q = a->urgent_head ? a->urgent_head : a->queue_head;
        if (q == NULL)
            return;
        if (q == a->urgent_head) {
            a->urgent_head = q->next;
            if (a->urgent_head == NULL)
                a->urgent_tail = NULL;
        } else {
            a->queue_head = q->next;
            if (a->queue_head == NULL)
                a->queue_tail = NULL;
        }
        q->next = NULL;
        int rc = issue(q);
        if (rc < 0) {
            q->cb(a->client, rc, NULL, NULL, q->ud);
            req_free(q);
        }
    }
}

int agent_request(kl_agent_t *a, bool urgent, areq_verb_t verb, kl_patch_type_t ptype,
                  const kl_resource_t *r, const kl_req_opts_t *o, const char *body, size_t len,
                  kl_client_cb cb, void *ud)
{
    agent_req_t *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return KL_ENOMEM;
    size_t n = slen(r->group) + slen(r->version) + slen(r->resource) + slen(r->namespace) +
               slen(r->name) + slen(r->subresource) + (o ? slen(o->precondition_uid) : 0) + 1;
    q->strs = malloc(n);
    q->body = body ? malloc(len + 1) : NULL;
    if (q->strs == NULL || (body && q->body == NULL)) {
        req_free(q);
        return KL_ENOMEM;
    }
    char *p = q->strs;
    q->a = a;
    q->verb = verb;
    q->ptype = ptype;
    q->r.group = put(&p, r->group);
    q->r.version = put(&p, r->version);
    q->r.resource = put(&p, r->resource);
    q->r.namespace = put(&p, r->namespace);
    q->r.name = put(&p, r->name);
    q->r.subresource = put(&p, r->subresource);
    if (o) {
        q->o = *o;
        q->o.precondition_uid = put(&p, o->precondition_uid);
    }
    if (body) {
        memcpy(q->body, body, len);
        q->body[len] = '\0';
    }
    q->len = len;
    q->cb = cb;
    q->ud = ud;
    bool queued = a->urgent_head || (!urgent && a->queue_head);
    if (!queued && a->inflight < AGENT_MAX_INFLIGHT) {
        int rc = issue(q);
        if (rc < 0)
            req_free(q);
        return rc;
    }
    if (urgent) {
        if (a->urgent_tail)
            a->urgent_tail->next = q;
        else
            a->urgent_head = q;
        a->urgent_tail = q;
    } else {
        if (a->queue_tail)
            a->queue_tail->next = q;
        else
            a->queue_head = q;
        a->queue_tail = q;
    }
    return 0;
}

void agent_requests_drop(kl_agent_t *a)
{
    agent_req_t *lists[2] = {a->urgent_head, a->queue_head};
    for (int i = 0; i < 2; i++) {
        for (agent_req_t *q = lists[i], *next; q; q = next) {
            next = q->next;
            req_free(q);
        }
    }
    a->urgent_head = a->urgent_tail = a->queue_head = a->queue_tail = NULL;
}
