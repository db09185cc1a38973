/* Printers for custom resources, built from a CRD version's additionalPrinterColumns, as the
 * apiextensions-apiserver tableconvertor does, with the JSONPath subset documented in table.h.
 *
 * Evaluation follows k8s.io/client-go/util/jsonpath with missing keys allowed: each step maps
 * the list of current values to the next list; the cell shows the first value of the final
 * list. Conditions that make client-go fail (indexing a non-array, an index out of range,
 * filtering a non-array, comparing mismatched types) make the whole cell null.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/table_int.h"

/* ---- Compiled paths --------------------------------------------------------------------- */

typedef enum { STEP_FIELD, STEP_WILDCARD, STEP_INDEX, STEP_ALL, STEP_FILTER } step_kind_t;
typedef enum { OP_EXISTS, OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE } op_t;
typedef enum { OPD_PATH, OPD_STRING, OPD_INT, OPD_DOUBLE, OPD_BOOL } operand_kind_t;

typedef struct kl_jsonpath jsonpath_t;

typedef struct operand {
    operand_kind_t kind;
    jsonpath_t *path; /* OPD_PATH, relative to the element (`@`) */
    char *s;          /* OPD_STRING */
    size_t len;
    int64_t i;
    double d;
    bool b;
} operand_t;

typedef struct step {
    step_kind_t kind;
    char *name; /* STEP_FIELD; "" selects the value itself */
    size_t len;
    int64_t index; /* STEP_INDEX */
    op_t op;       /* STEP_FILTER */
    operand_t left, right;
} step_t;

struct kl_jsonpath {
    step_t *steps;
    uint32_t n, cap;
};

static void path_free(jsonpath_t *p);

static void operand_free(operand_t *o)
{
    path_free(o->path);
    free(o->s);
}

static void path_free(jsonpath_t *p)
{
    if (p == NULL)
        return;
    for (uint32_t i = 0; i < p->n; i++) {
        free(p->steps[i].name);
        operand_free(&p->steps[i].left);
        operand_free(&p->steps[i].right);
    }
    free(p->steps);
    free(p);
}

static step_t *path_push(jsonpath_t *p)
{
    if (p->n == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 4;
        step_t *s = realloc(p->steps, cap * sizeof(*s));
        if (s == NULL)
            return NULL;
        p->steps = s;
        p->cap = cap;
    }
    step_t *s = &p->steps[p->n++];
    memset(s, 0, sizeof(*s));
    return s;
}

/* ---- Parser ----------------------------------------------------------------------------- */

typedef struct parser {
    const char *s;
    size_t len, pos;
    const char *expr; /* the whole expression, for messages */
    kl_errinfo_t *err;
} parser_t;

static int perr(parser_t *ps, int code, const char *what)
{
    return kl_err(ps->err, code, "jsonPath %s: %s at offset %zu", ps->expr, what, ps->pos);
}

static bool at_end(const parser_t *ps)
{
    return ps->pos >= ps->len;
}

static char peek(const parser_t *ps)
{
    return at_end(ps) ? '\0' : ps->s[ps->pos];
}

static void skip_space(parser_t *ps)
{
    while (!at_end(ps) && (peek(ps) == ' ' || peek(ps) == '\t'))
        ps->pos++;
}

/* client-go's field terminators. */
static bool is_terminator(char ch)
{
    return strchr(" \t\r\n.,[]$@{}()=!<>", ch) != NULL;
}

static int parse_path(parser_t *ps, jsonpath_t *p, bool in_filter);

/* A quoted string starting at ps->pos ('...' or "..."), with backslash escapes. */
static int parse_quoted(parser_t *ps, char **out, size_t *outlen)
{
    char q = peek(ps);
    ps->pos++;
    kl_buf_t b;
    kl_buf_init(&b, KL_BUF_DEFAULT_MAX);
    int rc = 0;
    while (!at_end(ps) && peek(ps) != q && rc == 0) {
        char ch = ps->s[ps->pos++];
        if (ch == '\\' && !at_end(ps)) {
            ch = ps->s[ps->pos++];
            if (ch == 'n')
                ch = '\n';
            else if (ch == 't')
                ch = '\t';
        }
        rc = kl_buf_putc(&b, ch);
    }
    if (rc < 0) {
        kl_buf_cleanup(&b);
        return kl_err(ps->err, rc, "jsonPath %s: %s", ps->expr, kl_strerror(rc));
    }
    if (at_end(ps)) {
        kl_buf_cleanup(&b);
        return perr(ps, KL_EINVAL, "unterminated quoted string");
    }
    ps->pos++; /* closing quote */
    *outlen = b.len;
    *out = kl_buf_take(&b, NULL);
    return *out ? 0 : kl_err(ps->err, KL_ENOMEM, "out of memory");
}

