/* Paths, query strings and the REST verbs on top of the engine in client.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"

int kl_resource_parse(const char *s, kl_resource_t *r, char *buf, size_t bufsize)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n + 1 > bufsize)
        return KL_EINVAL;
    memcpy(buf, s, n + 1);
    char *parts[4];
    int np = 0;
    for (char *p = buf;;) {
        if (np == 4)
            return KL_EINVAL;
        parts[np++] = p;
        char *slash = strchr(p, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    for (int i = 0; i < np; i++)
        if (*parts[i] == '\0')
            return KL_EINVAL;
    memset(r, 0, sizeof(*r));
    /* "v1/pods", "v1/pods/status", "apps/v1/deployments", "apps/v1/deployments/status": a core
     * version starts with 'v' and a digit, a group never does (groups hold a dot or are known
     * short names, but "v1" alone is never a group). */
    bool core = parts[0][0] == 'v' && parts[0][1] >= '0' && parts[0][1] <= '9';
    if (core) {
        if (np < 2 || np > 3)
            return KL_EINVAL;
        r->group = "";
        r->version = parts[0];
        r->resource = parts[1];
        r->subresource = np == 3 ? parts[2] : NULL;
    } else {
        if (np < 3)
            return KL_EINVAL;
        r->group = parts[0];
        r->version = parts[1];
        r->resource = parts[2];
        r->subresource = np == 4 ? parts[3] : NULL;
    }
    return 0;
}

