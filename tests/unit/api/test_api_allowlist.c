/* api_allowlist: PINWATCH_ALLOWED_APPS / _HOSTS, parsed once, matched per report. */
#include <criterion/criterion.h>

#include <string.h>

#include "api/api_allowlist.h"

static struct api_allowlist parsed(const char *text, bool hosts)
{
    struct api_allowlist l;
    cr_assert_eq(api_allowlist_parse(text, hosts, &l, NULL), ERR_OK);
    return l;
}

Test(api_allowlist, unset_allows_everything_even_no_value)
{
    const char *unset[] = {NULL, ""};
    for (size_t i = 0; i < 2; i++) {
        struct api_allowlist l = parsed(unset[i], true);
        cr_assert(l.all);
        cr_assert(api_allowlist_allows(&l, "anything.example"));
        cr_assert(api_allowlist_allows(&l, NULL));
        api_allowlist_cleanup(&l);
    }
}

Test(api_allowlist, apps_match_exactly_blanks_around_entries_ignored)
{
    struct api_allowlist l = parsed(" com.example.app , web,com.example.Other ", false);
    cr_assert_eq(l.n, 3);
    cr_assert(api_allowlist_allows(&l, "com.example.app"));
    cr_assert(api_allowlist_allows(&l, "web"));
    cr_assert(api_allowlist_allows(&l, "com.example.Other"));
    cr_assert_not(api_allowlist_allows(&l, "com.example.other"), "bundle ids are exact");
    cr_assert_not(api_allowlist_allows(&l, "com.example.ap"));
    cr_assert_not(api_allowlist_allows(&l, NULL));
    api_allowlist_cleanup(&l);
}

Test(api_allowlist, hosts_are_patterns_lower_cased)
{
    struct api_allowlist l = parsed("*.Example.COM,api.example.net", true);
    cr_assert(api_allowlist_allows(&l, "www.example.com"));
    cr_assert(api_allowlist_allows(&l, "a.b.example.com"));
    cr_assert_not(api_allowlist_allows(&l, "example.com"), "the wildcard needs a label");
    cr_assert(api_allowlist_allows(&l, "api.example.net"));
    cr_assert_not(api_allowlist_allows(&l, "www.example.net"));
    api_allowlist_cleanup(&l);
}

Test(api_allowlist, separators_only_allow_nothing_and_overlong_entries_never_match)
{
    struct api_allowlist l = parsed(" , ,", false);
    cr_assert_not(l.all);
    cr_assert_eq(l.n, 0);
    cr_assert_not(api_allowlist_allows(&l, "web"));
    api_allowlist_cleanup(&l);

    char text[300];
    memset(text, 'a', 260);
    strcpy(text + 260, ",web");
    l = parsed(text, false);
    cr_assert_eq(l.n, 1, "the 260-byte entry is left out");
    cr_assert(api_allowlist_allows(&l, "web"));
    text[260] = '\0';
    cr_assert_not(api_allowlist_allows(&l, text));
    api_allowlist_cleanup(&l);
    api_allowlist_cleanup(NULL);
}
