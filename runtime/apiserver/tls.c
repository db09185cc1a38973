/* Credentials of the embedded cluster, generated with OpenSSL 3. */
#include "apiserver/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kubelua/buf.h"
#include "kubelua/fsutil.h"
#include "kubelua/log.h"

#define PEM_MAX ((size_t)1 << 20)

static int ossl_err(kl_errinfo_t *err, const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return kl_err(err, KL_ETLS, "%s: %s", what, e ? buf : "unknown OpenSSL error");
}

static int write_pem(const char *path, BIO *bio, mode_t mode, kl_errinfo_t *err)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    return kl_file_write_atomic(path, data, (size_t)n, mode, err);
}

static int save_cert(const char *path, X509 *x, kl_errinfo_t *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || !PEM_write_bio_X509(b, x)) {
        BIO_free(b);
        return ossl_err(err, "encoding a certificate");
    }
    int rc = write_pem(path, b, 0644, err);
    BIO_free(b);
    return rc;
}

static int save_key(const char *path, EVP_PKEY *k, kl_errinfo_t *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) {
        BIO_free(b);
        return ossl_err(err, "encoding a private key");
    }
    int rc = write_pem(path, b, 0600, err);
    BIO_free(b);
    return rc;
}

static X509 *load_cert(const char *path)
{
    char *data;
    size_t len;
    if (kl_file_read(path, PEM_MAX, &data, &len, NULL) < 0)
        return NULL;
    BIO *b = BIO_new_mem_buf(data, (int)len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    free(data);
    ERR_clear_error();
    return x;
}

static EVP_PKEY *load_key(const char *path)
{
    char *data;
    size_t len;
    if (kl_file_read(path, PEM_MAX, &data, &len, NULL) < 0)
        return NULL;
    BIO *b = BIO_new_mem_buf(data, (int)len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    free(data);
    ERR_clear_error();
    return k;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ex == NULL)
        return -1;
    int ok = X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return ok ? 0 : -1;
}

/* Builds a certificate for key, signed by issuer_key (self-signed when issuer is NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *org, X509 *issuer,
                       EVP_PKEY *issuer_key, long days, int is_ca, const char *eku, const char *san)
{
    X509 *x = X509_new();
    if (x == NULL)
        return NULL;
    unsigned char serial[16];
    RAND_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    int ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    ok = ok && X509_set_version(x, 2);
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL;
    ok = ok && X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L) != NULL;
    ok = ok && X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    if (org)
        ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)org,
                                              -1, -1, 0);
    ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                          -1, 0);
    ok = ok && X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509 *iss = issuer ? issuer : x;
    if (ok && is_ca) {
        ok = add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
             add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") == 0;
    } else if (ok) {
        ok = add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
             add_ext(x, iss, NID_key_usage, "critical,digitalSignature,keyEncipherment") == 0 &&
             add_ext(x, iss, NID_ext_key_usage, eku) == 0;
        if (ok && san)
            ok = add_ext(x, iss, NID_subject_alt_name, san) == 0;
    }
    ok = ok && add_ext(x, iss, NID_subject_key_identifier, "hash") == 0;
    if (ok && issuer)
        ok = add_ext(x, iss, NID_authority_key_identifier, "keyid:always") == 0;
    ok = ok && X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int cert_valid_for(X509 *x, const char *const *names)
{
    if (X509_cmp_time(X509_get0_notAfter(x), NULL) <= 0)
        return 0;
    /* Reissue when it expires within 30 days. */
    time_t soon = time(NULL) + 30 * 86400;
    if (X509_cmp_time(X509_get0_notAfter(x), &soon) <= 0)
        return 0;
    for (size_t i = 0; names[i]; i++) {
        int ip = X509_check_ip_asc(x, names[i], 0);
        if (ip == 1)
            continue;
        if (X509_check_host(x, names[i], 0, 0, NULL) == 1)
            continue;
        return 0;
    }
    return 1;
}

static int is_ip(const char *s)
{
    unsigned char buf[16];
    ASN1_OCTET_STRING *o = a2i_IPADDRESS(s);
    (void)buf;
    if (o == NULL) {
        ERR_clear_error();
        return 0;
    }
    ASN1_OCTET_STRING_free(o);
    return 1;
}

