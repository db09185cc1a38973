/* kube.slow_start and kube.expectations: controller bookkeeping. */
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "kubelua/expectations.h"

#include "script/l_primitives.h"
#include "script/l_primitives_int.h"

#define EXPECTATIONS_MT "kubelua.Expectations"

/* ---- kube.slow_start ------------------------------------------------------------------------
 * kube.slow_start(n, fn [, initial]) -> successes, err, attempted
 *
 * Calls fn(1) ... fn(n) in batches of initial (default 1), then twice the previous size, the
 * last one holding what remains, as controller_utils' slowStartBatch does. Every call of a
 * batch is made; after a batch in which some call failed, the remaining items are not
 * attempted. A call fails when it returns false, or returns a non-nil second value (the
 * `nil, err` convention of host calls); errors it raises propagate. fn may yield (API calls):
 * the loop continues through lua_callk's continuation.
 *
 * State lives in stack slots 4..9 of the call. */
enum { SS_N = 1, SS_FN, SS_INIT, SS_NEXT, SS_END, SS_SIZE, SS_OK, SS_ERR, SS_FAILED };

static lua_Integer slot(lua_State *L, int i)
{
    return lua_tointeger(L, i);
}

static void set_slot(lua_State *L, int i, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_replace(L, i);
}

/* Records the two results of fn(i) on top of the stack, and pops them. */
static void record(lua_State *L)
{
    bool failed = (lua_type(L, -2) == LUA_TBOOLEAN && !lua_toboolean(L, -2)) || !lua_isnil(L, -1);
    if (!failed) {
        set_slot(L, SS_OK, slot(L, SS_OK) + 1);
    } else {
        lua_pushboolean(L, 1);
        lua_replace(L, SS_FAILED);
        if (lua_isnil(L, SS_ERR)) {
            if (lua_isnil(L, -1))
                lua_pushfstring(L, "item %I failed", (LUAI_UACINT)(slot(L, SS_NEXT) - 1));
            else
                lua_pushvalue(L, -1);
            lua_replace(L, SS_ERR);
        }
    }
    lua_pop(L, 2);
}

static int slow_start_k(lua_State *L, int status, lua_KContext ctx);

static int slow_start_loop(lua_State *L)
{
    lua_Integer n = slot(L, SS_N);
    for (;;) {
        lua_Integer next = slot(L, SS_NEXT), end = slot(L, SS_END);
        if (next > end) {
            /* The batch is done: stop after a failure, else start the next one. */
            if (lua_toboolean(L, SS_FAILED) || end >= n)
                break;
            lua_Integer size = slot(L, SS_SIZE) * 2;
            if (size > n - end)
                size = n - end;
            set_slot(L, SS_SIZE, size);
            set_slot(L, SS_END, end + size);
            continue;
        }
        set_slot(L, SS_NEXT, next + 1);
        lua_pushvalue(L, SS_FN);
        lua_pushinteger(L, next);
        lua_callk(L, 1, 2, 0, slow_start_k);
        record(L);
    }
    lua_pushvalue(L, SS_OK);
    lua_pushvalue(L, SS_ERR);
    lua_pushinteger(L, slot(L, SS_NEXT) - 1);
    return 3;
}

static int slow_start_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    record(L);
    return slow_start_loop(L);
}

static int l_slow_start(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, SS_N);
    luaL_checktype(L, SS_FN, LUA_TFUNCTION);
    lua_Integer initial = luaL_optinteger(L, SS_INIT, 1);
    luaL_argcheck(L, initial >= 1, SS_INIT, "must be at least 1");
    if (n < 0)
        n = 0;
    lua_settop(L, SS_INIT);
    luaL_checkstack(L, 8, "kube.slow_start");
    lua_Integer size = initial < n ? initial : n;
    set_slot(L, SS_N, n);
    lua_pushinteger(L, 1);    /* SS_NEXT */
    lua_pushinteger(L, size); /* SS_END */
    lua_pushinteger(L, size); /* SS_SIZE */
    lua_pushinteger(L, 0);    /* SS_OK */
    lua_pushnil(L);           /* SS_ERR */
    lua_pushboolean(L, 0);    /* SS_FAILED */
    return slow_start_loop(L);
}

/* ---- kube.expectations -------------------------------------------------------------------- */

typedef struct expbox {
    kl_expectations_t *e;
} expbox_t;

