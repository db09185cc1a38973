/* Label selectors (k8s.io/apimachinery/pkg/labels and metav1.LabelSelectorAsSelector).
 *
 * Parsing collects requirements in a builder (strings in one buffer, referenced by offset),
 * validates each one as labels.NewRequirement does, sorts them by key (stably) and packs the
 * result into a single allocation: the selector header, its requirements, the NULL-terminated
 * value arrays and the string bytes. The packed selector is immutable, so matching reads it
 * without locks or allocations.
 */
#include "kubelua/selector.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "primitives/selector_int.h"

typedef struct sel_req {
    const char *key;
    uint32_t keylen;
    kl_key_t kid; /* the key's interned id when it had one at parse time, else 0 */
    uint8_t op;   /* kl_sel_op_t */
    bool dbl;     /* written "==" rather than "=" (kept for the canonical form) */
    uint32_t nvals;
    const char *const *vals; /* NULL-terminated */
    const uint32_t *vlens;
    int64_t num; /* the bound of KL_SEL_GT and KL_SEL_LT */
} sel_req_t;

struct kl_selector {
    uint32_t n;
    bool nothing;
    sel_req_t reqs[];
};

/* ---- Values of either document form ------------------------------------------------------- */

/* A borrowed view of a value in a compact document or in a mutable tree. */
typedef struct node {
    const kl_json_t *j;
    kl_val_t v;
    bool is_json;
} node_t;

static node_t node_json(const kl_json_t *j)
{
    return (node_t){.j = j, .is_json = true};
}

static node_t node_val(kl_val_t v)
{
    return (node_t){.v = v};
}

/* Missing values report KL_TNULL. */
static kl_type_t node_type(node_t n)
{
    if (n.is_json)
        return n.j == NULL ? KL_TNULL : n.j->type;
    return kl_val_type(n.v);
}

static uint32_t node_len(node_t n)
{
    if (n.is_json)
        return n.j != NULL && (n.j->type == KL_TARRAY || n.j->type == KL_TOBJECT) ? n.j->len : 0;
    return kl_val_len(n.v);
}

static node_t node_get(node_t n, const char *key)
{
    if (n.is_json)
        return node_json(kl_json_get(n.j, key));
    return node_val(kl_val_get(n.v, key));
}

static node_t node_at(node_t n, uint32_t i)
{
    if (n.is_json)
        return node_json(kl_json_at(n.j, i));
    return node_val(kl_val_at(n.v, i));
}

static node_t node_member(node_t n, uint32_t i, const char **key, size_t *keylen)
{
    if (n.is_json) {
        *key = n.j->u.members[i].key;
        *keylen = n.j->u.members[i].keylen;
        return node_json(n.j->u.members[i].val);
    }
    return node_val(kl_val_member(n.v, i, key, keylen));
}

static const char *node_str(node_t n, size_t *len)
{
    if (n.is_json) {
        if (n.j == NULL || n.j->type != KL_TSTRING)
            return NULL;
        *len = n.j->len;
        return n.j->u.s;
    }
    return kl_val_str(n.v, len);
}

/* ---- Builder -------------------------------------------------------------------------------- */

typedef struct bval {
    size_t off; /* into the builder's strs */
    size_t len;
    const char *p; /* set just before sorting */
} bval_t;

typedef struct breq {
    size_t key_off;
    size_t key_len;
    size_t val0; /* index of the first value in the builder's vals */
    uint32_t nvals;
    uint8_t op;
    bool dbl;
    int64_t num;
    uint32_t seq;    /* insertion order, for a stable sort */
    const char *key; /* set just before sorting */
} breq_t;

typedef struct builder {
    kl_buf_t strs;
    breq_t *reqs;
    size_t nreqs, capreqs;
    bval_t *vals;
    size_t nvals, capvals;
    kl_buf_t errs; /* field errors of the requirement being added, each NUL-terminated */
    size_t nerrs;
    kl_buf_t tmp; /* scratch for one message */
} builder_t;

/* Enough error text to fill a kl_errinfo_t; later errors could only appear past its end. */
#define ERRS_ENOUGH (sizeof(((kl_errinfo_t *)0)->msg) + 64)

static void builder_init(builder_t *b)
{
    memset(b, 0, sizeof(*b));
    kl_buf_init(&b->strs, KL_BUF_DEFAULT_MAX);
    kl_buf_init(&b->errs, KL_BUF_DEFAULT_MAX);
    kl_buf_init(&b->tmp, KL_BUF_DEFAULT_MAX);
}

static void builder_cleanup(builder_t *b)
{
    kl_buf_cleanup(&b->strs);
    kl_buf_cleanup(&b->errs);
    kl_buf_cleanup(&b->tmp);
    free(b->reqs);
    free(b->vals);
}

static const char *bstr(const builder_t *b, size_t off)
{
    return b->strs.data + off;
}

/* Copies s (NUL-terminated in the buffer) and returns its offset in *off. */
static int str_add(builder_t *b, const char *s, size_t n, size_t *off)
{
    if (n > UINT32_MAX)
        return KL_ETOOBIG;
    *off = b->strs.len;
    int rc = kl_buf_append(&b->strs, s, n);
    if (rc == 0)
        rc = kl_buf_putc(&b->strs, '\0');
    return rc;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    if (ncap > SIZE_MAX / size)
        return KL_ENOMEM;
    void *np = realloc(*p, ncap * size);
    if (np == NULL)
        return KL_ENOMEM;
    *p = np;
    *cap = ncap;
    return 0;
}

