/* cluster/kubelet.h - the kubelet's rules as pure functions, for the node agent (agent.h):
 * container and pod status (phase, conditions, containerStatuses as kubelet 1.32 writes them),
 * the QoS class, the crash-loop back-off, and the addresses of simulated nodes and pods.
 *
 * Nothing here does I/O or keeps global state; the node agent owns the structures and calls
 * these functions from its loop. Thread-safe.
 */
#ifndef KL_CLUSTER_KUBELET_H
#define KL_CLUSTER_KUBELET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/error.h"
#include "kubelua/json.h"
#include "kubelua/object.h"

/* ---- Restart policy and back-off ---------------------------------------------------------- */

typedef enum kl_restart_policy {
    KL_RESTART_ALWAYS = 0,
    KL_RESTART_ON_FAILURE = 1,
    KL_RESTART_NEVER = 2,
} kl_restart_policy_t;

/* "Always" (also NULL or unknown: the API server's default), "OnFailure", "Never". */
kl_restart_policy_t kl_restart_policy_parse(const char *s);
/* Whether a container that ended with exit_code is started again under policy. */
bool kl_restart_wanted(kl_restart_policy_t policy, int exit_code);

/* kubelet's crash-loop back-off (flowcontrol.Backoff with 10 s initial, 300 s maximum): a
 * container that ended may start again at once the first time; after that each restart waits
 * the current back-off counted from when the container ended, and the back-off doubles with
 * every restart up to the maximum. An entry untouched for twice the maximum (10 min) starts
 * over. */
#define KL_BACKOFF_INITIAL_MS INT64_C(10000)
#define KL_BACKOFF_MAX_MS INT64_C(300000)

typedef struct kl_backoff {
    int64_t backoff_ms; /* 0: no entry */
    int64_t last_ms;    /* when the entry last changed */
} kl_backoff_t;

/* The earliest time a container that finished at finished_ms may start again (now_ms or
 * earlier means now). */
int64_t kl_backoff_restart_at(const kl_backoff_t *b, int64_t finished_ms, int64_t now_ms);
/* Records a restart at now_ms: the first (or the first after expiry) sets 10 s, later ones
 * double it up to 300 s. */
void kl_backoff_next(kl_backoff_t *b, int64_t now_ms);

/* ---- Container and pod status --------------------------------------------------------------- */

typedef enum kl_cstate {
    KL_CSTATE_WAITING = 0,
    KL_CSTATE_RUNNING = 1,
    KL_CSTATE_TERMINATED = 2,
} kl_cstate_t;

/* One ended run of a container. */
typedef struct kl_cterm {
    int exit_code;
    int signal;
    const char *reason; /* static storage or interned (kl_key_str) */
    char *message;      /* owned; NULL when none */
    int64_t started_ms, finished_ms;
    uint32_t instance; /* restart count of that run (names its containerID) */
} kl_cterm_t;

/* A container as the kubelet reports it. Strings are owned unless said otherwise. */
typedef struct kl_cstatus {
    char *name;
    char *image;
    bool init;    /* from spec.initContainers */
    bool sidecar; /* an init container with restartPolicy Always */
    kl_cstate_t state;
    const char *reason; /* waiting: static or interned ("ContainerCreating", ...) */
    char *message;      /* waiting: owned, NULL when none */
    int64_t started_ms; /* running: since */
    kl_cterm_t term;    /* terminated: how */
    bool has_last;
    kl_cterm_t last; /* lastState.terminated */
    uint32_t restarts;
    bool ready;   /* running and its readiness (probe or delay) passed */
    bool started; /* running and its startup probe (if any) passed */
} kl_cstatus_t;

/* Frees the owned strings of c (not c itself). */
void kl_cstatus_cleanup(kl_cstatus_t *c);
/* Sets the waiting state (reason static or interned, message copied; NULL for none). */
void kl_cstatus_wait(kl_cstatus_t *c, const char *reason, const char *message);
/* Ends the current run: the terminated state with these details (message copied). */
void kl_cstatus_terminate(kl_cstatus_t *c, int exit_code, int signal, const char *reason,
                          const char *message, int64_t started_ms, int64_t finished_ms);
/* A terminated container that will run again: its terminated state moves to lastState and the
 * state becomes waiting with no reason (restartCount stays: it counts runs started). */
void kl_cstatus_rotate(kl_cstatus_t *c);
/* A new run starts (running since started_ms): rotates a terminated state, and counts a
 * restart when the container ran before (restartCount is the number of the run, from 0). */
void kl_cstatus_run(kl_cstatus_t *c, int64_t started_ms);
/* A string for reason, static or interned for the process's life (falls back to "Error"). */
const char *kl_kubelet_reason(const char *reason);

