/* Built-in printers for core/v1 kinds (pods, nodes, namespaces, events, configmaps, secrets,
 * serviceaccounts, services), coordination.k8s.io leases and events.k8s.io events, and the
 * lookup of every built-in printer. Cells follow kubernetes pkg/printers/internalversion
 * (printers.go) as of 1.32, printing wide as the apiserver does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/table_int.h"

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

typedef struct tstamp {
    int64_t sec;
    int32_t nsec;
} tstamp_t;

static tstamp_t time_or_zero(kl_val_t v)
{
    tstamp_t t;
    if (!kl__time_of(v, &t.sec, &t.nsec))
        t = (tstamp_t){KL__ZERO_TIME_SEC, 0};
    return t;
}

static bool time_before(tstamp_t a, tstamp_t b)
{
    return a.sec < b.sec || (a.sec == b.sec && a.nsec < b.nsec);
}

static bool time_is_zero(tstamp_t t)
{
    return t.sec == KL__ZERO_TIME_SEC && t.nsec == 0;
}

/* The Name cell: metadata.name. */
static void cell_name(kl__cells_t *c, kl_val_t obj)
{
    size_t n;
    const char *s = kl__str(kl_val_get(obj, "metadata"), "name", &n);
    kl__cell_strn(c, s, n);
}

static void cell_created(kl__cells_t *c, kl_val_t obj)
{
    kl__cell_age(c, kl_val_path(obj, "metadata", "creationTimestamp", NULL));
}

/* A string member, or `fallback` when it is missing or empty. */
static void cell_str_or(kl__cells_t *c, kl_val_t v, const char *key, const char *fallback)
{
    size_t n;
    const char *s = kl__str(v, key, &n);
    if (n == 0)
        kl__cell_str(c, fallback);
    else
        kl__cell_strn(c, s, n);
}

/* The first element of an array of objects whose `key` equals `val`. */
static kl_val_t find_by(kl_val_t arr, const char *key, const char *val)
{
    for (uint32_t i = 0; i < kl_val_len(arr); i++) {
        kl_val_t e = kl_val_at(arr, i);
        if (kl__str_is(kl_val_get(e, key), val))
            return e;
    }
    return (kl_val_t){0};
}

static uint32_t count_of(kl_val_t v)
{
    kl_type_t t = kl_val_type(v);
    return t == KL_TOBJECT || t == KL_TARRAY ? kl_val_len(v) : 0;
}

/* ---- Pods ------------------------------------------------------------------------------- */

static const kl__column_t pod_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0},
    {"Status", "string", "", "The aggregate status of the containers in this pod.", 0},
    {"Restarts", "string", "",
     "The number of times the containers in this pod have been restarted and when the last "
     "container in this pod has restarted.",
     0},
    {"Age", "string", "", kl__desc_created, 0},
    {"IP", "string", "",
     "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet "
     "allocated.",
     1},
    {"Node", "string", "",
     "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate "
     "for scheduling by the scheduler defined in schedulerName. Once this field is set, the "
     "kubelet for this node becomes responsible for the lifecycle of this pod. This field should "
     "not be used to express a desire for the pod to be scheduled on a specific node. "
     "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
     1},
    {"Nominated Node", "string", "",
     "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot "
     "be scheduled right away as preemption victims receive their graceful termination periods. "
     "This field does not guarantee that the pod will be scheduled on this node. Scheduler may "
     "decide to place the pod elsewhere if other nodes become available sooner. Scheduler may "
     "also decide to give the resources on this node to a higher priority pod that is created "
     "after preemption. As a result, this field may be different than PodSpec.nodeName when the "
     "pod is scheduled.",
     1},
    {"Readiness Gates", "string", "",
     "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when "
     "all its containers are ready AND all conditions specified in the readiness gates have "
     "status equal to \"True\" More info: "
     "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
     1},
};

static const char pod_succeeded_conditions[] =
    "[{\"type\":\"Completed\",\"status\":\"True\",\"reason\":\"Succeeded\","
    "\"message\":\"The pod has completed successfully.\"}]";
static const char pod_failed_conditions[] =
    "[{\"type\":\"Completed\",\"status\":\"True\",\"reason\":\"Failed\","
    "\"message\":\"The pod failed.\"}]";

/* A condition's status is "True" for the first condition of that type. */
static bool condition_true(kl_val_t conditions, const char *type)
{
    kl_val_t cond = find_by(conditions, "type", type);
    return kl__str_is(kl_val_get(cond, "status"), "True");
}

