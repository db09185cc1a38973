#include "kubelua/queue.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/strmap.h"

#define NS_PER_S 1e9
#define MAX_DELAY_S 1e9
#define NO_TIMER UINT64_MAX

/* Item states; an item is in the ready FIFO exactly when it is DIRTY and not PROCESSING. */
enum {
    DIRTY = 1,      /* must be handed out (again): queued, or re-added while processing */
    PROCESSING = 2, /* handed out by get, done not called yet */
    WAITING = 4,    /* parked in the delay heap */
};

/* One per known key. It lives while it is in any state above or has failures to remember, and
 * carries its key inline, which is also the key the map borrows. */
typedef struct item {
    struct item *next;   /* ready FIFO, or processing list (oldest first) */
    struct item *prev;   /* processing list only */
    uint64_t added_at;   /* when it last became dirty (queue latency) */
    uint64_t started_at; /* when get handed it out (work duration) */
    size_t heap_idx;     /* while WAITING */
    uint32_t failures;
    uint8_t flags;
    char key[];
} item_t;

/* Delay heap entry, ordered by (at, seq) so keys due at the same time fire in the order they
 * were parked. Times live here rather than in the item so comparisons stay in the array. */
typedef struct heap_entry {
    uint64_t at;
    uint64_t seq;
    item_t *it;
} heap_entry_t;

struct kl_queue {
    uv_loop_t *loop;
    uv_timer_t timer; /* fires for heap[0] */
    uv_idle_t idle;   /* runs the callbacks outside add/get/done */
    int open_handles; /* the struct is freed when this drops to 0 */
    char *name;

    kl_strmap_t items;   /* key -> item_t */
    item_t *head, *tail; /* ready FIFO */
    size_t nready;       /* length of the FIFO */
    size_t ndirty;       /* DIRTY items: the depth metric */
    item_t *proc_head;   /* processing list, oldest first */
    item_t *proc_tail;
    size_t nprocessing;

    heap_entry_t *heap;
    size_t nheap, heap_cap;
    uint64_t seq;
    uint64_t timer_at; /* heap time the timer is armed for, or NO_TIMER */

    uint64_t base_ns, max_ns; /* per-key backoff */
    double qps, burst;        /* token bucket; qps 0: none */
    double tokens;
    uint64_t bucket_at; /* time tokens were last refilled */

    bool shutting_down, drain, closing;
    bool notify_ready, notify_drained, drained_signalled;
    kl_queue_cb ready_cb, drained_cb;
    void *cb_data;
    kl_queue_clock_fn clock;
    void *clock_data;

    kl_counter_t adds, retries;
    kl_histogram_t latency, work;
};

static uint64_t hrtime_clock(void *data)
{
    (void)data;
    return uv_hrtime();
}

static inline uint64_t now_ns(const kl_queue_t *q)
{
    return q->clock(q->clock_data);
}

static uint64_t seconds_to_ns(double s)
{
    if (!(s > 0))
        return 0;
    if (s > MAX_DELAY_S)
        s = MAX_DELAY_S;
    return (uint64_t)(s * NS_PER_S + 0.5);
}

/* ---- callbacks, always from the loop ---- */

static void on_idle(uv_idle_t *h)
{
    kl_queue_t *q = h->data;
    uv_idle_stop(h);
    if (q->notify_ready) {
        q->notify_ready = false;
        if (q->ready_cb && q->head)
            q->ready_cb(q, q->cb_data);
    }
    /* The callback may have freed the queue: the struct stays valid until the close callbacks,
     * but nothing else may be touched. */
    if (q->closing)
        return;
    if (q->notify_drained) {
        q->notify_drained = false;
        if (q->drained_cb)
            q->drained_cb(q, q->cb_data);
    }
}

static void wake(kl_queue_t *q)
{
    if (!q->closing && !uv_is_active((uv_handle_t *)&q->idle))
        uv_idle_start(&q->idle, on_idle);
}

static void check_drained(kl_queue_t *q)
{
    if (q->shutting_down && !q->drained_signalled && q->head == NULL && q->nprocessing == 0) {
        q->drained_signalled = true;
        q->notify_drained = true;
        wake(q);
    }
}

