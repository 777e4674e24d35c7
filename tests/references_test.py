#!/usr/bin/env python3
"""references_test.py: every file the project names exists.

Purpose: a comment that says "see" a test file, or a lesson that links a
section of another lesson, sends its reader nowhere the day that file is
renamed. This test reads every tracked text file (code, tests,
docs, scripts, build files) and fails on each reference to a project file
that does not exist, naming where the reference is.

What counts as a reference:
  - a Markdown link or image target, [text](TARGET) or ![alt](TARGET), that is
    not a URL or an anchor alone; it is resolved from the linking file's
    folder, as a browser resolves it;
  - a path with a folder, such as stage3-duplex/duplex.cpp, common/fd.hpp or
    docs/lab.md, whose first folder is one of the repository's own; it is
    resolved from the repository's root, or else from the naming file's
    folder (tests/support/ names support/process.hpp from tests/);
  - a bare file name with a project extension, such as design.md or
    chat_peers.hpp: some tracked file must have that name.
Paths under folders the project makes but never commits (bin/, build*/,
exercises/), placeholders (stageN-NAME/, docs/STAGE.md, a.cpp, docs/...md)
and names in quotes or after a redirection (a file a command writes) are
not references.

Usage: tests/references_test.py [SOURCE_DIR]   (ctest -L docs)
Exit 0 when every reference resolves, 1 with a line per broken one.
"""

import re
import subprocess
import sys
from pathlib import Path

EXTENSIONS = "cpp|hpp|md|sh|py|txt|cmake|gnu|svg|png|conf|json|html|js|css"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
PATH = re.compile(r"(?<![\w./$}-])((?:[\w.-]+/)+[\w.-]+\.(?:" + EXTENSIONS + r"))(?![\w/])")
BARE = re.compile(r"(?<![\w./$}*@'\">-])([\w-]+(?:\.[\w-]+)*\.(?:md|cpp|hpp|sh|py))(?![\w/(-])")
NOT_OURS = ("bin/", "build", "exercises/", "/", "~", "../shared/")
TEXT_SUFFIXES = {".cpp", ".hpp", ".md", ".sh", ".py", ".txt", ".cmake", ".gnu", ".conf", ".js", ".html", ""}


def tracked_files(root):
    """The repository's files: git's list where there is one, else a walk."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=True).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        skip = ("bin", "exercises", ".git")
        names = [
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and not p.relative_to(root).parts[0].startswith(skip + ("build",))
        ]
    return [n for n in names if (root / n).is_file()]


def is_placeholder(path):
    """stageN-NAME/main.cpp, docs/STAGE.md: a pattern in prose, not a file."""
    return bool(re.search(r"\b(NAME|STAGE|TARGET|FILE|PROGRAM|DIR|PATH|[a-z])\b|stageN|\.\.\.|\*", path))


def broken_references(root, name, text, top_folders, basenames):
    """Each (line number, reference) in one file that names no existing file."""
    here = (root / name).parent
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in LINK.finditer(line):
            target = match.group(1).split("#")[0]
            if not target or re.match(r"[a-z]+:", target) or is_placeholder(target):
                continue
            if not (here / target).exists():
                found.append((number, target))
        for match in PATH.finditer(line):
            target = match.group(1)
            first = target.split("/")[0]
            if target.startswith(NOT_OURS) or first not in top_folders or is_placeholder(target):
                continue
            if not ((root / target).exists() or (here / target).exists() or (here.parent / target).exists()):
                found.append((number, target))
        for match in BARE.finditer(line):
            target = match.group(1)
            if target not in basenames and not is_placeholder(target) and not line_allows(line, target):
                found.append((number, target))
    return found


def line_allows(line, target):
    """A name the line itself says is not ours: a student's file, a man page's, another project's."""
    if line.lstrip().startswith("$ "):  # a command in a console example: its files are its own
        return True
    return bool(re.search(r"(student|their|another project|upstream|e\.g\.|for example)", line, re.I))


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]).resolve()
    files = tracked_files(root)
    top_folders = {n.split("/")[0] for n in files if "/" in n}
    basenames = {Path(n).name for n in files}
    broken = []
    for name in files:
        path = root / name
        if path.suffix not in TEXT_SUFFIXES or name.startswith("bench/results/"):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, target in broken_references(root, name, text, top_folders, basenames):
            broken.append(f"{name}:{number}: names {target}, which does not exist")
    for line in broken:
        print(line)
    print(f"references_test: {len(files)} files read, {len(broken)} broken references")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
