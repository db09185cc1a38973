/* Informer benchmarks: pod watch events decoded into the cache on one core, and bytes held per
 * cached pod.
 *
 *   informer_bench                      offline: 100,000 synthetic pod events (~3 KB each) fed
 *                                       through the watch decoder into an informer cache, no
 *                                       network (what bench/run.sh runs)
 *   informer_bench offline [N] [FILE]   the same with N events, or with a captured watch stream
 *   informer_bench load KUBECONFIG N [NS]       creates N pods in NS (default "bench")
 *   informer_bench consume KUBECONFIG N MODE [NS [SELECTOR]]
 *                                       starts an informer (MODE: watchlist or list) on the pods
 *                                       of NS (matching SELECTOR) and reports when N are cached
 *
 * Results are printed as one JSON object per line (bench/informer_bench.sh collects them). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "kubelua/client.h"
#include "kubelua/informer.h"
#include "kubelua/kubeconfig.h"
#include "kubelua/log.h"

#include "client/client_int.h"
#include "informer/informer_int.h"

/* A pod of about 3 KB as the API server stores it. */
static const char pod_tmpl[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"bench-%06d\","
    "\"namespace\":\"%s\",%s\"labels\":{\"app\":\"bench\",\"shard\":\"s%d\","
    "\"app.kubernetes.io/part-of\":\"kubelua-bench\",\"pod-template-hash\":\"7d9f8c6b5\"},"
    "\"annotations\":{\"kubelua.io/note\":\"a pod of realistic size for the informer benchmark\","
    "\"prometheus.io/scrape\":\"true\",\"prometheus.io/port\":\"9090\"},\"ownerReferences\":[{"
    "\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"bench-rs-%d\",\"uid\":"
    "\"%s\",\"controller\":true,\"blockOwnerDeletion\":true}]},"
    "\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"registry.example.com/team/"
    "app:1.2.%d\","
    "\"command\":[\"/app\",\"--serve\"],\"args\":[\"--port=8080\",\"--log-level=info\","
    "\"--metrics-port=9090\"],\"env\":[{\"name\":\"MODE\",\"value\":\"production\"},{\"name\":"
    "\"POD_NAME\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}},{\"name\":"
    "\"POD_NAMESPACE\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.namespace\"}}},"
    "{\"name\":\"POD_IP\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"status.podIP\"}}},{\"name\":"
    "\"CACHE_SIZE\",\"value\":\"512\"},{\"name\":\"FEATURE_FLAGS\",\"value\":\"alpha,beta,gamma\"}]"
    ","
    "\"ports\":[{\"containerPort\":8080,\"name\":\"http\",\"protocol\":\"TCP\"},{\"containerPort\":"
    "9090,\"name\":\"metrics\",\"protocol\":\"TCP\"}],\"resources\":{\"limits\":{\"cpu\":\"500m\","
    "\"memory\":\"256Mi\"},\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}},\"readinessProbe\":"
    "{"
    "\"httpGet\":{\"path\":\"/healthz\",\"port\":8080},\"periodSeconds\":5},\"livenessProbe\":{"
    "\"httpGet\":{\"path\":\"/livez\",\"port\":8080},\"initialDelaySeconds\":10,\"periodSeconds\":"
    "10},\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/data\"},{\"name\":\"config\","
    "\"mountPath\":\"/etc/"
    "app\",\"readOnly\":true}],\"imagePullPolicy\":\"IfNotPresent\"},{\"name\":"
    "\"sidecar\",\"image\":\"registry.example.com/infra/proxy:3.4.5\",\"args\":[\"--upstream="
    "127.0.0.1:8080\"],\"ports\":[{\"containerPort\":15001,\"name\":\"proxy\"}],\"resources\":{"
    "\"requests\":{\"cpu\":\"10m\",\"memory\":\"32Mi\"}}}],\"volumes\":[{\"name\":\"data\","
    "\"emptyDir\":{}},{\"name\":\"config\",\"configMap\":{\"name\":\"app-config\"}}],\"nodeName\":"
    "\"node-%d\",\"serviceAccountName\":\"app\",\"tolerations\":[{\"key\":"
    "\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
    "\"tolerationSeconds\":300},{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":"
    "\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":300}],\"affinity\":{"
    "\"podAntiAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":100,"
    "\"podAffinityTerm\":{\"labelSelector\":{\"matchLabels\":{\"app\":\"bench\"}},\"topologyKey\":"
    "\"kubernetes.io/hostname\"}}]}}}%s}";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

