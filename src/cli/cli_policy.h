/* cli_policy — `pinwatch check-policy`: an app's pin policy against the chains served. */
#ifndef CLI_POLICY_H
#define CLI_POLICY_H

#include <stdio.h>

/*
 * pinwatch check-policy [--chain FILE | --chain HOST=FILE ...] [--json] POLICY
 * The current chain of a domain: the --chain for that host, else a bare --chain FILE, else
 * the keys PINWATCH_EXPECTED_KEYS declares for it. Exit 1 when a finding is an error, 0
 * otherwise, 2 when the policy (or a chain file) cannot be read.
 */
int cli_check_policy(int argc, char **argv, FILE *out, FILE *errors);

#endif
