#!/usr/bin/env python3
"""The README and docs/ link only inside the repository (issue 13 §3): every
Markdown link in README.md and docs/*.md is a relative path to a file or
directory of the repository (an optional #anchor after it), never a URL or
a path that leaves it. Prints each bad link as FILE:LINE: and exits 1."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# [text](target) and [text](target "title"); images too. Code spans are
# stripped first, so that `a](b)` in an example is no link.
LINK = re.compile(r"\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
# [label]: target, a reference-style link's definition; <scheme:...>, an autolink.
DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?")
AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^>\s]*)>")
CODE = re.compile(r"`[^`]*`")


def bad_links(path: pathlib.Path):
    in_fence = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        text = CODE.sub("", line)
        targets = LINK.findall(text) + DEFINITION.findall(text) + AUTOLINK.findall(text)
        for target in targets:
            if target.startswith("#"):
                continue
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
                yield number, target, "links outside the repository"
                continue
            file_part = target.split("#", 1)[0]
            resolved = (path.parent / file_part).resolve()
            if ROOT not in resolved.parents and resolved != ROOT:
                yield number, target, "leaves the repository"
            elif not resolved.exists():
                yield number, target, "names no file of the repository"


def main() -> int:
    files = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
    failed = False
    for f in files:
        for number, target, why in bad_links(f):
            print(f"{f.relative_to(ROOT)}:{number}: ({target}) {why}")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