#define OWNERS 10
static char owner_uid[OWNERS][64];

static int fmt_pod(char *buf, size_t cap, int i, const char *ns, bool with_rv)
{
    char uid[64];
    if (owner_uid[i % OWNERS][0])
        snprintf(uid, sizeof(uid), "%s", owner_uid[i % OWNERS]);
    else
        snprintf(uid, sizeof(uid), "6a3f2e1c-0000-4000-8000-%012d", i % OWNERS);
    char rv[256] = "", status[512] = "";
    if (with_rv) {
        snprintf(rv, sizeof(rv),
                 "\"uid\":\"0c2d5e7a-1111-4222-8333-%012d\",\"resourceVersion\":\"%d\","
                 "\"creationTimestamp\":\"2026-11-25T12:00:00Z\",",
                 i, 1000 + i);
        snprintf(
            status, sizeof(status),
            ",\"status\":{\"phase\":\"Running\",\"podIP\":\"10.1.%d.%d\",\"hostIP\":"
            "\"192.168.0.%d\",\"startTime\":\"2026-11-25T12:00:01Z\",\"conditions\":[{\"type\":"
            "\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"2026-11-25T12:00:05Z\"}],"
            "\"qosClass\":\"Burstable\"}",
            (i / 250) % 250, i % 250, i % 200);
    }
    return snprintf(buf, cap, pod_tmpl, i, ns, rv, i % 16, i % OWNERS, uid, i % 100, i % 200,
                    status);
}

/* ---- offline: decoder + cache on one core ------------------------------------------------- */

