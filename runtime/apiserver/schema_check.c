/* apiserver/schema_check.c - strict decoding against a schema, with kube-apiserver's wording.
 *
 * Built-in types follow what Go's decoder (sigs.k8s.io/json, the fork kube-apiserver uses) does
 * with the Go structs: unknown fields are strict errors named by their full path with list
 * indices ("spec.template.spec.containers[0].imagex"); a value of the wrong type is an
 * UnmarshalTypeError naming the innermost struct and the path of struct fields without indices
 * or map keys ("Container.spec.template.spec.containers.image"); null decodes to the zero value.
 * Types with their own JSON decoding (Quantity, IntOrString, Time) fail with their own messages,
 * and such a failure ends decoding, as a returned error does upstream.
 *
 * CRD types (t->crd) are decoded as the custom resource handler decodes them: unknown fields are
 * pruned, nulls of non-nullable fields without a default dropped, defaults applied; the value
 * validation of kl_schema_check() is schema_valid.c's.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"
#include "kubelua/json.h"
#include "kubelua/schema.h"

#include "apiserver/ferr.h"
#include "apiserver/schema_int.h"
#include "apiserver/schema_valid.h"

#define MAX_STRICT_ERRORS 100

static const char quantity_format_error[] =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

typedef struct chk {
    kl_fieldval_t mode;
    kl_schema_report_t *r;
    kl_buf_t sp;       /* strict path: spec.containers[0].name */
    kl_buf_t fp;       /* Go field stack: spec.containers.name */
    const char *strct; /* struct owning the last field of fp */
    bool fatal;        /* a custom decoder failed: upstream stops decoding there */
    int rc;
} chk_t;

void kl_schema_report_init(kl_schema_report_t *r)
{
    memset(r, 0, sizeof(*r));
    kl_buf_init(&r->unknown, KL_BUF_DEFAULT_MAX);
    kl_buf_init(&r->type_errors, KL_BUF_DEFAULT_MAX);
    kl_buf_init(&r->invalid, KL_BUF_DEFAULT_MAX);
}

void kl_schema_report_cleanup(kl_schema_report_t *r)
{
    kl_buf_cleanup(&r->unknown);
    kl_buf_cleanup(&r->type_errors);
    kl_buf_cleanup(&r->invalid);
    r->nunknown = r->ntype_errors = r->ninvalid = 0;
}

static void note_rc(chk_t *c, int rc)
{
    if (rc < 0 && c->rc == 0)
        c->rc = rc;
}

static int add_line(kl_buf_t *b, size_t *n, const char *msg)
{
    int rc = 0;
    if (b->len > 0)
        rc = kl_buf_putc(b, '\n');
    if (rc == 0)
        rc = kl_buf_puts(b, msg);
    if (rc == 0)
        (*n)++;
    return rc;
}

/* ---- Numbers -------------------------------------------------------------------------- */

int kl__schema_number_text(const kl_json_t *j, kl_buf_t *out)
{
    if (j->type == KL_TINT)
        return kl_buf_printf(out, "%lld", (long long)j->u.i);
    double d = j->u.d;
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    return kl_buf_puts(out, tmp);
}

static const char *json_kind_name(const kl_json_t *j)
{
    switch (j->type) {
    case KL_TSTRING:
        return "string";
    case KL_TINT:
    case KL_TDOUBLE:
        return "number";
    case KL_TTRUE:
    case KL_TFALSE:
        return "bool";
    case KL_TARRAY:
        return "array";
    case KL_TOBJECT:
        return "object";
    default:
        return "null";
    }
}

/* ---- Recording ------------------------------------------------------------------------ */

static void add_type_error(chk_t *c, const char *value, const char *gotype)
{
    kl_buf_t m;
    kl_buf_init(&m, KL_BUF_DEFAULT_MAX);
    int rc;
    if (c->fp.len > 0)
        rc = kl_buf_printf(&m, "json: cannot unmarshal %s into Go struct field %s.%s of type %s",
                           value, c->strct, c->fp.data, gotype);
    else
        rc = kl_buf_printf(&m, "json: cannot unmarshal %s into Go value of type %s", value, gotype);
    if (rc == 0)
        rc = add_line(&c->r->type_errors, &c->r->ntype_errors, m.data);
    note_rc(c, rc);
    kl_buf_cleanup(&m);
}

