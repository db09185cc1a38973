/* Kubernetes protobuf bodies to JSON (see proto.h for the rules). The decoder walks the wire
 * format with the generated message table (proto_desc.c) and writes JSON text directly. */
#include "apiserver/proto.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/json.h"

#include "apiserver/proto_int.h"

/* Wire types. */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

typedef struct wval {
    int wt;
    uint64_t u;       /* VARINT, I64, I32 */
    const uint8_t *b; /* LEN */
    size_t n;
} wval_t;

/* One step of the path to the value being decoded: a member name or an array index. */
typedef struct step {
    const char *name; /* NULL: index */
    size_t index;
} step_t;

#define MAX_STEPS (2 * KL_PROTO_MAX_DEPTH + 8)

typedef struct dec {
    kl_buf_t *out;
    kl_errinfo_t *err;
    int depth;
    size_t nsteps; /* may exceed MAX_STEPS: the extra steps are not recorded */
    step_t steps[MAX_STEPS];
} dec_t;

/* ---- Errors and the path ----------------------------------------------------------------- */

static int fail(dec_t *d, const char *fmt, ...) KL_PRINTF(2, 3);

static int fail(dec_t *d, const char *fmt, ...)
{
    char what[384], path[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    /* The path is written out only here, on failure. */
    size_t len = 0;
    path[0] = '\0';
    size_t n = d->nsteps < MAX_STEPS ? d->nsteps : MAX_STEPS;
    for (size_t i = 0; i < n && len + 1 < sizeof(path); i++) {
        int w =
            d->steps[i].name
                ? snprintf(path + len, sizeof(path) - len, "%s%s", len ? "." : "", d->steps[i].name)
                : snprintf(path + len, sizeof(path) - len, "[%zu]", d->steps[i].index);
        if (w < 0)
            break;
        len = len + (size_t)w < sizeof(path) ? len + (size_t)w : sizeof(path) - 1;
    }
    if (len)
        return kl_err(d->err, KL_EBADREQUEST, "invalid protobuf at %s: %s", path, what);
    return kl_err(d->err, KL_EBADREQUEST, "invalid protobuf: %s", what);
}

static int out_fail(dec_t *d, int rc)
{
    if (rc == KL_ETOOBIG)
        return kl_err(d->err, KL_ETOOBIG, "the JSON form of the body exceeds %zu bytes",
                      d->out->max);
    return kl_err(d->err, rc, "%s", kl_strerror(rc));
}

static void dec_init(dec_t *d, kl_buf_t *out, kl_errinfo_t *err)
{
    d->out = out;
    d->err = err;
    d->depth = 0;
    d->nsteps = 0;
}

static size_t path_push(dec_t *d, const char *name)
{
    size_t old = d->nsteps;
    if (*name == '\0')
        return old;
    if (d->nsteps < MAX_STEPS)
        d->steps[d->nsteps] = (step_t){name, 0};
    d->nsteps++;
    return old;
}

static size_t path_index(dec_t *d, size_t i)
{
    size_t old = d->nsteps;
    if (d->nsteps < MAX_STEPS)
        d->steps[d->nsteps] = (step_t){NULL, i};
    d->nsteps++;
    return old;
}

static void path_pop(dec_t *d, size_t old)
{
    d->nsteps = old;
}

/* ---- Reading the wire format ------------------------------------------------------------- */

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t c = *(*p)++;
        if (shift == 63 && c > 1)
            return -2;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (c < 0x80) {
            *v = x;
            return 0;
        }
    }
    return -2;
}

/* Reads one field. Returns 1 with a field, 0 at the end, or an error. */
static int next_field(dec_t *d, const uint8_t **p, const uint8_t *end, uint32_t *num, wval_t *v)
{
    if (*p >= end)
        return 0;
    uint64_t key;
    int r = get_varint(p, end, &key);
    if (r < 0)
        return fail(d, r == -1 ? "truncated field key" : "field key overflows 64 bits");
    uint64_t n = key >> 3;
    if (n == 0 || n > 0x1fffffff)
        return fail(d, "illegal field number %" PRIu64, n);
    *num = (uint32_t)n;
    v->wt = (int)(key & 7);
    switch (v->wt) {
    case WT_VARINT:
        r = get_varint(p, end, &v->u);
        if (r < 0)
            return fail(d,
                        r == -1 ? "truncated varint in field %u"
                                : "varint overflows 64 bits "
                                  "in field %u",
                        *num);
        return 1;
    case WT_I64:
        if (end - *p < 8)
            return fail(d, "truncated fixed64 in field %u", *num);
        v->u = 0;
        for (int i = 7; i >= 0; i--)
            v->u = (v->u << 8) | (*p)[i];
        *p += 8;
        return 1;
    case WT_I32:
        if (end - *p < 4)
            return fail(d, "truncated fixed32 in field %u", *num);
        v->u = (uint64_t)(*p)[0] | (uint64_t)(*p)[1] << 8 | (uint64_t)(*p)[2] << 16 |
               (uint64_t)(*p)[3] << 24;
        *p += 4;
        return 1;
    case WT_LEN: {
        uint64_t len;
        r = get_varint(p, end, &len);
        if (r < 0)
            return fail(d, "truncated length in field %u", *num);
        if (len > (uint64_t)(end - *p))
            return fail(d, "field %u is %" PRIu64 " bytes long but only %zu remain", *num, len,
                        (size_t)(end - *p));
        v->b = *p;
        v->n = (size_t)len;
        *p += len;
        return 1;
    }
    case WT_SGROUP:
    case WT_EGROUP:
        return fail(d,
                    "field %u uses a protobuf group (wire type %d), which Kubernetes types "
                    "never do",
                    *num, v->wt);
    default:
        return fail(d, "illegal wire type %d in field %u", v->wt, *num);
    }
}

