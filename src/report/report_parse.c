#include "report/report_parse.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/utf8.h"
#include "report/body_json.h"
#include "report/report_expect_ct.h"
#include "report/report_fields.h"
#include "report/report_nel.h"
#include "report/report_pins.h"

enum shape {
    SHAPE_UNKNOWN,
    SHAPE_PINS,
    SHAPE_EXPECT_CT,
    SHAPE_NEL,     /* a tls.* network-error Reporting API item */
    SHAPE_IGNORED, /* any other Reporting API item */
};

void report_parse_opts_init(struct report_parse_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->max_depth = REPORT_PARSE_MAX_DEPTH;
    opts->max_items = REPORT_PARSE_MAX_ITEMS;
    opts->max_chain = REPORT_PARSE_MAX_CHAIN;
    opts->max_pins = REPORT_PARSE_MAX_PINS;
    opts->max_string = REPORT_PARSE_MAX_STRING;
    opts->certs = NULL;
    opts->split = NULL;
    opts->literals = NULL;
}

static struct report_parse_opts resolve(const struct report_parse_opts *in)
{
    struct report_parse_opts o;
    report_parse_opts_init(&o);
    if (in == NULL)
        return o;
    o.received_at = in->received_at;
    o.user_agent = in->user_agent;
    o.max_depth = in->max_depth ? in->max_depth : o.max_depth;
    o.max_items = in->max_items ? in->max_items : o.max_items;
    o.max_chain = in->max_chain ? in->max_chain : o.max_chain;
    o.max_pins = in->max_pins ? in->max_pins : o.max_pins;
    o.max_string = in->max_string ? in->max_string : o.max_string;
    o.certs = in->certs;
    o.split = in->split;
    o.literals = in->literals;
    return o;
}

/* Nesting depth from the bytes alone, so a hostile body never reaches the recursive parser
 * deeper than the limit. Brackets inside strings do not count. */
static bool depth_ok(const char *body, size_t len, size_t max)
{
    size_t depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return false;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return true;
}

static enum shape classify(const json_t *v)
{
    if (!json_is_object(v))
        return SHAPE_UNKNOWN;
    /* Keys only pin reports have also mark one, so that a TrustKit report without known-pins
     * is refused as missing_field rather than unknown_format. */
    if (json_object_get(v, "known-pins") != NULL || json_object_get(v, "app-bundle-id") != NULL ||
        json_object_get(v, "noted-hostname") != NULL ||
        json_object_get(v, "include-subdomains") != NULL)
        return SHAPE_PINS;
    if (json_object_get(v, "expect-ct-report") != NULL)
        return SHAPE_EXPECT_CT;
    if (report_nel_is_tls(v))
        return SHAPE_NEL;
    if (report_nel_is_reporting_item(v))
        return SHAPE_IGNORED;
    return SHAPE_UNKNOWN;
}

/* One element: a new report in *out, or *out NULL when ignored; ERR_INVALID = rejected. */
static enum err_code parse_item(const json_t *v, enum shape shape,
                                const struct report_parse_opts *opts, struct report **out,
                                struct err *err)
{
    *out = NULL;
    if (shape == SHAPE_IGNORED)
        return ERR_OK;
    if (shape == SHAPE_UNKNOWN)
        return err_set(err, ERR_INVALID, "unknown_format",
                       "not a TrustKit, HPKP, Expect-CT or Reporting API report");
    enum err_code rc = report_fields_check_strings(v, opts->max_string, err);
    if (rc != ERR_OK)
        return rc;
    switch (shape) {
    case SHAPE_PINS:
        return report_pins_parse(v, opts, out, err);
    case SHAPE_EXPECT_CT:
        return report_expect_ct_parse(v, opts, out, err);
    default:
        return report_nel_parse(v, opts, out, err);
    }
}

/* What every report of one body shares. */
static enum err_code stamp(struct report *r, const struct report_parse_opts *opts,
                           const uint8_t raw_sha256[32])
{
    r->received_at = opts->received_at;
    memcpy(r->raw_sha256, raw_sha256, 32);
    if (r->client.user_agent != NULL || opts->user_agent == NULL)
        return ERR_OK;
    /* Stored text must be UTF-8; a header that is not is left out, as it always was. */
    if (!utf8_valid(opts->user_agent, strlen(opts->user_agent)))
        return ERR_OK;
    return (r->client.user_agent = strdup(opts->user_agent)) != NULL ? ERR_OK : ERR_NOMEM;
}

