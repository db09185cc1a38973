/* Lua bindings of the primitives (runtime/script/l_primitives*.c) inside the real sandbox:
 * every test_* function of tests/fixtures/primitives/bindings.lua runs as its own cmocka test,
 * with the JSON fixtures of tests/fixtures/primitives as proxies. A host module "testhost"
 * provides proxy(json) and park(...) (a host call that suspends until the test resumes it). */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/object.h"
#include "kubelua/script.h"

#include "script/l_kube.h"
#include "script/l_object.h"
#include "unit/test_util.h"

#define MAX_TESTS 64

/* ---- The testhost module ------------------------------------------------------------------ */

static kl_invocation_t *parked;
static lua_Integer parked_arg;

/* testhost.proxy(json) -> read-only proxy   [-1, +1, e] */
static int l_proxy(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    kl_obj_t *doc;
    kl_errinfo_t err;
    if (kl_obj_parse_json(s, len, NULL, &doc, &err) < 0)
        return luaL_error(L, "proxy: %s", err.msg);
    kl_lua_push_doc(L, doc);
    kl_obj_unref(doc);
    return 1;
}

/* testhost.park(i) -> what the test resumes it with   [-1, +?, e] */
static int l_park(lua_State *L)
{
    parked_arg = luaL_checkinteger(L, 1);
    parked = kl_script_check_yield(L);
    return kl_script_yield(L, NULL, NULL, NULL, 0);
}

static int open_testhost(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"proxy", l_proxy}, {"park", l_park}, {NULL, NULL}};
    luaL_newlib(L, funcs);
    return 1;
}

static const kl_script_module_t modules[] = {
    {"kube", luaopen_kube}, {"testhost", open_testhost}, {NULL, NULL}};

/* ---- Running the Lua tests ---------------------------------------------------------------- */

static const char *const fixture_names[] = {"affinity", "daemonset", "tolerations"};
static kl_obj_t *fixtures[3];
static char *test_names[MAX_TESTS];
static size_t ntests;

typedef struct run {
    int status;
    char err[2048];
    char result[1024];
} run_t;

static int push_fixtures(lua_State *L, void *ud)
{
    (void)ud;
    lua_createtable(L, 0, 3);
    for (size_t i = 0; i < 3; i++) {
        kl_lua_push_doc(L, fixtures[i]);
        lua_setfield(L, -2, fixture_names[i]);
    }
    return 1;
}

static void on_done(kl_invocation_t *inv, const kl_invocation_result_t *res, void *ud)
{
    (void)inv;
    run_t *r = ud;
    r->status = res->status;
    if (res->err)
        snprintf(r->err, sizeof(r->err), "%s\n%s", res->err->msg,
                 res->traceback ? res->traceback : "");
    if (res->status == 0 && res->nresults > 0 && res->L && lua_type(res->L, 1) == LUA_TSTRING)
        snprintf(r->result, sizeof(r->result), "%s", lua_tostring(res->L, 1));
}

static kl_script_t *load_bindings(void)
{
    kl_script_opts_t o = {.name = "primitives", .modules = modules};
    kl_script_t *s;
    assert_int_equal(kl_script_new(&o, &s), 0);
    size_t len;
    char *src = kl_test_read_fixture("primitives/bindings.lua", &len);
    kl_errinfo_t err;
    int rc = kl_script_load_buffer(s, "tests/fixtures/primitives/bindings.lua", src, len, &err);
    free(src);
    if (rc != 0)
        fail_msg("load: %s", err.msg);
    return s;
}

