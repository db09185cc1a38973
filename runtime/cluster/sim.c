/* Simulated containers: their parameters from kubelua.io/ pod annotations (see proc.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelua/proc.h"

#define PREFIX "kubelua.io/"

typedef struct unit {
    const char *name;
    int64_t ns;
} unit_t;

static const unit_t units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000}, /* U+03BC greek mu */
    {"ms", 1000000},
    {"s", 1000000000},
    {"m", INT64_C(60) * 1000000000},
    {"h", INT64_C(3600) * 1000000000},
};

/* Go's time.ParseDuration for non-negative values, plus a bare number meaning seconds. */
int kl_sim_duration_parse(const char *s, int64_t *ms)
{
    if (s == NULL || *s == '\0')
        return KL_EINVAL;
    if (*s == '+')
        s++;
    const char *p = s;
    bool bare = true;
    for (const char *q = s; *q; q++) {
        if (!((*q >= '0' && *q <= '9') || *q == '.'))
            bare = false;
    }
    long double total = 0;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    while (*p) {
        long double v = 0, scale = 1;
        bool digits = false, frac = false;
        while ((*p >= '0' && *p <= '9') || (*p == '.' && !frac)) {
            if (*p == '.') {
                frac = true;
            } else {
                digits = true;
                if (frac) {
                    scale /= 10;
                    v += (*p - '0') * scale;
                } else {
                    v = v * 10 + (*p - '0');
                }
            }
            p++;
        }
        if (!digits)
            return KL_EINVAL;
        if (bare) {
            if (*p)
                return KL_EINVAL;
            total += v * 1e9L;
            break;
        }
        const unit_t *u = NULL;
        size_t ulen = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t n = strlen(units[i].name);
            /* Longest match: "ms" before "m". */
            if (strncmp(p, units[i].name, n) == 0 && n > ulen) {
                u = &units[i];
                ulen = n;
            }
        }
        if (u == NULL)
            return KL_EINVAL;
        p += ulen;
        total += v * (long double)u->ns;
    }
    if (total > (long double)INT64_MAX)
        return KL_EINVAL;
    *ms = (int64_t)(total / 1e6L);
    return 0;
}

/* The annotation for name: "<prefix><name>.<container>" first, then "<prefix><name>". */
static const char *lookup(kl_val_t ann, const char *name, const char *container, char *key,
                          size_t cap)
{
    if (container) {
        snprintf(key, cap, PREFIX "%s.%s", name, container);
        const char *v = kl_val_str(kl_val_get(ann, key), NULL);
        if (v)
            return v;
    }
    snprintf(key, cap, PREFIX "%s", name);
    return kl_val_str(kl_val_get(ann, key), NULL);
}

static int bad(kl_errinfo_t *err, int *rc, const char *key, const char *v)
{
    if (*rc == 0)
        *rc = kl_err(err, KL_EINVAL, "annotation %s: invalid value \"%s\"", key, v);
    return *rc;
}

static void duration(kl_val_t ann, const char *name, const char *container, bool forever,
                     int64_t *out, int *rc, kl_errinfo_t *err)
{
    char key[320];
    const char *v = lookup(ann, name, container, key, sizeof(key));
    if (v == NULL)
        return;
    if (forever && strcmp(v, "forever") == 0) {
        *out = KL_SIM_FOREVER;
        return;
    }
    int64_t ms;
    if (kl_sim_duration_parse(v, &ms) < 0)
        bad(err, rc, key, v);
    else
        *out = ms;
}

int kl_sim_params_parse(kl_val_t annotations, const char *container,
                        const kl_sim_params_t *defaults, kl_sim_params_t *out, kl_errinfo_t *err)
{
    if (defaults)
        *out = *defaults;
    else {
        memset(out, 0, sizeof(*out));
        out->run_duration_ms = KL_SIM_FOREVER;
    }
    int rc = 0;
    char key[320];
    const char *v = lookup(annotations, "mode", NULL, key, sizeof(key));
    if (v) {
        if (strcmp(v, "process") == 0)
            out->mode = KL_SIM_MODE_PROCESS;
        else if (strcmp(v, "simulated") == 0)
            out->mode = KL_SIM_MODE_SIMULATED;
        else
            bad(err, &rc, key, v);
    }
    duration(annotations, "start-delay", container, false, &out->start_delay_ms, &rc, err);
    duration(annotations, "run-duration", container, true, &out->run_duration_ms, &rc, err);
    duration(annotations, "ready-after", container, false, &out->ready_after_ms, &rc, err);
    duration(annotations, "stop-delay", container, false, &out->stop_delay_ms, &rc, err);
    v = lookup(annotations, "exit-code", container, key, sizeof(key));
    if (v) {
        char *end;
        long code = strtol(v, &end, 10);
        if (end == v || *end || code < 0 || code > 255)
            bad(err, &rc, key, v);
        else
            out->exit_code = (int)code;
    }
    v = lookup(annotations, "reason", container, key, sizeof(key));
    if (v) {
        if (*v)
            out->reason = v;
        else
            bad(err, &rc, key, v);
    }
    return rc;
}
