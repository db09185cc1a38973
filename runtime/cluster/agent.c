/* The node agent: lifecycle, informers, which nodes get a kubelet. See agent.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "kubelua/fsutil.h"
#include "kubelua/ktime.h"
#include "kubelua/log.h"

#include "cluster/agent_int.h"

int64_t agent_now(void)
{
    return kl_time_now_ms();
}

/* ---- Node records ------------------------------------------------------------------------- */

static bool index_taken(const kl_agent_t *a, int64_t i)
{
    return i >= 0 && i < 65536 && ((a->index_used[i / 8] >> (i % 8)) & 1);
}

static void index_take(kl_agent_t *a, int64_t i)
{
    if (i >= 0 && i < 65536)
        a->index_used[i / 8] |= (uint8_t)(1u << (i % 8));
}

static int64_t index_alloc(kl_agent_t *a)
{
    for (int64_t i = 0; i < 65536; i++) {
        if (!index_taken(a, i)) {
            index_take(a, i);
            return i;
        }
    }
    return -1;
}

static void node_destroy(agent_node_t *n)
{
    agent_res_free(n->allocatable);
    agent_res_free(n->used);
    kl_json_free(n->capacity);
    free(n->name);
    free(n->uid);
    free(n);
}

void agent_node_unref(agent_node_t *n)
{
    if (--n->refs > 0)
        return;
    agent_hb_remove(n->a, n);
    node_destroy(n);
}

/* ---- Heartbeat wheel --------------------------------------------------------------------- */

void agent_hb_add(kl_agent_t *a, agent_node_t *n)
{
    if (n->hb_slot >= 0 || a->hb_slots == NULL)
        return;
    /* Round robin over the slots: an even spread whatever the order nodes come in. */
    size_t slot = a->hb_next_slot;
    a->hb_next_slot = (a->hb_next_slot + 37) % a->hb_nslots;
    n->hb_slot = (int)slot;
    n->hb_prev = NULL;
    n->hb_next = a->hb_slots[slot];
    if (n->hb_next)
        n->hb_next->hb_prev = n;
    a->hb_slots[slot] = n;
}

void agent_hb_remove(kl_agent_t *a, agent_node_t *n)
{
    if (n->hb_slot < 0 || a->hb_slots == NULL)
        return;
    if (n->hb_prev)
        n->hb_prev->hb_next = n->hb_next;
    else
        a->hb_slots[n->hb_slot] = n->hb_next;
    if (n->hb_next)
        n->hb_next->hb_prev = n->hb_prev;
    n->hb_prev = n->hb_next = NULL;
    n->hb_slot = -1;
}

static void hb_tick(uv_timer_t *t)
{
    kl_agent_t *a = t->data;
    if (a->stopping)
        return;
    a->hb_pos = (a->hb_pos + 1) % a->hb_nslots;
    agent_node_t *next;
    for (agent_node_t *n = a->hb_slots[a->hb_pos]; n; n = next) {
        next = n->hb_next;
        n->refs++;
        agent_node_tick(n);
        agent_node_unref(n);
    }
}

static bool is_true(const char *s)
{
    return s && strcmp(s, "true") == 0;
}

static bool node_qualifies(const kl_agent_t *a, const kl_obj_t *obj)
{
    if (a->cluster->adopt_all_nodes)
        return true;
    kl_val_t md = kl_val_get(kl_obj_root(obj), "metadata");
    return is_true(kl_val_path_str(md, "labels", KL_AGENT_LABEL_SIMULATED, NULL));
}

/* Capacity: the defaults, then the group's (or, for a Node made with kubectl, what its status
 * already says). */
