/* Built-in Table printers: the cells and columns kube-apiserver 1.32 returns for `kubectl get`
 * of pods, nodes, namespaces, events, config maps, secrets, service accounts, services, leases,
 * daemon sets, deployments, replica sets, stateful sets, controller revisions, jobs and cron
 * jobs. Every expected row is what the upstream printer produces for the same object. */
#include "kubelua/object.h"

#include "apiserver/table.h"
#include "unit/test_util.h"

/* 2024-05-14T10:00:00Z: objects below are dated relative to this. */
#define NOW ((int64_t)1715680800)

/* Parses JSON written with single quotes (turned into double quotes) so objects can be inline. */
static kl_obj_t *obj_q(const char *text)
{
    char *s = strdup(text);
    assert_non_null(s);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    kl_obj_t *o = NULL;
    kl_errinfo_t err;
    if (kl_obj_parse_json(s, strlen(s), NULL, &o, &err) < 0)
        fail_msg("bad test JSON (%s): %s", err.msg, s);
    free(s);
    return o;
}

static kl_obj_t *obj_raw(const char *s, size_t len)
{
    kl_obj_t *o = NULL;
    kl_errinfo_t err;
    if (kl_obj_parse_json(s, len, NULL, &o, &err) < 0)
        fail_msg("output is not valid JSON (%s): %s", err.msg, s);
    return o;
}

static kl_printer_t *printer(const char *group, const char *kind)
{
    kl_printer_t *p = NULL;
    assert_int_equal(kl_printer_for(group, kind, NULL, &p, NULL), 0);
    assert_non_null(p);
    return p;
}

/* Prints obj's cells and compares them with `expected` (a JSON array, single quotes). */
static void check_obj(const char *group, const char *kind, kl_obj_t *o, const char *expected)
{
    kl_printer_t *p = printer(group, kind);
    kl_buf_t b;
    kl_buf_init(&b, KL_BUF_DEFAULT_MAX);
    assert_int_equal(kl_printer_cells(p, kl_obj_root(o), NOW, &b), 0);
    kl_obj_t *got = obj_raw(b.data, b.len);
    kl_obj_t *want = obj_q(expected);
    if (!kl_val_equal(kl_obj_root(got), kl_obj_root(want)))
        fail_msg("%s/%s cells\n got: %s\nwant: %s", group, kind, b.data, expected);
    kl_obj_unref(got);
    kl_obj_unref(want);
    kl_buf_cleanup(&b);
    kl_printer_free(p);
}

static void check(const char *group, const char *kind, const char *obj, const char *expected)
{
    kl_obj_t *o = obj_q(obj);
    check_obj(group, kind, o, expected);
    kl_obj_unref(o);
}

/* Prints one row and returns it parsed (caller unrefs). */
static kl_obj_t *row_of(const char *group, const char *kind, kl_obj_t *o)
{
    kl_printer_t *p = printer(group, kind);
    kl_buf_t b;
    kl_buf_init(&b, KL_BUF_DEFAULT_MAX);
    assert_int_equal(kl_printer_row(p, kl_obj_root(o), NOW, &b), 0);
    kl_obj_t *row = obj_raw(b.data, b.len);
    kl_buf_cleanup(&b);
    kl_printer_free(p);
    return row;
}

/* Column names, types, formats and priorities as "Name:type:format:priority|...". */
static void check_columns(const char *group, const char *kind, const char *expected)
{
    kl_printer_t *p = printer(group, kind);
    kl_buf_t b, s;
    kl_buf_init(&b, KL_BUF_DEFAULT_MAX);
    kl_buf_init(&s, KL_BUF_DEFAULT_MAX);
    assert_int_equal(kl_printer_columns(p, &b), 0);
    kl_obj_t *cols = obj_raw(b.data, b.len);
    kl_val_t arr = kl_obj_root(cols);
    assert_int_equal(kl_val_type(arr), KL_TARRAY);
    for (uint32_t i = 0; i < kl_val_len(arr); i++) {
        kl_val_t c = kl_val_at(arr, i);
        /* Every definition has all five fields, as metav1.TableColumnDefinition encodes. */
        assert_int_equal(kl_val_len(c), 5);
        assert_non_null(kl_val_path_str(c, "description", NULL));
        assert_true(kl_val_path_str(c, "description", NULL)[0] != '\0');
        assert_int_equal(kl_val_type(kl_val_get(c, "priority")), KL_TINT);
        assert_int_equal(
            kl_buf_printf(&s, "%s%s:%s:%s:%lld", i ? "|" : "", kl_val_path_str(c, "name", NULL),
                          kl_val_path_str(c, "type", NULL), kl_val_path_str(c, "format", NULL),
                          (long long)kl_val_int(kl_val_get(c, "priority"))),
            0);
    }
    assert_string_equal(s.data ? s.data : "", expected);
    kl_obj_unref(cols);
    kl_buf_cleanup(&b);
    kl_buf_cleanup(&s);
    kl_printer_free(p);
}

#define META(name) "'metadata':{'name':'" name "','namespace':'default','creationTimestamp':"
#define AGE_5M "'2024-05-14T09:55:00Z'}"

/* ---- Pods ------------------------------------------------------------------------------- */

static void test_table_pod_columns(void **state)
{
    check_columns("", "Pod",
                  "Name:string:name:0|Ready:string::0|Status:string::0|Restarts:string::0|"
                  "Age:string::0|IP:string::1|Node:string::1|Nominated Node:string::1|"
                  "Readiness Gates:string::1");
}

