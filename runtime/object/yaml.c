/* YAML -> JSON trees with libyaml's event parser, typing plain scalars as the YAML 1.1 rules
 * that kubectl applies to manifests (sigs.k8s.io/yaml over go-yaml v2). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "kubelua/json.h"

typedef struct yframe {
    kl_json_t *node; /* array or object being filled */
    char *key;       /* pending key of an object, NULL when a key is expected */
    size_t keylen;
    int key_line;     /* 1-based line of the pending key */
    int key_is_merge; /* the pending key is "<<" */
    int *lines;       /* per member: line of its key, or -1 when it came from a merge */
    size_t lines_cap;
    char *anchor; /* anchor to register when the node completes */
} yframe_t;

typedef struct anchor {
    char *name;
    kl_json_t *node; /* owned copy */
} anchor_t;

typedef struct ystate {
    yaml_parser_t parser;
    kl_errinfo_t *err;
    kl_limits_t lim;
    yframe_t *frames;
    size_t depth, frames_cap;
    anchor_t *anchors;
    size_t nanchors, anchors_cap;
    size_t nodes;
    kl_json_t **docs;
    size_t ndocs, docs_cap;
    kl_json_t *doc; /* completed root of the current document */
    int reported;   /* err already describes the failure */
} ystate_t;

static int yfail(ystate_t *st, int code, const yaml_mark_t *mark, const char *fmt, ...)
    KL_PRINTF(4, 5);

static int yfail(ystate_t *st, int code, const yaml_mark_t *mark, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    st->reported = 1;
    if (mark)
        return kl_err_at(st->err, code, (int)mark->line + 1, (int)mark->column + 1,
                         "line %d, column %d: %s", (int)mark->line + 1, (int)mark->column + 1, msg);
    return kl_err(st->err, code, "%s", msg);
}

static int streq_any(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

static const char *const true_words[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                         "True", "TRUE", "on",  "On",  "ON",  NULL};
static const char *const false_words[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                          "False", "FALSE", "off", "Off", "OFF", NULL};
static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const nan_inf_words[] = {".nan",  ".NaN",  ".NAN",  ".inf",  ".Inf",
                                            ".INF",  "+.inf", "+.Inf", "+.INF", "-.inf",
                                            "-.Inf", "-.INF", NULL};

/* Go's strconv.ParseInt(s, 0, 64) after removing underscores, as go-yaml v2 does. */
static int parse_yaml_int(const char *s, int64_t *out)
{
    char tmp[80];
    size_t n = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '_')
            continue;
        if (n + 1 >= sizeof(tmp))
            return 0;
        tmp[n++] = *p;
    }
    tmp[n] = '\0';
    const char *p = tmp;
    int neg = 0;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    if (*p == '\0')
        return 0;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    } else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
        base = 8;
        p += 2;
    } else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
        base = 2;
        p += 2;
    } else if (p[0] == '0' && p[1] != '\0') {
        base = 8;
        p += 1;
    }
    if (*p == '\0')
        return 0;
    uint64_t v = 0;
    for (; *p; p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else
            return 0;
        if (d >= base)
            return 0;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return 0;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    if (!neg && v > (uint64_t)INT64_MAX)
        return 0;
    if (neg && v > (uint64_t)INT64_MAX + 1)
        return 0;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

/* go-yaml v2's float pattern: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static int parse_yaml_float(const char *s, double *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    } else {
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9')
                p++;
        }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p != '\0')
        return 0;
    errno = 0;
    double d = strtod(s, NULL);
    if (errno == ERANGE || !isfinite(d))
        return 0;
    *out = d;
    return 1;
}

static kl_json_t *resolve_scalar(ystate_t *st, const yaml_event_t *ev, int *rc)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    *rc = 0;
    if (len > st->lim.max_string) {
        *rc = yfail(st, KL_ETOOBIG, &ev->start_mark, "string longer than the limit");
        return NULL;
    }
    if (tag != NULL) {
        if (strcmp(tag, YAML_STR_TAG) == 0 || strcmp(tag, "!") == 0)
            return kl_json_stringn(v, len);
        if (strcmp(tag, YAML_NULL_TAG) == 0)
            return kl_json_null();
        if (strcmp(tag, YAML_BOOL_TAG) == 0) {
            if (streq_any(v, true_words))
                return kl_json_bool(true);
            if (streq_any(v, false_words))
                return kl_json_bool(false);
        } else if (strcmp(tag, YAML_INT_TAG) == 0) {
            int64_t i;
            if (parse_yaml_int(v, &i))
                return kl_json_int(i);
        } else if (strcmp(tag, YAML_FLOAT_TAG) == 0) {
            double d;
            int64_t i;
            if (parse_yaml_int(v, &i))
                return kl_json_double((double)i);
            if (parse_yaml_float(v, &d))
                return kl_json_double(d);
        } else {
            /* Unknown tags (e.g. !!binary, custom ones): keep the text. */
            return kl_json_stringn(v, len);
        }
        *rc = yfail(st, KL_EINVAL, &ev->start_mark, "cannot decode \"%.60s\" as %s", v, tag);
        return NULL;
    }
    if (!plain || strlen(v) != len)
        return kl_json_stringn(v, len);
    if (streq_any(v, null_words))
        return kl_json_null();
    if (streq_any(v, true_words))
        return kl_json_bool(true);
    if (streq_any(v, false_words))
        return kl_json_bool(false);
    if (strchr("+-.0123456789", v[0]) != NULL) {
        int64_t i;
        double d;
        if (parse_yaml_int(v, &i))
            return kl_json_int(i);
        if (parse_yaml_float(v, &d))
            return kl_json_double(d);
        if (streq_any(v, nan_inf_words)) {
            *rc = yfail(st, KL_EINVAL, &ev->start_mark,
                        "%s is not representable in JSON (quote it to make it a string)", v);
            return NULL;
        }
    }
    return kl_json_stringn(v, len);
}

