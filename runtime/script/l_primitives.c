/* Lua bindings of the primitives: shared helpers, kube.labels, kube.fields, kube.hash,
 * kube.quantity and kube.condition; the rest is in l_primitives_{time,nodes,pods,control}.c. */
#include "script/l_primitives.h"

#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/hash.h"
#include "kubelua/json.h"
#include "kubelua/quantity.h"
#include "kubelua/selector.h"

#include "script/l_object.h"
#include "script/l_primitives_int.h"

#define DOCBOX_MT "kubelua.DocBox"
#define SELECTOR_MT "kubelua.Selector"
#define FIELDSEL_MT "kubelua.FieldSelector"

static const char array_mt_key = 0; /* registry: the kube.array marker metatable */

/* ---- Helpers ------------------------------------------------------------------------------ */

typedef struct docbox {
    kl_obj_t *doc;
} docbox_t;

static int docbox_gc(lua_State *L)
{
    docbox_t *b = lua_touserdata(L, 1);
    kl_obj_unref(b->doc);
    b->doc = NULL;
    return 0;
}

kl_val_t kl__lua_val(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    kl_val_t v = kl_lua_to_val(L, idx);
    if (!kl_val_missing(v))
        return v;
    int t = lua_type(L, idx);
    if (t == LUA_TNONE || t == LUA_TNIL || kl_lua_is_null(L, idx))
        return v;
    docbox_t *b = lua_newuserdatauv(L, sizeof(*b), 0);
    b->doc = NULL;
    luaL_setmetatable(L, DOCBOX_MT);
    kl_json_t *j = kl_lua_check_json(L, idx);
    int rc = kl_obj_from_json(j, &b->doc);
    kl_json_free(j);
    if (rc < 0)
        luaL_error(L, "cannot convert the value: %s", kl_strerror(rc));
    return kl_obj_root(b->doc);
}

kl_val_t *kl__lua_list(lua_State *L, int idx, size_t *n)
{
    idx = lua_absindex(L, idx);
    kl_val_t proxy = kl_lua_to_val(L, idx);
    size_t count;
    if (!kl_val_missing(proxy)) {
        if (kl_val_type(proxy) != KL_TARRAY)
            luaL_argerror(L, idx, "expected a list");
        count = kl_val_len(proxy);
    } else if (lua_isnoneornil(L, idx)) {
        count = 0;
    } else {
        luaL_checktype(L, idx, LUA_TTABLE);
        count = (size_t)luaL_len(L, idx);
    }
    kl_val_t *vals = lua_newuserdatauv(L, (count ? count : 1) * sizeof(*vals), 0);
    lua_newtable(L); /* anchors converted elements */
    int anchor = lua_gettop(L);
    for (size_t i = 0; i < count; i++) {
        if (!kl_val_missing(proxy)) {
            vals[i] = kl_val_at(proxy, (uint32_t)i);
            continue;
        }
        lua_geti(L, idx, (lua_Integer)i + 1);
        int top = lua_gettop(L);
        vals[i] = kl__lua_val(L, top);
        if (lua_gettop(L) > top)
            lua_rawseti(L, anchor, (lua_Integer)i + 1);
        lua_pop(L, 1);
    }
    *n = count;
    return vals;
}

kl_val_t kl__pod_spec_of(kl_val_t v)
{
    kl_val_t spec = kl_val_get(v, "spec");
    if (kl_val_type(spec) != KL_TOBJECT)
        return v;
    kl_val_t tspec = kl_val_path(spec, "template", "spec", NULL);
    return kl_val_type(tspec) == KL_TOBJECT ? tspec : spec;
}

int64_t kl__lua_opt_seconds(lua_State *L, int idx, int64_t def)
{
    if (lua_isnoneornil(L, idx))
        return def;
    if (lua_isinteger(L, idx))
        return (int64_t)lua_tointeger(L, idx);
    lua_Number n = luaL_checknumber(L, idx);
    if (!(n >= -9.2e18 && n <= 9.2e18))
        luaL_argerror(L, idx, "time out of range");
    return (int64_t)floor(n);
}

