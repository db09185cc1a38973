/* Helpers shared by the patch implementations: Go-style value printing for error messages,
 * bounded copies, member editing, a position index over arrays, and schema lookups. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/patch_int.h"

/* ---- Go-style %v printing ---------------------------------------------------------------- */

static void fmt_put(kl_patch_fmt_t *f, const char *s, size_t n)
{
    if (f->len >= f->max)
        return;
    if (n > f->max - f->len)
        n = f->max - f->len;
    memcpy(f->buf + f->len, s, n);
    f->len += n;
}

static void fmt_puts(kl_patch_fmt_t *f, const char *s)
{
    fmt_put(f, s, strlen(s));
}

/* strconv.FormatFloat(d, 'g', -1, 64) as fmt's %v uses it: the shortest digits that round-trip,
 * in exponent form when the exponent is < -4 or >= 6 (1e+06, 123456). */
static void go_float(double d, char *out, size_t size)
{
    if (isnan(d)) {
        snprintf(out, size, "NaN");
        return;
    }
    if (isinf(d)) {
        snprintf(out, size, d > 0 ? "+Inf" : "-Inf");
        return;
    }
    char tmp[64];
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
    const char *e = strchr(tmp, 'e');
    int exp = e ? atoi(e + 1) : 0;
    if (exp < -4 || exp >= 6) {
        snprintf(out, size, "%s", tmp);
        return;
    }
    int decimals = prec - 1 - exp;
    snprintf(out, size, "%.*f", decimals > 0 ? decimals : 0, d);
}

static int cmp_member(const void *a, const void *b)
{
    const kl_jmember_t *x = *(const kl_jmember_t *const *)a;
    const kl_jmember_t *y = *(const kl_jmember_t *const *)b;
    size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
    int c = memcmp(x->key, y->key, n);
    if (c != 0)
        return c;
    return x->keylen < y->keylen ? -1 : x->keylen > y->keylen;
}

void kl__patch_fmt_value(kl_patch_fmt_t *f, const kl_json_t *v, unsigned depth)
{
    char num[64];
    if (f->len >= f->max)
        return;
    if (v == NULL || v->type == KL_TNULL) {
        fmt_puts(f, "<nil>");
        return;
    }
    if (depth > 32) {
        fmt_puts(f, "...");
        return;
    }
    switch (v->type) {
    case KL_TTRUE:
        fmt_puts(f, "true");
        return;
    case KL_TFALSE:
        fmt_puts(f, "false");
        return;
    case KL_TINT:
        snprintf(num, sizeof(num), "%lld", (long long)v->u.i);
        fmt_puts(f, num);
        return;
    case KL_TDOUBLE:
        go_float(v->u.d, num, sizeof(num));
        fmt_puts(f, num);
        return;
    case KL_TSTRING:
        fmt_put(f, v->u.s, v->len);
        return;
    case KL_TARRAY:
        fmt_puts(f, "[");
        for (uint32_t i = 0; i < v->len && f->len < f->max; i++) {
            if (i)
                fmt_puts(f, " ");
            kl__patch_fmt_value(f, v->u.items[i], depth + 1);
        }
        fmt_puts(f, "]");
        return;
    case KL_TOBJECT: {
        /* Go prints maps with sorted keys; sort pointers to the members. */
        const kl_jmember_t **order = v->len ? malloc(v->len * sizeof(*order)) : NULL;
        fmt_puts(f, "map[");
        if (v->len && order == NULL) {
            fmt_puts(f, "...]");
            return;
        }
        for (uint32_t i = 0; i < v->len; i++)
            order[i] = &v->u.members[i];
        if (v->len > 1)
            qsort(order, v->len, sizeof(*order), cmp_member);
        for (uint32_t i = 0; i < v->len && f->len < f->max; i++) {
            if (i)
                fmt_puts(f, " ");
            fmt_put(f, order[i]->key, order[i]->keylen);
            fmt_puts(f, ":");
            kl__patch_fmt_value(f, order[i]->val, depth + 1);
        }
        free(order);
        fmt_puts(f, "]");
        return;
    }
    default:
        return;
    }
}

const char *kl__patch_fmt(char *buf, size_t size, const kl_json_t *v)
{
    kl_patch_fmt_t f = {buf, 0, size ? size - 1 : 0};
    if (size == 0)
        return "";
    kl__patch_fmt_value(&f, v, 0);
    buf[f.len] = '\0';
    return buf;
}