static int parse_field(parser_t *ps, jsonpath_t *p)
{
    kl_buf_t b;
    kl_buf_init(&b, KL_BUF_DEFAULT_MAX);
    int rc = 0;
    while (!at_end(ps) && !is_terminator(peek(ps)) && rc == 0) {
        char ch = ps->s[ps->pos++];
        if (ch == '\\' && !at_end(ps))
            ch = ps->s[ps->pos++];
        rc = kl_buf_putc(&b, ch);
    }
    if (rc == 0 && b.len == 0 && peek(ps) == '.') {
        kl_buf_cleanup(&b);
        return perr(ps, KL_EUNSUPPORTED, "recursive descent (..) is not supported");
    }
    step_t *s = rc == 0 ? path_push(p) : NULL;
    if (s == NULL) {
        kl_buf_cleanup(&b);
        return kl_err(ps->err, KL_ENOMEM, "out of memory");
    }
    if (b.len == 1 && b.data[0] == '*') {
        s->kind = STEP_WILDCARD;
        kl_buf_cleanup(&b);
        return 0;
    }
    s->kind = STEP_FIELD;
    s->len = b.len;
    s->name = kl_buf_take(&b, NULL);
    return s->name ? 0 : kl_err(ps->err, KL_ENOMEM, "out of memory");
}

static int parse_number(parser_t *ps, operand_t *o)
{
    const char *start = ps->s + ps->pos;
    size_t n = 0;
    bool is_float = false;
    while (ps->pos + n < ps->len) {
        char ch = start[n];
        if ((ch >= '0' && ch <= '9') || ch == '-' || ch == '+')
            n++;
        else if (ch == '.' || ch == 'e' || ch == 'E')
            n++, is_float = true;
        else
            break;
    }
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return perr(ps, KL_EINVAL, "bad number");
    memcpy(buf, start, n);
    buf[n] = '\0';
    char *end;
    if (is_float) {
        o->kind = OPD_DOUBLE;
        o->d = strtod(buf, &end);
    } else {
        o->kind = OPD_INT;
        o->i = strtoll(buf, &end, 10);
    }
    if (*end != '\0')
        return perr(ps, KL_EINVAL, "bad number");
    ps->pos += n;
    return 0;
}

static int parse_operand(parser_t *ps, operand_t *o)
{
    skip_space(ps);
    char ch = peek(ps);
    if (ch == '@') {
        ps->pos++;
        o->kind = OPD_PATH;
        o->path = calloc(1, sizeof(*o->path));
        if (o->path == NULL)
            return kl_err(ps->err, KL_ENOMEM, "out of memory");
        return parse_path(ps, o->path, true);
    }
    if (ch == '\'' || ch == '"') {
        o->kind = OPD_STRING;
        return parse_quoted(ps, &o->s, &o->len);
    }
    if ((ch >= '0' && ch <= '9') || ch == '-' || ch == '+')
        return parse_number(ps, o);
    if (ps->len - ps->pos >= 4 && memcmp(ps->s + ps->pos, "true", 4) == 0) {
        ps->pos += 4;
        o->kind = OPD_BOOL;
        o->b = true;
        return 0;
    }
    if (ps->len - ps->pos >= 5 && memcmp(ps->s + ps->pos, "false", 5) == 0) {
        ps->pos += 5;
        o->kind = OPD_BOOL;
        o->b = false;
        return 0;
    }
    if (ch == '$')
        return perr(ps, KL_EUNSUPPORTED, "root references in filters are not supported");
    return perr(ps, KL_EINVAL, "expected @path, string, number or boolean in filter");
}

