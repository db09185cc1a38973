/* managedFields of creates, updates and non-apply patches (kl_mf_update), field sets and
 * comparisons over the built-in schemas, scale, capping and no-op writes. */
#include "kubelua/json.h"
#include "kubelua/schema.h"

#include "apiserver/managed.h"
#include "unit/apiserver_managed_test_util.h"
#include "unit/test_util.h"

static const kl_stype_t *deploy(void)
{
    const kl_stype_t *t = kl_schema_for_kind("apps", "v1", "Deployment");
    assert_non_null(t);
    return t;
}

#define DEPLOY                                                                                     \
    "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'web','namespace':'default',"  \
    "'uid':'u1','labels':{'app':'web'}},'spec':{'replicas':2,'selector':{'matchLabels':{'app':"    \
    "'web'}},'template':{'metadata':{'labels':{'app':'web'}},'spec':{'containers':[{'name':"       \
    "'nginx','image':'nginx:1','ports':[{'containerPort':80,'protocol':'TCP'}],'env':[{'name':"    \
    "'A','value':'1'}],'resources':{}}],'tolerations':[{'key':'k','operator':'Exists'}]}}},"       \
    "'status':{'replicas':2}}"

static void test_fieldset(void **state)
{
    (void)state;
    kl_arena_t a;
    kl_arena_init(&a);
    kl_json_t *obj = mt_json(DEPLOY);
    kl_fset_t *s;
    assert_int_equal(kl_mf_fieldset(&a, obj, deploy(), KL_MF_NO_STATUS, &s), 0);
    kl_json_t *j = kl_fset_to_json(s);
    /* Leaves, keyed items (ports with both keys), the atomic selector and tolerations as one
     * field each, the empty resources owned as such, no status. */
    mt_assert_json(
        j, "{'f:apiVersion':{},'f:kind':{},'f:metadata':{'f:labels':{'f:app':{}},'f:name':{},"
           "'f:namespace':{},'f:uid':{}},'f:spec':{'f:replicas':{},'f:selector':{},'f:template':{"
           "'f:metadata':{'f:labels':{'f:app':{}}},'f:spec':{'f:containers':{'k:{\\'name\\':"
           "\\'nginx\\'}':{'.':{},'f:env':{'k:{\\'name\\':\\'A\\'}':{'.':{},'f:name':{},'f:value':"
           "{}}},'f:image':{},'f:name':{},'f:ports':{'k:{\\'containerPort\\':80,\\'protocol\\':"
           "\\'TCP\\'}':{'.':{},'f:containerPort':{},'f:protocol':{}}},'f:resources':{}}},"
           "'f:tolerations':{}}}}}");
    kl_json_free(j);
    /* The status subresource owns only status. */
    assert_int_equal(kl_mf_fieldset(&a, obj, deploy(), KL_MF_STATUS_ONLY, &s), 0);
    j = kl_fset_to_json(s);
    mt_assert_json(j, "{'f:status':{'f:replicas':{}}}");
    kl_json_free(j);
    /* A port without protocol has the default key TCP. */
    kl_json_t *p = mt_json("{'spec':{'template':{'spec':{'containers':[{'name':'c','ports':[{"
                           "'containerPort':8080}]}]}}}}");
    assert_int_equal(kl_mf_fieldset(&a, p, deploy(), KL_MF_ALL, &s), 0);
    j = kl_fset_to_json(s);
    mt_assert_json(j, "{'f:spec':{'f:template':{'f:spec':{'f:containers':{'k:{\\'name\\':\\'c\\'}"
                      "':{'.':{},'f:name':{},'f:ports':{'k:{\\'containerPort\\':8080,\\'protocol\\'"
                      ":\\'TCP\\'}':{'.':{},'f:containerPort':{}}}}}}}}}");
    kl_json_free(j);
    kl_json_free(p);
    /* Untyped: objects are granular, lists atomic, undeclared fields owned as such. */
    kl_json_t *u = mt_json("{'spec':{'a':{'b':1},'l':[1,2],'e':{}}}");
    assert_int_equal(kl_mf_fieldset(&a, u, NULL, KL_MF_ALL, &s), 0);
    j = kl_fset_to_json(s);
    mt_assert_json(j, "{'f:spec':{'.':{},'f:a':{'.':{},'f:b':{}},'f:e':{},'f:l':{}}}");
    kl_json_free(j);
    kl_json_free(u);
    kl_json_free(obj);
    kl_arena_cleanup(&a);
}

