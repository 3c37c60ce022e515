#!/usr/bin/env bash
# The benchmark must not rot between `make bench` runs: its scripts parse, and the ceiling
# probe (bench/probe.c) builds with the project's warnings and answers as run.sh expects —
# 204 for a JSON body, 400 for a non-JSON body, 413 over the body cap.
set -euo pipefail
root=${1:?source dir}
for f in "$root/bench/run.sh" "$root/bench/gen_data.sh"; do
  bash -n "$f" || { echo "bench: $f does not parse" >&2; exit 1; }
done
grep -q '^function done' "$root/bench/post.lua" || { echo "bench: post.lua has no done()" >&2; exit 1; }

tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
cc -std=c11 -O0 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Wpedantic -Wshadow \
  -Wstrict-prototypes -Wmissing-prototypes -Werror -o "$tmp/probe" "$root/bench/probe.c" \
  $(pkg-config --cflags --libs libmicrohttpd jansson)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$tmp/probe" "$port" &
pid=$!
for _ in $(seq 1 100); do
  curl -fs -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
  sleep 0.05
done
post() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$1" "http://127.0.0.1:$port/v1/reports"; }
[ "$(post '{"hostname":"a.example","known-pins":[]}')" = 204 ] || { echo "probe: JSON body not 204" >&2; exit 1; }
[ "$(post '{"hostname":')" = 400 ] || { echo "probe: broken JSON not 400" >&2; exit 1; }
head -c 70000 /dev/zero | tr '\0' ' ' >"$tmp/big"
[ "$(post "@$tmp/big")" = 413 ] || { echo "probe: 70000-byte body not 413" >&2; exit 1; }
kill -TERM "$pid"
wait "$pid" || { echo "probe: did not exit 0 on SIGTERM" >&2; pid=""; exit 1; }
pid=""
echo "bench scripts and probe OK"
