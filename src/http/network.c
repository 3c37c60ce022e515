#include "http/network.h"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Parse text into a sockaddr (IPv4-mapped IPv6 becomes plain IPv4). */
static bool parse_addr(const char *text, struct sockaddr_storage *ss)
{
    char buf[64];
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
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        return true;
    }
    /* "203.0.113.7:5555" (address with port) as some proxies send it. */
    char *colon = strchr(buf, ':');
    if (colon != NULL && strchr(colon + 1, ':') == NULL) {
        *colon = '\0';
        if (inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
            return true;
        }
        *colon = ':';
    }
    if (inet_pton(AF_INET6, buf, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

static void unmap_v4(struct sockaddr_storage *ss)
{
    if (ss->ss_family != AF_INET6)
        return;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (!IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
        return;
    struct sockaddr_in v4;
    memset(&v4, 0, sizeof(v4));
    v4.sin_family = AF_INET;
    memcpy(&v4.sin_addr, &v6->sin6_addr.s6_addr[12], 4);
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, &v4, sizeof(v4));
}

static bool trusted_addr(const struct sockaddr *sa, const struct config_cidr *trusted, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (config_cidr_contains(&trusted[i], sa))
            return true;
    }
    return false;
}

static void describe(const struct sockaddr_storage *ss, struct network_info *out)
{
    unsigned char a[16];
    char text[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        memcpy(a, &((const struct sockaddr_in *)ss)->sin_addr, 4);
        inet_ntop(AF_INET, a, out->ip, sizeof(out->ip));
        a[3] = 0;
        inet_ntop(AF_INET, a, text, sizeof(text));
        snprintf(out->network, sizeof(out->network), "%s/24", text);
    } else if (ss->ss_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
        inet_ntop(AF_INET6, a, out->ip, sizeof(out->ip));
        memset(a + 6, 0, 10);
        inet_ntop(AF_INET6, a, text, sizeof(text));
        snprintf(out->network, sizeof(out->network), "%s/48", text);
    }
}

static void lookup_asn(const struct network_db *db, const struct sockaddr_storage *ss,
                       struct network_info *out)
{
    int gai = 0, mmdb_err = MMDB_SUCCESS;
    MMDB_lookup_result_s res =
        MMDB_lookup_sockaddr((MMDB_s *)&db->mmdb, (const struct sockaddr *)ss, &mmdb_err);
    (void)gai;
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
    struct sockaddr_storage client;
    memset(&client, 0, sizeof(client));
    size_t plen =
        peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    memcpy(&client, peer, plen);
    unmap_v4(&client);
    if (xff != NULL && n_trusted > 0 &&
        trusted_addr((struct sockaddr *)&client, trusted, n_trusted)) {
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
                struct sockaddr_storage hop;
                if (!parse_addr(comma, &hop))
                    break;
                unmap_v4(&hop);
                client = hop;
                if (!trusted_addr((struct sockaddr *)&hop, trusted, n_trusted))
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
    struct sockaddr_storage ss;
    if (!parse_addr(ip, &ss))
        return false;
    unmap_v4(&ss);
    struct network_info info;
    memset(&info, 0, sizeof(info));
    describe(&ss, &info);
    snprintf(out, outlen, "%s", info.network);
    return true;
}
