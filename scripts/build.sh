#!/usr/bin/env bash
# Builds strake: build/ (-O2, no debug info, with benchmarks) or, with "asan",
# build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer, line tables only
# for the stack traces). Full debug info costs a third of the build time;
# configure your own build dir with -DCMAKE_BUILD_TYPE=RelWithDebInfo for gdb.
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
  *) echo "usage: scripts/build.sh [release|asan]" >&2; exit 2 ;;
esac