static int val_add(builder_t *b, const char *s, size_t n)
{
    int rc = grow((void **)&b->vals, &b->capvals, b->nvals + 1, sizeof(bval_t));
    if (rc < 0)
        return rc;
    bval_t *v = &b->vals[b->nvals];
    rc = str_add(b, s, n, &v->off);
    if (rc < 0)
        return rc;
    v->len = n;
    b->nvals++;
    return 0;
}

/* Adds the message in b->tmp to the field errors unless an identical one is there (as
 * field.ErrorList.ToAggregate drops duplicates). */
static int err_commit(builder_t *b)
{
    b->nerrs++;
    if (b->errs.len >= ERRS_ENOUGH && b->nerrs > 2)
        return 0;
    for (size_t off = 0; off < b->errs.len;) {
        const char *e = b->errs.data + off;
        size_t elen = strlen(e);
        if (elen == b->tmp.len && memcmp(e, b->tmp.data, elen) == 0) {
            b->nerrs--;
            return 0;
        }
        off += elen + 1;
    }
    int rc = kl_buf_append(&b->errs, b->tmp.data, b->tmp.len);
    if (rc == 0)
        rc = kl_buf_putc(&b->errs, '\0');
    return rc;
}

/* field.Invalid(path, <string>, detail).Error(). path is a printf format. */
static int err_invalid(builder_t *b, const char *value, size_t vlen, const char *detail,
                       const char *path, ...) KL_PRINTF(5, 6);

static int err_invalid(builder_t *b, const char *value, size_t vlen, const char *detail,
                       const char *path, ...)
{
    kl_buf_reset(&b->tmp);
    va_list ap;
    va_start(ap, path);
    int rc = kl_buf_vprintf(&b->tmp, path, ap);
    va_end(ap);
    if (rc == 0)
        rc = kl_buf_puts(&b->tmp, ": Invalid value: ");
    if (rc == 0)
        rc = kl__go_quote(&b->tmp, value, vlen);
    if (rc == 0)
        rc = kl_buf_printf(&b->tmp, ": %s", detail);
    return rc < 0 ? rc : err_commit(b);
}

/* field.Invalid("values", <[]string>, detail).Error(), the list printed as Go's %#v does; nil
 * tells an empty list was a nil slice. */
static int err_invalid_list(builder_t *b, size_t val0, uint32_t nvals, bool nil, const char *detail)
{
    kl_buf_reset(&b->tmp);
    int rc = kl_buf_puts(&b->tmp, "values: Invalid value: []string");
    if (rc == 0 && nil && nvals == 0) {
        rc = kl_buf_puts(&b->tmp, "(nil)");
    } else {
        if (rc == 0)
            rc = kl_buf_putc(&b->tmp, '{');
        for (uint32_t i = 0; i < nvals && rc == 0; i++) {
            const bval_t *v = &b->vals[val0 + i];
            if (i > 0)
                rc = kl_buf_puts(&b->tmp, ", ");
            if (rc == 0)
                rc = kl__go_quote(&b->tmp, bstr(b, v->off), v->len);
        }
        if (rc == 0)
            rc = kl_buf_putc(&b->tmp, '}');
    }
    if (rc == 0)
        rc = kl_buf_printf(&b->tmp, ": %s", detail);
    return rc < 0 ? rc : err_commit(b);
}

/* Fills err with prefix and the collected errors as utilerrors.Aggregate prints them. */
static int fail_aggregate(builder_t *b, const char *prefix, kl_errinfo_t *err)
{
    kl_buf_reset(&b->tmp);
    int rc = kl_buf_puts(&b->tmp, prefix);
    if (rc == 0 && b->nerrs > 1)
        rc = kl_buf_putc(&b->tmp, '[');
    for (size_t off = 0, i = 0; off < b->errs.len && rc == 0; i++) {
        const char *e = b->errs.data + off;
        if (i > 0)
            rc = kl_buf_puts(&b->tmp, ", ");
        if (rc == 0)
            rc = kl_buf_puts(&b->tmp, e);
        off += strlen(e) + 1;
    }
    if (rc == 0 && b->nerrs > 1)
        rc = kl_buf_putc(&b->tmp, ']');
    if (rc < 0)
        return kl_err(err, KL_ENOMEM, "out of memory");
    return kl_err(err, KL_EINVAL, "%s", b->tmp.data);
}

/* strconv.ParseInt(s, 10, 64). */
static bool parse_int64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return false;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (!neg)
        *out = (int64_t)v;
    else
        *out = v > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v;
    return true;
}

/* labels.NewRequirement: validates and appends a requirement whose values are the last nvals
 * entries of b->vals. vals_nil tells how Go would print an empty list. Returns KL_EINVAL with
 * the field errors in b->errs. */