static void test_table_pod_running(void **state)
{
    check("", "Pod",
          "{" META("web-0") AGE_5M
          ",'spec':{'nodeName':'node-1','containers':[{'name':'web'}]},"
          "'status':{'phase':'Running','podIP':'10.244.0.5','podIPs':[{'ip':'10.244.0.5'}],"
          "'conditions':[{'type':'Ready','status':'True'}],"
          "'containerStatuses':[{'name':'web','ready':true,'restartCount':0,"
          "'state':{'running':{'startedAt':'2024-05-14T09:55:05Z'}}}]}}",
          "['web-0','1/1','Running','0','5m','10.244.0.5','node-1','<none>','<none>']");
}

static void test_table_pod_fixture_completed(void **state)
{
    size_t len;
    char *text = kl_test_read_fixture("tables/pod-pi-completed.json", &len);
    kl_obj_t *o = obj_raw(text, len);
    check_obj("", "Pod", o,
              "['pi-wfz65','0/1','Completed','0','81s','10.244.0.7','node-1','<none>','<none>']");
    /* A succeeded pod's row carries the Completed condition, and its metadata. */
    kl_obj_t *row = row_of("", "Pod", o);
    kl_val_t r = kl_obj_root(row);
    kl_val_t cond = kl_val_at(kl_val_get(r, "conditions"), 0);
    assert_string_equal(kl_val_path_str(cond, "type", NULL), "Completed");
    assert_string_equal(kl_val_path_str(cond, "status", NULL), "True");
    assert_string_equal(kl_val_path_str(cond, "reason", NULL), "Succeeded");
    assert_string_equal(kl_val_path_str(cond, "message", NULL),
                        "The pod has completed successfully.");
    assert_string_equal(kl_val_path_str(r, "object", "kind", NULL), "PartialObjectMetadata");
    assert_string_equal(kl_val_path_str(r, "object", "apiVersion", NULL), "meta.k8s.io/v1");
    assert_true(kl_val_equal(kl_val_path(r, "object", "metadata", NULL),
                             kl_val_get(kl_obj_root(o), "metadata")));
    kl_obj_unref(row);
    kl_obj_unref(o);
    free(text);
}

static void test_table_pod_waiting_reasons(void **state)
{
    check("", "Pod",
          "{" META(
              "p") "'2024-05-14T09:59:30Z'},'spec':{'nodeName':'node-1',"
                   "'containers':[{'name':'a'}]},'status':{'phase':'Pending','containerStatuses':"
                   "[{'name':'a','ready':false,'restartCount':0,"
                   "'state':{'waiting':{'reason':'ContainerCreating'}}}]}}",
          "['p','0/1','ContainerCreating','0','30s','<none>','node-1','<none>','<none>']");
    /* Restarts show when the last container died: "5 (5m ago)". */
    check("", "Pod",
          "{" META(
              "crash") "'2024-05-14T08:00:00Z'},'spec':{'containers':[{'name':'a'}]},"
                       "'status':{'phase':'Running','containerStatuses':[{'name':'a','ready':false,"
                       "'restartCount':5,'state':{'waiting':{'reason':'CrashLoopBackOff',"
                       "'message':'back-off 2m40s restarting failed container'}},"
                       "'lastState':{'terminated':{'exitCode':1,'reason':'Error',"
                       "'finishedAt':'2024-05-14T09:55:00Z'}}}]}}",
          "['crash','0/1','CrashLoopBackOff','5 (5m ago)','120m','<none>','<none>','<none>',"
          "'<none>']");
    /* A restart count without a last termination time prints bare. */
    check("", "Pod",
          "{" META("r") AGE_5M
          ",'spec':{'containers':[{'name':'a'}]},'status':{'phase':"
          "'Running','containerStatuses':[{'name':'a','ready':true,'restartCount':2,"
          "'state':{'running':{}}}]}}",
          "['r','1/1','Running','2','5m','<none>','<none>','<none>','<none>']");
}

