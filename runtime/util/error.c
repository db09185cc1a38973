#include "kubelua/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *kl_strerror(int rc)
{
    switch (rc) {
    case KL_OK:
        return "success";
#define KL_ERRNO_MSG(name, num, msg)                                                               \
    case -(num):                                                                                   \
        return msg;
        KL_ERRNO_MAP(KL_ERRNO_MSG)
#undef KL_ERRNO_MSG
    }
    return "unknown error";
}

const char *kl_err_name(int rc)
{
    switch (rc) {
    case KL_OK:
        return "KL_OK";
#define KL_ERRNO_NAME(name, num, msg)                                                              \
    case -(num):                                                                                   \
        return "KL_" #name;
        KL_ERRNO_MAP(KL_ERRNO_NAME)
#undef KL_ERRNO_NAME
    }
    return "KL_UNKNOWN";
}

static int vfill(kl_errinfo_t *err, int code, int line, int column, const char *fmt, va_list ap)
{
    if (err == NULL)
        return code;
    err->code = code;
    err->line = line;
    err->column = column;
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    return code;
}

int kl_err(kl_errinfo_t *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfill(err, code, 0, 0, fmt, ap);
    va_end(ap);
    return code;
}

int kl_err_at(kl_errinfo_t *err, int code, int line, int column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfill(err, code, line, column, fmt, ap);
    va_end(ap);
    return code;
}
