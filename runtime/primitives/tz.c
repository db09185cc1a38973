/* IANA time zones read from TZif files, with the semantics of Go's time.Location (zoneinfo.go,
 * zoneinfo_read.go): the 64-bit table of a v2+ file, the footer TZ rule for instants past the
 * last transition, Go's choice of zone before the first one. Never touches the process's TZ. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kubelua/ktime.h"

#include "primitives/tz_int.h"

#define TZ_ALPHA INT64_MIN
#define TZ_OMEGA INT64_MAX
#define TZ_MAX_FILE (10 << 20) /* Go's limit on a zoneinfo file */
#define TZ_MAX_NAME 255

/* A rule of a POSIX TZ string: Jn (1..365, no Feb 29), n (0..365) or Mm.w.d, and the local
 * time of day it fires at. */
enum { RULE_JULIAN, RULE_DOY, RULE_MWD };
typedef struct tz_rule {
    int kind;
    int day, week, mon;
    int32_t time;
} tz_rule_t;

typedef struct tz_type {
    int32_t off;
    bool isdst;
} tz_type_t;

struct kl_tz {
    struct kl_tz *next; /* cache list */
    char *name;
    size_t ntx;
    int64_t *tx_when; /* ascending; a fake transition at TZ_ALPHA when the file has none */
    uint8_t *tx_idx;
    size_t ntypes; /* 0 only for the built-in UTC */
    tz_type_t *types;
    int first; /* the type before the first transition (Go's lookupFirstZone) */
    /* The footer rule, used from the last transition on when ext_ok. */
    bool ext_ok;
    bool ext_dst; /* false: a fixed offset ext_std */
    int32_t ext_std, ext_dst_off;
    tz_rule_t ext_start, ext_end;
};

static kl_tz_t utc_zone = {.name = "UTC"};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static kl_tz_t *cache_head;

/* ---- POSIX TZ strings, parsed as Go's tzset does ------------------------------------------ */

/* A number in [min, max] at the start of *s; advances *s. */
static bool rule_num(const char **s, int min, int max, int *out)
{
    const char *p = *s;
    int num = 0;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9') {
        num = num * 10 + (*p - '0');
        if (num > max)
            return false;
        p++;
    }
    if (num < min)
        return false;
    *s = p;
    *out = num;
    return true;
}

static bool rule_name(const char **s)
{
    const char *p = *s;
    if (*p == '\0')
        return false;
    if (*p == '<') {
        const char *gt = strchr(p, '>');
        if (gt == NULL)
            return false;
        *s = gt + 1;
        return true;
    }
    size_t i = 0;
    for (; p[i] != '\0'; i++) {
        char c = p[i];
        if ((c >= '0' && c <= '9') || c == ',' || c == '-' || c == '+')
            break;
    }
    if (i < 3)
        return false;
    *s = p + i;
    return true;
}

/* [+-]hh[:mm[:ss]] with hh up to 167 (tzcode's extension); seconds added to local time give
 * UTC, as in the TZ string. */
static bool rule_offset(const char **s, int32_t *out)
{
    const char *p = *s;
    bool neg = false;
    int h, m = 0, sec = 0;
    if (*p == '+') {
        p++;
    } else if (*p == '-') {
        p++;
        neg = true;
    }
    if (!rule_num(&p, 0, 24 * 7, &h))
        return false;
    if (*p == ':') {
        p++;
        if (!rule_num(&p, 0, 59, &m))
            return false;
        if (*p == ':') {
            p++;
            if (!rule_num(&p, 0, 59, &sec))
                return false;
        }
    }
    int32_t off = h * 3600 + m * 60 + sec;
    *out = neg ? -off : off;
    *s = p;
    return true;
}

static bool rule_rule(const char **s, tz_rule_t *r)
{
    const char *p = *s;
    memset(r, 0, sizeof(*r));
    if (*p == 'J') {
        p++;
        if (!rule_num(&p, 1, 365, &r->day))
            return false;
        r->kind = RULE_JULIAN;
    } else if (*p == 'M') {
        p++;
        if (!rule_num(&p, 1, 12, &r->mon) || *p != '.')
            return false;
        p++;
        if (!rule_num(&p, 1, 5, &r->week) || *p != '.')
            return false;
        p++;
        if (!rule_num(&p, 0, 6, &r->day))
            return false;
        r->kind = RULE_MWD;
    } else {
        if (!rule_num(&p, 0, 365, &r->day))
            return false;
        r->kind = RULE_DOY;
    }
    r->time = 2 * 3600;
    if (*p == '/') {
        p++;
        if (!rule_offset(&p, &r->time))
            return false;
    }
    *s = p;
    return true;
}