static int exp_gc(lua_State *L)
{
    expbox_t *b = lua_touserdata(L, 1);
    kl_expectations_unref(b->e);
    b->e = NULL;
    return 0;
}

static void ensure_exp_mt(lua_State *L);

void kl_lua_push_expectations(lua_State *L, kl_expectations_t *e)
{
    ensure_exp_mt(L); /* the policy may never have required "kube" */
    expbox_t *b = lua_newuserdatauv(L, sizeof(*b), 0);
    b->e = NULL;
    luaL_setmetatable(L, EXPECTATIONS_MT);
    b->e = kl_expectations_ref(e);
}

kl_expectations_t *kl_lua_to_expectations(lua_State *L, int idx)
{
    expbox_t *b = luaL_testudata(L, idx, EXPECTATIONS_MT);
    return b ? b->e : NULL;
}

static kl_expectations_t *check_exp(lua_State *L)
{
    expbox_t *b = luaL_checkudata(L, 1, EXPECTATIONS_MT);
    return b->e;
}

/* kube.expectations.new([ttl_seconds]) -> Expectations   [-1, +1, e] */
static int l_exp_new(lua_State *L)
{
    lua_Number ttl = luaL_optnumber(L, 1, 0);
    luaL_argcheck(L, ttl >= 0 && ttl < 1e12, 1, "ttl out of range");
    expbox_t *b = lua_newuserdatauv(L, sizeof(*b), 0);
    b->e = NULL;
    luaL_setmetatable(L, EXPECTATIONS_MT);
    kl_expectations_opts_t o = {.ttl_ms = (int64_t)(ttl * 1000)};
    if (kl_expectations_new(&o, &b->e) < 0)
        return luaL_error(L, "out of memory");
    return 1;
}

/* A list of pod keys at idx (a table of strings) into a userdata array (pushed). */
static const char **key_list(lua_State *L, int idx, size_t *n)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer len = luaL_len(L, idx);
    luaL_argcheck(L, len >= 0 && len < 10000000, idx, "too many keys");
    const char **keys = lua_newuserdatauv(L, ((size_t)len + 1) * sizeof(char *), 0);
    for (lua_Integer i = 1; i <= len; i++) {
        if (lua_geti(L, idx, i) != LUA_TSTRING)
            luaL_argerror(L, idx, "expected a list of strings");
        keys[i - 1] = lua_tostring(L, -1); /* still referenced by the table */
        lua_pop(L, 1);
    }
    *n = (size_t)len;
    return keys;
}

/* e:set(key, adds, dels | {pod keys}) -> nothing   [-4, +0, e] */
static int l_exp_set(lua_State *L)
{
    kl_expectations_t *e = check_exp(L);
    const char *key = luaL_checkstring(L, 2);
    lua_Integer adds = luaL_optinteger(L, 3, 0);
    int rc;
    if (lua_istable(L, 4)) {
        size_t n;
        const char **keys = key_list(L, 4, &n);
        rc = kl_expectations_set_keys(e, key, (int64_t)adds, keys, n);
    } else {
        rc = kl_expectations_set(e, key, (int64_t)adds, (int64_t)luaL_optinteger(L, 4, 0));
    }
    if (rc < 0)
        return luaL_error(L, "out of memory");
    return 0;
}

/* e:expect_creations(key, n)   [-3, +0, e] */
static int l_exp_expect_creations(lua_State *L)
{
    kl_expectations_t *e = check_exp(L);
    const char *key = luaL_checkstring(L, 2);
    if (kl_expectations_set(e, key, (int64_t)luaL_checkinteger(L, 3), 0) < 0)
        return luaL_error(L, "out of memory");
    return 0;
}

/* e:expect_deletions(key, n | {pod keys})   [-3, +0, e] */
static int l_exp_expect_deletions(lua_State *L)
{
    lua_settop(L, 3);
    lua_pushinteger(L, 0);
    lua_insert(L, 3);
    return l_exp_set(L);
}

static int adjust(lua_State *L, void (*f)(kl_expectations_t *, const char *, int64_t, int64_t))
{
    kl_expectations_t *e = check_exp(L);
    const char *key = luaL_checkstring(L, 2);
    f(e, key, (int64_t)luaL_optinteger(L, 3, 0), (int64_t)luaL_optinteger(L, 4, 0));
    return 0;
}

