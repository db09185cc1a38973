/* What a container runs: the image entrypoint table, and a container spec turned into argv and
 * environment as kubelet does it (valueFrom references, $(VAR) expansion). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kubelua/buf.h"
#include "kubelua/proc.h"
#include "kubelua/quantity.h"

/* ---- Image table ---------------------------------------------------------------------------- */

static const char *const cmd_sh[] = {"sh", NULL};
static const char *const cmd_binsh[] = {"/bin/sh", NULL};
static const char *const cmd_bash[] = {"bash", NULL};
static const char *const cmd_perl[] = {"perl", "-e", "0", NULL};
static const char *const cmd_python[] = {"python3", NULL};
static const char *const cmd_node[] = {"node", NULL};
static const char *const cmd_irb[] = {"irb", NULL};

typedef struct image_entry {
    const char *name;
    const char *const *cmd; /* the image's default command; NULL: a long-running service */
} image_entry_t;

/* Exact names are tried before prefixes, so "node-exporter" is a service, not node. */
static const image_entry_t images[] = {
    {"busybox", cmd_sh},      {"alpine", cmd_binsh},   {"ubuntu", cmd_bash},
    {"debian", cmd_bash},     {"centos", cmd_bash},    {"fedora", cmd_bash},
    {"rockylinux", cmd_bash}, {"almalinux", cmd_bash}, {"amazonlinux", cmd_bash},
    {"bash", cmd_bash},       {"golang", cmd_bash},    {"perl", cmd_perl},
    {"python", cmd_python},   {"pypy", cmd_python},    {"node", cmd_node},
    {"ruby", cmd_irb},        {"nginx", NULL},         {"httpd", NULL},
    {"apache", NULL},         {"redis", NULL},         {"memcached", NULL},
    {"fluentd", NULL},        {"fluent-bit", NULL},    {"postgres", NULL},
    {"mysql", NULL},          {"mariadb", NULL},       {"mongo", NULL},
    {"rabbitmq", NULL},       {"traefik", NULL},       {"haproxy", NULL},
    {"caddy", NULL},          {"envoy", NULL},         {"registry", NULL},
    {"pause", NULL},          {"agnhost", NULL},       {"prometheus", NULL},
    {"node-exporter", NULL},  {"grafana", NULL},       {"elasticsearch", NULL},
    {"kibana", NULL},         {"etcd", NULL},          {"coredns", NULL},
    {"nats", NULL},           {"consul", NULL},        {"vault", NULL},
    {"zookeeper", NULL},      {"kafka", NULL},         {"cassandra", NULL},
    {"minio", NULL},          {"tomcat", NULL},        {"jenkins", NULL},
    {"wordpress", NULL},      {"echoserver", NULL},
};

/* The image's last path component without tag or digest, lower-cased. */
static void image_base(const char *image, char *out, size_t cap)
{
    out[0] = '\0';
    if (image == NULL)
        return;
    const char *end = strchr(image, '@');
    if (end == NULL)
        end = image + strlen(image);
    const char *start = image;
    for (const char *p = image; p < end; p++)
        if (*p == '/')
            start = p + 1;
    const char *colon = memchr(start, ':', (size_t)(end - start));
    if (colon)
        end = colon;
    size_t n = (size_t)(end - start);
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)start[i]);
    out[n] = '\0';
}

static const image_entry_t *image_lookup(const char *image)
{
    char base[256];
    image_base(image, base, sizeof(base));
    if (!base[0])
        return NULL;
    size_t count = sizeof(images) / sizeof(images[0]);
    for (size_t i = 0; i < count; i++)
        if (strcmp(base, images[i].name) == 0)
            return &images[i];
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(images[i].name);
        if (strncmp(base, images[i].name, n) == 0 && base[n] == '-')
            return &images[i];
    }
    return NULL;
}

static bool executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static bool on_path(const char *file, const char *path)
{
    if (strchr(file, '/'))
        return executable(file);
    if (path == NULL)
        path = getenv("PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    size_t flen = strlen(file);
    const char *p = path;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t dlen = colon ? (size_t)(colon - p) : strlen(p);
        char buf[4096];
        if (dlen + flen + 2 <= sizeof(buf)) {
            if (dlen == 0)
                snprintf(buf, sizeof(buf), "%s", file);
            else
                snprintf(buf, sizeof(buf), "%.*s/%s", (int)dlen, p, file);
            if (executable(buf))
                return true;
        }
        if (colon == NULL)
            return false;
        p = colon + 1;
    }
}

