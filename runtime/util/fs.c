#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kubelua/fsutil.h"

int kl_file_read(const char *path, size_t max, char **out, size_t *len, kl_errinfo_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kl_err(err, errno == ENOENT ? KL_ENOTFOUND : KL_EIO, "%s: %s", path,
                      strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return kl_err(err, KL_EIO, "%s: %s", path, strerror(e));
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size : 4096;
    if (cap > max)
        cap = max;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        return kl_err(err, KL_ENOMEM, "%s: out of memory", path);
    }
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                char probe;
                ssize_t r = read(fd, &probe, 1);
                if (r > 0) {
                    free(buf);
                    close(fd);
                    return kl_err(err, KL_ETOOBIG, "%s: larger than %zu bytes", path, max);
                }
                break;
            }
            size_t ncap = cap * 2 > max ? max : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (nb == NULL) {
                free(buf);
                close(fd);
                return kl_err(err, KL_ENOMEM, "%s: out of memory", path);
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            return kl_err(err, KL_EIO, "%s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

int kl_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         kl_errinfo_t *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (tmp == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    snprintf(tmp, plen + 16, "%s.tmp%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return kl_err(err, KL_EIO, "%s: %s", path, strerror(e));
    }
    fchmod(fd, mode);
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            free(tmp);
            return kl_err(err, KL_EIO, "%s: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return kl_err(err, KL_EIO, "%s: %s", path, strerror(e));
    }
    free(tmp);
    return 0;
}

int kl_mkdir_p(const char *path, mode_t mode, kl_errinfo_t *err)
{
    char *p = strdup(path);
    if (p == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, mode) < 0 && errno != EEXIST) {
                int e = errno;
                int rc = kl_err(err, KL_EIO, "mkdir %s: %s", p, strerror(e));
                free(p);
                return rc;
            }
            *s = c;
            if (c == '\0')
                break;
        }
    }
    free(p);
    return 0;
}

char *kl_path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *r = malloc(la + lb + 2);
    if (r == NULL)
        return NULL;
    memcpy(r, a, la);
    size_t o = la;
    if (la && a[la - 1] != '/')
        r[o++] = '/';
    memcpy(r + o, b, lb + 1);
    return r;
}
