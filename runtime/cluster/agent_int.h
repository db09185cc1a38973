/* cluster/agent_int.h - the node agent's internals, shared by agent*.c. Loop thread only. */
#ifndef KL_CLUSTER_AGENT_INT_H
#define KL_CLUSTER_AGENT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "kubelua/client.h"
#include "kubelua/informer.h"
#include "kubelua/proc.h"
#include "kubelua/strmap.h"

#include "apiserver/local.h"
#include "cluster/agent.h"
#include "cluster/agent_res.h"
#include "cluster/config.h"
#include "cluster/kubelet.h"

typedef struct agent_pod agent_pod_t;
typedef struct agent_node agent_node_t;
typedef struct agent_req agent_req_t;

typedef enum areq_verb {
    AREQ_CREATE = 0,
    AREQ_PATCH = 1,
    AREQ_DELETE = 2,
} areq_verb_t;

/* The runtime side of one container of a pod (its reported side is a kl_cstatus_t). */
typedef struct agent_ctr {
    agent_pod_t *pod;
    kl_cstatus_t *st;
    uint32_t spec_index; /* in spec.initContainers or spec.containers */
    kl_proc_t *proc;     /* process mode: the running instance */
    kl_backoff_t backoff;
    int64_t start_at;     /* waiting: earliest start (back-off, start delay); 0: now */
    int64_t created_at;   /* simulated: ContainerCreating until then (0: not creating) */
    int64_t ready_at;     /* running: ready from then (-1: never) */
    int64_t started_at;   /* running: startup probe passes then */
    int64_t end_at;       /* simulated running: ends then (-1: never) */
    int64_t kill_at;      /* simulated stopping: ends then */
    bool stopping;        /* stop requested (deletion, deadline, pod done) */
    bool killed;          /* simulated: the stop outlasted the grace period */
    bool pending_restart; /* in back-off: the next start counts as a restart */
} agent_ctr_t;

struct agent_pod {
    kl_agent_t *a;
    agent_node_t *node;
    char *key; /* "ns/name" */
    char *ns, *name, *uid;
    kl_obj_t *obj; /* the latest object seen */
    kl_podstatus_t ps;
    agent_ctr_t *init_rt, *ctr_rt;
    bool simulated;
    bool admitted;
    struct kl_resources *requests;
    uv_timer_t timer;
    int64_t timer_due; /* 0: not armed */
    /* Writes. */
    bool dirty, writing, in_dirty_list;
    uint64_t sent_hash; /* of the last status written */
    bool final_written; /* the terminal status is in the API */
    bool delete_sent;
    int64_t retry_at;
    bool removed; /* gone from the API (or its node went away) */
    bool counted; /* its requests count in node->used */
    uint64_t sending_hash;
    bool done; /* terminal and written: no more work */
    int refs;  /* requests in flight + the agent's table */
    agent_pod_t *next_dirty;
    agent_pod_t *prev_in_node, *next_in_node;
};

typedef enum node_state {
    NODE_NEW = 0,     /* waiting for registration to start */
    NODE_REGISTERING, /* create or adoption writes in flight */
    NODE_ACTIVE,      /* registered: heartbeating */
    NODE_GONE,        /* deleted from the API or agent stopping */
} node_state_t;

struct agent_node {
    kl_agent_t *a;
    char *name;
    char *uid;                    /* once known */
    const kl_node_group_t *group; /* NULL for an adopted Node without configuration */
    const char *zone;
    bool configured;
    kl_sim_mode_t mode;
    const kl_pod_defaults_t *defaults;
    int64_t index;
    char ip[16];
    char cidr[24];
    kl_ipam_t ipam;
    struct kl_resources *allocatable;
    kl_json_t *capacity; /* resource list written as capacity and allocatable */
    node_state_t state;
    bool paused;
    bool reported_ready; /* a status with Ready=True was written */
    bool lease_created;
    bool lease_inflight, status_inflight, lease_creating;
    int64_t last_report_ms;
    /* Heartbeat wheel slot (agent.c): every node of a slot ticks together. */
    int hb_slot; /* -1: not on the wheel */
    agent_node_t *hb_prev, *hb_next;
    size_t npods;              /* admitted, not terminal */
    struct kl_resources *used; /* their requests */
    agent_pod_t *pods;         /* every pod record of the node */
    int refs;
};