/* After "[?(": operand [op operand] ")" "]". */
static int parse_filter(parser_t *ps, step_t *s)
{
    s->kind = STEP_FILTER;
    int rc = parse_operand(ps, &s->left);
    if (rc < 0)
        return rc;
    skip_space(ps);
    static const struct {
        const char *text;
        op_t op;
    } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE},
               {">=", OP_GE}, {"<", OP_LT},  {">", OP_GT}};
    s->op = OP_EXISTS;
    if (peek(ps) == '=' && ps->pos + 1 < ps->len && ps->s[ps->pos + 1] == '~')
        return perr(ps, KL_EUNSUPPORTED, "regular expression filters (=~) are not supported");
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t n = strlen(ops[i].text);
        if (ps->len - ps->pos >= n && memcmp(ps->s + ps->pos, ops[i].text, n) == 0) {
            s->op = ops[i].op;
            ps->pos += n;
            break;
        }
    }
    if (s->op != OP_EXISTS) {
        if ((rc = parse_operand(ps, &s->right)) < 0)
            return rc;
        skip_space(ps);
    }
    if (peek(ps) != ')')
        return perr(ps, KL_EINVAL, "expected ')' closing the filter");
    ps->pos++;
    if (peek(ps) != ']')
        return perr(ps, KL_EINVAL, "expected ']' after the filter");
    ps->pos++;
    return 0;
}

/* After "[". */
static int parse_bracket(parser_t *ps, jsonpath_t *p)
{
    skip_space(ps);
    step_t *s = path_push(p);
    if (s == NULL)
        return kl_err(ps->err, KL_ENOMEM, "out of memory");
    char ch = peek(ps);
    int rc;
    if (ch == '?') {
        ps->pos++;
        if (peek(ps) != '(')
            return perr(ps, KL_EINVAL, "expected '(' after '[?'");
        ps->pos++;
        return parse_filter(ps, s);
    }
    if (ch == '*') {
        ps->pos++;
        s->kind = STEP_ALL;
    } else if (ch == '\'' || ch == '"') {
        s->kind = STEP_FIELD;
        if ((rc = parse_quoted(ps, &s->name, &s->len)) < 0)
            return rc;
    } else if ((ch >= '0' && ch <= '9') || ch == '-') {
        size_t start = ps->pos;
        if (ch == '-')
            ps->pos++;
        while (peek(ps) >= '0' && peek(ps) <= '9')
            ps->pos++;
        if (ps->pos == start + (ch == '-'))
            return perr(ps, KL_EINVAL, "bad array index");
        s->kind = STEP_INDEX;
        s->index = strtoll(ps->s + start, NULL, 10);
    } else if (ch == ':') {
        return perr(ps, KL_EUNSUPPORTED, "array slices are not supported");
    } else {
        return perr(ps, KL_EINVAL, "unexpected character in brackets");
    }
    skip_space(ps);
    if (peek(ps) == ':')
        return perr(ps, KL_EUNSUPPORTED, "array slices are not supported");
    if (peek(ps) == ',')
        return perr(ps, KL_EUNSUPPORTED, "unions are not supported");
    if (peek(ps) != ']')
        return perr(ps, KL_EINVAL, "expected ']'");
    ps->pos++;
    return 0;
}

/* Steps until the end (top level) or until a character that cannot continue a path (inside a
 * filter operand). */
static int parse_path(parser_t *ps, jsonpath_t *p, bool in_filter)
{
    int rc = 0;
    while (rc == 0 && !at_end(ps)) {
        char ch = peek(ps);
        if (ch == '.') {
            ps->pos++;
            rc = parse_field(ps, p);
        } else if (ch == '[') {
            ps->pos++;
            rc = parse_bracket(ps, p);
        } else if (in_filter) {
            break;
        } else if (ch == ' ' || ch == '\t') {
            skip_space(ps);
            if (!at_end(ps))
                return perr(ps, KL_EUNSUPPORTED, "only a single path is supported");
        } else {
            return perr(ps, KL_EINVAL, "unexpected character");
        }
    }
    return rc;
}

