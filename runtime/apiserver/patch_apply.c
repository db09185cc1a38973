/* Server-side apply without field ownership: the applied configuration is merged into the live
 * object the way structured-merge-diff merges two objects. Objects and maps merge member by
 * member, associative lists (x-kubernetes-list-type map, or a patch merge key) merge item by
 * item on their keys, sets are unioned, atomic lists and scalars are replaced. Nothing the
 * applier left out is removed, and nulls in the applied configuration are ignored. The API
 * server's apply builds field ownership on this merge (managed.c: managedFields, removal of
 * fields an applier gave up, conflicts); the fake cluster of `kubelua test` uses it as is. */
#include <stdlib.h>
#include <string.h>

#include "kubelua/patch.h"

#include "apiserver/patch_int.h"

/* Associative lists are matched by scanning; this bounds the comparisons per list. */
#define MAX_MATCH_WORK ((uint64_t)1 << 24)

typedef struct apply {
    kl_errinfo_t *err;
} apply_t;

static int fail(apply_t *c, int rc)
{
    if (rc == KL_ETOODEEP)
        return kl_err(c->err, rc, "applied configuration nested deeper than %u levels",
                      KL_PATCH_MAX_DEPTH);
    return kl_err(c->err, rc, "%s", kl_strerror(rc));
}

/* A copy without null object members. */
static kl_json_t *dup_nonull(const kl_json_t *v, unsigned depth, int *rc)
{
    if (v->type != KL_TOBJECT && v->type != KL_TARRAY) {
        kl_json_t *c = kl_json_dup(v);
        *rc = c ? 0 : KL_ENOMEM;
        return c;
    }
    if (depth >= KL_PATCH_MAX_DEPTH) {
        *rc = KL_ETOODEEP;
        return NULL;
    }
    kl_json_t *c = v->type == KL_TOBJECT ? kl_json_object() : kl_json_array();
    if (c == NULL) {
        *rc = KL_ENOMEM;
        return NULL;
    }
    for (uint32_t i = 0; i < v->len; i++) {
        if (v->type == KL_TOBJECT) {
            const kl_jmember_t *m = &v->u.members[i];
            if (m->val->type == KL_TNULL)
                continue;
            kl_json_t *cc = dup_nonull(m->val, depth + 1, rc);
            if (cc == NULL || (*rc = kl_json_setn(c, m->key, m->keylen, cc)) < 0)
                goto fail;
        } else {
            kl_json_t *cc = dup_nonull(v->u.items[i], depth + 1, rc);
            if (cc == NULL || (*rc = kl_json_append(c, cc)) < 0)
                goto fail;
        }
    }
    *rc = 0;
    return c;
fail:
    kl_json_free(c);
    return NULL;
}

static int replace_with(apply_t *c, kl_json_t **slot, const kl_json_t *v, unsigned depth)
{
    int rc;
    kl_json_t *copy = dup_nonull(v, depth, &rc);
    if (copy == NULL)
        return fail(c, rc);
    kl_json_free(*slot);
    *slot = copy;
    return 0;
}

static int apply_value(apply_t *c, kl_json_t **slot, const kl_json_t *applied,
                       const kl_sfield_t *field, const kl_stype_t *t, unsigned depth);

/* How a list field merges. */
typedef enum { LIST_ATOMIC, LIST_SET, LIST_MAP } list_kind_t;

static list_kind_t list_kind(const kl_sfield_t *field, const kl_stype_t *t,
                             const char *const **keys, const char **single)
{
    const char *lt = t ? t->list_type : NULL;
    if (lt != NULL && strcmp(lt, "atomic") == 0)
        return LIST_ATOMIC;
    if (lt != NULL && strcmp(lt, "map") == 0 && t->list_map_keys != NULL &&
        t->list_map_keys[0] != NULL) {
        *keys = t->list_map_keys;
        return LIST_MAP;
    }
    if (field != NULL && field->merge_key != NULL && field->merge_key[0] != '\0') {
        *single = field->merge_key;
        return LIST_MAP;
    }
    if ((lt != NULL && strcmp(lt, "set") == 0) ||
        (field != NULL && (field->flags & KL_SF_PATCH_MERGE)))
        return LIST_SET;
    return LIST_ATOMIC;
}

typedef struct keyset {
    const char *const *keys; /* NULL-terminated, or NULL with `single` */
    const char *single;
} keyset_t;

static const char *key_at(const keyset_t *ks, size_t i)
{
    if (ks->keys == NULL)
        return i == 0 ? ks->single : NULL;
    return ks->keys[i];
}

/* Whether live item l has the key values of applied item a: all keys when exact (a key missing
 * on both sides counts as equal), otherwise only those a carries. */
static bool keys_match(const keyset_t *ks, const kl_json_t *l, const kl_json_t *a, bool exact)
{
    if (l->type != KL_TOBJECT)
        return false;
    for (size_t i = 0; key_at(ks, i) != NULL; i++) {
        const kl_json_t *av = kl_json_get(a, key_at(ks, i));
        const kl_json_t *lv = kl_json_get(l, key_at(ks, i));
        if (av == NULL && !exact)
            continue;
        if (av == NULL || lv == NULL ? av != lv : !kl_json_equal(av, lv))
            return false;
    }
    return true;
}

