/* The client against a scripted fake HTTP peer: 429 with Retry-After, 500s, watch streams cut in
 * the middle of a line, a peer that stops sending without closing, malformed JSON lines, an
 * endless line, 410 on a watch, the client-side rate limiter, cancellation, exec credentials. */
#include "unit/client_testlib.h"
#include "unit/test_util.h"

static uv_loop_t loop;

static int setup(void **state)
{
    (void)state;
    return uv_loop_init(&loop);
}

static int teardown(void **state)
{
    (void)state;
    return tl_loop_close(&loop);
}

static const char *ok_body = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                             "\"x\",\"namespace\":\"default\"}}";

/* ---- retries -------------------------------------------------------------------------- */

static void peer_429(tl_conn_t *c, void *ud)
{
    (void)ud;
    if (c->reqno == 0)
        tl_respond(c, 429, "Retry-After: 1\r\n",
                   "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":"
                   "\"TooManyRequests\",\"code\":429,\"message\":\"slow down\"}");
    else
        tl_respond(c, 200, NULL, ok_body);
}

static void test_client_429_retry_after(void **state)
{
    (void)state;
    tl_peer_t p;
    assert_int_equal(tl_peer_start(&p, peer_429, NULL), 0);
    kl_client_t *c = tl_peer_client(&loop, &p, NULL);
    assert_non_null(c);
    tl_result_t r = {0};
    kl_resource_t res = {"", "v1", "configmaps", "default", "x", NULL};
    uint64_t t0 = uv_hrtime();
    assert_int_equal(kl_client_get(c, &res, NULL, tl_result_cb, &r, NULL), 0);
    assert_true(tl_run_until(&loop, tl_result_done, &r, 10000));
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    assert_int_equal(r.rc, 0);
    assert_true(secs >= 0.95);
    assert_int_equal(tl_peer_requests(&p), 2);
    tl_result_reset(&r);
    kl_client_stats_t st;
    kl_client_stats(c, &st);
    assert_int_equal(st.retries, 1);
    kl_client_free(c);
    tl_peer_stop(&p);
}

static void peer_500(tl_conn_t *c, void *ud)
{
    int *ok_after = ud;
    if (c->reqno < *ok_after)
        tl_respond(c, 500, NULL,
                   "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":"
                   "\"InternalError\",\"code\":500,\"message\":\"boom\"}");
    else
        tl_respond(c, 200, NULL, ok_body);
}

static void test_client_500_retries(void **state)
{
    (void)state;
    int ok_after = 2;
    tl_peer_t p;
    assert_int_equal(tl_peer_start(&p, peer_500, &ok_after), 0);
    kl_client_t *c = tl_peer_client(&loop, &p, NULL);
    tl_result_t r = {0};
    kl_resource_t res = {"", "v1", "configmaps", "default", "x", NULL};
    /* GET: retried with backoff until it succeeds. */
    assert_int_equal(kl_client_get(c, &res, NULL, tl_result_cb, &r, NULL), 0);
    assert_true(tl_run_until(&loop, tl_result_done, &r, 10000));
    assert_int_equal(r.rc, 0);
    assert_int_equal(tl_peer_requests(&p), 3);
    tl_result_reset(&r);
    /* POST without Retry-After: not retried; the Status comes back. */
    ok_after = 100;
    assert_int_equal(
        kl_client_create(c, &res, NULL, ok_body, strlen(ok_body), tl_result_cb, &r, NULL), 0);
    assert_true(tl_run_until(&loop, tl_result_done, &r, 10000));
    assert_int_equal(r.rc, KL_ESERVER);
    assert_int_equal(r.http, 500);
    assert_string_equal(r.reason, "InternalError");
    assert_string_equal(r.message, "boom");
    assert_int_equal(tl_peer_requests(&p), 4);
    tl_result_reset(&r);
    kl_client_free(c);
    tl_peer_stop(&p);
}