static int add_requirement(builder_t *b, size_t key_off, size_t key_len, kl_sel_op_t op, bool dbl,
                           uint32_t nvals, bool vals_nil)
{
    size_t val0 = b->nvals - nvals;
    const char *key = bstr(b, key_off);
    int64_t num = 0;
    int rc = 0;
    b->nerrs = 0;
    kl_buf_reset(&b->errs);

    const char *msg = kl__validate_label_key(key, key_len);
    if (msg != NULL)
        rc = err_invalid(b, key, key_len, msg, "key");
    switch (op) {
    case KL_SEL_IN:
    case KL_SEL_NOT_IN:
        if (nvals == 0 && rc == 0)
            rc = err_invalid_list(b, val0, nvals, vals_nil,
                                  "for 'in', 'notin' operators, values set can't be empty");
        break;
    case KL_SEL_EQUALS:
    case KL_SEL_NOT_EQUALS:
        if (nvals != 1 && rc == 0)
            rc = err_invalid_list(b, val0, nvals, vals_nil,
                                  "exact-match compatibility requires one single value");
        break;
    case KL_SEL_EXISTS:
    case KL_SEL_DOES_NOT_EXIST:
        if (nvals != 0 && rc == 0)
            rc = err_invalid_list(b, val0, nvals, vals_nil,
                                  "values set must be empty for exists and does not exist");
        break;
    case KL_SEL_GT:
    case KL_SEL_LT:
        if (nvals != 1 && rc == 0)
            rc = err_invalid_list(b, val0, nvals, vals_nil,
                                  "for 'Gt', 'Lt' operators, exactly one value is required");
        for (uint32_t i = 0; i < nvals && rc == 0; i++) {
            const bval_t *v = &b->vals[val0 + i];
            if (!parse_int64(bstr(b, v->off), v->len, &num))
                rc = err_invalid(b, bstr(b, v->off), v->len,
                                 "for 'Gt', 'Lt' operators, the value must be an integer",
                                 "values[%u]", i);
        }
        break;
    }
    for (uint32_t i = 0; i < nvals && rc == 0; i++) {
        const bval_t *v = &b->vals[val0 + i];
        msg = kl__validate_label_value(bstr(b, v->off), v->len);
        if (msg != NULL)
            rc = err_invalid(b, bstr(b, v->off), v->len, msg, "values[%u][%s]", i, key);
    }
    if (rc < 0)
        return rc;
    if (b->nerrs > 0)
        return KL_EINVAL;

    rc = grow((void **)&b->reqs, &b->capreqs, b->nreqs + 1, sizeof(breq_t));
    if (rc < 0)
        return rc;
    b->reqs[b->nreqs] = (breq_t){
        .key_off = key_off,
        .key_len = key_len,
        .val0 = val0,
        .nvals = nvals,
        .op = (uint8_t)op,
        .dbl = dbl,
        .num = num,
        .seq = (uint32_t)b->nreqs,
    };
    b->nreqs++;
    return 0;
}

/* Go compares strings bytewise. */
static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int bval_cmp(const void *pa, const void *pb)
{
    const bval_t *a = pa, *b = pb;
    return bytes_cmp(a->p, a->len, b->p, b->len);
}