void kl__lua_new_array(lua_State *L, int n)
{
    lua_createtable(L, n, 0);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_mt_key);
    lua_setmetatable(L, -2);
}

/* ---- kube.labels -------------------------------------------------------------------------- */

typedef struct selbox {
    kl_selector_t *sel;
} selbox_t;

static int selbox_gc(lua_State *L)
{
    selbox_t *b = lua_touserdata(L, 1);
    kl_selector_free(b->sel);
    b->sel = NULL;
    return 0;
}

/* A metav1.LabelSelector has matchLabels and matchExpressions only: anything else is most likely
 * a map of labels given where a selector was meant, which would otherwise match everything. */
static int check_selector_fields(kl_val_t v, kl_errinfo_t *err)
{
    uint32_t n = kl_val_type(v) == KL_TOBJECT ? kl_val_len(v) : 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *key;
        kl_val_member(v, i, &key, NULL);
        if (strcmp(key, "matchLabels") != 0 && strcmp(key, "matchExpressions") != 0)
            return kl_err(err, KL_EINVAL,
                          "label selector: unknown field \"%s\" (a selector has matchLabels and "
                          "matchExpressions; kube.labels.from_set takes a map of labels)",
                          key);
    }
    return 0;
}

/* [-0, +1|2, e] Compiles the selector spec at idx into a new Selector userdata (pushed); on a
 * parse error pushes nil and the message instead and returns NULL. */
static kl_selector_t *compile_selector(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    selbox_t *b = lua_newuserdatauv(L, sizeof(*b), 0);
    b->sel = NULL;
    luaL_setmetatable(L, SELECTOR_MT);
    int box = lua_gettop(L);
    kl_errinfo_t err;
    int rc;
    if (lua_type(L, idx) == LUA_TSTRING) {
        rc = kl_selector_parse(lua_tostring(L, idx), &b->sel, &err);
    } else if (lua_isnoneornil(L, idx) || kl_lua_is_null(L, idx) || lua_istable(L, idx) ||
               !kl_val_missing(kl_lua_to_val(L, idx))) {
        kl_val_t v = kl__lua_val(L, idx);
        rc = check_selector_fields(v, &err);
        if (rc == 0)
            rc = kl_selector_from_val(v, true, &b->sel, &err);
        lua_settop(L, box);
    } else {
        luaL_typeerror(L, idx, "selector string or table");
        return NULL;
    }
    if (rc == KL_ENOMEM)
        luaL_error(L, "out of memory");
    if (rc < 0) {
        lua_pop(L, 1);
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return NULL;
    }
    return b->sel;
}

static kl_selector_t *check_selector(lua_State *L, int idx)
{
    selbox_t *b = luaL_checkudata(L, idx, SELECTOR_MT);
    return b->sel;
}

/* kube.labels.selector(spec) -> Selector | nil, err   [-1, +1|2, e] */
static int l_labels_selector(lua_State *L)
{
    return compile_selector(L, 1) ? 1 : 2;
}