/* ---- items ---- */

static item_t *lookup(const kl_queue_t *q, const char *key)
{
    return kl_strmap_get(&q->items, key);
}

static int lookup_or_create(kl_queue_t *q, const char *key, item_t **out)
{
    item_t *it = lookup(q, key);
    if (it == NULL) {
        size_t len = strlen(key);
        it = malloc(sizeof(*it) + len + 1);
        if (it == NULL)
            return KL_ENOMEM;
        memset(it, 0, sizeof(*it));
        memcpy(it->key, key, len + 1);
        if (kl_strmap_put(&q->items, it->key, it, NULL) < 0) {
            free(it);
            return KL_ENOMEM;
        }
    }
    *out = it;
    return 0;
}

static void maybe_free(kl_queue_t *q, item_t *it)
{
    if (it->flags == 0 && it->failures == 0) {
        (void)kl_strmap_del(&q->items, it->key, NULL);
        free(it);
    }
}

static void fifo_push(kl_queue_t *q, item_t *it)
{
    it->next = NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->nready++;
    q->notify_ready = true;
    wake(q);
}

static item_t *fifo_pop(kl_queue_t *q)
{
    item_t *it = q->head;
    q->head = it->next;
    if (q->head == NULL)
        q->tail = NULL;
    it->next = NULL;
    q->nready--;
    return it;
}

static void proc_push(kl_queue_t *q, item_t *it)
{
    it->next = NULL;
    it->prev = q->proc_tail;
    if (q->proc_tail)
        q->proc_tail->next = it;
    else
        q->proc_head = it;
    q->proc_tail = it;
    q->nprocessing++;
}

static void proc_unlink(kl_queue_t *q, item_t *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        q->proc_head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        q->proc_tail = it->prev;
    it->next = it->prev = NULL;
    q->nprocessing--;
}

/* client-go Add on a known item. */
static void add_item(kl_queue_t *q, item_t *it, uint64_t now)
{
    if (it->flags & DIRTY)
        return;
    it->flags |= DIRTY;
    it->added_at = now;
    q->ndirty++;
    kl_counter_inc(&q->adds);
    if (!(it->flags & PROCESSING))
        fifo_push(q, it);
}

/* ---- delay heap ---- */

static inline bool heap_less(const heap_entry_t *a, const heap_entry_t *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static inline void heap_set(kl_queue_t *q, size_t i, heap_entry_t e)
{
    q->heap[i] = e;
    e.it->heap_idx = i;
}

static void heap_up(kl_queue_t *q, size_t i)
{
    heap_entry_t e = q->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(&e, &q->heap[parent]))
            break;
        heap_set(q, i, q->heap[parent]);
        i = parent;
    }
    heap_set(q, i, e);
}

static void heap_down(kl_queue_t *q, size_t i)
{
    heap_entry_t e = q->heap[i];
    size_t n = q->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_less(&q->heap[c + 1], &q->heap[c]))
            c++;
        if (!heap_less(&q->heap[c], &e))
            break;
        heap_set(q, i, q->heap[c]);
        i = c;
    }
    heap_set(q, i, e);
}

static int heap_push(kl_queue_t *q, item_t *it, uint64_t at)
{
    if (q->nheap == q->heap_cap) {
        size_t cap = q->heap_cap ? q->heap_cap * 2 : 64;
        heap_entry_t *h = realloc(q->heap, cap * sizeof(*h));
        if (h == NULL)
            return KL_ENOMEM;
        q->heap = h;
        q->heap_cap = cap;
    }
    q->heap[q->nheap] = (heap_entry_t){.at = at, .seq = q->seq++, .it = it};
    it->flags |= WAITING;
    heap_up(q, q->nheap++);
    return 0;
}

static item_t *heap_pop(kl_queue_t *q)
{
    item_t *it = q->heap[0].it;
    if (--q->nheap > 0) {
        q->heap[0] = q->heap[q->nheap];
        heap_down(q, 0);
    }
    it->flags &= (uint8_t)~WAITING;
    return it;
}

