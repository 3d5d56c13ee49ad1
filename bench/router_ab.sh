#!/usr/bin/env bash
# Two builds of the embedded router against each other (issue 11):
#   bench/router_ab.sh OLD_ROUTER_SERVE NEW_ROUTER_SERVE
# Both serve the same 90/10 split of the same backends (router_compare.sh's
# nginx) at once, 2 workers each; wrk -t2 -c50 loads one, then the other, in
# rounds of DURATION seconds (ROUNDS each, the order swapped every round), so
# that whatever else runs on the machine weighs on both alike. Per round:
# requests/s and the router process's CPU time per request (user + system,
# from /proc), which depends less on the machine's load than throughput.
# Prints every round and the medians. Needs: nginx-light wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${1:?usage: bench/router_ab.sh OLD_ROUTER_SERVE NEW_ROUTER_SERVE}
NEW=${2:?usage: bench/router_ab.sh OLD_ROUTER_SERVE NEW_ROUTER_SERVE}
ROUNDS=${ROUNDS:-10}
DURATION=${DURATION:-5}
. bench/router_common.sh
bench_need nginx-light wrk
start_backends
PO=$(free_port); PN=$(free_port)
"$OLD" "$PO" "$A" 90 "$B" 10 2 >/dev/null 2>&1 & pids+=($!)
old_pid=$!
"$NEW" "$PN" "$A" 90 "$B" 10 2 >/dev/null 2>&1 & pids+=($!)
new_pid=$!
wait_http $A $B $PO $PN

tick=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# round NAME PID PORT: appends "requests_per_s cpu_us_per_request"
round() {
  local c0 c1 out
  c0=$(cpu_ticks "$2")
  out=$(wrk -t2 -c50 -d"${DURATION}s" "http://127.0.0.1:$3/" 2>&1)
  c1=$(cpu_ticks "$2")
  awk -v c=$((c1 - c0)) -v t="$tick" '/requests in/ {n = $1} /Requests\/sec/ {r = $2}
    END {printf "%s %.2f\n", r, c / t * 1e6 / n}' <<<"$out" | tee -a "$work/$1" | sed "s/^/$1 /"
}
for i in $(seq "$ROUNDS"); do
  if ((i % 2)); then
    round old "$old_pid" "$PO"; round new "$new_pid" "$PN"
  else
    round new "$new_pid" "$PN"; round old "$old_pid" "$PO"
  fi
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo
echo "| router_serve (90/10, wrk -t2 -c50, ${DURATION}s x $ROUNDS, alternating) | requests/s (median) | CPU per request (median) |"
echo "|---|---|---|"
for name in old new; do
  printf '| %s | %.0f | %.2f µs |\n' "$name" "$(cut -d' ' -f1 "$work/$name" | median)" \
    "$(cut -d' ' -f2 "$work/$name" | median)"
done