static void describe_keys(char *buf, size_t size, const keyset_t *ks, const kl_json_t *item)
{
    kl_patch_fmt_t f = {buf, 0, size - 1};
    for (size_t i = 0; key_at(ks, i) != NULL; i++) {
        const char *k = key_at(ks, i);
        const kl_json_t *v = kl_json_get(item, k);
        if (v == NULL)
            continue;
        if (f.len && f.len < f.max)
            buf[f.len++] = ',';
        size_t n = strlen(k);
        if (n > f.max - f.len)
            n = f.max - f.len;
        memcpy(buf + f.len, k, n);
        f.len += n;
        if (f.len < f.max)
            buf[f.len++] = '=';
        kl__patch_fmt_value(&f, v, 0);
    }
    buf[f.len] = '\0';
}

/* Pairs applied items with live ones: match[a] is the live index or -1, owner[l] the applied
 * index or -1. */
static int pair_items(apply_t *c, const kl_json_t *live, const kl_json_t *applied, list_kind_t kind,
                      const keyset_t *ks, int64_t *match, int64_t *owner)
{
    uint32_t n = live->len, m = applied->len;
    for (uint32_t l = 0; l < n; l++)
        owner[l] = -1;
    if (kind == LIST_SET) {
        kl_vindex_t lix, aix;
        if (kl__vindex_build(&lix, live, NULL, n) < 0)
            return fail(c, KL_ENOMEM);
        if (kl__vindex_build(&aix, applied, NULL, 0) < 0) {
            kl__vindex_free(&lix);
            return fail(c, KL_ENOMEM);
        }
        int rc = 0;
        for (uint32_t a = 0; a < m && rc == 0; a++) {
            const kl_json_t *v = applied->u.items[a];
            if (kl__vindex_find(&aix, v) >= 0) {
                match[a] = -2; /* a duplicate: dropped */
                continue;
            }
            rc = kl__vindex_add(&aix, a);
            int64_t l = kl__vindex_find(&lix, v);
            match[a] = l;
            if (l >= 0 && owner[l] < 0)
                owner[l] = a;
            else
                match[a] = -1;
        }
        kl__vindex_free(&lix);
        kl__vindex_free(&aix);
        return rc < 0 ? fail(c, rc) : 0;
    }
    if ((uint64_t)n * m * 2 > MAX_MATCH_WORK)
        return kl_err(c->err, KL_ETOOBIG,
                      "associative list too long to apply (%u live items, %u applied)", n, m);
    for (uint32_t a = 0; a < m; a++) {
        const kl_json_t *item = applied->u.items[a];
        char desc[200];
        bool any = false;
        if (item->type != KL_TOBJECT)
            return kl_err(c->err, KL_EINVAL,
                          "associative list with keys has an element that is not an object");
        for (size_t i = 0; key_at(ks, i) != NULL; i++)
            any |= kl_json_get(item, key_at(ks, i)) != NULL;
        if (!any)
            return kl_err(c->err, KL_EINVAL,
                          "associative list with keys has an element that omits key field \"%s\"",
                          key_at(ks, 0));
        for (uint32_t b = 0; b < a; b++) {
            if (keys_match(ks, applied->u.items[b], item, true)) {
                describe_keys(desc, sizeof(desc), ks, item);
                return kl_err(c->err, KL_EINVAL, "duplicate entries for key [%s]", desc);
            }
        }
        match[a] = -1;
        for (int pass = 0; pass < 2 && match[a] < 0; pass++) {
            for (uint32_t l = 0; l < n; l++) {
                if (owner[l] < 0 && keys_match(ks, live->u.items[l], item, pass == 0)) {
                    match[a] = l;
                    owner[l] = a;
                    break;
                }
            }
        }
    }
    return 0;
}

/* Merges an associative list or a set, ordering the result as structured-merge-diff does:
 * applied items in their order, live-only items kept where they were relative to them. */
