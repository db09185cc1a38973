/* kubelua/queue.h - the controller work queue: client-go workqueue semantics on a libuv loop.
 * Uses libuv (one uv_timer_t and one uv_idle_t per queue), strmap.h, metrics.h.
 *
 * Loop thread only: every function must be called on the thread that runs the queue's loop, and
 * the queue takes no locks. Keys are NUL-terminated strings ("ns/name"); the queue copies them.
 *
 * Semantics (as client-go's rate-limiting, delaying work queue):
 *   - A key is queued at most once: adding a key that is already waiting to be handed out does
 *     nothing (dedup). Ready keys are handed out in FIFO order of their (first) add.
 *   - A key handed out by kl_queue_get() is "processing" until kl_queue_done(). It is never handed
 *     out again meanwhile; if it is added again while processing it is marked dirty and queued
 *     again (at the tail) by kl_queue_done(). So one key is never reconciled twice at once.
 *   - kl_queue_add_after() parks the key in a delay heap (one uv_timer for the whole queue).
 *     A key already parked keeps the earlier of its two ready times. Parking is independent of
 *     the states above: when the time comes the key is simply added (and deduplicated then).
 *   - kl_queue_add_rate_limited() = add_after(key, max(per-key backoff, token-bucket delay)):
 *     the per-key backoff is base_delay * 2^failures capped at max_delay, and each call counts
 *     one more failure for the key; the token bucket (qps, burst) is shared by all keys and only
 *     rate-limited adds draw from it. kl_queue_forget() resets the key's failures (call it after a
 *     successful reconcile); kl_queue_num_requeues() reads them. A key's failure count lives
 *     until forget, even while the key is not queued.
 *
 * Consumer model (reconciles are coroutines on the loop thread, nothing blocks): kl_queue_get()
 * never waits. The ready callback tells the consumer that keys became ready; it is called from
 * the loop (a uv_idle turn), never from inside add/get/done, at most once per loop iteration, and
 * only when at least one key is ready at that moment. In it, call kl_queue_get() until KL_EAGAIN
 * or until you run out of workers. The callback is not repeated for keys left waiting, so when a
 * worker frees up (after kl_queue_done()), call kl_queue_get() again yourself.
 *
 * Shut down (kl_queue_shut_down()): from then on adds of every kind return KL_ECLOSED and do
 * nothing, delayed (parked) keys are dropped and the timer stops; kl_queue_done() keeps working.
 *   - drain = false ("stop now", client-go ShutDown): keys waiting to be handed out are dropped,
 *     as are dirty marks on keys in flight; kl_queue_get() returns KL_ECLOSED at once. Keys in
 *     flight may still be passed to kl_queue_done() (they are not requeued).
 *   - drain = true (client-go ShutDownWithDrain): keys already queued are still handed out by
 *     kl_queue_get(), keys in flight finish, and a key re-added before the shutdown while in
 *     flight is queued again by its done(), as usual. kl_queue_get() returns KL_EAGAIN while keys
 *     are in flight but none is ready, and KL_ECLOSED once drained.
 *   The queue is "drained" when it is shut down and no key is queued or in flight
 *   (kl_queue_drained()). The drained callback is then called once, from the loop, as the ready
 *   callback is. Calling kl_queue_shut_down(q, false) after kl_queue_shut_down(q, true) turns a
 *   drain into a stop (drops what is still queued); the reverse does nothing.
 *
 * Lifetime: kl_queue_free() may be called at any time, also from inside a callback. It frees
 * every key at once (pointers from kl_queue_get() become invalid), no callback is called after
 * it, and it closes the two uv handles; the queue struct itself is released in their close
 * callbacks, so the caller must run the loop afterwards (uv_run) before uv_loop_close().
 * While delayed keys wait, the queue's timer keeps the loop alive.
 *
 * Time: a monotonic nanosecond clock, uv_hrtime() unless opts.clock is set. Tests inject a clock
 * they advance by hand: kl_queue_get() first moves every parked key whose time has come into the
 * ready FIFO, so a fake clock needs no timer to fire.
 */
#ifndef KUBELUA_QUEUE_H
#define KUBELUA_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"
#include "kubelua/metrics.h"

typedef struct kl_queue kl_queue_t; /* opaque */

/* Ready and drained notifications. data is opts.cb_data. */
typedef void (*kl_queue_cb)(kl_queue_t *q, void *data);
/* Monotonic clock in nanoseconds. */
typedef uint64_t (*kl_queue_clock_fn)(void *data);

/* Start from kl_queue_opts_init(): the fields are taken literally (qps 0 disables the bucket,
 * base_delay 0 disables the per-key backoff). Durations are in seconds. */
