/* Pods (runtime/primitives/pods.c): pods from templates, GetTargetNodeName, classification,
 * availability and the ActivePods ranking. */
#include "kubelua/ktime.h"
#include "kubelua/pods.h"

#include "unit/test_util.h"

static kl_obj_t *parse(const char *json)
{
    kl_obj_t *doc;
    kl_errinfo_t err;
    if (kl_obj_parse_json(json, strlen(json), NULL, &doc, &err) < 0)
        fail_msg("parse: %s\n%s", err.msg, json);
    return doc;
}

static kl_json_t *jparse(const char *json)
{
    kl_json_t *j;
    kl_errinfo_t err;
    if (kl_json_parse(json, strlen(json), NULL, &j, &err) < 0)
        fail_msg("parse: %s\n%s", err.msg, json);
    return j;
}

static char *encode(const kl_json_t *j)
{
    char *s = kl_json_encode_alloc(j, NULL);
    assert_non_null(s);
    return s;
}

static void assert_json(const kl_json_t *got, const char *want)
{
    kl_json_t *w = jparse(want);
    if (!kl_json_equal(got, w)) {
        char *g = encode(got);
        fail_msg("got  %s\nwant %s", g, want);
    }
    kl_json_free(w);
}

static const kl_pod_template_opts_t ds_owner = {
    .owner_api_version = "apps/v1",
    .owner_kind = "DaemonSet",
    .owner_name = "fluentd",
    .owner_uid = "uid-1",
};

static const char *const tmpl_json =
    "{\"metadata\":{\"name\":\"ignored\",\"labels\":{\"app\":\"fluentd\"},"
    "\"annotations\":{\"a\":\"1\"},\"finalizers\":[\"f1\"]},"
    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"fluentd:1\"}],"
    "\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\","
    "\"effect\":\"NoExecute\",\"tolerationSeconds\":300},"
    "{\"key\":\"mine\",\"operator\":\"Exists\"}],"
    "\"nodeSelector\":{\"disk\":\"ssd\"},"
    "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":"
    "{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\","
    "\"values\":[\"a\"]}]}]},\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":1,"
    "\"preference\":{\"matchExpressions\":[{\"key\":\"x\",\"operator\":\"Exists\"}]}}]}}}}";

static void test_pods_from_template_basic(void **state)
{
    (void)state;
    kl_json_t *tmpl = jparse(tmpl_json), *pod;
    kl_errinfo_t err;
    assert_int_equal(kl_pod_from_template(tmpl, &ds_owner, &pod, &err), 0);
    assert_json(pod, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"
                     "\"generateName\":\"fluentd-\",\"labels\":{\"app\":\"fluentd\"},"
                     "\"annotations\":{\"a\":\"1\"},\"finalizers\":[\"f1\"],"
                     "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\","
                     "\"name\":\"fluentd\",\"uid\":\"uid-1\",\"controller\":true,"
                     "\"blockOwnerDeletion\":true}]},\"spec\":"
                     "{\"containers\":[{\"name\":\"c\",\"image\":\"fluentd:1\"}],"
                     "\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":"
                     "\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":300},"
                     "{\"key\":\"mine\",\"operator\":\"Exists\"}],"
                     "\"nodeSelector\":{\"disk\":\"ssd\"},"
                     "\"affinity\":{\"nodeAffinity\":{"
                     "\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":"
                     "[{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\",\"values\":"
                     "[\"a\"]}]}]},\"preferredDuringSchedulingIgnoredDuringExecution\":"
                     "[{\"weight\":1,\"preference\":{\"matchExpressions\":[{\"key\":\"x\","
                     "\"operator\":\"Exists\"}]}}]}}}}");
    /* The template is untouched. */
    kl_json_t *again = jparse(tmpl_json);
    assert_true(kl_json_equal(tmpl, again));
    kl_json_free(again);
    kl_json_free(pod);
    kl_json_free(tmpl);
}

