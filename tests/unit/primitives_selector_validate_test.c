/* The validation helpers of selector.h (runtime/primitives/selector_validate.c) against
 * upstream's rules and exact messages: IsDNS1123Subdomain, IsDNS1123Label, IsQualifiedName
 * (content.IsLabelKey) and IsValidLabelValue (content.IsLabelValue). */

#include "kubelua/selector.h"

#include "unit/test_util.h"

#define SUBDOMAIN_RULE                                                                             \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "   \
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "  \
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
#define LABEL_RULE                                                                                 \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "   \
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "     \
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
#define QNAME_RULE                                                                                 \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "    \
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "         \
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
#define VALUE_RULE                                                                                 \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "    \
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "             \
    "'my_value',  or '12345', regex used for validation is "                                       \
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"

#define A10 "aaaaaaaaaa"
#define A60 A10 A10 A10 A10 A10 A10
#define A63 A60 "aaa"
#define A64 A63 "a"
#define A250 A60 A60 A60 A60 A10

typedef struct vcase {
    const char *(*fn)(const char *);
    const char *name;
    const char *in;
    const char *want; /* NULL: valid */
} vcase_t;

#define SUB kl_validate_dns1123_subdomain, "subdomain"
#define LBL kl_validate_dns1123_label, "label"
#define QN kl_validate_qualified_name, "qualified name"
#define VAL kl_validate_label_value, "label value"

static const vcase_t cases[] = {
    {SUB, "example.com", NULL},
    {SUB, "a", NULL},
    {SUB, "0.a-b.c1", NULL},
    {SUB, A250 "abc", NULL},
    {SUB, "", SUBDOMAIN_RULE},
    {SUB, "Example.com", SUBDOMAIN_RULE},
    {SUB, "a..b", SUBDOMAIN_RULE},
    {SUB, ".a", SUBDOMAIN_RULE},
    {SUB, "a.", SUBDOMAIN_RULE},
    {SUB, "-a", SUBDOMAIN_RULE},
    {SUB, "a-.b", SUBDOMAIN_RULE},
    {SUB, "a_b", SUBDOMAIN_RULE},
    {SUB, A250 "abcd", "must be no more than 253 characters"},
    {SUB, A250 "abc-", "must be no more than 253 characters; " SUBDOMAIN_RULE},

    {LBL, "my-name", NULL},
    {LBL, "123-abc", NULL},
    {LBL, A63, NULL},
    {LBL, "", LABEL_RULE},
    {LBL, "My-name", LABEL_RULE},
    {LBL, "a-", LABEL_RULE},
    {LBL, "a.b", "must not contain dots"},
    {LBL, "a.b.", LABEL_RULE},
    {LBL, A64, "must be no more than 63 characters"},
    {LBL, A60 ".aaaa", "must be no more than 63 characters; must not contain dots"},
    {LBL, A64 "_", "must be no more than 63 characters; " LABEL_RULE},

    {QN, "MyName", NULL},
    {QN, "my.name", NULL},
    {QN, "123-abc", NULL},
    {QN, "a_b", NULL},
    {QN, "example.com/MyName", NULL},
    {QN, "kubernetes.io/hostname", NULL},
    {QN, A63, NULL},
    {QN, A250 "abc/" A63, NULL},
    {QN, "", "name part must be non-empty; name part " QNAME_RULE},
    {QN, "-a", "name part " QNAME_RULE},
    {QN, "a b", "name part " QNAME_RULE},
    {QN, A64, "name part must be no more than 63 bytes"},
    {QN, A64 ".", "name part must be no more than 63 bytes; name part " QNAME_RULE},
    {QN, "a/b/c",
     "a valid label key " QNAME_RULE
     " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"},
    {QN, "/a", "prefix part must be non-empty"},
    {QN, "a/", "name part must be non-empty; name part " QNAME_RULE},
    {QN, "/", "prefix part must be non-empty; name part must be non-empty; name part " QNAME_RULE},
    {QN, "Example.com/a", "prefix part " SUBDOMAIN_RULE},
    {QN, A250 "abcd/a", "prefix part must be no more than 253 bytes"},
    {QN, A250 "ab-./a", "prefix part must be no more than 253 bytes; prefix part " SUBDOMAIN_RULE},
    {QN, "a_b/c_", "prefix part " SUBDOMAIN_RULE "; name part " QNAME_RULE},

    {VAL, "", NULL},
    {VAL, "MyValue", NULL},
    {VAL, "my_value", NULL},
    {VAL, "12345", NULL},
    {VAL, "a.b-c_d", NULL},
    {VAL, A63, NULL},
    {VAL, "-a", VALUE_RULE},
    {VAL, "a/b", VALUE_RULE},
    {VAL, "a b", VALUE_RULE},
    {VAL, "caf\xc3\xa9", VALUE_RULE},
    {VAL, A64, "must be no more than 63 bytes"},
    {VAL, A64 "-", "must be no more than 63 bytes; " VALUE_RULE},
};

static void test_validate_table(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const vcase_t *c = &cases[i];
        const char *got = c->fn(c->in);
        if (c->want == NULL && got != NULL)
            fail_msg("%s \"%s\": want valid, got: %s", c->name, c->in, got);
        if (c->want != NULL && (got == NULL || strcmp(got, c->want) != 0))
            fail_msg("%s \"%s\":\n  got:  %s\n  want: %s", c->name, c->in, got ? got : "(valid)",
                     c->want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_table),
    };
    return cmocka_run_group_tests_name("primitives_selector_validate", tests, NULL, NULL);
}
