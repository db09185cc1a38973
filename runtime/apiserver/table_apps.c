/* Built-in printers for workload kinds: apps/v1 DaemonSet, Deployment, ReplicaSet, StatefulSet,
 * ControllerRevision and batch/v1 Job, CronJob. Cells follow kubernetes
 * pkg/printers/internalversion (printers.go) as of 1.32, printing wide as the apiserver does.
 */
#include <string.h>

#include "apiserver/table_int.h"

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

static void cell_name(kl__cells_t *c, kl_val_t obj)
{
    size_t n;
    const char *s = kl__str(kl_val_get(obj, "metadata"), "name", &n);
    kl__cell_strn(c, s, n);
}

static void cell_created(kl__cells_t *c, kl_val_t obj)
{
    kl__cell_age(c, kl_val_path(obj, "metadata", "creationTimestamp", NULL));
}

static int64_t int_at(kl_val_t v, const char *key)
{
    return kl_val_int(kl_val_get(v, key));
}

/* spec.replicas of a Deployment, ReplicaSet or StatefulSet: the server defaults it to 1. */
static int64_t replicas(kl_val_t spec)
{
    kl_val_t r = kl_val_get(spec, "replicas");
    return kl__present(r) ? kl_val_int(r) : 1;
}

static kl_val_t pod_containers(kl_val_t template_spec)
{
    return kl_val_path(template_spec, "template", "spec", "containers", NULL);
}

/* ---- DaemonSets ------------------------------------------------------------------------- */

static const kl__column_t daemonset_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Desired", "integer", "",
     "The total number of nodes that should be running the daemon pod (including nodes correctly "
     "running the daemon pod). More info: "
     "https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
     0},
    {"Current", "integer", "",
     "The number of nodes that are running at least 1 daemon pod and are supposed to run the "
     "daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
     0},
    {"Ready", "integer", "",
     "The number of nodes that should be running the daemon pod and have one or more of the "
     "daemon pod running and ready.",
     0},
    {"Up-to-date", "integer", "", "The total number of nodes that are running updated daemon pod",
     0},
    {"Available", "integer", "",
     "The number of nodes that should be running the daemon pod and have one or more of the "
     "daemon pod running and available (ready for at least spec.minReadySeconds)",
     0},
    {"Node Selector", "string", "",
     "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which "
     "must match a node's labels for the pod to be scheduled on that node. More info: "
     "https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
     0},
    {"Age", "string", "", kl__desc_created, 0},
    {"Containers", "string", "", kl__desc_containers, 1},
    {"Images", "string", "", kl__desc_images, 1},
    {"Selector", "string", "",
     "A label query over pods that are managed by the daemon set. Must match in order to be "
     "controlled. If empty, defaulted to labels on Pod template. More info: "
     "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
     1},
};

static void daemonset_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t ds)
{
    kl_val_t spec = kl_val_get(ds, "spec"), status = kl_val_get(ds, "status");
    cell_name(c, ds);
    kl__cell_int(c, int_at(status, "desiredNumberScheduled"));
    kl__cell_int(c, int_at(status, "currentNumberScheduled"));
    kl__cell_int(c, int_at(status, "numberReady"));
    kl__cell_int(c, int_at(status, "updatedNumberScheduled"));
    kl__cell_int(c, int_at(status, "numberAvailable"));
    kl__cell_labels(c, kl_val_path(spec, "template", "spec", "nodeSelector", NULL));
    cell_created(c, ds);
    kl__cell_containers(c, pod_containers(spec));
    kl__cell_selector(c, kl_val_get(spec, "selector"));
}

/* ---- Deployments, ReplicaSets, StatefulSets --------------------------------------------- */

static const kl__column_t deployment_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Ready", "string", "", "Number of the pod with ready state", 0},
    {"Up-to-date", "string", "",
     "Total number of non-terminated pods targeted by this deployment that have the desired "
     "template spec.",
     0},
    {"Available", "string", "",
     "Total number of available pods (ready for at least minReadySeconds) targeted by this "
     "deployment.",
     0},
    {"Age", "string", "", kl__desc_created, 0},
    {"Containers", "string", "", kl__desc_containers, 1},
    {"Images", "string", "", kl__desc_images, 1},
    {"Selector", "string", "",
     "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the "
     "ones affected by this deployment.",
     1},
};

