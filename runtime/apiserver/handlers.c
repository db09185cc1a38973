/* REST verbs of the embedded API server: get, list, create, update, patch, delete and
 * deletecollection, with kube-apiserver's metadata, concurrency, defaulting, validation, status
 * subresource and deletion semantics. Subresources other than status live in subres.c. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/ktime.h"
#include "kubelua/log.h"
#include "kubelua/patch.h"

#include "apiserver/handlers_int.h"
#include "apiserver/managed.h"
#include "apiserver/managed_req.h"
#include "apiserver/proto_req.h"
#include "apiserver/schema_valid.h"
#include "apiserver/strategy.h"
#include "apiserver/table.h"

/* ---- Small helpers ---------------------------------------------------------------------- */

const char *kl_res_qualified(const kl_res_t *res)
{
    return res->group_resource;
}

void kl_name_key(const kl_res_t *res, const char *ns, const char *name, char *out, size_t cap)
{
    if (res->namespaced)
        snprintf(out, cap, "%s/%s", ns ? ns : "", name);
    else
        snprintf(out, cap, "%s", name);
}

void kl_now_rfc3339(char *out)
{
    kl_time_format_rfc3339(kl_time_now(), out);
}

void kl_new_uid(char *out)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        for (int i = 0; i < 16; i++)
            b[i] = (unsigned char)rand();
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static void random_suffix(char *out)
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char b[5];
    if (RAND_bytes(b, sizeof(b)) != 1)
        for (int i = 0; i < 5; i++)
            b[i] = (unsigned char)rand();
    for (int i = 0; i < 5; i++)
        out[i] = alphabet[b[i] % (sizeof(alphabet) - 1)];
    out[5] = '\0';
}

kl_res_t *kl_res_for_table(kl_apiserver_t *srv, const kl_table_t *t)
{
    size_t n;
    kl_res_t **all = kl_registry_all(srv->reg, &n);
    kl_res_t *fallback = NULL;
    for (size_t i = 0; i < n; i++) {
        if (all[i]->table != t)
            continue;
        if (all[i]->primary == all[i] && !all[i]->gone)
            return all[i];
        if (fallback == NULL)
            fallback = all[i];
    }
    return fallback;
}

/* The metadata member order kube-apiserver writes. */
static const char *const meta_order[] = {"name",
                                         "generateName",
                                         "namespace",
                                         "selfLink",
                                         "uid",
                                         "resourceVersion",
                                         "generation",
                                         "creationTimestamp",
                                         "deletionTimestamp",
                                         "deletionGracePeriodSeconds",
                                         "labels",
                                         "annotations",
                                         "ownerReferences",
                                         "finalizers",
                                         "managedFields",
                                         NULL};

static void reorder(kl_json_t *obj, const char *const *first, const char *last)
{
    if (!kl_json_is(obj, KL_TOBJECT) || obj->len < 2)
        return;
    uint32_t pos = 0;
    for (size_t k = 0; first[k]; k++) {
        for (uint32_t i = pos; i < obj->len; i++) {
            if (strcmp(obj->u.members[i].key, first[k]) == 0) {
                kl_jmember_t m = obj->u.members[i];
                memmove(&obj->u.members[pos + 1], &obj->u.members[pos],
                        (i - pos) * sizeof(kl_jmember_t));
                obj->u.members[pos++] = m;
                break;
            }
        }
    }
    if (last) {
        for (uint32_t i = pos; i + 1 < obj->len; i++) {
            if (strcmp(obj->u.members[i].key, last) == 0) {
                kl_jmember_t m = obj->u.members[i];
                memmove(&obj->u.members[i], &obj->u.members[i + 1],
                        (obj->len - i - 1) * sizeof(kl_jmember_t));
                obj->u.members[obj->len - 1] = m;
                break;
            }
        }
    }
}

void kl_canonical_order(kl_json_t *obj)
{
    static const char *const top[] = {"apiVersion", "kind", "metadata", NULL};
    kl_normalize_meta(obj);
    reorder(obj, top, "status");
    reorder(kl_json_get(obj, "metadata"), meta_order, NULL);
}

int kl_persist(kl_apiserver_t *srv, kl_res_t *res, const char *name_key, kl_json_t *obj,
               kl_sobj_t **out, kl_errinfo_t *err)
{
    char rv[24];
    snprintf(rv, sizeof(rv), "%lld", (long long)kl_store_next_rv(srv->store));
    kl_json_t *md = kl_json_ensure_object(obj, "metadata");
    if (md == NULL || kl_json_set_str(md, "resourceVersion", rv) < 0)
        return kl_err(err, KL_ENOMEM, "out of memory");
    kl_canonical_order(obj);
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc = kl_json_encode(obj, &b);
    kl_obj_t *doc = NULL;
    if (rc == 0)
        rc = kl_obj_from_json(obj, &doc);
    if (rc < 0) {
        kl_buf_cleanup(&b);
        return kl_err(err, rc, "encoding the object: %s", kl_strerror(rc));
    }
    rc = kl_store_put(srv->store, res->primary->table, name_key, b.data, b.len, doc, KL_EV_MODIFIED,
                      out, err);
    kl_buf_cleanup(&b);
    return rc;
}

int kl_persist_delete(kl_apiserver_t *srv, kl_res_t *res, const char *name_key, kl_json_t *obj,
                      kl_errinfo_t *err)
{
    char rv[24];
    snprintf(rv, sizeof(rv), "%lld", (long long)kl_store_next_rv(srv->store));
    kl_json_t *md = kl_json_ensure_object(obj, "metadata");
    if (md == NULL || kl_json_set_str(md, "resourceVersion", rv) < 0)
        return kl_err(err, KL_ENOMEM, "out of memory");
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc = kl_json_encode(obj, &b);
    kl_obj_t *doc = NULL;
    if (rc == 0)
        rc = kl_obj_from_json(obj, &doc);
    if (rc < 0) {
        kl_buf_cleanup(&b);
        return kl_err(err, rc, "encoding the object: %s", kl_strerror(rc));
    }
    rc = kl_store_delete(srv->store, res->primary->table, name_key, b.data, b.len, doc, err);
    kl_buf_cleanup(&b);
    return rc;
}

int kl_encode_for(const kl_res_t *res, const kl_sobj_t *obj, kl_buf_t *out)
{
    if (res->primary == res)
        return kl_buf_append(out, obj->json, obj->len);
    kl_json_t *j = kl_json_from_val(kl_obj_root(obj->doc));
    if (j == NULL)
        return KL_ENOMEM;
    int rc = res->convert ? res->convert(j, res->api_version)
                          : kl_json_set_str(j, "apiVersion", res->api_version);
    if (rc == 0) {
        kl_canonical_order(j);
        rc = kl_json_encode(j, out);
    }
    kl_json_free(j);
    return rc;
}

/* Sends one stored object (as JSON, or as a one-row Table when asked). */
void kl_send_object(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_sobj_t *obj,
                    int status)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc;
    if (kl_wants_table(req)) {
        kl_printer_t *p = res->printer;
        kl_printer_t *own = NULL;
        if (p == NULL) {
            if (kl_printer_for(res->group, res->kind, NULL, &own, NULL) < 0)
                own = NULL;
            p = own;
        }
        char rv[24];
        snprintf(rv, sizeof(rv), "%lld", (long long)obj->rv);
        kl_table_opts_t to = {.resource_version = rv, .include_columns = true};
        kl_val_t v = kl_obj_root(obj->doc);
        rc = kl_table_write(p, &v, 1, &to, kl_time_now(), &b);
        kl_printer_free(own);
        if (rc == 0) {
            kl_respond(req, status, "application/json;as=Table;v=v1;g=meta.k8s.io", &b);
            return;
        }
    } else {
        rc = kl_encode_for(res, obj, &b);
        if (rc == 0) {
            kl_respond(req, status, "application/json", &b);
            return;
        }
    }
    kl_buf_cleanup(&b);
    kl_respond_statusf(req, 500, "InternalError", "encoding the response: %s", kl_strerror(rc));
}

void kl_send_json(h2o_req_t *req, int status, kl_json_t *obj)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    if (kl_json_encode(obj, &b) < 0) {
        kl_buf_cleanup(&b);
        kl_respond_statusf(req, 500, "InternalError", "encoding the response");
        return;
    }
    kl_respond(req, status, "application/json", &b);
}

void kl_not_found(h2o_req_t *req, const kl_res_t *res, const char *name)
{
    char msg[700];
    snprintf(msg, sizeof(msg), "%s \"%s\" not found", kl_res_qualified(res), name);
    kl_respond_status(req, 404, "NotFound", msg, name, res->group, res->resource, NULL);
}

void kl_conflict(h2o_req_t *req, const kl_res_t *res, const char *name)
{
    char msg[800];
    snprintf(msg, sizeof(msg),
             "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please "
             "apply your changes to the latest version and try again",
             kl_res_qualified(res), name);
    kl_respond_status(req, 409, "Conflict", msg, name, res->group, res->resource, NULL);
}

