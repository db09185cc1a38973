/* Kubeconfig resolution: contexts, relative paths, data vs files, merging of several files,
 * in-cluster configuration, exec plugins, and errors that name the file and the field. */
#include <stdlib.h>

#include "kubelua/kubeconfig.h"

#include "unit/test_util.h"

#define FIX KL_SOURCE_DIR "/tests/fixtures/kubeconfig/"

static int load(const char *file, const char *context, kl_restconfig_t **cfg, kl_errinfo_t *err)
{
    kl_kubeconfig_opts_t o = {0};
    o.kubeconfig = file;
    o.context = context;
    o.no_in_cluster_fallback = true;
    return kl_restconfig_load(&o, cfg, err);
}

static void test_kubeconfig_token_and_ca_file(void **state)
{
    (void)state;
    kl_restconfig_t *cfg;
    kl_errinfo_t err;
    assert_int_equal(load(FIX "token.yaml", NULL, &cfg, &err), 0);
    assert_string_equal(cfg->server, "https://10.0.0.1:6443"); /* trailing '/' dropped */
    assert_string_equal(cfg->token, "abc123");
    assert_string_equal(cfg->namespace, "team-a");
    assert_string_equal(cfg->context, "dev");
    assert_string_equal(cfg->tls_server_name, "api.dev");
    assert_non_null(cfg->ca_pem); /* relative to the file's directory */
    assert_non_null(strstr(cfg->ca_pem, "BEGIN CERTIFICATE"));
    assert_null(cfg->cert_pem);
    assert_false(cfg->insecure);
    kl_restconfig_free(cfg);

    /* --context picks another user: a token file, read now and remembered for re-reads. */
    assert_int_equal(load(FIX "token.yaml", "other", &cfg, &err), 0);
    assert_string_equal(cfg->token, "file-token");
    assert_non_null(strstr(cfg->token_file, "/tests/fixtures/kubeconfig/token.txt"));
    assert_string_equal(cfg->namespace, "default");
    kl_restconfig_free(cfg);
}

static void test_kubeconfig_data_fields(void **state)
{
    (void)state;
    kl_restconfig_t *cfg;
    kl_errinfo_t err;
    assert_int_equal(load(FIX "data.yaml", NULL, &cfg, &err), 0);
    size_t len;
    char *pem = kl_test_read_fixture("kubeconfig/ca.crt", &len);
    assert_int_equal(cfg->ca_pem_len, len);
    assert_memory_equal(cfg->ca_pem, pem, len);
    assert_int_equal(cfg->cert_pem_len, len);
    assert_non_null(strstr(cfg->key_pem, "PRIVATE KEY"));
    assert_null(cfg->token);
    free(pem);
    kl_restconfig_free(cfg);
}

