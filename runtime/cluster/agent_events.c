/* The kubelet's Events for process-mode containers (Pulled, Created, Started, Failed, BackOff,
 * Killing), so that `kubectl describe pod` and `kubectl get events` tell what happened.
 * Simulated pods record none: at thousands of pods they would only be write load. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/json.h"
#include "kubelua/ktime.h"
#include "kubelua/log.h"

#include "cluster/agent_int.h"

static void event_done(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                       void *ud)
{
    (void)c;
    (void)body;
    (void)ud;
    if (rc < 0)
        KL_DEBUG("agent", "event: %s", st ? st->message : kl_strerror(rc));
}

void agent_event(agent_pod_t *p, const kl_cstatus_t *c, bool warning, const char *reason,
                 const char *fmt, ...)
{
    static uint32_t seq;
    kl_agent_t *a = p->a;
    if (p->simulated || a->stopping)
        return;
    char msg[1024], name[400], ts[32], field[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int64_t ms = agent_now();
    kl_time_format_rfc3339(ms / 1000, ts);
    snprintf(name, sizeof(name), "%.250s.%llx%04x", p->name, (unsigned long long)ms * 1000000ull,
             ++seq & 0xffff);
    kl_json_t *ev = kl_json_object(), *md, *io, *src;
    if (ev == NULL)
        return;
    md = kl_json_ensure_object(ev, "metadata");
    io = kl_json_ensure_object(ev, "involvedObject");
    src = kl_json_ensure_object(ev, "source");
    if (md == NULL || io == NULL || src == NULL)
        goto out;
    if (c)
        snprintf(field, sizeof(field), "spec.%s{%s}", c->init ? "initContainers" : "containers",
                 c->name);
    if (kl_json_set_str(ev, "apiVersion", "v1") < 0 || kl_json_set_str(ev, "kind", "Event") < 0 ||
        kl_json_set_str(md, "name", name) < 0 || kl_json_set_str(md, "namespace", p->ns) < 0 ||
        kl_json_set_str(io, "apiVersion", "v1") < 0 || kl_json_set_str(io, "kind", "Pod") < 0 ||
        kl_json_set_str(io, "namespace", p->ns) < 0 || kl_json_set_str(io, "name", p->name) < 0 ||
        kl_json_set_str(io, "uid", p->uid) < 0 ||
        (c && kl_json_set_str(io, "fieldPath", field) < 0) ||
        kl_json_set_str(ev, "reason", reason) < 0 || kl_json_set_str(ev, "message", msg) < 0 ||
        kl_json_set_str(src, "component", "kubelet") < 0 ||
        kl_json_set_str(src, "host", p->node->name) < 0 ||
        kl_json_set_str(ev, "firstTimestamp", ts) < 0 ||
        kl_json_set_str(ev, "lastTimestamp", ts) < 0 || kl_json_set_int(ev, "count", 1) < 0 ||
        kl_json_set_str(ev, "type", warning ? "Warning" : "Normal") < 0 ||
        kl_json_set_str(ev, "reportingComponent", "kubelet") < 0 ||
        kl_json_set_str(ev, "reportingInstance", p->node->name) < 0)
        goto out;
    size_t len;
    char *body = kl_json_encode_alloc(ev, &len);
    if (body) {
        kl_resource_t r = {.group = "", .version = "v1", .resource = "events", .namespace = p->ns};
        if (agent_request(a, false, AREQ_CREATE, 0, &r, NULL, body, len, event_done, NULL) < 0)
            KL_DEBUG("agent", "event %s for %s not sent", reason, p->key);
        free(body);
    }
out:
    kl_json_free(ev);
}
