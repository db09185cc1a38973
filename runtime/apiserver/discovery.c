/* Discovery (aggregated v2/v2beta1 and legacy) and the OpenAPI documents kubectl downloads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/schema.h"

#include "apiserver/handlers_int.h"

static bool accept_has(h2o_req_t *req, const char *needle)
{
    size_t len;
    const char *a = kl_req_header(req, "accept", &len);
    size_t n = strlen(needle);
    for (size_t i = 0; a && i + n <= len; i++)
        if (memcmp(a + i, needle, n) == 0)
            return true;
    return false;
}

/* "v2", "v2beta1" or NULL: the aggregated discovery version the client accepts. */
static const char *aggregated_version(h2o_req_t *req)
{
    if (!accept_has(req, "as=APIGroupDiscoveryList"))
        return NULL;
    if (accept_has(req, "v=v2;") || accept_has(req, "v=v2,"))
        return "v2";
    if (accept_has(req, "v=v2beta1"))
        return "v2beta1";
    return NULL;
}

static int json_list(kl_buf_t *b, char **items)
{
    int rc = kl_buf_putc(b, '[');
    for (size_t i = 0; rc == 0 && items && items[i]; i++) {
        if (i)
            rc = kl_buf_putc(b, ',');
        if (rc == 0)
            rc = kl_json_quote(b, items[i], strlen(items[i]));
    }
    return rc ? rc : kl_buf_putc(b, ']');
}

typedef struct subres_info {
    unsigned flag;
    const char *name;
    const char *group, *version, *kind; /* NULL kind: the resource's own */
    const char *verbs;
} subres_info_t;

static const subres_info_t subres_table[] = {
    {KL_SUB_STATUS, "status", NULL, NULL, NULL, "[\"get\",\"patch\",\"update\"]"},
    {KL_SUB_SCALE, "scale", "autoscaling", "v1", "Scale", "[\"get\",\"patch\",\"update\"]"},
    {KL_SUB_LOG, "log", NULL, NULL, NULL, "[\"get\"]"},
    {KL_SUB_BINDING, "binding", "", "v1", "Binding", "[\"create\"]"},
    {KL_SUB_EVICTION, "eviction", "policy", "v1", "Eviction", "[\"create\"]"},
    {KL_SUB_FINALIZE, "finalize", NULL, NULL, NULL, "[\"update\"]"},
    {KL_SUB_EPHEMERAL, "ephemeralcontainers", NULL, NULL, NULL, "[\"get\",\"patch\",\"update\"]"},
    {KL_SUB_TOKEN, "token", "authentication.k8s.io", "v1", "TokenRequest", "[\"create\"]"},
};

static int aggregated_resource(kl_buf_t *b, const kl_res_t *r)
{
    int rc = kl_buf_printf(b,
                           "{\"resource\":\"%s\",\"responseKind\":{\"group\":\"%s\",\"version\":"
                           "\"%s\",\"kind\":\"%s\"},\"scope\":\"%s\",\"singularResource\":\"%s\","
                           "\"verbs\":%s",
                           r->resource, r->group, r->version, r->kind,
                           r->namespaced ? "Namespaced" : "Cluster", r->singular, r->verbs_json);
    if (rc == 0 && r->short_names && r->short_names[0]) {
        rc = kl_buf_puts(b, ",\"shortNames\":");
        if (rc == 0)
            rc = json_list(b, r->short_names);
    }
    if (rc == 0 && r->categories && r->categories[0]) {
        rc = kl_buf_puts(b, ",\"categories\":");
        if (rc == 0)
            rc = json_list(b, r->categories);
    }
    if (rc == 0 && r->subresources) {
        rc = kl_buf_puts(b, ",\"subresources\":[");
        int first = 1;
        for (size_t i = 0; rc == 0 && i < sizeof(subres_table) / sizeof(subres_table[0]); i++) {
            const subres_info_t *s = &subres_table[i];
            if (!(r->subresources & s->flag))
                continue;
            rc = kl_buf_printf(b,
                               "%s{\"subresource\":\"%s\",\"responseKind\":{\"group\":\"%s\","
                               "\"version\":\"%s\",\"kind\":\"%s\"},\"verbs\":%s}",
                               first ? "" : ",", s->name, s->kind ? s->group : r->group,
                               s->kind ? s->version : r->version, s->kind ? s->kind : r->kind,
                               s->verbs);
            first = 0;
        }
        if (rc == 0)
            rc = kl_buf_putc(b, ']');
    }
    return rc ? rc : kl_buf_putc(b, '}');
}

