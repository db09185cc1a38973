/* Protobuf request bodies to JSON: the bodies kubectl 1.32 sends (captured in
 * tests/fixtures/proto, compared with Go's own JSON of the same objects), hand-built messages for
 * each special type and rule, malformed input, limits, and mutated fixtures that must never
 * crash. */
#include "kubelua/json.h"

#include "apiserver/proto.h"
#include "apiserver/proto_int.h"
#include "unit/test_util.h"

/* ---- A small protobuf writer ------------------------------------------------------------- */

typedef kl_buf_t pb_t;

static void pb_init(pb_t *b)
{
    kl_buf_init(b, 64 << 20);
}

static void pb_raw(pb_t *b, const void *p, size_t n)
{
    assert_int_equal(kl_buf_append(b, p, n), 0);
}

static void pb_varint(pb_t *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    pb_raw(b, tmp, n);
}

static void pb_key(pb_t *b, uint32_t num, int wt)
{
    pb_varint(b, (uint64_t)num << 3 | (uint64_t)wt);
}

static void pb_uint(pb_t *b, uint32_t num, uint64_t v)
{
    pb_key(b, num, 0);
    pb_varint(b, v);
}

static void pb_bytes(pb_t *b, uint32_t num, const void *p, size_t n)
{
    pb_key(b, num, 2);
    pb_varint(b, n);
    pb_raw(b, p, n);
}

static void pb_str(pb_t *b, uint32_t num, const char *s)
{
    pb_bytes(b, num, s, strlen(s));
}

/* Appends sub as field num and frees it. */
static void pb_msg(pb_t *b, uint32_t num, pb_t *sub)
{
    pb_bytes(b, num, sub->data ? sub->data : "", sub->len);
    kl_buf_cleanup(sub);
}

static void pb_fixed64(pb_t *b, uint32_t num, uint64_t v)
{
    pb_key(b, num, 1);
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    pb_raw(b, t, 8);
}

static void pb_double(pb_t *b, uint32_t num, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    pb_fixed64(b, num, u);
}

/* A map<string,string> entry. */
static void pb_entry(pb_t *b, uint32_t num, const char *k, const char *v)
{
    pb_t e;
    pb_init(&e);
    pb_str(&e, 1, k);
    pb_str(&e, 2, v);
    pb_msg(b, num, &e);
}

/* The envelope around raw (freed). */
static void envelope(pb_t *out, const char *av, const char *kind, pb_t *raw)
{
    pb_init(out);
    pb_raw(out, "k8s\0", 4);
    pb_t tm;
    pb_init(&tm);
    if (av)
        pb_str(&tm, 1, av);
    if (kind)
        pb_str(&tm, 2, kind);
    pb_msg(out, 1, &tm);
    if (raw)
        pb_msg(out, 2, raw);
    pb_str(out, 3, "");
    pb_str(out, 4, "");
}

/* Converts an envelope; returns the JSON (malloc'ed) or NULL with *rc and err set. */
static char *conv(const void *body, size_t n, int *rc, kl_errinfo_t *err)
{
    kl_buf_t out;
    kl_buf_init(&out, 3 << 20);
    *rc = kl_proto_to_json(body, n, NULL, NULL, &out, NULL, err);
    if (*rc < 0) {
        kl_buf_cleanup(&out);
        return NULL;
    }
    return kl_buf_take(&out, NULL);
}

static char *conv_env(pb_t *env, int *rc, kl_errinfo_t *err)
{
    char *s = conv(env->data, env->len, rc, err);
    kl_buf_cleanup(env);
    return s;
}

static void expect_json(pb_t *env, const char *want)
{
    int rc;
    kl_errinfo_t err;
    char *got = conv_env(env, &rc, &err);
    if (got == NULL)
        fail_msg("conversion failed (%d): %s", rc, err.msg);
    if (strcmp(got, want) != 0)
        fail_msg("\n got: %s\nwant: %s", got, want);
    free(got);
}

