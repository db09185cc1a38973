/* Table printers for custom resources (additionalPrinterColumns and the JSONPath subset), the
 * generic default printer, the Table envelope (lists, watch events, streaming, size ceilings)
 * and the time helpers behind AGE cells. */
#include "kubelua/json.h"
#include "kubelua/object.h"

#include "apiserver/table.h"
#include "apiserver/table_int.h"
#include "unit/test_util.h"

#define NOW ((int64_t)1715680800) /* 2024-05-14T10:00:00Z */

static kl_obj_t *parse_obj(const char *s)
{
    kl_obj_t *o = NULL;
    kl_errinfo_t err;
    if (kl_obj_parse_json(s, strlen(s), NULL, &o, &err) < 0)
        fail_msg("not valid JSON (%s): %s", err.msg, s);
    return o;
}

static kl_json_t *parse_tree(const char *s)
{
    kl_json_t *j = NULL;
    kl_errinfo_t err;
    if (kl_json_parse(s, strlen(s), NULL, &j, &err) < 0)
        fail_msg("not valid JSON (%s): %s", err.msg, s);
    return j;
}

static kl_printer_t *custom(const char *columns_json)
{
    kl_json_t *cols = parse_tree(columns_json);
    kl_printer_t *p = NULL;
    kl_errinfo_t err;
    if (kl_printer_for("example.com", "Widget", cols, &p, &err) < 0)
        fail_msg("kl_printer_for: %s", err.msg);
    assert_string_equal(kl_printer_name(p), "custom");
    kl_json_free(cols);
    return p;
}

static void check_cells(const kl_printer_t *p, const char *obj, const char *expected)
{
    kl_obj_t *o = parse_obj(obj);
    kl_buf_t b;
    kl_buf_init(&b, KL_BUF_DEFAULT_MAX);
    assert_int_equal(kl_printer_cells(p, kl_obj_root(o), NOW, &b), 0);
    if (strcmp(b.data, expected) != 0)
        fail_msg("cells\n got: %s\nwant: %s", b.data, expected);
    kl_obj_t *back = parse_obj(b.data); /* valid JSON */
    kl_obj_unref(back);
    kl_buf_cleanup(&b);
    kl_obj_unref(o);
}

/* "Name:type:format:priority|..." plus the descriptions joined with "|". */
static void check_columns(const kl_printer_t *p, const char *expected, const char *descriptions)
{
    kl_buf_t b, s, d;
    kl_buf_init(&b, KL_BUF_DEFAULT_MAX);
    kl_buf_init(&s, KL_BUF_DEFAULT_MAX);
    kl_buf_init(&d, KL_BUF_DEFAULT_MAX);
    assert_int_equal(kl_printer_columns(p, &b), 0);
    kl_obj_t *cols = parse_obj(b.data);
    kl_val_t arr = kl_obj_root(cols);
    for (uint32_t i = 0; i < kl_val_len(arr); i++) {
        kl_val_t c = kl_val_at(arr, i);
        assert_int_equal(kl_val_len(c), 5);
        assert_int_equal(
            kl_buf_printf(&s, "%s%s:%s:%s:%lld", i ? "|" : "", kl_val_path_str(c, "name", NULL),
                          kl_val_path_str(c, "type", NULL), kl_val_path_str(c, "format", NULL),
                          (long long)kl_val_int(kl_val_get(c, "priority"))),
            0);
        if (i > 0)
            assert_int_equal(kl_buf_printf(&d, "%s%s", i > 1 ? "|" : "",
                                           kl_val_path_str(c, "description", NULL)),
                             0);
    }
    assert_string_equal(s.data, expected);
    if (descriptions)
        assert_string_equal(d.data ? d.data : "", descriptions);
    kl_obj_unref(cols);
    kl_buf_cleanup(&b);
    kl_buf_cleanup(&s);
    kl_buf_cleanup(&d);
}

/* ---- additionalPrinterColumns ----------------------------------------------------------- */

