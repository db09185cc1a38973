/* apiserver/tls.h - the embedded cluster's credentials: a CA, a server certificate, a bearer
 * token and the kubeconfig that carries them, all under the data directory.
 *
 * Everything is generated on first start (ECDSA P-256, SHA-256) and reused afterwards; private
 * keys and the token are written with mode 0600. Paths in kl_tls_files_t are owned by the
 * struct (kl_tls_files_cleanup frees them). Not thread-safe; called once at start-up.
 */
#ifndef KL_APISERVER_TLS_H
#define KL_APISERVER_TLS_H

#include <openssl/ssl.h>

#include "kubelua/error.h"

typedef struct kl_tls_files {
    char *ca_cert;     /* DATA_DIR/pki/ca.crt */
    char *ca_key;      /* DATA_DIR/pki/ca.key */
    char *server_cert; /* DATA_DIR/pki/server.crt */
    char *server_key;  /* DATA_DIR/pki/server.key */
    char *token_file;  /* DATA_DIR/token */
    char token[65];    /* 64 hex characters */
} kl_tls_files_t;

/* Creates (or loads) the CA, the server certificate valid for 127.0.0.1, ::1, localhost and
 * the extra host names/IPs given (NULL-terminated, may be NULL), and the token. A server
 * certificate that lacks one of the requested names is reissued. */
KL_NODISCARD int kl_tls_ensure(const char *data_dir, const char *const *extra_hosts,
                               kl_tls_files_t *out, kl_errinfo_t *err);
void kl_tls_files_cleanup(kl_tls_files_t *f);

/* A server SSL_CTX for those files: TLS 1.2+, ALPN "h2" and "http/1.1" (http/1.1 only when
 * http2 is false), and optional client certificates verified against the CA. */
KL_NODISCARD int kl_tls_server_ctx(const kl_tls_files_t *f, int http2, SSL_CTX **out,
                                   kl_errinfo_t *err);

/* Issues a client certificate signed by the CA, for tests and for users who want certificate
 * authentication (CN = user name, O = groups). Writes PEM files. */
KL_NODISCARD int kl_tls_issue_client(const kl_tls_files_t *f, const char *cn, const char *org,
                                     const char *cert_path, const char *key_path,
                                     kl_errinfo_t *err);

/* Writes a kubeconfig (mode 0600) with the CA data embedded and the token, cluster and context
 * named `name`, user `name-admin`. */
KL_NODISCARD int kl_kubeconfig_write(const char *path, const char *server_url,
                                     const kl_tls_files_t *f, const char *name, kl_errinfo_t *err);

#endif
