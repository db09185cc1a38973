/* Field ownership: the typed walks (field sets, comparisons, removals), managedFields entries,
 * and the update, apply and scale bookkeeping of kube-apiserver's field manager. */
#include "apiserver/managed.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/patch.h"

#include "apiserver/patch_int.h"

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"
#define MAX_UPDATE_MANAGERS 10
#define MAX_ANNOTATIONS_SIZE (256 * 1024)

/* ---- Types ------------------------------------------------------------------------------ */

/* Structs kube-apiserver's schema marks x-kubernetes-map-type: atomic (+structType=atomic):
 * owned as a whole. Our schema format has no such attribute, hence this table. */
static const char *const atomic_struct_names[] = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.ObjectFieldSelector",
    "io.k8s.api.core.v1.ResourceFieldSelector",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.ConfigMapEnvSource",
    "io.k8s.api.core.v1.SecretEnvSource",
    "io.k8s.api.core.v1.NodeSelector",
    "io.k8s.api.core.v1.NodeSelectorTerm",
};
#define NATOMIC (sizeof(atomic_struct_names) / sizeof(atomic_struct_names[0]))
static const kl_stype_t *atomic_structs[NATOMIC];
static pthread_once_t atomic_once = PTHREAD_ONCE_INIT;

static void resolve_atomic(void)
{
    for (size_t i = 0; i < NATOMIC; i++)
        atomic_structs[i] = kl_schema_lookup(atomic_struct_names[i]);
}

static bool atomic_struct(const kl_stype_t *t)
{
    if (t->crd || t->name == NULL)
        return false;
    pthread_once(&atomic_once, resolve_atomic);
    for (size_t i = 0; i < NATOMIC; i++)
        if (atomic_structs[i] == t)
            return true;
    return false;
}

/* A schema position: the type, and the field it came from (lists keep their patch merge key on
 * the field). */
typedef struct tref {
    const kl_stype_t *t;
    const kl_sfield_t *f;
} tref_t;

typedef enum { N_LEAF, N_STRUCT, N_MAP, N_LIST } nkind_t;

typedef struct nclass {
    nkind_t kind;
    bool builtin_struct; /* a Go struct of a built-in kind */
    bool set;            /* a list of scalars keyed by value */
    const char *keys[8]; /* the key fields of an associative list, sorted, NULL-terminated */
} nclass_t;

static void sort_keys(const char **k)
{
    for (size_t i = 1; k[i] != NULL; i++)
        for (size_t j = i; j > 0 && strcmp(k[j - 1], k[j]) > 0; j--) {
            const char *x = k[j];
            k[j] = k[j - 1];
            k[j - 1] = x;
        }
}

/* How a value at tr is tracked; o and n are the values compared (either may be NULL), used for
 * untyped positions. */
static nclass_t classify(tref_t tr, const kl_json_t *o, const kl_json_t *n)
{
    nclass_t c = {.kind = N_LEAF};
    const kl_stype_t *t = tr.t;
    if (t == NULL || t->kind == KL_SK_ANY) {
        /* Untyped: objects are granular maps, everything else is a leaf. */
        bool oo = o == NULL || o->type == KL_TOBJECT, no = n == NULL || n->type == KL_TOBJECT;
        if ((o != NULL || n != NULL) && oo && no)
            c.kind = N_MAP;
        return c;
    }
    switch (t->kind) {
    case KL_SK_OBJECT:
        if (!atomic_struct(t)) {
            c.kind = N_STRUCT;
            c.builtin_struct = !t->crd;
        }
        return c;
    case KL_SK_MAP:
        c.kind = N_MAP;
        return c;
    case KL_SK_LIST: {
        const char *lt = t->list_type;
        if (lt != NULL && strcmp(lt, "atomic") == 0)
            return c;
        if (lt != NULL && strcmp(lt, "map") == 0 && t->list_map_keys != NULL &&
            t->list_map_keys[0] != NULL) {
            size_t k = 0;
            while (k < 7 && t->list_map_keys[k] != NULL) {
                c.keys[k] = t->list_map_keys[k];
                k++;
            }
            c.keys[k] = NULL;
            sort_keys(c.keys);
            c.kind = N_LIST;
            return c;
        }
        if (tr.f != NULL && tr.f->merge_key != NULL && tr.f->merge_key[0] != '\0') {
            c.keys[0] = tr.f->merge_key;
            c.keys[1] = NULL;
            c.kind = N_LIST;
            return c;
        }
        if ((lt != NULL && strcmp(lt, "set") == 0) ||
            (tr.f != NULL && (tr.f->flags & KL_SF_PATCH_MERGE))) {
            c.kind = N_LIST;
            c.set = true;
        }
        return c;
    }
    default:
        return c;
    }
}

/* kl_stype_field() with a first-byte test before each string comparison: the walks look up
 * every member of every object they visit. Same order as the schema's sort (strcmp). */
