/* Invocations: errors and tracebacks, budgets, memory ceiling, host calls that yield on the loop,
 * cancellation, many invocations in flight, retire/free, policy loading. */
#include <lauxlib.h>
#include <lua.h>
#include <uv.h>

#include "kubelua/log.h"
#include "kubelua/script.h"

#include "unit/test_util.h"

#define FIXTURES KL_SOURCE_DIR "/tests/fixtures/policies/"

static uv_loop_t loop;

typedef struct result {
    int done;
    int status;
    int line;
    int nresults;
    char msg[512];
    char tb[4096];
    char value[256]; /* first result through tostring */
    uint64_t run_ns;
} result_t;

static void on_done(kl_invocation_t *inv, const kl_invocation_result_t *res, void *ud)
{
    result_t *r = ud;
    r->done++;
    r->status = res->status;
    r->nresults = res->nresults;
    r->run_ns = res->run_ns;
    if (res->err != NULL) {
        snprintf(r->msg, sizeof(r->msg), "%s", res->err->msg);
        r->line = res->err->line;
    }
    if (res->traceback != NULL)
        snprintf(r->tb, sizeof(r->tb), "%s", res->traceback);
    if (res->L != NULL && res->nresults >= 1)
        snprintf(r->value, sizeof(r->value), "%s", luaL_tolstring(res->L, 1, NULL));
}

/* {============================================================================================
** The "host" module: host calls that suspend the invocation on a uv timer
** =============================================================================================*/

typedef struct sleeper {
    uv_timer_t timer;
    kl_invocation_t *inv;
    lua_Integer value;
    bool with_k;
} sleeper_t;

static int cancels;   /* cancel hooks run */
static int marks;     /* host.mark() calls */
static int nested_rc; /* what kl_invocation_start returned from inside a host call */

static void free_sleeper(uv_handle_t *h)
{
    free(h->data);
}

static void sleeper_fire(uv_timer_t *t)
{
    sleeper_t *sl = t->data;
    if (!sl->with_k) {
        lua_State *co = kl_invocation_thread(sl->inv);
        lua_pushinteger(co, sl->value);
        assert_int_equal(kl_invocation_resume(sl->inv, 1), 0);
    } else {
        assert_int_equal(kl_invocation_resume(sl->inv, 0), 0);
    }
    uv_close((uv_handle_t *)t, free_sleeper);
}

static void sleeper_cancel(kl_invocation_t *inv, void *ud)
{
    sleeper_t *sl = ud;
    cancels++;
    uv_timer_stop(&sl->timer);
    uv_close((uv_handle_t *)&sl->timer, free_sleeper);
}

/* Continuation of host.sleepk: builds a string inside the coroutine.   [-0, +1, e] */
static int sleepk_done(lua_State *L, int status, lua_KContext ctx)
{
    lua_pushfstring(L, "woke after %d ms", (int)ctx);
    return 1;
}

static int start_sleep(lua_State *L, bool with_k)
{
    lua_Integer ms = luaL_checkinteger(L, 1);
    lua_Integer value = luaL_optinteger(L, 2, ms);
    kl_invocation_t *inv = kl_script_check_yield(L); /* raises before anything is allocated */
    sleeper_t *sl = calloc(1, sizeof(*sl));
    if (sl == NULL)
        return luaL_error(L, "out of memory");
    sl->inv = inv;
    sl->value = value;
    sl->with_k = with_k;
    uv_timer_init(&loop, &sl->timer);
    sl->timer.data = sl;
    uv_timer_start(&sl->timer, sleeper_fire, (uint64_t)ms, 0);
    return kl_script_yield(L, sleeper_cancel, sl, with_k ? sleepk_done : NULL, (lua_KContext)ms);
}

/* host.sleep(ms [, value]) -> value, after ms on the loop.   [-?, +1, e] */
static int l_sleep(lua_State *L)
{
    return start_sleep(L, false);
}

/* host.sleepk(ms) -> "woke after <ms> ms", built by a continuation.   [-1, +1, e] */
static int l_sleepk(lua_State *L)
{
    return start_sleep(L, true);
}

/* host.mark() counts calls (used from __close handlers).   [-0, +0, -] */
static int l_mark(lua_State *L)
{
    marks++;
    return 0;
}

static void ignore_done(kl_invocation_t *inv, const kl_invocation_result_t *res, void *ud)
{
}

/* host.nested() tries to start an invocation from inside Lua.   [-0, +1, -] */
static int l_nested(lua_State *L)
{
    kl_invocation_opts_t o = {.fn = "run", .done = ignore_done};
    nested_rc = kl_invocation_start(kl_script_of(L), &o, NULL, NULL);
    lua_pushinteger(L, nested_rc);
    return 1;
}

/* host.other() runs another script's run() to its end, synchronously, from inside Lua (as a
 * host call that delivers an event to another controller's map function does); returns the
 * start's status.   [-0, +1, -] */
static kl_script_t *other_script;
static result_t other_result;

static int l_other(lua_State *L)
{
    memset(&other_result, 0, sizeof(other_result));
    kl_invocation_opts_t o = {.fn = "run", .done = on_done, .done_ud = &other_result};
    lua_pushinteger(L, kl_invocation_start(other_script, &o, NULL, NULL));
    return 1;
}