static void peer_always_500(tl_conn_t *c, void *ud)
{
    (void)ud;
    tl_respond(c, 503, NULL, "not json at all");
}

static void test_client_gives_up(void **state)
{
    (void)state;
    tl_peer_t p;
    assert_int_equal(tl_peer_start(&p, peer_always_500, NULL), 0);
    kl_client_opts_t o;
    kl_client_opts_init(&o);
    o.max_retries = 2;
    kl_client_t *c = tl_peer_client(&loop, &p, &o);
    tl_result_t r = {0};
    kl_resource_t res = {"", "v1", "configmaps", "default", "x", NULL};
    assert_int_equal(kl_client_get(c, &res, NULL, tl_result_cb, &r, NULL), 0);
    assert_true(tl_run_until(&loop, tl_result_done, &r, 10000));
    assert_int_equal(r.rc, KL_ESERVER);
    assert_int_equal(r.http, 503);
    assert_string_equal(r.message, "not json at all");
    assert_int_equal(tl_peer_requests(&p), 3);
    tl_result_reset(&r);
    kl_client_free(c);
    tl_peer_stop(&p);
}

static void peer_ok(tl_conn_t *c, void *ud)
{
    (void)ud;
    tl_respond(c, 200, NULL, ok_body);
}

static bool n_done(void *ud)
{
    tl_result_t *r = ud;
    for (int i = 0; i < 6; i++)
        if (!r[i].done)
            return false;
    return true;
}

static void test_client_rate_limit_and_cancel(void **state)
{
    (void)state;
    tl_peer_t p;
    assert_int_equal(tl_peer_start(&p, peer_ok, NULL), 0);
    kl_client_opts_t o;
    kl_client_opts_init(&o);
    o.qps = 10;
    o.burst = 1;
    kl_client_t *c = tl_peer_client(&loop, &p, &o);
    tl_result_t r[7];
    memset(r, 0, sizeof(r));
    kl_resource_t res = {"", "v1", "configmaps", "default", "x", NULL};
    uint64_t t0 = uv_hrtime();
    kl_req_t *req[7];
    for (int i = 0; i < 7; i++)
        assert_int_equal(kl_client_get(c, &res, NULL, tl_result_cb, &r[i], &req[i]), 0);
    kl_client_cancel(req[6]);
    assert_true(tl_run_until(&loop, n_done, r, 10000));
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    /* 6 requests at 10/s with a burst of 1: the last starts 0.5 s after the first. */
    assert_true(secs >= 0.45);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(r[i].rc, 0);
        tl_result_reset(&r[i]);
    }
    tl_run_until(&loop, tl_flag_set, &(int){0}, 200);
    assert_false(r[6].done);
    assert_int_equal(tl_peer_requests(&p), 6);
    kl_client_stats_t st;
    kl_client_stats(c, &st);
    assert_true(st.throttled > 0);
    assert_int_equal(st.in_flight, 0);
    kl_client_free(c);
    tl_peer_stop(&p);
}

/* ---- watches ------------------------------------------------------------------------------ */

typedef struct wres {
    int events[6];
    int done, rc, http;
    char last_name[64];
    char msg[256];
    kl_watch_t *w;
    int stop_after; /* stop from inside the event callback after this many events */
    int managed;    /* events whose object kept metadata.managedFields */
} wres_t;

static void w_event(kl_watch_t *w, kl_watch_type_t type, kl_obj_t *obj, void *ud)
{
    wres_t *r = ud;
    r->events[type]++;
    const char *name = obj ? kl_val_path_str(kl_obj_root(obj), "metadata", "name", NULL) : NULL;
    if (obj && !kl_val_missing(kl_val_path(kl_obj_root(obj), "metadata", "managedFields", NULL)))
        r->managed++;
    if (name && *name)
        snprintf(r->last_name, sizeof(r->last_name), "%s", name);
    kl_obj_unref(obj);
    if (r->stop_after && r->events[KL_WATCH_ADDED] == r->stop_after) {
        kl_watch_stop(w);
        r->done = 2;
    }
}

