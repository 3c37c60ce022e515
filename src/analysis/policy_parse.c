/* policy_parse — the two policy formats into struct policy, through libxml2 and libplist. */
#include "analysis/policy.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <plist/plist.h>

#include "base/timeparse.h"
#include "report/hostname.h"
#include "report/pin.h"

#define DAY_USEC  (86400LL * 1000000)
#define MAC_EPOCH 978307200 /* 2001-01-01T00:00:00Z, the plist date origin */

/* ---- building the model --------------------------------------------------------------- */

static enum err_code oom(struct err *err)
{
    return err_set(err, ERR_NOMEM, NULL, "out of memory");
}

static struct policy_domain *add_domain(struct policy *p, const char *raw, int line,
                                        struct err *err)
{
    char *name = NULL;
    struct err e = {0};
    if (hostname_normalize(raw, &name, &e) != ERR_OK) {
        if (e.code == ERR_NOMEM)
            oom(err);
        else if (line > 0)
            err_set(err, ERR_INVALID, "invalid_policy", "line %d: '%s' is not a host name", line,
                    raw);
        else
            err_set(err, ERR_INVALID, "invalid_policy", "'%s' is not a host name", raw);
        return NULL;
    }
    struct policy_domain *grown = realloc(p->domains, (p->n + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(name);
        oom(err);
        return NULL;
    }
    p->domains = grown;
    struct policy_domain *d = &p->domains[p->n++];
    memset(d, 0, sizeof(*d));
    d->domain = name;
    d->line = line;
    d->enforce = true;
    return d;
}

static enum err_code add_pin(struct policy_domain *d, const char *text, bool sha256,
                             struct err *err)
{
    struct policy_pin *grown = realloc(d->pins, (d->n_pins + 1) * sizeof(*grown));
    if (grown == NULL)
        return oom(err);
    d->pins = grown;
    struct policy_pin *p = &d->pins[d->n_pins];
    memset(p, 0, sizeof(*p));
    if ((p->text = strdup(text)) == NULL)
        return oom(err);
    d->n_pins++;
    p->valid = sha256 && pin_from_base64(text, strlen(text), p->spki, NULL) == ERR_OK;
    return ERR_OK;
}

static enum err_code add_uri(struct policy_domain *d, const char *uri, struct err *err)
{
    char **grown = realloc(d->report_uris, (d->n_report_uris + 1) * sizeof(*grown));
    if (grown == NULL)
        return oom(err);
    d->report_uris = grown;
    if ((d->report_uris[d->n_report_uris] = strdup(uri)) == NULL)
        return oom(err);
    d->n_report_uris++;
    return ERR_OK;
}

/* "YYYY-MM-DD": pins are checked through that whole UTC day. */
static enum err_code set_expiration(struct policy_domain *d, const char *text, struct err *err)
{
    if ((d->expiration = strdup(text)) == NULL)
        return oom(err);
    unsigned y, m, day;
    char tail;
    if (sscanf(text, "%4u-%2u-%2u%c", &y, &m, &day, &tail) == 3 && strlen(text) == 10 && m >= 1 &&
        m <= 12 && day >= 1 && day <= 31) {
        d->expires_at = (timeparse_days_from_civil(y, m, day) + 1) * DAY_USEC;
        d->expiration_ok = true;
    }
    return ERR_OK;
}

/* ---- Android network_security_config.xml ---------------------------------------------- */

static bool named(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n->children; c != NULL; c = c->next) {
        if (named(c, name))
            return c;
    }
    return NULL;
}

/* An attribute or the trimmed text of a node, as a new string (xmlFree). */
static char *attr(const xmlNode *n, const char *name)
{
    return (char *)xmlGetProp(n, (const xmlChar *)name);
}

static bool attr_true(const xmlNode *n, const char *name)
{
    char *v = attr(n, name);
    bool yes = v != NULL && strcmp(v, "true") == 0;
    xmlFree(v);
    return yes;
}