static const char widget_columns[] =
    "[{\"name\":\"Replicas\",\"type\":\"integer\",\"jsonPath\":\".spec.replicas\"},"
    "{\"name\":\"Ready\",\"type\":\"string\",\"description\":\"Readiness\","
    "\"jsonPath\":\".status.conditions[?(@.type==\\\"Ready\\\")].status\"},"
    "{\"name\":\"Phase\",\"type\":\"string\",\"priority\":1,\"jsonPath\":\".status.phase\"},"
    "{\"name\":\"Ratio\",\"type\":\"number\",\"format\":\"float\",\"jsonPath\":\".status.ratio\"},"
    "{\"name\":\"Enabled\",\"type\":\"boolean\",\"jsonPath\":\".spec.enabled\"},"
    "{\"name\":\"Age\",\"type\":\"date\",\"jsonPath\":\".metadata.creationTimestamp\"}]";

static void test_table_crd_columns_and_cells(void **state)
{
    kl_printer_t *p = custom(widget_columns);
    check_columns(p,
                  "Name:string:name:0|Replicas:integer::0|Ready:string::0|Phase:string::1|"
                  "Ratio:number:float:0|Enabled:boolean::0|Age:date::0",
                  "Custom resource definition column (in JSONPath format): .spec.replicas|"
                  "Readiness|"
                  "Custom resource definition column (in JSONPath format): .status.phase|"
                  "Custom resource definition column (in JSONPath format): .status.ratio|"
                  "Custom resource definition column (in JSONPath format): .spec.enabled|"
                  "Custom resource definition column (in JSONPath format): "
                  ".metadata.creationTimestamp");
    check_cells(p,
                "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":"
                "\"w1\",\"creationTimestamp\":\"2024-05-14T09:55:00Z\"},\"spec\":{\"replicas\":3,"
                "\"enabled\":true},\"status\":{\"phase\":\"Running\",\"ratio\":0.75,"
                "\"conditions\":[{\"type\":\"Synced\",\"status\":\"False\"},{\"type\":\"Ready\","
                "\"status\":\"True\"}]}}",
                "[\"w1\",3,\"True\",\"Running\",0.75,true,\"5m\"]");
    /* Missing values are null cells (kubectl prints <none>). */
    check_cells(p, "{\"metadata\":{\"name\":\"w2\"}}", "[\"w2\",null,null,null,null,null,null]");
    /* Typed columns convert as cellForJSONValue: integer truncates, number widens, and values
     * of the wrong type are null. */
    check_cells(p,
                "{\"metadata\":{\"name\":\"w3\",\"creationTimestamp\":\"\"},\"spec\":{\"replicas\":"
                "2.7,\"enabled\":\"yes\"},\"status\":{\"phase\":7,\"ratio\":3}}",
                "[\"w3\",2,null,\"7\",3,null,\"<unknown>\"]");
    kl_printer_free(p);
}

static void test_table_crd_default_columns(void **state)
{
    /* A CRD version without additionalPrinterColumns: Name and Age (a date column). */
    kl_printer_t *p = custom("[]");
    check_columns(p, "Name:string:name:0|Age:date::0", NULL);
    check_cells(p, "{\"metadata\":{\"name\":\"w\",\"creationTimestamp\":\"2024-05-14T09:55:00Z\"}}",
                "[\"w\",\"5m\"]");
    kl_printer_free(p);
}

typedef struct jp_case {
    const char *type, *path, *expected;
} jp_case_t;

static const char jp_object[] =
    "{\"metadata\":{\"name\":\"o\",\"labels\":{\"app.kubernetes.io/name\":\"widget\","
    "\"tier\":\"web\"}},"
    "\"spec\":{\"replicas\":3,\"enabled\":false,\"nothing\":null,"
    "\"items\":[{\"name\":\"a\",\"weight\":1,\"alias\":\"x\"},"
    "{\"name\":\"b\",\"weight\":7,\"alias\":\"b\"},"
    "{\"name\":\"c\",\"weight\":12,\"flag\":true,\"score\":0.5}],"
    "\"selector\":{\"matchLabels\":{\"z\":\"<x>\",\"a\":\"1\"}},"
    "\"big\":1234567.0,\"small\":0.00001,\"mid\":100000.0,\"half\":0.5,"
    "\"when\":\"2024-05-14T09:59:00Z\",\"never\":\"\",\"bad\":\"yesterday\",\"n\":5},"
    "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},"
    "{\"type\":\"Degraded\",\"status\":\"False\"}]}}";