static void w_done(kl_watch_t *w, int rc, const kl_status_t *st, void *ud)
{
    (void)w;
    wres_t *r = ud;
    r->done = 1;
    r->rc = rc;
    if (st) {
        r->http = st->http_code;
        snprintf(r->msg, sizeof(r->msg), "%s", st->message ? st->message : "");
    }
}

static bool w_finished(void *ud)
{
    return ((wres_t *)ud)->done != 0;
}

#define EV(type, name, rv)                                                                         \
    "{\"type\":\"" type "\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","             \
    "\"metadata\":{\"name\":\"" name "\",\"namespace\":\"default\",\"resourceVersion\":\"" rv      \
    "\",\"managedFields\":[{\"manager\":\"m\"}]}}}\n"

typedef enum wscript { W_CUT, W_SILENT, W_MALFORMED, W_ENDLESS, W_GONE, W_NORMAL } wscript_t;

static void peer_watch(tl_conn_t *c, void *ud)
{
    wscript_t s = *(wscript_t *)ud;
    if (s == W_GONE) {
        tl_respond(c, 410, NULL,
                   "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":"
                   "\"Expired\",\"code\":410,\"message\":\"too old resource version: 1 (5)\"}");
        return;
    }
    tl_start_chunked(c, 200);
    /* One event split across two chunks, then whitespace (a heartbeat). */
    const char *e1 = EV("ADDED", "a", "2");
    tl_chunk(c, e1, 30);
    tl_chunk_str(c, e1 + 30);
    tl_chunk_str(c, "\n");
    tl_chunk_str(c, EV("MODIFIED", "a", "3") EV("BOOKMARK", "", "4"));
    switch (s) {
    case W_CUT: {
        const char *e = EV("ADDED", "b", "5");
        tl_chunk(c, e, 40); /* and the connection closes mid-line */
        break;
    }
    case W_SILENT:
        tl_peer_sleep(c, 5000);
        break;
    case W_MALFORMED:
        tl_chunk_str(c, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}\n");
        tl_peer_sleep(c, 5000);
        break;
    case W_ENDLESS: {
        char *junk = malloc(100000);
        memset(junk, 'x', 100000);
        tl_chunk_str(c, "{\"type\":\"ADDED\",\"object\":{\"data\":\"");
        for (int i = 0; i < 3; i++)
            tl_chunk(c, junk, 100000);
        free(junk);
        tl_peer_sleep(c, 5000);
        break;
    }
    default:
        tl_chunk_str(c, EV("DELETED", "a", "6"));
        tl_send(c, "0\r\n\r\n", 5);
        break;
    }
}

static wres_t run_watch(wscript_t script, long idle_ms, size_t max_line, int stop_after)
{
    tl_peer_t p;
    assert_int_equal(tl_peer_start(&p, peer_watch, &script), 0);
    kl_client_opts_t o;
    kl_client_opts_init(&o);
    if (max_line)
        o.max_line = max_line;
    kl_client_t *c = tl_peer_client(&loop, &p, &o);
    kl_resource_t res = {"", "v1", "configmaps", "default", NULL, NULL};
    kl_watch_opts_t wo = {0};
    wo.resource_version = "1";
    wo.allow_bookmarks = true;
    wo.timeout_seconds = 300;
    wo.idle_timeout_ms = idle_ms;
    wres_t r = {0};
    r.stop_after = stop_after;
    assert_int_equal(kl_client_watch(c, &res, &wo, w_event, w_done, &r, &r.w), 0);
    assert_true(tl_run_until(&loop, w_finished, &r, 10000));
    assert_true(strstr(p.lines[0], "watch=true") != NULL);
    assert_true(strstr(p.lines[0], "resourceVersion=1") != NULL);
    assert_true(strstr(p.lines[0], "allowWatchBookmarks=true") != NULL);
    assert_true(strstr(p.lines[0], "timeoutSeconds=300") != NULL);
    kl_client_free(c);
    tl_peer_stop(&p);
    return r;
}