static void test_table_pod_terminated_reasons(void **state)
{
    static const struct {
        const char *phase, *state, *status;
    } cases[] = {
        {"Failed", "{'exitCode':1,'reason':'Error'}", "Error"},
        {"Failed", "{'exitCode':137,'reason':'OOMKilled'}", "OOMKilled"},
        {"Succeeded", "{'exitCode':0,'reason':'Completed'}", "Completed"},
        {"Failed", "{'exitCode':137,'signal':9}", "Signal:9"},
        {"Failed", "{'exitCode':2}", "ExitCode:2"},
        {"Running", "{'exitCode':0}", "ExitCode:0"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char obj[1024], want[256];
        snprintf(obj, sizeof(obj),
                 "{" META("t") AGE_5M
                 ",'spec':{'containers':[{'name':'a'}]},'status':{'phase':"
                 "'%s','containerStatuses':[{'name':'a','ready':false,'restartCount':0,"
                 "'state':{'terminated':%s}}]}}",
                 cases[i].phase, cases[i].state);
        snprintf(want, sizeof(want),
                 "['t','0/1','%s','0','5m','<none>','<none>','<none>','<none>']", cases[i].status);
        check("", "Pod", obj, want);
    }
    /* Failed pods carry the Failed row condition. */
    kl_obj_t *o = obj_q("{" META("f") AGE_5M ",'status':{'phase':'Failed','reason':'Evicted',"
                                             "'message':'The node was low on resource: memory.'}}");
    check_obj("", "Pod", o, "['f','0/0','Evicted','0','5m','<none>','<none>','<none>','<none>']");
    kl_obj_t *row = row_of("", "Pod", o);
    kl_val_t cond = kl_val_at(kl_val_get(kl_obj_root(row), "conditions"), 0);
    assert_string_equal(kl_val_path_str(cond, "reason", NULL), "Failed");
    assert_string_equal(kl_val_path_str(cond, "message", NULL), "The pod failed.");
    kl_obj_unref(row);
    kl_obj_unref(o);
    /* Running pods have no conditions member at all. */
    o = obj_q("{" META("r") AGE_5M ",'status':{'phase':'Running'}}");
    row = row_of("", "Pod", o);
    assert_true(kl_val_missing(kl_val_get(kl_obj_root(row), "conditions")));
    kl_obj_unref(row);
    kl_obj_unref(o);
}

static void test_table_pod_init_containers(void **state)
{
    /* The first init container is done, the second runs: Init:1/2. */
    check("", "Pod",
          "{" META("i") AGE_5M
          ",'spec':{'initContainers':[{'name':'i1'},{'name':'i2'}],"
          "'containers':[{'name':'a'}]},'status':{'phase':'Pending',"
          "'conditions':[{'type':'Initialized','status':'False'}],"
          "'initContainerStatuses':["
          "{'name':'i1','ready':true,'restartCount':0,'state':{'terminated':{'exitCode':0,"
          "'reason':'Completed'}}},"
          "{'name':'i2','ready':false,'restartCount':0,'state':{'running':{}}}],"
          "'containerStatuses':[{'name':'a','ready':false,'restartCount':0,"
          "'state':{'waiting':{'reason':'PodInitializing'}}}]}}",
          "['i','0/1','Init:1/2','0','5m','<none>','<none>','<none>','<none>']");
    /* PodInitializing is not shown as Init:PodInitializing. */
    check("", "Pod",
          "{" META("i") AGE_5M
          ",'spec':{'initContainers':[{'name':'i1'}],'containers':"
          "[{'name':'a'}]},'status':{'phase':'Pending','initContainerStatuses':[{'name':'i1',"
          "'ready':false,'restartCount':0,'state':{'waiting':{'reason':'PodInitializing'}}}]}}",
          "['i','0/1','Init:0/1','0','5m','<none>','<none>','<none>','<none>']");
    /* Waiting and failed init containers; init restarts count while initializing. */
    check("", "Pod",
          "{" META("i") AGE_5M
          ",'spec':{'initContainers':[{'name':'i1'}],'containers':"
          "[{'name':'a'}]},'status':{'phase':'Pending','initContainerStatuses':[{'name':'i1',"
          "'ready':false,'restartCount':3,'state':{'waiting':{'reason':'CrashLoopBackOff'}},"
          "'lastState':{'terminated':{'exitCode':1,'finishedAt':'2024-05-14T09:58:00Z'}}}],"
          "'containerStatuses':[{'name':'a','ready':false,'restartCount':0,"
          "'state':{'waiting':{'reason':'PodInitializing'}}}]}}",
          "['i','0/1','Init:CrashLoopBackOff','3 (2m ago)','5m','<none>','<none>','<none>',"
          "'<none>']");
    check("", "Pod",
          "{" META("i") AGE_5M
          ",'spec':{'initContainers':[{'name':'i1'}],'containers':"
          "[{'name':'a'}]},'status':{'phase':'Failed','initContainerStatuses':[{'name':'i1',"
          "'restartCount':0,'state':{'terminated':{'exitCode':1,'reason':'Error'}}}]}}",
          "['i','0/1','Init:Error','0','5m','<none>','<none>','<none>','<none>']");
    check("", "Pod",
          "{" META("i") AGE_5M
          ",'spec':{'initContainers':[{'name':'i1'}],'containers':"
          "[{'name':'a'}]},'status':{'phase':'Failed','initContainerStatuses':[{'name':'i1',"
          "'restartCount':0,'state':{'terminated':{'exitCode':3}}}]}}",
          "['i','0/1','Init:ExitCode:3','0','5m','<none>','<none>','<none>','<none>']");
    check("", "Pod",
          "{" META("i") AGE_5M
          ",'spec':{'initContainers':[{'name':'i1'}],'containers':"
          "[{'name':'a'}]},'status':{'phase':'Failed','initContainerStatuses':[{'name':'i1',"
          "'restartCount':0,'state':{'terminated':{'exitCode':130,'signal':2}}}]}}",
          "['i','0/1','Init:Signal:2','0','5m','<none>','<none>','<none>','<none>']");
}

static void test_table_pod_sidecar(void **state)
{
    /* A restartable init container (sidecar) that started counts in READY and the total, and
     * its restarts count after initialization. */
    check("", "Pod",
          "{" META("s") AGE_5M
          ",'spec':{'initContainers':[{'name':'proxy','restartPolicy':"
          "'Always'}],'containers':[{'name':'app'}]},'status':{'phase':'Running',"
          "'conditions':[{'type':'Initialized','status':'True'},{'type':'Ready','status':'True'}],"
          "'initContainerStatuses':[{'name':'proxy','ready':true,'started':true,"
          "'restartCount':1,'state':{'running':{}},'lastState':{'terminated':{'exitCode':1,"
          "'finishedAt':'2024-05-14T09:57:00Z'}}}],"
          "'containerStatuses':[{'name':'app','ready':true,'restartCount':0,"
          "'state':{'running':{}}}]}}",
          "['s','2/2','Running','1 (3m ago)','5m','<none>','<none>','<none>','<none>']");
}

#define COMPLETED_WITH_RUNNING(ready)                                                              \
    "{" META("m") AGE_5M                                                                           \
        ",'spec':{'containers':[{'name':'a'},{'name':'b'}]},"                                      \
        "'status':{'phase':'Running','conditions':[{'type':'Ready','status':'" ready "'}],"        \
        "'containerStatuses':[{'name':'a','ready':true,'restartCount':0,"                          \
        "'state':{'running':{}}},{'name':'b','ready':false,'restartCount':0,"                      \
        "'state':{'terminated':{'exitCode':0,'reason':'Completed'}}}]}}"

static void test_table_pod_completed_with_running(void **state)
{
    /* One container completed while another still runs: Running when the pod is Ready. */
    check("", "Pod", COMPLETED_WITH_RUNNING("True"),
          "['m','1/2','Running','0','5m','<none>','<none>','<none>','<none>']");
    check("", "Pod", COMPLETED_WITH_RUNNING("False"),
          "['m','1/2','NotReady','0','5m','<none>','<none>','<none>','<none>']");
}

static void test_table_pod_terminating(void **state)
{
    check("", "Pod",
          "{'metadata':{'name':'t','creationTimestamp':'2024-05-14T09:55:00Z',"
          "'deletionTimestamp':'2024-05-14T10:00:30Z','deletionGracePeriodSeconds':30},"
          "'spec':{'containers':[{'name':'a'}]},'status':{'phase':'Running',"
          "'containerStatuses':[{'name':'a','ready':true,'restartCount':0,"
          "'state':{'running':{}}}]}}",
          "['t','1/1','Terminating','0','5m','<none>','<none>','<none>','<none>']");
    /* A terminal pod keeps its status while being deleted. */
    check("", "Pod",
          "{'metadata':{'name':'t','creationTimestamp':'2024-05-14T09:55:00Z',"
          "'deletionTimestamp':'2024-05-14T10:00:30Z'},'spec':{'containers':[{'name':'a'}]},"
          "'status':{'phase':'Succeeded','containerStatuses':[{'name':'a','ready':false,"
          "'restartCount':0,'state':{'terminated':{'exitCode':0,'reason':'Completed'}}}]}}",
          "['t','0/1','Completed','0','5m','<none>','<none>','<none>','<none>']");
    /* Pods on an unreachable node: NodeLost, and Unknown once deletion started. */
    check("", "Pod",
          "{" META("n") AGE_5M
          ",'spec':{'containers':[{'name':'a'}]},'status':{'phase':"
          "'Running','reason':'NodeLost','message':'Node node-2 which was running pod n is "
          "unresponsive'}}",
          "['n','0/1','NodeLost','0','5m','<none>','<none>','<none>','<none>']");
    check("", "Pod",
          "{'metadata':{'name':'n','creationTimestamp':'2024-05-14T09:55:00Z',"
          "'deletionTimestamp':'2024-05-14T09:58:00Z'},'spec':{'containers':[{'name':'a'}]},"
          "'status':{'phase':'Running','reason':'NodeLost'}}",
          "['n','0/1','Unknown','0','5m','<none>','<none>','<none>','<none>']");
}

static void test_table_pod_gates_and_wide(void **state)
{
    check("", "Pod",
          "{" META("g") AGE_5M
          ",'spec':{'containers':[{'name':'a'}],'readinessGates':["
          "{'conditionType':'example.com/lb'},{'conditionType':'example.com/dns'}]},"
          "'status':{'phase':'Running','nominatedNodeName':'node-3','podIPs':[{'ip':'fd00::5'},"
          "{'ip':'10.0.0.5'}],'conditions':[{'type':'example.com/lb','status':'True'},"
          "{'type':'example.com/dns','status':'False'}],'containerStatuses':[{'name':'a',"
          "'ready':true,'restartCount':0,'state':{'running':{}}}]}}",
          "['g','1/1','Running','0','5m','fd00::5','<none>','node-3','1/2']");
    check("", "Pod",
          "{" META("sg") AGE_5M
          ",'spec':{'schedulingGates':[{'name':'x'}],'containers':"
          "[{'name':'a'}]},'status':{'phase':'Pending','conditions':[{'type':'PodScheduled',"
          "'status':'False','reason':'SchedulingGated'}]}}",
          "['sg','0/1','SchedulingGated','0','5m','<none>','<none>','<none>','<none>']");
    /* Bare minimum: everything missing. */
    check("", "Pod", "{'metadata':{'name':'x'}}",
          "['x','0/0','','0','<unknown>','<none>','<none>','<none>','<none>']");
}

/* ---- Nodes ------------------------------------------------------------------------------ */

static void test_table_node(void **state)
{
    check_columns("", "Node",
                  "Name:string:name:0|Status:string::0|Roles:string::0|Age:string::0|"
                  "Version:string::0|Internal-IP:string::1|External-IP:string::1|"
                  "OS-Image:string::1|Kernel-Version:string::1|Container-Runtime:string::1");
    size_t len;
    char *text = kl_test_read_fixture("tables/node-control-plane.json", &len);
    kl_obj_t *o = obj_raw(text, len);
    check_obj("", "Node", o,
              "['kind-control-plane','Ready','control-plane','3d','v1.32.0','172.18.0.2',"
              "'<none>','Debian GNU/Linux 12 (bookworm)','6.1.0-21-amd64',"
              "'containerd://1.7.15']");
    kl_obj_unref(o);
    free(text);

    /* Roles from both label styles, sorted and de-duplicated; cordoned and not ready. */
    check("", "Node",
          "{'metadata':{'name':'n2','creationTimestamp':'2024-05-14T07:00:00Z','labels':{"
          "'node-role.kubernetes.io/worker':'','kubernetes.io/role':'ingress',"
          "'node-role.kubernetes.io/infra':'true','node-role.kubernetes.io/':'x',"
          "'node-role.kubernetes.io/ingress':''}},'spec':{'unschedulable':true},"
          "'status':{'conditions':[{'type':'Ready','status':'False'}],'addresses':["
          "{'type':'ExternalIP','address':'203.0.113.7'},{'type':'InternalIP','address':"
          "'10.0.0.2'}],'nodeInfo':{'kubeletVersion':'v1.31.4'}}}",
          "['n2','NotReady,SchedulingDisabled','infra,ingress,worker','3h','v1.31.4','10.0.0.2',"
          "'203.0.113.7','<unknown>','<unknown>','<unknown>']");
    /* No Ready condition: Unknown; Ready=Unknown prints NotReady. */
    check("", "Node", "{'metadata':{'name':'n3','creationTimestamp':'2024-05-14T09:59:00Z'}}",
          "['n3','Unknown','<none>','60s','','<none>','<none>','<unknown>','<unknown>',"
          "'<unknown>']");
    check("", "Node",
          "{'metadata':{'name':'n4'},'status':{'conditions':[{'type':'Ready','status':"
          "'Unknown'}]}}",
          "['n4','NotReady','<none>','<unknown>','','<none>','<none>','<unknown>','<unknown>',"
          "'<unknown>']");
}

/* ---- Namespaces, config maps, secrets, service accounts, leases, services ---------------- */

static void test_table_simple_kinds(void **state)
{
    check_columns("", "Namespace", "Name:string:name:0|Status:string::0|Age:string::0");
    check("", "Namespace",
          "{'metadata':{'name':'kube-system','creationTimestamp':'2024-05-11T10:00:00Z'},"
          "'status':{'phase':'Active'}}",
          "['kube-system','Active','3d']");
    check("", "Namespace",
          "{'metadata':{'name':'old','creationTimestamp':'2024-04-01T10:00:00Z',"
          "'deletionTimestamp':'2024-05-14T09:59:00Z'},'status':{'phase':'Terminating'}}",
          "['old','Terminating','43d']");

    check_columns("", "ConfigMap", "Name:string:name:0|Data:string::0|Age:string::0");
    check("", "ConfigMap",
          "{" META("cfg") AGE_5M ",'data':{'a':'1','b':'2'},'binaryData':{'c':'AA=='}}",
          "['cfg',3,'5m']");
    check("", "ConfigMap", "{" META("empty") AGE_5M "}", "['empty',0,'5m']");

    check_columns("", "Secret", "Name:string:name:0|Type:string::0|Data:string::0|Age:string::0");
    check("", "Secret",
          "{" META("tls") AGE_5M ",'type':'kubernetes.io/tls','data':{'tls.crt':'','tls.key':''}}",
          "['tls','kubernetes.io/tls',2,'5m']");

    check_columns("", "ServiceAccount", "Name:string:name:0|Secrets:string::0|Age:string::0");
    check("", "ServiceAccount", "{" META("default") AGE_5M "}", "['default',0,'5m']");
    check("", "ServiceAccount", "{" META("builder") AGE_5M ",'secrets':[{'name':'builder-token'}]}",
          "['builder',1,'5m']");

    check_columns("coordination.k8s.io", "Lease",
                  "Name:string:name:0|Holder:string::0|Age:string::0");
    check("coordination.k8s.io", "Lease",
          "{'metadata':{'name':'kube-scheduler','namespace':'kube-system','creationTimestamp':"
          "'2024-05-14T06:30:00Z'},'spec':{'holderIdentity':'kind-control-plane_8d0f',"
          "'leaseDurationSeconds':15}}",
          "['kube-scheduler','kind-control-plane_8d0f','3h30m']");
    check("coordination.k8s.io", "Lease", "{" META("free") AGE_5M ",'spec':{}}",
          "['free','','5m']");
}

static void test_table_service(void **state)
{
    check_columns("", "Service",
                  "Name:string:name:0|Type:string::0|Cluster-IP:string::0|External-IP:string::0|"
                  "Port(s):string::0|Age:string::0|Selector:string::1");
    check("", "Service",
          "{" META("kubernetes") "'2024-05-11T10:00:00Z'},'spec':{'type':'ClusterIP',"
                                 "'clusterIP':'10.96.0.1','clusterIPs':['10.96.0.1'],'ports':[{'"
                                 "name':'https',"
                                 "'port':443,'protocol':'TCP','targetPort':6443}]}}",
          "['kubernetes','ClusterIP','10.96.0.1','<none>','443/TCP','3d','<none>']");
    check("", "Service",
          "{" META("web") AGE_5M
          ",'spec':{'type':'LoadBalancer','clusterIPs':['10.96.3.4'],"
          "'externalIPs':['198.51.100.9'],'selector':{'app':'web','tier':'front'},'ports':["
          "{'port':80,'nodePort':30080,'protocol':'TCP'},{'port':53,'protocol':'UDP'}]},"
          "'status':{'loadBalancer':{'ingress':[{'ip':'203.0.113.2'},{'hostname':'lb.example'},"
          "{'ip':'203.0.113.1'}]}}}",
          "['web','LoadBalancer','10.96.3.4','203.0.113.1,203.0.113.2,lb.example,198.51.100.9',"
          "'80:30080/TCP,53/UDP','5m','app=web,tier=front']");
    check("", "Service",
          "{" META("lb") AGE_5M ",'spec':{'type':'LoadBalancer','clusterIPs':['None']}}",
          "['lb','LoadBalancer','None','<pending>','<none>','5m','<none>']");
    check("", "Service",
          "{" META("ext") AGE_5M ",'spec':{'type':'ExternalName','externalName':'db.example'}}",
          "['ext','ExternalName','<none>','db.example','<none>','5m','<none>']");
}

/* ---- Events ----------------------------------------------------------------------------- */

static void test_table_event(void **state)
{
    check_columns("", "Event",
                  "Last Seen:string::0|Type:string::0|Reason:string::0|Object:string::0|"
                  "Subobject:string::1|Source:string::1|Message:string::0|First Seen:string::1|"
                  "Count:string::1|Name:string:name:1");
    check("", "Event",
          "{'metadata':{'name':'pi-wfz65.17cf0c0a8b2d4e1f','namespace':'default',"
          "'creationTimestamp':'2024-05-14T09:50:00Z'},'involvedObject':{'kind':'Pod',"
          "'namespace':'default','name':'pi-wfz65','fieldPath':'spec.containers{pi}'},"
          "'reason':'Pulled','message':'  Container image \\'perl:5.34.0\\' already present\\n',"
          "'source':{'component':'kubelet','host':'node-1'},"
          "'firstTimestamp':'2024-05-14T09:50:00Z','lastTimestamp':'2024-05-14T09:58:00Z',"
          "'count':3,'type':'Normal'}",
          "['2m','Normal','Pulled','pod/pi-wfz65','spec.containers{pi}','kubelet, node-1',"
          "'Container image \\'perl:5.34.0\\' already present','10m',3,"
          "'pi-wfz65.17cf0c0a8b2d4e1f']");
    /* New-style event: eventTime only, reporting controller, no count (a singleton = 1). */
    check("", "Event",
          "{'metadata':{'name':'e2'},'involvedObject':{'kind':'Node','name':'node-1'},"
          "'reason':'RegisteredNode','message':'Node node-1 event','type':'Normal',"
          "'eventTime':'2024-05-14T09:59:15.123456Z','reportingComponent':'node-controller',"
          "'reportingInstance':''}",
          "['44s','Normal','RegisteredNode','node/node-1','','node-controller','Node node-1 event',"
          "'44s',1,'e2']");
    /* A series: last seen and count come from it; an object without a name prints its kind. */
    check("", "Event",
          "{'metadata':{'name':'e3'},'involvedObject':{'kind':'ClusterRole'},'type':'Warning',"
          "'reason':'Failed','message':'x','eventTime':'2024-05-14T09:00:00.000000Z',"
          "'series':{'count':4,'lastObservedTime':'2024-05-14T09:59:00.000000Z'},"
          "'reportingComponent':'c','reportingInstance':'i-1'}",
          "['60s','Warning','Failed','clusterrole','','c, i-1','x','60m',4,'e3']");
}

static void test_table_event_v1(void **state)
{
    check_columns("events.k8s.io", "Event",
                  "Last Seen:string::0|Type:string::0|Reason:string::0|Object:string::0|"
                  "Subobject:string::1|Source:string::1|Message:string::0|First Seen:string::1|"
                  "Count:string::1|Name:string:name:1");
    check("events.k8s.io", "Event",
          "{'apiVersion':'events.k8s.io/v1','kind':'Event','metadata':{'name':'web.1'},"
          "'eventTime':'2024-05-14T09:40:00.000000Z','reportingController':'kubelet',"
          "'reportingInstance':'node-1','action':'Pulling','reason':'Pulling',"
          "'regarding':{'kind':'Pod','name':'web','fieldPath':'spec.containers{web}'},"
          "'note':'Pulling image \\'nginx\\'','type':'Normal',"
          "'deprecatedFirstTimestamp':'2024-05-14T09:40:00Z',"
          "'deprecatedLastTimestamp':'2024-05-14T09:45:00Z','deprecatedCount':2,"
          "'deprecatedSource':{'component':'kubelet','host':'node-1'}}",
          "['15m','Normal','Pulling','pod/web','spec.containers{web}','kubelet, node-1',"
          "'Pulling image \\'nginx\\'','20m',2,'web.1']");
}

/* ---- Workloads -------------------------------------------------------------------------- */

static void test_table_daemonset(void **state)
{
    check_columns("apps", "DaemonSet",
                  "Name:string:name:0|Desired:integer::0|Current:integer::0|Ready:integer::0|"
                  "Up-to-date:integer::0|Available:integer::0|Node Selector:string::0|"
                  "Age:string::0|Containers:string::1|Images:string::1|Selector:string::1");
    size_t len;
    char *text = kl_test_read_fixture("tables/daemonset-fluentd.json", &len);
    kl_obj_t *o = obj_raw(text, len);
    check_obj("apps", "DaemonSet", o,
              "['fluentd-elasticsearch',3,3,2,3,2,'kubernetes.io/os=linux','26h',"
              "'fluentd-elasticsearch,logrotate',"
              "'quay.io/fluentd_elasticsearch/fluentd:v2.5.2,busybox:1.36',"
              "'name=fluentd-elasticsearch']");
    kl_obj_unref(o);
    free(text);
    /* A new DaemonSet without status. */
    check("apps", "DaemonSet",
          "{" META("ds") AGE_5M ",'spec':{'selector':{'matchLabels':{'b':'2','a':'1'}},"
                                "'template':{'spec':{'nodeSelector':{'zone':'b','disk':'ssd'},"
                                "'containers':[{'name':'c','image':'i'}]}}}}",
          "['ds',0,0,0,0,0,'disk=ssd,zone=b','5m','c','i','a=1,b=2']");
}

static void test_table_deployment(void **state)
{
    check_columns("apps", "Deployment",
                  "Name:string:name:0|Ready:string::0|Up-to-date:string::0|"
                  "Available:string::0|Age:string::0|Containers:string::1|Images:string::1|"
                  "Selector:string::1");
    check(
        "apps", "Deployment",
        "{" META(
            "web") "'2024-05-12T09:00:00Z'},'spec':{'replicas':3,'selector':{"
                   "'matchLabels':{'app':'web'},'matchExpressions':[{'key':'tier','operator':'In',"
                   "'values':['front','back']},{'key':'canary','operator':'DoesNotExist'},"
                   "{'key':'env','operator':'NotIn','values':['dev']},{'key':'app.kubernetes.io/"
                   "name',"
                   "'operator':'Exists'}]},'template':{'spec':{'containers':[{'name':'nginx','"
                   "image':"
                   "'nginx:1.27'}]}}},'status':{'replicas':3,'updatedReplicas':3,'readyReplicas':2,"
                   "'availableReplicas':2}}",
        "['web','2/3',3,2,'2d1h','nginx','nginx:1.27',"
        "'app=web,app.kubernetes.io/name,!canary,env notin (dev),tier in (back,front)']");
    /* Replicas default to 1; an empty selector prints as nothing (not <none>). */
    check("apps", "Deployment", "{" META("d") AGE_5M ",'spec':{'selector':{}}}",
          "['d','0/1',0,0,'5m','','','']");
    /* An invalid selector. */
    check("apps", "Deployment",
          "{" META("d") AGE_5M ",'spec':{'replicas':0,'selector':{'matchExpressions':[{'key':"
                               "'a','operator':'Equals','values':['x']}]}}}",
          "['d','0/0',0,0,'5m','','','<invalid>']");
}

static void test_table_replicaset_statefulset(void **state)
{
    check_columns("apps", "ReplicaSet",
                  "Name:string:name:0|Desired:integer::0|Current:integer::0|Ready:integer::0|"
                  "Age:string::0|Containers:string::1|Images:string::1|Selector:string::1");
    check("apps", "ReplicaSet",
          "{" META("web-7d4b9c") AGE_5M
          ",'spec':{'replicas':3,'selector':{'matchLabels':{"
          "'app':'web','pod-template-hash':'7d4b9c'}},'template':{'spec':{'containers':["
          "{'name':'nginx','image':'nginx:1.27'},{'name':'log','image':'busybox'}]}}},"
          "'status':{'replicas':3,'readyReplicas':2}}",
          "['web-7d4b9c',3,3,2,'5m','nginx,log','nginx:1.27,busybox',"
          "'app=web,pod-template-hash=7d4b9c']");
    check("apps", "ReplicaSet",
          "{" META("rs") AGE_5M ",'spec':{'selector':{'matchExpressions':[{'key':'a',"
                                "'operator':'In','values':[]}]}}}",
          "['rs',1,0,0,'5m','','','<error>']");
    check_columns("apps", "StatefulSet",
                  "Name:string:name:0|Ready:string::0|Age:string::0|Containers:string::1|"
                  "Images:string::1");
    check("apps", "StatefulSet",
          "{" META("db") AGE_5M
          ",'spec':{'replicas':2,'template':{'spec':{'containers':["
          "{'name':'pg','image':'postgres:16'}]}}},'status':{'readyReplicas':1}}",
          "['db','1/2','5m','pg','postgres:16']");
}

static void test_table_controllerrevision(void **state)
{
    check_columns("apps", "ControllerRevision",
                  "Name:string:name:0|Controller:string::0|Revision:string::0|Age:string::0");
    check("apps", "ControllerRevision",
          "{'metadata':{'name':'fluentd-6d5c8b7f9','creationTimestamp':'2024-05-14T09:55:00Z',"
          "'ownerReferences':[{'apiVersion':'v1','kind':'Pod','name':'other'},"
          "{'apiVersion':'apps/v1','kind':'DaemonSet','name':'fluentd','controller':true}]},"
          "'revision':2,'data':{}}",
          "['fluentd-6d5c8b7f9','daemonset.apps/fluentd',2,'5m']");
    check("apps", "ControllerRevision",
          "{'metadata':{'name':'r','ownerReferences':[{'apiVersion':'v1','kind':'Pod','name':"
          "'p','controller':true}]},'revision':7}",
          "['r','pod/p',7,'<unknown>']");
    check("apps", "ControllerRevision", "{" META("orphan") AGE_5M ",'revision':1}",
          "['orphan','<none>',1,'5m']");
}

static void test_table_job(void **state)
{
    check_columns("batch", "Job",
                  "Name:string:name:0|Status:string::0|Completions:string::0|Duration:string::0|"
                  "Age:string::0|Containers:string::1|Images:string::1|Selector:string::1");
    size_t len;
    char *text = kl_test_read_fixture("tables/job-pi-complete.json", &len);
    kl_obj_t *o = obj_raw(text, len);
    /* The row from kubectl-protocol.md section 5.6. */
    check_obj("batch", "Job", o,
              "['pi2','Complete','1/1','1s','81s','pi2','perl:5.34.0',"
              "'batch.kubernetes.io/controller-uid=9800a6ab-5bb4-4f4f-a3c1-2d61a2d33c10']");
    kl_obj_unref(o);
    free(text);

#define JOB(name, extra_meta, spec, status)                                                        \
    "{'metadata':{'name':'" name "','creationTimestamp':'2024-05-14T09:55:00Z'" extra_meta         \
    "},'spec':{" spec "},'status':{" status "}}"
    /* Running: the duration is the time since start. */
    check("batch", "Job",
          JOB("run", "", "'completions':1,'parallelism':1",
              "'startTime':'2024-05-14T09:58:39Z','active':1"),
          "['run','Running','0/1','81s','5m','','','<none>']");
    /* Not started yet: no duration. */
    check("batch", "Job", JOB("new", "", "'completions':3", ""),
          "['new','Running','0/3','','5m','','','<none>']");
    check("batch", "Job",
          JOB("bad", "", "'completions':1",
              "'startTime':'2024-05-14T09:55:00Z','failed':7,'conditions':[{'type':"
              "'FailureTarget','status':'True'},{'type':'Failed','status':'True'}]"),
          "['bad','Failed','0/1','5m','5m','','','<none>']");
    check("batch", "Job",
          JOB("ft", "", "'completions':1",
              "'startTime':'2024-05-14T09:55:00Z','conditions':[{'type':'FailureTarget',"
              "'status':'True'}]"),
          "['ft','FailureTarget','0/1','5m','5m','','','<none>']");
    check("batch", "Job",
          JOB("s", "", "'completions':1,'suspend':true",
              "'conditions':[{'type':'Suspended','status':'True'}]"),
          "['s','Suspended','0/1','','5m','','','<none>']");
    /* Suspended=False does not count; the first condition of a type decides. */
    check("batch", "Job",
          JOB("s2", "", "'completions':1",
              "'conditions':[{'type':'Suspended','status':'False'},{'type':'Suspended',"
              "'status':'True'}]"),
          "['s2','Running','0/1','','5m','','','<none>']");
    check("batch", "Job",
          JOB("del", ",'deletionTimestamp':'2024-05-14T09:59:00Z'", "'completions':1",
              "'conditions':[{'type':'Suspended','status':'True'}]"),
          "['del','Terminating','0/1','','5m','','','<none>']");
    /* Complete wins over Terminating. */
    check("batch", "Job",
          JOB("done", ",'deletionTimestamp':'2024-05-14T09:59:00Z'", "'completions':1",
              "'succeeded':1,'startTime':'2024-05-14T09:55:00Z','completionTime':"
              "'2024-05-14T09:57:30Z','conditions':[{'type':'Complete','status':'True'}]"),
          "['done','Complete','1/1','2m30s','5m','','','<none>']");
    /* SuccessCriteriaMet alone is not a printed status in 1.32. */
    check("batch", "Job",
          JOB("scm", "", "'completions':2,'completionMode':'Indexed'",
              "'succeeded':1,'conditions':[{'type':'SuccessCriteriaMet','status':'True'}]"),
          "['scm','Running','1/2','','5m','','','<none>']");
    /* Work queue: no completions, parallelism > 1. */
    check("batch", "Job", JOB("wq", "", "'parallelism':3", "'succeeded':1"),
          "['wq','Running','1/1 of 3','','5m','','','<none>']");
#undef JOB
}

static void test_table_cronjob(void **state)
{
    check_columns("batch", "CronJob",
                  "Name:string:name:0|Schedule:string::0|Timezone:string::0|Suspend:boolean::0|"
                  "Active:integer::0|Last Schedule:string::0|Age:string::0|Containers:string::1|"
                  "Images:string::1|Selector:string::1");
    check("batch", "CronJob",
          "{" META(
              "hello") "'2024-05-14T08:00:00Z'},'spec':{'schedule':'*/1 * * * *',"
                       "'concurrencyPolicy':'Allow','suspend':false,'jobTemplate':{'spec':{'"
                       "template':{"
                       "'spec':{'containers':[{'name':'hello','image':'busybox:1.28'}],"
                       "'restartPolicy':'OnFailure'}}}}},'status':{'active':[{'kind':'Job','name':"
                       "'hello-28591199'}],'lastScheduleTime':'2024-05-14T09:59:15Z'}}",
          "['hello','*/1 * * * *','<none>','False',1,'45s','120m','hello','busybox:1.28',"
          "'<none>']");
    check("batch", "CronJob",
          "{" META("tz") AGE_5M
          ",'spec':{'schedule':'0 3 * * *','timeZone':'Etc/UTC',"
          "'suspend':true,'jobTemplate':{'spec':{'selector':{'matchLabels':{'x':'y'}}}}}}",
          "['tz','0 3 * * *','Etc/UTC','True',0,'<none>','5m','','','x=y']");
    check("batch", "CronJob", "{" META("u") AGE_5M ",'spec':{'schedule':'@hourly'}}",
          "['u','@hourly','<none>','<unset>',0,'<none>','5m','','','<none>']");
}

/* ---- Lookup ----------------------------------------------------------------------------- */

static void test_table_builtin_lookup(void **state)
{
    static const struct {
        const char *group, *kind, *name;
    } cases[] = {
        {"", "Pod", "pods"},
        {"", "Node", "nodes"},
        {"", "Event", "events"},
        {"events.k8s.io", "Event", "events"},
        {"apps", "DaemonSet", "daemonsets"},
        {"batch", "Job", "jobs"},
        {"batch", "CronJob", "cronjobs"},
        {"coordination.k8s.io", "Lease", "leases"},
        /* No printer: the generic default. */
        {"apps", "Pod", "default"},
        {"", "Job", "default"},
        {"apiextensions.k8s.io", "CustomResourceDefinition", "default"},
        {"example.com", "Widget", "default"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kl_printer_t *p = printer(cases[i].group, cases[i].kind);
        assert_string_equal(kl_printer_name(p), cases[i].name);
        kl_printer_free(p);
    }
    kl_printer_t *p = NULL;
    assert_int_equal(kl_printer_for(NULL, NULL, NULL, &p, NULL), 0);
    assert_string_equal(kl_printer_name(p), "default");
    kl_printer_free(p);
    kl_printer_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_pod_columns),
        cmocka_unit_test(test_table_pod_running),
        cmocka_unit_test(test_table_pod_fixture_completed),
        cmocka_unit_test(test_table_pod_waiting_reasons),
        cmocka_unit_test(test_table_pod_terminated_reasons),
        cmocka_unit_test(test_table_pod_init_containers),
        cmocka_unit_test(test_table_pod_sidecar),
        cmocka_unit_test(test_table_pod_completed_with_running),
        cmocka_unit_test(test_table_pod_terminating),
        cmocka_unit_test(test_table_pod_gates_and_wide),
        cmocka_unit_test(test_table_node),
        cmocka_unit_test(test_table_simple_kinds),
        cmocka_unit_test(test_table_service),
        cmocka_unit_test(test_table_event),
        cmocka_unit_test(test_table_event_v1),
        cmocka_unit_test(test_table_daemonset),
        cmocka_unit_test(test_table_deployment),
        cmocka_unit_test(test_table_replicaset_statefulset),
        cmocka_unit_test(test_table_controllerrevision),
        cmocka_unit_test(test_table_job),
        cmocka_unit_test(test_table_cronjob),
        cmocka_unit_test(test_table_builtin_lookup),
    };
    return cmocka_run_group_tests_name("apiserver_table", tests, NULL, NULL);
}
