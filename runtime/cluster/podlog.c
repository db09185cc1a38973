/* Container logs: paths, the CRI record decoder kubelet's log reader mirrors, and the pods/log
 * provider of the embedded API server. */
#include "kubelua/podlog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kubelua/buf.h"

#include "apiserver/apiserver.h"
#include "cluster/podlog_int.h"

/* Whole logs are read into memory; rotation keeps them far below this. */
#define SLURP_MAX ((size_t)256 << 20)

static bool name_ok(const char *s)
{
    return s && *s && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && strchr(s, '/') == NULL;
}

char *kl_podlog_pod_dir(const char *data_dir, const char *namespace, const char *pod,
                        const char *uid)
{
    if (data_dir == NULL || !*data_dir || !name_ok(namespace) || !name_ok(pod) || !name_ok(uid))
        return NULL;
    size_t n = strlen(data_dir) + strlen(namespace) + strlen(pod) + strlen(uid) + 16;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/pods/%s_%s_%s", data_dir, namespace, pod, uid);
    return p;
}

char *kl_podlog_container_dir(const char *data_dir, const char *namespace, const char *pod,
                              const char *uid, const char *container)
{
    if (!name_ok(container))
        return NULL;
    char *pd = kl_podlog_pod_dir(data_dir, namespace, pod, uid);
    if (pd == NULL)
        return NULL;
    size_t n = strlen(pd) + strlen(container) + 8;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/logs/%s", pd, container);
    free(pd);
    return p;
}

/* ---- Time ------------------------------------------------------------------------------- */

int64_t kl__podlog_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

size_t kl__podlog_format_ts(int64_t ns, char out[KL_PODLOG_TS_MAX])
{
    time_t sec = (time_t)(ns / 1000000000);
    long frac = (long)(ns % 1000000000);
    if (frac < 0) {
        frac += 1000000000;
        sec--;
    }
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(out, KL_PODLOG_TS_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
    int m = snprintf(out + n, KL_PODLOG_TS_MAX - n, ".%09ldZ", frac);
    return n + (m > 0 ? (size_t)m : 0);
}

static int digits(const char *s, size_t n, int *v)
{
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

int kl__podlog_parse_ts(const char *s, size_t len, int64_t *ns)
{
    int Y, M, D, h, m, sec;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return -1;
    if (digits(s, 4, &Y) || digits(s + 5, 2, &M) || digits(s + 8, 2, &D) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &m) || digits(s + 17, 2, &sec))
        return -1;
    size_t i = 19;
    int64_t frac = 0;
    if (s[i] == '.') {
        i++;
        int nd = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (nd < 9) {
                frac = frac * 10 + (s[i] - '0');
                nd++;
            }
            i++;
        }
        if (nd == 0)
            return -1;
        while (nd++ < 9)
            frac *= 10;
    }
    int64_t off = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 <= len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om))
            return -1;
        off = (int64_t)(oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return -1;
    }
    if (i != len || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = Y - 1900,
                    .tm_mon = M - 1,
                    .tm_mday = D,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    *ns = ((int64_t)t - off) * 1000000000 + frac;
    return 0;
}

/* ---- Files ------------------------------------------------------------------------------ */

char *kl__podlog_file(const char *dir, uint32_t n, const char *suffix)
{
    size_t len = strlen(dir) + strlen(suffix) + 24;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%u.log%s", dir, n, suffix);
    return p;
}

/* "<digits>.log" exactly. */
static bool instance_name(const char *name, uint32_t *n)
{
    const char *p = name;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > UINT32_MAX)
            return false;
        p++;
    }
    if (strcmp(p, ".log") != 0)
        return false;
    *n = (uint32_t)v;
    return true;
}

int kl__podlog_instances(const char *dir, uint32_t *latest, bool *has_prev, uint32_t *prev)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT || errno == ENOTDIR ? KL_ENOTFOUND : KL_EIO;
    bool any = false;
    *has_prev = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint32_t n;
        if (!instance_name(de->d_name, &n))
            continue;
        if (!any || n > *latest) {
            if (any) {
                *prev = *latest;
                *has_prev = true;
            }
            *latest = n;
            any = true;
        } else if (n != *latest && (!*has_prev || n > *prev)) {
            *prev = n;
            *has_prev = true;
        }
    }
    closedir(d);
    return any ? 0 : KL_ENOTFOUND;
}

bool kl__podlog_instance_done(const char *dir, uint32_t n)
{
    size_t len = strlen(dir) + 24;
    char *p = malloc(len);
    if (p == NULL)
        return false;
    snprintf(p, len, "%s/%u.done", dir, n);
    struct stat st;
    bool done = stat(p, &st) == 0;
    free(p);
    if (done)
        return true;
    uint32_t latest, prev;
    bool has_prev;
    int rc = kl__podlog_instances(dir, &latest, &has_prev, &prev);
    if (rc == KL_ENOTFOUND)
        return true;
    return rc == 0 && latest > n;
}

