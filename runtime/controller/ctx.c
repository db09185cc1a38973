/* The `ctx` a reconcile receives: cache reads, writes that suspend the coroutine until the
 * server answers, events, expectations, requeue, the clock and a logger.
 *
 *   ctx.key, ctx.namespace, ctx.name, ctx.now
 *   ctx:get(resource, ns, name) | ctx:get(resource, "ns/name")      -> object | nil
 *     (with a last argument {fresh=true}: read from the server, yielding; -> object | nil, err)
 *   ctx:list(resource, {namespace=, selector=, owner=, node=, fields=}) -> {objects}
 *   ctx:create(resource, obj [, {dry_run=, subresource=}])          -> object | nil, err
 *     (with a subresource, POSTs obj to resource/NAME/subresource, NAME being obj's
 *     metadata.name: ctx:create("v1/pods", binding, {subresource = "binding"}) binds a pod as
 *     client-go's Pods(ns).Bind does; the answer is what the server returns, a Status there)
 *   ctx:update(resource, obj) / ctx:update_status(resource, obj)    -> object | nil, err
 *   ctx:patch(resource, ns, name, patch [, {type=, subresource=, force=, field_manager=}])
 *   ctx:delete(resource, ns, name [, {propagation=, grace_period=, uid=, resource_version=}])
 *   ctx:event(obj, type, reason, message)
 *   ctx:expect_creations(n), ctx:expect_deletions(n), ctx:satisfied()
 *   ctx:requeue_after(seconds)
 *   ctx:enqueue(key [, after_seconds])  (another key of this controller)
 *   ctx.expectations: the controller's kube.Expectations (set/raise/lower/satisfied by key)
 *   ctx.log:info(...) (also debug, warn, error)
 * err is a table {code=, reason=, message=, not_found=, conflict=, already_exists=, invalid=}.
 */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/log.h"

#include "controller/controller_int.h"
#include "script/l_object.h"
#include "script/l_primitives.h"

#define CTX_MT "kubelua.Ctx"
#define ERR_MT "kubelua.Error"

typedef struct ctx_ud {
    reconcile_t *r; /* NULL once the reconcile is over */
} ctx_ud_t;

static ctx_ud_t *check_ctx(lua_State *L)
{
    ctx_ud_t *c = luaL_checkudata(L, 1, CTX_MT);
    if (c->r == NULL)
        luaL_error(L, "this ctx belongs to a reconcile that has finished");
    return c;
}

void kl_ctx_push(lua_State *L, reconcile_t *r)
{
    ctx_ud_t *c = lua_newuserdatauv(L, sizeof(*c), 0);
    c->r = NULL;
    luaL_setmetatable(L, CTX_MT);
    c->r = r;
    r->ctx = c;
}

void kl_ctx_kill(reconcile_t *r)
{
    if (r->ctx)
        r->ctx->r = NULL;
    r->ctx = NULL;
}

/* Resolves the resource at idx for controller ct. With a reconcile r and for_read, a cache
 * that has not synced raises (and marks r so it is retried quietly). */
static kl_rtype_t *resource_for(lua_State *L, kl_controller_t *ct, reconcile_t *r, int idx,
                                bool for_read)
{
    const char *spec = luaL_checkstring(L, idx);
    kl_rtype_t *res;
    kl_errinfo_t err;
    kl_backend_t *b = ct->m->o.backend;
    if (b->ops->resolve(b, spec, &res, &err) < 0)
        luaL_error(L, "%s", err.msg);
    /* A resource the policy did not declare gets its cache on first use; reading it before
     * it has synced would show an empty cluster, so the reconcile is retried a little later. */
    if (r && for_read && !b->ops->synced(b, res)) {
        r->unsynced = true;
        luaL_error(L, "the cache of %s has not synced yet", res->spec);
    }
    return res;
}

kl_rtype_t *kl_ctx_resource(lua_State *L, reconcile_t *r, int idx, bool for_read)
{
    return resource_for(L, r->c, r, idx, for_read);
}

