/* kubelua/informer.h - list+watch into an indexed cache of immutable documents.
 * Uses client.h, object.h, strmap.h, metrics.h.
 *
 * Loop thread only: every function must be called on the client's loop thread; handlers run
 * there, from the loop (never from inside the call that registered them).
 *
 * An informer keeps a cache of one resource (optionally one namespace and selectors) in sync
 * with the server (client-go's reflector + indexer + shared informer):
 *   - initial state: a paginated LIST (opts.page_size per page), or a watch-list stream
 *     (sendInitialEvents=true, ended by the "k8s.io/initial-events-end" bookmark) when the server
 *     supports it (KL_LIST_AUTO tries it first and uses LIST from then on if the server refuses
 *     it with a 4xx, or twice ends the stream before the bookmark);
 *   - then WATCH from the list's resourceVersion with allowWatchBookmarks=true and a timeoutSeconds
 *     drawn from [watch_timeout_min, watch_timeout_max]; a stream that ends normally is resumed
 *     at once from the last resourceVersion seen (events or bookmarks); after an error it is
 *     resumed after a jittered exponential backoff (backoff_initial .. backoff_max);
 *   - 410 Gone/Expired (HTTP status or ERROR event) relists, and the new list is reconciled with
 *     the cache: adds for new objects, updates for changed ones (resourceVersion differs), deletes
 *     (final_state_unknown = true, with the last cached state) for objects that vanished while
 *     the watch was down;
 *   - a stream silent for longer than its timeoutSeconds plus watch_slack is treated as dead:
 *     closed and resumed (as after an error).
 *
 * The cache holds kl_obj_t documents keyed "namespace/name" (or "name" for cluster-scoped
 * objects), with metadata.managedFields dropped unless keep_managed_fields, and after the
 * optional transform. Indexes, always present: "namespace" (metadata.namespace), "owner" (uid of
 * the controller ownerReference, the one with controller: true), "node" (spec.nodeName);
 * on request: "label:<key>" (value of that label). Index values that are missing or empty
 * are not indexed.
 *
 * Ownership: documents returned by lookups and passed to handlers are borrowed from the cache:
 * valid until control returns to the loop (the cache changes only from loop callbacks), or
 * longer with kl_obj_ref(). kl_informer_list() returns new references.
 *
 * Sharing: kl_informers_t is the process's set of informers (one per client). kl_informers_get()
 * returns the existing informer for the same resource, namespace and selectors, so every
 * controller shares one watch and one cache per resource.
 *
 * Lifetime: kl_informer_free() (or kl_informers_free()) stops the streams, drops the cache and
 * closes the informer's timers; memory is released from their close callbacks, so run the loop
 * before uv_loop_close(). Freeing from inside one of the informer's own handlers is deferred
 * until the handler returns. Free informers before the client they use.
 *
 * Typical use by a controller:
 *     kl_informer_opts_t o;
 *     kl_informer_opts_init(&o);
 *     o.resource = "v1/pods";
 *     o.indexes = (const char *const[]){"label:app", NULL};
 *     kl_informers_get(set, &o, &pods, &err);          // shared with other controllers
 *     kl_informer_add_handlers(pods, &handlers, ctl, NULL);
 *     kl_informers_start(set);
 *     ... on_synced: start workers; in a reconcile:
 *     const kl_obj_t *p = kl_informer_get(pods, "ns", "name");         // borrowed
 *     kl_informer_foreach(pods, "owner", job_uid, visit, ud);         // by controller owner
 */
#ifndef KUBELUA_INFORMER_H
#define KUBELUA_INFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/buf.h"
#include "kubelua/client.h"
#include "kubelua/error.h"
#include "kubelua/object.h"

typedef struct kl_informer kl_informer_t;   /* opaque */
typedef struct kl_informers kl_informers_t; /* opaque: the shared set */

typedef enum kl_list_mode {
    KL_LIST_AUTO = 0,      /* watch-list when the server accepts it, else paginated LIST */
    KL_LIST_PAGED = 1,     /* always paginated LIST */
    KL_LIST_WATCHLIST = 2, /* always watch-list */
} kl_list_mode_t;

