/* Boundaries of JSON values in text, without decoding them: the watch decoder takes the
 * "object" member of an event line and the list decoder each element of "items", and hands only
 * those bytes to kl_obj_parse_json(), so the cache holds documents of the objects themselves. */
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"

const char *kl__skim_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* p is just past an opening quote; returns the position just past the closing quote. Strings in
 * Kubernetes objects are short, so a plain loop beats memchr's call overhead. */
static const char *skip_string(const char *p, const char *end)
{
    while (p < end) {
        char c = *p++;
        if (c == '"')
            return p;
        if (c == '\\') {
            if (p >= end)
                return NULL;
            p++;
        }
    }
    return NULL;
}

const char *kl__skim_value(const char *p, const char *end, bool *has_kind)
{
    p = kl__skim_ws(p, end);
    if (has_kind)
        *has_kind = false;
    if (p >= end)
        return NULL;
    char c = *p;
    if (c == '"')
        return skip_string(p + 1, end);
    if (c != '{' && c != '[') {
        const char *s = p;
        while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' &&
               *p != '\r' && *p != '\t')
            p++;
        return p > s ? p : NULL;
    }
    int depth = 0;
    bool expect_key = false;
    while (p < end) {
        c = *p;
        switch (c) {
        case '"': {
            const char *s = p + 1;
            p = skip_string(s, end);
            if (p == NULL)
                return NULL;
            if (depth == 1 && expect_key && has_kind && p - s == 5 && memcmp(s, "kind", 4) == 0)
                *has_kind = true;
            expect_key = false;
            continue;
        }
        case '{':
            depth++;
            expect_key = depth == 1;
            break;
        case '[':
            depth++;
            break;
        case '}':
        case ']':
            if (--depth == 0)
                return p + 1;
            break;
        case ',':
            if (depth == 1)
                expect_key = true;
            break;
        default:
            break;
        }
        p++;
    }
    return NULL;
}

/* Advances to the next member of the top-level object: returns 1 with its key and the start of
 * its value (the caller then moves *pos past the value), 0 after the closing brace, KL_ESYNTAX. */
static int next_key(const char *p, const char *end, const char **pos, const char **key,
                    size_t *keylen, const char **val)
{
    const char *q = *pos;
    if (q == NULL) {
        q = kl__skim_ws(p, end);
        if (q >= end || *q != '{')
            return KL_ESYNTAX;
        q = kl__skim_ws(q + 1, end);
        if (q < end && *q == '}') {
            *pos = q + 1;
            return 0;
        }
    } else {
        q = kl__skim_ws(q, end);
        if (q >= end)
            return KL_ESYNTAX;
        if (*q == '}') {
            *pos = q + 1;
            return 0;
        }
        if (*q != ',')
            return KL_ESYNTAX;
        q = kl__skim_ws(q + 1, end);
    }
    if (q >= end || *q != '"')
        return KL_ESYNTAX;
    const char *ks = q + 1;
    const char *ke = skip_string(ks, end);
    if (ke == NULL)
        return KL_ESYNTAX;
    q = kl__skim_ws(ke, end);
    if (q >= end || *q != ':')
        return KL_ESYNTAX;
    *key = ks;
    *keylen = (size_t)(ke - 1 - ks);
    *val = kl__skim_ws(q + 1, end);
    return 1;
}

int kl__skim_member(const char *p, const char *end, const char **pos, const char **key,
                    size_t *keylen, const char **val, const char **val_end)
{
    int r = next_key(p, end, pos, key, keylen, val);
    if (r != 1)
        return r;
    const char *ve = kl__skim_value(*val, end, NULL);
    if (ve == NULL)
        return KL_ESYNTAX;
    *val_end = ve;
    *pos = ve;
    return 1;
}

static int type_of(const char *s, size_t n, kl_watch_type_t *t)
{
#define T(str, v)                                                                                  \
    if (n == sizeof(str) - 1 && memcmp(s, str, n) == 0) {                                          \
        *t = v;                                                                                    \
        return 0;                                                                                  \
    }
    T("ADDED", KL_WATCH_ADDED)
    T("MODIFIED", KL_WATCH_MODIFIED)
    T("DELETED", KL_WATCH_DELETED)
    T("BOOKMARK", KL_WATCH_BOOKMARK)
    T("ERROR", KL_WATCH_ERROR)
#undef T
    return KL_ESYNTAX;
}