/* A failure of a type's own decoder: it becomes the first error and decoding stops. */
static void add_fatal(chk_t *c, const char *msg)
{
    kl_buf_t b;
    kl_buf_init(&b, KL_BUF_DEFAULT_MAX);
    int rc = kl_buf_puts(&b, msg);
    if (rc == 0 && c->r->type_errors.len > 0)
        rc = kl_buf_putc(&b, '\n');
    if (rc == 0 && c->r->type_errors.len > 0)
        rc = kl_buf_append(&b, c->r->type_errors.data, c->r->type_errors.len);
    if (rc == 0) {
        kl_buf_cleanup(&c->r->type_errors);
        c->r->type_errors = b;
        c->r->ntype_errors++;
    } else {
        kl_buf_cleanup(&b);
    }
    note_rc(c, rc);
    c->fatal = true;
}

static void add_unknown(chk_t *c, const char *key)
{
    kl_schema_report_t *r = c->r;
    if (r->nunknown >= MAX_STRICT_ERRORS)
        return;
    kl_buf_t m;
    kl_buf_init(&m, KL_BUF_DEFAULT_MAX);
    int rc = kl_buf_puts(&m, "unknown field \"");
    if (rc == 0 && c->sp.len > 0)
        rc = kl_buf_printf(&m, "%s.", c->sp.data);
    if (rc == 0)
        rc = kl_buf_printf(&m, "%s\"", key);
    if (rc == 0) {
        /* Upstream deduplicates strict errors. */
        bool seen = false;
        const char *p = r->unknown.data;
        for (size_t i = 0; p != NULL && i < r->nunknown && !seen; i++) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            seen = n == m.len && memcmp(p, m.data, n) == 0;
            p = nl ? nl + 1 : NULL;
        }
        if (!seen)
            rc = add_line(&r->unknown, &r->nunknown, m.data);
    }
    note_rc(c, rc);
    kl_buf_cleanup(&m);
}

/* ---- Go decoders of special types ----------------------------------------------------- */

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* resource.ParseQuantity: 0, or the error message. */
const char *kl__parse_quantity(const char *s)
{
    size_t end = strlen(s), pos = 0;
    if (end == 0)
        return quantity_format_error;
    if (strcmp(s, "0") == 0)
        return NULL;
    if (s[pos] == '-' || s[pos] == '+')
        pos++;
    while (pos < end && is_digit(s[pos]))
        pos++;
    if (pos < end && s[pos] == '.') {
        pos++;
        while (pos < end && is_digit(s[pos]))
            pos++;
    }
    size_t suffix = pos;
    while (pos < end && strchr("eEinumkKMGTP", s[pos]) != NULL)
        pos++;
    if (pos < end && (s[pos] == '-' || s[pos] == '+'))
        pos++;
    while (pos < end && is_digit(s[pos]))
        pos++;
    if (pos < end)
        return quantity_format_error;
    const char *suf = s + suffix;
    static const char *const known[] = {"",  "n",  "u",  "m",  "k",  "M",  "G",  "T", "P",
                                        "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", NULL};
    for (size_t i = 0; known[i] != NULL; i++) {
        if (strcmp(suf, known[i]) == 0)
            return NULL;
    }
    if (strlen(suf) > 1 && (suf[0] == 'e' || suf[0] == 'E')) {
        const char *p = suf + 1;
        if (*p == '+' || *p == '-')
            p++;
        bool digits = *p != '\0';
        for (; *p; p++)
            digits = digits && is_digit(*p);
        if (digits)
            return NULL;
    }
    return "unable to parse quantity's suffix";
}

/* Go's time.quote. */
static int go_quote(kl_buf_t *b, const char *s)
{
    int rc = kl_buf_putc(b, '"');
    for (; rc == 0 && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 0x80 || ch < ' ')
            rc = kl_buf_printf(b, "\\x%02x", ch);
        else if (ch == '"' || ch == '\\')
            rc = kl_buf_printf(b, "\\%c", ch);
        else
            rc = kl_buf_putc(b, (char)ch);
    }
    return rc == 0 ? kl_buf_putc(b, '"') : rc;
}

enum { E_YEAR, E_MONTH, E_DAY, E_HOUR, E_MIN, E_SEC, E_FRAC6, E_TZ, E_END };

typedef struct telem {
    const char *prefix;
    int e;
    const char *std;
} telem_t;

static const telem_t rfc3339[] = {{"", E_YEAR, "2006"}, {"-", E_MONTH, "01"}, {"-", E_DAY, "02"},
                                  {"T", E_HOUR, "15"},  {":", E_MIN, "04"},   {":", E_SEC, "05"},
                                  {"", E_TZ, "Z07:00"}, {"", E_END, ""}};
