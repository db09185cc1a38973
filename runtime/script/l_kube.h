/* script/l_kube.h - the `kube` Lua module: the C primitives policies call. */
#ifndef KL_SCRIPT_L_KUBE_H
#define KL_SCRIPT_L_KUBE_H

#include <lua.h>

/* [-0, +1, e] Opens the module (a new table). Register it as a host module:
 *     {"kube", luaopen_kube} in kl_script_opts_t.modules. */
int luaopen_kube(lua_State *L);

#endif
