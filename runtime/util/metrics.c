#include "kubelua/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kl_histogram_init(kl_histogram_t *h, const double *bounds, size_t n)
{
    memset(h, 0, sizeof(*h));
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return KL_EINVAL;
    }
    if (n > (SIZE_MAX / sizeof(uint64_t)) - 1)
        return KL_EINVAL;
    h->counts = calloc(n + 1, sizeof(uint64_t));
    if (h->counts == NULL)
        return KL_ENOMEM;
    if (n) {
        h->bounds = malloc(n * sizeof(double));
        if (h->bounds == NULL) {
            kl_histogram_cleanup(h);
            return KL_ENOMEM;
        }
        memcpy(h->bounds, bounds, n * sizeof(double));
    }
    h->nbounds = n;
    return 0;
}

int kl_histogram_init_exponential(kl_histogram_t *h, double start, double factor, size_t n)
{
    memset(h, 0, sizeof(*h));
    if (!(start > 0) || !(factor > 1) || n == 0 || n > SIZE_MAX / sizeof(double) - 1)
        return KL_EINVAL;
    double *bounds = malloc(n * sizeof(double));
    if (bounds == NULL)
        return KL_ENOMEM;
    /* Repeated multiplication drifts by a few ulps; rounding to 15 digits removes the drift.
     * (No pow(): kl_util does not link libm.) */
    double v = start;
    for (size_t i = 0; i < n; i++, v *= factor) {
        char tmp[64];
        snprintf(tmp, sizeof(tmp), "%.15g", v);
        bounds[i] = strtod(tmp, NULL);
    }
    int rc = kl_histogram_init(h, bounds, n);
    free(bounds);
    return rc;
}

void kl_histogram_cleanup(kl_histogram_t *h)
{
    if (h == NULL)
        return;
    free(h->bounds);
    free(h->counts);
    memset(h, 0, sizeof(*h));
}

void kl_histogram_observe(kl_histogram_t *h, double v)
{
    /* First bound >= v by binary search; NaN compares false everywhere and lands in +Inf. */
    size_t lo = 0, hi = h->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= h->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    if (isnan(v))
        lo = h->nbounds;
    h->counts[lo]++;
    h->count++;
    h->sum += v;
}

uint64_t kl_histogram_cumulative(const kl_histogram_t *h, size_t i)
{
    uint64_t c = 0;
    if (i > h->nbounds)
        i = h->nbounds;
    for (size_t j = 0; j <= i; j++)
        c += h->counts[j];
    return c;
}

void kl_metrics_format_value(double v, char out[32])
{
    if (isnan(v)) {
        strcpy(out, "NaN");
        return;
    }
    if (isinf(v)) {
        strcpy(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static bool valid_name(const char *s, bool colon)
{
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool valid_labels(const kl_label_t *labels, size_t n, bool histogram)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = labels[i].name;
        if (!valid_name(name, false) || strncmp(name, "__", 2) == 0 || labels[i].value == NULL)
            return false;
        if (histogram && strcmp(name, "le") == 0)
            return false;
    }
    return true;
}

/* Appends s, escaping backslash and newline, and double quotes when quoted is set. */
static int put_escaped(kl_buf_t *b, const char *s, bool quoted)
{
    int rc = 0;
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *esc = NULL;
        if (*p == '\\')
            esc = "\\\\";
        else if (*p == '\n')
            esc = "\\n";
        else if (*p == '"' && quoted)
            esc = "\\\"";
        else if (*p != '\0')
            continue;
        if ((rc = kl_buf_append(b, run, (size_t)(p - run))) < 0)
            return rc;
        if (esc == NULL)
            return 0;
        if ((rc = kl_buf_puts(b, esc)) < 0)
            return rc;
        run = p + 1;
    }
}

/* Writes {a="x",b="y",le="..."} (le when not NULL), or nothing when there are no labels. */
static int put_labels(kl_buf_t *b, const kl_label_t *labels, size_t n, const char *le)
{
    int rc = 0;
    if (n == 0 && le == NULL)
        return 0;
    if ((rc = kl_buf_putc(b, '{')) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = kl_buf_printf(b, "%s%s=\"", i ? "," : "", labels[i].name)) < 0 ||
            (rc = put_escaped(b, labels[i].value, true)) < 0 || (rc = kl_buf_putc(b, '"')) < 0)
            return rc;
    }
    if (le && (rc = kl_buf_printf(b, "%sle=\"%s\"", n ? "," : "", le)) < 0)
        return rc;
    return kl_buf_putc(b, '}');
}

