/* The reflector: list (paginated or watch-list), watch, resume, relist, backoff; and the
 * informer's lifecycle and metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubelua/log.h"

#include "informer/informer_int.h"

#define COMP "informer"
#define BACKOFF_RESET_NS (120ull * 1000000000ull)

static void begin_sync(kl_informer_t *inf);
static void start_watch(kl_informer_t *inf);
static void really_free(kl_informer_t *inf);

void kl_informer_opts_init(kl_informer_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->page_size = 500;
    o->list_mode = KL_LIST_AUTO;
    o->watch_timeout_min = 300;
    o->watch_timeout_max = 600;
    o->watch_slack = 30;
    o->backoff_initial = 0.8;
    o->backoff_max = 30;
}

static uint32_t rnd(kl_informer_t *inf)
{
    /* xorshift32: jitter only, no need for quality. */
    uint32_t x = inf->seed;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    inf->seed = x;
    return x;
}

static void pending_clear(kl_informer_t *inf)
{
    for (size_t i = 0; i < inf->npending; i++)
        kl_obj_unref(inf->pending[i]);
    inf->npending = 0;
}

static void pending_push(kl_informer_t *inf, kl_obj_t *obj)
{
    if (inf->npending == inf->pending_cap) {
        size_t cap = inf->pending_cap ? inf->pending_cap * 2 : 256;
        kl_obj_t **n = realloc(inf->pending, cap * sizeof(*n));
        if (n == NULL) {
            KL_ERROR(COMP, "resource=%s: out of memory while listing", inf->o.resource);
            kl_obj_unref(obj);
            return;
        }
        inf->pending = n;
        inf->pending_cap = cap;
    }
    inf->pending[inf->npending++] = obj;
}

/* ---- timers ---------------------------------------------------------------------------- */

static void on_retry(uv_timer_t *t)
{
    kl_informer_t *inf = t->data;
    if (!inf->started || inf->phase != PH_BACKOFF)
        return;
    if (inf->rv[0] && inf->ever_synced)
        start_watch(inf);
    else
        begin_sync(inf);
}

static void backoff(kl_informer_t *inf, bool relist)
{
    if (relist)
        inf->rv[0] = '\0';
    inf->phase = PH_BACKOFF;
    double d = inf->o.backoff_initial;
    for (int i = 0; i < inf->failures && d < inf->o.backoff_max; i++)
        d *= 2;
    if (d > inf->o.backoff_max)
        d = inf->o.backoff_max;
    d += d * (double)(rnd(inf) % 1000) / 1000.0; /* jitter factor 1.0, as client-go */
    inf->failures++;
    KL_DEBUG(COMP, "resource=%s retry in %.2fs", inf->o.resource, d);
    uv_timer_start(&inf->retry, on_retry, (uint64_t)(d * 1000), 0);
}

static void on_tick(uv_timer_t *t)
{
    kl_informer_t *inf = t->data;
    bool replay = false;
    for (size_t i = 0; i < inf->nhandlers; i++)
        replay = replay || (inf->handlers[i].replay && !inf->handlers[i].removed);
    if (replay)
        kl__informer_replay(inf);
    if (inf->free_pending)
        return;
    if (inf->o.resync_seconds > 0 && inf->synced && inf->started) {
        uint64_t period = (uint64_t)(inf->o.resync_seconds * 1000);
        if (!replay)
            kl__informer_resync(inf);
        if (!inf->free_pending)
            uv_timer_start(&inf->tick, on_tick, period, 0);
    }
}

void kl__informer_schedule_tick(kl_informer_t *inf, uint64_t ms)
{
    uv_timer_start(&inf->tick, on_tick, ms, 0);
}

/* ---- list ---------------------------------------------------------------------------- */

static void list_page(kl_informer_t *inf);

static void on_item(kl_obj_t *item, void *ud)
{
    pending_push(ud, item);
}

static void synced_now(kl_informer_t *inf, const char *rv)
{
    /* The array moves out: handlers may stop or free the informer meanwhile. */
    kl_obj_t **objs = inf->pending;
    size_t n = inf->npending;
    inf->pending = NULL;
    inf->npending = inf->pending_cap = 0;
    kl__informer_replace(inf, objs, n, rv);
    free(objs);
    if (inf->free_pending)
        return;
    if (inf->o.resync_seconds > 0)
        uv_timer_start(&inf->tick, on_tick, (uint64_t)(inf->o.resync_seconds * 1000), 0);
}

