/* kubelua/kubeconfig.h - where a cluster is and how to authenticate to it.
 *
 * Resolves a kl_restconfig_t (server URL, TLS trust, client credentials) the way kubectl does:
 *   1. opts.kubeconfig (--kubeconfig): exactly that file, which must exist;
 *   2. otherwise $KUBECONFIG: a ':'-separated list of files merged as kubectl merges them
 *      (missing files are skipped; for every cluster, user and context name the first file that
 *      defines it wins; current-context comes from the first file that sets one);
 *   3. otherwise ~/.kube/config when it exists;
 *   4. otherwise the in-cluster configuration (service-account token and CA under
 *      /var/run/secrets/kubernetes.io/serviceaccount, KUBERNETES_SERVICE_HOST/PORT).
 * The context is opts.context (--context) or current-context. Relative paths in a file
 * (certificate-authority, client-certificate, client-key, tokenFile, exec command) are relative
 * to the directory of the file that holds them, as in kubectl. Referenced files are read while
 * loading, so a missing CA or key is reported at once. Errors name the file and the field, e.g.
 *   /home/u/.kube/config: users["dev"].user.client-key-data: invalid base64
 *
 * Supported: server, certificate-authority(-data), insecure-skip-tls-verify, tls-server-name,
 * client-certificate(-data), client-key(-data), token, tokenFile, username/password, exec
 * credential plugins (client.authentication.k8s.io v1 and v1beta1; run by the client, see
 * client.h), and the context's namespace. auth-provider plugins are rejected with KL_ECONFIG.
 *
 * Loading reads files (blocking, small): call it before starting the loop or accept a short
 * stall. Everything in a kl_restconfig_t is owned by it; free with kl_restconfig_free().
 * Thread-safe (no shared state).
 */
#ifndef KUBELUA_KUBECONFIG_H
#define KUBELUA_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "kubelua/error.h"

/* An exec credential plugin (users[].user.exec). */
typedef struct kl_exec_config {
    char *command;     /* absolute, or resolved against the kubeconfig's directory when it
                          contains a '/', otherwise looked up in $PATH when run */
    char **args;       /* NULL-terminated, may be empty */
    char **env;        /* NULL-terminated "NAME=VALUE" entries added to the environment */
    char *api_version; /* "client.authentication.k8s.io/v1" or ".../v1beta1" */
    bool provide_cluster_info;
} kl_exec_config_t;

typedef struct kl_restconfig {
    char *server; /* "https://host:port[/prefix]", never with a trailing '/' */
    char *tls_server_name;
    bool insecure; /* insecure-skip-tls-verify */
    /* PEM bytes (file contents or decoded *-data); NULL when absent. */
    char *ca_pem;
    size_t ca_pem_len;
    char *cert_pem;
    size_t cert_pem_len;
    char *key_pem;
    size_t key_pem_len;
    char *token;      /* bearer token (from token, or tokenFile's contents at load time) */
    char *token_file; /* absolute path; the client re-reads it once a minute */
    char *username, *password;
    kl_exec_config_t *exec;
    char *namespace; /* the context's namespace, or "default" */
    char *context;   /* names as resolved (NULL for in-cluster) */
    char *cluster;
    char *user;
    char *source; /* the file(s) the configuration came from, or "in-cluster" */
} kl_restconfig_t;

typedef struct kl_kubeconfig_opts {
    const char *kubeconfig; /* --kubeconfig; NULL: $KUBECONFIG, then ~/.kube/config */
    const char *context;    /* --context; NULL: current-context */
    const char *cluster;    /* --cluster: overrides the context's cluster; usually NULL */
    const char *user;       /* --user: overrides the context's user; usually NULL */
    /* Test hooks: NULL reads the real environment / filesystem locations. */
    const char *kubeconfig_env;  /* stands for $KUBECONFIG */
    const char *home;            /* stands for $HOME */
    const char *in_cluster_dir;  /* stands for /var/run/secrets/kubernetes.io/serviceaccount */
    bool no_in_cluster_fallback; /* fail instead of trying the in-cluster configuration */
} kl_kubeconfig_opts_t;

/* Resolves the configuration as described above; opts may be NULL. *out is owned by the
 * caller. Errors: KL_ECONFIG (err names file and field), KL_ENOTFOUND (no configuration at all),
 * KL_ENOMEM. On failure *out is untouched. */
KL_NODISCARD int kl_restconfig_load(const kl_kubeconfig_opts_t *opts, kl_restconfig_t **out,
                                    kl_errinfo_t *err);
/* Parses kubeconfig YAML held in memory. path is used in messages and to resolve relative paths
 * (NULL: the current directory). */
KL_NODISCARD int kl_restconfig_from_text(const char *text, size_t len, const char *path,
                                         const kl_kubeconfig_opts_t *opts, kl_restconfig_t **out,
                                         kl_errinfo_t *err);
/* The in-cluster configuration from dir (NULL: the service-account mount) and
 * KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT. */
KL_NODISCARD int kl_restconfig_in_cluster(const char *dir, kl_restconfig_t **out,
                                          kl_errinfo_t *err);
/* A configuration for a plain URL with an optional bearer token and CA bundle (NULLs allowed). */
KL_NODISCARD int kl_restconfig_for_url(const char *server, const char *token, const char *ca_pem,
                                       kl_restconfig_t **out);
void kl_restconfig_free(kl_restconfig_t *cfg); /* NULL is a no-op */

#endif
