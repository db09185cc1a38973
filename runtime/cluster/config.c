/* `kubelua up --config FILE`: strict YAML decoding of the cluster configuration. See config.h.
 *
 * libyaml's document API keeps the line of every node, so each error names where it is. */
#include "cluster/config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "kubelua/fsutil.h"
#include "kubelua/quantity.h"
#include "kubelua/strmap.h"

enum {
    PD_START = 1u << 0,
    PD_RUN = 1u << 1,
    PD_BATCH = 1u << 2,
    PD_EXIT = 1u << 3,
    PD_READY = 1u << 4,
    PD_STOP = 1u << 5,
};

typedef struct pctx {
    yaml_document_t *doc;
    const char *path;
    kl_errinfo_t *err;
} pctx_t;

static int fail(pctx_t *p, const yaml_node_t *n, const char *fmt, ...) KL_PRINTF(3, 4);
static int fail(pctx_t *p, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line = n ? (int)n->start_mark.line + 1 : 0;
    return kl_err_at(p->err, KL_ECONFIG, line, n ? (int)n->start_mark.column + 1 : 0, "%s:%d: %s",
                     p->path, line, msg);
}

static yaml_node_t *node_at(pctx_t *p, int i)
{
    return yaml_document_get_node(p->doc, i);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool is_null(const yaml_node_t *n)
{
    const char *s = scalar(n);
    return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
            !strcmp(s, "NULL"));
}

static int want_string(pctx_t *p, const yaml_node_t *n, const char *field, const char **out)
{
    const char *s = scalar(n);
    if (s == NULL || is_null(n))
        return fail(p, n, "%s: expected a string", field);
    *out = s;
    return 0;
}

static int want_bool(pctx_t *p, const yaml_node_t *n, const char *field, bool *out)
{
    const char *s = scalar(n);
    if (s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
            *out = true;
            return 0;
        }
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
            *out = false;
            return 0;
        }
    }
    return fail(p, n, "%s: expected true or false", field);
}

static int want_uint(pctx_t *p, const yaml_node_t *n, const char *field, long max, long *out)
{
    const char *s = scalar(n);
    char *end;
    if (s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && isdigit((unsigned char)*s)) {
        long v = strtol(s, &end, 10);
        if (*end == '\0' && v >= 0 && v <= max) {
            *out = v;
            return 0;
        }
    }
    return fail(p, n, "%s: expected an integer from 0 to %ld", field, max);
}

static int want_duration(pctx_t *p, const yaml_node_t *n, const char *field, bool forever,
                         int64_t *out)
{
    const char *s = scalar(n);
    if (s && forever && !strcmp(s, "forever")) {
        *out = KL_SIM_FOREVER;
        return 0;
    }
    if (s == NULL || kl_sim_duration_parse(s, out) < 0)
        return fail(p, n, "%s: expected a duration such as 1.5s, 2m or 300ms%s", field,
                    forever ? ", or forever" : "");
    return 0;
}

static int want_mode(pctx_t *p, const yaml_node_t *n, const char *field, kl_sim_mode_t *out)
{
    const char *s = scalar(n);
    if (s && !strcmp(s, "process"))
        *out = KL_SIM_MODE_PROCESS;
    else if (s && !strcmp(s, "simulated"))
        *out = KL_SIM_MODE_SIMULATED;
    else
        return fail(p, n, "%s: expected process or simulated", field);
    return 0;
}

/* Iterates a mapping: checks it is one, refuses duplicate keys. */
static int want_map(pctx_t *p, const yaml_node_t *n, const char *field)
{
    if (n == NULL || n->type != YAML_MAPPING_NODE)
        return fail(p, n, "%s: expected a mapping", field);
    for (yaml_node_pair_t *a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++) {
        yaml_node_t *ka = node_at(p, a->key);
        if (scalar(ka) == NULL)
            return fail(p, ka, "%s: keys must be strings", field);
        for (yaml_node_pair_t *b = n->data.mapping.pairs.start; b < a; b++)
            if (!strcmp(scalar(node_at(p, b->key)), scalar(ka)))
                return fail(p, ka, "%s: duplicate key \"%s\"", field, scalar(ka));
    }
    return 0;
}

static int unknown(pctx_t *p, const yaml_node_t *k, const char *where)
{
    return fail(p, k, "unknown field \"%s\" in %s", scalar(k), where);
}

