#!/usr/bin/env bash
# Progressive delivery under load (issue 3), through the real binary:
#   1. zero failed requests while a canary walks all its steps (wrk -t2 -c50
#      on the service port for the whole rollout, --timeout 10s: the example
#      app is a small Python server that answers slowly at 50 connections,
#      and a slow answer is not a failed one);
#   2. zero failed requests while a canary at 50% is aborted under load;
#   3. abort latency: from the API call until every request goes to stable
#      (bench/abort_latency, TRIALS trials);
#   4. zero failed requests while `strake serve` is killed -9 and started
#      again (the router is a process of its own and is adopted).
# The workload is examples/app/server.py (2 replicas per revision).
set -euo pipefail
cd "$(dirname "$0")/.."
STRAKE=${STRAKE:-$PWD/build/strake}
ABORT=${ABORT:-$PWD/build/bench/abort_latency}
TRIALS=${TRIALS:-20}
work=$(mktemp -d)
serve_pid=""
cleanup() { [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null; [ -n "${KEEP:-}" ] && cp -r "$work" "$KEEP"; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API=$(free_port); SVC=$(free_port)
export STRAKE_SERVER=http://127.0.0.1:$API
"$STRAKE" --data-dir "$work/data" serve --listen "127.0.0.1:$API" --stop-workloads >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do curl -sf "$STRAKE_SERVER/healthz" >/dev/null && break; sleep 0.05; done
# The first start prints the admin token once.
STRAKE_TOKEN=$(grep -o 'strk_[A-Za-z0-9_-]*' "$work/serve.log" | head -1)
export STRAKE_TOKEN

manifest() {  # VERSION STEPS
  cat <<YAML
apiVersion: v1
kind: Service
metadata: {name: bench}
spec:
  ports: [{port: $SVC, targetPort: http}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: bench}
spec:
  replicas: 2
  selector: {matchLabels: {app: bench}}
  template:
    metadata: {labels: {app: bench}}
    spec:
      containers:
      - name: app
        command: [python3, "$PWD/examples/app/server.py"]
        env: [{name: VERSION, value: "$1"}]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1}
  strategy:
    canary:
      stableService: bench
      steps:
$2
YAML
}
walk='      - {setWeight: 10}
      - {pause: {duration: 2s}}
      - {setWeight: 25}
      - {pause: {duration: 2s}}
      - {setWeight: 50}
      - {pause: {duration: 2s}}
      - {setWeight: 75}
      - {pause: {duration: 2s}}'
hold='      - {setWeight: 50}
      - {pause: {}}'
wrk_failures() { awk '/Non-2xx/ {n+=$NF} /Socket errors/ {for (i=1;i<=NF;i++) if ($i ~ /^[0-9]+,?$/) {gsub(",","",$i); n+=$i}} END {print n+0}' "$1"; }
wrk_total() { awk '/requests in/ {print $1}' "$1"; }

manifest v1 "$walk" > "$work/v1.yaml"; "$STRAKE" apply -f "$work/v1.yaml" >/dev/null
"$STRAKE" rollout status bench --watch >/dev/null
manifest v2 "$walk" > "$work/v2.yaml"
wrk -t2 -c50 -d60s --timeout 10s "http://127.0.0.1:$SVC/" > "$work/wrk1" 2>&1 &
wrk_pid=$!
sleep 1
start=$(date +%s.%N)
"$STRAKE" apply -f "$work/v2.yaml" >/dev/null
"$STRAKE" rollout status bench --watch >/dev/null
took=$(echo "$(date +%s.%N) - $start" | bc)
sleep 1; kill -INT $wrk_pid; wait $wrk_pid || true
printf '| a canary walks 10/25/50/75/100%% (8 steps, %.1f s) under wrk -t2 -c50 | %s requests | %s failed |\n' \
  "$took" "$(wrk_total "$work/wrk1")" "$(wrk_failures "$work/wrk1")"

manifest v3 "$hold" > "$work/v3.yaml"; "$STRAKE" apply -f "$work/v3.yaml" >/dev/null
for _ in $(seq 200); do "$STRAKE" get rollout bench | grep -q Paused && break; sleep 0.1; done
wrk -t2 -c50 -d6s --timeout 10s "http://127.0.0.1:$SVC/" > "$work/wrk2" 2>&1 &
wrk_pid=$!
sleep 2; "$STRAKE" rollout abort bench >/dev/null; wait $wrk_pid || true
printf '| a canary at 50%% aborted under wrk -t2 -c50 | %s requests | %s failed |\n' \
  "$(wrk_total "$work/wrk2")" "$(wrk_failures "$work/wrk2")"
grep -E "Socket errors|Non-2xx|Latency" "$work/wrk1" "$work/wrk2" >&2 || true
"$STRAKE" rollout retry bench >/dev/null
echo
"$ABORT" "$STRAKE_SERVER" "$SVC" bench "$TRIALS" "from v3"

echo
wrk -t2 -c50 -d8s --timeout 10s "http://127.0.0.1:$SVC/" > "$work/wrk3" 2>&1 &
wrk_pid=$!
sleep 2
kill -9 "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
down=$(date +%s.%N)
sleep 1
"$STRAKE" --data-dir "$work/data" serve --listen "127.0.0.1:$API" --stop-workloads >>"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 200); do curl -sf "$STRAKE_SERVER/healthz" >/dev/null && break; sleep 0.01; done
up=$(echo "$(date +%s.%N) - $down" | bc)
wait $wrk_pid || true
printf '| kill -9 of strake serve, %.2f s without it, restarted, under wrk -t2 -c50 | %s requests | %s failed |\n' \
  "$up" "$(wrk_total "$work/wrk3")" "$(wrk_failures "$work/wrk3")"
