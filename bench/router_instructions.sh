#!/usr/bin/env bash
# The router's user-space instructions per request, under callgrind (issue
# 11): a count that does not depend on what else the machine runs, unlike
# requests/s, so that a change to the request path can be weighed on a busy
# machine.
#   bench/router_instructions.sh ROUTER_SERVE...
# Each router_serve splits 90/10 between router_compare.sh's nginx backends
# and serves N1, then N2 keep-alive GETs over 4 connections; per request is
# (Ir(N2) - Ir(N1)) / (N2 - N1), so start-up and shutdown cancel out. Only
# user space is counted: the system calls, most of the router's CPU time, are
# not. Needs: valgrind nginx-light.
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-2000}
N2=${N2:-12000}
(($# > 0)) || { echo "usage: bench/router_instructions.sh ROUTER_SERVE..." >&2; exit 2; }
. bench/router_common.sh
bench_need valgrind nginx-light
start_backends
cat > "$work/client.py" <<'PY'
import socket, sys, threading
port, n, conns = int(sys.argv[1]), int(sys.argv[2]), 4
req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
def run(k):
    s = socket.create_connection(("127.0.0.1", port))
    for _ in range(k):
        s.sendall(req)
        buf = b""
        while not buf.endswith(b"ok\n"):
            buf += s.recv(4096)
    s.close()
threads = [threading.Thread(target=run, args=(n // conns,)) for _ in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
PY

# instructions SERVE N: callgrind's total for a run that serves N requests
instructions() {
  local port pid
  port=$(free_port)
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" \
    "$1" "$port" "$A" 90 "$B" 10 2 >/dev/null 2>"$work/valgrind.err" &
  pid=$!
  wait_http "$port" -- 200 0.1
  python3 "$work/client.py" "$port" "$2"
  kill -INT "$pid"
  wait "$pid" || true
  awk '/^summary:/ {s += $2} END {print s}' "$work"/cg."$pid"*
  rm -f "$work"/cg."$pid"*
}
echo "| router_serve | instructions per request (user space) |"
echo "|---|---|"
for serve in "$@"; do
  a=$(instructions "$serve" "$N1")
  b=$(instructions "$serve" "$N2")
  echo "| $serve | $(((b - a) / (N2 - N1))) |"
done
