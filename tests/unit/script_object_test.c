/* Lua view of objects: read-only proxies, kube.copy, kube.null, JSON conversion. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/json.h"
#include "kubelua/object.h"
#include "kubelua/script.h"

#include "script/l_kube.h"
#include "script/l_object.h"
#include "unit/test_util.h"

static const kl_script_module_t modules[] = {{"kube", luaopen_kube}, {NULL, NULL}};

typedef struct run {
    const kl_obj_t *doc;
    int status;
    char err[1024];
    char result[4096];
} run_t;

static int push_doc(lua_State *L, void *ud)
{
    run_t *r = ud;
    if (r->doc)
        kl_lua_push_doc(L, r->doc);
    else
        lua_pushnil(L);
    return 1;
}

static void on_done(kl_invocation_t *inv, const kl_invocation_result_t *res, void *ud)
{
    run_t *r = ud;
    r->status = res->status;
    if (res->err)
        snprintf(r->err, sizeof(r->err), "%s", res->err->msg);
    if (res->status == 0 && res->nresults > 0 && res->L && lua_type(res->L, 1) == LUA_TSTRING)
        snprintf(r->result, sizeof(r->result), "%s", lua_tostring(res->L, 1));
}

/* Loads `policy` (a chunk returning a table of functions) and runs fn(doc). */
static run_t run_fn(const char *policy, const char *fn, const kl_obj_t *doc)
{
    kl_script_opts_t o = {.name = "test", .modules = modules};
    kl_script_t *s;
    assert_int_equal(kl_script_new(&o, &s), 0);
    kl_errinfo_t err;
    int rc = kl_script_load_buffer(s, "test.lua", policy, strlen(policy), &err);
    if (rc != 0)
        fail_msg("load: %s", err.msg);
    run_t r = {.doc = doc, .status = -1};
    kl_invocation_opts_t io = {
        .fn = fn, .push_args = push_doc, .push_ud = &r, .done = on_done, .done_ud = &r};
    rc = kl_invocation_start(s, &io, NULL, &err);
    if (rc != 0)
        fail_msg("start: %s", err.msg);
    kl_script_free(s);
    return r;
}

static kl_obj_t *parse(const char *json)
{
    kl_obj_t *doc;
    kl_errinfo_t err;
    if (kl_obj_parse_json(json, strlen(json), NULL, &doc, &err) < 0)
        fail_msg("parse: %s", err.msg);
    return doc;
}

static const char *const pod_policy =
    "local kube = require('kube')\n"
    "return {\n"
    "  read = function(pod)\n"
    "    assert(pod.metadata.labels.app == 'web')\n"
    "    assert(pod.metadata.labels['app.kubernetes.io/part-of'] == 'demo')\n"
    "    assert(#pod.spec.containers == 2)\n"
    "    assert(pod.spec.containers[2].name == 'sidecar')\n"
    "    assert(pod.spec.containers[3] == nil)\n"
    "    assert(pod.spec.nope == nil)\n"
    "    assert(pod.spec.replicas == 3 and math.type(pod.spec.replicas) == 'integer')\n"
    "    assert(pod.spec.ratio == 0.5)\n"
    "    assert(pod.spec.big == 9007199254740993)\n"
    "    assert(pod.spec.flag == false)\n"
    "    assert(pod.spec.nothing == nil)\n"
    "    assert(#pod.metadata == 0)\n"
    "    local names = {}\n"
    "    for i, c in ipairs(pod.spec.containers) do names[#names + 1] = i .. ':' .. c.name end\n"
    "    assert(table.concat(names, ',') == '1:main,2:sidecar', table.concat(names, ','))\n"
    "    local keys = {}\n"
    "    for k, v in pairs(pod.spec) do keys[#keys + 1] = k end\n"
    "    -- document order, and the null member is skipped\n"
    "    assert(table.concat(keys, ',') == 'containers,replicas,ratio,big,flag,empty,list',"
    "           table.concat(keys, ','))\n"
    "    assert(pod.spec.containers == pod.spec.containers)\n"
    "    assert(kube.readonly(pod) and not kube.readonly({}))\n"
    "    assert(kube.is_array(pod.spec.list) and not kube.is_array(pod.spec.empty))\n"
    "    return tostring(pod.metadata.labels)\n"
    "  end,\n"
    "  write = function(pod) pod.metadata.name = 'x' end,\n"
    "  write_nested = function(pod) pod.spec.containers[1].image = 'evil' end,\n"
    "  insert = function(pod) table.insert(pod.spec.containers, {}) end,\n"
    "  copy = function(pod)\n"
    "    local c = kube.copy(pod)\n"
    "    c.metadata.name = 'renamed'\n"
    "    c.spec.containers[1].image = 'nginx:2'\n"
    "    table.insert(c.spec.containers, {name = 'third'})\n"
    "    assert(pod.metadata.name == 'web-1', 'the original must not change')\n"
    "    assert(kube.is_null(c.spec.nothing))\n"
    "    return kube.json.encode(c)\n"
    "  end,\n"
    "  round_trip = function(pod) return kube.json.encode(kube.copy(pod)) end,\n"
    "  encode_proxy = function(pod) return kube.json.encode(pod.spec) end,\n"
    "}\n";