static void on_list_done(kl_client_t *c, int rc, const kl_list_meta_t *meta, const kl_status_t *st,
                         void *ud)
{
    kl_informer_t *inf = ud;
    inf->list_req = NULL;
    if (rc < 0) {
        KL_WARN(COMP, "resource=%s list failed: %s: %s", inf->o.resource, kl_err_name(rc),
                st && st->message ? st->message : "");
        pending_clear(inf);
        if (rc == KL_EGONE && inf->continue_token) {
            /* The continue token expired: list again from the start, at once. */
            free(inf->continue_token);
            inf->continue_token = NULL;
            list_page(inf);
            return;
        }
        free(inf->continue_token);
        inf->continue_token = NULL;
        backoff(inf, true);
        return;
    }
    if (meta->continue_token && *meta->continue_token) {
        free(inf->continue_token);
        inf->continue_token = strdup(meta->continue_token);
        if (inf->continue_token) {
            list_page(inf);
            return;
        }
    }
    free(inf->continue_token);
    inf->continue_token = NULL;
    inf->failures = 0;
    KL_DEBUG(COMP, "resource=%s listed %zu objects at rv=%s", inf->o.resource, inf->npending,
             meta->resource_version);
    synced_now(inf, meta->resource_version);
    if (inf->free_pending)
        return;
    if (inf->started)
        start_watch(inf);
}

static void list_page(kl_informer_t *inf)
{
    kl_req_opts_t o = {0};
    o.label_selector = inf->o.label_selector;
    o.field_selector = inf->o.field_selector;
    o.limit = inf->o.page_size;
    o.continue_token = inf->continue_token;
    o.keep_managed_fields = inf->o.keep_managed_fields;
    inf->phase = PH_LISTING;
    inf->st.lists++;
    int rc =
        kl_client_list_items(inf->c, &inf->res, &o, on_item, on_list_done, inf, &inf->list_req);
    if (rc < 0) {
        KL_ERROR(COMP, "resource=%s: cannot list: %s", inf->o.resource, kl_strerror(rc));
        backoff(inf, true);
    }
}

/* ---- watch --------------------------------------------------------------------------- */

static const char *status_reason(const kl_obj_t *st, int64_t *code)
{
    kl_val_t root = kl_obj_root(st);
    *code = kl_val_int(kl_val_get(root, "code"));
    return kl_val_str(kl_val_get(root, "reason"), NULL);
}

static void note_rv(kl_informer_t *inf, const kl_obj_t *obj)
{
    size_t len;
    const char *rv =
        kl_val_str(kl_val_path(kl_obj_root(obj), "metadata", "resourceVersion", NULL), &len);
    if (rv && len < sizeof(inf->rv))
        memcpy(inf->rv, rv, len + 1);
}

static void relist(kl_informer_t *inf)
{
    if (inf->watch) {
        kl_watch_stop(inf->watch);
        inf->watch = NULL;
    }
    inf->st.relists++;
    inf->rv[0] = '\0';
    begin_sync(inf);
}

static void on_event(kl_watch_t *w, kl_watch_type_t type, kl_obj_t *obj, void *ud)
{
    kl_informer_t *inf = ud;
    inf->st.events[type]++;
    inf->watch_events++;
    if (type == KL_WATCH_ERROR) {
        int64_t code = 0;
        const char *reason = obj ? status_reason(obj, &code) : NULL;
        KL_INFO(COMP, "resource=%s watch error code=%lld reason=%s", inf->o.resource,
                (long long)code, reason ? reason : "");
        kl_obj_unref(obj);
        kl_watch_stop(w);
        inf->watch = NULL;
        if (code == 410 || (reason && strcmp(reason, "Expired") == 0) ||
            (reason && strcmp(reason, "Gone") == 0)) {
            relist(inf);
        } else {
            inf->st.watch_errors++;
            backoff(inf, false);
        }
        return;
    }
    if (type == KL_WATCH_BOOKMARK) {
        if (obj) {
            note_rv(inf, obj);
            if (inf->phase == PH_INITIAL) {
                const char *end =
                    kl_val_str(kl_val_path(kl_obj_root(obj), "metadata", "annotations",
                                           "k8s.io/initial-events-end", NULL),
                               NULL);
                if (end && strcmp(end, "true") == 0) {
                    inf->phase = PH_WATCHING;
                    inf->failures = 0;
                    inf->initial_failures = 0;
                    KL_DEBUG(COMP, "resource=%s watch-list synced %zu objects at rv=%s",
                             inf->o.resource, inf->npending, inf->rv);
                    char rv[64];
                    memcpy(rv, inf->rv, sizeof(rv));
                    synced_now(inf, rv);
                }
            }
        }
        kl_obj_unref(obj);
        return;
    }
    if (inf->phase == PH_INITIAL) {
        note_rv(inf, obj);
        if (type == KL_WATCH_DELETED)
            kl_obj_unref(obj);
        else
            pending_push(inf, obj);
        return;
    }
    note_rv(inf, obj);
    kl__informer_apply(inf, type, obj);
}