static int node_capacity(agent_node_t *n, const kl_obj_t *existing)
{
    static const char *const defs[][2] = {{"cpu", KL_CLUSTER_DEFAULT_CPU},
                                          {"memory", KL_CLUSTER_DEFAULT_MEMORY},
                                          {"pods", KL_CLUSTER_DEFAULT_PODS},
                                          {"ephemeral-storage", KL_CLUSTER_DEFAULT_STORAGE}};
    kl_json_t *cap = kl_json_object();
    if (cap == NULL)
        return KL_ENOMEM;
    for (size_t i = 0; i < 4; i++)
        if (kl_json_set_str(cap, defs[i][0], defs[i][1]) < 0)
            goto oom;
    if (n->group) {
        for (size_t i = 0; i < n->group->capacity.len; i++)
            if (kl_json_set_str(cap, n->group->capacity.items[i].key,
                                n->group->capacity.items[i].value) < 0)
                goto oom;
    } else if (existing) {
        kl_val_t c = kl_val_path(kl_obj_root(existing), "status", "capacity", NULL);
        for (uint32_t i = 0; i < kl_val_len(c); i++) {
            const char *k;
            kl_val_t v = kl_val_member(c, i, &k, NULL);
            if (kl_val_str(v, NULL) && kl_json_set_str(cap, k, kl_val_str(v, NULL)) < 0)
                goto oom;
        }
    }
    kl_obj_t *doc;
    if (kl_obj_from_json(cap, &doc) < 0)
        goto oom;
    kl_errinfo_t err;
    int rc = agent_res_set_list(n->allocatable, kl_obj_root(doc), &err);
    kl_obj_unref(doc);
    if (rc < 0)
        KL_WARN("agent", "node %s: capacity: %s", n->name, err.msg);
    kl_json_free(n->capacity);
    n->capacity = cap;
    return 0;
oom:
    kl_json_free(cap);
    return KL_ENOMEM;
}

static agent_node_t *node_new(kl_agent_t *a, const char *name, const kl_node_group_t *group,
                              const char *zone, bool configured, const kl_obj_t *existing)
{
    agent_node_t *n = calloc(1, sizeof(*n));
    if (n == NULL || (n->name = strdup(name)) == NULL) {
        free(n);
        return NULL;
    }
    n->a = a;
    n->group = group;
    n->zone = zone;
    n->configured = configured;
    n->refs = 1;
    n->hb_slot = -1;
    n->allocatable = agent_res_new();
    n->used = agent_res_new();
    if (n->allocatable == NULL || n->used == NULL) {
        node_destroy(n);
        return NULL;
    }
    if (group) {
        n->mode = kl_node_group_mode(a->cluster, group);
        n->defaults = &group->pod_defaults;
    } else {
        n->mode = kl_node_group_mode(a->cluster, NULL);
        n->defaults = &a->cluster->pod_defaults;
        kl_val_t md = existing ? kl_val_get(kl_obj_root(existing), "metadata") : (kl_val_t){0};
        const char *m = kl_val_path_str(md, "labels", KL_AGENT_MODE_KEY, NULL);
        if (m == NULL)
            m = kl_val_path_str(md, "annotations", KL_AGENT_MODE_KEY, NULL);
        if (m && strcmp(m, "simulated") == 0)
            n->mode = KL_SIM_MODE_SIMULATED;
        else if (m && strcmp(m, "process") == 0)
            n->mode = KL_SIM_MODE_PROCESS;
    }
    /* The node's index: from the pod CIDR it already has, else the lowest free one. */
    const char *cidr =
        existing ? kl_val_path_str(kl_obj_root(existing), "spec", "podCIDR", NULL) : NULL;
    int64_t idx = kl_node_pod_cidr_index(cidr);
    if (idx >= 0)
        index_take(a, idx);
    else
        idx = index_alloc(a);
    if (idx < 0 || node_capacity(n, existing) < 0) {
        KL_ERROR("agent", "node %s: no address left or out of memory", name);
        node_destroy(n);
        return NULL;
    }
    n->index = idx;
    kl_node_ip((uint32_t)idx, n->ip);
    kl_node_pod_cidr((uint32_t)idx, n->cidr);
    if (cidr && kl_node_pod_cidr_index(cidr) >= 0)
        snprintf(n->cidr, sizeof(n->cidr), "%s", cidr);
    if (kl_ipam_init(&n->ipam, n->cidr) < 0) {
        node_destroy(n);
        return NULL;
    }
    if (kl_strmap_put(&a->nodes, n->name, n, NULL) < 0) {
        node_destroy(n);
        return NULL;
    }
    a->stats.nodes++;
    return n;
}

static void node_drop(kl_agent_t *a, agent_node_t *n)
{
    kl_strmap_del(&a->nodes, n->name, NULL);
    if (a->stats.nodes)
        a->stats.nodes--;
    agent_node_stop(n);
    agent_node_unref(n);
}

