/* Cache queries shared by the backends: which cached objects match a kl_cache_query_t. */
#include <stdio.h>
#include <string.h>

#include "controller/backend.h"

bool kl_owned_by(const kl_obj_t *o, const char *uid, bool controller_only)
{
    kl_val_t refs = kl_val_path(kl_obj_root(o), "metadata", "ownerReferences", NULL);
    for (uint32_t i = 0; i < kl_val_len(refs); i++) {
        kl_val_t ref = kl_val_at(refs, i);
        const char *u = kl_val_path_str(ref, "uid", NULL);
        if (u && strcmp(u, uid) == 0 &&
            (!controller_only || kl_val_bool(kl_val_get(ref, "controller"))))
            return true;
    }
    return false;
}

typedef struct field_ud {
    kl_val_t root;
    char tmp[32];
} field_ud_t;

static const char *field_get(const char *field, bool *known, void *ud)
{
    field_ud_t *c = ud;
    *known = true;
    return kl_val_scalar_text(kl_val_dotted(c->root, field), c->tmp);
}

bool kl_cache_query_match(const kl_cache_query_t *q, const kl_obj_t *o)
{
    if (q == NULL)
        return true;
    kl_val_t root = kl_obj_root(o);
    kl_val_t md = kl_val_get(root, "metadata");
    if (q->namespace) {
        const char *ns = kl_val_path_str(md, "namespace", NULL);
        if (ns == NULL || strcmp(ns, q->namespace) != 0)
            return false;
    }
    if (q->labels && !kl_selector_matches(q->labels, kl_val_get(md, "labels")))
        return false;
    if (q->owner_uid && !kl_owned_by(o, q->owner_uid, true))
        return false;
    if (q->node_name) {
        const char *n = kl_val_path_str(root, "spec", "nodeName", NULL);
        if (n == NULL || strcmp(n, q->node_name) != 0)
            return false;
    }
    if (q->fields) {
        field_ud_t c = {.root = root};
        if (kl_fieldsel_matches(q->fields, field_get, &c, NULL) != 1)
            return false;
    }
    return true;
}
