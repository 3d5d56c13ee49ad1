#!/bin/bash
# Syncs each source of Argo CD's test/e2e/testdata with strake, as a user
# would: the source's files committed to a fresh git repository, a fresh
# `strake serve` (its own data directory, a free loopback port), an Argo CD
# Application on it (file:// repoURL, path ".", destination the local
# target, automated sync with prune), then a bounded wait for the sync.
# Prints one tab-separated line a source, then the counts:
#
#   OUTCOME  SOURCE  MESSAGE (first line)
#
# OUTCOME is one of
#   synced-healthy   the sync Succeeded, the app is Synced and Healthy
#   synced-degraded  the sync Succeeded, but at the deadline the app is not
#                    both Synced and Healthy (the message says which)
#   sync-failed      the sync operation ended Failed or Error
#   comparison-error no sync started; the app has an *Error condition
#                    (render or comparison failed)
#   empty            the source rendered no resources: the app is Synced and
#                    Healthy with nothing to sync (no sync operation starts)
#   refused          `strake apply` of the Application itself was refused
#   timeout          at the deadline a sync was still Running, or none had
#                    started and no error said why
#   no-server        strake serve did not start (not a verdict on the source)
#
#   scripts/argocd_testdata.sh ARGOCD_TESTDATA_DIR [STRAKE]
#
# ARGOCD_TESTDATA_DIR: argo-cd's test/e2e/testdata (e.g. extracted with
# `git archive HEAD test/e2e/testdata | tar -x`). STRAKE: the binary
# (default build/strake). Every subdirectory is a source (data.go is not).
# Environment:
#   TIMEOUT=20       seconds to wait for each source's sync
#   ONLY="a b"       only these sources
#   LAYOUT=per-source (default) one repository per source, path "." (so a
#                    kustomization's `../guestbook` leaves the repository);
#          whole     one repository holding all of testdata, path SOURCE, as
#                    Argo CD's own e2e tests lay it out
#   RESULTS_DIR=DIR  keep, per source, the final Application (.json), the
#                    `strake app get` screen (.txt) and the server log (.log)
#   KEEP=1           keep the scratch directory (repositories, data dirs)
# Needs git, jq, python3 (to find a free port) and timeout.
set -u
src=$(realpath "${1:?usage: $0 ARGOCD_TESTDATA_DIR [STRAKE]}")
strake=$(realpath "${2:-build/strake}")
# As measured (docs/gitops.md): workloads with this machine's programs (the
# servers reach nothing but files). STRAKE_RUN_ON_HOST= (empty): images.
export STRAKE_RUN_ON_HOST=${STRAKE_RUN_ON_HOST-**}
timeout_s=${TIMEOUT:-20}
layout=${LAYOUT:-per-source}
results=${RESULTS_DIR:-}
for tool in git jq python3 timeout; do
  command -v "$tool" >/dev/null || { echo "$0: needs $tool" >&2; exit 2; }
done
[ -x "$strake" ] || { echo "$0: $strake is not executable" >&2; exit 2; }
[ -n "$results" ] && mkdir -p "$results" && results=$(realpath "$results")
work=$(mktemp -d /tmp/argocd-testdata.XXXXXX)
server_pid=""