static const telem_t rfc3339micro[] = {
    {"", E_YEAR, "2006"},     {"-", E_MONTH, "01"}, {"-", E_DAY, "02"},
    {"T", E_HOUR, "15"},      {":", E_MIN, "04"},   {":", E_SEC, "05"},
    {"", E_FRAC6, ".000000"}, {"", E_TZ, "Z07:00"}, {"", E_END, ""}};

static int getnum(const char **v, bool fixed, int *out)
{
    const char *s = *v;
    if (!is_digit(s[0]))
        return -1;
    if (!is_digit(s[1])) {
        if (fixed)
            return -1;
        *out = s[0] - '0';
        *v = s + 1;
        return 0;
    }
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    *v = s + 2;
    return 0;
}

static int days_in(int month, int year)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
        return 29;
    return month >= 1 && month <= 12 ? d[month - 1] : 31;
}

/* time.Parse(layout, s): 0, or 1 with Go's error message in msg. */
static int parse_time(const char *s, bool micro, kl_buf_t *msg)
{
    const telem_t *lay = micro ? rfc3339micro : rfc3339;
    const char *layout = micro ? "2006-01-02T15:04:05.000000Z07:00" : "2006-01-02T15:04:05Z07:00";
    const char *v = s;
    int year = 0, month = 1, day = 1, num = 0;
    const char *range = NULL;
    for (const telem_t *el = lay;; el++) {
        const char *bad_std = NULL, *bad_at = NULL;
        for (const char *p = el->prefix; *p; p++, v++) {
            if (*v != *p) {
                bad_std = el->prefix;
                bad_at = v;
                break;
            }
        }
        if (bad_std == NULL && el->e == E_END) {
            if (*v != '\0') {
                int rc = kl_buf_puts(msg, "parsing time ");
                rc = rc ? rc : go_quote(msg, s);
                rc = rc ? rc : kl_buf_puts(msg, ": extra text: ");
                rc = rc ? rc : go_quote(msg, v);
                return rc ? rc : 1;
            }
            break;
        }
        const char *hold = v;
        if (bad_std == NULL) {
            bool bad = false;
            switch (el->e) {
            case E_YEAR:
                if (strlen(v) < 4) {
                    bad = true;
                    break;
                }
                for (int i = 0; i < 4; i++)
                    bad = bad || !is_digit(v[i]);
                if (!bad)
                    year = atoi((char[5]){v[0], v[1], v[2], v[3], 0});
                v += 4;
                break;
            case E_MONTH:
                bad = getnum(&v, true, &month) < 0;
                if (!bad && (month <= 0 || month > 12))
                    range = "month";
                break;
            case E_DAY:
                bad = getnum(&v, true, &day) < 0;
                break;
            case E_HOUR:
                bad = getnum(&v, false, &num) < 0;
                if (!bad && num >= 24)
                    range = "hour";
                break;
            case E_MIN:
                bad = getnum(&v, true, &num) < 0;
                if (!bad && num >= 60)
                    range = "minute";
                break;
            case E_SEC:
                bad = getnum(&v, true, &num) < 0;
                if (!bad && num >= 60) {
                    range = "second";
                    break;
                }
                if (!bad && !micro && (v[0] == '.' || v[0] == ',') && is_digit(v[1])) {
                    v += 2;
                    while (is_digit(*v))
                        v++;
                }
                break;
            case E_FRAC6:
                if (strlen(v) < 7 || (v[0] != '.' && v[0] != ',')) {
                    bad = true;
                    break;
                }
                for (int i = 1; i < 7; i++)
                    bad = bad || !is_digit(v[i]);
                v += 7;
                break;
            case E_TZ:
                if (v[0] == 'Z') {
                    v++;
                    break;
                }
                if (strlen(v) < 6 || v[3] != ':' || (v[0] != '+' && v[0] != '-') ||
                    !is_digit(v[1]) || !is_digit(v[2]) || !is_digit(v[4]) || !is_digit(v[5])) {
                    bad = true;
                    break;
                }
                if ((v[1] - '0') * 10 + (v[2] - '0') > 24)
                    range = "time zone offset hour";
                else if ((v[4] - '0') * 10 + (v[5] - '0') > 60)
                    range = "time zone offset minute";
                v += 6;
                break;
            }
            if (bad) {
                bad_std = el->std;
                bad_at = hold;
            }
        }
        if (range != NULL) {
            int rc = kl_buf_puts(msg, "parsing time ");
            rc = rc ? rc : go_quote(msg, s);
            rc = rc ? rc : kl_buf_printf(msg, ": %s out of range", range);
            return rc ? rc : 1;
        }
        if (bad_std != NULL) {
            int rc = kl_buf_puts(msg, "parsing time ");
            rc = rc ? rc : go_quote(msg, s);
            rc = rc ? rc : kl_buf_puts(msg, " as ");
            rc = rc ? rc : go_quote(msg, layout);
            rc = rc ? rc : kl_buf_puts(msg, ": cannot parse ");
            rc = rc ? rc : go_quote(msg, bad_at);
            rc = rc ? rc : kl_buf_puts(msg, " as ");
            rc = rc ? rc : go_quote(msg, bad_std);
            return rc ? rc : 1;
        }
    }
    if (day < 1 || day > days_in(month, year)) {
        int rc = kl_buf_puts(msg, "parsing time ");
        rc = rc ? rc : go_quote(msg, s);
        rc = rc ? rc : kl_buf_puts(msg, ": day out of range");
        return rc ? rc : 1;
    }
    return 0;
}