/* Namespace and name from (ns, name) or a "ns/name" key at idx. */
static void ns_name(lua_State *L, int idx, const kl_rtype_t *res, const char **ns,
                    const char **name, char *buf, size_t cap)
{
    if (lua_gettop(L) >= idx + 1 && !lua_isnil(L, idx + 1)) {
        *ns = lua_isnil(L, idx) ? NULL : luaL_checkstring(L, idx);
        *name = luaL_checkstring(L, idx + 1);
        return;
    }
    const char *k = luaL_checkstring(L, idx);
    const char *slash = strchr(k, '/');
    if (slash && res->namespaced) {
        snprintf(buf, cap, "%.*s", (int)(slash - k), k);
        *ns = buf;
        *name = slash + 1;
    } else {
        *ns = NULL;
        *name = k;
    }
}

static int do_write(lua_State *L, ctx_ud_t *c, kl_write_t *w, kl_json_t *body);

static int push_cached(lua_State *L, kl_controller_t *ct, kl_rtype_t *res, const char *ns,
                       const char *name)
{
    kl_backend_t *b = ct->m->o.backend;
    const kl_obj_t *o = b->ops->get(b, res, res->namespaced ? ns : NULL, name);
    if (o == NULL)
        lua_pushnil(L);
    else
        kl_lua_push_doc(L, o);
    return 1;
}

/* ctx:get(resource, ns, name [, {fresh=true}]) -> object | nil [, err]   [-?, +1|2, e]
 * A fresh read asks the server (yielding) instead of the cache: what upstream controllers do
 * with an uncached client before acting on something the cache may not show yet. */
static int ctx_get(lua_State *L)
{
    ctx_ud_t *c = check_ctx(L);
    kl_controller_t *ct = c->r->c;
    bool fresh = false;
    int top = lua_gettop(L);
    if (top >= 4 && lua_istable(L, top)) {
        lua_getfield(L, top, "fresh");
        fresh = lua_toboolean(L, -1);
        lua_pop(L, 1);
        lua_settop(L, top - 1);
    }
    kl_rtype_t *res = kl_ctx_resource(L, c->r, 2, !fresh);
    const char *ns, *name;
    char buf[256];
    ns_name(L, 3, res, &ns, &name, buf, sizeof(buf));
    if (fresh) {
        kl_write_t w = {.op = KL_WRITE_GET,
                        .res = res,
                        .namespace = res->namespaced ? ns : NULL,
                        .name = name,
                        .grace_seconds = -1};
        return do_write(L, c, &w, NULL);
    }
    return push_cached(L, ct, res, ns, name);
}

typedef struct list_ud {
    lua_State *L;
    lua_Integer n;
} list_ud_t;

static bool list_push(const kl_obj_t *obj, void *ud)
{
    list_ud_t *l = ud;
    kl_lua_push_doc(l->L, obj);
    lua_rawseti(l->L, -2, ++l->n);
    return true;
}

/* A selector userdata from a table ({app = "x"} or a LabelSelector) or a string. */
static kl_selector_t *opt_selector(lua_State *L, int idx, kl_json_t **tmp)
{
    kl_selector_t *s = NULL;
    kl_errinfo_t err;
    if (lua_type(L, idx) == LUA_TSTRING) {
        if (kl_selector_parse(lua_tostring(L, idx), &s, &err) < 0)
            luaL_error(L, "bad selector: %s", err.msg);
        return s;
    }
    kl_val_t v = kl_lua_to_val(L, idx);
    if (!kl_val_missing(v)) {
        if (!kl_val_missing(kl_val_get(v, "matchLabels")) ||
            !kl_val_missing(kl_val_get(v, "matchExpressions"))) {
            if (kl_selector_from_val(v, false, &s, &err) < 0)
                luaL_error(L, "bad selector: %s", err.msg);
            return s;
        }
        kl_json_t *j = kl_json_from_val(v);
        *tmp = j;
    } else {
        *tmp = kl_lua_check_json(L, idx);
    }
    kl_json_t *j = *tmp;
    int rc;
    if (kl_json_get(j, "matchLabels") || kl_json_get(j, "matchExpressions"))
        rc = kl_selector_from_json(j, false, &s, &err);
    else {
        kl_json_t *wrap = kl_json_object();
        if (wrap == NULL || kl_json_set(wrap, "matchLabels", j) < 0) {
            kl_json_free(wrap);
            *tmp = NULL;
            luaL_error(L, "out of memory");
        }
        *tmp = wrap;
        rc = kl_selector_from_json(wrap, false, &s, &err);
    }
    if (rc < 0) {
        kl_json_free(*tmp);
        *tmp = NULL;
        luaL_error(L, "bad selector: %s", err.msg);
    }
    return s;
}

