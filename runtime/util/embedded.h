/* util/embedded.h - files compiled into the binary (lua/, policies/ and the API server schemas).
 * The table is generated at build time by cmake/EmbedLuaGen.cmake and ends with a NULL path.
 * Bytes are static, NUL-terminated, and live for the whole process. */
#ifndef KL_UTIL_EMBEDDED_H
#define KL_UTIL_EMBEDDED_H

#include <stddef.h>

typedef struct kl_embedded_file {
    const char *path; /* relative to the source tree, e.g. "lua/kube/util.lua" */
    const char *data;
    size_t len;
} kl_embedded_file_t;

extern const kl_embedded_file_t kl_embedded_files[];

/* Returns the embedded file with that path, or NULL. */
const kl_embedded_file_t *kl_embedded_find(const char *path);

#endif