/* host.park() suspends until the test resumes `parked` by hand; returns what it is given. */
static kl_invocation_t *parked;

static int l_park(lua_State *L)
{
    parked = kl_script_check_yield(L);
    return kl_script_yield(L, NULL, NULL, NULL, 0);
}

/* host.boomk() suspends; its continuation raises.   [-0, +0, e] */
static int boom_k(lua_State *L, int status, lua_KContext ctx)
{
    return luaL_error(L, "continuation failed");
}

static int l_boomk(lua_State *L)
{
    parked = kl_script_check_yield(L);
    return kl_script_yield(L, NULL, NULL, boom_k, 0);
}

/* host.spin(ms) burns CPU in Lua-visible time without running Lua (C work is charged too). */
static int l_spin(lua_State *L)
{
    uint64_t until = uv_hrtime() + (uint64_t)luaL_checkinteger(L, 1) * 1000000;
    while (uv_hrtime() < until)
        ;
    return 0;
}

/* host.swallow(f): runs f under lua_pcall and ignores any error (a careless host function).
 * host.safe(f): the same, but lets kills through with kl_script_propagate_fatal. */
static int l_swallow(lua_State *L)
{
    lua_settop(L, 1);
    lua_pcall(L, 0, 0, 0);
    return 0;
}

static int l_safe(lua_State *L)
{
    lua_settop(L, 1);
    int status = lua_pcall(L, 0, 0, 0);
    kl_script_propagate_fatal(L, status);
    lua_pushboolean(L, status == LUA_OK);
    return 1;
}

static int open_host(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"sleep", l_sleep}, {"sleepk", l_sleepk}, {"mark", l_mark}, {"nested", l_nested},
        {"park", l_park},   {"boomk", l_boomk},   {"spin", l_spin}, {"swallow", l_swallow},
        {"safe", l_safe},   {"other", l_other},   {NULL, NULL},
    };
    luaL_newlib(L, funcs);
    return 1;
}

static const kl_script_module_t host_modules[] = {{"host", open_host}, {NULL, NULL}};

/* }============================================================================================*/

static kl_script_t *new_script(uint32_t budget_ms, size_t mem_limit)
{
    kl_script_opts_t o = {
        .name = "inv",
        .modules = host_modules,
        .time_budget_ms = budget_ms,
        .load_budget_ms = 200,
        .mem_limit = mem_limit,
    };
    kl_script_t *s = NULL;
    assert_int_equal(kl_script_new(&o, &s), 0);
    return s;
}

static void load(kl_script_t *s, const char *src)
{
    kl_errinfo_t err;
    if (kl_script_load_buffer(s, "test.lua", src, strlen(src), &err) != 0)
        fail_msg("load failed: %s", err.msg);
}

/* Loads `local host = require('host') return { run = function(...) <body> end }` (body on line
 * 2) and starts run(); returns the invocation when it is suspended. */
static kl_invocation_t *start(kl_script_t *s, const char *body, result_t *r)
{
    char src[8192];
    snprintf(src, sizeof(src),
             "local host = require('host') return { run = function(...)\n%s\nend }", body);
    load(s, src);
    memset(r, 0, sizeof(*r));
    kl_invocation_opts_t o = {.fn = "run", .done = on_done, .done_ud = r};
    kl_invocation_t *inv = NULL;
    kl_errinfo_t err;
    if (kl_invocation_start(s, &o, &inv, &err) != 0)
        fail_msg("start failed: %s", err.msg);
    return inv;
}

/* Runs body to completion, turning the loop as needed. */
static void run_to_end(kl_script_t *s, const char *body, result_t *r)
{
    start(s, body, r);
    while (r->done == 0 && uv_run(&loop, UV_RUN_ONCE))
        ;
    assert_int_equal(r->done, 1);
}

static int setup(void **state)
{
    cancels = marks = nested_rc = 0;
    assert_int_equal(uv_loop_init(&loop), 0);
    return 0;
}

static int teardown(void **state)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

static void test_script_invoke_returns_values(void **state)
{
    kl_script_t *s = new_script(0, 0);
    result_t r;
    run_to_end(s, "return 1 + 2, 'x'", &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.nresults, 2);
    assert_string_equal(r.value, "3");
    assert_int_equal(kl_script_live(s), 0);
    kl_script_free(s);
}

static int push_key(lua_State *L, void *ud)
{
    lua_pushnil(L); /* ctx */
    lua_pushstring(L, ud);
    return 2;
}

