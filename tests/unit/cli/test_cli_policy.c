/* pinwatch check-policy: exit 0 / 1 / 2 as CI needs them, chains per host, --json. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_policy.h"
#include "testcert.h"
#include "testenv.h"

static struct testcert *root, *ca, *leaf, *backup;
static char *chain_path, *other_chain_path;

static void setup(void)
{
    root = testcert_new_root(&(struct testcert_opts){.cn = "CLI Root"});
    ca = testcert_new_ca(&(struct testcert_opts){.cn = "CLI CA"}, root);
    leaf = testcert_new_leaf(&(struct testcert_opts){.cn = "api.example.com"}, ca);
    backup = testcert_new_root(&(struct testcert_opts){.cn = "CLI backup"});
    cr_assert(root && ca && leaf && backup);
    chain_path = testcert_bundle_tmpfile((const struct testcert *[]){leaf, ca}, 2);
    other_chain_path = testcert_bundle_tmpfile((const struct testcert *[]){backup}, 1);
    setenv("PINWATCH_PUBLIC_URL", "https://pinwatch.example.com", 1);
    unsetenv("PINWATCH_EXPECTED_KEYS");
}

static void teardown(void)
{
    unlink(chain_path);
    unlink(other_chain_path);
    free(chain_path);
    free(other_chain_path);
    testcert_free(backup);
    testcert_free(leaf);
    testcert_free(ca);
    testcert_free(root);
}

TestSuite(cli_policy, .init = setup, .fini = teardown);

/* An NSC pinning `first` and the backup key for api.example.com and www.example.com. */
static char *nsc_file(const struct testcert *first)
{
    char a[45], b[45], text[2048];
    testcert_pin(first, a);
    testcert_pin(backup, b);
    snprintf(text, sizeof(text),
             "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<network-security-config>\n"
             "  <domain-config>\n    <domain>api.example.com</domain>\n"
             "    <domain>www.example.com</domain>\n"
             "    <pin-set expiration=\"2099-12-31\">\n"
             "      <pin digest=\"SHA-256\">%s</pin>\n      <pin digest=\"SHA-256\">%s</pin>\n"
             "    </pin-set>\n"
             "    <trustkit-config enforcePinning=\"true\" disableDefaultReportUri=\"true\">\n"
             "      <report-uri>https://pinwatch.example.com/v1/reports</report-uri>\n"
             "    </trustkit-config>\n  </domain-config>\n</network-security-config>\n",
             a, b);
    return testenv_write_temp(text);
}

static int run(char **args, int n, char **out_text, char **err_text)
{
    size_t lo, le;
    FILE *out = open_memstream(out_text, &lo), *errors = open_memstream(err_text, &le);
    int rc = cli_check_policy(n, args, out, errors);
    fclose(out);
    fclose(errors);
    return rc;
}

Test(cli_policy, a_good_policy_exits_0_and_a_broken_one_1)
{
    char *good = nsc_file(ca), *bad = nsc_file(root); /* the root is not in the file's chain */
    char *out = NULL, *err = NULL;
    char *args[] = {"--chain", chain_path, good};
    cr_assert_eq(run(args, 3, &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "api.example.com: 2 pins, enforced, expires 2099-12-31") != NULL, "%s",
              out);
    cr_assert(strstr(out, "  ok") != NULL, "%s", out);
    free(out);
    free(err);

    /* the system trust store does not hold the test root: the chain misses the root pin */
    char *args2[] = {"--chain", chain_path, bad};
    cr_assert_eq(run(args2, 3, &out, &err), 1, "%s%s", out, err);
    cr_assert(strstr(out, "misses_current_key") != NULL, "%s", out);
    free(out);
    free(err);
    unlink(good);
    unlink(bad);
    free(good);
    free(bad);
}

Test(cli_policy, chains_per_host_and_json)
{
    char *policy = nsc_file(ca);
    char host_chain[600];
    snprintf(host_chain, sizeof(host_chain), "www.example.com=%s", other_chain_path);
    char *out = NULL, *err = NULL;
    char *args[] = {"--json", "--chain", chain_path, "--chain", host_chain, policy};
    cr_assert_eq(run(args, 6, &out, &err), 0, "warnings alone pass: %s%s", out, err);
    json_error_t jerr;
    json_t *res = json_loads(out, 0, &jerr);
    cr_assert_not_null(res, "%s: %s", jerr.text, out);
    json_t *domains = json_object_get(res, "domains");
    cr_assert_eq(json_array_size(domains), 2);
    size_t i;
    json_t *d;
    json_array_foreach(domains, i, d)
    {
        const char *name = json_string_value(json_object_get(d, "domain"));
        json_t *f = json_object_get(d, "findings");
        bool leaf_only = false, misses = false;
        size_t k;
        json_t *x;
        json_array_foreach(f, k, x)
        {
            const char *code = json_string_value(json_object_get(x, "code"));
            misses |= strcmp(code, "misses_current_key") == 0;
            leaf_only |= strcmp(code, "leaf_only") == 0;
        }
        /* www.example.com's chain is the backup key alone: pinned, but as its leaf */
        cr_assert_eq(misses, false, "%s", name);
        cr_assert_eq(leaf_only, strcmp(name, "www.example.com") == 0, "%s", name);
    }
    json_decref(res);
    free(out);
    free(err);
    unlink(policy);
    free(policy);
}

Test(cli_policy, unreadable_input_exits_2_naming_the_line)
{
    char *broken = testenv_write_temp("<network-security-config>\n<domain-config>\n<pin-set>\n");
    char *out = NULL, *err = NULL;
    char *args[] = {broken};
    cr_assert_eq(run(args, 1, &out, &err), 2);
    cr_assert(strstr(err, "line 4") != NULL, "%s", err);
    free(out);
    free(err);
    char *missing[] = {"/nonexistent/policy.xml"};
    cr_assert_eq(run(missing, 1, &out, &err), 2);
    free(out);
    free(err);
    char *no_chain[] = {"--chain", "/nonexistent/chain.pem", broken};
    cr_assert_eq(run(no_chain, 3, &out, &err), 2);
    cr_assert(strstr(err, "/nonexistent/chain.pem") != NULL, "%s", err);
    free(out);
    free(err);
    char *usage[] = {"--bogus"};
    cr_assert_eq(run(usage, 1, &out, &err), 2);
    cr_assert(strstr(err, "usage") != NULL);
    free(out);
    free(err);
    unlink(broken);
    free(broken);
}
