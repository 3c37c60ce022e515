/* config: the value parsers (listen address, CIDR lists, rates, sizes) on good and bad text,
 * and config_load from the environment and flags: every bad setting gives exactly one
 * message that names it, and secrets never reach the log. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/config.h"

extern char **environ;

/* ---- config_parse_listen ---- */

Test(config, listen_good)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    cr_assert_eq(config_parse_listen("127.0.0.1:8080", &ss, &len, NULL), ERR_OK);
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&ss;
    cr_assert_eq(ss.ss_family, AF_INET);
    cr_assert_eq(len, sizeof(struct sockaddr_in));
    cr_assert_eq(ntohs(v4->sin_port), 8080);
    cr_assert_eq(ntohl(v4->sin_addr.s_addr), 0x7f000001u);

    cr_assert_eq(config_parse_listen("[::1]:9000", &ss, &len, NULL), ERR_OK);
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&ss;
    cr_assert_eq(ss.ss_family, AF_INET6);
    cr_assert_eq(len, sizeof(struct sockaddr_in6));
    cr_assert_eq(ntohs(v6->sin6_port), 9000);
    cr_assert(IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr));

    cr_assert_eq(config_parse_listen("localhost:80", &ss, &len, NULL), ERR_OK);
    cr_assert_eq(ss.ss_family, AF_INET);
    cr_assert_eq(ntohl(v4->sin_addr.s_addr), 0x7f000001u);
    /* Port 0: any free port (the tests use it). */
    cr_assert_eq(config_parse_listen("0.0.0.0:0", &ss, &len, NULL), ERR_OK);
    cr_assert_eq(ntohs(v4->sin_port), 0);
    cr_assert_eq(config_parse_listen("[::]:65535", &ss, &len, NULL), ERR_OK);
    cr_assert_eq(ntohs(v6->sin6_port), 65535);
}

/* Parameters hold their text: Criterion runs each one in a process of its own. */
struct bad_text {
    char text[32];
};

#define BAD_TEXTS(suite, name, ...)                                                                \
    ParameterizedTestParameters(suite, name)                                                       \
    {                                                                                              \
        static struct bad_text bad[] = {__VA_ARGS__};                                              \
        return cr_make_param_array(struct bad_text, bad, sizeof(bad) / sizeof(bad[0]));            \
    }

BAD_TEXTS(config, listen_bad, {""}, {"127.0.0.1"}, {"127.0.0.1:"}, {"127.0.0.1:65536"},
          {"127.0.0.1:-1"}, {"127.0.0.1:80x"}, {"127.0.0.1: 80"}, {":8080"}, {"example.com:80"},
          {"300.1.1.1:80"}, {"[::1]"}, {"[::1]8080"}, {"[::1:8080"})

ParameterizedTest(struct bad_text *b, config, listen_bad)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    struct err err = {0};
    cr_assert_eq(config_parse_listen(b->text, &ss, &len, &err), ERR_INVALID, "'%s'", b->text);
    cr_assert_str_eq(err.key, "invalid_listen", "'%s'", b->text);
    cr_assert_neq(err.detail[0], '\0');
}

/* ---- config_parse_cidrs / config_cidr_contains ---- */

static struct sockaddr_storage addr(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ss.ss_family = AF_INET;
    } else {
        cr_assert_eq(inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
        ss.ss_family = AF_INET6;
    }
    return ss;
}

static bool contains(const struct config_cidr *c, const char *text)
{
    struct sockaddr_storage ss = addr(text);
    return config_cidr_contains(c, (const struct sockaddr *)&ss);
}

