/* Kubeconfig loading and merging, and the in-cluster configuration (see kubeconfig.h). */
#include "kubelua/kubeconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kubelua/buf.h"
#include "kubelua/fsutil.h"
#include "kubelua/json.h"

#include "client/client_int.h"

#define FILE_MAX ((size_t)16 << 20)
#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* One loaded file: its tree and its directory, for relative paths. */
typedef struct kcfile {
    char *path;
    char *dir;
    kl_json_t *doc;
} kcfile_t;

/* A named entry (cluster, user or context) and the file it came from. */
typedef struct named {
    const char *name;
    const kl_json_t *body; /* the "cluster"/"user"/"context" object */
    const kcfile_t *file;
    int index;
} named_t;

void kl__restconfig_free_exec(kl_exec_config_t *e)
{
    if (e == NULL)
        return;
    free(e->command);
    for (char **p = e->args; p && *p; p++)
        free(*p);
    free(e->args);
    for (char **p = e->env; p && *p; p++)
        free(*p);
    free(e->env);
    free(e->api_version);
    free(e);
}

void kl_restconfig_free(kl_restconfig_t *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->server);
    free(cfg->tls_server_name);
    free(cfg->ca_pem);
    free(cfg->cert_pem);
    if (cfg->key_pem) {
        memset(cfg->key_pem, 0, cfg->key_pem_len);
        free(cfg->key_pem);
    }
    if (cfg->token) {
        memset(cfg->token, 0, strlen(cfg->token));
        free(cfg->token);
    }
    free(cfg->token_file);
    free(cfg->username);
    if (cfg->password) {
        memset(cfg->password, 0, strlen(cfg->password));
        free(cfg->password);
    }
    kl__restconfig_free_exec(cfg->exec);
    free(cfg->namespace);
    free(cfg->context);
    free(cfg->cluster);
    free(cfg->user);
    free(cfg->source);
    free(cfg);
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

int kl__base64_decode(const char *in, size_t len, char **out, size_t *outlen)
{
    static signed char tab[256];
    static int init;
    if (!init) {
        memset(tab, -1, sizeof(tab));
        const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (int i = 0; i < 64; i++)
            tab[(unsigned char)a[i]] = (signed char)i;
        init = 1;
    }
    char *o = malloc(len / 4 * 3 + 4);
    if (o == NULL)
        return KL_ENOMEM;
    size_t n = 0, pad = 0;
    uint32_t acc = 0;
    int bits = 0, count = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
            continue;
        if (ch == '=') {
            pad++;
            continue;
        }
        if (pad || tab[ch] < 0) {
            free(o);
            return KL_ESYNTAX;
        }
        acc = (acc << 6) | (uint32_t)tab[ch];
        bits += 6;
        count++;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (count % 4 == 1 || pad > 2 || (pad && (count + pad) % 4 != 0)) {
        free(o);
        return KL_ESYNTAX;
    }
    o[n] = '\0';
    *out = o;
    *outlen = n;
    return 0;
}

static char *resolve_path(const char *dir, const char *p)
{
    if (p == NULL)
        return NULL;
    if (p[0] == '/' || dir == NULL || *dir == '\0')
        return strdup(p);
    if (p[0] == '~' && p[1] == '/') {
        const char *home = getenv("HOME");
        if (home)
            return kl_path_join(home, p + 2);
    }
    return kl_path_join(dir, p);
}