static const kl_sfield_t *field_of(const kl_stype_t *t, const char *key, size_t len)
{
    size_t lo = 0, hi = t->nfields;
    int k0 = len ? (unsigned char)key[0] : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *fn = t->fields[mid].name;
        int c = (unsigned char)fn[0] - k0;
        if (c == 0 && len > 0) {
            c = strncmp(fn, key, len);
            if (c == 0)
                c = fn[len] == '\0' ? 0 : 1;
        }
        if (c == 0)
            return &t->fields[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The type of member key of a struct or map; false when the struct does not declare it. */
static bool member_type(tref_t tr, const nclass_t *c, const char *key, size_t len, tref_t *out)
{
    *out = (tref_t){0};
    if (c->kind == N_STRUCT) {
        const kl_sfield_t *f = tr.t->fields ? field_of(tr.t, key, len) : NULL;
        if (f == NULL)
            return false;
        *out = (tref_t){f->type, f};
        return true;
    }
    if (c->kind == N_MAP && tr.t != NULL && tr.t->kind == KL_SK_MAP)
        out->t = tr.t->elem;
    return false;
}

static tref_t elem_type(tref_t tr)
{
    tref_t e = {0};
    if (tr.t != NULL && tr.t->kind == KL_SK_LIST)
        e.t = tr.t->elem;
    return e;
}

/* ---- Walks ------------------------------------------------------------------------------ */

/* Fields at the root and in metadata that the walks skip: the scope's, and managedFields. */
static bool skip_root(kl_mf_scope_t scope, const char *key)
{
    switch (scope) {
    case KL_MF_NO_STATUS:
        return strcmp(key, "status") == 0;
    case KL_MF_STATUS_ONLY:
        return strcmp(key, "status") != 0;
    default:
        return false;
    }
}

enum { W_ROOT, W_META, W_OTHER };

typedef struct walk {
    kl_arena_t *a;
    kl_mf_scope_t scope;
    kl_buf_t tmp;
} walk_t;

/* A position in the object with the set nodes made for it so far: nodes are made on the way
 * to the first member below, so walking unchanged parts costs no allocation. */
typedef struct cur cur_t;
struct cur {
    cur_t *up;
    const char *name; /* field name, for an "f:" element built on demand */
    uint32_t nlen;
    const char *pe; /* the element, once built */
    uint32_t pelen;
    kl_fset_t *node[3];
};

static kl_fset_t *node_at(walk_t *w, cur_t *c, int k)
{
    if (c->node[k] != NULL || c->up == NULL)
        return c->node[k];
    kl_fset_t *p = node_at(w, c->up, k);
    if (p == NULL)
        return NULL;
    if (c->pe == NULL) {
        char *s = kl_arena_alloc(w->a, (size_t)c->nlen + 3);
        if (s == NULL)
            return NULL;
        s[0] = 'f';
        s[1] = ':';
        memcpy(s + 2, c->name, c->nlen);
        s[c->nlen + 2] = '\0';
        c->pe = s;
        c->pelen = c->nlen + 2;
    }
    return c->node[k] = kl_fset_kid(w->a, p, c->pe, c->pelen);
}

static void mark(walk_t *w, cur_t *c, int k)
{
    if (c->up == NULL)
        return; /* the root is not a field */
    kl_fset_t *n = node_at(w, c, k);
    if (n != NULL)
        n->member = true;
}

static cur_t field_cur(cur_t *up, const kl_jmember_t *m)
{
    return (cur_t){.up = up, .name = m->key, .nlen = m->keylen};
}

/* The element of a list item: k:{"name":"app"} or v:"x"; NULL when the item has no usable key
 * (the list is then handled as atomic). A missing "protocol" key is "TCP", its default. */
static const char *item_pe(walk_t *w, const nclass_t *c, const kl_json_t *item, uint32_t *len)
{
    kl_buf_t *b = &w->tmp;
    kl_buf_reset(b);
    int rc;
    if (c->set) {
        if (item->type == KL_TOBJECT || item->type == KL_TARRAY || item->type == KL_TNULL)
            return NULL;
        rc = kl_buf_puts(b, "v:");
        if (rc == 0)
            rc = kl_json_encode(item, b);
    } else {
        if (item->type != KL_TOBJECT)
            return NULL;
        rc = kl_buf_puts(b, "k:{");
        bool any = false;
        for (size_t i = 0; c->keys[i] != NULL && rc == 0; i++) {
            const kl_json_t *v = kl_json_get(item, c->keys[i]);
            kl_json_t def = {.type = KL_TSTRING, .len = 3, .u.s = (char *)"TCP"};
            if ((v == NULL || v->type == KL_TNULL) && strcmp(c->keys[i], "protocol") == 0)
                v = &def;
            if (v == NULL || v->type == KL_TNULL)
                continue;
            if (any)
                rc = kl_buf_putc(b, ',');
            if (rc == 0)
                rc = kl_json_quote(b, c->keys[i], strlen(c->keys[i]));
            if (rc == 0)
                rc = kl_buf_putc(b, ':');
            if (rc == 0)
                rc = kl_json_encode(v, b);
            any = true;
        }
        if (!any)
            return NULL;
        if (rc == 0)
            rc = kl_buf_putc(b, '}');
    }
    if (rc < 0) {
        w->a->failed = true;
        return NULL;
    }
    *len = (uint32_t)b->len;
    return kl_arena_strndup(w->a, b->data, b->len);
}

/* The elements of every item of list l, or NULL when one has none. */
static const char **list_pes(walk_t *w, const nclass_t *c, const kl_json_t *l, uint32_t **lens)
{
    static const char *none[1];
    if (l == NULL || l->len == 0) {
        *lens = NULL;
        return none;
    }
    const char **pes = kl_arena_alloc(w->a, l->len * sizeof(char *));
    *lens = kl_arena_alloc(w->a, l->len * sizeof(uint32_t));
    if (pes == NULL || *lens == NULL)
        return NULL;
    for (uint32_t i = 0; i < l->len; i++)
        if ((pes[i] = item_pe(w, c, l->u.items[i], &(*lens)[i])) == NULL)
            return NULL;
    return pes;
}

/* A string index (open addressing) from elements or keys to positions, for long lists and
 * wide objects. */
typedef struct sidx {
    const char **keys;
    const uint32_t *lens;
    uint32_t *slots; /* position + 1, 0 = empty */
    uint32_t mask;
} sidx_t;

static uint32_t hash_str(const char *s, uint32_t len)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* Indexes keys[0..n); a key seen before keeps its first position. */
static bool sidx_build(kl_arena_t *a, sidx_t *x, const char **keys, const uint32_t *lens,
                       uint32_t n)
{
    uint32_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    x->keys = keys;
    x->lens = lens;
    x->mask = cap - 1;
    x->slots = kl_arena_alloc(a, cap * sizeof(uint32_t));
    if (x->slots == NULL)
        return false;
    memset(x->slots, 0, cap * sizeof(uint32_t));
    for (uint32_t i = 0; i < n; i++) {
        uint32_t h = hash_str(keys[i], lens[i]) & x->mask;
        while (x->slots[h] != 0) {
            uint32_t j = x->slots[h] - 1;
            if (lens[j] == lens[i] && memcmp(keys[j], keys[i], lens[i]) == 0)
                break;
            h = (h + 1) & x->mask;
        }
        if (x->slots[h] == 0)
            x->slots[h] = i + 1;
    }
    return true;
}

static int64_t sidx_find(const sidx_t *x, const char *key, uint32_t len)
{
    uint32_t h = hash_str(key, len) & x->mask;
    while (x->slots[h] != 0) {
        uint32_t j = x->slots[h] - 1;
        if (x->lens[j] == len && memcmp(x->keys[j], key, len) == 0)
            return j;
        h = (h + 1) & x->mask;
    }
    return -1;
}

/* ToFieldSet. */
static void to_set(walk_t *w, const kl_json_t *v, tref_t tr, cur_t *c, int where, unsigned depth)
{
    if (depth > KL_PATCH_MAX_DEPTH)
        return;
    nclass_t k = classify(tr, v, NULL);
    if (k.kind == N_LEAF) {
        mark(w, c, 0);
        return;
    }
    if (k.kind == N_LIST) {
        if (!kl_json_is(v, KL_TARRAY))
            return;
        uint32_t *lens;
        const char **pes = list_pes(w, &k, v, &lens);
        if (pes == NULL) {
            mark(w, c, 0);
            return;
        }
        tref_t et = elem_type(tr);
        for (uint32_t i = 0; i < v->len; i++) {
            cur_t cc = {.up = c, .pe = pes[i], .pelen = lens[i]};
            to_set(w, v->u.items[i], et, &cc, W_OTHER, depth + 1);
            mark(w, &cc, 0);
        }
        return;
    }
    if (!kl_json_is(v, KL_TOBJECT))
        return;
    for (uint32_t i = 0; i < v->len; i++) {
        const kl_jmember_t *m = &v->u.members[i];
        if (where == W_ROOT && skip_root(w->scope, m->key))
            continue;
        if (where == W_META && strcmp(m->key, "managedFields") == 0)
            continue;
        tref_t ct;
        bool declared = member_type(tr, &k, m->key, m->keylen, &ct);
        cur_t cc = field_cur(c, m);
        bool meta = where == W_ROOT && strcmp(m->key, "metadata") == 0;
        to_set(w, m->val, ct, &cc, meta ? W_META : W_OTHER, depth + 1);
        if (meta)
            continue;
        const kl_json_t *cv = m->val;
        if (cv->type == KL_TNULL || (cv->type == KL_TOBJECT && cv->len == 0) || !declared)
            mark(w, &cc, 0);
    }
}

enum { S_ADD, S_MOD, S_REM };

static void cmp(walk_t *w, const kl_json_t *o, const kl_json_t *n, tref_t tr, cur_t *c, int where,
                bool item, unsigned depth);

static void cmp_leaf(walk_t *w, const kl_json_t *o, const kl_json_t *n, cur_t *c)
{
    if (o == NULL)
        mark(w, c, S_ADD);
    else if (n == NULL)
        mark(w, c, S_REM);
    else if (!kl_json_equal(o, n))
        mark(w, c, S_MOD);
}

static void cmp_object(walk_t *w, const kl_json_t *o, const kl_json_t *n, tref_t tr,
                       const nclass_t *k, cur_t *c, int where, unsigned depth)
{
    const kl_json_t *om = kl_json_is(o, KL_TOBJECT) ? o : NULL;
    const kl_json_t *nm = kl_json_is(n, KL_TOBJECT) ? n : NULL;
    sidx_t ox;
    bool use_ox = om != NULL && nm != NULL && om->len > 16 && nm->len > 16;
    if (use_ox) {
        const char **keys = kl_arena_alloc(w->a, om->len * sizeof(char *));
        uint32_t *lens = kl_arena_alloc(w->a, om->len * sizeof(uint32_t));
        if (keys == NULL || lens == NULL)
            return;
        for (uint32_t i = 0; i < om->len; i++) {
            keys[i] = om->u.members[i].key;
            lens[i] = om->u.members[i].keylen;
        }
        if (!sidx_build(w->a, &ox, keys, lens, om->len))
            return;
    }
    for (uint32_t i = 0; nm != NULL && i < nm->len; i++) {
        const kl_jmember_t *m = &nm->u.members[i];
        if (where == W_ROOT && skip_root(w->scope, m->key))
            continue;
        if (where == W_META && strcmp(m->key, "managedFields") == 0)
            continue;
        const kl_json_t *ov = NULL;
        if (om != NULL) {
            int64_t at = use_ox ? sidx_find(&ox, m->key, m->keylen)
                                : kl__patch_member_find(om, m->key, m->keylen);
            ov = at >= 0 ? om->u.members[at].val : NULL;
        }
        tref_t ct;
        member_type(tr, k, m->key, m->keylen, &ct);
        cur_t cc = field_cur(c, m);
        bool meta = where == W_ROOT && strcmp(m->key, "metadata") == 0;
        cmp(w, ov, m->val, ct, &cc, meta ? W_META : W_OTHER, false, depth + 1);
    }
    for (uint32_t i = 0; om != NULL && i < om->len; i++) {
        const kl_jmember_t *m = &om->u.members[i];
        if (nm != NULL && kl__patch_member_find(nm, m->key, m->keylen) >= 0)
            continue;
        if (where == W_ROOT && skip_root(w->scope, m->key))
            continue;
        if (where == W_META && strcmp(m->key, "managedFields") == 0)
            continue;
        tref_t ct;
        member_type(tr, k, m->key, m->keylen, &ct);
        cur_t cc = field_cur(c, m);
        bool meta = where == W_ROOT && strcmp(m->key, "metadata") == 0;
        cmp(w, m->val, NULL, ct, &cc, meta ? W_META : W_OTHER, false, depth + 1);
    }
}

static void cmp_list(walk_t *w, const kl_json_t *ol, const kl_json_t *nl, tref_t tr,
                     const nclass_t *k, cur_t *c, unsigned depth)
{
    uint32_t *olens, *nlens;
    const char **opes = list_pes(w, k, ol, &olens);
    const char **npes = list_pes(w, k, nl, &nlens);
    uint32_t on = ol ? ol->len : 0, nn = nl ? nl->len : 0;
    sidx_t ox, nx;
    bool *used = on ? kl_arena_alloc(w->a, on * sizeof(bool)) : NULL;
    if (opes == NULL || npes == NULL || (on && used == NULL) ||
        !sidx_build(w->a, &ox, opes, olens, on) || !sidx_build(w->a, &nx, npes, nlens, nn)) {
        cmp_leaf(w, ol, nl, c); /* items without keys: the list is atomic */
        return;
    }
    if (on)
        memset(used, 0, on * sizeof(bool));
    tref_t et = elem_type(tr);
    for (uint32_t j = 0; j < nn; j++) {
        if (sidx_find(&nx, npes[j], nlens[j]) != j)
            continue; /* a repeated item: only the first counts */
        int64_t i = sidx_find(&ox, npes[j], nlens[j]);
        if (i >= 0)
            used[i] = true;
        cur_t cc = {.up = c, .pe = npes[j], .pelen = nlens[j]};
        cmp(w, i >= 0 ? ol->u.items[i] : NULL, nl->u.items[j], et, &cc, W_OTHER, true, depth + 1);
    }
    for (uint32_t i = 0; i < on; i++) {
        if (used[i] || sidx_find(&ox, opes[i], olens[i]) != i)
            continue;
        cur_t cc = {.up = c, .pe = opes[i], .pelen = olens[i]};
        cmp(w, ol->u.items[i], NULL, et, &cc, W_OTHER, true, depth + 1);
    }
}

/* Compare: leaves that differ are added, modified or removed; containers present on one side
 * only are added or removed themselves too, except structs of built-in kinds appearing (Go
 * zero values make them present in kube-apiserver's comparison). */
static void cmp(walk_t *w, const kl_json_t *o, const kl_json_t *n, tref_t tr, cur_t *c, int where,
                bool item, unsigned depth)
{
    if (depth > KL_PATCH_MAX_DEPTH || (o == NULL && n == NULL))
        return;
    nclass_t k = classify(tr, o, n);
    if (k.kind == N_STRUCT || k.kind == N_MAP) {
        bool oe = !kl_json_is(o, KL_TOBJECT) || o->len == 0;
        bool ne = !kl_json_is(n, KL_TOBJECT) || n->len == 0;
        if (oe && ne) {
            cmp_leaf(w, o, n, c);
            return;
        }
        cmp_object(w, o, n, tr, &k, c, where, depth);
    } else if (k.kind == N_LIST) {
        const kl_json_t *ol = kl_json_is(o, KL_TARRAY) ? o : NULL;
        const kl_json_t *nl = kl_json_is(n, KL_TARRAY) ? n : NULL;
        if ((ol == NULL || ol->len == 0) && (nl == NULL || nl->len == 0)) {
            cmp_leaf(w, o, n, c);
            return;
        }
        cmp_list(w, ol, nl, tr, &k, c, depth);
    } else {
        cmp_leaf(w, o, n, c);
        return;
    }
    if (where == W_META)
        return; /* metadata itself is never owned */
    /* Go values present in kube-apiserver's zero object: structs, and required fields (no
     * omitempty) of built-in kinds. */
    bool zero_present = !item && (k.builtin_struct || (tr.f != NULL && tr.t != NULL && !tr.t->crd &&
                                                       (tr.f->flags & KL_SF_REQUIRED)));
    if (o == NULL && !zero_present)
        mark(w, c, S_ADD);
    else if (n == NULL)
        mark(w, c, S_REM);
}

/* RemoveItems, in place; true when v was emptied. */
static bool remove_in(walk_t *w, kl_json_t *v, const kl_fset_t *s, tref_t tr, unsigned depth)
{
    if (s == NULL || v == NULL || depth > KL_PATCH_MAX_DEPTH)
        return false;
    nclass_t k = classify(tr, v, NULL);
    bool removed = false;
    if ((k.kind == N_STRUCT || k.kind == N_MAP) && v->type == KL_TOBJECT) {
        for (uint32_t i = v->len; i-- > 0;) {
            kl_jmember_t *m = &v->u.members[i];
            kl_buf_reset(&w->tmp);
            if (kl_buf_puts(&w->tmp, "f:") < 0 || kl_buf_append(&w->tmp, m->key, m->keylen) < 0) {
                w->a->failed = true;
                return false;
            }
            const kl_fset_t *kid = kl_fset_get(s, w->tmp.data, w->tmp.len);
            if (kid == NULL)
                continue;
            tref_t ct;
            member_type(tr, &k, m->key, m->keylen, &ct);
            if (kid->member || remove_in(w, m->val, kid, ct, depth + 1)) {
                kl__patch_member_remove(v, i);
                removed = true;
            }
        }
    } else if (k.kind == N_LIST && v->type == KL_TARRAY) {
        uint32_t *lens;
        const char **pes = list_pes(w, &k, v, &lens);
        if (pes == NULL)
            return false;
        tref_t et = elem_type(tr);
        for (uint32_t i = v->len; i-- > 0;) {
            const kl_fset_t *kid = kl_fset_get(s, pes[i], lens[i]);
            if (kid == NULL)
                continue;
            if (kid->member) {
                kl_json_free(kl_json_take_at(v, i));
                removed = true;
            } else {
                remove_in(w, v->u.items[i], kid, et, depth + 1);
            }
        }
    }
    return removed && v->len == 0;
}

/* EnsureNamedFieldsAreMembers: a copy of s where every struct field with something below it is
 * a member itself. */
static kl_fset_t *ensure(walk_t *w, const kl_fset_t *s, tref_t tr, unsigned depth)
{
    if (s == NULL || depth > KL_PATCH_MAX_DEPTH)
        return (kl_fset_t *)s;
    kl_fset_t *r = kl_fset_new(w->a);
    kl_fkid_t *kids = s->n ? kl_arena_alloc(w->a, s->n * sizeof(kl_fkid_t)) : NULL;
    if (r == NULL || (s->n && kids == NULL))
        return (kl_fset_t *)s;
    r->member = s->member;
    r->kids = kids;
    r->n = r->cap = s->n;
    kl_json_t probe = {.type = KL_TOBJECT};
    nclass_t k = classify(tr, &probe, NULL);
    for (uint32_t i = 0; i < s->n; i++) {
        const kl_fkid_t *kid = &s->kids[i];
        tref_t ct = {0};
        bool named = false;
        if (kid->pe[0] == 'f')
            named = member_type(tr, &k, kid->pe + 2, kid->len - 2, &ct);
        else
            ct = elem_type(tr);
        kl_fset_t *e = ensure(w, kid->set, ct, depth + 1);
        if (named && !e->member) {
            kl_fset_t *copy = kl_fset_new(w->a);
            if (copy != NULL) {
                *copy = *e;
                copy->member = true;
                e = copy;
            }
        }
        kids[i] = (kl_fkid_t){kid->pe, kid->len, e};
    }
    return r;
}

static void walk_init(walk_t *w, kl_arena_t *a, kl_mf_scope_t scope)
{
    w->a = a;
    w->scope = scope;
    kl_buf_init(&w->tmp, 0);
}

static kl_fset_t *fieldset(walk_t *w, const kl_json_t *obj, const kl_stype_t *t)
{
    kl_fset_t *root = kl_fset_new(w->a);
    cur_t c = {.node = {root}};
    to_set(w, obj, (tref_t){t, NULL}, &c, W_ROOT, 0);
    return kl_fset_seal(w->a, root);
}

static void compare(walk_t *w, const kl_json_t *old, const kl_json_t *new_, const kl_stype_t *t,
                    kl_fset_t **added, kl_fset_t **modified, kl_fset_t **removed)
{
    kl_fset_t *a = kl_fset_new(w->a), *m = kl_fset_new(w->a), *r = kl_fset_new(w->a);
    cur_t c = {.node = {a, m, r}};
    cmp(w, old, new_, (tref_t){t, NULL}, &c, W_ROOT, false, 0);
    *added = kl_fset_seal(w->a, a);
    *modified = kl_fset_seal(w->a, m);
    *removed = kl_fset_seal(w->a, r);
}

int kl_mf_fieldset(kl_arena_t *a, const kl_json_t *obj, const kl_stype_t *t, kl_mf_scope_t scope,
                   kl_fset_t **out)
{
    walk_t w;
    walk_init(&w, a, scope);
    *out = fieldset(&w, obj, t);
    kl_buf_cleanup(&w.tmp);
    return kl_arena_failed(a) ? KL_ENOMEM : 0;
}

int kl_mf_compare(kl_arena_t *a, const kl_json_t *old, const kl_json_t *new_, const kl_stype_t *t,
                  kl_mf_scope_t scope, kl_fset_t **added, kl_fset_t **modified, kl_fset_t **removed)
{
    walk_t w;
    walk_init(&w, a, scope);
    compare(&w, old, new_, t, added, modified, removed);
    kl_buf_cleanup(&w.tmp);
    return kl_arena_failed(a) ? KL_ENOMEM : 0;
}

int kl_mf_remove(kl_arena_t *a, kl_json_t *obj, const kl_fset_t *s, const kl_stype_t *t)
{
    walk_t w;
    walk_init(&w, a, KL_MF_ALL);
    remove_in(&w, obj, s, (tref_t){t, NULL}, 0);
    kl_buf_cleanup(&w.tmp);
    return kl_arena_failed(a) ? KL_ENOMEM : 0;
}

/* ---- Entries ---------------------------------------------------------------------------- */

typedef struct entry {
    uint32_t idx; /* position in the source array, or UINT32_MAX for a new entry */
    const char *manager, *operation, *api_version, *time, *sub; /* "" when absent (time NULL) */
    bool apply;
    const kl_json_t *fields; /* as stored */
    kl_fset_t *set;
    bool decoded, dirty, dead;
} entry_t;

typedef struct mf {
    kl_arena_t a;
    walk_t w;
    const kl_mf_op_t *op;
    kl_json_t *src; /* the entries as received (owned), or NULL */
    entry_t *e;
    size_t n, cap;
    kl_fset_t *strip; /* the fields never owned */
    kl_errinfo_t *err;
} mf_t;

static void mf_init(mf_t *m, const kl_mf_op_t *op, kl_errinfo_t *err)
{
    kl_arena_init(&m->a);
    walk_init(&m->w, &m->a, op->scope);
    m->op = op;
    m->src = NULL;
    m->e = NULL;
    m->n = m->cap = 0;
    m->strip = NULL;
    m->err = err;
}

static void mf_cleanup(mf_t *m)
{
    kl_json_free(m->src);
    kl_buf_cleanup(&m->w.tmp);
    kl_arena_cleanup(&m->a);
}

static entry_t *add_entry(mf_t *m)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        entry_t *e = kl_arena_alloc(&m->a, cap * sizeof(entry_t));
        if (e == NULL)
            return NULL;
        if (m->n)
            memcpy(e, m->e, m->n * sizeof(entry_t));
        m->e = e;
        m->cap = cap;
    }
    entry_t *e = &m->e[m->n++];
    *e = (entry_t){.idx = UINT32_MAX, .manager = "", .api_version = "", .sub = ""};
    return e;
}

