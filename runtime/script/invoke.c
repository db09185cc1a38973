/* Invocations: coroutines that run policy functions, suspend in host calls, and obey budgets.
 *
 * Life of an invocation: start takes a coroutine from the script's pool (or makes one), sets it
 * up inside a protected call on the main thread (function and arguments, then lua_xmove), and
 * resumes it. A slice ends when the coroutine returns, fails, or yields. A yield is legitimate
 * only when kl_script_yield made it (host_yield); the invocation then waits, PENDING, for
 * kl_invocation_resume or kl_invocation_cancel. At the end, finish builds the error and
 * traceback, runs `done` inside a protected call, and recycles the coroutine: a cleanly finished
 * one goes back to the pool, any other is dropped (a thread killed from a hook is left with
 * hooks disabled by Lua, so it must never run again).
 *
 * Budgets: the time budget is kept by a watchdog, a POSIX timer per OS thread that signals
 * that thread when a slice's deadline passes; the handler sets a count hook of 1 on the Lua
 * thread running then (the invocation's coroutine, or the policy coroutine it resumed, which
 * the sandbox's resume reports through kl__watchdog_switch), and the hook kills it. Lua's
 * lua_sethook is meant to be called from a signal handler. Without a hook Lua runs at full
 * speed: a count hook, even one firing every 10,000 instructions, makes the VM call into the
 * debug machinery on every instruction (about 1.75 times slower). Loads and invocations with
 * an instruction budget keep a count hook instead (KL_HOOK_EVERY instructions per tick,
 * comparing uv_hrtime() with the deadline too). A kill marks the invocation fatal, re-arms the
 * hook on every line, and raises a light-userdata sentinel that the sandbox's
 * pcall/xpcall/coroutine wrappers re-raise.
 */
#define _GNU_SOURCE /* SIGEV_THREAD_ID, gettid */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "kubelua/log.h"

#include "script/script_int.h"

/* Extra space of host threads that belong to no invocation right now. */
static kl_invocation_t idle_marker;

static kl_invocation_t **slot(lua_State *L)
{
    return (kl_invocation_t **)lua_getextraspace(L);
}

kl_script_t *kl_script_of(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

bool kl__is_host_thread(lua_State *L)
{
    return *slot(L) != NULL;
}

lua_State *kl_invocation_thread(const kl_invocation_t *inv)
{
    return inv->co;
}

kl_script_t *kl_invocation_script(const kl_invocation_t *inv)
{
    return inv->s;
}

void *kl_invocation_data(const kl_invocation_t *inv)
{
    return inv->done_ud;
}

int kl__msg_line(const char *msg)
{
    for (const char *p = strchr(msg, ':'); p != NULL; p = strchr(p + 1, ':')) {
        const char *q = p + 1;
        int line = 0;
        while (*q >= '0' && *q <= '9' && line < 100000000)
            line = line * 10 + (*q++ - '0');
        if (q > p + 1 && *q == ':')
            return line;
    }
    return 0;
}

/* Writes "source:line: " of the innermost Lua frame of L into buf; returns the line (0: none). */
static int where(lua_State *L, char *buf, size_t cap)
{
    lua_Debug ar;
    buf[0] = '\0';
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            snprintf(buf, cap, "%s:%d: ", ar.short_src, ar.currentline);
            return ar.currentline;
        }
    }
    return 0;
}

/* {============================================================================================
** Budgets and kills
** =============================================================================================*/

static void hook(lua_State *L, lua_Debug *ar);

static int hook_mask(const kl_invocation_t *inv)
{
    return LUA_MASKCOUNT | (inv->is_load ? LUA_MASKRET : 0);
}

/* Installs the invocation's resting hook on L: the count hook when it counts, else none. */
static void rest_hook(const kl_invocation_t *inv, lua_State *L)
{
    if (inv->counting)
        lua_sethook(L, hook, hook_mask(inv), KL_HOOK_EVERY);
    else
        lua_sethook(L, NULL, 0, 0);
}

/* {============================================================================================
** The watchdog
** =============================================================================================*/

static struct {
    pthread_once_t once;
    int signo; /* 0: no watchdog in this process (count hooks everywhere) */
} wd_process = {.once = PTHREAD_ONCE_INIT};

