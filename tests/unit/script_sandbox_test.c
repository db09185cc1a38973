/* Sandbox of policy states: allow-list, globals guard, locked libraries, require(), print. */
#include <lauxlib.h>
#include <lua.h>

#include "kubelua/log.h"
#include "kubelua/script.h"

#include "unit/test_util.h"
#include "util/embedded.h"

typedef struct result {
    int done;
    int status;
    int line;
    char msg[512];
    char value[256]; /* first result through tostring */
} result_t;

static void on_done(kl_invocation_t *inv, const kl_invocation_result_t *res, void *ud)
{
    result_t *r = ud;
    r->done++;
    r->status = res->status;
    if (res->err != NULL) {
        snprintf(r->msg, sizeof(r->msg), "%s", res->err->msg);
        r->line = res->err->line;
    }
    if (res->L != NULL && res->nresults >= 1) {
        const char *v = luaL_tolstring(res->L, 1, NULL);
        snprintf(r->value, sizeof(r->value), "%s", v);
    }
}

/* Loads `return { run = function(...) <body> end }` as test.lua (body starts on line 2) and
 * runs run(); the invocation must finish synchronously. */
static void eval(kl_script_t *s, const char *body, result_t *r)
{
    char src[8192];
    kl_errinfo_t err;
    snprintf(src, sizeof(src), "return { run = function(...)\n%s\nend }", body);
    int rc = kl_script_load_buffer(s, "test.lua", src, strlen(src), &err);
    if (rc != 0)
        fail_msg("load failed: %s", err.msg);
    memset(r, 0, sizeof(*r));
    kl_invocation_opts_t o = {.fn = "run", .done = on_done, .done_ud = r};
    kl_invocation_t *inv = NULL;
    rc = kl_invocation_start(s, &o, &inv, &err);
    if (rc != 0)
        fail_msg("start failed: %s", err.msg);
    assert_null(inv);
    assert_int_equal(r->done, 1);
}

static void check_value(kl_script_t *s, const char *body, const char *want)
{
    result_t r;
    eval(s, body, &r);
    if (r.status != 0)
        fail_msg("%s: failed: %s", body, r.msg);
    if (strcmp(r.value, want) != 0)
        fail_msg("%s: got '%s', want '%s'", body, r.value, want);
}

static void check_error(kl_script_t *s, const char *body, const char *want)
{
    result_t r;
    eval(s, body, &r);
    if (r.status != KL_ESCRIPT)
        fail_msg("%s: status %s (%s), want KL_ESCRIPT", body, kl_err_name(r.status), r.msg);
    if (strstr(r.msg, want) == NULL)
        fail_msg("%s: message '%s' lacks '%s'", body, r.msg, want);
}

static int setup(void **state)
{
    kl_script_opts_t o = {.name = "sbx"};
    kl_script_t *s = NULL;
    assert_int_equal(kl_script_new(&o, &s), 0);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    kl_script_free(*state);
    return 0;
}

static void test_script_sandbox_allowlist(void **state)
{
    kl_script_t *s = *state;
    static const char *const absent[] = {
        "io",      "debug",  "load",           "loadfile", "dofile", "loadstring",
        "package", "rawset", "collectgarbage", "_G",       "module", "setfenv",
        "getfenv", "warn",   "newproxy",       NULL,
    };
    for (const char *const *n = absent; *n != NULL; n++) {
        char body[128], want[128];
        snprintf(body, sizeof(body), "return %s", *n);
        snprintf(want, sizeof(want), "test.lua:2: undefined global variable '%s'", *n);
        check_error(s, body, want);
    }
    static const char *const present[] = {
        "assert",   "error",  "ipairs",       "next",         "pairs",  "select",   "tonumber",
        "tostring", "type",   "getmetatable", "setmetatable", "rawget", "rawequal", "rawlen",
        "pcall",    "xpcall", "print",        "require",      NULL,
    };
    for (const char *const *n = present; *n != NULL; n++) {
        char body[128];
        snprintf(body, sizeof(body), "return type(%s)", *n);
        check_value(s, body, "function");
    }
    check_value(s, "return _VERSION", "Lua 5.4");
    check_value(s, "return type(string) .. type(table) .. type(math) .. type(utf8)",
                "tabletabletabletable");
    check_value(s,
                "return tostring(os.execute) .. tostring(os.getenv) .. tostring(os.exit)"
                " .. tostring(os.remove) .. tostring(os.tmpname)",
                "nilnilnilnilnil");
    check_value(s,
                "return type(os.time()) .. type(os.date('%Y')) .. type(os.clock())"
                " .. type(os.difftime(2, 1))",
                "numberstringnumbernumber");
    check_value(s, "return tostring(string.dump)", "nil");
    check_value(s, "return tostring(('').dump)", "nil");
    check_value(s, "return ('abc'):upper()", "ABC");
    check_value(s, "return math.max(1, 7, 3)", "7");
    check_value(s, "return table.concat({1, 2, 3}, ',')", "1,2,3");
    check_value(s, "return utf8.char(72, 105)", "Hi");
}

