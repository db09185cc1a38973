/* controller/fake.h - an in-process fake cluster for `kubelua test`.
 *
 * It stores objects in memory and behaves like an API server where policies can tell: uid,
 * resourceVersion, generation, creationTimestamp, generateName, 409 on stale updates, the status
 * subresource, pods/binding (POSTed through ctx:create with a subresource), defaulting (the
 * embedded API server's strategies), patches, finalizers and deletionTimestamp, and the garbage
 * collection of dependents. Every write a controller makes is
 * recorded for the test to inspect. Write callbacks and change notifications are delivered in
 * order from the loop (an idle handle), never inside the call that caused them, so a test run
 * is deterministic. The clock is the fake's own and only moves when the test moves it.
 * Loop thread only.
 */
#ifndef KL_CONTROLLER_FAKE_H
#define KL_CONTROLLER_FAKE_H

#include <uv.h>

#include "controller/backend.h"

typedef struct kl_fake kl_fake_t;

/* A recorded write. Strings and body are owned by the fake. */
typedef struct kl_fake_write {
    kl_write_op_t op;
    char *resource; /* "batch/v1/jobs" */
    char *namespace;
    char *name; /* the resulting object's name for creates */
    char *subresource;
    char *patch_type;
    kl_json_t *body; /* what was sent (object or patch) */
    int rc;          /* the result */
    int code;        /* HTTP-like status of the result (201, 200, 404, 409 ...) */
    char *propagation;
} kl_fake_write_t;

KL_NODISCARD int kl_fake_new(uv_loop_t *loop, kl_fake_t **out);
/* Frees the fake; pending deliveries are dropped. The caller runs the loop afterwards so the
 * idle handle can close (kl_fake_free is safe to call with the loop stopped). */
void kl_fake_free(kl_fake_t *f);
kl_backend_t *kl_fake_backend(kl_fake_t *f);

/* Declares a resource (custom resources); built-in ones are known already. */
KL_NODISCARD int kl_fake_define(kl_fake_t *f, const char *spec, const char *kind, bool namespaced);
/* Stores obj as given (create or replace), as if another actor wrote it: server fields are
 * filled in when missing, defaults applied, watchers notified. Not recorded as a write. */
KL_NODISCARD int kl_fake_put(kl_fake_t *f, const kl_json_t *obj, kl_errinfo_t *err);
/* Removes an object outright (no finalizers, no GC), notifying watchers. */
int kl_fake_remove(kl_fake_t *f, const char *spec, const char *ns, const char *name);
const kl_obj_t *kl_fake_get(kl_fake_t *f, const char *spec, const char *ns, const char *name);
/* Every stored object of a resource, sorted by namespace/name (borrowed). */
size_t kl_fake_list(kl_fake_t *f, const char *spec, const kl_obj_t **out, size_t cap);

/* Makes the next `times` writes (-1: every write) matching op, resource ("v1/pods") and name
 * (NULL: any; for creates, the object's name or generateName) fail with the given HTTP code,
 * reason and message instead of being performed. They are recorded like other writes. */
KL_NODISCARD int kl_fake_add_fault(kl_fake_t *f, kl_write_op_t op, const char *resource,
                                   const char *name, int code, const char *reason,
                                   const char *message, int times);
void kl_fake_clear_faults(kl_fake_t *f);
void kl_fake_set_now(kl_fake_t *f, double unix_seconds);
double kl_fake_now(const kl_fake_t *f);

/* Recorded writes since the last clear. */
size_t kl_fake_writes(const kl_fake_t *f, const kl_fake_write_t **out);
void kl_fake_clear_writes(kl_fake_t *f);
/* True when no callback or notification is waiting to be delivered. */
bool kl_fake_idle(const kl_fake_t *f);
/* The resource spec ("apps/v1/daemonsets") for an apiVersion and kind, or NULL. */
const char *kl_fake_spec_for(kl_fake_t *f, const char *api_version, const char *kind);

#endif
