/* kubelua/script.h - the Lua host: one sandboxed lua_State per policy, invocations as coroutines.
 *
 * Uses Lua 5.4, libuv (only uv_hrtime; the host never runs a loop itself), log.h and error.h.
 * Loop thread only: a script and everything it hands out belong to the thread that created it.
 *
 * A script (kl_script_t) owns one lua_State whose every byte goes through an allocator that
 * counts against a ceiling, and whose globals are an allow-listed sandbox (see sandbox.c).
 * Loading a policy runs its file once under a load budget; it must return a table, the policy.
 *
 * An invocation (kl_invocation_t) is one call of a Lua function (usually a field of the policy
 * table) on its own coroutine. It runs until it returns, fails, exceeds its time or instruction
 * budget, or suspends inside a host call (a C function that called kl_script_yield). A suspended
 * invocation is continued from a loop callback with kl_invocation_resume, or dropped with
 * kl_invocation_cancel. Whatever happens, its `done` callback runs exactly once (unless
 * kl_invocation_start itself failed), and the invocation is freed right after `done` returns.
 *
 * Rules that keep the stack sane:
 *   - Never call kl_invocation_start/resume/cancel or kl_script_load_* while Lua code of the same
 *     script is running (from inside a host function): they return KL_EBUSY. Defer to the loop.
 *   - A host call either returns without yielding, or yields and is resumed later from the loop.
 *   - Only functions given in this header (or a protected call, kl_script_protect) touch the
 *     lua_State; raw Lua API calls that may raise must run inside Lua or a protected call.
 *
 * Lifetime: kl_script_free cancels what is in flight and closes the state; kl_script_retire (the
 * hot-reload shape) refuses new invocations and closes the state when the last one has finished.
 *
 * Embedding recipe (the controller runtime):
 *     static const kl_script_module_t mods[] = {{"kube", luaopen_kube}, {NULL, NULL}};
 *     kl_script_opts_t o = {.name = "job", .modules = mods};
 *     kl_script_new(&o, &s); kl_script_load_file(s, "policies/job.lua", &err);
 *     per reconcile: kl_invocation_start(s, &(kl_invocation_opts_t){.fn = "reconcile",
 *         .push_args = push_ctx_and_key, .push_ud = w, .done = reconcile_done, .done_ud = w},
 *         NULL, &err);
 * A ctx method such as ctx:get() checks its arguments, calls kl_script_check_yield, starts the
 * HTTP request remembering the invocation, and returns kl_script_yield(L, abort_request, req,
 * decode_k, (lua_KContext)req); the request's completion callback (on the loop) calls
 * kl_invocation_resume(inv, 0), and decode_k pushes the decoded response inside the coroutine.
 */
#ifndef KUBELUA_SCRIPT_H
#define KUBELUA_SCRIPT_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/error.h"

#define KL_SCRIPT_DEFAULT_MEM_LIMIT ((size_t)64 << 20)
#define KL_SCRIPT_DEFAULT_TIME_BUDGET_MS 1000
#define KL_SCRIPT_DEFAULT_LOAD_BUDGET_MS 2000
/* Longest string string.rep may build, in bytes. */
#define KL_SCRIPT_REP_MAX ((size_t)8 << 20)

typedef struct kl_script kl_script_t;         /* opaque */
typedef struct kl_invocation kl_invocation_t; /* opaque */
struct kl_embedded_file;                      /* util/embedded.h */

/* A module provided by the host in C: require(name) calls open(L) with the name as argument
 * (once per state; the result is cached like any module). Arrays end with {NULL, NULL}. */
typedef struct kl_script_module {
    const char *name;
    lua_CFunction open;
} kl_script_module_t;

typedef struct kl_script_opts {
    const char *name;       /* policy name for logs ("lua:<name>"); copied; NULL: "policy" */
    const char *policy_dir; /* where require() finds <dir>/<mod>.lua ("embedded:<dir>" for a
                               policy compiled into the binary); copied; NULL: the directory
                               of the file given to kl_script_load_file (none for buffers) */
    const kl_script_module_t *modules; /* host modules, read during kl_script_new only */
    size_t mem_limit;                  /* bytes; 0: KL_SCRIPT_DEFAULT_MEM_LIMIT */
    uint32_t time_budget_ms;           /* per invocation, Lua running time; 0: default (1 s) */
    uint32_t load_budget_ms;           /* for loading the policy file; 0: default (2 s) */
    uint64_t instr_budget;             /* per invocation, VM instructions; 0: unlimited */
    /* Lookup of files compiled into the binary; NULL: kl_embedded_find. Tests plug fakes here. */
    const struct kl_embedded_file *(*find_embedded)(const char *path);
} kl_script_opts_t;

/* Creates a script with a fresh sandboxed state. opts may be NULL (all defaults). *out is owned
 * by the caller: release with kl_script_free() or kl_script_retire(). Returns 0, KL_ENOMEM, or
 * KL_EINVAL; on error *out is untouched. */
