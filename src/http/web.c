#include "http/web.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/web_assets.h"

/* The page's policy: its own scripts and styles only, and the API on the same origin. */
#define WEB_CSP                                                                                    \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

static const struct web_asset *find_asset(const char *name)
{
    for (size_t i = 0; i < web_assets_count; i++) {
        if (strcmp(web_assets[i].name, name) == 0)
            return &web_assets[i];
    }
    return NULL;
}

/* Whether Accept-Encoding lists gzip with a quality above 0 (RFC 9110 12.5.3). */
static bool accepts_gzip(const char *accept)
{
    for (const char *p = accept; p != NULL; p = strchr(p, ',')) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, " \t;,");
        if (n != 4 || strncasecmp(p, "gzip", 4) != 0)
            continue;
        const char *params = p + n;
        const char *q = strstr(params, "q=");
        if (q == NULL || q >= params + strcspn(params, ","))
            return true;
        return strtod(q + 2, NULL) > 0;
    }
    return false;
}

/* Whether If-None-Match names etag, weak or strong (or is "*"). */
static bool etag_matches(const char *inm, const char *etag)
{
    if (inm == NULL)
        return false;
    if (strcmp(inm, "*") == 0)
        return true;
    size_t len = strlen(etag);
    for (const char *p = strstr(inm, etag); p != NULL; p = strstr(p + 1, etag)) {
        char after = p[len];
        if (after == '\0' || after == ',' || after == ' ')
            return true;
    }
    return false;
}

static void serve(struct http_request *req, struct http_reply *reply, const struct web_asset *a,
                  const char *cache_control, bool page)
{
    bool not_modified = etag_matches(http_request_header(req, "If-None-Match"), a->etag);
    bool gzip = !not_modified && accepts_gzip(http_request_header(req, "Accept-Encoding"));
    const void *data = not_modified ? (const void *)"" : gzip ? (const void *)a->gz : a->data;
    size_t len = not_modified ? 0 : gzip ? a->gz_len : a->len;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        http_reply_error(reply, 500, "internal_error", "out of memory");
        return;
    }
    if (!not_modified)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
    if (gzip)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    /* Weak: the raw and the gzip-encoded bytes share it (either may answer a revalidation). */
    char etag[40];
    snprintf(etag, sizeof(etag), "W/%s", a->etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (page) {
        MHD_add_response_header(resp, "Content-Security-Policy", WEB_CSP);
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    }
    reply->status = not_modified ? 304 : 200;
    reply->response = resp;
}

void web_index(void *ctx, struct http_request *req, struct http_reply *reply)
{
    (void)ctx;
    const struct web_asset *a = find_asset("index.html");
    if (a == NULL) {
        http_reply_error(reply, 500, "internal_error", "the dashboard was not built in");
        return;
    }
    /* Revalidated on every load, so a new build's asset URLs are seen at once. */
    serve(req, reply, a, "no-cache", true);
}

void web_asset(void *ctx, struct http_request *req, struct http_reply *reply)
{
    (void)ctx;
    const struct web_asset *a = find_asset(req->params[0]);
    if (a == NULL || strcmp(a->name, "index.html") == 0) {
        http_reply_error(reply, 404, "not_found", "no such asset");
        return;
    }
    /* The page names every asset with ?v=<its hash>: such a URL never changes content. */
    const char *v = http_request_query(req, "v");
    bool versioned = v != NULL && strncmp(a->etag + 1, v, strlen(v)) == 0 && strlen(v) == 16;
    serve(req, reply, a, versioned ? "public, max-age=31536000, immutable" : "no-cache", false);
}
