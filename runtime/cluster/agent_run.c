/* The node agent's containers: processes (proc.h) or timers (simulated mode). See agent.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/log.h"

#include "cluster/agent_int.h"

#define NOT_SET (-3)

kl_val_t agent_ctr_spec(const agent_pod_t *p, const agent_ctr_t *r)
{
    kl_val_t spec = kl_val_get(kl_obj_root(p->obj), "spec");
    return kl_val_at(kl_val_get(spec, r->st->init ? "initContainers" : "containers"),
                     r->spec_index);
}

bool agent_ctr_alive(const agent_ctr_t *r)
{
    return r->st->state == KL_CSTATE_RUNNING;
}

static int64_t probe_delay_ms(kl_val_t cspec, const char *probe)
{
    kl_val_t pr = kl_val_get(cspec, probe);
    if (kl_val_type(pr) != KL_TOBJECT)
        return -1;
    int64_t d = kl_val_int(kl_val_get(pr, "initialDelaySeconds"));
    return d > 0 ? d * 1000 : 0;
}

/* The simulated parameters of one container: annotations over the node's defaults, with the
 * run duration of batch containers (init containers, OnFailure/Never pods) and the readiness
 * probe's delay filled in where no annotation says otherwise. */
static int sim_params(const agent_pod_t *p, const agent_ctr_t *r, kl_sim_params_t *out,
                      kl_errinfo_t *err)
{
    const kl_pod_defaults_t *d = p->node->defaults;
    kl_sim_params_t def = d->sim;
    def.run_duration_ms = NOT_SET;
    def.ready_after_ms = NOT_SET;
    kl_val_t ann = kl_val_path(kl_obj_root(p->obj), "metadata", "annotations", NULL);
    int rc = kl_sim_params_parse(ann, r->st->name, &def, out, err);
    if (out->run_duration_ms == NOT_SET) {
        bool batch = (r->st->init && !r->st->sidecar) || p->ps.restart_policy != KL_RESTART_ALWAYS;
        if (r->st->sidecar)
            batch = false;
        out->run_duration_ms = batch ? d->batch_run_duration_ms : d->sim.run_duration_ms;
    }
    if (out->ready_after_ms == NOT_SET) {
        int64_t probe = probe_delay_ms(agent_ctr_spec(p, r), "readinessProbe");
        out->ready_after_ms = probe >= 0 ? probe : d->sim.ready_after_ms;
    }
    return rc;
}

/* Timers of a run that began at st->started_ms (also one adopted after a restart). */
static void arm_run(agent_pod_t *p, agent_ctr_t *r, const kl_sim_params_t *sp)
{
    kl_cstatus_t *c = r->st;
    kl_val_t cspec = agent_ctr_spec(p, r);
    int64_t t0 = c->started_ms;
    int64_t startup = probe_delay_ms(cspec, "startupProbe");
    r->started_at = t0 + (startup > 0 ? startup : 0);
    if (c->init && !c->sidecar) {
        r->ready_at = -1; /* init containers are ready once they succeeded */
    } else if (sp) {
        r->ready_at = t0 + sp->ready_after_ms;
    } else {
        int64_t ready = probe_delay_ms(cspec, "readinessProbe");
        r->ready_at = t0 + (ready > 0 ? ready : 0);
    }
    if (r->ready_at >= 0 && r->ready_at < r->started_at)
        r->ready_at = r->started_at;
    r->end_at = -1;
    if (sp && sp->run_duration_ms != KL_SIM_FOREVER)
        r->end_at = t0 + sp->run_duration_ms;
    r->kill_at = 0;
    r->stopping = r->killed = false;
}

void agent_ctr_resume(agent_pod_t *p, agent_ctr_t *r)
{
    kl_sim_params_t sp;
    kl_errinfo_t err;
    if (p->simulated) {
        if (sim_params(p, r, &sp, &err) < 0)
            KL_DEBUG("agent", "pod %s: %s", p->key, err.msg);
        arm_run(p, r, &sp);
    } else {
        arm_run(p, r, NULL);
    }
}

/* ---- Environment references ------------------------------------------------------------- */

