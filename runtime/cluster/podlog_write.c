/* Container log writer: CRI records with containerd's line splitting, size-based rotation, and
 * the per-instance files the readers look for. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kubelua/buf.h"
#include "kubelua/fsutil.h"
#include "kubelua/log.h"
#include "kubelua/podlog.h"

#include "cluster/podlog_int.h"

struct kl_podlog_writer {
    char *dir;
    char *path; /* <dir>/<instance>.log */
    uint32_t instance;
    int fd;
    size_t size; /* bytes in the live file */
    size_t max_bytes;
    unsigned max_files;
    kl_buf_t pend[2]; /* unterminated tail of each stream, < KL_PODLOG_MAX_LINE */
    kl_buf_t out;     /* records of the current call, not yet written */
    char ts[KL_PODLOG_TS_MAX];
    size_t tslen;
    bool warned;
};

static const char *const stream_names[2] = {"stdout", "stderr"};

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return KL_EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int open_live(kl_podlog_writer_t *w)
{
    w->fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    w->size = 0;
    return w->fd < 0 ? KL_EIO : 0;
}

static int flush_out(kl_podlog_writer_t *w)
{
    if (w->out.len == 0)
        return 0;
    int rc = w->fd >= 0 ? write_all(w->fd, w->out.data, w->out.len) : KL_EIO;
    if (rc == 0)
        w->size += w->out.len;
    else if (!w->warned) {
        KL_WARN("podlog", "write failed path=%s: %s", w->path, strerror(errno));
        w->warned = true;
    }
    kl_buf_reset(&w->out);
    return rc;
}

static int rotate(kl_podlog_writer_t *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    for (unsigned i = w->max_files - 1; i >= 2; i--) {
        char from[16], to[16];
        snprintf(from, sizeof(from), ".%u", i - 1);
        snprintf(to, sizeof(to), ".%u", i);
        char *pf = kl__podlog_file(w->dir, w->instance, from);
        char *pt = kl__podlog_file(w->dir, w->instance, to);
        if (pf && pt)
            (void)rename(pf, pt);
        free(pf);
        free(pt);
    }
    if (w->max_files >= 2) {
        char *p1 = kl__podlog_file(w->dir, w->instance, ".1");
        if (p1)
            (void)rename(w->path, p1);
        free(p1);
    } else {
        (void)unlink(w->path);
    }
    return open_live(w);
}

static int record(kl_podlog_writer_t *w, kl_podlog_stream_t s, char tag, const char *msg,
                  size_t len)
{
    size_t reclen = w->tslen + len + 11; /* " stdout F " + '\n' */
    if (w->size + w->out.len + reclen > w->max_bytes && w->size + w->out.len > 0) {
        int rc = flush_out(w);
        if (rotate(w) < 0 || rc < 0)
            return KL_EIO;
    }
    char *dst = kl_buf_reserve(&w->out, reclen, NULL);
    if (dst == NULL)
        return KL_ENOMEM;
    memcpy(dst, w->ts, w->tslen);
    size_t n = w->tslen;
    dst[n++] = ' ';
    memcpy(dst + n, stream_names[s], 6);
    n += 6;
    dst[n++] = ' ';
    dst[n++] = tag;
    dst[n++] = ' ';
    memcpy(dst + n, msg, len);
    n += len;
    dst[n++] = '\n';
    kl_buf_commit(&w->out, n);
    return 0;
}

