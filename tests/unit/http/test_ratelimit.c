/* ratelimit: a token bucket per client network, driven with explicit timestamps so refill and
 * Retry-After are checked exactly. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "http/ratelimit.h"

#define SEC 1000000LL
#define T0  (1700000000LL * SEC)

Test(ratelimit, count_then_refused_with_retry_after)
{
    struct ratelimit *rl = ratelimit_new(5, 60); /* 5/min: one token every 12 s */
    cr_assert_not_null(rl);
    unsigned retry = 0;
    for (int i = 0; i < 5; i++)
        cr_assert(ratelimit_take(rl, "198.51.100.0/24", 1, T0, &retry), "take %d", i);
    retry = 0;
    cr_assert_not(ratelimit_take(rl, "198.51.100.0/24", 1, T0, &retry));
    cr_assert_eq(retry, 12);
    /* Half-way through the refill: still refused, and the wait shrinks. */
    cr_assert_not(ratelimit_take(rl, "198.51.100.0/24", 1, T0 + 6 * SEC, &retry));
    cr_assert_eq(retry, 6);
    ratelimit_free(rl);
}

Test(ratelimit, refill_over_time)
{
    struct ratelimit *rl = ratelimit_new(5, 60);
    unsigned retry = 0;
    for (int i = 0; i < 5; i++)
        cr_assert(ratelimit_take(rl, "k", 1, T0, &retry));
    cr_assert_not(ratelimit_take(rl, "k", 1, T0 + 11 * SEC, &retry));
    /* 12 s after emptying: exactly one token is back. */
    cr_assert(ratelimit_take(rl, "k", 1, T0 + 12 * SEC, &retry));
    cr_assert_not(ratelimit_take(rl, "k", 1, T0 + 12 * SEC, &retry));
    /* 36 s later: three more, not four. */
    for (int i = 0; i < 3; i++)
        cr_assert(ratelimit_take(rl, "k", 1, T0 + 48 * SEC, &retry), "take %d", i);
    cr_assert_not(ratelimit_take(rl, "k", 1, T0 + 48 * SEC, &retry));
    ratelimit_free(rl);
}

Test(ratelimit, a_full_bucket_does_not_grow_past_count)
{
    struct ratelimit *rl = ratelimit_new(5, 60);
    unsigned retry = 0;
    cr_assert(ratelimit_take(rl, "k", 1, T0, &retry));
    /* A day of silence refills to 5, not to thousands. */
    int64_t later = T0 + 86400 * SEC;
    for (int i = 0; i < 5; i++)
        cr_assert(ratelimit_take(rl, "k", 1, later, &retry));
    cr_assert_not(ratelimit_take(rl, "k", 1, later, &retry));
    ratelimit_free(rl);
}

Test(ratelimit, keys_are_separate)
{
    struct ratelimit *rl = ratelimit_new(2, 60);
    unsigned retry = 0;
    cr_assert(ratelimit_take(rl, "198.51.100.0/24", 2, T0, &retry));
    cr_assert_not(ratelimit_take(rl, "198.51.100.0/24", 1, T0, &retry));
    cr_assert(ratelimit_take(rl, "203.0.113.0/24", 1, T0, &retry));
    cr_assert(ratelimit_take(rl, "2001:db8:1::/48", 2, T0, &retry));
    cr_assert_not(ratelimit_take(rl, "2001:db8:1::/48", 1, T0, &retry));
    /* Emptying one bucket left the other where it was. */
    cr_assert(ratelimit_take(rl, "203.0.113.0/24", 1, T0, &retry));
    cr_assert_not(ratelimit_take(rl, "203.0.113.0/24", 1, T0, &retry));
    ratelimit_free(rl);
}

Test(ratelimit, several_tokens_at_once)
{
    struct ratelimit *rl = ratelimit_new(10, 10); /* one per second */
    unsigned retry = 0;
    cr_assert(ratelimit_take(rl, "k", 7, T0, &retry));
    /* 3 left; 5 wanted: 2 missing = 2 s. A refusal takes nothing. */
    cr_assert_not(ratelimit_take(rl, "k", 5, T0, &retry));
    cr_assert_eq(retry, 2);
    cr_assert(ratelimit_take(rl, "k", 3, T0, &retry));
    cr_assert_not(ratelimit_take(rl, "k", 1, T0, &retry));
    cr_assert_eq(retry, 1);
    ratelimit_free(rl);
}

Test(ratelimit, retry_after_is_at_least_one_second)
{
    struct ratelimit *rl = ratelimit_new(1000, 1); /* a token every millisecond */
    unsigned retry = 0;
    cr_assert(ratelimit_take(rl, "k", 1000, T0, &retry));
    cr_assert_not(ratelimit_take(rl, "k", 1, T0, &retry));
    cr_assert_eq(retry, 1);
    ratelimit_free(rl);
}

Test(ratelimit, clock_going_backwards_refills_nothing)
{
    struct ratelimit *rl = ratelimit_new(3, 60);
    unsigned retry = 0;
    cr_assert(ratelimit_take(rl, "k", 3, T0, &retry));
    cr_assert_not(ratelimit_take(rl, "k", 1, T0 - 3600 * SEC, &retry));
    cr_assert_not(ratelimit_take(rl, "k", 1, T0, &retry));
    cr_assert(ratelimit_take(rl, "k", 1, T0 + 20 * SEC, &retry));
    ratelimit_free(rl);
}

Test(ratelimit, zero_count_and_null_disable_limiting)
{
    struct ratelimit *off = ratelimit_new(0, 1);
    cr_assert_not_null(off);
    for (int i = 0; i < 10000; i++)
        cr_assert(ratelimit_take(off, "k", 100, T0, NULL));
    ratelimit_free(off);
    cr_assert(ratelimit_take(NULL, "k", 1, T0, NULL));
    ratelimit_free(NULL);
}

Test(ratelimit, many_networks_stay_bounded_and_recent_ones_are_kept)
{
    struct ratelimit *rl = ratelimit_new(1, 3600);
    char key[64];
    /* Far more networks than the table holds, each using its one token. */
    for (int i = 0; i < 50000; i++) {
        snprintf(key, sizeof(key), "10.%d.%d.0/24", i / 256, i % 256);
        cr_assert(ratelimit_take(rl, key, 1, T0 + i, NULL), "%s", key);
    }
    /* The most recent networks are still tracked: no second token within the hour. */
    for (int i = 49990; i < 50000; i++) {
        snprintf(key, sizeof(key), "10.%d.%d.0/24", i / 256, i % 256);
        cr_assert_not(ratelimit_take(rl, key, 1, T0 + 50000, NULL), "%s", key);
    }
    ratelimit_free(rl);
}

Test(ratelimit, long_keys_are_limited_too)
{
    /* The key is any string (ratelimit.h); one longer than the bucket's key field must still
     * map to one bucket rather than a fresh one per call. */
    char key[200];
    memset(key, 'a', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    struct ratelimit *rl = ratelimit_new(2, 60);
    cr_assert(ratelimit_take(rl, key, 1, T0, NULL));
    cr_assert(ratelimit_take(rl, key, 1, T0, NULL));
    bool third = ratelimit_take(rl, key, 1, T0, NULL);
    ratelimit_free(rl);
    cr_assert_not(third, "a 199-byte key got a third token out of 2/min");
}
