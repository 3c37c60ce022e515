#!/usr/bin/env bash
# The compose file must be valid for Debian's docker-compose (no Docker engine needed).
set -euo pipefail
root=${1:?source dir}
command -v docker-compose >/dev/null || { echo "docker-compose is not installed" >&2; exit 1; }
out=$(docker-compose -f "$root/docker/compose.yaml" config)
grep -q 'postgres.Dockerfile' <<<"$out" || { echo "compose: postgres is not built from docker/postgres.Dockerfile" >&2; exit 1; }
grep -q '^FROM postgres:15' "$root/docker/postgres.Dockerfile" || { echo "postgres.Dockerfile: not based on postgres:15" >&2; exit 1; }
grep -q 'postgresql-15-hll' "$root/docker/postgres.Dockerfile" || { echo "postgres.Dockerfile: no hll extension" >&2; exit 1; }
grep -q 'healthcheck' <<<"$out" || { echo "compose: no healthcheck" >&2; exit 1; }
grep -q 'USER pinwatch' "$root/docker/Dockerfile" || { echo "Dockerfile: not a non-root user" >&2; exit 1; }
echo "compose file OK"
