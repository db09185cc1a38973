/* Node eligibility (runtime/primitives/nodes.c, nodes_resources.c): tolerations, node
 * affinity, the DaemonSet predicate, readiness and resource fit. The tables live in
 * tests/fixtures/primitives/{tolerations,affinity,daemonset}.json. */
#include "kubelua/nodes.h"

#include "unit/test_util.h"

static kl_obj_t *parse(const char *json)
{
    kl_obj_t *doc;
    kl_errinfo_t err;
    if (kl_obj_parse_json(json, strlen(json), NULL, &doc, &err) < 0)
        fail_msg("parse: %s", err.msg);
    return doc;
}

static kl_obj_t *fixture(const char *name)
{
    char *text = kl_test_read_fixture(name, NULL);
    kl_obj_t *doc = parse(text);
    free(text);
    return doc;
}

static const char *case_name(kl_val_t c)
{
    return kl_val_path_str(c, "name", NULL);
}

static void test_nodes_toleration_table(void **state)
{
    (void)state;
    kl_obj_t *doc = fixture("primitives/tolerations.json");
    kl_val_t cases = kl_obj_root(doc);
    assert_true(kl_val_len(cases) > 10);
    for (uint32_t i = 0; i < kl_val_len(cases); i++) {
        kl_val_t c = kl_val_at(cases, i);
        kl_toleration_t t;
        kl_taint_t taint;
        kl_toleration_from_val(kl_val_get(c, "toleration"), &t);
        kl_taint_from_val(kl_val_get(c, "taint"), &taint);
        bool want = kl_val_bool(kl_val_get(c, "tolerates"));
        if (kl_toleration_tolerates(&t, &taint) != want)
            fail_msg("%s: want %d", case_name(c), want);
    }
    kl_obj_unref(doc);
}

static void test_nodes_toleration_struct(void **state)
{
    (void)state;
    /* NULL strings read as "". */
    kl_toleration_t all = {.op = "Exists"};
    kl_taint_t taint = {.key = "k", .effect = "NoSchedule"};
    assert_true(kl_toleration_tolerates(&all, &taint));
    kl_toleration_t eq = {.key = "k"};
    assert_true(kl_toleration_tolerates(&eq, &taint));
    kl_taint_t bare = {0};
    assert_true(kl_toleration_tolerates(&(kl_toleration_t){0}, &bare));
    kl_obj_t *doc = parse("{\"a\":{\"key\":\"x\",\"tolerationSeconds\":30},\"b\":{}}");
    kl_toleration_t t;
    kl_toleration_from_val(kl_val_get(kl_obj_root(doc), "a"), &t);
    assert_true(t.has_seconds);
    assert_int_equal(t.seconds, 30);
    assert_string_equal(t.key, "x");
    assert_string_equal(t.op, "");
    kl_toleration_from_val(kl_val_get(kl_obj_root(doc), "b"), &t);
    assert_false(t.has_seconds);
    kl_obj_unref(doc);
    assert_int_equal(kl_taint_effect_bit("NoSchedule"), KL_EFFECT_NO_SCHEDULE);
    assert_int_equal(kl_taint_effect_bit("PreferNoSchedule"), KL_EFFECT_PREFER_NO_SCHEDULE);
    assert_int_equal(kl_taint_effect_bit("NoExecute"), KL_EFFECT_NO_EXECUTE);
    assert_int_equal(kl_taint_effect_bit("noschedule"), 0);
    assert_int_equal(kl_taint_effect_bit(NULL), 0);
}

static void test_nodes_find_untolerated(void **state)
{
    (void)state;
    kl_obj_t *doc = parse("{\"taints\":[{\"key\":\"a\",\"effect\":\"PreferNoSchedule\"},"
                          "{\"key\":\"b\",\"effect\":\"NoSchedule\"},"
                          "{\"key\":\"c\",\"value\":\"v\",\"effect\":\"NoExecute\"}],"
                          "\"none\":[],\"tb\":[{\"key\":\"b\",\"operator\":\"Exists\"}],"
                          "\"tall\":[{\"operator\":\"Exists\"}]}");
    kl_val_t r = kl_obj_root(doc), taints = kl_val_get(r, "taints");
    unsigned sched = KL_EFFECT_NO_SCHEDULE | KL_EFFECT_NO_EXECUTE;
    assert_int_equal(kl_taints_find_untolerated(taints, kl_val_get(r, "none"), NULL, 0, sched), 1);
    assert_int_equal(kl_taints_find_untolerated(taints, kl_val_get(r, "none"), NULL, 0, 7), 0);
    assert_int_equal(kl_taints_find_untolerated(taints, kl_val_get(r, "tb"), NULL, 0, sched), 2);
    assert_int_equal(kl_taints_find_untolerated(taints, kl_val_get(r, "tall"), NULL, 0, 7), -1);
    kl_toleration_t extra = {.key = "c", .op = "Equal", .value = "v", .effect = "NoExecute"};
    assert_int_equal(kl_taints_find_untolerated(taints, kl_val_get(r, "tb"), &extra, 1, sched), -1);
    /* Missing lists. */
    assert_int_equal(kl_taints_find_untolerated((kl_val_t){0}, (kl_val_t){0}, NULL, 0, 7), -1);
    assert_int_equal(kl_taints_find_untolerated(taints, (kl_val_t){0}, NULL, 0, 0), -1);
    kl_obj_unref(doc);
}

