/* The configuration of `kubelua up --config` (cluster/config.h): defaults, a full example,
 * strictness with line numbers, node expansion. */
#include "cluster/config.h"
#include "unit/test_util.h"

static kl_cluster_config_t *ok(const char *text)
{
    kl_cluster_config_t *c = NULL;
    kl_errinfo_t err = {0};
    int rc = kl_cluster_config_parse(text, strlen(text), "t.yaml", &c, &err);
    if (rc != 0)
        fail_msg("parse failed: %s", err.msg);
    return c;
}

/* Parses text expecting an error at line; returns the message. */
static void bad(const char *text, int line, const char *needle)
{
    kl_cluster_config_t *c = NULL;
    kl_errinfo_t err = {0};
    assert_int_equal(kl_cluster_config_parse(text, strlen(text), "t.yaml", &c, &err), KL_ECONFIG);
    assert_null(c);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
    assert_int_equal(err.line, line);
    char where[32];
    snprintf(where, sizeof(where), "t.yaml:%d:", line);
    assert_non_null(strstr(err.msg, where));
}

static void test_defaults(void **state)
{
    (void)state;
    kl_cluster_config_t *c;
    assert_int_equal(kl_cluster_config_default(3, &c), 0);
    kl_node_def_t *defs;
    size_t n;
    kl_errinfo_t err;
    assert_int_equal(kl_cluster_config_nodes(c, &defs, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(defs[0].name, "kubelua-node-1");
    assert_string_equal(defs[2].name, "kubelua-node-3");
    assert_null(defs[0].zone);
    assert_int_equal(kl_node_group_mode(c, defs[0].group), KL_SIM_MODE_PROCESS);
    assert_int_equal(defs[0].group->pod_defaults.sim.run_duration_ms, KL_SIM_FOREVER);
    assert_int_equal(defs[0].group->pod_defaults.batch_run_duration_ms, 1000);
    kl_node_defs_free(defs, n);
    assert_int_equal(kl_cluster_config_set_nodes(c, 5000), 0);
    assert_int_equal(kl_cluster_config_nodes(c, &defs, &n, &err), 0);
    assert_int_equal(n, 5000);
    assert_string_equal(defs[4999].name, "kubelua-node-5000");
    kl_node_defs_free(defs, n);
    kl_cluster_config_free(c);

    /* An empty file is the default cluster. */
    c = ok("");
    assert_int_equal(c->ngroups, 1);
    assert_int_equal(c->groups[0].count, 3);
    kl_cluster_config_free(c);
}

static void test_full(void **state)
{
    (void)state;
    kl_cluster_config_t *c = ok("apiVersion: kubelua.io/v1alpha1\n"
                                "kind: Cluster\n"
                                "mode: simulated\n"
                                "adoptAllNodes: true\n"
                                "podDefaults:\n"
                                "  startDelay: 500ms\n"
                                "  runDuration: 1h\n"
                                "  exitCode: 3\n"
                                "nodes:\n"
                                "  - name: gpu-1\n"
                                "    mode: process\n"
                                "    labels: {accelerator: nvidia}\n"
                                "    taints:\n"
                                "      - {key: gpu, value: \"yes\", effect: NoSchedule}\n"
                                "    capacity: {cpu: \"64\", nvidia.com/gpu: \"8\"}\n"
                                "    podDefaults:\n"
                                "      readyAfter: 2s\n"
                                "  - count: 4\n"
                                "    namePrefix: worker-\n"
                                "    region: eu-1\n"
                                "    zones: [a, b]\n"
                                "    arch: arm64\n"
                                "    instanceType: m5.large\n"
                                "    annotations: {team: x}\n");
    assert_int_equal(c->mode, KL_SIM_MODE_SIMULATED);
    assert_true(c->adopt_all_nodes);
    assert_int_equal(c->ngroups, 2);
    const kl_node_group_t *g = &c->groups[0];
    assert_string_equal(g->name, "gpu-1");
    assert_int_equal(kl_node_group_mode(c, g), KL_SIM_MODE_PROCESS);
    assert_int_equal(g->labels.len, 1);
    assert_string_equal(g->labels.items[0].key, "accelerator");
    assert_int_equal(g->ntaints, 1);
    assert_string_equal(g->taints[0].value, "yes");
    assert_string_equal(g->taints[0].effect, "NoSchedule");
    assert_int_equal(g->capacity.len, 2);
    assert_string_equal(g->capacity.items[1].key, "nvidia.com/gpu");
    /* Group pod defaults are merged over the cluster's. */
    assert_int_equal(g->pod_defaults.sim.ready_after_ms, 2000);
    assert_int_equal(g->pod_defaults.sim.start_delay_ms, 500);
    assert_int_equal(g->pod_defaults.sim.run_duration_ms, 3600000);
    assert_int_equal(g->pod_defaults.sim.exit_code, 3);
    const kl_node_group_t *w = &c->groups[1];
    assert_int_equal(kl_node_group_mode(c, w), KL_SIM_MODE_SIMULATED);
    assert_int_equal(w->pod_defaults.sim.start_delay_ms, 500);
    assert_int_equal(w->pod_defaults.batch_run_duration_ms, 1000);
    assert_string_equal(w->arch, "arm64");
    kl_node_def_t *defs;
    size_t n;
    kl_errinfo_t err;
    assert_int_equal(kl_cluster_config_nodes(c, &defs, &n, &err), 0);
    assert_int_equal(n, 5);
    assert_string_equal(defs[0].name, "gpu-1");
    assert_string_equal(defs[1].name, "worker-1");
    assert_string_equal(defs[1].zone, "a");
    assert_string_equal(defs[2].zone, "b");
    assert_string_equal(defs[3].zone, "a");
    assert_ptr_equal(defs[4].group, w);
    kl_node_defs_free(defs, n);
    kl_cluster_config_free(c);
}

static void test_strict(void **state)
{
    (void)state;
    bad("mode: process\nnodez: []\n", 2, "unknown field \"nodez\" in the configuration");
    bad("nodes:\n  - count: 2\n    lables: {a: b}\n", 3,
        "unknown field \"lables\" in a node group");
    bad("podDefaults:\n  runDuraton: 1s\n", 2, "unknown field \"runDuraton\"");
    bad("mode: process\nmode: simulated\n", 2, "duplicate key \"mode\"");
    bad("mode: fast\n", 1, "expected process or simulated");
    bad("adoptAllNodes: maybe\n", 1, "expected true or false");
    bad("nodes:\n  - count: -1\n", 2, "count: expected an integer");
    bad("nodes:\n  - count: 1\n    capacity: {cpu: lots}\n", 3, "invalid quantity \"lots\"");
    bad("podDefaults:\n  startDelay: soon\n", 2, "expected a duration");
    bad("podDefaults:\n  startDelay: forever\n", 2, "expected a duration");
    bad("podDefaults:\n  exitCode: 256\n", 2, "exitCode");
    bad("nodes:\n  - name: a\n    taints: [{key: k, effect: Sometimes}]\n", 3, "effect: expected");
    bad("nodes:\n  - name: a\n    taints: [{value: v, effect: NoSchedule}]\n", 3,
        "a taint needs key and effect");
    bad("nodes:\n  - name: a\n    count: 2\n", 2, "either name, or count");
    bad("nodes:\n  - labels: {a: b}\n", 2, "needs name or count");
    bad("nodes: 3\n", 1, "expected a list of node groups");
    bad("apiVersion: v1\n", 1, "apiVersion: expected kubelua.io/v1alpha1");
    bad("kind: Config\n", 1, "kind: expected Cluster");
    bad("nodes:\n  - name: a\n    zone: x\n    zones: [y]\n", 4, "zone or zones");
    bad("nodes: [\n", 2, "t.yaml:2:");
    bad("mode: process\n---\nmode: simulated\n", 3, "only one YAML document");
}

static void test_names(void **state)
{
    (void)state;
    kl_node_def_t *defs;
    size_t n;
    kl_errinfo_t err;
    kl_cluster_config_t *c = ok("nodes:\n  - name: a\n  - count: 2\n    namePrefix: a\n"
                                "  - name: a1\n");
    assert_int_equal(kl_cluster_config_nodes(c, &defs, &n, &err), KL_ECONFIG);
    assert_non_null(strstr(err.msg, "node \"a1\" is defined twice"));
    kl_cluster_config_free(c);
    c = ok("nodes:\n  - name: Bad_Name\n");
    assert_int_equal(kl_cluster_config_nodes(c, &defs, &n, &err), KL_ECONFIG);
    assert_non_null(strstr(err.msg, "not a valid DNS subdomain"));
    kl_cluster_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_strict),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
