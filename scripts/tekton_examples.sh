#!/bin/bash
# Runs every file of Tekton's examples/v1 that Tekton's CI runs (all but
# no-ci/) with `strake run`, each in a fresh data directory, and prints one
# line a file: its exit status (0: the run ended Succeeded or Completed, as
# Tekton's CI expects), its path and the run's last line; then the count.
#
#   scripts/tekton_examples.sh PIPELINE_CHECKOUT [STRAKE]
#
# PIPELINE_CHECKOUT: a checkout of tektoncd/pipeline (docs/pipelines.md names
# the commit measured). STRAKE: the binary (default build/strake).
set -u
src=${1:?usage: $0 PIPELINE_CHECKOUT [STRAKE]}
strake=$(realpath "${2:-build/strake}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run_one() {
  local f=$1 d
  d=$(mktemp -d "$work/run.XXXX")
  out=$(cd "$d" && timeout 300 "$strake" --data-dir "$d/data" run -f "$f" 2>&1)
  rc=$?
  printf '%s\t%s\t%s\n' "$rc" "${f#"$src"/examples/v1/}" "$(echo "$out" | grep -v '^\s*$' | tail -1 | cut -c1-160)"
  rm -rf "$d"
}
# As measured (docs/pipelines.md): every step with this machine's programs
# and the well-known images' fallbacks. STRAKE_RUN_ON_HOST= (empty) runs
# each step in its image, pulled from its registry.
export STRAKE_RUN_ON_HOST=${STRAKE_RUN_ON_HOST-**}
export -f run_one
export src strake work
find "$src/examples/v1" -name '*.yaml' -not -path '*/no-ci/*' | sort |
  xargs -P "$(nproc)" -I{} bash -c 'run_one "$@"' _ {} | sort -k2 > "$work/results"
cat "$work/results"
echo "$(awk -F'\t' '$1 == 0' "$work/results" | wc -l) of $(wc -l < "$work/results") ran to Succeeded"