static void test_watch_normal_end(void **state)
{
    (void)state;
    wres_t r = run_watch(W_NORMAL, 0, 0, 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.events[KL_WATCH_ADDED], 1);
    assert_int_equal(r.events[KL_WATCH_MODIFIED], 1);
    assert_int_equal(r.events[KL_WATCH_BOOKMARK], 1);
    assert_int_equal(r.events[KL_WATCH_DELETED], 1);
    assert_int_equal(r.managed, 0);
}

static void test_watch_cut_mid_line(void **state)
{
    (void)state;
    wres_t r = run_watch(W_CUT, 0, 0, 0);
    assert_int_equal(r.rc, KL_EIO);
    assert_int_equal(r.events[KL_WATCH_ADDED], 1);
    assert_int_equal(r.events[KL_WATCH_MODIFIED], 1);
    assert_string_equal(r.last_name, "a");
}

static void test_watch_silent_peer(void **state)
{
    (void)state;
    uint64_t t0 = uv_hrtime();
    wres_t r = run_watch(W_SILENT, 300, 0, 0);
    assert_int_equal(r.rc, KL_ETIMEDOUT);
    assert_int_equal(r.events[KL_WATCH_MODIFIED], 1);
    assert_true((uv_hrtime() - t0) / 1000000 < 4000);
    assert_non_null(strstr(r.msg, "silent"));
}

static void test_watch_malformed_line(void **state)
{
    (void)state;
    wres_t r = run_watch(W_MALFORMED, 0, 0, 0);
    assert_int_equal(r.rc, KL_ESYNTAX);
    assert_int_equal(r.events[KL_WATCH_BOOKMARK], 1);
}

static void test_watch_endless_line(void **state)
{
    (void)state;
    wres_t r = run_watch(W_ENDLESS, 0, 65536, 0);
    assert_int_equal(r.rc, KL_ETOOBIG);
    assert_non_null(strstr(r.msg, "longer than 65536"));
}

static void test_watch_410(void **state)
{
    (void)state;
    wres_t r = run_watch(W_GONE, 0, 0, 0);
    assert_int_equal(r.rc, KL_EGONE);
    assert_int_equal(r.http, 410);
    assert_non_null(strstr(r.msg, "too old"));
}

static void test_watch_stop_inside_callback(void **state)
{
    (void)state;
    wres_t r = run_watch(W_SILENT, 0, 0, 1);
    assert_int_equal(r.done, 2); /* stopped: the done callback never ran */
    assert_int_equal(r.events[KL_WATCH_ADDED], 1);
    assert_int_equal(r.events[KL_WATCH_MODIFIED], 0);
}

/* ---- discovery from an older server (no aggregated documents) ---------------------------- */

