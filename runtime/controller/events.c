/* The event recorder: core/v1 Events about objects, aggregated like client-go's recorder (a
 * repeat of the same type, reason and message about the same object within ten minutes bumps
 * `count` and `lastTimestamp` of the existing Event instead of creating a new one).
 *
 * Events are best effort, as upstream's broadcaster makes them: a reconcile never waits for
 * one, each controller writes its events one at a time in the order they were recorded (so an
 * aggregation patch never overtakes the creation it patches, and a burst of events never
 * crowds the controller's own writes out of the API server), and at most EVENTS_QUEUE_MAX wait;
 * beyond that new events are dropped and counted (kubelua_events_dropped_total). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/ktime.h"
#include "kubelua/log.h"

#include "controller/controller_int.h"

#define AGGREGATE_WINDOW 600.0
#define MAX_TRACKED 10000
#define EVENTS_QUEUE_MAX 1000 /* client-go's maxQueuedEvents */
#define DROP_WARN_EVERY 60.0

/* An event write waiting for its controller's previous one. */
typedef struct event_out {
    struct event_out *next;
    kl_write_op_t op; /* KL_WRITE_CREATE or KL_WRITE_PATCH (an aggregation) */
    char ns[256];
    char name[320]; /* the Event patched; unused for creates */
    kl_json_t *body;
} event_out_t;

typedef struct event_seen {
    char name[320];
    char ns[256];
    int64_t count;
    double last;
} event_seen_t;

static void pump(kl_controller_t *c);

static void on_event_written(int rc, kl_obj_t *result, const kl_write_status_t *st, void *ud)
{
    kl_controller_t *c = ud;
    if (rc < 0)
        KL_DEBUG("events", "writing an event failed: %s", st ? st->message : kl_strerror(rc));
    kl_obj_unref(result);
    c->ev_writing = false;
    pump(c);
}

static kl_rtype_t *events_resource(kl_manager_t *m)
{
    kl_rtype_t *res;
    kl_backend_t *b = m->o.backend;
    if (b->ops->resolve(b, "v1/events", &res, NULL) < 0)
        return NULL;
    return res;
}

/* Starts the next queued write when none is in flight. */
static void pump(kl_controller_t *c)
{
    kl_backend_t *b = c->m->o.backend;
    while (!c->ev_writing && c->ev_head) {
        event_out_t *e = c->ev_head;
        c->ev_head = e->next;
        if (c->ev_head == NULL)
            c->ev_tail = NULL;
        c->ev_queued--;
        kl_rtype_t *evres = events_resource(c->m);
        kl_write_t w = {.op = e->op,
                        .res = evres,
                        .namespace = e->ns,
                        .name = e->op == KL_WRITE_PATCH ? e->name : NULL,
                        .body = e->body,
                        .patch_type = e->op == KL_WRITE_PATCH ? "merge" : NULL,
                        .grace_seconds = -1};
        kl_errinfo_t err;
        /* Set first: a backend may answer before write returns. */
        c->ev_writing = true;
        if (evres == NULL || b->ops->write(b, &w, on_event_written, c, &err) < 0) {
            c->ev_writing = false;
            if (evres)
                KL_DEBUG("events", "%s", err.msg);
        }
        kl_json_free(e->body);
        free(e);
    }
}

/* Queues body (taken) for writing; false when it was dropped (the queue is full). */
static bool send_event(kl_controller_t *c, kl_write_op_t op, const char *ns, const char *name,
                       kl_json_t *body)
{
    if (c->ev_queued >= EVENTS_QUEUE_MAX) {
        kl_json_free(body);
        c->events_dropped++;
        double now = c->m->o.backend->ops->now(c->m->o.backend);
        if (now - c->ev_drop_warned >= DROP_WARN_EVERY) {
            c->ev_drop_warned = now;
            KL_WARN(c->name,
                    "events come faster than the API server takes them: %d waiting, %llu "
                    "dropped so far",
                    EVENTS_QUEUE_MAX, (unsigned long long)c->events_dropped);
        }
        return false;
    }
    event_out_t *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        kl_json_free(body);
        return false;
    }
    e->op = op;
    e->body = body;
    snprintf(e->ns, sizeof(e->ns), "%s", ns);
    if (name)
        snprintf(e->name, sizeof(e->name), "%s", name);
    if (c->ev_tail)
        c->ev_tail->next = e;
    else
        c->ev_head = e;
    c->ev_tail = e;
    c->ev_queued++;
    pump(c);
    return true;
}

void kl_events_discard(kl_controller_t *c)
{
    while (c->ev_head) {
        event_out_t *e = c->ev_head;
        c->ev_head = e->next;
        kl_json_free(e->body);
        free(e);
    }
    c->ev_tail = NULL;
    c->ev_queued = 0;
}

static void component(const kl_controller_t *c, char *out, size_t cap)
{
    if (c->component[0]) {
        snprintf(out, cap, "%s", c->component);
        return;
    }
    size_t n = strlen(c->name);
    if (n >= 10 && strcmp(c->name + n - 10, "controller") == 0)
        snprintf(out, cap, "%s", c->name);
    else
        snprintf(out, cap, "%s-controller", c->name);
}

static void forget_all(kl_manager_t *m)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (kl_strmap_next(&m->events, &it, &k, &v))
        free(v);
    kl_strmap_clear(&m->events);
}

