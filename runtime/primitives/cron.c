/* Cron schedules with the semantics of github.com/robfig/cron/v3 (ParseStandard,
 * SpecSchedule.Next, ConstantDelaySchedule) and kube-controller-manager's
 * mostRecentScheduleTime. Written from the behaviour of those, not from their code. */
#include "kubelua/cron.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "primitives/tz_int.h"

#define STAR_BIT (1ULL << 63)
#define NEXT_RANGE ((int64_t)1 << 45) /* kl_cron_next answers 0 beyond +-1.1 million years */
#define WALK_CAP 1000
/* Loop steps one next() may take. Upstream can loop forever (Pacific/Apia skipped 2011-12-30,
 * and Go's Date for that day answers the day before, so the day loop never advances); a few
 * hundred steps cover every schedule that terminates. */
#define STEP_BUDGET 100000

struct kl_cron {
    uint64_t minute, hour, dom, month, dow; /* bit i set when value i matches; STAR_BIT */
    int64_t every;                          /* > 0: "@every", the delay in seconds */
    const kl_tz_t *tz;                      /* the prefix zone; NULL: the caller's */
    char *tz_name;                          /* the prefix zone as written, or NULL */
    bool never;                             /* a field matches nothing: no activation exists */
};

typedef struct bounds {
    unsigned min, max;
    const char *const *names; /* names[i] is value min_name + i */
    unsigned names_base;
    int nnames;
} bounds_t;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const bounds_t b_minute = {0, 59, NULL, 0, 0};
static const bounds_t b_hour = {0, 23, NULL, 0, 0};
static const bounds_t b_dom = {1, 31, NULL, 0, 0};
static const bounds_t b_month = {1, 12, month_names, 1, 12};
static const bounds_t b_dow = {0, 6, dow_names, 0, 7};

/* A piece of the spec, not NUL-terminated. */
typedef struct sv {
    const char *p;
    size_t n;
} sv_t;

/* ---- Go string helpers ---------------------------------------------------------------------- */

/* Length of the Unicode white space (unicode.IsSpace) encoded at p[0..n), or 0. Matching the
 * UTF-8 encodings byte-wise gives the same answer as decoding runes: lead bytes never occur
 * inside a valid sequence, and an invalid byte decodes as a one-byte U+FFFD. */
static size_t space_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    if (n == 0)
        return 0;
    if (p[0] == ' ' || (p[0] >= '\t' && p[0] <= '\r'))
        return 1;
    if (n >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0))
        return 2;
    if (n >= 3) {
        if (p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80)
            return 3; /* U+1680 */
        if (p[0] == 0xe2 && p[1] == 0x80 &&
            ((p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf))
            return 3; /* U+2000-200A, U+2028, U+2029, U+202F */
        if (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)
            return 3; /* U+205F */
        if (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
            return 3; /* U+3000 */
    }
    return 0;
}

/* Length of white space ending at s[n-1], or 0. */
static size_t space_len_back(const char *s, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++)
        if (space_len(s + n - k, k) == k)
            return k;
    return 0;
}

static sv_t trim_space(sv_t v)
{
    size_t k;
    while ((k = space_len(v.p, v.n)) > 0) {
        v.p += k;
        v.n -= k;
    }
    while ((k = space_len_back(v.p, v.n)) > 0)
        v.n -= k;
    return v;
}

/* strconv.Quote, close enough: printable ASCII as is, the usual escapes, other control and
 * invalid bytes as \xNN, valid multi-byte UTF-8 as is. */