static char *text_of(const xmlNode *n)
{
    char *t = (char *)xmlNodeGetContent(n);
    if (t == NULL)
        return NULL;
    size_t start = strspn(t, " \t\r\n"), len = strlen(t);
    while (len > start && strchr(" \t\r\n", t[len - 1]) != NULL)
        len--;
    memmove(t, t + start, len - start);
    t[len - start] = '\0';
    return t;
}

/* What a domain-config passes to the domain-configs nested in it. */
struct nsc_inherited {
    const xmlNode *pin_set;
    const xmlNode *trustkit;
};

static enum err_code nsc_pins(struct policy_domain *d, const xmlNode *pin_set, struct err *err)
{
    enum err_code rc = ERR_OK;
    char *exp = attr(pin_set, "expiration");
    if (exp != NULL)
        rc = set_expiration(d, exp, err);
    xmlFree(exp);
    for (const xmlNode *c = pin_set->children; rc == ERR_OK && c != NULL; c = c->next) {
        if (!named(c, "pin"))
            continue;
        char *digest = attr(c, "digest"), *text = text_of(c);
        rc = add_pin(d, text != NULL ? text : "", digest != NULL && strcmp(digest, "SHA-256") == 0,
                     err);
        xmlFree(digest);
        xmlFree(text);
    }
    return rc;
}

/* Android enforces a pin-set itself; TrustKit-Android's section makes it report-only unless
 * enforcePinning="true", and reports to Data Theorem too unless disableDefaultReportUri. */
static enum err_code nsc_trustkit(struct policy_domain *d, const xmlNode *tk, struct err *err)
{
    enum err_code rc = ERR_OK;
    d->enforce = attr_true(tk, "enforcePinning");
    for (const xmlNode *c = tk->children; rc == ERR_OK && c != NULL; c = c->next) {
        if (!named(c, "report-uri"))
            continue;
        char *uri = text_of(c);
        if (uri != NULL && uri[0] != '\0')
            rc = add_uri(d, uri, err);
        xmlFree(uri);
    }
    if (rc == ERR_OK && !attr_true(tk, "disableDefaultReportUri"))
        rc = add_uri(d, POLICY_TRUSTKIT_DEFAULT_REPORT_URI, err);
    return rc;
}

static enum err_code nsc_config(struct policy *p, const xmlNode *config,
                                struct nsc_inherited inherited, struct err *err)
{
    const xmlNode *own = child(config, "pin-set");
    if (own != NULL)
        inherited.pin_set = own;
    if ((own = child(config, "trustkit-config")) != NULL)
        inherited.trustkit = own;
    enum err_code rc = ERR_OK;
    for (const xmlNode *c = config->children; rc == ERR_OK && c != NULL; c = c->next) {
        if (named(c, "domain-config")) {
            rc = nsc_config(p, c, inherited, err);
            continue;
        }
        if (!named(c, "domain"))
            continue;
        char *name = text_of(c);
        struct policy_domain *d =
            add_domain(p, name != NULL ? name : "", (int)xmlGetLineNo(c), err);
        xmlFree(name);
        if (d == NULL)
            return err->code;
        d->include_subdomains = attr_true(c, "includeSubdomains");
        if (inherited.pin_set != NULL)
            rc = nsc_pins(d, inherited.pin_set, err);
        if (rc == ERR_OK && inherited.trustkit != NULL)
            rc = nsc_trustkit(d, inherited.trustkit, err);
    }
    return rc;
}

static enum err_code parse_nsc(const xmlNode *root, struct policy *p, struct err *err)
{
    p->format = POLICY_ANDROID_NSC;
    enum err_code rc = ERR_OK;
    for (const xmlNode *c = root->children; rc == ERR_OK && c != NULL; c = c->next) {
        if (named(c, "domain-config"))
            rc = nsc_config(p, c, (struct nsc_inherited){0}, err);
    }
    return rc;
}

/* ---- TrustKit Info.plist -------------------------------------------------------------- */