static int string_map(pctx_t *p, const yaml_node_t *n, const char *field, kl_kvs_t *out,
                      bool quantities)
{
    int rc = want_map(p, n, field);
    if (rc < 0)
        return rc;
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    out->items = calloc(cnt ? cnt : 1, sizeof(kl_kv_t));
    if (out->items == NULL)
        return KL_ENOMEM;
    for (yaml_node_pair_t *a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++) {
        yaml_node_t *k = node_at(p, a->key), *v = node_at(p, a->value);
        const char *s = NULL;
        char fname[300];
        snprintf(fname, sizeof(fname), "%s.%s", field, scalar(k));
        if ((rc = want_string(p, v, fname, &s)) < 0)
            return rc;
        if (quantities) {
            kl_quantity_t q;
            kl_errinfo_t qe;
            if (kl_quantity_parse(s, strlen(s), &q, &qe) < 0 || q.neg)
                return fail(p, v, "%s: invalid quantity \"%s\"", fname, s);
        }
        kl_kv_t *kv = &out->items[out->len++];
        kv->key = strdup(scalar(k));
        kv->value = strdup(s);
        if (kv->key == NULL || kv->value == NULL)
            return KL_ENOMEM;
    }
    return 0;
}

static int pod_defaults(pctx_t *p, const yaml_node_t *n, const char *field, kl_pod_defaults_t *d)
{
    int rc = want_map(p, n, field);
    if (rc < 0)
        return rc;
    for (yaml_node_pair_t *a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++) {
        yaml_node_t *k = node_at(p, a->key), *v = node_at(p, a->value);
        const char *key = scalar(k);
        if (!strcmp(key, "startDelay")) {
            rc = want_duration(p, v, "startDelay", false, &d->sim.start_delay_ms);
            d->set |= PD_START;
        } else if (!strcmp(key, "runDuration")) {
            rc = want_duration(p, v, "runDuration", true, &d->sim.run_duration_ms);
            d->set |= PD_RUN;
        } else if (!strcmp(key, "batchRunDuration")) {
            rc = want_duration(p, v, "batchRunDuration", true, &d->batch_run_duration_ms);
            d->set |= PD_BATCH;
        } else if (!strcmp(key, "readyAfter")) {
            rc = want_duration(p, v, "readyAfter", false, &d->sim.ready_after_ms);
            d->set |= PD_READY;
        } else if (!strcmp(key, "stopDelay")) {
            rc = want_duration(p, v, "stopDelay", false, &d->sim.stop_delay_ms);
            d->set |= PD_STOP;
        } else if (!strcmp(key, "exitCode")) {
            long code;
            rc = want_uint(p, v, "exitCode", 255, &code);
            d->sim.exit_code = (int)code;
            d->set |= PD_EXIT;
        } else
            rc = unknown(p, k, field);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int taints(pctx_t *p, const yaml_node_t *n, kl_node_group_t *g)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(p, n, "taints: expected a list");
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    g->taints = calloc(cnt ? cnt : 1, sizeof(*g->taints));
    if (g->taints == NULL)
        return KL_ENOMEM;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *t = node_at(p, *it);
        int rc = want_map(p, t, "taints[]");
        if (rc < 0)
            return rc;
        kl_cluster_taint_t *ct = &g->taints[g->ntaints++];
        for (yaml_node_pair_t *a = t->data.mapping.pairs.start; a < t->data.mapping.pairs.top;
             a++) {
            yaml_node_t *k = node_at(p, a->key), *v = node_at(p, a->value);
            const char *key = scalar(k), *s = NULL;
            char **dst;
            if (!strcmp(key, "key"))
                dst = &ct->key;
            else if (!strcmp(key, "value"))
                dst = &ct->value;
            else if (!strcmp(key, "effect"))
                dst = &ct->effect;
            else
                return unknown(p, k, "a taint");
            if ((rc = want_string(p, v, key, &s)) < 0)
                return rc;
            if (dst == &ct->effect && strcmp(s, "NoSchedule") && strcmp(s, "PreferNoSchedule") &&
                strcmp(s, "NoExecute"))
                return fail(p, v, "effect: expected NoSchedule, PreferNoSchedule or NoExecute");
            if ((*dst = strdup(s)) == NULL)
                return KL_ENOMEM;
        }
        if (ct->key == NULL || ct->effect == NULL)
            return fail(p, t, "a taint needs key and effect");
    }
    return 0;
}

static int set_str(pctx_t *p, const yaml_node_t *v, const char *field, char **dst)
{
    const char *s = NULL;
    int rc = want_string(p, v, field, &s);
    if (rc < 0)
        return rc;
    free(*dst);
    *dst = strdup(s);
    return *dst ? 0 : KL_ENOMEM;
}

