#!/usr/bin/env bash
# Every C source and header follows the checked-in .clang-format.
set -euo pipefail
root=${1:?source dir}
cd "$root"
command -v clang-format >/dev/null || { echo "clang-format is not installed" >&2; exit 1; }
mapfile -t files < <(find src tests fuzz bench -name '*.[ch]' -not -path '*/fixtures/*' | sort)
[ "${#files[@]}" -gt 50 ] || { echo "only ${#files[@]} C files found under $root" >&2; exit 1; }
clang-format --dry-run -Werror "${files[@]}"
echo "clang-format: ${#files[@]} files clean"
