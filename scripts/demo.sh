#!/usr/bin/env bash
# The main job on embedded defaults: install what is missing, build, start
# `strake serve`, then walk continuous delivery end to end on this machine
# (docs/delivery.md, examples/delivery/): a commit to a local git
# repository -> its Tekton pipeline tests it (line coverage) and packages it
# -> an Artifact with that evidence, and Freight -> dev (promoted by itself,
# verified) -> staging (after a soak, only with coverage >= 80%, verified)
# -> prod (asked for, approved by a second person, inside its promotion
# window) as a canary Rollout judged by the router's own metrics. Then a
# commit without tests is stopped at staging's gate, with the reason shown.
# The server keeps running afterwards; the script says where to look. Run it
# again: the next version goes through.
#   scripts/demo.sh             the delivery tour
#   scripts/demo.sh rollout     the canary tour alone (examples/rollout-canary.yaml)
#   scripts/demo.sh pipeline    the Tekton pipeline tour (strake run)
set -Eeuo pipefail
cd "$(dirname "$0")/.."
data=${STRAKE_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/strake}
# Whatever fails says what it was, and where the server's side of it is.
trap 'echo "demo.sh: failed (exit $?) at: $BASH_COMMAND; the server logs to $data/serve.log" >&2' ERR
scripts/setup.sh
scripts/build.sh release
echo
# The tours' images (alpine, python, the tour's own `app` and `hello`) run
# with this machine's programs: the tours reach nothing beyond this machine,
# so they run offline. Without --run-on-host each runs in its image, pulled
# from its registry (docs/images.md).
if [ "${1:-}" = pipeline ]; then
  exec ./build/strake run -f examples/hello-pipeline.yaml --run-on-host '**'
fi
export STRAKE_SERVER=${STRAKE_SERVER:-http://127.0.0.1:7300}
if ! curl -sf "$STRAKE_SERVER/healthz" >/dev/null 2>&1; then
  mkdir -p -m 0700 "$data"
  # Everything of the tour is on this machine: the GitOps tour's repository
  # is a file:// one, and a local Prometheus would be on loopback.
  nohup ./build/strake --data-dir "$data" serve --listen "${STRAKE_SERVER#http://}" \
    --egress-allow "${STRAKE_EGRESS_ALLOW:-loopback,file}" --run-on-host '**' \
    >"$data/serve.log" 2>&1 &
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

rollout_tour() {
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
}

strake() { ./build/strake "$@"; }
# `strake get ... -o json` read by a Python expression over `d`, printed
# ("" when it does not hold).
jget() {
  python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
    v = eval(sys.argv[1])
except Exception:
    v = ""
print("" if v is None else v)' "$1"
}
# Waits up to $1 seconds for the shell command $3 (evaluated each time,
# in the caller's variables) to succeed; $2 says what it waits for.
wait_for() {
  local limit=$1 what=$2 cond=$3
  echo "   waiting for $what"
  local end=$((SECONDS + limit))
  until eval "$cond"; do
    if [ "$SECONDS" -ge "$end" ]; then
      echo "demo.sh: gave up waiting for $what" >&2
      return 1
    fi
    sleep 1
  done
}

# The delivery tour's objects, read back.
ns=delivery
freight_of() { # commit -> "name alias" of the Freight built from it
  strake get freight -n "$ns" -o json | jget "next(f['metadata']['name'] + ' ' + f.get('alias', '')
    for f in d['items'] for a in f.get('artifacts', []) if a['metadata'].get('commit') == '$1')"
}
run_of() { # commit -> "name status" of its PipelineRun once it has ended
  strake get pipelineruns -n "$ns" -o json | jget "next(r['metadata']['name'] + ' ' + c['status']
    for r in d['items'] if r['metadata'].get('labels', {}).get('pipelinesascode.tekton.dev/sha') == '$1'
    for c in r.get('status', {}).get('conditions', []) if c['type'] == 'Succeeded' and c['status'] != 'Unknown')"
}
verified_in() { # freight stage
  [ -n "$(strake get freight "$1" -n "$ns" -o json | jget "d['status']['verifiedIn']['$2']")" ]
}
repo_main() { strake get repository app -n "$ns" -o jsonpath='{.status.branches.main}' 2>/dev/null; }
sign_off() { # promotion -> what its approval policy says it waits for
  strake get promotion "$1" -n "$ns" -o json |
    jget "d['status']['message'] if 'approval policy' in d['status']['message'] else ''"
}
phase_of() { strake get promotion "$1" -n "$ns" -o jsonpath='{.status.phase}' 2>/dev/null; }
coverage_of() { # freight name -> the coverage its Artifact's evidence says
  local art
  art=$(strake get freight "$1" -n "$ns" -o json | jget "d['artifacts'][0]['metadata']['artifact']")
  strake get artifact "$art" -n "$ns" -o json | jget "d['spec']['evidence']['test']['results']['COVERAGE']"
}

