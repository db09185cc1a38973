/* cluster/config.h - the configuration of `kubelua up` (--config FILE): which nodes the
 * embedded cluster has, how they look, and how their pods run.
 *
 * The file is YAML, decoded strictly: an unknown field, a duplicate key or a value of the wrong
 * type is an error naming the line. Format (every field optional):
 *
 *   apiVersion: kubelua.io/v1alpha1   # accepted and checked when present
 *   kind: Cluster
 *   mode: process                     # how pods run: process (default) or simulated
 *   adoptAllNodes: false              # also run an agent for Nodes without the
 *                                     # kubelua.io/simulated=true label
 *   podDefaults:                      # simulated containers (see proc.h's kl_sim_*)
 *     startDelay: 0s
 *     runDuration: forever            # restartPolicy Always pods
 *     batchRunDuration: 1s            # OnFailure / Never pods ("forever" allowed)
 *     exitCode: 0
 *     readyAfter: 0s
 *     stopDelay: 0s
 *   nodes:                            # node groups, in order
 *     - name: gpu-1                   # one node ...
 *     - count: 3                      # ... or count nodes named <namePrefix><i>, i = 1..count
 *       namePrefix: kubelua-node-     # (default kubelua-node-)
 *       labels: {disk: ssd}
 *       annotations: {team: a}
 *       taints: [{key: k, value: v, effect: NoSchedule}]
 *       capacity: {cpu: "8", memory: 32Gi, pods: "110", ephemeral-storage: 100Gi}
 *       mode: simulated               # overrides the cluster's mode for these nodes
 *       arch: amd64                   # kubernetes.io/arch (default: the host's)
 *       region: eu-1                  # topology.kubernetes.io/region
 *       zones: [a, b]                 # topology.kubernetes.io/zone, round-robin (or zone: a)
 *       instanceType: m5.large        # node.kubernetes.io/instance-type
 *       podDefaults: {...}            # overrides for pods on these nodes
 *
 * Without nodes, the cluster has 3 nodes kubelua-node-1..3 (kubelua up --nodes N: N nodes).
 */
#ifndef KL_CLUSTER_CONFIG_H
#define KL_CLUSTER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/error.h"
#include "kubelua/proc.h"

#define KL_CLUSTER_DEFAULT_NODES 3u
#define KL_CLUSTER_DEFAULT_PREFIX "kubelua-node-"

/* Default capacity of a simulated node (and of a Node created with kubectl without one). */
#define KL_CLUSTER_DEFAULT_CPU "8"
#define KL_CLUSTER_DEFAULT_MEMORY "32Gi"
#define KL_CLUSTER_DEFAULT_PODS "110"
#define KL_CLUSTER_DEFAULT_STORAGE "100Gi"

typedef struct kl_kv {
    char *key, *value;
} kl_kv_t;

typedef struct kl_kvs {
    kl_kv_t *items;
    size_t len;
} kl_kvs_t;

typedef struct kl_cluster_taint {
    char *key, *value, *effect;
} kl_cluster_taint_t;

/* Parameters of simulated containers; a field not set in the file keeps its default. */
typedef struct kl_pod_defaults {
    kl_sim_params_t sim;           /* mode unused; run_duration_ms is for Always pods */
    int64_t batch_run_duration_ms; /* OnFailure/Never pods; KL_SIM_FOREVER allowed */
    unsigned set;                  /* bits of the fields given (internal) */
} kl_pod_defaults_t;

typedef struct kl_node_group {
    char *name;        /* one node, or NULL */
    unsigned count;    /* nodes when name is NULL */
    char *name_prefix; /* NULL: KL_CLUSTER_DEFAULT_PREFIX */
    kl_kvs_t labels, annotations, capacity;
    kl_cluster_taint_t *taints;
    size_t ntaints;
    kl_sim_mode_t mode; /* DEFAULT: the cluster's */
    char *arch, *region, *instance_type;
    char **zones;
    size_t nzones;
    bool has_pod_defaults;
    kl_pod_defaults_t pod_defaults; /* merged over the cluster's */
    int line;                       /* where the group starts in the file (0: built in) */
} kl_node_group_t;

typedef struct kl_cluster_config {
    kl_sim_mode_t mode; /* PROCESS or SIMULATED (DEFAULT reads as PROCESS) */
    bool adopt_all_nodes;
    kl_pod_defaults_t pod_defaults;
    kl_node_group_t *groups;
    size_t ngroups;
} kl_cluster_config_t;

/* One node the configuration asks for. */
typedef struct kl_node_def {
    char *name;                   /* owned */
    const kl_node_group_t *group; /* borrowed from the configuration */
    const char *zone;             /* borrowed; NULL when none */
} kl_node_def_t;

/* The built-in defaults: process mode, `nodes` nodes named kubelua-node-1..N. */
KL_NODISCARD int kl_cluster_config_default(unsigned nodes, kl_cluster_config_t **out);
/* Parses a configuration file's text (path names it in messages). KL_ECONFIG with
 * "PATH:LINE: ..." in err (err->line set) for anything invalid; KL_ENOMEM. */
KL_NODISCARD int kl_cluster_config_parse(const char *text, size_t len, const char *path,
                                         kl_cluster_config_t **out, kl_errinfo_t *err);
/* Reads and parses a file. */
KL_NODISCARD int kl_cluster_config_load(const char *path, kl_cluster_config_t **out,
                                        kl_errinfo_t *err);
/* Replaces the node groups by one group of `nodes` default nodes (kubelua up --nodes N). */
KL_NODISCARD int kl_cluster_config_set_nodes(kl_cluster_config_t *c, unsigned nodes);
void kl_cluster_config_free(kl_cluster_config_t *c);

/* Expands the groups into nodes, in order. Fails with KL_ECONFIG on a duplicate or invalid node
 * name. Free with kl_node_defs_free(). */
KL_NODISCARD int kl_cluster_config_nodes(const kl_cluster_config_t *c, kl_node_def_t **out,
                                         size_t *n, kl_errinfo_t *err);
void kl_node_defs_free(kl_node_def_t *defs, size_t n);

/* The built-in pod defaults (start, ready and stop at once; Always pods run forever, batch pods
 * for 1 s, exit code 0). */
void kl_pod_defaults_init(kl_pod_defaults_t *d);
/* The mode of a group (its own, else the cluster's). */
kl_sim_mode_t kl_node_group_mode(const kl_cluster_config_t *c, const kl_node_group_t *g);

#endif
