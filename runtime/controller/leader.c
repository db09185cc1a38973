/* Lease-based leader election. See leader.h. */
#include "controller/leader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kubelua/json.h"
#include "kubelua/ktime.h"
#include "kubelua/log.h"

struct kl_leader {
    uv_loop_t *loop;
    kl_client_t *client;
    char *ns, *name, *identity;
    double lease, renew, retry;
    uv_timer_t *timer;
    kl_leader_cb cb;
    void *ud;
    bool leading, known, busy, stopped;
    double last_renew;    /* local time of our last successful renew */
    char observed_rv[64]; /* the lease's resourceVersion when last seen */
    char observed_record[512];
    double observed_at; /* local time that record was first seen */
    int64_t transitions;
    void (*release_done)(void *);
    void *release_ud;
    bool release_wanted; /* kl_leader_release came while a request was in flight */
    bool was_leading;    /* the lease is ours to give back */
};

static void do_release(kl_leader_t *l);

static double now_s(void)
{
    return (double)kl_time_now_ms() / 1000.0;
}

static void set_leading(kl_leader_t *l, bool leading)
{
    l->known = true;
    if (l->leading == leading)
        return;
    l->leading = leading;
    KL_INFO("leader", "%s the lease %s/%s (%s)", leading ? "acquired" : "lost", l->ns, l->name,
            l->identity);
    if (l->cb)
        l->cb(l, leading, l->ud);
}

static kl_resource_t lease_res(kl_leader_t *l)
{
    return (kl_resource_t){.group = "coordination.k8s.io",
                           .version = "v1",
                           .resource = "leases",
                           .namespace = l->ns,
                           .name = l->name};
}

static char *lease_json(kl_leader_t *l, const char *holder, const char *acquire,
                        int64_t transitions, const char *rv, double lease_s)
{
    char now[40];
    int64_t ms = kl_time_now_ms();
    kl_time_format_rfc3339_micro(ms / 1000, (int32_t)(ms % 1000) * 1000, now);
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc = kl_buf_printf(
        &b,
        "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
        "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"%s%s%s},\"spec\":{"
        "\"holderIdentity\":\"%s\",\"leaseDurationSeconds\":%d,"
        "\"acquireTime\":\"%s\",\"renewTime\":\"%s\",\"leaseTransitions\":%lld}}",
        l->name, l->ns, rv ? ",\"resourceVersion\":\"" : "", rv ? rv : "", rv ? "\"" : "", holder,
        (int)lease_s, acquire ? acquire : now, now, (long long)transitions);
    if (rc < 0) {
        kl_buf_cleanup(&b);
        return NULL;
    }
    return kl_buf_take(&b, NULL);
}

static void tick(uv_timer_t *t);

static void arm(kl_leader_t *l, double seconds)
{
    if (!l->stopped)
        uv_timer_start(l->timer, tick, (uint64_t)(seconds * 1000), 0);
}

static void after_write(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                        void *ud)
{
    kl_leader_t *l = ud;
    l->busy = false;
    if (l->release_wanted) {
        /* Stopping: release from what this write left (its resourceVersion when it won). */
        if (rc == 0) {
            const char *rv =
                kl_val_path_str(kl_obj_root(body), "metadata", "resourceVersion", NULL);
            snprintf(l->observed_rv, sizeof(l->observed_rv), "%s", rv ? rv : "");
            l->was_leading = true;
        }
        do_release(l);
        return;
    }
    if (rc == 0) {
        l->last_renew = now_s();
        const char *rv = kl_val_path_str(kl_obj_root(body), "metadata", "resourceVersion", NULL);
        snprintf(l->observed_rv, sizeof(l->observed_rv), "%s", rv ? rv : "");
        l->observed_at = l->last_renew;
        set_leading(l, true);
    } else {
        KL_DEBUG("leader", "writing the lease failed: %s", st ? st->message : kl_strerror(rc));
        if (l->leading && now_s() - l->last_renew > l->renew)
            set_leading(l, false);
        else if (!l->leading)
            l->known = true;
    }
    arm(l, l->retry * (l->leading ? 1.0 : 1.2));
}

