#!/usr/bin/env bash
# The main job on embedded defaults: install what is missing, build, start
# `strake serve`, deploy the example service (examples/rollout-canary.yaml,
# two replicas of v1 behind the embedded router on 127.0.0.1:8080), then roll
# out v2 as a canary whose steps, weights and analysis show live. The server
# keeps running afterwards; the script says where to look.
#   scripts/demo.sh             the rollout tour
#   scripts/demo.sh pipeline    the Tekton pipeline tour (strake run) instead
set -euo pipefail
cd "$(dirname "$0")/.."
data=${STRAKE_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/strake}
# Whatever fails says what it was, and where the server's side of it is.
trap 'echo "demo.sh: failed (exit $?) at: $BASH_COMMAND; the server logs to $data/serve.log" >&2' ERR
scripts/setup.sh
scripts/build.sh release
echo
if [ "${1:-}" = pipeline ]; then
  exec ./build/strake run -f examples/hello-pipeline.yaml
fi
export STRAKE_SERVER=${STRAKE_SERVER:-http://127.0.0.1:7300}
if ! curl -sf "$STRAKE_SERVER/healthz" >/dev/null 2>&1; then
  mkdir -p -m 0700 "$data"
  # Everything of the tour is on this machine: the GitOps tour's repository
  # is a file:// one, and a local Prometheus would be on loopback.
  nohup ./build/strake --data-dir "$data" serve --listen "${STRAKE_SERVER#http://}" \
    --egress-allow "${STRAKE_EGRESS_ALLOW:-loopback,file}" >"$data/serve.log" 2>&1 &
  echo "strake serve started (pid $!, log $data/serve.log)"
  for _ in $(seq 100); do curl -sf "$STRAKE_SERVER/healthz" >/dev/null && break; sleep 0.05; done
  # The first start of a data directory prints its admin token once: the
  # demo keeps it in a file only you can read, and out of the log.
  token=$(grep -o 'strk_[A-Za-z0-9_-]*' "$data/serve.log" | head -1 || true)
  if [ -n "$token" ]; then
    (umask 077; printf '%s\n' "$token" >"$data/admin.token")
    sed -i "s/$token/<saved in $(basename "$data")\/admin.token>/" "$data/serve.log"
  fi
fi
if [ -z "${STRAKE_TOKEN:-}" ] && [ -r "$data/admin.token" ]; then
  STRAKE_TOKEN=$(cat "$data/admin.token")
fi
export STRAKE_TOKEN=${STRAKE_TOKEN:-}
# A second run starts over: the earlier run's traffic and rollout go first
# (applying v1 over a v2 would be a canary of v1, not a fresh deployment).
traffic_pid="$data/demo-traffic.pid"
if [ -r "$traffic_pid" ]; then
  # Only if it is still the demo's loop (a pid is reused after a reboot).
  pid=$(cat "$traffic_pid")
  if grep -qs "127.0.0.1:8080" "/proc/$pid/cmdline"; then kill "$pid" 2>/dev/null || true; fi
  rm -f "$traffic_pid"
fi
if ./build/strake get rollout hello -o name >/dev/null 2>&1; then
  echo "== removing the earlier run's rollout"
  ./build/strake delete rollout hello
  for _ in $(seq 200); do ./build/strake get rollout hello -o name >/dev/null 2>&1 || break; sleep 0.05; done
fi
echo "== deploying v1: examples/rollout-canary.yaml"
./build/strake apply -f examples/rollout-canary.yaml
./build/strake rollout status hello --watch --timeout 2m >/dev/null
echo "   $(curl -s http://127.0.0.1:8080/)"
# Traffic, 20 requests a second for 30 minutes, so that every analysis of the
# tour judges real requests: v2 passes on its answers, and the bad version
# you may apply next is caught by its 500s, not by a lack of requests.
nohup bash -c 'end=$((SECONDS + 1800)); while [ $SECONDS -lt $end ]; do
  curl -s -o /dev/null http://127.0.0.1:8080/; sleep 0.05; done' >/dev/null 2>&1 &
echo $! >"$traffic_pid"
echo "== rolling out v2 as a canary: 20% -> pause -> analysis of the router's own metrics -> 50% -> 100%"
./build/strake apply -f examples/rollout-canary-v2.yaml
./build/strake rollout status hello --watch --timeout 3m
echo
echo "The service answers on http://127.0.0.1:8080 ($(curl -s http://127.0.0.1:8080/))."
echo "Look at it with:  ./build/strake rollout status hello   ./build/strake describe rollout hello"
echo "                  ./build/strake get analysisruns        ./build/strake logs rollout/hello"
echo "A bad version is caught and rolled back by itself:  ./build/strake apply -f examples/rollout-canary-bad.yaml"
echo "Traffic keeps going for 30 minutes so that analyses have requests to judge: kill $(cat "$traffic_pid") stops it."
echo "The server keeps running (API $STRAKE_SERVER, metrics at $STRAKE_SERVER/metrics)."
echo "Its admin token is in $data/admin.token:  export STRAKE_TOKEN=\$(cat $data/admin.token)"
