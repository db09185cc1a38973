/* apiserver/schema.c - the registry of built-in types, parsed once from the YAML definitions in
 * runtime/apiserver/schemas/ (their format is described at the top of schemas/meta.yaml).
 *
 * Everything the registry holds (types, fields, strings) lives in one arena that is never freed:
 * built-in types are valid for the whole process. Loading runs under pthread_once.
 */
#include "kubelua/schema.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/error.h"
#include "kubelua/json.h"

#include "apiserver/schema_int.h"
#include "util/embedded.h"

#define SCHEMA_DIR "runtime/apiserver/schemas/"

/* ---- Arena ---------------------------------------------------------------------------- */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk_t;

static chunk_t *arena_head;

static void *arena_alloc(size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (arena_head == NULL || arena_head->cap - arena_head->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        chunk_t *c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->next = arena_head;
        c->used = 0;
        c->cap = cap;
        arena_head = c;
    }
    void *p = (char *)arena_head->data + arena_head->used;
    arena_head->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strndup(const char *s, size_t n)
{
    char *p = arena_alloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static char *arena_strdup(const char *s)
{
    return s ? arena_strndup(s, strlen(s)) : NULL;
}

static char *arena_printf(const char *fmt, ...) KL_PRINTF(1, 2);
static char *arena_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = arena_alloc((size_t)n + 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* ---- Registry ------------------------------------------------------------------------- */

typedef struct entry {
    const char *name;     /* full definition name */
    const char *pkg;      /* package it was defined in */
    const char *shortn;   /* part after the package */
    kl_stype_t *type;     /* NULL for an alias until resolved */
    const char *alias;    /* spec text of an alias */
    const kl_json_t *def; /* mapping of a type, valid while loading */
    int resolving;        /* alias cycle guard */
} entry_t;

static entry_t *entries;
static size_t nentries, capentries;
static uint32_t *table; /* open addressing over entries, index + 1 */
static size_t tablecap;

static kl__schema_gvk_t *gvks;
static size_t ngvks;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_rc;
static kl_errinfo_t load_err;

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static entry_t *find_entry(const char *name)
{
    if (table == NULL)
        return NULL;
    for (size_t i = hash_str(name) & (tablecap - 1);; i = (i + 1) & (tablecap - 1)) {
        if (table[i] == 0)
            return NULL;
        entry_t *e = &entries[table[i] - 1];
        if (strcmp(e->name, name) == 0)
            return e;
    }
}

static int build_table(void)
{
    tablecap = 64;
    while (tablecap < nentries * 2)
        tablecap *= 2;
    table = arena_alloc(tablecap * sizeof(*table));
    if (table == NULL)
        return KL_ENOMEM;
    for (size_t k = 0; k < nentries; k++) {
        size_t i = hash_str(entries[k].name) & (tablecap - 1);
        while (table[i] != 0)
            i = (i + 1) & (tablecap - 1);
        table[i] = (uint32_t)k + 1;
    }
    return 0;
}

/* Scalars shared by every field that adds nothing to them. */
static kl_stype_t t_string = {.kind = KL_SK_STRING, .go_type = "string"};
static kl_stype_t t_int32 = {.kind = KL_SK_INT, .format = "int32", .go_type = "int32"};
static kl_stype_t t_int64 = {.kind = KL_SK_INT, .format = "int64", .go_type = "int64"};
static kl_stype_t t_float64 = {.kind = KL_SK_NUMBER, .format = "double", .go_type = "float64"};
static kl_stype_t t_bool = {.kind = KL_SK_BOOL, .go_type = "bool"};
static kl_stype_t t_bytes = {.kind = KL_SK_STRING, .format = "byte", .go_type = "[]uint8"};
static kl_stype_t t_any = {.kind = KL_SK_ANY, .go_type = "interface {}"};

/* ---- Loading -------------------------------------------------------------------------- */

typedef struct loader {
    kl_errinfo_t *err;
    const char *file;
} loader_t;

static int fail(loader_t *ld, const char *fmt, ...) KL_PRINTF(2, 3);
static int fail(loader_t *ld, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return kl_err(ld->err, KL_EINVAL, "%s: %s", ld->file ? ld->file : "schema", msg);
}

static const char *last_dot(const char *s)
{
    const char *d = strrchr(s, '.');
    return d ? d + 1 : s;
}

/* "v1" for "io.k8s.api.core.v1". */
static const char *pkg_short(const char *pkg)
{
    return last_dot(pkg);
}

static const char *default_go_type(const char *name)
{
    /* The last two components: "io.k8s.api.batch.v1.JobSpec" -> "v1.JobSpec". */
    const char *last = strrchr(name, '.');
    if (last == NULL)
        return name;
    const char *p = last;
    while (p > name && p[-1] != '.')
        p--;
    return p;
}

typedef struct spec {
    kl_stype_t *type;
    unsigned flags;
    const char *merge_key;
    const char *description;
    const char *go_embed;
} spec_t;

static int parse_spec(loader_t *ld, const char *pkg, const char *text, spec_t *out);

/* Resolves a type name used in package pkg. */
static kl_stype_t *resolve_name(loader_t *ld, const char *pkg, const char *name, size_t len)
{
    char buf[256];
    struct {
        const char *s;
        kl_stype_t *t;
    } builtin[] = {{"string", &t_string},   {"int32", &t_int32}, {"int64", &t_int64},
                   {"float64", &t_float64}, {"bool", &t_bool},   {"bytes", &t_bytes},
                   {"any", &t_any}};
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
        if (strlen(builtin[i].s) == len && memcmp(builtin[i].s, name, len) == 0)
            return builtin[i].t;
    }
    if (len + strlen(pkg) + 2 > sizeof(buf)) {
        fail(ld, "type name too long");
        return NULL;
    }
    entry_t *e = NULL;
    snprintf(buf, sizeof(buf), "%s.%.*s", pkg, (int)len, name);
    e = find_entry(buf);
    if (e == NULL && memchr(name, '.', len) != NULL) {
        snprintf(buf, sizeof(buf), "%.*s", (int)len, name);
        e = find_entry(buf);
    }
    if (e == NULL) {
        for (size_t i = 0; i < nentries; i++) {
            if (strlen(entries[i].shortn) == len && memcmp(entries[i].shortn, name, len) == 0) {
                if (e != NULL) {
                    fail(ld, "type name %.*s is ambiguous; qualify it", (int)len, name);
                    return NULL;
                }
                e = &entries[i];
            }
        }
    }
    if (e == NULL) {
        fail(ld, "unknown type %.*s", (int)len, name);
        return NULL;
    }
    if (e->type == NULL) {
        if (e->resolving) {
            fail(ld, "alias %s refers to itself", e->name);
            return NULL;
        }
        spec_t sp;
        e->resolving = 1;
        int rc = parse_spec(ld, e->pkg, e->alias, &sp);
        e->resolving = 0;
        if (rc < 0)
            return NULL;
        e->type = sp.type;
    }
    return e->type;
}

static kl_stype_t *clone_type(const kl_stype_t *t)
{
    kl_stype_t *c = arena_alloc(sizeof(*c));
    if (c != NULL) {
        *c = *t;
        c->name = NULL; /* a copy is anonymous: it is inlined where it is used */
    }
    return c;
}

/* Parses "X[]{}" (type expression only, no attributes). */
static kl_stype_t *parse_type_expr(loader_t *ld, const char *pkg, const char *s, size_t len)
{
    if (len >= 2 && (memcmp(s + len - 2, "[]", 2) == 0 || memcmp(s + len - 2, "{}", 2) == 0)) {
        kl_stype_t *elem = parse_type_expr(ld, pkg, s, len - 2);
        if (elem == NULL)
            return NULL;
        kl_stype_t *t = arena_alloc(sizeof(*t));
        if (t == NULL) {
            kl_err(ld->err, KL_ENOMEM, "out of memory");
            return NULL;
        }
        bool list = s[len - 2] == '[';
        t->kind = list ? KL_SK_LIST : KL_SK_MAP;
        t->elem = elem;
        t->go_type = arena_printf("%s%s", list ? "[]" : "map[string]", elem->go_type);
        return t;
    }
    if (len == 0) {
        fail(ld, "empty type");
        return NULL;
    }
    return resolve_name(ld, pkg, s, len);
}

static const char *const *split_list(const char *s, size_t len)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += s[i] == ',';
    const char **v = arena_alloc((n + 1) * sizeof(*v));
    if (v == NULL)
        return NULL;
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == ',') {
            v[k++] = arena_strndup(s + start, i - start);
            start = i + 1;
        }
    }
    v[k] = NULL;
    return v;
}

