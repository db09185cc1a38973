/* The node agent's pods: records, the per-pod sync (kubelet's syncPod), status writes and the
 * final delete. See agent.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/log.h"
#include "kubelua/pods.h"

#include "cluster/agent_int.h"

static void pod_timer_cb(uv_timer_t *t);

/* ---- Records --------------------------------------------------------------------------------- */

static void pod_closed(uv_handle_t *h)
{
    agent_pod_t *p = h->data;
    free(p);
}

static void pod_destroy(agent_pod_t *p)
{
    for (size_t i = 0; i < p->ps.ninit; i++)
        agent_ctr_release(&p->init_rt[i]);
    for (size_t i = 0; i < p->ps.nctrs; i++)
        agent_ctr_release(&p->ctr_rt[i]);
    kl_podstatus_cleanup(&p->ps);
    free(p->init_rt);
    free(p->ctr_rt);
    agent_res_free(p->requests);
    kl_obj_unref(p->obj);
    free(p->key);
    free(p->ns);
    free(p->name);
    free(p->uid);
    agent_node_unref(p->node);
    uv_close((uv_handle_t *)&p->timer, pod_closed);
}

void agent_pod_unref(agent_pod_t *p)
{
    if (--p->refs == 0)
        pod_destroy(p);
}

static void uncount(agent_pod_t *p)
{
    if (!p->counted)
        return;
    agent_node_t *n = p->node;
    agent_res_add(n->used, p->requests, -1);
    if (n->npods)
        n->npods--;
    p->counted = false;
}

static void release_ip(agent_pod_t *p)
{
    if (p->ps.pod_ip[0] && strcmp(p->ps.pod_ip, p->node->ip) != 0)
        kl_ipam_release(&p->node->ipam, p->ps.pod_ip);
}

void agent_pod_release(agent_pod_t *p)
{
    kl_agent_t *a = p->a;
    if (p->timer_due) {
        uv_timer_stop(&p->timer);
        p->timer_due = 0;
    }
    for (size_t i = 0; i < p->ps.ninit; i++)
        agent_ctr_release(&p->init_rt[i]);
    for (size_t i = 0; i < p->ps.nctrs; i++)
        agent_ctr_release(&p->ctr_rt[i]);
    if (!p->ps.terminal)
        release_ip(p);
    uncount(p);
    agent_node_t *n = p->node;
    if (p->prev_in_node)
        p->prev_in_node->next_in_node = p->next_in_node;
    else if (n->pods == p)
        n->pods = p->next_in_node;
    if (p->next_in_node)
        p->next_in_node->prev_in_node = p->prev_in_node;
    p->prev_in_node = p->next_in_node = NULL;
    bool in_table = kl_strmap_get(&a->pods, p->key) == p;
    if (in_table)
        kl_strmap_del(&a->pods, p->key, NULL);
    p->removed = true;
    if (in_table)
        agent_pod_unref(p);
}

static int setup_containers(agent_pod_t *p, kl_val_t spec)
{
    kl_val_t init = kl_val_get(spec, "initContainers"), ctrs = kl_val_get(spec, "containers");
    size_t ni = kl_val_len(init), nc = kl_val_len(ctrs);
    p->ps.init = calloc(ni ? ni : 1, sizeof(kl_cstatus_t));
    p->ps.ctrs = calloc(nc ? nc : 1, sizeof(kl_cstatus_t));
    p->init_rt = calloc(ni ? ni : 1, sizeof(agent_ctr_t));
    p->ctr_rt = calloc(nc ? nc : 1, sizeof(agent_ctr_t));
    if (!p->ps.init || !p->ps.ctrs || !p->init_rt || !p->ctr_rt)
        return KL_ENOMEM;
    for (int pass = 0; pass < 2; pass++) {
        kl_val_t list = pass ? ctrs : init;
        size_t n = pass ? nc : ni;
        for (size_t i = 0; i < n; i++) {
            kl_val_t c = kl_val_at(list, (uint32_t)i);
            kl_cstatus_t *cs = pass ? &p->ps.ctrs[i] : &p->ps.init[i];
            agent_ctr_t *r = pass ? &p->ctr_rt[i] : &p->init_rt[i];
            const char *name = kl_val_path_str(c, "name", NULL);
            const char *image = kl_val_path_str(c, "image", NULL);
            cs->name = strdup(name ? name : "");
            cs->image = strdup(image ? image : "");
            if (!cs->name || !cs->image)
                return KL_ENOMEM;
            cs->init = !pass;
            const char *rp = kl_val_path_str(c, "restartPolicy", NULL);
            cs->sidecar = !pass && rp && strcmp(rp, "Always") == 0;
            cs->reason = pass && ni ? "PodInitializing" : "ContainerCreating";
            r->pod = p;
            r->st = cs;
            r->spec_index = (uint32_t)i;
            r->ready_at = r->end_at = -1;
            if (pass)
                p->ps.nctrs++;
            else
                p->ps.ninit++;
        }
    }
    return 0;
}

