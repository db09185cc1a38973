/* kubelua check POLICY.lua... - loads each policy in the sandbox and reports what is wrong.
 *
 * A policy passes when its file compiles, its top level runs within the load budget, it returns
 * a table, `name` (when present) is a string and `reconcile` is a function. Unknown top-level
 * keys are warnings. Only the top level runs: reconcile and friends are not called.
 *
 * Host modules: a policy's require("kube") gets the real module, so a top-level call of a
 * function that does not exist (or with bad arguments) is reported as the runtime would.
 */
#include <getopt.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/script.h"

#include "cmd/cmd.h"
#include "script/l_kube.h"

static const kl_script_module_t check_modules[] = {
    {"kube", luaopen_kube},
    {NULL, NULL},
};

/* Top-level keys of the policy contract; the ones without a type are not validated yet. */
static const struct {
    const char *key;
    int type; /* LUA_T*, or LUA_TNONE when any value is accepted for now */
    bool required;
} contract[] = {
    {"name", LUA_TSTRING, false},   {"reconcile", LUA_TFUNCTION, true},
    {"primary", LUA_TSTRING, true}, {"owns", LUA_TTABLE, false},
    {"watches", LUA_TTABLE, false}, {"workers", LUA_TNUMBER, false},
    {"resync", LUA_TNUMBER, false}, {"component", LUA_TSTRING, false},
};
#define NCONTRACT (sizeof(contract) / sizeof(contract[0]))

struct report {
    const char *path;
    int line; /* of the policy's return statement */
    int errors;
    int warnings;
    int nkeys;
    char name[128];
};

/* Prints "path:line: " or "path: ". */
static void where(const struct report *r, int line)
{
    if (line > 0)
        fprintf(stderr, "%s:%d: ", r->path, line);
    else
        fprintf(stderr, "%s: ", r->path);
}

/* Line where the value on top of the stack was defined, when it is a Lua function. */
static int defined_at(lua_State *L, int fallback)
{
    lua_Debug ar;
    if (lua_type(L, -1) != LUA_TFUNCTION)
        return fallback;
    lua_pushvalue(L, -1);
    if (lua_getinfo(L, ">S", &ar) && ar.linedefined > 0)
        return ar.linedefined;
    return fallback;
}

/* Validates the policy table (index 1) with raw accesses; runs under kl_script_protect. */
static int check_contract(lua_State *L, void *ud)
{
    struct report *r = ud;
    bool seen[NCONTRACT] = {false};
    lua_pushnil(L);
    while (lua_next(L, 1) != 0) {
        r->nkeys++;
        if (lua_type(L, -2) != LUA_TSTRING) {
            where(r, r->line);
            fprintf(stderr, "error: top-level key of type %s (keys must be strings)\n",
                    luaL_typename(L, -2));
            r->errors++;
            lua_pop(L, 1);
            continue;
        }
        const char *key = lua_tostring(L, -2);
        size_t i = 0;
        while (i < NCONTRACT && strcmp(contract[i].key, key) != 0)
            i++;
        if (i == NCONTRACT) {
            where(r, defined_at(L, r->line));
            fprintf(stderr, "warning: unknown top-level key '%s'\n", key);
            r->warnings++;
        } else {
            seen[i] = true;
            if (contract[i].type != LUA_TNONE && lua_type(L, -1) != contract[i].type) {
                where(r, r->line);
                fprintf(stderr, "error: '%s' must be a %s, got %s\n", key,
                        lua_typename(L, contract[i].type), luaL_typename(L, -1));
                r->errors++;
            } else if (strcmp(key, "name") == 0) {
                snprintf(r->name, sizeof(r->name), "%s", lua_tostring(L, -1));
            }
        }
        lua_pop(L, 1);
    }
    for (size_t i = 0; i < NCONTRACT; i++) {
        if (contract[i].required && !seen[i]) {
            where(r, r->line);
            fprintf(stderr, "error: policy has no '%s' %s\n", contract[i].key,
                    contract[i].type == LUA_TFUNCTION ? "function" : "field");
            r->errors++;
        }
    }
    return 0;
}

/* Returns 0 when the policy passes. */
static int check_file(const char *path, uint32_t budget_ms, bool verbose)
{
    const char *base = strrchr(path, '/');
    char name[128];
    snprintf(name, sizeof(name), "%s", base != NULL ? base + 1 : path);
    char *dot = strrchr(name, '.');
    if (dot != NULL && strcmp(dot, ".lua") == 0)
        *dot = '\0';

    kl_script_opts_t o = {.name = name, .modules = check_modules, .load_budget_ms = budget_ms};
    kl_script_t *s = NULL;
    kl_errinfo_t err;
    if (kl_script_new(&o, &s) != 0) {
        fprintf(stderr, "%s: cannot create a Lua state\n", path);
        return 1;
    }
    struct report r = {.path = path};
    int rc = kl_script_load_file(s, path, &err);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err.msg);
        if (verbose && kl_script_traceback(s) != NULL)
            fprintf(stderr, "%s\n", kl_script_traceback(s));
        kl_script_free(s);
        return 1;
    }
    r.line = kl_script_policy_line(s);
    rc = kl_script_protect(s, check_contract, &r, &err);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        r.errors++;
    }
    kl_script_free(s);
    if (r.errors > 0)
        return 1;
    printf("%s: ok (policy '%s', %d keys, %d warning%s)\n", path, r.name[0] ? r.name : name,
           r.nkeys, r.warnings, r.warnings == 1 ? "" : "s");
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kubelua check [--load-budget MS] [--verbose] POLICY.lua...\n"
            "\n"
            "Loads each policy in the sandbox (its top level runs, reconcile does not) and\n"
            "reports syntax errors, runtime errors, a missing or invalid returned table,\n"
            "and contract problems. Exit status: 0 all ok, 1 a policy has errors, 2 usage.\n"
            "\n"
            "  --load-budget MS  time the top level may run (default %d)\n"
            "  -v, --verbose     print the Lua traceback of runtime errors\n",
            KL_SCRIPT_DEFAULT_LOAD_BUDGET_MS);
}

int kl_cmd_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"load-budget", required_argument, NULL, 'b'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint32_t budget_ms = 0;
    bool verbose = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end != '\0' || v == 0 || v > 3600000) {
                fprintf(stderr, "kubelua check: bad --load-budget '%s'\n", optarg);
                return 2;
            }
            budget_ms = (uint32_t)v;
            break;
        }
        case 'v':
            verbose = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    int status = 0;
    for (int i = optind; i < argc; i++) {
        if (check_file(argv[i], budget_ms, verbose) != 0)
            status = 1;
    }
    return status;
}
