#!/usr/bin/env python3
"""Keeps functions small: no function of src/ (tests aside) grows past the
thresholds of .clang-tidy (readability-function-size: 150 lines;
readability-function-cognitive-complexity: 80) unless it is listed in
scripts/function_size_exceptions.txt.

Why: STYLE.md asks for functions that fit a screen, drivers that are a
sequence of calls to pure, tested functions. Today's long functions are
listed, each with what should come out of it; a new one fails, and so does a
listed one that no longer offends, so the list only shrinks.

The list has one line per function: `path name reason...`. A name is the
function as written at its definition (`Engine::ReconcileRun`); a lambda is
named after the function that holds it and the variable it is stored in
(`Engine::ReconcileRun::create_children`, or `...::lambda`).

Usage:
  scripts/check_function_size.py               only the two size checks
  scripts/check_function_size.py --all-checks  every check of .clang-tidy in
      the same pass (what scripts/lint.sh runs): other diagnostics are
      printed and fail as clang-tidy says (WarningsAsErrors), the size
      warnings are compared with the list.
Needs build/compile_commands.json (cmake -S . -B build, configure only).

Results are cached outside the clone, as ccache caches the compiler's
($STRAKE_TIDY_CACHE, default ~/.cache/strake-tidy): a file's result is
reused when nothing clang-tidy reads has changed, which is its translation
unit as clang preprocesses it with comments kept (every header it includes,
and NOLINT comments), its compile command, .clang-tidy, the exception-free
mode and clang-tidy's version; the clone's path is normalised, so another
clone of the same commit hits. A file whose preprocessing fails is checked
afresh. STRAKE_TIDY_CACHE=off turns the cache off.
"""
import concurrent.futures
import hashlib
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXCEPTIONS = ROOT / "scripts" / "function_size_exceptions.txt"
SIZE_CHECKS = ("readability-function-size", "readability-function-cognitive-complexity")
DIAG = re.compile(r"^(/[^:]+):(\d+):(\d+): (warning|error): (.*?)(?: \[([\w.,-]+)\])?$")
ENCLOSING = re.compile(r"([A-Za-z_~][\w:~]*)\s*\(")


def cache_dir():
    setting = os.environ.get("STRAKE_TIDY_CACHE", "")
    if setting == "off":
        return None
    if setting:
        return pathlib.Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or str(pathlib.Path.home() / ".cache")
    return pathlib.Path(base) / "strake-tidy"


def normalised(data):
    return data.replace(str(ROOT).encode(), b"@ROOT@")


class Cache:
    """clang-tidy results by a digest of everything clang-tidy reads."""

    def __init__(self, all_checks):
        self.dir = cache_dir()
        self.hits = 0
        if self.dir is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        commands = json.loads((ROOT / "build" / "compile_commands.json").read_text())
        self.commands = {c["file"]: c for c in commands}
        version = subprocess.run(["clang-tidy", "--version"], capture_output=True).stdout
        config = (ROOT / ".clang-tidy").read_bytes()
        self.base = hashlib.sha256(b"\0".join(
            [b"strake-tidy-1", version, config, str(all_checks).encode()])).digest()

    def key(self, path):
        """The digest for one file, or None when it cannot be computed."""
        entry = self.commands.get(str(ROOT / path)) if self.dir else None
        if entry is None:
            return None
        args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
        flags, skip = [], False
        for a in args[1:]:
            if skip:
                skip = False
            elif a == "-o":
                skip = True
            elif a != "-c" and a != entry["file"]:
                flags.append(a)
        # clang's own view of the file (clang-tidy is clang): __clang__
        # branches of headers count, GCC's would not.
        cmd = ["clang++", *flags, "-Wno-unknown-warning-option", "-E", "-C", entry["file"]]
        p = subprocess.run(cmd, cwd=entry["directory"], capture_output=True)
        if p.returncode != 0:
            return None
        h = hashlib.sha256(self.base)
        h.update(normalised(" ".join(flags).encode()) + b"\0")
        h.update(normalised(p.stdout))
        return h.hexdigest()

    def get(self, key):
        f = self.dir / key if key else None
        if f is None or not f.exists():
            return None
        try:
            rc, out, err = json.loads(f.read_text())
        except (OSError, ValueError):
            return None
        os.utime(f)  # kept as long as it is used
        self.hits += 1
        root = str(ROOT)
        return rc, out.replace("@ROOT@", root), err.replace("@ROOT@", root)

    def put(self, key, result):
        if not key:
            return
        rc, out, err = result
        # A crash (clang-tidy reading a file being edited, say) is not the
        # file's verdict: the next run tries again.
        if rc not in (0, 1) or "Stack dump:" in err:
            return
        root = str(ROOT)
        text = json.dumps([rc, out.replace(root, "@ROOT@"), err.replace(root, "@ROOT@")])
        fd, tmp = tempfile.mkstemp(dir=self.dir)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, self.dir / key)

    def prune(self, days=30):
        """Drops results unused for `days`."""
        if self.dir is None:
            return
        old = time.time() - days * 86400
        for f in self.dir.iterdir():
            if f.stat().st_mtime < old:
                f.unlink(missing_ok=True)


