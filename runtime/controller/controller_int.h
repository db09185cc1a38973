/* controller/controller_int.h - structures shared by controller.c, ctx.c and events.c. */
#ifndef KL_CONTROLLER_INT_H
#define KL_CONTROLLER_INT_H

#include <lua.h>

#include "kubelua/expectations.h"
#include "kubelua/metrics.h"
#include "kubelua/queue.h"
#include "kubelua/script.h"
#include "kubelua/strmap.h"

#include "controller/controller.h"

typedef struct watch_spec {
    kl_rtype_t *res;
    int map_ref; /* registry ref of the map function in the current generation */
} watch_spec_t;

struct kl_controller {
    kl_manager_t *m;
    char *name;
    char *path; /* policy file, or NULL for buffers */
    char *chunkname;
    char *policy_dir;
    kl_script_t *script;
    unsigned generation;
    kl_rtype_t *primary;
    kl_rtype_t **owns;
    size_t nowns;
    watch_spec_t *watches;
    size_t nwatches;
    int workers;
    double resync;
    double batch_period; /* owned-object events and status-only updates wait this long */
    uint32_t budget_ms;  /* the policy's time_budget per reconcile, or 0: the manager's */
    char component[128]; /* Event source, or "" for "<name>-controller" */
    double next_resync;
    kl_queue_t *queue;
    size_t running;
    struct reconcile *inflight; /* list of running reconciles */
    kl_expectations_t *exp;
    /* metrics */
    uint64_t reconciles_ok, reconciles_error, reconciles_requeue, reconciles_requeue_after;
    kl_histogram_t reconcile_time;
    uint64_t lua_ns;
    uint64_t lua_errors;
    uint64_t budget_kills, memory_kills;
    /* Event sink: one write at a time, at most EVENTS_QUEUE_MAX waiting (events.c). */
    struct event_out *ev_head, *ev_tail;
    size_t ev_queued;
    bool ev_writing;
    uint64_t events_dropped;
    double ev_drop_warned;
    bool subscribed;
    bool stopping;
    bool synced; /* every declared resource's cache has synced once */
};

struct kl_manager {
    kl_manager_opts_t o;
    char *field_manager;
    char *instance;
    kl_controller_t **ctrls;
    size_t n, cap;
    bool leader;
    bool draining;      /* stopping: no new reconciles, in-flight ones finish */
    kl_strmap_t events; /* recorder: aggregation key -> event_seen_t */
    uv_timer_t *resync_timer;
    uv_timer_t *sync_timer; /* polls caches until every controller has synced */
    uint64_t writes, write_errors;
};

/* A reconcile in flight. */
typedef struct reconcile {
    kl_controller_t *c;
    char *key;
    char *ns; /* namespace part of the key, NULL for cluster-scoped */
    char *name;
    double start;
    uint64_t start_ns;
    kl_invocation_t *inv;
    struct ctx_ud *ctx;            /* the ctx userdata, marked dead when the reconcile ends */
    double requeue_after;          /* set by ctx:requeue_after */
    bool unsynced;                 /* failed reading a cache that has not synced: retry quietly */
    struct reconcile *prev, *next; /* the controller's reconciles in flight */
} reconcile_t;

/* ctx.c */
void kl_ctx_register(lua_State *L);
/* [-0, +1, m] Pushes a new ctx userdata bound to r. */
void kl_ctx_push(lua_State *L, reconcile_t *r);
/* Marks the ctx of a finished reconcile dead (its methods raise afterwards). */
void kl_ctx_kill(reconcile_t *r);
/* Resolves a resource spec for a reconcile (cached by the backend). Raises on failure, and
 * when reading (for_read) a cache that has not synced yet (r->unsynced is then set). */
kl_rtype_t *kl_ctx_resource(lua_State *L, reconcile_t *r, int idx, bool for_read);

/* [-0, +1, m] Pushes the read-only cache accessor handed to watch map functions. */
void kl_cache_push(lua_State *L, kl_controller_t *c);

/* events.c: records a Kubernetes Event about obj (aggregated like client-go's recorder). */
void kl_event_record(kl_manager_t *m, kl_controller_t *c, const kl_obj_t *obj, const char *type,
                     const char *reason, const char *message);
void kl_events_cleanup(kl_manager_t *m);
/* Frees the events c has queued and not yet written. */
void kl_events_discard(kl_controller_t *c);

#endif
