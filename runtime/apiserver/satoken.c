/* Service account tokens: HS256 JWTs (satoken.h). */
#include "apiserver/satoken.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int put_b64url(kl_buf_t *out, const unsigned char *p, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char c[4] = {b64url[(v >> 18) & 63], b64url[(v >> 12) & 63], b64url[(v >> 6) & 63],
                     b64url[v & 63]};
        size_t k = n - i >= 3 ? 4 : n - i + 1;
        rc = kl_buf_append(out, c, k);
    }
    return rc;
}

/* Decodes unpadded base64url into out (cap bytes); returns the length or -1. */
static long get_b64url(const char *s, size_t n, unsigned char *out, size_t cap)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = memchr(b64url, s[i], 64);
        if (c == NULL || s[i] == '\0')
            return -1;
        acc = (acc << 6) | (uint32_t)(c - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

static int sign(const char *key, const char *data, size_t n, unsigned char mac[32])
{
    unsigned int len = 32;
    if (HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)data, n, mac, &len) ==
            NULL ||
        len != 32)
        return KL_ENOMEM;
    return 0;
}

int kl_satoken_issue(const char *key, const char *ns, const char *name, const char *uid,
                     const kl_json_t *audiences, int64_t now, int64_t exp, kl_buf_t *out)
{
    static const char header[] = "{\"alg\":\"HS256\",\"kid\":\"kubelua\",\"typ\":\"JWT\"}";
    unsigned char rnd[16];
    char jti[40], sub[600];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return KL_ENOMEM;
    for (int i = 0; i < 16; i++)
        snprintf(jti + 2 * i, 3, "%02x", rnd[i]);
    snprintf(sub, sizeof(sub), "system:serviceaccount:%s:%s", ns, name);
    kl_json_t *p = kl_json_object(), *kio = kl_json_object(), *sa = kl_json_object();
    kl_json_t *aud = audiences && kl_json_is(audiences, KL_TARRAY) && audiences->len
                         ? kl_json_dup(audiences)
                         : kl_json_array();
    kl_buf_t payload;
    kl_buf_init(&payload, 0);
    int rc = p && kio && sa && aud ? 0 : KL_ENOMEM;
    if (rc == 0 && aud->len == 0)
        rc = kl_json_append(aud, kl_json_string(KL_SATOKEN_ISSUER));
    if (rc == 0)
        rc = kl_json_set(p, "aud", aud);
    if (rc == 0) {
        aud = NULL;
        rc = kl_json_set_int(p, "exp", exp);
    }
    if (rc == 0)
        rc = kl_json_set_int(p, "iat", now);
    if (rc == 0)
        rc = kl_json_set_str(p, "iss", KL_SATOKEN_ISSUER);
    if (rc == 0)
        rc = kl_json_set_str(p, "jti", jti);
    if (rc == 0)
        rc = kl_json_set_str(kio, "namespace", ns);
    if (rc == 0)
        rc = kl_json_set_str(sa, "name", name);
    if (rc == 0)
        rc = kl_json_set_str(sa, "uid", uid ? uid : "");
    if (rc == 0) {
        rc = kl_json_set(kio, "serviceaccount", sa);
        sa = NULL;
    }
    if (rc == 0) {
        rc = kl_json_set(p, "kubernetes.io", kio);
        kio = NULL;
    }
    if (rc == 0)
        rc = kl_json_set_int(p, "nbf", now);
    if (rc == 0)
        rc = kl_json_set_str(p, "sub", sub);
    if (rc == 0)
        rc = kl_json_encode(p, &payload);
    size_t start = out->len;
    if (rc == 0)
        rc = put_b64url(out, (const unsigned char *)header, sizeof(header) - 1);
    if (rc == 0)
        rc = kl_buf_putc(out, '.');
    if (rc == 0)
        rc = put_b64url(out, (const unsigned char *)payload.data, payload.len);
    unsigned char mac[32];
    if (rc == 0)
        rc = sign(key, out->data + start, out->len - start, mac);
    if (rc == 0)
        rc = kl_buf_putc(out, '.');
    if (rc == 0)
        rc = put_b64url(out, mac, sizeof(mac));
    kl_buf_cleanup(&payload);
    kl_json_free(p);
    kl_json_free(kio);
    kl_json_free(sa);
    kl_json_free(aud);
    return rc;
}

int kl_satoken_verify(const char *key, const char *tok, size_t len, int64_t now,
                      kl_satoken_claims_t *out, kl_errinfo_t *err)
{
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (d1 == NULL || d2 == NULL || len > 8192)
        return kl_err(err, KL_EINVAL, "not a token");
    unsigned char mac[32], got[40];
    if (sign(key, tok, (size_t)(d2 - tok), mac) < 0)
        return kl_err(err, KL_ENOMEM, "out of memory");
    long n = get_b64url(d2 + 1, len - (size_t)(d2 + 1 - tok), got, sizeof(got));
    if (n != 32 || CRYPTO_memcmp(mac, got, 32) != 0)
        return kl_err(err, KL_EINVAL, "invalid signature");
    unsigned char payload[6144];
    long pn = get_b64url(d1 + 1, (size_t)(d2 - d1 - 1), payload, sizeof(payload));
    kl_json_t *p = NULL;
    if (pn <= 0 || kl_json_parse((const char *)payload, (size_t)pn, NULL, &p, NULL) < 0)
        return kl_err(err, KL_EINVAL, "malformed claims");
    int rc = 0;
    int64_t exp = kl_json_int_or(kl_json_get(p, "exp"), 0);
    int64_t nbf = kl_json_int_or(kl_json_get(p, "nbf"), 0);
    const kl_json_t *aud = kl_json_get(p, "aud");
    bool aud_ok = false;
    for (uint32_t i = 0; kl_json_is(aud, KL_TARRAY) && i < aud->len; i++)
        if (kl_json_str(kl_json_at(aud, i)) &&
            strcmp(kl_json_str(kl_json_at(aud, i)), KL_SATOKEN_ISSUER) == 0)
            aud_ok = true;
    const char *ns = kl_json_path_str(p, "kubernetes.io", "namespace", NULL);
    const char *name = kl_json_path_str(p, "kubernetes.io", "serviceaccount", "name", NULL);
    const char *uid = kl_json_path_str(p, "kubernetes.io", "serviceaccount", "uid", NULL);
    if (now >= exp)
        rc = kl_err(err, KL_EINVAL, "token has expired");
    else if (now + 60 < nbf)
        rc = kl_err(err, KL_EINVAL, "token is not valid yet");
    else if (!aud_ok)
        rc = kl_err(err, KL_EINVAL, "token audiences do not include the API server");
    else if (ns == NULL || name == NULL)
        rc = kl_err(err, KL_EINVAL, "token names no service account");
    else if (out) {
        snprintf(out->ns, sizeof(out->ns), "%s", ns);
        snprintf(out->name, sizeof(out->name), "%s", name);
        snprintf(out->uid, sizeof(out->uid), "%s", uid ? uid : "");
        out->exp = exp;
    }
    kl_json_free(p);
    return rc;
}
