#include "report/report_expect_ct.h"

#include "report/report_fields.h"

static const char *const outer_keys[] = {"expect-ct-report", NULL};

static const char *const inner_keys[] = {"date-time",
                                         "hostname",
                                         "port",
                                         "scheme",
                                         "effective-expiration-date",
                                         "scts",
                                         "failure-mode",
                                         "test-report",
                                         "served-certificate-chain",
                                         "validated-certificate-chain",
                                         NULL};

/* The RFC 9163 fields pinwatch does not model go to extra, checked for type. */
static enum err_code extras(struct report *r, const json_t *in)
{
    static const struct {
        const char *wire, *extra;
        json_type type; /* JSON_TRUE stands for either boolean */
    } fields[] = {
        {"scts", "scts", JSON_ARRAY},
        {"failure-mode", "failure_mode", JSON_STRING},
        {"scheme", "scheme", JSON_STRING},
        {"test-report", "test_report", JSON_TRUE},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const json_t *v = json_object_get(in, fields[i].wire);
        if (v == NULL || json_is_null(v))
            continue;
        bool ok =
            fields[i].type == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == fields[i].type;
        enum err_code rc =
            ok ? report_fields_extra_copy(r, in, fields[i].wire, fields[i].extra)
               : report_add_problem(r, "invalid_field", "%s has the wrong type", fields[i].wire);
        if (rc != ERR_OK)
            return rc;
    }
    return ERR_OK;
}

static enum err_code fill(struct report *r, const json_t *wrapper, const json_t *in,
                          struct cert_cache *certs)
{
    enum err_code rc = report_fields_port(r, in);
    if (rc == ERR_OK)
        rc = report_fields_time(r, in, "date-time", &r->client_time);
    if (rc == ERR_OK)
        rc = report_fields_time(r, in, "effective-expiration-date", &r->pins_expire);
    if (rc == ERR_OK)
        rc = report_fields_chain(r, in, "served-certificate-chain", certs, &r->served);
    if (rc == ERR_OK)
        rc = report_fields_chain(r, in, "validated-certificate-chain", certs, &r->validated);
    if (rc == ERR_OK)
        rc = extras(r, in);
    if (rc == ERR_OK)
        rc = report_fields_browser_app(r);
    if (rc == ERR_OK)
        rc = report_fields_unknown_keys(r, wrapper, outer_keys);
    if (rc == ERR_OK)
        rc = report_fields_unknown_keys(r, in, inner_keys);
    return rc;
}

enum err_code report_expect_ct_parse(const json_t *wrapper, const struct report_parse_opts *opts,
                                     struct report **out, struct err *err)
{
    const json_t *in = json_object_get(wrapper, "expect-ct-report");
    if (!json_is_object(in))
        return err_set(err, ERR_INVALID, "invalid_field", "expect-ct-report is not an object");
    if (report_fields_chain_check(in, "served-certificate-chain", opts, err) != ERR_OK ||
        report_fields_chain_check(in, "validated-certificate-chain", opts, err) != ERR_OK)
        return ERR_INVALID;
    struct report *r = report_new();
    if (r == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    r->format = REPORT_FMT_EXPECT_CT;
    enum err_code rc = report_fields_hostname(r, in, "hostname", err);
    if (rc == ERR_OK) {
        rc = fill(r, wrapper, in, opts->certs);
        if (rc != ERR_OK)
            err_set(err, rc, NULL, "out of memory");
    }
    return report_fields_done(r, rc, out);
}