static bool word_is(const char *w, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(w, lit, n) == 0;
}

/* Parses "TYPE [ATTR...] [| description]". */
static int parse_spec(loader_t *ld, const char *pkg, const char *text, spec_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t end = strlen(text);
    const char *bar = strstr(text, " |");
    if (bar != NULL) {
        const char *d = bar + 2;
        while (*d == ' ')
            d++;
        out->description = *d ? arena_strdup(d) : NULL;
        end = (size_t)(bar - text);
    }
    const char *p = text, *stop = text + end;
    while (p < stop && *p == ' ')
        p++;
    const char *w = p;
    while (p < stop && *p != ' ')
        p++;
    kl_stype_t *base = parse_type_expr(ld, pkg, w, (size_t)(p - w));
    if (base == NULL)
        return ld->err && ld->err->code ? ld->err->code : KL_EINVAL;
    kl_stype_t *own = NULL; /* a private copy once an attribute changes the type */
#define OWN()                                                                                      \
    do {                                                                                           \
        if (own == NULL && (own = clone_type(base)) == NULL)                                       \
            return kl_err(ld->err, KL_ENOMEM, "out of memory");                                    \
    } while (0)
    while (p < stop) {
        while (p < stop && *p == ' ')
            p++;
        if (p >= stop)
            break;
        w = p;
        while (p < stop && *p != ' ')
            p++;
        size_t n = (size_t)(p - w);
        const char *eq = memchr(w, '=', n);
        size_t kn = eq ? (size_t)(eq - w) : n;
        const char *val = eq ? eq + 1 : NULL;
        size_t vn = eq ? n - kn - 1 : 0;
        if (word_is(w, n, "req")) {
            out->flags |= KL_SF_REQUIRED;
        } else if (word_is(w, n, "null")) {
            out->flags |= KL_SF_NULLABLE;
        } else if (word_is(w, kn, "merge")) {
            out->flags |= KL_SF_PATCH_MERGE;
            if (val != NULL)
                out->merge_key = arena_strndup(val, vn);
        } else if (word_is(w, kn, "in") && val != NULL) {
            out->go_embed = arena_strndup(val, vn);
        } else if (word_is(w, n, "retainKeys")) {
            out->flags |= KL_SF_RETAIN_KEYS;
        } else if (word_is(w, n, "replace")) {
            out->flags |= KL_SF_PATCH_REPLACE;
        } else if (word_is(w, n, "atomic") || word_is(w, n, "set") || word_is(w, kn, "map")) {
            if (base->kind != KL_SK_LIST)
                return fail(ld, "%.*s on a type that is not a list", (int)n, w);
            OWN();
            own->list_type = arena_strndup(w, kn);
            if (val != NULL)
                own->list_map_keys = split_list(val, vn);
        } else if (word_is(w, kn, "enum") && val != NULL) {
            OWN();
            own->enum_values = split_list(val, vn);
        } else if (word_is(w, kn, "go") && val != NULL) {
            OWN();
            own->go_type = memchr(val, '.', vn)
                               ? arena_strndup(val, vn)
                               : arena_printf("%s.%.*s", pkg_short(pkg), (int)vn, val);
        } else {
            return fail(ld, "unknown attribute %.*s in \"%s\"", (int)n, w, text);
        }
    }
#undef OWN
    out->type = own ? own : base;
    return 0;
}

