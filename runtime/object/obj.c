/* Reading and encoding compact documents. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "object/obj_int.h"

kl_obj_t *kl_obj_ref(const kl_obj_t *doc)
{
    kl_obj_t *d = (kl_obj_t *)doc;
    if (d)
        atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
    return d;
}

void kl_obj_unref(const kl_obj_t *doc)
{
    kl_obj_t *d = (kl_obj_t *)doc;
    if (d && atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) == 1)
        free(d);
}

size_t kl_obj_size(const kl_obj_t *doc)
{
    return doc ? sizeof(*doc) + doc->cont_len + doc->str_len : 0;
}

kl_val_t kl_obj_root(const kl_obj_t *doc)
{
    return (kl_val_t){doc, doc ? doc->root : 0};
}

kl_type_t kl_val_type(kl_val_t v)
{
    if (v.doc == NULL)
        return KL_TNULL;
    switch (CELL_TAG(v.cell)) {
    case CELL_FALSE:
        return KL_TFALSE;
    case CELL_TRUE:
        return KL_TTRUE;
    case CELL_SMALLINT:
    case CELL_BIGINT:
        return KL_TINT;
    case CELL_DOUBLE:
        return KL_TDOUBLE;
    case CELL_STRING:
        return KL_TSTRING;
    case CELL_ARRAY:
        return KL_TARRAY;
    case CELL_OBJECT:
        return KL_TOBJECT;
    default:
        return KL_TNULL;
    }
}

bool kl_val_is_container(kl_val_t v)
{
    unsigned t = CELL_TAG(v.cell);
    return v.doc && (t == CELL_ARRAY || t == CELL_OBJECT);
}

bool kl_val_bool(kl_val_t v)
{
    return v.doc && CELL_TAG(v.cell) == CELL_TRUE;
}

int64_t kl_val_int(kl_val_t v)
{
    if (v.doc == NULL)
        return 0;
    switch (CELL_TAG(v.cell)) {
    case CELL_SMALLINT:
        return (int64_t)v.cell >> 4;
    case CELL_BIGINT: {
        int64_t i;
        memcpy(&i, obj_cont(v.doc) + CELL_OFF(v.cell), 8);
        return i;
    }
    case CELL_DOUBLE: {
        double d;
        memcpy(&d, obj_cont(v.doc) + CELL_OFF(v.cell), 8);
        if (d >= -9.2e18 && d <= 9.2e18)
            return (int64_t)d;
        return 0;
    }
    default:
        return 0;
    }
}

double kl_val_number(kl_val_t v)
{
    if (v.doc && CELL_TAG(v.cell) == CELL_DOUBLE) {
        double d;
        memcpy(&d, obj_cont(v.doc) + CELL_OFF(v.cell), 8);
        return d;
    }
    return (double)kl_val_int(v);
}

const char *kl_val_str(kl_val_t v, size_t *len)
{
    if (v.doc == NULL || CELL_TAG(v.cell) != CELL_STRING)
        return NULL;
    if (len)
        *len = CELL_STR_LEN(v.cell);
    return obj_strs(v.doc) + CELL_STR_OFF(v.cell);
}

uint32_t kl_val_len(kl_val_t v)
{
    if (v.doc == NULL)
        return 0;
    unsigned t = CELL_TAG(v.cell);
    if ((t != CELL_ARRAY && t != CELL_OBJECT) || CELL_OFF(v.cell) == 0)
        return 0;
    return obj_count(v.doc, CELL_OFF(v.cell));
}

kl_val_t kl_val_at(kl_val_t v, uint32_t i)
{
    if (v.doc == NULL || CELL_TAG(v.cell) != CELL_ARRAY || CELL_OFF(v.cell) == 0)
        return (kl_val_t){0};
    uint32_t off = CELL_OFF(v.cell);
    if (i >= obj_count(v.doc, off))
        return (kl_val_t){0};
    return (kl_val_t){v.doc, obj_array_cells(v.doc, off)[i]};
}

kl_val_t kl_val_get_key(kl_val_t v, kl_key_t key)
{
    if (v.doc == NULL || key == 0 || CELL_TAG(v.cell) != CELL_OBJECT || CELL_OFF(v.cell) == 0)
        return (kl_val_t){0};
    uint32_t off = CELL_OFF(v.cell);
    uint32_t n = obj_count(v.doc, off);
    const uint32_t *keys = obj_keys(v.doc, off);
    for (uint32_t i = 0; i < n; i++) {
        if (keys[i] == key)
            return (kl_val_t){v.doc, obj_object_cells(v.doc, off, n)[i]};
    }
    return (kl_val_t){0};
}

kl_val_t kl_val_getn(kl_val_t v, const char *key, size_t keylen)
{
    if (v.doc == NULL || CELL_TAG(v.cell) != CELL_OBJECT || CELL_OFF(v.cell) == 0)
        return (kl_val_t){0};
    kl_key_t id = kl_key_lookup(key, keylen);
    if (id != 0) {
        kl_val_t r = kl_val_get_key(v, id);
        if (r.doc != NULL || !(v.doc->flags & KL_OBJ_INLINE_KEYS))
            return r;
    } else if (!(v.doc->flags & KL_OBJ_INLINE_KEYS)) {
        return (kl_val_t){0};
    }
    uint32_t off = CELL_OFF(v.cell);
    uint32_t n = obj_count(v.doc, off);
    const uint32_t *keys = obj_keys(v.doc, off);
    for (uint32_t i = 0; i < n; i++) {
        if (!(keys[i] & KEY_INLINE))
            continue;
        size_t len;
        const char *s = obj_key_str(v.doc, keys[i], &len);
        if (len == keylen && memcmp(s, key, len) == 0)
            return (kl_val_t){v.doc, obj_object_cells(v.doc, off, n)[i]};
    }
    return (kl_val_t){0};
}

kl_val_t kl_val_get(kl_val_t v, const char *key)
{
    return kl_val_getn(v, key, strlen(key));
}

kl_val_t kl_val_member(kl_val_t v, uint32_t i, const char **key, size_t *keylen)
{
    uint32_t off = CELL_OFF(v.cell);
    uint32_t n = obj_count(v.doc, off);
    size_t len;
    const char *k = obj_key_str(v.doc, obj_keys(v.doc, off)[i], &len);
    if (key)
        *key = k;
    if (keylen)
        *keylen = len;
    return (kl_val_t){v.doc, obj_object_cells(v.doc, off, n)[i]};
}

kl_val_t kl_val_path(kl_val_t v, ...)
{
    va_list ap;
    va_start(ap, v);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL && v.doc != NULL)
        v = kl_val_get(v, k);
    va_end(ap);
    return v;
}

kl_val_t kl_val_dotted(kl_val_t v, const char *path)
{
    char seg[128];
    const char *p = path;
    while (*p && v.doc != NULL) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(seg))
            return (kl_val_t){0};
        memcpy(seg, p, n);
        seg[n] = '\0';
        v = kl_val_get(v, seg);
        p = dot ? dot + 1 : p + n;
    }
    return v;
}

const char *kl_val_scalar_text(kl_val_t v, char tmp[32])
{
    switch (kl_val_type(v)) {
    case KL_TSTRING:
        return kl_val_str(v, NULL);
    case KL_TTRUE:
        return "true";
    case KL_TFALSE:
        return "false";
    case KL_TINT:
        snprintf(tmp, 32, "%lld", (long long)kl_val_int(v));
        return tmp;
    default:
        return NULL;
    }
}

const char *kl_val_path_str(kl_val_t v, ...)
{
    va_list ap;
    va_start(ap, v);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL && v.doc != NULL)
        v = kl_val_get(v, k);
    va_end(ap);
    return kl_val_str(v, NULL);
}

uintptr_t kl_val_id(kl_val_t v)
{
    unsigned t = CELL_TAG(v.cell);
    if (t == CELL_ARRAY || t == CELL_OBJECT)
        return (uintptr_t)v.doc + CELL_OFF(v.cell) + (t == CELL_OBJECT);
    return (uintptr_t)v.doc;
}

bool kl_val_equal(kl_val_t a, kl_val_t b)
{
    kl_type_t ta = kl_val_type(a), tb = kl_val_type(b);
    if ((ta == KL_TINT || ta == KL_TDOUBLE) && (tb == KL_TINT || tb == KL_TDOUBLE)) {
        if (ta == KL_TINT && tb == KL_TINT)
            return kl_val_int(a) == kl_val_int(b);
        return kl_val_number(a) == kl_val_number(b);
    }
    if (ta != tb)
        return false;
    switch (ta) {
    case KL_TSTRING: {
        size_t la = 0, lb = 0;
        const char *sa = kl_val_str(a, &la), *sb = kl_val_str(b, &lb);
        return la == lb && memcmp(sa, sb, la) == 0;
    }
    case KL_TARRAY: {
        uint32_t n = kl_val_len(a);
        if (n != kl_val_len(b))
            return false;
        for (uint32_t i = 0; i < n; i++)
            if (!kl_val_equal(kl_val_at(a, i), kl_val_at(b, i)))
                return false;
        return true;
    }
    case KL_TOBJECT: {
        uint32_t n = kl_val_len(a);
        if (n != kl_val_len(b))
            return false;
        for (uint32_t i = 0; i < n; i++) {
            const char *k;
            size_t kl;
            kl_val_t va = kl_val_member(a, i, &k, &kl);
            kl_val_t vb = kl_val_getn(b, k, kl);
            if (vb.doc == NULL || !kl_val_equal(va, vb))
                return false;
        }
        return true;
    }
    default:
        return true;
    }
}

/* ---- Encoding --------------------------------------------------------------------------- */

