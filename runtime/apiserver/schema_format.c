/* apiserver/schema_format.c - OpenAPI string formats, `pattern` regular expressions and Go's
 * rendering of values, for custom resource validation.
 *
 * Patterns are ECMA-262 regular expressions; PCRE2 compiles them with the options that make it
 * agree with Go's regexp on the common subset: UTF-8 (a `.` is a character, not a byte), `$` only
 * at the very end, `\uhhhh` escapes, and ASCII-only `\d`, `\w`, `\s`. Formats are checked the way
 * kube-openapi's strfmt registry checks them (the regular expressions are theirs; the net, mail
 * and url parsers of Go are approximated by small hand-written checks).
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/buf.h"
#include "kubelua/json.h"

#include "apiserver/schema_int.h"

/* ---- Regular expressions -------------------------------------------------------------- */

void *kl__regex_compile(const char *pattern, char *err, size_t errlen)
{
    int code = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                      PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX, &code, &off, NULL);
    if (re == NULL) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", code);
        if (err != NULL)
            snprintf(err, errlen, "%s at offset %zu", (const char *)msg, (size_t)off);
        return NULL;
    }
    /* JIT is an optimisation: the interpreter is used when it is not available. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

int kl__regex_search(const void *re, const char *s, size_t len)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (md == NULL)
        return -1;
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    if (rc >= 0)
        return 1;
    return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

void kl__regex_free(void *re)
{
    pcre2_code_free(re);
}

/* ---- Formats -------------------------------------------------------------------------- */

/* The strfmt regular expressions, compiled once. */
enum {
    RX_HOSTNAME,
    RX_UUID,
    RX_UUID3,
    RX_UUID4,
    RX_UUID5,
    RX_BASE64,
    RX_DATETIME,
    RX_HEXCOLOR,
    RX_RGBCOLOR,
    RX_SSN,
    RX_CREDITCARD,
    RX_DURATION,
    RX_BSON,
    RX_COUNT
};

static const char *const rx_src[RX_COUNT] = {
    [RX_HOSTNAME] = "^([a-zA-Z0-9\\p{S}\\p{L}]((-?[a-zA-Z0-9\\p{S}\\p{L}]{0,62})?)|"
                    "([a-zA-Z0-9\\p{S}\\p{L}](([a-zA-Z0-9-\\p{S}\\p{L}]{0,61}"
                    "[a-zA-Z0-9\\p{S}\\p{L}])?)(\\.)){1,}([a-zA-Z0-9\\p{S}\\p{L}])"
                    "(-?[a-zA-Z0-9\\p{S}\\p{L}]){1,62})$",
    [RX_UUID] = "(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
    [RX_UUID3] = "(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
    [RX_UUID4] = "(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$",
    [RX_UUID5] = "(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$",
    [RX_BASE64] = "^(?:[A-Za-z0-9+\\/]{4})*(?:[A-Za-z0-9+\\/]{2}==|[A-Za-z0-9+\\/]{3}=|"
                  "[A-Za-z0-9+\\/]{4})$",
    [RX_DATETIME] = "^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$",
    [RX_HEXCOLOR] = "^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$",
    [RX_RGBCOLOR] = "^rgb\\(\\s*(0|[1-9]\\d?|1\\d\\d?|2[0-4]\\d|25[0-5])\\s*,\\s*(0|[1-9]\\d?|"
                    "1\\d\\d?|2[0-4]\\d|25[0-5])\\s*,\\s*(0|[1-9]\\d?|1\\d\\d?|2[0-4]\\d|25[0-5])"
                    "\\s*\\)$",
    [RX_SSN] = "^\\d{3}[- ]?\\d{2}[- ]?\\d{4}$",
    [RX_CREDITCARD] = "^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|(222[1-9]|22[3-9][0-9]|"
                      "2[3-6][0-9]{2}|27[01][0-9]|2720)[0-9]{12}|6(?:011|5[0-9][0-9])[0-9]{12}|"
                      "3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\\d{3})"
                      "\\d{11}|6[27][0-9]{14})$",
    [RX_DURATION] = "^(\\d+)\\s*(ns|us|µs|ms|s|m|h|d|w|nanoseconds?|microseconds?|"
                    "milliseconds?|seconds?|minutes?|hours?|days?|weeks?)$",
    [RX_BSON] = "^[0-9a-fA-F]{24}$",
};

