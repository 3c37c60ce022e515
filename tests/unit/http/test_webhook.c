/* webhook_sign: the X-Pinwatch-Signature value, checked against `openssl dgst -hmac`. */
#include <criterion/criterion.h>
#include <string.h>

#include "http/webhook.h"

Test(webhook, signs_t_dot_body_with_hmac_sha256)
{
    char sig[96];
    const char *body = "{\"id\":\"x\"}";
    cr_assert_eq(webhook_sign("whsec-unit", 1700000000, body, strlen(body), sig, NULL), ERR_OK);
    /* printf '1700000000.{"id":"x"}' | openssl dgst -sha256 -hmac whsec-unit */
    cr_assert_str_eq(sig, "t=1700000000,v1=2c567067b34a10f6511bfdf17943499c9505b20467f4818ab36b43f8"
                          "9b91b614");
}

Test(webhook, every_byte_of_body_time_and_key_counts)
{
    char a[96], b[96], c[96], d[96];
    cr_assert_eq(webhook_sign("k", 1, "{}", 2, a, NULL), ERR_OK);
    cr_assert_eq(webhook_sign("k", 2, "{}", 2, b, NULL), ERR_OK);
    cr_assert_eq(webhook_sign("K", 1, "{}", 2, c, NULL), ERR_OK);
    cr_assert_eq(webhook_sign("k", 1, "{} ", 3, d, NULL), ERR_OK);
    cr_assert_str_neq(a + 4, b + 4);
    cr_assert_str_neq(a, c);
    cr_assert_str_neq(a, d);
    cr_assert_eq(strlen(strchr(a, '=') + 1), strlen("1,v1=") + 64);
}

Test(webhook, a_closed_port_is_an_error_within_the_timeout)
{
    cr_assert_eq(webhook_global_init(NULL), ERR_OK);
    struct webhook_result res;
    struct err e = {0};
    /* port 9 on loopback: nothing listens there in the test machine */
    cr_assert_eq(webhook_post("http://127.0.0.1:9/", "k", "{}", 2, 2, &res, &e), ERR_UNAVAILABLE);
    cr_assert_eq(res.status, 0);
    cr_assert_neq(res.error[0], '\0');
    cr_assert_eq(webhook_post("ftp://127.0.0.1/", "k", "{}", 2, 2, &res, &e), ERR_UNAVAILABLE,
                 "only http and https");
    webhook_global_cleanup();
}
