/* Durable storage: a SQLite revision log plus the live objects and recent events in memory. */
#include "apiserver/store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/log.h"

struct kl_store {
    sqlite3 *db;
    sqlite3_stmt *ins;
    sqlite3_stmt *drop_prev;
    sqlite3_stmt *begin;
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
    int64_t rv;
    int64_t compacted_rv; /* events with rv <= this are gone from the ring */
    kl_event_t *ring;
    size_t ring_cap, ring_head, ring_len;
    kl_strmap_t tables;  /* prefix -> kl_table_t */
    kl_strmap_t pending; /* prefix -> pending rows (loaded before their table existed) */
    size_t writes_since_compact, compact_every;
    size_t nobjects;
    kl_store_event_cb cb;
    void *cb_data;
    bool batch;    /* kl_store_batch_begin .. end */
    bool txn;      /* a transaction is open */
    bool grouping; /* rows join the open transaction until kl_store_commit */
    bool failed;   /* a shared commit failed: memory is ahead of disk, writes are refused */
    void (*opened)(void *data);
    void *opened_data;
    /* Events of the open transaction, told to cb once it commits. */
    struct deferred *deferred;
    size_t ndeferred, deferred_cap;
};

typedef struct deferred {
    kl_event_t ev; /* own references and key */
    kl_table_t *table;
} deferred_t;

static void tell_deferred(kl_store_t *st);

kl_sobj_t *kl_sobj_ref(kl_sobj_t *o)
{
    if (o)
        o->refs++;
    return o;
}

void kl_sobj_unref(kl_sobj_t *o)
{
    if (o && --o->refs == 0) {
        kl_obj_unref(o->doc);
        free(o);
    }
}

static kl_sobj_t *sobj_new(int64_t rv, const char *json, size_t len, kl_obj_t *doc)
{
    kl_sobj_t *o = malloc(sizeof(*o) + len + 1);
    if (o == NULL)
        return NULL;
    o->refs = 1;
    o->rv = rv;
    o->doc = doc;
    o->len = len;
    memcpy(o->json, json, len);
    o->json[len] = '\0';
    return o;
}

static int db_err(kl_store_t *st, kl_errinfo_t *err, const char *what)
{
    return kl_err(err, KL_EIO, "storage: %s: %s", what, sqlite3_errmsg(st->db));
}