static bool is_restartable_init(kl_val_t init_specs, kl_val_t status_name)
{
    size_t n;
    const char *name = kl_val_str(status_name, &n);
    for (uint32_t i = 0; name && i < kl_val_len(init_specs); i++) {
        kl_val_t spec = kl_val_at(init_specs, i);
        size_t sn;
        const char *s = kl_val_str(kl_val_get(spec, "name"), &sn);
        if (s && sn == n && memcmp(s, name, n) == 0)
            return kl__str_is(kl_val_get(spec, "restartPolicy"), "Always");
    }
    return false;
}

typedef struct reason {
    const char *s;
    size_t len;
    char buf[512];
} reason_t;

static void reason_set(reason_t *r, const char *s, size_t len)
{
    r->s = s;
    r->len = len;
}

static void reason_printf(reason_t *r, const char *fmt, ...) KL_PRINTF(2, 3);
static void reason_printf(reason_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->buf, sizeof(r->buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    r->s = r->buf;
    r->len = (size_t)n < sizeof(r->buf) ? (size_t)n : sizeof(r->buf) - 1;
}

static bool reason_is(const reason_t *r, const char *s)
{
    return r->len == strlen(s) && memcmp(r->s, s, r->len) == 0;
}

static void pod_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t pod)
{
    kl_val_t meta = kl_val_get(pod, "metadata");
    kl_val_t spec = kl_val_get(pod, "spec");
    kl_val_t status = kl_val_get(pod, "status");
    kl_val_t conditions = kl_val_get(status, "conditions");
    kl_val_t init_specs = kl_val_get(spec, "initContainers");
    int64_t restarts = 0, ri_restarts = 0, ready = 0;
    int64_t total = count_of(kl_val_get(spec, "containers"));
    tstamp_t last = {KL__ZERO_TIME_SEC, 0}, last_ri = last;

    size_t phase_len, sreason_len;
    const char *phase = kl__str(status, "phase", &phase_len);
    const char *sreason = kl__str(status, "reason", &sreason_len);
    reason_t reason;
    reason_set(&reason, phase, phase_len);
    if (sreason_len > 0)
        reason_set(&reason, sreason, sreason_len);
    for (uint32_t i = 0; i < count_of(conditions); i++) {
        kl_val_t cond = kl_val_at(conditions, i);
        if (kl__str_is(kl_val_get(cond, "type"), "PodScheduled") &&
            kl__str_is(kl_val_get(cond, "reason"), "SchedulingGated"))
            reason_set(&reason, "SchedulingGated", strlen("SchedulingGated"));
    }

    bool succeeded = kl__str_is(kl_val_get(status, "phase"), "Succeeded");
    bool failed = kl__str_is(kl_val_get(status, "phase"), "Failed");
    if (succeeded)
        c->conditions = pod_succeeded_conditions;
    else if (failed)
        c->conditions = pod_failed_conditions;

    uint32_t ninit = count_of(init_specs);
    for (uint32_t i = 0; i < ninit; i++)
        if (kl__str_is(kl_val_get(kl_val_at(init_specs, i), "restartPolicy"), "Always"))
            total++;

    bool initializing = false;
    kl_val_t init_statuses = kl_val_get(status, "initContainerStatuses");
    for (uint32_t i = 0; i < count_of(init_statuses); i++) {
        kl_val_t cs = kl_val_at(init_statuses, i);
        int64_t rc = kl_val_int(kl_val_get(cs, "restartCount"));
        restarts += rc;
        kl_val_t last_term = kl_val_path(cs, "lastState", "terminated", NULL);
        tstamp_t finished = time_or_zero(kl_val_get(last_term, "finishedAt"));
        if (kl__present(last_term) && time_before(last, finished))
            last = finished;
        bool restartable = is_restartable_init(init_specs, kl_val_get(cs, "name"));
        if (restartable) {
            ri_restarts += rc;
            if (kl__present(last_term) && time_before(last_ri, finished))
                last_ri = finished;
        }
        kl_val_t term = kl_val_path(cs, "state", "terminated", NULL);
        kl_val_t waiting = kl_val_path(cs, "state", "waiting", NULL);
        size_t wr_len, tr_len;
        const char *wr = kl__str(waiting, "reason", &wr_len);
        const char *tr = kl__str(term, "reason", &tr_len);
        if (kl__present(term) && kl_val_int(kl_val_get(term, "exitCode")) == 0)
            continue;
        if (restartable && kl_val_type(kl_val_get(cs, "started")) == KL_TTRUE) {
            if (kl_val_bool(kl_val_get(cs, "ready")))
                ready++;
            continue;
        }
        if (kl__present(term)) {
            if (tr_len == 0) {
                int64_t sig = kl_val_int(kl_val_get(term, "signal"));
                if (sig != 0)
                    reason_printf(&reason, "Init:Signal:%lld", (long long)sig);
                else
                    reason_printf(&reason, "Init:ExitCode:%lld",
                                  (long long)kl_val_int(kl_val_get(term, "exitCode")));
            } else {
                reason_printf(&reason, "Init:%.*s", (int)tr_len, tr);
            }
        } else if (kl__present(waiting) && wr_len > 0 &&
                   !(wr_len == 15 && memcmp(wr, "PodInitializing", 15) == 0)) {
            reason_printf(&reason, "Init:%.*s", (int)wr_len, wr);
        } else {
            reason_printf(&reason, "Init:%u/%u", i, ninit);
        }
        initializing = true;
        break;
    }

    if (!initializing || condition_true(conditions, "Initialized")) {
        restarts = ri_restarts;
        last = last_ri;
        bool has_running = false;
        kl_val_t statuses = kl_val_get(status, "containerStatuses");
        for (uint32_t i = count_of(statuses); i-- > 0;) {
            kl_val_t cs = kl_val_at(statuses, i);
            restarts += kl_val_int(kl_val_get(cs, "restartCount"));
            kl_val_t last_term = kl_val_path(cs, "lastState", "terminated", NULL);
            tstamp_t finished = time_or_zero(kl_val_get(last_term, "finishedAt"));
            if (kl__present(last_term) && time_before(last, finished))
                last = finished;
            kl_val_t term = kl_val_path(cs, "state", "terminated", NULL);
            kl_val_t waiting = kl_val_path(cs, "state", "waiting", NULL);
            size_t wr_len, tr_len;
            const char *wr = kl__str(waiting, "reason", &wr_len);
            const char *tr = kl__str(term, "reason", &tr_len);
            if (kl__present(waiting) && wr_len > 0) {
                reason_set(&reason, wr, wr_len);
            } else if (kl__present(term) && tr_len > 0) {
                reason_set(&reason, tr, tr_len);
            } else if (kl__present(term)) {
                int64_t sig = kl_val_int(kl_val_get(term, "signal"));
                if (sig != 0)
                    reason_printf(&reason, "Signal:%lld", (long long)sig);
                else
                    reason_printf(&reason, "ExitCode:%lld",
                                  (long long)kl_val_int(kl_val_get(term, "exitCode")));
            } else if (kl_val_bool(kl_val_get(cs, "ready")) &&
                       kl__present(kl_val_path(cs, "state", "running", NULL))) {
                has_running = true;
                ready++;
            }
        }
        /* A pod whose remaining containers still run is Running again (or NotReady). */
        if (reason_is(&reason, "Completed") && has_running) {
            if (condition_true(conditions, "Ready"))
                reason_set(&reason, "Running", 7);
            else
                reason_set(&reason, "NotReady", 8);
        }
    }

    if (kl__present(kl_val_get(meta, "deletionTimestamp"))) {
        if (kl__str_is(kl_val_get(status, "reason"), "NodeLost"))
            reason_set(&reason, "Unknown", 7);
        else if (!succeeded && !failed)
            reason_set(&reason, "Terminating", 11);
    }

    cell_name(c, pod);
    kl__cell_printf(c, "%lld/%lld", (long long)ready, (long long)total);
    kl__cell_strn(c, reason.s, reason.len);
    if (restarts != 0 && !time_is_zero(last)) {
        char ago[32];
        kl__since(c->now, last.sec, last.nsec, ago, sizeof(ago));
        kl__cell_printf(c, "%lld (%s ago)", (long long)restarts, ago);
    } else {
        kl__cell_printf(c, "%lld", (long long)restarts);
    }
    cell_created(c, pod);

    cell_str_or(c, kl_val_at(kl_val_get(status, "podIPs"), 0), "ip", "<none>");
    cell_str_or(c, spec, "nodeName", "<none>");
    cell_str_or(c, status, "nominatedNodeName", "<none>");
    kl_val_t gates = kl_val_get(spec, "readinessGates");
    uint32_t ngates = count_of(gates);
    if (ngates == 0) {
        kl__cell_str(c, "<none>");
    } else {
        uint32_t true_conditions = 0;
        for (uint32_t i = 0; i < ngates; i++) {
            size_t tn;
            const char *type = kl__str(kl_val_at(gates, i), "conditionType", &tn);
            for (uint32_t j = 0; j < count_of(conditions); j++) {
                kl_val_t cond = kl_val_at(conditions, j);
                size_t cn;
                const char *ct = kl__str(cond, "type", &cn);
                if (cn == tn && memcmp(ct, type, tn) == 0) {
                    if (kl__str_is(kl_val_get(cond, "status"), "True"))
                        true_conditions++;
                    break;
                }
            }
        }
        kl__cell_printf(c, "%u/%u", true_conditions, ngates);
    }
}