/* The aggregated document for the core group (/api) or every named group (/apis). */
static void serve_aggregated(kl_apiserver_t *srv, h2o_req_t *req, bool core, const char *ver)
{
    kl_group_version_t gvs[64];
    size_t ngv = kl_registry_group_versions(srv->reg, gvs, 64);
    size_t nres;
    kl_res_t **all = kl_registry_all(srv->reg, &nres);
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc =
        kl_buf_printf(&b,
                      "{\"kind\":\"APIGroupDiscoveryList\",\"apiVersion\":\"apidiscovery.k8s.io/"
                      "%s\",\"metadata\":{},\"items\":[",
                      ver);
    int first_group = 1;
    for (size_t g = 0; rc == 0 && g < ngv; g++) {
        const char *group = gvs[g].group;
        if (core != (*group == '\0'))
            continue;
        /* One item per group, listing its versions (preferred first). */
        size_t k;
        for (k = 0; k < g; k++)
            if (strcmp(gvs[k].group, group) == 0)
                break;
        if (k < g)
            continue;
        rc = kl_buf_printf(&b, "%s{\"metadata\":{", first_group ? "" : ",");
        first_group = 0;
        if (rc == 0 && *group)
            rc = kl_buf_printf(&b, "\"name\":\"%s\",", group);
        if (rc == 0)
            rc = kl_buf_puts(&b, "\"creationTimestamp\":null},\"versions\":[");
        const char *pref = kl_registry_preferred_version(srv->reg, group);
        int first_version = 1;
        for (int pass = 0; pass < 2; pass++) {
            for (size_t v = 0; rc == 0 && v < ngv; v++) {
                if (strcmp(gvs[v].group, group) != 0)
                    continue;
                bool is_pref = pref && strcmp(gvs[v].version, pref) == 0;
                if ((pass == 0) != is_pref)
                    continue;
                rc = kl_buf_printf(&b, "%s{\"version\":\"%s\",\"resources\":[",
                                   first_version ? "" : ",", gvs[v].version);
                first_version = 0;
                int first_res = 1;
                for (size_t i = 0; rc == 0 && i < nres; i++) {
                    kl_res_t *r = all[i];
                    if (r->gone || strcmp(r->group, group) || strcmp(r->version, gvs[v].version))
                        continue;
                    if (!first_res)
                        rc = kl_buf_putc(&b, ',');
                    first_res = 0;
                    if (rc == 0)
                        rc = aggregated_resource(&b, r);
                }
                if (rc == 0)
                    rc = kl_buf_puts(&b, "],\"freshness\":\"Current\"}");
            }
        }
        if (rc == 0)
            rc = kl_buf_puts(&b, "]}");
    }
    if (rc == 0)
        rc = kl_buf_puts(&b, "]}");
    if (rc < 0) {
        kl_buf_cleanup(&b);
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
        return;
    }
    char ct[128];
    snprintf(ct, sizeof(ct), "application/json;g=apidiscovery.k8s.io;v=%s;as=APIGroupDiscoveryList",
             ver);
    kl_respond(req, 200, ct, &b);
}

static void serve_api_versions(kl_apiserver_t *srv, h2o_req_t *req)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    if (kl_buf_printf(&b,
                      "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"],"
                      "\"serverAddressByClientCIDRs\":[{\"clientCIDR\":\"0.0.0.0/0\","
                      "\"serverAddress\":\"%s:%d\"}]}",
                      srv->host, srv->port) < 0) {
        kl_buf_cleanup(&b);
        return;
    }
    kl_respond(req, 200, "application/json", &b);
}

