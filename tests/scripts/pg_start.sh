#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the integration tests (CTest fixture "pg").
# Usage: pg_start.sh STATE_DIR — writes STATE_DIR/conninfo. Works as root (runs the server as
# the postgres user, since initdb refuses root) and as an ordinary user.
set -euo pipefail
state=${1:?state dir}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$PG_BIN/initdb" ] || { echo "pg_start: PostgreSQL server binaries not found" >&2; exit 1; }

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

"$(dirname "$0")/pg_stop.sh" "$state" >/dev/null 2>&1 || true
mkdir -p "$state"
rm -rf "$state/pg" "$state/pg-sock"
mkdir -p "$state/pg" "$state/pg-sock"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$state/pg" "$state/pg-sock"
# The state folder also holds server logs and spools written by root-run tests.
chmod 0777 "$state" 2>/dev/null || true

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 30000)))
as_pg "$PG_BIN/initdb" -D "$state/pg" -A trust -U postgres --no-sync -E UTF8 >"$state/initdb.log" 2>&1 \
  || { cat "$state/initdb.log" >&2; exit 1; }
cat >>"$state/pg/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$state/pg-sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 128MB
CONF
as_pg "$PG_BIN/pg_ctl" -D "$state/pg" -l "$state/pg/server.log" -w -t 60 start >/dev/null \
  || { cat "$state/pg/server.log" >&2; exit 1; }
echo "host=$state/pg-sock port=$port user=postgres" >"$state/conninfo"
echo "$port" >"$state/port"
echo "pg_start: PostgreSQL on port $port, socket $state/pg-sock"