static const char *const pod_json =
    "{\"metadata\":{\"name\":\"web-1\",\"labels\":{\"app\":\"web\",\"app.kubernetes.io/"
    "part-of\":\"demo\"}},\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"nginx:1\"},{"
    "\"name\":\"sidecar\",\"image\":\"busybox\"}],\"replicas\":3,\"ratio\":0.5,\"big\":"
    "9007199254740993,\"flag\":false,\"nothing\":null,\"empty\":{},\"list\":[]}}";

static void test_script_object_proxy_reads(void **state)
{
    kl_obj_t *doc = parse(pod_json);
    run_t r = run_fn(pod_policy, "read", doc);
    if (r.status != 0)
        fail_msg("read failed: %s", r.err);
    assert_string_equal(r.result, "{\"app\":\"web\",\"app.kubernetes.io/part-of\":\"demo\"}");
    kl_obj_unref(doc);
}

static void test_script_object_writes_raise(void **state)
{
    kl_obj_t *doc = parse(pod_json);
    run_t r = run_fn(pod_policy, "write", doc);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_non_null(strstr(r.err, "attempt to modify a read-only object (field 'name')"));
    assert_non_null(strstr(r.err, "kube.copy()"));
    r = run_fn(pod_policy, "write_nested", doc);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_non_null(strstr(r.err, "field 'image'"));
    r = run_fn(pod_policy, "insert", doc);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_non_null(strstr(r.err, "read-only"));
    /* The document itself is untouched. */
    char *out;
    kl_buf_t b;
    kl_buf_init(&b, 0);
    assert_int_equal(kl_val_encode(kl_obj_root(doc), &b), 0);
    out = kl_buf_take(&b, NULL);
    assert_string_equal(out, pod_json);
    free(out);
    kl_obj_unref(doc);
}

static void test_script_object_copy_is_mutable_and_encodes_sorted(void **state)
{
    kl_obj_t *doc = parse(pod_json);
    run_t r = run_fn(pod_policy, "copy", doc);
    if (r.status != 0)
        fail_msg("copy failed: %s", r.err);
    assert_string_equal(
        r.result,
        "{\"metadata\":{\"labels\":{\"app\":\"web\",\"app.kubernetes.io/part-of\":\"demo\"},"
        "\"name\":\"renamed\"},\"spec\":{\"big\":9007199254740993,\"containers\":[{\"image\":"
        "\"nginx:2\",\"name\":\"main\"},{\"image\":\"busybox\",\"name\":\"sidecar\"},{\"name\":"
        "\"third\"}],\"empty\":{},\"flag\":false,\"list\":[],\"nothing\":null,\"ratio\":0.5,"
        "\"replicas\":3}}");
    kl_obj_unref(doc);
}

static void test_script_object_round_trip_keeps_types(void **state)
{
    /* Sorted keys in, so the round trip is byte for byte. */
    const char *json = "{\"a\":{},\"b\":[],\"c\":[{}],\"d\":null,\"e\":[1,2.5,\"x\",true],\"f\":"
                       "{\"g\":[[]]},\"h\":-9223372036854775808}";
    kl_obj_t *doc = parse(json);
    run_t r = run_fn(pod_policy, "round_trip", doc);
    if (r.status != 0)
        fail_msg("round trip failed: %s", r.err);
    assert_string_equal(r.result, json);
    r = run_fn(pod_policy, "encode_proxy", doc);
    kl_obj_unref(doc);
}