static bool same_id(const entry_t *e, const char *manager, bool apply, const char *sub,
                    const char *api_version)
{
    return !e->dead && e->apply == apply && strcmp(e->manager, manager) == 0 &&
           strcmp(e->sub, sub ? sub : "") == 0 &&
           (apply || strcmp(e->api_version, api_version) == 0);
}

static entry_t *find_entry(mf_t *m, const char *manager, bool apply, const char *sub,
                           const char *api_version)
{
    for (size_t i = 0; i < m->n; i++)
        if (same_id(&m->e[i], manager, apply, sub, api_version))
            return &m->e[i];
    return NULL;
}

static const char *str_or(const kl_json_t *o, const char *key, const char *dflt)
{
    const char *s = kl_json_str(kl_json_get(o, key));
    return s ? s : dflt;
}

/* Reads the entries of m->src. With check set (entries a client sent), every entry must be
 * valid and its fields are decoded into the canonical form now; false when one is not. */
static bool load(mf_t *m, bool check)
{
    if (!kl_json_is(m->src, KL_TARRAY))
        return !check || m->src == NULL;
    for (uint32_t i = 0; i < m->src->len; i++) {
        const kl_json_t *j = m->src->u.items[i];
        const char *op = kl_json_str(kl_json_get(j, "operation"));
        const char *av = kl_json_str(kl_json_get(j, "apiVersion"));
        const char *ft = kl_json_str(kl_json_get(j, "fieldsType"));
        const kl_json_t *fields = kl_json_get(j, "fieldsV1");
        bool ok = kl_json_is(j, KL_TOBJECT) && op != NULL &&
                  (strcmp(op, "Apply") == 0 || strcmp(op, "Update") == 0) && av != NULL && *av &&
                  ft != NULL && strcmp(ft, "FieldsV1") == 0 &&
                  (fields == NULL || kl_json_is(fields, KL_TOBJECT));
        if (!ok) {
            if (check)
                return false;
            continue;
        }
        bool apply = strcmp(op, "Apply") == 0;
        const char *manager = str_or(j, "manager", ""), *sub = str_or(j, "subresource", "");
        entry_t *prev = find_entry(m, manager, apply, sub, av);
        if (prev != NULL)
            prev->dead = true; /* the last of the same manager wins, as upstream */
        entry_t *e = add_entry(m);
        if (e == NULL)
            return false;
        e->idx = i;
        e->manager = manager;
        e->operation = op;
        e->api_version = av;
        e->time = kl_json_str(kl_json_get(j, "time"));
        e->sub = sub;
        e->apply = apply;
        e->fields = fields;
        if (check) {
            kl_errinfo_t derr;
            if (fields != NULL && kl_fset_from_json(&m->a, fields, true, &e->set, &derr) < 0)
                return false;
            e->decoded = e->dirty = true;
        }
    }
    return true;
}

