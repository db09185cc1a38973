/* RFC 6902 JSON patch, with RFC 6901 pointers. Error messages follow the jsonpatch library the
 * API server uses (gopkg.in/evanphx/json-patch.v4), e.g. "testing value /a failed: test failed",
 * where its behaviour agrees with the RFC. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/patch.h"

#include "apiserver/patch_int.h"

#define MAX_OPS 10000
#define MAX_POINTER 65536
/* Values that "copy" may create in total, so that a few thousand copies of the document into
 * itself cannot grow it exponentially. */
#define MAX_COPY_NODES ((size_t)1 << 20)

/* A parsed pointer: nseg unescaped segments stored back to back, each NUL-terminated. */
typedef struct ptr {
    const char *text; /* the pointer as written, for messages */
    char *buf;
    uint32_t *off;
    uint32_t *len;
    size_t nseg;
} ptr_t;

static void ptr_free(ptr_t *p)
{
    free(p->buf);
    free(p->off);
    free(p->len);
    *p = (ptr_t){0};
}

static int ptr_parse(ptr_t *p, const kl_json_t *s, kl_errinfo_t *err)
{
    *p = (ptr_t){.text = s->u.s};
    size_t n = s->len;
    const char *t = s->u.s;
    if (n > MAX_POINTER)
        return kl_err(err, KL_EINVAL, "JSON pointer longer than %d bytes", MAX_POINTER);
    if (n == 0)
        return 0;
    if (t[0] != '/')
        return kl_err(err, KL_EINVAL,
                      "invalid JSON pointer \"%.200s\": must be empty or start with \"/\"", t);
    size_t nseg = 0;
    for (size_t i = 0; i < n; i++)
        nseg += t[i] == '/';
    if (nseg > KL_PATCH_MAX_DEPTH + 1)
        return kl_err(err, KL_ETOODEEP, "JSON pointer \"%.200s\" has more than %u segments", t,
                      KL_PATCH_MAX_DEPTH + 1);
    p->buf = malloc(n + 1);
    p->off = malloc(nseg * sizeof(*p->off));
    p->len = malloc(nseg * sizeof(*p->len));
    if (p->buf == NULL || p->off == NULL || p->len == NULL) {
        ptr_free(p);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        /* t[i] is '/': start a segment. */
        i++;
        p->off[p->nseg] = (uint32_t)w;
        while (i < n && t[i] != '/') {
            char c = t[i++];
            if (c == '~') {
                if (i < n && t[i] == '0')
                    c = '~';
                else if (i < n && t[i] == '1')
                    c = '/';
                else {
                    ptr_free(p);
                    return kl_err(
                        err, KL_EINVAL,
                        "invalid JSON pointer \"%.200s\": \"~\" must be followed by 0 or 1",
                        s->u.s);
                }
                i++;
            }
            p->buf[w++] = c;
        }
        p->len[p->nseg] = (uint32_t)(w - p->off[p->nseg]);
        p->buf[w++] = '\0';
        p->nseg++;
    }
    p->text = s->u.s;
    return 0;
}

static const char *seg(const ptr_t *p, size_t i)
{
    return p->buf + p->off[i];
}

/* RFC 6901 array index: "0" or a digit string without a leading zero. Returns -1 otherwise. */
static int64_t parse_index(const char *s, size_t len)
{
    if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= UINT32_MAX ? v : -1;
}

/* The slot holding the value at the first `upto` segments of p, or NULL when it is missing. */
static kl_json_t **locate(kl_json_t **root, const ptr_t *p, size_t upto)
{
    kl_json_t **slot = root;
    for (size_t i = 0; i < upto; i++) {
        kl_json_t *cur = *slot;
        if (cur == NULL)
            return NULL;
        if (cur->type == KL_TOBJECT) {
            int64_t at = kl__patch_member_find(cur, seg(p, i), p->len[i]);
            if (at < 0)
                return NULL;
            slot = &cur->u.members[at].val;
        } else if (cur->type == KL_TARRAY) {
            int64_t at = parse_index(seg(p, i), p->len[i]);
            if (at < 0 || at >= cur->len)
                return NULL;
            slot = &cur->u.items[at];
        } else {
            return NULL;
        }
    }
    return slot;
}

/* The container that holds the last segment of p, or NULL. */
static kl_json_t *parent_of(kl_json_t **root, const ptr_t *p)
{
    kl_json_t **slot = locate(root, p, p->nseg - 1);
    if (slot == NULL || *slot == NULL)
        return NULL;
    if ((*slot)->type != KL_TOBJECT && (*slot)->type != KL_TARRAY)
        return NULL;
    return *slot;
}

typedef struct opctx {
    const char *kind;
    kl_json_t **doc;
    size_t copied;
    kl_errinfo_t *err;
} opctx_t;

