/* kubelua/patch.h - the patch formats of the Kubernetes API, applied to mutable trees.
 * Uses json.h and schema.h (only the public kl_stype_t structs: no registry call). Pure
 * functions of their arguments; thread-safe as long as each tree is used by one thread.
 *
 * All functions edit *target in place (or replace it; *target may be NULL for "no document
 * yet"), take nothing from the patch (it stays owned by the caller), and on failure leave
 * *target in an unspecified but valid state that the caller should discard. Errors carry a
 * message fit for a Status, worded as upstream's libraries word them, e.g.
 * "unable to find api field in struct Container for the json field \"portz\"" or
 * "testing value /metadata/name failed: test failed". The code says which Status:
 *   KL_EBADREQUEST  400: the patch document is malformed (not an object / array, bad
 *                   $setElementOrder, $retainKeys or $deleteFromPrimitiveList directive);
 *   KL_EINVAL       422: the patch does not apply to this object (failed "test", missing path,
 *                   missing merge key, unknown field where a schema is needed, ...);
 *   KL_ETOOBIG      413: more than 10,000 JSON patch operations, or copies that would grow the
 *                   document beyond 2^20 values, or lists too long to apply;
 *   KL_ETOODEEP     422: nesting beyond KL_LIMIT_MAX_DEPTH;
 *   KL_ENOMEM.
 */
#ifndef KUBELUA_PATCH_H
#define KUBELUA_PATCH_H

#include "kubelua/error.h"
#include "kubelua/json.h"
#include "kubelua/schema.h"

/* RFC 7386 JSON merge patch (application/merge-patch+json): objects merge recursively, null
 * deletes, anything else (arrays included) replaces. As in the RFC a patch that is not an
 * object replaces the whole document; kube-apiserver refuses such patches (400 for null and
 * scalars), so the server checks the patch's type before calling this. */
KL_NODISCARD int kl_patch_merge(kl_json_t **target, const kl_json_t *patch, kl_errinfo_t *err);

/* RFC 6902 JSON patch (application/json-patch+json): add, remove, replace, move, copy, test,
 * JSON pointers with ~0/~1 escapes and "-" for appending. The patch must be an array of objects
 * (KL_EBADREQUEST otherwise; null is an empty patch). A failed "test", a missing path (also for
 * "replace", which the RFC requires to exist) or a bad pointer fails with KL_EINVAL. Bounded to
 * 10,000 operations, pointers of 64 KiB and KL_LIMIT_MAX_DEPTH segments. */
KL_NODISCARD int kl_patch_json(kl_json_t **target, const kl_json_t *ops, kl_errinfo_t *err);

/* Strategic merge patch (application/strategic-merge-patch+json) against schema type t, as
 * k8s.io/apimachinery/pkg/util/strategicpatch applies it in kube-apiserver: objects merge, null
 * deletes, lists whose field has patch strategy merge are merged by their
 * x-kubernetes-patch-merge-key (containers and env by name, ports by containerPort, volumes by
 * name, volumeMounts by mountPath...) or, for lists of scalars, unioned; every other list is
 * replaced. Directives: "$patch": "delete" / "replace" on an object or a list item ("merge" is
 * rejected, as upstream does), "$setElementOrder/<list>", "$retainKeys",
 * "$deleteFromPrimitiveList/<list>"; a list item without its merge key is an error. Where the
 * patch needs schema information for a field t does not have, the patch fails ("unable to find
 * api field ..."), unless that object type preserves unknown fields or is KL_SK_ANY (then the
 * field has no patch metadata). t may be NULL: every field then has no patch metadata, so lists
 * are replaced. Only t's public fields are read (no registry call). The directives never end up in
 * the result, and nulls inside values taken from the patch are dropped. The patch must be an object
 * (null is a no-op). */
KL_NODISCARD int kl_patch_strategic(kl_json_t **target, const kl_json_t *patch, const kl_stype_t *t,
                                    kl_errinfo_t *err);

/* Server-side apply of an applied configuration (application/apply-patch+yaml) without field
 * ownership: fields present in applied overwrite the live object; objects and maps merge;
 * lists with x-kubernetes-list-type map (list_map_keys) or a patch merge key merge item by item
 * on those keys (a key the applied item omits matches any value), sets (list type set, or patch
 * strategy merge on scalars) are unioned, other lists are atomic and replaced. Fields the
 * applier stopped setting, and fields it sets to null, are left alone. applied must be an
 * object. */
KL_NODISCARD int kl_patch_apply(kl_json_t **target, const kl_json_t *applied, const kl_stype_t *t,
                                kl_errinfo_t *err);

#endif