static int group_json(kl_apiserver_t *srv, kl_buf_t *b, const char *group, bool with_kind)
{
    kl_group_version_t gvs[64];
    size_t ngv = kl_registry_group_versions(srv->reg, gvs, 64);
    const char *pref = kl_registry_preferred_version(srv->reg, group);
    int rc = kl_buf_printf(b, "{%s\"name\":\"%s\",\"versions\":[",
                           with_kind ? "\"kind\":\"APIGroup\",\"apiVersion\":\"v1\"," : "", group);
    int first = 1;
    for (int pass = 0; pass < 2; pass++)
        for (size_t v = 0; rc == 0 && v < ngv; v++) {
            if (strcmp(gvs[v].group, group) != 0)
                continue;
            bool is_pref = pref && strcmp(pref, gvs[v].version) == 0;
            if ((pass == 0) != is_pref)
                continue;
            rc = kl_buf_printf(b, "%s{\"groupVersion\":\"%s/%s\",\"version\":\"%s\"}",
                               first ? "" : ",", group, gvs[v].version, gvs[v].version);
            first = 0;
        }
    if (rc == 0)
        rc = kl_buf_printf(
            b, "],\"preferredVersion\":{\"groupVersion\":\"%s/%s\",\"version\":\"%s\"}}", group,
            pref ? pref : "v1", pref ? pref : "v1");
    return rc;
}

static void serve_group_list(kl_apiserver_t *srv, h2o_req_t *req)
{
    kl_group_version_t gvs[64];
    size_t ngv = kl_registry_group_versions(srv->reg, gvs, 64);
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc = kl_buf_puts(&b, "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[");
    int first = 1;
    for (size_t g = 0; rc == 0 && g < ngv; g++) {
        if (!*gvs[g].group)
            continue;
        size_t k;
        for (k = 0; k < g; k++)
            if (strcmp(gvs[k].group, gvs[g].group) == 0)
                break;
        if (k < g)
            continue;
        if (!first)
            rc = kl_buf_putc(&b, ',');
        first = 0;
        if (rc == 0)
            rc = group_json(srv, &b, gvs[g].group, false);
    }
    if (rc == 0)
        rc = kl_buf_puts(&b, "]}");
    if (rc < 0) {
        kl_buf_cleanup(&b);
        return;
    }
    kl_respond(req, 200, "application/json", &b);
}

static bool serve_resource_list(kl_apiserver_t *srv, h2o_req_t *req, const char *group,
                                const char *version)
{
    size_t nres;
    kl_res_t **all = kl_registry_all(srv->reg, &nres);
    bool any = false;
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc = kl_buf_printf(&b,
                           "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\",\"groupVersion\":"
                           "\"%s%s%s\",\"resources\":[",
                           group, *group ? "/" : "", version);
    for (size_t i = 0; rc == 0 && i < nres; i++) {
        kl_res_t *r = all[i];
        if (r->gone || strcmp(r->group, group) || strcmp(r->version, version))
            continue;
        rc = kl_buf_printf(&b,
                           "%s{\"name\":\"%s\",\"singularName\":\"%s\",\"namespaced\":%s,\"kind\":"
                           "\"%s\",\"verbs\":%s",
                           any ? "," : "", r->resource, r->singular,
                           r->namespaced ? "true" : "false", r->kind, r->verbs_json);
        any = true;
        if (rc == 0 && r->short_names && r->short_names[0]) {
            rc = kl_buf_puts(&b, ",\"shortNames\":");
            if (rc == 0)
                rc = json_list(&b, r->short_names);
        }
        if (rc == 0 && r->categories && r->categories[0]) {
            rc = kl_buf_puts(&b, ",\"categories\":");
            if (rc == 0)
                rc = json_list(&b, r->categories);
        }
        if (rc == 0)
            rc = kl_buf_putc(&b, '}');
        for (size_t s = 0; rc == 0 && s < sizeof(subres_table) / sizeof(subres_table[0]); s++) {
            const subres_info_t *si = &subres_table[s];
            if (!(r->subresources & si->flag))
                continue;
            rc = kl_buf_printf(&b,
                               ",{\"name\":\"%s/%s\",\"singularName\":\"\",\"namespaced\":%s,"
                               "\"kind\":\"%s\",\"verbs\":%s",
                               r->resource, si->name, r->namespaced ? "true" : "false",
                               si->kind ? si->kind : r->kind, si->verbs);
            if (rc == 0 && si->kind && strcmp(si->kind, "Scale") == 0)
                rc = kl_buf_puts(&b, ",\"group\":\"autoscaling\",\"version\":\"v1\"");
            if (rc == 0 && si->kind && strcmp(si->kind, "Eviction") == 0)
                rc = kl_buf_puts(&b, ",\"group\":\"policy\",\"version\":\"v1\"");
            if (rc == 0)
                rc = kl_buf_putc(&b, '}');
        }
    }
    if (rc == 0)
        rc = kl_buf_puts(&b, "]}");
    if (!any || rc < 0) {
        kl_buf_cleanup(&b);
        return false;
    }
    kl_respond(req, 200, "application/json", &b);
    return true;
}