static void test_pods_from_template_daemonset(void **state)
{
    (void)state;
    kl_json_t *tmpl = jparse(tmpl_json), *pod;
    kl_json_t *labels = jparse("{\"controller-revision-hash\":\"6d4f9c7b5\","
                               "\"pod-template-generation\":\"2\",\"app\":\"override\"}");
    kl_json_t *tols = jparse(
        "[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":"
        "\"NoExecute\"},{\"key\":\"node.kubernetes.io/unschedulable\",\"operator\":\"Exists\","
        "\"effect\":\"NoSchedule\"},{\"key\":\"mine\",\"operator\":\"Exists\"}]");
    kl_pod_template_opts_t o = ds_owner;
    o.labels = labels;
    o.tolerations = tols;
    o.pin_node = "node-7";
    o.namespace = "kube-system";
    kl_errinfo_t err;
    assert_int_equal(kl_pod_from_template(tmpl, &o, &pod, &err), 0);
    assert_json(kl_json_path(pod, "metadata", "labels", NULL),
                "{\"app\":\"override\",\"controller-revision-hash\":\"6d4f9c7b5\","
                "\"pod-template-generation\":\"2\"}");
    assert_string_equal(kl_json_path_str(pod, "metadata", "namespace", NULL), "kube-system");
    /* not-ready is replaced in place (no tolerationSeconds any more), unschedulable appended,
     * "mine" already equal and left alone. */
    assert_json(kl_json_path(pod, "spec", "tolerations", NULL),
                "[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":"
                "\"NoExecute\"},{\"key\":\"mine\",\"operator\":\"Exists\"},"
                "{\"key\":\"node.kubernetes.io/unschedulable\",\"operator\":\"Exists\","
                "\"effect\":\"NoSchedule\"}]");
    /* The required terms are replaced by the pin; preferred terms and nodeSelector stay. */
    assert_json(kl_json_path(pod, "spec", "affinity", NULL),
                "{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":"
                "{\"nodeSelectorTerms\":[{\"matchFields\":[{\"key\":\"metadata.name\","
                "\"operator\":\"In\",\"values\":[\"node-7\"]}]}]},"
                "\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":1,"
                "\"preference\":{\"matchExpressions\":[{\"key\":\"x\",\"operator\":"
                "\"Exists\"}]}}]}}");
    assert_json(kl_json_path(pod, "spec", "nodeSelector", NULL), "{\"disk\":\"ssd\"}");
    assert_null(kl_json_path(pod, "spec", "nodeName", NULL));

    /* The pinned pod maps back to its node. */
    kl_obj_t *frozen;
    assert_int_equal(kl_obj_from_json(pod, &frozen), 0);
    assert_string_equal(kl_pod_target_node(kl_obj_root(frozen)), "node-7");
    kl_obj_unref(frozen);
    kl_json_free(pod);
    kl_json_free(labels);
    kl_json_free(tols);
    kl_json_free(tmpl);
}

static void test_pods_from_template_job(void **state)
{
    (void)state;
    kl_json_t *tmpl = jparse("{\"metadata\":{\"labels\":{\"job-name\":\"pi\"},\"finalizers\":"
                             "[\"batch.kubernetes.io/job-tracking\"]},"
                             "\"spec\":{\"restartPolicy\":\"Never\"}}");
    kl_json_t *ann = jparse("{\"batch.kubernetes.io/job-completion-index\":\"3\"}");
    const char *const fin[] = {"batch.kubernetes.io/job-tracking", "example.com/x", NULL};
    kl_pod_template_opts_t o = {.owner_api_version = "batch/v1",
                                .owner_kind = "Job",
                                .owner_name = "pi",
                                .owner_uid = "u2",
                                .generate_name = "pi-3-",
                                .annotations = ann,
                                .finalizers = fin,
                                .node_name = "n1"};
    kl_json_t *pod;
    assert_int_equal(kl_pod_from_template(tmpl, &o, &pod, NULL), 0);
    assert_string_equal(kl_json_path_str(pod, "metadata", "generateName", NULL), "pi-3-");
    assert_json(kl_json_path(pod, "metadata", "finalizers", NULL),
                "[\"batch.kubernetes.io/job-tracking\",\"example.com/x\"]");
    assert_json(kl_json_path(pod, "metadata", "annotations", NULL),
                "{\"batch.kubernetes.io/job-completion-index\":\"3\"}");
    assert_string_equal(kl_json_path_str(pod, "spec", "nodeName", NULL), "n1");
    kl_json_t *ref = kl_json_at(kl_json_path(pod, "metadata", "ownerReferences", NULL), 0);
    assert_string_equal(kl_json_path_str(ref, "kind", NULL), "Job");
    assert_string_equal(kl_json_path_str(ref, "apiVersion", NULL), "batch/v1");
    kl_json_free(pod);

    /* An explicit name wins over generateName. */
    o.name = "pi-fixed";
    assert_int_equal(kl_pod_from_template(tmpl, &o, &pod, NULL), 0);
    assert_string_equal(kl_json_path_str(pod, "metadata", "name", NULL), "pi-fixed");
    assert_null(kl_json_path(pod, "metadata", "generateName", NULL));
    kl_json_free(pod);
    kl_json_free(ann);
    kl_json_free(tmpl);
}

