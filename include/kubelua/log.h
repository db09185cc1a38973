/* kubelua/log.h - the one log sink.
 *
 * Lines go to stderr (or the FILE set with kl_log_set_sink) as text
 *   2026-11-25T12:00:00.123Z INFO  informer: relist resource=v1/pods rv=42
 * or, with KL_LOG_FORMAT_JSON, one JSON object per line. Callers put key=value fields in the
 * message. Any thread may log; a line is written with a single write. Never log secrets.
 */
#ifndef KUBELUA_LOG_H
#define KUBELUA_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "kubelua/error.h"

typedef enum kl_log_level {
    KL_LOG_ERROR = 0,
    KL_LOG_WARN = 1,
    KL_LOG_INFO = 2,
    KL_LOG_DEBUG = 3,
    KL_LOG_TRACE = 4,
} kl_log_level_t;

typedef enum kl_log_format {
    KL_LOG_FORMAT_TEXT = 0,
    KL_LOG_FORMAT_JSON = 1,
} kl_log_format_t;

void kl_log_set_level(kl_log_level_t level);
kl_log_level_t kl_log_get_level(void);
void kl_log_set_format(kl_log_format_t format);
/* NULL restores stderr. The FILE stays owned by the caller. */
void kl_log_set_sink(FILE *f);
bool kl_log_enabled(kl_log_level_t level);
/* Parses "error", "warn", "info", "debug", "trace" (or 0..4); returns -1 when unknown. */
int kl_log_level_parse(const char *s);

void kl_log(kl_log_level_t level, const char *component, const char *fmt, ...) KL_PRINTF(3, 4);
void kl_logv(kl_log_level_t level, const char *component, const char *fmt, va_list ap);

#define KL_ERROR(comp, ...) kl_log(KL_LOG_ERROR, comp, __VA_ARGS__)
#define KL_WARN(comp, ...) kl_log(KL_LOG_WARN, comp, __VA_ARGS__)
#define KL_INFO(comp, ...) kl_log(KL_LOG_INFO, comp, __VA_ARGS__)
#define KL_DEBUG(comp, ...)                                                                        \
    do {                                                                                           \
        if (kl_log_enabled(KL_LOG_DEBUG))                                                          \
            kl_log(KL_LOG_DEBUG, comp, __VA_ARGS__);                                               \
    } while (0)
#define KL_TRACE(comp, ...)                                                                        \
    do {                                                                                           \
        if (kl_log_enabled(KL_LOG_TRACE))                                                          \
            kl_log(KL_LOG_TRACE, comp, __VA_ARGS__);                                               \
    } while (0)

#endif