static kl_fset_t *decode(mf_t *m, entry_t *e)
{
    if (!e->decoded) {
        kl_errinfo_t derr;
        e->set = NULL;
        if (e->fields != NULL && kl_fset_from_json(&m->a, e->fields, false, &e->set, &derr) < 0)
            e->set = NULL; /* unreadable: owns nothing */
        e->decoded = true;
    }
    return e->set;
}

/* Whether e owns a path of s, decoding it only when it may. */
static bool owns_any(mf_t *m, entry_t *e, const kl_fset_t *s)
{
    if (kl_fset_empty(s) || e->dead)
        return false;
    if (!e->decoded)
        return e->fields != NULL && kl_fset_json_intersects(e->fields, s);
    return kl_fset_intersects(e->set, s);
}

/* e loses the paths of s. */
static void disown(mf_t *m, entry_t *e, const kl_fset_t *s)
{
    if (!owns_any(m, e, s))
        return;
    kl_fset_t *d = kl_fset_difference(&m->a, decode(m, e), s);
    if (d != e->set) {
        e->set = d;
        e->dirty = true;
    }
}

static kl_fset_t *strip_set(mf_t *m)
{
    if (m->strip != NULL)
        return m->strip;
    static const char *const meta[] = {
        "f:name",        "f:namespace",  "f:creationTimestamp", "f:selfLink",        "f:uid",
        "f:clusterName", "f:generation", "f:managedFields",     "f:resourceVersion", NULL};
    kl_fset_t *root = kl_fset_new(&m->a);
    kl_fset_t *k = kl_fset_kid(&m->a, root, "f:apiVersion", 12);
    if (k)
        k->member = true;
    if ((k = kl_fset_kid(&m->a, root, "f:kind", 6)) != NULL)
        k->member = true;
    kl_fset_t *md = kl_fset_kid(&m->a, root, "f:metadata", 10);
    if (md != NULL) {
        md->member = true;
        for (size_t i = 0; meta[i]; i++)
            if ((k = kl_fset_kid(&m->a, md, meta[i], strlen(meta[i]))) != NULL)
                k->member = true;
    }
    return m->strip = kl_fset_seal(&m->a, root);
}