static void test_compare(void **state)
{
    (void)state;
    kl_arena_t a;
    kl_arena_init(&a);
    kl_json_t *o = mt_json(DEPLOY);
    kl_json_t *n = mt_json(DEPLOY);
    kl_json_t *spec = kl_json_get(n, "spec");
    assert_int_equal(kl_json_set_int(spec, "replicas", 3), 0);
    kl_json_t *c0 = kl_json_path(spec, "template", "spec", "containers", NULL)->u.items[0];
    assert_int_equal(kl_json_append(kl_json_get(c0, "env"), mt_json("{'name':'B','value':'2'}")),
                     0);
    kl_json_del(c0, "ports");
    kl_json_del(kl_json_path(spec, "template", "spec", NULL), "tolerations");
    kl_fset_t *ad, *mo, *re;
    assert_int_equal(kl_mf_compare(&a, o, n, deploy(), KL_MF_NO_STATUS, &ad, &mo, &re), 0);
    kl_json_t *j = kl_fset_to_json(ad);
    mt_assert_json(j, "{'f:spec':{'f:template':{'f:spec':{'f:containers':{'k:{\\'name\\':"
                      "\\'nginx\\'}':{'f:env':{'k:{\\'name\\':\\'B\\'}':{'.':{},'f:name':{},"
                      "'f:value':{}}}}}}}}}");
    kl_json_free(j);
    j = kl_fset_to_json(mo);
    mt_assert_json(j, "{'f:spec':{'f:replicas':{}}}");
    kl_json_free(j);
    j = kl_fset_to_json(re);
    mt_assert_json(j, "{'f:spec':{'f:template':{'f:spec':{'f:containers':{'k:{\\'name\\':"
                      "\\'nginx\\'}':{'f:ports':{'.':{},'k:{\\'containerPort\\':80,\\'protocol\\':"
                      "\\'TCP\\'}':{'.':{},'f:containerPort':{},'f:protocol':{}}}}},"
                      "'f:tolerations':{}}}}}");
    kl_json_free(j);
    /* Equal objects: nothing. */
    assert_int_equal(kl_mf_compare(&a, o, o, deploy(), KL_MF_NO_STATUS, &ad, &mo, &re), 0);
    assert_null(ad);
    assert_null(mo);
    assert_null(re);
    kl_json_free(o);
    kl_json_free(n);
    kl_arena_cleanup(&a);
}

static void test_create(void **state)
{
    (void)state;
    kl_json_t *obj = mt_json(DEPLOY);
    kl_json_del(obj, "status");
    kl_mf_op_t op = mt_op("kubectl-create", deploy(), "apps/v1");
    assert_int_equal(kl_mf_update(&op, NULL, obj, NULL), 0);
    const kl_json_t *e = mt_entry(obj, "kubectl-create", "Update", "");
    assert_non_null(e);
    mt_assert_json(e, "{'manager':'kubectl-create','operation':'Update','apiVersion':'apps/v1',"
                      "'time':'2026-01-02T03:04:05Z','fieldsType':'FieldsV1','fieldsV1':{"
                      "'f:metadata':{'f:labels':{'.':{},'f:app':{}}},'f:spec':{'f:replicas':{},"
                      "'f:selector':{},'f:template':{'f:metadata':{'f:labels':{'.':{},'f:app':{}}},"
                      "'f:spec':{'f:containers':{'k:{\\'name\\':\\'nginx\\'}':{'.':{},"
                      "'f:env':{'.':{},'k:{\\'name\\':\\'A\\'}':{'.':{},'f:name':{},'f:value':{}}},"
                      "'f:image':{},'f:name':{},'f:ports':{'.':{},'k:{\\'containerPort\\':80,"
                      "\\'protocol\\':\\'TCP\\'}':{'.':{},'f:containerPort':{},'f:protocol':{}}},"
                      "'f:resources':{}}},'f:tolerations':{}}}}}}");
    /* Nothing of what the server sets is owned, and no manager: no entry at all. */
    kl_json_t *bare = mt_json("{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'x'}}");
    op = mt_op("", kl_schema_for_kind("", "v1", "ConfigMap"), "v1");
    assert_int_equal(kl_mf_update(&op, NULL, bare, NULL), 0);
    assert_null(kl_json_path(bare, "metadata", "managedFields", NULL));
    kl_json_free(bare);
    kl_json_free(obj);
}

