/* controller/backend.h - what a controller needs from a cluster, as one interface.
 *
 * Two implementations: the real one (client + shared informers over HTTP, backend_real.c) and
 * the in-process fake cluster of `kubelua test` (fake.c). Controllers read from the backend's
 * cache synchronously and write asynchronously: a write's callback always runs later on the
 * loop, never inside kl_backend_write itself. Loop thread only.
 *
 * Objects handed out by reads are borrowed from the cache: they stay valid until the callback
 * or reconcile step returns; take a reference (kl_obj_ref) to keep one longer.
 */
#ifndef KL_CONTROLLER_BACKEND_H
#define KL_CONTROLLER_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/error.h"
#include "kubelua/json.h"
#include "kubelua/object.h"
#include "kubelua/selector.h"

/* A resolved resource: "batch/v1/jobs" -> group batch, version v1, kind Job, namespaced. */
typedef struct kl_rtype {
    char *group; /* "" for core */
    char *version;
    char *resource; /* plural */
    char *kind;
    char *api_version; /* "batch/v1" or "v1" */
    char *spec;        /* "batch/v1/jobs" or "v1/pods" */
    bool namespaced;
    void *impl; /* the backend's per-resource state (cache) */
} kl_rtype_t;

/* Cache query: every field is optional (NULL / 0). */
typedef struct kl_cache_query {
    const char *namespace;
    const kl_selector_t *labels;
    const char *owner_uid; /* controller owner reference uid */
    const char *node_name; /* spec.nodeName (pods) */
    const kl_fieldsel_t *fields;
} kl_cache_query_t;

typedef enum kl_write_op {
    KL_WRITE_CREATE,
    KL_WRITE_UPDATE,
    KL_WRITE_PATCH,
    KL_WRITE_DELETE,
    KL_WRITE_GET, /* not a write: a read from the server, bypassing the cache (fresh reads) */
} kl_write_op_t;

typedef struct kl_write {
    kl_write_op_t op;
    const kl_rtype_t *res;
    const char *namespace;   /* NULL for cluster-scoped */
    const char *name;        /* NULL for create */
    const char *subresource; /* "status" ... or NULL */
    const kl_json_t *body;   /* object (create/update), patch, or NULL; borrowed for the call */
    const char *patch_type;  /* "merge", "json", "strategic", "apply" */
    const char *field_manager;
    bool force;
    const char *propagation; /* "Background", "Foreground", "Orphan" or NULL */
    int64_t grace_seconds;   /* -1: not set */
    const char *pre_uid, *pre_resource_version;
    bool dry_run;
} kl_write_t;

/* The server's answer to a failed write (a Status), or a transport error. */
typedef struct kl_write_status {
    int code;        /* HTTP status, 0 for transport errors */
    char reason[64]; /* "NotFound", "Conflict", "AlreadyExists", "Invalid", ... */
    char message[1024];
} kl_write_status_t;

/* rc is 0 or a KL_E* code; on success result is the object the server returned (the callback
 * owns the reference; NULL for deletes answered with a Status). */
typedef void (*kl_write_cb)(int rc, kl_obj_t *result, const kl_write_status_t *status, void *ud);

typedef enum kl_change {
    KL_CHANGE_ADD = 1,
    KL_CHANGE_UPDATE = 2,
    KL_CHANGE_DELETE = 3,
} kl_change_t;

/* Informer event: obj is the new state (the last known state for deletes), old the previous
 * one for updates. Both borrowed. */
typedef void (*kl_change_cb)(const kl_rtype_t *res, kl_change_t change, const kl_obj_t *obj,
                             const kl_obj_t *old, void *ud);

typedef struct kl_backend kl_backend_t;

typedef struct kl_backend_ops {
    /* Resolves "group/version/resource" ("v1/pods" for core), starting its cache. */
    int (*resolve)(kl_backend_t *b, const char *spec, kl_rtype_t **out, kl_errinfo_t *err);
    const kl_obj_t *(*get)(kl_backend_t *b, kl_rtype_t *res, const char *ns, const char *name);
    /* Calls fn for each cached object matching q; stops early when fn returns false. */
    void (*each)(kl_backend_t *b, kl_rtype_t *res, const kl_cache_query_t *q,
                 bool (*fn)(const kl_obj_t *obj, void *ud), void *ud);
    int (*write)(kl_backend_t *b, const kl_write_t *w, kl_write_cb cb, void *ud, kl_errinfo_t *err);
    /* Registers a change handler for a resource (called for every cached change). */
    int (*subscribe)(kl_backend_t *b, kl_rtype_t *res, kl_change_cb cb, void *ud);
    bool (*synced)(kl_backend_t *b, kl_rtype_t *res);
    /* Wall-clock time in seconds (the fake cluster's clock may be moved by tests). */
    double (*now)(kl_backend_t *b);
} kl_backend_ops_t;

struct kl_backend {
    const kl_backend_ops_t *ops;
};

/* True when obj matches every criterion of q (q may be NULL). */
bool kl_cache_query_match(const kl_cache_query_t *q, const kl_obj_t *obj);
/* True when obj has an ownerReference to uid (with controller: true when controller_only). */
bool kl_owned_by(const kl_obj_t *obj, const char *uid, bool controller_only);

#endif