/* A container the API says is running, found after a restart of the agent. */
static void adopt_running(agent_pod_t *p, agent_ctr_t *r, int64_t now)
{
    kl_cstatus_t *c = r->st;
    if (c->state != KL_CSTATE_RUNNING)
        return;
    if (p->simulated) {
        agent_ctr_resume(p, r);
        return;
    }
    kl_cstatus_terminate(c, 137, 0, "ContainerStatusUnknown",
                         "The container could not be located when the node agent restarted. "
                         "The container used to be Running",
                         c->started_ms, now);
}

static bool uid_finished(kl_agent_t *a, const char *uid)
{
    return kl_strmap_get(&a->finished, uid) != NULL;
}

static void pod_new(kl_agent_t *a, agent_node_t *n, const kl_obj_t *obj)
{
    kl_val_t root = kl_obj_root(obj), md = kl_val_get(root, "metadata"),
             spec = kl_val_get(root, "spec"), status = kl_val_get(root, "status");
    const char *ns = kl_val_path_str(md, "namespace", NULL),
               *name = kl_val_path_str(md, "name", NULL), *uid = kl_val_path_str(md, "uid", NULL);
    if (!ns || !name || !uid)
        return;
    agent_pod_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return;
    p->a = a;
    p->node = n;
    n->refs++;
    p->refs = 1;
    uv_timer_init(a->loop, &p->timer);
    p->timer.data = p;
    p->requests = agent_res_new();
    size_t kl = strlen(ns) + strlen(name) + 2;
    p->key = malloc(kl);
    p->ns = strdup(ns);
    p->name = strdup(name);
    p->uid = strdup(uid);
    p->obj = kl_obj_ref(obj);
    if (!p->key || !p->ns || !p->name || !p->uid || !p->requests || setup_containers(p, spec) < 0) {
        KL_ERROR("agent", "pod %s/%s: out of memory", ns, name);
        pod_destroy(p);
        return;
    }
    snprintf(p->key, kl, "%s/%s", ns, name);
    p->ps.uid = p->uid;
    p->ps.restart_policy = kl_restart_policy_parse(kl_val_path_str(spec, "restartPolicy", NULL));
    p->ps.qos = kl_pod_qos_class(spec);
    snprintf(p->ps.host_ip, sizeof(p->ps.host_ip), "%s", n->ip);
    const char *mode = kl_val_path_str(md, "annotations", KL_AGENT_MODE_KEY, NULL);
    if (mode && !strcmp(mode, "simulated"))
        p->simulated = true;
    else if (mode && !strcmp(mode, "process"))
        p->simulated = false;
    else
        p->simulated = n->mode == KL_SIM_MODE_SIMULATED;
    if (kl_val_len(kl_val_get(status, "containerStatuses")) > 0 ||
        kl_val_len(kl_val_get(status, "initContainerStatuses")) > 0) {
        /* Ran here before (an earlier agent): carry on from the API's record. */
        kl_podstatus_adopt(&p->ps, status);
        p->admitted = true;
        p->ps.sandbox = true;
        kl_errinfo_t err;
        if (agent_res_set_pod(p->requests, spec, &err) == 0) {
            agent_res_add(n->used, p->requests, 1);
            n->npods++;
            p->counted = true;
        }
        if (p->ps.pod_ip[0] && strcmp(p->ps.pod_ip, n->ip) != 0 &&
            !kl_ipam_claim(&n->ipam, p->ps.pod_ip))
            p->ps.pod_ip[0] = '\0';
        int64_t now = agent_now();
        for (size_t i = 0; i < p->ps.ninit; i++)
            adopt_running(p, &p->init_rt[i], now);
        for (size_t i = 0; i < p->ps.nctrs; i++)
            adopt_running(p, &p->ctr_rt[i], now);
    }
    if (kl_strmap_put(&a->pods, p->key, p, NULL) < 0) {
        pod_destroy(p);
        return;
    }
    p->next_in_node = n->pods;
    if (n->pods)
        n->pods->prev_in_node = p;
    n->pods = p;
    agent_pod_sync(p);
}