static char *dir_of(const char *path)
{
    if (path == NULL)
        return strdup(".");
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Fetches an optional string field; a present non-string is an error naming the field. */
static int get_str(const kl_json_t *obj, const char *key, const char **out, const char *where,
                   kl_errinfo_t *err)
{
    *out = NULL;
    const kl_json_t *v = kl_json_get(obj, key);
    if (v == NULL || v->type == KL_TNULL)
        return 0;
    if (v->type != KL_TSTRING)
        return kl_err(err, KL_ECONFIG, "%s.%s: must be a string", where, key);
    *out = v->u.s;
    return 0;
}

static int get_bool(const kl_json_t *obj, const char *key, bool *out, const char *where,
                    kl_errinfo_t *err)
{
    *out = false;
    const kl_json_t *v = kl_json_get(obj, key);
    if (v == NULL || v->type == KL_TNULL)
        return 0;
    if (v->type == KL_TTRUE || v->type == KL_TFALSE) {
        *out = v->type == KL_TTRUE;
        return 0;
    }
    if (v->type == KL_TSTRING && (strcmp(v->u.s, "true") == 0 || strcmp(v->u.s, "false") == 0)) {
        *out = strcmp(v->u.s, "true") == 0;
        return 0;
    }
    return kl_err(err, KL_ECONFIG, "%s.%s: must be a boolean", where, key);
}

/* Loads PEM bytes from *-data (base64) or a file field. */
static int load_pem(const kl_json_t *obj, const char *data_key, const char *file_key,
                    const char *dir, const char *where, char **pem, size_t *pemlen,
                    kl_errinfo_t *err)
{
    const char *data = NULL, *file = NULL;
    int rc = get_str(obj, data_key, &data, where, err);
    if (rc == 0)
        rc = get_str(obj, file_key, &file, where, err);
    if (rc < 0)
        return rc;
    if (data && *data) {
        rc = kl__base64_decode(data, strlen(data), pem, pemlen);
        if (rc == KL_ENOMEM)
            return kl_err(err, rc, "out of memory");
        if (rc < 0)
            return kl_err(err, KL_ECONFIG, "%s.%s: invalid base64", where, data_key);
        if (*pemlen == 0 || strstr(*pem, "-----BEGIN") == NULL) {
            free(*pem);
            *pem = NULL;
            return kl_err(err, KL_ECONFIG, "%s.%s: does not hold PEM data", where, data_key);
        }
        return 0;
    }
    if (file && *file) {
        char *path = resolve_path(dir, file);
        if (path == NULL)
            return kl_err(err, KL_ENOMEM, "out of memory");
        kl_errinfo_t ferr;
        rc = kl_file_read(path, FILE_MAX, pem, pemlen, &ferr);
        if (rc < 0) {
            kl_err(err, KL_ECONFIG, "%s.%s: cannot read %s: %s", where, file_key, path,
                   kl_strerror(rc));
            free(path);
            return KL_ECONFIG;
        }
        if (strstr(*pem, "-----BEGIN") == NULL) {
            free(*pem);
            *pem = NULL;
            kl_err(err, KL_ECONFIG, "%s.%s: %s does not hold PEM data", where, file_key, path);
            free(path);
            return KL_ECONFIG;
        }
        free(path);
    }
    return 0;
}

static char *trim_dup(const char *s, size_t len)
{
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
        len--;
    while (len && (*s == ' ' || *s == '\n')) {
        s++;
        len--;
    }
    return strndup(s, len);
}

int kl__read_token_file(const char *path, char **token, kl_errinfo_t *err)
{
    char *data;
    size_t len;
    int rc = kl_file_read(path, 1 << 20, &data, &len, err);
    if (rc < 0)
        return rc;
    *token = trim_dup(data, len);
    memset(data, 0, len);
    free(data);
    if (*token == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    if (**token == '\0') {
        free(*token);
        *token = NULL;
        return kl_err(err, KL_ECONFIG, "%s: empty token", path);
    }
    return 0;
}

/* Collects the named entries of one list ("clusters", "users", "contexts") from every file,
 * the first definition of a name winning. */
static int collect(kcfile_t *files, size_t nfiles, const char *list, const char *inner,
                   named_t **out, size_t *n, kl_errinfo_t *err)
{
    named_t *v = NULL;
    size_t cnt = 0, cap = 0;
    for (size_t f = 0; f < nfiles; f++) {
        const kl_json_t *arr = kl_json_get(files[f].doc, list);
        if (arr == NULL || arr->type == KL_TNULL)
            continue;
        if (arr->type != KL_TARRAY) {
            free(v);
            return kl_err(err, KL_ECONFIG, "%s: %s: must be a list", files[f].path, list);
        }
        for (uint32_t i = 0; i < arr->len; i++) {
            const kl_json_t *e = arr->u.items[i];
            const char *name = kl_json_str(kl_json_get(e, "name"));
            if (e->type != KL_TOBJECT || name == NULL || *name == '\0') {
                free(v);
                return kl_err(err, KL_ECONFIG, "%s: %s[%u].name: required", files[f].path, list, i);
            }
            const kl_json_t *body = kl_json_get(e, inner);
            if (body != NULL && body->type != KL_TOBJECT && body->type != KL_TNULL) {
                free(v);
                return kl_err(err, KL_ECONFIG, "%s: %s[\"%s\"].%s: must be a mapping",
                              files[f].path, list, name, inner);
            }
            bool dup = false;
            for (size_t k = 0; k < cnt && !dup; k++)
                dup = strcmp(v[k].name, name) == 0;
            if (dup)
                continue;
            if (cnt == cap) {
                cap = cap ? cap * 2 : 8;
                named_t *nv = realloc(v, cap * sizeof(*v));
                if (nv == NULL) {
                    free(v);
                    return kl_err(err, KL_ENOMEM, "out of memory");
                }
                v = nv;
            }
            v[cnt++] = (named_t){name, body, &files[f], (int)i};
        }
    }
    *out = v;
    *n = cnt;
    return 0;
}

static const named_t *find_named(const named_t *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

static char **str_array(const kl_json_t *arr, const char *where, const char *field, int env,
                        kl_errinfo_t *err, int *rc)
{
    uint32_t n = arr && arr->type == KL_TARRAY ? arr->len : 0;
    if (arr && arr->type != KL_TARRAY && arr->type != KL_TNULL) {
        *rc = kl_err(err, KL_ECONFIG, "%s.%s: must be a list", where, field);
        return NULL;
    }
    char **v = calloc(n + 1, sizeof(char *));
    if (v == NULL) {
        *rc = kl_err(err, KL_ENOMEM, "out of memory");
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        const kl_json_t *e = arr->u.items[i];
        if (env) {
            const char *name = kl_json_str(kl_json_get(e, "name"));
            const char *value = kl_json_str(kl_json_get(e, "value"));
            if (name == NULL || value == NULL) {
                *rc = kl_err(err, KL_ECONFIG, "%s.%s[%u]: needs name and value strings", where,
                             field, i);
                goto fail;
            }
            size_t l = strlen(name) + strlen(value) + 2;
            v[i] = malloc(l);
            if (v[i])
                snprintf(v[i], l, "%s=%s", name, value);
        } else {
            if (e->type != KL_TSTRING) {
                *rc = kl_err(err, KL_ECONFIG, "%s.%s[%u]: must be a string", where, field, i);
                goto fail;
            }
            v[i] = strdup(e->u.s);
        }
        if (v[i] == NULL) {
            *rc = kl_err(err, KL_ENOMEM, "out of memory");
            goto fail;
        }
    }
    *rc = 0;
    return v;
fail:
    for (uint32_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return NULL;
}

static int load_exec(const kl_json_t *ex, const char *dir, const char *where,
                     kl_exec_config_t **out, kl_errinfo_t *err)
{
    char w[512];
    snprintf(w, sizeof(w), "%s.exec", where);
    const char *cmd = NULL, *api = NULL;
    int rc = get_str(ex, "command", &cmd, w, err);
    if (rc == 0)
        rc = get_str(ex, "apiVersion", &api, w, err);
    if (rc < 0)
        return rc;
    if (cmd == NULL || *cmd == '\0')
        return kl_err(err, KL_ECONFIG, "%s.command: required", w);
    if (api == NULL)
        return kl_err(err, KL_ECONFIG, "%s.apiVersion: required", w);
    if (strcmp(api, "client.authentication.k8s.io/v1") != 0 &&
        strcmp(api, "client.authentication.k8s.io/v1beta1") != 0)
        return kl_err(err, KL_ECONFIG, "%s.apiVersion: unsupported version \"%s\"", w, api);
    kl_exec_config_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    e->command = strchr(cmd, '/') ? resolve_path(dir, cmd) : strdup(cmd);
    e->api_version = strdup(api);
    if (e->command == NULL || e->api_version == NULL) {
        kl__restconfig_free_exec(e);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    e->args = str_array(kl_json_get(ex, "args"), w, "args", 0, err, &rc);
    if (rc == 0)
        e->env = str_array(kl_json_get(ex, "env"), w, "env", 1, err, &rc);
    if (rc == 0)
        rc = get_bool(ex, "provideClusterInfo", &e->provide_cluster_info, w, err);
    if (rc < 0) {
        kl__restconfig_free_exec(e);
        return rc;
    }
    *out = e;
    return 0;
}

static int build(kcfile_t *files, size_t nfiles, const char *source,
                 const kl_kubeconfig_opts_t *opts, kl_restconfig_t **out, kl_errinfo_t *err)
{
    named_t *clusters = NULL, *users = NULL, *contexts = NULL;
    size_t nclusters = 0, nusers = 0, ncontexts = 0;
    kl_restconfig_t *cfg = NULL;
    char where[400];
    int rc = collect(files, nfiles, "clusters", "cluster", &clusters, &nclusters, err);
    if (rc == 0)
        rc = collect(files, nfiles, "users", "user", &users, &nusers, err);
    if (rc == 0)
        rc = collect(files, nfiles, "contexts", "context", &contexts, &ncontexts, err);
    if (rc < 0)
        goto out;

    const char *ctxname = opts ? opts->context : NULL;
    if (ctxname == NULL || *ctxname == '\0') {
        ctxname = NULL;
        for (size_t f = 0; f < nfiles && ctxname == NULL; f++) {
            const char *cc = kl_json_str(kl_json_get(files[f].doc, "current-context"));
            if (cc && *cc)
                ctxname = cc;
        }
    }
    const named_t *ctx = NULL;
    if (ctxname) {
        ctx = find_named(contexts, ncontexts, ctxname);
        if (ctx == NULL) {
            rc = kl_err(err, KL_ECONFIG, "%s: context \"%s\" not found", source, ctxname);
            goto out;
        }
    } else if (opts == NULL || ((opts->cluster == NULL || opts->user == NULL))) {
        rc = kl_err(err, KL_ECONFIG, "%s: current-context is not set and no context was given",
                    source);
        goto out;
    }
    const char *clname = opts && opts->cluster ? opts->cluster : NULL;
    const char *uname = opts && opts->user ? opts->user : NULL;
    const char *ns = NULL;
    if (ctx) {
        snprintf(where, sizeof(where), "%s: contexts[\"%s\"].context", ctx->file->path, ctx->name);
        const char *c2 = NULL, *u2 = NULL;
        if (ctx->body == NULL) {
            rc = kl_err(err, KL_ECONFIG, "%s: required", where);
            goto out;
        }
        rc = get_str(ctx->body, "cluster", &c2, where, err);
        if (rc == 0)
            rc = get_str(ctx->body, "user", &u2, where, err);
        if (rc == 0)
            rc = get_str(ctx->body, "namespace", &ns, where, err);
        if (rc < 0)
            goto out;
        if (clname == NULL)
            clname = c2;
        if (uname == NULL)
            uname = u2;
        if (clname == NULL || *clname == '\0') {
            rc = kl_err(err, KL_ECONFIG, "%s.cluster: required", where);
            goto out;
        }
    }
    const named_t *cl = find_named(clusters, nclusters, clname);
    if (cl == NULL) {
        rc = kl_err(err, KL_ECONFIG, "%s: cluster \"%s\" (of context \"%s\") not found", source,
                    clname, ctxname ? ctxname : "");
        goto out;
    }
    const named_t *us = NULL;
    if (uname && *uname) {
        us = find_named(users, nusers, uname);
        if (us == NULL) {
            rc = kl_err(err, KL_ECONFIG, "%s: user \"%s\" (of context \"%s\") not found", source,
                        uname, ctxname ? ctxname : "");
            goto out;
        }
    }

    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(where, sizeof(where), "%s: clusters[\"%s\"].cluster", cl->file->path, cl->name);
    if (cl->body == NULL) {
        rc = kl_err(err, KL_ECONFIG, "%s: required", where);
        goto out;
    }
    const char *server = NULL, *tsn = NULL;
    rc = get_str(cl->body, "server", &server, where, err);
    if (rc == 0)
        rc = get_str(cl->body, "tls-server-name", &tsn, where, err);
    if (rc == 0)
        rc = get_bool(cl->body, "insecure-skip-tls-verify", &cfg->insecure, where, err);
    if (rc < 0)
        goto out;
    if (server == NULL || *server == '\0') {
        rc = kl_err(err, KL_ECONFIG, "%s.server: required", where);
        goto out;
    }
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0) {
        rc = kl_err(err, KL_ECONFIG, "%s.server: \"%s\" is not an http(s) URL", where, server);
        goto out;
    }
    cfg->server = strdup(server);
    if (cfg->server) {
        size_t l = strlen(cfg->server);
        while (l > 8 && cfg->server[l - 1] == '/')
            cfg->server[--l] = '\0';
    }
    cfg->tls_server_name = xstrdup(tsn);
    rc = load_pem(cl->body, "certificate-authority-data", "certificate-authority", cl->file->dir,
                  where, &cfg->ca_pem, &cfg->ca_pem_len, err);
    if (rc < 0)
        goto out;
    if (cfg->insecure && cfg->ca_pem) {
        rc = kl_err(err, KL_ECONFIG,
                    "%s: certificate-authority and insecure-skip-tls-verify are exclusive", where);
        goto out;
    }

    if (us && us->body) {
        snprintf(where, sizeof(where), "%s: users[\"%s\"].user", us->file->path, us->name);
        const kl_json_t *u = us->body;
        if (kl_json_get(u, "auth-provider")) {
            rc = kl_err(err, KL_ECONFIG, "%s.auth-provider: not supported (use exec)", where);
            goto out;
        }
        rc = load_pem(u, "client-certificate-data", "client-certificate", us->file->dir, where,
                      &cfg->cert_pem, &cfg->cert_pem_len, err);
        if (rc == 0)
            rc = load_pem(u, "client-key-data", "client-key", us->file->dir, where, &cfg->key_pem,
                          &cfg->key_pem_len, err);
        if (rc < 0)
            goto out;
        if ((cfg->cert_pem == NULL) != (cfg->key_pem == NULL)) {
            rc = kl_err(err, KL_ECONFIG, "%s: %s given without %s", where,
                        cfg->cert_pem ? "client-certificate" : "client-key",
                        cfg->cert_pem ? "client-key" : "client-certificate");
            goto out;
        }
        const char *tok = NULL, *tokfile = NULL, *user = NULL, *pass = NULL;
        rc = get_str(u, "token", &tok, where, err);
        if (rc == 0)
            rc = get_str(u, "tokenFile", &tokfile, where, err);
        if (rc == 0)
            rc = get_str(u, "username", &user, where, err);
        if (rc == 0)
            rc = get_str(u, "password", &pass, where, err);
        if (rc < 0)
            goto out;
        if (tok && *tok)
            cfg->token = strdup(tok);
        if (tokfile && *tokfile) {
            cfg->token_file = resolve_path(us->file->dir, tokfile);
            if (cfg->token == NULL) {
                kl_errinfo_t terr;
                rc = kl__read_token_file(cfg->token_file, &cfg->token, &terr);
                if (rc < 0) {
                    rc = kl_err(err, KL_ECONFIG, "%s.tokenFile: cannot read %s: %s", where,
                                cfg->token_file, kl_strerror(rc));
                    goto out;
                }
            }
        }
        cfg->username = xstrdup(user);
        cfg->password = xstrdup(pass);
        const kl_json_t *ex = kl_json_get(u, "exec");
        if (ex && ex->type != KL_TNULL) {
            if (ex->type != KL_TOBJECT) {
                rc = kl_err(err, KL_ECONFIG, "%s.exec: must be a mapping", where);
                goto out;
            }
            rc = load_exec(ex, us->file->dir, where, &cfg->exec, err);
            if (rc < 0)
                goto out;
        }
    }
    cfg->namespace = strdup(ns && *ns ? ns : "default");
    cfg->context = xstrdup(ctxname);
    cfg->cluster = xstrdup(clname);
    cfg->user = xstrdup(uname);
    cfg->source = strdup(source);
    if (cfg->server == NULL || cfg->namespace == NULL || cfg->source == NULL) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto out;
    }
    *out = cfg;
    cfg = NULL;
    rc = 0;
out:
    kl_restconfig_free(cfg);
    free(clusters);
    free(users);
    free(contexts);
    return rc;
}

static int parse_file(kcfile_t *f, const char *text, size_t len, kl_errinfo_t *err)
{
    kl_errinfo_t perr;
    kl_json_t **docs = NULL;
    size_t ndocs = 0;
    int rc = kl_yaml_parse(text, len, NULL, &docs, &ndocs, &perr);
    if (rc < 0)
        return kl_err(err, KL_ECONFIG, "%s: %s", f->path, perr.msg);
    if (ndocs == 0) {
        kl_json_free_docs(docs, ndocs);
        f->doc = kl_json_object();
        return f->doc ? 0 : kl_err(err, KL_ENOMEM, "out of memory");
    }
    if (ndocs > 1 || docs[0]->type != KL_TOBJECT) {
        kl_json_free_docs(docs, ndocs);
        return kl_err(err, KL_ECONFIG, "%s: not a kubeconfig (expected one mapping)", f->path);
    }
    f->doc = docs[0];
    docs[0] = NULL;
    kl_json_free_docs(docs, ndocs);
    const char *kind = kl_json_str(kl_json_get(f->doc, "kind"));
    if (kind && strcmp(kind, "Config") != 0)
        return kl_err(err, KL_ECONFIG, "%s: kind: expected Config, got %s", f->path, kind);
    return 0;
}

static void files_free(kcfile_t *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(files[i].path);
        free(files[i].dir);
        kl_json_free(files[i].doc);
    }
    free(files);
}

int kl_restconfig_from_text(const char *text, size_t len, const char *path,
                            const kl_kubeconfig_opts_t *opts, kl_restconfig_t **out,
                            kl_errinfo_t *err)
{
    kcfile_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    f->path = strdup(path ? path : "<kubeconfig>");
    f->dir = path ? dir_of(path) : strdup(".");
    int rc = f->path && f->dir ? parse_file(f, text, len, err) : kl_err(err, KL_ENOMEM, "oom");
    if (rc == 0)
        rc = build(f, 1, f->path, opts, out, err);
    files_free(f, 1);
    return rc;
}

static int load_files(char **paths, size_t n, bool must_exist, const kl_kubeconfig_opts_t *opts,
                      kl_restconfig_t **out, kl_errinfo_t *err)
{
    kcfile_t *files = calloc(n ? n : 1, sizeof(*files));
    size_t nf = 0;
    kl_buf_t src;
    kl_buf_init(&src, 1 << 16);
    int rc = files ? 0 : KL_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *text;
        size_t len;
        kl_errinfo_t ferr;
        rc = kl_file_read(paths[i], FILE_MAX, &text, &len, &ferr);
        if (rc == KL_ENOTFOUND && !must_exist) {
            rc = 0;
            continue;
        }
        if (rc < 0) {
            rc = kl_err(err, KL_ECONFIG, "%s: cannot read: %s", paths[i], kl_strerror(rc));
            break;
        }
        files[nf].path = strdup(paths[i]);
        files[nf].dir = dir_of(paths[i]);
        nf++;
        rc = parse_file(&files[nf - 1], text, len, err);
        free(text);
        if (rc == 0 && kl_buf_printf(&src, "%s%s", src.len ? ":" : "", paths[i]) < 0)
            rc = kl_err(err, KL_ENOMEM, "out of memory");
    }
    if (rc == 0 && nf == 0)
        rc = KL_ENOTFOUND;
    if (rc == 0)
        rc = build(files, nf, src.data, opts, out, err);
    kl_buf_cleanup(&src);
    files_free(files, nf);
    return rc;
}

int kl_restconfig_in_cluster(const char *dir, kl_restconfig_t **out, kl_errinfo_t *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (host == NULL || *host == '\0' || port == NULL || *port == '\0')
        return kl_err(err, KL_ENOTFOUND,
                      "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be "
                      "set");
    if (dir == NULL)
        dir = SA_DIR;
    kl_restconfig_t *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    int rc;
    size_t hl = strlen(host) + strlen(port) + 16;
    cfg->server = malloc(hl);
    if (cfg->server == NULL) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto fail;
    }
    if (strchr(host, ':'))
        snprintf(cfg->server, hl, "https://[%s]:%s", host, port);
    else
        snprintf(cfg->server, hl, "https://%s:%s", host, port);
    cfg->token_file = kl_path_join(dir, "token");
    char *ca = kl_path_join(dir, "ca.crt");
    char *nsf = kl_path_join(dir, "namespace");
    kl_errinfo_t ferr;
    rc = cfg->token_file && ca && nsf ? 0 : KL_ENOMEM;
    if (rc == 0 && (rc = kl__read_token_file(cfg->token_file, &cfg->token, &ferr)) < 0)
        rc = kl_err(err, KL_ECONFIG, "in-cluster: %s: %s", cfg->token_file, kl_strerror(rc));
    if (rc == 0 && (rc = kl_file_read(ca, FILE_MAX, &cfg->ca_pem, &cfg->ca_pem_len, &ferr)) < 0)
        rc = kl_err(err, KL_ECONFIG, "in-cluster: %s: %s", ca, kl_strerror(rc));
    if (rc == 0) {
        char *nsdata;
        size_t nslen;
        if (kl_file_read(nsf, 4096, &nsdata, &nslen, NULL) == 0) {
            cfg->namespace = trim_dup(nsdata, nslen);
            free(nsdata);
        }
        if (cfg->namespace == NULL || *cfg->namespace == '\0') {
            free(cfg->namespace);
            cfg->namespace = strdup("default");
        }
        cfg->source = strdup("in-cluster");
        if (cfg->namespace == NULL || cfg->source == NULL)
            rc = KL_ENOMEM;
    }
    free(ca);
    free(nsf);
    if (rc == KL_ENOMEM)
        rc = kl_err(err, KL_ENOMEM, "out of memory");
    if (rc < 0)
        goto fail;
    *out = cfg;
    return 0;
fail:
    kl_restconfig_free(cfg);
    return rc;
}