/* The timer is armed lazily: a slice that ends leaves it running, and a slice whose deadline
 * is later than the pending expiry leaves it too; when it fires early the handler arms it
 * again for the running slice's deadline. Most reconciles thus make no timer system call. */
static _Thread_local struct {
    bool made, failed;
    timer_t timer;
    lua_State *volatile current; /* the Lua thread running a watched slice, or NULL */
    volatile uint64_t deadline;  /* the running slice's (uv_hrtime), when current is set */
    volatile uint64_t armed;     /* when the timer fires next, or 0 */
} wd;

static uint64_t wd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock of uv_hrtime() */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void wd_set_timer(uint64_t deadline, uint64_t now)
{
    uint64_t ns = deadline > now ? deadline - now : 1;
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t)(ns / 1000000000u);
    its.it_value.tv_nsec = (long)(ns % 1000000000u);
    wd.armed = deadline;
    timer_settime(wd.timer, 0, &its, NULL);
}

/* Async-signal-safe: clock_gettime, timer_settime and lua_sethook only. */
static void wd_handler(int signo, siginfo_t *si, void *uc)
{
    (void)signo;
    (void)si;
    (void)uc;
    int saved_errno = errno;
    wd.armed = 0;
    lua_State *L = wd.current;
    if (L != NULL) {
        uint64_t now = wd_now(), deadline = wd.deadline;
        if (deadline <= now)
            lua_sethook(L, hook, LUA_MASKCOUNT, 1);
        else
            wd_set_timer(deadline, now);
    }
    errno = saved_errno;
}

/* Makes sure the timer fires by the running slice's deadline (or hooks L at once). */
static void wd_cover(lua_State *L, uint64_t deadline)
{
    uint64_t now = uv_hrtime();
    if (deadline <= now)
        lua_sethook(L, hook, LUA_MASKCOUNT, 1);
    else if (wd.armed == 0 || wd.armed > deadline || wd.armed <= now)
        wd_set_timer(deadline, now);
}

static void wd_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = wd_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    int signo = SIGRTMIN + 1;
    if (sigaction(signo, &sa, NULL) == 0)
        wd_process.signo = signo;
}

/* This OS thread's timer, made on first use; false when there can be none. */
static bool wd_ready(void)
{
    if (wd.made)
        return true;
    if (wd.failed)
        return false;
    pthread_once(&wd_process.once, wd_install);
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = wd_process.signo;
    sev._sigev_un._tid = gettid(); /* sigev_notify_thread_id, which glibc 2.36 does not name */
    if (wd_process.signo == 0 || timer_create(CLOCK_MONOTONIC, &sev, &wd.timer) != 0) {
        KL_WARN("script", "no time-budget watchdog (%s): Lua runs with a count hook",
                wd_process.signo == 0 ? "sigaction failed" : "timer_create failed");
        wd.failed = true;
        return false;
    }
    wd.made = true;
    return true;
}

/* What a slice replaces, to put back when it ends (slices nest when a host call runs another
 * script's code synchronously). */
typedef struct wd_saved {
    bool armed;
    lua_State *current;
    uint64_t deadline;
} wd_saved_t;

static void wd_arm(kl_invocation_t *inv, wd_saved_t *saved)
{
    saved->armed = false;
    if (inv->counting)
        return;
    if (!wd_ready()) {
        inv->counting = true;
        lua_sethook(inv->co, hook, hook_mask(inv), KL_HOOK_EVERY);
        return;
    }
    saved->armed = true;
    saved->current = wd.current;
    saved->deadline = wd.deadline;
    wd.deadline = inv->deadline;
    wd.current = inv->co;
    wd_cover(inv->co, inv->deadline);
}

/* The slice ended: back to the one it interrupted, if any. The timer keeps running. */
static void wd_disarm(const wd_saved_t *saved)
{
    if (!saved->armed)
        return;
    wd.current = NULL;
    wd.deadline = saved->deadline;
    wd.current = saved->current;
    if (saved->current != NULL)
        wd_cover(saved->current, saved->deadline);
}

lua_State *kl__watchdog_switch(lua_State *L)
{
    lua_State *prev = wd.current;
    if (prev != NULL)
        wd.current = L;
    return prev;
}