/* The identifier upstream sorts managers by and prints in conflicts. */
static int manager_ident(const entry_t *e, kl_buf_t *b)
{
    int rc = kl_buf_puts(b, "{\"manager\":");
    if (rc == 0)
        rc = kl_json_quote(b, e->manager, strlen(e->manager));
    if (rc == 0)
        rc = kl_buf_printf(b, ",\"operation\":\"%s\"", e->apply ? "Apply" : "Update");
    if (rc == 0 && !e->apply) {
        rc = kl_buf_puts(b, ",\"apiVersion\":");
        if (rc == 0)
            rc = kl_json_quote(b, e->api_version, strlen(e->api_version));
    }
    if (rc == 0 && *e->sub) {
        rc = kl_buf_puts(b, ",\"subresource\":");
        if (rc == 0)
            rc = kl_json_quote(b, e->sub, strlen(e->sub));
    }
    return rc == 0 ? kl_buf_putc(b, '}') : rc;
}

/* How upstream names a manager in conflict messages. */
static int print_manager(const entry_t *e, kl_buf_t *b)
{
    int rc = kl_json_quote(b, e->manager, strlen(e->manager));
    if (rc == 0 && *e->sub) {
        rc = kl_buf_puts(b, " with subresource ");
        if (rc == 0)
            rc = kl_json_quote(b, e->sub, strlen(e->sub));
    }
    if (rc == 0 && !e->apply)
        rc = kl_buf_printf(b, " using %s", e->api_version);
    return rc;
}

static int time_cmp(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

static int entry_order(const void *x, const void *y)
{
    const entry_t *a = *(entry_t *const *)x, *b = *(entry_t *const *)y;
    int c;
    if (a->apply != b->apply)
        return a->apply ? -1 : 1;
    if ((c = time_cmp(a->time, b->time)) != 0)
        return c;
    if ((c = strcmp(a->manager, b->manager)) != 0)
        return c;
    if ((c = strcmp(a->api_version, b->api_version)) != 0)
        return c;
    return strcmp(a->sub, b->sub);
}

static kl_json_t *entry_json(mf_t *m, entry_t *e, kl_fset_t *set)
{
    kl_json_t *j = kl_json_object();
    int rc = j ? 0 : KL_ENOMEM;
    if (rc == 0 && *e->manager)
        rc = kl_json_set_str(j, "manager", e->manager);
    if (rc == 0)
        rc = kl_json_set_str(j, "operation", e->apply ? "Apply" : "Update");
    if (rc == 0)
        rc = kl_json_set_str(j, "apiVersion", e->api_version);
    if (rc == 0 && e->time != NULL)
        rc = kl_json_set_str(j, "time", e->time);
    if (rc == 0)
        rc = kl_json_set_str(j, "fieldsType", "FieldsV1");
    if (rc == 0)
        rc = kl_json_set(j, "fieldsV1", kl_fset_to_json(set));
    if (rc == 0 && *e->sub)
        rc = kl_json_set_str(j, "subresource", e->sub);
    (void)m;
    if (rc < 0) {
        kl_json_free(j);
        return NULL;
    }
    return j;
}

/* Writes the live entries, sorted as upstream sorts them, into obj.metadata.managedFields (or
 * removes it when none is left). */
static int store(mf_t *m, kl_json_t *obj)
{
    kl_fset_t *strip = strip_set(m);
    entry_t **live = m->n ? kl_arena_alloc(&m->a, m->n * sizeof(entry_t *)) : NULL;
    if (kl_arena_failed(&m->a))
        return kl_err(m->err, KL_ENOMEM, "out of memory");
    size_t nl = 0;
    for (size_t i = 0; i < m->n; i++) {
        entry_t *e = &m->e[i];
        if (e->dead)
            continue;
        if (e->dirty || e->decoded) {
            kl_fset_t *s = kl_fset_difference(&m->a, e->set, strip);
            if (s != e->set) {
                e->set = s;
                e->dirty = true;
            }
            if (kl_fset_empty(e->set))
                continue;
        } else if (e->fields == NULL || e->fields->len == 0) {
            continue;
        }
        live[nl++] = e;
    }
    if (nl > 1)
        qsort(live, nl, sizeof(entry_t *), entry_order);
    kl_json_t *md = kl_json_ensure_object(obj, "metadata");
    if (md == NULL)
        return kl_err(m->err, KL_ENOMEM, "out of memory");
    if (nl == 0) {
        kl_json_del(md, "managedFields");
        return 0;
    }
    kl_json_t *arr = kl_json_array();
    int rc = arr ? 0 : KL_ENOMEM;
    for (size_t i = 0; i < nl && rc == 0; i++) {
        entry_t *e = live[i];
        kl_json_t *j;
        if (!e->dirty && e->idx != UINT32_MAX) {
            j = m->src->u.items[e->idx];
            m->src->u.items[e->idx] = NULL;
        } else {
            j = entry_json(m, e, e->set);
        }
        rc = j ? kl_json_append(arr, j) : KL_ENOMEM;
    }
    if (rc == 0 && kl_arena_failed(&m->a))
        rc = KL_ENOMEM;
    if (rc == 0)
        rc = kl_json_set(md, "managedFields", arr);
    else
        kl_json_free(arr);
    return rc < 0 ? kl_err(m->err, rc, "out of memory") : 0;
}

/* At most MAX_UPDATE_MANAGERS Update entries: the oldest are merged into an "ancient-changes"
 * entry per apiVersion. */
static void cap_managers(mf_t *m)
{
    size_t nu = 0;
    for (size_t i = 0; i < m->n; i++)
        nu += !m->e[i].dead && !m->e[i].apply;
    if (nu <= MAX_UPDATE_MANAGERS)
        return;
    entry_t **u = kl_arena_alloc(&m->a, nu * sizeof(entry_t *));
    if (u == NULL)
        return;
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        if (!m->e[i].dead && !m->e[i].apply)
            u[k++] = &m->e[i];
    /* Oldest first, then by identifier. */
    for (size_t i = 1; i < nu; i++)
        for (size_t j = i; j > 0; j--) {
            int c = time_cmp(u[j - 1]->time, u[j]->time);
            if (c == 0)
                c = strcmp(u[j - 1]->manager, u[j]->manager);
            if (c <= 0)
                break;
            entry_t *x = u[j];
            u[j] = u[j - 1];
            u[j - 1] = x;
        }
    entry_t *first[64] = {0};
    size_t length = nu;
    for (size_t i = 0; i < nu && length > MAX_UPDATE_MANAGERS; i++) {
        entry_t *e = u[i];
        size_t slot = 0;
        while (slot < 64 && first[slot] != NULL &&
               strcmp(first[slot]->api_version, e->api_version) != 0)
            slot++;
        if (slot == 64)
            break;
        if (first[slot] == NULL) {
            first[slot] = e;
            continue;
        }
        entry_t *bucket = find_entry(m, "ancient-changes", false, "", e->api_version);
        if (bucket == NULL) {
            bucket = first[slot];
            decode(m, bucket);
            bucket->manager = "ancient-changes";
            bucket->sub = "";
            bucket->dirty = true;
        }
        bucket->set = kl_fset_union(&m->a, decode(m, e), decode(m, bucket));
        bucket->time = e->time;
        bucket->dirty = true;
        e->dead = true;
        length--;
    }
}

/* Takes the entries to start from (see kl_mf_update()). */
static bool is_reset(const kl_json_t *mf)
{
    if (!kl_json_is(mf, KL_TARRAY))
        return false;
    return mf->len == 0 ||
           (mf->len == 1 && kl_json_is(mf->u.items[0], KL_TOBJECT) && mf->u.items[0]->len == 0);
}

/* Adds fields to the Update entry of op's manager (made when missing), stamped op->now. */
static void own_update(mf_t *m, const kl_mf_op_t *op, kl_fset_t *fields)
{
    entry_t *self = find_entry(m, op->manager, false, op->subresource, op->api_version);
    if (self == NULL && (self = add_entry(m)) != NULL) {
        self->manager = op->manager;
        self->api_version = op->api_version;
        self->sub = op->subresource ? op->subresource : "";
        self->decoded = true;
    }
    if (self != NULL) {
        self->set = kl_fset_union(&m->a, decode(m, self), fields);
        self->time = op->now;
        self->dirty = true;
    }
}

/* Caps the number of managers and writes the entries into obj. */
static int finish(mf_t *m, kl_json_t *obj, kl_errinfo_t *err)
{
    cap_managers(m);
    if (kl_arena_failed(&m->a))
        return kl_err(err, KL_ENOMEM, "out of memory");
    return store(m, obj);
}

int kl_mf_update(const kl_mf_op_t *op, const kl_json_t *old, kl_json_t *next, kl_errinfo_t *err)
{
    mf_t m;
    mf_init(&m, op, err);
    int rc = 0;
    kl_json_t *nmd = kl_json_ensure_object(next, "metadata");
    if (nmd == NULL) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto out;
    }
    kl_json_t *sent = kl_json_take(nmd, "managedFields");
    const kl_json_t *olds = kl_json_path(old, "metadata", "managedFields", NULL);
    bool loaded = false;
    if (op->subresource == NULL && sent != NULL) {
        if (is_reset(sent)) {
            kl_json_free(sent);
            loaded = true;
        } else if (olds != NULL && (kl_fset_json_same(sent, olds) || kl_json_equal(sent, olds))) {
            m.src = sent;
            loaded = load(&m, false);
        } else {
            m.src = sent;
            loaded = load(&m, true) && m.n > 0;
            if (!loaded) {
                m.n = 0;
                kl_json_free(m.src);
                m.src = NULL;
            }
        }
    } else {
        kl_json_free(sent);
    }
    if (!loaded && olds != NULL) {
        m.src = kl_fset_json_copy(olds);
        if (m.src == NULL) {
            rc = kl_err(err, KL_ENOMEM, "out of memory");
            goto out;
        }
        load(&m, false);
    }

    kl_fset_t *added, *modified, *removed;
    compare(&m.w, old, next, op->type, &added, &modified, &removed);
    kl_fset_t *changed = kl_fset_union(&m.a, added, modified);
    for (size_t i = 0; i < m.n; i++) {
        disown(&m, &m.e[i], changed);
        disown(&m, &m.e[i], removed);
    }
    changed = kl_fset_difference(&m.a, changed, strip_set(&m));
    if (!kl_fset_empty(changed))
        own_update(&m, op, changed);
    rc = finish(&m, next, err);
out:
    mf_cleanup(&m);
    return rc;
}

