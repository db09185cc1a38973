/* Mutable JSON trees: construction, editing, encoding, and conversion to and from compact
 * documents. */
#include "kubelua/json.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "object/obj_int.h"

static kl_json_t *node(kl_type_t t)
{
    kl_json_t *j = calloc(1, sizeof(*j));
    if (j)
        j->type = t;
    return j;
}

kl_json_t *kl_json_null(void)
{
    return node(KL_TNULL);
}

kl_json_t *kl_json_bool(bool b)
{
    return node(b ? KL_TTRUE : KL_TFALSE);
}

kl_json_t *kl_json_int(int64_t i)
{
    kl_json_t *j = node(KL_TINT);
    if (j)
        j->u.i = i;
    return j;
}

kl_json_t *kl_json_double(double d)
{
    kl_json_t *j = node(KL_TDOUBLE);
    if (j)
        j->u.d = d;
    return j;
}

kl_json_t *kl_json_stringn(const char *s, size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    kl_json_t *j = node(KL_TSTRING);
    if (j == NULL)
        return NULL;
    j->u.s = malloc(len + 1);
    if (j->u.s == NULL) {
        free(j);
        return NULL;
    }
    memcpy(j->u.s, s, len);
    j->u.s[len] = '\0';
    j->len = (uint32_t)len;
    return j;
}

kl_json_t *kl_json_string(const char *s)
{
    return kl_json_stringn(s, strlen(s));
}

kl_json_t *kl_json_object(void)
{
    return node(KL_TOBJECT);
}

kl_json_t *kl_json_array(void)
{
    return node(KL_TARRAY);
}

void kl_json_free(kl_json_t *j)
{
    if (j == NULL)
        return;
    switch (j->type) {
    case KL_TSTRING:
        free(j->u.s);
        break;
    case KL_TARRAY:
        for (uint32_t i = 0; i < j->len; i++)
            kl_json_free(j->u.items[i]);
        free(j->u.items);
        break;
    case KL_TOBJECT:
        for (uint32_t i = 0; i < j->len; i++) {
            free(j->u.members[i].key);
            kl_json_free(j->u.members[i].val);
        }
        free(j->u.members);
        break;
    default:
        break;
    }
    free(j);
}

kl_json_t *kl_json_dup(const kl_json_t *j)
{
    if (j == NULL)
        return NULL;
    switch (j->type) {
    case KL_TNULL:
    case KL_TTRUE:
    case KL_TFALSE:
        return node(j->type);
    case KL_TINT:
        return kl_json_int(j->u.i);
    case KL_TDOUBLE:
        return kl_json_double(j->u.d);
    case KL_TSTRING:
        return kl_json_stringn(j->u.s, j->len);
    case KL_TARRAY: {
        kl_json_t *a = kl_json_array();
        for (uint32_t i = 0; a && i < j->len; i++) {
            kl_json_t *c = kl_json_dup(j->u.items[i]);
            if (c == NULL || kl_json_append(a, c) < 0) {
                kl_json_free(a);
                return NULL;
            }
        }
        return a;
    }
    case KL_TOBJECT: {
        kl_json_t *o = kl_json_object();
        for (uint32_t i = 0; o && i < j->len; i++) {
            const kl_jmember_t *m = &j->u.members[i];
            kl_json_t *c = kl_json_dup(m->val);
            if (c == NULL || kl_json_setn(o, m->key, m->keylen, c) < 0) {
                kl_json_free(o);
                return NULL;
            }
        }
        return o;
    }
    }
    return NULL;
}

bool kl_json_equal(const kl_json_t *a, const kl_json_t *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (kl_json_is_number(a) && kl_json_is_number(b)) {
        if (a->type == KL_TINT && b->type == KL_TINT)
            return a->u.i == b->u.i;
        double x = a->type == KL_TINT ? (double)a->u.i : a->u.d;
        double y = b->type == KL_TINT ? (double)b->u.i : b->u.d;
        return x == y;
    }
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case KL_TSTRING:
        return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
    case KL_TARRAY:
        if (a->len != b->len)
            return false;
        for (uint32_t i = 0; i < a->len; i++)
            if (!kl_json_equal(a->u.items[i], b->u.items[i]))
                return false;
        return true;
    case KL_TOBJECT:
        if (a->len != b->len)
            return false;
        for (uint32_t i = 0; i < a->len; i++) {
            const kl_jmember_t *m = &a->u.members[i];
            const kl_json_t *o = kl_json_getn(b, m->key, m->keylen);
            if (o == NULL || !kl_json_equal(m->val, o))
                return false;
        }
        return true;
    default:
        return true;
    }
}

