/* Watch streams: one chunked (HTTP/1.1) or DATA-framed (HTTP/2) response per watcher, one JSON
 * event per line. Events fan out from the store's event hook; each watcher has its own queue
 * with a ceiling, and a watcher that falls too far behind is cut off (it relists).
 *
 * h2o's generator contract is kept here and nowhere else: after an h2o_send() with
 * IN_PROGRESS, nothing is sent until proceed() runs, and the buffers handed over stay alive
 * until then (the watcher holds references to the stored objects it sends). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/ktime.h"
#include "kubelua/log.h"

#include "apiserver/handlers_int.h"
#include "apiserver/table.h"

#define BATCH 64
#define MAX_PENDING_ITEMS 200000
#define MAX_PENDING_BYTES ((size_t)128 << 20)
#define BOOKMARK_MS 30000
#define HEARTBEAT_MS 30000

typedef struct witem {
    kl_sobj_t *obj; /* sent as prefix + json + suffix when raw is NULL */
    kl_evtype_t type;
    char *raw; /* a whole rendered line */
    size_t rawlen;
} witem_t;

struct kl_watcher {
    h2o_generator_t gen;               /* first: h2o hands us this pointer */
    kl_watcher_t *next, *prev;         /* the table's watchers */
    kl_watcher_t *all_next, *all_prev; /* every watcher */
    kl_apiserver_t *srv;
    h2o_req_t *req;
    kl_res_t *res;
    kl_table_t *table;
    kl_filter_t filter;
    char *ns;
    bool table_fmt, sent_columns, bookmarks;
    kl_printer_t *printer, *own_printer;
    int64_t last_rv;
    uint64_t deadline, next_bookmark, next_heartbeat;
    witem_t *pending;
    size_t head, npending, cap;
    size_t pending_bytes;
    witem_t inflight[BATCH];
    size_t ninflight;
    h2o_iovec_t iov[BATCH * 3];
    bool sending, closing, done, stopped;
    int in_send;
    /* Initial events are streamed from a snapshot taken at the start (references, not
     * copies) as the client consumes them, so a watch-list of any size never piles up in the
     * pending queue; live events wait behind it. */
    kl_sobj_t **snap;
    size_t snap_n, snap_pos;
    bool snap_bookmark; /* the initial-events-end bookmark follows the snapshot */
    int64_t snap_rv;
};

static const char *const prefixes[] = {
    NULL, "{\"type\":\"ADDED\",\"object\":", "{\"type\":\"MODIFIED\",\"object\":",
    "{\"type\":\"DELETED\",\"object\":"};

static void item_release(witem_t *it)
{
    kl_sobj_unref(it->obj);
    free(it->raw);
    memset(it, 0, sizeof(*it));
}

static void drop_pending(kl_watcher_t *w)
{
    for (size_t i = 0; i < w->npending; i++)
        item_release(&w->pending[(w->head + i) % w->cap]);
    w->head = 0;
    w->npending = 0;
    w->pending_bytes = 0;
}

static void unlink_watcher(kl_watcher_t *w)
{
    kl_apiserver_t *srv = w->srv;
    if (w->prev)
        w->prev->next = w->next;
    else if (w->table->watchers == w)
        w->table->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    if (w->all_prev)
        w->all_prev->all_next = w->all_next;
    else if (srv->all_watchers == w)
        srv->all_watchers = w->all_next;
    if (w->all_next)
        w->all_next->all_prev = w->all_prev;
    w->next = w->prev = w->all_next = w->all_prev = NULL;
    srv->nwatchers--;
}

static void drop_snapshot(kl_watcher_t *w)
{
    for (size_t i = w->snap_pos; i < w->snap_n; i++)
        kl_sobj_unref(w->snap[i]);
    free(w->snap);
    w->snap = NULL;
    w->snap_n = w->snap_pos = 0;
    w->snap_bookmark = false;
}