int kl_mf_scale(const kl_mf_op_t *op, kl_json_t *obj, kl_errinfo_t *err)
{
    mf_t m;
    mf_init(&m, op, err);
    kl_json_t *md = kl_json_ensure_object(obj, "metadata");
    int rc = 0;
    if (md == NULL) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto out;
    }
    m.src = kl_json_take(md, "managedFields");
    load(&m, false);
    kl_fset_t *root = kl_fset_new(&m.a);
    kl_fset_t *spec = kl_fset_kid(&m.a, root, "f:spec", 6);
    kl_fset_t *replicas = kl_fset_kid(&m.a, spec, "f:replicas", 10);
    if (replicas != NULL)
        replicas->member = true;
    kl_fset_t *r = kl_fset_seal(&m.a, root);
    for (size_t i = 0; i < m.n; i++)
        disown(&m, &m.e[i], r);
    own_update(&m, op, r);
    rc = finish(&m, obj, err);
out:
    mf_cleanup(&m);
    return rc;
}

/* ---- Apply ------------------------------------------------------------------------------ */

void kl_mf_conflicts_cleanup(kl_mf_conflicts_t *c)
{
    free(c->message);
    free(c->causes);
    c->message = c->causes = NULL;
}

/* prune: removes from *merged what the applier owned last time (last), no longer applies and
 * no other manager owns, following structured-merge-diff's three steps so that structs and
 * items nobody else owns go as a whole. */
static int prune(mf_t *m, kl_json_t *merged, kl_fset_t *last)
{
    walk_t *w = &m->w;
    tref_t root = {m->op->type, NULL};
    kl_fset_t *managed = NULL;
    for (size_t i = 0; i < m->n; i++)
        if (!m->e[i].dead)
            managed = kl_fset_union(&m->a, managed, decode(m, &m->e[i]));
    kl_fset_t *le = ensure(w, last, root, 0);
    kl_json_t *p1 = kl_fset_json_copy(merged), *p2 = kl_fset_json_copy(merged);
    if (p1 == NULL || p2 == NULL) {
        kl_json_free(p1);
        kl_json_free(p2);
        return KL_ENOMEM;
    }
    remove_in(w, p1, le, root, 0);
    kl_fset_t *ms = ensure(w, fieldset(w, merged, m->op->type), root, 0);
    kl_fset_t *p1s = ensure(w, fieldset(w, p1, m->op->type), root, 0);
    kl_fset_t *me = ensure(w, managed, root, 0);
    kl_fset_t *x = kl_fset_difference(&m->a, ms, kl_fset_union(&m->a, p1s, me));
    remove_in(w, p2, x, root, 0);
    kl_fset_t *p2s = ensure(w, fieldset(w, p2, m->op->type), root, 0);
    kl_fset_t *y = kl_fset_intersection(&m->a, kl_fset_difference(&m->a, ms, p2s), le);
    remove_in(w, merged, y, root, 0);
    kl_json_free(p1);
    kl_json_free(p2);
    return kl_arena_failed(&m->a) ? KL_ENOMEM : 0;
}

/* The fields a client-side apply's annotation still vouches for: those of the last applied
 * configuration whose values the live object still has (upstream's lastAppliedManager). */
