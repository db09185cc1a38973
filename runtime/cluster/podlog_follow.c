/* Following a container log (kubectl logs -f): the initial part as the query selects it, then
 * appended records, one chunk in flight at a time, across rotations, until the instance ends. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kubelua/buf.h"
#include "kubelua/podlog.h"

#include "cluster/podlog_int.h"

#define CHUNK ((size_t)256 << 10)    /* output handed over at once (soft) */
#define READ_AHEAD ((size_t)4 << 20) /* raw bytes buffered before delivering */
#define POLL_MS 1000                 /* fallback when inotify says nothing */

struct kl_podlog_follow {
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_fs_event_t fsev;
    int open_handles;
    char *dir;
    char *path;
    uint32_t instance;
    int fd;
    kl_buf_t raw; /* read, not yet decoded (ends with an incomplete record at most) */
    kl_buf_t out; /* decoded, being delivered */
    kl_podlog_decoder_t dec;
    bool in_flight;
    bool ended;
    bool freed;
    kl_podlog_data_cb on_data;
    kl_podlog_end_cb on_end;
    void *ud;
};

static void release(kl_podlog_follow_t *f)
{
    if (f->fd >= 0)
        close(f->fd);
    kl_buf_cleanup(&f->raw);
    kl_buf_cleanup(&f->out);
    free(f->dir);
    free(f->path);
    free(f);
}

static void on_close(uv_handle_t *h)
{
    kl_podlog_follow_t *f = h->data;
    if (--f->open_handles == 0)
        release(f);
}

/* Reads what the live file has now, up to READ_AHEAD buffered. Returns 1 at end of file, 0 when
 * more is left, or a negative code. */
static int read_more(kl_podlog_follow_t *f)
{
    while (f->raw.len < READ_AHEAD) {
        int rc = 0;
        char *dst = kl_buf_reserve(&f->raw, 65536, &rc);
        if (dst == NULL)
            return rc;
        ssize_t r = read(f->fd, dst, 65536);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return KL_EIO;
        if (r == 0)
            return 1;
        kl_buf_commit(&f->raw, (size_t)r);
    }
    return 0;
}

/* The live path names another file than the one we read (rotated): switch to it. Returns 1
 * when switched, 0 when not, negative on error. */
static int follow_rotation(kl_podlog_follow_t *f)
{
    struct stat a, b;
    if (fstat(f->fd, &a) < 0)
        return KL_EIO;
    if (stat(f->path, &b) < 0)
        return 0; /* mid-rotation or removed: look again later */
    if (a.st_ino == b.st_ino && a.st_dev == b.st_dev)
        return 0;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    close(f->fd);
    f->fd = fd;
    return 1;
}

static void end(kl_podlog_follow_t *f, int rc)
{
    if (f->ended)
        return;
    f->ended = true;
    uv_timer_stop(&f->timer);
    uv_fs_event_stop(&f->fsev);
    f->on_end(f, rc, f->ud);
}

static void poll_now(kl_podlog_follow_t *f);

static void on_timer(uv_timer_t *t)
{
    poll_now(t->data);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    kl_podlog_follow_t *f = h->data;
    if (status < 0) {
        uv_fs_event_stop(h); /* the directory went away: polling notices the end */
        return;
    }
    if (!f->ended && !f->in_flight)
        uv_timer_start(&f->timer, on_timer, 0, POLL_MS);
}

static void poll_now(kl_podlog_follow_t *f)
{
    if (f->ended || f->freed || f->in_flight)
        return;
    /* Checked before reading: once the instance is done its file no longer grows, so reading
     * to the end afterwards sees everything. */
    bool done = kl__podlog_instance_done(f->dir, f->instance);
    int eof = read_more(f);
    if (eof == 1) {
        int sw = follow_rotation(f);
        if (sw < 0) {
            end(f, sw);
            return;
        }
        if (sw == 1)
            eof = read_more(f);
    }
    if (eof < 0) {
        end(f, eof);
        return;
    }
    size_t used = kl__podlog_decode(&f->dec, f->raw.data, f->raw.len, &f->out);
    if (used > 0) {
        memmove(f->raw.data, f->raw.data + used, f->raw.len - used);
        f->raw.len -= used;
    }
    if (f->out.len > 0) {
        f->in_flight = true;
        f->on_data(f, f->out.data, f->out.len, f->ud);
        return;
    }
    bool more_complete = memchr(f->raw.data ? f->raw.data : "", '\n', f->raw.len) != NULL;
    if (f->dec.remaining == 0 || (done && eof == 1 && !more_complete)) {
        end(f, 0);
        return;
    }
    if (eof == 0 || more_complete)
        uv_timer_start(&f->timer, on_timer, 0, POLL_MS);
}