static const kl_pb_field_t *find_field(const kl_pb_msg_t *m, uint32_t num)
{
    size_t lo = 0, hi = m->nfields;
    const kl_pb_field_t *f = &kl__pb_fields[m->first];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (f[mid].number == num)
            return &f[mid];
        if (f[mid].number < num)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int wire_type_of(int type)
{
    switch (type) {
    case KL_PB_DOUBLE:
    case KL_PB_FIXED64:
    case KL_PB_SFIXED64:
        return WT_I64;
    case KL_PB_FLOAT:
    case KL_PB_FIXED32:
    case KL_PB_SFIXED32:
        return WT_I32;
    case KL_PB_STRING:
    case KL_PB_BYTES:
    case KL_PB_MESSAGE:
        return WT_LEN;
    default:
        return WT_VARINT;
    }
}

static bool wire_type_ok(const kl_pb_field_t *f, int wt)
{
    int want = wire_type_of(f->type);
    if (wt == want)
        return true;
    /* Repeated numbers may come packed. */
    return wt == WT_LEN && want != WT_LEN && (f->flags & KL_PBF_REPEATED);
}

/* ---- Writing JSON ------------------------------------------------------------------------ */

static int put(dec_t *d, const void *s, size_t n)
{
    int rc = kl_buf_append(d->out, s, n);
    return rc < 0 ? out_fail(d, rc) : 0;
}

static int puts_(dec_t *d, const char *s)
{
    return put(d, s, strlen(s));
}

static int putc_(dec_t *d, char c)
{
    return put(d, &c, 1);
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD, as encoding/json writes them. */
static int put_string(dec_t *d, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = 0;
    /* Worst case: every byte becomes "\ufffd" (6 bytes). */
    if (n > (SIZE_MAX - 2) / 6)
        return out_fail(d, KL_ETOOBIG);
    char *w = kl_buf_reserve(d->out, n * 6 + 2, &rc);
    if (w == NULL) {
        /* The worst case may not fit although the real text does: go byte by byte. */
        if (rc != KL_ETOOBIG)
            return out_fail(d, rc);
        w = NULL;
    }
    char small[8];
    size_t pos = 0;
#define EMIT(p, len)                                                                               \
    do {                                                                                           \
        if (w) {                                                                                   \
            memcpy(w + pos, (p), (len));                                                           \
            pos += (len);                                                                          \
        } else if ((rc = put(d, (p), (len))) < 0) {                                                \
            return rc;                                                                             \
        }                                                                                          \
    } while (0)
    EMIT("\"", 1);
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            size_t j = i + 1;
            while (j < n && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' && s[j] != '\\')
                j++;
            EMIT(s + i, j - i);
            i = j;
            continue;
        }
        if (c < 0x80) {
            const char *esc = NULL;
            switch (c) {
            case '"':
                esc = "\\\"";
                break;
            case '\\':
                esc = "\\\\";
                break;
            case '\n':
                esc = "\\n";
                break;
            case '\r':
                esc = "\\r";
                break;
            case '\t':
                esc = "\\t";
                break;
            default:
                small[0] = '\\';
                small[1] = 'u';
                small[2] = '0';
                small[3] = '0';
                small[4] = hex[c >> 4];
                small[5] = hex[c & 15];
                EMIT(small, 6);
                i++;
                continue;
            }
            EMIT(esc, 2);
            i++;
            continue;
        }
        /* A multi-byte sequence: validate it (no overlongs, no surrogates, <= U+10FFFF). */
        size_t len = 0;
        uint32_t cp = 0;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        }
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                ok = false;
            else
                cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (ok && ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                   (len == 4 && (cp < 0x10000 || cp > 0x10ffff))))
            ok = false;
        if (!ok) {
            EMIT("\\ufffd", 6);
            i++;
            continue;
        }
        EMIT(s + i, len);
        i += len;
    }
    EMIT("\"", 1);
#undef EMIT
    if (w)
        kl_buf_commit(d->out, pos);
    return 0;
}

/* A member name from the table: plain ASCII that needs no escaping. */
static int put_key(dec_t *d, const char *key, bool *first)
{
    size_t n = strlen(key);
    int rc = 0;
    char *w = kl_buf_reserve(d->out, n + 4, &rc);
    if (w == NULL)
        return out_fail(d, rc);
    size_t o = 0;
    if (!*first)
        w[o++] = ',';
    *first = false;
    w[o++] = '"';
    memcpy(w + o, key, n);
    o += n;
    w[o++] = '"';
    w[o++] = ':';
    kl_buf_commit(d->out, o);
    return 0;
}