const char *kl__patch_go_type(const kl_json_t *v)
{
    if (v == NULL)
        return "<nil>";
    switch (v->type) {
    case KL_TNULL:
        return "<nil>";
    case KL_TTRUE:
    case KL_TFALSE:
        return "bool";
    case KL_TINT:
        return "int64";
    case KL_TDOUBLE:
        return "float64";
    case KL_TSTRING:
        return "string";
    case KL_TARRAY:
        return "[]interface {}";
    case KL_TOBJECT:
        return "map[string]interface {}";
    }
    return "<nil>";
}

/* ---- Bounded copies and measurements ------------------------------------------------------ */

static kl_json_t *dup_rec(const kl_json_t *v, unsigned depth, int *rc)
{
    if (v->type != KL_TARRAY && v->type != KL_TOBJECT) {
        kl_json_t *c = kl_json_dup(v);
        if (c == NULL)
            *rc = KL_ENOMEM;
        return c;
    }
    if (depth >= KL_PATCH_MAX_DEPTH) {
        *rc = KL_ETOODEEP;
        return NULL;
    }
    kl_json_t *c = v->type == KL_TARRAY ? kl_json_array() : kl_json_object();
    if (c == NULL) {
        *rc = KL_ENOMEM;
        return NULL;
    }
    if (v->len) {
        size_t elem = v->type == KL_TARRAY ? sizeof(kl_json_t *) : sizeof(kl_jmember_t);
        void *mem = malloc(v->len * elem);
        if (mem == NULL) {
            free(c);
            *rc = KL_ENOMEM;
            return NULL;
        }
        if (v->type == KL_TARRAY)
            c->u.items = mem;
        else
            c->u.members = mem;
        c->cap = v->len;
    }
    for (uint32_t i = 0; i < v->len; i++) {
        if (v->type == KL_TARRAY) {
            kl_json_t *item = dup_rec(v->u.items[i], depth + 1, rc);
            if (item == NULL)
                goto fail;
            c->u.items[c->len++] = item;
        } else {
            const kl_jmember_t *m = &v->u.members[i];
            char *key = malloc((size_t)m->keylen + 1);
            if (key == NULL) {
                *rc = KL_ENOMEM;
                goto fail;
            }
            kl_json_t *val = dup_rec(m->val, depth + 1, rc);
            if (val == NULL) {
                free(key);
                goto fail;
            }
            memcpy(key, m->key, (size_t)m->keylen + 1);
            c->u.members[c->len++] = (kl_jmember_t){key, m->keylen, val};
        }
    }
    return c;
fail:
    kl_json_free(c);
    return NULL;
}

kl_json_t *kl__patch_dup(const kl_json_t *v, int *rc)
{
    int dummy = 0;
    if (rc == NULL)
        rc = &dummy;
    if (v == NULL)
        return NULL;
    return dup_rec(v, 0, rc);
}

unsigned kl__patch_depth(const kl_json_t *v, unsigned limit)
{
    if (v == NULL || (v->type != KL_TARRAY && v->type != KL_TOBJECT))
        return 0;
    if (limit == 0)
        return 1;
    unsigned best = 0;
    for (uint32_t i = 0; i < v->len; i++) {
        const kl_json_t *c = v->type == KL_TARRAY ? v->u.items[i] : v->u.members[i].val;
        unsigned d = kl__patch_depth(c, limit - 1);
        if (d > best)
            best = d;
        if (best >= limit)
            break;
    }
    return best + 1;
}

static size_t nodes_rec(const kl_json_t *v, size_t limit, unsigned depth)
{
    size_t n = 1;
    if (v->type != KL_TARRAY && v->type != KL_TOBJECT)
        return n;
    if (depth > KL_PATCH_MAX_DEPTH)
        return limit;
    for (uint32_t i = 0; i < v->len && n < limit; i++) {
        const kl_json_t *c = v->type == KL_TARRAY ? v->u.items[i] : v->u.members[i].val;
        n += nodes_rec(c, limit - n, depth + 1);
    }
    return n < limit ? n : limit;
}

size_t kl__patch_nodes(const kl_json_t *v, size_t limit)
{
    return v == NULL || limit == 0 ? 0 : nodes_rec(v, limit, 0);
}

/* ---- Members -------------------------------------------------------------------------------- */