/* The shape every API server writes: {"type":"ADDED","object":{...}}. The object then runs from
 * after the prefix to the line's last '}' (exclusive), and the parser validates it, so no
 * separate pass is needed to find where it ends. Returns 1 when handled, 0 to take the general
 * path. */
static int decode_fast(const char *line, size_t len, unsigned parse_flags, kl_watch_type_t *type,
                       kl_obj_t **obj)
{
    static const char pre[] = "{\"type\":\"";
    static const char mid[] = "\",\"object\":";
    if (len < sizeof(pre) + sizeof(mid) || memcmp(line, pre, sizeof(pre) - 1) != 0)
        return 0;
    const char *t = line + sizeof(pre) - 1, *end = line + len;
    const char *q = memchr(t, '"', (size_t)(end - t) < 16 ? (size_t)(end - t) : 16);
    if (q == NULL || type_of(t, (size_t)(q - t), type) < 0 || (size_t)(end - q) < sizeof(mid) ||
        memcmp(q, mid, sizeof(mid) - 1) != 0)
        return 0;
    const char *o = q + sizeof(mid) - 1;
    while (end > o && (end[-1] == ' ' || end[-1] == '\r' || end[-1] == '\t'))
        end--;
    if (end - o < 3 || *o != '{' || end[-1] != '}')
        return 0;
    kl_parse_opts_t po = {.flags = parse_flags};
    if (kl_obj_parse_json(o, (size_t)(end - 1 - o), &po, obj, NULL) < 0)
        return 0;
    if (kl_val_type(kl_obj_root(*obj)) != KL_TOBJECT) {
        kl_obj_unref(*obj);
        *obj = NULL;
        return 0;
    }
    return 1;
}

int kl__watch_decode_line(const char *line, size_t len, unsigned parse_flags, kl_watch_type_t *type,
                          kl_obj_t **obj, kl_errinfo_t *err)
{
    if (decode_fast(line, len, parse_flags, type, obj))
        return 0;
    const char *end = line + len, *pos = NULL, *key, *val, *vend;
    const char *tstart = NULL, *ostart = NULL, *oend = NULL;
    size_t keylen, tlen = 0;
    int r;
    while ((r = kl__skim_member(line, end, &pos, &key, &keylen, &val, &vend)) == 1) {
        if (keylen == 4 && memcmp(key, "type", 4) == 0) {
            if (*val != '"')
                return kl_err(err, KL_ESYNTAX, "watch event: type is not a string");
            tstart = val + 1;
            tlen = (size_t)(vend - val - 2);
        } else if (keylen == 6 && memcmp(key, "object", 6) == 0) {
            ostart = val;
            oend = vend;
        }
    }
    if (r < 0 || kl__skim_ws(pos ? pos : line, end) != end)
        return kl_err(err, KL_ESYNTAX, "watch event: malformed JSON: %.*s",
                      len > 80 ? 80 : (int)len, line);
    if (tstart == NULL)
        return kl_err(err, KL_ESYNTAX, "watch event without a type");
    if (type_of(tstart, tlen, type) < 0)
        return kl_err(err, KL_ESYNTAX, "watch event: unknown type \"%.*s\"",
                      tlen > 32 ? 32 : (int)tlen, tstart);
    *obj = NULL;
    if (ostart == NULL || (oend - ostart == 4 && memcmp(ostart, "null", 4) == 0)) {
        if (*type == KL_WATCH_ERROR || *type == KL_WATCH_BOOKMARK)
            return 0;
        return kl_err(err, KL_ESYNTAX, "watch event without an object");
    }
    kl_parse_opts_t po = {.flags = parse_flags};
    kl_errinfo_t perr;
    int rc = kl_obj_parse_json(ostart, (size_t)(oend - ostart), &po, obj, &perr);
    if (rc == KL_ENOMEM)
        return kl_err(err, rc, "out of memory");
    if (rc < 0)
        return kl_err(err, KL_ESYNTAX, "watch event object: %s", perr.msg);
    if (kl_val_type(kl_obj_root(*obj)) != KL_TOBJECT) {
        kl_obj_unref(*obj);
        *obj = NULL;
        return kl_err(err, KL_ESYNTAX, "watch event object is not a JSON object");
    }
    return 0;
}

