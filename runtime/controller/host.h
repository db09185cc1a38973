/* controller/host.h - everything `kubelua run` (and `kubelua up`) puts around the controller
 * manager: the client for a cluster, discovery, the real backend, the bundled and user
 * policies selected like kube-controller-manager's --controllers, leader election, the
 * metrics and health server, hot reload of policy files, and an orderly stop.
 *
 * Policies. The bundled ones are the top-level .lua files of embedded directories
 * ("policies" by default); each extra path is a policy file or a directory whose top-level
 * .lua files are policies (modules they require live beside them, in subdirectories). A
 * controller's selection name is its file name without ".lua"; a user file with the name of a
 * bundled policy replaces it. --controllers takes a comma-separated list: "*" (all, the
 * default), "name" (enable) and "-name" (disable); names that match nothing are an error.
 *
 * Starting. The host waits for the server to answer discovery (retrying every 2 s), then loads
 * every selected policy. A policy that does not load (syntax, contract) fails the start; one
 * whose resources the server does not serve yet (a CRD still to be applied) is retried every
 * 5 s with fresh discovery, and the host says so in the log.
 *
 * Reload. User policy files are watched (their directories and module subdirectories); a
 * change, after a 200 ms quiet period, reloads each controller whose file or modules changed
 * (by content hash): the new generation takes over on success, the old one keeps running on
 * failure. New policy files in a watched directory start new controllers. kl_host_reload does
 * the same for every file-based controller at once (SIGHUP).
 *
 * Readiness (/readyz): every policy loaded, every informer synced and, with leader election,
 * the lease state known. /healthz answers ok while the loop runs. /metrics: the controllers',
 * queues', informers' and client's metrics in Prometheus text. Loop thread only.
 */
#ifndef KL_CONTROLLER_HOST_H
#define KL_CONTROLLER_HOST_H

#include <stdbool.h>
#include <uv.h>

#include "kubelua/client.h"
#include "kubelua/error.h"
#include "kubelua/kubeconfig.h"

#include "controller/controller.h"

typedef struct kl_host kl_host_t;

typedef struct kl_host_opts {
    uv_loop_t *loop;
    const kl_restconfig_t *config;   /* copied by the client */
    const kl_client_opts_t *client;  /* NULL: defaults (qps 50, burst 100 here) */
    const char *const *policy_paths; /* files or directories; NULL-terminated or NULL */
    /* Embedded directories of bundled policies, NULL-terminated; NULL: {"policies"}.
     * `kubelua up` adds "policies/cluster" (scheduler, node lifecycle, TTL). */
    const char *const *builtin_dirs;
    bool no_builtin;         /* load only policy_paths */
    const char *controllers; /* selection; NULL: "*" */
    const char *namespace;   /* restrict namespaced informers; NULL: all */
    bool dry_run;
    bool watch_files; /* hot reload on file changes */
    /* Leader election (lease_seconds etc. 0: 15/10/2). */
    bool leader_elect;
    const char *lease_name;      /* default "kubelua" */
    const char *lease_namespace; /* default "kube-system" */
    const char *identity;        /* default "<host>_<pid>" */
    double lease_seconds, renew_seconds, retry_seconds;
    const char *metrics_listen; /* "HOST:PORT", or NULL for no endpoint */
    const char *field_manager;  /* default "kubelua" */
    uint32_t time_budget_ms;
    size_t mem_limit;
    /* Called once the start finished: rc 0 when every policy loaded (some may still wait for
     * their resources), else the error (err says why). */
    void (*started)(kl_host_t *h, int rc, const kl_errinfo_t *err, void *ud);
    void *ud;
} kl_host_opts_t;

/* Checks the options (paths exist, selection names known), creates the client and, when
 * asked, the metrics server, and begins the asynchronous start. Errors here are usage errors:
 * KL_EINVAL, KL_ENOTFOUND (a path), KL_EIO (cannot listen), KL_ECONFIG. */
KL_NODISCARD int kl_host_new(const kl_host_opts_t *opts, kl_host_t **out, kl_errinfo_t *err);
/* Reloads every file-based policy now (SIGHUP). */
void kl_host_reload(kl_host_t *h);
/* Stops taking keys, waits up to grace_seconds for reconciles in flight, releases the lease,
 * then calls done. */
void kl_host_stop(kl_host_t *h, double grace_seconds, void (*done)(void *ud), void *ud);
/* Frees everything (run the loop afterwards so handles close). */
void kl_host_free(kl_host_t *h);

kl_manager_t *kl_host_manager(kl_host_t *h);
kl_client_t *kl_host_client(kl_host_t *h);
/* The metrics server's address, or NULL. */
const char *kl_host_metrics_address(const kl_host_t *h);
bool kl_host_ready(const kl_host_t *h);

#endif
