#!/usr/bin/env bash
# Builds strake: build/ (optimised, with benchmarks) or, with "asan",
# build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
case "${1:-release}" in
  release)
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTRAKE_BENCH=ON >/dev/null
    ninja -C build -j"$jobs"
    ;;
  asan)
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSTRAKE_SANITIZE=ON \
      -DSTRAKE_BENCH=OFF >/dev/null
    ninja -C build-asan -j"$jobs"
    ;;
  *) echo "usage: scripts/build.sh [release|asan]" >&2; exit 2 ;;
esac
