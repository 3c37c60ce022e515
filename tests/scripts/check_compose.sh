#!/usr/bin/env bash
# The compose file must be valid for Debian's docker-compose (no Docker engine needed), and
# safe by default: it refuses to start without an admin token and never falls back to one.
set -euo pipefail
root=${1:?source dir}
command -v docker-compose >/dev/null || { echo "docker-compose is not installed" >&2; exit 1; }
compose=$root/docker/compose.yaml
fail() { echo "compose: $*" >&2; exit 1; }

# Without PINWATCH_ADMIN_TOKEN: refused, with a message that names it.
if msg=$(env -u PINWATCH_ADMIN_TOKEN docker-compose -f "$compose" config 2>&1); then
  fail "starts without PINWATCH_ADMIN_TOKEN (a default token?)"
fi
grep -q 'PINWATCH_ADMIN_TOKEN' <<<"$msg" || fail "the refusal does not name PINWATCH_ADMIN_TOKEN: $msg"
# No well-known token anywhere in the file.
grep -Eq 'PINWATCH_ADMIN_TOKEN:-|change-me' "$compose" && fail "a default admin token is written in $compose"

token=check-compose-$$-token
out=$(PINWATCH_ADMIN_TOKEN=$token docker-compose -f "$compose" config)
grep -q "PINWATCH_ADMIN_TOKEN: $token" <<<"$out" || fail "the token from the environment is not used"
grep -q 'postgres.Dockerfile' <<<"$out" || fail "postgres is not built from docker/postgres.Dockerfile"
grep -q '^FROM postgres:15' "$root/docker/postgres.Dockerfile" || fail "postgres.Dockerfile: not based on postgres:15"
grep -q 'postgresql-15-hll' "$root/docker/postgres.Dockerfile" || fail "postgres.Dockerfile: no hll extension"
grep -q 'healthcheck' <<<"$out" || fail "no healthcheck"
grep -q 'USER pinwatch' "$root/docker/Dockerfile" || fail "Dockerfile: not a non-root user"

# The build context is the repository: the local cluster, token and build folders stay out.
for p in var/ build/ 'build-\*/' examples/out/; do
  grep -qx "$p" "$root/.dockerignore" || fail ".dockerignore does not exclude $p"
done
echo "compose file OK"
