/* Name and label validation with k8s.io/apimachinery's messages, and Go-style quoting for the
 * field errors built around them.
 *
 * DNS-1123 names follow pkg/util/validation (lengths in "characters"); label keys and values
 * follow pkg/api/validate/content, which util/validation now delegates to (lengths in
 * "bytes", "a valid label key"). When a value breaks several rules the messages are joined
 * with "; " as upstream's callers do, so every result is one static string.
 */
#include <string.h>

#include "kubelua/selector.h"

#include "primitives/selector_int.h"

#define SEP "; "

#define RE_QNAME "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define QNAME_RULE                                                                                 \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "    \
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "         \
    "validation is '" RE_QNAME "')"

#define RE_DNS_LABEL "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define RE_DNS_SUBDOMAIN RE_DNS_LABEL "(\\." RE_DNS_LABEL ")*"
#define DNS_SUBDOMAIN_RULE                                                                         \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "   \
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "  \
    "for validation is '" RE_DNS_SUBDOMAIN "')"
#define DNS_LABEL_RULE                                                                             \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "   \
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "     \
    "used for validation is '" RE_DNS_LABEL "')"
#define LABEL_VALUE_RULE                                                                           \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "    \
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "             \
    "'my_value',  or '12345', regex used for validation is '(" RE_QNAME ")?')"

/* util/validation.MaxLenError says "characters", content.MaxLenError says "bytes". */
#define TOO_LONG_253_CHARS "must be no more than 253 characters"
#define TOO_LONG_63_CHARS "must be no more than 63 characters"
#define TOO_LONG_253_BYTES "must be no more than 253 bytes"
#define TOO_LONG_63_BYTES "must be no more than 63 bytes"

/* Prefix part of a label key: none, empty, too long, bad, too long and bad. */
#define P1 "prefix part must be non-empty"
#define P2 "prefix part " TOO_LONG_253_BYTES
#define P3 "prefix part " DNS_SUBDOMAIN_RULE
#define P4 P2 SEP P3
/* Name part: none, empty (which also fails the pattern), too long, bad, too long and bad. */
#define N1 "name part must be non-empty" SEP "name part " QNAME_RULE
#define N2 "name part " TOO_LONG_63_BYTES
#define N3 "name part " QNAME_RULE
#define N4 N2 SEP N3
#define KEY_ROW(p)                                                                                 \
    {                                                                                              \
        p, p SEP N1, p SEP N2, p SEP N3, p SEP N4                                                  \
    }

static const char *const label_key_msgs[5][5] = {
    {NULL, N1, N2, N3, N4}, KEY_ROW(P1), KEY_ROW(P2), KEY_ROW(P3), KEY_ROW(P4),
};

static const char label_key_shape_msg[] =
    "a valid label key " QNAME_RULE
    " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_lower_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* ^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$ */
static bool match_qname(const char *s, size_t n)
{
    if (n == 0 || !is_alnum((unsigned char)s[0]) || !is_alnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alnum(c) && c != '-' && c != '_' && c != '.')
            return false;
    }
    return true;
}

/* ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ */
static bool match_dns_label(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum((unsigned char)s[0]) || !is_lower_alnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_lower_alnum(c) && c != '-')
            return false;
    }
    return true;
}