static void *rx[RX_COUNT];
static pthread_once_t rx_once = PTHREAD_ONCE_INIT;

static void rx_init(void)
{
    for (int i = 0; i < RX_COUNT; i++) {
        int code;
        PCRE2_SIZE off;
        rx[i] = pcre2_compile((PCRE2_SPTR)rx_src[i], PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &code, &off, NULL);
    }
}

static bool rx_match(int which, const char *s, size_t len)
{
    pthread_once(&rx_once, rx_init);
    return rx[which] != NULL && kl__regex_search(rx[which], s, len) == 1;
}

static int days_in_month(int month, int year)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
        return 29;
    return d[month - 1];
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* time.Parse("2006-01-02", s). */
static bool is_date(const char *s, size_t len)
{
    if (len != 10 || s[4] != '-' || s[7] != '-')
        return false;
    int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
    return y >= 0 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(m, y);
}

/* strfmt.IsDateTime: a date, a "t" (any case), then hh:mm:ss[.frac](z|+hh:mm). */
static bool is_datetime(const char *s, size_t len)
{
    if (len < 4)
        return false;
    size_t t = 0;
    while (t < len && s[t] != 't' && s[t] != 'T')
        t++;
    if (t == len || !is_date(s, t))
        return false;
    const char *rest = s + t + 1;
    size_t rlen = len - t - 1;
    /* Split on every "t": the time part ends at the next one. */
    for (size_t i = 0; i < rlen; i++)
        if (rest[i] == 't' || rest[i] == 'T')
            rlen = i;
    char buf[64];
    if (rlen >= sizeof(buf))
        return false;
    for (size_t i = 0; i < rlen; i++)
        buf[i] = (char)tolower((unsigned char)rest[i]);
    buf[rlen] = '\0';
    if (!rx_match(RX_DATETIME, buf, rlen))
        return false;
    return memcmp(buf, "23", 2) <= 0 && memcmp(buf + 3, "59", 2) <= 0 &&
           memcmp(buf + 6, "59", 2) <= 0;
}

