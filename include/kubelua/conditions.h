/* kubelua/conditions.h - status.conditions lookups shared by pods, nodes and workloads.
 * Uses object.h. Pure functions over documents; thread-safe. */
#ifndef KUBELUA_CONDITIONS_H
#define KUBELUA_CONDITIONS_H

#include "kubelua/object.h"

typedef enum kl_cond_status {
    KL_COND_ABSENT = 0,  /* no condition of that type */
    KL_COND_TRUE = 1,    /* status "True" */
    KL_COND_FALSE = 2,   /* status "False" */
    KL_COND_UNKNOWN = 3, /* status "Unknown", missing, or anything else */
} kl_cond_status_t;

/* The first element of obj.status.conditions whose "type" is type, or a missing value. obj is
 * a whole object (pod, node, job); a missing obj gives a missing value. */
kl_val_t kl_condition_find(kl_val_t obj, const char *type);
kl_cond_status_t kl_condition_status(kl_val_t obj, const char *type);

#endif