void kl_invalid(h2o_req_t *req, const kl_res_t *res, const char *name, const kl_ferrs_t *errs)
{
    kl_buf_t msg, causes;
    kl_buf_init(&msg, 0);
    kl_buf_init(&causes, 0);
    char kind_group[300];
    snprintf(kind_group, sizeof(kind_group), "%s%s%s", res->kind, *res->group ? "." : "",
             res->group);
    if (kl_ferrs_message(errs, kind_group, name, &msg) < 0 ||
        kl_ferrs_causes_json(errs, &causes) < 0) {
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
    } else {
        kl_respond_status(req, 422, "Invalid", msg.data, name, res->group, res->kind, causes.data);
    }
    kl_buf_cleanup(&msg);
    kl_buf_cleanup(&causes);
}

/* ---- Reading request bodies ------------------------------------------------------------- */

static int ctype_is(const char *ct, size_t len, const char *want)
{
    size_t n = strlen(want);
    return len >= n && strncasecmp(ct, want, n) == 0 && (len == n || ct[n] == ';' || ct[n] == ' ');
}

/* Decodes the request body as an object. Duplicate keys fail in Strict mode and otherwise the
 * last one wins, as kube-apiserver decodes. Writes the response itself on failure. */
int kl_decode_body(h2o_req_t *req, const kl_res_t *res, kl_json_t **out, kl_fieldval_t mode)
{
    if (req->entity.len > KL_MAX_BODY) {
        kl_respond_statusf(req, 413, "RequestEntityTooLarge",
                           "Request entity too large: limit is %zu", KL_MAX_BODY);
        return -1;
    }
    /* Protobuf bodies were converted to JSON by kl_proto_request() in kl_api_handle(). */
    size_t ctl = 0;
    const char *ct = kl_req_header(req, "content-type", &ctl);
    bool yaml = ct && ctype_is(ct, ctl, "application/yaml");
    kl_parse_opts_t po = {.flags = mode == KL_FIELDVAL_STRICT ? 0 : KL_PARSE_ALLOW_DUPLICATE_KEYS};
    kl_errinfo_t err;
    int rc = yaml ? kl_json_parse_any(req->entity.base, req->entity.len, &po, out, &err)
                  : kl_json_parse(req->entity.base, req->entity.len, &po, out, &err);
    if (rc < 0) {
        char msg[800];
        if (rc == KL_EDUPKEY) {
            const char *q = strchr(err.msg, '"');
            snprintf(msg, sizeof(msg),
                     "%s in version \"%s\" cannot be handled as a %s: strict decoding error: "
                     "duplicate field %s",
                     res->kind, res->version, res->kind, q ? q : err.msg);
        } else {
            snprintf(msg, sizeof(msg), "%s in version \"%s\" cannot be handled as a %s: %s",
                     res->kind, res->version, res->kind, err.msg);
        }
        kl_respond_status(req, 400, "BadRequest", msg, NULL, NULL, NULL, NULL);
        return -1;
    }
    if (!kl_json_is(*out, KL_TOBJECT)) {
        kl_json_free(*out);
        kl_respond_statusf(req, 400, "BadRequest",
                           "%s in version \"%s\" cannot be handled as a %s: the body must be a "
                           "JSON object",
                           res->kind, res->version, res->kind);
        return -1;
    }
    return 0;
}

kl_fieldval_t kl_field_validation(const kl_query_t *q)
{
    const char *v = kl_query_get(q, "fieldValidation");
    if (v == NULL)
        return KL_FIELDVAL_WARN;
    if (strcasecmp(v, "Strict") == 0)
        return KL_FIELDVAL_STRICT;
    if (strcasecmp(v, "Ignore") == 0)
        return KL_FIELDVAL_IGNORE;
    return KL_FIELDVAL_WARN;
}

/* Strict decoding against the kind's schema. Writes the 400 itself and returns -1. */
int kl_check_schema(h2o_req_t *req, const kl_res_t *res, kl_json_t *obj, kl_fieldval_t mode)
{
    if (res->schema == NULL)
        return 0;
    kl_schema_report_t r;
    kl_schema_report_init(&r);
    int rc = kl_schema_decode(res->schema, obj, mode, &r);
    if (rc < 0) {
        kl_schema_report_cleanup(&r);
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
        return -1;
    }
    if (r.ntype_errors || (mode == KL_FIELDVAL_STRICT && r.nunknown)) {
        kl_buf_t msg;
        kl_buf_init(&msg, 0);
        int e = kl_buf_printf(&msg, "%s in version \"%s\" cannot be handled as a %s: ", res->kind,
                              res->version, res->kind);
        if (e == 0 && r.ntype_errors) {
            /* The first type error, as Go's decoder stops there. */
            const char *nl = strchr(r.type_errors.data, '\n');
            e = kl_buf_append(&msg, r.type_errors.data,
                              nl ? (size_t)(nl - r.type_errors.data) : r.type_errors.len);
        } else if (e == 0) {
            e = kl_buf_puts(&msg, "strict decoding error: ");
            for (const char *p = r.unknown.data; e == 0 && p && *p;) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t)(nl - p) : strlen(p);
                if (p != r.unknown.data)
                    e = kl_buf_puts(&msg, ", ");
                if (e == 0)
                    e = kl_buf_append(&msg, p, n);
                p = nl ? nl + 1 : p + n;
            }
        }
        kl_respond_status(req, 400, "BadRequest", e == 0 ? msg.data : "bad request", NULL, NULL,
                          NULL, NULL);
        kl_buf_cleanup(&msg);
        kl_schema_report_cleanup(&r);
        return -1;
    }
    if (r.ninvalid) {
        /* Custom resources: schema violations are field errors (422). */
        kl_ferrs_t errs;
        kl_ferrs_init(&errs);
        for (const char *p = r.invalid.data; p && *p;) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            char line[1024];
            snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1), p);
            char *colon = strstr(line, ": ");
            if (colon) {
                *colon = '\0';
                kl_ferr_add(&errs, KL_FERR_RAW, line, NULL, colon + 2);
            }
            p = nl ? nl + 1 : p + n;
        }
        const char *name = kl_json_path_str(obj, "metadata", "name", NULL);
        kl_invalid(req, res, name ? name : "", &errs);
        kl_ferrs_cleanup(&errs);
        kl_schema_report_cleanup(&r);
        return -1;
    }
    if (mode == KL_FIELDVAL_WARN && r.nunknown) {
        for (const char *p = r.unknown.data; p && *p;) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            char *w = h2o_mem_alloc_pool(&req->pool, n + 1);
            memcpy(w, p, n);
            w[n] = '\0';
            kl_add_warning(req, w);
            p = nl ? nl + 1 : p + n;
        }
    }
    kl_schema_report_cleanup(&r);
    return 0;
}

/* apiVersion and kind of a written object: filled in when missing, checked when present. The
 * stored form uses the storage version. Writes the 400 itself and returns -1. */
int kl_check_type(h2o_req_t *req, const kl_res_t *res, kl_json_t *obj)
{
    const char *kind = kl_json_path_str(obj, "kind", NULL);
    const char *av = kl_json_path_str(obj, "apiVersion", NULL);
    if (kind && strcmp(kind, res->kind) != 0) {
        kl_respond_statusf(req, 400, "BadRequest",
                           "the object provided is unrecognized (must be of type %s): kind %s "
                           "does not match",
                           res->kind, kind);
        return -1;
    }
    if (av && strcmp(av, res->api_version) != 0) {
        kl_respond_statusf(req, 400, "BadRequest",
                           "the API version in the data (%s) does not match the expected API "
                           "version (%s)",
                           av, res->api_version);
        return -1;
    }
    if ((res->convert && res->convert(obj, res->primary->api_version) < 0) ||
        kl_json_set_str(obj, "kind", res->kind) < 0 ||
        kl_json_set_str(obj, "apiVersion", res->primary->api_version) < 0) {
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
        return -1;
    }
    return 0;
}

/* ---- GET and LIST ----------------------------------------------------------------------- */

static void handle_get(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p)
{
    char key[600];
    kl_name_key(res, p->namespace, p->name, key, sizeof(key));
    kl_entry_t *e = kl_store_get(res->table, key);
    if (e == NULL) {
        kl_not_found(req, res, p->name);
        return;
    }
    kl_send_object(srv, req, res, e->obj, 200);
}

/* Continue tokens: base64 of {"v":"meta.k8s.io/v1","rv":N,"start":"<name key>"}. */
static void b64_encode(const unsigned char *in, size_t len, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
}

static int b64_decode(const char *in, unsigned char *out, size_t cap, size_t *outlen)
{
    size_t o = 0;
    unsigned v = 0;
    int bits = 0;
    for (const char *p = in; *p && *p != '='; p++) {
        int d;
        if (*p >= 'A' && *p <= 'Z')
            d = *p - 'A';
        else if (*p >= 'a' && *p <= 'z')
            d = *p - 'a' + 26;
        else if (*p >= '0' && *p <= '9')
            d = *p - '0' + 52;
        else if (*p == '+' || *p == '-')
            d = 62;
        else if (*p == '/' || *p == '_')
            d = 63;
        else
            return -1;
        v = (v << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)((v >> bits) & 0xff);
        }
    }
    *outlen = o;
    return 0;
}

