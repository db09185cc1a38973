/* Time primitives: RFC 3339, HumanDuration, Go durations, the fake clock, and time zones read from
 * TZif files with Go's semantics. Expected offsets come from the tz database's published rules
 * (US: second Sunday of March / first Sunday of November at 02:00 local; EU: last Sunday of March
 * / October at 01:00 UTC); instants past 2037 exercise the TZif footer rule. */
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kubelua/ktime.h"

#include "unit/test_util.h"

/* Parses a UTC "YYYY-MM-DDTHH:MM:SSZ" the tests write for readability. */
static int64_t T(const char *s)
{
    int64_t sec;
    int32_t ns;
    if (kl_time_parse_rfc3339(s, &sec, &ns) != 0)
        fail_msg("bad test time %s", s);
    return sec;
}

static const kl_tz_t *zone(const char *name)
{
    const kl_tz_t *tz = NULL;
    kl_errinfo_t err;
    int rc = kl_tz_load(name, &tz, &err);
    if (rc != 0)
        fail_msg("loading %s: %s", name, err.msg);
    return tz;
}

/* ---- RFC 3339 ----------------------------------------------------------------------------------
 */

static void test_time_rfc3339_parse(void **state)
{
    static const struct {
        const char *in;
        int64_t sec;
        int32_t nsec;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0, 0},
        {"2024-05-14T09:21:37Z", 1715678497, 0},
        {"2024-05-14T09:21:37.5+02:00", 1715678497 - 7200, 500000000},
        {"2024-05-14T09:21:37.123456Z", 1715678497, 123456000},
        {"2024-05-14T09:21:37.123456789Z", 1715678497, 123456789},
        {"2024-05-14T09:21:37.1234567891234Z", 1715678497, 123456789}, /* extra digits dropped */
        {"2024-05-14T09:21:37,25Z", 1715678497, 250000000},            /* Go takes ',' too */
        {"2024-05-14T9:21:37Z", 1715678497, 0},                        /* general parser: 1 digit */
        {"2024-05-14T09:21:37-05:30", 1715678497 + 19800, 0},
        {"2024-05-14T09:21:37+24:00", 1715678497 - 86400, 0}, /* Go allows hour 24 */
        {"2024-02-29T23:59:59Z", 1709251199, 0},
        {"2000-02-29T00:00:00Z", 951782400, 0},
        {"1969-12-31T23:59:59Z", -1, 0},
        {"0000-01-01T00:00:00Z", -62167219200, 0},
        {"9999-12-31T23:59:59Z", 253402300799, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t sec = 42;
        int32_t ns = 42;
        int rc = kl_time_parse_rfc3339(cases[i].in, &sec, &ns);
        if (rc != 0)
            fail_msg("%s: rc %d", cases[i].in, rc);
        assert_int_equal(sec, cases[i].sec);
        assert_int_equal(ns, cases[i].nsec);
    }
    int64_t sec;
    assert_int_equal(kl_time_parse_rfc3339("2024-05-14T09:21:37Z", &sec, NULL), 0);
    assert_int_equal(sec, 1715678497);
}