Test(config, cidrs_good)
{
    struct config_cidr *list = NULL;
    size_t n = 0;
    cr_assert_eq(config_parse_cidrs("10.0.0.0/8, 192.168.1.0/24,2001:db8::/32 , 127.0.0.1, ::1",
                                    &list, &n, NULL),
                 ERR_OK);
    cr_assert_eq(n, 5);
    cr_assert_eq(list[0].family, AF_INET);
    cr_assert_eq(list[0].prefix, 8);
    cr_assert_eq(list[1].prefix, 24);
    cr_assert_eq(list[2].family, AF_INET6);
    cr_assert_eq(list[2].prefix, 32);
    cr_assert_eq(list[3].prefix, 32, "a bare IPv4 address is a /32");
    cr_assert_eq(list[4].prefix, 128, "a bare IPv6 address is a /128");
    cr_assert(contains(&list[0], "10.255.1.2"));
    cr_assert_not(contains(&list[0], "11.0.0.1"));
    cr_assert(contains(&list[1], "192.168.1.77"));
    cr_assert_not(contains(&list[1], "192.168.2.77"));
    cr_assert(contains(&list[2], "2001:db8:ffff::1"));
    cr_assert_not(contains(&list[2], "2001:db9::1"));
    cr_assert_not(contains(&list[2], "10.0.0.1"), "an IPv6 prefix holds no IPv4 address");
    cr_assert_not(contains(&list[0], "2001:db8::1"));
    cr_assert(contains(&list[3], "127.0.0.1"));
    cr_assert_not(contains(&list[3], "127.0.0.2"));
    /* IPv4-mapped IPv6 peers (dual-stack listener) against IPv4 prefixes. */
    cr_assert(contains(&list[0], "::ffff:10.1.2.3"));
    cr_assert_not(contains(&list[0], "::ffff:11.1.2.3"));
    cr_assert_not(contains(&list[0], "::10.1.2.3"));
    free(list);

    cr_assert_eq(config_parse_cidrs("", &list, &n, NULL), ERR_OK);
    cr_assert_eq(n, 0);
    cr_assert_null(list);
    cr_assert_eq(config_parse_cidrs(NULL, &list, &n, NULL), ERR_OK);
    cr_assert_eq(n, 0);
}

Test(config, cidrs_odd_prefix_lengths)
{
    struct config_cidr *list = NULL;
    size_t n = 0;
    cr_assert_eq(config_parse_cidrs("172.16.0.0/12,0.0.0.0/0,198.51.100.6/31,2001:db8:8000::/33",
                                    &list, &n, NULL),
                 ERR_OK);
    cr_assert_eq(n, 4);
    cr_assert(contains(&list[0], "172.31.255.255"));
    cr_assert_not(contains(&list[0], "172.32.0.0"));
    cr_assert_not(contains(&list[0], "172.15.255.255"));
    cr_assert(contains(&list[1], "203.0.113.9"));
    cr_assert(contains(&list[2], "198.51.100.7"));
    cr_assert_not(contains(&list[2], "198.51.100.8"));
    cr_assert(contains(&list[3], "2001:db8:ffff::1"));
    cr_assert_not(contains(&list[3], "2001:db8:7fff::1"));
    free(list);
}

