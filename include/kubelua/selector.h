/* kubelua/selector.h - Kubernetes label selectors and field selectors.
 *
 * Label selectors come in the string form of list/watch queries ("app=web,tier!=db,
 * env in (a,b),!canary,release") and in the structured metav1.LabelSelector form
 * ({matchLabels: {...}, matchExpressions: [{key, operator, values}]}). Both compile to the same
 * kl_selector_t, which matches a labels object of a compact document (kl_val_t) or of a mutable
 * tree (kl_json_t). Semantics follow k8s.io/apimachinery/pkg/labels:
 *   - an empty selector matches everything; kl_selector_nothing() matches nothing (a nil
 *     metav1.LabelSelector in controllers);
 *   - "!=" and "notin" also match objects without the key;
 *   - "in"/"notin" need a non-empty value list; Exists/DoesNotExist take no values;
 *   - keys and values are validated (qualified names, label values) and errors name the
 *     offending token;
 *   - Gt/Lt (numeric) are accepted in the string form and in node selector terms.
 *
 * Errors: parsing fails with KL_EINVAL and err->msg holding upstream's message (e.g.
 * "unable to parse requirement: values[0][app]: Invalid value: \"a b\": ..."), or with KL_ENOMEM.
 * Label key and value messages follow the current k8s.io/apimachinery/pkg/api/validate/content
 * texts ("a valid label key ...", "must be no more than 63 bytes"). kl_errinfo_t keeps 511 bytes
 * of a message, so the longest aggregated messages are cut there.
 *
 * A labels object whose member is not a string is treated as not having that key. Matching does
 * not allocate.
 *
 * Field selectors ("metadata.name=x,status.phase!=Running") support =, == and !=; the caller
 * supplies the field values through a callback. Selectors are immutable after parsing and may
 * be shared between threads. The caller owns what the constructors (*_parse, *_from_*,
 * kl_selector_nothing) return and frees it with the matching *_free (NULL is a no-op).
 */
#ifndef KUBELUA_SELECTOR_H
#define KUBELUA_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"
#include "kubelua/json.h"
#include "kubelua/object.h"

typedef struct kl_selector kl_selector_t;

typedef enum kl_sel_op {
    KL_SEL_EQUALS,         /* key=value, key==value (formatted back as written), matchLabels */
    KL_SEL_NOT_EQUALS,     /* key!=value */
    KL_SEL_IN,             /* key in (a,b) */
    KL_SEL_NOT_IN,         /* key notin (a,b) */
    KL_SEL_EXISTS,         /* key */
    KL_SEL_DOES_NOT_EXIST, /* !key */
    KL_SEL_GT,             /* key>5 (numeric) */
    KL_SEL_LT,             /* key<5 (numeric) */
} kl_sel_op_t;

/* Parses the string form; "" gives the empty selector (matches everything). */
KL_NODISCARD int kl_selector_parse(const char *s, kl_selector_t **out, kl_errinfo_t *err);
/* Compiles a metav1.LabelSelector. A NULL/missing or JSON null selector gives "nothing" when
 * null_matches_nothing is set (controllers' rule), otherwise "everything"; {} matches
 * everything. Operators are In, NotIn, Exists, DoesNotExist (case-sensitive, as upstream). */
KL_NODISCARD int kl_selector_from_json(const kl_json_t *label_selector, bool null_matches_nothing,
                                       kl_selector_t **out, kl_errinfo_t *err);
KL_NODISCARD int kl_selector_from_val(kl_val_t label_selector, bool null_matches_nothing,
                                      kl_selector_t **out, kl_errinfo_t *err);
/* labels.SelectorFromSet: key=value for every member of a labels object, not validated (the
 * API server rejects bad ones). A missing/null or empty object gives the empty selector;
 * non-string values fail with KL_EINVAL. */
KL_NODISCARD int kl_selector_from_set(kl_val_t labels, kl_selector_t **out, kl_errinfo_t *err);
KL_NODISCARD int kl_selector_from_set_json(const kl_json_t *labels, kl_selector_t **out,
                                           kl_errinfo_t *err);
/* The matchExpressions of a node selector term (v1.NodeSelectorRequirement list): operators In,
 * NotIn, Exists, DoesNotExist, Gt and Lt ("%q is not a valid node selector operator"
 * otherwise). A missing or empty list matches nothing, as NodeSelectorRequirementsAsSelector
 * does. Match it against the node's labels. */
