/* cli_spki — `pinwatch spki FILE...`: the pin-sha256 of every certificate in PEM files, so
 * operators know their keys before they pin them (and can declare them as expected keys). */
#ifndef CLI_SPKI_H
#define CLI_SPKI_H

#include <stdio.h>

/* Prints one line per certificate to out: pin-sha256="<base64>"  <subject>  (<file>).
 * Returns the exit status: 0, or 1 when a file has no certificate or cannot be read. */
int cli_spki(int argc, char **argv, FILE *out, FILE *errors);

#endif
