/* Read-only proxies over compact documents, kube.copy, kube.null and JSON conversion.
 * See l_object.h for the rules. */
#include "script/l_object.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/log.h"

#define PROXY_MT "kubelua.Object"
#define MAX_DEPTH 256

typedef struct proxy {
    const kl_obj_t *doc;
    uint64_t cell;
} proxy_t;

/* Registry keys: addresses of these statics. */
static const char cache_key = 0;  /* weak-valued table: value id -> proxy */
static const char array_key = 0;  /* metatable marking JSON arrays */
static const char object_key = 0; /* metatable marking JSON objects */
static const char null_sentinel = 0;

void kl_lua_push_null(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&null_sentinel);
}

int kl_lua_is_null(lua_State *L, int idx)
{
    return lua_islightuserdata(L, idx) && lua_touserdata(L, idx) == &null_sentinel;
}

static proxy_t *to_proxy(lua_State *L, int idx)
{
    return luaL_testudata(L, idx, PROXY_MT);
}

kl_val_t kl_lua_to_val(lua_State *L, int idx)
{
    proxy_t *p = to_proxy(L, idx);
    if (p == NULL)
        return (kl_val_t){0};
    return (kl_val_t){p->doc, p->cell};
}

static void object_init(lua_State *L);

static void push_proxy(lua_State *L, kl_val_t v)
{
    /* One proxy per node while it is alive: identity for ==, and fewer allocations. */
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key) != LUA_TTABLE) {
        /* First object in a state whose policy never required "kube". */
        lua_pop(L, 1);
        object_init(L);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key);
    }
    void *id = (void *)kl_val_id(v);
    if (lua_rawgetp(L, -1, id) == LUA_TUSERDATA) {
        proxy_t *p = lua_touserdata(L, -1);
        if (p->doc == v.doc && p->cell == v.cell) {
            lua_remove(L, -2);
            return;
        }
    }
    lua_pop(L, 1);
    proxy_t *p = lua_newuserdatauv(L, sizeof(*p), 0);
    p->doc = NULL;
    p->cell = v.cell;
    luaL_setmetatable(L, PROXY_MT);
    p->doc = kl_obj_ref(v.doc);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, -3, id);
    lua_remove(L, -2);
}

void kl_lua_push_val(lua_State *L, kl_val_t v)
{
    switch (kl_val_type(v)) {
    case KL_TNULL:
        lua_pushnil(L);
        break;
    case KL_TTRUE:
        lua_pushboolean(L, 1);
        break;
    case KL_TFALSE:
        lua_pushboolean(L, 0);
        break;
    case KL_TINT:
        lua_pushinteger(L, (lua_Integer)kl_val_int(v));
        break;
    case KL_TDOUBLE:
        lua_pushnumber(L, kl_val_number(v));
        break;
    case KL_TSTRING: {
        size_t len;
        const char *s = kl_val_str(v, &len);
        lua_pushlstring(L, s, len);
        break;
    }
    case KL_TARRAY:
    case KL_TOBJECT:
        push_proxy(L, v);
        break;
    }
}

void kl_lua_push_doc(lua_State *L, const kl_obj_t *doc)
{
    kl_lua_push_val(L, kl_obj_root(doc));
}

/* ---- Proxy metamethods ------------------------------------------------------------------ */

/* __index(proxy, key)   [-0, +1, -] */
static int proxy_index(lua_State *L)
{
    proxy_t *p = lua_touserdata(L, 1);
    kl_val_t v = {p->doc, p->cell};
    if (kl_val_type(v) == KL_TOBJECT) {
        size_t len;
        const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &len) : NULL;
        if (k == NULL) {
            lua_pushnil(L);
            return 1;
        }
        kl_lua_push_val(L, kl_val_getn(v, k, len));
        return 1;
    }
    int isnum;
    lua_Integer i = lua_tointegerx(L, 2, &isnum);
    if (!isnum || i < 1 || i > (lua_Integer)kl_val_len(v)) {
        lua_pushnil(L);
        return 1;
    }
    kl_lua_push_val(L, kl_val_at(v, (uint32_t)(i - 1)));
    return 1;
}

/* __newindex: cached objects are immutable.   [-0, +0, e] */
static int proxy_newindex(lua_State *L)
{
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
    if (k)
        return luaL_error(L,
                          "attempt to modify a read-only object (field '%s'); use kube.copy() "
                          "to get a mutable copy",
                          k);
    return luaL_error(L, "attempt to modify a read-only object; use kube.copy() to get a mutable "
                         "copy");
}

