#!/usr/bin/env bash
# sql/functions/ holds the one current definition of each function (see README, "Where SQL
# lives"): files named NN_area.sql, nothing at the top level but CREATE OR REPLACE FUNCTION
# (bodies are indented), and no function name defined twice across the files.
set -euo pipefail
root=${1:?source dir}
cd "$root/sql/functions"
bad=0 files=0
for f in *.sql; do
  files=$((files + 1))
  [[ $f =~ ^[0-9]+_[a-z0-9_]+\.sql$ ]] || { echo "sql/functions/$f: not named NN_area.sql" >&2; bad=1; }
  # Outside the dollar-quoted bodies, a line in column 0 starts a statement or continues a
  # function's header; comments do not count.
  if ! awk '
    /^--/ { next }
    body != "" { if (index($0, body) > 0) body = ""; next }
    /^[A-Za-z]/ && !/^(CREATE OR REPLACE FUNCTION |RETURNS |LANGUAGE )/ {
      print FILENAME ":" FNR ": " $0; bad = 1 }
    match($0, /\$[a-z_]*\$/) {
      tag = substr($0, RSTART, RLENGTH); rest = substr($0, RSTART + RLENGTH)
      if (index(rest, tag) == 0) body = tag }
    END { exit bad }' "$f" >&2; then
    echo "sql/functions/$f: only CREATE OR REPLACE FUNCTION belongs here (a table change, a DROP or a data move is a migration)" >&2
    bad=1
  fi
done
dups=$(grep -ho '^CREATE OR REPLACE FUNCTION [a-z0-9_]*' ./*.sql | sort | uniq -d)
[ -z "$dups" ] || { echo "defined more than once: ${dups//CREATE OR REPLACE FUNCTION /}" >&2; bad=1; }
n=$(grep -ho '^CREATE OR REPLACE FUNCTION [a-z0-9_]*' ./*.sql | wc -l)
[ "$files" -gt 0 ] && [ "$n" -gt 0 ] || { echo "no function files found" >&2; exit 1; }
[ "$bad" = 0 ] || exit 1
echo "sql/functions: $files files, $n functions, each defined once"
