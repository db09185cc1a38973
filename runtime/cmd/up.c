/* kubelua up: an embedded cluster in one process - the API server (its own thread), simulated
 * nodes whose pods really run (the node agent), and the cluster and workload policies. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/kubeconfig.h"
#include "kubelua/log.h"

#include "apiserver/apiserver.h"
#include "apiserver/local.h"
#include "cluster/agent.h"
#include "cluster/config.h"
#include "cluster/podlog_hook.h"
#include "cmd/cmd.h"
#include "controller/host.h"

#define MAX_PATHS 64

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kubelua up [OPTIONS]\n"
            "\n"
            "Starts a cluster on this machine in one process: the embedded API server, simulated\n"
            "nodes that run their pods (as local processes, or on timers in simulated mode), the\n"
            "cluster's controllers (scheduler, node lifecycle, TTL after finished) and the\n"
            "bundled workload policies. Prints the kubeconfig once every node is Ready. Ctrl-C\n"
            "stops everything; starting again with the same --data-dir resumes the cluster.\n"
            "\n"
            "  --nodes N                nodes kubelua-node-1..N (default 3; replaces the\n"
            "                           nodes of --config)\n"
            "  --config FILE            cluster configuration (YAML: nodes, labels, taints,\n"
            "                           capacity, run mode, simulated pod defaults)\n"
            "  --mode process|simulated how pods run by default (default process)\n"
            "  --data-dir DIR           state, certificates, kubeconfig, pod logs\n"
            "                           (default ./kubelua-data)\n"
            "  --listen ADDR            API server address (default 127.0.0.1:6443; port 0\n"
            "                           picks a free one)\n"
            "  --policies PATH          user policy file or directory (repeatable)\n"
            "  --controllers LIST       '*' (default), 'name', '-name', comma-separated\n"
            "                           (scheduler, nodelifecycle, ttl, daemonset, job, cronjob,\n"
            "                           and user policies)\n"
            "  --metrics-listen ADDR    serve the controllers' /metrics, /healthz, /readyz\n"
            "  --kube-api-qps N         controllers' request rate (default 0: unlimited)\n"
            "  --shutdown-grace D       time given to pods' processes and reconciles on stop\n"
            "                           (default 5s)\n"
            "  --log-format text|json   (default text)\n"
            "  -v, --verbosity LEVEL    error, warn, info (default), debug, trace or 0-4\n");
}

typedef struct up_state {
    uv_loop_t *loop;
    kl_apiserver_t *srv;
    kl_local_t *local;
    kl_host_t *host;
    kl_agent_t *agent;
    kl_cluster_config_t *cluster;
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t report;
    double grace;
    int exit_code;
    int signals;
    bool host_started, agent_ready, announced;
    size_t nodes;
    uint64_t t0;
} up_state_t;

static void announce(up_state_t *st)
{
    if (st->announced || !st->host_started || !st->agent_ready)
        return;
    st->announced = true;
    double secs = (double)(uv_hrtime() - st->t0) / 1e9;
    KL_INFO("up", "cluster ready in %.1fs: %zu nodes", secs, st->nodes);
    printf("kubelua cluster is up (%zu node%s, API server %s, ready in %.1fs)\n"
           "  export KUBECONFIG=%s\n"
           "  kubectl get nodes\n",
           st->nodes, st->nodes == 1 ? "" : "s", kl_apiserver_url(st->srv), secs,
           kl_apiserver_kubeconfig(st->srv));
    fflush(stdout);
}

static void on_agent_ready(kl_agent_t *a, void *ud)
{
    up_state_t *st = ud;
    (void)a;
    st->agent_ready = true;
    announce(st);
}

static void on_host_started(kl_host_t *h, int rc, const kl_errinfo_t *err, void *ud)
{
    up_state_t *st = ud;
    (void)h;
    if (rc == 0) {
        st->host_started = true;
        announce(st);
        return;
    }
    fprintf(stderr, "kubelua up: %s\n", err ? err->msg : kl_strerror(rc));
    st->exit_code = 1;
    uv_stop(st->loop);
}

static void on_host_stopped(void *ud)
{
    up_state_t *st = ud;
    KL_INFO("up", "stopped");
    uv_stop(st->loop);
}

static void on_agent_stopped(void *ud)
{
    up_state_t *st = ud;
    kl_host_stop(st->host, st->grace, on_host_stopped, st);
}

static void on_signal(uv_signal_t *s, int signum)
{
    up_state_t *st = s->data;
    if (signum == SIGHUP) {
        kl_host_reload(st->host);
        return;
    }
    if (++st->signals > 1) {
        KL_WARN("up", "second signal: exiting now");
        exit(1);
    }
    KL_INFO("up", "received %s, stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    uv_timer_stop(&st->report);
    kl_agent_stop(st->agent, st->grace, on_agent_stopped, st);
}

/* Every minute at debug level, and when asked: the agent's counters. */
static void on_report(uv_timer_t *t)
{
    up_state_t *st = t->data;
    kl_agent_stats_t s;
    kl_agent_stats(st->agent, &s);
    KL_DEBUG("up",
             "nodes=%zu ready=%zu stopped=%zu pods=%zu processes=%zu lease_writes=%llu "
             "node_status_writes=%llu pod_status_writes=%llu errors=%llu",
             s.nodes, s.nodes_ready, s.nodes_stopped, s.pods, s.processes,
             (unsigned long long)s.lease_writes, (unsigned long long)s.node_status_writes,
             (unsigned long long)s.pod_status_writes, (unsigned long long)s.write_errors);
}