static void test_time_rfc3339_reject(void **state)
{
    static const char *const bad[] = {
        "",
        "2024-05-14",
        "2024-05-14T09:21:37",       /* no zone */
        "2024-05-14t09:21:37Z",      /* lower-case t */
        "2024-05-14T09:21:37z",      /* lower-case z */
        "2024-05-14 09:21:37Z",      /* space instead of T */
        "2024-02-30T00:00:00Z",      /* no Feb 30 */
        "2023-02-29T00:00:00Z",      /* not a leap year */
        "1900-02-29T00:00:00Z",      /* century, not a leap year */
        "2024-04-31T00:00:00Z",      /* April has 30 days */
        "2024-13-01T00:00:00Z",      /* month 13 */
        "2024-00-01T00:00:00Z",      /* month 0 */
        "2024-05-00T00:00:00Z",      /* day 0 */
        "2024-05-14T24:00:00Z",      /* hour 24 */
        "2024-05-14T09:60:00Z",      /* minute 60 */
        "2024-05-14T09:21:60Z",      /* leap second */
        "2024-05-14T09:21:37.Z",     /* dot without digits */
        "2024-05-14T09:21:37+0200",  /* offset without colon */
        "2024-05-14T09:21:37+02",    /* short offset */
        "2024-05-14T09:21:37+25:00", /* offset hour 25 */
        "2024-05-14T09:21:37+02:61", /* offset minute 61 */
        "2024-05-14T09:21:37Z ",     /* trailing space */
        "2024-05-14T09:21:37ZZ",     /* trailing garbage */
        " 2024-05-14T09:21:37Z",     /* leading space */
        "24-05-14T09:21:37Z",        /* two-digit year */
        "+2024-05-14T09:21:37Z",     /* signed year */
        "2024-5-14T09:21:37Z",       /* one-digit month */
        "2024-05-14T09:1:37Z",       /* one-digit minute */
        "2024-05-14T123:21:37Z",     /* three-digit hour */
        "2024-05-14T",               /* truncated */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t sec = 7;
        int32_t ns = 7;
        if (kl_time_parse_rfc3339(bad[i], &sec, &ns) != KL_ESYNTAX)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(sec, 7); /* outputs untouched */
        assert_int_equal(ns, 7);
    }
}