static void test_nodes_noexecute_seconds(void **state)
{
    (void)state;
    kl_obj_t *doc =
        parse("{\"taints\":[{\"key\":\"a\",\"effect\":\"NoExecute\"},{\"key\":\"b\",\"effect\":"
              "\"NoExecute\"},{\"key\":\"s\",\"effect\":\"NoSchedule\"}],"
              "\"sched\":[{\"key\":\"s\",\"effect\":\"NoSchedule\"}],"
              "\"forever\":[{\"operator\":\"Exists\"}],"
              "\"mixed\":[{\"key\":\"a\",\"operator\":\"Exists\",\"tolerationSeconds\":300},"
              "{\"key\":\"b\",\"operator\":\"Exists\",\"tolerationSeconds\":60}],"
              "\"first\":[{\"key\":\"a\",\"operator\":\"Exists\"},{\"operator\":\"Exists\","
              "\"tolerationSeconds\":10}],"
              "\"neg\":[{\"operator\":\"Exists\",\"tolerationSeconds\":-5}],"
              "\"onlya\":[{\"key\":\"a\",\"operator\":\"Exists\"}]}");
    kl_val_t r = kl_obj_root(doc), taints = kl_val_get(r, "taints");
    assert_int_equal(kl_taints_noexecute_seconds(taints, kl_val_get(r, "forever")),
                     KL_TOLERATE_FOREVER);
    assert_int_equal(kl_taints_noexecute_seconds(taints, kl_val_get(r, "mixed")), 60);
    /* The first tolerating toleration is the one used: a (forever) for a, the wildcard (10s)
     * for b. */
    assert_int_equal(kl_taints_noexecute_seconds(taints, kl_val_get(r, "first")), 10);
    assert_int_equal(kl_taints_noexecute_seconds(taints, kl_val_get(r, "neg")), 0);
    assert_int_equal(kl_taints_noexecute_seconds(taints, kl_val_get(r, "onlya")), KL_TOLERATE_NOT);
    assert_int_equal(kl_taints_noexecute_seconds(taints, (kl_val_t){0}), KL_TOLERATE_NOT);
    /* Only NoSchedule taints: nothing to evict for. */
    assert_int_equal(kl_taints_noexecute_seconds(kl_val_get(r, "sched"), (kl_val_t){0}),
                     KL_TOLERATE_FOREVER);
    kl_obj_unref(doc);
}

static void test_nodes_affinity_table(void **state)
{
    (void)state;
    kl_obj_t *doc = fixture("primitives/affinity.json");
    kl_val_t cases = kl_obj_root(doc);
    for (uint32_t i = 0; i < kl_val_len(cases); i++) {
        kl_val_t c = kl_val_at(cases, i);
        kl_errinfo_t err = {0};
        int rc = kl_node_affinity_match(kl_val_get(c, "spec"), kl_val_get(c, "node"), &err);
        bool want = kl_val_bool(kl_val_get(c, "match"));
        bool want_err = kl_val_bool(kl_val_get(c, "error"));
        if (rc != (want ? 1 : 0))
            fail_msg("%s: got %d want %d (%s)", case_name(c), rc, want, err.msg);
        if ((err.code != 0) != want_err)
            fail_msg("%s: error '%s', want error %d", case_name(c), err.msg, want_err);
        if (want_err && err.code != KL_EINVAL)
            fail_msg("%s: code %d", case_name(c), err.code);
        /* Without err the result is the same. */
        assert_int_equal(kl_node_affinity_match(kl_val_get(c, "spec"), kl_val_get(c, "node"), NULL),
                         rc);
    }
    kl_obj_unref(doc);
}