/* __len: array length; 0 for objects, as for Lua tables with string keys.   [-0, +1, -] */
static int proxy_len(lua_State *L)
{
    proxy_t *p = lua_touserdata(L, 1);
    kl_val_t v = {p->doc, p->cell};
    lua_pushinteger(L, kl_val_type(v) == KL_TARRAY ? (lua_Integer)kl_val_len(v) : 0);
    return 1;
}

/* Iterator of __pairs: upvalue 1 is the next member index.   [-0, +2, -] */
static int proxy_next(lua_State *L)
{
    proxy_t *p = lua_touserdata(L, 1);
    kl_val_t v = {p->doc, p->cell};
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(1));
    uint32_t n = kl_val_len(v);
    bool obj = kl_val_type(v) == KL_TOBJECT;
    while ((uint32_t)i < n) {
        const char *key;
        size_t keylen;
        kl_val_t m = obj ? kl_val_member(v, (uint32_t)i, &key, &keylen) : kl_val_at(v, (uint32_t)i);
        i++;
        if (kl_val_type(m) == KL_TNULL)
            continue; /* null reads as absent */
        lua_pushinteger(L, i);
        lua_replace(L, lua_upvalueindex(1));
        if (obj)
            lua_pushlstring(L, key, keylen);
        else
            lua_pushinteger(L, i);
        kl_val_t m2 = m;
        kl_lua_push_val(L, m2);
        return 2;
    }
    lua_pushinteger(L, i);
    lua_replace(L, lua_upvalueindex(1));
    lua_pushnil(L);
    return 1;
}

