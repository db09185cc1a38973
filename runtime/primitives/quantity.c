/* Resource quantities: a port of ParseQuantity's scanner and suffix rules, with exact arithmetic
 * on the parsed digits instead of inf.Dec (the result always fits in 128 bits of nanounits). */
#include "kubelua/quantity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_FORMAT                                                                                 \
    "quantities must match the regular expression "                                                \
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
#define MSG_NUMERIC "unable to parse numeric part of quantity"
#define MSG_SUFFIX "unable to parse quantity's suffix"

#define NANO 1000000000u

__extension__ typedef unsigned __int128 u128;

/* (2^63 - 1) units in nanounits: the largest magnitude a quantity keeps. */
static const u128 cap_nanos = (u128)INT64_MAX * NANO;

typedef struct scan {
    bool positive;
    bool has_digit;  /* the numeric part holds at least one digit */
    const char *num; /* integer digits without leading zeros ("0" when none) */
    size_t num_len;
    const char *denom; /* fraction digits */
    size_t denom_len;
    const char *suffix;
    size_t suffix_len;
} scan_t;

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* parseQuantityString. Returns false for ErrFormatWrong. */
static bool scan_quantity(const char *s, size_t end, scan_t *q)
{
    size_t pos = 0;
    *q = (scan_t){.positive = true, .num = "0", .num_len = 1, .denom = "", .suffix = ""};
    if (pos < end && (s[0] == '-' || s[0] == '+')) {
        q->positive = s[0] == '+';
        pos++;
    }
    while (pos < end && s[pos] == '0') {
        pos++;
        q->has_digit = true;
    }
    if (pos >= end) {
        q->has_digit = true; /* upstream returns value "0" here */
        return true;
    }
    size_t start = pos;
    while (pos < end && is_digit(s[pos]))
        pos++;
    if (pos > start) {
        q->num = s + start;
        q->num_len = pos - start;
        q->has_digit = true;
    }
    if (pos >= end)
        return true;
    if (s[pos] == '.') {
        pos++;
        start = pos;
        while (pos < end && is_digit(s[pos]))
            pos++;
        q->denom = s + start;
        q->denom_len = pos - start;
        if (pos > start)
            q->has_digit = true;
        if (pos >= end)
            return true;
    }
    size_t suffix_start = pos;
    while (pos < end && strchr("eEinumkKMGTP", s[pos]) != NULL)
        pos++;
    if (pos < end && (s[pos] == '-' || s[pos] == '+'))
        pos++;
    while (pos < end && is_digit(s[pos]))
        pos++;
    if (pos < end)
        return false;
    q->suffix = s + suffix_start;
    q->suffix_len = end - suffix_start;
    return true;
}

typedef enum { FMT_DECIMAL_SI, FMT_BINARY_SI, FMT_DECIMAL_EXPONENT } format_t;

static bool suffix_is(const scan_t *q, const char *lit)
{
    return q->suffix_len == strlen(lit) && memcmp(q->suffix, lit, q->suffix_len) == 0;
}

/* Go's strconv.ParseInt(s, 10, 64). */
static bool parse_int64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i >= n)
        return false;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* quantitySuffixer.interpret. */
static bool interpret_suffix(const scan_t *q, int *base, int32_t *exponent, format_t *fmt)
{
    static const struct {
        const char *s;
        int32_t exp;
    } dec[] = {{"n", -9}, {"u", -6}, {"m", -3}, {"", 0},   {"k", 3},
               {"M", 6},  {"G", 9},  {"T", 12}, {"P", 15}, {"E", 18}},
      bin[] = {{"Ki", 10}, {"Mi", 20}, {"Gi", 30}, {"Ti", 40}, {"Pi", 50}, {"Ei", 60}};
    for (size_t i = 0; i < sizeof(dec) / sizeof(dec[0]); i++) {
        if (suffix_is(q, dec[i].s)) {
            *base = 10;
            *exponent = dec[i].exp;
            *fmt = FMT_DECIMAL_SI;
            return true;
        }
    }
    for (size_t i = 0; i < sizeof(bin) / sizeof(bin[0]); i++) {
        if (suffix_is(q, bin[i].s)) {
            *base = 2;
            *exponent = bin[i].exp;
            *fmt = FMT_BINARY_SI;
            return true;
        }
    }
    if (q->suffix_len > 1 && (q->suffix[0] == 'e' || q->suffix[0] == 'E')) {
        int64_t v;
        if (!parse_int64(q->suffix + 1, q->suffix_len - 1, &v))
            return false;
        *base = 10;
        *exponent = (int32_t)(uint32_t)(uint64_t)v; /* Go's int32(parsed) wraps */
        *fmt = FMT_DECIMAL_EXPONENT;
        return true;
    }
    return false;
}

