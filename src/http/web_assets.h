/* web_assets — the dashboard's files, compiled into the binary by cmake/embed_assets.cmake:
 * each one raw and gzip-compressed, with its content type and a strong ETag. Read-only. */
#ifndef WEB_ASSETS_H
#define WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
    const char *name;         /* "index.html", "app.js", ... */
    const char *content_type; /* with charset for text */
    const char *etag;         /* quoted, from the SHA-256 of the raw bytes */
    const unsigned char *data;
    size_t len;
    const unsigned char *gz; /* gzip -9 -n of data */
    size_t gz_len;
};

extern const struct web_asset web_assets[];
extern const size_t web_assets_count;

#endif
