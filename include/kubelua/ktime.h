/* kubelua/ktime.h - wall-clock time as Kubernetes writes it, and IANA time zones.
 *
 * Times are Unix seconds (int64) plus nanoseconds where needed. RFC 3339 parsing accepts what
 * Go's time.Parse(time.RFC3339, ...) accepts ("2024-05-14T09:21:37Z", "...37.5+02:00");
 * formatting gives metav1.Time ("2024-05-14T09:21:37Z") or metav1.MicroTime ("...37.123456Z").
 *
 * Time zones are read from the system tz database (TZif files under $ZONEINFO, then
 * /usr/share/zoneinfo and the other places Go's time package looks), never by changing the
 * process's TZ or calling localtime/tzset. Zone semantics are those of Go's time.Location: the
 * 64-bit transition table, then the footer TZ rule for instants past its end. Loaded zones are
 * cached for the life of the process and shared between threads; callers never free them.
 *
 * Civil-time functions are defined for instants within about +-2 million years of 1970; inputs
 * outside that range are clamped to it.
 */
#ifndef KUBELUA_KTIME_H
#define KUBELUA_KTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/error.h"

/* Current wall-clock time. Tests and the fake cluster may override the clock for the whole
 * process with kl_time_set_fake_now_ms() (0 restores the real clock). Thread-safe. */
int64_t kl_time_now(void);    /* seconds */
int64_t kl_time_now_ms(void); /* milliseconds */
void kl_time_set_fake_now_ms(int64_t ms);

typedef struct kl_tz kl_tz_t;

/* Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" as Go's time.Parse with time.RFC3339 or
 * time.RFC3339Nano does (what metav1.Time's JSON decoding uses): year 0000-9999, day checked
 * against the month, no leap second, any number of fraction digits after '.' or ',' (digits past
 * the ninth are dropped), upper-case 'T' and 'Z' only; like Go's general parser it also takes a
 * one-digit hour and offsets up to +-24:60. *nsec may be NULL. Returns 0, or KL_ESYNTAX and
 * leaves the outputs untouched. */
KL_NODISCARD int kl_time_parse_rfc3339(const char *s, int64_t *sec, int32_t *nsec);
/* Writes "YYYY-MM-DDTHH:MM:SSZ" (20 chars + NUL) into out (at least 32 bytes). */
void kl_time_format_rfc3339(int64_t sec, char *out);
/* Writes "YYYY-MM-DDTHH:MM:SS.ffffffZ" into out (at least 32 bytes). */
void kl_time_format_rfc3339_micro(int64_t sec, int32_t usec, char *out);
/* Writes the instant as civil time in tz with its offset, as Go's t.In(tz).Format(time.RFC3339):
 * "2024-05-14T02:00:00+02:00", or "...Z" whenever the offset is zero. NULL tz is UTC. out holds
 * at least 32 bytes. (The CronJob scheduled-timestamp annotation is written this way.) */
void kl_time_format_rfc3339_in(int64_t sec, const kl_tz_t *tz, char *out);
/* Kubernetes' short human duration used in `kubectl get` AGE columns: "0s", "59s", "5m30s",
 * "3h4m", "2d3h", "400d", "3y45d", as k8s.io/apimachinery/pkg/util/duration.HumanDuration of
 * the given whole seconds ("<invalid>" below -1). Writes at most cap bytes including the NUL. */
void kl_time_human_duration(int64_t seconds, char *out, size_t cap);
/* Parses a Go duration ("1h30m", "1.5s", "-2m", "300ms", "0") as time.ParseDuration into
 * nanoseconds. Returns 0, or KL_ESYNTAX with Go's message in err ("time: invalid duration
 * \"x\"", "time: missing unit in duration ...", "time: unknown unit ..."). */
KL_NODISCARD int kl_time_parse_duration(const char *s, int64_t *ns, kl_errinfo_t *err);

/* Loads an IANA zone ("America/New_York", "UTC", "Etc/GMT+5"); "" or "Local" is the process's
 * local zone as Go's time.Local finds it ($TZ when set, else /etc/localtime, else UTC).
 * "UTC" needs no file. Names containing ".." or starting with '/' or '\' are refused as Go
 * does. Returns KL_ENOTFOUND with Go's message ("unknown time zone X", "time: invalid location
 * name", "malformed time zone information") for unknown, refused, unreadable or malformed zones;
 * KL_ENOMEM. Thread-safe (a mutex guards loading); *out is cached for the life of the process. */
KL_NODISCARD int kl_tz_load(const char *name, const kl_tz_t **out, kl_errinfo_t *err);
const kl_tz_t *kl_tz_utc(void);
/* The name the zone was loaded with ("UTC", "Local", "Europe/Berlin"). */
const char *kl_tz_name(const kl_tz_t *tz);
/* Offset from UTC in seconds (east positive) in effect at the UTC instant t. NULL tz is UTC. */
int32_t kl_tz_offset(const kl_tz_t *tz, int64_t t);

/* Broken-down civil time in a zone. */
typedef struct kl_civil {
    int year, month, day; /* month 1..12, day 1..31 */
    int hour, minute, second;
    int weekday;    /* 0 = Sunday */
    int32_t offset; /* seconds east of UTC */
} kl_civil_t;

void kl_tz_civil(const kl_tz_t *tz, int64_t t, kl_civil_t *out);
/* The UTC instant of a civil time in tz, normalising out-of-range fields as Go's time.Date
 * does (month 13 is January of the next year, minute 60 the next hour ...). For a civil time
 * that does not exist (spring-forward gap) or is ambiguous (fall-back), the result is the one
 * Go's time.Date gives: with L the civil time read as if it were UTC, L - off(L - off(L)),
 * where off(x) is the offset in effect at instant x. So in a gap, zones west of Greenwich get
 * the time before the transition (02:30 in New York's gap is 01:30 EST) and zones east of it
 * the time after (02:30 in Berlin's gap is 03:30 CEST); in a fall-back overlap New York gets
 * the first occurrence (EDT) and Berlin the second (CET). */
int64_t kl_tz_from_civil(const kl_tz_t *tz, int year, int month, int day, int hour, int minute,
                         int second);

#endif