/* Whether ParseQuantity takes its int64 fast path (which cannot fail) rather than inf.Dec's
 * SetString (which fails without digits). */
static bool fast_path(const scan_t *q, int32_t exponent, format_t fmt)
{
    int64_t precision, scale = 0;
    uint64_t mantissa = 1;
    if (fmt == FMT_BINARY_SI) {
        if (q->denom_len != 0)
            return false;
        mantissa <<= exponent;
        precision = 15 - (int64_t)q->num_len - (int64_t)((float)exponent * 3 / 10) - 1;
    } else {
        scale = exponent;
        precision = 18 - (int64_t)(q->num_len + q->denom_len);
    }
    if (precision < 0)
        return false;
    scale -= (int64_t)q->denom_len;
    if (scale < -9)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < q->num_len; i++)
        v = v * 10 + (uint64_t)(q->num[i] - '0');
    for (size_t i = 0; i < q->denom_len; i++)
        v = v * 10 + (uint64_t)(q->denom[i] - '0');
    return v == 0 || mantissa <= (uint64_t)INT64_MAX / v;
}

/* Saturating helpers on nanounit magnitudes. */
static u128 sat_mul_add(u128 acc, unsigned mul, unsigned add, bool *sat)
{
    if (*sat || acc > (cap_nanos - add) / mul) {
        *sat = true;
        return cap_nanos;
    }
    return acc * mul + add;
}

static char digit_at(const scan_t *q, size_t i)
{
    return i < q->num_len ? q->num[i] : q->denom[i - q->num_len];
}

/* The magnitude in nanounits, rounded up, saturated at cap_nanos. */
static u128 magnitude(const scan_t *q, int base, int32_t exponent)
{
    size_t k = q->num_len + q->denom_len;
    int e2 = base == 2 ? exponent : 0;
    int64_t e10 = (base == 10 ? (int64_t)exponent : 0) - (int64_t)q->denom_len + 9;
    bool sat = false;
    u128 acc = 0;
    if (e10 >= 0) {
        for (size_t i = 0; i < k; i++)
            acc = sat_mul_add(acc, 10, (unsigned)(digit_at(q, i) - '0'), &sat);
        if (acc == 0)
            return 0;
        for (int64_t i = 0; i < e10 && !sat; i++)
            acc = sat_mul_add(acc, 10, 0, &sat);
        for (int i = 0; i < e2 && !sat; i++)
            acc = sat_mul_add(acc, 2, 0, &sat);
        return acc;
    }
    /* The last m digits (with leading zeros when m > k) are a fraction f = D_low / 10^m. */
    uint64_t m = (uint64_t)(-e10);
    size_t whole = k > m ? k - (size_t)m : 0;
    for (size_t i = 0; i < whole; i++)
        acc = sat_mul_add(acc, 10, (unsigned)(digit_at(q, i) - '0'), &sat);
    for (int i = 0; i < e2 && !sat; i++)
        acc = sat_mul_add(acc, 2, 0, &sat);
    /* floor(f * 2^e2) and whether a remainder is left: multiply the fraction's digits by 2^e2
     * from the right, as on paper. Carries stay below 2^e2 <= 2^60, so uint64 suffices. */
    uint64_t mul = (uint64_t)1 << e2, carry = 0;
    bool rem = false;
    for (size_t i = k; i > whole; i--) {
        uint64_t t = (uint64_t)(digit_at(q, i - 1) - '0') * mul + carry;
        rem |= t % 10 != 0;
        carry = t / 10;
    }
    /* Leading zeros of the fraction (m > k): they only shift the carry right. */
    for (uint64_t z = m > k ? m - k : 0; z > 0 && carry != 0; z--) {
        rem |= carry % 10 != 0;
        carry /= 10;
    }
    if (sat)
        return cap_nanos;
    u128 add = (u128)carry + (rem ? 1 : 0);
    if (acc > cap_nanos - add)
        return cap_nanos;
    return acc + add;
}