/* The text of a scalar used as a mapping key: JSON keys are strings, so typed keys take the
 * text Go would print for them. */
static char *key_text(const kl_json_t *k, size_t *len)
{
    char tmp[64];
    const char *s = tmp;
    switch (k->type) {
    case KL_TSTRING:
        s = k->u.s;
        *len = k->len;
        break;
    case KL_TNULL:
        s = "null";
        *len = 4;
        break;
    case KL_TTRUE:
        s = "true";
        *len = 4;
        break;
    case KL_TFALSE:
        s = "false";
        *len = 5;
        break;
    case KL_TINT:
        *len = (size_t)snprintf(tmp, sizeof(tmp), "%lld", (long long)k->u.i);
        break;
    case KL_TDOUBLE:
        *len = (size_t)snprintf(tmp, sizeof(tmp), "%g", k->u.d);
        break;
    default:
        return NULL;
    }
    char *r = malloc(*len + 1);
    if (r) {
        memcpy(r, s, *len);
        r[*len] = '\0';
    }
    return r;
}

static int count_nodes(const kl_json_t *j)
{
    int n = 1;
    if (j->type == KL_TARRAY)
        for (uint32_t i = 0; i < j->len; i++)
            n += count_nodes(j->u.items[i]);
    if (j->type == KL_TOBJECT)
        for (uint32_t i = 0; i < j->len; i++)
            n += count_nodes(j->u.members[i].val);
    return n;
}

