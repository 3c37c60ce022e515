/*
 * cli_export — `pinwatch export` and `pinwatch verify`, the command-line side of the evidence
 * bundle (SPEC §8). The bundle is signed with the key `pinwatch serve` uses
 * (PINWATCH_SIGNING_KEY, else the one next to PINWATCH_SPOOL_DIR, generated when missing).
 */
#ifndef CLI_EXPORT_H
#define CLI_EXPORT_H

/*
 * pinwatch export --out FILE [--hostname H] [--app A] [--from T] [--to T] [--app_version V]
 *                 [--platform P] [--network N] [--verdict V] [--group G] [--database-url URL]
 * Flags are named like the query parameters of GET /v1/export ('-' and '_' interchangeable,
 * "--flag value" or "--flag=value"); DATABASE_URL comes from the environment unless given.
 * Writes the same bundle as the HTTP export, through export_bundle_write, into a temporary
 * file next to FILE that is renamed over it once complete ("-" writes to stdout).
 * argv holds the arguments after "export". Returns the exit status: 0, 1 on failure, 2 on
 * bad usage.
 */
int cli_export(int argc, char **argv);

/*
 * pinwatch verify FILE [--key PEM] (cli_verify.c) — re-check a bundle: every member inside its
 * one folder; MANIFEST.sha256.sig an Ed25519 signature of MANIFEST.sha256's exact bytes by the
 * --key public key, else by the bundle's signing-key.pem (the key's fingerprint is printed
 * either way); every MANIFEST.sha256 line against the member's SHA-256, every member but the
 * manifest and its signature listed; every raw/<id>.json against the raw_sha256 of report
 * <id> in reports.ndjson (and each report having its raw file). Prints each problem on its own
 * line and returns 1 if there is any; prints one OK line and returns 0 otherwise; 2 on bad
 * usage. argv holds the arguments after "verify".
 */
int cli_verify(int argc, char **argv);

#endif