static void test_table_crd_jsonpath(void **state)
{
    static const jp_case_t cases[] = {
        {"string", ".spec.items[0].name", "\"a\""},
        {"string", ".spec.items[-1].name", "\"c\""},
        {"string", ".spec.items[*].name", "\"a\""},
        {"string", ".spec.items.*.name", "\"a\""},
        {"string", ".spec.items[*].flag", "\"true\""},
        {"integer", ".spec.items[?(@.weight > 5)].weight", "7"},
        {"string", ".spec.items[5].name", "null"},
        {"string", ".spec.items[-4].name", "null"},
        {"string", ".spec.selector[0]", "null"},
        {"string", ".spec.selector[*]", "null"},
        {"string", ".metadata.labels['app.kubernetes.io/name']", "\"widget\""},
        {"string", ".metadata.labels[\"app.kubernetes.io/name\"]", "\"widget\""},
        {"string", ".metadata.labels.app\\.kubernetes\\.io/name", "\"widget\""},
        {"string", ".metadata.labels.*", "\"widget\""},
        {"string", "$.metadata.name", "\"o\""},
        {"string", ".status.conditions[?(@.type=='Ready')].status", "\"True\""},
        {"string", ".status.conditions[?(@.status != \"True\")].type", "\"Degraded\""},
        {"string", ".status.conditions[?(@.type==\"Missing\")].status", "null"},
        {"string", ".spec.items[?(@.weight > 5)].name", "\"b\""},
        {"string", ".spec.items[?(@.weight>=12)].name", "\"c\""},
        {"string", ".spec.items[?(@.weight<2)].name", "\"a\""},
        {"string", ".spec.items[?(@.weight<=1)].name", "\"a\""},
        {"string", ".spec.items[?(@.flag)].name", "\"c\""},
        {"string", ".spec.items[?(@.flag==true)].name", "\"c\""},
        {"string", ".spec.items[?(@.name==@.alias)].name", "\"b\""},
        {"string", ".spec.items[?(@.score==0.5)].name", "\"c\""},
        /* Comparing an integer with a float, or a string with a number, fails upstream. */
        {"string", ".spec.items[?(@.weight==1.5)].name", "null"},
        {"string", ".spec.items[?(@.name==1)].name", "null"},
        {"string", ".spec.items[?(@.flag<true)].name", "null"},
        {"string", ".spec.selector[?(@.a)]", "null"},
        /* Text of non-string values, as client-go's PrintResults. */
        {"string", ".spec.replicas", "\"3\""},
        {"string", ".spec.enabled", "\"false\""},
        {"string", ".spec.nothing", "\"<no value>\""},
        {"string", ".spec.big", "\"1.234567e+06\""},
        {"string", ".spec.small", "\"1e-05\""},
        {"string", ".spec.mid", "\"100000\""},
        {"string", ".spec.half", "\"0.5\""},
        {"string", ".spec.selector",
         "\"{\\\"matchLabels\\\":{\\\"a\\\":\\\"1\\\",\\\"z\\\":\\\"\\\\u003cx\\\\u003e\\\"}}\""},
        {"string", ".spec.items[0]",
         "\"{\\\"alias\\\":\\\"x\\\",\\\"name\\\":\\\"a\\\",\\\"weight\\\":1}\""},
        {"integer", ".spec.replicas", "3"},
        {"integer", "$.spec.big", "1234567"},
        {"integer", ".spec.nothing", "null"},
        {"integer", ".metadata.name", "null"},
        {"number", ".spec.n", "5"},
        {"number", ".spec.small", "0.00001"},
        {"boolean", ".spec.enabled", "false"},
        {"boolean", ".spec.items[2].flag", "true"},
        {"boolean", ".spec.n", "null"},
        {"date", ".spec.when", "\"60s\""},
        {"date", ".spec.never", "\"<unknown>\""},
        {"date", ".spec.bad", "\"<invalid>\""},
        {"date", ".spec.n", "null"},
        {"date", ".spec.missing", "null"},
        {"ipv4", ".spec.n", "null"},
    };
    kl_obj_t *o = parse_obj(jp_object);
    kl_buf_t cols, b;
    kl_buf_init(&cols, KL_BUF_DEFAULT_MAX);
    kl_buf_init(&b, KL_BUF_DEFAULT_MAX);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kl_buf_reset(&cols);
        kl_buf_reset(&b);
        assert_int_equal(
            kl_buf_printf(&cols, "[{\"name\":\"C\",\"type\":\"%s\",\"jsonPath\":", cases[i].type),
            0);
        assert_int_equal(kl_json_quote(&cols, cases[i].path, strlen(cases[i].path)), 0);
        assert_int_equal(kl_buf_puts(&cols, "}]"), 0);
        kl_printer_t *p = custom(cols.data);
        assert_int_equal(kl_printer_cells(p, kl_obj_root(o), NOW, &b), 0);
        char want[512];
        snprintf(want, sizeof(want), "[\"o\",%s]", cases[i].expected);
        if (strcmp(b.data, want) != 0)
            fail_msg("%s %s\n got: %s\nwant: %s", cases[i].type, cases[i].path, b.data, want);
        assert_int_equal(kl_printer_check_jsonpath(cases[i].path, NULL), 0);
        kl_printer_free(p);
    }
    kl_buf_cleanup(&cols);
    kl_buf_cleanup(&b);
    kl_obj_unref(o);
}

