/* API server benchmark: pod creates per second with durability on, LIST latency of 10,000
 * pods, watch fan-out to 100 watchers (events delivered per second), and custom resource creates
 * per second through a CRD schema with defaults and value constraints.
 *
 * The server runs in this process on its own thread (as in `kubelua up`); the load comes from
 * libcurl on the main thread over HTTPS, HTTP/2 multiplexed. Both share the machine's cores.
 *
 *   apiserver_bench [pods] [concurrency] [watchers] [custom resources]
 *
 * With KL_BENCH_ONLY=cr only the custom resource creates run.
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kubelua/buf.h"

#include "apiserver/apiserver.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *base_url;
static struct curl_slist *headers;
static const char *ca_file;

static const char pod_tmpl[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"bench-%d\",\"labels\":{"
    "\"app\":"
    "\"bench\",\"shard\":\"s%d\",\"app.kubernetes.io/part-of\":\"kubelua-bench\"},\"annotations\":"
    "{\"kubelua.io/note\":\"a pod of realistic size for the benchmark\"}},\"spec\":{\"containers\":"
    "[{\"name\":\"main\",\"image\":\"registry.example.com/team/app:1.2.%d\",\"command\":[\"/app\","
    "\"--serve\"],\"args\":[\"--port=8080\",\"--log-level=info\"],\"env\":[{\"name\":\"MODE\","
    "\"value\":\"production\"},{\"name\":\"POD_NAME\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":"
    "\"metadata.name\"}}}],\"ports\":[{\"containerPort\":8080,\"name\":\"http\"}],\"resources\":{"
    "\"limits\":{\"cpu\":\"500m\",\"memory\":\"256Mi\"},\"requests\":{\"cpu\":\"100m\","
    "\"memory\":\"64Mi\"}},\"readinessProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":8080},"
    "\"periodSeconds\":5},\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/data\"}]}],"
    "\"volumes\":[{\"name\":\"data\",\"emptyDir\":{}}],\"nodeName\":\"node-%d\"}}";

/* A CRD whose schema prunes, defaults (at three levels) and validates (bounds, pattern, enum,
 * a map list), as a prototyped workload type's would. */
static const char crd_json[] =
    "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
    "\"metadata\":{\"name\":\"widgets.bench.kubelua.io\"},\"spec\":{\"group\":"
    "\"bench.kubelua.io\",\"scope\":\"Namespaced\",\"names\":{\"plural\":\"widgets\","
    "\"singular\":\"widget\",\"kind\":\"Widget\"},\"versions\":[{\"name\":\"v1\","
    "\"served\":true,\"storage\":true,\"subresources\":{\"status\":{}},\"schema\":{"
    "\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\","
    "\"required\":[\"image\"],\"properties\":{\"image\":{\"type\":\"string\",\"pattern\":"
    "\"^[a-z0-9./-]+:[0-9.]+$\",\"maxLength\":200},\"replicas\":{\"type\":\"integer\","
    "\"minimum\":0,\"maximum\":100,\"default\":1},\"backoffLimit\":{\"type\":\"integer\","
    "\"minimum\":0,\"default\":6},\"mode\":{\"type\":\"string\",\"enum\":[\"fast\","
    "\"safe\"],\"default\":\"safe\"},\"resources\":{\"type\":\"object\",\"default\":{},"
    "\"properties\":{\"cpu\":{\"type\":\"string\",\"default\":\"100m\"},\"memory\":{"
    "\"type\":\"string\",\"default\":\"64Mi\"}}},\"env\":{\"type\":\"array\","
    "\"x-kubernetes-list-type\":\"map\",\"x-kubernetes-list-map-keys\":[\"name\"],\"items\":"
    "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":"
    "\"string\"},\"value\":{\"type\":\"string\",\"default\":\"\"}}}},\"ports\":{\"type\":"
    "\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"port\":{\"type\":"
    "\"integer\",\"minimum\":1,\"maximum\":65535},\"protocol\":{\"type\":\"string\","
    "\"enum\":[\"TCP\",\"UDP\"],\"default\":\"TCP\"}}}},\"labels\":{\"type\":\"object\","
    "\"additionalProperties\":{\"type\":\"string\",\"maxLength\":63}}}},\"status\":{\"type\":"
    "\"object\",\"properties\":{\"ready\":{\"type\":\"integer\",\"minimum\":0}}}}}}}]}}";

static const char cr_tmpl[] =
    "{\"apiVersion\":\"bench.kubelua.io/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":"
    "\"widget-%d\",\"labels\":{\"app\":\"bench\",\"shard\":\"s%d\"}},\"spec\":{\"image\":"
    "\"registry.example.com/team/app:1.2.%d\",\"replicas\":%d,\"env\":[{\"name\":\"MODE\","
    "\"value\":\"production\"},{\"name\":\"DEBUG\"}],\"ports\":[{\"port\":8080},{\"port\":"
    "9090,\"protocol\":\"TCP\"}],\"labels\":{\"team\":\"platform\",\"tier\":\"backend\"}}}";