static void on_watch_done(kl_watch_t *w, int rc, const kl_status_t *st, void *ud)
{
    kl_informer_t *inf = ud;
    inf->watch = NULL;
    bool initial = inf->phase == PH_INITIAL;
    if (rc == KL_EGONE) {
        pending_clear(inf);
        relist(inf);
        return;
    }
    if (initial && rc < 0 && st && st->http_code >= 400 && st->http_code < 500 &&
        inf->o.list_mode == KL_LIST_AUTO && rc != KL_EUNAUTHORIZED && rc != KL_ETOOMANY) {
        /* The server does not do watch-list: use paginated lists from now on. */
        KL_INFO(COMP, "resource=%s: watch-list refused (%s), using list", inf->o.resource,
                st->message ? st->message : "");
        pending_clear(inf);
        inf->watchlist_unsupported = true;
        begin_sync(inf);
        return;
    }
    bool very_short = uv_hrtime() - inf->watch_started_ns < 1000000000ull && inf->watch_events == 0;
    if (rc == 0 && !initial && !very_short) {
        /* The server ended the stream (timeoutSeconds): resume at once. A stream that ends at
         * once without an event is an error (as client-go's "very short watch"): backoff. */
        if (uv_hrtime() - inf->watch_started_ns > BACKOFF_RESET_NS)
            inf->failures = 0;
        start_watch(inf);
        return;
    }
    inf->st.watch_errors++;
    KL_INFO(COMP, "resource=%s watch ended: %s%s%s", inf->o.resource,
            rc ? kl_err_name(rc) : "closed during initial events", st && st->message ? ": " : "",
            st && st->message ? st->message : "");
    if (initial) {
        pending_clear(inf);
        inf->rv[0] = '\0';
        /* A server that accepts watch-list but never completes it (it cuts the stream before
         * the initial-events-end bookmark) gets paginated lists after two tries. */
        if (++inf->initial_failures >= 2 && inf->o.list_mode == KL_LIST_AUTO) {
            KL_INFO(COMP, "resource=%s: watch-list did not complete twice, using list",
                    inf->o.resource);
            inf->watchlist_unsupported = true;
        }
    }
    if (uv_hrtime() - inf->watch_started_ns > BACKOFF_RESET_NS)
        inf->failures = 0;
    backoff(inf, false);
}

static void start_watch(kl_informer_t *inf)
{
    kl_watch_opts_t o = {0};
    int64_t span = inf->o.watch_timeout_max - inf->o.watch_timeout_min;
    int64_t timeout = inf->o.watch_timeout_min + (span > 0 ? (int64_t)(rnd(inf) % (span + 1)) : 0);
    o.resource_version = inf->rv;
    o.label_selector = inf->o.label_selector;
    o.field_selector = inf->o.field_selector;
    o.allow_bookmarks = true;
    o.timeout_seconds = timeout;
    o.idle_timeout_ms = (long)((double)timeout * 1000 + inf->o.watch_slack * 1000);
    o.keep_managed_fields = inf->o.keep_managed_fields;
    if (inf->first_watch_done)
        inf->st.watch_restarts++;
    inf->first_watch_done = true;
    inf->phase = PH_WATCHING;
    inf->watch_started_ns = uv_hrtime();
    inf->watch_events = 0;
    int rc = kl_client_watch(inf->c, &inf->res, &o, on_event, on_watch_done, inf, &inf->watch);
    if (rc < 0) {
        inf->watch = NULL;
        KL_ERROR(COMP, "resource=%s: cannot watch: %s", inf->o.resource, kl_strerror(rc));
        backoff(inf, false);
    }
}