KL_NODISCARD int kl_script_new(const kl_script_opts_t *opts, kl_script_t **out);

/* Cancels every invocation in flight (their done callbacks run with KL_ECANCELED), then closes
 * the state. NULL is a no-op. Called from inside one of this script's callbacks, the close is
 * deferred until that callback returns. */
void kl_script_free(kl_script_t *s);

/* Hot reload: the script takes no new invocations (KL_ECLOSED) and frees itself, after calling
 * closed(ud) when given, as soon as no invocation is in flight (possibly before this returns).
 * The caller must not use s afterwards, except to kl_script_free() it to stop waiting. */
void kl_script_retire(kl_script_t *s, void (*closed)(void *ud), void *ud);

/* The main state, for host code that registers things or reads results. Use it only inside a
 * protected call (kl_script_protect) or from a lua_CFunction. */
lua_State *kl_script_state(kl_script_t *s);
const char *kl_script_name(const kl_script_t *s);
/* Bytes currently allocated by the state, and the most ever allocated at once. */
size_t kl_script_mem_used(const kl_script_t *s);
size_t kl_script_mem_peak(const kl_script_t *s);
/* Number of invocations started and not yet finished. */
size_t kl_script_live(const kl_script_t *s);

/* Loads a policy: compiles the text chunk (binary chunks are refused), runs it as an invocation
 * under the load budget (host calls may not yield there), and keeps the table it returns as the
 * policy, replacing any previous one. Returns 0 or KL_EIO (unreadable file), KL_ESYNTAX,
 * KL_ESCRIPT (runtime error), KL_EBUDGET, KL_EMEMLIMIT, KL_ETYPE (did not return a table),
 * KL_EBUSY; err (may be NULL) gets a message starting with "file:line:" where one is known and
 * the line in err->line. The traceback of a failed run is then kl_script_traceback(s). */
KL_NODISCARD int kl_script_load_file(kl_script_t *s, const char *path, kl_errinfo_t *err);
/* chunkname names the source in messages, e.g. "policies/job.lua" ('@' is added unless it
 * starts with '@' or '='). buf need not be NUL-terminated and is not kept. */
KL_NODISCARD int kl_script_load_buffer(kl_script_t *s, const char *chunkname, const char *buf,
                                       size_t len, kl_errinfo_t *err);
/* Traceback of the last failed load, or NULL. Valid until the next load or kl_script_free. */
const char *kl_script_traceback(const kl_script_t *s);
/* Line of the `return` that produced the current policy table (0: unknown), for messages. */
int kl_script_policy_line(const kl_script_t *s);

/* Runs fn(L, ud) on the main state inside a protected call, with the policy table (or nil) at
 * stack index 1. Host bookkeeping: the memory ceiling is not enforced (bytes still count) and
 * there is no time budget, so fn should use raw accessors (lua_rawget...) and not call into Lua.
 * Returns what fn returned, or KL_ESCRIPT/KL_ENOMEM with err filled when fn raised.
 * The stack is reset afterwards; anything fn wants to keep it anchors itself (luaL_ref). */
typedef int (*kl_script_fn)(lua_State *L, void *ud);
KL_NODISCARD int kl_script_protect(kl_script_t *s, kl_script_fn fn, void *ud, kl_errinfo_t *err);

/* Conveniences over kl_script_protect for top-level fields of the policy table (raw reads).
 * kl_script_policy_type returns the LUA_T* type (LUA_TNIL when absent or no policy yet).
 * The others return 0, KL_ENOTFOUND (absent), KL_ETYPE, or KL_ETOOBIG (string longer than
 * cap - 1; the buffer is then untouched). Integers accept floats with an exact integer value. */
int kl_script_policy_type(kl_script_t *s, const char *key);
KL_NODISCARD int kl_script_policy_string(kl_script_t *s, const char *key, char *buf, size_t cap);
KL_NODISCARD int kl_script_policy_integer(kl_script_t *s, const char *key, int64_t *out);

/* ---- Invocations ------------------------------------------------------------------------- */

/* What `done` receives. L is the main state, inside a protected call with the memory ceiling
 * lifted: the results are at stack indices 1..nresults and the Lua API may be used freely. An
 * error raised from `done` is caught and logged (done is not called again), so acquire C
 * resources only after the last call that can raise. L is NULL (and nresults 0) in the rare
 * case Lua could not be entered at all (out of memory). Everything is valid during the call
 * only. */
typedef struct kl_invocation_result {
    int status;              /* 0, KL_ESCRIPT, KL_EBUDGET, KL_EMEMLIMIT, KL_EYIELD, KL_ECANCELED */
    lua_State *L;            /* see above */
    int nresults;            /* values returned by the Lua function */
    const kl_errinfo_t *err; /* NULL on success; message and line of the failure */
    const char *traceback;   /* Lua traceback of a failure, NULL when none */
    uint64_t run_ns;         /* Lua running time, summed over resume slices */
} kl_invocation_result_t;