int kl_restconfig_load(const kl_kubeconfig_opts_t *opts, kl_restconfig_t **out, kl_errinfo_t *err)
{
    kl_kubeconfig_opts_t dflt = {0};
    if (opts == NULL)
        opts = &dflt;
    if (opts->kubeconfig && *opts->kubeconfig) {
        char *p = (char *)opts->kubeconfig;
        int rc = load_files(&p, 1, true, opts, out, err);
        return rc;
    }
    const char *env = opts->kubeconfig_env ? opts->kubeconfig_env : getenv("KUBECONFIG");
    if (env && *env) {
        char *copy = strdup(env);
        if (copy == NULL)
            return kl_err(err, KL_ENOMEM, "out of memory");
        size_t n = 0, cap = 8;
        char **paths = malloc(cap * sizeof(char *));
        int rc = paths ? 0 : KL_ENOMEM;
        for (char *save, *tok = strtok_r(copy, ":", &save); tok && rc == 0;
             tok = strtok_r(NULL, ":", &save)) {
            bool dup = false;
            for (size_t i = 0; i < n; i++)
                dup = dup || strcmp(paths[i], tok) == 0;
            if (dup || *tok == '\0')
                continue;
            if (n == cap) {
                char **np = realloc(paths, 2 * cap * sizeof(char *));
                if (np == NULL) {
                    rc = KL_ENOMEM;
                    break;
                }
                paths = np;
                cap *= 2;
            }
            paths[n++] = tok;
        }
        if (rc == 0)
            rc = load_files(paths, n, false, opts, out, err);
        else
            rc = kl_err(err, rc, "out of memory");
        free(paths);
        free(copy);
        if (rc != KL_ENOTFOUND)
            return rc;
    }
    const char *home = opts->home ? opts->home : getenv("HOME");
    if (home && *home) {
        char *p = kl_path_join(home, ".kube/config");
        if (p == NULL)
            return kl_err(err, KL_ENOMEM, "out of memory");
        int rc = load_files(&p, 1, false, opts, out, err);
        free(p);
        if (rc != KL_ENOTFOUND)
            return rc;
    }
    if (!opts->no_in_cluster_fallback) {
        int rc = kl_restconfig_in_cluster(opts->in_cluster_dir, out, err);
        if (rc != KL_ENOTFOUND)
            return rc;
    }
    return kl_err(err, KL_ENOTFOUND,
                  "no configuration: give --kubeconfig, set $KUBECONFIG, create ~/.kube/config "
                  "or run in a cluster");
}

