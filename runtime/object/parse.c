/* JSON text -> compact document, in one pass with an explicit stack (no recursion), validating
 * UTF-8 and keeping integers exact. Errors report line and column, computed from the byte
 * offset only when an error happens. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "object/obj_int.h"

typedef struct parser {
    const char *start;
    const char *p;
    const char *end;
    kl_builder_t *b;
    kl_errinfo_t *err;
    /* managedFields stripping: meta_state is 1 after the root's "metadata" key, 2 inside the
     * root.metadata object; strip_* is the rollback point of a managedFields member. */
    int meta_state;
    int strip_active;
    size_t strip_cont, strip_strs;
    uint32_t strip_ncells;
} parser_t;

static kl_key_t key_metadata, key_managed_fields;
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static void init_keys(void)
{
    key_metadata = kl_key_intern("metadata", 8);
    key_managed_fields = kl_key_intern("managedFields", 13);
}

static int fail_at(parser_t *ps, const char *at, int code, const char *fmt, ...) KL_PRINTF(4, 5);

static int fail_at(parser_t *ps, const char *at, int code, const char *fmt, ...)
{
    int line = 1, col = 1;
    if (at > ps->end)
        at = ps->end;
    for (const char *q = ps->start; q < at; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)*q & 0xc0) != 0x80) {
            col++;
        }
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return kl_err_at(ps->err, code, line, col, "line %d, column %d: %s", line, col, msg);
}

static int fail_code(parser_t *ps, const char *at, int rc)
{
    switch (rc) {
    case KL_ETOODEEP:
        return fail_at(ps, at, rc, "nesting too deep");
    case KL_ETOOBIG:
        return fail_at(ps, at, rc, "value exceeds a size limit");
    case KL_ENOMEM:
        return fail_at(ps, at, rc, "out of memory");
    default:
        return fail_at(ps, at, rc, "%s", kl_strerror(rc));
    }
}

static inline void skip_ws(parser_t *ps)
{
    const char *p = ps->p, *e = ps->end;
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    ps->p = p;
}

/* Validates one UTF-8 sequence starting at p (first byte >= 0x80); returns its length or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *e)
{
    unsigned c = p[0];
    if (c >= 0xc2 && c <= 0xdf) {
        if (e - p >= 2 && (p[1] & 0xc0) == 0x80)
            return 2;
        return 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        if (e - p < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && p[1] < 0xa0)
            return 0; /* overlong */
        if (c == 0xed && p[1] >= 0xa0)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (e - p < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && p[1] < 0x90)
            return 0;
        if (c == 0xf4 && p[1] >= 0x90)
            return 0;
        return 4;
    }
    return 0;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Scans a string body after the opening quote. On success *end points at the closing quote and
 * *escapes says whether decoding is needed. */
static int scan_string(parser_t *ps, const char **end, int *escapes)
{
    const unsigned char *p = (const unsigned char *)ps->p;
    const unsigned char *e = (const unsigned char *)ps->end;
    int esc = 0;
    for (;;) {
        while (p < e && *p >= 0x20 && *p != '"' && *p != '\\' && *p < 0x80)
            p++;
        if (p >= e)
            return fail_at(ps, ps->end, KL_ESYNTAX, "unterminated string");
        unsigned c = *p;
        if (c == '"')
            break;
        if (c == '\\') {
            esc = 1;
            if (p + 1 >= e)
                return fail_at(ps, (const char *)p, KL_ESYNTAX, "unterminated string");
            p += 2;
            continue;
        }
        if (c < 0x20)
            return fail_at(ps, (const char *)p, KL_ESYNTAX,
                           "control character in string (escape it)");
        size_t n = utf8_seq(p, e);
        if (n == 0)
            return fail_at(ps, (const char *)p, KL_EUTF8, "invalid UTF-8 in string");
        p += n;
    }
    *end = (const char *)p;
    *escapes = esc;
    return 0;
}