static bool parse_extend(kl_tz_t *z, const char *s)
{
    int32_t std, dst;
    if (!rule_name(&s) || !rule_offset(&s, &std))
        return false;
    std = -std;
    if (*s == '\0' || *s == ',') {
        z->ext_ok = true;
        z->ext_dst = false;
        z->ext_std = std;
        return true;
    }
    if (!rule_name(&s))
        return false;
    if (*s == '\0' || *s == ',') {
        dst = std + 3600;
    } else {
        if (!rule_offset(&s, &dst))
            return false;
        dst = -dst;
    }
    if (*s == '\0')
        s = ",M3.2.0,M11.1.0"; /* tzcode's default rules */
    if (*s != ',' && *s != ';')
        return false;
    s++;
    if (!rule_rule(&s, &z->ext_start) || *s != ',')
        return false;
    s++;
    if (!rule_rule(&s, &z->ext_end) || *s != '\0')
        return false;
    z->ext_ok = true;
    z->ext_dst = true;
    z->ext_std = std;
    z->ext_dst_off = dst;
    return true;
}

/* Seconds from the start of the (UTC) year at which rule r fires, given the offset in effect
 * before it (Go's tzruleTime, Zeller's congruence included). */
static int64_t rule_time(int64_t year, const tz_rule_t *r, int32_t off)
{
    static const int days_before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t s = 0;
    switch (r->kind) {
    case RULE_JULIAN:
        s = (int64_t)(r->day - 1) * KL__SEC_PER_DAY;
        if (kl__is_leap(year) && r->day >= 60)
            s += KL__SEC_PER_DAY;
        break;
    case RULE_DOY:
        s = (int64_t)r->day * KL__SEC_PER_DAY;
        break;
    case RULE_MWD: {
        int64_t m1 = (r->mon + 9) % 12 + 1;
        int64_t yy0 = year;
        if (r->mon <= 2)
            yy0--;
        int64_t yy1 = yy0 / 100;
        int64_t yy2 = yy0 % 100;
        int64_t dow = ((26 * m1 - 2) / 10 + 1 + yy2 + yy2 / 4 + yy1 / 4 - 2 * yy1) % 7;
        if (dow < 0)
            dow += 7;
        int64_t d = r->day - dow;
        if (d < 0)
            d += 7;
        for (int i = 1; i < r->week; i++) {
            if (d + 7 >= kl__days_in_month(year, r->mon))
                break;
            d += 7;
        }
        d += days_before[r->mon - 1];
        if (kl__is_leap(year) && r->mon > 2)
            d++;
        s = d * KL__SEC_PER_DAY;
        break;
    }
    }
    return s + r->time - off;
}

static int32_t extend_lookup(const kl_tz_t *z, int64_t t, int64_t *start, int64_t *end)
{
    if (!z->ext_dst) {
        *start = TZ_ALPHA;
        *end = TZ_OMEGA;
        return z->ext_std;
    }
    int64_t days = kl__floordiv(t, KL__SEC_PER_DAY);
    int64_t y;
    int m, d;
    kl__civil_from_days(days, &y, &m, &d);
    int64_t ydays = kl__days_from_civil(y, 1, 1);
    int64_t abs = ydays * KL__SEC_PER_DAY;
    int64_t ysec = t - abs;
    int64_t ylen = (365 + kl__is_leap(y)) * (int64_t)KL__SEC_PER_DAY;
    int64_t s = rule_time(y, &z->ext_start, z->ext_std);
    int64_t e = rule_time(y, &z->ext_end, z->ext_dst_off);
    int32_t std = z->ext_std, dst = z->ext_dst_off;
    if (e < s) {
        int64_t tmp = s;
        s = e;
        e = tmp;
        int32_t o = std;
        std = dst;
        dst = o;
    }
    int64_t lo, hi;
    int32_t off;
    if (ysec < s) {
        off = std;
        lo = 0;
        hi = s;
    } else if (ysec >= e) {
        off = std;
        lo = e;
        hi = ylen;
    } else {
        off = dst;
        lo = s;
        hi = e;
    }
    /* The rule is evaluated per UTC year, so an interval never reaches past that year. */
    if (lo < 0)
        lo = 0;
    if (hi > ylen)
        hi = ylen;
    *start = abs + lo;
    *end = abs + hi;
    return off;
}