static void test_script_sandbox_globals_named(void **state)
{
    kl_script_t *s = *state;
    check_error(s, "return foo_bar + 1", "test.lua:2: undefined global variable 'foo_bar'");
    check_error(s, "counter = 1", "test.lua:2: assignment to global variable 'counter'");
    check_error(s, "print = nil", "assignment to global variable 'print'");
    check_error(s, "_ENV.sneaky = true", "assignment to global variable 'sneaky'");
    check_error(s, "local x = 1\nfunction helper() end",
                "test.lua:3: assignment to global "
                "variable 'helper'");
    check_value(s, "return tostring(rawget(_ENV, 'print'))", "nil");
    check_value(s, "return tostring(getmetatable(_ENV))", "false");
    check_error(s, "setmetatable(_ENV, nil)", "protected metatable");
    check_value(s, "local n = 0 for k, v in pairs(string) do n = n + 1 end return n > 10", "true");
    check_value(s, "local print = 5 return print", "5");
}

static void test_script_sandbox_locked_libraries(void **state)
{
    kl_script_t *s = *state;
    check_error(s, "string.upper = nil", "read-only table 'string' (field 'upper')");
    check_error(s, "table.insert = print", "read-only table 'table'");
    check_error(s, "math.pi = 3", "read-only table 'math'");
    check_error(s, "os.exit = print", "read-only table 'os'");
    check_error(s, "coroutine.wrap = print", "read-only table 'coroutine'");
    check_value(s, "return tostring(getmetatable(''))", "false");
    check_value(s, "return tostring(getmetatable(string))", "false");
    check_error(s, "getmetatable('').__index = {}", "attempt to index a boolean value");
    check_error(s, "return ('x'):rep(100000000)", "string.rep: result larger than");
    check_error(s, "return string.rep('ab', 5000000, ',')", "string.rep: result larger than");
    check_value(s, "return #('ab'):rep(1000, ',')", "2999");
    check_error(s, "return table.move({}, 1, 1 << 40, 2)", "table.move: more than");
    check_value(s, "return table.move({1, 2, 3}, 1, 3, 2)[3]", "2");
    check_error(s, "table.insert(setmetatable({}, {__len = function() return 1 << 50 end}), 1, 0)",
                "table.insert: would shift more than");
    check_error(s, "table.remove(setmetatable({}, {__len = function() return 1 << 50 end}), 1)",
                "table.remove: would shift more than");
    check_value(s,
                "local t = {1, 2} table.insert(t, 1, 0) table.insert(t, 9) "
                "return table.concat(t, ',') .. ':' .. table.remove(t, 1) .. table.remove(t)",
                "0,1,2,9:09");
    check_error(s, "setmetatable({}, {__gc = function() end})",
                "__gc metamethods are not "
                "allowed");
    check_value(s, "return getmetatable(setmetatable({}, {__index = {a = 1}})).__index.a", "1");
}

static void test_script_sandbox_coroutines(void **state)
{
    kl_script_t *s = *state;
    check_value(
        s,
        "local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)\n"
        "return gen() + gen() + gen()",
        "6");
    check_value(s,
                "local co = coroutine.create(function(a) local b = coroutine.yield(a + 1) "
                "return b * 2 end)\n"
                "local _, x = coroutine.resume(co, 1)\n"
                "local _, y = coroutine.resume(co, 10)\n"
                "return x .. ',' .. y .. ',' .. coroutine.status(co)",
                "2,20,dead");
    check_value(s, "return tostring(coroutine.isyieldable())", "false");
    check_value(s,
                "return tostring(coroutine.wrap(function() return coroutine.isyieldable() "
                "end)())",
                "true");
    check_error(s, "coroutine.yield(1)", "attempt to yield from outside a coroutine");
    check_error(s, "local me = coroutine.running() coroutine.resume(me)",
                "cannot use the invocation's own coroutine");
    check_error(s, "coroutine.close((coroutine.running()))",
                "cannot use the invocation's own coroutine");
    check_value(s,
                "local ok, err = coroutine.resume(coroutine.create(function() error('inner') "
                "end))\n"
                "return tostring(ok) .. ' ' .. err",
                "false test.lua:2: inner");
    check_value(s, "local ok, err = pcall(error, 'x') return tostring(ok) .. err", "falsex");
    check_value(s,
                "local ok, err = xpcall(function() error('y', 0) end, function(e) return "
                "'handled ' .. e end)\n"
                "return err",
                "handled y");
}

/* Fake table of embedded files for require(). */
#define FAKE(path, src)                                                                            \
    {                                                                                              \
        path, src, sizeof(src) - 1                                                                 \
    }
static const kl_embedded_file_t fake_files[] = {
    FAKE("lua/greet.lua", "local M = {}\nfunction M.hello(n) return 'hello ' .. n end\nreturn M"),
    FAKE("lua/util/strings.lua", "return { upper = function(s) return s:upper() end }"),
    FAKE("lua/broken.lua", "return {"),
    FAKE("lua/sneaky.lua", "return io"),
    FAKE("lua/loopy.lua", "return require('loopy')"),
    {NULL, NULL, 0},
};