static int line_cb(const char *line, size_t len, void *ud)
{
    kl_informer_t *inf = ud;
    kl_watch_type_t t;
    kl_obj_t *obj;
    kl_errinfo_t err;
    if (kl__watch_decode_line(line, len, KL_PARSE_STRIP_MANAGED_FIELDS, &t, &obj, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return KL_ESYNTAX;
    }
    if (inf)
        kl__informer_apply(inf, t, obj);
    else
        kl_obj_unref(obj);
    return 0;
}

static int offline(int n, const char *file)
{
    kl_buf_t stream;
    kl_buf_init(&stream, (size_t)4 << 30);
    if (file) {
        FILE *f = fopen(file, "rb");
        if (f == NULL) {
            perror(file);
            return 1;
        }
        char tmp[1 << 16];
        size_t r;
        while ((r = fread(tmp, 1, sizeof(tmp), f)) > 0)
            if (kl_buf_append(&stream, tmp, r) < 0)
                return 1;
        fclose(f);
        n = 0;
        for (size_t i = 0; i < stream.len; i++)
            n += stream.data[i] == '\n';
    } else {
        char pod[8192];
        for (int i = 0; i < n; i++) {
            fmt_pod(pod, sizeof(pod), i, "bench", true);
            if (kl_buf_printf(&stream, "{\"type\":\"ADDED\",\"object\":%s}\n", pod) < 0)
                return 1;
        }
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    kl_restconfig_t *cfg;
    kl_client_t *c;
    if (kl_restconfig_for_url("http://127.0.0.1:9", NULL, NULL, &cfg) < 0 ||
        kl_client_new(&loop, cfg, NULL, &c, NULL) < 0)
        return 1;
    kl_restconfig_free(cfg);
    kl_informer_opts_t o;
    kl_informer_opts_init(&o);
    o.resource = "v1/pods";
    kl_informer_t *inf;
    if (kl_informer_new(c, &o, &inf, NULL) < 0)
        return 1;
    long rss0 = rss_bytes();
    kl_linebuf_t lb;
    kl__linebuf_init(&lb, (size_t)16 << 20);
    double t0 = now_s(), c0 = cpu_s();
    /* Chunks of 16 KB, as they come off a socket. */
    for (size_t off = 0; off < stream.len; off += 16384) {
        size_t len = stream.len - off < 16384 ? stream.len - off : 16384;
        if (kl__linebuf_feed(&lb, stream.data + off, len, line_cb,
                             getenv("KL_BENCH_DECODE_ONLY") ? NULL : inf) < 0) {
            fprintf(stderr, "decode failed\n");
            return 1;
        }
    }
    double secs = now_s() - t0, cpus = cpu_s() - c0;
    long rss1 = rss_bytes();
    kl_informer_stats_t st;
    kl_informer_stats(inf, &st);
    double json_per = (double)stream.len / n - 27; /* minus the event envelope */
    printf("{\"consumer\":\"kubelua-offline\",\"pods\":%zu,\"seconds\":%.3f,\"cpu_seconds\":%.3f,"
           "\"events_per_s\":%.0f,\"mb_per_s\":%.0f,\"json_bytes_per_pod\":%.0f,"
           "\"cache_bytes_per_pod\":%.0f,\"rss_bytes_per_pod\":%.0f}\n",
           st.objects, secs, cpus, n / secs, (double)stream.len / secs / 1e6, json_per,
           (double)st.bytes / (double)st.objects, (double)(rss1 - rss0) / (double)st.objects);
    kl__linebuf_cleanup(&lb);
    kl_informer_free(inf);
    kl_client_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    kl_buf_cleanup(&stream);
    return 0;
}

/* ---- live: loader and consumer -------------------------------------------------------------- */

static kl_client_t *connect_client(uv_loop_t *loop, const char *kubeconfig, double qps)
{
    kl_kubeconfig_opts_t ko = {0};
    ko.kubeconfig = kubeconfig;
    kl_restconfig_t *cfg;
    kl_errinfo_t err;
    if (kl_restconfig_load(&ko, &cfg, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    kl_client_opts_t co;
    kl_client_opts_init(&co);
    co.qps = qps;
    co.http1_only = getenv("KL_BENCH_HTTP1") != NULL;
    kl_client_t *c;
    if (kl_client_new(loop, cfg, &co, &c, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    kl_restconfig_free(cfg);
    return c;
}

typedef struct loader {
    kl_client_t *c;
    const char *ns;
    int next, total, inflight, done, failed;
} loader_t;

static void load_pump(loader_t *l);

static void load_cb(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st, void *ud)
{
    (void)c;
    (void)body;
    loader_t *l = ud;
    l->inflight--;
    l->done++;
    if (rc < 0 && rc != KL_EEXIST) {
        if (l->failed++ < 5)
            fprintf(stderr, "create: %s %s\n", kl_err_name(rc), st ? st->message : "");
    }
    load_pump(l);
}

static void load_pump(loader_t *l)
{
    char pod[8192];
    while (l->inflight < 64 && l->next < l->total) {
        int i = l->next++;
        int n = fmt_pod(pod, sizeof(pod), i, l->ns, false);
        kl_resource_t r = {"", "v1", "pods", l->ns, NULL, NULL};
        if (kl_client_create(l->c, &r, NULL, pod, (size_t)n, load_cb, l, NULL) < 0)
            exit(1);
        l->inflight++;
    }
}

static int rs_uid_index;

static void rs_cb(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st, void *ud)
{
    loader_t *l = ud;
    if (rc == KL_EEXIST) {
        /* Loaded before: fetch it for its uid. */
        char name[32];
        snprintf(name, sizeof(name), "bench-rs-%d", rs_uid_index);
        kl_resource_t r = {"apps", "v1", "replicasets", l->ns, name, NULL};
        if (kl_client_get(c, &r, NULL, rs_cb, l, NULL) == 0)
            return;
    }
    if (rc < 0) {
        fprintf(stderr, "replicaset: %s %s\n", kl_err_name(rc), st ? st->message : "");
        exit(1);
    }
    snprintf(owner_uid[rs_uid_index], sizeof(owner_uid[0]), "%s",
             kl_val_path_str(kl_obj_root(body), "metadata", "uid", NULL));
    l->done = 1;
}

static int load(const char *kubeconfig, int n, const char *ns)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    kl_client_t *c = connect_client(&loop, kubeconfig, 0);
    char body[256];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", ns);
    kl_resource_t nsr = {"", "v1", "namespaces", NULL, NULL, NULL};
    loader_t l = {c, ns, 0, n, 0, 0, 0};
    l.inflight = 1;
    l.total = 0;
    if (kl_client_create(c, &nsr, NULL, body, strlen(body), load_cb, &l, NULL) < 0)
        return 1;
    while (l.done < 1)
        uv_run(&loop, UV_RUN_ONCE);
    /* The pods' controller owners must exist, or the server's garbage collector deletes the
     * pods. */
    for (int k = 0; k < OWNERS; k++) {
        char rs[1024];
        snprintf(rs, sizeof(rs),
                 "{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":{\"name\":"
                 "\"bench-rs-%d\"},\"spec\":{\"replicas\":0,\"selector\":{\"matchLabels\":{"
                 "\"app\":\"bench\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"bench\"}},"
                 "\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"app\"}]}}}}",
                 k);
        kl_resource_t rsr = {"apps", "v1", "replicasets", ns, NULL, NULL};
        rs_uid_index = k;
        l.done = 0;
        l.inflight = 1;
        if (kl_client_create(c, &rsr, NULL, rs, strlen(rs), rs_cb, &l, NULL) < 0)
            return 1;
        while (l.done < 1)
            uv_run(&loop, UV_RUN_ONCE);
    }
    l.failed = 0;
    l.done = 0;
    l.total = n;
    double t0 = now_s();
    load_pump(&l);
    while (l.done < n)
        uv_run(&loop, UV_RUN_ONCE);
    double secs = now_s() - t0;
    printf("{\"loader\":\"kubelua\",\"pods\":%d,\"seconds\":%.2f,\"creates_per_s\":%.0f,"
           "\"failed\":%d}\n",
           n, secs, n / secs, l.failed);
    kl_client_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return l.failed ? 1 : 0;
}

static bool all_cached(kl_informer_t *inf, int n)
{
    return kl_informer_has_synced(inf) && kl_informer_len(inf) >= (size_t)n;
}

static int consume(const char *kubeconfig, int n, const char *mode, const char *ns,
                   const char *selector)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    kl_client_t *c = connect_client(&loop, kubeconfig, 50);
    kl_informer_opts_t o;
    kl_informer_opts_init(&o);
    o.resource = "v1/pods";
    o.namespace = ns;
    o.label_selector = selector;
    o.list_mode = strcmp(mode, "list") == 0 ? KL_LIST_PAGED : KL_LIST_WATCHLIST;
    kl_informer_t *inf;
    kl_errinfo_t err;
    if (kl_informer_new(c, &o, &inf, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    long rss0 = rss_bytes();
    double t0 = now_s(), c0 = cpu_s();
    if (kl_informer_start(inf) < 0)
        return 1;
    while (!all_cached(inf, n) && now_s() - t0 < 600)
        uv_run(&loop, UV_RUN_ONCE);
    double secs = now_s() - t0, cpus = cpu_s() - c0;
    long rss1 = rss_bytes();
    bool ok = all_cached(inf, n);
    kl_informer_stats_t st;
    kl_informer_stats(inf, &st);
    kl_client_stats_t cs;
    kl_client_stats(c, &cs);
    /* The JSON size of a cached pod, as the server sent it (managedFields stripped, if any). */
    double json = 0;
    kl_obj_t **objs;
    size_t cnt;
    if (kl_informer_list(inf, NULL, NULL, &objs, &cnt) == 0) {
        kl_buf_t b;
        kl_buf_init(&b, (size_t)1 << 20);
        size_t sample = cnt < 1000 ? cnt : 1000;
        for (size_t i = 0; i < sample; i++) {
            kl_buf_reset(&b);
            if (kl_val_encode(kl_obj_root(objs[i]), &b) == 0)
                json += (double)b.len;
        }
        json /= sample ? (double)sample : 1;
        kl_buf_cleanup(&b);
        kl_informer_list_free(objs, cnt);
    }
    printf("{\"consumer\":\"kubelua-%s\",\"pods\":%zu,\"seconds\":%.3f,\"cpu_seconds\":%.3f,"
           "\"pods_per_s\":%.0f,\"bytes_received\":%llu,\"json_bytes_per_pod\":%.0f,"
           "\"cache_bytes_per_pod\":%.0f,\"rss_bytes_per_pod\":%.0f}\n",
           mode, st.objects, secs, cpus, (double)st.objects / secs, (unsigned long long)cs.bytes_in,
           json, (double)st.bytes / (double)st.objects, (double)(rss1 - rss0) / (double)st.objects);
    kl_informer_free(inf);
    kl_client_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    kl_log_set_level(KL_LOG_WARN);
    if (argc < 2)
        return offline(100000, NULL);
    if (strcmp(argv[1], "offline") == 0)
        return offline(argc > 2 ? atoi(argv[2]) : 100000, argc > 3 ? argv[3] : NULL);
    if (strcmp(argv[1], "load") == 0 && argc >= 4)
        return load(argv[2], atoi(argv[3]), argc > 4 ? argv[4] : "bench");
    if (strcmp(argv[1], "consume") == 0 && argc >= 5)
        return consume(argv[2], atoi(argv[3]), argv[4], argc > 5 ? argv[5] : "bench",
                       argc > 6 ? argv[6] : NULL);
    fprintf(stderr, "usage: informer_bench [offline [N] [FILE] | load KUBECONFIG N [NS] | "
                    "consume KUBECONFIG N watchlist|list [NS [SELECTOR]]]\n");
    return 2;
}