static int parse_seconds(const char *v, double *out)
{
    int64_t ms;
    if (kl_sim_duration_parse(v, &ms) < 0)
        return -1;
    *out = (double)ms / 1000.0;
    return 0;
}

enum {
    OPT_NODES = 256,
    OPT_CONFIG,
    OPT_MODE,
    OPT_DATA_DIR,
    OPT_LISTEN,
    OPT_POLICIES,
    OPT_CONTROLLERS,
    OPT_METRICS,
    OPT_QPS,
    OPT_GRACE,
    OPT_LOG_FORMAT,
};

int kl_cmd_up(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"nodes", required_argument, NULL, OPT_NODES},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"mode", required_argument, NULL, OPT_MODE},
        {"data-dir", required_argument, NULL, OPT_DATA_DIR},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"policies", required_argument, NULL, OPT_POLICIES},
        {"controllers", required_argument, NULL, OPT_CONTROLLERS},
        {"metrics-listen", required_argument, NULL, OPT_METRICS},
        {"kube-api-qps", required_argument, NULL, OPT_QPS},
        {"shutdown-grace", required_argument, NULL, OPT_GRACE},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"verbosity", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *paths[MAX_PATHS + 1] = {0};
    size_t npaths = 0;
    const char *config_file = NULL, *data_dir = "./kubelua-data", *listen = NULL;
    const char *controllers = NULL, *metrics = NULL;
    long nodes = -1;
    int mode = -1;
    double qps = 0;
    up_state_t st = {.grace = 5};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "v:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_NODES: {
            char *end;
            nodes = strtol(optarg, &end, 10);
            if (*end || nodes < 0 || nodes > 60000) {
                fprintf(stderr, "kubelua up: --nodes takes a number from 0 to 60000\n");
                return 2;
            }
            break;
        }
        case OPT_CONFIG:
            config_file = optarg;
            break;
        case OPT_MODE:
            if (!strcmp(optarg, "process"))
                mode = KL_SIM_MODE_PROCESS;
            else if (!strcmp(optarg, "simulated"))
                mode = KL_SIM_MODE_SIMULATED;
            else {
                fprintf(stderr, "kubelua up: --mode is process or simulated\n");
                return 2;
            }
            break;
        case OPT_DATA_DIR:
            data_dir = optarg;
            break;
        case OPT_LISTEN:
            listen = optarg;
            break;
        case OPT_POLICIES:
            if (npaths == MAX_PATHS) {
                fprintf(stderr, "kubelua up: more than %d --policies\n", MAX_PATHS);
                return 2;
            }
            paths[npaths++] = optarg;
            break;
        case OPT_CONTROLLERS:
            controllers = optarg;
            break;
        case OPT_METRICS:
            metrics = optarg;
            break;
        case OPT_QPS:
            qps = strtod(optarg, NULL);
            break;
        case OPT_GRACE:
            if (parse_seconds(optarg, &st.grace) < 0) {
                fprintf(stderr, "kubelua up: --shutdown-grace: bad duration \"%s\"\n", optarg);
                return 2;
            }
            break;
        case OPT_LOG_FORMAT:
            if (strcmp(optarg, "json") == 0)
                kl_log_set_format(KL_LOG_FORMAT_JSON);
            else if (strcmp(optarg, "text") == 0)
                kl_log_set_format(KL_LOG_FORMAT_TEXT);
            else {
                fprintf(stderr, "kubelua up: --log-format is text or json\n");
                return 2;
            }
            break;
        case 'v': {
            int lvl = kl_log_level_parse(optarg);
            if (lvl < 0) {
                fprintf(stderr, "kubelua up: bad -v level '%s'\n", optarg);
                return 2;
            }
            kl_log_set_level((kl_log_level_t)lvl);
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kubelua up: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    kl_errinfo_t err;
    int rc;
    if (config_file)
        rc = kl_cluster_config_load(config_file, &st.cluster, &err);
    else
        rc = kl_cluster_config_default(KL_CLUSTER_DEFAULT_NODES, &st.cluster);
    if (rc < 0) {
        fprintf(stderr, "kubelua up: %s\n", config_file ? err.msg : kl_strerror(rc));
        return 2;
    }
    if (nodes >= 0 && kl_cluster_config_set_nodes(st.cluster, (unsigned)nodes) < 0) {
        kl_cluster_config_free(st.cluster);
        return 1;
    }
    if (mode >= 0)
        st.cluster->mode = (kl_sim_mode_t)mode;
    {
        kl_node_def_t *defs;
        if (kl_cluster_config_nodes(st.cluster, &defs, &st.nodes, &err) < 0) {
            fprintf(stderr, "kubelua up: %s\n", err.msg);
            kl_cluster_config_free(st.cluster);
            return 2;
        }
        kl_node_defs_free(defs, st.nodes);
    }
    st.t0 = uv_hrtime();

    /* The server thread never takes these signals: the loop below does. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    signal(SIGPIPE, SIG_IGN);

    kl_apiserver_opts_t so = {.data_dir = data_dir, .listen = listen};
    if (kl_apiserver_new(&so, &st.srv, &err) < 0) {
        fprintf(stderr, "kubelua up: %s\n", err.msg);
        kl_cluster_config_free(st.cluster);
        return 1;
    }
    kl_podlog_install(st.srv, data_dir);
    /* Lease renewals of the simulated kubelets skip HTTPS (apiserver/local.h). */
    if (kl_local_new(st.srv, &st.local) < 0)
        st.local = NULL;
    if (kl_apiserver_start_thread(st.srv, &err) < 0) {
        fprintf(stderr, "kubelua up: %s\n", err.msg);
        kl_local_free(st.local);
        kl_apiserver_free(st.srv);
        kl_cluster_config_free(st.cluster);
        return 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    KL_INFO("up", "API server on %s", kl_apiserver_url(st.srv));

    kl_restconfig_t *cfg = NULL;
    kl_kubeconfig_opts_t ko = {.kubeconfig = kl_apiserver_kubeconfig(st.srv),
                               .no_in_cluster_fallback = true};
    if (kl_restconfig_load(&ko, &cfg, &err) < 0) {
        fprintf(stderr, "kubelua up: %s\n", err.msg);
        kl_local_free(st.local);
        kl_apiserver_free(st.srv);
        kl_cluster_config_free(st.cluster);
        return 1;
    }
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0) {
        kl_restconfig_free(cfg);
        kl_local_free(st.local);
        kl_apiserver_free(st.srv);
        kl_cluster_config_free(st.cluster);
        return 1;
    }
    st.loop = &loop;

    kl_agent_opts_t ao = {.loop = &loop,
                          .config = cfg,
                          .cluster = st.cluster,
                          .data_dir = data_dir,
                          .local = st.local,
                          .ready = on_agent_ready,
                          .ud = &st};
    rc = kl_agent_new(&ao, &st.agent, &err);
    if (rc < 0) {
        fprintf(stderr, "kubelua up: node agent: %s\n", err.msg);
        st.exit_code = 1;
        goto out_loop;
    }
    static const char *const builtin[] = {"policies", "policies/cluster", NULL};
    kl_client_opts_t co;
    kl_client_opts_init(&co);
    co.qps = qps;
    kl_host_opts_t ho = {.loop = &loop,
                         .config = cfg,
                         .client = &co,
                         .policy_paths = paths,
                         .builtin_dirs = builtin,
                         .controllers = controllers,
                         .watch_files = true,
                         .metrics_listen = metrics,
                         .started = on_host_started,
                         .ud = &st};
    rc = kl_host_new(&ho, &st.host, &err);
    if (rc < 0) {
        fprintf(stderr, "kubelua up: %s\n", err.msg);
        st.exit_code = rc == KL_EINVAL || rc == KL_ENOTFOUND ? 2 : 1;
        goto out_loop;
    }
    if (kl_host_metrics_address(st.host))
        KL_INFO("up", "metrics on http://%s/metrics", kl_host_metrics_address(st.host));
    uv_signal_init(&loop, &st.sigint);
    uv_signal_init(&loop, &st.sigterm);
    uv_signal_init(&loop, &st.sighup);
    st.sigint.data = st.sigterm.data = st.sighup.data = &st;
    uv_signal_start(&st.sigint, on_signal, SIGINT);
    uv_signal_start(&st.sigterm, on_signal, SIGTERM);
    uv_signal_start(&st.sighup, on_signal, SIGHUP);
    uv_timer_init(&loop, &st.report);
    st.report.data = &st;
    uv_timer_start(&st.report, on_report, 60000, 60000);
    uv_unref((uv_handle_t *)&st.report);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&st.sigint, NULL);
    uv_close((uv_handle_t *)&st.sigterm, NULL);
    uv_close((uv_handle_t *)&st.sighup, NULL);
    uv_close((uv_handle_t *)&st.report, NULL);
out_loop:
    kl_host_free(st.host);
    kl_agent_free(st.agent);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        KL_DEBUG("up", "handles still open at exit");
    kl_restconfig_free(cfg);
    kl_local_free(st.local);
    kl_apiserver_free(st.srv);
    kl_cluster_config_free(st.cluster);
    return st.exit_code;
}
