/*
 * network — who sent a request: the client address (the TCP peer, or the X-Forwarded-For
 * entry a trusted proxy vouches for), its network prefix (IPv4 /24, IPv6 /48) and, with a
 * MaxMind-format database, ASN, organisation and country.
 */
#ifndef NETWORK_H
#define NETWORK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/config.h"
#include "base/err.h"

struct network_db;

struct network_info {
    char ip[64];      /* canonical text of the client address */
    char network[64]; /* CIDR prefix text */
    int64_t asn;      /* 0 when unknown */
    char as_org[128];
    char country[4];
};

/* Open an .mmdb (libmaxminddb). New handle in *out. */
enum err_code network_db_open(const char *path, struct network_db **out,
                              struct err *err) ERR_MUSTCHECK;
void network_db_free(struct network_db *db);

/*
 * The client address: peer, unless peer is inside one of the trusted proxy prefixes and
 * xff (every X-Forwarded-For line joined in order, may be NULL) is present — then the right-most
 * entry that is not itself a trusted proxy. Fills out->ip and out->network; then ASN fields from db
 * (may be NULL).
 */
void network_identify(const struct sockaddr *peer, const char *xff,
                      const struct config_cidr *trusted, size_t n_trusted,
                      const struct network_db *db, struct network_info *out);

/* Prefix text for an address given as text ("203.0.113.7" -> "203.0.113.0/24"); false if
 * not an address. */
bool network_prefix_of(const char *ip, char *out, size_t outlen);

#endif