static int cmp_field(const void *a, const void *b)
{
    return strcmp(((const kl_sfield_t *)a)->name, ((const kl_sfield_t *)b)->name);
}

static int add_kind(loader_t *ld, kl_stype_t *t, const char *gvk)
{
    const char *k = strrchr(gvk, '/');
    if (k == NULL || k == gvk)
        return fail(ld, "bad .kind %s", gvk);
    const char *v = k;
    while (v > gvk && v[-1] != '/')
        v--;
    if (v == gvk)
        return fail(ld, "bad .kind %s", gvk);
    kl__schema_gvk_t *g = &gvks[ngvks++];
    g->group = arena_strndup(gvk, (size_t)(v - 1 - gvk));
    g->version = arena_strndup(v, (size_t)(k - v));
    g->kind = arena_strdup(k + 1);
    g->type = t;
    return 0;
}

static int load_object(loader_t *ld, entry_t *e)
{
    const kl_json_t *def = e->def;
    kl_stype_t *t = e->type;
    const char *gvk = NULL;
    bool meta = true;
    size_t nf = 0;
    for (uint32_t i = 0; i < def->len; i++)
        nf += def->u.members[i].key[0] != '.';
    kl_sfield_t *fields = arena_alloc((nf + 3) * sizeof(*fields));
    if (fields == NULL)
        return KL_ENOMEM;
    size_t k = 0;
    for (uint32_t i = 0; i < def->len; i++) {
        const kl_jmember_t *m = &def->u.members[i];
        const char *s = kl_json_str(m->val);
        if (m->key[0] == '.') {
            if (strcmp(m->key, ".desc") == 0 && s != NULL)
                t->description = arena_strdup(s);
            else if (strcmp(m->key, ".kind") == 0 && s != NULL)
                gvk = s;
            else if (strcmp(m->key, ".go") == 0 && s != NULL)
                t->go_type = arena_strdup(s);
            else if (strcmp(m->key, ".meta") == 0 && s != NULL && strcmp(s, "none") == 0)
                meta = false;
            else if (strcmp(m->key, ".preserve") == 0 && kl_json_is_bool(m->val))
                t->preserve_unknown = kl_json_bool_or(m->val, false);
            else if (strcmp(m->key, ".type") != 0)
                return fail(ld, "%s: unknown key %s", e->name, m->key);
            continue;
        }
        if (s == NULL)
            return fail(ld, "%s.%s: the field spec must be a string", e->name, m->key);
        spec_t sp;
        int rc = parse_spec(ld, e->pkg, s, &sp);
        if (rc < 0)
            return rc;
        kl_sfield_t *f = &fields[k++];
        f->name = arena_strdup(m->key);
        f->type = sp.type;
        f->flags = sp.flags;
        f->merge_key = sp.merge_key;
        f->description = sp.description;
        f->go_embed = sp.go_embed;
        if (f->name == NULL)
            return KL_ENOMEM;
    }
    if (gvk != NULL) {
        struct {
            const char *name, *type, *desc;
        } add[] = {
            {"apiVersion", "string", "Versioned schema of this representation of an object."},
            {"kind", "string", "REST resource this object represents, in CamelCase."},
            {"metadata", "ObjectMeta", "Standard object metadata."},
        };
        for (size_t j = 0; j < 3; j++) {
            if (j == 2 && !meta)
                break;
            bool have = false;
            for (size_t q = 0; q < k; q++)
                have = have || strcmp(fields[q].name, add[j].name) == 0;
            if (have)
                continue;
            kl_sfield_t *f = &fields[k++];
            f->name = add[j].name;
            f->type = resolve_name(ld, e->pkg, add[j].type, strlen(add[j].type));
            f->description = add[j].desc;
            f->go_embed = j < 2 ? "TypeMeta" : NULL;
            if (f->type == NULL)
                return KL_EINVAL;
        }
        int rc = add_kind(ld, t, gvk);
        if (rc < 0)
            return rc;
    }
    qsort(fields, k, sizeof(*fields), cmp_field);
    for (size_t q = 1; q < k; q++) {
        if (strcmp(fields[q - 1].name, fields[q].name) == 0)
            return fail(ld, "%s: field %s twice", e->name, fields[q].name);
    }
    t->fields = fields;
    t->nfields = k;
    return 0;
}

