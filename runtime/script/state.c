/* Scripts: creating and closing a policy's lua_State, loading the policy, protected access. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/log.h"

#include "script/script_int.h"
#include "util/embedded.h"

static int panic(lua_State *L)
{
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    KL_ERROR("script", "unprotected Lua error (a host bug): %s", msg);
    abort();
}

static char *str_concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s != NULL) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

int kl_script_new(const kl_script_opts_t *opts, kl_script_t **out)
{
    static const kl_script_opts_t defaults;
    if (out == NULL)
        return KL_EINVAL;
    if (opts == NULL)
        opts = &defaults;
    kl_script_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return KL_ENOMEM;
    s->policy_ref = LUA_NOREF;
    s->mem_limit = opts->mem_limit ? opts->mem_limit : KL_SCRIPT_DEFAULT_MEM_LIMIT;
    s->time_budget_ns =
        (uint64_t)(opts->time_budget_ms ? opts->time_budget_ms : KL_SCRIPT_DEFAULT_TIME_BUDGET_MS) *
        1000000;
    s->load_budget_ns =
        (uint64_t)(opts->load_budget_ms ? opts->load_budget_ms : KL_SCRIPT_DEFAULT_LOAD_BUDGET_MS) *
        1000000;
    s->instr_budget = opts->instr_budget;
    s->find_embedded = opts->find_embedded ? opts->find_embedded : kl_embedded_find;
    s->name = strdup(opts->name ? opts->name : "policy");
    s->log_component = s->name ? str_concat("lua:", s->name) : NULL;
    if (opts->policy_dir != NULL) {
        s->policy_dir = strdup(opts->policy_dir);
        s->policy_dir_fixed = true;
    }
    if (s->log_component == NULL || (opts->policy_dir != NULL && s->policy_dir == NULL))
        goto fail;

    s->L = lua_newstate(kl__script_alloc, s);
    if (s->L == NULL)
        goto fail;
    *(void **)lua_getextraspace(s->L) = NULL;
    lua_atpanic(s->L, panic);
    lua_pushcfunction(s->L, kl__sandbox_open);
    lua_pushlightuserdata(s->L, s);
    lua_pushlightuserdata(s->L, (void *)opts);
    if (lua_pcall(s->L, 2, 0, 0) != LUA_OK)
        goto fail;
    s->mem_armed = true;
    *out = s;
    return 0;

fail:
    if (s->L != NULL)
        lua_close(s->L);
    free(s->name);
    free(s->log_component);
    free(s->policy_dir);
    free(s);
    return KL_ENOMEM;
}

void kl_script_free(kl_script_t *s)
{
    if (s == NULL)
        return;
    if (s->depth > 0) {
        s->free_pending = true;
        return;
    }
    kl__script_destroy(s);
}

void kl_script_retire(kl_script_t *s, void (*closed)(void *ud), void *ud)
{
    s->retiring = true;
    s->closed = closed;
    s->closed_ud = ud;
    if (s->depth == 0 && s->nlive == 0)
        kl__script_destroy(s);
}

lua_State *kl_script_state(kl_script_t *s)
{
    return s->L;
}

const char *kl_script_name(const kl_script_t *s)
{
    return s->name;
}

size_t kl_script_mem_used(const kl_script_t *s)
{
    return s->mem_used;
}

size_t kl_script_mem_peak(const kl_script_t *s)
{
    return s->mem_peak;
}

size_t kl_script_live(const kl_script_t *s)
{
    return s->nlive;
}

int kl_script_policy_line(const kl_script_t *s)
{
    return s->policy_line;
}

const char *kl_script_traceback(const kl_script_t *s)
{
    return s->traceback;
}

int kl_script_load_buffer(kl_script_t *s, const char *chunkname, const char *buf, size_t len,
                          kl_errinfo_t *err)
{
    if (s == NULL || chunkname == NULL || (buf == NULL && len > 0))
        return kl_err(err, KL_EINVAL, "kl_script_load_buffer: bad arguments");
    char *name =
        chunkname[0] == '@' || chunkname[0] == '=' ? strdup(chunkname) : str_concat("@", chunkname);
    if (name == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    int rc = kl__run_load(s, buf != NULL ? buf : "", len, name, err);
    free(name);
    return rc;
}

int kl_script_load_file(kl_script_t *s, const char *path, kl_errinfo_t *err)
{
    char *data = NULL;
    size_t len = 0;
    if (s == NULL || path == NULL)
        return kl_err(err, KL_EINVAL, "kl_script_load_file: bad arguments");
    int rc = kl__read_file(path, KL_SCRIPT_MAX_SOURCE, &data, &len);
    if (rc == KL_ENOTFOUND)
        return kl_err(err, KL_EIO, "%s: no such file", path);
    if (rc != 0)
        return kl_err(err, rc == KL_ENOMEM ? rc : KL_EIO, "%s: cannot read: %s", path,
                      kl_strerror(rc));
    if (!s->policy_dir_fixed) {
        const char *slash = strrchr(path, '/');
        char *dir =
            slash == NULL ? strdup(".") : strndup(path, (size_t)(slash - path) + (slash == path));
        if (dir == NULL) {
            free(data);
            return kl_err(err, KL_ENOMEM, "out of memory");
        }
        free(s->policy_dir);
        s->policy_dir = dir;
    }
    char *name = str_concat("@", path);
    if (name == NULL) {
        free(data);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    rc = kl__run_load(s, data, len, name, err);
    free(name);
    free(data);
    return rc;
}

struct protect_args {
    kl_script_t *s;
    kl_script_fn fn;
    void *ud;
    int rc;
};

static int protect_tramp(lua_State *L)
{
    struct protect_args *a = lua_touserdata(L, 1);
    lua_settop(L, 0);
    if (a->s->policy_ref == LUA_NOREF)
        lua_pushnil(L);
    else
        lua_rawgeti(L, LUA_REGISTRYINDEX, a->s->policy_ref);
    a->rc = a->fn(L, a->ud);
    return 0;
}

int kl_script_protect(kl_script_t *s, kl_script_fn fn, void *ud, kl_errinfo_t *err)
{
    if (s == NULL || fn == NULL)
        return kl_err(err, KL_EINVAL, "kl_script_protect: bad arguments");
    if (s->free_pending)
        return kl_err(err, KL_ECLOSED, "script %s is shutting down", s->name);
    lua_State *L = s->L;
    struct protect_args a = {s, fn, ud, 0};
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 2))
        return kl_err(err, KL_ENOMEM, "Lua stack exhausted");
    kl__enter(s);
    s->mem_lift++;
    lua_pushcfunction(L, protect_tramp);
    lua_pushlightuserdata(L, &a);
    int st = lua_pcall(L, 1, 0, 0);
    int rc = a.rc;
    if (st != LUA_OK) {
        const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error object";
        rc = kl_err_at(err, st == LUA_ERRMEM ? KL_ENOMEM : KL_ESCRIPT, kl__msg_line(msg), 0, "%s",
                       msg);
    }
    lua_settop(L, top);
    s->mem_lift--;
    kl__leave(s);
    return rc;
}

struct field_args {
    const char *key;
    char *buf;
    size_t cap;
    int64_t *out;
};

static int field_type(lua_State *L, void *ud)
{
    struct field_args *a = ud;
    if (!lua_istable(L, 1))
        return LUA_TNIL;
    lua_pushstring(L, a->key);
    return lua_rawget(L, 1);
}

static int field_string(lua_State *L, void *ud)
{
    struct field_args *a = ud;
    int t = field_type(L, ud);
    if (t == LUA_TNIL)
        return KL_ENOTFOUND;
    if (t != LUA_TSTRING)
        return KL_ETYPE;
    size_t len;
    const char *v = lua_tolstring(L, -1, &len);
    if (len >= a->cap)
        return KL_ETOOBIG;
    memcpy(a->buf, v, len + 1);
    return 0;
}

static int field_integer(lua_State *L, void *ud)
{
    struct field_args *a = ud;
    int t = field_type(L, ud);
    if (t == LUA_TNIL)
        return KL_ENOTFOUND;
    int ok = 0;
    lua_Integer v = t == LUA_TNUMBER ? lua_tointegerx(L, -1, &ok) : 0;
    if (!ok)
        return KL_ETYPE;
    *a->out = (int64_t)v;
    return 0;
}

int kl_script_policy_type(kl_script_t *s, const char *key)
{
    struct field_args a = {.key = key};
    return kl_script_protect(s, field_type, &a, NULL);
}

int kl_script_policy_string(kl_script_t *s, const char *key, char *buf, size_t cap)
{
    struct field_args a = {.key = key, .buf = buf, .cap = cap};
    return kl_script_protect(s, field_string, &a, NULL);
}

int kl_script_policy_integer(kl_script_t *s, const char *key, int64_t *out)
{
    struct field_args a = {.key = key, .out = out};
    return kl_script_protect(s, field_integer, &a, NULL);
}