static void lone_delete_done(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                             void *ud)
{
    kl_agent_t *a = ud;
    (void)c;
    (void)body;
    if (rc == 0 || rc == KL_ENOTFOUND || rc == KL_ECONFLICT) {
        a->stats.pod_deletes++;
        return;
    }
    a->stats.write_errors++;
    KL_WARN("agent", "deleting a finished pod: %s", st ? st->message : kl_strerror(rc));
}

/* The kubelet's last word on a pod: its deletion with grace 0, for this uid only. */
static int final_delete(kl_agent_t *a, const char *ns, const char *name, const char *uid,
                        kl_client_cb cb, void *ud)
{
    kl_resource_t r = {
        .group = "", .version = "v1", .resource = "pods", .namespace = ns, .name = name};
    kl_req_opts_t o = {
        .has_grace_period = true, .grace_period_seconds = 0, .precondition_uid = uid};
    return agent_request(a, false, AREQ_DELETE, 0, &r, &o, NULL, 0, cb, ud);
}

/* A finished pod being deleted that no record holds any more (it ended before its deletion, or
 * its record was dropped): as the kubelet's status manager does, it is removed at once; nothing
 * else would confirm its termination. */
static void delete_lone(kl_agent_t *a, const char *ns, const char *name, const char *uid)
{
    if (final_delete(a, ns, name, uid, lone_delete_done, a) < 0)
        KL_WARN("agent", "pod %s/%s: cannot send its deletion", ns, name);
}

void agent_pod_seen(kl_agent_t *a, const kl_obj_t *obj, bool initial)
{
    (void)initial;
    kl_val_t root = kl_obj_root(obj), md = kl_val_get(root, "metadata");
    const char *node = kl_val_path_str(root, "spec", "nodeName", NULL);
    agent_node_t *n = node ? kl_strmap_get(&a->nodes, node) : NULL;
    if (n == NULL || n->state == NODE_GONE)
        return;
    const char *ns = kl_val_path_str(md, "namespace", NULL),
               *name = kl_val_path_str(md, "name", NULL), *uid = kl_val_path_str(md, "uid", NULL);
    if (!ns || !name || !uid)
        return;
    char key[600];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    agent_pod_t *p = kl_strmap_get(&a->pods, key);
    if (p && strcmp(p->uid, uid) != 0) {
        if (n->paused)
            return;
        agent_pod_release(p); /* an older pod of the same name */
        p = NULL;
    }
    if (p) {
        kl_obj_unref(p->obj);
        p->obj = kl_obj_ref(obj);
        if (!n->paused)
            agent_pod_sync(p);
        return;
    }
    if (n->paused)
        return;
    if (kl_pod_is_terminal(root) && kl_pod_is_deleted(root)) {
        kl_strmap_del(&a->finished, uid, NULL);
        delete_lone(a, ns, name, uid);
        return;
    }
    if (uid_finished(a, uid)) {
        if (kl_pod_is_terminal(root))
            kl_strmap_del(&a->finished, uid, NULL);
        return;
    }
    if (kl_pod_is_terminal(root))
        return;
    pod_new(a, n, obj);
}

