#!/usr/bin/env bash
# The module table (scripts/check_includes.py), clang-format (every file
# must already be formatted) and clang-tidy (on every source file of src/,
# with the compile commands of build/; the fuzz targets build with clang in
# build-fuzz/ only: `clang-tidy -p build-fuzz fuzz/*.cc` checks them). clang-tidy runs once per file through
# scripts/check_function_size.py: the checks of .clang-tidy fail as errors,
# and its function-size warnings are compared with the list of known long
# functions (scripts/function_size_exceptions.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/check_includes.py
echo "lint: includes and links follow the module table"
scripts/check_doc_links.py
echo "lint: README.md and docs/ link only to files of the repository"
mapfile -t files < <(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'bench/*.cc' 'fuzz/*.cc' 'fuzz/*.h')
clang-format --dry-run --Werror "${files[@]}"
echo "lint: clang-format clean (${#files[@]} files)"
scripts/check_function_size.py --all-checks
echo "lint: clang-tidy clean, long functions as listed"
