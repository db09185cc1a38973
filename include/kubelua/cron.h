/* kubelua/cron.h - cron schedules as the CronJob controller reads them. Uses ktime.h.
 *
 * Syntax and semantics of github.com/robfig/cron/v3 ParseStandard, which kube-controller-manager
 * uses: five fields (minute hour day-of-month month day-of-week) with lists, ranges, steps, "*",
 * "?" (same as "*"), month and weekday names (JAN-DEC, SUN-SAT, case-insensitive), day-of-week
 * 0-6 (7 is rejected, as upstream); descriptors @yearly @annually @monthly @weekly @daily
 * @midnight @hourly and "@every <Go duration>" (sub-second parts dropped, at least 1s); an
 * optional "TZ=<zone> " or "CRON_TZ=<zone> " prefix. When both day-of-month and day-of-week are
 * restricted a day matches if either does (the "star bit" rule: a field whose range is "*" or "?"
 * with no step, or step 1, is unrestricted; "*" with a step of 2 or more is a restriction, so a
 * day-of-month "*" stepped by 2 with day-of-week "1" fires on odd days and on Mondays). Parse
 * errors carry upstream's messages ("end of range (60) above maximum (59): 60", "unrecognized
 * descriptor: @foo", ...).
 *
 * Next-time computation follows SpecSchedule.Next step by step in the schedule's zone, including
 * its daylight-saving behaviour: a wall-clock time inside a spring-forward gap is skipped, one
 * repeated by a fall-back can fire twice. A kl_cron_t is immutable and may be shared between
 * threads; free it with kl_cron_free() (NULL is a no-op).
 */
#ifndef KUBELUA_CRON_H
#define KUBELUA_CRON_H

#include <stdint.h>

#include "kubelua/error.h"
#include "kubelua/ktime.h"

typedef struct kl_cron kl_cron_t;

/* Parses spec; *out is owned by the caller. Returns 0, KL_ESYNTAX with upstream's message in err
 * (including "provided bad location X: unknown time zone X" for a bad prefix zone; the zone is
 * loaded, and cached, during parsing), or KL_ENOMEM. On error *out is untouched. */
KL_NODISCARD int kl_cron_parse(const char *spec, kl_cron_t **out, kl_errinfo_t *err);
void kl_cron_free(kl_cron_t *c);
/* The zone named by a TZ=/CRON_TZ= prefix as written, or NULL. Valid while c lives. */
const char *kl_cron_tz_name(const kl_cron_t *c);

/* The first activation strictly after t (Unix seconds) evaluated in tz (the prefix zone wins
 * when present, except "TZ=Local", which like upstream means tz; NULL tz means UTC). "@every d"
 * gives t + d whatever the zone. Returns 0 when there is none within five years of t (e.g.
 * "0 0 30 2 *"), as upstream returns the zero time, for t beyond +-2^45 s, and where upstream
 * would never return (a day that a zone skipped entirely, Pacific/Apia 2011-12-30). Typically
 * 60-400 ns. */
int64_t kl_cron_next(const kl_cron_t *c, const kl_tz_t *tz, int64_t t);

/* What kube-controller-manager's mostRecentScheduleTime (pkg/controller/cronjob/utils.go)
 * computes for the interval (earliest, now]. With t1 = next(earliest) and t2 = next(t1): */
typedef struct kl_cron_recent {
    /* The most recent activation the controller would start, 0 for none: 0 when now < t1, t1
     * when now < t2, else the last of next(p), next(next(p)), ... that is <= now, starting from
     * p = t1 + (missed - 2) * (t2 - t1). For regular schedules that is the exact most recent
     * activation however many were missed. For irregular ones upstream's estimate can overshoot
     * it (e.g. weekdays only, t1 on Monday, now on Sunday) and the controller then starts
     * nothing; this reproduces that too. */
    int64_t latest;
    /* 0 when now < t1; 1 when t1 <= now < t2 (upstream calls this "none missed"); otherwise
     * upstream's estimate floor((now - t1) / (t2 - t1)) + 1, which is >= 2 ("few"); more than
     * 100 is "many" (Warning TooManyMissedTimes, yet the latest slot still runs). */
    int64_t missed;
} kl_cron_recent_t;

/* earliest is status.lastScheduleTime, or metadata.creationTimestamp when unset, already raised
 * to now - startingDeadlineSeconds by the caller when the deadline applies. Cheap whatever the
 * gap: a week of missed "* * * * *" slots costs four next() calls. (Only a schedule with dense
 * runs between long gaps, like every minute of December and January, makes the walk long; past
 * 1000 steps its end is found by bisection over next(), the same answer wherever next() is
 * monotonic, i.e. everywhere but perhaps inside a fall-back overlap.) Returns 0, or
 * KL_EINVAL when t1 or t2 does not exist or they are less than a second apart ("time difference
 * between two schedules is less than 1 second", the controller's InvalidSchedule; "0 0 30 2 *"
 * gets here), with *out zeroed. */
KL_NODISCARD int kl_cron_most_recent(const kl_cron_t *c, const kl_tz_t *tz, int64_t earliest,
                                     int64_t now, kl_cron_recent_t *out, kl_errinfo_t *err);

#endif
