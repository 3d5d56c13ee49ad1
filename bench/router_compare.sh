#!/usr/bin/env bash
# The embedded router against HAProxy and nginx, in one run (issue 3):
# each proxy splits 90/10 between two backends on loopback; wrk with 2
# threads and 50 connections drives it for DURATION seconds; REPEAT rounds,
# proxies alternating, medians reported. The backends are one nginx serving a
# 3-byte body on two ports, the same for every proxy. Each proxy gets 2
# threads/workers and keep-alive to the backends. Prints Markdown.
# Needs: haproxy nginx-light wrk (Debian packages; installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
SERVE=${SERVE:-$PWD/build/bench/router_serve}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-10}
. bench/router_common.sh
bench_need haproxy nginx-light wrk
start_backends
PS=$(free_port); PH=$(free_port); PN=$(free_port)

nginx_common="daemon off; pid $work/%s.pid; error_log $work/%s.err warn;"
cat > "$work/proxy.conf" <<CONF
$(printf "$nginx_common" proxy proxy)
worker_processes 2;
events { worker_connections 4096; }
http {
  access_log off; client_body_temp_path $work/p1; proxy_temp_path $work/p2;
  fastcgi_temp_path $work/p3; uwsgi_temp_path $work/p4; scgi_temp_path $work/p5;
  keepalive_requests 1000000;
  upstream app { server 127.0.0.1:$A weight=90; server 127.0.0.1:$B weight=10; keepalive 128; }
  server {
    listen 127.0.0.1:$PN;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
cat > "$work/haproxy.cfg" <<CONF
global
  nbthread 2
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend f
  bind 127.0.0.1:$PH
  default_backend app
backend app
  balance roundrobin
  server s1 127.0.0.1:$A weight 90
  server s2 127.0.0.1:$B weight 10
CONF

nginx -c "$work/proxy.conf" & pids+=($!)
haproxy -f "$work/haproxy.cfg" -db & pids+=($!)
"$SERVE" "$PS" "$A" 90 "$B" 10 2 >"$work/strake.out" 2>"$work/strake.err" & pids+=($!)
wait_http $A $B $PS $PH $PN

# run NAME PORT: appends "requests_per_s p99_ms non2xx_or_errors"
run() {
  local out
  out=$(wrk -t2 -c50 -d"${DURATION}s" --latency "http://127.0.0.1:$2/" 2>&1)
  local rps p99 bad
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}' <<<"$out")
  bad=$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {for (i=1;i<=NF;i++) if ($i ~ /^[0-9]+,?$/) {gsub(",","",$i); n+=$i}} END {print n+0}' <<<"$out")
  echo "$rps $p99 $bad" >> "$work/$1"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for _ in $(seq "$REPEAT"); do
  run strake "$PS"; run haproxy "$PH"; run nginx "$PN"
done
echo "| proxy (90/10, wrk -t2 -c50, ${DURATION}s x $REPEAT) | requests/s (median) | p99 latency (median) | failed requests |"
echo "|---|---|---|---|"
for name in strake haproxy nginx; do
  printf '| %s | %.0f | %.2f ms | %d |\n' "$name" "$(cut -d' ' -f1 "$work/$name" | median)" \
    "$(cut -d' ' -f2 "$work/$name" | median)" "$(awk '{n+=$3} END {print n}' "$work/$name")"
done
kill -INT "${pids[3]}" 2>/dev/null || true
sleep 0.3
grep 'requests_total.*2xx' "$work/strake.err" | sed 's/^/    /' || true