/* time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ with Go's units, or "0". */
static bool is_go_duration(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    if (len - i == 1 && s[i] == '0')
        return true;
    if (i == len)
        return false;
    while (i < len) {
        size_t start = i;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
        bool pre = i > start, post = false;
        if (i < len && s[i] == '.') {
            i++;
            size_t f = i;
            while (i < len && isdigit((unsigned char)s[i]))
                i++;
            post = i > f;
        }
        if (!pre && !post)
            return false;
        static const char *const units[] = {"ns", "us", "µs", "μs", "ms", "s", "m", "h", NULL};
        size_t best = 0;
        for (size_t u = 0; units[u]; u++) {
            size_t ul = strlen(units[u]);
            if (ul > best && len - i >= ul && memcmp(s + i, units[u], ul) == 0 &&
                (i + ul == len || isdigit((unsigned char)s[i + ul]) || s[i + ul] == '.'))
                best = ul;
        }
        if (best == 0)
            return false;
        i += best;
    }
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool parse_ipv4(const char *s, size_t len)
{
    int parts = 0;
    size_t i = 0;
    while (i <= len) {
        size_t start = i;
        int v = 0;
        while (i < len && isdigit((unsigned char)s[i])) {
            v = v * 10 + (s[i] - '0');
            if (v > 255 || i - start > 2)
                return false;
            i++;
        }
        if (i == start || (i - start > 1 && s[start] == '0'))
            return false;
        parts++;
        if (i == len)
            break;
        if (s[i] != '.' || parts == 4)
            return false;
        i++;
    }
    return parts == 4;
}

/* net.ParseIP for an IPv6 address (optionally ending in an IPv4 one). */
static bool parse_ipv6(const char *s, size_t len)
{
    int groups = 0;
    bool ellipsis = false;
    size_t i = 0;
    if (len >= 2 && s[0] == ':' && s[1] == ':') {
        ellipsis = true;
        i = 2;
        if (i == len)
            return true;
    }
    while (i < len) {
        size_t start = i;
        while (i < len && hexval(s[i]) >= 0 && i - start < 5)
            i++;
        if (i < len && s[i] == '.') {
            if (!parse_ipv4(s + start, len - start) || (!ellipsis && groups != 6) || groups > 6)
                return false;
            groups += 2;
            i = len;
            break;
        }
        if (i == start || i - start > 4)
            return false;
        groups++;
        if (i == len)
            break;
        if (s[i] != ':')
            return false;
        i++;
        if (i < len && s[i] == ':') {
            if (ellipsis)
                return false;
            ellipsis = true;
            i++;
            if (i == len)
                break;
        } else if (i == len) {
            return false;
        }
        if (groups > 8)
            return false;
    }
    return ellipsis ? groups < 8 : groups == 8;
}

static bool is_ip(const char *s, size_t len, int family)
{
    bool colon = memchr(s, ':', len) != NULL;
    if (family == 4)
        return !colon && parse_ipv4(s, len);
    return colon && parse_ipv6(s, len);
}

static bool is_cidr(const char *s, size_t len)
{
    const char *slash = memchr(s, '/', len);
    if (slash == NULL)
        return false;
    size_t alen = (size_t)(slash - s), plen = len - alen - 1;
    bool v6 = memchr(s, ':', alen) != NULL;
    if (!(v6 ? parse_ipv6(s, alen) : parse_ipv4(s, alen)) || plen == 0 || plen > 3)
        return false;
    int p = digits(slash + 1, (int)plen);
    return p >= 0 && p <= (v6 ? 128 : 32) && !(plen > 1 && slash[1] == '0');
}

/* net.ParseMAC: 6, 8 or 20 octets separated by ':' or '-', or dotted groups of four digits. */
static bool is_mac(const char *s, size_t len)
{
    if (len < 14)
        return false;
    if (s[2] == ':' || s[2] == '-') {
        if ((len + 1) % 3 != 0)
            return false;
        size_t n = (len + 1) / 3;
        if (n != 6 && n != 8 && n != 20)
            return false;
        for (size_t i = 0; i < n; i++) {
            const char *p = s + 3 * i;
            if (hexval(p[0]) < 0 || hexval(p[1]) < 0 || (i + 1 < n && p[2] != s[2]))
                return false;
        }
        return true;
    }
    if (s[4] == '.') {
        if ((len + 1) % 5 != 0)
            return false;
        size_t n = 2 * (len + 1) / 5;
        if (n != 6 && n != 8 && n != 20)
            return false;
        for (size_t i = 0; i < (len + 1) / 5; i++) {
            const char *p = s + 5 * i;
            for (int k = 0; k < 4; k++)
                if (hexval(p[k]) < 0)
                    return false;
            if (i + 1 < (len + 1) / 5 && p[4] != '.')
                return false;
        }
        return true;
    }
    return false;
}

/* mail.ParseAddress, reduced to its common case: an optional display name with the address in
 * angle brackets, or a bare local@domain. */
static bool is_email(const char *s, size_t len)
{
    const char *lt = memchr(s, '<', len);
    if (lt != NULL) {
        if (s[len - 1] != '>')
            return false;
        const char *end = s + len - 1;
        s = lt + 1;
        len = (size_t)(end - s);
    }
    if (len == 0)
        return false;
    const char *at = NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '@') {
            if (at != NULL)
                return false;
            at = s + i;
        } else if (ch <= ' ' || strchr("()<>,;:\\\"[]", ch) != NULL) {
            return false;
        }
    }
    if (at == NULL || at == s || at == s + len - 1)
        return false;
    const char *dom = at + 1;
    size_t dlen = len - (size_t)(dom - s);
    return dom[0] != '.' && dom[dlen - 1] != '.' && strstr(dom, "..") == NULL && s[0] != '.' &&
           at[-1] != '.';
}

