/* The client against `kubelua apiserver` over HTTPS: verbs, Status errors, dry runs, patches,
 * delete options, pagination, discovery, metrics, and kubeconfig variants (token file, CA file
 * vs data, client certificates, several files merged, a wrong token). */
#include "kubelua/buf.h"
#include "kubelua/fsutil.h"

#include "unit/client_testlib.h"
#include "unit/test_util.h"

static tl_server_t srv;
static uv_loop_t loop;
static kl_client_t *client;

static int setup(void **state)
{
    (void)state;
    if (tl_server_start(&srv) < 0) {
        fprintf(stderr, "cannot start %s apiserver\n", tl_binary());
        return -1;
    }
    uv_loop_init(&loop);
    kl_restconfig_t *cfg = tl_server_config(&srv);
    if (cfg == NULL)
        return -1;
    kl_errinfo_t err;
    int rc = kl_client_new(&loop, cfg, NULL, &client, &err);
    kl_restconfig_free(cfg);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    kl_client_free(client);
    int rc = tl_loop_close(&loop);
    tl_server_stop(&srv);
    return rc;
}

static kl_resource_t cm(const char *name)
{
    kl_resource_t r = {"", "v1", "configmaps", "default", name, NULL};
    return r;
}

static void wait_result(tl_result_t *r)
{
    assert_true(tl_run_until(&loop, tl_result_done, r, 20000));
}

static const char *str_at(const kl_obj_t *o, const char *a, const char *b, const char *c)
{
    return kl_val_path_str(kl_obj_root(o), a, b, c, NULL);
}