/* Lists cached objects of the resource at 2 with the options at 3.   [-?, +1, e] */
static int list_cached(lua_State *L, kl_controller_t *ct, kl_rtype_t *res)
{
    kl_cache_query_t q = {0};
    kl_selector_t *sel = NULL;
    kl_fieldsel_t *fs = NULL;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "namespace");
        q.namespace = lua_tostring(L, -1);
        lua_getfield(L, 3, "owner");
        q.owner_uid = lua_tostring(L, -1);
        lua_getfield(L, 3, "node");
        q.node_name = lua_tostring(L, -1);
        lua_getfield(L, 3, "selector");
        if (!lua_isnil(L, -1)) {
            kl_json_t *tmp = NULL;
            sel = opt_selector(L, lua_gettop(L), &tmp); /* raises before allocating */
            kl_json_free(tmp);
        }
        lua_getfield(L, 3, "fields");
        if (lua_type(L, -1) == LUA_TSTRING) {
            kl_errinfo_t err;
            if (kl_fieldsel_parse(lua_tostring(L, -1), &fs, &err) < 0) {
                kl_selector_free(sel);
                return luaL_error(L, "bad field selector: %s", err.msg);
            }
        }
        /* The strings stay on the stack while the query runs. */
    }
    q.labels = sel;
    q.fields = fs;
    if (!lua_checkstack(L, 4)) {
        kl_selector_free(sel);
        kl_fieldsel_free(fs);
        return luaL_error(L, "out of stack");
    }
    lua_newtable(L);
    list_ud_t l = {L, 0};
    kl_backend_t *b = ct->m->o.backend;
    b->ops->each(b, res, &q, list_push, &l);
    kl_selector_free(sel);
    kl_fieldsel_free(fs);
    return 1;
}

/* ctx:list(resource, opts) -> {objects}   [-?, +1, e] */
static int ctx_list(lua_State *L)
{
    ctx_ud_t *c = check_ctx(L);
    kl_rtype_t *res = kl_ctx_resource(L, c->r, 2, true);
    return list_cached(L, c->r->c, res);
}

/* ---- The cache of watch map functions ------------------------------------------------------
 * map(obj, old, change, cache): cache:get(resource, ns, name) and cache:list(resource, opts)
 * read the controller's caches like ctx:get/ctx:list, without yielding. */

#define CACHE_MT "kubelua.Cache"

typedef struct cache_ud {
    kl_controller_t *c;
} cache_ud_t;

static int cache_get(lua_State *L)
{
    cache_ud_t *u = luaL_checkudata(L, 1, CACHE_MT);
    kl_rtype_t *res = resource_for(L, u->c, NULL, 2, true);
    const char *ns, *name;
    char buf[256];
    ns_name(L, 3, res, &ns, &name, buf, sizeof(buf));
    return push_cached(L, u->c, res, ns, name);
}

static int cache_list(lua_State *L)
{
    cache_ud_t *u = luaL_checkudata(L, 1, CACHE_MT);
    kl_rtype_t *res = resource_for(L, u->c, NULL, 2, true);
    return list_cached(L, u->c, res);
}