static int make_continue(int64_t rv, const char *start, char *out, size_t cap)
{
    kl_buf_t b;
    kl_buf_init(&b, 4096);
    int rc = kl_buf_printf(&b, "{\"v\":\"meta.k8s.io/v1\",\"rv\":%lld,\"start\":", (long long)rv);
    if (rc == 0)
        rc = kl_json_quote(&b, start, strlen(start));
    if (rc == 0)
        rc = kl_buf_putc(&b, '}');
    if (rc == 0 && (b.len + 2) / 3 * 4 + 1 > cap)
        rc = KL_ETOOBIG;
    if (rc == 0)
        b64_encode((const unsigned char *)b.data, b.len, out);
    kl_buf_cleanup(&b);
    return rc;
}

static int parse_continue(const char *token, int64_t *rv, char *start, size_t cap)
{
    unsigned char raw[2048];
    size_t n;
    if (b64_decode(token, raw, sizeof(raw) - 1, &n) < 0)
        return -1;
    kl_json_t *j;
    if (kl_json_parse((const char *)raw, n, NULL, &j, NULL) < 0)
        return -1;
    const char *s = kl_json_path_str(j, "start", NULL);
    int64_t r = kl_json_int_or(kl_json_get(j, "rv"), -1);
    int ok = s && r >= 0 && strlen(s) < cap;
    if (ok) {
        strcpy(start, s);
        *rv = r;
    }
    kl_json_free(j);
    return ok ? 0 : -1;
}

/* The state of table t at resourceVersion `at`: an override per name key for objects changed
 * since (NULL state = did not exist). */
typedef struct snapshot {
    kl_strmap_t changed; /* name key -> kl_sobj_t * (or NULL) */
    char **extra;        /* name keys that exist at `at` but not now */
    size_t nextra;
} snapshot_t;

static void snapshot_cleanup(snapshot_t *s)
{
    kl_strmap_cleanup(&s->changed);
    for (size_t i = 0; i < s->nextra; i++)
        free(s->extra[i]);
    free(s->extra);
}