static kl_fset_t *allowed_by_last_applied(mf_t *m, const kl_json_t *live)
{
    const char *text =
        kl_json_str(kl_json_path(live, "metadata", "annotations", LAST_APPLIED, NULL));
    if (text == NULL || *text == '\0')
        return NULL;
    kl_json_t *la = NULL;
    if (kl_json_parse(text, strlen(text), NULL, &la, NULL) < 0)
        return NULL;
    kl_fset_t *allowed = NULL;
    const char *av = kl_json_str(kl_json_get(la, "apiVersion"));
    if (kl_json_is(la, KL_TOBJECT) && av != NULL && strcmp(av, m->op->api_version) == 0) {
        kl_fset_t *set = fieldset(&m->w, la, m->op->type);
        kl_fset_t *a, *mo, *r;
        compare(&m->w, la, live, m->op->type, &a, &mo, &r);
        allowed =
            kl_fset_difference(&m->a, set, kl_fset_union(&m->a, kl_fset_union(&m->a, a, mo), r));
    }
    kl_json_free(la);
    return allowed;
}

/* Go's encoding/json output for a decoded JSON value: object keys sorted, <, > and & escaped. */
static int encode_go(const kl_json_t *v, kl_buf_t *b, unsigned depth)
{
    if (depth > KL_PATCH_MAX_DEPTH)
        return KL_ETOODEEP;
    int rc = 0;
    switch (v->type) {
    case KL_TSTRING:
        rc = kl_buf_putc(b, '"');
        for (uint32_t i = 0; i < v->len && rc == 0; i++) {
            unsigned char ch = (unsigned char)v->u.s[i];
            if (ch == '"' || ch == '\\')
                rc = kl_buf_printf(b, "\\%c", ch);
            else if (ch == '\n')
                rc = kl_buf_puts(b, "\\n");
            else if (ch == '\r')
                rc = kl_buf_puts(b, "\\r");
            else if (ch == '\t')
                rc = kl_buf_puts(b, "\\t");
            else if (ch < 0x20 || ch == '<' || ch == '>' || ch == '&')
                rc = kl_buf_printf(b, "\\u%04x", ch);
            else if (ch == 0xe2 && i + 2 < v->len && (unsigned char)v->u.s[i + 1] == 0x80 &&
                     ((unsigned char)v->u.s[i + 2] == 0xa8 ||
                      (unsigned char)v->u.s[i + 2] == 0xa9)) {
                rc = kl_buf_printf(b, "\\u%04x", 0x2000 + (unsigned char)v->u.s[i + 2] - 0x80);
                i += 2;
            } else
                rc = kl_buf_putc(b, (char)ch);
        }
        return rc == 0 ? kl_buf_putc(b, '"') : rc;
    case KL_TARRAY:
        rc = kl_buf_putc(b, '[');
        for (uint32_t i = 0; i < v->len && rc == 0; i++) {
            if (i)
                rc = kl_buf_putc(b, ',');
            if (rc == 0)
                rc = encode_go(v->u.items[i], b, depth + 1);
        }
        return rc == 0 ? kl_buf_putc(b, ']') : rc;
    case KL_TOBJECT: {
        const kl_jmember_t **ms = v->len ? malloc(v->len * sizeof(*ms)) : NULL;
        if (v->len && ms == NULL)
            return KL_ENOMEM;
        for (uint32_t i = 0; i < v->len; i++) {
            ms[i] = &v->u.members[i];
            for (uint32_t j = i; j > 0 && strcmp(ms[j - 1]->key, ms[j]->key) > 0; j--) {
                const kl_jmember_t *x = ms[j];
                ms[j] = ms[j - 1];
                ms[j - 1] = x;
            }
        }
        rc = kl_buf_putc(b, '{');
        for (uint32_t i = 0; i < v->len && rc == 0; i++) {
            if (i)
                rc = kl_buf_putc(b, ',');
            kl_json_t key = {.type = KL_TSTRING, .len = ms[i]->keylen, .u.s = ms[i]->key};
            if (rc == 0)
                rc = encode_go(&key, b, depth + 1);
            if (rc == 0)
                rc = kl_buf_putc(b, ':');
            if (rc == 0)
                rc = encode_go(ms[i]->val, b, depth + 1);
        }
        free(ms);
        return rc == 0 ? kl_buf_putc(b, '}') : rc;
    }
    default:
        return kl_json_encode(v, b);
    }
}

/* upstream's lastAppliedUpdater: kubectl's server-side applies keep the client-side apply
 * annotation, when there is one, equal to what they applied. */
static int update_last_applied(mf_t *m, const kl_json_t *live, const kl_json_t *config,
                               kl_json_t *merged)
{
    const char *cur =
        kl_json_str(kl_json_path(live, "metadata", "annotations", LAST_APPLIED, NULL));
    if (cur == NULL || *cur == '\0')
        return 0;
    kl_json_t *c = kl_json_dup(config);
    if (c == NULL)
        return KL_ENOMEM;
    kl_json_del(kl_json_path(c, "metadata", "annotations", NULL), LAST_APPLIED);
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc = encode_go(c, &b, 0);
    if (rc == 0)
        rc = kl_buf_putc(&b, '\n');
    kl_json_free(c);
    kl_json_t *ann =
        rc == 0 ? kl_json_ensure_object(kl_json_ensure_object(merged, "metadata"), "annotations")
                : NULL;
    if (rc == 0 && ann == NULL)
        rc = KL_ENOMEM;
    if (rc == 0)
        rc = kl_json_set(ann, LAST_APPLIED, kl_json_stringn(b.data, b.len));
    kl_buf_cleanup(&b);
    if (rc == 0) {
        size_t total = 0;
        for (uint32_t i = 0; i < ann->len; i++)
            total += ann->u.members[i].keylen +
                     kl_json_is(ann->u.members[i].val, KL_TSTRING) * ann->u.members[i].val->len;
        if (total > MAX_ANNOTATIONS_SIZE)
            kl_json_del(ann, LAST_APPLIED);
    }
    (void)m;
    return rc;
}

typedef struct conflict {
    entry_t *e;
    kl_fset_t *set;
    char *ident;
} conflict_t;

static int conflict_cmp(const void *x, const void *y)
{
    return strcmp(((const conflict_t *)x)->ident, ((const conflict_t *)y)->ident);
}

typedef struct report {
    kl_buf_t *msg, *causes;
    const char *who; /* printed manager */
    size_t count;
    int rc;
} report_t;

static int report_path(void *ud, const kl_fpath_t *p)
{
    report_t *r = ud;
    kl_buf_t path;
    kl_buf_init(&path, 0);
    int rc = kl_fpath_format(p, &path);
    if (rc == 0 && r->msg != NULL)
        rc = kl_buf_printf(r->msg, "\n- %.*s", (int)path.len, path.data);
    if (rc == 0)
        rc = kl_buf_printf(
            r->causes, "%s{\"type\":\"FieldManagerConflict\",\"message\":", r->count ? "," : "");
    if (rc == 0) {
        kl_buf_t m;
        kl_buf_init(&m, 0);
        rc = kl_buf_printf(&m, "conflict with %s", r->who);
        if (rc == 0)
            rc = kl_json_quote(r->causes, m.data, m.len);
        kl_buf_cleanup(&m);
    }
    if (rc == 0)
        rc = kl_buf_puts(r->causes, ",\"field\":");
    if (rc == 0)
        rc = kl_json_quote(r->causes, path.data ? path.data : "", path.len);
    if (rc == 0)
        rc = kl_buf_putc(r->causes, '}');
    kl_buf_cleanup(&path);
    r->count++;
    return r->rc = rc;
}

static int first_path(void *ud, const kl_fpath_t *p)
{
    return kl_fpath_format(p, ud) == 0 ? 1 : KL_ENOMEM;
}

