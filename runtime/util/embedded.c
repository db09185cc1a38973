#include "util/embedded.h"

#include <string.h>

const kl_embedded_file_t *kl_embedded_find(const char *path)
{
    for (const kl_embedded_file_t *f = kl_embedded_files; f->path != NULL; f++) {
        if (strcmp(f->path, path) == 0)
            return f;
    }
    return NULL;
}