static int snapshot_at(kl_apiserver_t *srv, kl_table_t *t, int64_t at, snapshot_t *s)
{
    memset(s, 0, sizeof(*s));
    kl_strmap_init(&s->changed, KL_STRMAP_COPY_KEYS);
    size_t first, n;
    if (kl_store_events_after(srv->store, at, &first, &n) < 0)
        return KL_EGONE;
    size_t plen = strlen(t->prefix);
    for (size_t i = 0; i < n; i++) {
        const kl_event_t *ev = kl_store_event_at(srv->store, first + i);
        if (strncmp(ev->key, t->prefix, plen) != 0)
            continue;
        const char *nk = ev->key + plen;
        if (kl_strmap_find(&s->changed, nk, NULL))
            continue; /* only the earliest change after `at` matters */
        if (kl_strmap_put(&s->changed, nk, ev->prev, NULL) < 0)
            return KL_ENOMEM;
        if (ev->prev && kl_store_get(t, nk) == NULL) {
            char **x = realloc(s->extra, (s->nextra + 1) * sizeof(char *));
            if (x == NULL)
                return KL_ENOMEM;
            s->extra = x;
            if ((s->extra[s->nextra] = strdup(nk)) == NULL)
                return KL_ENOMEM;
            s->nextra++;
        }
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void handle_list(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                        const kl_query_t *q)
{
    kl_filter_t f;
    kl_errinfo_t err;
    if (kl_filter_init(&f, res, res->namespaced ? p->namespace : NULL, q, &err) < 0) {
        kl_respond_status(req, 400, "BadRequest", err.msg, NULL, NULL, NULL, NULL);
        return;
    }
    int64_t current = kl_store_rv(srv->store);
    int64_t at = current;
    char start[600] = "";
    const char *cont = kl_query_get(q, "continue");
    const char *rvq = kl_query_get(q, "resourceVersion");
    const char *rvm = kl_query_get(q, "resourceVersionMatch");
    if (cont && *cont) {
        if (parse_continue(cont, &at, start, sizeof(start)) < 0) {
            kl_respond_statusf(req, 400, "BadRequest", "continue key is not valid: invalid token");
            kl_filter_cleanup(&f);
            return;
        }
    } else if (rvq && *rvq && strcmp(rvq, "0") != 0) {
        char *end;
        long long v = strtoll(rvq, &end, 10);
        if (*end != '\0' || v < 0) {
            kl_respond_statusf(req, 400, "BadRequest", "invalid resource version \"%s\"", rvq);
            kl_filter_cleanup(&f);
            return;
        }
        if (rvm && strcmp(rvm, "Exact") == 0 && v < current)
            at = v;
        if (v > current && !(rvm && strcmp(rvm, "NotOlderThan") == 0)) {
            kl_respond_statusf(req, 504, "Timeout",
                               "Too large resource version: %lld, current: %lld", v,
                               (long long)current);
            kl_filter_cleanup(&f);
            return;
        }
    }
    snapshot_t snap = {0};
    int use_snap = at < current;
    if (use_snap && snapshot_at(srv, res->table, at, &snap) < 0) {
        snapshot_cleanup(&snap);
        kl_filter_cleanup(&f);
        if (cont && *cont)
            kl_respond_status(req, 410, "Expired",
                              "The provided continue parameter is too old to display a consistent "
                              "list result. You can start a new list without the continue "
                              "parameter, or use the continue token in this response to retrieve "
                              "the remainder of the results. Continuing with the provided token "
                              "results in an inconsistent list - objects that were created, "
                              "modified, or deleted between the time the first chunk was returned "
                              "and now may show up in the list.",
                              NULL, NULL, NULL, NULL);
        else
            kl_respond_statusf(req, 410, "Expired", "too old resource version: %lld (%lld)",
                               (long long)at, (long long)kl_store_oldest_rv(srv->store));
        return;
    }

    /* Candidate name keys, sorted. */
    size_t n;
    kl_entry_t **sorted = kl_store_sorted(res->table, &n);
    char **names = NULL;
    size_t nnames = 0;
    if (use_snap && snap.nextra) {
        names = malloc((n + snap.nextra) * sizeof(char *));
        if (names) {
            for (size_t i = 0; i < n; i++)
                names[nnames++] = sorted[i]->name_key;
            for (size_t i = 0; i < snap.nextra; i++)
                names[nnames++] = snap.extra[i];
            qsort(names, nnames, sizeof(char *), cmp_str);
        }
    }

    int64_t limit = 0;
    const char *lq = kl_query_get(q, "limit");
    if (lq)
        limit = strtoll(lq, NULL, 10);
    bool table = kl_wants_table(req);
    kl_printer_t *printer = res->printer, *own_printer = NULL;
    if (table && printer == NULL) {
        if (kl_printer_for(res->group, res->kind, NULL, &own_printer, NULL) < 0)
            own_printer = NULL;
        printer = own_printer;
    }
    kl_buf_t b;
    kl_buf_init(&b, (size_t)1 << 31);
    int rc = 0;
    char rvs[24];
    snprintf(rvs, sizeof(rvs), "%lld", (long long)at);
    size_t body_mark = 0;
    if (!table) {
        rc = kl_buf_printf(&b, "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":{",
                           res->list_kind, res->api_version);
        body_mark = b.len;
        if (rc == 0)
            rc = kl_buf_puts(&b, "},\"items\":[");
    }
    kl_buf_t rows;
    kl_buf_init(&rows, (size_t)1 << 31);
    size_t count = 0, total = names ? nnames : n;
    const char *next_start = NULL;
    int64_t remaining = 0;
    int64_t now = kl_time_now();
    size_t i = 0;
    if (*start) {
        /* Binary search for the first key >= start. */
        size_t lo = 0, hi = total;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            const char *k = names ? names[mid] : sorted[mid]->name_key;
            if (strcmp(k, start) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        i = lo;
    }
    for (; rc == 0 && i < total; i++) {
        const char *k = names ? names[i] : sorted[i]->name_key;
        const kl_sobj_t *o;
        if (use_snap) {
            void *ov;
            if (kl_strmap_find(&snap.changed, k, &ov))
                o = ov;
            else
                o = kl_store_get(res->table, k) ? kl_store_get(res->table, k)->obj : NULL;
        } else {
            o = sorted[i]->obj;
        }
        if (o == NULL || !kl_filter_match(res, &f, o->doc))
            continue;
        if (limit > 0 && (int64_t)count == limit) {
            next_start = k;
            for (size_t j = i; j < total; j++)
                remaining++;
            break;
        }
        if (table) {
            rc = kl_table_row(printer, kl_obj_root(o->doc), now, count, &rows);
        } else {
            if (count)
                rc = kl_buf_putc(&b, ',');
            if (rc == 0)
                rc = kl_encode_for(res, o, &b);
        }
        count++;
    }
    char cont_token[2048] = "";
    if (rc == 0 && next_start)
        rc = make_continue(at, next_start, cont_token, sizeof(cont_token));
    if (rc == 0 && table) {
        kl_table_opts_t to = {.resource_version = rvs,
                              .continue_token = *cont_token ? cont_token : NULL,
                              .include_columns = true};
        if (next_start && f.labels == NULL && f.fields == NULL) {
            to.has_remaining_item_count = true;
            to.remaining_item_count = remaining;
        }
        rc = kl_table_begin(printer, &to, &b);
        if (rc == 0 && rows.len)
            rc = kl_buf_append(&b, rows.data, rows.len);
        if (rc == 0)
            rc = kl_table_end(printer, count, &b);
    } else if (rc == 0) {
        kl_buf_t md;
        kl_buf_init(&md, 0);
        rc = kl_buf_printf(&md, "\"resourceVersion\":\"%s\"", rvs);
        if (rc == 0 && *cont_token)
            rc = kl_buf_printf(&md, ",\"continue\":\"%s\"", cont_token);
        if (rc == 0 && next_start && f.labels == NULL && f.fields == NULL)
            rc = kl_buf_printf(&md, ",\"remainingItemCount\":%lld", (long long)remaining);
        if (rc == 0) {
            /* Splice the list metadata in at its place. */
            rc = kl_buf_reserve(&b, md.len + 2, &rc) ? 0 : rc;
            if (rc == 0) {
                memmove(b.data + body_mark + md.len, b.data + body_mark, b.len - body_mark);
                memcpy(b.data + body_mark, md.data, md.len);
                kl_buf_commit(&b, md.len);
                rc = kl_buf_puts(&b, "]}");
            }
        }
        kl_buf_cleanup(&md);
    }
    kl_buf_cleanup(&rows);
    kl_printer_free(own_printer);
    free(names);
    snapshot_cleanup(&snap);
    kl_filter_cleanup(&f);
    if (rc < 0) {
        kl_buf_cleanup(&b);
        kl_respond_statusf(req, 500, "InternalError", "building the list: %s", kl_strerror(rc));
        return;
    }
    kl_respond(req, 200,
               table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json", &b);
}

/* ---- Create ----------------------------------------------------------------------------- */

static bool dry_run(const kl_query_t *q)
{
    const char *d = kl_query_get(q, "dryRun");
    return d && strcmp(d, "All") == 0;
}

/* Checks that a namespace exists and is not terminating; answers itself on failure. */
int kl_check_namespace(kl_apiserver_t *srv, h2o_req_t *req, const char *ns)
{
    kl_res_t *nsres = kl_registry_find(srv->reg, "", "v1", "namespaces");
    kl_entry_t *e = nsres ? kl_store_get(nsres->table, ns) : NULL;
    if (e == NULL) {
        char msg[300];
        snprintf(msg, sizeof(msg), "namespaces \"%s\" not found", ns);
        kl_respond_status(req, 404, "NotFound", msg, ns, "", "namespaces", NULL);
        return -1;
    }
    const char *phase = kl_val_path_str(kl_obj_root(e->obj->doc), "status", "phase", NULL);
    if (phase && strcmp(phase, "Terminating") == 0) {
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "unable to create new content in namespace %s because it is being terminated", ns);
        kl_respond_status(req, 403, "Forbidden", msg, ns, "", "namespaces", NULL);
        return -1;
    }
    return 0;
}

static const char *name_rule(const kl_res_t *res)
{
    if (res->is_crd)
        return "path";
    if (res->strategy->name_rule)
        return res->strategy->name_rule;
    if (!*res->group && (!strcmp(res->kind, "Namespace") || !strcmp(res->kind, "Service")))
        return "label";
    return "subdomain";
}

static bool has_generation(const kl_res_t *res)
{
    if (res->is_crd)
        return true;
    if (res->strategy->generation)
        return res->strategy->generation > 0;
    if (!*res->group)
        return false;
    return strcmp(res->group, "coordination.k8s.io") != 0 &&
           strcmp(res->group, "events.k8s.io") != 0;
}

/* Everything a create does after decoding; used by POST and by apply-creates. Answers. */
void kl_do_create(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const char *url_ns,
                  kl_json_t *obj, const kl_query_t *q)
{
    kl_errinfo_t err;
    kl_json_t *md = kl_json_ensure_object(obj, "metadata");
    if (md == NULL) {
        kl_respond_statusf(req, 400, "BadRequest", "metadata must be an object");
        goto out;
    }
    if (res->namespaced) {
        const char *bns = kl_json_path_str(md, "namespace", NULL);
        if (bns && *bns && url_ns && strcmp(bns, url_ns) != 0) {
            kl_respond_statusf(req, 400, "BadRequest",
                               "the namespace of the provided object does not match the namespace "
                               "sent on the request");
            goto out;
        }
        const char *ns = url_ns ? url_ns : (bns && *bns ? bns : "default");
        if (kl_json_set_str(md, "namespace", ns) < 0)
            goto oom;
        if (kl_check_namespace(srv, req, ns) < 0)
            goto out;
    } else {
        kl_json_del(md, "namespace");
    }
    const char *ns = kl_json_path_str(md, "namespace", NULL);
    const char *name = kl_json_path_str(md, "name", NULL);
    const char *gen = kl_json_path_str(md, "generateName", NULL);
    char key[600];
    if ((name == NULL || !*name) && gen && *gen) {
        char buf[300];
        for (int attempt = 0; attempt < 8; attempt++) {
            char sfx[6];
            random_suffix(sfx);
            snprintf(buf, sizeof(buf), "%.*s%s", (int)(strlen(gen) > 58 ? 58 : strlen(gen)), gen,
                     sfx);
            kl_name_key(res, ns, buf, key, sizeof(key));
            if (kl_store_get(res->table, key) == NULL)
                break;
        }
        if (kl_json_set_str(md, "name", buf) < 0)
            goto oom;
        name = kl_json_path_str(md, "name", NULL);
    }
    /* Server-owned metadata. */
    kl_json_del(md, "deletionTimestamp");
    kl_json_del(md, "deletionGracePeriodSeconds");
    kl_json_del(md, "selfLink");
    char uid[40], ts[40];
    kl_new_uid(uid);
    kl_now_rfc3339(ts);
    if (kl_json_set_str(md, "uid", uid) < 0 || kl_json_set_str(md, "creationTimestamp", ts) < 0)
        goto oom;
    if (has_generation(res)) {
        if (kl_json_set_int(md, "generation", 1) < 0)
            goto oom;
    } else {
        kl_json_del(md, "generation");
    }
    if (res->has_status && strcmp(res->kind, "Node") != 0)
        kl_json_del(obj, "status");
    if (res->strategy->defaults && res->strategy->defaults(obj) < 0)
        goto oom;
    if (kl_mf_record(req, q, res, NULL, NULL, obj) < 0)
        goto oom;
    if (res->strategy->prepare_create && res->strategy->prepare_create(obj) < 0)
        goto oom;
    kl_ferrs_t errs;
    kl_ferrs_init(&errs);
    kl_validate_object_meta(obj, res->namespaced, name_rule(res), &errs);
    if (errs.n == 0 || kl_json_path_str(obj, "metadata", "name", NULL))
        res->strategy->validate(obj, NULL, &errs);
    kl_schema_validate_cr(res->schema, obj, NULL, &errs);
    if (errs.n) {
        kl_invalid(req, res, name ? name : "", &errs);
        kl_ferrs_cleanup(&errs);
        goto out;
    }
    kl_ferrs_cleanup(&errs);
    kl_name_key(res, ns, name, key, sizeof(key));
    if (kl_store_get(res->table, key) != NULL) {
        char msg[700];
        snprintf(msg, sizeof(msg), "%s \"%s\" already exists", kl_res_qualified(res), name);
        kl_respond_status(req, 409, "AlreadyExists", msg, name, res->group, res->resource, NULL);
        goto out;
    }
    if (dry_run(q)) {
        kl_canonical_order(obj);
        kl_send_json(req, 201, obj);
        goto out;
    }
    kl_sobj_t *stored;
    if (kl_persist(srv, res, key, obj, &stored, &err) < 0) {
        kl_respond_statusf(req, 500, "InternalError", "%s", err.msg);
        goto out;
    }
    kl_after_write(srv, res, stored);
    kl_send_object(srv, req, res, stored, 201);
    goto out;
oom:
    kl_respond_statusf(req, 500, "InternalError", "out of memory");
out:
    kl_json_free(obj);
}

static void handle_create(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                          const kl_query_t *q)
{
    kl_json_t *obj;
    if (kl_decode_body(req, res, &obj, kl_field_validation(q)) < 0)
        return;
    if (kl_check_schema(req, res, obj, kl_field_validation(q)) < 0 ||
        kl_check_type(req, res, obj) < 0) {
        kl_json_free(obj);
        return;
    }
    kl_do_create(srv, req, res, p->namespace, obj, q);
}

/* ---- Update ----------------------------------------------------------------------------- */

static bool skipped(const char *key, const char *const *skip)
{
    for (size_t i = 0; skip[i]; i++)
        if (strcmp(key, skip[i]) == 0)
            return true;
    return false;
}

/* Whether objects a and b have equal top-level members, except those in skip (no copies: the
 * objects carry managedFields). */
static bool json_equal_except(const kl_json_t *a, const kl_json_t *b, const char *const *skip)
{
    if (!kl_json_is(a, KL_TOBJECT) || !kl_json_is(b, KL_TOBJECT))
        return kl_json_equal(a, b);
    uint32_t na = 0, nb = 0;
    for (uint32_t i = 0; i < a->len; i++) {
        const kl_jmember_t *m = &a->u.members[i];
        if (skipped(m->key, skip))
            continue;
        na++;
        if (!kl_json_equal(m->val, kl_json_getn(b, m->key, m->keylen)))
            return false;
    }
    for (uint32_t i = 0; i < b->len; i++)
        nb += !skipped(b->u.members[i].key, skip);
    return na == nb;
}

/* Applies an update of `obj` over the current entry `e` (for the main resource or a
 * subresource). Answers. Takes obj. */
void kl_do_update(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, kl_entry_t *e, kl_json_t *obj,
                  const char *sub, const kl_query_t *q)
{
    kl_errinfo_t err;
    kl_json_t *old = kl_json_from_val(kl_obj_root(e->obj->doc));
    const char *name = kl_val_path_str(kl_obj_root(e->obj->doc), "metadata", "name", NULL);
    if (old == NULL)
        goto oom;
    kl_json_t *md = kl_json_ensure_object(obj, "metadata");
    kl_json_t *omd = kl_json_get(old, "metadata");
    if (md == NULL) {
        kl_respond_statusf(req, 400, "BadRequest", "metadata must be an object");
        goto out;
    }
    const char *bname = kl_json_path_str(md, "name", NULL);
    if (bname && strcmp(bname, name) != 0) {
        kl_respond_statusf(req, 400, "BadRequest",
                           "the name of the object (%s) does not match the name on the URL (%s)",
                           bname, name);
        goto out;
    }
    const char *brv = kl_json_path_str(md, "resourceVersion", NULL);
    if (brv && *brv) {
        char cur[24];
        snprintf(cur, sizeof(cur), "%lld", (long long)e->obj->rv);
        if (strcmp(brv, cur) != 0) {
            kl_conflict(req, res, name);
            goto out;
        }
    }
    const char *buid = kl_json_path_str(md, "uid", NULL);
    const char *ouid = kl_json_path_str(omd, "uid", NULL);
    if (buid && *buid && ouid && strcmp(buid, ouid) != 0) {
        kl_respond_statusf(req, 409, "Conflict",
                           "Precondition failed: UID in precondition: %s, UID in object meta: %s",
                           buid, ouid);
        goto out;
    }
    bool status_sub = sub && strcmp(sub, "status") == 0;
    kl_json_t *next;
    if (status_sub) {
        /* Status writes change only .status. */
        next = kl_json_dup(old);
        kl_json_t *st = kl_json_take(obj, "status");
        if (next == NULL || (st && kl_json_set(next, "status", st) < 0))
            goto oom;
        kl_json_t *amf = kl_mf_is_apply(req) ? kl_json_take(md, "managedFields") : NULL;
        if (amf && kl_json_set(kl_json_get(next, "metadata"), "managedFields", amf) < 0)
            goto oom;
    } else {
        next = obj;
        obj = NULL;
        kl_json_t *nmd = kl_json_get(next, "metadata");
        /* Server-owned metadata comes from the stored object. */
        const char *keep[] = {"name",
                              "namespace",
                              "uid",
                              "creationTimestamp",
                              "deletionTimestamp",
                              "deletionGracePeriodSeconds",
                              "generation",
                              "selfLink",
                              NULL};
        for (size_t i = 0; keep[i]; i++) {
            kl_json_t *v = kl_json_get(omd, keep[i]);
            kl_json_del(nmd, keep[i]);
            if (v && kl_json_set(nmd, keep[i], kl_json_dup(v)) < 0) {
                kl_json_free(next);
                goto oom;
            }
        }
        if (res->has_status) {
            kl_json_t *st = kl_json_get(old, "status");
            kl_json_del(next, "status");
            if (st && kl_json_set(next, "status", kl_json_dup(st)) < 0) {
                kl_json_free(next);
                goto oom;
            }
        }
        /* A terminating object may lose finalizers but not gain new ones. */
        if (kl_json_get(omd, "deletionTimestamp")) {
            const kl_json_t *nf = kl_json_get(nmd, "finalizers");
            const kl_json_t *of = kl_json_get(omd, "finalizers");
            for (uint32_t i = 0; kl_json_is(nf, KL_TARRAY) && i < nf->len; i++) {
                const char *f = kl_json_str(kl_json_at(nf, i));
                bool found = false;
                for (uint32_t j = 0; f && kl_json_is(of, KL_TARRAY) && j < of->len; j++)
                    if (kl_json_str(kl_json_at(of, j)) &&
                        strcmp(kl_json_str(kl_json_at(of, j)), f) == 0)
                        found = true;
                if (!found) {
                    kl_ferrs_t errs;
                    kl_ferrs_init(&errs);
                    kl_ferr_add(&errs, KL_FERR_FORBIDDEN, "metadata.finalizers", NULL,
                                "no new finalizers can be added if the object is being deleted");
                    kl_invalid(req, res, name, &errs);
                    kl_ferrs_cleanup(&errs);
                    kl_json_free(next);
                    goto out;
                }
            }
        }
    }
    kl_best_effort(kl_json_set_str(next, "kind", res->kind));
    kl_best_effort(kl_json_set_str(next, "apiVersion", res->primary->api_version));
    if ((res->strategy->defaults && res->strategy->defaults(next) < 0) ||
        kl_mf_record(req, q, res, sub, old, next) < 0) {
        kl_json_free(next);
        goto oom;
    }
    if (!status_sub && res->strategy->prepare_update &&
        res->strategy->prepare_update(next, old) < 0) {
        kl_json_free(next);
        goto oom;
    }
    kl_ferrs_t errs;
    kl_ferrs_init(&errs);
    kl_validate_object_meta(next, res->namespaced, name_rule(res), &errs);
    res->strategy->validate(next, old, &errs);
    kl_schema_validate_cr(res->schema, next, old, &errs);
    if (errs.n) {
        kl_invalid(req, res, name, &errs);
        kl_ferrs_cleanup(&errs);
        kl_json_free(next);
        goto out;
    }
    kl_ferrs_cleanup(&errs);
    /* Generation follows spec changes of main-resource writes. */
    if (!status_sub && has_generation(res)) {
        static const char *const skip[] = {"metadata", "status", "apiVersion", "kind", NULL};
        if (!json_equal_except(next, old, skip)) {
            int64_t g = kl_json_int_or(kl_json_path(old, "metadata", "generation", NULL), 1);
            kl_best_effort(kl_json_set_int(kl_json_get(next, "metadata"), "generation", g + 1));
        }
    }
    /* No change: no write, no new resourceVersion. */
    {
        char cur[24];
        snprintf(cur, sizeof(cur), "%lld", (long long)e->obj->rv);
        kl_best_effort(kl_json_set_str(kl_json_get(next, "metadata"), "resourceVersion", cur));
        kl_mf_keep_times(old, next);
        kl_canonical_order(next);
        if (kl_json_equal(next, old)) {
            kl_send_object(srv, req, res, e->obj, 200);
            kl_json_free(next);
            goto out;
        }
    }
    if (dry_run(q)) {
        kl_canonical_order(next);
        kl_send_json(req, 200, next);
        kl_json_free(next);
        goto out;
    }
    char key[600];
    snprintf(key, sizeof(key), "%s", e->name_key);
    /* The last finalizer removed from a terminating object: it goes away now. */
    const kl_json_t *fin = kl_json_path(next, "metadata", "finalizers", NULL);
    if (kl_json_path(next, "metadata", "deletionTimestamp", NULL) &&
        (!kl_json_is(fin, KL_TARRAY) || fin->len == 0) &&
        !(kl_json_path_str(next, "metadata", "deletionGracePeriodSeconds", NULL) == NULL &&
          kl_json_int_or(kl_json_path(next, "metadata", "deletionGracePeriodSeconds", NULL), 0) >
              0)) {
        if (kl_persist_delete(srv, res, key, next, &err) < 0) {
            kl_respond_statusf(req, 500, "InternalError", "%s", err.msg);
        } else {
            kl_canonical_order(next);
            kl_send_json(req, 200, next);
        }
        kl_json_free(next);
        goto out;
    }
    kl_sobj_t *stored;
    int rc = kl_persist(srv, res, key, next, &stored, &err);
    kl_json_free(next);
    if (rc < 0) {
        kl_respond_statusf(req, 500, "InternalError", "%s", err.msg);
        goto out;
    }
    kl_after_write(srv, res, stored);
    kl_send_object(srv, req, res, stored, 200);
    goto out;
oom:
    kl_respond_statusf(req, 500, "InternalError", "out of memory");
out:
    kl_json_free(obj);
    kl_json_free(old);
}

static void handle_update(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                          const kl_query_t *q)
{
    kl_json_t *obj;
    if (kl_decode_body(req, res, &obj, kl_field_validation(q)) < 0)
        return;
    if (kl_check_schema(req, res, obj, kl_field_validation(q)) < 0 ||
        kl_check_type(req, res, obj) < 0) {
        kl_json_free(obj);
        return;
    }
    char key[600];
    kl_name_key(res, p->namespace, p->name, key, sizeof(key));
    kl_entry_t *e = kl_store_get(res->table, key);
    if (e == NULL) {
        /* Events may be created by PUT (AllowCreateOnUpdate), as upstream. */
        if (!*res->group && strcmp(res->kind, "Event") == 0 && p->sub == NULL) {
            kl_do_create(srv, req, res, p->namespace, obj, q);
            return;
        }
        kl_json_free(obj);
        kl_not_found(req, res, p->name);
        return;
    }
    kl_do_update(srv, req, res, e, obj, p->sub, q);
}

/* ---- Patch ------------------------------------------------------------------------------ */

static void handle_patch(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                         const kl_query_t *q)
{
    size_t ctl = 0;
    const char *ct = kl_req_header(req, "content-type", &ctl);
    enum { P_JSON, P_MERGE, P_SMP, P_APPLY } kind;
    if (ct && ctype_is(ct, ctl, "application/json-patch+json"))
        kind = P_JSON;
    else if (ct && ctype_is(ct, ctl, "application/merge-patch+json"))
        kind = P_MERGE;
    else if (ct && ctype_is(ct, ctl, "application/strategic-merge-patch+json") && !res->is_crd)
        kind = P_SMP;
    else if (ct && ctype_is(ct, ctl, "application/apply-patch+yaml"))
        kind = P_APPLY;
    else {
        kl_respond_statusf(req, 415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media "
                           "types include: application/json-patch+json, "
                           "application/merge-patch+json, application/apply-patch+yaml%s",
                           res->is_crd ? "" : ", application/strategic-merge-patch+json");
        return;
    }
    if (req->entity.len > KL_MAX_BODY) {
        kl_respond_statusf(req, 413, "RequestEntityTooLarge", "Request entity too large");
        return;
    }
    kl_json_t *patch;
    kl_errinfo_t err;
    kl_parse_opts_t po = {.flags = KL_PARSE_ALLOW_DUPLICATE_KEYS};
    int rc = kind == P_APPLY
                 ? kl_json_parse_any(req->entity.base, req->entity.len, &po, &patch, &err)
                 : kl_json_parse(req->entity.base, req->entity.len, &po, &patch, &err);
    if (rc < 0) {
        kl_respond_statusf(req, 400, "BadRequest", "error decoding patch: %s", err.msg);
        return;
    }
    if (kind == P_APPLY) {
        const char *fm = kl_query_get(q, "fieldManager");
        if (fm == NULL || !*fm) {
            kl_json_free(patch);
            kl_respond_status(req, 422, "Invalid",
                              "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
                              "value: is required for apply patch",
                              NULL, NULL, NULL, NULL);
            return;
        }
        if (kl_check_schema(req, res, patch, kl_field_validation(q)) < 0 ||
            kl_check_type(req, res, patch) < 0) {
            kl_json_free(patch);
            return;
        }
    }
    char key[600];
    kl_name_key(res, p->namespace, p->name, key, sizeof(key));
    kl_entry_t *e = kl_store_get(res->table, key);
    if (e == NULL) {
        if (kind == P_APPLY && p->sub == NULL) {
            const char *bname = kl_json_path_str(patch, "metadata", "name", NULL);
            if (bname == NULL || strcmp(bname, p->name) != 0) {
                kl_json_t *md = kl_json_ensure_object(patch, "metadata");
                if (md == NULL || kl_json_set_str(md, "name", p->name) < 0) {
                    kl_json_free(patch);
                    kl_respond_statusf(req, 500, "InternalError", "out of memory");
                    return;
                }
            }
            kl_json_t *created = NULL;
            rc = kl_mf_apply_request(req, q, res, NULL, NULL, patch, &created, &err);
            kl_json_free(patch);
            if (rc == 0)
                kl_do_create(srv, req, res, p->namespace, created, q);
            else if (rc == KL_EBADREQUEST)
                kl_respond_status(req, 400, "BadRequest", err.msg, NULL, NULL, NULL, NULL);
            else if (rc == KL_ETOOBIG)
                kl_respond_status(req, 413, "RequestEntityTooLarge", err.msg, NULL, NULL, NULL,
                                  NULL);
            else if (rc != KL_ECONFLICT)
                kl_respond_status(req, 422, "Invalid", err.msg, p->name, res->group, res->resource,
                                  NULL);
            return;
        }
        kl_json_free(patch);
        kl_not_found(req, res, p->name);
        return;
    }
    kl_json_t *obj = kl_json_from_val(kl_obj_root(e->obj->doc));
    if (obj == NULL) {
        kl_json_free(patch);
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
        return;
    }
    /* Patches of an alias see the object as that version (converted when its shape differs:
     * autoscaling/v1 HorizontalPodAutoscalers). An apply works on the stored form: its
     * configuration was converted to it above. */
    if (kind != P_APPLY && res->convert && res->primary != res)
        rc = res->convert(obj, res->api_version);
    else if (kind != P_APPLY || !res->convert)
        rc = kl_json_set_str(obj, "apiVersion", res->api_version);
    if (rc < 0) {
        kl_json_free(obj);
        kl_json_free(patch);
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
        return;
    }
    switch (kind) {
    case P_JSON:
        rc = kl_patch_json(&obj, patch, &err);
        break;
    case P_MERGE:
        rc = kl_patch_merge(&obj, patch, &err);
        break;
    case P_SMP:
        rc = kl_patch_strategic(&obj, patch, res->schema, &err);
        break;
    case P_APPLY: {
        kl_json_t *applied = NULL;
        rc = kl_mf_apply_request(req, q, res, p->sub, obj, patch, &applied, &err);
        kl_json_free(obj);
        obj = applied;
        /* In the stored version's shape; labelled as the alias's for the check below, which
         * leaves that shape as it is. */
        if (rc == 0 && res->convert && kl_json_set_str(obj, "apiVersion", res->api_version) < 0)
            rc = KL_ENOMEM;
        break;
    }
    }
    kl_json_free(patch);
    if (rc < 0) {
        kl_json_free(obj);
        if (rc == KL_ECONFLICT)
            return; /* answered with the conflicts */
        if (rc == KL_EBADREQUEST)
            kl_respond_status(req, 400, "BadRequest", err.msg, NULL, NULL, NULL, NULL);
        else if (rc == KL_ETOOBIG)
            kl_respond_status(req, 413, "RequestEntityTooLarge", err.msg, NULL, NULL, NULL, NULL);
        else
            kl_respond_status(req, 422, "Invalid", err.msg, p->name, res->group, res->resource,
                              NULL);
        return;
    }
    if (!kl_json_is(obj, KL_TOBJECT)) {
        kl_json_free(obj);
        kl_respond_statusf(req, 422, "Invalid",
                           "the patch produced something that is not an object");
        return;
    }
    /* Custom resources are decoded again after apply too: that is where defaults come in. */
    if ((kind != P_APPLY || res->is_crd) &&
        kl_check_schema(req, res, obj, kl_field_validation(q)) < 0) {
        kl_json_free(obj);
        return;
    }
    if (kl_check_type(req, res, obj) < 0) {
        kl_json_free(obj);
        return;
    }
    if (p->sub && strcmp(p->sub, "scale") == 0) {
        kl_json_free(obj);
        kl_respond_statusf(req, 404, "NotFound",
                           "the server could not find the requested resource");
        return;
    }
    kl_do_update(srv, req, res, e, obj, p->sub, q);
}

/* ---- Delete ----------------------------------------------------------------------------- */

typedef struct delete_opts {
    int has_policy;
    kl_gc_policy_t policy;
    int64_t grace; /* -1: not given */
    const char *pre_uid, *pre_rv;
    int dry_run;
} delete_opts_t;

static int parse_delete_opts(h2o_req_t *req, const kl_query_t *q, delete_opts_t *o,
                             kl_json_t **body)
{
    memset(o, 0, sizeof(*o));
    o->grace = -1;
    *body = NULL;
    if (req->entity.len > 0) {
        if (kl_json_parse(req->entity.base, req->entity.len, NULL, body, NULL) < 0 ||
            !kl_json_is(*body, KL_TOBJECT)) {
            kl_json_free(*body);
            *body = NULL;
            return -1;
        }
    }
    const char *pp = kl_json_path_str(*body, "propagationPolicy", NULL);
    if (pp == NULL)
        pp = kl_query_get(q, "propagationPolicy");
    if (pp) {
        o->has_policy = 1;
        if (strcmp(pp, "Foreground") == 0)
            o->policy = KL_GC_FOREGROUND;
        else if (strcmp(pp, "Orphan") == 0)
            o->policy = KL_GC_ORPHAN;
        else if (strcmp(pp, "Background") == 0)
            o->policy = KL_GC_BACKGROUND;
        else
            return -2;
    } else {
        const kl_json_t *od = kl_json_get(*body, "orphanDependents");
        const char *odq = kl_query_get(q, "orphanDependents");
        if ((od && od->type != KL_TNULL) || odq) {
            o->has_policy = 1;
            bool orphan = od ? kl_json_bool_or(od, false) : strcmp(odq, "true") == 0;
            o->policy = orphan ? KL_GC_ORPHAN : KL_GC_BACKGROUND;
        }
    }
    const kl_json_t *g = kl_json_get(*body, "gracePeriodSeconds");
    if (g && g->type != KL_TNULL)
        o->grace = kl_json_int_or(g, -1);
    else if (kl_query_get(q, "gracePeriodSeconds"))
        o->grace = strtoll(kl_query_get(q, "gracePeriodSeconds"), NULL, 10);
    o->pre_uid = kl_json_path_str(*body, "preconditions", "uid", NULL);
    o->pre_rv = kl_json_path_str(*body, "preconditions", "resourceVersion", NULL);
    const kl_json_t *dr = kl_json_get(*body, "dryRun");
    o->dry_run = dry_run(q) || (kl_json_is(dr, KL_TARRAY) && dr->len > 0);
    return 0;
}

static const char *policy_finalizer(kl_gc_policy_t p)
{
    return p == KL_GC_FOREGROUND ? "foregroundDeletion" : p == KL_GC_ORPHAN ? "orphan" : NULL;
}

/* Whether a pod is being run by a node agent that will confirm its termination. */
static bool pod_has_running_agent(kl_apiserver_t *srv, const kl_json_t *pod)
{
    const char *node = kl_json_path_str(pod, "spec", "nodeName", NULL);
    if (node == NULL || !*node)
        return false;
    const char *phase = kl_json_path_str(pod, "status", "phase", NULL);
    if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")))
        return false;
    kl_res_t *nodes = kl_registry_find(srv->reg, "", "v1", "nodes");
    kl_entry_t *n = nodes ? kl_store_get(nodes->table, node) : NULL;
    if (n == NULL)
        return false;
    kl_val_t conds = kl_val_path(kl_obj_root(n->obj->doc), "status", "conditions", NULL);
    for (uint32_t i = 0; i < kl_val_len(conds); i++) {
        kl_val_t c = kl_val_at(conds, i);
        const char *t = kl_val_path_str(c, "type", NULL);
        const char *s = kl_val_path_str(c, "status", NULL);
        if (t && s && !strcmp(t, "Ready"))
            return !strcmp(s, "True");
    }
    return false;
}

/* Deletes (or starts deleting) entry e. Returns 0 with *result the object to answer with (the
 * caller frees it), or a negative code with an HTTP answer already chosen in *status/msg. */
int kl_delete_entry(kl_apiserver_t *srv, kl_res_t *res, kl_entry_t *e, kl_gc_policy_t policy,
                    int has_policy, int64_t grace, int dry, kl_json_t **result, kl_errinfo_t *err)
{
    kl_json_t *obj = kl_json_from_val(kl_obj_root(e->obj->doc));
    if (obj == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    kl_json_t *md = kl_json_get(obj, "metadata");
    char key[600];
    snprintf(key, sizeof(key), "%s", e->name_key);
    if (!has_policy)
        policy = res->gc_default;
    bool is_pod = !*res->group && !strcmp(res->kind, "Pod");
    bool is_ns = !*res->group && !strcmp(res->kind, "Namespace");
    bool already = kl_json_get(md, "deletionTimestamp") != NULL;
    int64_t pod_grace = 0;
    if (is_pod) {
        pod_grace = grace >= 0
                        ? grace
                        : kl_json_int_or(
                              kl_json_path(obj, "spec", "terminationGracePeriodSeconds", NULL), 30);
        if (!pod_has_running_agent(srv, obj))
            pod_grace = 0;
        if (already && pod_grace > 0) {
            int64_t cur = kl_json_int_or(kl_json_get(md, "deletionGracePeriodSeconds"), 0);
            if (pod_grace >= cur)
                pod_grace = cur;
        }
    }
    /* Finalizers from the propagation policy. */
    kl_json_t *fins = kl_json_get(md, "finalizers");
    const char *pf = policy_finalizer(policy);
    if (is_ns)
        pf = NULL;
    if (pf && !already) {
        fins = kl_json_ensure_array(md, "finalizers");
        bool found = false;
        for (uint32_t i = 0; fins && i < fins->len; i++)
            if (kl_json_str(kl_json_at(fins, i)) && !strcmp(kl_json_str(kl_json_at(fins, i)), pf))
                found = true;
        if (fins && !found && kl_json_append(fins, kl_json_string(pf)) < 0) {
            kl_json_free(obj);
            return kl_err(err, KL_ENOMEM, "out of memory");
        }
    }
    bool has_fins = kl_json_is(fins, KL_TARRAY) && fins->len > 0;
    bool ns_has_fins = is_ns &&
                       kl_json_is(kl_json_path(obj, "spec", "finalizers", NULL), KL_TARRAY) &&
                       kl_json_path(obj, "spec", "finalizers", NULL)->len > 0;
    if (dry) {
        *result = obj;
        return 0;
    }
    if (has_fins || ns_has_fins || (is_pod && pod_grace > 0)) {
        /* Graceful: mark, keep. */
        char ts[40];
        if (!already || (is_pod && pod_grace > 0)) {
            int64_t when = kl_time_now() + (is_pod ? pod_grace : 0);
            kl_time_format_rfc3339(when, ts);
            if (kl_json_set_str(md, "deletionTimestamp", ts) < 0 ||
                kl_json_set_int(md, "deletionGracePeriodSeconds", is_pod ? pod_grace : 0) < 0) {
                kl_json_free(obj);
                return kl_err(err, KL_ENOMEM, "out of memory");
            }
            if (!already && has_generation(res)) {
                int64_t g = kl_json_int_or(kl_json_get(md, "generation"), 1);
                kl_best_effort(kl_json_set_int(md, "generation", g + 1));
            }
            if (is_ns) {
                kl_json_t *st = kl_json_ensure_object(obj, "status");
                if (st)
                    kl_best_effort(kl_json_set_str(st, "phase", "Terminating"));
            }
            kl_sobj_t *stored;
            int rc = kl_persist(srv, res, key, obj, &stored, err);
            if (rc < 0) {
                kl_json_free(obj);
                return rc;
            }
            kl_gc_schedule(srv, res, stored);
        }
        *result = obj;
        return 0;
    }
    int rc = kl_persist_delete(srv, res, key, obj, err);
    if (rc < 0) {
        kl_json_free(obj);
        return rc;
    }
    *result = obj;
    return 0;
}

static void handle_delete(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                          const kl_query_t *q)
{
    delete_opts_t o;
    kl_json_t *body;
    int prc = parse_delete_opts(req, q, &o, &body);
    if (prc == -1) {
        kl_respond_statusf(req, 400, "BadRequest", "invalid DeleteOptions in the request body");
        return;
    }
    if (prc == -2) {
        kl_json_free(body);
        kl_respond_status(
            req, 422, "Invalid",
            "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported "
            "value: supported values: \"Foreground\", \"Background\", \"Orphan\", nil",
            NULL, NULL, NULL, NULL);
        return;
    }
    char key[600];
    kl_name_key(res, p->namespace, p->name, key, sizeof(key));
    kl_entry_t *e = kl_store_get(res->table, key);
    if (e == NULL) {
        kl_json_free(body);
        kl_not_found(req, res, p->name);
        return;
    }
    kl_val_t md = kl_val_get(kl_obj_root(e->obj->doc), "metadata");
    if (o.pre_uid) {
        const char *uid = kl_val_path_str(md, "uid", NULL);
        if (uid == NULL || strcmp(uid, o.pre_uid) != 0) {
            kl_respond_statusf(req, 409, "Conflict",
                               "Precondition failed: UID in precondition: %s, UID in object meta: "
                               "%s",
                               o.pre_uid, uid ? uid : "");
            kl_json_free(body);
            return;
        }
    }
    if (o.pre_rv) {
        char cur[24];
        snprintf(cur, sizeof(cur), "%lld", (long long)e->obj->rv);
        if (strcmp(cur, o.pre_rv) != 0) {
            kl_respond_statusf(req, 409, "Conflict",
                               "Precondition failed: ResourceVersion in precondition: %s, "
                               "ResourceVersion in object meta: %s",
                               o.pre_rv, cur);
            kl_json_free(body);
            return;
        }
    }
    if (!*res->group && !strcmp(res->kind, "Namespace") &&
        (!strcmp(p->name, "default") || !strcmp(p->name, "kube-system") ||
         !strcmp(p->name, "kube-public"))) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "namespaces \"%s\" is forbidden: this namespace may not be deleted", p->name);
        kl_respond_status(req, 403, "Forbidden", msg, p->name, "", "namespaces", NULL);
        kl_json_free(body);
        return;
    }
    kl_json_t *result = NULL;
    kl_errinfo_t err;
    if (!o.has_policy && res->gc_default == KL_GC_ORPHAN && strcmp(res->group, "batch") == 0)
        kl_add_warning(req, "child pods are preserved by default when jobs are deleted; set "
                            "propagationPolicy=Background to remove them or set "
                            "propagationPolicy=Orphan to suppress this warning");
    int rc =
        kl_delete_entry(srv, res, e, o.policy, o.has_policy, o.grace, o.dry_run, &result, &err);
    kl_json_free(body);
    if (rc < 0) {
        kl_respond_statusf(req, 500, "InternalError", "%s", err.msg);
        return;
    }
    kl_best_effort(kl_json_set_str(result, "apiVersion", res->api_version));
    kl_canonical_order(result);
    kl_send_json(req, 200, result);
    kl_json_free(result);
}

static void handle_delete_collection(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res,
                                     const kl_path_t *p, const kl_query_t *q)
{
    delete_opts_t o;
    kl_json_t *body;
    if (parse_delete_opts(req, q, &o, &body) < 0) {
        kl_respond_statusf(req, 400, "BadRequest", "invalid DeleteOptions in the request body");
        return;
    }
    kl_filter_t f;
    kl_errinfo_t err;
    if (kl_filter_init(&f, res, res->namespaced ? p->namespace : NULL, q, &err) < 0) {
        kl_json_free(body);
        kl_respond_status(req, 400, "BadRequest", err.msg, NULL, NULL, NULL, NULL);
        return;
    }
    size_t n;
    kl_entry_t **sorted = kl_store_sorted(res->table, &n);
    char **keys = calloc(n ? n : 1, sizeof(char *));
    size_t nk = 0;
    for (size_t i = 0; keys && i < n; i++)
        if (kl_filter_match(res, &f, sorted[i]->obj->doc))
            keys[nk++] = strdup(sorted[i]->name_key);
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc = kl_buf_printf(&b, "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":{},\"items\":[",
                           res->list_kind, res->api_version);
    size_t written = 0;
    for (size_t i = 0; keys && i < nk; i++) {
        kl_entry_t *e = keys[i] ? kl_store_get(res->table, keys[i]) : NULL;
        if (e == NULL)
            continue;
        kl_json_t *result = NULL;
        if (kl_delete_entry(srv, res, e, o.policy, o.has_policy, o.grace, o.dry_run, &result,
                            &err) == 0) {
            if (rc == 0 && written++)
                rc = kl_buf_putc(&b, ',');
            if (rc == 0)
                rc = kl_json_encode(result, &b);
            kl_json_free(result);
        }
    }
    for (size_t i = 0; keys && i < nk; i++)
        free(keys[i]);
    free(keys);
    kl_filter_cleanup(&f);
    kl_json_free(body);
    if (rc == 0)
        rc = kl_buf_puts(&b, "]}");
    if (rc < 0) {
        kl_buf_cleanup(&b);
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
        return;
    }
    kl_respond(req, 200, "application/json", &b);
}

/* ---- Dispatch --------------------------------------------------------------------------- */

static bool method_is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

static void method_not_allowed(h2o_req_t *req)
{
    kl_respond_status(req, 405, "MethodNotAllowed",
                      "the server does not allow this method on the "
                      "requested resource",
                      NULL, NULL, NULL, NULL);
}

void kl_api_handle(kl_apiserver_t *srv, h2o_req_t *req, const kl_path_t *p, const kl_query_t *q)
{
    kl_res_t *res = kl_registry_find(srv->reg, p->group, p->version, p->resource);
    if (res == NULL || (p->namespace && !res->namespaced)) {
        kl_respond_status(req, 404, "NotFound", "the server could not find the requested resource",
                          NULL, NULL, NULL, NULL);
        return;
    }
    if (res->deprecation)
        kl_add_warning(req, res->deprecation);
    if (kl_proto_request(req, res, p) < 0)
        return;
    if (p->sub && kl_subresource(srv, req, res, p, q))
        return;
    if (p->sub && strcmp(p->sub, "status") != 0) {
        kl_respond_status(req, 404, "NotFound", "the server could not find the requested resource",
                          NULL, NULL, NULL, NULL);
        return;
    }
    if (p->sub && !(res->subresources & KL_SUB_STATUS)) {
        kl_respond_status(req, 404, "NotFound", "the server could not find the requested resource",
                          NULL, NULL, NULL, NULL);
        return;
    }
    if (res->list_only_verbs) {
        /* bindings and the reviews (reviews.c): POST only. */
        if (method_is(req, "POST") && p->name == NULL && !*res->group)
            kl_binding_create(srv, req, res, p, q);
        else if (method_is(req, "POST") && p->name == NULL)
            kl_review_create(srv, req, res, p, q);
        else
            method_not_allowed(req);
        return;
    }
    if (method_is(req, "GET")) {
        if (p->name)
            handle_get(srv, req, res, p);
        else if (kl_query_bool(q, "watch"))
            kl_watch_request(srv, req, res, p, q);
        else
            handle_list(srv, req, res, p, q);
    } else if (method_is(req, "POST")) {
        if (p->name)
            method_not_allowed(req);
        else
            handle_create(srv, req, res, p, q);
    } else if (method_is(req, "PUT")) {
        if (p->name)
            handle_update(srv, req, res, p, q);
        else
            method_not_allowed(req);
    } else if (method_is(req, "PATCH")) {
        if (p->name)
            handle_patch(srv, req, res, p, q);
        else
            method_not_allowed(req);
    } else if (method_is(req, "DELETE")) {
        if (p->name && p->sub == NULL)
            handle_delete(srv, req, res, p, q);
        else if (p->name == NULL)
            handle_delete_collection(srv, req, res, p, q);
        else
            method_not_allowed(req);
    } else {
        method_not_allowed(req);
    }
}

/* ---- Bootstrap -------------------------------------------------------------------------- */

int kl_api_bootstrap(kl_apiserver_t *srv)
{
    kl_res_t *ns = kl_registry_find(srv->reg, "", "v1", "namespaces");
    if (ns == NULL)
        return KL_EINVAL;
    /* Custom resources stored before a restart come back with their definitions. */
    kl_res_t *crds =
        kl_registry_find(srv->reg, "apiextensions.k8s.io", "v1", "customresourcedefinitions");
    if (crds) {
        size_t n;
        kl_entry_t **all = kl_store_sorted(crds->table, &n);
        for (size_t i = 0; i < n; i++) {
            kl_json_t *crd = kl_json_from_val(kl_obj_root(all[i]->obj->doc));
            kl_errinfo_t err;
            if (crd && kl_registry_apply_crd(srv->reg, crd, &err) < 0)
                KL_WARN("apiserver", "cannot serve stored CRD %s: %s", all[i]->name_key, err.msg);
            kl_json_free(crd);
        }
    }
    /* Index every stored object by uid for the garbage collector. */
    kl_gc_index_all(srv);
    static const char *const names[] = {"default", "kube-system", "kube-public", "kube-node-lease",
                                        NULL};
    for (size_t i = 0; names[i]; i++) {
        if (kl_store_get(ns->table, names[i]))
            continue;
        kl_json_t *obj = kl_json_object();
        kl_json_t *md = kl_json_object();
        char uid[40], ts[40];
        kl_new_uid(uid);
        kl_now_rfc3339(ts);
        kl_json_t *labels = kl_json_object();
        if (obj == NULL || md == NULL || labels == NULL ||
            kl_json_set_str(obj, "apiVersion", "v1") < 0 ||
            kl_json_set_str(obj, "kind", "Namespace") < 0 ||
            kl_json_set_str(md, "name", names[i]) < 0 || kl_json_set_str(md, "uid", uid) < 0 ||
            kl_json_set_str(md, "creationTimestamp", ts) < 0 ||
            kl_json_set_str(labels, "kubernetes.io/metadata.name", names[i]) < 0 ||
            kl_json_set(md, "labels", labels) < 0 || kl_json_set(obj, "metadata", md) < 0) {
            kl_json_free(obj);
            return KL_ENOMEM;
        }
        if (ns->strategy->defaults)
            ns->strategy->defaults(obj);
        kl_errinfo_t err;
        int rc = kl_persist(srv, ns, names[i], obj, NULL, &err);
        kl_json_free(obj);
        if (rc < 0)
            return rc;
    }
    /* Default service accounts and the system priority classes (reviews.c). */
    return kl_res_bootstrap(srv);
}