/* __pairs: members in document order, or elements with their 1-based index.   [-0, +3, m] */
static int proxy_pairs(lua_State *L)
{
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, proxy_next, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* __tostring: the compact JSON, cut at 4 KiB.   [-0, +1, m] */
static int proxy_tostring(lua_State *L)
{
    proxy_t *p = lua_touserdata(L, 1);
    kl_buf_t b;
    kl_buf_init(&b, 4096);
    int rc = kl_val_encode((kl_val_t){p->doc, p->cell}, &b);
    if (rc == KL_ETOOBIG || rc == 0) {
        lua_pushlstring(L, b.data ? b.data : "", b.len);
        if (rc)
            lua_pushliteral(L, "...");
        if (rc)
            lua_concat(L, 2);
    } else {
        lua_pushliteral(L, "<object>");
    }
    kl_buf_cleanup(&b);
    return 1;
}

static int proxy_gc(lua_State *L)
{
    proxy_t *p = lua_touserdata(L, 1);
    kl_obj_unref(p->doc);
    p->doc = NULL;
    return 0;
}

static int proxy_eq(lua_State *L)
{
    proxy_t *a = to_proxy(L, 1), *b = to_proxy(L, 2);
    lua_pushboolean(L, a && b && a->doc == b->doc && a->cell == b->cell);
    return 1;
}

/* ---- Plain tables ----------------------------------------------------------------------- */

static void set_marker(lua_State *L, int idx, const char *key)
{
    idx = lua_absindex(L, idx);
    lua_rawgetp(L, LUA_REGISTRYINDEX, key);
    lua_setmetatable(L, idx);
}

/* Pushes a deep copy of v as marked tables; null becomes kube.null.   [-0, +1, m] */
static void push_copy(lua_State *L, kl_val_t v, int depth)
{
    kl_type_t t = kl_val_type(v);
    if (t != KL_TARRAY && t != KL_TOBJECT) {
        if (t == KL_TNULL)
            kl_lua_push_null(L);
        else
            kl_lua_push_val(L, v);
        return;
    }
    if (depth > MAX_DEPTH)
        luaL_error(L, "object nested too deeply to copy");
    luaL_checkstack(L, 4, "copying an object");
    uint32_t n = kl_val_len(v);
    if (t == KL_TARRAY) {
        lua_createtable(L, (int)n, 0);
        for (uint32_t i = 0; i < n; i++) {
            push_copy(L, kl_val_at(v, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        set_marker(L, -1, &array_key);
    } else {
        lua_createtable(L, 0, (int)n);
        for (uint32_t i = 0; i < n; i++) {
            const char *k;
            size_t kl;
            kl_val_t m = kl_val_member(v, i, &k, &kl);
            lua_pushlstring(L, k, kl);
            push_copy(L, m, depth + 1);
            lua_rawset(L, -3);
        }
        set_marker(L, -1, &object_key);
    }
}

static int is_marked(lua_State *L, int idx, const char *key)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, key);
    int eq = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return eq;
}

/* Deep copy of a plain table (keeps markers).   [-0, +1, e] */
static void copy_table(lua_State *L, int idx, int depth)
{
    idx = lua_absindex(L, idx);
    if (depth > MAX_DEPTH)
        luaL_error(L, "table nested too deeply to copy (or it contains a cycle)");
    luaL_checkstack(L, 6, "copying a table");
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pushvalue(L, -2);
        if (lua_type(L, -2) == LUA_TTABLE) {
            copy_table(L, -2, depth + 1);
        } else if (to_proxy(L, -2)) {
            push_copy(L, kl_lua_to_val(L, -2), depth + 1);
        } else {
            lua_pushvalue(L, -2);
        }
        lua_rawset(L, -4);
        lua_pop(L, 1);
    }
    if (lua_getmetatable(L, idx))
        lua_setmetatable(L, -2);
}

/* kube.copy(v) -> mutable deep copy   [-1, +1, e] */
static int l_copy(lua_State *L)
{
    luaL_checkany(L, 1);
    if (to_proxy(L, 1))
        push_copy(L, kl_lua_to_val(L, 1), 0);
    else if (lua_type(L, 1) == LUA_TTABLE)
        copy_table(L, 1, 0);
    else
        lua_pushvalue(L, 1);
    return 1;
}

/* kube.array([t]) / kube.object([t]) mark a table (a new one when none is given). */
static int mark(lua_State *L, const char *key)
{
    if (lua_isnoneornil(L, 1))
        lua_newtable(L);
    else
        luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    set_marker(L, 1, key);
    return 1;
}

static int l_array(lua_State *L)
{
    return mark(L, &array_key);
}

static int l_object(lua_State *L)
{
    return mark(L, &object_key);
}

static int l_is_null(lua_State *L)
{
    lua_pushboolean(L, kl_lua_is_null(L, 1));
    return 1;
}

static int l_is_array(lua_State *L)
{
    proxy_t *p = to_proxy(L, 1);
    if (p)
        lua_pushboolean(L, kl_val_type((kl_val_t){p->doc, p->cell}) == KL_TARRAY);
    else
        lua_pushboolean(L, lua_type(L, 1) == LUA_TTABLE && is_marked(L, 1, &array_key));
    return 1;
}

static int l_readonly(lua_State *L)
{
    lua_pushboolean(L, to_proxy(L, 1) != NULL);
    return 1;
}

/* ---- Lua -> JSON ------------------------------------------------------------------------ */

/* Conversion may raise at any depth. Every node is attached to its parent as soon as it is
 * created, and the root is held by a box whose __gc frees it, so an error never leaks. */
typedef struct jbox {
    kl_json_t *j;
} jbox_t;

static int jbox_gc(lua_State *L)
{
    jbox_t *b = lua_touserdata(L, 1);
    kl_json_free(b->j);
    b->j = NULL;
    return 0;
}

static jbox_t *new_jbox(lua_State *L)
{
    jbox_t *b = lua_newuserdatauv(L, sizeof(*b), 0);
    b->j = NULL;
    if (luaL_newmetatable(L, "kubelua.JsonBox")) {
        lua_pushcfunction(L, jbox_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

typedef struct enc {
    lua_State *L;
    char path[256];
} enc_t;

static int utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

static int cmp_keys(const void *a, const void *b)
{
    const kl_jmember_t *x = a, *y = b;
    size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

static int fail(enc_t *e, const char *what)
{
    return luaL_error(e->L, "cannot encode %s%s%s", what, *e->path ? " at " : "", e->path);
}

static kl_json_t *checked(enc_t *e, kl_json_t *j)
{
    if (j == NULL)
        luaL_error(e->L, "out of memory");
    return j;
}

static kl_json_t *scalar_to_json(enc_t *e, int idx)
{
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return checked(e, kl_json_null());
    case LUA_TBOOLEAN:
        return checked(e, kl_json_bool(lua_toboolean(L, idx)));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return checked(e, kl_json_int((int64_t)lua_tointeger(L, idx)));
        return checked(e, kl_json_double(lua_tonumber(L, idx)));
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (!utf8_valid((const unsigned char *)s, len))
            fail(e, "a string that is not valid UTF-8");
        return checked(e, kl_json_stringn(s, len));
    }
    case LUA_TLIGHTUSERDATA:
        if (kl_lua_is_null(L, idx))
            return checked(e, kl_json_null());
        break;
    case LUA_TUSERDATA:
        if (to_proxy(L, idx))
            return checked(e, kl_json_from_val(kl_lua_to_val(L, idx)));
        break;
    default:
        break;
    }
    char what[64];
    snprintf(what, sizeof(what), "a value of type %s", luaL_typename(L, idx));
    fail(e, what);
    return NULL;
}

static void fill_table(enc_t *e, int idx, kl_json_t *node, int depth);

/* A new node for the value at idx, attached through attach(parent, ...) before it is filled. */
static void add_value(enc_t *e, int idx, int depth, kl_json_t *parent, const char *key,
                      size_t keylen)
{
    lua_State *L = e->L;
    kl_json_t *node;
    int is_table = lua_type(L, idx) == LUA_TTABLE;
    if (is_table) {
        if (depth > MAX_DEPTH)
            fail(e, "a table nested too deeply (or containing a cycle)");
        node = checked(e, kl_json_object()); /* the type is settled in fill_table */
    } else {
        node = scalar_to_json(e, idx);
    }
    int rc = key ? kl_json_setn(parent, key, keylen, node) : kl_json_append(parent, node);
    if (rc < 0)
        luaL_error(L, "out of memory");
    if (is_table)
        fill_table(e, idx, node, depth);
}

static void fill_table(enc_t *e, int idx, kl_json_t *node, int depth)
{
    lua_State *L = e->L;
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 6, "encoding a table");
    int as_array = is_marked(L, idx, &array_key);
    int as_object = is_marked(L, idx, &object_key);
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    size_t count = 0;
    int only_strings = 1, only_ints = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        if (lua_type(L, -2) != LUA_TSTRING)
            only_strings = 0;
        if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 || lua_tointeger(L, -2) > n)
            only_ints = 0;
        lua_pop(L, 1);
    }
    if (!as_array && !as_object) {
        if (count == 0)
            as_object = 1;
        else if (only_ints && (lua_Integer)count == n)
            as_array = 1;
        else if (only_strings)
            as_object = 1;
        else
            fail(e, "a table that mixes array and object keys");
    }
    size_t plen = strlen(e->path);
    if (as_array) {
        node->type = KL_TARRAY;
        for (lua_Integer i = 1; i <= n; i++) {
            snprintf(e->path + plen, sizeof(e->path) - plen, "[%lld]", (long long)i);
            lua_rawgeti(L, idx, i);
            add_value(e, lua_gettop(L), depth + 1, node, NULL, 0);
            lua_pop(L, 1);
        }
        e->path[plen] = '\0';
        return;
    }
    if (count && !only_strings)
        fail(e, "a table key that is not a string");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t kl;
        const char *k = lua_tolstring(L, -2, &kl);
        if (!utf8_valid((const unsigned char *)k, kl))
            fail(e, "a key that is not valid UTF-8");
        snprintf(e->path + plen, sizeof(e->path) - plen, "%s%.*s", plen ? "." : "",
                 (int)(kl > 64 ? 64 : kl), k);
        add_value(e, lua_gettop(L), depth + 1, node, k, kl);
        lua_pop(L, 1);
    }
    e->path[plen] = '\0';
    /* Deterministic output: members sorted by key. */
    if (node->len > 1)
        qsort(node->u.members, node->len, sizeof(kl_jmember_t), cmp_keys);
}