static void after_get(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st, void *ud)
{
    kl_leader_t *l = ud;
    if (l->release_wanted) {
        l->busy = false;
        if (rc == 0) {
            const char *rv =
                kl_val_path_str(kl_obj_root(body), "metadata", "resourceVersion", NULL);
            const char *holder = kl_val_path_str(kl_obj_root(body), "spec", "holderIdentity", NULL);
            snprintf(l->observed_rv, sizeof(l->observed_rv), "%s", rv ? rv : "");
            l->was_leading = holder && strcmp(holder, l->identity) == 0;
        }
        do_release(l);
        return;
    }
    kl_resource_t r = lease_res(l);
    kl_req_opts_t o = {0};
    if (rc == KL_ENOTFOUND) {
        char *json = lease_json(l, l->identity, NULL, 0, NULL, l->lease);
        r.name = NULL;
        if (json && kl_client_create(c, &r, &o, json, strlen(json), after_write, l, NULL) == 0) {
            free(json);
            return;
        }
        free(json);
        l->busy = false;
        arm(l, l->retry);
        return;
    }
    if (rc < 0) {
        KL_DEBUG("leader", "reading the lease failed: %s", st ? st->message : kl_strerror(rc));
        l->busy = false;
        if (l->leading && now_s() - l->last_renew > l->renew)
            set_leading(l, false);
        arm(l, l->retry);
        return;
    }
    kl_val_t root = kl_obj_root(body);
    kl_val_t spec = kl_val_get(root, "spec");
    const char *holder = kl_val_path_str(spec, "holderIdentity", NULL);
    const char *rv = kl_val_path_str(root, "metadata", "resourceVersion", NULL);
    const char *acquire = kl_val_path_str(spec, "acquireTime", NULL);
    int64_t transitions = kl_val_int(kl_val_get(spec, "leaseTransitions"));
    double dur = (double)kl_val_int(kl_val_get(spec, "leaseDurationSeconds"));
    if (dur <= 0)
        dur = l->lease;
    /* Expiry is judged on our clock: when did we first see this record? */
    char record[512];
    snprintf(record, sizeof(record), "%s|%s", holder ? holder : "",
             kl_val_path_str(spec, "renewTime", NULL) ? kl_val_path_str(spec, "renewTime", NULL)
                                                      : "");
    if (strcmp(record, l->observed_record) != 0) {
        snprintf(l->observed_record, sizeof(l->observed_record), "%s", record);
        l->observed_at = now_s();
    }
    bool mine = holder && strcmp(holder, l->identity) == 0;
    bool free_lease = holder == NULL || *holder == '\0';
    bool expired = now_s() > l->observed_at + dur;
    if (!mine && !free_lease && !expired) {
        l->busy = false;
        if (l->leading)
            set_leading(l, false);
        l->known = true;
        arm(l, l->retry * 1.2);
        return;
    }
    l->transitions = mine ? transitions : transitions + 1;
    char *json = lease_json(l, l->identity, mine ? acquire : NULL, l->transitions, rv, l->lease);
    if (json && kl_client_update(c, &r, &o, json, strlen(json), after_write, l, NULL) == 0) {
        free(json);
        return;
    }
    free(json);
    l->busy = false;
    arm(l, l->retry);
}

static void tick(uv_timer_t *t)
{
    kl_leader_t *l = t->data;
    if (l->busy || l->stopped)
        return;
    if (l->leading && now_s() - l->last_renew > l->renew) {
        /* The renew deadline passed without a successful renew: stop leading now. */
        set_leading(l, false);
    }
    kl_resource_t r = lease_res(l);
    l->busy = true;
    if (kl_client_get(l->client, &r, NULL, after_get, l, NULL) < 0) {
        l->busy = false;
        arm(l, l->retry);
    }
}

int kl_leader_start(uv_loop_t *loop, kl_client_t *c, const kl_leader_opts_t *o, kl_leader_cb cb,
                    void *ud, kl_leader_t **out, kl_errinfo_t *err)
{
    kl_leader_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    char host[200] = "kubelua";
    gethostname(host, sizeof(host) - 1);
    char id[256];
    snprintf(id, sizeof(id), "%s_%d", host, (int)getpid());
    l->loop = loop;
    l->client = c;
    l->ns = strdup(o && o->namespace ? o->namespace : "kube-system");
    l->name = strdup(o && o->name ? o->name : "kubelua");
    l->identity = strdup(o && o->identity ? o->identity : id);
    l->lease = o && o->lease_seconds > 0 ? o->lease_seconds : 15;
    l->renew = o && o->renew_seconds > 0 ? o->renew_seconds : 10;
    l->retry = o && o->retry_seconds > 0 ? o->retry_seconds : 2;
    l->cb = cb;
    l->ud = ud;
    l->timer = malloc(sizeof(*l->timer));
    if (!l->ns || !l->name || !l->identity || !l->timer) {
        kl_leader_free(l);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    uv_timer_init(loop, l->timer);
    l->timer->data = l;
    arm(l, 0);
    *out = l;
    return 0;
}

bool kl_leader_leading(const kl_leader_t *l)
{
    return l->leading;
}

bool kl_leader_known(const kl_leader_t *l)
{
    return l->known;
}

const char *kl_leader_identity(const kl_leader_t *l)
{
    return l->identity;
}

static void after_release(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st,
                          void *ud)
{
    kl_leader_t *l = ud;
    if (rc < 0)
        KL_WARN("leader", "releasing the lease failed: %s", st ? st->message : kl_strerror(rc));
    else
        KL_INFO("leader", "released the lease %s/%s", l->ns, l->name);
    if (l->release_done)
        l->release_done(l->release_ud);
}

void kl_leader_release(kl_leader_t *l, void (*done)(void *ud), void *ud)
{
    l->stopped = true;
    uv_timer_stop(l->timer);
    l->was_leading = l->leading;
    set_leading(l, false);
    l->release_done = done;
    l->release_ud = ud;
    l->release_wanted = true;
    /* A renew in flight would make a release sent now carry a stale resourceVersion: wait for
     * its answer (after_get / after_write call do_release). */
    if (!l->busy)
        do_release(l);
}

static void do_release(kl_leader_t *l)
{
    l->release_wanted = false;
    void (*done)(void *) = l->release_done;
    void *ud = l->release_ud;
    if (!l->was_leading) {
        if (done)
            done(ud);
        return;
    }
    /* As client-go: an empty holder and a one-second lease let a standby take over at once. */
    kl_resource_t r = lease_res(l);
    kl_req_opts_t o = {0};
    char *json =
        lease_json(l, "", NULL, l->transitions, l->observed_rv[0] ? l->observed_rv : NULL, 1);
    if (json == NULL ||
        kl_client_update(l->client, &r, &o, json, strlen(json), after_release, l, NULL) < 0) {
        if (done)
            done(ud);
    }
    free(json);
}

static void free_timer(uv_handle_t *h)
{
    free(h);
}

void kl_leader_free(kl_leader_t *l)
{
    if (l == NULL)
        return;
    if (l->timer)
        uv_close((uv_handle_t *)l->timer, free_timer);
    free(l->ns);
    free(l->name);
    free(l->identity);
    free(l);
}