static int compile(const char *expr, jsonpath_t **out, kl_errinfo_t *err)
{
    parser_t ps = {.s = expr, .len = strlen(expr), .expr = expr, .err = err};
    skip_space(&ps);
    if (at_end(&ps))
        return kl_err(err, KL_EINVAL, "jsonPath is empty");
    if (peek(&ps) == '$')
        ps.pos++;
    else if (peek(&ps) != '.' && peek(&ps) != '[')
        return perr(&ps, KL_EINVAL, "a path must start with '.', '[' or '$'");
    jsonpath_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    int rc = parse_path(&ps, p, false);
    if (rc < 0) {
        path_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int kl_printer_check_jsonpath(const char *path, kl_errinfo_t *err)
{
    jsonpath_t *p;
    int rc = compile(path ? path : "", &p, err);
    if (rc == 0)
        path_free(p);
    return rc;
}

/* ---- Evaluation ------------------------------------------------------------------------- */

typedef struct vlist {
    kl_val_t *v;
    uint32_t n, cap;
} vlist_t;

#define EVAL_ERROR 2 /* client-go would fail: the cell is null (not 0 or 1, a filter result) */

static int vlist_push(vlist_t *l, kl_val_t v)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 8;
        kl_val_t *nv = realloc(l->v, cap * sizeof(*nv));
        if (nv == NULL)
            return KL_ENOMEM;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

static bool is_null(kl_val_t v)
{
    return kl_val_type(v) == KL_TNULL;
}

static int eval(const jsonpath_t *p, kl_val_t root, vlist_t *out);

/* Compares two scalar values as text/template's comparison functions do: 1 pass, 0 fail,
 * EVAL_ERROR for mismatched or incomparable types. */
static int compare(op_t op, kl_val_t l, const operand_t *rop, kl_val_t r)
{
    kl_type_t lt = kl_val_type(l);
    int cmp;
    if (rop->kind != OPD_PATH) {
        /* Literal right-hand side. */
        if (rop->kind == OPD_STRING && lt == KL_TSTRING) {
            size_t ln;
            const char *ls = kl_val_str(l, &ln);
            size_t n = ln < rop->len ? ln : rop->len;
            cmp = memcmp(ls, rop->s, n);
            if (cmp == 0)
                cmp = ln < rop->len ? -1 : ln > rop->len;
        } else if (rop->kind == OPD_INT && lt == KL_TINT) {
            int64_t a = kl_val_int(l);
            cmp = a < rop->i ? -1 : a > rop->i;
        } else if (rop->kind == OPD_DOUBLE && lt == KL_TDOUBLE) {
            double a = kl_val_number(l);
            cmp = a < rop->d ? -1 : a > rop->d;
        } else if (rop->kind == OPD_BOOL && (lt == KL_TTRUE || lt == KL_TFALSE)) {
            if (op != OP_EQ && op != OP_NE)
                return EVAL_ERROR;
            cmp = (lt == KL_TTRUE) != rop->b;
        } else {
            return EVAL_ERROR;
        }
    } else {
        kl_type_t rt = kl_val_type(r);
        bool lb = lt == KL_TTRUE || lt == KL_TFALSE, rb = rt == KL_TTRUE || rt == KL_TFALSE;
        if (lt == KL_TSTRING && rt == KL_TSTRING) {
            size_t ln, rn;
            const char *ls = kl_val_str(l, &ln), *rs = kl_val_str(r, &rn);
            size_t n = ln < rn ? ln : rn;
            cmp = memcmp(ls, rs, n);
            if (cmp == 0)
                cmp = ln < rn ? -1 : ln > rn;
        } else if (lt == KL_TINT && rt == KL_TINT) {
            int64_t a = kl_val_int(l), b = kl_val_int(r);
            cmp = a < b ? -1 : a > b;
        } else if (lt == KL_TDOUBLE && rt == KL_TDOUBLE) {
            double a = kl_val_number(l), b = kl_val_number(r);
            cmp = a < b ? -1 : a > b;
        } else if (lb && rb) {
            if (op != OP_EQ && op != OP_NE)
                return EVAL_ERROR;
            cmp = lt != rt;
        } else {
            return EVAL_ERROR;
        }
    }
    switch (op) {
    case OP_EQ:
        return cmp == 0;
    case OP_NE:
        return cmp != 0;
    case OP_LT:
        return cmp < 0;
    case OP_GT:
        return cmp > 0;
    case OP_LE:
        return cmp <= 0;
    case OP_GE:
        return cmp >= 0;
    case OP_EXISTS:
        break;
    }
    return 1;
}

/* Whether element e passes the filter: 1, 0, EVAL_ERROR, or a negative KL_E* code. */
static int filter_one(const step_t *s, kl_val_t e)
{
    vlist_t lefts = {0}, rights = {0};
    int rc = eval(s->left.kind == OPD_PATH ? s->left.path : NULL, e, &lefts);
    if (s->op == OP_EXISTS) {
        rc = rc < 0 ? rc : lefts.n > 0;
        goto out;
    }
    if (s->left.kind != OPD_PATH) {
        rc = EVAL_ERROR; /* a literal on the left: not something CRDs use */
        goto out;
    }
    if (rc != 0)
        goto out;
    if (lefts.n == 0)
        goto out; /* rc == 0: skip */
    if (lefts.n > 1) {
        rc = EVAL_ERROR;
        goto out;
    }
    kl_val_t r = {0};
    if (s->right.kind == OPD_PATH) {
        if ((rc = eval(s->right.path, e, &rights)) != 0)
            goto out;
        if (rights.n == 0)
            goto out;
        if (rights.n > 1) {
            rc = EVAL_ERROR;
            goto out;
        }
        r = rights.v[0];
    }
    rc = compare(s->op, lefts.v[0], &s->right, r);
out:
    free(lefts.v);
    free(rights.v);
    return rc;
}

static int apply_step(const step_t *s, const vlist_t *in, vlist_t *out)
{
    int rc = 0;
    for (uint32_t i = 0; i < in->n && rc == 0; i++) {
        kl_val_t v = in->v[i];
        kl_type_t t = kl_val_type(v);
        switch (s->kind) {
        case STEP_FIELD:
            if (s->len == 0 && s->name[0] == '\0') {
                rc = vlist_push(out, v);
            } else if (t == KL_TOBJECT) {
                kl_val_t m = kl_val_getn(v, s->name, s->len);
                if (!kl_val_missing(m))
                    rc = vlist_push(out, m);
            }
            break;
        case STEP_WILDCARD:
            if (t == KL_TOBJECT) {
                for (uint32_t j = 0; j < kl_val_len(v) && rc == 0; j++)
                    rc = vlist_push(out, kl_val_member(v, j, NULL, NULL));
            } else if (t == KL_TARRAY) {
                for (uint32_t j = 0; j < kl_val_len(v) && rc == 0; j++)
                    rc = vlist_push(out, kl_val_at(v, j));
            }
            break;
        case STEP_ALL:
            if (is_null(v))
                break;
            if (t != KL_TARRAY)
                return EVAL_ERROR;
            for (uint32_t j = 0; j < kl_val_len(v) && rc == 0; j++)
                rc = vlist_push(out, kl_val_at(v, j));
            break;
        case STEP_INDEX: {
            if (is_null(v))
                break;
            if (t != KL_TARRAY)
                return EVAL_ERROR;
            int64_t n = kl_val_len(v), idx = s->index < 0 ? s->index + n : s->index;
            if (idx < 0 || idx >= n)
                return EVAL_ERROR;
            rc = vlist_push(out, kl_val_at(v, (uint32_t)idx));
            break;
        }
        case STEP_FILTER:
            if (t != KL_TARRAY)
                return EVAL_ERROR;
            for (uint32_t j = 0; j < kl_val_len(v) && rc == 0; j++) {
                kl_val_t e = kl_val_at(v, j);
                int pass = filter_one(s, e);
                if (pass < 0 || pass == EVAL_ERROR)
                    return pass;
                if (pass)
                    rc = vlist_push(out, e);
            }
            break;
        }
    }
    return rc;
}

/* Evaluates p from root into out (appending). 0, EVAL_ERROR or a negative KL_E* code. A NULL
 * path yields root itself. */
static int eval(const jsonpath_t *p, kl_val_t root, vlist_t *out)
{
    vlist_t cur = {0}, next = {0};
    int rc = vlist_push(&cur, root);
    for (uint32_t i = 0; p && i < p->n && rc == 0; i++) {
        next.n = 0;
        rc = apply_step(&p->steps[i], &cur, &next);
        vlist_t t = cur;
        cur = next;
        next = t;
    }
    for (uint32_t i = 0; i < cur.n && rc == 0; i++)
        rc = vlist_push(out, cur.v[i]);
    free(cur.v);
    free(next.v);
    return rc;
}

/* ---- Cell values ------------------------------------------------------------------------ */

/* Go's fmt %v for a float64 (strconv 'g' with the shortest precision). */
static void format_go_g(double d, char *out, size_t cap)
{
    if (isnan(d)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(d)) {
        snprintf(out, cap, d > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (d == 0) {
        snprintf(out, cap, signbit(d) ? "-0" : "0");
        return;
    }
    char sci[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof(sci), "%.*e", prec - 1, d);
        if (strtod(sci, NULL) == d)
            break;
    }
    char dig[24];
    int nd = 0;
    bool neg = sci[0] == '-';
    const char *p = sci + neg;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            dig[nd++] = *p;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    int exp10 = atoi(p + 1);
    char buf[64];
    size_t o = 0;
    if (neg)
        buf[o++] = '-';
    if (exp10 < -4 || exp10 >= 6) {
        buf[o++] = dig[0];
        if (nd > 1) {
            buf[o++] = '.';
            for (int i = 1; i < nd; i++)
                buf[o++] = dig[i];
        }
        int e = exp10 < 0 ? -exp10 : exp10;
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "e%c%02d", exp10 < 0 ? '-' : '+', e);
    } else if (exp10 < 0) {
        buf[o++] = '0';
        buf[o++] = '.';
        for (int i = -1; i > exp10; i--)
            buf[o++] = '0';
        for (int i = 0; i < nd; i++)
            buf[o++] = dig[i];
    } else {
        for (int i = 0; i <= exp10 || i < nd; i++) {
            if (i == exp10 + 1)
                buf[o++] = '.';
            buf[o++] = i < nd ? dig[i] : '0';
        }
    }
    buf[o] = '\0';
    snprintf(out, cap, "%s", buf);
}

/* A Go json.Marshal string: quotes, with <, >, & and U+2028/2029 escaped as Go does. */
static int go_quote(kl_buf_t *b, const char *s, size_t n)
{
    int rc = kl_buf_putc(b, '"');
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '<' || ch == '>' || ch == '&')
            rc = kl_buf_printf(b, "\\u00%02x", ch);
        else if (ch == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                 ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9))
            rc = kl_buf_printf(b, "\\u202%c", (unsigned char)s[i + 2] == 0xa8 ? '8' : '9'), i += 2;
        else if (ch == '"' || ch == '\\')
            rc = kl_buf_printf(b, "\\%c", ch);
        else if (ch == '\n')
            rc = kl_buf_puts(b, "\\n");
        else if (ch == '\r')
            rc = kl_buf_puts(b, "\\r");
        else if (ch == '\t')
            rc = kl_buf_puts(b, "\\t");
        else if (ch < 0x20)
            rc = kl_buf_printf(b, "\\u%04x", ch);
        else
            rc = kl_buf_putc(b, (char)ch);
    }
    return rc ? rc : kl_buf_putc(b, '"');
}