int kl__podlog_slurp(const char *path, kl_buf_t *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : KL_EIO;
    int rc = 0;
    for (;;) {
        char *dst = kl_buf_reserve(out, 65536, &rc);
        if (dst == NULL)
            break;
        ssize_t r = read(fd, dst, 65536);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = KL_EIO;
            break;
        }
        if (r == 0)
            break;
        kl_buf_commit(out, (size_t)r);
    }
    close(fd);
    return rc;
}

int kl__podlog_slurp_rotated(const char *dir, uint32_t n, kl_buf_t *out)
{
    /* Rotated files are <n>.log.1 (newest) .. <n>.log.K (oldest). */
    int k = 0;
    for (;;) {
        char sfx[16];
        snprintf(sfx, sizeof(sfx), ".%d", k + 1);
        char *p = kl__podlog_file(dir, n, sfx);
        if (p == NULL)
            return KL_ENOMEM;
        struct stat st;
        bool exists = stat(p, &st) == 0;
        free(p);
        if (!exists || k >= 64)
            break;
        k++;
    }
    for (int i = k; i >= 1; i--) {
        char sfx[16];
        snprintf(sfx, sizeof(sfx), ".%d", i);
        char *p = kl__podlog_file(dir, n, sfx);
        if (p == NULL)
            return KL_ENOMEM;
        int rc = kl__podlog_slurp(p, out);
        free(p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- Records ------------------------------------------------------------------------------ */

typedef struct record {
    const char *ts;
    size_t tslen;
    char tag; /* 'F' or 'P' */
    const char *msg;
    size_t msglen;
} record_t;

/* Splits "<ts> <stream> <tag> <msg>" (no newline). */
static int parse_record(const char *s, size_t len, record_t *r)
{
    const char *end = s + len;
    const char *sp1 = memchr(s, ' ', len);
    if (sp1 == NULL)
        return -1;
    const char *st = sp1 + 1;
    const char *sp2 = memchr(st, ' ', (size_t)(end - st));
    if (sp2 == NULL)
        return -1;
    size_t stlen = (size_t)(sp2 - st);
    if (!(stlen == 6 && (memcmp(st, "stdout", 6) == 0 || memcmp(st, "stderr", 6) == 0)))
        return -1;
    const char *tag = sp2 + 1;
    const char *sp3 = memchr(tag, ' ', (size_t)(end - tag));
    const char *tagend = sp3 ? sp3 : end;
    if (tagend == tag)
        return -1;
    r->ts = s;
    r->tslen = (size_t)(sp1 - s);
    r->tag = tag[0] == 'P' ? 'P' : 'F';
    r->msg = sp3 ? sp3 + 1 : end;
    r->msglen = (size_t)(end - r->msg);
    return 0;
}

void kl__podlog_decoder_init(kl_podlog_decoder_t *d, const kl_podlog_query_t *q)
{
    memset(d, 0, sizeof(*d));
    d->timestamps = q->timestamps;
    d->remaining = q->limit_bytes >= 0 ? q->limit_bytes : -1;
    int64_t since = 0;
    if (q->since_seconds >= 0)
        since = kl__podlog_now_ns() - q->since_seconds * 1000000000;
    if (q->since_time_ns > since)
        since = q->since_time_ns;
    d->since_ns = since;
}

/* Appends at most the remaining limit; false once the limit or the buffer is exhausted. */
static bool emit(kl_podlog_decoder_t *d, kl_buf_t *out, const char *p, size_t n)
{
    bool full = false;
    if (d->remaining >= 0 && (int64_t)n > d->remaining) {
        n = (size_t)d->remaining;
        full = true;
    }
    if (out->len + n > out->max) {
        n = out->max - out->len;
        full = true;
        d->remaining = 0;
    }
    if (n > 0 && kl_buf_append(out, p, n) < 0)
        return false;
    if (d->remaining >= 0)
        d->remaining -= (int64_t)n;
    return !full && d->remaining != 0;
}

size_t kl__podlog_decode(kl_podlog_decoder_t *d, const char *data, size_t len, kl_buf_t *out)
{
    size_t pos = 0;
    while (pos < len && d->remaining != 0 && (d->soft_max == 0 || out->len < d->soft_max)) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        if (nl == NULL)
            break;
        const char *line = data + pos;
        size_t linelen = (size_t)(nl - line);
        pos += linelen + 1;
        record_t r;
        if (parse_record(line, linelen, &r) < 0)
            continue;
        int64_t ts = 0;
        bool have_ts = kl__podlog_parse_ts(r.ts, r.tslen, &ts) == 0;
        if (d->since_ns && (!have_ts || ts < d->since_ns))
            continue;
        if (d->timestamps && !d->mid_line) {
            char buf[KL_PODLOG_TS_MAX + 1];
            size_t n;
            if (have_ts) {
                n = kl__podlog_format_ts(ts, buf);
            } else {
                n = r.tslen < KL_PODLOG_TS_MAX ? r.tslen : KL_PODLOG_TS_MAX;
                memcpy(buf, r.ts, n);
            }
            buf[n++] = ' ';
            if (!emit(d, out, buf, n))
                break;
        }
        d->mid_line = r.tag == 'P';
        if (!emit(d, out, r.msg, r.msglen))
            break;
        if (r.tag == 'F' && !emit(d, out, "\n", 1))
            break;
    }
    return pos;
}

static char tag_of(const char *line, size_t len)
{
    record_t r;
    return parse_record(line, len, &r) == 0 ? r.tag : 'F';
}

size_t kl__podlog_tail_start(const char *data, size_t len, int64_t n)
{
    if (n < 0)
        return 0;
    if (n == 0)
        return len;
    /* Walk the records backwards. A record starts a line when the record before it is "F" (or
     * it is the first one); count line starts until n of them. */
    int64_t lines = 0;
    size_t end = len; /* one past the '\n' of the current record */
    size_t next_start = len;
    while (end > 0) {
        size_t start = end - 1; /* at the '\n' */
        while (start > 0 && data[start - 1] != '\n')
            start--;
        char tag = tag_of(data + start, end - 1 - start);
        if (tag == 'F' && next_start < len) {
            if (++lines == n)
                return next_start;
        }
        next_start = start;
        end = start;
    }
    return 0;
}

/* ---- Reading -------------------------------------------------------------------------------- */

void kl_podlog_query_init(kl_podlog_query_t *q)
{
    memset(q, 0, sizeof(*q));
    q->tail_lines = -1;
    q->limit_bytes = -1;
    q->since_seconds = -1;
}

int kl_podlog_read(const char *data_dir, const kl_podlog_query_t *q, size_t max, char **data,
                   size_t *len, kl_errinfo_t *err)
{
    char *dir = kl_podlog_container_dir(data_dir, q->namespace, q->pod, q->uid, q->container);
    if (dir == NULL)
        return kl_err(err, KL_EINVAL, "bad names for a container log");
    kl_buf_t raw, out;
    kl_buf_init(&raw, SLURP_MAX);
    kl_buf_init(&out, max);
    uint32_t latest = 0, prev = 0;
    bool has_prev = false;
    int rc = kl__podlog_instances(dir, &latest, &has_prev, &prev);
    if (rc < 0 || (q->previous && !has_prev)) {
        rc = rc == KL_EIO ? kl_err(err, KL_EIO, "cannot read %s", dir)
                          : kl_err(err, KL_ENOTFOUND, "no %slog for container %s",
                                   q->previous ? "previous " : "", q->container);
        goto out;
    }
    uint32_t n = q->previous ? prev : latest;
    char *live = kl__podlog_file(dir, n, "");
    rc = live ? kl__podlog_slurp_rotated(dir, n, &raw) : KL_ENOMEM;
    if (rc == 0)
        rc = kl__podlog_slurp(live, &raw);
    free(live);
    if (rc < 0) {
        kl_err(err, rc, "reading the log of container %s: %s", q->container, kl_strerror(rc));
        goto out;
    }
    /* Only complete records: the writer may be in the middle of one. */
    size_t complete = raw.len;
    while (complete > 0 && raw.data[complete - 1] != '\n')
        complete--;
    size_t start = kl__podlog_tail_start(raw.data, complete, q->tail_lines);
    kl_podlog_decoder_t d;
    kl__podlog_decoder_init(&d, q);
    kl__podlog_decode(&d, raw.data + start, complete - start, &out);
    *data = kl_buf_take(&out, len);
    if (*data == NULL)
        rc = kl_err(err, KL_ENOMEM, "out of memory");
out:
    kl_buf_cleanup(&raw);
    kl_buf_cleanup(&out);
    free(dir);
    return rc;
}

int kl_podlog_provider(const struct kl_log_request *r, char **data, size_t *len, void *ud)
{
    kl_podlog_query_t q;
    kl_podlog_query_init(&q);
    q.namespace = r->namespace;
    q.pod = r->pod;
    q.uid = r->uid;
    q.container = r->container;
    q.previous = r->previous != 0;
    q.tail_lines = r->tail_lines;
    q.limit_bytes = r->limit_bytes;
    q.since_seconds = r->since_seconds;
    q.timestamps = r->timestamps != 0;
    return kl_podlog_read(ud, &q, 0, data, len, NULL);
}
