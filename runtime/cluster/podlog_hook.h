/* cluster/podlog_hook.h - serves container logs from the node agent's files through the
 * embedded API server: pods/log reads (kl_podlog_provider) and `kubectl logs -f` (followers on
 * the server's loop). */
#ifndef KL_CLUSTER_PODLOG_HOOK_H
#define KL_CLUSTER_PODLOG_HOOK_H

#include "apiserver/apiserver.h"

/* Installs both hooks before the server starts serving. data_dir must outlive the server. */
void kl_podlog_install(kl_apiserver_t *srv, const char *data_dir);

#endif
