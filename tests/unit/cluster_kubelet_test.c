/* The kubelet's rules of the node agent (cluster/kubelet.h): crash-loop back-off, restart
 * policy, container state transitions, pod phase, the status document (conditions, sorted
 * container statuses, transition times), adopting an existing status, QoS classes, node and pod
 * addresses. */
#include "kubelua/json.h"
#include "kubelua/object.h"

#include "cluster/kubelet.h"
#include "unit/test_util.h"

static kl_obj_t *parse(const char *json)
{
    kl_obj_t *o = NULL;
    assert_int_equal(kl_obj_parse_json(json, strlen(json), NULL, &o, NULL), 0);
    return o;
}

static void test_backoff(void **state)
{
    (void)state;
    kl_backoff_t b = {0};
    int64_t t = 1000000;
    /* The first restart is immediate. */
    assert_int_equal(kl_backoff_restart_at(&b, t - 5, t), t);
    kl_backoff_next(&b, t);
    assert_int_equal(b.backoff_ms, 10000);
    /* The second waits 10 s from when the container ended. */
    assert_int_equal(kl_backoff_restart_at(&b, t + 100, t + 200), t + 100 + 10000);
    int64_t expect[] = {20000, 40000, 80000, 160000, 300000, 300000};
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        t += 1000;
        kl_backoff_next(&b, t);
        assert_int_equal(b.backoff_ms, expect[i]);
    }
    /* Ten minutes without a restart: the back-off starts over. */
    t += 600001;
    assert_int_equal(kl_backoff_restart_at(&b, t - 10, t), t);
    kl_backoff_next(&b, t);
    assert_int_equal(b.backoff_ms, 10000);
}

static void test_restart_policy(void **state)
{
    (void)state;
    assert_int_equal(kl_restart_policy_parse(NULL), KL_RESTART_ALWAYS);
    assert_int_equal(kl_restart_policy_parse("Always"), KL_RESTART_ALWAYS);
    assert_int_equal(kl_restart_policy_parse("OnFailure"), KL_RESTART_ON_FAILURE);
    assert_int_equal(kl_restart_policy_parse("Never"), KL_RESTART_NEVER);
    assert_true(kl_restart_wanted(KL_RESTART_ALWAYS, 0));
    assert_true(kl_restart_wanted(KL_RESTART_ON_FAILURE, 2));
    assert_false(kl_restart_wanted(KL_RESTART_ON_FAILURE, 0));
    assert_false(kl_restart_wanted(KL_RESTART_NEVER, 1));
}

/* A pod status with n regular containers named c0.. (given in reverse order) and ni init
 * containers i0... */
static void mkpod(kl_podstatus_t *ps, size_t n, size_t ni, kl_restart_policy_t rp)
{
    memset(ps, 0, sizeof(*ps));
    ps->uid = "uid-1";
    ps->restart_policy = rp;
    ps->ctrs = calloc(n, sizeof(kl_cstatus_t));
    ps->init = calloc(ni ? ni : 1, sizeof(kl_cstatus_t));
    ps->nctrs = n;
    ps->ninit = ni;
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "c%zu", n - 1 - i);
        ps->ctrs[i].name = strdup(name);
        ps->ctrs[i].image = strdup("busybox");
        ps->ctrs[i].reason = "ContainerCreating";
    }
    for (size_t i = 0; i < ni; i++) {
        char name[32];
        snprintf(name, sizeof(name), "i%zu", i);
        ps->init[i].name = strdup(name);
        ps->init[i].image = strdup("busybox");
        ps->init[i].init = true;
    }
    snprintf(ps->host_ip, sizeof(ps->host_ip), "172.18.0.2");
    ps->qos = "BestEffort";
    ps->sandbox = true;
}

static void test_cstatus_runs(void **state)
{
    (void)state;
    kl_cstatus_t c = {0};
    c.name = strdup("c");
    kl_cstatus_run(&c, 1000);
    assert_int_equal(c.state, KL_CSTATE_RUNNING);
    assert_int_equal(c.restarts, 0);
    kl_cstatus_terminate(&c, 1, 0, NULL, "boom", 1000, 2000);
    assert_int_equal(c.state, KL_CSTATE_TERMINATED);
    assert_string_equal(c.term.reason, "Error");
    assert_int_equal(c.term.instance, 0);
    /* In back-off: waiting, lastState is the run that ended, restartCount unchanged. */
    kl_cstatus_wait(&c, "CrashLoopBackOff", "back-off 10s");
    assert_true(c.has_last);
    assert_int_equal(c.last.exit_code, 1);
    assert_string_equal(c.last.message, "boom");
    assert_int_equal(c.restarts, 0);
    kl_cstatus_run(&c, 12000);
    assert_int_equal(c.restarts, 1);
    assert_null(c.message);
    kl_cstatus_terminate(&c, 0, 0, NULL, NULL, 12000, 13000);
    assert_string_equal(c.term.reason, "Completed");
    assert_int_equal(c.term.instance, 1);
    /* Restarted at once: the terminated run moves to lastState. */
    kl_cstatus_run(&c, 13000);
    assert_int_equal(c.restarts, 2);
    assert_int_equal(c.last.exit_code, 0);
    assert_int_equal(c.last.instance, 1);
    kl_cstatus_cleanup(&c);
}