static size_t count(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* One allocation: the pointer array, then the strings. */
static char **argv_build(const char *const *a, const char *const *b)
{
    size_t na = count(a), nb = count(b), bytes = 0;
    for (size_t i = 0; i < na; i++)
        bytes += strlen(a[i]) + 1;
    for (size_t i = 0; i < nb; i++)
        bytes += strlen(b[i]) + 1;
    char **v = malloc((na + nb + 1) * sizeof(char *) + bytes);
    if (v == NULL)
        return NULL;
    char *s = (char *)(v + na + nb + 1);
    for (size_t i = 0; i < na + nb; i++) {
        const char *src = i < na ? a[i] : b[i - na];
        size_t n = strlen(src) + 1;
        memcpy(s, src, n);
        v[i] = s;
        s += n;
    }
    v[na + nb] = NULL;
    return v;
}

int kl_proc_argv_resolve(const char *image, const char *const *command, const char *const *args,
                         const char *path, char ***argv, bool *standin, kl_errinfo_t *err)
{
    const image_entry_t *e = image_lookup(image);
    bool has_cmd = count(command) > 0, has_args = count(args) > 0;
    const char *const *a = NULL, *const *b = NULL;
    *standin = false;
    if (has_cmd) {
        if (e && e->cmd == NULL && !on_path(command[0], path))
            *standin = true;
        else {
            a = command;
            b = args;
        }
    } else if (e && e->cmd == NULL) {
        *standin = true;
    } else if (e) {
        a = has_args ? args : e->cmd;
    } else if (has_args) {
        a = args;
    } else {
        return kl_err(err, KL_EINVAL,
                      "failed to generate container spec: no command specified "
                      "(image %s has no known entrypoint)",
                      image ? image : "\"\"");
    }
    *argv = argv_build(a, b);
    return *argv ? 0 : kl_err(err, KL_ENOMEM, "out of memory");
}

/* ---- Container spec ------------------------------------------------------------------------- */

typedef struct store {
    char *image;
    char *working_dir;
    char **command;
    char **args;
    char **env; /* "NAME=value" */
    size_t nenv, capenv;
} store_t;

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void kl_proc_spec_cleanup(kl_proc_spec_t *spec)
{
    store_t *s = spec->priv_;
    if (s == NULL)
        return;
    free(s->image);
    free(s->working_dir);
    strv_free(s->command);
    strv_free(s->args);
    strv_free(s->env);
    free(s);
    spec->priv_ = NULL;
}

/* Looks NAME up in env[0..n). */
static const char *env_get(char *const *env, size_t n, const char *name, size_t nlen)
{
    for (size_t i = n; i-- > 0;) {
        if (strncmp(env[i], name, nlen) == 0 && env[i][nlen] == '=')
            return env[i] + nlen + 1;
    }
    return NULL;
}

/* kubelet's $(VAR) expansion: "$$" is a literal "$", "$(NAME)" is NAME's value when defined
 * (else left as written), any other "$" stays. */
static char *expand(const char *in, char *const *env, size_t nenv)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    int rc = 0;
    size_t len = strlen(in), checkpoint = 0;
    for (size_t cur = 0; cur < len && rc == 0; cur++) {
        if (in[cur] != '$' || cur + 1 >= len)
            continue;
        rc = kl_buf_append(&b, in + checkpoint, cur - checkpoint);
        const char *rest = in + cur + 1;
        size_t advance = 1;
        if (rest[0] == '$') {
            rc = rc ? rc : kl_buf_putc(&b, '$');
        } else if (rest[0] == '(') {
            const char *close = strchr(rest + 1, ')');
            if (close) {
                size_t nlen = (size_t)(close - rest - 1);
                const char *v = env_get(env, nenv, rest + 1, nlen);
                if (v)
                    rc = rc ? rc : kl_buf_puts(&b, v);
                else
                    rc = rc ? rc : kl_buf_append(&b, rest - 1, nlen + 3);
                advance = nlen + 2;
            } else {
                rc = rc ? rc : kl_buf_puts(&b, "$(");
            }
        } else {
            rc = rc ? rc : kl_buf_append(&b, rest - 1, 2);
        }
        cur += advance;
        checkpoint = cur + 1;
    }
    if (rc == 0 && checkpoint < len)
        rc = kl_buf_append(&b, in + checkpoint, len - checkpoint);
    char *out = rc == 0 ? kl_buf_take(&b, NULL) : NULL;
    kl_buf_cleanup(&b);
    return out;
}

