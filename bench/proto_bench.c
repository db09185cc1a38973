/* Protobuf request bodies to JSON (runtime/apiserver/proto.c): decode speed for a typical
 * Deployment (labels, annotations, two containers with env, ports, resources, probes, volume
 * mounts; volumes; a rolling-update strategy), and for comparison the JSON parse the server runs
 * next on the result.
 *
 *   proto_bench [iterations]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubelua/buf.h"
#include "kubelua/json.h"

#include "apiserver/proto.h"

static void die(const char *what)
{
    fprintf(stderr, "proto_bench: %s\n", what);
    exit(1);
}

static void raw(kl_buf_t *b, const void *p, size_t n)
{
    if (kl_buf_append(b, p, n) < 0)
        die("out of memory");
}

static void varint(kl_buf_t *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            t[n] |= 0x80;
        n++;
    } while (v);
    raw(b, t, n);
}

static void u(kl_buf_t *b, uint32_t num, uint64_t v)
{
    varint(b, (uint64_t)num << 3);
    varint(b, v);
}

static void bytes(kl_buf_t *b, uint32_t num, const void *p, size_t n)
{
    varint(b, (uint64_t)num << 3 | 2);
    varint(b, n);
    raw(b, p, n);
}

static void str(kl_buf_t *b, uint32_t num, const char *s)
{
    bytes(b, num, s, strlen(s));
}

static void msg(kl_buf_t *b, uint32_t num, kl_buf_t *sub)
{
    bytes(b, num, sub->data ? sub->data : "", sub->len);
    kl_buf_cleanup(sub);
}

static kl_buf_t fresh(void)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    return b;
}

static void entry(kl_buf_t *b, uint32_t num, const char *k, const char *v)
{
    kl_buf_t e = fresh();
    str(&e, 1, k);
    str(&e, 2, v);
    msg(b, num, &e);
}

static void quantity(kl_buf_t *b, uint32_t num, const char *k, const char *q)
{
    kl_buf_t qq = fresh(), e = fresh();
    str(&qq, 1, q);
    str(&e, 1, k);
    msg(&e, 2, &qq);
    msg(b, num, &e);
}

static void intstr(kl_buf_t *b, uint32_t num, int type, int iv, const char *sv)
{
    kl_buf_t x = fresh();
    u(&x, 1, (uint64_t)type);
    u(&x, 2, (uint64_t)iv);
    str(&x, 3, sv);
    msg(b, num, &x);
}

static void probe(kl_buf_t *c, uint32_t num, const char *path)
{
    kl_buf_t get = fresh(), h = fresh(), p = fresh();
    str(&get, 1, path);
    intstr(&get, 2, 0, 8080, "");
    str(&get, 4, "HTTP");
    msg(&h, 2, &get);
    msg(&p, 1, &h);
    u(&p, 2, 10);
    u(&p, 3, 1);
    u(&p, 4, 10);
    u(&p, 5, 1);
    u(&p, 6, 3);
    msg(c, num, &p);
}

static void container(kl_buf_t *spec, const char *name, const char *image)
{
    kl_buf_t c = fresh();
    str(&c, 1, name);
    str(&c, 2, image);
    str(&c, 4, "--config=/etc/app/config.yaml");
    str(&c, 4, "--log-level=info");
    for (int i = 0; i < 2; i++) {
        kl_buf_t port = fresh();
        str(&port, 1, i ? "metrics" : "http");
        u(&port, 3, i ? 9090 : 8080);
        str(&port, 4, "TCP");
        msg(&c, 6, &port);
    }
    static const char *const env[][2] = {
        {"APP_ENV", "production"}, {"LOG_FORMAT", "json"},
        {"CACHE_SIZE", "512"},     {"UPSTREAM", "http://api"},
        {"TIMEOUT", "30s"},        {"REGION", "eu-west-1"},
        {"FEATURE_X", "true"},     {"OTEL_ENDPOINT", "otel:4317"},
    };
    for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
        kl_buf_t e = fresh();
        str(&e, 1, env[i][0]);
        str(&e, 2, env[i][1]);
        msg(&c, 7, &e);
    }
    kl_buf_t res = fresh();
    quantity(&res, 1, "cpu", "500m");
    quantity(&res, 1, "memory", "512Mi");
    quantity(&res, 2, "cpu", "100m");
    quantity(&res, 2, "memory", "128Mi");
    msg(&c, 8, &res);
    static const char *const mounts[][2] = {
        {"config", "/etc/app"}, {"data", "/var/lib/app"}, {"tmp", "/tmp"}};
    for (size_t i = 0; i < 3; i++) {
        kl_buf_t m = fresh();
        str(&m, 1, mounts[i][0]);
        u(&m, 2, i == 0);
        str(&m, 3, mounts[i][1]);
        msg(&c, 9, &m);
    }
    probe(&c, 10, "/healthz");
    probe(&c, 11, "/readyz");
    str(&c, 13, "/dev/termination-log");
    str(&c, 14, "IfNotPresent");
    str(&c, 20, "File");
    msg(spec, 2, &c);
}

static void labels(kl_buf_t *md)
{
    entry(md, 11, "app.kubernetes.io/name", "web");
    entry(md, 11, "app.kubernetes.io/instance", "web-prod");
    entry(md, 11, "app.kubernetes.io/version", "2.4.1");
    entry(md, 11, "team", "storefront");
}

/* A typical Deployment, as a typed client encodes it (envelope included). */
static kl_buf_t deployment(void)
{
    kl_buf_t md = fresh();
    str(&md, 1, "web");
    str(&md, 2, "");
    str(&md, 3, "shop");
    u(&md, 7, 0);
    kl_buf_t ts = fresh();
    msg(&md, 8, &ts);
    labels(&md);
    entry(&md, 12, "deployment.kubernetes.io/revision", "7");
    entry(&md, 12, "owner", "storefront@example.com");
    entry(&md, 12, "description", "The storefront web tier, behind the public ingress.");

    kl_buf_t pod = fresh();
    for (int i = 0; i < 3; i++) {
        kl_buf_t vs = fresh(), v = fresh(), src = fresh();
        if (i == 0) {
            str(&src, 1, "web-config");
            kl_buf_t ref = fresh();
            msg(&ref, 1, &src);
            msg(&vs, 19, &ref);
        } else {
            msg(&vs, 2, &src);
        }
        str(&v, 1, i == 0 ? "config" : i == 1 ? "data" : "tmp");
        msg(&v, 2, &vs);
        msg(&pod, 1, &v);
    }
    container(&pod, "web", "registry.example.com/storefront/web:2.4.1");
    container(&pod, "sidecar", "registry.example.com/infra/envoy:1.30.2");
    str(&pod, 3, "Always");
    u(&pod, 4, 30);
    str(&pod, 6, "ClusterFirst");
    str(&pod, 8, "web");
    str(&pod, 19, "default-scheduler");
    kl_buf_t sc = fresh();
    u(&sc, 6, 1000); /* runAsGroup */
    msg(&pod, 14, &sc);

    kl_buf_t tmd = fresh();
    kl_buf_t ts2 = fresh();
    msg(&tmd, 8, &ts2);
    labels(&tmd);
    kl_buf_t tmpl = fresh();
    msg(&tmpl, 1, &tmd);
    msg(&tmpl, 2, &pod);

    kl_buf_t sel = fresh();
    entry(&sel, 1, "app.kubernetes.io/name", "web");
    entry(&sel, 1, "app.kubernetes.io/instance", "web-prod");
    kl_buf_t ru = fresh(), strat = fresh();
    intstr(&ru, 1, 1, 0, "25%");
    intstr(&ru, 2, 1, 0, "25%");
    str(&strat, 1, "RollingUpdate");
    msg(&strat, 2, &ru);

    kl_buf_t spec = fresh();
    u(&spec, 1, 6);
    msg(&spec, 2, &sel);
    msg(&spec, 3, &tmpl);
    msg(&spec, 4, &strat);
    u(&spec, 5, 10);
    u(&spec, 6, 10);
    u(&spec, 7, 0);
    u(&spec, 9, 600);

    kl_buf_t obj = fresh(), status = fresh();
    msg(&obj, 1, &md);
    msg(&obj, 2, &spec);
    msg(&obj, 3, &status);

    kl_buf_t tm = fresh(), env = fresh();
    str(&tm, 1, "apps/v1");
    str(&tm, 2, "Deployment");
    raw(&env, "k8s\0", 4);
    msg(&env, 1, &tm);
    msg(&env, 2, &obj);
    str(&env, 3, "");
    str(&env, 4, "");
    return env;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 200000;
    kl_buf_t pb = deployment();
    kl_buf_t out;
    kl_buf_init(&out, 0);
    kl_errinfo_t err;
    if (kl_proto_to_json(pb.data, pb.len, NULL, NULL, &out, NULL, &err) < 0)
        die(err.msg);
    printf("Deployment: %zu bytes protobuf -> %zu bytes JSON\n", pb.len, out.len);
    if (getenv("PROTO_BENCH_PRINT"))
        printf("%s\n", out.data);

    double best = 1e9;
    for (int round = 0; round < 5; round++) {
        double t0 = now_s();
        for (int i = 0; i < iters / 5; i++) {
            kl_buf_reset(&out);
            if (kl_proto_to_json(pb.data, pb.len, NULL, NULL, &out, NULL, &err) < 0)
                die(err.msg);
        }
        double t = (now_s() - t0) / (iters / 5);
        if (t < best)
            best = t;
    }
    printf("protobuf -> JSON text: %.2f us per object, %.0f MB/s of protobuf, %.0f MB/s of JSON "
           "written\n",
           best * 1e6, (double)pb.len / best / 1e6, (double)out.len / best / 1e6);

    if (getenv("PROTO_BENCH_ONLY")) {
        kl_buf_cleanup(&out);
        kl_buf_cleanup(&pb);
        return 0;
    }
    double bestj = 1e9;
    for (int round = 0; round < 5; round++) {
        double t0 = now_s();
        for (int i = 0; i < iters / 5; i++) {
            kl_json_t *j = NULL;
            if (kl_json_parse(out.data, out.len, NULL, &j, NULL) < 0)
                die("JSON parse failed");
            kl_json_free(j);
        }
        double t = (now_s() - t0) / (iters / 5);
        if (t < bestj)
            bestj = t;
    }
    printf("the server's next step, kl_json_parse of that JSON: %.2f us per object (%.0f MB/s)\n",
           bestj * 1e6, (double)out.len / bestj / 1e6);
    kl_buf_cleanup(&out);
    kl_buf_cleanup(&pb);
    return 0;
}
