/* The container process runner: spawns the supervisor (proc_exec.c) on the caller's loop,
 * captures stdout and stderr into the container log, escalates stops, and says how the
 * instance ended. */
#include "kubelua/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kubelua/fsutil.h"
#include "kubelua/log.h"
#include "kubelua/podlog.h"

#define READ_BUF ((size_t)64 << 10)
#define ERRTAIL 4096
#define DRAIN_MS 2000     /* after exit, how long descendants may keep the pipes open */
#define HARD_KILL_MS 2000 /* after asking the supervisor to kill, before killing it */

enum { OUT = 0, ERR = 1, STATUS = 2, NPIPES = 3 };

enum stop_stage {
    STOP_NONE = 0,
    STOP_TERM = 1, /* SIGTERM forwarded, grace timer running */
    STOP_KILL = 2, /* supervisor asked to SIGKILL the group */
    STOP_LAST = 3, /* supervisor and group SIGKILLed directly */
};

struct kl_proc {
    uv_loop_t *loop;
    uv_process_t process;
    uv_pipe_t pipes[NPIPES];
    bool pipe_open[NPIPES];
    uv_timer_t kill_timer;
    uv_timer_t drain_timer;
    int open_handles;

    kl_podlog_writer_t *log;
    char *log_path;
    char *image;
    int64_t memory_limit;
    kl_proc_exit_cb cb;
    void *ud;

    int helper_pid;
    int child_pid;
    bool spawned, exited, finished, freed;
    int64_t exit_status;
    int term_signal;
    int stage;
    uint64_t kill_deadline; /* loop time (ms) of the pending SIGKILL */
    bool stop_requested, killed;
    int64_t started_at, finished_at;

    char status_buf[1024];
    size_t status_len;
    bool start_failed;
    char start_error[512];

    char errtail[ERRTAIL];
    size_t errtail_len;
};

/* One read buffer per loop thread is enough: libuv allocates, reads and calls back for one
 * stream at a time, and on_read never keeps the bytes. */
static _Thread_local char readbuf[READ_BUF];

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- Releasing -------------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    kl_proc_t *p = h->data;
    if (--p->open_handles > 0)
        return;
    kl_podlog_writer_close(p->log, p->finished);
    free(p->log_path);
    free(p->image);
    free(p);
}

static void close_handle(kl_proc_t *p, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_handle_closed);
    (void)p;
}

static void close_all(kl_proc_t *p)
{
    for (int i = 0; i < NPIPES; i++) {
        if (p->pipe_open[i]) {
            p->pipe_open[i] = false;
            close_handle(p, (uv_handle_t *)&p->pipes[i]);
        }
    }
    close_handle(p, (uv_handle_t *)&p->kill_timer);
    close_handle(p, (uv_handle_t *)&p->drain_timer);
    if (p->process.type == UV_PROCESS)
        close_handle(p, (uv_handle_t *)&p->process);
}

/* ---- The end ---------------------------------------------------------------------------- */

static bool contains_ci(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++) {
        if (strncasecmp(hay + i, needle, n) == 0)
            return true;
    }
    return false;
}

static bool out_of_memory_message(const kl_proc_t *p)
{
    static const char *const markers[] = {"out of memory", "memoryerror", "cannot allocate memory",
                                          "bad_alloc", "outofmemory"};
    for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
        if (contains_ci(p->errtail, p->errtail_len, markers[i]))
            return true;
    }
    return false;
}

static void finish(kl_proc_t *p)
{
    if (p->finished)
        return;
    p->finished = true;
    uv_timer_stop(&p->drain_timer);
    uv_timer_stop(&p->kill_timer);
    for (int i = 0; i < NPIPES; i++) {
        if (p->pipe_open[i]) {
            uv_read_stop((uv_stream_t *)&p->pipes[i]);
            p->pipe_open[i] = false;
            close_handle(p, (uv_handle_t *)&p->pipes[i]);
        }
    }
    (void)kl_podlog_writer_end(p->log, KL_PODLOG_STDOUT);
    (void)kl_podlog_writer_end(p->log, KL_PODLOG_STDERR);
    kl_podlog_writer_close(p->log, true);
    p->log = NULL;

    kl_proc_status_t st;
    memset(&st, 0, sizeof(st));
    st.started_at = p->started_at;
    st.finished_at = p->finished_at;
    st.pid = p->child_pid;
    st.stop_requested = p->stop_requested;
    st.killed = p->killed;
    if (p->start_failed) {
        st.exit_code = 128;
        st.reason = KL_PROC_REASON_START_ERROR;
        snprintf(st.message, sizeof(st.message), "%s", p->start_error);
        st.pid = 0;
    } else {
        st.signal = p->term_signal;
        st.exit_code = p->term_signal ? 128 + p->term_signal : (int)p->exit_status;
        bool oom = false;
        if (p->memory_limit > 0) {
            int s = p->term_signal;
            if ((s == SIGKILL && !p->killed) || s == SIGSEGV || s == SIGABRT || s == SIGBUS)
                oom = true;
            else if (s == 0 && p->exit_status != 0 && out_of_memory_message(p))
                oom = true;
        }
        st.reason = oom                 ? KL_PROC_REASON_OOMKILLED
                    : st.exit_code == 0 ? KL_PROC_REASON_COMPLETED
                                        : KL_PROC_REASON_ERROR;
    }
    KL_DEBUG("proc", "container ended log=%s exit=%d signal=%d reason=%s", p->log_path,
             st.exit_code, st.signal, st.reason);
    if (p->freed) {
        close_all(p);
        return;
    }
    p->cb(p, &st, p->ud);
}

