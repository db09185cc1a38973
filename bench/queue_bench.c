/* Work queue benchmark: add/get/done throughput, the dedup path, and delayed adds.
 *
 *   queue_bench [keys] [delayed]      defaults: 1000000 keys, 100000 delayed keys
 *
 * Every figure is the best of three runs. The fake-clock delayed run measures the queue's own
 * cost (heap in, heap out); the real-timer run shows how late keys fire when 100,000 of them
 * come due over half a second on a live loop, and how busy that keeps the loop.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "kubelua/queue.h"

#define RUNS 3
#define REAL_SPREAD_S 0.5

static char (*keys)[24];

static double now_s(void)
{
    return (double)uv_hrtime() / 1e9;
}

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", what, kl_strerror(rc));
        exit(1);
    }
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * 4;
}

static kl_queue_t *new_queue(uv_loop_t *loop, kl_queue_clock_fn clock, void *clock_data)
{
    kl_queue_opts_t o;
    kl_queue_opts_init(&o);
    o.name = "bench";
    o.clock = clock;
    o.clock_data = clock_data;
    kl_queue_t *q;
    check(kl_queue_new(loop, &o, &q), "kl_queue_new");
    return q;
}

static void free_queue(uv_loop_t *loop, kl_queue_t *q)
{
    kl_queue_free(q);
    uv_run(loop, UV_RUN_DEFAULT);
}

typedef struct result {
    double add, dedup, get_done, cycle;
    long rss_delta_kb;
} result_t;

static void run_throughput(uv_loop_t *loop, int n, result_t *best)
{
    long rss0 = rss_kb();
    kl_queue_t *q = new_queue(loop, NULL, NULL);
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        check(kl_queue_add(q, keys[i]), "add");
    double t1 = now_s();
    long rss1 = rss_kb();
    for (int i = 0; i < n; i++)
        check(kl_queue_add(q, keys[i]), "re-add"); /* every key already queued */
    double t2 = now_s();
    const char *key;
    for (int i = 0; i < n; i++) {
        check(kl_queue_get(q, &key), "get");
        check(kl_queue_done(q, key), "done");
    }
    double t3 = now_s();
    if (kl_queue_get(q, &key) != KL_EAGAIN || kl_queue_len(q) != 0) {
        fprintf(stderr, "queue not empty after the drain\n");
        exit(1);
    }
    /* Steady state: add, get, done of one key at a time over the n keys. */
    for (int i = 0; i < n; i++) {
        check(kl_queue_add(q, keys[i]), "add");
        check(kl_queue_get(q, &key), "get");
        check(kl_queue_done(q, key), "done");
    }
    double t4 = now_s();
    free_queue(loop, q);

    result_t r = {.add = n / (t1 - t0),
                  .dedup = n / (t2 - t1),
                  .get_done = n / (t3 - t2),
                  .cycle = n / (t4 - t3),
                  .rss_delta_kb = rss1 - rss0};
    if (r.add > best->add)
        best->add = r.add;
    if (r.dedup > best->dedup)
        best->dedup = r.dedup;
    if (r.get_done > best->get_done)
        best->get_done = r.get_done;
    if (r.cycle > best->cycle)
        best->cycle = r.cycle;
    if (best->rss_delta_kb == 0) /* the first run: later ones reuse freed memory */
        best->rss_delta_kb = r.rss_delta_kb;
}

/* ---- delayed keys, fake clock ---- */

static uint64_t fake_now;

static uint64_t fake_clock(void *data)
{
    (void)data;
    return fake_now;
}

static uint32_t lcg(uint32_t *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return *seed >> 8;
}

static void run_delayed_fake(uv_loop_t *loop, int n, double *sched, double *fire, double *drain)
{
    fake_now = 1000000000ULL;
    kl_queue_t *q = new_queue(loop, fake_clock, NULL);
    uint32_t seed = 42;
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        check(kl_queue_add_after(q, keys[i], 1.0 + (lcg(&seed) % 1000000) * 1e-6), "add_after");
    double t1 = now_s();
    fake_now += 3000000000ULL; /* every key is due: the first get moves them all */
    const char *key;
    check(kl_queue_get(q, &key), "get");
    double t2 = now_s();
    check(kl_queue_done(q, key), "done");
    int got = 1;
    while (kl_queue_get(q, &key) == 0) {
        check(kl_queue_done(q, key), "done");
        got++;
    }
    double t3 = now_s();
    if (got != n) {
        fprintf(stderr, "fired %d of %d\n", got, n);
        exit(1);
    }
    free_queue(loop, q);
    if (t1 - t0 < *sched)
        *sched = t1 - t0;
    if (t2 - t1 < *fire)
        *fire = t2 - t1;
    if (t3 - t2 < *drain)
        *drain = t3 - t2;
}

/* ---- delayed keys, real timer ---- */

typedef struct real_run {
    uint64_t *due;       /* per key index, ns */
    uint64_t loop_start; /* when uv_run started */
    int got;
    int late_n;      /* keys due after the loop started */
    double late_sum; /* seconds, over those keys */
    double late_max;
} real_run_t;