/* ---- Nodes ------------------------------------------------------------------------------ */

static const char node_addresses_desc[] =
    "List of addresses reachable to the node. Queried from cloud provider, if available. More "
    "info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is "
    "declared as mergeable, but the merge key is not sufficiently unique, which can cause data "
    "corruption when it is merged. Callers should instead use a full-replacement patch. See "
    "https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change "
    "during the lifetime of a Node. However, there are some exceptions where this may not be "
    "possible, such as Pods that inherit a Node's address in its own status or consumers of the "
    "downward API (status.hostIP).";

static const kl__column_t node_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Status", "string", "", "The status of the node", 0},
    {"Roles", "string", "", "The roles of the node", 0},
    {"Age", "string", "", kl__desc_created, 0},
    {"Version", "string", "", "Kubelet Version reported by the node.", 0},
    {"Internal-IP", "string", "", node_addresses_desc, 1},
    {"External-IP", "string", "", node_addresses_desc, 1},
    {"OS-Image", "string", "",
     "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1},
    {"Kernel-Version", "string", "",
     "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1},
    {"Container-Runtime", "string", "",
     "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
     "containerd://1.4.2).",
     1},
};

typedef struct strref {
    const char *s;
    size_t len;
} strref_t;

static int strref_cmp(const void *a, const void *b)
{
    const strref_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->s, y->s, n);
    if (r != 0)
        return r;
    return x->len < y->len ? -1 : x->len > y->len;
}