static int collect_names(lua_State *L, void *ud)
{
    (void)ud;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TFUNCTION &&
            strncmp(lua_tostring(L, -2), "test_", 5) == 0 && ntests < MAX_TESTS)
            test_names[ntests++] = strdup(lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_lua_test(void **state)
{
    const char *name = *state;
    kl_script_t *s = load_bindings();
    run_t r = {.status = -1};
    kl_invocation_opts_t io = {
        .fn = name, .push_args = push_fixtures, .done = on_done, .done_ud = &r};
    kl_errinfo_t err;
    if (kl_invocation_start(s, &io, NULL, &err) != 0)
        fail_msg("start %s: %s", name, err.msg);
    kl_script_free(s);
    if (r.status != 0)
        fail_msg("%s failed (%s): %s", name, kl_err_name(r.status), r.err);
}

/* kube.slow_start with a callback that suspends in a host call on some items. */
static void test_script_primitives_slow_start_yields(void **state)
{
    (void)state;
    kl_script_t *s = load_bindings();
    run_t r = {.status = -1};
    kl_invocation_opts_t io = {.fn = "yield_slow_start", .done = on_done, .done_ud = &r};
    kl_invocation_t *inv;
    parked = NULL;
    assert_int_equal(kl_invocation_start(s, &io, &inv, NULL), 0);
    lua_Integer resumed[8];
    int nres = 0;
    while (r.status == -1) {
        assert_non_null(inv);
        assert_ptr_equal(parked, inv);
        assert_true(nres < 8);
        resumed[nres++] = parked_arg;
        lua_State *co = kl_invocation_thread(inv);
        parked = NULL;
        if (parked_arg == 4) {
            lua_pushnil(co);
            lua_pushliteral(co, "fail4");
            assert_int_equal(kl_invocation_resume(inv, 2), 0);
        } else {
            lua_pushboolean(co, 1);
            assert_int_equal(kl_invocation_resume(inv, 1), 0);
        }
    }
    if (r.status != 0)
        fail_msg("%s", r.err);
    /* Batches 1 | 2 3 | 4 5 6 7: the failure of item 4 lets its batch finish, then stops. */
    assert_int_equal(nres, 3);
    assert_int_equal(resumed[0], 2);
    assert_int_equal(resumed[1], 4);
    assert_int_equal(resumed[2], 6);
    assert_string_equal(r.result, "6|fail4|7|1,2,3,4,5,6,7");
    kl_script_free(s);
}

/* Cancelling an invocation suspended inside kube.slow_start leaves nothing behind. */
static void test_script_primitives_slow_start_cancel(void **state)
{
    (void)state;
    kl_script_t *s = load_bindings();
    run_t r = {.status = -1};
    kl_invocation_opts_t io = {.fn = "yield_slow_start", .done = on_done, .done_ud = &r};
    kl_invocation_t *inv;
    assert_int_equal(kl_invocation_start(s, &io, &inv, NULL), 0);
    assert_non_null(inv);
    assert_int_equal(kl_invocation_cancel(inv), 0);
    assert_int_equal(r.status, KL_ECANCELED);
    kl_script_free(s);
}

/* ---- lua/meta/kube.lua describes the module ------------------------------------------------ */

typedef struct shape {
    char *items[512]; /* "kube.labels.selector function" */
    size_t n;
} shape_t;

static void walk(lua_State *L, int t, const char *prefix, shape_t *out, int depth)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int type = lua_type(L, -1);
        if (lua_type(L, -2) == LUA_TSTRING && (type == LUA_TFUNCTION || type == LUA_TTABLE)) {
            char path[256];
            snprintf(path, sizeof(path), "%s.%s", prefix, lua_tostring(L, -2));
            char item[300];
            snprintf(item, sizeof(item), "%s %s", path, lua_typename(L, type));
            if (out->n < 512)
                out->items[out->n++] = strdup(item);
            if (type == LUA_TTABLE && depth < 3)
                walk(L, lua_gettop(L), path, out, depth + 1);
        }
        lua_pop(L, 1);
    }
}

/* fn for kl_script_protect: walks policy[field] (or the policy itself when ud->field is NULL). */
typedef struct walk_args {
    const char *field;
    shape_t *out;
} walk_args_t;