void kl_cache_push(lua_State *L, kl_controller_t *c)
{
    cache_ud_t *u = lua_newuserdatauv(L, sizeof(*u), 0);
    u->c = c;
    if (luaL_newmetatable(L, CACHE_MT)) {
        static const luaL_Reg methods[] = {{"get", cache_get}, {"list", cache_list}, {NULL, NULL}};
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
}

/* ---- Writes ----------------------------------------------------------------------------- */

typedef struct pending {
    kl_invocation_t *inv;
    reconcile_t *r;
    int cancelled;
    int done;
    int rc;
    bool is_get; /* a fresh read: not found is nil, not an error */
    kl_obj_t *result;
    kl_write_status_t status;
} pending_t;

static void on_written(int rc, kl_obj_t *result, const kl_write_status_t *st, void *ud)
{
    pending_t *p = ud;
    if (p->cancelled) {
        kl_obj_unref(result);
        free(p);
        return;
    }
    p->done = 1;
    p->rc = rc;
    p->result = result;
    if (st)
        p->status = *st;
    if (kl_invocation_resume(p->inv, 0) < 0) {
        KL_ERROR("controller", "cannot resume a reconcile after a write");
    }
}

static void on_cancel(kl_invocation_t *inv, void *ud)
{
    pending_t *p = ud;
    p->cancelled = 1; /* freed when the write completes */
}

static void push_error(lua_State *L, int rc, const kl_write_status_t *st)
{
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, st->code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, st->reason[0] ? st->reason : kl_err_name(rc));
    lua_setfield(L, -2, "reason");
    lua_pushstring(L, st->message[0] ? st->message : kl_strerror(rc));
    lua_setfield(L, -2, "message");
    lua_pushboolean(L, st->code == 404 || rc == KL_ENOTFOUND);
    lua_setfield(L, -2, "not_found");
    lua_pushboolean(L, (st->code == 409 && strcmp(st->reason, "AlreadyExists") != 0) ||
                           rc == KL_ECONFLICT);
    lua_setfield(L, -2, "conflict");
    lua_pushboolean(L, strcmp(st->reason, "AlreadyExists") == 0 || rc == KL_EEXIST);
    lua_setfield(L, -2, "already_exists");
    lua_pushboolean(L, st->code == 422 || rc == KL_EINVALIDOBJ);
    lua_setfield(L, -2, "invalid");
    luaL_setmetatable(L, ERR_MT); /* tostring(err) gives the message */
}

static int err_tostring(lua_State *L)
{
    lua_getfield(L, 1, "message");
    return 1;
}

/* Continuation after a write: pushes (object) or (nil, err).   [-0, +1|2, m] */
static int write_k(lua_State *L, int status, lua_KContext kctx)
{
    pending_t *p = (pending_t *)kctx;
    int n;
    if (p->is_get && (p->rc == KL_ENOTFOUND || p->status.code == 404)) {
        lua_pushnil(L);
        n = 1;
    } else if (p->rc == 0) {
        if (p->result)
            kl_lua_push_doc(L, p->result);
        else
            lua_pushboolean(L, 1);
        n = 1;
    } else {
        lua_pushnil(L);
        push_error(L, p->rc, &p->status);
        n = 2;
    }
    kl_obj_unref(p->result);
    free(p);
    return n;
}

/* Starts w and suspends the coroutine until the answer. body (may be NULL) is freed here. */
static int do_write(lua_State *L, ctx_ud_t *c, kl_write_t *w, kl_json_t *body)
{
    kl_controller_t *ct = c->r->c;
    kl_manager_t *m = ct->m;
    kl_invocation_t *inv = kl_script_check_yield(L); /* raises before anything is started */
    pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        kl_json_free(body);
        return luaL_error(L, "out of memory");
    }
    p->inv = inv;
    p->r = c->r;
    p->is_get = w->op == KL_WRITE_GET;
    w->body = body;
    w->dry_run = w->dry_run || m->o.dry_run;
    if (w->field_manager == NULL)
        w->field_manager = m->field_manager;
    if (m->o.dry_run && w->op != KL_WRITE_GET)
        KL_INFO(ct->name, "dry-run %s %s %s/%s",
                w->op == KL_WRITE_CREATE   ? "create"
                : w->op == KL_WRITE_UPDATE ? "update"
                : w->op == KL_WRITE_PATCH  ? "patch"
                                           : "delete",
                w->res->spec, w->namespace ? w->namespace : "", w->name ? w->name : "");
    kl_errinfo_t err;
    kl_backend_t *b = m->o.backend;
    int rc = b->ops->write(b, w, on_written, p, &err);
    kl_json_free(body);
    if (w->op != KL_WRITE_GET)
        m->writes++;
    if (rc < 0) {
        free(p);
        m->write_errors++;
        kl_write_status_t st = {0};
        snprintf(st.message, sizeof(st.message), "%s", err.msg);
        lua_pushnil(L);
        push_error(L, rc, &st);
        return 2;
    }
    return kl_script_yield(L, on_cancel, p, write_k, (lua_KContext)p);
}

