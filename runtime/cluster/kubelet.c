/* The kubelet's rules as pure functions: restart back-off, container and pod status, QoS class,
 * addresses. See kubelet.h. */
#include "cluster/kubelet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/ktime.h"
#include "kubelua/quantity.h"

/* Messages are best effort: a failure to build one leaves it shorter. */
static void best_effort(int rc)
{
    (void)rc;
}

/* ---- Restart policy and back-off ---------------------------------------------------------- */

kl_restart_policy_t kl_restart_policy_parse(const char *s)
{
    if (s && strcmp(s, "OnFailure") == 0)
        return KL_RESTART_ON_FAILURE;
    if (s && strcmp(s, "Never") == 0)
        return KL_RESTART_NEVER;
    return KL_RESTART_ALWAYS;
}

bool kl_restart_wanted(kl_restart_policy_t policy, int exit_code)
{
    switch (policy) {
    case KL_RESTART_ALWAYS:
        return true;
    case KL_RESTART_ON_FAILURE:
        return exit_code != 0;
    default:
        return false;
    }
}

static bool backoff_expired(const kl_backoff_t *b, int64_t now_ms)
{
    return now_ms - b->last_ms > 2 * KL_BACKOFF_MAX_MS;
}

int64_t kl_backoff_restart_at(const kl_backoff_t *b, int64_t finished_ms, int64_t now_ms)
{
    if (b->backoff_ms == 0 || backoff_expired(b, now_ms))
        return now_ms;
    return finished_ms + b->backoff_ms;
}

void kl_backoff_next(kl_backoff_t *b, int64_t now_ms)
{
    if (b->backoff_ms == 0 || backoff_expired(b, now_ms)) {
        b->backoff_ms = KL_BACKOFF_INITIAL_MS;
    } else {
        b->backoff_ms *= 2;
        if (b->backoff_ms > KL_BACKOFF_MAX_MS)
            b->backoff_ms = KL_BACKOFF_MAX_MS;
    }
    b->last_ms = now_ms;
}

/* ---- Container status ----------------------------------------------------------------------- */

