/* kubelua/proc.h - runs one container of a pod as a local process, for the embedded cluster's
 * node agent ("process" mode), and reads the parameters of simulated containers.
 *
 * Mechanism only: the node agent decides when to start, restart and stop a container and what
 * status to report; this module runs one container instance and says how it ended.
 *
 * How a container instance runs. kl_proc_start() spawns, with uv_spawn on the caller's loop, a
 * small supervisor: the helper executable (by default the running program itself) with the
 * hidden subcommand "__exec" (kl_proc_exec_main(), wired into kubelua as `kubelua __exec`; a
 * program that embeds this module must dispatch argv[1] == "__exec" to it the same way). The
 * supervisor runs in a session of its own (setsid), so a terminal's Ctrl-C never reaches it,
 * and:
 *   - asks the kernel for SIGUSR1 when the thread that spawned it dies (PR_SET_PDEATHSIG) and
 *     then kills the container, so containers never outlive kubelua (nor the loop thread that
 *     started them: keep that thread alive as long as its containers run);
 *   - forks the container process into a process group of its own, with PR_SET_PDEATHSIG
 *     SIGKILL (it dies if the supervisor dies), RLIMIT_AS from the memory limit and RLIMIT_CORE
 *     0, then execs argv (PATH from the container's environment);
 *   - forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT to that whole process group, and answers SIGUSR1
 *     with SIGKILL to the group. (containerd sends the stop signal to the container's init
 *     only; here every process of the container gets it, so a shell script that does not
 *     forward TERM to its children still ends within the grace period);
 *   - is a child subreaper (PR_SET_CHILD_SUBREAPER): the container's orphans are re-parented to
 *     it and reaped, so no zombies pile up on a host whose init does not reap;
 *   - when the container process ends, SIGKILLs whatever is left of its group and every
 *     orphan re-parented to it, setsid daemons included (as a container's PID namespace dies
 *     with its init), reaps them (for at most ~1 s), and exits with the same status (exit
 *     code, or the same signal);
 *   - reports "start <pid>" or "error <errno> <message>" (exec failed) on fd 3.
 * Only a process re-parented elsewhere (below a nested subreaper) can escape.
 *
 * Files: DATA_DIR/pods/<namespace>_<pod>_<uid>/work/<container>[/<workingDir>] is the working
 * directory (created; spec.workingDir is mapped below it, as there is no chroot), and the log
 * goes to DATA_DIR/pods/<namespace>_<pod>_<uid>/logs/<container>/<instance>.log in the CRI
 * format (see podlog.h). kl_proc_pod_dir_remove() deletes both when the pod goes.
 *
 * Resources. limits.memory becomes RLIMIT_AS of the container process (address space, not
 * resident memory: programs that reserve large virtual areas, e.g. Go, Java or many-threaded
 * glibc programs, need a higher limit than their real use). limits.cpu is NOT applied:
 * RLIMIT_CPU caps total CPU seconds (the process would be killed after N seconds of work),
 * which is not what a CPU limit (a rate) means, and rates need cgroups.
 *
 * How it ended (kl_proc_status_t.reason), the "OOM rule":
 *   StartError   exec failed (exit code 128, message "exec: ...", as containerd reports it);
 *   OOMKilled    a memory limit was set and either the process was killed by SIGKILL (not
 *                sent by kl_proc_stop/kl_proc_free), SIGSEGV, SIGABRT or SIGBUS (what failing
 *                allocations under RLIMIT_AS usually end in), or it exited non-zero with an
 *                out-of-memory message in the last 4 KiB of its stderr: "out of memory"
 *                (perl's "Out of memory!", Go, node), "MemoryError" (python), "Cannot allocate
 *                memory" (ENOMEM), "bad_alloc" (C++) or "OutOfMemory" (Java), case-insensitive;
 *   Completed    exit code 0;
 *   Error        anything else. A process killed by signal N reports exit code 128 + N.
 *
 * Thread rules: kl_proc_* functions on one loop thread (the loop given to kl_proc_start);
 * kl_proc_argv_resolve, kl_proc_spec_from_container and kl_sim_* are pure and thread-safe.
 * Log files are written with plain blocking writes on the loop thread (local disk, one write per
 * pipe read).
 */
#ifndef KUBELUA_PROC_H
#define KUBELUA_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kubelua/error.h"
#include "kubelua/object.h"