typedef struct kl_queue_opts {
    const char *name;       /* copied; the "name" label of the metrics; NULL means "" */
    double base_delay;      /* per-key backoff base; default 0.005 */
    double max_delay;       /* per-key backoff cap; default 1000 */
    double qps;             /* token bucket refill rate; default 10; 0 disables the bucket */
    double burst;           /* token bucket size, >= 1 when qps > 0; default 100 */
    kl_queue_cb ready_cb;   /* may be NULL; see kl_queue_set_callbacks() */
    kl_queue_cb drained_cb; /* may be NULL */
    void *cb_data;
    kl_queue_clock_fn clock; /* NULL: uv_hrtime() */
    void *clock_data;
    const double *buckets; /* histogram bounds (seconds) for latency and work duration; copied; */
    size_t nbuckets;       /* NULL: client-go's 1e-8 .. 10 s, factor 10 */
} kl_queue_opts_t;

/* Snapshot of the queue's metrics (client-go workqueue metric names in brackets). */
typedef struct kl_queue_stats {
    size_t depth;      /* keys waiting to be handed out, incl. dirty keys in flight [depth] */
    size_t ready;      /* keys in the ready FIFO (kl_queue_len()) */
    size_t delayed;    /* keys parked by add_after / add_rate_limited */
    size_t processing; /* keys handed out and not yet done */
    uint64_t adds;     /* adds that queued a key (duplicates not counted) [adds_total] */
    uint64_t retries;  /* kl_queue_add_rate_limited() calls [retries_total] */
    double unfinished; /* seconds of work in flight [unfinished_work_seconds] */
    double longest;    /* age of the oldest key in flight, seconds
                          [longest_running_processor_seconds] */
    const kl_histogram_t *latency; /* add -> get, seconds [queue_duration_seconds] */
    const kl_histogram_t *work;    /* get -> done, seconds [work_duration_seconds] */
} kl_queue_stats_t; /* histograms borrowed from the queue: valid until kl_queue_free() */

/* Fills the defaults listed above (everything else zero/NULL). */
void kl_queue_opts_init(kl_queue_opts_t *opts);

/* Creates a queue on loop; opts may be NULL for the defaults. *out is owned by the caller,
 * release it with kl_queue_free(). Returns 0, KL_EINVAL (negative durations, qps > 0 with
 * burst < 1, bad buckets) or KL_ENOMEM; on error *out is untouched. */
KL_NODISCARD int kl_queue_new(uv_loop_t *loop, const kl_queue_opts_t *opts, kl_queue_t **out);
/* Frees the keys now and the queue once its handles are closed (run the loop). NULL is a no-op.
 */
void kl_queue_free(kl_queue_t *q);
/* Replaces the callbacks given in the options. */
void kl_queue_set_callbacks(kl_queue_t *q, kl_queue_cb ready_cb, kl_queue_cb drained_cb,
                            void *data);

/* Adds return 0, KL_ECLOSED after shut down (nothing done), KL_EINVAL for a NULL key, or
 * KL_ENOMEM (nothing done). Callers that cannot act on an error may ignore it. */
int kl_queue_add(kl_queue_t *q, const char *key);
/* seconds <= 0 (or NaN) adds now; delays are capped at 1e9 s. */
int kl_queue_add_after(kl_queue_t *q, const char *key, double seconds);
/* Stores the delay chosen (seconds) in *delay when not NULL. */
int kl_queue_add_rate_limited(kl_queue_t *q, const char *key, double *delay);
void kl_queue_forget(kl_queue_t *q, const char *key);
/* Failures counted for key since its last forget (0 for unknown keys). */
int kl_queue_num_requeues(const kl_queue_t *q, const char *key);

/* Hands out the oldest ready key: returns 0 and sets *key (owned by the queue, valid until
 * kl_queue_done() for it or kl_queue_free()), KL_EAGAIN when no key is ready, KL_ECLOSED once
 * shut down (without drain) or drained. */
int kl_queue_get(kl_queue_t *q, const char **key);
/* Ends processing of key (the pointer from get or any equal string). Returns 0, or KL_ENOTFOUND
 * when key is not in flight (then nothing happens). Requeues the key if it was re-added. */
int kl_queue_done(kl_queue_t *q, const char *key);

void kl_queue_shut_down(kl_queue_t *q, bool drain);
bool kl_queue_shutting_down(const kl_queue_t *q);
/* True once shut down with no key queued or in flight. */
bool kl_queue_drained(const kl_queue_t *q);

/* Keys ready to be handed out now (parked keys whose time has passed are not counted until the
 * timer or a get moves them). */
size_t kl_queue_len(const kl_queue_t *q);
const char *kl_queue_name(const kl_queue_t *q);
void kl_queue_stats(const kl_queue_t *q, kl_queue_stats_t *st);

/* Renders the client-go workqueue metric families (workqueue_depth, workqueue_adds_total,
 * workqueue_queue_duration_seconds, workqueue_work_duration_seconds,
 * workqueue_unfinished_work_seconds, workqueue_longest_running_processor_seconds,
 * workqueue_retries_total) for n queues, one series per queue labelled name="<queue name>".
 * Returns 0 or an error from metrics.h (the buffer is then left as it was). */
KL_NODISCARD int kl_queue_render_metrics(kl_buf_t *b, const kl_queue_t *const *queues, size_t n);

#endif