static void free_watcher(kl_watcher_t *w)
{
    unlink_watcher(w);
    drop_snapshot(w);
    drop_pending(w);
    for (size_t i = 0; i < w->ninflight; i++)
        item_release(&w->inflight[i]);
    free(w->pending);
    kl_filter_cleanup(&w->filter);
    kl_printer_free(w->own_printer);
    free(w->ns);
    free(w);
}

static int push(kl_watcher_t *w, witem_t *it)
{
    if (w->closing || w->done) {
        item_release(it);
        return 0;
    }
    if (w->npending >= MAX_PENDING_ITEMS || w->pending_bytes > MAX_PENDING_BYTES) {
        /* Too far behind: stop here; the client resumes from the last event it saw. */
        KL_WARN("apiserver", "watch of %s cut off: %zu events (%zu bytes) queued",
                w->res->group_resource, w->npending, w->pending_bytes);
        item_release(it);
        drop_pending(w);
        w->closing = true;
        return -1;
    }
    if (w->npending == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        witem_t *n = malloc(cap * sizeof(*n));
        if (n == NULL) {
            item_release(it);
            return KL_ENOMEM;
        }
        for (size_t i = 0; i < w->npending; i++)
            n[i] = w->pending[(w->head + i) % w->cap];
        free(w->pending);
        w->pending = n;
        w->cap = cap;
        w->head = 0;
    }
    w->pending[(w->head + w->npending) % w->cap] = *it;
    w->npending++;
    w->pending_bytes += it->raw ? it->rawlen : it->obj->len + 32;
    return 0;
}

static void flush(kl_watcher_t *w);

static void on_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    kl_watcher_t *w = (kl_watcher_t *)g;
    for (size_t i = 0; i < w->ninflight; i++)
        item_release(&w->inflight[i]);
    w->ninflight = 0;
    w->sending = false;
    flush(w);
}

static void on_stop(h2o_generator_t *g, h2o_req_t *req)
{
    kl_watcher_t *w = (kl_watcher_t *)g;
    w->done = true;
    w->stopped = true;
    if (w->in_send == 0)
        free_watcher(w);
}

static int render(kl_watcher_t *w, kl_evtype_t type, kl_sobj_t *obj, witem_t *it);
static int bookmark_line(kl_watcher_t *w, int64_t rv, bool initial_end, witem_t *it);

/* Moves the next items to send into the in-flight batch: the snapshot first, then the
 * initial-events-end bookmark, then live events. */
static void take_batch(kl_watcher_t *w)
{
    while (w->snap_pos < w->snap_n && w->ninflight < BATCH) {
        kl_sobj_t *obj = w->snap[w->snap_pos++]; /* its reference moves to the item */
        witem_t it = {.type = KL_EV_ADDED};
        if (w->table_fmt || w->res->primary != w->res) {
            if (render(w, KL_EV_ADDED, obj, &it) < 0) {
                kl_sobj_unref(obj);
                continue;
            }
            kl_sobj_unref(obj);
        } else {
            it.obj = obj;
        }
        w->inflight[w->ninflight++] = it;
    }
    if (w->snap_pos == w->snap_n && w->snap) {
        free(w->snap);
        w->snap = NULL;
        w->snap_n = w->snap_pos = 0;
    }
    if (w->snap == NULL && w->snap_bookmark && w->ninflight < BATCH) {
        witem_t it = {0};
        w->snap_bookmark = false;
        if (bookmark_line(w, w->snap_rv, true, &it) == 0)
            w->inflight[w->ninflight++] = it;
    }
    if (w->snap != NULL || w->snap_bookmark)
        return;
    while (w->npending > 0 && w->ninflight < BATCH) {
        witem_t *it = &w->pending[w->head];
        w->inflight[w->ninflight] = *it;
        memset(it, 0, sizeof(*it));
        w->head = (w->head + 1) % w->cap;
        w->npending--;
        witem_t *f = &w->inflight[w->ninflight++];
        w->pending_bytes -= f->raw ? f->rawlen : f->obj->len + 32;
    }
    if (w->npending == 0)
        w->pending_bytes = 0;
}