void kl_tls_files_cleanup(kl_tls_files_t *f)
{
    free(f->ca_cert);
    free(f->ca_key);
    free(f->server_cert);
    free(f->server_key);
    free(f->token_file);
    memset(f, 0, sizeof(*f));
}

static int ensure_token(kl_tls_files_t *f, kl_errinfo_t *err)
{
    char *data;
    size_t len;
    if (kl_file_read(f->token_file, 4096, &data, &len, NULL) == 0) {
        while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
            data[--len] = '\0';
        if (len == 64) {
            memcpy(f->token, data, 65);
            free(data);
            return 0;
        }
        free(data);
    }
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return ossl_err(err, "generating a token");
    for (int i = 0; i < 32; i++)
        snprintf(f->token + 2 * i, 3, "%02x", raw[i]);
    char line[66];
    snprintf(line, sizeof(line), "%s\n", f->token);
    return kl_file_write_atomic(f->token_file, line, 65, 0600, err);
}

int kl_tls_ensure(const char *data_dir, const char *const *extra_hosts, kl_tls_files_t *out,
                  kl_errinfo_t *err)
{
    int rc = 0;
    X509 *ca = NULL, *srv = NULL;
    EVP_PKEY *ca_key = NULL, *srv_key = NULL;
    kl_buf_t san;
    kl_buf_init(&san, 0);
    const char *names[64];
    size_t nn = 0;
    memset(out, 0, sizeof(*out));

    char *pki = kl_path_join(data_dir, "pki");
    if (pki == NULL)
        return kl_err(err, KL_ENOMEM, "out of memory");
    rc = kl_mkdir_p(pki, 0700, err);
    if (rc < 0)
        goto out;
    out->ca_cert = kl_path_join(pki, "ca.crt");
    out->ca_key = kl_path_join(pki, "ca.key");
    out->server_cert = kl_path_join(pki, "server.crt");
    out->server_key = kl_path_join(pki, "server.key");
    out->token_file = kl_path_join(data_dir, "token");
    if (!out->ca_cert || !out->ca_key || !out->server_cert || !out->server_key ||
        !out->token_file) {
        rc = kl_err(err, KL_ENOMEM, "out of memory");
        goto out;
    }

    ca = load_cert(out->ca_cert);
    ca_key = load_key(out->ca_key);
    if (ca == NULL || ca_key == NULL || X509_check_private_key(ca, ca_key) != 1) {
        ERR_clear_error();
        X509_free(ca);
        EVP_PKEY_free(ca_key);
        ca_key = EVP_EC_gen("P-256");
        ca = ca_key ? make_cert(ca_key, "kubelua-ca", NULL, NULL, NULL, 3650, 1, NULL, NULL) : NULL;
        if (ca == NULL) {
            rc = ossl_err(err, "creating the CA");
            goto out;
        }
        if ((rc = save_key(out->ca_key, ca_key, err)) < 0 ||
            (rc = save_cert(out->ca_cert, ca, err)) < 0)
            goto out;
        /* A new CA invalidates the old server certificate. */
        unlink(out->server_cert);
        KL_INFO("apiserver", "created a certificate authority in %s", out->ca_cert);
    }

    names[nn++] = "127.0.0.1";
    names[nn++] = "::1";
    names[nn++] = "localhost";
    for (size_t i = 0; extra_hosts && extra_hosts[i] && nn < 63; i++)
        names[nn++] = extra_hosts[i];
    names[nn] = NULL;

    srv = load_cert(out->server_cert);
    srv_key = load_key(out->server_key);
    if (srv == NULL || srv_key == NULL || X509_check_private_key(srv, srv_key) != 1 ||
        X509_verify(srv, ca_key) != 1 || !cert_valid_for(srv, names)) {
        ERR_clear_error();
        X509_free(srv);
        EVP_PKEY_free(srv_key);
        srv = NULL;
        for (size_t i = 0; i < nn; i++) {
            if ((rc = kl_buf_printf(&san, "%s%s:%s", i ? "," : "", is_ip(names[i]) ? "IP" : "DNS",
                                    names[i])) < 0)
                goto out;
        }
        srv_key = EVP_EC_gen("P-256");
        srv = srv_key ? make_cert(srv_key, "kubelua-apiserver", NULL, ca, ca_key, 825, 0,
                                  "serverAuth", san.data)
                      : NULL;
        if (srv == NULL) {
            rc = ossl_err(err, "creating the server certificate");
            goto out;
        }
        if ((rc = save_key(out->server_key, srv_key, err)) < 0 ||
            (rc = save_cert(out->server_cert, srv, err)) < 0)
            goto out;
    }
    rc = ensure_token(out, err);
out:
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    kl_buf_cleanup(&san);
    free(pki);
    if (rc < 0)
        kl_tls_files_cleanup(out);
    return rc;
}