static const char *const encode_policy =
    "local kube = require('kube')\n"
    "return {\n"
    "  plain = function()\n"
    "    return kube.json.encode({z = 1, a = {1, 2, 3}, m = {}, n = kube.null,\n"
    "      arr = kube.array(), obj = kube.object({}), s = 'é', f = 1.5, t = true})\n"
    "  end,\n"
    "  mixed = function() return kube.json.encode({1, 2, x = 3}) end,\n"
    "  func = function() return kube.json.encode({a = {b = print}}) end,\n"
    "  cycle = function() local t = {}; t.self = t; return kube.json.encode(t) end,\n"
    "  badutf8 = function() return kube.json.encode({s = '\\xff'}) end,\n"
    "  decode = function()\n"
    "    local v = assert(kube.json.decode('{\"a\":[],\"b\":{},\"c\":null,\"d\":[1,{\"e\":2}]}'))\n"
    "    assert(kube.is_array(v.a) and not kube.is_array(v.b) and kube.is_null(v.c))\n"
    "    assert(v.d[2].e == 2)\n"
    "    local bad, err = kube.json.decode('{\"a\":')\n"
    "    assert(bad == nil and err:find('unexpected end'), err)\n"
    "    local docs = assert(kube.yaml.decode('a: 1\\n---\\nb: [x]\\n'))\n"
    "    assert(#docs == 2 and docs[2].b[1] == 'x')\n"
    "    return kube.json.encode(v)\n"
    "  end,\n"
    "}\n";

static void test_script_object_encoding_rules(void **state)
{
    run_t r = run_fn(encode_policy, "plain", NULL);
    if (r.status != 0)
        fail_msg("plain: %s", r.err);
    assert_string_equal(r.result, "{\"a\":[1,2,3],\"arr\":[],\"f\":1.5,\"m\":{},\"n\":null,"
                                  "\"obj\":{},\"s\":\"\xc3\xa9\",\"t\":true,\"z\":1}");
    r = run_fn(encode_policy, "mixed", NULL);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_non_null(strstr(r.err, "mixes array and object keys"));
    r = run_fn(encode_policy, "func", NULL);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_non_null(strstr(r.err, "a value of type function at a.b"));
    r = run_fn(encode_policy, "cycle", NULL);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_non_null(strstr(r.err, "nested too deeply"));
    r = run_fn(encode_policy, "badutf8", NULL);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_non_null(strstr(r.err, "not valid UTF-8"));
    r = run_fn(encode_policy, "decode", NULL);
    if (r.status != 0)
        fail_msg("decode: %s", r.err);
    assert_string_equal(r.result, "{\"a\":[],\"b\":{},\"c\":null,\"d\":[1,{\"e\":2}]}");
}

static void test_script_object_shares_the_document(void **state)
{
    /* The proxy holds a reference: the document outlives the caller's. */
    kl_obj_t *doc = parse("{\"a\":{\"b\":\"c\"}}");
    kl_script_opts_t o = {.name = "t", .modules = modules};
    kl_script_t *s;
    assert_int_equal(kl_script_new(&o, &s), 0);
    const char *src = "local kube = require('kube')\n"
                      "local kept\n"
                      "return { keep = function(d) kept = d.a end,\n"
                      "         read = function() return kept.b end }\n";
    assert_int_equal(kl_script_load_buffer(s, "t.lua", src, strlen(src), NULL), 0);
    run_t r = {.doc = doc};
    kl_invocation_opts_t io = {
        .fn = "keep", .push_args = push_doc, .push_ud = &r, .done = on_done, .done_ud = &r};
    assert_int_equal(kl_invocation_start(s, &io, NULL, NULL), 0);
    kl_obj_unref(doc); /* the script still holds it */
    r.doc = NULL;
    io.fn = "read";
    assert_int_equal(kl_invocation_start(s, &io, NULL, NULL), 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.result, "c");
    kl_script_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_object_proxy_reads),
        cmocka_unit_test(test_script_object_writes_raise),
        cmocka_unit_test(test_script_object_copy_is_mutable_and_encodes_sorted),
        cmocka_unit_test(test_script_object_round_trip_keeps_types),
        cmocka_unit_test(test_script_object_encoding_rules),
        cmocka_unit_test(test_script_object_shares_the_document),
    };
    return cmocka_run_group_tests_name("script_object", tests, NULL, NULL);
}
