/* apiserver/store.h - durable object storage of the embedded API server.
 *
 * SQLite in WAL mode holds one revision log (kine-style): every write appends a row whose rowid
 * is the new resourceVersion, so resourceVersions increase monotonically and survive restarts,
 * and deletes the row of the version it replaces (only the latest version of each object is
 * kept on disk; a deletion leaves a tombstone row, dropped by periodic compaction). A write is
 * durable once its row is committed (synchronous=NORMAL in WAL: the row is in the WAL file, so
 * it survives kill -9 of the process).
 *
 * The latest state of every object is also held in memory as a kl_sobj_t: its canonical JSON
 * bytes (spliced into LIST and WATCH responses without re-serialising) and the same object in
 * compact form (for selectors, tables and patches). A bounded ring of recent events (each with
 * the object's new and previous state) serves watches from a resourceVersion and lists at an
 * older resourceVersion; anything older is "expired" (410).
 *
 * Keys are "<group>/<resource>/<namespace>/<name>" with "core" for the core group and an empty
 * namespace for cluster-scoped objects. The store knows nothing about HTTP. Server thread only.
 */
#ifndef KL_APISERVER_STORE_H
#define KL_APISERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/error.h"
#include "kubelua/object.h"
#include "kubelua/strmap.h"

/* A stored object version: shared by the live table and the event ring, reference-counted. */
typedef struct kl_sobj {
    uint32_t refs;
    int64_t rv;
    kl_obj_t *doc; /* compact form */
    size_t len;
    char json[]; /* canonical JSON, NUL-terminated */
} kl_sobj_t;

kl_sobj_t *kl_sobj_ref(kl_sobj_t *o);
void kl_sobj_unref(kl_sobj_t *o);

typedef enum kl_evtype {
    KL_EV_ADDED = 1,
    KL_EV_MODIFIED = 2,
    KL_EV_DELETED = 3,
} kl_evtype_t;

typedef struct kl_event {
    int64_t rv;
    kl_evtype_t type;
    char *key;       /* full store key */
    kl_sobj_t *obj;  /* new state, or the last state for DELETED */
    kl_sobj_t *prev; /* state before this event, NULL for ADDED */
} kl_event_t;

/* One group/resource's live objects. */
typedef struct kl_table {
    char *prefix;             /* "apps/daemonsets/" */
    kl_strmap_t objects;      /* "ns/name" (or "name") -> kl_entry_t */
    struct kl_entry **sorted; /* entries sorted by key; rebuilt lazily */
    size_t nsorted;
    bool sorted_dirty;
    size_t bytes;   /* JSON bytes held */
    void *watchers; /* for the server: its watchers of this table (not owned) */
} kl_table_t;

typedef struct kl_entry {
    char *name_key; /* "ns/name" or "name"; owned, the table's map key */
    kl_sobj_t *obj;
    kl_table_t *table;
} kl_entry_t;

typedef struct kl_store kl_store_t;

/* Called after each committed write, in order, with the event (borrowed). */
typedef void (*kl_store_event_cb)(kl_store_t *st, const kl_event_t *ev, kl_table_t *table,
                                  void *data);

typedef struct kl_store_opts {
    const char *path;     /* SQLite file */
    size_t history;       /* events kept in memory for watches (default 20000) */
    size_t compact_every; /* delete tombstone rows after this many writes (default 2000) */
} kl_store_opts_t;

KL_NODISCARD int kl_store_open(const kl_store_opts_t *opts, kl_store_t **out, kl_errinfo_t *err);
void kl_store_close(kl_store_t *st);
void kl_store_set_event_cb(kl_store_t *st, kl_store_event_cb cb, void *data);

/* The table for a "<group>/<resource>/" prefix, created on first use. Objects stored before a
 * restart are attached to their table when it is first requested (or by kl_store_load). */
kl_table_t *kl_store_table(kl_store_t *st, const char *prefix);
/* Loads every stored object and the recent history. Call once after opening, before serving.
 * Rows whose prefix has no table yet are kept until the table is requested. */
KL_NODISCARD int kl_store_load(kl_store_t *st, kl_errinfo_t *err);

int64_t kl_store_rv(const kl_store_t *st);        /* the latest resourceVersion */
int64_t kl_store_oldest_rv(const kl_store_t *st); /* watches from rv >= this can be served */

kl_entry_t *kl_store_get(kl_table_t *t, const char *name_key);

/* Writes a new version of name_key in table t: json must be the object's canonical encoding
 * with metadata.resourceVersion already set to the value kl_store_next_rv() returned. doc is
 * the compact form of json; the store takes ownership of doc (also on failure). Returns the
 * new sobj (borrowed, owned by the store). */
int64_t kl_store_next_rv(const kl_store_t *st);
KL_NODISCARD int kl_store_put(kl_store_t *st, kl_table_t *t, const char *name_key, const char *json,
                              size_t len, kl_obj_t *doc, kl_evtype_t type, kl_sobj_t **out,
                              kl_errinfo_t *err);
/* Removes name_key; the DELETED event carries `last` (the object as it was at deletion, with a
 * new resourceVersion already set, as kube-apiserver sends it), whose doc the store takes. */
KL_NODISCARD int kl_store_delete(kl_store_t *st, kl_table_t *t, const char *name_key,
                                 const char *json, size_t len, kl_obj_t *doc, kl_errinfo_t *err);

/* Batches: the writes between begin and end share one SQLite transaction (one WAL append
 * instead of one per write). Answer the writers only after end returned 0: until then their
 * rows are not durable. A failed row inside a batch is left out; the others stay.
 *
 * Grouping (the server's group commit): with it on, the first write opens a transaction that
 * every later write joins until kl_store_commit; `opened` is called when one opens, so the
 * owner can schedule the commit (the server does at the end of its loop iteration). Until then
 * nothing is durable: the owner holds the answers to the writers (and to anyone who could
 * have read the new state) until kl_store_commit returned 0.
 *
 * In both, the event callback hears of the writes only once they are committed. When a shared
 * commit fails, its rows are lost on disk while memory has them: the store logs it and refuses
 * every later write (KL_EIO) until restarted. */
KL_NODISCARD int kl_store_batch_begin(kl_store_t *st, kl_errinfo_t *err);
KL_NODISCARD int kl_store_batch_end(kl_store_t *st, kl_errinfo_t *err);
void kl_store_set_grouping(kl_store_t *st, bool on, void (*opened)(void *data), void *data);
/* Commits the open group (nothing to do without one) and tells the event callback. */
KL_NODISCARD int kl_store_commit(kl_store_t *st, kl_errinfo_t *err);
/* Writes are waiting for kl_store_commit. */
bool kl_store_uncommitted(const kl_store_t *st);

/* Entries of t sorted by name key (namespace, then name), valid until the next write. */
kl_entry_t **kl_store_sorted(kl_table_t *t, size_t *n);

/* Events with rv > after, oldest first: [*first, *first + *n) in ring order; use
 * kl_store_event_at to read. Returns KL_EGONE when `after` is older than the history. */
KL_NODISCARD int kl_store_events_after(const kl_store_t *st, int64_t after, size_t *first,
                                       size_t *n);
const kl_event_t *kl_store_event_at(const kl_store_t *st, size_t index);

/* Statistics. */
size_t kl_store_objects(const kl_store_t *st);

#endif
