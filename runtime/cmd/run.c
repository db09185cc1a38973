/* kubelua run: the bundled and user policies as controllers against a cluster. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/ktime.h"
#include "kubelua/kubeconfig.h"
#include "kubelua/log.h"

#include "cmd/cmd.h"
#include "controller/host.h"

#define MAX_PATHS 64

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kubelua run [OPTIONS] [POLICY...]\n"
            "\n"
            "Runs policies as controllers against the cluster of the kubeconfig: the bundled\n"
            "daemonset, job and cronjob policies, plus every --policies file or directory (a\n"
            "file named like a bundled policy replaces it). Policy files are reloaded when they\n"
            "change and on SIGHUP; SIGTERM/SIGINT let reconciles in flight finish and exit.\n"
            "\n"
            "  --kubeconfig FILE        kubeconfig (default $KUBECONFIG, ~/.kube/config,\n"
            "                           then in-cluster)\n"
            "  --context NAME           kubeconfig context\n"
            "  --policies PATH          policy file or directory (repeatable; also positional)\n"
            "  --no-builtin             do not run the bundled policies\n"
            "  --controllers LIST       '*' (default), 'name', '-name', comma-separated\n"
            "  --namespace NS           only watch namespaced objects in NS\n"
            "  --dry-run                send every write with dryRun=All and log it\n"
            "  --leader-elect           run only while holding a coordination.k8s.io Lease\n"
            "  --leader-elect-lease-duration D   (default 15s)\n"
            "  --leader-elect-renew-deadline D   (default 10s)\n"
            "  --leader-elect-retry-period D     (default 2s)\n"
            "  --leader-elect-resource-name NAME       (default kubelua)\n"
            "  --leader-elect-resource-namespace NS    (default kube-system)\n"
            "  --metrics-listen ADDR    serve /metrics, /healthz, /readyz on HOST:PORT\n"
            "  --no-watch               do not reload policy files when they change\n"
            "  --kube-api-qps N         client request rate (default 50; 0: unlimited)\n"
            "  --kube-api-burst N       (default 100)\n"
            "  --shutdown-grace D       wait this long for reconciles on stop (default 30s)\n"
            "  --log-format text|json   (default text)\n"
            "  -v, --verbosity LEVEL    error, warn, info (default), debug, trace or 0-4\n");
}

typedef struct run_state {
    uv_loop_t *loop;
    kl_host_t *host;
    uv_signal_t sigint, sigterm, sighup;
    double grace;
    int exit_code;
    int signals;
} run_state_t;

static void close_all(run_state_t *st)
{
    uv_close((uv_handle_t *)&st->sigint, NULL);
    uv_close((uv_handle_t *)&st->sigterm, NULL);
    uv_close((uv_handle_t *)&st->sighup, NULL);
    kl_host_free(st->host);
    st->host = NULL;
}

/* Everything is freed from main once the loop has stopped, never from inside a callback of
 * what is being freed. */
static void on_stopped(void *ud)
{
    run_state_t *st = ud;
    KL_INFO("run", "stopped");
    uv_stop(st->loop);
}

