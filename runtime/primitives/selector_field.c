/* Field selectors (k8s.io/apimachinery/pkg/fields.ParseSelector).
 *
 * The selector is split on unescaped commas, the terms are sorted as strings, each is split
 * at its first "!=", "==" or "=", and the value is unescaped ("\\", "\,", "\=" are the only
 * escapes; a bare ',' or '=' in a value is an error). A term with an empty field and an empty
 * value selects everything and is dropped, as upstream's Transform does. The result is packed
 * into one allocation.
 */
#include <stdlib.h>
#include <string.h>

#include "kubelua/selector.h"

#include "primitives/selector_int.h"

typedef struct fterm {
    const char *field;
    const char *value;
    bool negated;
} fterm_t;

struct kl_fieldsel {
    size_t n;
    fterm_t terms[];
};

typedef struct span {
    size_t off;
    size_t len;
    const char *p;
} span_t;

static int span_cmp(const void *pa, const void *pb)
{
    const span_t *a = pa, *b = pb;
    int c = memcmp(a->p, b->p, a->len < b->len ? a->len : b->len);
    if (c != 0)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* Splits at commas not preceded by a backslash escape; the escapes stay in the terms. */
static int split_terms(const char *s, span_t **out, size_t *n)
{
    size_t len = strlen(s), cap = 1, count = 0;
    if (len == 0) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    for (size_t i = 0; i < len; i++)
        cap += s[i] == ',';
    span_t *v = malloc(cap * sizeof(span_t));
    if (v == NULL)
        return KL_ENOMEM;
    size_t start = 0;
    bool in_slash = false;
    for (size_t i = 0; i < len; i++) {
        if (in_slash)
            in_slash = false;
        else if (s[i] == '\\')
            in_slash = true;
        else if (s[i] == ',') {
            v[count++] = (span_t){start, i - start, s + start};
            start = i + 1;
        }
    }
    v[count++] = (span_t){start, len - start, s + start};
    *out = v;
    *n = count;
    return 0;
}

/* The first position where "!=", "==" or "=" starts (checked in that order). */
static bool split_term(const char *t, size_t n, size_t *op_at, size_t *op_len, bool *negated)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '!' && i + 1 < n && t[i + 1] == '=') {
            *op_at = i;
            *op_len = 2;
            *negated = true;
            return true;
        }
        if (t[i] == '=') {
            *op_at = i;
            *op_len = i + 1 < n && t[i + 1] == '=' ? 2 : 1;
            *negated = false;
            return true;
        }
    }
    return false;
}

/* fields.UnescapeValue: appends the unescaped value (NUL-terminated) to out. Like Go, which
 * re-encodes runes when the value has anything to unescape, invalid UTF-8 then becomes
 * U+FFFD. */
static int unescape_value(const char *s, size_t n, kl_buf_t *out, kl_errinfo_t *err)
{
    bool special = false;
    for (size_t i = 0; i < n && !special; i++)
        special = s[i] == '\\' || s[i] == ',' || s[i] == '=';
    int rc = 0;
    if (!special) {
        rc = kl_buf_append(out, s, n);
        return rc == 0 ? kl_buf_putc(out, '\0') : rc;
    }
    bool in_slash = false;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t w;
        uint32_t r = kl__utf8_decode(s + i, n - i, &w);
        const char *bytes = s + i;
        if (r == 0xfffd && w == 1) {
            bytes = "\xef\xbf\xbd";
            w = 3;
            i += 1;
        } else {
            i += w;
        }
        if (in_slash) {
            if (r != '\\' && r != ',' && r != '=')
                return kl_err(err, KL_EINVAL,
                              "invalid field selector: invalid escape sequence: \\%.*s", (int)w,
                              bytes);
            rc = kl_buf_putc(out, (char)r);
            in_slash = false;
        } else if (r == '\\') {
            in_slash = true;
        } else if (r == ',' || r == '=') {
            return kl_err(err, KL_EINVAL,
                          "invalid field selector: unescaped character in value: %u", r);
        } else {
            rc = kl_buf_append(out, bytes, w);
        }
    }
    if (rc == 0 && in_slash)
        return kl_err(err, KL_EINVAL, "invalid field selector: invalid escape sequence: \\");
    return rc == 0 ? kl_buf_putc(out, '\0') : rc;
}

typedef struct pterm {
    size_t field_off, value_off;
    bool negated;
} pterm_t;