static void on_ready(kl_queue_t *q, void *data)
{
    real_run_t *r = data;
    uint64_t now = uv_hrtime();
    const char *key;
    while (kl_queue_get(q, &key) == 0) {
        int idx = atoi(key + 8); /* "ns/name-%07d" */
        /* Keys due while the adds were still running cannot fire on time; count only the
         * others. */
        if (r->due[idx] >= r->loop_start) {
            double late = now > r->due[idx] ? (double)(now - r->due[idx]) / 1e9 : 0;
            r->late_sum += late;
            r->late_n++;
            if (late > r->late_max)
                r->late_max = late;
        }
        r->got++;
        kl_queue_done(q, key);
    }
}

static void run_delayed_real(int n, double *wall, double *busy, double *late_mean, double *late_max)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_loop_configure(&loop, UV_METRICS_IDLE_TIME);
    real_run_t r = {.due = malloc((size_t)n * sizeof(uint64_t))};
    kl_queue_opts_t o;
    kl_queue_opts_init(&o);
    o.ready_cb = on_ready;
    o.cb_data = &r;
    kl_queue_t *q;
    check(kl_queue_new(&loop, &o, &q), "kl_queue_new");
    uint32_t seed = 7;
    uint64_t start = uv_hrtime();
    for (int i = 0; i < n; i++) {
        double d = (lcg(&seed) % 1000000) * 1e-6 * REAL_SPREAD_S;
        r.due[i] = uv_hrtime() + (uint64_t)(d * 1e9);
        check(kl_queue_add_after(q, keys[i], d), "add_after");
    }
    uint64_t idle0 = uv_metrics_idle_time(&loop);
    r.loop_start = uv_hrtime();
    uv_run(&loop, UV_RUN_DEFAULT); /* returns when the last key fired */
    uint64_t end = uv_hrtime();
    uint64_t idle = uv_metrics_idle_time(&loop) - idle0;
    if (r.got != n) {
        fprintf(stderr, "real timer fired %d of %d\n", r.got, n);
        exit(1);
    }
    kl_queue_free(q);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    double w = (double)(end - start) / 1e9;
    double b = w - (double)idle / 1e9;
    if (w < *wall) {
        *wall = w;
        *busy = b;
        *late_mean = r.late_n ? r.late_sum / r.late_n : 0;
        *late_max = r.late_max;
    }
    free(r.due);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000000;
    int nd = argc > 2 ? atoi(argv[2]) : 100000;
    if (n < 1 || nd < 1 || nd > n) {
        fprintf(stderr, "usage: queue_bench [keys] [delayed <= keys]\n");
        return 2;
    }
    keys = malloc((size_t)n * sizeof(*keys));
    if (keys == NULL)
        return 1;
    for (int i = 0; i < n; i++)
        snprintf(keys[i], sizeof(keys[i]), "ns/name-%07d", i);

    uv_loop_t loop;
    uv_loop_init(&loop);

    result_t best = {0};
    for (int i = 0; i < RUNS; i++)
        run_throughput(&loop, n, &best);
    printf("work queue, %d distinct keys (\"ns/name-NNNNNNN\"), best of %d\n", n, RUNS);
    printf("  add (new keys)            %8.2f M ops/s  %6.0f ns/op\n", best.add / 1e6,
           1e9 / best.add);
    printf("  add (dedup, all queued)   %8.2f M ops/s  %6.0f ns/op\n", best.dedup / 1e6,
           1e9 / best.dedup);
    printf("  get + done                %8.2f M pairs/s %5.0f ns/pair\n", best.get_done / 1e6,
           1e9 / best.get_done);
    printf("  add + get + done, 1 key   %8.2f M cycles/s %4.0f ns/cycle\n", best.cycle / 1e6,
           1e9 / best.cycle);
    printf("  memory with %d keys queued: %.1f MB (%.0f bytes/key)\n", n,
           best.rss_delta_kb / 1024.0, best.rss_delta_kb * 1024.0 / n);

    double sched = 1e9, fire = 1e9, drain = 1e9;
    for (int i = 0; i < RUNS; i++)
        run_delayed_fake(&loop, nd, &sched, &fire, &drain);
    printf("add_after, %d keys, delays 1..2 s, fake clock\n", nd);
    printf("  schedule                  %8.1f ms   %6.0f ns/key\n", sched * 1e3, sched * 1e9 / nd);
    printf("  fire (heap -> ready FIFO) %8.1f ms   %6.0f ns/key\n", fire * 1e3, fire * 1e9 / nd);
    printf("  get + done of the fired   %8.1f ms   %6.0f ns/key\n", drain * 1e3, drain * 1e9 / nd);

    double wall = 1e9, busy = 0, late_mean = 0, late_max = 0;
    for (int i = 0; i < RUNS; i++)
        run_delayed_real(nd, &wall, &busy, &late_mean, &late_max);
    printf("add_after, %d keys due over %.1f s, real uv_timer\n", nd, REAL_SPREAD_S);
    printf("  wall %.3f s, loop busy %.1f ms (scheduling included)\n", wall, busy * 1e3);
    printf("  lateness of keys due after the loop started: mean %.2f ms, max %.2f ms\n",
           late_mean * 1e3, late_max * 1e3);

    uv_loop_close(&loop);
    free(keys);
    return 0;
}
