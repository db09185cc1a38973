/* kubelua/podlog.h - container logs of the embedded cluster: writing them in the CRI format,
 * reading them for pods/log (kubectl logs), and following them as they grow (kubectl logs -f).
 *
 * Layout, one directory per container under the pod's directory:
 *   DATA_DIR/pods/<namespace>_<pod>_<uid>/logs/<container>/
 *     <n>.log      the log of instance n (n = the container's restart count when it ran)
 *     <n>.log.1    rotated older part of it (.2, ... with more files kept)
 *     <n>.done     exists once instance n has ended and its log is complete
 * Only the latest instance and the one before it are kept (for --previous). Each line is a CRI
 * record as containerd writes them, which kubelet parses:
 *   2026-11-25T12:00:00.123456789Z stdout F hello
 * "F" ends a line; "P" is a chunk of a line longer than 16 KiB (or unterminated when more
 * output was still to come); an unterminated last line is written as "F" when the stream ends.
 * Readers join the chunks and print only the message, with a timestamp prefix when asked:
 * exactly what kubelet serves for kubectl logs.
 *
 * Threads: the writer on one thread (the node agent's loop); readers on any thread (they only
 * read files: the API server calls kl_podlog_provider on its own thread); a follower on the loop
 * it was started on. Nothing is shared in memory: files are the interface.
 */
#ifndef KUBELUA_PODLOG_H
#define KUBELUA_PODLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kubelua/error.h"

/* Longest record message; longer lines are split into "P" chunks (containerd's default). */
#define KL_PODLOG_MAX_LINE ((size_t)16 << 10)

/* DATA_DIR/pods/<namespace>_<pod>_<uid> and .../logs/<container> as malloc'ed strings (free()),
 * or NULL when a name is empty, ".", "..", contains '/', or memory runs out. */
char *kl_podlog_pod_dir(const char *data_dir, const char *namespace, const char *pod,
                        const char *uid);
char *kl_podlog_container_dir(const char *data_dir, const char *namespace, const char *pod,
                              const char *uid, const char *container);

/* ---- Writing ------------------------------------------------------------------------------ */

typedef enum kl_podlog_stream {
    KL_PODLOG_STDOUT = 0,
    KL_PODLOG_STDERR = 1,
} kl_podlog_stream_t;

typedef struct kl_podlog_writer kl_podlog_writer_t;

/* Opens the log of one container instance for writing: creates the directory, truncates
 * <instance>.log, deletes logs of instances older than instance - 1 and marks every older
 * instance done. max_bytes is the size at which the file rotates (0: 10 MiB); max_files the
 * number of files kept, the live one included (0: 2; 1 drops the old content on rotation), so
 * an instance never holds much more than max_bytes * max_files. *out is owned by the caller. */
KL_NODISCARD int kl_podlog_writer_open(const char *dir, uint32_t instance, size_t max_bytes,
                                       unsigned max_files, kl_podlog_writer_t **out,
                                       kl_errinfo_t *err);
/* Appends output of one stream: complete lines become "F" records, a line reaching 16 KiB
 * becomes "P" chunks, an unterminated tail waits for more output (or kl_podlog_writer_end).
 * All records of one call share one timestamp (now). Returns 0 or KL_EIO (the records are lost
 * but the writer stays usable, and a warning is logged once): callers may ignore it. */
int kl_podlog_writer_write(kl_podlog_writer_t *w, kl_podlog_stream_t stream, const char *data,
                           size_t len);
/* The stream ended: writes its unterminated tail as an "F" record. */
int kl_podlog_writer_end(kl_podlog_writer_t *w, kl_podlog_stream_t stream);
/* Path of the live file (valid while w is open). */
const char *kl_podlog_writer_path(const kl_podlog_writer_t *w);
/* Ends both streams, closes the file, creates <instance>.done when done is true, frees w.
 * NULL is a no-op. */
void kl_podlog_writer_close(kl_podlog_writer_t *w, bool done);