static void test_update_takes_over(void **state)
{
    (void)state;
    kl_json_t *old = mt_json(DEPLOY);
    kl_mf_op_t op = mt_op("creator", deploy(), "apps/v1");
    assert_int_equal(kl_mf_update(&op, NULL, old, NULL), 0);
    /* A second manager changes replicas and adds a label: it owns those, the creator loses
     * replicas. The request does not send managedFields (as our client): the stored ones are
     * used. */
    kl_json_t *next = kl_json_dup(old);
    kl_json_del(kl_json_get(next, "metadata"), "managedFields");
    assert_int_equal(kl_json_set_int(kl_json_get(next, "spec"), "replicas", 5), 0);
    assert_int_equal(kl_json_set_str(kl_json_path(next, "metadata", "labels", NULL), "tier", "x"),
                     0);
    op = mt_op("kubectl-edit", deploy(), "apps/v1");
    op.now = "2026-01-02T04:00:00Z";
    assert_int_equal(kl_mf_update(&op, old, next, NULL), 0);
    mt_assert_managers(next, "creator:Update,kubectl-edit:Update");
    mt_assert_fields(next, "kubectl-edit", "Update",
                     "{'f:metadata':{'f:labels':{'f:tier':{}}},'f:spec':{'f:replicas':{}}}");
    const kl_json_t *c = kl_json_get(mt_entry(next, "creator", "Update", ""), "fieldsV1");
    assert_null(kl_json_path(c, "f:spec", "f:replicas", NULL));
    assert_non_null(kl_json_path(c, "f:spec", "f:selector", NULL));
    /* The untouched entry keeps its time. */
    assert_string_equal(kl_json_str(kl_json_get(mt_entry(next, "creator", "Update", ""), "time")),
                        "2026-01-02T03:04:05Z");

    /* The same manager again, removing the label it added: it keeps replicas only. */
    kl_json_t *third = kl_json_dup(next);
    kl_json_del(kl_json_path(third, "metadata", "labels", NULL), "tier");
    assert_int_equal(kl_mf_update(&op, next, third, NULL), 0);
    mt_assert_fields(third, "kubectl-edit", "Update", "{'f:spec':{'f:replicas':{}}}");

    /* A change that removes the only field of a manager drops the manager. */
    kl_json_t *fourth = kl_json_dup(third);
    kl_json_del(kl_json_get(fourth, "spec"), "replicas");
    op = mt_op("other", deploy(), "apps/v1");
    assert_int_equal(kl_mf_update(&op, third, fourth, NULL), 0);
    mt_assert_managers(fourth, "creator:Update");

    /* No change: the entries stay as they were. */
    kl_json_t *same = kl_json_dup(fourth);
    assert_int_equal(kl_mf_update(&op, fourth, same, NULL), 0);
    assert_true(kl_json_equal(same, fourth));

    kl_json_free(old);
    kl_json_free(next);
    kl_json_free(third);
    kl_json_free(fourth);
    kl_json_free(same);
}

