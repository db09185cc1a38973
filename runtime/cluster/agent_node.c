/* The node agent's nodes: registration, the Lease heartbeat and node status. See agent.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/ktime.h"
#include "kubelua/log.h"
#include "kubelua/version.h"

#include "cluster/agent_int.h"

#define LEASE_NS "kube-node-lease"
#define LEASE_SECONDS 40

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if ((x) < 0)                                                                               \
            goto oom;                                                                              \
    } while (0)

/* ---- Documents --------------------------------------------------------------------------- */

static const char *node_arch(const agent_node_t *n)
{
    return n->group && n->group->arch ? n->group->arch : n->a->arch;
}

kl_json_t *agent_node_labels(const agent_node_t *n)
{
    kl_json_t *l = kl_json_object();
    const kl_node_group_t *g = n->group;
    if (l == NULL)
        return NULL;
    if (g)
        for (size_t i = 0; i < g->labels.len; i++)
            CHECK(kl_json_set_str(l, g->labels.items[i].key, g->labels.items[i].value));
    CHECK(kl_json_set_str(l, "beta.kubernetes.io/arch", node_arch(n)));
    CHECK(kl_json_set_str(l, "beta.kubernetes.io/os", "linux"));
    CHECK(kl_json_set_str(l, "kubernetes.io/arch", node_arch(n)));
    CHECK(kl_json_set_str(l, "kubernetes.io/hostname", n->name));
    CHECK(kl_json_set_str(l, "kubernetes.io/os", "linux"));
    if (g && g->instance_type) {
        CHECK(kl_json_set_str(l, "node.kubernetes.io/instance-type", g->instance_type));
        CHECK(kl_json_set_str(l, "beta.kubernetes.io/instance-type", g->instance_type));
    }
    if (g && g->region)
        CHECK(kl_json_set_str(l, "topology.kubernetes.io/region", g->region));
    if (n->zone)
        CHECK(kl_json_set_str(l, "topology.kubernetes.io/zone", n->zone));
    CHECK(kl_json_set_str(l, KL_AGENT_LABEL_SIMULATED, "true"));
    return l;
oom:
    kl_json_free(l);
    return NULL;
}

static void hex_id(const char *a, const char *b, char out[33])
{
    uint64_t h1 = UINT64_C(14695981039346656037), h2 = UINT64_C(1099511628211);
    for (const char *s = a; *s; s++)
        h1 = (h1 ^ (unsigned char)*s) * UINT64_C(1099511628211);
    for (const char *s = b; *s; s++)
        h2 = (h2 ^ (unsigned char)*s) * UINT64_C(14695981039346656037) + 7;
    h2 ^= h1 >> 17;
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h1, (unsigned long long)h2);
}

static kl_json_t *condition(const char *type, const char *status, const char *reason,
                            const char *message, const char *hb, kl_val_t current_conds)
{
    kl_json_t *c = kl_json_object();
    char since[32];
    snprintf(since, sizeof(since), "%s", hb);
    for (uint32_t i = 0; i < kl_val_len(current_conds); i++) {
        kl_val_t cc = kl_val_at(current_conds, i);
        const char *t = kl_val_path_str(cc, "type", NULL), *s = kl_val_path_str(cc, "status", NULL);
        const char *lt = kl_val_path_str(cc, "lastTransitionTime", NULL);
        if (t && s && lt && !strcmp(t, type) && !strcmp(s, status) && strlen(lt) < sizeof(since))
            snprintf(since, sizeof(since), "%s", lt);
    }
    if (c == NULL)
        return NULL;
    CHECK(kl_json_set_str(c, "type", type));
    CHECK(kl_json_set_str(c, "status", status));
    CHECK(kl_json_set_str(c, "lastHeartbeatTime", hb));
    CHECK(kl_json_set_str(c, "lastTransitionTime", since));
    CHECK(kl_json_set_str(c, "reason", reason));
    CHECK(kl_json_set_str(c, "message", message));
    return c;
oom:
    kl_json_free(c);
    return NULL;
}

