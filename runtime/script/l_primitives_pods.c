/* kube.pods: pods from templates, classification and ranking. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <string.h>

#include "kubelua/ktime.h"
#include "kubelua/pods.h"

#include "script/l_object.h"
#include "script/l_primitives_int.h"

#define TREEBOX_MT "kubelua.TreeBox"

/* A mutable tree owned by a userdata, freed when collected. */
typedef struct treebox {
    kl_json_t *j;
} treebox_t;

static int treebox_gc(lua_State *L)
{
    treebox_t *b = lua_touserdata(L, 1);
    kl_json_free(b->j);
    b->j = NULL;
    return 0;
}

static treebox_t *new_treebox(lua_State *L)
{
    treebox_t *b = lua_newuserdatauv(L, sizeof(*b), 0);
    b->j = NULL;
    if (luaL_newmetatable(L, TREEBOX_MT)) {
        lua_pushcfunction(L, treebox_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

/* [-0, +1, e] The value at idx as a tree in a box (pushed); NULL for nil. */
static const kl_json_t *tree_arg(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    treebox_t *b = new_treebox(L);
    if (lua_isnoneornil(L, idx))
        return NULL;
    kl_val_t v = kl_lua_to_val(L, idx);
    if (!kl_val_missing(v)) {
        b->j = kl_json_from_val(v);
        if (b->j == NULL)
            luaL_error(L, "out of memory");
    } else {
        b->j = kl_lua_check_json(L, idx);
    }
    return b->j;
}

/* [-0, +1, e] opts[key] as a string left on the stack, or NULL (nil pushed) when absent. */
static const char *opt_string(lua_State *L, int opts, const char *key)
{
    if (opts == 0) {
        lua_pushnil(L);
        return NULL;
    }
    int t = lua_getfield(L, opts, key);
    if (t == LUA_TNIL)
        return NULL;
    if (t != LUA_TSTRING)
        luaL_error(L, "kube.pods.from_template: option '%s' must be a string", key);
    return lua_tostring(L, -1);
}

/* kube.pods.from_template(template, owner [, opts]) -> pod (table) | nil, err
 * [-3, +1|2, e] */
static int l_pods_from_template(lua_State *L)
{
    luaL_checkany(L, 1);
    luaL_checkany(L, 2);
    int opts = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        opts = 3;
    }
    lua_settop(L, 3);
    luaL_checkstack(L, 40, "kube.pods.from_template");
    const kl_json_t *tmpl = tree_arg(L, 1);
    kl_val_t owner = kl__lua_val(L, 2);
    kl_pod_template_opts_t o = {0};
    o.owner_api_version = opt_string(L, opts, "api_version");
    if (o.owner_api_version == NULL)
        o.owner_api_version = kl_val_path_str(owner, "apiVersion", NULL);
    o.owner_kind = opt_string(L, opts, "kind");
    if (o.owner_kind == NULL)
        o.owner_kind = kl_val_path_str(owner, "kind", NULL);
    o.owner_name = kl_val_path_str(owner, "metadata", "name", NULL);
    o.owner_uid = kl_val_path_str(owner, "metadata", "uid", NULL);
    o.namespace = opt_string(L, opts, "namespace");
    if (o.namespace == NULL)
        o.namespace = kl_val_path_str(owner, "metadata", "namespace", NULL);
    o.generate_name = opt_string(L, opts, "generate_name");
    o.name = opt_string(L, opts, "name");
    o.node_name = opt_string(L, opts, "node_name");
    o.pin_node = opt_string(L, opts, "pin_node");
    if (opts) {
        lua_getfield(L, opts, "labels");
        o.labels = tree_arg(L, -1);
        lua_getfield(L, opts, "annotations");
        o.annotations = tree_arg(L, -1);
        lua_getfield(L, opts, "tolerations");
        o.tolerations = tree_arg(L, -1);
        lua_getfield(L, opts, "allow_no_labels");
        o.allow_no_labels = lua_toboolean(L, -1);
        if (lua_getfield(L, opts, "finalizers") != LUA_TNIL) {
            int fin = lua_gettop(L);
            luaL_checktype(L, fin, LUA_TTABLE);
            lua_Integer n = luaL_len(L, fin);
            if (n < 0 || n > 1000)
                return luaL_error(L, "kube.pods.from_template: too many finalizers");
            const char **list = lua_newuserdatauv(L, ((size_t)n + 1) * sizeof(char *), 0);
            for (lua_Integer i = 1; i <= n; i++) {
                if (lua_geti(L, fin, i) != LUA_TSTRING)
                    return luaL_error(L, "kube.pods.from_template: finalizers must be strings");
                list[i - 1] = lua_tostring(L, -1);
                lua_pop(L, 1); /* still referenced by the finalizers table */
            }
            list[n] = NULL;
            o.finalizers = list;
        }
    }
    if (tmpl == NULL)
        return luaL_argerror(L, 1, "template expected");
    treebox_t *out = new_treebox(L);
    kl_errinfo_t err;
    int rc = kl_pod_from_template(tmpl, &o, &out->j, &err);
    if (rc == KL_ENOMEM)
        return luaL_error(L, "out of memory");
    if (rc < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    kl_lua_push_json(L, out->j);
    return 1;
}

/* kube.pods.target_node(pod) -> node name | nil   [-1, +1, e] */
static int l_pods_target_node(lua_State *L)
{
    const char *n = kl_pod_target_node(kl__lua_val(L, 1));
    if (n)
        lua_pushstring(L, n);
    else
        lua_pushnil(L);
    return 1;
}

typedef bool (*pod_pred_t)(kl_val_t);

static int pred(lua_State *L, pod_pred_t f)
{
    lua_pushboolean(L, f(kl__lua_val(L, 1)));
    return 1;
}

static int l_pods_is_active(lua_State *L)
{
    return pred(L, kl_pod_is_active);
}

static int l_pods_is_terminating(lua_State *L)
{
    return pred(L, kl_pod_is_terminating);
}

static int l_pods_is_terminal(lua_State *L)
{
    return pred(L, kl_pod_is_terminal);
}

static int l_pods_is_deleted(lua_State *L)
{
    return pred(L, kl_pod_is_deleted);
}

static int l_pods_is_ready(lua_State *L)
{
    return pred(L, kl_pod_is_ready);
}

/* A now argument in seconds (float allowed) as milliseconds; the clock when absent. */
static int64_t opt_now_ms(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return kl_time_now_ms();
    lua_Number n = luaL_checknumber(L, idx);
    if (!(n >= -9.2e15 && n <= 9.2e15))
        luaL_argerror(L, idx, "time out of range");
    return (int64_t)floor(n * 1000.0);
}

/* kube.pods.is_available(pod [, min_ready_seconds [, now]]) -> boolean   [-3, +1, e] */
static int l_pods_is_available(lua_State *L)
{
    lua_Integer min = luaL_optinteger(L, 2, 0);
    int64_t now = opt_now_ms(L, 3);
    lua_pushboolean(L, kl_pod_is_available(kl__lua_val(L, 1), (int64_t)min, now));
    return 1;
}

/* kube.pods.class(pod) -> "active" | "terminating" | "succeeded" | "failed"   [-1, +1, e] */
static int l_pods_class(lua_State *L)
{
    lua_pushstring(L, kl_pod_class_name(kl_pod_classify(kl__lua_val(L, 1))));
    return 1;
}

/* kube.pods.phase(pod) -> string | nil   [-1, +1, e] */
static int l_pods_phase(lua_State *L)
{
    const char *p = kl_val_path_str(kl__lua_val(L, 1), "status", "phase", NULL);
    if (p)
        lua_pushstring(L, p);
    else
        lua_pushnil(L);
    return 1;
}

/* kube.pods.max_restarts(pod) -> integer   [-1, +1, e] */
static int l_pods_max_restarts(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)kl_pod_max_restarts(kl__lua_val(L, 1)));
    return 1;
}

/* kube.pods.exit_codes(pod) -> {{name, exit_code, init}, ...}   [-1, +1, e] */
static int l_pods_exit_codes(lua_State *L)
{
    kl_val_t pod = kl__lua_val(L, 1);
    size_t n = kl_pod_exit_codes(pod, NULL, 0);
    kl_pod_exit_t *ex = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*ex), 0);
    kl_pod_exit_codes(pod, ex, n);
    kl__lua_new_array(L, (int)n);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, ex[i].container);
        lua_setfield(L, -2, "name");
        lua_pushinteger(L, (lua_Integer)ex[i].exit_code);
        lua_setfield(L, -2, "exit_code");
        lua_pushboolean(L, ex[i].init);
        lua_setfield(L, -2, "init");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* [-0, +1, e] Pushes element i (0-based) of the list argument at idx as given: the table's own
 * element, or a proxy of an array proxy's element. */