typedef struct xfer {
    CURL *h;
    kl_buf_t body;
    char *upload;
    int index;
} xfer_t;

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    xfer_t *x = ud;
    if (kl_buf_append(&x->body, p, size * n) < 0)
        return 0;
    return size * n;
}

static CURL *new_handle(xfer_t *x, const char *url)
{
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_PRIVATE, x);
    return h;
}

/* Creates n pods keeping `conc` requests in flight; returns the seconds taken. */
static int watchers_in_multi;

static void fill_pod(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, pod_tmpl, i, i % 16, i % 7, i % 100);
}

static void fill_cr(char *buf, size_t cap, int i)
{
    snprintf(buf, cap, cr_tmpl, i, i % 16, i % 7, i % 10);
}

static double create_objects(CURLM *m, const char *path, void (*fill)(char *, size_t, int),
                             int first, int n, int conc)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    xfer_t *xs = calloc((size_t)conc, sizeof(xfer_t));
    int next = first, done = 0, running = 0, errors = 0;
    double t0 = now();
    for (int i = 0; i < conc && next < first + n; i++, next++) {
        xfer_t *x = &xs[i];
        kl_buf_init(&x->body, 0);
        x->upload = malloc(4096);
        fill(x->upload, 4096, next);
        x->h = new_handle(x, url);
        curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->upload);
        curl_multi_add_handle(m, x->h);
    }
    do {
        curl_multi_perform(m, &running);
        running -= watchers_in_multi;
        int q;
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &q)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            xfer_t *x = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            if (x == NULL)
                continue; /* a watch stream that ended */
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            if (code != 201 && errors++ < 3)
                fprintf(stderr, "create: HTTP %ld %.200s\n", code,
                        x->body.data ? x->body.data : "");
            done++;
            curl_multi_remove_handle(m, x->h);
            kl_buf_reset(&x->body);
            if (next < first + n) {
                fill(x->upload, 4096, next);
                next++;
                curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->upload);
                curl_multi_add_handle(m, x->h);
                running++;
            } else {
                curl_easy_cleanup(x->h);
                x->h = NULL;
            }
        }
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    } while (running || done < n);
    double dt = now() - t0;
    for (int i = 0; i < conc; i++) {
        free(xs[i].upload);
        kl_buf_cleanup(&xs[i].body);
        if (xs[i].h)
            curl_easy_cleanup(xs[i].h);
    }
    free(xs);
    return dt;
}

static double create_pods(CURLM *m, int first, int n, int conc)
{
    return create_objects(m, "/api/v1/namespaces/default/pods", fill_pod, first, n, conc);
}

static double get_once(CURLM *m, const char *path, size_t *bytes)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    xfer_t x = {0};
    kl_buf_init(&x.body, (size_t)1 << 31);
    x.h = new_handle(&x, url);
    double t0 = now();
    curl_multi_add_handle(m, x.h);
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    double dt = now() - t0;
    int q;
    while (curl_multi_info_read(m, &q))
        ;
    curl_multi_remove_handle(m, x.h);
    curl_easy_cleanup(x.h);
    *bytes = x.body.len;
    kl_buf_cleanup(&x.body);
    return dt;
}

/* Watchers count the lines they receive. */
typedef struct watcher {
    CURL *h;
    long lines;
} watcher_t;

/* One request (POST when body is given, else GET); returns its HTTP status. */
static long request_code(CURLM *m, const char *path, const char *body)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    xfer_t x = {0};
    kl_buf_init(&x.body, 0);
    x.h = new_handle(&x, url);
    if (body != NULL)
        curl_easy_setopt(x.h, CURLOPT_POSTFIELDS, body);
    curl_multi_add_handle(m, x.h);
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    int q;
    while (curl_multi_info_read(m, &q))
        ;
    long code = 0;
    curl_easy_getinfo(x.h, CURLINFO_RESPONSE_CODE, &code);
    curl_multi_remove_handle(m, x.h);
    curl_easy_cleanup(x.h);
    kl_buf_cleanup(&x.body);
    return code;
}

static size_t on_watch(char *p, size_t size, size_t n, void *ud)
{
    watcher_t *w = ud;
    for (size_t i = 0; i < size * n; i++)
        if (p[i] == '\n')
            w->lines++;
    return size * n;
}