static void on_timer(uv_timer_t *t);

/* Keeps the timer armed for the earliest parked key. */
static void arm_timer(kl_queue_t *q, uint64_t now)
{
    if (q->closing)
        return;
    if (q->nheap == 0) {
        if (q->timer_at != NO_TIMER) {
            uv_timer_stop(&q->timer);
            q->timer_at = NO_TIMER;
        }
        return;
    }
    uint64_t at = q->heap[0].at;
    if (at == q->timer_at)
        return;
    uint64_t ms = at > now ? (at - now + 999999) / 1000000 : 0;
    uv_timer_start(&q->timer, on_timer, ms, 0);
    q->timer_at = at;
}

/* Moves every parked key whose time has come into the queue. */
static void flush_due(kl_queue_t *q, uint64_t now)
{
    if (q->nheap == 0 || q->heap[0].at > now)
        return;
    while (q->nheap && q->heap[0].at <= now)
        add_item(q, heap_pop(q), now);
    arm_timer(q, now);
}

static void on_timer(uv_timer_t *t)
{
    kl_queue_t *q = t->data;
    uint64_t now = now_ns(q);
    q->timer_at = NO_TIMER;
    flush_due(q, now);
    /* The loop's cached time may be behind the clock, so the timer can fire a little early. */
    arm_timer(q, now);
}

/* Parks it for delay_ns (0: adds now). Earliest time wins for a key already parked. */
static int schedule(kl_queue_t *q, item_t *it, uint64_t delay_ns, uint64_t now)
{
    if (delay_ns == 0) {
        add_item(q, it, now);
        return 0;
    }
    uint64_t at = now + delay_ns;
    if (it->flags & WAITING) {
        heap_entry_t *e = &q->heap[it->heap_idx];
        if (at < e->at) {
            e->at = at;
            heap_up(q, it->heap_idx);
        }
    } else {
        int rc = heap_push(q, it, at);
        if (rc < 0)
            return rc;
    }
    arm_timer(q, now);
    return 0;
}

/* ---- public API ---- */

void kl_queue_opts_init(kl_queue_opts_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->base_delay = 0.005;
    opts->max_delay = 1000;
    opts->qps = 10;
    opts->burst = 100;
}

static void on_close(uv_handle_t *h)
{
    kl_queue_t *q = h->data;
    if (--q->open_handles == 0)
        free(q);
}

int kl_queue_new(uv_loop_t *loop, const kl_queue_opts_t *opts, kl_queue_t **out)
{
    kl_queue_opts_t defaults;
    if (opts == NULL) {
        kl_queue_opts_init(&defaults);
        opts = &defaults;
    }
    if (loop == NULL || !(opts->base_delay >= 0) || !(opts->max_delay >= 0) || !(opts->qps >= 0) ||
        (opts->qps > 0 && !(opts->burst >= 1)) || isinf(opts->qps) || isinf(opts->burst))
        return KL_EINVAL;

    int rc = 0;
    kl_queue_t *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return KL_ENOMEM;
    kl_strmap_init(&q->items, 0);
    q->name = strdup(opts->name ? opts->name : "");
    if (q->name == NULL) {
        rc = KL_ENOMEM;
        goto out;
    }
    if (opts->buckets) {
        if ((rc = kl_histogram_init(&q->latency, opts->buckets, opts->nbuckets)) < 0 ||
            (rc = kl_histogram_init(&q->work, opts->buckets, opts->nbuckets)) < 0)
            goto out;
    } else {
        if ((rc = kl_histogram_init_exponential(&q->latency, KL_METRICS_QUEUE_BUCKETS_START,
                                                KL_METRICS_QUEUE_BUCKETS_FACTOR,
                                                KL_METRICS_QUEUE_BUCKETS_COUNT)) < 0 ||
            (rc = kl_histogram_init_exponential(&q->work, KL_METRICS_QUEUE_BUCKETS_START,
                                                KL_METRICS_QUEUE_BUCKETS_FACTOR,
                                                KL_METRICS_QUEUE_BUCKETS_COUNT)) < 0)
            goto out;
    }
    q->loop = loop;
    q->clock = opts->clock ? opts->clock : hrtime_clock;
    q->clock_data = opts->clock_data;
    q->ready_cb = opts->ready_cb;
    q->drained_cb = opts->drained_cb;
    q->cb_data = opts->cb_data;
    q->base_ns = seconds_to_ns(opts->base_delay);
    q->max_ns = seconds_to_ns(opts->max_delay);
    q->qps = opts->qps;
    q->burst = opts->burst;
    q->tokens = opts->burst; /* the bucket starts full */
    q->bucket_at = now_ns(q);
    q->timer_at = NO_TIMER;

    /* Neither init can fail on Unix; once they succeed the handles must be closed. */
    if ((rc = uv_timer_init(loop, &q->timer)) < 0) {
        rc = KL_EINVAL;
        goto out;
    }
    q->timer.data = q;
    q->open_handles = 1;
    if (uv_idle_init(loop, &q->idle) < 0) {
        kl_queue_free(q);
        return KL_EINVAL;
    }
    q->idle.data = q;
    q->open_handles = 2;
    *out = q;
    return 0;

out:
    kl_histogram_cleanup(&q->latency);
    kl_histogram_cleanup(&q->work);
    free(q->name);
    free(q);
    return rc;
}