/* ---- Reading ------------------------------------------------------------------------------ */

/* What to read, as pods/log's query says it. */
typedef struct kl_podlog_query {
    const char *namespace, *pod, *uid, *container;
    bool previous;         /* the instance before the latest one */
    int64_t tail_lines;    /* last N lines; -1: all */
    int64_t limit_bytes;   /* at most N bytes of output; -1: no limit */
    int64_t since_seconds; /* only records newer than now - N s; -1: none */
    int64_t since_time_ns; /* only records at or after this unix time (ns); 0: none */
    bool timestamps;       /* prefix each line with its RFC 3339 time (9 digits, UTC) */
} kl_podlog_query_t;

/* Sets q to "everything" (all -1 / false / NULL). */
void kl_podlog_query_init(kl_podlog_query_t *q);

/* Reads the log of one container as kubectl expects it into a malloc'ed buffer (*data, free();
 * NUL-terminated, *len without the NUL; "" when empty). max bounds the output (0: 64 MiB;
 * longer output is cut there). Fails with KL_ENOTFOUND when there is no such instance (no log
 * yet, or no previous instance), KL_EINVAL for bad names, KL_EIO. */
KL_NODISCARD int kl_podlog_read(const char *data_dir, const kl_podlog_query_t *q, size_t max,
                                char **data, size_t *len, kl_errinfo_t *err);

/* The API server's pods/log provider (kl_apiserver_log_fn in apiserver/apiserver.h, declared
 * with the struct tag so this header needs no API server header): ud is the data directory
 * (const char *, outliving the server). Runs on the server's thread. */
struct kl_log_request;
int kl_podlog_provider(const struct kl_log_request *r, char **data, size_t *len, void *ud);

/* ---- Following (kubectl logs -f) ---------------------------------------------------------
 *
 * A follower delivers the log as the query selects it (tail, since, timestamps), then every
 * line appended later, one chunk at a time: after on_data the follower waits until
 * kl_podlog_follow_resume() says the chunk has been sent (h2o's proceed), so a slow client
 * slows the follower, not memory. It notices new output through inotify on the log directory
 * (uv_fs_event) with a 1 s polling fallback, follows rotation, and ends (on_end with 0) once the
 * instance is done (its <n>.done marker, or a newer instance exists, or the pod's directory was
 * removed) and everything has been delivered, or when limit_bytes has been delivered. Errors
 * end it with a negative code. Callbacks never run inside kl_podlog_follow_* calls.
 */

typedef struct kl_podlog_follow kl_podlog_follow_t;

/* data is valid until kl_podlog_follow_resume() or kl_podlog_follow_free(); len > 0. */
typedef void (*kl_podlog_data_cb)(kl_podlog_follow_t *f, const char *data, size_t len, void *ud);
/* The stream is over: rc 0 (complete) or negative. Called at most once; no data follows. */
typedef void (*kl_podlog_end_cb)(kl_podlog_follow_t *f, int rc, void *ud);

/* Starts following on loop. Fails synchronously, without callbacks, with KL_ENOTFOUND (no such
 * instance: answer as the non-follow read would), KL_EINVAL, KL_EIO or KL_ENOMEM. On success *out
 * is owned by the caller (kl_podlog_follow_free). */
KL_NODISCARD int kl_podlog_follow_start(uv_loop_t *loop, const char *data_dir,
                                        const kl_podlog_query_t *q, kl_podlog_data_cb on_data,
                                        kl_podlog_end_cb on_end, void *ud, kl_podlog_follow_t **out,
                                        kl_errinfo_t *err);
/* The last chunk has been consumed: more may be delivered. */
void kl_podlog_follow_resume(kl_podlog_follow_t *f);
/* Stops and releases (also from inside its callbacks); handles close asynchronously, so keep the
 * loop running. NULL is a no-op. */
void kl_podlog_follow_free(kl_podlog_follow_t *f);

#endif