static void adopt_node(kl_agent_t *a, const kl_obj_t *obj)
{
    const char *name = kl_val_path_str(kl_obj_root(obj), "metadata", "name", NULL);
    if (name == NULL)
        return;
    agent_node_t *n = node_new(a, name, NULL, NULL, false, obj);
    if (n == NULL)
        return;
    KL_INFO("agent", "node %s: starting a simulated kubelet (%s mode)", name,
            n->mode == KL_SIM_MODE_SIMULATED ? "simulated" : "process");
    if (agent_node_register(n, obj) < 0)
        KL_WARN("agent", "node %s: registration failed to start", name);
    /* Pods already bound to it. */
    kl_obj_t **pods;
    size_t np;
    if (kl_informer_list(a->pods_inf, "node", name, &pods, &np) == 0) {
        for (size_t i = 0; i < np; i++)
            agent_pod_seen(a, pods[i], true);
        kl_informer_list_free(pods, np);
    }
}

/* ---- Start-up ------------------------------------------------------------------------------ */

static bool visit_index(const kl_obj_t *obj, void *ud)
{
    kl_agent_t *a = ud;
    int64_t idx =
        kl_node_pod_cidr_index(kl_val_path_str(kl_obj_root(obj), "spec", "podCIDR", NULL));
    if (idx >= 0)
        index_take(a, idx);
    return true;
}

typedef struct pod_pass {
    kl_agent_t *a;
    bool with_status;
} pod_pass_t;

static bool visit_pod(const kl_obj_t *obj, void *ud)
{
    pod_pass_t *pp = ud;
    bool has = kl_val_len(kl_val_path(kl_obj_root(obj), "status", "containerStatuses", NULL)) > 0;
    if (has == pp->with_status) {
        kl_obj_t *ref = kl_obj_ref(obj);
        agent_pod_seen(pp->a, ref, true);
        kl_obj_unref(ref);
    }
    return true;
}

static void start_nodes(kl_agent_t *a)
{
    if (a->started || !a->nodes_synced || !a->pods_synced)
        return;
    a->started = true;
    kl_informer_foreach(a->nodes_inf, NULL, NULL, visit_index, a);
    for (size_t i = 0; i < a->ndefs; i++) {
        const kl_node_def_t *d = &a->defs[i];
        const kl_obj_t *existing = kl_informer_get(a->nodes_inf, NULL, d->name);
        agent_node_t *n = node_new(a, d->name, d->group, d->zone, true, existing);
        if (n == NULL)
            continue;
        if (agent_node_register(n, existing) < 0)
            KL_WARN("agent", "node %s: registration failed to start", d->name);
    }
    kl_obj_t **nodes;
    size_t nn;
    if (kl_informer_list(a->nodes_inf, NULL, NULL, &nodes, &nn) == 0) {
        for (size_t i = 0; i < nn; i++) {
            const char *name = kl_val_path_str(kl_obj_root(nodes[i]), "metadata", "name", NULL);
            if (name && kl_strmap_get(&a->nodes, name) == NULL && node_qualifies(a, nodes[i])) {
                agent_node_t *n = node_new(a, name, NULL, NULL, false, nodes[i]);
                if (n && agent_node_register(n, nodes[i]) < 0)
                    KL_WARN("agent", "node %s: registration failed to start", name);
            }
        }
        kl_informer_list_free(nodes, nn);
    }
    /* Pods that already ran first, so that their resources count before new pods are
     * admitted. */
    pod_pass_t pp = {a, true};
    kl_informer_foreach(a->pods_inf, NULL, NULL, visit_pod, &pp);
    pp.with_status = false;
    kl_informer_foreach(a->pods_inf, NULL, NULL, visit_pod, &pp);
    KL_INFO("agent", "%zu nodes, %zu pods", kl_strmap_len(&a->nodes), kl_strmap_len(&a->pods));
    agent_check_ready(a);
}

void agent_check_ready(kl_agent_t *a)
{
    if (a->ready_called || !a->started || a->ready == NULL)
        return;
    for (size_t i = 0; i < a->ndefs; i++) {
        agent_node_t *n = kl_strmap_get(&a->nodes, a->defs[i].name);
        if (n && !n->reported_ready)
            return;
    }
    a->ready_called = true;
    a->ready(a, a->ud);
}

/* ---- Informer handlers ----------------------------------------------------------------------- */

static void node_add(kl_informer_t *inf, const kl_obj_t *obj, bool initial, void *ud)
{
    kl_agent_t *a = ud;
    (void)inf;
    (void)initial;
    if (!a->started || a->stopping)
        return;
    const char *name = kl_val_path_str(kl_obj_root(obj), "metadata", "name", NULL);
    agent_node_t *n = name ? kl_strmap_get(&a->nodes, name) : NULL;
    if (n)
        agent_node_observe(n, obj);
    else if (node_qualifies(a, obj))
        adopt_node(a, obj);
}