static void test_table_crd_jsonpath_errors(void **state)
{
    static const struct {
        const char *path;
        int rc;
    } cases[] = {
        {"..name", KL_EUNSUPPORTED},
        {".spec..name", KL_EUNSUPPORTED},
        {".spec.items[0:2]", KL_EUNSUPPORTED},
        {".spec.items[:2]", KL_EUNSUPPORTED},
        {".spec.items[0,1]", KL_EUNSUPPORTED},
        {".spec.items[?(@.name=~/a/)]", KL_EUNSUPPORTED},
        {".a .b", KL_EUNSUPPORTED},
        {"", KL_EINVAL},
        {"spec.replicas", KL_EINVAL},
        {".spec.items[", KL_EINVAL},
        {".spec.items[x]", KL_EINVAL},
        {".spec.items['x", KL_EINVAL},
        {".spec.items[?(@.name==)]", KL_EINVAL},
        {".spec.items[?(@.name=='a']", KL_EINVAL},
        {".spec.items[?@.name]", KL_EINVAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kl_errinfo_t err = {0};
        int rc = kl_printer_check_jsonpath(cases[i].path, &err);
        if (rc != cases[i].rc)
            fail_msg("%s: got %s, want %s", cases[i].path, kl_err_name(rc),
                     kl_err_name(cases[i].rc));
        assert_int_equal(err.code, cases[i].rc);
        assert_true(strlen(err.msg) > 0);
    }

    /* kl_printer_for reports the column's path error and leaves *out alone. */
    kl_json_t *cols = parse_tree("[{\"name\":\"X\",\"type\":\"string\",\"jsonPath\":\"..x\"}]");
    kl_printer_t *p = (kl_printer_t *)(uintptr_t)0x1;
    kl_errinfo_t err = {0};
    assert_int_equal(kl_printer_for("example.com", "Widget", cols, &p, &err), KL_EUNSUPPORTED);
    assert_ptr_equal(p, (kl_printer_t *)(uintptr_t)0x1);
    assert_non_null(strstr(err.msg, "..x"));
    kl_json_free(cols);

    static const char *const bad_shapes[] = {
        "{}",
        "[{\"type\":\"string\",\"jsonPath\":\".a\"}]",
        "[{\"name\":\"A\",\"jsonPath\":\".a\"}]",
        "[{\"name\":\"A\",\"type\":\"string\"}]",
        "[{\"name\":\"A\",\"type\":\"string\",\"jsonPath\":\".a\"},7]",
    };
    for (size_t i = 0; i < sizeof(bad_shapes) / sizeof(bad_shapes[0]); i++) {
        cols = parse_tree(bad_shapes[i]);
        assert_int_equal(kl_printer_for("", "", cols, &p, NULL), KL_EINVAL);
        kl_json_free(cols);
    }
}

static void test_table_crd_from_crd_object(void **state)
{
    kl_obj_t *crd = parse_obj(
        "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
        "\"metadata\":{\"name\":\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\","
        "\"names\":{\"kind\":\"Widget\",\"plural\":\"widgets\"},\"scope\":\"Namespaced\","
        "\"versions\":[{\"name\":\"v1beta1\",\"served\":true,\"storage\":false},"
        "{\"name\":\"v1\",\"served\":true,\"storage\":true,\"additionalPrinterColumns\":["
        "{\"name\":\"Size\",\"type\":\"integer\",\"jsonPath\":\".spec.size\",\"priority\":1},"
        "{\"name\":\"Age\",\"type\":\"date\",\"jsonPath\":\".metadata.creationTimestamp\"}]}]}}");
    kl_printer_t *p = NULL;
    assert_int_equal(kl_printer_for_crd(kl_obj_root(crd), "v1", &p, NULL), 0);
    check_columns(p, "Name:string:name:0|Size:integer::1|Age:date::0", NULL);
    check_cells(p,
                "{\"metadata\":{\"name\":\"big\",\"creationTimestamp\":\"2024-05-12T10:00:00Z\"},"
                "\"spec\":{\"size\":40}}",
                "[\"big\",40,\"2d\"]");
    kl_printer_free(p);
    assert_int_equal(kl_printer_for_crd(kl_obj_root(crd), "v1beta1", &p, NULL), 0);
    check_columns(p, "Name:string:name:0|Age:date::0", NULL);
    kl_printer_free(p);
    kl_errinfo_t err = {0};
    assert_int_equal(kl_printer_for_crd(kl_obj_root(crd), "v2", &p, &err), KL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "widgets.example.com"));
    kl_obj_unref(crd);
}