int kl_restconfig_for_url(const char *server, const char *token, const char *ca_pem,
                          kl_restconfig_t **out)
{
    kl_restconfig_t *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return KL_ENOMEM;
    cfg->server = xstrdup(server);
    cfg->token = xstrdup(token);
    if (ca_pem) {
        cfg->ca_pem = strdup(ca_pem);
        cfg->ca_pem_len = strlen(ca_pem);
    }
    cfg->namespace = strdup("default");
    cfg->source = strdup(server ? server : "");
    if (cfg->server == NULL || cfg->namespace == NULL || cfg->source == NULL ||
        (token && cfg->token == NULL) || (ca_pem && cfg->ca_pem == NULL)) {
        kl_restconfig_free(cfg);
        return KL_ENOMEM;
    }
    *out = cfg;
    return 0;
}

int kl__restconfig_copy(const kl_restconfig_t *src, kl_restconfig_t **out)
{
    kl_restconfig_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return KL_ENOMEM;
    bool oom = false;
#define DUP(f)                                                                                     \
    do {                                                                                           \
        if (src->f) {                                                                              \
            c->f = strdup(src->f);                                                                 \
            oom = oom || c->f == NULL;                                                             \
        }                                                                                          \
    } while (0)
#define DUPN(f, l)                                                                                 \
    do {                                                                                           \
        if (src->f) {                                                                              \
            c->f = malloc(src->l + 1);                                                             \
            if (c->f) {                                                                            \
                memcpy(c->f, src->f, src->l);                                                      \
                c->f[src->l] = '\0';                                                               \
                c->l = src->l;                                                                     \
            }                                                                                      \
            oom = oom || c->f == NULL;                                                             \
        }                                                                                          \
    } while (0)
    DUP(server);
    DUP(tls_server_name);
    c->insecure = src->insecure;
    DUPN(ca_pem, ca_pem_len);
    DUPN(cert_pem, cert_pem_len);
    DUPN(key_pem, key_pem_len);
    DUP(token);
    DUP(token_file);
    DUP(username);
    DUP(password);
    DUP(namespace);
    DUP(context);
    DUP(cluster);
    DUP(user);
    DUP(source);
#undef DUP
#undef DUPN
    if (src->exec && !oom) {
        kl_exec_config_t *e = calloc(1, sizeof(*e));
        c->exec = e;
        if (e == NULL) {
            oom = true;
        } else {
            e->command = xstrdup(src->exec->command);
            e->api_version = xstrdup(src->exec->api_version);
            e->provide_cluster_info = src->exec->provide_cluster_info;
            char **lists[2] = {src->exec->args, src->exec->env};
            char ***dst[2] = {&e->args, &e->env};
            for (int k = 0; k < 2; k++) {
                size_t n = 0;
                while (lists[k] && lists[k][n])
                    n++;
                *dst[k] = calloc(n + 1, sizeof(char *));
                if (*dst[k] == NULL) {
                    oom = true;
                    continue;
                }
                for (size_t i = 0; i < n; i++) {
                    (*dst[k])[i] = strdup(lists[k][i]);
                    oom = oom || (*dst[k])[i] == NULL;
                }
            }
            oom = oom || e->command == NULL;
        }
    }
    if (oom) {
        kl_restconfig_free(c);
        return KL_ENOMEM;
    }
    *out = c;
    return 0;
}
