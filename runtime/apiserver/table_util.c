/* Cell writers, label and selector formatting, and time helpers for the table printers.
 *
 * The time helpers stand in for kl_time_parse_rfc3339() and kl_time_human_duration() from
 * kubelua/ktime.h, which were not implemented when this was written; they follow the same
 * behaviour (Go's time.Parse(time.RFC3339) and apimachinery's duration.HumanDuration) and can
 * be swapped for the ktime.h functions once those exist.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/json.h"
#include "kubelua/selector.h"

#include "apiserver/table_int.h"

const char kl__desc_name[] =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const char kl__desc_created[] =
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata";
const char kl__desc_containers[] = "Names of each container in the template.";
const char kl__desc_images[] = "Images referenced by each container in the template.";

/* ---- Cells ------------------------------------------------------------------------------ */

static bool cell_sep(kl__cells_t *c)
{
    if (c->rc < 0)
        return false;
    if (c->n++ > 0 && (c->rc = kl_buf_putc(c->out, ',')) < 0)
        return false;
    return true;
}

void kl__cell_strn(kl__cells_t *c, const char *s, size_t n)
{
    if (cell_sep(c))
        c->rc = kl_json_quote(c->out, s ? s : "", s ? n : 0);
}

void kl__cell_str(kl__cells_t *c, const char *s)
{
    kl__cell_strn(c, s, s ? strlen(s) : 0);
}

void kl__cell_printf(kl__cells_t *c, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(buf))
        n = (int)sizeof(buf) - 1;
    kl__cell_strn(c, buf, (size_t)n);
}

void kl__cell_int(kl__cells_t *c, int64_t v)
{
    if (cell_sep(c))
        c->rc = kl_buf_printf(c->out, "%lld", (long long)v);
}

void kl__cell_double(kl__cells_t *c, double v)
{
    /* A stack node: kl_json_encode formats doubles as Go's encoding/json does. */
    kl_json_t j = {.type = KL_TDOUBLE};
    j.u.d = v;
    if (cell_sep(c))
        c->rc = kl_json_encode(&j, c->out);
}

void kl__cell_bool(kl__cells_t *c, bool v)
{
    if (cell_sep(c))
        c->rc = kl_buf_puts(c->out, v ? "true" : "false");
}

void kl__cell_null(kl__cells_t *c)
{
    if (cell_sep(c))
        c->rc = kl_buf_puts(c->out, "null");
}

void kl__tmp_reset(kl__cells_t *c)
{
    kl_buf_reset(&c->tmp);
}

void kl__tmp_putn(kl__cells_t *c, const char *s, size_t n)
{
    if (c->rc == 0 && n > 0)
        c->rc = kl_buf_append(&c->tmp, s, n);
}

void kl__tmp_puts(kl__cells_t *c, const char *s)
{
    kl__tmp_putn(c, s, strlen(s));
}

void kl__tmp_printf(kl__cells_t *c, const char *fmt, ...)
{
    if (c->rc < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    c->rc = kl_buf_vprintf(&c->tmp, fmt, ap);
    va_end(ap);
}

void kl__cell_tmp(kl__cells_t *c)
{
    kl__cell_strn(c, c->tmp.data ? c->tmp.data : "", c->tmp.len);
}

void kl__cell_age(kl__cells_t *c, kl_val_t ts)
{
    int64_t sec;
    int32_t nsec;
    char buf[32];
    if (!kl__time_of(ts, &sec, &nsec)) {
        kl__cell_str(c, "<unknown>");
        return;
    }
    kl__since(c->now, sec, nsec, buf, sizeof(buf));
    kl__cell_str(c, buf);
}

/* ---- Values ----------------------------------------------------------------------------- */

const char *kl__str(kl_val_t v, const char *key, size_t *len)
{
    const char *s = kl_val_str(kl_val_get(v, key), len);
    if (s == NULL) {
        if (len)
            *len = 0;
        return "";
    }
    return s;
}

bool kl__str_is(kl_val_t v, const char *s)
{
    size_t n;
    const char *vs = kl_val_str(v, &n);
    return vs != NULL && n == strlen(s) && memcmp(vs, s, n) == 0;
}

bool kl__present(kl_val_t v)
{
    return !kl_val_missing(v) && kl_val_type(v) != KL_TNULL;
}

/* ---- Labels and selectors --------------------------------------------------------------- */

typedef struct strref {
    const char *s;
    size_t len;
} strref_t;

/* Go's string ordering: bytewise, a prefix first. */
static int strref_cmp(const void *a, const void *b)
{
    const strref_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->s, y->s, n);
    if (r != 0)
        return r;
    return x->len < y->len ? -1 : x->len > y->len;
}