static void test_script_invoke_throws_file_line(void **state)
{
    kl_script_t *s = new_script(0, 0);
    kl_errinfo_t err;
    assert_int_equal(kl_script_load_file(s, FIXTURES "throws.lua", &err), 0);
    result_t r = {0};
    kl_invocation_opts_t o = {.fn = "reconcile",
                              .push_args = push_key,
                              .push_ud = "ns/a",
                              .done = on_done,
                              .done_ud = &r};
    assert_int_equal(kl_invocation_start(s, &o, NULL, &err), 0);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_string_equal(r.msg, FIXTURES "throws.lua:2: cannot reconcile ns/a");
    assert_int_equal(r.line, 2);
    assert_non_null(strstr(r.tb, "stack traceback:"));
    assert_non_null(strstr(r.tb, "throws.lua:2: in "));
    assert_non_null(strstr(r.tb, "throws.lua:8: in "));

    /* Without arguments the policy fails inside inner(). */
    memset(&r, 0, sizeof(r));
    o.push_args = NULL;
    assert_int_equal(kl_invocation_start(s, &o, NULL, &err), 0);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_non_null(strstr(r.msg, "throws.lua:2: attempt to concatenate a nil value"));

    /* A missing function is refused at start; done never runs. */
    memset(&r, 0, sizeof(r));
    o.fn = "finalize";
    assert_int_equal(kl_invocation_start(s, &o, NULL, &err), KL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "policy has no function 'finalize'"));
    assert_int_equal(r.done, 0);

    /* Non-string error objects. */
    run_to_end(s, "error({code = 1})", &r);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_string_equal(r.msg, "test.lua:2: (error object is a table value)");
    run_to_end(s, "error(42)", &r);
    assert_string_equal(r.msg, "test.lua:2: 42");
    kl_script_free(s);
}

static void expect_killed(kl_script_t *s, const char *body)
{
    result_t r;
    uint64_t t0 = uv_hrtime();
    run_to_end(s, body, &r);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    if (r.status != KL_EBUDGET)
        fail_msg("%s: status %s (%s)", body, kl_err_name(r.status), r.msg);
    assert_non_null(strstr(r.msg, "time budget exceeded (50 ms)"));
    assert_non_null(strstr(r.msg, "test.lua:"));
    assert_true(ms >= 50 && ms < 1000);
    assert_true(r.run_ns >= 50000000);
}

static void test_script_invoke_budget_kills_loops(void **state)
{
    kl_script_t *s = new_script(50, 0);
    expect_killed(s, "while true do end");
    expect_killed(s, "pcall(function() while true do end end) return 'escaped'");
    expect_killed(s, "while true do pcall(function() while true do end end) end");
    expect_killed(s, "while true do xpcall(function() while true do end end, "
                     "function(e) while true do end end) end");
    expect_killed(s, "while true do pcall(pcall, function() while true do end end) end");
    expect_killed(s, "while true do coroutine.resume(coroutine.create(function() while true do "
                     "end end)) end");
    expect_killed(s, "while true do pcall(coroutine.wrap(function() while true do end end)) end");
    expect_killed(s, "local function f() return f() end while true do pcall(f) end");
    expect_killed(s, "while true do xpcall(error, function() while true do end end) end");
    expect_killed(s, "while true do pcall(string.gsub, 'aaa', 'a', function() while true do end "
                     "end) end");
    expect_killed(s, "local t = setmetatable({}, {__index = function(t, k) while true do end end}) "
                     "while true do pcall(function() return t.x end) end");
    expect_killed(s, "while true do local t <close> = setmetatable({}, {__close = function() "
                     "while true do end end}) pcall(error) end");
    expect_killed(s, "while true do host.safe(function() while true do end end) end");
    expect_killed(s, "host.swallow(function() while true do end end) return 'escaped'");
    /* The state is still usable afterwards. */
    result_t r;
    run_to_end(s, "return host.safe(function() error('ordinary') end)", &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.value, "false");
    run_to_end(s, "return 'alive'", &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.value, "alive");
    kl_script_free(s);
}

/* The watchdog of a slice survives a slice of another script nested in it: the nested one
 * gets its own deadline (and is killed by it), and the outer one is still killed by its own. */
static void test_script_invoke_budget_around_nested_script(void **state)
{
    kl_script_t *s = new_script(50, 0);
    other_script = new_script(20, 0);
    load(other_script, "return { run = function() local n = 0 for i = 1, 1000 do n = n + i end "
                       "return n end }");
    expect_killed(s, "assert(host.other() == 0) while true do end");
    assert_int_equal(other_result.done, 1);
    assert_int_equal(other_result.status, 0);
    assert_string_equal(other_result.value, "500500");

    load(other_script, "return { run = function() while true do end end }");
    expect_killed(s, "assert(host.other() == 0) while true do end");
    assert_int_equal(other_result.status, KL_EBUDGET);
    assert_non_null(strstr(other_result.msg, "time budget exceeded (20 ms)"));

    /* A deadline that passed during the nested slice kills the outer one at once after it. */
    load(other_script, "return { run = function() local t = os.clock() while os.clock() - t < "
                       "0.015 do end end }");
    expect_killed(s, "for i = 1, 4 do host.other() end while true do end");
    kl_script_free(other_script);
    other_script = NULL;
    kl_script_free(s);
}

