/* controller/controller.h - Lua policies running as controllers.
 *
 * A manager runs controllers on one backend (a real cluster or the fake one of `kubelua test`),
 * on the caller's libuv loop. Each controller is one policy file: a sandboxed Lua state (a
 * kl_script_t), a work queue, and reconciles that run as coroutines, up to `workers` at a time,
 * never two for the same key. The policy contract (what the file returns):
 *
 *   name       string, defaults to the file name
 *   primary    "group/version/resource" of the reconciled objects; keys are "ns/name"
 *   owns       list of resources whose objects enqueue their controller owner (ownerReference
 *              with controller=true, kind of the primary, uid checked against the cache)
 *   watches    list of {resource = "...", map = function(obj, old, change, cache) ... end}
 *              returning the keys to enqueue (old: the previous state on updates, else nil;
 *              change: "add", "update" or "delete", obj being the last known state then;
 *              cache:get/cache:list read the controller's caches without yielding)
 *   workers    concurrent reconciles (default 5)
 *   resync     seconds between re-enqueues of every primary object (default 0: never)
 *   component  the Events' source and reportingController (default "<name>-controller")
 *   reconcile  function(ctx, key) -> nil | {requeue_after = s} | {requeue = true} | nil, err
 *
 * Errors (raised, or returned as the second value) requeue the key with per-key backoff, are
 * logged with the Lua traceback and recorded as a Warning Event on the primary object.
 * Policies are reloaded in place (kl_manager_reload): the new generation takes over between
 * reconciles, every key is enqueued again, and a policy that fails to load leaves the old one
 * running. Loop thread only.
 */
#ifndef KL_CONTROLLER_CONTROLLER_H
#define KL_CONTROLLER_CONTROLLER_H

#include <stdbool.h>
#include <uv.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"

#include "controller/backend.h"

typedef struct kl_manager kl_manager_t;
typedef struct kl_controller kl_controller_t;

typedef struct kl_manager_opts {
    uv_loop_t *loop;
    kl_backend_t *backend;
    bool dry_run;              /* writes carry dryRun=All and are logged */
    const char *field_manager; /* default "kubelua" */
    const char *instance;      /* Event reportingInstance; default the host name */
    /* Queues use this clock (ns) when set: the fake cluster's, so backoff follows test time. */
    uint64_t (*clock)(void *data);
    void *clock_data;
    uint32_t time_budget_ms; /* per reconcile Lua time; 0: the script default (1 s) */
    uint64_t instr_budget;   /* per reconcile Lua VM instructions; 0: unlimited */
    size_t mem_limit;        /* per policy state; 0: default (64 MiB) */
    bool no_batching;        /* ignore policies' batch_period (enqueue every change at once) */
} kl_manager_opts_t;

KL_NODISCARD int kl_manager_new(const kl_manager_opts_t *opts, kl_manager_t **out);
/* Stops every controller (in-flight reconciles are cancelled) and frees the manager. The
 * caller runs the loop afterwards so handles can close. */
void kl_manager_free(kl_manager_t *m);

/* Loads a policy file and starts its controller. */
KL_NODISCARD int kl_manager_add_file(kl_manager_t *m, const char *path, kl_controller_t **out,
                                     kl_errinfo_t *err);
/* Same, from a buffer (chunkname names it in messages; policy_dir for require). */
KL_NODISCARD int kl_manager_add_buffer(kl_manager_t *m, const char *chunkname,
                                       const char *policy_dir, const char *src, size_t len,
                                       kl_controller_t **out, kl_errinfo_t *err);
/* Reloads a controller's policy from its file (or buffer). On failure the old one keeps
 * running and err says why. */
KL_NODISCARD int kl_manager_reload(kl_manager_t *m, kl_controller_t *c, const char *src, size_t len,
                                   kl_errinfo_t *err);

/* Reconciling only happens while the manager leads (leader election); informers and queues
 * keep running meanwhile. Default true. Losing leadership cancels the reconciles in flight at
 * once; gaining it enqueues every primary object again. */
/* Budgets of the reconciles started from now on (0: the script's default). */
void kl_manager_set_budget(kl_manager_t *m, uint32_t time_budget_ms, uint64_t instr_budget);
void kl_manager_set_leader(kl_manager_t *m, bool leader);
/* Stops starting reconciles for good; those in flight finish (shutdown). */
void kl_manager_drain(kl_manager_t *m);
/* Reconciles in flight, over all controllers. */
size_t kl_manager_running(const kl_manager_t *m);
/* True when no reconcile runs and no key is ready (delayed keys may still wait). */
bool kl_manager_idle(const kl_manager_t *m);
/* Starts reconciles for ready keys (test runners call it after moving the clock). */
void kl_manager_kick(kl_manager_t *m);

size_t kl_manager_controllers(const kl_manager_t *m, kl_controller_t *const **out);
const char *kl_controller_name(const kl_controller_t *c);
const char *kl_controller_path(const kl_controller_t *c);
/* Prometheus text for every controller (reconcile totals and times, queue metrics, Lua time,
 * memory and errors). */
KL_NODISCARD int kl_manager_metrics(const kl_manager_t *m, kl_buf_t *out);

#endif