struct kl_agent {
    uv_loop_t *loop;
    const kl_cluster_config_t *cluster;
    char *data_dir;
    char *helper;
    int64_t renew_ms, report_ms;
    kl_client_t *client;
    kl_informers_t *infs;
    kl_informer_t *nodes_inf, *pods_inf;
    kl_informer_t *cm_inf, *secret_inf; /* started when a container needs them */
    bool nodes_synced, pods_synced, started;
    kl_strmap_t nodes;    /* name -> agent_node_t */
    kl_strmap_t pods;     /* "ns/name" -> agent_pod_t */
    kl_strmap_t finished; /* uids of pods done here (copied keys), until seen terminal */
    kl_node_def_t *defs;
    size_t ndefs;
    uint8_t *index_used; /* node indexes taken (65536 bits) */
    uv_timer_t flush_timer;
    /* Heartbeats: a wheel of renew_ms / AGENT_HB_TICK_MS slots; each tick runs one slot, so the
     * nodes' renewals are spread over the period and batched per tick. */
    uv_timer_t hb_timer;
    agent_node_t **hb_slots;
    size_t hb_nslots, hb_pos, hb_next_slot;
    bool flush_armed;
    agent_pod_t *dirty_head;
    bool stopping;
    bool ready_called;
    void (*stop_done)(void *ud);
    void *stop_ud;
    uv_timer_t stop_timer;
    bool stop_timer_on;
    uint64_t stop_polls;
    int closing;
    void (*ready)(kl_agent_t *a, void *ud);
    void *ud;
    char kernel[128], arch[32], boot_id[40], machine_id[40];
    kl_agent_stats_t stats;
    /* Requests: in flight, and queued (heartbeats first). */
    size_t inflight;
    agent_req_t *urgent_head, *urgent_tail, *queue_head, *queue_tail;
    bool freeing;
    /* In-process Lease renewals (agent_local.c). */
    kl_local_t *local;
    bool local_inited;
    uv_async_t local_async;
    pthread_mutex_t local_mu;
    pthread_cond_t local_cond;
    size_t local_outstanding;
    struct lease_batch *local_batch, *local_done;
    kl_pod_defaults_t adopted_defaults;
};

/* agent.c */
int64_t agent_now(void);
void agent_flush_soon(kl_agent_t *a);
void agent_check_ready(kl_agent_t *a);
void agent_node_unref(agent_node_t *n);
void agent_pod_unref(agent_pod_t *p);

/* agent_req.c: like the kl_client_* verbs, except that the request may wait in a queue; cb is
 * called exactly once unless this returns an error (or the agent is freed). */
int agent_request(kl_agent_t *a, bool urgent, areq_verb_t verb, kl_patch_type_t ptype,
                  const kl_resource_t *r, const kl_req_opts_t *o, const char *body, size_t len,
                  kl_client_cb cb, void *ud);
void agent_requests_drop(kl_agent_t *a);

/* agent_local.c */
int agent_local_init(kl_agent_t *a);
void agent_local_renew(agent_node_t *n, int64_t now_ms);
void agent_local_flush(kl_agent_t *a);
void agent_local_close(kl_agent_t *a, uv_close_cb cb);

/* agent.c: the heartbeat wheel. */
#define AGENT_HB_TICK_MS 100
void agent_hb_add(kl_agent_t *a, agent_node_t *n);
void agent_hb_remove(kl_agent_t *a, agent_node_t *n);

/* agent_node.c */
void agent_node_tick(agent_node_t *n);
void agent_lease_create(agent_node_t *n);
int agent_node_register(agent_node_t *n, const kl_obj_t *existing);
void agent_node_heartbeat_start(agent_node_t *n);
void agent_node_observe(agent_node_t *n, const kl_obj_t *node);
void agent_node_stop(agent_node_t *n);
bool agent_node_obj_stopped(const kl_obj_t *node);
kl_json_t *agent_node_labels(const agent_node_t *n);

/* agent_pod.c */
void agent_pod_seen(kl_agent_t *a, const kl_obj_t *pod, bool initial);
void agent_pod_gone(kl_agent_t *a, const kl_obj_t *pod);
void agent_pod_sync(agent_pod_t *p);
void agent_pod_mark_dirty(agent_pod_t *p);
void agent_pod_release(agent_pod_t *p); /* stop everything, drop from the tables */
void agent_node_resume_pods(agent_node_t *n);
void agent_flush(kl_agent_t *a);

/* agent_events.c: a kubelet Event about pod p (container c, or NULL for the pod). */
void agent_event(agent_pod_t *p, const kl_cstatus_t *c, bool warning, const char *reason,
                 const char *fmt, ...) KL_PRINTF(5, 6);

/* agent_run.c */
int agent_ctr_start(agent_pod_t *p, agent_ctr_t *r, int64_t now);
void agent_ctr_stop(agent_pod_t *p, agent_ctr_t *r, int64_t grace_ms, int64_t now);
bool agent_ctr_alive(const agent_ctr_t *r);
void agent_ctr_tick(agent_pod_t *p, agent_ctr_t *r, int64_t now);
int64_t agent_ctr_next(const agent_ctr_t *r);
kl_val_t agent_ctr_spec(const agent_pod_t *p, const agent_ctr_t *r);
void agent_ctr_release(agent_ctr_t *r);
void agent_ctr_resume(agent_pod_t *p, agent_ctr_t *r);

#endif