static int register_anchor(ystate_t *st, char *name, const kl_json_t *node)
{
    if (name == NULL)
        return 0;
    kl_json_t *copy = kl_json_dup(node);
    if (copy == NULL) {
        free(name);
        return KL_ENOMEM;
    }
    /* A later anchor of the same name replaces the earlier one. */
    for (size_t i = 0; i < st->nanchors; i++) {
        if (strcmp(st->anchors[i].name, name) == 0) {
            free(name);
            kl_json_free(st->anchors[i].node);
            st->anchors[i].node = copy;
            return 0;
        }
    }
    if (st->nanchors == st->anchors_cap) {
        size_t cap = st->anchors_cap ? st->anchors_cap * 2 : 8;
        anchor_t *a = realloc(st->anchors, cap * sizeof(*a));
        if (a == NULL) {
            free(name);
            kl_json_free(copy);
            return KL_ENOMEM;
        }
        st->anchors = a;
        st->anchors_cap = cap;
    }
    st->anchors[st->nanchors++] = (anchor_t){name, copy};
    return 0;
}

static char *dup_anchor(const yaml_char_t *a)
{
    return a ? strdup((const char *)a) : NULL;
}

static int merge_into(ystate_t *st, yframe_t *f, const kl_json_t *src, const yaml_mark_t *mark)
{
    if (src->type == KL_TARRAY) {
        for (uint32_t i = 0; i < src->len; i++) {
            int rc = merge_into(st, f, src->u.items[i], mark);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (src->type != KL_TOBJECT)
        return yfail(st, KL_EINVAL, mark, "map merge requires a map or a sequence of maps");
    for (uint32_t i = 0; i < src->len; i++) {
        const kl_jmember_t *m = &src->u.members[i];
        if (kl_json_getn(f->node, m->key, m->keylen) != NULL)
            continue;
        kl_json_t *c = kl_json_dup(m->val);
        if (c == NULL)
            return KL_ENOMEM;
        if (f->node->len == f->lines_cap) {
            size_t cap = f->lines_cap ? f->lines_cap * 2 : 8;
            int *l = realloc(f->lines, cap * sizeof(int));
            if (l == NULL) {
                kl_json_free(c);
                return KL_ENOMEM;
            }
            f->lines = l;
            f->lines_cap = cap;
        }
        uint32_t idx = f->node->len;
        int rc = kl_json_setn(f->node, m->key, m->keylen, c);
        if (rc < 0)
            return rc;
        f->lines[idx] = -1;
    }
    return 0;
}

/* Attaches a completed node to the innermost open container, or makes it the document root. */
static int attach(ystate_t *st, kl_json_t *n, char *anchor, const yaml_mark_t *mark)
{
    int rc = register_anchor(st, anchor, n);
    if (rc < 0) {
        kl_json_free(n);
        return rc;
    }
    if (st->depth == 0) {
        st->doc = n;
        return 0;
    }
    yframe_t *f = &st->frames[st->depth - 1];
    if (f->node->type == KL_TARRAY)
        return kl_json_append(f->node, n);
    if (f->key == NULL) {
        /* n is a key. */
        if (n->type == KL_TARRAY || n->type == KL_TOBJECT) {
            kl_json_free(n);
            return yfail(st, KL_EINVAL, mark, "complex mapping keys are not supported");
        }
        f->key = key_text(n, &f->keylen);
        kl_json_free(n);
        if (f->key == NULL)
            return KL_ENOMEM;
        f->key_line = (int)mark->line + 1;
        return 0;
    }
    char *key = f->key;
    size_t keylen = f->keylen;
    int key_line = f->key_line;
    f->key = NULL;
    if (f->key_is_merge) {
        f->key_is_merge = 0;
        free(key);
        rc = merge_into(st, f, n, mark);
        kl_json_free(n);
        return rc;
    }
    for (uint32_t i = 0; i < f->node->len; i++) {
        kl_jmember_t *m = &f->node->u.members[i];
        if (m->keylen != keylen || memcmp(m->key, key, keylen) != 0)
            continue;
        if (f->lines[i] < 0) {
            /* Explicit keys override merged ones. */
            kl_json_free(m->val);
            m->val = n;
            f->lines[i] = key_line;
            free(key);
            return 0;
        }
        st->reported = 1;
        rc = kl_err_at(st->err, KL_EDUPKEY, key_line, 0,
                       "line %d: mapping key \"%.100s\" already defined at line %d", key_line, key,
                       f->lines[i]);
        free(key);
        kl_json_free(n);
        return rc;
    }
    if (f->node->len == f->lines_cap) {
        size_t cap = f->lines_cap ? f->lines_cap * 2 : 8;
        int *l = realloc(f->lines, cap * sizeof(int));
        if (l == NULL) {
            free(key);
            kl_json_free(n);
            return KL_ENOMEM;
        }
        f->lines = l;
        f->lines_cap = cap;
    }
    uint32_t idx = f->node->len;
    rc = kl_json_setn(f->node, key, keylen, n);
    free(key);
    if (rc == 0)
        f->lines[idx] = key_line;
    return rc;
}

static int push_frame(ystate_t *st, kl_json_t *node, char *anchor, const yaml_mark_t *mark)
{
    if (node == NULL) {
        free(anchor);
        return KL_ENOMEM;
    }
    if (st->depth >= st->lim.max_depth) {
        kl_json_free(node);
        free(anchor);
        return yfail(st, KL_ETOODEEP, mark, "nesting deeper than %u levels", st->lim.max_depth);
    }
    if (st->depth == st->frames_cap) {
        size_t cap = st->frames_cap ? st->frames_cap * 2 : 16;
        yframe_t *f = realloc(st->frames, cap * sizeof(*f));
        if (f == NULL) {
            kl_json_free(node);
            free(anchor);
            return KL_ENOMEM;
        }
        st->frames = f;
        st->frames_cap = cap;
    }
    st->frames[st->depth++] = (yframe_t){.node = node, .anchor = anchor};
    return 0;
}

/* A mapping or sequence that is about to become a key is detected when it completes. */
static int pop_frame(ystate_t *st, const yaml_mark_t *mark)
{
    yframe_t f = st->frames[--st->depth];
    free(f.lines);
    free(f.key);
    return attach(st, f.node, f.anchor, mark);
}

static int check_merge_key(ystate_t *st, const yaml_event_t *ev)
{
    /* A plain "<<" in key position is a merge key. */
    if (st->depth == 0)
        return 0;
    yframe_t *f = &st->frames[st->depth - 1];
    if (f->node->type != KL_TOBJECT || f->key != NULL)
        return 0;
    return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev->data.scalar.tag == NULL &&
           ev->data.scalar.length == 2 && memcmp(ev->data.scalar.value, "<<", 2) == 0;
}

static int add_doc(ystate_t *st)
{
    kl_json_t *d = st->doc;
    st->doc = NULL;
    if (d == NULL || d->type == KL_TNULL) {
        kl_json_free(d);
        return 0;
    }
    if (st->ndocs == st->docs_cap) {
        size_t cap = st->docs_cap ? st->docs_cap * 2 : 4;
        kl_json_t **n = realloc(st->docs, cap * sizeof(*n));
        if (n == NULL) {
            kl_json_free(d);
            return KL_ENOMEM;
        }
        st->docs = n;
        st->docs_cap = cap;
    }
    st->docs[st->ndocs++] = d;
    return 0;
}

static int handle(ystate_t *st, yaml_event_t *ev)
{
    int rc = 0;
    if (++st->nodes > st->lim.max_nodes)
        return yfail(st, KL_ETOOBIG, &ev->start_mark, "too many values");
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        /* Anchors do not cross documents. */
        for (size_t i = 0; i < st->nanchors; i++) {
            free(st->anchors[i].name);
            kl_json_free(st->anchors[i].node);
        }
        st->nanchors = 0;
        return 0;
    case YAML_DOCUMENT_END_EVENT:
        return add_doc(st);
    case YAML_MAPPING_START_EVENT:
        return push_frame(st, kl_json_object(), dup_anchor(ev->data.mapping_start.anchor),
                          &ev->start_mark);
    case YAML_SEQUENCE_START_EVENT:
        return push_frame(st, kl_json_array(), dup_anchor(ev->data.sequence_start.anchor),
                          &ev->start_mark);
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        return pop_frame(st, &ev->start_mark);
    case YAML_SCALAR_EVENT: {
        if (check_merge_key(st, ev)) {
            yframe_t *f = &st->frames[st->depth - 1];
            f->key = strdup("<<");
            if (f->key == NULL)
                return KL_ENOMEM;
            f->keylen = 2;
            f->key_is_merge = 1;
            f->key_line = (int)ev->start_mark.line + 1;
            return 0;
        }
        kl_json_t *n = resolve_scalar(st, ev, &rc);
        if (n == NULL)
            return rc < 0 ? rc : KL_ENOMEM;
        return attach(st, n, dup_anchor(ev->data.scalar.anchor), &ev->start_mark);
    }
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        for (size_t i = st->nanchors; i-- > 0;) {
            if (strcmp(st->anchors[i].name, name) == 0) {
                st->nodes += (size_t)count_nodes(st->anchors[i].node);
                if (st->nodes > st->lim.max_nodes)
                    return yfail(st, KL_ETOOBIG, &ev->start_mark,
                                 "alias expansion exceeds the limit of %zu values",
                                 st->lim.max_nodes);
                kl_json_t *c = kl_json_dup(st->anchors[i].node);
                if (c == NULL)
                    return KL_ENOMEM;
                return attach(st, c, NULL, &ev->start_mark);
            }
        }
        return yfail(st, KL_EINVAL, &ev->start_mark, "unknown anchor '%s' referenced", name);
    }
    default:
        return 0;
    }
}