/* ---- Default printer -------------------------------------------------------------------- */

static void test_table_default_printer(void **state)
{
    kl_printer_t *p = NULL;
    assert_int_equal(
        kl_printer_for("apiextensions.k8s.io", "CustomResourceDefinition", NULL, &p, NULL), 0);
    assert_string_equal(kl_printer_name(p), "default");
    check_columns(p, "Name:string:name:0|Created At:date::0", NULL);
    /* The creation time in RFC 3339, UTC, whole seconds. */
    check_cells(p,
                "{\"metadata\":{\"name\":\"widgets.example.com\",\"creationTimestamp\":"
                "\"2024-05-14T09:55:00Z\"}}",
                "[\"widgets.example.com\",\"2024-05-14T09:55:00Z\"]");
    check_cells(p,
                "{\"metadata\":{\"name\":\"x\",\"creationTimestamp\":"
                "\"2024-05-14T09:55:00.75+02:00\"}}",
                "[\"x\",\"2024-05-14T07:55:00Z\"]");
    check_cells(p, "{\"metadata\":{\"name\":\"y\"}}", "[\"y\",\"0001-01-01T00:00:00Z\"]");
    check_cells(p, "{}", "[\"\",\"0001-01-01T00:00:00Z\"]");
    kl_printer_free(p);
}

static bool ends_with(const kl_buf_t *b, const char *suffix)
{
    size_t n = strlen(suffix);
    return b->len >= n && memcmp(b->data + b->len - n, suffix, n) == 0;
}

/* ---- Table envelope --------------------------------------------------------------------- */

static const char pod_a[] =
    "{\"metadata\":{\"name\":\"pi-wfz65\",\"namespace\":\"default\",\"labels\":{\"job-name\":"
    "\"pi\"},\"creationTimestamp\":\"2024-05-14T10:00:00Z\"},\"spec\":{\"nodeName\":\"node-1\","
    "\"containers\":[{\"name\":\"pi\"}]},\"status\":{\"phase\":\"Pending\"}}";
static const char pod_b[] =
    "{\"metadata\":{\"name\":\"web\",\"namespace\":\"prod\",\"creationTimestamp\":"
    "\"2024-05-14T09:55:00Z\"},\"spec\":{\"containers\":[{\"name\":\"w\"}]},\"status\":{"
    "\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"w\",\"ready\":true,"
    "\"restartCount\":0,\"state\":{\"running\":{}}}]}}";

