#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the integration tests (CTest fixture "pg").
# Usage: pg_start.sh STATE_DIR — writes STATE_DIR/conninfo. The cluster itself lives where the
# postgres user can reach it, also when STATE_DIR is in a folder only root can enter, and only
# the user who started it can connect (see scripts/pgcluster.sh).
set -euo pipefail
state=${1:?state dir}
"$(dirname "$0")/../../scripts/pgcluster.sh" create "$state" --throwaway
echo "pg_start: PostgreSQL at $(cat "$state/conninfo")"