static void test_script_invoke_instruction_budget(void **state)
{
    kl_script_opts_t o = {.name = "instr", .instr_budget = 100000};
    kl_script_t *s = NULL;
    assert_int_equal(kl_script_new(&o, &s), 0);
    load(s, "return { run = function() local n = 0 while true do n = n + 1 end end,"
            " small = function() local n = 0 for i = 1, 1000 do n = n + i end return n end }");
    result_t r = {0};
    kl_invocation_opts_t io = {.fn = "run", .done = on_done, .done_ud = &r};
    assert_int_equal(kl_invocation_start(s, &io, NULL, NULL), 0);
    assert_int_equal(r.status, KL_EBUDGET);
    assert_non_null(strstr(r.msg, "instruction budget exceeded (100000 instructions)"));
    memset(&r, 0, sizeof(r));
    io.fn = "small";
    assert_int_equal(kl_invocation_start(s, &io, NULL, NULL), 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.value, "500500");
    kl_script_free(s);
}

static void test_script_invoke_memory_ceiling(void **state)
{
    kl_script_t *s = new_script(5000, (size_t)8 << 20);
    static const char *const hogs[] = {
        "local t = {} local i = 0 while true do i = i + 1 t[i] = ('x'):rep(1000) .. i end",
        "local ok = pcall(function() local t = {} for i = 1, 1e9 do t[i] = {i} end end) "
        "return 'escaped'",
        "local s = 'x' while true do local ok, e = pcall(function() s = s .. s end) end",
        "local t = {} while true do t[#t + 1] = coroutine.wrap(function() local u = {} "
        "for i = 1, 1e9 do u[i] = i end end) pcall(t[#t]) end",
        "return table.concat(setmetatable({}, {__index = function(t, i) return 'abcdefgh' end}), "
        "'', 1, 1e8)",
    };
    for (size_t i = 0; i < sizeof(hogs) / sizeof(hogs[0]); i++) {
        result_t r;
        run_to_end(s, hogs[i], &r);
        if (r.status != KL_EMEMLIMIT)
            fail_msg("hog %zu: status %s (%s)", i, kl_err_name(r.status), r.msg);
        assert_non_null(strstr(r.msg, "memory limit exceeded (8192 KiB)"));
        assert_true(kl_script_mem_peak(s) <= ((size_t)8 << 20) + 65536);
        /* The state is still usable for the next invocation. */
        run_to_end(s, "local t = {} for i = 1, 1000 do t[i] = i end return #t", &r);
        assert_int_equal(r.status, 0);
        assert_string_equal(r.value, "1000");
    }
    kl_script_free(s);
}

/* Reads result.requeue_after: the Lua API is usable inside done. */
static void requeue_done(kl_invocation_t *inv, const kl_invocation_result_t *res, void *ud)
{
    assert_int_equal(res->status, 0);
    assert_int_equal(res->nresults, 1);
    assert_int_equal(lua_getfield(res->L, 1, "requeue_after"), LUA_TNUMBER);
    *(lua_Integer *)ud = lua_tointeger(res->L, -1);
}

static void test_script_invoke_load_errors(void **state)
{
    kl_script_t *s = new_script(0, 0);
    kl_errinfo_t err;
    uint64_t t0 = uv_hrtime();
    assert_int_equal(kl_script_load_file(s, FIXTURES "loop_top.lua", &err), KL_EBUDGET);
    assert_true(uv_hrtime() - t0 < 2000000000ull);
    assert_non_null(strstr(err.msg, "loop_top.lua:"));
    assert_non_null(strstr(err.msg, "time budget exceeded (200 ms)"));
    assert_true(err.line >= 2 && err.line <= 4);
    assert_non_null(kl_script_traceback(s));

    assert_int_equal(kl_script_load_file(s, FIXTURES "syntax_error.lua", &err), KL_ESYNTAX);
    assert_non_null(strstr(err.msg, "syntax_error.lua:4:"));
    assert_int_equal(err.line, 4);

    assert_int_equal(kl_script_load_file(s, FIXTURES "returns_number.lua", &err), KL_ETYPE);
    assert_string_equal(err.msg, FIXTURES "returns_number.lua:3: policy must return a table, got "
                                          "number");
    assert_int_equal(err.line, 3);

    assert_int_equal(kl_script_load_buffer(s, "empty.lua", "local x = 1\n", 12, &err), KL_ETYPE);
    assert_string_equal(err.msg, "empty.lua:1: policy must return a table, got no value");

    const char *boom = "\n\nerror('boom')";
    assert_int_equal(kl_script_load_buffer(s, "boom.lua", boom, strlen(boom), &err), KL_ESCRIPT);
    assert_string_equal(err.msg, "boom.lua:3: boom");
    assert_non_null(strstr(kl_script_traceback(s), "boom.lua:3: in main chunk"));

    assert_int_equal(kl_script_load_file(s, FIXTURES "does_not_exist.lua", &err), KL_EIO);

    /* Host calls may not yield during a load. */
    const char *src = "require('host').sleep(1) return {}";
    assert_int_equal(kl_script_load_buffer(s, "y.lua", src, strlen(src), &err), KL_ESCRIPT);
    assert_non_null(strstr(err.msg, "host call cannot yield here: while a policy file is loading"));

    /* Failed loads keep no policy; a good one does. */
    assert_int_equal(kl_script_policy_type(s, "reconcile"), LUA_TNIL);
    assert_int_equal(kl_script_load_file(s, FIXTURES "good.lua", &err), 0);
    assert_null(kl_script_traceback(s));
    char name[32];
    int64_t workers = 0;
    assert_int_equal(kl_script_policy_string(s, "name", name, sizeof(name)), 0);
    assert_string_equal(name, "good");
    assert_int_equal(kl_script_policy_string(s, "name", name, 4), KL_ETOOBIG);
    assert_int_equal(kl_script_policy_string(s, "workers", name, sizeof(name)), KL_ETYPE);
    assert_int_equal(kl_script_policy_string(s, "nope", name, sizeof(name)), KL_ENOTFOUND);
    assert_int_equal(kl_script_policy_integer(s, "workers", &workers), 0);
    assert_int_equal(workers, 2);
    assert_int_equal(kl_script_policy_type(s, "reconcile"), LUA_TFUNCTION);
    assert_int_equal(kl_script_policy_type(s, "owns"), LUA_TTABLE);

    /* policy.reconcile(ctx, key) with a module required from the policy's directory. */
    lua_Integer requeue = 0;
    kl_invocation_opts_t o = {.fn = "reconcile",
                              .push_args = push_key,
                              .push_ud = "21",
                              .done = requeue_done,
                              .done_ud = &requeue};
    assert_int_equal(kl_invocation_start(s, &o, NULL, &err), 0);
    assert_int_equal(requeue, 42);
    kl_script_free(s);
}

