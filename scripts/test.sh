#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the end-to-end
# suites on the optimised build, everything on the AddressSanitizer +
# UndefinedBehaviorSanitizer build, and the linters.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
start=$(date +%s)
# The optimised build runs the end-to-end suites against the binary users
# get; every test, unit and end-to-end, runs in the sanitizer build.
# More tests than cores at once: an end-to-end test mostly waits on the
# server it started (measured: a quarter of two cores busy in the optimised
# build, four fifths under the sanitizers at -j3).
STRAKE_UNIT_TESTS=OFF scripts/build.sh release
ctest --test-dir build --output-on-failure -j4
scripts/build.sh asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j3
scripts/lint.sh
echo "test: all passed in $(( $(date +%s) - start ))s"
