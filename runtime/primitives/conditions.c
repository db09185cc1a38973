/* status.conditions lookups. */
#include "kubelua/conditions.h"

#include <string.h>

kl_val_t kl_condition_find(kl_val_t obj, const char *type)
{
    kl_val_t conds = kl_val_path(obj, "status", "conditions", NULL);
    uint32_t n = kl_val_type(conds) == KL_TARRAY ? kl_val_len(conds) : 0;
    for (uint32_t i = 0; i < n; i++) {
        kl_val_t c = kl_val_at(conds, i);
        const char *t = kl_val_str(kl_val_get(c, "type"), NULL);
        if (t != NULL && strcmp(t, type) == 0)
            return c;
    }
    return (kl_val_t){0};
}

kl_cond_status_t kl_condition_status(kl_val_t obj, const char *type)
{
    kl_val_t c = kl_condition_find(obj, type);
    if (kl_val_missing(c))
        return KL_COND_ABSENT;
    const char *s = kl_val_str(kl_val_get(c, "status"), NULL);
    if (s != NULL && strcmp(s, "True") == 0)
        return KL_COND_TRUE;
    if (s != NULL && strcmp(s, "False") == 0)
        return KL_COND_FALSE;
    return KL_COND_UNKNOWN;
}