static void test_pods_from_template_errors(void **state)
{
    (void)state;
    kl_json_t *pod = NULL;
    kl_errinfo_t err;
    kl_json_t *nolabels = jparse("{\"spec\":{}}");
    assert_int_equal(kl_pod_from_template(nolabels, &ds_owner, &pod, &err), KL_EINVAL);
    assert_string_equal(err.msg, "unable to create pods, no labels");
    assert_null(pod);
    kl_pod_template_opts_t o = ds_owner;
    o.allow_no_labels = true;
    assert_int_equal(kl_pod_from_template(nolabels, &o, &pod, &err), 0);
    assert_null(kl_json_path(pod, "metadata", "labels", NULL));
    assert_null(kl_json_path(pod, "metadata", "annotations", NULL));
    assert_null(kl_json_path(pod, "metadata", "finalizers", NULL));
    kl_json_free(pod);

    o = ds_owner;
    o.owner_uid = "";
    assert_int_equal(kl_pod_from_template(nolabels, &o, &pod, &err), KL_EINVAL);
    assert_non_null(strstr(err.msg, "uid are required"));
    kl_json_t *arr = jparse("[]");
    assert_int_equal(kl_pod_from_template(arr, &ds_owner, &pod, &err), KL_EINVAL);
    kl_json_t *badlabel = jparse("{\"metadata\":{\"labels\":{\"a\":1}}}");
    assert_int_equal(kl_pod_from_template(badlabel, &ds_owner, &pod, &err), KL_EINVAL);
    assert_string_equal(err.msg, "template metadata.labels.a: expected a string");
    o = ds_owner;
    kl_json_t *extra = jparse("{\"b\":true}");
    o.labels = extra;
    assert_int_equal(kl_pod_from_template(nolabels, &o, &pod, &err), KL_EINVAL);
    assert_string_equal(err.msg, "labels.b: expected a string");
    kl_json_t *tols = jparse("{}");
    o = ds_owner;
    o.tolerations = tols;
    kl_json_t *lab = jparse("{\"metadata\":{\"labels\":{\"a\":\"b\"}}}");
    assert_int_equal(kl_pod_from_template(lab, &o, &pod, &err), KL_EINVAL);
    assert_string_equal(err.msg, "tolerations: expected an array");
    kl_json_free(tols);
    kl_json_free(lab);
    kl_json_free(extra);
    kl_json_free(badlabel);
    kl_json_free(arr);
    kl_json_free(nolabels);
}

static void test_pods_generate_name_prefix(void **state)
{
    (void)state;
    kl_json_t *tmpl = jparse("{\"metadata\":{\"labels\":{\"a\":\"b\"}}}"), *pod;
    kl_pod_template_opts_t o = ds_owner;
    /* A name whose "<name>-" is not a valid prefix is used as is (getPodsPrefix). */
    char longname[300];
    memset(longname, 'a', 253);
    longname[253] = '\0';
    o.owner_name = longname;
    assert_int_equal(kl_pod_from_template(tmpl, &o, &pod, NULL), 0);
    assert_string_equal(kl_json_path_str(pod, "metadata", "generateName", NULL), longname);
    kl_json_free(pod);
    longname[252] = '\0';
    assert_int_equal(kl_pod_from_template(tmpl, &o, &pod, NULL), 0);
    const char *gn = kl_json_path_str(pod, "metadata", "generateName", NULL);
    assert_int_equal(strlen(gn), 253);
    assert_int_equal(gn[252], '-');
    kl_json_free(pod);
    o.owner_name = "Upper";
    assert_int_equal(kl_pod_from_template(tmpl, &o, &pod, NULL), 0);
    assert_string_equal(kl_json_path_str(pod, "metadata", "generateName", NULL), "Upper");
    kl_json_free(pod);
    kl_json_free(tmpl);

    /* The val form thaws a cached template. */
    kl_obj_t *doc = parse(tmpl_json);
    assert_int_equal(kl_pod_from_template_val(kl_obj_root(doc), &ds_owner, &pod, NULL), 0);
    assert_string_equal(kl_json_path_str(pod, "metadata", "labels", "app", NULL), "fluentd");
    kl_json_free(pod);
    kl_obj_unref(doc);
}