/* Reads the object's namespace/name for update-like writes. */
static void obj_ns_name(kl_json_t *j, const kl_rtype_t *res, const char **ns, const char **name)
{
    *ns = res->namespaced ? kl_json_path_str(j, "metadata", "namespace", NULL) : NULL;
    *name = kl_json_path_str(j, "metadata", "name", NULL);
}

static bool opt_bool(lua_State *L, int idx, const char *key)
{
    if (!lua_istable(L, idx))
        return false;
    lua_getfield(L, idx, key);
    bool b = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return b;
}

/* ctx:create(resource, obj [, opts]) -> object | nil, err   [-?, +1|2, e] */
static int ctx_create(lua_State *L)
{
    ctx_ud_t *c = check_ctx(L);
    kl_rtype_t *res = kl_ctx_resource(L, c->r, 2, false);
    luaL_checkany(L, 3);
    kl_write_t w = {.op = KL_WRITE_CREATE, .res = res, .grace_seconds = -1};
    w.dry_run = opt_bool(L, 4, "dry_run");
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "subresource"); /* stays on the stack while the write starts */
        w.subresource = lua_tostring(L, -1);
    }
    kl_script_check_yield(L);
    kl_json_t *body = kl_lua_check_json(L, 3);
    const char *ns = kl_json_path_str(body, "metadata", "namespace", NULL);
    if (res->namespaced)
        w.namespace = ns ? ns : c->r->ns;
    if (w.subresource) {
        /* POST resource/NAME/subresource: the parent object is the body's metadata.name. */
        w.name = kl_json_path_str(body, "metadata", "name", NULL);
        if (w.name == NULL) {
            kl_json_free(body);
            return luaL_error(L, "a create on the %s subresource needs metadata.name",
                              w.subresource);
        }
    }
    return do_write(L, c, &w, body);
}

static int update_common(lua_State *L, const char *sub)
{
    ctx_ud_t *c = check_ctx(L);
    kl_rtype_t *res = kl_ctx_resource(L, c->r, 2, false);
    luaL_checkany(L, 3);
    kl_write_t w = {.op = KL_WRITE_UPDATE, .res = res, .subresource = sub, .grace_seconds = -1};
    w.dry_run = opt_bool(L, 4, "dry_run");
    kl_script_check_yield(L);
    kl_json_t *body = kl_lua_check_json(L, 3);
    obj_ns_name(body, res, &w.namespace, &w.name);
    if (w.name == NULL) {
        kl_json_free(body);
        return luaL_error(L, "the object has no metadata.name");
    }
    return do_write(L, c, &w, body);
}

static int ctx_update(lua_State *L)
{
    return update_common(L, NULL);
}

static int ctx_update_status(lua_State *L)
{
    return update_common(L, "status");
}

