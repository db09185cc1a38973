/* Helpers shared by the apiserver_managed_*_test.c files (header only, not a test). */
#ifndef KL_TEST_APISERVER_MANAGED_UTIL_H
#define KL_TEST_APISERVER_MANAGED_UTIL_H

#include "kubelua/json.h"
#include "kubelua/schema.h"

#include "apiserver/managed.h"
#include "unit/test_util.h"

/* Parses JSON with single quotes standing for double quotes, to keep the tests readable. */
static inline kl_json_t *mt_json(const char *text)
{
    char *t = strdup(text);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    kl_json_t *j = NULL;
    kl_errinfo_t err;
    if (kl_json_parse(t, strlen(t), NULL, &j, &err) < 0)
        fail_msg("bad test JSON %s: %s", text, err.msg);
    free(t);
    return j;
}

/* The encoding of v with double quotes turned into single ones; free it. */
static inline char *mt_text(const kl_json_t *v)
{
    char *s = kl_json_encode_alloc(v, NULL);
    for (char *p = s; *p; p++)
        if (*p == '"')
            *p = '\'';
    return s;
}

static inline void mt_assert_json(const kl_json_t *v, const char *want)
{
    char *s = mt_text(v);
    if (strcmp(s, want) != 0)
        fail_msg("\n got: %s\nwant: %s", s, want);
    free(s);
}

/* The entry of manager (with operation op and subresource sub, "" for none) or NULL. */
static inline const kl_json_t *mt_entry(const kl_json_t *obj, const char *manager, const char *op,
                                        const char *sub)
{
    const kl_json_t *mf = kl_json_path(obj, "metadata", "managedFields", NULL);
    for (uint32_t i = 0; mf != NULL && i < mf->len; i++) {
        const kl_json_t *e = mf->u.items[i];
        const char *m = kl_json_str(kl_json_get(e, "manager"));
        const char *o = kl_json_str(kl_json_get(e, "operation"));
        const char *s = kl_json_str(kl_json_get(e, "subresource"));
        if (strcmp(m ? m : "", manager) == 0 && strcmp(o, op) == 0 && strcmp(s ? s : "", sub) == 0)
            return e;
    }
    return NULL;
}

static inline void mt_assert_fields(const kl_json_t *obj, const char *manager, const char *op,
                                    const char *want)
{
    const kl_json_t *e = mt_entry(obj, manager, op, "");
    if (e == NULL)
        fail_msg("no %s entry for %s", op, manager);
    mt_assert_json(kl_json_get(e, "fieldsV1"), want);
}

/* "manager:Op[:sub],..." in the stored order. */
static inline char *mt_managers(const kl_json_t *obj)
{
    kl_buf_t b;
    kl_buf_init(&b, 0);
    const kl_json_t *mf = kl_json_path(obj, "metadata", "managedFields", NULL);
    for (uint32_t i = 0; mf != NULL && i < mf->len; i++) {
        const kl_json_t *e = mf->u.items[i];
        const char *m = kl_json_str(kl_json_get(e, "manager"));
        const char *s = kl_json_str(kl_json_get(e, "subresource"));
        assert_int_equal(kl_buf_printf(&b, "%s%s:%s%s%s", i ? "," : "", m ? m : "",
                                       kl_json_str(kl_json_get(e, "operation")), s ? ":" : "",
                                       s ? s : ""),
                         0);
    }
    assert_int_equal(kl_buf_putc(&b, '\0'), 0);
    return kl_buf_take(&b, NULL);
}

static inline void mt_assert_managers(const kl_json_t *obj, const char *want)
{
    char *got = mt_managers(obj);
    if (strcmp(got, want) != 0)
        fail_msg("\n got: %s\nwant: %s", got, want);
    free(got);
}

static inline kl_mf_op_t mt_op(const char *manager, const kl_stype_t *t, const char *api_version)
{
    return (kl_mf_op_t){.manager = manager,
                        .api_version = api_version,
                        .type = t,
                        .scope = KL_MF_NO_STATUS,
                        .now = "2026-01-02T03:04:05Z"};
}

#endif
