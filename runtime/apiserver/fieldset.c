/* Field path sets (tries) in an arena, their operations, and the FieldsV1 encoding. */
#include "apiserver/fieldset.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- Arena ------------------------------------------------------------------------------ */

struct kl_arena_chunk {
    kl_arena_chunk_t *next;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

#define ARENA_CHUNK 32768u
#define ARENA_ALIGN 16u
#define ARENA_SPARES 2

/* Every write computes sets, most of them bigger than the inline buffer: each thread keeps a
 * few standard chunks for the next arena instead of returning them to malloc. */
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

typedef struct spares {
    kl_arena_chunk_t *c[ARENA_SPARES];
    int n;
} spares_t;

static void spares_free(void *p)
{
    spares_t *s = p;
    for (int i = 0; i < s->n; i++)
        free(s->c[i]);
    free(s);
}

static void spares_init(void)
{
    if (pthread_key_create(&spare_key, spares_free) != 0)
        spare_key = 0;
}

static spares_t *spares(void)
{
    pthread_once(&spare_once, spares_init);
    spares_t *s = pthread_getspecific(spare_key);
    if (s == NULL && (s = calloc(1, sizeof(*s))) != NULL &&
        pthread_setspecific(spare_key, s) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}

void kl_arena_init(kl_arena_t *a)
{
    a->chunks = NULL;
    a->next = a->first;
    a->end = a->first + sizeof(a->first);
    a->failed = false;
}

void kl_arena_cleanup(kl_arena_t *a)
{
    kl_arena_chunk_t *c = a->chunks;
    spares_t *sp = c != NULL ? spares() : NULL;
    while (c != NULL) {
        kl_arena_chunk_t *next = c->next;
        if (sp != NULL && c->cap == ARENA_CHUNK && sp->n < ARENA_SPARES)
            sp->c[sp->n++] = c;
        else
            free(c);
        c = next;
    }
    kl_arena_init(a);
}

void *kl_arena_alloc(kl_arena_t *a, size_t n)
{
    if (a->failed || n > SIZE_MAX / 2)
        goto fail;
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if ((size_t)(a->end - a->next) < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        kl_arena_chunk_t *c = NULL;
        spares_t *sp = cap == ARENA_CHUNK ? spares() : NULL;
        if (sp != NULL && sp->n > 0)
            c = sp->c[--sp->n];
        else
            c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            goto fail;
        c->cap = cap;
        c->next = a->chunks;
        a->chunks = c;
        a->next = c->data;
        a->end = c->data + cap;
    }
    void *p = a->next;
    a->next += n;
    return p;
fail:
    a->failed = true;
    return NULL;
}

char *kl_arena_strndup(kl_arena_t *a, const char *s, size_t n)
{
    char *p = kl_arena_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* ---- Building --------------------------------------------------------------------------- */

kl_fset_t *kl_fset_new(kl_arena_t *a)
{
    kl_fset_t *s = kl_arena_alloc(a, sizeof(*s));
    if (s != NULL)
        *s = (kl_fset_t){0};
    return s;
}

static kl_fkid_t *alloc_kids(kl_arena_t *a, uint32_t n)
{
    return n ? kl_arena_alloc(a, (size_t)n * sizeof(kl_fkid_t)) : NULL;
}

static bool push_kid(kl_arena_t *a, kl_fset_t *parent, kl_fkid_t kid)
{
    if (parent->n == parent->cap) {
        uint32_t cap = parent->cap ? parent->cap * 2 : 4;
        kl_fkid_t *k = alloc_kids(a, cap);
        if (k == NULL)
            return false;
        if (parent->n)
            memcpy(k, parent->kids, parent->n * sizeof(*k));
        parent->kids = k;
        parent->cap = cap;
    }
    parent->kids[parent->n++] = kid;
    return true;
}

kl_fset_t *kl_fset_kid(kl_arena_t *a, kl_fset_t *parent, const char *pe, size_t len)
{
    if (parent == NULL || len > UINT32_MAX)
        return NULL;
    kl_fset_t *s = kl_fset_new(a);
    if (s == NULL || !push_kid(a, parent, (kl_fkid_t){pe, (uint32_t)len, s}))
        return NULL;
    return s;
}

/* Byte order of two elements. They are short and usually differ within a few bytes (after
 * the "f:" every field shares), so a plain loop beats a call to memcmp. */
static int pe_cmp(const char *a, uint32_t al, const char *b, uint32_t bl)
{
    uint32_t n = al < bl ? al : bl;
    for (uint32_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
    return al < bl ? -1 : al > bl;
}

static int kid_cmp(const void *x, const void *y)
{
    const kl_fkid_t *a = x, *b = y;
    return pe_cmp(a->pe, a->len, b->pe, b->len);
}

kl_fset_t *kl_fset_seal(kl_arena_t *a, kl_fset_t *s)
{
    if (s == NULL)
        return NULL;
    if (s->n > 16) {
        qsort(s->kids, s->n, sizeof(kl_fkid_t), kid_cmp);
    } else {
        for (uint32_t i = 1; i < s->n; i++) {
            kl_fkid_t k = s->kids[i];
            uint32_t j = i;
            for (; j > 0 && kid_cmp(&s->kids[j - 1], &k) > 0; j--)
                s->kids[j] = s->kids[j - 1];
            s->kids[j] = k;
        }
    }
    uint32_t w = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (w > 0 && kid_cmp(&s->kids[w - 1], &s->kids[i]) == 0) {
            /* A repeated element: its subtree joins the first one's, sealed below. */
            kl_fset_t *dst = s->kids[w - 1].set, *src = s->kids[i].set;
            dst->member |= src->member;
            for (uint32_t k = 0; k < src->n; k++)
                if (!push_kid(a, dst, src->kids[k]))
                    return NULL;
            continue;
        }
        s->kids[w++] = s->kids[i];
    }
    s->n = w;
    w = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        kl_fset_t *c = kl_fset_seal(a, s->kids[i].set);
        if (c != NULL)
            s->kids[w++] = (kl_fkid_t){s->kids[i].pe, s->kids[i].len, c};
    }
    s->n = w;
    return kl_fset_empty(s) ? NULL : s;
}

const kl_fset_t *kl_fset_get(const kl_fset_t *s, const char *pe, size_t len)
{
    if (s == NULL)
        return NULL;
    uint32_t lo = 0, hi = s->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = pe_cmp(s->kids[mid].pe, s->kids[mid].len, pe, (uint32_t)len);
        if (c == 0)
            return s->kids[mid].set;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t kl_fset_count(const kl_fset_t *s)
{
    if (s == NULL)
        return 0;
    size_t n = s->member;
    for (uint32_t i = 0; i < s->n; i++)
        n += kl_fset_count(s->kids[i].set);
    return n;
}

/* ---- Operations ------------------------------------------------------------------------- */

static kl_fset_t *node_of(kl_arena_t *a, bool member, uint32_t cap)
{
    kl_fset_t *s = kl_fset_new(a);
    if (s == NULL)
        return NULL;
    s->member = member;
    s->kids = alloc_kids(a, cap);
    s->cap = s->kids ? cap : 0;
    return s;
}

kl_fset_t *kl_fset_union(kl_arena_t *a, kl_fset_t *x, kl_fset_t *y)
{
    if (kl_fset_empty(x))
        return kl_fset_empty(y) ? NULL : y;
    if (kl_fset_empty(y) || x == y)
        return x;
    kl_fset_t *r = node_of(a, x->member || y->member, x->n + y->n);
    if (r == NULL)
        return x;
    uint32_t i = 0, j = 0;
    while (i < x->n || j < y->n) {
        int c = i == x->n ? 1 : j == y->n ? -1 : kid_cmp(&x->kids[i], &y->kids[j]);
        if (c < 0) {
            r->kids[r->n++] = x->kids[i++];
        } else if (c > 0) {
            r->kids[r->n++] = y->kids[j++];
        } else {
            kl_fset_t *u = kl_fset_union(a, x->kids[i].set, y->kids[j].set);
            r->kids[r->n++] = (kl_fkid_t){x->kids[i].pe, x->kids[i].len, u};
            i++, j++;
        }
    }
    return r;
}

kl_fset_t *kl_fset_difference(kl_arena_t *a, kl_fset_t *x, const kl_fset_t *y)
{
    if (kl_fset_empty(x))
        return NULL;
    if (kl_fset_empty(y))
        return x;
    bool member = x->member && !y->member;
    bool changed = member != x->member;
    kl_fset_t *r = NULL;
    uint32_t j = 0;
    for (uint32_t i = 0; i < x->n; i++) {
        kl_fset_t *d = x->kids[i].set;
        while (j < y->n && kid_cmp(&y->kids[j], &x->kids[i]) < 0)
            j++;
        if (j < y->n && kid_cmp(&y->kids[j], &x->kids[i]) == 0)
            d = kl_fset_difference(a, x->kids[i].set, y->kids[j].set);
        if (d != x->kids[i].set && r == NULL) {
            /* First change: copy the kids kept so far. */
            r = node_of(a, member, x->n);
            if (r == NULL)
                return x;
            memcpy(r->kids, x->kids, i * sizeof(kl_fkid_t));
            r->n = i;
        }
        if (r != NULL && d != NULL)
            r->kids[r->n++] = (kl_fkid_t){x->kids[i].pe, x->kids[i].len, d};
    }
    if (r == NULL) {
        if (!changed)
            return x;
        r = node_of(a, member, 0);
        if (r == NULL)
            return x;
        r->kids = x->kids;
        r->n = r->cap = x->n;
    }
    return kl_fset_empty(r) ? NULL : r;
}

kl_fset_t *kl_fset_intersection(kl_arena_t *a, const kl_fset_t *x, const kl_fset_t *y)
{
    if (kl_fset_empty(x) || kl_fset_empty(y))
        return NULL;
    kl_fset_t *r = node_of(a, x->member && y->member, x->n < y->n ? x->n : y->n);
    if (r == NULL)
        return NULL;
    uint32_t i = 0, j = 0;
    while (i < x->n && j < y->n) {
        int c = kid_cmp(&x->kids[i], &y->kids[j]);
        if (c < 0) {
            i++;
        } else if (c > 0) {
            j++;
        } else {
            kl_fset_t *s = kl_fset_intersection(a, x->kids[i].set, y->kids[j].set);
            if (s != NULL)
                r->kids[r->n++] = (kl_fkid_t){x->kids[i].pe, x->kids[i].len, s};
            i++, j++;
        }
    }
    return kl_fset_empty(r) ? NULL : r;
}

bool kl_fset_intersects(const kl_fset_t *x, const kl_fset_t *y)
{
    if (kl_fset_empty(x) || kl_fset_empty(y))
        return false;
    if (x->member && y->member)
        return true;
    uint32_t i = 0, j = 0;
    while (i < x->n && j < y->n) {
        int c = kid_cmp(&x->kids[i], &y->kids[j]);
        if (c < 0) {
            i++;
        } else if (c > 0) {
            j++;
        } else {
            if (kl_fset_intersects(x->kids[i].set, y->kids[j].set))
                return true;
            i++, j++;
        }
    }
    return false;
}

/* ---- FieldsV1 ----------------------------------------------------------------------------- */

/* An object with room for n members, filled in order by put() without looking for duplicates
 * (the trie has none). kl_json_free() releases it like any object. */
static kl_json_t *obj_with(uint32_t n)
{
    kl_json_t *o = kl_json_object();
    if (o != NULL && n > 0) {
        o->u.members = malloc((size_t)n * sizeof(kl_jmember_t));
        if (o->u.members == NULL) {
            kl_json_free(o);
            return NULL;
        }
        o->cap = n;
    }
    return o;
}

static int put(kl_json_t *o, const char *key, uint32_t len, kl_json_t *v)
{
    if (v == NULL)
        return KL_ENOMEM;
    char *k = malloc((size_t)len + 1);
    if (k == NULL) {
        kl_json_free(v);
        return KL_ENOMEM;
    }
    memcpy(k, key, len);
    k[len] = '\0';
    o->u.members[o->len++] = (kl_jmember_t){k, len, v};
    return 0;
}

kl_json_t *kl_fset_json_copy(const kl_json_t *j)
{
    if (j == NULL)
        return NULL;
    if (j->type == KL_TOBJECT) {
        kl_json_t *o = obj_with(j->len);
        for (uint32_t i = 0; o != NULL && i < j->len; i++) {
            const kl_jmember_t *m = &j->u.members[i];
            if (put(o, m->key, m->keylen, kl_fset_json_copy(m->val)) < 0) {
                kl_json_free(o);
                return NULL;
            }
        }
        return o;
    }
    if (j->type == KL_TARRAY) {
        kl_json_t *a = kl_json_array();
        if (a != NULL && j->len > 0) {
            a->u.items = malloc((size_t)j->len * sizeof(kl_json_t *));
            if (a->u.items == NULL) {
                kl_json_free(a);
                return NULL;
            }
            a->cap = j->len;
            for (uint32_t i = 0; i < j->len; i++) {
                kl_json_t *c = kl_fset_json_copy(j->u.items[i]);
                if (c == NULL) {
                    kl_json_free(a);
                    return NULL;
                }
                a->u.items[a->len++] = c;
            }
        }
        return a;
    }
    return kl_json_dup(j);
}

bool kl_fset_json_same(const kl_json_t *a, const kl_json_t *b)
{
    if (a == NULL || b == NULL || a->type != b->type || a->len != b->len)
        return a == b;
    switch (a->type) {
    case KL_TOBJECT:
        for (uint32_t i = 0; i < a->len; i++) {
            const kl_jmember_t *x = &a->u.members[i], *y = &b->u.members[i];
            if (x->keylen != y->keylen || memcmp(x->key, y->key, x->keylen) != 0 ||
                !kl_fset_json_same(x->val, y->val))
                return false;
        }
        return true;
    case KL_TARRAY:
        for (uint32_t i = 0; i < a->len; i++)
            if (!kl_fset_json_same(a->u.items[i], b->u.items[i]))
                return false;
        return true;
    default:
        return kl_json_equal(a, b);
    }
}

static kl_json_t *node_json(const kl_fset_t *s)
{
    bool dot = s->member && s->n > 0;
    kl_json_t *o = obj_with(s->n + dot);
    if (o == NULL)
        return NULL;
    if (dot && put(o, ".", 1, kl_json_object()) < 0)
        goto fail;
    for (uint32_t i = 0; i < s->n; i++)
        if (put(o, s->kids[i].pe, s->kids[i].len, node_json(s->kids[i].set)) < 0)
            goto fail;
    return o;
fail:
    kl_json_free(o);
    return NULL;
}

kl_json_t *kl_fset_to_json(const kl_fset_t *s)
{
    if (s == NULL)
        return kl_json_object();
    kl_fset_t root = *s;
    root.member = false;
    return node_json(&root);
}

static int encode_node(const kl_fset_t *s, kl_buf_t *out)
{
    int rc = kl_buf_putc(out, '{');
    const char *sep = "";
    if (rc == 0 && s->member && s->n > 0) {
        rc = kl_buf_puts(out, "\".\":{}");
        sep = ",";
    }
    for (uint32_t i = 0; i < s->n && rc == 0; i++) {
        rc = kl_buf_puts(out, sep);
        if (rc == 0)
            rc = kl_json_quote(out, s->kids[i].pe, s->kids[i].len);
        if (rc == 0)
            rc = kl_buf_putc(out, ':');
        if (rc == 0)
            rc = encode_node(s->kids[i].set, out);
        sep = ",";
    }
    return rc == 0 ? kl_buf_putc(out, '}') : rc;
}

int kl_fset_encode(const kl_fset_t *s, kl_buf_t *out)
{
    if (s == NULL)
        return kl_buf_puts(out, "{}");
    kl_fset_t root = *s;
    root.member = false;
    return encode_node(&root, out);
}

static int member_cmp(const void *x, const void *y)
{
    const kl_jmember_t *a = x, *b = y;
    return pe_cmp(a->key, a->keylen, b->key, b->keylen);
}

/* The canonical spelling of a k:, v: or i: element (a new arena string), or pe itself. */
static const char *canonical_pe(kl_arena_t *a, const char *pe, uint32_t len, uint32_t *outlen,
                                kl_errinfo_t *err, int *rc)
{
    *outlen = len;
    if (pe[0] == 'f')
        return pe;
    kl_json_t *v = NULL;
    kl_errinfo_t perr;
    if (kl_json_parse(pe + 2, len - 2, NULL, &v, &perr) < 0) {
        *rc = kl_err(err, KL_EINVAL, "invalid path element %.*s: %s", (int)(len > 100 ? 100 : len),
                     pe, perr.msg);
        return NULL;
    }
    if ((pe[0] == 'k' && v->type != KL_TOBJECT) || (pe[0] == 'i' && v->type != KL_TINT)) {
        kl_json_free(v);
        *rc = kl_err(err, KL_EINVAL, "invalid path element %.*s", (int)(len > 100 ? 100 : len), pe);
        return NULL;
    }
    if (v->type == KL_TOBJECT && v->len > 1)
        qsort(v->u.members, v->len, sizeof(kl_jmember_t), member_cmp);
    kl_buf_t b;
    kl_buf_init(&b, 0);
    const char *res = NULL;
    if (kl_buf_append(&b, pe, 2) == 0 && kl_json_encode(v, &b) == 0) {
        if (b.len == len && memcmp(b.data, pe, len) == 0) {
            res = pe;
        } else {
            res = kl_arena_strndup(a, b.data, b.len);
            *outlen = (uint32_t)b.len;
        }
    }
    kl_buf_cleanup(&b);
    kl_json_free(v);
    if (res == NULL)
        *rc = kl_err(err, KL_ENOMEM, "out of memory");
    return res;
}

static int decode_node(kl_arena_t *a, const kl_json_t *j, kl_fset_t *node, bool canonical,
                       unsigned depth, kl_errinfo_t *err)
{
    if (depth > KL_LIMIT_MAX_DEPTH)
        return kl_err(err, KL_EINVAL, "FieldsV1 nested too deeply");
    for (uint32_t i = 0; i < j->len; i++) {
        const kl_jmember_t *m = &j->u.members[i];
        if (m->keylen == 1 && m->key[0] == '.') {
            node->member = true;
            continue;
        }
        if (m->keylen < 2 || m->key[1] != ':' || strchr("fkvi", m->key[0]) == NULL)
            return kl_err(err, KL_EINVAL, "invalid path element \"%.*s\" in FieldsV1",
                          (int)(m->keylen > 100 ? 100 : m->keylen), m->key);
        if (m->val->type != KL_TOBJECT)
            return kl_err(err, KL_EINVAL, "FieldsV1 element \"%.*s\" is not an object",
                          (int)(m->keylen > 100 ? 100 : m->keylen), m->key);
        uint32_t len = m->keylen;
        const char *pe = kl_arena_strndup(a, m->key, len);
        int rc = 0;
        if (pe != NULL && canonical)
            pe = canonical_pe(a, pe, len, &len, err, &rc);
        if (rc < 0)
            return rc;
        kl_fset_t *kid = pe ? kl_fset_kid(a, node, pe, len) : NULL;
        if (kid == NULL)
            return kl_err(err, KL_ENOMEM, "out of memory");
        if (m->val->len == 0)
            kid->member = true;
        else if ((rc = decode_node(a, m->val, kid, canonical, depth + 1, err)) < 0)
            return rc;
    }
    return 0;
}

int kl_fset_from_json(kl_arena_t *a, const kl_json_t *j, bool canonical, kl_fset_t **out,
                      kl_errinfo_t *err)
{
    *out = NULL;
    if (!kl_json_is(j, KL_TOBJECT))
        return kl_err(err, KL_EINVAL, "FieldsV1 must be an object");
    kl_fset_t *root = kl_fset_new(a);
    if (root == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    int rc = decode_node(a, j, root, canonical, 0, err);
    if (rc < 0)
        return rc;
    root->member = false;
    *out = kl_fset_seal(a, root);
    if (kl_arena_failed(a))
        return kl_err(err, KL_ENOMEM, "out of memory");
    return 0;
}

static bool json_is_member(const kl_json_t *j)
{
    return j->len == 0 || kl_json_getn(j, ".", 1) != NULL;
}

static bool json_intersects(const kl_json_t *j, const kl_fset_t *s, bool root)
{
    if (!kl_json_is(j, KL_TOBJECT) || kl_fset_empty(s))
        return false;
    if (!root && s->member && json_is_member(j))
        return true;
    for (uint32_t i = 0; i < s->n; i++) {
        const kl_json_t *c = kl_json_getn(j, s->kids[i].pe, s->kids[i].len);
        if (c != NULL && json_intersects(c, s->kids[i].set, false))
            return true;
    }
    return false;
}

bool kl_fset_json_intersects(const kl_json_t *j, const kl_fset_t *s)
{
    return json_intersects(j, s, true);
}

/* ---- Paths ------------------------------------------------------------------------------ */

typedef struct walker {
    int (*fn)(void *ud, const kl_fpath_t *path);
    void *ud;
    const kl_fkid_t *stack[KL_LIMIT_MAX_DEPTH + 2];
} walker_t;

/* Upstream's order: at each level the member elements first, then the subtrees. */
static int walk(walker_t *w, const kl_fset_t *s, size_t depth)
{
    if (depth > KL_LIMIT_MAX_DEPTH)
        return 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (!s->kids[i].set->member)
            continue;
        w->stack[depth] = &s->kids[i];
        kl_fpath_t p = {w->stack, depth + 1};
        int rc = w->fn(w->ud, &p);
        if (rc != 0)
            return rc;
    }
    for (uint32_t i = 0; i < s->n; i++) {
        if (s->kids[i].set->n == 0)
            continue;
        w->stack[depth] = &s->kids[i];
        int rc = walk(w, s->kids[i].set, depth + 1);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int kl_fset_walk(const kl_fset_t *s, int (*fn)(void *ud, const kl_fpath_t *path), void *ud)
{
    if (s == NULL)
        return 0;
    walker_t *w = malloc(sizeof(*w));
    if (w == NULL)
        return KL_ENOMEM;
    w->fn = fn;
    w->ud = ud;
    int rc = walk(w, s, 0);
    free(w);
    return rc;
}

/* A value as Go's value.ToString prints it: strings quoted, numbers and booleans bare. */
static int value_string(const kl_json_t *v, kl_buf_t *out)
{
    switch (v->type) {
    case KL_TSTRING:
        return kl_json_quote(out, v->u.s, v->len);
    case KL_TNULL:
        return kl_buf_puts(out, "null");
    case KL_TOBJECT: {
        int rc = kl_buf_putc(out, '{');
        for (uint32_t i = 0; i < v->len && rc == 0; i++) {
            if (i)
                rc = kl_buf_putc(out, ',');
            if (rc == 0)
                rc = kl_buf_printf(out, "%s=", v->u.members[i].key);
            if (rc == 0)
                rc = value_string(v->u.members[i].val, out);
        }
        return rc == 0 ? kl_buf_putc(out, '}') : rc;
    }
    case KL_TARRAY: {
        int rc = kl_buf_putc(out, '[');
        for (uint32_t i = 0; i < v->len && rc == 0; i++) {
            if (i)
                rc = kl_buf_putc(out, ',');
            if (rc == 0)
                rc = value_string(v->u.items[i], out);
        }
        return rc == 0 ? kl_buf_putc(out, ']') : rc;
    }
    default:
        return kl_json_encode(v, out);
    }
}

int kl_fpath_format(const kl_fpath_t *p, kl_buf_t *out)
{
    int rc = 0;
    for (size_t i = 0; i < p->n && rc == 0; i++) {
        const kl_fkid_t *e = p->elems[i];
        if (e->pe[0] == 'f') {
            rc = kl_buf_putc(out, '.');
            if (rc == 0)
                rc = kl_buf_append(out, e->pe + 2, e->len - 2);
            continue;
        }
        kl_json_t *v = NULL;
        if (kl_json_parse(e->pe + 2, e->len - 2, NULL, &v, NULL) < 0) {
            rc = kl_buf_append(out, e->pe, e->len);
            continue;
        }
        rc = kl_buf_putc(out, '[');
        if (rc == 0 && e->pe[0] == 'k' && v->type == KL_TOBJECT) {
            for (uint32_t k = 0; k < v->len && rc == 0; k++) {
                if (k)
                    rc = kl_buf_putc(out, ',');
                if (rc == 0)
                    rc = kl_buf_printf(out, "%s=", v->u.members[k].key);
                if (rc == 0)
                    rc = value_string(v->u.members[k].val, out);
            }
        } else if (rc == 0 && e->pe[0] == 'v') {
            rc = kl_buf_putc(out, '=');
            if (rc == 0)
                rc = value_string(v, out);
        } else if (rc == 0) {
            rc = value_string(v, out);
        }
        if (rc == 0)
            rc = kl_buf_putc(out, ']');
        kl_json_free(v);
    }
    return rc;
}