static void test_time_rfc3339_format(void **state)
{
    char out[32];
    static const char *const round[] = {"1970-01-01T00:00:00Z", "2024-05-14T09:21:37Z",
                                        "2024-02-29T23:59:59Z", "1969-12-31T23:59:59Z",
                                        "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z"};
    for (size_t i = 0; i < sizeof(round) / sizeof(round[0]); i++) {
        kl_time_format_rfc3339(T(round[i]), out);
        assert_string_equal(out, round[i]);
    }
    /* Parsing an offset form and formatting gives the UTC form of the same instant. */
    kl_time_format_rfc3339(T("2024-05-14T09:21:37.9+02:00"), out);
    assert_string_equal(out, "2024-05-14T07:21:37Z");

    kl_time_format_rfc3339_micro(T("2024-05-14T09:21:37Z"), 123456, out);
    assert_string_equal(out, "2024-05-14T09:21:37.123456Z");
    kl_time_format_rfc3339_micro(0, 7, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000007Z");
    int64_t sec;
    int32_t ns;
    assert_int_equal(kl_time_parse_rfc3339("2024-05-14T09:21:37.000001Z", &sec, &ns), 0);
    kl_time_format_rfc3339_micro(sec, ns / 1000, out);
    assert_string_equal(out, "2024-05-14T09:21:37.000001Z");

    /* The CronJob scheduled-timestamp annotation: civil time in the zone with its offset. */
    kl_time_format_rfc3339_in(T("2024-07-01T00:00:00Z"), zone("Europe/Berlin"), out);
    assert_string_equal(out, "2024-07-01T02:00:00+02:00");
    kl_time_format_rfc3339_in(T("2024-01-01T01:00:00Z"), zone("Europe/Berlin"), out);
    assert_string_equal(out, "2024-01-01T02:00:00+01:00");
    kl_time_format_rfc3339_in(T("2024-03-10T07:00:00Z"), zone("America/New_York"), out);
    assert_string_equal(out, "2024-03-10T03:00:00-04:00");
    kl_time_format_rfc3339_in(T("2024-05-14T09:21:37Z"), zone("Asia/Kolkata"), out);
    assert_string_equal(out, "2024-05-14T14:51:37+05:30");
    kl_time_format_rfc3339_in(T("2024-01-01T00:00:00Z"), zone("Europe/London"), out);
    assert_string_equal(out, "2024-01-01T00:00:00Z"); /* offset 0 prints Z, as Go does */
    kl_time_format_rfc3339_in(T("2024-05-14T09:21:37Z"), NULL, out);
    assert_string_equal(out, "2024-05-14T09:21:37Z");
    /* A pre-1883 local mean time offset (-4:56:02) prints whole minutes, as Go does. */
    kl_time_format_rfc3339_in(T("1800-01-01T12:00:00Z"), zone("America/New_York"), out);
    assert_string_equal(out, "1800-01-01T07:03:58-04:56");
}

/* ---- HumanDuration and Go durations -------------------------------------------------------- */

static void test_time_human_duration(void **state)
{
    static const struct {
        int64_t s;
        const char *want;
    } cases[] = {
        {-100, "<invalid>"},
        {-2, "<invalid>"},
        {-1, "0s"}, /* one second of clock skew is "now" */
        {0, "0s"},
        {59, "59s"},
        {119, "119s"}, /* seconds up to two minutes */
        {120, "2m"},
        {330, "5m30s"},
        {599, "9m59s"},
        {600, "10m"},
        {601, "10m"},
        {10799, "179m"}, /* minutes up to three hours */
        {10800, "3h"},
        {11040, "3h4m"},
        {28799, "7h59m"},
        {28800, "8h"},
        {172799, "47h"},
        {172800, "2d"},
        {183600, "2d3h"},
        {691199, "7d23h"},
        {691200, "8d"},
        {400 * 86400, "400d"},
        {729 * 86400 + 86399, "729d"},
        {730 * 86400, "2y"},
        {(3 * 365 + 45) * 86400LL, "3y45d"},
        {(8 * 365 - 1) * 86400LL, "7y364d"},
        {8 * 365 * 86400LL, "8y"},
        {(10 * 365 + 300) * 86400LL, "10y"},
    };
    char out[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kl_time_human_duration(cases[i].s, out, sizeof(out));
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%lld: got %s want %s", (long long)cases[i].s, out, cases[i].want);
    }
    kl_time_human_duration(330, out, 3); /* truncated, still terminated */
    assert_string_equal(out, "5m");
}

static void test_time_parse_duration(void **state)
{
    static const struct {
        const char *in;
        int64_t ns;
    } ok[] = {
        {"0", 0},
        {"-0", 0},
        {"1h30m", 5400000000000LL},
        {"1.5s", 1500000000},
        {".5s", 500000000},
        {"5.s", 5000000000LL},
        {"-2m", -120000000000LL},
        {"+5s", 5000000000LL},
        {"300ms", 300000000},
        {"1\xc2\xb5s", 1000}, /* micro sign */
        {"1\xce\xbcs", 1000}, /* Greek mu */
        {"1us", 1000},
        {"1h1m1s1ms1us1ns", 3661001001001LL},
        {"1.000000001s", 1000000001},
        {"0.5h", 1800000000000LL},
        {"9223372036854775807ns", INT64_MAX},
        {"-9223372036854775808ns", INT64_MIN},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t ns = 1;
        kl_errinfo_t err;
        if (kl_time_parse_duration(ok[i].in, &ns, &err) != 0)
            fail_msg("%s: %s", ok[i].in, err.msg);
        assert_int_equal(ns, ok[i].ns);
    }
    static const struct {
        const char *in;
        const char *msg;
    } bad[] = {
        {"", "time: invalid duration \"\""},
        {"-", "time: invalid duration \"-\""},
        {"5", "time: missing unit in duration \"5\""},
        {"1h5", "time: missing unit in duration \"1h5\""},
        {".s", "time: invalid duration \".s\""},
        {"s", "time: invalid duration \"s\""},
        {"1d", "time: unknown unit \"d\" in duration \"1d\""},
        {"5 m", "time: unknown unit \" m\" in duration \"5 m\""},
        {"1\xff", "time: unknown unit \"\\xff\" in duration \"1\\xff\""},
        {"9223372036854775808ns", "time: invalid duration \"9223372036854775808ns\""},
        {"3000000h", "time: invalid duration \"3000000h\""},
        {"99999999999999999999s", "time: invalid duration \"99999999999999999999s\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ns = 1;
        kl_errinfo_t err;
        assert_int_equal(kl_time_parse_duration(bad[i].in, &ns, &err), KL_ESYNTAX);
        assert_string_equal(err.msg, bad[i].msg);
        assert_int_equal(ns, 1);
    }
}

static void test_time_fake_clock(void **state)
{
    int64_t real = kl_time_now();
    assert_true(real > 1700000000);
    kl_time_set_fake_now_ms(1715678497123);
    assert_int_equal(kl_time_now_ms(), 1715678497123);
    assert_int_equal(kl_time_now(), 1715678497);
    kl_time_set_fake_now_ms(0);
    assert_true(kl_time_now() >= real);
}

/* ---- zones ------------------------------------------------------------------------------------
 */

static void test_time_tz_offsets(void **state)
{
    static const struct {
        const char *zone;
        const char *at;
        int32_t off;
    } cases[] = {
        {"UTC", "2024-07-01T00:00:00Z", 0},
        {"Etc/UTC", "2024-07-01T00:00:00Z", 0},
        {"Etc/GMT+5", "2024-07-01T00:00:00Z", -18000}, /* POSIX sign: GMT+5 is UTC-5 */
        {"Asia/Kolkata", "2024-07-01T00:00:00Z", 19800},
        {"Asia/Tokyo", "2024-07-01T00:00:00Z", 32400},
        /* New York: 2024-03-10 02:00 EST -> 03:00 EDT at 07:00Z; 2024-11-03 02:00 EDT -> 01:00 EST
         * at 06:00Z. */
        {"America/New_York", "2024-01-15T12:00:00Z", -18000},
        {"America/New_York", "2024-03-10T06:59:59Z", -18000},
        {"America/New_York", "2024-03-10T07:00:00Z", -14400},
        {"America/New_York", "2024-11-03T05:59:59Z", -14400},
        {"America/New_York", "2024-11-03T06:00:00Z", -18000},
        /* Past the 2037 end of the table: the footer EST5EDT,M3.2.0,M11.1.0. March 2040's second
         * Sunday is the 11th. */
        {"America/New_York", "2040-03-11T06:59:59Z", -18000},
        {"America/New_York", "2040-03-11T07:00:00Z", -14400},
        {"America/New_York", "2040-11-04T05:59:59Z", -14400},
        {"America/New_York", "2040-11-04T06:00:00Z", -18000},
        {"America/New_York", "2200-07-01T00:00:00Z", -14400},
        /* Before the first transition (1883-11-18 17:00Z): local mean time -4:56:02. */
        {"America/New_York", "1883-11-18T16:59:59Z", -17762},
        {"America/New_York", "1883-11-18T17:00:00Z", -18000},
        /* Berlin: last Sundays of March and October at 01:00Z. */
        {"Europe/Berlin", "2024-03-31T00:59:59Z", 3600},
        {"Europe/Berlin", "2024-03-31T01:00:00Z", 7200},
        {"Europe/Berlin", "2024-10-27T00:59:59Z", 7200},
        {"Europe/Berlin", "2024-10-27T01:00:00Z", 3600},
        {"Europe/Berlin", "2050-03-27T00:59:59Z", 3600}, /* footer: March 27 2050 is Sunday */
        {"Europe/Berlin", "2050-03-27T01:00:00Z", 7200},
        /* Southern hemisphere with a half-hour DST shift (Lord Howe +10:30 / +11). */
        {"Australia/Lord_Howe", "2024-01-15T00:00:00Z", 39600},
        {"Australia/Lord_Howe", "2024-07-15T00:00:00Z", 37800},
        {"Australia/Sydney", "2045-01-15T00:00:00Z", 39600},
        {"Australia/Sydney", "2045-07-15T00:00:00Z", 36000},
        /* Dublin's "negative DST" (IST is standard, GMT the winter rule) still gives these. */
        {"Europe/Dublin", "2024-01-15T00:00:00Z", 0},
        {"Europe/Dublin", "2024-07-15T00:00:00Z", 3600},
        {"Europe/Dublin", "2045-07-15T00:00:00Z", 3600},
        /* Samoa skipped 2011-12-30 (-10 -> +14). */
        {"Pacific/Apia", "2011-12-30T09:59:59Z", -36000},
        {"Pacific/Apia", "2011-12-30T10:00:00Z", 50400},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int32_t off = kl_tz_offset(zone(cases[i].zone), T(cases[i].at));
        if (off != cases[i].off)
            fail_msg("%s at %s: got %d want %d", cases[i].zone, cases[i].at, off, cases[i].off);
    }
    assert_int_equal(kl_tz_offset(NULL, 12345), 0);
    assert_int_equal(kl_tz_offset(kl_tz_utc(), T("2024-07-01T00:00:00Z")), 0);
}

static void test_time_tz_civil(void **state)
{
    kl_civil_t c;
    kl_tz_civil(zone("Europe/Berlin"), T("2024-03-31T01:00:00Z"), &c);
    assert_int_equal(c.year, 2024);
    assert_int_equal(c.month, 3);
    assert_int_equal(c.day, 31);
    assert_int_equal(c.hour, 3);
    assert_int_equal(c.minute, 0);
    assert_int_equal(c.weekday, 0); /* Sunday */
    assert_int_equal(c.offset, 7200);

    kl_tz_civil(zone("America/New_York"), T("2024-01-01T03:04:05Z"), &c);
    assert_int_equal(c.year, 2023);
    assert_int_equal(c.month, 12);
    assert_int_equal(c.day, 31);
    assert_int_equal(c.hour, 22);
    assert_int_equal(c.minute, 4);
    assert_int_equal(c.second, 5);
    assert_int_equal(c.weekday, 0);

    kl_tz_civil(NULL, T("2024-02-29T12:00:00Z"), &c);
    assert_int_equal(c.month, 2);
    assert_int_equal(c.day, 29);
    assert_int_equal(c.weekday, 4); /* Thursday */
    kl_tz_civil(NULL, -1, &c);
    assert_int_equal(c.year, 1969);
    assert_int_equal(c.second, 59);
    assert_int_equal(c.weekday, 3); /* 1969-12-31 was a Wednesday */
}

static void test_time_tz_from_civil(void **state)
{
    const kl_tz_t *ny = zone("America/New_York"), *be = zone("Europe/Berlin");
    /* Ordinary times. */
    assert_int_equal(kl_tz_from_civil(ny, 2024, 7, 1, 12, 0, 0), T("2024-07-01T16:00:00Z"));
    assert_int_equal(kl_tz_from_civil(be, 2024, 1, 1, 0, 0, 0), T("2023-12-31T23:00:00Z"));
    /* Gaps, as Go's time.Date answers: 02:30 does not exist. New York: 02:30 read as UTC is
     * before the transition (-5h), 02:30+5h is after it, so the offset used is -4h: 06:30Z, which
     * is 01:30 EST. Berlin: 02:30 read as UTC is after 01:00Z (+2h), 02:30-2h = 00:30Z is before
     * it, so +1h is used: 01:30Z, which is 03:30 CEST. */
    assert_int_equal(kl_tz_from_civil(ny, 2024, 3, 10, 2, 30, 0), T("2024-03-10T06:30:00Z"));
    assert_int_equal(kl_tz_from_civil(be, 2024, 3, 31, 2, 30, 0), T("2024-03-31T01:30:00Z"));
    /* Overlaps: New York's 01:30 on 2024-11-03 is the first one (EDT, 05:30Z); Berlin's 02:30 on
     * 2024-10-27 the second one (CET, 01:30Z). */
    assert_int_equal(kl_tz_from_civil(ny, 2024, 11, 3, 1, 30, 0), T("2024-11-03T05:30:00Z"));
    assert_int_equal(kl_tz_from_civil(be, 2024, 10, 27, 2, 30, 0), T("2024-10-27T01:30:00Z"));
    /* Normalisation like time.Date: month 13, day 0, minute 60, negative seconds. */
    assert_int_equal(kl_tz_from_civil(NULL, 2023, 13, 1, 0, 0, 0), T("2024-01-01T00:00:00Z"));
    assert_int_equal(kl_tz_from_civil(NULL, 2024, 3, 0, 0, 0, 0), T("2024-02-29T00:00:00Z"));
    assert_int_equal(kl_tz_from_civil(NULL, 2024, 1, 1, 23, 60, 0), T("2024-01-02T00:00:00Z"));
    assert_int_equal(kl_tz_from_civil(NULL, 2024, 1, 1, 0, 0, -1), T("2023-12-31T23:59:59Z"));
    assert_int_equal(kl_tz_from_civil(NULL, 2024, 0, 1, 0, 0, 0), T("2023-12-01T00:00:00Z"));
    assert_int_equal(kl_tz_from_civil(NULL, 2024, -11, 1, 0, 0, 0), T("2023-01-01T00:00:00Z"));
    assert_int_equal(kl_tz_from_civil(NULL, 2024, 2, 30, 0, 0, 0), T("2024-03-01T00:00:00Z"));
}

static void test_time_tz_errors(void **state)
{
    const kl_tz_t *tz = (const kl_tz_t *)&tz;
    kl_errinfo_t err;
    assert_int_equal(kl_tz_load("Mars/Olympus_Mons", &tz, &err), KL_ENOTFOUND);
    assert_string_equal(err.msg, "unknown time zone Mars/Olympus_Mons");
    assert_int_equal(err.code, KL_ENOTFOUND);
    assert_ptr_equal(tz, (const kl_tz_t *)&tz);                       /* untouched */
    assert_int_equal(kl_tz_load("America", &tz, &err), KL_ENOTFOUND); /* a directory */
    assert_string_equal(err.msg, "unknown time zone America");
    assert_int_equal(kl_tz_load("../../etc/passwd", &tz, &err), KL_ENOTFOUND);
    assert_string_equal(err.msg, "time: invalid location name");
    assert_int_equal(kl_tz_load("/etc/localtime", &tz, &err), KL_ENOTFOUND);
    assert_string_equal(err.msg, "time: invalid location name");
    assert_int_equal(kl_tz_load("\\x", &tz, &err), KL_ENOTFOUND);
    assert_int_equal(kl_tz_load("zone.tab", &tz, &err), KL_ENOTFOUND); /* not TZif */
    assert_string_equal(err.msg, "malformed time zone information");
    assert_int_equal(kl_tz_load("america/new_york", &tz, &err), KL_ENOTFOUND);
    char longname[400];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(kl_tz_load(longname, &tz, &err), KL_ENOTFOUND);
}

static void test_time_tz_cache(void **state)
{
    const kl_tz_t *a = zone("Europe/Berlin"), *b = zone("Europe/Berlin");
    assert_ptr_equal(a, b);
    assert_string_equal(kl_tz_name(a), "Europe/Berlin");
    assert_ptr_equal(zone("UTC"), kl_tz_utc());
    assert_string_equal(kl_tz_name(kl_tz_utc()), "UTC");
    assert_string_equal(kl_tz_name(NULL), "UTC");
    const kl_tz_t *l1 = zone(""), *l2 = zone("Local");
    assert_ptr_equal(l1, l2);
    assert_string_equal(kl_tz_name(l1), "Local");
}

#define NTHREADS 4
static const char *const thread_zones[] = {"Asia/Tokyo", "America/Chicago", "Europe/Paris",
                                           "Australia/Perth", "America/Los_Angeles"};

static void *load_many(void *arg)
{
    const kl_tz_t **seen = arg;
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < 5; i++) {
            const kl_tz_t *tz;
            if (kl_tz_load(thread_zones[i], &tz, NULL) != 0)
                return NULL;
            seen[i] = tz;
            (void)kl_tz_offset(tz, 1715678497 + round);
        }
    }
    return arg;
}

