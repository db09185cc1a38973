/* Strategic merge patch, as k8s.io/apimachinery/pkg/util/strategicpatch applies it on the server
 * (StrategicMergeMapPatch: parallel lists merged, unmatched nulls ignored).
 *
 * The shape follows upstream's mergeMap/mergeSlice so that results agree item for item,
 * including list order: items named in the patch take the patch's (or $setElementOrder's)
 * order, items only on the server keep theirs, and the two are interleaved by the server's
 * order. Deviations, each marked below: values adopted from the patch are cleaned of nulls and
 * directives everywhere (upstream leaves some in, and Go's typed decoding drops them later);
 * merge keys compare with kl_json_equal() (1 equals 1.0); a patch's keys are processed in their
 * order (Go's map order is random); lookups are hashed instead of linear. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/patch.h"

#include "apiserver/patch_int.h"

#define DIRECTIVE "$patch"
#define RETAIN_KEYS "$retainKeys"
#define SET_ORDER "$setElementOrder"
#define DELETE_PRIMITIVE "$deleteFromPrimitiveList"

typedef struct smp {
    kl_errinfo_t *err;
} smp_t;

/* A vector of borrowed or owned item pointers. */
typedef struct pvec {
    kl_json_t **v;
    uint32_t n, cap;
} pvec_t;