typedef struct member_ref {
    const char *key;
    size_t len;
    kl_val_t v;
} member_ref_t;

static int member_cmp(const void *a, const void *b)
{
    const member_ref_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->key, y->key, n);
    return r ? r : (x->len < y->len ? -1 : x->len > y->len);
}

/* json.Marshal of a decoded value: map keys sorted, HTML characters escaped. */
static int go_marshal(kl_buf_t *b, kl_val_t v, int depth)
{
    if (depth > 256)
        return KL_ETOODEEP;
    int rc = 0;
    switch (kl_val_type(v)) {
    case KL_TSTRING: {
        size_t n;
        const char *s = kl_val_str(v, &n);
        return go_quote(b, s, n);
    }
    case KL_TARRAY:
        rc = kl_buf_putc(b, '[');
        for (uint32_t i = 0; i < kl_val_len(v) && rc == 0; i++) {
            if (i)
                rc = kl_buf_putc(b, ',');
            if (rc == 0)
                rc = go_marshal(b, kl_val_at(v, i), depth + 1);
        }
        return rc ? rc : kl_buf_putc(b, ']');
    case KL_TOBJECT: {
        uint32_t n = kl_val_len(v);
        member_ref_t *m = n ? calloc(n, sizeof(*m)) : NULL;
        if (n && m == NULL)
            return KL_ENOMEM;
        for (uint32_t i = 0; i < n; i++)
            m[i].v = kl_val_member(v, i, &m[i].key, &m[i].len);
        if (n > 1)
            qsort(m, n, sizeof(*m), member_cmp);
        rc = kl_buf_putc(b, '{');
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            if (i)
                rc = kl_buf_putc(b, ',');
            if (rc == 0)
                rc = go_quote(b, m[i].key, m[i].len);
            if (rc == 0)
                rc = kl_buf_putc(b, ':');
            if (rc == 0)
                rc = go_marshal(b, m[i].v, depth + 1);
        }
        free(m);
        return rc ? rc : kl_buf_putc(b, '}');
    }
    default:
        return kl_val_encode(v, b); /* null, booleans and numbers read the same */
    }
}