int kl_quantity_parse(const char *s, size_t len, kl_quantity_t *out, kl_errinfo_t *err)
{
    if (len == 0)
        return kl_err(err, KL_ESYNTAX, "%s", MSG_FORMAT);
    scan_t q;
    if (!scan_quantity(s, len, &q))
        return kl_err(err, KL_ESYNTAX, "%s", MSG_FORMAT);
    int base;
    int32_t exponent;
    format_t fmt;
    if (!interpret_suffix(&q, &base, &exponent, &fmt))
        return kl_err(err, KL_ESYNTAX, "%s", MSG_SUFFIX);
    if (!q.has_digit && !fast_path(&q, exponent, fmt))
        return kl_err(err, KL_ESYNTAX, "%s", MSG_NUMERIC);
    u128 n = magnitude(&q, base, exponent);
    out->units = (uint64_t)(n / NANO);
    out->nanos = (uint32_t)(n % NANO);
    out->neg = !q.positive && n != 0;
    return 0;
}

int kl_quantity_from_val(kl_val_t v, kl_quantity_t *out, kl_errinfo_t *err)
{
    switch (kl_val_type(v)) {
    case KL_TNULL:
        *out = (kl_quantity_t){0};
        return 0;
    case KL_TINT: {
        int64_t i = kl_val_int(v);
        *out =
            (kl_quantity_t){.neg = i < 0, .units = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i};
        if (out->units > (uint64_t)INT64_MAX)
            out->units = (uint64_t)INT64_MAX;
        return 0;
    }
    case KL_TDOUBLE: {
        double d = kl_val_number(v);
        char buf[40];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, sizeof(buf), "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        return kl_quantity_parse(buf, strlen(buf), out, err);
    }
    case KL_TSTRING: {
        size_t n;
        const char *s = kl_val_str(v, &n);
        /* UnmarshalJSON trims surrounding white space. */
        while (n > 0 && strchr(" \t\r\n\v\f", *s) != NULL) {
            s++;
            n--;
        }
        while (n > 0 && strchr(" \t\r\n\v\f", s[n - 1]) != NULL)
            n--;
        return kl_quantity_parse(s, n, out, err);
    }
    default:
        return kl_err(err, KL_ESYNTAX, "%s", MSG_FORMAT);
    }
}

int64_t kl_quantity_value(const kl_quantity_t *q)
{
    uint64_t v = q->units + (q->nanos ? 1 : 0);
    if (v > (uint64_t)INT64_MAX)
        v = (uint64_t)INT64_MAX;
    return q->neg ? -(int64_t)v : (int64_t)v;
}

int64_t kl_quantity_milli(const kl_quantity_t *q)
{
    uint64_t frac = (q->nanos + 999999u) / 1000000u;
    uint64_t v;
    if (q->units > ((uint64_t)INT64_MAX - frac) / 1000)
        return q->neg ? INT64_MIN : INT64_MAX;
    v = q->units * 1000 + frac;
    return q->neg ? -(int64_t)v : (int64_t)v;
}

int kl_quantity_cmp(const kl_quantity_t *a, const kl_quantity_t *b)
{
    bool az = kl_quantity_is_zero(a), bz = kl_quantity_is_zero(b);
    int sa = az ? 0 : a->neg ? -1 : 1, sb = bz ? 0 : b->neg ? -1 : 1;
    if (sa != sb)
        return sa < sb ? -1 : 1;
    int c = a->units != b->units   ? (a->units < b->units ? -1 : 1)
            : a->nanos != b->nanos ? (a->nanos < b->nanos ? -1 : 1)
                                   : 0;
    return sa < 0 ? -c : c;
}

bool kl_quantity_is_zero(const kl_quantity_t *q)
{
    return q->units == 0 && q->nanos == 0;
}

double kl_quantity_double(const kl_quantity_t *q)
{
    double d = (double)q->units + (double)q->nanos / 1e9;
    return q->neg ? -d : d;
}