# Stops the server this script started (by its pid): SIGTERM, which with
# --stop-workloads also stops its router and workloads; SIGKILL after 10 s.
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "$0: strake serve (pid $server_pid) ignored SIGTERM; killing it" >&2
    kill -KILL "$server_pid" 2>/dev/null
  fi
  wait "$server_pid" 2>/dev/null
  server_pid=""
}
# Any process still running from the scratch directory (a router left by a
# killed server names its socket there) is ours: stop it by its pid.
stop_leftovers() {
  local p cmd
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    case "$cmd" in
      *"$work/"*) [ "${p#/proc/}" != "$$" ] && kill -TERM "${p#/proc/}" 2>/dev/null &&
        echo "$0: stopped leftover pid ${p#/proc/}: $cmd" >&2 ;;
    esac
  done
}
cleanup() {
  stop_server
  stop_leftovers
  if [ "${KEEP:-}" = 1 ]; then echo "$0: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
commit_dir() { # DIR: a repository of DIR's files, one commit on main
  git -C "$1" init -q -b main &&
    git -C "$1" add -A &&
    git -C "$1" -c user.name=survey -c user.email=survey@localhost -c commit.gpgsign=false \
      commit -q --allow-empty -m "testdata" >/dev/null
}
# An Application name from a directory name (".hidden-helm", "guestbook_local"
# and "cmp-fileName" are not valid names as they stand).
app_name() {
  local n
  n=$(printf '%s' "$1" | tr 'A-Z' 'a-z' | sed -e 's/[^a-z0-9-]/-/g' -e 's/^-*//' -e 's/-*$//')
  printf '%s' "${n:-unnamed}"
}

# The state of an Application (its JSON on stdin) as "STATE<TAB>MESSAGE",
# STATE one of pending, running, comparison-error, empty, sync-failed,
# synced-healthy, synced-degraded.
classify='
def line: tostring | split("\n") | map(select(test("\\S"))) | (.[0] // "");
def res: "\(.kind)/\(if .namespace then .namespace + "/" else "" end)\(.name)";
.status as $s
| ($s.conditions // []) as $c
| ($c | map(select(.type | test("Error$")))) as $errs
| ($errs | map("\(.type): \(.message | line)") | join("; ")) as $errtext
| $s.operationState as $op
| ($s.sync.status // "Unknown") as $sync
| ($s.health.status // "Unknown") as $health
| ($s.resources // []) as $rs
| if $op == null then
    if ($errs | length) > 0 then "comparison-error\t\($errtext)"
    elif $sync == "Synced" and ($rs | length) == 0 and $s.reconciledAt then
      "empty\trendered no resources (\($s.sourceType // "?") source): Synced and Healthy with nothing to sync"
    else "pending\tno sync started (sync \($sync), health \($health))" end
  elif $op.phase == "Running" or $op.phase == "Terminating" then
    "running\t\($op.message // "" | line)"
  elif $op.phase == "Failed" or $op.phase == "Error" then
    ([($op.syncResult.resources // [])[]
      | select(.status == "SyncFailed" or .hookPhase == "Failed" or .hookPhase == "Error")
      | "\(res): \(.message // "" | line)"] | first) as $bad
    | "sync-failed\t\($op.message // "" | line)\(if $bad then " [" + $bad + "]" else "" end)"
  elif $sync == "Synced" and $health == "Healthy" then
    "synced-healthy\t\($rs | length) resources\(if ($rs | length) > 0 then ": " + ([$rs[] | res] | join(", ")) else "" end)\(if $errtext != "" then " (" + $errtext + ")" else "" end)"
  else
    ([$rs[] | select((.health.status // "Healthy") != "Healthy" or .status != "Synced")
      | "\(res) \(.status)/\(.health.status // "-")\(if .health.message then ": " + (.health.message | line) else "" end)"]
     | first) as $bad
    | "synced-degraded\tsync \($sync), health \($health)\(if $s.health.message then ": " + ($s.health.message | line) else "" end)\(if $bad then " [" + $bad + "]" else "" end)\(if $errtext != "" then " (" + $errtext + ")" else "" end)"
  end'

# Syncs one source; prints its line.
run_one() {
  local name=$1 repo=$2 path=$3 app d port token state msg seen_err=0 deadline out
  app=$(app_name "$name")
  d="$work/run/$app"
  mkdir -p "$d/work"
  port=$(free_port)
  "$strake" --data-dir "$d/data" serve --listen "127.0.0.1:$port" --egress-allow file \
    --stop-workloads --work-dir "$d/work" >"$d/serve.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    grep -q '^strake: serving on' "$d/serve.log" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  token=$(grep -o 'strk_[A-Za-z0-9_-]*' "$d/serve.log" | head -1)
  if [ -z "$token" ] || ! grep -q '^strake: serving on' "$d/serve.log"; then
    printf 'no-server\t%s\t%s\n' "$name" "$(grep -v '^\s*$' "$d/serve.log" | tail -1 | cut -c1-300)"
    stop_server
    return
  fi
  export STRAKE_SERVER="http://127.0.0.1:$port" STRAKE_TOKEN="$token"
  cat >"$d/app.yaml" <<EOF
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: $app
spec:
  project: default
  source:
    repoURL: "file://$repo"
    targetRevision: HEAD
    path: "$path"
  destination:
    name: local
    namespace: default
  syncPolicy:
    automated:
      prune: true
EOF
  if ! out=$(timeout 30 "$strake" apply -f "$d/app.yaml" 2>&1); then
    state=refused
    msg=$(printf '%s\n' "$out" | grep -v '^\s*$' | head -1)
  else
    deadline=$((SECONDS + timeout_s))
    state=pending msg=""
    while :; do
      if out=$(timeout 10 "$strake" get application "$app" -o json 2>&1); then
        IFS=$'\t' read -r state msg < <(printf '%s' "$out" | jq -r "$classify" 2>&1)
        case $state in
          synced-healthy | sync-failed) break ;;
          comparison-error | empty) seen_err=$((seen_err + 1)); [ "$seen_err" -ge 3 ] && break ;;
          *) seen_err=0 ;;
        esac
      fi
      [ "$SECONDS" -ge "$deadline" ] && break
      sleep 0.5
    done
    case $state in
      pending | running) state=timeout; msg="after ${timeout_s}s: $msg" ;;
    esac
  fi
  if [ -n "$results" ]; then
    timeout 10 "$strake" get application "$app" -o json >"$results/$app.json" 2>&1
    timeout 10 "$strake" app get "$app" >"$results/$app.txt" 2>&1
  fi
  stop_server
  [ -n "$results" ] && sed "s/$token/<token>/" "$d/serve.log" >"$results/$app.log"
  printf '%s\t%s\t%s\n' "$state" "$name" "$(printf '%s' "$msg" | tr '\t\n' '  ' | cut -c1-400)"
  [ "${KEEP:-}" = 1 ] || rm -rf "$d"
}

mapfile -t sources < <(find "$src" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | LC_ALL=C sort)
if [ -n "${ONLY:-}" ]; then read -r -a sources <<<"$ONLY"; fi
if [ "$layout" = whole ]; then
  mkdir -p "$work/repos/testdata"
  cp -a "$src/." "$work/repos/testdata/"
  commit_dir "$work/repos/testdata" || { echo "$0: git commit failed" >&2; exit 1; }
fi
: >"$work/results"
for name in "${sources[@]}"; do
  [ -d "$src/$name" ] || { echo "$0: no source $name" >&2; continue; }
  # run_one runs in this shell (not a pipeline's subshell) so that the
  # EXIT trap knows the server it started.
  if [ "$layout" = whole ]; then
    run_one "$name" "$work/repos/testdata" "$name" >"$work/line"
  else
    mkdir -p "$work/repos/$name"
    cp -a "$src/$name/." "$work/repos/$name/"
    commit_dir "$work/repos/$name" || { echo "$0: git commit of $name failed" >&2; continue; }
    run_one "$name" "$work/repos/$name" . >"$work/line"
  fi
  tee -a "$work/results" <"$work/line"
done
echo "$(awk -F'\t' '$1 == "synced-healthy"' "$work/results" | wc -l) of $(wc -l <"$work/results") sources synced and Healthy;" \
  "$(cut -f1 "$work/results" | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "} END {print ""}')"