static void test_nodes_affinity_messages(void **state)
{
    (void)state;
    kl_obj_t *doc =
        parse("{\"node\":{\"metadata\":{\"name\":\"n\"}},"
              "\"s1\":{\"nodeSelectorTerms\":[{\"matchFields\":[{\"key\":\"metadata.name\","
              "\"operator\":\"In\",\"values\":[\"a\",\"b\"]}]}]},"
              "\"s2\":{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"k\","
              "\"operator\":\"Exists\"}]},{\"matchFields\":[{\"key\":\"metadata.name\","
              "\"operator\":\"Exists\"}]}]},"
              "\"s3\":{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"k\","
              "\"operator\":\"Near\"}]}]}}");
    kl_val_t r = kl_obj_root(doc), node = kl_val_get(r, "node");
    kl_errinfo_t err = {0};
    assert_int_equal(kl_node_selector_match(kl_val_get(r, "s1"), node, &err), 0);
    assert_string_equal(err.msg, "nodeSelectorTerms[0].matchFields[0].values: Invalid value: must "
                                 "have one element");
    memset(&err, 0, sizeof(err));
    assert_int_equal(kl_node_selector_match(kl_val_get(r, "s2"), node, &err), 0);
    assert_string_equal(err.msg, "nodeSelectorTerms[1].matchFields[0].operator: Unsupported "
                                 "value: \"Exists\": supported values: \"In\", \"NotIn\"");
    memset(&err, 0, sizeof(err));
    assert_int_equal(kl_node_selector_match(kl_val_get(r, "s3"), node, &err), 0);
    assert_non_null(strstr(err.msg, "nodeSelectorTerms[0].matchExpressions: "));
    assert_non_null(strstr(err.msg, "\"Near\" is not a valid node selector operator"));
    kl_obj_unref(doc);
}

static void test_nodes_daemonset_table(void **state)
{
    (void)state;
    kl_obj_t *doc = fixture("primitives/daemonset.json");
    kl_val_t cases = kl_obj_root(doc);
    for (uint32_t i = 0; i < kl_val_len(cases); i++) {
        kl_val_t c = kl_val_at(cases, i);
        kl_daemon_placement_t p;
        assert_int_equal(
            kl_node_should_run_daemon_pod(kl_val_get(c, "node"), kl_val_get(c, "spec"), &p), 0);
        bool run = kl_val_bool(kl_val_get(c, "shouldRun"));
        bool cont = kl_val_bool(kl_val_get(c, "shouldContinueRunning"));
        int taint = (int)kl_val_int(kl_val_get(c, "taint"));
        const char *reason = kl_val_str(kl_val_get(c, "reason"), NULL);
        if (p.should_run != run || p.should_continue_running != cont || p.taint != taint)
            fail_msg("%s: got (%d, %d, taint %d), want (%d, %d, taint %d)", case_name(c),
                     p.should_run, p.should_continue_running, p.taint, run, cont, taint);
        if ((reason == NULL) != (p.reason == NULL) || (reason && strcmp(reason, p.reason) != 0))
            fail_msg("%s: reason %s, want %s", case_name(c), p.reason ? p.reason : "NULL",
                     reason ? reason : "NULL");
    }
    kl_obj_unref(doc);
}

static void test_nodes_daemonset_tolerations(void **state)
{
    (void)state;
    const kl_toleration_t *t;
    size_t n = kl_daemonset_tolerations(false, &t);
    assert_int_equal(n, 6);
    assert_string_equal(t[0].key, "node.kubernetes.io/not-ready");
    assert_string_equal(t[0].effect, "NoExecute");
    assert_string_equal(t[1].key, "node.kubernetes.io/unreachable");
    assert_string_equal(t[5].key, "node.kubernetes.io/unschedulable");
    assert_string_equal(t[5].effect, "NoSchedule");
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(t[i].op, "Exists");
        assert_false(t[i].has_seconds);
    }
    assert_int_equal(kl_daemonset_tolerations(true, &t), 7);
    assert_string_equal(t[6].key, "node.kubernetes.io/network-unavailable");
}

static void test_nodes_ready(void **state)
{
    (void)state;
    kl_obj_t *doc =
        parse("[{\"status\":{\"conditions\":[{\"type\":\"MemoryPressure\",\"status\":\"False\"},"
              "{\"type\":\"Ready\",\"status\":\"True\"}]}},"
              "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}},"
              "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"Unknown\"}]}},"
              "{\"status\":{}},"
              "{\"spec\":{\"unschedulable\":true}},"
              "{\"spec\":{\"unschedulable\":false}}]");
    kl_val_t r = kl_obj_root(doc);
    assert_true(kl_node_is_ready(kl_val_at(r, 0)));
    assert_false(kl_node_is_ready(kl_val_at(r, 1)));
    assert_false(kl_node_is_ready(kl_val_at(r, 2)));
    assert_false(kl_node_is_ready(kl_val_at(r, 3)));
    assert_false(kl_node_is_unschedulable(kl_val_at(r, 0)));
    assert_true(kl_node_is_unschedulable(kl_val_at(r, 4)));
    assert_false(kl_node_is_unschedulable(kl_val_at(r, 5)));
    kl_obj_unref(doc);
}