/* Reasons, as upstream's container states spell them. */
#define KL_PROC_REASON_COMPLETED "Completed"
#define KL_PROC_REASON_ERROR "Error"
#define KL_PROC_REASON_OOMKILLED "OOMKilled"
#define KL_PROC_REASON_START_ERROR "StartError"
/* Waiting reasons for the failures reported synchronously: kl_proc_start() failing (no command
 * for the image, bad working directory) is CreateContainerError; kl_proc_spec_from_container()
 * failing (an env reference that cannot be resolved) is CreateContainerConfigError. */
#define KL_PROC_REASON_CREATE_ERROR "CreateContainerError"
#define KL_PROC_REASON_CONFIG_ERROR "CreateContainerConfigError"

/* Log defaults (kubelet's containerLogMaxSize is 10Mi). */
#define KL_PROC_LOG_MAX_BYTES ((size_t)10 << 20)
#define KL_PROC_LOG_MAX_FILES 2u

/* ---- Image entrypoints -------------------------------------------------------------------
 *
 * No image is pulled: the host is every image's filesystem. What runs follows Docker's rules
 * with a small table of image defaults, looked up by the image's last path component without tag
 * or digest ("docker.io/library/busybox:1.36" -> "busybox"; a name also matches an entry
 * followed by "-", so "nginx-unprivileged" is nginx):
 *   - command given: command + args;
 *   - else a shell or interpreter image: args when given (these images have no ENTRYPOINT), or
 *     the image's default command:
 *       busybox -> sh; alpine -> /bin/sh; ubuntu, debian, centos, fedora, rockylinux,
 *       almalinux, amazonlinux, bash, golang -> bash; perl -> perl -e 0 (upstream's "perl -de0"
 *       would start the debugger); python, pypy -> python3; node -> node; ruby -> irb;
 *   - else a long-running service image (nginx, httpd, apache, redis, memcached, fluentd,
 *     fluent-bit, postgres, mysql, mariadb, mongo, rabbitmq, traefik, haproxy, caddy, envoy,
 *     registry, pause, agnhost, prometheus, grafana, elasticsearch, kibana, etcd, coredns, nats,
 *     consul, vault, zookeeper, kafka, cassandra, minio, tomcat, jenkins, wordpress,
 *     echoserver): a stand-in that prints one line and waits until terminated (exit 0), args
 *     ignored. A command whose executable is not on the host PATH also gets the stand-in for
 *     these images (nginx's "nginx -g 'daemon off;'");
 *   - else (unknown image): args alone when given (as for an image without ENTRYPOINT), or the
 *     failure "no command specified" (CreateContainerError).
 * At exec time "python" falls back to "python3" when the host has no "python".
 */

/* Resolves what to run. command and args are NULL-terminated lists (NULL means none); path is
 * the PATH used to look executables up (NULL: this process's PATH). On success *argv is a
 * NULL-terminated list in one allocation (free() it) and *standin tells whether the stand-in
 * runs instead (then argv is empty). Fails with KL_EINVAL and "no command specified". */
KL_NODISCARD int kl_proc_argv_resolve(const char *image, const char *const *command,
                                      const char *const *args, const char *path, char ***argv,
                                      bool *standin, kl_errinfo_t *err);

/* ---- What to run -------------------------------------------------------------------------- */

/* References an env var may take its value from (env[].valueFrom). */
typedef enum kl_proc_ref {
    KL_PROC_REF_FIELD = 0,       /* fieldRef: name is the fieldPath ("metadata.name",
                                  * "metadata.namespace", "metadata.uid", "spec.nodeName",
                                  * "spec.serviceAccountName", "status.podIP", "status.hostIP",
                                  * "metadata.labels['k']"...) */
    KL_PROC_REF_CONFIGMAP = 1,   /* configMapKeyRef: name of the ConfigMap, key */
    KL_PROC_REF_SECRET = 2,      /* secretKeyRef: name of the Secret, key */
    KL_PROC_REF_ALLOCATABLE = 3, /* the node's allocatable quantity named "cpu", "memory" or
                                  * "ephemeral-storage", for a resourceFieldRef whose
                                  * container has no limit */
} kl_proc_ref_t;

/* Answers a reference: a string valid until kl_proc_spec_from_container() returns, or NULL when
 * it cannot be resolved. key is NULL for FIELD and ALLOCATABLE. */
typedef const char *(*kl_proc_resolve_fn)(kl_proc_ref_t kind, const char *name, const char *key,
                                          void *ud);