static void node_roles(kl__cells_t *c, kl_val_t labels)
{
    static const char prefix[] = "node-role.kubernetes.io/";
    const size_t plen = sizeof(prefix) - 1;
    uint32_t n = kl_val_type(labels) == KL_TOBJECT ? kl_val_len(labels) : 0;
    strref_t *roles = n ? calloc(n, sizeof(*roles)) : NULL;
    uint32_t nr = 0;
    if (n && roles == NULL) {
        c->rc = KL_ENOMEM;
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        size_t kn, vn;
        kl_val_t v = kl_val_member(labels, i, &k, &kn);
        const char *vs = kl_val_str(v, &vn);
        if (kn > plen && memcmp(k, prefix, plen) == 0)
            roles[nr++] = (strref_t){k + plen, kn - plen};
        else if (kn == 18 && memcmp(k, "kubernetes.io/role", 18) == 0 && vs && vn > 0)
            roles[nr++] = (strref_t){vs, vn};
    }
    if (nr == 0) {
        kl__cell_str(c, "<none>");
    } else {
        qsort(roles, nr, sizeof(*roles), strref_cmp);
        kl__tmp_reset(c);
        for (uint32_t i = 0; i < nr; i++) {
            if (i > 0 && strref_cmp(&roles[i], &roles[i - 1]) == 0)
                continue;
            if (i > 0)
                kl__tmp_puts(c, ",");
            kl__tmp_putn(c, roles[i].s, roles[i].len);
        }
        kl__cell_tmp(c);
    }
    free(roles);
}

static void node_address(kl__cells_t *c, kl_val_t addresses, const char *type)
{
    kl_val_t a = find_by(addresses, "type", type);
    if (kl_val_missing(a)) {
        kl__cell_str(c, "<none>");
        return;
    }
    size_t n;
    const char *s = kl__str(a, "address", &n);
    kl__cell_strn(c, s, n);
}

static void node_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t node)
{
    kl_val_t status = kl_val_get(node, "status");
    kl_val_t info = kl_val_get(status, "nodeInfo");
    /* The last Ready condition wins (upstream indexes conditions by type in a map). */
    kl_val_t ready = {0};
    kl_val_t conditions = kl_val_get(status, "conditions");
    for (uint32_t i = 0; i < count_of(conditions); i++) {
        kl_val_t cond = kl_val_at(conditions, i);
        if (kl__str_is(kl_val_get(cond, "type"), "Ready"))
            ready = cond;
    }
    kl__tmp_reset(c);
    if (kl_val_missing(ready))
        kl__tmp_puts(c, "Unknown");
    else if (kl__str_is(kl_val_get(ready, "status"), "True"))
        kl__tmp_puts(c, "Ready");
    else
        kl__tmp_puts(c, "NotReady");
    if (kl_val_bool(kl_val_path(node, "spec", "unschedulable", NULL)))
        kl__tmp_puts(c, ",SchedulingDisabled");

    cell_name(c, node);
    kl__cell_tmp(c);
    node_roles(c, kl_val_path(node, "metadata", "labels", NULL));
    cell_created(c, node);
    size_t vn;
    const char *version = kl__str(info, "kubeletVersion", &vn);
    kl__cell_strn(c, version, vn);

    kl_val_t addresses = kl_val_get(status, "addresses");
    node_address(c, addresses, "InternalIP");
    node_address(c, addresses, "ExternalIP");
    cell_str_or(c, info, "osImage", "<unknown>");
    cell_str_or(c, info, "kernelVersion", "<unknown>");
    cell_str_or(c, info, "containerRuntimeVersion", "<unknown>");
}