static int zones(pctx_t *p, const yaml_node_t *n, kl_node_group_t *g)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(p, n, "zones: expected a list of strings");
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cnt == 0)
        return fail(p, n, "zones: expected at least one zone");
    g->zones = calloc(cnt, sizeof(char *));
    if (g->zones == NULL)
        return KL_ENOMEM;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        int rc = set_str(p, node_at(p, *it), "zones[]", &g->zones[g->nzones++]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int group(pctx_t *p, const yaml_node_t *n, kl_node_group_t *g)
{
    int rc = want_map(p, n, "nodes[]");
    bool has_count = false;
    if (rc < 0)
        return rc;
    g->line = (int)n->start_mark.line + 1;
    for (yaml_node_pair_t *a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++) {
        yaml_node_t *k = node_at(p, a->key), *v = node_at(p, a->value);
        const char *key = scalar(k);
        if (!strcmp(key, "name"))
            rc = set_str(p, v, "name", &g->name);
        else if (!strcmp(key, "count")) {
            long c;
            rc = want_uint(p, v, "count", 100000, &c);
            g->count = (unsigned)c;
            has_count = true;
        } else if (!strcmp(key, "namePrefix"))
            rc = set_str(p, v, "namePrefix", &g->name_prefix);
        else if (!strcmp(key, "labels"))
            rc = string_map(p, v, "labels", &g->labels, false);
        else if (!strcmp(key, "annotations"))
            rc = string_map(p, v, "annotations", &g->annotations, false);
        else if (!strcmp(key, "capacity"))
            rc = string_map(p, v, "capacity", &g->capacity, true);
        else if (!strcmp(key, "taints"))
            rc = taints(p, v, g);
        else if (!strcmp(key, "mode"))
            rc = want_mode(p, v, "mode", &g->mode);
        else if (!strcmp(key, "arch"))
            rc = set_str(p, v, "arch", &g->arch);
        else if (!strcmp(key, "region"))
            rc = set_str(p, v, "region", &g->region);
        else if (!strcmp(key, "instanceType"))
            rc = set_str(p, v, "instanceType", &g->instance_type);
        else if (!strcmp(key, "zone")) {
            if (g->zones)
                return fail(p, k, "give zone or zones, not both");
            g->zones = calloc(1, sizeof(char *));
            if (g->zones == NULL)
                return KL_ENOMEM;
            g->nzones = 1;
            rc = set_str(p, v, "zone", &g->zones[0]);
        } else if (!strcmp(key, "zones")) {
            if (g->zones)
                return fail(p, k, "give zone or zones, not both");
            rc = zones(p, v, g);
        } else if (!strcmp(key, "podDefaults")) {
            rc = pod_defaults(p, v, "podDefaults", &g->pod_defaults);
            g->has_pod_defaults = true;
        } else
            rc = unknown(p, k, "a node group");
        if (rc < 0)
            return rc;
    }
    if (g->name && (has_count || g->name_prefix))
        return fail(p, n, "a node group has either name, or count and namePrefix");
    if (g->name == NULL && !has_count)
        return fail(p, n, "a node group needs name or count");
    if (g->name)
        g->count = 1;
    return 0;
}

static void merge_defaults(kl_pod_defaults_t *dst, const kl_pod_defaults_t *base)
{
    kl_pod_defaults_t d = *base;
    if (dst->set & PD_START)
        d.sim.start_delay_ms = dst->sim.start_delay_ms;
    if (dst->set & PD_RUN)
        d.sim.run_duration_ms = dst->sim.run_duration_ms;
    if (dst->set & PD_BATCH)
        d.batch_run_duration_ms = dst->batch_run_duration_ms;
    if (dst->set & PD_EXIT)
        d.sim.exit_code = dst->sim.exit_code;
    if (dst->set & PD_READY)
        d.sim.ready_after_ms = dst->sim.ready_after_ms;
    if (dst->set & PD_STOP)
        d.sim.stop_delay_ms = dst->sim.stop_delay_ms;
    d.set = dst->set | base->set;
    *dst = d;
}

void kl_pod_defaults_init(kl_pod_defaults_t *d)
{
    memset(d, 0, sizeof(*d));
    d->sim.run_duration_ms = KL_SIM_FOREVER;
    d->batch_run_duration_ms = 1000;
}

static kl_cluster_config_t *config_new(void)
{
    kl_cluster_config_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->mode = KL_SIM_MODE_PROCESS;
    kl_pod_defaults_init(&c->pod_defaults);
    return c;
}

static void groups_free(kl_node_group_t *groups, size_t n);

int kl_cluster_config_set_nodes(kl_cluster_config_t *c, unsigned nodes)
{
    kl_node_group_t *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return KL_ENOMEM;
    groups_free(c->groups, c->ngroups);
    g->count = nodes;
    g->pod_defaults = c->pod_defaults;
    c->groups = g;
    c->ngroups = 1;
    return 0;
}

int kl_cluster_config_default(unsigned nodes, kl_cluster_config_t **out)
{
    kl_cluster_config_t *c = config_new();
    if (c == NULL)
        return KL_ENOMEM;
    if (kl_cluster_config_set_nodes(c, nodes) < 0) {
        kl_cluster_config_free(c);
        return KL_ENOMEM;
    }
    *out = c;
    return 0;
}

static int document(pctx_t *p, kl_cluster_config_t *c)
{
    yaml_node_t *root = yaml_document_get_root_node(p->doc);
    if (root == NULL || is_null(root))
        return kl_cluster_config_set_nodes(c, KL_CLUSTER_DEFAULT_NODES);
    int rc = want_map(p, root, "the configuration");
    if (rc < 0)
        return rc;
    yaml_node_t *nodes = NULL;
    for (yaml_node_pair_t *a = root->data.mapping.pairs.start; a < root->data.mapping.pairs.top;
         a++) {
        yaml_node_t *k = node_at(p, a->key), *v = node_at(p, a->value);
        const char *key = scalar(k), *s = NULL;
        if (!strcmp(key, "apiVersion")) {
            if ((rc = want_string(p, v, key, &s)) < 0)
                return rc;
            if (strcmp(s, "kubelua.io/v1alpha1") != 0)
                return fail(p, v, "apiVersion: expected kubelua.io/v1alpha1");
        } else if (!strcmp(key, "kind")) {
            if ((rc = want_string(p, v, key, &s)) < 0)
                return rc;
            if (strcmp(s, "Cluster") != 0)
                return fail(p, v, "kind: expected Cluster");
        } else if (!strcmp(key, "mode")) {
            rc = want_mode(p, v, "mode", &c->mode);
        } else if (!strcmp(key, "adoptAllNodes")) {
            rc = want_bool(p, v, "adoptAllNodes", &c->adopt_all_nodes);
        } else if (!strcmp(key, "podDefaults")) {
            rc = pod_defaults(p, v, "podDefaults", &c->pod_defaults);
        } else if (!strcmp(key, "nodes")) {
            nodes = v;
        } else
            rc = unknown(p, k, "the configuration");
        if (rc < 0)
            return rc;
    }
    if (nodes == NULL)
        return kl_cluster_config_set_nodes(c, KL_CLUSTER_DEFAULT_NODES);
    if (nodes->type != YAML_SEQUENCE_NODE)
        return fail(p, nodes, "nodes: expected a list of node groups");
    size_t cnt = (size_t)(nodes->data.sequence.items.top - nodes->data.sequence.items.start);
    c->groups = calloc(cnt ? cnt : 1, sizeof(*c->groups));
    if (c->groups == NULL)
        return KL_ENOMEM;
    for (yaml_node_item_t *it = nodes->data.sequence.items.start;
         it < nodes->data.sequence.items.top; it++) {
        kl_node_group_t *g = &c->groups[c->ngroups++];
        if ((rc = group(p, node_at(p, *it), g)) < 0)
            return rc;
    }
    for (size_t i = 0; i < c->ngroups; i++) {
        kl_node_group_t *g = &c->groups[i];
        if (g->has_pod_defaults)
            merge_defaults(&g->pod_defaults, &c->pod_defaults);
        else
            g->pod_defaults = c->pod_defaults;
    }
    return 0;
}

int kl_cluster_config_parse(const char *text, size_t len, const char *path,
                            kl_cluster_config_t **out, kl_errinfo_t *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    pctx_t p = {.doc = &doc, .path = path ? path : "config", .err = err};
    kl_cluster_config_t *c = config_new();
    int rc;
    if (c == NULL)
        return KL_ENOMEM;
    if (!yaml_parser_initialize(&parser)) {
        free(c);
        return KL_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = kl_err_at(err, KL_ECONFIG, (int)parser.problem_mark.line + 1,
                       (int)parser.problem_mark.column + 1, "%s:%d: %s", p.path,
                       (int)parser.problem_mark.line + 1,
                       parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        kl_cluster_config_free(c);
        return rc;
    }
    rc = document(&p, c);
    if (rc == 0) {
        /* A second document is a mistake worth reporting. */
        yaml_document_t next;
        if (yaml_parser_load(&parser, &next)) {
            yaml_node_t *r = yaml_document_get_root_node(&next);
            if (r)
                rc = kl_err_at(err, KL_ECONFIG, (int)r->start_mark.line + 1, 0,
                               "%s:%d: only one YAML document is allowed", p.path,
                               (int)r->start_mark.line + 1);
            yaml_document_delete(&next);
        }
    }
    if (rc == KL_ENOMEM)
        kl_err(err, KL_ENOMEM, "out of memory");
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc < 0) {
        kl_cluster_config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int kl_cluster_config_load(const char *path, kl_cluster_config_t **out, kl_errinfo_t *err)
{
    char *text;
    size_t len;
    int rc = kl_file_read(path, (size_t)4 << 20, &text, &len, err);
    if (rc < 0)
        return rc;
    rc = kl_cluster_config_parse(text, len, path, out, err);
    free(text);
    return rc;
}

static void kvs_free(kl_kvs_t *k)
{
    for (size_t i = 0; i < k->len; i++) {
        free(k->items[i].key);
        free(k->items[i].value);
    }
    free(k->items);
}

static void groups_free(kl_node_group_t *groups, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kl_node_group_t *g = &groups[i];
        free(g->name);
        free(g->name_prefix);
        kvs_free(&g->labels);
        kvs_free(&g->annotations);
        kvs_free(&g->capacity);
        for (size_t j = 0; j < g->ntaints; j++) {
            free(g->taints[j].key);
            free(g->taints[j].value);
            free(g->taints[j].effect);
        }
        free(g->taints);
        free(g->arch);
        free(g->region);
        free(g->instance_type);
        for (size_t j = 0; j < g->nzones; j++)
            free(g->zones[j]);
        free(g->zones);
    }
    free(groups);
}

void kl_cluster_config_free(kl_cluster_config_t *c)
{
    if (c == NULL)
        return;
    groups_free(c->groups, c->ngroups);
    free(c);
}

/* RFC 1123 subdomain, as Node names must be. */
static bool valid_node_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!(islower((unsigned char)ch) || isdigit((unsigned char)ch) || ch == '-' || ch == '.'))
            return false;
    }
    return isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[n - 1]);
}

