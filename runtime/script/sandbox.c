/* The policy sandbox: an allow-listed environment, guarded libraries, and require().
 *
 * Every chunk the host compiles gets the same environment table as its _ENV. That table is
 * always empty: reads fall through (__index) to a hidden table of allowed globals, whose own
 * __index raises for undefined names; writes hit __newindex and raise. rawset is not offered,
 * so the guard holds. The libraries are read-only proxies of the real tables; the string
 * metatable is locked, so ("").method lookups always reach the vetted string table.
 *
 * pcall, xpcall and coroutine.resume/wrap are wrapped so that a budget kill or a memory error
 * cannot be swallowed (kl__propagate_fatal). coroutine.yield, resume and close refuse the
 * host's own coroutines: only host calls may suspend an invocation.
 */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kubelua/log.h"

#include "script/script_int.h"
#include "util/embedded.h"

const char kl__env_key;
const char kl__loaded_key;
const char kl__preload_key;
const char kl__kill_sentinel;
/* Value of loaded[name] while the module's chunk runs, to detect require loops. */
static const char loading_mark;

/* {============================================================================================
** Globals guard and read-only tables
** =============================================================================================*/

static const char *key_name(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : luaL_typename(L, idx);
}

/* __index of the allowed-globals table: (t, k) -> error   [-2, +0, e] */
static int l_undefined_global(lua_State *L)
{
    return luaL_error(L, "undefined global variable '%s'", key_name(L, 2));
}

/* __newindex of the environment: (env, k, v) -> error   [-3, +0, e] */
static int l_global_write(lua_State *L)
{
    return luaL_error(L, "assignment to global variable '%s' (globals are read-only; use local)",
                      key_name(L, 2));
}

/* __newindex of a read-only library proxy; upvalue 1 is the library name.   [-3, +0, e] */
static int l_readonly_write(lua_State *L)
{
    return luaL_error(L, "attempt to modify read-only table '%s' (field '%s')",
                      lua_tostring(L, lua_upvalueindex(1)), key_name(L, 2));
}

/* __pairs of a read-only proxy: upvalues are next and the real table.   [-1, +3, -] */
static int l_readonly_pairs(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushnil(L);
    return 3;
}

/* [-1, +1, e] Replaces the table on top with a read-only proxy of it. */
static void make_readonly(lua_State *L, int next_idx, const char *name)
{
    int t = lua_gettop(L);
    lua_newtable(L);
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, t);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, name);
    lua_pushcclosure(L, l_readonly_write, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, next_idx);
    lua_pushvalue(L, t);
    lua_pushcclosure(L, l_readonly_pairs, 2);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_replace(L, t);
}

/* }============================================================================================*/

/* {============================================================================================
** Guarded base functions
** =============================================================================================*/

static int finish_pcall(lua_State *L, int status, lua_KContext extra)
{
    if (status != LUA_OK && status != LUA_YIELD) {
        kl__propagate_fatal(L, status);
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}

/* pcall(f, ...) -> true, ... | false, err; yieldable, re-raises kills.   [-?, +?, e] */
static int l_pcall(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
    return finish_pcall(L, status, 0);
}

/* Message handler installed by xpcall: upvalue 1 is the policy's handler, which is skipped for
 * a kill so that it cannot run (or loop) on the way out.   [-1, +1, e] */
static int l_xpcall_handler(lua_State *L)
{
    kl_script_t *s = kl_script_of(L);
    if (s->running != NULL && s->running->fatal)
        return 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* xpcall(f, handler, ...) -> true, ... | false, handler(err)   [-?, +?, e] */
static int l_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, l_xpcall_handler, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);
    int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
    return finish_pcall(L, status, 2);
}

/* setmetatable(t, mt) without finalizers: a __gc would run policy code at any allocation,
 * outside every budget.   [-2, +1, e] */
static int l_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc metamethods are not allowed in policies");
    }
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

/* print(...) -> logs one INFO line tagged "lua:<policy>".   [-n, +0, e] */
static int l_print(lua_State *L)
{
    kl_script_t *s = kl_script_of(L);
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    kl_log(KL_LOG_INFO, s->log_component, "%s", lua_tostring(L, -1));
    return 0;
}