static void flush(kl_watcher_t *w)
{
    if (w->sending || w->done)
        return;
    take_batch(w);
    if (w->ninflight == 0) {
        if (w->closing) {
            w->done = true;
            w->in_send++;
            h2o_send(w->req, NULL, 0, H2O_SEND_STATE_FINAL);
            w->in_send--;
            free_watcher(w);
        }
        return;
    }
    size_t niov = 0;
    for (size_t i = 0; i < w->ninflight; i++) {
        witem_t *f = &w->inflight[i];
        if (f->raw) {
            w->iov[niov++] = h2o_iovec_init(f->raw, f->rawlen);
        } else {
            w->iov[niov++] = h2o_iovec_init(prefixes[f->type], strlen(prefixes[f->type]));
            w->iov[niov++] = h2o_iovec_init(f->obj->json, f->obj->len);
            w->iov[niov++] = h2o_iovec_init(H2O_STRLIT("}\n"));
        }
    }
    w->sending = true;
    w->next_heartbeat = kl_now_ms(w->srv) + HEARTBEAT_MS;
    w->in_send++;
    h2o_send(w->req, w->iov, niov, H2O_SEND_STATE_IN_PROGRESS);
    w->in_send--;
    if (w->stopped)
        free_watcher(w);
}

/* Renders an event for watchers that need more than the stored bytes (Table output, or an
 * alias that rewrites apiVersion). */
static int render(kl_watcher_t *w, kl_evtype_t type, kl_sobj_t *obj, witem_t *it)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    static const char *const names[] = {NULL, "ADDED", "MODIFIED", "DELETED"};
    int rc = kl_buf_printf(&b, "{\"type\":\"%s\",\"object\":", names[type]);
    if (rc == 0 && w->table_fmt) {
        char rv[24];
        snprintf(rv, sizeof(rv), "%lld", (long long)obj->rv);
        kl_table_opts_t to = {.resource_version = rv, .include_columns = !w->sent_columns};
        kl_val_t v = kl_obj_root(obj->doc);
        rc = kl_table_write(w->printer, &v, 1, &to, kl_time_now(), &b);
        w->sent_columns = true;
    } else if (rc == 0) {
        rc = kl_encode_for(w->res, obj, &b);
    }
    if (rc == 0)
        rc = kl_buf_puts(&b, "}\n");
    if (rc < 0) {
        kl_buf_cleanup(&b);
        return rc;
    }
    it->raw = kl_buf_take(&b, &it->rawlen);
    return it->raw ? 0 : KL_ENOMEM;
}

static int enqueue(kl_watcher_t *w, kl_evtype_t type, kl_sobj_t *obj)
{
    witem_t it = {.type = type};
    if (w->table_fmt || w->res->primary != w->res) {
        int rc = render(w, type, obj, &it);
        if (rc < 0)
            return rc;
    } else {
        it.obj = kl_sobj_ref(obj);
    }
    return push(w, &it);
}

static int enqueue_raw(kl_watcher_t *w, const char *text)
{
    witem_t it = {.raw = strdup(text)};
    if (it.raw == NULL)
        return KL_ENOMEM;
    it.rawlen = strlen(text);
    return push(w, &it);
}

static int bookmark_line(kl_watcher_t *w, int64_t rv, bool initial_end, witem_t *it)
{
    char line[600];
    snprintf(
        line, sizeof(line),
        "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":"
        "{\"resourceVersion\":\"%lld\",\"creationTimestamp\":null%s}}}\n",
        w->res->kind, w->res->api_version, (long long)rv,
        initial_end ? ",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}" : "");
    w->next_bookmark = kl_now_ms(w->srv) + BOOKMARK_MS;
    memset(it, 0, sizeof(*it));
    it->raw = strdup(line);
    if (it->raw == NULL)
        return KL_ENOMEM;
    it->rawlen = strlen(line);
    return 0;
}

static int enqueue_bookmark(kl_watcher_t *w, int64_t rv, bool initial_end)
{
    witem_t it;
    int rc = bookmark_line(w, rv, initial_end, &it);
    return rc < 0 ? rc : push(w, &it);
}

