/* apiserver/schema_valid.h - custom resources validated against their CRD's structural schema,
 * as kube-apiserver's custom resource handler does, with its field errors.
 *
 * Decoding (pruning, nulls, defaults) is kl_schema_decode() in kubelua/schema.h; this is the
 * validation of the object about to be stored, and the checks a CustomResourceDefinition's
 * schemas get when the definition is written. Server thread or any thread: nothing is shared.
 */
#ifndef KL_APISERVER_SCHEMA_VALID_H
#define KL_APISERVER_SCHEMA_VALID_H

#include "kubelua/json.h"
#include "kubelua/schema.h"

#include "apiserver/ferr.h"

/* Validates a custom resource against its CRD type t (no-op for built-in types and NULL t):
 * the OpenAPI value validations in kube-openapi's order and words (type, pattern, format,
 * lengths, minimum/maximum/multipleOf, items, enum, properties, required), then the uniqueness
 * of x-kubernetes-list-type set and map lists. old is the stored object on updates (NULL on
 * create): values unchanged from it are not validated again (validation ratcheting, on by
 * default since Kubernetes 1.30), so a status write is judged by its status and a spec write
 * by its spec. Errors are appended to errs. */
void kl_schema_validate_cr(const kl_stype_t *t, const kl_json_t *obj, const kl_json_t *old,
                           kl_ferrs_t *errs);

/* The schema checks of a CustomResourceDefinition (apiextensions.k8s.io/v1) that concern values:
 * every `default` must validate against its own schema and carry no unknown fields, `pattern`
 * must compile, uniqueItems is forbidden, list and map types must be known, map-list keys must
 * be required or defaulted. Errors are appended to errs with the paths upstream uses
 * (spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[x].default). */
void kl_crd_validate_schemas(const kl_json_t *crd, kl_ferrs_t *errs);

#endif
