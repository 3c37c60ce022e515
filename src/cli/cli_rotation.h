/* cli_rotation — `pinwatch rotation-check --host H FILE`: would this candidate chain break the
 * pin sets apps shipped (seen in the last 30 days)? Exit 1 when any would break. */
#ifndef CLI_ROTATION_H
#define CLI_ROTATION_H

int cli_rotation_check(int argc, char **argv);

#endif