/* ---- OpenAPI ---------------------------------------------------------------------------- */

static const char *const no_subres[] = {NULL};

static size_t collect_kinds(kl_apiserver_t *srv, const char *group, const char *version,
                            kl_openapi_kind_t *out, const char **subs, size_t cap)
{
    size_t nres, n = 0;
    kl_res_t **all = kl_registry_all(srv->reg, &nres);
    (void)subs;
    for (size_t i = 0; i < nres && n < cap; i++) {
        kl_res_t *r = all[i];
        if (r->gone || r->list_only_verbs || strcmp(r->group, group) || strcmp(r->version, version))
            continue;
        if (r->schema == NULL)
            continue;
        out[n++] = (kl_openapi_kind_t){r->kind, r->resource, r->namespaced, r->schema, no_subres};
    }
    return n;
}

static unsigned gv_hash(kl_apiserver_t *srv, const char *group, const char *version)
{
    unsigned h = 2166136261u ^ kl_registry_generation(srv->reg);
    for (const char *p = group; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (const char *p = version; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

static void serve_openapi_index(kl_apiserver_t *srv, h2o_req_t *req)
{
    kl_group_version_t gvs[64];
    size_t ngv = kl_registry_group_versions(srv->reg, gvs, 64);
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc = kl_buf_puts(&b, "{\"paths\":{");
    for (size_t i = 0; rc == 0 && i < ngv; i++) {
        const char *g = gvs[i].group, *v = gvs[i].version;
        char path[300];
        if (*g)
            snprintf(path, sizeof(path), "apis/%s/%s", g, v);
        else
            snprintf(path, sizeof(path), "api/%s", v);
        rc = kl_buf_printf(&b, "%s\"%s\":{\"serverRelativeURL\":\"/openapi/v3/%s?hash=%08X\"}",
                           i ? "," : "", path, path, gv_hash(srv, g, v));
    }
    if (rc == 0)
        rc = kl_buf_puts(&b, "}}");
    if (rc < 0) {
        kl_buf_cleanup(&b);
        return;
    }
    kl_respond(req, 200, "application/json", &b);
}

static bool serve_openapi_gv(kl_apiserver_t *srv, h2o_req_t *req, const char *group,
                             const char *version)
{
    kl_openapi_kind_t kinds[64];
    size_t n = collect_kinds(srv, group, version, kinds, NULL, 64);
    if (n == 0)
        return false;
    kl_buf_t b;
    kl_buf_init(&b, 0);
    if (kl_schema_openapi_v3(group, version, kinds, n, &b) < 0) {
        kl_buf_cleanup(&b);
        kl_respond_statusf(req, 500, "InternalError", "building the OpenAPI document failed");
        return true;
    }
    kl_respond(req, 200, "application/json", &b);
    return true;
}

static void serve_openapi_v2(kl_apiserver_t *srv, h2o_req_t *req)
{
    kl_group_version_t gvs[64];
    size_t ngv = kl_registry_group_versions(srv->reg, gvs, 64);
    kl_openapi_gv_t docs[64];
    static kl_openapi_kind_t kinds[64][64];
    size_t nd = 0;
    for (size_t i = 0; i < ngv; i++) {
        size_t n = collect_kinds(srv, gvs[i].group, gvs[i].version, kinds[nd], NULL, 64);
        if (n)
            docs[nd] = (kl_openapi_gv_t){gvs[i].group, gvs[i].version, kinds[nd], n}, nd++;
    }
    bool pb = accept_has(req, "protobuf");
    kl_buf_t b;
    kl_buf_init(&b, 0);
    if (kl_schema_openapi_v2(docs, nd, pb, &b) < 0) {
        kl_buf_cleanup(&b);
        kl_respond_statusf(req, 500, "InternalError", "building the OpenAPI document failed");
        return;
    }
    /* kube-apiserver labels the protobuf document application/octet-stream; kubectl 1.20
     * cannot parse the long proto-openapi media type as a Content-Type. */
    kl_respond(req, 200, pb ? "application/octet-stream" : "application/json", &b);
}

static bool prefix(const char *p, size_t len, const char *lit, size_t *rest)
{
    size_t n = strlen(lit);
    if (len < n || memcmp(p, lit, n) != 0)
        return false;
    *rest = n;
    return true;
}

bool kl_discovery_handle(kl_apiserver_t *srv, h2o_req_t *req, const char *path, size_t len,
                         const kl_query_t *q)
{
    char p[512];
    if (len >= sizeof(p))
        return false;
    memcpy(p, path, len);
    p[len] = '\0';
    if (strcmp(p, "/api") == 0) {
        const char *v = aggregated_version(req);
        if (v)
            serve_aggregated(srv, req, true, v);
        else
            serve_api_versions(srv, req);
        return true;
    }
    if (strcmp(p, "/apis") == 0) {
        const char *v = aggregated_version(req);
        if (v)
            serve_aggregated(srv, req, false, v);
        else
            serve_group_list(srv, req);
        return true;
    }
    if (strcmp(p, "/api/v1") == 0)
        return serve_resource_list(srv, req, "", "v1");
    size_t rest;
    if (prefix(p, len, "/apis/", &rest)) {
        const char *s = p + rest;
        const char *slash = strchr(s, '/');
        if (slash == NULL) {
            if (kl_registry_preferred_version(srv->reg, s) == NULL)
                return false;
            kl_buf_t b;
            kl_buf_init(&b, 0);
            if (group_json(srv, &b, s, true) < 0) {
                kl_buf_cleanup(&b);
                return false;
            }
            kl_respond(req, 200, "application/json", &b);
            return true;
        }
        if (strchr(slash + 1, '/') == NULL) {
            char group[256];
            snprintf(group, sizeof(group), "%.*s", (int)(slash - s), s);
            return serve_resource_list(srv, req, group, slash + 1);
        }
        return false;
    }
    if (strcmp(p, "/openapi/v3") == 0) {
        serve_openapi_index(srv, req);
        return true;
    }
    if (prefix(p, len, "/openapi/v3/api/", &rest)) {
        if (!serve_openapi_gv(srv, req, "", p + rest))
            kl_respond_status(req, 404, "NotFound",
                              "the server could not find the requested resource", NULL, NULL, NULL,
                              NULL);
        return true;
    }
    if (prefix(p, len, "/openapi/v3/apis/", &rest)) {
        char group[256];
        const char *s = p + rest;
        const char *slash = strchr(s, '/');
        if (slash == NULL ||
            !serve_openapi_gv(srv, req,
                              (snprintf(group, sizeof(group), "%.*s", (int)(slash - s), s), group),
                              slash + 1))
            kl_respond_status(req, 404, "NotFound",
                              "the server could not find the requested resource", NULL, NULL, NULL,
                              NULL);
        return true;
    }
    if (strcmp(p, "/openapi/v2") == 0) {
        serve_openapi_v2(srv, req);
        return true;
    }
    (void)q;
    return false;
}