/* kube.labels.from_set(labels) -> Selector | nil, err   [-1, +1|2, e] */
static int l_labels_from_set(lua_State *L)
{
    selbox_t *b = lua_newuserdatauv(L, sizeof(*b), 0);
    b->sel = NULL;
    luaL_setmetatable(L, SELECTOR_MT);
    int box = lua_gettop(L);
    kl_errinfo_t err;
    int rc = kl_selector_from_set(kl__lua_val(L, 1), &b->sel, &err);
    lua_settop(L, box);
    if (rc == KL_ENOMEM)
        return luaL_error(L, "out of memory");
    if (rc < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    return 1;
}

/* selector:matches(labels) -> boolean   [-2, +1, e] */
static int l_selector_matches(lua_State *L)
{
    kl_selector_t *s = check_selector(L, 1);
    lua_pushboolean(L, kl_selector_matches(s, kl__lua_val(L, 2)));
    return 1;
}

/* kube.labels.match(selector, labels) -> boolean | nil, err   [-2, +1|2, e] */
static int l_labels_match(lua_State *L)
{
    kl_selector_t *s;
    if (luaL_testudata(L, 1, SELECTOR_MT)) {
        s = check_selector(L, 1);
    } else {
        s = compile_selector(L, 1);
        if (s == NULL)
            return 2;
    }
    lua_pushboolean(L, kl_selector_matches(s, kl__lua_val(L, 2)));
    return 1;
}

/* selector:string() -> string   [-1, +1, m] */
static int l_selector_string(lua_State *L)
{
    kl_selector_t *s = check_selector(L, 1);
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc = kl_selector_format(s, &b);
    if (rc == 0)
        lua_pushlstring(L, b.data ? b.data : "", b.len);
    kl_buf_cleanup(&b);
    if (rc < 0)
        return luaL_error(L, "out of memory");
    return 1;
}

static int l_selector_tostring(lua_State *L)
{
    kl_selector_t *s = check_selector(L, 1);
    if (kl_selector_is_nothing(s)) {
        lua_pushliteral(L, "kube.Selector(nothing)");
        return 1;
    }
    l_selector_string(L);
    lua_pushfstring(L, "kube.Selector(%s)", lua_tostring(L, -1));
    return 1;
}

static int l_selector_empty(lua_State *L)
{
    lua_pushboolean(L, kl_selector_is_empty(check_selector(L, 1)));
    return 1;
}

static int l_selector_nothing(lua_State *L)
{
    lua_pushboolean(L, kl_selector_is_nothing(check_selector(L, 1)));
    return 1;
}

/* selector:exact(key) -> value | nil   [-2, +1, m] */
static int l_selector_exact(lua_State *L)
{
    kl_selector_t *s = check_selector(L, 1);
    const char *v = kl_selector_exact(s, luaL_checkstring(L, 2));
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    return 1;
}

/* ---- kube.fields -------------------------------------------------------------------------- */

typedef struct fsbox {
    kl_fieldsel_t *fs;
} fsbox_t;

static int fsbox_gc(lua_State *L)
{
    fsbox_t *b = lua_touserdata(L, 1);
    kl_fieldsel_free(b->fs);
    b->fs = NULL;
    return 0;
}

/* kube.fields.selector(s) -> FieldSelector | nil, err   [-1, +1|2, e] */
static int l_fields_selector(lua_State *L)
{
    const char *s = luaL_checkstring(L, 1);
    fsbox_t *b = lua_newuserdatauv(L, sizeof(*b), 0);
    b->fs = NULL;
    luaL_setmetatable(L, FIELDSEL_MT);
    kl_errinfo_t err;
    int rc = kl_fieldsel_parse(s, &b->fs, &err);
    if (rc == KL_ENOMEM)
        return luaL_error(L, "out of memory");
    if (rc < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    return 1;
}

static kl_fieldsel_t *check_fieldsel(lua_State *L, int idx)
{
    fsbox_t *b = luaL_checkudata(L, idx, FIELDSEL_MT);
    return b->fs;
}

/* The value of a field: the member named by the whole path ({["metadata.name"] = "x"}), else
 * the string at that dotted path of an object (pod.metadata.name). */
static const char *field_from_val(const char *field, bool *known, void *ud)
{
    (void)known;
    const kl_val_t *fields = ud;
    kl_val_t v = kl_val_get(*fields, field);
    if (!kl_val_missing(v))
        return kl_val_str(v, NULL);
    v = *fields;
    for (const char *p = field; kl_val_type(v) == KL_TOBJECT;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        v = kl_val_getn(v, p, len);
        if (dot == NULL)
            return kl_val_str(v, NULL);
        p = dot + 1;
    }
    return NULL;
}

/* fieldsel:matches(fields) -> boolean: fields maps field paths to values
 * ({["status.phase"] = "Running"}), or is the object itself (its fields are read at those
 * paths); absent fields read as "".   [-2, +1, e] */
static int l_fieldsel_matches(lua_State *L)
{
    kl_fieldsel_t *fs = check_fieldsel(L, 1);
    kl_val_t fields = kl__lua_val(L, 2);
    int rc = kl_fieldsel_matches(fs, field_from_val, &fields, NULL);
    lua_pushboolean(L, rc == 1);
    return 1;
}

static int l_fieldsel_string(lua_State *L)
{
    kl_fieldsel_t *fs = check_fieldsel(L, 1);
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc = kl_fieldsel_format(fs, &b);
    if (rc == 0)
        lua_pushlstring(L, b.data ? b.data : "", b.len);
    kl_buf_cleanup(&b);
    if (rc < 0)
        return luaL_error(L, "out of memory");
    return 1;
}

static int l_fieldsel_exact(lua_State *L)
{
    const char *v = kl_fieldsel_exact(check_fieldsel(L, 1), luaL_checkstring(L, 2));
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    return 1;
}

static int l_fieldsel_empty(lua_State *L)
{
    lua_pushboolean(L, kl_fieldsel_is_empty(check_fieldsel(L, 1)));
    return 1;
}

/* ---- kube.hash, kube.quantity, kube.condition --------------------------------------------- */

/* kube.hash(value [, collision_count]) -> string   [-2, +1, e] */
static int l_hash(lua_State *L)
{
    luaL_checkany(L, 1);
    uint32_t cc = 0;
    bool has_cc = !lua_isnoneornil(L, 2);
    if (has_cc) {
        lua_Integer c = luaL_checkinteger(L, 2);
        luaL_argcheck(L, c >= 0 && c <= UINT32_MAX, 2, "collision count out of range");
        cc = (uint32_t)c;
    }
    char out[KL_HASH_STR_MAX];
    if (kl_hash_string(kl__lua_val(L, 1), has_cc ? &cc : NULL, out) < 0)
        return luaL_error(L, "out of memory");
    lua_pushstring(L, out);
    return 1;
}

/* kube.quantity.parse(q) -> value, milli | nil, err   [-1, +2, m] */
static int l_quantity_parse(lua_State *L)
{
    kl_quantity_t q;
    kl_errinfo_t err;
    int rc;
    if (lua_type(L, 1) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, 1, &len);
        rc = kl_quantity_parse(s, len, &q, &err);
    } else if (lua_type(L, 1) == LUA_TNUMBER) {
        rc = kl_quantity_from_val(kl__lua_val(L, 1), &q, &err);
    } else {
        return luaL_typeerror(L, 1, "string or number");
    }
    if (rc < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    lua_pushinteger(L, (lua_Integer)kl_quantity_value(&q));
    lua_pushinteger(L, (lua_Integer)kl_quantity_milli(&q));
    return 2;
}

/* kube.quantity.cmp(a, b) -> -1 | 0 | 1 | nil, err   [-2, +1|2, m] */
static int l_quantity_cmp(lua_State *L)
{
    kl_quantity_t q[2];
    for (int i = 0; i < 2; i++) {
        kl_errinfo_t err;
        int rc;
        if (lua_type(L, i + 1) == LUA_TSTRING) {
            size_t len;
            const char *s = lua_tolstring(L, i + 1, &len);
            rc = kl_quantity_parse(s, len, &q[i], &err);
        } else if (lua_type(L, i + 1) == LUA_TNUMBER) {
            rc = kl_quantity_from_val(kl__lua_val(L, i + 1), &q[i], &err);
        } else {
            return luaL_typeerror(L, i + 1, "string or number");
        }
        if (rc < 0) {
            luaL_pushfail(L);
            lua_pushstring(L, err.msg);
            return 2;
        }
    }
    lua_pushinteger(L, kl_quantity_cmp(&q[0], &q[1]));
    return 1;
}

/* kube.condition(obj, type) -> condition | nil: the element of obj.status.conditions with that
 * type (the element itself: a proxy for a proxy, the table for a table).   [-2, +1, e] */
static int l_condition(lua_State *L)
{
    const char *type = luaL_checkstring(L, 2);
    if (lua_type(L, 1) != LUA_TTABLE) {
        kl_val_t obj = kl_lua_to_val(L, 1);
        kl_val_t conds = kl_val_path(obj, "status", "conditions", NULL);
        uint32_t n = kl_val_type(conds) == KL_TARRAY ? kl_val_len(conds) : 0;
        for (uint32_t i = 0; i < n; i++) {
            kl_val_t c = kl_val_at(conds, i);
            const char *t = kl_val_str(kl_val_get(c, "type"), NULL);
            if (t && strcmp(t, type) == 0) {
                kl_lua_push_val(L, c);
                return 1;
            }
        }
        lua_pushnil(L);
        return 1;
    }
    lua_settop(L, 2);
    if (lua_getfield(L, 1, "status") != LUA_TTABLE ||
        lua_getfield(L, 3, "conditions") != LUA_TTABLE) {
        lua_pushnil(L);
        return 1;
    }
    lua_Integer n = luaL_len(L, 4);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, 4, i) == LUA_TTABLE && lua_getfield(L, 5, "type") == LUA_TSTRING &&
            strcmp(lua_tostring(L, 6), type) == 0) {
            lua_pop(L, 1);
            return 1;
        }
        lua_settop(L, 4);
    }
    lua_pushnil(L);
    return 1;
}

