/* kubelua/expectations.h - creations and deletions a controller has issued and not yet seen in
 * its cache (ControllerExpectations and UIDTrackingControllerExpectations of
 * kube-controller-manager). Uses strmap.h and ktime.h.
 *
 * One record per controller key ("namespace/name"): counters of pending creations ("adds") and
 * deletions ("dels"), the time the record was last set, and optionally the keys of the pods
 * whose deletion is pending. The controller sets a record before issuing API calls; informer
 * events lower it (creation observed, deletion observed); failed calls lower it directly.
 * satisfied() tells whether a sync may act: no record, both counters <= 0, or a record older
 * than the TTL (5 minutes by default, upstream's ExpectationsTimeout) because an event was
 * lost. Counters may go negative (an event seen twice), which is harmless.
 *
 * With tracked deletion keys (kl_expectations_set_keys), deletion_observed() only counts a pod
 * key that is still pending, once: a pod seen first with a deletionTimestamp and then deleted
 * lowers the counter a single time.
 *
 * Loop thread only: no locks. Reference-counted so the runtime and Lua can share one; the
 * creator holds the first reference. Keys are copied.
 */
#ifndef KUBELUA_EXPECTATIONS_H
#define KUBELUA_EXPECTATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/error.h"

#define KL_EXPECTATIONS_DEFAULT_TTL_MS ((int64_t)5 * 60 * 1000)

typedef struct kl_expectations kl_expectations_t;

typedef struct kl_expectations_opts {
    int64_t ttl_ms; /* 0: KL_EXPECTATIONS_DEFAULT_TTL_MS */
    /* Clock in Unix milliseconds; NULL: kl_time_now_ms (which tests may fake process-wide). */
    int64_t (*now_ms)(void *ud);
    void *ud;
} kl_expectations_opts_t;

/* opts may be NULL. Returns 0 or KL_ENOMEM. */
KL_NODISCARD int kl_expectations_new(const kl_expectations_opts_t *opts, kl_expectations_t **out);
kl_expectations_t *kl_expectations_ref(kl_expectations_t *e);
void kl_expectations_unref(kl_expectations_t *e); /* frees on the last reference; NULL ok */

/* SetExpectations: replaces the record of key (dropping tracked keys) and stamps it now.
 * ExpectCreations(n) is set(key, n, 0); ExpectDeletions(n) is set(key, 0, n). */
KL_NODISCARD int kl_expectations_set(kl_expectations_t *e, const char *key, int64_t adds,
                                     int64_t dels);
/* Like set, with dels = ndel and the deletion of each of the pod keys tracked. Duplicate pod
 * keys count once. */
KL_NODISCARD int kl_expectations_set_keys(kl_expectations_t *e, const char *key, int64_t adds,
                                          const char *const *pod_keys, size_t ndel);
/* RaiseExpectations / LowerExpectations: adjust an existing record (no-op without one); the
 * timestamp is kept. */
void kl_expectations_raise(kl_expectations_t *e, const char *key, int64_t adds, int64_t dels);
void kl_expectations_lower(kl_expectations_t *e, const char *key, int64_t adds, int64_t dels);
/* CreationObserved: adds - 1. */
void kl_expectations_creation_observed(kl_expectations_t *e, const char *key);
/* DeletionObserved: dels - 1; when the record tracks pod keys, only for a pending pod_key (which
 * is then forgotten). pod_key may be NULL for untracked records. */
void kl_expectations_deletion_observed(kl_expectations_t *e, const char *key, const char *pod_key);
/* SatisfiedExpectations. */
bool kl_expectations_satisfied(const kl_expectations_t *e, const char *key);
/* DeleteExpectations: drops the record (the owner is gone). */
void kl_expectations_delete(kl_expectations_t *e, const char *key);

/* Reads a record: false when there is none; otherwise the counters, the record's age in ms and
 * whether it expired (any out-pointer may be NULL). */
bool kl_expectations_get(const kl_expectations_t *e, const char *key, int64_t *adds, int64_t *dels,
                         int64_t *age_ms, bool *expired);
/* Whether pod_key's deletion is tracked as pending for key. */
bool kl_expectations_pending_deletion(const kl_expectations_t *e, const char *key,
                                      const char *pod_key);
/* Number of records. */
size_t kl_expectations_count(const kl_expectations_t *e);
/* Drops records that are satisfied (fulfilled or expired); returns how many. Upstream keeps
 * them until the owner is deleted; call this from a periodic timer to bound memory. */
size_t kl_expectations_gc(kl_expectations_t *e);

#endif
