/* The `kube` module: object helpers (l_object.c), logging, and the primitives of later
 * modules. */
#include "script/l_kube.h"

#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "kubelua/log.h"
#include "kubelua/script.h"

#include "script/l_object.h"
#include "script/l_primitives.h"

/* kube.log.<level>(...) -> nothing: arguments joined with spaces, as print does. */
static int log_at(lua_State *L, kl_log_level_t level)
{
    if (!kl_log_enabled(level))
        return 0;
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    kl_script_t *s = kl_script_of(L);
    char comp[96];
    snprintf(comp, sizeof(comp), "lua:%s", s ? kl_script_name(s) : "?");
    kl_log(level, comp, "%s", lua_tostring(L, -1));
    return 0;
}

static int l_log_debug(lua_State *L)
{
    return log_at(L, KL_LOG_DEBUG);
}

static int l_log_info(lua_State *L)
{
    return log_at(L, KL_LOG_INFO);
}

static int l_log_warn(lua_State *L)
{
    return log_at(L, KL_LOG_WARN);
}

static int l_log_error(lua_State *L)
{
    return log_at(L, KL_LOG_ERROR);
}

int luaopen_kube(lua_State *L)
{
    lua_newtable(L);
    kl_lua_object_register(L);
    kl_lua_primitives_register(L);
    static const luaL_Reg log_funcs[] = {{"debug", l_log_debug},
                                         {"info", l_log_info},
                                         {"warn", l_log_warn},
                                         {"error", l_log_error},
                                         {NULL, NULL}};
    luaL_newlib(L, log_funcs);
    lua_setfield(L, -2, "log");
    return 1;
}