const char *kl_json_str(const kl_json_t *j)
{
    return j && j->type == KL_TSTRING ? j->u.s : NULL;
}

int64_t kl_json_int_or(const kl_json_t *j, int64_t fallback)
{
    if (j && j->type == KL_TINT)
        return j->u.i;
    if (j && j->type == KL_TDOUBLE && j->u.d >= -9.2e18 && j->u.d <= 9.2e18)
        return (int64_t)j->u.d;
    return fallback;
}

bool kl_json_bool_or(const kl_json_t *j, bool fallback)
{
    if (j && j->type == KL_TTRUE)
        return true;
    if (j && j->type == KL_TFALSE)
        return false;
    return fallback;
}

static int64_t find_member(const kl_json_t *j, const char *key, size_t keylen)
{
    if (j == NULL || j->type != KL_TOBJECT)
        return -1;
    for (uint32_t i = 0; i < j->len; i++) {
        const kl_jmember_t *m = &j->u.members[i];
        if (m->keylen == keylen && memcmp(m->key, key, keylen) == 0)
            return i;
    }
    return -1;
}

kl_json_t *kl_json_getn(const kl_json_t *j, const char *key, size_t keylen)
{
    int64_t i = find_member(j, key, keylen);
    return i < 0 ? NULL : j->u.members[i].val;
}

kl_json_t *kl_json_get(const kl_json_t *j, const char *key)
{
    return kl_json_getn(j, key, strlen(key));
}

kl_json_t *kl_json_path(const kl_json_t *j, ...)
{
    va_list ap;
    va_start(ap, j);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL && j != NULL)
        j = kl_json_get(j, k);
    va_end(ap);
    return (kl_json_t *)j;
}

const char *kl_json_path_str(const kl_json_t *j, ...)
{
    va_list ap;
    va_start(ap, j);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL && j != NULL)
        j = kl_json_get(j, k);
    va_end(ap);
    return kl_json_str(j);
}

static int grow_array(void **p, uint32_t *cap, uint32_t len, size_t elem)
{
    if (len < *cap)
        return 0;
    uint32_t ncap = *cap ? *cap * 2 : 4;
    if (ncap <= *cap)
        return KL_ETOOBIG;
    void *np = realloc(*p, (size_t)ncap * elem);
    if (np == NULL)
        return KL_ENOMEM;
    *p = np;
    *cap = ncap;
    return 0;
}

int kl_json_setn(kl_json_t *obj, const char *key, size_t keylen, kl_json_t *val)
{
    if (val == NULL)
        return KL_ENOMEM;
    if (obj == NULL || obj->type != KL_TOBJECT || keylen > UINT32_MAX) {
        kl_json_free(val);
        return KL_ETYPE;
    }
    int64_t i = find_member(obj, key, keylen);
    if (i >= 0) {
        kl_json_free(obj->u.members[i].val);
        obj->u.members[i].val = val;
        return 0;
    }
    int rc = grow_array((void **)&obj->u.members, &obj->cap, obj->len, sizeof(kl_jmember_t));
    char *k = rc == 0 ? malloc(keylen + 1) : NULL;
    if (k == NULL) {
        kl_json_free(val);
        return rc < 0 ? rc : KL_ENOMEM;
    }
    memcpy(k, key, keylen);
    k[keylen] = '\0';
    obj->u.members[obj->len++] = (kl_jmember_t){k, (uint32_t)keylen, val};
    return 0;
}

int kl_json_set(kl_json_t *obj, const char *key, kl_json_t *val)
{
    return kl_json_setn(obj, key, strlen(key), val);
}

int kl_json_set_str(kl_json_t *obj, const char *key, const char *s)
{
    return kl_json_set(obj, key, kl_json_string(s));
}