static void test_pods_target_node(void **state)
{
    (void)state;
    kl_obj_t *doc = parse(
        "[{\"spec\":{\"nodeName\":\"n1\",\"affinity\":{\"nodeAffinity\":{"
        "\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":[{"
        "\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"n2\"]}]}"
        "]}}}}},"
        "{\"spec\":{\"affinity\":{\"nodeAffinity\":{"
        "\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":["
        "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\"}]},{"
        "\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"NotIn\",\"values\":[\"x\"]},"
        "{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"n2\"]}]}]}}}}},"
        "{\"spec\":{\"affinity\":{\"nodeAffinity\":{"
        "\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":[{"
        "\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"a\","
        "\"b\"]}]}]}}}}},"
        "{\"spec\":{}},"
        "{\"spec\":{\"nodeName\":\"\"}}]");
    kl_val_t r = kl_obj_root(doc);
    assert_string_equal(kl_pod_target_node(kl_val_at(r, 0)), "n1");
    assert_string_equal(kl_pod_target_node(kl_val_at(r, 1)), "n2");
    assert_null(kl_pod_target_node(kl_val_at(r, 2)));
    assert_null(kl_pod_target_node(kl_val_at(r, 3)));
    assert_null(kl_pod_target_node(kl_val_at(r, 4)));
    kl_obj_unref(doc);
}

static void test_pods_classify(void **state)
{
    (void)state;
    kl_obj_t *doc = parse(
        "[{\"status\":{\"phase\":\"Pending\"}},"
        "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
        "\"True\"}]}},"
        "{\"status\":{\"phase\":\"Succeeded\"}},"
        "{\"status\":{\"phase\":\"Failed\"}},"
        "{\"metadata\":{\"deletionTimestamp\":\"2024-01-01T00:00:00Z\"},\"status\":{\"phase\":"
        "\"Running\"}},"
        "{\"metadata\":{\"deletionTimestamp\":\"2024-01-01T00:00:00Z\"},\"status\":{\"phase\":"
        "\"Failed\"}},"
        "{},"
        "{\"status\":{\"phase\":\"Unknown\"}},"
        "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
        "\"False\"}]}}]");
    kl_val_t r = kl_obj_root(doc);
    static const struct {
        kl_pod_phase_t phase;
        kl_pod_class_t cls;
        bool active, terminating, terminal, ready, deleted;
    } want[] = {
        {KL_POD_PENDING, KL_POD_CLASS_ACTIVE, true, false, false, false, false},
        {KL_POD_RUNNING, KL_POD_CLASS_ACTIVE, true, false, false, true, false},
        {KL_POD_SUCCEEDED, KL_POD_CLASS_SUCCEEDED, false, false, true, false, false},
        {KL_POD_FAILED, KL_POD_CLASS_FAILED, false, false, true, false, false},
        {KL_POD_RUNNING, KL_POD_CLASS_TERMINATING, false, true, false, false, true},
        {KL_POD_FAILED, KL_POD_CLASS_FAILED, false, false, true, false, true},
        {KL_POD_PHASE_NONE, KL_POD_CLASS_ACTIVE, true, false, false, false, false},
        {KL_POD_UNKNOWN, KL_POD_CLASS_ACTIVE, true, false, false, false, false},
        {KL_POD_RUNNING, KL_POD_CLASS_ACTIVE, true, false, false, false, false},
    };
    for (uint32_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        kl_val_t p = kl_val_at(r, i);
        if (kl_pod_phase(p) != want[i].phase || kl_pod_classify(p) != want[i].cls ||
            kl_pod_is_active(p) != want[i].active ||
            kl_pod_is_terminating(p) != want[i].terminating ||
            kl_pod_is_terminal(p) != want[i].terminal || kl_pod_is_ready(p) != want[i].ready ||
            kl_pod_is_deleted(p) != want[i].deleted)
            fail_msg("pod %u", i);
    }
    assert_string_equal(kl_pod_class_name(KL_POD_CLASS_ACTIVE), "active");
    assert_string_equal(kl_pod_class_name(KL_POD_CLASS_TERMINATING), "terminating");
    assert_string_equal(kl_pod_class_name(KL_POD_CLASS_SUCCEEDED), "succeeded");
    assert_string_equal(kl_pod_class_name(KL_POD_CLASS_FAILED), "failed");
    kl_obj_unref(doc);
}

static void test_pods_available(void **state)
{
    (void)state;
    kl_obj_t *doc =
        parse("[{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
              "\"lastTransitionTime\":\"2024-05-14T09:00:00Z\"}]}},"
              "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}},"
              "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\","
              "\"lastTransitionTime\":\"2024-05-14T08:00:00Z\"}]}}]");
    kl_val_t r = kl_obj_root(doc);
    int64_t t0;
    assert_int_equal(kl_time_parse_rfc3339("2024-05-14T09:00:00Z", &t0, NULL), 0);
    int64_t t0ms = t0 * 1000;
    kl_val_t p = kl_val_at(r, 0);
    assert_true(kl_pod_is_available(p, 0, t0ms));
    /* Strictly after lastTransitionTime + minReadySeconds. */
    assert_false(kl_pod_is_available(p, 10, t0ms + 10000));
    assert_true(kl_pod_is_available(p, 10, t0ms + 10001));
    assert_false(kl_pod_is_available(p, 10, t0ms + 5000));
    /* Ready without a transition time: available only with minReadySeconds 0. */
    assert_true(kl_pod_is_available(kl_val_at(r, 1), 0, t0ms));
    assert_false(kl_pod_is_available(kl_val_at(r, 1), 1, t0ms + 1000000));
    assert_false(kl_pod_is_available(kl_val_at(r, 2), 0, t0ms));
    kl_obj_unref(doc);
}

static void test_pods_exit_codes_and_restarts(void **state)
{
    (void)state;
    kl_obj_t *doc =
        parse("{\"status\":{\"containerStatuses\":["
              "{\"name\":\"main\",\"restartCount\":2,\"state\":{\"terminated\":{\"exitCode\":42}}},"
              "{\"name\":\"side\",\"restartCount\":5,\"state\":{\"running\":{}}},"
              "{\"name\":\"ok\",\"restartCount\":0,\"state\":{\"terminated\":{\"exitCode\":0}}}],"
              "\"initContainerStatuses\":[{\"name\":\"init\",\"state\":{\"terminated\":"
              "{\"exitCode\":1}}}]}}");
    kl_val_t pod = kl_obj_root(doc);
    kl_pod_exit_t ex[4];
    assert_int_equal(kl_pod_exit_codes(pod, ex, 4), 3);
    assert_string_equal(ex[0].container, "main");
    assert_int_equal(ex[0].exit_code, 42);
    assert_false(ex[0].init);
    assert_string_equal(ex[1].container, "ok");
    assert_int_equal(ex[1].exit_code, 0);
    assert_string_equal(ex[2].container, "init");
    assert_true(ex[2].init);
    assert_int_equal(kl_pod_exit_codes(pod, ex, 1), 3);
    assert_int_equal(kl_pod_max_restarts(pod), 5);
    assert_int_equal(kl_pod_max_restarts((kl_val_t){0}), 0);
    assert_int_equal(kl_pod_exit_codes((kl_val_t){0}, ex, 4), 0);
    kl_obj_unref(doc);
}

/* A pod for the ranking tests: name, node, phase, ready ("" none, else its transition time),
 * restarts, creation time ("" none). */
static void add_pod(kl_buf_t *b, const char *name, const char *node, const char *phase,
                    const char *ready, int restarts, const char *created)
{
    int rc = kl_buf_printf(b, "%s{\"metadata\":{\"name\":\"%s\"", b->len > 1 ? "," : "", name);
    if (rc == 0 && *created)
        rc = kl_buf_printf(b, ",\"creationTimestamp\":\"%s\"", created);
    if (rc == 0)
        rc = kl_buf_printf(b,
                           "},\"spec\":{\"nodeName\":\"%s\"},\"status\":{\"phase\":\"%s\","
                           "\"containerStatuses\":[{\"name\":\"c\",\"restartCount\":%d}]",
                           node, phase, restarts);
    if (rc == 0 && *ready)
        rc = kl_buf_printf(b,
                           ",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
                           "\"lastTransitionTime\":\"%s\"}]",
                           ready);
    if (rc == 0)
        rc = kl_buf_puts(b, "}}");
    assert_int_equal(rc, 0);
}

static void test_pods_rank(void **state)
{
    (void)state;
    kl_buf_t b;
    kl_buf_init(&b, 1 << 20);
    assert_int_equal(kl_buf_putc(&b, '['), 0);
    /* Listed in the order expected after ranking (first deleted first), then shuffled. */
    add_pod(&b, "unscheduled", "", "Pending", "", 0, "2024-01-01T00:00:00Z");
    add_pod(&b, "pending", "n1", "Pending", "", 0, "2024-01-01T00:00:00Z");
    add_pod(&b, "unknown", "n1", "Unknown", "", 0, "2024-01-01T00:00:00Z");
    add_pod(&b, "running-notready", "n1", "Running", "", 0, "2024-01-01T00:00:00Z");
    add_pod(&b, "ready-recent", "n1", "Running", "2024-01-01T00:10:00Z", 0, "2024-01-01T00:00:00Z");
    add_pod(&b, "ready-old-restarts", "n1", "Running", "2024-01-01T00:05:00Z", 3,
            "2024-01-01T00:00:00Z");
    add_pod(&b, "ready-old-nocreate", "n2", "Running", "2024-01-01T00:05:00Z", 0, "");
    add_pod(&b, "ready-old-new", "n1", "Running", "2024-01-01T00:05:00Z", 0,
            "2024-01-01T00:02:00Z");
    add_pod(&b, "ready-old-old", "n1", "Running", "2024-01-01T00:05:00Z", 0,
            "2024-01-01T00:01:00Z");
    add_pod(&b, "ready-old-old-twin", "n3", "Running", "2024-01-01T00:05:00Z", 0,
            "2024-01-01T00:01:00Z");
    assert_int_equal(kl_buf_putc(&b, ']'), 0);
    kl_obj_t *doc = parse(b.data);
    kl_buf_cleanup(&b);
    kl_val_t r = kl_obj_root(doc);
    size_t n = kl_val_len(r);
    assert_int_equal(n, 10);
    static const size_t shuffle[] = {7, 2, 9, 0, 5, 3, 8, 1, 6, 4};
    kl_val_t pods[10];
    for (size_t i = 0; i < n; i++)
        pods[i] = kl_val_at(r, (uint32_t)shuffle[i]);
    size_t order[10];
    assert_int_equal(kl_pods_rank(pods, n, order), 0);
    for (size_t i = 0; i < n; i++) {
        size_t orig = shuffle[order[i]];
        /* The twins rank equal: stable order keeps 9 (input position 2) before 8 (position
         * 6); everything else must be in place. */
        size_t want = i == 8 ? 9 : i == 9 ? 8 : i;
        if (orig != want)
            fail_msg("position %zu: %s, want %s", i,
                     kl_val_path_str(kl_val_at(r, (uint32_t)orig), "metadata", "name", NULL),
                     kl_val_path_str(kl_val_at(r, (uint32_t)want), "metadata", "name", NULL));
    }
    assert_true(kl_pods_compare_active(kl_val_at(r, 0), kl_val_at(r, 1)) < 0);
    assert_true(kl_pods_compare_active(kl_val_at(r, 4), kl_val_at(r, 3)) > 0);
    assert_int_equal(kl_pods_compare_active(kl_val_at(r, 8), kl_val_at(r, 9)), 0);
    /* Two unscheduled pods fall through to the next criteria. */
    assert_int_equal(kl_pods_compare_active(kl_val_at(r, 0), kl_val_at(r, 0)), 0);
    assert_int_equal(kl_pods_rank(pods, 0, order), 0);
    assert_int_equal(kl_pods_rank(pods, 1, order), 0);
    assert_int_equal(order[0], 0);
    kl_obj_unref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pods_from_template_basic),
        cmocka_unit_test(test_pods_from_template_daemonset),
        cmocka_unit_test(test_pods_from_template_job),
        cmocka_unit_test(test_pods_from_template_errors),
        cmocka_unit_test(test_pods_generate_name_prefix),
        cmocka_unit_test(test_pods_target_node),
        cmocka_unit_test(test_pods_classify),
        cmocka_unit_test(test_pods_available),
        cmocka_unit_test(test_pods_exit_codes_and_restarts),
        cmocka_unit_test(test_pods_rank),
    };
    return cmocka_run_group_tests_name("primitives_pods", tests, NULL, NULL);
}
