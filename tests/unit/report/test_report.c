/* report: lifetime, format names, problems, chains and the chain id. */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "report/report.h"

#define IOS_FINAL                                                                                  \
    FIXTURES_DIR "/trustkit-ios/docs_sample_report_2017-02-20_app-platform-version_final.json"

Test(report, format_names_round_trip)
{
    const char *names[] = {"trustkit_ios", "trustkit_android", "hpkp", "expect_ct", "nel"};
    for (int i = 0; i < REPORT_FMT_COUNT; i++) {
        cr_assert_str_eq(report_format_name((enum report_format)i), names[i]);
        cr_assert_eq(report_format_from_name(names[i]), i);
    }
    cr_assert_eq(report_format_from_name("csp"), -1);
    cr_assert_eq(report_format_from_name(NULL), -1);
    cr_assert_str_eq(report_format_name(REPORT_FMT_COUNT), "unknown");
}

Test(report, new_defaults_and_problems)
{
    struct report *r = report_new();
    cr_assert_eq(r->include_subdomains, -1);
    cr_assert_eq(r->enforce_pinning, -1);
    cr_assert_eq(r->port, 0);
    cr_assert_null(r->extra);
    cr_assert_not(report_has_problem(r, "unparseable_date"));
    cr_assert_eq(report_add_problem(r, "unparseable_date", "date-time is %s", "junk"), ERR_OK);
    cr_assert_eq(report_add_problem(r, "unknown_keys", "x"), ERR_OK);
    cr_assert(report_has_problem(r, "unparseable_date"));
    cr_assert_eq(r->n_problems, 2);
    cr_assert_str_eq(r->problems[0].detail, "date-time is junk");
    /* report_free releases everything the report owns (ASan checks the rest). */
    r->hostname = strdup("a");
    r->app.bundle_id = strdup("b");
    r->client.user_agent = strdup("c");
    r->client_time.raw = strdup("d");
    r->extra = json_pack("{s:i}", "k", 1);
    r->known_pins_raw = calloc(1, sizeof(char *));
    r->known_pins_raw[0] = strdup("pin-sha1=x");
    r->n_known_pins_raw = 1;
    report_free(r);
    report_free(NULL);
}

static struct cert *fixture_cert(size_t i)
{
    json_t *root = json_load_file(IOS_FINAL, 0, NULL);
    const char *pem =
        json_string_value(json_array_get(json_object_get(root, "validated-certificate-chain"), i));
    struct cert *c = NULL;
    cr_assert_eq(cert_from_client_pem(pem, strlen(pem), &c, NULL), ERR_OK);
    json_decref(root);
    return c;
}

Test(report, chain_id_is_sha256_of_der_in_order)
{
    struct report_chain ch = {0};
    struct cert *leaf = fixture_cert(0), *ca = fixture_cert(1);
    cr_assert_eq(report_chain_append(&ch, cert_ref(leaf), NULL), ERR_OK);
    cr_assert_eq(report_chain_append(&ch, NULL, "opaque junk"), ERR_OK);
    cr_assert_eq(report_chain_append(&ch, cert_ref(ca), NULL), ERR_OK);
    report_chain_finish(&ch);
    cr_assert(ch.present);
    cr_assert_eq(ch.n, 3);
    cr_assert_str_eq(ch.entries[1].opaque, "opaque junk");
    cr_assert_null(ch.entries[0].opaque);

    unsigned char *cat = malloc(leaf->der_len + ca->der_len);
    memcpy(cat, leaf->der, leaf->der_len);
    memcpy(cat + leaf->der_len, ca->der, ca->der_len);
    uint8_t want[32];
    EVP_Digest(cat, leaf->der_len + ca->der_len, want, NULL, EVP_sha256(), NULL);
    cr_assert(ch.has_sha256);
    cr_assert_eq(memcmp(ch.sha256, want, 32), 0);

    /* Order matters. */
    struct report_chain rev = {0};
    cr_assert_eq(report_chain_append(&rev, cert_ref(ca), NULL), ERR_OK);
    cr_assert_eq(report_chain_append(&rev, cert_ref(leaf), NULL), ERR_OK);
    report_chain_finish(&rev);
    cr_assert_neq(memcmp(rev.sha256, ch.sha256, 32), 0);

    /* Nothing decodable: no id. */
    struct report_chain junk = {0};
    cr_assert_eq(report_chain_append(&junk, NULL, "x"), ERR_OK);
    report_chain_finish(&junk);
    cr_assert_not(junk.has_sha256);

    report_chain_cleanup(&ch);
    report_chain_cleanup(&rev);
    report_chain_cleanup(&junk);
    cr_assert_eq(ch.n, 0);
    cr_assert_eq(leaf->refs, 1, "the chains released their references");
    cert_free(leaf);
    cert_free(ca);
    free(cat);
}