static void test_client_crud(void **state)
{
    (void)state;
    tl_result_t r = {0};
    kl_resource_t res = cm("crud");
    const char *body = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                       "\"crud\",\"labels\":{\"app\":\"x\"}},\"data\":{\"a\":\"1\"}}";
    assert_int_equal(
        kl_client_create(client, &res, NULL, body, strlen(body), tl_result_cb, &r, NULL), 0);
    assert_false(r.done); /* never called from inside the call */
    wait_result(&r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(str_at(r.body, "metadata", "name", NULL), "crud");
    char uid[64];
    snprintf(uid, sizeof(uid), "%s", str_at(r.body, "metadata", "uid", NULL));
    tl_result_reset(&r);

    /* AlreadyExists maps to KL_EEXIST with the server's Status. */
    assert_int_equal(
        kl_client_create(client, &res, NULL, body, strlen(body), tl_result_cb, &r, NULL), 0);
    wait_result(&r);
    assert_int_equal(r.rc, KL_EEXIST);
    assert_int_equal(r.http, 409);
    assert_string_equal(r.reason, "AlreadyExists");
    assert_non_null(strstr(r.message, "crud"));
    tl_result_reset(&r);

    assert_int_equal(kl_client_get(client, &res, NULL, tl_result_cb, &r, NULL), 0);
    wait_result(&r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(str_at(r.body, "data", "a", NULL), "1");
    char rv[32];
    snprintf(rv, sizeof(rv), "%s", str_at(r.body, "metadata", "resourceVersion", NULL));
    tl_result_reset(&r);

    /* Update with a stale resourceVersion conflicts. */
    const char *upd = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                      "\"crud\",\"resourceVersion\":\"1\"},\"data\":{\"a\":\"2\"}}";
    assert_int_equal(kl_client_update(client, &res, NULL, upd, strlen(upd), tl_result_cb, &r, NULL),
                     0);
    wait_result(&r);
    assert_int_equal(r.rc, KL_ECONFLICT);
    assert_string_equal(r.reason, "Conflict");
    tl_result_reset(&r);

    char upd2[512];
    snprintf(upd2, sizeof(upd2),
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"crud\","
             "\"resourceVersion\":\"%s\"},\"data\":{\"a\":\"2\"}}",
             rv);
    assert_int_equal(
        kl_client_update(client, &res, NULL, upd2, strlen(upd2), tl_result_cb, &r, NULL), 0);
    wait_result(&r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(str_at(r.body, "data", "a", NULL), "2");
    tl_result_reset(&r);

    /* Patches of every type. */
    const char *merge = "{\"data\":{\"m\":\"merge\"}}";
    assert_int_equal(kl_client_patch(client, &res, NULL, KL_PATCH_MERGE, merge, strlen(merge),
                                     tl_result_cb, &r, NULL),
                     0);
    wait_result(&r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(str_at(r.body, "data", "m", NULL), "merge");
    tl_result_reset(&r);
    const char *jp = "[{\"op\":\"add\",\"path\":\"/data/j\",\"value\":\"json\"}]";
    assert_int_equal(
        kl_client_patch(client, &res, NULL, KL_PATCH_JSON, jp, strlen(jp), tl_result_cb, &r, NULL),
        0);
    wait_result(&r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(str_at(r.body, "data", "j", NULL), "json");
    tl_result_reset(&r);
    const char *smp = "{\"metadata\":{\"labels\":{\"s\":\"smp\"}}}";
    assert_int_equal(kl_client_patch(client, &res, NULL, KL_PATCH_STRATEGIC, smp, strlen(smp),
                                     tl_result_cb, &r, NULL),
                     0);
    wait_result(&r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(str_at(r.body, "metadata", "labels", "s"), "smp");
    tl_result_reset(&r);
    const char *apply = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                        "\"crud\"},\"data\":{\"ap\":\"ply\"}}";
    kl_req_opts_t ao = {0};
    /* apply needs a field manager */
    assert_int_equal(kl_client_patch(client, &res, &ao, KL_PATCH_APPLY, apply, strlen(apply),
                                     tl_result_cb, &r, NULL),
                     KL_EINVAL);
    ao.field_manager = "kubelua-test";
    ao.force = true;
    assert_int_equal(kl_client_patch(client, &res, &ao, KL_PATCH_APPLY, apply, strlen(apply),
                                     tl_result_cb, &r, NULL),
                     0);
    wait_result(&r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(str_at(r.body, "data", "ap", NULL), "ply");
    /* managedFields are dropped from responses by default */
    assert_true(
        kl_val_missing(kl_val_path(kl_obj_root(r.body), "metadata", "managedFields", NULL)));
    tl_result_reset(&r);

    /* Dry-run writes are not stored. */
    const char *dpatch = "{\"data\":{\"d\":\"x\"}}";
    kl_req_opts_t dry = {0};
    dry.dry_run = true;
    assert_int_equal(kl_client_patch(client, &res, &dry, KL_PATCH_MERGE, dpatch, strlen(dpatch),
                                     tl_result_cb, &r, NULL),
                     0);
    wait_result(&r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(str_at(r.body, "data", "d", NULL), "x");
    tl_result_reset(&r);
    assert_int_equal(kl_client_get(client, &res, NULL, tl_result_cb, &r, NULL), 0);
    wait_result(&r);
    assert_true(kl_val_missing(kl_val_path(kl_obj_root(r.body), "data", "d", NULL)));
    tl_result_reset(&r);

    /* Delete with a wrong uid precondition conflicts; with the right one it deletes. */
    kl_req_opts_t del = {0};
    del.precondition_uid = "not-the-uid";
    del.propagation_policy = "Background";
    assert_int_equal(kl_client_delete(client, &res, &del, tl_result_cb, &r, NULL), 0);
    wait_result(&r);
    assert_int_equal(r.rc, KL_ECONFLICT);
    tl_result_reset(&r);
    del.precondition_uid = uid;
    del.dry_run = true;
    assert_int_equal(kl_client_delete(client, &res, &del, tl_result_cb, &r, NULL), 0);
    wait_result(&r);
    assert_int_equal(r.rc, 0);
    tl_result_reset(&r);
    del.dry_run = false;
    del.has_grace_period = true;
    del.grace_period_seconds = 0;
    assert_int_equal(kl_client_delete(client, &res, &del, tl_result_cb, &r, NULL), 0);
    wait_result(&r);
    assert_int_equal(r.rc, 0);
    tl_result_reset(&r);
    assert_int_equal(kl_client_get(client, &res, NULL, tl_result_cb, &r, NULL), 0);
    wait_result(&r);
    assert_int_equal(r.rc, KL_ENOTFOUND);
    assert_int_equal(r.http, 404);
    assert_string_equal(r.reason, "NotFound");
    tl_result_reset(&r);
}

static void test_client_status_subresource(void **state)
{
    (void)state;
    tl_result_t r = {0};
    kl_resource_t pods = {"", "v1", "pods", "default", "st", NULL};
    const char *pod = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"st\"},"
                      "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}";
    assert_int_equal(
        kl_client_create(client, &pods, NULL, pod, strlen(pod), tl_result_cb, &r, NULL), 0);
    wait_result(&r);
    assert_int_equal(r.rc, 0);
    kl_buf_t b;
    kl_buf_init(&b, 1 << 20);
    assert_int_equal(kl_val_encode(kl_obj_root(r.body), &b), 0);
    tl_result_reset(&r);
    /* Replace the status with phase Running through pods/status. */
    char *p = strstr(b.data, "\"status\":");
    kl_buf_t nb;
    kl_buf_init(&nb, 1 << 20);
    if (p) {
        assert_int_equal(kl_buf_append(&nb, b.data, (size_t)(p - b.data)), 0);
        assert_int_equal(kl_buf_puts(&nb, "\"status\":{\"phase\":\"Running\"}}"), 0);
    } else {
        assert_int_equal(kl_buf_append(&nb, b.data, b.len - 1), 0);
        assert_int_equal(kl_buf_puts(&nb, ",\"status\":{\"phase\":\"Running\"}}"), 0);
    }
    assert_int_equal(
        kl_client_update_status(client, &pods, NULL, nb.data, nb.len, tl_result_cb, &r, NULL), 0);
    wait_result(&r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(str_at(r.body, "status", "phase", NULL), "Running");
    tl_result_reset(&r);
    kl_buf_cleanup(&b);
    kl_buf_cleanup(&nb);
}

typedef struct pages {
    int pages, items, done, rc, with_kind;
    char cont[1024];
    char rv[64];
} pages_t;

static void page_item(kl_obj_t *item, void *ud)
{
    pages_t *p = ud;
    p->items++;
    if (kl_val_path_str(kl_obj_root(item), "kind", NULL))
        p->with_kind++;
    kl_obj_unref(item);
}

static void page_done(kl_client_t *c, int rc, const kl_list_meta_t *m, const kl_status_t *st,
                      void *ud)
{
    (void)c;
    (void)st;
    pages_t *p = ud;
    p->pages++;
    p->rc = rc;
    p->cont[0] = '\0';
    if (rc == 0) {
        snprintf(p->cont, sizeof(p->cont), "%s", m->continue_token);
        snprintf(p->rv, sizeof(p->rv), "%s", m->resource_version);
    }
    p->done = 1;
}

static bool page_done_p(void *ud)
{
    return ((pages_t *)ud)->done != 0;
}

static void test_client_pagination(void **state)
{
    (void)state;
    /* 25 objects, created concurrently. */
    tl_result_t rs[25];
    memset(rs, 0, sizeof(rs));
    kl_resource_t res = {"", "v1", "configmaps", "default", NULL, NULL};
    for (int i = 0; i < 25; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"pg-%02d\","
                 "\"labels\":{\"set\":\"pg\"}}}",
                 i);
        assert_int_equal(
            kl_client_create(client, &res, NULL, body, strlen(body), tl_result_cb, &rs[i], NULL),
            0);
    }
    for (int i = 0; i < 25; i++) {
        wait_result(&rs[i]);
        assert_int_equal(rs[i].rc, 0);
        tl_result_reset(&rs[i]);
    }
    pages_t p = {0};
    kl_req_opts_t o = {0};
    o.limit = 7;
    o.label_selector = "set=pg";
    do {
        p.done = 0;
        o.continue_token = p.cont[0] ? p.cont : NULL;
        char cont[1024];
        snprintf(cont, sizeof(cont), "%s", p.cont);
        o.continue_token = cont[0] ? cont : NULL;
        assert_int_equal(kl_client_list_items(client, &res, &o, page_item, page_done, &p, NULL), 0);
        assert_true(tl_run_until(&loop, page_done_p, &p, 20000));
        assert_int_equal(p.rc, 0);
    } while (p.cont[0]);
    assert_int_equal(p.pages, 4);
    assert_int_equal(p.items, 25);
    assert_int_equal(p.with_kind, 25);
    assert_true(atoll(p.rv) > 0);

    /* The whole-list form. */
    tl_result_t r = {0};
    o.limit = 0;
    o.continue_token = NULL;
    assert_int_equal(kl_client_list(client, &res, &o, tl_result_cb, &r, NULL), 0);
    wait_result(&r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(kl_val_len(kl_val_get(kl_obj_root(r.body), "items")), 25);
    tl_result_reset(&r);
}

typedef struct resolved {
    int done, rc;
    char resource[64], kind[64];
    bool namespaced;
    bool has_status;
} resolved_t;

static void resolved_cb(kl_client_t *c, int rc, const kl_api_resource_t *res, const kl_status_t *st,
                        void *ud)
{
    (void)c;
    (void)st;
    resolved_t *r = ud;
    r->done = 1;
    r->rc = rc;
    if (res) {
        snprintf(r->resource, sizeof(r->resource), "%s", res->resource);
        snprintf(r->kind, sizeof(r->kind), "%s", res->kind);
        r->namespaced = res->namespaced;
        for (const char *const *s = res->subresources; s && *s; s++)
            if (strcmp(*s, "status") == 0)
                r->has_status = true;
    }
}

static bool resolved_done(void *ud)
{
    return ((resolved_t *)ud)->done != 0;
}

static resolved_t resolve(const char *gv, const char *name)
{
    resolved_t r = {0};
    assert_int_equal(kl_client_resolve(client, gv, name, resolved_cb, &r), 0);
    assert_false(r.done);
    assert_true(tl_run_until(&loop, resolved_done, &r, 20000));
    return r;
}

static void test_client_discovery(void **state)
{
    (void)state;
    resolved_t r = resolve("apps/v1", "Deployment");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.resource, "deployments");
    assert_true(r.namespaced);
    assert_true(r.has_status);
    r = resolve("v1", "nodes");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.kind, "Node");
    assert_false(r.namespaced);
    r = resolve("v1", "pod");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.resource, "pods");
    assert_non_null(kl_client_lookup(client, "batch/v1", "Job"));
    r = resolve("example.com/v1", "Widget");
    assert_int_equal(r.rc, KL_ENOTFOUND);

    /* A CRD created now is found: the miss refreshes the cache. */
    const char *crd =
        "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
        "\"metadata\":{\"name\":\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\","
        "\"names\":{\"plural\":\"widgets\",\"singular\":\"widget\",\"kind\":\"Widget\","
        "\"listKind\":\"WidgetList\"},\"scope\":\"Cluster\",\"versions\":[{\"name\":\"v1\","
        "\"served\":true,\"storage\":true,\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\","
        "\"x-kubernetes-preserve-unknown-fields\":true}}}]}}";
    kl_resource_t crds = {
        "apiextensions.k8s.io", "v1", "customresourcedefinitions", NULL, NULL, NULL};
    tl_result_t cr = {0};
    assert_int_equal(
        kl_client_create(client, &crds, NULL, crd, strlen(crd), tl_result_cb, &cr, NULL), 0);
    wait_result(&cr);
    assert_int_equal(cr.rc, 0);
    tl_result_reset(&cr);
    usleep(300000);
    r = resolve("example.com/v1", "Widget");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.resource, "widgets");
    assert_false(r.namespaced);
}

static void test_client_metrics(void **state)
{
    (void)state;
    kl_buf_t b;
    kl_buf_init(&b, 1 << 20);
    assert_int_equal(kl_client_render_metrics(client, &b), 0);
    assert_non_null(strstr(b.data, "rest_client_requests_total{code=\"201\""));
    assert_non_null(strstr(b.data, "method=\"POST\""));
    assert_non_null(strstr(b.data, "rest_client_request_duration_seconds_bucket{verb=\"GET\""));
    kl_buf_cleanup(&b);
    kl_client_stats_t st;
    kl_client_stats(client, &st);
    assert_true(st.requests > 10);
    assert_int_equal(st.in_flight, 0);
}

/* ---- kubeconfig variants over HTTPS ------------------------------------------------------- */

static int write_file(const char *path, const char *text)
{
    kl_errinfo_t err;
    return kl_file_write_atomic(path, text, strlen(text), 0600, &err);
}

/* Loads the configuration, makes a client and GETs the default namespace. */
static int try_config(const kl_kubeconfig_opts_t *ko, char *msg, size_t cap)
{
    kl_restconfig_t *cfg;
    kl_errinfo_t err;
    int rc = kl_restconfig_load(ko, &cfg, &err);
    if (rc < 0) {
        snprintf(msg, cap, "%s", err.msg);
        return rc;
    }
    uv_loop_t l;
    uv_loop_init(&l);
    kl_client_t *c;
    rc = kl_client_new(&l, cfg, NULL, &c, &err);
    kl_restconfig_free(cfg);
    if (rc < 0)
        return rc;
    tl_result_t r = {0};
    kl_resource_t ns = {"", "v1", "namespaces", NULL, "default", NULL};
    rc = kl_client_get(c, &ns, NULL, tl_result_cb, &r, NULL);
    if (rc == 0) {
        tl_run_until(&l, tl_result_done, &r, 20000);
        rc = r.done ? r.rc : KL_ETIMEDOUT;
        snprintf(msg, cap, "%s", r.message);
    }
    tl_result_reset(&r);
    kl_client_free(c);
    tl_loop_close(&l);
    return rc;
}

static void test_client_kubeconfig_variants(void **state)
{
    (void)state;
    char path[512], path2[512], text[8192], msg[600];
    char token[128] = "";
    char *tokdata;
    size_t toklen;
    snprintf(path, sizeof(path), "%s/token", srv.dir);
    assert_int_equal(kl_file_read(path, 4096, &tokdata, &toklen, NULL), 0);
    snprintf(token, sizeof(token), "%.*s", (int)strcspn(tokdata, "\r\n"), tokdata);
    free(tokdata);
    kl_kubeconfig_opts_t ko = {0};
    ko.no_in_cluster_fallback = true;

    /* CA file (relative path) and tokenFile. */
    snprintf(text, sizeof(text),
             "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n"
             "    server: %s\n    certificate-authority: pki/ca.crt\ncontexts:\n- name: c\n"
             "  context: {cluster: k, user: u, namespace: team}\nusers:\n- name: u\n  user:\n"
             "    tokenFile: token\n",
             srv.url);
    snprintf(path, sizeof(path), "%s/kc-file.yaml", srv.dir);
    assert_int_equal(write_file(path, text), 0);
    ko.kubeconfig = path;
    assert_int_equal(try_config(&ko, msg, sizeof(msg)), 0);
    kl_restconfig_t *cfg;
    assert_int_equal(kl_restconfig_load(&ko, &cfg, NULL), 0);
    assert_string_equal(cfg->namespace, "team");
    assert_non_null(cfg->token_file);
    kl_restconfig_free(cfg);

    /* A wrong token: 401 -> KL_EUNAUTHORIZED. */
    snprintf(text, sizeof(text),
             "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n"
             "    server: %s\n    certificate-authority: %s/pki/ca.crt\ncontexts:\n- name: c\n"
             "  context: {cluster: k, user: u}\nusers:\n- name: u\n  user:\n"
             "    token: not-the-token\n",
             srv.url, srv.dir);
    assert_int_equal(write_file(path, text), 0);
    assert_int_equal(try_config(&ko, msg, sizeof(msg)), KL_EUNAUTHORIZED);

    /* No CA: the server's certificate is not trusted (TLS error); insecure skips the check. */
    snprintf(text, sizeof(text),
             "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n"
             "    server: %s\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n"
             "  context: {cluster: k, user: u}\nusers:\n- name: u\n  user:\n    token: %s\n",
             srv.url, token);
    assert_int_equal(write_file(path, text), 0);
    assert_int_equal(try_config(&ko, msg, sizeof(msg)), 0);

    /* Client certificate signed by the server's CA (openssl), as files and as data. */
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && openssl ecparam -name prime256v1 -genkey -noout -out cl.key 2>/dev/null "
             "&& openssl req -new -key cl.key -subj '/CN=alice/O=system:masters' -out cl.csr "
             "2>/dev/null && openssl x509 -req -in cl.csr -CA pki/ca.crt -CAkey pki/ca.key "
             "-CAcreateserial -days 1 -out cl.crt 2>/dev/null",
             srv.dir);
    assert_int_equal(system(cmd), 0);
    snprintf(text, sizeof(text),
             "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n"
             "    server: %s\n    certificate-authority: pki/ca.crt\ncontexts:\n- name: c\n"
             "  context: {cluster: k, user: u}\nusers:\n- name: u\n  user:\n"
             "    client-certificate: cl.crt\n    client-key: cl.key\n",
             srv.url);
    assert_int_equal(write_file(path, text), 0);
    int rc = try_config(&ko, msg, sizeof(msg));
    if (rc != 0)
        fprintf(stderr, "client certificate: %s: %s\n", kl_err_name(rc), msg);
    assert_int_equal(rc, 0);

    /* Several files merged ($KUBECONFIG): cluster + context in one, the user in another; the
     * first file's current-context wins, and the first definition of a name wins. */
    snprintf(text, sizeof(text),
             "apiVersion: v1\nkind: Config\ncurrent-context: merged\nclusters:\n- name: k\n"
             "  cluster:\n    server: %s\n    certificate-authority: pki/ca.crt\ncontexts:\n"
             "- name: merged\n  context: {cluster: k, user: u2}\n",
             srv.url);
    assert_int_equal(write_file(path, text), 0);
    snprintf(path2, sizeof(path2), "%s/kc-user.yaml", srv.dir);
    snprintf(text, sizeof(text),
             "apiVersion: v1\nkind: Config\ncurrent-context: other\nclusters:\n- name: k\n"
             "  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: u2\n  user:\n"
             "    token: %s\n",
             token);
    assert_int_equal(write_file(path2, text), 0);
    char env[2400];
    snprintf(env, sizeof(env), "%s:%s/missing.yaml:%s", path, srv.dir, path2);
    ko.kubeconfig = NULL;
    ko.kubeconfig_env = env;
    assert_int_equal(try_config(&ko, msg, sizeof(msg)), 0);
    /* --context naming a context that does not exist */
    ko.context = "nope";
    assert_int_equal(try_config(&ko, msg, sizeof(msg)), KL_ECONFIG);
    assert_non_null(strstr(msg, "context \"nope\" not found"));
    ko.context = NULL;
    ko.kubeconfig_env = NULL;

    /* The server's own kubeconfig (CA data + token). */
    ko.kubeconfig = srv.kubeconfig;
    assert_int_equal(try_config(&ko, msg, sizeof(msg)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_crud),
        cmocka_unit_test(test_client_status_subresource),
        cmocka_unit_test(test_client_pagination),
        cmocka_unit_test(test_client_discovery),
        cmocka_unit_test(test_client_kubeconfig_variants),
        cmocka_unit_test(test_client_metrics),
    };
    return cmocka_run_group_tests_name("client_apiserver", tests, setup, teardown);
}
