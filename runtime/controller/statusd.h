/* controller/statusd.h - a tiny HTTP/1.1 server for /metrics, /healthz and /readyz.
 *
 * Plain HTTP on a libuv loop, one request per connection (answers carry Connection: close),
 * GET and HEAD only. Requests are read up to a 8 KiB ceiling and must arrive within 10 s;
 * at most 64 connections are open at once (more are closed at once). The handler fills in
 * the status code, content type and body for a path; it runs on the loop thread.
 */
#ifndef KL_CONTROLLER_STATUSD_H
#define KL_CONTROLLER_STATUSD_H

#include <uv.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"

typedef struct kl_statusd kl_statusd_t;

/* path is the request target without the query string. Return the HTTP status code; write
 * the body to body and point *content_type at a static string. */
typedef int (*kl_statusd_handler)(const char *path, kl_buf_t *body, const char **content_type,
                                  void *ud);

/* listen is "HOST:PORT" (port 0 picks a free one; ":PORT" means all interfaces). */
KL_NODISCARD int kl_statusd_start(uv_loop_t *loop, const char *listen, kl_statusd_handler handler,
                                  void *ud, kl_statusd_t **out, kl_errinfo_t *err);
/* The address actually bound, "127.0.0.1:40123". */
const char *kl_statusd_address(const kl_statusd_t *s);
/* Closes the listener and every connection; memory goes once the loop has run. */
void kl_statusd_free(kl_statusd_t *s);

#endif