static const char *const cond_rows[][4] = {
    {"NetworkUnavailable", "False", "RouteCreated", "RouteController created a route"},
    {"MemoryPressure", "False", "KubeletHasSufficientMemory",
     "kubelet has sufficient memory available"},
    {"DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
    {"PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
    {"Ready", "True", "KubeletReady", "kubelet is posting ready status"},
};
#define NCONDS (sizeof(cond_rows) / sizeof(cond_rows[0]))

/* Whether the API's copy disagrees with what this kubelet reports. */
static bool conditions_differ(const kl_obj_t *current)
{
    if (current == NULL)
        return true;
    kl_val_t conds = kl_val_path(kl_obj_root(current), "status", "conditions", NULL);
    for (size_t k = 0; k < NCONDS; k++) {
        bool found = false;
        for (uint32_t i = 0; i < kl_val_len(conds); i++) {
            kl_val_t c = kl_val_at(conds, i);
            const char *t = kl_val_path_str(c, "type", NULL),
                       *s = kl_val_path_str(c, "status", NULL);
            if (t && !strcmp(t, cond_rows[k][0])) {
                found = true;
                if (s == NULL || strcmp(s, cond_rows[k][1]) != 0)
                    return true;
            }
        }
        if (!found)
            return true;
    }
    return false;
}

static kl_json_t *node_status(const agent_node_t *n, const kl_obj_t *current)
{
    kl_agent_t *a = n->a;
    kl_json_t *st = kl_json_object(), *arr = NULL, *o = NULL;
    char hb[32], id[33], boot[33], buf[256];
    kl_time_format_rfc3339(kl_time_now(), hb);
    kl_val_t cur =
        current ? kl_val_path(kl_obj_root(current), "status", "conditions", NULL) : (kl_val_t){0};
    if (st == NULL)
        return NULL;
    CHECK((o = kl_json_dup(n->capacity)) ? kl_json_set(st, "capacity", o) : KL_ENOMEM);
    CHECK((o = kl_json_dup(n->capacity)) ? kl_json_set(st, "allocatable", o) : KL_ENOMEM);
    o = NULL;
    arr = kl_json_array();
    if (arr == NULL)
        goto oom;
    for (size_t k = 0; k < NCONDS; k++) {
        kl_json_t *c =
            condition(cond_rows[k][0], cond_rows[k][1], cond_rows[k][2], cond_rows[k][3], hb, cur);
        CHECK(c ? kl_json_append(arr, c) : KL_ENOMEM);
    }
    CHECK(kl_json_set(st, "conditions", arr));
    arr = kl_json_array();
    if (arr == NULL)
        goto oom;
    o = kl_json_object();
    CHECK(o ? kl_json_append(arr, o) : KL_ENOMEM);
    CHECK(kl_json_set_str(o, "type", "InternalIP"));
    CHECK(kl_json_set_str(o, "address", n->ip));
    o = kl_json_object();
    CHECK(o ? kl_json_append(arr, o) : KL_ENOMEM);
    CHECK(kl_json_set_str(o, "type", "Hostname"));
    CHECK(kl_json_set_str(o, "address", n->name));
    CHECK(kl_json_set(st, "addresses", arr));
    arr = NULL;
    o = kl_json_object();
    kl_json_t *ke = kl_json_object();
    if (o == NULL || ke == NULL || kl_json_set_int(ke, "Port", 10250) < 0 ||
        kl_json_set(o, "kubeletEndpoint", ke) < 0 || kl_json_set(st, "daemonEndpoints", o) < 0) {
        kl_json_free(ke);
        goto oom;
    }
    o = kl_json_object();
    CHECK(o ? kl_json_set(st, "nodeInfo", o) : KL_ENOMEM);
    hex_id(a->machine_id, n->name, id);
    CHECK(kl_json_set_str(o, "machineID", id));
    snprintf(buf, sizeof(buf), "%.8s-%.4s-%.4s-%.4s-%.12s", id, id + 8, id + 12, id + 16, id + 20);
    CHECK(kl_json_set_str(o, "systemUUID", buf));
    hex_id(a->boot_id, n->name, boot);
    snprintf(buf, sizeof(buf), "%.8s-%.4s-%.4s-%.4s-%.12s", boot, boot + 8, boot + 12, boot + 16,
             boot + 20);
    CHECK(kl_json_set_str(o, "bootID", buf));
    CHECK(kl_json_set_str(o, "kernelVersion", a->kernel));
    CHECK(kl_json_set_str(o, "osImage",
                          n->mode == KL_SIM_MODE_SIMULATED
                              ? "kubelua simulated node"
                              : "kubelua node (processes on the host)"));
    CHECK(kl_json_set_str(o, "containerRuntimeVersion", "kubelua://" KL_VERSION));
    CHECK(kl_json_set_str(o, "kubeletVersion", KL_KUBE_GIT_VERSION));
    CHECK(kl_json_set_str(o, "kubeProxyVersion", KL_KUBE_GIT_VERSION));
    CHECK(kl_json_set_str(o, "operatingSystem", "linux"));
    CHECK(kl_json_set_str(o, "architecture", node_arch(n)));
    return st;
oom:
    kl_json_free(arr);
    kl_json_free(st);
    return NULL;
}

static kl_json_t *node_object(const agent_node_t *n)
{
    kl_json_t *obj = kl_json_object(), *md, *spec, *ann, *v;
    if (obj == NULL)
        return NULL;
    CHECK(kl_json_set_str(obj, "apiVersion", "v1"));
    CHECK(kl_json_set_str(obj, "kind", "Node"));
    md = kl_json_ensure_object(obj, "metadata");
    spec = kl_json_ensure_object(obj, "spec");
    if (md == NULL || spec == NULL)
        goto oom;
    CHECK(kl_json_set_str(md, "name", n->name));
    v = agent_node_labels(n);
    CHECK(v ? kl_json_set(md, "labels", v) : KL_ENOMEM);
    ann = kl_json_ensure_object(md, "annotations");
    if (ann == NULL)
        goto oom;
    if (n->group)
        for (size_t i = 0; i < n->group->annotations.len; i++)
            CHECK(kl_json_set_str(ann, n->group->annotations.items[i].key,
                                  n->group->annotations.items[i].value));
    CHECK(kl_json_set_str(ann, "node.alpha.kubernetes.io/ttl", "0"));
    CHECK(kl_json_set_str(ann, "volumes.kubernetes.io/controller-managed-attach-detach", "true"));
    CHECK(kl_json_set_str(spec, "podCIDR", n->cidr));
    v = kl_json_array();
    CHECK(v ? kl_json_set(spec, "podCIDRs", v) : KL_ENOMEM);
    CHECK(kl_json_append(v, kl_json_string(n->cidr)));
    char pid[300];
    snprintf(pid, sizeof(pid), "kubelua://%s", n->name);
    CHECK(kl_json_set_str(spec, "providerID", pid));
    if (n->group && n->group->ntaints) {
        v = kl_json_array();
        CHECK(v ? kl_json_set(spec, "taints", v) : KL_ENOMEM);
        for (size_t i = 0; i < n->group->ntaints; i++) {
            kl_json_t *t = kl_json_object();
            CHECK(t ? kl_json_append(v, t) : KL_ENOMEM);
            CHECK(kl_json_set_str(t, "key", n->group->taints[i].key));
            if (n->group->taints[i].value)
                CHECK(kl_json_set_str(t, "value", n->group->taints[i].value));
            CHECK(kl_json_set_str(t, "effect", n->group->taints[i].effect));
        }
    }
    v = node_status(n, NULL);
    CHECK(v ? kl_json_set(obj, "status", v) : KL_ENOMEM);
    return obj;
oom:
    kl_json_free(obj);
    return NULL;
}

/* ---- Requests ------------------------------------------------------------------------------ */

static kl_resource_t node_res(const agent_node_t *n)
{
    kl_resource_t r = {.group = "", .version = "v1", .resource = "nodes", .name = n->name};
    return r;
}

static kl_resource_t lease_res(const agent_node_t *n)
{
    kl_resource_t r = {.group = "coordination.k8s.io",
                       .version = "v1",
                       .resource = "leases",
                       .namespace = LEASE_NS,
                       .name = n->name};
    return r;
}

static bool node_live(const agent_node_t *n)
{
    return n->state != NODE_GONE && !n->a->stopping;
}

static void set_uid(agent_node_t *n, const kl_obj_t *obj)
{
    const char *uid = obj ? kl_val_path_str(kl_obj_root(obj), "metadata", "uid", NULL) : NULL;
    if (uid && (n->uid == NULL || strcmp(n->uid, uid) != 0)) {
        free(n->uid);
        n->uid = strdup(uid);
    }
}

static void lease_send(agent_node_t *n, bool create);

/* Nodes registered together would all report every 5 minutes in the same few seconds: the first
 * periodic report of each comes at a random point of the period instead. */
static void spread_reports(agent_node_t *n)
{
    int64_t period = n->a->report_ms > 1 ? n->a->report_ms : 1;
    n->last_report_ms = agent_now() - (int64_t)((uint64_t)rand() % (uint64_t)period);
}

static void lease_done(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                       void *ud)
{
    agent_node_t *n = ud;
    bool was_create = n->lease_creating;
    (void)c;
    (void)body;
    n->lease_inflight = false;
    if (node_live(n)) {
        if (rc == 0) {
            n->lease_created = true;
            n->a->stats.lease_writes++;
        } else if (rc == KL_ENOTFOUND && !was_create) {
            lease_send(n, true); /* not there (yet, or any more): create it */
        } else if (rc == KL_EEXIST && was_create) {
            lease_send(n, false);
        } else {
            n->a->stats.write_errors++;
            KL_DEBUG("agent", "node %s: lease: %s", n->name, st ? st->message : kl_strerror(rc));
        }
    }
    agent_node_unref(n);
}

/* Creates the Lease (create) or renews it with a merge patch of its spec. */
static void lease_send(agent_node_t *n, bool create)
{
    kl_agent_t *a = n->a;
    if (n->lease_inflight || !node_live(n) || n->paused)
        return;
    char now[40], body[1024];
    int64_t ms = agent_now();
    kl_time_format_rfc3339_micro(ms / 1000, (int32_t)(ms % 1000) * 1000, now);
    if (!create && a->local) {
        agent_local_renew(n, ms);
        return;
    }
    kl_resource_t r = lease_res(n);
    int len, rc;
    n->refs++;
    n->lease_inflight = true;
    n->lease_creating = create;
    if (create) {
        char owner[512] = "";
        if (n->uid)
            snprintf(owner, sizeof(owner),
                     ",\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Node\","
                     "\"name\":\"%s\",\"uid\":\"%s\"}]",
                     n->name, n->uid);
        len = snprintf(body, sizeof(body),
                       "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                       "\"metadata\":{\"name\":\"%s\",\"namespace\":\"" LEASE_NS "\"%s},"
                       "\"spec\":{\"holderIdentity\":\"%s\",\"leaseDurationSeconds\":%d,"
                       "\"renewTime\":\"%s\"}}",
                       n->name, owner, n->name, LEASE_SECONDS, now);
        r.name = NULL;
        rc = agent_request(a, true, AREQ_CREATE, 0, &r, NULL, body, (size_t)len, lease_done, n);
    } else {
        len = snprintf(body, sizeof(body),
                       "{\"spec\":{\"holderIdentity\":\"%s\",\"leaseDurationSeconds\":%d,"
                       "\"renewTime\":\"%s\"}}",
                       n->name, LEASE_SECONDS, now);
        rc = agent_request(a, true, AREQ_PATCH, KL_PATCH_MERGE, &r, NULL, body, (size_t)len,
                           lease_done, n);
    }
    if (rc < 0) {
        n->lease_inflight = false;
        n->refs--;
        a->stats.write_errors++;
    }
}

static void status_done(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                        void *ud)
{
    agent_node_t *n = ud;
    (void)c;
    n->status_inflight = false;
    if (node_live(n)) {
        if (rc == 0) {
            n->a->stats.node_status_writes++;
            set_uid(n, body);
            if (!n->reported_ready) {
                n->reported_ready = true;
                n->state = NODE_ACTIVE;
                spread_reports(n);
                agent_node_heartbeat_start(n);
                agent_check_ready(n->a);
            }
        } else {
            n->a->stats.write_errors++;
            KL_WARN("agent", "node %s: status: %s", n->name, st ? st->message : kl_strerror(rc));
            n->last_report_ms = 0; /* try again at the next tick */
        }
    }
    agent_node_unref(n);
}

static void status_send(agent_node_t *n)
{
    kl_agent_t *a = n->a;
    if (n->status_inflight || !node_live(n) || n->paused)
        return;
    const kl_obj_t *cur = kl_informer_get(a->nodes_inf, NULL, n->name);
    kl_json_t *patch = kl_json_object(), *st = node_status(n, cur);
    char *body = NULL;
    size_t len;
    if (patch == NULL || st == NULL || kl_json_set(patch, "status", st) < 0 ||
        (body = kl_json_encode_alloc(patch, &len)) == NULL) {
        if (patch == NULL || kl_json_get(patch, "status") != st)
            kl_json_free(st);
        kl_json_free(patch);
        return;
    }
    kl_json_free(patch);
    kl_resource_t r = node_res(n);
    r.subresource = "status";
    n->refs++;
    n->status_inflight = true;
    n->last_report_ms = agent_now();
    if (agent_request(a, true, AREQ_PATCH, KL_PATCH_STRATEGIC, &r, NULL, body, len, status_done,
                      n) < 0) {
        n->status_inflight = false;
        n->refs--;
        a->stats.write_errors++;
    }
    free(body);
}

void agent_lease_create(agent_node_t *n)
{
    lease_send(n, true);
}

/* ---- Registration --------------------------------------------------------------------------- */

static void create_done(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                        void *ud)
{
    agent_node_t *n = ud;
    (void)c;
    n->status_inflight = false;
    if (node_live(n)) {
        if (rc == 0) {
            set_uid(n, body);
            n->a->stats.node_status_writes++;
            n->reported_ready = true;
            n->state = NODE_ACTIVE;
            spread_reports(n);
            lease_send(n, true);
            agent_node_heartbeat_start(n);
            agent_check_ready(n->a);
        } else if (rc == KL_EEXIST) {
            /* Created meanwhile (by kubectl, or an earlier agent): take it over. */
            status_send(n);
            lease_send(n, false);
        } else {
            n->a->stats.write_errors++;
            KL_ERROR("agent", "node %s: cannot register: %s", n->name,
                     st ? st->message : kl_strerror(rc));
            n->state = NODE_NEW;
            agent_node_heartbeat_start(n); /* the tick retries the registration */
        }
    }
    agent_node_unref(n);
}

static int send_create(agent_node_t *n)
{
    kl_json_t *obj = node_object(n);
    size_t len;
    char *body = obj ? kl_json_encode_alloc(obj, &len) : NULL;
    kl_json_free(obj);
    if (body == NULL)
        return KL_ENOMEM;
    kl_resource_t r = node_res(n);
    r.name = NULL;
    n->refs++;
    n->status_inflight = true;
    n->state = NODE_REGISTERING;
    int rc = agent_request(n->a, true, AREQ_CREATE, 0, &r, NULL, body, len, create_done, n);
    free(body);
    if (rc < 0) {
        n->status_inflight = false;
        n->refs--;
    }
    return rc;
}

static void meta_done(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st, void *ud)
{
    agent_node_t *n = ud;
    (void)c;
    (void)body;
    if (rc < 0 && node_live(n))
        KL_WARN("agent", "node %s: labels/podCIDR: %s", n->name,
                st ? st->message : kl_strerror(rc));
    agent_node_unref(n);
}

/* Labels, podCIDR and providerID a kubelet would have given an existing Node: a merge patch of
 * what is missing or different. */
static void adopt_meta(agent_node_t *n, const kl_obj_t *existing)
{
    kl_val_t root = kl_obj_root(existing);
    kl_json_t *patch = kl_json_object(), *labels = agent_node_labels(n), *want = kl_json_object();
    bool need = false;
    if (patch == NULL || labels == NULL || want == NULL)
        goto out;
    kl_val_t have = kl_val_path(root, "metadata", "labels", NULL);
    for (uint32_t i = 0; i < labels->len; i++) {
        const char *k = labels->u.members[i].key, *v = kl_json_str(labels->u.members[i].val);
        const char *h = kl_val_str(kl_val_get(have, k), NULL);
        if (h == NULL || strcmp(h, v) != 0) {
            if (kl_json_set_str(want, k, v) < 0)
                goto out;
            need = true;
        }
    }
    if (want->len) {
        kl_json_t *md = kl_json_ensure_object(patch, "metadata");
        if (md == NULL || kl_json_set(md, "labels", want) < 0) {
            want = NULL;
            goto out;
        }
        want = NULL;
    }
    if (kl_val_path_str(root, "spec", "podCIDR", NULL) == NULL ||
        kl_val_path_str(root, "spec", "providerID", NULL) == NULL) {
        kl_json_t *spec = kl_json_ensure_object(patch, "spec"), *a;
        if (spec == NULL)
            goto out;
        if (kl_val_path_str(root, "spec", "podCIDR", NULL) == NULL) {
            if (kl_json_set_str(spec, "podCIDR", n->cidr) < 0 || (a = kl_json_array()) == NULL ||
                kl_json_set(spec, "podCIDRs", a) < 0 ||
                kl_json_append(a, kl_json_string(n->cidr)) < 0)
                goto out;
        }
        if (kl_val_path_str(root, "spec", "providerID", NULL) == NULL) {
            char pid[300];
            snprintf(pid, sizeof(pid), "kubelua://%s", n->name);
            if (kl_json_set_str(spec, "providerID", pid) < 0)
                goto out;
        }
        need = true;
    }
    if (need) {
        size_t len;
        char *body = kl_json_encode_alloc(patch, &len);
        kl_resource_t r = node_res(n);
        n->refs++;
        if (body == NULL || agent_request(n->a, true, AREQ_PATCH, KL_PATCH_MERGE, &r, NULL, body,
                                          len, meta_done, n) < 0)
            n->refs--;
        free(body);
    }
out:
    kl_json_free(want);
    kl_json_free(labels);
    kl_json_free(patch);
}

/* The time of the node's last status report when the API's copy is what this kubelet would
 * report now (conditions and capacity: the node lifecycle controller has not found it gone) and
 * that report is younger than the report period; else 0. */
static int64_t recent_heartbeat(const agent_node_t *n, const kl_obj_t *existing)
{
    kl_val_t st = kl_val_get(kl_obj_root(existing), "status");
    if (conditions_differ(existing))
        return 0;
    kl_json_t *cap = kl_json_from_val(kl_val_get(st, "capacity"));
    kl_json_t *alloc = kl_json_from_val(kl_val_get(st, "allocatable"));
    bool same =
        cap && alloc && kl_json_equal(cap, n->capacity) && kl_json_equal(alloc, n->capacity);
    kl_json_free(cap);
    kl_json_free(alloc);
    if (!same)
        return 0;
    kl_val_t conds = kl_val_get(st, "conditions");
    for (uint32_t i = 0; i < kl_val_len(conds); i++) {
        kl_val_t c = kl_val_at(conds, i);
        const char *t = kl_val_path_str(c, "type", NULL);
        const char *hb = kl_val_path_str(c, "lastHeartbeatTime", NULL);
        int64_t sec;
        if (t == NULL || strcmp(t, "Ready") != 0 || hb == NULL ||
            kl_time_parse_rfc3339(hb, &sec, NULL) < 0)
            continue;
        int64_t ms = sec * 1000, now = agent_now();
        if (now - ms < n->a->report_ms)
            return ms;
    }
    return 0;
}

int agent_node_register(agent_node_t *n, const kl_obj_t *existing)
{
    if (existing == NULL)
        return send_create(n);
    set_uid(n, existing);
    n->state = NODE_REGISTERING;
    n->paused = agent_node_obj_stopped(existing);
    adopt_meta(n, existing);
    if (n->paused) {
        KL_INFO("agent", "node %s: heartbeats stopped (" KL_AGENT_ANNOTATION_STOPPED ")", n->name);
        n->reported_ready = true;
        n->state = NODE_ACTIVE;
        agent_node_heartbeat_start(n);
        agent_check_ready(n->a);
        return 0;
    }
    lease_send(n, false);
    int64_t heartbeat = recent_heartbeat(n, existing);
    if (heartbeat) {
        /* Reported Ready a moment ago (an agent restarted quickly): carry on with the
         * periodic reports from there, as if this kubelet had never stopped. */
        n->reported_ready = true;
        n->state = NODE_ACTIVE;
        n->last_report_ms = heartbeat;
        agent_node_heartbeat_start(n);
        agent_check_ready(n->a);
        return 0;
    }
    status_send(n);
    return 0;
}

/* ---- Heartbeats ----------------------------------------------------------------------------- */

void agent_node_heartbeat_start(agent_node_t *n)
{
    agent_hb_add(n->a, n);
}

void agent_node_tick(agent_node_t *n)
{
    kl_agent_t *a = n->a;
    if (!node_live(n) || n->paused)
        return;
    if (n->state == NODE_NEW) {
        const kl_obj_t *cur = kl_informer_get(a->nodes_inf, NULL, n->name);
        int rc = agent_node_register(n, cur);
        if (rc < 0)
            KL_WARN("agent", "node %s: registration: %s", n->name, kl_strerror(rc));
        return;
    }
    lease_send(n, false);
    const kl_obj_t *cur = kl_informer_get(a->nodes_inf, NULL, n->name);
    int64_t now = agent_now();
    if (!n->reported_ready || conditions_differ(cur) || now - n->last_report_ms >= a->report_ms)
        status_send(n);
}

bool agent_node_obj_stopped(const kl_obj_t *node)
{
    const char *v = kl_val_path_str(kl_obj_root(node), "metadata", "annotations",
                                    KL_AGENT_ANNOTATION_STOPPED, NULL);
    return v && strcmp(v, "true") == 0;
}

void agent_node_observe(agent_node_t *n, const kl_obj_t *node)
{
    if (!node_live(n))
        return;
    const char *uid = kl_val_path_str(kl_obj_root(node), "metadata", "uid", NULL);
    if (n->uid == NULL)
        set_uid(n, node);
    else if (uid && strcmp(uid, n->uid) != 0) {
        /* Deleted and created again under the same name: register it anew. */
        set_uid(n, node);
        n->lease_created = false;
        if (n->state == NODE_ACTIVE) {
            KL_INFO("agent", "node %s was created again", n->name);
            n->reported_ready = false;
            agent_node_register(n, node);
            return;
        }
    }
    bool stopped = agent_node_obj_stopped(node);
    if (stopped == n->paused)
        return;
    n->paused = stopped;
    if (stopped) {
        KL_INFO("agent", "node %s: heartbeats stopped (" KL_AGENT_ANNOTATION_STOPPED ")", n->name);
        return;
    }
    KL_INFO("agent", "node %s: heartbeats resumed", n->name);
    lease_send(n, false);
    status_send(n);
    agent_node_resume_pods(n);
}

void agent_node_stop(agent_node_t *n)
{
    n->state = NODE_GONE;
    agent_hb_remove(n->a, n);
    while (n->pods)
        agent_pod_release(n->pods);
}
