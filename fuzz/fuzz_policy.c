/*
 * fuzz_policy — policy_parse on any bytes (Android network security configs, TrustKit
 * Info.plists in XML and binary), then policy_check on what it accepts. Invariants: a refusal
 * is ERR_INVALID "invalid_policy" and returns nothing; an accepted policy names at least one
 * normalized domain, and its check is a JSON object with one entry per domain whose findings
 * all carry a known severity.
 */
#include <string.h>

#include "analysis/policy.h"
#include "fuzz_check.h"

#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

static int pl_known_severity(const char *s)
{
    return s != NULL &&
           (strcmp(s, "error") == 0 || strcmp(s, "warning") == 0 || strcmp(s, "info") == 0);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size);
int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    struct policy *p = NULL;
    struct err err;
    memset(&err, 0, sizeof(err));
    enum err_code rc = policy_parse((const char *)data, size, &p, &err);
    if (rc != ERR_OK) {
        FUZZ_CHECK(rc == ERR_INVALID || rc == ERR_NOMEM);
        FUZZ_CHECK(rc == ERR_NOMEM || strcmp(err.key, "invalid_policy") == 0);
        FUZZ_CHECK(p == NULL);
        return 0;
    }
    FUZZ_CHECK(p->n > 0);
    struct policy_check_opts o = {.now_usec = 1700000000LL * 1000000,
                                  .public_url = "https://pinwatch.example"};
    json_t *res = policy_check(p, &o);
    FUZZ_CHECK(res != NULL);
    const json_t *domains = json_object_get(res, "domains");
    FUZZ_CHECK(json_array_size(domains) == p->n);
    size_t i, k;
    const json_t *d, *f;
    json_array_foreach(domains, i, d)
    {
        FUZZ_CHECK(strcmp(json_string_value(json_object_get(d, "domain")), p->domains[i].domain) ==
                   0);
        json_array_foreach(json_object_get(d, "findings"), k, f)
        {
            FUZZ_CHECK(pl_known_severity(json_string_value(json_object_get(f, "severity"))));
        }
    }
    json_decref(res);
    policy_free(p);
    return 0;
}
