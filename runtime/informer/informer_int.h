/* informer/informer_int.h - internals of the informer, shared by its sources and its tests.
 * Loop thread only. */
#ifndef KL_INFORMER_INFORMER_INT_H
#define KL_INFORMER_INFORMER_INT_H

#include <uv.h>

#include "kubelua/informer.h"
#include "kubelua/metrics.h"
#include "kubelua/strmap.h"

enum { IDX_NAMESPACE, IDX_OWNER, IDX_NODE, IDX_LABEL };

typedef struct bucket {
    char *value; /* owned; the key of the index map */
    struct entry **items;
    uint32_t n, cap;
} bucket_t;

typedef struct link {
    bucket_t *b; /* NULL when the entry is not in this index */
    uint32_t pos;
} link_t;

typedef struct entry {
    kl_obj_t *obj;
    link_t *links; /* one per index */
    uint32_t gen;  /* relist generation that last saw it */
    char key[];    /* "ns/name" or "name" */
} entry_t;

typedef struct index {
    char *name;      /* "namespace", "owner", "node", "label:<key>" */
    int kind;        /* IDX_* */
    char *label_key; /* for IDX_LABEL */
    kl_strmap_t buckets;
} index_t;

typedef struct handler {
    kl_informer_handlers_t h;
    void *ud;
    uint64_t id;
    bool removed;
    bool replay; /* owes the cache's current content as adds */
    bool synced_sent;
} handler_t;

typedef enum phase {
    PH_IDLE,
    PH_LISTING,  /* paginated list in progress */
    PH_INITIAL,  /* watch-list: collecting initial events */
    PH_WATCHING, /* watch stream */
    PH_BACKOFF,  /* waiting to retry */
} phase_t;

struct kl_informer {
    kl_client_t *c;
    kl_informer_opts_t o; /* strings point at the copies below */
    char *resource_str, *ns, *lsel, *fsel;
    char resbuf[256];
    kl_resource_t res;
    kl_strmap_t cache; /* key -> entry_t* (keys borrowed from the entries) */
    index_t *idx;
    size_t nidx;
    handler_t *handlers;
    size_t nhandlers, handlers_cap;
    uint64_t next_handler_id;
    int dispatching;
    bool free_pending;
    bool started, synced, ever_synced;
    bool watchlist_unsupported;
    phase_t phase;
    char rv[64];
    kl_obj_t **pending; /* objects of the list in progress */
    size_t npending, pending_cap;
    char *continue_token;
    uint32_t gen;
    kl_req_t *list_req;
    kl_watch_t *watch;
    int failures;
    int initial_failures; /* watch-list attempts that ended before the initial-events-end mark */
    uint64_t watch_started_ns;
    uint64_t watch_events; /* events on the current stream */
    uv_timer_t retry;      /* backoff */
    uv_timer_t tick;       /* resync and handler replay */
    int open_handles;
    size_t bytes;
    kl_informer_stats_t st;
    uint32_t seed;
    bool first_watch_done;
};

/* Applies one watch event to the cache and notifies handlers (takes the reference to obj). */
void kl__informer_apply(kl_informer_t *inf, kl_watch_type_t type, kl_obj_t *obj);
/* Replaces the cache with objs (takes the references; the array stays the caller's) and
 * emits the differences; marks the informer synced. */
void kl__informer_replace(kl_informer_t *inf, kl_obj_t **objs, size_t n, const char *rv);

void kl__informer_replay(kl_informer_t *inf);
void kl__informer_resync(kl_informer_t *inf);
void kl__informer_cache_clear(kl_informer_t *inf);
int kl__informer_add_index(kl_informer_t *inf, const char *name, kl_errinfo_t *err);
void kl__informer_compact_handlers(kl_informer_t *inf);
void kl__informer_schedule_tick(kl_informer_t *inf, uint64_t ms);
/* Runs what handlers asked for while they ran (a deferred free, handler removal). */
void kl__informer_finish_dispatch(kl_informer_t *inf);

#endif