/* string.rep(s, n [, sep]) with the result capped at KL_SCRIPT_REP_MAX bytes; upvalue 1 is the
 * original.   [-?, +1, e] */
static int l_str_rep(lua_State *L)
{
    size_t l, lsep = 0;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n > 0 && (double)l * (double)n + (double)lsep * (double)(n - 1) > (double)KL_SCRIPT_REP_MAX)
        return luaL_error(L, "string.rep: result larger than the %d byte limit",
                          (int)KL_SCRIPT_REP_MAX);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* table.move(a1, f, e, t [, a2]) limited to KL_SCRIPT_MOVE_MAX elements: it loops in C, where
 * no hook can stop it. Upvalue 1 is the original.   [-?, +1, e] */
static int l_tab_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2);
    lua_Integer e = luaL_checkinteger(L, 3);
    if (e >= f && (f <= 0 ? e >= KL_SCRIPT_MOVE_MAX + f : e - f >= KL_SCRIPT_MOVE_MAX))
        return luaL_error(L, "table.move: more than %d elements", (int)KL_SCRIPT_MOVE_MAX);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* table.insert(t, [pos,] v) limited to shifting KL_SCRIPT_MOVE_MAX elements; upvalue 1 is the
 * original.   [-?, +0, e] */
static int l_tab_insert(lua_State *L)
{
    if (lua_gettop(L) == 3) {
        lua_Integer e = luaL_len(L, 1) + 1;
        lua_Integer pos = luaL_checkinteger(L, 2);
        if (e > pos && (pos <= 0 ? e >= KL_SCRIPT_MOVE_MAX + pos : e - pos >= KL_SCRIPT_MOVE_MAX))
            return luaL_error(L, "table.insert: would shift more than %d elements",
                              (int)KL_SCRIPT_MOVE_MAX);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 0);
    return 0;
}

/* table.remove(t [, pos]) with the same limit; upvalue 1 is the original.   [-?, +1, e] */
static int l_tab_remove(lua_State *L)
{
    lua_Integer size = luaL_len(L, 1);
    lua_Integer pos = luaL_optinteger(L, 2, size);
    if (size > pos &&
        (pos <= 0 ? size >= KL_SCRIPT_MOVE_MAX + pos : size - pos >= KL_SCRIPT_MOVE_MAX))
        return luaL_error(L, "table.remove: would shift more than %d elements",
                          (int)KL_SCRIPT_MOVE_MAX);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* }============================================================================================*/

/* {============================================================================================
** Guarded coroutines
** =============================================================================================*/

static lua_State *check_co(lua_State *L, int arg)
{
    kl__propagate_fatal(L, LUA_OK);
    lua_State *co = lua_tothread(L, arg);
    luaL_argexpected(L, co != NULL, arg, "coroutine");
    if (kl__is_host_thread(co))
        luaL_error(L, "cannot use the invocation's own coroutine from a policy");
    return co;
}

/* Resumes co with narg values from L's top; returns the number of results moved to L, or -1
 * with the error on top. Kills and memory errors in co are raised again here.   [-narg, +?, e] */
static int auxresume(lua_State *L, lua_State *co, int narg)
{
    int nres;
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, narg);
    lua_State *outer = kl__watchdog_switch(co);
    int status = lua_resume(co, L, narg, &nres);
    kl__watchdog_switch(outer);
    if (status == LUA_OK || status == LUA_YIELD) {
        kl__propagate_fatal(L, LUA_OK);
        if (!lua_checkstack(L, nres + 1)) {
            lua_pop(co, nres);
            lua_pushliteral(L, "too many results to resume");
            return -1;
        }
        lua_xmove(co, L, nres);
        return nres;
    }
    lua_xmove(co, L, 1);
    kl__propagate_fatal(L, status);
    return -1;
}

/* coroutine.resume(co, ...) -> true, ... | false, err   [-?, +?, e] */
static int l_co_resume(lua_State *L)
{
    lua_State *co = check_co(L, 1);
    int r = auxresume(L, co, lua_gettop(L) - 1);
    if (r < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(r + 1));
    return r + 1;
}

