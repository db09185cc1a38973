/* apiserver/satoken.h - service account tokens (TokenRequest): JWTs signed with HMAC-SHA256
 * under a key the server derives from its own secret, carrying the upstream claims (iss, sub,
 * aud, exp, iat, nbf, jti, kubernetes.io). Verification checks the signature, the time window and
 * that the API server's audience is among aud. Pure functions; thread-safe. */
#ifndef KL_APISERVER_SATOKEN_H
#define KL_APISERVER_SATOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"
#include "kubelua/json.h"

/* The issuer, and the audience tokens get when a request names none. */
#define KL_SATOKEN_ISSUER "https://kubernetes.default.svc.cluster.local"

typedef struct kl_satoken_claims {
    char ns[254];
    char name[254];
    char uid[64];
    int64_t exp;
} kl_satoken_claims_t;

/* Appends a signed token to out. audiences: a JSON array of strings (NULL or empty: the issuer).
 * 0 or KL_ENOMEM. */
KL_NODISCARD int kl_satoken_issue(const char *key, const char *ns, const char *name,
                                  const char *uid, const kl_json_t *audiences, int64_t now,
                                  int64_t exp, kl_buf_t *out);

/* 0 and the claims when tok is a valid token at time now; KL_EINVAL (bad form or signature),
 * KL_EEXPIRED-like failures are all KL_EINVAL too, with a reason in err (optional). */
KL_NODISCARD int kl_satoken_verify(const char *key, const char *tok, size_t len, int64_t now,
                                   kl_satoken_claims_t *out, kl_errinfo_t *err);

/* reviews.c: true when tok is a valid token of a service account that still exists. */
struct kl_apiserver;
bool kl_apiserver_sa_token_ok(struct kl_apiserver *srv, const char *tok, size_t len);

#endif
