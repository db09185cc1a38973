/* kubelua node stop|start NODE...: stops or resumes the heartbeats of simulated nodes of
 * `kubelua up` (the kubelua.io/stopped annotation the node agent obeys). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kubelua/client.h"
#include "kubelua/kubeconfig.h"

#include "cluster/agent.h"
#include "cmd/cmd.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kubelua node stop|start NODE... [--kubeconfig FILE | --data-dir DIR]\n"
               "\n"
               "stop: the simulated node stops heartbeating (no Lease renewals, no status\n"
               "updates), so the node lifecycle controller marks it NotReady and taints it, as\n"
               "after a crash or network partition; its running pods keep running.\n"
               "start: it resumes. Same as `kubectl annotate node NODE " KL_AGENT_ANNOTATION_STOPPED
               "=true`\n"
               "and `kubectl annotate node NODE " KL_AGENT_ANNOTATION_STOPPED "-`.\n"
               "\n"
               "The cluster is the one of --kubeconfig, else DIR/kubeconfig (default\n"
               "./kubelua-data/kubeconfig when it exists), else $KUBECONFIG / ~/.kube/config.\n");
}

typedef struct node_run {
    int pending;
    int failures;
    bool stop;
} node_run_t;

typedef struct node_req {
    node_run_t *run;
    char name[256];
} node_req_t;

static void done(kl_client_t *c, int rc, const kl_obj_t *body, const kl_status_t *st, void *ud)
{
    node_req_t *r = ud;
    (void)c;
    (void)body;
    if (rc < 0) {
        fprintf(stderr, "kubelua node: %s: %s\n", r->name,
                st && st->message && *st->message ? st->message : kl_strerror(rc));
        r->run->failures++;
    } else {
        printf("node/%s %s\n", r->name, r->run->stop ? "stopped" : "started");
    }
    r->run->pending--;
    free(r);
}

int kl_cmd_node(int argc, char **argv)
{
    static const struct option longopts[] = {{"kubeconfig", required_argument, NULL, 'k'},
                                             {"data-dir", required_argument, NULL, 'd'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *kubeconfig = NULL, *data_dir = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            kubeconfig = optarg;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind < 2 || (strcmp(argv[optind], "stop") && strcmp(argv[optind], "start"))) {
        usage(stderr);
        return 2;
    }
    node_run_t run = {.stop = strcmp(argv[optind], "stop") == 0};
    char path[4096];
    struct stat sb;
    if (kubeconfig == NULL && data_dir) {
        snprintf(path, sizeof(path), "%s/kubeconfig", data_dir);
        kubeconfig = path;
    } else if (kubeconfig == NULL && stat("./kubelua-data/kubeconfig", &sb) == 0) {
        kubeconfig = "./kubelua-data/kubeconfig";
    }
    kl_kubeconfig_opts_t ko = {.kubeconfig = kubeconfig};
    kl_restconfig_t *cfg;
    kl_errinfo_t err;
    if (kl_restconfig_load(&ko, &cfg, &err) < 0) {
        fprintf(stderr, "kubelua node: %s\n", err.msg);
        return 1;
    }
    uv_loop_t loop;
    kl_client_t *client = NULL;
    if (uv_loop_init(&loop) < 0 || kl_client_new(&loop, cfg, NULL, &client, &err) < 0) {
        fprintf(stderr, "kubelua node: %s\n", err.msg);
        kl_restconfig_free(cfg);
        return 1;
    }
    kl_restconfig_free(cfg);
    const char *patch =
        run.stop ? "{\"metadata\":{\"annotations\":{\"" KL_AGENT_ANNOTATION_STOPPED "\":\"true\"}}}"
                 : "{\"metadata\":{\"annotations\":{\"" KL_AGENT_ANNOTATION_STOPPED "\":null}}}";
    for (int i = optind + 1; i < argc; i++) {
        node_req_t *r = calloc(1, sizeof(*r));
        if (r == NULL)
            return 1;
        r->run = &run;
        snprintf(r->name, sizeof(r->name), "%s", argv[i]);
        kl_resource_t res = {.group = "", .version = "v1", .resource = "nodes", .name = r->name};
        if (kl_client_patch(client, &res, NULL, KL_PATCH_MERGE, patch, strlen(patch), done, r,
                            NULL) < 0) {
            fprintf(stderr, "kubelua node: %s: cannot send the request\n", r->name);
            run.failures++;
            free(r);
            continue;
        }
        run.pending++;
    }
    while (run.pending > 0 && uv_run(&loop, UV_RUN_ONCE))
        ;
    kl_client_free(client);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return run.failures ? 1 : 0;
}
