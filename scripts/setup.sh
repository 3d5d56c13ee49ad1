#!/usr/bin/env bash
# Installs what strake needs to build and test, from Debian's packages.
# Idempotent: installs only what is missing. Run as root or with sudo.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config git
  libyaml-dev libsqlite3-dev sqlite3 libssl-dev libfmt-dev nlohmann-json3-dev
  libexpected-dev libcli11-dev libgit2-dev libjsonnet-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  bubblewrap busybox clang-format clang-tidy procps time bc ccache libre2-dev python3 prometheus curl openssl
  tzdata python3-dateutil  # time zones; dateutil is the reference the RRULE tests compare with
  libcurl4-openssl-dev docker-registry  # registry client (libcurl); a real OCI registry on loopback in tests
  libarchive-dev  # image layers: tar, gzip, zstd
  skopeo umoci  # bench/images.sh compares pulls with them
  clang libclang-rt-dev llvm  # the fuzz targets: libFuzzer, and llvm-symbolizer for their reports
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