static int b64val(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* base64.StdEncoding.Decode: -1 when valid, else the offset of base64.CorruptInputError. */
static long base64_error(const char *src, size_t len)
{
    size_t si = 0;
    for (;;) {
        for (int j = 0; j < 4; j++) {
            if (si == len)
                return j == 0 ? -1 : (long)(si - (size_t)j);
            unsigned char in = (unsigned char)src[si++];
            if (b64val(in) >= 0)
                continue;
            if (in == '\n' || in == '\r') {
                j--;
                continue;
            }
            if (in != '=')
                return (long)(si - 1);
            if (j == 0 || j == 1)
                return (long)(si - 1);
            if (j == 2) {
                while (si < len && (src[si] == '\n' || src[si] == '\r'))
                    si++;
                if (si == len)
                    return (long)len;
                if (src[si] != '=')
                    return (long)(si - 1);
                si++;
            }
            while (si < len && (src[si] == '\n' || src[si] == '\r'))
                si++;
            return si < len ? (long)si : -1;
        }
    }
}

/* ---- Built-in types ------------------------------------------------------------------- */

static int check_value(chk_t *c, const kl_stype_t *t, kl_json_t *j);

static int push_key(kl_buf_t *b, const char *key)
{
    return b->len > 0 ? kl_buf_printf(b, ".%s", key) : kl_buf_puts(b, key);
}

static void truncate_buf(kl_buf_t *b, size_t len)
{
    b->len = len;
    if (b->data != NULL)
        b->data[len] = '\0';
}

static void check_number_into(chk_t *c, const kl_stype_t *t, const kl_json_t *j, bool ctx)
{
    bool ok = true;
    if (j->type == KL_TDOUBLE)
        ok = false;
    else if (t->format != NULL && strcmp(t->format, "int32") == 0)
        ok = j->u.i >= INT32_MIN && j->u.i <= INT32_MAX;
    if (ok)
        return;
    kl_buf_t v;
    kl_buf_init(&v, 256);
    int rc = kl_buf_puts(&v, "number ");
    if (rc == 0)
        rc = kl__schema_number_text(j, &v);
    if (rc == 0) {
        if (ctx) {
            add_type_error(c, v.data, t->go_type ? t->go_type : "int64");
        } else {
            kl_buf_t m;
            kl_buf_init(&m, KL_BUF_DEFAULT_MAX);
            rc = kl_buf_printf(&m, "json: cannot unmarshal %s into Go value of type int32", v.data);
            if (rc == 0)
                add_fatal(c, m.data);
            kl_buf_cleanup(&m);
        }
    }
    note_rc(c, rc);
    kl_buf_cleanup(&v);
}

/* Whether a null member is dropped: CRD fields that are not nullable and have no default lose
 * their nulls (PruneNonNullableNullsWithoutDefaults; a default replaces the null later); built-in
 * types keep them (they decode to zero values). */
static bool drop_null(const kl_stype_t *sub)
{
    return sub != NULL && sub->crd && sub->valid != NULL && !sub->valid->nullable &&
           sub->valid->def == NULL;
}

/* Removes member i of obj (the key is copied first: it dies with the member). */
static void remove_member(chk_t *c, kl_json_t *obj, uint32_t i)
{
    char *key = strdup(obj->u.members[i].key);
    if (key == NULL) {
        note_rc(c, KL_ENOMEM);
        return;
    }
    kl_json_del(obj, key);
    free(key);
}

static void check_members(chk_t *c, const kl_stype_t *t, kl_json_t *obj)
{
    size_t splen = c->sp.len, fplen = c->fp.len;
    const char *strct = c->strct;
    for (uint32_t i = 0; i < obj->len && !c->fatal && c->rc == 0;) {
        kl_jmember_t *m = &obj->u.members[i];
        const kl_stype_t *sub;
        const char *embed = NULL;
        bool is_map = t->kind == KL_SK_MAP;
        if (is_map) {
            sub = t->elem;
        } else {
            const kl_sfield_t *f = kl_stype_field(t, m->key, m->keylen);
            if (f == NULL) {
                if (t->preserve_unknown) {
                    i++;
                    continue;
                }
                add_unknown(c, m->key);
                if (c->mode != KL_FIELDVAL_STRICT)
                    remove_member(c, obj, i);
                else
                    i++;
                continue;
            }
            sub = f->type;
            embed = f->go_embed;
        }
        if (m->val->type == KL_TNULL) {
            if (drop_null(sub))
                remove_member(c, obj, i);
            else
                i++;
            continue;
        }
        int rc = push_key(&c->sp, m->key);
        if (rc == 0 && !is_map && !t->crd) {
            /* Go names the embedded struct a field is promoted from: Volume.VolumeSource.x. */
            if (embed != NULL)
                rc = push_key(&c->fp, embed);
            if (rc == 0)
                rc = push_key(&c->fp, m->key);
            c->strct = kl__stype_struct_name(t);
        }
        note_rc(c, rc);
        if (rc == 0)
            check_value(c, sub, m->val);
        truncate_buf(&c->sp, splen);
        truncate_buf(&c->fp, fplen);
        c->strct = strct;
        i++;
    }
}

static void check_items(chk_t *c, const kl_stype_t *t, kl_json_t *arr)
{
    size_t splen = c->sp.len;
    for (uint32_t i = 0; i < arr->len && !c->fatal && c->rc == 0; i++) {
        note_rc(c, kl_buf_printf(&c->sp, "[%u]", i));
        if (c->rc < 0)
            break;
        /* A null item of a CRD list stays: defaulting or validation deals with it. */
        check_value(c, t->elem, arr->u.items[i]);
        truncate_buf(&c->sp, splen);
    }
}

static void check_builtin(chk_t *c, const kl_stype_t *t, kl_json_t *j)
{
    const char *go = t->go_type ? t->go_type : "interface {}";
    switch (t->kind) {
    case KL_SK_ANY:
        return;
    case KL_SK_STRING:
        if (j->type != KL_TSTRING) {
            add_type_error(c, json_kind_name(j), go);
        } else if (t->format != NULL && strcmp(t->format, "byte") == 0) {
            long at = base64_error(j->u.s, j->len);
            if (at >= 0) {
                char msg[80];
                snprintf(msg, sizeof(msg), "illegal base64 data at input byte %ld", at);
                note_rc(c, add_line(&c->r->type_errors, &c->r->ntype_errors, msg));
            }
        }
        return;
    case KL_SK_INT:
        if (kl_json_is_number(j))
            check_number_into(c, t, j, true);
        else
            add_type_error(c, json_kind_name(j), go);
        return;
    case KL_SK_NUMBER:
        if (!kl_json_is_number(j))
            add_type_error(c, json_kind_name(j), go);
        return;
    case KL_SK_BOOL:
        if (!kl_json_is_bool(j))
            add_type_error(c, json_kind_name(j), go);
        return;
    case KL_SK_OBJECT:
    case KL_SK_MAP:
        if (j->type != KL_TOBJECT)
            add_type_error(c, json_kind_name(j), go);
        else
            check_members(c, t, j);
        return;
    case KL_SK_LIST:
        if (j->type != KL_TARRAY)
            add_type_error(c, json_kind_name(j), go);
        else
            check_items(c, t, j);
        return;
    case KL_SK_INT_OR_STRING:
        if (j->type == KL_TSTRING)
            return;
        if (kl_json_is_number(j)) {
            check_number_into(c, &(kl_stype_t){.kind = KL_SK_INT, .format = "int32"}, j, false);
        } else {
            char msg[96];
            snprintf(msg, sizeof(msg), "json: cannot unmarshal %s into Go value of type int32",
                     json_kind_name(j));
            add_fatal(c, msg);
        }
        return;
    case KL_SK_QUANTITY: {
        const char *err = quantity_format_error;
        if (j->type == KL_TSTRING) {
            /* UnmarshalJSON trims spaces inside the quotes. */
            const char *s = j->u.s;
            size_t n = j->len;
            while (n > 0 && strchr(" \t\n\r", s[0]) != NULL)
                s++, n--;
            while (n > 0 && strchr(" \t\n\r", s[n - 1]) != NULL)
                n--;
            char *tmp = strndup(s, n);
            if (tmp == NULL) {
                note_rc(c, KL_ENOMEM);
                return;
            }
            err = kl__parse_quantity(tmp);
            free(tmp);
        } else if (kl_json_is_number(j)) {
            kl_buf_t b;
            kl_buf_init(&b, 64);
            note_rc(c, kl__schema_number_text(j, &b));
            err = b.data ? kl__parse_quantity(b.data) : NULL;
            kl_buf_cleanup(&b);
        }
        if (err != NULL)
            add_fatal(c, err);
        return;
    }
    case KL_SK_TIME:
        if (j->type != KL_TSTRING) {
            char msg[96];
            snprintf(msg, sizeof(msg), "json: cannot unmarshal %s into Go value of type string",
                     json_kind_name(j));
            add_fatal(c, msg);
        } else {
            bool micro = t->go_type != NULL && strstr(t->go_type, "MicroTime") != NULL;
            kl_buf_t msg;
            kl_buf_init(&msg, KL_BUF_DEFAULT_MAX);
            int rc = parse_time(j->u.s, micro, &msg);
            if (rc == 1)
                add_fatal(c, msg.data);
            else
                note_rc(c, rc);
            kl_buf_cleanup(&msg);
        }
        return;
    }
}

/* ---- CRD types ------------------------------------------------------------------------ */

/* Decoding a custom resource only prunes: values of the wrong type are the validation's. */
static void check_crd(chk_t *c, const kl_stype_t *t, kl_json_t *j)
{
    if (t->kind == KL_SK_LIST && j->type == KL_TARRAY)
        check_items(c, t, j);
    else if ((t->kind == KL_SK_OBJECT || t->kind == KL_SK_MAP) && j->type == KL_TOBJECT)
        check_members(c, t, j);
}

static int check_value(chk_t *c, const kl_stype_t *t, kl_json_t *j)
{
    if (c->fatal || c->rc < 0 || t == NULL || j->type == KL_TNULL)
        return 0;
    if (t->crd)
        check_crd(c, t, j);
    else
        check_builtin(c, t, j);
    return 0;
}

static int decode(const kl_stype_t *t, kl_json_t *obj, kl_fieldval_t mode, kl_schema_report_t *r)
{
    if (t == NULL || obj == NULL || r == NULL)
        return KL_EINVAL;
    chk_t c = {.mode = mode, .r = r, .strct = ""};
    kl_buf_init(&c.sp, KL_BUF_DEFAULT_MAX);
    kl_buf_init(&c.fp, KL_BUF_DEFAULT_MAX);
    check_value(&c, t, obj);
    kl_buf_cleanup(&c.sp);
    kl_buf_cleanup(&c.fp);
    /* Defaults apply to what survives decoding; a strict request with unknown fields fails. */
    if (c.rc == 0 && t->crd && !(mode == KL_FIELDVAL_STRICT && r->nunknown > 0)) {
        int rc = kl_schema_apply_defaults(t, obj);
        if (rc < 0)
            c.rc = rc;
    }
    return c.rc;
}

int kl_schema_decode(const kl_stype_t *t, kl_json_t *obj, kl_fieldval_t mode, kl_schema_report_t *r)
{
    return decode(t, obj, mode, r);
}

int kl_schema_check(const kl_stype_t *t, kl_json_t *obj, kl_fieldval_t mode, kl_schema_report_t *r)
{
    int rc = decode(t, obj, mode, r);
    if (rc < 0 || !t->crd)
        return rc;
    kl_ferrs_t errs;
    kl_ferrs_init(&errs);
    kl_schema_validate_cr(t, obj, NULL, &errs);
    kl_buf_t line;
    kl_buf_init(&line, KL_BUF_DEFAULT_MAX);
    for (size_t i = 0; rc == 0 && i < errs.n; i++) {
        line.len = 0;
        rc = kl_ferr_format(&errs.items[i], &line);
        if (rc == 0)
            rc = add_line(&r->invalid, &r->ninvalid, line.data);
    }
    if (rc == 0 && errs.oom)
        rc = KL_ENOMEM;
    kl_buf_cleanup(&line);
    kl_ferrs_cleanup(&errs);
    return rc;
}