/* url.ParseRequestURI: an absolute URI (scheme:...) or an absolute path, no fragment. */
static bool is_request_uri(const char *s, size_t len)
{
    if (len == 0 || memchr(s, ' ', len) != NULL)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    if (s[0] == '/')
        return true;
    size_t i = 0;
    if (!isalpha((unsigned char)s[0]))
        return false;
    while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    return i < len && s[i] == ':' && i + 1 < len;
}

static bool isbn_digits(const char *s, size_t len, char *out, size_t want)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ' || s[i] == '-')
            continue;
        if (n == want)
            return false;
        out[n++] = s[i];
    }
    return n == want;
}

static bool is_isbn10(const char *s, size_t len)
{
    char d[10];
    if (!isbn_digits(s, len, d, 10))
        return false;
    int sum = 0;
    for (int i = 0; i < 9; i++) {
        if (!isdigit((unsigned char)d[i]))
            return false;
        sum += (i + 1) * (d[i] - '0');
    }
    if (d[9] == 'X')
        sum += 100;
    else if (isdigit((unsigned char)d[9]))
        sum += 10 * (d[9] - '0');
    else
        return false;
    return sum % 11 == 0;
}

static bool is_isbn13(const char *s, size_t len)
{
    char d[13];
    if (!isbn_digits(s, len, d, 13))
        return false;
    int sum = 0;
    for (int i = 0; i < 13; i++) {
        if (!isdigit((unsigned char)d[i]))
            return false;
        sum += (i % 2 ? 3 : 1) * (d[i] - '0');
    }
    return sum % 10 == 0;
}