int kl_json_set_int(kl_json_t *obj, const char *key, int64_t i)
{
    return kl_json_set(obj, key, kl_json_int(i));
}

int kl_json_set_bool(kl_json_t *obj, const char *key, bool b)
{
    return kl_json_set(obj, key, kl_json_bool(b));
}

static kl_json_t *ensure(kl_json_t *obj, const char *key, kl_type_t t)
{
    if (obj == NULL || obj->type != KL_TOBJECT)
        return NULL;
    kl_json_t *c = kl_json_get(obj, key);
    if (c != NULL && c->type == t)
        return c;
    if (c != NULL && c->type != KL_TNULL)
        return NULL;
    c = node(t);
    if (kl_json_set(obj, key, c) < 0)
        return NULL;
    return c;
}

kl_json_t *kl_json_ensure_object(kl_json_t *obj, const char *key)
{
    return ensure(obj, key, KL_TOBJECT);
}

kl_json_t *kl_json_ensure_array(kl_json_t *obj, const char *key)
{
    return ensure(obj, key, KL_TARRAY);
}

kl_json_t *kl_json_take(kl_json_t *obj, const char *key)
{
    int64_t i = find_member(obj, key, strlen(key));
    if (i < 0)
        return NULL;
    kl_json_t *v = obj->u.members[i].val;
    free(obj->u.members[i].key);
    memmove(&obj->u.members[i], &obj->u.members[i + 1],
            (obj->len - (size_t)i - 1) * sizeof(kl_jmember_t));
    obj->len--;
    return v;
}

bool kl_json_del(kl_json_t *obj, const char *key)
{
    kl_json_t *v = kl_json_take(obj, key);
    if (v == NULL)
        return false;
    kl_json_free(v);
    return true;
}

int kl_json_insert_at(kl_json_t *arr, uint32_t index, kl_json_t *val)
{
    if (val == NULL)
        return KL_ENOMEM;
    if (arr == NULL || arr->type != KL_TARRAY || index > arr->len) {
        kl_json_free(val);
        return arr && arr->type == KL_TARRAY ? KL_EINVAL : KL_ETYPE;
    }
    int rc = grow_array((void **)&arr->u.items, &arr->cap, arr->len, sizeof(kl_json_t *));
    if (rc < 0) {
        kl_json_free(val);
        return rc;
    }
    memmove(&arr->u.items[index + 1], &arr->u.items[index],
            (arr->len - index) * sizeof(kl_json_t *));
    arr->u.items[index] = val;
    arr->len++;
    return 0;
}

int kl_json_append(kl_json_t *arr, kl_json_t *val)
{
    return kl_json_insert_at(arr, arr && arr->type == KL_TARRAY ? arr->len : 0, val);
}

kl_json_t *kl_json_at(const kl_json_t *arr, uint32_t index)
{
    if (arr == NULL || arr->type != KL_TARRAY || index >= arr->len)
        return NULL;
    return arr->u.items[index];
}

kl_json_t *kl_json_take_at(kl_json_t *arr, uint32_t index)
{
    if (arr == NULL || arr->type != KL_TARRAY || index >= arr->len)
        return NULL;
    kl_json_t *v = arr->u.items[index];
    memmove(&arr->u.items[index], &arr->u.items[index + 1],
            (arr->len - index - 1) * sizeof(kl_json_t *));
    arr->len--;
    return v;
}

int kl_json_replace_at(kl_json_t *arr, uint32_t index, kl_json_t *val)
{
    if (val == NULL)
        return KL_ENOMEM;
    if (arr == NULL || arr->type != KL_TARRAY || index >= arr->len) {
        kl_json_free(val);
        return KL_EINVAL;
    }
    kl_json_free(arr->u.items[index]);
    arr->u.items[index] = val;
    return 0;
}

/* ---- Encoding --------------------------------------------------------------------------- */

static int indent(kl_buf_t *out, int pretty, uint32_t depth)
{
    if (!pretty)
        return 0;
    int rc = kl_buf_putc(out, '\n');
    for (uint32_t i = 0; rc == 0 && i < depth; i++)
        rc = kl_buf_append(out, "  ", 2);
    return rc;
}