static void maybe_finish(kl_proc_t *p)
{
    if (!p->exited || p->finished)
        return;
    for (int i = 0; i < NPIPES; i++) {
        if (p->pipe_open[i])
            return;
    }
    finish(p);
}

static void on_drain_timeout(uv_timer_t *t)
{
    finish(t->data);
}

static void on_exit_cb(uv_process_t *proc, int64_t exit_status, int term_signal)
{
    kl_proc_t *p = proc->data;
    p->exited = true;
    p->exit_status = exit_status;
    p->term_signal = term_signal;
    p->finished_at = now_ns();
    uv_timer_stop(&p->kill_timer);
    uv_timer_start(&p->drain_timer, on_drain_timeout, DRAIN_MS, 0);
    maybe_finish(p);
}

/* ---- Output ----------------------------------------------------------------------------- */

static void status_parse(kl_proc_t *p)
{
    char *nl;
    while ((nl = memchr(p->status_buf, '\n', p->status_len)) != NULL) {
        *nl = '\0';
        const char *line = p->status_buf;
        if (strncmp(line, "start ", 6) == 0) {
            p->child_pid = atoi(line + 6);
            /* A stop that came before the pid was known reaches the group through the
             * supervisor already. */
        } else if (strncmp(line, "error ", 6) == 0) {
            const char *msg = strchr(line + 6, ' ');
            p->start_failed = true;
            snprintf(p->start_error, sizeof(p->start_error), "%s", msg ? msg + 1 : line + 6);
        }
        size_t used = (size_t)(nl - p->status_buf) + 1;
        memmove(p->status_buf, p->status_buf + used, p->status_len - used);
        p->status_len -= used;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    kl_proc_t *p = h->data;
    int i = (int)((uv_pipe_t *)h - p->pipes);
    if (i == STATUS) {
        buf->base = p->status_buf + p->status_len;
        buf->len = sizeof(p->status_buf) - 1 - p->status_len;
        return;
    }
    buf->base = readbuf;
    buf->len = READ_BUF;
}

static void errtail_add(kl_proc_t *p, const char *data, size_t n)
{
    if (n >= ERRTAIL) {
        memcpy(p->errtail, data + n - ERRTAIL, ERRTAIL);
        p->errtail_len = ERRTAIL;
        return;
    }
    if (p->errtail_len + n > ERRTAIL) {
        size_t drop = p->errtail_len + n - ERRTAIL;
        memmove(p->errtail, p->errtail + drop, p->errtail_len - drop);
        p->errtail_len -= drop;
    }
    memcpy(p->errtail + p->errtail_len, data, n);
    p->errtail_len += n;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    kl_proc_t *p = s->data;
    int i = (int)((uv_pipe_t *)s - p->pipes);
    if (nread > 0) {
        if (i == STATUS) {
            p->status_len += (size_t)nread;
            status_parse(p);
            if (p->status_len >= sizeof(p->status_buf) - 1)
                p->status_len = 0; /* garbage: drop it */
        } else {
            (void)kl_podlog_writer_write(p->log, i == OUT ? KL_PODLOG_STDOUT : KL_PODLOG_STDERR,
                                         buf->base, (size_t)nread);
            if (i == ERR)
                errtail_add(p, buf->base, (size_t)nread);
        }
        return;
    }
    if (nread == 0)
        return;
    /* EOF or error: the stream is over. */
    if (i != STATUS)
        (void)kl_podlog_writer_end(p->log, i == OUT ? KL_PODLOG_STDOUT : KL_PODLOG_STDERR);
    uv_read_stop(s);
    p->pipe_open[i] = false;
    close_handle(p, (uv_handle_t *)s);
    maybe_finish(p);
}

/* ---- Stopping --------------------------------------------------------------------------- */

static void escalate(kl_proc_t *p);

static void on_kill_timer(uv_timer_t *t)
{
    escalate(t->data);
}

/* Moves to the next, harder stage. */
static void escalate(kl_proc_t *p)
{
    if (p->exited)
        return;
    if (p->stage < STOP_KILL) {
        p->stage = STOP_KILL;
        p->killed = true;
        (void)uv_process_kill(&p->process, SIGUSR1);
        uv_timer_start(&p->kill_timer, on_kill_timer, HARD_KILL_MS, 0);
    } else if (p->stage == STOP_KILL) {
        p->stage = STOP_LAST;
        KL_WARN("proc", "supervisor did not end, killing it pid=%d", p->helper_pid);
        if (p->child_pid > 0)
            (void)kill(-p->child_pid, SIGKILL);
        (void)uv_process_kill(&p->process, SIGKILL);
    }
}

void kl_proc_stop(kl_proc_t *p, uint64_t grace_ms)
{
    if (p == NULL || p->exited || p->freed)
        return;
    p->stop_requested = true;
    uint64_t now = uv_now(p->loop);
    if (p->stage == STOP_NONE) {
        p->stage = STOP_TERM;
        (void)uv_process_kill(&p->process, SIGTERM);
        if (grace_ms == 0) {
            escalate(p);
            return;
        }
        p->kill_deadline = now + grace_ms;
        uv_timer_start(&p->kill_timer, on_kill_timer, grace_ms, 0);
    } else if (p->stage == STOP_TERM && now + grace_ms < p->kill_deadline) {
        if (grace_ms == 0) {
            escalate(p);
            return;
        }
        p->kill_deadline = now + grace_ms;
        uv_timer_start(&p->kill_timer, on_kill_timer, grace_ms, 0);
    }
}

/* ---- Starting --------------------------------------------------------------------------- */

static const char *env_find(const char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; env && env[i]; i++) {
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
            return env[i] + n + 1;
    }
    return NULL;
}