def run_tidy(path, all_checks):
    cmd = ["clang-tidy", "-p", str(ROOT / "build"), "--quiet",
           "--extra-arg=-Wno-unknown-warning-option", path]
    if not all_checks:
        cmd.insert(1, "--checks=-*," + ",".join(SIZE_CHECKS))
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def tidy(path, all_checks, cache):
    """clang-tidy's diagnostics for one file: (exit status, stdout, stderr)."""
    key = cache.key(path) if cache.dir else None
    cached = cache.get(key)
    if cached is not None:
        return cached
    result = run_tidy(path, all_checks)
    cache.put(key, result)
    return result


def blocks(output):
    """Splits clang-tidy's output into diagnostics: (match, all their lines)."""
    out = []
    for line in output.splitlines():
        m = DIAG.match(line)
        if m:
            out.append((m, [line]))
        elif out:  # a note, or the source excerpt and caret
            out[-1][1].append(line)
    return out


def function_name(path, line, col, clang_name):
    """The name an exception uses: Class::Function, or Holder::var for a lambda."""
    lines = (ROOT / path).read_text().splitlines()
    text = lines[line - 1]
    if clang_name and clang_name != "operator()":
        m = re.search(r"([\w:~]*)$", text[:col - 1])  # the qualifier: "Engine::"
        return m.group(1) + clang_name
    var = re.search(r"(\w+)\s*=\s*$", text[:col - 1])  # auto create_children = [&]
    for head in reversed(lines[:line - 1]):  # the definition that holds it
        if head[:1].isalpha() and not head.startswith(("namespace", "using", "struct", "class")):
            m = ENCLOSING.search(head)
            if m:
                return f"{m.group(1)}::{var.group(1) if var else 'lambda'}"
    return f"lambda@{line}"


def main():
    all_checks = "--all-checks" in sys.argv[1:]
    if not (ROOT / "build" / "compile_commands.json").exists():
        sys.exit("check_function_size: no build/compile_commands.json; configure build/ first")
    os.nice(19)  # the lowest priority: it shares the cores with builds and tests
    sources = [s for s in subprocess.run(["git", "ls-files", "src/*.cc"], cwd=ROOT, check=True,
                                         capture_output=True, text=True).stdout.split()
               if not s.endswith("_test.cc")]
    failed, printed, offenders = False, set(), {}
    cache = Cache(all_checks)
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
        results = pool.map(lambda s: tidy(s, all_checks, cache), sources)
        for path, (rc, out, err) in zip(sources, results):
            if rc != 0:
                failed = True
                print(err, end="", file=sys.stderr)
            for m, text in blocks(out):
                rel = os.path.relpath(m.group(1), ROOT)
                if m.group(6) in SIZE_CHECKS:
                    named = re.match(r"function '([^']+)'", m.group(5))
                    name = function_name(rel, int(m.group(2)), int(m.group(3)),
                                         named.group(1) if named else None)
                    offenders.setdefault((rel, name), set()).add(
                        f"{rel}:{m.group(2)}: {name}: {m.group(5)} [{m.group(6)}]")
                elif "\n".join(text) not in printed:  # a header's warnings come once per file
                    printed.add("\n".join(text))
                    print("\n".join(text))

    listed = {}
    for n, line in enumerate(EXCEPTIONS.read_text().splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            path, name, *reason = line.split()
            if not reason:
                print(f"scripts/{EXCEPTIONS.name}:{n}: give a reason after the name",
                      file=sys.stderr)
                failed = True
            listed[(path, name)] = n
    for key in sorted(set(offenders) - set(listed)):
        failed = True
        for msg in sorted(offenders[key]):
            print(f"{msg}\n  split it (STYLE.md: drivers are a sequence of calls), "
                  f"or list it in scripts/{EXCEPTIONS.name}", file=sys.stderr)
    for key in sorted(set(listed) - set(offenders)):
        failed = True
        print(f"scripts/{EXCEPTIONS.name}:{listed[key]}: {key[0]} {key[1]} is within the "
              "thresholds now (or gone): remove its line", file=sys.stderr)
    cache.prune()
    print(f"check_function_size: {len(sources)} files ({cache.hits} results from the cache), "
          f"{len(offenders)} long functions ({len(listed)} listed), "
          f"{'FAILED' if failed else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