static int load_named_scalar(loader_t *ld, entry_t *e, const char *what)
{
    kl_stype_t *t = e->type;
    if (strcmp(what, "quantity") == 0) {
        t->kind = KL_SK_QUANTITY;
    } else if (strcmp(what, "intstr") == 0) {
        t->kind = KL_SK_INT_OR_STRING;
        t->format = "int-or-string";
    } else if (strcmp(what, "time") == 0 || strcmp(what, "microtime") == 0) {
        t->kind = KL_SK_TIME;
        t->format = "date-time";
    } else {
        spec_t sp;
        int rc = parse_spec(ld, e->pkg, what, &sp);
        if (rc < 0)
            return rc;
        const char *go = t->go_type, *desc = t->description, *name = t->name;
        *t = *sp.type;
        t->name = name;
        t->description = desc;
        t->go_type = go;
    }
    return 0;
}

static int load_file(loader_t *ld, const kl_json_t *doc)
{
    if (!kl_json_is(doc, KL_TOBJECT))
        return fail(ld, "the document must be a mapping of packages");
    for (uint32_t i = 0; i < doc->len; i++) {
        const kl_jmember_t *pm = &doc->u.members[i];
        if (!kl_json_is(pm->val, KL_TOBJECT))
            return fail(ld, "package %s must be a mapping of types", pm->key);
        const char *pkg = arena_strdup(pm->key);
        if (pkg == NULL)
            return KL_ENOMEM;
        for (uint32_t j = 0; j < pm->val->len; j++) {
            const kl_jmember_t *tm = &pm->val->u.members[j];
            if (nentries == capentries) {
                size_t cap = capentries ? capentries * 2 : 256;
                entry_t *ne = realloc(entries, cap * sizeof(*ne));
                if (ne == NULL)
                    return KL_ENOMEM;
                entries = ne;
                capentries = cap;
            }
            entry_t *e = &entries[nentries++];
            memset(e, 0, sizeof(*e));
            e->pkg = pkg;
            e->shortn = arena_strdup(tm->key);
            e->name = arena_printf("%s.%s", pkg, tm->key);
            if (e->shortn == NULL || e->name == NULL)
                return KL_ENOMEM;
            if (kl_json_is(tm->val, KL_TSTRING)) {
                e->alias = arena_strdup(kl_json_str(tm->val));
                continue;
            }
            if (!kl_json_is(tm->val, KL_TOBJECT))
                return fail(ld, "%s must be a mapping or an alias string", e->name);
            e->def = tm->val;
            e->type = arena_alloc(sizeof(*e->type));
            if (e->type == NULL)
                return KL_ENOMEM;
            e->type->name = e->name;
            e->type->kind = KL_SK_OBJECT;
            e->type->go_type = default_go_type(e->name);
            const char *go = kl_json_path_str(tm->val, ".go", NULL);
            if (go != NULL)
                e->type->go_type = arena_strdup(go);
            const char *desc = kl_json_path_str(tm->val, ".desc", NULL);
            if (desc != NULL)
                e->type->description = arena_strdup(desc);
        }
    }
    return 0;
}