static void node_update(kl_informer_t *inf, const kl_obj_t *old, const kl_obj_t *obj, void *ud)
{
    (void)old;
    node_add(inf, obj, false, ud);
}

static void node_delete(kl_informer_t *inf, const kl_obj_t *obj, bool unknown, void *ud)
{
    kl_agent_t *a = ud;
    (void)inf;
    (void)unknown;
    if (!a->started || a->stopping)
        return;
    kl_val_t md = kl_val_get(kl_obj_root(obj), "metadata");
    const char *name = kl_val_path_str(md, "name", NULL);
    agent_node_t *n = name ? kl_strmap_get(&a->nodes, name) : NULL;
    if (n == NULL)
        return;
    const char *uid = kl_val_path_str(md, "uid", NULL);
    if (n->uid && uid && strcmp(n->uid, uid) != 0)
        return; /* an older incarnation */
    KL_INFO("agent", "node %s deleted: stopping its kubelet", name);
    node_drop(a, n);
}

static void nodes_synced(kl_informer_t *inf, void *ud)
{
    kl_agent_t *a = ud;
    (void)inf;
    a->nodes_synced = true;
    start_nodes(a);
}

static void pod_add(kl_informer_t *inf, const kl_obj_t *obj, bool initial, void *ud)
{
    kl_agent_t *a = ud;
    (void)inf;
    (void)initial;
    if (!a->started || a->stopping)
        return;
    agent_pod_seen(a, obj, false);
}

static void pod_update(kl_informer_t *inf, const kl_obj_t *old, const kl_obj_t *obj, void *ud)
{
    (void)old;
    pod_add(inf, obj, false, ud);
}

static void pod_delete(kl_informer_t *inf, const kl_obj_t *obj, bool unknown, void *ud)
{
    kl_agent_t *a = ud;
    (void)inf;
    (void)unknown;
    if (!a->started || a->stopping)
        return;
    agent_pod_gone(a, obj);
}

static void pods_synced(kl_informer_t *inf, void *ud)
{
    kl_agent_t *a = ud;
    (void)inf;
    a->pods_synced = true;
    start_nodes(a);
}

/* ---- Lifecycle ------------------------------------------------------------------------------- */

static void flush_cb(uv_timer_t *t)
{
    kl_agent_t *a = t->data;
    a->flush_armed = false;
    agent_flush(a);
    if (a->local)
        agent_local_flush(a);
}

void agent_flush_soon(kl_agent_t *a)
{
    if (a->flush_armed || a->stopping)
        return;
    a->flush_armed = true;
    uv_timer_start(&a->flush_timer, flush_cb, 0, 0);
}

static void read_id(const char *path, char *out, size_t cap)
{
    char *text;
    size_t len;
    if (kl_file_read(path, 4096, &text, &len, NULL) < 0)
        return;
    size_t j = 0;
    for (size_t i = 0; i < len && j + 1 < cap; i++)
        if (text[i] != '-' && text[i] != '\n')
            out[j++] = text[i];
    out[j] = '\0';
    free(text);
}

static void host_info(kl_agent_t *a)
{
    struct utsname u;
    snprintf(a->kernel, sizeof(a->kernel), "unknown");
    snprintf(a->arch, sizeof(a->arch), "amd64");
    if (uname(&u) == 0) {
        snprintf(a->kernel, sizeof(a->kernel), "%.127s", u.release);
        if (!strcmp(u.machine, "x86_64"))
            snprintf(a->arch, sizeof(a->arch), "amd64");
        else if (!strcmp(u.machine, "aarch64"))
            snprintf(a->arch, sizeof(a->arch), "arm64");
        else if (!strncmp(u.machine, "arm", 3))
            snprintf(a->arch, sizeof(a->arch), "arm");
        else
            snprintf(a->arch, sizeof(a->arch), "%.31s", u.machine);
    }
    snprintf(a->machine_id, sizeof(a->machine_id), "00000000000000000000000000000000");
    read_id("/etc/machine-id", a->machine_id, sizeof(a->machine_id));
    read_id("/proc/sys/kernel/random/boot_id", a->boot_id, sizeof(a->boot_id));
}