int kl_tls_server_ctx(const kl_tls_files_t *f, int http2, SSL_CTX **out, kl_errinfo_t *err)
{
    (void)http2;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return ossl_err(err, "creating the TLS context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, f->server_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, f->server_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1 ||
        SSL_CTX_load_verify_locations(ctx, f->ca_cert, NULL) != 1) {
        SSL_CTX_free(ctx);
        return ossl_err(err, "loading the server certificate");
    }
    STACK_OF(X509_NAME) *cas = SSL_load_client_CA_file(f->ca_cert);
    if (cas)
        SSL_CTX_set_client_CA_list(ctx, cas);
    /* Client certificates are optional; one that is presented must chain to our CA. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    unsigned char sid[] = "kubelua";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    *out = ctx;
    return 0;
}

int kl_tls_issue_client(const kl_tls_files_t *f, const char *cn, const char *org,
                        const char *cert_path, const char *key_path, kl_errinfo_t *err)
{
    int rc = 0;
    X509 *ca = load_cert(f->ca_cert), *x = NULL;
    EVP_PKEY *ca_key = load_key(f->ca_key), *key = NULL;
    if (ca == NULL || ca_key == NULL) {
        rc = kl_err(err, KL_ENOTFOUND, "no CA in %s", f->ca_cert);
        goto out;
    }
    key = EVP_EC_gen("P-256");
    x = key ? make_cert(key, cn, org, ca, ca_key, 365, 0, "clientAuth", NULL) : NULL;
    if (x == NULL) {
        rc = ossl_err(err, "creating a client certificate");
        goto out;
    }
    if ((rc = save_key(key_path, key, err)) < 0)
        goto out;
    rc = save_cert(cert_path, x, err);
out:
    X509_free(ca);
    X509_free(x);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    return rc;
}

int kl_kubeconfig_write(const char *path, const char *server_url, const kl_tls_files_t *f,
                        const char *name, kl_errinfo_t *err)
{
    char *ca;
    size_t ca_len;
    int rc = kl_file_read(f->ca_cert, PEM_MAX, &ca, &ca_len, err);
    if (rc < 0)
        return rc;
    unsigned char *b64 = malloc(4 * ((ca_len + 2) / 3) + 1);
    if (b64 == NULL) {
        free(ca);
        return kl_err(err, KL_ENOMEM, "out of memory");
    }
    EVP_EncodeBlock(b64, (const unsigned char *)ca, (int)ca_len);
    free(ca);
    kl_buf_t b;
    kl_buf_init(&b, 0);
    rc = kl_buf_printf(&b,
                       "apiVersion: v1\n"
                       "kind: Config\n"
                       "clusters:\n"
                       "- name: %s\n"
                       "  cluster:\n"
                       "    server: %s\n"
                       "    certificate-authority-data: %s\n"
                       "contexts:\n"
                       "- name: %s\n"
                       "  context:\n"
                       "    cluster: %s\n"
                       "    user: %s-admin\n"
                       "    namespace: default\n"
                       "current-context: %s\n"
                       "preferences: {}\n"
                       "users:\n"
                       "- name: %s-admin\n"
                       "  user:\n"
                       "    token: %s\n",
                       name, server_url, b64, name, name, name, name, name, f->token);
    free(b64);
    if (rc == 0)
        rc = kl_file_write_atomic(path, b.data, b.len, 0600, err);
    kl_buf_cleanup(&b);
    return rc;
}
