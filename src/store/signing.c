#include "store/signing.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ED25519_SIG_LEN 64

void signing_default_path(const char *spool_dir, char *out, size_t size)
{
    const char *dir = spool_dir != NULL && spool_dir[0] != '\0' ? spool_dir : ".";
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    size_t cut = len;
    while (cut > 0 && dir[cut - 1] != '/')
        cut--;
    if (cut == 0)
        snprintf(out, size, "%s", SIGNING_KEY_FILE); /* "spool": the working folder */
    else
        snprintf(out, size, "%.*s%s", (int)cut, dir, SIGNING_KEY_FILE); /* keeps the '/' */
}

static enum err_code read_private(const char *path, EVP_PKEY **out, struct err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return err_set(err, ERR_INVALID, "signing_key", "cannot read the signing key %s: %s", path,
                       strerror(errno));
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (key == NULL || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        return err_set(err, ERR_INVALID, "signing_key",
                       "%s does not hold an Ed25519 private key (PEM)", path);
    }
    *out = key;
    return ERR_OK;
}

/* A new key written to a private temporary file, then linked to path: a reader never sees a
 * half-written key, and a key another process linked first is kept (EEXIST). */
static enum err_code create_private(const char *path, bool *created, struct err *err)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (key == NULL)
        return err_set(err, ERR_INTERNAL, "signing_key", "cannot generate an Ed25519 key");
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    enum err_code rc = ERR_OK;
    int fd = -1;
    if (tmp == NULL) {
        rc = err_set(err, ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    snprintf(tmp, n, "%s.tmp-XXXXXX", path);
    fd = mkstemp(tmp); /* mode 0600 */
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        rc = err_set(err, ERR_INVALID, "signing_key",
                     "cannot create the signing key next to %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
        goto out;
    }
    bool ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1 && fflush(f) == 0 &&
              fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    int linked = ok ? link(tmp, path) : -1;
    if (!ok || (linked != 0 && errno != EEXIST))
        rc = err_set(err, ERR_INVALID, "signing_key", "cannot write the signing key %s: %s", path,
                     strerror(errno));
    else
        *created = linked == 0; /* EEXIST: another process was first; its key is the one */
    unlink(tmp);
out:
    free(tmp);
    EVP_PKEY_free(key);
    return rc;
}

enum err_code signing_key_load(const char *path, const char *default_path, EVP_PKEY **out,
                               bool *created, struct err *err)
{
    if (created != NULL)
        *created = false;
    if (path != NULL && path[0] != '\0')
        return read_private(path, out, err);
    if (access(default_path, F_OK) != 0) {
        bool made = false;
        enum err_code rc = create_private(default_path, &made, err);
        if (rc != ERR_OK)
            return rc;
        if (created != NULL)
            *created = made;
    }
    return read_private(default_path, out, err);
}

enum err_code signing_public_pem(EVP_PKEY *key, struct buf *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    enum err_code rc = ERR_NOMEM;
    if (bio != NULL && PEM_write_bio_PUBKEY(bio, key) == 1) {
        long n = BIO_get_mem_data(bio, &p);
        rc = n > 0 ? buf_append(out, p, (size_t)n) : ERR_NOMEM;
    }
    BIO_free(bio);
    return rc;
}

enum err_code signing_fingerprint(EVP_PKEY *key, char hex[SIGNING_FPR_HEX])
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(key, &der);
    if (len <= 0)
        return ERR_NOMEM;
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256(der, (size_t)len, d);
    OPENSSL_free(der);
    for (size_t i = 0; i < sizeof(d); i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return ERR_OK;
}

enum err_code signing_public_from_pem(const char *pem, size_t len, EVP_PKEY **out, struct err *err)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *key = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (key == NULL || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        return err_set(err, ERR_INVALID, "signing_key", "not an Ed25519 public key (PEM)");
    }
    *out = key;
    return ERR_OK;
}

enum err_code signing_sign_base64(EVP_PKEY *key, const void *data, size_t len, struct buf *out,
                                  struct err *err)
{
    unsigned char sig[ED25519_SIG_LEN];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
              EVP_DigestSign(md, sig, &sig_len, data, len) == 1 && sig_len == sizeof(sig);
    EVP_MD_CTX_free(md);
    if (!ok)
        return err_set(err, ERR_INTERNAL, "signing_failed", "cannot sign with the Ed25519 key");
    char b64[4 * ((ED25519_SIG_LEN + 2) / 3) + 1];
    EVP_EncodeBlock((unsigned char *)b64, sig, (int)sig_len);
    if (buf_append_str(out, b64) != ERR_OK || buf_append(out, "\n", 1) != ERR_OK)
        return err_set(err, ERR_NOMEM, NULL, "out of memory");
    return ERR_OK;
}

bool signing_verify_base64(EVP_PKEY *key, const void *data, size_t len, const char *sig,
                           size_t sig_len)
{
    while (sig_len > 0 && strchr(" \t\r\n", sig[sig_len - 1]) != NULL)
        sig_len--;
    while (sig_len > 0 && strchr(" \t\r\n", sig[0]) != NULL) {
        sig++;
        sig_len--;
    }
    /* 64 bytes are exactly 88 base64 characters, two of them padding. */
    if (sig_len != 88 || sig[86] != '=' || sig[87] != '=')
        return false;
    unsigned char raw[66];
    if (EVP_DecodeBlock(raw, (const unsigned char *)sig, (int)sig_len) != 66)
        return false;
    /* Only the one canonical spelling: a changed padding bit of the last character is a changed
     * byte of the signature file, and must not verify either. */
    unsigned char again[89];
    EVP_EncodeBlock(again, raw, ED25519_SIG_LEN);
    if (memcmp(again, sig, 88) != 0)
        return false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1 &&
              EVP_DigestVerify(md, raw, ED25519_SIG_LEN, data, len) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}