static void load_all(void)
{
    kl_errinfo_t *err = &load_err;
    loader_t ld = {.err = err};
    kl_json_t **docs[16];
    size_t ndocs[16];
    const char *files[16];
    size_t nfiles = 0;
    int rc = 0;
    size_t plen = strlen(SCHEMA_DIR);
    for (const kl_embedded_file_t *f = kl_embedded_files; f->path != NULL; f++) {
        if (strncmp(f->path, SCHEMA_DIR, plen) != 0)
            continue;
        if (nfiles == 16) {
            rc = kl_err(err, KL_ETOOBIG, "too many schema files");
            goto out;
        }
        ld.file = f->path;
        rc = kl_yaml_parse(f->data, f->len, NULL, &docs[nfiles], &ndocs[nfiles], err);
        if (rc < 0) {
            char msg[sizeof(err->msg)];
            snprintf(msg, sizeof(msg), "%s", err->msg);
            kl_err_at(err, rc, err->line, err->column, "%s: %s", f->path, msg);
            goto out;
        }
        files[nfiles++] = f->path;
    }
    for (size_t i = 0; i < nfiles; i++) {
        ld.file = files[i];
        for (size_t d = 0; d < ndocs[i]; d++) {
            if ((rc = load_file(&ld, docs[i][d])) < 0)
                goto out;
        }
    }
    if ((rc = build_table()) < 0)
        goto out;
    gvks = arena_alloc(nentries * sizeof(*gvks));
    if (gvks == NULL) {
        rc = KL_ENOMEM;
        goto out;
    }
    /* Aliases first (they may be used by named scalars), then named types. */
    for (size_t i = 0; i < nentries; i++) {
        entry_t *e = &entries[i];
        ld.file = e->name;
        if (e->type == NULL && resolve_name(&ld, e->pkg, e->shortn, strlen(e->shortn)) == NULL) {
            rc = err->code ? err->code : KL_EINVAL;
            goto out;
        }
    }
    for (size_t i = 0; i < nentries; i++) {
        entry_t *e = &entries[i];
        if (e->def == NULL)
            continue;
        ld.file = e->name;
        const char *what = kl_json_path_str(e->def, ".type", NULL);
        rc = what ? load_named_scalar(&ld, e, what) : load_object(&ld, e);
        if (rc < 0) {
            if (err->code == 0)
                kl_err(err, rc, "%s: %s", e->name, kl_strerror(rc));
            goto out;
        }
    }
out:
    for (size_t i = 0; i < nfiles; i++)
        kl_json_free_docs(docs[i], ndocs[i]);
    for (size_t i = 0; i < nentries; i++)
        entries[i].def = NULL;
    if (rc < 0) {
        if (err->code == 0)
            kl_err(err, rc, "loading schemas: %s", kl_strerror(rc));
        table = NULL;
        ngvks = 0;
    }
    load_rc = rc;
}