/* One container instance to run. All pointers are borrowed for the duration of kl_proc_start()
 * (which copies what it keeps). */
typedef struct kl_proc_spec {
    /* Identity: names the log and working directories. Required; names must not contain '/'
     * or be "." or "..". */
    const char *data_dir;
    const char *namespace, *pod, *uid, *container;
    uint32_t instance; /* the container's restart count for this run: <instance>.log */

    /* What to run: kl_proc_spec_from_container() fills these from a container spec. */
    const char *image;
    const char *const *command; /* NULL-terminated; NULL or empty: the image's default */
    const char *const *args;    /* NULL-terminated or NULL */
    const char *const *env;     /* "NAME=value", NULL-terminated, $(VAR) already expanded;
                                 * PATH (this process's) and HOSTNAME (the pod name) are added
                                 * when absent */
    const char *working_dir;    /* spec workingDir or NULL; mapped below the work directory */
    int64_t memory_limit;       /* bytes for RLIMIT_AS; 0: none */

    /* How. Zero values take the defaults. */
    const char *helper;     /* executable implementing "__exec"; default: this program */
    size_t log_max_bytes;   /* size at which the log file rotates; default 10 MiB */
    unsigned log_max_files; /* files kept per instance, the live one included; default 2 */

    void *priv_; /* storage owned by kl_proc_spec_from_container; kl_proc_spec_cleanup frees */
} kl_proc_spec_t;

/* Fills image, command, args, env (valueFrom references resolved through resolve, which may be
 * NULL; $(VAR) references expanded in env values, command and args as kubelet does),
 * working_dir and memory_limit (resources.limits.memory) of spec from one element of
 * spec.containers or spec.initContainers. Other fields are left as they are. Strings point
 * into container's document or into storage owned by spec: call kl_proc_spec_cleanup() when
 * done, even on failure. envFrom is not supported (ignored). Fails with KL_ENOTFOUND (a
 * reference that cannot be resolved and is not optional) or KL_EINVAL (bad quantity); err says
 * which, in upstream's words, for a CreateContainerConfigError. */
KL_NODISCARD int kl_proc_spec_from_container(kl_proc_spec_t *spec, kl_val_t container,
                                             kl_proc_resolve_fn resolve, void *ud,
                                             kl_errinfo_t *err);
void kl_proc_spec_cleanup(kl_proc_spec_t *spec);

/* ---- Running ------------------------------------------------------------------------------ */

typedef struct kl_proc kl_proc_t;

/* How an instance ended. */
typedef struct kl_proc_status {
    int exit_code;       /* exit status; 128 + signal when killed; 128 for StartError */
    int signal;          /* the terminating signal, 0 when it exited */
    const char *reason;  /* KL_PROC_REASON_* (static) */
    char message[512];   /* StartError detail, empty otherwise */
    int64_t started_at;  /* unix time in ns: spawned */
    int64_t finished_at; /* unix time in ns: ended */
    int pid;             /* container process id (0 if it never started) */
    bool stop_requested; /* kl_proc_stop() had been called */
    bool killed;         /* the grace period ran out: it was SIGKILLed */
} kl_proc_status_t;

/* Called once, on the loop thread, when the instance has ended and its output has been written
 * and the log closed (at most 2 s after the process exited, if descendants keep the pipes open).
 * st is valid during the call. The callback may call kl_proc_free(). */
typedef void (*kl_proc_exit_cb)(kl_proc_t *p, const kl_proc_status_t *st, void *ud);

/* Starts one container instance: creates the working and log directories, opens
 * <instance>.log (truncating it; keeps the previous instance's log and deletes older ones), and
 * spawns the supervisor. On success *out is owned by the caller (kl_proc_free) and exit_cb will
 * be called exactly once. On failure nothing runs, exit_cb is never called, and err says why:
 * KL_EINVAL (no command specified, bad names), KL_EIO (directories, log file, spawn). Report a
 * failure as waiting with reason CreateContainerError. A failing exec is not a failure here: it
 * ends the instance with StartError. */
KL_NODISCARD int kl_proc_start(uv_loop_t *loop, const kl_proc_spec_t *spec, kl_proc_exit_cb exit_cb,
                               void *ud, kl_proc_t **out, kl_errinfo_t *err);