const char *kl_kubelet_reason(const char *reason)
{
    static const char *const known[] = {"Completed",
                                        "Error",
                                        "OOMKilled",
                                        "StartError",
                                        "ContainerCreating",
                                        "PodInitializing",
                                        "CrashLoopBackOff",
                                        "CreateContainerError",
                                        "CreateContainerConfigError",
                                        "ContainerStatusUnknown",
                                        "DeadlineExceeded",
                                        NULL};
    if (reason == NULL)
        return NULL;
    for (size_t i = 0; known[i]; i++)
        if (strcmp(known[i], reason) == 0)
            return known[i];
    kl_key_t id = kl_key_intern(reason, strlen(reason));
    return id ? kl_key_str(id, NULL) : "Error";
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void term_cleanup(kl_cterm_t *t)
{
    free(t->message);
    memset(t, 0, sizeof(*t));
}

void kl_cstatus_cleanup(kl_cstatus_t *c)
{
    free(c->name);
    free(c->image);
    free(c->message);
    term_cleanup(&c->term);
    term_cleanup(&c->last);
    c->name = c->image = c->message = NULL;
}

void kl_cstatus_wait(kl_cstatus_t *c, const char *reason, const char *message)
{
    if (c->state == KL_CSTATE_TERMINATED)
        kl_cstatus_rotate(c);
    c->state = KL_CSTATE_WAITING;
    c->reason = reason;
    free(c->message);
    c->message = dup_or_null(message);
    c->ready = c->started = false;
}

void kl_cstatus_terminate(kl_cstatus_t *c, int exit_code, int signal, const char *reason,
                          const char *message, int64_t started_ms, int64_t finished_ms)
{
    term_cleanup(&c->term);
    c->term.exit_code = exit_code;
    c->term.signal = signal;
    c->term.reason = reason ? reason : (exit_code == 0 ? "Completed" : "Error");
    c->term.message = message && *message ? strdup(message) : NULL;
    c->term.started_ms = started_ms;
    c->term.finished_ms = finished_ms;
    c->term.instance = c->restarts;
    c->state = KL_CSTATE_TERMINATED;
    c->reason = NULL;
    free(c->message);
    c->message = NULL;
    c->ready = c->started = false;
}

void kl_cstatus_rotate(kl_cstatus_t *c)
{
    if (c->state != KL_CSTATE_TERMINATED)
        return;
    term_cleanup(&c->last);
    c->last = c->term;
    memset(&c->term, 0, sizeof(c->term));
    c->has_last = true;
    c->state = KL_CSTATE_WAITING;
    c->reason = NULL;
}

void kl_cstatus_run(kl_cstatus_t *c, int64_t started_ms)
{
    kl_cstatus_rotate(c);
    if (c->has_last)
        c->restarts++;
    c->state = KL_CSTATE_RUNNING;
    c->reason = NULL;
    free(c->message);
    c->message = NULL;
    c->started_ms = started_ms;
    c->ready = c->started = false;
}

void kl_podstatus_cleanup(kl_podstatus_t *ps)
{
    for (size_t i = 0; i < ps->ninit; i++)
        kl_cstatus_cleanup(&ps->init[i]);
    for (size_t i = 0; i < ps->nctrs; i++)
        kl_cstatus_cleanup(&ps->ctrs[i]);
    free(ps->init);
    free(ps->ctrs);
    free(ps->fail_message);
    ps->init = ps->ctrs = NULL;
    ps->ninit = ps->nctrs = 0;
    ps->fail_message = NULL;
}

/* ---- Phase ---------------------------------------------------------------------------------- */

const char *kl_podstatus_phase(const kl_podstatus_t *ps)
{
    if (ps->fail_reason)
        return "Failed";
    int pending_init = 0, pending_sidecars = 0, failed_init = 0;
    int running = 0, waiting = 0, stopped = 0, succeeded = 0;
    for (size_t i = 0; i < ps->ninit; i++) {
        const kl_cstatus_t *c = &ps->init[i];
        if (c->sidecar) {
            switch (c->state) {
            case KL_CSTATE_RUNNING:
                if (!c->started)
                    pending_sidecars++;
                running++;
                break;
            case KL_CSTATE_TERMINATED:
                break;
            default:
                if (!c->has_last) {
                    pending_sidecars++;
                    waiting++;
                }
            }
            continue;
        }
        switch (c->state) {
        case KL_CSTATE_RUNNING:
            pending_init++;
            break;
        case KL_CSTATE_TERMINATED:
            if (c->term.exit_code != 0)
                failed_init++;
            break;
        default:
            if (c->has_last) {
                if (c->last.exit_code != 0)
                    failed_init++;
            } else {
                pending_init++;
            }
        }
    }
    for (size_t i = 0; i < ps->nctrs; i++) {
        const kl_cstatus_t *c = &ps->ctrs[i];
        switch (c->state) {
        case KL_CSTATE_RUNNING:
            running++;
            break;
        case KL_CSTATE_TERMINATED:
            stopped++;
            if (c->term.exit_code == 0)
                succeeded++;
            break;
        default:
            if (c->has_last)
                stopped++;
            else
                waiting++;
        }
    }
    if (failed_init > 0 && ps->restart_policy == KL_RESTART_NEVER)
        return "Failed";
    const char *phase;
    if (pending_init > 0 || (pending_sidecars > 0 && !ps->terminal))
        phase = "Pending";
    else if (waiting > 0)
        phase = "Pending";
    else if (running > 0)
        phase = "Running";
    else if (stopped > 0) {
        if (ps->terminal)
            phase = stopped == succeeded ? "Succeeded" : "Failed";
        else if (ps->restart_policy == KL_RESTART_ALWAYS)
            phase = "Running";
        else if (stopped == succeeded)
            phase = "Succeeded";
        else if (ps->restart_policy == KL_RESTART_NEVER)
            phase = "Failed";
        else
            phase = "Running";
    } else
        phase = "Pending";
    /* A pod that is done on the node ends in a terminal phase, whatever its containers say. */
    if (ps->terminal && strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0)
        phase = "Failed";
    return phase;
}

/* ---- Status document ------------------------------------------------------------------------ */

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if ((x) < 0)                                                                               \
            goto oom;                                                                              \
    } while (0)

