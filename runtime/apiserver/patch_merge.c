/* RFC 7386 JSON merge patch. */
#include <stdlib.h>

#include "kubelua/patch.h"

#include "apiserver/patch_int.h"

static int merge(kl_json_t **target, const kl_json_t *patch, unsigned depth, kl_errinfo_t *err)
{
    int rc = 0;
    if (patch->type != KL_TOBJECT) {
        kl_json_t *copy = kl__patch_dup(patch, &rc);
        if (copy == NULL)
            return kl_err(err, rc, "%s", kl_strerror(rc));
        kl_json_free(*target);
        *target = copy;
        return 0;
    }
    if (depth >= KL_PATCH_MAX_DEPTH)
        return kl_err(err, KL_ETOODEEP, "patch nested deeper than %u levels", KL_PATCH_MAX_DEPTH);
    if (*target == NULL || (*target)->type != KL_TOBJECT) {
        kl_json_t *obj = kl_json_object();
        if (obj == NULL)
            return kl_err(err, KL_ENOMEM, "out of memory");
        kl_json_free(*target);
        *target = obj;
    }
    kl_json_t *t = *target;
    for (uint32_t i = 0; i < patch->len; i++) {
        const kl_jmember_t *m = &patch->u.members[i];
        int64_t at = kl__patch_member_find(t, m->key, m->keylen);
        if (m->val->type == KL_TNULL) {
            if (at >= 0)
                kl__patch_member_remove(t, (uint32_t)at);
            continue;
        }
        if (at >= 0) {
            if ((rc = merge(&t->u.members[at].val, m->val, depth + 1, err)) < 0)
                return rc;
            continue;
        }
        kl_json_t *child = NULL;
        if ((rc = merge(&child, m->val, depth + 1, err)) < 0) {
            kl_json_free(child);
            return rc;
        }
        if ((rc = kl_json_setn(t, m->key, m->keylen, child)) < 0)
            return kl_err(err, rc, "%s", kl_strerror(rc));
    }
    return 0;
}

int kl_patch_merge(kl_json_t **target, const kl_json_t *patch, kl_errinfo_t *err)
{
    if (target == NULL || patch == NULL)
        return kl_err(err, KL_EINVAL, "missing document or patch");
    return merge(target, patch, 0, err);
}