static void test_sent_entries(void **state)
{
    (void)state;
    kl_json_t *old = mt_json(DEPLOY);
    kl_mf_op_t op = mt_op("creator", deploy(), "apps/v1");
    assert_int_equal(kl_mf_update(&op, NULL, old, NULL), 0);

    /* [] resets: only the writer's own change is recorded (here nothing changed). */
    kl_json_t *next = kl_json_dup(old);
    assert_int_equal(kl_json_set(kl_json_get(next, "metadata"), "managedFields", kl_json_array()),
                     0);
    op = mt_op("resetter", deploy(), "apps/v1");
    assert_int_equal(kl_mf_update(&op, old, next, NULL), 0);
    assert_null(kl_json_path(next, "metadata", "managedFields", NULL));
    kl_json_free(next);

    /* Entries a client writes (kubectl's migration to server-side apply does) are taken, in
     * canonical form. */
    next = kl_json_dup(old);
    assert_int_equal(
        kl_json_set(kl_json_get(next, "metadata"), "managedFields",
                    mt_json("[{'manager':'kubectl','operation':'Apply','apiVersion':'apps/v1',"
                            "'fieldsType':'FieldsV1','fieldsV1':{'f:spec':{'f:template':{'f:spec'"
                            ":{'f:containers':{'k:{\\'name\\': \\'nginx\\'}':{'.':{}}}}}}}}]")),
        0);
    assert_int_equal(kl_mf_update(&op, old, next, NULL), 0);
    mt_assert_managers(next, "kubectl:Apply");
    mt_assert_fields(next, "kubectl", "Apply",
                     "{'f:spec':{'f:template':{'f:spec':{'f:containers':{'k:{\\'name\\':"
                     "\\'nginx\\'}':{}}}}}}");
    kl_json_free(next);

    /* Invalid entries are ignored: the stored ones stay. */
    next = kl_json_dup(old);
    assert_int_equal(kl_json_set(kl_json_get(next, "metadata"), "managedFields",
                                 mt_json("[{'manager':'x','operation':'Bogus','apiVersion':'v1',"
                                         "'fieldsType':'FieldsV1','fieldsV1':{}}]")),
                     0);
    assert_int_equal(kl_mf_update(&op, old, next, NULL), 0);
    mt_assert_managers(next, "creator:Update");
    kl_json_free(next);

    /* A subresource write cannot touch managedFields. */
    next = kl_json_dup(old);
    assert_int_equal(kl_json_set(kl_json_get(next, "metadata"), "managedFields", kl_json_array()),
                     0);
    assert_int_equal(kl_json_set_int(kl_json_get(next, "status"), "replicas", 3), 0);
    op = mt_op("ctrl", deploy(), "apps/v1");
    op.subresource = "status";
    op.scope = KL_MF_STATUS_ONLY;
    assert_int_equal(kl_mf_update(&op, old, next, NULL), 0);
    mt_assert_managers(next, "creator:Update,ctrl:Update:status");
    mt_assert_json(kl_json_get(mt_entry(next, "ctrl", "Update", "status"), "fieldsV1"),
                   "{'f:status':{'f:replicas':{}}}");
    kl_json_free(next);
    kl_json_free(old);
}