static void test_kubeconfig_merge(void **state)
{
    (void)state;
    kl_kubeconfig_opts_t o = {0};
    o.kubeconfig_env = FIX "merge-a.yaml:" FIX "missing.yaml:" FIX "merge-b.yaml";
    o.no_in_cluster_fallback = true;
    kl_restconfig_t *cfg;
    kl_errinfo_t err;
    assert_int_equal(kl_restconfig_load(&o, &cfg, &err), 0);
    /* current-context and the cluster "shared" come from the first file, the user from the
     * second. */
    assert_string_equal(cfg->context, "from-a");
    assert_string_equal(cfg->server, "https://a.example:6443");
    assert_true(cfg->insecure);
    assert_string_equal(cfg->token, "token-b");
    assert_non_null(strstr(cfg->source, "merge-a.yaml:"));
    kl_restconfig_free(cfg);
    o.context = "from-b";
    assert_int_equal(kl_restconfig_load(&o, &cfg, &err), 0);
    assert_string_equal(cfg->server, "https://a.example:6443"); /* first "shared" wins */
    assert_string_equal(cfg->namespace, "bee");
    kl_restconfig_free(cfg);

    /* $KUBECONFIG wins over ~/.kube/config; without either, ~/.kube/config. */
    o.context = NULL;
    o.kubeconfig_env = "";
    o.home = KL_SOURCE_DIR "/tests/fixtures/nohome";
    assert_int_equal(kl_restconfig_load(&o, &cfg, &err), KL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no configuration"));
}

static void expect_error(const char *file, const char *needle1, const char *needle2)
{
    kl_restconfig_t *cfg = NULL;
    kl_errinfo_t err;
    int rc = load(file, NULL, &cfg, &err);
    if (rc != KL_ECONFIG || strstr(err.msg, needle1) == NULL ||
        (needle2 && strstr(err.msg, needle2) == NULL))
        fprintf(stderr, "%s: rc=%s msg=%s\n", file, kl_err_name(rc), err.msg);
    assert_int_equal(rc, KL_ECONFIG);
    assert_null(cfg);
    assert_non_null(strstr(err.msg, needle1));
    if (needle2)
        assert_non_null(strstr(err.msg, needle2));
}

static void test_kubeconfig_errors_name_file_and_field(void **state)
{
    (void)state;
    expect_error(FIX "bad-no-server.yaml", "bad-no-server.yaml: clusters[\"c\"].cluster.server",
                 "required");
    expect_error(FIX "bad-base64.yaml",
                 "bad-base64.yaml: users[\"u\"].user.client-certificate-data", "invalid base64");
    expect_error(FIX "bad-missing-ca.yaml",
                 "bad-missing-ca.yaml: clusters[\"c\"].cluster.certificate-authority",
                 "no-such-ca.crt");
    expect_error(FIX "bad-cert-no-key.yaml", "bad-cert-no-key.yaml: users[\"u\"].user",
                 "client-certificate given without client-key");
    expect_error(FIX "bad-exec.yaml", "users[\"u\"].user.exec.apiVersion", "required");
    expect_error(FIX "bad-no-context.yaml", "bad-no-context.yaml", "current-context is not set");
    expect_error(FIX "bad-yaml.yaml", "bad-yaml.yaml: line", NULL);
    expect_error(FIX "bad-server-type.yaml", "clusters[\"c\"].cluster.server", "must be a string");
    expect_error(FIX "no-such-file.yaml", "no-such-file.yaml: cannot read", NULL);

    kl_restconfig_t *cfg = NULL;
    kl_errinfo_t err;
    assert_int_equal(load(FIX "token.yaml", "nope", &cfg, &err), KL_ECONFIG);
    assert_non_null(strstr(err.msg, "token.yaml: context \"nope\" not found"));

    const char *text = "apiVersion: v1\nkind: Config\ncurrent-context: x\ncontexts:\n- name: x\n"
                       "  context: {cluster: gone, user: u}\n";
    kl_kubeconfig_opts_t o = {0};
    assert_int_equal(kl_restconfig_from_text(text, strlen(text), "/etc/kc", &o, &cfg, &err),
                     KL_ECONFIG);
    assert_non_null(strstr(err.msg, "/etc/kc: cluster \"gone\" (of context \"x\") not found"));
    const char *ap = "apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters:\n- name: c\n"
                     "  cluster: {server: 'https://h'}\ncontexts:\n- name: x\n"
                     "  context: {cluster: c, user: u}\nusers:\n- name: u\n  user:\n"
                     "    auth-provider: {name: gcp}\n";
    assert_int_equal(kl_restconfig_from_text(ap, strlen(ap), "/etc/kc", &o, &cfg, &err),
                     KL_ECONFIG);
    assert_non_null(strstr(err.msg, "users[\"u\"].user.auth-provider: not supported"));
}

static void test_kubeconfig_exec(void **state)
{
    (void)state;
    kl_restconfig_t *cfg;
    kl_errinfo_t err;
    assert_int_equal(load(FIX "exec.yaml", NULL, &cfg, &err), 0);
    assert_non_null(cfg->exec);
    assert_string_equal(cfg->exec->command, "aws"); /* looked up in $PATH when run */
    assert_string_equal(cfg->exec->args[3], "demo");
    assert_null(cfg->exec->args[4]);
    assert_string_equal(cfg->exec->env[0], "AWS_PROFILE=demo");
    assert_true(cfg->exec->provide_cluster_info);
    assert_string_equal(cfg->exec->api_version, "client.authentication.k8s.io/v1beta1");
    kl_restconfig_free(cfg);
}

static void test_kubeconfig_in_cluster(void **state)
{
    (void)state;
    kl_restconfig_t *cfg;
    kl_errinfo_t err;
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    assert_int_equal(kl_restconfig_in_cluster(FIX "incluster", &cfg, &err), KL_ENOTFOUND);
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(kl_restconfig_in_cluster(FIX "incluster", &cfg, &err), 0);
    assert_string_equal(cfg->server, "https://10.96.0.1:443");
    assert_string_equal(cfg->token, "sa-token");
    assert_string_equal(cfg->namespace, "kube-system");
    assert_non_null(cfg->ca_pem);
    assert_string_equal(cfg->source, "in-cluster");
    kl_restconfig_free(cfg);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    assert_int_equal(kl_restconfig_in_cluster(FIX "incluster", &cfg, &err), 0);
    assert_string_equal(cfg->server, "https://[fd00::1]:443");
    kl_restconfig_free(cfg);
    /* The fallback when no kubeconfig exists. */
    kl_kubeconfig_opts_t o = {0};
    o.kubeconfig_env = "";
    o.home = "/nonexistent";
    o.in_cluster_dir = FIX "incluster";
    assert_int_equal(kl_restconfig_load(&o, &cfg, &err), 0);
    assert_string_equal(cfg->token, "sa-token");
    kl_restconfig_free(cfg);
    /* A service-account directory without a token. */
    assert_int_equal(kl_restconfig_in_cluster(FIX, &cfg, &err), KL_ECONFIG);
    assert_non_null(strstr(err.msg, "in-cluster:"));
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kubeconfig_token_and_ca_file),
        cmocka_unit_test(test_kubeconfig_data_fields),
        cmocka_unit_test(test_kubeconfig_merge),
        cmocka_unit_test(test_kubeconfig_errors_name_file_and_field),
        cmocka_unit_test(test_kubeconfig_exec),
        cmocka_unit_test(test_kubeconfig_in_cluster),
    };
    return cmocka_run_group_tests_name("client_kubeconfig", tests, NULL, NULL);
}