int kl_yaml_parse(const char *text, size_t len, const kl_parse_opts_t *opts, kl_json_t ***docs,
                  size_t *ndocs, kl_errinfo_t *err)
{
    ystate_t st = {.err = err};
    kl_limits_t l = opts ? opts->limits : (kl_limits_t){0};
    st.lim.max_bytes = l.max_bytes ? l.max_bytes : KL_LIMIT_MAX_BYTES;
    st.lim.max_depth = l.max_depth ? l.max_depth : KL_LIMIT_MAX_DEPTH;
    st.lim.max_string = l.max_string ? l.max_string : KL_LIMIT_MAX_STRING;
    st.lim.max_nodes = l.max_nodes ? l.max_nodes : KL_LIMIT_MAX_NODES;
    if (len > st.lim.max_bytes)
        return kl_err(err, KL_ETOOBIG, "input of %zu bytes exceeds the limit of %zu", len,
                      st.lim.max_bytes);
    if (!yaml_parser_initialize(&st.parser))
        return kl_err(err, KL_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&st.parser, (const unsigned char *)text, len);
    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&st.parser, &ev)) {
            const yaml_mark_t *m = &st.parser.problem_mark;
            const char *problem = st.parser.problem ? st.parser.problem : "syntax error";
            if (st.parser.context)
                rc = yfail(&st, KL_ESYNTAX, m, "%s %s", problem, st.parser.context);
            else
                rc = yfail(&st, KL_ESYNTAX, m, "%s", problem);
            break;
        }
        int done = ev.type == YAML_STREAM_END_EVENT;
        rc = handle(&st, &ev);
        yaml_event_delete(&ev);
        if (rc < 0) {
            if (!st.reported)
                kl_err(err, rc, "%s", kl_strerror(rc));
            break;
        }
        if (done)
            break;
    }
    yaml_parser_delete(&st.parser);
    while (st.depth > 0) {
        yframe_t *f = &st.frames[--st.depth];
        kl_json_free(f->node);
        free(f->key);
        free(f->lines);
        free(f->anchor);
    }
    free(st.frames);
    for (size_t i = 0; i < st.nanchors; i++) {
        free(st.anchors[i].name);
        kl_json_free(st.anchors[i].node);
    }
    free(st.anchors);
    kl_json_free(st.doc);
    if (rc < 0) {
        kl_json_free_docs(st.docs, st.ndocs);
        return rc;
    }
    *docs = st.docs;
    *ndocs = st.ndocs;
    return 0;
}
