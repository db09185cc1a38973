/* Server-side apply with field ownership (kl_mf_apply): Apply entries, removal of fields an
 * applier stopped applying, conflicts and their wording, force, shared ownership, associative
 * lists, the client-side apply upgrade, the status subresource. */
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

#define HEAD "'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'web'"
#define TMPL(containers)                                                                           \
    "'selector':{'matchLabels':{'app':'web'}},'template':{'metadata':{'labels':{'app':'web'}},"    \
    "'spec':{'containers':[" containers "]}}"
#define NGINX "{'name':'nginx','image':'nginx:1'}"
#define SIDE "{'name':'side','image':'busybox'}"

/* Applies config (single-quoted JSON) as manager onto *obj, replacing it; returns the code. */
static int apply(kl_json_t **obj, const char *manager, const char *config, bool force,
                 kl_mf_conflicts_t *c)
{
    kl_json_t *cfg = mt_json(config);
    kl_mf_op_t op = mt_op(manager, deploy(), "apps/v1");
    kl_json_t *out = NULL;
    kl_mf_conflicts_t local;
    kl_errinfo_t err;
    int rc = kl_mf_apply(&op, *obj, cfg, force, &out, c ? c : &local, &err);
    kl_json_free(cfg);
    if (rc == 0) {
        kl_json_free(*obj);
        *obj = out;
    }
    if (c == NULL)
        kl_mf_conflicts_cleanup(&local);
    return rc;
}

static void must_apply(kl_json_t **obj, const char *manager, const char *config, bool force)
{
    kl_mf_conflicts_t c;
    int rc = apply(obj, manager, config, force, &c);
    if (rc != 0)
        fail_msg("apply by %s: %d %s", manager, rc, c.message ? c.message : "");
}

/* An update by manager from *obj to the JSON next (stored managedFields kept). */
static void update(kl_json_t **obj, const char *manager, const char *next)
{
    kl_json_t *n = mt_json(next);
    kl_json_t *mf = kl_json_path(*obj, "metadata", "managedFields", NULL);
    if (mf != NULL)
        assert_int_equal(
            kl_json_set(kl_json_ensure_object(n, "metadata"), "managedFields", kl_json_dup(mf)), 0);
    kl_mf_op_t op = mt_op(manager, deploy(), "apps/v1");
    assert_int_equal(kl_mf_update(&op, *obj, n, NULL), 0);
    kl_json_free(*obj);
    *obj = n;
}

static void test_create_and_prune(void **state)
{
    (void)state;
    kl_json_t *obj = NULL;
    must_apply(&obj, "kubectl",
               "{" HEAD
               ",'labels':{'a':'1','b':'2'}},'spec':{'replicas':2," TMPL(NGINX "," SIDE) "}}",
               false);
    mt_assert_managers(obj, "kubectl:Apply");
    mt_assert_fields(obj, "kubectl", "Apply",
                     "{'f:metadata':{'f:labels':{'f:a':{},'f:b':{}}},'f:spec':{'f:replicas':{},"
                     "'f:selector':{},'f:template':{'f:metadata':{'f:labels':{'f:app':{}}},"
                     "'f:spec':{'f:containers':{'k:{\\'name\\':\\'nginx\\'}':{'.':{},'f:image':{},"
                     "'f:name':{}},'k:{\\'name\\':\\'side\\'}':{'.':{},'f:image':{},'f:name':{}}}}}"
                     "}}");
    assert_non_null(mt_entry(obj, "kubectl", "Apply", ""));
    assert_null(kl_json_get(mt_entry(obj, "kubectl", "Apply", ""), "subresource"));

    /* Dropping a label, replicas and a container removes them from the object. */
    must_apply(&obj, "kubectl", "{" HEAD ",'labels':{'a':'1'}},'spec':{" TMPL(NGINX) "}}", false);
    mt_assert_json(kl_json_path(obj, "metadata", "labels", NULL), "{'a':'1'}");
    assert_null(kl_json_path(obj, "spec", "replicas", NULL));
    assert_int_equal(kl_json_path(obj, "spec", "template", "spec", "containers", NULL)->len, 1);

    /* Dropping the last label removes the map. */
    must_apply(&obj, "kubectl", "{" HEAD "},'spec':{" TMPL(NGINX) "}}", false);
    assert_null(kl_json_path(obj, "metadata", "labels", NULL));
    assert_string_equal(kl_json_path_str(obj, "metadata", "name", NULL), "web");
    kl_json_free(obj);
}