int64_t kl__patch_member_find(const kl_json_t *obj, const char *key, size_t keylen)
{
    if (obj == NULL || obj->type != KL_TOBJECT)
        return -1;
    for (uint32_t i = 0; i < obj->len; i++) {
        const kl_jmember_t *m = &obj->u.members[i];
        if (m->keylen == keylen && memcmp(m->key, key, keylen) == 0)
            return i;
    }
    return -1;
}

void kl__patch_member_set(kl_json_t *obj, uint32_t i, kl_json_t *val)
{
    if (val == NULL) {
        kl__patch_member_remove(obj, i);
        return;
    }
    kl_json_free(obj->u.members[i].val);
    obj->u.members[i].val = val;
}

void kl__patch_member_remove(kl_json_t *obj, uint32_t i)
{
    free(obj->u.members[i].key);
    kl_json_free(obj->u.members[i].val);
    memmove(&obj->u.members[i], &obj->u.members[i + 1],
            (obj->len - (size_t)i - 1) * sizeof(kl_jmember_t));
    obj->len--;
}

/* ---- Position index ---------------------------------------------------------------------------
 */

static uint32_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (uint32_t)x;
}

/* Consistent with kl_json_equal(): numbers hash by their double value, so 1 and 1.0 collide. */
static uint32_t hash_value(const kl_json_t *v)
{
    switch (v->type) {
    case KL_TNULL:
        return 0x51ed270bu;
    case KL_TTRUE:
        return 0x2545f491u;
    case KL_TFALSE:
        return 0x9e3779b9u;
    case KL_TINT:
    case KL_TDOUBLE: {
        double d = v->type == KL_TINT ? (double)v->u.i : v->u.d;
        if (d == 0)
            d = 0; /* -0.0 equals 0.0 */
        uint64_t bits;
        memcpy(&bits, &d, sizeof(bits));
        return mix64(bits);
    }
    case KL_TSTRING: {
        uint32_t h = 2166136261u;
        for (uint32_t i = 0; i < v->len; i++)
            h = (h ^ (unsigned char)v->u.s[i]) * 16777619u;
        return h;
    }
    case KL_TARRAY:
    case KL_TOBJECT:
        return mix64(((uint64_t)v->type << 32) | v->len);
    }
    return 0;
}

const kl_json_t *kl__vindex_key(const kl_vindex_t *ix, const kl_json_t *v)
{
    if (ix->key == NULL)
        return v;
    return kl_json_get(v, ix->key);
}

static int vindex_grow(kl_vindex_t *ix, uint32_t want)
{
    uint32_t cap = 8;
    while (cap < want * 2u) {
        if (cap > (UINT32_MAX >> 2))
            return KL_ETOOBIG;
        cap <<= 1;
    }
    struct kl_vslot *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return KL_ENOMEM;
    struct kl_vslot *old = ix->slots;
    uint32_t oldcap = old ? ix->mask + 1 : 0;
    ix->slots = slots;
    ix->mask = cap - 1;
    for (uint32_t i = 0; i < oldcap; i++) {
        if (old[i].pos1 == 0)
            continue;
        uint32_t s = old[i].hash & ix->mask;
        while (slots[s].pos1 != 0)
            s = (s + 1) & ix->mask;
        slots[s] = old[i];
    }
    free(old);
    return 0;
}

int kl__vindex_build(kl_vindex_t *ix, const kl_json_t *arr, const char *key, uint32_t n)
{
    *ix = (kl_vindex_t){.arr = arr, .key = key};
    int rc = vindex_grow(ix, n + 4);
    for (uint32_t i = 0; rc == 0 && i < n; i++)
        rc = kl__vindex_add(ix, i);
    if (rc < 0)
        kl__vindex_free(ix);
    return rc;
}

int kl__vindex_add(kl_vindex_t *ix, uint32_t pos)
{
    const kl_json_t *k = kl__vindex_key(ix, ix->arr->u.items[pos]);
    if (k == NULL || kl__vindex_find(ix, k) >= 0)
        return 0;
    if ((ix->used + 1) * 2 > ix->mask + 1) {
        int rc = vindex_grow(ix, ix->used + 1);
        if (rc < 0)
            return rc;
    }
    uint32_t h = hash_value(k);
    uint32_t s = h & ix->mask;
    while (ix->slots[s].pos1 != 0)
        s = (s + 1) & ix->mask;
    ix->slots[s] = (struct kl_vslot){h, pos + 1};
    ix->used++;
    return 0;
}