static void test_script_invoke_host_yield(void **state)
{
    kl_script_t *s = new_script(0, 0);
    result_t r;
    kl_invocation_t *inv = start(s, "local a = host.sleep(5, 40) return a + host.sleep(1, 2)", &r);
    assert_non_null(inv);
    assert_int_equal(r.done, 0);
    assert_int_equal(kl_script_live(s), 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.value, "42");
    assert_int_equal(kl_script_live(s), 0);

    run_to_end(s, "local ok, v = pcall(host.sleep, 2, 7) return tostring(ok) .. v", &r);
    assert_string_equal(r.value, "true7");
    run_to_end(s,
               "local ok, v = pcall(function() local x = host.sleep(1, 5) error('after ' .. x) "
               "end) return v",
               &r);
    assert_string_equal(r.value, "test.lua:2: after 5");
    run_to_end(s,
               "local ok, v = xpcall(function() return host.sleep(1, 3) * 2 end, print) "
               "return v",
               &r);
    assert_string_equal(r.value, "6");
    run_to_end(s, "return host.sleepk(3)", &r);
    assert_string_equal(r.value, "woke after 3 ms");
    run_to_end(s, "local t = {} for i = 1, 3 do t[i] = host.sleep(1, i) end return #t", &r);
    assert_string_equal(r.value, "3");
    kl_script_free(s);
}

static void test_script_invoke_yield_refused(void **state)
{
    kl_script_t *s = new_script(0, 0);
    result_t r;
    run_to_end(s, "return coroutine.wrap(function() return host.sleep(1) end)()", &r);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_non_null(strstr(r.msg, "host call cannot yield here: inside a coroutine created by "
                                  "the policy"));
    run_to_end(s,
               "local t = {3, 1, 2} table.sort(t, function(a, b) host.sleep(1) return a < b "
               "end)",
               &r);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_non_null(strstr(r.msg, "host call cannot yield here: inside a metamethod"));
    run_to_end(s, "coroutine.yield(1)", &r);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_non_null(strstr(r.msg, "test.lua:2: attempt to yield from outside a coroutine"));
    /* Nested starts are refused while Lua runs. */
    run_to_end(s, "return host.nested()", &r);
    assert_int_equal(nested_rc, KL_EBUSY);
    kl_script_free(s);
}

static void test_script_invoke_cancel(void **state)
{
    kl_script_t *s = new_script(0, 0);
    result_t r;
    kl_invocation_t *inv = start(s,
                                 "local guard <close> = setmetatable({}, {__close = host.mark})\n"
                                 "host.sleep(10000)\nreturn 'not reached'",
                                 &r);
    assert_non_null(inv);
    assert_int_equal(kl_invocation_resume(inv, 5), KL_EINVAL);
    assert_int_equal(kl_invocation_cancel(inv), 0);
    assert_int_equal(cancels, 1);
    assert_int_equal(marks, 1);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.status, KL_ECANCELED);
    assert_int_equal(kl_script_live(s), 0);
    /* The state is still usable. */
    run_to_end(s, "return host.sleep(1, 9)", &r);
    assert_string_equal(r.value, "9");
    kl_script_free(s);
}

#define MANY 300

static int push_i(lua_State *L, void *ud)
{
    lua_pushinteger(L, *(lua_Integer *)ud);
    return 1;
}