/* The pod-level conditions the kubelet owns, in the order it writes them. */
enum {
    KL_PCOND_READY_TO_START = 0, /* PodReadyToStartContainers */
    KL_PCOND_INITIALIZED = 1,
    KL_PCOND_READY = 2,
    KL_PCOND_CONTAINERS_READY = 3,
    KL_PCOND_SCHEDULED = 4,
    KL_PCOND_COUNT = 5,
};

typedef struct kl_pcond {
    int status;       /* 0 never computed, 1 True, 2 False */
    int64_t since_ms; /* lastTransitionTime */
} kl_pcond_t;

typedef struct kl_podstatus {
    const char *uid; /* borrowed: names containerIDs */
    kl_restart_policy_t restart_policy;
    kl_cstatus_t *init; /* spec order */
    size_t ninit;
    kl_cstatus_t *ctrs; /* spec order (written sorted by name, as kubelet does) */
    size_t nctrs;
    bool sandbox;  /* the sandbox exists (PodReadyToStartContainers) */
    bool terminal; /* deleted (or failed) and every container stopped: phase must end */
    /* Pod-level failure (admission, deadline, eviction): phase Failed with reason/message. */
    const char *fail_reason; /* static or interned; NULL: none */
    char *fail_message;      /* owned */
    int64_t start_ms;        /* startTime; 0: not yet */
    char host_ip[48];
    char pod_ip[48]; /* "" until allocated */
    const char *qos; /* static */
    kl_pcond_t cond[KL_PCOND_COUNT];
} kl_podstatus_t;

/* Frees the containers' strings, the arrays and fail_message. */
void kl_podstatus_cleanup(kl_podstatus_t *ps);

/* The phase as kubelet's getPhase computes it ("Pending", "Running", "Succeeded", "Failed"). */
const char *kl_podstatus_phase(const kl_podstatus_t *ps);

/* The status object the kubelet writes: phase, conditions (with reason/message set to null when
 * absent, so a strategic merge patch clears stale ones), hostIP(s), podIP(s), startTime,
 * initContainerStatuses, containerStatuses (sorted by name), qosClass, reason/message. Updates
 * ps->cond: a condition whose status changes gets now_ms as its transition time. *out is owned
 * by the caller. */
KL_NODISCARD int kl_podstatus_json(kl_podstatus_t *ps, int64_t now_ms, kl_json_t **out);

/* Initialises the kubelet-owned parts of ps from a pod's current status (the API's copy), so an
 * agent that restarts carries on: restart counts, last states, running/terminated states, start
 * time, pod IP, condition transition times. Containers must already be set up from the spec
 * (names, init, sidecar). Running containers are reported as they were: the caller decides
 * whether they still run. */
void kl_podstatus_adopt(kl_podstatus_t *ps, kl_val_t status);

/* The pod's QoS class from its spec (qos.GetPodQOS): "Guaranteed", "Burstable" or
 * "BestEffort". */
const char *kl_pod_qos_class(kl_val_t pod_spec);

/* ---- Addresses ------------------------------------------------------------------------------- */

/* Node index (0-based) to its InternalIP: 172.18.0.0/16 counted from .2 (index 0 is
 * 172.18.0.2), as kind's docker network hands them out; indexes up to 65533. */
void kl_node_ip(uint32_t index, char out[16]);
/* Node index to its pod CIDR: a /24 of 10.0.0.0/8 counted from 10.244.0.0/24 (index 0), so the
 * first 256 nodes share kind's 10.244.0.0/16; then 10.245.x.0 and so on, wrapping to 10.0.0.0
 * after 10.255.255.0 (65,536 nodes). */
void kl_node_pod_cidr(uint32_t index, char out[24]);
/* Parses "a.b.c.0/24" back into a node index; -1 when it is not such a CIDR. */
int64_t kl_node_pod_cidr_index(const char *cidr);

/* Pod IPs of one node: addresses .2 to .254 of its /24 (.1 is the bridge). */
#define KL_IPAM_SLOTS 256
typedef struct kl_ipam {
    uint32_t base; /* network address, host order */
    uint8_t used[KL_IPAM_SLOTS / 8];
    uint32_t next; /* round-robin start, so a freed address is not reused at once */
} kl_ipam_t;

/* Sets up the pool of a "a.b.c.0/24" CIDR; KL_EINVAL otherwise. */
KL_NODISCARD int kl_ipam_init(kl_ipam_t *p, const char *cidr);
/* Takes a free address into out; KL_EBUSY when none is left. */
KL_NODISCARD int kl_ipam_alloc(kl_ipam_t *p, char out[16]);
/* Marks ip as used (a pod found running after a restart); false when it is not in the pool. */
bool kl_ipam_claim(kl_ipam_t *p, const char *ip);
/* Returns ip to the pool (no-op when it is not in the pool). */
void kl_ipam_release(kl_ipam_t *p, const char *ip);
/* Addresses in use. */
unsigned kl_ipam_used(const kl_ipam_t *p);

#endif