static int put_u64_sign(dec_t *d, uint64_t v, bool neg)
{
    char b[24];
    size_t w = sizeof(b);
    do {
        b[--w] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (neg)
        b[--w] = '-';
    return put(d, b + w, sizeof(b) - w);
}

static int put_i64(dec_t *d, int64_t v)
{
    return put_u64_sign(d, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, v < 0);
}

static int put_u64(dec_t *d, uint64_t v)
{
    return put_u64_sign(d, v, false);
}

/* A float as encoding/json writes it: the shortest form that reads back, in %f style between
 * 1e-6 and 1e21 and in exponent style ("1e-07" becomes "1e-7") outside. */
static int put_float(dec_t *d, double v, bool single)
{
    if (isnan(v) || isinf(v))
        return fail(d, "the number %g has no JSON form", v);
    if (v == 0)
        return puts_(d, signbit(v) ? "-0" : "0");
    char digits[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(digits, sizeof(digits), "%.*e", prec - 1, v);
        if (single ? strtof(digits, NULL) == (float)v : strtod(digits, NULL) == v)
            break;
    }
    /* digits is "[-]d.ddde[+-]xx": split into mantissa digits and exponent. */
    char mant[24];
    size_t nm = 0;
    const char *p = digits;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            mant[nm++] = *p;
    int exp = atoi(p + 1);
    while (nm > 1 && mant[nm - 1] == '0')
        nm--;
    double a = fabs(v);
    char outb[64];
    size_t o = 0;
    if (neg)
        outb[o++] = '-';
    if (a < 1e-6 || a >= 1e21) {
        outb[o++] = mant[0];
        if (nm > 1) {
            outb[o++] = '.';
            memcpy(outb + o, mant + 1, nm - 1);
            o += nm - 1;
        }
        o += (size_t)snprintf(outb + o, sizeof(outb) - o, "e%c%d", exp < 0 ? '-' : '+',
                              exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        outb[o++] = '0';
        outb[o++] = '.';
        for (int k = -1; k > exp; k--)
            outb[o++] = '0';
        memcpy(outb + o, mant, nm);
        o += nm;
    } else {
        for (int k = 0; k <= exp || (size_t)k < nm; k++) {
            if (k == exp + 1)
                outb[o++] = '.';
            outb[o++] = (size_t)k < nm ? mant[k] : '0';
        }
    }
    return put(d, outb, o);
}

static int put_base64(dec_t *d, const uint8_t *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t outlen = (n + 2) / 3 * 4 + 2;
    int rc = 0;
    char *w = kl_buf_reserve(d->out, outlen, &rc);
    if (w == NULL)
        return out_fail(d, rc);
    size_t o = 0;
    w[o++] = '"';
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t x = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        w[o++] = tab[x >> 18];
        w[o++] = tab[(x >> 12) & 63];
        w[o++] = tab[(x >> 6) & 63];
        w[o++] = tab[x & 63];
    }
    if (n - i == 1) {
        uint32_t x = (uint32_t)s[i] << 16;
        w[o++] = tab[x >> 18];
        w[o++] = tab[(x >> 12) & 63];
        w[o++] = '=';
        w[o++] = '=';
    } else if (n - i == 2) {
        uint32_t x = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        w[o++] = tab[x >> 18];
        w[o++] = tab[(x >> 12) & 63];
        w[o++] = tab[(x >> 6) & 63];
        w[o++] = '=';
    }
    w[o++] = '"';
    kl_buf_commit(d->out, o);
    return 0;
}

/* ---- Scalars ----------------------------------------------------------------------------- */

static bool scalar_is_zero(int type, const wval_t *v)
{
    if (v->wt == WT_LEN)
        return v->n == 0;
    switch (type) {
    case KL_PB_DOUBLE: /* 0.0 and -0.0 */
        return (v->u << 1) == 0;
    case KL_PB_FLOAT:
        return ((uint32_t)v->u << 1) == 0;
    case KL_PB_INT32:
    case KL_PB_UINT32:
    case KL_PB_SINT32:
    case KL_PB_ENUM:
    case KL_PB_FIXED32:
    case KL_PB_SFIXED32:
        return (uint32_t)v->u == 0;
    default:
        return v->u == 0;
    }
}

static int put_scalar(dec_t *d, int type, const wval_t *v)
{
    switch (type) {
    case KL_PB_STRING:
        return put_string(d, v->b, v->n);
    case KL_PB_BYTES:
        return put_base64(d, v->b, v->n);
    case KL_PB_BOOL:
        return puts_(d, v->u ? "true" : "false");
    case KL_PB_INT32:
    case KL_PB_ENUM:
    case KL_PB_SFIXED32:
        return put_i64(d, (int32_t)(uint32_t)v->u);
    case KL_PB_INT64:
    case KL_PB_SFIXED64:
        return put_i64(d, (int64_t)v->u);
    case KL_PB_UINT32:
    case KL_PB_FIXED32:
        return put_u64(d, (uint32_t)v->u);
    case KL_PB_UINT64:
    case KL_PB_FIXED64:
        return put_u64(d, v->u);
    case KL_PB_SINT32: {
        uint32_t x = (uint32_t)v->u;
        return put_i64(d, (int32_t)((x >> 1) ^ (0u - (x & 1))));
    }
    case KL_PB_SINT64:
        return put_i64(d, (int64_t)((v->u >> 1) ^ (0 - (v->u & 1))));
    case KL_PB_DOUBLE: {
        double x;
        memcpy(&x, &v->u, sizeof(x));
        return put_float(d, x, false);
    }
    case KL_PB_FLOAT: {
        uint32_t bits = (uint32_t)v->u;
        float x;
        memcpy(&x, &bits, sizeof(x));
        return put_float(d, x, true);
    }
    default:
        return fail(d, "unsupported field type %d", type);
    }
}

/* One element of a packed run: reads the next value of the field's type from *p. */
static int packed_next(dec_t *d, int type, const uint8_t **p, const uint8_t *end, wval_t *v)
{
    int wt = wire_type_of(type);
    v->wt = wt;
    if (wt == WT_VARINT) {
        int r = get_varint(p, end, &v->u);
        return r < 0 ? fail(d, "truncated packed varint") : 0;
    }
    size_t n = wt == WT_I64 ? 8 : 4;
    if ((size_t)(end - *p) < n)
        return fail(d, "truncated packed fixed value");
    v->u = 0;
    for (size_t i = n; i-- > 0;)
        v->u = (v->u << 8) | (*p)[i];
    *p += n;
    return 0;
}

/* ---- Messages ---------------------------------------------------------------------------- */

static int put_message(dec_t *d, uint16_t mi, const uint8_t *b, size_t n);
static int put_members(dec_t *d, uint16_t mi, const uint8_t *b, size_t n, bool *first);

/* The bytes of a singular message field: one occurrence as is; several are concatenated, which
 * protobuf defines as merging them. *owned is set to a buffer the caller frees. */
static int gather(dec_t *d, uint32_t num, const uint8_t *b, size_t n, size_t count,
                  const uint8_t **out, size_t *outn, uint8_t **owned)
{
    *owned = NULL;
    const uint8_t *p = b, *end = b + n;
    uint32_t fn;
    wval_t v;
    int r;
    if (count <= 1) {
        while ((r = next_field(d, &p, end, &fn, &v)) > 0) {
            if (fn == num && v.wt == WT_LEN) {
                *out = v.b;
                *outn = v.n;
                return 0;
            }
        }
        if (r < 0)
            return r;
        *out = (const uint8_t *)"";
        *outn = 0;
        return 0;
    }
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return kl_err(d->err, KL_ENOMEM, "out of memory");
    size_t len = 0;
    while ((r = next_field(d, &p, end, &fn, &v)) > 0) {
        if (fn == num && v.wt == WT_LEN) {
            memcpy(buf + len, v.b, v.n);
            len += v.n;
        }
    }
    if (r < 0) {
        free(buf);
        return r;
    }
    *owned = buf;
    *out = buf;
    *outn = len;
    return 0;
}

/* The last occurrence of field num (singular reads), and how many there were. */
static int last_of(dec_t *d, const uint8_t *b, size_t n, uint32_t num, wval_t *last, size_t *count)
{
    const uint8_t *p = b, *end = b + n;
    uint32_t fn = 0;
    wval_t v;
    int r;
    *count = 0;
    while ((r = next_field(d, &p, end, &fn, &v)) > 0) {
        if (fn == num) {
            *last = v;
            (*count)++;
        }
    }
    return r;
}

static int enter(dec_t *d)
{
    if (++d->depth > KL_PROTO_MAX_DEPTH)
        return fail(d, "messages nested deeper than %d levels", KL_PROTO_MAX_DEPTH);
    return 0;
}

/* meta/v1 Time and MicroTime: {seconds = 1, nanos = 2}. */
static int put_time(dec_t *d, const uint8_t *b, size_t n, bool micro)
{
    if (n == 0)
        return puts_(d, "null");
    wval_t v = {0};
    size_t c;
    int rc = last_of(d, b, n, 1, &v, &c);
    if (rc < 0)
        return rc;
    int64_t secs = c && v.wt == WT_VARINT ? (int64_t)v.u : 0;
    memset(&v, 0, sizeof(v));
    rc = last_of(d, b, n, 2, &v, &c);
    if (rc < 0)
        return rc;
    int64_t nanos = c && v.wt == WT_VARINT ? (int32_t)(uint32_t)v.u : 0;
    /* time.Unix normalises nanoseconds outside [0, 1e9). */
    if (nanos < 0 || nanos >= 1000000000) {
        int64_t q = nanos / 1000000000;
        nanos -= q * 1000000000;
        if (nanos < 0) {
            nanos += 1000000000;
            q--;
        }
        secs += q;
    }
    /* Go's zero time (0001-01-01T00:00:00Z) encodes as null. */
    if (secs == -62135596800 && nanos == 0)
        return puts_(d, "null");
    if (secs < -62135596800 || secs > 253402300799)
        return fail(d, "time %" PRId64 "s is outside the years 1 to 9999", secs);
    /* Days since the epoch to a civil date (proleptic Gregorian). */
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t mon = mp < 10 ? mp + 3 : mp - 9;
    if (mon <= 2)
        y++;
    char buf[48];
    int len;
    if (micro)
        len = snprintf(buf, sizeof(buf), "\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"", (int)y,
                       (int)mon, (int)day, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60),
                       (int)(nanos / 1000));
    else
        len = snprintf(buf, sizeof(buf), "\"%04d-%02d-%02dT%02d:%02d:%02dZ\"", (int)y, (int)mon,
                       (int)day, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    return put(d, buf, (size_t)len);
}

/* put_duration's writers: digits are written backwards, ending at buf[w]; each returns the
 * new start. */
static size_t digits_back(char *buf, size_t w, uint64_t v)
{
    do {
        buf[--w] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return w;
}

/* The prec lowest digits of *u as a fraction without trailing zeros ("." included, nothing
 * when they are all zero); *u keeps the rest. */
static size_t fraction_back(char *buf, size_t w, uint64_t *u, int prec)
{
    bool print = false;
    for (int i = 0; i < prec; i++) {
        unsigned digit = (unsigned)(*u % 10);
        print = print || digit != 0;
        if (print)
            buf[--w] = (char)('0' + digit);
        *u /= 10;
    }
    if (print)
        buf[--w] = '.';
    return w;
}

/* Go's time.Duration.String(). */
static int put_duration(dec_t *d, int64_t ns)
{
    char buf[40];
    size_t w = sizeof(buf);
    buf[--w] = '"';
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    bool neg = ns < 0;
    if (u < 1000000000ull) {
        /* Less than a second: ns, µs or ms with a fraction. */
        int prec = 0;
        const char *unit;
        if (u == 0) {
            return puts_(d, "\"0s\"");
        } else if (u < 1000ull) {
            unit = "ns";
        } else if (u < 1000000ull) {
            prec = 3;
            unit = "\xc2\xb5s";
        } else {
            prec = 6;
            unit = "ms";
        }
        size_t ul = strlen(unit);
        w -= ul;
        memcpy(buf + w, unit, ul);
        w = fraction_back(buf, w, &u, prec);
        w = digits_back(buf, w, u);
    } else {
        buf[--w] = 's';
        w = fraction_back(buf, w, &u, 9);
        w = digits_back(buf, w, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            w = digits_back(buf, w, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--w] = 'h';
                w = digits_back(buf, w, u);
            }
        }
    }
    if (neg)
        buf[--w] = '-';
    buf[--w] = '"';
    return put(d, buf + w, sizeof(buf) - w);
}

/* IntOrString {type = 1, intVal = 2, strVal = 3}. */
static int intstr_read(dec_t *d, const uint8_t *b, size_t n, int64_t *type, int32_t *iv, wval_t *sv)
{
    wval_t v = {0};
    size_t c;
    int rc = last_of(d, b, n, 1, &v, &c);
    *type = rc == 0 && c && v.wt == WT_VARINT ? (int64_t)v.u : 0;
    if (rc == 0)
        rc = last_of(d, b, n, 2, &v, &c);
    *iv = rc == 0 && c && v.wt == WT_VARINT ? (int32_t)(uint32_t)v.u : 0;
    memset(sv, 0, sizeof(*sv));
    sv->wt = WT_LEN;
    sv->b = (const uint8_t *)"";
    if (rc == 0) {
        rc = last_of(d, b, n, 3, &v, &c);
        if (rc == 0 && c && v.wt == WT_LEN)
            *sv = v;
    }
    return rc;
}

static int put_intstr(dec_t *d, const uint8_t *b, size_t n)
{
    int64_t type;
    int32_t iv;
    wval_t sv;
    int rc = intstr_read(d, b, n, &type, &iv, &sv);
    if (rc < 0)
        return rc;
    if (type == 0)
        return put_i64(d, iv);
    if (type == 1)
        return put_string(d, sv.b, sv.n);
    return fail(d, "IntOrString has type %" PRId64 ", which is neither 0 (int) nor 1 (string)",
                type);
}

static int put_rawjson(dec_t *d, const uint8_t *b, size_t n)
{
    wval_t v = {0};
    size_t c;
    int rc = last_of(d, b, n, 1, &v, &c);
    if (rc < 0)
        return rc;
    if (c == 0 || v.wt != WT_LEN || v.n == 0)
        return puts_(d, "null");
    /* It goes into the output verbatim, so it has to be exactly one JSON value. */
    kl_json_t *j = NULL;
    kl_errinfo_t jerr;
    kl_parse_opts_t po = {.flags = KL_PARSE_ALLOW_DUPLICATE_KEYS};
    rc = kl_json_parse((const char *)v.b, v.n, &po, &j, &jerr);
    kl_json_free(j);
    if (rc == KL_ENOMEM)
        return kl_err(d->err, KL_ENOMEM, "out of memory");
    if (rc < 0)
        return fail(d, "embedded raw JSON is not valid: %s", jerr.msg);
    /* encoding/json compacts what a Marshaler returns: drop the blanks outside strings. */
    char *w = kl_buf_reserve(d->out, v.n, &rc);
    if (w == NULL)
        return out_fail(d, rc);
    size_t o = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < v.n; i++) {
        char ch = (char)v.b[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (ch == '\\')
                esc = true;
            else if (ch == '"')
                in_str = false;
        } else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            continue;
        } else if (ch == '"') {
            in_str = true;
        }
        w[o++] = ch;
    }
    kl_buf_commit(d->out, o);
    return 0;
}