static int walk_policy(lua_State *L, void *ud)
{
    walk_args_t *a = ud;
    if (a->field)
        lua_getfield(L, 1, a->field);
    else
        lua_pushvalue(L, 1);
    luaL_checktype(L, -1, LUA_TTABLE);
    walk(L, lua_gettop(L), "kube", a->out, 0);
    return 0;
}

static void shape_free(shape_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i]);
}

static bool shape_has(const shape_t *s, const char *item)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->items[i], item) == 0)
            return true;
    return false;
}

static void test_script_primitives_meta_stubs(void **state)
{
    (void)state;
    shape_t real = {0}, stub = {0};
    kl_script_t *s = load_bindings();
    kl_errinfo_t err;
    assert_int_equal(kl_script_protect(s, walk_policy, &(walk_args_t){"module", &real}, &err), 0);
    kl_script_free(s);

    kl_script_opts_t o = {.name = "meta", .modules = modules};
    assert_int_equal(kl_script_new(&o, &s), 0);
    char path[1024];
    snprintf(path, sizeof(path), "%s/lua/meta/kube.lua", KL_SOURCE_DIR);
    if (kl_script_load_file(s, path, &err) != 0)
        fail_msg("lua/meta/kube.lua: %s", err.msg);
    assert_int_equal(kl_script_protect(s, walk_policy, &(walk_args_t){NULL, &stub}, &err), 0);
    kl_script_free(s);

    int missing = 0;
    for (size_t i = 0; i < real.n; i++)
        if (!shape_has(&stub, real.items[i])) {
            fprintf(stderr, "not described in lua/meta/kube.lua: %s\n", real.items[i]);
            missing++;
        }
    for (size_t i = 0; i < stub.n; i++)
        if (!shape_has(&real, stub.items[i])) {
            fprintf(stderr, "described but not in the module: %s\n", stub.items[i]);
            missing++;
        }
    assert_true(real.n > 60);
    shape_free(&real);
    shape_free(&stub);
    assert_int_equal(missing, 0);
}

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof(path), "primitives/%s.json", fixture_names[i]);
        size_t len;
        char *text = kl_test_read_fixture(path, &len);
        kl_errinfo_t err;
        if (kl_obj_parse_json(text, len, NULL, &fixtures[i], &err) < 0) {
            fprintf(stderr, "%s: %s\n", path, err.msg);
            return -1;
        }
        free(text);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < 3; i++)
        kl_obj_unref(fixtures[i]);
    return 0;
}

int main(void)
{
    /* Discover the Lua tests. */
    kl_script_opts_t o = {.name = "primitives", .modules = modules};
    kl_script_t *s;
    if (kl_script_new(&o, &s) != 0)
        return 1;
    size_t len;
    char *src = kl_test_read_fixture("primitives/bindings.lua", &len);
    kl_errinfo_t err;
    if (kl_script_load_buffer(s, "tests/fixtures/primitives/bindings.lua", src, len, &err) != 0) {
        fprintf(stderr, "load: %s\n", err.msg);
        return 1;
    }
    free(src);
    if (kl_script_protect(s, collect_names, NULL, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    kl_script_free(s);
    qsort(test_names, ntests, sizeof(test_names[0]), cmp_names);

    struct CMUnitTest tests[MAX_TESTS + 3];
    size_t n = 0;
    for (size_t i = 0; i < ntests; i++)
        tests[n++] = (struct CMUnitTest){
            .name = test_names[i], .test_func = run_lua_test, .initial_state = test_names[i]};
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_script_primitives_slow_start_yields);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_script_primitives_slow_start_cancel);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_script_primitives_meta_stubs);
    int failed = _cmocka_run_group_tests("script_primitives", tests, n, setup, teardown);
    /* cmocka prints the names of failed tests after the teardown. */
    for (size_t i = 0; i < ntests; i++)
        free(test_names[i]);
    return failed;
}