/* The container's environment plus PATH and HOSTNAME when absent; strings borrowed except the
 * two added ones (extra[0..1], freed by the caller). */
static char **build_env(const kl_proc_spec_t *spec, char *extra[2])
{
    size_t n = 0;
    while (spec->env && spec->env[n])
        n++;
    char **env = calloc(n + 3, sizeof(char *));
    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        env[i] = (char *)spec->env[i];
    if (env_find(spec->env, "PATH") == NULL) {
        const char *path = getenv("PATH");
        if (path == NULL)
            path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        size_t len = strlen(path) + 6;
        extra[0] = malloc(len);
        if (extra[0] == NULL) {
            free(env);
            return NULL;
        }
        snprintf(extra[0], len, "PATH=%s", path);
        env[n++] = extra[0];
    }
    if (env_find(spec->env, "HOSTNAME") == NULL && spec->pod) {
        size_t len = strlen(spec->pod) + 10;
        extra[1] = malloc(len);
        if (extra[1] == NULL) {
            free(extra[0]);
            extra[0] = NULL;
            free(env);
            return NULL;
        }
        snprintf(extra[1], len, "HOSTNAME=%s", spec->pod);
        env[n++] = extra[1];
    }
    env[n] = NULL;
    return env;
}

static bool relative_ok(const char *wd)
{
    /* No ".." component may climb out of the work directory. */
    const char *p = wd;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += n;
    }
    return true;
}

