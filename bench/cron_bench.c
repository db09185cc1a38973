/* Cron and time zone benchmark: kl_cron_next for common and awkward schedules in UTC and in DST
 * zones, kl_cron_most_recent after a week of missed minutes, zone offset lookups and RFC 3339.
 *
 *   cron_bench [iterations]      default 1000000
 *
 * Each figure is the best of three runs; start times advance by an odd number of seconds per
 * call so consecutive calls do not repeat work.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kubelua/cron.h"
#include "kubelua/ktime.h"

#define RUNS 3

static volatile int64_t sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static const kl_tz_t *zone(const char *name)
{
    const kl_tz_t *tz;
    kl_errinfo_t err;
    if (kl_tz_load(name, &tz, &err) != 0) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        exit(1);
    }
    return tz;
}

static void bench_next(const char *spec, const char *zname, long n)
{
    kl_cron_t *c;
    kl_errinfo_t err;
    if (kl_cron_parse(spec, &c, &err) != 0) {
        fprintf(stderr, "%s: %s\n", spec, err.msg);
        exit(1);
    }
    const kl_tz_t *tz = zone(zname);
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        int64_t t = 1715678497; /* 2024-05-14 */
        double a = now_ns();
        for (long i = 0; i < n; i++) {
            sink += kl_cron_next(c, tz, t);
            t += 7919; /* about 2.2 hours: a year of start times over 4,000 calls */
        }
        double per = (now_ns() - a) / (double)n;
        if (per < best)
            best = per;
    }
    printf("| kl_cron_next `%s` | %s | %.0f ns |\n", spec, zname, best);
    kl_cron_free(c);
}

static void bench_recent(const char *spec, const char *zname, int64_t gap, long n)
{
    kl_cron_t *c;
    if (kl_cron_parse(spec, &c, NULL) != 0)
        exit(1);
    const kl_tz_t *tz = zone(zname);
    double best = 1e30;
    kl_cron_recent_t rec = {0, 0};
    for (int r = 0; r < RUNS; r++) {
        int64_t t = 1715678497;
        double a = now_ns();
        for (long i = 0; i < n; i++) {
            if (kl_cron_most_recent(c, tz, t, t + gap, &rec, NULL) != 0)
                exit(1);
            sink += rec.latest;
            t += 7919;
        }
        double per = (now_ns() - a) / (double)n;
        if (per < best)
            best = per;
    }
    printf("| kl_cron_most_recent `%s`, %lld s behind (missed %lld) | %s | %.0f ns |\n", spec,
           (long long)gap, (long long)rec.missed, zname, best);
    kl_cron_free(c);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    printf("| Operation | Zone | Per call |\n| --- | --- | --- |\n");
    bench_next("* * * * *", "UTC", n);
    bench_next("*/5 * * * *", "UTC", n);
    bench_next("0 2 * * *", "UTC", n);
    bench_next("0 2 * * *", "America/New_York", n);
    bench_next("0 2 * * *", "Europe/Berlin", n);
    bench_next("30 9 * * 1-5", "America/New_York", n);
    bench_next("0 0 1 * *", "Europe/Berlin", n);
    bench_next("@weekly", "UTC", n);
    bench_next("0 0 29 2 *", "UTC", n / 10);
    bench_next("0 0 29 2 *", "America/New_York", n / 10);
    bench_next("0 0 30 2 *", "UTC", n / 10);
    bench_next("@every 1h30m", "UTC", n);
    bench_recent("* * * * *", "UTC", 7 * 86400, n / 10);
    bench_recent("0 * * * *", "America/New_York", 30 * 86400, n / 10);

    const kl_tz_t *ny = zone("America/New_York");
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        int64_t t = 0;
        double a = now_ns();
        for (long i = 0; i < n; i++) {
            sink += kl_tz_offset(ny, t);
            t += 2718281; /* about a month */
        }
        double per = (now_ns() - a) / (double)n;
        if (per < best)
            best = per;
    }
    printf("| kl_tz_offset (1970-2050, table and footer) | America/New_York | %.0f ns |\n", best);

    best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double a = now_ns();
        for (long i = 0; i < n; i++) {
            int64_t sec;
            int32_t ns;
            if (kl_time_parse_rfc3339("2024-05-14T09:21:37.123+02:00", &sec, &ns) == 0)
                sink += sec;
        }
        double per = (now_ns() - a) / (double)n;
        if (per < best)
            best = per;
    }
    printf("| kl_time_parse_rfc3339 | | %.0f ns |\n", best);
    return 0;
}