/* Decodes escapes of [s, e) into out (which has room for e - s bytes: decoding never grows).
 * Returns the decoded length or a negative code. */
static int64_t unescape(parser_t *ps, const char *s, const char *e, char *out)
{
    char *o = out;
    while (s < e) {
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        const char *at = s;
        s++;
        switch (*s++) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '/':
            *o++ = '/';
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            unsigned cp;
            if (e - s < 4 || hex4(s, &cp) < 0)
                return fail_at(ps, at, KL_ESYNTAX, "bad \\u escape");
            s += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned lo;
                if (e - s >= 6 && s[0] == '\\' && s[1] == 'u' && hex4(s + 2, &lo) == 0 &&
                    lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    s += 6;
                } else {
                    cp = 0xfffd; /* lone surrogate, replaced as Go's encoding/json does */
                }
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                cp = 0xfffd;
            }
            o += put_utf8(o, cp);
            break;
        }
        default:
            return fail_at(ps, at, KL_ESYNTAX, "invalid escape in string");
        }
    }
    return o - out;
}

/* Parses a string (ps->p after the quote) as a value or, with is_key, as an object key. */
static int parse_string(parser_t *ps, int is_key)
{
    const char *end = NULL;
    int esc = 0;
    int rc = scan_string(ps, &end, &esc);
    if (rc < 0)
        return rc;
    const char *s = ps->p;
    size_t raw = (size_t)(end - s);
    kl_builder_t *b = ps->b;
    if (raw > b->lim.max_string)
        return fail_at(ps, s, KL_ETOOBIG, "string longer than the limit");
    ps->p = end + 1;
    if (!esc) {
        rc = is_key ? kl__builder_key(b, s, raw) : kl__builder_string(b, s, raw);
        return rc < 0 ? fail_code(ps, s, rc) : 0;
    }
    if (is_key) {
        char small[256];
        char *tmp = raw <= sizeof(small) ? small : malloc(raw);
        if (tmp == NULL)
            return fail_code(ps, s, KL_ENOMEM);
        int64_t n = unescape(ps, s, end, tmp);
        rc = n < 0 ? (int)n : kl__builder_key(b, tmp, (size_t)n);
        if (tmp != small)
            free(tmp);
        if (rc < 0 && n >= 0)
            return fail_code(ps, s, rc);
        return rc;
    }
    rc = kl__builder_reserve_strs(b, raw + 1);
    if (rc < 0)
        return fail_code(ps, s, rc);
    uint32_t off = (uint32_t)b->str_len;
    int64_t n = unescape(ps, s, end, b->strs + off);
    if (n < 0)
        return (int)n;
    b->strs[off + n] = '\0';
    b->str_len += (size_t)n + 1;
    rc = kl__builder_push(b, CELL_MAKE_STR(off, n));
    return rc < 0 ? fail_code(ps, s, rc) : 0;
}

