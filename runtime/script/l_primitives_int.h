/* Internals shared by the l_primitives*.c bindings. */
#ifndef KL_SCRIPT_L_PRIMITIVES_INT_H
#define KL_SCRIPT_L_PRIMITIVES_INT_H

#include <lua.h>
#include <stddef.h>

#include "kubelua/object.h"

/* [-0, +(0|1), e] The value at idx as a document value: a proxy is read in place; nil, none and
 * kube.null give a missing value; anything else (tables, scalars) is converted, and the
 * converted document is kept alive by one value pushed onto the stack (so call this before
 * pushing results, and use absolute indices). */
kl_val_t kl__lua_val(lua_State *L, int idx);

/* [-0, +2, e] Reads a list (a Lua array of proxies or tables, or an array proxy) at idx. Pushes
 * two anchors and returns an array of *n values (valid while the anchors stay on the stack).
 * nil gives an empty list. */
kl_val_t *kl__lua_list(lua_State *L, int idx, size_t *n);

/* The pod spec inside v: spec.template.spec of a workload (DaemonSet, Job), spec of a Pod or
 * pod template, or v itself (a PodSpec). */
kl_val_t kl__pod_spec_of(kl_val_t v);

/* [-0, +0, e] A time argument in seconds (integer or float), floored; def when absent. */
int64_t kl__lua_opt_seconds(lua_State *L, int idx, int64_t def);

/* [-0, +1, m] Pushes a fresh table with n array slots marked as a JSON array (kube.array). */
void kl__lua_new_array(lua_State *L, int n);

/* Registration of the parts, each adding to the module table at the top of the stack. */
void kl__lua_time_register(lua_State *L);
void kl__lua_nodes_register(lua_State *L);
void kl__lua_pods_register(lua_State *L);
void kl__lua_control_register(lua_State *L);

#endif
