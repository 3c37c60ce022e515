#!/usr/bin/env bash
# `make run`'s cluster (scripts/pgcluster.sh) from a folder only its user can enter (a clone in
# root's home, a mktemp -d folder): it starts, keeps its data across stop and start, and is
# private — no trust authentication, a 0700 socket folder, no TCP listener, and another local
# user is refused.
set -euo pipefail
root=${1:?source dir}
fail() { echo "pgcluster: $*" >&2; exit 1; }
dir=$(mktemp -d) # mode 0700: postgres cannot enter it
state=$dir/clone/var
cleanup() { "$root/scripts/pgcluster.sh" destroy "$state" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
mkdir -p "$state"
[ "$(stat -c %a "$dir")" = 700 ] || fail "mktemp -d is not 0700"

"$root/scripts/pgcluster.sh" create "$state" >/dev/null
base=$(cat "$state/conninfo")
psql "$base dbname=postgres" -qAtc "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)" ||
  fail "cannot connect as the user who created it"

data=$(readlink "$state/pg")
sock=$(readlink "$state/pg-sock")
[ "$(stat -c %a "$sock")" = 700 ] || fail "socket folder $sock is mode $(stat -c %a "$sock"), not 0700"
[ "$(stat -c %a "$(cat "$state/pg-home")")" = 700 ] || fail "cluster folder is not 0700"
grep -Ev '^\s*(#|$)' "$data/pg_hba.conf" | grep -qw trust && fail "pg_hba.conf trusts someone"
grep -Ev '^\s*(#|$)' "$data/pg_hba.conf" | grep -Eqw 'host|hostssl|hostnossl' && fail "pg_hba.conf admits TCP"
[ "$(psql "$base dbname=postgres" -qAtc 'SHOW listen_addresses')" = "" ] || fail "listens on TCP"
if [ "$(id -u)" = 0 ]; then
  if runuser -u nobody -- psql "$base dbname=postgres" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    fail "another local user (nobody) can connect"
  fi
fi

"$root/scripts/pgcluster.sh" stop "$state"
"$root/scripts/pgcluster.sh" status "$state" && fail "still running after stop"
"$root/scripts/pgcluster.sh" create "$state" >/dev/null # what a second `make run` does
[ "$(psql "$base dbname=postgres" -qAtc 'SELECT x FROM kept')" = 42 ] || fail "data lost across stop and start"
echo "pgcluster OK ($(cat "$state/pg-home"))"