static int parse_number(parser_t *ps)
{
    const char *s = ps->p, *p = s, *e = ps->end;
    int neg = 0;
    if (p < e && *p == '-') {
        neg = 1;
        p++;
    }
    if (p >= e || *p < '0' || *p > '9')
        return fail_at(ps, s, KL_ESYNTAX, "invalid number");
    const char *digits = p;
    if (*p == '0') {
        p++;
        if (p < e && *p >= '0' && *p <= '9')
            return fail_at(ps, s, KL_ESYNTAX, "number with a leading zero");
    } else {
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    int is_float = 0;
    if (p < e && *p == '.') {
        is_float = 1;
        p++;
        if (p >= e || *p < '0' || *p > '9')
            return fail_at(ps, s, KL_ESYNTAX, "invalid number");
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        is_float = 1;
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || *p < '0' || *p > '9')
            return fail_at(ps, s, KL_ESYNTAX, "invalid number");
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    ps->p = p;
    if (!is_float && p - digits <= 18) {
        int64_t v = 0;
        for (const char *q = digits; q < p; q++)
            v = v * 10 + (*q - '0');
        int rc = kl__builder_int(ps->b, neg ? -v : v);
        return rc < 0 ? fail_code(ps, s, rc) : 0;
    }
    if (!is_float) {
        /* 19+ digits: exact when it fits int64, otherwise a double (as Go does for float64). */
        uint64_t v = 0;
        int overflow = 0;
        for (const char *q = digits; q < p; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (v > (UINT64_MAX - d) / 10) {
                overflow = 1;
                break;
            }
            v = v * 10 + d;
        }
        if (!overflow &&
            ((!neg && v <= (uint64_t)INT64_MAX) || (neg && v <= (uint64_t)INT64_MAX + 1))) {
            int64_t iv = neg ? (int64_t)(0 - v) : (int64_t)v;
            int rc = kl__builder_int(ps->b, iv);
            return rc < 0 ? fail_code(ps, s, rc) : 0;
        }
    }
    char tmp[512];
    size_t n = (size_t)(p - s);
    if (n >= sizeof(tmp))
        return fail_at(ps, s, KL_ETOOBIG, "number too long");
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    double d = strtod(tmp, NULL);
    if (!isfinite(d))
        return fail_at(ps, s, KL_ESYNTAX, "number out of range");
    int rc = kl__builder_double(ps->b, d);
    return rc < 0 ? fail_code(ps, s, rc) : 0;
}

static int literal(parser_t *ps, const char *word, size_t n, uint64_t cell)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail_at(ps, ps->p, KL_ESYNTAX, "invalid literal");
    ps->p += n;
    int rc = kl__builder_push(ps->b, cell);
    return rc < 0 ? fail_code(ps, ps->p, rc) : 0;
}

static int open_container(parser_t *ps, int is_object)
{
    int rc = kl__builder_open(ps->b, is_object);
    if (rc == KL_ETOODEEP) {
        char d[32];
        snprintf(d, sizeof(d), "%u", ps->b->lim.max_depth);
        return fail_at(ps, ps->p, rc, "nesting deeper than %s levels", d);
    }
    return rc < 0 ? fail_code(ps, ps->p, rc) : 0;
}

static int close_container(parser_t *ps, const char *at)
{
    uint32_t dup = 0;
    kl_builder_t *b = ps->b;
    uint32_t key_start = b->frames[b->depth - 1].key_start;
    int rc = kl__builder_close(b, &dup);
    if (rc == KL_EDUPKEY) {
        size_t len;
        uint32_t k = b->keys[key_start + dup];
        const char *name;
        if (k & KEY_INLINE) {
            uint32_t n;
            memcpy(&n, b->strs + (k & ~KEY_INLINE), 4);
            len = n;
            name = b->strs + (k & ~KEY_INLINE) + 4;
        } else {
            name = kl_key_str(k, &len);
        }
        char q[128];
        snprintf(q, sizeof(q), "\"%.*s\"", (int)(len > 100 ? 100 : len), name);
        return fail_at(ps, at, rc, "duplicate key %s", q);
    }
    return rc < 0 ? fail_code(ps, at, rc) : 0;
}

/* Called after a member value of the root's metadata object completed: drops it when it is
 * managedFields, together with everything it added to the regions. */
static void strip_rollback(parser_t *ps)
{
    kl_builder_t *b = ps->b;
    b->ncells = ps->strip_ncells;
    b->nkeys--;
    b->cont_len = ps->strip_cont;
    b->str_len = ps->strip_strs;
    ps->strip_active = 0;
}

