/* script/l_object.h - Kubernetes objects in Lua.
 *
 * Cached objects reach Lua as read-only proxies over the compact document (object.h): indexing,
 * #, pairs and ipairs read the document directly, nothing is copied, and any write raises an
 * error that points to kube.copy(). A JSON null reads as nil (like an absent field).
 *
 * Mutable data is plain Lua tables. kube.copy(v) deep-copies a proxy (or a table) into tables
 * that remember whether they were JSON objects or arrays (metatables kube.object / kube.array),
 * and JSON null becomes kube.null, so an object survives copy and encode byte for byte (up to
 * key order: encoding sorts object keys, so equal tables always give equal JSON).
 *
 * Encoding rules for plain tables: a table marked kube.array or kube.object is that; otherwise
 * an empty table is an object, a table whose keys are exactly 1..n is an array, and a table with
 * only string keys is an object; anything else (mixed keys, functions, cycles, depth > 256,
 * invalid UTF-8) raises an error naming the path.
 *
 * All functions run on the script's thread; the ones marked "e" may raise Lua errors.
 */
#ifndef KL_SCRIPT_L_OBJECT_H
#define KL_SCRIPT_L_OBJECT_H

#include <lua.h>

#include "kubelua/json.h"
#include "kubelua/object.h"

/* [-0, +1, m] Pushes a proxy for the document's root (takes its own reference). */
void kl_lua_push_doc(lua_State *L, const kl_obj_t *doc);
/* [-0, +1, m] Pushes a value: scalars as Lua values (null as nil), containers as proxies. */
void kl_lua_push_val(lua_State *L, kl_val_t v);
/* [-0, +0, -] The value behind a proxy at idx, or a missing value if idx is not a proxy. */
kl_val_t kl_lua_to_val(lua_State *L, int idx);
/* [-0, +0, e] Converts the Lua value at idx (proxy, table or scalar) to a new tree (caller
 * frees). Raises on values JSON cannot hold. */
kl_json_t *kl_lua_check_json(lua_State *L, int idx);
/* [-0, +1, e] Pushes a tree as plain marked tables (kube.copy's form). */
void kl_lua_push_json(lua_State *L, const kl_json_t *j);
/* [-0, +0, -] True when idx holds kube.null. */
int kl_lua_is_null(lua_State *L, int idx);
/* [-0, +1, m] Pushes kube.null. */
void kl_lua_push_null(lua_State *L);

/* [-0, +0, e] Adds the object functions to the table at the top of the stack: null, copy,
 * array, object, is_null, is_array, readonly (is a proxy), json.encode/decode, yaml.decode. */
void kl_lua_object_register(lua_State *L);

#endif