/* The function coroutine.wrap returns; upvalue 1 is its coroutine.   [-?, +?, e] */
static int l_co_auxwrap(lua_State *L)
{
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int r = auxresume(L, co, lua_gettop(L));
    if (r >= 0)
        return r;
    int stat = lua_status(co);
    if (stat != LUA_OK && stat != LUA_YIELD) {
        /* The coroutine died: close its to-be-closed variables; a failing __close replaces
         * the error, as in the stock library. */
        if (lua_resetthread(co) != LUA_OK && lua_gettop(co) > 0) {
            lua_pop(L, 1);
            lua_xmove(co, L, 1);
        }
    }
    if (lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

/* coroutine.wrap(f) -> function   [-1, +1, e] */
static int l_co_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *nl = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, nl, 1);
    lua_pushcclosure(L, l_co_auxwrap, 1);
    return 1;
}

/* coroutine.yield(...): refused on the invocation's own coroutine.   [-?, +?, e] */
static int l_co_yield(lua_State *L)
{
    if (kl__is_host_thread(L))
        return luaL_error(L, "attempt to yield from outside a coroutine (only host calls may "
                             "suspend an invocation)");
    return lua_yield(L, lua_gettop(L));
}

/* coroutine.isyieldable([co]) -> boolean; false on the invocation's own coroutine.   [-?, +1, -] */
static int l_co_isyieldable(lua_State *L)
{
    lua_State *co = lua_isnone(L, 1) ? L : lua_tothread(L, 1);
    luaL_argexpected(L, co != NULL, 1, "coroutine");
    lua_pushboolean(L, !kl__is_host_thread(co) && lua_isyieldable(co));
    return 1;
}

/* coroutine.close(co): refused on host coroutines; upvalue 1 is the original.   [-1, +?, e] */
static int l_co_close(lua_State *L)
{
    check_co(L, 1);
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* }============================================================================================*/

/* {============================================================================================
** require
** =============================================================================================*/

int kl__read_file(const char *path, size_t max, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return errno == ENOENT || errno == ENOTDIR ? KL_ENOTFOUND : KL_EIO;
    int rc = KL_EIO;
    char *buf = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        goto out;
    if ((uintmax_t)st.st_size > max) {
        rc = KL_ETOOBIG;
        goto out;
    }
    size_t size = (size_t)st.st_size;
    buf = malloc(size + 1);
    if (buf == NULL) {
        rc = KL_ENOMEM;
        goto out;
    }
    if (fread(buf, 1, size, f) != size)
        goto out;
    buf[size] = '\0';
    *data = buf;
    *len = size;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

int kl__load_chunk(lua_State *L, const char *buf, size_t len, const char *chunkname)
{
    int status = luaL_loadbufferx(L, buf, len, chunkname, "t");
    if (status != LUA_OK)
        return status;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kl__env_key);
    if (lua_setupvalue(L, -2, 1) == NULL)
        lua_pop(L, 1);
    return LUA_OK;
}

/* Maps "a.b" to "a/b" in out; false for names that could escape a directory. */
static bool module_relpath(const char *name, size_t len, char *out, size_t cap)
{
    if (len == 0 || len >= cap || name[0] == '.' || name[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '.') {
            if (name[i + 1] == '.')
                return false;
            out[i] = '/';
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-') {
            out[i] = c;
        } else {
            return false;
        }
    }
    out[len] = '\0';
    return true;
}

/* Clears loaded[name] (index 2 holds loaded, 1 the name) before an error, so a failed module
 * can be required again. Does not allocate.   [-0, +0, -] */
static void unmark(lua_State *L)
{
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    lua_rawset(L, 2);
}

/* require(name) -> module: host modules, then lua/<name>.lua compiled into the binary, then
 * <policy dir>/<name>.lua; dots in name are directory separators. Cached per state.
 * [-1, +1, e] */