static void test_script_invoke_many_in_flight(void **state)
{
    kl_script_t *s = new_script(0, 0);
    load(s, "local host = require('host')\n"
            "return { run = function(i)\n"
            "  local total = 0\n"
            "  for step = 1, 3 do total = total + host.sleep((i * 7 + step) % 11, i) end\n"
            "  return total\n"
            "end }");
    static result_t rs[MANY];
    memset(rs, 0, sizeof(rs));
    static lua_Integer args[MANY];
    for (int i = 0; i < MANY; i++) {
        args[i] = i;
        kl_invocation_opts_t o = {.fn = "run",
                                  .push_args = push_i,
                                  .push_ud = &args[i],
                                  .done = on_done,
                                  .done_ud = &rs[i]};
        kl_invocation_t *inv = NULL;
        assert_int_equal(kl_invocation_start(s, &o, &inv, NULL), 0);
        assert_non_null(inv);
    }
    assert_int_equal(kl_script_live(s), MANY);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(kl_script_live(s), 0);
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(rs[i].done, 1);
        assert_int_equal(rs[i].status, 0);
        char want[32];
        snprintf(want, sizeof(want), "%d", 3 * i);
        assert_string_equal(rs[i].value, want);
    }
    kl_script_free(s);
}

static void on_closed(void *ud)
{
    (*(int *)ud)++;
}

static void test_script_invoke_retire_and_free(void **state)
{
    kl_script_t *s = new_script(0, 0);
    result_t r1, r2;
    start(s, "return host.sleep(5, 1)", &r1);
    /* start() reloads the policy; the first invocation keeps running on its own coroutine. */
    kl_invocation_t *inv2 = start(s, "return host.sleep(10, 2)", &r2);
    assert_non_null(inv2);
    int closed = 0;
    kl_script_retire(s, on_closed, &closed);
    result_t r3 = {0};
    kl_invocation_opts_t o = {.fn = "run", .done = on_done, .done_ud = &r3};
    kl_errinfo_t err;
    assert_int_equal(kl_invocation_start(s, &o, NULL, &err), KL_ECLOSED);
    assert_int_equal(closed, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r1.status, 0);
    assert_string_equal(r1.value, "1");
    assert_int_equal(r2.status, 0);
    assert_string_equal(r2.value, "2");
    assert_int_equal(closed, 1);

    /* kl_script_free cancels what is in flight. */
    s = new_script(0, 0);
    start(s, "return host.sleep(10000)", &r1);
    start(s, "return host.sleep(10000)", &r2);
    kl_script_free(s);
    assert_int_equal(r1.status, KL_ECANCELED);
    assert_int_equal(r2.status, KL_ECANCELED);
    assert_int_equal(cancels, 2);
}

/* Starting the next invocation from a done callback, and freeing the script from one. */
typedef struct chain {
    kl_script_t *s;
    int left;
    int finished;
} chain_t;

static void chain_done(kl_invocation_t *inv, const kl_invocation_result_t *res, void *ud)
{
    chain_t *c = ud;
    c->finished++;
    if (--c->left > 0) {
        kl_invocation_opts_t o = {.fn = "run", .done = chain_done, .done_ud = c};
        assert_int_equal(kl_invocation_start(c->s, &o, NULL, NULL), 0);
    } else {
        kl_script_free(c->s);
    }
}

static void test_script_invoke_chain_from_done(void **state)
{
    kl_script_t *s = new_script(0, 0);
    load(s, "local host = require('host') return { run = function() return host.sleep(1) end }");
    chain_t c = {s, 5, 0};
    kl_invocation_opts_t o = {.fn = "run", .done = chain_done, .done_ud = &c};
    assert_int_equal(kl_invocation_start(s, &o, NULL, NULL), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(c.finished, 5);
}

static void test_script_invoke_budget_spans_slices(void **state)
{
    /* 3 slices of ~30 ms each against a 50 ms budget: the second or third one is killed,
     * although no single slice exceeds the budget; time spent suspended is not charged. */
    kl_script_t *s = new_script(50, 0);
    result_t r;
    run_to_end(s,
               "for i = 1, 3 do local t = os.clock() + 0.03 while os.clock() < t do end "
               "host.sleep(40) end return 'survived'",
               &r);
    assert_int_equal(r.status, KL_EBUDGET);
    assert_true(r.run_ns >= 50000000 && r.run_ns < 95000000);
    run_to_end(s, "for i = 1, 4 do host.sleep(30) end return 'slept'", &r);
    assert_int_equal(r.status, 0);
    assert_true(r.run_ns < 20000000);
    kl_script_free(s);
}

static void test_script_invoke_hand_resume(void **state)
{
    kl_script_t *s = new_script(0, 0);
    result_t r;
    kl_invocation_t *inv = start(s, "local a, b = host.park() return a .. b", &r);
    assert_ptr_equal(inv, parked);
    assert_int_equal(kl_invocation_resume(inv, 3), KL_EINVAL); /* fewer values than that */
    assert_ptr_equal(kl_invocation_script(inv), s);
    assert_ptr_equal(kl_invocation_data(inv), &r);
    lua_State *co = kl_invocation_thread(inv);
    lua_pushinteger(co, 4);
    lua_pushinteger(co, 2);
    assert_int_equal(kl_invocation_resume(inv, 2), 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.value, "42");
    kl_script_free(s);
}

static void test_script_invoke_failures_around_host_calls(void **state)
{
    kl_script_t *s = new_script(0, 0);
    result_t r;
    /* A continuation that raises fails the invocation, unless the policy catches it. */
    start(s, "host.boomk()", &r);
    assert_int_equal(kl_invocation_resume(parked, 0), 0);
    assert_int_equal(r.status, KL_ESCRIPT);
    assert_non_null(strstr(r.msg, "continuation failed"));
    start(s, "local ok, e = pcall(host.boomk) return e", &r);
    assert_int_equal(kl_invocation_resume(parked, 0), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.value, "continuation failed"));

    /* A policy cannot resume another invocation's coroutine, even while it is suspended. */
    load(s, "local host = require('host') local saved\n"
            "return { first = function() saved = coroutine.running() host.park() return 1 end,\n"
            "         second = function() return coroutine.resume(saved) end }");
    result_t r1 = {0}, r2 = {0};
    kl_invocation_opts_t o = {.fn = "first", .done = on_done, .done_ud = &r1};
    kl_invocation_t *first = NULL;
    assert_int_equal(kl_invocation_start(s, &o, &first, NULL), 0);
    assert_non_null(first);
    o.fn = "second";
    o.done_ud = &r2;
    assert_int_equal(kl_invocation_start(s, &o, NULL, NULL), 0);
    assert_int_equal(r2.status, KL_ESCRIPT);
    assert_non_null(strstr(r2.msg, "cannot use the invocation's own coroutine"));
    assert_int_equal(kl_invocation_resume(first, 0), 0);
    assert_int_equal(r1.status, 0);
    assert_string_equal(r1.value, "1");

    /* Cancel while suspended inside pcall: the pcall does not see it. */
    kl_invocation_t *inv =
        start(s, "local ok = pcall(host.sleep, 10000) host.mark() return ok", &r);
    assert_int_equal(kl_invocation_cancel(inv), 0);
    assert_int_equal(r.status, KL_ECANCELED);
    assert_int_equal(marks, 0);
    assert_int_equal(cancels, 1);

    /* A memory error after a host call still fails only that invocation. */
    kl_script_free(s);
    s = new_script(0, (size_t)4 << 20);
    run_to_end(s, "host.sleep(1) local t = {} while true do t[#t + 1] = {} end", &r);
    assert_int_equal(r.status, KL_EMEMLIMIT);
    run_to_end(s, "return host.sleep(1, 5)", &r);
    assert_string_equal(r.value, "5");
    kl_script_free(s);
}