/* Formats d like Go's encoding/json: the shortest digits that read back as d, in plain decimal
 * notation when 1e-6 <= |d| < 1e21 and in exponent form (e-7, e+21) otherwise. */
int kl__format_double(double d, char *out, size_t cap)
{
    if (!isfinite(d))
        return snprintf(out, cap, "null");
    if (d == 0)
        return snprintf(out, cap, "0");
    char sci[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof(sci), "%.*e", prec - 1, d);
        if (strtod(sci, NULL) == d)
            break;
    }
    /* sci is [-]D[.DDD]e[+-]XX: collect the digits and the exponent. */
    char digits[24];
    int nd = 0, neg = sci[0] == '-';
    const char *p = sci + neg;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int exp10 = atoi(p + 1);
    double a = fabs(d);
    size_t o = 0;
    char buf[64];
    if (neg)
        buf[o++] = '-';
    if (a >= 1e-6 && a < 1e21) {
        if (exp10 < 0) {
            buf[o++] = '0';
            buf[o++] = '.';
            for (int i = -1; i > exp10; i--)
                buf[o++] = '0';
            for (int i = 0; i < nd; i++)
                buf[o++] = digits[i];
        } else {
            for (int i = 0; i <= exp10 || i < nd; i++) {
                if (i == exp10 + 1)
                    buf[o++] = '.';
                buf[o++] = i < nd ? digits[i] : '0';
            }
        }
    } else {
        buf[o++] = digits[0];
        if (nd > 1) {
            buf[o++] = '.';
            for (int i = 1; i < nd; i++)
                buf[o++] = digits[i];
        }
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "e%c%d", exp10 < 0 ? '-' : '+',
                              exp10 < 0 ? -exp10 : exp10);
    }
    buf[o] = '\0';
    return snprintf(out, cap, "%s", buf);
}

