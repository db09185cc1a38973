/* script/l_primitives.h - Lua bindings of the C primitives (runtime/primitives): kube.labels,
 * kube.fields, kube.cron, kube.time, kube.nodes, kube.pods, kube.quantity, kube.hash,
 * kube.condition, kube.slow_start and kube.expectations. lua/meta/kube.lua documents the Lua
 * side.
 *
 * Arguments that are objects may be read-only proxies (read in place) or plain tables (converted
 * to a compact document for the duration of the call). Objects returned for sending to the API
 * server are plain tables in kube.copy's form. All functions run on the script's thread.
 */
#ifndef KL_SCRIPT_L_PRIMITIVES_H
#define KL_SCRIPT_L_PRIMITIVES_H

#include <lua.h>

#include "kubelua/expectations.h"

/* [-0, +0, e] Adds the primitives to the module table at the top of the stack. */
void kl_lua_primitives_register(lua_State *L);

/* [-0, +1, m] Pushes an Expectations userdata sharing e (takes its own reference), so the
 * controller runtime can hand its expectations to a policy. */
void kl_lua_push_expectations(lua_State *L, kl_expectations_t *e);
/* [-0, +0, -] The expectations behind an Expectations userdata at idx, or NULL. */
kl_expectations_t *kl_lua_to_expectations(lua_State *L, int idx);

#endif
