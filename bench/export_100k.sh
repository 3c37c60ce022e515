#!/usr/bin/env bash
# Evidence export benchmark (SPEC §8: the first byte leaves within a second whatever the size,
# memory stays bounded). Not part of the test suite.
#
#   bench/export_100k.sh                 100 000 copies of one stored report (one shared body)
#   DISTINCT=1 bench/export_100k.sh      ... each with a raw body of its own (one body read
#                                         from PostgreSQL per report, the worst case)
#   N=20000 bench/export_100k.sh         another size
#
# Builds a release binary into build-bench-export/, starts a private PostgreSQL there, posts one
# real TrustKit-Android report (served and validated chains), clones it N-1 times with SQL under
# new ids, then fetches GET /v1/export and prints: time to response headers, time to the first
# body byte, total time, bundle size, the server's peak RSS (VmHWM) before and after, and the
# time `pinwatch verify` takes on the bundle.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build-bench-export}
state=$build/bench-export-state
N=${N:-100000}
DISTINCT=${DISTINCT:-0}
fixture=${FIXTURE:-$root/tests/fixtures/trustkit-android/docs_sample_report_2016-11-25_updated.json}
token=bench-export-token

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPINWATCH_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target pinwatch >/dev/null

server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    "$root/tests/scripts/pg_stop.sh" "$state" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$root/tests/scripts/pg_start.sh" "$state" >/dev/null
base=$(cat "$state/conninfo")
psql "$base dbname=postgres" -qc "CREATE DATABASE bench_export" >/dev/null
db="$base dbname=bench_export"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

DATABASE_URL="$db" PINWATCH_LISTEN="127.0.0.1:$port" PINWATCH_ADMIN_TOKEN="$token" \
PINWATCH_SPOOL_DIR="$state/spool" PINWATCH_RATE_LIMIT=0 PINWATCH_LOG_LEVEL=info \
    "$build/pinwatch" serve 2>"$state/server.log" &
server_pid=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

id=$(curl -fs -H 'Content-Type: application/json' --data-binary @"$fixture" \
    "http://127.0.0.1:$port/v1/reports" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accepted"][0])')
body_b64=$(base64 -w0 "$fixture")

echo "cloning the report $((N - 1)) times (distinct raw bodies: $DISTINCT)..."
t0=$(date +%s.%N)
psql "$db" -q -v ON_ERROR_STOP=1 -v n="$((N - 1))" -v distinct="$DISTINCT" -v body="$body_b64" <<'SQL'
-- Each copy: a new id, received a millisecond earlier than the previous; with distinct=1 its
-- own raw body (the original plus "\n<g>", stored as the original's template plus that tail,
-- which is how rawbody keeps it) so that every report costs one body read.
CREATE TEMP TABLE clone AS
SELECT g, convert_to(E'\n' || g::text, 'UTF8') AS tail FROM generate_series(1, :n) g;
INSERT INTO raw_bodies (sha256, received_at, length, template)
SELECT sha256(decode(:'body', 'base64') || c.tail), b.received_at,
       b.length + length(c.tail), b.template || c.tail
FROM clone c, raw_bodies b
WHERE :distinct = 1 AND b.sha256 = (SELECT raw_sha256 FROM reports LIMIT 1);
INSERT INTO reports
SELECT p.* FROM reports r CROSS JOIN clone c
CROSS JOIN LATERAL jsonb_populate_record(NULL::reports, to_jsonb(r) || jsonb_build_object(
    'id', gen_random_uuid(),
    'received_at', r.received_at - c.g * interval '1 ms',
    'raw_sha256', CASE WHEN :distinct = 1
                       THEN to_jsonb('\x' || encode(sha256(decode(:'body', 'base64') || c.tail), 'hex'))
                       ELSE to_jsonb(r)->'raw_sha256' END)) p;
ANALYZE reports;
ANALYZE raw_bodies;
SQL
t1=$(date +%s.%N)
count=$(psql "$db" -Atc "SELECT count(*) FROM reports")
echo "reports in the database: $count ($(python3 -c "print(round($t1-$t0,1))") s to clone)"

hwm() { awk '/VmHWM/ {print $2}' "/proc/$server_pid/status"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$server_pid/status"; }
echo "server before export: VmRSS $(rss) kB, VmHWM $(hwm) kB"

out=$state/bundle.tar.gz
python3 - "$port" "$token" "$out" <<'PY'
import http.client, sys, time
port, token, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t0 = time.monotonic()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
c.request("GET", "/v1/export", headers={"Authorization": "Bearer " + token})
r = c.getresponse()
t_headers = time.monotonic() - t0
first = r.read(1)
t_first = time.monotonic() - t0
n = len(first)
with open(out, "wb") as f:
    f.write(first)
    while True:
        b = r.read(1 << 16)
        if not b:
            break
        f.write(b)
        n += len(b)
total = time.monotonic() - t0
print(f"status {r.status}; headers after {t_headers*1000:.0f} ms; first body byte after "
      f"{t_first*1000:.0f} ms; complete after {total:.1f} s; {n/1e6:.1f} MB gzip "
      f"({n/1e6/total:.1f} MB/s)")
PY
echo "server after export: VmRSS $(rss) kB, VmHWM $(hwm) kB"
grep -h "export:" "$state/server.log" | tail -n 1

t0=$(date +%s.%N)
"$build/pinwatch" verify "$out"
t1=$(date +%s.%N)
echo "pinwatch verify: $(python3 -c "print(round($t1-$t0,1))") s"
rm -rf "$state/unpacked" && mkdir -p "$state/unpacked" && tar xzf "$out" -C "$state/unpacked"
du -sh --apparent-size "$state/unpacked" | awk '{print "unpacked size: " $1}'