static const kl_embedded_file_t *fake_find(const char *path)
{
    for (const kl_embedded_file_t *f = fake_files; f->path != NULL; f++) {
        if (strcmp(f->path, path) == 0)
            return f;
    }
    return NULL;
}

static int open_hostmod(lua_State *L)
{
    lua_createtable(L, 0, 1);
    lua_pushstring(L, luaL_checkstring(L, 1));
    lua_setfield(L, -2, "name");
    return 1;
}

static void test_script_sandbox_require(void **state)
{
    static const kl_script_module_t mods[] = {{"hostmod", open_hostmod}, {NULL, NULL}};
    kl_script_opts_t o = {
        .name = "req",
        .modules = mods,
        .find_embedded = fake_find,
        .policy_dir = KL_SOURCE_DIR "/tests/fixtures/policies",
    };
    kl_script_t *s = NULL;
    assert_int_equal(kl_script_new(&o, &s), 0);
    check_value(s, "return require('greet').hello('kube')", "hello kube");
    check_value(s, "return require('util.strings').upper('abc')", "ABC");
    check_value(s, "return require('greet') == require('greet')", "true");
    check_value(s, "return require('hostmod').name", "hostmod");
    check_value(s, "return require('helper').double(21)", "42");
    check_error(s, "require('broken')", "lua/broken.lua:1:");
    check_error(s, "require('sneaky')", "lua/sneaky.lua:1: undefined global variable 'io'");
    check_error(s, "require('loopy')", "loop while loading module 'loopy'");
    /* A failed module may be required again (and fails the same way). */
    check_error(s, "pcall(require, 'broken') require('broken')", "lua/broken.lua:1:");
    check_error(s, "require('../etc/passwd')", "invalid module name");
    check_error(s, "require('a..b')", "invalid module name");
    result_t r;
    eval(s, "require('nope.missing')", &r);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_non_null(strstr(r.msg, "module 'nope.missing' not found"));
    assert_non_null(strstr(r.msg, "no host module 'nope.missing'"));
    assert_non_null(strstr(r.msg, "no embedded file 'lua/nope/missing.lua'"));
    assert_non_null(
        strstr(r.msg, "no file '" KL_SOURCE_DIR "/tests/fixtures/policies/nope/missing.lua'"));
    kl_script_free(s);
}

static void test_script_sandbox_require_chunknames(void **state)
{
    kl_script_opts_t o = {.name = "req2", .find_embedded = fake_find};
    kl_script_t *s = NULL;
    assert_int_equal(kl_script_new(&o, &s), 0);
    /* Without a policy directory, only host and embedded modules resolve. */
    result_t r;
    eval(s, "require('helper')", &r);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_null(strstr(r.msg, "no file"));
    kl_script_free(s);
}

static void test_script_sandbox_text_chunks_only(void **state)
{
    kl_script_t *s = *state;
    static const char bin[] = "\x1bLua\x54\x00\x19\x93\r\n\x1a\n";
    kl_errinfo_t err;
    int rc = kl_script_load_buffer(s, "bin.lua", bin, sizeof(bin) - 1, &err);
    assert_int_equal(rc, KL_ESYNTAX);
    assert_non_null(strstr(err.msg, "binary chunk"));
}

static void test_script_sandbox_print_logs(void **state)
{
    kl_script_t *s = *state;
    FILE *f = tmpfile();
    assert_non_null(f);
    kl_log_set_sink(f);
    result_t r;
    eval(s, "print('hello', 42, nil, true)", &r);
    kl_log_set_sink(NULL);
    assert_int_equal(r.status, 0);
    char line[1024] = "";
    rewind(f);
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    line[n] = '\0';
    fclose(f);
    assert_non_null(strstr(line, "lua:sbx"));
    assert_non_null(strstr(line, "hello\t42\tnil\ttrue"));
}

static void test_script_sandbox_memory_counted(void **state)
{
    kl_script_t *s = *state;
    size_t before = kl_script_mem_used(s);
    assert_true(before > 0);
    assert_true(kl_script_mem_peak(s) >= before);
    result_t r;
    eval(s, "local t = {} for i = 1, 10000 do t[i] = i end return #t", &r);
    assert_string_equal(r.value, "10000");
    assert_true(kl_script_mem_peak(s) > before + 100000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_script_sandbox_allowlist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_sandbox_globals_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_sandbox_locked_libraries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_sandbox_coroutines, setup, teardown),
        cmocka_unit_test(test_script_sandbox_require),
        cmocka_unit_test(test_script_sandbox_require_chunknames),
        cmocka_unit_test_setup_teardown(test_script_sandbox_text_chunks_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_sandbox_print_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_sandbox_memory_counted, setup, teardown),
    };
    return cmocka_run_group_tests_name("script_sandbox", tests, NULL, NULL);
}