static void test_phase(void **state)
{
    (void)state;
    kl_podstatus_t ps;
    mkpod(&ps, 2, 0, KL_RESTART_NEVER);
    assert_string_equal(kl_podstatus_phase(&ps), "Pending");
    kl_cstatus_run(&ps.ctrs[0], 1);
    assert_string_equal(kl_podstatus_phase(&ps), "Pending"); /* one still waiting */
    kl_cstatus_run(&ps.ctrs[1], 1);
    assert_string_equal(kl_podstatus_phase(&ps), "Running");
    kl_cstatus_terminate(&ps.ctrs[0], 0, 0, NULL, NULL, 1, 2);
    assert_string_equal(kl_podstatus_phase(&ps), "Running");
    kl_cstatus_terminate(&ps.ctrs[1], 0, 0, NULL, NULL, 1, 2);
    assert_string_equal(kl_podstatus_phase(&ps), "Succeeded");
    kl_cstatus_terminate(&ps.ctrs[1], 2, 0, NULL, NULL, 1, 2);
    assert_string_equal(kl_podstatus_phase(&ps), "Failed");
    ps.restart_policy = KL_RESTART_ON_FAILURE;
    assert_string_equal(kl_podstatus_phase(&ps), "Running"); /* restarting */
    ps.restart_policy = KL_RESTART_ALWAYS;
    kl_cstatus_terminate(&ps.ctrs[1], 0, 0, NULL, NULL, 1, 2);
    assert_string_equal(kl_podstatus_phase(&ps), "Running");
    /* Deleted and stopped: a terminal phase whatever the policy. */
    ps.terminal = true;
    assert_string_equal(kl_podstatus_phase(&ps), "Succeeded");
    kl_cstatus_terminate(&ps.ctrs[0], 143, 15, NULL, NULL, 1, 2);
    assert_string_equal(kl_podstatus_phase(&ps), "Failed");
    kl_podstatus_cleanup(&ps);

    /* Deleted before anything ran. */
    mkpod(&ps, 1, 0, KL_RESTART_ALWAYS);
    ps.terminal = true;
    assert_string_equal(kl_podstatus_phase(&ps), "Failed");
    kl_podstatus_cleanup(&ps);

    /* Init containers. */
    mkpod(&ps, 1, 2, KL_RESTART_NEVER);
    assert_string_equal(kl_podstatus_phase(&ps), "Pending");
    kl_cstatus_run(&ps.init[0], 1);
    assert_string_equal(kl_podstatus_phase(&ps), "Pending");
    kl_cstatus_terminate(&ps.init[0], 0, 0, NULL, NULL, 1, 2);
    assert_string_equal(kl_podstatus_phase(&ps), "Pending");
    kl_cstatus_run(&ps.init[1], 2);
    kl_cstatus_terminate(&ps.init[1], 1, 0, NULL, NULL, 2, 3);
    assert_string_equal(kl_podstatus_phase(&ps), "Failed"); /* Never: init failure is final */
    ps.restart_policy = KL_RESTART_ON_FAILURE;
    assert_string_equal(kl_podstatus_phase(&ps), "Pending");
    kl_podstatus_cleanup(&ps);

    /* A sidecar must have started before the pod leaves Pending. */
    mkpod(&ps, 1, 1, KL_RESTART_ALWAYS);
    ps.init[0].sidecar = true;
    kl_cstatus_run(&ps.init[0], 1);
    kl_cstatus_run(&ps.ctrs[0], 1);
    assert_string_equal(kl_podstatus_phase(&ps), "Pending");
    ps.init[0].started = true;
    assert_string_equal(kl_podstatus_phase(&ps), "Running");
    kl_podstatus_cleanup(&ps);

    /* Rejected at admission. */
    mkpod(&ps, 1, 0, KL_RESTART_ALWAYS);
    ps.fail_reason = "OutOfcpu";
    assert_string_equal(kl_podstatus_phase(&ps), "Failed");
    kl_podstatus_cleanup(&ps);
}

