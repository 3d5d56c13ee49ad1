#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the end-to-end
# suites on the optimised build, everything on the AddressSanitizer +
# UndefinedBehaviorSanitizer build, the linters, and the fuzz targets over
# their corpus.
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
# The linters need only build/'s compile commands: they start now at the
# lowest priority, so they take the time the tests leave the cores idle and
# next to nothing from the sanitizer build.
lint_log=$(mktemp)
nice -n 19 scripts/lint.sh >"$lint_log" 2>&1 &
lint_pid=$!
# The fuzz targets (clang, build-fuzz/) run once over their committed corpus
# (seconds), a regression check; they too only take what the cores leave.
fuzz_log=$(mktemp)
nice -n 19 scripts/fuzz.sh --regression >"$fuzz_log" 2>&1 &
fuzz_pid=$!
trap 'kill "$lint_pid" "$fuzz_pid" 2>/dev/null || true; rm -f "$lint_log" "$fuzz_log"' EXIT
ctest --test-dir build --output-on-failure -j4
scripts/build.sh asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j3
lint_ok=0
wait "$lint_pid" || lint_ok=$?
cat "$lint_log"
fuzz_ok=0
wait "$fuzz_pid" || fuzz_ok=$?
cat "$fuzz_log"
if [ "$lint_ok" -ne 0 ]; then
  echo "test: the linters failed" >&2
  exit 1
fi
if [ "$fuzz_ok" -ne 0 ]; then
  echo "test: a fuzz target failed over its corpus" >&2
  exit 1
fi
# The README's first command, run twice, as a newcomer runs it: last, when
# no test holds a port (the example's router is on 8080) and the linters
# no longer read build/ (demo.sh builds it again).
scripts/demo_test.sh
echo "test: all passed in $(( $(date +%s) - start ))s"