static int push_raises(lua_State *L, void *ud)
{
    return luaL_error(L, "bad argument from the host");
}

static void raising_done(kl_invocation_t *inv, const kl_invocation_result_t *res, void *ud)
{
    (*(int *)ud)++;
    luaL_error(res->L, "the callback raised");
}

static void test_script_invoke_host_side_errors(void **state)
{
    kl_script_t *s = new_script(0, 0);
    load(s, "return { run = function(...) return select('#', ...) end }");
    int calls = 0;
    kl_errinfo_t err;
    kl_invocation_opts_t o = {
        .fn = "run", .push_args = push_raises, .done = raising_done, .done_ud = &calls};
    assert_int_equal(kl_invocation_start(s, &o, NULL, &err), KL_ESCRIPT);
    assert_non_null(strstr(err.msg, "bad argument from the host"));
    assert_int_equal(calls, 0);
    /* A done callback that raises is called once; the error is logged. */
    o.push_args = NULL;
    assert_int_equal(kl_invocation_start(s, &o, NULL, &err), 0);
    assert_int_equal(calls, 1);
    assert_int_equal(kl_script_live(s), 0);
    /* Bad calls. */
    o.done = NULL;
    assert_int_equal(kl_invocation_start(s, &o, NULL, &err), KL_EINVAL);
    int closed = 0;
    kl_script_retire(s, on_closed, &closed); /* nothing in flight: closes now */
    assert_int_equal(closed, 1);
}

/* kl_script_protect: take a reference to a nested policy function, raise, return values. */
static int ref_mapper(lua_State *L, void *ud)
{
    lua_getfield(L, 1, "watches");
    lua_rawgeti(L, -1, 1);
    lua_getfield(L, -1, "map");
    luaL_checktype(L, -1, LUA_TFUNCTION);
    *(int *)ud = luaL_ref(L, LUA_REGISTRYINDEX);
    return 7;
}

static int raise_in_protect(lua_State *L, void *ud)
{
    return luaL_error(L, "raised under protection");
}

static int push_node(lua_State *L, void *ud)
{
    lua_createtable(L, 0, 1);
    lua_pushstring(L, ud);
    lua_setfield(L, -2, "name");
    return 1;
}

static void test_script_invoke_protect_and_refs(void **state)
{
    kl_script_t *s = new_script(0, 0);
    load(s, "return { name = 'refs', reconcile = function() end,\n"
            "  watches = { { resource = 'v1/nodes', map = function(node)\n"
            "    return 'default/' .. node.name end } } }");
    int ref = LUA_NOREF;
    kl_errinfo_t err;
    assert_int_equal(kl_script_protect(s, ref_mapper, &ref, &err), 7);
    assert_true(ref > 0);
    result_t r = {0};
    kl_invocation_opts_t o = {
        .fn_ref = ref, .push_args = push_node, .push_ud = "node-1", .done = on_done, .done_ud = &r};
    assert_int_equal(kl_invocation_start(s, &o, NULL, &err), 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.value, "default/node-1");
    assert_int_equal(kl_script_protect(s, raise_in_protect, NULL, &err), KL_ESCRIPT);
    assert_string_equal(err.msg, "raised under protection");
    o.fn_ref = 999999;
    assert_int_equal(kl_invocation_start(s, &o, NULL, &err), KL_ENOTFOUND);
    assert_int_equal(lua_gettop(kl_script_state(s)), 0);
    kl_script_free(s);
}