static int work_dir(const kl_proc_spec_t *spec, char **out, kl_errinfo_t *err)
{
    char *pd = kl_podlog_pod_dir(spec->data_dir, spec->namespace, spec->pod, spec->uid);
    if (pd == NULL || spec->container == NULL || strchr(spec->container, '/') ||
        !*spec->container) {
        free(pd);
        return kl_err(err, KL_EINVAL, "bad names for a container's directories");
    }
    const char *wd = spec->working_dir ? spec->working_dir : "";
    if (!relative_ok(wd)) {
        free(pd);
        return kl_err(err, KL_EINVAL, "workingDir %s climbs out of the container", wd);
    }
    while (*wd == '/')
        wd++;
    size_t len = strlen(pd) + strlen(spec->container) + strlen(wd) + 16;
    char *dir = malloc(len);
    if (dir == NULL) {
        free(pd);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    snprintf(dir, len, "%s/work/%s%s%s", pd, spec->container, *wd ? "/" : "", wd);
    free(pd);
    int rc = kl_mkdir_p(dir, 0755, err);
    if (rc < 0) {
        free(dir);
        return rc;
    }
    *out = dir;
    return 0;
}

int kl_proc_start(uv_loop_t *loop, const kl_proc_spec_t *spec, kl_proc_exit_cb exit_cb, void *ud,
                  kl_proc_t **out, kl_errinfo_t *err)
{
    char **argv = NULL, **env = NULL, *cwd = NULL, *logdir = NULL;
    char *extra[2] = {NULL, NULL};
    const char **hargv = NULL;
    char helper[4096];
    char ppid[24], mem[24];
    uv_file wfds[NPIPES][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    bool standin = false;
    kl_proc_t *p = NULL;
    int rc;

    if (exit_cb == NULL)
        return kl_err(err, KL_EINVAL, "kl_proc_start needs an exit callback");
    rc = kl_proc_argv_resolve(spec->image, spec->command, spec->args, env_find(spec->env, "PATH"),
                              &argv, &standin, err);
    if (rc < 0)
        goto out;
    rc = work_dir(spec, &cwd, err);
    if (rc < 0)
        goto out;
    logdir = kl_podlog_container_dir(spec->data_dir, spec->namespace, spec->pod, spec->uid,
                                     spec->container);
    if (logdir == NULL) {
        rc = kl_err(err, KL_EINVAL, "bad names for a container's directories");
        goto out;
    }
    if (spec->helper) {
        snprintf(helper, sizeof(helper), "%s", spec->helper);
    } else {
        size_t hl = sizeof(helper);
        if (uv_exepath(helper, &hl) != 0) {
            rc = kl_err(err, KL_EIO, "cannot find this program's path");
            goto out;
        }
    }
    env = build_env(spec, extra);
    size_t nargv = 0;
    while (argv[nargv])
        nargv++;
    hargv = calloc(nargv + 12, sizeof(char *));
    p = calloc(1, sizeof(*p));
    if (env == NULL || hargv == NULL || p == NULL) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto out;
    }
    p->loop = loop;
    p->cb = exit_cb;
    p->ud = ud;
    p->memory_limit = spec->memory_limit > 0 ? spec->memory_limit : 0;
    p->image = strdup(spec->image ? spec->image : "");
    if (p->image == NULL) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto out;
    }
    rc = kl_podlog_writer_open(
        logdir, spec->instance, spec->log_max_bytes ? spec->log_max_bytes : KL_PROC_LOG_MAX_BYTES,
        spec->log_max_files ? spec->log_max_files : KL_PROC_LOG_MAX_FILES, &p->log, err);
    if (rc < 0)
        goto out;
    p->log_path = strdup(kl_podlog_writer_path(p->log));
    if (p->log_path == NULL) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto out;
    }

    size_t k = 0;
    hargv[k++] = helper;
    hargv[k++] = "__exec";
    snprintf(ppid, sizeof(ppid), "%d", (int)getpid());
    hargv[k++] = "--ppid";
    hargv[k++] = ppid;
    if (p->memory_limit > 0) {
        snprintf(mem, sizeof(mem), "%lld", (long long)p->memory_limit);
        hargv[k++] = "--mem";
        hargv[k++] = mem;
    }
    if (standin) {
        hargv[k++] = "--standin";
        hargv[k++] = p->image;
    }
    hargv[k++] = "--";
    for (size_t i = 0; i < nargv; i++)
        hargv[k++] = argv[i];
    hargv[k] = NULL;

    uv_timer_init(loop, &p->kill_timer);
    p->kill_timer.data = p;
    p->open_handles++;
    uv_timer_init(loop, &p->drain_timer);
    p->drain_timer.data = p;
    p->open_handles++;
    p->process.data = p;
    p->process.type = UV_UNKNOWN_HANDLE; /* not initialized until uv_spawn */

    /* Real pipes, not the socketpairs UV_CREATE_PIPE makes: programs that open /dev/stdout
     * (/proc/self/fd/1) fail on a socket. Both ends are close-on-exec here; the child gets its
     * ends through dup2. */
    uv_stdio_container_t stdio[4];
    stdio[0].flags = UV_IGNORE;
    for (int i = 0; i < NPIPES; i++) {
        uv_pipe_init(loop, &p->pipes[i], 0);
        p->pipes[i].data = p;
        p->pipe_open[i] = true;
        p->open_handles++;
        int urc = uv_pipe(wfds[i], UV_NONBLOCK_PIPE, 0);
        if (urc == 0 && (urc = uv_pipe_open(&p->pipes[i], wfds[i][0])) != 0)
            close(wfds[i][0]);
        if (urc != 0) {
            if (wfds[i][1] >= 0)
                close(wfds[i][1]);
            wfds[i][1] = -1;
            rc = kl_err(err, KL_EIO, "pipe: %s", uv_strerror(urc));
            p->freed = true;
            close_all(p);
            p = NULL;
            goto out;
        }
        stdio[i + 1].flags = UV_INHERIT_FD;
        stdio[i + 1].data.fd = wfds[i][1];
    }
    uv_process_options_t o;
    memset(&o, 0, sizeof(o));
    o.exit_cb = on_exit_cb;
    o.file = helper;
    o.args = (char **)hargv;
    o.env = env;
    o.cwd = cwd;
    o.flags = UV_PROCESS_DETACHED;
    o.stdio_count = 4;
    o.stdio = stdio;
    p->started_at = now_ns();
    int urc = uv_spawn(loop, &p->process, &o);
    for (int i = 0; i < NPIPES; i++) {
        close(wfds[i][1]);
        wfds[i][1] = -1;
    }
    /* Even a failed uv_spawn leaves the handle initialized: it must be closed. */
    if (p->process.type == UV_PROCESS)
        p->open_handles++;
    if (urc != 0) {
        rc = kl_err(err, KL_EIO, "cannot start %s: %s", helper, uv_strerror(urc));
        p->freed = true;
        close_all(p);
        p = NULL;
        goto out;
    }
    p->spawned = true;
    p->helper_pid = p->process.pid;
    for (int i = 0; i < NPIPES; i++)
        uv_read_start((uv_stream_t *)&p->pipes[i], on_alloc, on_read);
    KL_DEBUG("proc", "started container log=%s pid=%d", p->log_path, p->helper_pid);
    *out = p;
    p = NULL;
    rc = 0;