void kl__cell_labels(kl__cells_t *c, kl_val_t map)
{
    if (c->rc < 0)
        return;
    uint32_t n = kl_val_type(map) == KL_TOBJECT ? kl_val_len(map) : 0;
    if (n == 0) {
        kl__cell_str(c, "<none>");
        return;
    }
    /* Set.String() sorts the "key=value" strings, so build them first. */
    kl_buf_t all;
    kl_buf_init(&all, KL_BUF_DEFAULT_MAX);
    size_t *offs = calloc(n, sizeof(*offs) * 2);
    strref_t *refs = calloc(n, sizeof(*refs));
    int rc = offs && refs ? 0 : KL_ENOMEM;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        size_t kn, vn;
        const char *k;
        kl_val_t v = kl_val_member(map, i, &k, &kn);
        const char *vs = kl_val_str(v, &vn);
        offs[2 * i] = all.len;
        if ((rc = kl_buf_append(&all, k, kn)) == 0 && (rc = kl_buf_putc(&all, '=')) == 0 && vs)
            rc = kl_buf_append(&all, vs, vn);
        offs[2 * i + 1] = all.len - offs[2 * i];
    }
    if (rc == 0) {
        for (uint32_t i = 0; i < n; i++)
            refs[i] = (strref_t){all.data + offs[2 * i], offs[2 * i + 1]};
        qsort(refs, n, sizeof(*refs), strref_cmp);
        kl__tmp_reset(c);
        for (uint32_t i = 0; i < n; i++) {
            if (i)
                kl__tmp_puts(c, ",");
            kl__tmp_putn(c, refs[i].s, refs[i].len);
        }
        kl__cell_tmp(c);
    } else {
        c->rc = rc;
    }
    free(refs);
    free(offs);
    kl_buf_cleanup(&all);
}

/* LabelSelectorAsSelector(sel).String() into c->tmp, through the shared selector module (which
 * validates keys, values and operators as apimachinery does). Returns 1 when the string is
 * empty (a missing, null or empty selector), -1 when the selector is invalid, 0 otherwise. */
static int selector_string(kl__cells_t *c, kl_val_t sel)
{
    if (c->rc < 0)
        return -1;
    kl_selector_t *s = NULL;
    int rc = kl_selector_from_val(sel, true, &s, NULL);
    if (rc < 0) {
        if (rc == KL_ENOMEM)
            c->rc = rc;
        return -1;
    }
    kl__tmp_reset(c);
    c->rc = kl_selector_format(s, &c->tmp);
    kl_selector_free(s);
    return c->tmp.len == 0 ? 1 : 0;
}

void kl__cell_selector(kl__cells_t *c, kl_val_t selector)
{
    int r = selector_string(c, selector);
    if (r > 0)
        kl__cell_str(c, "<none>");
    else if (r < 0)
        kl__cell_str(c, "<error>");
    else
        kl__cell_tmp(c);
}

void kl__cell_selector_raw(kl__cells_t *c, kl_val_t selector)
{
    int r = selector_string(c, selector);
    if (r > 0)
        kl__cell_str(c, "");
    else if (r < 0)
        kl__cell_str(c, "<invalid>");
    else
        kl__cell_tmp(c);
}