/* The event type a watcher sees for a store event, or 0 to skip it. */
static kl_evtype_t classify(kl_watcher_t *w, const kl_event_t *ev)
{
    bool now = ev->type != KL_EV_DELETED && kl_filter_match(w->res, &w->filter, ev->obj->doc);
    bool before = ev->prev && kl_filter_match(w->res, &w->filter, ev->prev->doc);
    switch (ev->type) {
    case KL_EV_ADDED:
        return now ? KL_EV_ADDED : 0;
    case KL_EV_MODIFIED:
        if (now && before)
            return KL_EV_MODIFIED;
        if (now)
            return KL_EV_ADDED;
        if (before)
            return KL_EV_DELETED;
        return 0;
    case KL_EV_DELETED:
        if (before || kl_filter_match(w->res, &w->filter, ev->obj->doc))
            return KL_EV_DELETED;
        return 0;
    }
    return 0;
}

void kl_watch_dispatch(kl_apiserver_t *srv, const kl_event_t *ev, kl_table_t *table)
{
    for (kl_watcher_t *w = table->watchers, *next; w; w = next) {
        next = w->next;
        if (w->done || w->closing)
            continue;
        w->last_rv = ev->rv;
        kl_evtype_t t = classify(w, ev);
        if (t == 0)
            continue;
        if (enqueue(w, t, ev->obj) == 0)
            flush(w);
        else
            flush(w); /* closing: finish the stream */
    }
}

void kl_watch_tick(kl_apiserver_t *srv, uint64_t now_ms)
{
    int64_t rv = kl_store_rv(srv->store);
    for (kl_watcher_t *w = srv->all_watchers, *next; w; w = next) {
        next = w->all_next;
        if (w->done)
            continue;
        if (w->deadline && now_ms >= w->deadline) {
            w->closing = true;
            flush(w);
            continue;
        }
        if (w->bookmarks && now_ms >= w->next_bookmark) {
            /* A bookmark says "you have seen everything up to here". */
            if (enqueue_bookmark(w, w->last_rv > rv ? w->last_rv : rv, false) == 0)
                flush(w);
            continue;
        }
        if (now_ms >= w->next_heartbeat && !w->sending && w->npending == 0) {
            /* Whitespace between events keeps idle HTTP/1.1 streams checked for dead peers. */
            if (enqueue_raw(w, "\n") == 0)
                flush(w);
        }
    }
}

void kl_watch_close_all(kl_apiserver_t *srv)
{
    for (kl_watcher_t *w = srv->all_watchers, *next; w; w = next) {
        next = w->all_next;
        drop_snapshot(w);
        drop_pending(w);
        w->closing = true;
        flush(w);
    }
}

