#!/usr/bin/env bash
# Aggregation benchmark (issue: groups and trends stay fast as data grows).
# Generates AGG_REPORTS synthetic reports (default 5 000 000) through pinwatch_store_batch,
# then times GET /v1/groups and /v1/trends over 7 days against a baseline measured in the
# same run: the same question asked of the raw reports table (GROUP BY with distinct counts).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${AGG_DIR:-$root/build-bench-agg}
reports=${AGG_REPORTS:-5000000}
runs=${AGG_RUNS:-7}
mkdir -p "$out"

cmake -S "$root" -B "$out/build" -DCMAKE_BUILD_TYPE=Release -DPINWATCH_TESTS=OFF >/dev/null
cmake --build "$out/build" -j"$(nproc)" --target pinwatch >/dev/null

"$root/tests/scripts/pg_start.sh" "$out/state" >/dev/null
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  "$root/tests/scripts/pg_stop.sh" "$out/state" >/dev/null 2>&1 || true
}
trap cleanup EXIT
base=$(cat "$out/state/conninfo")
psql "$base dbname=postgres" -qc "CREATE DATABASE agg" >/dev/null
db="$base dbname=agg"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token=bench-token
DATABASE_URL="$db" PINWATCH_LISTEN=127.0.0.1:$port PINWATCH_ADMIN_TOKEN=$token \
  PINWATCH_SPOOL_DIR="$out/spool" PINWATCH_LOG_LEVEL=warn \
  "$out/build/pinwatch" serve 2>"$out/server.log" &
server_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

echo "generating $reports reports (through pinwatch_store_batch)..."
t0=$(date +%s)
psql "$db" -q -v reports="$reports" -v batch=5000 -f "$here/generate.sql" 2>&1 | grep -v NOTICE || true
echo "generated in $(( $(date +%s) - t0 )) s"
psql "$db" -Atc "SELECT 'stored reports: ' || count(*) FROM reports"
psql "$db" -Atc "SELECT 'rollup rows: group ' || (SELECT count(*) FROM rollup_group_hourly) ||
  ', version ' || (SELECT count(*) FROM rollup_version_hourly) ||
  ', network hourly ' || (SELECT count(*) FROM rollup_network_hourly) ||
  ', network daily ' || (SELECT count(*) FROM rollup_network_daily)"

auth=(-H "Authorization: Bearer $token")
# First call evaluates every group's verdict; not part of the timing.
curl -fs "${auth[@]}" "http://127.0.0.1:$port/v1/groups" >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_url() {
  for _ in $(seq "$runs"); do
    curl -fs -o /dev/null -w '%{time_total}\n' "${auth[@]}" "http://127.0.0.1:$port$1"
  done | median
}
time_sql() {
  for _ in $(seq "$runs"); do
    psql "$db" -qAt -c '\timing on' -c "$1" | grep -o 'Time: [0-9.]*' | awk '{print $2/1000}'
  done | median
}

# The generator spreads every batch over the whole week, so each commit rewrites every rollup
# row of the week (live traffic only touches the current hour and day): right after it the
# rollups are mostly dead row versions. Timed once like that, then after VACUUM (what
# autovacuum reaches within a minute or two) for the figures below.
groups_dirty=$(time_url "/v1/groups")
psql "$db" -qc "VACUUM ANALYZE"
groups=$(time_url "/v1/groups")
trend_verdict=$(time_url "/v1/trends?bucket=hour&by=verdict")
trend_version=$(time_url "/v1/trends?bucket=day&by=app_version")
trend_network=$(time_url "/v1/trends?bucket=hour&by=network")
raw_groups=$(time_sql "SELECT group_id, count(*), count(DISTINCT vendor_id), count(DISTINCT network)
  FROM reports WHERE received_at >= now() - interval '7 days' GROUP BY group_id")
raw_trend=$(time_sql "SELECT g.verdict, date_trunc('hour', r.received_at), count(*), count(DISTINCT r.vendor_id)
  FROM reports r JOIN groups g ON g.id = r.group_id
  WHERE r.received_at >= now() - interval '7 days' GROUP BY 1, 2")

printf '\n%-44s %10s\n' "query (7 days, $reports reports, median of $runs)" "seconds"
printf '%-44s %10.3f\n' "GET /v1/groups (before VACUUM)" "$groups_dirty"
printf '%-44s %10.3f\n' "GET /v1/groups" "$groups"
printf '%-44s %10.3f\n' "GET /v1/trends?bucket=hour&by=verdict" "$trend_verdict"
printf '%-44s %10.3f\n' "GET /v1/trends?bucket=day&by=app_version" "$trend_version"
printf '%-44s %10.3f\n' "GET /v1/trends?bucket=hour&by=network" "$trend_network"
printf '%-44s %10.3f\n' "baseline: groups from raw reports (SQL)" "$raw_groups"
printf '%-44s %10.3f\n' "baseline: hourly trend from raw reports (SQL)" "$raw_trend"
awk -v a="$groups" -v b="$raw_groups" -v c="$trend_verdict" -v d="$raw_trend" 'BEGIN {
  printf "ratio groups/raw %.3f, trend/raw %.3f\n", a / b, c / d }'
fail=0
for v in "$groups" "$trend_verdict" "$trend_version" "$trend_network"; do
  awk -v v="$v" 'BEGIN { exit !(v < 0.200) }' || fail=1
done
[ "$fail" = 0 ] && echo "target met: every query under 200 ms" || { echo "target MISSED: a query took 200 ms or more"; exit 1; }