static int parse(parser_t *ps)
{
    kl_builder_t *b = ps->b;
    int rc;
    int strip = (b->parse_flags & KL_PARSE_STRIP_MANAGED_FIELDS) != 0;

value:
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail_at(ps, ps->p, KL_ESYNTAX, "unexpected end of input");
    if (++b->nodes > b->lim.max_nodes)
        return fail_at(ps, ps->p, KL_ETOOBIG, "too many values");
    switch (*ps->p) {
    case '{':
        if ((rc = open_container(ps, 1)) < 0)
            return rc;
        if (ps->meta_state == 1 && b->depth == 2)
            ps->meta_state = 2;
        ps->p++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            if ((rc = close_container(ps, ps->p - 1)) < 0)
                return rc;
            goto done;
        }
        goto key;
    case '[':
        if ((rc = open_container(ps, 0)) < 0)
            return rc;
        ps->p++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            if ((rc = close_container(ps, ps->p - 1)) < 0)
                return rc;
            goto done;
        }
        goto value;
    case '"':
        ps->p++;
        if ((rc = parse_string(ps, 0)) < 0)
            return rc;
        goto done;
    case 't':
        if ((rc = literal(ps, "true", 4, CELL_TRUE)) < 0)
            return rc;
        goto done;
    case 'f':
        if ((rc = literal(ps, "false", 5, CELL_FALSE)) < 0)
            return rc;
        goto done;
    case 'n':
        if ((rc = literal(ps, "null", 4, CELL_NULL)) < 0)
            return rc;
        goto done;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
            if ((rc = parse_number(ps)) < 0)
                return rc;
            goto done;
        }
        return fail_at(ps, ps->p, KL_ESYNTAX, "unexpected character");
    }

key:
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != '"')
        return fail_at(ps, ps->p, KL_ESYNTAX, "expected a string key");
    ps->p++;
    if ((rc = parse_string(ps, 1)) < 0)
        return rc;
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != ':')
        return fail_at(ps, ps->p, KL_ESYNTAX, "expected ':' after key");
    ps->p++;
    if (strip && b->depth == 2 && ps->meta_state == 2 &&
        b->keys[b->nkeys - 1] == key_managed_fields) {
        ps->strip_active = 1;
        ps->strip_cont = b->cont_len;
        ps->strip_strs = b->str_len;
        ps->strip_ncells = b->ncells;
    } else if (strip && b->depth == 1 && b->keys[b->nkeys - 1] == key_metadata) {
        ps->meta_state = 1;
    }
    goto value;

done:
    if (b->depth == 0)
        return 0;
    if (b->depth == 1)
        ps->meta_state = 0; /* a member of the root completed */
    if (ps->strip_active && b->depth == 2)
        strip_rollback(ps);
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail_at(ps, ps->p, KL_ESYNTAX, "unexpected end of input");
    {
        kl_bframe_t *f = &b->frames[b->depth - 1];
        char c = *ps->p++;
        if (c == ',') {
            if (f->is_object)
                goto key;
            goto value;
        }
        if (c == (f->is_object ? '}' : ']')) {
            if ((rc = close_container(ps, ps->p - 1)) < 0)
                return rc;
            goto done;
        }
        return fail_at(ps, ps->p - 1, KL_ESYNTAX, "expected ',' or '%c'", f->is_object ? '}' : ']');
    }
}

int kl_obj_parse_json(const char *text, size_t len, const kl_parse_opts_t *opts, kl_obj_t **out,
                      kl_errinfo_t *err)
{
    kl_builder_t *b = kl__builder_get(opts);
    if (len > b->lim.max_bytes)
        return kl_err(err, KL_ETOOBIG, "input of %zu bytes exceeds the limit of %zu", len,
                      b->lim.max_bytes);
    pthread_once(&keys_once, init_keys);
    parser_t ps = {.start = text, .p = text, .end = text + len, .b = b, .err = err};
    int rc = parse(&ps);
    if (rc == 0) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            rc = fail_at(&ps, ps.p, KL_ESYNTAX, "unexpected data after the value");
    }
    if (rc == 0) {
        rc = kl__builder_finish(b, out);
        if (rc < 0)
            kl_err(err, rc, "%s", kl_strerror(rc));
    }
    kl__builder_release(b);
    return rc;
}
