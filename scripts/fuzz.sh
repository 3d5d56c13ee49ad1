#!/usr/bin/env bash
# Fuzzes strake's parsers with libFuzzer: the targets of fuzz/ (docs/security.md,
# "Fuzzing"), built by scripts/build.sh fuzz into build-fuzz/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     each target for SECONDS (default
#                                             3600), one after another
#   scripts/fuzz.sh --regression [TARGET...]  each target once over its committed
#                                             corpus (what scripts/test.sh runs)
#
# No target given: all of them. A fuzzing run keeps what it finds outside the
# repository, in $STRAKE_FUZZ_DIR (default ${TMPDIR:-/tmp}/strake-fuzz):
# corpus/<target>/ (new inputs, kept for the next run; the committed corpus is
# read, never written), artifacts/<target>/ (the input of a crash, timeout or
# out-of-memory) and logs/<target>.log. Each target's line of figures is
# printed at the end. The exit status is 1 if any target failed.
#
# Every run: -rss_limit_mb=2048, -timeout=10 (seconds per input, or
# $STRAKE_FUZZ_TIMEOUT; 60 for the regression check, which test.sh runs at
# nice 19 next to busy cores: the timer counts wall time, so a fuzzing run
# beside a build needs more), the target's dictionary fuzz/<target>.dict and
# its options fuzz/<target>.options (OSS-Fuzz's format: a [libfuzzer]
# section of `name = value` lines).
set -euo pipefail
cd "$(dirname "$0")/.."

regression=0
seconds=3600
if [ "${1:-}" = "--regression" ]; then
  regression=1
  shift
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && ls fuzz_*.cc | sed 's/\.cc$//')
fi
for t in "${targets[@]}"; do
  if [ ! -f "fuzz/$t.cc" ]; then
    echo "fuzz: no target $t (fuzz/$t.cc)" >&2
    exit 2
  fi
done

scripts/build.sh fuzz >/dev/null

# The target's flags: its options file, its dictionary, the common limits.
flags() {
  local t=$1 timeout=$2
  if [ -f "fuzz/$t.options" ]; then
    awk -F' *= *' '/^\[/ { in_lf = ($0 == "[libfuzzer]"); next }
                   in_lf && NF == 2 { printf "-%s=%s\n", $1, $2 }' "fuzz/$t.options"
  fi
  if [ -f "fuzz/$t.dict" ]; then echo "-dict=fuzz/$t.dict"; fi
  echo "-timeout=$timeout"
  echo "-rss_limit_mb=2048"
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ "$regression" -eq 1 ]; then
  # Every committed input once: files, not the directory, so that nothing is
  # written to it.
  failed=0
  for t in "${targets[@]}"; do
    mapfile -t args < <(flags "$t" 60)
    log=$(mktemp)
    if "build-fuzz/fuzz/$t" "${args[@]}" fuzz/corpus/"$t"/* >"$log" 2>&1; then
      echo "fuzz: $t: $(find "fuzz/corpus/$t" -type f | wc -l) inputs, no crash"
    else
      cat "$log"
      echo "fuzz: $t: FAILED over its committed corpus" >&2
      failed=1
    fi
    rm -f "$log"
  done
  exit "$failed"
fi

work=${STRAKE_FUZZ_DIR:-${TMPDIR:-/tmp}/strake-fuzz}
mkdir -p "$work/logs"
echo "fuzz: ${seconds}s per target; corpus, artifacts and logs in $work"
failed=0
summary=()
for t in "${targets[@]}"; do
  corpus="$work/corpus/$t"
  artifacts="$work/artifacts/$t"
  log="$work/logs/$t.log"
  mkdir -p "$corpus" "$artifacts"
  mapfile -t args < <(flags "$t" "${STRAKE_FUZZ_TIMEOUT:-10}")
  status=ok
  start=$(date +%s)
  # The work corpus first: libFuzzer writes new inputs to the first directory.
  if ! "build-fuzz/fuzz/$t" "${args[@]}" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus" "fuzz/corpus/$t" >"$log" 2>&1; then
    status="FAILED ($(grep -m1 -oE 'ERROR: [^(]*|SUMMARY: .*' "$log" || echo "exit status"))"
    failed=1
  fi
  took=$(($(date +%s) - start))
  figure() { grep -m1 "stat::$1:" "$log" | awk '{print $2}' || true; }
  files=$(find "$corpus" -type f | wc -l)
  kb=$(du -sk "$corpus" | cut -f1)
  summary+=("$(printf '%-15s %6ss %11s runs %7s exec/s %6s inputs %6s KB %5s MB rss  %s' \
    "$t" "$took" "$(figure number_of_executed_units)" "$(figure average_exec_per_sec)" \
    "$files" "$kb" "$(figure peak_rss_mb)" "$status")")
  echo "${summary[-1]}"
  if [ "$status" != ok ]; then
    echo "fuzz: $t: see $log; the input is in $artifacts/" >&2
  fi
done
echo "fuzz: summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