/* Words the conflicts as upstream's NewConflictError does. */
static int report_conflicts(mf_t *m, conflict_t *cs, size_t n, kl_mf_conflicts_t *out)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        kl_buf_t b;
        kl_buf_init(&b, 0);
        if (manager_ident(cs[i].e, &b) < 0 ||
            (cs[i].ident = kl_arena_strndup(&m->a, b.data ? b.data : "", b.len)) == NULL) {
            kl_buf_cleanup(&b);
            return KL_ENOMEM;
        }
        kl_buf_cleanup(&b);
        total += kl_fset_count(cs[i].set);
    }
    qsort(cs, n, sizeof(*cs), conflict_cmp);
    kl_buf_t msg, causes, who;
    kl_buf_init(&msg, 0);
    kl_buf_init(&causes, 0);
    kl_buf_init(&who, 0);
    int rc = kl_buf_putc(&causes, '[');
    if (rc == 0 && total == 1) {
        rc = print_manager(cs[0].e, &who);
        if (rc == 0)
            rc = kl_buf_printf(
                &msg, "Apply failed with 1 conflict: conflict with %.*s: ", (int)who.len, who.data);
        if (rc == 0 && kl_fset_walk(cs[0].set, first_path, &msg) < 0)
            rc = KL_ENOMEM;
        report_t r = {NULL, &causes, who.data, 0, 0};
        if (rc == 0)
            rc = kl_fset_walk(cs[0].set, report_path, &r);
    } else if (rc == 0) {
        rc = kl_buf_printf(&msg, "Apply failed with %zu conflicts: ", total);
        size_t count = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            kl_buf_reset(&who);
            rc = print_manager(cs[i].e, &who);
            if (rc == 0)
                rc = kl_buf_printf(&msg, "%sconflicts with %.*s:", i ? "\n" : "", (int)who.len,
                                   who.data);
            report_t r = {&msg, &causes, who.data, count, 0};
            if (rc == 0)
                rc = kl_fset_walk(cs[i].set, report_path, &r);
            count = r.count;
        }
    }
    if (rc == 0)
        rc = kl_buf_putc(&causes, ']');
    kl_buf_cleanup(&who);
    if (rc < 0) {
        kl_buf_cleanup(&msg);
        kl_buf_cleanup(&causes);
        return rc;
    }
    out->message = kl_buf_take(&msg, NULL);
    out->causes = kl_buf_take(&causes, NULL);
    return out->message && out->causes ? 0 : KL_ENOMEM;
}

int kl_mf_apply(const kl_mf_op_t *op, const kl_json_t *live, const kl_json_t *config, bool force,
                kl_json_t **out, kl_mf_conflicts_t *conflicts, kl_errinfo_t *err)
{
    *out = NULL;
    conflicts->message = conflicts->causes = NULL;
    const kl_json_t *cmf = kl_json_path(config, "metadata", "managedFields", NULL);
    if (cmf != NULL && cmf->type != KL_TNULL)
        return kl_err(err, KL_EBADREQUEST, "metadata.managedFields must be nil");
    mf_t m;
    mf_init(&m, op, err);
    int rc = 0;
    kl_json_t *merged = live ? kl_fset_json_copy(live) : kl_json_object();
    if (merged == NULL) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto out;
    }
    m.src = kl_json_take(kl_json_get(merged, "metadata"), "managedFields");
    load(&m, false);
    if ((rc = kl_patch_apply(&merged, config, op->type, err)) < 0)
        goto out;

    kl_fset_t *set = fieldset(&m.w, config, op->type);
    entry_t *self = find_entry(&m, op->manager, true, op->subresource, op->api_version);
    kl_fset_t *last = self ? decode(&m, self) : NULL;
    if (self == NULL && (self = add_entry(&m)) == NULL) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto out;
    }
    self->manager = op->manager;
    self->apply = true;
    self->api_version = op->api_version;
    self->sub = op->subresource ? op->subresource : "";
    self->set = set;
    self->decoded = self->dirty = true;
    self->time = op->now;
    if (!kl_fset_empty(last) && (rc = prune(&m, merged, last)) < 0) {
        rc = kl_err(err, rc, "out of memory");
        goto out;
    }

    kl_fset_t *added, *modified, *removed;
    compare(&m.w, live, merged, op->type, &added, &modified, &removed);
    kl_fset_t *changed = kl_fset_union(&m.a, added, modified);
    conflict_t *cs = m.n ? kl_arena_alloc(&m.a, m.n * sizeof(conflict_t)) : NULL;
    size_t nc = 0;
    for (size_t i = 0; cs != NULL && i < m.n; i++) {
        entry_t *e = &m.e[i];
        if (e == self || !owns_any(&m, e, changed))
            continue;
        kl_fset_t *c = kl_fset_intersection(&m.a, decode(&m, e), changed);
        if (c != NULL)
            cs[nc++] = (conflict_t){e, c, NULL};
    }
    if (kl_arena_failed(&m.a)) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto out;
    }
    if (nc > 0 && !force && strcmp(op->manager, "kubectl") == 0 && live != NULL) {
        /* Upgrading from client-side apply: what its annotation vouches for is not a conflict. */
        kl_fset_t *allowed = allowed_by_last_applied(&m, live);
        size_t left = 0;
        for (size_t i = 0; i < nc; i++) {
            kl_fset_t *d = kl_fset_difference(&m.a, cs[i].set, allowed);
            if (d != NULL)
                cs[left++] = (conflict_t){cs[i].e, d, NULL};
        }
        if (left == 0)
            force = true;
        else
            nc = left;
    }
    if (nc > 0 && !force) {
        if (report_conflicts(&m, cs, nc, conflicts) < 0) {
            kl_mf_conflicts_cleanup(conflicts);
            rc = kl_err(err, KL_ENOMEM, "out of memory");
        } else {
            rc = kl_err(err, KL_ECONFLICT, "%s", conflicts->message);
        }
        goto out;
    }
    for (size_t i = 0; i < m.n; i++) {
        if (&m.e[i] == self)
            continue;
        disown(&m, &m.e[i], changed);
        disown(&m, &m.e[i], removed);
    }
    if (strcmp(op->manager, "kubectl") == 0 && op->subresource == NULL && live != NULL &&
        (rc = update_last_applied(&m, live, config, merged)) < 0) {
        rc = kl_err(err, rc, "out of memory");
        goto out;
    }
    if (kl_arena_failed(&m.a)) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = store(&m, merged)) < 0)
        goto out;
    *out = merged;
    merged = NULL;
out:
    kl_json_free(merged);
    mf_cleanup(&m);
    return rc;
}

/* ---- Helpers ---------------------------------------------------------------------------- */

static bool entry_equal_but_time(const kl_json_t *a, const kl_json_t *b)
{
    if (!kl_json_is(a, KL_TOBJECT) || !kl_json_is(b, KL_TOBJECT))
        return kl_json_equal(a, b);
    uint32_t na = 0, nb = 0;
    for (uint32_t i = 0; i < a->len; i++) {
        const kl_jmember_t *m = &a->u.members[i];
        if (strcmp(m->key, "time") == 0)
            continue;
        na++;
        if (!kl_json_equal(m->val, kl_json_getn(b, m->key, m->keylen)))
            return false;
    }
    for (uint32_t i = 0; i < b->len; i++)
        nb += strcmp(b->u.members[i].key, "time") != 0;
    return na == nb;
}

void kl_mf_keep_times(const kl_json_t *old, kl_json_t *next)
{
    const kl_json_t *om = kl_json_path(old, "metadata", "managedFields", NULL);
    kl_json_t *md = kl_json_get(next, "metadata");
    kl_json_t *nm = kl_json_get(md, "managedFields");
    if (!kl_json_is(om, KL_TARRAY) || !kl_json_is(nm, KL_TARRAY) || om->len != nm->len ||
        kl_fset_json_same(om, nm))
        return;
    for (uint32_t i = 0; i < om->len; i++)
        if (!entry_equal_but_time(om->u.items[i], nm->u.items[i]))
            return;
    kl_json_t *copy = kl_fset_json_copy(om);
    if (copy == NULL)
        return;
    kl_json_t *mine = kl_json_take(md, "managedFields");
    if (kl_json_set(md, "managedFields", copy) == 0 && kl_json_equal(old, next)) {
        kl_json_free(mine);
        return;
    }
    /* Something else changed too: the new times stand. */
    if (kl_json_set(md, "managedFields", mine) < 0)
        return;
}

const char *kl_mf_default_manager(const char *ua, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; ua != NULL && i < len && ua[i] != '/'; i++) {
        unsigned char ch = (unsigned char)ua[i];
        if (ch < 0x20 || ch == 0x7f)
            continue;
        if (n + 1 >= cap || n >= 128)
            break;
        out[n++] = (char)ch;
    }
    if (cap > 0)
        out[n < cap ? n : cap - 1] = '\0';
    return out;
}