/* ---- Namespaces, config maps, secrets, service accounts, leases ------------------------- */

static const kl__column_t namespace_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Status", "string", "", "The status of the namespace", 0},
    {"Age", "string", "", kl__desc_created, 0},
};

static void namespace_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t ns)
{
    cell_name(c, ns);
    size_t n;
    const char *phase = kl__str(kl_val_get(ns, "status"), "phase", &n);
    kl__cell_strn(c, phase, n);
    cell_created(c, ns);
}

static const kl__column_t configmap_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Data", "string", "",
     "Data contains the configuration data. Each key must consist of alphanumeric characters, "
     "'-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The "
     "keys stored in Data must not overlap with the keys in the BinaryData field, this is "
     "enforced during validation process.",
     0},
    {"Age", "string", "", kl__desc_created, 0},
};

static void configmap_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t cm)
{
    cell_name(c, cm);
    kl__cell_int(c, (int64_t)count_of(kl_val_get(cm, "data")) +
                        (int64_t)count_of(kl_val_get(cm, "binaryData")));
    cell_created(c, cm);
}

static const kl__column_t secret_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Type", "string", "",
     "Used to facilitate programmatic handling of secret data. More info: "
     "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
     0},
    {"Data", "string", "",
     "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' "
     "or '.'. The serialized form of the secret data is a base64 encoded string, representing "
     "the arbitrary (possibly non-string) data value here. Described in "
     "https://tools.ietf.org/html/rfc4648#section-4",
     0},
    {"Age", "string", "", kl__desc_created, 0},
};

static void secret_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t s)
{
    cell_name(c, s);
    size_t n;
    const char *type = kl__str(s, "type", &n);
    kl__cell_strn(c, type, n);
    kl__cell_int(c, count_of(kl_val_get(s, "data")));
    cell_created(c, s);
}

static const kl__column_t serviceaccount_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Secrets", "string", "",
     "Secrets is a list of the secrets in the same namespace that pods running using this "
     "ServiceAccount are allowed to use. Pods are only limited to this list if this service "
     "account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The "
     "\"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer "
     "separate namespaces to isolate access to mounted secrets. This field should not be used to "
     "find auto-generated service account token secrets for use outside of pods. Instead, tokens "
     "can be requested directly using the TokenRequest API, or service account token secrets can "
     "be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret",
     0},
    {"Age", "string", "", kl__desc_created, 0},
};

static void serviceaccount_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t sa)
{
    cell_name(c, sa);
    kl__cell_int(c, count_of(kl_val_get(sa, "secrets")));
    cell_created(c, sa);
}

static const kl__column_t lease_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Holder", "string", "",
     "holderIdentity contains the identity of the holder of a current lease. If Coordinated "
     "Leader Election is used, the holder identity must be equal to the elected "
     "LeaseCandidate.metadata.name field.",
     0},
    {"Age", "string", "", kl__desc_created, 0},
};

static void lease_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t lease)
{
    cell_name(c, lease);
    size_t n;
    const char *holder = kl__str(kl_val_get(lease, "spec"), "holderIdentity", &n);
    kl__cell_strn(c, holder, n);
    cell_created(c, lease);
}

/* ---- Services --------------------------------------------------------------------------- */