/* }============================================================================================*/

static void set_fatal(kl_invocation_t *inv, lua_State *L, int code, const char *what)
{
    char pos[LUA_IDSIZE + 32];
    int line = where(L, pos, sizeof(pos));
    inv->fatal = code;
    kl_err_at(&inv->err, code, line, 0, "%s%s", pos, what);
    lua_sethook(L, hook, LUA_MASKLINE, 0);
    if (inv->co != L)
        lua_sethook(inv->co, hook, LUA_MASKLINE, 0);
}

static int raise_kill(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&kl__kill_sentinel);
    return lua_error(L);
}

void kl_script_propagate_fatal(lua_State *L, int status)
{
    kl__propagate_fatal(L, status);
}

void kl__propagate_fatal(lua_State *L, int status)
{
    kl_invocation_t *inv = kl_script_of(L)->running;
    if (inv == NULL)
        return;
    if (status == LUA_ERRMEM && !inv->fatal) {
        char what[96];
        snprintf(what, sizeof(what), "memory limit exceeded (%zu KiB)", inv->s->mem_limit >> 10);
        set_fatal(inv, L, KL_EMEMLIMIT, what);
    }
    if (inv->fatal)
        raise_kill(L);
}

static void hook(lua_State *L, lua_Debug *ar)
{
    kl_invocation_t *inv = kl_script_of(L)->running;
    if (inv == NULL)
        return;
    if (!inv->fatal) {
        char what[96];
        switch (ar->event) {
        case LUA_HOOKCOUNT:
            if (!inv->counting) {
                /* Set by the watchdog: a deadline passed, or one of an earlier slice did and
                 * this thread still carries the hook. */
                if (uv_hrtime() < inv->deadline) {
                    lua_sethook(L, NULL, 0, 0);
                    return;
                }
                snprintf(what, sizeof(what), "time budget exceeded (%llu ms)",
                         (unsigned long long)(inv->budget_ns / 1000000));
                set_fatal(inv, L, KL_EBUDGET, what);
                break;
            }
            inv->instructions += KL_HOOK_EVERY;
            if (inv->instr_budget != 0 && inv->instructions >= inv->instr_budget) {
                snprintf(what, sizeof(what), "instruction budget exceeded (%llu instructions)",
                         (unsigned long long)inv->instr_budget);
            } else if (uv_hrtime() >= inv->deadline) {
                snprintf(what, sizeof(what), "time budget exceeded (%llu ms)",
                         (unsigned long long)(inv->budget_ns / 1000000));
            } else {
                return;
            }
            set_fatal(inv, L, KL_EBUDGET, what);
            break;
        case LUA_HOOKRET:
            /* Load only: remember where the policy chunk returns, to point at it when it
             * returns something other than a table. */
            if (inv->is_load && inv->chunkname != NULL && lua_getinfo(L, "Sl", ar) &&
                strcmp(ar->what, "main") == 0 && strcmp(ar->source, inv->chunkname) == 0)
                inv->ret_line = ar->currentline;
            return;
        case LUA_HOOKLINE:
            /* A policy coroutine still carrying the line hook of an earlier kill. */
            rest_hook(inv, L);
            return;
        default:
            return;
        }
    }
    raise_kill(L);
}

/* }============================================================================================*/

/* {============================================================================================
** Bookkeeping: invocation structs, coroutine pool, entry depth
** =============================================================================================*/

static kl_invocation_t *inv_new(kl_script_t *s)
{
    kl_invocation_t *inv = s->spare;
    if (inv != NULL) {
        s->spare = inv->next;
        s->nspare--;
    } else {
        inv = malloc(sizeof(*inv));
        if (inv == NULL)
            return NULL;
    }
    memset(inv, 0, offsetof(kl_invocation_t, err));
    inv->s = s;
    inv->co_ref = LUA_NOREF;
    inv->err.code = 0;
    inv->err.line = 0;
    inv->err.column = 0;
    inv->err.msg[0] = '\0';
    return inv;
}

static void inv_release(kl_script_t *s, kl_invocation_t *inv)
{
    if (s->nspare < KL_INV_SPARE_MAX) {
        inv->next = s->spare;
        s->spare = inv;
        s->nspare++;
    } else {
        free(inv);
    }
}