void agent_pod_gone(kl_agent_t *a, const kl_obj_t *obj)
{
    kl_val_t root = kl_obj_root(obj), md = kl_val_get(root, "metadata");
    const char *node = kl_val_path_str(root, "spec", "nodeName", NULL);
    const char *ns = kl_val_path_str(md, "namespace", NULL),
               *name = kl_val_path_str(md, "name", NULL), *uid = kl_val_path_str(md, "uid", NULL);
    agent_node_t *n = node ? kl_strmap_get(&a->nodes, node) : NULL;
    if (!ns || !name || !uid)
        return;
    kl_strmap_del(&a->finished, uid, NULL);
    char key[600];
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    agent_pod_t *p = kl_strmap_get(&a->pods, key);
    if (p && strcmp(p->uid, uid) == 0) {
        if (p->node->paused) {
            p->removed = true; /* acted upon when the node resumes */
            return;
        }
        agent_pod_release(p);
    }
    if (n) {
        kl_errinfo_t err;
        if (kl_proc_pod_dir_remove(a->data_dir, ns, name, uid, &err) < 0)
            KL_WARN("agent", "pod %s: %s", key, err.msg);
    }
}

/* ---- Sync ------------------------------------------------------------------------------------ */

static void go_wait(kl_cstatus_t *c, const char *reason)
{
    if (c->state == KL_CSTATE_WAITING && !c->has_last && c->reason != reason)
        c->reason = reason;
}

