/* Internal to kl_primitives: proleptic Gregorian calendar arithmetic and the zone lookup that
 * ktime.c, tz.c and cron.c share. */
#ifndef KL_PRIMITIVES_TZ_INT_H
#define KL_PRIMITIVES_TZ_INT_H

#include <stdint.h>

#include "kubelua/ktime.h"

#define KL__SEC_PER_DAY 86400

/* Instants are clamped to +-2^46 s (about 2.2 million years) before civil arithmetic, so years
 * fit an int and nothing below overflows. */
#define KL__TIME_LIMIT ((int64_t)1 << 46)

static inline int64_t kl__clamp_time(int64_t t)
{
    if (t > KL__TIME_LIMIT)
        return KL__TIME_LIMIT;
    if (t < -KL__TIME_LIMIT)
        return -KL__TIME_LIMIT;
    return t;
}

static inline int64_t kl__floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static inline int64_t kl__floormod(int64_t a, int64_t b)
{
    return a - kl__floordiv(a, b) * b;
}

static inline int kl__is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static inline int kl__days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && kl__is_leap(y) ? 29 : dim[m - 1];
}

/* Days from 1970-01-01 to y-m-d; m must be 1..12, d may be any value (added linearly). */
static inline int64_t kl__days_from_civil(int64_t y, int m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468 + (d - 1);
}

static inline void kl__civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Offset in effect at the UTC instant t, and an interval [*start, *end) containing t over which
 * that offset does not change (not necessarily the longest one). NULL tz is UTC. */
int32_t kl__tz_lookup(const kl_tz_t *tz, int64_t t, int64_t *start, int64_t *end);

#endif