static int exec(kl_store_t *st, const char *sql, kl_errinfo_t *err)
{
    char *msg = NULL;
    int src = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    if (src == SQLITE_BUSY) {
        sqlite3_free(msg);
        return kl_err(err, KL_EBUSY,
                      "storage: %s is in use by another process (is another kubelua running on "
                      "this data directory?)",
                      sqlite3_db_filename(st->db, "main"));
    }
    if (src != SQLITE_OK) {
        int rc = kl_err(err, KL_EIO, "storage: %s: %s", sql, msg ? msg : "error");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

static int prepare(kl_store_t *st, const char *sql, sqlite3_stmt **out, kl_errinfo_t *err)
{
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK)
        return db_err(st, err, sql);
    return 0;
}

int kl_store_open(const kl_store_opts_t *opts, kl_store_t **out, kl_errinfo_t *err)
{
    kl_store_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    int rc = 0;
    st->ring_cap = opts->history ? opts->history : 20000;
    st->compact_every = opts->compact_every ? opts->compact_every : 2000;
    st->ring = calloc(st->ring_cap, sizeof(kl_event_t));
    kl_strmap_init(&st->tables, 0);
    kl_strmap_init(&st->pending, KL_STRMAP_COPY_KEYS);
    if (st->ring == NULL) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto fail;
    }
    if (sqlite3_open_v2(opts->path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = kl_err(err, KL_EIO, "storage: cannot open %s: %s", opts->path,
                    st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    /* One process owns the store: with the lock held from the first access, a transaction
     * takes no file locks (fcntl) and the WAL index lives in the heap, not in shared memory;
     * a second server on the same data directory is refused. */
    if ((rc = exec(st, "PRAGMA locking_mode=EXCLUSIVE", err)) < 0 ||
        (rc = exec(st, "PRAGMA journal_mode=WAL", err)) < 0 ||
        (rc = exec(st, "PRAGMA synchronous=NORMAL", err)) < 0 ||
        /* Checkpoint every 8,192 pages (32 MiB of WAL) rather than 1,000: a page rewritten
         * by many commits (the log's tail) is copied back to the database once. */
        (rc = exec(st, "PRAGMA wal_autocheckpoint=8192", err)) < 0 ||
        (rc = exec(st, "PRAGMA busy_timeout=5000", err)) < 0 ||
        (rc = exec(st,
                   "CREATE TABLE IF NOT EXISTS log ("
                   " rv INTEGER PRIMARY KEY AUTOINCREMENT,"
                   " key TEXT NOT NULL,"
                   " type INTEGER NOT NULL,"
                   " superseded INTEGER NOT NULL DEFAULT 0,"
                   " value BLOB NOT NULL)",
                   err)) < 0 ||
        (rc = exec(st, "CREATE INDEX IF NOT EXISTS log_live ON log(superseded, rv)", err)) < 0)
        goto fail;
    /* Only the latest version of each object is kept on disk (the watch history lives in
     * memory): a write deletes the version it replaces, while its pages are still cached. A
     * deletion's tombstone row is born superseded; it only carries the resourceVersion
     * sequence forward, and compaction drops tombstones through the index. */
    if ((rc =
             prepare(st, "INSERT INTO log(rv, key, type, superseded, value) VALUES (?, ?, ?, ?, ?)",
                     &st->ins, err)) < 0 ||
        (rc = prepare(st, "DELETE FROM log WHERE rv = ?", &st->drop_prev, err)) < 0 ||
        (rc = prepare(st, "BEGIN", &st->begin, err)) < 0 ||
        (rc = prepare(st, "COMMIT", &st->commit, err)) < 0 ||
        (rc = prepare(st, "ROLLBACK", &st->rollback, err)) < 0)
        goto fail;
    *out = st;
    return 0;
fail:
    kl_store_close(st);
    return rc;
}

static void free_event(kl_event_t *e)
{
    free(e->key);
    kl_sobj_unref(e->obj);
    kl_sobj_unref(e->prev);
    memset(e, 0, sizeof(*e));
}

static void free_table(kl_table_t *t)
{
    size_t it = 0;
    const char *k;
    void *v;
    while (kl_strmap_next(&t->objects, &it, &k, &v)) {
        kl_entry_t *e = v;
        kl_sobj_unref(e->obj);
        free(e->name_key);
        free(e);
    }
    kl_strmap_cleanup(&t->objects);
    free(t->sorted);
    free(t->prefix);
    free(t);
}

typedef struct pending_row {
    struct pending_row *next;
    char *name_key;
    kl_sobj_t *obj;
} pending_row_t;

void kl_store_close(kl_store_t *st)
{
    if (st == NULL)
        return;
    st->batch = false;
    if (st->txn && kl_store_commit(st, NULL) < 0)
        KL_ERROR("storage", "the last writes could not be committed at close");
    st->cb = NULL;
    tell_deferred(st);
    sqlite3_finalize(st->ins);
    sqlite3_finalize(st->drop_prev);
    sqlite3_finalize(st->begin);
    sqlite3_finalize(st->commit);
    sqlite3_finalize(st->rollback);
    if (st->db)
        sqlite3_close(st->db);
    for (size_t i = 0; st->ring && i < st->ring_len; i++)
        free_event(&st->ring[(st->ring_head + i) % st->ring_cap]);
    free(st->ring);
    size_t it = 0;
    const char *k;
    void *v;
    while (kl_strmap_next(&st->tables, &it, &k, &v))
        free_table(v);
    kl_strmap_cleanup(&st->tables);
    it = 0;
    while (kl_strmap_next(&st->pending, &it, &k, &v)) {
        for (pending_row_t *p = v, *n; p; p = n) {
            n = p->next;
            kl_sobj_unref(p->obj);
            free(p->name_key);
            free(p);
        }
    }
    kl_strmap_cleanup(&st->pending);
    free(st);
}

void kl_store_set_event_cb(kl_store_t *st, kl_store_event_cb cb, void *data)
{
    st->cb = cb;
    st->cb_data = data;
}

static int table_insert(kl_table_t *t, const char *name_key, kl_sobj_t *obj, kl_entry_t **out)
{
    kl_entry_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return KL_ENOMEM;
    e->name_key = strdup(name_key);
    e->obj = obj;
    e->table = t;
    if (e->name_key == NULL || kl_strmap_put(&t->objects, e->name_key, e, NULL) < 0) {
        free(e->name_key);
        free(e);
        return KL_ENOMEM;
    }
    t->sorted_dirty = true;
    t->bytes += obj->len;
    if (out)
        *out = e;
    return 0;
}

kl_table_t *kl_store_table(kl_store_t *st, const char *prefix)
{
    kl_table_t *t = kl_strmap_get(&st->tables, prefix);
    if (t)
        return t;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->prefix = strdup(prefix);
    kl_strmap_init(&t->objects, 0);
    if (t->prefix == NULL || kl_strmap_put(&st->tables, t->prefix, t, NULL) < 0) {
        free(t->prefix);
        free(t);
        return NULL;
    }
    void *pv;
    if (kl_strmap_del(&st->pending, prefix, &pv) == 0) {
        for (pending_row_t *p = pv, *n; p; p = n) {
            n = p->next;
            if (table_insert(t, p->name_key, p->obj, NULL) < 0)
                kl_sobj_unref(p->obj);
            free(p->name_key);
            free(p);
        }
    }
    return t;
}

/* Splits a full key "<group>/<resource>/<ns>/<name>" into its table prefix (up to and including
 * the second '/') and the name key. */
static int split_key(const char *key, char *prefix, size_t cap, const char **name_key)
{
    const char *p = strchr(key, '/');
    if (p == NULL)
        return -1;
    p = strchr(p + 1, '/');
    if (p == NULL || (size_t)(p + 1 - key) >= cap)
        return -1;
    memcpy(prefix, key, (size_t)(p + 1 - key));
    prefix[p + 1 - key] = '\0';
    *name_key = p + 1;
    return 0;
}

int kl_store_load(kl_store_t *st, kl_errinfo_t *err)
{
    /* History left by an earlier version (which kept superseded rows until compaction). */
    int rc = exec(st, "DELETE FROM log WHERE superseded = 1 OR type = 3", err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *q = NULL;
    rc = prepare(st,
                 "SELECT rv, key, value FROM log WHERE superseded = 0 AND type != 3 ORDER BY "
                 "rv",
                 &q, err);
    if (rc < 0)
        return rc;
    int s;
    while ((s = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t rv = sqlite3_column_int64(q, 0);
        const char *key = (const char *)sqlite3_column_text(q, 1);
        const char *val = sqlite3_column_blob(q, 2);
        size_t len = (size_t)sqlite3_column_bytes(q, 2);
        kl_obj_t *doc;
        kl_errinfo_t perr;
        if (kl_obj_parse_json(val, len, NULL, &doc, &perr) < 0) {
            KL_ERROR("storage", "skipping unreadable object %s at rv %lld: %s", key, (long long)rv,
                     perr.msg);
            continue;
        }
        kl_sobj_t *o = sobj_new(rv, val, len, doc);
        if (o == NULL) {
            kl_obj_unref(doc);
            rc = kl_err(err, KL_ENOMEM, "out of memory");
            break;
        }
        char prefix[512];
        const char *name_key;
        if (split_key(key, prefix, sizeof(prefix), &name_key) < 0) {
            kl_sobj_unref(o);
            continue;
        }
        kl_table_t *t = kl_strmap_get(&st->tables, prefix);
        if (t) {
            kl_entry_t *old = kl_store_get(t, name_key);
            if (old) {
                /* Two live rows for one key (a crash between insert and deletion cannot
                 * happen inside a transaction, but be safe): the later one wins. */
                t->bytes -= old->obj->len;
                kl_sobj_unref(old->obj);
                old->obj = o;
                t->bytes += o->len;
                continue;
            }
            if ((rc = table_insert(t, name_key, o, NULL)) < 0) {
                kl_sobj_unref(o);
                break;
            }
        } else {
            pending_row_t *p = calloc(1, sizeof(*p));
            if (p == NULL || (p->name_key = strdup(name_key)) == NULL) {
                free(p);
                kl_sobj_unref(o);
                rc = KL_ENOMEM;
                break;
            }
            p->obj = o;
            void *head = kl_strmap_get(&st->pending, prefix);
            p->next = head;
            if (kl_strmap_put(&st->pending, prefix, p, NULL) < 0) {
                free(p->name_key);
                free(p);
                kl_sobj_unref(o);
                rc = KL_ENOMEM;
                break;
            }
        }
        st->nobjects++;
    }
    if (rc == 0 && s != SQLITE_DONE)
        rc = db_err(st, err, "loading objects");
    sqlite3_finalize(q);
    if (rc < 0)
        return rc;
    q = NULL;
    rc = prepare(st, "SELECT seq FROM sqlite_sequence WHERE name = 'log'", &q, err);
    if (rc < 0)
        return rc;
    if (sqlite3_step(q) == SQLITE_ROW)
        st->rv = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    st->compacted_rv = st->rv;
    return 0;
}

int64_t kl_store_rv(const kl_store_t *st)
{
    return st->rv;
}

int64_t kl_store_oldest_rv(const kl_store_t *st)
{
    return st->compacted_rv;
}

int64_t kl_store_next_rv(const kl_store_t *st)
{
    return st->rv + 1;
}

kl_entry_t *kl_store_get(kl_table_t *t, const char *name_key)
{
    return kl_strmap_get(&t->objects, name_key);
}

size_t kl_store_objects(const kl_store_t *st)
{
    return st->nobjects;
}

static void compact(kl_store_t *st)
{
    /* Tombstones are only history: drop them (through the index, not a table scan). */
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "DELETE FROM log WHERE superseded = 1 AND rv <= ?", -1, &q,
                           NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(q, 1, st->rv);
    if (sqlite3_step(q) != SQLITE_DONE)
        KL_WARN("storage", "compaction failed: %s", sqlite3_errmsg(st->db));
    sqlite3_finalize(q);
    st->writes_since_compact = 0;
}

static void ring_push(kl_store_t *st, kl_event_t *ev)
{
    if (st->ring_len == st->ring_cap) {
        kl_event_t *old = &st->ring[st->ring_head];
        st->compacted_rv = old->rv;
        free_event(old);
        st->ring_head = (st->ring_head + 1) % st->ring_cap;
        st->ring_len--;
    }
    st->ring[(st->ring_head + st->ring_len) % st->ring_cap] = *ev;
    st->ring_len++;
}

static int begin(kl_store_t *st, kl_errinfo_t *err)
{
    if (st->failed)
        return kl_err(err, KL_EIO,
                      "storage: a commit failed earlier (see the log); restart the server");
    if (st->txn)
        return 0;
    sqlite3_reset(st->begin);
    if (sqlite3_step(st->begin) != SQLITE_DONE)
        return db_err(st, err, "begin");
    st->txn = true;
    if (st->grouping && st->opened)
        st->opened(st->opened_data);
    return 0;
}

static void free_event(kl_event_t *e);

/* Tells cb about the events of the committed transaction, in order. */
static void tell_deferred(kl_store_t *st)
{
    /* cb may write (and so defer more): take the list first. */
    while (st->ndeferred) {
        deferred_t *d = st->deferred;
        size_t n = st->ndeferred;
        st->deferred = NULL;
        st->ndeferred = st->deferred_cap = 0;
        for (size_t i = 0; i < n; i++) {
            if (st->cb)
                st->cb(st, &d[i].ev, d[i].table, st->cb_data);
            free_event(&d[i].ev);
        }
        free(d);
    }
}

int kl_store_commit(kl_store_t *st, kl_errinfo_t *err)
{
    int rc = 0;
    if (st->txn && !st->batch) {
        st->txn = false;
        sqlite3_reset(st->commit);
        if (sqlite3_step(st->commit) != SQLITE_DONE) {
            kl_errinfo_t why;
            rc = db_err(st, &why, "commit");
            sqlite3_reset(st->rollback);
            sqlite3_step(st->rollback);
            st->failed = true;
            KL_ERROR("storage",
                     "committing a group of writes failed (%s): they are lost on disk; no more "
                     "writes are taken until the server restarts",
                     why.msg);
            if (err)
                *err = why;
        }
    } else if (st->failed) {
        rc = kl_err(err, KL_EIO, "storage: a commit failed earlier (see the log)");
    }
    if (!st->txn)
        tell_deferred(st);
    return rc;
}

/* Appends a row and deletes the one it replaces: in a transaction of its own, or in the
 * shared one of a batch or group (where a failed row is left out and the others stay). */
static int write_row(kl_store_t *st, int64_t rv, const char *key, int type, const char *json,
                     size_t len, int64_t prev_rv, kl_errinfo_t *err)
{
    bool own = !st->txn && !st->grouping;
    int rc = begin(st, err);
    if (rc < 0)
        return rc;
    sqlite3_reset(st->ins);
    sqlite3_bind_int64(st->ins, 1, rv);
    sqlite3_bind_text(st->ins, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int(st->ins, 3, type);
    sqlite3_bind_int(st->ins, 4, type == KL_EV_DELETED);
    sqlite3_bind_blob(st->ins, 5, json, (int)len, SQLITE_STATIC);
    if (sqlite3_step(st->ins) != SQLITE_DONE) {
        rc = db_err(st, err, "insert");
        goto fail;
    }
    if (prev_rv > 0) {
        sqlite3_reset(st->drop_prev);
        sqlite3_bind_int64(st->drop_prev, 1, prev_rv);
        if (sqlite3_step(st->drop_prev) != SQLITE_DONE) {
            rc = db_err(st, err, "dropping the previous version");
            goto fail;
        }
    }
    if (!own)
        return 0;
    st->txn = false;
    sqlite3_reset(st->commit);
    if (sqlite3_step(st->commit) != SQLITE_DONE) {
        rc = db_err(st, err, "commit");
        goto fail;
    }
    return 0;
fail:
    if (!own)
        return rc;
    st->txn = false;
    sqlite3_reset(st->rollback);
    sqlite3_step(st->rollback);
    return rc;
}

int kl_store_batch_begin(kl_store_t *st, kl_errinfo_t *err)
{
    int rc = begin(st, err);
    if (rc == 0)
        st->batch = true;
    return rc;
}

int kl_store_batch_end(kl_store_t *st, kl_errinfo_t *err)
{
    if (!st->batch)
        return 0;
    st->batch = false;
    return kl_store_commit(st, err);
}

void kl_store_set_grouping(kl_store_t *st, bool on, void (*opened)(void *data), void *data)
{
    st->grouping = on;
    st->opened = opened;
    st->opened_data = data;
}

bool kl_store_uncommitted(const kl_store_t *st)
{
    return st->txn;
}

static int emit(kl_store_t *st, kl_table_t *t, const char *name_key, kl_evtype_t type,
                kl_sobj_t *obj, kl_sobj_t *prev)
{
    kl_event_t ev = {
        .rv = obj->rv, .type = type, .obj = kl_sobj_ref(obj), .prev = kl_sobj_ref(prev)};
    size_t pl = strlen(t->prefix), nl = strlen(name_key);
    ev.key = malloc(pl + nl + 1);
    if (ev.key == NULL) {
        free_event(&ev);
        return KL_ENOMEM;
    }
    memcpy(ev.key, t->prefix, pl);
    memcpy(ev.key + pl, name_key, nl + 1);
    if (st->txn && st->cb) {
        /* Nobody hears of a write before it is durable. */
        if (st->ndeferred == st->deferred_cap) {
            size_t cap = st->deferred_cap ? 2 * st->deferred_cap : 64;
            deferred_t *d = realloc(st->deferred, cap * sizeof(*d));
            if (d == NULL) {
                free_event(&ev);
                return KL_ENOMEM;
            }
            st->deferred = d;
            st->deferred_cap = cap;
        }
        deferred_t *d = &st->deferred[st->ndeferred];
        d->ev = ev;
        d->ev.key = strdup(ev.key);
        if (d->ev.key == NULL) {
            free_event(&ev);
            return KL_ENOMEM;
        }
        kl_sobj_ref(d->ev.obj);
        kl_sobj_ref(d->ev.prev);
        d->table = t;
        st->ndeferred++;
    }
    ring_push(st, &ev);
    if (st->cb && !st->txn)
        st->cb(st, &ev, t, st->cb_data);
    return 0;
}

int kl_store_put(kl_store_t *st, kl_table_t *t, const char *name_key, const char *json, size_t len,
                 kl_obj_t *doc, kl_evtype_t type, kl_sobj_t **out, kl_errinfo_t *err)
{
    int64_t rv = st->rv + 1;
    kl_entry_t *e = kl_store_get(t, name_key);
    kl_sobj_t *o = sobj_new(rv, json, len, doc);
    if (o == NULL) {
        kl_obj_unref(doc);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    char key[1024];
    snprintf(key, sizeof(key), "%s%s", t->prefix, name_key);
    int rc = write_row(st, rv, key, e ? KL_EV_MODIFIED : KL_EV_ADDED, json, len, e ? e->obj->rv : 0,
                       err);
    if (rc < 0) {
        kl_sobj_unref(o);
        return rc;
    }
    st->rv = rv;
    kl_sobj_t *prev = NULL;
    if (e) {
        prev = e->obj;
        t->bytes = t->bytes - prev->len + o->len;
        e->obj = o;
    } else {
        if ((rc = table_insert(t, name_key, o, &e)) < 0) {
            kl_sobj_unref(o);
            return kl_err(err, rc, "out of memory");
        }
        st->nobjects++;
    }
    (void)type;
    rc = emit(st, t, name_key, prev ? KL_EV_MODIFIED : KL_EV_ADDED, o, prev);
    kl_sobj_unref(prev);
    if (++st->writes_since_compact >= st->compact_every)
        compact(st);
    if (out)
        *out = o;
    return rc < 0 ? kl_err(err, rc, "out of memory") : 0;
}

int kl_store_delete(kl_store_t *st, kl_table_t *t, const char *name_key, const char *json,
                    size_t len, kl_obj_t *doc, kl_errinfo_t *err)
{
    kl_entry_t *e = kl_store_get(t, name_key);
    if (e == NULL) {
        kl_obj_unref(doc);
        return kl_err(err, KL_ENOTFOUND, "not found");
    }
    int64_t rv = st->rv + 1;
    kl_sobj_t *last = sobj_new(rv, json, len, doc);
    if (last == NULL) {
        kl_obj_unref(doc);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    char key[1024];
    snprintf(key, sizeof(key), "%s%s", t->prefix, name_key);
    int rc = write_row(st, rv, key, KL_EV_DELETED, json, len, e->obj->rv, err);
    if (rc < 0) {
        kl_sobj_unref(last);
        return rc;
    }
    st->rv = rv;
    kl_sobj_t *prev = e->obj;
    kl_strmap_del(&t->objects, name_key, NULL);
    t->bytes -= prev->len;
    t->sorted_dirty = true;
    /* The sorted array may still point at e: rebuild before anyone reads it. */
    free(e->name_key);
    free(e);
    st->nobjects--;
    rc = emit(st, t, name_key, KL_EV_DELETED, last, prev);
    kl_sobj_unref(prev);
    kl_sobj_unref(last);
    if (++st->writes_since_compact >= st->compact_every)
        compact(st);
    return rc < 0 ? kl_err(err, rc, "out of memory") : 0;
}

static int cmp_entries(const void *a, const void *b)
{
    const kl_entry_t *x = *(kl_entry_t *const *)a, *y = *(kl_entry_t *const *)b;
    return strcmp(x->name_key, y->name_key);
}

kl_entry_t **kl_store_sorted(kl_table_t *t, size_t *n)
{
    if (t->sorted_dirty || t->sorted == NULL) {
        size_t len = kl_strmap_len(&t->objects);
        kl_entry_t **arr = realloc(t->sorted, (len ? len : 1) * sizeof(*arr));
        if (arr == NULL) {
            *n = 0;
            return NULL;
        }
        size_t it = 0, i = 0;
        const char *k;
        void *v;
        while (kl_strmap_next(&t->objects, &it, &k, &v))
            arr[i++] = v;
        qsort(arr, len, sizeof(*arr), cmp_entries);
        t->sorted = arr;
        t->nsorted = len;
        t->sorted_dirty = false;
    }
    *n = t->nsorted;
    return t->sorted;
}

int kl_store_events_after(const kl_store_t *st, int64_t after, size_t *first, size_t *n)
{
    if (after < st->compacted_rv)
        return KL_EGONE;
    size_t lo = 0, hi = st->ring_len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (st->ring[(st->ring_head + mid) % st->ring_cap].rv <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    *first = lo;
    *n = st->ring_len - lo;
    return 0;
}

const kl_event_t *kl_store_event_at(const kl_store_t *st, size_t index)
{
    return &st->ring[(st->ring_head + index) % st->ring_cap];
}