static void deployment_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t d)
{
    kl_val_t spec = kl_val_get(d, "spec"), status = kl_val_get(d, "status");
    cell_name(c, d);
    kl__cell_printf(c, "%lld/%lld", (long long)int_at(status, "readyReplicas"),
                    (long long)replicas(spec));
    kl__cell_int(c, int_at(status, "updatedReplicas"));
    kl__cell_int(c, int_at(status, "availableReplicas"));
    cell_created(c, d);
    kl__cell_containers(c, pod_containers(spec));
    kl__cell_selector_raw(c, kl_val_get(spec, "selector"));
}

static const kl__column_t replicaset_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Desired", "integer", "",
     "Replicas is the number of desired replicas. This is a pointer to distinguish between "
     "explicit zero and unspecified. Defaults to 1. More info: "
     "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/"
     "#what-is-a-replicationcontroller",
     0},
    {"Current", "integer", "",
     "Replicas is the most recently observed number of replicas. More info: "
     "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/"
     "#what-is-a-replicationcontroller",
     0},
    {"Ready", "integer", "",
     "readyReplicas is the number of pods targeted by this ReplicaSet with a Ready Condition.", 0},
    {"Age", "string", "", kl__desc_created, 0},
    {"Containers", "string", "", kl__desc_containers, 1},
    {"Images", "string", "", kl__desc_images, 1},
    {"Selector", "string", "",
     "Selector is a label query over pods that should match the replica count. If the selector "
     "is empty, it is defaulted to the labels present on the pod template. Label keys and values "
     "that must match in order to be controlled by this replica set. More info: "
     "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
     1},
};

static void replicaset_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t rs)
{
    kl_val_t spec = kl_val_get(rs, "spec"), status = kl_val_get(rs, "status");
    cell_name(c, rs);
    kl__cell_int(c, replicas(spec));
    kl__cell_int(c, int_at(status, "replicas"));
    kl__cell_int(c, int_at(status, "readyReplicas"));
    cell_created(c, rs);
    kl__cell_containers(c, pod_containers(spec));
    kl__cell_selector(c, kl_val_get(spec, "selector"));
}

static const kl__column_t statefulset_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Ready", "string", "", "Number of the pod with ready state", 0},
    {"Age", "string", "", kl__desc_created, 0},
    {"Containers", "string", "", kl__desc_containers, 1},
    {"Images", "string", "", kl__desc_images, 1},
};

static void statefulset_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t ss)
{
    kl_val_t spec = kl_val_get(ss, "spec");
    cell_name(c, ss);
    kl__cell_printf(c, "%lld/%lld", (long long)int_at(kl_val_get(ss, "status"), "readyReplicas"),
                    (long long)replicas(spec));
    cell_created(c, ss);
    kl__cell_containers(c, pod_containers(spec));
}

/* ---- ControllerRevisions ---------------------------------------------------------------- */

static const kl__column_t controllerrevision_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Controller", "string", "", "Controller of the object", 0},
    {"Revision", "string", "", "Revision indicates the revision of the state represented by Data.",
     0},
    {"Age", "string", "", kl__desc_created, 0},
};

