/* apiserver/managed.h - field ownership (metadata.managedFields) and server-side apply, as
 * kube-apiserver's field manager and structured-merge-diff do it.
 *
 * Every write records which manager owns which fields. An entry is
 *   {manager, operation: Apply|Update, apiVersion, time, fieldsType: FieldsV1, fieldsV1,
 *    subresource}
 * and there is one per (manager, operation, subresource, and apiVersion for Update). Creates,
 * updates and non-apply patches give the request's manager an Update entry owning the fields the
 * request changed (the difference between the stored and the new object); other managers lose
 * the fields it changed or removed. An apply gives the manager an Apply entry owning exactly the
 * fields of its configuration, removes the fields it applied last time and no longer applies
 * (unless another manager owns them), and fails with conflicts when it changes a field another
 * manager owns, unless forced (then that manager loses the field). Managers left owning nothing
 * are dropped; more than ten Update entries are merged, oldest first, into "ancient-changes".
 * Fields the server sets (name, namespace, uid, resourceVersion, generation,
 * creationTimestamp, managedFields, apiVersion, kind) are never owned; on the main resource of a
 * kind with a status subresource .status is not owned, on the status subresource only .status
 * is.
 *
 * Lists are tracked with the schema: associative lists (x-kubernetes-list-type map, or a patch
 * merge key) by their keys (containers by name, ports by containerPort and protocol), sets by
 * value, atomic lists (and atomic structs such as LabelSelector) as one field.
 *
 * Objects are kl_json_t trees owned by the caller; functions that change one say so. Pure
 * functions of their arguments, thread-safe per tree.
 */
#ifndef KL_APISERVER_MANAGED_H
#define KL_APISERVER_MANAGED_H

#include <stdbool.h>

#include "kubelua/error.h"
#include "kubelua/json.h"
#include "kubelua/schema.h"

#include "apiserver/fieldset.h"

/* Which part of the object a write may own. */
typedef enum kl_mf_scope {
    KL_MF_ALL = 0,     /* everything (kinds without a status subresource) */
    KL_MF_NO_STATUS,   /* the main resource of a kind with a status subresource */
    KL_MF_STATUS_ONLY, /* the status subresource */
} kl_mf_scope_t;

/* One write. */
typedef struct kl_mf_op {
    const char *manager;     /* the field manager; "" is allowed (no User-Agent) */
    const char *api_version; /* the request's group/version, "apps/v1" */
    const char *subresource; /* NULL, "status" or "scale" */
    const kl_stype_t *type;  /* the kind's schema; NULL: untyped (objects granular, lists atomic) */
    kl_mf_scope_t scope;
    const char *now; /* RFC 3339 time of the write (seconds) */
} kl_mf_op_t;

/* The conflicts of a refused apply, worded as upstream: message like `Apply failed with 1
 * conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas`, causes a
 * JSON array of StatusCause objects (type FieldManagerConflict). Both malloc'ed. */
typedef struct kl_mf_conflicts {
    char *message;
    char *causes;
} kl_mf_conflicts_t;
void kl_mf_conflicts_cleanup(kl_mf_conflicts_t *c);

/* A create (old NULL), update or non-apply patch: sets next.metadata.managedFields. The entries
 * start from those in next when the request sent valid ones (or from none when it sent [] or
 * [{}], which resets them), else from old's; for subresources always from old's. Then op's
 * manager gets an Update entry for the fields that differ between old and next. Call it after
 * defaulting, before the server's own changes. 0 or KL_ENOMEM. */
KL_NODISCARD int kl_mf_update(const kl_mf_op_t *op, const kl_json_t *old, kl_json_t *next,
                              kl_errinfo_t *err);

/* Server-side apply of config onto live (NULL: the object does not exist). *out becomes the new
 * object (the merge of both, less the fields the applier gave up) with its managedFields, owned
 * by the caller. Fails with KL_ECONFLICT and fills *conflicts when the apply changes fields
 * other managers own and force is false (for manager "kubectl", conflicts with values still as
 * in the last-applied-configuration annotation of a client-side apply are not conflicts, as
 * upstream); KL_EBADREQUEST when config carries metadata.managedFields; the errors of
 * kl_patch_apply() otherwise. When manager is "kubectl" and the object has a
 * kubectl.kubernetes.io/last-applied-configuration annotation, the annotation is rewritten to
 * the applied configuration, as upstream keeps client-side and server-side apply in step. */
KL_NODISCARD int kl_mf_apply(const kl_mf_op_t *op, const kl_json_t *live, const kl_json_t *config,
                             bool force, kl_json_t **out, kl_mf_conflicts_t *conflicts,
                             kl_errinfo_t *err);

/* A write of spec.replicas through the scale subresource (obj is the new object, its
 * managedFields still the stored ones): op's manager gets an Update entry with subresource
 * "scale" owning .spec.replicas, which every other entry loses. */
KL_NODISCARD int kl_mf_scale(const kl_mf_op_t *op, kl_json_t *obj, kl_errinfo_t *err);

/* When next differs from old only by the times in managedFields (an apply that changed
 * nothing), gives next old's managedFields so the write is a no-op, as upstream avoids
 * resourceVersion bumps for such writes. */
void kl_mf_keep_times(const kl_json_t *old, kl_json_t *next);

/* The manager a request without fieldManager gets: its User-Agent up to the first "/", without
 * unprintable characters, at most 128 bytes ("kubectl/v1.32.4 (linux/amd64) ..." -> "kubectl").
 * Writes into out (cap bytes) and returns it. */
const char *kl_mf_default_manager(const char *user_agent, size_t len, char *out, size_t cap);

/* The building blocks, exposed for tests. Sets are built in a and are relative to the object's
 * root. */
/* The fields of an object (structured-merge-diff's ToFieldSet): every leaf, list item and
 * empty or null field. */
KL_NODISCARD int kl_mf_fieldset(kl_arena_t *a, const kl_json_t *obj, const kl_stype_t *t,
                                kl_mf_scope_t scope, kl_fset_t **out);
/* The fields added, modified and removed from old (NULL: nothing) to new. */
KL_NODISCARD int kl_mf_compare(kl_arena_t *a, const kl_json_t *old, const kl_json_t *new_,
                               const kl_stype_t *t, kl_mf_scope_t scope, kl_fset_t **added,
                               kl_fset_t **modified, kl_fset_t **removed);
/* Removes from obj (in place) the fields and items that are members of s. */
KL_NODISCARD int kl_mf_remove(kl_arena_t *a, kl_json_t *obj, const kl_fset_t *s,
                              const kl_stype_t *t);

#endif
