#!/usr/bin/env bash
# The main job on embedded defaults: install what is missing, build, and run
# the sample multi-task pipeline with live progress.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
echo
exec ./build/strake run -f examples/hello-pipeline.yaml "$@"
