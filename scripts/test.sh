#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the optimised build,
# the AddressSanitizer + UndefinedBehaviorSanitizer build, and the linters.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
start=$(date +%s)
scripts/build.sh release
ctest --test-dir build --output-on-failure -j2
scripts/build.sh asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j2
scripts/lint.sh
echo "test: all passed in $(( $(date +%s) - start ))s"