typedef struct resolve_ctx {
    agent_pod_t *p;
    char *scratch[64];
    size_t nscratch;
    bool waiting; /* a ConfigMap/Secret informer is still syncing */
} resolve_ctx_t;

static void informer_synced(kl_informer_t *inf, void *ud)
{
    kl_agent_t *a = ud;
    (void)inf;
    size_t it = 0;
    const char *key;
    void *val;
    while (kl_strmap_next(&a->pods, &it, &key, &val)) {
        agent_pod_t *p = val;
        if (!p->simulated && !p->done)
            agent_pod_sync(p);
    }
}

static kl_informer_t *lazy_informer(kl_agent_t *a, bool secrets)
{
    kl_informer_t **slot = secrets ? &a->secret_inf : &a->cm_inf;
    if (*slot)
        return *slot;
    kl_informer_opts_t io;
    kl_informer_opts_init(&io);
    io.resource = secrets ? "v1/secrets" : "v1/configmaps";
    kl_errinfo_t err;
    kl_informer_handlers_t h = {.on_synced = informer_synced};
    if (kl_informers_get(a->infs, &io, slot, &err) < 0 ||
        kl_informer_add_handlers(*slot, &h, a, NULL) < 0 || kl_informers_start(a->infs) < 0) {
        KL_WARN("agent", "cannot watch %s: %s", io.resource, err.msg);
        return NULL;
    }
    return *slot;
}

static const char *keep(resolve_ctx_t *c, char *s)
{
    if (s == NULL || c->nscratch == sizeof(c->scratch) / sizeof(c->scratch[0])) {
        free(s);
        return NULL;
    }
    c->scratch[c->nscratch++] = s;
    return s;
}