static const kl__column_t service_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Type", "string", "",
     "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
     "ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a "
     "cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by "
     "the selector or if that is not specified, by manual construction of an Endpoints object or "
     "EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the "
     "endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" "
     "builds on ClusterIP and allocates a port on every node which routes to the same endpoints "
     "as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer "
     "(if supported in the current cloud) which routes to the same endpoints as the clusterIP. "
     "\"ExternalName\" aliases this service to the specified externalName. Several other fields "
     "do not apply to ExternalName services. More info: "
     "https://kubernetes.io/docs/concepts/services-networking/service/"
     "#publishing-services-service-types",
     0},
    {"Cluster-IP", "string", "",
     "clusterIP is the IP address of the service and is usually assigned randomly. If an address "
     "is specified manually, is in-range (as per system configuration), and is not in use, it "
     "will be allocated to the service; otherwise creation of the service will fail. This field "
     "may not be changed through updates unless the type field is also being changed to "
     "ExternalName (which requires this field to be blank) or the type field is being changed "
     "from ExternalName (in which case this field may optionally be specified, as describe "
     "above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting "
     "this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct "
     "endpoint connections are preferred and proxying is not required.  Only applies to types "
     "ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service "
     "of type ExternalName, creation will fail. This field will be wiped when updating a Service "
     "to type ExternalName. More info: "
     "https://kubernetes.io/docs/concepts/services-networking/service/"
     "#virtual-ips-and-service-proxies",
     0},
    {"External-IP", "string", "",
     "externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
     "traffic for this service.  These IPs are not managed by Kubernetes.  The user is "
     "responsible for ensuring that traffic arrives at a node with this IP.  A common example is "
     "external load-balancers that are not part of the Kubernetes system.",
     0},
    {"Port(s)", "string", "",
     "The list of ports that are exposed by this service. More info: "
     "https://kubernetes.io/docs/concepts/services-networking/service/"
     "#virtual-ips-and-service-proxies",
     0},
    {"Age", "string", "", kl__desc_created, 0},
    {"Selector", "string", "",
     "Route service traffic to pods with label keys and values matching this selector. If empty "
     "or not present, the service is assumed to have an external process managing its endpoints, "
     "which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and "
     "LoadBalancer. Ignored if type is ExternalName. More info: "
     "https://kubernetes.io/docs/concepts/services-networking/service/",
     1},
};

static void join_strings(kl__cells_t *c, kl_val_t arr, bool *first)
{
    for (uint32_t i = 0; i < count_of(arr); i++) {
        size_t n;
        const char *s = kl_val_str(kl_val_at(arr, i), &n);
        if (!*first)
            kl__tmp_puts(c, ",");
        *first = false;
        kl__tmp_putn(c, s ? s : "", s ? n : 0);
    }
}

static void service_external_ip(kl__cells_t *c, kl_val_t svc)
{
    kl_val_t spec = kl_val_get(svc, "spec");
    kl_val_t type = kl_val_get(spec, "type");
    kl_val_t external = kl_val_get(spec, "externalIPs");
    bool first = true;
    kl__tmp_reset(c);
    if (kl__str_is(type, "ClusterIP") || kl__str_is(type, "NodePort")) {
        if (count_of(external) == 0) {
            kl__cell_str(c, "<none>");
            return;
        }
        join_strings(c, external, &first);
    } else if (kl__str_is(type, "LoadBalancer")) {
        /* The load balancer's IPs (or host names), sorted and deduplicated, then externalIPs. */
        kl_val_t ingress = kl_val_path(svc, "status", "loadBalancer", "ingress", NULL);
        uint32_t n = count_of(ingress), nl = 0;
        strref_t *lb = n ? calloc(n, sizeof(*lb)) : NULL;
        if (n && lb == NULL) {
            c->rc = KL_ENOMEM;
            return;
        }
        for (uint32_t i = 0; i < n; i++) {
            kl_val_t e = kl_val_at(ingress, i);
            size_t len;
            const char *s = kl__str(e, "ip", &len);
            if (len == 0)
                s = kl__str(e, "hostname", &len);
            if (len > 0)
                lb[nl++] = (strref_t){s, len};
        }
        if (nl > 1)
            qsort(lb, nl, sizeof(*lb), strref_cmp);
        for (uint32_t i = 0; i < nl; i++) {
            if (i > 0 && strref_cmp(&lb[i], &lb[i - 1]) == 0)
                continue;
            if (!first)
                kl__tmp_puts(c, ",");
            first = false;
            kl__tmp_putn(c, lb[i].s, lb[i].len);
        }
        free(lb);
        join_strings(c, external, &first);
        if (first) {
            kl__cell_str(c, "<pending>");
            return;
        }
    } else if (kl__str_is(type, "ExternalName")) {
        size_t n;
        const char *s = kl__str(spec, "externalName", &n);
        kl__tmp_putn(c, s, n);
    } else {
        kl__cell_str(c, "<unknown>");
        return;
    }
    kl__cell_tmp(c);
}