/* Takes the reference to obj and returns the reference to cache: obj itself, a new document
 * (after kl_obj_unref(obj)), or NULL to leave the object out of the cache. */
typedef kl_obj_t *(*kl_transform_fn)(kl_obj_t *obj, void *ud);

typedef struct kl_informer_opts {
    const char *resource;       /* "v1/pods", "apps/v1/deployments" (required; copied) */
    const char *namespace;      /* NULL: all namespaces */
    const char *label_selector; /* NULL: everything */
    const char *field_selector;
    double resync_seconds;     /* periodic update(obj, obj) to every handler; 0: never */
    int64_t page_size;         /* LIST page size; default 500 */
    kl_list_mode_t list_mode;  /* default KL_LIST_AUTO */
    bool keep_managed_fields;  /* default false: metadata.managedFields dropped */
    kl_transform_fn transform; /* NULL: none */
    void *transform_ud;
    const char *const *indexes; /* NULL-terminated extra indexes ("label:app"); copied */
    int watch_timeout_min;      /* seconds; default 300 */
    int watch_timeout_max;      /* seconds; default 600 */
    double watch_slack;         /* seconds of silence past the timeout; default 30 */
    double backoff_initial;     /* seconds; default 0.8 */
    double backoff_max;         /* seconds; default 30 */
} kl_informer_opts_t;

void kl_informer_opts_init(kl_informer_opts_t *o);

/* Event handlers; any member may be NULL. Objects are borrowed (see above).
 * on_add's in_initial_list is true for objects delivered by the first sync (or the replay a
 * late handler gets). on_delete's final_state_unknown is true when the delete was inferred by a
 * relist (the object vanished while the watch was down; obj is its last cached state).
 * on_synced runs once per handler set, after the first sync (and the replay) completed. */
typedef struct kl_informer_handlers {
    void (*on_add)(kl_informer_t *inf, const kl_obj_t *obj, bool in_initial_list, void *ud);
    void (*on_update)(kl_informer_t *inf, const kl_obj_t *old_obj, const kl_obj_t *new_obj,
                      void *ud);
    void (*on_delete)(kl_informer_t *inf, const kl_obj_t *obj, bool final_state_unknown, void *ud);
    void (*on_synced)(kl_informer_t *inf, void *ud);
} kl_informer_handlers_t;

/* Creates a stopped informer. KL_EINVAL (bad resource or index name; err says which),
 * KL_ENOMEM. *out is owned by the caller (not by a kl_informers_t); free with
 * kl_informer_free(). */
KL_NODISCARD int kl_informer_new(kl_client_t *c, const kl_informer_opts_t *o, kl_informer_t **out,
                                 kl_errinfo_t *err);
void kl_informer_free(kl_informer_t *inf); /* NULL is a no-op; run the loop afterwards */
/* Starts list+watch (from the loop). Starting twice does nothing. */
KL_NODISCARD int kl_informer_start(kl_informer_t *inf);
/* Stops the streams; the cache is kept and kl_informer_start() resumes (relisting). */
void kl_informer_stop(kl_informer_t *inf);

/* Registers handlers (copied) with their ud; *id (optional) identifies them for removal.
 * When the informer already holds objects, the handlers first receive an add for each of them,
 * from the loop, then on_synced once synced. */
KL_NODISCARD int kl_informer_add_handlers(kl_informer_t *inf, const kl_informer_handlers_t *h,
                                          void *ud, uint64_t *id);
void kl_informer_remove_handlers(kl_informer_t *inf, uint64_t id);

bool kl_informer_has_synced(const kl_informer_t *inf);
/* The resourceVersion of the last event, bookmark or list seen ("" before the first sync). */
const char *kl_informer_resource_version(const kl_informer_t *inf);
const char *kl_informer_resource(const kl_informer_t *inf); /* as given in the options */

/* ---- Cache reads ---------------------------------------------------------------------- */