/* e:raise(key, adds, dels) / e:lower(key, adds, dels)   [-4, +0, e] */
static int l_exp_raise(lua_State *L)
{
    return adjust(L, kl_expectations_raise);
}

static int l_exp_lower(lua_State *L)
{
    return adjust(L, kl_expectations_lower);
}

/* e:creation_observed(key)   [-2, +0, e] */
static int l_exp_creation_observed(lua_State *L)
{
    kl_expectations_t *e = check_exp(L);
    kl_expectations_creation_observed(e, luaL_checkstring(L, 2));
    return 0;
}

/* e:deletion_observed(key [, pod_key])   [-3, +0, e] */
static int l_exp_deletion_observed(lua_State *L)
{
    kl_expectations_t *e = check_exp(L);
    const char *key = luaL_checkstring(L, 2);
    kl_expectations_deletion_observed(e, key, luaL_optstring(L, 3, NULL));
    return 0;
}

/* e:satisfied(key) -> boolean   [-2, +1, e] */
static int l_exp_satisfied(lua_State *L)
{
    kl_expectations_t *e = check_exp(L);
    lua_pushboolean(L, kl_expectations_satisfied(e, luaL_checkstring(L, 2)));
    return 1;
}

/* e:delete(key)   [-2, +0, e] */
static int l_exp_delete(lua_State *L)
{
    kl_expectations_t *e = check_exp(L);
    kl_expectations_delete(e, luaL_checkstring(L, 2));
    return 0;
}

/* e:get(key) -> adds, dels, age_seconds, expired | nil   [-2, +1|4, e] */
static int l_exp_get(lua_State *L)
{
    kl_expectations_t *e = check_exp(L);
    int64_t adds, dels, age;
    bool expired;
    if (!kl_expectations_get(e, luaL_checkstring(L, 2), &adds, &dels, &age, &expired)) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, (lua_Integer)adds);
    lua_pushinteger(L, (lua_Integer)dels);
    lua_pushnumber(L, (lua_Number)age / 1000.0);
    lua_pushboolean(L, expired);
    return 4;
}

/* e:pending_deletion(key, pod_key) -> boolean   [-3, +1, e] */
static int l_exp_pending_deletion(lua_State *L)
{
    kl_expectations_t *e = check_exp(L);
    const char *key = luaL_checkstring(L, 2);
    lua_pushboolean(L, kl_expectations_pending_deletion(e, key, luaL_checkstring(L, 3)));
    return 1;
}

static int l_exp_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)kl_expectations_count(check_exp(L)));
    return 1;
}

static int l_exp_gc_records(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)kl_expectations_gc(check_exp(L)));
    return 1;
}

static int l_exp_tostring(lua_State *L)
{
    lua_pushfstring(L, "kube.Expectations(%I records)",
                    (LUAI_UACINT)kl_expectations_count(check_exp(L)));
    return 1;
}

/* Registers the Expectations metatable once per state. [-0, +0, m] */
static void ensure_exp_mt(lua_State *L)
{
    if (luaL_newmetatable(L, EXPECTATIONS_MT)) {
        static const luaL_Reg methods[] = {{"set", l_exp_set},
                                           {"expect_creations", l_exp_expect_creations},
                                           {"expect_deletions", l_exp_expect_deletions},
                                           {"raise", l_exp_raise},
                                           {"lower", l_exp_lower},
                                           {"creation_observed", l_exp_creation_observed},
                                           {"deletion_observed", l_exp_deletion_observed},
                                           {"satisfied", l_exp_satisfied},
                                           {"delete", l_exp_delete},
                                           {"get", l_exp_get},
                                           {"pending_deletion", l_exp_pending_deletion},
                                           {"count", l_exp_count},
                                           {"gc", l_exp_gc_records},
                                           {NULL, NULL}};
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, exp_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_exp_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
}

void kl__lua_control_register(lua_State *L)
{
    int mod = lua_gettop(L);
    ensure_exp_mt(L);
    static const luaL_Reg exp_funcs[] = {{"new", l_exp_new}, {NULL, NULL}};
    luaL_newlib(L, exp_funcs);
    lua_setfield(L, mod, "expectations");
    lua_pushcfunction(L, l_slow_start);
    lua_setfield(L, mod, "slow_start");
}
