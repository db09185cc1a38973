/* kubelua/metrics.h - counters, gauges and histograms rendered in the Prometheus text exposition
 * format (version 0.0.4). Uses buf.h.
 *
 * Metrics are plain values embedded in the struct of the module that updates them (a queue, the
 * HTTP client, ...); there is no global registry. The owner updates them on its own thread and,
 * when the metrics endpoint asks, renders them into a kl_buf_t with the functions below, which
 * read them on that same thread. Nothing here is thread-safe.
 *
 * A histogram owns its bucket arrays: kl_histogram_init*() allocates them and
 * kl_histogram_cleanup() frees them. Counters and gauges allocate nothing.
 *
 * Rendering: a metric family is one "# HELP" and "# TYPE" header (kl_metrics_write_header())
 * followed by one or more samples that differ by their labels (kl_metrics_write_sample(),
 * kl_metrics_write_histogram()). The kl_metrics_render_*() helpers write a header and the
 * samples of one metric in one call. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* and not start with "__"; label values and help text are escaped as the
 * format requires. Every write function returns 0, KL_EINVAL for a bad name or KL_ETOOBIG /
 * KL_ENOMEM from the buffer; on failure the buffer is left as it was before the call.
 *
 * Example output of kl_metrics_render_histogram("workqueue_queue_duration_seconds", ...):
 *     # HELP workqueue_queue_duration_seconds How long a key waits in the queue.
 *     # TYPE workqueue_queue_duration_seconds histogram
 *     workqueue_queue_duration_seconds_bucket{name="job",le="1e-08"} 0
 *     ...
 *     workqueue_queue_duration_seconds_bucket{name="job",le="+Inf"} 3
 *     workqueue_queue_duration_seconds_sum{name="job"} 0.0042
 *     workqueue_queue_duration_seconds_count{name="job"} 3
 */
#ifndef KUBELUA_METRICS_H
#define KUBELUA_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"

/* A monotonically increasing value (events, bytes, seconds spent). */
typedef struct kl_counter {
    double value;
} kl_counter_t;

static inline void kl_counter_inc(kl_counter_t *c)
{
    c->value += 1.0;
}

/* Negative and NaN amounts are ignored: a counter never goes down. */
static inline void kl_counter_add(kl_counter_t *c, double v)
{
    if (v > 0)
        c->value += v;
}

/* A value that goes up and down (queue depth, connections). */
typedef struct kl_gauge {
    double value;
} kl_gauge_t;

static inline void kl_gauge_set(kl_gauge_t *g, double v)
{
    g->value = v;
}

static inline void kl_gauge_add(kl_gauge_t *g, double v)
{
    g->value += v;
}

/* Bucketed observations. bounds holds nbounds strictly increasing finite upper bounds; the +Inf
 * bucket is implicit. counts holds per-bucket (not cumulative) counts, nbounds + 1 of them, the
 * last one for +Inf. An observation v lands in the first bucket with v <= bound. */
typedef struct kl_histogram {
    double *bounds;
    uint64_t *counts;
    size_t nbounds;
    uint64_t count; /* observations in total */
    double sum;     /* sum of the observed values */
} kl_histogram_t;

/* client-go's workqueue buckets: 1e-8 s to 10 s, factor 10 (10 bounds). */
#define KL_METRICS_QUEUE_BUCKETS_START 1e-8
#define KL_METRICS_QUEUE_BUCKETS_FACTOR 10.0
#define KL_METRICS_QUEUE_BUCKETS_COUNT 10

/* Copies bounds (n may be 0: a histogram with only the +Inf bucket). KL_EINVAL when the bounds
 * are not finite and strictly increasing, KL_ENOMEM. On error h is left empty (cleanup is a
 * no-op). */
KL_NODISCARD int kl_histogram_init(kl_histogram_t *h, const double *bounds, size_t n);
/* Bounds start, start*factor, ..., start*factor^(n-1), each rounded to 15 significant digits so
 * that 1e-8 * 10^3 renders as 1e-05. KL_EINVAL unless start > 0, factor > 1 and n >= 1. */
KL_NODISCARD int kl_histogram_init_exponential(kl_histogram_t *h, double start, double factor,
                                               size_t n);
/* Frees the buckets; NULL-safe and idempotent. */
void kl_histogram_cleanup(kl_histogram_t *h);
/* Records one value. NaN counts in the +Inf bucket and makes the sum NaN, as in Prometheus. */
void kl_histogram_observe(kl_histogram_t *h, double v);
/* Cumulative count of observations <= bounds[i]; i == nbounds gives the +Inf bucket (= count). */
uint64_t kl_histogram_cumulative(const kl_histogram_t *h, size_t i);

typedef struct kl_label {
    const char *name;
    const char *value;
} kl_label_t;

typedef enum kl_metric_type {
    KL_METRIC_COUNTER,
    KL_METRIC_GAUGE,
    KL_METRIC_HISTOGRAM,
} kl_metric_type_t;

/* Writes "# HELP name help" (help may be NULL to omit the line) and "# TYPE name type". */
KL_NODISCARD int kl_metrics_write_header(kl_buf_t *b, const char *name, const char *help,
                                         kl_metric_type_t type);
/* Writes one sample line: name{labels} value. */
KL_NODISCARD int kl_metrics_write_sample(kl_buf_t *b, const char *name, const kl_label_t *labels,
                                         size_t nlabels, double value);
/* Writes the _bucket (cumulative, with an "le" label after the given labels), _sum and _count
 * lines of one histogram. "le" must not be among the given labels. */
KL_NODISCARD int kl_metrics_write_histogram(kl_buf_t *b, const char *name, const kl_label_t *labels,
                                            size_t nlabels, const kl_histogram_t *h);

/* Header plus one sample, for a metric family with a single series. */
KL_NODISCARD int kl_metrics_render_counter(kl_buf_t *b, const char *name, const char *help,
                                           const kl_label_t *labels, size_t nlabels, double value);
KL_NODISCARD int kl_metrics_render_gauge(kl_buf_t *b, const char *name, const char *help,
                                         const kl_label_t *labels, size_t nlabels, double value);
KL_NODISCARD int kl_metrics_render_histogram(kl_buf_t *b, const char *name, const char *help,
                                             const kl_label_t *labels, size_t nlabels,
                                             const kl_histogram_t *h);

/* Formats a sample value as the exposition format wants it: "+Inf", "-Inf", "NaN", or the
 * shortest decimal that reads back as v ("%g" style: 1e-08, 0.25, 42). out needs 32 bytes. */
void kl_metrics_format_value(double v, char out[32]);

#endif