static int set_time(kl_json_t *o, const char *key, int64_t ms)
{
    char ts[32];
    kl_time_format_rfc3339(ms / 1000, ts);
    return kl_json_set_str(o, key, ts);
}

static uint64_t fnv(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

/* "kubelua://" and 64 hex digits derived from the pod uid, container name and run. */
static void container_id(const char *uid, const char *name, uint32_t instance, char out[80])
{
    char inst[16];
    snprintf(inst, sizeof(inst), "/%u", instance);
    uint64_t h = UINT64_C(14695981039346656037);
    h = fnv(uid ? uid : "", h);
    h = fnv("/", h);
    h = fnv(name, h);
    h = fnv(inst, h);
    int n = snprintf(out, 80, "kubelua://");
    for (int i = 0; i < 4; i++) {
        uint64_t x = h ^ (UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(i + 1));
        x ^= x >> 33;
        x *= UINT64_C(0xff51afd7ed558ccd);
        x ^= x >> 33;
        n += snprintf(out + n, (size_t)(80 - n), "%016llx", (unsigned long long)x);
    }
}

static kl_json_t *term_json(const kl_podstatus_t *ps, const kl_cstatus_t *c, const kl_cterm_t *t)
{
    kl_json_t *o = kl_json_object();
    char id[80];
    container_id(ps->uid, c->name, t->instance, id);
    if (o == NULL)
        return NULL;
    CHECK(kl_json_set_int(o, "exitCode", t->exit_code));
    if (t->signal)
        CHECK(kl_json_set_int(o, "signal", t->signal));
    CHECK(kl_json_set_str(o, "reason", t->reason ? t->reason : "Error"));
    if (t->message)
        CHECK(kl_json_set_str(o, "message", t->message));
    CHECK(set_time(o, "startedAt", t->started_ms));
    CHECK(set_time(o, "finishedAt", t->finished_ms));
    CHECK(kl_json_set_str(o, "containerID", id));
    return o;
oom:
    kl_json_free(o);
    return NULL;
}

/* {"running": {...}, "waiting": null, "terminated": null} and so on: the other variants are
 * spelled out as null so that a merge never leaves two of them. */
static kl_json_t *state_json(const kl_podstatus_t *ps, const kl_cstatus_t *c)
{
    kl_json_t *st = kl_json_object(), *v = NULL;
    if (st == NULL)
        return NULL;
    const char *which;
    switch (c->state) {
    case KL_CSTATE_RUNNING:
        which = "running";
        v = kl_json_object();
        if (v == NULL || set_time(v, "startedAt", c->started_ms) < 0)
            goto oom;
        break;
    case KL_CSTATE_TERMINATED:
        which = "terminated";
        v = term_json(ps, c, &c->term);
        if (v == NULL)
            goto oom;
        break;
    default:
        which = "waiting";
        v = kl_json_object();
        if (v == NULL)
            goto oom;
        if (c->reason)
            CHECK(kl_json_set_str(v, "reason", c->reason));
        if (c->message)
            CHECK(kl_json_set_str(v, "message", c->message));
    }
    CHECK(kl_json_set(st, which, v));
    v = NULL;
    return st;
oom:
    kl_json_free(v);
    kl_json_free(st);
    return NULL;
}

static kl_json_t *cstatus_json(const kl_podstatus_t *ps, const kl_cstatus_t *c)
{
    kl_json_t *o = kl_json_object(), *v;
    if (o == NULL)
        return NULL;
    CHECK(kl_json_set_str(o, "name", c->name));
    v = state_json(ps, c);
    CHECK(v ? kl_json_set(o, "state", v) : KL_ENOMEM);
    v = kl_json_object();
    if (v && c->has_last) {
        kl_json_t *t = term_json(ps, c, &c->last);
        if (t == NULL || kl_json_set(v, "terminated", t) < 0) {
            kl_json_free(v);
            goto oom;
        }
    }
    CHECK(v ? kl_json_set(o, "lastState", v) : KL_ENOMEM);
    bool ready = c->state == KL_CSTATE_RUNNING && c->ready;
    if (c->init && !c->sidecar)
        ready = c->state == KL_CSTATE_TERMINATED && c->term.exit_code == 0;
    CHECK(kl_json_set_bool(o, "ready", ready));
    CHECK(kl_json_set_int(o, "restartCount", c->restarts));
    CHECK(kl_json_set_str(o, "image", c->image ? c->image : ""));
    char buf[600];
    snprintf(buf, sizeof(buf), "kubelua://%s", c->image ? c->image : "");
    CHECK(kl_json_set_str(o, "imageID", buf));
    if (c->state != KL_CSTATE_WAITING) {
        char id[80];
        container_id(ps->uid, c->name,
                     c->state == KL_CSTATE_TERMINATED ? c->term.instance : c->restarts, id);
        CHECK(kl_json_set_str(o, "containerID", id));
    }
    CHECK(kl_json_set_bool(o, "started", c->state == KL_CSTATE_RUNNING && c->started));
    return o;
oom:
    kl_json_free(o);
    return NULL;
}

static int cmp_by_name(const void *a, const void *b)
{
    const kl_cstatus_t *x = *(const kl_cstatus_t *const *)a, *y = *(const kl_cstatus_t *const *)b;
    return strcmp(x->name, y->name);
}

/* Go's fmt %s of a []string: "[a b c]". */
static int name_list(kl_buf_t *b, const char *prefix, const kl_cstatus_t *const *v, size_t n)
{
    if (n == 0)
        return 0;
    if (b->len && kl_buf_puts(b, ", ") < 0)
        return KL_ENOMEM;
    if (kl_buf_printf(b, "%s[", prefix) < 0)
        return KL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (kl_buf_printf(b, "%s%s", i ? " " : "", v[i]->name) < 0)
            return KL_ENOMEM;
    return kl_buf_putc(b, ']');
}

typedef struct cond_out {
    int status; /* 1 True, 2 False */
    const char *reason;
    char *message; /* owned */
} cond_out_t;

static void compute_conditions(const kl_podstatus_t *ps, const char *phase, cond_out_t out[])
{
    bool succeeded = strcmp(phase, "Succeeded") == 0, failed = strcmp(phase, "Failed") == 0;
    size_t total = ps->ninit + ps->nctrs;
    const kl_cstatus_t **list = calloc(total ? total : 1, sizeof(*list));
    size_t n = 0;
    kl_buf_t b;

    out[KL_PCOND_READY_TO_START] =
        (cond_out_t){ps->sandbox && !succeeded && !failed ? 1 : 2, NULL, NULL};
    out[KL_PCOND_SCHEDULED] = (cond_out_t){1, NULL, NULL};

    /* Initialized. */
    kl_buf_init(&b, 4096);
    bool regular_started = false;
    for (size_t i = 0; i < ps->nctrs; i++)
        if (ps->ctrs[i].state != KL_CSTATE_WAITING || ps->ctrs[i].has_last)
            regular_started = true;
    for (size_t i = 0; list && i < ps->ninit; i++) {
        const kl_cstatus_t *c = &ps->init[i];
        bool incomplete = c->sidecar
                              ? !(c->state == KL_CSTATE_RUNNING && c->started)
                              : !(c->state == KL_CSTATE_TERMINATED && c->term.exit_code == 0);
        if (incomplete)
            list[n++] = c;
    }
    if (succeeded)
        out[KL_PCOND_INITIALIZED] = (cond_out_t){1, "PodCompleted", NULL};
    else if (regular_started || n == 0)
        out[KL_PCOND_INITIALIZED] = (cond_out_t){1, NULL, NULL};
    else {
        best_effort(name_list(&b, "containers with incomplete status: ", list, n));
        out[KL_PCOND_INITIALIZED] =
            (cond_out_t){2, "ContainersNotInitialized", kl_buf_take(&b, NULL)};
    }
    kl_buf_cleanup(&b);

    /* ContainersReady and Ready. */
    kl_buf_init(&b, 4096);
    n = 0;
    for (size_t i = 0; list && i < ps->ninit; i++)
        if (ps->init[i].sidecar && !(ps->init[i].state == KL_CSTATE_RUNNING && ps->init[i].ready))
            list[n++] = &ps->init[i];
    for (size_t i = 0; list && i < ps->nctrs; i++)
        if (!(ps->ctrs[i].state == KL_CSTATE_RUNNING && ps->ctrs[i].ready))
            list[n++] = &ps->ctrs[i];
    cond_out_t cr;
    if (succeeded)
        cr = (cond_out_t){2, "PodCompleted", NULL};
    else if (failed)
        cr = (cond_out_t){2, "PodFailed", NULL};
    else if (n > 0) {
        best_effort(name_list(&b, "containers with unready status: ", list, n));
        cr = (cond_out_t){2, "ContainersNotReady", kl_buf_take(&b, NULL)};
    } else
        cr = (cond_out_t){1, NULL, NULL};
    kl_buf_cleanup(&b);
    out[KL_PCOND_CONTAINERS_READY] = cr;
    out[KL_PCOND_READY] = (cond_out_t){cr.status, cr.reason, dup_or_null(cr.message)};
    free(list);
}

static const char *const cond_names[KL_PCOND_COUNT] = {"PodReadyToStartContainers", "Initialized",
                                                       "Ready", "ContainersReady", "PodScheduled"};

static kl_json_t *addr_list(const char *ip)
{
    kl_json_t *a = kl_json_array(), *o = kl_json_object();
    if (a == NULL || o == NULL || kl_json_set_str(o, "ip", ip) < 0 || kl_json_append(a, o) < 0) {
        kl_json_free(a);
        kl_json_free(o);
        return NULL;
    }
    return a;
}

int kl_podstatus_json(kl_podstatus_t *ps, int64_t now_ms, kl_json_t **out)
{
    const char *phase = kl_podstatus_phase(ps);
    cond_out_t conds[KL_PCOND_COUNT] = {{0}};
    kl_json_t *st = kl_json_object(), *arr = NULL, *v = NULL;
    const kl_cstatus_t **sorted = NULL;
    if (st == NULL)
        return KL_ENOMEM;
    compute_conditions(ps, phase, conds);
    CHECK(kl_json_set_str(st, "phase", phase));
    arr = kl_json_array();
    if (arr == NULL)
        goto oom;
    for (int i = 0; i < KL_PCOND_COUNT; i++) {
        kl_pcond_t *pc = &ps->cond[i];
        if (pc->status != conds[i].status) {
            pc->status = conds[i].status;
            pc->since_ms = now_ms;
        }
        kl_json_t *c = kl_json_object();
        if (c == NULL || kl_json_append(arr, c) < 0)
            goto oom;
        CHECK(kl_json_set_str(c, "type", cond_names[i]));
        CHECK(kl_json_set_str(c, "status", pc->status == 1 ? "True" : "False"));
        CHECK(kl_json_set(c, "lastProbeTime", kl_json_null()));
        CHECK(set_time(c, "lastTransitionTime", pc->since_ms));
        CHECK(kl_json_set(c, "reason",
                          conds[i].reason ? kl_json_string(conds[i].reason) : kl_json_null()));
        CHECK(kl_json_set(c, "message",
                          conds[i].message ? kl_json_string(conds[i].message) : kl_json_null()));
    }
    CHECK(kl_json_set(st, "conditions", arr));
    arr = NULL;
    if (ps->host_ip[0]) {
        CHECK(kl_json_set_str(st, "hostIP", ps->host_ip));
        v = addr_list(ps->host_ip);
        CHECK(v ? kl_json_set(st, "hostIPs", v) : KL_ENOMEM);
    }
    if (ps->pod_ip[0]) {
        CHECK(kl_json_set_str(st, "podIP", ps->pod_ip));
        v = addr_list(ps->pod_ip);
        CHECK(v ? kl_json_set(st, "podIPs", v) : KL_ENOMEM);
    }
    if (ps->start_ms)
        CHECK(set_time(st, "startTime", ps->start_ms));
    if (ps->ninit) {
        arr = kl_json_array();
        if (arr == NULL)
            goto oom;
        for (size_t i = 0; i < ps->ninit; i++) {
            v = cstatus_json(ps, &ps->init[i]);
            CHECK(v ? kl_json_append(arr, v) : KL_ENOMEM);
        }
        CHECK(kl_json_set(st, "initContainerStatuses", arr));
        arr = NULL;
    }
    sorted = calloc(ps->nctrs ? ps->nctrs : 1, sizeof(*sorted));
    arr = kl_json_array();
    if (sorted == NULL || arr == NULL)
        goto oom;
    for (size_t i = 0; i < ps->nctrs; i++)
        sorted[i] = &ps->ctrs[i];
    qsort(sorted, ps->nctrs, sizeof(*sorted), cmp_by_name);
    for (size_t i = 0; i < ps->nctrs; i++) {
        v = cstatus_json(ps, sorted[i]);
        CHECK(v ? kl_json_append(arr, v) : KL_ENOMEM);
    }
    CHECK(kl_json_set(st, "containerStatuses", arr));
    arr = NULL;
    if (ps->qos)
        CHECK(kl_json_set_str(st, "qosClass", ps->qos));
    if (ps->fail_reason) {
        CHECK(kl_json_set_str(st, "reason", ps->fail_reason));
        if (ps->fail_message)
            CHECK(kl_json_set_str(st, "message", ps->fail_message));
    }
    for (int i = 0; i < KL_PCOND_COUNT; i++)
        free(conds[i].message);
    free(sorted);
    *out = st;
    return 0;
oom:
    for (int i = 0; i < KL_PCOND_COUNT; i++)
        free(conds[i].message);
    free(sorted);
    kl_json_free(arr);
    kl_json_free(st);
    return KL_ENOMEM;
}

/* ---- Adopting an existing status ------------------------------------------------------------- */

static int64_t time_ms(kl_val_t v)
{
    const char *s = kl_val_str(v, NULL);
    int64_t sec;
    int32_t ns;
    if (s == NULL || kl_time_parse_rfc3339(s, &sec, &ns) < 0)
        return 0;
    return sec * 1000 + ns / 1000000;
}

static void adopt_term(kl_cterm_t *t, kl_val_t v, uint32_t instance)
{
    term_cleanup(t);
    t->exit_code = (int)kl_val_int(kl_val_get(v, "exitCode"));
    t->signal = (int)kl_val_int(kl_val_get(v, "signal"));
    t->reason = kl_kubelet_reason(kl_val_str(kl_val_get(v, "reason"), NULL));
    if (t->reason == NULL)
        t->reason = t->exit_code == 0 ? "Completed" : "Error";
    t->message = dup_or_null(kl_val_str(kl_val_get(v, "message"), NULL));
    t->started_ms = time_ms(kl_val_get(v, "startedAt"));
    t->finished_ms = time_ms(kl_val_get(v, "finishedAt"));
    t->instance = instance;
}

static void adopt_containers(kl_cstatus_t *cs, size_t n, kl_val_t list)
{
    for (uint32_t i = 0; i < kl_val_len(list); i++) {
        kl_val_t s = kl_val_at(list, i);
        const char *name = kl_val_path_str(s, "name", NULL);
        kl_cstatus_t *c = NULL;
        for (size_t j = 0; name && j < n; j++)
            if (strcmp(cs[j].name, name) == 0)
                c = &cs[j];
        if (c == NULL)
            continue;
        int64_t rc = kl_val_int(kl_val_get(s, "restartCount"));
        c->restarts = rc > 0 ? (uint32_t)rc : 0;
        kl_val_t last = kl_val_path(s, "lastState", "terminated", NULL);
        if (kl_val_type(last) == KL_TOBJECT) {
            adopt_term(&c->last, last, c->restarts ? c->restarts - 1 : 0);
            c->has_last = true;
        }
        kl_val_t st = kl_val_get(s, "state");
        kl_val_t run = kl_val_get(st, "running"), term = kl_val_get(st, "terminated"),
                 wait = kl_val_get(st, "waiting");
        if (kl_val_type(run) == KL_TOBJECT) {
            c->state = KL_CSTATE_RUNNING;
            c->started_ms = time_ms(kl_val_get(run, "startedAt"));
            c->ready = kl_val_bool(kl_val_get(s, "ready"));
            c->started = kl_val_bool(kl_val_get(s, "started"));
        } else if (kl_val_type(term) == KL_TOBJECT) {
            c->state = KL_CSTATE_TERMINATED;
            adopt_term(&c->term, term, c->restarts);
        } else if (kl_val_type(wait) == KL_TOBJECT) {
            c->state = KL_CSTATE_WAITING;
            c->reason = kl_kubelet_reason(kl_val_str(kl_val_get(wait, "reason"), NULL));
            free(c->message);
            c->message = dup_or_null(kl_val_str(kl_val_get(wait, "message"), NULL));
        }
    }
}

void kl_podstatus_adopt(kl_podstatus_t *ps, kl_val_t status)
{
    adopt_containers(ps->init, ps->ninit, kl_val_get(status, "initContainerStatuses"));
    adopt_containers(ps->ctrs, ps->nctrs, kl_val_get(status, "containerStatuses"));
    ps->start_ms = time_ms(kl_val_get(status, "startTime"));
    const char *ip = kl_val_str(kl_val_get(status, "podIP"), NULL);
    if (ip && strlen(ip) < sizeof(ps->pod_ip))
        snprintf(ps->pod_ip, sizeof(ps->pod_ip), "%s", ip);
    kl_val_t conds = kl_val_get(status, "conditions");
    for (uint32_t i = 0; i < kl_val_len(conds); i++) {
        kl_val_t c = kl_val_at(conds, i);
        const char *type = kl_val_str(kl_val_get(c, "type"), NULL);
        const char *s = kl_val_str(kl_val_get(c, "status"), NULL);
        for (int k = 0; type && s && k < KL_PCOND_COUNT; k++) {
            if (strcmp(type, cond_names[k]) != 0)
                continue;
            ps->cond[k].status = strcmp(s, "True") == 0 ? 1 : 2;
            ps->cond[k].since_ms = time_ms(kl_val_get(c, "lastTransitionTime"));
        }
    }
}

/* ---- QoS ------------------------------------------------------------------------------------ */

typedef struct qos_sum {
    int64_t req[2], lim[2];
    bool has_req[2], has_lim[2];
} qos_sum_t;

static int64_t milli(kl_val_t v, bool *present)
{
    kl_quantity_t q;
    *present = false;
    if (kl_val_missing(v) || kl_quantity_from_val(v, &q, NULL) < 0 || kl_quantity_is_zero(&q))
        return 0;
    *present = true;
    return kl_quantity_milli(&q);
}

static bool qos_add(qos_sum_t *s, kl_val_t containers)
{
    static const char *const names[2] = {"cpu", "memory"};
    bool guaranteed = true;
    for (uint32_t i = 0; i < kl_val_len(containers); i++) {
        kl_val_t res = kl_val_get(kl_val_at(containers, i), "resources");
        bool lim_found[2] = {false, false};
        for (int k = 0; k < 2; k++) {
            bool pr, pl;
            int64_t l = milli(kl_val_path(res, "limits", names[k], NULL), &pl);
            int64_t r = milli(kl_val_path(res, "requests", names[k], NULL), &pr);
            if (!pr && pl && kl_val_missing(kl_val_path(res, "requests", names[k], NULL))) {
                r = l; /* requests default to limits */
                pr = true;
            }
            if (pr) {
                s->req[k] += r;
                s->has_req[k] = true;
            }
            if (pl) {
                s->lim[k] += l;
                s->has_lim[k] = true;
                lim_found[k] = true;
            }
        }
        if (!lim_found[0] || !lim_found[1])
            guaranteed = false;
    }
    return guaranteed;
}

const char *kl_pod_qos_class(kl_val_t spec)
{
    qos_sum_t s;
    memset(&s, 0, sizeof(s));
    bool g1 = qos_add(&s, kl_val_get(spec, "initContainers"));
    bool g2 = qos_add(&s, kl_val_get(spec, "containers"));
    bool guaranteed = g1 && g2;
    int nreq = s.has_req[0] + s.has_req[1], nlim = s.has_lim[0] + s.has_lim[1];
    if (nreq == 0 && nlim == 0)
        return "BestEffort";
    if (guaranteed) {
        for (int k = 0; k < 2; k++)
            if (s.has_req[k] && (!s.has_lim[k] || s.lim[k] != s.req[k]))
                guaranteed = false;
    }
    if (guaranteed && nreq == nlim)
        return "Guaranteed";
    return "Burstable";
}

/* ---- Addresses ------------------------------------------------------------------------------ */

static void ip_format(uint32_t a, char *out, size_t cap)
{
    snprintf(out, cap, "%u.%u.%u.%u", (a >> 24) & 255, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static int ip_parse(const char *s, uint32_t *out, const char **end)
{
    uint32_t a = 0;
    for (int i = 0; i < 4; i++) {
        char *e;
        if (*s < '0' || *s > '9')
            return -1;
        unsigned long v = strtoul(s, &e, 10);
        if (v > 255 || e - s > 3)
            return -1;
        a = (a << 8) | (uint32_t)v;
        s = e;
        if (i < 3) {
            if (*s != '.')
                return -1;
            s++;
        }
    }
    *out = a;
    *end = s;
    return 0;
}

void kl_node_ip(uint32_t index, char out[16])
{
    uint32_t a = (172u << 24) | (18u << 16);
    a += (index + 2) & 0xffff;
    ip_format(a, out, 16);
}

void kl_node_pod_cidr(uint32_t index, char out[24])
{
    uint32_t n = (244u * 256u + index) & 0xffff; /* /24 number inside 10.0.0.0/8 */
    uint32_t a = (10u << 24) | (n << 8);
    char ip[16];
    ip_format(a, ip, sizeof(ip));
    snprintf(out, 24, "%s/24", ip);
}

int64_t kl_node_pod_cidr_index(const char *cidr)
{
    uint32_t a;
    const char *e;
    if (cidr == NULL || ip_parse(cidr, &a, &e) < 0 || strcmp(e, "/24") != 0)
        return -1;
    if ((a >> 24) != 10 || (a & 255) != 0)
        return -1;
    uint32_t n = (a >> 8) & 0xffff;
    return (int64_t)((n - 244u * 256u) & 0xffff);
}

int kl_ipam_init(kl_ipam_t *p, const char *cidr)
{
    uint32_t a;
    const char *e;
    memset(p, 0, sizeof(*p));
    if (cidr == NULL || ip_parse(cidr, &a, &e) < 0 || strcmp(e, "/24") != 0 || (a & 255) != 0)
        return KL_EINVAL;
    p->base = a;
    p->next = 2;
    return 0;
}

static bool slot_used(const kl_ipam_t *p, uint32_t i)
{
    return (p->used[i / 8] >> (i % 8)) & 1;
}

int kl_ipam_alloc(kl_ipam_t *p, char out[16])
{
    if (p->base == 0)
        return KL_EINVAL;
    for (uint32_t k = 0; k < 253; k++) {
        uint32_t i = 2 + (p->next - 2 + k) % 253;
        if (!slot_used(p, i)) {
            p->used[i / 8] |= (uint8_t)(1u << (i % 8));
            p->next = i + 1 > 254 ? 2 : i + 1;
            ip_format(p->base | i, out, 16);
            return 0;
        }
    }
    return KL_EBUSY;
}

static int slot_of(const kl_ipam_t *p, const char *ip)
{
    uint32_t a;
    const char *e;
    if (p->base == 0 || ip == NULL || ip_parse(ip, &a, &e) < 0 || *e)
        return -1;
    if ((a & ~255u) != p->base || (a & 255) < 2 || (a & 255) > 254)
        return -1;
    return (int)(a & 255);
}

bool kl_ipam_claim(kl_ipam_t *p, const char *ip)
{
    int i = slot_of(p, ip);
    if (i < 0)
        return false;
    p->used[i / 8] |= (uint8_t)(1u << (i % 8));
    return true;
}

void kl_ipam_release(kl_ipam_t *p, const char *ip)
{
    int i = slot_of(p, ip);
    if (i >= 0)
        p->used[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

unsigned kl_ipam_used(const kl_ipam_t *p)
{
    unsigned n = 0;
    for (uint32_t i = 0; i < KL_IPAM_SLOTS; i++)
        n += slot_used(p, i);
    return n;
}