kl_json_t *kl_lua_check_json(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    enc_t e = {.L = L};
    jbox_t *box = new_jbox(L);
    /* The root lives in a one-element array held by the box until it is complete. */
    box->j = checked(&e, kl_json_array());
    add_value(&e, idx, 0, box->j, NULL, 0);
    kl_json_t *root = kl_json_take_at(box->j, 0);
    lua_pop(L, 1); /* the box frees the empty array when collected */
    return root;
}

/* ---- JSON -> Lua ------------------------------------------------------------------------ */

static void push_json(lua_State *L, const kl_json_t *j, int depth)
{
    if (depth > MAX_DEPTH)
        luaL_error(L, "value nested too deeply");
    luaL_checkstack(L, 4, "decoding JSON");
    switch (j->type) {
    case KL_TNULL:
        kl_lua_push_null(L);
        return;
    case KL_TTRUE:
    case KL_TFALSE:
        lua_pushboolean(L, j->type == KL_TTRUE);
        return;
    case KL_TINT:
        lua_pushinteger(L, (lua_Integer)j->u.i);
        return;
    case KL_TDOUBLE:
        lua_pushnumber(L, j->u.d);
        return;
    case KL_TSTRING:
        lua_pushlstring(L, j->u.s, j->len);
        return;
    case KL_TARRAY:
        lua_createtable(L, (int)j->len, 0);
        for (uint32_t i = 0; i < j->len; i++) {
            push_json(L, j->u.items[i], depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        set_marker(L, -1, &array_key);
        return;
    case KL_TOBJECT:
        lua_createtable(L, 0, (int)j->len);
        for (uint32_t i = 0; i < j->len; i++) {
            lua_pushlstring(L, j->u.members[i].key, j->u.members[i].keylen);
            push_json(L, j->u.members[i].val, depth + 1);
            lua_rawset(L, -3);
        }
        set_marker(L, -1, &object_key);
        return;
    }
}

void kl_lua_push_json(lua_State *L, const kl_json_t *j)
{
    push_json(L, j, 0);
}

/* kube.json.decode(s) -> value | nil, err   [-1, +1|2, m] */
static int l_json_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    jbox_t *b = new_jbox(L);
    kl_errinfo_t err;
    if (kl_json_parse(s, len, NULL, &b->j, &err) < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    push_json(L, b->j, 0);
    return 1;
}

/* kube.yaml.decode(s) -> array of documents | nil, err   [-1, +1|2, m] */
static int l_yaml_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    jbox_t *b = new_jbox(L);
    kl_errinfo_t err;
    kl_json_t **docs;
    size_t n;
    if (kl_yaml_parse(s, len, NULL, &docs, &n, &err) < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    b->j = kl_json_array();
    for (size_t i = 0; i < n; i++) {
        if (b->j == NULL || kl_json_append(b->j, docs[i]) < 0)
            docs[i] = NULL;
    }
    free(docs);
    if (b->j == NULL)
        return luaL_error(L, "out of memory");
    push_json(L, b->j, 0);
    return 1;
}

/* kube.json.encode(v) -> string   [-1, +1, e] */
static int l_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    jbox_t *b = new_jbox(L);
    proxy_t *p = to_proxy(L, 1);
    kl_buf_t out;
    if (p) {
        kl_buf_init(&out, 0);
        if (kl_val_encode((kl_val_t){p->doc, p->cell}, &out) < 0) {
            kl_buf_cleanup(&out);
            return luaL_error(L, "out of memory");
        }
    } else {
        b->j = kl_lua_check_json(L, 1);
        kl_buf_init(&out, 0);
        if (kl_json_encode(b->j, &out) < 0) {
            kl_buf_cleanup(&out);
            return luaL_error(L, "out of memory");
        }
    }
    lua_pushlstring(L, out.data ? out.data : "", out.len);
    kl_buf_cleanup(&out);
    return 1;
}

/* Metatables and the proxy cache, once per state.   [-0, +0, m] */
static void object_init(lua_State *L)
{
    if (luaL_newmetatable(L, PROXY_MT)) {
        static const luaL_Reg meta[] = {{"__index", proxy_index},
                                        {"__newindex", proxy_newindex},
                                        {"__len", proxy_len},
                                        {"__pairs", proxy_pairs},
                                        {"__tostring", proxy_tostring},
                                        {"__gc", proxy_gc},
                                        {"__eq", proxy_eq},
                                        {NULL, NULL}};
        luaL_setfuncs(L, meta, 0);
        lua_pushliteral(L, "kube.Object");
        lua_setfield(L, -2, "__name");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cache_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_newtable(L);
        lua_pushliteral(L, "v");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &cache_key);
    } else {
        lua_pop(L, 1);
    }
    const void *markers[] = {&array_key, &object_key};
    const char *names[] = {"kube.array", "kube.object"};
    for (int i = 0; i < 2; i++) {
        if (lua_rawgetp(L, LUA_REGISTRYINDEX, markers[i]) != LUA_TTABLE) {
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushstring(L, names[i]);
            lua_setfield(L, -2, "__name");
            lua_rawsetp(L, LUA_REGISTRYINDEX, markers[i]);
        } else {
            lua_pop(L, 1);
        }
    }
}

void kl_lua_object_register(lua_State *L)
{
    int mod = lua_gettop(L);
    object_init(L);
    static const luaL_Reg funcs[] = {{"copy", l_copy},
                                     {"array", l_array},
                                     {"object", l_object},
                                     {"is_null", l_is_null},
                                     {"is_array", l_is_array},
                                     {"readonly", l_readonly},
                                     {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
    kl_lua_push_null(L);
    lua_setfield(L, mod, "null");
    lua_newtable(L);
    lua_pushcfunction(L, l_json_encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, l_json_decode);
    lua_setfield(L, -2, "decode");
    lua_setfield(L, mod, "json");
    lua_newtable(L);
    lua_pushcfunction(L, l_yaml_decode);
    lua_setfield(L, -2, "decode");
    lua_setfield(L, mod, "yaml");
}