static void controllerrevision_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t cr)
{
    cell_name(c, cr);
    kl_val_t refs = kl_val_path(cr, "metadata", "ownerReferences", NULL);
    kl_val_t ctrl = {0};
    for (uint32_t i = 0; kl_val_type(refs) == KL_TARRAY && i < kl_val_len(refs); i++) {
        kl_val_t ref = kl_val_at(refs, i);
        if (kl_val_bool(kl_val_get(ref, "controller"))) {
            ctrl = ref;
            break;
        }
    }
    if (kl_val_missing(ctrl)) {
        kl__cell_str(c, "<none>");
    } else {
        /* formatResourceName: "kind.group/name" lower-cased, "kind/name" for the core group. */
        size_t avn, kn, nn;
        const char *av = kl__str(ctrl, "apiVersion", &avn);
        const char *kind = kl__str(ctrl, "kind", &kn);
        const char *name = kl__str(ctrl, "name", &nn);
        const char *slash = memchr(av, '/', avn);
        size_t gn = slash ? (size_t)(slash - av) : 0;
        kl__tmp_reset(c);
        if (kn + gn > 0) {
            kl__tmp_putn(c, kind, kn);
            if (gn > 0) {
                kl__tmp_puts(c, ".");
                kl__tmp_putn(c, av, gn);
            }
            for (size_t i = 0; i < c->tmp.len; i++)
                if (c->tmp.data[i] >= 'A' && c->tmp.data[i] <= 'Z')
                    c->tmp.data[i] = (char)(c->tmp.data[i] - 'A' + 'a');
            kl__tmp_puts(c, "/");
        }
        kl__tmp_putn(c, name, nn);
        kl__cell_tmp(c);
    }
    kl__cell_int(c, kl_val_int(kl_val_get(cr, "revision")));
    cell_created(c, cr);
}

/* ---- Jobs and CronJobs ------------------------------------------------------------------ */

static const char job_selector_desc[] =
    "A label query over pods that should match the pod count. Normally, the system sets this "
    "field for you. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";

static const kl__column_t job_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Status", "string", "", "Status of the job.", 0},
    {"Completions", "string", "",
     "The number of pods which reached phase Succeeded. The value increases monotonically for a "
     "given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
     0},
    {"Duration", "string", "", "Time required to complete the job.", 0},
    {"Age", "string", "", kl__desc_created, 0},
    {"Containers", "string", "", kl__desc_containers, 1},
    {"Images", "string", "", kl__desc_images, 1},
    {"Selector", "string", "", job_selector_desc, 1},
};

/* hasJobCondition: the first condition of the type decides. */
static bool job_condition(kl_val_t conditions, const char *type)
{
    for (uint32_t i = 0; kl_val_type(conditions) == KL_TARRAY && i < kl_val_len(conditions); i++) {
        kl_val_t cond = kl_val_at(conditions, i);
        if (kl__str_is(kl_val_get(cond, "type"), type))
            return kl__str_is(kl_val_get(cond, "status"), "True");
    }
    return false;
}

static void job_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t job)
{
    kl_val_t spec = kl_val_get(job, "spec"), status = kl_val_get(job, "status");
    long long succeeded = (long long)int_at(status, "succeeded");
    kl_val_t completions = kl_val_get(spec, "completions");
    long long parallelism = (long long)int_at(spec, "parallelism");

    /* The 1.32 printer checks these in order; SuccessCriteriaMet is not among them (such a job
     * prints Running until Complete is added). */
    kl_val_t conditions = kl_val_get(status, "conditions");
    const char *state = "Running";
    if (job_condition(conditions, "Complete"))
        state = "Complete";
    else if (job_condition(conditions, "Failed"))
        state = "Failed";
    else if (kl__present(kl_val_path(job, "metadata", "deletionTimestamp", NULL)))
        state = "Terminating";
    else if (job_condition(conditions, "Suspended"))
        state = "Suspended";
    else if (job_condition(conditions, "FailureTarget"))
        state = "FailureTarget";

    cell_name(c, job);
    kl__cell_str(c, state);
    if (kl__present(completions))
        kl__cell_printf(c, "%lld/%lld", succeeded, (long long)kl_val_int(completions));
    else if (parallelism > 1)
        kl__cell_printf(c, "%lld/1 of %lld", succeeded, parallelism);
    else
        kl__cell_printf(c, "%lld/1", succeeded);

    int64_t ssec, csec;
    int32_t snsec, cnsec;
    char dur[32] = "";
    if (kl__time_of(kl_val_get(status, "startTime"), &ssec, &snsec)) {
        if (!kl__time_of(kl_val_get(status, "completionTime"), &csec, &cnsec)) {
            kl__since(c->now, ssec, snsec, dur, sizeof(dur));
        } else {
            int64_t ns = (csec - ssec) * 1000000000 + (cnsec - snsec);
            kl__human_duration(ns / 1000000000, dur, sizeof(dur));
        }
    }
    kl__cell_str(c, dur);
    cell_created(c, job);
    kl__cell_containers(c, pod_containers(spec));
    kl__cell_selector(c, kl_val_get(spec, "selector"));
}

