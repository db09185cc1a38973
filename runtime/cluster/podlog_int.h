/* cluster/podlog_int.h - pieces shared by the log writer (podlog_write.c), reader (podlog.c) and
 * follower (podlog_follow.c). Pure functions unless noted. */
#ifndef KL_CLUSTER_PODLOG_INT_H
#define KL_CLUSTER_PODLOG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/buf.h"
#include "kubelua/podlog.h"

/* Room for "2026-11-25T12:00:00.123456789Z" and a NUL. */
#define KL_PODLOG_TS_MAX 40

int64_t kl__podlog_now_ns(void);
/* Writes the RFC 3339 UTC time with 9 fraction digits; returns its length. */
size_t kl__podlog_format_ts(int64_t ns, char out[KL_PODLOG_TS_MAX]);
/* Parses an RFC 3339 time (any fraction length, Z or +hh:mm); returns 0 or -1. */
int kl__podlog_parse_ts(const char *s, size_t len, int64_t *ns);

/* Finds the instances in a container's log directory: the latest and, when there is one, the
 * one before it. Returns 0, KL_ENOTFOUND (none) or KL_EIO. */
int kl__podlog_instances(const char *dir, uint32_t *latest, bool *has_prev, uint32_t *prev);
/* Path of "<dir>/<n>.log" plus suffix ("" or ".1"...), malloc'ed, or NULL. */
char *kl__podlog_file(const char *dir, uint32_t n, const char *suffix);
/* Whether instance n has ended: its .done marker, or a newer instance, or no directory. */
bool kl__podlog_instance_done(const char *dir, uint32_t n);
/* Appends the whole file to out (missing file: nothing). Returns 0, KL_ETOOBIG or KL_EIO. */
int kl__podlog_slurp(const char *path, kl_buf_t *out);
/* Appends every rotated file of instance n, oldest first, to out. */
int kl__podlog_slurp_rotated(const char *dir, uint32_t n, kl_buf_t *out);

/* Turns CRI records into kubectl's output. */
typedef struct kl_podlog_decoder {
    bool timestamps;
    int64_t since_ns;  /* skip records older than this; 0: none */
    int64_t remaining; /* output bytes still allowed; -1: no limit */
    bool mid_line;     /* the last record written was a "P" chunk */
    size_t soft_max;   /* stop before a record once out holds this much; 0: no stop */
} kl_podlog_decoder_t;

void kl__podlog_decoder_init(kl_podlog_decoder_t *d, const kl_podlog_query_t *q);
/* Decodes the complete records (each ending with '\n') at the start of data and appends the
 * output to out; returns the bytes consumed (up to and including the last '\n'). Malformed
 * records are skipped, as kubelet does. Stops early when the limit is reached or out is full. */
size_t kl__podlog_decode(kl_podlog_decoder_t *d, const char *data, size_t len, kl_buf_t *out);
/* Offset of the first record of the last n lines of data (complete records): "F" ends a line,
 * a trailing run of "P" chunks counts as one line. n < 0: 0; n == 0: len. */
size_t kl__podlog_tail_start(const char *data, size_t len, int64_t n);

#endif
