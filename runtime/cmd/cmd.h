/* cmd/cmd.h - subcommands of the kubelua binary. Each takes argv with argv[0] the command name
 * and returns the process exit status (0 ok, 1 failure, 2 usage error). */
#ifndef KL_CMD_H
#define KL_CMD_H

typedef struct kl_cmd {
    const char *name;
    const char *help;
    int (*run)(int argc, char **argv);
} kl_cmd_t;

/* -v LEVEL: sets the log level, or prints the error (naming cmd) and returns -1. */
int kl_cmd_set_verbosity(const char *cmd, const char *level);

int kl_cmd_version(int argc, char **argv);
int kl_cmd_check(int argc, char **argv);
int kl_cmd_apiserver(int argc, char **argv);
int kl_cmd_test(int argc, char **argv);
int kl_cmd_exec(int argc, char **argv);
int kl_cmd_run(int argc, char **argv);
int kl_cmd_up(int argc, char **argv);
int kl_cmd_node(int argc, char **argv);

#endif