static int bad_index(opctx_t *c, const char *what, const ptr_t *p, const char *key)
{
    int64_t idx = parse_index(key, strlen(key));
    if (idx < 0)
        return kl_err(c->err, KL_EINVAL,
                      "error in %s for path: '%.200s': value was not a proper array index: '%.64s'",
                      what, p->text, key);
    return kl_err(c->err, KL_EINVAL,
                  "error in %s for path: '%.200s': Unable to access invalid index: %lld: invalid "
                  "index referenced",
                  what, p->text, (long long)idx);
}

/* Inserts val (owned) at p, as "add" does. */
static int do_add(opctx_t *c, const ptr_t *p, kl_json_t *val, const char *what)
{
    int rc;
    if (kl__patch_depth(val, KL_PATCH_MAX_DEPTH) + p->nseg > KL_PATCH_MAX_DEPTH) {
        kl_json_free(val);
        return kl_err(c->err, KL_ETOODEEP,
                      "%s operation would nest the document deeper than %u "
                      "levels",
                      c->kind, KL_PATCH_MAX_DEPTH);
    }
    if (p->nseg == 0) {
        kl_json_free(*c->doc);
        *c->doc = val;
        return 0;
    }
    kl_json_t *parent = parent_of(c->doc, p);
    if (parent == NULL) {
        kl_json_free(val);
        if (strcmp(what, "add") == 0)
            return kl_err(c->err, KL_EINVAL,
                          "add operation does not apply: doc is missing path: \"%.200s\": missing "
                          "value",
                          p->text);
        return kl_err(c->err, KL_EINVAL,
                      "%s operation does not apply: doc is missing destination path: %.200s: "
                      "missing value",
                      c->kind, p->text);
    }
    const char *key = seg(p, p->nseg - 1);
    uint32_t keylen = p->len[p->nseg - 1];
    if (parent->type == KL_TOBJECT) {
        rc = kl_json_setn(parent, key, keylen, val);
        return rc < 0 ? kl_err(c->err, rc, "%s", kl_strerror(rc)) : 0;
    }
    if (keylen == 1 && key[0] == '-') {
        rc = kl_json_append(parent, val);
        return rc < 0 ? kl_err(c->err, rc, "%s", kl_strerror(rc)) : 0;
    }
    int64_t idx = parse_index(key, keylen);
    if (idx < 0 || idx > parent->len) {
        kl_json_free(val);
        return bad_index(c, what, p, key);
    }
    rc = kl_json_insert_at(parent, (uint32_t)idx, val);
    return rc < 0 ? kl_err(c->err, rc, "%s", kl_strerror(rc)) : 0;
}

/* Detaches the value at p into *out (as "remove" does). */
static int do_remove(opctx_t *c, const ptr_t *p, kl_json_t **out, const char *what)
{
    kl_json_t *parent = p->nseg ? parent_of(c->doc, p) : NULL;
    if (parent == NULL) {
        if (strcmp(c->kind, "move") == 0)
            return kl_err(c->err, KL_EINVAL,
                          "move operation does not apply: doc is missing from path: %.200s: "
                          "missing value",
                          p->text);
        return kl_err(c->err, KL_EINVAL,
                      "remove operation does not apply: doc is missing path: \"%.200s\": missing "
                      "value",
                      p->text);
    }
    const char *key = seg(p, p->nseg - 1);
    uint32_t keylen = p->len[p->nseg - 1];
    if (parent->type == KL_TOBJECT) {
        int64_t at = kl__patch_member_find(parent, key, keylen);
        if (at < 0)
            return kl_err(c->err, KL_EINVAL,
                          "error in %s for path: '%.200s': Unable to remove nonexistent key: "
                          "%.200s: missing value",
                          what, p->text, key);
        kl_json_t *v = parent->u.members[at].val;
        parent->u.members[at].val = NULL;
        kl__patch_member_remove(parent, (uint32_t)at);
        *out = v;
        return 0;
    }
    int64_t idx = parse_index(key, keylen);
    if (idx < 0 || idx >= parent->len)
        return bad_index(c, what, p, key);
    *out = kl_json_take_at(parent, (uint32_t)idx);
    return 0;
}

static const kl_json_t *field(const kl_json_t *op, const char *name)
{
    return kl_json_get(op, name);
}

static int get_ptr(opctx_t *c, const kl_json_t *op, const char *name, ptr_t *p)
{
    const kl_json_t *s = field(op, name);
    if (s == NULL || s->type != KL_TSTRING)
        return kl_err(c->err, KL_EINVAL, "%s operation failed to decode %s: missing value", c->kind,
                      name);
    return ptr_parse(p, s, c->err);
}