void kl_event_record(kl_manager_t *m, kl_controller_t *c, const kl_obj_t *obj, const char *type,
                     const char *reason, const char *message)
{
    kl_val_t root = kl_obj_root(obj);
    kl_val_t md = kl_val_get(root, "metadata");
    const char *name = kl_val_path_str(md, "name", NULL);
    const char *ns = kl_val_path_str(md, "namespace", NULL);
    const char *uid = kl_val_path_str(md, "uid", NULL);
    if (name == NULL)
        return;
    KL_DEBUG(c->name, "event %s %s on %s: %s", type, reason, name, message);
    kl_rtype_t *evres = events_resource(m);
    if (evres == NULL || m->o.dry_run)
        return;
    double now = m->o.backend->ops->now(m->o.backend);
    char ts[40];
    kl_time_format_rfc3339((int64_t)now, ts);
    char key[2048];
    snprintf(key, sizeof(key), "%s|%s|%s|%.1500s", uid ? uid : name, type, reason, message);
    event_seen_t *seen = kl_strmap_get(&m->events, key);
    if (seen && now - seen->last < AGGREGATE_WINDOW) {
        seen->count++;
        seen->last = now;
        kl_json_t *patch = kl_json_object();
        if (patch == NULL || kl_json_set_int(patch, "count", seen->count) < 0 ||
            kl_json_set_str(patch, "lastTimestamp", ts) < 0) {
            kl_json_free(patch);
            return;
        }
        (void)send_event(c, KL_WRITE_PATCH, seen->ns, seen->name, patch);
        return;
    }
    char evname[320];
    static unsigned counter;
    snprintf(evname, sizeof(evname), "%.200s.%llx%04x", name,
             (unsigned long long)(uint64_t)(now * 1e6), counter++ & 0xffffu);
    const char *evns = ns && *ns ? ns : "default";
    char comp[160];
    component(c, comp, sizeof(comp));
    kl_json_t *ev = kl_json_object();
    kl_json_t *emd = kl_json_object();
    kl_json_t *inv = kl_json_object();
    kl_json_t *src = kl_json_object();
    int rc = ev && emd && inv && src ? 0 : KL_ENOMEM;
    const char *av = kl_val_path_str(root, "apiVersion", NULL);
    const char *kind = kl_val_path_str(root, "kind", NULL);
    const char *rv = kl_val_path_str(md, "resourceVersion", NULL);
    if (rc == 0)
        rc = kl_json_set_str(emd, "name", evname);
    if (rc == 0)
        rc = kl_json_set_str(emd, "namespace", evns);
    if (rc == 0 && kind)
        rc = kl_json_set_str(inv, "kind", kind);
    if (rc == 0 && ns)
        rc = kl_json_set_str(inv, "namespace", ns);
    if (rc == 0)
        rc = kl_json_set_str(inv, "name", name);
    if (rc == 0 && uid)
        rc = kl_json_set_str(inv, "uid", uid);
    if (rc == 0 && av)
        rc = kl_json_set_str(inv, "apiVersion", av);
    if (rc == 0 && rv)
        rc = kl_json_set_str(inv, "resourceVersion", rv);
    if (rc == 0)
        rc = kl_json_set_str(src, "component", comp);
    if (rc == 0)
        rc = kl_json_set_str(ev, "apiVersion", "v1");
    if (rc == 0)
        rc = kl_json_set_str(ev, "kind", "Event");
    if (rc == 0) {
        rc = kl_json_set(ev, "metadata", emd);
        emd = NULL;
    }
    if (rc == 0) {
        rc = kl_json_set(ev, "involvedObject", inv);
        inv = NULL;
    }
    if (rc == 0)
        rc = kl_json_set_str(ev, "reason", reason);
    if (rc == 0)
        rc = kl_json_set_str(ev, "message", message);
    if (rc == 0) {
        rc = kl_json_set(ev, "source", src);
        src = NULL;
    }
    if (rc == 0)
        rc = kl_json_set_str(ev, "firstTimestamp", ts);
    if (rc == 0)
        rc = kl_json_set_str(ev, "lastTimestamp", ts);
    if (rc == 0)
        rc = kl_json_set_int(ev, "count", 1);
    if (rc == 0)
        rc = kl_json_set_str(ev, "type", type);
    if (rc == 0)
        rc = kl_json_set_str(ev, "reportingComponent", comp);
    if (rc == 0)
        rc = kl_json_set_str(ev, "reportingInstance", m->instance);
    kl_json_free(emd);
    kl_json_free(inv);
    kl_json_free(src);
    if (rc < 0) {
        kl_json_free(ev);
        return;
    }
    /* A dropped Event is not remembered: a repeat must create it, not patch a missing one. */
    if (!send_event(c, KL_WRITE_CREATE, evns, NULL, ev))
        return;
    if (kl_strmap_len(&m->events) >= MAX_TRACKED)
        forget_all(m);
    if (seen == NULL) {
        seen = calloc(1, sizeof(*seen));
        if (seen == NULL || kl_strmap_put(&m->events, key, seen, NULL) < 0) {
            free(seen);
            return;
        }
    }
    snprintf(seen->name, sizeof(seen->name), "%s", evname);
    snprintf(seen->ns, sizeof(seen->ns), "%s", evns);
    seen->count = 1;
    seen->last = now;
}

void kl_events_cleanup(kl_manager_t *m)
{
    forget_all(m);
    kl_strmap_cleanup(&m->events);
}