static const kl__column_t cronjob_cols[] = {
    {"Name", "string", "name", kl__desc_name, 0},
    {"Schedule", "string", "",
     "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.", 0},
    {"Timezone", "string", "",
     "The time zone name for the given schedule, see "
     "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will "
     "default to the time zone of the kube-controller-manager process. The set of valid time "
     "zone names and the time zone offset is loaded from the system-wide time zone database by "
     "the API server during CronJob validation and the controller manager during execution. If "
     "no system-wide time zone database can be found a bundled version of the database is used "
     "instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to "
     "a change in host configuration, the controller will stop creating new new Jobs and will "
     "create a system event with the reason UnknownTimeZone. More information can be found in "
     "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones",
     0},
    {"Suspend", "boolean", "",
     "This flag tells the controller to suspend subsequent executions, it does not apply to "
     "already started executions.  Defaults to false.",
     0},
    {"Active", "integer", "", "A list of pointers to currently running jobs.", 0},
    {"Last Schedule", "string", "",
     "Information when was the last time the job was successfully scheduled.", 0},
    {"Age", "string", "", kl__desc_created, 0},
    {"Containers", "string", "", kl__desc_containers, 1},
    {"Images", "string", "", kl__desc_images, 1},
    {"Selector", "string", "", job_selector_desc, 1},
};

static void cronjob_row(const kl_printer_t *p, kl__cells_t *c, kl_val_t cj)
{
    kl_val_t spec = kl_val_get(cj, "spec"), status = kl_val_get(cj, "status");
    kl_val_t job_spec = kl_val_path(spec, "jobTemplate", "spec", NULL);
    cell_name(c, cj);
    size_t n;
    const char *schedule = kl__str(spec, "schedule", &n);
    kl__cell_strn(c, schedule, n);
    const char *tz = kl_val_str(kl_val_get(spec, "timeZone"), &n);
    if (tz != NULL)
        kl__cell_strn(c, tz, n);
    else
        kl__cell_str(c, "<none>");
    /* printBoolPtr: a string cell even though the column says boolean. */
    kl_val_t suspend = kl_val_get(spec, "suspend");
    kl_type_t st = kl_val_type(suspend);
    kl__cell_str(c, st == KL_TTRUE ? "True" : st == KL_TFALSE ? "False" : "<unset>");
    kl_val_t active = kl_val_get(status, "active");
    kl__cell_int(c, kl_val_type(active) == KL_TARRAY ? kl_val_len(active) : 0);
    kl_val_t last = kl_val_get(status, "lastScheduleTime");
    if (kl__present(last))
        kl__cell_age(c, last);
    else
        kl__cell_str(c, "<none>");
    cell_created(c, cj);
    kl__cell_containers(c, pod_containers(job_spec));
    kl__cell_selector(c, kl_val_get(job_spec, "selector"));
}

/* ---- Printers --------------------------------------------------------------------------- */

#define PRINTER(id, columns, fn)                                                                   \
    const kl_printer_t kl__printer_##id = {                                                        \
        .name = #id, .cols = columns, .ncols = COUNT(columns), .row = fn}

PRINTER(daemonsets, daemonset_cols, daemonset_row);
PRINTER(deployments, deployment_cols, deployment_row);
PRINTER(replicasets, replicaset_cols, replicaset_row);
PRINTER(statefulsets, statefulset_cols, statefulset_row);
PRINTER(controllerrevisions, controllerrevision_cols, controllerrevision_row);
PRINTER(jobs, job_cols, job_row);
PRINTER(cronjobs, cronjob_cols, cronjob_row);