static void go_strquote(sv_t v, char *out, size_t cap)
{
    size_t o = 0;
    if (cap < 8) {
        if (cap > 0)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < v.n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)v.p[i];
        const char *esc = NULL;
        switch (c) {
        case '\a':
            esc = "\\a";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\v':
            esc = "\\v";
            break;
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        }
        if (esc != NULL) {
            o += (size_t)snprintf(out + o, cap - o, "%s", esc);
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else if (c >= 0xc2 && c <= 0xf4) {
            size_t len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
            bool ok = i + len <= v.n;
            for (size_t k = 1; ok && k < len; k++)
                ok = ((unsigned char)v.p[i + k] & 0xc0) == 0x80;
            if (ok && o + len + 2 < cap) {
                memcpy(out + o, v.p + i, len);
                o += len;
                i += len - 1;
            } else {
                o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
            }
        } else {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* strconv.Atoi, with its error text ("strconv.Atoi: parsing \"x\": invalid syntax"). */
static bool go_atoi(sv_t v, int64_t *out, char *msg, size_t cap)
{
    const char *why = "invalid syntax";
    size_t i = 0;
    bool neg = false;
    if (v.n > 0 && (v.p[0] == '+' || v.p[0] == '-')) {
        neg = v.p[0] == '-';
        i = 1;
    }
    if (i == v.n)
        goto fail;
    uint64_t n = 0;
    for (; i < v.n; i++) {
        char c = v.p[i];
        if (c < '0' || c > '9')
            goto fail;
        if (n >= UINT64_MAX / 10 + 1) {
            why = "value out of range";
            goto fail;
        }
        uint64_t n1 = n * 10 + (uint64_t)(c - '0');
        if (n1 < n * 10) {
            why = "value out of range";
            goto fail;
        }
        n = n1;
    }
    if ((!neg && n > (uint64_t)INT64_MAX) || (neg && n > (uint64_t)INT64_MAX + 1)) {
        why = "value out of range";
        goto fail;
    }
    *out = neg ? (int64_t)(0 - n) : (int64_t)n;
    return true;
fail:;
    char q[300];
    go_strquote(v, q, sizeof(q));
    snprintf(msg, cap, "strconv.Atoi: parsing %s: %s", q, why);
    return false;
}

/* ---- parsing ----------------------------------------------------------------------------------
 */

static int perr(kl_errinfo_t *err, const char *fmt, ...) KL_PRINTF(2, 3);

static int perr(kl_errinfo_t *err, const char *fmt, ...)
{
    if (err == NULL)
        return KL_ESYNTAX;
    va_list ap;
    va_start(ap, fmt);
    err->code = KL_ESYNTAX;
    err->line = 0;
    err->column = 0;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return KL_ESYNTAX;
}

/* mustParseInt: a non-negative int. */
static int parse_uint(sv_t v, uint64_t *out, kl_errinfo_t *err)
{
    char msg[400];
    int64_t n;
    if (!go_atoi(v, &n, msg, sizeof(msg)))
        return perr(err, "failed to parse int from %.*s: %s", (int)v.n, v.p, msg);
    if (n < 0)
        return perr(err, "negative number (%lld) not allowed: %.*s", (long long)n, (int)v.n, v.p);
    *out = (uint64_t)n;
    return 0;
}

static int parse_int_or_name(sv_t v, const bounds_t *b, uint64_t *out, kl_errinfo_t *err)
{
    for (int i = 0; i < b->nnames; i++) {
        if (v.n == 3 && strncasecmp(v.p, b->names[i], 3) == 0) {
            *out = b->names_base + (unsigned)i;
            return 0;
        }
    }
    return parse_uint(v, out, err);
}

/* Splits v at every c; returns the number of pieces (at most max, the rest lands in the last). */
static size_t split(sv_t v, char c, sv_t *parts, size_t max)
{
    size_t k = 0;
    const char *p = v.p, *end = v.p + v.n;
    while (k + 1 < max) {
        const char *q = memchr(p, c, (size_t)(end - p));
        if (q == NULL)
            break;
        parts[k++] = (sv_t){p, (size_t)(q - p)};
        p = q + 1;
    }
    parts[k++] = (sv_t){p, (size_t)(end - p)};
    return k;
}

static size_t count_char(sv_t v, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < v.n; i++)
        k += v.p[i] == c;
    return k;
}

/* getRange: number | number "-" number [ "/" number ], or "*" / "?" [ "/" number ]. */
static int parse_range(sv_t expr, const bounds_t *b, uint64_t *bits, kl_errinfo_t *err)
{
    /* strings.Split on "/" and then on "-": only the piece counts and the first pieces
     * matter, since more than two of either is an error. */
    sv_t rs[2], lh[2];
    size_t nslash = count_char(expr, '/') + 1;
    split(expr, '/', rs, 2);
    size_t nhyph = count_char(rs[0], '-') + 1;
    split(rs[0], '-', lh, 2);
    sv_t first = lh[0];
    uint64_t start, end, step = 1, extra = 0;
    int rc;
    if (first.n == 1 && (first.p[0] == '*' || first.p[0] == '?')) {
        start = b->min;
        end = b->max;
        extra = STAR_BIT;
    } else {
        if ((rc = parse_int_or_name(first, b, &start, err)) < 0)
            return rc;
        if (nhyph == 1) {
            end = start;
        } else if (nhyph == 2) {
            if ((rc = parse_int_or_name(lh[1], b, &end, err)) < 0)
                return rc;
        } else {
            return perr(err, "too many hyphens: %.*s", (int)expr.n, expr.p);
        }
    }
    if (nslash == 2) {
        if ((rc = parse_uint(rs[1], &step, err)) < 0)
            return rc;
        if (nhyph == 1)
            end = b->max; /* "N/step" is "N-max/step" */
        if (step > 1)
            extra = 0;
    } else if (nslash > 2) {
        return perr(err, "too many slashes: %.*s", (int)expr.n, expr.p);
    }
    if (start < b->min)
        return perr(err, "beginning of range (%llu) below minimum (%u): %.*s",
                    (unsigned long long)start, b->min, (int)expr.n, expr.p);
    if (end > b->max)
        return perr(err, "end of range (%llu) above maximum (%u): %.*s", (unsigned long long)end,
                    b->max, (int)expr.n, expr.p);
    if (start > end)
        return perr(err, "beginning of range (%llu) beyond end of range (%llu): %.*s",
                    (unsigned long long)start, (unsigned long long)end, (int)expr.n, expr.p);
    if (step == 0)
        return perr(err, "step of range should be a positive number: %.*s", (int)expr.n, expr.p);
    uint64_t out = extra;
    for (uint64_t i = start; i <= end; i += step)
        out |= 1ULL << i;
    *bits = out;
    return 0;
}

/* getField: a comma-separated list of ranges; empty items are skipped. */
static int parse_field(sv_t field, const bounds_t *b, uint64_t *bits, kl_errinfo_t *err)
{
    uint64_t out = 0;
    const char *p = field.p, *end = field.p + field.n;
    while (p < end) {
        const char *q = memchr(p, ',', (size_t)(end - p));
        if (q == NULL)
            q = end;
        if (q > p) {
            uint64_t r = 0;
            int rc = parse_range((sv_t){p, (size_t)(q - p)}, b, &r, err);
            if (rc < 0)
                return rc;
            out |= r;
        }
        p = q + 1;
    }
    *bits = out;
    return 0;
}

static uint64_t all_bits(const bounds_t *b)
{
    uint64_t out = STAR_BIT;
    for (unsigned i = b->min; i <= b->max; i++)
        out |= 1ULL << i;
    return out;
}

static bool sv_eq(sv_t v, const char *s)
{
    return v.n == strlen(s) && memcmp(v.p, s, v.n) == 0;
}

static int parse_descriptor(sv_t d, kl_cron_t *c, kl_errinfo_t *err)
{
    c->minute = 1;
    c->hour = 1;
    c->dom = all_bits(&b_dom);
    c->month = all_bits(&b_month);
    c->dow = all_bits(&b_dow);
    if (sv_eq(d, "@yearly") || sv_eq(d, "@annually")) {
        c->dom = 1ULL << 1;
        c->month = 1ULL << 1;
    } else if (sv_eq(d, "@monthly")) {
        c->dom = 1ULL << 1;
    } else if (sv_eq(d, "@weekly")) {
        c->dow = 1;
    } else if (sv_eq(d, "@daily") || sv_eq(d, "@midnight")) {
    } else if (sv_eq(d, "@hourly")) {
        c->hour = all_bits(&b_hour);
    } else if (d.n >= 7 && memcmp(d.p, "@every ", 7) == 0) {
        char buf[512];
        kl_errinfo_t derr;
        int64_t ns;
        if (d.n - 7 >= sizeof(buf) || memchr(d.p + 7, '\0', d.n - 7) != NULL)
            return perr(err, "failed to parse duration %.*s: time: invalid duration", (int)d.n,
                        d.p);
        memcpy(buf, d.p + 7, d.n - 7);
        buf[d.n - 7] = '\0';
        if (kl_time_parse_duration(buf, &ns, &derr) < 0)
            return perr(err, "failed to parse duration %.*s: %s", (int)d.n, d.p, derr.msg);
        /* Every(): at least a second, sub-second parts dropped. */
        c->every = ns < 1000000000 ? 1 : ns / 1000000000;
    } else {
        return perr(err, "unrecognized descriptor: %.*s", (int)d.n, d.p);
    }
    return 0;
}

static int parse_fields(sv_t spec, kl_cron_t *c, kl_errinfo_t *err)
{
    sv_t f[6];
    size_t nf = 0, total = 0;
    const char *p = spec.p, *end = spec.p + spec.n;
    while (p < end) {
        size_t k;
        while (p < end && (k = space_len(p, (size_t)(end - p))) > 0)
            p += k;
        if (p >= end)
            break;
        const char *q = p;
        while (q < end && space_len(q, (size_t)(end - q)) == 0)
            q++;
        if (nf < 6)
            f[nf++] = (sv_t){p, (size_t)(q - p)};
        total++;
        p = q;
    }
    if (total != 5) {
        /* fmt's %s of a []string: "[a b c]". */
        char list[400];
        size_t o = 0;
        list[0] = '\0';
        p = spec.p;
        for (size_t i = 0; i < total && o + 1 < sizeof(list); i++) {
            size_t k;
            while ((k = space_len(p, (size_t)(end - p))) > 0)
                p += k;
            const char *q = p;
            while (q < end && space_len(q, (size_t)(end - q)) == 0)
                q++;
            int w = snprintf(list + o, sizeof(list) - o, "%s%.*s", i ? " " : "", (int)(q - p), p);
            o = w < 0 ? o : o + (size_t)w;
            if (o >= sizeof(list))
                o = sizeof(list) - 1;
            p = q;
        }
        return perr(err, "expected exactly 5 fields, found %zu: [%s]", total, list);
    }
    int rc;
    if ((rc = parse_field(f[0], &b_minute, &c->minute, err)) < 0 ||
        (rc = parse_field(f[1], &b_hour, &c->hour, err)) < 0 ||
        (rc = parse_field(f[2], &b_dom, &c->dom, err)) < 0 ||
        (rc = parse_field(f[3], &b_month, &c->month, err)) < 0 ||
        (rc = parse_field(f[4], &b_dow, &c->dow, err)) < 0)
        return rc;
    return 0;
}

int kl_cron_parse(const char *spec_str, kl_cron_t **out, kl_errinfo_t *err)
{
    if (spec_str == NULL || spec_str[0] == '\0')
        return perr(err, "empty spec string");
    kl_cron_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    sv_t spec = {spec_str, strlen(spec_str)};
    int rc;
    if (strncmp(spec_str, "TZ=", 3) == 0 || strncmp(spec_str, "CRON_TZ=", 8) == 0) {
        const char *sp = strchr(spec_str, ' ');
        const char *eq = strchr(spec_str, '=');
        if (sp == NULL) {
            /* Upstream slices with index -1 here and panics. */
            rc = perr(err, "provided bad location %s: no schedule after the time zone", eq + 1);
            goto out;
        }
        size_t nlen = (size_t)(sp - (eq + 1));
        c->tz_name = strndup(eq + 1, nlen);
        if (c->tz_name == NULL) {
            rc = kl_err(err, KL_ENOMEM, "out of memory");
            goto out;
        }
        if (nlen == 0 || strcmp(c->tz_name, "UTC") == 0) {
            c->tz = kl_tz_utc(); /* Go's LoadLocation("") is UTC */
        } else if (strcmp(c->tz_name, "Local") == 0) {
            c->tz = NULL; /* time.Local: Next evaluates in the time's own zone */
        } else {
            kl_errinfo_t zerr;
            rc = kl_tz_load(c->tz_name, &c->tz, &zerr);
            if (rc == KL_ENOMEM) {
                rc = kl_err(err, KL_ENOMEM, "out of memory");
                goto out;
            }
            if (rc < 0) {
                rc = perr(err, "provided bad location %s: %s", c->tz_name, zerr.msg);
                goto out;
            }
        }
        spec = trim_space((sv_t){sp, strlen(sp)});
    }
    if (spec.n > 0 && spec.p[0] == '@')
        rc = parse_descriptor(spec, c, err);
    else
        rc = parse_fields(spec, c, err);
    if (rc < 0)
        goto out;
    uint64_t dom = c->dom & ~STAR_BIT, dow = c->dow & ~STAR_BIT;
    bool and_rule = ((c->dom | c->dow) & STAR_BIT) != 0;
    c->never = c->every == 0 && ((c->minute & ~STAR_BIT) == 0 || (c->hour & ~STAR_BIT) == 0 ||
                                 (c->month & ~STAR_BIT) == 0 ||
                                 (and_rule ? (dom == 0 || dow == 0) : (dom == 0 && dow == 0)));
    *out = c;
    c = NULL;
    rc = 0;
out:
    kl_cron_free(c);
    return rc;
}

void kl_cron_free(kl_cron_t *c)
{
    if (c == NULL)
        return;
    free(c->tz_name);
    free(c);
}

const char *kl_cron_tz_name(const kl_cron_t *c)
{
    return c->tz_name;
}

/* ---- SpecSchedule.Next ---------------------------------------------------------------------- */

/* Civil time in one zone with the last offset interval looked up cached: inside it, civil
 * fields are plain arithmetic on local seconds. */
typedef struct cursor {
    const kl_tz_t *tz;
    int64_t lo, hi; /* off holds on [lo, hi) */
    int32_t off;
} cursor_t;

typedef struct civ {
    int64_t local; /* t + offset */
    int64_t year;
    int month, day, hour, min, sec, wday;
} civ_t;

static inline int32_t off_at(cursor_t *c, int64_t t)
{
    if (t < c->lo || t >= c->hi)
        c->off = kl__tz_lookup(c->tz, t, &c->lo, &c->hi);
    return c->off;
}

/* Leaves the cursor on t's interval. */
static void civil(cursor_t *c, int64_t t, civ_t *v)
{
    v->local = t + off_at(c, t);
    int64_t days = kl__floordiv(v->local, KL__SEC_PER_DAY);
    int64_t sod = v->local - days * KL__SEC_PER_DAY;
    kl__civil_from_days(days, &v->year, &v->month, &v->day);
    v->hour = (int)(sod / 3600);
    v->min = (int)(sod / 60 % 60);
    v->sec = (int)(sod % 60);
    v->wday = (int)kl__floormod(days + 4, 7);
}

/* Go's time.Date(y, mon, d, h, mi, s, 0, zone). */
static int64_t go_date(cursor_t *c, int64_t y, int64_t mon, int64_t d, int64_t h, int64_t mi,
                       int64_t s)
{
    int64_t m0 = mon - 1;
    y += kl__floordiv(m0, 12);
    int m = (int)kl__floormod(m0, 12) + 1;
    int64_t local = kl__days_from_civil(y, m, d) * KL__SEC_PER_DAY + h * 3600 + mi * 60 + s;
    int32_t o1 = off_at(c, local);
    return local - off_at(c, local - o1);
}

/* The instant `days` whole days after v (cursor on v's interval) when every step on the way is
 * what go_date gives without a zone change: both the instants and their local readings stay in
 * the cursor's interval. Returns false when that does not hold. */
static bool skip_days(const cursor_t *c, int64_t t, const civ_t *v, int64_t days, int64_t *out)
{
    int64_t local2 = v->local + days * KL__SEC_PER_DAY;
    int64_t t2 = local2 - c->off;
    int64_t lo = t < v->local ? t : v->local;
    int64_t hi = t2 > local2 ? t2 : local2;
    if (lo < c->lo || hi >= c->hi)
        return false;
    *out = t2;
    return true;
}

/* The first value in (cur, limit) whose bit is set, or limit. */
static inline int next_bit(uint64_t bits, int cur, int limit)
{
    uint64_t m = bits & ~((2ULL << cur) - 1) & ((1ULL << limit) - 1);
    return m == 0 ? limit : __builtin_ctzll(m);
}

static inline bool day_matches(const kl_cron_t *s, int day, int wday)
{
    bool dm = (s->dom >> day) & 1, wm = (s->dow >> wday) & 1;
    if ((s->dom | s->dow) & STAR_BIT)
        return dm && wm;
    return dm || wm;
}

/* SpecSchedule.Next, loop for loop. Where a loop would take several single steps inside one
 * offset interval it jumps to the step that changes the outcome instead; every other step is
 * taken one at a time exactly as upstream takes it. */
static int64_t spec_next(const kl_cron_t *s, const kl_tz_t *tz, int64_t t0)
{
    cursor_t c = {.tz = tz, .lo = 1, .hi = 0};
    civ_t v;
    int64_t t = t0 + 1, t2;
    bool added = false;
    int steps = 0;
    civil(&c, t, &v);
    int64_t year_limit = v.year + 5;

wrap:
    if (++steps > STEP_BUDGET)
        return 0;
    civil(&c, t, &v);
    if (v.year > year_limit)
        return 0;

    while (!((s->month >> v.month) & 1)) {
        if (++steps > STEP_BUDGET)
            return 0;
        if (!added) {
            added = true;
            t = go_date(&c, v.year, v.month, 1, 0, 0, 0);
            civil(&c, t, &v);
        }
        int target = next_bit(s->month, v.month, 13);
        if (target - v.month > 1 && v.day <= 28) {
            int64_t ty = v.year + (target == 13), tm = target == 13 ? 1 : target;
            int64_t days = kl__days_from_civil(ty, (int)tm, v.day) -
                           kl__days_from_civil(v.year, v.month, v.day);
            if (skip_days(&c, t, &v, days, &t2)) {
                t = t2;
                civil(&c, t, &v);
                if (v.month == 1)
                    goto wrap;
                continue;
            }
        }
        t = go_date(&c, v.year, v.month + 1, v.day, v.hour, v.min, v.sec);
        civil(&c, t, &v);
        if (v.month == 1)
            goto wrap;
    }

    while (!day_matches(s, v.day, v.wday)) {
        if (++steps > STEP_BUDGET)
            return 0;
        if (!added) {
            added = true;
            t = go_date(&c, v.year, v.month, v.day, 0, 0, 0);
            civil(&c, t, &v);
        }
        if (v.hour == 0) {
            int dim = kl__days_in_month(v.year, v.month), target = v.day + 1;
            while (target <= dim && !day_matches(s, target, (v.wday + target - v.day) % 7))
                target++;
            if (target - v.day > 1 && skip_days(&c, t, &v, target - v.day, &t2)) {
                t = t2;
                civil(&c, t, &v);
                if (v.day == 1)
                    goto wrap;
                continue;
            }
        }
        t = go_date(&c, v.year, v.month, (int64_t)v.day + 1, v.hour, v.min, v.sec);
        civil(&c, t, &v);
        /* Upstream's midnight-gap repair: a day step that did not land on hour 0 is pushed to
         * the nearest midnight. */
        if (v.hour != 0) {
            t += v.hour > 12 ? (int64_t)(24 - v.hour) * 3600 : -(int64_t)v.hour * 3600;
            civil(&c, t, &v);
        }
        if (v.day == 1)
            goto wrap;
    }

    while (!((s->hour >> v.hour) & 1)) {
        if (++steps > STEP_BUDGET)
            return 0;
        if (!added) {
            added = true;
            t = go_date(&c, v.year, v.month, v.day, v.hour, 0, 0);
            civil(&c, t, &v);
        }
        int k = next_bit(s->hour, v.hour, 24) - v.hour;
        t2 = t + (int64_t)k * 3600;
        t = k > 1 && t2 < c.hi ? t2 : t + 3600;
        civil(&c, t, &v);
        if (v.hour == 0)
            goto wrap;
    }

    while (!((s->minute >> v.min) & 1)) {
        if (++steps > STEP_BUDGET)
            return 0;
        if (!added) {
            added = true;
            t -= kl__floormod(t, 60); /* Truncate(time.Minute), on absolute time */
            civil(&c, t, &v);
        }
        int k = next_bit(s->minute, v.min, 60) - v.min;
        t2 = t + (int64_t)k * 60;
        t = k > 1 && t2 < c.hi ? t2 : t + 60;
        civil(&c, t, &v);
        if (v.min == 0)
            goto wrap;
    }

    /* The seconds field of a standard spec is always "0". */
    while (v.sec != 0) {
        if (++steps > STEP_BUDGET)
            return 0;
        added = true;
        int k = 60 - v.sec;
        t2 = t + k;
        t = k > 1 && t2 < c.hi ? t2 : t + 1;
        civil(&c, t, &v);
        if (v.sec == 0)
            goto wrap;
    }
    return t;
}

int64_t kl_cron_next(const kl_cron_t *c, const kl_tz_t *tz, int64_t t)
{
    if (t < -NEXT_RANGE || t > NEXT_RANGE)
        return 0;
    if (c->every > 0)
        return t + c->every;
    if (c->never)
        return 0;
    return spec_next(c, c->tz_name != NULL && c->tz != NULL ? c->tz : tz, t);
}

/* ---- mostRecentScheduleTime ----------------------------------------------------------------- */

int kl_cron_most_recent(const kl_cron_t *c, const kl_tz_t *tz, int64_t earliest, int64_t now,
                        kl_cron_recent_t *out, kl_errinfo_t *err)
{
    memset(out, 0, sizeof(*out));
    /* Keeps the arithmetic below far from overflow; next() answers 0 out there anyway. */
    earliest = earliest < -NEXT_RANGE ? -NEXT_RANGE : earliest > NEXT_RANGE ? NEXT_RANGE : earliest;
    now = now < -NEXT_RANGE ? -NEXT_RANGE : now > NEXT_RANGE ? NEXT_RANGE : now;
    int64_t t1 = kl_cron_next(c, tz, earliest);
    if (t1 != 0 && now < t1)
        return 0;
    int64_t t2 = t1 != 0 ? kl_cron_next(c, tz, t1) : 0;
    if (t1 != 0 && t2 != 0 && now < t2) {
        out->latest = t1;
        out->missed = 1;
        return 0;
    }
    if (t1 == 0 || t2 == 0 || t2 - t1 < 1)
        return kl_err(err, KL_EINVAL,
                      "time difference between two schedules is less than 1 second");
    int64_t interval = t2 - t1;
    int64_t missed = (now - t1) / interval + 1;
    out->missed = missed;
    /* Upstream walks next() from one interval before the estimated last slot. */
    int64_t p = t1 + (missed - 2) * interval;
    int64_t t = kl_cron_next(c, tz, p), latest = 0;
    int steps = 0;
    while (t != 0 && t <= now && ++steps < WALK_CAP) {
        latest = t;
        t = kl_cron_next(c, tz, t);
    }
    if (t != 0 && t <= now) {
        /* Only schedules with long gaps between dense runs get here. Where next() is monotonic
         * (everywhere but perhaps in a fall-back overlap) the last activation <= now is next(x)
         * for the largest x whose next() is <= now. */
        int64_t lo = t, hi = now;
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            int64_t n = kl_cron_next(c, tz, mid);
            if (n != 0 && n <= now)
                lo = mid;
            else
                hi = mid;
        }
        int64_t n = kl_cron_next(c, tz, lo);
        latest = n != 0 && n <= now ? n : t;
    }
    out->latest = latest;
    return 0;
}