static void link_live(kl_script_t *s, kl_invocation_t *inv)
{
    inv->prev = NULL;
    inv->next = s->live;
    if (s->live != NULL)
        s->live->prev = inv;
    s->live = inv;
    s->nlive++;
}

static void unlink_live(kl_script_t *s, kl_invocation_t *inv)
{
    if (inv->prev != NULL)
        inv->prev->next = inv->next;
    else
        s->live = inv->next;
    if (inv->next != NULL)
        inv->next->prev = inv->prev;
    s->nlive--;
}

static void thread_take(kl_script_t *s, kl_invocation_t *inv)
{
    if (s->npool > 0) {
        struct kl_thread_slot *t = &s->pool[--s->npool];
        inv->co = t->co;
        inv->co_ref = t->ref;
    }
}

/* Gives the coroutine back to the pool when it can run again, else drops it. */
static void thread_put(kl_script_t *s, kl_invocation_t *inv, bool reusable)
{
    lua_State *co = inv->co;
    if (co == NULL)
        return;
    *slot(co) = &idle_marker;
    if (reusable && s->npool < KL_THREAD_POOL_MAX) {
        lua_settop(co, 0);
        s->pool[s->npool].co = co;
        s->pool[s->npool].ref = inv->co_ref;
        s->npool++;
    } else {
        luaL_unref(s->L, LUA_REGISTRYINDEX, inv->co_ref);
    }
    inv->co = NULL;
    inv->co_ref = LUA_NOREF;
}

void kl__enter(kl_script_t *s)
{
    s->depth++;
}

void kl__leave(kl_script_t *s)
{
    if (--s->depth == 0 && (s->free_pending || (s->retiring && s->nlive == 0)))
        kl__script_destroy(s);
}

/* }============================================================================================*/

/* {============================================================================================
** Setup, slices, completion
** =============================================================================================*/

struct setup_args {
    kl_invocation_t *inv;
    const kl_invocation_opts_t *o; /* NULL for a load */
    const char *chunk;             /* load: the source to compile */
    size_t chunk_len;
    const char *chunkname;
    int code;  /* what a failure means */
    int nargs; /* out */
};

/* Runs under lua_pcall on the main thread: gets a coroutine, pushes the function and its
 * arguments, moves them onto the coroutine.   [-1, +0, e] */
static int setup_tramp(lua_State *L)
{
    struct setup_args *a = lua_touserdata(L, 1);
    kl_invocation_t *inv = a->inv;
    lua_settop(L, 0);
    a->code = KL_ENOMEM;
    if (inv->co == NULL) {
        lua_State *co = lua_newthread(L);
        *slot(co) = &idle_marker;
        inv->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        inv->co = co;
    }
    if (a->chunk != NULL) {
        int st = kl__load_chunk(L, a->chunk, a->chunk_len, a->chunkname);
        if (st != LUA_OK) {
            a->code = st != LUA_ERRMEM ? KL_ESYNTAX : inv->s->mem_armed ? KL_EMEMLIMIT : KL_ENOMEM;
            return lua_error(L);
        }
    } else if (a->o->fn != NULL) {
        a->code = KL_ENOTFOUND;
        if (lua_rawgeti(L, LUA_REGISTRYINDEX, inv->s->policy_ref) != LUA_TTABLE)
            return luaL_error(L, "no policy loaded");
        lua_pushstring(L, a->o->fn);
        if (lua_rawget(L, 1) != LUA_TFUNCTION)
            return luaL_error(L, "policy has no function '%s'", a->o->fn);
        lua_remove(L, 1);
    } else {
        a->code = KL_ENOTFOUND;
        if (lua_rawgeti(L, LUA_REGISTRYINDEX, a->o->fn_ref) != LUA_TFUNCTION)
            return luaL_error(L, "reference %d is not a function", a->o->fn_ref);
    }
    int n = 0;
    if (a->o != NULL && a->o->push_args != NULL) {
        a->code = KL_ESCRIPT;
        n = a->o->push_args(L, a->o->push_ud);
        a->code = KL_EINVAL;
        if (n < 0 || lua_gettop(L) != n + 1)
            return luaL_error(L, "push_args returned %d but pushed %d values", n,
                              lua_gettop(L) - 1);
    }
    a->code = KL_ENOMEM;
    if (!lua_checkstack(inv->co, n + 1))
        return luaL_error(L, "coroutine stack overflow");
    lua_xmove(L, inv->co, n + 1);
    a->nargs = n;
    return 0;
}

