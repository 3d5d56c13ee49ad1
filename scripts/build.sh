#!/usr/bin/env bash
# Builds strake: build/ (-O2, no debug info, with benchmarks) or, with "asan",
# build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer, line tables only
# for the stack traces). Full debug info costs a third of the build time;
# configure your own build dir with -DCMAKE_BUILD_TYPE=RelWithDebInfo for gdb.
# With "fuzz", build-fuzz/: the libFuzzer targets of fuzz/ and only the
# libraries they link, with clang (libFuzzer is clang's), coverage, ASan and
# UBSan at -O1; scripts/fuzz.sh runs them.
# STRAKE_UNIT_TESTS=OFF leaves the modules' unit tests out of the release
# build (scripts/test.sh runs them in the sanitizer build).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
case "${1:-release}" in
  release)
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" -DSTRAKE_BENCH=ON \
      "-DSTRAKE_UNIT_TESTS=${STRAKE_UNIT_TESTS:-ON}" >/dev/null
    ninja -C build -j"$jobs"
    ;;
  asan)
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 \
      -DSTRAKE_SANITIZE=ON -DSTRAKE_BENCH=OFF >/dev/null
    ninja -C build-asan -j"$jobs"
    ;;
  fuzz)
    cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
      -DSTRAKE_FUZZ=ON -DSTRAKE_BENCH=OFF -DSTRAKE_UNIT_TESTS=OFF >/dev/null
    ninja -C build-fuzz -j"$jobs" fuzz
    ;;
  *) echo "usage: scripts/build.sh [release|asan|fuzz]" >&2; exit 2 ;;
esac