void kl_queue_free(kl_queue_t *q)
{
    if (q == NULL || q->closing)
        return;
    q->closing = true;
    size_t iter = 0;
    void *v;
    while (kl_strmap_next(&q->items, &iter, NULL, &v))
        free(v);
    kl_strmap_cleanup(&q->items);
    free(q->heap);
    q->heap = NULL;
    q->nheap = q->heap_cap = 0;
    q->head = q->tail = q->proc_head = q->proc_tail = NULL;
    q->nready = q->ndirty = q->nprocessing = 0;
    kl_histogram_cleanup(&q->latency);
    kl_histogram_cleanup(&q->work);
    free(q->name);
    q->name = NULL;
    int handles = q->open_handles;
    uv_close((uv_handle_t *)&q->timer, on_close);
    if (handles == 2)
        uv_close((uv_handle_t *)&q->idle, on_close);
}

void kl_queue_set_callbacks(kl_queue_t *q, kl_queue_cb ready_cb, kl_queue_cb drained_cb, void *data)
{
    q->ready_cb = ready_cb;
    q->drained_cb = drained_cb;
    q->cb_data = data;
}

int kl_queue_add(kl_queue_t *q, const char *key)
{
    if (key && !q->shutting_down && !q->closing) {
        /* The dedup fast path: a queued key needs neither an allocation nor the clock. */
        item_t *it = lookup(q, key);
        if (it && (it->flags & DIRTY))
            return 0;
    }
    return kl_queue_add_after(q, key, 0);
}

int kl_queue_add_after(kl_queue_t *q, const char *key, double seconds)
{
    if (key == NULL)
        return KL_EINVAL;
    if (q->shutting_down || q->closing)
        return KL_ECLOSED;
    item_t *it;
    int rc = lookup_or_create(q, key, &it);
    if (rc < 0)
        return rc;
    rc = schedule(q, it, seconds_to_ns(seconds), now_ns(q));
    if (rc < 0)
        maybe_free(q, it);
    return rc;
}

/* Golang's rate.Limiter reservation: refill, take one token (possibly going negative) and wait
 * until the debt is repaid. */
static uint64_t bucket_delay_ns(kl_queue_t *q, uint64_t now)
{
    if (q->qps <= 0)
        return 0;
    if (now > q->bucket_at) {
        q->tokens += (double)(now - q->bucket_at) / NS_PER_S * q->qps;
        if (q->tokens > q->burst)
            q->tokens = q->burst;
        q->bucket_at = now;
    }
    q->tokens -= 1;
    return q->tokens < 0 ? seconds_to_ns(-q->tokens / q->qps) : 0;
}