void kl__linebuf_init(kl_linebuf_t *lb, size_t max_line)
{
    kl_buf_init(&lb->buf, max_line);
}

void kl__linebuf_cleanup(kl_linebuf_t *lb)
{
    kl_buf_cleanup(&lb->buf);
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\r' && s[i] != '\t')
            return false;
    return true;
}

int kl__linebuf_feed(kl_linebuf_t *lb, const char *data, size_t len, kl_line_fn fn, void *ud)
{
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            if (kl_buf_append(&lb->buf, p, (size_t)(end - p)) < 0)
                return KL_ETOOBIG;
            return 0;
        }
        const char *line = p;
        size_t n = (size_t)(nl - p);
        if (lb->buf.len) {
            if (kl_buf_append(&lb->buf, p, n) < 0)
                return KL_ETOOBIG;
            line = lb->buf.data;
            n = lb->buf.len;
        } else if (n > lb->buf.max) {
            return KL_ETOOBIG;
        }
        p = nl + 1;
        int rc = blank(line, n) ? 0 : fn(line, n, ud);
        kl_buf_reset(&lb->buf);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int copy_str(const char *v, const char *ve, char *out, size_t cap)
{
    if (*v != '"')
        return KL_ESYNTAX;
    size_t n = (size_t)(ve - v - 2);
    if (n >= cap)
        return KL_ETOOBIG;
    memcpy(out, v + 1, n);
    out[n] = '\0';
    return 0;
}

typedef struct span {
    const char *p;
    size_t len;
    bool has_kind;
} span_t;

/* Walks the items array starting at p ('['), recording each item's span; returns the position
 * after ']' or NULL. */
static const char *collect_items(const char *p, const char *end, span_t **spans, size_t *n,
                                 size_t *cap, int *rc)
{
    p = kl__skim_ws(p + 1, end);
    if (p < end && *p == ']')
        return p + 1;
    while (p < end) {
        bool has_kind;
        const char *ie = kl__skim_value(p, end, &has_kind);
        if (ie == NULL || *p != '{')
            return NULL;
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 512;
            span_t *ns = realloc(*spans, nc * sizeof(*ns));
            if (ns == NULL) {
                *rc = KL_ENOMEM;
                return NULL;
            }
            *spans = ns;
            *cap = nc;
        }
        (*spans)[(*n)++] = (span_t){p, (size_t)(ie - p), has_kind};
        p = kl__skim_ws(ie, end);
        if (p < end && *p == ',')
            p = kl__skim_ws(p + 1, end);
        else if (p < end && *p == ']')
            return p + 1;
        else
            return NULL;
    }
    return NULL;
}

