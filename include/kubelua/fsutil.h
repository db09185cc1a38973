/* kubelua/fsutil.h - small file helpers: whole-file reads with a ceiling, atomic writes,
 * recursive mkdir. Thread-safe (no shared state). */
#ifndef KUBELUA_FSUTIL_H
#define KUBELUA_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "kubelua/error.h"

/* Reads a whole file into a malloc'ed NUL-terminated buffer (caller frees). Fails with
 * KL_ENOTFOUND, KL_ETOOBIG (larger than max bytes), KL_EIO or KL_ENOMEM; err names the path. */
KL_NODISCARD int kl_file_read(const char *path, size_t max, char **out, size_t *len,
                              kl_errinfo_t *err);
/* Writes data to path atomically (temporary file, fsync, rename) with the given mode. */
KL_NODISCARD int kl_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                      kl_errinfo_t *err);
/* mkdir -p with mode for the directories it creates. */
KL_NODISCARD int kl_mkdir_p(const char *path, mode_t mode, kl_errinfo_t *err);
/* Joins two path parts into a malloc'ed string ("a" + "b" -> "a/b"), or NULL. */
char *kl_path_join(const char *a, const char *b);

#endif
