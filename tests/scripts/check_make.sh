#!/usr/bin/env bash
# `make run` installs what building and running need, not the test and lint tools; `make demo`
# adds jq; `make test` installs everything (make -n prints the package lists it would check).
set -euo pipefail
root=${1:?source dir}
fail() { echo "make: $*" >&2; exit 1; }
packages() { make --no-print-directory -C "$root" -n "$1" 2>/dev/null | grep -o 'for p in [^;]*' | tr ' ' '\n' | sort -u; }
run=$(packages run)
for p in postgresql-15 postgresql-15-hll libmicrohttpd-dev libpq-dev cmake libjs-chart.js; do
  grep -qx "$p" <<<"$run" || fail "make run does not install $p"
done
for p in libcriterion-dev clang-format docker-compose libmaxmind-db-writer-perl jq wrk clang chromium chromium-driver; do
  grep -qx "$p" <<<"$run" && fail "make run installs $p, which running does not need"
done
grep -qx jq <<<"$(packages demo)" || fail "make demo does not install jq (the README examples use it)"
test_pkgs=$(packages test)
for p in libcriterion-dev clang-format docker-compose jq postgresql-15 chromium chromium-driver; do
  grep -qx "$p" <<<"$test_pkgs" || fail "make test does not install $p"
done
echo "make targets OK"