out:
    for (int i = 0; i < NPIPES; i++) {
        if (wfds[i][1] >= 0)
            close(wfds[i][1]);
    }
    if (p) {
        kl_podlog_writer_close(p->log, false);
        free(p->log_path);
        free(p->image);
        free(p);
    }
    free(argv);
    free(env);
    free(extra[0]);
    free(extra[1]);
    free(hargv);
    free(cwd);
    free(logdir);
    return rc;
}

void kl_proc_free(kl_proc_t *p)
{
    if (p == NULL || p->freed)
        return;
    p->freed = true;
    if (p->finished) {
        close_all(p);
        return;
    }
    /* Still running (or draining): kill hard, and release once it has exited. */
    if (!p->exited) {
        if (p->child_pid > 0)
            (void)kill(-p->child_pid, SIGKILL);
        p->stage = STOP_KILL;
        p->killed = true;
        (void)uv_process_kill(&p->process, SIGUSR1);
        uv_timer_start(&p->kill_timer, on_kill_timer, HARD_KILL_MS, 0);
    } else {
        finish(p);
    }
}

bool kl_proc_running(const kl_proc_t *p)
{
    return p && p->spawned && !p->exited;
}

int kl_proc_pid(const kl_proc_t *p)
{
    return p ? p->child_pid : 0;
}

int64_t kl_proc_started_at(const kl_proc_t *p)
{
    return p ? p->started_at : 0;
}

const char *kl_proc_log_path(const kl_proc_t *p)
{
    return p ? p->log_path : NULL;
}

/* ---- Pod directory ---------------------------------------------------------------------- */

/* rm -rf below an open directory; symlinks are removed, never followed. */
static int rm_tree_at(int dirfd_, const char *name, int depth)
{
    if (unlinkat(dirfd_, name, 0) == 0 || errno == ENOENT)
        return 0;
    if ((errno != EISDIR && errno != EPERM) || depth > 64)
        return -1;
    int fd = openat(dirfd_, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (rm_tree_at(dirfd(d), de->d_name, depth + 1) < 0)
            rc = -1;
    }
    closedir(d);
    if (unlinkat(dirfd_, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        rc = -1;
    return rc;
}

int kl_proc_pod_dir_remove(const char *data_dir, const char *namespace, const char *pod,
                           const char *uid, kl_errinfo_t *err)
{
    char *dir = kl_podlog_pod_dir(data_dir, namespace, pod, uid);
    if (dir == NULL)
        return kl_err(err, KL_EINVAL, "bad names for a pod directory");
    int rc = 0;
    if (rm_tree_at(AT_FDCWD, dir, 0) < 0)
        rc = kl_err(err, KL_EIO, "removing %s: %s", dir, strerror(errno));
    free(dir);
    return rc;
}