/* Prepares inv (coroutine, function, arguments) and makes it live. On failure inv is released
 * and err says why. */
static int begin(kl_script_t *s, kl_invocation_t *inv, struct setup_args *a, kl_errinfo_t *err)
{
    lua_State *L = s->L;
    int top = lua_gettop(L);
    int saved_lift = s->mem_lift;
    thread_take(s, inv);
    int st = LUA_ERRMEM;
    s->mem_lift = 0; /* the arguments count against the ceiling, even when started from done */
    if (lua_checkstack(L, 2)) {
        lua_pushcfunction(L, setup_tramp);
        lua_pushlightuserdata(L, a);
        st = lua_pcall(L, 1, 0, 0);
    }
    s->mem_lift = saved_lift;
    if (st != LUA_OK) {
        int code = st == LUA_ERRMEM ? (s->mem_armed ? KL_EMEMLIMIT : KL_ENOMEM) : a->code;
        const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : kl_strerror(code);
        kl_err_at(err, code, kl__msg_line(msg), 0, "%s", msg);
        lua_settop(L, top);
        thread_put(s, inv, true);
        inv_release(s, inv);
        return code;
    }
    *slot(inv->co) = inv;
    inv->counting = inv->is_load || inv->instr_budget != 0;
    rest_hook(inv, inv->co);
    link_live(s, inv);
    return 0;
}

/* Fills inv->err from the coroutine's failure; returns the KL_E* status. */
static int describe(kl_invocation_t *inv, int st)
{
    lua_State *co = inv->co;
    char pos[LUA_IDSIZE + 32];
    if (inv->fatal)
        return inv->fatal;
    int line = where(co, pos, sizeof(pos));
    if (st == LUA_ERRMEM)
        return kl_err_at(&inv->err, KL_EMEMLIMIT, line, 0, "%smemory limit exceeded (%zu KiB)", pos,
                         inv->s->mem_limit >> 10);
    switch (lua_type(co, -1)) {
    case LUA_TSTRING: {
        const char *msg = lua_tostring(co, -1);
        int mline = kl__msg_line(msg);
        return kl_err_at(&inv->err, KL_ESCRIPT, mline ? mline : line, 0, "%s", msg);
    }
    case LUA_TNUMBER:
        if (lua_isinteger(co, -1))
            return kl_err_at(&inv->err, KL_ESCRIPT, line, 0, "%s%lld", pos,
                             (long long)lua_tointeger(co, -1));
        return kl_err_at(&inv->err, KL_ESCRIPT, line, 0, "%s%.14g", pos, lua_tonumber(co, -1));
    default:
        return kl_err_at(&inv->err, KL_ESCRIPT, line, 0, "%s(error object is a %s value)", pos,
                         luaL_typename(co, -1));
    }
}

struct tb_args {
    lua_State *co;
    const char *msg;
    char *out;
};

static int tb_tramp(lua_State *L)
{
    struct tb_args *a = lua_touserdata(L, 1);
    size_t len;
    luaL_traceback(L, a->co, a->msg, 0);
    const char *t = lua_tolstring(L, -1, &len);
    a->out = malloc(len + 1);
    if (a->out != NULL)
        memcpy(a->out, t, len + 1);
    return 0;
}

/* The coroutine's traceback as a malloc'ed string, or NULL. */
static char *traceback(kl_script_t *s, kl_invocation_t *inv)
{
    lua_State *L = s->L;
    struct tb_args a = {inv->co, inv->err.msg, NULL};
    int top = lua_gettop(L);
    s->mem_lift++;
    if (lua_checkstack(L, 2)) {
        lua_pushcfunction(L, tb_tramp);
        lua_pushlightuserdata(L, &a);
        lua_pcall(L, 1, 0, 0);
    }
    s->mem_lift--;
    lua_settop(L, top);
    return a.out;
}

