/* script/script_int.h - internals shared by the files of runtime/script (not a public API).
 *
 * Thread identity: every lua_State of a script carries a kl_invocation_t pointer in its extra
 * space (LUA_EXTRASPACE). The main thread, and every coroutine a policy creates (Lua copies the
 * main thread's extra space into new threads), hold NULL; an invocation's coroutine holds its
 * invocation; a pooled or discarded host thread holds the idle marker. So "is this the
 * invocation's own coroutine" is one load and one compare.
 *
 * The script is the allocator's `ud`, so any thread finds its script with lua_getallocf.
 */
#ifndef KL_SCRIPT_INT_H
#define KL_SCRIPT_INT_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/error.h"
#include "kubelua/script.h"

/* The count hook fires every this many VM instructions. */
#define KL_HOOK_EVERY 10000
/* Finished coroutines kept per state for reuse. */
#define KL_THREAD_POOL_MAX 64
/* Spare invocation structs kept per state for reuse. */
#define KL_INV_SPARE_MAX 64
/* Largest policy or module file read from disk. */
#define KL_SCRIPT_MAX_SOURCE ((size_t)8 << 20)
/* Largest element count table.move, insert or remove may shift in one call: they loop in C, out
 * of reach of hooks, and a __len metamethod can claim any length. */
#define KL_SCRIPT_MOVE_MAX ((lua_Integer)1 << 24)

enum kl_inv_state {
    KL_INV_IDLE = 0, /* not started, or finishing */
    KL_INV_RUNNING,  /* inside lua_resume */
    KL_INV_PENDING,  /* suspended in a host call */
};

struct kl_invocation {
    kl_script_t *s;
    lua_State *co; /* its coroutine, anchored by co_ref in the registry */
    int co_ref;
    kl_invocation_t *prev, *next; /* the script's live list; `next` links spares */
    enum kl_inv_state state;
    bool is_load;       /* loading a file: host calls may not yield */
    bool host_yield;    /* set by kl_script_yield just before lua_yieldk */
    int fatal;          /* KL_EBUDGET or KL_EMEMLIMIT once killed: nothing may catch it */
    uint64_t budget_ns; /* time budget and time used so far, over all slices */
    uint64_t used_ns;
    uint64_t deadline;     /* uv_hrtime() value ending the current slice */
    uint64_t instr_budget; /* 0: none */
    uint64_t instructions; /* counted in KL_HOOK_EVERY steps (counting invocations only) */
    bool counting;         /* a count hook runs (loads, instruction budgets); else the watchdog */
    kl_invocation_cancel_cb cancel;
    void *cancel_ud;
    kl_invocation_done_cb done;
    void *done_ud;
    const char *chunkname; /* load only: the policy chunk, to find the line of its return */
    int ret_line;
    kl_errinfo_t err;
};

struct kl_thread_slot {
    lua_State *co;
    int ref;
};

struct kl_script {
    lua_State *L;
    size_t mem_used;
    size_t mem_peak;
    size_t mem_limit;
    bool mem_armed; /* false while the prelude loads: count only */
    int mem_lift;   /* > 0 during host bookkeeping: count, don't refuse */
    char *name;
    char *log_component;   /* "lua:<name>" */
    char *policy_dir;      /* NULL: require() does not look on disk */
    bool policy_dir_fixed; /* given in the options: loading a file does not change it */
    char *traceback;       /* of the last failed load */
    uint64_t time_budget_ns;
    uint64_t load_budget_ns;
    uint64_t instr_budget;
    const struct kl_embedded_file *(*find_embedded)(const char *path);
    int policy_ref;
    int policy_line; /* line of the return statement that produced the policy, 0: unknown */
    kl_invocation_t *running; /* the invocation inside lua_resume, if any */
    kl_invocation_t *live;    /* started and not finished */
    size_t nlive;
    kl_invocation_t *spare;
    size_t nspare;
    struct kl_thread_slot pool[KL_THREAD_POOL_MAX];
    int npool;
    int depth;         /* nesting of entry points that may call back into the host */
    bool free_pending; /* kl_script_free was called from inside a callback */
    bool retiring;
    void (*closed)(void *ud);
    void *closed_ud;
};

/* Registry keys (their addresses) and the kill sentinel, pushed as light userdata. */
extern const char kl__env_key;
extern const char kl__loaded_key;
extern const char kl__preload_key;
extern const char kl__kill_sentinel;

/* alloc.c: the lua_Alloc; ud is the kl_script_t. */
void *kl__script_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* sandbox.c */
/* [-2, +0, e] lua_CFunction run once under lua_pcall at state creation: args are the script
 * and its options (light userdata). Builds the environment, the registry tables, and the
 * guarded libraries. */
int kl__sandbox_open(lua_State *L);
/* [-0, +1, -] Compiles a text chunk with the sandbox as its _ENV. Returns the lua_load status;
 * on error the message is pushed instead. chunkname is the full Lua chunk name ("@..."). */
int kl__load_chunk(lua_State *L, const char *buf, size_t len, const char *chunkname);
/* Reads a whole file. Returns 0, KL_ENOTFOUND, KL_EIO, KL_ETOOBIG or KL_ENOMEM; *data is
 * malloc'ed and NUL-terminated. */
int kl__read_file(const char *path, size_t max, char **data, size_t *len);

/* invoke.c */
/* [-0, +0, e] Raises the kill sentinel again when the error just caught with `status` must not
 * be swallowed (a budget kill, a memory error); otherwise returns. For pcall-like wrappers. */
void kl__propagate_fatal(lua_State *L, int status);
/* The Lua thread now running on this OS thread, for the time-budget watchdog: a policy
 * coroutine while it is resumed. Returns the previous one, to restore after the resume. */
lua_State *kl__watchdog_switch(lua_State *L);
/* True when L is a coroutine owned by the host (an invocation's, pooled, or discarded). */
bool kl__is_host_thread(lua_State *L);
/* Cancels everything in flight and frees the script (state.c calls it at depth 0). */
void kl__script_destroy(kl_script_t *s);
void kl__enter(kl_script_t *s);
/* Leaves an entry point; may destroy s, so touch nothing afterwards. */
void kl__leave(kl_script_t *s);
/* Runs the loader chunk as the load invocation; fills the policy ref. */
int kl__run_load(kl_script_t *s, const char *buf, size_t len, const char *chunkname,
                 kl_errinfo_t *err);
/* Finds "file:LINE:" in a Lua message; 0 when there is none. */
int kl__msg_line(const char *msg);

#endif