/* The occurrences of repeated field f as a JSON array. */
static int put_array_of(dec_t *d, const kl_pb_field_t *f, const uint8_t *b, size_t n)
{
    int rc = putc_(d, '[');
    const uint8_t *p = b, *end = b + n;
    uint32_t fn;
    wval_t v;
    size_t idx = 0;
    while (rc == 0 && (rc = next_field(d, &p, end, &fn, &v)) > 0) {
        rc = 0;
        if (fn != f->number)
            continue;
        if (!wire_type_ok(f, v.wt))
            return fail(d, "field %s (%u) has wire type %d", f->json, f->number, v.wt);
        if (f->type == KL_PB_MESSAGE) {
            if (idx++)
                rc = putc_(d, ',');
            size_t old = path_index(d, idx - 1);
            if (rc == 0)
                rc = put_message(d, f->msg, v.b, v.n);
            path_pop(d, old);
        } else if (v.wt == WT_LEN && wire_type_of(f->type) != WT_LEN) {
            const uint8_t *q = v.b, *qend = v.b + v.n;
            while (rc == 0 && q < qend) {
                wval_t e;
                rc = packed_next(d, f->type, &q, qend, &e);
                if (rc == 0 && idx++)
                    rc = putc_(d, ',');
                if (rc == 0)
                    rc = put_scalar(d, f->type, &e);
            }
        } else {
            if (idx++)
                rc = putc_(d, ',');
            if (rc == 0)
                rc = put_scalar(d, f->type, &v);
        }
    }
    if (rc < 0)
        return rc;
    return putc_(d, ']');
}

