/* The container supervisor, `kubelua __exec` (see proc.h for its contract). It runs in a process
 * of its own between the node agent and the container: it makes the container die with
 * kubelua, applies resource limits, owns the container's process group, and exits with the
 * container's status. Async-signal concerns are avoided by taking every signal synchronously
 * (blocked, then sigwaitinfo). Exits with _exit() only: nothing to flush, no atexit work. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kubelua/proc.h"

#define STATUS_FD 3

static void status_line(const char *fmt, ...) KL_PRINTF(1, 2);

static void status_line(const char *fmt, ...)
{
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    buf[n] = '\n';
    ssize_t w;
    do {
        w = write(STATUS_FD, buf, (size_t)n + 1);
    } while (w < 0 && errno == EINTR);
}

/* Closes inherited descriptors above STATUS_FD (libraries in the parent may not all use
 * O_CLOEXEC). */
static void close_extra_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        for (int fd = STATUS_FD + 1; fd < 1024; fd++)
            close(fd);
        return;
    }
    int self = dirfd(d);
    int fds[256];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < sizeof(fds) / sizeof(fds[0])) {
        int fd = atoi(de->d_name);
        if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && fd > STATUS_FD && fd != self)
            fds[n++] = fd;
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

/* Signals to the group (falls back to the process before the group exists). */
static void signal_group(pid_t child, int sig)
{
    if (kill(-child, sig) < 0 && errno == ESRCH)
        (void)kill(child, sig);
}

/* Reaps exited children. Orphans of the container are re-parented to us (we are a subreaper)
 * and reaped as they come; when the container process itself has exited, its group is killed
 * before it is reaped (so the group id cannot be reused meanwhile), and true is returned with
 * its status. */
static bool reap_until_child(pid_t child, int *st)
{
    for (;;) {
        siginfo_t ci;
        memset(&ci, 0, sizeof(ci));
        if (waitid(P_ALL, 0, &ci, WEXITED | WNOHANG | WNOWAIT) < 0 || ci.si_pid == 0)
            return false;
        if (ci.si_pid == child)
            (void)kill(-child, SIGKILL);
        pid_t r;
        do {
            r = waitpid(ci.si_pid, st, 0);
        } while (r < 0 && errno == EINTR);
        if (ci.si_pid == child)
            return true;
    }
}

/* SIGKILLs our remaining children (the container's descendants that left its group, once
 * re-parented to us). */
static void kill_children(pid_t self)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)self, (int)self);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    int pid;
    while (fscanf(f, "%d", &pid) == 1)
        (void)kill(pid, SIGKILL);
    fclose(f);
}

/* After the container process ended: kill and reap what is left, for at most about 1 s. */
static void finish_leftovers(pid_t self)
{
    for (int i = 0; i < 100; i++) {
        int st;
        pid_t r;
        while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
        }
        if (r < 0 && errno == ECHILD)
            return;
        kill_children(self);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Ends this process the way the container ended. */
static void mirror(int st)
{
    if (WIFEXITED(st))
        _exit(WEXITSTATUS(st));
    int sig = WIFSIGNALED(st) ? WTERMSIG(st) : SIGKILL;
    struct rlimit core = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &core);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    (void)sigaction(sig, &sa, NULL);
    sigset_t only;
    sigfillset(&only);
    sigdelset(&only, sig);
    (void)sigprocmask(SIG_SETMASK, &only, NULL);
    (void)raise(sig);
    _exit(128 + sig);
}

static void run_standin(const char *image)
{
    char line[512];
    int n = snprintf(line, sizeof(line),
                     "kubelua: no local entrypoint for image %s; a stand-in runs until it is "
                     "terminated\n",
                     image);
    if (n > 0)
        (void)!write(1, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    int sig;
    while (sigwait(&set, &sig) != 0) {
    }
    _exit(0);
}

/* In the forked container process: never returns. */
static void child_main(pid_t supervisor, int errfd, int64_t mem, const char *standin, char **argv)
{
    (void)setpgid(0, 0);
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != supervisor)
        _exit(137);
    struct rlimit core = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &core);
    if (standin) {
        close(errfd);         /* no exec will close it: tell the supervisor we are up */
        run_standin(standin); /* keeps the blocked mask it waits on */
    }
    if (mem > 0) {
        struct rlimit as = {(rlim_t)mem, (rlim_t)mem};
        if (setrlimit(RLIMIT_AS, &as) < 0) {
            int e = errno;
            (void)!write(errfd, &e, sizeof(e));
            _exit(127);
        }
    }
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(argv[0], argv);
    int e = errno;
    if (e == ENOENT && strcmp(argv[0], "python") == 0) {
        argv[0] = "python3";
        execvp(argv[0], argv);
        argv[0] = "python";
    }
    (void)!write(errfd, &e, sizeof(e));
    _exit(127);
}

int kl_proc_exec_main(int argc, char **argv)
{
    pid_t ppid = 0;
    int64_t mem = 0;
    const char *standin = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (i + 1 >= argc) {
            status_line("error %d bad option %s", EINVAL, argv[i]);
            _exit(128);
        }
        if (strcmp(argv[i], "--ppid") == 0)
            ppid = (pid_t)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--mem") == 0)
            mem = strtoll(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--standin") == 0)
            standin = argv[++i];
        else {
            status_line("error %d unknown option %s", EINVAL, argv[i]);
            _exit(128);
        }
    }
    char **cargv = argv + i;
    if (standin == NULL && i >= argc) {
        status_line("error %d no command", EINVAL);
        _exit(128);
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGCHLD);
    (void)sigprocmask(SIG_BLOCK, &set, NULL);

    /* Die with the thread that spawned us; if it is already gone, don't start. */
    (void)prctl(PR_SET_PDEATHSIG, SIGUSR1);
    if (ppid > 0 && getppid() != ppid)
        _exit(137);

    close_extra_fds();
    (void)fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC);
    int ep[2];
    if (pipe(ep) < 0) {
        status_line("error %d pipe: %s", errno, strerror(errno));
        _exit(128);
    }
    (void)fcntl(ep[0], F_SETFD, FD_CLOEXEC);
    (void)fcntl(ep[1], F_SETFD, FD_CLOEXEC);

    pid_t self = getpid();
    pid_t child = fork();
    if (child < 0) {
        status_line("error %d fork: %s", errno, strerror(errno));
        _exit(128);
    }
    if (child == 0) {
        close(ep[0]);
        child_main(self, ep[1], mem, standin, cargv);
    }
    close(ep[1]);
    (void)setpgid(child, child);
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);

    int e = 0;
    ssize_t r;
    do {
        r = read(ep[0], &e, sizeof(e));
    } while (r < 0 && errno == EINTR);
    close(ep[0]);
    if (r == (ssize_t)sizeof(e)) {
        int st;
        while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
        }
        if (e == ENOENT && strchr(cargv[0], '/') == NULL)
            status_line("error %d exec: \"%s\": executable file not found in $PATH", e, cargv[0]);
        else
            status_line("error %d exec: \"%s\": %s", e, cargv[0], strerror(e));
        _exit(128);
    }
    status_line("start %d", (int)child);
    close(STATUS_FD);

    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&set, &si);
        if (sig < 0)
            continue;
        if (sig == SIGCHLD) {
            int st;
            if (reap_until_child(child, &st)) {
                finish_leftovers(self);
                mirror(st);
            }
        } else if (sig == SIGUSR1) {
            signal_group(child, SIGKILL);
        } else {
            signal_group(child, sig);
        }
    }
}