static int env_set(store_t *s, const char *name, const char *value)
{
    size_t nlen = strlen(name);
    size_t n = nlen + strlen(value) + 2;
    char *kv = malloc(n);
    if (kv == NULL)
        return KL_ENOMEM;
    snprintf(kv, n, "%s=%s", name, value);
    for (size_t i = 0; i < s->nenv; i++) {
        if (strncmp(s->env[i], name, nlen) == 0 && s->env[i][nlen] == '=') {
            free(s->env[i]);
            s->env[i] = kv;
            return 0;
        }
    }
    if (s->nenv + 2 > s->capenv) {
        size_t cap = s->capenv ? s->capenv * 2 : 16;
        char **nv = realloc(s->env, cap * sizeof(char *));
        if (nv == NULL) {
            free(kv);
            return KL_ENOMEM;
        }
        s->env = nv;
        s->capenv = cap;
    }
    s->env[s->nenv++] = kv;
    s->env[s->nenv] = NULL;
    return 0;
}

/* Expanded copies of a string array; NULL array when v is missing. */
static int strv_expand(kl_val_t v, store_t *s, char ***out)
{
    *out = NULL;
    if (kl_val_type(v) != KL_TARRAY)
        return 0;
    uint32_t n = kl_val_len(v);
    char **r = calloc(n + 1, sizeof(char *));
    if (r == NULL)
        return KL_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const char *str = kl_val_str(kl_val_at(v, i), NULL);
        r[i] = expand(str ? str : "", s->env, s->nenv);
        if (r[i] == NULL) {
            strv_free(r);
            return KL_ENOMEM;
        }
    }
    *out = r;
    return 0;
}

static int quantity_of(kl_val_t v, kl_quantity_t *q, kl_errinfo_t *err)
{
    return kl_quantity_from_val(v, q, err);
}

/* resourceFieldRef: the container's own limits/requests divided by divisor, rounded up. */
static int resource_field(kl_val_t container, kl_val_t ref, kl_proc_resolve_fn resolve, void *ud,
                          char *out, size_t cap, kl_errinfo_t *err)
{
    const char *res = kl_val_path_str(ref, "resource", NULL);
    if (res == NULL)
        return kl_err(err, KL_EINVAL, "resourceFieldRef without resource");
    const char *dot = strchr(res, '.');
    if (dot == NULL || (strncmp(res, "limits", (size_t)(dot - res)) != 0 &&
                        strncmp(res, "requests", (size_t)(dot - res)) != 0))
        return kl_err(err, KL_EINVAL, "unsupported container resource: %s", res);
    const char *name = dot + 1;
    bool cpu = strcmp(name, "cpu") == 0;
    if (!cpu && strcmp(name, "memory") != 0 && strcmp(name, "ephemeral-storage") != 0)
        return kl_err(err, KL_EINVAL, "unsupported container resource: %s", res);
    kl_val_t resources = kl_val_get(container, "resources");
    kl_val_t limit = kl_val_path(resources, "limits", name, NULL);
    kl_val_t v = res[0] == 'r' ? kl_val_path(resources, "requests", name, NULL) : limit;
    if (kl_val_missing(v))
        v = limit;
    kl_quantity_t q = {0}, d = {0};
    int rc;
    if (kl_val_missing(v) && res[0] == 'l') {
        const char *alloc = resolve ? resolve(KL_PROC_REF_ALLOCATABLE, name, NULL, ud) : NULL;
        if (alloc == NULL)
            return kl_err(err, KL_ENOTFOUND, "no %s limit and no node allocatable %s", name, name);
        rc = kl_quantity_parse(alloc, strlen(alloc), &q, err);
    } else {
        rc = quantity_of(v, &q, err);
    }
    if (rc < 0)
        return rc;
    kl_val_t dv = kl_val_get(ref, "divisor");
    if (kl_val_missing(dv) || kl_val_type(dv) == KL_TNULL)
        d.units = 1;
    else if ((rc = quantity_of(dv, &d, err)) < 0)
        return rc;
    int64_t num = cpu ? kl_quantity_milli(&q) : kl_quantity_value(&q);
    int64_t den = cpu ? kl_quantity_milli(&d) : kl_quantity_value(&d);
    if (den <= 0)
        return kl_err(err, KL_EINVAL, "invalid divisor for %s", res);
    int64_t r = num / den + (num % den > 0 ? 1 : 0);
    snprintf(out, cap, "%lld", (long long)r);
    return 0;
}