int kl_queue_add_rate_limited(kl_queue_t *q, const char *key, double *delay)
{
    if (key == NULL)
        return KL_EINVAL;
    if (q->shutting_down || q->closing)
        return KL_ECLOSED;
    item_t *it;
    int rc = lookup_or_create(q, key, &it);
    if (rc < 0)
        return rc;
    uint64_t now = now_ns(q);

    /* client-go ItemExponentialFailureRateLimiter: base * 2^failures, then count the failure. */
    uint32_t exp = it->failures;
    uint64_t backoff_ns = q->max_ns;
    if (exp < 64 && q->base_ns <= (UINT64_MAX >> exp) && (q->base_ns << exp) < q->max_ns)
        backoff_ns = q->base_ns << exp;
    if (it->failures < UINT32_MAX)
        it->failures++;
    uint64_t bucket_ns = bucket_delay_ns(q, now);
    uint64_t d = backoff_ns > bucket_ns ? backoff_ns : bucket_ns;
    kl_counter_inc(&q->retries);
    if (delay)
        *delay = (double)d / NS_PER_S;
    rc = schedule(q, it, d, now);
    if (rc < 0)
        maybe_free(q, it);
    return rc;
}

void kl_queue_forget(kl_queue_t *q, const char *key)
{
    item_t *it = key ? lookup(q, key) : NULL;
    if (it) {
        it->failures = 0;
        maybe_free(q, it);
    }
}

int kl_queue_num_requeues(const kl_queue_t *q, const char *key)
{
    item_t *it = key ? lookup(q, key) : NULL;
    if (it == NULL)
        return 0;
    return it->failures > INT32_MAX ? INT32_MAX : (int)it->failures;
}

int kl_queue_get(kl_queue_t *q, const char **key)
{
    if (q->closing || (q->shutting_down && !q->drain))
        return KL_ECLOSED;
    uint64_t now = now_ns(q);
    flush_due(q, now);
    if (q->head == NULL)
        return q->shutting_down && q->nprocessing == 0 ? KL_ECLOSED : KL_EAGAIN;
    item_t *it = fifo_pop(q);
    it->flags = (uint8_t)((it->flags & ~DIRTY) | PROCESSING);
    q->ndirty--;
    it->started_at = now;
    proc_push(q, it);
    kl_histogram_observe(&q->latency, (double)(now - it->added_at) / NS_PER_S);
    *key = it->key;
    return 0;
}

int kl_queue_done(kl_queue_t *q, const char *key)
{
    item_t *it = key && !q->closing ? lookup(q, key) : NULL;
    if (it == NULL || !(it->flags & PROCESSING))
        return KL_ENOTFOUND;
    uint64_t now = now_ns(q);
    proc_unlink(q, it);
    it->flags &= (uint8_t)~PROCESSING;
    kl_histogram_observe(&q->work, (double)(now - it->started_at) / NS_PER_S);
    if (it->flags & DIRTY)
        fifo_push(q, it);
    else
        maybe_free(q, it);
    check_drained(q);
    return 0;
}

void kl_queue_shut_down(kl_queue_t *q, bool drain)
{
    if (q->closing)
        return;
    if (q->shutting_down && (!q->drain || drain))
        return;
    if (!q->shutting_down) {
        q->shutting_down = true;
        q->drain = drain;
        while (q->nheap)
            maybe_free(q, heap_pop(q));
        arm_timer(q, 0);
    }
    if (!drain) {
        /* Stop now: forget what was queued and what was re-added while in flight. */
        q->drain = false;
        while (q->head) {
            item_t *it = fifo_pop(q);
            it->flags &= (uint8_t)~DIRTY;
            q->ndirty--;
            maybe_free(q, it);
        }
        for (item_t *it = q->proc_head; it; it = it->next) {
            if (it->flags & DIRTY) {
                it->flags &= (uint8_t)~DIRTY;
                q->ndirty--;
            }
        }
    }
    check_drained(q);
}

bool kl_queue_shutting_down(const kl_queue_t *q)
{
    return q->shutting_down;
}

bool kl_queue_drained(const kl_queue_t *q)
{
    return q->shutting_down && q->head == NULL && q->nprocessing == 0;
}

size_t kl_queue_len(const kl_queue_t *q)
{
    return q->nready;
}