# Pushes the work tree as version $1 with message $2; prints the commit.
push_version() {
  echo "$1" >"$work/VERSION"
  git -C "$work" add -A
  git -C "$work" -c user.name="strake demo" -c user.email=demo@localhost commit -qm "$1: $2"
  git -C "$work" push -q origin HEAD:main
  git -C "$work" rev-parse HEAD
}

# From a pushed commit to its Freight: the run, its evidence, the Freight.
# Sets F (Freight name) and A (alias).
build_of() {
  local commit=$1 run
  wait_for 120 "the pipeline of ${commit:0:12} (test with coverage, then package)" \
    'test -n "$(run_of "$commit")"'
  run=$(run_of "$commit")
  echo "   PipelineRun ${run% *}: ${run#* }   (strake logs pipelinerun/${run% *} -n $ns)"
  [ "${run#* }" = True ] || { echo "demo.sh: the pipeline failed" >&2; return 1; }
  wait_for 60 "its Artifact and Freight" 'test -n "$(freight_of "$commit")"'
  read -r F A <<<"$(freight_of "$commit")"
  echo "   Freight $F ($A): coverage $(coverage_of "$F")% (strake get artifacts -n $ns)"
}

delivery_tour() {
  # Beside the data directory, not in it nor in /tmp: the sandboxed
  # replicas read the repository (they see neither).
  demo=${STRAKE_DEMO_DIR:-$(dirname "$data")/strake-demo}
  repo=$demo/app.git
  work=$demo/work
  local lead=$data/lead.token
  if [ ! -d "$repo" ]; then
    echo "== making the app's repository $repo: the app, its tests, its pipeline, its manifests"
    # Made aside and moved into place whole: a run stopped halfway leaves
    # no half-made repository behind for the next one.
    local made=$demo/app.git.new
    mkdir -p "$demo"
    rm -rf "$made" "$work"
    git init -q --bare -b main "$made"
    git clone -q "$made" "$work" 2>/dev/null
    cp -r examples/delivery/source/. "$work/"
    cp examples/app/server.py "$work/app/server.py"
    sed -i "s|/srv/strake-demo|$demo|g" "$work"/deploy/*/workload.yaml
    local v1
    v1=$(push_version v1 "the app, its tests, its pipeline, its manifests")
    # What runs today: v1, rendered into each environment's branch as a
    # Stage's promotion renders a commit (examples/delivery/kargo.yaml).
    for stage in dev staging prod; do
      local out=$demo/render-$stage
      rm -rf "$out"
      git init -q -b "env/$stage" "$out"
      cp "$work/deploy/$stage/"*.yaml "$out/"
      sed -i "s|{name: COMMIT, value: main}|{name: COMMIT, value: $v1}|" "$out/workload.yaml"
      git -C "$out" add -A
      git -C "$out" -c user.name="strake demo" -c user.email=demo@localhost commit -qm "$stage: $v1"
      git -C "$out" push -q "$made" "env/$stage"
      rm -rf "$out"
    done
    mv "$made" "$repo"
    git -C "$work" remote set-url origin "$repo"
  fi
  git -C "$work" pull -q --ff-only origin main
  echo "== applying examples/delivery/kargo.yaml: the Project and its gates, the pipeline's"
  echo "   Repository, a Warehouse of its artifacts, Stages dev, staging, prod and their Applications"
  sed "s|/srv/strake-demo|$demo|g" examples/delivery/kargo.yaml >"$demo/kargo.yaml"
  strake apply -f "$demo/kargo.yaml" | sed 's/^/   /'
  if [ ! -s "$lead" ]; then
    # The second person: a release lead, who may approve prod and do nothing else.
    (umask 077; strake token create --role viewer --user lead --claim groups=release-leads \
      --description "the delivery tour's release lead" | grep -o 'strk_[A-Za-z0-9_-]*' >"$lead")
  fi
  local main
  main=$(git -C "$work" rev-parse HEAD)
  wait_for 60 "the Repository to see main" 'test "$(repo_main)" = "$main"'

  # A good version, all the way to prod.
  cp examples/app/server.py "$work/app/server.py"
  local n next commit
  n=$(sed 's/^v//' "$work/VERSION")
  next=v$((n + 1))
  commit=$(push_version "$next" "answer as $next")
  echo "== pushed $next (${commit:0:12}) to main"
  build_of "$commit"
  local good=$F
  wait_for 120 "dev to take it by itself and verify it" 'verified_in "$good" dev'
  wait_for 120 "staging to take it (10 s in dev, coverage >= 80%) and verify it" \
    'verified_in "$good" staging'
  # An earlier run stopped before its sign-off left its Promotion first in line.
  for stale in $(strake get promotions -n "$ns" -o json | jget "' '.join(p['metadata']['name']
      for p in d['items'] if p['spec']['stage'] == 'prod'
      and p.get('status', {}).get('phase', 'Pending') in ('Pending', 'Running'))"); do
    strake abort promotion "$stale" -n "$ns" >/dev/null
  done
  echo "== asking for $next in prod (strake promote --stage prod --freight $A -n $ns)"
  local out="" promo
  wait_for 60 "it to have soaked 10 s in staging" \
    'out=$(strake promote --stage prod --freight "$good" -n "$ns" 2>&1)' || {
    echo "$out" >&2
    return 1
  }
  promo=$(sed -n 's|^promotion/\([^ ]*\) created.*|\1|p' <<<"$out")
  echo "   promotion/$promo"
  # What stands between the Freight and prod (strake describe stage prod).
  strake describe stage prod -n "$ns" | sed -n '/^Gates:/,/^Events:/p' | grep -v '^Events:' |
    sed 's/^/   /'
  wait_for 30 "it to wait for its sign-off" 'test -n "$(sign_off "$promo")"'
  echo "   $(sign_off "$promo")"
  echo "   whoever asked cannot sign it off: $(strake approve promotion "$promo" -n "$ns" 2>&1 |
    sed 's/^strake: //')"
  echo "== the release lead approves it:"
  echo "   STRAKE_TOKEN=\$(cat $lead) strake approve promotion $promo -n $ns --message 'ship it'"
  STRAKE_TOKEN=$(cat "$lead") strake approve promotion "$promo" -n "$ns" --message "ship it" | sed 's/^/   /'
  # Requests, so that the canary's analysis judges real ones.
  local traffic=$data/demo-delivery-traffic.pid
  if [ -r "$traffic" ] && grep -qs "127.0.0.1:8090" "/proc/$(cat "$traffic")/cmdline"; then
    kill "$(cat "$traffic")" 2>/dev/null || true
  fi
  nohup bash -c 'end=$((SECONDS + 1800)); while [ $SECONDS -lt $end ]; do
    curl -s -o /dev/null http://127.0.0.1:8090/; sleep 0.05; done' >/dev/null 2>&1 &
  echo $! >"$traffic"
  echo "== prod rolls it out as a canary: 20% -> analysis of the router's success rate -> 50% -> 100%"
  wait_for 120 "the Promotion to sync prod" 'test "$(phase_of "$promo")" = Succeeded'
  strake rollout status app -n prod --watch --timeout 3m | sed 's/^/   /'

  # A commit that adds a feature without tests: stopped at staging's gate.
  cat >>"$work/app/server.py" <<'PY'


def busiest(counts):
    """Which path got the most requests: a new feature, merged without tests."""
    total = sum(counts.values())
    if total == 0:
        return "no requests yet"
    worst = max(counts, key=counts.get)
    return f"{worst}: {counts[worst] * 100 // total}%"
PY
  local bad_version=v$((n + 2))
  commit=$(push_version "$bad_version" "a feature without tests")
  echo "== pushed $bad_version (${commit:0:12}): a feature without tests"
  build_of "$commit"
  local bad=$F
  wait_for 120 "dev to take it (dev has no coverage gate)" 'verified_in "$bad" dev'
  echo "== asking for $bad_version in staging (strake promote --stage staging --freight $A -n $ns)"
  wait_for 60 "it to have soaked 10 s in dev" \
    'out=$(strake promote --stage staging --freight "$bad" -n "$ns" 2>&1); grep -q criteria <<<"$out"' || {
    echo "$out" >&2
    return 1
  }
  echo "   refused: ${out#*: }"
  echo
  echo "prod answers on http://127.0.0.1:8090 ($(curl -s http://127.0.0.1:8090/)); dev on :8091, staging on :8092."
  echo "Look at it with:  ./build/strake get stages -n $ns       ./build/strake get freight -n $ns"
  echo "                  ./build/strake get promotions -n $ns   ./build/strake get artifacts -n $ns"
  echo "                  ./build/strake rollout status app -n prod   ./build/strake audit log"
  echo "The app's repository is $repo (work tree $work): push to main and it goes through again."
  echo "Traffic to prod keeps going for 30 minutes: kill $(cat "$traffic") stops it."
  echo "The server keeps running (API $STRAKE_SERVER). Its admin token: export STRAKE_TOKEN=\$(cat $data/admin.token)"
}

case "${1:-}" in
  rollout) rollout_tour ;;
  "") delivery_tour ;;
  *) echo "usage: scripts/demo.sh [rollout|pipeline]" >&2; exit 2 ;;
esac
