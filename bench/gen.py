#!/usr/bin/env python3
"""Writes the benchmark workloads: a Tekton pipeline and the same graph as a ninja file.

  gen.py wide N DIR    N independent tasks of one trivial step
  gen.py chain N DIR   a chain of N tasks, each after the previous one
  gen.py cached N DIR  N independent tasks with a cache block
"""
import os
import sys

shape, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(out, exist_ok=True)

lines = [
    "apiVersion: tekton.dev/v1",
    "kind: PipelineRun",
    "metadata: {generateName: bench-}",
    "spec:",
    "  timeouts: {pipeline: 2h}",
    "  pipelineSpec:",
    "    tasks:",
]
for i in range(n):
    lines.append(f"      - name: t{i}")
    if shape == "chain" and i > 0:
        lines.append(f"        runAfter: [t{i - 1}]")
    if shape == "cached":
        # Each task differs, so each has its own cache key.
        lines.append(f"        taskSpec: {{cache: {{}}, steps: [{{script: \"echo t{i}\"}}]}}")
    else:
        lines.append("        taskSpec: {steps: [{script: \"true\"}]}")
with open(os.path.join(out, "pipeline.yaml"), "w") as f:
    f.write("\n".join(lines) + "\n")

# ninja: one edge per task running the same single command as strake's step
# (`true`: one process per edge, as strake's step is one), and an order-only
# chain for the chain shape. ninja records each edge's completion in
# .ninja_log, as strake records state. (Until 2026-12-03 the command was
# `true && touch $out`, two processes per edge, which flattered strake.)
ninja = ["rule step", "  command = true", ""]
for i in range(n):
    dep = f" || t{i - 1}.stamp" if shape == "chain" and i > 0 else ""
    ninja.append(f"build t{i}.stamp: step{dep}")
ninja.append("")
with open(os.path.join(out, "build.ninja"), "w") as f:
    f.write("\n".join(ninja))