Test(config, cidrs_separated_by_whitespace_only)
{
    /* The tokenizer splits on ", \t", so a space-separated list (easy to write in an env file)
     * is three prefixes; the array must have room for all of them. */
    struct config_cidr *list = NULL;
    size_t n = 0;
    cr_assert_eq(config_parse_cidrs("10.0.0.0/8 192.168.0.0/16\t172.16.0.0/12", &list, &n, NULL),
                 ERR_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(list[2].prefix, 12);
    free(list);
}

BAD_TEXTS(config, cidrs_bad, {"10.0.0.0/33"}, {"::/129"}, {"10.0.0.0/"}, {"10.0.0.0/8x"},
          {"10.0.0.0/-8"}, {"banana"}, {"10.0.0/8"}, {"10.0.0.0/8, x"}, {"/8"}, {"2001:db8::g/32"},
          {"10.0.0.0/ 8"}, {"10.0.0.0//8"})

ParameterizedTest(struct bad_text *b, config, cidrs_bad)
{
    struct config_cidr *list = (struct config_cidr *)1;
    size_t n = 99;
    struct err err = {0};
    cr_assert_eq(config_parse_cidrs(b->text, &list, &n, &err), ERR_INVALID, "'%s'", b->text);
    cr_assert_str_eq(err.key, "invalid_cidr", "'%s'", b->text);
    cr_assert_null(list, "'%s'", b->text);
    cr_assert_eq(n, 0);
}

/* ---- config_parse_rate ---- */

Test(config, rate_good)
{
    static const struct {
        const char *text;
        unsigned count, period;
    } ok[] = {
        {"600/min", 600, 60}, {"10/s", 10, 1},    {"1000/hour", 1000, 3600},
        {"5/m", 5, 60},       {"7/sec", 7, 1},    {"3/minute", 3, 60},
        {"2/h", 2, 3600},     {"1/second", 1, 1}, {"100000000/s", 100000000, 1},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        unsigned c = 0, p = 0;
        cr_assert_eq(config_parse_rate(ok[i].text, &c, &p, NULL), ERR_OK, "%s", ok[i].text);
        cr_assert_eq(c, ok[i].count, "%s", ok[i].text);
        cr_assert_eq(p, ok[i].period, "%s", ok[i].text);
    }
    static const char *const off[] = {"0", "off", "OFF"};
    for (size_t i = 0; i < 3; i++) {
        unsigned c = 99, p = 0;
        cr_assert_eq(config_parse_rate(off[i], &c, &p, NULL), ERR_OK, "%s", off[i]);
        cr_assert_eq(c, 0, "%s disables limiting", off[i]);
    }
}

BAD_TEXTS(config, rate_bad, {""}, {"5"}, {"/min"}, {"0/min"}, {"5/day"}, {"abc/min"}, {"-5/min"},
          {"5/"}, {"5/min "}, {" 5/min"}, {"1.5/s"}, {"100000001/s"}, {"5/MIN/s"},
          {"99999999999999999999/s"})

ParameterizedTest(struct bad_text *b, config, rate_bad)
{
    unsigned c = 0, p = 0;
    struct err err = {0};
    cr_assert_eq(config_parse_rate(b->text, &c, &p, &err), ERR_INVALID, "'%s'", b->text);
    cr_assert_str_eq(err.key, "invalid_rate", "'%s'", b->text);
}

/* ---- config_parse_size ---- */

Test(config, size_good)
{
    static const struct {
        const char *text;
        size_t want;
    } ok[] = {
        {"65536", 65536},  {"0", 0},          {"64k", 65536},     {"64K", 65536}, {"1m", 1u << 20},
        {"1mb", 1u << 20}, {"1MB", 1u << 20}, {"2g", 2ull << 30}, {"1kB", 1024},  {"007", 7},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        size_t v = 0;
        cr_assert_eq(config_parse_size(ok[i].text, &v, NULL), ERR_OK, "%s", ok[i].text);
        cr_assert_eq(v, ok[i].want, "%s", ok[i].text);
    }
}

BAD_TEXTS(config, size_bad, {""}, {"k"}, {"-1"}, {"1.5m"}, {"1t"}, {"1kbb"}, {"1 k"}, {" 1"},
          {"0x10"}, {"99999999999999999999"}, {"17179869184g"}, {"1e6"})

ParameterizedTest(struct bad_text *b, config, size_bad)
{
    size_t v = 12345;
    struct err err = {0};
    cr_assert_eq(config_parse_size(b->text, &v, &err), ERR_INVALID, "'%s'", b->text);
    cr_assert_str_eq(err.key, "invalid_size", "'%s'", b->text);
    cr_assert_eq(v, 12345, "'%s': output untouched", b->text);
}

/* ---- config_load ---- */

/* Forget every setting the calling environment may carry (each test runs in its own
 * process, so this does not leak between tests). */
static void clean_env(void)
{
    for (;;) {
        char name[128] = "";
        for (char **e = environ; *e != NULL; e++) {
            if (strncmp(*e, "PINWATCH_", 9) == 0 || strncmp(*e, "DATABASE_URL=", 13) == 0) {
                size_t n = strcspn(*e, "=");
                if (n < sizeof(name)) {
                    memcpy(name, *e, n);
                    name[n] = '\0';
                }
                break;
            }
        }
        if (name[0] == '\0')
            return;
        unsetenv(name);
    }
}

/* config_load with argv; the message text in *msgs (new string). */
static enum err_code load(struct config *cfg, int argc, char **argv, char **msgs)
{
    size_t len = 0;
    FILE *f = open_memstream(msgs, &len);
    cr_assert_not_null(f);
    enum err_code rc = config_load(cfg, argc, argv, f);
    fclose(f);
    return rc;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Number of lines of msgs that mention needle. */
static size_t lines_with(const char *msgs, const char *needle)
{
    size_t n = 0;
    const char *line = msgs;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        char *copy = strndup(line, len);
        n += strstr(copy, needle) != NULL;
        free(copy);
        line += len + (end != NULL);
    }
    return n;
}

Test(config, load_defaults)
{
    clean_env();
    struct config cfg;
    char *msgs = NULL;
    cr_assert_eq(load(&cfg, 0, NULL, &msgs), ERR_OK, "%s", msgs);
    cr_assert_str_eq(msgs, "");
    cr_assert_str_eq(cfg.listen, "127.0.0.1:8080");
    cr_assert_eq(cfg.listen_addr.ss_family, AF_INET);
    cr_assert_eq(cfg.max_body, 65536);
    cr_assert_eq(cfg.rate_limit_count, 600);
    cr_assert_eq(cfg.rate_limit_period, 60);
    cr_assert_eq(cfg.n_trusted_proxies, 0);
    cr_assert_not(cfg.store_client_ip, "full client addresses are off by default");
    cr_assert_null(cfg.admin_token);
    cr_assert_null(cfg.database_url);
    cr_assert_eq(cfg.writers, 1, "one writer unless told otherwise");
    config_cleanup(&cfg);
    free(msgs);
}

Test(config, writers_within_bounds)
{
    static const struct {
        const char *value;
        bool ok;
    } cases[] = {{"0", false}, {"1", true},   {"4", true},
                 {"16", true}, {"17", false}, {"two", false}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        clean_env();
        setenv("PINWATCH_WRITERS", cases[i].value, 1);
        struct config cfg;
        char *msgs = NULL;
        enum err_code rc = load(&cfg, 0, NULL, &msgs);
        cr_assert_eq(rc == ERR_OK, cases[i].ok, "PINWATCH_WRITERS=%s: %s", cases[i].value, msgs);
        if (cases[i].ok)
            cr_assert_eq(cfg.writers, (unsigned)atoi(cases[i].value));
        else
            cr_assert_eq(lines_with(msgs, "PINWATCH_WRITERS"), 1, "%s", msgs);
        config_cleanup(&cfg);
        free(msgs);
    }
}

Test(config, load_from_env_and_flags)
{
    clean_env();
    setenv("PINWATCH_MAX_BODY", "1m", 1);
    setenv("PINWATCH_RATE_LIMIT", "5/min", 1);
    setenv("PINWATCH_TRUSTED_PROXIES", "127.0.0.0/8, ::1", 1);
    setenv("PINWATCH_STORE_CLIENT_IP", "1", 1);
    setenv("PINWATCH_LISTEN", "[::1]:0", 1);
    char a0[] = "--max-body=2m", a1[] = "--rate-limit", a2[] = "7/s";
    char *argv[] = {a0, a1, a2};
    struct config cfg;
    char *msgs = NULL;
    cr_assert_eq(load(&cfg, 3, argv, &msgs), ERR_OK, "%s", msgs);
    cr_assert_eq(cfg.max_body, 2u << 20, "a flag wins over the environment");
    cr_assert_eq(cfg.rate_limit_count, 7);
    cr_assert_eq(cfg.rate_limit_period, 1);
    cr_assert_eq(cfg.n_trusted_proxies, 2);
    cr_assert(cfg.store_client_ip);
    cr_assert_eq(cfg.listen_addr.ss_family, AF_INET6);
    config_cleanup(&cfg);
    free(msgs);
}

Test(config, load_one_message_per_bad_setting)
{
    clean_env();
    static const char *const bad[][2] = {
        {"PINWATCH_MAX_BODY", "lots"},
        {"PINWATCH_RATE_LIMIT", "5/day"},
        {"PINWATCH_LISTEN", "nowhere"},
        {"PINWATCH_STORE_CLIENT_IP", "maybe"},
        {"PINWATCH_TRUSTED_PROXIES", "10.0.0.0/99"},
        {"PINWATCH_MAX_JSON_DEPTH", "1"},
        {"PINWATCH_LOG_LEVEL", "chatty"},
        {"PINWATCH_TRUST_STORE", "/nonexistent/ca.pem"},
        {"PINWATCH_ADMIN_TOKEN_FILE", "/nonexistent/token"},
    };
    size_t n_bad = sizeof(bad) / sizeof(bad[0]);
    for (size_t i = 0; i < n_bad; i++)
        setenv(bad[i][0], bad[i][1], 1);
    /* Good ones in between say nothing. */
    setenv("PINWATCH_MAX_PINS", "8", 1);
    setenv("PINWATCH_ALLOWED_HOSTS", "*.example.com", 1);
    struct config cfg;
    char *msgs = NULL;
    cr_assert_eq(load(&cfg, 0, NULL, &msgs), ERR_INVALID);
    cr_assert_eq(count_lines(msgs), n_bad, "%zu bad settings, messages:\n%s", n_bad, msgs);
    for (size_t i = 0; i < n_bad; i++)
        cr_assert_eq(lines_with(msgs, bad[i][0]), 1, "%s should be named once:\n%s", bad[i][0],
                     msgs);
    cr_assert_eq(lines_with(msgs, "PINWATCH_MAX_PINS"), 0);
    config_cleanup(&cfg);
    free(msgs);
}

Test(config, load_bounds_and_cross_checks)
{
    clean_env();
    setenv("PINWATCH_MAX_BODY", "100", 1); /* below the 256-byte minimum */
    setenv("PINWATCH_MAX_CONNECTIONS", "10", 1);
    setenv("PINWATCH_MAX_CONNECTIONS_PER_IP", "20", 1);
    setenv("PINWATCH_MAX_CHAIN", "99999999999999999999999", 1);
    struct config cfg;
    char *msgs = NULL;
    cr_assert_eq(load(&cfg, 0, NULL, &msgs), ERR_INVALID);
    cr_assert_eq(count_lines(msgs), 3, "%s", msgs);
    cr_assert_eq(lines_with(msgs, "PINWATCH_MAX_BODY"), 1, "%s", msgs);
    cr_assert_eq(lines_with(msgs, "PINWATCH_MAX_CHAIN"), 1, "%s", msgs);
    cr_assert_eq(lines_with(msgs, "PINWATCH_MAX_CONNECTIONS_PER_IP"), 1, "%s", msgs);
    config_cleanup(&cfg);
    free(msgs);
}

Test(config, load_bad_flags)
{
    clean_env();
    char a0[] = "--no-such-thing=1", a1[] = "stray", a2[] = "--max-body";
    char *argv[] = {a0, a1, a2};
    struct config cfg;
    char *msgs = NULL;
    cr_assert_eq(load(&cfg, 3, argv, &msgs), ERR_INVALID);
    cr_assert_eq(count_lines(msgs), 3, "%s", msgs);
    cr_assert_eq(lines_with(msgs, "no-such-thing"), 1);
    cr_assert_eq(lines_with(msgs, "stray"), 1);
    cr_assert_eq(lines_with(msgs, "--max-body"), 1);
    config_cleanup(&cfg);
    free(msgs);
}

Test(config, max_string_never_exceeds_max_body)
{
    clean_env();
    setenv("PINWATCH_MAX_BODY", "1k", 1);
    setenv("PINWATCH_MAX_STRING", "64k", 1);
    struct config cfg;
    char *msgs = NULL;
    cr_assert_eq(load(&cfg, 0, NULL, &msgs), ERR_OK, "%s", msgs);
    cr_assert_eq(cfg.max_string, 1024);
    config_cleanup(&cfg);
    free(msgs);
}

Test(config, log_redacts_secrets)
{
    clean_env();
    setenv("PINWATCH_ADMIN_TOKEN", "s3cret-admin-token", 1);
    setenv("DATABASE_URL", "postgresql://pinwatch:hunter2@db.internal/pinwatch", 1);
    struct config cfg;
    char *msgs = NULL;
    cr_assert_eq(load(&cfg, 0, NULL, &msgs), ERR_OK, "%s", msgs);
    /* The log writes to fd 2: point it at a file for the call. */
    char path[] = "/tmp/pinwatch-config-log-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    config_log(&cfg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    FILE *f = fopen(path, "r");
    char text[16384];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    cr_assert(strstr(text, "PINWATCH_MAX_BODY=65536") != NULL, "%s", text);
    cr_assert_null(strstr(text, "s3cret-admin-token"), "%s", text);
    cr_assert_null(strstr(text, "hunter2"), "%s", text);
    cr_assert(strstr(text, "redacted") != NULL);
    config_cleanup(&cfg);
    free(msgs);
}

Test(config, alert_settings_are_checked_and_the_webhook_url_is_redacted)
{
    static const struct {
        const char *url, *secret, *public_url, *names;
    } bad[] = {
        {"ftp://hooks.example.com/x", "k", NULL, "PINWATCH_ALERT_WEBHOOK_URL"},
        {"hooks.example.com/x", "k", NULL, "PINWATCH_ALERT_WEBHOOK_URL"},
        {"https://", "k", NULL, "PINWATCH_ALERT_WEBHOOK_URL"},
        {"https://hooks.example.com/a b", "k", NULL, "PINWATCH_ALERT_WEBHOOK_URL"},
        {"https://hooks.example.com/x", NULL, NULL, "PINWATCH_ALERT_WEBHOOK_SECRET"},
        {"https://hooks.example.com/x", "k", "pinwatch.example.com", "PINWATCH_PUBLIC_URL"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        clean_env();
        setenv("PINWATCH_ALERT_WEBHOOK_URL", bad[i].url, 1);
        if (bad[i].secret != NULL)
            setenv("PINWATCH_ALERT_WEBHOOK_SECRET", bad[i].secret, 1);
        if (bad[i].public_url != NULL)
            setenv("PINWATCH_PUBLIC_URL", bad[i].public_url, 1);
        struct config cfg;
        char *msgs = NULL;
        cr_assert_eq(load(&cfg, 0, NULL, &msgs), ERR_INVALID, "%zu", i);
        cr_assert_eq(count_lines(msgs), 1, "%s", msgs);
        cr_assert(strstr(msgs, bad[i].names) != NULL, "%s", msgs);
        config_cleanup(&cfg);
        free(msgs);
    }
    clean_env();
    setenv("PINWATCH_ALERT_INTERVAL", "0", 1);
    setenv("PINWATCH_RETENTION_DAYS", "-1", 1);
    struct config cfg;
    char *msgs = NULL;
    cr_assert_eq(load(&cfg, 0, NULL, &msgs), ERR_INVALID);
    cr_assert_eq(count_lines(msgs), 2, "%s", msgs);
    config_cleanup(&cfg);
    free(msgs);
    clean_env();
    setenv("PINWATCH_ALERT_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/tokenpart", 1);
    setenv("PINWATCH_ALERT_WEBHOOK_SECRET", "whsec-very-secret", 1);
    cr_assert_eq(load(&cfg, 0, NULL, &msgs), ERR_OK, "%s", msgs);
    cr_assert_eq(cfg.alert_interval, 30);
    cr_assert_eq(cfg.retention_days, 0);
    char path[] = "/tmp/pinwatch-config-log-XXXXXX";
    int fd = mkstemp(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    config_log(&cfg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    char *text = NULL;
    FILE *f = fopen(path, "r");
    char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
    text = buf;
    cr_assert_null(strstr(text, "tokenpart"), "%s", text);
    cr_assert_null(strstr(text, "whsec-very-secret"), "%s", text);
    config_cleanup(&cfg);
    free(msgs);
}

/* ---- precedence: flag, then environment, then default ---- */

Test(config, flag_wins_over_a_bad_environment_value)
{
    clean_env();
    setenv("PINWATCH_MAX_BODY", "10", 1); /* out of bounds, but overridden */
    setenv("PINWATCH_RATE_LIMIT", "5/fortnight", 1);
    char a0[] = "--max-body", a1[] = "2000", a2[] = "--rate-limit=9/s";
    char *argv[] = {a0, a1, a2};
    struct config cfg;
    char *msgs = NULL;
    cr_assert_eq(load(&cfg, 3, argv, &msgs), ERR_OK, "%s", msgs);
    cr_assert_str_eq(msgs, "", "an overridden value is not checked");
    cr_assert_eq(cfg.max_body, 2000);
    cr_assert_eq(cfg.rate_limit_count, 9);
    cr_assert_eq(cfg.rate_limit_period, 1);
    config_cleanup(&cfg);
    free(msgs);
}

Test(config, bad_flag_is_named_even_with_a_good_environment_value)
{
    clean_env();
    setenv("PINWATCH_MAX_BODY", "2000", 1);
    char a0[] = "--max-body=10";
    char *argv[] = {a0};
    struct config cfg;
    char *msgs = NULL;
    cr_assert_eq(load(&cfg, 1, argv, &msgs), ERR_INVALID);
    cr_assert_eq(count_lines(msgs), 1, "%s", msgs);
    cr_assert(strstr(msgs, "PINWATCH_MAX_BODY (--max-body): '10' (flag)") != NULL, "%s", msgs);
    config_cleanup(&cfg);
    free(msgs);
}

Test(config, environment_wins_over_default)
{
    clean_env();
    setenv("PINWATCH_LISTEN", "127.0.0.1:9999", 1);
    struct config cfg;
    char *msgs = NULL;
    cr_assert_eq(load(&cfg, 0, NULL, &msgs), ERR_OK, "%s", msgs);
    cr_assert_str_eq(cfg.listen, "127.0.0.1:9999");
    config_cleanup(&cfg);
    free(msgs);
}

/* Every message names its setting the same way: "pinwatch: VARIABLE (--flag): ...". */
Test(config, every_message_names_its_setting_alike)
{
    clean_env();
    static const char *const bad[][3] = {
        {"PINWATCH_MAX_BODY", "lots", "--max-body"},
        {"PINWATCH_RATE_LIMIT", "5/day", "--rate-limit"},
        {"PINWATCH_LISTEN", "nowhere", "--listen"},
        {"PINWATCH_STORE_CLIENT_IP", "maybe", "--store-client-ip"},
        {"PINWATCH_TRUSTED_PROXIES", "10.0.0.0/99", "--trusted-proxies"},
        {"PINWATCH_LOG_LEVEL", "chatty", "--log-level"},
        {"PINWATCH_TRUST_STORE", "/nonexistent/ca.pem", "--trust-store"},
        {"PINWATCH_CATALOG", "/nonexistent/catalog.json", "--catalog"},
        {"PINWATCH_ADMIN_TOKEN_FILE", "/nonexistent/token", "--admin-token-file"},
    };
    size_t n_bad = sizeof(bad) / sizeof(bad[0]);
    for (size_t i = 0; i < n_bad; i++)
        setenv(bad[i][0], bad[i][1], 1);
    struct config cfg;
    char *msgs = NULL;
    cr_assert_eq(load(&cfg, 0, NULL, &msgs), ERR_INVALID);
    cr_assert_eq(count_lines(msgs), n_bad, "%s", msgs);
    for (size_t i = 0; i < n_bad; i++) {
        char prefix[128];
        snprintf(prefix, sizeof(prefix), "pinwatch: %s (%s): ", bad[i][0], bad[i][2]);
        cr_assert_eq(lines_with(msgs, prefix), 1, "'%s' expected once:\n%s", prefix, msgs);
    }
    config_cleanup(&cfg);
    free(msgs);
}

Test(config, setting_name_form)
{
    char name[80];
    config_setting_name("PINWATCH_TRUST_STORE", name, sizeof(name));
    cr_assert_str_eq(name, "PINWATCH_TRUST_STORE (--trust-store)");
    config_setting_name("DATABASE_URL", name, sizeof(name));
    cr_assert_str_eq(name, "DATABASE_URL (--database-url)");
}

/* Without DATABASE_URL, the database `make run` recorded under the current folder. */
Test(config, database_url_from_make_run)
{
    clean_env();
    char dir[] = "/tmp/pinwatch-config-run-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char old[4096];
    cr_assert_not_null(getcwd(old, sizeof(old)));
    cr_assert_eq(chdir(dir), 0);
    struct config cfg;
    char *msgs = NULL;
    cr_assert_eq(load(&cfg, 0, NULL, &msgs), ERR_OK, "%s", msgs);
    cr_assert_null(cfg.database_url, "no var/database-url here yet");
    config_cleanup(&cfg);
    free(msgs);

    cr_assert_eq(mkdir("var", 0700), 0);
    FILE *f = fopen(CONFIG_RUN_DATABASE_URL_FILE, "w");
    cr_assert_not_null(f);
    fputs("host=/nowhere dbname=pinwatch\n", f);
    fclose(f);
    cr_assert_eq(load(&cfg, 0, NULL, &msgs), ERR_OK, "%s", msgs);
    cr_assert_str_eq(cfg.database_url, "host=/nowhere dbname=pinwatch");
    config_cleanup(&cfg);
    free(msgs);

    setenv("DATABASE_URL", "dbname=explicit", 1);
    cr_assert_eq(load(&cfg, 0, NULL, &msgs), ERR_OK, "%s", msgs);
    cr_assert_str_eq(cfg.database_url, "dbname=explicit", "the environment wins");
    config_cleanup(&cfg);
    free(msgs);

    unlink(CONFIG_RUN_DATABASE_URL_FILE);
    rmdir("var");
    cr_assert_eq(chdir(old), 0);
    rmdir(dir);
}
