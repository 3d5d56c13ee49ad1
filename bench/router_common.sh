# What the router benchmarks share (sourced by router_compare.sh,
# router_ab.sh and router_instructions.sh): Debian packages installed when
# missing, a work directory and the processes started in it (both gone on
# exit), free loopback ports, and the two nginx backends every proxy splits
# 90/10 between (ports $A and $B, a 3-byte body each).

# bench_need PACKAGE...: installs the Debian packages not installed yet.
bench_need() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
  done
}

work=$(mktemp -d)
pids=()
bench_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap bench_cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_http PORT... [-- TRIES DELAY]: until each port answers a GET (or the
# tries run out: the benchmark then reports the failures).
wait_http() {
  local ports=() tries=100 delay=0.05 port
  while (($#)); do
    if [ "$1" = "--" ]; then tries=$2 delay=$3; break; fi
    ports+=("$1"); shift
  done
  for port in "${ports[@]}"; do
    for _ in $(seq "$tries"); do
      curl -sf "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
      sleep "$delay"
    done
  done
}

# start_backends: one nginx worker serving "ok\n" on two free ports, $A and $B.
start_backends() {
  A=$(free_port); B=$(free_port)
  cat > "$work/backend.conf" <<CONF
daemon off; pid $work/backend.pid; error_log $work/backend.err warn;
worker_processes 1;
events { worker_connections 4096; }
http {
  access_log off; client_body_temp_path $work/b1; proxy_temp_path $work/b2;
  fastcgi_temp_path $work/b3; uwsgi_temp_path $work/b4; scgi_temp_path $work/b5;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$A; location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:$B; location / { return 200 "ok\n"; } }
}
CONF
  nginx -c "$work/backend.conf" & pids+=($!)
}
