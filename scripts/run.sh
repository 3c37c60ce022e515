#!/usr/bin/env bash
# `make run`: a private PostgreSQL cluster for this clone (reused on later runs, see
# scripts/pgcluster.sh for where it lives) unless DATABASE_URL is set, an admin token generated
# once in var/admin-token, and pinwatch serving on 127.0.0.1:8080 in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)
mkdir -p var var/spool
chmod 0700 var
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

database="DATABASE_URL from the environment"
if [ -z "${DATABASE_URL:-}" ]; then
  [ -f var/conninfo ] || echo "run: creating a private PostgreSQL cluster for this clone"
  scripts/pgcluster.sh create var
  base=$(cat var/conninfo)
  "$PG_BIN/psql" "$base dbname=postgres" -tAc "SELECT 1 FROM pg_database WHERE datname='pinwatch'" |
    grep -q 1 || "$PG_BIN/psql" "$base dbname=postgres" -qc "CREATE DATABASE pinwatch"
  export DATABASE_URL="$base dbname=pinwatch"
  # The CLI (pinwatch export, rotation-check, migrate) run from the clone reads this when
  # DATABASE_URL is unset.
  (umask 077; echo "$DATABASE_URL" >var/database-url)
  database="private cluster in $(cat var/pg-home) (var/pg), stop it with: make stop-db"
fi

if [ ! -s var/admin-token ]; then
  (umask 077; openssl rand -hex 24 >var/admin-token)
fi
export PINWATCH_ADMIN_TOKEN_FILE=${PINWATCH_ADMIN_TOKEN_FILE:-$root/var/admin-token}
export PINWATCH_SPOOL_DIR=${PINWATCH_SPOOL_DIR:-$root/var/spool}
listen=${PINWATCH_LISTEN:-127.0.0.1:8080}
export PINWATCH_LISTEN=$listen
# A proxy on this machine (nginx, or `make demo` simulating clients on other networks) is
# believed when it sends X-Forwarded-For; set PINWATCH_TRUSTED_PROXIES to change it.
export PINWATCH_TRUSTED_PROXIES=${PINWATCH_TRUSTED_PROXIES-127.0.0.1/32,::1/128}

cat <<MSG
pinwatch is starting on http://$listen
  ingest URL:    http://$listen/v1/reports   (POST, public)
  dashboard:     http://$listen/
  admin token:   $PINWATCH_ADMIN_TOKEN_FILE  (curl -H "Authorization: Bearer \$(cat $PINWATCH_ADMIN_TOKEN_FILE)" ...)
  database:      $database
  sample data:   make demo   (in another terminal)
  stop with Ctrl-C
MSG
exec build/pinwatch serve