const char *kl_queue_name(const kl_queue_t *q)
{
    return q->name ? q->name : "";
}

void kl_queue_stats(const kl_queue_t *q, kl_queue_stats_t *st)
{
    uint64_t now = now_ns(q);
    memset(st, 0, sizeof(*st));
    st->depth = q->ndirty;
    st->ready = q->nready;
    st->delayed = q->nheap;
    st->processing = q->nprocessing;
    st->adds = (uint64_t)q->adds.value;
    st->retries = (uint64_t)q->retries.value;
    for (const item_t *it = q->proc_head; it; it = it->next) {
        if (now > it->started_at)
            st->unfinished += (double)(now - it->started_at) / NS_PER_S;
    }
    if (q->proc_head && now > q->proc_head->started_at)
        st->longest = (double)(now - q->proc_head->started_at) / NS_PER_S;
    st->latency = &q->latency;
    st->work = &q->work;
}

/* ---- Prometheus rendering ---- */

enum { M_DEPTH, M_ADDS, M_LATENCY, M_WORK, M_UNFINISHED, M_LONGEST, M_RETRIES, M_COUNT };

static const struct {
    const char *name;
    kl_metric_type_t type;
    const char *help;
} families[M_COUNT] = {
    [M_DEPTH] = {"workqueue_depth", KL_METRIC_GAUGE, "Current depth of workqueue"},
    [M_ADDS] = {"workqueue_adds_total", KL_METRIC_COUNTER,
                "Total number of adds handled by workqueue"},
    [M_LATENCY] = {"workqueue_queue_duration_seconds", KL_METRIC_HISTOGRAM,
                   "How long in seconds an item stays in workqueue before being requested."},
    [M_WORK] = {"workqueue_work_duration_seconds", KL_METRIC_HISTOGRAM,
                "How long in seconds processing an item from workqueue takes."},
    [M_UNFINISHED] = {"workqueue_unfinished_work_seconds", KL_METRIC_GAUGE,
                      "How many seconds of work has been done that is in progress and hasn't "
                      "been observed by work_duration. Large values indicate stuck workers."},
    [M_LONGEST] = {"workqueue_longest_running_processor_seconds", KL_METRIC_GAUGE,
                   "How many seconds has the longest running processor for workqueue been "
                   "running."},
    [M_RETRIES] = {"workqueue_retries_total", KL_METRIC_COUNTER,
                   "Total number of retries handled by workqueue"},
};

static int render_series(kl_buf_t *b, int family, const kl_label_t *label,
                         const kl_queue_stats_t *st)
{
    const char *name = families[family].name;
    switch (family) {
    case M_DEPTH:
        return kl_metrics_write_sample(b, name, label, 1, (double)st->depth);
    case M_ADDS:
        return kl_metrics_write_sample(b, name, label, 1, (double)st->adds);
    case M_LATENCY:
        return kl_metrics_write_histogram(b, name, label, 1, st->latency);
    case M_WORK:
        return kl_metrics_write_histogram(b, name, label, 1, st->work);
    case M_UNFINISHED:
        return kl_metrics_write_sample(b, name, label, 1, st->unfinished);
    case M_LONGEST:
        return kl_metrics_write_sample(b, name, label, 1, st->longest);
    default:
        return kl_metrics_write_sample(b, name, label, 1, (double)st->retries);
    }
}

int kl_queue_render_metrics(kl_buf_t *b, const kl_queue_t *const *queues, size_t n)
{
    size_t mark = b->len;
    int rc = 0;
    for (int f = 0; f < M_COUNT && rc == 0; f++) {
        rc = kl_metrics_write_header(b, families[f].name, families[f].help, families[f].type);
        for (size_t i = 0; i < n && rc == 0; i++) {
            kl_queue_stats_t st;
            kl_queue_stats(queues[i], &st);
            kl_label_t label = {"name", kl_queue_name(queues[i])};
            rc = render_series(b, f, &label, &st);
        }
    }
    if (rc < 0 && b->data) {
        b->len = mark;
        b->data[mark] = '\0';
    }
    return rc;
}
