/* apiserver/proto.h - Kubernetes protobuf request bodies ("application/vnd.kubernetes.protobuf").
 *
 * kubectl 1.32 and client-go's typed clients send objects in the protobuf envelope: the magic
 * "k8s\0", then a runtime.Unknown message {typeMeta {apiVersion, kind}, raw, contentEncoding,
 * contentType} whose raw bytes are the object's own message. kl_proto_to_json() turns such a body
 * into the JSON that encoding/json would write for the decoded Go object, so the server then
 * handles it exactly like a JSON body (strict decoding, defaulting, validation).
 *
 * Rules, as Go decodes and then JSON-encodes the object:
 * - A field present on the wire becomes a member named by its json tag; a zero value is left out
 *   only where encoding/json leaves it out (an omitempty field that is not a Go pointer, so
 *   `replicas: 0` of a *int32 stays). Fields absent on the wire are absent. Members come in the
 *   Go struct's order; `json:",inline"` fields (Volume.volumeSource, Probe.handler, ...) put their
 *   members into the enclosing object.
 * - repeated -> array (packed or not); map<string, V> -> object, keys sorted, the last duplicate
 *   wins; bytes -> base64; int64 exact; a repeated singular field: the last scalar wins, message
 *   occurrences merge (as proto does).
 * - meta/v1 Time -> "2006-01-02T15:04:05Z" (an empty Time message is Go's zero time: null),
 *   MicroTime -> six fractional digits, Duration -> Go's duration string, Quantity -> its string,
 *   IntOrString -> number or string (a zero value in a non-pointer omitempty field is left out:
 *   kube-apiserver treats it as unset), RawExtension/FieldsV1/apiextensions JSON -> the raw JSON
 *   (checked to be one JSON value), the apiextensions JSONSchemaPropsOr* unions as upstream writes
 *   them.
 * - Unknown field numbers are skipped, as gogo-protobuf does (protobuf has no strict decoding);
 *   groups (wire types 3 and 4) are refused.
 * - Bounded: messages nest at most KL_PROTO_MAX_DEPTH deep, every length is checked against the
 *   input, the JSON is limited by out->max (KL_ETOOBIG), strings that are not UTF-8 get U+FFFD for
 *   each bad byte as encoding/json does.
 *
 * Thread-safe (the tables are constant).
 */
#ifndef KL_APISERVER_PROTO_H
#define KL_APISERVER_PROTO_H

#include <stddef.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"

#define KL_PROTO_MAGIC "k8s\0"
#define KL_PROTO_MAX_DEPTH 100

typedef struct kl_proto_type {
    char api_version[128];
    char kind[128];
} kl_proto_type_t;

/* Converts body (the envelope with its magic) to JSON appended to out. def_api_version and
 * def_kind fill an empty typeMeta (the endpoint's type, as kube-apiserver defaults it); either
 * may be NULL. On success `type` (optional) holds the apiVersion and kind used. Errors:
 *   KL_EBADREQUEST  malformed input; err->msg says what and where;
 *   KL_ENOTFOUND    the typeMeta names a kind this server cannot decode (err->msg says which);
 *   KL_ETOOBIG      the JSON would exceed out->max;
 *   KL_ENOMEM.
 * On failure out may hold a partial result. */
KL_NODISCARD int kl_proto_to_json(const void *body, size_t len, const char *def_api_version,
                                  const char *def_kind, kl_buf_t *out, kl_proto_type_t *type,
                                  kl_errinfo_t *err);

#endif