int kl_fieldsel_parse(const char *s, kl_fieldsel_t **out, kl_errinfo_t *err)
{
    if (s == NULL)
        s = "";
    span_t *parts = NULL;
    pterm_t *terms = NULL;
    size_t nparts = 0, nterms = 0;
    kl_buf_t strs;
    kl_buf_init(&strs, KL_BUF_DEFAULT_MAX);
    int rc = split_terms(s, &parts, &nparts);
    if (rc < 0)
        goto out;
    if (nparts > 1)
        qsort(parts, nparts, sizeof(span_t), span_cmp);
    terms = malloc((nparts ? nparts : 1) * sizeof(pterm_t));
    if (terms == NULL) {
        rc = KL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nparts; i++) {
        const char *t = parts[i].p;
        size_t len = parts[i].len, op_at, op_len;
        bool negated;
        if (len == 0)
            continue;
        if (!split_term(t, len, &op_at, &op_len, &negated)) {
            rc = kl_err(err, KL_EINVAL, "invalid selector: '%s'; can't understand '%.*s'", s,
                        (int)len, t);
            goto out;
        }
        pterm_t *pt = &terms[nterms];
        pt->negated = negated;
        pt->field_off = strs.len;
        rc = kl_buf_append(&strs, t, op_at);
        if (rc == 0)
            rc = kl_buf_putc(&strs, '\0');
        pt->value_off = strs.len;
        if (rc == 0)
            rc = unescape_value(t + op_at + op_len, len - op_at - op_len, &strs, err);
        if (rc < 0)
            goto out;
        /* An empty field with an empty value selects everything. */
        if (op_at == 0 && strs.len == pt->value_off + 1) {
            strs.len = pt->field_off;
            continue;
        }
        nterms++;
    }

    size_t hdr = sizeof(kl_fieldsel_t) + nterms * sizeof(fterm_t);
    kl_fieldsel_t *fs = malloc(hdr + strs.len + 1);
    if (fs == NULL) {
        rc = KL_ENOMEM;
        goto out;
    }
    char *base = (char *)fs + hdr;
    if (strs.len > 0)
        memcpy(base, strs.data, strs.len);
    base[strs.len] = '\0';
    fs->n = nterms;
    for (size_t i = 0; i < nterms; i++) {
        fs->terms[i].field = base + terms[i].field_off;
        fs->terms[i].value = base + terms[i].value_off;
        fs->terms[i].negated = terms[i].negated;
    }
    *out = fs;
out:
    if (rc == KL_ENOMEM || rc == KL_ETOOBIG)
        kl_err(err, rc, "%s", kl_strerror(rc));
    kl_buf_cleanup(&strs);
    free(parts);
    free(terms);
    return rc;
}

void kl_fieldsel_free(kl_fieldsel_t *fs)
{
    free(fs);
}

bool kl_fieldsel_is_empty(const kl_fieldsel_t *fs)
{
    return fs->n == 0;
}

int kl_fieldsel_matches(const kl_fieldsel_t *fs, kl_field_getter_t get, void *ud, kl_errinfo_t *err)
{
    int matched = 1;
    for (size_t i = 0; i < fs->n; i++) {
        const fterm_t *t = &fs->terms[i];
        bool known = true;
        const char *v = get(t->field, &known, ud);
        if (!known)
            return kl_err(err, KL_EINVAL, "field label not supported: %s", t->field);
        bool eq = strcmp(v != NULL ? v : "", t->value) == 0;
        if (eq == t->negated)
            matched = 0;
    }
    return matched;
}

size_t kl_fieldsel_count(const kl_fieldsel_t *fs)
{
    return fs->n;
}

bool kl_fieldsel_term(const kl_fieldsel_t *fs, size_t i, const char **field, bool *negated,
                      const char **value)
{
    if (i >= fs->n)
        return false;
    if (field)
        *field = fs->terms[i].field;
    if (negated)
        *negated = fs->terms[i].negated;
    if (value)
        *value = fs->terms[i].value;
    return true;
}

const char *kl_fieldsel_exact(const kl_fieldsel_t *fs, const char *field)
{
    for (size_t i = 0; i < fs->n; i++) {
        if (!fs->terms[i].negated && strcmp(fs->terms[i].field, field) == 0)
            return fs->terms[i].value;
    }
    return NULL;
}

int kl_fieldsel_format(const kl_fieldsel_t *fs, kl_buf_t *out)
{
    int rc = 0;
    for (size_t i = 0; i < fs->n && rc == 0; i++) {
        const fterm_t *t = &fs->terms[i];
        if (i > 0)
            rc = kl_buf_putc(out, ',');
        if (rc == 0)
            rc = kl_buf_puts(out, t->field);
        if (rc == 0)
            rc = kl_buf_puts(out, t->negated ? "!=" : "=");
        for (const char *p = t->value; *p != '\0' && rc == 0; p++) {
            if (*p == '\\' || *p == ',' || *p == '=')
                rc = kl_buf_putc(out, '\\');
            if (rc == 0)
                rc = kl_buf_putc(out, *p);
        }
    }
    return rc;
}