int main(int argc, char **argv)
{
    int npods = argc > 1 ? atoi(argv[1]) : 10000;
    int conc = argc > 2 ? atoi(argv[2]) : 64;
    int nwatch = argc > 3 ? atoi(argv[3]) : 100;
    int ncrs = argc > 4 ? atoi(argv[4]) : npods;
    const char *only = getenv("KL_BENCH_ONLY");
    bool only_cr = only != NULL && strcmp(only, "cr") == 0;
    char dir[] = "/tmp/kubelua-bench.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    kl_apiserver_opts_t o = {.data_dir = dir, .listen = "127.0.0.1:0", .watch_history = 200000};
    kl_apiserver_t *srv;
    kl_errinfo_t err;
    if (kl_apiserver_new(&o, &srv, &err) < 0 || kl_apiserver_start_thread(srv, &err) < 0) {
        fprintf(stderr, "apiserver: %s\n", err.msg);
        return 1;
    }
    base_url = kl_apiserver_url(srv);
    ca_file = kl_apiserver_ca_file(srv);
    char auth[128];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", kl_apiserver_token(srv));
    headers = curl_slist_append(NULL, auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 4L);

    printf("server %s, data dir %s; %d pods, %d in flight, %d watchers, %d custom resources\n\n",
           base_url, dir, npods, conc, nwatch, ncrs);
    if (only_cr)
        goto crs;
    double dt = create_pods(m, 0, npods, conc);
    printf("create %d pods (SQLite WAL, each write committed): %.2f s, %.0f pods/s\n", npods, dt,
           npods / dt);

    size_t bytes = 0;
    double best = 1e9, sum = 0;
    for (int i = 0; i < 5; i++) {
        double t = get_once(m, "/api/v1/namespaces/default/pods", &bytes);
        sum += t;
        if (t < best)
            best = t;
    }
    printf("LIST %d pods as JSON (%.1f MB): best %.1f ms, mean %.1f ms\n", npods, bytes / 1e6,
           best * 1e3, sum / 5 * 1e3);
    best = 1e9;
    for (int i = 0; i < 3; i++) {
        double t = get_once(m, "/api/v1/namespaces/default/pods?labelSelector=shard%3Ds3", &bytes);
        if (t < best)
            best = t;
    }
    printf("LIST with a label selector (1/16 match, %.1f MB): best %.1f ms\n", bytes / 1e6,
           best * 1e3);

    /* Watch fan-out: nwatch watchers on pods, sharing the multi handle with the writers. */
    watcher_t *ws = calloc((size_t)nwatch, sizeof(watcher_t));
    for (int i = 0; i < nwatch; i++) {
        char url[512];
        snprintf(url, sizeof(url),
                 "%s/api/v1/namespaces/default/pods?watch=1&labelSelector=app%%3Dbench", base_url);
        ws[i].h = curl_easy_init();
        curl_easy_setopt(ws[i].h, CURLOPT_URL, url);
        curl_easy_setopt(ws[i].h, CURLOPT_CAINFO, ca_file);
        curl_easy_setopt(ws[i].h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(ws[i].h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(ws[i].h, CURLOPT_PIPEWAIT, 1L);
        curl_easy_setopt(ws[i].h, CURLOPT_WRITEFUNCTION, on_watch);
        curl_easy_setopt(ws[i].h, CURLOPT_WRITEDATA, &ws[i]);
        curl_multi_add_handle(m, ws[i].h);
    }
    watchers_in_multi = nwatch;
    /* Each watcher first receives an ADDED event for every existing pod. */
    long initial = (long)npods * nwatch, total = 0;
    double t0 = now();
    int running;
    while (total < initial && now() - t0 < 120) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 20, NULL);
        total = 0;
        for (int i = 0; i < nwatch; i++)
            total += ws[i].lines;
    }
    double tinit = now() - t0;
    printf("watch: %d watchers received %ld initial events (%d pods each) in %.2f s: %.0f "
           "events/s\n",
           nwatch, total, npods, tinit, total / tinit);

    /* Live events: more pods created while every watcher streams. */
    int extra = 5000;
    long before = total, want = before + (long)extra * nwatch;
    t0 = now();
    double tc = create_pods(m, npods, extra, conc);
    while (total < want && now() - t0 < 120) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 20, NULL);
        total = 0;
        for (int i = 0; i < nwatch; i++)
            total += ws[i].lines;
    }
    double tlive = now() - t0;
    printf("watch: %d pods created in %.2f s while %d watchers streamed: %ld events delivered in "
           "%.2f s: %.0f events/s\n",
           extra, tc, nwatch, total - before, tlive, (total - before) / tlive);

    for (int i = 0; i < nwatch; i++) {
        curl_multi_remove_handle(m, ws[i].h);
        curl_easy_cleanup(ws[i].h);
    }
    free(ws);
    watchers_in_multi = 0;

crs:
    /* Custom resources: decoded, pruned, defaulted and validated against the CRD's schema. */
    if (ncrs > 0) {
        if (request_code(m, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd_json) !=
            201)
            fprintf(stderr, "creating the CRD failed\n");
        double tw = now();
        while (request_code(m, "/apis/bench.kubelua.io/v1/namespaces/default/widgets", NULL) !=
                   200 &&
               now() - tw < 10)
            usleep(20000);
        double tcr = create_objects(m, "/apis/bench.kubelua.io/v1/namespaces/default/widgets",
                                    fill_cr, 0, ncrs, conc);
        printf("create %d custom resources (schema with defaults and constraints): %.2f s, %.0f "
               "/s\n",
               ncrs, tcr, ncrs / tcr);
    }
    curl_multi_cleanup(m);
    curl_slist_free_all(headers);
    kl_apiserver_free(srv);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