/* Graceful stop: SIGTERM to the container's process group now, SIGKILL to it after grace_ms
 * (0: at once). Calling again may shorten the grace period, never lengthen it. No-op once the
 * process has exited. */
void kl_proc_stop(kl_proc_t *p, uint64_t grace_ms);

/* Releases p. If the instance still runs it is killed (SIGKILL to the group) and exit_cb is
 * not called; the handles close asynchronously, so keep running the loop until uv_run returns
 * (a few ms). NULL is a no-op. */
void kl_proc_free(kl_proc_t *p);

bool kl_proc_running(const kl_proc_t *p);         /* spawned and not yet exited */
int kl_proc_pid(const kl_proc_t *p);              /* container process, 0 until reported */
int64_t kl_proc_started_at(const kl_proc_t *p);   /* unix ns */
const char *kl_proc_log_path(const kl_proc_t *p); /* the live log file */

/* Deletes DATA_DIR/pods/<namespace>_<pod>_<uid> (logs and working directories); call when the
 * pod is gone and its containers have stopped. A missing directory is not an error. */
KL_NODISCARD int kl_proc_pod_dir_remove(const char *data_dir, const char *namespace,
                                        const char *pod, const char *uid, kl_errinfo_t *err);

/* The supervisor's main (see above): argv[0] is "__exec", then options --ppid PID, --mem BYTES,
 * --standin IMAGE, then "--" and the container's argv. Never returns normally in the
 * supervisor: it exits with the container's status. Not for direct use. */
int kl_proc_exec_main(int argc, char **argv);

/* ---- Simulated containers -----------------------------------------------------------------
 *
 * A simulated container runs no process: the agent moves it through its states on timers, as
 * KWOK does, so thousands of pods cost nothing. Pod annotations set the parameters; each may be
 * given for one container as "kubelua.io/<name>.<container>", which wins over the pod-wide
 * "kubelua.io/<name>"; what neither gives comes from the node's defaults.
 *
 *   kubelua.io/mode          "process" or "simulated" (pod-wide only): how the pod's
 *                            containers run, overriding the node's configuration.
 *   kubelua.io/start-delay   duration spent ContainerCreating before Running. Default 0.
 *   kubelua.io/run-duration  duration from Running to terminated, or "forever" (runs until the
 *                            pod is deleted).
 *   kubelua.io/exit-code     exit code when it ends by itself, 0..255.
 *   kubelua.io/reason        terminated reason; default Completed for 0, Error otherwise
 *                            (e.g. "OOMKilled" to try a Job's podFailurePolicy).
 *   kubelua.io/ready-after   duration from Running to Ready (a readiness probe's
 *                            initialDelaySeconds, when present, is the agent's other source).
 *   kubelua.io/stop-delay    duration a deleted pod's container takes to terminate. Default 0.
 *
 * Durations use Go's syntax ("1.5s", "2m30s", "300ms", "1h"; units ns us ms s m h) or a bare
 * number of seconds ("5").
 */

typedef enum kl_sim_mode {
    KL_SIM_MODE_DEFAULT = 0, /* not set: the node's configuration decides */
    KL_SIM_MODE_PROCESS = 1,
    KL_SIM_MODE_SIMULATED = 2,
} kl_sim_mode_t;

#define KL_SIM_FOREVER INT64_C(-1)

typedef struct kl_sim_params {
    kl_sim_mode_t mode;
    int64_t start_delay_ms;
    int64_t run_duration_ms; /* KL_SIM_FOREVER: until stopped */
    int exit_code;
    const char *reason; /* NULL: derived from exit_code; else points into the document */
    int64_t ready_after_ms;
    int64_t stop_delay_ms;
} kl_sim_params_t;

/* Reads the parameters for container (NULL: pod-wide only) from annotations (the pod's
 * metadata.annotations; missing is fine), starting from defaults (NULL: zeros with
 * run_duration_ms FOREVER). On a bad value returns KL_EINVAL, err naming the annotation, and
 * *out holds the defaults plus the valid annotations. */
KL_NODISCARD int kl_sim_params_parse(kl_val_t annotations, const char *container,
                                     const kl_sim_params_t *defaults, kl_sim_params_t *out,
                                     kl_errinfo_t *err);
/* Parses a duration as above into milliseconds (rounded down; "forever" is not accepted here).
 * Returns 0 or KL_EINVAL. */
KL_NODISCARD int kl_sim_duration_parse(const char *s, int64_t *ms);

#endif
