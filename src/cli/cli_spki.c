#include "cli/cli_spki.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "report/cert.h"
#include "report/pem_list.h"
#include "report/pin.h"

/* The pin of every certificate of one file, in file order. Returns the number printed. */
static int print_file(const char *path, const char *text, size_t len, FILE *out)
{
    struct pem_list list;
    /* A block that does not decode is skipped, as "no certificate" reports the file. */
    if (pem_list_read(text, len, PEM_LIST_SKIP_BAD, &list, NULL) != ERR_OK) {
        pem_list_cleanup(&list);
        return 0;
    }
    for (size_t i = 0; i < list.n; i++) {
        const struct cert *c = list.certs[i];
        char pin[PIN_B64_LEN + 1];
        pin_to_base64(c->spki_sha256, pin);
        fprintf(out, "pin-sha256=\"%s\"  %s  (%s)\n", pin, c->subject ? c->subject : "", path);
    }
    int count = (int)list.n;
    pem_list_cleanup(&list);
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
        char *text = buf_read_file(argv[i], 64u << 20, &len);
        if (text == NULL) {
            fprintf(errors, "pinwatch spki: cannot read %s: %s\n", argv[i], strerror(errno));
            status = 1;
            continue;
        }
        if (print_file(argv[i], text, len, out) == 0) {
            fprintf(errors, "pinwatch spki: no certificate in %s\n", argv[i]);
            status = 1;
        }
        free(text);
    }
    return status;
}