/* The "string" column: client-go's PrintResults of one value. */
static void cell_text(kl__cells_t *c, kl_val_t v)
{
    char buf[64];
    switch (kl_val_type(v)) {
    case KL_TNULL:
        kl__cell_str(c, "<no value>");
        return;
    case KL_TTRUE:
    case KL_TFALSE:
        kl__cell_str(c, kl_val_bool(v) ? "true" : "false");
        return;
    case KL_TINT:
        kl__cell_printf(c, "%lld", (long long)kl_val_int(v));
        return;
    case KL_TDOUBLE:
        format_go_g(kl_val_number(v), buf, sizeof(buf));
        kl__cell_str(c, buf);
        return;
    case KL_TSTRING: {
        size_t n;
        const char *s = kl_val_str(v, &n);
        kl__cell_strn(c, s, n);
        return;
    }
    case KL_TARRAY:
    case KL_TOBJECT:
        kl__tmp_reset(c);
        if (c->rc == 0 && (c->rc = go_marshal(&c->tmp, v, 0)) == 0)
            kl__cell_tmp(c);
        return;
    }
}

/* cellForJSONValue for the typed columns. */
static void cell_typed(kl__cells_t *c, const char *type, kl_val_t v)
{
    kl_type_t t = kl_val_type(v);
    if (strcmp(type, "integer") == 0 && (t == KL_TINT || t == KL_TDOUBLE)) {
        if (t == KL_TINT) {
            kl__cell_int(c, kl_val_int(v));
        } else {
            /* Go's int64(f) truncates; out of range gives the amd64 answer. */
            double d = kl_val_number(v);
            kl__cell_int(c, d >= -9.2e18 && d <= 9.2e18 ? (int64_t)d : INT64_MIN);
        }
    } else if (strcmp(type, "number") == 0 && (t == KL_TINT || t == KL_TDOUBLE)) {
        kl__cell_double(c, kl_val_number(v));
    } else if (strcmp(type, "boolean") == 0 && (t == KL_TTRUE || t == KL_TFALSE)) {
        kl__cell_bool(c, t == KL_TTRUE);
    } else if (strcmp(type, "date") == 0 && t == KL_TSTRING) {
        size_t n;
        const char *s = kl_val_str(v, &n);
        int64_t sec;
        int32_t nsec;
        char buf[32];
        if (n == 0 || (n == 4 && memcmp(s, "null", 4) == 0)) {
            kl__cell_str(c, "<unknown>");
        } else if (kl__time_parse(s, n, &sec, &nsec) < 0) {
            kl__cell_str(c, "<invalid>");
        } else if (sec == KL__ZERO_TIME_SEC && nsec == 0) {
            kl__cell_str(c, "<unknown>");
        } else {
            kl__since(c->now, sec, nsec, buf, sizeof(buf));
            kl__cell_str(c, buf);
        }
    } else {
        kl__cell_null(c);
    }
}

