/* kube.nodes: node eligibility, taints and tolerations, the DaemonSet predicate and resource
 * fit. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "kubelua/nodes.h"

#include "script/l_object.h"
#include "script/l_primitives_int.h"

/* Taints of a node, or the list itself when given a list. */
static kl_val_t taints_of(kl_val_t v)
{
    if (kl_val_type(v) == KL_TARRAY)
        return v;
    return kl_val_path(v, "spec", "taints", NULL);
}

/* Tolerations of a pod, template or workload, or the list itself. */
static kl_val_t tolerations_of(kl_val_t v)
{
    if (kl_val_type(v) == KL_TARRAY)
        return v;
    return kl_val_get(kl__pod_spec_of(v), "tolerations");
}

/* kube.nodes.is_ready(node) -> boolean   [-1, +1, e] */
static int l_nodes_is_ready(lua_State *L)
{
    lua_pushboolean(L, kl_node_is_ready(kl__lua_val(L, 1)));
    return 1;
}

/* kube.nodes.is_unschedulable(node) -> boolean   [-1, +1, e] */
static int l_nodes_is_unschedulable(lua_State *L)
{
    lua_pushboolean(L, kl_node_is_unschedulable(kl__lua_val(L, 1)));
    return 1;
}

/* Pushes the result of an affinity match: true | false [, parse error].   [-0, +1|2, e] */
static int push_match(lua_State *L, int rc, const kl_errinfo_t *err)
{
    if (rc < 0)
        return luaL_error(L, "%s", kl_strerror(rc));
    lua_pushboolean(L, rc == 1);
    if (err->code == 0)
        return 1;
    lua_pushstring(L, err->msg);
    return 2;
}

/* kube.nodes.matches_affinity(node, pod) -> boolean [, err]: nodeSelector and required node
 * affinity of a pod, template, workload or pod spec.   [-2, +1|2, e] */
static int l_nodes_matches_affinity(lua_State *L)
{
    kl_val_t node = kl__lua_val(L, 1);
    kl_val_t pod = kl__lua_val(L, 2);
    kl_errinfo_t err = {0};
    return push_match(L, kl_node_affinity_match(kl__pod_spec_of(pod), node, &err), &err);
}

/* kube.nodes.matches_selector_terms(node, node_selector) -> boolean [, err]   [-2, +1|2, e] */
static int l_nodes_matches_selector_terms(lua_State *L)
{
    kl_val_t node = kl__lua_val(L, 1);
    kl_val_t sel = kl__lua_val(L, 2);
    kl_errinfo_t err = {0};
    return push_match(L, kl_node_selector_match(sel, node, &err), &err);
}

/* kube.nodes.tolerates(toleration, taint) -> boolean   [-2, +1, e] */
static int l_nodes_tolerates(lua_State *L)
{
    kl_val_t tv = kl__lua_val(L, 1), taintv = kl__lua_val(L, 2);
    kl_toleration_t t;
    kl_taint_t taint;
    kl_toleration_from_val(tv, &t);
    kl_taint_from_val(taintv, &taint);
    lua_pushboolean(L, kl_toleration_tolerates(&t, &taint));
    return 1;
}

/* An effects argument: nil (NoSchedule and NoExecute), a string, or a list of strings. */
static unsigned opt_effects(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return KL_EFFECT_NO_SCHEDULE | KL_EFFECT_NO_EXECUTE;
    if (lua_type(L, idx) == LUA_TSTRING) {
        unsigned bit = kl_taint_effect_bit(lua_tostring(L, idx));
        if (bit == 0)
            luaL_argerror(L, idx, "unknown taint effect");
        return bit;
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    unsigned mask = 0;
    lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        unsigned bit =
            lua_type(L, -1) == LUA_TSTRING ? kl_taint_effect_bit(lua_tostring(L, -1)) : 0;
        if (bit == 0)
            luaL_argerror(L, idx, "unknown taint effect");
        mask |= bit;
        lua_pop(L, 1);
    }
    return mask;
}

/* kube.nodes.untolerated_taint(node_or_taints, pod_or_tolerations [, effects]) -> taint, index
 * | nil   [-3, +1|2, e] */
static int l_nodes_untolerated_taint(lua_State *L)
{
    unsigned effects = opt_effects(L, 3);
    kl_val_t taints = taints_of(kl__lua_val(L, 1));
    kl_val_t tols = tolerations_of(kl__lua_val(L, 2));
    int i = kl_taints_find_untolerated(taints, tols, NULL, 0, effects);
    if (i < 0) {
        lua_pushnil(L);
        return 1;
    }
    kl_lua_push_val(L, kl_val_at(taints, (uint32_t)i));
    lua_pushinteger(L, i + 1);
    return 2;
}