/* namespace NULL or "" for cluster-scoped objects. NULL when absent. */
const kl_obj_t *kl_informer_get(const kl_informer_t *inf, const char *namespace, const char *name);
/* By cache key ("ns/name" or "name"). */
const kl_obj_t *kl_informer_get_key(const kl_informer_t *inf, const char *key);
size_t kl_informer_len(const kl_informer_t *inf);

/* Adds an index ("label:<key>"; the built-in names are accepted and do nothing) and fills it
 * from the current cache. KL_EINVAL for an unknown index name. */
KL_NODISCARD int kl_informer_add_index(kl_informer_t *inf, const char *index);

/* Visits the objects whose index value equals value, or every object when index is NULL (value
 * ignored). Order is unspecified. fn returns false to stop. The cache must not change during the
 * visit (do not free or stop the informer from fn). Returns the number of objects visited, or a
 * negative KL_EINVAL for an index that does not exist. */
typedef bool (*kl_informer_visit_fn)(const kl_obj_t *obj, void *ud);
long kl_informer_foreach(const kl_informer_t *inf, const char *index, const char *value,
                         kl_informer_visit_fn fn, void *ud);
/* The same, with each object's cache key ("ns/name", or "name" for cluster-scoped objects),
 * valid during the visit: sorting by it needs no look into the objects. */
typedef bool (*kl_informer_keyed_visit_fn)(const kl_obj_t *obj, const char *key, void *ud);
long kl_informer_foreach_keyed(const kl_informer_t *inf, const char *index, const char *value,
                               kl_informer_keyed_visit_fn fn, void *ud);
/* The same as a malloc'ed array of new references; release with kl_informer_list_free(). */
KL_NODISCARD int kl_informer_list(const kl_informer_t *inf, const char *index, const char *value,
                                  kl_obj_t ***objs, size_t *n);
void kl_informer_list_free(kl_obj_t **objs, size_t n);
/* Cache key of a document ("ns/name" or "name") into out; KL_EINVAL without metadata.name,
 * KL_ETOOBIG when it does not fit. */
KL_NODISCARD int kl_informer_key_of(const kl_obj_t *obj, char *out, size_t cap);

/* ---- Metrics ---------------------------------------------------------------------------- */

typedef struct kl_informer_stats {
    uint64_t lists;          /* LIST pages requested */
    uint64_t relists;        /* full resyncs after the first (410, watch-list fallback, errors) */
    uint64_t watch_restarts; /* watches started after the first */
    uint64_t watch_errors;   /* streams ended by an error (incl. silence) */
    uint64_t events[6];      /* events received, indexed by kl_watch_type_t */
    size_t objects;          /* cached objects */
    size_t bytes;            /* bytes held by cached documents and cache entries */
} kl_informer_stats_t;

void kl_informer_stats(const kl_informer_t *inf, kl_informer_stats_t *st);
/* Renders kubelua_informer_{lists,relists,watch_restarts,watch_errors,events}_total and
 * kubelua_informer_cache_{objects,bytes} with a resource="<resource>" label. */
KL_NODISCARD int kl_informer_render_metrics(kl_buf_t *b, const kl_informer_t *const *infs,
                                            size_t n);

/* ---- The shared set --------------------------------------------------------------------- */

KL_NODISCARD int kl_informers_new(kl_client_t *c, kl_informers_t **out);
/* Frees every informer of the set (run the loop afterwards). NULL is a no-op. */
void kl_informers_free(kl_informers_t *f);
/* Returns the set's informer for o's resource, namespace and selectors, creating it (stopped)
 * on first use with o's options. Later callers share it: their extra indexes are added and the
 * shortest non-zero resync period wins; other options of later callers are ignored. The
 * informer is owned by the set. */
KL_NODISCARD int kl_informers_get(kl_informers_t *f, const kl_informer_opts_t *o,
                                  kl_informer_t **out, kl_errinfo_t *err);
/* Starts every informer of the set not started yet. */
KL_NODISCARD int kl_informers_start(kl_informers_t *f);
bool kl_informers_synced(const kl_informers_t *f);
size_t kl_informers_count(const kl_informers_t *f);
kl_informer_t *kl_informers_at(const kl_informers_t *f, size_t i);

#endif