static void service_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t svc)
{
    kl_val_t spec = kl_val_get(svc, "spec");
    cell_name(c, svc);
    size_t n;
    const char *type = kl__str(spec, "type", &n);
    kl__cell_strn(c, type, n);
    kl_val_t ips = kl_val_get(spec, "clusterIPs");
    if (count_of(ips) > 0) {
        const char *ip = kl_val_str(kl_val_at(ips, 0), &n);
        kl__cell_strn(c, ip ? ip : "", ip ? n : 0);
    } else {
        kl__cell_str(c, "<none>");
    }
    service_external_ip(c, svc);
    kl_val_t ports = kl_val_get(spec, "ports");
    uint32_t np = count_of(ports);
    kl__tmp_reset(c);
    for (uint32_t i = 0; i < np; i++) {
        kl_val_t port = kl_val_at(ports, i);
        long long num = (long long)kl_val_int(kl_val_get(port, "port"));
        long long node_port = (long long)kl_val_int(kl_val_get(port, "nodePort"));
        size_t pn;
        const char *proto = kl__str(port, "protocol", &pn);
        if (i)
            kl__tmp_puts(c, ",");
        if (node_port > 0)
            kl__tmp_printf(c, "%lld:%lld/%.*s", num, node_port, (int)pn, proto);
        else
            kl__tmp_printf(c, "%lld/%.*s", num, (int)pn, proto);
    }
    if (c->tmp.len == 0)
        kl__cell_str(c, "<none>");
    else
        kl__cell_tmp(c);
    cell_created(c, svc);
    kl__cell_labels(c, kl_val_get(spec, "selector"));
}

/* ---- Events ----------------------------------------------------------------------------- */

static const kl__column_t event_cols[] = {
    {"Last Seen", "string", "",
     "The time at which the most recent occurrence of this event was recorded.", 0},
    {"Type", "string", "",
     "Type of this event (Normal, Warning), new types could be added in the "
     "future",
     0},
    {"Reason", "string", "",
     "This should be a short, machine understandable string that gives the reason for the "
     "transition into the object's current status.",
     0},
    {"Object", "string", "", "The object that this event is about.", 0},
    {"Subobject", "string", "",
     "If referring to a piece of an object instead of an entire object, this string should "
     "contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. "
     "For example, if the object reference is to a container within a pod, this would take on a "
     "value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container "
     "that triggered the event) or if no container name is specified \"spec.containers[2]\" "
     "(container with index 2 in this pod). This syntax is chosen only to have some well-defined "
     "way of referencing a part of an object.",
     1},
    {"Source", "string", "",
     "The component reporting this event. Should be a short machine understandable string.", 1},
    {"Message", "string", "", "A human-readable description of the status of this operation.", 0},
    {"First Seen", "string", "",
     "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", 1},
    {"Count", "string", "", "The number of times this event has occurred.", 1},
    {"Name", "string", "name", kl__desc_name, 1},
};

/* Field names of the same Event in core/v1 and in events.k8s.io/v1. */
typedef struct event_fields {
    const char *first, *last, *count, *object, *source, *message, *controller;
} event_fields_t;

static const event_fields_t core_event = {"firstTimestamp",    "lastTimestamp", "count",
                                          "involvedObject",    "source",        "message",
                                          "reportingComponent"};
static const event_fields_t events_v1_event = {
    "deprecatedFirstTimestamp", "deprecatedLastTimestamp",
    "deprecatedCount",          "regarding",
    "deprecatedSource",         "note",
    "reportingController"};