/* kube.nodes.noexecute_toleration(node_or_taints, pod_or_tolerations) -> tolerated [, seconds]:
 * false when a NoExecute taint is not tolerated; true alone when tolerated forever; true and
 * the seconds left to stay otherwise.   [-2, +1|2, e] */
static int l_nodes_noexecute_toleration(lua_State *L)
{
    kl_val_t taints = taints_of(kl__lua_val(L, 1));
    kl_val_t tols = tolerations_of(kl__lua_val(L, 2));
    int64_t s = kl_taints_noexecute_seconds(taints, tols);
    lua_pushboolean(L, s != KL_TOLERATE_NOT);
    if (s < 0)
        return 1;
    lua_pushinteger(L, (lua_Integer)s);
    return 2;
}

/* kube.nodes.should_run_daemon_pod(node, ds) -> should_run, should_continue_running, reason,
 * taint: ds may be the DaemonSet, its template or the template's spec.   [-2, +2|4, e] */
static int l_nodes_should_run_daemon_pod(lua_State *L)
{
    kl_val_t node = kl__lua_val(L, 1);
    kl_val_t spec = kl__pod_spec_of(kl__lua_val(L, 2));
    kl_daemon_placement_t p;
    if (kl_node_should_run_daemon_pod(node, spec, &p) < 0)
        return luaL_error(L, "out of memory");
    lua_pushboolean(L, p.should_run);
    lua_pushboolean(L, p.should_continue_running);
    if (p.reason == NULL)
        return 2;
    lua_pushstring(L, p.reason);
    if (p.taint < 0)
        return 3;
    kl_lua_push_val(L, kl_val_at(kl_val_path(node, "spec", "taints", NULL), (uint32_t)p.taint));
    return 4;
}

/* kube.nodes.daemonset_tolerations(host_network | ds) -> list of tolerations (tables)
 * [-1, +1, e] */
static int l_nodes_daemonset_tolerations(lua_State *L)
{
    bool host_network;
    if (lua_isboolean(L, 1) || lua_isnoneornil(L, 1))
        host_network = lua_toboolean(L, 1);
    else
        host_network =
            kl_val_type(kl_val_get(kl__pod_spec_of(kl__lua_val(L, 1)), "hostNetwork")) == KL_TTRUE;
    const kl_toleration_t *t;
    size_t n = kl_daemonset_tolerations(host_network, &t);
    kl__lua_new_array(L, (int)n);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, t[i].key);
        lua_setfield(L, -2, "key");
        lua_pushstring(L, t[i].op);
        lua_setfield(L, -2, "operator");
        lua_pushstring(L, t[i].effect);
        lua_setfield(L, -2, "effect");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* ---- Resources ---------------------------------------------------------------------------- */

static int resources_gc(lua_State *L)
{
    kl_resources_cleanup(lua_touserdata(L, 1));
    return 0;
}

/* A resource list in a box that frees it when collected (errors may unwind at any point). */
static kl_resources_t *new_resources(lua_State *L)
{
    kl_resources_t *r = lua_newuserdatauv(L, sizeof(*r), 0);
    kl_resources_init(r);
    if (luaL_newmetatable(L, "kubelua.Resources")) {
        lua_pushcfunction(L, resources_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return r;
}

static void push_resources(lua_State *L, const kl_resources_t *r)
{
    lua_createtable(L, 0, (int)r->len);
    for (size_t i = 0; i < r->len; i++) {
        lua_pushinteger(L, (lua_Integer)r->items[i].amount);
        lua_setfield(L, -2, r->items[i].name);
    }
}

/* Whether the argument at idx is an object (a proxy, or a table with field a or b) rather than a
 * table of amounts. */
static bool is_object(lua_State *L, int idx, const char *a, const char *b)
{
    if (!kl_val_missing(kl_lua_to_val(L, idx)))
        return true;
    if (!lua_istable(L, idx))
        return false;
    bool found = lua_getfield(L, idx, a) != LUA_TNIL;
    lua_pop(L, 1);
    if (!found && b) {
        found = lua_getfield(L, idx, b) != LUA_TNIL;
        lua_pop(L, 1);
    }
    return found;
}

/* Fills r from a table of amounts {cpu = 500, memory = 1048576, ...} at idx (nil: empty). */
static void read_amounts(lua_State *L, int idx, kl_resources_t *r)
{
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_isinteger(L, -1))
            luaL_argerror(L, idx, "expected a table of resource names to integers");
        if (kl_resources_set(r, lua_tostring(L, -2), (int64_t)lua_tointeger(L, -1)) < 0)
            luaL_error(L, "out of memory");
        lua_pop(L, 1);
    }
}