static void test_table_envelope_list(void **state)
{
    kl_printer_t *p = NULL;
    assert_int_equal(kl_printer_for("", "Pod", NULL, &p, NULL), 0);
    kl_obj_t *a = parse_obj(pod_a), *bobj = parse_obj(pod_b);
    kl_val_t objs[] = {kl_obj_root(a), kl_obj_root(bobj)};
    kl_table_opts_t opts = {.resource_version = "1031",
                            .continue_token = "eyJ2IjoxfQ",
                            .remaining_item_count = 5,
                            .has_remaining_item_count = true,
                            .include_columns = true};
    kl_buf_t b;
    kl_buf_init(&b, KL_BUF_DEFAULT_MAX);
    assert_int_equal(kl_table_write(p, objs, 2, &opts, NOW, &b), 0);
    const char prefix[] = "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{"
                          "\"resourceVersion\":\"1031\",\"continue\":\"eyJ2IjoxfQ\","
                          "\"remainingItemCount\":5},\"columnDefinitions\":[{\"name\":\"Name\","
                          "\"type\":\"string\",\"format\":\"name\",\"description\":";
    assert_memory_equal(b.data, prefix, sizeof(prefix) - 1);

    kl_obj_t *t = parse_obj(b.data);
    kl_val_t root = kl_obj_root(t);
    assert_int_equal(kl_val_len(kl_val_get(root, "columnDefinitions")), 9);
    kl_val_t rows = kl_val_get(root, "rows");
    assert_int_equal(kl_val_len(rows), 2);
    kl_obj_t *want = parse_obj("[\"pi-wfz65\",\"0/1\",\"Pending\",\"0\",\"0s\",\"<none>\","
                               "\"node-1\",\"<none>\",\"<none>\"]");
    assert_true(kl_val_equal(kl_val_get(kl_val_at(rows, 0), "cells"), kl_obj_root(want)));
    kl_obj_unref(want);
    /* Each row's object is the item's metadata as a PartialObjectMetadata (for -A and
     * --show-labels). */
    kl_val_t obj1 = kl_val_get(kl_val_at(rows, 1), "object");
    assert_string_equal(kl_val_path_str(obj1, "kind", NULL), "PartialObjectMetadata");
    assert_string_equal(kl_val_path_str(obj1, "metadata", "namespace", NULL), "prod");
    assert_true(
        kl_val_equal(kl_val_get(obj1, "metadata"), kl_val_get(kl_obj_root(bobj), "metadata")));
    kl_obj_unref(t);

    /* Streaming produces the same bytes. */
    kl_buf_t s;
    kl_buf_init(&s, KL_BUF_DEFAULT_MAX);
    assert_int_equal(kl_table_begin(p, &opts, &s), 0);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(kl_table_row(p, objs[i], NOW, i, &s), 0);
    assert_int_equal(kl_table_end(p, 2, &s), 0);
    assert_string_equal(s.data, b.data);
    kl_buf_cleanup(&s);

    /* An empty list. */
    kl_buf_reset(&b);
    assert_int_equal(kl_table_write(p, NULL, 0, NULL, NOW, &b), 0);
    t = parse_obj(b.data);
    assert_int_equal(kl_val_len(kl_val_get(kl_obj_root(t), "metadata")), 0);
    assert_int_equal(kl_val_type(kl_val_get(kl_obj_root(t), "rows")), KL_TARRAY);
    assert_int_equal(kl_val_len(kl_val_get(kl_obj_root(t), "rows")), 0);
    kl_obj_unref(t);
    assert_true(ends_with(&b, "\"rows\":[]}"));

    kl_buf_cleanup(&b);
    kl_obj_unref(a);
    kl_obj_unref(bobj);
    kl_printer_free(p);
}