typedef struct map_item {
    const uint8_t *key;
    size_t keylen;
    size_t seq;
    wval_t val;
    size_t nval;          /* occurrences of the value field */
    const uint8_t *entry; /* the entry message, to gather a merged value */
    size_t entryn;
} map_item_t;

static int cmp_item(const void *a, const void *b)
{
    const map_item_t *x = a, *y = b;
    size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
    int c = memcmp(x->key, y->key, n);
    if (c == 0 && x->keylen != y->keylen)
        c = x->keylen < y->keylen ? -1 : 1;
    if (c == 0)
        c = x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
    return c;
}

/* A map<string, V> field as a JSON object with sorted keys (encoding/json sorts them); for a key
 * given twice the last entry wins, as a Go map keeps it. */
static int put_map(dec_t *d, const kl_pb_field_t *f, const uint8_t *b, size_t n, size_t count)
{
    const kl_pb_msg_t *em = &kl__pb_msgs[f->msg];
    const kl_pb_field_t *vf = find_field(em, 2);
    map_item_t small[16];
    map_item_t *items = small;
    if (count > sizeof(small) / sizeof(small[0]))
        items = malloc(count * sizeof(*items));
    if (items == NULL)
        return kl_err(d->err, KL_ENOMEM, "out of memory");
    memset(items, 0, (count ? count : 1) * sizeof(*items));
    size_t ni = 0;
    const uint8_t *p = b, *end = b + n;
    uint32_t fn;
    wval_t v;
    int rc;
    while ((rc = next_field(d, &p, end, &fn, &v)) > 0) {
        if (fn != f->number)
            continue;
        if (v.wt != WT_LEN || ni == count) {
            rc = fail(d, "map field %s (%u) has wire type %d", f->json, f->number, v.wt);
            break;
        }
        map_item_t *it = &items[ni];
        it->seq = ni++;
        it->key = (const uint8_t *)"";
        it->entry = v.b;
        it->entryn = v.n;
        const uint8_t *q = v.b, *qend = v.b + v.n;
        uint32_t en;
        wval_t ev;
        while ((rc = next_field(d, &q, qend, &en, &ev)) > 0) {
            if (en == 1) {
                if (ev.wt != WT_LEN) {
                    rc = fail(d, "map key of %s has wire type %d", f->json, ev.wt);
                    break;
                }
                it->key = ev.b;
                it->keylen = ev.n;
            } else if (en == 2 && vf) {
                if (!wire_type_ok(vf, ev.wt)) {
                    rc = fail(d, "map value of %s has wire type %d", f->json, ev.wt);
                    break;
                }
                it->val = ev;
                it->nval++;
            }
        }
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        if (items != small)
            free(items);
        return rc;
    }
    qsort(items, ni, sizeof(*items), cmp_item);
    rc = putc_(d, '{');
    bool first = true;
    for (size_t i = 0; rc == 0 && i < ni; i++) {
        if (i + 1 < ni && items[i].keylen == items[i + 1].keylen &&
            memcmp(items[i].key, items[i + 1].key, items[i].keylen) == 0)
            continue; /* a later entry has the same key */
        map_item_t *it = &items[i];
        if (!first)
            rc = putc_(d, ',');
        first = false;
        if (rc == 0)
            rc = put_string(d, it->key, it->keylen);
        if (rc == 0)
            rc = putc_(d, ':');
        if (rc < 0)
            break;
        if (vf == NULL) {
            rc = puts_(d, "null");
        } else if (vf->type == KL_PB_MESSAGE) {
            const uint8_t *mb;
            size_t mn;
            uint8_t *owned = NULL;
            rc = gather(d, 2, it->entry, it->entryn, it->nval, &mb, &mn, &owned);
            if (rc == 0)
                rc = put_message(d, vf->msg, mb, mn);
            free(owned);
        } else if (it->nval == 0) {
            /* Absent value: the type's zero. */
            wval_t z = {.wt = wire_type_of(vf->type), .b = (const uint8_t *)"", .n = 0};
            rc = put_scalar(d, vf->type, &z);
        } else {
            rc = put_scalar(d, vf->type, &it->val);
        }
    }
    if (items != small)
        free(items);
    if (rc < 0)
        return rc;
    return putc_(d, '}');
}

