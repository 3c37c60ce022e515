#!/usr/bin/env bash
# make bench — throughput, latency, memory and storage of the ingest path, against a ceiling.
#
# Builds a Release pinwatch in build-bench/, starts a private PostgreSQL with honest
# durability (fsync=on, synchronous_commit=on, full_page_writes=on), serves pinwatch on
# loopback and drives it with wrk (bench/post.lua: rotating TrustKit iOS / Android / HPKP
# bodies from bench/data, a different X-Forwarded-For and client time per request). Then the
# same load against bench/probe.c, a bare libmicrohttpd + jansson server in the same thread
# mode, which is the ceiling. Prints reports/s of both and their ratio, p50/p99 latency, the
# server's peak RSS, PostgreSQL bytes per stored report, and checks that every 200 answer is
# exactly one stored report and that the rollups count every one (exit 1 when they differ).
#
# Knobs (environment): BENCH_SECONDS (measured window, default 15), BENCH_CONNECTIONS
# (default 32), BENCH_THREADS (wrk threads, default 2), BENCH_PERF=1 (also record the server
# with perf during the run and print the top symbols), BENCH_PINWATCH (a pinwatch binary to
# measure instead of the Release build, e.g. to compare a candidate change).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build-bench
window=${BENCH_SECONDS:-15}
# 32 connections suit this 2-core box: pinwatch's throughput grows with concurrency because a
# group commit takes whatever is queued (about 5 reports per commit at 8 connections, 18 at
# 32, 33 at 64, with PostgreSQL CPU per report falling from ~0.9 to ~0.35 ms), while the
# probe is flat from 8 to 64; beyond 32, latency grows faster than throughput.
conns=${BENCH_CONNECTIONS:-32}
wthreads=${BENCH_THREADS:-2}
data=$root/bench/data

