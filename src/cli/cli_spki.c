#include "cli/cli_spki.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "report/cert.h"
#include "report/pin.h"

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END   "-----END CERTIFICATE-----"

/* The whole file as a NUL-terminated string (new), or NULL. */
static char *slurp(const char *path, size_t *len)
{
    struct buf b;
    buf_init(&b, 64u << 20);
    if (buf_append_file(&b, path) != ERR_OK) {
        buf_cleanup(&b);
        return NULL;
    }
    return buf_take(&b, len);
}

/* Every PEM certificate block of one file. Returns the number printed. */
static int print_file(const char *path, const char *text, FILE *out)
{
    int count = 0;
    for (const char *p = strstr(text, PEM_BEGIN); p != NULL; p = strstr(p, PEM_BEGIN)) {
        const char *end = strstr(p, PEM_END);
        if (end == NULL)
            break;
        end += strlen(PEM_END);
        struct cert *c = NULL;
        if (cert_from_pem(p, (size_t)(end - p), &c, NULL) == ERR_OK) {
            char pin[PIN_B64_LEN + 1];
            pin_to_base64(c->spki_sha256, pin);
            fprintf(out, "pin-sha256=\"%s\"  %s  (%s)\n", pin, c->subject ? c->subject : "", path);
            count++;
            cert_free(c);
        }
        p = end;
    }
    return count;
}

int cli_spki(int argc, char **argv, FILE *out, FILE *errors)
{
    if (argc < 1) {
        fprintf(errors, "usage: pinwatch spki FILE.pem...\n");
        return 2;
    }
    int status = 0;
    for (int i = 0; i < argc; i++) {
        size_t len = 0;
        char *text = slurp(argv[i], &len);
        if (text == NULL) {
            fprintf(errors, "pinwatch spki: cannot read %s: %s\n", argv[i], strerror(errno));
            status = 1;
            continue;
        }
        if (print_file(argv[i], text, out) == 0) {
            fprintf(errors, "pinwatch spki: no certificate in %s\n", argv[i]);
            status = 1;
        }
        free(text);
    }
    return status;
}
