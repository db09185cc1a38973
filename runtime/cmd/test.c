/* kubelua test SPEC...: runs policy specs against the fake cluster (controller/testrun.h). */
#include <dirent.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kubelua/log.h"

#include "cmd/cmd.h"
#include "controller/testrun.h"

#define MAX_SPECS 10000

typedef struct spec_list {
    char **paths;
    size_t n, cap;
} spec_list_t;

static int add_spec(spec_list_t *l, const char *path)
{
    if (l->n == MAX_SPECS) {
        fprintf(stderr, "kubelua test: more than %d specs\n", MAX_SPECS);
        return -1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **n = realloc(l->paths, cap * sizeof(*n));
        if (n == NULL)
            return -1;
        l->paths = n;
        l->cap = cap;
    }
    if ((l->paths[l->n] = strdup(path)) == NULL)
        return -1;
    l->n++;
    return 0;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_spec_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* Every *.yaml / *.yml below dir (at most 8 levels deep), in sorted order. */
static int collect_dir(spec_list_t *l, const char *dir, int depth)
{
    if (depth > 8)
        return 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "kubelua test: %s: cannot open the directory\n", dir);
        return -1;
    }
    spec_list_t here = {0};
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) || is_spec_name(e->d_name))
            rc = add_spec(&here, path);
    }
    closedir(d);
    if (here.n)
        qsort(here.paths, here.n, sizeof(char *), cmp_path);
    for (size_t i = 0; i < here.n; i++) {
        struct stat st;
        if (rc == 0 && stat(here.paths[i], &st) == 0 && S_ISDIR(st.st_mode))
            rc = collect_dir(l, here.paths[i], depth + 1);
        else if (rc == 0)
            rc = add_spec(l, here.paths[i]);
        free(here.paths[i]);
    }
    free(here.paths);
    return rc;
}

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
        case 'v':
            if (kl_cmd_set_verbosity("test", optarg) < 0)
                return 2;
            break;
        case 'h':
            printf("usage: kubelua test [-v LEVEL] SPEC.yaml|DIR...\n\n"
                   "Runs each spec's policy against an in-process fake cluster and checks its\n"
                   "expectations (see README, \"Testing policies\"). A directory stands for\n"
                   "every .yaml spec below it. The local time zone is UTC, so specs give the\n"
                   "same results on every machine.\n");
            return 0;
        default:
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: kubelua test [-v LEVEL] SPEC.yaml|DIR...\n");
        return 2;
    }
    /* A policy asking for the "Local" zone gets the same answer everywhere. */
    setenv("TZ", "UTC", 1);
    spec_list_t specs = {0};
    for (int i = optind; i < argc; i++) {
        struct stat st;
        int rc = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? collect_dir(&specs, argv[i], 0)
                                                                : add_spec(&specs, argv[i]);
        if (rc < 0) {
            for (size_t k = 0; k < specs.n; k++)
                free(specs.paths[k]);
            free(specs.paths);
            return 2;
        }
    }
    int failed = 0, total = 0;
    for (size_t i = 0; i < specs.n; i++) {
        kl_test_result_t res;
        kl_errinfo_t err;
        total++;
        printf("%s\n", specs.paths[i]);
        int rc = kl_test_run_file(specs.paths[i], stdout, &res, &err);
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
    for (size_t k = 0; k < specs.n; k++)
        free(specs.paths[k]);
    free(specs.paths);
    printf("%d spec%s, %d failed\n", total, total == 1 ? "" : "s", failed);
    return failed ? 1 : 0;
}