static const kl_json_t *cond(const kl_json_t *st, const char *type)
{
    const kl_json_t *conds = kl_json_get(st, "conditions");
    for (uint32_t i = 0; i < conds->len; i++)
        if (!strcmp(kl_json_path_str(kl_json_at(conds, i), "type", NULL), type))
            return kl_json_at(conds, i);
    fail_msg("no condition %s", type);
    return NULL;
}

static void test_status_json(void **state)
{
    (void)state;
    kl_podstatus_t ps;
    kl_json_t *st;
    mkpod(&ps, 2, 1, KL_RESTART_ALWAYS);
    snprintf(ps.pod_ip, sizeof(ps.pod_ip), "10.244.0.2");
    ps.start_ms = 1700000000000;
    assert_int_equal(kl_podstatus_json(&ps, 1700000000000, &st), 0);
    assert_string_equal(kl_json_path_str(st, "phase", NULL), "Pending");
    assert_string_equal(kl_json_path_str(cond(st, "Initialized"), "status", NULL), "False");
    assert_string_equal(kl_json_path_str(cond(st, "Initialized"), "reason", NULL),
                        "ContainersNotInitialized");
    assert_string_equal(kl_json_path_str(cond(st, "Initialized"), "message", NULL),
                        "containers with incomplete status: [i0]");
    assert_string_equal(kl_json_path_str(cond(st, "Ready"), "message", NULL),
                        "containers with unready status: [c1 c0]");
    assert_string_equal(kl_json_path_str(cond(st, "PodReadyToStartContainers"), "status", NULL),
                        "True");
    assert_string_equal(kl_json_path_str(cond(st, "PodScheduled"), "status", NULL), "True");
    /* Absent reason/message are explicit nulls (a merge patch clears old ones). */
    assert_true(kl_json_is(kl_json_get(cond(st, "PodScheduled"), "reason"), KL_TNULL));
    assert_string_equal(kl_json_path_str(st, "podIP", NULL), "10.244.0.2");
    assert_string_equal(kl_json_path_str(st, "hostIP", NULL), "172.18.0.2");
    assert_string_equal(kl_json_path_str(st, "startTime", NULL), "2023-11-14T22:13:20Z");
    assert_string_equal(kl_json_path_str(st, "qosClass", NULL), "BestEffort");
    /* Container statuses are sorted by name. */
    const kl_json_t *cs = kl_json_get(st, "containerStatuses");
    assert_int_equal(cs->len, 2);
    assert_string_equal(kl_json_path_str(kl_json_at(cs, 0), "name", NULL), "c0");
    assert_string_equal(kl_json_path_str(kl_json_at(cs, 0), "state", "waiting", "reason", NULL),
                        "ContainerCreating");
    assert_int_equal(kl_json_get(st, "initContainerStatuses")->len, 1);
    kl_json_free(st);

    /* Init done, both running and ready. */
    kl_cstatus_run(&ps.init[0], 1700000000000);
    kl_cstatus_terminate(&ps.init[0], 0, 0, NULL, NULL, 1700000000000, 1700000001000);
    for (size_t i = 0; i < 2; i++) {
        kl_cstatus_run(&ps.ctrs[i], 1700000001000);
        ps.ctrs[i].ready = ps.ctrs[i].started = true;
    }
    assert_int_equal(kl_podstatus_json(&ps, 1700000002000, &st), 0);
    assert_string_equal(kl_json_path_str(st, "phase", NULL), "Running");
    assert_string_equal(kl_json_path_str(cond(st, "Ready"), "status", NULL), "True");
    assert_string_equal(kl_json_path_str(cond(st, "Ready"), "lastTransitionTime", NULL),
                        "2023-11-14T22:13:22Z");
    assert_string_equal(kl_json_path_str(cond(st, "PodScheduled"), "lastTransitionTime", NULL),
                        "2023-11-14T22:13:20Z");
    const kl_json_t *init = kl_json_at(kl_json_get(st, "initContainerStatuses"), 0);
    assert_true(kl_json_bool_or(kl_json_get(init, "ready"), false));
    assert_int_equal(
        kl_json_int_or(kl_json_path(init, "state", "terminated", "exitCode", NULL), -1), 0);
    const kl_json_t *c0 = kl_json_at(kl_json_get(st, "containerStatuses"), 0);
    assert_true(kl_json_bool_or(kl_json_get(c0, "ready"), false));
    assert_true(kl_json_bool_or(kl_json_get(c0, "started"), false));
    assert_non_null(kl_json_path_str(c0, "state", "running", "startedAt", NULL));
    assert_non_null(kl_json_path_str(c0, "containerID", NULL));
    kl_json_free(st);

    /* Same state later: transition times do not move. */
    assert_int_equal(kl_podstatus_json(&ps, 1700000009000, &st), 0);
    assert_string_equal(kl_json_path_str(cond(st, "Ready"), "lastTransitionTime", NULL),
                        "2023-11-14T22:13:22Z");
    kl_json_free(st);

    /* Completed. */
    ps.restart_policy = KL_RESTART_NEVER;
    for (size_t i = 0; i < 2; i++)
        kl_cstatus_terminate(&ps.ctrs[i], 0, 0, NULL, NULL, 1700000001000, 1700000010000);
    ps.sandbox = false;
    assert_int_equal(kl_podstatus_json(&ps, 1700000010000, &st), 0);
    assert_string_equal(kl_json_path_str(st, "phase", NULL), "Succeeded");
    assert_string_equal(kl_json_path_str(cond(st, "Ready"), "reason", NULL), "PodCompleted");
    assert_string_equal(kl_json_path_str(cond(st, "Initialized"), "reason", NULL), "PodCompleted");
    assert_string_equal(kl_json_path_str(cond(st, "PodReadyToStartContainers"), "status", NULL),
                        "False");
    kl_json_free(st);

    /* Pod-level failure. */
    ps.fail_reason = "DeadlineExceeded";
    ps.fail_message = strdup("Pod was active on the node longer than the specified deadline");
    assert_int_equal(kl_podstatus_json(&ps, 1700000011000, &st), 0);
    assert_string_equal(kl_json_path_str(st, "phase", NULL), "Failed");
    assert_string_equal(kl_json_path_str(st, "reason", NULL), "DeadlineExceeded");
    assert_string_equal(kl_json_path_str(cond(st, "Ready"), "reason", NULL), "PodFailed");
    kl_json_free(st);
    kl_podstatus_cleanup(&ps);
}

