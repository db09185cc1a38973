/* The event recorder: core/v1 Events about objects, aggregated like client-go's recorder (a
 * repeat of the same type, reason and message about the same object within ten minutes bumps
 * `count` and `lastTimestamp` of the existing Event instead of creating a new one). Events are
 * written asynchronously; a reconcile never waits for one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/ktime.h"
#include "kubelua/log.h"

#include "controller/controller_int.h"

#define AGGREGATE_WINDOW 600.0
#define MAX_TRACKED 10000

typedef struct event_seen {
    char name[320];
    char ns[256];
    int64_t count;
    double last;
} event_seen_t;

static void on_event_written(int rc, kl_obj_t *result, const kl_write_status_t *st, void *ud)
{
    if (rc < 0)
        KL_DEBUG("events", "writing an event failed: %s", st ? st->message : kl_strerror(rc));
    kl_obj_unref(result);
}

static kl_rtype_t *events_resource(kl_manager_t *m)
{
    kl_rtype_t *res;
    kl_backend_t *b = m->o.backend;
    if (b->ops->resolve(b, "v1/events", &res, NULL) < 0)
        return NULL;
    return res;
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
    kl_backend_t *b = m->o.backend;
    kl_errinfo_t err;
    if (seen && now - seen->last < AGGREGATE_WINDOW) {
        seen->count++;
        seen->last = now;
        kl_json_t *patch = kl_json_object();
        if (patch == NULL || kl_json_set_int(patch, "count", seen->count) < 0 ||
            kl_json_set_str(patch, "lastTimestamp", ts) < 0) {
            kl_json_free(patch);
            return;
        }
        kl_write_t w = {.op = KL_WRITE_PATCH,
                        .res = evres,
                        .namespace = seen->ns,
                        .name = seen->name,
                        .body = patch,
                        .patch_type = "merge",
                        .grace_seconds = -1};
        if (b->ops->write(b, &w, on_event_written, NULL, &err) < 0)
            KL_DEBUG("events", "%s", err.msg);
        kl_json_free(patch);
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
    kl_write_t w = {
        .op = KL_WRITE_CREATE, .res = evres, .namespace = evns, .body = ev, .grace_seconds = -1};
    if (b->ops->write(b, &w, on_event_written, NULL, &err) < 0)
        KL_DEBUG("events", "%s", err.msg);
    kl_json_free(ev);
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