static void since_or_unknown(kl__cells_t *c, kl_val_t ts, char *out, size_t cap)
{
    int64_t sec;
    int32_t nsec;
    if (kl__time_of(ts, &sec, &nsec))
        kl__since(c->now, sec, nsec, out, cap);
    else
        snprintf(out, cap, "<unknown>");
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

static void event_row_fields(kl__cells_t *c, kl_val_t ev, const event_fields_t *f)
{
    char first[32], last[32];
    kl_val_t first_ts = kl_val_get(ev, f->first);
    int64_t sec;
    int32_t nsec;
    if (kl__time_of(first_ts, &sec, &nsec))
        kl__since(c->now, sec, nsec, first, sizeof(first));
    else
        since_or_unknown(c, kl_val_get(ev, "eventTime"), first, sizeof(first));
    kl_val_t last_ts = kl_val_get(ev, f->last);
    if (kl__time_of(last_ts, &sec, &nsec))
        kl__since(c->now, sec, nsec, last, sizeof(last));
    else
        memcpy(last, first, sizeof(last));

    int64_t count = kl_val_int(kl_val_get(ev, f->count));
    kl_val_t series = kl_val_get(ev, "series");
    if (kl__present(series)) {
        since_or_unknown(c, kl_val_get(series, "lastObservedTime"), last, sizeof(last));
        count = kl_val_int(kl_val_get(series, "count"));
    } else if (count == 0) {
        count = 1; /* singleton events have no count in the new API */
    }

    kl_val_t obj = kl_val_get(ev, f->object);
    size_t kn, nn;
    const char *kind = kl__str(obj, "kind", &kn);
    const char *name = kl__str(obj, "name", &nn);

    kl__cell_str(c, last);
    size_t n;
    const char *s = kl__str(ev, "type", &n);
    kl__cell_strn(c, s, n);
    s = kl__str(ev, "reason", &n);
    kl__cell_strn(c, s, n);
    kl__tmp_reset(c);
    for (size_t i = 0; i < kn; i++) {
        char ch = kind[i];
        kl__tmp_putn(c, &(char){ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch}, 1);
    }
    if (nn > 0) {
        kl__tmp_puts(c, "/");
        kl__tmp_putn(c, name, nn);
    }
    kl__cell_tmp(c);
    s = kl__str(obj, "fieldPath", &n);
    kl__cell_strn(c, s, n);

    /* formatEventSource: component (or reporting controller), then ", host" (or instance). */
    kl_val_t source = kl_val_get(ev, f->source);
    size_t cn, hn;
    const char *component = kl__str(source, "component", &cn);
    if (cn == 0)
        component = kl__str(ev, f->controller, &cn);
    const char *host = kl__str(source, "host", &hn);
    if (hn == 0)
        host = kl__str(ev, "reportingInstance", &hn);
    kl__tmp_reset(c);
    kl__tmp_putn(c, component, cn);
    if (hn > 0) {
        kl__tmp_puts(c, ", ");
        kl__tmp_putn(c, host, hn);
    }
    kl__cell_tmp(c);

    const char *msg = kl__str(ev, f->message, &n);
    while (n > 0 && is_space(msg[0]))
        msg++, n--;
    while (n > 0 && is_space(msg[n - 1]))
        n--;
    kl__cell_strn(c, msg, n);
    kl__cell_str(c, first);
    kl__cell_int(c, count);
    cell_name(c, ev);
}

static void event_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t ev)
{
    event_row_fields(c, ev, &core_event);
}

static void events_v1_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t ev)
{
    event_row_fields(c, ev, &events_v1_event);
}

/* ---- Registry --------------------------------------------------------------------------- */

#define PRINTER(id, columns, fn)                                                                   \
    static const kl_printer_t id = {                                                               \
        .name = #id, .cols = columns, .ncols = COUNT(columns), .row = fn}

PRINTER(pods, pod_cols, pod_row);
PRINTER(nodes, node_cols, node_row);
PRINTER(namespaces, namespace_cols, namespace_row);
PRINTER(configmaps, configmap_cols, configmap_row);
PRINTER(secrets, secret_cols, secret_row);
PRINTER(serviceaccounts, serviceaccount_cols, serviceaccount_row);
PRINTER(leases, lease_cols, lease_row);
PRINTER(services, service_cols, service_row);
PRINTER(events, event_cols, event_row);
static const kl_printer_t events_v1 = {
    .name = "events", .cols = event_cols, .ncols = COUNT(event_cols), .row = events_v1_row};

static const struct {
    const char *group, *kind;
    const kl_printer_t *printer;
} builtins[] = {
    {"", "Pod", &pods},
    {"", "Node", &nodes},
    {"", "Namespace", &namespaces},
    {"", "Event", &events},
    {"", "ConfigMap", &configmaps},
    {"", "Secret", &secrets},
    {"", "ServiceAccount", &serviceaccounts},
    {"", "Service", &services},
    {"events.k8s.io", "Event", &events_v1},
    {"coordination.k8s.io", "Lease", &leases},
    {"apps", "DaemonSet", &kl__printer_daemonsets},
    {"apps", "Deployment", &kl__printer_deployments},
    {"apps", "ReplicaSet", &kl__printer_replicasets},
    {"apps", "StatefulSet", &kl__printer_statefulsets},
    {"apps", "ControllerRevision", &kl__printer_controllerrevisions},
    {"batch", "Job", &kl__printer_jobs},
    {"batch", "CronJob", &kl__printer_cronjobs},
};

const kl_printer_t *kl__table_builtin(const char *group, const char *kind)
{
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
        if (strcmp(builtins[i].group, group) == 0 && strcmp(builtins[i].kind, kind) == 0)
            return builtins[i].printer;
    return kl__table_res_builtin(group, kind);
}
