/* The controller host: client, discovery, real backend, policies, leader election, metrics,
 * hot reload and stop. See host.h. */
#include "controller/host.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kubelua/fsutil.h"
#include "kubelua/log.h"
#include "kubelua/metrics.h"

#include "controller/backend_real.h"
#include "controller/leader.h"
#include "controller/statusd.h"
#include "util/embedded.h"

#define POLICY_MAX (4u << 20) /* bytes of one policy file or module */
#define SOURCES_MAX 256
#define MODULES_MAX 256 /* module files hashed per policy */
#define DEBOUNCE_MS 200
#define WAITING_RETRY_MS 5000
#define DISCOVERY_RETRY_MS 2000

typedef struct source {
    char *name; /* selection name: the file name without .lua */
    char *path; /* policy file, or NULL when embedded */
    const kl_embedded_file_t *emb;
    const char *emb_dir; /* the builtin directory it came from */
    bool selected;
    bool waiting; /* its resources are not served yet */
    kl_controller_t *ctrl;
    uint64_t hash; /* of the file and its modules when loaded */
} source_t;

typedef struct watched {
    uv_fs_event_t *ev;
    char *dir;
} watched_t;

struct kl_host {
    kl_host_opts_t o;
    char **builtin_dirs;
    size_t nbuiltin_dirs;
    char *controllers;
    kl_client_t *client;
    kl_real_t *real;
    kl_manager_t *m;
    kl_leader_t *leader;
    kl_statusd_t *statusd;
    source_t src[SOURCES_MAX];
    size_t nsrc;
    char **user_dirs; /* directory arguments, rescanned for new files */
    size_t nuser_dirs;
    watched_t *watched;
    size_t nwatched;
    uv_timer_t *debounce, *retry, *stop_timer;
    bool started, start_failed, stopping, discovery_busy;
    double stop_deadline;
    void (*stop_done)(void *);
    void *stop_ud;
};

/* ---- Sources ---------------------------------------------------------------------------- */