int64_t kl__vindex_find(const kl_vindex_t *ix, const kl_json_t *k)
{
    if (k == NULL || ix->slots == NULL)
        return -1;
    uint32_t h = hash_value(k);
    for (uint32_t s = h & ix->mask; ix->slots[s].pos1 != 0; s = (s + 1) & ix->mask) {
        if (ix->slots[s].hash != h)
            continue;
        uint32_t pos = ix->slots[s].pos1 - 1;
        if (pos < ix->arr->len && kl_json_equal(kl__vindex_key(ix, ix->arr->u.items[pos]), k))
            return pos;
    }
    return -1;
}

void kl__vindex_free(kl_vindex_t *ix)
{
    free(ix->slots);
    ix->slots = NULL;
    ix->used = 0;
}

/* ---- Schema lookups ---------------------------------------------------------------------------
 */

const kl_sfield_t *kl__patch_field(const kl_stype_t *t, const char *key, size_t keylen)
{
    if (t == NULL || t->kind != KL_SK_OBJECT || t->fields == NULL)
        return NULL;
    for (size_t i = 0; i < t->nfields; i++) {
        const char *name = t->fields[i].name;
        if (name != NULL && strlen(name) == keylen && memcmp(name, key, keylen) == 0)
            return &t->fields[i];
    }
    return NULL;
}

static const char *go_kind(const kl_stype_t *t)
{
    switch (t->kind) {
    case KL_SK_STRING:
    case KL_SK_TIME:
        return "string";
    case KL_SK_INT:
        return "int64";
    case KL_SK_NUMBER:
        return "float64";
    case KL_SK_BOOL:
        return "bool";
    case KL_SK_LIST:
        return "slice";
    case KL_SK_MAP:
        return "map";
    default:
        return "struct";
    }
}

/* The short Go name of a type, as reflect's Type.Name() gives it: "Container". */
static const char *short_name(const kl_stype_t *t)
{
    if (t->name == NULL)
        return "";
    const char *dot = strrchr(t->name, '.');
    return dot ? dot + 1 : t->name;
}

static void meta_from_field(const kl_sfield_t *f, kl_patch_meta_t *out)
{
    out->type = f->type;
    out->merge_key = f->merge_key;
    out->merge = (f->flags & KL_SF_PATCH_MERGE) != 0;
    out->replace = (f->flags & KL_SF_PATCH_REPLACE) != 0;
}

int kl__patch_lookup_struct(const kl_stype_t *t, const char *key, size_t keylen,
                            kl_patch_meta_t *out, kl_errinfo_t *err)
{
    *out = (kl_patch_meta_t){0};
    if (t == NULL || t->kind == KL_SK_ANY)
        return 0;
    if (t->kind == KL_SK_MAP) {
        out->type = t->elem;
        return 0;
    }
    if (t->kind != KL_SK_OBJECT)
        return kl_err(err, KL_EINVAL,
                      "merging an object in json but data type is not map or struct, instead "
                      "is: %s",
                      go_kind(t));
    const kl_sfield_t *f = kl__patch_field(t, key, keylen);
    if (f != NULL) {
        meta_from_field(f, out);
        return 0;
    }
    if (t->preserve_unknown)
        return 0;
    return kl_err(err, KL_EINVAL,
                  "unable to find api field in struct %s for the json field \"%.*s\"",
                  short_name(t), (int)(keylen > 200 ? 200 : keylen), key);
}

int kl__patch_lookup_slice(const kl_stype_t *t, const char *key, size_t keylen,
                           kl_patch_meta_t *out, kl_errinfo_t *err)
{
    int rc = kl__patch_lookup_struct(t, key, keylen, out, err);
    if (rc < 0 || out->type == NULL)
        return rc;
    const kl_stype_t *ft = out->type;
    if (ft->kind == KL_SK_ANY) {
        out->type = NULL;
        return 0;
    }
    if (ft->kind != KL_SK_LIST)
        return kl_err(err, KL_EINVAL, "expected slice or array type, but got: %s",
                      t->kind == KL_SK_MAP ? "map" : "struct");
    out->type = ft->elem;
    if (out->type != NULL && out->type->kind == KL_SK_LIST)
        return kl_err(err, KL_EINVAL, "unexpected slice of slice");
    return 0;
}