typedef struct span {
    size_t count;
    size_t from, to; /* byte range holding every occurrence */
    wval_t last;     /* the last occurrence */
} span_t;

/* The members of a plain message into the current object. */
static int put_members(dec_t *d, uint16_t mi, const uint8_t *b, size_t n, bool *first)
{
    const kl_pb_msg_t *m = &kl__pb_msgs[mi];
    const kl_pb_field_t *fields = &kl__pb_fields[m->first];
    span_t spans[KL_PB_MAX_FIELDS];
    uint64_t present = 0; /* bit i: fields[i] occurs; spans[i] is valid */
    /* Pass 1: which fields are present, and where. */
    const uint8_t *p = b, *end = b + n;
    uint32_t fn;
    wval_t v;
    int rc;
    while (1) {
        const uint8_t *start = p;
        rc = next_field(d, &p, end, &fn, &v);
        if (rc <= 0)
            break;
        const kl_pb_field_t *f = find_field(m, fn);
        if (f == NULL)
            continue; /* unknown field: skipped */
        if (!wire_type_ok(f, v.wt)) {
            size_t old = path_push(d, f->json);
            rc = fail(d, "field %u has wire type %d, want %d", fn, v.wt, wire_type_of(f->type));
            path_pop(d, old);
            return rc;
        }
        size_t i = (size_t)(f - fields);
        span_t *s = &spans[i];
        if (!(present & (uint64_t)1 << i)) {
            present |= (uint64_t)1 << i;
            s->count = 0;
            s->from = (size_t)(start - b);
        }
        s->count++;
        s->to = (size_t)(p - b);
        s->last = v;
    }
    if (rc < 0)
        return rc;
    /* Pass 2: in the Go struct's order. */
    const uint8_t *order = &kl__pb_order[m->first];
    for (uint32_t k = 0; present && k < m->nfields; k++) {
        uint32_t i = order[k];
        if (!(present & (uint64_t)1 << i))
            continue;
        present &= ~((uint64_t)1 << i);
        const kl_pb_field_t *f = &fields[i];
        const span_t *s = &spans[i];
        const uint8_t *sb = b + s->from;
        size_t sn = s->to - s->from;
        size_t old = path_push(d, f->json);
        if (f->flags & KL_PBF_MAP) {
            rc = put_key(d, f->json, first);
            if (rc == 0)
                rc = put_map(d, f, sb, sn, s->count);
        } else if (f->flags & KL_PBF_REPEATED) {
            rc = put_key(d, f->json, first);
            if (rc == 0)
                rc = put_array_of(d, f, sb, sn);
        } else if (f->type == KL_PB_MESSAGE) {
            const uint8_t *mb;
            size_t mn;
            uint8_t *owned = NULL;
            rc = 0;
            if (s->count == 1) {
                mb = s->last.b;
                mn = s->last.n;
            } else {
                rc = gather(d, f->number, sb, sn, s->count, &mb, &mn, &owned);
            }
            const kl_pb_msg_t *sub = &kl__pb_msgs[f->msg];
            bool skip = false;
            if (rc == 0 && sub->special == KL_PBS_INTSTR &&
                (f->flags & (KL_PBF_OMITEMPTY | KL_PBF_PTR)) == KL_PBF_OMITEMPTY) {
                int64_t type;
                int32_t iv;
                wval_t sv;
                rc = intstr_read(d, mb, mn, &type, &iv, &sv);
                skip = type == 0 && iv == 0;
            }
            if (rc == 0 && !skip) {
                if ((f->flags & KL_PBF_INLINE) && sub->special == KL_PBS_NONE) {
                    rc = enter(d);
                    if (rc == 0)
                        rc = put_members(d, f->msg, mb, mn, first);
                    d->depth--;
                } else {
                    rc = put_key(d, f->json, first);
                    if (rc == 0)
                        rc = put_message(d, f->msg, mb, mn);
                }
            }
            free(owned);
        } else {
            const wval_t last = s->last;
            bool omit = (f->flags & (KL_PBF_OMITEMPTY | KL_PBF_PTR)) == KL_PBF_OMITEMPTY &&
                        scalar_is_zero(f->type, &last);
            if (rc == 0 && !omit) {
                rc = put_key(d, f->json, first);
                if (rc == 0)
                    rc = put_scalar(d, f->type, &last);
            }
        }
        path_pop(d, old);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The field `num` of a special message: its descriptor (for the message index). */
static const kl_pb_field_t *special_field(uint16_t mi, uint32_t num)
{
    return find_field(&kl__pb_msgs[mi], num);
}

static size_t count_of(dec_t *d, const uint8_t *b, size_t n, uint32_t num, int *rc)
{
    wval_t v;
    size_t c = 0;
    *rc = last_of(d, b, n, num, &v, &c);
    return c;
}

/* apiextensions JSONSchemaPropsOrArray / OrBool / OrStringArray. */
static int put_schema_union(dec_t *d, uint16_t mi, const uint8_t *b, size_t n)
{
    int special = kl__pb_msgs[mi].special;
    int rc = 0;
    uint32_t schema_num = special == KL_PBS_SCHEMA_OR_BOOL ? 2 : 1;
    uint32_t list_num = special == KL_PBS_SCHEMA_OR_BOOL ? 0 : 2;
    if (list_num) {
        size_t c = count_of(d, b, n, list_num, &rc);
        if (rc < 0)
            return rc;
        if (c > 0) {
            const kl_pb_field_t *lf = special_field(mi, list_num);
            if (lf == NULL)
                return fail(d, "no descriptor for field %u", list_num);
            return put_array_of(d, lf, b, n);
        }
    }
    size_t sc = count_of(d, b, n, schema_num, &rc);
    if (rc < 0)
        return rc;
    if (sc > 0) {
        const kl_pb_field_t *sf = special_field(mi, schema_num);
        if (sf == NULL)
            return fail(d, "no descriptor for field %u", schema_num);
        const uint8_t *mb;
        size_t mn;
        uint8_t *owned = NULL;
        rc = gather(d, schema_num, b, n, sc, &mb, &mn, &owned);
        if (rc == 0)
            rc = put_message(d, sf->msg, mb, mn);
        free(owned);
        return rc;
    }
    if (special == KL_PBS_SCHEMA_OR_BOOL) {
        wval_t v = {0};
        size_t c;
        rc = last_of(d, b, n, 1, &v, &c);
        if (rc < 0)
            return rc;
        return puts_(d, c && v.u ? "true" : "false");
    }
    return puts_(d, "null");
}

static int put_message(dec_t *d, uint16_t mi, const uint8_t *b, size_t n)
{
    int rc = enter(d);
    if (rc < 0) {
        d->depth--;
        return rc;
    }
    const kl_pb_msg_t *m = &kl__pb_msgs[mi];
    switch (m->special) {
    case KL_PBS_TIME:
    case KL_PBS_MICROTIME:
        rc = put_time(d, b, n, m->special == KL_PBS_MICROTIME);
        break;
    case KL_PBS_DURATION: {
        wval_t v = {0};
        size_t c;
        rc = last_of(d, b, n, 1, &v, &c);
        if (rc == 0)
            rc = put_duration(d, c && v.wt == WT_VARINT ? (int64_t)v.u : 0);
        break;
    }
    case KL_PBS_QUANTITY: {
        wval_t v = {0};
        size_t c;
        rc = last_of(d, b, n, 1, &v, &c);
        if (rc == 0)
            rc = c && v.wt == WT_LEN ? put_string(d, v.b, v.n) : puts_(d, "\"0\"");
        break;
    }
    case KL_PBS_INTSTR:
        rc = put_intstr(d, b, n);
        break;
    case KL_PBS_RAWJSON:
        rc = put_rawjson(d, b, n);
        break;
    case KL_PBS_STRARRAY: {
        size_t c = count_of(d, b, n, 1, &rc);
        const kl_pb_field_t *f = special_field(mi, 1);
        if (rc == 0)
            rc = c == 0 || f == NULL ? puts_(d, "null") : put_array_of(d, f, b, n);
        break;
    }
    case KL_PBS_SCHEMA_OR_ARRAY:
    case KL_PBS_SCHEMA_OR_BOOL:
    case KL_PBS_SCHEMA_OR_STRARRAY:
        rc = put_schema_union(d, mi, b, n);
        break;
    default: {
        bool first = true;
        rc = putc_(d, '{');
        if (rc == 0)
            rc = put_members(d, mi, b, n, &first);
        if (rc == 0)
            rc = putc_(d, '}');
        break;
    }
    }
    d->depth--;
    return rc;
}

/* ---- Kinds and the envelope -------------------------------------------------------------- */

static int cmp_kind(const char *av, const char *kind, const kl_pb_kind_t *k)
{
    int c = strcmp(av, k->api_version);
    return c ? c : strcmp(kind, k->kind);
}

static int find_kind(const char *av, const char *kind)
{
    size_t lo = 0, hi = kl__pb_nkinds;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp_kind(av, kind, &kl__pb_kinds[mid]);
        if (c == 0)
            return kl__pb_kinds[mid].msg;
        if (c > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* Kinds every group version has (DeleteOptions). */
    for (size_t i = 0; i < kl__pb_nkinds && kl__pb_kinds[i].api_version[0] == '*'; i++)
        if (strcmp(kl__pb_kinds[i].kind, kind) == 0)
            return kl__pb_kinds[i].msg;
    return -1;
}

int kl__proto_named_to_json(const char *msg_name, const void *msg, size_t len, kl_buf_t *out,
                            kl_errinfo_t *err)
{
    for (size_t i = 0; i < kl__pb_nmsgs; i++) {
        if (strcmp(kl__pb_msgs[i].name, msg_name) == 0) {
            dec_t d;
            dec_init(&d, out, err);
            return put_message(&d, (uint16_t)i, msg, len);
        }
    }
    return kl_err(err, KL_ENOTFOUND, "no message %s", msg_name);
}

/* Copies a typeMeta string, refusing ones that do not fit or hold odd bytes. */
static int copy_meta(dec_t *d, char *dst, size_t cap, const wval_t *v, const char *what)
{
    if (v->n >= cap)
        return fail(d, "typeMeta.%s is longer than %zu bytes", what, cap - 1);
    for (size_t i = 0; i < v->n; i++)
        if (v->b[i] < 0x21 || v->b[i] > 0x7e || v->b[i] == '"' || v->b[i] == '\\')
            return fail(d, "typeMeta.%s holds a byte 0x%02x that no apiVersion or kind has", what,
                        v->b[i]);
    memcpy(dst, v->b, v->n);
    dst[v->n] = '\0';
    return 0;
}

int kl_proto_to_json(const void *body, size_t len, const char *def_api_version,
                     const char *def_kind, kl_buf_t *out, kl_proto_type_t *type, kl_errinfo_t *err)
{
    const uint8_t *b = body;
    dec_t d;
    dec_init(&d, out, err);
    if (len < 4 || memcmp(b, KL_PROTO_MAGIC, 4) != 0)
        return kl_err(err, KL_EBADREQUEST,
                      "provided data does not appear to be a protobuf message, expected prefix "
                      "[107 56 115 0]");
    if (len == 4)
        return kl_err(err, KL_EBADREQUEST, "empty body");
    b += 4;
    len -= 4;
    /* runtime.Unknown {typeMeta = 1, raw = 2, contentEncoding = 3, contentType = 4}. */
    kl_proto_type_t t = {{0}, {0}};
    const uint8_t *raw = (const uint8_t *)"";
    size_t rawn = 0;
    const uint8_t *p = b, *end = b + len;
    uint32_t fn;
    wval_t v;
    int rc;
    while ((rc = next_field(&d, &p, end, &fn, &v)) > 0) {
        if ((fn == 1 || fn == 2) && v.wt != WT_LEN)
            return fail(&d, "runtime.Unknown field %u has wire type %d", fn, v.wt);
        if (fn == 2) {
            raw = v.b;
            rawn = v.n;
        } else if (fn == 1) {
            const uint8_t *q = v.b, *qend = v.b + v.n;
            uint32_t tn;
            wval_t tv;
            while ((rc = next_field(&d, &q, qend, &tn, &tv)) > 0) {
                if ((tn == 1 || tn == 2) && tv.wt != WT_LEN)
                    return fail(&d, "typeMeta field %u has wire type %d", tn, tv.wt);
                if (tn == 1)
                    rc = copy_meta(&d, t.api_version, sizeof(t.api_version), &tv, "apiVersion");
                else if (tn == 2)
                    rc = copy_meta(&d, t.kind, sizeof(t.kind), &tv, "kind");
                if (rc < 0)
                    return rc;
            }
            if (rc < 0)
                return rc;
        }
    }
    if (rc < 0)
        return rc;
    /* Empty type information comes from the endpoint, as kube-apiserver defaults it. */
    if (t.kind[0] == '\0' && def_kind)
        snprintf(t.kind, sizeof(t.kind), "%s", def_kind);
    if (t.api_version[0] == '\0' && def_api_version)
        snprintf(t.api_version, sizeof(t.api_version), "%s", def_api_version);
    if (t.kind[0] == '\0')
        return kl_err(err, KL_EBADREQUEST, "Object 'Kind' is missing in the protobuf typeMeta");
    if (t.api_version[0] == '\0')
        return kl_err(err, KL_EBADREQUEST,
                      "Object 'apiVersion' is missing in the protobuf typeMeta");
    int mi = find_kind(t.api_version, t.kind);
    if (mi < 0)
        return kl_err(err, KL_ENOTFOUND, "no kind \"%s\" is registered for version \"%s\"", t.kind,
                      t.api_version);
    if (type)
        *type = t;
    rc = puts_(&d, "{\"kind\":\"");
    if (rc == 0)
        rc = puts_(&d, t.kind);
    if (rc == 0)
        rc = puts_(&d, "\",\"apiVersion\":\"");
    if (rc == 0)
        rc = puts_(&d, t.api_version);
    if (rc == 0)
        rc = putc_(&d, '"');
    bool first = false;
    if (rc == 0 && kl__pb_msgs[mi].special == KL_PBS_NONE) {
        rc = enter(&d);
        if (rc == 0)
            rc = put_members(&d, (uint16_t)mi, raw, rawn, &first);
        d.depth--;
    }
    if (rc == 0)
        rc = putc_(&d, '}');
    return rc;
}