static void peer_legacy_discovery(tl_conn_t *c, void *ud)
{
    (void)ud;
    if (tl_path_is(c, "GET /api HTTP"))
        tl_respond(c, 200, NULL, "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"]}");
    else if (tl_path_is(c, "GET /apis HTTP"))
        tl_respond(c, 200, NULL,
                   "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[{\"name\":"
                   "\"apps\",\"versions\":[{\"groupVersion\":\"apps/v1\",\"version\":\"v1\"}]}]}");
    else if (tl_path_is(c, "GET /api/v1 HTTP"))
        tl_respond(c, 200, NULL,
                   "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":[{"
                   "\"name\":\"pods\",\"singularName\":\"pod\",\"namespaced\":true,\"kind\":"
                   "\"Pod\",\"verbs\":[\"get\",\"list\",\"watch\"]},{\"name\":\"pods/status\","
                   "\"namespaced\":true,\"kind\":\"Pod\",\"verbs\":[\"get\"]},{\"name\":"
                   "\"nodes\",\"singularName\":\"node\",\"namespaced\":false,\"kind\":\"Node\","
                   "\"verbs\":[\"get\"]}]}");
    else if (tl_path_is(c, "GET /apis/apps/v1 HTTP"))
        tl_respond(c, 200, NULL,
                   "{\"kind\":\"APIResourceList\",\"groupVersion\":\"apps/v1\",\"resources\":[{"
                   "\"name\":\"deployments\",\"singularName\":\"deployment\",\"namespaced\":"
                   "true,\"kind\":\"Deployment\",\"verbs\":[\"create\",\"delete\"]}]}");
    else
        tl_respond(c, 404, NULL, "{\"kind\":\"Status\",\"code\":404,\"reason\":\"NotFound\"}");
}

typedef struct res_out {
    int done, rc;
    bool namespaced;
    unsigned verbs;
    char resource[32], sub[32];
} res_out_t;

static void res_cb(kl_client_t *c, int rc, const kl_api_resource_t *r, const kl_status_t *st,
                   void *ud)
{
    (void)c;
    (void)st;
    res_out_t *o = ud;
    o->done = 1;
    o->rc = rc;
    if (r) {
        o->namespaced = r->namespaced;
        o->verbs = r->verbs;
        snprintf(o->resource, sizeof(o->resource), "%s", r->resource);
        snprintf(o->sub, sizeof(o->sub), "%s", r->subresources[0] ? r->subresources[0] : "");
    }
}

static bool res_done(void *ud)
{
    return ((res_out_t *)ud)->done != 0;
}

static void test_client_legacy_discovery(void **state)
{
    (void)state;
    tl_peer_t p;
    assert_int_equal(tl_peer_start(&p, peer_legacy_discovery, NULL), 0);
    kl_client_t *c = tl_peer_client(&loop, &p, NULL);
    res_out_t a = {0}, b = {0}, d = {0}, e = {0};
    assert_int_equal(kl_client_resolve(c, "v1", "Pod", res_cb, &a), 0);
    assert_int_equal(kl_client_resolve(c, "apps/v1", "deployment", res_cb, &b), 0);
    assert_true(tl_run_until(&loop, res_done, &a, 10000));
    assert_true(tl_run_until(&loop, res_done, &b, 10000));
    assert_int_equal(a.rc, 0);
    assert_string_equal(a.resource, "pods");
    assert_string_equal(a.sub, "status");
    assert_true(a.namespaced);
    assert_int_equal(a.verbs, KL_VERB_GET | KL_VERB_LIST | KL_VERB_WATCH);
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.resource, "deployments");
    assert_int_equal(b.verbs, KL_VERB_CREATE | KL_VERB_DELETE);
    const kl_api_resource_t *n = kl_client_lookup(c, "v1", "nodes");
    assert_non_null(n);
    assert_false(n->namespaced);
    /* One fetch answered both: /api, /apis, /api/v1, /apis/apps/v1. */
    assert_int_equal(tl_peer_requests(&p), 4);
    /* A miss right after a fetch waits for the 2 s refresh interval, then refetches. */
    assert_int_equal(kl_client_resolve(c, "v1", "widgets", res_cb, &d), 0);
    assert_true(tl_run_until(&loop, res_done, &d, 10000));
    assert_int_equal(d.rc, KL_ENOTFOUND);
    assert_int_equal(tl_peer_requests(&p), 8);
    kl_client_discovery_invalidate(c);
    assert_null(kl_client_lookup(c, "v1", "pods"));
    assert_int_equal(kl_client_resolve(c, "v1", "pods", res_cb, &e), 0);
    assert_true(tl_run_until(&loop, res_done, &e, 10000));
    assert_int_equal(e.rc, 0);
    kl_client_free(c);
    tl_peer_stop(&p);
}

/* ---- exec credentials --------------------------------------------------------------------- */