static int encode(const kl_json_t *j, kl_buf_t *out, int pretty, uint32_t depth)
{
    int rc = 0;
    char tmp[40];
    switch (j->type) {
    case KL_TNULL:
        return kl_buf_append(out, "null", 4);
    case KL_TTRUE:
        return kl_buf_append(out, "true", 4);
    case KL_TFALSE:
        return kl_buf_append(out, "false", 5);
    case KL_TINT:
        return kl_buf_printf(out, "%lld", (long long)j->u.i);
    case KL_TDOUBLE: {
        int n = kl__format_double(j->u.d, tmp, sizeof(tmp));
        return kl_buf_append(out, tmp, (size_t)n);
    }
    case KL_TSTRING:
        return kl_json_quote(out, j->u.s, j->len);
    case KL_TARRAY:
        if (j->len == 0)
            return kl_buf_append(out, "[]", 2);
        rc = kl_buf_putc(out, '[');
        for (uint32_t i = 0; rc == 0 && i < j->len; i++) {
            if (i)
                rc = kl_buf_putc(out, ',');
            if (rc == 0)
                rc = indent(out, pretty, depth + 1);
            if (rc == 0)
                rc = encode(j->u.items[i], out, pretty, depth + 1);
        }
        if (rc == 0)
            rc = indent(out, pretty, depth);
        return rc ? rc : kl_buf_putc(out, ']');
    case KL_TOBJECT:
        if (j->len == 0)
            return kl_buf_append(out, "{}", 2);
        rc = kl_buf_putc(out, '{');
        for (uint32_t i = 0; rc == 0 && i < j->len; i++) {
            const kl_jmember_t *m = &j->u.members[i];
            if (i)
                rc = kl_buf_putc(out, ',');
            if (rc == 0)
                rc = indent(out, pretty, depth + 1);
            if (rc == 0)
                rc = kl_json_quote(out, m->key, m->keylen);
            if (rc == 0)
                rc = pretty ? kl_buf_append(out, ": ", 2) : kl_buf_putc(out, ':');
            if (rc == 0)
                rc = encode(m->val, out, pretty, depth + 1);
        }
        if (rc == 0)
            rc = indent(out, pretty, depth);
        return rc ? rc : kl_buf_putc(out, '}');
    }
    return KL_EINVAL;
}

int kl_json_encode(const kl_json_t *j, kl_buf_t *out)
{
    return encode(j, out, 0, 0);
}

int kl_json_encode_pretty(const kl_json_t *j, kl_buf_t *out)
{
    return encode(j, out, 1, 0);
}

char *kl_json_encode_alloc(const kl_json_t *j, size_t *len)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    if (kl_json_encode(j, &b) < 0) {
        kl_buf_cleanup(&b);
        return NULL;
    }
    return kl_buf_take(&b, len);
}

/* ---- Freeze and thaw -------------------------------------------------------------------- */

static int freeze(kl_builder_t *b, const kl_json_t *j)
{
    int rc;
    switch (j->type) {
    case KL_TNULL:
        return kl__builder_push(b, CELL_NULL);
    case KL_TTRUE:
        return kl__builder_push(b, CELL_TRUE);
    case KL_TFALSE:
        return kl__builder_push(b, CELL_FALSE);
    case KL_TINT:
        return kl__builder_int(b, j->u.i);
    case KL_TDOUBLE:
        return kl__builder_double(b, j->u.d);
    case KL_TSTRING:
        return kl__builder_string(b, j->u.s, j->len);
    case KL_TARRAY:
        if ((rc = kl__builder_open(b, 0)) < 0)
            return rc;
        for (uint32_t i = 0; i < j->len; i++)
            if ((rc = freeze(b, j->u.items[i])) < 0)
                return rc;
        return kl__builder_close(b, NULL);
    case KL_TOBJECT:
        if ((rc = kl__builder_open(b, 1)) < 0)
            return rc;
        for (uint32_t i = 0; i < j->len; i++) {
            if ((rc = kl__builder_key(b, j->u.members[i].key, j->u.members[i].keylen)) < 0)
                return rc;
            if ((rc = freeze(b, j->u.members[i].val)) < 0)
                return rc;
        }
        return kl__builder_close(b, NULL);
    }
    return KL_EINVAL;
}