int kl_podlog_writer_open(const char *dir, uint32_t instance, size_t max_bytes, unsigned max_files,
                          kl_podlog_writer_t **out, kl_errinfo_t *err)
{
    int rc = kl_mkdir_p(dir, 0755, err);
    if (rc < 0)
        return rc;
    kl_podlog_writer_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    w->fd = -1;
    w->instance = instance;
    w->max_bytes = max_bytes ? max_bytes : ((size_t)10 << 20);
    if (w->max_bytes < 1024)
        w->max_bytes = 1024;
    w->max_files = max_files ? max_files : 2;
    kl_buf_init(&w->pend[0], KL_PODLOG_MAX_LINE + 1);
    kl_buf_init(&w->pend[1], KL_PODLOG_MAX_LINE + 1);
    kl_buf_init(&w->out, 0);
    w->dir = strdup(dir);
    w->path = kl__podlog_file(dir, instance, "");
    if (w->dir == NULL || w->path == NULL) {
        kl_podlog_writer_close(w, false);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    /* Keep instance - 1 (for --previous), drop older ones and leftovers of this instance from
     * an earlier run; mark older instances done so their followers end. */
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char *end;
            if (de->d_name[0] < '0' || de->d_name[0] > '9')
                continue;
            unsigned long k = strtoul(de->d_name, &end, 10);
            if (*end != '.')
                continue;
            bool old = instance > 0 && k < instance - 1;
            bool stale_own = k == instance && strcmp(end, ".log") != 0;
            if (k <= UINT32_MAX && (old || stale_own || k > instance)) {
                size_t plen = strlen(dir) + strlen(de->d_name) + 2;
                char *p = malloc(plen);
                if (p) {
                    snprintf(p, plen, "%s/%s", dir, de->d_name);
                    (void)unlink(p);
                    free(p);
                }
            }
        }
        closedir(d);
    }
    if (instance > 0) {
        char *prev_log = kl__podlog_file(dir, instance - 1, "");
        size_t plen = strlen(dir) + 24;
        char *mark = malloc(plen);
        struct stat st;
        if (prev_log && mark && stat(prev_log, &st) == 0) {
            snprintf(mark, plen, "%s/%u.done", dir, instance - 1);
            int fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
            if (fd >= 0)
                close(fd);
        }
        free(prev_log);
        free(mark);
    }
    if (open_live(w) < 0) {
        rc = kl_err(err, KL_EIO, "%s: %s", w->path, strerror(errno));
        kl_podlog_writer_close(w, false);
        return rc;
    }
    *out = w;
    return 0;
}

int kl_podlog_writer_write(kl_podlog_writer_t *w, kl_podlog_stream_t s, const char *data,
                           size_t len)
{
    if (len == 0)
        return 0;
    w->tslen = kl__podlog_format_ts(kl__podlog_now_ns(), w->ts);
    kl_buf_t *pend = &w->pend[s];
    int rc = 0;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t seg = nl ? (size_t)(nl - data) : len;
        /* Fill the pending line; a full one goes out as a "P" chunk. */
        while (seg > 0) {
            size_t room = KL_PODLOG_MAX_LINE - pend->len;
            size_t take = seg < room ? seg : room;
            if (kl_buf_append(pend, data, take) < 0)
                return KL_ENOMEM;
            data += take;
            len -= take;
            seg -= take;
            if (pend->len == KL_PODLOG_MAX_LINE) {
                if (record(w, s, 'P', pend->data, pend->len) < 0)
                    rc = KL_EIO;
                kl_buf_reset(pend);
            }
        }
        if (nl) {
            size_t n = pend->len;
            if (n > 0 && pend->data[n - 1] == '\r')
                n--;
            if (record(w, s, 'F', n ? pend->data : "", n) < 0)
                rc = KL_EIO;
            kl_buf_reset(pend);
            data++;
            len--;
        }
    }
    if (flush_out(w) < 0)
        rc = KL_EIO;
    return rc;
}

int kl_podlog_writer_end(kl_podlog_writer_t *w, kl_podlog_stream_t s)
{
    kl_buf_t *pend = &w->pend[s];
    if (pend->len == 0)
        return 0;
    w->tslen = kl__podlog_format_ts(kl__podlog_now_ns(), w->ts);
    int rc = record(w, s, 'F', pend->data, pend->len);
    kl_buf_reset(pend);
    if (flush_out(w) < 0)
        rc = KL_EIO;
    return rc;
}

const char *kl_podlog_writer_path(const kl_podlog_writer_t *w)
{
    return w->path;
}

void kl_podlog_writer_close(kl_podlog_writer_t *w, bool done)
{
    if (w == NULL)
        return;
    if (w->path) {
        (void)kl_podlog_writer_end(w, KL_PODLOG_STDOUT);
        (void)kl_podlog_writer_end(w, KL_PODLOG_STDERR);
    }
    if (w->fd >= 0)
        close(w->fd);
    if (done && w->dir) {
        size_t plen = strlen(w->dir) + 24;
        char *mark = malloc(plen);
        if (mark) {
            snprintf(mark, plen, "%s/%u.done", w->dir, w->instance);
            int fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
            if (fd >= 0)
                close(fd);
            free(mark);
        }
    }
    kl_buf_cleanup(&w->pend[0]);
    kl_buf_cleanup(&w->pend[1]);
    kl_buf_cleanup(&w->out);
    free(w->dir);
    free(w->path);
    free(w);
}