/* ctx:patch(resource, ns, name, patch [, opts]) -> object | nil, err   [-?, +1|2, e] */
static int ctx_patch(lua_State *L)
{
    ctx_ud_t *c = check_ctx(L);
    kl_rtype_t *res = kl_ctx_resource(L, c->r, 2, false);
    const char *ns = lua_isnil(L, 3) ? NULL : luaL_checkstring(L, 3);
    const char *name = luaL_checkstring(L, 4);
    luaL_checkany(L, 5);
    kl_write_t w = {.op = KL_WRITE_PATCH,
                    .res = res,
                    .namespace = res->namespaced ? ns : NULL,
                    .name = name,
                    .patch_type = "merge",
                    .grace_seconds = -1};
    if (lua_istable(L, 6)) {
        lua_getfield(L, 6, "type");
        if (lua_isstring(L, -1)) {
            const char *t = lua_tostring(L, -1);
            if (strcmp(t, "merge") && strcmp(t, "json") && strcmp(t, "strategic") &&
                strcmp(t, "apply"))
                return luaL_error(L, "patch type must be merge, json, strategic or apply");
            w.patch_type = t;
        }
        lua_getfield(L, 6, "subresource");
        w.subresource = lua_tostring(L, -1);
        lua_getfield(L, 6, "field_manager");
        w.field_manager = lua_tostring(L, -1);
        w.force = opt_bool(L, 6, "force");
        w.dry_run = opt_bool(L, 6, "dry_run");
    }
    kl_script_check_yield(L);
    kl_json_t *body = kl_lua_check_json(L, 5);
    return do_write(L, c, &w, body);
}

/* ctx:delete(resource, ns, name [, opts]) or ctx:delete(resource, obj [, opts]) */
static int ctx_delete(lua_State *L)
{
    ctx_ud_t *c = check_ctx(L);
    kl_rtype_t *res = kl_ctx_resource(L, c->r, 2, false);
    kl_write_t w = {.op = KL_WRITE_DELETE, .res = res, .grace_seconds = -1};
    int opts;
    kl_val_t obj = kl_lua_to_val(L, 3);
    if (!kl_val_missing(obj)) {
        w.namespace = res->namespaced ? kl_val_path_str(obj, "metadata", "namespace", NULL) : NULL;
        w.name = kl_val_path_str(obj, "metadata", "name", NULL);
        w.pre_uid = kl_val_path_str(obj, "metadata", "uid", NULL);
        opts = 4;
    } else {
        w.namespace = lua_isnil(L, 3) || !res->namespaced ? NULL : luaL_checkstring(L, 3);
        w.name = luaL_checkstring(L, 4);
        opts = 5;
    }
    if (w.name == NULL)
        return luaL_error(L, "delete needs a name");
    if (lua_istable(L, opts)) {
        lua_getfield(L, opts, "propagation");
        w.propagation = lua_tostring(L, -1);
        lua_getfield(L, opts, "grace_period");
        if (lua_isinteger(L, -1))
            w.grace_seconds = lua_tointeger(L, -1);
        lua_getfield(L, opts, "uid");
        if (lua_isstring(L, -1))
            w.pre_uid = lua_tostring(L, -1);
        lua_getfield(L, opts, "resource_version");
        w.pre_resource_version = lua_tostring(L, -1);
        w.dry_run = opt_bool(L, opts, "dry_run");
    }
    return do_write(L, c, &w, NULL);
}

/* ---- Events, expectations, requeue, log -------------------------------------------------- */

/* ctx:event(obj, type, reason, message)   [-4, +0, e] */
static int ctx_event(lua_State *L)
{
    ctx_ud_t *c = check_ctx(L);
    kl_val_t v = kl_lua_to_val(L, 2);
    const char *type = luaL_checkstring(L, 3);
    const char *reason = luaL_checkstring(L, 4);
    const char *message = luaL_optstring(L, 5, "");
    if (strcmp(type, "Normal") != 0 && strcmp(type, "Warning") != 0)
        return luaL_error(L, "event type must be \"Normal\" or \"Warning\"");
    kl_obj_t *tmp = NULL;
    const kl_obj_t *obj = v.doc;
    if (obj == NULL) {
        kl_json_t *j = kl_lua_check_json(L, 2);
        int rc = kl_obj_from_json(j, &tmp);
        kl_json_free(j);
        if (rc < 0)
            return luaL_error(L, "out of memory");
        obj = tmp;
    }
    kl_event_record(c->r->c->m, c->r->c, obj, type, reason, message);
    kl_obj_unref(tmp);
    return 0;
}