static void push_element(lua_State *L, int idx, const kl_val_t *vals, size_t i)
{
    if (lua_istable(L, idx))
        lua_geti(L, idx, (lua_Integer)i + 1);
    else
        kl_lua_push_val(L, vals[i]);
}

/* kube.pods.classify(pods [, {min_ready_seconds, now}]) -> {active = {...}, terminating = {...},
 * succeeded = {...}, failed = {...}, ready = n, available = n}   [-2, +1, e] */
static int l_pods_classify(lua_State *L)
{
    lua_Integer min = 0;
    int64_t now = 0;
    bool want_now = false;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "min_ready_seconds");
        min = luaL_optinteger(L, -1, 0);
        lua_getfield(L, 2, "now");
        want_now = !lua_isnil(L, -1);
        if (want_now)
            now = opt_now_ms(L, lua_gettop(L));
        lua_pop(L, 2);
    }
    if (!want_now)
        now = kl_time_now_ms();
    lua_settop(L, 1);
    size_t n;
    kl_val_t *vals = kl__lua_list(L, 1, &n);
    static const char *const names[] = {"active", "terminating", "succeeded", "failed"};
    lua_createtable(L, 0, 6);
    int res = lua_gettop(L);
    for (int c = 0; c < 4; c++) {
        kl__lua_new_array(L, 0);
        lua_setfield(L, res, names[c]);
    }
    lua_Integer count[4] = {0}, ready = 0, available = 0;
    for (size_t i = 0; i < n; i++) {
        kl_pod_class_t c = kl_pod_classify(vals[i]);
        lua_getfield(L, res, names[c]);
        push_element(L, 1, vals, i);
        lua_rawseti(L, -2, ++count[c]);
        lua_pop(L, 1);
        if (c == KL_POD_CLASS_ACTIVE && kl_pod_is_ready(vals[i])) {
            ready++;
            if (kl_pod_is_available(vals[i], (int64_t)min, now))
                available++;
        }
    }
    lua_pushinteger(L, ready);
    lua_setfield(L, res, "ready");
    lua_pushinteger(L, available);
    lua_setfield(L, res, "available");
    return 1;
}

