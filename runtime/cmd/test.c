/* kubelua test SPEC...: runs policy specs against the fake cluster (controller/testrun.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "kubelua/log.h"

#include "cmd/cmd.h"
#include "controller/testrun.h"

int kl_cmd_test(int argc, char **argv)
{
    static const struct option longopts[] = {{"verbosity", required_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    kl_log_set_level(KL_LOG_WARN);
    while ((c = getopt_long(argc, argv, "v:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'v': {
            int lvl = kl_log_level_parse(optarg);
            if (lvl < 0) {
                fprintf(stderr, "kubelua test: bad -v level '%s'\n", optarg);
                return 2;
            }
            kl_log_set_level((kl_log_level_t)lvl);
            break;
        }
        case 'h':
            printf("usage: kubelua test [-v LEVEL] SPEC.yaml...\n\n"
                   "Runs each spec's policy against an in-process fake cluster and checks its\n"
                   "expectations (see README, \"Testing policies\").\n");
            return 0;
        default:
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: kubelua test [-v LEVEL] SPEC.yaml...\n");
        return 2;
    }
    int failed = 0, total = 0;
    for (int i = optind; i < argc; i++) {
        kl_test_result_t res;
        kl_errinfo_t err;
        total++;
        printf("%s\n", argv[i]);
        int rc = kl_test_run_file(argv[i], stdout, &res, &err);
        if (rc == 0) {
            printf("  ok (%d steps)\n", res.steps);
        } else if (rc == KL_EINVAL && res.failures) {
            printf("  FAILED: %d expectation%s\n", res.failures, res.failures == 1 ? "" : "s");
            failed++;
        } else {
            printf("  ERROR: %s\n", err.msg);
            failed++;
        }
    }
    printf("%d spec%s, %d failed\n", total, total == 1 ? "" : "s", failed);
    return failed ? 1 : 0;
}
