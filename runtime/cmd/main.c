/* kubelua - command-line entry point: dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"

static const kl_cmd_t commands[] = {
    {"version", "print the kubelua and emulated Kubernetes versions", kl_cmd_version},
    {"apiserver", "run the embedded Kubernetes-compatible API server alone", kl_cmd_apiserver},
    {"up", "start a cluster: API server, simulated nodes that run pods, controllers", kl_cmd_up},
    {"node", "stop or resume the heartbeats of a simulated node", kl_cmd_node},
    {"run", "run policies as controllers against a cluster", kl_cmd_run},
    {"check", "load policies in the sandbox and report errors", kl_cmd_check},
    {"test", "run policy specs against an in-process fake cluster", kl_cmd_test},
    {"__exec", "(internal) supervise one container process of the node agent", kl_cmd_exec},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: kubelua COMMAND [OPTIONS]\n\ncommands:\n");
    for (const kl_cmd_t *c = commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->help);
    fprintf(f, "\nRun 'kubelua COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return kl_cmd_version(argc - 1, argv + 1);
    for (const kl_cmd_t *c = commands; c->name; c++) {
        if (strcmp(argv[1], c->name) == 0)
            return c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "kubelua: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
