/* pinwatch spki: pins of every certificate in PEM files, as openssl computes them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_spki.h"
#include "testcert.h"

static int run(char **args, int n, char **out_text)
{
    size_t len;
    FILE *out = open_memstream(out_text, &len);
    FILE *errors = fopen("/dev/null", "w");
    int rc = cli_spki(n, args, out, errors);
    fclose(out);
    fclose(errors);
    return rc;
}

Test(cli_spki, prints_the_pin_of_the_qaznet_root_as_openssl_computes_it)
{
    char path[512];
    snprintf(path, sizeof(path),
             "%s/chromium-blocklist/"
             "00309c736dd661da6f1eb24173aa849944c168a43a15bffd192eecfdb6f8dbd2.pem",
             FIXTURES_DIR);
    /* openssl's own computation of the same pin */
    char cmd[1024], expected[128] = {0};
    snprintf(cmd, sizeof(cmd),
             "openssl x509 -in '%s' -pubkey -noout | openssl pkey -pubin -outform der | "
             "openssl dgst -sha256 -binary | base64",
             path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(fgets(expected, sizeof(expected), p));
    pclose(p);
    expected[strcspn(expected, "\n")] = '\0';
    char *text = NULL;
    char *args[] = {path};
    cr_assert_eq(run(args, 1, &text), 0);
    char want[256];
    snprintf(want, sizeof(want), "pin-sha256=\"%s\"", expected);
    cr_assert(strstr(text, want) != NULL, "%s", text);
    cr_assert(strstr(text, "CN=Qaznet Trust Network") != NULL);
    free(text);
}

Test(cli_spki, every_certificate_of_a_bundle_and_errors)
{
    struct testcert *root = testcert_new_root(NULL);
    struct testcert *leaf = testcert_new_leaf(&(struct testcert_opts){.cn = "a.example"}, root);
    const struct testcert *both[] = {leaf, root};
    char *bundle = testcert_bundle_tmpfile(both, 2);
    char *text = NULL;
    char *args[] = {bundle, "/nonexistent/file.pem"};
    cr_assert_eq(run(args, 2, &text), 1, "a missing file makes the exit status non-zero");
    char pin_leaf[45], pin_root[45];
    testcert_pin(leaf, pin_leaf);
    testcert_pin(root, pin_root);
    char *l = strstr(text, pin_leaf), *r = strstr(text, pin_root);
    cr_assert(l != NULL && r != NULL, "%s", text);
    cr_assert(l < r, "certificates are listed in file order");
    free(text);
    unlink(bundle);
    free(bundle);
    testcert_free(leaf);
    testcert_free(root);
}
