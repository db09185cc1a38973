#include "kubelua/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kl_buf_init(kl_buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : KL_BUF_DEFAULT_MAX;
}

void kl_buf_cleanup(kl_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void kl_buf_reset(kl_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *kl_buf_reserve(kl_buf_t *b, size_t n, int *rc)
{
    if (n > b->max || b->len > b->max - n) {
        if (rc)
            *rc = KL_ETOOBIG;
        return NULL;
    }
    size_t need = b->len + n + 1;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL) {
            if (rc)
                *rc = KL_ENOMEM;
            return NULL;
        }
        b->data = p;
        b->cap = cap;
    }
    return b->data + b->len;
}

void kl_buf_commit(kl_buf_t *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

int kl_buf_append(kl_buf_t *b, const void *p, size_t n)
{
    int rc = 0;
    char *dst = kl_buf_reserve(b, n, &rc);
    if (dst == NULL)
        return rc;
    if (n)
        memcpy(dst, p, n);
    kl_buf_commit(b, n);
    return 0;
}

int kl_buf_puts(kl_buf_t *b, const char *s)
{
    return kl_buf_append(b, s, strlen(s));
}

int kl_buf_putc(kl_buf_t *b, char c)
{
    return kl_buf_append(b, &c, 1);
}

int kl_buf_vprintf(kl_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return KL_EINVAL;
    int rc = 0;
    char *dst = kl_buf_reserve(b, (size_t)n, &rc);
    if (dst == NULL)
        return rc;
    vsnprintf(dst, (size_t)n + 1, fmt, ap);
    kl_buf_commit(b, (size_t)n);
    return 0;
}

int kl_buf_printf(kl_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = kl_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *kl_buf_take(kl_buf_t *b, size_t *len)
{
    char *p = b->data;
    if (p == NULL) {
        p = malloc(1);
        if (p == NULL)
            return NULL;
        p[0] = '\0';
    }
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
