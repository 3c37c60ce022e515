/* signing: the bundle's Ed25519 key, generated once with mode 0600, signatures that OpenSSL's
 * own command line verifies, and nothing verifying that should not. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/signing.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/pinwatch-signing-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(signing, .init = setup, .fini = teardown);

Test(signing, default_path_is_next_to_the_spool)
{
    char p[256];
    signing_default_path("var/spool", p, sizeof(p));
    cr_assert_str_eq(p, "var/evidence-signing-key.pem");
    signing_default_path("/var/lib/pinwatch/spool/", p, sizeof(p));
    cr_assert_str_eq(p, "/var/lib/pinwatch/evidence-signing-key.pem");
    signing_default_path("spool", p, sizeof(p));
    cr_assert_str_eq(p, "evidence-signing-key.pem");
}

Test(signing, generated_once_private_and_kept)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/evidence-signing-key.pem", dir);
    EVP_PKEY *a = NULL, *b = NULL;
    bool created = false;
    struct err e = {0};
    cr_assert_eq(signing_key_load(NULL, path, &a, &created, &e), ERR_OK, "%s", e.detail);
    cr_assert(created);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600, "mode %o", sb.st_mode & 0777);
    cr_assert_eq(signing_key_load("", path, &b, &created, &e), ERR_OK, "%s", e.detail);
    cr_assert_not(created, "the second start reads the same file");
    char fa[SIGNING_FPR_HEX], fb[SIGNING_FPR_HEX];
    cr_assert_eq(signing_fingerprint(a, fa), ERR_OK);
    cr_assert_eq(signing_fingerprint(b, fb), ERR_OK);
    cr_assert_str_eq(fa, fb);
    cr_assert_eq(strlen(fa), 64);
    /* The explicit setting wins, and must name a usable key. */
    EVP_PKEY *c = NULL;
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/nope.pem", dir);
    cr_assert_eq(signing_key_load(missing, path, &c, NULL, &e), ERR_INVALID);
    cr_assert_eq(signing_key_load(path, "/nonexistent/x.pem", &c, NULL, &e), ERR_OK);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    EVP_PKEY_free(c);
}

Test(signing, a_key_that_is_not_ed25519_is_refused)
{
    char path[128], cmd[256];
    snprintf(path, sizeof(path), "%s/rsa.pem", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out %s 2>/dev/null",
             path);
    cr_assert_eq(system(cmd), 0);
    EVP_PKEY *k = NULL;
    struct err e = {0};
    cr_assert_eq(signing_key_load(path, NULL, &k, NULL, &e), ERR_INVALID);
    cr_assert_not_null(strstr(e.detail, "Ed25519"), "%s", e.detail);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

Test(signing, openssl_verifies_the_signature_and_tampering_fails)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/k.pem", dir);
    EVP_PKEY *key = NULL;
    struct err e = {0};
    cr_assert_eq(signing_key_load(NULL, path, &key, NULL, &e), ERR_OK);
    const char msg[] = "abc  raw/1.json\ndef  reports.ndjson\n";
    struct buf sig, pem;
    buf_init(&sig, 0);
    buf_init(&pem, 0);
    cr_assert_eq(signing_sign_base64(key, msg, strlen(msg), &sig, &e), ERR_OK);
    cr_assert_eq(sig.len, 89, "88 base64 characters and a newline");
    cr_assert_eq(signing_public_pem(key, &pem), ERR_OK);
    cr_assert(signing_verify_base64(key, msg, strlen(msg), sig.data, sig.len));

    char f_msg[160], f_sig[160], f_pub[160], cmd[1024];
    snprintf(f_msg, sizeof(f_msg), "%s/m", dir);
    snprintf(f_sig, sizeof(f_sig), "%s/m.sig", dir);
    snprintf(f_pub, sizeof(f_pub), "%s/pub.pem", dir);
    write_file(f_msg, msg, strlen(msg));
    write_file(f_sig, sig.data, sig.len);
    write_file(f_pub, pem.data, pem.len);
    snprintf(cmd, sizeof(cmd),
             "cd %s && base64 -d m.sig > m.bin && openssl pkeyutl -verify -pubin -inkey pub.pem "
             "-rawin -in m -sigfile m.bin >/dev/null",
             dir);
    cr_assert_eq(system(cmd), 0, "openssl pkeyutl accepts the signature");
    /* The fingerprint is the SHA-256 of the SPKI DER, as openssl computes it. */
    char fpr[SIGNING_FPR_HEX], out[128];
    cr_assert_eq(signing_fingerprint(key, fpr), ERR_OK);
    snprintf(cmd, sizeof(cmd), "openssl pkey -pubin -in %s -outform DER | sha256sum | cut -c1-64",
             f_pub);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(fgets(out, sizeof(out), p));
    pclose(p);
    out[strcspn(out, "\n")] = '\0';
    cr_assert_str_eq(fpr, out);

    /* Every single changed byte of the message or the signature is caught. */
    char *m = strdup(msg);
    for (size_t i = 0; i < strlen(msg); i++) {
        m[i] ^= 1;
        cr_assert_not(signing_verify_base64(key, m, strlen(msg), sig.data, sig.len), "byte %zu", i);
        m[i] ^= 1;
    }
    for (size_t i = 0; i < 86; i++) {
        char *s = strndup(sig.data, sig.len);
        s[i] = s[i] == 'A' ? 'B' : 'A';
        cr_assert_not(signing_verify_base64(key, msg, strlen(msg), s, sig.len), "sig char %zu", i);
        free(s);
    }
    /* Another key does not verify it; the public key read back from PEM does. */
    char other[160];
    snprintf(other, sizeof(other), "%s/other.pem", dir);
    EVP_PKEY *k2 = NULL, *pub = NULL;
    cr_assert_eq(signing_key_load(NULL, other, &k2, NULL, &e), ERR_OK);
    cr_assert_not(signing_verify_base64(k2, msg, strlen(msg), sig.data, sig.len));
    EVP_PKEY_free(k2);
    k2 = NULL;
    cr_assert_eq(signing_public_from_pem(pem.data, pem.len, &pub, &e), ERR_OK);
    cr_assert(signing_verify_base64(pub, msg, strlen(msg), sig.data, sig.len));
    cr_assert_eq(signing_public_from_pem("junk", 4, &k2, &e), ERR_INVALID);
    free(m);
    EVP_PKEY_free(key);
    EVP_PKEY_free(pub);
    buf_cleanup(&sig);
    buf_cleanup(&pem);
}