server_pid=""
probe_pid=""
perf_pid=""
cleanup() {
  local rc=$?
  [ -n "$perf_pid" ] && { kill "$perf_pid" 2>/dev/null || true; }
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$probe_pid" ] && kill "$probe_pid" 2>/dev/null && wait "$probe_pid" 2>/dev/null
  "$root/tests/scripts/pg_stop.sh" "$out/pg" >/dev/null 2>&1 || true
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in wrk curl psql cc; do
  command -v $tool >/dev/null || { echo "bench: $tool is required (make bench installs it)" >&2; exit 1; }
done

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # URL PID
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# CPU time (clock ticks) of a process and its reaped children: utime+stime+cutime+cstime.
cpu_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# ... of the PostgreSQL cluster: the postmaster (which reaps its backends) and live children.
pg_ticks() {
  local pm total=0 p
  pm=$(head -n 1 "$out/pg/pg/postmaster.pid")
  total=$(cpu_ticks "$pm")
  for p in $(ps -o pid= --ppid "$pm"); do total=$((total + $(cpu_ticks "$p"))); done
  echo "$total"
}
hz=$(getconf CLK_TCK)

echo "== build (Release) into $out"
cmake -S "$root" -B "$out" -DCMAKE_BUILD_TYPE=Release -DPINWATCH_TESTS=OFF >/dev/null
cmake --build "$out" -j "$(nproc)" --target pinwatch >/dev/null
pinwatch=${BENCH_PINWATCH:-$out/pinwatch}
# -g so perf can name the probe's frames too; same optimisation level as the Release build.
cc -std=c11 -O2 -g -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Wpedantic \
  -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror -o "$out/probe" "$root/bench/probe.c" \
  $(pkg-config --cflags --libs libmicrohttpd jansson)
"$root/bench/gen_data.sh" "$data"

echo "== PostgreSQL (fsync=on, synchronous_commit=on)"
"$root/tests/scripts/pg_start.sh" "$out/pg" >/dev/null
# pg_start.sh tunes for throwaway test clusters; the benchmark measures real durability.
cat >>"$out/pg/pg/postgresql.conf" <<CONF
fsync = on
synchronous_commit = on
full_page_writes = on
CONF
"$root/scripts/pgcluster.sh" restart "$out/pg"
base=$(cat "$out/pg/conninfo")
psql "$base dbname=postgres" -qAtc "CREATE DATABASE bench" >/dev/null
db="$base dbname=bench"
sql() { psql "$db" -qAtc "$1"; }
[ "$(sql 'SHOW fsync')" = on ] && [ "$(sql 'SHOW synchronous_commit')" = on ] \
  || { echo "bench: PostgreSQL durability settings did not apply" >&2; exit 1; }

# run_wrk NAME PORT OK_STATUS — the same load for both servers; output in $out/wrk-NAME.txt.
run_wrk() {
  wrk -t"$wthreads" -c"$conns" -d"$((window + 3))s" --timeout 10s --latency \
    -s "$root/bench/post.lua" "http://127.0.0.1:$2/v1/reports" -- "$data" "$window" "$3" \
    >"$out/wrk-$1.txt" 2>&1
}
val() { sed -n "s/^BENCH $2=//p" "$out/wrk-$1.txt" | head -n 1; }

echo "== pinwatch: $conns connections, $wthreads wrk threads, ${window}s"
rm -rf "$out/spool"
port=$(free_port)
DATABASE_URL="$db" PINWATCH_LISTEN="127.0.0.1:$port" PINWATCH_RATE_LIMIT=0 \
  PINWATCH_TRUSTED_PROXIES=127.0.0.0/8 PINWATCH_LOG_LEVEL=warn PINWATCH_SPOOL_DIR="$out/spool" \
  PINWATCH_ADMIN_TOKEN="bench-$RANDOM$RANDOM" "$pinwatch" serve 2>"$out/server.log" &
server_pid=$!
wait_http "http://127.0.0.1:$port/healthz" "$server_pid" \
  || { echo "bench: pinwatch did not start, see $out/server.log" >&2; tail -n 5 "$out/server.log" >&2; exit 1; }
if [ "${BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
  perf record -F 499 --call-graph dwarf,16384 -p "$server_pid" -o "$out/perf.data" -- sleep "$window" \
    >/dev/null 2>&1 &
  perf_pid=$!
  # Let perf attach before the connection threads exist, so it follows each new one.
  sleep 2
fi
s_cpu0=$(cpu_ticks "$server_pid"); pg_cpu0=$(pg_ticks)
( run_wrk server "$port" 200 ) &
wrk_sub=$!
# Thread count while under load (one thread per open connection).
sleep 2
threads_load=$(awk '/^Threads:/ {print $2}' "/proc/$server_pid/status")
wait "$wrk_sub" || { cat "$out/wrk-server.txt" >&2; exit 1; }
s_cpu1=$(cpu_ticks "$server_pid"); pg_cpu1=$(pg_ticks)
[ -n "$perf_pid" ] && { wait "$perf_pid" || true; }
rss_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$server_pid/status")
metrics=$(curl -fsS "http://127.0.0.1:$port/metrics")
kill -TERM "$server_pid"
server_rc=0
wait "$server_pid" || server_rc=$?
server_pid=""

stored=$(sql "SELECT count(*) FROM reports")
# Rollups are merged after the answers (0010); a clean stop merges what is still queued.
rolled=$(sql "SELECT coalesce(sum(reports), 0) FROM rollup_group_hourly")
queued=$(sql "SELECT count(*) FROM rollup_queue")
distinct=$(sql "SELECT count(DISTINCT id) FROM reports")
bytes=$(sql "SELECT (SELECT coalesce(sum(pg_total_relation_size(relid)), 0)
                     FROM pg_partition_tree('reports'))
                  + pg_total_relation_size('certificates') + pg_total_relation_size('chains')
                  + pg_total_relation_size('raw_bodies') + pg_total_relation_size('raw_fragments')
                  + pg_total_relation_size('groups')")
# Bytes per stored report of each relation counted above (table + indexes + TOAST), and of the
# rollup tables, which the target does not count but which grow with distinct networks.
breakdown=$(sql "WITH n AS (SELECT greatest(count(*), 1) AS n FROM reports),
                 s AS (SELECT 'reports' AS t, (SELECT sum(pg_total_relation_size(relid))
                                                FROM pg_partition_tree('reports'))::bigint AS b
                       UNION ALL SELECT c.relname, pg_total_relation_size(c.oid)
                       FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
                       WHERE ns.nspname = 'public' AND c.relkind = 'r' AND c.relname IN
                             ('raw_bodies', 'raw_fragments', 'certificates', 'chains', 'groups'))
                 SELECT string_agg(t || ' ' || round(b::numeric / n.n), ', ' ORDER BY b DESC)
                 FROM s, n")
rollups=$(sql "SELECT round(coalesce(sum(pg_total_relation_size(c.oid)), 0) / greatest((SELECT count(*) FROM reports), 1))
               FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
               WHERE ns.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 'rollup%'")
counts=$(sql "SELECT (SELECT count(*) FROM certificates) || ' certificates, '
                  || (SELECT count(*) FROM chains) || ' chains, '
                  || (SELECT count(*) FROM raw_bodies) || ' raw bodies, '
                  || (SELECT count(*) FROM groups) || ' groups'")

echo "== probe (libmicrohttpd + jansson ceiling)"
pport=$(free_port)
"$out/probe" "$pport" 2>"$out/probe.log" &
probe_pid=$!
wait_http "http://127.0.0.1:$pport/" "$probe_pid" || { echo "bench: probe did not start" >&2; exit 1; }
p_cpu0=$(cpu_ticks "$probe_pid")
run_wrk probe "$pport" 204 || { cat "$out/wrk-probe.txt" >&2; exit 1; }
p_cpu1=$(cpu_ticks "$probe_pid")
kill -TERM "$probe_pid"
wait "$probe_pid" || true
probe_pid=""

s_ok=$(val server ok); s_rate=$(val server rate); p_rate=$(val probe rate)
batch_sum=$(sed -n 's/^pinwatch_batch_reports_sum //p' <<<"$metrics")
batch_count=$(sed -n 's/^pinwatch_batch_reports_count //p' <<<"$metrics")
commit_sum=$(sed -n 's/^pinwatch_commit_seconds_sum //p' <<<"$metrics")
echo
echo "================ pinwatch bench ($conns connections, ${window}s, $(nproc) cores) ================"
printf 'server   %10.1f reports/s   p50 %7.2f ms   p90 %7.2f ms   p99 %7.2f ms   max %7.2f ms\n' \
  "$s_rate" "$(val server p50_ms)" "$(val server p90_ms)" "$(val server p99_ms)" "$(val server max_ms)"
printf 'probe    %10.1f requests/s  p50 %7.2f ms   p90 %7.2f ms   p99 %7.2f ms\n' \
  "$p_rate" "$(val probe p50_ms)" "$(val probe p90_ms)" "$(val probe p99_ms)"
awk -v s="$s_rate" -v p="$p_rate" 'BEGIN { printf "ratio    %10.3f (server / probe; target >= 0.5)\n", (p > 0 ? s / p : 0) }'
awk -v k="$rss_kib" -v t="$threads_load" 'BEGIN { printf "peak RSS %10.1f MiB (VmHWM; target < 64), %d threads under load\n", k / 1024, t }'
awk -v b="$bytes" -v n="$stored" 'BEGIN { printf "storage  %10.0f bytes per report (target < 1536) over %d reports\n", (n > 0 ? b / n : 0), n }'
echo "         per report: $breakdown (bytes); rollup tables, not counted: $rollups"
echo "         $counts"
awk -v s="$batch_sum" -v c="$batch_count" -v l="$commit_sum" 'BEGIN {
  if (c > 0) printf "batches  %10d commits, %.1f reports per commit, %.2f ms per commit\n", c, s / c, 1000 * l / c }'
awk -v s=$((s_cpu1 - s_cpu0)) -v p=$((pg_cpu1 - pg_cpu0)) -v hz="$hz" -v n="$s_ok" 'BEGIN {
  if (n > 0) printf "CPU      %10.3f ms pinwatch + %.3f ms PostgreSQL per report (%.1f s + %.1f s in all)\n",
    1000 * s / hz / n, 1000 * p / hz / n, s / hz, p / hz }'
awk -v s=$((p_cpu1 - p_cpu0)) -v hz="$hz" -v n="$(val probe ok)" 'BEGIN {
  if (n > 0) printf "         %10.3f ms probe per request\n", 1000 * s / hz / n }'
echo "answers  200: $s_ok, other: $(val server other) $(val server statuses), timeouts: $(val server timeouts), socket errors: $(val server sock_errors)"
echo "stored   $stored rows, $distinct distinct ids; rollups count $rolled, $queued commits still queued"
echo "shutdown SIGTERM exit status $server_rc"
if [ -n "$perf_pid" ] && [ -f "$out/perf.data" ]; then
  echo "== perf: the server's CPU by library (self time)"
  perf report -i "$out/perf.data" --stdio --no-children --sort dso 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | head -n 8 || true
  echo "== perf: named functions, time including callees (self second)"
  perf report -i "$out/perf.data" --stdio --children --sort symbol 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | grep -vE '\] 0x0|clone3|start_thread|\[k\]' | head -n 30 || true
  echo "== perf: top symbols (self time)"
  perf report -i "$out/perf.data" --stdio --no-children --sort dso,symbol 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | head -n 20 || true
fi
rc=0
if [ "$s_ok" != "$stored" ] || [ "$stored" != "$distinct" ]; then
  echo "FAIL: $s_ok answers 200 but $stored stored rows ($distinct distinct ids)" >&2
  rc=1
fi
if [ "$rolled" != "$stored" ] || [ "$queued" != 0 ]; then
  echo "FAIL: the rollups count $rolled of $stored stored reports ($queued commits queued)" >&2
  rc=1
fi
if [ "$server_rc" != 0 ]; then
  echo "FAIL: pinwatch exited with status $server_rc on SIGTERM" >&2
  rc=1
fi
[ $rc = 0 ] && echo "OK: every 200 is exactly one stored report, counted in the rollups"
exit $rc