static const char *plist_str(plist_t dict, const char *key, char **own)
{
    plist_t v = plist_dict_get_item(dict, key);
    *own = NULL;
    if (v != NULL && plist_get_node_type(v) == PLIST_STRING)
        plist_get_string_val(v, own);
    return *own;
}

static bool plist_bool(plist_t dict, const char *key, bool dflt)
{
    plist_t v = plist_dict_get_item(dict, key);
    uint8_t b = 0;
    if (v == NULL || plist_get_node_type(v) != PLIST_BOOLEAN)
        return dflt;
    plist_get_bool_val(v, &b);
    return b != 0;
}

/* Each string of an array member, through add (pins or report URIs). */
static enum err_code plist_strings(plist_t dict, const char *key, struct policy_domain *d,
                                   enum err_code (*add)(struct policy_domain *, const char *,
                                                        struct err *),
                                   struct err *err)
{
    plist_t arr = plist_dict_get_item(dict, key);
    if (arr == NULL || plist_get_node_type(arr) != PLIST_ARRAY)
        return ERR_OK;
    enum err_code rc = ERR_OK;
    for (uint32_t i = 0; rc == ERR_OK && i < plist_array_get_size(arr); i++) {
        plist_t v = plist_array_get_item(arr, i);
        char *s = NULL;
        if (plist_get_node_type(v) == PLIST_STRING)
            plist_get_string_val(v, &s);
        rc = add(d, s != NULL ? s : "", err);
        free(s);
    }
    return rc;
}

static enum err_code add_sha256_pin(struct policy_domain *d, const char *text, struct err *err)
{
    return add_pin(d, text, true, err);
}

/* The line of the first <key>name</key> of an XML plist (libplist keeps no lines); 0 when
 * there is no document (a binary plist) or no such key. */
static int key_line(const xmlNode *n, const char *name)
{
    for (; n != NULL; n = n->next) {
        if (named(n, "key")) {
            char *t = text_of(n);
            bool same = t != NULL && strcmp(t, name) == 0;
            xmlFree(t);
            if (same)
                return (int)xmlGetLineNo(n);
        }
        int line = n->children != NULL ? key_line(n->children, name) : 0;
        if (line > 0)
            return line;
    }
    return 0;
}

static enum err_code plist_domain(struct policy *p, const char *name, plist_t cfg,
                                  const xmlNode *xml, struct err *err)
{
    struct policy_domain *d = add_domain(p, name, key_line(xml, name), err);
    if (d == NULL)
        return err->code;
    d->include_subdomains = plist_bool(cfg, "TSKIncludeSubdomains", false);
    d->enforce = plist_bool(cfg, "TSKEnforcePinning", true);
    enum err_code rc = plist_strings(cfg, "TSKPublicKeyHashes", d, add_sha256_pin, err);
    if (rc == ERR_OK)
        rc = plist_strings(cfg, "TSKReportUris", d, add_uri, err);
    char *exp = NULL;
    plist_t date = plist_dict_get_item(cfg, "TSKExpirationDate");
    if (rc == ERR_OK && plist_str(cfg, "TSKExpirationDate", &exp) != NULL) {
        rc = set_expiration(d, exp, err);
    } else if (rc == ERR_OK && date != NULL && plist_get_node_type(date) == PLIST_DATE) {
        int32_t sec = 0, usec = 0;
        plist_get_date_val(date, &sec, &usec);
        char text[TIMEPARSE_FMT_LEN];
        timeparse_format(((int64_t)sec + MAC_EPOCH) * 1000000, text);
        text[10] = '\0';
        rc = set_expiration(d, text, err);
    }
    free(exp);
    return rc;
}

