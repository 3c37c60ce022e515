#!/usr/bin/env bash
# `make run`: a private PostgreSQL cluster under var/pg (reused on later runs) unless
# DATABASE_URL is set, an admin token generated once in var/admin-token, and pinwatch serving
# on 127.0.0.1:8080 in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mkdir -p var var/spool
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ -z "${DATABASE_URL:-}" ]; then
  pgdata=$root/var/pg
  sock=$root/var/pg-sock
  port=${PINWATCH_PG_PORT:-54329}
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    echo "run: creating PostgreSQL cluster in var/pg"
    mkdir -p "$pgdata" "$sock"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$pgdata" "$sock"
    chmod 0700 "$pgdata"
    as_pg "$PG_BIN/initdb" -D "$pgdata" -A trust -U postgres -E UTF8 >var/initdb.log
    cat >>"$pgdata/postgresql.conf" <<CONF
listen_addresses = ''
port = $port
unix_socket_directories = '$sock'
CONF
  fi
  mkdir -p "$sock" var/pg-log
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$sock" var/pg-log
  if ! as_pg "$PG_BIN/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    as_pg "$PG_BIN/pg_ctl" -D "$pgdata" -l "$root/var/pg-log/postgresql.log" -w start >/dev/null \
      || { echo "run: PostgreSQL did not start, see var/pg-log/postgresql.log" >&2; exit 1; }
  fi
  as_pg "$PG_BIN/psql" -h "$sock" -p "$port" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='pinwatch'" | grep -q 1 \
    || as_pg "$PG_BIN/createdb" -h "$sock" -p "$port" -U postgres pinwatch
  export DATABASE_URL="host=$sock port=$port user=postgres dbname=pinwatch"
fi

if [ ! -s var/admin-token ]; then
  (umask 077; openssl rand -hex 24 >var/admin-token)
fi
export PINWATCH_ADMIN_TOKEN_FILE=${PINWATCH_ADMIN_TOKEN_FILE:-$root/var/admin-token}
export PINWATCH_SPOOL_DIR=${PINWATCH_SPOOL_DIR:-$root/var/spool}
listen=${PINWATCH_LISTEN:-127.0.0.1:8080}
export PINWATCH_LISTEN=$listen

cat <<MSG
pinwatch is starting on http://$listen
  ingest URL:    http://$listen/v1/reports   (POST, public)
  dashboard:     http://$listen/
  admin token:   $PINWATCH_ADMIN_TOKEN_FILE  (curl -H "Authorization: Bearer \$(cat $PINWATCH_ADMIN_TOKEN_FILE)" ...)
  stop with Ctrl-C
MSG
exec build/pinwatch serve