int kl_podlog_follow_start(uv_loop_t *loop, const char *data_dir, const kl_podlog_query_t *q,
                           kl_podlog_data_cb on_data, kl_podlog_end_cb on_end, void *ud,
                           kl_podlog_follow_t **out, kl_errinfo_t *err)
{
    char *dir = kl_podlog_container_dir(data_dir, q->namespace, q->pod, q->uid, q->container);
    if (dir == NULL)
        return kl_err(err, KL_EINVAL, "bad names for a container log");
    uint32_t latest = 0, prev = 0;
    bool has_prev = false;
    int rc = kl__podlog_instances(dir, &latest, &has_prev, &prev);
    if (rc < 0 || (q->previous && !has_prev)) {
        rc = rc == KL_EIO ? kl_err(err, KL_EIO, "cannot read %s", dir)
                          : kl_err(err, KL_ENOTFOUND, "no %slog for container %s",
                                   q->previous ? "previous " : "", q->container);
        free(dir);
        return rc;
    }
    kl_podlog_follow_t *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        free(dir);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    f->loop = loop;
    f->dir = dir;
    f->instance = q->previous ? prev : latest;
    f->fd = -1;
    f->on_data = on_data;
    f->on_end = on_end;
    f->ud = ud;
    kl_buf_init(&f->raw, 0);
    kl_buf_init(&f->out, CHUNK + KL_PODLOG_MAX_LINE + 2 * KL_PODLOG_TS_MAX);
    kl__podlog_decoder_init(&f->dec, q);
    f->dec.soft_max = CHUNK;
    f->path = kl__podlog_file(dir, f->instance, "");
    if (f->path == NULL) {
        release(f);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    /* Open the live file first, so a rotation meanwhile is seen as one. */
    f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        rc = errno == ENOENT ? kl_err(err, KL_ENOTFOUND, "no log for container %s", q->container)
                             : kl_err(err, KL_EIO, "%s: %s", f->path, strerror(errno));
        release(f);
        return rc;
    }
    rc = kl__podlog_slurp_rotated(dir, f->instance, &f->raw);
    if (rc == 0) {
        rc = read_more(f);
        rc = rc < 0 ? rc : 0;
    }
    if (rc < 0) {
        release(f);
        return kl_err(err, rc, "reading the log of container %s: %s", q->container,
                      kl_strerror(rc));
    }
    if (q->tail_lines >= 0) {
        size_t complete = f->raw.len;
        while (complete > 0 && f->raw.data[complete - 1] != '\n')
            complete--;
        size_t start = kl__podlog_tail_start(f->raw.data, complete, q->tail_lines);
        memmove(f->raw.data, f->raw.data + start, f->raw.len - start);
        f->raw.len -= start;
    }
    uv_timer_init(loop, &f->timer);
    f->timer.data = f;
    f->open_handles++;
    uv_fs_event_init(loop, &f->fsev);
    f->fsev.data = f;
    f->open_handles++;
    (void)uv_fs_event_start(&f->fsev, on_fs_event, dir, 0); /* polling covers a failure */
    uv_timer_start(&f->timer, on_timer, 0, POLL_MS);
    *out = f;
    return 0;
}

void kl_podlog_follow_resume(kl_podlog_follow_t *f)
{
    if (f->freed || !f->in_flight)
        return;
    f->in_flight = false;
    kl_buf_reset(&f->out);
    if (!f->ended)
        uv_timer_start(&f->timer, on_timer, 0, POLL_MS);
}

void kl_podlog_follow_free(kl_podlog_follow_t *f)
{
    if (f == NULL || f->freed)
        return;
    f->freed = true;
    f->ended = true;
    uv_timer_stop(&f->timer);
    uv_fs_event_stop(&f->fsev);
    uv_close((uv_handle_t *)&f->timer, on_close);
    uv_close((uv_handle_t *)&f->fsev, on_close);
}