typedef void (*kl_invocation_done_cb)(kl_invocation_t *inv, const kl_invocation_result_t *res,
                                      void *ud);
/* Registered by a pending host call; runs when the invocation is cancelled while suspended in
 * that call, so the operation can be aborted. It must not resume the invocation. */
typedef void (*kl_invocation_cancel_cb)(kl_invocation_t *inv, void *ud);

typedef struct kl_invocation_opts {
    const char *fn; /* name of the policy-table function to call, e.g. "reconcile"; or NULL to
                       call the function held by the registry reference fn_ref */
    int fn_ref;
    /* Pushes the arguments onto L (the main state, inside a protected call) and returns how
     * many; may raise. NULL: no arguments. */
    int (*push_args)(lua_State *L, void *ud);
    void *push_ud;
    kl_invocation_done_cb done; /* required */
    void *done_ud;
    uint32_t time_budget_ms; /* 0: the script's default */
    uint64_t instr_budget;   /* 0: the script's default */
} kl_invocation_opts_t;

/* Starts an invocation and runs it until it finishes or suspends. `done` may therefore run
 * before this returns; *out (when out is not NULL) is then NULL, otherwise the suspended
 * invocation (valid until its done callback returns). Starting the next invocation from `done`
 * is allowed, but bound the recursion when invocations may finish synchronously.
 * Returns 0, or KL_EINVAL, KL_ENOTFOUND (no such function in the policy), KL_ENOMEM,
 * KL_EMEMLIMIT, KL_ESCRIPT (push_args raised), KL_ECLOSED (retired), KL_EBUSY (called while
 * Lua of this script runs); on error `done` never runs and err (may be NULL) says why. */
KL_NODISCARD int kl_invocation_start(kl_script_t *s, const kl_invocation_opts_t *opts,
                                     kl_invocation_t **out, kl_errinfo_t *err);

/* Resumes an invocation suspended in a host call, with the top nvalues values of
 * kl_invocation_thread(inv) as the host call's results (or as what its continuation sees).
 * Only lua_checkstack and non-allocating pushes (nil, booleans, numbers, light userdata) are
 * safe on that thread from C; build anything else in the host call's continuation (the k given
 * to kl_script_yield), which runs inside the coroutine. Runs until the invocation finishes
 * (done runs) or suspends again. Returns 0, KL_EINVAL (not suspended, or fewer values on the
 * stack), KL_EBUSY (Lua of this script is running). */
KL_NODISCARD int kl_invocation_resume(kl_invocation_t *inv, int nvalues);

/* Cancels a suspended invocation: the pending host call's cancel hook runs, the coroutine is
 * closed (its to-be-closed variables run, under the remaining budget), and done runs with
 * KL_ECANCELED. Returns 0 or KL_EBUSY (the invocation is running right now). */
int kl_invocation_cancel(kl_invocation_t *inv);

/* The invocation's coroutine (to push resume values), its script, and the done_ud it got. */
lua_State *kl_invocation_thread(const kl_invocation_t *inv);
kl_script_t *kl_invocation_script(const kl_invocation_t *inv);
void *kl_invocation_data(const kl_invocation_t *inv);

/* ---- Host functions (lua_CFunction side) ------------------------------------------------- */

/* [-0, +0, e] Returns the invocation whose own coroutine is L when a host call may yield here,
 * else raises "host call cannot yield here: <reason>" (inside a coroutine the policy created,
 * while loading a file or module, across a non-yieldable C call, outside any invocation).
 * Call it before starting any asynchronous work, so nothing leaks when it raises. */
kl_invocation_t *kl_script_check_yield(lua_State *L);

/* [-0, +?, e] Suspends the invocation running on L; use as the host function's tail:
 *     return kl_script_yield(L, cancel, cancel_ud, k, kctx);
 * cancel (may be NULL) runs if the invocation is cancelled while suspended. When resumed with
 * n values, they become the host call's results if k is NULL; otherwise k(L, LUA_YIELD, kctx)
 * runs with them on top of the stack and its return value counts results (lua_yieldk rules).
 * Raises like kl_script_check_yield when the invocation cannot yield here. */
int kl_script_yield(lua_State *L, kl_invocation_cancel_cb cancel, void *cancel_ud, lua_KFunction k,
                    lua_KContext kctx);

/* [-0, +0, e] For host functions that run policy code under their own lua_pcall (callbacks,
 * iterators): call it with the status before handling an error, so that a budget kill or a
 * memory error is raised again instead of being swallowed. Returns when the error may be
 * handled. */
void kl_script_propagate_fatal(lua_State *L, int status);

/* [-0, +0, -] The script owning L (any thread of its state). */
kl_script_t *kl_script_of(lua_State *L);

#endif