static int l_require(lua_State *L)
{
    kl_script_t *s = kl_script_of(L);
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    char rel[256], path[4096 + 300], chunk[sizeof(path) + 1];
    if (!module_relpath(name, len, rel, sizeof(rel)))
        return luaL_error(L, "require: invalid module name '%s'", name);
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kl__loaded_key); /* 2 */
    lua_pushvalue(L, 1);
    if (lua_rawget(L, 2) != LUA_TNIL) {
        if (lua_touserdata(L, 3) == &loading_mark)
            return luaL_error(L, "require: loop while loading module '%s'", name);
        return 1;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, (void *)&loading_mark);
    lua_rawset(L, 2);

    /* Leaves the module's opener at index 3. */
    bool found = false;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kl__preload_key);
    lua_pushvalue(L, 1);
    if (lua_rawget(L, 3) == LUA_TFUNCTION) {
        lua_replace(L, 3);
        found = true;
    }
    lua_settop(L, found ? 3 : 2);

    char embedded[sizeof(rel) + 16];
    snprintf(embedded, sizeof(embedded), "lua/%s.lua", rel);
    if (!found && s->find_embedded != NULL) {
        const kl_embedded_file_t *f = s->find_embedded(embedded);
        if (f != NULL) {
            snprintf(chunk, sizeof(chunk), "@%s", embedded);
            int status = kl__load_chunk(L, f->data, f->len, chunk);
            if (status != LUA_OK) {
                unmark(L);
                kl__propagate_fatal(L, status);
                return lua_error(L);
            }
            found = true;
        }
    }
    path[0] = '\0';
    if (!found && s->policy_dir != NULL && strncmp(s->policy_dir, "embedded:", 9) == 0) {
        /* A policy compiled into the binary: its modules are compiled in beside it. */
        snprintf(path, sizeof(path), "%s/%s.lua", s->policy_dir + 9, rel);
        const kl_embedded_file_t *f = s->find_embedded ? s->find_embedded(path) : NULL;
        if (f != NULL) {
            snprintf(chunk, sizeof(chunk), "@%s", path);
            int status = kl__load_chunk(L, f->data, f->len, chunk);
            if (status != LUA_OK) {
                unmark(L);
                kl__propagate_fatal(L, status);
                return lua_error(L);
            }
            found = true;
        }
    } else if (!found && s->policy_dir != NULL) {
        snprintf(path, sizeof(path), "%s/%s.lua", s->policy_dir, rel);
        char *data = NULL;
        size_t dlen = 0;
        int rc = kl__read_file(path, KL_SCRIPT_MAX_SOURCE, &data, &dlen);
        if (rc == 0) {
            snprintf(chunk, sizeof(chunk), "@%s", path);
            int status = kl__load_chunk(L, data, dlen, chunk);
            free(data);
            if (status != LUA_OK) {
                unmark(L);
                kl__propagate_fatal(L, status);
                return lua_error(L);
            }
            found = true;
        } else if (rc != KL_ENOTFOUND) {
            unmark(L);
            return luaL_error(L, "require: cannot read '%s': %s", path, kl_strerror(rc));
        }
    }
    if (!found) {
        unmark(L);
        if (path[0] != '\0')
            return luaL_error(L,
                              "module '%s' not found:\n\tno host module '%s'\n\tno embedded "
                              "file '%s'\n\tno file '%s'",
                              name, name, embedded, path);
        return luaL_error(L,
                          "module '%s' not found:\n\tno host module '%s'\n\tno embedded file '%s'",
                          name, name, embedded);
    }

    lua_pushvalue(L, 1);
    int status = lua_pcall(L, 1, 1, 0);
    if (status != LUA_OK) {
        unmark(L);
        kl__propagate_fatal(L, status);
        return lua_error(L);
    }
    if (lua_isnil(L, 3)) {
        lua_pushboolean(L, 1);
        lua_replace(L, 3);
    }
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 3);
    lua_rawset(L, 2);
    return 1;
}

/* }============================================================================================*/

static const char *const base_allowed[] = {
    "assert", "error",        "ipairs", "next",     "pairs",  "select",   "tonumber", "tostring",
    "type",   "getmetatable", "rawget", "rawequal", "rawlen", "_VERSION", NULL,
};

/* Names removed from the real (hidden) globals table too, as defence in depth. */
static const char *const base_denied[] = {
    "collectgarbage", "dofile", "load",    "loadfile", "loadstring",
    "print",          "rawset", "require", "warn",     NULL,
};