/* kube.nodes.pod_requests(pod) -> {cpu = millicores, memory = bytes, ...} | nil, err
 * [-1, +1|2, e] */
static int l_nodes_pod_requests(lua_State *L)
{
    kl_val_t spec = kl__pod_spec_of(kl__lua_val(L, 1));
    kl_resources_t *r = new_resources(L);
    kl_errinfo_t err;
    if (kl_pod_requests(spec, r, &err) < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    push_resources(L, r);
    return 1;
}

/* kube.nodes.allocatable(node) -> amounts | nil, err   [-1, +1|2, e] */
static int l_nodes_allocatable(lua_State *L)
{
    kl_val_t node = kl__lua_val(L, 1);
    kl_resources_t *r = new_resources(L);
    kl_errinfo_t err;
    if (kl_node_allocatable(node, r, &err) < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    push_resources(L, r);
    return 1;
}

/* kube.nodes.fits_resources(node_or_allocatable, request, used, pods_on_node) -> fits,
 * insufficient: allocatable is a node or amounts; request amounts or a pod; used amounts (nil:
 * none). insufficient lists {resource, reason, requested, used, capacity}.   [-4, +2, e] */
static int l_nodes_fits_resources(lua_State *L)
{
    lua_settop(L, 4);
    lua_Integer pods = luaL_optinteger(L, 4, 0);
    luaL_argcheck(L, pods >= 0, 4, "must not be negative");
    kl_resources_t *alloc = new_resources(L);
    kl_resources_t *req = new_resources(L);
    kl_resources_t *used = new_resources(L);
    kl_errinfo_t err;
    if (is_object(L, 1, "status", NULL)) {
        if (kl_node_allocatable(kl__lua_val(L, 1), alloc, &err) < 0)
            return luaL_error(L, "%s", err.msg);
    } else {
        read_amounts(L, 1, alloc);
    }
    if (is_object(L, 2, "spec", "containers")) {
        if (kl_pod_requests(kl__pod_spec_of(kl__lua_val(L, 2)), req, &err) < 0)
            return luaL_error(L, "%s", err.msg);
    } else {
        read_amounts(L, 2, req);
    }
    read_amounts(L, 3, used);
    kl_insufficient_t out[16];
    size_t n = kl_node_fits(alloc, used, (size_t)pods, req, out, 16);
    lua_pushboolean(L, n == 0);
    kl__lua_new_array(L, (int)(n < 16 ? n : 16));
    for (size_t i = 0; i < n && i < 16; i++) {
        lua_createtable(L, 0, 5);
        lua_pushstring(L, out[i].resource);
        lua_setfield(L, -2, "resource");
        if (out[i].reason)
            lua_pushstring(L, out[i].reason);
        else
            lua_pushfstring(L, "Insufficient %s", out[i].resource);
        lua_setfield(L, -2, "reason");
        lua_pushinteger(L, (lua_Integer)out[i].requested);
        lua_setfield(L, -2, "requested");
        lua_pushinteger(L, (lua_Integer)out[i].used);
        lua_setfield(L, -2, "used");
        lua_pushinteger(L, (lua_Integer)out[i].capacity);
        lua_setfield(L, -2, "capacity");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 2;
}

void kl__lua_nodes_register(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"is_ready", l_nodes_is_ready},
        {"is_unschedulable", l_nodes_is_unschedulable},
        {"matches_affinity", l_nodes_matches_affinity},
        {"matches_selector_terms", l_nodes_matches_selector_terms},
        {"tolerates", l_nodes_tolerates},
        {"untolerated_taint", l_nodes_untolerated_taint},
        {"noexecute_toleration", l_nodes_noexecute_toleration},
        {"should_run_daemon_pod", l_nodes_should_run_daemon_pod},
        {"daemonset_tolerations", l_nodes_daemonset_tolerations},
        {"pod_requests", l_nodes_pod_requests},
        {"allocatable", l_nodes_allocatable},
        {"fits_resources", l_nodes_fits_resources},
        {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    lua_setfield(L, -2, "nodes");
}