static int b64v(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

static char *b64_decode(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n / 4 * 3 + 4);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int v = b64v(s[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return out;
}

/* "metadata.labels['k']" -> the value of label k. */
static const char *bracket_field(kl_val_t md, const char *path, const char *map)
{
    size_t ml = strlen(map);
    if (strncmp(path, map, ml) != 0 || strncmp(path + ml, "['", 2) != 0)
        return NULL;
    const char *k = path + ml + 2;
    const char *e = strstr(k, "']");
    if (e == NULL || e[2] != '\0')
        return NULL;
    char key[320];
    snprintf(key, sizeof(key), "%.*s", (int)(e - k), k);
    return kl_val_str(kl_val_path(md, map + strlen("metadata."), key, NULL), NULL);
}

static const char *resolve(kl_proc_ref_t kind, const char *name, const char *key, void *ud)
{
    resolve_ctx_t *c = ud;
    agent_pod_t *p = c->p;
    kl_val_t root = kl_obj_root(p->obj), md = kl_val_get(root, "metadata");
    switch (kind) {
    case KL_PROC_REF_FIELD:
        if (!strcmp(name, "metadata.name"))
            return p->name;
        if (!strcmp(name, "metadata.namespace"))
            return p->ns;
        if (!strcmp(name, "metadata.uid"))
            return p->uid;
        if (!strcmp(name, "spec.nodeName"))
            return p->node->name;
        if (!strcmp(name, "spec.serviceAccountName"))
            return kl_val_path_str(root, "spec", "serviceAccountName", NULL);
        if (!strcmp(name, "status.podIP") || !strcmp(name, "status.podIPs"))
            return p->ps.pod_ip;
        if (!strcmp(name, "status.hostIP") || !strcmp(name, "status.hostIPs"))
            return p->node->ip;
        if (!strncmp(name, "metadata.labels", 15))
            return bracket_field(md, name, "metadata.labels");
        if (!strncmp(name, "metadata.annotations", 20))
            return bracket_field(md, name, "metadata.annotations");
        return NULL;
    case KL_PROC_REF_ALLOCATABLE:
        return kl_json_str(kl_json_get(p->node->capacity, name));
    case KL_PROC_REF_CONFIGMAP:
    case KL_PROC_REF_SECRET: {
        bool secret = kind == KL_PROC_REF_SECRET;
        kl_informer_t *inf = lazy_informer(p->a, secret);
        if (inf == NULL)
            return NULL;
        if (!kl_informer_has_synced(inf)) {
            c->waiting = true;
            return NULL;
        }
        const kl_obj_t *o = kl_informer_get(inf, p->ns, name);
        if (o == NULL)
            return NULL;
        kl_val_t v = kl_val_path(kl_obj_root(o), "data", key, NULL);
        const char *s = kl_val_str(v, NULL);
        if (s == NULL && secret) {
            /* A Secret written with stringData that the server kept as such. */
            s = kl_val_path_str(kl_obj_root(o), "stringData", key, NULL);
            return s ? keep(c, strdup(s)) : NULL;
        }
        if (s == NULL)
            return NULL;
        return secret ? keep(c, b64_decode(s)) : keep(c, strdup(s));
    }
    }
    return NULL;
}

/* ---- Starting and stopping ---------------------------------------------------------------- */

static void proc_exited(kl_proc_t *proc, const kl_proc_status_t *st, void *ud)
{
    agent_ctr_t *r = ud;
    agent_pod_t *p = r->pod;
    (void)proc;
    kl_cstatus_terminate(r->st, st->exit_code, st->signal, st->reason,
                         st->message[0] ? st->message : NULL, st->started_at / 1000000,
                         st->finished_at / 1000000);
    kl_proc_free(r->proc);
    r->proc = NULL;
    r->stopping = false;
    KL_DEBUG("agent", "pod %s container %s exited %d (%s)", p->key, r->st->name, st->exit_code,
             st->reason);
    if (!p->a->stopping)
        agent_pod_sync(p);
}

static void start_failed(agent_ctr_t *r, const char *reason, const char *msg, int64_t now)
{
    kl_cstatus_wait(r->st, reason, msg);
    r->start_at = now + KL_BACKOFF_INITIAL_MS;
    agent_event(r->pod, r->st, true, "Failed", "Error: %s", msg);
}

static int start_process(agent_pod_t *p, agent_ctr_t *r, int64_t now)
{
    kl_agent_t *a = p->a;
    kl_cstatus_t *c = r->st;
    kl_proc_spec_t spec;
    resolve_ctx_t rc_ctx = {.p = p};
    kl_errinfo_t err;
    memset(&spec, 0, sizeof(spec));
    spec.data_dir = a->data_dir;
    spec.namespace = p->ns;
    spec.pod = p->name;
    spec.uid = p->uid;
    spec.container = c->name;
    spec.instance =
        (c->state == KL_CSTATE_TERMINATED || c->has_last) ? c->restarts + 1 : c->restarts;
    spec.helper = a->helper;
    int rc = kl_proc_spec_from_container(&spec, agent_ctr_spec(p, r), resolve, &rc_ctx, &err);
    if (rc < 0) {
        if (rc_ctx.waiting) {
            kl_cstatus_wait(c, "ContainerCreating", NULL);
            r->start_at = now + 200;
        } else {
            start_failed(r, KL_PROC_REASON_CONFIG_ERROR, err.msg, now);
        }
        goto out;
    }
    rc = kl_proc_start(a->loop, &spec, proc_exited, r, &r->proc, &err);
    if (rc < 0) {
        r->proc = NULL;
        start_failed(r, KL_PROC_REASON_CREATE_ERROR, err.msg, now);
        goto out;
    }
    kl_cstatus_run(c, kl_proc_started_at(r->proc) / 1000000);
    arm_run(p, r, NULL);
    agent_event(p, c, false, "Pulled", "Container image \"%s\" already present on machine",
                c->image);
    agent_event(p, c, false, "Created", "Created container %s", c->name);
    agent_event(p, c, false, "Started", "Started container %s", c->name);
    KL_DEBUG("agent", "pod %s container %s started (pid %d)", p->key, c->name,
             kl_proc_pid(r->proc));
out:
    kl_proc_spec_cleanup(&spec);
    for (size_t i = 0; i < rc_ctx.nscratch; i++)
        free(rc_ctx.scratch[i]);
    return rc;
}

static int start_simulated(agent_pod_t *p, agent_ctr_t *r, int64_t now)
{
    kl_sim_params_t sp;
    kl_errinfo_t err;
    if (sim_params(p, r, &sp, &err) < 0) {
        start_failed(r, KL_PROC_REASON_CONFIG_ERROR, err.msg, now);
        return KL_EINVAL;
    }
    if (r->created_at == 0 && sp.start_delay_ms > 0) {
        r->created_at = now + sp.start_delay_ms;
        kl_cstatus_wait(r->st, "ContainerCreating", NULL);
        return 0;
    }
    if (r->created_at > now)
        return 0;
    r->created_at = 0;
    kl_cstatus_run(r->st, now);
    arm_run(p, r, &sp);
    return 0;
}

int agent_ctr_start(agent_pod_t *p, agent_ctr_t *r, int64_t now)
{
    r->start_at = 0;
    return p->simulated ? start_simulated(p, r, now) : start_process(p, r, now);
}

void agent_ctr_stop(agent_pod_t *p, agent_ctr_t *r, int64_t grace_ms, int64_t now)
{
    if (grace_ms < 0)
        grace_ms = 0;
    if (r->st->state != KL_CSTATE_RUNNING) {
        r->created_at = 0;
        r->start_at = 0;
        return;
    }
    if (r->proc) {
        if (!r->stopping)
            agent_event(p, r->st, false, "Killing", "Stopping container %s", r->st->name);
        kl_proc_stop(r->proc, (uint64_t)grace_ms);
        r->stopping = true;
        return;
    }
    kl_sim_params_t sp;
    kl_errinfo_t err;
    if (sim_params(p, r, &sp, &err) < 0)
        sp.stop_delay_ms = 0;
    int64_t at = now + (sp.stop_delay_ms < grace_ms ? sp.stop_delay_ms : grace_ms);
    if (!r->stopping || at < r->kill_at) {
        r->kill_at = at;
        r->killed = sp.stop_delay_ms > grace_ms;
    }
    r->stopping = true;
}

void agent_ctr_tick(agent_pod_t *p, agent_ctr_t *r, int64_t now)
{
    kl_cstatus_t *c = r->st;
    if (c->state == KL_CSTATE_WAITING && r->created_at && now >= r->created_at) {
        agent_ctr_start(p, r, now);
        return;
    }
    if (c->state != KL_CSTATE_RUNNING)
        return;
    if (!c->started && now >= r->started_at)
        c->started = true;
    if (!c->ready && c->started && r->ready_at >= 0 && now >= r->ready_at)
        c->ready = true;
    if (r->proc)
        return;
    if (r->stopping && now >= r->kill_at) {
        if (r->killed)
            kl_cstatus_terminate(c, 137, 9, "Error", NULL, c->started_ms, now);
        else
            kl_cstatus_terminate(c, 0, 0, "Completed", NULL, c->started_ms, now);
        r->stopping = false;
        return;
    }
    if (!r->stopping && r->end_at >= 0 && now >= r->end_at) {
        kl_sim_params_t sp;
        kl_errinfo_t err;
        if (sim_params(p, r, &sp, &err) < 0) {
            sp.exit_code = 0;
            sp.reason = NULL;
        }
        kl_cstatus_terminate(c, sp.exit_code, 0,
                             sp.reason ? kl_kubelet_reason(sp.reason)
                                       : (sp.exit_code == 0 ? "Completed" : "Error"),
                             NULL, c->started_ms, r->end_at);
    }
}

static void earliest(int64_t *best, int64_t t)
{
    if (t > 0 && (*best == 0 || t < *best))
        *best = t;
}

int64_t agent_ctr_next(const agent_ctr_t *r)
{
    const kl_cstatus_t *c = r->st;
    int64_t t = 0;
    if (c->state == KL_CSTATE_WAITING) {
        earliest(&t, r->created_at);
        earliest(&t, r->start_at);
    } else if (c->state == KL_CSTATE_RUNNING) {
        if (!c->started)
            earliest(&t, r->started_at);
        if (!c->ready && r->ready_at >= 0)
            earliest(&t, r->ready_at);
        if (r->proc == NULL) {
            if (r->stopping)
                earliest(&t, r->kill_at ? r->kill_at : 1);
            else if (r->end_at >= 0)
                earliest(&t, r->end_at ? r->end_at : 1);
        }
    }
    return t;
}

void agent_ctr_release(agent_ctr_t *r)
{
    kl_proc_free(r->proc);
    r->proc = NULL;
}