int kl_obj_from_json(const kl_json_t *j, kl_obj_t **out)
{
    kl_parse_opts_t opts = {.flags = KL_PARSE_ALLOW_DUPLICATE_KEYS};
    kl_builder_t *b = kl__builder_get(&opts);
    int rc = freeze(b, j);
    if (rc == 0)
        rc = kl__builder_finish(b, out);
    kl__builder_release(b);
    return rc;
}

kl_json_t *kl_json_from_val(kl_val_t v)
{
    switch (kl_val_type(v)) {
    case KL_TNULL:
        return kl_json_null();
    case KL_TTRUE:
        return kl_json_bool(true);
    case KL_TFALSE:
        return kl_json_bool(false);
    case KL_TINT:
        return kl_json_int(kl_val_int(v));
    case KL_TDOUBLE:
        return kl_json_double(kl_val_number(v));
    case KL_TSTRING: {
        size_t len;
        const char *s = kl_val_str(v, &len);
        return kl_json_stringn(s, len);
    }
    case KL_TARRAY: {
        uint32_t n = kl_val_len(v);
        kl_json_t *a = kl_json_array();
        if (a == NULL)
            return NULL;
        if (n) {
            a->u.items = malloc(n * sizeof(kl_json_t *));
            if (a->u.items == NULL) {
                free(a);
                return NULL;
            }
            a->cap = n;
        }
        for (uint32_t i = 0; i < n; i++) {
            kl_json_t *c = kl_json_from_val(kl_val_at(v, i));
            if (c == NULL) {
                kl_json_free(a);
                return NULL;
            }
            a->u.items[a->len++] = c;
        }
        return a;
    }
    case KL_TOBJECT: {
        uint32_t n = kl_val_len(v);
        kl_json_t *o = kl_json_object();
        if (o == NULL)
            return NULL;
        if (n) {
            o->u.members = malloc(n * sizeof(kl_jmember_t));
            if (o->u.members == NULL) {
                free(o);
                return NULL;
            }
            o->cap = n;
        }
        for (uint32_t i = 0; i < n; i++) {
            const char *k;
            size_t kl;
            kl_val_t m = kl_val_member(v, i, &k, &kl);
            kl_json_t *c = kl_json_from_val(m);
            char *key = c ? malloc(kl + 1) : NULL;
            if (key == NULL) {
                kl_json_free(c);
                kl_json_free(o);
                return NULL;
            }
            memcpy(key, k, kl + 1);
            o->u.members[o->len++] = (kl_jmember_t){key, (uint32_t)kl, c};
        }
        return o;
    }
    }
    return NULL;
}

int kl_json_parse(const char *text, size_t len, const kl_parse_opts_t *opts, kl_json_t **out,
                  kl_errinfo_t *err)
{
    kl_obj_t *doc;
    int rc = kl_obj_parse_json(text, len, opts, &doc, err);
    if (rc < 0)
        return rc;
    kl_json_t *j = kl_json_from_val(kl_obj_root(doc));
    kl_obj_unref(doc);
    if (j == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    *out = j;
    return 0;
}

int kl_json_parse_any(const char *text, size_t len, const kl_parse_opts_t *opts, kl_json_t **out,
                      kl_errinfo_t *err)
{
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    if (i < len && (text[i] == '{' || text[i] == '['))
        return kl_json_parse(text, len, opts, out, err);
    kl_json_t **docs;
    size_t n;
    int rc = kl_yaml_parse(text, len, opts, &docs, &n, err);
    if (rc < 0)
        return rc;
    if (n != 1) {
        kl_json_free_docs(docs, n);
        return kl_err(err, KL_EINVAL, "expected exactly one document, found %zu", n);
    }
    *out = docs[0];
    free(docs);
    return 0;
}

void kl_json_free_docs(kl_json_t **docs, size_t ndocs)
{
    for (size_t i = 0; docs && i < ndocs; i++)
        kl_json_free(docs[i]);
    free(docs);
}