static void free_handle(uv_handle_t *hd)
{
    free(hd);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static char *name_of(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (ends_with(b, ".lua"))
        n -= 4;
    return strndup(b, n);
}

static source_t *find_source(kl_host_t *h, const char *name)
{
    for (size_t i = 0; i < h->nsrc; i++)
        if (strcmp(h->src[i].name, name) == 0)
            return &h->src[i];
    return NULL;
}

static int add_source(kl_host_t *h, const char *name, const char *path,
                      const kl_embedded_file_t *emb, const char *emb_dir, kl_errinfo_t *err)
{
    source_t *s = find_source(h, name);
    if (s && s->path && path)
        return kl_err(err, KL_EINVAL, "two policies named \"%s\": %s and %s", name, s->path, path);
    if (s == NULL) {
        if (h->nsrc == SOURCES_MAX)
            return kl_err(err, KL_ETOOBIG, "more than %u policies", SOURCES_MAX);
        s = &h->src[h->nsrc++];
        memset(s, 0, sizeof(*s));
        s->name = strdup(name);
        if (s->name == NULL)
            return kl_err(err, KL_ENOMEM, "out of memory");
    }
    /* A user file replaces the bundled policy of the same name. */
    free(s->path);
    s->path = path ? strdup(path) : NULL;
    s->emb = path ? NULL : emb;
    s->emb_dir = path ? NULL : emb_dir;
    if (path && s->path == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .lua files directly in dir, sorted; *n of them (caller frees each and the array). */
static char **list_lua(const char *dir, size_t max, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    char **out = calloc(max ? max : 1, sizeof(*out));
    struct dirent *e;
    while (out && (e = readdir(d)) != NULL && *n < max) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".lua"))
            continue;
        char *p = kl_path_join(dir, e->d_name);
        struct stat st;
        if (p && stat(p, &st) == 0 && S_ISREG(st.st_mode))
            out[(*n)++] = p;
        else
            free(p);
    }
    closedir(d);
    if (out)
        qsort(out, *n, sizeof(*out), cmp_str);
    return out;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static int collect_sources(kl_host_t *h, const char *const *paths, kl_errinfo_t *err)
{
    int rc = 0;
    for (size_t d = 0; !h->o.no_builtin && d < h->nbuiltin_dirs; d++) {
        const char *bdir = h->builtin_dirs[d];
        size_t prefix = strlen(bdir);
        for (const kl_embedded_file_t *f = kl_embedded_files; rc == 0 && f->path; f++) {
            if (strncmp(f->path, bdir, prefix) != 0 || f->path[prefix] != '/')
                continue;
            const char *rest = f->path + prefix + 1;
            if (strchr(rest, '/') || !ends_with(rest, ".lua"))
                continue;
            char *name = name_of(rest);
            if (name && find_source(h, name))
                rc = kl_err(err, KL_EINVAL, "two bundled policies named \"%s\"", name);
            else
                rc = name ? add_source(h, name, NULL, f, bdir, err) : kl_err(err, KL_ENOMEM, "oom");
            free(name);
        }
    }
    for (size_t i = 0; rc == 0 && paths && paths[i]; i++) {
        const char *p = paths[i];
        struct stat st;
        if (stat(p, &st) < 0)
            return kl_err(err, KL_ENOTFOUND, "--policies %s: no such file or directory", p);
        if (S_ISDIR(st.st_mode)) {
            char **dirs = realloc(h->user_dirs, (h->nuser_dirs + 1) * sizeof(*dirs));
            if (dirs == NULL)
                return kl_err(err, KL_ENOMEM, "out of memory");
            h->user_dirs = dirs;
            if ((dirs[h->nuser_dirs] = strdup(p)) == NULL)
                return kl_err(err, KL_ENOMEM, "out of memory");
            h->nuser_dirs++;
            size_t n;
            char **files = list_lua(p, SOURCES_MAX, &n);
            if (n == 0)
                KL_WARN("host", "--policies %s: the directory holds no .lua files (yet)", p);
            for (size_t k = 0; rc == 0 && k < n; k++) {
                char *name = name_of(files[k]);
                rc = name ? add_source(h, name, files[k], NULL, NULL, err)
                          : kl_err(err, KL_ENOMEM, "oom");
                free(name);
            }
            free_list(files, n);
        } else {
            char *name = name_of(p);
            rc = name ? add_source(h, name, p, NULL, NULL, err) : kl_err(err, KL_ENOMEM, "oom");
            free(name);
        }
    }
    return rc;
}

/* kube-controller-manager's --controllers: "*", "name", "-name". */
static int select_sources(kl_host_t *h, kl_errinfo_t *err)
{
    const char *spec = h->controllers;
    bool star = false;
    char *copy = strdup(spec), *save = NULL;
    if (copy == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    for (size_t i = 0; i < h->nsrc; i++)
        h->src[i].selected = false;
    int rc = 0;
    /* Two passes: "*" first, then names and exclusions, whatever the order. */
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (strcmp(t, "*") == 0)
            star = true;
    for (size_t i = 0; i < h->nsrc; i++)
        h->src[i].selected = star;
    free(copy);
    copy = strdup(spec);
    if (copy == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    for (char *t = strtok_r(copy, ",", &save); rc == 0 && t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (*t == '\0' || strcmp(t, "*") == 0)
            continue;
        bool off = *t == '-';
        source_t *s = find_source(h, off ? t + 1 : t);
        if (s == NULL) {
            kl_buf_t known;
            kl_buf_init(&known, 0);
            for (size_t i = 0; i < h->nsrc; i++)
                if (kl_buf_printf(&known, "%s%s", i ? ", " : "", h->src[i].name) < 0)
                    break;
            rc = kl_err(err, KL_EINVAL, "--controllers: no policy named \"%s\" (known: %s)",
                        off ? t + 1 : t, known.data ? known.data : "none");
            kl_buf_cleanup(&known);
            break;
        }
        s->selected = !off;
    }
    free(copy);
    return rc;
}

/* FNV-1a 64 over a policy file and the .lua modules in the directory named after it. */
static uint64_t fnv(uint64_t hsh, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        hsh ^= b[i];
        hsh *= 0x100000001b3ULL;
    }
    return hsh;
}

static uint64_t hash_file(uint64_t hsh, const char *path)
{
    char *data;
    size_t len;
    kl_errinfo_t err;
    hsh = fnv(hsh, path, strlen(path) + 1);
    if (kl_file_read(path, POLICY_MAX, &data, &len, &err) < 0)
        return fnv(hsh, "?", 1);
    hsh = fnv(hsh, data, len);
    free(data);
    return hsh;
}

static uint64_t source_hash(const source_t *s)
{
    uint64_t hsh = hash_file(0xcbf29ce484222325ULL, s->path);
    char *dir = strndup(s->path, strlen(s->path) - (ends_with(s->path, ".lua") ? 4 : 0));
    if (dir == NULL)
        return hsh;
    size_t n;
    char **mods = list_lua(dir, MODULES_MAX, &n);
    for (size_t i = 0; i < n; i++)
        hsh = hash_file(hsh, mods[i]);
    free_list(mods, n);
    free(dir);
    return hsh;
}

/* ---- Loading ---------------------------------------------------------------------------- */

static bool all_loaded(const kl_host_t *h)
{
    for (size_t i = 0; i < h->nsrc; i++)
        if (h->src[i].selected && h->src[i].ctrl == NULL)
            return false;
    return true;
}

/* Loads one source. Returns 0, or the error; KL_ENOTFOUND marks it waiting. */
static int load_source(kl_host_t *h, source_t *s, kl_errinfo_t *err)
{
    int rc;
    if (s->path) {
        s->hash = source_hash(s);
        rc = kl_manager_add_file(h->m, s->path, &s->ctrl, err);
    } else {
        char chunk[300], dir[300];
        snprintf(chunk, sizeof(chunk), "%s", s->emb->path);
        snprintf(dir, sizeof(dir), "embedded:%s", s->emb_dir);
        rc = kl_manager_add_buffer(h->m, chunk, dir, s->emb->data, s->emb->len, &s->ctrl, err);
    }
    if (rc == KL_ENOTFOUND) {
        if (!s->waiting)
            KL_WARN("host", "policy %s waits: %s (retrying every %d s)", s->name, err->msg,
                    WAITING_RETRY_MS / 1000);
        s->waiting = true;
        s->ctrl = NULL;
        return rc;
    }
    if (rc < 0) {
        s->ctrl = NULL;
        return rc;
    }
    if (s->waiting)
        KL_INFO("host", "policy %s: its resources are served now", s->name);
    s->waiting = false;
    return 0;
}

static void load_waiting(kl_host_t *h)
{
    for (size_t i = 0; i < h->nsrc; i++) {
        source_t *s = &h->src[i];
        if (!s->selected || s->ctrl || !s->waiting)
            continue;
        kl_errinfo_t err;
        int rc = load_source(h, s, &err);
        if (rc < 0 && rc != KL_ENOTFOUND)
            KL_ERROR("host", "policy %s: %s", s->name, err.msg);
    }
    if (kl_real_start(h->real) < 0)
        KL_ERROR("host", "cannot start informers");
}

static void on_leading(kl_leader_t *l, bool leading, void *ud)
{
    kl_host_t *h = ud;
    (void)l;
    if (!h->stopping)
        kl_manager_set_leader(h->m, leading);
}

static void finish_start(kl_host_t *h)
{
    kl_errinfo_t err = {0};
    int rc = 0;
    for (size_t i = 0; i < h->nsrc; i++) {
        source_t *s = &h->src[i];
        if (!s->selected)
            continue;
        rc = load_source(h, s, &err);
        if (rc == KL_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
    }
    if (rc == 0 && (rc = kl_real_start(h->real)) < 0)
        kl_err(&err, rc, "cannot start informers");
    if (rc == 0 && h->o.leader_elect) {
        kl_leader_opts_t lo = {.namespace = h->o.lease_namespace,
                               .name = h->o.lease_name,
                               .identity = h->o.identity,
                               .lease_seconds = h->o.lease_seconds,
                               .renew_seconds = h->o.renew_seconds,
                               .retry_seconds = h->o.retry_seconds};
        rc = kl_leader_start(h->o.loop, h->client, &lo, on_leading, h, &h->leader, &err);
    }
    size_t n = 0;
    for (size_t i = 0; i < h->nsrc; i++)
        n += h->src[i].ctrl != NULL;
    if (rc == 0) {
        h->started = true;
        KL_INFO("host", "%zu controller%s running against %s%s%s", n, n == 1 ? "" : "s",
                kl_client_server(h->client), h->o.dry_run ? " (dry run: nothing is written)" : "",
                h->o.leader_elect ? ", waiting for the lease" : "");
    } else {
        h->start_failed = true;
    }
    if (h->o.started)
        h->o.started(h, rc, rc < 0 ? &err : NULL, h->o.ud);
}

static void discover(kl_host_t *h);

static void on_retry(uv_timer_t *t)
{
    kl_host_t *h = t->data;
    if (h->stopping)
        return;
    if (!h->started) {
        discover(h);
        return;
    }
    /* Policies waiting for their resources: refresh discovery and try again. */
    bool any = false;
    for (size_t i = 0; i < h->nsrc; i++)
        any |= h->src[i].selected && h->src[i].waiting;
    if (any) {
        kl_client_discovery_invalidate(h->client);
        discover(h);
    }
}

static void on_discovered(kl_client_t *c, int rc, const kl_api_resource_t *res,
                          const kl_status_t *st, void *ud)
{
    kl_host_t *h = ud;
    (void)c;
    (void)res;
    h->discovery_busy = false;
    if (h->stopping)
        return;
    if (rc < 0) {
        KL_WARN("host", "waiting for the API server at %s: %s", kl_client_server(h->client),
                st && st->message && *st->message ? st->message : kl_strerror(rc));
        uv_timer_start(h->retry, on_retry, DISCOVERY_RETRY_MS, 0);
        return;
    }
    if (!h->started)
        finish_start(h);
    else
        load_waiting(h);
    if (!h->start_failed)
        uv_timer_start(h->retry, on_retry, WAITING_RETRY_MS, WAITING_RETRY_MS);
}

static void discover(kl_host_t *h)
{
    if (h->discovery_busy)
        return;
    h->discovery_busy = true;
    if (kl_client_resolve(h->client, "v1", "namespaces", on_discovered, h) < 0) {
        h->discovery_busy = false;
        uv_timer_start(h->retry, on_retry, DISCOVERY_RETRY_MS, 0);
    }
}

/* ---- Reload ----------------------------------------------------------------------------- */

static void reload_changed(kl_host_t *h, bool force)
{
    /* New files in watched directories. */
    for (size_t d = 0; d < h->nuser_dirs; d++) {
        size_t n;
        char **files = list_lua(h->user_dirs[d], SOURCES_MAX, &n);
        for (size_t k = 0; k < n; k++) {
            char *name = name_of(files[k]);
            if (name == NULL)
                continue;
            source_t *s = find_source(h, name);
            kl_errinfo_t err;
            if (s == NULL || (s->path == NULL && s->ctrl == NULL)) {
                if (add_source(h, name, files[k], NULL, NULL, &err) < 0) {
                    KL_ERROR("host", "%s", err.msg);
                } else if ((s = find_source(h, name)) != NULL) {
                    s->selected = strstr(h->controllers, "*") != NULL;
                    char minus[300];
                    snprintf(minus, sizeof(minus), "-%s", name);
                    if (strstr(h->controllers, minus))
                        s->selected = false;
                    if (s->selected) {
                        KL_INFO("host", "new policy file %s", files[k]);
                        int rc = load_source(h, s, &err);
                        if (rc < 0 && rc != KL_ENOTFOUND)
                            KL_ERROR("host", "policy %s not started: %s", name, err.msg);
                        if (kl_real_start(h->real) < 0)
                            KL_ERROR("host", "cannot start informers");
                    }
                }
            }
            free(name);
        }
        free_list(files, n);
    }
    for (size_t i = 0; i < h->nsrc; i++) {
        source_t *s = &h->src[i];
        if (s->path == NULL || !s->selected)
            continue;
        uint64_t now = source_hash(s);
        kl_errinfo_t err;
        if (s->ctrl == NULL) {
            /* Failed or waiting: a change is a reason to try again. */
            if (now != s->hash || force) {
                int rc = load_source(h, s, &err);
                if (rc < 0 && rc != KL_ENOTFOUND)
                    KL_ERROR("host", "policy %s not started: %s", s->name, err.msg);
                s->hash = now;
            }
            continue;
        }
        if (now == s->hash && !force)
            continue;
        s->hash = now;
        if (kl_manager_reload(h->m, s->ctrl, NULL, 0, &err) == 0 && kl_real_start(h->real) < 0)
            KL_ERROR("host", "cannot start informers");
    }
}

static void on_debounce(uv_timer_t *t)
{
    kl_host_t *h = t->data;
    if (!h->stopping)
        reload_changed(h, false);
}

static void on_fs_event(uv_fs_event_t *ev, const char *filename, int events, int status)
{
    kl_host_t *h = ev->data;
    (void)filename;
    (void)events;
    (void)status;
    uv_timer_start(h->debounce, on_debounce, DEBOUNCE_MS, 0);
}

static void watch_dir(kl_host_t *h, const char *dir)
{
    for (size_t i = 0; i < h->nwatched; i++)
        if (strcmp(h->watched[i].dir, dir) == 0)
            return;
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return;
    watched_t *w = realloc(h->watched, (h->nwatched + 1) * sizeof(*w));
    if (w == NULL)
        return;
    h->watched = w;
    uv_fs_event_t *ev = malloc(sizeof(*ev));
    char *copy = strdup(dir);
    if (ev == NULL || copy == NULL) {
        free(ev);
        free(copy);
        return;
    }
    uv_fs_event_init(h->o.loop, ev);
    ev->data = h;
    if (uv_fs_event_start(ev, on_fs_event, dir, 0) < 0) {
        KL_WARN("host", "cannot watch %s for changes; use SIGHUP to reload", dir);
        uv_close((uv_handle_t *)ev, free_handle);
        free(copy);
        return;
    }
    w[h->nwatched++] = (watched_t){ev, copy};
}

static void watch_sources(kl_host_t *h)
{
    for (size_t d = 0; d < h->nuser_dirs; d++)
        watch_dir(h, h->user_dirs[d]);
    for (size_t i = 0; i < h->nsrc; i++) {
        const char *p = h->src[i].path;
        if (p == NULL)
            continue;
        const char *slash = strrchr(p, '/');
        char *dir = slash ? strndup(p, (size_t)(slash - p)) : strdup(".");
        if (dir)
            watch_dir(h, dir);
        free(dir);
        char *mods = strndup(p, strlen(p) - (ends_with(p, ".lua") ? 4 : 0));
        if (mods)
            watch_dir(h, mods);
        free(mods);
    }
}

void kl_host_reload(kl_host_t *h)
{
    if (h->stopping || !h->started)
        return;
    KL_INFO("host", "reloading every policy file");
    reload_changed(h, true);
}

/* ---- Status endpoints ------------------------------------------------------------------- */

bool kl_host_ready(const kl_host_t *h)
{
    if (!h->started || h->stopping || !all_loaded(h) || !kl_real_synced(h->real))
        return false;
    return !h->o.leader_elect || (h->leader && kl_leader_known(h->leader));
}

static int render_metrics(kl_host_t *h, kl_buf_t *b)
{
    int rc = kl_manager_metrics(h->m, b);
    kl_informers_t *infs = kl_real_informers(h->real);
    size_t n = kl_informers_count(infs);
    const kl_informer_t **arr = calloc(n ? n : 1, sizeof(*arr));
    if (arr == NULL)
        return KL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        arr[i] = kl_informers_at(infs, i);
    if (rc == 0)
        rc = kl_informer_render_metrics(b, arr, n);
    free(arr);
    if (rc == 0)
        rc = kl_client_render_metrics(h->client, b);
    if (rc == 0 && h->o.leader_elect) {
        kl_label_t l[] = {{"name", h->o.lease_name ? h->o.lease_name : "kubelua"}};
        rc = kl_metrics_write_header(b, "leader_election_master_status",
                                     "1 when this process holds the lease", KL_METRIC_GAUGE);
        if (rc == 0)
            rc = kl_metrics_write_sample(b, "leader_election_master_status", l, 1,
                                         h->leader && kl_leader_leading(h->leader) ? 1 : 0);
    }
    return rc;
}

static int reply(kl_buf_t *body, const char *text, int code)
{
    return kl_buf_puts(body, text) < 0 ? 500 : code;
}

static int on_status_request(const char *path, kl_buf_t *body, const char **type, void *ud)
{
    kl_host_t *h = ud;
    if (strcmp(path, "/metrics") == 0) {
        *type = "text/plain; version=0.0.4; charset=utf-8";
        return render_metrics(h, body) == 0 ? 200 : 500;
    }
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/livez") == 0)
        return reply(body, "ok", 200);
    if (strcmp(path, "/readyz") == 0) {
        if (kl_host_ready(h))
            return reply(body, "ok", 200);
        if (!h->started)
            return reply(body, "not ready: starting (waiting for the API server)\n", 503);
        if (!all_loaded(h))
            return reply(body, "not ready: policies wait for their resources\n", 503);
        if (!kl_real_synced(h->real))
            return reply(body, "not ready: informers have not synced\n", 503);
        return reply(body, "not ready: lease state unknown\n", 503);
    }
    return reply(body, "not found; try /metrics, /healthz or /readyz\n", 404);
}

/* ---- Lifetime --------------------------------------------------------------------------- */

static uv_timer_t *new_timer(kl_host_t *h)
{
    uv_timer_t *t = malloc(sizeof(*t));
    if (t) {
        uv_timer_init(h->o.loop, t);
        t->data = h;
    }
    return t;
}

int kl_host_new(const kl_host_opts_t *opts, kl_host_t **out, kl_errinfo_t *err)
{
    kl_host_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    h->o = *opts;
    h->o.policy_paths = NULL; /* not kept: collected below */
    static const char *const default_dirs[] = {"policies", NULL};
    const char *const *dirs = opts->builtin_dirs ? opts->builtin_dirs : default_dirs;
    h->o.builtin_dirs = NULL;
    while (dirs[h->nbuiltin_dirs])
        h->nbuiltin_dirs++;
    h->builtin_dirs = calloc(h->nbuiltin_dirs + 1, sizeof(char *));
    for (size_t i = 0; h->builtin_dirs && i < h->nbuiltin_dirs; i++)
        if ((h->builtin_dirs[i] = strdup(dirs[i])) == NULL)
            h->nbuiltin_dirs = i;
    h->controllers = strdup(opts->controllers ? opts->controllers : "*");
    h->debounce = new_timer(h);
    h->retry = new_timer(h);
    h->stop_timer = new_timer(h);
    int rc = 0;
    if (!h->builtin_dirs || !h->controllers || !h->debounce || !h->retry || !h->stop_timer) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = collect_sources(h, opts->policy_paths, err)) < 0)
        goto fail;
    if (h->nsrc == 0) {
        rc = kl_err(err, KL_EINVAL, "no policies to run");
        goto fail;
    }
    if ((rc = select_sources(h, err)) < 0)
        goto fail;
    kl_client_opts_t co;
    if (opts->client)
        co = *opts->client;
    else
        kl_client_opts_init(&co);
    if ((rc = kl_client_new(opts->loop, opts->config, &co, &h->client, err)) < 0)
        goto fail;
    if ((rc = kl_real_new(h->client, opts->namespace, &h->real, err)) < 0)
        goto fail;
    kl_manager_opts_t mo = {.loop = opts->loop,
                            .backend = kl_real_backend(h->real),
                            .dry_run = opts->dry_run,
                            .field_manager = opts->field_manager,
                            .time_budget_ms = opts->time_budget_ms,
                            .mem_limit = opts->mem_limit};
    if ((rc = kl_manager_new(&mo, &h->m)) < 0) {
        kl_err(err, rc, "cannot create the controller manager");
        goto fail;
    }
    if (opts->leader_elect)
        kl_manager_set_leader(h->m, false);
    if (opts->metrics_listen && (rc = kl_statusd_start(opts->loop, opts->metrics_listen,
                                                       on_status_request, h, &h->statusd, err)) < 0)
        goto fail;
    if (opts->watch_files)
        watch_sources(h);
    discover(h);
    *out = h;
    return 0;
fail:
    kl_host_free(h);
    return rc;
}

static void stop_finish(kl_host_t *h)
{
    uv_timer_stop(h->stop_timer);
    if (h->leader) {
        kl_leader_release(h->leader, h->stop_done, h->stop_ud);
        return;
    }
    if (h->stop_done)
        h->stop_done(h->stop_ud);
}

static void on_stop_poll(uv_timer_t *t)
{
    kl_host_t *h = t->data;
    size_t running = kl_manager_running(h->m);
    if (running == 0) {
        stop_finish(h);
        return;
    }
    if ((double)uv_now(h->o.loop) / 1000.0 >= h->stop_deadline) {
        KL_WARN("host", "%zu reconcile%s still running after the grace period: cancelled", running,
                running == 1 ? "" : "s");
        kl_manager_set_leader(h->m, false);
        stop_finish(h);
    }
}

void kl_host_stop(kl_host_t *h, double grace_seconds, void (*done)(void *ud), void *ud)
{
    if (h->stopping)
        return;
    h->stopping = true;
    h->stop_done = done;
    h->stop_ud = ud;
    uv_timer_stop(h->retry);
    uv_timer_stop(h->debounce);
    kl_manager_drain(h->m);
    size_t running = kl_manager_running(h->m);
    KL_INFO("host", "stopping: no new reconciles; %zu in flight", running);
    h->stop_deadline = (double)uv_now(h->o.loop) / 1000.0 + grace_seconds;
    if (running == 0) {
        stop_finish(h);
        return;
    }
    uv_timer_start(h->stop_timer, on_stop_poll, 20, 20);
}

void kl_host_free(kl_host_t *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->nwatched; i++) {
        uv_close((uv_handle_t *)h->watched[i].ev, free_handle);
        free(h->watched[i].dir);
    }
    free(h->watched);
    uv_timer_t *timers[] = {h->debounce, h->retry, h->stop_timer};
    for (size_t i = 0; i < 3; i++)
        if (timers[i])
            uv_close((uv_handle_t *)timers[i], free_handle);
    kl_statusd_free(h->statusd);
    kl_leader_free(h->leader);
    kl_manager_free(h->m);
    if (h->real)
        kl_real_free(h->real);
    kl_client_free(h->client);
    for (size_t i = 0; i < h->nsrc; i++) {
        free(h->src[i].name);
        free(h->src[i].path);
    }
    for (size_t i = 0; i < h->nuser_dirs; i++)
        free(h->user_dirs[i]);
    free(h->user_dirs);
    for (size_t i = 0; h->builtin_dirs && i < h->nbuiltin_dirs; i++)
        free(h->builtin_dirs[i]);
    free(h->builtin_dirs);
    free(h->controllers);
    free(h);
}

kl_manager_t *kl_host_manager(kl_host_t *h)
{
    return h->m;
}

kl_client_t *kl_host_client(kl_host_t *h)
{
    return h->client;
}

const char *kl_host_metrics_address(const kl_host_t *h)
{
    return h->statusd ? kl_statusd_address(h->statusd) : NULL;
}