static int breq_cmp(const void *pa, const void *pb)
{
    const breq_t *a = pa, *b = pb;
    int c = bytes_cmp(a->key, a->key_len, b->key, b->key_len);
    if (c != 0)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

static int alloc_selector(size_t n, size_t nptrs, size_t nlens, size_t nstr, kl_selector_t **out,
                          size_t *off_ptrs, size_t *off_lens, size_t *off_strs)
{
    if (n > UINT32_MAX)
        return KL_ETOOBIG;
    size_t hdr = sizeof(kl_selector_t) + n * sizeof(sel_req_t);
    *off_ptrs = align_up(hdr, sizeof(void *));
    *off_lens = *off_ptrs + nptrs * sizeof(const char *);
    *off_strs = *off_lens + nlens * sizeof(uint32_t);
    kl_selector_t *s = calloc(1, *off_strs + nstr + 1);
    if (s == NULL)
        return KL_ENOMEM;
    s->n = (uint32_t)n;
    *out = s;
    return 0;
}

/* Sorts the requirements by key and packs everything into one allocation. */
static int builder_finish(builder_t *b, kl_selector_t **out)
{
    for (size_t i = 0; i < b->nreqs; i++)
        b->reqs[i].key = bstr(b, b->reqs[i].key_off);
    if (b->nreqs > 1)
        qsort(b->reqs, b->nreqs, sizeof(breq_t), breq_cmp);

    size_t off_ptrs, off_lens, off_strs;
    kl_selector_t *s;
    int rc = alloc_selector(b->nreqs, b->nvals + b->nreqs, b->nvals, b->strs.len, &s, &off_ptrs,
                            &off_lens, &off_strs);
    if (rc < 0)
        return rc;
    char *base = (char *)s;
    const char **ptrs = (const char **)(void *)(base + off_ptrs);
    uint32_t *lens = (uint32_t *)(void *)(base + off_lens);
    char *strs = base + off_strs;
    if (b->strs.len > 0)
        memcpy(strs, b->strs.data, b->strs.len);
    size_t pi = 0, li = 0;
    for (size_t i = 0; i < b->nreqs; i++) {
        const breq_t *br = &b->reqs[i];
        sel_req_t *r = &s->reqs[i];
        r->key = strs + br->key_off;
        r->keylen = (uint32_t)br->key_len;
        r->kid = kl_key_lookup(r->key, r->keylen);
        r->op = br->op;
        r->dbl = br->dbl;
        r->num = br->num;
        r->nvals = br->nvals;
        r->vals = ptrs + pi;
        r->vlens = lens + li;
        for (uint32_t j = 0; j < br->nvals; j++) {
            const bval_t *v = &b->vals[br->val0 + j];
            ptrs[pi++] = strs + v->off;
            lens[li++] = (uint32_t)v->len;
        }
        ptrs[pi++] = NULL;
    }
    *out = s;
    return 0;
}

/* ---- String form ---------------------------------------------------------------------------- */

typedef enum tok {
    T_EOS,
    T_CLOSE,
    T_COMMA,
    T_NOT,
    T_DEQ,
    T_EQ,
    T_GT,
    T_ID,
    T_IN,
    T_LT,
    T_NEQ,
    T_NOTIN,
    T_OPEN,
} tok_t;

typedef struct token {
    tok_t t;
    const char *lit;
    int len;
} token_t;

typedef struct parser {
    const char *s;
    size_t pos;
    builder_t *b;
    kl_errinfo_t *err;
} parser_t;

/* In the values context the keywords "in" and "notin" are plain identifiers. */
enum { CTX_KEY_OP, CTX_VALUES };

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(char c)
{
    return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

static size_t lex(const char *s, size_t pos, token_t *t)
{
    while (is_space(s[pos]))
        pos++;
    const char *p = s + pos;
    t->lit = p;
    if (*p == '\0') {
        t->t = T_EOS;
        t->len = 0;
        return pos;
    }
    if (is_special(*p)) {
        /* The longest of the operator tokens; only "==" and "!=" have two characters. */
        if ((p[0] == '=' || p[0] == '!') && p[1] == '=') {
            t->t = p[0] == '=' ? T_DEQ : T_NEQ;
            t->len = 2;
            return pos + 2;
        }
        static const char sym[] = "=!(),><";
        static const tok_t tok[] = {T_EQ, T_NOT, T_OPEN, T_CLOSE, T_COMMA, T_GT, T_LT};
        t->t = tok[strchr(sym, *p) - sym];
        t->len = 1;
        return pos + 1;
    }
    size_t n = 0;
    while (p[n] != '\0' && !is_special(p[n]) && !is_space(p[n]))
        n++;
    t->len = n > INT_MAX ? INT_MAX : (int)n;
    if (n == 2 && memcmp(p, "in", 2) == 0)
        t->t = T_IN;
    else if (n == 5 && memcmp(p, "notin", 5) == 0)
        t->t = T_NOTIN;
    else
        t->t = T_ID;
    return pos + n;
}

static token_t peek(parser_t *p, int ctx)
{
    token_t t;
    lex(p->s, p->pos, &t);
    if (ctx == CTX_VALUES && (t.t == T_IN || t.t == T_NOTIN))
        t.t = T_ID;
    return t;
}

static token_t next(parser_t *p, int ctx)
{
    token_t t;
    p->pos = lex(p->s, p->pos, &t);
    if (ctx == CTX_VALUES && (t.t == T_IN || t.t == T_NOTIN))
        t.t = T_ID;
    return t;
}

#define REQ_PREFIX "unable to parse requirement: "

/* An error inside a requirement: "unable to parse requirement: found '<lit>', <expected>". */
static int fail_found(parser_t *p, token_t t, const char *expected)
{
    return kl_err(p->err, KL_EINVAL, REQ_PREFIX "found '%.*s'%s", t.len, t.lit, expected);
}

/* "(a,b,...)": the values, sorted and without duplicates, become the builder's last values. */
static int parse_values(parser_t *p, uint32_t *nvals)
{
    builder_t *b = p->b;
    size_t val0 = b->nvals;
    int rc;
    token_t t = next(p, CTX_VALUES);
    if (t.t != T_OPEN)
        return fail_found(p, t, " expected: '('");
    token_t first = peek(p, CTX_VALUES);
    if (first.t == T_CLOSE) {
        next(p, CTX_VALUES);
        rc = val_add(b, "", 0);
        if (rc < 0)
            return rc;
        *nvals = 1;
        return 0;
    }
    if (first.t != T_ID && first.t != T_COMMA)
        return fail_found(p, first, ", expected: ',', ')' or identifier");
    for (;;) {
        t = next(p, CTX_VALUES);
        if (t.t == T_ID) {
            rc = val_add(b, t.lit, (size_t)t.len);
            if (rc < 0)
                return rc;
            token_t t2 = peek(p, CTX_VALUES);
            if (t2.t == T_CLOSE)
                break;
            if (t2.t != T_COMMA)
                return fail_found(p, t2, ", expected: ',' or ')'");
        } else if (t.t == T_COMMA) {
            /* Empty values around commas: "(,a", "a,,b", "a,)". */
            token_t t2 = peek(p, CTX_VALUES);
            if (b->nvals == val0 || t2.t == T_CLOSE || t2.t == T_COMMA) {
                rc = val_add(b, "", 0);
                if (rc < 0)
                    return rc;
            }
            if (t2.t == T_CLOSE)
                break;
            if (t2.t == T_COMMA)
                next(p, CTX_VALUES);
        } else {
            return fail_found(p, t, ", expected: ',', or identifier");
        }
    }
    next(p, CTX_VALUES); /* the ')' seen by the loop */

    /* A set: sort and drop duplicates. */
    size_t n = b->nvals - val0;
    bval_t *v = b->vals + val0;
    for (size_t i = 0; i < n; i++)
        v[i].p = bstr(b, v[i].off);
    if (n > 1)
        qsort(v, n, sizeof(bval_t), bval_cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && bval_cmp(&v[k - 1], &v[i]) == 0)
            continue;
        v[k++] = v[i];
    }
    b->nvals = val0 + k;
    *nvals = (uint32_t)k;
    return 0;
}

/* The value after =, ==, !=, > or <; nothing at the end or before ',' means "". */
static int parse_exact_value(parser_t *p)
{
    token_t t = peek(p, CTX_VALUES);
    if (t.t == T_EOS || t.t == T_COMMA)
        return val_add(p->b, "", 0);
    t = next(p, CTX_VALUES);
    if (t.t != T_ID)
        return fail_found(p, t, ", expected: identifier");
    return val_add(p->b, t.lit, (size_t)t.len);
}

static int parse_requirement(parser_t *p)
{
    builder_t *b = p->b;
    kl_sel_op_t op = KL_SEL_EXISTS;
    bool dbl = false, infer = false;
    token_t t = next(p, CTX_VALUES);
    if (t.t == T_NOT) {
        op = KL_SEL_DOES_NOT_EXIST;
        t = next(p, CTX_VALUES);
    }
    if (t.t != T_ID)
        return fail_found(p, t, ", expected: identifier");
    const char *msg = kl__validate_label_key(t.lit, (size_t)t.len);
    if (msg != NULL) {
        kl_buf_reset(&b->tmp);
        int rc = kl_buf_puts(&b->tmp, REQ_PREFIX "<nil>: Invalid value: ");
        if (rc == 0)
            rc = kl__go_quote(&b->tmp, t.lit, (size_t)t.len);
        if (rc < 0)
            return rc;
        return kl_err(p->err, KL_EINVAL, "%s: %s", b->tmp.data, msg);
    }
    size_t key_off;
    int rc = str_add(b, t.lit, (size_t)t.len, &key_off);
    if (rc < 0)
        return rc;
    size_t key_len = (size_t)t.len;
    token_t la = peek(p, CTX_VALUES);
    infer = la.t == T_EOS || la.t == T_COMMA;

    uint32_t nvals = 0;
    if (!infer && op != KL_SEL_DOES_NOT_EXIST) {
        t = next(p, CTX_KEY_OP);
        switch (t.t) {
        case T_IN:
            op = KL_SEL_IN;
            break;
        case T_NOTIN:
            op = KL_SEL_NOT_IN;
            break;
        case T_EQ:
            op = KL_SEL_EQUALS;
            break;
        case T_DEQ:
            op = KL_SEL_EQUALS;
            dbl = true;
            break;
        case T_NEQ:
            op = KL_SEL_NOT_EQUALS;
            break;
        case T_GT:
            op = KL_SEL_GT;
            break;
        case T_LT:
            op = KL_SEL_LT;
            break;
        default:
            return fail_found(p, t, ", expected: in, notin, =, ==, !=, gt, lt");
        }
        if (op == KL_SEL_IN || op == KL_SEL_NOT_IN) {
            rc = parse_values(p, &nvals);
        } else {
            rc = parse_exact_value(p);
            nvals = 1;
        }
        if (rc != 0)
            return rc;
    }
    rc = add_requirement(b, key_off, key_len, op, dbl, nvals, false);
    if (rc == KL_EINVAL)
        return fail_aggregate(b, REQ_PREFIX, p->err);
    return rc;
}

int kl_selector_parse(const char *s, kl_selector_t **out, kl_errinfo_t *err)
{
    builder_t b;
    builder_init(&b);
    parser_t p = {.s = s != NULL ? s : "", .b = &b, .err = err};
    int rc = 0;
    for (;;) {
        token_t t = peek(&p, CTX_VALUES);
        if (t.t == T_EOS)
            break;
        if (t.t != T_ID && t.t != T_NOT) {
            rc = kl_err(err, KL_EINVAL, "found '%.*s', expected: !, identifier, or 'end of string'",
                        t.len, t.lit);
            goto out;
        }
        rc = parse_requirement(&p);
        if (rc != 0)
            goto out;
        t = next(&p, CTX_VALUES);
        if (t.t == T_EOS)
            break;
        if (t.t != T_COMMA) {
            rc = kl_err(err, KL_EINVAL, "found '%.*s', expected: ',' or 'end of string'", t.len,
                        t.lit);
            goto out;
        }
        t = peek(&p, CTX_VALUES);
        if (t.t != T_ID && t.t != T_NOT) {
            rc = kl_err(err, KL_EINVAL, "found '%.*s', expected: identifier after ','", t.len,
                        t.lit);
            goto out;
        }
    }
    rc = builder_finish(&b, out);
out:
    if (rc == KL_ENOMEM || rc == KL_ETOOBIG)
        kl_err(err, rc, "%s", kl_strerror(rc));
    builder_cleanup(&b);
    return rc;
}

/* ---- Structured forms ----------------------------------------------------------------------- */

static int empty_selector(kl_selector_t **out)
{
    size_t a, b, c;
    return alloc_selector(0, 0, 0, 0, out, &a, &b, &c);
}

int kl_selector_nothing(kl_selector_t **out)
{
    int rc = empty_selector(out);
    if (rc == 0)
        (*out)->nothing = true;
    return rc;
}

/* Reads a string that Go would decode into a string field: null (or missing) gives "". */
static int want_string(node_t n, const char **s, size_t *len, kl_errinfo_t *err, const char *what,
                       ...) KL_PRINTF(5, 6);

static int want_string(node_t n, const char **s, size_t *len, kl_errinfo_t *err, const char *what,
                       ...)
{
    *s = node_str(n, len);
    if (*s != NULL)
        return 0;
    if (node_type(n) == KL_TNULL) {
        *s = "";
        *len = 0;
        return 0;
    }
    char path[256];
    va_list ap;
    va_start(ap, what);
    vsnprintf(path, sizeof(path), what, ap);
    va_end(ap);
    return kl_err(err, KL_EINVAL, "%s: expected a string", path);
}

/* Copies a values array (null or missing gives none) to the builder's values. */
static int add_values(builder_t *b, node_t vals, const char *what, size_t idx, uint32_t *nvals,
                      bool *nil, kl_errinfo_t *err)
{
    kl_type_t t = node_type(vals);
    *nil = t == KL_TNULL;
    *nvals = 0;
    if (t == KL_TNULL)
        return 0;
    if (t != KL_TARRAY)
        return kl_err(err, KL_EINVAL, "%s[%zu].values: expected an array", what, idx);
    uint32_t n = node_len(vals);
    for (uint32_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        int rc = want_string(node_at(vals, i), &s, &len, err, "%s[%zu].values[%u]", what, idx, i);
        if (rc == 0)
            rc = val_add(b, s, len);
        if (rc < 0)
            return rc;
    }
    *nvals = n;
    return 0;
}

/* A matchExpressions-style list. node_ops also allows Gt and Lt and keeps Go's distinction
 * between a missing and an empty values list (NodeSelectorRequirementsAsSelector). */
static int add_expressions(builder_t *b, node_t exprs, bool node_ops, kl_errinfo_t *err)
{
    const char *what = "matchExpressions"; /* for messages */
    uint32_t n = node_len(exprs);
    for (uint32_t i = 0; i < n; i++) {
        node_t e = node_at(exprs, i);
        kl_type_t et = node_type(e);
        if (et != KL_TOBJECT && et != KL_TNULL)
            return kl_err(err, KL_EINVAL, "%s[%u]: expected an object", what, i);
        const char *key, *ops;
        size_t key_len, ops_len;
        int rc = want_string(node_get(e, "key"), &key, &key_len, err, "%s[%u].key", what, i);
        if (rc == 0)
            rc = want_string(node_get(e, "operator"), &ops, &ops_len, err, "%s[%u].operator", what,
                             i);
        if (rc < 0)
            return rc;
        static const struct {
            const char *name;
            kl_sel_op_t op;
        } ops_tab[] = {
            {"In", KL_SEL_IN},         {"NotIn", KL_SEL_NOT_IN},
            {"Exists", KL_SEL_EXISTS}, {"DoesNotExist", KL_SEL_DOES_NOT_EXIST},
            {"Gt", KL_SEL_GT},         {"Lt", KL_SEL_LT},
        };
        int found = -1;
        for (int k = 0; k < (node_ops ? 6 : 4); k++) {
            if (strlen(ops_tab[k].name) == ops_len && memcmp(ops_tab[k].name, ops, ops_len) == 0)
                found = k;
        }
        if (found < 0) {
            kl_buf_reset(&b->tmp);
            rc = kl__go_quote(&b->tmp, ops, ops_len);
            if (rc < 0)
                return rc;
            return kl_err(err, KL_EINVAL, "%s is not a valid %s selector operator", b->tmp.data,
                          node_ops ? "node" : "label");
        }
        size_t key_off;
        rc = str_add(b, key, key_len, &key_off);
        uint32_t nvals = 0;
        bool nil = true;
        if (rc == 0)
            rc = add_values(b, node_get(e, "values"), what, i, &nvals, &nil, err);
        if (rc < 0)
            return rc;
        /* LabelSelectorAsSelector copies the values with append([]string(nil), ...), so an
         * empty list prints as nil. */
        if (!node_ops)
            nil = true;
        rc = add_requirement(b, key_off, key_len, ops_tab[found].op, false, nvals, nil);
        if (rc == KL_EINVAL)
            return fail_aggregate(b, "", err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int from_label_selector(node_t ls, bool null_matches_nothing, kl_selector_t **out,
                               kl_errinfo_t *err)
{
    kl_type_t t = node_type(ls);
    if (t == KL_TNULL)
        return null_matches_nothing ? kl_selector_nothing(out) : empty_selector(out);
    if (t != KL_TOBJECT)
        return kl_err(err, KL_EINVAL, "label selector: expected an object");
    node_t ml = node_get(ls, "matchLabels");
    node_t me = node_get(ls, "matchExpressions");
    kl_type_t mlt = node_type(ml), met = node_type(me);
    if (mlt != KL_TNULL && mlt != KL_TOBJECT)
        return kl_err(err, KL_EINVAL, "matchLabels: expected an object");
    if (met != KL_TNULL && met != KL_TARRAY)
        return kl_err(err, KL_EINVAL, "matchExpressions: expected an array");
    if (node_len(ml) == 0 && node_len(me) == 0)
        return empty_selector(out);

    builder_t b;
    builder_init(&b);
    int rc = 0;
    uint32_t n = node_len(ml);
    for (uint32_t i = 0; i < n; i++) {
        const char *key, *val;
        size_t key_len, val_len, key_off;
        node_t v = node_member(ml, i, &key, &key_len);
        rc = want_string(v, &val, &val_len, err, "matchLabels.%s", key);
        if (rc == 0)
            rc = str_add(&b, key, key_len, &key_off);
        if (rc == 0)
            rc = val_add(&b, val, val_len);
        if (rc == 0)
            rc = add_requirement(&b, key_off, key_len, KL_SEL_EQUALS, false, 1, false);
        if (rc == KL_EINVAL && b.nerrs > 0)
            rc = fail_aggregate(&b, "", err);
        if (rc < 0)
            goto out;
    }
    rc = add_expressions(&b, me, false, err);
    if (rc == 0)
        rc = builder_finish(&b, out);
out:
    if (rc == KL_ENOMEM || rc == KL_ETOOBIG)
        kl_err(err, rc, "%s", kl_strerror(rc));
    builder_cleanup(&b);
    return rc;
}

int kl_selector_from_json(const kl_json_t *label_selector, bool null_matches_nothing,
                          kl_selector_t **out, kl_errinfo_t *err)
{
    return from_label_selector(node_json(label_selector), null_matches_nothing, out, err);
}

int kl_selector_from_val(kl_val_t label_selector, bool null_matches_nothing, kl_selector_t **out,
                         kl_errinfo_t *err)
{
    return from_label_selector(node_val(label_selector), null_matches_nothing, out, err);
}

static int from_node_requirements(node_t exprs, kl_selector_t **out, kl_errinfo_t *err)
{
    kl_type_t t = node_type(exprs);
    if (t != KL_TNULL && t != KL_TARRAY)
        return kl_err(err, KL_EINVAL, "matchExpressions: expected an array");
    if (node_len(exprs) == 0)
        return kl_selector_nothing(out);
    builder_t b;
    builder_init(&b);
    int rc = add_expressions(&b, exprs, true, err);
    if (rc == 0)
        rc = builder_finish(&b, out);
    if (rc == KL_ENOMEM || rc == KL_ETOOBIG)
        kl_err(err, rc, "%s", kl_strerror(rc));
    builder_cleanup(&b);
    return rc;
}

int kl_selector_from_node_requirements(kl_val_t match_expressions, kl_selector_t **out,
                                       kl_errinfo_t *err)
{
    return from_node_requirements(node_val(match_expressions), out, err);
}

int kl_selector_from_node_requirements_json(const kl_json_t *match_expressions, kl_selector_t **out,
                                            kl_errinfo_t *err)
{
    return from_node_requirements(node_json(match_expressions), out, err);
}

static int from_set(node_t set, kl_selector_t **out, kl_errinfo_t *err)
{
    kl_type_t t = node_type(set);
    if (t == KL_TNULL)
        return empty_selector(out);
    if (t != KL_TOBJECT)
        return kl_err(err, KL_EINVAL, "labels: expected an object");
    builder_t b;
    builder_init(&b);
    int rc = 0;
    uint32_t n = node_len(set);
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        const char *key, *val;
        size_t key_len, val_len, key_off;
        node_t v = node_member(set, i, &key, &key_len);
        val = node_str(v, &val_len);
        if (val == NULL) {
            rc = kl_err(err, KL_EINVAL, "labels.%s: expected a string", key);
            break;
        }
        rc = str_add(&b, key, key_len, &key_off);
        if (rc == 0)
            rc = val_add(&b, val, val_len);
        if (rc == 0)
            rc = grow((void **)&b.reqs, &b.capreqs, b.nreqs + 1, sizeof(breq_t));
        if (rc == 0)
            b.reqs[b.nreqs++] = (breq_t){.key_off = key_off,
                                         .key_len = key_len,
                                         .val0 = b.nvals - 1,
                                         .nvals = 1,
                                         .op = KL_SEL_EQUALS,
                                         .seq = (uint32_t)i};
    }
    if (rc == 0)
        rc = builder_finish(&b, out);
    if (rc == KL_ENOMEM || rc == KL_ETOOBIG)
        kl_err(err, rc, "%s", kl_strerror(rc));
    builder_cleanup(&b);
    return rc;
}

int kl_selector_from_set(kl_val_t labels, kl_selector_t **out, kl_errinfo_t *err)
{
    return from_set(node_val(labels), out, err);
}

int kl_selector_from_set_json(const kl_json_t *labels, kl_selector_t **out, kl_errinfo_t *err)
{
    return from_set(node_json(labels), out, err);
}

void kl_selector_free(kl_selector_t *s)
{
    free(s);
}

/* ---- Matching ------------------------------------------------------------------------------- */

bool kl_selector_is_empty(const kl_selector_t *s)
{
    return s->n == 0 && !s->nothing;
}

bool kl_selector_is_nothing(const kl_selector_t *s)
{
    return s->nothing;
}

static bool has_value(const sel_req_t *r, const char *v, size_t len)
{
    for (uint32_t i = 0; i < r->nvals; i++) {
        if (r->vlens[i] == len && memcmp(r->vals[i], v, len) == 0)
            return true;
    }
    return false;
}

/* v is the label's value, NULL when the labels have no such key. */
static bool req_matches(const sel_req_t *r, const char *v, size_t len)
{
    switch ((kl_sel_op_t)r->op) {
    case KL_SEL_EQUALS:
    case KL_SEL_IN:
        return v != NULL && has_value(r, v, len);
    case KL_SEL_NOT_EQUALS:
    case KL_SEL_NOT_IN:
        return v == NULL || !has_value(r, v, len);
    case KL_SEL_EXISTS:
        return v != NULL;
    case KL_SEL_DOES_NOT_EXIST:
        return v == NULL;
    case KL_SEL_GT:
    case KL_SEL_LT: {
        int64_t n;
        if (v == NULL || !parse_int64(v, len, &n))
            return false;
        return r->op == KL_SEL_GT ? n > r->num : n < r->num;
    }
    }
    return false;
}

bool kl_selector_matches(const kl_selector_t *s, kl_val_t labels)
{
    if (s->nothing)
        return false;
    for (uint32_t i = 0; i < s->n; i++) {
        const sel_req_t *r = &s->reqs[i];
        size_t len = 0;
        /* Lookup by id finds the member unless the document stores that key inline, which
         * kl_val_getn also searches; the id only saves hashing the key on hits. */
        kl_val_t lv = r->kid != 0 ? kl_val_get_key(labels, r->kid) : (kl_val_t){0};
        if (lv.doc == NULL)
            lv = kl_val_getn(labels, r->key, r->keylen);
        const char *v = kl_val_str(lv, &len);
        if (!req_matches(r, v, len))
            return false;
    }
    return true;
}

bool kl_selector_matches_json(const kl_selector_t *s, const kl_json_t *labels)
{
    if (s->nothing)
        return false;
    for (uint32_t i = 0; i < s->n; i++) {
        const sel_req_t *r = &s->reqs[i];
        const kl_json_t *j = kl_json_getn(labels, r->key, r->keylen);
        bool is_str = j != NULL && j->type == KL_TSTRING;
        if (!req_matches(r, is_str ? j->u.s : NULL, is_str ? j->len : 0))
            return false;
    }
    return true;
}

/* ---- Introspection and canonical form ---------------------------------------------------------
 */

bool kl_selector_requirement(const kl_selector_t *s, size_t i, const char **key, kl_sel_op_t *op,
                             const char *const **values)
{
    if (s->nothing || i >= s->n)
        return false;
    const sel_req_t *r = &s->reqs[i];
    if (key)
        *key = r->key;
    if (op)
        *op = (kl_sel_op_t)r->op;
    if (values)
        *values = r->vals;
    return true;
}

const char *kl_selector_exact(const kl_selector_t *s, const char *key)
{
    if (s->nothing)
        return NULL;
    size_t len = strlen(key);
    for (uint32_t i = 0; i < s->n; i++) {
        const sel_req_t *r = &s->reqs[i];
        if (r->keylen != len || memcmp(r->key, key, len) != 0)
            continue;
        if ((r->op == KL_SEL_EQUALS || r->op == KL_SEL_IN) && r->nvals == 1)
            return r->vals[0];
        return NULL;
    }
    return NULL;
}

typedef struct strv {
    const char *s;
    uint32_t len;
} strv_t;

static int strv_cmp(const void *pa, const void *pb)
{
    const strv_t *a = pa, *b = pb;
    return bytes_cmp(a->s, a->len, b->s, b->len);
}

/* Values joined by ',' in sorted order, as Requirement.String() prints them. */
static int format_values(const sel_req_t *r, kl_buf_t *out)
{
    bool sorted = true;
    for (uint32_t i = 1; i < r->nvals && sorted; i++)
        sorted = bytes_cmp(r->vals[i - 1], r->vlens[i - 1], r->vals[i], r->vlens[i]) <= 0;
    strv_t *tmp = NULL;
    if (!sorted) {
        tmp = malloc(r->nvals * sizeof(strv_t));
        if (tmp == NULL)
            return KL_ENOMEM;
        for (uint32_t i = 0; i < r->nvals; i++)
            tmp[i] = (strv_t){r->vals[i], r->vlens[i]};
        qsort(tmp, r->nvals, sizeof(strv_t), strv_cmp);
    }
    int rc = 0;
    for (uint32_t i = 0; i < r->nvals && rc == 0; i++) {
        if (i > 0)
            rc = kl_buf_putc(out, ',');
        if (rc == 0)
            rc = tmp ? kl_buf_append(out, tmp[i].s, tmp[i].len)
                     : kl_buf_append(out, r->vals[i], r->vlens[i]);
    }
    free(tmp);
    return rc;
}

int kl_selector_format(const kl_selector_t *s, kl_buf_t *out)
{
    int rc = 0;
    for (uint32_t i = 0; i < s->n && !s->nothing && rc == 0; i++) {
        const sel_req_t *r = &s->reqs[i];
        if (i > 0)
            rc = kl_buf_putc(out, ',');
        if (rc == 0 && r->op == KL_SEL_DOES_NOT_EXIST)
            rc = kl_buf_putc(out, '!');
        if (rc == 0)
            rc = kl_buf_append(out, r->key, r->keylen);
        const char *op = NULL;
        switch ((kl_sel_op_t)r->op) {
        case KL_SEL_EQUALS:
            op = r->dbl ? "==" : "=";
            break;
        case KL_SEL_NOT_EQUALS:
            op = "!=";
            break;
        case KL_SEL_IN:
            op = " in (";
            break;
        case KL_SEL_NOT_IN:
            op = " notin (";
            break;
        case KL_SEL_GT:
            op = ">";
            break;
        case KL_SEL_LT:
            op = "<";
            break;
        case KL_SEL_EXISTS:
        case KL_SEL_DOES_NOT_EXIST:
            break;
        }
        if (op == NULL || rc != 0)
            continue;
        rc = kl_buf_puts(out, op);
        if (rc == 0)
            rc = format_values(r, out);
        if (rc == 0 && (r->op == KL_SEL_IN || r->op == KL_SEL_NOT_IN))
            rc = kl_buf_putc(out, ')');
    }
    return rc;
}