static int merge_list(apply_t *c, kl_json_t *live, const kl_json_t *applied, list_kind_t kind,
                      const keyset_t *ks, const kl_stype_t *elem, unsigned depth)
{
    uint32_t n = live->len, m = applied->len;
    int64_t *match = malloc(((size_t)m + 1) * sizeof(int64_t));
    int64_t *owner = malloc(((size_t)n + 1) * sizeof(int64_t));
    bool *done = calloc((size_t)m + 1, sizeof(bool));
    kl_json_t **out = malloc(((size_t)n + m + 1) * sizeof(kl_json_t *));
    uint32_t nout = 0;
    int rc = 0;
    if (match == NULL || owner == NULL || done == NULL || out == NULL) {
        rc = fail(c, KL_ENOMEM);
        goto out;
    }
    if ((rc = pair_items(c, live, applied, kind, ks, match, owner)) < 0)
        goto out;

    /* The applied items that exist live, in applied order. */
    uint32_t next_shared = 0;
#define ADVANCE_SHARED()                                                                           \
    do {                                                                                           \
        while (next_shared < m && (match[next_shared] < 0 || done[next_shared]))                   \
            next_shared++;                                                                         \
    } while (0)
    ADVANCE_SHARED();

    uint32_t li = 0, ri = 0;
    while (li < n || ri < m) {
        if (ri < m && match[ri] == -2) {
            done[ri++] = true;
            continue;
        }
        if (li < n && ri < m) {
            if (owner[li] == (int64_t)ri) {
                kl_json_t **slot = &live->u.items[li];
                if ((rc = apply_value(c, slot, applied->u.items[ri], NULL, elem, depth + 1)) < 0)
                    goto out;
                out[nout++] = *slot;
                *slot = NULL;
                done[ri] = true;
                li++, ri++;
                ADVANCE_SHARED();
                continue;
            }
            if (owner[li] >= 0 && next_shared < m && owner[li] != (int64_t)next_shared &&
                !done[owner[li]]) {
                li++;
                continue;
            }
        }
        if (li < n) {
            if (owner[li] < 0) {
                out[nout++] = live->u.items[li];
                live->u.items[li] = NULL;
                li++;
                continue;
            }
            if (done[owner[li]]) {
                li++;
                continue;
            }
        }
        if (ri < m) {
            kl_json_t *item;
            if (match[ri] >= 0) {
                kl_json_t **slot = &live->u.items[match[ri]];
                if ((rc = apply_value(c, slot, applied->u.items[ri], NULL, elem, depth + 1)) < 0)
                    goto out;
                item = *slot;
                *slot = NULL;
            } else {
                item = dup_nonull(applied->u.items[ri], depth + 1, &rc);
                if (item == NULL) {
                    rc = fail(c, rc);
                    goto out;
                }
            }
            out[nout++] = item;
            done[ri++] = true;
            ADVANCE_SHARED();
        }
    }
#undef ADVANCE_SHARED
    /* Live items skipped above are all in `out` by now; anything left is a leftover slot. */
    for (uint32_t i = 0; i < n; i++)
        kl_json_free(live->u.items[i]);
    free(live->u.items);
    live->u.items = out;
    live->len = live->cap = nout;
    out = NULL;
out:
    if (out != NULL) {
        for (uint32_t i = 0; i < nout; i++)
            kl_json_free(out[i]);
        free(out);
    }
    free(match);
    free(owner);
    free(done);
    return rc;
}

static int apply_value(apply_t *c, kl_json_t **slot, const kl_json_t *applied,
                       const kl_sfield_t *field, const kl_stype_t *t, unsigned depth)
{
    int rc;
    kl_json_t *live = *slot;
    if (depth >= KL_PATCH_MAX_DEPTH)
        return fail(c, KL_ETOODEEP);
    if (applied->type == KL_TOBJECT && live != NULL && live->type == KL_TOBJECT) {
        for (uint32_t i = 0; i < applied->len; i++) {
            const kl_jmember_t *m = &applied->u.members[i];
            if (m->val->type == KL_TNULL)
                continue;
            int64_t at = kl__patch_member_find(live, m->key, m->keylen);
            if (at < 0) {
                kl_json_t *copy = dup_nonull(m->val, depth + 1, &rc);
                if (copy == NULL)
                    return fail(c, rc);
                if ((rc = kl_json_setn(live, m->key, m->keylen, copy)) < 0)
                    return fail(c, rc);
                continue;
            }
            const kl_sfield_t *f = NULL;
            const kl_stype_t *ft = NULL;
            if (t != NULL && t->kind == KL_SK_MAP) {
                ft = t->elem;
            } else if (t != NULL && (f = kl__patch_field(t, m->key, m->keylen)) != NULL) {
                ft = f->type;
            }
            if ((rc = apply_value(c, &live->u.members[at].val, m->val, f, ft, depth + 1)) < 0)
                return rc;
        }
        return 0;
    }
    if (applied->type == KL_TARRAY && live != NULL && live->type == KL_TARRAY) {
        keyset_t ks = {0};
        list_kind_t kind = list_kind(field, t, &ks.keys, &ks.single);
        if (kind != LIST_ATOMIC)
            return merge_list(c, live, applied, kind, &ks, t ? t->elem : NULL, depth);
    }
    return replace_with(c, slot, applied, depth);
}

int kl_patch_apply(kl_json_t **target, const kl_json_t *applied, const kl_stype_t *t,
                   kl_errinfo_t *err)
{
    apply_t c = {.err = err};
    if (target == NULL || applied == NULL)
        return kl_err(err, KL_EINVAL, "missing document or applied configuration");
    if (applied->type != KL_TOBJECT)
        return kl_err(err, KL_EBADREQUEST, "applied configuration must be an object");
    if (*target == NULL || (*target)->type != KL_TOBJECT) {
        kl_json_t *obj = kl_json_object();
        if (obj == NULL)
            return fail(&c, KL_ENOMEM);
        kl_json_free(*target);
        *target = obj;
    }
    return apply_value(&c, target, applied, NULL, t, 0);
}