static const char *key_arg(lua_State *L, ctx_ud_t *c, int idx)
{
    return lua_isnoneornil(L, idx) ? c->r->key : luaL_checkstring(L, idx);
}

/* ctx:expect_creations(n [, key])   [-?, +0, e] */
static int ctx_expect_creations(lua_State *L)
{
    ctx_ud_t *c = check_ctx(L);
    if (kl_expectations_set(c->r->c->exp, key_arg(L, c, 3), luaL_checkinteger(L, 2), 0) < 0)
        return luaL_error(L, "out of memory");
    return 0;
}

/* ctx:expect_deletions(n | {pod objects or "ns/name" keys} [, key])   [-?, +0, e] */
static int ctx_expect_deletions(lua_State *L)
{
    ctx_ud_t *c = check_ctx(L);
    const char *key = key_arg(L, c, 3);
    if (!lua_istable(L, 2)) {
        if (kl_expectations_set(c->r->c->exp, key, 0, luaL_checkinteger(L, 2)) < 0)
            return luaL_error(L, "out of memory");
        return 0;
    }
    lua_Integer n = luaL_len(L, 2);
    if (n > 100000)
        return luaL_error(L, "too many deletions");
    const char **keys = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n ? n : 1), 0);
    char(*bufs)[600] = lua_newuserdatauv(L, 600 * (size_t)(n ? n : 1), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        kl_val_t v = kl_lua_to_val(L, -1);
        if (!kl_val_missing(v)) {
            const char *pns = kl_val_path_str(v, "metadata", "namespace", NULL);
            const char *pn = kl_val_path_str(v, "metadata", "name", NULL);
            snprintf(bufs[i - 1], 600, "%s%s%s", pns ? pns : "", pns ? "/" : "", pn ? pn : "");
        } else {
            snprintf(bufs[i - 1], 600, "%s", luaL_checkstring(L, -1));
        }
        keys[i - 1] = bufs[i - 1];
        lua_pop(L, 1);
    }
    if (kl_expectations_set_keys(c->r->c->exp, key, 0, keys, (size_t)n) < 0)
        return luaL_error(L, "out of memory");
    return 0;
}

static int ctx_satisfied(lua_State *L)
{
    ctx_ud_t *c = check_ctx(L);
    lua_pushboolean(L, kl_expectations_satisfied(c->r->c->exp, key_arg(L, c, 2)));
    return 1;
}

/* ctx:enqueue(key [, after_seconds]): queues another key of this controller (now, or after a
 * delay), e.g. the primary objects a periodic pass found work for.   [-0, +0, e] */
static int ctx_enqueue(lua_State *L)
{
    ctx_ud_t *c = check_ctx(L);
    size_t len;
    const char *key = luaL_checklstring(L, 2, &len);
    luaL_argcheck(L, len > 0 && len < 512, 2, "a key is \"namespace/name\" or \"name\"");
    lua_Number after = luaL_optnumber(L, 3, 0);
    luaL_argcheck(L, after >= 0 && after < 1e9, 3, "seconds out of range");
    kl_controller_t *ct = c->r->c;
    if (ct->stopping)
        return 0;
    int rc = after > 0 ? kl_queue_add_after(ct->queue, key, after) : kl_queue_add(ct->queue, key);
    if (rc < 0)
        return luaL_error(L, "cannot queue %s: %s", key, kl_strerror(rc));
    return 0;
}

static int ctx_requeue_after(lua_State *L)
{
    ctx_ud_t *c = check_ctx(L);
    double s = luaL_checknumber(L, 2);
    if (c->r->requeue_after <= 0 || s < c->r->requeue_after)
        c->r->requeue_after = s;
    return 0;
}

static int log_at(lua_State *L, kl_log_level_t level)
{
    /* ctx.log:info(...): upvalue 1 is the ctx. */
    ctx_ud_t *c = lua_touserdata(L, lua_upvalueindex(1));
    if (!kl_log_enabled(level))
        return 0;
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 2; i <= n; i++) {
        if (i > 2)
            luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    const char *who = c && c->r ? c->r->c->name : "controller";
    kl_log(level, who, "%s key=%s", lua_tostring(L, -1), c && c->r ? c->r->key : "?");
    return 0;
}