static void test_table_envelope_watch_event(void **state)
{
    /* After the first watch event the apiserver leaves the column definitions out. */
    kl_printer_t *p = NULL;
    assert_int_equal(kl_printer_for("", "Pod", NULL, &p, NULL), 0);
    kl_obj_t *a = parse_obj("{\"metadata\":{\"name\":\"x\"}}");
    kl_val_t obj = kl_obj_root(a);
    kl_table_opts_t opts = {.resource_version = "1003"};
    kl_buf_t b;
    kl_buf_init(&b, KL_BUF_DEFAULT_MAX);
    assert_int_equal(kl_buf_puts(&b, "{\"type\":\"MODIFIED\",\"object\":"), 0);
    assert_int_equal(kl_table_write(p, &obj, 1, &opts, NOW, &b), 0);
    assert_int_equal(kl_buf_puts(&b, "}\n"), 0);
    assert_string_equal(b.data,
                        "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Table\",\"apiVersion\":"
                        "\"meta.k8s.io/v1\",\"metadata\":{\"resourceVersion\":\"1003\"},"
                        "\"columnDefinitions\":null,\"rows\":[{\"cells\":[\"x\",\"0/0\",\"\",\"0\","
                        "\"<unknown>\",\"<none>\",\"<none>\",\"<none>\",\"<none>\"],\"object\":{"
                        "\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\","
                        "\"metadata\":{\"name\":\"x\"}}}]}}\n");
    kl_buf_cleanup(&b);
    kl_obj_unref(a);
    kl_printer_free(p);
}

static void test_table_envelope_default_and_missing_metadata(void **state)
{
    kl_printer_t *p = NULL;
    assert_int_equal(kl_printer_for("example.com", "Thing", NULL, &p, NULL), 0);
    kl_buf_t b;
    kl_buf_init(&b, KL_BUF_DEFAULT_MAX);
    /* The default convertor leaves an empty list's rows nil. */
    assert_int_equal(kl_table_write(p, NULL, 0, NULL, NOW, &b), 0);
    assert_true(ends_with(&b, "\"columnDefinitions\":[") == false);
    assert_true(ends_with(&b, "\"rows\":null}"));
    kl_buf_reset(&b);
    kl_obj_t *a = parse_obj("{\"kind\":\"Thing\"}");
    assert_int_equal(kl_printer_row(p, kl_obj_root(a), NOW, &b), 0);
    assert_string_equal(b.data, "{\"cells\":[\"\",\"0001-01-01T00:00:00Z\"],\"object\":{\"kind\":"
                                "\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\","
                                "\"metadata\":{}}}");
    kl_obj_unref(a);
    kl_buf_cleanup(&b);
    kl_printer_free(p);
}

static void test_table_envelope_ceiling(void **state)
{
    /* A full buffer fails with KL_ETOOBIG and keeps what it held. */
    kl_printer_t *p = NULL;
    assert_int_equal(kl_printer_for("", "Pod", NULL, &p, NULL), 0);
    kl_obj_t *a = parse_obj(pod_b);
    kl_val_t obj = kl_obj_root(a);
    for (size_t max = 8; max < 4096; max += 97) {
        kl_buf_t b;
        kl_buf_init(&b, max);
        assert_int_equal(kl_buf_puts(&b, "keep"), 0);
        int rc = kl_table_write(p, &obj, 1, NULL, NOW, &b);
        if (rc < 0) {
            assert_int_equal(rc, KL_ETOOBIG);
            assert_string_equal(b.data, "keep");
        }
        rc = kl_printer_row(p, obj, NOW, &b);
        if (rc < 0)
            assert_int_equal(b.len, strlen(b.data));
        kl_buf_cleanup(&b);
    }
    kl_obj_unref(a);
    kl_printer_free(p);
}

/* ---- Time helpers ----------------------------------------------------------------------- */

