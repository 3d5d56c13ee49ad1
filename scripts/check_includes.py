#!/usr/bin/env python3
"""Checks that each module of src/ uses only the modules ARCHITECTURE.md allows.

Every module is one directory under src/ and one static library (strake_<m>),
but all of them share one include path, so the compiler alone lets any file
include any header. This script is the rule that makes the table real:

  * every `#include "x/..."` in src/<m>/ (tests included) names m itself or a
    module (or, for partly open modules, a header) that ALLOWED lists for m;
  * every strake_<x> library that src/<m>/CMakeLists.txt names is allowed too
    (a module opened for some headers only may be linked: their types live
    in its library);
  * every directory under src/ is a module of the table.

Today's deviations are listed in EXCEPTIONS, each with why. The list may only
shrink: an exception that no longer matches anything is an error too, so the
fix that removes a deviation also removes its line here.

Usage: scripts/check_includes.py   (exit status 1 on any violation)
"""
import pathlib
import re
import sys

# module -> what it may use besides itself: a module name ("model") opens the
# whole module, a header path ("rollout/target.h") opens that header only.
# Transcribed from ARCHITECTURE.md "Modules (src/), lowest first"; delivery,
# insight and images do not exist yet.
LOWER_THAN_SERVER = ["base", "model", "store", "controller", "pipeline", "runtime", "router",
                     "rollout", "gitops", "delivery", "insight", "images", "targets"]
ALLOWED = {
    "base": [],
    "model": ["base"],
    "store": ["base", "model"],
    "controller": ["base", "model", "store"],
    "pipeline": ["base", "model", "store", "controller", "runtime"],
    "runtime": ["base"],
    "router": ["base"],
    "rollout": ["base", "model", "store", "controller"],
    "gitops": ["base", "model", "store", "controller"],
    # images: a Warehouse's image subscriptions read registries (images/ is
    # a leaf over base/; ARCHITECTURE.md's table predates them).
    "delivery": ["base", "model", "store", "controller", "gitops", "rollout", "images"],
    # rollout/expr.h: notification triggers are expr-lang, as analysis
    # conditions are (the evaluator is pure; it lives in rollout/ because
    # analysis came first).
    "insight": ["base", "model", "store", "controller", "rollout/expr.h"],
    "images": ["base"],
    # "rollout interfaces": the header rollout owns for its targets, not the
    # reconcilers (which would bring store/ and controller/ with them).
    "targets": ["base", "model", "runtime", "router", "rollout/target.h"],
    "server": LOWER_THAN_SERVER,
    # "model, an HTTP client; pipeline for run": the HTTP client and Result
    # live in base/, so base is allowed as for every other module. `run`'s
    # wiring of the engine is app/'s (app/run_commands), so cli no longer
    # needs pipeline, and may not take it back.
    "cli": ["base", "model"],
    "ui": [],  # TypeScript: the HTTP API only
    "app": LOWER_THAN_SERVER + ["server", "cli"],
}

# (file, module or header it uses) -> why it is allowed for now. Remove the
# line when the code is fixed; the check fails while a stale line remains.
EXCEPTIONS = {
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([A-Za-z0-9_]+)/([^"]+)"')
LINK = re.compile(r"\bstrake_([a-z]+)\b")


def allowed(module, target, header):
    """header is None for a link: then any rule naming the target will do."""
    rules = ALLOWED[module]
    if target == module or target in rules:
        return True
    if header is None:
        return any(r.startswith(target + "/") for r in rules)
    return f"{target}/{header}" in rules


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    errors, used = [], set()

    def check(path, line, module, target, header=None):
        if allowed(module, target, header):
            return
        for key in ((path, target), (path, f"{target}/{header}" if header else target)):
            if key in EXCEPTIONS:
                used.add(key)
                return
        if header is None:
            what = f"link strake_{target}"
        elif allowed(module, target, None):  # partly open: name the header
            what = f"include {target}/{header}"
        else:
            what = f"include {target}/"
        errors.append(f"{path}:{line}: {module} may not {what} "
                      f"(allowed: {', '.join(ALLOWED[module]) or 'nothing of ours'})")

    for moddir in sorted(p for p in (root / "src").iterdir() if p.is_dir()):
        module = moddir.name
        if module not in ALLOWED:
            errors.append(f"src/{module}/: not a module of the table; add it to ALLOWED in "
                          "scripts/check_includes.py")
            continue
        for f in sorted(moddir.rglob("*")):
            rel = f.relative_to(root).as_posix()
            if f.suffix in (".h", ".cc"):
                for n, text in enumerate(f.read_text().splitlines(), 1):
                    m = INCLUDE.match(text)
                    if m and m.group(1) in ALLOWED:  # not one of ours: a third-party header
                        check(rel, n, module, m.group(1), m.group(2))
            elif f.name == "CMakeLists.txt":
                for n, text in enumerate(f.read_text().splitlines(), 1):
                    for m in LINK.finditer(text.split("#", 1)[0]):
                        if m.group(1) in ALLOWED:  # strake_module, strake_test_target: not modules
                            check(rel, n, module, m.group(1))

    for key in sorted(set(EXCEPTIONS) - used):
        errors.append(f"{key[0]}: exception for {key[1]} is no longer needed; "
                      f"remove it from EXCEPTIONS in scripts/check_includes.py")
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
