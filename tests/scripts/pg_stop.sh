#!/usr/bin/env bash
# Stop the throwaway PostgreSQL started by pg_start.sh and remove its data.
set -uo pipefail
state=${1:?state dir}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ -f "$state/pg/postmaster.pid" ]; then
  as_pg "$PG_BIN/pg_ctl" -D "$state/pg" -m immediate -w stop >/dev/null 2>&1 || true
fi
rm -rf "$state/pg" "$state/pg-sock" "$state/conninfo"
echo "pg_stop: done"
