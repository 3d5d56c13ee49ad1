#!/usr/bin/env bash
# strake against ninja on the same machine, in one run (issue 2's benchmark):
#   - 2,000 and 10,000 independent tasks of one trivial step (`true`),
#     --parallel 2 vs ninja -j2 running the same `true` per edge
#   - a chain of 1,000 tasks, same
#   - a fully cached re-run of a 1,000-task pipeline
#   - the bubblewrap sandbox's cost per task
# strake runs with its store on (every state change durable in SQLite) and the
# host executor, as ninja runs commands on the host. Each figure is the median
# of REPEAT runs (default 3), strake and ninja alternating. Prints Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
STRAKE=${STRAKE:-$PWD/build/strake}
REPEAT=${REPEAT:-3}
WIDE=${WIDE:-10000}
CHAIN=${CHAIN:-1000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# measure CMD...: prints "seconds maxrss_kb"
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
  cat "$work/time"
}

compare() {  # shape n
  local shape=$1 n=$2 dir="$work/$1"
  python3 bench/gen.py "$shape" "$n" "$dir"
  : > "$work/s"; : > "$work/n"
  # Every run gets fresh directories and nothing is deleted until the end:
  # ext4 avoids reusing recently deleted inodes, so deleting a previous run's
  # tens of thousands of files just before a run slows the next one down.
  for r in $(seq "$REPEAT"); do
    (cd "$dir" && measure "$STRAKE" --data-dir "$dir/data.$r" run -f pipeline.yaml --parallel 2 --no-sandbox) >> "$work/s"
    mkdir -p "$dir/ninja.$r" && cp "$dir/build.ninja" "$dir/ninja.$r/"
    (cd "$dir/ninja.$r" && measure ninja -j2) >> "$work/n"
  done
  local st sr nt nr
  st=$(cut -d' ' -f1 "$work/s" | median); sr=$(cut -d' ' -f2 "$work/s" | sort -n | tail -1)
  nt=$(cut -d' ' -f1 "$work/n" | median); nr=$(cut -d' ' -f2 "$work/n" | sort -n | tail -1)
  printf '| %s %s tasks | %.2f s | %.2f s | %.2fx | %d MB | %d MB |\n' "$shape" "$n" "$st" "$nt" \
    "$(echo "$st / $nt" | bc -l)" $((sr / 1024)) $((nr / 1024))
  # Nothing is deleted until the end, across shapes too: the next shape's
  # files would come from the same block groups as the ones just deleted,
  # and ext4 skips recently deleted inodes one by one (measured: the chain
  # shape took 3.2x ninja's time right after wide 10,000 was deleted, 2.2x
  # without).
}

echo "| workload (--parallel 2 / -j2) | strake | ninja | ratio | strake peak RSS | ninja peak RSS |"
echo "|---|---|---|---|---|---|"
compare wide 2000
compare wide "$WIDE"
compare chain "$CHAIN"

# A fully cached re-run.
dir="$work/cached"
python3 bench/gen.py cached 1000 "$dir"
(cd "$dir" && measure "$STRAKE" --data-dir "$dir/data" run -f pipeline.yaml --parallel 2 --no-sandbox) > "$work/first"
: > "$work/c"
for _ in $(seq "$REPEAT"); do
  (cd "$dir" && measure "$STRAKE" --data-dir "$dir/data" run -f pipeline.yaml --parallel 2 --no-sandbox) >> "$work/c"
done
printf '\n| cached re-run of 1,000 tasks | first run | re-run (median, whole command) |\n|---|---|---|\n'
printf '| --parallel 2 | %.2f s | %.2f s |\n' "$(cut -d' ' -f1 "$work/first")" "$(cut -d' ' -f1 "$work/c" | median)"

# The sandbox's cost per task: the same 300 tasks with and without it.
if command -v bwrap >/dev/null; then
  dir="$work/sandbox"
  python3 bench/gen.py wide 300 "$dir"
  : > "$work/h"; : > "$work/b"
  for r in $(seq "$REPEAT"); do
    (cd "$dir" && measure "$STRAKE" --data-dir "$dir/host.$r" run -f pipeline.yaml --parallel 2 --no-sandbox) >> "$work/h"
    (cd "$dir" && measure "$STRAKE" --data-dir "$dir/box.$r" run -f pipeline.yaml --parallel 2) >> "$work/b"
  done
  h=$(cut -d' ' -f1 "$work/h" | median); b=$(cut -d' ' -f1 "$work/b" | median)
  printf '\n| 300 one-step tasks, --parallel 2 | host | bubblewrap sandbox | sandbox cost per task (per slot) |\n|---|---|---|---|\n'
  printf '| wall time | %.2f s | %.2f s | %.1f ms |\n' "$h" "$b" "$(echo "($b - $h) * 2 * 1000 / 300" | bc -l)"
fi
