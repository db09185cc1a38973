/* Cache queries shared by the backends: which cached objects match a kl_cache_query_t. The
 * keys read on every object are interned once. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "controller/backend.h"

static pthread_once_t keys_once = PTHREAD_ONCE_INIT;
static kl_key_t k_metadata, k_namespace, k_name, k_owner_refs, k_uid, k_controller, k_spec,
    k_node_name, k_labels;

static void init_keys(void)
{
#define K(var, s) var = kl_key_intern(s, sizeof(s) - 1)
    K(k_metadata, "metadata");
    K(k_namespace, "namespace");
    K(k_name, "name");
    K(k_owner_refs, "ownerReferences");
    K(k_uid, "uid");
    K(k_controller, "controller");
    K(k_spec, "spec");
    K(k_node_name, "nodeName");
    K(k_labels, "labels");
#undef K
}

/* v's member key (interned as k, or looked up by name when interning failed). */
static kl_val_t get(kl_val_t v, kl_key_t k, const char *s)
{
    return k ? kl_val_get_key(v, k) : kl_val_get(v, s);
}

bool kl_owned_by(const kl_obj_t *o, const char *uid, bool controller_only)
{
    pthread_once(&keys_once, init_keys);
    kl_val_t refs =
        get(get(kl_obj_root(o), k_metadata, "metadata"), k_owner_refs, "ownerReferences");
    for (uint32_t i = 0; i < kl_val_len(refs); i++) {
        kl_val_t ref = kl_val_at(refs, i);
        const char *u = kl_val_str(get(ref, k_uid, "uid"), NULL);
        if (u && strcmp(u, uid) == 0 &&
            (!controller_only || kl_val_bool(get(ref, k_controller, "controller"))))
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
    if (q == NULL || (!q->namespace && !q->labels && !q->owner_uid && !q->node_name && !q->fields))
        return true;
    pthread_once(&keys_once, init_keys);
    kl_val_t root = kl_obj_root(o);
    kl_val_t md = get(root, k_metadata, "metadata");
    if (q->namespace) {
        const char *ns = kl_val_str(get(md, k_namespace, "namespace"), NULL);
        if (ns == NULL || strcmp(ns, q->namespace) != 0)
            return false;
    }
    if (q->labels && !kl_selector_matches(q->labels, get(md, k_labels, "labels")))
        return false;
    if (q->owner_uid && !kl_owned_by(o, q->owner_uid, true))
        return false;
    if (q->node_name) {
        const char *n = kl_val_str(get(get(root, k_spec, "spec"), k_node_name, "nodeName"), NULL);
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