KL_NODISCARD int kl_selector_from_node_requirements(kl_val_t match_expressions, kl_selector_t **out,
                                                    kl_errinfo_t *err);
KL_NODISCARD int kl_selector_from_node_requirements_json(const kl_json_t *match_expressions,
                                                         kl_selector_t **out, kl_errinfo_t *err);
/* A selector that matches nothing. */
KL_NODISCARD int kl_selector_nothing(kl_selector_t **out);
void kl_selector_free(kl_selector_t *s);

bool kl_selector_is_empty(const kl_selector_t *s);   /* matches everything */
bool kl_selector_is_nothing(const kl_selector_t *s); /* matches nothing */
/* labels: an object of string values (or a missing value / NULL for "no labels"). */
bool kl_selector_matches(const kl_selector_t *s, kl_val_t labels);
bool kl_selector_matches_json(const kl_selector_t *s, const kl_json_t *labels);
/* Appends the canonical string form, requirements sorted by key (stably) as upstream's String()
 * does (e.g. "app=web,tier in (a,b)"); nothing for the empty and the nothing selector. */
KL_NODISCARD int kl_selector_format(const kl_selector_t *s, kl_buf_t *out);
/* Iterates requirements in key order: returns false past the end. values is a NULL-terminated
 * array (sorted and without duplicates for the string form, as given for the structured forms).
 * Strings are valid while the selector lives. */
bool kl_selector_requirement(const kl_selector_t *s, size_t i, const char **key, kl_sel_op_t *op,
                             const char *const **values);
/* When the selector pins a key to exactly one value (key=value or in (value)), returns it.
 * Like RequiresExactMatch, only the first requirement on that key is considered. */
const char *kl_selector_exact(const kl_selector_t *s, const char *key);

/* ---- Field selectors --------------------------------------------------------------------- */

typedef struct kl_fieldsel kl_fieldsel_t;

/* Terms are sorted and values unescaped: a backslash escapes itself, ',' and '=', and a bare
 * ',' or '=' in a value fails. A term with an empty field and value is dropped, as upstream
 * does. Fails with KL_EINVAL ("invalid selector: 'x'; can't understand 'x'") or KL_ENOMEM. */
KL_NODISCARD int kl_fieldsel_parse(const char *s, kl_fieldsel_t **out, kl_errinfo_t *err);
void kl_fieldsel_free(kl_fieldsel_t *fs);
bool kl_fieldsel_is_empty(const kl_fieldsel_t *fs);
/* Returns the value the caller has for field, or NULL when the object has none (an absent
 * field compares as ""), and sets *known=false when the field is not supported for this kind. */
typedef const char *(*kl_field_getter_t)(const char *field, bool *known, void *ud);
/* Checks every term. Unsupported fields make it fail with KL_EINVAL and a message naming the
 * field ("field label not supported: spec.foo"); otherwise returns 1 on match and 0 if not. */
int kl_fieldsel_matches(const kl_fieldsel_t *fs, kl_field_getter_t get, void *ud,
                        kl_errinfo_t *err);
/* Term access, for servers that pre-validate field names or use an index. */
size_t kl_fieldsel_count(const kl_fieldsel_t *fs);
bool kl_fieldsel_term(const kl_fieldsel_t *fs, size_t i, const char **field, bool *negated,
                      const char **value);
/* When a term pins field to one value with = or ==, returns it (e.g. metadata.name). */
const char *kl_fieldsel_exact(const kl_fieldsel_t *fs, const char *field);
/* Appends the canonical form: sorted terms, "=" for = and ==, values escaped again. */
KL_NODISCARD int kl_fieldsel_format(const kl_fieldsel_t *fs, kl_buf_t *out);

/* ---- Validation helpers shared with the API server --------------------------------------- */

/* DNS-1123 subdomain (names of most objects), DNS-1123 label (namespaces, container names),
 * qualified name (label and annotation keys, with an optional DNS prefix), label value.
 * Return NULL when valid, otherwise a static message like upstream's
 * "a lowercase RFC 1123 subdomain must consist of ..."; when several rules fail, their messages
 * are joined with "; " as upstream's callers do. DNS names follow util/validation ("must be no
 * more than 253 characters"), label keys and values the content package ("... 63 bytes"). */
const char *kl_validate_dns1123_subdomain(const char *s);
const char *kl_validate_dns1123_label(const char *s);
const char *kl_validate_qualified_name(const char *s);
const char *kl_validate_label_value(const char *s);

#endif