int kl__list_split(const char *body, size_t len, unsigned parse_flags, kl_list_item_cb item_fn,
                   void *ud, kl__list_meta_t *meta, kl_errinfo_t *err)
{
    const char *end = body + len, *pos = NULL, *key, *val, *vend;
    span_t *spans = NULL;
    size_t nspans = 0, cap = 0;
    size_t keylen;
    char kind[128] = "", api[128] = "";
    int r, rc = 0;
    meta->resource_version[0] = '\0';
    meta->continue_token = NULL;
    meta->remaining = -1;
    meta->items = 0;
    while ((r = next_key(body, end, &pos, &key, &keylen, &val)) == 1) {
        if (keylen == 5 && memcmp(key, "items", 5) == 0 && val < end && *val == '[') {
            /* The items array is walked once, item by item. */
            nspans = 0;
            pos = collect_items(val, end, &spans, &nspans, &cap, &rc);
            if (pos == NULL) {
                free(spans);
                if (rc == KL_ENOMEM)
                    return kl_err(err, rc, "out of memory");
                return kl_err(err, KL_ESYNTAX, "list response: malformed items array");
            }
            continue;
        }
        vend = kl__skim_value(val, end, NULL);
        if (vend == NULL) {
            r = KL_ESYNTAX;
            break;
        }
        pos = vend;
        if (keylen == 4 && memcmp(key, "kind", 4) == 0) {
            copy_str(val, vend, kind, sizeof(kind));
        } else if (keylen == 10 && memcmp(key, "apiVersion", 10) == 0) {
            copy_str(val, vend, api, sizeof(api));
        } else if (keylen == 5 && memcmp(key, "items", 5) == 0) {
            if (!(vend - val == 4 && memcmp(val, "null", 4) == 0)) {
                free(spans);
                free(meta->continue_token);
                meta->continue_token = NULL;
                return kl_err(err, KL_ESYNTAX, "list response: items is not an array");
            }
        } else if (keylen == 8 && memcmp(key, "metadata", 8) == 0) {
            kl_obj_t *md;
            kl_errinfo_t perr;
            rc = kl_obj_parse_json(val, (size_t)(vend - val), NULL, &md, &perr);
            if (rc < 0) {
                free(spans);
                return kl_err(err, rc == KL_ENOMEM ? rc : KL_ESYNTAX, "list metadata: %s",
                              perr.msg);
            }
            kl_val_t root = kl_obj_root(md);
            const char *rv = kl_val_str(kl_val_get(root, "resourceVersion"), NULL);
            const char *cont = kl_val_str(kl_val_get(root, "continue"), NULL);
            kl_val_t rem = kl_val_get(root, "remainingItemCount");
            if (rv && strlen(rv) < sizeof(meta->resource_version))
                strcpy(meta->resource_version, rv);
            free(meta->continue_token);
            meta->continue_token = strdup(cont ? cont : "");
            if (kl_val_type(rem) == KL_TINT)
                meta->remaining = kl_val_int(rem);
            kl_obj_unref(md);
            if (meta->continue_token == NULL) {
                free(spans);
                return kl_err(err, KL_ENOMEM, "out of memory");
            }
        }
    }
    if (r < 0 || kl__skim_ws(pos ? pos : body, end) != end) {
        free(spans);
        return kl_err(err, KL_ESYNTAX, "list response: malformed JSON");
    }
    if (meta->continue_token == NULL && (meta->continue_token = strdup("")) == NULL) {
        free(spans);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    /* "Pod" from "PodList" for items that lack kind/apiVersion. */
    size_t kl = strlen(kind);
    if (kl > 4 && strcmp(kind + kl - 4, "List") == 0)
        kind[kl - 4] = '\0';
    else
        kind[0] = '\0';
    kl_buf_t scratch;
    kl_buf_init(&scratch, KL_BUF_DEFAULT_MAX);
    kl_parse_opts_t po = {.flags = parse_flags};
    rc = 0;
    for (size_t i = 0; i < nspans; i++) {
        const char *text = spans[i].p;
        size_t tlen = spans[i].len;
        if (!spans[i].has_kind && kind[0] && api[0]) {
            kl_buf_reset(&scratch);
            const char *ie = text + tlen;
            const char *rest = kl__skim_ws(text + 1, ie);
            rc = kl_buf_printf(&scratch, "{\"kind\":\"%s\",\"apiVersion\":\"%s\"%s", kind, api,
                               *rest == '}' ? "" : ",");
            if (rc == 0)
                rc = kl_buf_append(&scratch, rest, (size_t)(ie - rest));
            if (rc < 0) {
                rc = kl_err(err, rc, "list item too large");
                break;
            }
            text = scratch.data;
            tlen = scratch.len;
        }
        kl_obj_t *obj;
        kl_errinfo_t perr;
        rc = kl_obj_parse_json(text, tlen, &po, &obj, &perr);
        if (rc < 0) {
            rc = kl_err(err, rc == KL_ENOMEM ? rc : KL_ESYNTAX, "list item %zu: %s", meta->items,
                        perr.msg);
            break;
        }
        meta->items++;
        item_fn(obj, ud);
    }
    kl_buf_cleanup(&scratch);
    free(spans);
    return rc;
}