static void expect_error(pb_t *env, int want_rc, const char *needle)
{
    int rc;
    kl_errinfo_t err;
    char *got = conv_env(env, &rc, &err);
    if (got)
        fail_msg("expected an error, got %s", got);
    assert_int_equal(rc, want_rc);
    if (needle && strstr(err.msg, needle) == NULL)
        fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

/* One message by protobuf name, without envelope. */
static char *named(const char *msg, pb_t *raw, int *rc, kl_errinfo_t *err)
{
    kl_buf_t out;
    kl_buf_init(&out, 3 << 20);
    *rc = kl__proto_named_to_json(msg, raw->data ? raw->data : "", raw->len, &out, err);
    kl_buf_cleanup(raw);
    if (*rc < 0) {
        kl_buf_cleanup(&out);
        return NULL;
    }
    return kl_buf_take(&out, NULL);
}

static void expect_named(const char *msg, pb_t *raw, const char *want)
{
    int rc;
    kl_errinfo_t err;
    char *got = named(msg, raw, &rc, &err);
    if (got == NULL)
        fail_msg("%s failed (%d): %s", msg, rc, err.msg);
    if (strcmp(got, want) != 0)
        fail_msg("\n got: %s\nwant: %s", got, want);
    free(got);
}

/* ---- What kubectl 1.32 sends ------------------------------------------------------------- */

static const char *const fixtures[] = {
    "create-configmap",
    "create-secret-generic",
    "create-secret-tls",
    "create-secret-docker-registry",
    "create-namespace",
    "create-deployment",
    "create-deployment-replicas0",
    "create-job",
    "create-cronjob",
    "create-job-from-cronjob",
    "create-service-clusterip",
    "create-service-nodeport",
    "create-service-loadbalancer",
    "create-service-externalname",
    "create-serviceaccount",
    "create-role",
    "create-rolebinding",
    "create-clusterrole",
    "create-clusterrolebinding",
    "create-quota",
    "create-priorityclass",
    "create-priorityclass-value0",
    "create-pdb-min-available",
    "create-pdb-max-unavailable0",
    "create-ingress",
    "create-ingress-default-backend",
    "create-token",
    "create-token-duration",
    "autoscale",
    "auth-can-i",
    NULL,
};

static void test_kubectl_fixtures(void **state)
{
    (void)state;
    for (size_t i = 0; fixtures[i]; i++) {
        char name[128];
        size_t n, wn;
        snprintf(name, sizeof(name), "proto/%s.bin", fixtures[i]);
        char *bin = kl_test_read_fixture(name, &n);
        snprintf(name, sizeof(name), "proto/%s.json", fixtures[i]);
        char *want = kl_test_read_fixture(name, &wn);
        while (wn && (want[wn - 1] == '\n' || want[wn - 1] == ' '))
            want[--wn] = '\0';
        int rc;
        kl_errinfo_t err;
        char *got = conv(bin, n, &rc, &err);
        if (got == NULL)
            fail_msg("%s: %s", fixtures[i], err.msg);
        if (strcmp(got, want) != 0)
            fail_msg("%s:\n got: %s\nwant: %s", fixtures[i], got, want);
        /* And the server can read it back. */
        kl_json_t *j = NULL;
        assert_int_equal(kl_json_parse(got, strlen(got), NULL, &j, NULL), 0);
        kl_json_free(j);
        free(got);
        free(want);
        free(bin);
    }
}

/* Values a JSON client gets wrong when zero values are dropped blindly. */
static void test_pointer_zero_values(void **state)
{
    (void)state;
    size_t n;
    char *bin = kl_test_read_fixture("proto/create-deployment-replicas0.bin", &n);
    int rc;
    kl_errinfo_t err;
    char *got = conv(bin, n, &rc, &err);
    assert_non_null(got);
    assert_non_null(strstr(got, "\"replicas\":0")); /* *int32 */
    assert_non_null(strstr(got, "\"strategy\":{}"));
    free(got);
    free(bin);
    bin = kl_test_read_fixture("proto/create-pdb-max-unavailable0.bin", &n);
    got = conv(bin, n, &rc, &err);
    assert_non_null(got);
    assert_non_null(strstr(got, "\"maxUnavailable\":0"));     /* *IntOrString */
    assert_non_null(strstr(got, "\"disruptionsAllowed\":0")); /* int32, not omitempty */
    free(got);
    free(bin);
}

/* ---- Rules, one by one ------------------------------------------------------------------- */

static void test_scalars_and_omitempty(void **state)
{
    (void)state;
    pb_t md, raw, env;
    pb_init(&md);
    pb_str(&md, 1, "c");
    pb_str(&md, 2, "");                /* generateName "": omitempty, left out */
    pb_uint(&md, 7, (1ull << 62) + 1); /* generation: int64 exact */
    pb_uint(&md, 10, 0);               /* deletionGracePeriodSeconds *int64 = 0: kept */
    pb_entry(&md, 11, "z", "1");       /* labels: sorted, last duplicate wins */
    pb_entry(&md, 11, "a", "x");
    pb_entry(&md, 11, "z", "2");
    pb_str(&md, 14, "f1"); /* finalizers */
    pb_str(&md, 14, "");   /* empty element kept in an array */
    pb_init(&raw);
    pb_msg(&raw, 1, &md);
    pb_uint(&raw, 4, 0); /* immutable *bool false: kept */
    envelope(&env, "v1", "ConfigMap", &raw);
    expect_json(&env, "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"c\","
                      "\"generation\":4611686018427387905,\"deletionGracePeriodSeconds\":0,"
                      "\"labels\":{\"a\":\"x\",\"z\":\"2\"},\"finalizers\":[\"f1\",\"\"]},"
                      "\"immutable\":false}");

    /* Negative int32 (varint of 10 bytes), bool from any non-zero varint. */
    pb_t spec;
    pb_init(&spec);
    pb_uint(&spec, 1, (uint64_t)(int64_t)-5); /* parallelism */
    pb_uint(&spec, 10, 7);                    /* suspend */
    pb_init(&raw);
    pb_msg(&raw, 2, &spec);
    envelope(&env, "batch/v1", "Job", &raw);
    expect_json(&env, "{\"kind\":\"Job\",\"apiVersion\":\"batch/v1\",\"spec\":{\"parallelism\":-5,"
                      "\"suspend\":true}}");
}

static void test_bytes_base64_and_utf8(void **state)
{
    (void)state;
    pb_t raw, env, e;
    pb_init(&raw);
    const char *vals[] = {"", "a", "ab", "abc", "\xff\x00\x80"};
    const char *keys[] = {"e0", "e1", "e2", "e3", "e4"};
    for (int i = 0; i < 5; i++) {
        pb_init(&e);
        pb_str(&e, 1, keys[i]);
        pb_bytes(&e, 2, vals[i], i == 4 ? 3 : strlen(vals[i]));
        pb_msg(&raw, 2, &e);
    }
    pb_str(&raw, 3, "Opaque\xc3\x28 \xe2\x82\xac \"q\"\n\x01");
    envelope(&env, "v1", "Secret", &raw);
    expect_json(&env, "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"data\":{\"e0\":\"\","
                      "\"e1\":\"YQ==\",\"e2\":\"YWI=\",\"e3\":\"YWJj\",\"e4\":\"/wCA\"},"
                      "\"type\":\"Opaque\\ufffd( \xe2\x82\xac \\\"q\\\"\\n\\u0001\"}");
}

static void test_time_and_microtime(void **state)
{
    (void)state;
    pb_t t, env, raw, md;
    /* 2024-02-29T12:34:56.789123456Z */
    pb_init(&t);
    pb_uint(&t, 1, 1709210096);
    pb_uint(&t, 2, 789123456);
    expect_named("k8s.io.apimachinery.pkg.apis.meta.v1.Time", &t, "\"2024-02-29T12:34:56Z\"");
    pb_init(&t);
    pb_uint(&t, 1, 1709210096);
    pb_uint(&t, 2, 789123456);
    expect_named("k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime", &t,
                 "\"2024-02-29T12:34:56.789123Z\"");
    /* Empty message: Go's zero time, null. Explicit epoch: 1970. */
    pb_init(&t);
    expect_named("k8s.io.apimachinery.pkg.apis.meta.v1.Time", &t, "null");
    pb_init(&t);
    pb_uint(&t, 1, 0);
    expect_named("k8s.io.apimachinery.pkg.apis.meta.v1.Time", &t, "\"1970-01-01T00:00:00Z\"");
    /* Before the epoch, and nanoseconds to normalise. */
    pb_init(&t);
    pb_uint(&t, 1, (uint64_t)(int64_t)-1);
    pb_uint(&t, 2, 1500000000);
    expect_named("k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime", &t,
                 "\"1970-01-01T00:00:00.500000Z\"");
    pb_init(&t);
    pb_uint(&t, 1, (uint64_t)(int64_t)-62135596800); /* 0001-01-01: zero time */
    expect_named("k8s.io.apimachinery.pkg.apis.meta.v1.Time", &t, "null");
    pb_init(&t);
    pb_uint(&t, 1, 253402300799);
    expect_named("k8s.io.apimachinery.pkg.apis.meta.v1.Time", &t, "\"9999-12-31T23:59:59Z\"");
    pb_init(&t);
    pb_uint(&t, 1, 253402300800);
    int rc;
    kl_errinfo_t err;
    assert_null(named("k8s.io.apimachinery.pkg.apis.meta.v1.Time", &t, &rc, &err));
    assert_int_equal(rc, KL_EBADREQUEST);

    /* In an object: creationTimestamp (empty) and a deletionTimestamp. */
    pb_init(&md);
    pb_str(&md, 1, "x");
    pb_init(&t);
    pb_msg(&md, 8, &t);
    pb_init(&t);
    pb_uint(&t, 1, 86400 * 365);
    pb_msg(&md, 9, &t);
    pb_init(&raw);
    pb_msg(&raw, 1, &md);
    envelope(&env, "v1", "Pod", &raw);
    expect_json(&env,
                "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"x\","
                "\"creationTimestamp\":null,\"deletionTimestamp\":\"1971-01-01T00:00:00Z\"}}");
}

static void test_duration(void **state)
{
    (void)state;
    static const struct {
        int64_t ns;
        const char *want;
    } cases[] = {
        {0, "\"0s\""},
        {1, "\"1ns\""},
        {1500, "\"1.5\xc2\xb5s\""},
        {100000000, "\"100ms\""},
        {1500000000, "\"1.5s\""},
        {60000000000, "\"1m0s\""},
        {3600000000000, "\"1h0m0s\""},
        {-90000000000, "\"-1m30s\""},
        {INT64_MIN, "\"-2562047h47m16.854775808s\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pb_t d;
        pb_init(&d);
        if (cases[i].ns)
            pb_uint(&d, 1, (uint64_t)cases[i].ns);
        expect_named("k8s.io.apimachinery.pkg.apis.meta.v1.Duration", &d, cases[i].want);
    }
}

static void test_intorstring_and_quantity(void **state)
{
    (void)state;
    /* ServicePort.targetPort: non-pointer omitempty; zero left out, values kept. */
    pb_t port, spec, raw, env, ios;
    pb_init(&spec);
    for (int i = 0; i < 3; i++) {
        pb_init(&port);
        pb_uint(&port, 3, 80);
        pb_init(&ios);
        pb_uint(&ios, 1, i == 2 ? 1 : 0);
        pb_uint(&ios, 2, i == 1 ? 8080 : 0);
        pb_str(&ios, 3, i == 2 ? "http" : "");
        pb_msg(&port, 4, &ios);
        pb_msg(&spec, 1, &port);
    }
    pb_init(&raw);
    pb_msg(&raw, 2, &spec);
    envelope(&env, "v1", "Service", &raw);
    expect_json(&env, "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"spec\":{\"ports\":["
                      "{\"port\":80},{\"port\":80,\"targetPort\":8080},"
                      "{\"port\":80,\"targetPort\":\"http\"}]}}");
    /* A bad type. */
    pb_init(&ios);
    pb_uint(&ios, 1, 7);
    int rc;
    kl_errinfo_t err;
    assert_null(named("k8s.io.apimachinery.pkg.util.intstr.IntOrString", &ios, &rc, &err));
    assert_int_equal(rc, KL_EBADREQUEST);

    /* Quantities in a ResourceList map, and an EmptyDir sizeLimit. */
    pb_t q, e;
    pb_init(&q);
    pb_str(&q, 1, "500m");
    pb_init(&e);
    pb_str(&e, 1, "cpu");
    pb_msg(&e, 2, &q);
    pb_t hard;
    pb_init(&hard);
    pb_msg(&hard, 1, &e);
    pb_init(&e);
    pb_str(&e, 1, "pods");
    pb_init(&q);
    pb_msg(&e, 2, &q); /* empty Quantity: "0" */
    pb_msg(&hard, 1, &e);
    pb_init(&raw);
    pb_msg(&raw, 2, &hard);
    envelope(&env, "v1", "ResourceQuota", &raw);
    expect_json(&env, "{\"kind\":\"ResourceQuota\",\"apiVersion\":\"v1\",\"spec\":{\"hard\":"
                      "{\"cpu\":\"500m\",\"pods\":\"0\"}}}");
}

static void test_inline_members(void **state)
{
    (void)state;
    /* Volume{name, volumeSource{emptyDir{medium}}} and Probe{handler{exec}}: inlined. */
    pb_t ed, vs, vol, spec, raw, env;
    pb_init(&ed);
    pb_str(&ed, 1, "Memory");
    pb_init(&vs);
    pb_msg(&vs, 2, &ed);
    pb_init(&vol);
    pb_str(&vol, 1, "v");
    pb_msg(&vol, 2, &vs);
    pb_init(&spec);
    pb_msg(&spec, 1, &vol);
    pb_t c, probe, handler, exec;
    pb_init(&exec);
    pb_str(&exec, 1, "true");
    pb_init(&handler);
    pb_msg(&handler, 1, &exec);
    pb_init(&probe);
    pb_msg(&probe, 1, &handler);
    pb_uint(&probe, 3, 5);
    pb_init(&c);
    pb_str(&c, 1, "c");
    pb_msg(&c, 10, &probe);
    pb_msg(&spec, 2, &c);
    pb_init(&raw);
    pb_msg(&raw, 2, &spec);
    envelope(&env, "v1", "Pod", &raw);
    expect_json(&env, "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"spec\":{\"volumes\":[{\"name\":"
                      "\"v\",\"emptyDir\":{\"medium\":\"Memory\"}}],\"containers\":[{\"name\":"
                      "\"c\",\"livenessProbe\":{\"exec\":{\"command\":[\"true\"]},"
                      "\"timeoutSeconds\":5}}]}}");
}

static void test_go_struct_order_and_merging(void **state)
{
    (void)state;
    /* Fields arrive in any order and a repeated field may be interleaved: JSON follows the Go
     * struct. Two occurrences of metadata merge; a repeated scalar keeps the last value. */
    pb_t md1, md2, raw, env;
    pb_init(&raw);
    pb_str(&raw, 3, "kubernetes.io/tls"); /* type */
    pb_entry(&raw, 2, "b", "Yg==");
    pb_init(&md1);
    pb_str(&md1, 1, "first");
    pb_msg(&raw, 1, &md1);
    pb_entry(&raw, 2, "a", "YQ==");
    pb_init(&md2);
    pb_str(&md2, 3, "ns");
    pb_str(&md2, 1, "second");
    pb_msg(&raw, 1, &md2);
    pb_str(&raw, 3, "Opaque");
    envelope(&env, "v1", "Secret", &raw);
    expect_json(&env, "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"
                      "\"second\",\"namespace\":\"ns\"},\"data\":{\"a\":\"WVE9PQ==\",\"b\":"
                      "\"WWc9PQ==\"},\"type\":\"Opaque\"}");
}

static void test_packed_and_unknown_fields(void **state)
{
    (void)state;
    /* PodFailurePolicyOnExitCodesRequirement.values: packed and unpacked in one message. */
    pb_t req;
    pb_init(&req);
    pb_str(&req, 2, "In");
    pb_uint(&req, 3, 1);
    pb_key(&req, 3, 2);
    pb_varint(&req, 3);
    pb_varint(&req, 2);
    pb_varint(&req, 300); /* two bytes */
    pb_uint(&req, 3, (uint64_t)(int64_t)-1);
    pb_uint(&req, 99, 5);         /* unknown varint */
    pb_str(&req, 100, "skipped"); /* unknown bytes */
    pb_fixed64(&req, 101, 42);    /* unknown fixed64 */
    pb_key(&req, 102, 5);         /* unknown fixed32 */
    pb_raw(&req, "\1\2\3\4", 4);
    expect_named("k8s.io.api.batch.v1.PodFailurePolicyOnExitCodesRequirement", &req,
                 "{\"operator\":\"In\",\"values\":[1,2,300,-1]}");
}

static void test_raw_json(void **state)
{
    (void)state;
    pb_t re, raw, env;
    pb_init(&re);
    pb_str(&re, 1, " {\"spec\": {\"template\":\n{\"$patch\": \"re place\"}}} ");
    pb_init(&raw);
    pb_msg(&raw, 2, &re);
    pb_uint(&raw, 3, 0); /* revision: int64, not omitempty */
    envelope(&env, "apps/v1", "ControllerRevision", &raw);
    expect_json(&env, "{\"kind\":\"ControllerRevision\",\"apiVersion\":\"apps/v1\",\"data\":"
                      "{\"spec\":{\"template\":{\"$patch\":\"re place\"}}},\"revision\":0}");
    /* Not one JSON value: refused, never spliced. */
    pb_init(&re);
    pb_str(&re, 1, "1,\"kind\":\"Secret\"");
    pb_init(&raw);
    pb_msg(&raw, 2, &re);
    envelope(&env, "apps/v1", "ControllerRevision", &raw);
    expect_error(&env, KL_EBADREQUEST, "raw JSON");
    /* managedFields[].fieldsV1 */
    pb_t fv, mf, md;
    pb_init(&fv);
    pb_str(&fv, 1, "{\"f:data\":{}}");
    pb_init(&mf);
    pb_str(&mf, 1, "kubectl");
    pb_str(&mf, 6, "FieldsV1");
    pb_msg(&mf, 7, &fv);
    pb_init(&md);
    pb_msg(&md, 17, &mf);
    pb_init(&raw);
    pb_msg(&raw, 1, &md);
    envelope(&env, "v1", "ConfigMap", &raw);
    expect_json(&env, "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{"
                      "\"managedFields\":[{\"manager\":\"kubectl\",\"fieldsType\":\"FieldsV1\","
                      "\"fieldsV1\":{\"f:data\":{}}}]}}");
}

static void test_delete_options_and_eviction(void **state)
{
    (void)state;
    pb_t opts, pre, env, ev, md;
    pb_init(&opts);
    pb_uint(&opts, 1, 0); /* gracePeriodSeconds 0: kept, it means "now" */
    pb_init(&pre);
    pb_str(&pre, 1, "u-1");
    pb_msg(&opts, 2, &pre);
    pb_str(&opts, 4, "Foreground");
    pb_str(&opts, 5, "All");
    envelope(&env, "batch/v1", "DeleteOptions", &opts);
    expect_json(&env, "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"batch/v1\","
                      "\"gracePeriodSeconds\":0,\"preconditions\":{\"uid\":\"u-1\"},"
                      "\"propagationPolicy\":\"Foreground\",\"dryRun\":[\"All\"]}");
    /* Empty typeMeta: the endpoint's type fills it. */
    pb_init(&opts);
    pb_str(&opts, 4, "Orphan");
    envelope(&env, NULL, NULL, &opts);
    kl_buf_t out;
    kl_buf_init(&out, 0);
    kl_errinfo_t err;
    kl_proto_type_t t;
    assert_int_equal(kl_proto_to_json(env.data, env.len, "v1", "DeleteOptions", &out, &t, &err), 0);
    assert_string_equal(out.data, "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                                  "\"propagationPolicy\":\"Orphan\"}");
    assert_string_equal(t.kind, "DeleteOptions");
    kl_buf_cleanup(&out);
    kl_buf_cleanup(&env);
    /* policy/v1 Eviction with deleteOptions. */
    pb_init(&md);
    pb_str(&md, 1, "p");
    pb_str(&md, 3, "default");
    pb_init(&opts);
    pb_uint(&opts, 1, 30);
    pb_init(&ev);
    pb_msg(&ev, 1, &md);
    pb_msg(&ev, 2, &opts);
    envelope(&env, "policy/v1", "Eviction", &ev);
    expect_json(&env, "{\"kind\":\"Eviction\",\"apiVersion\":\"policy/v1\",\"metadata\":{"
                      "\"name\":\"p\",\"namespace\":\"default\"},\"deleteOptions\":{"
                      "\"gracePeriodSeconds\":30}}");
}

static void test_crd_schema(void **state)
{
    (void)state;
    /* JSONSchemaProps: renamed members ($ref, x-kubernetes-*), doubles, unions, JSON values. */
    const char *pkg = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.";
    pb_t s, sub, orb, ora, def, e;
    pb_init(&s);
    pb_str(&s, 5, "object");
    pb_double(&s, 9, 1.5);
    pb_double(&s, 11, 1e21);
    pb_double(&s, 19, 1e-7);
    pb_uint(&s, 38, 1);
    pb_str(&s, 42, "map");
    pb_str(&s, 3, "#/definitions/x");
    pb_init(&def);
    pb_str(&def, 1, "{\"a\":[1,2]}");
    pb_msg(&s, 8, &def);
    /* properties: {b: {type: integer, maximum: 100}} */
    pb_init(&sub);
    pb_str(&sub, 5, "integer");
    pb_double(&sub, 9, 100);
    pb_init(&e);
    pb_str(&e, 1, "b");
    pb_msg(&e, 2, &sub);
    pb_msg(&s, 29, &e);
    /* additionalProperties: false (no schema) */
    pb_init(&orb);
    pb_uint(&orb, 1, 0);
    pb_msg(&s, 30, &orb);
    /* items: a single schema */
    pb_init(&sub);
    pb_str(&sub, 5, "string");
    pb_init(&ora);
    pb_msg(&ora, 1, &sub);
    pb_msg(&s, 24, &ora);
    char name[160];
    snprintf(name, sizeof(name), "%sJSONSchemaProps", pkg);
    expect_named(name, &s,
                 "{\"$ref\":\"#/definitions/x\",\"type\":\"object\",\"default\":{\"a\":[1,2]},"
                 "\"maximum\":1.5,\"minimum\":1e+21,\"multipleOf\":1e-7,\"items\":{\"type\":"
                 "\"string\"},\"properties\":{\"b\":{\"type\":\"integer\",\"maximum\":100}},"
                 "\"additionalProperties\":false,\"x-kubernetes-preserve-unknown-fields\":true,"
                 "\"x-kubernetes-list-type\":\"map\"}");
    /* A whole CRD through the envelope. */
    pb_t crd, spec, names, ver, val, md, env;
    pb_init(&names);
    pb_str(&names, 1, "widgets");
    pb_str(&names, 4, "Widget");
    pb_init(&s);
    pb_str(&s, 5, "object");
    pb_init(&val);
    pb_msg(&val, 1, &s);
    pb_init(&ver);
    pb_str(&ver, 1, "v1");
    pb_uint(&ver, 2, 1);
    pb_uint(&ver, 3, 1);
    pb_msg(&ver, 4, &val);
    pb_init(&spec);
    pb_str(&spec, 1, "example.com");
    pb_msg(&spec, 3, &names);
    pb_str(&spec, 4, "Namespaced");
    pb_msg(&spec, 7, &ver);
    pb_init(&md);
    pb_str(&md, 1, "widgets.example.com");
    pb_init(&crd);
    pb_msg(&crd, 1, &md);
    pb_msg(&crd, 2, &spec);
    envelope(&env, "apiextensions.k8s.io/v1", "CustomResourceDefinition", &crd);
    expect_json(&env, "{\"kind\":\"CustomResourceDefinition\",\"apiVersion\":"
                      "\"apiextensions.k8s.io/v1\",\"metadata\":{\"name\":"
                      "\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\",\"names\":{"
                      "\"plural\":\"widgets\",\"kind\":\"Widget\"},\"scope\":\"Namespaced\","
                      "\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true,"
                      "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\"}}}]}}");
}

/* ---- Malformed input and limits ---------------------------------------------------------- */

static void test_envelope_errors(void **state)
{
    (void)state;
    int rc;
    kl_errinfo_t err;
    assert_null(conv("{\"kind\":\"Pod\"}", 14, &rc, &err));
    assert_int_equal(rc, KL_EBADREQUEST);
    assert_non_null(strstr(err.msg, "expected prefix [107 56 115 0]"));
    assert_null(conv("k8s\0", 4, &rc, &err));
    assert_int_equal(rc, KL_EBADREQUEST);
    assert_null(conv("k8", 2, &rc, &err));
    assert_int_equal(rc, KL_EBADREQUEST);

    pb_t env;
    envelope(&env, NULL, NULL, NULL);
    expect_error(&env, KL_EBADREQUEST, "Kind");
    envelope(&env, "v1", NULL, NULL);
    expect_error(&env, KL_EBADREQUEST, "Kind");
    envelope(&env, NULL, "Pod", NULL);
    expect_error(&env, KL_EBADREQUEST, "apiVersion");
    envelope(&env, "example.com/v1", "Widget", NULL);
    expect_error(&env, KL_ENOTFOUND, "Widget");
    envelope(&env, "v1", "Po\"d", NULL);
    expect_error(&env, KL_EBADREQUEST, "kind");
    /* No raw: an empty object of that kind. */
    envelope(&env, "v1", "Pod", NULL);
    expect_json(&env, "{\"kind\":\"Pod\",\"apiVersion\":\"v1\"}");
}

static void test_wire_errors(void **state)
{
    (void)state;
    pb_t raw, env;
    /* Truncated varint. */
    pb_init(&raw);
    pb_key(&raw, 4, 0);
    pb_raw(&raw, "\x80", 1);
    envelope(&env, "v1", "ConfigMap", &raw);
    expect_error(&env, KL_EBADREQUEST, "truncated varint");
    /* Varint longer than 64 bits. */
    pb_init(&raw);
    pb_key(&raw, 4, 0);
    pb_raw(&raw, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10);
    envelope(&env, "v1", "ConfigMap", &raw);
    expect_error(&env, KL_EBADREQUEST, "overflows");
    /* Length past the end, inside a nested message. */
    pb_t md;
    pb_init(&md);
    pb_key(&md, 1, 2);
    pb_varint(&md, 50);
    pb_raw(&md, "abc", 3);
    pb_init(&raw);
    pb_msg(&raw, 1, &md);
    envelope(&env, "v1", "ConfigMap", &raw);
    expect_error(&env, KL_EBADREQUEST, "metadata");
    /* A group. */
    pb_init(&raw);
    pb_key(&raw, 9, 3);
    envelope(&env, "v1", "ConfigMap", &raw);
    expect_error(&env, KL_EBADREQUEST, "group");
    /* Field number 0, and wire type 7. */
    pb_init(&raw);
    pb_raw(&raw, "\x00\x01", 2);
    envelope(&env, "v1", "ConfigMap", &raw);
    expect_error(&env, KL_EBADREQUEST, "field number");
    pb_init(&raw);
    pb_key(&raw, 1, 7);
    envelope(&env, "v1", "ConfigMap", &raw);
    expect_error(&env, KL_EBADREQUEST, "wire type");
    /* Known field with the wrong wire type: a string sent as varint. */
    pb_init(&raw);
    pb_uint(&raw, 3, 1);
    envelope(&env, "v1", "Secret", &raw);
    expect_error(&env, KL_EBADREQUEST, "type");
    /* Map entry key as varint. */
    pb_t e;
    pb_init(&e);
    pb_uint(&e, 1, 5);
    pb_init(&raw);
    pb_msg(&raw, 2, &e);
    envelope(&env, "v1", "ConfigMap", &raw);
    expect_error(&env, KL_EBADREQUEST, "map key");
    /* The error names the path. */
    pb_t spec, tmpl, pspec, c;
    pb_init(&c);
    pb_uint(&c, 2, 1); /* image as varint */
    pb_init(&pspec);
    pb_msg(&pspec, 2, &c);
    pb_init(&tmpl);
    pb_msg(&tmpl, 2, &pspec);
    pb_init(&spec);
    pb_msg(&spec, 3, &tmpl);
    pb_init(&raw);
    pb_msg(&raw, 2, &spec);
    envelope(&env, "apps/v1", "Deployment", &raw);
    expect_error(&env, KL_EBADREQUEST, "spec.template.spec.containers[0].image");
}

static void test_depth_and_size_limits(void **state)
{
    (void)state;
    /* JSONSchemaProps nested through `not` deeper than the limit. */
    pb_t s;
    pb_init(&s);
    pb_str(&s, 5, "object");
    for (int i = 0; i < KL_PROTO_MAX_DEPTH + 5; i++) {
        pb_t outer;
        pb_init(&outer);
        pb_msg(&outer, 28, &s);
        s = outer;
    }
    int rc;
    kl_errinfo_t err;
    assert_null(named("k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
                      &s, &rc, &err));
    assert_int_equal(rc, KL_EBADREQUEST);
    assert_non_null(strstr(err.msg, "nested deeper"));
    /* Just under the limit works. */
    pb_init(&s);
    for (int i = 0; i < KL_PROTO_MAX_DEPTH - 2; i++) {
        pb_t outer;
        pb_init(&outer);
        pb_msg(&outer, 28, &s);
        s = outer;
    }
    char *got = named("k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
                      &s, &rc, &err);
    assert_non_null(got);
    free(got);

    /* The JSON ceiling: 1 MiB of bytes becomes 1.33 MiB of base64. */
    size_t big = 1 << 20;
    char *blob = calloc(1, big);
    pb_t e, raw, env;
    pb_init(&e);
    pb_str(&e, 1, "k");
    pb_bytes(&e, 2, blob, big);
    pb_init(&raw);
    pb_msg(&raw, 2, &e);
    free(blob);
    envelope(&env, "v1", "Secret", &raw);
    kl_buf_t out;
    kl_buf_init(&out, 1 << 20);
    assert_int_equal(kl_proto_to_json(env.data, env.len, NULL, NULL, &out, NULL, &err), KL_ETOOBIG);
    kl_buf_cleanup(&out);
    kl_buf_init(&out, 2 << 20);
    assert_int_equal(kl_proto_to_json(env.data, env.len, NULL, NULL, &out, NULL, &err), 0);
    assert_true(out.len > big * 4 / 3);
    kl_buf_cleanup(&out);
    kl_buf_cleanup(&env);
}

/* Every truncation and thousands of random byte changes of every fixture: an answer or a clean
 * error, never a crash (ASan/UBSan watch), and any answer is valid JSON. */
static void test_mutations_never_crash(void **state)
{
    (void)state;
    srand(12345);
    size_t ok = 0, failed = 0;
    for (size_t i = 0; fixtures[i]; i++) {
        char name[128];
        size_t n;
        snprintf(name, sizeof(name), "proto/%s.bin", fixtures[i]);
        char *bin = kl_test_read_fixture(name, &n);
        char *copy = malloc(n);
        for (size_t cut = 0; cut <= n; cut++) {
            int rc;
            kl_errinfo_t err;
            char *got = conv(bin, cut, &rc, &err);
            if (got) {
                kl_json_t *j = NULL;
                assert_int_equal(kl_json_parse(got, strlen(got), NULL, &j, NULL), 0);
                kl_json_free(j);
                ok++;
            } else {
                failed++;
            }
            free(got);
        }
        for (int round = 0; round < 400; round++) {
            memcpy(copy, bin, n);
            int flips = 1 + rand() % 4;
            for (int k = 0; k < flips; k++) {
                size_t at = 4 + (size_t)rand() % (n - 4);
                copy[at] = (char)(rand() % 3 == 0 ? copy[at] ^ (1 << (rand() % 8)) : rand());
            }
            int rc;
            kl_errinfo_t err;
            char *got = conv(copy, n, &rc, &err);
            if (got) {
                kl_json_t *j = NULL;
                int prc = kl_json_parse(got, strlen(got), NULL, &j, NULL);
                if (prc != 0)
                    fail_msg("%s mutation %d gave invalid JSON: %s", fixtures[i], round, got);
                kl_json_free(j);
                ok++;
            } else {
                assert_true(rc == KL_EBADREQUEST || rc == KL_ENOTFOUND);
                failed++;
            }
            free(got);
        }
        free(copy);
        free(bin);
    }
    printf("mutations: %zu converted, %zu refused\n", ok, failed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kubectl_fixtures),
        cmocka_unit_test(test_pointer_zero_values),
        cmocka_unit_test(test_scalars_and_omitempty),
        cmocka_unit_test(test_bytes_base64_and_utf8),
        cmocka_unit_test(test_time_and_microtime),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_intorstring_and_quantity),
        cmocka_unit_test(test_inline_members),
        cmocka_unit_test(test_go_struct_order_and_merging),
        cmocka_unit_test(test_packed_and_unknown_fields),
        cmocka_unit_test(test_raw_json),
        cmocka_unit_test(test_delete_options_and_eviction),
        cmocka_unit_test(test_crd_schema),
        cmocka_unit_test(test_envelope_errors),
        cmocka_unit_test(test_wire_errors),
        cmocka_unit_test(test_depth_and_size_limits),
        cmocka_unit_test(test_mutations_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