int kl_schema_init(kl_errinfo_t *err)
{
    pthread_once(&load_once, load_all);
    if (load_rc < 0 && err != NULL)
        *err = load_err;
    return load_rc;
}

const kl_stype_t *kl_schema_lookup(const char *name)
{
    if (name == NULL || kl_schema_init(NULL) < 0)
        return NULL;
    entry_t *e = find_entry(name);
    return e ? e->type : NULL;
}

const kl_stype_t *kl_schema_for_kind(const char *group, const char *version, const char *kind)
{
    if (kl_schema_init(NULL) < 0 || version == NULL || kind == NULL)
        return NULL;
    for (size_t i = 0; i < ngvks; i++) {
        const kl__schema_gvk_t *g = &gvks[i];
        if (strcmp(g->group, group ? group : "") == 0 && strcmp(g->version, version) == 0 &&
            strcmp(g->kind, kind) == 0)
            return g->type;
    }
    return NULL;
}

const kl_sfield_t *kl_stype_field(const kl_stype_t *t, const char *name, size_t len)
{
    if (t == NULL || t->kind != KL_SK_OBJECT || name == NULL)
        return NULL;
    size_t lo = 0, hi = t->nfields;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *fn = t->fields[mid].name;
        int c = strncmp(fn, name, len);
        if (c == 0)
            c = fn[len] == '\0' ? 0 : 1;
        if (c == 0)
            return &t->fields[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const kl__schema_gvk_t *kl__schema_gvks(size_t *n)
{
    if (kl_schema_init(NULL) < 0) {
        *n = 0;
        return NULL;
    }
    *n = ngvks;
    return gvks;
}

const kl__schema_gvk_t *kl__schema_gvk_of(const kl_stype_t *t)
{
    size_t n;
    const kl__schema_gvk_t *g = kl__schema_gvks(&n);
    for (size_t i = 0; i < n; i++) {
        if (g[i].type == t)
            return &g[i];
    }
    return NULL;
}

const char *kl__stype_struct_name(const kl_stype_t *t)
{
    if (t->go_type != NULL) {
        const char *d = strrchr(t->go_type, '.');
        return d ? d + 1 : t->go_type;
    }
    return t->name ? last_dot(t->name) : "";
}