static bool is_creditcard(const char *s, size_t len)
{
    char d[64];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (isdigit((unsigned char)s[i])) {
            if (n == sizeof(d) - 1)
                return false;
            d[n++] = s[i];
        }
    }
    d[n] = '\0';
    if (!rx_match(RX_CREDITCARD, d, n))
        return false;
    int sum = 0;
    bool dbl = false;
    for (size_t i = n; i-- > 0;) {
        int v = d[i] - '0';
        if (dbl) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

static bool is_hostname(const char *s, size_t len)
{
    if (!rx_match(RX_HOSTNAME, s, len) || len > 255)
        return false;
    size_t seg = 0;
    for (size_t i = 0; i < len; i++) {
        seg = s[i] == '.' ? 0 : seg + 1;
        if (seg > 63)
            return false;
    }
    return true;
}

static bool is_quantity(const char *s, size_t len)
{
    char buf[128];
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return kl__parse_quantity(buf) == NULL;
}

typedef bool (*format_fn)(const char *s, size_t len);

static bool is_uri(const char *s, size_t len)
{
    return is_request_uri(s, len);
}
static bool is_ipv4(const char *s, size_t len)
{
    return is_ip(s, len, 4);
}
static bool is_ipv6(const char *s, size_t len)
{
    return is_ip(s, len, 6);
}
static bool is_uuid(const char *s, size_t len)
{
    return rx_match(RX_UUID, s, len);
}
static bool is_uuid3(const char *s, size_t len)
{
    return rx_match(RX_UUID3, s, len);
}
static bool is_uuid4(const char *s, size_t len)
{
    return rx_match(RX_UUID4, s, len);
}
static bool is_uuid5(const char *s, size_t len)
{
    return rx_match(RX_UUID5, s, len);
}
static bool is_isbn(const char *s, size_t len)
{
    return is_isbn10(s, len) || is_isbn13(s, len);
}
static bool is_ssn(const char *s, size_t len)
{
    return rx_match(RX_SSN, s, len);
}
static bool is_hexcolor(const char *s, size_t len)
{
    return rx_match(RX_HEXCOLOR, s, len);
}
static bool is_rgbcolor(const char *s, size_t len)
{
    return rx_match(RX_RGBCOLOR, s, len);
}
static bool is_byte(const char *s, size_t len)
{
    return rx_match(RX_BASE64, s, len);
}
static bool is_password(const char *s, size_t len)
{
    (void)s;
    (void)len;
    return true;
}
static bool is_duration(const char *s, size_t len)
{
    return is_go_duration(s, len) || rx_match(RX_DURATION, s, len);
}
static bool is_bson(const char *s, size_t len)
{
    return rx_match(RX_BSON, s, len);
}

/* Format names as the registry normalises them (dashes removed). */
static const struct {
    const char *name;
    format_fn fn;
} formats[] = {
    {"bsonobjectid", is_bson}, {"uri", is_uri},
    {"email", is_email},       {"hostname", is_hostname},
    {"ipv4", is_ipv4},         {"ipv6", is_ipv6},
    {"cidr", is_cidr},         {"mac", is_mac},
    {"uuid", is_uuid},         {"uuid3", is_uuid3},
    {"uuid4", is_uuid4},       {"uuid5", is_uuid5},
    {"isbn", is_isbn},         {"isbn10", is_isbn10},
    {"isbn13", is_isbn13},     {"creditcard", is_creditcard},
    {"ssn", is_ssn},           {"hexcolor", is_hexcolor},
    {"rgbcolor", is_rgbcolor}, {"byte", is_byte},
    {"password", is_password}, {"date", is_date},
    {"duration", is_duration}, {"datetime", is_datetime},
    {"quantity", is_quantity},
};

static format_fn find_format(const char *format)
{
    char norm[32];
    size_t n = 0;
    for (const char *p = format; *p && n < sizeof(norm) - 1; p++)
        if (*p != '-')
            norm[n++] = *p;
    norm[n] = '\0';
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (strcmp(formats[i].name, norm) == 0)
            return formats[i].fn;
    return NULL;
}

bool kl__format_supported(const char *format)
{
    return format != NULL && find_format(format) != NULL;
}

int kl__format_check(const char *format, const char *s, size_t len)
{
    format_fn fn = format ? find_format(format) : NULL;
    if (fn == NULL)
        return -1;
    return fn(s, len) ? 1 : 0;
}

/* ---- Go's rendering of values --------------------------------------------------------- */

int kl__schema_go_float(double d, kl_buf_t *out)
{
    if (isnan(d))
        return kl_buf_puts(out, "NaN");
    if (isinf(d))
        return kl_buf_puts(out, d > 0 ? "+Inf" : "-Inf");
    if (d == 0)
        return kl_buf_puts(out, signbit(d) ? "-0" : "0");
    /* The shortest digits that read back as d. */
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    char dig[24];
    size_t nd = 0;
    const char *p = e;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p))
            dig[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    int rc = neg ? kl_buf_putc(out, '-') : 0;
    /* strconv's %g with the shortest precision switches to an exponent at 1e6. */
    if (exp < -4 || exp >= 6) {
        rc = rc ? rc : kl_buf_putc(out, dig[0]);
        if (rc == 0 && nd > 1)
            rc = kl_buf_printf(out, ".%.*s", (int)nd - 1, dig + 1);
        return rc ? rc : kl_buf_printf(out, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    }
    if (exp < 0) {
        rc = rc ? rc : kl_buf_puts(out, "0.");
        for (int i = 0; rc == 0 && i < -exp - 1; i++)
            rc = kl_buf_putc(out, '0');
        return rc ? rc : kl_buf_append(out, dig, nd);
    }
    for (int i = 0; rc == 0 && i <= exp; i++)
        rc = kl_buf_putc(out, (size_t)i < nd ? dig[i] : '0');
    if (rc == 0 && nd > (size_t)exp + 1)
        rc = kl_buf_printf(out, ".%.*s", (int)(nd - (size_t)exp - 1), dig + exp + 1);
    return rc;
}

/* The length of a valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (s[0] >= 0xf8 || len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

int kl__schema_quote(const char *s, size_t len, kl_buf_t *out)
{
    int rc = kl_buf_putc(out, '"');
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; rc == 0 && i < len;) {
        unsigned char ch = u[i];
        if (ch >= 0x80) {
            size_t n = utf8_len(u + i, len - i);
            if (n == 0) {
                rc = kl_buf_printf(out, "\\x%02x", ch);
                i++;
            } else {
                rc = kl_buf_append(out, s + i, n);
                i += n;
            }
            continue;
        }
        switch (ch) {
        case '"':
            rc = kl_buf_puts(out, "\\\"");
            break;
        case '\\':
            rc = kl_buf_puts(out, "\\\\");
            break;
        case '\a':
            rc = kl_buf_puts(out, "\\a");
            break;
        case '\b':
            rc = kl_buf_puts(out, "\\b");
            break;
        case '\f':
            rc = kl_buf_puts(out, "\\f");
            break;
        case '\n':
            rc = kl_buf_puts(out, "\\n");
            break;
        case '\r':
            rc = kl_buf_puts(out, "\\r");
            break;
        case '\t':
            rc = kl_buf_puts(out, "\\t");
            break;
        case '\v':
            rc = kl_buf_puts(out, "\\v");
            break;
        default:
            rc = ch < 0x20 || ch == 0x7f ? kl_buf_printf(out, "\\x%02x", ch)
                                         : kl_buf_putc(out, (char)ch);
        }
        i++;
    }
    return rc ? rc : kl_buf_putc(out, '"');
}

static int cmp_members(const void *a, const void *b)
{
    const kl_jmember_t *x = *(const kl_jmember_t *const *)a, *y = *(const kl_jmember_t *const *)b;
    return strcmp(x->key, y->key);
}

/* %#v of a value inside an interface{}. */
static int go_sharp(const kl_json_t *j, kl_buf_t *out)
{
    switch (j->type) {
    case KL_TNULL:
        return kl_buf_puts(out, "interface {}(nil)");
    case KL_TARRAY: {
        int rc = kl_buf_puts(out, "[]interface {}{");
        for (uint32_t i = 0; rc == 0 && i < j->len; i++) {
            if (i)
                rc = kl_buf_puts(out, ", ");
            if (rc == 0)
                rc = go_sharp(j->u.items[i], out);
        }
        return rc ? rc : kl_buf_putc(out, '}');
    }
    case KL_TOBJECT: {
        const kl_jmember_t **m = malloc((j->len ? j->len : 1) * sizeof(*m));
        if (m == NULL)
            return KL_ENOMEM;
        for (uint32_t i = 0; i < j->len; i++)
            m[i] = &j->u.members[i];
        qsort(m, j->len, sizeof(*m), cmp_members);
        int rc = kl_buf_puts(out, "map[string]interface {}{");
        for (uint32_t i = 0; rc == 0 && i < j->len; i++) {
            if (i)
                rc = kl_buf_puts(out, ", ");
            if (rc == 0)
                rc = kl__schema_quote(m[i]->key, m[i]->keylen, out);
            if (rc == 0)
                rc = kl_buf_putc(out, ':');
            if (rc == 0)
                rc = go_sharp(m[i]->val, out);
        }
        free(m);
        return rc ? rc : kl_buf_putc(out, '}');
    }
    default:
        return kl__schema_go_value(j, out);
    }
}

int kl__schema_go_value(const kl_json_t *j, kl_buf_t *out)
{
    if (j == NULL)
        return kl_buf_puts(out, "\"null\"");
    switch (j->type) {
    case KL_TSTRING:
        return kl__schema_quote(j->u.s, j->len, out);
    case KL_TINT:
        return kl_buf_printf(out, "%lld", (long long)j->u.i);
    case KL_TDOUBLE:
        return kl__schema_go_float(j->u.d, out);
    case KL_TTRUE:
        return kl_buf_puts(out, "true");
    case KL_TFALSE:
        return kl_buf_puts(out, "false");
    case KL_TNULL:
        /* A nil BadValue is shown as the string "null". */
        return kl_buf_puts(out, "\"null\"");
    default:
        return go_sharp(j, out);
    }
}