static void fmt_duration(int64_t ms, char *out, size_t cap)
{
    int64_t s = ms / 1000;
    if (s < 60)
        snprintf(out, cap, "%llds", (long long)s);
    else
        snprintf(out, cap, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
}

/* Starts a container that is not running when its time has come: immediately the first time,
 * after the crash-loop back-off for restarts. */
static void ensure_running(agent_pod_t *p, agent_ctr_t *r, int64_t now)
{
    kl_cstatus_t *c = r->st;
    if (c->state == KL_CSTATE_RUNNING || r->created_at)
        return;
    if (c->state == KL_CSTATE_TERMINATED) {
        int64_t at = kl_backoff_restart_at(&r->backoff, c->term.finished_ms, now);
        r->pending_restart = true;
        if (at > now) {
            char msg[600], d[32];
            fmt_duration(r->backoff.backoff_ms, d, sizeof(d));
            snprintf(msg, sizeof(msg), "back-off %s restarting failed container=%s pod=%s_%s(%s)",
                     d, c->name, p->name, p->ns, p->uid);
            kl_cstatus_wait(c, "CrashLoopBackOff", msg);
            r->start_at = at;
            agent_event(p, c, true, "BackOff",
                        "Back-off restarting failed container %s in pod %s_%s(%s)", c->name,
                        p->name, p->ns, p->uid);
            return;
        }
    } else if (r->start_at > now) {
        return;
    }
    if (r->pending_restart) {
        kl_backoff_next(&r->backoff, now);
        r->pending_restart = false;
    }
    agent_ctr_start(p, r, now);
}

/* kubelet's admission: node affinity and resources. */
static bool admit(agent_pod_t *p)
{
    agent_node_t *n = p->node;
    kl_val_t spec = kl_val_get(kl_obj_root(p->obj), "spec");
    const kl_obj_t *node = kl_informer_get(p->a->nodes_inf, NULL, n->name);
    kl_errinfo_t err;
    char reason[128], msg[512];
    if (agent_res_set_pod(p->requests, spec, &err) < 0)
        KL_WARN("agent", "pod %s: requests: %s", p->key, err.msg);
    if (!agent_res_admit(spec, node ? kl_obj_root(node) : (kl_val_t){0}, n->allocatable, n->used,
                         n->npods, p->requests, reason, sizeof(reason), msg, sizeof(msg))) {
        p->ps.fail_reason = kl_kubelet_reason(reason);
        p->ps.fail_message = strdup(msg);
        return false;
    }
    agent_res_add(n->used, p->requests, 1);
    n->npods++;
    p->counted = true;
    return true;
}

static void arm(agent_pod_t *p, int64_t due, int64_t now)
{
    if (due == 0) {
        if (p->timer_due) {
            uv_timer_stop(&p->timer);
            p->timer_due = 0;
        }
        return;
    }
    if (due == p->timer_due)
        return;
    p->timer_due = due;
    uv_timer_start(&p->timer, pod_timer_cb, (uint64_t)(due > now ? due - now : 0), 0);
}

static int64_t next_due(agent_pod_t *p, int64_t now)
{
    int64_t t = 0;
    for (size_t i = 0; i < p->ps.ninit; i++) {
        int64_t x = agent_ctr_next(&p->init_rt[i]);
        if (x && (t == 0 || x < t))
            t = x;
    }
    for (size_t i = 0; i < p->ps.nctrs; i++) {
        int64_t x = agent_ctr_next(&p->ctr_rt[i]);
        if (x && (t == 0 || x < t))
            t = x;
    }
    kl_val_t spec = kl_val_get(kl_obj_root(p->obj), "spec");
    int64_t ads = kl_val_int(kl_val_get(spec, "activeDeadlineSeconds"));
    if (ads > 0 && p->ps.start_ms && !p->ps.fail_reason) {
        int64_t x = p->ps.start_ms + ads * 1000;
        if (t == 0 || x < t)
            t = x;
    }
    if (p->retry_at && (t == 0 || p->retry_at < t))
        t = p->retry_at;
    if (t && t < now)
        t = now;
    return t;
}

/* Stops every container (grace in ms); true once none runs. */
static bool stop_all(agent_pod_t *p, int64_t grace_ms, int64_t now)
{
    bool alive = false;
    for (int pass = 0; pass < 2; pass++) {
        size_t n = pass ? p->ps.nctrs : p->ps.ninit;
        agent_ctr_t *rt = pass ? p->ctr_rt : p->init_rt;
        for (size_t i = 0; i < n; i++) {
            agent_ctr_t *r = &rt[i];
            agent_ctr_tick(p, r, now);
            if (agent_ctr_alive(r)) {
                agent_ctr_stop(p, r, grace_ms, now);
                agent_ctr_tick(p, r, now);
            } else {
                r->start_at = r->created_at = 0;
                r->pending_restart = false;
                if (r->st->state == KL_CSTATE_WAITING && r->st->reason &&
                    !strcmp(r->st->reason, "CrashLoopBackOff") && r->st->has_last) {
                    /* Not restarted after all: report how the last run ended. */
                    r->st->state = KL_CSTATE_TERMINATED;
                    r->st->term = r->st->last;
                    memset(&r->st->last, 0, sizeof(r->st->last));
                    r->st->has_last = r->st->restarts > 0;
                    free(r->st->message);
                    r->st->message = NULL;
                    r->st->reason = NULL;
                }
            }
            alive |= agent_ctr_alive(r);
        }
    }
    return !alive;
}

/* The containers ran and none of them will run again. */
static bool regular_finished(const agent_pod_t *p)
{
    if (p->ps.nctrs == 0)
        return false;
    for (size_t i = 0; i < p->ps.nctrs; i++) {
        const kl_cstatus_t *c = &p->ps.ctrs[i];
        if (c->state != KL_CSTATE_TERMINATED ||
            kl_restart_wanted(p->ps.restart_policy, c->term.exit_code))
            return false;
    }
    return true;
}

static void become_terminal(agent_pod_t *p)
{
    if (p->ps.terminal)
        return;
    p->ps.terminal = true;
    p->ps.sandbox = false;
    release_ip(p);
    uncount(p);
}

void agent_pod_sync(agent_pod_t *p)
{
    kl_agent_t *a = p->a;
    if (p->removed || p->done || a->stopping || p->node->state == NODE_GONE)
        return;
    int64_t now = agent_now();
    kl_val_t root = kl_obj_root(p->obj), spec = kl_val_get(root, "spec");
    bool paused = p->node->paused;
    bool deleting = !paused && kl_pod_is_deleted(root);

    if (!p->admitted) {
        if (paused)
            return;
        p->admitted = true;
        if (!admit(p)) {
            KL_INFO("agent", "pod %s rejected: %s", p->key, p->ps.fail_reason);
            become_terminal(p);
            goto out;
        }
    }
    if (p->ps.terminal)
        goto out;
    if (!p->ps.sandbox) {
        if (kl_val_bool(kl_val_get(spec, "hostNetwork"))) {
            snprintf(p->ps.pod_ip, sizeof(p->ps.pod_ip), "%s", p->node->ip);
        } else if (!p->ps.pod_ip[0] && kl_ipam_alloc(&p->node->ipam, p->ps.pod_ip) < 0) {
            for (size_t i = 0; i < p->ps.nctrs; i++)
                kl_cstatus_wait(&p->ps.ctrs[i], "ContainerCreating",
                                "failed to allocate a pod IP: no address left in the node's "
                                "pod CIDR");
            p->retry_at = now + 5000;
            goto out;
        }
        p->ps.sandbox = true;
        if (!p->ps.start_ms)
            p->ps.start_ms = now;
    }
    int64_t ads = kl_val_int(kl_val_get(spec, "activeDeadlineSeconds"));
    if (ads > 0 && !p->ps.fail_reason && now >= p->ps.start_ms + ads * 1000) {
        p->ps.fail_reason = "DeadlineExceeded";
        p->ps.fail_message =
            strdup("Pod was active on the node longer than the specified deadline");
    }
    if (deleting || p->ps.fail_reason) {
        int64_t grace;
        if (deleting)
            grace = kl_val_int(kl_val_path(root, "metadata", "deletionGracePeriodSeconds", NULL));
        else {
            kl_val_t g = kl_val_get(spec, "terminationGracePeriodSeconds");
            grace = kl_val_missing(g) ? 30 : kl_val_int(g);
        }
        if (stop_all(p, grace * 1000, now))
            become_terminal(p);
        goto out;
    }

    for (size_t i = 0; i < p->ps.nctrs; i++)
        agent_ctr_tick(p, &p->ctr_rt[i], now);
    if (regular_finished(p)) {
        /* Every container is done for good: stop the sidecars (not restarted any more), then
         * the pod is over. */
        kl_val_t g = kl_val_get(spec, "terminationGracePeriodSeconds");
        if (stop_all(p, (kl_val_missing(g) ? 30 : kl_val_int(g)) * 1000, now))
            become_terminal(p);
        goto out;
    }
    bool init_done = true, init_failed = false;
    for (size_t i = 0; i < p->ps.ninit; i++) {
        agent_ctr_t *r = &p->init_rt[i];
        kl_cstatus_t *c = r->st;
        agent_ctr_tick(p, r, now);
        if (c->sidecar) {
            if (c->state != KL_CSTATE_RUNNING)
                ensure_running(p, r, now);
            if (c->state != KL_CSTATE_RUNNING || !c->started) {
                init_done = false;
                break;
            }
            continue;
        }
        if (c->state == KL_CSTATE_TERMINATED && c->term.exit_code == 0)
            continue;
        init_done = false;
        if (c->state == KL_CSTATE_TERMINATED && p->ps.restart_policy == KL_RESTART_NEVER) {
            init_failed = true;
            break;
        }
        if (c->state != KL_CSTATE_RUNNING) {
            ensure_running(p, r, now);
            if (c->state == KL_CSTATE_RUNNING)
                agent_ctr_tick(p, r, now);
        }
        break;
    }
    bool all_done = init_failed;
    if (init_done) {
        all_done = p->ps.nctrs > 0;
        for (size_t i = 0; i < p->ps.nctrs; i++) {
            agent_ctr_t *r = &p->ctr_rt[i];
            kl_cstatus_t *c = r->st;
            if (c->state == KL_CSTATE_TERMINATED &&
                !kl_restart_wanted(p->ps.restart_policy, c->term.exit_code))
                continue;
            all_done = false;
            if (c->state != KL_CSTATE_RUNNING) {
                ensure_running(p, r, now);
                if (c->state == KL_CSTATE_RUNNING)
                    agent_ctr_tick(p, r, now);
            }
        }
    } else {
        for (size_t i = 0; i < p->ps.nctrs; i++)
            go_wait(&p->ps.ctrs[i], "PodInitializing");
    }
    if (all_done) {
        /* Every container is done for good: stop the sidecars, then the pod is over. */
        kl_val_t g = kl_val_get(spec, "terminationGracePeriodSeconds");
        if (stop_all(p, (kl_val_missing(g) ? 30 : kl_val_int(g)) * 1000, now))
            become_terminal(p);
    }
out:
    agent_pod_mark_dirty(p);
    arm(p, p->done ? 0 : next_due(p, now), now);
}

static void pod_timer_cb(uv_timer_t *t)
{
    agent_pod_t *p = t->data;
    p->timer_due = 0;
    if (p->retry_at && agent_now() >= p->retry_at) {
        p->retry_at = 0;
        p->sent_hash = 0;
    }
    agent_pod_sync(p);
}

void agent_node_resume_pods(agent_node_t *n)
{
    kl_agent_t *a = n->a;
    agent_pod_t *next;
    for (agent_pod_t *p = n->pods; p; p = next) {
        next = p->next_in_node;
        if (p->removed) {
            char *ns = strdup(p->ns), *name = strdup(p->name), *uid = strdup(p->uid);
            agent_pod_release(p);
            kl_errinfo_t err;
            if (ns && name && uid && kl_proc_pod_dir_remove(a->data_dir, ns, name, uid, &err) < 0)
                KL_WARN("agent", "pod %s/%s: %s", ns, name, err.msg);
            free(ns);
            free(name);
            free(uid);
            continue;
        }
        p->sent_hash = 0;
        agent_pod_sync(p);
    }
    kl_obj_t **pods;
    size_t np;
    if (kl_informer_list(a->pods_inf, "node", n->name, &pods, &np) == 0) {
        for (size_t i = 0; i < np; i++)
            agent_pod_seen(a, pods[i], false);
        kl_informer_list_free(pods, np);
    }
}

/* ---- Writes ---------------------------------------------------------------------------------- */

void agent_pod_mark_dirty(agent_pod_t *p)
{
    kl_agent_t *a = p->a;
    p->dirty = true;
    if (p->in_dirty_list || p->writing)
        return;
    p->in_dirty_list = true;
    p->refs++;
    p->next_dirty = a->dirty_head;
    a->dirty_head = p;
    agent_flush_soon(a);
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * UINT64_C(1099511628211);
    return h ? h : 1;
}

static void finish(agent_pod_t *p)
{
    kl_agent_t *a = p->a;
    p->done = true;
    /* Until the informer shows the terminal phase, an older event must not revive the pod. */
    if (!kl_pod_is_terminal(kl_obj_root(p->obj)) &&
        kl_strmap_put(&a->finished, p->uid, (void *)1, NULL) < 0)
        KL_WARN("agent", "pod %s: out of memory", p->key);
    agent_pod_release(p);
}

static void delete_done(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                        void *ud)
{
    agent_pod_t *p = ud;
    (void)c;
    (void)body;
    if (!p->removed && !p->a->stopping) {
        if (rc == 0 || rc == KL_ENOTFOUND || rc == KL_ECONFLICT) {
            p->a->stats.pod_deletes++;
            finish(p);
        } else {
            p->a->stats.write_errors++;
            KL_WARN("agent", "pod %s: delete: %s", p->key, st ? st->message : kl_strerror(rc));
            p->delete_sent = false;
            p->retry_at = agent_now() + 1000;
            arm(p, p->retry_at, agent_now());
        }
    }
    agent_pod_unref(p);
}

static void send_delete(agent_pod_t *p)
{
    p->delete_sent = true;
    p->refs++;
    if (final_delete(p->a, p->ns, p->name, p->uid, delete_done, p) < 0) {
        p->refs--;
        p->delete_sent = false;
    }
}

/* After the terminal status is in the API: a deleted pod is removed for good, others are
 * done. */
static void after_final(agent_pod_t *p)
{
    p->final_written = true;
    if (kl_pod_is_deleted(kl_obj_root(p->obj))) {
        if (!p->delete_sent)
            send_delete(p);
    } else {
        finish(p);
    }
}

static void write_done(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                       void *ud)
{
    agent_pod_t *p = ud;
    kl_agent_t *a = p->a;
    (void)c;
    (void)body;
    p->writing = false;
    if (!p->removed && !a->stopping) {
        if (rc == 0) {
            a->stats.pod_status_writes++;
            p->sent_hash = p->sending_hash;
            if (p->ps.terminal && !p->dirty)
                after_final(p);
            else if (p->dirty)
                agent_pod_mark_dirty(p);
        } else if (rc == KL_ENOTFOUND || rc == KL_ECONFLICT || rc == KL_EINVALIDOBJ) {
            /* Gone, or replaced by another pod of the same name. */
            KL_DEBUG("agent", "pod %s: status: %s", p->key, st ? st->message : kl_strerror(rc));
            agent_pod_release(p);
        } else {
            a->stats.write_errors++;
            KL_WARN("agent", "pod %s: status: %s", p->key, st ? st->message : kl_strerror(rc));
            p->retry_at = agent_now() + 1000;
            arm(p, p->retry_at, agent_now());
        }
    }
    agent_pod_unref(p);
}

static void write_status(agent_pod_t *p)
{
    kl_agent_t *a = p->a;
    kl_json_t *st = NULL, *patch = kl_json_object(), *md;
    char *body = NULL;
    size_t len;
    if (patch == NULL || kl_podstatus_json(&p->ps, agent_now(), &st) < 0)
        goto oom;
    md = kl_json_ensure_object(patch, "metadata");
    if (md == NULL || kl_json_set_str(md, "uid", p->uid) < 0 ||
        kl_json_set(patch, "status", st) < 0) {
        st = NULL;
        goto oom;
    }
    st = NULL;
    body = kl_json_encode_alloc(patch, &len);
    if (body == NULL)
        goto oom;
    uint64_t h = hash_bytes(body, len);
    p->dirty = false;
    if (h == p->sent_hash) {
        if (p->ps.terminal && !p->final_written)
            after_final(p);
        goto out;
    }
    kl_resource_t r = {.group = "",
                       .version = "v1",
                       .resource = "pods",
                       .namespace = p->ns,
                       .name = p->name,
                       .subresource = "status"};
    p->sending_hash = h;
    p->writing = true;
    p->refs++;
    if (agent_request(a, false, AREQ_PATCH, KL_PATCH_STRATEGIC, &r, NULL, body, len, write_done,
                      p) < 0) {
        p->writing = false;
        p->refs--;
        a->stats.write_errors++;
        p->retry_at = agent_now() + 1000;
        arm(p, p->retry_at, agent_now());
    }
    goto out;
oom:
    KL_ERROR("agent", "pod %s: out of memory", p->key);
out:
    free(body);
    kl_json_free(st);
    kl_json_free(patch);
}

void agent_flush(kl_agent_t *a)
{
    agent_pod_t *list = a->dirty_head;
    a->dirty_head = NULL;
    while (list) {
        agent_pod_t *p = list;
        list = p->next_dirty;
        p->next_dirty = NULL;
        p->in_dirty_list = false;
        if (!p->removed && !p->done && !a->stopping && !p->node->paused && p->dirty && !p->writing)
            write_status(p);
        agent_pod_unref(p);
    }
}