static int put_escaped(kl_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
        int rc;
        if (ok) {
            rc = kl_buf_putc(b, (char)ch);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = kl_buf_append(b, e, 3);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int kl_resource_path(const kl_resource_t *r, kl_buf_t *out)
{
    if (r == NULL || r->version == NULL || r->resource == NULL || *r->resource == '\0')
        return KL_EINVAL;
    int rc;
    if (r->group && *r->group)
        rc = kl_buf_printf(out, "/apis/%s/%s", r->group, r->version);
    else
        rc = kl_buf_printf(out, "/api/%s", r->version);
    if (rc == 0 && r->namespace && *r->namespace &&
        !((r->group == NULL || *r->group == '\0') && strcmp(r->resource, "namespaces") == 0)) {
        rc = kl_buf_puts(out, "/namespaces/");
        if (rc == 0)
            rc = put_escaped(out, r->namespace);
    }
    if (rc == 0)
        rc = kl_buf_printf(out, "/%s", r->resource);
    if (rc == 0 && r->name) {
        rc = kl_buf_putc(out, '/');
        if (rc == 0)
            rc = put_escaped(out, r->name);
        if (rc == 0 && r->subresource && *r->subresource)
            rc = kl_buf_printf(out, "/%s", r->subresource);
    }
    return rc;
}

static int qparam(kl_buf_t *b, bool *first, const char *name, const char *value)
{
    if (value == NULL)
        return 0;
    int rc = kl_buf_printf(b, "%c%s=", *first ? '?' : '&', name);
    *first = false;
    if (rc == 0)
        rc = put_escaped(b, value);
    return rc;
}

int kl__build_url(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o,
                  const kl_watch_opts_t *wo, kl_buf_t *out)
{
    int rc = kl_buf_puts(out, c->cfg->server);
    if (rc == 0)
        rc = kl_resource_path(r, out);
    if (rc < 0)
        return rc;
    bool first = true;
    char num[32];
    if (o) {
        rc = qparam(out, &first, "labelSelector",
                    o->label_selector && *o->label_selector ? o->label_selector : NULL);
        if (rc == 0)
            rc = qparam(out, &first, "fieldSelector",
                        o->field_selector && *o->field_selector ? o->field_selector : NULL);
        if (rc == 0 && o->limit > 0) {
            snprintf(num, sizeof(num), "%lld", (long long)o->limit);
            rc = qparam(out, &first, "limit", num);
        }
        if (rc == 0)
            rc = qparam(out, &first, "continue",
                        o->continue_token && *o->continue_token ? o->continue_token : NULL);
        if (rc == 0)
            rc = qparam(out, &first, "resourceVersion", o->resource_version);
        if (rc == 0)
            rc = qparam(out, &first, "resourceVersionMatch", o->resource_version_match);
        if (rc == 0 && o->dry_run)
            rc = qparam(out, &first, "dryRun", "All");
        if (rc == 0)
            rc = qparam(out, &first, "fieldManager", o->field_manager);
        if (rc == 0 && o->force)
            rc = qparam(out, &first, "force", "true");
        if (rc == 0)
            rc = qparam(out, &first, "fieldValidation", o->field_validation);
    }
    if (wo && rc == 0) {
        rc = qparam(out, &first, "watch", "true");
        if (rc == 0)
            rc = qparam(out, &first, "labelSelector",
                        wo->label_selector && *wo->label_selector ? wo->label_selector : NULL);
        if (rc == 0)
            rc = qparam(out, &first, "fieldSelector",
                        wo->field_selector && *wo->field_selector ? wo->field_selector : NULL);
        if (rc == 0)
            rc =
                qparam(out, &first, "resourceVersion",
                       wo->resource_version && *wo->resource_version ? wo->resource_version : NULL);
        if (rc == 0 && wo->allow_bookmarks)
            rc = qparam(out, &first, "allowWatchBookmarks", "true");
        if (rc == 0 && wo->send_initial_events) {
            rc = qparam(out, &first, "sendInitialEvents", "true");
            if (rc == 0)
                rc = qparam(out, &first, "resourceVersionMatch", "NotOlderThan");
        }
        if (rc == 0 && wo->timeout_seconds > 0) {
            snprintf(num, sizeof(num), "%lld", (long long)wo->timeout_seconds);
            rc = qparam(out, &first, "timeoutSeconds", num);
        }
    }
    return rc;
}

static int submit(kl_client_t *c, req_kind_t kind, const char *method, int verb,
                  const kl_resource_t *r, const kl_req_opts_t *o, const char *ctype,
                  const char *body, size_t len, kl_client_cb cb, kl_list_item_cb item_cb,
                  kl_list_done_cb list_cb, void *ud, kl_req_t **out)
{
    if (c == NULL || r == NULL || (kind == REQ_OBJ && cb == NULL) ||
        (kind == REQ_LIST && (item_cb == NULL || list_cb == NULL)))
        return KL_EINVAL;
    kl_req_t *req = kl__req_new(c, kind, method, verb);
    if (req == NULL)
        return KL_ENOMEM;
    kl_buf_t url;
    kl_buf_init(&url, 1 << 16);
    int rc = kl__build_url(c, r, o, NULL, &url);
    if (rc < 0) {
        kl_buf_cleanup(&url);
        kl__req_free(req);
        return rc;
    }
    req->url = kl_buf_take(&url, NULL);
    if (body) {
        req->body = malloc(len + 1);
        if (req->body) {
            memcpy(req->body, body, len);
            req->body[len] = '\0';
        }
        req->body_len = len;
    }
    if (ctype)
        req->ctype = strdup(ctype);
    if (req->url == NULL || (body && req->body == NULL) || (ctype && req->ctype == NULL)) {
        kl__req_free(req);
        return KL_ENOMEM;
    }
    req->cb = cb;
    req->item_cb = item_cb;
    req->list_cb = list_cb;
    req->ud = ud;
    req->retry_transport = strcmp(method, "GET") == 0;
    if (o) {
        req->timeout_ms = o->timeout_ms;
        if (o->keep_managed_fields)
            req->parse_flags = 0;
    }
    kl__req_submit(c, req);
    if (out)
        *out = req;
    return 0;
}

static int verb_of(const char *method, const kl_resource_t *r)
{
    if (strcmp(method, "GET") == 0)
        return r->name ? VERB_GET : VERB_LIST;
    if (strcmp(method, "POST") == 0)
        return VERB_POST;
    if (strcmp(method, "PUT") == 0)
        return VERB_PUT;
    if (strcmp(method, "PATCH") == 0)
        return VERB_PATCH;
    if (strcmp(method, "DELETE") == 0)
        return VERB_DELETE;
    return VERB_GET;
}

int kl_client_request(kl_client_t *c, const char *method, const kl_resource_t *r,
                      const kl_req_opts_t *o, const char *content_type, const char *body,
                      size_t body_len, kl_client_cb cb, void *ud, kl_req_t **req)
{
    if (method == NULL || r == NULL)
        return KL_EINVAL;
    return submit(c, REQ_OBJ, method, verb_of(method, r), r, o, content_type, body, body_len, cb,
                  NULL, NULL, ud, req);
}

int kl_client_get(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o, kl_client_cb cb,
                  void *ud, kl_req_t **req)
{
    if (r == NULL || r->name == NULL)
        return KL_EINVAL;
    return kl_client_request(c, "GET", r, o, NULL, NULL, 0, cb, ud, req);
}

int kl_client_list(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o, kl_client_cb cb,
                   void *ud, kl_req_t **req)
{
    if (r == NULL)
        return KL_EINVAL;
    kl_resource_t rr = *r;
    rr.name = NULL;
    rr.subresource = NULL;
    return submit(c, REQ_OBJ, "GET", VERB_LIST, &rr, o, NULL, NULL, 0, cb, NULL, NULL, ud, req);
}

int kl_client_list_items(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o,
                         kl_list_item_cb item_cb, kl_list_done_cb done_cb, void *ud, kl_req_t **req)
{
    if (r == NULL)
        return KL_EINVAL;
    kl_resource_t rr = *r;
    rr.name = NULL;
    rr.subresource = NULL;
    return submit(c, REQ_LIST, "GET", VERB_LIST, &rr, o, NULL, NULL, 0, NULL, item_cb, done_cb, ud,
                  req);
}

int kl_client_create(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o,
                     const char *json, size_t len, kl_client_cb cb, void *ud, kl_req_t **req)
{
    if (r == NULL || json == NULL)
        return KL_EINVAL;
    kl_resource_t rr = *r;
    if (rr.subresource == NULL)
        rr.name = NULL;
    return submit(c, REQ_OBJ, "POST", VERB_POST, &rr, o, NULL, json, len, cb, NULL, NULL, ud, req);
}

int kl_client_update(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o,
                     const char *json, size_t len, kl_client_cb cb, void *ud, kl_req_t **req)
{
    if (r == NULL || r->name == NULL || json == NULL)
        return KL_EINVAL;
    return submit(c, REQ_OBJ, "PUT", VERB_PUT, r, o, NULL, json, len, cb, NULL, NULL, ud, req);
}

int kl_client_update_status(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o,
                            const char *json, size_t len, kl_client_cb cb, void *ud, kl_req_t **req)
{
    if (r == NULL)
        return KL_EINVAL;
    kl_resource_t rr = *r;
    rr.subresource = "status";
    return kl_client_update(c, &rr, o, json, len, cb, ud, req);
}

int kl_client_patch(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o,
                    kl_patch_type_t type, const char *patch, size_t len, kl_client_cb cb, void *ud,
                    kl_req_t **req)
{
    static const char *const ctypes[] = {
        "application/merge-patch+json", "application/json-patch+json",
        "application/strategic-merge-patch+json", "application/apply-patch+yaml"};
    if (r == NULL || r->name == NULL || patch == NULL || (unsigned)type > KL_PATCH_APPLY)
        return KL_EINVAL;
    if (type == KL_PATCH_APPLY && (o == NULL || o->field_manager == NULL || !*o->field_manager))
        return KL_EINVAL;
    return submit(c, REQ_OBJ, "PATCH", VERB_PATCH, r, o, ctypes[type], patch, len, cb, NULL, NULL,
                  ud, req);
}

int kl_client_delete(kl_client_t *c, const kl_resource_t *r, const kl_req_opts_t *o,
                     kl_client_cb cb, void *ud, kl_req_t **req)
{
    if (r == NULL || r->name == NULL)
        return KL_EINVAL;
    kl_buf_t b;
    kl_buf_init(&b, 1 << 16);
    int rc = kl_buf_puts(&b, "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\"");
    kl_req_opts_t q = {0};
    if (o) {
        q.timeout_ms = o->timeout_ms;
        q.keep_managed_fields = o->keep_managed_fields;
        if (rc == 0 && o->propagation_policy) {
            rc = kl_buf_puts(&b, ",\"propagationPolicy\":");
            if (rc == 0)
                rc = kl_json_quote(&b, o->propagation_policy, strlen(o->propagation_policy));
        }
        if (rc == 0 && o->has_grace_period)
            rc = kl_buf_printf(&b, ",\"gracePeriodSeconds\":%lld",
                               (long long)o->grace_period_seconds);
        if (rc == 0 && o->dry_run)
            rc = kl_buf_puts(&b, ",\"dryRun\":[\"All\"]");
        if (rc == 0 && (o->precondition_uid || o->precondition_resource_version)) {
            rc = kl_buf_puts(&b, ",\"preconditions\":{");
            if (rc == 0 && o->precondition_uid) {
                rc = kl_buf_puts(&b, "\"uid\":");
                if (rc == 0)
                    rc = kl_json_quote(&b, o->precondition_uid, strlen(o->precondition_uid));
            }
            if (rc == 0 && o->precondition_resource_version) {
                rc = kl_buf_printf(&b, "%s\"resourceVersion\":", o->precondition_uid ? "," : "");
                if (rc == 0)
                    rc = kl_json_quote(&b, o->precondition_resource_version,
                                       strlen(o->precondition_resource_version));
            }
            if (rc == 0)
                rc = kl_buf_putc(&b, '}');
        }
        q.dry_run = o->dry_run;
    }
    if (rc == 0)
        rc = kl_buf_putc(&b, '}');
    if (rc == 0)
        rc = submit(c, REQ_OBJ, "DELETE", VERB_DELETE, r, &q, NULL, b.data, b.len, cb, NULL, NULL,
                    ud, req);
    kl_buf_cleanup(&b);
    return rc;
}
