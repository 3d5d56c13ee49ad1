#!/usr/bin/env bash
# The README's first command, tested as a newcomer runs it: scripts/demo.sh
# walks the delivery tour (a commit through its pipeline, dev, staging and
# an approved canary in prod; a commit without tests stopped at staging's
# coverage gate), and run a second time it takes the next version through
# (issue 14 §5). Its own data directory, demo repository and API port; the
# tour's router ports 8090-8092 must be free. scripts/test.sh runs it after
# the optimised build's tests, when no other test holds a port.
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(mktemp -d /tmp/strake-demo-test.XXXXXX)
# Not in /tmp: the tour's sandboxed replicas read its repository.
mkdir -p build
demo=$(mktemp -d "$PWD/build/demo-test.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  for pid in "$data"/demo-*traffic.pid; do
    if [ -r "$pid" ]; then kill "$(cat "$pid")" 2>/dev/null || true; fi
  done
  pkill -f -- "--data-dir $data serve" 2>/dev/null || true
  # The replicas outlive a stopped server by design (the next start adopts
  # them): a test ends them itself. Each names the data directory.
  for _ in $(seq 50); do
    pgrep -f -- "--data-dir $data serve" >/dev/null || break
    sleep 0.1
  done
  for _ in $(seq 50); do
    pkill -KILL -f -- "$data" 2>/dev/null || break
    sleep 0.1
  done
  rm -rf "$data" "$demo"
}
trap cleanup EXIT
for p in 8090 8091 8092; do
  if python3 -c 'import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(("127.0.0.1", int(sys.argv[1]))) != 0)' "$p"; then
    echo "demo_test: port $p (the tour's router) is taken by another program: free it" >&2
    exit 1
  fi
done
export STRAKE_DATA_DIR=$data STRAKE_DEMO_DIR=$demo STRAKE_SERVER=http://127.0.0.1:$port STRAKE_UNIT_TESTS=OFF
unset STRAKE_TOKEN
for attempt in first second; do
  start=$(date +%s)
  if ! scripts/demo.sh >"$data/demo-$attempt.log" 2>&1; then
    echo "demo_test: the $attempt run of scripts/demo.sh failed:" >&2
    cat "$data/demo-$attempt.log" >&2
    echo "--- serve.log" >&2
    tail -50 "$data/serve.log" >&2
    exit 1
  fi
  version=$([ "$attempt" = first ] && echo v2 || echo v4)
  if ! grep -q "prod answers on http://127.0.0.1:8090 (hello from $version" "$data/demo-$attempt.log"; then
    echo "demo_test: the $attempt run did not end with $version answering in prod:" >&2
    cat "$data/demo-$attempt.log" >&2
    exit 1
  fi
  if ! grep -q "refused: .*criteria coverage: [0-9.]* < 80 (PipelineRun build-" "$data/demo-$attempt.log"; then
    echo "demo_test: the $attempt run did not show the commit without tests refused at staging:" >&2
    cat "$data/demo-$attempt.log" >&2
    exit 1
  fi
  if ! grep -q "whoever asked cannot sign it off: .*approval policy counts people" "$data/demo-$attempt.log"; then
    echo "demo_test: the $attempt run did not show the one who asked refused:" >&2
    cat "$data/demo-$attempt.log" >&2
    exit 1
  fi
  if ! grep -q "Promotion Window:   open; closes .*T03:00:00Z" "$data/demo-$attempt.log" ||
    ! grep -q "Approval Policy:    prod-sign-off (ProjectConfig " "$data/demo-$attempt.log"; then
    echo "demo_test: the $attempt run did not show prod's gates (its nightly window, its sign-off):" >&2
    cat "$data/demo-$attempt.log" >&2
    exit 1
  fi
  echo "demo_test: the $attempt run of scripts/demo.sh passed in $(( $(date +%s) - start ))s"
done
phase=$(STRAKE_TOKEN=$(cat "$data/admin.token") ./build/strake get rollout app -n prod -o 'jsonpath={.status.phase}')
[ "$phase" = Healthy ] || { echo "demo_test: rollout app in prod is $phase, not Healthy" >&2; exit 1; }
grep -q "exact (router)" "$data/demo-first.log" || {
  echo "demo_test: the prod canary's weights were not the router's exact ones" >&2
  exit 1
}
echo "demo_test: passed"