static void test_time_tz_threads(void **state)
{
    pthread_t th[NTHREADS];
    const kl_tz_t *seen[NTHREADS][5];
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, load_many, seen[i]), 0);
    for (int i = 0; i < NTHREADS; i++) {
        void *ret;
        assert_int_equal(pthread_join(th[i], &ret), 0);
        assert_non_null(ret);
    }
    for (int i = 1; i < NTHREADS; i++)
        for (int z = 0; z < 5; z++)
            assert_ptr_equal(seen[i][z], seen[0][z]); /* one cached zone per name */
    assert_int_equal(kl_tz_offset(seen[0][0], 0), 32400);
}

/* $ZONEINFO is searched first; a v1-only file (32-bit table, no footer) loads too. */
static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void test_time_tz_zoneinfo_env(void **state)
{
    char dir[] = "/tmp/kl_tz_testXXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[256], path[300];
    snprintf(sub, sizeof(sub), "%s/Kubelua", dir);
    assert_int_equal(mkdir(sub, 0700), 0);

    /* A v1 file: types 0 = +01:00 standard, 1 = +03:00 DST; one transition at 1000000000 to
     * type 1. Before it Go uses type 0 (the first type, unused by transitions). */
    unsigned char f[128];
    memset(f, 0, sizeof(f));
    memcpy(f, "TZif", 4);
    size_t o = 20;
    uint32_t counts[6] = {0, 0, 0, 1, 2, 4}; /* isut, isstd, leap, time, type, char */
    for (int i = 0; i < 6; i++, o += 4)
        put_be32(f + o, counts[i]);
    put_be32(f + o, 1000000000), o += 4;
    f[o++] = 1;
    put_be32(f + o, 3600), o += 4;
    f[o++] = 0, f[o++] = 0;
    put_be32(f + o, 10800), o += 4;
    f[o++] = 1, f[o++] = 0;
    memcpy(f + o, "AB\0\0", 4), o += 4;
    snprintf(path, sizeof(path), "%s/V1", sub);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(f, 1, o, fp), o);
    fclose(fp);

    snprintf(path, sizeof(path), "%s/Bad", sub);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs("TZif9 garbage", fp);
    fclose(fp);

    setenv("ZONEINFO", dir, 1);
    const kl_tz_t *tz;
    kl_errinfo_t err;
    assert_int_equal(kl_tz_load("Kubelua/V1", &tz, &err), 0);
    assert_int_equal(kl_tz_offset(tz, 999999999), 3600);
    assert_int_equal(kl_tz_offset(tz, 1000000000), 10800);
    assert_int_equal(kl_tz_offset(tz, 4000000000LL), 10800);
    assert_int_equal(kl_tz_load("Kubelua/Bad", &tz, &err), KL_ENOTFOUND);
    assert_string_equal(err.msg, "malformed time zone information");
    assert_int_equal(kl_tz_load("Asia/Tokyo", &tz, &err), 0); /* falls back to the system */
    unsetenv("ZONEINFO");

    snprintf(path, sizeof(path), "%s/V1", sub);
    unlink(path);
    snprintf(path, sizeof(path), "%s/Bad", sub);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_rfc3339_parse),   cmocka_unit_test(test_time_rfc3339_reject),
        cmocka_unit_test(test_time_rfc3339_format),  cmocka_unit_test(test_time_human_duration),
        cmocka_unit_test(test_time_parse_duration),  cmocka_unit_test(test_time_fake_clock),
        cmocka_unit_test(test_time_tz_offsets),      cmocka_unit_test(test_time_tz_civil),
        cmocka_unit_test(test_time_tz_from_civil),   cmocka_unit_test(test_time_tz_errors),
        cmocka_unit_test(test_time_tz_cache),        cmocka_unit_test(test_time_tz_threads),
        cmocka_unit_test(test_time_tz_zoneinfo_env),
    };
    return cmocka_run_group_tests_name("primitives_time", tests, NULL, NULL);
}