static void on_signal(uv_signal_t *s, int signum)
{
    run_state_t *st = s->data;
    if (signum == SIGHUP) {
        kl_host_reload(st->host);
        return;
    }
    if (++st->signals > 1) {
        KL_WARN("run", "second signal: exiting now");
        exit(st->exit_code ? st->exit_code : 1);
    }
    KL_INFO("run", "received %s, stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    kl_host_stop(st->host, st->grace, on_stopped, st);
}

static void on_started(kl_host_t *h, int rc, const kl_errinfo_t *err, void *ud)
{
    run_state_t *st = ud;
    (void)h;
    if (rc == 0)
        return;
    fprintf(stderr, "kubelua run: %s\n", err ? err->msg : kl_strerror(rc));
    st->exit_code = 1;
    uv_stop(st->loop);
}

static int parse_seconds(const char *flag, const char *v, double *out)
{
    int64_t ns;
    kl_errinfo_t err;
    char *end;
    double plain = strtod(v, &end);
    if (*v && *end == '\0' && plain >= 0) {
        *out = plain;
        return 0;
    }
    if (kl_time_parse_duration(v, &ns, &err) < 0 || ns < 0) {
        fprintf(stderr, "kubelua run: %s: bad duration \"%s\" (e.g. 15s, 1m)\n", flag, v);
        return -1;
    }
    *out = (double)ns / 1e9;
    return 0;
}

enum {
    OPT_KUBECONFIG = 256,
    OPT_CONTEXT,
    OPT_POLICIES,
    OPT_NO_BUILTIN,
    OPT_CONTROLLERS,
    OPT_NAMESPACE,
    OPT_DRY_RUN,
    OPT_LEADER,
    OPT_LEASE_DURATION,
    OPT_RENEW,
    OPT_RETRY,
    OPT_LEASE_NAME,
    OPT_LEASE_NS,
    OPT_METRICS,
    OPT_NO_WATCH,
    OPT_QPS,
    OPT_BURST,
    OPT_GRACE,
    OPT_LOG_FORMAT,
    OPT_IDENTITY,
};

int kl_cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
        {"context", required_argument, NULL, OPT_CONTEXT},
        {"policies", required_argument, NULL, OPT_POLICIES},
        {"no-builtin", no_argument, NULL, OPT_NO_BUILTIN},
        {"controllers", required_argument, NULL, OPT_CONTROLLERS},
        {"namespace", required_argument, NULL, OPT_NAMESPACE},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"leader-elect", no_argument, NULL, OPT_LEADER},
        {"leader-elect-lease-duration", required_argument, NULL, OPT_LEASE_DURATION},
        {"leader-elect-renew-deadline", required_argument, NULL, OPT_RENEW},
        {"leader-elect-retry-period", required_argument, NULL, OPT_RETRY},
        {"leader-elect-resource-name", required_argument, NULL, OPT_LEASE_NAME},
        {"leader-elect-resource-namespace", required_argument, NULL, OPT_LEASE_NS},
        {"leader-elect-identity", required_argument, NULL, OPT_IDENTITY},
        {"metrics-listen", required_argument, NULL, OPT_METRICS},
        {"no-watch", no_argument, NULL, OPT_NO_WATCH},
        {"kube-api-qps", required_argument, NULL, OPT_QPS},
        {"kube-api-burst", required_argument, NULL, OPT_BURST},
        {"shutdown-grace", required_argument, NULL, OPT_GRACE},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"verbosity", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    kl_kubeconfig_opts_t ko = {0};
    kl_host_opts_t ho = {0};
    kl_client_opts_t co;
    kl_client_opts_init(&co);
    const char *paths[MAX_PATHS + 1] = {0};
    size_t npaths = 0;
    run_state_t st = {.grace = 30};
    ho.watch_files = true;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "v:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_KUBECONFIG:
            ko.kubeconfig = optarg;
            break;
        case OPT_CONTEXT:
            ko.context = optarg;
            break;
        case OPT_POLICIES:
            if (npaths == MAX_PATHS) {
                fprintf(stderr, "kubelua run: more than %d --policies\n", MAX_PATHS);
                return 2;
            }
            paths[npaths++] = optarg;
            break;
        case OPT_NO_BUILTIN:
            ho.no_builtin = true;
            break;
        case OPT_CONTROLLERS:
            ho.controllers = optarg;
            break;
        case OPT_NAMESPACE:
            ho.namespace = optarg;
            break;
        case OPT_DRY_RUN:
            ho.dry_run = true;
            break;
        case OPT_LEADER:
            ho.leader_elect = true;
            break;
        case OPT_LEASE_DURATION:
            if (parse_seconds("--leader-elect-lease-duration", optarg, &ho.lease_seconds) < 0)
                return 2;
            break;
        case OPT_RENEW:
            if (parse_seconds("--leader-elect-renew-deadline", optarg, &ho.renew_seconds) < 0)
                return 2;
            break;
        case OPT_RETRY:
            if (parse_seconds("--leader-elect-retry-period", optarg, &ho.retry_seconds) < 0)
                return 2;
            break;
        case OPT_LEASE_NAME:
            ho.lease_name = optarg;
            break;
        case OPT_LEASE_NS:
            ho.lease_namespace = optarg;
            break;
        case OPT_IDENTITY:
            ho.identity = optarg;
            break;
        case OPT_METRICS:
            ho.metrics_listen = optarg;
            break;
        case OPT_NO_WATCH:
            ho.watch_files = false;
            break;
        case OPT_QPS:
            co.qps = strtod(optarg, NULL);
            break;
        case OPT_BURST:
            co.burst = atoi(optarg);
            break;
        case OPT_GRACE:
            if (parse_seconds("--shutdown-grace", optarg, &st.grace) < 0)
                return 2;
            break;
        case OPT_LOG_FORMAT:
            if (strcmp(optarg, "json") == 0)
                kl_log_set_format(KL_LOG_FORMAT_JSON);
            else if (strcmp(optarg, "text") == 0)
                kl_log_set_format(KL_LOG_FORMAT_TEXT);
            else {
                fprintf(stderr, "kubelua run: --log-format is text or json\n");
                return 2;
            }
            break;
        case 'v':
            if (kl_cmd_set_verbosity("run", optarg) < 0)
                return 2;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    for (; optind < argc; optind++) {
        if (npaths == MAX_PATHS) {
            fprintf(stderr, "kubelua run: more than %d policy paths\n", MAX_PATHS);
            return 2;
        }
        paths[npaths++] = argv[optind];
    }
    if (ho.leader_elect) {
        double lease = ho.lease_seconds ? ho.lease_seconds : 15;
        double renew = ho.renew_seconds ? ho.renew_seconds : 10;
        double retry = ho.retry_seconds ? ho.retry_seconds : 2;
        if (!(lease > renew && renew > retry && retry > 0)) {
            fprintf(stderr, "kubelua run: leader election needs lease-duration > renew-deadline "
                            "> retry-period > 0\n");
            return 2;
        }
    }
    kl_restconfig_t *cfg = NULL;
    kl_errinfo_t err;
    if (kl_restconfig_load(&ko, &cfg, &err) < 0) {
        fprintf(stderr, "kubelua run: %s\n", err.msg);
        return 1;
    }
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0) {
        kl_restconfig_free(cfg);
        return 1;
    }
    /* A dropped connection must be an error on that socket, not the end of the process. */
    signal(SIGPIPE, SIG_IGN);
    st.loop = &loop;
    ho.loop = &loop;
    ho.config = cfg;
    ho.client = &co;
    ho.policy_paths = paths;
    ho.started = on_started;
    ho.ud = &st;
    int rc = kl_host_new(&ho, &st.host, &err);
    kl_restconfig_free(cfg);
    if (rc < 0) {
        fprintf(stderr, "kubelua run: %s\n", err.msg);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return rc == KL_EINVAL || rc == KL_ENOTFOUND ? 2 : 1;
    }
    if (kl_host_metrics_address(st.host))
        KL_INFO("run", "metrics on http://%s/metrics", kl_host_metrics_address(st.host));
    uv_signal_init(&loop, &st.sigint);
    uv_signal_init(&loop, &st.sigterm);
    uv_signal_init(&loop, &st.sighup);
    st.sigint.data = st.sigterm.data = st.sighup.data = &st;
    uv_signal_start(&st.sigint, on_signal, SIGINT);
    uv_signal_start(&st.sigterm, on_signal, SIGTERM);
    uv_signal_start(&st.sighup, on_signal, SIGHUP);
    uv_run(&loop, UV_RUN_DEFAULT);
    close_all(&st);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        KL_DEBUG("run", "handles still open at exit");
    return st.exit_code;
}