static const char hexdig[] = "0123456789abcdef";

int kl_json_quote(kl_buf_t *out, const char *s, size_t len)
{
    size_t mark = out->len;
    int rc = kl_buf_putc(out, '"');
    const unsigned char *p = (const unsigned char *)s, *e = p + len;
    while (rc == 0) {
        const unsigned char *run = p;
        while (p < e && *p >= 0x20 && *p != '"' && *p != '\\')
            p++;
        if (p > run && (rc = kl_buf_append(out, run, (size_t)(p - run))) < 0)
            break;
        if (p == e) {
            rc = kl_buf_putc(out, '"');
            break;
        }
        unsigned char c = *p++;
        char esc[6] = {'\\', 0};
        size_t en = 2;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            esc[1] = 'u', esc[2] = '0', esc[3] = '0';
            esc[4] = hexdig[c >> 4], esc[5] = hexdig[c & 15], en = 6;
            break;
        }
        rc = kl_buf_append(out, esc, en);
    }
    if (rc < 0) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return rc;
}

static int encode_cell(const kl_obj_t *d, uint64_t c, kl_buf_t *out, uint32_t depth)
{
    int rc;
    switch (CELL_TAG(c)) {
    case CELL_NULL:
        return kl_buf_append(out, "null", 4);
    case CELL_FALSE:
        return kl_buf_append(out, "false", 5);
    case CELL_TRUE:
        return kl_buf_append(out, "true", 4);
    case CELL_SMALLINT:
    case CELL_BIGINT: {
        char tmp[24];
        int64_t v = kl_val_int((kl_val_t){d, c});
        /* Hand-rolled: snprintf is the slowest part of encoding otherwise. */
        char *p = tmp + sizeof(tmp);
        uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            *--p = '-';
        return kl_buf_append(out, p, (size_t)(tmp + sizeof(tmp) - p));
    }
    case CELL_DOUBLE: {
        char tmp[40];
        int n = kl__format_double(kl_val_number((kl_val_t){d, c}), tmp, sizeof(tmp));
        return kl_buf_append(out, tmp, (size_t)n);
    }
    case CELL_STRING:
        return kl_json_quote(out, obj_strs(d) + CELL_STR_OFF(c), CELL_STR_LEN(c));
    case CELL_ARRAY: {
        uint32_t off = CELL_OFF(c);
        if (off == 0)
            return kl_buf_append(out, "[]", 2);
        uint32_t n = obj_count(d, off);
        const uint64_t *cells = obj_array_cells(d, off);
        if ((rc = kl_buf_putc(out, '[')) < 0)
            return rc;
        for (uint32_t i = 0; i < n; i++) {
            if (i && (rc = kl_buf_putc(out, ',')) < 0)
                return rc;
            if ((rc = encode_cell(d, cells[i], out, depth + 1)) < 0)
                return rc;
        }
        return kl_buf_putc(out, ']');
    }
    case CELL_OBJECT: {
        uint32_t off = CELL_OFF(c);
        if (off == 0)
            return kl_buf_append(out, "{}", 2);
        uint32_t n = obj_count(d, off);
        const uint32_t *keys = obj_keys(d, off);
        const uint64_t *cells = obj_object_cells(d, off, n);
        if ((rc = kl_buf_putc(out, '{')) < 0)
            return rc;
        for (uint32_t i = 0; i < n; i++) {
            if (i && (rc = kl_buf_putc(out, ',')) < 0)
                return rc;
            size_t kl;
            const char *k = obj_key_str(d, keys[i], &kl);
            if ((rc = kl_json_quote(out, k, kl)) < 0)
                return rc;
            if ((rc = kl_buf_putc(out, ':')) < 0)
                return rc;
            if ((rc = encode_cell(d, cells[i], out, depth + 1)) < 0)
                return rc;
        }
        return kl_buf_putc(out, '}');
    }
    }
    return KL_EINVAL;
}

int kl_val_encode(kl_val_t v, kl_buf_t *out)
{
    if (v.doc == NULL)
        return kl_buf_append(out, "null", 4);
    return encode_cell(v.doc, v.cell, out, 0);
}