static void test_nodes_pod_requests(void **state)
{
    (void)state;
    /* Containers sum to cpu 300m, memory 300Mi; init containers: a plain one with 1 cpu, a
     * sidecar (restartPolicy Always) with 100m/50Mi that counts towards the sum and towards the
     * init container after it (500m + 100m). */
    kl_obj_t *doc = parse(
        "{\"containers\":["
        "{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"100Mi\"}}},"
        "{\"name\":\"b\",\"resources\":{\"requests\":{\"cpu\":\"200m\"},\"limits\":{\"cpu\":"
        "\"1\",\"memory\":\"200Mi\",\"nvidia.com/gpu\":2}}},"
        "{\"name\":\"c\"}],"
        "\"initContainers\":["
        "{\"name\":\"i1\",\"resources\":{\"requests\":{\"cpu\":\"1\",\"memory\":\"10Mi\"}}},"
        "{\"name\":\"side\",\"restartPolicy\":\"Always\",\"resources\":{\"requests\":{\"cpu\":"
        "\"100m\",\"memory\":\"50Mi\"}}},"
        "{\"name\":\"i2\",\"resources\":{\"requests\":{\"cpu\":\"500m\",\"memory\":\"400Mi\"}}}"
        "],\"overhead\":{\"cpu\":\"10m\",\"memory\":\"1Mi\"}}");
    kl_resources_t r = KL_RESOURCES_INIT;
    kl_errinfo_t err;
    assert_int_equal(kl_pod_requests(kl_obj_root(doc), &r, &err), 0);
    /* cpu: containers 300 + sidecar 100 = 400; init max = max(1000, 100, 600) = 1000; +10. */
    assert_int_equal(kl_resources_get(&r, "cpu"), 1010);
    /* memory: 100Mi + 200Mi (limit) + 50Mi = 350Mi; init max = max(10, 50, 450)Mi = 450Mi;
     * + 1Mi. */
    assert_int_equal(kl_resources_get(&r, "memory"), (450 + 1) << 20);
    assert_int_equal(kl_resources_get(&r, "nvidia.com/gpu"), 2);
    assert_int_equal(kl_resources_get(&r, "pods"), 0);
    /* Adds to what is there. */
    assert_int_equal(kl_pod_requests(kl_obj_root(doc), &r, &err), 0);
    assert_int_equal(kl_resources_get(&r, "cpu"), 2020);
    kl_resources_cleanup(&r);
    kl_obj_unref(doc);

    doc = parse("{\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"lots\"}}}]}");
    kl_resources_init(&r);
    assert_int_equal(kl_pod_requests(kl_obj_root(doc), &r, &err), KL_ESYNTAX);
    assert_string_equal(err.msg, "spec.containers[0].resources.requests.cpu: quantities must "
                                 "match the regular expression "
                                 "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
    kl_resources_cleanup(&r);
    kl_obj_unref(doc);

    /* An empty spec requests nothing. */
    kl_resources_init(&r);
    assert_int_equal(kl_pod_requests((kl_val_t){0}, &r, &err), 0);
    assert_int_equal(r.len, 0);
    kl_resources_cleanup(&r);
}

static void test_nodes_fit(void **state)
{
    (void)state;
    kl_obj_t *doc = parse("{\"status\":{\"allocatable\":{\"cpu\":\"2\",\"memory\":\"4Gi\","
                          "\"pods\":\"3\",\"example.com/dongle\":\"1\"},"
                          "\"capacity\":{\"cpu\":\"4\"}}}");
    kl_resources_t alloc = KL_RESOURCES_INIT, used = KL_RESOURCES_INIT, req = KL_RESOURCES_INIT;
    assert_int_equal(kl_node_allocatable(kl_obj_root(doc), &alloc, NULL), 0);
    assert_int_equal(kl_resources_get(&alloc, "cpu"), 2000);
    assert_int_equal(kl_resources_get(&alloc, "memory"), (int64_t)4 << 30);
    assert_int_equal(kl_resources_get(&alloc, "pods"), 3);
    kl_insufficient_t out[8];

    /* Empty request: only the pod count matters. */
    assert_int_equal(kl_node_fits(&alloc, &used, 2, &req, out, 8), 0);
    assert_int_equal(kl_node_fits(&alloc, &used, 3, &req, out, 8), 1);
    assert_string_equal(out[0].resource, "pods");
    assert_string_equal(out[0].reason, "Too many pods");
    assert_int_equal(out[0].used, 3);
    assert_int_equal(out[0].capacity, 3);

    assert_int_equal(kl_resources_add(&req, "cpu", 1500), 0);
    assert_int_equal(kl_resources_add(&req, "memory", (int64_t)1 << 30), 0);
    assert_int_equal(kl_node_fits(&alloc, &used, 0, &req, out, 8), 0);
    assert_int_equal(kl_resources_add(&used, "cpu", 600), 0);
    assert_int_equal(kl_node_fits(&alloc, &used, 0, &req, out, 8), 1);
    assert_string_equal(out[0].reason, "Insufficient cpu");
    assert_int_equal(out[0].requested, 1500);
    assert_int_equal(out[0].used, 600);
    assert_int_equal(out[0].capacity, 2000);
    /* Exactly full fits. */
    assert_int_equal(kl_resources_set(&used, "cpu", 500), 0);
    assert_int_equal(kl_node_fits(&alloc, &used, 0, &req, out, 8), 0);

    /* Extended resources count; bare unknown names are ignored. */
    assert_int_equal(kl_resources_add(&req, "example.com/dongle", 2), 0);
    assert_int_equal(kl_resources_add(&req, "unknown", 100), 0);
    assert_int_equal(kl_resources_add(&req, "hugepages-2Mi", 1), 0);
    size_t n = kl_node_fits(&alloc, &used, 3, &req, out, 8);
    assert_int_equal(n, 3);
    assert_string_equal(out[0].resource, "pods");
    assert_string_equal(out[1].resource, "example.com/dongle");
    assert_null(out[1].reason);
    assert_string_equal(out[2].resource, "hugepages-2Mi");
    /* cap limits what is written, not the count. */
    assert_int_equal(kl_node_fits(&alloc, &used, 3, &req, out, 1), 3);

    kl_resources_cleanup(&alloc);
    kl_resources_cleanup(&used);
    kl_resources_cleanup(&req);
    kl_obj_unref(doc);

    /* No allocatable: capacity is used. */
    doc = parse("{\"status\":{\"capacity\":{\"cpu\":\"4\",\"pods\":110}}}");
    assert_int_equal(kl_node_allocatable(kl_obj_root(doc), &alloc, NULL), 0);
    assert_int_equal(kl_resources_get(&alloc, "cpu"), 4000);
    assert_int_equal(kl_resources_get(&alloc, "pods"), 110);
    kl_resources_cleanup(&alloc);
    kl_obj_unref(doc);
}

static void test_nodes_resources_list(void **state)
{
    (void)state;
    kl_resources_t r;
    kl_resources_init(&r);
    assert_int_equal(kl_resources_max(&r, "a", -5), 0);
    assert_int_equal(kl_resources_get(&r, "a"), -5); /* a new entry takes the value */
    assert_int_equal(kl_resources_max(&r, "a", -7), 0);
    assert_int_equal(kl_resources_get(&r, "a"), -5);
    assert_int_equal(kl_resources_add(&r, "a", INT64_MAX), 0);
    assert_int_equal(kl_resources_add(&r, "a", INT64_MAX), 0);
    assert_int_equal(kl_resources_get(&r, "a"), INT64_MAX); /* saturates */
    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof(name), "r%d", i);
        assert_int_equal(kl_resources_add(&r, name, i), 0);
    }
    assert_int_equal(r.len, 41);
    assert_int_equal(kl_resources_get(&r, "r39"), 39);
    kl_resources_cleanup(&r);
    assert_int_equal(r.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nodes_toleration_table),
        cmocka_unit_test(test_nodes_toleration_struct),
        cmocka_unit_test(test_nodes_find_untolerated),
        cmocka_unit_test(test_nodes_noexecute_seconds),
        cmocka_unit_test(test_nodes_affinity_table),
        cmocka_unit_test(test_nodes_affinity_messages),
        cmocka_unit_test(test_nodes_daemonset_table),
        cmocka_unit_test(test_nodes_daemonset_tolerations),
        cmocka_unit_test(test_nodes_ready),
        cmocka_unit_test(test_nodes_pod_requests),
        cmocka_unit_test(test_nodes_fit),
        cmocka_unit_test(test_nodes_resources_list),
    };
    return cmocka_run_group_tests_name("primitives_nodes", tests, NULL, NULL);
}