static int put_header(kl_buf_t *b, const char *name, const char *help, kl_metric_type_t type)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    int rc = 0;
    if (help) {
        if ((rc = kl_buf_printf(b, "# HELP %s ", name)) < 0 ||
            (rc = put_escaped(b, help, false)) < 0 || (rc = kl_buf_putc(b, '\n')) < 0)
            return rc;
    }
    return kl_buf_printf(b, "# TYPE %s %s\n", name, types[type]);
}

static int put_sample(kl_buf_t *b, const char *name, const char *suffix, const kl_label_t *labels,
                      size_t n, const char *le, const char *value)
{
    int rc = 0;
    if ((rc = kl_buf_printf(b, "%s%s", name, suffix)) < 0 ||
        (rc = put_labels(b, labels, n, le)) < 0)
        return rc;
    return kl_buf_printf(b, " %s\n", value);
}

static int put_histogram(kl_buf_t *b, const char *name, const kl_label_t *labels, size_t n,
                         const kl_histogram_t *h)
{
    int rc = 0;
    char le[32], val[32];
    uint64_t cum = 0;
    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += h->counts[i];
        if (i < h->nbounds)
            kl_metrics_format_value(h->bounds[i], le);
        else
            strcpy(le, "+Inf");
        snprintf(val, sizeof(val), "%" PRIu64, cum);
        if ((rc = put_sample(b, name, "_bucket", labels, n, le, val)) < 0)
            return rc;
    }
    kl_metrics_format_value(h->sum, val);
    if ((rc = put_sample(b, name, "_sum", labels, n, NULL, val)) < 0)
        return rc;
    snprintf(val, sizeof(val), "%" PRIu64, h->count);
    return put_sample(b, name, "_count", labels, n, NULL, val);
}

/* Every public writer validates first, then writes, and on a buffer error truncates back to the
 * length it found, so a failed render never leaves half a line behind. */
static int finish(kl_buf_t *b, size_t mark, int rc)
{
    if (rc < 0 && b->data) {
        b->len = mark;
        b->data[mark] = '\0';
    }
    return rc;
}

int kl_metrics_write_header(kl_buf_t *b, const char *name, const char *help, kl_metric_type_t type)
{
    if (!valid_name(name, true) || (unsigned)type > KL_METRIC_HISTOGRAM)
        return KL_EINVAL;
    size_t mark = b->len;
    return finish(b, mark, put_header(b, name, help, type));
}

int kl_metrics_write_sample(kl_buf_t *b, const char *name, const kl_label_t *labels, size_t nlabels,
                            double value)
{
    if (!valid_name(name, true) || !valid_labels(labels, nlabels, false))
        return KL_EINVAL;
    char val[32];
    kl_metrics_format_value(value, val);
    size_t mark = b->len;
    return finish(b, mark, put_sample(b, name, "", labels, nlabels, NULL, val));
}

int kl_metrics_write_histogram(kl_buf_t *b, const char *name, const kl_label_t *labels,
                               size_t nlabels, const kl_histogram_t *h)
{
    if (!valid_name(name, true) || !valid_labels(labels, nlabels, true) || h->counts == NULL)
        return KL_EINVAL;
    size_t mark = b->len;
    return finish(b, mark, put_histogram(b, name, labels, nlabels, h));
}

static int render_one(kl_buf_t *b, const char *name, const char *help, kl_metric_type_t type,
                      const kl_label_t *labels, size_t nlabels, double value)
{
    if (!valid_name(name, true) || !valid_labels(labels, nlabels, false))
        return KL_EINVAL;
    char val[32];
    kl_metrics_format_value(value, val);
    size_t mark = b->len;
    int rc = put_header(b, name, help, type);
    if (rc == 0)
        rc = put_sample(b, name, "", labels, nlabels, NULL, val);
    return finish(b, mark, rc);
}

int kl_metrics_render_counter(kl_buf_t *b, const char *name, const char *help,
                              const kl_label_t *labels, size_t nlabels, double value)
{
    return render_one(b, name, help, KL_METRIC_COUNTER, labels, nlabels, value);
}

int kl_metrics_render_gauge(kl_buf_t *b, const char *name, const char *help,
                            const kl_label_t *labels, size_t nlabels, double value)
{
    return render_one(b, name, help, KL_METRIC_GAUGE, labels, nlabels, value);
}

int kl_metrics_render_histogram(kl_buf_t *b, const char *name, const char *help,
                                const kl_label_t *labels, size_t nlabels, const kl_histogram_t *h)
{
    if (!valid_name(name, true) || !valid_labels(labels, nlabels, true) || h->counts == NULL)
        return KL_EINVAL;
    size_t mark = b->len;
    int rc = put_header(b, name, help, KL_METRIC_HISTOGRAM);
    if (rc == 0)
        rc = put_histogram(b, name, labels, nlabels, h);
    return finish(b, mark, rc);
}
