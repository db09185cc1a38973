/* The lua_Alloc of every script: counts bytes per state against its ceiling.
 *
 * While the prelude loads (mem_armed false), and during host bookkeeping (mem_lift > 0), bytes
 * are counted but nothing is refused. Otherwise growth past mem_limit fails, which Lua turns
 * into LUA_ERRMEM for the invocation that asked. Shrinking never fails: Lua relies on that. */
#include <stdlib.h>

#include "script/script_int.h"

void *kl__script_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    kl_script_t *s = ud;

    /* With ptr == NULL, osize encodes the type of the object being created, not a size. */
    if (ptr == NULL)
        osize = 0;
    if (nsize == 0) {
        free(ptr);
        s->mem_used -= osize;
        return NULL;
    }
    if (nsize > osize && s->mem_armed && s->mem_lift == 0 &&
        s->mem_used + (nsize - osize) > s->mem_limit)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p == NULL)
        return nsize <= osize ? ptr : NULL;
    s->mem_used = s->mem_used - osize + nsize;
    if (s->mem_used > s->mem_peak)
        s->mem_peak = s->mem_used;
    return p;
}
