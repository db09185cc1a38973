#include "kubelua/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static _Atomic int log_level = KL_LOG_INFO;
static _Atomic int log_format = KL_LOG_FORMAT_TEXT;
static FILE *log_sink;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

void kl_log_set_level(kl_log_level_t level)
{
    atomic_store(&log_level, (int)level);
}

kl_log_level_t kl_log_get_level(void)
{
    return (kl_log_level_t)atomic_load(&log_level);
}

void kl_log_set_format(kl_log_format_t format)
{
    atomic_store(&log_format, (int)format);
}

void kl_log_set_sink(FILE *f)
{
    pthread_mutex_lock(&log_lock);
    log_sink = f;
    pthread_mutex_unlock(&log_lock);
}

bool kl_log_enabled(kl_log_level_t level)
{
    return (int)level <= atomic_load(&log_level);
}

int kl_log_level_parse(const char *s)
{
    for (int i = 0; i <= KL_LOG_TRACE; i++) {
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    }
    if (strcasecmp(s, "warning") == 0)
        return KL_LOG_WARN;
    if (s[0] >= '0' && s[0] <= '9' && s[1] == '\0')
        return s[0] - '0' > KL_LOG_TRACE ? KL_LOG_TRACE : s[0] - '0';
    return -1;
}

/* Appends s to dst as JSON string contents; returns the new length (bounded by cap). */
static size_t json_escape(char *dst, size_t len, size_t cap, const char *s)
{
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            dst[len++] = '\\';
            dst[len++] = (char)c;
        } else if (c < 0x20) {
            len += (size_t)snprintf(dst + len, cap - len, "\\u%04x", c);
        } else {
            dst[len++] = (char)c;
        }
    }
    return len;
}

void kl_logv(kl_log_level_t level, const char *component, const char *fmt, va_list ap)
{
    if (!kl_log_enabled(level))
        return;
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    char line[4096];
    size_t len;
    if (atomic_load(&log_format) == KL_LOG_FORMAT_JSON) {
        len =
            (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"",
                             when, level_names[level]);
        len = json_escape(line, len, sizeof(line) - 16, component ? component : "");
        len += (size_t)snprintf(line + len, sizeof(line) - len, "\",\"msg\":\"");
        len = json_escape(line, len, sizeof(line) - 8, msg);
        len += (size_t)snprintf(line + len, sizeof(line) - len, "\"}\n");
    } else {
        int n = snprintf(line, sizeof(line), "%s %-5s %s: %s\n", when, level_names[level],
                         component ? component : "-", msg);
        len = n < 0 ? 0 : (size_t)n;
        if (len >= sizeof(line)) {
            len = sizeof(line) - 1;
            line[len - 1] = '\n';
        }
    }
    pthread_mutex_lock(&log_lock);
    FILE *f = log_sink ? log_sink : stderr;
    fwrite(line, 1, len, f);
    fflush(f);
    pthread_mutex_unlock(&log_lock);
}

void kl_log(kl_log_level_t level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kl_logv(level, component, fmt, ap);
    va_end(ap);
}