static int pvec_push(pvec_t *p, kl_json_t *x)
{
    if (p->n == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 8;
        if (cap <= p->cap)
            return KL_ETOOBIG;
        kl_json_t **v = realloc(p->v, (size_t)cap * sizeof(*v));
        if (v == NULL)
            return KL_ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = x;
    return 0;
}

static void pvec_free(pvec_t *p)
{
    free(p->v);
    *p = (pvec_t){0};
}

/* A read-only array node over borrowed items, so that kl_vindex_t can index a vector. */
static kl_json_t view_of(const pvec_t *p)
{
    kl_json_t a = {.type = KL_TARRAY, .len = p->n, .cap = p->n};
    a.u.items = p->v;
    return a;
}

static bool has_prefix(const kl_jmember_t *m, const char *prefix)
{
    size_t n = strlen(prefix);
    return m->keylen >= n && memcmp(m->key, prefix, n) == 0;
}

static bool key_is(const kl_jmember_t *m, const char *s)
{
    return m->keylen == strlen(s) && memcmp(m->key, s, m->keylen) == 0;
}

static bool is_str(const kl_json_t *v, const char *s)
{
    return v != NULL && v->type == KL_TSTRING && v->len == strlen(s) &&
           memcmp(v->u.s, s, v->len) == 0;
}

/* ---- Errors, worded as mergepatch's ----------------------------------------------------- */

static int oom(smp_t *c)
{
    return kl_err(c->err, KL_ENOMEM, "out of memory");
}

static int fail(smp_t *c, int rc)
{
    if (rc == KL_ETOODEEP)
        return kl_err(c->err, rc, "patch nested deeper than %u levels", KL_PATCH_MAX_DEPTH);
    return kl_err(c->err, rc, "%s", kl_strerror(rc));
}

static int err_no_merge_key(smp_t *c, const kl_json_t *m, const char *key)
{
    char buf[300];
    return kl_err(c->err, KL_EINVAL, "map: %s does not contain declared merge key: %s",
                  kl__patch_fmt(buf, sizeof(buf), m), key ? key : "");
}

static int err_bad_arg_type(smp_t *c, const char *expected, const kl_json_t *actual)
{
    return kl_err(c->err, KL_EINVAL, "expected a %s, but received a %s", expected,
                  kl__patch_go_type(actual));
}

static int err_bad_patch_type(smp_t *c, const kl_json_t *t, const kl_json_t *m)
{
    char a[100], b[300];
    return kl_err(c->err, KL_EINVAL, "unknown patch type: %s in map: %s",
                  kl__patch_fmt(a, sizeof(a), t), kl__patch_fmt(b, sizeof(b), m));
}

/* ---- Cleaning values taken from the patch -------------------------------------------------- */

static bool is_directive_key(const kl_jmember_t *m)
{
    return key_is(m, RETAIN_KEYS) || has_prefix(m, SET_ORDER) || has_prefix(m, DELETE_PRIMITIVE);
}

static bool has_patch_directive(const kl_json_t *v)
{
    if (v == NULL || v->type != KL_TOBJECT)
        return false;
    const kl_json_t *d = kl_json_get(v, DIRECTIVE);
    return d != NULL && d->type != KL_TNULL;
}

/* A copy of a patch value to store: null members dropped (discardNullValuesFromPatch), objects
 * carrying "$patch" dropped (removeDirectives), and the other directive keys removed. Returns
 * NULL with *rc == 0 when v itself is dropped. */
static kl_json_t *clean_dup(const kl_json_t *v, unsigned depth, int *rc)
{
    *rc = 0;
    if (v->type != KL_TOBJECT && v->type != KL_TARRAY) {
        kl_json_t *c = kl_json_dup(v);
        if (c == NULL)
            *rc = KL_ENOMEM;
        return c;
    }
    if (depth >= KL_PATCH_MAX_DEPTH) {
        *rc = KL_ETOODEEP;
        return NULL;
    }
    if (has_patch_directive(v))
        return NULL;
    kl_json_t *c = v->type == KL_TOBJECT ? kl_json_object() : kl_json_array();
    if (c == NULL) {
        *rc = KL_ENOMEM;
        return NULL;
    }
    for (uint32_t i = 0; i < v->len; i++) {
        const kl_json_t *child;
        const kl_jmember_t *m = NULL;
        if (v->type == KL_TOBJECT) {
            m = &v->u.members[i];
            if (m->val->type == KL_TNULL || is_directive_key(m))
                continue;
            child = m->val;
        } else {
            child = v->u.items[i];
        }
        kl_json_t *cc = clean_dup(child, depth + 1, rc);
        if (cc == NULL) {
            if (*rc < 0)
                goto fail;
            continue;
        }
        *rc = m ? kl_json_setn(c, m->key, m->keylen, cc) : kl_json_append(c, cc);
        if (*rc < 0)
            goto fail;
    }
    return c;
fail:
    kl_json_free(c);
    return NULL;
}

/* Replaces *slot with a cleaned copy of v; a dropped value leaves *slot NULL. */
static int adopt(smp_t *c, kl_json_t **slot, const kl_json_t *v, unsigned depth)
{
    int rc;
    kl_json_t *copy = clean_dup(v, depth, &rc);
    if (copy == NULL && rc < 0)
        return fail(c, rc);
    kl_json_free(*slot);
    *slot = copy;
    return 0;
}

/* ---- List helpers -------------------------------------------------------------------------------
 */

/* Go's element type classes: reflect.TypeOf() of decoded JSON values. */
static int type_class(const kl_json_t *v)
{
    switch (v->type) {
    case KL_TFALSE:
    case KL_TTRUE:
        return 1;
    default:
        return (int)v->type + 1;
    }
}

/* sliceElementType: all items of a and b (either may be NULL) must have one type, which is not a
 * list. *is_map says whether it is an object. */
static int element_type(smp_t *c, const kl_json_t *a, const kl_json_t *b, bool *is_map)
{
    const kl_json_t *lists[2] = {a, b};
    const kl_json_t *first = NULL;
    for (int l = 0; l < 2; l++) {
        for (uint32_t i = 0; lists[l] && i < lists[l]->len; i++) {
            const kl_json_t *v = lists[l]->u.items[i];
            if (first == NULL) {
                first = v;
                if (v->type == KL_TARRAY)
                    return kl_err(c->err, KL_EINVAL, "lists of lists are not supported");
            } else if (type_class(v) != type_class(first)) {
                char x[200], y[200];
                return kl_err(c->err, KL_EINVAL, "list element types are not identical: [%s %s]",
                              a ? kl__patch_fmt(x, sizeof(x), a) : "[]",
                              b ? kl__patch_fmt(y, sizeof(y), b) : "[]");
            }
        }
    }
    if (first == NULL)
        return kl_err(c->err, KL_EINVAL, "no elements in any of the given slices");
    *is_map = first->type == KL_TOBJECT;
    return 0;
}

/* The key by which index() compares an item: its merge key member for lists of maps, the item
 * itself otherwise. */
static const kl_json_t *order_key(const kl_json_t *v, bool is_map, const char *merge_key)
{
    return is_map ? kl_json_get(v, merge_key ? merge_key : "") : v;
}

/* Owned keys of a list's items, in order: the server order that mergeSortedSlice consults. A
 * missing merge key is recorded as null, which is what index() sees in Go. */
static int keys_of(smp_t *c, kl_json_t *out, kl_json_t *const *items, uint32_t n, bool is_map,
                   const char *merge_key, uint32_t limit)
{
    for (uint32_t i = 0; i < n && out->len < limit; i++) {
        const kl_json_t *k = order_key(items[i], is_map, merge_key);
        int rc = kl_json_append(out, k ? kl_json_dup(k) : kl_json_null());
        if (rc < 0)
            return fail(c, rc);
    }
    return 0;
}

typedef struct rank {
    int64_t rank;
    uint32_t pos;
    kl_json_t *item;
} rank_t;

static int cmp_rank(const void *a, const void *b)
{
    const rank_t *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* normalizeSliceOrder: stable sort of items by the position of their key in `order` (an index
 * whose keys follow the same rule). */
static int sort_by(smp_t *c, pvec_t *items, const kl_vindex_t *order, bool is_map,
                   const char *merge_key)
{
    if (items->n < 2)
        return 0;
    rank_t *r = malloc(items->n * sizeof(*r));
    if (r == NULL)
        return oom(c);
    for (uint32_t i = 0; i < items->n; i++) {
        int64_t at = kl__vindex_find(order, order_key(items->v[i], is_map, merge_key));
        r[i] = (rank_t){at < 0 ? INT64_MAX : at, i, items->v[i]};
    }
    qsort(r, items->n, sizeof(*r), cmp_rank);
    for (uint32_t i = 0; i < items->n; i++)
        items->v[i] = r[i].item;
    free(r);
    return 0;
}

/* mergeSortedSlice: interleaves the server-only items (left) into the patch items (right). A
 * left item goes first only when both are in the server order and it came first there. */
static int merge_sorted(smp_t *c, const pvec_t *left, const pvec_t *right,
                        const kl_vindex_t *server, bool is_map, const char *merge_key, pvec_t *out)
{
    uint32_t i = 0, j = 0;
    while (i < left->n || j < right->n) {
        kl_json_t *take;
        if (i >= left->n) {
            take = right->v[j++];
        } else if (j >= right->n) {
            take = left->v[i++];
        } else {
            int64_t li = kl__vindex_find(server, order_key(left->v[i], is_map, merge_key));
            int64_t ri = kl__vindex_find(server, order_key(right->v[j], is_map, merge_key));
            if (li >= 0 && ri >= 0 && li < ri)
                take = left->v[i++];
            else
                take = right->v[j++];
        }
        if (pvec_push(out, take) < 0)
            return oom(c);
    }
    return 0;
}

/* Every item must be an object carrying the merge key (validateMergeKeyInLists). */
static int check_merge_keys(smp_t *c, kl_json_t *const *items, uint32_t n, const char *merge_key)
{
    for (uint32_t i = 0; i < n; i++) {
        if (items[i]->type != KL_TOBJECT)
            return err_bad_arg_type(c, "map[string]interface {}", items[i]);
        if (kl_json_get(items[i], merge_key ? merge_key : "") == NULL)
            return err_no_merge_key(c, items[i], merge_key);
    }
    return 0;
}

/* partition{Maps,Primitives}ByPresentInList followed by normalizeElementOrder: reorders the
 * items of list (in place) given the order the patch asks for (patch_order, items compared by
 * their merge key when merge_key is set) and the server's order (server_keys, already keys). */
static int normalize(smp_t *c, kl_json_t *list, const kl_json_t *patch_order,
                     const kl_json_t *server_keys, bool is_map, const char *merge_key)
{
    bool keyed = merge_key != NULL && merge_key[0] != '\0';
    pvec_t in_patch = {0}, server_only = {0}, out = {0};
    kl_vindex_t pix = {0}, six = {0};
    int rc;

    if (is_map && !keyed) {
        /* Upstream cannot hash maps here; validateMergeKeyInLists would reject them next. */
        if (list->len)
            return err_no_merge_key(c, list->u.items[0], merge_key);
        if (patch_order->len)
            return err_no_merge_key(c, patch_order->u.items[0], merge_key);
    }
    if (keyed) {
        for (uint32_t i = 0; i < list->len; i++) {
            if (list->u.items[i]->type != KL_TOBJECT)
                return err_bad_arg_type(c, "map[string]interface {}", list->u.items[i]);
            if (kl_json_get(list->u.items[i], merge_key) == NULL)
                return err_no_merge_key(c, list->u.items[i], merge_key);
        }
    }
    if (is_map && (rc = check_merge_keys(c, patch_order->u.items, patch_order->len, merge_key)) < 0)
        return rc;

    /* Membership uses the merge key when there is one, the value otherwise; order lookups use
     * index()'s rule (the merge key for maps). */
    if ((rc = kl__vindex_build(&pix, patch_order, keyed ? merge_key : NULL, patch_order->len)) < 0)
        goto oom;
    for (uint32_t i = 0; i < list->len; i++) {
        kl_json_t *item = list->u.items[i];
        const kl_json_t *k = keyed ? kl_json_get(item, merge_key) : item;
        if ((rc = pvec_push(kl__vindex_find(&pix, k) >= 0 ? &in_patch : &server_only, item)) < 0)
            goto oom;
    }
    kl__vindex_free(&pix);
    if ((rc = kl__vindex_build(&pix, patch_order, is_map ? merge_key : NULL, patch_order->len)) <
            0 ||
        (rc = kl__vindex_build(&six, server_keys, NULL, server_keys->len)) < 0)
        goto oom;
    if ((rc = sort_by(c, &in_patch, &pix, is_map, merge_key)) < 0 ||
        (rc = sort_by(c, &server_only, &six, is_map, merge_key)) < 0 ||
        (rc = merge_sorted(c, &server_only, &in_patch, &six, is_map, merge_key, &out)) < 0)
        goto out;
    if (out.n)
        memcpy(list->u.items, out.v, (size_t)out.n * sizeof(*out.v));
    goto out;
oom:
    rc = fail(c, rc);
out:
    kl__vindex_free(&pix);
    kl__vindex_free(&six);
    pvec_free(&in_patch);
    pvec_free(&server_only);
    pvec_free(&out);
    return rc;
}

/* ---- mergeSlice
 * ------------------------------------------------------------------------------------ */

static int merge_map(smp_t *c, kl_json_t **slot, const kl_json_t *patch, const kl_stype_t *t,
                     unsigned depth);

/* Merges patch into the array orig in place. When server_keys is given it receives the order
 * that upstream's caller sees in its (aliased) original slice afterwards: the surviving items,
 * then items appended by the patch, cut to the original length. */
static int merge_slice(smp_t *c, kl_json_t *orig, const kl_json_t *patch, const kl_stype_t *elem,
                       const char *merge_key, bool delete_list, unsigned depth,
                       kl_json_t *server_keys)
{
    bool is_map = false;
    int rc = 0;
    uint32_t orig_len = orig->len;
    kl_json_t *keys = NULL;
    pvec_t plain = {0}, dels = {0};
    kl_vindex_t ix = {0};

    if (orig->len == 0 && patch->len == 0)
        return 0;
    if ((rc = element_type(c, orig, patch, &is_map)) < 0)
        return rc;

    if (!is_map) {
        if (delete_list) {
            /* deleteFromSlice: drop every item equal to one in the patch, order kept. */
            if ((rc = kl__vindex_build(&ix, patch, NULL, patch->len)) < 0)
                return fail(c, rc);
            uint32_t w = 0;
            for (uint32_t i = 0; i < orig->len; i++) {
                if (kl__vindex_find(&ix, orig->u.items[i]) >= 0)
                    kl_json_free(orig->u.items[i]);
                else
                    orig->u.items[w++] = orig->u.items[i];
            }
            orig->len = w;
            kl__vindex_free(&ix);
            return 0;
        }
        /* Union without duplicates, then ordered: patch items in patch order, the rest in the
         * original's, interleaved by the original's. */
        if ((keys = kl_json_array()) == NULL)
            return oom(c);
        if ((rc = kl__vindex_build(&ix, orig, NULL, 0)) < 0)
            goto oom;
        uint32_t w = 0, n = orig->len;
        for (uint32_t i = 0; i < n; i++) {
            kl_json_t *v = orig->u.items[i];
            if (kl__vindex_find(&ix, v) >= 0) {
                kl_json_free(v);
                continue;
            }
            orig->u.items[w] = v;
            orig->len = w + 1; /* the index reads the array while it is compacted */
            if ((rc = kl__vindex_add(&ix, w)) < 0)
                goto oom;
            w++;
        }
        orig->len = w;
        if ((rc = keys_of(c, keys, orig->u.items, orig->len, false, NULL, UINT32_MAX)) < 0)
            goto out;
        for (uint32_t i = 0; i < patch->len; i++) {
            if (kl__vindex_find(&ix, patch->u.items[i]) >= 0)
                continue;
            if ((rc = kl_json_append(orig, kl_json_dup(patch->u.items[i]))) < 0 ||
                (rc = kl__vindex_add(&ix, orig->len - 1)) < 0)
                goto oom;
        }
        kl__vindex_free(&ix);
        if ((rc = normalize(c, orig, patch, keys, false, merge_key)) < 0)
            goto out;
        if (server_keys != NULL)
            rc = keys_of(c, server_keys, keys->u.items, keys->len, false, NULL, UINT32_MAX);
        goto out;
    }

    if (merge_key == NULL || merge_key[0] == '\0') {
        rc = kl_err(c->err, KL_EINVAL, "cannot merge lists without merge key for %s",
                    elem && elem->kind == KL_SK_MAP ? "map" : "struct");
        goto out;
    }

    /* mergeSliceWithSpecialElements. */
    bool replace = false;
    for (uint32_t i = 0; i < patch->len; i++) {
        kl_json_t *p = patch->u.items[i];
        const kl_json_t *d = kl_json_get(p, DIRECTIVE);
        if (d == NULL) {
            if ((rc = pvec_push(&plain, p)) < 0)
                goto oom;
        } else if (is_str(d, "delete")) {
            kl_json_t *k = kl_json_get(p, merge_key);
            if (k == NULL) {
                rc = err_no_merge_key(c, p, merge_key);
                goto out;
            }
            if ((rc = pvec_push(&dels, k)) < 0)
                goto oom;
        } else if (is_str(d, "replace")) {
            replace = true;
        } else if (is_str(d, "merge")) {
            rc = kl_err(c->err, KL_EINVAL, "merging lists cannot yet be specified in the patch");
            goto out;
        } else {
            rc = err_bad_patch_type(c, d, p);
            goto out;
        }
    }

    /* deleteMatchingEntries. */
    if (dels.n) {
        kl_json_t dview = view_of(&dels);
        if ((rc = kl__vindex_build(&ix, &dview, NULL, dview.len)) < 0)
            goto oom;
        uint32_t w = 0;
        for (uint32_t i = 0; i < orig->len; i++) {
            const kl_json_t *k = kl_json_get(orig->u.items[i], merge_key);
            if (k != NULL && kl__vindex_find(&ix, k) >= 0)
                kl_json_free(orig->u.items[i]);
            else
                orig->u.items[w++] = orig->u.items[i];
        }
        orig->len = w;
        kl__vindex_free(&ix);
    }
    /* The original after deletions: the server order for this merge. */
    if ((keys = kl_json_array()) == NULL)
        goto oom;
    if ((rc = keys_of(c, keys, orig->u.items, orig->len, true, merge_key, UINT32_MAX)) < 0)
        goto out;

    if (replace) {
        /* The list becomes the patch's plain items. */
        for (uint32_t i = 0; i < orig->len; i++)
            kl_json_free(orig->u.items[i]);
        orig->len = 0;
        for (uint32_t i = 0; i < plain.n; i++) {
            kl_json_t *copy = clean_dup(plain.v[i], depth + 1, &rc);
            if (copy == NULL && rc < 0)
                goto fail;
            if (copy != NULL && (rc = kl_json_append(orig, copy)) < 0)
                goto oom;
        }
        if (server_keys != NULL &&
            (rc = keys_of(c, server_keys, keys->u.items, keys->len, false, NULL, UINT32_MAX)) < 0)
            goto out;
        /* Upstream then orders the new list by itself. */
        kl_json_free(keys);
        if ((keys = kl_json_array()) == NULL)
            goto oom;
        for (uint32_t i = 0; i < orig->len; i++)
            if (kl_json_get(orig->u.items[i], merge_key) == NULL) {
                rc = err_no_merge_key(c, orig->u.items[i], merge_key);
                goto out;
            }
        if ((rc = keys_of(c, keys, orig->u.items, orig->len, true, merge_key, UINT32_MAX)) < 0)
            goto out;
        kl_json_t empty = {.type = KL_TARRAY};
        rc = normalize(c, orig, &empty, keys, true, merge_key);
        goto out;
    }

    /* mergeSliceWithoutSpecialElements: merge into the item with the same key, or append. */
    if ((rc = kl__vindex_build(&ix, orig, merge_key, orig->len)) < 0)
        goto oom;
    for (uint32_t i = 0; i < plain.n; i++) {
        const kl_json_t *p = plain.v[i];
        const kl_json_t *k = kl_json_get(p, merge_key);
        if (k == NULL) {
            rc = err_no_merge_key(c, p, merge_key);
            goto out;
        }
        int64_t at = kl__vindex_find(&ix, k);
        if (at >= 0) {
            if ((rc = merge_map(c, &orig->u.items[at], p, elem, depth + 1)) < 0)
                goto out;
            continue;
        }
        kl_json_t *copy = clean_dup(p, depth + 1, &rc);
        if (copy == NULL) {
            if (rc < 0)
                goto fail;
            continue;
        }
        if ((rc = kl_json_append(orig, copy)) < 0 || (rc = kl__vindex_add(&ix, orig->len - 1)) < 0)
            goto oom;
    }
    kl__vindex_free(&ix);
    if (server_keys != NULL) {
        /* Upstream appends into the backing array of its original slice when deletions left
         * room, so its caller then sees the appended items in the freed places. */
        if ((rc = keys_of(c, server_keys, keys->u.items, keys->len, false, NULL, UINT32_MAX)) < 0 ||
            (rc = keys_of(c, server_keys, orig->u.items + keys->len, orig->len - keys->len, true,
                          merge_key, orig_len)) < 0)
            goto out;
    }
    kl_json_t pview = view_of(&plain);
    rc = normalize(c, orig, &pview, keys, true, merge_key);
    goto out;

fail:
    rc = fail(c, rc);
    goto out;
oom:
    rc = fail(c, rc < 0 ? rc : KL_ENOMEM);
out:
    kl__vindex_free(&ix);
    kl_json_free(keys);
    pvec_free(&plain);
    pvec_free(&dels);
    return rc;
}

/* mergeSliceHandler: lists with patch strategy merge (and deletion lists) merge, others take the
 * patch's value. */
static int merge_slice_handler(smp_t *c, kl_json_t **slot, const kl_json_t *patch,
                               const kl_patch_meta_t *meta, bool delete_list, unsigned depth,
                               kl_json_t *server_keys)
{
    if (meta->merge || delete_list)
        return merge_slice(c, *slot, patch, meta->type, meta->merge_key, delete_list, depth,
                           server_keys);
    if (server_keys != NULL) {
        int rc = keys_of(c, server_keys, (*slot)->u.items, (*slot)->len, false, NULL, UINT32_MAX);
        if (rc < 0)
            return rc;
    }
    int rc = adopt(c, slot, patch, depth);
    if (rc == 0 && *slot == NULL && (*slot = kl_json_array()) == NULL)
        return oom(c);
    return rc;
}

/* ---- mergeMap
 * ---------------------------------------------------------------------------------------- */

/* extractKey: "<prefix>/<key>". */
static int extract_key(smp_t *c, const kl_jmember_t *m, const char *prefix, const char **key,
                       size_t *keylen)
{
    size_t n = strlen(prefix);
    if (m->keylen <= n || m->key[n] != '/' || memcmp(m->key, prefix, n) != 0)
        return kl_err(c->err, KL_EBADREQUEST, "invalid patch format of %s",
                      strcmp(prefix, SET_ORDER) == 0 ? "setElementOrder list" : "primitive list");
    *key = m->key + n + 1;
    *keylen = m->keylen - n - 1;
    return 0;
}

/* applyRetainKeysDirective. */
static int retain_keys(smp_t *c, kl_json_t *orig, const kl_json_t *patch, const kl_json_t *list)
{
    if (list->type != KL_TARRAY)
        return kl_err(c->err, KL_EBADREQUEST, "invalid patch format of retainKeys");
    kl_vindex_t ix;
    if (kl__vindex_build(&ix, list, NULL, list->len) < 0)
        return oom(c);
    int rc = 0;
    for (uint32_t i = 0; i < patch->len; i++) {
        const kl_jmember_t *m = &patch->u.members[i];
        if (key_is(m, RETAIN_KEYS) || m->val->type == KL_TNULL || has_prefix(m, DELETE_PRIMITIVE) ||
            has_prefix(m, SET_ORDER))
            continue;
        kl_json_t k = {.type = KL_TSTRING, .len = m->keylen};
        k.u.s = m->key;
        if (kl__vindex_find(&ix, &k) < 0) {
            rc = kl_err(c->err, KL_EBADREQUEST, "invalid patch format of retainKeys");
            goto out;
        }
    }
    for (uint32_t i = orig->len; i-- > 0;) {
        kl_jmember_t *m = &orig->u.members[i];
        kl_json_t k = {.type = KL_TSTRING, .len = m->keylen};
        k.u.s = m->key;
        if (kl__vindex_find(&ix, &k) < 0)
            kl__patch_member_remove(orig, i);
    }
out:
    kl__vindex_free(&ix);
    return rc;
}

/* validatePatchWithSetOrderList: the patch's items must appear in $setElementOrder, in the same
 * relative order (deletions and other directive items are skipped). */
static int validate_order(smp_t *c, const kl_json_t *plist, const kl_json_t *order,
                          const char *merge_key)
{
    bool keyed = merge_key != NULL && merge_key[0] != '\0';
    if (plist == NULL || plist->len == 0 || order->len == 0)
        return 0;
    pvec_t nd = {0};
    int rc = 0;
    for (uint32_t i = 0; i < plist->len; i++) {
        kl_json_t *p = plist->u.items[i];
        if (keyed && p->type != KL_TOBJECT) {
            rc = err_bad_arg_type(c, "map[string]interface {}", p);
            goto out;
        }
        if (keyed && is_str(kl_json_get(p, DIRECTIVE), "delete"))
            continue;
        if (pvec_push(&nd, p) < 0) {
            rc = oom(c);
            goto out;
        }
    }
    uint32_t pi = 0, si = 0;
    while (pi < nd.n && si < order->len) {
        const kl_json_t *p = nd.v[pi], *o = order->u.items[si];
        if (p->type == KL_TOBJECT && kl_json_get(p, DIRECTIVE) != NULL) {
            pi++;
            continue;
        }
        bool eq;
        if (!keyed) {
            eq = kl_json_equal(p, o);
        } else {
            if (o->type != KL_TOBJECT) {
                rc = err_bad_arg_type(c, "map[string]interface {}", o);
                goto out;
            }
            const kl_json_t *pk = kl_json_get(p, merge_key), *ok = kl_json_get(o, merge_key);
            if (pk == NULL || ok == NULL) {
                rc = err_no_merge_key(c, pk == NULL ? p : o, merge_key);
                goto out;
            }
            eq = kl_json_equal(pk, ok);
        }
        if (eq)
            pi++;
        si++;
    }
    if (pi < nd.n && si >= order->len) {
        char a[200], b[200];
        rc = kl_err(c->err, KL_EINVAL, "the order in patch list:\n%s\n doesn't match %s list:\n%s",
                    kl__patch_fmt(a, sizeof(a), plist), SET_ORDER,
                    kl__patch_fmt(b, sizeof(b), order));
    }
out:
    pvec_free(&nd);
    return rc;
}

/* mergePatchIntoOriginal for one "$setElementOrder/<key>" member: merges the list it names and
 * orders the result. Marks the list's patch member as consumed. */
static int set_element_order(smp_t *c, kl_json_t *orig, const kl_json_t *patch, uint32_t mi,
                             bool *consumed, const kl_stype_t *t, unsigned depth)
{
    const kl_jmember_t *m = &patch->u.members[mi];
    const kl_json_t *order = m->val;
    const char *key = NULL;
    size_t keylen = 0;
    int rc;
    if (order->type != KL_TARRAY)
        return err_bad_arg_type(c, "[]interface {}", order);
    if ((rc = extract_key(c, m, SET_ORDER, &key, &keylen)) < 0)
        return rc;
    int64_t oi = kl__patch_member_find(orig, key, keylen);
    int64_t pi = kl__patch_member_find(patch, key, keylen);
    kl_json_t *olist = oi >= 0 ? orig->u.members[oi].val : NULL;
    const kl_json_t *plist = pi >= 0 ? patch->u.members[pi].val : NULL;
    if (olist != NULL && olist->type != KL_TARRAY)
        return err_bad_arg_type(c, "[]interface {}", olist);
    if (plist != NULL && plist->type != KL_TARRAY)
        return err_bad_arg_type(c, "[]interface {}", plist);
    kl_patch_meta_t meta;
    if ((rc = kl__patch_lookup_slice(t, key, keylen, &meta, c->err)) < 0)
        return rc;
    if ((rc = validate_order(c, plist, order, meta.merge_key)) < 0)
        return rc;
    if (olist == NULL && plist == NULL)
        return 0;

    bool is_map = false;
    if ((rc = element_type(c, olist, plist, &is_map)) < 0)
        return rc;
    if (is_map && meta.merge_key != NULL && meta.merge_key[0] != '\0' && olist != NULL &&
        (rc = check_merge_keys(c, olist->u.items, olist->len, meta.merge_key)) < 0)
        return rc;

    kl_json_t *server = kl_json_array();
    kl_json_t *fresh = NULL;
    if (server == NULL)
        return oom(c);
    if (olist != NULL && plist == NULL) {
        rc = keys_of(c, server, olist->u.items, olist->len, is_map, meta.merge_key, UINT32_MAX);
    } else if (olist == NULL) {
        rc = adopt(c, &fresh, plist, depth + 1);
        if (rc == 0 && fresh == NULL && (fresh = kl_json_array()) == NULL)
            rc = oom(c);
        if (rc == 0)
            rc = kl_json_setn(orig, key, keylen, fresh) < 0 ? oom(c) : 0;
        if (rc == 0) {
            oi = kl__patch_member_find(orig, key, keylen);
            olist = orig->u.members[oi].val;
        }
    } else {
        /* The handler may replace the list node; keys describe the original for non-merge
         * strategies and upstream's aliased view for merges. */
        kl_json_t **slot = &orig->u.members[oi].val;
        kl_json_t *raw = kl_json_array();
        if (raw == NULL) {
            rc = oom(c);
        } else {
            rc = merge_slice_handler(c, slot, plist, &meta, false, depth + 1, raw);
            olist = *slot;
            if (rc == 0 && meta.merge && is_map) {
                /* Keys for lists of maps came out as keys already. */
                for (uint32_t i = 0; i < raw->len && rc == 0; i++)
                    rc = kl_json_append(server, kl_json_dup(raw->u.items[i]));
            } else if (rc == 0) {
                rc = keys_of(c, server, raw->u.items, raw->len, is_map && !meta.merge,
                             meta.merge_key, UINT32_MAX);
            }
            kl_json_free(raw);
        }
    }
    if (rc == 0)
        rc = normalize(c, olist, order, server, is_map, meta.merge_key);
    kl_json_free(server);
    if (rc == 0 && pi >= 0)
        consumed[pi] = true;
    return rc;
}

static int merge_map(smp_t *c, kl_json_t **slot, const kl_json_t *patch, const kl_stype_t *t,
                     unsigned depth)
{
    int rc = 0;
    if (depth >= KL_PATCH_MAX_DEPTH)
        return fail(c, KL_ETOODEEP);

    /* handleDirectiveInMergeMap. */
    const kl_json_t *d = kl_json_get(patch, DIRECTIVE);
    if (d != NULL) {
        kl_json_t *result = NULL;
        if (is_str(d, "replace")) {
            if ((result = kl_json_object()) == NULL)
                return oom(c);
            for (uint32_t i = 0; i < patch->len; i++) {
                const kl_jmember_t *m = &patch->u.members[i];
                if (key_is(m, DIRECTIVE) || m->val->type == KL_TNULL || is_directive_key(m))
                    continue;
                kl_json_t *v = clean_dup(m->val, depth + 1, &rc);
                if (v == NULL && rc < 0) {
                    kl_json_free(result);
                    return fail(c, rc);
                }
                if (v != NULL && (rc = kl_json_setn(result, m->key, m->keylen, v)) < 0) {
                    kl_json_free(result);
                    return fail(c, rc);
                }
            }
        } else if (is_str(d, "delete")) {
            if ((result = kl_json_object()) == NULL)
                return oom(c);
        } else {
            return err_bad_patch_type(c, d, patch);
        }
        kl_json_free(*slot);
        *slot = result;
        return 0;
    }

    if (*slot == NULL && (*slot = kl_json_object()) == NULL)
        return oom(c);
    kl_json_t *orig = *slot;

    const kl_json_t *rk = kl_json_get(patch, RETAIN_KEYS);
    if (rk != NULL && (rc = retain_keys(c, orig, patch, rk)) < 0)
        return rc;

    bool small[32] = {0};
    bool *consumed = patch->len <= 32 ? small : calloc(patch->len, sizeof(bool));
    if (consumed == NULL)
        return oom(c);
    for (uint32_t i = 0; i < patch->len && rc == 0; i++)
        if (has_prefix(&patch->u.members[i], SET_ORDER))
            rc = set_element_order(c, orig, patch, i, consumed, t, depth);

    for (uint32_t i = 0; i < patch->len && rc == 0; i++) {
        const kl_jmember_t *m = &patch->u.members[i];
        if (consumed[i] || key_is(m, RETAIN_KEYS) || has_prefix(m, SET_ORDER))
            continue;
        const char *key = m->key;
        size_t keylen = m->keylen;
        bool delete_list = false;
        if (has_prefix(m, DELETE_PRIMITIVE)) {
            if ((rc = extract_key(c, m, DELETE_PRIMITIVE, &key, &keylen)) < 0)
                break;
            delete_list = true;
        }
        const kl_json_t *pv = m->val;
        int64_t at = kl__patch_member_find(orig, key, keylen);
        if (pv->type == KL_TNULL) {
            if (at >= 0)
                kl__patch_member_remove(orig, (uint32_t)at);
            continue;
        }
        kl_json_t *ov = at >= 0 ? orig->u.members[at].val : NULL;
        bool same =
            ov != NULL && ov->type == pv->type && (pv->type == KL_TOBJECT || pv->type == KL_TARRAY);
        if (!same) {
            if (delete_list)
                continue;
            kl_json_t *nv = NULL;
            if ((rc = adopt(c, &nv, pv, depth + 1)) < 0)
                break;
            if (nv == NULL) {
                if (at >= 0)
                    kl__patch_member_remove(orig, (uint32_t)at);
            } else if (at >= 0) {
                kl__patch_member_set(orig, (uint32_t)at, nv);
            } else if ((rc = kl_json_setn(orig, key, keylen, nv)) < 0) {
                rc = fail(c, rc);
            }
            continue;
        }
        kl_patch_meta_t meta;
        kl_json_t **vslot = &orig->u.members[at].val;
        if (pv->type == KL_TOBJECT) {
            if ((rc = kl__patch_lookup_struct(t, key, keylen, &meta, c->err)) < 0)
                break;
            if (meta.replace)
                rc = adopt(c, vslot, pv, depth + 1);
            else
                rc = merge_map(c, vslot, pv, meta.type, depth + 1);
            if (rc == 0 && *vslot == NULL)
                kl__patch_member_remove(orig, (uint32_t)at);
        } else {
            if ((rc = kl__patch_lookup_slice(t, key, keylen, &meta, c->err)) < 0)
                break;
            rc = merge_slice_handler(c, vslot, pv, &meta, delete_list, depth + 1, NULL);
        }
    }
    if (consumed != small)
        free(consumed);
    return rc;
}

int kl_patch_strategic(kl_json_t **target, const kl_json_t *patch, const kl_stype_t *t,
                       kl_errinfo_t *err)
{
    smp_t c = {.err = err};
    if (target == NULL || patch == NULL)
        return kl_err(err, KL_EINVAL, "missing document or patch");
    if (patch->type == KL_TNULL)
        return 0;
    if (patch->type != KL_TOBJECT || (*target != NULL && (*target)->type != KL_TOBJECT))
        return kl_err(err, KL_EBADREQUEST, "invalid JSON document");
    return merge_map(&c, target, patch, t, 0);
}
