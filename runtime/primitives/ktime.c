/* Wall clock, RFC 3339, Go durations and Kubernetes' HumanDuration. */
#include "kubelua/ktime.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "primitives/tz_int.h"

static _Atomic int64_t fake_now_ms;

int64_t kl_time_now_ms(void)
{
    int64_t fake = atomic_load_explicit(&fake_now_ms, memory_order_relaxed);
    if (fake != 0)
        return fake;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kl_time_now(void)
{
    return kl__floordiv(kl_time_now_ms(), 1000);
}

void kl_time_set_fake_now_ms(int64_t ms)
{
    atomic_store_explicit(&fake_now_ms, ms, memory_order_relaxed);
}

/* ---- RFC 3339 ------------------------------------------------------------------------------ */

/* n decimal digits at *p within [min, max]; advances *p. */
static bool digits(const char **p, int n, int min, int max, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    if (v < min || v > max)
        return false;
    *p += n;
    *out = v;
    return true;
}

static bool lit(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

int kl_time_parse_rfc3339(const char *s, int64_t *sec, int32_t *nsec)
{
    /* The union of Go's fast path (parseRFC3339) and its general parser for this layout, which
     * Parse falls back to: the latter also takes a one-digit hour, ',' before the fraction and
     * offsets up to 24:60. */
    const char *p = s;
    int year, month, day, hour, min, second;
    if (!digits(&p, 4, 0, 9999, &year) || !lit(&p, '-') || !digits(&p, 2, 1, 12, &month) ||
        !lit(&p, '-') || !digits(&p, 2, 1, 31, &day) || !lit(&p, 'T'))
        return KL_ESYNTAX;
    if (!digits(&p, (p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9') ? 2 : 1, 0, 23,
                &hour) ||
        !lit(&p, ':') || !digits(&p, 2, 0, 59, &min) || !lit(&p, ':') ||
        !digits(&p, 2, 0, 59, &second))
        return KL_ESYNTAX;
    if (day > kl__days_in_month(year, month))
        return KL_ESYNTAX;
    int32_t ns = 0;
    if ((p[0] == '.' || p[0] == ',') && p[1] >= '0' && p[1] <= '9') {
        p++;
        int n = 0;
        for (; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 9)
                ns = ns * 10 + (*p - '0');
        for (; n < 9; n++)
            ns *= 10;
    }
    int32_t off = 0;
    if (*p == 'Z') {
        p++;
    } else {
        char sign = *p;
        int oh, om;
        if (sign != '+' && sign != '-')
            return KL_ESYNTAX;
        p++;
        if (!digits(&p, 2, 0, 24, &oh) || !lit(&p, ':') || !digits(&p, 2, 0, 60, &om))
            return KL_ESYNTAX;
        off = (oh * 60 + om) * 60;
        if (sign == '-')
            off = -off;
    }
    if (*p != '\0')
        return KL_ESYNTAX;
    *sec = kl__days_from_civil(year, month, day) * KL__SEC_PER_DAY + hour * 3600 + min * 60 +
           second - off;
    if (nsec != NULL)
        *nsec = ns;
    return 0;
}

/* Writes the civil date and time of local seconds `local` as "YYYY-MM-DDTHH:MM:SS"; returns
 * the number of characters. Years outside 0..9999 print as Go does (sign, at least 4 digits). */
static int format_civil(int64_t local, char *out)
{
    local = kl__clamp_time(local);
    int64_t days = kl__floordiv(local, KL__SEC_PER_DAY);
    int64_t sod = local - days * KL__SEC_PER_DAY;
    int64_t y;
    int m, d;
    kl__civil_from_days(days, &y, &m, &d);
    return snprintf(out, 32, "%s%04lld-%02d-%02dT%02d:%02d:%02d", y < 0 ? "-" : "",
                    (long long)(y < 0 ? -y : y), m, d, (int)(sod / 3600), (int)(sod / 60 % 60),
                    (int)(sod % 60));
}

void kl_time_format_rfc3339(int64_t sec, char *out)
{
    int n = format_civil(sec, out);
    snprintf(out + n, 32 - (size_t)n, "Z");
}

void kl_time_format_rfc3339_micro(int64_t sec, int32_t usec, char *out)
{
    if (usec < 0 || usec > 999999)
        usec = 0;
    int n = format_civil(sec, out);
    snprintf(out + n, 32 - (size_t)n, ".%06dZ", (int)usec);
}

void kl_time_format_rfc3339_in(int64_t sec, const kl_tz_t *tz, char *out)
{
    sec = kl__clamp_time(sec);
    int32_t off = kl_tz_offset(tz, sec);
    int n = format_civil(sec + off, out);
    if (off == 0) {
        snprintf(out + n, 32 - (size_t)n, "Z");
        return;
    }
    /* Go prints whole minutes of the offset, truncated toward zero. */
    int zone = off / 60;
    char sign = zone < 0 ? '-' : '+';
    if (zone < 0)
        zone = -zone;
    snprintf(out + n, 32 - (size_t)n, "%c%02d:%02d", sign, zone / 60 % 100, zone % 60);
}

/* ---- HumanDuration ------------------------------------------------------------------------- */

void kl_time_human_duration(int64_t seconds, char *out, size_t cap)
{
    long long s = seconds;
    if (cap == 0)
        return;
    if (s < -1) {
        snprintf(out, cap, "<invalid>");
        return;
    }
    if (s < 0) {
        snprintf(out, cap, "0s");
        return;
    }
    if (s < 60 * 2) {
        snprintf(out, cap, "%llds", s);
        return;
    }
    long long minutes = s / 60;
    if (minutes < 10) {
        if (s % 60 == 0)
            snprintf(out, cap, "%lldm", minutes);
        else
            snprintf(out, cap, "%lldm%llds", minutes, s % 60);
        return;
    }
    if (minutes < 60 * 3) {
        snprintf(out, cap, "%lldm", minutes);
        return;
    }
    long long hours = s / 3600;
    if (hours < 8) {
        if (minutes % 60 == 0)
            snprintf(out, cap, "%lldh", hours);
        else
            snprintf(out, cap, "%lldh%lldm", hours, minutes % 60);
    } else if (hours < 48) {
        snprintf(out, cap, "%lldh", hours);
    } else if (hours < 24 * 8) {
        if (hours % 24 == 0)
            snprintf(out, cap, "%lldd", hours / 24);
        else
            snprintf(out, cap, "%lldd%lldh", hours / 24, hours % 24);
    } else if (hours < 24 * 365 * 2) {
        snprintf(out, cap, "%lldd", hours / 24);
    } else if (hours < 24 * 365 * 8) {
        long long dy = hours / 24 % 365;
        if (dy == 0)
            snprintf(out, cap, "%lldy", hours / 24 / 365);
        else
            snprintf(out, cap, "%lldy%lldd", hours / 24 / 365, dy);
    } else {
        snprintf(out, cap, "%lldy", hours / 24 / 365);
    }
}

/* ---- Go durations ---------------------------------------------------------------------------- */

/* Go's time.quote: bytes below ' ' or above '~' as \xNN, '"' and '\\' escaped. */
static void go_quote(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (cap < 3) {
        if (cap > 0)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < n && o + 6 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 || c < ' ') {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        } else {
            if (c == '"' || c == '\\')
                out[o++] = '\\';
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

static int dur_err(kl_errinfo_t *err, const char *what, const char *orig)
{
    char q[200];
    go_quote(orig, strlen(orig), q, sizeof(q));
    return kl_err(err, KL_ESYNTAX, "time: %s %s", what, q);
}

int kl_time_parse_duration(const char *orig, int64_t *ns, kl_errinfo_t *err)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        {"ns", 1},           {"us", 1000},      {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
        {"\xce\xbcs", 1000},                                         /* U+03BC Greek mu */
        {"ms", 1000000},     {"s", 1000000000}, {"m", 60000000000ULL}, {"h", 3600000000000ULL}};
    const uint64_t lim = (uint64_t)1 << 63;
    const char *s = orig;
    uint64_t d = 0;
    bool neg = false;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (*s == '\0')
        return dur_err(err, "invalid duration", orig);
    while (*s != '\0') {
        uint64_t v = 0, f = 0;
        double scale = 1;
        if (!(*s == '.' || (*s >= '0' && *s <= '9')))
            return dur_err(err, "invalid duration", orig);
        const char *start = s;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (v > lim / 10)
                return dur_err(err, "invalid duration", orig);
            v = v * 10 + (uint64_t)(*s - '0');
            if (v > lim)
                return dur_err(err, "invalid duration", orig);
        }
        bool pre = s != start;
        bool post = false;
        if (*s == '.') {
            s++;
            const char *fs = s;
            bool overflow = false;
            for (; *s >= '0' && *s <= '9'; s++) {
                if (overflow)
                    continue;
                if (f > (lim - 1) / 10) {
                    overflow = true;
                    continue;
                }
                uint64_t y = f * 10 + (uint64_t)(*s - '0');
                if (y > lim) {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10;
            }
            post = s != fs;
        }
        if (!pre && !post)
            return dur_err(err, "invalid duration", orig);
        size_t ulen = 0;
        while (s[ulen] != '\0' && s[ulen] != '.' && !(s[ulen] >= '0' && s[ulen] <= '9'))
            ulen++;
        if (ulen == 0)
            return dur_err(err, "missing unit in duration", orig);
        uint64_t unit = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strlen(units[i].name) == ulen && memcmp(units[i].name, s, ulen) == 0)
                unit = units[i].ns;
        if (unit == 0) {
            char qu[100], qo[200];
            go_quote(s, ulen, qu, sizeof(qu));
            go_quote(orig, strlen(orig), qo, sizeof(qo));
            return kl_err(err, KL_ESYNTAX, "time: unknown unit %s in duration %s", qu, qo);
        }
        s += ulen;
        if (v > lim / unit)
            return dur_err(err, "invalid duration", orig);
        v *= unit;
        if (f > 0) {
            v += (uint64_t)((double)f * ((double)unit / scale));
            if (v > lim)
                return dur_err(err, "invalid duration", orig);
        }
        d += v;
        if (d > lim)
            return dur_err(err, "invalid duration", orig);
    }
    if (neg) {
        *ns = d == lim ? INT64_MIN : -(int64_t)d;
        return 0;
    }
    if (d > lim - 1)
        return dur_err(err, "invalid duration", orig);
    *ns = (int64_t)d;
    return 0;
}