static void test_adopt(void **state)
{
    (void)state;
    kl_obj_t *o = parse(
        "{\"phase\":\"Running\",\"podIP\":\"10.244.0.7\",\"startTime\":\"2024-01-01T00:00:00Z\","
        "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
        "\"lastTransitionTime\":\"2024-01-01T00:00:05Z\"}],"
        "\"containerStatuses\":[{\"name\":\"c0\",\"restartCount\":3,\"ready\":true,"
        "\"started\":true,\"state\":{\"running\":{\"startedAt\":\"2024-01-01T00:00:04Z\"}},"
        "\"lastState\":{\"terminated\":{\"exitCode\":2,\"reason\":\"Error\","
        "\"startedAt\":\"2024-01-01T00:00:01Z\",\"finishedAt\":\"2024-01-01T00:00:02Z\"}}},"
        "{\"name\":\"c1\",\"restartCount\":0,\"state\":{\"terminated\":{\"exitCode\":0,"
        "\"reason\":\"Completed\",\"startedAt\":\"2024-01-01T00:00:01Z\","
        "\"finishedAt\":\"2024-01-01T00:00:03Z\"}}},"
        "{\"name\":\"gone\",\"restartCount\":9}]}");
    kl_podstatus_t ps;
    mkpod(&ps, 2, 0, KL_RESTART_ALWAYS);
    kl_podstatus_adopt(&ps, kl_obj_root(o));
    kl_cstatus_t *c0 = &ps.ctrs[1], *c1 = &ps.ctrs[0]; /* mkpod names them in reverse */
    assert_string_equal(c0->name, "c0");
    assert_int_equal(c0->state, KL_CSTATE_RUNNING);
    assert_int_equal(c0->restarts, 3);
    assert_int_equal(c0->started_ms, 1704067204000);
    assert_true(c0->ready);
    assert_true(c0->has_last);
    assert_int_equal(c0->last.exit_code, 2);
    assert_int_equal(c0->last.instance, 2);
    assert_int_equal(c1->state, KL_CSTATE_TERMINATED);
    assert_string_equal(c1->term.reason, "Completed");
    assert_int_equal(c1->term.finished_ms, 1704067203000);
    assert_string_equal(ps.pod_ip, "10.244.0.7");
    assert_int_equal(ps.start_ms, 1704067200000);
    assert_int_equal(ps.cond[KL_PCOND_READY].status, 1);
    assert_int_equal(ps.cond[KL_PCOND_READY].since_ms, 1704067205000);
    kl_podstatus_cleanup(&ps);
    kl_obj_unref(o);
}