static void test_conflicts(void **state)
{
    (void)state;
    kl_json_t *obj = NULL;
    must_apply(&obj, "kubectl", "{" HEAD "},'spec':{'replicas':2," TMPL(NGINX) "}}", false);

    /* Another applier setting a different value: a conflict naming the Apply manager. */
    kl_mf_conflicts_t c;
    assert_int_equal(apply(&obj, "other", "{" HEAD "},'spec':{'replicas':3}}", false, &c),
                     KL_ECONFLICT);
    assert_string_equal(c.message,
                        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas");
    assert_string_equal(c.causes, "[{\"type\":\"FieldManagerConflict\",\"message\":\"conflict "
                                  "with \\\"kubectl\\\"\",\"field\":\".spec.replicas\"}]");
    kl_mf_conflicts_cleanup(&c);
    assert_int_equal(kl_json_int_or(kl_json_path(obj, "spec", "replicas", NULL), 0), 2);

    /* The same value is shared ownership, no conflict. */
    must_apply(&obj, "other", "{" HEAD "},'spec':{'replicas':2}}", false);
    mt_assert_managers(obj, "kubectl:Apply,other:Apply");
    mt_assert_fields(obj, "other", "Apply", "{'f:spec':{'f:replicas':{}}}");
    /* Now the first applier drops replicas: the other still owns it, so it stays. */
    must_apply(&obj, "kubectl", "{" HEAD "},'spec':{" TMPL(NGINX) "}}", false);
    assert_int_equal(kl_json_int_or(kl_json_path(obj, "spec", "replicas", NULL), 0), 2);

    /* An Update manager (kubectl scale, edit...) takes the field; the applier's next change of
     * it conflicts with "<manager>" using <apiVersion>; force takes it back. */
    update(&obj, "kubectl-edit",
           "{" HEAD "},'spec':{'replicas':5," TMPL("{'name':'nginx','image':'nginx:2'}") "}}");
    assert_int_equal(
        apply(&obj, "kubectl",
              "{" HEAD "},'spec':{'replicas':7," TMPL("{'name':'nginx','image':'nginx:3'}") "}}",
              false, &c),
        KL_ECONFLICT);
    assert_string_equal(c.message, "Apply failed with 2 conflicts: conflicts with \"kubectl-edit\" "
                                   "using apps/v1:\n- .spec.replicas\n"
                                   "- .spec.template.spec.containers[name=\"nginx\"].image");
    kl_mf_conflicts_cleanup(&c);
    must_apply(&obj, "kubectl",
               "{" HEAD "},'spec':{'replicas':7," TMPL("{'name':'nginx','image':'nginx:3'}") "}}",
               true);
    assert_int_equal(kl_json_int_or(kl_json_path(obj, "spec", "replicas", NULL), 0), 7);
    assert_null(mt_entry(obj, "kubectl-edit", "Update", ""));
    /* other lost replicas to the forced change too. */
    assert_null(mt_entry(obj, "other", "Apply", ""));

    /* Conflicts with several managers are listed by manager. */
    update(&obj, "b-mgr", "{" HEAD "},'spec':{'replicas':8," TMPL(NGINX) "}}");
    update(&obj, "a-mgr", "{" HEAD ",'labels':{'x':'1'}},'spec':{'replicas':8," TMPL(NGINX) "}}");
    assert_int_equal(
        apply(&obj, "third", "{" HEAD ",'labels':{'x':'2'}},'spec':{'replicas':9}}", false, &c),
        KL_ECONFLICT);
    assert_string_equal(c.message, "Apply failed with 2 conflicts: conflicts with \"a-mgr\" using "
                                   "apps/v1:\n- .metadata.labels.x\nconflicts with \"b-mgr\" using "
                                   "apps/v1:\n- .spec.replicas");
    kl_mf_conflicts_cleanup(&c);
    kl_json_free(obj);
}

static void test_lists(void **state)
{
    (void)state;
    /* kubectl applies two containers and a port without protocol (keyed with the default TCP);
     * a helper then changes a field of each. */
    kl_json_t *obj = NULL;
    must_apply(&obj, "kubectl",
               "{" HEAD "},'spec':{" TMPL(
                   "{'name':'nginx','image':'nginx:1','ports':[{'containerPort':80}]}," SIDE) "}}",
               false);
    update(&obj, "helper",
           "{" HEAD "},'spec':{" TMPL(
               "{'name':'nginx','image':'nginx:1','ports':[{'containerPort':80,'protocol':"
               "'TCP'}]},{'name':'side','image':'busybox','args':['x']}") "}}");
    mt_assert_fields(obj, "helper", "Update",
                     "{'f:spec':{'f:template':{'f:spec':{'f:containers':{'k:{\\'name\\':"
                     "\\'nginx\\'}':{'f:ports':{'k:{\\'containerPort\\':80,\\'protocol\\':"
                     "\\'TCP\\'}':{'f:protocol':{}}}},'k:{\\'name\\':\\'side\\'}':{'f:args':{}}}}}"
                     "}}");
    /* kubectl drops the sidecar: the helper owns a field in it but not the item, so the item
     * goes as a whole, as upstream removes items nobody else owns. */
    must_apply(&obj, "kubectl",
               "{" HEAD "},'spec':{" TMPL(
                   "{'name':'nginx','image':'nginx:1','ports':[{'containerPort':80}]}") "}}",
               false);
    mt_assert_json(kl_json_path(obj, "spec", "template", "spec", "containers", NULL),
                   "[{'name':'nginx','image':'nginx:1','ports':[{'containerPort':80,'protocol':"
                   "'TCP'}]}]");
    must_apply(&obj, "kubectl", "{" HEAD "},'spec':{" TMPL(NGINX) "}}", false);
    mt_assert_json(kl_json_path(obj, "spec", "template", "spec", "containers", NULL),
                   "[{'name':'nginx','image':'nginx:1'}]");
    kl_json_free(obj);

    /* Made by an Update (which owns the items), then applied by kubectl: dropping the sidecar
     * from the configuration leaves it, the creator still owns it. */
    obj = mt_json("{" HEAD "},'spec':{" TMPL(NGINX "," SIDE) "}}");
    kl_mf_op_t op = mt_op("creator", deploy(), "apps/v1");
    assert_int_equal(kl_mf_update(&op, NULL, obj, NULL), 0);
    must_apply(&obj, "kubectl", "{" HEAD "},'spec':{" TMPL(NGINX "," SIDE) "}}", false);
    must_apply(&obj, "kubectl", "{" HEAD "},'spec':{" TMPL(NGINX) "}}", false);
    assert_int_equal(kl_json_path(obj, "spec", "template", "spec", "containers", NULL)->len, 2);
    kl_json_free(obj);

    /* Nobody else owns it: the whole item goes. */
    obj = NULL;
    must_apply(&obj, "kubectl", "{" HEAD "},'spec':{" TMPL(NGINX "," SIDE) "}}", false);
    must_apply(&obj, "kubectl", "{" HEAD "},'spec':{" TMPL(SIDE) "}}", false);
    mt_assert_json(kl_json_path(obj, "spec", "template", "spec", "containers", NULL),
                   "[{'name':'side','image':'busybox'}]");
    kl_json_free(obj);
}

static void test_last_applied_upgrade(void **state)
{
    (void)state;
    /* An object made by client-side apply: the annotation holds replicas 2, the entry of
     * kubectl-client-side-apply owns everything. */
    const char *la =
        "{\\'apiVersion\\':\\'apps/v1\\',\\'kind\\':\\'Deployment\\',\\'metadata\\':"
        "{\\'annotations\\':{},\\'name\\':\\'web\\'},\\'spec\\':{\\'replicas\\':2}}\\n";
    char created[2048];
    snprintf(created, sizeof(created),
             "{" HEAD ",'annotations':{'kubectl.kubernetes.io/last-applied-configuration':'%s'}},"
             "'spec':{'replicas':2," TMPL(NGINX) "}}",
             la);
    kl_json_t *obj = mt_json(created);
    kl_mf_op_t op = mt_op("kubectl-client-side-apply", deploy(), "apps/v1");
    assert_int_equal(kl_mf_update(&op, NULL, obj, NULL), 0);
    /* Someone else's server-side apply conflicts. */
    kl_mf_conflicts_t c;
    assert_int_equal(apply(&obj, "other", "{" HEAD "},'spec':{'replicas':3}}", false, &c),
                     KL_ECONFLICT);
    assert_string_equal(c.message, "Apply failed with 1 conflict: conflict with "
                                   "\"kubectl-client-side-apply\" using apps/v1: .spec.replicas");
    kl_mf_conflicts_cleanup(&c);
    /* kubectl's does not: the annotation vouches for replicas. The image it does not know. */
    assert_int_equal(apply(&obj, "kubectl",
                           "{" HEAD
                           "},'spec':{'replicas':3," TMPL("{'name':'nginx','image':'x'}") "}}",
                           false, &c),
                     KL_ECONFLICT);
    assert_string_equal(c.message, "Apply failed with 1 conflict: conflict with "
                                   "\"kubectl-client-side-apply\" using apps/v1: "
                                   ".spec.template.spec.containers[name=\"nginx\"].image");
    kl_mf_conflicts_cleanup(&c);
    must_apply(&obj, "kubectl", "{" HEAD "},'spec':{'replicas':3}}", false);
    assert_int_equal(kl_json_int_or(kl_json_path(obj, "spec", "replicas", NULL), 0), 3);
    /* The annotation now holds what kubectl applied, as Go encodes it. */
    assert_string_equal(kl_json_path_str(obj, "metadata", "annotations",
                                         "kubectl.kubernetes.io/last-applied-configuration", NULL),
                        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"
                        "\"name\":\"web\"},\"spec\":{\"replicas\":3}}\n");
    kl_json_free(obj);
}

static void test_status_and_errors(void **state)
{
    (void)state;
    kl_json_t *obj = NULL;
    must_apply(&obj, "kubectl", "{" HEAD "},'spec':{'replicas':2},'status':{'replicas':9}}", false);
    /* The main resource does not own status. */
    assert_null(kl_json_path(mt_entry(obj, "kubectl", "Apply", ""), "fieldsV1", "f:status", NULL));

    kl_json_t *cfg = mt_json("{" HEAD "},'spec':{'replicas':5},'status':{'replicas':1}}");
    kl_mf_op_t op = mt_op("ctrl", deploy(), "apps/v1");
    op.subresource = "status";
    op.scope = KL_MF_STATUS_ONLY;
    kl_json_t *out = NULL;
    kl_mf_conflicts_t c;
    assert_int_equal(kl_mf_apply(&op, obj, cfg, false, &out, &c, NULL), 0);
    mt_assert_managers(out, "ctrl:Apply:status,kubectl:Apply");
    mt_assert_json(kl_json_get(mt_entry(out, "ctrl", "Apply", "status"), "fieldsV1"),
                   "{'f:status':{'f:replicas':{}}}");
    kl_json_free(cfg);
    kl_json_free(out);

    /* managedFields may not be applied. */
    cfg = mt_json("{" HEAD ",'managedFields':[]}}");
    op = mt_op("kubectl", deploy(), "apps/v1");
    kl_errinfo_t err;
    assert_int_equal(kl_mf_apply(&op, obj, cfg, false, &out, &c, &err), KL_EBADREQUEST);
    assert_string_equal(err.msg, "metadata.managedFields must be nil");
    kl_json_free(cfg);

    /* The same configuration again: only the time changes, which keep_times undoes. */
    cfg = mt_json("{" HEAD "},'spec':{'replicas':2}}");
    op.now = "2030-01-01T00:00:00Z";
    assert_int_equal(kl_mf_apply(&op, obj, cfg, false, &out, &c, NULL), 0);
    assert_false(kl_json_equal(out, obj));
    kl_mf_keep_times(obj, out);
    assert_true(kl_json_equal(out, obj));
    kl_json_free(out);
    kl_json_free(cfg);
    kl_json_free(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_prune),
        cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_last_applied_upgrade),
        cmocka_unit_test(test_status_and_errors),
    };
    return cmocka_run_group_tests_name("apiserver_managed_apply", tests, NULL, NULL);
}