int32_t kl__tz_lookup(const kl_tz_t *z, int64_t t, int64_t *start, int64_t *end)
{
    if (z == NULL || z->ntypes == 0) {
        *start = TZ_ALPHA;
        *end = TZ_OMEGA;
        return 0;
    }
    if (t < z->tx_when[0]) {
        *start = TZ_ALPHA;
        *end = z->tx_when[0];
        return z->types[z->first].off;
    }
    size_t lo = 0, hi = z->ntx;
    int64_t e = TZ_OMEGA;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (t < z->tx_when[mid]) {
            e = z->tx_when[mid];
            hi = mid;
        } else {
            lo = mid;
        }
    }
    if (lo == z->ntx - 1 && z->ext_ok) {
        int32_t off = extend_lookup(z, t, start, end);
        if (*start < z->tx_when[lo])
            *start = z->tx_when[lo];
        return off;
    }
    *start = z->tx_when[lo];
    *end = e;
    return z->types[z->tx_idx[lo]].off;
}

/* ---- TZif ---------------------------------------------------------------------------------- */

typedef struct rd {
    const uint8_t *p;
    size_t n;
    bool bad;
} rd_t;

static const uint8_t *rd_take(rd_t *r, size_t n)
{
    if (r->bad || r->n < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->n -= n;
    return p;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static void zone_free(kl_tz_t *z)
{
    if (z == NULL || z == &utc_zone)
        return;
    free(z->name);
    free(z->tx_when);
    free(z->tx_idx);
    free(z->types);
    free(z);
}

static int first_zone(const kl_tz_t *z, size_t nreal)
{
    bool used = false;
    for (size_t i = 0; i < nreal; i++)
        if (z->tx_idx[i] == 0)
            used = true;
    if (!used)
        return 0;
    if (nreal > 0 && z->types[z->tx_idx[0]].isdst) {
        for (int zi = (int)z->tx_idx[0] - 1; zi >= 0; zi--)
            if (!z->types[zi].isdst)
                return zi;
    }
    for (size_t zi = 0; zi < z->ntypes; zi++)
        if (!z->types[zi].isdst)
            return (int)zi;
    return 0;
}

/* Builds a zone from TZif bytes; returns KL_EINVAL for malformed data, KL_ENOMEM. */
static int zone_from_tzif(const char *name, const uint8_t *data, size_t len, kl_tz_t **out)
{
    enum { N_UTCLOCAL, N_STDWALL, N_LEAP, N_TIME, N_ZONE, N_CHAR };
    rd_t r = {data, len, false};
    kl_tz_t *z = NULL;
    int rc = KL_EINVAL;
    const uint8_t *p = rd_take(&r, 4);
    if (p == NULL || memcmp(p, "TZif", 4) != 0)
        goto out;
    p = rd_take(&r, 16);
    if (p == NULL)
        goto out;
    int version;
    switch (p[0]) {
    case 0:
        version = 1;
        break;
    case '2':
    case '3':
    case '4':
        version = p[0] - '0';
        break;
    default:
        goto out;
    }
    size_t n[6];
    for (int i = 0; i < 6; i++) {
        if ((p = rd_take(&r, 4)) == NULL)
            goto out;
        n[i] = be32(p);
    }
    size_t size = 4;
    if (version > 1) {
        size_t skip = n[N_TIME] * 5 + n[N_ZONE] * 6 + n[N_CHAR] + n[N_LEAP] * 8 + n[N_STDWALL] +
                      n[N_UTCLOCAL] + 4 + 16;
        if (rd_take(&r, skip) == NULL)
            goto out;
        for (int i = 0; i < 6; i++) {
            if ((p = rd_take(&r, 4)) == NULL)
                goto out;
            n[i] = be32(p);
        }
        size = 8;
    }
    const uint8_t *txtimes = rd_take(&r, n[N_TIME] * size);
    const uint8_t *txzones = rd_take(&r, n[N_TIME]);
    const uint8_t *zonedata = rd_take(&r, n[N_ZONE] * 6);
    const uint8_t *abbrev = rd_take(&r, n[N_CHAR]);
    (void)abbrev;
    rd_take(&r, n[N_LEAP] * (size + 4));
    rd_take(&r, n[N_STDWALL]);
    rd_take(&r, n[N_UTCLOCAL]);
    if (r.bad || n[N_ZONE] == 0 || n[N_ZONE] > 256)
        goto out;

    rc = KL_ENOMEM;
    z = calloc(1, sizeof(*z));
    if (z == NULL)
        goto out;
    z->name = strdup(name);
    z->ntypes = n[N_ZONE];
    z->types = calloc(z->ntypes, sizeof(*z->types));
    z->ntx = n[N_TIME] ? n[N_TIME] : 1;
    z->tx_when = calloc(z->ntx, sizeof(*z->tx_when));
    z->tx_idx = calloc(z->ntx, sizeof(*z->tx_idx));
    if (z->name == NULL || z->types == NULL || z->tx_when == NULL || z->tx_idx == NULL)
        goto out;

    rc = KL_EINVAL;
    for (size_t i = 0; i < z->ntypes; i++) {
        const uint8_t *zd = zonedata + i * 6;
        z->types[i].off = (int32_t)be32(zd);
        z->types[i].isdst = zd[4] != 0;
        if (zd[5] >= n[N_CHAR])
            goto out;
    }
    for (size_t i = 0; i < n[N_TIME]; i++) {
        z->tx_when[i] = size == 8 ? be64(txtimes + i * 8) : (int64_t)(int32_t)be32(txtimes + i * 4);
        if (txzones[i] >= z->ntypes)
            goto out;
        z->tx_idx[i] = txzones[i];
        if (i > 0 && z->tx_when[i] < z->tx_when[i - 1])
            goto out; /* the binary search needs them sorted */
    }
    if (n[N_TIME] == 0) {
        z->tx_when[0] = TZ_ALPHA;
        z->tx_idx[0] = 0;
    }
    z->first = first_zone(z, n[N_TIME]);

    /* The footer: "\n<TZ string>\n" after the 64-bit data. */
    if (r.n > 2 && r.p[0] == '\n' && r.p[r.n - 1] == '\n') {
        char ext[256];
        size_t elen = r.n - 2;
        if (elen < sizeof(ext) && memchr(r.p + 1, '\0', elen) == NULL) {
            memcpy(ext, r.p + 1, elen);
            ext[elen] = '\0';
            if (!parse_extend(z, ext))
                z->ext_ok = false;
        }
    }
    *out = z;
    z = NULL;
    rc = 0;
out:
    zone_free(z);
    return rc;
}

/* Reads a regular file of at most TZ_MAX_FILE bytes. Returns 0, -errno-like KL codes:
 * KL_ENOTFOUND when absent, KL_EIO otherwise. */
static int read_file(const char *path, uint8_t **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? KL_ENOTFOUND : KL_EIO;
    int rc = KL_EIO;
    uint8_t *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > TZ_MAX_FILE)
        goto out;
    size_t cap = (size_t)st.st_size, n = 0;
    buf = malloc(cap + 1);
    if (buf == NULL) {
        rc = KL_ENOMEM;
        goto out;
    }
    while (n < cap) {
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    *data = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

/* Loads path as zone `name`. KL_ENOTFOUND when absent, KL_EINVAL when malformed, KL_EIO. */
static int load_path(const char *name, const char *path, kl_tz_t **out)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = read_file(path, &data, &len);
    if (rc < 0)
        return rc;
    rc = zone_from_tzif(name, data, len, out);
    free(data);
    return rc;
}

static int load_from_dirs(const char *name, const char *file, bool use_env, kl_tz_t **out)
{
    static const char *const dirs[] = {"/usr/share/zoneinfo", "/usr/share/lib/zoneinfo",
                                       "/usr/lib/locale/TZ", "/etc/zoneinfo"};
    char path[4096];
    int first_err = KL_ENOTFOUND;
    const char *env = use_env ? getenv("ZONEINFO") : NULL;
    for (int i = -1; i < (int)(sizeof(dirs) / sizeof(dirs[0])); i++) {
        const char *dir = i < 0 ? env : dirs[i];
        if (dir == NULL || dir[0] == '\0')
            continue;
        int k = snprintf(path, sizeof(path), "%s/%s", dir, file);
        if (k < 0 || (size_t)k >= sizeof(path))
            continue;
        int rc = load_path(name, path, out);
        if (rc == 0 || rc == KL_ENOMEM)
            return rc;
        if (first_err == KL_ENOTFOUND)
            first_err = rc;
    }
    return first_err;
}

/* Go's initLocal: $TZ unset -> /etc/localtime; TZ=":x" or "x" -> that file or zone; anything
 * that fails, TZ="" or TZ="UTC" -> UTC. */
static int load_local(kl_tz_t **out)
{
    const char *tz = getenv("TZ");
    int rc = KL_ENOTFOUND;
    if (tz == NULL) {
        rc = load_path("Local", "/etc/localtime", out);
    } else {
        if (tz[0] == ':')
            tz++;
        if (tz[0] == '/')
            rc = load_path("Local", tz, out);
        else if (tz[0] != '\0' && strcmp(tz, "UTC") != 0 && strlen(tz) <= TZ_MAX_NAME)
            rc = load_from_dirs("Local", tz, false, out);
    }
    if (rc == KL_ENOMEM)
        return rc;
    if (rc < 0) {
        kl_tz_t *z = calloc(1, sizeof(*z));
        if (z == NULL || (z->name = strdup("Local")) == NULL) {
            free(z);
            return KL_ENOMEM;
        }
        *out = z; /* no types: UTC */
    }
    return 0;
}

int kl_tz_load(const char *name, const kl_tz_t **out, kl_errinfo_t *err)
{
    if (name == NULL)
        return kl_err(err, KL_EINVAL, "time zone name is NULL");
    if (strcmp(name, "UTC") == 0) {
        *out = &utc_zone;
        return 0;
    }
    bool local = name[0] == '\0' || strcmp(name, "Local") == 0;
    const char *key = local ? "Local" : name;
    if (!local && (strstr(name, "..") != NULL || name[0] == '/' || name[0] == '\\'))
        return kl_err(err, KL_ENOTFOUND, "time: invalid location name");
    if (strlen(name) > TZ_MAX_NAME)
        return kl_err(err, KL_ENOTFOUND, "unknown time zone %.64s...", name);

    pthread_mutex_lock(&cache_mu);
    kl_tz_t *z;
    for (z = cache_head; z != NULL; z = z->next)
        if (strcmp(z->name, key) == 0)
            break;
    int rc = 0;
    if (z == NULL) {
        rc = local ? load_local(&z) : load_from_dirs(name, name, true, &z);
        if (rc == 0) {
            z->next = cache_head;
            cache_head = z;
        }
    }
    pthread_mutex_unlock(&cache_mu);

    switch (rc) {
    case 0:
        *out = z;
        return 0;
    case KL_ENOMEM:
        return kl_err(err, KL_ENOMEM, "out of memory loading time zone %s", name);
    case KL_EINVAL:
        return kl_err(err, KL_ENOTFOUND, "malformed time zone information");
    default:
        return kl_err(err, KL_ENOTFOUND, "unknown time zone %s", name);
    }
}

const kl_tz_t *kl_tz_utc(void)
{
    return &utc_zone;
}

const char *kl_tz_name(const kl_tz_t *tz)
{
    return tz == NULL ? "UTC" : tz->name;
}

int32_t kl_tz_offset(const kl_tz_t *tz, int64_t t)
{
    int64_t s, e;
    return kl__tz_lookup(tz, t, &s, &e);
}

void kl_tz_civil(const kl_tz_t *tz, int64_t t, kl_civil_t *out)
{
    t = kl__clamp_time(t);
    int32_t off = kl_tz_offset(tz, t);
    int64_t local = t + off;
    int64_t days = kl__floordiv(local, KL__SEC_PER_DAY);
    int64_t sod = local - days * KL__SEC_PER_DAY;
    int64_t y;
    kl__civil_from_days(days, &y, &out->month, &out->day);
    out->year = (int)y;
    out->hour = (int)(sod / 3600);
    out->minute = (int)(sod / 60 % 60);
    out->second = (int)(sod % 60);
    out->weekday = (int)kl__floormod(days + 4, 7);
    out->offset = off;
}

int64_t kl_tz_from_civil(const kl_tz_t *tz, int year, int month, int day, int hour, int minute,
                         int second)
{
    int64_t m0 = (int64_t)month - 1;
    int64_t y = (int64_t)year + kl__floordiv(m0, 12);
    int m = (int)kl__floormod(m0, 12) + 1;
    int64_t local = kl__days_from_civil(y, m, day) * KL__SEC_PER_DAY + (int64_t)hour * 3600 +
                    (int64_t)minute * 60 + second;
    local = kl__clamp_time(local);
    int32_t o1 = kl_tz_offset(tz, local);
    return local - kl_tz_offset(tz, local - o1);
}
