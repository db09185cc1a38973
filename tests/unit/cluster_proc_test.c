/* The container process runner: exit statuses and reasons, captured streams, image entrypoint
 * fallbacks, stand-ins, graceful stop with escalation, memory limits (OOMKilled), children
 * dying with their parent, rotation, container specs (env, $(VAR), references) and the
 * simulated-mode annotations. The test binary is its own supervisor: main() dispatches
 * "__exec" to kl_proc_exec_main, as kubelua's main does. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "kubelua/fsutil.h"
#include "kubelua/json.h"
#include "kubelua/object.h"
#include "kubelua/podlog.h"
#include "kubelua/proc.h"

#include "unit/test_util.h"

typedef struct fx {
    char root[64];
    uv_loop_t loop;
    uv_timer_t tick; /* wakes uv_run(UV_RUN_ONCE) */
    kl_proc_t *p;
    int exits;
    kl_proc_status_t st;
} fx_t;

static int rm_rf(const char *path)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    return system(cmd);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/kl-proc-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->tick);
    uv_timer_start(&f->tick, on_tick, 5, 5);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    kl_proc_free(f->p);
    uv_close((uv_handle_t *)&f->tick, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    rm_rf(f->root);
    free(f);
    return 0;
}

static void on_exit_cb(kl_proc_t *p, const kl_proc_status_t *st, void *ud)
{
    fx_t *f = ud;
    f->st = *st;
    f->exits++;
}

static void spec_init(fx_t *f, kl_proc_spec_t *s, const char *image, const char *const *command,
                      const char *const *args)
{
    memset(s, 0, sizeof(*s));
    s->data_dir = f->root;
    s->namespace = "default";
    s->pod = "pi-xyz";
    s->uid = "uid-1";
    s->container = "pi";
    s->image = image;
    s->command = command;
    s->args = args;
}