/* Take v's element into the batch (report, reject or ignore). Only ERR_NOMEM stops. */
static enum err_code add_element(struct report_batch *b, const json_t *v, size_t index,
                                 const struct report_parse_opts *opts, const uint8_t sha[32])
{
    struct report *r = NULL;
    struct err err = {0};
    enum err_code rc = parse_item(v, classify(v), opts, &r, &err);
    if (rc == ERR_NOMEM)
        return rc;
    if (rc != ERR_OK) {
        b->rejected[b->n_rejected].index = index;
        b->rejected[b->n_rejected].err = err;
        b->n_rejected++;
        return ERR_OK;
    }
    if (r == NULL) {
        b->ignored++;
        return ERR_OK;
    }
    r->index = index;
    b->reports[b->n++] = r;
    return stamp(r, opts, sha);
}

enum err_code report_parse_body(const char *body, size_t len,
                                const struct report_parse_opts *opts_in, struct report_batch *out,
                                struct err *err)
{
    struct report_parse_opts opts = resolve(opts_in);
    json_error_t jerr;
    json_t *root = NULL;
    uint8_t sha[32];
    enum err_code rc = ERR_OK;

    memset(out, 0, sizeof(*out));
    if (body == NULL)
        return err_set(err, ERR_INVALID, "invalid_json", "empty body");
    if (!depth_ok(body, len, opts.max_depth))
        return err_set(err, ERR_INVALID, "json_too_deep", "JSON nested deeper than %zu levels",
                       opts.max_depth);
    root = body_json_load(body, len, opts.split, opts.literals, &jerr);
    if (root == NULL)
        return err_set(err, ERR_INVALID, "invalid_json", "%s (line %d, column %d, byte %d)",
                       jerr.text, jerr.line, jerr.column, jerr.position);
    if (EVP_Digest(body, len, sha, NULL, EVP_sha256(), NULL) != 1) {
        rc = err_set(err, ERR_INTERNAL, NULL, "SHA-256 failed");
        goto out;
    }

    size_t n = json_is_array(root) ? json_array_size(root) : 1;
    if (json_is_array(root) && n > opts.max_items) {
        rc = err_set(err, ERR_INVALID, "too_many_items", "%zu items in one body, more than %zu", n,
                     opts.max_items);
        goto out;
    }
    if (!json_is_array(root) && classify(root) == SHAPE_UNKNOWN) {
        rc = err_set(err, ERR_INVALID, "unknown_format",
                     "not a TrustKit, HPKP, Expect-CT or Reporting API report");
        goto out;
    }
    out->reports = calloc(n ? n : 1, sizeof(*out->reports));
    out->rejected = calloc(n ? n : 1, sizeof(*out->rejected));
    if (out->reports == NULL || out->rejected == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    if (json_is_array(root)) {
        size_t i;
        json_t *v;
        json_array_foreach(root, i, v)
        {
            if ((rc = add_element(out, v, i, &opts, sha)) != ERR_OK)
                break;
        }
    } else {
        rc = add_element(out, root, 0, &opts, sha);
        /* A lone object that is not taken is the whole answer. */
        if (rc == ERR_OK && out->n_rejected == 1) {
            if (err != NULL)
                *err = out->rejected[0].err;
            rc = out->rejected[0].err.code;
        }
    }
    if (rc == ERR_NOMEM)
        err_set(err, ERR_NOMEM, NULL, "out of memory");
out:
    if (rc != ERR_OK)
        report_batch_cleanup(out);
    json_decref(root);
    return rc;
}

void report_batch_cleanup(struct report_batch *batch)
{
    if (batch == NULL)
        return;
    for (size_t i = 0; i < batch->n; i++)
        report_free(batch->reports[i]);
    free(batch->reports);
    free(batch->rejected);
    memset(batch, 0, sizeof(*batch));
}