/* kube.pods.rank(pods) -> a new list, the pods to delete first first   [-1, +1, e] */
static int l_pods_rank(lua_State *L)
{
    lua_settop(L, 1);
    size_t n;
    kl_val_t *vals = kl__lua_list(L, 1, &n);
    size_t *order = lua_newuserdatauv(L, (n ? n : 1) * sizeof(*order), 0);
    if (kl_pods_rank(vals, n, order) < 0)
        return luaL_error(L, "out of memory");
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        push_element(L, 1, vals, order[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* kube.pods.compare(a, b) -> -1 | 0 | 1: -1 when a is deleted before b   [-2, +1, e] */
static int l_pods_compare(lua_State *L)
{
    kl_val_t a = kl__lua_val(L, 1);
    kl_val_t b = kl__lua_val(L, 2);
    int c = kl_pods_compare_active(a, b);
    lua_pushinteger(L, c < 0 ? -1 : c > 0 ? 1 : 0);
    return 1;
}

void kl__lua_pods_register(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"from_template", l_pods_from_template},
        {"target_node", l_pods_target_node},
        {"phase", l_pods_phase},
        {"class", l_pods_class},
        {"is_active", l_pods_is_active},
        {"is_terminating", l_pods_is_terminating},
        {"is_terminal", l_pods_is_terminal},
        {"is_deleted", l_pods_is_deleted},
        {"is_ready", l_pods_is_ready},
        {"is_available", l_pods_is_available},
        {"max_restarts", l_pods_max_restarts},
        {"exit_codes", l_pods_exit_codes},
        {"classify", l_pods_classify},
        {"rank", l_pods_rank},
        {"compare", l_pods_compare},
        {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    lua_getfield(L, -2, "condition");
    lua_setfield(L, -2, "condition");
    lua_setfield(L, -2, "pods");
}
