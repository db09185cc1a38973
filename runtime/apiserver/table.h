/* apiserver/table.h - server-side printing: meta.k8s.io/v1 Table output for `kubectl get`.
 *
 * kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints the columns and
 * preformatted cells the server returns. A printer turns stored objects (kl_val_t) into the same
 * columns and cells a kube-apiserver 1.32 produces:
 *
 *   - built-in printers for core and workload kinds, following
 *     kubernetes/pkg/printers/internalversion/printers.go. The server prints "wide" (every column,
 *     priority 1 included); kubectl hides priority-1 columns unless given -o wide;
 *   - printers built from a CustomResourceDefinition version's additionalPrinterColumns
 *     (apiextensions-apiserver tableconvertor), with a JSONPath subset (see below);
 *   - the generic default (Name, Created At) for any other kind, like the apiserver's
 *     rest.NewDefaultTableConvertor (CustomResourceDefinitions themselves print this way).
 *
 * Rows carry the object's metadata as a PartialObjectMetadata, which is what makes kubectl's
 * `-A` NAMESPACE column and `--show-labels` work. Rows can be written one at a time, so the
 * server can splice a large list without holding every row.
 *
 * Times: `now` is Unix seconds. AGE-like cells are k8s.io/apimachinery HumanDuration of
 * now - timestamp ("0s", "81s", "5m30s", "3h4m", "2d3h", "400d", "<unknown>" for a missing
 * timestamp).
 *
 * JSONPath subset for additionalPrinterColumns (the expression is what goes inside `{...}`):
 *   .field  .field.sub     object members; `\` escapes a terminator character (`.a\.b`)
 *   ['key']  ["key"]       a member whose name has dots or other special characters
 *   [n]  [-n]              array element (negative counts from the end)
 *   [*]  .*                every element of an array (or member of an object)
 *   [?(@.path OP value)]   filter an array: OP is == != < > <= >=, value is a 'string',
 *                          "string", integer, float, true/false, or another @.path
 *   [?(@.path)]            filter an array on the existence of a path
 *   a leading `$` is accepted. Not supported (kl_printer_for fails with KL_EUNSUPPORTED):
 *   recursive descent `..`, slices `[a:b]`, unions `[a,b]`, regex `=~`, range/end functions.
 * As upstream, only the first value found is printed; a missing value gives a null cell (kubectl
 * shows <none>); a comparison between mismatched types makes the cell null.
 *
 * Thread-safety: built-in printers are static and immutable; every function may be called from
 * any thread. A printer from additionalPrinterColumns is immutable once built.
 */
#ifndef KL_APISERVER_TABLE_H
#define KL_APISERVER_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelua/buf.h"
#include "kubelua/error.h"
#include "kubelua/json.h"
#include "kubelua/object.h"

typedef struct kl_printer kl_printer_t;

/* Picks a printer.
 *   - additional_printer_columns == NULL: the built-in printer for group/kind (group "" is the
 *     core group; kind as in the object's `kind`, e.g. "Pod"), or the generic default printer
 *     (Name, Created At) when there is none. Never fails in this case.
 *   - additional_printer_columns != NULL: a custom resource. It must be a JSON array of
 *     {name, type, format?, description?, priority?, jsonPath}; an empty array gives the columns
 *     a CRD version without additionalPrinterColumns gets (Name, Age). group/kind are ignored.
 *     Fails with KL_EINVAL (bad shape) or KL_EUNSUPPORTED (JSONPath outside the subset), with a
 *     message in err; *out is then untouched, and the caller may fall back to the default
 *     printer (kl_printer_for(group, kind, NULL, ...)) as the apiserver does.
 * *out is freed with kl_printer_free() (a no-op for built-ins, so always call it). */
KL_NODISCARD int kl_printer_for(const char *group, const char *kind,
                                const kl_json_t *additional_printer_columns, kl_printer_t **out,
                                kl_errinfo_t *err);

/* Convenience for the server: the printer for a stored CustomResourceDefinition `crd` (a v1
 * object) at version `version`: spec.versions[name == version].additionalPrinterColumns, or the
 * default Name + Age when it has none. KL_ENOTFOUND when the version is not in the CRD. */
KL_NODISCARD int kl_printer_for_crd(kl_val_t crd, const char *version, kl_printer_t **out,
                                    kl_errinfo_t *err);

void kl_printer_free(kl_printer_t *p); /* NULL and built-ins are no-ops */

/* A short name for logs and tests: "pods", "jobs", ..., "default", or "custom". */
const char *kl_printer_name(const kl_printer_t *p);

/* Checks one additionalPrinterColumns jsonPath against the supported subset (for CRD
 * validation). 0, or KL_EINVAL / KL_EUNSUPPORTED with a message in err. */
KL_NODISCARD int kl_printer_check_jsonpath(const char *path, kl_errinfo_t *err);

/* Appends the JSON array of columnDefinitions:
 * [{"name":"Name","type":"string","format":"name","description":"...","priority":0},...]. */
KL_NODISCARD int kl_printer_columns(const kl_printer_t *p, kl_buf_t *out);

/* Appends the JSON array of one object's cells, e.g. ["web-0","1/1","Running","0","5m"]. */
KL_NODISCARD int kl_printer_cells(const kl_printer_t *p, kl_val_t obj, int64_t now, kl_buf_t *out);

/* Appends one TableRow:
 * {"cells":[...],"conditions":[...]?,"object":{"kind":"PartialObjectMetadata",
 *  "apiVersion":"meta.k8s.io/v1","metadata":{...the object's metadata...}}}.
 * "conditions" appears only where upstream sets it (succeeded or failed pods). On failure the
 * buffer is left as it was. */
KL_NODISCARD int kl_printer_row(const kl_printer_t *p, kl_val_t obj, int64_t now, kl_buf_t *out);

/* The Table envelope. Fields mirror metav1.ListMeta; NULL or "" strings are omitted. */
typedef struct kl_table_opts {
    const char *resource_version;
    const char *continue_token;
    int64_t remaining_item_count; /* written only when has_remaining_item_count */
    bool has_remaining_item_count;
    /* false writes "columnDefinitions":null, as the apiserver does for a watch event after the
     * first one (TableOptions.noHeaders). */
    bool include_columns;
} kl_table_opts_t;

/* Streaming a Table: begin, then one kl_table_row() per object with index 0, 1, 2 ..., then
 * end with the number of rows written. The output is the same as kl_table_write().
 *   {"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{...},"columnDefinitions":[...],
 *    "rows":[row,row,...]}
 * An empty table has "rows":[] (the default printer writes "rows":null, as upstream). */
KL_NODISCARD int kl_table_begin(const kl_printer_t *p, const kl_table_opts_t *opts, kl_buf_t *out);
KL_NODISCARD int kl_table_row(const kl_printer_t *p, kl_val_t obj, int64_t now, size_t index,
                              kl_buf_t *out);
KL_NODISCARD int kl_table_end(const kl_printer_t *p, size_t nrows, kl_buf_t *out);

/* A whole Table for objs[0..n) (a list, a single GET as one row, or a watch event's object).
 * opts may be NULL (no metadata fields, column definitions included). On failure the buffer is
 * left as it was. */
KL_NODISCARD int kl_table_write(const kl_printer_t *p, const kl_val_t *objs, size_t n,
                                const kl_table_opts_t *opts, int64_t now, kl_buf_t *out);

#endif