void kl_node_defs_free(kl_node_def_t *defs, size_t n)
{
    for (size_t i = 0; defs && i < n; i++)
        free(defs[i].name);
    free(defs);
}

int kl_cluster_config_nodes(const kl_cluster_config_t *c, kl_node_def_t **out, size_t *n,
                            kl_errinfo_t *err)
{
    size_t total = 0, len = 0;
    int rc = 0;
    kl_strmap_t seen;
    for (size_t i = 0; i < c->ngroups; i++)
        total += c->groups[i].count;
    kl_node_def_t *defs = calloc(total ? total : 1, sizeof(*defs));
    if (defs == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    kl_strmap_init(&seen, 0);
    for (size_t i = 0; i < c->ngroups && rc == 0; i++) {
        const kl_node_group_t *g = &c->groups[i];
        for (unsigned k = 0; k < g->count; k++) {
            char name[300];
            if (g->name)
                snprintf(name, sizeof(name), "%s", g->name);
            else
                snprintf(name, sizeof(name), "%s%u",
                         g->name_prefix ? g->name_prefix : KL_CLUSTER_DEFAULT_PREFIX, k + 1);
            if (!valid_node_name(name)) {
                rc = kl_err(err, KL_ECONFIG,
                            "node name \"%s\" (group at line %d) is not a valid DNS subdomain "
                            "(lower case letters, digits, '-' and '.')",
                            name, g->line);
                break;
            }
            if (kl_strmap_get(&seen, name) != NULL) {
                rc = kl_err(err, KL_ECONFIG, "node \"%s\" is defined twice", name);
                break;
            }
            defs[len].name = strdup(name);
            if (defs[len].name == NULL ||
                kl_strmap_put(&seen, defs[len].name, &defs[len], NULL) < 0) {
                free(defs[len].name);
                rc = kl_err(err, KL_ENOMEM, "out of memory");
                break;
            }
            defs[len].group = g;
            defs[len].zone = g->nzones ? g->zones[k % g->nzones] : NULL;
            len++;
        }
    }
    kl_strmap_cleanup(&seen);
    if (rc < 0) {
        kl_node_defs_free(defs, len);
        return rc;
    }
    *out = defs;
    *n = len;
    return 0;
}

kl_sim_mode_t kl_node_group_mode(const kl_cluster_config_t *c, const kl_node_group_t *g)
{
    if (g && g->mode != KL_SIM_MODE_DEFAULT)
        return g->mode;
    return c->mode == KL_SIM_MODE_SIMULATED ? KL_SIM_MODE_SIMULATED : KL_SIM_MODE_PROCESS;
}