void kl__cell_containers(kl__cells_t *c, kl_val_t containers)
{
    uint32_t n = kl_val_type(containers) == KL_TARRAY ? kl_val_len(containers) : 0;
    static const char *const fields[] = {"name", "image"};
    for (int f = 0; f < 2; f++) {
        kl__tmp_reset(c);
        for (uint32_t i = 0; i < n; i++) {
            size_t len;
            const char *s = kl__str(kl_val_at(containers, i), fields[f], &len);
            if (i)
                kl__tmp_puts(c, ",");
            kl__tmp_putn(c, s, len);
        }
        kl__cell_tmp(c);
    }
}

/* ---- Time ------------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
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

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

int kl__time_parse(const char *s, size_t len, int64_t *sec, int32_t *nsec)
{
    int y, mo, d, h, mi, se;
    if (len < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' ||
        !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return KL_ESYNTAX;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59)
        return KL_ESYNTAX;
    size_t i = 19;
    int32_t ns = 0;
    if (i < len && (s[i] == '.' || s[i] == ',')) {
        size_t start = ++i;
        int scale = 100000000;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            ns += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start)
            return KL_ESYNTAX;
    }
    int off = 0;
    if (i < len && s[i] == 'Z') {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (!digits(s + i + 1, 2, &oh) || s[i + 3] != ':' || !digits(s + i + 4, 2, &om) ||
            oh > 23 || om > 59)
            return KL_ESYNTAX;
        off = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return KL_ESYNTAX;
    }
    if (i != len)
        return KL_ESYNTAX;
    *sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    *nsec = ns;
    return 0;
}

bool kl__time_of(kl_val_t v, int64_t *sec, int32_t *nsec)
{
    size_t len;
    const char *s = kl_val_str(v, &len);
    if (s == NULL || len == 0 || kl__time_parse(s, len, sec, nsec) < 0)
        return false;
    return !(*sec == KL__ZERO_TIME_SEC && *nsec == 0);
}

void kl__time_format(int64_t sec, char *out)
{
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, 32, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60));
}

void kl__human_duration(int64_t seconds, char *out, size_t cap)
{
    if (seconds < -1) {
        snprintf(out, cap, "<invalid>");
        return;
    }
    if (seconds < 0)
        seconds = 0;
    if (seconds < 60 * 2) {
        snprintf(out, cap, "%llds", (long long)seconds);
        return;
    }
    long long minutes = seconds / 60;
    if (minutes < 10) {
        long long s = seconds % 60;
        if (s == 0)
            snprintf(out, cap, "%lldm", minutes);
        else
            snprintf(out, cap, "%lldm%llds", minutes, s);
        return;
    }
    if (minutes < 60 * 3) {
        snprintf(out, cap, "%lldm", minutes);
        return;
    }
    long long hours = seconds / 3600;
    if (hours < 8) {
        long long m = minutes % 60;
        if (m == 0)
            snprintf(out, cap, "%lldh", hours);
        else
            snprintf(out, cap, "%lldh%lldm", hours, m);
    } else if (hours < 48) {
        snprintf(out, cap, "%lldh", hours);
    } else if (hours < 24 * 8) {
        long long h = hours % 24;
        if (h == 0)
            snprintf(out, cap, "%lldd", hours / 24);
        else
            snprintf(out, cap, "%lldd%lldh", hours / 24, h);
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

void kl__since(int64_t now, int64_t sec, int32_t nsec, char *out, size_t cap)
{
    /* Go truncates (now - t).Seconds() toward zero: a fraction in t lowers a positive
     * difference by one second and leaves a negative or zero one alone. */
    int64_t d = now - sec;
    if (nsec > 0 && d > 0)
        d--;
    kl__human_duration(d, out, cap);
}
