/* `kubelua test`: runs a policy against the fake cluster as a spec describes. See testrun.h. */
#include "controller/testrun.h"

#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/fsutil.h"
#include "kubelua/json.h"
#include "kubelua/ktime.h"
#include "kubelua/log.h"
#include "kubelua/patch.h"

#include "controller/controller.h"
#include "controller/fake.h"

typedef struct run {
    uv_loop_t loop;
    kl_fake_t *fake;
    kl_manager_t *m;
    FILE *out;
    const char *spec_path;
    int step;
    int failures;
    size_t writes_seen; /* writes already matched by a previous expect */
} run_t;

static uint64_t fake_clock(void *data)
{
    run_t *r = data;
    return (uint64_t)(kl_fake_now(r->fake) * 1e9);
}

static void failf(run_t *r, const char *fmt, ...) KL_PRINTF(2, 3);

static void failf(run_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(r->out, "  FAIL step %d: ", r->step);
    vfprintf(r->out, fmt, ap);
    fprintf(r->out, "\n");
    va_end(ap);
    r->failures++;
}

static void print_json(run_t *r, const char *label, const kl_json_t *j)
{
    kl_buf_t b;
    kl_buf_init(&b, 1 << 20);
    if (kl_json_encode_pretty(j, &b) == 0) {
        fprintf(r->out, "    %s:\n", label);
        for (char *line = b.data, *nl; line && *line; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            fprintf(r->out, "      %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
        }
    }
    kl_buf_cleanup(&b);
}

/* Runs the loop until the fake cluster has nothing to deliver and no reconcile is running. */
static int run_idle(run_t *r, int max_rounds)
{
    int quiet = 0;
    for (int i = 0; i < max_rounds; i++) {
        uv_run(&r->loop, UV_RUN_NOWAIT);
        kl_manager_kick(r->m);
        if (kl_fake_idle(r->fake) && kl_manager_idle(r->m)) {
            if (++quiet >= 3)
                return 0;
        } else {
            quiet = 0;
        }
    }
    failf(r, "the controller did not settle after %d rounds (a reconcile loop?)", max_rounds);
    return -1;
}

/* ---- Subset matching -------------------------------------------------------------------- */

/* True when every field of want is in have with an equal value; path names the first miss. */
static bool subset(const kl_json_t *want, const kl_json_t *have, char *path, size_t cap)
{
    size_t plen = strlen(path);
    if (want->type == KL_TOBJECT) {
        if (!kl_json_is(have, KL_TOBJECT))
            return false;
        for (uint32_t i = 0; i < want->len; i++) {
            const kl_jmember_t *m = &want->u.members[i];
            snprintf(path + plen, cap - plen, "%s%s", plen ? "." : "", m->key);
            const kl_json_t *h = kl_json_getn(have, m->key, m->keylen);
            if (h == NULL) {
                if (m->val->type == KL_TNULL)
                    continue; /* null in the spec: the field must be absent */
                return false;
            }
            if (m->val->type == KL_TNULL)
                return false;
            if (!subset(m->val, h, path, cap))
                return false;
        }
        path[plen] = '\0';
        return true;
    }
    if (want->type == KL_TARRAY) {
        if (!kl_json_is(have, KL_TARRAY) || have->len != want->len)
            return false;
        for (uint32_t i = 0; i < want->len; i++) {
            snprintf(path + plen, cap - plen, "[%u]", i);
            if (!subset(want->u.items[i], have->u.items[i], path, cap))
                return false;
        }
        path[plen] = '\0';
        return true;
    }
    return kl_json_equal(want, have);
}

/* ---- Steps ------------------------------------------------------------------------------ */

static double parse_duration(const kl_json_t *v)
{
    if (kl_json_is_number(v))
        return v->type == KL_TINT ? (double)v->u.i : v->u.d;
    const char *s = kl_json_str(v);
    if (s == NULL)
        return -1;
    char *end;
    double d = strtod(s, &end);
    if (end == s)
        return -1;
    if (*end == '\0' || strcmp(end, "s") == 0)
        return d;
    if (strcmp(end, "m") == 0)
        return d * 60;
    if (strcmp(end, "h") == 0)
        return d * 3600;
    if (strcmp(end, "ms") == 0)
        return d / 1000;
    if (strcmp(end, "d") == 0)
        return d * 86400;
    return -1;
}

static int put_objects(run_t *r, const kl_json_t *list)
{
    for (uint32_t i = 0; kl_json_is(list, KL_TARRAY) && i < list->len; i++) {
        kl_errinfo_t err;
        if (kl_fake_put(r->fake, kl_json_at(list, i), &err) < 0) {
            failf(r, "put: %s", err.msg);
            return -1;
        }
    }
    return 0;
}

static const char *spec_of(run_t *r, const kl_json_t *obj)
{
    const char *res = kl_json_path_str(obj, "resource", NULL);
    if (res)
        return res;
    const char *av = kl_json_path_str(obj, "apiVersion", NULL);
    const char *kind = kl_json_path_str(obj, "kind", NULL);
    return av && kind ? kl_fake_spec_for(r->fake, av, kind) : NULL;
}

/* fail: [{op: create, resource: v1/pods, name: x, code: 500, reason: ..., message: ...,
 *         times: 1}] installs faults for later writes ("fail: []" removes them all). */
static void step_fail(run_t *r, const kl_json_t *list)
{
    if (!kl_json_is(list, KL_TARRAY)) {
        failf(r, "fail: needs a list of rules");
        return;
    }
    if (list->len == 0)
        kl_fake_clear_faults(r->fake);
    static const char *const ops[] = {"create", "update", "patch", "delete"};
    for (uint32_t i = 0; i < list->len; i++) {
        const kl_json_t *x = kl_json_at(list, i);
        const char *op = kl_json_path_str(x, "op", NULL);
        const char *res = kl_json_path_str(x, "resource", NULL);
        int k = 0;
        while (op && k < 4 && strcmp(op, ops[k]) != 0)
            k++;
        if (op == NULL || k == 4 || res == NULL) {
            failf(r, "fail: each rule needs op (create|update|patch|delete) and resource");
            continue;
        }
        int code = (int)kl_json_int_or(kl_json_get(x, "code"), 500);
        int times = (int)kl_json_int_or(kl_json_get(x, "times"), 1);
        if (kl_fake_add_fault(r->fake, (kl_write_op_t)k, res, kl_json_path_str(x, "name", NULL),
                              code, kl_json_path_str(x, "reason", NULL),
                              kl_json_path_str(x, "message", NULL), times) < 0)
            failf(r, "fail: out of memory");
    }
}

static int step_status(run_t *r, const kl_json_t *s)
{
    const char *spec = spec_of(r, s);
    const kl_json_t *status = kl_json_get(s, "status");
    const kl_json_t *sel = kl_json_get(s, "selector");
    const char *name = kl_json_path_str(s, "name", NULL);
    const char *ns = kl_json_path_str(s, "namespace", NULL);
    if (spec == NULL || status == NULL) {
        failf(r, "status: needs resource and status");
        return -1;
    }
    enum { STATUS_MAX = 1 << 18 };
    const kl_obj_t **objs = malloc(STATUS_MAX * sizeof(*objs));
    kl_obj_t **held = malloc(STATUS_MAX * sizeof(*held));
    if (objs == NULL || held == NULL) {
        free(objs);
        free(held);
        failf(r, "status: out of memory");
        return -1;
    }
    size_t n = kl_fake_list(r->fake, spec, objs, STATUS_MAX);
    int matched = 0;
    for (size_t i = 0; i < n; i++)
        held[i] = kl_obj_ref(objs[i]);
    free(objs);
    for (size_t i = 0; i < n; i++) {
        kl_val_t md = kl_val_get(kl_obj_root(held[i]), "metadata");
        const char *on = kl_val_path_str(md, "name", NULL);
        const char *ons = kl_val_path_str(md, "namespace", NULL);
        if (name && (on == NULL || strcmp(on, name)))
            continue;
        if (ns && (ons == NULL || strcmp(ons, ns)))
            continue;
        if (sel) {
            kl_json_t *labels = kl_json_from_val(kl_val_get(md, "labels"));
            char path[256] = "";
            bool ok = kl_json_is(labels, KL_TOBJECT) && subset(sel, labels, path, sizeof(path));
            kl_json_free(labels);
            if (!ok)
                continue;
        }
        kl_json_t *j = kl_json_from_val(kl_obj_root(held[i]));
        kl_json_t *st = kl_json_ensure_object(j, "status");
        kl_errinfo_t err;
        kl_json_t *merged = st ? kl_json_dup(st) : NULL;
        int rc = merged ? kl_patch_merge(&merged, status, &err) : KL_ENOMEM;
        if (rc == 0 && kl_json_set(j, "status", merged) == 0 && kl_fake_put(r->fake, j, &err) == 0)
            matched++;
        else if (rc < 0)
            kl_json_free(merged);
        kl_json_free(j);
    }
    for (size_t i = 0; i < n; i++)
        kl_obj_unref(held[i]);
    free(held);
    if (matched == 0) {
        failf(r, "status: no %s object matched", spec);
        return -1;
    }
    return 0;
}

static int step_delete(run_t *r, const kl_json_t *list)
{
    for (uint32_t i = 0; kl_json_is(list, KL_TARRAY) && i < list->len; i++) {
        const kl_json_t *d = kl_json_at(list, i);
        const char *spec = spec_of(r, d);
        const char *ns = kl_json_path_str(d, "namespace", NULL);
        const char *name = kl_json_path_str(d, "name", NULL);
        if (!ns)
            ns = kl_json_path_str(d, "metadata", "namespace", NULL);
        if (!name)
            name = kl_json_path_str(d, "metadata", "name", NULL);
        if (spec == NULL || name == NULL || kl_fake_remove(r->fake, spec, ns, name) < 0) {
            failf(r, "delete: %s %s/%s does not exist", spec ? spec : "?", ns ? ns : "",
                  name ? name : "?");
            return -1;
        }
    }
    return 0;
}

static const char *op_name(kl_write_op_t op)
{
    switch (op) {
    case KL_WRITE_CREATE:
        return "create";
    case KL_WRITE_UPDATE:
        return "update";
    case KL_WRITE_PATCH:
        return "patch";
    default:
        return "delete";
    }
}

static bool write_matches(const kl_fake_write_t *w, const kl_json_t *want)
{
    const char *op = kl_json_path_str(want, "op", NULL);
    const char *res = kl_json_path_str(want, "resource", NULL);
    const char *sub = kl_json_path_str(want, "subresource", NULL);
    const char *name = kl_json_path_str(want, "name", NULL);
    const char *ns = kl_json_path_str(want, "namespace", NULL);
    const char *pt = kl_json_path_str(want, "patch_type", NULL);
    const char *prop = kl_json_path_str(want, "propagation", NULL);
    const kl_json_t *body = kl_json_get(want, "body");
    const kl_json_t *code = kl_json_get(want, "code");
    if (op && strcmp(op, op_name(w->op)) != 0)
        return false;
    if (res && strcmp(res, w->resource) != 0)
        return false;
    if (sub ? (w->subresource == NULL || strcmp(sub, w->subresource))
            : w->subresource != NULL && !kl_json_get(want, "any_subresource"))
        return false;
    if (name && (w->name == NULL || strcmp(name, w->name) != 0))
        return false;
    if (ns && (w->namespace == NULL || strcmp(ns, w->namespace) != 0))
        return false;
    if (pt && (w->patch_type == NULL || strcmp(pt, w->patch_type) != 0))
        return false;
    if (code && kl_json_int_or(code, 0) != w->code)
        return false;
    /* "propagation: none" matches a delete sent without a policy. */
    if (prop &&
        (strcmp(prop, "none") == 0 ? w->propagation != NULL
                                   : w->propagation == NULL || strcmp(prop, w->propagation) != 0))
        return false;
    if (body) {
        char path[512] = "";
        if (w->body == NULL || !subset(body, w->body, path, sizeof(path)))
            return false;
    }
    return true;
}

static int count_objects(run_t *r, const char *spec)
{
    static const kl_obj_t *buf[65536];
    return (int)kl_fake_list(r->fake, spec, buf, 65536);
}

static void print_writes(run_t *r, const kl_fake_write_t *ws, size_t from, size_t n)
{
    fprintf(r->out, "    writes since the previous expect:\n");
    if (from == n)
        fprintf(r->out, "      (none)\n");
    for (size_t i = from; i < n; i++)
        fprintf(r->out, "      %s %s%s%s %s/%s -> %d\n", op_name(ws[i].op), ws[i].resource,
                ws[i].subresource ? "/" : "", ws[i].subresource ? ws[i].subresource : "",
                ws[i].namespace ? ws[i].namespace : "", ws[i].name ? ws[i].name : "", ws[i].code);
}

static int step_expect(run_t *r, const kl_json_t *e)
{
    int before = r->failures;
    const kl_fake_write_t *ws;
    size_t nw = kl_fake_writes(r->fake, &ws);
    const kl_json_t *writes = kl_json_get(e, "writes");
    for (uint32_t i = 0; kl_json_is(writes, KL_TARRAY) && i < writes->len; i++) {
        const kl_json_t *want = kl_json_at(writes, i);
        int matched = 0;
        for (size_t k = r->writes_seen; k < nw; k++)
            if (ws[k].resource && write_matches(&ws[k], want))
                matched++;
        const kl_json_t *count = kl_json_get(want, "count");
        bool ok = count ? matched == kl_json_int_or(count, 0) : matched > 0;
        if (!ok) {
            char *w = kl_json_encode_alloc(want, NULL);
            failf(r, "expected write %s: %d matched%s", w ? w : "?", matched,
                  count ? "" : " (wanted at least one)");
            free(w);
            print_writes(r, ws, r->writes_seen, nw);
        }
    }
    const kl_json_t *none = kl_json_get(e, "no_writes");
    if (kl_json_bool_or(none, false)) {
        size_t real = 0;
        for (size_t k = r->writes_seen; k < nw; k++)
            if (strcmp(ws[k].resource, "v1/events") != 0)
                real++;
        if (real) {
            failf(r, "expected no writes (events aside), got %zu", real);
            print_writes(r, ws, r->writes_seen, nw);
        }
    }
    const kl_json_t *objects = kl_json_get(e, "objects");
    for (uint32_t i = 0; kl_json_is(objects, KL_TARRAY) && i < objects->len; i++) {
        const kl_json_t *want = kl_json_at(objects, i);
        const char *spec = spec_of(r, want);
        const char *ns = kl_json_path_str(want, "metadata", "namespace", NULL);
        const char *name = kl_json_path_str(want, "metadata", "name", NULL);
        const kl_obj_t *o = spec && name ? kl_fake_get(r->fake, spec, ns, name) : NULL;
        if (o == NULL) {
            failf(r, "expected %s %s/%s to exist", spec ? spec : "?", ns ? ns : "",
                  name ? name : "?");
            continue;
        }
        kl_json_t *have = kl_json_from_val(kl_obj_root(o));
        char path[512] = "";
        if (!subset(want, have, path, sizeof(path))) {
            failf(r, "%s %s/%s differs at %s", spec, ns ? ns : "", name, path);
            print_json(r, "wanted", want);
            print_json(r, "have", have);
        }
        kl_json_free(have);
    }
    const kl_json_t *absent = kl_json_get(e, "absent");
    for (uint32_t i = 0; kl_json_is(absent, KL_TARRAY) && i < absent->len; i++) {
        const kl_json_t *a = kl_json_at(absent, i);
        const char *spec = spec_of(r, a);
        const char *ns = kl_json_path_str(a, "namespace", NULL);
        const char *name = kl_json_path_str(a, "name", NULL);
        if (!ns)
            ns = kl_json_path_str(a, "metadata", "namespace", NULL);
        if (!name)
            name = kl_json_path_str(a, "metadata", "name", NULL);
        if (spec && name && kl_fake_get(r->fake, spec, ns, name))
            failf(r, "expected %s %s/%s to be gone", spec, ns ? ns : "", name);
    }
    const kl_json_t *count = kl_json_get(e, "count");
    for (uint32_t i = 0; kl_json_is(count, KL_TOBJECT) && i < count->len; i++) {
        const kl_jmember_t *m = &count->u.members[i];
        int have = count_objects(r, m->key);
        if (have != kl_json_int_or(m->val, -1))
            failf(r, "expected %lld %s, have %d", (long long)kl_json_int_or(m->val, -1), m->key,
                  have);
    }
    const kl_json_t *events = kl_json_get(e, "events");
    for (uint32_t i = 0; kl_json_is(events, KL_TARRAY) && i < events->len; i++) {
        const kl_json_t *want = kl_json_at(events, i);
        static const kl_obj_t *evs[65536];
        size_t n = kl_fake_list(r->fake, "v1/events", evs, 65536);
        int64_t total = 0;
        for (size_t k = 0; k < n; k++) {
            kl_json_t *have = kl_json_from_val(kl_obj_root(evs[k]));
            kl_json_t *w = kl_json_dup(want);
            kl_json_del(w, "count");
            char path[256] = "";
            if (subset(w, have, path, sizeof(path)))
                total += kl_json_int_or(kl_json_get(have, "count"), 1);
            kl_json_free(w);
            kl_json_free(have);
        }
        const kl_json_t *c = kl_json_get(want, "count");
        bool ok = c ? total == kl_json_int_or(c, 0) : total > 0;
        if (!ok) {
            char *w = kl_json_encode_alloc(want, NULL);
            failf(r, "expected event %s: %lld seen", w ? w : "?", (long long)total);
            free(w);
        }
    }
    r->writes_seen = nw;
    return r->failures == before ? 0 : -1;
}

/* ---- The spec --------------------------------------------------------------------------- */

int kl_test_run_file(const char *path, FILE *out, kl_test_result_t *res, kl_errinfo_t *err)
{
    memset(res, 0, sizeof(*res));
    char *text;
    size_t len;
    int rc = kl_file_read(path, 16 << 20, &text, &len, err);
    if (rc < 0)
        return rc;
    kl_json_t **docs = NULL;
    size_t ndocs = 0;
    rc = kl_yaml_parse(text, len, NULL, &docs, &ndocs, err);
    free(text);
    if (rc < 0)
        return kl_err(err, rc, "%s: %s", path, err->msg);
    if (ndocs != 1 || !kl_json_is(docs[0], KL_TOBJECT)) {
        kl_json_free_docs(docs, ndocs);
        return kl_err(err, KL_EINVAL, "%s: a spec is one YAML document (a mapping)", path);
    }
    kl_json_t *spec = docs[0];
    run_t r = {.out = out, .spec_path = path};
    uv_loop_init(&r.loop);
    char *dir_copy = strdup(path);
    char *dir = dirname(dir_copy);
    const char *policy = kl_json_path_str(spec, "policy", NULL);
    char *policy_path = NULL;
    if (policy == NULL) {
        rc = kl_err(err, KL_EINVAL, "%s: `policy` (the policy file) is required", path);
        goto out;
    }
    policy_path = policy[0] == '/' ? strdup(policy) : kl_path_join(dir, policy);
    if ((rc = kl_fake_new(&r.loop, &r.fake)) < 0) {
        kl_err(err, rc, "cannot create the fake cluster");
        goto out;
    }
    const char *now = kl_json_path_str(spec, "now", NULL);
    if (now) {
        int64_t sec;
        int32_t nsec;
        if (kl_time_parse_rfc3339(now, &sec, &nsec) < 0) {
            rc = kl_err(err, KL_EINVAL, "%s: bad `now` time %s", path, now);
            goto out;
        }
        kl_fake_set_now(r.fake, (double)sec + nsec / 1e9);
    }
    const kl_json_t *resources = kl_json_get(spec, "resources");
    for (uint32_t i = 0; kl_json_is(resources, KL_TARRAY) && i < resources->len; i++) {
        const kl_json_t *d = kl_json_at(resources, i);
        const char *rs = kl_json_path_str(d, "resource", NULL);
        const char *kind = kl_json_path_str(d, "kind", NULL);
        if (rs == NULL || kind == NULL ||
            kl_fake_define(r.fake, rs, kind, kl_json_bool_or(kl_json_get(d, "namespaced"), true)) <
                0) {
            rc = kl_err(err, KL_EINVAL, "%s: resources[%u] needs resource and kind", path, i);
            goto out;
        }
    }
    r.step = 0;
    if (put_objects(&r, kl_json_get(spec, "objects")) < 0) {
        rc = kl_err(err, KL_EINVAL, "%s: bad objects", path);
        goto out;
    }
    uv_run(&r.loop, UV_RUN_NOWAIT);
    kl_manager_opts_t mo = {
        .loop = &r.loop,
        .backend = kl_fake_backend(r.fake),
        .instance = "kubelua-test",
        .clock = fake_clock,
        .clock_data = &r,
        .time_budget_ms = (uint32_t)kl_json_int_or(kl_json_get(spec, "budget_ms"), 0),
        .instr_budget = (uint64_t)kl_json_int_or(kl_json_get(spec, "budget_instructions"), 0),
        .mem_limit = (size_t)kl_json_int_or(kl_json_get(spec, "memory_mb"), 0) << 20,
        .no_batching = !kl_json_bool_or(kl_json_get(spec, "batch_period"), false),
    };
    if ((rc = kl_manager_new(&mo, &r.m)) < 0) {
        kl_err(err, rc, "cannot create the controller manager");
        goto out;
    }
    if ((rc = kl_manager_add_file(r.m, policy_path, NULL, err)) < 0)
        goto out;
    const kl_json_t *steps = kl_json_get(spec, "steps");
    for (uint32_t i = 0; kl_json_is(steps, KL_TARRAY) && i < steps->len; i++) {
        const kl_json_t *s = kl_json_at(steps, i);
        r.step = (int)i + 1;
        res->steps++;
        int max = 10000;
        if (kl_json_get(s, "run")) {
            max = (int)kl_json_int_or(kl_json_path(s, "run", "max", NULL), 10000);
            run_idle(&r, max);
        } else if (kl_json_get(s, "advance")) {
            double d = parse_duration(kl_json_get(s, "advance"));
            if (d < 0) {
                failf(&r, "advance: bad duration");
                continue;
            }
            kl_fake_set_now(r.fake, kl_fake_now(r.fake) + d);
            run_idle(&r, max);
        } else if (kl_json_get(s, "put")) {
            if (put_objects(&r, kl_json_get(s, "put")) == 0)
                run_idle(&r, max);
        } else if (kl_json_get(s, "status")) {
            if (step_status(&r, kl_json_get(s, "status")) == 0)
                run_idle(&r, max);
        } else if (kl_json_get(s, "delete")) {
            if (step_delete(&r, kl_json_get(s, "delete")) == 0)
                run_idle(&r, max);
        } else if (kl_json_get(s, "fail")) {
            step_fail(&r, kl_json_get(s, "fail"));
        } else if (kl_json_get(s, "budget")) {
            const kl_json_t *b = kl_json_get(s, "budget");
            kl_manager_set_budget(r.m, (uint32_t)kl_json_int_or(kl_json_get(b, "ms"), 0),
                                  (uint64_t)kl_json_int_or(kl_json_get(b, "instructions"), 0));
        } else if (kl_json_get(s, "expect")) {
            step_expect(&r, kl_json_get(s, "expect"));
        } else {
            char *t = kl_json_encode_alloc(s, NULL);
            failf(&r, "unknown step %s", t ? t : "?");
            free(t);
        }
    }
    res->failures = r.failures;
    rc = r.failures ? KL_EINVAL : 0;
out:
    kl_manager_free(r.m);
    kl_fake_free(r.fake);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&r.loop) != 0) {
        uv_run(&r.loop, UV_RUN_DEFAULT);
        uv_loop_close(&r.loop);
    }
    free(policy_path);
    free(dir_copy);
    kl_json_free_docs(docs, ndocs);
    return rc;
}
