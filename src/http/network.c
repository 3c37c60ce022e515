#include "http/network.h"

#include <maxminddb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "base/utf8.h"

struct network_db {
    MMDB_s mmdb;
};

enum err_code network_db_open(const char *path, struct network_db **out, struct err *err)
{
    struct network_db *db = calloc(1, sizeof(*db));
    if (db == NULL)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    int status = MMDB_open(path, MMDB_MODE_MMAP, &db->mmdb);
    if (status != MMDB_SUCCESS) {
        free(db);
        return err_set(err, ERR_INVALID, "asn_db", "cannot open '%s': %s", path,
                       MMDB_strerror(status));
    }
    *out = db;
    return ERR_OK;
}

void network_db_free(struct network_db *db)
{
    if (db == NULL)
        return;
    MMDB_close(&db->mmdb);
    free(db);
}

/* One X-Forwarded-For entry: an address, perhaps in brackets or with a port as some proxies
 * send it ("203.0.113.7:5555", "[2001:db8::1]:443"), blanks around it. */
static bool parse_hop(const char *text, struct addr *out)
{
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    while (len > 0 && (*text == ' ' || *text == '\t')) {
        text++;
        len--;
    }
    if (len > 0 && text[0] == '[') {
        const char *close = memchr(text, ']', len);
        if (close == NULL)
            return false;
        len = (size_t)(close - text - 1);
        text++;
    }
    if (addr_parse(text, len, out))
        return true;
    const char *colon = memchr(text, ':', len);
    size_t rest = colon != NULL ? len - (size_t)(colon + 1 - text) : 0;
    return colon != NULL && memchr(colon + 1, ':', rest) == NULL &&
           addr_parse(text, (size_t)(colon - text), out) && out->family == AF_INET;
}

static bool trusted_addr(const struct addr *a, const struct config_cidr *trusted, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len;
    addr_to_sockaddr(a, 0, &ss, &len);
    for (size_t i = 0; i < n; i++) {
        if (config_cidr_contains(&trusted[i], (const struct sockaddr *)&ss))
            return true;
    }
    return false;
}

/* The address and its network: IPv4 /24, IPv6 /48. */
static void describe(const struct addr *a, struct network_info *out)
{
    char text[ADDR_TEXT_LEN];
    unsigned bits = a->family == AF_INET ? 24 : 48;
    struct addr net = *a;
    addr_mask(&net, bits);
    addr_format(a, text);
    snprintf(out->ip, sizeof(out->ip), "%s", text);
    addr_format(&net, text);
    snprintf(out->network, sizeof(out->network), "%s/%u", text, bits);
}

static void lookup_asn(const struct network_db *db, const struct addr *a, struct network_info *out)
{
    int mmdb_err = MMDB_SUCCESS;
    struct sockaddr_storage ss;
    socklen_t len;
    addr_to_sockaddr(a, 0, &ss, &len);
    MMDB_lookup_result_s res =
        MMDB_lookup_sockaddr((MMDB_s *)&db->mmdb, (const struct sockaddr *)&ss, &mmdb_err);
    if (mmdb_err != MMDB_SUCCESS || !res.found_entry)
        return;
    MMDB_entry_data_s data;
    if (MMDB_get_value(&res.entry, &data, "autonomous_system_number", NULL) == MMDB_SUCCESS &&
        data.has_data) {
        if (data.type == MMDB_DATA_TYPE_UINT32)
            out->asn = data.uint32;
        else if (data.type == MMDB_DATA_TYPE_UINT64)
            out->asn = (int64_t)data.uint64;
        else if (data.type == MMDB_DATA_TYPE_UINT16)
            out->asn = data.uint16;
    }
    if (MMDB_get_value(&res.entry, &data, "autonomous_system_organization", NULL) == MMDB_SUCCESS &&
        data.has_data && data.type == MMDB_DATA_TYPE_UTF8_STRING) {
        size_t n =
            data.data_size < sizeof(out->as_org) - 1 ? data.data_size : sizeof(out->as_org) - 1;
        /* Cut where no sequence is split: the name is stored as text, which must be UTF-8. */
        n = utf8_valid_prefix(data.utf8_string, n);
        memcpy(out->as_org, data.utf8_string, n);
        out->as_org[n] = '\0';
    }
    /* GeoLite2-Country/City style, and DB-IP / IPinfo style flat country codes. */
    static const char *const paths[][3] = {{"country", "iso_code", NULL},
                                           {"registered_country", "iso_code", NULL},
                                           {"country_code", NULL, NULL}};
    for (size_t i = 0; i < 3 && out->country[0] == '\0'; i++) {
        int rc = paths[i][1] != NULL
                     ? MMDB_get_value(&res.entry, &data, paths[i][0], paths[i][1], NULL)
                     : MMDB_get_value(&res.entry, &data, paths[i][0], NULL);
        if (rc == MMDB_SUCCESS && data.has_data && data.type == MMDB_DATA_TYPE_UTF8_STRING &&
            data.data_size < sizeof(out->country)) {
            memcpy(out->country, data.utf8_string, data.data_size);
            out->country[data.data_size] = '\0';
        }
    }
}

void network_identify(const struct sockaddr *peer, const char *xff,
                      const struct config_cidr *trusted, size_t n_trusted,
                      const struct network_db *db, struct network_info *out)
{
    memset(out, 0, sizeof(*out));
    struct addr client;
    if (!addr_from_sockaddr(peer, &client))
        return;
    addr_unmap_v4(&client);
    if (xff != NULL && n_trusted > 0 && trusted_addr(&client, trusted, n_trusted)) {
        /* Walk from the right: each hop was added by the proxy before it; stop at the first
         * address that is not one of our proxies. */
        char *copy = strdup(xff);
        if (copy != NULL) {
            char *end = copy + strlen(copy);
            while (end > copy) {
                char *comma = end;
                while (comma > copy && comma[-1] != ',')
                    comma--;
                *end = '\0';
                struct addr hop;
                if (!parse_hop(comma, &hop))
                    break;
                addr_unmap_v4(&hop);
                client = hop;
                if (!trusted_addr(&hop, trusted, n_trusted))
                    break;
                end = comma > copy ? comma - 1 : copy;
            }
            free(copy);
        }
    }
    describe(&client, out);
    if (db != NULL)
        lookup_asn(db, &client, out);
}

bool network_prefix_of(const char *ip, char *out, size_t outlen)
{
    struct addr a;
    if (!parse_hop(ip, &a))
        return false;
    addr_unmap_v4(&a);
    struct network_info info;
    memset(&info, 0, sizeof(info));
    describe(&a, &info);
    snprintf(out, outlen, "%s", info.network);
    return true;
}
