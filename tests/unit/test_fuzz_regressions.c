/* Replays, under this build's ASan/UBSan, every input a fuzzer once failed on (each file under
 * fuzz/regressions/<harness>/) through that harness with all its invariants, and every real
 * fixture through the body harnesses. Besides the fuzzers' findings, each folder holds edge cases
 * cut from the fixtures or written by hand (the same as fuzz/seeds.py adds), so that every
 * harness replays something under the sanitizers of every `make test`. The harness sources are
 * included as they are, with their entry points renamed and FUZZ_CHECK turned into a Criterion
 * assertion naming the input. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The input being replayed, for assertion messages. */
static char replay_current[1024];

#define FUZZ_CHECK(cond) cr_assert((cond), "%s: invariant broken: %s", replay_current, #cond)

#define FUZZ_ENTRY fuzz_report_parse_one
#include "../../fuzz/fuzz_report_parse.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_cert_pem_one
#include "../../fuzz/fuzz_cert_pem.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_hostname_one
#include "../../fuzz/fuzz_hostname.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_pin_one
#include "../../fuzz/fuzz_pin.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_timeparse_one
#include "../../fuzz/fuzz_timeparse.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_rawbody_one
#include "../../fuzz/fuzz_rawbody.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_network_one
#include "../../fuzz/fuzz_network.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_policy_one
#include "../../fuzz/fuzz_policy.c"
#undef FUZZ_ENTRY

typedef int replay_fn(const uint8_t *data, size_t size);

/* Feed every regular file under dir (recursively) to fn; the number of files. */
static size_t replay_dir(const char *dir, replay_fn *fn)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    size_t count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            count += replay_dir(path, fn);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "%s", path);
        /* Exact-size buffer, as libFuzzer gives it, so over-reads are ASan reports. */
        uint8_t *data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
        cr_assert_eq(fread(data, 1, (size_t)st.st_size, f), (size_t)st.st_size, "%s", path);
        fclose(f);
        snprintf(replay_current, sizeof(replay_current), "%s", path);
        fn(data, (size_t)st.st_size);
        free(data);
        count++;
    }
    closedir(d);
    return count;
}

/* Replay one harness's folder; a folder that replays nothing (missing, renamed, emptied) is a
 * failure, not a pass. */
static size_t replay_regressions(const char *harness, replay_fn *fn)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/fuzz/regressions/%s", PINWATCH_SOURCE_DIR, harness);
    size_t n = replay_dir(dir, fn);
    cr_assert_geq(n, 1, "%s replayed no file", dir);
    return n;
}

Test(fuzz_regressions, report_parse)
{
    replay_regressions("fuzz_report_parse", fuzz_report_parse_one);
}

Test(fuzz_regressions, cert_pem)
{
    replay_regressions("fuzz_cert_pem", fuzz_cert_pem_one);
}

Test(fuzz_regressions, hostname)
{
    replay_regressions("fuzz_hostname", fuzz_hostname_one);
}

Test(fuzz_regressions, pin)
{
    replay_regressions("fuzz_pin", fuzz_pin_one);
}

Test(fuzz_regressions, timeparse)
{
    replay_regressions("fuzz_timeparse", fuzz_timeparse_one);
}

Test(fuzz_regressions, rawbody)
{
    replay_regressions("fuzz_rawbody", fuzz_rawbody_one);
}

Test(fuzz_regressions, network)
{
    replay_regressions("fuzz_network", fuzz_network_one);
}

Test(fuzz_regressions, policy)
{
    replay_regressions("fuzz_policy", fuzz_policy_one);
    /* the policy templates of the unit tests are seeds too */
    cr_assert_geq(replay_dir(TEST_DATA_DIR "/policy", fuzz_policy_one), 2);
}

Test(fuzz_regressions, the_regression_folders_exist)
{
    /* A renamed harness would silently replay nothing: every folder names a harness here. */
    static const char *const known[] = {"fuzz_report_parse", "fuzz_cert_pem",  "fuzz_hostname",
                                        "fuzz_pin",          "fuzz_timeparse", "fuzz_rawbody",
                                        "fuzz_network",      "fuzz_policy"};
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/fuzz/regressions", PINWATCH_SOURCE_DIR);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    size_t folders = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        bool found = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            found = found || strcmp(e->d_name, known[i]) == 0;
        cr_assert(found, "fuzz/regressions/%s is not a harness this test replays", e->d_name);
        folders++;
    }
    closedir(d);
    cr_assert_geq(folders, 1);
}

Test(fuzz_regressions, fixtures_hold_the_body_invariants)
{
    /* The real reports are the seeds; the invariants must hold on them too. */
    size_t n = replay_dir(FIXTURES_DIR, fuzz_report_parse_one);
    cr_assert_geq(n, 40, "only %zu fixtures under %s", n, FIXTURES_DIR);
    cr_assert_eq(replay_dir(FIXTURES_DIR, fuzz_rawbody_one), n);
    cr_assert_eq(replay_dir(FIXTURES_DIR "/chromium-blocklist", fuzz_cert_pem_one), 1);
}
