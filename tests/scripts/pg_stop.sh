#!/usr/bin/env bash
# Stop the throwaway PostgreSQL started by pg_start.sh and remove its data.
set -uo pipefail
state=${1:?state dir}
"$(dirname "$0")/../../scripts/pgcluster.sh" destroy "$state"
echo "pg_stop: done"