int kl_agent_new(const kl_agent_opts_t *o, kl_agent_t **out, kl_errinfo_t *err)
{
    kl_agent_t *a = calloc(1, sizeof(*a));
    int rc;
    if (a == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    a->loop = o->loop;
    a->cluster = o->cluster;
    a->renew_ms = o->lease_renew_ms > 0 ? o->lease_renew_ms : 10000;
    a->report_ms = o->status_report_ms > 0 ? o->status_report_ms : 300000;
    a->ready = o->ready;
    a->ud = o->ud;
    a->local = o->local;
    if (a->local)
        agent_local_init(a);
    kl_strmap_init(&a->nodes, 0);
    kl_strmap_init(&a->pods, 0);
    kl_strmap_init(&a->finished, KL_STRMAP_COPY_KEYS);
    uv_timer_init(a->loop, &a->flush_timer);
    a->flush_timer.data = a;
    uv_timer_init(a->loop, &a->stop_timer);
    a->stop_timer.data = a;
    uv_timer_init(a->loop, &a->hb_timer);
    a->hb_timer.data = a;
    a->hb_nslots = (size_t)(a->renew_ms / AGENT_HB_TICK_MS);
    if (a->hb_nslots == 0)
        a->hb_nslots = 1;
    a->hb_slots = calloc(a->hb_nslots, sizeof(*a->hb_slots));
    host_info(a);
    a->data_dir = strdup(o->data_dir ? o->data_dir : "./kubelua-data");
    a->helper = o->helper ? strdup(o->helper) : NULL;
    a->index_used = calloc(65536 / 8, 1);
    if (a->data_dir == NULL || a->index_used == NULL || a->hb_slots == NULL ||
        (o->helper && a->helper == NULL)) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = kl_cluster_config_nodes(o->cluster, &a->defs, &a->ndefs, err)) < 0)
        goto fail;
    kl_client_opts_t co;
    kl_client_opts_init(&co);
    co.qps = o->qps;
    co.user_agent = "kubelua-node-agent/" KL_VERSION;
    if ((rc = kl_client_new(a->loop, o->config, &co, &a->client, err)) < 0)
        goto fail;
    if ((rc = kl_informers_new(a->client, &a->infs)) < 0) {
        kl_err(err, rc, "informers: %s", kl_strerror(rc));
        goto fail;
    }
    kl_informer_opts_t io;
    kl_informer_opts_init(&io);
    io.resource = "v1/nodes";
    if ((rc = kl_informers_get(a->infs, &io, &a->nodes_inf, err)) < 0)
        goto fail;
    kl_informer_opts_init(&io);
    io.resource = "v1/pods";
    io.field_selector = "spec.nodeName!=";
    if ((rc = kl_informers_get(a->infs, &io, &a->pods_inf, err)) < 0)
        goto fail;
    kl_informer_handlers_t nh = {.on_add = node_add,
                                 .on_update = node_update,
                                 .on_delete = node_delete,
                                 .on_synced = nodes_synced};
    kl_informer_handlers_t ph = {.on_add = pod_add,
                                 .on_update = pod_update,
                                 .on_delete = pod_delete,
                                 .on_synced = pods_synced};
    if ((rc = kl_informer_add_handlers(a->nodes_inf, &nh, a, NULL)) < 0 ||
        (rc = kl_informer_add_handlers(a->pods_inf, &ph, a, NULL)) < 0 ||
        (rc = kl_informers_start(a->infs)) < 0) {
        kl_err(err, rc, "informers: %s", kl_strerror(rc));
        goto fail;
    }
    uint64_t tick = (uint64_t)(a->renew_ms / (int64_t)a->hb_nslots);
    uv_timer_start(&a->hb_timer, hb_tick, tick, tick);
    *out = a;
    return 0;
fail:
    kl_agent_free(a);
    return rc;
}

/* ---- Stop and free --------------------------------------------------------------------------- */

static size_t processes_alive(kl_agent_t *a)
{
    size_t it = 0, n = 0;
    const char *key;
    void *val;
    while (kl_strmap_next(&a->pods, &it, &key, &val)) {
        agent_pod_t *p = val;
        for (size_t i = 0; i < p->ps.ninit; i++)
            n += p->init_rt[i].proc && kl_proc_running(p->init_rt[i].proc);
        for (size_t i = 0; i < p->ps.nctrs; i++)
            n += p->ctr_rt[i].proc && kl_proc_running(p->ctr_rt[i].proc);
    }
    return n;
}