static void start_watchlist(kl_informer_t *inf)
{
    kl_watch_opts_t o = {0};
    int64_t span = inf->o.watch_timeout_max - inf->o.watch_timeout_min;
    int64_t timeout = inf->o.watch_timeout_min + (span > 0 ? (int64_t)(rnd(inf) % (span + 1)) : 0);
    o.label_selector = inf->o.label_selector;
    o.field_selector = inf->o.field_selector;
    o.allow_bookmarks = true;
    o.send_initial_events = true;
    o.resource_version = "";
    o.timeout_seconds = timeout;
    o.idle_timeout_ms = (long)((double)timeout * 1000 + inf->o.watch_slack * 1000);
    o.keep_managed_fields = inf->o.keep_managed_fields;
    pending_clear(inf);
    inf->phase = PH_INITIAL;
    inf->watch_started_ns = uv_hrtime();
    inf->watch_events = 0;
    if (inf->first_watch_done)
        inf->st.watch_restarts++;
    inf->first_watch_done = true;
    int rc = kl_client_watch(inf->c, &inf->res, &o, on_event, on_watch_done, inf, &inf->watch);
    if (rc < 0) {
        inf->watch = NULL;
        backoff(inf, true);
    }
}

static void begin_sync(kl_informer_t *inf)
{
    pending_clear(inf);
    free(inf->continue_token);
    inf->continue_token = NULL;
    if (inf->o.list_mode == KL_LIST_WATCHLIST ||
        (inf->o.list_mode == KL_LIST_AUTO && !inf->watchlist_unsupported))
        start_watchlist(inf);
    else
        list_page(inf);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

int kl_informer_new(kl_client_t *c, const kl_informer_opts_t *o, kl_informer_t **out,
                    kl_errinfo_t *err)
{
    if (c == NULL || o == NULL || o->resource == NULL)
        return kl_err(err, KL_EINVAL, "informer: a resource is required");
    kl_informer_t *inf = calloc(1, sizeof(*inf));
    if (inf == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    inf->c = c;
    inf->o = *o;
    kl_informer_opts_t d;
    kl_informer_opts_init(&d);
    if (inf->o.page_size <= 0)
        inf->o.page_size = d.page_size;
    if (inf->o.watch_timeout_min <= 0)
        inf->o.watch_timeout_min = d.watch_timeout_min;
    if (inf->o.watch_timeout_max < inf->o.watch_timeout_min)
        inf->o.watch_timeout_max = inf->o.watch_timeout_min;
    if (inf->o.watch_slack <= 0)
        inf->o.watch_slack = d.watch_slack;
    if (inf->o.backoff_initial <= 0)
        inf->o.backoff_initial = d.backoff_initial;
    if (inf->o.backoff_max < inf->o.backoff_initial)
        inf->o.backoff_max =
            inf->o.backoff_initial > d.backoff_max ? inf->o.backoff_initial : d.backoff_max;
    inf->resource_str = strdup(o->resource);
    inf->ns = dup_or_null(o->namespace);
    inf->lsel = dup_or_null(o->label_selector);
    inf->fsel = dup_or_null(o->field_selector);
    inf->o.resource = inf->resource_str;
    inf->o.namespace = inf->ns;
    inf->o.label_selector = inf->lsel;
    inf->o.field_selector = inf->fsel;
    inf->o.indexes = NULL;
    kl_strmap_init(&inf->cache, 0);
    inf->seed = (uint32_t)(uv_hrtime() ^ (uintptr_t)inf) | 1u;
    int rc = 0;
    if (inf->resource_str == NULL || (o->namespace && *o->namespace && inf->ns == NULL) ||
        (o->label_selector && *o->label_selector && inf->lsel == NULL) ||
        (o->field_selector && *o->field_selector && inf->fsel == NULL)) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto fail;
    }
    if (kl_resource_parse(o->resource, &inf->res, inf->resbuf, sizeof(inf->resbuf)) < 0 ||
        inf->res.subresource) {
        rc = kl_err(err, KL_EINVAL,
                    "informer: bad resource \"%s\" (want v1/pods or "
                    "group/version/resource)",
                    o->resource);
        goto fail;
    }
    inf->res.namespace = inf->ns;
    static const char *const builtin[] = {"namespace", "owner", "node"};
    for (size_t i = 0; i < 3 && rc == 0; i++)
        rc = kl__informer_add_index(inf, builtin[i], err);
    for (const char *const *p = o->indexes; p && *p && rc == 0; p++)
        rc = kl__informer_add_index(inf, *p, err);
    if (rc < 0)
        goto fail;
    uv_timer_init(kl_client_loop(c), &inf->retry);
    uv_timer_init(kl_client_loop(c), &inf->tick);
    inf->retry.data = inf;
    inf->tick.data = inf;
    inf->open_handles = 2;
    *out = inf;
    return 0;
fail:
    kl__informer_cache_clear(inf);
    free(inf->resource_str);
    free(inf->ns);
    free(inf->lsel);
    free(inf->fsel);
    free(inf);
    return rc;
}

int kl_informer_start(kl_informer_t *inf)
{
    if (inf == NULL || inf->free_pending)
        return KL_EINVAL;
    if (inf->started)
        return 0;
    inf->started = true;
    inf->phase = PH_BACKOFF;
    inf->failures = 0;
    /* From the loop, as every other step. */
    uv_timer_start(&inf->retry, on_retry, 0, 0);
    return 0;
}

void kl_informer_stop(kl_informer_t *inf)
{
    if (inf == NULL || !inf->started)
        return;
    inf->started = false;
    if (inf->list_req) {
        kl_client_cancel(inf->list_req);
        inf->list_req = NULL;
    }
    if (inf->watch) {
        kl_watch_stop(inf->watch);
        inf->watch = NULL;
    }
    pending_clear(inf);
    free(inf->continue_token);
    inf->continue_token = NULL;
    uv_timer_stop(&inf->retry);
    uv_timer_stop(&inf->tick);
    inf->phase = PH_IDLE;
    inf->synced = false;
}

static void timer_closed(uv_handle_t *h)
{
    kl_informer_t *inf = h->data;
    if (--inf->open_handles == 0)
        free(inf);
}

static void really_free(kl_informer_t *inf)
{
    kl_informer_stop(inf);
    kl__informer_cache_clear(inf);
    pending_clear(inf);
    free(inf->pending);
    free(inf->handlers);
    free(inf->resource_str);
    free(inf->ns);
    free(inf->lsel);
    free(inf->fsel);
    uv_close((uv_handle_t *)&inf->retry, timer_closed);
    uv_close((uv_handle_t *)&inf->tick, timer_closed);
}

void kl_informer_free(kl_informer_t *inf)
{
    if (inf == NULL || inf->free_pending)
        return;
    inf->free_pending = true;
    if (inf->dispatching == 0)
        really_free(inf);
    else
        kl_informer_stop(inf);
}

void kl__informer_finish_dispatch(kl_informer_t *inf)
{
    if (inf->dispatching)
        return;
    if (inf->free_pending) {
        really_free(inf);
        return;
    }
    kl__informer_compact_handlers(inf);
}

bool kl_informer_has_synced(const kl_informer_t *inf)
{
    return inf->ever_synced;
}

const char *kl_informer_resource_version(const kl_informer_t *inf)
{
    return inf->rv;
}

const char *kl_informer_resource(const kl_informer_t *inf)
{
    return inf->o.resource;
}

/* ---- metrics ------------------------------------------------------------------------- */

void kl_informer_stats(const kl_informer_t *inf, kl_informer_stats_t *st)
{
    *st = inf->st;
    st->objects = kl_strmap_len(&inf->cache);
    st->bytes = inf->bytes + inf->cache.cap * sizeof(kl_strmap_slot_t);
}

int kl_informer_render_metrics(kl_buf_t *b, const kl_informer_t *const *infs, size_t n)
{
    static const struct {
        const char *name, *help;
        kl_metric_type_t type;
    } fam[] = {
        {"kubelua_informer_lists_total", "LIST pages requested.", KL_METRIC_COUNTER},
        {"kubelua_informer_relists_total", "Full relists after the first sync.", KL_METRIC_COUNTER},
        {"kubelua_informer_watch_restarts_total", "Watch streams started after the first.",
         KL_METRIC_COUNTER},
        {"kubelua_informer_watch_errors_total", "Watch streams ended by an error or silence.",
         KL_METRIC_COUNTER},
        {"kubelua_informer_events_total", "Watch events received, by type.", KL_METRIC_COUNTER},
        {"kubelua_informer_cache_objects", "Objects in the cache.", KL_METRIC_GAUGE},
        {"kubelua_informer_cache_bytes", "Bytes held by the cache.", KL_METRIC_GAUGE},
    };
    static const char *const types[] = {"", "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
    size_t mark = b->len;
    int rc = 0;
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]) && rc == 0; f++) {
        rc = kl_metrics_write_header(b, fam[f].name, fam[f].help, fam[f].type);
        for (size_t i = 0; i < n && rc == 0; i++) {
            kl_informer_stats_t st;
            kl_informer_stats(infs[i], &st);
            kl_label_t l[2] = {{"resource", infs[i]->o.resource}, {"type", ""}};
            double v = 0;
            switch (f) {
            case 0:
                v = (double)st.lists;
                break;
            case 1:
                v = (double)st.relists;
                break;
            case 2:
                v = (double)st.watch_restarts;
                break;
            case 3:
                v = (double)st.watch_errors;
                break;
            case 4:
                for (int t = 1; t <= 5 && rc == 0; t++) {
                    l[1].value = types[t];
                    rc = kl_metrics_write_sample(b, fam[f].name, l, 2, (double)st.events[t]);
                }
                continue;
            case 5:
                v = (double)st.objects;
                break;
            default:
                v = (double)st.bytes;
                break;
            }
            rc = kl_metrics_write_sample(b, fam[f].name, l, 1, v);
        }
    }
    if (rc < 0) {
        b->len = mark;
        if (b->data)
            b->data[mark] = '\0';
    }
    return rc;
}