static void test_scale_and_cap(void **state)
{
    (void)state;
    kl_json_t *obj = mt_json(DEPLOY);
    kl_mf_op_t op = mt_op("creator", deploy(), "apps/v1");
    assert_int_equal(kl_mf_update(&op, NULL, obj, NULL), 0);
    op = mt_op("kubectl", deploy(), "apps/v1");
    op.subresource = "scale";
    assert_int_equal(kl_mf_scale(&op, obj, NULL), 0);
    mt_assert_managers(obj, "creator:Update,kubectl:Update:scale");
    mt_assert_json(kl_json_get(mt_entry(obj, "kubectl", "Update", "scale"), "fieldsV1"),
                   "{'f:spec':{'f:replicas':{}}}");
    assert_null(kl_json_path(mt_entry(obj, "creator", "Update", ""), "fieldsV1", "f:spec",
                             "f:replicas", NULL));

    /* Twelve more managers, each adding a label at a later time: the two oldest Update entries
     * beyond ten are merged into ancient-changes. */
    for (int i = 0; i < 12; i++) {
        kl_json_t *next = kl_json_dup(obj);
        char name[32], when[32], label[32];
        snprintf(name, sizeof(name), "m%02d", i);
        snprintf(when, sizeof(when), "2026-01-02T05:00:%02dZ", i);
        snprintf(label, sizeof(label), "l%02d", i);
        assert_int_equal(
            kl_json_set_str(kl_json_path(next, "metadata", "labels", NULL), label, "v"), 0);
        op = mt_op(name, deploy(), "apps/v1");
        op.now = when;
        assert_int_equal(kl_mf_update(&op, obj, next, NULL), 0);
        kl_json_free(obj);
        obj = next;
    }
    mt_assert_managers(obj, "ancient-changes:Update,m03:Update,m04:Update,m05:Update,m06:Update,"
                            "m07:Update,m08:Update,m09:Update,m10:Update,m11:Update");
    const kl_json_t *anc = kl_json_get(mt_entry(obj, "ancient-changes", "Update", ""), "fieldsV1");
    assert_non_null(kl_json_path(anc, "f:metadata", "f:labels", "f:l02", NULL));
    assert_non_null(kl_json_path(anc, "f:spec", "f:selector", NULL));
    kl_json_free(obj);
}

static void test_keep_times(void **state)
{
    (void)state;
    kl_json_t *old = mt_json("{'metadata':{'name':'x','managedFields':[{'manager':'a','operation':"
                             "'Apply','apiVersion':'v1','time':'T1','fieldsType':'FieldsV1',"
                             "'fieldsV1':{'f:data':{}}}]},'data':{'k':'v'}}");
    kl_json_t *next = kl_json_dup(old);
    kl_json_t *e = kl_json_path(next, "metadata", "managedFields", NULL)->u.items[0];
    assert_int_equal(kl_json_set_str(e, "time", "T2"), 0);
    kl_mf_keep_times(old, next);
    assert_true(kl_json_equal(old, next));
    /* With another change the new time stands. */
    e = kl_json_path(next, "metadata", "managedFields", NULL)->u.items[0];
    assert_int_equal(kl_json_set_str(e, "time", "T2"), 0);
    assert_int_equal(kl_json_set_str(kl_json_get(next, "data"), "k", "w"), 0);
    kl_mf_keep_times(old, next);
    e = kl_json_path(next, "metadata", "managedFields", NULL)->u.items[0];
    assert_string_equal(kl_json_str(kl_json_get(e, "time")), "T2");
    kl_json_free(old);
    kl_json_free(next);
}

static void test_default_manager(void **state)
{
    (void)state;
    char buf[200];
    const char *ua = "kubectl/v1.32.4 (linux/amd64) kubernetes/9894294";
    assert_string_equal(kl_mf_default_manager(ua, strlen(ua), buf, sizeof(buf)), "kubectl");
    ua = "kubectl.1.32/v1.32.5";
    assert_string_equal(kl_mf_default_manager(ua, strlen(ua), buf, sizeof(buf)), "kubectl.1.32");
    assert_string_equal(kl_mf_default_manager(NULL, 0, buf, sizeof(buf)), "");
    ua = "a\tb\x01"
         "c";
    assert_string_equal(kl_mf_default_manager(ua, strlen(ua), buf, sizeof(buf)), "abc");
    char longua[300];
    memset(longua, 'x', sizeof(longua));
    assert_int_equal(strlen(kl_mf_default_manager(longua, sizeof(longua), buf, sizeof(buf))), 128);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fieldset),     cmocka_unit_test(test_compare),
        cmocka_unit_test(test_create),       cmocka_unit_test(test_update_takes_over),
        cmocka_unit_test(test_sent_entries), cmocka_unit_test(test_scale_and_cap),
        cmocka_unit_test(test_keep_times),   cmocka_unit_test(test_default_manager),
    };
    return cmocka_run_group_tests_name("apiserver_managed_update", tests, NULL, NULL);
}