static void start(fx_t *f, const kl_proc_spec_t *s)
{
    kl_errinfo_t err = {0};
    int rc = kl_proc_start(&f->loop, s, on_exit_cb, f, &f->p, &err);
    if (rc != 0)
        print_error("kl_proc_start: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_true(kl_proc_running(f->p));
}

/* Runs the loop until the instance has ended (or ms pass). */
static bool wait_exit(fx_t *f, int ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000;
    while (f->exits == 0 && uv_hrtime() < deadline)
        uv_run(&f->loop, UV_RUN_ONCE);
    return f->exits == 1;
}

static char *log_text(fx_t *f, bool previous)
{
    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    q.namespace = "default";
    q.pod = "pi-xyz";
    q.uid = "uid-1";
    q.container = "pi";
    q.previous = previous;
    char *data = NULL;
    size_t len;
    assert_int_equal(kl_podlog_read(f->root, &q, 0, &data, &len, NULL), 0);
    return data;
}

static char *raw_log(fx_t *f, uint32_t instance)
{
    char *dir = kl_podlog_container_dir(f->root, "default", "pi-xyz", "uid-1", "pi");
    char name[32];
    snprintf(name, sizeof(name), "%u.log", instance);
    char *path = kl_path_join(dir, name);
    char *data = NULL;
    assert_int_equal(kl_file_read(path, 1 << 26, &data, NULL, NULL), 0);
    free(path);
    free(dir);
    return data;
}

/* Waits, running the loop, until the live log contains needle. */
static bool wait_log(fx_t *f, const char *needle, int ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000;
    while (uv_hrtime() < deadline) {
        uv_run(&f->loop, UV_RUN_ONCE);
        char *text = log_text(f, false);
        bool found = strstr(text, needle) != NULL;
        free(text);
        if (found)
            return true;
    }
    return false;
}

/* Waits until the supervisor has reported the container's pid (its output may come first). */
static bool wait_pid(fx_t *f, int ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000;
    while (kl_proc_pid(f->p) == 0 && f->exits == 0 && uv_hrtime() < deadline)
        uv_run(&f->loop, UV_RUN_ONCE);
    return kl_proc_pid(f->p) > 0;
}

/* No live (non-zombie) process is left in the group: zombies wait for whoever inherited them
 * to reap them, which is not ours to control. */
static bool group_gone(int pgid)
{
    if (pgid <= 0)
        return false;
    if (kill(-pgid, 0) < 0 && errno == ESRCH)
        return true;
    DIR *d = opendir("/proc");
    assert_non_null(d);
    bool alive = false;
    struct dirent *de;
    while (!alive && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        FILE *fp = fopen(path, "r");
        if (fp == NULL)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
        fclose(fp);
        buf[n] = '\0';
        /* "pid (comm) state ppid pgrp ...": comm may hold spaces, so start after ')'. */
        char *rp = strrchr(buf, ')');
        char state;
        int ppid, pgrp;
        if (rp && sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
            state != 'Z' && state != 'X')
            alive = true;
    }
    closedir(d);
    return !alive;
}

static void end_proc(fx_t *f)
{
    kl_proc_free(f->p);
    f->p = NULL;
}

/* ---- Running ------------------------------------------------------------------------------- */

static void test_proc_exit_code_and_streams(void **state)
{
    fx_t *f = *state;
    const char *cmd[] = {"sh", "-c", "echo hi; echo err >&2; exit 3", NULL};
    kl_proc_spec_t s;
    spec_init(f, &s, "busybox", cmd, NULL);
    start(f, &s);
    assert_true(wait_exit(f, 5000));
    assert_int_equal(f->st.exit_code, 3);
    assert_int_equal(f->st.signal, 0);
    assert_string_equal(f->st.reason, KL_PROC_REASON_ERROR);
    assert_false(f->st.stop_requested);
    assert_true(f->st.pid > 0);
    assert_true(f->st.finished_at >= f->st.started_at);
    assert_int_equal(f->st.started_at, kl_proc_started_at(f->p));
    assert_false(kl_proc_running(f->p));
    char *raw = raw_log(f, 0);
    assert_non_null(strstr(raw, "Z stdout F hi\n"));
    assert_non_null(strstr(raw, "Z stderr F err\n"));
    free(raw);
    char *text = log_text(f, false);
    assert_true(strcmp(text, "hi\nerr\n") == 0 || strcmp(text, "err\nhi\n") == 0);
    free(text);
    /* The log is complete: its done marker exists. */
    char *dir = kl_podlog_container_dir(f->root, "default", "pi-xyz", "uid-1", "pi");
    char *done = kl_path_join(dir, "0.done");
    struct stat st;
    assert_int_equal(stat(done, &st), 0);
    free(done);
    free(dir);
    end_proc(f);
    /* The pod's directory goes with the pod. */
    char *pd = kl_podlog_pod_dir(f->root, "default", "pi-xyz", "uid-1");
    assert_int_equal(stat(pd, &st), 0);
    assert_int_equal(kl_proc_pod_dir_remove(f->root, "default", "pi-xyz", "uid-1", NULL), 0);
    assert_int_equal(stat(pd, &st), -1);
    assert_int_equal(kl_proc_pod_dir_remove(f->root, "default", "pi-xyz", "uid-1", NULL), 0);
    free(pd);
}

static bool perl_bigint_ok(void)
{
    FILE *p = popen("perl -MMath::BigInt -e 'print $Math::BigInt::VERSION' 2>/dev/null", "r");
    if (p == NULL)
        return false;
    char buf[64] = {0};
    size_t n = fread(buf, 1, sizeof(buf) - 1, p);
    int rc = pclose(p);
    buf[n] = '\0';
    /* Debian 12's core Math::BigInt (1.999830) fails on bpi(2000); libmath-bigint-perl's
     * newer one works. */
    return rc == 0 && n > 0 && strtod(buf, NULL) > 1.999830;
}

static void test_proc_perl_pi(void **state)
{
    fx_t *f = *state;
    if (!perl_bigint_ok()) {
        print_message("SKIP: perl with a Math::BigInt newer than 1.999830 is needed for "
                      "bpi(2000); scripts/install-deps.sh installs libmath-bigint-perl\n");
        skip();
    }
    const char *cmd[] = {"perl", "-Mbignum=bpi", "-wle", "print bpi(2000)", NULL};
    kl_proc_spec_t s;
    spec_init(f, &s, "perl:5.34.0", cmd, NULL);
    s.memory_limit = (int64_t)512 << 20;
    start(f, &s);
    assert_true(wait_exit(f, 15000));
    assert_string_equal(f->st.reason, KL_PROC_REASON_COMPLETED);
    assert_int_equal(f->st.exit_code, 0);
    char *text = log_text(f, false);
    assert_true(strncmp(text, "3.14159265358979323846264338327950288419716939937510", 52) == 0);
    assert_int_equal(strlen(text), 2002); /* "3." + 1999 digits + newline */
    assert_true(strstr(text, "\n") == text + 2001);
    free(text);
}

static void test_proc_busybox_args(void **state)
{
    fx_t *f = *state;
    const char *args[] = {"/bin/sh", "-c", "date; echo Hello from the Kubernetes cluster", NULL};
    kl_proc_spec_t s;
    spec_init(f, &s, "busybox:1.28", NULL, args);
    start(f, &s);
    assert_true(wait_exit(f, 5000));
    assert_string_equal(f->st.reason, KL_PROC_REASON_COMPLETED);
    char *text = log_text(f, false);
    size_t line = strcspn(text, "\n");
    assert_int_equal(text[line], '\n');
    assert_string_equal(text + line + 1, "Hello from the Kubernetes cluster\n");
    free(text);
}

static void test_proc_env_workdir_stdout(void **state)
{
    fx_t *f = *state;
    const char *cmd[] = {"sh", "-c",
                         "echo \"$FOO|$HOSTNAME|$(pwd)\"; echo to-dev-stdout > /dev/stdout", NULL};
    const char *env[] = {"FOO=bar baz", NULL};
    kl_proc_spec_t s;
    spec_init(f, &s, "alpine", cmd, NULL);
    s.env = env;
    s.working_dir = "/app/sub";
    start(f, &s);
    assert_true(wait_exit(f, 5000));
    assert_string_equal(f->st.reason, KL_PROC_REASON_COMPLETED);
    char *text = log_text(f, false);
    char want[512];
    snprintf(want, sizeof(want),
             "bar baz|pi-xyz|%s/pods/default_pi-xyz_uid-1/work/pi/app/sub\n"
             "to-dev-stdout\n",
             f->root);
    assert_string_equal(text, want);
    free(text);
}

static void test_proc_standin(void **state)
{
    fx_t *f = *state;
    kl_proc_spec_t s;
    spec_init(f, &s, "registry.example/web/nginx:1.14.2", NULL, NULL);
    start(f, &s);
    assert_true(wait_log(f, "stand-in", 3000));
    assert_true(wait_pid(f, 3000));
    for (int i = 0; i < 40; i++)
        uv_run(&f->loop, UV_RUN_ONCE); /* ~200 ms */
    assert_int_equal(f->exits, 0);
    assert_true(kl_proc_running(f->p));
    assert_true(kl_proc_pid(f->p) > 0);
    uint64_t t0 = uv_hrtime();
    kl_proc_stop(f->p, 10000);
    assert_true(wait_exit(f, 3000));
    assert_true(uv_hrtime() - t0 < (uint64_t)2000 * 1000000);
    assert_int_equal(f->st.exit_code, 0);
    assert_string_equal(f->st.reason, KL_PROC_REASON_COMPLETED);
    assert_true(f->st.stop_requested);
    assert_false(f->st.killed);
    char *text = log_text(f, false);
    assert_non_null(strstr(text, "nginx:1.14.2"));
    free(text);
}

static void test_proc_term_then_kill(void **state)
{
    fx_t *f = *state;
    /* TERM is ignored by the shell and by the sleeps it starts (ignored signals are
     * inherited), so only SIGKILL ends them. */
    const char *cmd[] = {"sh", "-c",
                         "trap '' TERM; sleep 30 & echo ready; while :; do sleep 1; done", NULL};
    kl_proc_spec_t s;
    spec_init(f, &s, "busybox", cmd, NULL);
    start(f, &s);
    assert_true(wait_log(f, "ready", 3000));
    assert_true(wait_pid(f, 3000));
    int pgid = kl_proc_pid(f->p);
    assert_int_equal(kill(-pgid, 0), 0);
    uint64_t t0 = uv_hrtime();
    kl_proc_stop(f->p, 300);
    kl_proc_stop(f->p, 5000); /* never lengthens the grace period */
    assert_true(wait_exit(f, 5000));
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    print_message("stop: SIGKILL after %llu ms (grace 300 ms)\n", (unsigned long long)ms);
    assert_true(ms >= 290 && ms < 2500);
    assert_int_equal(f->st.signal, SIGKILL);
    assert_int_equal(f->st.exit_code, 137);
    assert_string_equal(f->st.reason, KL_PROC_REASON_ERROR);
    assert_true(f->st.killed);
    assert_true(f->st.stop_requested);
    /* The background sleep went with the group. */
    assert_true(group_gone(pgid));
}

static void test_proc_term_graceful(void **state)
{
    fx_t *f = *state;
    /* A busy loop: a sleeping child would get the TERM too (it goes to the group). */
    const char *cmd[] = {"sh", "-c",
                         "trap 'echo bye; exit 0' TERM; echo ready; while :; do :; done", NULL};
    kl_proc_spec_t s;
    spec_init(f, &s, "busybox", cmd, NULL);
    start(f, &s);
    assert_true(wait_log(f, "ready", 3000));
    kl_proc_stop(f->p, 5000);
    assert_true(wait_exit(f, 3000));
    assert_int_equal(f->st.exit_code, 0);
    assert_false(f->st.killed);
    char *text = log_text(f, false);
    assert_string_equal(text, "ready\nbye\n");
    free(text);
}

static void test_proc_memory_limit_oom(void **state)
{
    fx_t *f = *state;
    const char *cmd[] = {"perl", "-e", "$x = \"a\" x 1e9", NULL};
    kl_proc_spec_t s;
    spec_init(f, &s, "perl", cmd, NULL);
    s.memory_limit = (int64_t)100 << 20;
    start(f, &s);
    assert_true(wait_exit(f, 10000));
    print_message("perl under a 100Mi limit: exit %d signal %d\n", f->st.exit_code, f->st.signal);
    assert_string_equal(f->st.reason, KL_PROC_REASON_OOMKILLED);
    assert_int_not_equal(f->st.exit_code, 0);
    end_proc(f);

    /* The same failure without the marker or a signal is a plain Error. */
    f->exits = 0;
    const char *cmd2[] = {"sh", "-c", "echo failed >&2; exit 1", NULL};
    spec_init(f, &s, "busybox", cmd2, NULL);
    s.memory_limit = (int64_t)100 << 20;
    s.instance = 1;
    start(f, &s);
    assert_true(wait_exit(f, 5000));
    assert_string_equal(f->st.reason, KL_PROC_REASON_ERROR);
    end_proc(f);

    /* A crash under a memory limit counts as OOMKilled; without a limit it is an Error. */
    const char *cmd3[] = {"sh", "-c", "kill -SEGV $$", NULL};
    for (int limited = 1; limited >= 0; limited--) {
        f->exits = 0;
        spec_init(f, &s, "busybox", cmd3, NULL);
        s.memory_limit = limited ? (int64_t)100 << 20 : 0;
        s.instance = 3 - (uint32_t)limited;
        start(f, &s);
        assert_true(wait_exit(f, 5000));
        assert_int_equal(f->st.signal, SIGSEGV);
        assert_int_equal(f->st.exit_code, 128 + SIGSEGV);
        assert_string_equal(f->st.reason,
                            limited ? KL_PROC_REASON_OOMKILLED : KL_PROC_REASON_ERROR);
        end_proc(f);
    }
}

static void test_proc_start_errors(void **state)
{
    fx_t *f = *state;
    const char *cmd[] = {"/nonexistent/bin/app", "--flag", NULL};
    kl_proc_spec_t s;
    spec_init(f, &s, "example.com/app:1", cmd, NULL);
    start(f, &s);
    assert_true(wait_exit(f, 5000));
    assert_string_equal(f->st.reason, KL_PROC_REASON_START_ERROR);
    assert_int_equal(f->st.exit_code, 128);
    assert_int_equal(f->st.pid, 0);
    assert_string_equal(f->st.message, "exec: \"/nonexistent/bin/app\": No such file or directory");
    end_proc(f);

    f->exits = 0;
    const char *cmd2[] = {"no-such-command-kl", NULL};
    spec_init(f, &s, "example.com/app:1", cmd2, NULL);
    s.instance = 1;
    start(f, &s);
    assert_true(wait_exit(f, 5000));
    assert_string_equal(f->st.reason, KL_PROC_REASON_START_ERROR);
    assert_string_equal(f->st.message,
                        "exec: \"no-such-command-kl\": executable file not found in $PATH");
    end_proc(f);

    /* No command and an image without a known entrypoint: nothing starts. */
    spec_init(f, &s, "example.com/app:1", NULL, NULL);
    kl_errinfo_t err;
    kl_proc_t *p = NULL;
    assert_int_equal(kl_proc_start(&f->loop, &s, on_exit_cb, f, &p, &err), KL_EINVAL);
    assert_null(p);
    assert_non_null(strstr(err.msg, "no command specified"));
    /* Bad names and a workingDir climbing out are refused too. */
    const char *ok[] = {"true", NULL};
    spec_init(f, &s, "busybox", ok, NULL);
    s.pod = "../x";
    assert_int_equal(kl_proc_start(&f->loop, &s, on_exit_cb, f, &p, &err), KL_EINVAL);
    spec_init(f, &s, "busybox", ok, NULL);
    s.working_dir = "/a/../../b";
    assert_int_equal(kl_proc_start(&f->loop, &s, on_exit_cb, f, &p, &err), KL_EINVAL);
    s.working_dir = NULL;
    s.helper = "/nonexistent/kubelua";
    assert_int_equal(kl_proc_start(&f->loop, &s, on_exit_cb, f, &p, &err), KL_EIO);
    assert_null(p);
}

static void test_proc_free_while_running(void **state)
{
    fx_t *f = *state;
    const char *cmd[] = {"sh", "-c", "sleep 30 & echo ready; sleep 30", NULL};
    kl_proc_spec_t s;
    spec_init(f, &s, "busybox", cmd, NULL);
    start(f, &s);
    assert_true(wait_log(f, "ready", 3000));
    assert_true(wait_pid(f, 3000));
    int pgid = kl_proc_pid(f->p);
    end_proc(f);
    uint64_t deadline = uv_hrtime() + (uint64_t)3000 * 1000000;
    while (!group_gone(pgid) && uv_hrtime() < deadline)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_true(group_gone(pgid));
    assert_int_equal(f->exits, 0); /* no callback after free */
}

static bool pid_alive(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

static void test_proc_leftovers_killed(void **state)
{
    fx_t *f = *state;
    /* A daemon that left the container's process group, still running when the main process
     * exits: it dies with the container, as in a PID namespace. */
    const char *cmd[] = {"sh", "-c",
                         "setsid sh -c 'echo $$ > daemon.pid; exec sleep 60' & "
                         "while [ ! -s daemon.pid ]; do :; done; echo main done",
                         NULL};
    kl_proc_spec_t s;
    spec_init(f, &s, "busybox", cmd, NULL);
    start(f, &s);
    assert_true(wait_exit(f, 5000));
    assert_string_equal(f->st.reason, KL_PROC_REASON_COMPLETED);
    char path[256];
    snprintf(path, sizeof(path), "%s/pods/default_pi-xyz_uid-1/work/pi/daemon.pid", f->root);
    char *text = NULL;
    assert_int_equal(kl_file_read(path, 64, &text, NULL, NULL), 0);
    int pid = atoi(text);
    free(text);
    assert_true(pid > 0);
    assert_false(pid_alive(pid));
}

static void test_proc_kubelua_helper(void **state)
{
    fx_t *f = *state;
    if (access(KL_BINARY, X_OK) != 0) {
        print_message("SKIP: %s is not built\n", KL_BINARY);
        skip();
    }
    /* The real `kubelua __exec`, as the node agent runs it. */
    const char *cmd[] = {"sh", "-c", "echo via kubelua; exit 7", NULL};
    kl_proc_spec_t s;
    spec_init(f, &s, "busybox", cmd, NULL);
    s.helper = KL_BINARY;
    start(f, &s);
    assert_true(wait_exit(f, 5000));
    assert_int_equal(f->st.exit_code, 7);
    char *text = log_text(f, false);
    assert_string_equal(text, "via kubelua\n");
    free(text);
}

static void test_proc_dies_with_parent(void **state)
{
    fx_t *f = *state;
    /* Orphans are re-parented to us, so we can reap them and see them gone. */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t parent = fork();
    assert_true(parent >= 0);
    if (parent == 0) {
        /* A stand-in for kubelua: start a container, report its group, die. */
        close(fds[0]);
        uv_loop_t loop;
        uv_loop_init(&loop);
        const char *cmd[] = {"sh", "-c", "sleep 60 & echo ready; sleep 60", NULL};
        kl_proc_spec_t s;
        spec_init(f, &s, "busybox", cmd, NULL);
        kl_proc_t *p = NULL;
        if (kl_proc_start(&loop, &s, on_exit_cb, f, &p, NULL) < 0)
            _exit(1);
        while (kl_proc_pid(p) == 0)
            uv_run(&loop, UV_RUN_ONCE);
        int pid = kl_proc_pid(p);
        (void)!write(fds[1], &pid, sizeof(pid));
        _exit(0); /* no cleanup: as if killed */
    }
    close(fds[1]);
    int pgid = 0;
    assert_int_equal(read(fds[0], &pgid, sizeof(pgid)), (ssize_t)sizeof(pgid));
    close(fds[0]);
    assert_true(pgid > 0);
    int st;
    assert_int_equal(waitpid(parent, &st, 0), parent);
    uint64_t t0 = uv_hrtime();
    while (!group_gone(pgid) && uv_hrtime() - t0 < (uint64_t)5000 * 1000000) {
        while (waitpid(-1, &st, WNOHANG) > 0) {
        }
        usleep(5000);
    }
    print_message("container group gone %llu ms after its parent died\n",
                  (unsigned long long)((uv_hrtime() - t0) / 1000000));
    assert_true(group_gone(pgid));
    /* Reap the supervisor too. */
    while (waitpid(-1, &st, WNOHANG) > 0) {
    }
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

static void test_proc_log_rotation_and_previous(void **state)
{
    fx_t *f = *state;
    const char *cmd[] = {"sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line $i; i=$((i+1)); done",
                         NULL};
    kl_proc_spec_t s;
    spec_init(f, &s, "busybox", cmd, NULL);
    s.log_max_bytes = 2048;
    s.log_max_files = 2;
    start(f, &s);
    assert_true(wait_exit(f, 5000));
    end_proc(f);
    char *dir = kl_podlog_container_dir(f->root, "default", "pi-xyz", "uid-1", "pi");
    struct stat st;
    char *p = kl_path_join(dir, "0.log.1");
    assert_int_equal(stat(p, &st), 0);
    assert_true(st.st_size <= 2048);
    free(p);
    p = kl_path_join(dir, "0.log.2");
    assert_int_equal(stat(p, &st), -1);
    free(p);
    char *text = log_text(f, false);
    size_t len = strlen(text);
    assert_true(len < 4096);
    assert_string_equal(text + len - 9, "line 399\n");
    free(text);

    /* Restarts: instance 1 and 2; the log of 1 stays for --previous, 0 goes. */
    for (uint32_t i = 1; i <= 2; i++) {
        f->exits = 0;
        char script[64];
        snprintf(script, sizeof(script), "echo run %u", i);
        const char *cmd2[] = {"sh", "-c", script, NULL};
        spec_init(f, &s, "busybox", cmd2, NULL);
        s.instance = i;
        start(f, &s);
        assert_true(wait_exit(f, 5000));
        end_proc(f);
    }
    text = log_text(f, false);
    assert_string_equal(text, "run 2\n");
    free(text);
    text = log_text(f, true);
    assert_string_equal(text, "run 1\n");
    free(text);
    p = kl_path_join(dir, "0.log");
    assert_int_equal(stat(p, &st), -1);
    free(p);
    free(dir);
}

/* ---- What runs ---------------------------------------------------------------------------- */

static void expect_argv(const char *image, const char *const *command, const char *const *args,
                        const char *want, bool want_standin)
{
    char **argv = NULL;
    bool standin = true;
    kl_errinfo_t err;
    int rc = kl_proc_argv_resolve(image, command, args, NULL, &argv, &standin, &err);
    if (want == NULL) {
        assert_int_equal(rc, KL_EINVAL);
        return;
    }
    assert_int_equal(rc, 0);
    char got[512] = {0};
    for (size_t i = 0; argv[i]; i++) {
        strcat(got, i ? "|" : "");
        strcat(got, argv[i]);
    }
    free(argv);
    assert_string_equal(got, want);
    assert_int_equal(standin, want_standin);
}

static void test_proc_entrypoints(void **state)
{
    (void)state;
    const char *cmd[] = {"perl", "-e", "print 1", NULL};
    const char *args[] = {"/bin/sh", "-c", "date", NULL};
    const char *nginx_cmd[] = {"nginx", "-g", "daemon off;", NULL};
    const char *sh_cmd[] = {"sh", "-c", "echo", NULL};
    const char *flags[] = {"--port", "80", NULL};
    const char *none[] = {NULL};
    expect_argv("perl:5.34.0", cmd, NULL, "perl|-e|print 1", false);
    expect_argv("perl:5.34.0", cmd, flags, "perl|-e|print 1|--port|80", false);
    expect_argv("busybox", NULL, args, "/bin/sh|-c|date", false);
    expect_argv("docker.io/library/busybox:1.36@sha256:abc", NULL, NULL, "sh", false);
    expect_argv("alpine:3", none, none, "/bin/sh", false);
    expect_argv("ubuntu", NULL, NULL, "bash", false);
    expect_argv("PYTHON:3.12-slim", NULL, NULL, "python3", false);
    expect_argv("perl", NULL, NULL, "perl|-e|0", false);
    expect_argv("nginx:1.14.2", NULL, NULL, "", true);
    expect_argv("nginx", NULL, flags, "", true);
    expect_argv("nginx", nginx_cmd, NULL, "", true); /* no nginx on the host */
    expect_argv("nginx", sh_cmd, NULL, "sh|-c|echo", false);
    expect_argv("nginxinc/nginx-unprivileged", NULL, NULL, "", true);
    expect_argv("quay.io/fluentd_elasticsearch/fluentd:v2.5.2", NULL, NULL, "", true);
    expect_argv("registry.k8s.io/pause:3.9", NULL, NULL, "", true);
    expect_argv("registry.k8s.io/e2e-test-images/agnhost:2.39", NULL, flags, "", true);
    expect_argv("prom/node-exporter", NULL, NULL, "", true);
    expect_argv("localhost:5000/tools", NULL, flags, "--port|80", false);
    expect_argv("localhost:5000/tools", NULL, NULL, NULL, false);
    expect_argv(NULL, NULL, NULL, NULL, false);
    expect_argv(NULL, cmd, NULL, "perl|-e|print 1", false);
}

static const char *resolver(kl_proc_ref_t kind, const char *name, const char *key, void *ud)
{
    (void)ud;
    if (kind == KL_PROC_REF_FIELD && strcmp(name, "metadata.name") == 0)
        return "env-demo";
    if (kind == KL_PROC_REF_FIELD && strcmp(name, "spec.nodeName") == 0)
        return "node-1";
    if (kind == KL_PROC_REF_CONFIGMAP && strcmp(name, "settings") == 0 && strcmp(key, "color") == 0)
        return "blue";
    if (kind == KL_PROC_REF_ALLOCATABLE && strcmp(name, "cpu") == 0)
        return "3500m";
    return NULL;
}

static kl_obj_t *load_pod(void)
{
    size_t len;
    char *text = kl_test_read_fixture("cluster/pod-env.json", &len);
    kl_obj_t *doc = NULL;
    assert_int_equal(kl_obj_parse_json(text, len, NULL, &doc, NULL), 0);
    free(text);
    return doc;
}

static void test_proc_spec_from_container(void **state)
{
    fx_t *f = *state;
    kl_obj_t *doc = load_pod();
    kl_val_t containers = kl_val_path(kl_obj_root(doc), "spec", "containers", NULL);
    kl_proc_spec_t s;
    spec_init(f, &s, NULL, NULL, NULL);
    kl_errinfo_t err;
    int rc = kl_proc_spec_from_container(&s, kl_val_at(containers, 0), resolver, NULL, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(s.image, "docker.io/library/busybox:1.36");
    assert_string_equal(s.working_dir, "/app");
    assert_int_equal(s.memory_limit, 64 << 20);
    assert_string_equal(s.command[0], "/bin/sh");
    assert_string_equal(s.command[1], "-c");
    assert_null(s.command[2]);
    assert_string_equal(s.args[0], "echo 'hi again env-demo $(GREETING) $(UNDEFINED)'");
    assert_null(s.args[1]);
    const char *want[] = {"GREETING=hi again",
                          "MESSAGE=hello, world from $(NODE)",
                          "POD_NAME=env-demo",
                          "NODE=node-1",
                          "LATE=node-1",
                          "COLOR=blue",
                          "MEM_MI=64",
                          "CPU_REQ=250",
                          "CPU_LIMIT=4",
                          "EMPTY=",
                          NULL};
    for (size_t i = 0; want[i]; i++) {
        assert_non_null(s.env[i]);
        assert_string_equal(s.env[i], want[i]);
    }
    assert_null(s.env[10]);

    /* And it runs. */
    start(f, &s);
    kl_proc_spec_cleanup(&s);
    assert_true(wait_exit(f, 5000));
    char *text = log_text(f, false);
    assert_string_equal(text, "hi again env-demo $(GREETING) $(UNDEFINED)\n");
    free(text);

    spec_init(f, &s, NULL, NULL, NULL);
    s.namespace = "team-a";
    rc = kl_proc_spec_from_container(&s, kl_val_at(containers, 1), resolver, NULL, &err);
    assert_int_equal(rc, KL_ENOTFOUND);
    assert_string_equal(err.msg, "couldn't find key k in ConfigMap team-a/missing");
    kl_proc_spec_cleanup(&s);
    kl_proc_spec_cleanup(&s);
    kl_obj_unref(doc);
}

/* ---- Simulated ----------------------------------------------------------------------------- */

static void test_sim_params(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(kl_sim_duration_parse("5s", &ms), 0);
    assert_int_equal(ms, 5000);
    assert_int_equal(kl_sim_duration_parse("1.5s", &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(kl_sim_duration_parse("2m30s", &ms), 0);
    assert_int_equal(ms, 150000);
    assert_int_equal(kl_sim_duration_parse("1h", &ms), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(kl_sim_duration_parse("300ms", &ms), 0);
    assert_int_equal(ms, 300);
    assert_int_equal(kl_sim_duration_parse("1500us", &ms), 0);
    assert_int_equal(ms, 1);
    assert_int_equal(kl_sim_duration_parse("7", &ms), 0);
    assert_int_equal(ms, 7000);
    assert_int_equal(kl_sim_duration_parse("0", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(kl_sim_duration_parse("", &ms), KL_EINVAL);
    assert_int_equal(kl_sim_duration_parse("-1s", &ms), KL_EINVAL);
    assert_int_equal(kl_sim_duration_parse("5x", &ms), KL_EINVAL);
    assert_int_equal(kl_sim_duration_parse("s", &ms), KL_EINVAL);

    const char *json =
        "{\"kubelua.io/mode\":\"simulated\",\"kubelua.io/run-duration\":\"5s\","
        "\"kubelua.io/exit-code\":\"1\",\"kubelua.io/exit-code.sidecar\":\"0\","
        "\"kubelua.io/ready-after\":\"2s\",\"kubelua.io/run-duration.sidecar\":\"forever\","
        "\"kubelua.io/reason.main\":\"OOMKilled\",\"other\":\"x\"}";
    kl_obj_t *doc = NULL;
    assert_int_equal(kl_obj_parse_json(json, strlen(json), NULL, &doc, NULL), 0);
    kl_val_t ann = kl_obj_root(doc);
    kl_sim_params_t defaults = {
        .start_delay_ms = 100, .run_duration_ms = 1000, .exit_code = 0, .stop_delay_ms = 50};
    kl_sim_params_t p;
    assert_int_equal(kl_sim_params_parse(ann, "main", &defaults, &p, NULL), 0);
    assert_int_equal(p.mode, KL_SIM_MODE_SIMULATED);
    assert_int_equal(p.start_delay_ms, 100);
    assert_int_equal(p.run_duration_ms, 5000);
    assert_int_equal(p.exit_code, 1);
    assert_string_equal(p.reason, "OOMKilled");
    assert_int_equal(p.ready_after_ms, 2000);
    assert_int_equal(p.stop_delay_ms, 50);
    assert_int_equal(kl_sim_params_parse(ann, "sidecar", NULL, &p, NULL), 0);
    assert_int_equal(p.run_duration_ms, KL_SIM_FOREVER);
    assert_int_equal(p.exit_code, 0);
    assert_null(p.reason);
    kl_obj_unref(doc);

    kl_val_t missing = {0};
    assert_int_equal(kl_sim_params_parse(missing, "main", NULL, &p, NULL), 0);
    assert_int_equal(p.mode, KL_SIM_MODE_DEFAULT);
    assert_int_equal(p.run_duration_ms, KL_SIM_FOREVER);

    json = "{\"kubelua.io/exit-code\":\"300\",\"kubelua.io/ready-after\":\"soon\","
           "\"kubelua.io/start-delay\":\"1s\"}";
    assert_int_equal(kl_obj_parse_json(json, strlen(json), NULL, &doc, NULL), 0);
    kl_errinfo_t err;
    assert_int_equal(kl_sim_params_parse(kl_obj_root(doc), "c", NULL, &p, &err), KL_EINVAL);
    /* The first bad one is reported. */
    assert_string_equal(err.msg, "annotation kubelua.io/ready-after: invalid value \"soon\"");
    assert_int_equal(p.exit_code, 0);
    assert_int_equal(p.start_delay_ms, 1000); /* the valid ones still apply */
    kl_obj_unref(doc);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "__exec") == 0)
        return kl_proc_exec_main(argc - 1, argv + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_proc_exit_code_and_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_perl_pi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_busybox_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_env_workdir_stdout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_standin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_term_then_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_term_graceful, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_memory_limit_oom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_start_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_free_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_leftovers_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_kubelua_helper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_dies_with_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_log_rotation_and_previous, setup, teardown),
        cmocka_unit_test(test_proc_entrypoints),
        cmocka_unit_test_setup_teardown(test_proc_spec_from_container, setup, teardown),
        cmocka_unit_test(test_sim_params),
    };
    return cmocka_run_group_tests_name("cluster_proc", tests, NULL, NULL);
}