/* Closes a suspended or failed coroutine: its to-be-closed variables run, under what is left of
 * the budget, with no host yields possible. */
static void close_thread(kl_invocation_t *inv)
{
    kl_script_t *s = inv->s;
    int saved_lift = s->mem_lift;
    s->mem_lift = 0;
    s->running = inv;
    uint64_t t0 = uv_hrtime();
    inv->deadline = t0 + (inv->budget_ns > inv->used_ns ? inv->budget_ns - inv->used_ns : 0);
    lua_resetthread(inv->co);
    inv->used_ns += uv_hrtime() - t0;
    s->running = NULL;
    s->mem_lift = saved_lift;
}

struct done_args {
    kl_invocation_t *inv;
    kl_invocation_result_t res;
    bool called;
};

static int done_tramp(lua_State *L)
{
    struct done_args *a = lua_touserdata(L, 1);
    kl_invocation_t *inv = a->inv;
    lua_settop(L, 0);
    if (a->res.nresults > 0) {
        luaL_checkstack(L, a->res.nresults, "too many results");
        lua_xmove(inv->co, L, a->res.nresults);
    }
    a->res.L = L;
    a->called = true;
    inv->done(inv, &a->res, inv->done_ud);
    return 0;
}

/* Runs `done` exactly once: inside a protected call when possible. */
static void call_done(kl_invocation_t *inv, int code, int nres, const char *tb)
{
    kl_script_t *s = inv->s;
    lua_State *L = s->L;
    struct done_args a = {.inv = inv};
    a.res.status = code;
    a.res.nresults = nres;
    a.res.err = code != 0 ? &inv->err : NULL;
    a.res.traceback = tb;
    a.res.run_ns = inv->used_ns;
    int top = lua_gettop(L);
    s->mem_lift++;
    if (lua_checkstack(L, 2)) {
        lua_pushcfunction(L, done_tramp);
        lua_pushlightuserdata(L, &a);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
            const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
            if (a.called)
                KL_ERROR(s->log_component, "invocation callback raised: %s", msg);
        }
        lua_settop(L, top);
    }
    s->mem_lift--;
    if (!a.called) {
        if (nres > 0 && lua_gettop(inv->co) >= nres)
            lua_pop(inv->co, nres);
        a.res.L = NULL;
        a.res.nresults = 0;
        a.called = true;
        inv->done(inv, &a.res, inv->done_ud);
    }
}

static void finish(kl_invocation_t *inv, int st, int nres)
{
    kl_script_t *s = inv->s;
    int code = 0;
    inv->state = KL_INV_IDLE;
    if (st == LUA_YIELD) {
        /* A yield that no host call made, from the invocation's top level. */
        char pos[LUA_IDSIZE + 32];
        lua_pop(inv->co, nres);
        int line = where(inv->co, pos, sizeof(pos));
        code = inv->fatal ? inv->fatal
                          : kl_err_at(&inv->err, KL_EYIELD, line, 0,
                                      "%sattempt to yield from outside a coroutine (only host "
                                      "calls may suspend an invocation)",
                                      pos);
    } else if (st != LUA_OK || inv->fatal) {
        /* A kill that a host function swallowed still fails the invocation. */
        code = describe(inv, st);
    }
    char *tb = NULL;
    if (code != 0) {
        nres = 0;
        tb = traceback(s, inv);
        if (!inv->fatal)
            close_thread(inv);
    }
    call_done(inv, code, nres, tb);
    free(tb);
    thread_put(s, inv, code == 0);
    unlink_live(s, inv);
    inv_release(s, inv);
}

/* Runs one slice; true when the invocation is now suspended in a host call, false when it has
 * finished (and was freed). */
static bool run(kl_invocation_t *inv, int nargs)
{
    kl_script_t *s = inv->s;
    lua_State *co = inv->co;
    int saved_lift = s->mem_lift;
    int nres = 0;
    s->mem_lift = 0;
    s->running = inv;
    inv->state = KL_INV_RUNNING;
    inv->host_yield = false;
    uint64_t t0 = uv_hrtime();
    inv->deadline = t0 + (inv->budget_ns > inv->used_ns ? inv->budget_ns - inv->used_ns : 0);
    wd_saved_t saved;
    wd_arm(inv, &saved);
    int st = lua_resume(co, NULL, nargs, &nres);
    wd_disarm(&saved);
    inv->used_ns += uv_hrtime() - t0;
    s->running = NULL;
    s->mem_lift = saved_lift;
    if (st == LUA_YIELD && inv->host_yield && !inv->fatal) {
        lua_pop(co, nres);
        inv->state = KL_INV_PENDING;
        return true;
    }
    finish(inv, st, nres);
    return false;
}