static void copy_fields(lua_State *L, int from, int to, const char *const *names)
{
    for (; *names != NULL; names++) {
        lua_getfield(L, from, *names);
        lua_setfield(L, to, *names);
    }
}

int kl__sandbox_open(lua_State *L)
{
    const kl_script_opts_t *o = lua_touserdata(L, 2);
    lua_settop(L, 0);

    luaL_requiref(L, LUA_GNAME, luaopen_base, 0);          /* 1 */
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);   /* 2 */
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 0);    /* 3 */
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 0);    /* 4 */
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 0);    /* 5 */
    luaL_requiref(L, LUA_COLIBNAME, luaopen_coroutine, 0); /* 6 */
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);        /* 7 */
    lua_getfield(L, 1, "next");                            /* 8 */

    /* The real string table backs ("").method lookups, so it is edited in place. */
    lua_pushnil(L);
    lua_setfield(L, 2, "dump");
    lua_getfield(L, 2, "rep");
    lua_pushcclosure(L, l_str_rep, 1);
    lua_setfield(L, 2, "rep");
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    static const luaL_Reg tab_guarded[] = {
        {"move", l_tab_move}, {"insert", l_tab_insert}, {"remove", l_tab_remove}, {NULL, NULL}};
    for (const luaL_Reg *r = tab_guarded; r->name != NULL; r++) {
        lua_getfield(L, 3, r->name);
        lua_pushcclosure(L, r->func, 1);
        lua_setfield(L, 3, r->name);
    }

    lua_createtable(L, 0, 32); /* 9: the allowed globals */
    int g = lua_gettop(L);
    copy_fields(L, 1, g, base_allowed);
    lua_getfield(L, 1, "setmetatable");
    lua_pushcclosure(L, l_setmetatable, 1);
    lua_setfield(L, g, "setmetatable");
    lua_pushcfunction(L, l_pcall);
    lua_setfield(L, g, "pcall");
    lua_pushcfunction(L, l_xpcall);
    lua_setfield(L, g, "xpcall");
    lua_pushcfunction(L, l_print);
    lua_setfield(L, g, "print");
    lua_pushcfunction(L, l_require);
    lua_setfield(L, g, "require");

    static const char *const libs[] = {"string", "table", "math", "utf8"};
    for (int i = 0; i < 4; i++) {
        lua_pushvalue(L, 2 + i);
        make_readonly(L, 8, libs[i]);
        lua_setfield(L, g, libs[i]);
    }

    static const char *const os_allowed[] = {"time", "date", "clock", "difftime", NULL};
    lua_createtable(L, 0, 4);
    copy_fields(L, 7, lua_gettop(L), os_allowed);
    make_readonly(L, 8, "os");
    lua_setfield(L, g, "os");

    static const char *const co_allowed[] = {"create", "status", "running", NULL};
    static const luaL_Reg co_guarded[] = {
        {"resume", l_co_resume},           {"wrap", l_co_wrap}, {"yield", l_co_yield},
        {"isyieldable", l_co_isyieldable}, {NULL, NULL},
    };
    lua_createtable(L, 0, 8);
    copy_fields(L, 6, lua_gettop(L), co_allowed);
    luaL_setfuncs(L, co_guarded, 0);
    lua_getfield(L, 6, "close");
    lua_pushcclosure(L, l_co_close, 1);
    lua_setfield(L, -2, "close");
    make_readonly(L, 8, "coroutine");
    lua_setfield(L, g, "coroutine");

    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, l_undefined_global);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, g);

    lua_newtable(L); /* the environment: always empty */
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, g);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_global_write);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kl__env_key);

    for (const char *const *n = base_denied; *n != NULL; n++) {
        lua_pushnil(L);
        lua_setfield(L, 1, *n);
    }

    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kl__loaded_key);
    lua_newtable(L);
    for (const kl_script_module_t *m = o != NULL ? o->modules : NULL; m != NULL && m->name != NULL;
         m++) {
        lua_pushcfunction(L, m->open);
        lua_setfield(L, -2, m->name);
    }
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kl__preload_key);
    return 0;
}