static int get_value(opctx_t *c, const kl_json_t *op, const kl_json_t **v)
{
    *v = field(op, "value");
    if (*v == NULL)
        return kl_err(c->err, KL_EINVAL, "%s operation missing value field: missing value",
                      c->kind);
    return 0;
}

static int op_add(opctx_t *c, const kl_json_t *op)
{
    ptr_t p;
    const kl_json_t *v;
    int rc = get_value(c, op, &v);
    if (rc < 0 || (rc = get_ptr(c, op, "path", &p)) < 0)
        return rc;
    kl_json_t *copy = kl__patch_dup(v, &rc);
    if (copy == NULL)
        rc = kl_err(c->err, rc, "%s", kl_strerror(rc));
    else
        rc = do_add(c, &p, copy, "add");
    ptr_free(&p);
    return rc;
}

static int op_remove(opctx_t *c, const kl_json_t *op)
{
    ptr_t p;
    kl_json_t *old = NULL;
    int rc = get_ptr(c, op, "path", &p);
    if (rc < 0)
        return rc;
    rc = do_remove(c, &p, &old, "remove");
    kl_json_free(old);
    ptr_free(&p);
    return rc;
}

static int op_replace(opctx_t *c, const kl_json_t *op)
{
    ptr_t p;
    const kl_json_t *v;
    int rc = get_value(c, op, &v);
    if (rc < 0 || (rc = get_ptr(c, op, "path", &p)) < 0)
        return rc;
    kl_json_t **slot = locate(c->doc, &p, p.nseg);
    if (slot == NULL) {
        if (p.nseg == 0 || parent_of(c->doc, &p) == NULL)
            rc = kl_err(c->err, KL_EINVAL,
                        "replace operation does not apply: doc is missing path: %.200s: missing "
                        "value",
                        p.text);
        else
            rc = kl_err(c->err, KL_EINVAL,
                        "replace operation does not apply: doc is missing key: %.200s: missing "
                        "value",
                        p.text);
        goto out;
    }
    if (kl__patch_depth(v, KL_PATCH_MAX_DEPTH) + p.nseg > KL_PATCH_MAX_DEPTH) {
        rc = kl_err(c->err, KL_ETOODEEP,
                    "replace operation would nest the document deeper than %u levels",
                    KL_PATCH_MAX_DEPTH);
        goto out;
    }
    kl_json_t *copy = kl__patch_dup(v, &rc);
    if (copy == NULL) {
        rc = kl_err(c->err, rc, "%s", kl_strerror(rc));
        goto out;
    }
    kl_json_free(*slot);
    *slot = copy;
out:
    ptr_free(&p);
    return rc;
}

/* True when a is a proper prefix of b (segment-wise). */
static bool ptr_proper_prefix(const ptr_t *a, const ptr_t *b)
{
    if (a->nseg >= b->nseg)
        return false;
    for (size_t i = 0; i < a->nseg; i++)
        if (a->len[i] != b->len[i] || memcmp(seg(a, i), seg(b, i), a->len[i]) != 0)
            return false;
    return true;
}

static bool ptr_same(const ptr_t *a, const ptr_t *b)
{
    if (a->nseg != b->nseg)
        return false;
    for (size_t i = 0; i < a->nseg; i++)
        if (a->len[i] != b->len[i] || memcmp(seg(a, i), seg(b, i), a->len[i]) != 0)
            return false;
    return true;
}

static int op_move(opctx_t *c, const kl_json_t *op)
{
    ptr_t from, path;
    kl_json_t *val = NULL;
    int rc = get_ptr(c, op, "from", &from);
    if (rc < 0)
        return rc;
    if ((rc = get_ptr(c, op, "path", &path)) < 0) {
        ptr_free(&from);
        return rc;
    }
    if (ptr_proper_prefix(&from, &path)) {
        rc = kl_err(c->err, KL_EINVAL,
                    "move operation does not apply: from path %.200s is a prefix of destination "
                    "path %.200s",
                    from.text, path.text);
        goto out;
    }
    if (ptr_same(&from, &path)) {
        /* Moving a value onto itself leaves the document as it is, once it exists. */
        if (locate(c->doc, &from, from.nseg) == NULL)
            rc = kl_err(c->err, KL_EINVAL,
                        "move operation does not apply: doc is missing from path: %.200s: "
                        "missing value",
                        from.text);
        goto out;
    }
    if ((rc = do_remove(c, &from, &val, "move")) < 0)
        goto out;
    rc = do_add(c, &path, val, "move");
out:
    ptr_free(&from);
    ptr_free(&path);
    return rc;
}