/* }============================================================================================*/

/* {============================================================================================
** Public API
** =============================================================================================*/

int kl_invocation_start(kl_script_t *s, const kl_invocation_opts_t *o, kl_invocation_t **out,
                        kl_errinfo_t *err)
{
    if (out != NULL)
        *out = NULL;
    if (s == NULL || o == NULL || o->done == NULL)
        return kl_err(err, KL_EINVAL, "kl_invocation_start: missing script, options or callback");
    if (s->free_pending || s->retiring)
        return kl_err(err, KL_ECLOSED, "script %s is shutting down", s->name);
    if (s->running != NULL)
        return kl_err(err, KL_EBUSY, "cannot start an invocation while Lua code of %s runs",
                      s->name);
    kl_invocation_t *inv = inv_new(s);
    if (inv == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    inv->done = o->done;
    inv->done_ud = o->done_ud;
    inv->budget_ns = o->time_budget_ms ? (uint64_t)o->time_budget_ms * 1000000 : s->time_budget_ns;
    inv->instr_budget = o->instr_budget ? o->instr_budget : s->instr_budget;

    kl__enter(s);
    struct setup_args a = {.inv = inv, .o = o};
    int rc = begin(s, inv, &a, err);
    if (rc == 0 && run(inv, a.nargs) && out != NULL)
        *out = inv;
    kl__leave(s);
    return rc;
}

int kl_invocation_resume(kl_invocation_t *inv, int nvalues)
{
    kl_script_t *s = inv->s;
    if (s->running != NULL)
        return KL_EBUSY;
    if (inv->state != KL_INV_PENDING || nvalues < 0 || lua_gettop(inv->co) < nvalues)
        return KL_EINVAL;
    inv->cancel = NULL;
    inv->cancel_ud = NULL;
    kl__enter(s);
    run(inv, nvalues);
    kl__leave(s);
    return 0;
}

int kl_invocation_cancel(kl_invocation_t *inv)
{
    kl_script_t *s = inv->s;
    if (inv->state == KL_INV_RUNNING || s->running != NULL)
        return KL_EBUSY;
    if (inv->state != KL_INV_PENDING)
        return KL_EINVAL;
    kl__enter(s);
    kl_invocation_cancel_cb cb = inv->cancel;
    inv->cancel = NULL;
    inv->state = KL_INV_IDLE;
    if (cb != NULL)
        cb(inv, inv->cancel_ud);
    kl_err(&inv->err, KL_ECANCELED, "invocation canceled");
    close_thread(inv);
    call_done(inv, KL_ECANCELED, 0, NULL);
    thread_put(s, inv, false);
    unlink_live(s, inv);
    inv_release(s, inv);
    kl__leave(s);
    return 0;
}

kl_invocation_t *kl_script_check_yield(lua_State *L)
{
    kl_invocation_t *inv = *slot(L);
    const char *why = NULL;
    if (inv == NULL)
        why = L == kl_script_of(L)->L ? "outside an invocation"
                                      : "inside a coroutine created by the policy";
    else if (inv->co != L)
        why = "outside an invocation";
    else if (inv->is_load)
        why = "while a policy file is loading";
    else if (!lua_isyieldable(L))
        why = "inside a metamethod, a C callback (sort, gsub) or a module being loaded";
    if (why != NULL)
        luaL_error(L, "host call cannot yield here: %s", why);
    if (inv->fatal)
        raise_kill(L);
    return inv;
}

int kl_script_yield(lua_State *L, kl_invocation_cancel_cb cancel, void *cancel_ud, lua_KFunction k,
                    lua_KContext kctx)
{
    kl_invocation_t *inv = kl_script_check_yield(L);
    inv->cancel = cancel;
    inv->cancel_ud = cancel_ud;
    inv->host_yield = true;
    return lua_yieldk(L, 0, kctx, k);
}

/* }============================================================================================*/

/* {============================================================================================
** Loading and teardown
** =============================================================================================*/

struct load_ctx {
    int rc;
    kl_errinfo_t *err;
    const char *display; /* chunk name without its '@' */
};

static void load_done(kl_invocation_t *inv, const kl_invocation_result_t *res, void *ud)
{
    struct load_ctx *c = ud;
    kl_script_t *s = inv->s;
    if (res->status != 0) {
        c->rc = res->status;
        if (c->err != NULL)
            *c->err = *res->err;
        if (res->traceback != NULL)
            s->traceback = strdup(res->traceback);
        return;
    }
    c->rc = KL_ENOMEM; /* until the policy is stored: luaL_ref may raise */
    lua_State *L = res->L;
    if (L == NULL)
        return;
    if (res->nresults < 1 || !lua_istable(L, 1)) {
        const char *got = res->nresults < 1 ? "no value" : luaL_typename(L, 1);
        if (inv->ret_line > 0)
            c->rc = kl_err_at(c->err, KL_ETYPE, inv->ret_line, 0,
                              "%s:%d: policy must return a table, got %s", c->display,
                              inv->ret_line, got);
        else
            c->rc =
                kl_err(c->err, KL_ETYPE, "%s: policy must return a table, got %s", c->display, got);
        return;
    }
    lua_pushvalue(L, 1);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    luaL_unref(L, LUA_REGISTRYINDEX, s->policy_ref);
    s->policy_ref = ref;
    s->policy_line = inv->ret_line;
    c->rc = 0;
}

int kl__run_load(kl_script_t *s, const char *buf, size_t len, const char *chunkname,
                 kl_errinfo_t *err)
{
    if (s->free_pending || s->retiring)
        return kl_err(err, KL_ECLOSED, "script %s is shutting down", s->name);
    if (s->running != NULL)
        return kl_err(err, KL_EBUSY, "cannot load while Lua code of %s runs", s->name);
    free(s->traceback);
    s->traceback = NULL;
    kl_invocation_t *inv = inv_new(s);
    if (inv == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    struct load_ctx c = {
        .rc = KL_ESCRIPT,
        .err = err,
        .display = chunkname[0] == '@' || chunkname[0] == '=' ? chunkname + 1 : chunkname,
    };
    inv->is_load = true;
    inv->chunkname = chunkname;
    inv->budget_ns = s->load_budget_ns;
    inv->instr_budget = s->instr_budget;
    inv->done = load_done;
    inv->done_ud = &c;

    kl__enter(s);
    struct setup_args a = {.inv = inv, .chunk = buf, .chunk_len = len, .chunkname = chunkname};
    int rc = begin(s, inv, &a, err);
    if (rc == 0) {
        /* Host calls cannot yield during a load, so the run always finishes; the guard
         * below only protects against a host module that yields by hand. */
        if (run(inv, 0)) {
            (void)kl_invocation_cancel(inv);
            c.rc = kl_err(err, KL_EYIELD, "%s: suspended while loading", c.display);
        }
        rc = c.rc;
        if (rc == KL_ENOMEM)
            kl_err(err, rc, "%s: out of memory storing the policy", c.display);
    }
    kl__leave(s);
    return rc;
}

void kl__script_destroy(kl_script_t *s)
{
    s->free_pending = true;
    s->depth++;
    while (s->live != NULL) {
        kl_invocation_t *inv = s->live;
        if (kl_invocation_cancel(inv) != 0) {
            /* Only reachable through a bug: never loop forever on it. */
            KL_ERROR(s->log_component, "dropping an invocation in state %d", (int)inv->state);
            unlink_live(s, inv);
            inv_release(s, inv);
        }
    }
    s->depth--;
    if (s->closed != NULL)
        s->closed(s->closed_ud);
    lua_close(s->L);
    while (s->spare != NULL) {
        kl_invocation_t *inv = s->spare;
        s->spare = inv->next;
        free(inv);
    }
    free(s->name);
    free(s->log_component);
    free(s->policy_dir);
    free(s->traceback);
    free(s);
}

/* }============================================================================================*/