static int log_debug(lua_State *L)
{
    return log_at(L, KL_LOG_DEBUG);
}

static int log_info(lua_State *L)
{
    return log_at(L, KL_LOG_INFO);
}

static int log_warn(lua_State *L)
{
    return log_at(L, KL_LOG_WARN);
}

static int log_error(lua_State *L)
{
    return log_at(L, KL_LOG_ERROR);
}

static const luaL_Reg methods[] = {
    {"get", ctx_get},
    {"list", ctx_list},
    {"create", ctx_create},
    {"update", ctx_update},
    {"update_status", ctx_update_status},
    {"patch", ctx_patch},
    {"delete", ctx_delete},
    {"event", ctx_event},
    {"expect_creations", ctx_expect_creations},
    {"expect_deletions", ctx_expect_deletions},
    {"satisfied", ctx_satisfied},
    {"requeue_after", ctx_requeue_after},
    {"enqueue", ctx_enqueue},
    {NULL, NULL},
};

/* __index(ctx, k): fields first, then methods (upvalue 1).   [-0, +1, m] */
static int ctx_index(lua_State *L)
{
    ctx_ud_t *c = luaL_checkudata(L, 1, CTX_MT);
    const char *k = lua_tostring(L, 2);
    if (k && c->r) {
        if (strcmp(k, "key") == 0) {
            lua_pushstring(L, c->r->key);
            return 1;
        }
        if (strcmp(k, "namespace") == 0) {
            if (c->r->ns)
                lua_pushstring(L, c->r->ns);
            else
                lua_pushnil(L);
            return 1;
        }
        if (strcmp(k, "name") == 0) {
            lua_pushstring(L, c->r->name);
            return 1;
        }
        if (strcmp(k, "now") == 0) {
            kl_backend_t *b = c->r->c->m->o.backend;
            lua_pushnumber(L, b->ops->now(b));
            return 1;
        }
        if (strcmp(k, "expectations") == 0) {
            /* The controller's shared record (observed from informer events), for policies
             * that need more than expect_creations/expect_deletions: set, raise, lower. */
            kl_lua_push_expectations(L, c->r->c->exp);
            return 1;
        }
        if (strcmp(k, "controller") == 0) {
            lua_pushstring(L, c->r->c->name);
            return 1;
        }
        if (strcmp(k, "log") == 0) {
            static const luaL_Reg lf[] = {{"debug", log_debug},
                                          {"info", log_info},
                                          {"warn", log_warn},
                                          {"error", log_error},
                                          {NULL, NULL}};
            lua_createtable(L, 0, 4);
            lua_pushvalue(L, 1);
            luaL_setfuncs(L, lf, 1);
            return 1;
        }
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

static int ctx_newindex(lua_State *L)
{
    return luaL_error(L, "ctx is read-only; use ctx:requeue_after() to ask for a requeue");
}

/* The userdata may be collected before its reconcile ends (the coroutine holding it is gone
 * once the reconcile fails, and a collection can run before the done callback): forget it on
 * both sides, whichever goes first. */
static int ctx_gc(lua_State *L)
{
    ctx_ud_t *c = luaL_checkudata(L, 1, CTX_MT);
    if (c->r && c->r->ctx == c)
        c->r->ctx = NULL;
    c->r = NULL;
    return 0;
}

static int ctx_tostring(lua_State *L)
{
    ctx_ud_t *c = luaL_checkudata(L, 1, CTX_MT);
    lua_pushfstring(L, "ctx(%s)", c->r ? c->r->key : "finished");
    return 1;
}

void kl_ctx_register(lua_State *L)
{
    if (luaL_newmetatable(L, ERR_MT)) {
        lua_pushcfunction(L, err_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    if (!luaL_newmetatable(L, CTX_MT)) {
        lua_pop(L, 1);
        return;
    }
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_pushcclosure(L, ctx_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ctx_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, ctx_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, ctx_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}