/* ---- The printer ------------------------------------------------------------------------ */

static void custom_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t obj)
{
    size_t n;
    const char *name = kl__str(kl_val_get(obj, "metadata"), "name", &n);
    kl__cell_strn(c, name, n);
    for (uint32_t i = 1; i < p->ncols && c->rc == 0; i++) {
        vlist_t res = {0};
        int rc = eval(p->paths[i - 1], obj, &res);
        if (rc < 0) {
            c->rc = rc;
        } else if (rc == EVAL_ERROR || res.n == 0) {
            kl__cell_null(c);
        } else if (strcmp(p->cols[i].type, "string") == 0) {
            cell_text(c, res.v[0]);
        } else if (is_null(res.v[0])) {
            kl__cell_null(c);
        } else {
            cell_typed(c, p->cols[i].type, res.v[0]);
        }
        free(res.v);
    }
}

void kl__table_custom_free(kl_printer_t *p)
{
    if (p == NULL)
        return;
    kl__column_t *cols = (kl__column_t *)p->cols;
    for (uint32_t i = 1; i < p->ncols; i++) {
        free((char *)cols[i].name);
        free((char *)cols[i].type);
        free((char *)cols[i].format);
        free((char *)cols[i].description);
        path_free(p->paths[i - 1]);
    }
    free(cols);
    free(p->paths);
    free(p);
}

