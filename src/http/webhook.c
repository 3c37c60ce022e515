#include "http/webhook.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/log.h"

enum err_code webhook_global_init(struct err *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return err_set(err, ERR_INTERNAL, NULL, "cannot initialise libcurl");
    return ERR_OK;
}

void webhook_global_cleanup(void)
{
    curl_global_cleanup();
}

enum err_code webhook_sign(const char *secret, int64_t t, const char *body, size_t len,
                           char out[96], struct err *err)
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof(prefix), "%lld.", (long long)t);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    /* HMAC over "<t>." then the body, without copying the body. */
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = m != NULL ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t out_len = 0;
    bool ok = ctx != NULL &&
              EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) == 1 &&
              EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)plen) == 1 &&
              EVP_MAC_update(ctx, (const unsigned char *)body, len) == 1 &&
              EVP_MAC_final(ctx, mac, &out_len, sizeof(mac)) == 1;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    mac_len = (unsigned int)out_len;
    if (!ok || mac_len != 32)
        return err_set(err, ERR_INTERNAL, NULL, "cannot compute the HMAC");
    int n = snprintf(out, 96, "t=%lld,v1=", (long long)t);
    for (unsigned i = 0; i < mac_len; i++)
        snprintf(out + n + 2 * i, 3, "%02x", mac[i]);
    return ERR_OK;
}

/* The receiver's answer is not needed: read it into nothing (bounded by the timeout). */
static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

enum err_code webhook_post(const char *url, const char *secret, const char *body, size_t len,
                           unsigned timeout_s, struct webhook_result *res, struct err *err)
{
    memset(res, 0, sizeof(*res));
    char sig[96], sig_header[128];
    enum err_code rc = webhook_sign(secret, (int64_t)time(NULL), body, len, sig, err);
    if (rc != ERR_OK)
        return rc;
    snprintf(sig_header, sizeof(sig_header), "X-Pinwatch-Signature: %s", sig);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    if (curl == NULL)
        return err_set(err, ERR_NOMEM, NULL, "cannot create a libcurl handle");
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, sig_header);
    headers = curl_slist_append(headers, "User-Agent: pinwatch/" PINWATCH_VERSION);
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)(timeout_s < 5 ? timeout_s : 5));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)timeout_s);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, ebuf);
    CURLcode cc = curl_easy_perform(curl);
    if (cc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (cc != CURLE_OK) {
        snprintf(res->error, sizeof(res->error), "%.190s", ebuf[0] ? ebuf : curl_easy_strerror(cc));
        return err_set(err, ERR_UNAVAILABLE, "webhook_failed", "%s", res->error);
    }
    if (res->status < 200 || res->status > 299) {
        snprintf(res->error, sizeof(res->error), "answered HTTP %ld", res->status);
        return err_set(err, ERR_UNAVAILABLE, "webhook_failed", "%s", res->error);
    }
    return ERR_OK;
}
