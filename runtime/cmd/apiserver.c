/* kubelua apiserver: the embedded Kubernetes-compatible API server alone. */
#include "apiserver/apiserver.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/log.h"

#include "cluster/podlog_hook.h"
#include "cmd/cmd.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kubelua apiserver [--data-dir DIR] [--listen ADDR] [--http1-only] "
               "[-v LEVEL]\n"
               "\n"
               "Serves the Kubernetes API on ADDR (default 127.0.0.1:6443, port 0 picks one) over\n"
               "HTTPS, stores objects in DIR/state.db (default ./kubelua-data) and writes\n"
               "DIR/kubeconfig for kubectl. Stops on SIGINT or SIGTERM.\n");
}

int kl_cmd_apiserver(int argc, char **argv)
{
    kl_apiserver_opts_t opts = {0};
    static const struct option longopts[] = {
        {"data-dir", required_argument, NULL, 'd'}, {"listen", required_argument, NULL, 'l'},
        {"http1-only", no_argument, NULL, '1'},     {"verbosity", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:l:v:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            opts.data_dir = optarg;
            break;
        case 'l':
            opts.listen = optarg;
            break;
        case '1':
            opts.http1_only = 1;
            break;
        case 'v':
            if (kl_cmd_set_verbosity("apiserver", optarg) < 0)
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
    if (optind < argc) {
        fprintf(stderr, "kubelua apiserver: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    /* Signals are taken by this thread with sigwait; the server thread never sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    kl_apiserver_t *srv;
    kl_errinfo_t err;
    if (kl_apiserver_new(&opts, &srv, &err) < 0) {
        fprintf(stderr, "kubelua apiserver: %s\n", err.msg);
        return 1;
    }
    /* Container logs written under DATA_DIR/pods by a node agent are served as pods/log. */
    kl_podlog_install(srv, opts.data_dir ? opts.data_dir : "./kubelua-data");
    if (kl_apiserver_start_thread(srv, &err) < 0) {
        fprintf(stderr, "kubelua apiserver: %s\n", err.msg);
        kl_apiserver_free(srv);
        return 1;
    }
    KL_INFO("apiserver", "serving on %s", kl_apiserver_url(srv));
    printf("kubelua API server listening on %s\n"
           "  kubectl --kubeconfig %s get namespaces\n",
           kl_apiserver_url(srv), kl_apiserver_kubeconfig(srv));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    KL_INFO("apiserver", "received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    kl_apiserver_free(srv);
    return 0;
}