static void stop_poll(uv_timer_t *t)
{
    kl_agent_t *a = t->data;
    if (processes_alive(a) > 0 && a->stop_polls > 0) {
        a->stop_polls--;
        return;
    }
    uv_timer_stop(t);
    a->stop_timer_on = false;
    if (a->stop_done) {
        void (*done)(void *) = a->stop_done;
        a->stop_done = NULL;
        done(a->stop_ud);
    }
}

void kl_agent_stop(kl_agent_t *a, double grace_seconds, void (*done)(void *ud), void *ud)
{
    a->stopping = true;
    a->stop_done = done;
    a->stop_ud = ud;
    uint64_t grace_ms = grace_seconds > 0 ? (uint64_t)(grace_seconds * 1000) : 0;
    size_t it = 0;
    const char *key;
    void *val;
    uv_timer_stop(&a->hb_timer);
    while (kl_strmap_next(&a->pods, &it, &key, &val)) {
        agent_pod_t *p = val;
        if (p->timer_due)
            uv_timer_stop(&p->timer);
        p->timer_due = 0;
        for (size_t i = 0; i < p->ps.ninit; i++)
            if (p->init_rt[i].proc)
                kl_proc_stop(p->init_rt[i].proc, grace_ms);
        for (size_t i = 0; i < p->ps.nctrs; i++)
            if (p->ctr_rt[i].proc)
                kl_proc_stop(p->ctr_rt[i].proc, grace_ms);
    }
    /* Poll every 50 ms until every process has exited, for at most the grace period + 3 s. */
    a->stop_polls = (grace_ms + 3000) / 50;
    a->stop_timer_on = true;
    uv_timer_start(&a->stop_timer, stop_poll, 0, 50);
}

static void agent_closed(uv_handle_t *h)
{
    kl_agent_t *a = h->data;
    if (--a->closing == 0)
        free(a);
}

void kl_agent_free(kl_agent_t *a)
{
    if (a == NULL)
        return;
    a->stopping = true;
    a->freeing = true;
    agent_requests_drop(a);
    /* The client first: no callback of a request in flight runs afterwards. */
    kl_informers_free(a->infs);
    a->infs = NULL;
    kl_client_free(a->client);
    a->client = NULL;
    size_t it = 0;
    const char *key;
    void *val;
    /* Pods: dirty-list and request references are void now that nothing calls back. */
    while (kl_strmap_next(&a->pods, &it, &key, &val)) {
        agent_pod_t *p = val;
        p->refs = 1;
    }
    a->dirty_head = NULL;
    for (;;) {
        it = 0;
        if (!kl_strmap_next(&a->pods, &it, &key, &val))
            break;
        agent_pod_release(val);
    }
    for (;;) {
        it = 0;
        if (!kl_strmap_next(&a->nodes, &it, &key, &val))
            break;
        agent_node_t *n = val;
        n->refs = 1;
        kl_strmap_del(&a->nodes, n->name, NULL);
        agent_node_stop(n);
        agent_node_unref(n);
    }
    kl_strmap_cleanup(&a->nodes);
    kl_strmap_cleanup(&a->pods);
    kl_strmap_cleanup(&a->finished);
    kl_node_defs_free(a->defs, a->ndefs);
    free(a->index_used);
    free(a->hb_slots);
    a->hb_slots = NULL;
    free(a->data_dir);
    free(a->helper);
    a->closing = 3 + (a->local_inited ? 1 : 0);
    uv_close((uv_handle_t *)&a->hb_timer, agent_closed);
    uv_close((uv_handle_t *)&a->flush_timer, agent_closed);
    uv_close((uv_handle_t *)&a->stop_timer, agent_closed);
    agent_local_close(a, agent_closed);
}

void kl_agent_stats(const kl_agent_t *a, kl_agent_stats_t *st)
{
    *st = a->stats;
    st->nodes = kl_strmap_len(&a->nodes);
    st->nodes_ready = 0;
    st->nodes_stopped = 0;
    st->processes = 0;
    size_t it = 0;
    const char *key;
    void *val;
    while (kl_strmap_next(&a->nodes, &it, &key, &val)) {
        const agent_node_t *n = val;
        st->nodes_ready += n->reported_ready && !n->paused;
        st->nodes_stopped += n->paused;
    }
    st->pods = kl_strmap_len(&a->pods);
    st->processes = processes_alive((kl_agent_t *)a);
}