static int env_from_spec(store_t *s, kl_proc_spec_t *spec, kl_val_t container,
                         kl_proc_resolve_fn resolve, void *ud, kl_errinfo_t *err)
{
    kl_val_t env = kl_val_get(container, "env");
    uint32_t n = kl_val_len(env);
    const char *ns = spec->namespace ? spec->namespace : "";
    for (uint32_t i = 0; i < n; i++) {
        kl_val_t e = kl_val_at(env, i);
        const char *name = kl_val_path_str(e, "name", NULL);
        if (name == NULL || !*name)
            continue;
        kl_val_t from = kl_val_get(e, "valueFrom");
        char *value = NULL;
        char num[32];
        int rc = 0;
        if (kl_val_missing(from) || kl_val_type(from) == KL_TNULL) {
            const char *v = kl_val_path_str(e, "value", NULL);
            value = expand(v ? v : "", s->env, s->nenv);
            if (value == NULL)
                return kl_err(err, KL_ENOMEM, "out of memory");
        } else {
            const char *v = NULL;
            kl_val_t ref;
            if (!kl_val_missing(ref = kl_val_get(from, "fieldRef"))) {
                const char *path = kl_val_path_str(ref, "fieldPath", NULL);
                v = path && resolve ? resolve(KL_PROC_REF_FIELD, path, NULL, ud) : NULL;
                if (v == NULL)
                    return kl_err(err, KL_ENOTFOUND, "unsupported fieldPath: %s", path ? path : "");
            } else if (!kl_val_missing(ref = kl_val_get(from, "resourceFieldRef"))) {
                if ((rc = resource_field(container, ref, resolve, ud, num, sizeof(num), err)) < 0)
                    return rc;
                v = num;
            } else {
                bool cm = !kl_val_missing(ref = kl_val_get(from, "configMapKeyRef"));
                if (!cm)
                    ref = kl_val_get(from, "secretKeyRef");
                const char *oname = kl_val_path_str(ref, "name", NULL);
                const char *key = kl_val_path_str(ref, "key", NULL);
                if (oname && key && resolve)
                    v = resolve(cm ? KL_PROC_REF_CONFIGMAP : KL_PROC_REF_SECRET, oname, key, ud);
                if (v == NULL) {
                    if (kl_val_bool(kl_val_get(ref, "optional")))
                        continue;
                    return kl_err(err, KL_ENOTFOUND, "couldn't find key %s in %s %s/%s",
                                  key ? key : "", cm ? "ConfigMap" : "Secret", ns,
                                  oname ? oname : "");
                }
            }
            value = strdup(v);
            if (value == NULL)
                return kl_err(err, KL_ENOMEM, "out of memory");
        }
        rc = env_set(s, name, value);
        free(value);
        if (rc < 0)
            return kl_err(err, rc, "out of memory");
    }
    return 0;
}

int kl_proc_spec_from_container(kl_proc_spec_t *spec, kl_val_t container,
                                kl_proc_resolve_fn resolve, void *ud, kl_errinfo_t *err)
{
    kl_proc_spec_cleanup(spec);
    store_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    spec->priv_ = s;
    s->env = calloc(1, sizeof(char *));
    s->capenv = 1;
    if (s->env == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    int rc = env_from_spec(s, spec, container, resolve, ud, err);
    if (rc < 0)
        return rc;
    if (strv_expand(kl_val_get(container, "command"), s, &s->command) < 0 ||
        strv_expand(kl_val_get(container, "args"), s, &s->args) < 0)
        return kl_err(err, KL_ENOMEM, "out of memory");
    const char *image = kl_val_path_str(container, "image", NULL);
    const char *wd = kl_val_path_str(container, "workingDir", NULL);
    if ((image && (s->image = strdup(image)) == NULL) ||
        (wd && (s->working_dir = strdup(wd)) == NULL))
        return kl_err(err, KL_ENOMEM, "out of memory");
    int64_t mem = 0;
    kl_val_t lim = kl_val_path(container, "resources", "limits", "memory", NULL);
    if (!kl_val_missing(lim) && kl_val_type(lim) != KL_TNULL) {
        kl_quantity_t q;
        if ((rc = kl_quantity_from_val(lim, &q, err)) < 0)
            return rc;
        mem = kl_quantity_value(&q);
        if (mem < 0)
            mem = 0;
    }
    spec->image = s->image;
    spec->command = (const char *const *)s->command;
    spec->args = (const char *const *)s->args;
    spec->env = (const char *const *)s->env;
    spec->working_dir = s->working_dir;
    spec->memory_limit = mem;
    return 0;
}
