/* cluster/agent.h - the node agent of `kubelua up`: many simulated kubelets in one process, on
 * one libuv loop, talking to the API server over HTTPS like any client.
 *
 * Nodes. The agent runs a kubelet for every node of the cluster configuration (config.h),
 * registering the Node when it does not exist, and for every other Node labelled
 * kubelua.io/simulated=true (any Node with adoptAllNodes), so `kubectl create` of such a Node
 * brings up a kubelet for it and `kubectl delete node` stops it (its processes are killed; the
 * PodGC role removes its pods). Each node:
 *   - is registered with the labels a kubelet sets (kubernetes.io/hostname, kubernetes.io/os,
 *     kubernetes.io/arch and their beta. twins; topology.kubernetes.io/region and /zone and
 *     node.kubernetes.io/instance-type when configured; kubelua.io/simulated=true), the
 *     configured labels, annotations and taints, spec.podCIDR from its index (kubelet.h), and a
 *     status with capacity = allocatable, nodeInfo, addresses (InternalIP, Hostname),
 *     daemonEndpoints and the conditions Ready, MemoryPressure, DiskPressure, PIDPressure and
 *     NetworkUnavailable as kubelet and the route controller report them;
 *   - renews its Lease in kube-node-lease (leaseDurationSeconds 40) every 10 s: the nodes are
 *     spread over a wheel of 100 ms slots, so thousands of nodes renew evenly, and the
 *     renewals of one slot go out together (through apiserver/local.h when the agent runs in
 *     the API server's process, else as HTTPS merge patches);
 *   - patches its status every 10 s only when a condition differs from the API's copy (e.g.
 *     the node lifecycle controller set Ready=Unknown) and otherwise every 5 minutes
 *     (nodeStatusReportFrequency, the first period randomised so that nodes registered together
 *     do not all report at once), refreshing lastHeartbeatTime; a node found Ready with a
 *     report younger than that (an agent restarted quickly) is taken over without a write;
 *   - stops heartbeating while annotated kubelua.io/stopped=true (`kubelua node stop`): no
 *     Lease renewals, no node or pod status writes, pods bound to it meanwhile are not started
 *     and deletions are not acted upon; the pods it runs keep running, as on a machine cut off
 *     from the network. Removing the annotation (`kubelua node start`) resumes everything.
 *
 * Pods. Every pod bound to one of its nodes (one shared pods informer for all nodes, filtered by
 * spec.nodeName) is admitted (node affinity and resources, as kubelet's admission, else Failed
 * with reason NodeAffinity or OutOf<resource>), gets a pod IP from its node's /24, runs its
 * init containers in order (restartable "sidecar" init containers keep running) and then its
 * containers, and reports status as kubelet does (kubelet.h). Containers run as local
 * processes (proc.h, "process" mode) or on timers ("simulated" mode: kl_sim_* annotations and
 * the node's pod defaults); the pod annotation kubelua.io/mode overrides the node's mode.
 * restartPolicy Always/OnFailure/Never with in-place restarts and the crash-loop back-off;
 * readiness after a readiness probe's initialDelaySeconds (probes themselves are not run: they
 * succeed); activeDeadlineSeconds; graceful deletion (SIGTERM, then SIGKILL after the grace
 * period), then the final status and the delete with grace 0 and a uid precondition, as the
 * kubelet does. Status writes are strategic merge patches of pods/status, coalesced per loop
 * turn and skipped when nothing changed. Process-mode containers also get the kubelet's Events.
 * At most 128 of the agent's requests are in flight; the rest wait (heartbeats first).
 *
 * Restarts. With the same data directory (and API server) an agent picks its nodes and pods up
 * again: simulated containers carry on from their recorded start times; a process container
 * that the API says is running has no process any more, so it is reported terminated with
 * reason ContainerStatusUnknown (exit code 137) and restarted under restartPolicy Always and
 * OnFailure, or left terminated (the pod Failed) under Never — what kubelet does after a
 * reboot.
 *
 * Loop thread only. Container processes die with the thread that runs the loop (proc.h).
 */
#ifndef KL_CLUSTER_AGENT_H
#define KL_CLUSTER_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kubelua/error.h"
#include "kubelua/kubeconfig.h"

#include "apiserver/local.h"
#include "cluster/config.h"

/* Label that gives a Node created with kubectl a simulated kubelet. */
#define KL_AGENT_LABEL_SIMULATED "kubelua.io/simulated"
/* Node annotation that stops heartbeats ("true"); `kubelua node stop|start` sets/removes it. */
#define KL_AGENT_ANNOTATION_STOPPED "kubelua.io/stopped"
/* Node label or annotation that sets the run mode of a Node created with kubectl. */
#define KL_AGENT_MODE_KEY "kubelua.io/mode"

typedef struct kl_agent kl_agent_t;

typedef struct kl_agent_opts {
    uv_loop_t *loop;
    const kl_restconfig_t *config;      /* the API server; copied */
    const kl_cluster_config_t *cluster; /* borrowed: must outlive the agent */
    const char *data_dir;               /* DATA_DIR/pods holds logs and working dirs */
    const char *helper;                 /* executable with "__exec"; NULL: this program */
    double qps;                         /* client request rate; 0: unlimited (default) */
    /* In the API server's process: Lease renewals through this channel instead of HTTPS
     * (apiserver/local.h says why). NULL: everything over HTTPS. Must outlive the agent. */
    kl_local_t *local;
    int64_t lease_renew_ms;   /* default 10,000 */
    int64_t status_report_ms; /* default 300,000 */
    /* Called once every configured node has been registered (or found) and reported Ready. */
    void (*ready)(kl_agent_t *a, void *ud);
    void *ud;
} kl_agent_opts_t;

typedef struct kl_agent_stats {
    size_t nodes;         /* nodes with a kubelet */
    size_t nodes_ready;   /* of them, registered and reported Ready */
    size_t nodes_stopped; /* heartbeats stopped (kubelua.io/stopped) */
    size_t pods;          /* pods tracked */
    size_t processes;     /* container processes running */
    uint64_t lease_writes, node_status_writes, pod_status_writes, pod_deletes, write_errors;
} kl_agent_stats_t;

/* Creates the agent and starts it: its own client (qps as given), the nodes and pods informers,
 * then registration once they have synced. KL_ECONFIG (bad configuration: err says why),
 * KL_ENOMEM, KL_EIO. */
KL_NODISCARD int kl_agent_new(const kl_agent_opts_t *opts, kl_agent_t **out, kl_errinfo_t *err);
/* Stops heartbeats and status writes and stops every container process (SIGTERM, SIGKILL after
 * grace_seconds), then calls done from the loop. The API keeps the last reported state, which
 * a restarted agent picks up. */
void kl_agent_stop(kl_agent_t *a, double grace_seconds, void (*done)(void *ud), void *ud);
/* Frees everything (killing what still runs); run the loop afterwards so handles close. */
void kl_agent_free(kl_agent_t *a);
void kl_agent_stats(const kl_agent_t *a, kl_agent_stats_t *st);

#endif