static const char *qos(const char *spec)
{
    kl_obj_t *o = parse(spec);
    const char *q = kl_pod_qos_class(kl_obj_root(o));
    kl_obj_unref(o);
    return q;
}

static void test_qos(void **state)
{
    (void)state;
    assert_string_equal(qos("{\"containers\":[{\"name\":\"a\"}]}"), "BestEffort");
    assert_string_equal(
        qos("{\"containers\":[{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"100m\"}}}]}"),
        "Burstable");
    assert_string_equal(
        qos("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\","
            "\"memory\":\"1Gi\"}}}]}"),
        "Guaranteed");
    assert_string_equal(
        qos("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\","
            "\"memory\":\"1Gi\"},\"requests\":{\"cpu\":\"500m\",\"memory\":\"1Gi\"}}}]}"),
        "Burstable");
    assert_string_equal(
        qos("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\","
            "\"memory\":\"1Gi\"}}},{\"name\":\"b\"}]}"),
        "Burstable");
    /* Zero quantities do not count. */
    assert_string_equal(
        qos("{\"containers\":[{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"0\"}}}]}"),
        "BestEffort");
    /* The sample fluentd DaemonSet. */
    assert_string_equal(
        qos("{\"containers\":[{\"name\":\"f\",\"resources\":{\"limits\":{\"memory\":\"200Mi\"},"
            "\"requests\":{\"cpu\":\"100m\",\"memory\":\"200Mi\"}}}]}"),
        "Burstable");
}

static void test_addresses(void **state)
{
    (void)state;
    char ip[16], cidr[24];
    kl_node_ip(0, ip);
    assert_string_equal(ip, "172.18.0.2");
    kl_node_ip(300, ip);
    assert_string_equal(ip, "172.18.1.46");
    kl_node_pod_cidr(0, cidr);
    assert_string_equal(cidr, "10.244.0.0/24");
    kl_node_pod_cidr(255, cidr);
    assert_string_equal(cidr, "10.244.255.0/24");
    kl_node_pod_cidr(256, cidr);
    assert_string_equal(cidr, "10.245.0.0/24");
    kl_node_pod_cidr(4999, cidr);
    assert_string_equal(cidr, "10.7.135.0/24");
    for (uint32_t i = 0; i < 65536; i += 97) {
        kl_node_pod_cidr(i, cidr);
        assert_int_equal(kl_node_pod_cidr_index(cidr), i);
    }
    assert_int_equal(kl_node_pod_cidr_index("10.244.0.0/16"), -1);
    assert_int_equal(kl_node_pod_cidr_index("192.168.1.0/24"), -1);
    assert_int_equal(kl_node_pod_cidr_index(NULL), -1);
}

static void test_ipam(void **state)
{
    (void)state;
    kl_ipam_t p;
    char ip[16];
    assert_int_equal(kl_ipam_init(&p, "10.244.3.0/16"), KL_EINVAL);
    assert_int_equal(kl_ipam_init(&p, "10.244.3.0/24"), 0);
    assert_int_equal(kl_ipam_alloc(&p, ip), 0);
    assert_string_equal(ip, "10.244.3.2");
    assert_int_equal(kl_ipam_alloc(&p, ip), 0);
    assert_string_equal(ip, "10.244.3.3");
    kl_ipam_release(&p, "10.244.3.2");
    /* Round robin: a freed address is not handed out again at once. */
    assert_int_equal(kl_ipam_alloc(&p, ip), 0);
    assert_string_equal(ip, "10.244.3.4");
    assert_true(kl_ipam_claim(&p, "10.244.3.9"));
    assert_false(kl_ipam_claim(&p, "10.244.4.9"));
    assert_false(kl_ipam_claim(&p, "10.244.3.255"));
    assert_int_equal(kl_ipam_used(&p), 3);
    int n = 0;
    while (kl_ipam_alloc(&p, ip) == 0)
        n++;
    assert_int_equal(n, 253 - 3);
    assert_int_equal(kl_ipam_alloc(&p, ip), KL_EBUSY);
    kl_ipam_release(&p, "10.244.3.100");
    assert_int_equal(kl_ipam_alloc(&p, ip), 0);
    assert_string_equal(ip, "10.244.3.100");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),      cmocka_unit_test(test_restart_policy),
        cmocka_unit_test(test_cstatus_runs), cmocka_unit_test(test_phase),
        cmocka_unit_test(test_status_json),  cmocka_unit_test(test_adopt),
        cmocka_unit_test(test_qos),          cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_ipam),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