/* ---- the shared set ------------------------------------------------------------------ */

struct kl_informers {
    kl_client_t *c;
    kl_informer_t **v;
    size_t n, cap;
};

int kl_informers_new(kl_client_t *c, kl_informers_t **out)
{
    kl_informers_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return KL_ENOMEM;
    f->c = c;
    *out = f;
    return 0;
}

void kl_informers_free(kl_informers_t *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++)
        kl_informer_free(f->v[i]);
    free(f->v);
    free(f);
}

static bool same(const char *a, const char *b)
{
    if (a && *a == '\0')
        a = NULL;
    if (b && *b == '\0')
        b = NULL;
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

int kl_informers_get(kl_informers_t *f, const kl_informer_opts_t *o, kl_informer_t **out,
                     kl_errinfo_t *err)
{
    if (o == NULL || o->resource == NULL)
        return kl_err(err, KL_EINVAL, "informer: a resource is required");
    for (size_t i = 0; i < f->n; i++) {
        kl_informer_t *inf = f->v[i];
        if (strcmp(inf->o.resource, o->resource) == 0 && same(inf->o.namespace, o->namespace) &&
            same(inf->o.label_selector, o->label_selector) &&
            same(inf->o.field_selector, o->field_selector)) {
            for (const char *const *p = o->indexes; p && *p; p++) {
                int rc = kl__informer_add_index(inf, *p, err);
                if (rc < 0)
                    return rc;
            }
            if (o->resync_seconds > 0 &&
                (inf->o.resync_seconds <= 0 || o->resync_seconds < inf->o.resync_seconds))
                inf->o.resync_seconds = o->resync_seconds;
            *out = inf;
            return 0;
        }
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        kl_informer_t **v = realloc(f->v, cap * sizeof(*v));
        if (v == NULL)
            return kl_err(err, KL_ENOMEM, "out of memory");
        f->v = v;
        f->cap = cap;
    }
    kl_informer_t *inf;
    int rc = kl_informer_new(f->c, o, &inf, err);
    if (rc < 0)
        return rc;
    f->v[f->n++] = inf;
    *out = inf;
    return 0;
}

int kl_informers_start(kl_informers_t *f)
{
    for (size_t i = 0; i < f->n; i++) {
        int rc = kl_informer_start(f->v[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

bool kl_informers_synced(const kl_informers_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        if (!kl_informer_has_synced(f->v[i]))
            return false;
    return true;
}

size_t kl_informers_count(const kl_informers_t *f)
{
    return f->n;
}

kl_informer_t *kl_informers_at(const kl_informers_t *f, size_t i)
{
    return i < f->n ? f->v[i] : NULL;
}
