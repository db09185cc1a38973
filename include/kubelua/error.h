/* kubelua/error.h - error codes shared by every module.
 *
 * Every function that can fail returns 0 on success or a negative KL_E* code. The table below is
 * the only place codes are defined; numbers are never reused or renumbered. kl_strerror() and
 * kl_err_name() return static strings. Thread-safe.
 */
#ifndef KUBELUA_ERROR_H
#define KUBELUA_ERROR_H

#include <stddef.h>

#define KL_NODISCARD __attribute__((warn_unused_result))
#define KL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* X(name, number, message). */
#define KL_ERRNO_MAP(X)                                                                            \
    X(ENOMEM, 1, "out of memory")                                                                  \
    X(EINVAL, 2, "invalid argument")                                                               \
    X(ESYNTAX, 3, "syntax error")                                                                  \
    X(ETOOBIG, 4, "input exceeds a size limit")                                                    \
    X(ETOODEEP, 5, "input nested too deeply")                                                      \
    X(ENOTFOUND, 6, "not found")                                                                   \
    X(EEXIST, 7, "already exists")                                                                 \
    X(ECONFLICT, 8, "conflict")                                                                    \
    X(EIO, 9, "input/output error")                                                                \
    X(ETIMEDOUT, 10, "timed out")                                                                  \
    X(ECANCELED, 11, "canceled")                                                                   \
    X(ECLOSED, 12, "shut down")                                                                    \
    X(ETYPE, 13, "wrong type")                                                                     \
    X(EDUPKEY, 14, "duplicate key")                                                                \
    X(EBUDGET, 15, "script exceeded its time or instruction budget")                               \
    X(EMEMLIMIT, 16, "script exceeded its memory limit")                                           \
    X(ESCRIPT, 17, "script error")                                                                 \
    X(EUNAUTHORIZED, 18, "unauthorized")                                                           \
    X(EFORBIDDEN, 19, "forbidden")                                                                 \
    X(EGONE, 20, "resource version expired")                                                       \
    X(ETOOMANY, 21, "too many requests")                                                           \
    X(ESERVER, 22, "server error")                                                                 \
    X(EUNSUPPORTED, 23, "unsupported")                                                             \
    X(EINVALIDOBJ, 24, "invalid object")                                                           \
    X(EBADREQUEST, 25, "bad request")                                                              \
    X(EAGAIN, 26, "try again")                                                                     \
    X(EUTF8, 27, "invalid UTF-8")                                                                  \
    X(EYIELD, 28, "script yielded where it may not")                                               \
    X(ECONNECT, 29, "connection failed")                                                           \
    X(ETLS, 30, "TLS error")                                                                       \
    X(ECONFIG, 31, "bad configuration")                                                            \
    X(EMETHOD, 32, "method not allowed")                                                           \
    X(EMEDIATYPE, 33, "unsupported media type")                                                    \
    X(EBUSY, 34, "busy")

typedef enum kl_errno {
    KL_OK = 0,
#define KL_ERRNO_ENUM(name, num, msg) KL_##name = -(num),
    KL_ERRNO_MAP(KL_ERRNO_ENUM)
#undef KL_ERRNO_ENUM
} kl_errno_t;

/* Returns a human-readable message; unknown codes give "unknown error". */
const char *kl_strerror(int rc);
/* Returns the symbolic name, e.g. "KL_ENOTFOUND". */
const char *kl_err_name(int rc);

/* Details for errors a human must read: a message and, for parse errors, a position.
 * Embedded in the caller's stack frame; functions that take one fill it on failure only. */
typedef struct kl_errinfo {
    int code;      /* the KL_E* code also returned */
    int line;      /* 1-based, 0 when not applicable */
    int column;    /* 1-based, 0 when not applicable */
    char msg[512]; /* NUL-terminated, may be truncated */
} kl_errinfo_t;

/* Fills err (when not NULL) and returns code, so callers can write `return kl_err(...)`. */
int kl_err(kl_errinfo_t *err, int code, const char *fmt, ...) KL_PRINTF(3, 4);
int kl_err_at(kl_errinfo_t *err, int code, int line, int column, const char *fmt, ...)
    KL_PRINTF(5, 6);

#endif