/* Every allocation after the prelude may fail: sweep the ceiling across a load, a start, a
 * host call and the results, and require a clean error (or success) at every point. */
static void test_script_invoke_memory_sweep(void **state)
{
    int ok = 0, failed = 0;
    for (size_t limit = 16 << 10; limit < (80 << 10); limit += 128) {
        kl_script_opts_t o = {.name = "sweep", .modules = host_modules, .mem_limit = limit};
        kl_script_t *s = NULL;
        assert_int_equal(kl_script_new(&o, &s), 0);
        kl_errinfo_t err;
        int rc = kl_script_load_file(s, FIXTURES "good.lua", &err);
        if (rc == 0) {
            const char *src = "local host = require('host')\n"
                              "return { run = function(ctx, k) local t = {} for i = 1, 200 do\n"
                              "  t[i] = ('x'):rep(i) .. k end host.sleep(0) return t end }";
            rc = kl_script_load_buffer(s, "sweep.lua", src, strlen(src), &err);
        }
        if (rc == 0) {
            result_t r = {0};
            kl_invocation_opts_t io = {.fn = "run",
                                       .push_args = push_key,
                                       .push_ud = "key",
                                       .done = on_done,
                                       .done_ud = &r};
            rc = kl_invocation_start(s, &io, NULL, &err);
            if (rc == 0) {
                uv_run(&loop, UV_RUN_DEFAULT);
                assert_int_equal(r.done, 1);
                rc = r.status;
            }
        }
        if (rc == 0) {
            ok++;
        } else {
            failed++;
            if (rc != KL_EMEMLIMIT)
                fail_msg("limit %zu: %s %s", limit, kl_err_name(rc), err.msg);
        }
        kl_script_free(s);
    }
    printf("memory sweep: %d runs succeeded, %d failed cleanly\n", ok, failed);
    assert_true(ok > 0);
    assert_true(failed > 0);
}

/* Cost of starting and finishing an empty invocation (printed; generous bound only). */
static void bench_done(kl_invocation_t *inv, const kl_invocation_result_t *res, void *ud)
{
    (*(int *)ud)++;
}

static void test_script_invoke_empty_cost(void **state)
{
    kl_script_t *s = new_script(0, 0);
    load(s, "return { run = function(ctx, key) end }");
    int n = 0;
    kl_invocation_opts_t o = {.fn = "run",
                              .push_args = push_key,
                              .push_ud = "ns/name",
                              .done = bench_done,
                              .done_ud = &n};
    enum { N = 20000 };
    for (int i = 0; i < 1000; i++)
        assert_int_equal(kl_invocation_start(s, &o, NULL, NULL), 0);
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < N; i++)
        assert_int_equal(kl_invocation_start(s, &o, NULL, NULL), 0);
    double us = (double)(uv_hrtime() - t0) / N / 1000.0;
    assert_int_equal(n, N + 1000);
    printf("empty invocation (start + run + done): %.2f us (this build; sanitizers inflate it)\n",
           us);
    assert_true(us < 200.0);
    printf("state memory: used %zu bytes, peak %zu bytes\n", kl_script_mem_used(s),
           kl_script_mem_peak(s));

    /* One host call that yields and is resumed from C, without a loop in between. */
    load(s, "local host = require('host') return { run = function(ctx, key) host.park() end }");
    t0 = uv_hrtime();
    for (int i = 0; i < N; i++) {
        assert_int_equal(kl_invocation_start(s, &o, NULL, NULL), 0);
        assert_int_equal(kl_invocation_resume(parked, 0), 0);
    }
    us = (double)(uv_hrtime() - t0) / N / 1000.0;
    printf("invocation with one host yield + resume: %.2f us\n", us);

    /* A whole script: new state, sandbox, load a small policy, free. */
    kl_script_free(s);
    t0 = uv_hrtime();
    for (int i = 0; i < 200; i++) {
        s = new_script(0, 0);
        load(s, "return { name = 'x', reconcile = function(ctx, key) end }");
        kl_script_free(s);
    }
    us = (double)(uv_hrtime() - t0) / 200 / 1000.0;
    printf("script new + load + free: %.1f us\n", us);
    s = new_script(0, 0);
    kl_script_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_script_invoke_returns_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_throws_file_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_budget_kills_loops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_instruction_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_memory_ceiling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_load_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_host_yield, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_yield_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_many_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_retire_and_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_chain_from_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_budget_spans_slices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_budget_around_nested_script, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_hand_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_failures_around_host_calls, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_host_side_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_protect_and_refs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_memory_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_invoke_empty_cost, setup, teardown),
    };
    return cmocka_run_group_tests_name("script_invoke", tests, NULL, NULL);
}