static char *dup_or_null(const char *s)
{
    return strdup(s ? s : "");
}

int kl__table_custom_new(const kl_json_t *columns, kl_printer_t **out, kl_errinfo_t *err)
{
    if (!kl_json_is(columns, KL_TARRAY))
        return kl_err(err, KL_EINVAL, "additionalPrinterColumns must be an array");
    /* A version without columns gets Age (serveDefaultColumnsIfEmpty). */
    uint32_t ncustom = columns->len ? columns->len : 1;
    kl_printer_t *p = calloc(1, sizeof(*p));
    kl__column_t *cols = calloc(ncustom + 1, sizeof(*cols));
    jsonpath_t **paths = calloc(ncustom, sizeof(*paths));
    if (p == NULL || cols == NULL || paths == NULL) {
        free(p);
        free(cols);
        free(paths);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    p->name = "custom";
    p->owned = true;
    p->row = custom_row;
    p->cols = cols;
    p->paths = paths;
    cols[0] = (kl__column_t){"Name", "string", "name", kl__desc_name, 0};
    p->ncols = 1;
    int rc = 0;
    for (uint32_t i = 0; i < ncustom && rc == 0; i++) {
        const kl_json_t *col = columns->len ? kl_json_at(columns, i) : NULL;
        const char *name, *type, *format, *desc, *path;
        int64_t priority;
        char defdesc[1024];
        if (columns->len == 0) {
            name = "Age", type = "date", format = "", desc = kl__desc_created;
            path = ".metadata.creationTimestamp", priority = 0;
        } else {
            name = kl_json_str(kl_json_get(col, "name"));
            type = kl_json_str(kl_json_get(col, "type"));
            path = kl_json_str(kl_json_get(col, "jsonPath"));
            format = kl_json_str(kl_json_get(col, "format"));
            desc = kl_json_str(kl_json_get(col, "description"));
            priority = kl_json_int_or(kl_json_get(col, "priority"), 0);
            if (!kl_json_is(col, KL_TOBJECT) || name == NULL || type == NULL || path == NULL) {
                rc = kl_err(err, KL_EINVAL,
                            "additionalPrinterColumns[%u] needs name, type and jsonPath", i);
                break;
            }
            if (desc == NULL || desc[0] == '\0') {
                snprintf(defdesc, sizeof(defdesc),
                         "Custom resource definition column (in JSONPath format): %s", path);
                desc = defdesc;
            }
        }
        if ((rc = compile(path, &paths[i], err)) < 0)
            break;
        kl__column_t *cc = &cols[p->ncols++];
        cc->name = dup_or_null(name);
        cc->type = dup_or_null(type);
        cc->format = dup_or_null(format);
        cc->description = dup_or_null(desc);
        cc->priority = (int32_t)priority;
        if (!cc->name || !cc->type || !cc->format || !cc->description)
            rc = kl_err(err, KL_ENOMEM, "out of memory");
    }
    if (rc < 0) {
        /* Columns added so far own their paths; a path whose column was not added is NULL. */
        kl__table_custom_free(p);
        return rc;
    }
    *out = p;
    return 0;
}
