#!/usr/bin/env bash
# Compare Chromium's SPKI blocklist with data/catalog.json (README "Refreshing the catalog").
#
#   scripts/catalog_blocklist_diff.sh path/to/cert_verify_proc_blocklist.inc
#
# Prints one line per SPKI of kSPKIBlockList / kKnownInterceptionList, "missing" or "ok", with
# the certificate files the .inc names for it, and exits 1 when any is missing. With OUT=file it
# also writes the list in the format of
# tests/fixtures/chromium-blocklist/cert_verify_proc_blocklist.spki.txt (without its header).
set -euo pipefail

inc=${1:?usage: $0 cert_verify_proc_blocklist.inc}
catalog=${CATALOG:-"$(dirname "$0")/../data/catalog.json"}
out=${OUT:-}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

# One "hex list files" line per array: comments name the files, the braces hold 32 bytes.
awk '
    /kKnownInterceptionList/ { list = "known_interception" }
    /kSPKIBlockList/        { list = "blocklist" }
    match($0, /[0-9a-f]+\.(pem|key)/) { files = files (files ? "," : "") substr($0, RSTART, RLENGTH) }
    /0x[0-9a-f][0-9a-f]/ {
        line = $0
        while (match(line, /0x[0-9a-f][0-9a-f]/)) { hex = hex substr(line, RSTART + 2, 2); line = substr(line, RSTART + RLENGTH) }
    }
    /}/ && length(hex) == 64 { print hex, list, files; hex = ""; files = "" }
' "$inc" | sort -s -u -k1,1 >"$tmp"

missing=0
while read -r hex which files; do
    if grep -q "\"spki_sha256\": \"$hex\"" "$catalog"; then
        echo "ok      $hex $which $files"
    else
        echo "missing $hex $which $files"
        missing=1
    fi
done <"$tmp"
if [ -n "$out" ]; then cp "$tmp" "$out"; fi
exit $missing