static void peer_auth(tl_conn_t *c, void *ud)
{
    (void)ud;
    if (strstr(c->req, "Authorization: Bearer exec-token-1") ||
        strstr(c->req, "authorization: Bearer exec-token-1"))
        tl_respond(c, 200, NULL, ok_body);
    else
        tl_respond(c, 401, NULL,
                   "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":"
                   "\"Unauthorized\",\"code\":401,\"message\":\"Unauthorized\"}");
}

static void test_client_exec_credentials(void **state)
{
    (void)state;
    tl_peer_t p;
    assert_int_equal(tl_peer_start(&p, peer_auth, NULL), 0);
    char dir[] = "/tmp/kl-exec-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char script[300], kc[300], text[2048];
    snprintf(script, sizeof(script), "%s/cred.sh", dir);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n"
               "case \"$KUBERNETES_EXEC_INFO\" in *ExecCredential*) ;; *) exit 3;; esac\n"
               "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
               "\"ExecCredential\",\"status\":{\"token\":\"'$TOKEN_PREFIX'-1\","
               "\"expirationTimestamp\":\"2999-01-01T00:00:00Z\"}}'\n");
    fclose(f);
    chmod(script, 0700);
    snprintf(text, sizeof(text),
             "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster:\n"
             "    server: http://127.0.0.1:%d\ncontexts:\n- name: c\n  context: {cluster: k, "
             "user: u}\nusers:\n- name: u\n  user:\n    exec:\n"
             "      apiVersion: client.authentication.k8s.io/v1\n      command: ./cred.sh\n"
             "      env:\n      - {name: TOKEN_PREFIX, value: exec-token}\n",
             p.port);
    snprintf(kc, sizeof(kc), "%s/config", dir);
    f = fopen(kc, "w");
    fputs(text, f);
    fclose(f);
    kl_kubeconfig_opts_t ko = {0};
    ko.kubeconfig = kc;
    kl_restconfig_t *cfg;
    kl_errinfo_t err;
    assert_int_equal(kl_restconfig_load(&ko, &cfg, &err), 0);
    assert_non_null(cfg->exec);
    kl_client_t *c;
    assert_int_equal(kl_client_new(&loop, cfg, NULL, &c, &err), 0);
    kl_restconfig_free(cfg);
    tl_result_t r[2];
    memset(r, 0, sizeof(r));
    kl_resource_t res = {"", "v1", "configmaps", "default", "x", NULL};
    assert_int_equal(kl_client_get(c, &res, NULL, tl_result_cb, &r[0], NULL), 0);
    assert_int_equal(kl_client_get(c, &res, NULL, tl_result_cb, &r[1], NULL), 0);
    assert_true(tl_run_until(&loop, tl_result_done, &r[0], 10000));
    assert_true(tl_run_until(&loop, tl_result_done, &r[1], 10000));
    assert_int_equal(r[0].rc, 0);
    assert_int_equal(r[1].rc, 0);
    tl_result_reset(&r[0]);
    tl_result_reset(&r[1]);
    kl_client_free(c);
    tl_peer_stop(&p);
    tl_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_429_retry_after),
        cmocka_unit_test(test_client_500_retries),
        cmocka_unit_test(test_client_gives_up),
        cmocka_unit_test(test_client_rate_limit_and_cancel),
        cmocka_unit_test(test_watch_normal_end),
        cmocka_unit_test(test_watch_cut_mid_line),
        cmocka_unit_test(test_watch_silent_peer),
        cmocka_unit_test(test_watch_malformed_line),
        cmocka_unit_test(test_watch_endless_line),
        cmocka_unit_test(test_watch_410),
        cmocka_unit_test(test_watch_stop_inside_callback),
        cmocka_unit_test(test_client_legacy_discovery),
        cmocka_unit_test(test_client_exec_credentials),
    };
    return cmocka_run_group_tests_name("client_fakepeer", tests, setup, teardown);
}
