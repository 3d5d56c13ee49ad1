#!/usr/bin/env bash
# The README's first command, tested as a newcomer runs it: scripts/demo.sh
# deploys the example and rolls out v2 as a canary, and run a second time
# it redeploys cleanly (issue 13 §3). Its own data directory and API port;
# the example's router port 8080 must be free. scripts/test.sh runs it
# after the optimised build's tests, when no other test holds a port.
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(mktemp -d /tmp/strake-demo-test.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  if [ -r "$data/demo-traffic.pid" ]; then kill "$(cat "$data/demo-traffic.pid")" 2>/dev/null || true; fi
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
  rm -rf "$data"
}
trap cleanup EXIT
if python3 -c 'import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(("127.0.0.1", 8080)) != 0)'; then
  echo "demo_test: port 8080 (the example's router) is taken by another program: free it" >&2
  exit 1
fi
export STRAKE_DATA_DIR=$data STRAKE_SERVER=http://127.0.0.1:$port STRAKE_UNIT_TESTS=OFF
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
  if ! grep -q "The service answers on http://127.0.0.1:8080 (.*v2" "$data/demo-$attempt.log"; then
    echo "demo_test: the $attempt run did not end with v2 answering:" >&2
    cat "$data/demo-$attempt.log" >&2
    exit 1
  fi
  echo "demo_test: the $attempt run of scripts/demo.sh passed in $(( $(date +%s) - start ))s"
done
grep -q "removing the earlier run's rollout" "$data/demo-second.log" || {
  echo "demo_test: the second run did not start over from the first's rollout" >&2
  exit 1
}
phase=$(STRAKE_TOKEN=$(cat "$data/admin.token") ./build/strake get rollout hello -o 'jsonpath={.status.phase}')
[ "$phase" = Healthy ] || { echo "demo_test: rollout hello is $phase, not Healthy" >&2; exit 1; }
echo "demo_test: passed"