static enum err_code parse_plist(plist_t root, const xmlNode *xml, struct policy *p,
                                 struct err *err)
{
    p->format = POLICY_TRUSTKIT_PLIST;
    plist_t cfg = plist_dict_get_item(root, "TSKConfiguration");
    if (cfg == NULL)
        cfg = root; /* the configuration dictionary on its own */
    plist_t domains = plist_dict_get_item(cfg, "TSKPinnedDomains");
    if (domains == NULL || plist_get_node_type(domains) != PLIST_DICT)
        return err_set(err, ERR_INVALID, "invalid_policy",
                       "no TSKConfiguration / TSKPinnedDomains dictionary in the plist");
    plist_dict_iter it = NULL;
    plist_dict_new_iter(domains, &it);
    enum err_code rc = ERR_OK;
    for (;;) {
        char *key = NULL;
        plist_t val = NULL;
        plist_dict_next_item(domains, it, &key, &val);
        if (val == NULL) {
            free(key);
            break;
        }
        if (plist_get_node_type(val) != PLIST_DICT)
            rc = err_set(err, ERR_INVALID, "invalid_policy",
                         "TSKPinnedDomains: '%s' is not a dictionary", key);
        else
            rc = plist_domain(p, key, val, xml, err);
        free(key);
        if (rc != ERR_OK)
            break;
    }
    free(it);
    return rc;
}

/* ---- entry point ---------------------------------------------------------------------- */

static enum err_code parse_xml(const char *text, size_t len, struct policy *p, struct err *err)
{
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (ctxt == NULL)
        return oom(err);
    /* No network, no entity substitution, no DTD loading: a policy file is data. */
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, text, (int)len, "policy.xml", NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    enum err_code rc = ERR_OK;
    if (doc == NULL) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        char msg[200];
        snprintf(msg, sizeof(msg), "%s", e != NULL && e->message ? e->message : "not XML");
        msg[strcspn(msg, "\n")] = '\0';
        rc = err_set(err, ERR_INVALID, "invalid_policy", "line %d: %s", e != NULL ? e->line : 0,
                     msg);
        xmlFreeParserCtxt(ctxt);
        return rc;
    }
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (root != NULL && named(root, "network-security-config")) {
        rc = parse_nsc(root, p, err);
    } else if (root != NULL && named(root, "plist")) {
        plist_t pl = NULL;
        plist_from_xml(text, (uint32_t)len, &pl);
        rc = pl != NULL && plist_get_node_type(pl) == PLIST_DICT
                 ? parse_plist(pl, root, p, err)
                 : err_set(err, ERR_INVALID, "invalid_policy",
                           "line %d: the plist is not a dictionary", (int)xmlGetLineNo(root));
        plist_free(pl);
    } else {
        rc = err_set(err, ERR_INVALID, "invalid_policy",
                     "line %d: <%s> is neither <network-security-config> nor <plist>",
                     root != NULL ? (int)xmlGetLineNo(root) : 1,
                     root != NULL ? (const char *)root->name : "");
    }
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return rc;
}

void policy_init(void)
{
    xmlInitParser();
}

enum err_code policy_parse(const char *text, size_t len, struct policy **out, struct err *err)
{
    if (text == NULL || len == 0)
        return err_set(err, ERR_INVALID, "invalid_policy", "the policy is empty");
    if (len > INT_MAX)
        return err_set(err, ERR_INVALID, "invalid_policy", "the policy is too large");
    struct policy *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return oom(err);
    xmlInitParser();
    enum err_code rc;
    if (len >= 8 && memcmp(text, "bplist00", 8) == 0) {
        plist_t pl = NULL;
        plist_from_bin(text, (uint32_t)len, &pl);
        rc = pl != NULL && plist_get_node_type(pl) == PLIST_DICT
                 ? parse_plist(pl, NULL, p, err)
                 : err_set(err, ERR_INVALID, "invalid_policy",
                           "binary plist: not a readable dictionary");
        plist_free(pl);
    } else {
        rc = parse_xml(text, len, p, err);
    }
    if (rc == ERR_OK && p->n == 0)
        rc = err_set(err, ERR_INVALID, "invalid_policy", "the policy pins no domain");
    if (rc != ERR_OK) {
        policy_free(p);
        return rc;
    }
    *out = p;
    return ERR_OK;
}