/* Dot-separated DNS labels. */
static bool match_dns_subdomain(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (!match_dns_label(s + start, i - start))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* 0 valid, 1 too long, 2 bad pattern, 3 both (content.IsDNS1123Subdomain). */
static int subdomain_problems(const char *s, size_t n)
{
    return (n > 253 ? 1 : 0) | (match_dns_subdomain(s, n) ? 0 : 2);
}

const char *kl_validate_dns1123_subdomain(const char *s)
{
    static const char *const msgs[4] = {
        NULL,
        TOO_LONG_253_CHARS,
        DNS_SUBDOMAIN_RULE,
        TOO_LONG_253_CHARS SEP DNS_SUBDOMAIN_RULE,
    };
    return msgs[subdomain_problems(s, strlen(s))];
}

const char *kl_validate_dns1123_label(const char *s)
{
    size_t n = strlen(s);
    bool too_long = n > 63;
    if (match_dns_label(s, n))
        return too_long ? TOO_LONG_63_CHARS : NULL;
    /* Valid as a subdomain but not as a label: the length was checked, so it must be dots. */
    if (match_dns_subdomain(s, n))
        return too_long ? TOO_LONG_63_CHARS SEP "must not contain dots" : "must not contain dots";
    return too_long ? TOO_LONG_63_CHARS SEP DNS_LABEL_RULE : DNS_LABEL_RULE;
}

const char *kl__validate_label_key(const char *s, size_t n)
{
    const char *slash = memchr(s, '/', n);
    const char *name = s;
    size_t name_len = n;
    int prefix = 0;
    if (slash != NULL) {
        size_t plen = (size_t)(slash - s);
        name = slash + 1;
        name_len = n - plen - 1;
        if (memchr(name, '/', name_len) != NULL)
            return label_key_shape_msg;
        if (plen == 0) {
            prefix = 1;
        } else {
            int p = subdomain_problems(s, plen);
            prefix = p == 0 ? 0 : p == 1 ? 2 : p == 2 ? 3 : 4;
        }
    }
    int np;
    if (name_len == 0)
        np = 1;
    else if (!match_qname(name, name_len))
        np = name_len > 63 ? 4 : 3;
    else
        np = name_len > 63 ? 2 : 0;
    return label_key_msgs[prefix][np];
}

const char *kl_validate_qualified_name(const char *s)
{
    return kl__validate_label_key(s, strlen(s));
}

const char *kl__validate_label_value(const char *s, size_t n)
{
    bool bad = n != 0 && !match_qname(s, n);
    if (n > 63)
        return bad ? TOO_LONG_63_BYTES SEP LABEL_VALUE_RULE : TOO_LONG_63_BYTES;
    return bad ? LABEL_VALUE_RULE : NULL;
}

const char *kl_validate_label_value(const char *s)
{
    return kl__validate_label_value(s, strlen(s));
}

/* ---- Go quoting ----------------------------------------------------------------------------- */

uint32_t kl__utf8_decode(const char *s, size_t n, size_t *width)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char c = p[0];
    *width = 1;
    if (c < 0x80)
        return c;
    uint32_t r;
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        r = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        r = c & 0x0f;
        if (c == 0xe0)
            lo = 0xa0; /* no overlong forms */
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        r = c & 0x07;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* at most U+10FFFF */
    } else {
        return 0xfffd;
    }
    if (n < len)
        return 0xfffd;
    for (size_t i = 1; i < len; i++) {
        unsigned char cc = p[i];
        if (cc < (i == 1 ? lo : 0x80) || cc > (i == 1 ? hi : 0xbf))
            return 0xfffd;
        r = (r << 6) | (cc & 0x3f);
    }
    *width = len;
    return r;
}

/* Approximates Go's strconv.IsPrint for non-ASCII runes: control, format, separator and
 * private-use ranges are not printable; unassigned code points are treated as printable. */
static bool go_isprint(uint32_t r)
{
    if (r < 0xa0)
        return false;
    if (r == 0xa0 || r == 0xad || r == 0x1680 || r == 0x180e || r == 0x3000 || r == 0xfeff)
        return false;
    if ((r >= 0x2000 && r <= 0x200f) || (r >= 0x2028 && r <= 0x202f) ||
        (r >= 0x205f && r <= 0x206f) || (r >= 0xe000 && r <= 0xf8ff) ||
        (r >= 0xfff9 && r <= 0xfffb) || r == 0xfffe || r == 0xffff || r >= 0xf0000 ||
        (r >= 0xe0000 && r <= 0xe007f))
        return false;
    return true;
}

int kl__go_quote(kl_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = kl_buf_putc(b, '"');
    for (size_t i = 0; i < n && rc == 0;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t w;
            uint32_t r = kl__utf8_decode(s + i, n - i, &w);
            if (w == 1) {
                char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
                rc = kl_buf_append(b, esc, 4);
            } else if (go_isprint(r)) {
                rc = kl_buf_append(b, s + i, w);
            } else if (r < 0x10000) {
                rc = kl_buf_printf(b, "\\u%04x", (unsigned)r);
            } else {
                rc = kl_buf_printf(b, "\\U%08x", (unsigned)r);
            }
            i += w;
            continue;
        }
        i++;
        switch (c) {
        case '"':
            rc = kl_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            rc = kl_buf_append(b, "\\\\", 2);
            break;
        case '\a':
            rc = kl_buf_append(b, "\\a", 2);
            break;
        case '\b':
            rc = kl_buf_append(b, "\\b", 2);
            break;
        case '\f':
            rc = kl_buf_append(b, "\\f", 2);
            break;
        case '\n':
            rc = kl_buf_append(b, "\\n", 2);
            break;
        case '\r':
            rc = kl_buf_append(b, "\\r", 2);
            break;
        case '\t':
            rc = kl_buf_append(b, "\\t", 2);
            break;
        case '\v':
            rc = kl_buf_append(b, "\\v", 2);
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
                rc = kl_buf_append(b, esc, 4);
            } else {
                rc = kl_buf_putc(b, (char)c);
            }
        }
    }
    return rc < 0 ? rc : kl_buf_putc(b, '"');
}