static void test_table_human_duration(void **state)
{
    static const struct {
        int64_t s;
        const char *want;
    } cases[] = {
        {-5, "<invalid>"},
        {-2, "<invalid>"},
        {-1, "0s"},
        {0, "0s"},
        {81, "81s"},
        {119, "119s"},
        {120, "2m"},
        {150, "2m30s"},
        {599, "9m59s"},
        {600, "10m"},
        {10799, "179m"},
        {10800, "3h"},
        {3 * 3600 + 4 * 60 + 59, "3h4m"},
        {8 * 3600 - 1, "7h59m"},
        {8 * 3600, "8h"},
        {47 * 3600 + 3599, "47h"},
        {48 * 3600, "2d"},
        {51 * 3600, "2d3h"},
        {8 * 86400 - 1, "7d23h"},
        {8 * 86400, "8d"},
        {400 * 86400, "400d"},
        {730 * 86400, "2y"},
        {740 * 86400, "2y10d"},
        {8 * 365 * 86400, "8y"},
        {30LL * 365 * 86400, "30y"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        kl__human_duration(cases[i].s, buf, sizeof(buf));
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("%lld: got %s, want %s", (long long)cases[i].s, buf, cases[i].want);
    }
    /* A fraction in the timestamp lowers a positive age by a second, as Go truncates. */
    char buf[32];
    kl__since(NOW, NOW - 45, 123000000, buf, sizeof(buf));
    assert_string_equal(buf, "44s");
    kl__since(NOW, NOW + 1, 500000000, buf, sizeof(buf));
    assert_string_equal(buf, "0s");
    kl__since(NOW, NOW + 3, 0, buf, sizeof(buf));
    assert_string_equal(buf, "<invalid>");
}

static void test_table_time_parse(void **state)
{
    static const struct {
        const char *s;
        int64_t sec;
        int32_t nsec;
    } ok[] = {
        {"2024-05-14T10:00:00Z", NOW, 0},
        {"2024-05-14T09:21:37.5+02:00", NOW - 38 * 60 - 23 - 7200, 500000000},
        {"2024-05-14T10:00:00.123456Z", NOW, 123456000},
        {"2024-05-14T10:00:00.123456789Z", NOW, 123456789},
        {"2024-05-14T10:00:00-05:30", NOW + 5 * 3600 + 1800, 0},
        {"1970-01-01T00:00:00Z", 0, 0},
        {"0001-01-01T00:00:00Z", -62135596800LL, 0},
        {"2024-02-29T00:00:00Z", 1709164800, 0},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t sec = 0;
        int32_t nsec = 0;
        if (kl__time_parse(ok[i].s, strlen(ok[i].s), &sec, &nsec) < 0)
            fail_msg("%s did not parse", ok[i].s);
        assert_int_equal(sec, ok[i].sec);
        assert_int_equal(nsec, ok[i].nsec);
    }
    static const char *const bad[] = {
        "",
        "2024-05-14",
        "2024-05-14 10:00:00Z",
        "2024-05-14T10:00:00",
        "2024-05-14T10:00:00z",
        "2024-13-14T10:00:00Z",
        "2023-02-29T10:00:00Z",
        "2024-05-14T24:00:00Z",
        "2024-05-14T10:00:00.Z",
        "2024-05-14T10:00:00+0200",
        "2024-05-14T10:00:00Zjunk",
        "yesterday",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t sec;
        int32_t nsec;
        if (kl__time_parse(bad[i], strlen(bad[i]), &sec, &nsec) != KL_ESYNTAX)
            fail_msg("%s parsed", bad[i]);
    }
    char out[32];
    kl__time_format(NOW, out);
    assert_string_equal(out, "2024-05-14T10:00:00Z");
    kl__time_format(-62135596800LL, out);
    assert_string_equal(out, "0001-01-01T00:00:00Z");
    kl__time_format(1709164800 + 86399, out);
    assert_string_equal(out, "2024-02-29T23:59:59Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_crd_columns_and_cells),
        cmocka_unit_test(test_table_crd_default_columns),
        cmocka_unit_test(test_table_crd_jsonpath),
        cmocka_unit_test(test_table_crd_jsonpath_errors),
        cmocka_unit_test(test_table_crd_from_crd_object),
        cmocka_unit_test(test_table_default_printer),
        cmocka_unit_test(test_table_envelope_list),
        cmocka_unit_test(test_table_envelope_watch_event),
        cmocka_unit_test(test_table_envelope_default_and_missing_metadata),
        cmocka_unit_test(test_table_envelope_ceiling),
        cmocka_unit_test(test_table_human_duration),
        cmocka_unit_test(test_table_time_parse),
    };
    return cmocka_run_group_tests_name("apiserver_table_crd", tests, NULL, NULL);
}