/* ---- Registration ------------------------------------------------------------------------- */

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
                      lua_CFunction tostring)
{
    if (!luaL_newmetatable(L, name)) {
        lua_pop(L, 1);
        return;
    }
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    if (tostring) {
        lua_pushcfunction(L, tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

static int l_fieldsel_tostring(lua_State *L)
{
    l_fieldsel_string(L);
    lua_pushfstring(L, "kube.FieldSelector(%s)", lua_tostring(L, -1));
    return 1;
}

void kl_lua_primitives_register(lua_State *L)
{
    int mod = lua_gettop(L);
    luaL_checkstack(L, 8, "registering the primitives");
    if (luaL_newmetatable(L, DOCBOX_MT)) {
        lua_pushcfunction(L, docbox_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    /* The kube.array marker, taken from an array built the l_object.c way. */
    kl_json_t *empty = kl_json_array();
    if (empty == NULL)
        luaL_error(L, "out of memory");
    kl_lua_push_json(L, empty);
    kl_json_free(empty);
    lua_getmetatable(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &array_mt_key);
    lua_pop(L, 1);

    static const luaL_Reg selector_methods[] = {
        {"matches", l_selector_matches}, {"string", l_selector_string}, {"empty", l_selector_empty},
        {"nothing", l_selector_nothing}, {"exact", l_selector_exact},   {NULL, NULL}};
    new_class(L, SELECTOR_MT, selector_methods, selbox_gc, l_selector_tostring);
    static const luaL_Reg fieldsel_methods[] = {{"matches", l_fieldsel_matches},
                                                {"string", l_fieldsel_string},
                                                {"exact", l_fieldsel_exact},
                                                {"empty", l_fieldsel_empty},
                                                {NULL, NULL}};
    new_class(L, FIELDSEL_MT, fieldsel_methods, fsbox_gc, l_fieldsel_tostring);

    static const luaL_Reg labels_funcs[] = {{"selector", l_labels_selector},
                                            {"from_set", l_labels_from_set},
                                            {"match", l_labels_match},
                                            {NULL, NULL}};
    luaL_newlib(L, labels_funcs);
    lua_setfield(L, mod, "labels");
    static const luaL_Reg fields_funcs[] = {{"selector", l_fields_selector}, {NULL, NULL}};
    luaL_newlib(L, fields_funcs);
    lua_setfield(L, mod, "fields");
    static const luaL_Reg quantity_funcs[] = {
        {"parse", l_quantity_parse}, {"cmp", l_quantity_cmp}, {NULL, NULL}};
    luaL_newlib(L, quantity_funcs);
    lua_setfield(L, mod, "quantity");
    lua_pushcfunction(L, l_hash);
    lua_setfield(L, mod, "hash");
    lua_pushcfunction(L, l_condition);
    lua_setfield(L, mod, "condition");

    kl__lua_time_register(L);
    kl__lua_nodes_register(L);
    kl__lua_pods_register(L);
    kl__lua_control_register(L);
    lua_settop(L, mod);
}
