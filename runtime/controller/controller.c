/* Policies as controllers: loading the contract, event handlers, the queue, reconciles as
 * coroutines, results, expectations, reload, metrics. See controller.h. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kubelua/log.h"

#include "controller/controller_int.h"
#include "script/l_kube.h"
#include "script/l_object.h"

#define EXPECTATIONS_TTL 300.0

static const kl_script_module_t modules[] = {{"kube", luaopen_kube}, {NULL, NULL}};

static double now_of(kl_manager_t *m)
{
    return m->o.backend->ops->now(m->o.backend);
}

/* ---- The contract ------------------------------------------------------------------------- */

typedef struct contract {
    char name[128];
    char component[128];
    char primary[256];
    char owns[16][256];
    size_t nowns;
    char watch_res[16][256];
    int watch_ref[16];
    size_t nwatches;
    int64_t workers;
    double resync;
    double batch_period;
    uint32_t budget_ms; /* time_budget, or 0 */
    char problem[512];
} contract_t;

/* Reads the policy table (at index 1) into c. Raw reads only: no Lua code runs. */
static int read_contract(lua_State *L, void *ud)
{
    contract_t *c = ud;
    if (!lua_istable(L, 1)) {
        snprintf(c->problem, sizeof(c->problem), "the policy did not return a table");
        return KL_ETYPE;
    }
    lua_pushliteral(L, "name");
    if (lua_rawget(L, 1) == LUA_TSTRING)
        snprintf(c->name, sizeof(c->name), "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushliteral(L, "component");
    if (lua_rawget(L, 1) == LUA_TSTRING)
        snprintf(c->component, sizeof(c->component), "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushliteral(L, "primary");
    if (lua_rawget(L, 1) != LUA_TSTRING) {
        snprintf(c->problem, sizeof(c->problem),
                 "the policy needs `primary`, the reconciled resource, e.g. \"batch/v1/jobs\"");
        return KL_EINVAL;
    }
    snprintf(c->primary, sizeof(c->primary), "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushliteral(L, "reconcile");
    if (lua_rawget(L, 1) != LUA_TFUNCTION) {
        snprintf(c->problem, sizeof(c->problem), "the policy needs a `reconcile` function");
        return KL_EINVAL;
    }
    lua_pop(L, 1);
    lua_pushliteral(L, "owns");
    int t = lua_rawget(L, 1);
    if (t == LUA_TTABLE) {
        for (lua_Integer i = 1; c->nowns < 16; i++) {
            if (lua_rawgeti(L, -1, i) != LUA_TSTRING) {
                lua_pop(L, 1);
                break;
            }
            snprintf(c->owns[c->nowns++], 256, "%s", lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        snprintf(c->problem, sizeof(c->problem), "`owns` must be a list of resources");
        return KL_EINVAL;
    }
    lua_pop(L, 1);
    lua_pushliteral(L, "watches");
    t = lua_rawget(L, 1);
    if (t == LUA_TTABLE) {
        for (lua_Integer i = 1; c->nwatches < 16; i++) {
            if (lua_rawgeti(L, -1, i) != LUA_TTABLE) {
                lua_pop(L, 1);
                break;
            }
            lua_pushliteral(L, "resource");
            if (lua_rawget(L, -2) != LUA_TSTRING) {
                snprintf(c->problem, sizeof(c->problem), "watches[%lld] needs `resource`",
                         (long long)i);
                return KL_EINVAL;
            }
            snprintf(c->watch_res[c->nwatches], 256, "%s", lua_tostring(L, -1));
            lua_pop(L, 1);
            lua_pushliteral(L, "map");
            if (lua_rawget(L, -2) != LUA_TFUNCTION) {
                snprintf(c->problem, sizeof(c->problem),
                         "watches[%lld] needs `map`, a function(obj) returning keys", (long long)i);
                return KL_EINVAL;
            }
            c->watch_ref[c->nwatches++] = luaL_ref(L, LUA_REGISTRYINDEX);
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        snprintf(c->problem, sizeof(c->problem), "`watches` must be a list");
        return KL_EINVAL;
    }
    lua_pop(L, 1);
    lua_pushliteral(L, "workers");
    if (lua_rawget(L, 1) == LUA_TNUMBER)
        c->workers = lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_pushliteral(L, "resync");
    if (lua_rawget(L, 1) == LUA_TNUMBER)
        c->resync = lua_tonumber(L, -1);
    lua_pop(L, 1);
    lua_pushliteral(L, "batch_period");
    t = lua_rawget(L, 1);
    if (t == LUA_TNUMBER) {
        double s = lua_tonumber(L, -1);
        if (!(s >= 0 && s <= 60)) {
            snprintf(c->problem, sizeof(c->problem),
                     "`batch_period` must be a number of seconds in [0, 60]");
            return KL_EINVAL;
        }
        c->batch_period = s;
    } else if (t != LUA_TNIL) {
        snprintf(c->problem, sizeof(c->problem), "`batch_period` must be a number of seconds");
        return KL_EINVAL;
    }
    lua_pop(L, 1);
    lua_pushliteral(L, "time_budget");
    t = lua_rawget(L, 1);
    if (t == LUA_TNUMBER) {
        double s = lua_tonumber(L, -1);
        if (!(s > 0 && s <= 600)) {
            snprintf(c->problem, sizeof(c->problem),
                     "`time_budget` must be a number of seconds in (0, 600]");
            return KL_EINVAL;
        }
        c->budget_ms = (uint32_t)(s * 1000 + 0.5);
        if (c->budget_ms == 0)
            c->budget_ms = 1;
    } else if (t != LUA_TNIL) {
        snprintf(c->problem, sizeof(c->problem), "`time_budget` must be a number of seconds");
        return KL_EINVAL;
    }
    lua_pop(L, 1);
    if (c->workers <= 0)
        c->workers = 5;
    if (c->workers > 1000)
        c->workers = 1000;
    return 0;
}

static int register_ctx(lua_State *L, void *ud)
{
    kl_ctx_register(L);
    return 0;
}

/* A new script with the policy loaded and its contract read. */
static int load_generation(kl_manager_t *m, const char *name, const char *path,
                           const char *chunkname, const char *dir, const char *src, size_t len,
                           kl_script_t **out, contract_t *c, kl_errinfo_t *err)
{
    kl_script_opts_t so = {.name = name,
                           .policy_dir = dir,
                           .modules = modules,
                           .mem_limit = m->o.mem_limit,
                           .time_budget_ms = m->o.time_budget_ms,
                           .instr_budget = m->o.instr_budget};
    kl_script_t *s;
    int rc = kl_script_new(&so, &s);
    if (rc < 0)
        return kl_err(err, rc, "cannot create a Lua state: %s", kl_strerror(rc));
    kl_errinfo_t rerr;
    if ((rc = kl_script_protect(s, register_ctx, NULL, &rerr)) < 0) {
        kl_script_free(s);
        return kl_err(err, rc, "%s", rerr.msg);
    }
    rc = src ? kl_script_load_buffer(s, chunkname, src, len, err)
             : kl_script_load_file(s, path, err);
    if (rc < 0) {
        kl_script_free(s);
        return rc;
    }
    memset(c, 0, sizeof(*c));
    kl_errinfo_t perr;
    rc = kl_script_protect(s, read_contract, c, &perr);
    if (rc < 0) {
        kl_script_free(s);
        return kl_err(err, rc, "%s: %s", chunkname ? chunkname : path,
                      c->problem[0] ? c->problem : perr.msg);
    }
    *out = s;
    return 0;
}

/* ---- Expectations ----------------------------------------------------------------------- */

static int64_t exp_clock(void *ud)
{
    kl_controller_t *c = ud;
    return (int64_t)(now_of(c->m) * 1000);
}

/* ---- Event handlers --------------------------------------------------------------------- */

static void enqueue(kl_controller_t *c, const char *key)
{
    if (!c->stopping)
        kl_queue_add(c->queue, key);
}

/* A change that only needs looking at eventually (an owned object's, or a status update of the
 * primary): with a batch period, the key waits that long so that a burst of such changes costs
 * one reconcile (upstream's Job controller batches pod events and status updates for 1 s). */
static void enqueue_batched(kl_controller_t *c, const char *key)
{
    if (c->stopping)
        return;
    if (c->batch_period > 0)
        kl_queue_add_after(c->queue, key, c->batch_period);
    else
        kl_queue_add(c->queue, key);
}

static bool terminating(const kl_obj_t *o)
{
    return o && !kl_val_missing(kl_val_path(kl_obj_root(o), "metadata", "deletionTimestamp", NULL));
}

static int64_t generation_of(const kl_obj_t *o)
{
    return kl_val_int(kl_val_path(kl_obj_root(o), "metadata", "generation", NULL));
}

static void object_key(const kl_obj_t *obj, char *out, size_t cap)
{
    kl_val_t md = kl_val_get(kl_obj_root(obj), "metadata");
    const char *ns = kl_val_path_str(md, "namespace", NULL);
    const char *name = kl_val_path_str(md, "name", NULL);
    if (ns && *ns)
        snprintf(out, cap, "%s/%s", ns, name ? name : "");
    else
        snprintf(out, cap, "%s", name ? name : "");
}

static void on_primary(const kl_rtype_t *res, kl_change_t change, const kl_obj_t *obj,
                       const kl_obj_t *old, void *ud)
{
    kl_controller_t *c = ud;
    char key[600];
    object_key(obj, key, sizeof(key));
    if (change == KL_CHANGE_DELETE)
        kl_expectations_delete(c->exp, key);
    /* A spec change (a new generation) or the start of a deletion is looked at at once. */
    if (change == KL_CHANGE_UPDATE && old && generation_of(obj) == generation_of(old) &&
        terminating(obj) == terminating(old))
        enqueue_batched(c, key);
    else
        enqueue(c, key);
}

/* The key of obj's controller owner when it is our primary kind (uid checked in the cache). */
static bool owner_key(kl_controller_t *c, const kl_obj_t *obj, char *out, size_t cap)
{
    kl_val_t md = kl_val_get(kl_obj_root(obj), "metadata");
    kl_val_t refs = kl_val_get(md, "ownerReferences");
    for (uint32_t i = 0; i < kl_val_len(refs); i++) {
        kl_val_t ref = kl_val_at(refs, i);
        if (!kl_val_bool(kl_val_get(ref, "controller")))
            continue;
        const char *kind = kl_val_path_str(ref, "kind", NULL);
        const char *name = kl_val_path_str(ref, "name", NULL);
        const char *uid = kl_val_path_str(ref, "uid", NULL);
        if (!kind || !name || strcmp(kind, c->primary->kind) != 0)
            return false;
        const char *ns = c->primary->namespaced ? kl_val_path_str(md, "namespace", NULL) : NULL;
        const kl_obj_t *owner = c->m->o.backend->ops->get(c->m->o.backend, c->primary, ns, name);
        if (owner) {
            const char *ouid = kl_val_path_str(kl_obj_root(owner), "metadata", "uid", NULL);
            if (uid && ouid && strcmp(uid, ouid) != 0)
                return false;
        }
        if (ns)
            snprintf(out, cap, "%s/%s", ns, name);
        else
            snprintf(out, cap, "%s", name);
        return true;
    }
    return false;
}

static void on_owned(const kl_rtype_t *res, kl_change_t change, const kl_obj_t *obj,
                     const kl_obj_t *old, void *ud)
{
    kl_controller_t *c = ud;
    char key[600], own[600];
    bool have = owner_key(c, obj, key, sizeof(key));
    object_key(obj, own, sizeof(own));
    /* As upstream: a new object is a creation observed (a new one already terminating counts
     * as a deletion), and a deletion is observed when the object goes or starts terminating;
     * tracked pod keys make the two count once. */
    if (change == KL_CHANGE_ADD && have) {
        if (terminating(obj))
            kl_expectations_deletion_observed(c->exp, key, own);
        else
            kl_expectations_creation_observed(c->exp, key);
    } else if (have && (change == KL_CHANGE_DELETE ||
                        (change == KL_CHANGE_UPDATE && terminating(obj) && !terminating(old)))) {
        kl_expectations_deletion_observed(c->exp, key, own);
    }
    if (have)
        enqueue_batched(c, key);
    /* An update that changed the controller owner enqueues the old owner too. */
    char oldkey[600];
    if (change == KL_CHANGE_UPDATE && old && owner_key(c, old, oldkey, sizeof(oldkey)) &&
        (!have || strcmp(oldkey, key) != 0))
        enqueue_batched(c, oldkey);
}

typedef struct map_call {
    kl_controller_t *c;
    const kl_obj_t *obj, *old;
    kl_change_t change;
} map_call_t;

/* map(obj, old, change, cache): old is the previous state for updates (nil otherwise), change
 * is "add", "update" or "delete" (obj is then the last known state), cache reads the
 * controller's caches (get, list). */
static int push_map_args(lua_State *L, void *ud)
{
    map_call_t *mc = ud;
    kl_lua_push_doc(L, mc->obj);
    if (mc->old)
        kl_lua_push_doc(L, mc->old);
    else
        lua_pushnil(L);
    lua_pushstring(L, mc->change == KL_CHANGE_ADD      ? "add"
                      : mc->change == KL_CHANGE_UPDATE ? "update"
                                                       : "delete");
    kl_cache_push(L, mc->c);
    return 4;
}

static void map_done(kl_invocation_t *inv, const kl_invocation_result_t *r, void *ud)
{
    kl_controller_t *c = ud;
    if (r->status != 0) {
        c->lua_errors++;
        KL_WARN(c->name, "watch map function failed: %s", r->err ? r->err->msg : "error");
        return;
    }
    if (r->nresults < 1 || r->L == NULL)
        return;
    lua_State *L = r->L;
    if (lua_type(L, 1) == LUA_TSTRING) {
        enqueue(c, lua_tostring(L, 1));
        return;
    }
    if (!lua_istable(L, 1))
        return;
    for (lua_Integer i = 1; i <= 100000; i++) {
        if (lua_rawgeti(L, 1, i) != LUA_TSTRING) {
            lua_pop(L, 1);
            break;
        }
        enqueue(c, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
}

static void on_watched(const kl_rtype_t *res, kl_change_t change, const kl_obj_t *obj,
                       const kl_obj_t *old, void *ud)
{
    kl_controller_t *c = ud;
    for (size_t i = 0; i < c->nwatches; i++) {
        if (c->watches[i].res != res)
            continue;
        map_call_t mc = {c, obj, change == KL_CHANGE_UPDATE ? old : NULL, change};
        kl_invocation_opts_t io = {.fn_ref = c->watches[i].map_ref,
                                   .push_args = push_map_args,
                                   .push_ud = &mc,
                                   .done = map_done,
                                   .done_ud = c};
        kl_errinfo_t err;
        if (kl_invocation_start(c->script, &io, NULL, &err) < 0)
            KL_WARN(c->name, "watch map function: %s", err.msg);
    }
}

/* ---- Reconciles --------------------------------------------------------------------------- */

static void start_workers(kl_controller_t *c);

static int push_reconcile_args(lua_State *L, void *ud)
{
    reconcile_t *r = ud;
    kl_ctx_push(L, r);
    lua_pushstring(L, r->key);
    return 2;
}

static void reconcile_free(reconcile_t *r)
{
    free(r->key);
    free(r->ns);
    free(r->name);
    free(r);
}

static void record_failure(kl_controller_t *c, reconcile_t *r, const char *msg)
{
    KL_WARN(c->name, "reconcile %s failed: %s", r->key, msg);
    const kl_obj_t *obj = c->m->o.backend->ops->get(c->m->o.backend, c->primary, r->ns, r->name);
    if (obj) {
        char m[1024];
        snprintf(m, sizeof(m), "%s", msg);
        /* The first line is enough for an Event. */
        char *nl = strchr(m, '\n');
        if (nl)
            *nl = '\0';
        kl_event_record(c->m, c, obj, "Warning", "ReconcileError", m);
    }
}

static void reconcile_done(kl_invocation_t *inv, const kl_invocation_result_t *res, void *ud)
{
    reconcile_t *r = ud;
    kl_controller_t *c = r->c;
    kl_ctx_kill(r);
    c->running--;
    if (r->prev)
        r->prev->next = r->next;
    else
        c->inflight = r->next;
    if (r->next)
        r->next->prev = r->prev;
    c->lua_ns += res->run_ns;
    kl_histogram_observe(&c->reconcile_time, (double)(uv_hrtime() - r->start_ns) / 1e9);
    int outcome = 0; /* 0 forget, 1 after, 2 rate-limited */
    double after = 0;
    if (res->status != 0) {
        c->reconciles_error++;
        c->lua_errors++;
        if (res->status == KL_EBUDGET)
            c->budget_kills++;
        if (res->status == KL_EMEMLIMIT)
            c->memory_kills++;
        char msg[2048];
        snprintf(msg, sizeof(msg), "%s%s%s", res->err ? res->err->msg : kl_strerror(res->status),
                 res->traceback ? "\n" : "", res->traceback ? res->traceback : "");
        if (r->unsynced) {
            /* Not the policy's fault: a cache it reads is still filling. */
            c->reconciles_error--;
            c->lua_errors--;
            KL_DEBUG(c->name, "reconcile %s waits for a cache: %s", r->key, msg);
            outcome = 1;
            after = 0.2;
        } else {
            if (res->status != KL_ECANCELED)
                record_failure(c, r, msg);
            outcome = res->status == KL_ECANCELED ? 0 : 2;
        }
    } else {
        lua_State *L = res->L;
        if (L && res->nresults >= 2 && !lua_isnil(L, 2)) {
            /* return nil, err */
            const char *m = luaL_tolstring(L, 2, NULL);
            c->reconciles_error++;
            record_failure(c, r, m);
            outcome = 2;
        } else if (L && res->nresults >= 1 && lua_istable(L, 1)) {
            lua_getfield(L, 1, "requeue_after");
            if (lua_isnumber(L, -1)) {
                after = lua_tonumber(L, -1);
                outcome = 1;
            }
            lua_pop(L, 1);
            lua_getfield(L, 1, "requeue");
            if (lua_toboolean(L, -1) && outcome == 0)
                outcome = 2;
            lua_pop(L, 1);
            lua_getfield(L, 1, "error");
            if (!lua_isnil(L, -1)) {
                c->reconciles_error++;
                record_failure(c, r, luaL_tolstring(L, -1, NULL));
                lua_pop(L, 1);
                outcome = 2;
            }
            lua_pop(L, 1);
        }
        if (outcome == 0 && r->requeue_after > 0) {
            outcome = 1;
            after = r->requeue_after;
        }
        if (outcome == 0)
            c->reconciles_ok++;
        else if (outcome == 1)
            c->reconciles_requeue_after++;
        else
            c->reconciles_requeue++;
    }
    switch (outcome) {
    case 0:
        kl_queue_forget(c->queue, r->key);
        break;
    case 1:
        kl_queue_forget(c->queue, r->key);
        kl_queue_add_after(c->queue, r->key, after);
        break;
    default:
        kl_queue_add_rate_limited(c->queue, r->key, NULL);
        break;
    }
    kl_queue_done(c->queue, r->key);
    reconcile_free(r);
    start_workers(c);
}

static int split_key(const char *key, char **ns, char **name)
{
    const char *slash = strchr(key, '/');
    if (slash) {
        *ns = strndup(key, (size_t)(slash - key));
        *name = strdup(slash + 1);
    } else {
        *ns = NULL;
        *name = strdup(key);
    }
    return *name ? 0 : KL_ENOMEM;
}

static void start_one(kl_controller_t *c, const char *key)
{
    reconcile_t *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->key = strdup(key)) == NULL || split_key(key, &r->ns, &r->name) < 0) {
        if (r)
            reconcile_free(r);
        kl_queue_done(c->queue, key);
        return;
    }
    r->c = c;
    r->start = now_of(c->m);
    r->start_ns = uv_hrtime();
    c->running++;
    r->next = c->inflight;
    if (r->next)
        r->next->prev = r;
    c->inflight = r;
    kl_invocation_opts_t io = {.fn = "reconcile",
                               .push_args = push_reconcile_args,
                               .push_ud = r,
                               .done = reconcile_done,
                               .done_ud = r,
                               .time_budget_ms =
                                   c->budget_ms ? c->budget_ms : c->m->o.time_budget_ms,
                               .instr_budget = c->m->o.instr_budget};
    kl_errinfo_t err;
    kl_invocation_t *inv = NULL;
    int rc = kl_invocation_start(c->script, &io, &inv, &err);
    if (rc == 0 && inv != NULL)
        r->inv = inv; /* suspended: r is alive until its done callback */
    if (rc < 0) {
        c->running--;
        c->inflight = r->next;
        if (r->next)
            r->next->prev = NULL;
        KL_ERROR(c->name, "cannot start a reconcile of %s: %s", key, err.msg);
        kl_queue_add_rate_limited(c->queue, key, NULL);
        kl_queue_done(c->queue, key);
        reconcile_free(r);
    }
}

/* Reconciles wait until the caches of every declared resource have synced once, as
 * controllers wait for WaitForCacheSync upstream: acting on a half-filled cache would create
 * duplicates and delete what merely has not been seen yet. */
static bool controller_synced(kl_controller_t *c)
{
    if (c->synced)
        return true;
    kl_backend_t *b = c->m->o.backend;
    if (!b->ops->synced(b, c->primary))
        return false;
    for (size_t i = 0; i < c->nowns; i++)
        if (!b->ops->synced(b, c->owns[i]))
            return false;
    for (size_t i = 0; i < c->nwatches; i++)
        if (!b->ops->synced(b, c->watches[i].res))
            return false;
    c->synced = true;
    KL_DEBUG(c->name, "caches synced");
    return true;
}

static void on_sync_poll(uv_timer_t *t)
{
    kl_manager_t *m = t->data;
    bool all = true;
    for (size_t i = 0; i < m->n; i++)
        all &= controller_synced(m->ctrls[i]);
    if (all)
        uv_timer_stop(t);
    kl_manager_kick(m);
}

static void start_workers(kl_controller_t *c)
{
    if (!controller_synced(c)) {
        if (!uv_is_active((uv_handle_t *)c->m->sync_timer))
            uv_timer_start(c->m->sync_timer, on_sync_poll, 50, 50);
        return;
    }
    /* Reconciles that finish synchronously start the next one from their done callback;
     * the depth guard keeps that recursion bounded. */
    static int depth;
    if (!c->m->leader || c->m->draining || c->stopping || depth > 32)
        return;
    depth++;
    while (c->running < (size_t)c->workers) {
        const char *key;
        if (kl_queue_get(c->queue, &key) != 0)
            break;
        start_one(c, key);
    }
    depth--;
}

static void on_queue_ready(kl_queue_t *q, void *data)
{
    start_workers(data);
}

/* ---- Controllers ------------------------------------------------------------------------ */

static int resolve(kl_controller_t *c, const char *spec, kl_rtype_t **out, kl_errinfo_t *err)
{
    kl_backend_t *b = c->m->o.backend;
    return b->ops->resolve(b, spec, out, err);
}

/* Takes over the contract of a freshly loaded generation. */
static int adopt(kl_controller_t *c, kl_script_t *s, const contract_t *ct, kl_errinfo_t *err)
{
    kl_rtype_t *primary, *owns[16], *wres[16];
    int rc = resolve(c, ct->primary, &primary, err);
    for (size_t i = 0; rc == 0 && i < ct->nowns; i++)
        rc = resolve(c, ct->owns[i], &owns[i], err);
    for (size_t i = 0; rc == 0 && i < ct->nwatches; i++)
        rc = resolve(c, ct->watch_res[i], &wres[i], err);
    if (rc < 0)
        return rc;
    if (c->primary && c->primary != primary)
        return kl_err(err, KL_EINVAL,
                      "a reload cannot change the primary resource (%s -> %s); restart instead",
                      c->primary->spec, primary->spec);
    kl_rtype_t **no = calloc(ct->nowns ? ct->nowns : 1, sizeof(*no));
    watch_spec_t *nw = calloc(ct->nwatches ? ct->nwatches : 1, sizeof(*nw));
    if (no == NULL || nw == NULL) {
        free(no);
        free(nw);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < ct->nowns; i++)
        no[i] = owns[i];
    for (size_t i = 0; i < ct->nwatches; i++)
        nw[i] = (watch_spec_t){wres[i], ct->watch_ref[i]};
    kl_backend_t *b = c->m->o.backend;
    /* Subscriptions are per controller and survive reloads; new resources get new ones. */
    if (!c->subscribed)
        rc = b->ops->subscribe(b, primary, on_primary, c);
    for (size_t i = 0; rc == 0 && i < ct->nowns; i++) {
        bool had = false;
        for (size_t k = 0; k < c->nowns; k++)
            had |= c->owns[k] == owns[i];
        if (!had)
            rc = b->ops->subscribe(b, owns[i], on_owned, c);
    }
    for (size_t i = 0; rc == 0 && i < ct->nwatches; i++) {
        bool had = false;
        for (size_t k = 0; k < c->nwatches; k++)
            had |= c->watches[k].res == wres[i];
        if (!had)
            rc = b->ops->subscribe(b, wres[i], on_watched, c);
    }
    if (rc < 0) {
        free(no);
        free(nw);
        return kl_err(err, rc, "subscribing to changes failed");
    }
    c->subscribed = true;
    c->primary = primary;
    free(c->owns);
    c->owns = no;
    c->nowns = ct->nowns;
    free(c->watches);
    c->watches = nw;
    c->nwatches = ct->nwatches;
    c->workers = (int)ct->workers;
    c->resync = ct->resync;
    c->batch_period = c->m->o.no_batching ? 0 : ct->batch_period;
    c->budget_ms = ct->budget_ms;
    snprintf(c->component, sizeof(c->component), "%s", ct->component);
    c->next_resync = ct->resync > 0 ? now_of(c->m) + ct->resync : 0;
    kl_script_t *old = c->script;
    c->script = s;
    c->generation++;
    if (old)
        kl_script_retire(old, NULL, NULL);
    return 0;
}

static bool enqueue_each(const kl_obj_t *obj, void *ud)
{
    kl_controller_t *c = ud;
    char key[600];
    object_key(obj, key, sizeof(key));
    enqueue(c, key);
    return true;
}

static void enqueue_all(kl_controller_t *c)
{
    kl_backend_t *b = c->m->o.backend;
    b->ops->each(b, c->primary, NULL, enqueue_each, c);
}

static char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    s = s ? s + 1 : path;
    size_t n = strlen(s);
    if (n > 4 && strcmp(s + n - 4, ".lua") == 0)
        n -= 4;
    return strndup(s, n);
}

static int add_controller(kl_manager_t *m, const char *path, const char *chunkname, const char *dir,
                          const char *src, size_t len, kl_controller_t **out, kl_errinfo_t *err)
{
    char *fallback = base_name(path ? path : chunkname);
    contract_t ct;
    kl_script_t *s = NULL;
    int rc = load_generation(m, fallback, path, chunkname, dir, src, len, &s, &ct, err);
    if (rc < 0) {
        free(fallback);
        return rc;
    }
    kl_controller_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        free(fallback);
        kl_script_free(s);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    c->m = m;
    c->name = ct.name[0] ? strdup(ct.name) : fallback;
    if (ct.name[0])
        free(fallback);
    c->path = path ? strdup(path) : NULL;
    c->chunkname = chunkname ? strdup(chunkname) : NULL;
    c->policy_dir = dir ? strdup(dir) : NULL;
    kl_expectations_opts_t eo = {.now_ms = exp_clock, .ud = c};
    if (kl_expectations_new(&eo, &c->exp) < 0) {
        kl_script_free(s);
        goto fail;
    }
    if (kl_histogram_init_exponential(&c->reconcile_time, 0.0001, 2, 18) < 0) {
        kl_script_free(s);
        goto fail;
    }
    kl_queue_opts_t qo;
    kl_queue_opts_init(&qo);
    qo.name = c->name;
    qo.ready_cb = on_queue_ready;
    qo.cb_data = c;
    qo.clock = m->o.clock;
    qo.clock_data = m->o.clock_data;
    if ((rc = kl_queue_new(m->o.loop, &qo, &c->queue)) < 0) {
        kl_script_free(s);
        kl_err(err, rc, "cannot create the work queue");
        goto fail;
    }
    if ((rc = adopt(c, s, &ct, err)) < 0) {
        kl_script_free(s);
        goto fail;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        kl_controller_t **n = realloc(m->ctrls, cap * sizeof(*n));
        if (n == NULL) {
            rc = kl_err(err, KL_ENOMEM, "out of memory");
            goto fail;
        }
        m->ctrls = n;
        m->cap = cap;
    }
    m->ctrls[m->n++] = c;
    enqueue_all(c);
    KL_INFO("controller", "started %s (primary %s, %d workers)", c->name, c->primary->spec,
            c->workers);
    if (out)
        *out = c;
    return 0;
fail:
    /* The controller was never registered: free what it holds. */
    if (c->queue)
        kl_queue_free(c->queue);
    kl_script_free(c->script);
    kl_histogram_cleanup(&c->reconcile_time);
    kl_expectations_unref(c->exp);
    free(c->owns);
    free(c->watches);
    free(c->name);
    free(c->path);
    free(c->chunkname);
    free(c->policy_dir);
    free(c);
    return rc < 0 ? rc : KL_ENOMEM;
}

int kl_manager_add_file(kl_manager_t *m, const char *path, kl_controller_t **out, kl_errinfo_t *err)
{
    return add_controller(m, path, NULL, NULL, NULL, 0, out, err);
}

int kl_manager_add_buffer(kl_manager_t *m, const char *chunkname, const char *policy_dir,
                          const char *src, size_t len, kl_controller_t **out, kl_errinfo_t *err)
{
    return add_controller(m, NULL, chunkname, policy_dir, src, len, out, err);
}

int kl_manager_reload(kl_manager_t *m, kl_controller_t *c, const char *src, size_t len,
                      kl_errinfo_t *err)
{
    contract_t ct;
    kl_script_t *s = NULL;
    int rc =
        load_generation(m, c->name, c->path, c->chunkname, c->policy_dir, src, len, &s, &ct, err);
    if (rc < 0) {
        KL_ERROR(c->name, "reload failed, the running policy stays: %s", err ? err->msg : "");
        return rc;
    }
    if ((rc = adopt(c, s, &ct, err)) < 0) {
        kl_script_free(s);
        KL_ERROR(c->name, "reload failed, the running policy stays: %s", err ? err->msg : "");
        return rc;
    }
    KL_INFO(c->name, "reloaded (generation %u)", c->generation);
    enqueue_all(c);
    return 0;
}

/* ---- Manager ---------------------------------------------------------------------------- */

static void on_resync(uv_timer_t *t)
{
    kl_manager_t *m = t->data;
    double now = now_of(m);
    for (size_t i = 0; i < m->n; i++) {
        kl_controller_t *c = m->ctrls[i];
        if (c->resync > 0 && now >= c->next_resync) {
            c->next_resync = now + c->resync;
            enqueue_all(c);
        }
    }
}

int kl_manager_new(const kl_manager_opts_t *opts, kl_manager_t **out)
{
    kl_manager_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return KL_ENOMEM;
    m->o = *opts;
    m->leader = true;
    char host[256] = "kubelua";
    if (opts->instance == NULL)
        gethostname(host, sizeof(host) - 1);
    m->field_manager = strdup(opts->field_manager ? opts->field_manager : "kubelua");
    m->instance = strdup(opts->instance ? opts->instance : host);
    kl_strmap_init(&m->events, KL_STRMAP_COPY_KEYS);
    m->resync_timer = malloc(sizeof(*m->resync_timer));
    m->sync_timer = malloc(sizeof(*m->sync_timer));
    if (m->field_manager == NULL || m->instance == NULL || m->resync_timer == NULL ||
        m->sync_timer == NULL) {
        /* The timers were never initialised: free them here, not through uv_close. */
        free(m->resync_timer);
        free(m->sync_timer);
        m->resync_timer = m->sync_timer = NULL;
        kl_manager_free(m);
        return KL_ENOMEM;
    }
    uv_timer_init(opts->loop, m->resync_timer);
    m->resync_timer->data = m;
    uv_timer_start(m->resync_timer, on_resync, 1000, 1000);
    uv_unref((uv_handle_t *)m->resync_timer);
    uv_timer_init(opts->loop, m->sync_timer);
    m->sync_timer->data = m;
    *out = m;
    return 0;
}

static void free_timer(uv_handle_t *h)
{
    free(h);
}

static void controller_free(kl_controller_t *c)
{
    c->stopping = true;
    kl_queue_shut_down(c->queue, false);
    kl_script_free(c->script); /* cancels in-flight reconciles */
    kl_events_discard(c);
    kl_queue_free(c->queue);
    kl_expectations_unref(c->exp);
    kl_histogram_cleanup(&c->reconcile_time);
    free(c->owns);
    free(c->watches);
    free(c->name);
    free(c->path);
    free(c->chunkname);
    free(c->policy_dir);
    free(c);
}

void kl_manager_free(kl_manager_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        controller_free(m->ctrls[i]);
    free(m->ctrls);
    if (m->resync_timer)
        uv_close((uv_handle_t *)m->resync_timer, free_timer);
    if (m->sync_timer)
        uv_close((uv_handle_t *)m->sync_timer, free_timer);
    kl_events_cleanup(m);
    free(m->field_manager);
    free(m->instance);
    free(m);
}

void kl_manager_set_budget(kl_manager_t *m, uint32_t time_budget_ms, uint64_t instr_budget)
{
    m->o.time_budget_ms = time_budget_ms;
    m->o.instr_budget = instr_budget;
}

void kl_manager_set_leader(kl_manager_t *m, bool leader)
{
    bool was = m->leader;
    m->leader = leader;
    if (leader && !was) {
        /* Keys cancelled or never taken while standing by: look at everything again. */
        for (size_t i = 0; i < m->n; i++)
            if (m->ctrls[i]->primary)
                enqueue_all(m->ctrls[i]);
    }
    if (leader) {
        kl_manager_kick(m);
        return;
    }
    /* Another process may lead now: stop every reconcile in flight at once. */
    for (size_t i = 0; i < m->n; i++) {
        kl_controller_t *c = m->ctrls[i];
        reconcile_t *r = c->inflight;
        while (r) {
            reconcile_t *next = r->next;
            if (r->inv && kl_invocation_cancel(r->inv) == 0)
                KL_INFO(c->name, "cancelled the reconcile of %s: lost leadership", r->key);
            r = next;
        }
    }
}

void kl_manager_drain(kl_manager_t *m)
{
    m->draining = true;
}

size_t kl_manager_running(const kl_manager_t *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++)
        n += m->ctrls[i]->running;
    return n;
}

void kl_manager_kick(kl_manager_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        start_workers(m->ctrls[i]);
}

bool kl_manager_idle(const kl_manager_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        kl_queue_stats_t st;
        kl_queue_stats(m->ctrls[i]->queue, &st);
        if (m->ctrls[i]->running || st.ready)
            return false;
    }
    return true;
}

size_t kl_manager_controllers(const kl_manager_t *m, kl_controller_t *const **out)
{
    *out = m->ctrls;
    return m->n;
}

const char *kl_controller_name(const kl_controller_t *c)
{
    return c->name;
}

const char *kl_controller_path(const kl_controller_t *c)
{
    return c->path;
}

int kl_manager_metrics(const kl_manager_t *m, kl_buf_t *out)
{
    int rc = 0;
    const kl_queue_t *queues[64];
    size_t nq = 0;
    for (size_t i = 0; i < m->n && nq < 64; i++)
        queues[nq++] = m->ctrls[i]->queue;
    rc = kl_queue_render_metrics(out, queues, nq);
    if (rc == 0)
        rc = kl_metrics_write_header(out, "controller_runtime_reconcile_total",
                                     "Total number of reconciliations per controller",
                                     KL_METRIC_COUNTER);
    static const char *const results[] = {"success", "error", "requeue", "requeue_after"};
    for (size_t i = 0; rc == 0 && i < m->n; i++) {
        const kl_controller_t *c = m->ctrls[i];
        const uint64_t counts[] = {c->reconciles_ok, c->reconciles_error, c->reconciles_requeue,
                                   c->reconciles_requeue_after};
        for (int k = 0; rc == 0 && k < 4; k++) {
            kl_label_t l[] = {{"controller", c->name}, {"result", results[k]}};
            rc = kl_metrics_write_sample(out, "controller_runtime_reconcile_total", l, 2,
                                         (double)counts[k]);
        }
    }
    if (rc == 0)
        rc = kl_metrics_write_header(out, "controller_runtime_reconcile_time_seconds",
                                     "Length of time per reconciliation per controller",
                                     KL_METRIC_HISTOGRAM);
    for (size_t i = 0; rc == 0 && i < m->n; i++) {
        kl_label_t l[] = {{"controller", m->ctrls[i]->name}};
        rc = kl_metrics_write_histogram(out, "controller_runtime_reconcile_time_seconds", l, 1,
                                        &m->ctrls[i]->reconcile_time);
    }
    struct {
        const char *name, *help;
        kl_metric_type_t type;
    } own[] = {
        {"kubelua_lua_seconds_total", "Time spent running policy Lua code", KL_METRIC_COUNTER},
        {"kubelua_lua_memory_bytes", "Bytes allocated by the policy's Lua state", KL_METRIC_GAUGE},
        {"kubelua_lua_errors_total", "Policy errors (raised, budget, memory)", KL_METRIC_COUNTER},
        {"kubelua_lua_budget_kills_total", "Reconciles stopped by the time budget",
         KL_METRIC_COUNTER},
        {"kubelua_lua_memory_kills_total", "Reconciles stopped by the memory ceiling",
         KL_METRIC_COUNTER},
        {"kubelua_policy_generation", "Policy generation (bumped by each reload)", KL_METRIC_GAUGE},
        {"kubelua_events_dropped_total",
         "Events not written because the controller's event queue was full", KL_METRIC_COUNTER},
    };
    for (size_t k = 0; rc == 0 && k < sizeof(own) / sizeof(own[0]); k++) {
        rc = kl_metrics_write_header(out, own[k].name, own[k].help, own[k].type);
        for (size_t i = 0; rc == 0 && i < m->n; i++) {
            const kl_controller_t *c = m->ctrls[i];
            double v = 0;
            switch (k) {
            case 0:
                v = (double)c->lua_ns / 1e9;
                break;
            case 1:
                v = (double)kl_script_mem_used(c->script);
                break;
            case 2:
                v = (double)c->lua_errors;
                break;
            case 3:
                v = (double)c->budget_kills;
                break;
            case 4:
                v = (double)c->memory_kills;
                break;
            case 6:
                v = (double)c->events_dropped;
                break;
            default:
                v = c->generation;
            }
            kl_label_t l[] = {{"controller", c->name}};
            rc = kl_metrics_write_sample(out, own[k].name, l, 1, v);
        }
    }
    return rc;
}
