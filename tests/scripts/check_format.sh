#!/usr/bin/env bash
# Every C source and header follows the checked-in .clang-format.
set -euo pipefail
root=${1:?source dir}
cd "$root"
command -v clang-format >/dev/null || { echo "clang-format is not installed" >&2; exit 1; }
files=$(ls src/*.c src/*.h tests/support/*.c tests/support/*.h tests/unit/*.c tests/unit/*.h \
  tests/integration/*.c 2>/dev/null)
clang-format --dry-run -Werror $files
echo "clang-format: $(echo "$files" | wc -w) files clean"