void kl_watch_request(kl_apiserver_t *srv, h2o_req_t *req, kl_res_t *res, const kl_path_t *p,
                      const kl_query_t *q)
{
    /* Nothing is uncommitted here: serve() parks a watch until the group commits. */
    kl_watcher_t *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        kl_respond_statusf(req, 500, "InternalError", "out of memory");
        return;
    }
    kl_errinfo_t err;
    w->ns = res->namespaced && p->namespace ? strdup(p->namespace) : NULL;
    if (kl_filter_init(&w->filter, res, w->ns, q, &err) < 0) {
        free(w->ns);
        free(w);
        kl_respond_status(req, 400, "BadRequest", err.msg, NULL, NULL, NULL, NULL);
        return;
    }
    w->srv = srv;
    w->req = req;
    w->res = res;
    w->table = res->table;
    w->gen.proceed = on_proceed;
    w->gen.stop = on_stop;
    w->table_fmt = kl_wants_table(req);
    w->bookmarks = kl_query_bool(q, "allowWatchBookmarks");
    if (w->table_fmt) {
        w->printer = res->printer;
        if (w->printer == NULL &&
            kl_printer_for(res->group, res->kind, NULL, &w->own_printer, NULL) == 0)
            w->printer = w->own_printer;
    }
    uint64_t now = kl_now_ms(srv);
    const char *ts = kl_query_get(q, "timeoutSeconds");
    int64_t timeout = ts ? strtoll(ts, NULL, 10) : 0;
    if (timeout <= 0)
        timeout = 1800 + (int64_t)(now % 1800); /* as upstream: 30-60 minutes */
    w->deadline = now + (uint64_t)timeout * 1000;
    w->next_bookmark = now + BOOKMARK_MS;
    w->next_heartbeat = now + HEARTBEAT_MS;

    const char *rvq = kl_query_get(q, "resourceVersion");
    bool initial = kl_query_bool(q, "sendInitialEvents");
    int64_t from = 0;
    bool replay_current = initial || rvq == NULL || *rvq == '\0' || strcmp(rvq, "0") == 0;
    if (!replay_current) {
        char *end;
        from = strtoll(rvq, &end, 10);
        if (*end != '\0' || from < 0) {
            kl_filter_cleanup(&w->filter);
            free(w->ns);
            kl_printer_free(w->own_printer);
            free(w);
            kl_respond_statusf(req, 400, "BadRequest", "invalid resource version \"%s\"", rvq);
            return;
        }
    }
    size_t first = 0, nev = 0;
    if (!replay_current && kl_store_events_after(srv->store, from, &first, &nev) < 0) {
        kl_filter_cleanup(&w->filter);
        free(w->ns);
        kl_printer_free(w->own_printer);
        free(w);
        char body[400];
        int n =
            snprintf(body, sizeof(body),
                     "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                     "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource "
                     "version: %lld (%lld)\",\"reason\":\"Expired\",\"code\":410}}\n",
                     (long long)from, (long long)kl_store_oldest_rv(srv->store));
        kl_respond_bytes(req, 200, "application/json", body, (size_t)n);
        return;
    }

    /* Register, start the response, then queue what the watcher must see first. */
    w->next = res->table->watchers;
    if (w->next)
        w->next->prev = w;
    res->table->watchers = w;
    w->all_next = srv->all_watchers;
    if (w->all_next)
        w->all_next->all_prev = w;
    srv->all_watchers = w;
    srv->nwatchers++;
    w->last_rv = kl_store_rv(srv->store);

    req->res.status = 200;
    req->res.reason = "OK";
    const char *ct =
        w->table_fmt ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ct, strlen(ct));
    h2o_start_response(req, &w->gen);

    if (replay_current) {
        size_t n;
        kl_entry_t **sorted = kl_store_sorted(res->table, &n);
        w->snap = n ? malloc(n * sizeof(*w->snap)) : NULL;
        for (size_t i = 0; w->snap && i < n; i++)
            if (kl_filter_match(res, &w->filter, sorted[i]->obj->doc))
                w->snap[w->snap_n++] = kl_sobj_ref(sorted[i]->obj);
        if (n && w->snap == NULL)
            w->closing = true; /* out of memory: end the stream, the client retries */
        w->snap_bookmark = initial && w->bookmarks;
        w->snap_rv = kl_store_rv(srv->store);
    } else {
        for (size_t i = 0; i < nev; i++) {
            const kl_event_t *ev = kl_store_event_at(srv->store, first + i);
            if (strncmp(ev->key, res->table->prefix, strlen(res->table->prefix)) != 0)
                continue;
            kl_evtype_t t = classify(w, ev);
            if (t)
                enqueue(w, t, ev->obj);
        }
    }
    /* HTTP/1.1: h2o holds the headers back until the first body bytes, so a watch with nothing
     * to say yet would leave the client waiting for its response; whitespace between events
     * is allowed (it is also the heartbeat), so send one newline at once. */
    if (req->version < 0x200 && w->snap_n == 0 && w->npending == 0 && !w->snap_bookmark)
        enqueue_raw(w, "\n");
    /* Flush the headers first; queued events follow on proceed. */
    w->sending = true;
    w->in_send++;
    h2o_send(req, NULL, 0, H2O_SEND_STATE_IN_PROGRESS);
    w->in_send--;
    if (w->stopped)
        free_watcher(w);
}