static int op_copy(opctx_t *c, const kl_json_t *op)
{
    ptr_t from, path;
    int rc = get_ptr(c, op, "from", &from);
    if (rc < 0)
        return rc;
    if ((rc = get_ptr(c, op, "path", &path)) < 0) {
        ptr_free(&from);
        return rc;
    }
    kl_json_t **slot = locate(c->doc, &from, from.nseg);
    if (slot == NULL || *slot == NULL) {
        if (from.nseg == 0 || parent_of(c->doc, &from) == NULL)
            rc = kl_err(c->err, KL_EINVAL,
                        "copy operation does not apply: doc is missing from path: %.200s: "
                        "missing value",
                        from.text);
        else
            rc = kl_err(c->err, KL_EINVAL,
                        "error in copy for from: '%.200s': unable to get nonexistent key: %.200s: "
                        "missing value",
                        from.text, seg(&from, from.nseg - 1));
        goto out;
    }
    size_t n = kl__patch_nodes(*slot, MAX_COPY_NODES + 1);
    if (c->copied + n > MAX_COPY_NODES) {
        rc = kl_err(c->err, KL_ETOOBIG, "copy operations would create more than %zu values",
                    MAX_COPY_NODES);
        goto out;
    }
    c->copied += n;
    kl_json_t *copy = kl__patch_dup(*slot, &rc);
    if (copy == NULL) {
        rc = kl_err(c->err, rc, "%s", kl_strerror(rc));
        goto out;
    }
    rc = do_add(c, &path, copy, "copy");
out:
    ptr_free(&from);
    ptr_free(&path);
    return rc;
}

static int op_test(opctx_t *c, const kl_json_t *op)
{
    ptr_t p;
    const kl_json_t *v;
    int rc = get_value(c, op, &v);
    if (rc < 0 || (rc = get_ptr(c, op, "path", &p)) < 0)
        return rc;
    kl_json_t **slot = locate(c->doc, &p, p.nseg);
    if (slot == NULL && p.nseg > 0 && parent_of(c->doc, &p) == NULL)
        rc =
            kl_err(c->err, KL_EINVAL,
                   "test operation does not apply: is missing path: %.200s: missing value", p.text);
    else if (slot == NULL || !kl_json_equal(*slot, v))
        rc = kl_err(c->err, KL_EINVAL, "testing value %.200s failed: test failed", p.text);
    ptr_free(&p);
    return rc;
}

static const char *go_json_kind(const kl_json_t *v)
{
    switch (v->type) {
    case KL_TOBJECT:
        return "object";
    case KL_TARRAY:
        return "array";
    case KL_TSTRING:
        return "string";
    case KL_TTRUE:
    case KL_TFALSE:
        return "bool";
    default:
        return "number";
    }
}

int kl_patch_json(kl_json_t **target, const kl_json_t *ops, kl_errinfo_t *err)
{
    if (target == NULL || ops == NULL)
        return kl_err(err, KL_EINVAL, "missing document or patch");
    if (ops->type == KL_TNULL)
        return 0;
    if (ops->type != KL_TARRAY)
        return kl_err(err, KL_EBADREQUEST,
                      "json: cannot unmarshal %s into Go value of type jsonpatch.Patch",
                      go_json_kind(ops));
    if (ops->len > MAX_OPS)
        return kl_err(err, KL_ETOOBIG,
                      "The allowed maximum operations in a JSON patch is %d, got %u", MAX_OPS,
                      ops->len);
    for (uint32_t i = 0; i < ops->len; i++) {
        const kl_json_t *op = ops->u.items[i];
        if (op->type != KL_TOBJECT && op->type != KL_TNULL)
            return kl_err(err, KL_EBADREQUEST,
                          "json: cannot unmarshal %s into Go value of type jsonpatch.Operation",
                          go_json_kind(op));
    }
    if (*target == NULL && (*target = kl_json_null()) == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    opctx_t c = {.doc = target, .err = err};
    for (uint32_t i = 0; i < ops->len; i++) {
        const kl_json_t *op = ops->u.items[i];
        const char *kind = kl_json_str(kl_json_get(op, "op"));
        c.kind = kind ? kind : "unknown";
        int rc;
        if (kind == NULL)
            rc = kl_err(err, KL_EINVAL, "Unexpected kind: unknown");
        else if (strcmp(kind, "add") == 0)
            rc = op_add(&c, op);
        else if (strcmp(kind, "remove") == 0)
            rc = op_remove(&c, op);
        else if (strcmp(kind, "replace") == 0)
            rc = op_replace(&c, op);
        else if (strcmp(kind, "move") == 0)
            rc = op_move(&c, op);
        else if (strcmp(kind, "copy") == 0)
            rc = op_copy(&c, op);
        else if (strcmp(kind, "test") == 0)
            rc = op_test(&c, op);
        else
            rc = kl_err(err, KL_EINVAL, "Unexpected kind: %.100s", kind);
        if (rc < 0)
            return rc;
    }
    return 0;
}
