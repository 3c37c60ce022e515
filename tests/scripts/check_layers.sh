#!/usr/bin/env bash
# The layers of src/, lowest first. A module may include its own layer and those below it,
# by path ("base/err.h"), never a layer above it nor a bare name; app.c and main.c sit on top.
set -euo pipefail
root=${1:?source dir}
cd "$root/src"
layers=(base db report analysis store http api cli)
rank() { local i; for i in "${!layers[@]}"; do [ "${layers[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo 99; }
bad=0 checked=0
for dir in "${layers[@]}"; do
  mine=$(rank "$dir")
  for f in "$dir"/*.[ch]; do
    checked=$((checked + 1))
    while IFS= read -r inc; do
      layer=${inc%%/*}
      if [ "$layer" = "$inc" ]; then
        echo "$f: #include \"$inc\" names no layer" >&2; bad=1; continue
      fi
      if [ "$(rank "$layer")" -gt "$mine" ]; then
        echo "$f: #include \"$inc\" reaches up from $dir to $layer" >&2; bad=1
      fi
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
  done
done
[ "$checked" -gt 50 ] || { echo "only $checked modules found" >&2; exit 1; }
[ "$bad" = 0 ] || exit 1
echo "layers: $checked files, no include reaches up (${layers[*]})"
