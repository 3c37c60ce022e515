#include "report/report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static const char *const format_names[REPORT_FMT_COUNT] = {
    [REPORT_FMT_TRUSTKIT_IOS] = "trustkit_ios",
    [REPORT_FMT_TRUSTKIT_ANDROID] = "trustkit_android",
    [REPORT_FMT_HPKP] = "hpkp",
    [REPORT_FMT_EXPECT_CT] = "expect_ct",
    [REPORT_FMT_NEL] = "nel",
};

const char *report_format_name(enum report_format fmt)
{
    if ((int)fmt < 0 || fmt >= REPORT_FMT_COUNT)
        return "unknown";
    return format_names[fmt];
}

int report_format_from_name(const char *name)
{
    for (int i = 0; name != NULL && i < REPORT_FMT_COUNT; i++) {
        if (strcmp(name, format_names[i]) == 0)
            return i;
    }
    return -1;
}

struct report *report_new(void)
{
    struct report *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->include_subdomains = -1;
    r->enforce_pinning = -1;
    return r;
}

static void time_cleanup(struct report_time *t)
{
    free(t->raw);
    t->raw = NULL;
}

static void app_cleanup(struct report_app *a)
{
    free(a->bundle_id);
    free(a->version);
    free(a->platform);
    free(a->platform_version);
    free(a->vendor_id);
    free(a->sdk);
    free(a->sdk_version);
}

void report_free(struct report *r)
{
    if (r == NULL)
        return;
    free(r->hostname);
    free(r->hostname_raw);
    free(r->noted_hostname);
    free(r->noted_hostname_raw);
    time_cleanup(&r->client_time);
    time_cleanup(&r->pins_expire);
    free(r->known_pins);
    for (size_t i = 0; i < r->n_known_pins_raw; i++)
        free(r->known_pins_raw[i]);
    free(r->known_pins_raw);
    report_chain_cleanup(&r->served);
    report_chain_cleanup(&r->validated);
    app_cleanup(&r->app);
    free(r->client.as_org);
    free(r->client.user_agent);
    json_decref(r->extra);
    for (size_t i = 0; i < r->n_problems; i++) {
        free(r->problems[i].code);
        free(r->problems[i].detail);
    }
    free(r->problems);
    free(r);
}

enum err_code report_add_problem(struct report *r, const char *code, const char *fmt, ...)
{
    char detail[256];
    char *code_copy = NULL, *detail_copy = NULL;

    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        detail_copy = strdup(detail);
    }
    code_copy = strdup(code);
    struct report_problem *grown = realloc(r->problems, (r->n_problems + 1) * sizeof(*r->problems));
    if (code_copy == NULL || (fmt != NULL && detail_copy == NULL) || grown == NULL) {
        if (grown != NULL)
            r->problems = grown;
        free(code_copy);
        free(detail_copy);
        return ERR_NOMEM;
    }
    r->problems = grown;
    r->problems[r->n_problems].code = code_copy;
    r->problems[r->n_problems].detail = detail_copy;
    r->n_problems++;
    return ERR_OK;
}

bool report_has_problem(const struct report *r, const char *code)
{
    for (size_t i = 0; r != NULL && i < r->n_problems; i++) {
        if (strcmp(r->problems[i].code, code) == 0)
            return true;
    }
    return false;
}

enum err_code report_chain_append(struct report_chain *ch, struct cert *cert_take,
                                  const char *opaque)
{
    char *copy = NULL;
    if (cert_take == NULL) {
        copy = strdup(opaque != NULL ? opaque : "");
        if (copy == NULL)
            return ERR_NOMEM;
    }
    struct report_chain_entry *grown = realloc(ch->entries, (ch->n + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(copy);
        cert_free(cert_take);
        return ERR_NOMEM;
    }
    ch->entries = grown;
    ch->entries[ch->n].cert = cert_take;
    ch->entries[ch->n].opaque = copy;
    ch->n++;
    ch->present = true;
    return ERR_OK;
}

void report_chain_finish(struct report_chain *ch)
{
    EVP_MD_CTX *ctx = NULL;
    bool any = false;
    for (size_t i = 0; i < ch->n; i++)
        any = any || ch->entries[i].cert != NULL;
    ch->has_sha256 = false;
    memset(ch->sha256, 0, sizeof(ch->sha256));
    if (!any || (ctx = EVP_MD_CTX_new()) == NULL)
        return;
    bool ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < ch->n; i++) {
        const struct cert *c = ch->entries[i].cert;
        if (c != NULL)
            ok = EVP_DigestUpdate(ctx, c->der, c->der_len) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, ch->sha256, NULL) == 1;
    ch->has_sha256 = ok;
    EVP_MD_CTX_free(ctx);
}

void report_chain_cleanup(struct report_chain *ch)
{
    if (ch == NULL)
        return;
    for (size_t i = 0; i < ch->n; i++) {
        cert_free(ch->entries[i].cert);
        free(ch->entries[i].opaque);
    }
    free(ch->entries);
    memset(ch, 0, sizeof(*ch));
}
